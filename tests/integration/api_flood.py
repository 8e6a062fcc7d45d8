#!/usr/bin/env python3
"""api_flood.py: a `lienthong api` allowed 256 open files, flooded by clients
without a token, with Python's standard library only.

For 4 s, 200 threads from 8 loopback addresses call GET /metrics (no token
needed; each call asks the gateway for its statistics) as fast as they are
answered. The API must stay up: every
answer it gives is 200 or 503, some are 200, and afterwards /healthz answers
at once. Then slow-app (rate = 0.5 a second) gets one request through, is
refused at once after it (429), and gets through again 2.5 s later.

Environment: LT_API_URL, LT_API_PID, LT_TOKEN_SLOW. Exits 0 when every check
passed, 1 otherwise (each failure printed)."""
import collections, http.client, os, threading, time, urllib.error, urllib.parse, urllib.request

URL, PID, SLOW = os.environ["LT_API_URL"], int(os.environ["LT_API_PID"]), os.environ["LT_TOKEN_SLOW"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def status(path, token=None, timeout=10):
    """The HTTP status of GET path, or the name of the error."""
    req = urllib.request.Request(URL + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError) as e:  # refused or closed: over the limit
        return type(getattr(e, "reason", e)).__name__


def alive():
    """Running: not gone, and not a zombie that its parent has yet to reap."""
    try:
        with open(f"/proc/{PID}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


seen, lock, end = collections.Counter(), threading.Lock(), time.monotonic() + 4


def metrics_from(source):
    """GET /metrics from the loopback address source: its status, or the error."""
    u = urllib.parse.urlsplit(URL)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        return r.status
    except OSError as e:  # refused, reset or closed: over the limit
        return type(e).__name__
    finally:
        c.close()


def flood(source):
    while time.monotonic() < end:
        s = metrics_from(source)
        with lock:
            seen[s] += 1


# From 8 loopback addresses, 25 each: under max_connections_per_ip (32).
threads = [threading.Thread(target=flood, args=(f"127.0.0.{1 + i % 8}",)) for i in range(200)]
for t in threads:
    t.start()
for t in threads:
    t.join()
answers = {s: n for s, n in seen.items() if isinstance(s, int)}
print(f"     /metrics during the flood: {dict(seen)}")
check(alive(), "the API is still running after the flood")
check(answers.get(200, 0) > 0, f"some /metrics were answered 200: {answers}")
check(set(answers) <= {200, 503}, f"every answer was 200 or 503: {answers}")
healthz = None
for _ in range(50):
    healthz = status("/healthz", timeout=2)
    if healthz == 200:
        break
    time.sleep(0.1)
check(healthz == 200, f"GET /healthz after the flood: {healthz}")

# /v1/datasets, which the API answers from the directory: /v1/status asks
# the gateway, which may still be working through the flood's calls, and a
# first answer 2 s late let the second through (or came as 504 itself).
first, second = status("/v1/datasets", SLOW), status("/v1/datasets", SLOW)
check(first == 200 and second == 429, f"rate 0.5/s: one through, the next refused: {first} {second}")
time.sleep(2.5)
third = status("/v1/datasets", SLOW)
check(third == 200, f"rate 0.5/s: through again 2.5 s later: {third}")
exit(1 if failures else 0)
