#!/usr/bin/env python3
"""prefill_client.py: GET /v1/prefill/{id} of the HTTP API with Python's
standard library only, as an agency's application would call it
(docs/api/README.md). Run by test_portal with the environment:
LT_API_URL, LT_TOKEN, LT_KEY (a citizen in the population and immunisation
registers), LT_NOBODY (a key no register holds), LT_V_POP, LT_V_INS, LT_V_VAC
(the portal's views; the application is granted the first and the last),
LT_STATE (the replica state every part must show: ok, or behind once the
owners are stopped). Exits non-zero with a message at the first failure."""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_check import response_errors  # noqa: E402

URL, TOKEN, KEY = os.environ["LT_API_URL"], os.environ["LT_TOKEN"], os.environ["LT_KEY"]
V_POP, V_INS, V_VAC = os.environ["LT_V_POP"], os.environ["LT_V_INS"], os.environ["LT_V_VAC"]
STATE = os.environ["LT_STATE"]


def check(cond, what, body=None):
    if not cond:
        sys.exit(f"prefill_client: {what}: {json.dumps(body, ensure_ascii=False)}")


with urllib.request.urlopen(f"{URL}/v1/openapi.json", timeout=10) as r:
    DOC = json.load(r)


def get(key, **query):
    """(status, JSON body) of GET /v1/prefill/key?query (lists repeat), the
    body checked against the OpenAPI document."""
    q = urllib.parse.urlencode(query, doseq=True)
    req = urllib.request.Request(f"{URL}/v1/prefill/{urllib.parse.quote(key)}?{q}",
                                 headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        status, body = e.code, json.load(e)
    errs = response_errors(DOC, "/v1/prefill/{id}", "GET", status, body)
    check(not errs, f"the answer ({status}) does not conform to the OpenAPI document: {errs}", body)
    return status, body


base = {"officer": "can-bo-7", "purpose": "PREFILL_FORM", "case_ref": "HS-2026-9"}

# Every granted stream the portal replicates: population and vaccinations,
# never the insurance cards the application is not granted.
status, body = get(KEY, **base)
check(status == 200, f"status {status}", body)
check(body["source"] == "replicas" and body["key"] == KEY, "not an answer from the replicas", body)
parts = {p["stream"]: p for p in body["parts"]}
check(set(parts) == {V_POP, V_VAC}, "streams other than the granted ones", body)
pop, vac = parts[V_POP], parts[V_VAC]
check(pop["found"] and vac["found"], "not found", body)
check(pop["fields"].get("full_name", "").startswith("Nguyễn Văn"), "no full_name", body)
check("date_of_birth" in pop["fields"], "no date_of_birth", body)
# Set in the view but not granted to the application: withheld, not shown.
check("current_address" not in pop["fields"], "a field not granted is shown", body)
check({"field": "current_address", "reason": "not granted to the application"} in pop["withheld"],
      "current_address not withheld", body)
# Outside the view: never in the answer at all.
for f in ("id_card_number", "home_town", "ethnicity"):
    check(f not in pop["fields"] and all(w["field"] != f for w in pop["withheld"]),
          f"{f}, outside the view, appears", body)
check(vac["fields"].get("vaccine") in ("COVID-19", "MMR") and "doses" in vac["fields"],
      "vaccination fields", body)
check("facility" not in vac["fields"], "facility, outside the view, appears", body)
# Granted per stream: personal_id for the vaccinations, not for the population.
check(vac["fields"].get("personal_id") == KEY, "personal_id, granted for vaccinations, missing", body)
check("personal_id" not in pop["fields"], "personal_id, not granted for the population, shown", body)
check({"field": "personal_id", "reason": "not granted to the application"} in pop["withheld"],
      "personal_id not withheld from the population part", body)
for p in (pop, vac):
    check(p["replica"]["state"] == STATE, f"replica state is not {STATE}", body)
    check(p["seq"] >= 1 and p["replica"]["seq"] >= p["seq"], "seq and replica seq", body)

# One stream asked.
status, body = get(KEY, stream=[V_VAC], **base)
check(status == 200 and [p["stream"] for p in body["parts"]] == [V_VAC], "one stream", body)

# Nobody holds this key: 404 with the parts, each not found.
status, body = get(os.environ["LT_NOBODY"], **base)
check(status == 404 and body["parts"] and not any(p["found"] for p in body["parts"]),
      f"a key nobody holds gave {status}", body)
# withheld lists every field of the view not granted, found or not, set or
# not: the same for this key as for a record, so it never tells what a
# record holds (a date of death).
NOT_GRANTED = {V_POP: ["personal_id", "permanent_address", "current_address"], V_VAC: []}
for name, answer in (("the citizen", parts), ("nobody", {p["stream"]: p for p in body["parts"]})):
    for stream, want in NOT_GRANTED.items():
        got = sorted(w["field"] for w in answer[stream]["withheld"])
        check(got == sorted(want), f"{name}'s {stream} withholds {got}, not {sorted(want)}", body)

# Outside the grants: a stream, a purpose.
status, body = get(KEY, stream=[V_VAC, V_INS], **base)
check(status == 403 and body["error"] == "FORBIDDEN" and f"stream '{V_INS}'" in body["message"],
      f"ungranted stream gave {status}, or the message does not name it", body)
status, body = get(KEY, officer="can-bo-7", purpose="MARKETING")
check(status == 403 and "purpose 'MARKETING'" in body["message"],
      f"ungranted purpose gave {status}, or the message does not name it", body)

# Bad queries: named in the message.
status, body = get(KEY, colour="red", **base)
check(status == 400 and "colour" in body["message"], f"unknown parameter gave {status}", body)
status, body = get(KEY, purpose="PREFILL_FORM")
check(status == 400 and "officer" in body["message"], f"no officer gave {status}", body)


def get_raw(path_and_query):
    """(status, JSON body) of GET path_and_query sent as written (escapes kept)."""
    req = urllib.request.Request(URL + path_and_query, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


# A %00 would cut the value libmicrohttpd unescapes: refused, not read as
# the part before it (nor audited under it).
status, body = get_raw(f"/v1/prefill/{KEY}%00junk?officer=can-bo-7&purpose=PREFILL_FORM")
check(status == 400 and "NUL" in body["message"], f"a %00 in the id gave {status}", body)
status, body = get_raw(f"/v1/prefill/{KEY}?officer=can-bo-7%00ZZ&purpose=PREFILL_FORM")
check(status == 400 and "'officer'" in body["message"] and "NUL" in body["message"],
      f"a %00 in the officer gave {status}", body)
status, body = get_raw(f"/v1/prefill/{KEY}?officer=can-bo-7&purpose=PREFILL_FORM&stream%00x={V_POP}")
check(status == 400 and "NUL" in body["message"], f"a %00 in a parameter's name gave {status}", body)

# No token.
req = urllib.request.Request(f"{URL}/v1/prefill/{KEY}?officer=a&purpose=PREFILL_FORM")
try:
    urllib.request.urlopen(req, timeout=10)
    check(False, "no token accepted")
except urllib.error.HTTPError as e:
    check(e.code == 401, f"no token gave {e.code}")
print("prefill_client: ok")
