#!/usr/bin/env python3
"""api_client.py: drives a running `lienthong api` with Python's standard
library only (urllib, json), as an agency application would, and validates
every response against the OpenAPI document the API serves.

Environment: LT_API_URL, LT_TOKEN_HR (broad grants), LT_TOKEN_SLOW (rate 1/s,
full_name only), LT_KEY (a published key), LT_DS (the dataset), LT_DS_UNLISTED
(a dataset granted to LT_TOKEN_HR's application that the directory does not list).
Exits 0 when every check passed, 1 otherwise (each failure printed)."""
import json, os, re, sys, time, urllib.request, urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_check import validate  # noqa: E402  (the one validator, shared)

URL = os.environ["LT_API_URL"]
HR, SLOW = os.environ["LT_TOKEN_HR"], os.environ["LT_TOKEN_SLOW"]
KEY, DS, UNLISTED = os.environ["LT_KEY"], os.environ["LT_DS"], os.environ["LT_DS_UNLISTED"]
failures = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)

def call(method, path, body=None, token=None, ctype="application/json", raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None and ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

status, headers, body = call("GET", "/v1/openapi.json")
check(status == 200, "GET /v1/openapi.json is 200")
DOC = json.loads(body)
check(DOC.get("openapi", "").startswith("3.1"), "the document is OpenAPI 3.1")

def conforms(path, method, status, headers, body):
    op = DOC["paths"][path].get(method.lower())
    if op is None:  # a method the path does not take: the error body
        return validate(DOC, DOC["components"]["schemas"]["Error"], json.loads(body))
    resp = op["responses"].get(str(status))
    if resp is None:
        return [f"{method} {path}: status {status} not documented"]
    content = resp["content"]
    ctype = headers.get("Content-Type", "")
    if "application/json" in content:
        if not ctype.startswith("application/json"):
            return [f"{method} {path}: Content-Type {ctype}"]
        return validate(DOC, content["application/json"]["schema"], json.loads(body))
    return [] if "text/plain" in content and ctype.startswith("text/plain") else [f"bad type {ctype}"]

def expect(method, path, want, body=None, token=None, what="", **kw):
    status, headers, raw = call(method, path, body, token, **kw)
    errs = conforms(path, method, status, headers, raw) if path in DOC["paths"] else []
    check(status == want and not errs,
          f"{method} {path} {what}: {status} (want {want}) {errs if errs else ''} {raw[:200]!r}")
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()

# ---- health, readiness, metrics ----
expect("GET", "/healthz", 200, what="alive")
r = expect("GET", "/readyz", 200, what="ready")
metrics_before = expect("GET", "/metrics", 200)

# ---- authentication, routing, request validation ----
LOOKUP = {"dataset": DS, "key": KEY, "purpose": "KYC", "officer": "officer-17",
          "case_ref": "CASE-2026-001", "fields": ["full_name", "date_of_birth"]}
expect("POST", "/v1/lookup", 401, LOOKUP, what="without a token")
status, headers, _ = call("POST", "/v1/lookup", LOOKUP)
check(headers.get("WWW-Authenticate", "").startswith("Bearer"),
      f"a 401 says how to authenticate: WWW-Authenticate {headers.get('WWW-Authenticate')!r}")
expect("POST", "/v1/lookup", 401, LOOKUP, token="0" * 64, what="with an unknown token")
expect("GET", "/v1/nothing", 404, token=HR, what="unknown path")
expect("GET", "/v1/lookup", 405, token=HR, what="wrong method")
e = expect("POST", "/v1/lookup", 400, token=HR, raw=b'{"dataset": ', what="malformed JSON")
check("malformed JSON" in e.get("message", ""), "malformed JSON is named")
e = expect("POST", "/v1/lookup", 400, dict(LOOKUP, key=12), token=HR, what="wrong type")
check(e.get("message", "").startswith("key:"), "the wrong-typed member is named")
e = expect("POST", "/v1/lookup", 400, dict(LOOKUP, colour="red"), token=HR, what="unknown member")
check("colour" in e.get("message", ""), "the unknown member is named")
e = expect("POST", "/v1/lookup", 400, {k: v for k, v in LOOKUP.items() if k != "officer"},
           token=HR, what="missing officer")
check("officer" in e.get("message", ""), "the missing member is named")
expect("POST", "/v1/lookup", 400, token=HR, raw=b'[1,2]', what="not an object")
expect("POST", "/v1/lookup", 400, token=HR, raw=b'{"key":"a","key":"b"}', what="duplicate member")
expect("POST", "/v1/verify", 400, {"dataset": DS, "purpose": "KYC", "officer": "o", "case_ref": "c",
       "keys": [KEY]}, token=HR, what="keys without claims")
expect("POST", "/v1/lookup", 413, token=HR, raw=b'{"x":"' + b"a" * 70000 + b'"}', what="oversize body")
expect("POST", "/v1/lookup", 415, LOOKUP, token=HR, ctype="text/plain", what="not JSON")
# A %00 cuts the URL libmicrohttpd unescapes: /v1/status%00x is not /v1/status.
status, _, raw = call("GET", "/v1/status%00x", token=HR)
check(status == 400 and b"NUL" in raw, f"a %00 in the path: {status} (want 400) {raw[:200]!r}")
e = expect("POST", "/v1/lookup", 400, dict(LOOKUP, key=KEY + "\u0000x"), token=HR,
           what="a NUL in a JSON string")

# ---- grants ----
e = expect("POST", "/v1/lookup", 403, dict(LOOKUP, dataset=DS + ".p38"), token=HR,
           what="dataset not granted")
check(f"dataset '{DS}.p38'" in e.get("message", ""), "the dataset refused is named")
e = expect("POST", "/v1/lookup", 403, dict(LOOKUP, purpose="AUDIT"), token=HR,
           what="purpose not granted")
check(f"purpose 'AUDIT' with dataset '{DS}'" in e.get("message", ""), "the purpose refused is named")
e = expect("POST", "/v1/lookup", 403, dict(LOOKUP, fields=["full_name", "current_address"]),
           token=HR, what="field not granted")
check(f"field 'current_address' of dataset '{DS}'" in e.get("message", ""),
      "the field refused is named")
expect("POST", "/v1/lookup", 403, LOOKUP, token=SLOW, what="field not granted to the other application")

# ---- lookups and verifies end to end ----
a = expect("POST", "/v1/lookup", 200, LOOKUP, token=HR, what="lookup")
check(a.get("fields", {}).get("full_name", "") != "" and a.get("signature") == "verified",
      "the lookup released full_name, signature verified")
a = expect("POST", "/v1/lookup", 200, dict(LOOKUP, fields=["full_name", "sex", "date_of_birth"]),
           token=HR, what="lookup with a field the owner withholds")
a = expect("POST", "/v1/lookup", 404, dict(LOOKUP, key="099999999999"), token=HR, what="unknown key")
check(a.get("code") == "ERR_NOT_FOUND", "an unknown key is the owner's signed ERR_NOT_FOUND")
# A dataset the directory does not list, granted by the API's configuration:
# the caller's gateway refuses it, unsigned, with the same 404 ERR_NOT_FOUND.
e = expect("POST", "/v1/lookup", 404, dict(LOOKUP, dataset=UNLISTED), token=HR,
           what="dataset not in the directory")
check(e.get("error") == "ERR_NOT_FOUND" and "directory" in e.get("message", ""),
      f"a dataset not in the directory is the gateway's ERR_NOT_FOUND naming the directory: {e}")
v = expect("POST", "/v1/verify", 200, {"dataset": DS, "purpose": "KYC", "officer": "officer-17",
           "case_ref": "CASE-2026-002", "keys": [KEY, "099999999999"],
           "claims": [{"field": "date_of_birth", "value": os.environ["LT_DOB"]}]}, token=HR,
           what="batch verify")
res = {x["key"]: x for x in v.get("results", [])}
check(res.get(KEY, {}).get("claims", [{}])[0].get("result") == "match", "the true claim matches")
check(res.get("099999999999", {}).get("code") == "ERR_NOT_FOUND", "the unknown key is not found")
v = expect("POST", "/v1/verify", 200, {"dataset": DS, "purpose": "KYC", "officer": "officer-17",
           "case_ref": "CASE-2026-003", "subjects": [{"key": KEY, "claims": [
               {"field": "date_of_birth", "value": "1900-01-01"}]}]}, token=HR, what="subjects verify")
check(v.get("results", [{}])[0].get("claims", [{}])[0].get("result") == "no-match",
      "the false claim does not match")
# A claim's value up to the protocol's 1024 bytes reaches the owner (PROTOCOL.md 7.6).
def verify_value(n, want):
    claim = {"field": "date_of_birth", "value": "9" * n}
    return expect("POST", "/v1/verify", want, {"dataset": DS, "purpose": "KYC", "officer": "o",
                  "case_ref": "CASE-2026-004", "subjects": [{"key": KEY, "claims": [claim]}]},
                  token=HR, what=f"a claim value of {n} bytes")
v = verify_value(1024, 200)
check(v.get("results", [{}])[0].get("claims", [{}])[0].get("result") == "no-match",
      "a claim value of 1024 bytes is compared")
check("1024 bytes" in verify_value(1025, 400).get("message", ""), "the claim value's limit is named")
d = expect("GET", "/v1/datasets", 200, token=HR, what="datasets")
check(any(x["id"] == DS and x["granted_to_application"] for x in d.get("datasets", [])),
      "the dataset is listed and granted")
# what the application is granted there, per dataset: its grant on the dataset, nothing
# on the view it is not granted
listed = {x["id"]: x for x in d.get("datasets", [])}
mine = listed.get(DS, {})
check(mine.get("granted_fields") == ["full_name", "date_of_birth", "sex"]
      and mine.get("granted_purposes") == ["KYC"],
      f"the dataset lists the fields and purposes granted to the application: {mine}")
view = listed.get(DS + ".p38", {})
check(view.get("granted_to_application") is False and view.get("granted_fields") == []
      and view.get("granted_purposes") == [],
      f"the view not granted lists no granted field or purpose: {view}")
s = expect("GET", "/v1/status", 200, token=HR, what="status")
check(len(s.get("peers_connected", [])) >= 1, "status names the connected owner")
check(any(p["connected"] and p["since_ms"] > 0 for p in s.get("peers", [])),
      "status lists the owner as a connected peer, with since when")
check(any(p["connected"] and abs(p.get("clock_offset_ms", 1 << 40)) < 5000
          for p in s.get("peers", [])),
      "status gives the connected owner's clock offset, a few ms on one host")
check(s.get("directory_expired") is False and s.get("directory_expires_at", 0) > time.time(),
      "status tells when the directory expires")

# ---- rate limit ----
codes = [call("GET", "/v1/status", token=SLOW)[0] for _ in range(4)]
check(429 in codes, f"a burst over the rate gets 429 ({codes})")
status, headers, _ = call("GET", "/v1/status", token=SLOW)
check(status != 429 or headers.get("Retry-After") == "1", "429 says when to retry")

# ---- metrics: strict text format, counters moved ----
LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
                  r'(-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$')
