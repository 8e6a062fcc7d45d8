/* lt_profjson: a profile lookup's reply (PROTOCOL.md 7.7) as JSON, for the
 * programs that show it: `lienthong profile` and the HTTP API's
 * /v1/profile; and one lookup answer's content, which /v1/lookup and
 * `lienthong lookup` show the same way. Each part's released fields are
 * decoded with the record type its gateway named (lt_schema); an answer
 * whose payload does not decode so is an error, not an answer without
 * fields: a lookup's fails, a profile part's is shown as outcome "error"
 * with the other parts as answered (PROTOCOL.md 7.7: one bad owner holds
 * back nobody). The owner's signature was checked by that gateway before
 * the reply left it, which "signature": "verified" says for every part
 * shown with a signed answer. */
#ifndef LT_PROFJSON_H
#define LT_PROFJSON_H

#include <jansson.h>

#include "lienthong.pb-c.h"
#include "lt_err.h"

/* "released", "withheld", "not_found", "timeout", "refused", "error". */
const char *lt_profjson_outcome(Lienthong__ProfileOutcome o);

/* Failures of the functions below, each with err saying what was wrong:
 * the answer cannot be shown as it should be (the callers' "unexpected
 * answer"), or memory ran out (their internal error). */
#define LT_PROFJSON_UNDECODABLE (-2)
#define LT_PROFJSON_NOMEM       (-1)

/* *out = {"key", "purpose", "parts": [{"dataset", "outcome", "code",
 * "detail", "record_type", and with a signed answer "owner", "record_seq",
 * "answered_at_ms", "fields" {name: text}, "released" [...], "withheld"
 * [{"field", "reason"}], "signature": "verified"}]}, parts in the order
 * asked. A part whose signed answer cannot be shown (it, or its payload,
 * does not decode: LT_PROFJSON_UNDECODABLE of lt_profjson_answer) is
 * "outcome": "error" with why in "detail" and no answer, and is logged.
 * 0, or LT_PROFJSON_NOMEM with err naming the part (*out NULL). */
int lt_profjson_reply(const Lienthong__ProfileReply *r, const char *key, const char *purpose,
                      json_t **out, char *err, size_t errlen) LT_NODISCARD;

/* Adds to j what a verified LookupAnswer says (the object of a lookup and
 * of a profile part alike): "owner", "record_seq", "answered_at_ms",
 * "fields" {name: text} (decoded with record_type), "released" [...],
 * "withheld" [{"field", "reason"}], "signature": "verified". 0, or
 * LT_PROFJSON_* with err: LT_PROFJSON_UNDECODABLE when fields were
 * released but the payload does not decode as record_type (unknown to this
 * program, not a record of it, or without a released field), as an answer
 * shown without its fields would pass for a verified one that says
 * nothing. */
int lt_profjson_answer(json_t *j, const Lienthong__LookupAnswer *a, const char *record_type,
                       char *err, size_t errlen) LT_NODISCARD;

/* An owner's payload decoded as record type t (named record_type; NULL
 * when this program does not know it) with every string checked UTF-8
 * without a NUL: the record (free with protobuf_c_message_free_unpacked),
 * or NULL with err naming what is wrong (the type unknown, the bytes, or
 * the field). */
ProtobufCMessage *lt_profjson_decode(const ProtobufCMessageDescriptor *t, const char *record_type,
                                     const ProtobufCBinaryData *payload, char *err,
                                     size_t errlen) LT_NODISCARD;

/* How many parts of reply (lt_profjson_reply's) were not shown released,
 * a part shown as an error counted (0: the whole profile was). */
size_t lt_profjson_not_released(const json_t *reply);

#endif
