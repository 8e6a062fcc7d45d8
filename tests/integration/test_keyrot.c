/* test_keyrot: key rotation with overlap (PROTOCOL.md 5.5) under load, with
 * real `lienthong gateway` processes on 127.0.0.1.
 *
 * A province replicates the ministry's dataset and looks records up at the
 * ministry without pause, while the ministry publishes without pause. Then:
 * the ministry's next keys are generated (`keygen --next`) and listed in the
 * directory; promoted (`keys promote`) and switched to by SIGHUP; made its
 * current keys; the authority announces a next key and signs the directory
 * after that with it. Proves: no lookup and no publish failed, the
 * province's feed resumed from its cursor (never from seq 0) and its replica
 * is byte-identical to the ministry's, as is a second consumer's, sent the
 * same batches from the ministry's in-memory tail, on the directory that
 * lists only the new signing key, the batches and answers signed with
 * the new key were verified, and a restarted gateway whose configured
 * directory announces the new authority key starts with the directory that
 * key signed, and `store verify` checks under that directory too, and
 * `gateway --check` reports on it, though the configured file expired.
 * `keys promote` refuses next keys the gateway's directory does not list
 * and a second rotation before the first is complete. A replica restarted
 * after the rotation completed, its owner down, keeps delivering the
 * batches of the old key, verified under the directory it adopted before
 * that listed it (PROTOCOL.md 6.10); changed in its store, with the cursor
 * hash rewritten to match, they are damage. A host restored from a backup
 * taken after its own rotation starts on the directory it had adopted,
 * which `lienthong backup` copied, not on its older configured one. A
 * consumer down through its owner's whole rotation logs that the owner
 * breaks off the handshake (not that it does not answer), and reconnects
 * once the current directory is installed as its directory file. A
 * consumer whose link to an owner listing two transport keys is full (the
 * owner connected but not reading) keeps it on its key, and is answered
 * once the owner reads again.
 *
 * Usage: test_keyrot /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_sock.h"
#include "lt_store.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define FED      "VN"
#define ID_OWNER "VN/GOV/BCA"
#define ID_P38   "VN/PROV/38"
#define ID_P01   "VN/PROV/01"
#define DS       "VN/GOV/BCA/population"

#define READY_MS        10000 /* a gateway answers status (generous for ASan) */
#define STEP_MS         15000 /* a directory spreads, a switch is logged */
#define CONVERGE_MS     30000 /* a replica catches up */
#define STOP_MS         5000
#define CLI_MS          10000
#define LOOKUP_AHEAD_MS 10000 /* an application's deadline */
#define N_CITIZENS      40

#define ALIVE LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_P38 "\"; target = \"" DS "\"; allow = [\"subscribe\", \"lookup\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; },\n"
    "  { consumer = \"" ID_P01 "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n";

/* ---- the load: publishes at the owner, lookups at the province ------------------ */

typedef struct {
    lt_it_gw_t *owner, *province;
    lt_ft_model_t *model;
    atomic_int stop; /* set by the test's thread, read by the load's */
    int hold, held;  /* publishes paused (lookups go on); the load saw it (under mu) */
    pthread_mutex_t mu;
    int lookups_ok, lookups_failed, publishes_ok, publishes_failed;
    char first_failure[512];
} load_t;

/* Counts a failure; the first one is kept as "what: detail". */
static void s_fail(load_t *l, int *counter, const char *what, const char *detail)
{
    pthread_mutex_lock(&l->mu);
    if (!l->first_failure[0])
        snprintf(l->first_failure, sizeof l->first_failure, "%s: %s", what, detail);
    (*counter)++;
    pthread_mutex_unlock(&l->mu);
}

static void s_count(load_t *l, int *counter)
{
    pthread_mutex_lock(&l->mu);
    (*counter)++;
    pthread_mutex_unlock(&l->mu);
}

static int s_read(load_t *l, const int *counter)
{
    pthread_mutex_lock(&l->mu);
    int v = *counter;
    pthread_mutex_unlock(&l->mu);
    return v;
}

/* The reply to request id on the application's socket, or NULL. */
static Lienthong__Envelope *s_reply(void *sock, uint64_t id, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    while (lt_it_ms() < end) {
        Lienthong__Envelope *env = lt_it_recv_env(sock, (int)(end - lt_it_ms()));
        if (!env)
            return NULL;
        uint64_t got =
            env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->request_id : id;
        if (got == id)
            return env;
        lt_wire_free(&env);
    }
    return NULL;
}

/* One lookup of citizen i through the province; NULL when it succeeded,
 * else what went wrong. */
static const char *s_lookup(void *sock, size_t i, uint64_t id, char *why, size_t len)
{
    char key[16];
    snprintf(key, sizeof key, "%012llu", 38000000000ULL + (unsigned long long)i);
    char *fields[] = {"full_name"};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = id;
    q.dataset = DS;
    q.key = key;
    q.fields = fields;
    q.n_fields = 1;
    q.purpose = "KYC";
    q.case_ref = "ROT-1";
    q.deadline_ms = lt_clock_now_ms() + LOOKUP_AHEAD_MS;
    if (lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q) != 0)
        return "cannot send the request";
    Lienthong__Envelope *env = s_reply(sock, id, LOOKUP_AHEAD_MS + 2000);
    const char *bad = NULL;
    if (!env) {
        bad = "no reply";
    } else if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        snprintf(why, len, "error %s: %s", lt_wire_error_name(env->error->code),
                 env->error->message);
        bad = why;
    } else if (env->body_case != LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        bad = "not a lookup reply";
    } else {
        const Lienthong__SignedAnswer *sa = env->lookup_reply;
        Lienthong__LookupAnswer *a =
            lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
        if (!a || a->code != LIENTHONG__ERROR_CODE__ERR_NONE || a->n_released != 1)
            bad = "answer is not the record";
        if (a)
            lienthong__lookup_answer__free_unpacked(a, NULL);
    }
    lt_wire_free(&env);
    return bad;
}

/* Publishes one change of citizen i (a new name each time). */
static int s_publish(load_t *l, size_t i, unsigned round)
{
    lt_ft_pub_t *p = malloc(sizeof *p);
    if (!p)
        return -1;
    char name[64];
    snprintf(name, sizeof name, "Nguyen Van %u", round);
    lt_ft_pub_init(p, DS);
    int rc = lt_ft_put(p, l->model, i, name, "38", ALIVE);
    if (rc == 0)
        rc = lt_ft_pub_send(p, l->owner, NULL, NULL, CLI_MS);
    lt_ft_pub_clear(p);
    free(p);
    return rc;
}

static void *s_load(void *arg)
{
    load_t *l = arg;
    char err[256], why[400];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    void *app = lt_sock_local_client(lt_it_ctx(), l->province->sock_path, &o, err, sizeof err);
    if (!app) {
        s_fail(l, &l->lookups_failed, "application socket", err);
        return NULL;
    }
    uint64_t id = 5000;
    for (unsigned round = 0; !atomic_load(&l->stop); round++) {
        /* Decided and said at once: held means no publish is under way and
         * none starts until the hold ends (s_hold). */
        pthread_mutex_lock(&l->mu);
        int hold = l->held = l->hold;
        pthread_mutex_unlock(&l->mu);
        if (hold)
            ;
        else if (s_publish(l, round % N_CITIZENS, round) == 0)
            s_count(l, &l->publishes_ok);
        else
            s_fail(l, &l->publishes_failed, "publish", "refused or no PublishAck");
        const char *bad = s_lookup(app, (round * 7) % N_CITIZENS, ++id, why, sizeof why);
        if (bad)
            s_fail(l, &l->lookups_failed, "lookup", bad);
        else
            s_count(l, &l->lookups_ok);
        usleep(20000);
    }
    zmq_close(app);
    return NULL;
}

/* Pauses the publishes (on 1) or resumes them (on 0). Pausing returns once
 * the load has seen it, so that no publish is under way: 0, or -1 when the
 * load did not see it within timeout_ms. */
static int s_hold(load_t *l, int on, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    pthread_mutex_lock(&l->mu);
    l->hold = on;
    pthread_mutex_unlock(&l->mu);
    while (on && !s_read(l, &l->held) && lt_it_ms() < end)
        usleep(10000);
    return !on || s_read(l, &l->held) ? 0 : -1;
}

/* Waits until n more lookups succeeded than `from`; 0 or -1. */
static int s_progress(load_t *l, int from, int n, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    while (s_read(l, &l->lookups_ok) < from + n && lt_it_ms() < end)
        usleep(20000);
    return s_read(l, &l->lookups_ok) >= from + n ? 0 : -1;
}

/* ---- steps -------------------------------------------------------------------------------- */

/* Signs `version` of the directory with `authority` (NULL: the federation's),
 * installs it as the owner's directory file and reloads the owner; both
 * gateways must hold it (the province by gossip; NULL: not running). */
static int s_roll_out(lt_it_fed_t *f, lt_it_gw_t *owner, lt_it_gw_t *province, uint64_t version,
                      const lt_keys_t *authority)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = lt_it_dir_bytes(f, version, 0, 0, authority, &bytes, &len);
    if (rc == 0)
        rc = lt_it_gw_put_directory(owner, bytes, len);
    free(bytes);
    if (rc == 0)
        rc = lt_it_gw_signal(owner, SIGHUP);
    if (rc == 0)
        rc = lt_it_gw_wait_version(owner, version, STEP_MS);
    if (rc == 0 && province)
        rc = lt_it_gw_wait_version(province, version, STEP_MS);
    if (rc != 0)
        fprintf(stderr, "\n  directory version %llu did not spread\n", (unsigned long long)version);
    return rc;
}

