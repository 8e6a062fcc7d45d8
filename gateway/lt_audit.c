/* lt_audit: hash-chained audit entries with signed checkpoints. */
#include "lt_audit.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_valid.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_DOMAIN "lienthong/1 audit"
#define FLUSH_MS 200
#define FLUSH_ENTRIES 10000
#define N_BASE 8  /* texts every entry's hash covers */
#define N_TEXT 10 /* plus application and officer, covered only when one is set */

typedef struct {
    int64_t at_ms;
    /* event, peer, target, subject, fields, purpose, case_ref, detail,
     * application, officer */
    char *text[N_TEXT];
} buffered_t;

struct _lt_audit_t {
    sqlite3 *db;
    sqlite3_stmt *insert, *checkpoint;
    const lt_keys_t *keys;
    uint64_t seq;
    uint8_t head[LT_HASH_BYTES];
    buffered_t *buf;
    size_t n, cap;
    int64_t last_flush;
    lt_stats_series_t *st_entries, *st_commit; /* NULL until lt_audit_set_stats */
};

static const char *s_schema =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    "  event TEXT, peer TEXT, target TEXT, subject TEXT, fields TEXT, purpose TEXT,"
    "  case_ref TEXT, detail TEXT, hash BLOB NOT NULL, application TEXT, officer TEXT);"
    "CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject);"
    "CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
    "  signature BLOB NOT NULL, at_ms INTEGER NOT NULL);";

static void s_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* hash = H(prev || seq || at_ms || each text as u32be length + bytes); the
 * texts are the first N_BASE, plus application and officer when either is
 * non-empty (logs written before they existed still verify). */
static void s_chain(const uint8_t prev[LT_HASH_BYTES], uint64_t seq, int64_t at_ms,
                    const char *const text[N_TEXT], uint8_t out[LT_HASH_BYTES])
{
    uint8_t hdr[LT_HASH_BYTES + 16];
    memcpy(hdr, prev, LT_HASH_BYTES);
    s_be64(hdr + LT_HASH_BYTES, seq);
    s_be64(hdr + LT_HASH_BYTES + 8, (uint64_t)at_ms);
    size_t total = sizeof hdr;
    int n = (text[8] && text[8][0]) || (text[9] && text[9][0]) ? N_TEXT : N_BASE;
    for (int i = 0; i < n; i++)
        total += 4 + strlen(text[i] ? text[i] : "");
    uint8_t *m = malloc(total), *p = m;
    if (!m) {
        memset(out, 0, LT_HASH_BYTES);
        return;
    }
    memcpy(p, hdr, sizeof hdr);
    p += sizeof hdr;
    for (int i = 0; i < n; i++) {
        uint32_t l = (uint32_t)strlen(text[i] ? text[i] : "");
        p[0] = (uint8_t)(l >> 24), p[1] = (uint8_t)(l >> 16), p[2] = (uint8_t)(l >> 8), p[3] = (uint8_t)l;
        memcpy(p + 4, text[i] ? text[i] : "", l);
        p += 4 + l;
    }
    lt_crypto_hash(m, total, out);
    free(m);
}

static int s_load_head(lt_audit_t *self)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(self->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == LT_HASH_BYTES) {
        self->seq = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(self->head, sqlite3_column_blob(st, 1), LT_HASH_BYTES);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* A log created before entries named the application and officer gains
 * the two columns (empty in its old entries). */
static int s_add_columns(sqlite3 *db)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('audit') WHERE name = 'officer'",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (found)
        return 0;
    return sqlite3_exec(db, "ALTER TABLE audit ADD COLUMN application TEXT;"
                            "ALTER TABLE audit ADD COLUMN officer TEXT;", NULL, NULL, NULL) == SQLITE_OK
               ? 0 : -1;
}

lt_audit_t *lt_audit_open(const char *path, const lt_keys_t *keys, char *err, size_t errlen)
{
    lt_audit_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->keys = keys;
    self->last_flush = lt_clock_mono_ms();
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK ||
        s_add_columns(self->db) != 0 ||
        sqlite3_prepare_v2(self->db,
                           "INSERT INTO audit (seq, at_ms, event, peer, target, subject, fields, "
                           "purpose, case_ref, detail, application, officer, hash) "
                           "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                           -1, &self->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "INSERT OR REPLACE INTO checkpoints VALUES (?1,?2,?3,?4)", -1,
                           &self->checkpoint, NULL) != SQLITE_OK ||
        s_load_head(self) != 0) {
        snprintf(err, errlen, "audit log %s: %s", path, sqlite3_errmsg(self->db));
        lt_audit_destroy(&self);
    }
    return self;
}