def parse(text):
    samples, bad = {}, []
    for ln in text.splitlines():
        if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            continue
        if not LINE.match(ln):
            bad.append(ln)
            continue
        name, value = ln.rsplit(" ", 1)
        samples[name] = float(value)
    return samples, bad
after = expect("GET", "/metrics", 200)
s0, bad0 = parse(metrics_before)
s1, bad1 = parse(after)
check(not bad0 and not bad1, f"every metrics line parses {bad1[:3]}")
key = 'lienthong_http_requests_total{endpoint="lookup",outcome="ok",reason="ok"}'
check(s1.get(key, 0) >= 2 and s1.get(key, 0) > s0.get(key, 0), "the lookup counter moved")
check(s1.get('lienthong_http_requests_total{endpoint="lookup",outcome="refused",reason="grant_field"}', 0) >= 2,
      "refusals are counted by reason")
# The lookup of an unknown key above is an answer, not a refusal.
check(s1.get('lienthong_http_requests_total{endpoint="lookup",outcome="not_found",reason="not_found"}', 0) >= 1
      and not any('outcome="refused",reason="not_found"' in k for k in s1),
      "a key not found is counted as outcome not_found, not as a refusal")
# ... but a dataset not in the directory is a refusal of its own, not a
# miss a not-found rate would take for ordinary traffic.
check(s1.get('lienthong_http_requests_total{endpoint="lookup",outcome="refused",reason="unknown_dataset"}', 0) >= 1
      and s1.get('lienthong_http_requests_total{endpoint="lookup",outcome="not_found",reason="not_found"}', 0)
      == s0.get('lienthong_http_requests_total{endpoint="lookup",outcome="not_found",reason="not_found"}', 0) + 1,
      "a lookup of a dataset not in the directory is counted as refused, unknown_dataset")