/* `lienthong keygen --next` for m, then loads the next keys into m->next. */
static int s_keygen_next(lt_it_fed_t *f, lt_it_member_t *m)
{
    char prefix[PATH_MAX], next[PATH_MAX + 16], out[PATH_MAX + 16], err[512];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(m->key_path) - 4), m->key_path);
    snprintf(next, sizeof next, "%s.next.key", prefix);
    snprintf(out, sizeof out, "%s/keygen.out", f->dir);
    const char *args[] = {"keygen", "--next", "--out", prefix, "--member", m->id, NULL};
    if (lt_it_run_cli(f->dir, out, args, CLI_MS) != 0 ||
        !lt_it_file_contains(out, "next_transport_key = \"")) {
        lt_it_file_dump(out);
        return -1;
    }
    /* A second run must not replace keys the directory may list already. */
    if (lt_it_run_cli(f->dir, out, args, CLI_MS) != 1)
        return -1;
    m->next = lt_keys_load(next, err, sizeof err);
    if (!m->next)
        fprintf(stderr, "\n  %s\n", err);
    return m->next ? 0 : -1;
}

/* `lienthong keys promote` of g's key file, checked against g's directory
 * (force: unchecked, --force); its exit code, its output in f->dir's
 * promote.out. */
static int s_promote_as(lt_it_fed_t *f, lt_it_gw_t *g, int force)
{
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/promote.out", f->dir);
    const char *checked[] = {"keys", "promote", "--config", g->conf_path, NULL};
    /* The configuration names the audit log that records the switch while
     * g is stopped (docs/operations.md, "Rotating keys"). */
    const char *forced[] = {"keys",     "promote",    "--key",   g->member->key_path,
                            "--config", g->conf_path, "--force", NULL};
    return lt_it_run_cli(f->dir, out, force ? forced : checked, CLI_MS);
}

/* The same, checked; dumps the output when it fails. */
static int s_promote(lt_it_fed_t *f, lt_it_gw_t *g)
{
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/promote.out", f->dir);
    int rc = s_promote_as(f, g, 0);
    if (rc != 0)
        lt_it_file_dump(out);
    return rc;
}

/* 1 if `lienthong gateway --check` of g exits with rc (any, when rc is -1:
 * it exits 1 while g runs, its listen address being taken) and its output
 * holds text. */
static int s_check_exits(lt_it_fed_t *f, lt_it_gw_t *g, int rc, const char *text)
{
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%.4000s/check-%s.out", f->dir, g->member->slug);
    const char *args[] = {"gateway", "--config", g->conf_path, "--check", NULL};
    int got = lt_it_run_cli(f->dir, out, args, CLI_MS);
    int ok = got >= 0 && (rc < 0 || got == rc) && lt_it_file_contains(out, text);
    if (!ok)
        lt_it_file_dump(out);
    return ok;
}

/* 1 if the output of `lienthong gateway --check` of g holds text. */
static int s_check_says(lt_it_fed_t *f, lt_it_gw_t *g, const char *text)
{
    return s_check_exits(f, g, -1, text);
}

/* 1 when a file beside key_path holds the secret keys whose transport
 * public key is pk (review F3: `keys promote` keeps only public keys). */
static int s_secret_kept(const char *key_path, const uint8_t *pk)
{
    char dir[PATH_MAX], path[PATH_MAX * 2], err[512];
    snprintf(dir, sizeof dir, "%s", key_path);
    DIR *d = opendir(dirname(dir));
    struct dirent *e;
    int kept = 0;
    while (d && !kept && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        lt_keys_t *k = stat(path, &st) == 0 && S_ISREG(st.st_mode)
                           ? lt_keys_load(path, err, sizeof err)
                           : NULL;
        kept = k && lt_keys_kind(k) == LT_KEYS_MEMBER &&
               memcmp(lt_keys_transport_public(k), pk, LT_KEY_BYTES) == 0;
        lt_keys_destroy(&k);
    }
    if (d)
        closedir(d);
    return kept;
}

/* `lienthong audit --verify` of g's audit log: its exit code. */
static int s_audit_verify(lt_it_fed_t *f, lt_it_gw_t *g)
{
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%.4000s/audit-%s.out", f->dir, g->member->slug);
    const char *args[] = {"audit", "--config", g->conf_path, "--verify", "--last", "1", NULL};
    int rc = lt_it_run_cli(f->dir, out, args, CLI_MS);
    if (rc != 0)
        lt_it_file_dump(out);
    return rc;
}

/* `lienthong store verify` of g's store: its exit code; the output must
 * say the store is intact when it is 0. */
static int s_store_verify(lt_it_fed_t *f, lt_it_gw_t *g)
{
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%.4000s/store-%s.out", f->dir, g->member->slug);
    const char *args[] = {"store", "verify", "--config", g->conf_path, NULL};
    int rc = lt_it_run_cli(f->dir, out, args, CLI_MS);
    if (rc != 0 || !lt_it_file_contains(out, "intact")) {
        lt_it_file_dump(out);
        return rc ? rc : -1;
    }
    return 0;
}

/* A federation of the owner alone, its gateway started: how most cases
 * below begin. The owner's member, or NULL with what was made left to
 * lt_it_fed_cleanup. */
static lt_it_member_t *s_owner_alone(lt_it_fed_t *f, lt_it_gw_t **owner)
{
    lt_it_member_t *mo = NULL;
    if (lt_it_fed_init(f, FED) != 0 || !(mo = lt_it_member_add(f, ID_OWNER, 1)))
        return NULL;
    return (*owner = lt_it_gw_new(f, mo, 1, NULL, NULL)) != NULL ? mo : NULL;
}

/* The path of a file beside mo's key file: its prefix (the key file less
 * ".key") and suffix, such as ".next.key" or ".switch.key". */
static void s_sibling(char *out, size_t len, const lt_it_member_t *mo, const char *suffix)
{
    /* mo is never NULL here (each case requires it first), but the
     * compiler cannot see through CU_assertImplementation that it is not. */
    const char *key = mo ? mo->key_path : "";
    size_t n = strlen(key);
    snprintf(out, len, "%.*s%s", (int)(n > 4 ? n - 4 : 0), key, suffix);
}

/* ---- the test ------------------------------------------------------------------------------ */

static void s_dump(lt_it_fed_t *f)
{
    for (size_t i = 0; i < f->n_gateways; i++)
        lt_it_log_dump(&f->gateways[i]);
}

