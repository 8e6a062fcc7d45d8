/* fuzz_batch: libFuzzer target for the consumer's batch check (PROTOCOL.md
 * 6.3 to 6.5): lt_batch_verify, then the record unpack a consumer does.
 *
 * Each input is unpacked as a Batch and:
 *  1. verified as it is against a fixed expectation (stream
 *     VN/GOV/BCA/population, first_seq 1, zero prev hash) under a fixed owner
 *     key, and against a second one (first 5, a fixed prev hash). A batch
 *     that verifies must be exactly what lt_batch_sign makes of its records
 *     (Ed25519 is deterministic), and is then unpacked record by record as
 *     the consumer does (Record, then the Population payload);
 *  2. re-signed by the harness with the owner's key over its own stream,
 *     first_seq and records (when signable), so that the unpack path is
 *     reached with fuzzed records: the re-signed batch must verify under the
 *     owner's key, must not verify under another key, with another first_seq
 *     or prev hash, nor after one record byte is flipped.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lt_batch.h"
#include "lt_crypto.h"
#include "lt_keys.h"
#include "records/population.pb-c.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM "VN/GOV/BCA/population"

static lt_keys_t *g_owner, *g_other;
static uint8_t g_prev5[LT_HASH_BYTES];

/* A member key from fixed bytes (written to a private temporary file). */
static lt_keys_t *s_fixed_keys(uint8_t base)
{
    return fuzz_fixed_keys("/tmp", LT_KEYS_MEMBER, base, 3);
}

static void s_write_seeds(const char *dir);

static void s_init(void)
{
    if (g_owner)
        return;
    if (sodium_init() < 0 || !(g_owner = s_fixed_keys(100)) || !(g_other = s_fixed_keys(7)))
        abort();
    for (int i = 0; i < LT_HASH_BYTES; i++)
        g_prev5[i] = (uint8_t)(0xa0 + i);
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* What a consumer does with verified records: unpack each, check its
 * sequence and key, and decode its payload as the dataset's type. */
static void s_unpack_records(const Lienthong__Batch *b, uint64_t first)
{
    uint64_t expect = first;
    for (size_t i = 0; i < b->n_records; i++, expect++) {
        Lienthong__Record *r =
            lienthong__record__unpack(NULL, b->records[i].len, b->records[i].data);
        if (!r)
            return; /* the consumer drops the feed here */
        int bad = r->seq != expect || !r->key[0];
        if (!bad && !r->deleted) {
            Lienthong__Records__Population *p =
                lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data);
            if (p) {
                /* Touch every string the way a sink would. */
                volatile size_t n = strlen(p->personal_id) + strlen(p->full_name) +
                                    strlen(p->date_of_birth) + strlen(p->current_address);
                (void)n;
                lienthong__records__population__free_unpacked(p, NULL);
            }
        }
        lienthong__record__free_unpacked(r, NULL);
        if (bad)
            return;
    }
}

/* Verifies b against (stream, first, prev); on success checks that the
 * signature is the one lt_batch_sign gives, then unpacks the records. */
static int s_verify(const Lienthong__Batch *b, const char *stream, uint64_t first,
                    const uint8_t prev[LT_HASH_BYTES], const uint8_t *pk)
{
    uint8_t hash[LT_HASH_BYTES], hash2[LT_HASH_BYTES], sig[LT_SIG_BYTES];
    char err[512];
    err[0] = 0;
    int rc = lt_batch_verify(b, stream, first, prev, pk, hash, err, sizeof err);
    if (rc != 0) {
        if (!err[0])
            abort(); /* every refusal says why */
        return rc;
    }
    if (b->n_records == 0 || b->n_records > LT_BATCH_MAX_RECORDS || b->first_seq != first ||
        strcmp(b->stream, stream) != 0)
        abort();
    if (pk == lt_keys_signing_public(g_owner)) {
        /* The header binds the batch's history id (PROTOCOL.md 6.3, 6.9). */
        const uint8_t *history = b->history_id.len ? b->history_id.data : NULL;
        if (lt_batch_sign_history(g_owner, stream, history, first, b->records, b->n_records, prev,
                                  sig, hash2) != 0 ||
            memcmp(sig, b->signature.data, LT_SIG_BYTES) != 0 ||
            memcmp(hash, hash2, LT_HASH_BYTES) != 0)
            abort();
    }
    s_unpack_records(b, first);
    return 0;
}