check(any(k.startswith('lienthong_http_request_latency_seconds_bucket{endpoint="lookup"') for k in s1),
      "a lookup latency histogram is exported")
# Timed in microseconds: /healthz answers in well under a millisecond,
# none of it in 1 us, where whole milliseconds put every one.
first = s1.get('lienthong_http_request_latency_seconds_bucket{endpoint="healthz",le="0.000001"}')
count = s1.get('lienthong_http_request_latency_seconds_count{endpoint="healthz"}', 0)
check(count >= 1 and first == 0, f"/healthz latencies above 1 us ({first} of {count} at 1 us)")
# The gateway's own registry follows the API's: its caller-side counter of
# lookups made moved with the lookups above.
made = lambda s: sum(v for k, v in s.items() if k.startswith("lienthong_query_made_total"))
check(made(s1) > made(s0), "the gateway's statistics are exported and its lookups made moved")
check(any(k.startswith("lienthong_directory_version") for k in s1), "the gateway's directory version is exported")
check(s0.get("lienthong_gateway_up") == 1 and s1.get("lienthong_gateway_up") == 1,
      "lienthong_gateway_up is 1 while the gateway answers")

# ---- the metric names the documents cite are the ones exported ----
# An alert written from the docs must find its series: every lienthong_*
# name in the documents is an exported family (the gateway's registry and
# the API's, both in this scrape), or a histogram's _bucket/_sum/_count.
NOT_METRICS = {"lienthong_api", "lienthong_keys", "lienthong_gateway", "lienthong_core",
               "lienthong_adapters"}
