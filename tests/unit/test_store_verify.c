/* test_store_verify: CUnit suite for gateway/lt_store_verify, the check
 * that a replica's store proves its content (docs/ARCHITECTURE.md 4.2,
 * PROTOCOL.md 6.10), across an owner's key rotation (5.5).
 *
 * A replica holds batches of the owner signed with its first key, then,
 * after the rotation, with its second; the directory lists the second key
 * only. Proves: batches of the retired key that a batch of the current key
 * chains back to are sound; those after the last batch of the current key
 * are damage, even when their chain ends at the cursor's hash (the cursor
 * is a column of the same store: a record changed with its checksum and
 * the cursor rewritten to match must not pass); records changed behind
 * their checksums, a broken chain, a chain that misses the cursor and a
 * malformed header are damage, in batches of either key. */
#include "unit_sqlite.h" /* first: it sets the feature macros */

#include "lt_batch.h"
#include "lt_store.h"
#include "lt_store_verify.h"
#include "owner_directory.h"

#include <sodium.h>

#define PER_BATCH   4
#define MAX_BATCHES 8

static struct {
    char tmp[256];
    lt_keys_t *old_key, *new_key, *other, *auth;
    lt_dir_t *dir_old, *dir_new; /* listing the owner's first, its second key */
    uint8_t history[LT_HISTORY_BYTES];
} G;

/* One replica: its store, its stream's row and cursor, and the hash after
 * each batch. */
typedef struct {
    lt_store_t *store;
    lt_stream_t st;
    size_t n;
    uint8_t hash[MAX_BATCHES][LT_HASH_BYTES];
} rep_t;

/* What one verification found: the damaged ranges, the first and last
 * record of the first and the last record of the last; the ranges proven
 * under a retired key, the first and last record of the last; and any
 * other kind of finding. */
typedef struct {
    int damaged, retired, other;
    uint64_t damaged_first, first_last, damaged_last, retired_first, retired_last;
} found_t;

static void s_found(void *arg, const char *stream, lt_store_finding_t kind, uint64_t first,
                    uint64_t last, const char *why)
{
    found_t *f = arg;
    (void)stream, (void)why;
    if (kind == LT_STORE_KEY_RETIRED) {
        f->retired++;
        f->retired_first = first;
        f->retired_last = last;
        return;
    }
    if (kind != LT_STORE_DAMAGED_RANGE) {
        f->other++;
        return;
    }
    if (!f->damaged++) {
        f->damaged_first = first;
        f->first_last = last;
    }
    f->damaged_last = last;
}

static size_t s_rec(uint8_t *buf, size_t cap, uint64_t seq, char mark)
{
    return (size_t)snprintf((char *)buf, cap, "record %llu of the population %c",
                            (unsigned long long)seq, mark);
}

/* A fresh replica, its stream created. */
static int s_open(rep_t *r)
{
    char path[300], err[512] = "";
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    const char *files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", G.tmp, files[i]);
        (void)unlink(p);
    }
    r->store = lt_store_open(path, err, sizeof err);
    if (!r->store)
        fprintf(stderr, "\n    open: %s\n", err);
    return r->store && lt_store_stream(r->store, OD_POP, &r->st) == 0 ? 0 : -1;
}

/* Applies the next batch, signed with key, as a replica keeps it: records,
 * header and cursor. */
