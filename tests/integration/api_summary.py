#!/usr/bin/env python3
"""api_summary.py: the summaries of repeated refusals are written on time,
without further traffic, with Python's standard library only.

The API under test has summary_interval = 2 (seconds) and an audit file;
slow-app has a rate of 1 request a second. Bursts of 429s (slow-app), 400s
(hr-portal) and 401s (no token) must each give one log line at once, then,
with no request after the burst, a summary within about one interval whose
counts add up to the rest of the burst: each refusal in exactly one line.
Environment: LT_API_URL, LT_TOKEN_HR, LT_TOKEN_SLOW, LT_AUDIT (the API's
audit file), LT_LOG (the API's log). Exits 0 when every check passed, 1
otherwise."""
import datetime, json, os, re, sys, time, urllib.error, urllib.request
from api_common import URL, call, check, failures

HR, SLOW = os.environ["LT_TOKEN_HR"], os.environ["LT_TOKEN_SLOW"]
AUDIT, LOG = os.environ["LT_AUDIT"], os.environ["LT_LOG"]
INTERVAL = 2

def log_lines(*words):
    with open(LOG, errors="replace") as f:
        return [line for line in f if all(w in line for w in words)]

def audit_lines(**match):
    with open(AUDIT) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]

def written(line):
    """When the API wrote line: its time stamp, in seconds since the epoch."""
    stamp = line.split()[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()

def summed(lines, pattern):
    """The sum of the counts pattern (a regex with one group) finds in lines."""
    return sum(int(m.group(1)) for m in (re.search(pattern, l) for l in lines) if m)

def burst(name, send, want, first, summary, audit):
    """Sends the burst, then waits without traffic for its summary. first:
    a regex of the lines that may tell of the first refusal; summary: the
    words of a summary line and a regex of its count."""
    statuses = [send() for _ in range(30)]
    n = statuses.count(want)
    check(n >= 20, "%s: the burst is answered %d (%d of 30)" % (name, want, n))
    at_once = [l for l in log_lines() if re.search(first, l) and "more requests" not in l]
    check(len(at_once) == 1, "%s: one line at once, for the first (%d)" % (name, len(at_once)))
    end = time.time()
    got, lines = 0, []
    # A generous deadline to see it: on a loaded machine this script may
    # look late. When it was written is the API's own time stamp.
    while time.time() - end < INTERVAL + 15 and got < n - 1:
        time.sleep(0.2)
        lines = log_lines(*summary[0])
        got = summed(lines, summary[1])
    check(got == n - 1, "%s: the summary counts the %d others (%d), the first not again"
          % (name, n - 1, got))
    took = written(lines[-1]) - end if lines else float("inf")
    check(took <= INTERVAL + 1, "%s: written %.1f s after the burst, with no request since"
          % (name, took))
    rows = audit_lines(**audit)
    check(len([r for r in rows if "count" not in r]) == 1 and
          sum(r.get("count", 0) for r in rows) == n - 1,
          "%s: the audit file: the first in full, the others in counts (%s)"
          % (name, [r.get("count") for r in rows]))

# /v1/datasets, answered without the gateway: a call let through that
# waited for a slow gateway (/v1/status) would let the next one through too.
burst("429", lambda: call("GET", "/v1/datasets", token=SLOW)[0], 429,
      r"(?=.*for application 'slow-app')(?=.*429)",
      (("more requests of application 'slow-app' refused in", "429 rate_limited"),
       r"(\d+) more requests of application 'slow-app'"),
      {"application": "slow-app", "reason": "rate_limited"})
burst("400", lambda: call("POST", "/v1/lookup", {"bogus": 1}, HR)[0], 400,
      r"(?=.*for application 'hr-portal')(?=.*400)",
      (("more requests of application 'hr-portal' refused in", "400 bad_request"),
       r"(\d+) more requests of application 'hr-portal'"),
      {"application": "hr-portal", "reason": "bad_request"})
burst("401", lambda: call("GET", "/v1/datasets")[0], 401,
      r"without a valid token|401 unauthorized",
      (("more requests without a valid token from 127.0.0.1",),
       r"(\d+) more requests without a valid token"),
      {"reason": "unauthorized"})

sys.exit(1 if failures else 0)