static void s_resigned(Lienthong__Batch *b)
{
    if (b->n_records == 0 || b->n_records > LT_BATCH_MAX_RECORDS || b->first_seq == 0 ||
        b->first_seq > UINT64_MAX - b->n_records || strlen(b->stream) > 0xffff ||
        (b->history_id.len != 0 && b->history_id.len != LT_HISTORY_BYTES))
        return;
    uint8_t prev[LT_HASH_BYTES], sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    lt_crypto_hash((const uint8_t *)b->stream, strlen(b->stream), prev);
    const uint8_t *history = b->history_id.len ? b->history_id.data : NULL;
    if (lt_batch_sign_history(g_owner, b->stream, history, b->first_seq, b->records, b->n_records,
                              prev, sig, hash) != 0)
        abort();
    ProtobufCBinaryData saved = b->signature;
    b->signature.data = sig;
    b->signature.len = LT_SIG_BYTES;
    const uint8_t *pk = lt_keys_signing_public(g_owner);
    if (s_verify(b, b->stream, b->first_seq, prev, pk) != 0)
        abort(); /* our own signature must verify */
    if (s_verify(b, b->stream, b->first_seq, prev, lt_keys_signing_public(g_other)) == 0)
        abort();
    if (s_verify(b, b->stream, b->first_seq + 1, prev, pk) == 0)
        abort();
    uint8_t other_prev[LT_HASH_BYTES];
    memcpy(other_prev, prev, LT_HASH_BYTES);
    other_prev[0] ^= 1;
    if (s_verify(b, b->stream, b->first_seq, other_prev, pk) == 0)
        abort();
    /* One flipped bit in the last record (or an extra byte if empty). */
    ProtobufCBinaryData *last = &b->records[b->n_records - 1];
    ProtobufCBinaryData kept = *last;
    uint8_t *copy = malloc(kept.len + 1);
    if (!copy)
        abort();
    if (kept.len)
        memcpy(copy, kept.data, kept.len);
    if (kept.len) {
        copy[kept.len / 2] ^= 0x01;
        last->len = kept.len;
    } else {
        copy[0] = 0;
        last->len = 1;
    }
    last->data = copy;
    if (s_verify(b, b->stream, b->first_seq, prev, pk) == 0)
        abort();
    *last = kept;
    free(copy);
    b->signature = saved;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    Lienthong__Batch *b = lienthong__batch__unpack(NULL, size, data);
    if (!b)
        return 0;
    static const uint8_t zero[LT_HASH_BYTES] = {0};
    const uint8_t *pk = lt_keys_signing_public(g_owner);
    (void)s_verify(b, STREAM, 1, zero, pk);
    (void)s_verify(b, STREAM, 5, g_prev5, pk);
    s_resigned(b);
    lienthong__batch__free_unpacked(b, NULL);
    return 0;
}

/* ---- seeds -------------------------------------------------------------------------- */

static void s_seed(const char *dir, const char *name, const Lienthong__Batch *b)
{
    size_t len = lienthong__batch__get_packed_size(b);
    uint8_t *buf = malloc(len ? len : 1);
    char path[1024];
    if (!buf)
        return;
    lienthong__batch__pack(b, buf);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        fprintf(stderr, "fuzz_batch: cannot write %s\n", path);
    free(buf);
}

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    uint8_t rec[3][256];
    ProtobufCBinaryData recs[3];
    static const char *const names[] = {"Nguy\xe1\xbb\x85n V\xc4\x83n An", "",
                                        "\xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1"};
    static const char *const keys[] = {"001080000001", "038090000002", "038090000003"};
    for (int i = 0; i < 3; i++) {
        uint8_t payload[200];
        Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
        p.personal_id = (char *)keys[i];
        p.full_name = (char *)names[i];
        p.date_of_birth = "1980-02-29";
        size_t plen = lienthong__records__population__pack(&p, payload);
        Lienthong__Record r = LIENTHONG__RECORD__INIT;
        r.seq = (uint64_t)i + 1;
        r.key = (char *)keys[i];
        r.deleted = i == 1;
        if (i != 1) {
            r.payload.data = payload;
            r.payload.len = plen;
        }
        r.changed_at_ms = FUZZ_NOW * 1000;
        recs[i].len = lienthong__record__pack(&r, rec[i]);
        recs[i].data = rec[i];
    }
    static const uint8_t zero[LT_HASH_BYTES] = {0};
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = STREAM;
    b.first_seq = 1;
    b.records = recs;
    b.n_records = 3;
    b.signature.data = sig;
    b.signature.len = LT_SIG_BYTES;
    b.signed_at_ms = FUZZ_NOW * 1000;
    if (lt_batch_sign(g_owner, STREAM, 1, recs, 3, zero, sig, hash) != 0)
        abort();
    s_seed(dir, "signed-first", &b);
    /* first_seq 5 after the fixed prev hash; a single record renumbered. */
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = 5;
    r.key = "038090000005";
    r.deleted = 1;
    uint8_t one[64];
    recs[0].len = lienthong__record__pack(&r, one);
    recs[0].data = one;
    b.first_seq = 5;
    b.n_records = 1;
    if (lt_batch_sign(g_owner, STREAM, 5, recs, 1, g_prev5, sig, hash) != 0)
        abort();
    s_seed(dir, "signed-chained", &b);
    sig[0] ^= 1;
    s_seed(dir, "bad-signature", &b);
}