static void s_apply(rep_t *r, const lt_keys_t *key)
{
    static const uint8_t zero[LT_HASH_BYTES];
    uint8_t bytes[PER_BATCH][128];
    ProtobufCBinaryData recs[PER_BATCH];
    lt_store_batch_t h;
    uint64_t first = r->n * PER_BATCH + 1;
    CU_ASSERT_FATAL(r->n < MAX_BATCHES);
    memset(&h, 0, sizeof h);
    for (size_t i = 0; i < PER_BATCH; i++) {
        recs[i].data = bytes[i];
        recs[i].len = s_rec(bytes[i], sizeof bytes[i], first + i, 'a');
        CU_ASSERT_FATAL(lt_store_append(r->store, r->st.id, first + i, recs[i].data, recs[i].len) ==
                        0);
    }
    h.first_seq = first;
    h.last_seq = first + PER_BATCH - 1;
    memcpy(h.prev_hash, r->n ? r->hash[r->n - 1] : zero, LT_HASH_BYTES);
    memcpy(h.history, G.history, LT_HISTORY_BYTES);
    h.has_history = 1;
    CU_ASSERT_FATAL(lt_batch_root(recs, PER_BATCH, h.root) == 0);
    CU_ASSERT_FATAL(lt_batch_sign_history(key, OD_POP, G.history, first, recs, PER_BATCH,
                                          h.prev_hash, h.signature, r->hash[r->n]) == 0);
    CU_ASSERT_FATAL(lt_store_batch_put(r->store, r->st.id, &h) == 0);
    r->st.last_seq = h.last_seq;
    memcpy(r->st.last_hash, r->hash[r->n], LT_HASH_BYTES);
    r->n++;
}

/* Changes the record at seq with a fresh checksum: only the owner's
 * signature and the chain can tell. */
static void s_change(rep_t *r, uint64_t seq)
{
    uint8_t buf[128];
    size_t len = s_rec(buf, sizeof buf, seq, 'b');
    CU_ASSERT_FATAL(lt_store_replace(r->store, r->st.id, seq, buf, len) == 0);
}

/* Rewrites one byte of the record at seq behind the store's back: its
 * checksum fails (SQLite's own checks still pass). */
static void s_edit(rep_t *r, uint64_t seq)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    ut_sql_damage_record(path, r->st.id, seq);
}

/* Verifies r's stream from `from` under dir and the retired directories
 * (n of them). */
static found_t s_verify_with(rep_t *r, const lt_dir_t *dir, lt_dir_t *const *retired, size_t n_ret,
                             uint64_t from)
{
    found_t f;
    char err[300] = "";
    memset(&f, 0, sizeof f);
    int n = lt_store_verify_stream(r->store, dir, retired, n_ret, OD_POP, &r->st, from, s_found, &f,
                                   err, sizeof err);
    if (n < 0)
        fprintf(stderr, "\n    verify: %s\n", err);
    CU_ASSERT_EQUAL(n, f.damaged);
    return f;
}

static found_t s_verify(rep_t *r, const lt_dir_t *dir, uint64_t from)
{
    return s_verify_with(r, dir, NULL, 0, from);
}

static int suite_init(void)
{
    char err[1024] = "";
    if (sodium_init() < 0 || ut_mkdtemp(G.tmp, sizeof G.tmp, "storeverify") != 0 ||
        !(G.old_key = lt_keys_new(LT_KEYS_MEMBER)) || !(G.new_key = lt_keys_new(LT_KEYS_MEMBER)) ||
        !(G.other = lt_keys_new(LT_KEYS_MEMBER)) || !(G.auth = lt_keys_new(LT_KEYS_AUTHORITY)) ||
        !(G.dir_old =
              od_directory_keyed(G.tmp, G.old_key, G.other, G.auth, "", "", err, sizeof err)) ||
        !(G.dir_new =
              od_directory_keyed(G.tmp, G.new_key, G.other, G.auth, "", "", err, sizeof err))) {
        fprintf(stderr, "test_store_verify: %s\n", err[0] ? err : "set-up failed");
        return -1;
    }
    randombytes_buf(G.history, sizeof G.history);
    return 0;
}

static int suite_clean(void)
{
    lt_dir_destroy(&G.dir_old);
    lt_dir_destroy(&G.dir_new);
    lt_keys_destroy(&G.old_key);
    lt_keys_destroy(&G.new_key);
    lt_keys_destroy(&G.other);
    lt_keys_destroy(&G.auth);
    (void)ut_rmrf(G.tmp);
    return 0;
}

/* ---- cases ------------------------------------------------------------------- */

/* Three batches of the first key, two of the second: the second key's
 * batches chain back to the first three, which are sound, over the whole
 * stream and over a tail that starts inside them. */
