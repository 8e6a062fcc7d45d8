/* test_store: CUnit suite for gateway/lt_store, the gateway's SQLite store
 * (log of exact record bytes per stream, current state per key, stream
 * cursors): streams are created only on the write path, reads follow
 * sequence order within their stream and their budgets, the log never
 * overwrites, nothing is visible before commit and a rollback leaves
 * nothing, and reopening keeps everything. */
#include "unit_pin.h"
#include "unit_sqlite.h"

#include <errno.h>
#include <pthread.h>

#include "lt_crypto.h"
#include "lt_store.h"
#include "lt_store_verify.h"
#include "lienthong.pb-c.h"
#include "../store_schema_v0.h"

static char g_dir[256], g_path[300];

static void s_fresh(void)
{
    if (g_dir[0])
        ut_rmrf(g_dir);
    CU_ASSERT_FATAL(ut_mkdtemp(g_dir, sizeof g_dir, "store") == 0);
    snprintf(g_path, sizeof g_path, "%s/store.db", g_dir);
}

static lt_store_t *s_open(void)
{
    char err[512] = "";
    lt_store_t *s = lt_store_open(g_path, err, sizeof err);
    if (!s)
        fprintf(stderr, "\n    open: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

static lt_stream_t s_stream(lt_store_t *s, const char *name)
{
    lt_stream_t st;
    memset(&st, 0xaa, sizeof st);
    CU_ASSERT_EQUAL_FATAL(lt_store_stream(s, name, &st), 0);
    return st;
}

/* Record bytes for (stream, seq): distinct per record, len varies. */
static size_t s_rec(char *buf, size_t cap, const char *stream, uint64_t seq, size_t len)
{
    size_t n = (size_t)snprintf(buf, cap, "%s#%llu:", stream, (unsigned long long)seq);
    for (; n < len && n < cap; n++)
        buf[n] = (char)('a' + (seq + n) % 26);
    return n;
}

static void s_append(lt_store_t *s, const lt_stream_t *st, const char *name, uint64_t seq,
                     size_t len)
{
    char buf[4096];
    size_t n = s_rec(buf, sizeof buf, name, seq, len);
    CU_ASSERT_EQUAL(lt_store_append(s, st->id, seq, buf, n), 0);
}

/* Collects what lt_store_read hands out and checks the bytes. */
typedef struct {
    const char *name;
    size_t len;
    uint64_t seqs[64];
    int n, fail_at;
} reads_t;

static int s_on_rec(void *arg, uint64_t seq, const void *rec, size_t len,
                    const uint8_t leaf[LT_HASH_BYTES])
{
    reads_t *r = arg;
    char want[4096];
    uint8_t want_leaf[LT_HASH_BYTES];
    size_t n = s_rec(want, sizeof want, r->name, seq, r->len);
    CU_ASSERT(len == n && memcmp(rec, want, n) == 0);
    lt_crypto_merkle_leaf(rec, len, want_leaf); /* the leaf comes with the record */
    CU_ASSERT(memcmp(leaf, want_leaf, LT_HASH_BYTES) == 0);
    if (r->n < 64)
        r->seqs[r->n] = seq;
    r->n++;
    return r->n == r->fail_at ? -1 : 0;
}

static int s_read(lt_store_t *s, const lt_stream_t *st, const char *name, size_t len, uint64_t from,
                  size_t max_n, size_t max_bytes, reads_t *r)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->len = len;
    return lt_store_read(s, st->id, from, max_n, max_bytes, s_on_rec, r);
}

static void test_streams(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t st;
    /* The read path never creates a stream. */
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 0);
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    static const uint8_t zero[32];
    CU_ASSERT(a.id > 0);
    CU_ASSERT_EQUAL(a.last_seq, 0);
    CU_ASSERT_EQUAL(a.source_cursor, 0);
    CU_ASSERT(memcmp(a.last_hash, zero, 32) == 0);
    lt_stream_t again = s_stream(s, "VN/GOV/BCA/population");
    CU_ASSERT_EQUAL(again.id, a.id);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 1);
    CU_ASSERT_EQUAL(st.id, a.id);
    lt_stream_t b = s_stream(s, "VN/GOV/BCA/population.basic");
    CU_ASSERT(b.id > 0 && b.id != a.id);

    a.last_seq = 17;
    a.source_cursor = 4242;
    for (int i = 0; i < 32; i++)
        a.last_hash[i] = (uint8_t)(i * 7 + 1);
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 1);
    CU_ASSERT(st.id == a.id && st.last_seq == 17 && st.source_cursor == 4242);
    CU_ASSERT(memcmp(st.last_hash, a.last_hash, 32) == 0);
    /* Saving one stream leaves the other alone. */
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population.basic", &st), 1);
    CU_ASSERT(st.last_seq == 0 && st.source_cursor == 0);
    lt_store_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
    lt_store_destroy(&s); /* idempotent */
}

/* Two connections to one file, the poll loop's and the writer thread's,
 * each open a stream on first use: one asked by a subscriber, the other
 * written by the source adapter. Between the one's look-up and its insert
 * the other may insert the same name; the stream then exists, and opening
 * it must find it rather than fail on the name taken. */
#define RACE_STREAMS 400

typedef struct {
    int64_t ids[RACE_STREAMS];
    int failed;
} opener_t;

static void *s_opener(void *arg)
{
    opener_t *o = arg;
    char err[512] = "";
    lt_store_t *s = lt_store_open(g_path, err, sizeof err);
    if (!s) {
        o->failed = -1;
        return NULL;
    }
    for (int i = 0; i < RACE_STREAMS; i++) {
        char name[64];
        snprintf(name, sizeof name, "VN/GOV/BCA/s%d", i);
        lt_stream_t st;
        if (lt_store_stream(s, name, &st) != 0)
            o->failed++;
        else
            o->ids[i] = st.id;
    }
    lt_store_destroy(&s);
    return NULL;
}

static void test_stream_opened_by_two_connections(void)
{
    s_fresh();
    lt_store_t *s = s_open(); /* makes the schema before the two race */
    lt_store_destroy(&s);
    static opener_t o[2];
    memset(o, 0, sizeof o);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, s_opener, &o[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(o[0].failed, 0);
    CU_ASSERT_EQUAL(o[1].failed, 0);
    int same = 0;
    for (int i = 0; i < RACE_STREAMS; i++)
        same += o[0].ids[i] == o[1].ids[i] && o[0].ids[i] > 0;
    CU_ASSERT_EQUAL(same, RACE_STREAMS);
}

static void test_read_order_and_budgets(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A"), b = s_stream(s, "B");
    /* Interleaved appends of two streams; 100-byte records. */
    for (uint64_t seq = 1; seq <= 10; seq++) {
        s_append(s, &a, "A", seq, 100);
        s_append(s, &b, "B", seq, 100);
    }
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 1, 100, 1 << 20, &r), 10);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(r.seqs[i], (uint64_t)i + 1);
    CU_ASSERT_EQUAL(s_read(s, &b, "B", 100, 4, 3, 1 << 20, &r), 3);
    CU_ASSERT(r.seqs[0] == 4 && r.seqs[1] == 5 && r.seqs[2] == 6);
    /* The byte budget stops before the record that would exceed it. */
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 2, 100, 250, &r), 2);
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 2, 100, 300, &r), 3);
    /* ... but at least one record is handed out. */
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 7, 100, 10, &r), 1);
    CU_ASSERT_EQUAL(r.seqs[0], 7);
    /* From the end, and beyond it. */
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 10, 100, 1 << 20, &r), 1);
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 100, 11, 100, 1 << 20, &r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    /* A callback failure stops the read and is reported. */
    memset(&r, 0, sizeof r);
    r.name = "A";
    r.len = 100;
    r.fail_at = 3;
    CU_ASSERT_EQUAL(lt_store_read(s, a.id, 1, 100, 1 << 20, s_on_rec, &r), -1);
    CU_ASSERT_EQUAL(r.n, 3);
    lt_store_destroy(&s);
}

static void test_high_sequence_numbers(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A"), b = s_stream(s, "B");
    /* Sequence numbers up to 2^40 - 1 fit in a stream's key range
     * without touching the next stream's records. */
    uint64_t last = (UINT64_C(1) << 40) - 1;
    s_append(s, &a, "A", last - 2, 50);
    s_append(s, &a, "A", last - 1, 50);
    s_append(s, &a, "A", last, 50);
    for (uint64_t seq = 1; seq <= 3; seq++)
        s_append(s, &b, "B", seq, 50);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 50, last - 2, 2, 1 << 20, &r), 2);
    CU_ASSERT(r.seqs[0] == last - 2 && r.seqs[1] == last - 1);
    CU_ASSERT_EQUAL(s_read(s, &b, "B", 50, 1, 10, 1 << 20, &r), 3);
    CU_ASSERT(r.seqs[0] == 1 && r.seqs[2] == 3);
    /* A read asking for more than is left before 2^40 still gets the last
     * records, never an empty range or the next stream's. */
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 50, last - 1, 10, 1 << 20, &r), 2);
    CU_ASSERT(r.seqs[0] == last - 1 && r.seqs[1] == last);
    /* Past the range an append is refused and a read finds nothing. */
    char big[64];
    size_t big_len = s_rec(big, sizeof big, "A", last + 1, 50);
    CU_ASSERT(lt_store_append(s, a.id, last + 1, big, big_len) == -1);
    CU_ASSERT(lt_store_append(s, a.id, 0, big, big_len) == -1);
    CU_ASSERT_EQUAL(s_read(s, &a, "A", 50, last + 1, 10, 1 << 20, &r), 0);
    uint8_t *rec = NULL;
    size_t len = 0;
    char want[128];
    size_t n = s_rec(want, sizeof want, "A", last, 50);
    CU_ASSERT_EQUAL_FATAL(lt_store_get(s, a.id, last, &rec, &len), 1);
    CU_ASSERT(len == n && memcmp(rec, want, n) == 0);
    free(rec);
    lt_store_destroy(&s);
}

static void test_get_and_no_overwrite(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A"), b = s_stream(s, "B");
    s_append(s, &a, "A", 1, 300);
    s_append(s, &b, "B", 1, 20);
    uint8_t *rec = NULL;
    size_t len = 0;
    char want[512];
    size_t n = s_rec(want, sizeof want, "A", 1, 300);
    CU_ASSERT_EQUAL_FATAL(lt_store_get(s, a.id, 1, &rec, &len), 1);
    CU_ASSERT(len == n && memcmp(rec, want, n) == 0);
    free(rec);
    rec = NULL;
    n = s_rec(want, sizeof want, "B", 1, 20);
    CU_ASSERT_EQUAL_FATAL(lt_store_get(s, b.id, 1, &rec, &len), 1);
    CU_ASSERT(len == n && memcmp(rec, want, n) == 0);
    free(rec);
    rec = NULL;
    CU_ASSERT_EQUAL(lt_store_get(s, a.id, 2, &rec, &len), 0);
    CU_ASSERT_PTR_NULL(rec);
    /* The log is append-only: a second record at a used seq is refused and
     * the first stays as it was. */
    CU_ASSERT_EQUAL(lt_store_append(s, a.id, 1, "other bytes", 11), -1);
    n = s_rec(want, sizeof want, "A", 1, 300);
    CU_ASSERT_EQUAL_FATAL(lt_store_get(s, a.id, 1, &rec, &len), 1);
    CU_ASSERT(len == n && memcmp(rec, want, n) == 0);
    free(rec);
    CU_ASSERT_PTR_NOT_NULL(lt_store_error(s));
    lt_store_destroy(&s);
}

