#!/usr/bin/env python3
"""api_queue_wait.py: a profile waiting for a worker keeps its deadline,
with Python's standard library only.

The gateway is stopped (SIGSTOP by the C side). Sixteen clients ask GET
/metrics at once: each holds one of the API's 16 workers for 3 s, the
wait of a call to the gateway. Half a second later a profile with
timeout_ms = 2000 comes, and waits in the queue for a worker until the
/metrics calls end, 2.5 s later, past its deadline: it must then be
answered at once (504), not after another 2 s of waiting for the gateway.

Environment: LT_API_URL, LT_TOKEN_HR, LT_DS, LT_KEY. Exits 0 when every
check passed, 1 otherwise (each failure printed)."""
import json, os, threading, time, urllib.error, urllib.request

URL, TOKEN = os.environ["LT_API_URL"], os.environ["LT_TOKEN_HR"]
DS, KEY = os.environ["LT_DS"], os.environ["LT_KEY"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def call(path, body=None):
    """The HTTP status of path (POST when body), or the name of the error."""
    req = urllib.request.Request(URL + path, data=body)
    if body is not None:
        req.add_header("Authorization", "Bearer " + TOKEN)
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return type(e).__name__


scrapes = [threading.Thread(target=call, args=("/metrics",)) for _ in range(16)]
for t in scrapes:
    t.start()
time.sleep(0.5)
profile = json.dumps({"key": KEY, "purpose": "KYC", "officer": "o-1", "case_ref": "c-1",
                      "timeout_ms": 2000,
                      "parts": [{"dataset": DS, "fields": ["full_name"]}]}).encode()
t0 = time.monotonic()
status = call("/v1/profile", profile)
took = time.monotonic() - t0
for t in scrapes:
    t.join()
print("profile: %s in %.2f s" % (status, took))
check(status == 504, "the profile past its deadline in the queue is answered 504")
check(took < 3.6, "answered once a worker takes it, not 2 s later (took %.2f s)" % took)
raise SystemExit(1 if failures else 0)
