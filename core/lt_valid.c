/* lt_valid: field checks of received messages (PROTOCOL.md 4.2, 4.5). */
#include "lt_valid.h"
#include "lt_err.h"
#include "lt_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* Nested messages the walk follows: the schemas are flat (4.2), so this
 * only bounds what a future schema could make of a hostile frame. */
#define MAX_DEPTH 8

size_t lt_valid_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The length of the run at p of ASCII bytes other than NUL, eight at a
 * time: most of a record's texts (keys, dates, codes) are such, and this
 * runs on every record an owner takes in. */
static size_t s_ascii_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        /* A byte >= 0x80, or a zero byte ((w - ONES) & ~w sets its high bit). */
        if ((w & HIGHS) || ((w - ONES) & ~w & HIGHS))
            break;
    }
    while (i < n && p[i] != 0 && p[i] < 0x80)
        i++;
    return i;
}

/* 1 when n bytes at p are valid UTF-8 without NUL (4.5): a NUL would cut
 * the string short for every C receiver, while others see all of it. An
 * ASCII prefix needs no decoding; libunistring checks from the first byte
 * that is not. */
static int s_text_ok(const uint8_t *p, size_t n)
{
    size_t a = s_ascii_run(p, n);
    if (a == n)
        return 1;
    p += a;
    n -= a;
    return memchr(p, 0, n) == NULL && u8_check(p, n) == NULL;
}

/* A walk's way down: the field names it is inside, outermost first. The
 * path in where is written only when the walk fails (s_where), not at each
 * nested message of every valid one. */
typedef struct {
    const char *name[MAX_DEPTH + 1];
    char *where;
    size_t wlen;
} walk_t;

/* Writes "outer.inner.last" into where: the fields down to depth, then
 * last; cut at the buffer's end. */
static void s_where(walk_t *w, int depth, const char *last)
{
    size_t at = 0;
    if (!w->wlen)
        return;
    w->name[depth] = last;
    for (int i = 0; i <= depth; i++) {
        const char *part[2] = {i ? "." : "", w->name[i]};
        for (int k = 0; k < 2; k++)
            for (const char *c = part[k]; *c && at + 1 < w->wlen; c++)
                w->where[at++] = *c;
    }
    w->where[at] = 0;
}

static int s_walk(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, int depth,
                  walk_t *w)
{
    size_t off = 0;
    while (off < len) {
        uint64_t key, v;
        size_t n = lt_valid_varint(buf + off, len - off, &key);
        if (!n || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
            goto bad_encoding;
        off += n;
        int wt = (int)(key & 7);
        if (wt == 0) {
            if (!(n = lt_valid_varint(buf + off, len - off, &v)))
                goto bad_encoding;
            off += n;
            continue;
        }
        if (wt == 1 || wt == 5) {
            size_t fixed = wt == 1 ? 8 : 4;
            if (len - off < fixed)
                goto bad_encoding;
            off += fixed;
            continue;
        }
        if (wt != 2 || !(n = lt_valid_varint(buf + off, len - off, &v)) || v > len - off - n)
            goto bad_encoding;
        off += n;
        /* Unknown field numbers are skipped: a later revision may add them
         * (11), and what this receiver does not read it never echoes. */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        if (f && f->type == PROTOBUF_C_TYPE_STRING && !s_text_ok(buf + off, (size_t)v)) {
            s_where(w, depth, f->name);
            return -1;
        }
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            w->name[depth] = f->name;
            if (depth >= MAX_DEPTH) {
                s_where(w, depth, f->name);
                return -1;
            }
            if (s_walk(f->descriptor, buf + off, (size_t)v, depth + 1, w) != 0)
                return -1;
        }
        off += (size_t)v;
    }
    return 0;
bad_encoding:
    s_where(w, depth, "(encoding)");
    return -1;
}

int lt_valid_utf8(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                  char *where, size_t wlen)
{
    if (wlen)
        where[0] = 0;
    walk_t w = {.where = where, .wlen = wlen};
    return s_walk(desc, buf, len, 0, &w);
}

int lt_valid_text(const char *s)
{
    return u8_check((const uint8_t *)s, strlen(s)) == NULL;
}