static void test_state(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A"), b = s_stream(s, "B");
    uint64_t seq = 99;
    int deleted = 99;
    CU_ASSERT_EQUAL(lt_store_state_get(s, a.id, "038090000002", &seq, &deleted), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "038090000002", 3, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, a.id, "038090000002", &seq, &deleted), 1);
    CU_ASSERT(seq == 3 && deleted == 0);
    /* The latest state wins, tombstones included. */
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "038090000002", 5, 1, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, a.id, "038090000002", &seq, &deleted), 1);
    CU_ASSERT(seq == 5 && deleted == 1);
    /* Keys are per stream. */
    CU_ASSERT_EQUAL(lt_store_state_get(s, b.id, "038090000002", &seq, &deleted), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, b.id, "038090000002", 1, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, a.id, "038090000002", &seq, &deleted), 1);
    CU_ASSERT(seq == 5 && deleted == 1);
    lt_store_destroy(&s);
}

/* 1 if the record at (stream, seq) exists, seen through store s. */
static int s_has(lt_store_t *s, int64_t stream, uint64_t seq)
{
    uint8_t *rec = NULL;
    size_t len;
    int rc = lt_store_get(s, stream, seq, &rec, &len);
    free(rec);
    return rc;
}

static void test_transactions(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A");
    /* A rolled-back group leaves nothing: log, state or cursor. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_append(s, &a, "A", 1, 40);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "k", 1, 0, 0, 0), 0);
    a.last_seq = 1;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    lt_store_rollback(s);
    uint64_t seq;
    int deleted;
    CU_ASSERT_EQUAL(s_has(s, a.id, 1), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, a.id, "k", &seq, &deleted), 0);
    a = s_stream(s, "A");
    CU_ASSERT_EQUAL(a.last_seq, 0);
    lt_store_rollback(s);                    /* outside a transaction: harmless */
    CU_ASSERT_EQUAL(lt_store_commit(s), -1); /* nothing to commit */

    /* Another connection (another process) sees a group only once it has
     * committed. */
    lt_store_t *other = s_open();
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_append(s, &a, "A", 1, 40);
    s_append(s, &a, "A", 2, 40);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "k", 2, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(s_has(s, a.id, 2), 1);
    CU_ASSERT_EQUAL(s_has(other, a.id, 1), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(other, a.id, "k", &seq, &deleted), 0);
    CU_ASSERT_EQUAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(s_has(other, a.id, 1), 1);
    CU_ASSERT_EQUAL(s_has(other, a.id, 2), 1);
    CU_ASSERT_EQUAL(lt_store_state_get(other, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 2);
    lt_store_destroy(&other);
    lt_store_destroy(&s);
}

/* Commits made relaxed (a staged snapshot) whose return to synced commits
 * failed: the next write sets synchronous = FULL again before it runs, so
 * no later commit of the connection goes unsynced (lt_store.h). SQLite
 * refuses the pragma inside a transaction, which makes the return fail. */
static void test_relaxed_restored(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "A");
    CU_ASSERT_EQUAL(lt_store_synced(s), 1);
    CU_ASSERT_EQUAL_FATAL(lt_store_relaxed(s, 1), 0);
    CU_ASSERT_EQUAL(lt_store_synced(s), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_relaxed(s, 0), -1);
    lt_store_rollback(s);
    CU_ASSERT_EQUAL(lt_store_synced(s), 0);
    /* The next write, in a transaction or alone, is synced. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_synced(s), 1);
    s_append(s, &a, "A", 1, 40);
    CU_ASSERT_EQUAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_relaxed(s, 1), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_relaxed(s, 0), -1);
    lt_store_rollback(s);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "k", 1, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_synced(s), 1);
    /* Relaxed on purpose, a write stays relaxed. */
    CU_ASSERT_EQUAL_FATAL(lt_store_relaxed(s, 1), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_synced(s), 0);
    lt_store_rollback(s);
    CU_ASSERT_EQUAL(lt_store_relaxed(s, 0), 0);
    CU_ASSERT_EQUAL(lt_store_synced(s), 1);
    lt_store_destroy(&s);
}

/* A held read snapshot (lt_store_read_begin) keeps what the lookups of a
 * drain see fixed; its end, or any write on the connection, shows the
 * newest rows again. */
static void test_read_snapshot(void)
{
    s_fresh();
    lt_store_t *reader = s_open(), *writer = s_open();
    lt_stream_t a = s_stream(writer, "A");
    CU_ASSERT_EQUAL(lt_store_state_put(writer, a.id, "k", 1, 0, 0, 0), 0);
    uint64_t seq = 0;
    int deleted = 0;
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(lt_store_read_begin(reader), 0); /* idempotent */
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 1);
    /* The writer thread commits meanwhile: not seen under the snapshot. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(writer), 0);
    s_append(writer, &a, "A", 2, 40);
    CU_ASSERT_EQUAL(lt_store_state_put(writer, a.id, "k", 2, 0, 0, 0), 0);
    a.last_seq = 2;
    CU_ASSERT_EQUAL(lt_store_stream_save(writer, &a), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(writer), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 1);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 0);
    /* The stream row, read once per snapshot, is the snapshot's too. */
    lt_stream_t f;
    CU_ASSERT_EQUAL(lt_store_stream_find(reader, "A", &f), 1);
    CU_ASSERT_EQUAL(f.last_seq, 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(reader, "A", &f), 1);
    CU_ASSERT_EQUAL(f.last_seq, 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(reader, "none", &f), 0);
    lt_store_read_end(reader);
    lt_store_read_end(reader); /* idempotent */
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 2);
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0); /* a new snapshot reads it anew */
    CU_ASSERT_EQUAL(lt_store_stream_find(reader, "A", &f), 1);
    CU_ASSERT_EQUAL(f.last_seq, 2);
    /* A write on the same connection ends the snapshot and the row kept. */
    f.last_seq = 3;
    CU_ASSERT_EQUAL(lt_store_stream_save(reader, &f), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(reader, "A", &f), 1);
    CU_ASSERT_EQUAL(f.last_seq, 3);
    lt_store_read_end(reader);
    /* A write on the holding connection ends the snapshot first: SQLite
     * would refuse to upgrade one older than the writer's commit. */
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(lt_store_state_put(writer, a.id, "k", 3, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(reader, a.id, "j", 3, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 3);
    /* A group begun while a snapshot is held commits normally. */
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 1);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(reader), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(reader, a.id, "k", 4, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_commit(reader), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(writer, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 4);
    /* A stream the writer made after the snapshot began is found, not made
     * twice; the synchronous pragma (staging) and a rollback end it too. */
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 1);
    lt_stream_t b = s_stream(writer, "B"), b2 = s_stream(reader, "B");
    CU_ASSERT_EQUAL(b2.id, b.id);
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 1);
    CU_ASSERT_EQUAL(lt_store_relaxed(reader, 1), 0);
    CU_ASSERT_EQUAL(lt_store_relaxed(reader, 0), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 1);
    lt_store_rollback(reader);
    CU_ASSERT_EQUAL(lt_store_state_put(writer, a.id, "k", 5, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(reader, a.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 5);
    /* Destroyed while holding one: nothing left open. */
    CU_ASSERT_EQUAL_FATAL(lt_store_read_begin(reader), 0);
    CU_ASSERT_EQUAL(s_has(reader, a.id, 2), 1);
    lt_store_destroy(&reader);
    CU_ASSERT_PTR_NULL(reader);
    lt_store_destroy(&writer);
}

static void test_reopen_keeps_everything(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        s_append(s, &a, "VN/GOV/BCA/population", seq, 200);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "001080000001", 4, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, a.id, "038090000002", 5, 1, 0, 0), 0);
    a.last_seq = 5;
    a.source_cursor = 77;
    memset(a.last_hash, 0x5c, 32);
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    CU_ASSERT_EQUAL(lt_store_commit(s), 0);
    lt_store_destroy(&s);

    s = s_open();
    lt_stream_t st;
    CU_ASSERT_EQUAL_FATAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 1);
    uint8_t hash[32];
    memset(hash, 0x5c, 32);
    CU_ASSERT(st.id == a.id && st.last_seq == 5 && st.source_cursor == 77);
    CU_ASSERT(memcmp(st.last_hash, hash, 32) == 0);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &st, "VN/GOV/BCA/population", 200, 1, 100, 1 << 20, &r), 5);
    uint64_t seq;
    int deleted;
    CU_ASSERT_EQUAL(lt_store_state_get(s, st.id, "001080000001", &seq, &deleted), 1);
    CU_ASSERT(seq == 4 && !deleted);
    CU_ASSERT_EQUAL(lt_store_state_get(s, st.id, "038090000002", &seq, &deleted), 1);
    CU_ASSERT(seq == 5 && deleted);
    lt_store_destroy(&s);

    /* The file is in WAL mode (durable across a crash between groups). */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_open_errors(void)
{
    s_fresh();
    char path[400], err[512] = "";
    snprintf(path, sizeof path, "%s/missing/store.db", g_dir);
    CU_ASSERT_PTR_NULL(lt_store_open(path, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    /* A file that is not a database is refused, not overwritten. */
    snprintf(path, sizeof path, "%s/not-a-db", g_dir);
    CU_ASSERT_FATAL(ut_write_text(path, "this is a lienthong gateway config, not a store\n") == 0);
    err[0] = 0;
    CU_ASSERT_PTR_NULL(lt_store_open(path, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
}

/* The schema of the stores written before schema versions existed. */
static const char *s_schema_v0 = LT_STORE_SCHEMA_V0;

/* Writes a version-0 store holding stream 1 with records 1..n, as the old
 * code laid them out (row id = stream << 40 | seq). */
static void s_make_v0_store(const char *name, int n)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    ut_sql_exec(db, s_schema_v0);
    char sql[8192], rec[4096];
    snprintf(sql, sizeof sql,
             "INSERT INTO streams(id, name, last_seq, source_cursor) VALUES (1, '%s', %d, 99)",
             name, n);
    ut_sql_exec(db, sql);
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "INSERT INTO log(id, record) VALUES (?1, ?2)", -1, &st,
                                       NULL) == SQLITE_OK);
    for (int seq = 1; seq <= n; seq++) {
        size_t len = s_rec(rec, sizeof rec, name, (uint64_t)seq, 100);
        sqlite3_bind_int64(st, 1, ((int64_t)1 << 40) | seq);
        sqlite3_bind_blob(st, 2, rec, (int)len, SQLITE_STATIC);
        CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ut_sql_exec(db, "INSERT INTO state VALUES (1, 'k1', 3, 0)");
    CU_ASSERT_FATAL(ut_sql_count(db, "PRAGMA user_version") == 0);
    sqlite3_close(db);
}

static void test_migrates_older_schema(void)
{
    s_fresh();
    const char *name = "VN/GOV/BCA/population";
    s_make_v0_store(name, 20);
    lt_store_t *s = s_open();
    lt_stream_t st;
    CU_ASSERT_EQUAL_FATAL(lt_store_stream_find(s, name, &st), 1);
    CU_ASSERT(st.id == 1 && st.last_seq == 20 && st.source_cursor == 99);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 1, 64, 1 << 20, &r), 20);
    CU_ASSERT(r.n == 20 && r.seqs[0] == 1 && r.seqs[19] == 20);
    uint64_t seq = 0;
    int deleted = -1;
    CU_ASSERT_EQUAL(lt_store_state_get(s, st.id, "k1", &seq, &deleted), 1);
    CU_ASSERT(seq == 3 && deleted == 0);
    /* The migrated store takes new records after the old ones. */
    s_append(s, &st, name, 21, 100);
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 1, 64, 1 << 20, &r), 21);
    lt_store_destroy(&s);

    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), lt_store_schema_version());
    /* Every old row got its checksum in the migration. */
    CU_ASSERT_EQUAL(ut_sql_count(db, "SELECT count(*) FROM log WHERE length(sum) = 24"), 21);
    sqlite3_close(db);
    /* Opening again migrates nothing and reads the same. */
    s = s_open();
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 1, 64, 1 << 20, &r), 21);
    lt_store_destroy(&s);
}

