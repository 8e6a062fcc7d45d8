/* lt_rules: the validation rules an owner declares per dataset in the
 * directory (PROTOCOL.md 5.7), compiled against the dataset's record type
 * and applied to one decoded record at a time.
 *
 * A rule checks one field: `required` (set and not blank), `citizen_id`
 * (a Vietnamese 12-digit personal id: province code of birth registration,
 * sex and century digit, two digits of the birth year, each consistent with
 * the record's sex and birth date fields when the rule names them), `date`
 * (a calendar date YYYY-MM-DD, optionally not in the future and not before
 * another date field), `enum` (one of listed values) and `reference` (the
 * value is the key of a record in another dataset; never checked here, see
 * 5.7). Format checks pass an empty value: presence is `required`'s job.
 * The directory compiles every dataset's rules when it is signed and when it
 * is opened, so a gateway never meets rules it cannot apply. */
#ifndef LT_RULES_H
#define LT_RULES_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "directory.pb-c.h"
#include "lt_err.h"

#define LT_RULES_MAX        64  /* rules per dataset */
#define LT_RULES_VALUES_MAX 256 /* values of one enum rule */
#define LT_RULES_ID_MAX     140 /* "FIELD:CHECK" */
#define LT_RULES_REASON_MAX 240

typedef struct _lt_rules_t lt_rules_t;

/* One failed rule of a record: the rule's index and why. */
typedef struct {
    size_t rule;
    char reason[LT_RULES_REASON_MAX];
} lt_rules_fail_t;

/* Compiles the rules of ds against its record type. ds must outlive the
 * result. NULL with the reason in err, quoting the offending token, e.g.
 * "rule 2 (personal_id): unknown check 'cccd'". A dataset without rules
 * compiles to an empty set. */
lt_rules_t *lt_rules_new(const Lienthong__Dataset *ds, char *err, size_t errlen) LT_NODISCARD;
/* As lt_rules_new, against record type t rather than the registered type
 * ds names (NULL: refused as unknown): rules on kinds of field no record
 * type has yet can be tested. */
lt_rules_t *lt_rules_new_type(const ProtobufCMessageDescriptor *t, const Lienthong__Dataset *ds,
                              char *err, size_t errlen) LT_NODISCARD;
void lt_rules_destroy(lt_rules_t **self_p);

size_t lt_rules_count(const lt_rules_t *self);
/* The id of rule i, "FIELD:CHECK". */
const char *lt_rules_id(const lt_rules_t *self, size_t i);
/* For a reference rule i: the referenced dataset (and *field, the checked
 * field); NULL for any other rule. */
const char *lt_rules_reference(const lt_rules_t *self, size_t i, const char **field);
/* The number of reference rules. */
size_t lt_rules_references(const lt_rules_t *self);

/* Applies every rule except references to msg, a record of the dataset's
 * type; `now` is unix seconds (what "the future" means). Writes up to cap
 * failures to out in rule order and returns how many rules failed. */
size_t lt_rules_check(const lt_rules_t *self, const ProtobufCMessage *msg, int64_t now,
                      lt_rules_fail_t *out, size_t cap);

/* ---- the pieces, for tests and other checks ---- */

/* Parses a calendar date "YYYY-MM-DD" (year 1 to 9999, a real day: no
 * 2023-02-29). Returns 0, or -1 when malformed or not a day. */
int lt_rules_date(const char *s, int *y, int *m, int *d) LT_NODISCARD;
/* The name of a province by its 2-digit code ("01" Hà Nội ... "96" Cà
 * Mau), or NULL when code is not one of the 63. */
const char *lt_rules_province(const char *code);
/* The i-th of the 63 province codes, NULL past the end. */
const char *lt_rules_province_code(size_t i);

#endif