int lt_valid_key(const char *key)
{
    return key[0] && strnlen(key, LT_RECORD_KEY_MAX + 1) <= LT_RECORD_KEY_MAX;
}

int lt_valid_cursor(const char *text, uint64_t *out)
{
    const uint64_t max = (uint64_t)INT64_MAX;
    uint64_t v = 0;
    *out = 0;
    for (const char *p = text ? text : ""; *p; p++) {
        unsigned d = (unsigned char)*p - '0';
        if (d > 9 || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

char *lt_valid_sanitise(char *s)
{
    uint8_t *p = (uint8_t *)s;
    size_t left = strlen(s);
    while (left > 0) {
        if (*p < 0x80) { /* ASCII, most of what is sanitised */
            p++, left--;
            continue;
        }
        ucs4_t uc;
        int n = u8_mbtoucr(&uc, p, left);
        if (n <= 0) {
            *p = '?';
            n = 1;
        }
        p += n;
        left -= (size_t)n;
    }
    return s;
}

int lt_valid_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    /* Back over continuation bytes to the start of the character cut. */
    if (n == max && (s[n] & 0xc0) == 0x80)
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--;
    return (int)n;
}

int lt_valid_plain(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return 0;
    return 1;
}

/* ---- per body ------------------------------------------------------------ */

static Lienthong__ErrorCode s_fail(Lienthong__ErrorCode code, char *err, size_t errlen,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static Lienthong__ErrorCode s_fail(Lienthong__ErrorCode code, char *err, size_t errlen,
                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lt_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

#define MALFORMED LIENTHONG__ERROR_CODE__ERR_MALFORMED
#define TOO_LARGE LIENTHONG__ERROR_CODE__ERR_TOO_LARGE

Lienthong__ErrorCode lt_valid_stream(const char *stream, const char *what, char *err, size_t errlen)
{
    if (!stream[0])
        return s_fail(MALFORMED, err, errlen, "%s.stream must not be empty", what);
    if (strlen(stream) >= LT_STREAM_ID_MAX)
        return s_fail(MALFORMED, err, errlen, "%s.stream is longer than %llu bytes", what,
                      (unsigned long long)LT_STREAM_ID_MAX - 1);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_valid_subscribe(const Lienthong__Subscribe *m, char *err, size_t errlen)
{
    Lienthong__ErrorCode code = lt_valid_stream(m->stream, "subscribe", err, errlen);
    if (code)
        return code;
    /* Errors about a feed start with its stream id (4.4). */
    if (m->from_seq == 0)
        return s_fail(MALFORMED, err, errlen, "%s: from_seq must be at least 1", m->stream);
    if (m->from_seq == 1 && m->prev_hash.len != 0)
        return s_fail(MALFORMED, err, errlen,
                      "%s: prev_hash must be empty at from_seq 1, not %llu "
                      "bytes",
                      m->stream, (unsigned long long)m->prev_hash.len);
    if (m->from_seq > 1 && m->prev_hash.len != 32)
        return s_fail(MALFORMED, err, errlen, "%s: prev_hash must be 32 bytes, not %llu", m->stream,
                      (unsigned long long)m->prev_hash.len);
    /* The history the cursor is on (6.9): none, or LT_HISTORY_BYTES. */
    if (m->history_id.len != 0 && m->history_id.len != LT_HISTORY_BYTES)
        return s_fail(MALFORMED, err, errlen, "%s: history_id must be empty or %d bytes, not %llu",
                      m->stream, LT_HISTORY_BYTES, (unsigned long long)m->history_id.len);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* The stream and signature of a signed part of a snapshot (what). */
static Lienthong__ErrorCode s_signed_part(const char *stream, const char *what, size_t sig_len,
                                          char *err, size_t errlen)
{
    Lienthong__ErrorCode code = lt_valid_stream(stream, what, err, errlen);
    if (code)
        return code;
    if (sig_len != 64)
        return s_fail(MALFORMED, err, errlen, "%s: %s signature must be 64 bytes, not %zu", stream,
                      what, sig_len);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_valid_snapshot_chunk(const Lienthong__SnapshotChunk *c, char *err,
                                             size_t errlen)
{
    Lienthong__ErrorCode code =
        s_signed_part(c->stream, "snapshot_chunk", c->signature.len, err, errlen);
    if (code)
        return code;
    if (c->n_records == 0)
        return s_fail(MALFORMED, err, errlen, "%s: a snapshot chunk carries no records", c->stream);
    if (c->n_records > LT_BATCH_MAX_RECORDS)
        return s_fail(TOO_LARGE, err, errlen, "%s: a snapshot chunk of %zu records (at most %d)",
                      c->stream, c->n_records, LT_BATCH_MAX_RECORDS);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_valid_snapshot_end(const Lienthong__SnapshotEnd *e, char *err,
                                           size_t errlen)
{
    Lienthong__ErrorCode code =
        s_signed_part(e->stream, "snapshot_end", e->signature.len, err, errlen);
    if (code)
        return code;
    if (e->state_root.len != 32)
        return s_fail(MALFORMED, err, errlen,
                      "%s: snapshot end state_root must be 32 bytes, "
                      "not %zu",
                      e->stream, e->state_root.len);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* A text field of a request (what.field) of at most max bytes. The error
 * gives its length, never its bytes: what is too long to audit is too long
 * to echo. */
static Lienthong__ErrorCode s_text_max(const char *s, size_t max, const char *what,
                                       const char *field, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n > max)
        return s_fail(MALFORMED, err, errlen, "%s.%s is %zu bytes; at most %zu", what, field, n,
                      max);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* A key a request asks about: a record key (lt_valid_key), so that no key
 * a store could not hold reaches the audit log or the deduplication. */
static Lienthong__ErrorCode s_key(const char *key, const char *what, const char *field, char *err,
                                  size_t errlen)
{
    if (lt_valid_key(key))
        return LIENTHONG__ERROR_CODE__ERR_NONE;
    if (!key[0])
        return s_fail(MALFORMED, err, errlen, "%s.%s must not be empty", what, field);
    return s_text_max(key, LT_RECORD_KEY_MAX, what, field, err, errlen);
}

/* A text field the audit log stores and `lienthong audit` prints a line
 * each: at most max bytes and no control character, which could forge a
 * line of a subject-access report. */
static Lienthong__ErrorCode s_audit_field(const char *s, size_t max, const char *what,
                                          const char *field, char *err, size_t errlen)
{
    Lienthong__ErrorCode code = s_text_max(s, max, what, field, err, errlen);
    if (!code && !lt_valid_plain(s))
        code = s_fail(MALFORMED, err, errlen, "%s.%s holds a control character", what, field);
    return code;
}

/* The purpose and case reference every query carries into the audit log
 * of both gateways (PROTOCOL.md 7.1). */
static Lienthong__ErrorCode s_audit_text(const char *what, const char *purpose,
                                         const char *case_ref, char *err, size_t errlen)
{
    Lienthong__ErrorCode code =
        s_audit_field(purpose, LT_QUERY_MAX_TEXT, what, "purpose", err, errlen);
    return code ? code : s_audit_field(case_ref, LT_QUERY_MAX_TEXT, what, "case_ref", err, errlen);
}

/* request_id, timeout_ms, dataset, purpose and case_ref: the checks common
 * to both requests. A budget over 10 minutes is refused, since the owner
 * deduplicates for that long and no longer (PROTOCOL.md 7.1, 7.2). */
static Lienthong__ErrorCode s_request(const char *what, uint64_t id, uint32_t timeout_ms,
                                      const char *dataset, const char *purpose,
                                      const char *case_ref, char *err, size_t errlen)
{
    if (id == 0)
        return s_fail(MALFORMED, err, errlen, "%s.request_id must not be 0", what);
    if (timeout_ms > LT_QUERY_MAX_AHEAD_MS)
        return s_fail(MALFORMED, err, errlen, "%s.timeout_ms %u is over %d (10 minutes)", what,
                      timeout_ms, LT_QUERY_MAX_AHEAD_MS);
    if (!dataset[0])
        return s_fail(MALFORMED, err, errlen, "%s.dataset must not be empty", what);
    Lienthong__ErrorCode code =
        s_text_max(dataset, LT_STREAM_ID_MAX - 1, what, "dataset", err, errlen);
    return code ? code : s_audit_text(what, purpose, case_ref, err, errlen);
}

/* A field name a request names: a record field's name (one or more of
 * protobuf's letters, digits and '_', PROTOCOL.md 7.5), not a text of any size (it
 * may reach the audit log with a refusal). Anything else is refused, so
 * that no name holding a comma is audited as two of the fields the audit
 * log joins with commas. */
static Lienthong__ErrorCode s_field_name(const char *name, const char *what, const char *field,
                                         char *err, size_t errlen)
{
    Lienthong__ErrorCode code = s_text_max(name, LT_QUERY_MAX_FIELD_NAME, what, field, err, errlen);
    if (code)
        return code;
    /* No field is named "": a claim on it would be answered (and counted
     * in the guessing budget, 7.6) as if it named one. */
    if (!name[0])
        return s_fail(MALFORMED, err, errlen, "%s.%s must not be empty", what, field);
    size_t bad = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (!name[bad])
        return LIENTHONG__ERROR_CODE__ERR_NONE;
    return s_fail(MALFORMED, err, errlen,
                  "%s.%s holds byte 0x%02x at offset %zu; a field name is letters, digits "
                  "and '_'",
                  what, field, (unsigned char)name[bad], bad);
}

/* Field names a request names (s_field_name). */
static Lienthong__ErrorCode s_field_names(char *const *names, size_t n, const char *what,
                                          const char *list, char *err, size_t errlen)
{
    char field[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(field, sizeof field, "%s[%zu]", list, i);
        Lienthong__ErrorCode code = s_field_name(names[i], what, field, err, errlen);
        if (code)
            return code;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_valid_lookup(const Lienthong__LookupRequest *q, char *err, size_t errlen)
{
    Lienthong__ErrorCode code = s_request("lookup_request", q->request_id, q->timeout_ms,
                                          q->dataset, q->purpose, q->case_ref, err, errlen);
    if (!code)
        code = s_key(q->key, "lookup_request", "key", err, errlen);
    if (code)
        return code;
    if (q->n_fields > LT_QUERY_MAX_FIELDS)
        return s_fail(TOO_LARGE, err, errlen, "%s: a lookup may name at most %d fields",
                      "lookup_request", LT_QUERY_MAX_FIELDS);
    return s_field_names(q->fields, q->n_fields, "lookup_request", "fields", err, errlen);
}

Lienthong__ErrorCode lt_valid_profile(const Lienthong__ProfileRequest *q, char *err, size_t errlen)
{
    if (q->request_id == 0)
        return s_fail(MALFORMED, err, errlen, "%s.request_id must not be 0", "profile_request");
    /* Each part becomes a lookup with these (7.7): the same limits. */
    Lienthong__ErrorCode code = s_key(q->key, "profile_request", "key", err, errlen);
    if (!code)
        code = s_audit_text("profile_request", q->purpose, q->case_ref, err, errlen);
    if (code)
        return code;
    if (q->deadline_ms > LT_PROFILE_MAX_MS)
        return s_fail(MALFORMED, err, errlen, "%s.deadline_ms %u is over %d", "profile_request",
                      q->deadline_ms, LT_PROFILE_MAX_MS);
    if (q->n_parts == 0)
        return s_fail(MALFORMED, err, errlen, "%s names no part", "profile_request");
    if (q->n_parts > LT_PROFILE_MAX_PARTS)
        return s_fail(TOO_LARGE, err, errlen, "%s: a profile may name at most %d parts",
                      "profile_request", LT_PROFILE_MAX_PARTS);
    for (size_t i = 0; i < q->n_parts; i++) {
        const char *ds = q->parts[i]->dataset;
        if (!ds[0])
            return s_fail(MALFORMED, err, errlen, "%s: part %zu names no dataset",
                          "profile_request", i);
        if (strlen(ds) >= LT_STREAM_ID_MAX)
            return s_fail(MALFORMED, err, errlen, "%s: part %zu's dataset is %zu bytes; at most %d",
                          "profile_request", i, strlen(ds), LT_STREAM_ID_MAX - 1);
        if (q->parts[i]->n_fields > LT_QUERY_MAX_FIELDS)
            return s_fail(TOO_LARGE, err, errlen, "%s: part \"%s\" names more than %d fields",
                          "profile_request", ds, LT_QUERY_MAX_FIELDS);
        code = s_field_names(q->parts[i]->fields, q->parts[i]->n_fields, "profile_request",
                             "parts.fields", err, errlen);
        if (code)
            return code;
        for (size_t j = 0; j < i; j++)
            if (strcmp(q->parts[j]->dataset, ds) == 0)
                return s_fail(MALFORMED, err, errlen, "%s: dataset \"%s\" named twice",
                              "profile_request", ds);
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

static int s_cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A text that names[0..n) holds twice, or NULL; sorted in place (the
 * caller's copy): n log n where comparing each pair would be n^2. */
static const char *s_twice(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, s_cmp_text);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

/* Two claims on one field of one key, each a guess at its value: a request
 * could test 64 values of a field the caller may only check (7.6). k is the
 * subject, or -1 for the claims every key shares. */
static Lienthong__ErrorCode s_fields_once(Lienthong__Claim *const *claims, size_t n, long k,
                                          char *err, size_t errlen)
{
    const char *names[LT_QUERY_MAX_CLAIMS];
    for (size_t c = 0; c < n; c++)
        names[c] = claims[c]->field;
    const char *f = s_twice(names, n);
    if (!f)
        return LIENTHONG__ERROR_CODE__ERR_NONE;
    if (k < 0)
        return s_fail(MALFORMED, err, errlen, "%s: two claims on field \"%s\"", "verify_request",
                      f);
    return s_fail(MALFORMED, err, errlen, "%s: subjects[%ld] has two claims on field \"%s\"",
                  "verify_request", k, f);
}

/* The value of each claim on subject k, or shared by every key (k is then
 * -1): each is normalised once for every key it is applied to;
 * and each field once (s_fields_once). */
static Lienthong__ErrorCode s_claims(Lienthong__Claim *const *claims, size_t n_claims, long k,
                                     char *err, size_t errlen)
{
    char field[80];
    for (size_t c = 0; c < n_claims; c++) {
        if (k < 0)
            snprintf(field, sizeof field, "claims[%zu].field", c);
        else
            snprintf(field, sizeof field, "subjects[%ld].claims[%zu].field", k, c);
        Lienthong__ErrorCode code =
            s_field_name(claims[c]->field, "verify_request", field, err, errlen);
        if (code)
            return code;
        if (strlen(claims[c]->value) <= LT_QUERY_MAX_CLAIM_VALUE)
            continue;
        if (k < 0)
            snprintf(field, sizeof field, "claims[%zu].value", c);
        else
            snprintf(field, sizeof field, "subjects[%ld].claims[%zu].value", k, c);
        return s_text_max(claims[c]->value, LT_QUERY_MAX_CLAIM_VALUE, "verify_request", field, err,
                          errlen);
    }
    return s_fields_once(claims, n_claims, k, err, errlen);
}

/* One key (or subject) and the count of its claims. */
static Lienthong__ErrorCode s_key_claims(const char *key, size_t n_claims, size_t k, char *err,
                                         size_t errlen)
{
    char field[48];
    if (!key[0])
        return s_fail(MALFORMED, err, errlen, "%s: key %zu is empty", "verify_request", k);
    snprintf(field, sizeof field, "key %zu", k);
    Lienthong__ErrorCode code = s_key(key, "verify_request", field, err, errlen);
    if (code)
        return code;
    if (n_claims == 0)
        return s_fail(MALFORMED, err, errlen, "%s: key %zu has no claims", "verify_request", k);
    if (n_claims > LT_QUERY_MAX_CLAIMS)
        return s_fail(TOO_LARGE, err, errlen, "%s: at most %d claims per key", "verify_request",
                      LT_QUERY_MAX_CLAIMS);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_valid_verify(const Lienthong__VerifyRequest *q, char *err, size_t errlen)
{
    Lienthong__ErrorCode code = s_request("verify_request", q->request_id, q->timeout_ms,
                                          q->dataset, q->purpose, q->case_ref, err, errlen);
    if (code)
        return code;
    if (q->n_subjects && (q->n_keys || q->n_claims))
        return s_fail(MALFORMED, err, errlen, "%s: keys and claims, or subjects, not both",
                      "verify_request");
    size_t n = q->n_subjects ? q->n_subjects : q->n_keys;
    if (n == 0)
        return s_fail(MALFORMED, err, errlen, "%s: names no key", "verify_request");
    if (n > LT_QUERY_MAX_KEYS)
        return s_fail(TOO_LARGE, err, errlen, "%s: at most %d keys (or subjects)", "verify_request",
                      LT_QUERY_MAX_KEYS);
    for (size_t k = 0; k < n && !code; k++)
        code = q->n_subjects
                   ? s_key_claims(q->subjects[k]->key, q->subjects[k]->n_claims, k, err, errlen)
                   : s_key_claims(q->keys[k], q->n_claims, k, err, errlen);
    /* Shared claims once, a subject's own with it; each field once per key
     * or subject (7.6). A key may come again, in another subject with its
     * own claims (two subscribers who both give one citizen's id): the
     * owner's budget of no-matches counts every claim, within a request as
     * across requests, so repeating a key buys no more guesses. */
    if (!code && !q->n_subjects)
        code = s_claims(q->claims, q->n_claims, -1, err, errlen);
    for (size_t k = 0; k < q->n_subjects && !code; k++)
        code = s_claims(q->subjects[k]->claims, q->subjects[k]->n_claims, (long)k, err, errlen);
    return code;
}

Lienthong__ErrorCode lt_valid_on_behalf(const Lienthong__OnBehalf *w, char *err, size_t errlen)
{
    if (!w)
        return LIENTHONG__ERROR_CODE__ERR_NONE;
    if (strlen(w->application) > LT_ON_BEHALF_MAX || strlen(w->officer) > LT_ON_BEHALF_MAX)
        return s_fail(MALFORMED, err, errlen, "%s: application and officer are at most %d bytes",
                      "on_behalf", LT_ON_BEHALF_MAX);
    Lienthong__ErrorCode code =
        s_audit_field(w->application, LT_ON_BEHALF_MAX, "on_behalf", "application", err, errlen);
    return code ? code
                : s_audit_field(w->officer, LT_ON_BEHALF_MAX, "on_behalf", "officer", err, errlen);
}

Lienthong__ErrorCode lt_valid_prefill(const Lienthong__PrefillRequest *q, char *err, size_t errlen)
{
    const char *what = "prefill_request";
    if (q->request_id == 0)
        return s_fail(MALFORMED, err, errlen, "%s.request_id must not be 0", what);
    if (!lt_valid_key(q->key))
        return s_fail(MALFORMED, err, errlen, "%s.key must be 1 to %d bytes", what,
                      LT_RECORD_KEY_MAX);
    if (q->n_streams > LT_PREFILL_MAX_STREAMS)
        return s_fail(TOO_LARGE, err, errlen, "%s: at most %d streams", what,
                      LT_PREFILL_MAX_STREAMS);
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    for (size_t i = 0; i < q->n_streams && !code; i++)
        code = lt_valid_stream(q->streams[i], what, err, errlen);
    if (code)
        return code;
    /* key_field names a record field, as a lookup's fields do (7.5, 8.8). */
    code = s_text_max(q->key_field, LT_QUERY_MAX_FIELD_NAME, what, "key_field", err, errlen);
    return code ? code : s_audit_text(what, q->purpose, q->case_ref, err, errlen);
}

uint64_t lt_valid_request_id(const Lienthong__Envelope *env)
{
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
        return env->lookup_request->request_id;
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
        return env->verify_request->request_id;
    case LIENTHONG__ENVELOPE__BODY_PUBLISH:
        return env->publish->request_id;
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST:
        return env->prefill_request->request_id;
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST:
        return env->profile_request->request_id;
    case LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST:
        return env->keys_request->request_id;
    case LIENTHONG__ENVELOPE__BODY_RANGE:
        return env->range->request_id;
    default:
        return 0;
    }
}
