/* lt_store_verify: two passes per stream. Records: each read verifies the
 * record's checksum (lt_store_read), and every damaged run is reported.
 * Batches (replicas only): each kept header is rebuilt into H with the
 * Merkle root of the stored records; a batch is proven by its signature
 * under the owner's keys in the directory, or by a proven batch after it
 * chaining back to it; each prev hash must be the batch_hash of the batch
 * before it, and the last batch_hash must be the stream's cursor hash
 * (PROTOCOL.md 6.3, 6.5, 6.10). A batch that nothing proves is damage,
 * the batches after the owner's last verifying batch too (s_walk_end says
 * why); one that verifies only under a key of the owner that a retired
 * directory lists is proven, and reported when no batch of a current key
 * follows it. Both start at the stream's retained tail (6.8, 6.10). */
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

/* What the batches pass makes of one kept header (PROTOCOL.md 6.3). */
typedef enum {
    B_SIGNED,   /* its signature verifies under a signing key of the owner */
    B_RETIRED,  /* it does under one a retired directory lists for the owner */
    B_UNSIGNED, /* it does not; its batch_hash is known */
    B_BAD       /* its header is malformed: no batch_hash, or its range does not
                 * follow on the header before it */
} batch_is_t;

/* Rebuilds H of kept batch h, over the Merkle root of the stored records,
 * or, when they cannot be read (the records pass reported them), over the
 * root kept in h, so that the chain can still be followed through it;
 * writes its batch_hash. prev_last is the last record of the header before
 * h, 0 for none: batches cover the log without gap or overlap, from record
 * 1 (PROTOCOL.md 6.3). */
/* The keys the owner holds (what) is tried against, then those retired
 * directories list for it (PROTOCOL.md 5.5). */
typedef struct {
    const Lienthong__Member *owner;
    lt_dir_t *const *retired;
    size_t n_retired;
} keys_t;

static int s_verify_under(const Lienthong__Member *m, const char *name, const uint8_t *history,
                          const lt_store_batch_t *h, const uint8_t root[LT_HASH_BYTES],
                          uint8_t hash[LT_HASH_BYTES])
{
    /* Either of the member's signing keys during a rotation (5.5). */
    const uint8_t *keys[2];
    size_t n_keys = m ? lt_dir_signing_keys(m, keys) : 0;
    for (size_t i = 0; i < n_keys; i++)
        if (lt_batch_verify_in(keys[i], LT_BATCH_DOMAIN, name, history, h->first_seq, h->last_seq,
                               h->prev_hash, root, h->signature, hash) == 0)
            return 0;
    return -1;
}

static batch_is_t s_batch(lt_store_t *store, const char *name, const lt_stream_t *st,
                          const lt_store_batch_t *h, uint64_t prev_last, const keys_t *k,
                          lt_batch_recs_t *r, uint8_t hash[LT_HASH_BYTES])
{
    uint8_t root[LT_HASH_BYTES];
    lt_batch_recs_reset(r);
    size_t want = (size_t)(h->last_seq - h->first_seq + 1);
    if (h->first_seq == 0 || h->last_seq < h->first_seq || want > LT_BATCH_MAX_RECORDS ||
        (prev_last && h->first_seq != prev_last + 1))
        return B_BAD;
    int n = lt_store_read(store, st->id, h->first_seq, want, (size_t)-1, s_collect, r);
    if (n < 0 || (size_t)n != want || lt_batch_recs_root(r, root) != 0)
        memcpy(root, h->root, LT_HASH_BYTES);
    /* H binds the history the batch was signed on (PROTOCOL.md 6.9). */
    const uint8_t *history = h->has_history ? h->history : NULL;
    if (s_verify_under(k->owner, name, history, h, root, hash) == 0)
        return B_SIGNED;
    /* The same member, by id, in a directory the authority signed. */
    for (size_t i = 0; i < k->n_retired; i++)
        if (s_verify_under(lt_dir_member(k->retired[i], k->owner->id), name, history, h, root,
                           hash) == 0)
            return B_RETIRED;
    size_t len;
    uint8_t *H =
        lt_batch_header(name, history, h->first_seq, h->last_seq, h->prev_hash, root, &len);
    if (!H)
        return B_BAD;
    lt_crypto_hash(H, len, hash);
    free(H);
    return B_UNSIGNED;
}

/* The stream whose batches row name holds: a resynchronisation's copy
 * (PROTOCOL.md 6.9) holds its stream's, signed under the stream's name. */