static void test_rotation_under_load(void)
{
    lt_it_fed_t f;
    lt_ft_model_t model;
    load_t l;
    pthread_t th;
    int started = 0;
    unsigned failures0 = CU_get_number_of_failures();
    lt_keys_t *next_auth = NULL;
    uint8_t *v6 = NULL; /* version 6, for the restart */
    size_t v6_len = 0;
    char source[2048], err[512];
    memset(&l, 0, sizeof l);
    memset(&model, 0, sizeof model);
    pthread_mutex_init(&l.mu, NULL);
    LT_IT_REQUIRE(lt_it_fed_init(&f, FED) == 0);
    f.extra_source = s_source;
    lt_it_member_t *mo = lt_it_member_add(&f, ID_OWNER, 1);
    lt_it_member_t *mp = lt_it_member_add(&f, ID_P38, 1);
    lt_it_member_t *m01 = lt_it_member_add(&f, ID_P01, 1);
    LT_IT_REQUIRE(mo && mp && m01);
    static const char *peers[] = {ID_OWNER, NULL};
    lt_it_gw_t *owner = lt_it_gw_new(&f, mo, 1, NULL, NULL);
    lt_it_gw_t *province =
        lt_it_gw_new(&f, mp, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );\n");
    /* A second consumer of the feed, level with the province: the owner
     * sends both from its in-memory tail (docs/ARCHITECTURE.md 3.1), which
     * must not send a signature of the old key once the new one is in use. */
    lt_it_gw_t *p01 =
        lt_it_gw_new(&f, m01, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );\n");
    LT_IT_REQUIRE(owner && province && p01);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0 && lt_it_gw_run(province, READY_MS) == 0 &&
                  lt_it_gw_run(p01, READY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_model_init(&model, N_CITIZENS, 38000000000ULL) == 0);
    l.owner = owner;
    l.province = province;
    l.model = &model;
    for (size_t i = 0; i < N_CITIZENS; i++)
        LT_IT_REQUIRE(s_publish(&l, i, 0) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, province, DS, CONVERGE_MS) == 0);
    long mark_p = lt_it_log_mark(province), mark_o = lt_it_log_mark(owner);
    LT_IT_REQUIRE(pthread_create(&th, NULL, s_load, &l) == 0);
    started = 1;
    LT_IT_REQUIRE(s_progress(&l, 0, 5, STEP_MS) == 0);

    /* 1. The ministry's next keys, listed in directory version 2; --check
     * tells whether the directory lists them yet. */
    char z0[LT_Z85_KEY_LEN + 1]; /* the ministry's first signing key */
    lt_keys_z85_encode(lt_keys_signing_public(mo->keys), z0);
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    CU_ASSERT(s_check_says(&f, owner, "is not listed in directory version 1 yet"));
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 2, NULL) == 0);
    CU_ASSERT(s_check_says(&f, owner, "is listed in directory version 2"));
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 5, STEP_MS) == 0);

    /* 2. Promoted and switched to in place: the province finds the new
     * transport key, verifies batches and answers under the new signing key. */
    uint8_t first_pk[LT_KEY_BYTES];
    memcpy(first_pk, lt_keys_transport_public(mo->keys), LT_KEY_BYTES);
    LT_IT_REQUIRE(s_promote(&f, owner) == 0);
    /* Its secret keys only until the gateway records the switch. */
    CU_ASSERT(s_secret_kept(mo->key_path, first_pk));
    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_log_wait(owner, mark_o, "switched to the keys", NULL, STEP_MS) == 0);
    CU_ASSERT(!s_secret_kept(mo->key_path, first_pk)); /* only its public keys */
    LT_IT_REQUIRE(
        lt_it_log_wait(province, mark_p, "trying its next transport key", NULL, STEP_MS) == 0);
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 10, STEP_MS) == 0);

    /* 3. The next keys become the current ones (version 3). */
    lt_keys_destroy(&mo->keys);
    mo->keys = mo->next;
    mo->next = NULL;
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 3, NULL) == 0);
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 5, STEP_MS) == 0);
    /* The second consumer, on version 3 (only the new signing key), follows
     * the owner exactly; every batch it got verified. Then it stops. */
    CU_ASSERT(lt_it_gw_wait_version(p01, 3, STEP_MS) == 0);
    /* Compared while the owner stands still: resumed before the comparison,
     * the owner could get ahead of the consumer between the two. */
    CU_ASSERT(s_hold(&l, 1, STEP_MS) == 0);
    CU_ASSERT(lt_ft_wait_same(owner, p01, DS, CONVERGE_MS) == 0);
    int same = lt_ft_compare(owner, p01, DS, err, sizeof err) == 0;
    CU_ASSERT(same);
    if (!same)
        fprintf(stderr, "\n  owner and second consumer differ: %s\n", err);
    CU_ASSERT(s_hold(&l, 0, STEP_MS) == 0);
    CU_ASSERT(!lt_it_log_has(p01, 0, "bad signature", NULL));
    char *metrics = lt_it_gw_metrics(owner, STEP_MS);
    /* Sent from the tail: as signed for the other consumer (same chain), or
     * its records signed again for this one's chain. */
    double hits = metrics ? lt_it_metric(metrics, "lienthong_tail_hits_total") : -1;
    double resigned = metrics ? lt_it_metric(metrics, "lienthong_tail_resigned_total") : -1;
    free(metrics);
    fprintf(stderr, "\n  owner's tail: %.0f hits, %.0f signed again ", hits, resigned);
    CU_ASSERT(hits >= 0 && resigned >= 0 && hits + resigned > 0);
    CU_ASSERT(lt_it_gw_stop(p01, STOP_MS) == 0);

    /* 4. The province rotates the same way (versions 4 and 5): the ministry
     * admits its next key, its links reconnect with it. */
    mark_o = lt_it_log_mark(owner);
    LT_IT_REQUIRE(s_keygen_next(&f, mp) == 0);
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 4, NULL) == 0);
    LT_IT_REQUIRE(s_promote(&f, province) == 0);
    LT_IT_REQUIRE(lt_it_gw_signal(province, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_log_wait(province, mark_p, "switched to the keys", NULL, STEP_MS) == 0);
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 10, STEP_MS) == 0);
    lt_keys_destroy(&mp->keys);
    mp->keys = mp->next;
    mp->next = NULL;
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 5, NULL) == 0);
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 5, STEP_MS) == 0);
    CU_ASSERT(!lt_it_log_has(owner, mark_o, "refused connection", NULL));

    /* 5. The authority announces its next key (version 6, old key), then
     * signs version 7 with the next key alone. */
    LT_IT_REQUIRE((next_auth = lt_keys_new(LT_KEYS_AUTHORITY)) != NULL);
    char z[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_signing_public(next_auth), z);
    snprintf(source, sizeof source, "%snext_authority_keys = [\"%s\"];\n", s_source, z);
    f.extra_source = source;
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 6, NULL) == 0);
    LT_IT_REQUIRE(lt_it_dir_bytes(&f, 6, 0, 0, NULL, &v6, &v6_len) == 0);
    f.extra_source = s_source;
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 7, next_auth) == 0);
    LT_IT_REQUIRE(s_progress(&l, s_read(&l, &l.lookups_ok), 10, STEP_MS) == 0);

    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
    started = 0;
    fprintf(stderr, "\n  lookups %d ok, %d failed; publishes %d ok, %d failed\n", l.lookups_ok,
            l.lookups_failed, l.publishes_ok, l.publishes_failed);
    if (l.first_failure[0])
        fprintf(stderr, "  first failure: %s\n", l.first_failure);
    CU_ASSERT_EQUAL(l.lookups_failed, 0);
    CU_ASSERT_EQUAL(l.publishes_failed, 0);
    CU_ASSERT(l.lookups_ok >= 40);
    /* The feed followed through every step from its cursor. */
    CU_ASSERT(lt_ft_wait_same(owner, province, DS, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_compare(owner, province, DS, err, sizeof err) == 0);
    CU_ASSERT(lt_ft_check_dataset(province, DS, &model, err, sizeof err) == 0);
    CU_ASSERT(!lt_it_log_has(province, mark_p, "subscribing to " DS, "at seq 0"));
    CU_ASSERT(!lt_it_log_has(province, mark_p, "dropped an answer", NULL));

    /* 6. A restart whose configured directory is still the first one (it
     * announces no next authority key) starts with version 7 all the same,
     * through the key the gateway learned when it adopted version 7; and
     * version 8, signed by that key alone and announcing none, is adopted
     * (before, the restart went back to the configured version and version
     * 8 was refused). */
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    mark_p = lt_it_log_mark(province);
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT(lt_it_log_has(province, mark_p, "serving " ID_P38, "(directory v7"));
    CU_ASSERT(!lt_it_log_has(province, mark_p, "ignoring the directory adopted earlier", NULL));
    CU_ASSERT(s_roll_out(&f, owner, province, 8, next_auth) == 0);

    /* 7. A restart whose configured directory (version 6) announces the
     * next authority key starts with version 8, which that key signed. */
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(province, v6, v6_len) == 0);
    mark_p = lt_it_log_mark(province);
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT(lt_it_log_has(province, mark_p, "serving " ID_P38, "(directory v8"));
    CU_ASSERT(!lt_it_log_has(province, mark_p, "ignoring the directory adopted earlier", NULL));
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    /* Each audit log holds checkpoints of the old and the new signing key. */
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
    CU_ASSERT(s_audit_verify(&f, province) == 0);
    /* 8. The ministry rotates once more: the .old file takes the keys of
     * step 2, and the first keys' public signing key, which signed the
     * log's first checkpoints, goes to the retired file, which audit
     * --verify trusts (before, it was lost and the log no longer verified).
     * No directory lists these next keys: --force promotes them all the same. */
    char retired[PATH_MAX], promote_out[PATH_MAX + 16];
    snprintf(promote_out, sizeof promote_out, "%s/promote.out", f.dir);
    s_sibling(retired, sizeof retired, mo, ".retired.pub");
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_promote_as(&f, owner, 1) == 0);
    CU_ASSERT(lt_it_file_contains(retired, z0));
    /* The owner is stopped: promote recorded the switch in its audit log,
     * signed by the previous key, and the log verifies with the promoted
     * key current (docs/ARCHITECTURE.md, "Audit log"). */
    CU_ASSERT(lt_it_file_contains(promote_out, "recorded the switch of keys"));
    CU_ASSERT(!s_secret_kept(mo->key_path, first_pk));
    CU_ASSERT(!s_secret_kept(mo->key_path, lt_keys_transport_public(mo->keys)));
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
    LT_IT_REQUIRE(s_promote_as(&f, owner, 1) != 0); /* nothing next: refused, the files untouched */
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
    CU_ASSERT(!lt_it_file_contains(owner->log_path, "runtime error:"));
    CU_ASSERT(!lt_it_file_contains(province->log_path, "runtime error:"));
out:
    if (started) {
        atomic_store(&l.stop, 1);
        pthread_join(th, NULL);
    }
    if (CU_get_number_of_failures() != failures0)
        s_dump(&f);
    lt_keys_destroy(&next_auth);
    free(v6);
    lt_ft_model_free(&model);
    pthread_mutex_destroy(&l.mu);
    lt_it_fed_cleanup(&f);
}

/* Sets g's heartbeat_ms (lt_itest writes 500) to ms in its configuration;
 * 0 or -1. */
