/* lt_store_verify: two passes per stream. Records: each read verifies the
 * record's checksum (lt_store_read), and every damaged run is reported.
 * Batches (replicas only): each kept header is rebuilt into H with the
 * Merkle root of the stored records and verified under the owner's key,
 * each prev hash must be the batch_hash of the batch before it, and the
 * last batch_hash must be the stream's cursor hash (PROTOCOL.md 6.3, 6.5).
 * Both start at the stream's retained tail (6.8, 6.10). */
#include "lt_store_verify.h"

#include "lt_batch.h"
#include "lt_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An lt_store_rec_fn gathering one batch's records. */
static int s_collect(void *arg, uint64_t seq, const void *rec, size_t len,
                     const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    (void)seq;
    return lt_batch_recs_add(arg, rec, len);
}

static int s_count(void *arg, uint64_t seq, const void *rec, size_t len,
                   const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    (void)arg, (void)seq, (void)rec, (void)len;
    return 0;
}

/* Records pass: reports each run of damaged records from `from`. */
static int s_records(lt_store_t *store, const char *name, const lt_stream_t *st, uint64_t from,
                     lt_store_damage_fn fn, void *arg, char *err, size_t errlen)
{
    uint64_t seq = from, run_first = 0, run_last = 0;
    int found = 0;
    char why[64] = "";
    while (seq <= st->last_seq) {
        int n = lt_store_read(store, st->id, seq, 4096, (size_t)-1, s_count, NULL);
        if (n == LT_STORE_DAMAGED) {
            uint64_t d = lt_store_damaged_seq(store);
            if (run_first && d == run_last + 1) {
                run_last = d;
            } else {
                if (run_first)
                    fn(arg, name, LT_STORE_DAMAGED_RANGE, run_first, run_last, why), found++;
                run_first = run_last = d;
                snprintf(why, sizeof why, "%s", lt_store_damaged_why(store));
            }
            seq = d + 1;
            continue;
        }
        if (run_first)
            fn(arg, name, LT_STORE_DAMAGED_RANGE, run_first, run_last, why), found++;
        run_first = 0;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read from %llu: %s", name, (unsigned long long)seq,
                     lt_store_error(store));
            return -1;
        }
        if (n == 0) {
            fn(arg, name, LT_STORE_DAMAGED_RANGE, seq, st->last_seq,
               "records missing below the cursor"),
                found++;
            break;
        }
        seq += (uint64_t)n;
    }
    if (run_first)
        fn(arg, name, LT_STORE_DAMAGED_RANGE, run_first, run_last, why), found++;
    return found;
}

/* The owner of stream in dir, or NULL. */
static const Lienthong__Member *s_owner(const lt_dir_t *dir, const char *stream)
{
    const Lienthong__Dataset *ds = lt_dir_dataset_of(dir, stream);
    return ds ? lt_dir_member(dir, ds->owner) : NULL;
}

/* Verifies kept batch h over the stored records; writes its batch_hash.
 * 0 sound, 1 records unreadable (already reported), 2 does not verify. */
static int s_batch(lt_store_t *store, const char *name, const lt_stream_t *st,
                   const lt_store_batch_t *h, const Lienthong__Member *owner, lt_batch_recs_t *r,
                   uint8_t hash[32])
{
    char why[300];
    lt_batch_recs_reset(r);
    size_t want = (size_t)(h->last_seq - h->first_seq + 1);
    if (h->last_seq < h->first_seq || want > LT_BATCH_MAX_RECORDS)
        return 2;
    int n = lt_store_read(store, st->id, h->first_seq, want, (size_t)-1, s_collect, r);
    if (n < 0 || (size_t)n != want)
        return 1;
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = (char *)name;
    b.first_seq = h->first_seq;
    b.n_records = r->n;
    b.records = r->recs;
    b.signature.data = (uint8_t *)h->signature;
    b.signature.len = LT_SIG_BYTES;
    /* H binds the history the batch was signed on (PROTOCOL.md 6.9). */
    if (h->has_history) {
        b.history_id.data = (uint8_t *)h->history;
        b.history_id.len = LT_HISTORY_BYTES;
    }
    /* Either of the owner's signing keys during a rotation (PROTOCOL.md 5.5). */
    const uint8_t *keys[2];
    size_t n_keys = lt_dir_signing_keys(owner, keys);
    for (size_t i = 0; i < n_keys; i++)
        if (lt_batch_verify(&b, name, h->first_seq, h->prev_hash, keys[i], hash, why, sizeof why) ==
            0)
            return 0;
    return 2;
}

