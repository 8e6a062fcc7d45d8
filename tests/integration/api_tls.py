#!/usr/bin/env python3
"""api_tls.py: calls a `lienthong api` that serves TLS with Python's standard
library only (ssl, urllib), as an agency application would: the server's
certificate is checked against the CA file it is given (host name included),
a lookup goes through, a client that does not trust that CA is refused, and
only TLS 1.2 with AEAD ciphers and forward secrecy, or TLS 1.3, is agreed.

Environment: LT_API_URL (https://...), LT_CA (PEM file), LT_TOKEN_HR, LT_KEY,
LT_DS. Exits 0 when every check passed, 1 otherwise (each failure printed)."""
import http.client, json, os, ssl, sys, urllib.error, urllib.parse, urllib.request, warnings

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



def handshake(ctx):
    """The protocol and cipher a handshake agreed on, or the error."""
    try:
        urllib.request.urlopen(URL + "/healthz", timeout=20, context=ctx).close()
    except urllib.error.URLError as e:
        return None, str(e.reason)
    u = urllib.parse.urlsplit(URL)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=20)
    c.connect()
    got = c.sock.version(), c.sock.cipher()[0]
    c.close()
    return got, ""


def only(lo, hi, ciphers=None):
    ctx = ssl.create_default_context(cafile=CA)
    ctx.minimum_version, ctx.maximum_version = lo, hi
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


# Only TLS 1.2 and 1.3, and in 1.2 only AEAD ciphers with forward secrecy.
warnings.simplefilter("ignore", DeprecationWarning)  # the old versions, asked for on purpose
V = ssl.TLSVersion
for old in (V.TLSv1, V.TLSv1_1):
    try:
        got, why = handshake(only(old, old, "ALL:@SECLEVEL=0"))
    except ssl.SSLError as e:  # this OpenSSL may not offer it at all
        got, why = None, str(e)
    check(got is None, f"{old.name} refused: {why or got}")
got, why = handshake(only(V.TLSv1_2, V.TLSv1_2, "ECDHE+AES128+SHA:ECDHE+AES256+SHA:@SECLEVEL=0"))
check(got is None, f"TLS 1.2 with a CBC cipher refused: {why or got}")
got, why = handshake(only(V.TLSv1_2, V.TLSv1_2, "AES128-GCM-SHA256:AES256-GCM-SHA384"))
check(got is None, f"TLS 1.2 without forward secrecy refused: {why or got}")
got, why = handshake(only(V.TLSv1_2, V.TLSv1_2))
check(got is not None and got[0] == "TLSv1.2" and ("GCM" in got[1] or "CHACHA" in got[1]),
      f"TLS 1.2 with an AEAD cipher: {got or why}")
got, why = handshake(only(V.TLSv1_3, V.TLSv1_3))
check(got is not None and got[0] == "TLSv1.3", f"TLS 1.3: {got or why}")

sys.exit(1 if failures else 0)
