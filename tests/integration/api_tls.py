#!/usr/bin/env python3
"""api_tls.py: calls a `lienthong api` that serves TLS with Python's standard
library only (ssl, urllib), as an agency application would: the server's
certificate is checked against the CA file it is given (host name included),
a lookup goes through, and a client that does not trust that CA is refused.

Environment: LT_API_URL (https://...), LT_CA (PEM file), LT_TOKEN_HR, LT_KEY,
LT_DS. Exits 0 when every check passed, 1 otherwise (each failure printed)."""
import json, os, ssl, sys, urllib.error, urllib.request

URL, CA = os.environ["LT_API_URL"], os.environ["LT_CA"]
TOKEN, KEY, DS = os.environ["LT_TOKEN_HR"], os.environ["LT_KEY"], os.environ["LT_DS"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def call(ctx, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method="POST" if data else "GET")
    if data:
        req.add_header("Authorization", "Bearer " + TOKEN)
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=20, context=ctx) as r:
        return r.status, json.loads(r.read())


trusting = ssl.create_default_context(cafile=CA)  # verifies chain and host name
check(trusting.verify_mode == ssl.CERT_REQUIRED and trusting.check_hostname,
      "the context verifies the certificate and the host name")
status, body = call(trusting, "/healthz")
check(status == 200, f"GET /healthz over TLS: {status}")
status, body = call(trusting, "/v1/lookup", {
    "dataset": DS, "key": KEY, "purpose": "KYC", "officer": "officer-tls",
    "case_ref": "TLS-PY-1", "fields": ["full_name"]})
check(status == 200 and body.get("signature") == "verified",
      f"POST /v1/lookup over TLS: {status} {str(body)[:200]}")

try:
    call(ssl.create_default_context(), "/healthz")  # the system's CAs only
    check(False, "a client without the CA is refused")
except urllib.error.URLError as e:
    check(isinstance(e.reason, ssl.SSLCertVerificationError),
          f"a client without the CA is refused: {e.reason}")

sys.exit(1 if failures else 0)
