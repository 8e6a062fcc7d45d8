#!/usr/bin/env python3
"""api_prefill_wait.py: a pre-fill does not wait behind profiles waiting for
an owner, with Python's standard library only.

The owner's gateway is stopped (SIGSTOP, here); the caller's runs. Sixteen
profiles with timeout_ms = 3000 come at once: each holds one of the API's
16 profile workers until its owner's part times out. Half a second later a
pre-fill comes: it reads this member's replicas, which is what a portal
falls back on while the owners are busy or unreachable (docs/api/README.md),
and the caller's gateway answers it at once. It must be answered while the
profiles still wait, not after them: it queued behind them when it shared
their workers.

Environment: LT_API_URL, LT_TOKEN_HR, LT_DS, LT_KEY, LT_OWNER_PID. Exits 0
when every check passed, 1 otherwise (each failure printed)."""
import os, signal, threading, time

from api_common import call, check, failures

TOKEN, DS, KEY = os.environ["LT_TOKEN_HR"], os.environ["LT_DS"], os.environ["LT_KEY"]
OWNER = int(os.environ["LT_OWNER_PID"])


PROFILE = {"key": KEY, "purpose": "KYC", "officer": "o-1", "case_ref": "c-1", "timeout_ms": 3000,
           "parts": [{"dataset": DS, "fields": ["full_name"]}]}
ended = []


def profile():
    call("POST", "/v1/profile", PROFILE, TOKEN, timeout=30)
    ended.append(time.monotonic())


holders = [threading.Thread(target=profile) for _ in range(16)]
os.kill(OWNER, signal.SIGSTOP)
try:
    for t in holders:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    status, _, _ = call("GET", "/v1/prefill/%s?officer=o-1&purpose=KYC" % KEY, token=TOKEN)
    done = time.monotonic()
    for t in holders:
        t.join()
finally:
    os.kill(OWNER, signal.SIGCONT)
print("pre-fill: %s in %.2f s; the first profile ended %.2f s after it asked"
      % (status, done - t0, min(ended, default=t0) - t0))
check(status not in (503, 504),
      "the pre-fill is answered by the caller's gateway (%s)" % status)
check(len(ended) == 16 and min(ended) > done,
      "it is answered while the profiles still wait for the owner, not after them "
      "(took %.2f s)" % (done - t0))
raise SystemExit(1 if failures else 0)