static void s_free_buffered(lt_audit_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        for (int t = 0; t < N_TEXT; t++)
            free(self->buf[i].text[t]);
    self->n = 0;
}

void lt_audit_destroy(lt_audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_audit_t *self = *self_p;
    if (self->db && self->insert)
        (void)lt_audit_flush(self, 1);
    s_free_buffered(self);
    free(self->buf);
    sqlite3_finalize(self->insert);
    sqlite3_finalize(self->checkpoint);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

int lt_audit_set_stats(lt_audit_t *self, lt_stats_t *stats)
{
    static const lt_stats_def_t entries = {
        .name = "lienthong_audit_entries",
        .help = "Entries written (committed) to the audit log",
        .kind = LT_STATS_COUNTER};
    self->st_entries = lt_gwstats_series(stats, &entries, NULL);
    self->st_commit = lt_gwstats_commit(stats, "audit");
    return self->st_entries && self->st_commit ? 0 : -1;
}

/* Counts a committed flush of n entries that started at t0 (us). */
static void s_count(lt_audit_t *self, size_t n, int64_t t0)
{
    if (!self->st_entries)
        return; /* a log opened without statistics (tools, tests) */
    lt_stats_add(self->st_entries, n);
    lt_stats_observe_us(self->st_commit, lt_gwstats_since_us(t0));
}

void lt_audit_add(lt_audit_t *self, const lt_audit_entry_t *e)
{
    if (!self)
        return;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        buffered_t *nb = realloc(self->buf, cap * sizeof *nb);
        if (!nb) {
            lt_error("audit", "out of memory: entry for %s lost", e->event);
            return;
        }
        self->buf = nb;
        self->cap = cap;
    }
    buffered_t *b = &self->buf[self->n++];
    const char *src[N_TEXT] = {e->event,   e->peer,     e->target,      e->subject,
                               e->fields,  e->purpose,  e->case_ref,    e->detail,
                               e->application, e->officer};
    b->at_ms = lt_clock_now_ms();
    /* The log is read as UTF-8 text (audit --json): whatever a module
     * passes, what is stored is valid (PROTOCOL.md 4.5). */
    for (int t = 0; t < N_TEXT; t++)
        if ((b->text[t] = strdup(src[t] ? src[t] : "")))
            lt_valid_sanitise(b->text[t]);
    if (self->n >= FLUSH_ENTRIES)
        (void)lt_audit_flush(self, 1);
}