families = set(re.findall(r"^# TYPE (\S+) ", after, re.M))
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
docs = [os.path.join(d, f) for d in ("docs", "man", "adapters", "proto", ".")
        for f in sorted(os.listdir(os.path.join(root, d))) if f.endswith((".md", ".scd"))]
cited = {}
for path in docs:
    with open(os.path.join(root, path), encoding="utf-8") as fh:
        # (a package file name, lienthong_0.1.0_amd64.deb, is not one)
        for name in re.findall(r"\blienthong_[a-z][a-z0-9_]*[a-z0-9]", fh.read()):
            if name not in NOT_METRICS and not name.startswith("lienthong__"):
                cited.setdefault(name, path)
def exported(name):
    return name in families or any(name == f + sfx for f in families
                                   for sfx in ("_bucket", "_sum", "_count"))
unknown = sorted(f"{n} ({w})" for n, w in cited.items() if not exported(n))
check(families and cited and not unknown,
      f"every metric the documents cite is exported ({len(cited)} cited): not exported {unknown}")

# ... and the other way: every exported family, the API's and the gateway's,
# has a row in the metrics reference of docs/operations.md.
with open(os.path.join(root, "docs", "operations.md"), encoding="utf-8") as fh:
    reference = fh.read()
undocumented = sorted(f for f in families if f"| `{f}` |" not in reference)
check(families and not undocumented,
      f"every exported family is in the metrics reference ({len(families)}): missing {undocumented}")

# ---- every error code the API answers is documented ----
# The codes the API's sources answer (the literals of their s_error, s_fail
# and lt_apicall_fail calls) each have a row of the table of
# docs/api/README.md, "Error codes", and are named by the Error schema of the
# document served; the gateway's codes the API maps to a status
# (s_http_status) each have a row with that status.
api_src = ""
for f in sorted(os.listdir(os.path.join(root, "api"))):
    if f.endswith(".c"):
        with open(os.path.join(root, "api", f), encoding="utf-8") as fh:
            api_src += fh.read()
own = set()
for m in re.finditer(r"\b(?:s_error|s_fail|lt_apicall_fail)\(([^;]*);", api_src):
    own.update(re.findall(r'"([A-Z][A-Z_]*[A-Z])"', m.group(1)))
mapped = re.findall(r"case LIENTHONG__ERROR_CODE__(ERR_[A-Z_]+):\s*\*reason = \"[a-z_]+\";\s*"
                    r"return (\d+);", api_src)
with open(os.path.join(root, "docs", "api", "README.md"), encoding="utf-8") as fh:
    readme = fh.read()
described = DOC["components"]["schemas"]["Error"]["properties"]["error"].get("description", "")
missing = sorted(c for c in own if f"| `{c}` |" not in readme or c not in described)
missing += sorted(f"{c} {n}" for c, n in mapped
                  if c != "ERR_NONE" and (f"| `{c}` | {n} |" not in readme or c not in described))
check(len(own) >= 10 and mapped and not missing,
      f"every error code the API answers is documented ({len(own)} + {len(mapped)}): "
      f"missing {missing}")

