"""api_common.py: what the HTTP API's Python checks share (api_limits.py,
api_slow.py, api_summary.py): a check that records failures, and one call of
the API with Python's standard library only. The API's address is
LT_API_URL."""
import json, os, urllib.error, urllib.request

URL = os.environ["LT_API_URL"]
failures = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)

def call(method, path, body=None, token=None, timeout=20):
    """One request; returns (status, headers, body), HTTP errors included."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
