#!/usr/bin/env python3
"""api_gwdown.py: while the gateway is down, clients without a token cannot
fill the log through the failed calls of /readyz and /metrics, with
Python's standard library only.

The API under test has summary_interval = 2 (seconds) and a gateway that
is not running. Each /readyz and /metrics then fails its call to the
gateway at once: 2,200 of them must leave a few log lines (the first
failure in full, then one count per interval), each failure counted once,
and the API answering. So must /v1/datasets, of an application, when the
directory cannot be read (its configured file and data_dir are nowhere).
Environment: LT_API_URL, LT_TOKEN_HR, LT_LOG (the API's log).
Exits 0 when every check passed, 1 otherwise."""
import os, re, sys, time
import json
from api_common import call, check, failures

LOG = os.environ["LT_LOG"]
INTERVAL = 2
READYZ, METRICS = 2000, 200

def log_lines():
    with open(LOG, errors="replace") as f:
        return f.readlines()

before = len(log_lines())
start = time.monotonic()
unready = sum(call("GET", "/readyz")[0] == 503 for _ in range(READYZ))
check(unready == READYZ, "%d of %d /readyz answered 503" % (unready, READYZ))
scrapes = [call("GET", "/metrics") for _ in range(METRICS)]
answered = sum(status == 200 for status, _, _ in scrapes)
check(answered == METRICS, "%d of %d /metrics answered 200" % (answered, METRICS))
# Answered 200, Prometheus' `up` stays 1: the gauge says the gateway's part is missing.
down = sum(b"\nlienthong_gateway_up 0\n" in body for _, _, body in scrapes)
check(down == METRICS, "%d of %d say lienthong_gateway_up 0" % (down, METRICS))

# The first line, then one count per interval the flood lasted (a slow
# machine's flood lasts more of them) and the last count.
bound = max(10, 3 + int((time.monotonic() - start) / INTERVAL))

def summed_up(before, first_words, code, n):
    """The log's lines since before, those holding every one of first_words
    (the first failure in full) and the counts of the others failed with
    code, once these add up to n (the timer writes the summaries within
    about an interval: a generous wait, for a loaded machine), or as they
    are when the wait is over."""
    end = time.monotonic() + INTERVAL + 15
    while True:
        time.sleep(0.5)
        lines = log_lines()[before:]
        first = [l for l in lines if all(w in l for w in first_words)]
        counts = [int(m.group(1)) for m in
                  (re.search(r"(\d+) more calls failed with 503 %s in \d+ s: " % code, l)
                   for l in lines) if m]
        if len(first) + sum(counts) >= n or time.monotonic() > end:
            return lines, first, counts

lines, first, counts = summed_up(before, ("GATEWAY_UNAVAILABLE", "summed up every 2 s"),
                                 "GATEWAY_UNAVAILABLE", READYZ + METRICS)
sys.stdout.writelines("     " + l for l in lines[:12])
check(len(lines) <= bound,
      "%d calls failed: %d log lines (at most %d)" % (READYZ + METRICS, len(lines), bound))
check(len(first) == 1, "the first failure is logged in full (%d lines)" % len(first))
check(counts, "the others are summed up")
check(len(first) + sum(counts) == READYZ + METRICS,
      "each failure counted once (%d + %d)" % (len(first), sum(counts)))
# The datasets of an application while the directory cannot be read: a
# fixed answer, and the reason (paths of this host) in the log, summed up.
DATASETS = 30
before = len(log_lines())
answers = [call("GET", "/v1/datasets", token=os.environ["LT_TOKEN_HR"]) for _ in range(DATASETS)]
check(all(s == 503 and json.loads(b)["error"] == "DIRECTORY_UNAVAILABLE" for s, _, b in answers),
      "%d /v1/datasets answered 503 DIRECTORY_UNAVAILABLE" % DATASETS)
check(all(b"nowhere" not in b for _, _, b in answers), "  the answers name no path")
lines, first, counts = summed_up(before, ("DIRECTORY_UNAVAILABLE: datasets: ", "nowhere"),
                                 "DIRECTORY_UNAVAILABLE", DATASETS)
sys.stdout.writelines("     " + l for l in lines[:6])
check(len(first) == 1 and len(lines) <= 3,
      "%d datasets failed: %d log lines, the first in full" % (DATASETS, len(lines)))
check(len(first) + sum(counts) == DATASETS, "  each counted once (%d + %s)" % (len(first), counts))

status, _, _ = call("GET", "/healthz")
check(status == 200, "the API still answers /healthz (%s)" % status)
sys.exit(1 if failures else 0)