static const char *s_signed_name(const char *name)
{
    size_t n = strlen(LT_HISTORY_SHADOW_PREFIX);
    return strncmp(name, LT_HISTORY_SHADOW_PREFIX, n) == 0 ? name + n : name;
}

/* The batches pass, walking forwards. A batch is proven when its signature
 * verifies under a signing key of the owner in the directory, or when a
 * proven batch after it chains back to it: its H holds the prev hash, the
 * batch_hash of the batch before it, which binds that batch's Merkle root
 * and prev hash in turn (PROTOCOL.md 6.3). So after a rotation, the
 * batches of the retired key are proven by the first batch of the current
 * key. The batches not proven yet wait in one run (pend_*) while each
 * follows on the one before; a batch of a current key that follows on the
 * run proves it, a break or the end of the walk ends it as damage. The
 * batches proven under a retired key (ret_*) are reported unless a batch
 * of a current key follows on them. */
typedef struct {
    lt_store_damage_fn fn;
    void *arg;
    const char *name;
    int found;
    int pending;                    /* a run not proven yet is open */
    uint64_t pend_first, pend_last; /* its records */
    uint64_t pend_head_last;        /* the last record of its first batch */
    int pend_after_break;           /* it does not follow on the proven batch before it */
    int retired;                    /* a run proven under retired keys is open */
    uint64_t ret_first, ret_last;   /* its records */
    int have_prev, prev_proven;     /* the batch before: its hash known; proven */
    uint8_t prev[LT_HASH_BYTES];
} walk_t;

static void s_damage(walk_t *w, uint64_t first, uint64_t last, const char *why)
{
    w->fn(w->arg, w->name, LT_STORE_DAMAGED_RANGE, first, last, why);
    w->found++;
}

/* Ends the run not proven as damage: nothing proves its batches. */
static void s_pend_damaged(walk_t *w)
{
    if (!w->pending)
        return;
    s_damage(w, w->pend_first, w->pend_last,
             "the owner's signature does not verify under its keys in the directory, and "
             "no batch that verifies chains back to it");
    w->pending = 0;
}

/* Reports the run proven under retired keys: no batch of a current key
 * follows on it (the owner's next batch would prove it). */
static void s_retired_end(walk_t *w)
{
    if (!w->retired)
        return;
    w->fn(w->arg, w->name, LT_STORE_KEY_RETIRED, w->ret_first, w->ret_last,
          "signed with a key of the owner that the directory no longer lists and a "
          "directory the gateway adopted before did");
    w->retired = 0;
}

/* Walks one kept batch h, what s_batch made of it (v) and its hash. */
static void s_walk(walk_t *w, const lt_store_batch_t *h, batch_is_t v,
                   const uint8_t hash[LT_HASH_BYTES])
{
    int follows = !w->have_prev || memcmp(h->prev_hash, w->prev, LT_HASH_BYTES) == 0;
    /* The batch before was proven when it is not in the run and not bad. */
    int after_proven = w->have_prev && w->prev_proven;
    int proven = v == B_SIGNED || v == B_RETIRED;
    /* A break, or a header without a hash, ends the run: nothing after it
     * can prove it. */
    if (!follows || v == B_BAD)
        s_pend_damaged(w);
    /* A current key's batch following on the retired run says it all. */
    if (w->retired && v == B_SIGNED && follows)
        w->retired = 0;
    else if (w->retired && !(v == B_RETIRED && follows))
        s_retired_end(w);
    if (v == B_RETIRED) {
        if (!w->retired)
            w->ret_first = h->first_seq;
        w->retired = 1;
        w->ret_last = h->last_seq;
    }
    if (v == B_BAD) {
        s_damage(w, h->first_seq, h->last_seq, "its kept header is malformed");
    } else if (proven) {
        if (!follows && after_proven)
            s_damage(w, h->first_seq, h->last_seq, "the hash chain is broken before it");
        if (w->pending && w->pend_after_break)
            s_damage(w, w->pend_first, w->pend_head_last, "the hash chain is broken before it");
        w->pending = 0; /* proven: this batch chains back to the run */
    } else if (w->pending) {
        w->pend_last = h->last_seq;
    } else {
        w->pending = 1;
        w->pend_first = h->first_seq;
        w->pend_last = w->pend_head_last = h->last_seq;
        w->pend_after_break = !follows && after_proven;
    }
    w->have_prev = v != B_BAD;
    w->prev_proven = proven;
    if (w->have_prev)
        memcpy(w->prev, hash, LT_HASH_BYTES);
}

