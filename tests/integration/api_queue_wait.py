#!/usr/bin/env python3
"""api_queue_wait.py: a profile waiting for a worker keeps its deadline,
with Python's standard library only.

The gateway is stopped (SIGSTOP by the C side). Sixteen profiles with
timeout_ms = 1000 come at once: each holds one of the API's 16 workers for
3 s, its timeout and the 2 s of grace a call to the gateway is given.
Half a second later a profile with timeout_ms = 1000 comes, and waits in
the queue for a worker until the first ones end, 2.5 s later, past its
deadline: it must then be answered at once (504), not after another 3 s
of waiting for the gateway. Meanwhile a
GET /readyz, run by the API's probers apart from the profiles' workers, is
answered after its own 3 s wait for the gateway (503), not after the
profiles' 2.5 s more.

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


def profile(timeout_ms):
    return json.dumps({"key": KEY, "purpose": "KYC", "officer": "o-1", "case_ref": "c-1",
                       "timeout_ms": timeout_ms,
                       "parts": [{"dataset": DS, "fields": ["full_name"]}]}).encode()


holders = [threading.Thread(target=call, args=("/v1/profile", profile(1000)))
           for _ in range(16)]
for t in holders:
    t.start()
time.sleep(0.5)
ready = {}


def probe():
    t = time.monotonic()
    ready["status"] = call("/readyz")
    ready["took"] = time.monotonic() - t


prober = threading.Thread(target=probe)
prober.start()
t0 = time.monotonic()
status = call("/v1/profile", profile(1000))
took = time.monotonic() - t0
prober.join()
for t in holders:
    t.join()
print("profile: %s in %.2f s; readyz: %s in %.2f s" % (status, took, ready.get("status"),
                                                     ready.get("took", -1)))
check(status == 504, "the profile past its deadline in the queue is answered 504")
check(took < 4.0, "answered once a worker takes it, not 3 s later (took %.2f s)" % took)
check(ready.get("status") == 503 and ready.get("took", 99) < 4.5,
      "/readyz is answered after its own wait, not behind the profiles (%s in %.2f s)"
      % (ready.get("status"), ready.get("took", -1)))
raise SystemExit(1 if failures else 0)
