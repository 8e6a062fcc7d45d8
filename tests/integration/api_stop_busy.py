#!/usr/bin/env python3
"""api_stop_busy.py: SIGTERM while clients keep asking, their gateway
stopped (SIGSTOP by the C side), with Python's standard library only.

LT_ASKERS threads (12 unless set) each hold one kept-alive connection and
ask GET /readyz and GET /metrics on it as soon as answered (jobs of the
API's workers, each waiting for the stopped gateway); four more ask
lookups, which wait for the gateway with their connections
suspended. After a second of it the API gets SIGTERM: it stops taking
connections, but those open keep asking through the whole stop (the
workers' end, the lookups failed) until the API closes them. Every
answer must be 200, 503 or 504; the C side then checks that the API
exited with status 0.

Environment: LT_API_URL, LT_API_PID, LT_TOKEN_HR, LT_DS, LT_KEY, LT_ASKERS
(optional). Exits 0
when every check passed, 1 otherwise (each failure printed)."""
import collections, http.client, json, os, signal, threading, time, urllib.parse

URL, PID = os.environ["LT_API_URL"], int(os.environ["LT_API_PID"])
TOKEN, DS, KEY = os.environ["LT_TOKEN_HR"], os.environ["LT_DS"], os.environ["LT_KEY"]
HOST = urllib.parse.urlsplit(URL)
ASKERS = int(os.environ.get("LT_ASKERS", "12"))
LOOKUP = json.dumps({"dataset": DS, "key": KEY, "purpose": "KYC", "officer": "o-1",
                     "case_ref": "c-1"})
failures = []
seen = collections.Counter()
lock = threading.Lock()
give_up = time.monotonic() + 60  # the API's stop is bounded well before


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def ask(lookups):
    conn = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=30)
    n = 0
    try:
        while time.monotonic() < give_up:
            if lookups:
                conn.request("POST", "/v1/lookup", LOOKUP,
                             {"Authorization": "Bearer " + TOKEN,
                              "Content-Type": "application/json"})
            else:
                conn.request("GET", "/readyz" if n % 2 else "/metrics")
            r = conn.getresponse()
            r.read()
            with lock:
                seen[r.status] += 1
            n += 1
    except (OSError, http.client.HTTPException):
        pass  # the API closed the connection: it is stopping
    finally:
        conn.close()


threads = [threading.Thread(target=ask, args=(i < 4,)) for i in range(4 + ASKERS)]
for t in threads:
    t.start()
time.sleep(1)
os.kill(PID, signal.SIGTERM)
for t in threads:
    t.join()
print("answers:", dict(seen))
check(sum(seen.values()) > 0, "some answers")
check(set(seen) <= {200, 503, 504}, "every answer 200, 503 or 504")
raise SystemExit(1 if failures else 0)