/* The check restore runs on a backup's store (lt_store_schema_check), of
 * the store at g_path after sql (NULL: none): 0 or -1, the reason in err. */
static int s_schema_check(const char *sql, char *err, size_t len)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    if (sql)
        ut_sql_exec(db, sql);
    err[0] = '\0';
    int rc = lt_store_schema_check(db, err, len);
    sqlite3_close(db);
    return rc;
}

/* A fresh store of this version and a store from before versions, each
 * holding only its own objects, pass; an object added, changed under its
 * name or missing is refused, named with the version it was compared
 * with. */
static void test_schema_check(void)
{
    char err[1024], want[256];
    s_fresh();
    lt_store_t *s = s_open();
    lt_store_destroy(&s);
    CU_ASSERT_EQUAL(s_schema_check(NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s_schema_check("CREATE TRIGGER t AFTER INSERT ON log BEGIN DELETE FROM "
                                   "state; END",
                                   err, sizeof err),
                    -1);
    snprintf(want, sizeof want,
             "its schema holds trigger \"t\", which a store of schema version %d does not have",
             lt_store_schema_version());
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_EQUAL(
        s_schema_check("DROP TRIGGER t; CREATE INDEX \"a\tb\" ON log(record)", err, sizeof err),
        -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "its schema holds index \"(a name not shown)\""));
    CU_ASSERT_EQUAL(s_schema_check("DROP INDEX \"a\tb\"; DROP TABLE tails; CREATE TABLE tails "
                                   "(stream INTEGER PRIMARY KEY, first_seq INTEGER)",
                                   err, sizeof err),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "its schema holds table \"tails\""));
    /* An object missing is named as missing, wherever it falls in the
     * order (tails is not the last table). */
    CU_ASSERT_EQUAL(s_schema_check("DROP TABLE tails", err, sizeof err), -1);
    snprintf(want, sizeof want,
             "its schema lacks table \"tails\" that a store of schema version %d has",
             lt_store_schema_version());
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    s_fresh();
    s_make_v0_store("VN/GOV/BCA/population", 2);
    CU_ASSERT_EQUAL(s_schema_check(NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s_schema_check("CREATE VIEW v AS SELECT * FROM log", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "its schema holds view \"v\", which a store of schema "
                                       "version 0 does not have"));
}

static void test_refuses_newer_schema(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_store_destroy(&s);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    char sql[64], want[64], err[512] = "";
    int newer = lt_store_schema_version() + 1;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", newer);
    ut_sql_exec(db, sql);
    sqlite3_close(db);
    CU_ASSERT_PTR_NULL(lt_store_open(g_path, err, sizeof err));
    /* The error names the store's version and the one this code supports. */
    snprintf(want, sizeof want, "schema version %d", newer);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    snprintf(want, sizeof want, "supports (%d)", lt_store_schema_version());
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, g_path));
    /* And left it as it was. */
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), newer);
    sqlite3_close(db);
}

/* Opening for inspection (store verify) leaves an older store as it is, so
 * that the version that made it can still restore it; a current store
 * opens; a missing one is not created. */
static void test_open_existing_never_migrates(void)
{
    s_fresh();
    char err[512] = "", want[64];
    CU_ASSERT_PTR_NULL(lt_store_open_existing(g_path, err, sizeof err));
    CU_ASSERT_NOT_EQUAL(access(g_path, F_OK), 0);
    s_make_v0_store("VN/GOV/BCA/population", 5);
    CU_ASSERT_PTR_NULL(lt_store_open_existing(g_path, err, sizeof err));
    snprintf(want, sizeof want, "not this lienthong's (%d)", lt_store_schema_version());
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, g_path));
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), 0);
    CU_ASSERT_EQUAL(ut_sql_count(db, "SELECT count(*) FROM pragma_table_info('log') "
                                     "WHERE name = 'sum'"),
                    0);
    sqlite3_close(db);
    lt_store_t *s = s_open(); /* migrates */
    lt_store_destroy(&s);
    s = lt_store_open_existing(g_path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(s);
    lt_stream_t st;
    CU_ASSERT(s && lt_store_stream_find(s, "VN/GOV/BCA/population", &st) == 1 && st.last_seq == 5);
    lt_store_destroy(&s);
}

/* Rewrites one byte of the record at seq of stream 1, behind the store's
 * back (SQLite's own checks still pass). */
static void s_edit_record(uint64_t seq)
{
    ut_sql_damage_record(g_path, 1, seq);
}

/* A fresh store whose stream name (id 1, in *st) holds records 1 to 10,
 * record 6 damaged; opened again after the damage. */
static lt_store_t *s_damaged_store(const char *name, lt_stream_t *st)
{
    s_fresh();
    lt_store_t *s = s_open();
    *st = s_stream(s, name);
    CU_ASSERT_FATAL(st->id == 1);
    for (uint64_t seq = 1; seq <= 10; seq++)
        s_append(s, st, name, seq, 100);
    lt_store_destroy(&s);
    s_edit_record(6);
    return s_open();
}

/* An lt_store_rec_fn counting the rows handed to it (arg: a size_t). */
static int s_scan_count(void *arg, uint64_t seq, const void *rec, size_t len,
                        const uint8_t leaf[LT_HASH_BYTES])
{
    (void)seq, (void)rec, (void)len, (void)leaf;
    (*(size_t *)arg)++;
    return 0;
}

/* The sweep below a tail (lt_feed_retain.c) goes on while a scan's window
 * is full: a damaged row skipped is counted among the rows examined, and
 * the last one examined is told, so that the sweep goes on after it
 * (before, the window came back short and the sweep ended there, its
 * superseded rows beyond never deleted). */
static void test_scan_counts_damaged(void)
{
    const char *name = "VN/GOV/BCA/population";
    lt_stream_t st;
    lt_store_t *s = s_damaged_store(name, &st);
    size_t got = 0;
    uint64_t last = 0;
    CU_ASSERT_EQUAL(lt_store_scan(s, st.id, 1, 11, 6, s_scan_count, &got, &last), 6);
    CU_ASSERT_EQUAL(got, 5);
    CU_ASSERT_EQUAL(last, 6);
    got = 0;
    CU_ASSERT_EQUAL(lt_store_scan(s, st.id, last + 1, 11, 6, s_scan_count, &got, &last), 4);
    CU_ASSERT_EQUAL(got, 4);
    CU_ASSERT_EQUAL(last, 10);
    lt_store_destroy(&s);
}

static void test_damaged_record_never_read(void)
{
    const char *name = "VN/GOV/BCA/population";
    lt_stream_t st;
    lt_store_t *s = s_damaged_store(name, &st);
    reads_t r;
    /* The read stops before the damaged record and hands out the sound ones. */
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 1, 64, 1 << 20, &r), 5);
    CU_ASSERT_EQUAL(r.n, 5);
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 6, 64, 1 << 20, &r), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_EQUAL(lt_store_damaged_seq(s), 6);
    CU_ASSERT_EQUAL(s_read(s, &st, name, 100, 7, 64, 1 << 20, &r), 4);
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 6, &rec, &len), LT_STORE_DAMAGED);
    CU_ASSERT_PTR_NULL(rec);
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 5, &rec, &len), 1);
    free(rec);
    lt_store_destroy(&s);
}

/* Sets the checksum of log row (stream, seq) to sum_len bytes of sum. */
static void s_set_sum(int64_t stream, uint64_t seq, const uint8_t *sum, size_t sum_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "UPDATE log SET sum = ?1 WHERE id = ?2", -1, &st,
                                       NULL) == SQLITE_OK);
    sqlite3_bind_blob(st, 1, sum, (int)sum_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)((uint64_t)stream << LT_STORE_SEQ_BITS | seq));
    CU_ASSERT(sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The stored checksum of log row (stream, seq) into out (at most 64
 * bytes); returns its length. */
static size_t s_get_sum(int64_t stream, uint64_t seq, uint8_t *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT sum FROM log WHERE id = ?1", -1, &st, NULL) ==
                    SQLITE_OK);
    sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)stream << LT_STORE_SEQ_BITS | seq));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) <= 64) {
        n = (size_t)sqlite3_column_bytes(st, 0);
        memcpy(out, sqlite3_column_blob(st, 0), n);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void s_unhex(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i]; i++)
        CU_ASSERT(sscanf(hex + 2 * i, "%2hhx", &out[i]) == 1);
}

/* Known answers for the record "lienthong" at row (stream 1, seq 7),
 * computed apart from this code (docs/ARCHITECTURE.md 4.2): the checksum
 * written now, the record's Merkle leaf with the row id folded in, and the
 * older form, BLAKE2b-256 over the domain, the row id and the record. */
#define KAT_SUM_LEAF "cbd4056b57a65f8b1d2e07c9850fed5ce560ec6025d30dea"
#define KAT_SUM_V1   "6c1d149430adb67226c534bfae989a0f714c8a72fa1fe58a5928e48e5b70916b"

