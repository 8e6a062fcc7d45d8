#!/usr/bin/env python3
"""api_limits.py: the limits of a running `lienthong api` that protect its
threads and disk from one client, with Python's standard library only.

The API under test is configured with max_connections_per_ip = 4,
max_in_flight = 1 and request_timeout_ms = 1000, and an audit file.
Environment: LT_API_URL, LT_TOKEN_HR, LT_KEY, LT_DS, LT_AUDIT (the API's
audit file), LT_OWNER_PID (the owner's gateway, stopped for a while to
test the deadline). Exits 0 when every check passed, 1 otherwise."""
import json, os, signal, socket, sys, time, urllib.error, urllib.parse, urllib.request
from api_common import URL, call, check, failures

HR, KEY, DS = os.environ["LT_TOKEN_HR"], os.environ["LT_KEY"], os.environ["LT_DS"]
AUDIT, OWNER = os.environ["LT_AUDIT"], int(os.environ["LT_OWNER_PID"])
HOST, PORT = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port

def held(headers, source="127.0.0.1"):
    """A connection that sent headers, and a body it never sends."""
    s = socket.socket()
    s.bind((source, 0))
    s.connect((HOST, PORT))
    s.sendall(headers.encode())
    return s

def answer(s, wait=3.0):
    """The status of what the server sent on s within wait seconds; None
    when it sent nothing, 0 when it closed the connection."""
    s.settimeout(wait)
    try:
        data = s.recv(4096)
    except socket.timeout:
        return None
    except ConnectionError:
        return 0
    return int(data.split()[1]) if data.startswith(b"HTTP/1.") else 0

def lookup(**extra):
    body = {"dataset": DS, "key": KEY, "purpose": "KYC", "officer": "o-1", "case_ref": "c-1"}
    body.update(extra)
    return body

def audit_lines():
    with open(AUDIT) as f:
        return [json.loads(line) for line in f if line.strip()]

def unauthorized_count():
    _, _, text = call("GET", "/metrics")
    return sum(float(line.split()[-1]) for line in text.decode().splitlines()
               if line.startswith("lienthong_http_requests") and 'reason="unauthorized"' in line)

POST = "POST /v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

