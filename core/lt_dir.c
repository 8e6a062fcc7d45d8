/* lt_dir: compile, sign, verify and query the federation directory.
 *
 * Messages built here are allocated with malloc/strdup in the same shape
 * protobuf-c's unpacker produces, so protobuf_c_message_free_unpacked()
 * frees them either way. */
#include "lt_dir.h"
#include "lt_err.h"
#include "lt_cfgfile.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_rules.h"
#include "lt_schema.h"
#include "lt_sock.h"
#include "lt_valid.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct _lt_dir_t {
    Lienthong__Directory *dir;
    uint8_t *signed_bytes;
    size_t signed_len;
    /* The key of the pins it was opened under that verified its signature:
     * set by lt_dir_open alone, once it verified, so that no directory
     * carries a key that did not (lt_dir_signer). */
    uint8_t signer[LT_KEY_BYTES];
};

/* ---- semantic validation ------------------------------------------------ */

int lt_dir_member_id_ok(const char *id)
{
    int parts = 1, len = 0;
    for (const char *p = id; *p; p++) {
        if (*p == '/') {
            if (len == 0)
                return 0;
            parts++;
            len = 0;
        } else if (isupper((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
                   *p == '-') {
            len++;
        } else {
            return 0;
        }
    }
    return parts == 3 && len > 0 && strlen(id) < 128;
}

static const Lienthong__Member *s_member(const Lienthong__Directory *d, const char *id)
{
    for (size_t i = 0; i < d->n_members; i++)
        if (strcmp(d->members[i]->id, id) == 0)
            return d->members[i];
    return NULL;
}

static const Lienthong__Dataset *s_dataset(const Lienthong__Directory *d, const char *id)
{
    for (size_t i = 0; i < d->n_datasets; i++)
        if (strcmp(d->datasets[i]->id, id) == 0)
            return d->datasets[i];
    return NULL;
}

static const Lienthong__View *s_view(const Lienthong__Directory *d, const char *id)
{
    for (size_t i = 0; i < d->n_views; i++)
        if (strcmp(d->views[i]->id, id) == 0)
            return d->views[i];
    return NULL;
}

/* Record type behind a dataset or view id, or NULL. */
static const ProtobufCMessageDescriptor *s_target_type(const Lienthong__Directory *d,
                                                       const char *target)
{
    const Lienthong__View *v = s_view(d, target);
    const Lienthong__Dataset *ds = s_dataset(d, v ? v->dataset : target);
    return ds ? lt_schema_find(ds->record_type) : NULL;
}

/* 1 if a and b share a key: any of a's keys equals any of b's. */
static int s_share(const uint8_t *const *a, size_t na, const uint8_t *const *b, size_t nb)
{
    for (size_t x = 0; x < na; x++)
        for (size_t y = 0; y < nb; y++)
            if (memcmp(a[x], b[y], LT_KEY_BYTES) == 0)
                return 1;
    return 0;
}

/* The next keys of member i (PROTOCOL.md 5.5): 32 bytes or absent, not the
 * current key again, and no key of either kind shared with another member,
 * since a key must name exactly one member to ZAP and to verifiers. */
static int s_check_rotation(const Lienthong__Directory *d, size_t i, char *err, size_t errlen)
{
    const Lienthong__Member *m = d->members[i];
    if (m->next_transport_key.len != 0 && m->next_transport_key.len != LT_KEY_BYTES)
        return lt_err_set(err, errlen, "member '%s': next transport key must be 32 bytes", m->id);
    if (m->next_signing_key.len != 0 && m->next_signing_key.len != LT_KEY_BYTES)
        return lt_err_set(err, errlen, "member '%s': next signing key must be 32 bytes", m->id);
    const uint8_t *mt[2], *ms[2], *ot[2], *os[2];
    size_t nmt = lt_dir_transport_keys(m, mt), nms = lt_dir_signing_keys(m, ms);
    if (nmt == 2 && memcmp(mt[0], mt[1], LT_KEY_BYTES) == 0)
        return lt_err_set(err, errlen, "member '%s': next transport key equals the current one",
                          m->id);
    if (nms == 2 && memcmp(ms[0], ms[1], LT_KEY_BYTES) == 0)
        return lt_err_set(err, errlen, "member '%s': next signing key equals the current one",
                          m->id);
    for (size_t j = 0; j < i; j++) {
        const Lienthong__Member *o = d->members[j];
        if (s_share(mt, nmt, ot, lt_dir_transport_keys(o, ot)))
            return lt_err_set(err, errlen, "member '%s' shares a transport key with '%s'", m->id,
                              o->id);
        if (s_share(ms, nms, os, lt_dir_signing_keys(o, os)))
            return lt_err_set(err, errlen, "member '%s' shares a signing key with '%s'", m->id,
                              o->id);
    }
    return 0;
}

/* The directory's announced next authority keys (PROTOCOL.md 5.5). */
static int s_check_next_authorities(const Lienthong__Directory *d, char *err, size_t errlen)
{
    if (d->n_next_authority_keys > LT_DIR_MAX_NEXT_AUTHORITIES)
        return lt_err_set(err, errlen, "%zu next authority keys; at most %d",
                          d->n_next_authority_keys, LT_DIR_MAX_NEXT_AUTHORITIES);
    for (size_t i = 0; i < d->n_next_authority_keys; i++)
        if (d->next_authority_keys[i].len != LT_KEY_BYTES)
            return lt_err_set(err, errlen, "next authority key %zu must be 32 bytes", i + 1);
    return 0;
}

static int s_check_member(const Lienthong__Directory *d, size_t i, char *err, size_t errlen)
{
    const Lienthong__Member *m = d->members[i];
    if (!lt_dir_member_id_ok(m->id))
        return lt_err_set(err, errlen,
                          "member id '%s' is not of the form INSTANCE/CLASS/CODE "
                          "(upper-case letters, digits, '_' or '-')",
                          m->id);
    for (size_t j = 0; j < i; j++) {
        if (strcmp(d->members[j]->id, m->id) == 0)
            return lt_err_set(err, errlen, "member '%s' is listed twice", m->id);
        if (m->transport_key.len == 32 && d->members[j]->transport_key.len == 32 &&
            memcmp(d->members[j]->transport_key.data, m->transport_key.data, 32) == 0)
            return lt_err_set(err, errlen, "member '%s' has the same transport key as '%s'", m->id,
                              d->members[j]->id);
    }
    if (m->transport_key.len != 32)
        return lt_err_set(err, errlen, "member '%s': transport key must be 32 bytes", m->id);
    if (m->signing_key.len != 32)
        return lt_err_set(err, errlen, "member '%s': signing key must be 32 bytes", m->id);
    if (m->status == LIENTHONG__MEMBER_STATUS__MEMBER_UNKNOWN)
        return lt_err_set(err, errlen, "member '%s': status must be active, suspended or revoked",
                          m->id);
    char why[128];
    for (size_t e = 0; e < m->n_endpoints; e++)
        if (lt_sock_endpoint_parse(m->endpoints[e], NULL, 0, NULL, why, sizeof why) != 0)
            return lt_err_set(err, errlen, "member '%s': endpoint '%s' is not tcp://HOST:PORT: %s",
                              m->id, m->endpoints[e], why);
    return s_check_rotation(d, i, err, errlen);
}

/* The dataset's rules compile against its record type (PROTOCOL.md 5.7),
 * and each reference names another listed dataset. */
static int s_check_rules(const Lienthong__Directory *d, const Lienthong__Dataset *ds, char *err,
                         size_t errlen)
{
    char why[256];
    lt_rules_t *rules = lt_rules_new(ds, why, sizeof why);
    if (!rules)
        return lt_err_set(err, errlen, "dataset '%s': %s", ds->id, why);
    int rc = 0;
    for (size_t r = 0; rc == 0 && r < lt_rules_count(rules); r++) {
        const char *target = lt_rules_reference(rules, r, NULL);
        if (target && (strcmp(target, ds->id) == 0 || !s_dataset(d, target)))
            rc = lt_err_set(err, errlen, "dataset '%s': rule %zu (%s) refers to '%s', %s", ds->id,
                            r + 1, lt_rules_id(rules, r), target,
                            strcmp(target, ds->id) == 0 ? "the dataset itself"
                                                        : "not a listed dataset");
    }
    lt_rules_destroy(&rules);
    return rc;
}

static int s_check_dataset(const Lienthong__Directory *d, size_t i, char *err, size_t errlen)
{
    const Lienthong__Dataset *ds = d->datasets[i];
    if (!s_member(d, ds->owner))
        return lt_err_set(err, errlen, "dataset '%s': owner '%s' is not a listed member", ds->id,
                          ds->owner);
    size_t ol = strlen(ds->owner);
    if (strncmp(ds->id, ds->owner, ol) != 0 || ds->id[ol] != '/' || !ds->id[ol + 1] ||
        strchr(ds->id + ol + 1, '/'))
        return lt_err_set(err, errlen, "dataset id '%s' must be OWNER/NAME with owner '%s'", ds->id,
                          ds->owner);
    for (size_t j = 0; j < i; j++)
        if (strcmp(d->datasets[j]->id, ds->id) == 0)
            return lt_err_set(err, errlen, "dataset '%s' is listed twice", ds->id);
    const ProtobufCMessageDescriptor *t = lt_schema_find(ds->record_type);
    if (!t)
        return lt_err_set(err, errlen, "dataset '%s': unknown record type '%s'", ds->id,
                          ds->record_type);
    const ProtobufCFieldDescriptor *k = lt_schema_field(t, ds->key_field);
    if (!k || k->type != PROTOBUF_C_TYPE_STRING || k->label == PROTOBUF_C_LABEL_REPEATED)
        return lt_err_set(err, errlen, "dataset '%s': key '%s' is not a string field of %s", ds->id,
                          ds->key_field, ds->record_type);
    return s_check_rules(d, ds, err, errlen);
}

static int s_check_fields(const ProtobufCMessageDescriptor *t, char **fields, size_t n,
                          const char *what, const char *id, char *err, size_t errlen)
{
    for (size_t f = 0; f < n; f++)
        if (!lt_schema_field(t, fields[f]))
            return lt_err_set(err, errlen, "%s '%s': '%s' is not a field of %s", what, id,
                              fields[f], t->name);
    return 0;
}

static int s_check_view(const Lienthong__Directory *d, size_t i, char *err, size_t errlen)
{
    const Lienthong__View *v = d->views[i];
    const Lienthong__Dataset *ds = s_dataset(d, v->dataset);
    if (!ds)
        return lt_err_set(err, errlen, "view '%s': dataset '%s' is not listed", v->id, v->dataset);
    size_t dl = strlen(ds->id);
    if (strncmp(v->id, ds->id, dl) != 0 || v->id[dl] != '.' || !v->id[dl + 1])
        return lt_err_set(err, errlen, "view id '%s' must be DATASET.NAME with dataset '%s'", v->id,
                          ds->id);
    for (size_t j = 0; j < i; j++)
        if (strcmp(d->views[j]->id, v->id) == 0)
            return lt_err_set(err, errlen, "view '%s' is listed twice", v->id);
    const ProtobufCMessageDescriptor *t = lt_schema_find(ds->record_type);
    if (v->n_fields == 0)
        return lt_err_set(err, errlen, "view '%s': lists no fields", v->id);
    if (s_check_fields(t, v->fields, v->n_fields, "view", v->id, err, errlen) != 0)
        return -1;
    for (size_t w = 0; w < v->n_where; w++)
        if (!lt_schema_field(t, v->where[w]->field))
            return lt_err_set(err, errlen, "view '%s': predicate field '%s' is not a field of %s",
                              v->id, v->where[w]->field, t->name);
    return 0;
}

static int s_check_policy(const Lienthong__Directory *d, size_t i, char *err, size_t errlen)
{
    const Lienthong__Policy *p = d->policies[i];
    if (!s_member(d, p->consumer))
        return lt_err_set(err, errlen, "policy: consumer '%s' is not a listed member", p->consumer);
    const ProtobufCMessageDescriptor *t = s_target_type(d, p->target);
    if (!t)
        return lt_err_set(err, errlen,
                          "policy for '%s': target '%s' is not a listed dataset or view",
                          p->consumer, p->target);
    if (p->n_operations == 0)
        return lt_err_set(err, errlen, "policy for '%s' on '%s': allows no operation", p->consumer,
                          p->target);
    for (size_t j = 0; j < i; j++)
        if (strcmp(d->policies[j]->consumer, p->consumer) == 0 &&
            strcmp(d->policies[j]->target, p->target) == 0)
            return lt_err_set(err, errlen, "policy for '%s' on '%s' is listed twice", p->consumer,
                              p->target);
    /* Every operation may be granted on a dataset or on a view: on a view,
     * lookup and verify see only its fields and rows (PROTOCOL.md 7.5). */
    return s_check_fields(t, p->fields, p->n_fields, "policy on", p->target, err, errlen);
}

int lt_dir_validate(const Lienthong__Directory *d, const char **section, size_t *index, char *err,
                    size_t errlen)
{
    *section = NULL;
    *index = 0;
    if (d->format != 1)
        return lt_err_set(err, errlen, "unsupported directory format %u", d->format);
    if (!d->federation[0])
        return lt_err_set(err, errlen, "federation is empty");
    if (d->version == 0)
        return lt_err_set(err, errlen, "version must be at least 1");
    if (d->expires_at <= d->issued_at)
        return lt_err_set(err, errlen, "expires before it is issued");
    /* As long as valid_days allows, and no longer: an expiry is what ends
     * trust in a directory's revocations (PROTOCOL.md 5.3, 5.6). The
     * difference of two int64 is taken unsigned: it cannot overflow. */
    if ((uint64_t)d->expires_at - (uint64_t)d->issued_at > LT_DIR_MAX_VALID_DAYS * 86400ull)
        return lt_err_set(err, errlen,
                          "valid for more than %d days: expires_at %" PRId64
                          " is more than that after issued_at %" PRId64,
                          LT_DIR_MAX_VALID_DAYS, d->expires_at, d->issued_at);
    if (s_check_next_authorities(d, err, errlen) != 0)
        return -1;
    struct {
        const char *name;
        size_t n;
        int (*check)(const Lienthong__Directory *, size_t, char *, size_t);
    } parts[] = {
        {"members", d->n_members, s_check_member},
        {"datasets", d->n_datasets, s_check_dataset},
        {"views", d->n_views, s_check_view},
        {"policies", d->n_policies, s_check_policy},
    };
    for (size_t p = 0; p < 4; p++)
        for (size_t i = 0; i < parts[p].n; i++)
            if (parts[p].check(d, i, err, errlen) != 0) {
                *section = parts[p].name;
                *index = i;
                return -1;
            }
    for (size_t i = 0; i < d->n_views; i++)
        if (s_dataset(d, d->views[i]->id))
            return lt_err_set(err, errlen, "'%s' is both a dataset and a view", d->views[i]->id);
    return 0;
}

/* ---- compiling the source file -------------------------------------------- */

/* Required (or optional, when dflt is given) string member of a group. */
static int s_str(const config_setting_t *g, const char *name, const char *dflt, char **out,
                 char *err, size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    const char *v = dflt;
    if (s) {
        v = config_setting_get_string(s);
        if (!v)
            return lt_cfgfile_err(s, NULL, err, errlen, "'%s' must be a string in double quotes",
                                  name);
    } else if (!dflt) {
        return lt_cfgfile_err(g, NULL, err, errlen, "missing '%s'", name);
    }
    *out = strdup(v);
    return *out ? 0 : lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
}

/* Optional array of strings. */
static int s_strs(const config_setting_t *g, const char *name, char ***out, size_t *n, char *err,
                  size_t errlen)
{
    const config_setting_t *a = config_setting_get_member(g, name);
    *n = 0;
    *out = NULL;
    if (!a)
        return 0;
    if (!config_setting_is_array(a) && !config_setting_is_list(a))
        return lt_cfgfile_err(a, NULL, err, errlen,
                              "'%s' must be a list of strings, e.g. [\"a\", \"b\"]", name);
    int len = config_setting_length(a);
    if (len == 0)
        return 0;
    *out = calloc((size_t)len, sizeof(char *));
    if (!*out)
        return lt_cfgfile_err(a, NULL, err, errlen, "out of memory");
    for (int i = 0; i < len; i++) {
        const char *v = config_setting_get_string_elem(a, i);
        if (!v)
            return lt_cfgfile_err(a, NULL, err, errlen, "'%s' item %d must be a string", name,
                                  i + 1);
        (*out)[i] = strdup(v);
        if (!(*out)[i])
            return lt_cfgfile_err(a, NULL, err, errlen, "out of memory");
        (*n)++;
    }
    return 0;
}

static int s_key(const config_setting_t *g, const char *name, ProtobufCBinaryData *out, char *err,
                 size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (!s)
        return lt_cfgfile_err(g, NULL, err, errlen, "missing '%s'", name);
    const char *v = config_setting_get_string(s);
    out->data = malloc(LT_KEY_BYTES);
    if (!out->data)
        return lt_cfgfile_err(s, NULL, err, errlen, "out of memory");
    out->len = LT_KEY_BYTES;
    if (!v || lt_keys_z85_decode(v, out->data) != 0)
        return lt_cfgfile_err(s, NULL, err, errlen,
                              "'%s' must be a 40-character Z85 public key, got \"%s\"", name,
                              v ? v : "(not a string)");
    return 0;
}

/* An optional key: absent leaves out empty. */
static int s_key_opt(const config_setting_t *g, const char *name, ProtobufCBinaryData *out,
                     char *err, size_t errlen)
{
    return config_setting_get_member(g, name) ? s_key(g, name, out, err, errlen) : 0;
}

/* The optional top-level list next_authority_keys of Z85 keys (5.5). */
static int s_next_authorities(const config_t *cfg, Lienthong__Directory *d, char *err,
                              size_t errlen)
{
    char **z = NULL;
    size_t n = 0;
    int rc = s_strs(config_root_setting(cfg), "next_authority_keys", &z, &n, err, errlen);
    const config_setting_t *a = config_lookup(cfg, "next_authority_keys");
    if (rc == 0 && n > LT_DIR_MAX_NEXT_AUTHORITIES)
        rc = lt_cfgfile_err(a, NULL, err, errlen, "next_authority_keys lists %zu keys; at most %d",
                            n, LT_DIR_MAX_NEXT_AUTHORITIES);
    if (rc == 0 && n && !(d->next_authority_keys = calloc(n, sizeof *d->next_authority_keys)))
        rc = lt_cfgfile_err(a, NULL, err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ProtobufCBinaryData *k = &d->next_authority_keys[i];
        if (!(k->data = malloc(LT_KEY_BYTES))) {
            rc = lt_cfgfile_err(a, NULL, err, errlen, "out of memory");
            break;
        }
        k->len = LT_KEY_BYTES;
        d->n_next_authority_keys++; /* owned by d from here, freed with it */
        if (lt_keys_z85_decode(z[i], k->data) != 0)
            rc = lt_cfgfile_err(a, NULL, err, errlen,
                                "next_authority_keys item %zu must be a "
                                "40-character Z85 public key, got \"%s\"",
                                i + 1, z[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(z[i]);
    free(z);
    return rc;
}

static int s_status(const config_setting_t *g, Lienthong__MemberStatus *out, char *err,
                    size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, "status");
    const char *v = s ? config_setting_get_string(s) : "active";
    static const struct {
        const char *name;
        Lienthong__MemberStatus st;
    } map[] = {{"active", LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE},
               {"suspended", LIENTHONG__MEMBER_STATUS__MEMBER_SUSPENDED},
               {"revoked", LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED}};
    for (size_t i = 0; v && i < 3; i++)
        if (strcmp(v, map[i].name) == 0) {
            *out = map[i].st;
            return 0;
        }
    return lt_cfgfile_err(s, NULL, err, errlen,
                          "status must be \"active\", \"suspended\" or \"revoked\", "
                          "got \"%s\"",
                          v ? v : "(not a string)");
}

static int s_ops(const config_setting_t *g, Lienthong__Policy *p, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int rc = s_strs(g, "allow", &names, &n, err, errlen);
    if (rc == 0 && n == 0)
        rc = lt_cfgfile_err(g, NULL, err, errlen, "missing 'allow' (subscribe, lookup, verify)");
    if (rc == 0 && !(p->operations = calloc(n, sizeof *p->operations)))
        rc = lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        Lienthong__Operation op = LIENTHONG__OPERATION__OP_NONE;
        for (int o = 1; o <= 3; o++)
            if (strcmp(names[i], lt_dir_op_name((Lienthong__Operation)o)) == 0)
                op = (Lienthong__Operation)o;
        if (op == LIENTHONG__OPERATION__OP_NONE)
            rc = lt_cfgfile_err(config_setting_get_member(g, "allow"), NULL, err, errlen,
                                "unknown operation \"%s\" (expected subscribe, lookup or verify)",
                                names[i]);
        else
            p->operations[p->n_operations++] = op;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Reads one list-of-groups section, calling `item` for each entry. */
typedef int (*s_item_fn)(const config_setting_t *g, Lienthong__Directory *d, char *err,
                         size_t errlen);

static int s_section(const config_t *cfg, const char *name, s_item_fn item, Lienthong__Directory *d,
                     char *err, size_t errlen)
{
    const config_setting_t *list = config_lookup(cfg, name);
    if (!list)
        return 0;
    if (!config_setting_is_list(list))
        return lt_cfgfile_err(list, NULL, err, errlen,
                              "'%s' must be a list: %s = ( {...}, {...} );", name, name);
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(g))
            return lt_cfgfile_err(g, NULL, err, errlen,
                                  "each entry of '%s' must be a group { ... }", name);
        if (item(g, d, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Makes room for element n of arr: 1, or 0 with arr as it was, so that
 * the directory, freed on the error, still holds (and frees) every
 * element it had. */
#define GROW(arr, n)                                                                               \
    __extension__({                                                                                \
        __typeof__(arr) grown_ = realloc((arr), ((n) + 1) * sizeof *(arr));                        \
        if (grown_)                                                                                \
            (arr) = grown_;                                                                        \
        grown_ != NULL;                                                                            \
    })

/* Checked here as well as by lt_dir_validate for the line of the list. */
static int s_endpoints(const config_setting_t *g, const Lienthong__Member *m, char *err,
                       size_t errlen)
{
    char why[128];
    for (size_t e = 0; e < m->n_endpoints; e++)
        if (lt_sock_endpoint_parse(m->endpoints[e], NULL, 0, NULL, why, sizeof why) != 0)
            return lt_cfgfile_err(config_setting_get_member(g, "endpoints"), NULL, err, errlen,
                                  "endpoint %zu \"%s\" is not tcp://HOST:PORT: %s", e + 1,
                                  m->endpoints[e], why);
    return 0;
}

static int s_member_item(const config_setting_t *g, Lienthong__Directory *d, char *err,
                         size_t errlen)
{
    Lienthong__Member *m = malloc(sizeof *m);
    if (!m || !GROW(d->members, d->n_members)) {
        free(m);
        return lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
    }
    lienthong__member__init(m);
    d->members[d->n_members++] = m;
    static const char *const known[] = {
        "id",          "name",   "endpoints",          "transport_key",
        "signing_key", "status", "next_transport_key", "next_signing_key",
        NULL};
    if (lt_cfgfile_unknown_in(g, NULL, known, err, errlen) ||
        s_str(g, "id", NULL, &m->id, err, errlen) ||
        s_str(g, "name", NULL, &m->name, err, errlen) ||
        s_strs(g, "endpoints", &m->endpoints, &m->n_endpoints, err, errlen) ||
        s_endpoints(g, m, err, errlen) ||
        s_key(g, "transport_key", &m->transport_key, err, errlen) ||
        s_key(g, "signing_key", &m->signing_key, err, errlen) ||
        s_status(g, &m->status, err, errlen) ||
        s_key_opt(g, "next_transport_key", &m->next_transport_key, err, errlen) ||
        s_key_opt(g, "next_signing_key", &m->next_signing_key, err, errlen))
        return -1;
    return 0;
}

static const char *const s_rule_known[] = {"field",      "check", "sex",    "birth",
                                           "not_future", "after", "values", "dataset"};

/* One rule group: { field = "..."; check = "..."; ... } (PROTOCOL.md A.3). */
static int s_rule_item(const config_setting_t *g, Lienthong__Rule *r, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const char *name = config_setting_name(config_setting_get_elem(g, (unsigned)i));
        size_t k = 0;
        while (k < sizeof s_rule_known / sizeof s_rule_known[0] && strcmp(s_rule_known[k], name))
            k++;
        if (k == sizeof s_rule_known / sizeof s_rule_known[0])
            return lt_cfgfile_err(g, NULL, err, errlen, "unknown rule setting '%s'", name);
    }
    const config_setting_t *nf = config_setting_get_member(g, "not_future");
    if (nf && config_setting_type(nf) != CONFIG_TYPE_BOOL)
        return lt_cfgfile_err(nf, NULL, err, errlen, "'not_future' must be true or false");
    r->not_future = nf && config_setting_get_bool(nf);
    if (s_str(g, "field", NULL, &r->field, err, errlen) ||
        s_str(g, "check", NULL, &r->check, err, errlen) ||
        s_str(g, "sex", "", &r->sex, err, errlen) ||
        s_str(g, "birth", "", &r->birth, err, errlen) ||
        s_str(g, "after", "", &r->after, err, errlen) ||
        s_strs(g, "values", &r->values, &r->n_values, err, errlen) ||
        s_str(g, "dataset", "", &r->dataset, err, errlen))
        return -1;
    return 0;
}

/* Optional `rules = ( {...}, ... );` of a dataset. */
static int s_rules(const config_setting_t *g, Lienthong__Dataset *ds, char *err, size_t errlen)
{
    const config_setting_t *list = config_setting_get_member(g, "rules");
    if (!list)
        return 0;
    if (!config_setting_is_list(list))
        return lt_cfgfile_err(list, NULL, err, errlen,
                              "'rules' must be a list: rules = ( { field = ...; check = ...; } );");
    int n = config_setting_length(list);
    ds->rules = calloc((size_t)(n ? n : 1), sizeof *ds->rules);
    if (!ds->rules)
        return lt_cfgfile_err(list, NULL, err, errlen, "out of memory");
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(e))
            return lt_cfgfile_err(e, NULL, err, errlen, "each rule must be a group { ... }");
        Lienthong__Rule *r = malloc(sizeof *r);
        if (!r)
            return lt_cfgfile_err(e, NULL, err, errlen, "out of memory");
        lienthong__rule__init(r);
        ds->rules[ds->n_rules++] = r;
        if (s_rule_item(e, r, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int s_dataset_item(const config_setting_t *g, Lienthong__Directory *d, char *err,
                          size_t errlen)
{
    Lienthong__Dataset *ds = malloc(sizeof *ds);
    if (!ds || !GROW(d->datasets, d->n_datasets)) {
        free(ds);
        return lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
    }
    lienthong__dataset__init(ds);
    d->datasets[d->n_datasets++] = ds;
    static const char *const known[] = {"id", "owner", "type", "key", "description", "rules", NULL};
    if (lt_cfgfile_unknown_in(g, NULL, known, err, errlen) ||
        s_str(g, "id", NULL, &ds->id, err, errlen) ||
        s_str(g, "owner", NULL, &ds->owner, err, errlen) ||
        s_str(g, "type", NULL, &ds->record_type, err, errlen) ||
        s_str(g, "key", NULL, &ds->key_field, err, errlen) ||
        s_str(g, "description", "", &ds->description, err, errlen) || s_rules(g, ds, err, errlen))
        return -1;
    return 0;
}

static int s_where(const config_setting_t *g, Lienthong__View *v, char *err, size_t errlen)
{
    const config_setting_t *w = config_setting_get_member(g, "where");
    if (!w)
        return 0;
    if (!config_setting_is_group(w))
        return lt_cfgfile_err(w, NULL, err, errlen,
                              "'where' must be a group of field = \"value\" pairs");
    int n = config_setting_length(w);
    v->where = calloc((size_t)(n ? n : 1), sizeof *v->where);
    if (!v->where)
        return lt_cfgfile_err(w, NULL, err, errlen, "out of memory");
    for (int i = 0; i < n; i++) {
        const config_setting_t *c = config_setting_get_elem(w, (unsigned)i);
        const char *val = config_setting_get_string(c);
        if (!val)
            return lt_cfgfile_err(c, NULL, err, errlen, "predicate '%s' must be a string value",
                                  config_setting_name(c));
        Lienthong__Predicate *p = malloc(sizeof *p);
        if (!p)
            return lt_cfgfile_err(c, NULL, err, errlen, "out of memory");
        lienthong__predicate__init(p);
        v->where[v->n_where++] = p;
        p->field = strdup(config_setting_name(c));
        p->equals = strdup(val);
        if (!p->field || !p->equals)
            return lt_cfgfile_err(c, NULL, err, errlen, "out of memory");
    }
    return 0;
}

static int s_view_item(const config_setting_t *g, Lienthong__Directory *d, char *err, size_t errlen)
{
    Lienthong__View *v = malloc(sizeof *v);
    if (!v || !GROW(d->views, d->n_views)) {
        free(v);
        return lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
    }
    lienthong__view__init(v);
    d->views[d->n_views++] = v;
    /* A misspelt 'where' would make the view every record of its dataset. */
    static const char *const known[] = {"id", "dataset", "fields", "where", NULL};
    if (lt_cfgfile_unknown_in(g, NULL, known, err, errlen) ||
        s_str(g, "id", NULL, &v->id, err, errlen) ||
        s_str(g, "dataset", NULL, &v->dataset, err, errlen) ||
        s_strs(g, "fields", &v->fields, &v->n_fields, err, errlen) || s_where(g, v, err, errlen))
        return -1;
    return 0;
}

static int s_policy_item(const config_setting_t *g, Lienthong__Directory *d, char *err,
                         size_t errlen)
{
    Lienthong__Policy *p = malloc(sizeof *p);
    if (!p || !GROW(d->policies, d->n_policies)) {
        free(p);
        return lt_cfgfile_err(g, NULL, err, errlen, "out of memory");
    }
    lienthong__policy__init(p);
    d->policies[d->n_policies++] = p;
    static const char *const known[] = {"consumer", "target", "allow", "fields", "purposes", NULL};
    if (lt_cfgfile_unknown_in(g, NULL, known, err, errlen) ||
        s_str(g, "consumer", NULL, &p->consumer, err, errlen) ||
        s_str(g, "target", NULL, &p->target, err, errlen) || s_ops(g, p, err, errlen) ||
        s_strs(g, "fields", &p->fields, &p->n_fields, err, errlen) ||
        s_strs(g, "purposes", &p->purposes, &p->n_purposes, err, errlen))
        return -1;
    return 0;
}

/* Maps a validation failure back to the source line of the offending entry. */
static void s_locate(const config_t *cfg, const char *section, size_t index, char *err,
                     size_t errlen)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", err);
    const config_setting_t *list = section ? config_lookup(cfg, section) : config_root_setting(cfg);
    const config_setting_t *g =
        list && section ? config_setting_get_elem(list, (unsigned)index) : list;
    lt_cfgfile_err(g, NULL, err, errlen, "%s", msg);
}

/* Every setting of a directory source is known: one misspelt would be
 * left out of what the authority signs without a word (a view's 'where', a
 * member's 'status'). */
static const char *const s_root_known[] = {
    "federation", "version",  "valid_days", "next_authority_keys", "members", "datasets",
    "views",      "policies", NULL};

static int s_header(const config_t *cfg, Lienthong__Directory *d, char *err, size_t errlen)
{
    const config_setting_t *root = config_root_setting(cfg);
    long long version = 0, days = 0;
    if (lt_cfgfile_unknown(cfg, NULL, s_root_known, err, errlen) ||
        s_str(root, "federation", NULL, &d->federation, err, errlen) ||
        lt_cfgfile_int(cfg, NULL, "version", 0, 1, INT64_MAX, &version, err, errlen) ||
        lt_cfgfile_int(cfg, NULL, "valid_days", 30, 1, LT_DIR_MAX_VALID_DAYS, &days, err, errlen))
        return -1;
    d->version = (uint64_t)version;
    d->issued_at = (int64_t)time(NULL);
    d->expires_at = d->issued_at + (int64_t)days * 86400;
    return s_next_authorities(cfg, d, err, errlen);
}

int lt_dir_compile(const char *path, uint64_t version, int64_t issued_at, int64_t expires_at,
                   uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    int rc = -1;
    config_t cfg;
    config_init(&cfg);
    Lienthong__Directory *d = malloc(sizeof *d);
    if (!d) {
        lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    lienthong__directory__init(d);
    d->format = 1;
    if (lt_cfgfile_read(&cfg, path, err, errlen) != 0)
        goto out;
    if (s_header(&cfg, d, err, errlen) ||
        s_section(&cfg, "members", s_member_item, d, err, errlen) ||
        s_section(&cfg, "datasets", s_dataset_item, d, err, errlen) ||
        s_section(&cfg, "views", s_view_item, d, err, errlen) ||
        s_section(&cfg, "policies", s_policy_item, d, err, errlen))
        goto out;
    if (version)
        d->version = version;
    if (issued_at)
        d->issued_at = issued_at;
    if (expires_at)
        d->expires_at = expires_at;
    const char *section;
    size_t index;
    if (lt_dir_validate(d, &section, &index, err, errlen) != 0) {
        s_locate(&cfg, section, index, err, errlen);
        goto out;
    }
    *out_len = lienthong__directory__get_packed_size(d);
    *out = malloc(*out_len ? *out_len : 1);
    if (!*out) {
        lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    lienthong__directory__pack(d, *out);
    rc = 0;
out:
    if (d)
        lienthong__directory__free_unpacked(d, NULL);
    config_destroy(&cfg);
    return rc;
}

/* ---- signing and opening ------------------------------------------------- */

int lt_dir_sign(const uint8_t *dir, size_t len, const lt_keys_t *authority, uint8_t **out,
                size_t *out_len)
{
    uint8_t sig[LT_SIG_BYTES];
    if (lt_keys_sign(authority, LT_DIR_DOMAIN, dir, len, sig) != 0)
        return -1;
    Lienthong__DirectorySignature ds = LIENTHONG__DIRECTORY_SIGNATURE__INIT;
    ds.authority_key.data = (uint8_t *)lt_keys_signing_public(authority);
    ds.authority_key.len = LT_KEY_BYTES;
    ds.signature.data = sig;
    ds.signature.len = sizeof sig;
    Lienthong__DirectorySignature *sigs[1] = {&ds};
    Lienthong__SignedDirectory sd = LIENTHONG__SIGNED_DIRECTORY__INIT;
    sd.directory.data = (uint8_t *)dir;
    sd.directory.len = len;
    sd.n_signatures = 1;
    sd.signatures = sigs;
    *out_len = lienthong__signed_directory__get_packed_size(&sd);
    *out = malloc(*out_len);
    if (!*out)
        return -1;
    lienthong__signed_directory__pack(&sd, *out);
    return 0;
}

/* The pin a signature's hint names, or -1. */
static int s_hinted_pin(const Lienthong__DirectorySignature *sig, const lt_dir_pins_t *pins)
{
    for (size_t p = 0; sig->authority_key.len == LT_KEY_BYTES && p < pins->count; p++)
        if (sodium_memcmp(pins->keys[p], sig->authority_key.data, LT_KEY_BYTES) == 0)
            return (int)p;
    return -1;
}

/* One verification of signature sig under pin p, counted against *budget. */
static int s_try(const Lienthong__SignedDirectory *sd, const Lienthong__DirectorySignature *sig,
                 const uint8_t *pin, int *budget)
{
    if (*budget <= 0)
        return -1;
    (*budget)--;
    return lt_keys_verify(pin, LT_DIR_DOMAIN, sd->directory.data, sd->directory.len,
                          sig->signature.data);
}

/* The index of the key of pins that verifies one of the first
 * LT_DIR_MAX_SIGS signatures, or -1. The key carried in the message is
 * never trusted: it only tells which pin to try first. Signatures whose
 * hint names a pin are tried with that pin; the others, with every pin,
 * from what is left of the budget of LT_DIR_MAX_VERIFIES verifications. */
static int s_signing_pin(const Lienthong__SignedDirectory *sd, const lt_dir_pins_t *pins)
{
    size_t n = sd->n_signatures < LT_DIR_MAX_SIGS ? sd->n_signatures : LT_DIR_MAX_SIGS;
    int budget = LT_DIR_MAX_VERIFIES;
    for (size_t s = 0; s < n; s++) {
        const Lienthong__DirectorySignature *sig = sd->signatures[s];
        int p = s_hinted_pin(sig, pins);
        if (sig->signature.len == LT_SIG_BYTES && p >= 0 &&
            s_try(sd, sig, pins->keys[p], &budget) == 0)
            return p;
    }
    for (size_t s = 0; s < n && budget > 0; s++) {
        const Lienthong__DirectorySignature *sig = sd->signatures[s];
        if (sig->signature.len != LT_SIG_BYTES || s_hinted_pin(sig, pins) >= 0)
            continue;
        for (size_t p = 0; p < pins->count; p++)
            if (s_try(sd, sig, pins->keys[p], &budget) == 0)
                return (int)p;
    }
    return -1;
}

/* Names the keys involved when no signature verifies, so that an operator
 * can see a wrong pin at once: the signers' keys (hints) and the pins. */
static void s_signers(const Lienthong__SignedDirectory *sd, const lt_dir_pins_t *pins, char *out,
                      size_t cap)
{
    char z[LT_Z85_KEY_LEN + 1];
    size_t n = (size_t)snprintf(out, cap, "it is signed by");
    for (size_t s = 0; s < sd->n_signatures && s < 4 && n < cap; s++) {
        const ProtobufCBinaryData *k = &sd->signatures[s]->authority_key;
        if (k->len == LT_KEY_BYTES)
            lt_keys_z85_encode(k->data, z);
        else
            snprintf(z, sizeof z, "(no key named)");
        n += (size_t)snprintf(out + n, cap - n, "%s %s", s ? "," : "", z);
    }
    if (sd->n_signatures == 0 && n < cap)
        n += (size_t)snprintf(out + n, cap - n, " nobody");
    for (size_t p = 0; p < pins->count && n < cap; p++) {
        lt_keys_z85_encode(pins->keys[p], z);
        n += (size_t)snprintf(out + n, cap - n, "%s %s", p ? "," : "; authority_keys pins", z);
    }
}

/* Which pin signed sd: the directory is trusted through that key alone, and
 * lt_dir_signer reports it. 0 with *pin set, else -1 with err set. */
static int s_dir_pin(const Lienthong__SignedDirectory *sd, const lt_dir_pins_t *pins, int *pin,
                     char *err, size_t errlen)
{
    if (pins->count == 0) {
        lt_err_set(err, errlen, "no authority key is pinned");
        return -1;
    }
    *pin = s_signing_pin(sd, pins);
    if (*pin < 0) {
        char who[512];
        s_signers(sd, pins, who, sizeof who);
        lt_err_set(err, errlen, "no valid signature from a pinned authority key (%s)", who);
        return -1;
    }
    return 0;
}

/* Decodes the signed body only once its signature verified, so that
 * unsigned bytes never reach the decoder. NULL with err set on failure. */
static Lienthong__Directory *s_dir_decode(const Lienthong__SignedDirectory *sd, char *err,
                                          size_t errlen)
{
    Lienthong__Directory *d =
        lienthong__directory__unpack(NULL, sd->directory.len, sd->directory.data);
    if (!d) {
        lt_err_set(err, errlen, "signed directory body cannot be decoded");
        return NULL;
    }
    char where[64];
    /* Its ids are echoed in Hello, answers and logs: UTF-8 (PROTOCOL.md 4.5). */
    if (lt_valid_utf8(&lienthong__directory__descriptor, sd->directory.data, sd->directory.len,
                      where, sizeof where) != 0) {
        lt_err_set(err, errlen, "directory: %s is not valid UTF-8 (or holds a NUL)", where);
        lienthong__directory__free_unpacked(d, NULL);
        return NULL;
    }
    return d;
}

/* A well signed directory may still be one this gateway must not use:
 * invalid, another federation's, expired or issued ahead of the clock
 * (now 0 skips the clock). 0 if usable, else -1 with err set. */
static int s_dir_usable(const Lienthong__Directory *d, const char *federation, int64_t now,
                        char *err, size_t errlen)
{
    const char *section;
    size_t index;
    char why[400];
    if (lt_dir_validate(d, &section, &index, why, sizeof why) != 0) {
        lt_err_set(err, errlen, "invalid directory version %llu: %s",
                   (unsigned long long)d->version, why);
        return -1;
    }
    if (federation && strcmp(federation, d->federation) != 0) {
        lt_err_set(err, errlen, "directory is for federation '%s', this gateway is in '%s'",
                   d->federation, federation);
        return -1;
    }
    if (!now)
        return 0;
    char ts[LT_CLOCK_UTC_LEN];
    if (now >= d->expires_at) {
        lt_clock_utc(d->expires_at, ts, sizeof ts);
        lt_err_set(err, errlen, "directory version %llu expired at %s",
                   (unsigned long long)d->version, ts);
        return -1;
    }
    if (d->issued_at > now + LT_DIR_MAX_AHEAD_S) {
        lt_clock_utc(d->issued_at, ts, sizeof ts);
        lt_err_set(err, errlen,
                   "directory version %llu is issued in the future (%s); check the "
                   "clock",
                   (unsigned long long)d->version, ts);
        return -1;
    }
    return 0;
}

/* The handle keeps the signed bytes as received, to be served to peers
 * unchanged. Takes d only on success; NULL with err set otherwise. */
static lt_dir_t *s_dir_new(const uint8_t *signed_bytes, size_t len, const uint8_t *signer,
                           Lienthong__Directory *d, char *err, size_t errlen)
{
    lt_dir_t *self = calloc(1, sizeof *self);
    if (!self || !(self->signed_bytes = malloc(len))) {
        free(self);
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(self->signed_bytes, signed_bytes, len);
    self->signed_len = len;
    memcpy(self->signer, signer, LT_KEY_BYTES);
    self->dir = d;
    return self;
}

lt_dir_t *lt_dir_open(const uint8_t *signed_bytes, size_t len, const lt_dir_pins_t *pins,
                      const char *federation, int64_t now, char *err, size_t errlen)
{
    lt_dir_t *self = NULL;
    Lienthong__SignedDirectory *sd = NULL;
    Lienthong__Directory *d = NULL;
    int pin = -1;
    if (len > LT_DIR_MAX_BYTES) {
        lt_err_set(err, errlen, "signed directory of %zu bytes exceeds the %u-byte cap", len,
                   LT_DIR_MAX_BYTES);
        goto out;
    }
    /* The envelope of signatures is decoded first (it must be, to find the
     * signed bytes); the directory itself only after a signature verifies. */
    sd = lienthong__signed_directory__unpack(NULL, len, signed_bytes);
    if (!sd) {
        lt_err_set(err, errlen, "not a signed directory (cannot decode)");
        goto out;
    }
    if (s_dir_pin(sd, pins, &pin, err, errlen) != 0)
        goto out;
    d = s_dir_decode(sd, err, errlen);
    if (!d || s_dir_usable(d, federation, now, err, errlen) != 0)
        goto out;
    self = s_dir_new(signed_bytes, len, pins->keys[pin], d, err, errlen);
    if (self)
        d = NULL;
out:
    if (d)
        lienthong__directory__free_unpacked(d, NULL);
    if (sd)
        lienthong__signed_directory__free_unpacked(sd, NULL);
    return self;
}

lt_dir_t *lt_dir_load(const char *path, const lt_dir_pins_t *pins, const char *federation,
                      int64_t now, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(path, LT_DIR_MAX_BYTES, &buf, &len) != 0) {
        lt_err_set(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char why[512];
    lt_dir_t *self = lt_dir_open(buf, len, pins, federation, now, why, sizeof why);
    if (!self)
        lt_err_set(err, errlen, "%s: %s", path, why);
    free(buf);
    return self;
}

void lt_dir_destroy(lt_dir_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_dir_t *self = *self_p;
    lienthong__directory__free_unpacked(self->dir, NULL);
    free(self->signed_bytes);
    free(self);
    *self_p = NULL;
}

/* ---- queries --------------------------------------------------------------- */

const Lienthong__Directory *lt_dir_get(const lt_dir_t *self)
{
    return self->dir;
}

uint64_t lt_dir_version(const lt_dir_t *self)
{
    return self ? self->dir->version : 0;
}

int64_t lt_dir_expires(const lt_dir_t *self)
{
    return self->dir->expires_at;
}

const uint8_t *lt_dir_signed_bytes(const lt_dir_t *self, size_t *len)
{
    *len = self->signed_len;
    return self->signed_bytes;
}

const Lienthong__Member *lt_dir_member(const lt_dir_t *self, const char *id)
{
    return id ? s_member(self->dir, id) : NULL;
}

const char *lt_dir_inactive(const lt_dir_t *self, const char *id)
{
    const Lienthong__Member *m = lt_dir_member(self, id);
    if (!m)
        return "not in the directory";
    return m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE ? NULL
                                                                : lt_dir_status_name(m->status);
}

const char *lt_dir_inactive_say(const lt_dir_t *self, const char *id, char *buf, size_t len)
{
    const Lienthong__Member *m = lt_dir_member(self, id);
    if (!lt_dir_inactive(self, id))
        return NULL;
    snprintf(buf, len, "%s is %s in directory version %llu", id ? id : "?",
             m ? lt_dir_status_name(m->status) : "not listed",
             (unsigned long long)lt_dir_version(self));
    return buf;
}

const Lienthong__Member *lt_dir_member_by_transport(const lt_dir_t *self,
                                                    const uint8_t key[LT_KEY_BYTES])
{
    for (size_t i = 0; i < self->dir->n_members; i++) {
        const Lienthong__Member *m = self->dir->members[i];
        const uint8_t *keys[2];
        size_t n = lt_dir_transport_keys(m, keys);
        for (size_t k = 0; k < n; k++)
            if (sodium_memcmp(keys[k], key, LT_KEY_BYTES) == 0)
                return m;
    }
    return NULL;
}

const Lienthong__Dataset *lt_dir_dataset(const lt_dir_t *self, const char *id)
{
    return s_dataset(self->dir, id);
}

const Lienthong__View *lt_dir_view(const lt_dir_t *self, const char *id)
{
    return s_view(self->dir, id);
}

const Lienthong__Dataset *lt_dir_dataset_of(const lt_dir_t *self, const char *id)
{
    const Lienthong__View *v = self ? s_view(self->dir, id) : NULL;
    return self ? s_dataset(self->dir, v ? v->dataset : id) : NULL;
}

const Lienthong__Policy *lt_dir_policy(const lt_dir_t *self, const char *consumer,
                                       const char *target)
{
    for (size_t i = 0; i < self->dir->n_policies; i++) {
        const Lienthong__Policy *p = self->dir->policies[i];
        if (strcmp(p->consumer, consumer) == 0 && strcmp(p->target, target) == 0)
            return p;
    }
    return NULL;
}

int lt_dir_policy_allows(const Lienthong__Policy *policy, Lienthong__Operation op)
{
    if (!policy)
        return 0;
    for (size_t i = 0; i < policy->n_operations; i++)
        if (policy->operations[i] == op)
            return 1;
    return 0;
}

int lt_dir_policy_purpose(const Lienthong__Policy *policy, const char *purpose)
{
    for (size_t i = 0; policy && i < policy->n_purposes; i++)
        if (strcmp(policy->purposes[i], purpose) == 0)
            return 1;
    return 0;
}

const char *lt_dir_status_name(Lienthong__MemberStatus s)
{
    switch (s) {
    case LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE:
        return "active";
    case LIENTHONG__MEMBER_STATUS__MEMBER_SUSPENDED:
        return "suspended";
    case LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED:
        return "revoked";
    default:
        return "unknown";
    }
}

const char *lt_dir_op_name(Lienthong__Operation op)
{
    switch (op) {
    case LIENTHONG__OPERATION__OP_SUBSCRIBE:
        return "subscribe";
    case LIENTHONG__OPERATION__OP_LOOKUP:
        return "lookup";
    case LIENTHONG__OPERATION__OP_VERIFY:
        return "verify";
    default:
        return "none";
    }
}

int lt_dir_pins_add(lt_dir_pins_t *pins, const char *z85)
{
    if (pins->count >= LT_DIR_MAX_PINS)
        return -1;
    if (lt_keys_z85_decode(z85, pins->keys[pins->count]) != 0)
        return -1;
    pins->count++;
    return 0;
}

/* ---- key rotation (PROTOCOL.md 5.5) ------------------------------------------ */

/* The current key, then the next one when it is listed; a current key of
 * the wrong size (only in a directory not yet validated) is left out. */
static size_t s_keys(const ProtobufCBinaryData *cur, const ProtobufCBinaryData *next,
                     const uint8_t *keys[2])
{
    size_t n = 0;
    if (cur->len == LT_KEY_BYTES)
        keys[n++] = cur->data;
    if (next->len == LT_KEY_BYTES)
        keys[n++] = next->data;
    return n;
}

size_t lt_dir_transport_keys(const Lienthong__Member *m, const uint8_t *keys[2])
{
    return s_keys(&m->transport_key, &m->next_transport_key, keys);
}

size_t lt_dir_signing_keys(const Lienthong__Member *m, const uint8_t *keys[2])
{
    return s_keys(&m->signing_key, &m->next_signing_key, keys);
}

/* 1 if pk is among keys[0..n). */
static int s_among(const uint8_t *pk, const uint8_t *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(pk, keys[i], LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

int lt_dir_member_holds(const Lienthong__Member *m, const uint8_t *transport_pk,
                        const uint8_t *signing_pk)
{
    const uint8_t *t[2], *s[2];
    size_t nt = lt_dir_transport_keys(m, t), ns = lt_dir_signing_keys(m, s);
    return s_among(transport_pk, t, nt) && s_among(signing_pk, s, ns);
}

int lt_dir_member_verify(const Lienthong__Member *m, const char *domain, const uint8_t *msg,
                         size_t len, const uint8_t sig[LT_SIG_BYTES])
{
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    for (size_t i = 0; i < n; i++)
        if (lt_keys_verify(keys[i], domain, msg, len, sig) == 0)
            return 0;
    return -1;
}

/* Whether key is one of pins. */
static int s_pinned(const lt_dir_pins_t *pins, const uint8_t *key)
{
    for (size_t p = 0; p < pins->count; p++)
        if (memcmp(pins->keys[p], key, LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

int lt_dir_pins_add_key(lt_dir_pins_t *pins, const uint8_t key[LT_KEY_BYTES])
{
    if (s_pinned(pins, key))
        return 0;
    if (pins->count >= sizeof pins->keys / sizeof pins->keys[0])
        return -1;
    memcpy(pins->keys[pins->count++], key, LT_KEY_BYTES);
    return 0;
}

void lt_dir_trust(const lt_dir_pins_t *pins, const lt_dir_t *current, lt_dir_pins_t *out)
{
    *out = *pins;
    const Lienthong__Directory *d = current ? current->dir : NULL;
    /* Keys past the room are left out. */
    for (size_t i = 0; d && i < d->n_next_authority_keys; i++)
        if (d->next_authority_keys[i].len == LT_KEY_BYTES &&
            lt_dir_pins_add_key(out, d->next_authority_keys[i].data) != 0)
            break;
}

int lt_dir_signer(const lt_dir_t *self, const lt_dir_pins_t *trust, uint8_t key[LT_KEY_BYTES])
{
    /* The key that verified self at open, when trust holds it: no
     * signature is checked again (lt_gwdir_persist asks at each step). */
    if (s_pinned(trust, self->signer)) {
        memcpy(key, self->signer, LT_KEY_BYTES);
        return 0;
    }
    Lienthong__SignedDirectory *sd =
        lienthong__signed_directory__unpack(NULL, self->signed_len, self->signed_bytes);
    int p = sd ? s_signing_pin(sd, trust) : -1;
    if (p >= 0)
        memcpy(key, trust->keys[p], LT_KEY_BYTES);
    lienthong__signed_directory__free_unpacked(sd, NULL);
    return p >= 0 ? 0 : -1;
}

/* ---- learned authority keys (PROTOCOL.md 5.5) -------------------------------- */

/* The keys of data_dir/authority.learned, oldest first: 32 bytes each. */
typedef struct {
    uint8_t keys[LT_DIR_MAX_LEARNED][LT_KEY_BYTES];
    size_t count;
} s_learned_t;

/* 0 with the set (empty when the file is missing); 1 when the file cannot
 * be read or is not a whole number of keys, at most LT_DIR_MAX_LEARNED. */
static int s_learned_read(const char *path, s_learned_t *set)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    set->count = 0;
    if (lt_file_read(path, sizeof set->keys + 1, &buf, &len) != 0)
        return errno == ENOENT ? 0 : 1;
    int ok = len > 0 && len <= sizeof set->keys && len % LT_KEY_BYTES == 0;
    if (ok) {
        memcpy(set->keys, buf, len);
        set->count = len / LT_KEY_BYTES;
    }
    free(buf);
    return ok ? 0 : 1;
}

/* Replaces the file atomically with the set; an empty set removes it. */
static int s_learned_write(const char *path, const s_learned_t *set)
{
    if (set->count == 0)
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    return lt_file_write_atomic(path, set->keys, set->count * LT_KEY_BYTES, 0644);
}

static int s_learned_has(const s_learned_t *set, const uint8_t *key)
{
    for (size_t i = 0; i < set->count; i++)
        if (memcmp(set->keys[i], key, LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

/* 1 if kept's signature verifies under key alone. */
static int s_verifies(const lt_dir_t *kept, const uint8_t *key)
{
    lt_dir_pins_t one = {.count = 1};
    uint8_t signer[LT_KEY_BYTES];
    memcpy(one.keys[0], key, LT_KEY_BYTES);
    return lt_dir_signer(kept, &one, signer) == 0;
}

/* Makes room in a full set by dropping its oldest key that kept (the
 * directory on disk) does not verify under; when kept verifies under every
 * one, the oldest, as the others still verify it. */
static void s_learned_room(s_learned_t *set, const lt_dir_t *kept)
{
    size_t drop = 0;
    for (size_t i = 0; i < set->count; i++)
        if (!kept || !s_verifies(kept, set->keys[i])) {
            drop = i;
            break;
        }
    memmove(set->keys[drop], set->keys[drop + 1], (set->count - drop - 1) * LT_KEY_BYTES);
    set->count--;
}

/* The key of trust that signs d, and whether pins hold it: 0 not pinned,
 * 1 pinned, -1 (errno EINVAL) when d does not verify under trust. */
static int s_learned_signer(const lt_dir_t *d, const lt_dir_pins_t *trust,
                            const lt_dir_pins_t *pins, uint8_t key[LT_KEY_BYTES])
{
    if (lt_dir_signer(d, trust, key) != 0) {
        errno = EINVAL;
        return -1;
    }
    return s_pinned(pins, key);
}

int lt_dir_learned_prepare(const char *path, const lt_dir_t *kept, const lt_dir_t *d,
                           const lt_dir_pins_t *trust, const lt_dir_pins_t *pins)
{
    uint8_t key[LT_KEY_BYTES];
    s_learned_t set;
    int pinned = s_learned_signer(d, trust, pins, key);
    if (pinned != 0)
        return pinned < 0 ? -1 : 0;
    /* A file that is not keys verifies nothing on disk: it is replaced. */
    if (s_learned_read(path, &set) != 0)
        set.count = 0;
    if (s_learned_has(&set, key))
        return 0;
    if (set.count == LT_DIR_MAX_LEARNED)
        s_learned_room(&set, kept);
    memcpy(set.keys[set.count++], key, LT_KEY_BYTES);
    return s_learned_write(path, &set);
}

int lt_dir_learned_settle(const char *path, const lt_dir_t *d, const lt_dir_pins_t *trust,
                          const lt_dir_pins_t *pins)
{
    uint8_t key[LT_KEY_BYTES];
    s_learned_t want = {.count = 0}, have;
    int pinned = s_learned_signer(d, trust, pins, key);
    if (pinned < 0)
        return -1;
    if (!pinned)
        memcpy(want.keys[want.count++], key, LT_KEY_BYTES);
    /* Already so: no write, and no fsync, at each adoption. */
    if (s_learned_read(path, &have) == 0 && have.count == want.count &&
        memcmp(have.keys, want.keys, want.count * LT_KEY_BYTES) == 0)
        return 0;
    return s_learned_write(path, &want);
}

int lt_dir_learned_add(const char *path, const lt_dir_pins_t *pins, lt_dir_pins_t *out)
{
    s_learned_t set;
    *out = *pins;
    if (s_learned_read(path, &set) != 0)
        return 1;
    size_t cap = sizeof out->keys / sizeof out->keys[0];
    for (size_t i = 0; i < set.count && out->count < cap; i++)
        if (!s_pinned(out, set.keys[i]))
            memcpy(out->keys[out->count++], set.keys[i], LT_KEY_BYTES);
    return 0;
}