static void test_old_batches_chained_to_new_key(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    s_apply(&r, G.new_key);
    s_apply(&r, G.new_key);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 0);
    CU_ASSERT_EQUAL(f.other, 0);
    f = s_verify(&r, G.dir_new, PER_BATCH + 2);
    CU_ASSERT_EQUAL(f.damaged, 0);
    CU_ASSERT_EQUAL(f.other, 0);
    /* Under the first key alone: the first three verify, the last two
     * follow on them but nothing proves them. */
    f = s_verify(&r, G.dir_old, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 3 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.damaged_last, 5 * PER_BATCH);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* The owner has published nothing since its rotation: no batch of a key
 * the directory lists proves its batches, which chain to the cursor. They
 * are damage: the chain to the cursor proves nothing by itself. */
static void test_old_batches_up_to_cursor(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 1);
    CU_ASSERT_EQUAL(f.damaged_last, 3 * PER_BATCH);
    f = s_verify(&r, G.dir_new, 2 * PER_BATCH + 1); /* a tail check's window */
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* The batch_hash of kept batch h over its records after s_change(changed),
 * as one who rewrites the store computes it. */
static void s_rehash(const lt_store_batch_t *h, uint64_t changed, uint8_t hash[LT_HASH_BYTES])
{
    uint8_t bytes[PER_BATCH][128], root[LT_HASH_BYTES];
    ProtobufCBinaryData recs[PER_BATCH];
    size_t len;
    for (size_t i = 0; i < PER_BATCH; i++) {
        uint64_t seq = h->first_seq + i;
        recs[i].data = bytes[i];
        recs[i].len = s_rec(bytes[i], sizeof bytes[i], seq, seq == changed ? 'b' : 'a');
    }
    CU_ASSERT_FATAL(lt_batch_root(recs, PER_BATCH, root) == 0);
    uint8_t *H =
        lt_batch_header(OD_POP, G.history, h->first_seq, h->last_seq, h->prev_hash, root, &len);
    CU_ASSERT_FATAL(H != NULL);
    lt_crypto_hash(H, len, hash);
    free(H);
}

/* A fresh replica of three batches signed with key, the last of them
 * changed as one who can write the store would: a record with a fresh
 * checksum and the cursor hash rewritten to the batch_hash over it. */
