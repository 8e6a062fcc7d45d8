/* lt_profjson: lookup answers and profile replies as JSON (jansson), fields
 * decoded by lt_schema. */
#include "lt_profjson.h"
#include "lt_log.h"
#include "lt_schema.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <string.h>

const char *lt_profjson_outcome(Lienthong__ProfileOutcome o)
{
    switch (o) {
    case LIENTHONG__PROFILE_OUTCOME__PART_RELEASED:
        return "released";
    case LIENTHONG__PROFILE_OUTCOME__PART_WITHHELD:
        return "withheld";
    case LIENTHONG__PROFILE_OUTCOME__PART_NOT_FOUND:
        return "not_found";
    case LIENTHONG__PROFILE_OUTCOME__PART_TIMEOUT:
        return "timeout";
    case LIENTHONG__PROFILE_OUTCOME__PART_REFUSED:
        return "refused";
    case LIENTHONG__PROFILE_OUTCOME__PART_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

size_t lt_profjson_not_released(const json_t *reply)
{
    size_t n = 0, i;
    json_t *p;
    json_array_foreach(json_object_get(reply, "parts"), i, p)
    {
        const char *o = json_string_value(json_object_get(p, "outcome"));
        n += !o || strcmp(o, "released") != 0;
    }
    return n;
}

ProtobufCMessage *lt_profjson_decode(const ProtobufCMessageDescriptor *t, const char *record_type,
                                     const ProtobufCBinaryData *payload, char *err, size_t errlen)
{
    if (!t) {
        snprintf(err, errlen,
                 "answer payload does not decode: record type %s unknown to this "
                 "program",
                 record_type && record_type[0] ? record_type : "(none named)");
        return NULL;
    }
    ProtobufCMessage *rec = protobuf_c_message_unpack(t, NULL, payload->len, payload->data);
    if (!rec) {
        snprintf(err, errlen, "answer payload does not decode as %s", t->name);
        return NULL;
    }
    /* The payload is bytes, which no gateway on the way checked: its
     * strings are checked here, as it is decoded (PROTOCOL.md 4.5). An
     * owner other than this program, or a store older than that rule,
     * could serve one that is not UTF-8 or holds a NUL, which jansson
     * refuses (and a NUL cuts the value short): an error naming the field,
     * never a value mended or cut and shown as signed. */
    char where[64];
    if (lt_valid_utf8(t, payload->data, payload->len, where, sizeof where) != 0) {
        snprintf(err, errlen,
                 "answer payload does not decode as %s: %s is not valid UTF-8 (or holds a NUL)",
                 t->name, where);
        protobuf_c_message_free_unpacked(rec, NULL);
        return NULL;
    }
    return rec;
}

/* The released fields of a's payload, decoded as record type t, into
 * fields; 0 or LT_PROFJSON_* with err. An empty payload is a record whose
 * released fields all hold their defaults. */
static int s_released(json_t *fields, const Lienthong__LookupAnswer *a,
                      const ProtobufCMessageDescriptor *t, const char *record_type, char *err,
                      size_t errlen)
{
    char buf[1024];
    int rc = LT_PROFJSON_UNDECODABLE;
    ProtobufCMessage *rec = lt_profjson_decode(t, record_type, &a->payload, err, errlen);
    if (!rec)
        return rc;
    for (size_t i = 0; i < a->n_released; i++) {
        const ProtobufCFieldDescriptor *fd = lt_schema_field(t, a->released[i]);
        const char *val = fd ? lt_schema_text(rec, fd, buf, sizeof buf) : NULL;
        if (!val) {
            snprintf(err, errlen,
                     "answer payload does not decode: released field %s is not a "
                     "field of %s",
                     a->released[i], t->name);
            goto out;
        }
        /* A field missing would pass for one the owner did not release. */
        if (json_object_set_new(fields, a->released[i], json_string(val)) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = LT_PROFJSON_NOMEM;
            goto out;
        }
    }
    rc = 0;
out:
    protobuf_c_message_free_unpacked(rec, NULL);
    return rc;
}

int lt_profjson_answer(json_t *j, const Lienthong__LookupAnswer *a, const char *record_type,
                       char *err, size_t errlen)
{
    json_t *fields = json_object(), *released = json_array(), *wh = json_array();
    int rc = 0;
    /* Nothing released (not found, all withheld): nothing to decode. */
    if (a->n_released)
        rc = s_released(fields, a, lt_schema_find(record_type), record_type, err, errlen);
    /* Every element or none: an answer with one missing is never shown. */
    for (size_t i = 0; rc == 0 && i < a->n_released; i++)
        if (json_array_append_new(released, json_string(a->released[i])) != 0)
            rc = LT_PROFJSON_NOMEM;
    for (size_t i = 0; rc == 0 && i < a->n_withheld; i++)
        if (json_array_append_new(wh, json_pack("{s:s,s:s}", "field", a->withheld[i]->field,
                                                "reason", a->withheld[i]->reason)) != 0)
            rc = LT_PROFJSON_NOMEM;
    if (rc != 0) {
        json_decref(fields);
        json_decref(released);
        json_decref(wh);
    } else {
        json_t *more = json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s}", "owner", a->owner, "record_seq",
                                 (json_int_t)a->record_seq, "answered_at_ms",
                                 (json_int_t)a->answered_at_ms, "fields", fields, "released",
                                 released, "withheld", wh, "signature", "verified");
        rc = more && json_object_update(j, more) == 0 ? 0 : LT_PROFJSON_NOMEM;
        json_decref(more);
    }
    if (rc == LT_PROFJSON_NOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* Shows part j as an error saying why (PROTOCOL.md 7.7: PART_ERROR, detail
 * says which), in place of an answer that cannot be shown: one owner's
 * answer never costs the other parts theirs. */
static int s_part_error(json_t *j, const char *why)
{
    return json_object_set_new(j, "outcome", json_string("error")) == 0 &&
                   json_object_set_new(j, "detail", json_string(why)) == 0
               ? 0
               : LT_PROFJSON_NOMEM;
}

/* The signed answer's content into part j, or the part an error when it
 * does not decode; 0 or LT_PROFJSON_NOMEM with err. */
static int s_answer(json_t *j, const Lienthong__ProfilePartReply *p, char *err, size_t errlen)
{
    Lienthong__LookupAnswer *a =
        lienthong__lookup_answer__unpack(NULL, p->answer->answer.len, p->answer->answer.data);
    int rc;
    if (!a)
        snprintf(err, errlen, "the signed answer does not decode as a LookupAnswer");
    rc = a ? lt_profjson_answer(j, a, p->record_type, err, errlen) : LT_PROFJSON_UNDECODABLE;
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    if (rc == LT_PROFJSON_UNDECODABLE) {
        lt_warn("profile", "part %s: %s; shown as an error", p->dataset, err);
        rc = s_part_error(j, err);
        if (rc != 0)
            snprintf(err, errlen, "out of memory");
    }
    return rc;
}

int lt_profjson_reply(const Lienthong__ProfileReply *r, const char *key, const char *purpose,
                      json_t **out_p, char *err, size_t errlen)
{
    char why[512];
    int rc;
    json_t *parts = json_array();
    json_t *out = json_pack("{s:s,s:s,s:o}", "key", key, "purpose", purpose, "parts", parts);
    *out_p = NULL;
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return LT_PROFJSON_NOMEM;
    }
    for (size_t i = 0; i < r->n_parts; i++) {
        const Lienthong__ProfilePartReply *p = r->parts[i];
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "dataset", p->dataset, "outcome",
                              lt_profjson_outcome(p->outcome), "code",
                              p->code ? lt_wire_error_name(p->code) : "OK", "detail", p->detail,
                              "record_type", p->record_type);
        snprintf(why, sizeof why, "out of memory");
        rc = LT_PROFJSON_NOMEM;
        if (!j || json_array_append_new(parts, j) != 0 ||
            (p->answer && (rc = s_answer(j, p, why, sizeof why)) != 0)) {
            snprintf(err, errlen, "part %s: %s", p->dataset, why);
            json_decref(out);
            return rc;
        }
    }
    *out_p = out;
    return 0;
}