static void test_checksum_forms(void)
{
    s_fresh();
    const char *name = "VN/GOV/BCA/population";
    lt_store_t *s = s_open();
    lt_stream_t st = s_stream(s, name);
    CU_ASSERT_FATAL(st.id == 1);
    for (uint64_t seq = 1; seq <= 6; seq++)
        CU_ASSERT(lt_store_append(s, st.id, seq, "lienthong", 9) == 0);
    /* Seq 8 from a leaf made by the caller, as a replica's writer does. */
    uint8_t leaf[LT_HASH_BYTES];
    lt_crypto_merkle_leaf((const uint8_t *)"lienthong", 9, leaf);
    CU_ASSERT(lt_store_append(s, st.id, 7, "lienthong", 9) == 0);
    CU_ASSERT(lt_store_append_leaf(s, st.id, 8, "lienthong", 9, leaf) == 0);
    lt_store_destroy(&s);

    uint8_t got[64], want[LT_HASH_BYTES];
    s_unhex(KAT_SUM_LEAF, want);
    CU_ASSERT(s_get_sum(st.id, 7, got) == LT_STORE_SUM_BYTES &&
              memcmp(got, want, LT_STORE_SUM_BYTES) == 0);
    CU_ASSERT(s_get_sum(st.id, 8, got) == LT_STORE_SUM_BYTES);
    CU_ASSERT(memcmp(got, want, LT_STORE_SUM_BYTES) != 0); /* the id is in it */
    /* A row of the older form still reads; changed in a byte it is damage,
     * and so is a checksum of neither length. */
    s_unhex(KAT_SUM_V1, want);
    s_set_sum(st.id, 7, want, LT_HASH_BYTES);
    want[31] ^= 1;
    s_set_sum(st.id, 3, want, LT_HASH_BYTES);
    s_set_sum(st.id, 5, want, 31);
    s = s_open();
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 7, &rec, &len), 1);
    CU_ASSERT(len == 9 && rec && memcmp(rec, "lienthong", 9) == 0);
    free(rec);
    rec = NULL;
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 3, &rec, &len), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 5, &rec, &len), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 8, &rec, &len), 1);
    free(rec);
    /* The same record's checksum moved to another row is damage there. */
    lt_store_destroy(&s);
    CU_ASSERT(s_get_sum(st.id, 8, got) == LT_STORE_SUM_BYTES);
    s_set_sum(st.id, 6, got, LT_STORE_SUM_BYTES);
    s = s_open();
    rec = NULL;
    CU_ASSERT_EQUAL(lt_store_get(s, st.id, 6, &rec, &len), LT_STORE_DAMAGED);
    uint8_t out[LT_HASH_BYTES];
    CU_ASSERT(lt_store_sum_ok(st.id, 8, "lienthong", 9, got, LT_STORE_SUM_BYTES, out));
    CU_ASSERT(memcmp(out, leaf, LT_HASH_BYTES) == 0);
    CU_ASSERT(!lt_store_sum_ok(st.id, 8, "lienthonG", 9, got, LT_STORE_SUM_BYTES, out));
    CU_ASSERT(lt_store_sum_ok(st.id, 7, "lienthong", 9, want, LT_HASH_BYTES, out) ==
              0); /* edited */
    want[31] ^= 1;
    memset(out, 0, sizeof out);
    /* A row of the older form gives its leaf too (hashed once more). */
    CU_ASSERT(lt_store_sum_ok(st.id, 7, "lienthong", 9, want, LT_HASH_BYTES, out));
    CU_ASSERT(memcmp(out, leaf, LT_HASH_BYTES) == 0);
    lt_store_destroy(&s);
}

/* An lt_store_stream_fn: counts rows and remembers one by name. */
typedef struct {
    const char *want;
    lt_stream_t found;
    int n, seen;
} rows_t;

static int s_on_row(void *arg, const char *name, const lt_stream_t *st)
{
    rows_t *r = arg;
    r->n++;
    if (strcmp(name, r->want) == 0) {
        r->found = *st;
        r->seen = 1;
    }
    return 0;
}

/* PROTOCOL.md 6.9: a stream has no history until one is set; a NULL set
 * draws a new random one; listing streams shows them; saving the cursor
 * leaves the history alone. */
static void test_histories(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    CU_ASSERT_EQUAL(a.has_history, 0);
    lt_stream_t got, got2;
    CU_ASSERT_EQUAL(lt_store_history_set(s, a.id, NULL, &got), 0);
    CU_ASSERT_EQUAL(got.has_history, 1);
    CU_ASSERT_EQUAL(lt_store_history_set(s, a.id, NULL, &got2), 0);
    CU_ASSERT(memcmp(got.history, got2.history, 16) != 0); /* a new one each time */
    uint8_t fixed[16];
    for (int i = 0; i < 16; i++)
        fixed[i] = (uint8_t)(0xa0 + i);
    CU_ASSERT_EQUAL(lt_store_history_set(s, a.id, fixed, NULL), 0);
    a.last_seq = 3;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    lt_stream_t st;
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 1);
    CU_ASSERT(st.has_history && memcmp(st.history, fixed, 16) == 0 && st.last_seq == 3);
    (void)s_stream(s, "VN/GOV/BCA/population.basic");
    rows_t r = {.want = "VN/GOV/BCA/population"};
    CU_ASSERT_EQUAL(lt_store_streams(s, s_on_row, &r), 0);
    CU_ASSERT(r.n == 2 && r.seen && r.found.id == a.id && r.found.last_seq == 3);
    CU_ASSERT(r.found.has_history && memcmp(r.found.history, fixed, 16) == 0);
    lt_store_destroy(&s);
}

/* A kept header with its fields filled from fill. */
static lt_store_batch_t s_header(uint64_t first, uint64_t last, uint8_t fill)
{
    lt_store_batch_t h;
    memset(&h, 0, sizeof h);
    h.first_seq = first;
    h.last_seq = last;
    memset(h.prev_hash, fill, sizeof h.prev_hash);
    memset(h.root, fill + 1, sizeof h.root);
    memset(h.signature, fill + 2, sizeof h.signature);
    return h;
}

/* A kept batch header keeps the history its H bound (PROTOCOL.md 6.3,
 * 6.9), or none; one whose history was damaged cannot verify. */
static void test_batch_histories(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    lt_store_batch_t on = s_header(1, 4, 0x30), off = s_header(5, 6, 0x40), got;
    memset(on.history, 0x9e, sizeof on.history);
    on.has_history = 1;
    CU_ASSERT_EQUAL(lt_store_batch_put(s, a.id, &on), 0);
    CU_ASSERT_EQUAL(lt_store_batch_put(s, a.id, &off), 0);
    CU_ASSERT_EQUAL(lt_store_batch_find(s, a.id, 2, &got), 1);
    CU_ASSERT(got.first_seq == 1 && got.last_seq == 4 && got.has_history &&
              memcmp(got.history, on.history, sizeof got.history) == 0 &&
              memcmp(got.signature, on.signature, sizeof got.signature) == 0);
    CU_ASSERT_EQUAL(lt_store_batch_find(s, a.id, 5, &got), 1);
    CU_ASSERT(got.first_seq == 5 && !got.has_history &&
              memcmp(got.signature, off.signature, sizeof got.signature) == 0);
    lt_store_destroy(&s);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE batches SET history = x'0102' WHERE last_seq = 4",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    s = s_open();
    CU_ASSERT_EQUAL(lt_store_batch_find(s, a.id, 1, &got), 1);
    static const uint8_t zero[LT_SIG_BYTES];
    CU_ASSERT(memcmp(got.signature, zero, sizeof zero) == 0);
    lt_store_destroy(&s);
}

/* Replacing a stream by another moves log, state, cursor and history in
 * one transaction, read back as moved inside it; the moved records read
 * back (their checksums follow them); the source is left empty; a rollback
 * leaves the old stream. */
static void test_replace(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    const char *dn = "VN/GOV/BCA/population", *sn = "~resync:VN/GOV/BCA/population";
    lt_stream_t dst = s_stream(s, dn), src = s_stream(s, sn);
    uint8_t h[16];
    memset(h, 0x5c, sizeof h);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    for (uint64_t q = 1; q <= 9; q++)
        s_append(s, &dst, dn, q, 80);
    for (uint64_t q = 1; q <= 5; q++)
        s_append(s, &src, sn, q, 90);
    CU_ASSERT_EQUAL(lt_store_state_put(s, dst.id, "old", 9, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, src.id, "new", 5, 0, 0, 0), 0);
    dst.last_seq = 9;
    src.last_seq = 5;
    src.last_hash[0] = 0x77;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &dst), 0);
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &src), 0);
    CU_ASSERT_EQUAL(lt_store_history_set(s, src.id, h, NULL), 0);
    lt_store_batch_t kept_old = s_header(1, 9, 0x11), kept_new = s_header(1, 5, 0x12), kh;
    memcpy(kept_new.history, h, sizeof h);
    kept_new.has_history = 1;
    CU_ASSERT_EQUAL(lt_store_batch_put(s, dst.id, &kept_old), 0);
    CU_ASSERT_EQUAL(lt_store_batch_put(s, src.id, &kept_new), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);

    /* Inside the transaction the destination reads as it will be once
     * committed (a resynchronisation takes its cursor from there, before
     * the commit); rolled back, nothing moved. */
    lt_stream_t st;
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, dst.id, src.id), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, dn, &st), 1);
    CU_ASSERT(st.id == dst.id && st.last_seq == 5 && st.last_hash[0] == 0x77);
    CU_ASSERT(st.has_history && memcmp(st.history, h, 16) == 0);
    lt_store_rollback(s);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, dn, &st), 1);
    CU_ASSERT(st.id == dst.id && st.last_seq == 9 && !st.has_history);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &dst, dn, 80, 1, 64, 1 << 20, &r), 9);

    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, dst.id, src.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, dn, &st), 1);
    CU_ASSERT(st.id == dst.id && st.last_seq == 5 && st.last_hash[0] == 0x77);
    CU_ASSERT(st.has_history && memcmp(st.history, h, 16) == 0);
    /* The kept headers moved with the records, their history with them. */
    CU_ASSERT_EQUAL(lt_store_batch_find(s, dst.id, 1, &kh), 1);
    CU_ASSERT(kh.last_seq == 5 && kh.has_history && memcmp(kh.history, h, 16) == 0);
    CU_ASSERT_EQUAL(lt_store_batch_find(s, src.id, 1, &kh), 0);
    /* The source's records, under the destination, read back checked. */
    memset(&r, 0, sizeof r);
    r.name = sn;
    r.len = 90;
    CU_ASSERT_EQUAL(lt_store_read(s, dst.id, 1, 64, 1 << 20, s_on_rec, &r), 5);
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(lt_store_get(s, dst.id, 6, &rec, &len), 0); /* old seq 6..9 gone */
    uint64_t seq = 0;
    int deleted = 0;
    CU_ASSERT_EQUAL(lt_store_state_get(s, dst.id, "old", &seq, &deleted), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, dst.id, "new", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 5);
    /* The source is empty, without history. */
    CU_ASSERT_EQUAL(lt_store_stream_find(s, sn, &st), 1);
    CU_ASSERT(st.last_seq == 0 && !st.has_history);
    CU_ASSERT_EQUAL(lt_store_read(s, src.id, 1, 64, 1 << 20, s_on_rec, &r), 0);
    CU_ASSERT_EQUAL(lt_store_state_get(s, src.id, "new", &seq, &deleted), 0);
    lt_store_destroy(&s);
}

