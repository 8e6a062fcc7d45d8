/* lt_apireq: strict decoding of the HTTP API's JSON request bodies
 * (POST /v1/lookup, POST /v1/verify, POST /v1/profile; docs/api/openapi.json)
 * into the local API's requests (PROTOCOL.md 7.1, 7.7, 8.3).
 *
 * Strict on purpose: malformed JSON, a body that is not an object, unknown
 * members, duplicate members, wrong types, empty or oversize strings, and
 * lists over the local API's limits are refused with a message naming the
 * member at fault ("keys[3]: must be a string"), before anything is sent
 * to the gateway. The decoder keeps no state, so it is fuzzed on its own
 * (tests/fuzz). */
#ifndef LT_APIREQ_H
#define LT_APIREQ_H

#include <stddef.h>

#include "lienthong.pb-c.h"
#include "lt_limits.h"

#define LT_APIREQ_MAX_KEYS   LT_QUERY_MAX_KEYS /* keys or subjects of a verify (PROTOCOL.md 7.6) */
#define LT_APIREQ_MAX_CLAIMS LT_QUERY_MAX_CLAIMS /* claims, and fields of a lookup */
_Static_assert(LT_QUERY_MAX_FIELDS == LT_QUERY_MAX_CLAIMS, "one bound for claims and fields");
/* The protocol's limits (PROTOCOL.md Appendix B), so that the API refuses
 * exactly what the gateway would, naming the member. */
#define LT_APIREQ_MAX_KEY     LT_RECORD_KEY_MAX        /* bytes of a key (7.1, 7.6, 7.7) */
#define LT_APIREQ_MAX_DATASET (LT_STREAM_ID_MAX - 1)   /* bytes of a dataset or view id */
#define LT_APIREQ_MAX_FIELD   LT_QUERY_MAX_FIELD_NAME  /* bytes of a field name (7.5, 7.6) */
#define LT_APIREQ_MAX_VALUE   LT_QUERY_MAX_CLAIM_VALUE /* bytes of a claim's value (7.6) */
#define LT_APIREQ_MAX_ID      128 /* bytes of an officer id, case reference or purpose */
#define LT_APIREQ_MAX_PARTS   LT_PROFILE_MAX_PARTS /* parts of a profile (PROTOCOL.md 7.7) */

/* The kinds of body (the `is_verify` argument below, 0 or 1 as before). */
#define LT_APIREQ_LOOKUP  0
#define LT_APIREQ_VERIFY  1
#define LT_APIREQ_PROFILE 2

typedef struct _lt_apireq_t lt_apireq_t;

/* Decodes a lookup (is_verify 0), verify (1) or profile (2: key, purpose,
 * officer, case_ref, timeout_ms up to 60000, parts [{dataset, fields}]
 * with fields required) body of len bytes. Returns the
 * request, or NULL with err naming the problem. The request's strings live
 * until lt_apireq_destroy. */
lt_apireq_t *lt_apireq_decode(const char *body, size_t len, int is_verify, char *err,
                              size_t errlen);
void lt_apireq_destroy(lt_apireq_t **self_p);

/* The request as the local API sends it; request_id, deadline_ms and
 * timeout_ms are 0 until the caller sets them. Exactly one of the three is non-NULL. */
Lienthong__LookupRequest *lt_apireq_lookup(lt_apireq_t *self);
Lienthong__VerifyRequest *lt_apireq_verify(lt_apireq_t *self);
Lienthong__ProfileRequest *lt_apireq_profile(lt_apireq_t *self);
/* The officer or end-user id the request is made for (required). */
const char *lt_apireq_officer(const lt_apireq_t *self);
/* The time limit the application asked for in ms, or 0 for the default. */
int lt_apireq_timeout_ms(const lt_apireq_t *self);

/* Calls fn for every field the request asks for or claims (each once per
 * occurrence; of every part of a profile); stops and returns the first
 * non-zero result. */
int lt_apireq_each_field(const lt_apireq_t *self, int (*fn)(void *arg, const char *field),
                         void *arg);
/* The field name of claim c of verify answer index i (the claim order of
 * the request), or "?" when out of range. */
const char *lt_apireq_claim_field(const lt_apireq_t *self, size_t index, size_t c);

#endif