static int s_set_heartbeat(lt_it_gw_t *g, int ms)
{
    FILE *f = fopen(g->conf_path, "r");
    if (!f)
        return -1;
    char text[16384], line[4096];
    size_t n = 0;
    int found = 0;
    text[0] = 0;
    while (fgets(line, sizeof line, f) && n < sizeof text) {
        if (strncmp(line, "heartbeat_ms = ", 15) == 0) {
            snprintf(line, sizeof line, "heartbeat_ms = %d;\n", ms);
            found = 1;
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
    }
    fclose(f);
    return found && n < sizeof text ? lt_it_write_file(g->conf_path, text) : -1;
}

/* The ministry and the province replicating its dataset, both running
 * (the policies name VN/PROV/01 too, which runs no gateway), with
 * heartbeat_ms (0: lt_itest's); 0 or -1. */
static int s_pair_hb(lt_it_fed_t *f, lt_it_member_t **mo, lt_it_gw_t **owner, lt_it_gw_t **province,
                     int heartbeat_ms)
{
    static const char *peers[] = {ID_OWNER, NULL};
    if (lt_it_fed_init(f, FED) != 0)
        return -1;
    f->extra_source = s_source;
    *mo = lt_it_member_add(f, ID_OWNER, 1);
    lt_it_member_t *mp = lt_it_member_add(f, ID_P38, 1);
    if (!*mo || !mp || !lt_it_member_add(f, ID_P01, 0))
        return -1;
    *owner = lt_it_gw_new(f, *mo, 1, NULL, NULL);
    *province = lt_it_gw_new(f, mp, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );\n");
    if (!*owner || !*province ||
        (heartbeat_ms && (s_set_heartbeat(*owner, heartbeat_ms) != 0 ||
                          s_set_heartbeat(*province, heartbeat_ms) != 0)))
        return -1;
    return lt_it_gw_run(*owner, READY_MS) == 0 && lt_it_gw_run(*province, READY_MS) == 0 ? 0 : -1;
}

static int s_pair(lt_it_fed_t *f, lt_it_member_t **mo, lt_it_gw_t **owner, lt_it_gw_t **province)
{
    return s_pair_hb(f, mo, owner, province, 0);
}

/* Publishes a change of citizens 0..n-1 at l's owner, each in its own
 * batch, then waits until the province holds them; 0 or -1. */
static int s_publish_all(load_t *l, size_t n, unsigned round, lt_it_gw_t *province)
{
    for (size_t i = 0; i < n; i++)
        if (s_publish(l, i, round) != 0)
            return -1;
    return lt_ft_wait_same(l->owner, province, DS, CONVERGE_MS);
}

/* The ministry's rotation to its end: version 2 (f's extra source as it
 * stands) lists its next keys, it switches to them, and version 3 (signed
 * by auth, NULL: the federation's authority) lists them alone; 0 or -1. */
static int s_rotate_owner(lt_it_fed_t *f, lt_it_member_t *mo, lt_it_gw_t *owner,
                          lt_it_gw_t *province, const lt_keys_t *auth)
{
    long mark_o = lt_it_log_mark(owner);
    if (s_keygen_next(f, mo) != 0 || s_roll_out(f, owner, province, 2, NULL) != 0 ||
        s_promote(f, owner) != 0 || lt_it_gw_signal(owner, SIGHUP) != 0 ||
        lt_it_log_wait(owner, mark_o, "switched to the keys", NULL, STEP_MS) != 0)
        return -1;
    lt_keys_destroy(&mo->keys);
    mo->keys = mo->next;
    mo->next = NULL;
    f->extra_source = s_source;
    return s_roll_out(f, owner, province, 3, auth);
}

/* `store verify` checks a replica under the directory the gateway starts
 * with: after the ministry's keys rotated and the authority signed the
 * directory with its next key (versions 2 and 3), the province's adopted
 * copy (version 3, trusted through the key it learned) lists the key that
 * signed every batch it holds; its configured version 1 lists only the
 * ministry's first key. Before, `store verify` took version 1 (it trusted
 * the pinned key alone) and reported every batch damaged. */
static void test_store_verify_after_authority_rotation(void)
{
    lt_it_fed_t f;
    lt_ft_model_t model;
    load_t l;
    lt_keys_t *next_auth = NULL;
    uint8_t *v1 = NULL; /* version 1, expired */
    size_t v1_len = 0;
    char source[2048], z[LT_Z85_KEY_LEN + 1];
    memset(&l, 0, sizeof l);
    memset(&model, 0, sizeof model);
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair(&f, &mo, &owner, &province) == 0);
    /* Version 2 (the first authority key) lists the ministry's next keys and
     * announces the next authority key; version 3, signed by the next
     * authority key alone, lists the new keys as the ministry's only keys. */
    LT_IT_REQUIRE((next_auth = lt_keys_new(LT_KEYS_AUTHORITY)) != NULL);
    lt_keys_z85_encode(lt_keys_signing_public(next_auth), z);
    snprintf(source, sizeof source, "%snext_authority_keys = [\"%s\"];\n", s_source, z);
    f.extra_source = source;
    LT_IT_REQUIRE(s_rotate_owner(&f, mo, owner, province, next_auth) == 0);
    /* Every batch the province holds is signed by the new key. */
    LT_IT_REQUIRE(lt_ft_model_init(&model, 8, 38000000000ULL) == 0);
    l.owner = owner;
    l.model = &model;
    LT_IT_REQUIRE(s_publish_all(&l, 8, 0, province) == 0);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(s_store_verify(&f, province) == 0);
    /* `gateway --check` reports on that directory too, even when the
     * configured file (version 1, the first authority key) has expired
     * since: the gateway starts with the adopted version 3 all the same.
     * Before, --check took the configured file first and refused it. */
    int64_t now = (int64_t)time(NULL);
    LT_IT_REQUIRE(lt_it_dir_bytes(&f, 1, now - 2 * 86400, now - 86400, NULL, &v1, &v1_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(province, v1, v1_len) == 0);
    CU_ASSERT(s_check_exits(&f, province, 0, "ok       directory: version 3, expires "));
    CU_ASSERT(s_check_says(&f, province, "newer than version 1 of the configured file"));
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    free(v1);
    lt_keys_destroy(&next_auth);
    lt_ft_model_free(&model);
    lt_it_fed_cleanup(&f);
}

/* `store verify` of g's store into path: its exit code. */
static int s_store_verify_out(lt_it_fed_t *f, lt_it_gw_t *g, const char *path)
{
    const char *args[] = {"store", "verify", "--config", g->conf_path, NULL};
    return lt_it_run_cli(f->dir, path, args, CLI_MS);
}

/* An lt_store_rec_fn gathering records into an lt_batch_recs_t. */
static int s_gather(void *arg, uint64_t seq, const void *rec, size_t len,
                    const uint8_t leaf[LT_HASH_BYTES])
{
    (void)seq, (void)leaf;
    return lt_batch_recs_add(arg, rec, len);
}

/* Changes, in the store at path, the last record of DS with a fresh
 * checksum, and rewrites the stream's cursor hash to the batch_hash of its
 * batch over the changed records: what one who can write the store does to
 * pass off a record the owner never signed; 0 or -1. */
static int s_tamper_tail(const char *path)
{
    char err[256];
    lt_stream_t st;
    lt_store_batch_t h;
    uint8_t *rec = NULL, root[LT_HASH_BYTES];
    size_t len = 0, hlen;
    int rc = -1;
    lt_batch_recs_t *r = calloc(1, sizeof *r);
    lt_store_t *s = lt_store_open(path, err, sizeof err);
    if (!r || !s || lt_store_stream(s, DS, &st) != 0 || st.last_seq == 0 ||
        lt_store_get(s, st.id, st.last_seq, &rec, &len) != 1 || len == 0)
        goto out;
    rec[len - 1] ^= 0x01;
    if (lt_store_replace(s, st.id, st.last_seq, rec, len) != 0 ||
        lt_store_batch_find(s, st.id, st.last_seq, &h) != 1)
        goto out;
    size_t n = (size_t)(h.last_seq - h.first_seq + 1);
    if (lt_store_read(s, st.id, h.first_seq, n, (size_t)-1, s_gather, r) != (int)n ||
        lt_batch_recs_root(r, root) != 0)
        goto out;
    uint8_t *H = lt_batch_header(DS, h.has_history ? h.history : NULL, h.first_seq, h.last_seq,
                                 h.prev_hash, root, &hlen);
    if (!H)
        goto out;
    lt_crypto_hash(H, hlen, st.last_hash);
    free(H);
    rc = lt_store_stream_save(s, &st);
out:
    if (!s)
        fprintf(stderr, "tamper: %s\n", err);
    free(rec);
    if (r)
        free(r->buf);
    free(r);
    lt_store_destroy(&s);
    return rc;
}

/* A province holds batches the ministry signed with its first key; the
 * rotation completes (version 3 lists the new key alone), and the province
 * keeps version 2, which listed the first key, as retired. Restarted while
 * the ministry is down, the province's tail check does not mark those
 * batches damaged: their signatures verify under the first key that
 * version 2 lists (PROTOCOL.md 6.10); it says they are signed with a key
 * the directory no longer lists, and `store verify` says the same and
 * exits 0. In a copy of its data where the last record is changed with a
 * fresh checksum and the cursor hash rewritten to match, `store verify`
 * finds damage. Once the ministry publishes under its new key, nothing is
 * reported. */
static void test_restart_after_member_rotation(void)
{
    lt_it_fed_t f;
    lt_ft_model_t model;
    load_t l;
    char out[PATH_MAX + 32], copy[PATH_MAX + 32], cmd[3 * PATH_MAX], db[PATH_MAX + 48];
    memset(&l, 0, sizeof l);
    memset(&model, 0, sizeof model);
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair(&f, &mo, &owner, &province) == 0);
    snprintf(out, sizeof out, "%s/store-verify.out", f.dir);
    /* Batches of the first key. */
    LT_IT_REQUIRE(lt_ft_model_init(&model, 8, 38000000000ULL) == 0);
    l.owner = owner;
    l.model = &model;
    LT_IT_REQUIRE(s_publish_all(&l, 8, 0, province) == 0);
    /* The rotation, to its end. */
    LT_IT_REQUIRE(s_rotate_owner(&f, mo, owner, province, NULL) == 0);

    /* The ministry is down; the province restarts. */
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    snprintf(db, sizeof db, "%s/directory.retired-2.signed", province->data_dir);
    CU_ASSERT(access(db, F_OK) == 0);
    CU_ASSERT_EQUAL(s_store_verify_out(&f, province, out), 0);
    CU_ASSERT(lt_it_file_contains(out, "key retired: " DS " records 1..8"));
    CU_ASSERT(lt_it_file_contains(out, " intact: "));
    CU_ASSERT(!lt_it_file_contains(out, "damaged: "));
    long mark_p = lt_it_log_mark(province);
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(province, mark_p, "signed with a key the directory no longer lists",
                             NULL, STEP_MS) == 0);
    CU_ASSERT(!lt_it_log_has(province, mark_p, "are damaged in the store", NULL));
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);

    /* A copy of its data with the last record changed and the cursor
     * rewritten to match: damage, not a retired key. */
    snprintf(copy, sizeof copy, "%s/tampered", f.dir);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", province->data_dir, copy);
    LT_IT_REQUIRE(system(cmd) == 0);
    snprintf(db, sizeof db, "%s/store.db", copy);
    LT_IT_REQUIRE(s_tamper_tail(db) == 0);
    const char *args[] = {"store",      "verify", "--config", province->conf_path,
                          "--data-dir", copy,     NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(f.dir, out, args, CLI_MS), 1);
    /* The batch holding record 8 (one or more records, as published). */
    CU_ASSERT(lt_it_file_contains(out, "damaged: " DS " records "));
    CU_ASSERT(lt_it_file_contains(out, "..8: the owner's signature does not verify"));
    CU_ASSERT(!lt_it_file_contains(out, " intact: "));

    /* The ministry publishes under its new key: the chain proves the rest. */
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_all(&l, 8, 1, province) == 0);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT_EQUAL(s_store_verify_out(&f, province, out), 0);
    CU_ASSERT(lt_it_file_contains(out, " intact: "));
    CU_ASSERT(!lt_it_file_contains(out, "key retired"));
    mark_p = lt_it_log_mark(province);
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT(lt_ft_wait_same(owner, province, DS, CONVERGE_MS) == 0);
    CU_ASSERT(!lt_it_log_has(province, mark_p, "are damaged in the store", NULL));
    CU_ASSERT(!lt_it_log_has(province, mark_p, "no longer lists", NULL));
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_ft_model_free(&model);
    lt_it_fed_cleanup(&f);
}

/* ---- a connected owner slow to read, mid-rotation ---------------------------------------- */

/* The province's heartbeat in that case: libzmq closes a connection that
 * stays silent for five of them (lt_sock), which would make the link
 * rightly not connected while the owner is stopped; 2 s leaves 10 s. */