/* The newest change of a stream (schema step 11): raised, never lowered,
 * written at the commit and dropped by a rollback; cleared with the
 * stream; moved by a replacement and by a swap of names. */
static int64_t s_newest(lt_store_t *s, int64_t stream)
{
    int64_t ms = -1;
    CU_ASSERT_EQUAL(lt_store_newest_get(s, stream, &ms), 0);
    return ms;
}

static void test_newest_change(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    const char *dn = "VN/GOV/BCA/population", *sn = "~resync:VN/GOV/BCA/population";
    lt_stream_t dst = s_stream(s, dn), src = s_stream(s, sn);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, dst.id, 500), 0);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, dst.id, 300), 0);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 0); /* kept in memory until the commit */
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 500);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, dst.id, 900), 0);
    lt_store_rollback(s);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 500);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, dst.id, 400), 0); /* outside: written now */
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, src.id, 200), 0);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 500);
    CU_ASSERT_EQUAL(s_newest(s, src.id), 200);
    /* Replaced by an older one: the source's figure, not the larger. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, src.id, 250), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, dst.id, src.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(s_newest(s, dst.id), 250);
    CU_ASSERT_EQUAL(s_newest(s, src.id), 0);
    /* A swap of names takes the figure with the row. */
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, src.id, 100), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_swap(s, dn, sn), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    lt_stream_t st;
    CU_ASSERT_EQUAL(lt_store_stream_find(s, dn, &st), 1);
    CU_ASSERT_EQUAL(s_newest(s, st.id), 100);
    /* Cleared, with what the transaction raised before. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_newest_raise(s, st.id, 700), 0);
    CU_ASSERT_EQUAL(lt_store_stream_clear(s, st.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(s_newest(s, st.id), 0);
    lt_store_destroy(&s);
}

/* A stream whose log holds a damaged row (a record changed on disk, its
 * checksum stale) is not moved: the move would give the record a valid
 * checksum under its new row id. The replace fails naming the row, and the
 * rollback leaves both streams as they were. Rows of the older 32-byte
 * form move when they check. */
static void test_replace_refuses_damaged(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    const char *dn = "VN/GOV/BCA/population", *sn = "~resync:VN/GOV/BCA/population";
    lt_stream_t src = s_stream(s, sn), dst = s_stream(s, dn);
    CU_ASSERT_FATAL(src.id == 1); /* s_edit_record and the known answer are for stream 1 */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    for (uint64_t q = 1; q <= 4; q++)
        s_append(s, &dst, dn, q, 70);
    for (uint64_t q = 1; q <= 6; q++)
        s_append(s, &src, sn, q, 90);
    CU_ASSERT(lt_store_append(s, src.id, 7, "lienthong", 9) == 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    lt_store_destroy(&s);
    uint8_t v1[LT_HASH_BYTES];
    s_unhex(KAT_SUM_V1, v1);
    s_set_sum(src.id, 7, v1, LT_HASH_BYTES); /* the older form, which checks */
    s_edit_record(3);                        /* damage */
    s = s_open();
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, dst.id, src.id), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(lt_store_damaged_seq(s), 3);
    CU_ASSERT_STRING_EQUAL(lt_store_damaged_why(s), "checksum mismatch");
    const char *why = lt_store_error(s);
    if (!strstr(why, "seq 3) is damaged"))
        fprintf(stderr, "\n    replace failed with: %s\n", why);
    CU_ASSERT(strstr(why, "seq 3) is damaged") != NULL);
    lt_store_rollback(s);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &dst, dn, 70, 1, 64, 1 << 20, &r), 4);
    lt_store_destroy(&s);
    /* Without the damaged row the rest moves, the older-form row too, and
     * reads back checked under its new id. */
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    ut_sql_exec(db, "DELETE FROM log WHERE id = (1 << 40) | 3");
    sqlite3_close(db);
    s = s_open();
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, dst.id, src.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(lt_store_get(s, dst.id, 7, &rec, &len), 1);
    CU_ASSERT(len == 9 && rec && memcmp(rec, "lienthong", 9) == 0);
    free(rec);
    memset(&r, 0, sizeof r);
    r.name = sn;
    r.len = 90;
    CU_ASSERT_EQUAL(lt_store_read(s, dst.id, 1, 2, 1 << 20, s_on_rec, &r), 2);
    lt_store_destroy(&s);
}

/* A stream cannot replace itself: the replace is refused before it writes,
 * and the stream keeps its log, state, cursor and history even once the
 * transaction commits (a move onto itself would clear it and move nothing). */
static void test_replace_refuses_itself(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    const char *dn = "VN/GOV/BCA/population";
    lt_stream_t st = s_stream(s, dn), got;
    uint8_t h[16];
    memset(h, 0x3e, sizeof h);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    for (uint64_t q = 1; q <= 6; q++)
        s_append(s, &st, dn, q, 80);
    CU_ASSERT_EQUAL(lt_store_state_put(s, st.id, "k", 6, 0, 0, 0), 0);
    st.last_seq = 6;
    st.last_hash[0] = 0x42;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &st), 0);
    CU_ASSERT_EQUAL(lt_store_history_set(s, st.id, h, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);

    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, st.id, st.id), -1);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_find(s, dn, &got), 1);
    CU_ASSERT(got.id == st.id && got.last_seq == 6 && got.last_hash[0] == 0x42);
    CU_ASSERT(got.has_history && memcmp(got.history, h, sizeof h) == 0);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &st, dn, 80, 1, 64, 1 << 20, &r), 6);
    uint64_t seq = 0;
    int deleted = 0;
    CU_ASSERT_EQUAL(lt_store_state_get(s, st.id, "k", &seq, &deleted), 1);
    CU_ASSERT_EQUAL(seq, 6);
    lt_store_destroy(&s);
}

/* The migration steps of lt_store.c: history ids are step 3, the retained
 * tails step 4 and last (docs/ARCHITECTURE.md 4.1). */
#define STEP_HISTORIES 3
#define STEP_TAILS     4

/* A store of the schema version before history ids gets the history
 * columns in step 3 (and the later steps), keeping its streams, which have no history yet,
 * and its kept batch headers, which were signed without one. */
static void test_migrates_to_histories(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    s_append(s, &a, "VN/GOV/BCA/population", 1, 50);
    a.last_seq = 1;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    lt_store_batch_t kept = s_header(1, 1, 0x21);
    CU_ASSERT_EQUAL(lt_store_batch_put(s, a.id, &kept), 0);
    lt_store_destroy(&s);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    /* History ids are step 3, the retained tails step 4, the index of live
     * keys step 5, the completeness counts step 6, the views' definitions
     * step 8 and the streams' newest changes step 11 after them: undo all. */
    char sql[600];
    snprintf(sql, sizeof sql,
             "DROP TABLE subscribers; ALTER TABLE streams DROP COLUMN newest_ms; "
             "DROP TABLE view_defs; DROP TABLE presence; DROP INDEX state_held; "
             "ALTER TABLE state DROP COLUMN is_view; ALTER TABLE state DROP COLUMN fields; "
             "DROP TABLE tails; ALTER TABLE streams DROP COLUMN history; "
             "ALTER TABLE batches DROP COLUMN history; PRAGMA user_version = %d;",
             STEP_HISTORIES - 1);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = s_open();
    lt_stream_t st;
    CU_ASSERT_EQUAL(lt_store_stream_find(s, "VN/GOV/BCA/population", &st), 1);
    CU_ASSERT(st.id == a.id && st.last_seq == 1 && !st.has_history);
    lt_store_batch_t h;
    CU_ASSERT_EQUAL(lt_store_batch_find(s, st.id, 1, &h), 1);
    CU_ASSERT(!h.has_history && memcmp(h.signature, kept.signature, sizeof h.signature) == 0);
    CU_ASSERT_EQUAL(lt_store_history_set(s, st.id, NULL, &st), 0);
    CU_ASSERT(st.has_history);
    lt_store_destroy(&s);
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), lt_store_schema_version());
    sqlite3_close(db);
}

/* ---- completeness counts (schema step 6, PROTOCOL.md 8.9) ---- */

/* A payload with a value in each field of mask: a string for odd field
 * numbers, a varint for even ones; `zeros` adds the other fields of 1..8
 * written out with their default value, which must not count. */
static size_t s_payload(uint8_t *buf, uint64_t mask, int zeros)
{
    size_t n = 0;
    for (int f = 1; f <= 8; f++) {
        int set = (mask >> (f - 1)) & 1;
        if (!set && !zeros)
            continue;
        buf[n++] = (uint8_t)(f << 3 | (f % 2 ? 2 : 0));
        if (f % 2) {
            buf[n++] = set ? 2 : 0;
            if (set) {
                buf[n++] = 'v';
                buf[n++] = (uint8_t)('0' + f);
            }
        } else {
            buf[n++] = set ? 7 : 0;
        }
    }
    return n;
}

/* Appends a Record of key at seq (a tombstone when mask is -1) and sets
 * its state, as the write paths do. */
static void s_put(lt_store_t *s, lt_stream_t *st, const char *key, int64_t mask, int zeros)
{
    uint8_t payload[64], rec[256];
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = ++st->last_seq;
    r.key = (char *)key;
    r.deleted = mask < 0;
    r.payload.data = payload;
    r.payload.len = mask < 0 ? 0 : s_payload(payload, (uint64_t)mask, zeros);
    r.changed_at_ms = 1767225600000;
    size_t n = lienthong__record__pack(&r, rec);
    CU_ASSERT_EQUAL(lt_presence_record_mask(rec, n), mask < 0 ? 0 : (uint64_t)mask);
    CU_ASSERT_EQUAL(lt_store_append(s, st->id, r.seq, rec, n), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, st->id, key, r.seq, r.deleted,
                                       lt_presence_mask(payload, r.payload.len), 0),
                    0);
}