static void s_open_tampered(rep_t *r, const lt_keys_t *key)
{
    lt_store_batch_t h;
    CU_ASSERT_FATAL(s_open(r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(r, key);
    s_change(r, 3 * PER_BATCH - 1);
    CU_ASSERT_FATAL(lt_store_batch_find(r->store, r->st.id, 3 * PER_BATCH, &h) == 1);
    s_rehash(&h, 3 * PER_BATCH - 1, r->st.last_hash);
    CU_ASSERT(memcmp(r->st.last_hash, r->hash[2], LT_HASH_BYTES) != 0);
}

/* The same with instead one byte of the last batch's signature flipped. */
static void s_open_flipped(rep_t *r, const lt_keys_t *key)
{
    lt_store_batch_t h;
    CU_ASSERT_FATAL(s_open(r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(r, key);
    CU_ASSERT_FATAL(lt_store_batch_find(r->store, r->st.id, 3 * PER_BATCH, &h) == 1);
    h.signature[7] ^= 1;
    CU_ASSERT_FATAL(lt_store_batch_put(r->store, r->st.id, &h) == 0);
}

/* An owner that never rotated: a record of its last batch changed with a
 * fresh checksum, and the stream's cursor hash rewritten to the batch_hash
 * over the changed records, both in the replica's store. The chain then
 * ends at the cursor, but the owner never signed those records: damage.
 * So is a last batch whose kept signature has one byte flipped. */
static void test_tampered_tail_with_cursor(void)
{
    rep_t r;
    s_open_tampered(&r, G.new_key);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.other, 0);
    f = s_verify(&r, G.dir_new, 2 * PER_BATCH + 1); /* a tail check's window */
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
    /* A flipped byte in the last batch's kept signature. */
    s_open_flipped(&r, G.new_key);
    f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* A kept header rewritten to first_seq 0, or to a range that does not
 * follow on the header before it, is malformed: damage, reported with the
 * records it names. */
static void test_malformed_first_seq(void)
{
    static const uint64_t firsts[] = {0, 2 * PER_BATCH + 2, 2 * PER_BATCH};
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        rep_t r;
        lt_store_batch_t h;
        CU_ASSERT_FATAL(s_open(&r) == 0);
        for (int b = 0; b < 3; b++)
            s_apply(&r, G.new_key);
        CU_ASSERT_FATAL(lt_store_batch_find(r.store, r.st.id, 3 * PER_BATCH, &h) == 1);
        h.first_seq = firsts[i];
        CU_ASSERT_FATAL(lt_store_batch_put(r.store, r.st.id, &h) == 0);
        found_t f = s_verify(&r, G.dir_new, 1);
        CU_ASSERT_EQUAL(f.damaged, 1);
        CU_ASSERT_EQUAL(f.damaged_last, 3 * PER_BATCH);
        CU_ASSERT_EQUAL(f.other, 0);
        lt_store_destroy(&r.store);
    }
    /* The first header of the stream too. */
    rep_t r;
    lt_store_batch_t h;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int b = 0; b < 3; b++)
        s_apply(&r, G.new_key);
    CU_ASSERT_FATAL(lt_store_batch_find(r.store, r.st.id, 1, &h) == 1);
    h.first_seq = 0;
    CU_ASSERT_FATAL(lt_store_batch_put(r.store, r.st.id, &h) == 0);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT(f.damaged >= 1);
    CU_ASSERT_EQUAL(f.damaged_last, PER_BATCH);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* A record of a retired key's batch changed behind its checksum breaks the
 * chain the later batch proves: damage, however the batches are signed. */
static void test_changed_record_before_new_key(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    s_apply(&r, G.new_key);
    s_change(&r, PER_BATCH + 2);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT(f.damaged >= 1);
    CU_ASSERT(f.damaged_first <= PER_BATCH + 2);
    CU_ASSERT_EQUAL(f.other, 0);
    /* And under the key that signed it, as before the rotation. */
    f = s_verify(&r, G.dir_old, 1);
    CU_ASSERT(f.damaged >= 1);
    CU_ASSERT_EQUAL(f.damaged_first, PER_BATCH + 1);
    lt_store_destroy(&r.store);
}

/* The same in the batches after the last one of a current key: the chain
 * to the cursor breaks, so they are damage, not a retired key. */
static void test_changed_record_up_to_cursor(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    s_change(&r, 3 * PER_BATCH);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT(f.damaged_first <= 3 * PER_BATCH);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* A record failing its checksum in a retired-key batch is damage (the
 * records pass); the chain goes on through the root kept in its header, so
 * the batches before it are still proven by the current key's batch. A
 * signature damaged in a header the chain proves is not damage: the
 * records are proven all the same. */
static void test_checksum_and_signature_before_new_key(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    s_apply(&r, G.new_key);
    s_edit(&r, PER_BATCH + 2);
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, PER_BATCH + 2);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_batch_t h;
    CU_ASSERT_FATAL(lt_store_batch_find(r.store, r.st.id, 1, &h) == 1);
    h.signature[0] ^= 1;
    CU_ASSERT_FATAL(lt_store_batch_put(r.store, r.st.id, &h) == 0);
    f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.other, 0);
    /* A changed prev hash breaks the chain there: the batch before it is
     * no longer proven. */
    CU_ASSERT_FATAL(lt_store_batch_find(r.store, r.st.id, 2 * PER_BATCH + 1, &h) == 1);
    h.prev_hash[0] ^= 1;
    CU_ASSERT_FATAL(lt_store_batch_put(r.store, r.st.id, &h) == 0);
    f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT(f.damaged >= 2);
    lt_store_destroy(&r.store);
}

/* A batch of a current key whose header does not follow on the batch
 * before it, and a last batch that does not chain to the cursor: damage. */
static void test_broken_chain_and_cursor(void)
{
    rep_t r;
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 2; i++)
        s_apply(&r, G.old_key);
    s_apply(&r, G.new_key);
    r.st.last_hash[0] ^= 1;
    found_t f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
    /* Retired-key batches up to a cursor they do not chain to. */
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 2; i++)
        s_apply(&r, G.old_key);
    r.st.last_hash[0] ^= 1;
    f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 1);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);
}