# ... and each with its one status: a call whose code is a literal gives the
# status of the code's row as a literal (a pre-fill passed a failed status
# call's own status under GATEWAY_UNAVAILABLE, whose row says 503).
def call_args(src, start):
    """The top-level arguments of the call whose '(' is at start."""
    args, depth, cur, i = [], 0, "", start + 1
    while i < len(src):
        ch = src[i]
        if ch == '"':
            end = i + 1
            while src[end] != '"':
                end += 2 if src[end] == "\\" else 1
            cur, i = cur + src[i:end + 1], end + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return args + [cur.strip()]
            depth -= 1
        elif ch == "," and depth == 0:
            args, cur = args + [cur.strip()], ""
            i += 1
            continue
        cur += ch
        i += 1
    return args

rows = dict(re.findall(r"^\| `([A-Z][A-Z_]*)` \| (\d{3}) \|", readme, re.M))
unpaired = []
for m in re.finditer(r"\b(s_error|s_fail|lt_apicall_fail)\(", api_src):
    args = call_args(api_src, m.end() - 1)
    at = 1 if m.group(1) == "s_error" else 2
    if len(args) <= at + 2:
        continue
    for code in re.findall(r'"([A-Z][A-Z_]*[A-Z])"', args[at + 2]):
        if args[at] != rows.get(code):
            unpaired.append(f"{code} answered with status {args[at]} (its row: {rows.get(code)})")
check(rows and not unpaired, f"every error code is answered with its one status: {unpaired}")

# Every status an endpoint answers is in the document: before routing, any
# path may answer 400 (a %00 in the path, no one body boundary) or 413 (a
# declared body over max_body); an application's endpoints also 401, 429
# and 500 (the API out of memory), 500 besides the answers of their own.
routes = re.findall(r'\{(PREFILL_PATH|"[^"]+"), "([A-Z]+)", "[a-z]+", (NEEDS_[A-Z]+),', api_src)
undocumented = []
for path, method, auth in routes:
    path = "/v1/prefill/{id}" if path == "PREFILL_PATH" else path.strip('"')
    op = DOC["paths"].get(path, {}).get(method.lower(), {"responses": {}})
    want = {"400", "413"} | ({"401", "429", "500"} if auth == "NEEDS_APP" else set())
    undocumented += [f"{method} {path} {c}" for c in sorted(want - set(op["responses"]))]
check(len(routes) >= 10 and not undocumented,
      f"the statuses every endpoint may answer are documented ({len(routes)} routes): "
      f"missing {undocumented}")

# An endpoint that answers a call to the gateway (lt_apicall_query, _profile,
# _status, _prefill, its outcome through s_reply_out, in its function or one
# it calls) documents both of its failures: 503 GATEWAY_UNAVAILABLE, a
# gateway that cannot be reached, and 504 ERR_TIMEOUT, one that does not
# answer in time (/v1/status listed only 503, and answered a timeout so).
with open(os.path.join(root, "api", "lt_api.c"), encoding="utf-8") as fh:
    api_c = fh.read()
bodies = dict(re.findall(r"^static \w+ \*?(s_\w+)\([^;{]*\)\n\{\n(.*?)^\}", api_c, re.M | re.S))
replies = {f for f, b in bodies.items() if "s_reply_out(" in b}
asks = {f for f, b in bodies.items()
        if re.search(r"\blt_apicall_(query_begin|query|profile|status|prefill)\(", b)
        and any(re.search(rf"\b{g}\(", b) for g in replies | {"s_reply_out"})}
while True:
    more = {f for f, b in bodies.items() if f not in asks and any(
        re.search(rf"\b{a}\(", b) for a in asks)}
    if not more:
        break
    asks |= more
serve = bodies.get("s_serve", "") + bodies.get("s_serve_blocking", "")
asking = {e for cond, f in re.findall(r'((?:strcmp\((?:rt->endpoint|e), "[a-z]+"\) == 0(?: \|\| )?)+)'
                                      r'\)\s*(?:return\s+)?(s_\w+)\(', serve) if f in asks
          for e in re.findall(r'"([a-z]+)"', cond)}
by_endpoint = {e: (p.strip('"'), m) for p, m, e in
               re.findall(r'\{(PREFILL_PATH|"[^"]+"), "([A-Z]+)", "([a-z]+)", NEEDS_', api_src)}
unlisted = []
for e in sorted(asking):
    path, method = by_endpoint[e]
    path = "/v1/prefill/{id}" if path == "PREFILL_PATH" else path
    listed = DOC["paths"].get(path, {}).get(method.lower(), {}).get("responses", {})
    unlisted += [f"{method} {path} {c}" for c in ("503", "504") if c not in listed]
check({"status", "prefill", "lookup"} <= asking and not unlisted,
      f"the endpoints answering a gateway call ({sorted(asking)}) document 503 and 504: "
      f"missing {unlisted}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