#define SLOW_HEARTBEAT_MS 2000
/* Lookups sent to fill the link's queue: its 10,000 messages (lt_sock's
 * high-water mark) and the TCP buffers, a few MB, under the caller's
 * LT_QUERY_MAX_OUTSTANDING; each is some 2 kB (SLOW_FIELDS names). */
#define SLOW_FLOOD  14000
#define SLOW_FIELDS 16

/* Sends n lookups with request ids from id through the province's local
 * socket, each naming SLOW_FIELDS long field names, due ahead_ms from now
 * (deadline_ms: the owner refuses them at once when it reads them late,
 * rather than answering each). Their replies are not read. 0 or -1. */
/* An application's socket to g's local socket, or NULL. */
static void *s_app(const lt_it_gw_t *g)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    void *app = lt_sock_local_client(lt_it_ctx(), g->sock_path, &o, err, sizeof err);
    if (!app)
        fprintf(stderr, "\n  %s\n", err);
    return app;
}

static int s_flood(lt_it_gw_t *province, uint64_t id, size_t n, int ahead_ms)
{
    char names[SLOW_FIELDS][LT_QUERY_MAX_FIELD_NAME + 1], *fields[SLOW_FIELDS];
    void *app = s_app(province);
    if (!app)
        return -1;
    for (size_t k = 0; k < SLOW_FIELDS; k++) {
        memset(names[k], 'a' + (int)k, LT_QUERY_MAX_FIELD_NAME);
        names[k][LT_QUERY_MAX_FIELD_NAME] = 0;
        fields[k] = names[k];
    }
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.dataset = DS;
    q.key = "038000000000";
    q.fields = fields;
    q.n_fields = SLOW_FIELDS;
    q.purpose = "KYC";
    q.case_ref = "ROT-SLOW";
    q.deadline_ms = lt_clock_now_ms() + ahead_ms;
    /* Sends do not wait (lt_wire): one finding the socket's queue full
     * waits for room, within ahead_ms in all. */
    int64_t end = lt_it_ms() + ahead_ms;
    size_t i = 0;
    while (i < n && lt_it_ms() < end) {
        q.request_id = id + i;
        zmq_pollitem_t it = {app, 0, ZMQ_POLLOUT, 0};
        if (lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q) == 0)
            i++;
        else if (zmq_errno() != EAGAIN || zmq_poll(&it, 1, 100) < 0)
            break;
    }
    /* The local socket lingers 0 ms: closed at once, it would drop what it
     * has not yet written, every request when its connection was not made
     * yet (the flood then reached no one, and no link moved). */
    int linger = ahead_ms;
    if (zmq_setsockopt(app, ZMQ_LINGER, &linger, sizeof linger) != 0)
        fprintf(stderr, "\n  cannot set ZMQ_LINGER: %s\n", zmq_strerror(zmq_errno()));
    zmq_close(app);
    if (i < n)
        fprintf(stderr, "\n  %zu of %zu lookups sent\n", i, n);
    return i == n ? 0 : -1;
}

/* An owner listed with two transport keys (before its switch) whose
 * gateway is connected but does not read (SIGSTOP: the kernel keeps the
 * TCP connection): lookups fill the province's link. The link is
 * connected, full: the province keeps it on the key it has, and once the
 * owner reads again lookups are answered. Before, a link that could not
 * send for 1 s was reopened on the owner's other key, which it does not
 * hold, dropping what the link had queued, and back a second later.
 * two_endpoints: the owner lists a second endpoint from version 2. */
static void s_full_link(int two_endpoints)
{
    lt_it_fed_t f;
    lt_ft_model_t model;
    load_t l;
    char why[400];
    int stopped = 0;
    memset(&l, 0, sizeof l);
    memset(&model, 0, sizeof model);
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair_hb(&f, &mo, &owner, &province, SLOW_HEARTBEAT_MS) == 0);
    LT_IT_REQUIRE(lt_ft_model_init(&model, 8, 38000000000ULL) == 0);
    l.owner = owner;
    l.model = &model;
    LT_IT_REQUIRE(s_publish_all(&l, 8, 0, province) == 0);
    /* Mid-rotation: version 2 lists the owner's next keys; it still uses
     * its first ones. With two endpoints, the second (nothing listens
     * there) is where a reopened link would go. */
    if (two_endpoints) {
        int port = lt_it_free_port();
        LT_IT_REQUIRE(port > 0);
        snprintf(mo->endpoint2, sizeof mo->endpoint2, "tcp://127.0.0.1:%d", port);
    }
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0 && s_roll_out(&f, owner, province, 2, NULL) == 0);
    void *app = s_app(province);
    LT_IT_REQUIRE(app != NULL);
    const char *bad = s_lookup(app, 3, 1, why, sizeof why);
    CU_ASSERT_PTR_NULL(bad);
    long mark_p = lt_it_log_mark(province);

    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGSTOP) == 0);
    stopped = 1;
    int64_t t0 = lt_it_ms();
    CU_ASSERT(s_flood(province, 100000, SLOW_FLOOD, 4000) == 0);
    int64_t filled = lt_it_ms() - t0;
    usleep(2500 * 1000); /* past KEY_FLIP_MS twice over */
    CU_ASSERT(!lt_it_log_has(province, mark_p, "trying its", NULL));
    CU_ASSERT(lt_it_gw_signal(owner, SIGCONT) == 0);
    stopped = 0;
    fprintf(stderr, "\n  %d lookups sent in %lld ms; owner stopped %lld ms ", SLOW_FLOOD,
            (long long)filled, (long long)(lt_it_ms() - t0));
    /* The owner reads again: a lookup is answered. */
    bad = s_lookup(app, 5, 2, why, sizeof why);
    CU_ASSERT_PTR_NULL(bad);
    if (bad)
        fprintf(stderr, "\n  lookup after SIGCONT: %s\n", bad);
    CU_ASSERT(!lt_it_log_has(province, mark_p, "trying its", NULL));
    zmq_close(app);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    if (stopped)
        (void)lt_it_gw_signal(owner, SIGCONT);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_ft_model_free(&model);
    lt_it_fed_cleanup(&f);
}

static void test_full_link_keeps_key(void)
{
    s_full_link(0);
}

/* The same owner listed with two endpoints: the lookups waiting for room
 * on the full link do not move it to the other endpoint (which would also
 * drop what it queued, PROTOCOL.md 5.5 step 3). Before, each of them did
 * so about once a second, and the link never settled. */
static void test_full_link_keeps_endpoint(void)
{
    s_full_link(1);
}

/* An owner listed with two endpoints whose gateway is down: each of the
 * lookups waiting for it asks for the link to move to the other endpoint,
 * about once a second. The link moves at most once a second in all; before,
 * it moved at every ask, hundreds of times a second, so no handshake could
 * finish once the owner came back. */
static void test_down_owner_moves_once_a_second(void)
{
    lt_it_fed_t f;
    lt_ft_model_t model;
    load_t l;
    memset(&l, 0, sizeof l);
    memset(&model, 0, sizeof model);
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair_hb(&f, &mo, &owner, &province, SLOW_HEARTBEAT_MS) == 0);
    LT_IT_REQUIRE(lt_ft_model_init(&model, 8, 38000000000ULL) == 0);
    l.owner = owner;
    l.model = &model;
    LT_IT_REQUIRE(s_publish_all(&l, 8, 0, province) == 0);
    int port = lt_it_free_port();
    LT_IT_REQUIRE(port > 0);
    snprintf(mo->endpoint2, sizeof mo->endpoint2, "tcp://127.0.0.1:%d", port);
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 2, NULL) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    long mark_p = lt_it_log_mark(province);
    int64_t t0 = lt_it_ms();
    CU_ASSERT(s_flood(province, 200000, 2000, 6000) == 0);
    /* The first move comes about a second after the link went down, later
     * on a busy machine: waited for (up to 15 s), then 3 s more counted. */
    int moves = 0;
    for (int i = 0; i < 150 && moves < 1; i++) {
        usleep(100 * 1000);
        moves = lt_it_file_count(province->log_path, mark_p, "trying its endpoint", NULL);
    }
    usleep(3000 * 1000);
    int64_t waited = lt_it_ms() - t0;
    moves = lt_it_file_count(province->log_path, mark_p, "trying its endpoint", NULL);
    fprintf(stderr, "\n  %d moves in %lld ms ", moves, (long long)waited);
    CU_ASSERT(moves >= 1);
    CU_ASSERT(moves <= waited / 1000 + 2);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
out:
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_ft_model_free(&model);
    lt_it_fed_cleanup(&f);
}

/* 1 when the key file at path holds k's keys. */
/* 1 if the previous public keys of key_path (lt_keys_old_public) are k's. */
static int s_old_is(const char *key_path, const lt_keys_t *k)
{
    char err[512];
    uint8_t transport[LT_KEY_BYTES], signing[LT_KEY_BYTES];
    return lt_keys_old_public(key_path, transport, signing, NULL, 0, err, sizeof err) == 1 &&
           memcmp(transport, lt_keys_transport_public(k), LT_KEY_BYTES) == 0 &&
           memcmp(signing, lt_keys_signing_public(k), LT_KEY_BYTES) == 0;
}

static int s_holds(const char *path, const lt_keys_t *k)
{
    char err[512];
    lt_keys_t *on_disk = lt_keys_load(path, err, sizeof err);
    int same = on_disk && memcmp(lt_keys_transport_public(on_disk), lt_keys_transport_public(k),
                                 LT_KEY_BYTES) == 0;
    lt_keys_destroy(&on_disk);
    return same;
}

/* Writes version of the directory (as f's members stand now) to g's
 * data_dir as the copy it adopted, which the gateway starts with when it
 * is newer than its configured file. */
static int s_adopted(lt_it_fed_t *f, lt_it_gw_t *g, uint64_t version)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/directory.signed", g->data_dir);
    if (mkdir(g->data_dir, 0700) != 0 && errno != EEXIST)
        return -1;
    return lt_it_dir_sign(f, version, 0, 0, NULL, path);
}