/* 1 when the committed counts of st are records and present[1..8]. */
static int s_counts(lt_store_t *s, const lt_stream_t *st, uint64_t records, const int *present)
{
    lt_store_presence_t p;
    CU_ASSERT_EQUAL_FATAL(lt_store_presence(s, st->id, &p), 0);
    int ok = p.n[0] == records;
    for (int f = 1; f <= 8; f++)
        ok &= p.n[f] == (uint64_t)present[f - 1];
    if (!ok)
        fprintf(stderr, "\n    counts: %llu records, %llu %llu %llu %llu %llu %llu %llu %llu\n",
                (unsigned long long)p.n[0], (unsigned long long)p.n[1], (unsigned long long)p.n[2],
                (unsigned long long)p.n[3], (unsigned long long)p.n[4], (unsigned long long)p.n[5],
                (unsigned long long)p.n[6], (unsigned long long)p.n[7], (unsigned long long)p.n[8]);
    return ok;
}

static void test_presence_counts(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BHXH/insurance_cards"), b = s_stream(s, "other");
    a.last_seq = b.last_seq = 0;
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_put(s, &a, "k1", 0x05, 0); /* fields 1, 3 */
    s_put(s, &a, "k2", 0x01, 1); /* field 1, the others written as defaults */
    s_put(s, &a, "k3", 0x82, 0); /* fields 2, 8 */
    s_put(s, &a, "k3", -1, 0);   /* deleted again */
    s_put(s, &b, "k1", 0xff, 0);
    /* Nothing is counted before the commit. */
    CU_ASSERT(s_counts(s, &a, 0, (const int[8]){0}));
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){2, 0, 1, 0, 0, 0, 0, 0}));
    CU_ASSERT(s_counts(s, &b, 1, (const int[8]){1, 1, 1, 1, 1, 1, 1, 1}));
    /* A rolled back group changes nothing. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_put(s, &a, "k1", 0x02, 0);
    s_put(s, &a, "k2", -1, 0);
    lt_store_rollback(s);
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){2, 0, 1, 0, 0, 0, 0, 0}));
    /* An update moves the fields that differ; a delete takes the record's. */
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_put(s, &a, "k1", 0x06, 0); /* fields 2, 3 */
    s_put(s, &a, "k2", -1, 0);
    s_put(s, &a, "k4", 0x40, 0); /* field 7 */
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){0, 1, 1, 0, 0, 0, 1, 0}));
    /* Outside a transaction a write counts at once; so does a deleted row. */
    s_put(s, &a, "k5", 0x01, 0);
    CU_ASSERT(s_counts(s, &a, 3, (const int[8]){1, 1, 1, 0, 0, 0, 1, 0}));
    CU_ASSERT_EQUAL(lt_store_state_delete(s, a.id, "k5"), 0);
    CU_ASSERT_EQUAL(lt_store_state_delete(s, a.id, "k2"), 0); /* a tombstone: no change */
    CU_ASSERT_EQUAL(lt_store_state_delete(s, a.id, "k9"), 0); /* no row: no change */
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){0, 1, 1, 0, 0, 0, 1, 0}));
    /* Counts are durable, and a replacement carries them to its stream. */
    lt_store_destroy(&s);
    s = s_open();
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){0, 1, 1, 0, 0, 0, 1, 0}));
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_put(s, &b, "k2", 0x01, 0); /* pending when the replacement moves b */
    CU_ASSERT_EQUAL(lt_store_stream_replace(s, a.id, b.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT(s_counts(s, &a, 2, (const int[8]){2, 1, 1, 1, 1, 1, 1, 1}));
    CU_ASSERT(s_counts(s, &b, 0, (const int[8]){0}));
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_clear(s, a.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT(s_counts(s, &a, 0, (const int[8]){0}));
    lt_store_destroy(&s);
}

/* A store of schema version 5 gets the counts in step 6, filled from the
 * records it holds (a live row whose record is missing counts no field). */
/* Undoes schema steps 12 to 7: no subscriber lines, no newest change of the
 * streams, no table of the views' definitions, and the index of live keys
 * over every stream again. */
#define STEP7_UNDO                                                                                 \
    "DROP TABLE subscribers; ALTER TABLE streams DROP COLUMN newest_ms; "                          \
    "DROP TABLE view_defs; DROP INDEX state_held; ALTER TABLE state DROP COLUMN is_view; "         \
    "CREATE INDEX state_held ON state(key) WHERE deleted = 0; "

static void test_migrates_to_presence(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BYT/vaccinations");
    a.last_seq = 0;
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    s_put(s, &a, "k1", 0x05, 0);
    s_put(s, &a, "k2", 0x0f, 1);
    s_put(s, &a, "k3", 0x01, 0);
    s_put(s, &a, "k3", -1, 0);
    s_put(s, &a, "k4", 0x80, 0);
    /* Another stream, whose records share a mask: counted apart. */
    lt_stream_t b = s_stream(s, "VN/GOV/BCA/population");
    b.last_seq = 0;
    s_put(s, &b, "k1", 0x05, 0);
    s_put(s, &b, "k2", 0x05, 1);
    s_put(s, &b, "k3", 0x02, 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    const int want[8] = {2, 1, 2, 1, 0, 0, 0, 1};
    const int want_b[8] = {2, 1, 2, 0, 0, 0, 0, 0};
    CU_ASSERT(s_counts(s, &a, 3, want));
    CU_ASSERT(s_counts(s, &b, 3, want_b));
    lt_store_destroy(&s);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db,
                                 STEP7_UNDO
                                 "DROP TABLE presence; "
                                 "ALTER TABLE state DROP COLUMN fields; PRAGMA user_version = 5;",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    s = s_open();
    CU_ASSERT(s_counts(s, &a, 3, want));
    CU_ASSERT(s_counts(s, &b, 3, want_b));
    /* And counting goes on from there. */
    s_put(s, &a, "k4", 0x01, 0);
    CU_ASSERT(s_counts(s, &a, 3, (const int[8]){3, 1, 2, 1, 0, 0, 0, 0}));
    lt_store_destroy(&s);
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), lt_store_schema_version());
    sqlite3_close(db);
}

/* The streams lt_store_state_held names for key, as a bit per stream id. */
static int s_held_bit(void *arg, int64_t stream)
{
    *(unsigned *)arg |= 1u << stream;
    return 0;
}

static unsigned s_held_set(lt_store_t *s, const char *key)
{
    unsigned set = 0;
    CU_ASSERT_EQUAL(lt_store_state_held(s, key, s_held_bit, &set), 0);
    return set;
}

/* Only a view's live rows are found by key (schema step 7); rows written
 * before the step stay found until written again. */
static void test_held_index_views_only(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t ds = s_stream(s, "VN/GOV/BCA/population");
    lt_stream_t v1 = s_stream(s, "VN/GOV/BCA/population/hanoi");
    lt_stream_t v2 = s_stream(s, "VN/GOV/BCA/population/hue");
    CU_ASSERT_FATAL(ds.id < 30 && v1.id < 30 && v2.id < 30);
    CU_ASSERT_EQUAL(lt_store_state_put(s, ds.id, "k1", 1, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, v1.id, "k1", 1, 0, 0, 1), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, v2.id, "k1", 1, 0, 0, 1), 0);
    CU_ASSERT_EQUAL(s_held_set(s, "k1"), (1u << v1.id) | (1u << v2.id));
    /* A tombstone leaves the index; a view row written again stays. */
    CU_ASSERT_EQUAL(lt_store_state_put(s, v2.id, "k1", 2, 1, 0, 1), 0);
    CU_ASSERT_EQUAL(lt_store_state_put(s, v1.id, "k1", 2, 0, 0, 1), 0);
    CU_ASSERT_EQUAL(s_held_set(s, "k1"), 1u << v1.id);
    CU_ASSERT_EQUAL(s_held_set(s, "k2"), 0);
    lt_store_destroy(&s);
    /* A store from step 6: every live row was in the index, and is still. */
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, STEP7_UNDO "PRAGMA user_version = 6;", NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    s = s_open();
    CU_ASSERT_EQUAL(s_held_set(s, "k1"), (1u << ds.id) | (1u << v1.id));
    CU_ASSERT_EQUAL(lt_store_state_put(s, ds.id, "k1", 2, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(s_held_set(s, "k1"), 1u << v1.id);
    lt_store_destroy(&s);
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), lt_store_schema_version());
    sqlite3_close(db);
}

static void s_count_damage(void *arg, const char *stream, lt_store_finding_t kind, uint64_t first,
                           uint64_t last, const char *why)
{
    (void)stream, (void)why, (void)kind;
    *(uint64_t *)arg += last - first + 1;
}

/* A log pruned below its retained tail (PROTOCOL.md 6.8), or a replica
 * that installed a snapshot at S = 5 (6.7): the rows below the tail are not
 * damage, and the headers of batches ending below it go with them. */
static void test_retained_tail_verify_and_headers(void)
{
    s_fresh();
    const char *name = "VN/GOV/BCA/population";
    char err[300] = "";
    lt_store_t *s = s_open();
    lt_stream_t st = s_stream(s, name);
    for (uint64_t seq = 1; seq <= 10; seq++)
        s_append(s, &st, name, seq, 100);
    st.last_seq = 10;
    lt_store_batch_t b;
    memset(&b, 0, sizeof b);
    b.first_seq = 1, b.last_seq = 5;
    CU_ASSERT_EQUAL(lt_store_batch_put(s, st.id, &b), 0);
    b.first_seq = 6, b.last_seq = 10;
    CU_ASSERT_EQUAL(lt_store_batch_put(s, st.id, &b), 0);
    for (uint64_t seq = 1; seq <= 5; seq++)
        CU_ASSERT_EQUAL(lt_store_log_delete(s, st.id, seq), 0);
    /* Before the tail is recorded, the hole is damage... */
    uint64_t damaged = 0;
    CU_ASSERT(lt_store_verify_stream(s, NULL, NULL, 0, name, &st, 1, s_count_damage, &damaged, err,
                                     sizeof err) > 0);
    CU_ASSERT_EQUAL(damaged, 5 + 10); /* the records, and the unverifiable headers */
    /* ...after it, it is the pruned part of the log. */
    CU_ASSERT_EQUAL(lt_store_tail_set(s, st.id, 6), 0);
    CU_ASSERT_EQUAL(lt_store_batch_prune(s, st.id, 6), 0);
    lt_store_batch_t h;
    CU_ASSERT_EQUAL(lt_store_batch_find(s, st.id, 1, &h), 1);
    CU_ASSERT_EQUAL(h.first_seq, 6);
    damaged = 0;
    CU_ASSERT_EQUAL(lt_store_verify_stream(s, NULL, NULL, 0, name, &st, 1, s_count_damage, &damaged,
                                           err, sizeof err),
                    1); /* only the header of 6..10: no owner key without a directory */
    CU_ASSERT_EQUAL(damaged, 5);
    lt_store_destroy(&s);
}

static int s_def_name(void *arg, const char *name)
{
    snprintf(arg, 64, "%s", name);
    return 0;
}

/* A view's definition (schema step 8): none until recorded, replaced when
 * recorded again, kept across reopening, listed by stream name, and
 * forgotten with the stream's rows. */
