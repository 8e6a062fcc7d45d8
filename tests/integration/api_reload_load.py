#!/usr/bin/env python3
"""api_reload_load.py: GET /v1/datasets with each token of LT_TOKENS
(comma-separated) from 8 threads for LT_SECONDS, while test_api reloads
the API again and again ("reloads under load"): each request takes the
configuration in force when it begins, and the last of an old one frees
it, on any thread. Python's standard library only. Prints the count of
each status; exits 1 when an answer is other than 200, 401 (a token of
the configuration not in force) or 429 (the rate), or a request failed."""
import collections, os, sys, threading, time, urllib.error, urllib.request

URL = os.environ["LT_API_URL"]
TOKENS = os.environ["LT_TOKENS"].split(",")
END = time.monotonic() + float(os.environ.get("LT_SECONDS", "5"))
seen = collections.Counter()
lock = threading.Lock()

def run(i):
    n = 0
    while time.monotonic() < END:
        req = urllib.request.Request(URL + "/v1/datasets")
        req.add_header("Authorization", "Bearer " + TOKENS[(i + n) % len(TOKENS)])
        n += 1
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            e.read()
            status = e.code
        except OSError as e:
            status = f"failed: {e}"
        with lock:
            seen[status] += 1

threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(dict(seen))
bad = {k: v for k, v in seen.items() if k not in (200, 401, 429)}
print(f"bad {sum(bad.values())}: {bad}")
sys.exit(1 if bad or not seen[200] else 0)