/* After the last kept batch, h (none: NULL). A run still open is damage:
 * no batch after it proves it. That its chain ends at the cursor's hash
 * proves nothing, since the cursor is a column of the same store that a
 * change to the records or headers can rewrite to match; only a signature
 * binds the batches to the owner (PROTOCOL.md 6.10). A proven last batch
 * must chain to the cursor. */
static void s_walk_end(walk_t *w, const lt_stream_t *st, const lt_store_batch_t *h)
{
    s_retired_end(w);
    if (w->pending || !h || h->last_seq != st->last_seq) {
        s_pend_damaged(w);
        return;
    }
    if (w->prev_proven && memcmp(w->prev, st->last_hash, LT_HASH_BYTES) != 0)
        s_damage(w, h->first_seq, h->last_seq, "it does not chain to the cursor");
}

/* Batches pass: each kept header from the one holding `from`. */
static int s_batches(lt_store_t *store, const lt_dir_t *dir, lt_dir_t *const *retired,
                     size_t n_retired, const char *name, const lt_stream_t *st, uint64_t from,
                     lt_store_damage_fn fn, void *arg, char *err, size_t errlen)
{
    lt_store_batch_t h, last;
    lt_batch_recs_t *r = calloc(1, sizeof *r);
    uint8_t hash[LT_HASH_BYTES];
    int rc, any = 0;
    memset(&last, 0, sizeof last);
    walk_t w = {.fn = fn, .arg = arg, .name = name};
    const Lienthong__Member *pk = s_owner(dir, s_signed_name(name));
    keys_t k = {pk, retired, n_retired};
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t seq = from;
    while ((rc = lt_store_batch_find(store, st->id, seq, &h)) == 1 && h.first_seq <= st->last_seq) {
        if (!pk) {
            s_damage(&w, h.first_seq, st->last_seq,
                     "the owner's signing key is not in the directory: batches not verified");
            break;
        }
        batch_is_t v =
            s_batch(store, s_signed_name(name), st, &h, any ? last.last_seq : 0, &k, r, hash);
        s_walk(&w, &h, v, hash);
        last = h;
        any = 1;
        seq = h.last_seq + 1;
    }
    if (pk && rc >= 0)
        s_walk_end(&w, st, any ? &last : NULL);
    free(r->buf);
    free(r);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot read batch headers: %s", name, lt_store_error(store));
        return -1;
    }
    return w.found;
}

/* The first record the log keeps of st (PROTOCOL.md 6.8, 6.10): below the
 * retained tail only the state's rows remain. 0, or -1 with err. */
static int s_tail(lt_store_t *store, const char *name, const lt_stream_t *st, uint64_t *first,
                  char *err, size_t errlen)
{
    if (lt_store_tail_first(store, st->id, first) == 0)
        return 0;
    snprintf(err, errlen, "%s: cannot read the retained tail: %s", name, lt_store_error(store));
    return -1;
}

int lt_store_verify_records(lt_store_t *store, const char *name, const lt_stream_t *st,
                            lt_store_damage_fn fn, void *arg, char *err, size_t errlen)
{
    uint64_t first;
    if (s_tail(store, name, st, &first, err, errlen) != 0)
        return -1;
    return s_records(store, name, st, first ? first : 1, fn, arg, err, errlen);
}

int lt_store_verify_stream(lt_store_t *store, const lt_dir_t *dir, lt_dir_t *const *retired,
                           size_t n_retired, const char *name, const lt_stream_t *st, uint64_t from,
                           lt_store_damage_fn fn, void *arg, char *err, size_t errlen)
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
    int b = s_batches(store, dir, retired, n_retired, name, st, from, fn, arg, err, errlen);
    return b < 0 ? -1 : a + b;
}

typedef struct {
    const lt_dir_t *dir;
    lt_dir_t *const *retired;
    size_t n_retired;
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
    int n = lt_store_verify_stream(a->store, a->dir, a->retired, a->n_retired, name, st, 1, a->fn,
                                   a->arg, a->err, a->errlen);
    if (n < 0)
        return -1;
    a->found += n;
    return 0;
}

int lt_store_verify_all(lt_store_t *store, const lt_dir_t *dir, lt_dir_t *const *retired,
                        size_t n_retired, lt_store_damage_fn fn, void *arg, char *err,
                        size_t errlen)
{
    all_t a = {dir, retired, n_retired, fn, arg, err, errlen, store, 0};
    err[0] = '\0';
    int rc = lt_store_streams(store, s_one, &a);
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "cannot list streams: %s", lt_store_error(store));
    return rc != 0 ? -1 : a.found;
}
