/* fuzz_publish: libFuzzer target for the owner's write path (PROTOCOL.md
 * 6.1 and 8.1): lt_publish_apply on a real store.
 *
 * Set-up (once): a directory compiled, signed and opened in process
 * (tests/owner_directory.h) with two datasets of VN/GOV/BCA (population, with views selecting
 * province 38 and living citizens; phones, of another record type, with a view), and a dataset of
 * another member; a store in a temporary directory (on /dev/shm when available), recreated every
 * few thousand inputs.
 *
 * Each input is unpacked as a Publish and applied as it is; then with its
 * dataset replaced by each owned dataset (so that fuzzed changes reach the
 * record checks and the view derivation); then twice in one group.
 * Invariants (abort): a refused publish stores nothing (the dataset's last
 * sequence number is unchanged), and so is one with a malformed source
 * cursor, or naming a record type other than the dataset's; an accepted one advances it by exactly
 * the changes whose cursor is above the dataset's durable cursor so far (a model of PROTOCOL.md
 * 8.1), and afterwards, for every key those changes touched, the current
 * state is its last stored change, the logged record holds that key, seq,
 * tombstone flag and exact payload, and each view of the dataset holds the
 * key live exactly when the record is live and satisfies the view's
 * predicate.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lt_dir.h"
#include "lt_log.h"
#include "lt_publish.h"
#include "lt_schema.h"
#include "lt_store.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"
#include "records/subscriber.pb-c.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OWNER       OD_OWNER
#define POP         OD_POP
#define PHONES      OD_PHONES
#define FOREIGN     OD_FOREIGN
#define RESET_EVERY 4096

static struct {
    int ready;
    char tmp[256];
    lt_dir_t *dir;
    lt_store_t *store;
    unsigned runs;
} G;

static void s_cleanup(void)
{
    lt_store_destroy(&G.store);
    fuzz_rmtree(G.tmp);
}

static void s_store_reset(void)
{
    lt_store_destroy(&G.store);
    G.store = fuzz_store_fresh(G.tmp, "fuzz_publish");
}

static void s_write_seeds(const char *dir);

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    if (sodium_init() < 0)
        abort();
    lt_log_set_level(LT_LOG_ERROR);
    fuzz_tmpdir(G.tmp, sizeof G.tmp, "fuzz-publish");
    atexit(s_cleanup);
    char err[1024];
    if (!(G.dir = od_directory(G.tmp, err, sizeof err))) {
        fprintf(stderr, "fuzz_publish: directory: %s\n", err);
        abort();
    }
    s_store_reset();
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

static uint64_t s_last_seq(const char *stream)
{
    lt_stream_t st;
    if (lt_store_stream(G.store, stream, &st) != 0)
        abort();
    return st.last_seq;
}

/* The oracle for a source cursor (PROTOCOL.md 8.1), written apart from
 * lt_valid_cursor: digits only, their value at most 2^63 - 1 once leading
 * zeros are dropped. 1 with the value in *v (0: none), 0 when malformed. */
static int s_cursor_of(const char *c, uint64_t *v)
{
    *v = 0;
    if (!c || !*c)
        return 1;
    if (strspn(c, "0123456789") != strlen(c))
        return 0;
    c += strspn(c, "0");
    size_t n = strlen(c);
    if (n > 19 || (n == 19 && strcmp(c, "9223372036854775807") > 0))
        return 0;
    *v = n ? strtoull(c, NULL, 10) : 0;
    return 1;
}

/* Which changes of p an accepted apply stores, from the dataset's durable
 * cursor before it: a change whose cursor is at or below the cursor so far
 * is a resend and skipped (8.1). stored[i] set per change; returns how
 * many, or -1 when some cursor is malformed (the Publish must be refused). */
static long s_model(const char *dataset, const Lienthong__Publish *p, unsigned char *stored)
{
    lt_stream_t st;
    if (lt_store_stream(G.store, dataset, &st) != 0)
        abort();
    uint64_t known = st.source_cursor, cur;
    long n = 0;
    for (size_t i = 0; i < p->n_changes; i++) {
        if (!s_cursor_of(p->changes[i]->source_cursor, &cur))
            return -1;
        stored[i] = !(cur && cur <= known);
        if (stored[i] && cur)
            known = cur;
        n += stored[i];
    }
    return n;
}

/* The state of key in stream: 1 live, 0 tombstone or absent; record bytes
 * at its seq unpacked into *rec when asked. */
