/* lt_dirshow: prints a directory, verified or not, for an operator (see
 * lt_dirshow.h). */
#include "lt_dirshow.h"
#include "lt_clock.h"
#include "lt_dir.h"
#include "lt_valid.h"

#include <inttypes.h>
#include <time.h>

const char *lt_dirshow_time(int64_t t, char *buf, size_t len)
{
    return lt_clock_utc_spaced(t, buf, len);
}

/* A key in Z85, or why it cannot be one: an unverified directory may hold
 * keys of any length, and Z85 reads exactly LT_KEY_BYTES. */
static const char *s_key(const ProtobufCBinaryData *k, char out[LT_Z85_KEY_LEN + 1])
{
    if (k->len == LT_KEY_BYTES)
        lt_keys_z85_encode(k->data, out);
    else
        snprintf(out, LT_Z85_KEY_LEN + 1, "(invalid: %zu bytes)", k->len);
    return out;
}

/* A dataset's rules (PROTOCOL.md 5.7), one line each: "rule FIELD:CHECK ...". */
static void s_print_rules(FILE *out, const Lienthong__Dataset *ds)
{
    for (size_t r = 0; r < ds->n_rules; r++) {
        const Lienthong__Rule *u = ds->rules[r];
        fprintf(out, "      rule %s:%s", u->field, u->check);
        if (u->sex[0])
            fprintf(out, " sex=%s", u->sex);
        if (u->birth[0])
            fprintf(out, " birth=%s", u->birth);
        if (u->not_future)
            fprintf(out, " not_future");
        if (u->after[0])
            fprintf(out, " after=%s", u->after);
        for (size_t v = 0; v < u->n_values; v++)
            fprintf(out, "%s%s", v ? "," : " values=", u->values[v]);
        if (u->dataset[0])
            fprintf(out, " dataset=%s", u->dataset);
        fprintf(out, "\n");
    }
}

/* A member, with its next keys during a rotation (PROTOCOL.md 5.5), which
 * are empty when there is none. */
static void s_print_member(FILE *out, const Lienthong__Member *m)
{
    char z[LT_Z85_KEY_LEN + 1];
    fprintf(out, "  %-20s %-9s %s\n      %s  transport %s\n", m->id, lt_dir_status_name(m->status),
            m->name, m->n_endpoints ? m->endpoints[0] : "(no endpoint)",
            s_key(&m->transport_key, z));
    if (m->next_transport_key.len)
        fprintf(out, "      next transport %s\n", s_key(&m->next_transport_key, z));
    if (m->next_signing_key.len)
        fprintf(out, "      next signing %s\n", s_key(&m->next_signing_key, z));
}

static void s_print_head(FILE *out, const Lienthong__Directory *d, const char *checked)
{
    char is[64], ex[64], z[LT_Z85_KEY_LEN + 1];
    fprintf(out, "directory of federation %s, version %" PRIu64 " (%s)\n", d->federation,
            d->version, checked);
    fprintf(out, "  issued  %s\n  expires %s\n", lt_dirshow_time(d->issued_at, is, sizeof is),
            lt_dirshow_time(d->expires_at, ex, sizeof ex));
    /* The authority keys this directory announces for its successors (5.5). */
    for (size_t i = 0; i < d->n_next_authority_keys; i++)
        fprintf(out, "  next authority key %s\n", s_key(&d->next_authority_keys[i], z));
}

static void s_print_views(FILE *out, const Lienthong__Directory *d)
{
    fprintf(out, "\nviews:\n");
    for (size_t i = 0; i < d->n_views; i++) {
        const Lienthong__View *v = d->views[i];
        fprintf(out, "  %-36s %zu fields", v->id, v->n_fields);
        for (size_t w = 0; w < v->n_where; w++)
            fprintf(out, ", where %s = %s", v->where[w]->field, v->where[w]->equals);
        fprintf(out, "\n");
    }
}

static void s_print_policies(FILE *out, const Lienthong__Directory *d)
{
    fprintf(out, "\npolicies:\n");
    for (size_t i = 0; i < d->n_policies; i++) {
        const Lienthong__Policy *p = d->policies[i];
        fprintf(out, "  %-16s on %-36s", p->consumer, p->target);
        for (size_t o = 0; o < p->n_operations; o++)
            fprintf(out, " %s", lt_dir_op_name(p->operations[o]));
        fprintf(out, " (%zu fields, %zu purposes)\n", p->n_fields, p->n_purposes);
    }
}

int lt_dirshow_print(FILE *out, const Lienthong__Directory *d, const char *checked)
{
    s_print_head(out, d, checked);
    fprintf(out, "\nmembers:\n");
    for (size_t i = 0; i < d->n_members; i++)
        s_print_member(out, d->members[i]);
    fprintf(out, "\ndatasets:\n");
    for (size_t i = 0; i < d->n_datasets; i++) {
        const Lienthong__Dataset *ds = d->datasets[i];
        fprintf(out, "  %-36s %s, key %s\n", ds->id, ds->record_type, ds->key_field);
        s_print_rules(out, ds);
    }
    s_print_views(out, d);
    s_print_policies(out, d);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int lt_dirshow_check(const uint8_t *body, size_t len, const Lienthong__Directory *d, char *err,
                     size_t errlen)
{
    char where[64], why[400];
    const char *section;
    size_t index;
    if (lt_valid_utf8(&lienthong__directory__descriptor, body, len, where, sizeof where) != 0) {
        snprintf(err, errlen, "%s is not valid UTF-8 (or holds a NUL)", where);
        return -1;
    }
    if (lt_dir_validate(d, &section, &index, why, sizeof why) == 0)
        return 0;
    if (section)
        snprintf(err, errlen, "%s[%zu]: %s", section, index, why);
    else
        snprintf(err, errlen, "%s", why);
    return -1;
}