/* The stream whose batches row name holds: a resynchronisation's copy
 * (PROTOCOL.md 6.9) holds its stream's, signed under the stream's name. */
static const char *s_signed_name(const char *name)
{
    size_t n = strlen(LT_HISTORY_SHADOW_PREFIX);
    return strncmp(name, LT_HISTORY_SHADOW_PREFIX, n) == 0 ? name + n : name;
}

/* Batches pass: each kept header from the one holding `from`. */
static int s_batches(lt_store_t *store, const lt_dir_t *dir, const char *name,
                     const lt_stream_t *st, uint64_t from, lt_store_damage_fn fn, void *arg,
                     char *err, size_t errlen)
{
    lt_store_batch_t h;
    lt_batch_recs_t *r = calloc(1, sizeof *r);
    uint8_t hash[LT_HASH_BYTES], prev[LT_HASH_BYTES];
    int found = 0, have_prev = 0, rc;
    const Lienthong__Member *pk = s_owner(dir, s_signed_name(name));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t seq = from;
    while ((rc = lt_store_batch_find(store, st->id, seq, &h)) == 1 && h.first_seq <= st->last_seq) {
        if (!pk) {
            fn(arg, name, LT_STORE_DAMAGED_RANGE, h.first_seq, st->last_seq,
               "the owner's signing key is not in the "
               "directory: batches not verified"),
                found++;
            break;
        }
        int v = s_batch(store, s_signed_name(name), st, &h, pk, r, hash);
        if (v == 2)
            fn(arg, name, LT_STORE_DAMAGED_RANGE, h.first_seq, h.last_seq,
               "the owner's signature does not verify"),
                found++;
        else if (v == 0 && have_prev && memcmp(h.prev_hash, prev, LT_HASH_BYTES) != 0)
            fn(arg, name, LT_STORE_DAMAGED_RANGE, h.first_seq, h.last_seq,
               "the hash chain is broken before it"),
                found++;
        else if (v == 0 && h.last_seq == st->last_seq &&
                 memcmp(hash, st->last_hash, LT_HASH_BYTES) != 0)
            fn(arg, name, LT_STORE_DAMAGED_RANGE, h.first_seq, h.last_seq,
               "it does not chain to the cursor"),
                found++;
        have_prev = v == 0;
        memcpy(prev, hash, LT_HASH_BYTES);
        seq = h.last_seq + 1;
    }
    free(r->buf);
    free(r);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot read batch headers: %s", name, lt_store_error(store));
        return -1;
    }
    return found;
}

int lt_store_verify_stream(lt_store_t *store, const lt_dir_t *dir, const char *name,
                           const lt_stream_t *st, uint64_t from, lt_store_damage_fn fn, void *arg,
                           char *err, size_t errlen)
{
    /* The log starts at the retained tail (PROTOCOL.md 6.8, 6.10): below it
     * only the state's rows remain, and a replica that installed a snapshot
     * at S keeps no batch headers through S (its tail starts at S + 1). */
    uint64_t first;
    if (lt_store_tail_first(store, st->id, &first) != 0) {
        snprintf(err, errlen, "%s: cannot read the retained tail: %s", name, lt_store_error(store));
        return -1;
    }
    if (!from || from < first)
        from = first;
    int a = s_records(store, name, st, from, fn, arg, err, errlen);
    if (a < 0)
        return -1;
    int b = s_batches(store, dir, name, st, from, fn, arg, err, errlen);
    return b < 0 ? -1 : a + b;
}

typedef struct {
    const lt_dir_t *dir;
    lt_store_damage_fn fn;
    void *arg;
    char *err;
    size_t errlen;
    lt_store_t *store;
    int found;
} all_t;

static int s_one(void *arg, const char *name, const lt_stream_t *st)
{
    all_t *a = arg;
    int n = lt_store_verify_stream(a->store, a->dir, name, st, 1, a->fn, a->arg, a->err, a->errlen);
    if (n < 0)
        return -1;
    a->found += n;
    return 0;
}

int lt_store_verify_all(lt_store_t *store, const lt_dir_t *dir, lt_store_damage_fn fn, void *arg,
                        char *err, size_t errlen)
{
    all_t a = {dir, fn, arg, err, errlen, store, 0};
    err[0] = '\0';
    int rc = lt_store_streams(store, s_one, &a);
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "cannot list streams: %s", lt_store_error(store));
    return rc != 0 ? -1 : a.found;
}