static void test_view_defs(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t v = s_stream(s, "DS.v"), d = s_stream(s, "DS");
    uint8_t def[LT_HASH_BYTES], got[LT_HASH_BYTES];
    memset(def, 7, sizeof def);
    CU_ASSERT_EQUAL(lt_store_view_def_get(s, v.id, got), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_view_def_set(s, v.id, def), 0);
    def[0] = 8;
    CU_ASSERT_EQUAL(lt_store_view_def_set(s, v.id, def), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    lt_store_destroy(&s);
    s = s_open();
    CU_ASSERT_EQUAL(lt_store_view_def_get(s, v.id, got), 1);
    CU_ASSERT(memcmp(got, def, sizeof def) == 0);
    CU_ASSERT_EQUAL(lt_store_view_def_get(s, d.id, got), 0);
    char name[64] = "";
    CU_ASSERT_EQUAL(lt_store_view_defs(s, s_def_name, name), 0);
    CU_ASSERT_STRING_EQUAL(name, "DS.v");
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_stream_clear(s, v.id), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    CU_ASSERT_EQUAL(lt_store_view_def_get(s, v.id, got), 0);
    lt_store_destroy(&s);
}

/* ---- rebuilding the file ------------------------------------------------------ */

/* Where the files at the store's path are copied when lt_store_rebuild
 * renames its new file over them: what a kill at that moment would leave.
 * Empty: not copied. */
static char g_crash[340];
static int g_crash_copies;

/* Copies file from to to; a missing from is no error (a WAL that is not
 * there). 0, or -1. */
static int s_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        goto out;
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            goto out;
    rc = n == 0 ? 0 : -1;
out:
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

/* rename(3) for this program: the rebuild's rename of its new file
 * (path.rebuild) over the store is seen here, and the store's file and WAL
 * copied first, as they are on disk at that point. */
int rename(const char *from, const char *to)
{
    size_t n = strlen(from);
    if (g_crash[0] && n > 8 && strcmp(from + n - 8, ".rebuild") == 0) {
        char src[4200], dst[400];
        int ok = 1;
        for (const char *ext = ""; ext; ext = ext[0] ? NULL : "-wal") {
            snprintf(src, sizeof src, "%s%s", to, ext);
            snprintf(dst, sizeof dst, "%s/store.db%s", g_crash, ext);
            ok = ok && s_copy_file(src, dst) == 0;
        }
        g_crash_copies += ok;
    }
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/* Rows of the log table in the store file at path. */
static int64_t s_log_rows(const char *path)
{
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    int64_t n = ut_sql_count(db, "SELECT count(*) FROM log");
    sqlite3_close(db);
    return n;
}

/* Appends records first..last of POP in one transaction. */
static void s_append_committed(lt_store_t *s, lt_stream_t *a, uint64_t first, uint64_t last)
{
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    for (uint64_t seq = first; seq <= last; seq++)
        s_append(s, a, "VN/GOV/BCA/population", seq, 200);
    a->last_seq = last;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, a), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
}

/* A second connection to the store in a read transaction, as a snapshot
 * being sent holds one (lt_store_snap): its snapshot is the store as now. */
static sqlite3 *s_reader(void)
{
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ut_sql_exec(db, "BEGIN");
    (void)ut_sql_count(db, "SELECT count(*) FROM log");
    return db;
}

static void s_reader_end(sqlite3 *db)
{
    ut_sql_exec(db, "COMMIT");
    CU_ASSERT_EQUAL(sqlite3_close(db), SQLITE_OK);
}

/* A new store with records 1 to 6 of a stream, the last committed after
 * *reader began (the reader's snapshot holds records 1 to read_at), and the
 * rebuild's rename watched (g_crash). */
static lt_store_t *s_rebuild_setup(lt_stream_t *a, uint64_t read_at, sqlite3 **reader)
{
    s_fresh();
    lt_store_t *s = s_open();
    *a = s_stream(s, "VN/GOV/BCA/population");
    s_append_committed(s, a, 1, read_at);
    *reader = s_reader();
    if (read_at < 6)
        s_append_committed(s, a, read_at + 1, 6);
    snprintf(g_crash, sizeof g_crash, "%s/crash", g_dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(g_crash, 0700), 0);
    g_crash_copies = 0;
    return s;
}

/* A reader keeps the closing connection from copying the WAL into the
 * file (SQLite checkpoints at the last close only), so the old file's
 * committed transactions may be in its WAL alone when the rebuild swaps
 * the files. A kill just before the new file is renamed in must leave an
 * old file that holds them without its WAL; the rebuilt store holds them
 * too. */
static void test_rebuild_old_file_whole(void)
{
    lt_stream_t a;
    sqlite3 *reader = NULL;
    lt_store_t *s = s_rebuild_setup(&a, 6, &reader);
    char err[512] = "", crashed[400];
    int64_t lost = -1;
    int rc = lt_store_rebuild(s, &lost, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n    rebuild: %s\n", err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT_EQUAL(g_crash_copies, 1);
    g_crash[0] = 0;
    snprintf(crashed, sizeof crashed, "%s/crash/store.db", g_dir);
    CU_ASSERT_EQUAL(s_log_rows(crashed), 6); /* the old file, on its own */
    s_reader_end(reader);
    CU_ASSERT_EQUAL(lt_store_rebuilds(s), 1);
    lt_store_destroy(&s);
    CU_ASSERT_EQUAL(s_log_rows(g_path), 6); /* the new file */
}

/* A reader of an older snapshot pins the frames after it in the WAL: they
 * cannot be copied into the old file, which without its WAL would lose
 * them. The rebuild is refused and the store keeps everything. */
static void test_rebuild_refused_wal_pinned(void)
{
    lt_stream_t a;
    sqlite3 *reader = NULL;
    lt_store_t *s = s_rebuild_setup(&a, 3, &reader);
    char err[512] = "";
    int64_t lost = -1;
    CU_ASSERT_EQUAL(lt_store_rebuild(s, &lost, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "WAL"));
    CU_ASSERT_EQUAL(g_crash_copies, 0); /* no rename tried */
    g_crash[0] = 0;
    CU_ASSERT_EQUAL(lt_store_rebuilds(s), 0);
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(lt_store_get(s, a.id, 6, &rec, &len), 1); /* still usable */
    free(rec);
    s_reader_end(reader);
    lt_store_destroy(&s);
    CU_ASSERT_EQUAL(s_log_rows(g_path), 6);
}

/* ---- subscriber lines (schema step 12) ---- */

#define STEP_SUBSCRIBERS 12

/* What lt_store_subs hands out, copied. */
typedef struct {
    int n;
    char stream[4][64], member[4][64], reason[4][64];
    lt_store_sub_t l[4];
    uint8_t history[4][LT_STORE_HISTORY_BYTES];
} subs_t;

static int s_on_sub(void *arg, const char *stream, const lt_store_sub_t *line)
{
    subs_t *r = arg;
    if (r->n >= 4)
        return -1;
    int i = r->n++;
    snprintf(r->stream[i], sizeof r->stream[i], "%s", stream);
    snprintf(r->member[i], sizeof r->member[i], "%s", line->member);
    snprintf(r->reason[i], sizeof r->reason[i], "%s", line->reason ? line->reason : "(none)");
    r->l[i] = *line;
    if (line->history)
        memcpy(r->history[i], line->history, LT_STORE_HISTORY_BYTES);
    return 0;
}

/* The owner's subscriber lines: saved as a whole, read back with their
 * stream's name; each save replaces what was stored. */
static void test_subscriber_lines(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    uint8_t h[LT_STORE_HISTORY_BYTES];
    memset(h, 0x5c, sizeof h);
    lt_store_sub_t lines[] = {
        {.stream = a.id, .member = "VN/GOV/BHXH", .cursor = 1160, .history = h, .seen_ms = 1000},
        {.stream = a.id,
         .member = "VN/GOV/BYT",
         .cursor = 7,
         .seen_ms = 900,
         .since_ms = 900,
         .reason = "peer lost"},
    };
    CU_ASSERT_EQUAL(lt_store_subs_save(s, lines, 2), 0);
    subs_t r = {0};
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.stream[0], "VN/GOV/BCA/population");
    CU_ASSERT_STRING_EQUAL(r.member[0], "VN/GOV/BHXH");
    CU_ASSERT(r.l[0].cursor == 1160 && r.l[0].seen_ms == 1000 && r.l[0].since_ms == 0);
    CU_ASSERT(r.l[0].history && memcmp(r.history[0], h, sizeof h) == 0);
    CU_ASSERT_STRING_EQUAL(r.reason[0], "(none)");
    CU_ASSERT(r.l[1].cursor == 7 && r.l[1].since_ms == 900 && !r.l[1].history);
    CU_ASSERT_STRING_EQUAL(r.reason[1], "peer lost");
    /* A save replaces every line: one dropped is gone. */
    CU_ASSERT_EQUAL(lt_store_subs_save(s, &lines[1], 1), 0);
    memset(&r, 0, sizeof r);
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &r), 0);
    CU_ASSERT(r.n == 1 && strcmp(r.member[0], "VN/GOV/BYT") == 0);
    CU_ASSERT_EQUAL(lt_store_subs_save(s, lines, 0), 0);
    memset(&r, 0, sizeof r);
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    lt_store_destroy(&s);
}

/* A store of schema 11 gets the table of subscriber lines in step 12 and
 * keeps what it held. (Code that knows fewer steps refuses a store of
 * step 12: test_refuses_newer_schema checks that refusal.) */
static void test_migrates_to_subscriber_lines(void)
{
    s_fresh();
    const char *name = "VN/GOV/BCA/population";
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, name);
    s_append(s, &a, name, 1, 50);
    a.last_seq = 1;
    a.source_cursor = 42;
    CU_ASSERT_EQUAL(lt_store_stream_save(s, &a), 0);
    lt_store_destroy(&s);
    sqlite3 *db = NULL;
    char sql[128];
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    snprintf(sql, sizeof sql, "DROP TABLE subscribers; PRAGMA user_version = %d;",
             STEP_SUBSCRIBERS - 1);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = s_open();
    lt_stream_t st;
    CU_ASSERT_EQUAL(lt_store_stream_find(s, name, &st), 1);
    CU_ASSERT(st.id == a.id && st.last_seq == 1 && st.source_cursor == 42);
    reads_t r;
    CU_ASSERT_EQUAL(s_read(s, &st, name, 50, 1, 64, 1 << 20, &r), 1);
    subs_t got = {0};
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &got), 0);
    CU_ASSERT_EQUAL(got.n, 0);
    lt_store_sub_t line = {.stream = st.id, .member = "VN/GOV/BHXH", .cursor = 1, .seen_ms = 5};
    CU_ASSERT_EQUAL(lt_store_subs_save(s, &line, 1), 0);
    lt_store_destroy(&s);
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(ut_sql_count(db, "PRAGMA user_version"), STEP_SUBSCRIBERS);
    CU_ASSERT_EQUAL(ut_sql_count(db, "SELECT count(*) FROM subscribers"), 1);
    sqlite3_close(db);
}