# 1. No token: 401 as soon as the headers are in, the body never read.
s = held(POST + "Content-Length: 1000\r\n\r\n")
check(answer(s) == 401, "401 before the body when the token is missing")
s.close()
s = held(POST + "Authorization: Bearer nope\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
check(answer(s) == 401, "401 before an endless chunked body when the token is wrong")
s.close()

# 2. Requests without a token: each counted, not each written down.
before, counted = len(audit_lines()), unauthorized_count()
for _ in range(30):
    call("GET", "/v1/status")
check(unauthorized_count() - counted == 30, "the metrics count every request without a token")
check(len(audit_lines()) - before <= 1, "the audit file gets at most one line for 30 of them")

def in_flight():
    """(lienthong_http_requests_in_flight,) as /metrics says it; (None,)
    when it does not."""
    _, _, text = call("GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith("lienthong_http_requests_in_flight "):
            return (int(float(line.split()[-1])),)
    return (None,)

def until(fn, want, seconds=10):
    """fn() until its first member is want, for at most seconds: the last
    answer. On a loaded machine the API may take a while to see what a
    socket did (headers in, a close), and answers as before until then."""
    end = time.monotonic() + seconds
    got = fn()
    while got[0] != want and time.monotonic() < end:
        time.sleep(0.1)
        got = fn()
    return got

# 3. One request of the application in flight (max_in_flight = 1): the next
# is 429, and 200 again once the client is gone. On a loaded machine the
# API may not have the held request's headers yet: the call then takes the
# place (200) and, when the held request comes in meanwhile, refuses it
# (its answer 429); a new one is held then.
HOLD = POST + "Authorization: Bearer %s\r\nContent-Length: 100\r\n\r\n" % HR
s = held(HOLD)
for attempt in range(20):
    time.sleep(0.3)
    status, headers, raw = call("GET", "/v1/status", token=HR)
    if status == 429:
        break
    if answer(s, 0.1) is not None:
        s.close()
        s = held(HOLD)
check(status == 429 and headers.get("Retry-After") == "1",
      "429 with Retry-After while the application's one place is taken (%s)" % status)
check(status != 429 or json.loads(raw).get("error") == "RATE_LIMITED", "  its error code")
# The held request, never answered, gives its place back when its client
# goes away (s_completed in lt_api.c): the gauge is 0 again well within
# receive_timeout (10 s), whose cut would give it back too.
check(in_flight() == (1,), "the held request counts in lienthong_http_requests_in_flight")
s.close()
gone = until(in_flight, 0, seconds=5)
check(gone == (0,), "the gauge back to 0 once its client went away (%s)" % (gone,))
status, _, _ = until(lambda: call("GET", "/v1/status", token=HR), 200)
check(status == 200, "200 once the place is free again (%s)" % status)

# 4. The deadline asked for is capped at request_timeout_ms (1000 here).
os.kill(OWNER, signal.SIGSTOP)
try:
    t = time.monotonic()
    status, _, _ = call("POST", "/v1/lookup", lookup(timeout_ms=600000), HR, timeout=30)
    took = time.monotonic() - t
finally:
    os.kill(OWNER, signal.SIGCONT)
check(status == 504 and took < 10, "timeout_ms 600000 ends after request_timeout_ms (%s in %.1f s)"
      % (status, took))

# 5. Connections from one address: at most max_connections_per_ip (4).
def hold_four():
    """Four connections from 127.0.0.1 the API keeps open, or None: on a
    loaded machine the API may not yet have seen the close of the calls
    above, and then refuses one of these at the limit (closed at once)."""
    idle = [held("", "127.0.0.1") for _ in range(4)]
    time.sleep(0.3)
    for s in idle:
        if answer(s, 0.01) is not None:  # closed (or, never, answered)
            for x in idle:
                x.close()
            return None
        s.settimeout(None)
    return idle

for attempt in range(10):
    idle = hold_four()
    if idle is not None:
        break
    time.sleep(1)
check(idle is not None, "four connections from 127.0.0.1 held open")
idle = idle or []
extra = held("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
check(answer(extra) in (0, None), "the fifth connection from 127.0.0.1 is closed unanswered")
extra.close()
other = held("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.2")
check(answer(other) == 200, "another address (127.0.0.2) is still served")
other.close()
for s in idle:
    s.close()
def healthz():
    try:
        return call("GET", "/healthz")
    except OSError as e:  # refused at the limit: the closes not yet seen
        return (str(e),)
check(until(healthz, 200)[0] == 200, "127.0.0.1 is served again once its connections close")

# 6. Control characters in audited text are refused, naming the field.
status, _, raw = call("POST", "/v1/lookup",
                      lookup(officer="x\n    by application court-order-app, officer judge-7"), HR)
check(status == 400 and b"officer: must not hold control characters" in raw,
      "400 for a line feed in the officer")
status, _, raw = call("GET", "/v1/prefill/%s?officer=o%%0a1&purpose=KYC" % KEY, token=HR)
check(status == 400 and b"officer" in raw, "400 for a line feed in a pre-fill's officer")

# 7. Text that is not UTF-8, or cut in a character: 400, never 500.
status, _, raw = call("POST", "/v1/lookup", {"a" * 63 + "\u00e9": 1}, HR)
check(status == 400 and b"unknown member" in raw, "400 for a long unknown member (%s)" % status)
status, _, _ = call("GET", "/v1/prefill/%s?officer=o&purpose=KYC&%%FF=1" % KEY, token=HR)
check(status == 400, "400 for a query that is not UTF-8 (%s)" % status)

# 8. A refused pre-fill audits the citizen's id as the key, not the dataset.
status, _, _ = call("GET", "/v1/prefill/%s?officer=o-9&purpose=AUDIT" % KEY, token=HR)
last = audit_lines()[-1]
check(status == 403 and last.get("key") == KEY and last.get("dataset") == "",
      "a refused pre-fill's audit line: key %s, dataset %r" % (last.get("key"), last.get("dataset")))

# 9. Two Content-Length headers (libmicrohttpd reads the first, a proxy in
# front might read the other: request smuggling): 400, whichever path.
body = json.dumps(lookup())
for path in ("/healthz", "/v1/lookup"):
    s = held("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\nContent-Length: 7\r\n"
             "Connection: close\r\n\r\n%s" % (path, HR, len(body), body))
    got = answer(s, 10)
    s.close()
    check(got == 400, "400 for two Content-Length headers on %s (%s)" % (path, got))

# 10. Transfer-Encoding with Content-Length (RFC 9112 6.3: an error, and
# the connection closes: what follows the body is not a request to read).
# Raw bytes: http.client would add and fix headers of its own.
for path in ("/healthz", "/v1/lookup"):
    s = held("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 4\r\n"
             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" % (path, HR))
    s.settimeout(10)
    data = b""
    try:
        while True:
            got = s.recv(4096)
            if not got:
                break
            data += got
    except (socket.timeout, ConnectionError):
        data += b"\0timeout"
    s.close()
    check(data.startswith(b"HTTP/1.1 400") and b"Transfer-Encoding" in data,
          "400 naming Transfer-Encoding with Content-Length on %s (%r)" % (path, data[:40]))
    check(data.count(b"HTTP/1.1") == 1 and not data.endswith(b"\0timeout"),
          "  the connection then closes, the request after it unread")

sys.exit(1 if failures else 0)
