/* lt_profjson: lookup answers and profile replies as JSON (jansson), fields
 * decoded by lt_schema. */
#include "lt_profjson.h"
#include "lt_schema.h"
#include "lt_wire.h"

const char *lt_profjson_outcome(Lienthong__ProfileOutcome o)
{
    switch (o) {
    case LIENTHONG__PROFILE_OUTCOME__PART_RELEASED: return "released";
    case LIENTHONG__PROFILE_OUTCOME__PART_WITHHELD: return "withheld";
    case LIENTHONG__PROFILE_OUTCOME__PART_NOT_FOUND: return "not_found";
    case LIENTHONG__PROFILE_OUTCOME__PART_TIMEOUT: return "timeout";
    case LIENTHONG__PROFILE_OUTCOME__PART_REFUSED: return "refused";
    case LIENTHONG__PROFILE_OUTCOME__PART_ERROR: return "error";
    default: return "unknown";
    }
}

size_t lt_profjson_not_released(const Lienthong__ProfileReply *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_parts; i++)
        n += r->parts[i]->outcome != LIENTHONG__PROFILE_OUTCOME__PART_RELEASED;
    return n;
}

int lt_profjson_answer(json_t *j, const Lienthong__LookupAnswer *a, const char *record_type)
{
    const ProtobufCMessageDescriptor *t = lt_schema_find(record_type);
    ProtobufCMessage *rec = t && a->payload.len
                                ? protobuf_c_message_unpack(t, NULL, a->payload.len, a->payload.data)
                                : NULL;
    json_t *fields = json_object(), *released = json_array(), *wh = json_array();
    char buf[1024];
    for (size_t i = 0; i < a->n_released; i++) {
        const ProtobufCFieldDescriptor *fd = rec ? lt_schema_field(t, a->released[i]) : NULL;
        const char *val = fd ? lt_schema_text(rec, fd, buf, sizeof buf) : NULL;
        json_array_append_new(released, json_string(a->released[i]));
        if (val)
            json_object_set_new(fields, a->released[i], json_string(val));
    }
    for (size_t i = 0; i < a->n_withheld; i++)
        json_array_append_new(wh, json_pack("{s:s,s:s}", "field", a->withheld[i]->field, "reason",
                                            a->withheld[i]->reason));
    json_t *more = json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s}", "owner", a->owner, "record_seq",
                             (json_int_t)a->record_seq, "answered_at_ms",
                             (json_int_t)a->answered_at_ms, "fields", fields, "released", released,
                             "withheld", wh, "signature", "verified");
    int rc = more ? json_object_update(j, more) : -1;
    json_decref(more);
    if (rec)
        protobuf_c_message_free_unpacked(rec, NULL);
    return rc;
}

/* The signed answer's content into part j; -1 when out of memory. */
static int s_answer(json_t *j, const Lienthong__ProfilePartReply *p)
{
    Lienthong__LookupAnswer *a = lienthong__lookup_answer__unpack(NULL, p->answer->answer.len,
                                                                  p->answer->answer.data);
    if (!a)
        return json_object_set_new(j, "answer", json_string("does not decode"));
    int rc = lt_profjson_answer(j, a, p->record_type);
    lienthong__lookup_answer__free_unpacked(a, NULL);
    return rc;
}

json_t *lt_profjson_reply(const Lienthong__ProfileReply *r, const char *key, const char *purpose)
{
    json_t *parts = json_array();
    json_t *out = json_pack("{s:s,s:s,s:o}", "key", key, "purpose", purpose, "parts", parts);
    for (size_t i = 0; out && i < r->n_parts; i++) {
        const Lienthong__ProfilePartReply *p = r->parts[i];
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "dataset", p->dataset, "outcome",
                              lt_profjson_outcome(p->outcome), "code",
                              p->code ? lt_wire_error_name(p->code) : "OK", "detail", p->detail,
                              "record_type", p->record_type);
        if (!j || json_array_append_new(parts, j) != 0 || (p->answer && s_answer(j, p) != 0)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
