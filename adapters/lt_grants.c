/* lt_grants: what the gateway lets an adapter publish or attach to (see
 * lt_grants.h; PROTOCOL.md 8.1 to 8.3). */
#include "lt_grants.h"
#include "lt_client.h"
#include "lt_log.h"
#include "lt_wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ASK_MS 3000 /* --check: wait for the gateway's status */

static int s_in(char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

int lt_grants_has(const Lienthong__StatusReply *r, lt_grants_kind_t kind, const char *name)
{
    const Lienthong__LocalGrants *g = r->grants;
    if (!g)
        return -1;
    if (s_in(g->datasets, g->n_datasets, name))
        return 1;
    return kind == LT_GRANTS_SINK &&
           (s_in(g->views, g->n_views, name) || s_in(g->replicated, g->n_replicated, name));
}

const char *lt_grants_record_type(const Lienthong__StatusReply *r, const char *name)
{
    const Lienthong__LocalGrants *g = r->grants;
    for (size_t i = 0; g && i < g->n_types; i++)
        if (g->types[i]->dataset && strcmp(g->types[i]->dataset, name) == 0)
            return g->types[i]->record_type && g->types[i]->record_type[0]
                       ? g->types[i]->record_type
                       : NULL;
    return NULL;
}

/* Appends printf output at *o in out[cap]; the text is cut at the end. */
static void s_add(char *out, size_t cap, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void s_add(char *out, size_t cap, size_t *o, const char *fmt, ...)
{
    if (*o >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *o, cap - *o, fmt, ap);
    va_end(ap);
    *o = n < 0 ? cap : *o + (size_t)n;
}

/* "'A', 'B'" for list, after *k names already written; ", ..." instead of
 * the names that would not leave room for it. */
static void s_list(char *out, size_t cap, size_t *o, size_t *k, char *const *list, size_t n)
{
    for (size_t i = 0; i < n && *o < cap; i++, (*k)++) {
        if (*o + strlen(list[i]) + 12 >= cap) {
            s_add(out, cap, o, ", ...");
            *o = cap;
            return;
        }
        s_add(out, cap, o, "%s'%s'", *k ? ", " : "", list[i]);
    }
}

void lt_grants_why(const Lienthong__StatusReply *r, lt_grants_kind_t kind, const char *name,
                   char *out, size_t cap)
{
    const Lienthong__LocalGrants *g = r->grants;
    size_t o = 0, k = 0;
    if (kind == LT_GRANTS_SOURCE)
        s_add(out, cap, &o, "dataset '%s' is not owned by %s in directory v%" PRIu64 ": %s", name,
              r->member, r->directory_version,
              g && g->n_datasets ? "owned datasets are " : "it lists no dataset of this member");
    else
        s_add(out, cap, &o,
              "stream '%s' is neither owned by %s nor replicated by its gateway in directory "
              "v%" PRIu64 ": %s",
              name, r->member, r->directory_version,
              g && g->n_datasets + g->n_views + g->n_replicated
                  ? "the streams a sink may attach to are "
                  : "there is no stream a sink may attach to");
    if (g)
        s_list(out, cap, &o, &k, g->datasets, g->n_datasets);
    if (g && kind == LT_GRANTS_SINK) {
        s_list(out, cap, &o, &k, g->views, g->n_views);
        s_list(out, cap, &o, &k, g->replicated, g->n_replicated);
    }
}

/* What to change, naming the configuration file. */
static void s_fix(lt_grants_kind_t kind, const char *name, const char *member,
                  const char *config_path, char *out, size_t cap)
{
    if (kind == LT_GRANTS_SOURCE)
        snprintf(out, cap,
                 "correct 'dataset' in %s; a new dataset must first be listed as %s's in the "
                 "directory (ask the authority)",
                 config_path, member);
    else
        snprintf(out, cap,
                 "correct 'stream' in %s; or, when the directory lets %s subscribe to it, add "
                 "subscribe = ( { stream = \"%s\"; } ); to the gateway's configuration",
                 config_path, member, name);
}

/* The gateway's status, asked once; NULL with err when it cannot be. */
static Lienthong__Envelope *s_ask(const char *socket, char *err, size_t errlen)
{
    Lienthong__StatusRequest q = LIENTHONG__STATUS_REQUEST__INIT;
    Lienthong__Envelope *env = NULL;
    lt_client_t *c = lt_client_new(socket, NULL, err, errlen);
    if (!c)
        return NULL;
    if (lt_client_send(c, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &q, ASK_MS, err, errlen) == 0 &&
        lt_client_recv(c, ASK_MS, &env, err, errlen) == 0 &&
        env->body_case != LIENTHONG__ENVELOPE__BODY_STATUS_REPLY) {
        snprintf(err, errlen, "the gateway answered a status request with %s",
                 lt_wire_body_name(env->body_case));
        lt_wire_free(&env);
    }
    lt_client_destroy(&c);
    return env;
}

/* --check: the record type mine, configured for the granted dataset name,
 * against the one the status gives it (8.1, 8.3): another one would have
 * every Publish refused. Nothing when the status gives none. */
static void s_check_type(lt_check_t *c, const Lienthong__StatusReply *r, const char *name,
                         const char *mine, const char *config_path)
{
    const char *theirs = lt_grants_record_type(r, name);
    if (!mine || !theirs || strcmp(mine, theirs) == 0)
        return;
    char fix[2048];
    snprintf(fix, sizeof fix, "set record_type to '%s' in %s and map 'columns' to its fields",
             theirs, config_path);
    lt_check_error(c, "record type", fix,
                   "dataset %s: its record_type '%s' is not the record type '%s' the directory "
                   "gives it (v%" PRIu64 ", the gateway's status): the gateway would refuse "
                   "every Publish of it",
                   name, mine, theirs, r->directory_version);
}

void lt_grants_check(lt_check_t *c, const char *socket, const char *config_path,
                     lt_grants_kind_t kind, const char *const *names, const char *const *types,
                     size_t n)
{
    const char *what = kind == LT_GRANTS_SOURCE ? "dataset" : "stream";
    char err[1024] = "", why[2048], fix[2048];
    Lienthong__Envelope *env = s_ask(socket, err, sizeof err);
    if (!env) {
        lt_check_warn(c, what, "run --check again once the gateway answers",
                      "not checked against the gateway's directory: %s", err);
        return;
    }
    const Lienthong__StatusReply *r = env->status_reply;
    for (size_t i = 0; i < n; i++) {
        int has = lt_grants_has(r, kind, names[i]);
        if (has < 0) {
            lt_check_warn(c, what, "upgrade the gateway, or restart it after an upgrade",
                          "%s not checked: the gateway does not tell what its directory grants",
                          names[i]);
            break;
        }
        if (has) {
            lt_check_ok(c, what, "%s, granted to %s in directory v%" PRIu64, names[i], r->member,
                        r->directory_version);
            s_check_type(c, r, names[i], types ? types[i] : NULL, config_path);
            continue;
        }
        lt_grants_why(r, kind, names[i], why, sizeof why);
        s_fix(kind, names[i], r->member, config_path, fix, sizeof fix);
        lt_check_error(c, what, fix, "%s", why);
    }
    lt_wire_free(&env);
}

int lt_grants_on_status(lt_grants_state_t *st, const Lienthong__StatusReply *r,
                        lt_grants_kind_t kind, const char *name, const char *tag,
                        const char *config_path, const char *then)
{
    char why[2048], fix[2048];
    int was = st->refused;
    st->refused = lt_grants_has(r, kind, name) == 0;
    if (was && !st->refused)
        lt_info(tag, "%s '%s' is granted in directory v%" PRIu64 " now",
                kind == LT_GRANTS_SOURCE ? "dataset" : "stream", name, r->directory_version);
    if (!st->refused)
        st->logged = 0;
    if (!st->refused || (st->logged && st->logged_version == r->directory_version))
        return st->refused;
    st->logged = 1;
    st->logged_version = r->directory_version;
    lt_grants_why(r, kind, name, why, sizeof why);
    s_fix(kind, name, r->member, config_path, fix, sizeof fix);
    lt_error(tag, "%s; %s; %s", why, fix, then);
    return 1;
}