static int s_state(const char *stream, const char *key, uint64_t *seq, Lienthong__Record **rec)
{
    lt_stream_t st;
    int deleted = 0;
    if (lt_store_stream(G.store, stream, &st) != 0)
        abort();
    int found = lt_store_state_get(G.store, st.id, key, seq, &deleted);
    if (found < 0)
        abort();
    if (rec) {
        *rec = NULL;
        uint8_t *bytes = NULL;
        size_t len = 0;
        if (found && lt_store_get(G.store, st.id, *seq, &bytes, &len) != 1)
            abort(); /* the state points at a record that is not logged */
        if (found && !(*rec = lienthong__record__unpack(NULL, len, bytes)))
            abort();
        free(bytes);
    }
    return found ? (deleted ? 0 : 1) : -1;
}

/* Checks the store against an accepted publish p of dataset ds, whose
 * changes stored[] were to be stored (s_model). */
static void s_check_applied(const Lienthong__Dataset *ds, const Lienthong__Publish *p,
                            uint64_t before, const lt_publish_result_t *res,
                            const unsigned char *stored, long n_stored)
{
    uint64_t after = s_last_seq(ds->id);
    /* first..last were assigned, or 0,0 when every change was already known. */
    if (res->first_seq ? res->first_seq != before + 1 || res->last_seq != after
                       : res->last_seq != 0 || after != before)
        abort();
    if (after - before != (uint64_t)n_stored)
        abort(); /* exactly the changes above the durable cursor are stored */
    const ProtobufCMessageDescriptor *t = lt_schema_find(ds->record_type);
    const Lienthong__Directory *d = lt_dir_get(G.dir);
    uint64_t rank = 0;
    for (size_t i = 0; i < p->n_changes; i++) {
        const Lienthong__Change *c = p->changes[i];
        if (!stored[i])
            continue;
        rank++;
        int is_last = 1;
        for (size_t j = i + 1; j < p->n_changes; j++)
            is_last &= !stored[j] || strcmp(p->changes[j]->key, c->key) != 0;
        if (!is_last)
            continue;
        uint64_t seq = 0;
        Lienthong__Record *r = NULL;
        int live = s_state(ds->id, c->key, &seq, &r);
        if (live != !c->deleted || !r || seq != before + rank || r->seq != seq ||
            strcmp(r->key, c->key) != 0 || r->deleted != c->deleted ||
            (!c->deleted &&
             (r->payload.len != c->payload.len ||
              (c->payload.len && memcmp(r->payload.data, c->payload.data, c->payload.len)))))
            abort();
        lienthong__record__free_unpacked(r, NULL);
        ProtobufCMessage *msg =
            c->deleted ? NULL : protobuf_c_message_unpack(t, NULL, c->payload.len, c->payload.data);
        if (!c->deleted && !msg)
            abort(); /* accepted a payload that does not decode */
        for (size_t v = 0; v < d->n_views; v++) {
            if (strcmp(d->views[v]->dataset, ds->id) != 0)
                continue;
            int in_view = msg && lt_publish_view_match(d->views[v], msg);
            if ((s_state(d->views[v]->id, c->key, &seq, NULL) == 1) != in_view)
                abort();
        }
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
    }
}