static int s_insert(lt_audit_t *self, const buffered_t *b, uint64_t seq, const uint8_t *hash)
{
    sqlite3_stmt *st = self->insert;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    sqlite3_bind_int64(st, 2, b->at_ms);
    for (int t = 0; t < N_TEXT; t++)
        sqlite3_bind_text(st, 3 + t, b->text[t] ? b->text[t] : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 13, hash, LT_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int s_checkpoint(lt_audit_t *self, uint64_t seq, const uint8_t *hash)
{
    uint8_t msg[8 + LT_HASH_BYTES], sig[LT_SIG_BYTES];
    s_be64(msg, seq);
    memcpy(msg + 8, hash, LT_HASH_BYTES);
    if (lt_keys_sign(self->keys, AUDIT_DOMAIN, msg, sizeof msg, sig) != 0)
        return -1;
    sqlite3_stmt *st = self->checkpoint;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    sqlite3_bind_blob(st, 2, hash, LT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sig, LT_SIG_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, lt_clock_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int lt_audit_flush(lt_audit_t *self, int force)
{
    if (!self || self->n == 0 || (!force && lt_clock_mono_ms() - self->last_flush < FLUSH_MS))
        return 0;
    self->last_flush = lt_clock_mono_ms();
    int64_t t0 = lt_clock_mono_us();
    uint64_t seq = self->seq;
    uint8_t head[LT_HASH_BYTES];
    memcpy(head, self->head, LT_HASH_BYTES);
    if (sqlite3_exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < self->n; i++) {
        s_chain(head, ++seq, self->buf[i].at_ms, (const char *const *)self->buf[i].text, head);
        if (s_insert(self, &self->buf[i], seq, head) != 0)
            goto fail;
    }
    if (s_checkpoint(self, seq, head) != 0 ||
        sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    self->seq = seq;
    memcpy(self->head, head, LT_HASH_BYTES);
    s_count(self, self->n, t0);
    s_free_buffered(self);
    return 0;
fail:
    /* Entries stay buffered; the next flush retries them. */
    lt_error("audit", "cannot write %zu audit entries: %s", self->n, sqlite3_errmsg(self->db));
    sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* 1 if sig over msg verifies under one of pks[0..n). */
static int s_signed_by_any(const uint8_t *const *pks, size_t n, const uint8_t *msg, size_t len,
                           const void *sig)
{
    for (size_t i = 0; i < n; i++)
        if (lt_keys_verify(pks[i], AUDIT_DOMAIN, msg, len, sig) == 0)
            return 1;
    return 0;
}

/* Checks one checkpoint row: its hash equals the chain at its seq, and it
 * is signed under one of the keys (PROTOCOL.md 5.5: older checkpoints carry
 * the signature of the member's previous key). */
static int s_check_point(sqlite3 *db, const uint8_t *const *pks, size_t n_pks, uint64_t seq,
                         const uint8_t *hash)
{
    sqlite3_stmt *st;
    int ok = 1; /* entries between checkpoints have none of their own */
    if (sqlite3_prepare_v2(db, "SELECT hash, signature FROM checkpoints WHERE seq = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        uint8_t msg[8 + LT_HASH_BYTES];
        s_be64(msg, seq);
        memcpy(msg + 8, hash, LT_HASH_BYTES);
        ok = sqlite3_column_bytes(st, 0) == LT_HASH_BYTES &&
             memcmp(sqlite3_column_blob(st, 0), hash, LT_HASH_BYTES) == 0 &&
             sqlite3_column_bytes(st, 1) == LT_SIG_BYTES &&
             s_signed_by_any(pks, n_pks, msg, sizeof msg, sqlite3_column_blob(st, 1));
    }
    sqlite3_finalize(st);
    return ok;
}

long lt_audit_verify(const char *path, const uint8_t pk[LT_KEY_BYTES], char *err, size_t errlen)
{
    const uint8_t *pks[1] = {pk};
    return lt_audit_verify_keys(path, pks, 1, err, errlen);
}

long lt_audit_verify_keys(const char *path, const uint8_t *const *pks, size_t n_pks, char *err,
                          size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    uint8_t head[LT_HASH_BYTES] = {0};
    uint64_t expect = 1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        (sqlite3_prepare_v2(db, "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
                            "case_ref, detail, application, officer, hash FROM audit ORDER BY seq",
                            -1, &st, NULL) != SQLITE_OK &&
         /* a log no gateway has opened since entries named applications */
         sqlite3_prepare_v2(db, "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
                            "case_ref, detail, NULL, NULL, hash FROM audit ORDER BY seq",
                            -1, &st, NULL) != SQLITE_OK)) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        const char *text[N_TEXT];
        for (int t = 0; t < N_TEXT; t++)
            text[t] = (const char *)sqlite3_column_text(st, 2 + t);
        s_chain(head, seq, sqlite3_column_int64(st, 1), text, head);
        if (seq != expect || sqlite3_column_bytes(st, 12) != LT_HASH_BYTES ||
            memcmp(sqlite3_column_blob(st, 12), head, LT_HASH_BYTES) != 0 ||
            !s_check_point(db, pks, n_pks, seq, head)) {
            snprintf(err, errlen, "audit chain broken at entry %llu", (unsigned long long)expect);
            goto out;
        }
        expect++;
    }
    n = rc == SQLITE_DONE ? (long)(expect - 1) : -1;
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    /* A signed checkpoint beyond the last entry: the tail was cut off. */
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) FROM checkpoints", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) > n) {
        snprintf(err, errlen, "audit entries after %ld were removed (a checkpoint covers more)", n);
        n = -1;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}