/* `keys promote --config` looks at the directory the gateway would start
 * with (its adopted copy when newer than its configured file, PROTOCOL.md
 * 5.3): it refuses next keys that directory does not list (promoted, the
 * gateway would refuse to start), and a second rotation while the
 * directory still lists the previous keys (the .old.pub file, or an
 * earlier version's .old.key, read for its public keys); --force skips the
 * check. Each refusal changes no file. After each promote no file holds
 * the secret keys it retired (review F3). */
static void test_promote_checks_directory(void)
{
    lt_it_fed_t f;
    char out[PATH_MAX + 16], old[PATH_MAX], next[PATH_MAX], legacy[PATH_MAX], err[512];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL; /* the first keys, then those before the current ones */
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    snprintf(out, sizeof out, "%s/promote.out", f.dir);
    s_sibling(old, sizeof old, mo, ".old.pub");
    s_sibling(legacy, sizeof legacy, mo, ".old.key");
    s_sibling(next, sizeof next, mo, ".next.key");
    k1 = mo->keys;

    /* Version 1 does not list the next keys. */
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT(lt_it_file_contains(out, "directory version 1 does not list the next keys"));
    CU_ASSERT(s_holds(mo->key_path, k1) && access(next, F_OK) == 0 && access(old, F_OK) != 0);

    /* Version 2, adopted, lists them: promoted. */
    LT_IT_REQUIRE(s_adopted(&f, owner, 2) == 0);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    CU_ASSERT(s_holds(mo->key_path, mo->next) && s_old_is(mo->key_path, k1));

    CU_ASSERT(!s_secret_kept(mo->key_path, lt_keys_transport_public(k1)));
    /* An earlier version kept the whole keys in .old.key: its public part
     * is read in place of .old.pub, and the next promote removes it. */
    LT_IT_REQUIRE(lt_keys_save(k1, legacy) == 0 && unlink(old) == 0);
    CU_ASSERT(s_old_is(mo->key_path, k1));

    /* Rotating again before the authority made them current: version 2
     * still lists the keys of the .old file. */
    mo->keys = mo->next;
    mo->next = NULL;
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT(lt_it_file_contains(out, "has not completed the previous rotation"));
    CU_ASSERT(s_holds(mo->key_path, mo->keys) && s_old_is(mo->key_path, k1) &&
              access(next, F_OK) == 0);

    /* Version 3 lists the promoted keys as current, the new ones as next. */
    LT_IT_REQUIRE(s_adopted(&f, owner, 3) == 0);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    CU_ASSERT(s_holds(mo->key_path, mo->next) && s_old_is(mo->key_path, mo->keys));
    CU_ASSERT(access(legacy, F_OK) != 0 && lt_it_file_contains(out, "removed"));
    CU_ASSERT(!s_secret_kept(mo->key_path, lt_keys_transport_public(k1)) &&
              !s_secret_kept(mo->key_path, lt_keys_transport_public(mo->keys)));
    uint8_t retired[2][LT_KEY_BYTES];
    size_t n_retired = 0;
    CU_ASSERT(lt_keys_retired_load(mo->key_path, retired, 2, &n_retired, err, sizeof err) == 0 &&
              n_retired == 1 && memcmp(retired[0], lt_keys_signing_public(k1), LT_KEY_BYTES) == 0);

    /* Next keys no directory lists: only --force promotes them. */
    lt_keys_destroy(&k1);
    k1 = mo->keys;
    mo->keys = mo->next;
    mo->next = NULL;
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 1), 0);
    CU_ASSERT(s_holds(mo->key_path, mo->next) && s_old_is(mo->key_path, mo->keys));
out:
    if (mo && k1 != mo->keys)
        lt_keys_destroy(&k1);
    lt_it_fed_cleanup(&f);
}

/* `lienthong backup` then `restore` of g into an emptied data directory
 * (moved aside, as on a rebuilt host), its output in f->dir's restore.out:
 * the restore's exit code, or -1 when the backup or the move failed. */
static int s_backup_wipe_restore(lt_it_fed_t *f, lt_it_gw_t *g)
{
    char backup[PATH_MAX + 32], lost[PATH_MAX + 16], out[PATH_MAX + 16];
    snprintf(backup, sizeof backup, "%s/store-backup.db", f->dir);
    snprintf(lost, sizeof lost, "%s.lost", g->data_dir);
    snprintf(out, sizeof out, "%s/backup.out", f->dir);
    const char *b_args[] = {"backup", "--config", g->conf_path, "--to", backup, NULL};
    const char *r_args[] = {"restore", "--config", g->conf_path, "--from", backup, NULL};
    if (lt_it_run_cli(f->dir, out, b_args, CLI_MS) != 0) {
        lt_it_file_dump(out);
        return -1;
    }
    if (lt_it_gw_stop(g, STOP_MS) != 0 || rename(g->data_dir, lost) != 0)
        return -1;
    snprintf(out, sizeof out, "%s/restore.out", f->dir);
    return lt_it_run_cli(f->dir, out, r_args, CLI_MS);
}

/* A province's host rebuilt from its backup after the province rotated its
 * own keys (docs/operations.md, "Backup and restore"): its configured
 * directory is still version 1, which lists only its old keys; versions 2
 * and 3 reached it from the ministry. `lienthong backup` copies the
 * adopted directory with the store, and `lienthong restore` puts it back,
 * so the gateway starts on version 3 with its new keys. Before, it refused
 * to start ("does not hold the keys the directory lists"). A restore into
 * a data directory holding a newer version keeps that version. */
static void test_restore_after_member_rotation(void)
{
    lt_it_fed_t f;
    char out[PATH_MAX + 16];
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair(&f, &mo, &owner, &province) == 0);
    lt_it_member_t *mp = province->member;
    long mark = lt_it_log_mark(province);
    LT_IT_REQUIRE(s_keygen_next(&f, mp) == 0 && s_roll_out(&f, owner, province, 2, NULL) == 0);
    LT_IT_REQUIRE(s_promote(&f, province) == 0 && lt_it_gw_signal(province, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_log_wait(province, mark, "switched to the keys", NULL, STEP_MS) == 0);
    lt_keys_destroy(&mp->keys);
    mp->keys = mp->next;
    mp->next = NULL;
    LT_IT_REQUIRE(s_roll_out(&f, owner, province, 3, NULL) == 0);

    snprintf(out, sizeof out, "%s/restore.out", f.dir);
    CU_ASSERT_EQUAL(s_backup_wipe_restore(&f, province), 0);
    CU_ASSERT(lt_it_file_contains(out, "adopted directory version 3 restored"));
    CU_ASSERT(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_version(province), 3);

    /* Version 4 adopted since the backup is kept. */
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    LT_IT_REQUIRE(s_adopted(&f, province, 4) == 0);
    const char *args[] = {"restore", "--config", province->conf_path, "--from", NULL, NULL};
    char backup[PATH_MAX + 32];
    snprintf(backup, sizeof backup, "%s/store-backup.db", f.dir);
    args[4] = backup;
    CU_ASSERT_EQUAL(lt_it_run_cli(f.dir, out, args, CLI_MS), 0);
    CU_ASSERT(lt_it_file_contains(out, "its version 4 is not older than version 3"));
    CU_ASSERT(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_version(province), 4);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* A province down through its owner's whole rotation (docs/operations.md,
 * "Rotating keys"): it comes back with version 1, which lists only the
 * ministry's old transport key, and the ministry, its only peer, breaks
 * off every handshake. Its log names that cause instead of a gateway that
 * does not run; the remedy the documentation gives (the current directory
 * installed as its directory file, then a reload) reconnects it. */