/* Applies pubs (all of dataset ds when ds is set) and checks the outcome. */
static void s_apply(Lienthong__Publish **pubs, size_t n, const Lienthong__Dataset *ds)
{
    lt_publish_result_t res[2];
    uint64_t before = ds ? s_last_seq(ds->id) : 0;
    unsigned char *stored = calloc(pubs[0]->n_changes + 1, 1);
    if (!stored)
        abort();
    long n_stored = ds && n == 1 ? s_model(ds->id, pubs[0], stored) : 0;
    memset(res, 0, sizeof res);
    int rc =
        lt_publish_apply(G.store, G.dir, OWNER, pubs, n, LT_PUBLISH_MAX_RECORD, res, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (res[i].code != LIENTHONG__ERROR_CODE__ERR_NONE && !res[i].err[0])
            abort(); /* every refusal says why */
        if (rc == 0 && res[i].code == LIENTHONG__ERROR_CODE__ERR_INTERNAL)
            abort();
    }
    if (ds && rc == 0 && n == 1) {
        int ok = res[0].code == LIENTHONG__ERROR_CODE__ERR_NONE;
        if (n_stored < 0 && ok)
            abort(); /* a malformed source cursor was accepted */
        if (ok && pubs[0]->record_type[0] && strcmp(pubs[0]->record_type, ds->record_type) != 0)
            abort(); /* payloads named as another record type were accepted (8.1) */
        if (!ok && s_last_seq(ds->id) != before)
            abort(); /* a refused publish stored something */
        if (ok)
            s_check_applied(ds, pubs[0], before, &res[0], stored, n_stored);
    }
    free(stored);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    if (++G.runs % RESET_EVERY == 0)
        s_store_reset();
    Lienthong__Publish *p = lienthong__publish__unpack(NULL, size, data);
    if (!p)
        return 0;
    const Lienthong__Dataset *own = lt_dir_dataset(G.dir, p->dataset);
    if (own && strcmp(own->owner, OWNER) != 0)
        own = NULL;
    s_apply(&p, 1, own);
    /* The same changes for each dataset this member owns. */
    char *saved = p->dataset;
    static char *const owned[] = {POP, PHONES};
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(saved, owned[i]) == 0)
            continue;
        p->dataset = owned[i];
        s_apply(&p, 1, lt_dir_dataset(G.dir, owned[i]));
    }
    p->dataset = saved;
    /* Twice in one group: one transaction, sequence numbers run on. */
    Lienthong__Publish *two[2] = {p, p};
    s_apply(two, 2, own);
    lienthong__publish__free_unpacked(p, NULL);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------ */

static void s_seed(const char *dir, const char *name, const Lienthong__Publish *p)
{
    size_t len = lienthong__publish__get_packed_size(p);
    uint8_t *buf = malloc(len ? len : 1);
    char path[1024];
    if (!buf)
        return;
    lienthong__publish__pack(p, buf);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        fprintf(stderr, "fuzz_publish: cannot write %s\n", path);
    free(buf);
}

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    uint8_t pay[3][256];
    Lienthong__Change c[4], *cp[4];
    static const char *const keys[] = {"001080000001", "038090000002", "038090000003"};
    static const char *const prov[] = {"01", "38", "38"};
    for (int i = 0; i < 3; i++) {
        Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
        p.personal_id = (char *)keys[i];
        p.full_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An";
        p.date_of_birth = "1980-02-29";
        p.current_province = (char *)prov[i];
        p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
        lienthong__change__init(&c[i]);
        c[i].key = (char *)keys[i];
        c[i].payload.data = pay[i];
        c[i].payload.len = lienthong__records__population__pack(&p, pay[i]);
        cp[i] = &c[i];
    }
    lienthong__change__init(&c[3]);
    c[3].key = (char *)keys[1];
    c[3].deleted = 1;
    cp[3] = &c[3];
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = 1;
    p.dataset = POP;
    p.changes = cp;
    p.n_changes = 4;
    s_seed(dir, "population", &p);
    c[0].source_cursor = "17";
    c[1].source_cursor = "18";
    c[2].source_cursor = "19";
    c[3].source_cursor = "20";
    s_seed(dir, "population-cursors", &p);
    /* A malformed cursor that loose parsing once read as 2^64 - 1. */
    c[1].source_cursor = "-1";
    s_seed(dir, "population-cursor-negative", &p);
    c[1].source_cursor = "9223372036854775807";
    s_seed(dir, "population-cursor-largest", &p);
    p.record_type = "lienthong.records.Population";
    s_seed(dir, "population-record-type", &p);
    p.record_type = "lienthong.records.Subscriber";
    s_seed(dir, "population-record-type-other", &p);
    p.record_type = "";
    uint8_t sp[128];
    Lienthong__Records__Subscriber s = LIENTHONG__RECORDS__SUBSCRIBER__INIT;
    s.phone_number = "84912345678";
    s.owner_personal_id = "001080000001";
    s.owner_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An";
    s.status = LIENTHONG__RECORDS__SUBSCRIBER_STATUS__SUBSCRIBER_ACTIVE;
    lienthong__change__init(&c[0]);
    c[0].key = "84912345678";
    c[0].payload.data = sp;
    c[0].payload.len = lienthong__records__subscriber__pack(&s, sp);
    p.dataset = PHONES;
    p.n_changes = 1;
    s_seed(dir, "phones", &p);
    p.dataset = FOREIGN;
    s_seed(dir, "foreign", &p);
}
