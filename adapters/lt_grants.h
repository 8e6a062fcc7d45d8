/* lt_grants: whether the gateway lets an adapter publish a dataset or attach
 * to a stream, from the grants in its StatusReply (PROTOCOL.md 8.3): a
 * source publishes only a dataset the signed directory lists as its
 * member's (8.1); a sink attaches to such a dataset, one of its views, or a
 * stream the gateway replicates (8.2). A name outside those lists is refused
 * with ERR_NOT_FOUND for as long as the directory and the gateway's
 * configuration stay as they are: usually a misspelt `dataset` or `stream`.
 *
 * Used by `--check` (one status request) and at run time after a refusal
 * (one error line per directory version, not one per retry). */
#ifndef LT_GRANTS_H
#define LT_GRANTS_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_check.h"

typedef enum {
    LT_GRANTS_SOURCE, /* publishes: an owned dataset only */
    LT_GRANTS_SINK    /* attaches: an owned dataset or view, or a replicated stream */
} lt_grants_kind_t;

/* 1 when the reply grants name to an adapter of this kind, 0 when it does
 * not, -1 when the reply does not say (a gateway older than its grants). */
int lt_grants_has(const Lienthong__StatusReply *r, lt_grants_kind_t kind, const char *name);

/* The record type the reply gives dataset name (LocalGrants.types,
 * PROTOCOL.md 8.1, 8.3): the full protobuf name the directory declares, or
 * NULL when the reply does not say (a gateway older than the field, or a
 * name it does not grant). */
const char *lt_grants_record_type(const Lienthong__StatusReply *r, const char *name);

/* Why name is not granted, in one line naming it, the member, the
 * directory version and what is granted, e.g. "dataset 'X' is not owned by
 * M in directory v7: owned datasets are 'A', 'B'" (cut with "..." when the
 * list does not fit). */
void lt_grants_why(const Lienthong__StatusReply *r, lt_grants_kind_t kind, const char *name,
                   char *out, size_t cap);

/* `--check`: asks the gateway at socket for its status and checks each of
 * names[0..n-1] against its grants, one line each; a name not granted is an
 * error whose fix names config_path. With types (a source's record_type of
 * each name; NULL: none), a granted dataset whose record type in the
 * status is another is an error too, naming both; one the status gives no
 * type is not checked, silently (a gateway older than LocalGrants.types).
 * A gateway that cannot be asked, or does not tell its grants, is a
 * warning (the names are not checked). */
void lt_grants_check(lt_check_t *c, const char *socket, const char *config_path,
                     lt_grants_kind_t kind, const char *const *names, const char *const *types,
                     size_t n);

/* Run time: how often a name the gateway does not grant is tried again
 * (publish, attach), since a newer directory or a subscription added to
 * the gateway may grant it. */
#define LT_GRANTS_RETRY_MS 10000

/* Run time: what an adapter learnt of one name after a refusal. */
typedef struct {
    int refused;             /* the last status did not grant it */
    int logged;              /* its refusal was logged for logged_version */
    uint64_t logged_version; /* the directory version it was logged for */
} lt_grants_state_t;

/* Takes a status asked after name was refused with ERR_NOT_FOUND. When the
 * reply does not grant name, logs one error line (under tag, ending with
 * `then`, what the adapter does meanwhile) the first time for each
 * directory version, and returns 1. Returns 0 when it is granted (a refusal
 * for another reason: the adapter goes on as before) or the reply does not
 * say. A name granted again after a refusal is logged once at info. */
int lt_grants_on_status(lt_grants_state_t *st, const Lienthong__StatusReply *r,
                        lt_grants_kind_t kind, const char *name, const char *tag,
                        const char *config_path, const char *then);

#endif
