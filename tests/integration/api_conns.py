#!/usr/bin/env python3
"""api_conns.py: the connections closed at receive_timeout and those
refused at max_connections_per_ip, from more addresses than the API counts
apart, are summed up by reason, with Python's standard library only.

The API under test has receive_timeout = 1, max_connections_per_ip = 1 and
summary_interval = 2. From each of 20 loopback addresses (127.0.0.10 to
.29) one connection is held, sending nothing, and a second one is refused
at once; the first ones are then closed at the deadline. 16 addresses are
counted apart for each reason (LT_APICONN_ADDRS): the 4 beyond must be
summed up as 4 connections closed and 4 refused, each line with its own
reason, not one count of both under the last one's. Environment:
LT_API_URL, LT_LOG (the API's log). Exits 0 when every check passed, 1
otherwise."""
import os, re, socket, sys, time, urllib.parse
from api_common import URL, check, failures

LOG = os.environ["LT_LOG"]
u = urllib.parse.urlsplit(URL)
ADDR = (u.hostname, u.port)
SOURCES = ["127.0.0.%d" % i for i in range(10, 30)]

def connect(source):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(ADDR)
    return s

# Each address's second connection right after its first: the first is
# closed a second after it began (receive_timeout), and a second connection
# made after that would be served, not refused. On a loaded machine the 20
# pairs may together take longer than that.
held, refused = [], 0
for a in SOURCES:
    held.append(connect(a))
    s = connect(a)
    s.settimeout(2)
    try:
        refused += s.recv(1) == b""
    except OSError:
        refused += 1
    s.close()
check(refused == len(SOURCES), "a second connection from each address is refused (%d)" % refused)
beyond = r"(\d+) more connections %s in \d+ s, of addresses beyond the 16 tracked \(last [0-9.]+\): (.*)"
def others(lines, done):
    found = [re.search(beyond % done, l) for l in lines]
    return [(int(m.group(1)), m.group(2)) for m in found if m]
# The deadline, then the summaries of an interval (the watch's tick writes
# them): a generous wait for them, for a loaded machine.
end = time.monotonic() + 1 + 2 + 15
while True:
    time.sleep(0.5)
    with open(LOG, errors="replace") as f:
        lines = f.read().splitlines()
    closed, refused = others(lines, "closed"), others(lines, "refused")
    if (sum(n for n, _ in closed) >= 4 and sum(n for n, _ in refused) >= 4 or
            time.monotonic() > end):
        break
for s in held:
    s.close()
check(sum(n for n, _ in closed) == 4 and
      all(w.startswith("no whole request within receive_timeout") for _, w in closed),
      "4 connections closed beyond the addresses tracked, for the deadline: %s" % closed)
check(sum(n for n, _ in refused) == 4 and
      all(w.startswith("max_connections_per_ip (1) reached") for _, w in refused),
      "4 connections refused beyond the addresses tracked, at the limit: %s" % refused)
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