static void test_handshake_after_missed_rotation(void)
{
    lt_it_fed_t f;
    uint8_t *v3 = NULL;
    size_t v3_len = 0;
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL, *province = NULL;
    LT_IT_REQUIRE(s_pair(&f, &mo, &owner, &province) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(province, STOP_MS) == 0);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0 && s_roll_out(&f, owner, NULL, 2, NULL) == 0);
    LT_IT_REQUIRE(s_promote(&f, owner) == 0 && lt_it_gw_signal(owner, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_log_wait(owner, mark, "switched to the keys", NULL, STEP_MS) == 0);
    lt_keys_destroy(&mo->keys);
    mo->keys = mo->next;
    mo->next = NULL;
    LT_IT_REQUIRE(s_roll_out(&f, owner, NULL, 3, NULL) == 0);

    mark = lt_it_log_mark(province);
    LT_IT_REQUIRE(lt_it_gw_run(province, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(province, mark, "handshake with " ID_OWNER " at ",
                             "the peer may have rotated its keys", CONVERGE_MS) == 0);
    CU_ASSERT(!lt_it_file_count(province->log_path, mark, "no answer from " ID_OWNER, NULL));
    LT_IT_REQUIRE(lt_it_dir_bytes(&f, 3, 0, 0, NULL, &v3, &v3_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(province, v3, v3_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_signal(province, SIGHUP) == 0);
    CU_ASSERT(lt_it_gw_wait_version(province, 3, STEP_MS) == 0);
    CU_ASSERT(lt_it_gw_wait_peer(province, ID_OWNER, CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(province, STOP_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    free(v3);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* Runs g with its member's next keys generated and directory version 2,
 * which lists them, adopted (an audit entry, signed by the first keys).
 * 0, or -1. */
static int s_run_listing_next(lt_it_fed_t *f, lt_it_gw_t *g)
{
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    int rc = s_keygen_next(f, g->member) == 0 && lt_it_gw_run(g, READY_MS) == 0 &&
                     lt_it_dir_bytes(f, 2, 0, 0, NULL, &v2, &v2_len) == 0 &&
                     lt_it_gw_put_directory(g, v2, v2_len) == 0 &&
                     lt_it_gw_signal(g, SIGHUP) == 0 && lt_it_gw_wait_version(g, 2, STEP_MS) == 0
                 ? 0
                 : -1;
    free(v2);
    return rc;
}

/* Keys promoted while the gateway runs, then a restart instead of a
 * reload: the gateway records the switch in its audit log as it stops,
 * signed by the keys it still holds, and starts with the new ones; the
 * log verifies with the new key current. Before, no keys-switched entry
 * was written, and the newest checkpoint stayed the previous key's. */
static void test_promote_then_restart(void)
{
    lt_it_fed_t f;
    char out[PATH_MAX + 16];
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    snprintf(out, sizeof out, "%s/promote.out", f.dir);
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    long mark = lt_it_log_mark(owner);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    CU_ASSERT(!lt_it_file_contains(out, "recorded the switch")); /* it runs: not promote's */
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT(lt_it_log_has(owner, mark, "recorded in the audit log the switch", NULL));
    mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(!lt_it_log_has(owner, mark, "is not signed by this gateway's signing key", NULL));
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
out:
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* Keys promoted while the gateway runs, then the gateway killed (SIGKILL:
 * an OOM kill, a power loss) before a reload or a stop records the switch
 * (item 2 of the second review). The promote keeps the replaced secret
 * keys in PREFIX.switch.key; the next start records the switch from them,
 * signed by them and countersigned by the promoted keys, and removes the
 * file; the log verifies with the new key current. Before, nothing ever
 * recorded the switch and every later checkpoint failed to verify. */
static void test_promote_then_kill(void)
{
    lt_it_fed_t f;
    char sw[PATH_MAX];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    s_sibling(sw, sizeof sw, mo, ".switch.key");
    k1 = mo->keys;
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    /* A stop commits the adoption's entry: the log has a checkpoint of k1. */
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    /* Until the switch is recorded, the replaced secret keys are kept. */
    CU_ASSERT(s_holds(sw, k1));
    lt_it_gw_kill(owner);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(
        lt_it_log_has(owner, mark, "recorded in the audit log the switch from the keys", NULL));
    CU_ASSERT(access(sw, F_OK) != 0 && !s_secret_kept(mo->key_path, lt_keys_transport_public(k1)));
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
out:
    if (mo && k1 != mo->keys)
        lt_keys_destroy(&k1);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* 1 once path exists, within timeout_ms. */
static int s_appears(const char *path, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 10; i++) {
        if (access(path, F_OK) == 0)
            return 1;
        (void)nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    }
    return access(path, F_OK) == 0;
}

/* Plays a promote under way on key_file while owner starts: holds the
 * promote lock, writes the keys in use to the switch file sw, starts the
 * gateway, waits for it to wait for the lock, replaces the key file with
 * other keys and releases the lock. The switch file must stay (the key file
 * changed after the gateway loaded it). The key file is put back before the
 * stop, and the switch file, then a leftover, removed by the next start. 0,
 * or -1 when a step could not be made. */
static int s_promote_under_way(lt_it_fed_t *f, lt_it_gw_t *owner, const char *key_file,
                               const char *sw)
{
    char err[512];
    (void)f;
    lt_keys_t *now = lt_keys_load(key_file, err, sizeof err);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    int rc = -1, plock = lt_keys_promote_lock(key_file, 0);
    if (!now || !other || plock < 0 || lt_keys_save(now, sw) != 0)
        goto out;
    long mark = lt_it_log_mark(owner);
    if (lt_it_gw_start(owner) != 0)
        goto out;
    for (int i = 0;
         i < READY_MS / 10 && !lt_it_log_has(owner, mark, "waiting for the promote", NULL); i++)
        (void)nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    CU_ASSERT(lt_it_log_has(owner, mark, "waiting for the promote", NULL));
    if (lt_keys_save(other, key_file) != 0)
        goto out;
    close(plock);
    plock = -1;
    if (lt_it_gw_wait_ready(owner, READY_MS) != 0)
        goto out;
    CU_ASSERT(s_holds(sw, now));
    CU_ASSERT(lt_it_log_has(owner, mark, "was promoted after this gateway loaded it", NULL));
    if (lt_keys_save(now, key_file) != 0)
        goto out;
    lt_it_gw_kill(owner);
    mark = lt_it_log_mark(owner);
    if (lt_it_gw_run(owner, READY_MS) != 0)
        goto out;
    CU_ASSERT(
        lt_it_log_has(owner, mark, "a promote stopped before it replaced the key file", NULL));
    CU_ASSERT(access(sw, F_OK) != 0);
    rc = lt_it_gw_stop(owner, STOP_MS);
out:
    if (plock >= 0)
        close(plock);
    lt_keys_destroy(&now);
    lt_keys_destroy(&other);
    return rc;
}

/* Keys promoted while the gateway starts (item 1 of the third review): it
 * holds the data directory's lock, so promote leaves the switch to it, but
 * it loaded the key file before promote replaced it. The switch file then
 * holds the keys it runs with; it must stay until a reload, a stop or the
 * next start records the switch. Before, the start removed it ("the audit
 * log records the switch"), and after a kill nothing ever recorded it. The
 * pause is a hook of builds with tests (LT_TEST_PAUSE_START). */
static void test_promote_while_starting(void)
{
    lt_it_fed_t f;
    char sw[PATH_MAX], pause[PATH_MAX + 16], paused[PATH_MAX + 32];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    s_sibling(sw, sizeof sw, mo, ".switch.key");
    snprintf(pause, sizeof pause, "%s/pause", f.dir);
    snprintf(paused, sizeof paused, "%s.paused", pause);
    k1 = mo->keys;
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    LT_IT_REQUIRE(setenv("LT_TEST_PAUSE_START", pause, 1) == 0);
    int started = lt_it_gw_start(owner);
    LT_IT_REQUIRE(unsetenv("LT_TEST_PAUSE_START") == 0);
    LT_IT_REQUIRE(started == 0 && s_appears(paused, READY_MS));
    long mark = lt_it_log_mark(owner);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    FILE *fp = fopen(pause, "w");
    LT_IT_REQUIRE(fp != NULL && fclose(fp) == 0);
    LT_IT_REQUIRE(lt_it_gw_wait_ready(owner, READY_MS) == 0);
    CU_ASSERT(s_holds(sw, k1));
    CU_ASSERT(lt_it_log_has(owner, mark, "was promoted after this gateway loaded it", NULL));
    lt_it_gw_kill(owner);
    mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(
        lt_it_log_has(owner, mark, "recorded in the audit log the switch from the keys", NULL));
    CU_ASSERT(access(sw, F_OK) != 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
    /* What a promote killed before it replaced the key file leaves: a
     * switch file holding the keys in use, which the start removes. */
    char err[512];
    lt_keys_t *now = lt_keys_load(mo->key_path, err, sizeof err);
    LT_IT_REQUIRE(now != NULL);
    int saved = lt_keys_save(now, sw);
    lt_keys_destroy(&now);
    LT_IT_REQUIRE(saved == 0);
    mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(
        lt_it_log_has(owner, mark, "a promote stopped before it replaced the key file", NULL));
    CU_ASSERT(access(sw, F_OK) != 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT(s_audit_verify(&f, owner) == 0);
    /* A promote under way (item 1 of the fourth review): it holds its lock,
     * has written the switch file and not yet the key file when the
     * gateway starts. The start waits for the lock, then reads the key
     * file the promote left: promoted after the gateway loaded it, so the
     * switch file stays. Before, the start read the key file at once, took
     * the switch file for one a killed promote left, and removed it. */
    LT_IT_REQUIRE(s_promote_under_way(&f, owner, mo->key_path, sw) == 0);
out:
    if (mo && k1 != mo->keys)
        lt_keys_destroy(&k1);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* A promote that holds its lock past the 10 s a starting gateway waits for
 * it: before, the gateway started without deciding the switch file, so it
 * could sign with promoted keys while the audit log's key in force was
 * the previous one, and a later start took the switch file for recorded.
 * Now it does not start (systemd restarts it, by when the promote is
 * done), and starts once the lock is free. */
static void test_start_refused_while_promote_holds_lock(void)
{
    lt_it_fed_t f;
    lt_it_member_t *mo = NULL;
    lt_it_gw_t *owner = NULL;
    int status = 0, plock = -1;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    LT_IT_REQUIRE((plock = lt_keys_promote_lock(mo->key_path, 0)) >= 0);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_start(owner) == 0);
    CU_ASSERT(lt_it_gw_wait_exit(owner, LT_KEYS_PROMOTE_WAIT_MS + READY_MS, &status) == 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CU_ASSERT(lt_it_log_has(owner, mark, "still holds its lock after", "not starting"));
    close(plock);
    plock = -1;
    CU_ASSERT(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
out:
    if (plock >= 0)
        close(plock);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* Copies the keys of src to dst. 0 or -1. */
static int s_copy_keys(const char *src, const char *dst)
{
    char err[512];
    lt_keys_t *k = lt_keys_load(src, err, sizeof err);
    int rc = k && lt_keys_save(k, dst) == 0 ? 0 : -1;
    lt_keys_destroy(&k);
    return rc;
}

/* Item 3 of the third review: `promote --config C --key K` with K a copy
 * of C's key file recorded in C's audit log a switch to keys C's key file
 * does not hold; and keys put in the key file by hand, not the audit log's
 * key in force, signed a switch that could not verify. Both are refused
 * now, nothing changed. */
static void test_promote_refuses_other_keys(void)
{
    lt_it_fed_t f;
    char out[PATH_MAX + 16], copy[PATH_MAX + 16], copy_next[PATH_MAX + 24], next[PATH_MAX];
    lt_it_member_t *mo = NULL;
    lt_keys_t *other = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    snprintf(out, sizeof out, "%s/promote.out", f.dir);
    snprintf(copy, sizeof copy, "%s/copy.key", f.dir);
    snprintf(copy_next, sizeof copy_next, "%s/copy.next.key", f.dir);
    s_sibling(next, sizeof next, mo, ".next.key");
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0); /* a checkpoint of the keys in use */
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, copy) == 0 && s_copy_keys(next, copy_next) == 0);
    const char *args[] = {"keys", "promote", "--config", owner->conf_path, "--key", copy, NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(f.dir, out, args, CLI_MS), 2);
    CU_ASSERT(lt_it_file_contains(out, "is not the key file of"));
    CU_ASSERT(s_holds(copy, mo->keys) && access(copy_next, F_OK) == 0);
    /* Keys put in the key file by hand while the gateway was stopped. */
    LT_IT_REQUIRE((other = lt_keys_new(LT_KEYS_MEMBER)) != NULL);
    LT_IT_REQUIRE(lt_keys_save(other, mo->key_path) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 1), 1);
    CU_ASSERT(lt_it_file_contains(out, "are not the audit log's signing key in force"));
    CU_ASSERT(s_holds(mo->key_path, other) && access(next, F_OK) == 0);
out:
    lt_keys_destroy(&other);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* Item 5 of the third review: a kill inside the write of the switch file
 * leaves PREFIX.switch.key.new, the replaced secret keys, which nothing
 * removed. The gateway's start removes it, and so does a promote. So too
 * PREFIX.key.new, left by a kill inside the write of the key file (item 3
 * of the fifth review). */
static void test_switch_new_removed(void)
{
    lt_it_fed_t f;
    char sw_new[PATH_MAX + 16], key_new[PATH_MAX + 16];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    s_sibling(sw_new, sizeof sw_new, mo, ".switch.key.new");
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    snprintf(key_new, sizeof key_new, "%s.new", mo->key_path);
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, sw_new) == 0);
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, key_new) == 0);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(access(sw_new, F_OK) != 0 && access(key_new, F_OK) != 0);
    CU_ASSERT(lt_it_log_has(owner, mark, "left by a promote stopped while it wrote", NULL));
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    k1 = mo->keys;
    mo->keys = mo->next;
    mo->next = NULL;
    /* A promote refused (the directory does not list these next keys)
     * removes it all the same: one that goes on writes the file anew. */
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, sw_new) == 0);
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, key_new) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT(access(sw_new, F_OK) != 0 && access(key_new, F_OK) != 0);
out:
    if (mo && k1 != mo->keys)
        lt_keys_destroy(&k1);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* A promote that fails once it changed files (here: the stopped gateway's
 * audit log cannot be opened to record the switch) puts every file back:
 * the key file, the .old.pub file as it was (item 3 of the second review:
 * it kept the current public keys, so a retry skipped the check of the
 * previous rotation), no switch file, the next keys still there. */
static void test_failed_promote_puts_back(void)
{
    lt_it_fed_t f;
    char next[PATH_MAX], sw[PATH_MAX], audit[PATH_MAX + 16];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    s_sibling(next, sizeof next, mo, ".next.key");
    s_sibling(sw, sizeof sw, mo, ".switch.key");
    snprintf(audit, sizeof audit, "%s/audit.db", owner->data_dir);
    k1 = mo->keys;
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_adopted(&f, owner, 2) == 0);
    CU_ASSERT_EQUAL(s_promote(&f, owner), 0);
    CU_ASSERT(s_old_is(mo->key_path, k1) && access(sw, F_OK) != 0);
    mo->keys = mo->next;
    mo->next = NULL;
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_adopted(&f, owner, 3) == 0);
    FILE *bad = fopen(audit, "w");
    LT_IT_REQUIRE(bad != NULL);
    fputs("not an audit log, and not a database either: opening it fails\n", bad);
    LT_IT_REQUIRE(fclose(bad) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT(s_holds(mo->key_path, mo->keys));
    CU_ASSERT(s_old_is(mo->key_path, k1));
    CU_ASSERT(access(sw, F_OK) != 0 && access(next, F_OK) == 0);
out:
    if (mo && k1 != mo->keys)
        lt_keys_destroy(&k1);
    lt_it_fed_cleanup(&f);
}

/* A promote killed after it wrote the current public keys to .old.pub and
 * before the switch file left .old.pub holding the keys still in use: a
 * retry compared the directory with those, and skipped the check of the
 * previous rotation (item 2 of the fifth review). The files are put in
 * that state by hand: the killed promote had appended the previous
 * signing key to the retired file first. The retry refuses, as the
 * promote before the kill would have. */
static void test_promote_killed_after_old_pub(void)
{
    lt_it_fed_t f;
    char out[PATH_MAX + 16], next[PATH_MAX], err[1200];
    lt_it_member_t *mo = NULL;
    lt_keys_t *k1 = NULL;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    snprintf(out, sizeof out, "%s/promote.out", f.dir);
    s_sibling(next, sizeof next, mo, ".next.key");
    const lt_keys_t *k0 = mo->keys;
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_adopted(&f, owner, 2) == 0);
    LT_IT_REQUIRE(s_promote(&f, owner) == 0);
    k1 = mo->next;
    mo->next = NULL;
    /* The directory lists k0 as the current keys still, and the keys of a
     * second rotation as the next ones. */
    LT_IT_REQUIRE(s_keygen_next(&f, mo) == 0);
    LT_IT_REQUIRE(s_adopted(&f, owner, 3) == 0);
    LT_IT_REQUIRE(
        lt_keys_retired_append(mo->key_path, lt_keys_signing_public(k0), err, sizeof err) == 0);
    LT_IT_REQUIRE(lt_keys_old_public_save(mo->key_path, k1, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(s_promote_as(&f, owner, 0), 1);
    CU_ASSERT(lt_it_file_contains(out, "has not completed the previous rotation"));
    CU_ASSERT(lt_it_file_contains(out, ".retired.pub"));
    CU_ASSERT(s_holds(mo->key_path, k1) && access(next, F_OK) == 0);
out:
    lt_keys_destroy(&k1);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

/* Makes the hash of the last checkpoint of g's audit log one byte long:
 * the log can no longer tell which signing key is in force. 0 or -1. */
static int s_damage_checkpoint(const lt_it_gw_t *g)
{
    char path[PATH_MAX + 16];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/audit.db", g->data_dir);
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
                     sqlite3_exec(db,
                                  "UPDATE checkpoints SET hash = x'00' WHERE seq = "
                                  "(SELECT MAX(seq) FROM checkpoints)",
                                  NULL, NULL, NULL) == SQLITE_OK &&
                     sqlite3_changes(db) == 1
                 ? 0
                 : -1;
    sqlite3_close(db);
    return rc;
}

/* A switch file holding the keys the gateway starts with (a promote killed
 * before it replaced the key file) needs nothing of the audit log: the
 * start removes it even when the log cannot tell its key in force (item 6
 * of the fifth review; before, it asked the log first and did not start).
 * When the file holds other keys, whose switch the log may still need, the
 * start still fails closed, keeping the file. */
static void test_switch_own_keys_unreadable_log(void)
{
    lt_it_fed_t f;
    char sw[PATH_MAX];
    lt_it_member_t *mo = NULL;
    lt_keys_t *other = NULL;
    int status = 0;
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE((mo = s_owner_alone(&f, &owner)) != NULL);
    s_sibling(sw, sizeof sw, mo, ".switch.key");
    LT_IT_REQUIRE(s_run_listing_next(&f, owner) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0); /* a checkpoint */
    LT_IT_REQUIRE(s_damage_checkpoint(owner) == 0);
    LT_IT_REQUIRE(s_copy_keys(mo->key_path, sw) == 0);
    long mark = lt_it_log_mark(owner);
    CU_ASSERT(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(
        lt_it_log_has(owner, mark, "a promote stopped before it replaced the key file", NULL));
    CU_ASSERT(access(sw, F_OK) != 0);
    CU_ASSERT(lt_it_gw_stop(owner, STOP_MS) == 0);
    /* The stop checkpointed anew: damaged again. */
    LT_IT_REQUIRE(s_damage_checkpoint(owner) == 0);
    LT_IT_REQUIRE((other = lt_keys_new(LT_KEYS_MEMBER)) != NULL);
    LT_IT_REQUIRE(lt_keys_save(other, sw) == 0);
    mark = lt_it_log_mark(owner);
    CU_ASSERT(lt_it_gw_run(owner, READY_MS) != 0);
    CU_ASSERT(lt_it_gw_wait_exit(owner, STOP_MS, &status) == 0 && status != 0);
    CU_ASSERT(lt_it_log_has(owner, mark, "cannot tell from the audit log", NULL));
    CU_ASSERT(s_holds(sw, other));
out:
    lt_keys_destroy(&other);
    if (CU_get_number_of_failures())
        s_dump(&f);
    lt_it_fed_cleanup(&f);
}

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"member and authority keys rotate under lookups and a feed", test_rotation_under_load},
        {"keys promote checks the directory the gateway starts with",
         test_promote_checks_directory},
        {"keys promoted while the gateway runs, then a restart: the log records the switch",
         test_promote_then_restart},
        {"keys promoted while the gateway runs, then a kill: the next start records the switch",
         test_promote_then_kill},
        {"keys promoted while the gateway starts: the switch file stays until the switch "
         "is recorded",
         test_promote_while_starting},
        {"a gateway does not start while a promote holds its lock past its wait",
         test_start_refused_while_promote_holds_lock},
        {"keys promote refuses a copy of the key file and keys the audit log does not hold "
         "in force",
         test_promote_refuses_other_keys},
        {"a switch file's .new left by a kill is removed at start and at promote",
         test_switch_new_removed},
        {"a promote that fails puts back the key file and the previous public keys",
         test_failed_promote_puts_back},
        {"a promote killed after it wrote .old.pub: a retry still checks the previous rotation",
         test_promote_killed_after_old_pub},
        {"a switch file holding the keys in use goes at start even when the audit log "
         "cannot be read",
         test_switch_own_keys_unreadable_log},
        {"store verify and gateway --check after an authority rotation use the directory the "
         "gateway starts with",
         test_store_verify_after_authority_rotation},
        {"a replica restarted after its owner's rotation keeps the batches of the old key",
         test_restart_after_member_rotation},
        {"a host restored from a backup taken after its own rotation starts on the newer "
         "directory",
         test_restore_after_member_rotation},
        {"a consumer down through its owner's rotation says why its handshake fails",
         test_handshake_after_missed_rotation},
        {"a connected owner slow to read keeps its link on its key mid-rotation",
         test_full_link_keeps_key},
        {"a connected owner slow to read, listed with two endpoints, keeps its link",
         test_full_link_keeps_endpoint},
        {"an owner down, listed with two endpoints: its link moves once a second at most",
         test_down_owner_moves_once_a_second},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"keyrot", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}