/* The lines come back newest first (seen_ms), whatever their stream and
 * member: a reader short of room keeps the newest (docs/operations.md
 * "State"); before, they came in (stream, member) order. */
static void test_subscriber_lines_newest_first(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    lt_stream_t b = s_stream(s, "VN/GOV/BCA/residence");
    lt_store_sub_t lines[] = {
        {.stream = a.id,
         .member = "VN/GOV/A",
         .cursor = 1,
         .seen_ms = 100,
         .since_ms = 100,
         .reason = "peer lost"},
        {.stream = a.id, .member = "VN/GOV/B", .cursor = 2, .seen_ms = 300},
        {.stream = b.id,
         .member = "VN/GOV/A",
         .cursor = 3,
         .seen_ms = 200,
         .since_ms = 200,
         .reason = "peer lost"},
        {.stream = b.id, .member = "VN/GOV/C", .cursor = 4, .seen_ms = 400},
    };
    CU_ASSERT_EQUAL(lt_store_subs_save(s, lines, 4), 0);
    subs_t r = {0};
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 4);
    CU_ASSERT(r.l[0].cursor == 4 && r.l[1].cursor == 2 && r.l[2].cursor == 3 && r.l[3].cursor == 1);
    lt_store_destroy(&s);
}

/* Each released schema step's text, pinned by its SHA-256
 * (lt_store_schema_step). A new step is added with its hash; a released
 * step's hash never changes. If this test fails you edited a released
 * step, which stores already past it would never run: add a new step
 * instead (docs/ARCHITECTURE.md 4.1). */
static void test_released_steps_pinned(void)
{
    static const char *const pins[] = {
        /* 1 */ "422f4bd51a82a9f37ec4f018d63807ac2ce7b36ce982ea62480a52ce8e9596fc",
        /* 2 */ "c7edaa61b2584c4c7dd396b7c196c6cb0279f4820b676d633228e26e024fec6d",
        /* 3 */ "df7269144d1ee9647296991a242ac157011a2d7251dbf3957f3579858c146632",
        /* 4 */ "19011f0972c63770b2164c3c82ae81930bae2318466edd1981c6ffb73e50f537",
        /* 5 */ "8f21529a47f2678fcc77c28051f62085008b56d7a77a999ee5d8f53d2b46de1a",
        /* 6 */ "71f4293f4db97284e3c4f182d71546194e48efdc3512af2b34f65fb7487e6d09",
        /* 7 */ "058a3a0702a54e352c83ff3395a8ef267fa241e7b75e6bfe9249236daa1adc10",
        /* 8 */ "d91c15456352609e85a45b05407373ae8ed60de2e522d7f8d1ccad18c1d4ae24",
        /* 9 */ "0b40ffbdbbb873ff2c67e1bef20cd8cce7212895ca0f9ca199ccf70d0e0a925a",
        /* 10 */ "9c52840ac0bf4fee98c01ab555a2fdedf2cbbe7813c83e96938ed9759aa3fcef",
        /* 11 */ "81ef3d5594ff93006c3f333027c06cddffdf275bdaef7b8537e1e02af0c5add1",
        /* 12 */ "0c380a786205a053970977993222ceecc139a2b8f756ab4f5fb564e0c7894b80",
    };
    ut_pin_steps("store schema", lt_store_schema_step, pins, (int)(sizeof pins / sizeof *pins));
}

/* Runs sql on the store's file, closed meanwhile (a damage done by hand). */
static void s_damage(const char *sql)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(g_path, &db) == SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A damaged file holds a NULL where a subscriber line's member must be
 * (its table lost the NOT NULL): that line comes out with member "" (the
 * feed drops it as no subscriber), the other as stored, and the walk
 * succeeds. Before, sqlite3_column_text's NULL went to snprintf's %s. */
static void test_subscriber_line_null_member(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t a = s_stream(s, "VN/GOV/BCA/population");
    lt_store_destroy(&s);
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE subscribers; CREATE TABLE subscribers (stream INTEGER, member TEXT, "
             "cursor INTEGER, history BLOB, seen_ms INTEGER, since_ms INTEGER, reason TEXT); "
             "INSERT INTO subscribers VALUES (%lld, 'VN/GOV/BHXH', 3, NULL, 10, 0, NULL), "
             "(%lld, NULL, 7, NULL, 20, 20, 'peer lost');",
             (long long)a.id, (long long)a.id);
    s_damage(sql);
    s = s_open();
    subs_t r = {0};
    CU_ASSERT_EQUAL(lt_store_subs(s, s_on_sub, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.member[0], "");
    CU_ASSERT(r.l[0].cursor == 7 && r.l[0].since_ms == 20);
    CU_ASSERT_STRING_EQUAL(r.reason[0], "peer lost");
    CU_ASSERT_STRING_EQUAL(r.stream[1], "VN/GOV/BCA/population");
    CU_ASSERT_STRING_EQUAL(r.member[1], "VN/GOV/BHXH");
    CU_ASSERT_STRING_EQUAL(r.reason[1], "(none)");
    lt_store_destroy(&s);
}

/* A damaged file holds a NULL where a stream's name must be (its table
 * lost the NOT NULL): listing the streams, and the views' definitions that
 * name them, reads that one as "" and the others as stored, and succeeds.
 * Before, sqlite3_column_text's NULL went to snprintf's %s. */
static void test_stream_null_name(void)
{
    s_fresh();
    lt_store_t *s = s_open();
    lt_stream_t v = s_stream(s, "DS.v");
    (void)s_stream(s, "DS");
    uint8_t def[LT_HASH_BYTES];
    memset(def, 7, sizeof def);
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(s), 0);
    CU_ASSERT_EQUAL(lt_store_view_def_set(s, v.id, def), 0);
    CU_ASSERT_EQUAL_FATAL(lt_store_commit(s), 0);
    lt_store_destroy(&s);
    /* The damage: the table's definition loses the NOT NULL, its other
     * constraints (the statements the store prepares need them) kept. */
    s_damage("PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, "
             "'name TEXT UNIQUE NOT NULL', 'name TEXT UNIQUE') WHERE name = 'streams'; "
             "PRAGMA writable_schema = OFF;");
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE streams SET name = NULL WHERE id = %lld;", (long long)v.id);
    s_damage(sql);
    s = s_open();
    rows_t r = {.want = "DS"};
    CU_ASSERT_EQUAL(lt_store_streams(s, s_on_row, &r), 0);
    CU_ASSERT(r.n == 2 && r.seen);
    r = (rows_t){.want = ""};
    CU_ASSERT_EQUAL(lt_store_streams(s, s_on_row, &r), 0);
    CU_ASSERT(r.n == 2 && r.seen && r.found.id == v.id);
    char name[64] = "unset";
    CU_ASSERT_EQUAL(lt_store_view_defs(s, s_def_name, name), 0);
    CU_ASSERT_STRING_EQUAL(name, "");
    lt_store_destroy(&s);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a released schema step is never edited (its text's hash is pinned)",
         test_released_steps_pinned},
        {"streams are created on the write path only, and keep their cursors", test_streams},
        {"a view's definition is kept, replaced, listed and cleared with its stream",
         test_view_defs},
        {"a stream two connections open at once is found by the one that did not insert it",
         test_stream_opened_by_two_connections},
        {"reads follow sequence order within a stream and their budgets",
         test_read_order_and_budgets},
        {"sequence numbers up to 2^40 - 1 stay within their stream", test_high_sequence_numbers},
        {"records read back byte for byte; the log never overwrites", test_get_and_no_overwrite},
        {"the state holds the latest seq and tombstone per key and stream", test_state},
        {"nothing is visible before commit; a rollback leaves nothing", test_transactions},
        {"a failed return from relaxed commits is retried before the next write",
         test_relaxed_restored},
        {"a held read snapshot hides later commits until it ends or the connection writes",
         test_read_snapshot},
        {"reopening the store keeps log, state and cursors", test_reopen_keeps_everything},
        {"a missing directory or a non-database file is refused with its path", test_open_errors},
        {"a store made by the previous schema is migrated and keeps everything",
         test_migrates_older_schema},
        {"a store of a newer schema is refused, naming both versions", test_refuses_newer_schema},
        {"a backup's store with objects a store of its version does not have is refused",
         test_schema_check},
        {"opening an existing store for inspection never migrates it",
         test_open_existing_never_migrates},
        {"a record edited behind the store's back is never read", test_damaged_record_never_read},
        {"a scan counts a damaged row it skips, and tells the last row examined",
         test_scan_counts_damaged},
        {"checksums are the leaf with the row id folded in; the older form still reads",
         test_checksum_forms},
        {"streams get a history, random or given, kept apart from the cursor", test_histories},
        {"kept batch headers keep the history their header bound, or none", test_batch_histories},
        {"replacing a stream moves log, state, cursor and history in one transaction",
         test_replace},
        {"a stream with a damaged log row is not moved: the move would hide the damage",
         test_replace_refuses_damaged},
        {"a stream does not replace itself: refused, nothing cleared", test_replace_refuses_itself},
        {"a stream's newest change rises at the commit, moves with its rows, clears with them",
         test_newest_change},
        {"a store from before history ids gets them in step 3, then the later steps",
         test_migrates_to_histories},
        {"verify starts at the retained tail; headers below it are pruned",
         test_retained_tail_verify_and_headers},
        {"completeness counts follow updates and deletes, commit with the state, survive "
         "reopening, move with a replacement",
         test_presence_counts},
        {"a store of schema 5 gets completeness counts from its records in step 6",
         test_migrates_to_presence},
        {"only a view's live rows are found by key; a store of schema 6 keeps its index "
         "until rows are written again (step 7)",
         test_held_index_views_only},
        {"the owner's subscriber lines are saved as a whole and read back with their stream",
         test_subscriber_lines},
        {"a store of schema 11 gets the subscriber lines in step 12 and keeps its streams",
         test_migrates_to_subscriber_lines},
        {"subscriber lines are read newest first", test_subscriber_lines_newest_first},
        {"a subscriber line whose member a damaged file holds as NULL is read with \"\"",
         test_subscriber_line_null_member},
        {"a stream whose name a damaged file holds as NULL is listed, and its view, with \"\"",
         test_stream_null_name},
        {"a rebuild leaves the old file whole without its WAL before the new one comes",
         test_rebuild_old_file_whole},
        {"a rebuild whose WAL a reader pins is refused; the store keeps everything",
         test_rebuild_refused_wal_pinned},
        {NULL, NULL},
    };
    int rc = ut_main("lt_store", NULL, NULL, tests);
    if (g_dir[0])
        ut_rmrf(g_dir);
    return rc;
}
