"""openapi_check.py: checks a JSON answer of the HTTP API against the
OpenAPI document it serves (/v1/openapi.json), for the JSON Schema subset
that document uses: $ref, oneOf, type, enum, required, properties,
additionalProperties, items. Python's standard library only; api_client.py
and prefill_client.py import it."""


def validate(doc, schema, v, where="$"):
    """The list of ways v does not conform to schema (empty when it does)."""
    if "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return validate(doc, node, v, where)
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not validate(doc, s, v, where)]
        return [] if len(ok) == 1 else [f"{where}: matches {len(ok)} of oneOf"]
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "number": (int, float)}
    if t == "integer":
        if not isinstance(v, int) or isinstance(v, bool):
            return [f"{where}: not an integer"]
    elif t and (not isinstance(v, types[t]) or (t != "boolean" and isinstance(v, bool))):
        return [f"{where}: not {t}"]
    errs = []
    if "enum" in schema and v not in schema["enum"]:
        errs.append(f"{where}: {v!r} not in enum")
    if t == "object":
        errs += [f"{where}: missing {r}" for r in schema.get("required", []) if r not in v]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for k, x in v.items():
            if k in props:
                errs += validate(doc, props[k], x, f"{where}.{k}")
            elif extra is False:
                errs.append(f"{where}: unexpected member {k}")
            elif isinstance(extra, dict):
                errs += validate(doc, extra, x, f"{where}.{k}")
    if t == "array":
        for i, x in enumerate(v):
            errs += validate(doc, schema.get("items", {}), x, f"{where}[{i}]")
    return errs


def response_errors(doc, path, method, status, body):
    """How a JSON answer of path differs from the document's response of status."""
    resp = doc["paths"][path][method.lower()]["responses"].get(str(status))
    if resp is None:
        return [f"{method} {path}: status {status} not documented"]
    return validate(doc, resp["content"]["application/json"]["schema"], body)