/* The directory that listed the owner's first key, kept as retired: the
 * batches of that key up to the cursor verify under it and are reported
 * as such, not damaged, over the whole stream and a tail check's window;
 * followed by a batch of the current key, they are proven and not
 * reported. A record changed with the cursor rewritten, or a flipped
 * signature byte, is still damage. A directory listing another member's
 * key under the owner's id is not the owner's: the lookup is by id in
 * each directory, so a key of another member proves nothing. */
static void test_retired_directory_proves(void)
{
    rep_t r;
    lt_dir_t *retired[] = {G.dir_old};
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 3; i++)
        s_apply(&r, G.old_key);
    found_t f = s_verify_with(&r, G.dir_new, retired, 1, 1);
    CU_ASSERT_EQUAL(f.damaged, 0);
    CU_ASSERT_EQUAL(f.retired, 1);
    CU_ASSERT_EQUAL(f.retired_first, 1);
    CU_ASSERT_EQUAL(f.retired_last, 3 * PER_BATCH);
    f = s_verify_with(&r, G.dir_new, retired, 1, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.damaged, 0);
    CU_ASSERT_EQUAL(f.retired, 1);
    CU_ASSERT_EQUAL(f.retired_first, 2 * PER_BATCH + 1);
    /* Without it, damage (part of the same store otherwise). */
    f = s_verify(&r, G.dir_new, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.retired, 0);
    /* A batch of the current key after them: nothing to report. */
    s_apply(&r, G.new_key);
    f = s_verify_with(&r, G.dir_new, retired, 1, 1);
    CU_ASSERT_EQUAL(f.damaged, 0);
    CU_ASSERT_EQUAL(f.retired, 0);
    CU_ASSERT_EQUAL(f.other, 0);
    lt_store_destroy(&r.store);

    /* The tampered tail with the cursor rewritten, under the retired key. */
    s_open_tampered(&r, G.old_key);
    f = s_verify_with(&r, G.dir_new, retired, 1, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f.retired, 1);
    CU_ASSERT_EQUAL(f.retired_last, 2 * PER_BATCH);
    lt_store_destroy(&r.store);

    /* A flipped signature byte in the last batch. */
    s_open_flipped(&r, G.old_key);
    f = s_verify_with(&r, G.dir_new, retired, 1, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.damaged_first, 2 * PER_BATCH + 1);
    lt_store_destroy(&r.store);

    /* Batches signed by another member's key: its listing in a retired
     * directory, under its own id, proves nothing for the owner. */
    CU_ASSERT_FATAL(s_open(&r) == 0);
    for (int i = 0; i < 2; i++)
        s_apply(&r, G.other);
    f = s_verify_with(&r, G.dir_new, retired, 1, 1);
    CU_ASSERT_EQUAL(f.damaged, 1);
    CU_ASSERT_EQUAL(f.retired, 0);
    lt_store_destroy(&r.store);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"retired-key batches a current key's batch chains back to are sound",
         test_old_batches_chained_to_new_key},
        {"retired-key batches up to the cursor, nothing after them signed: damage",
         test_old_batches_up_to_cursor},
        {"a tail changed with the cursor hash rewritten to match is damage",
         test_tampered_tail_with_cursor},
        {"a kept header with first_seq 0 or off the header before it is damage",
         test_malformed_first_seq},
        {"a retired directory's key of the owner proves its batches; tampering is damage",
         test_retired_directory_proves},
        {"a record changed in a retired-key batch before a current one is damage",
         test_changed_record_before_new_key},
        {"a record changed in a retired-key batch up to the cursor is damage",
         test_changed_record_up_to_cursor},
        {"a checksum failing in a retired-key batch is damage; the chain goes on through it",
         test_checksum_and_signature_before_new_key},
        {"a broken chain or a chain missing the cursor is damage", test_broken_chain_and_cursor},
        {NULL, NULL},
    };
    return ut_main("lt_store_verify", suite_init, suite_clean, tests);
}
