/* lt_bench: what the benchmarks share: synthetic population records, a
 * source that publishes them to an owner gateway over its ipc socket
 * (lt_client), the owner+caller set-up of the query benchmarks, and
 * lookups and verifies over the local API with their latencies. */
#include "lt_bench.h"
#include "lt_client.h"
#include "lt_sock.h"
#include "lt_wire.h"
#include "records/population.pb-c.h"

#include "lt_clock.h"
#include "lt_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PER_PUBLISH 1000
#define IN_FLIGHT   8

const char *const lt_bench_columns[LT_BENCH_COLUMNS] = {
    "personal_id",        "full_name",         "date_of_birth",    "sex",
    "place_of_birth",     "home_town",         "ethnicity",        "nationality",
    "permanent_province", "permanent_address", "current_province", "current_address",
    "id_card_number",     "id_card_issued",    "status",           "date_of_death"};

void lt_bench_citizen(long i, char vals[LT_BENCH_COLUMNS][128], const char *out[LT_BENCH_COLUMNS])
{
    static const char *const fixed[LT_BENCH_COLUMNS] = {NULL,        "Nguyễn Thị Thanh Hương",
                                                        NULL,        "2",
                                                        "Thanh Hóa", "Hoằng Hóa, Thanh Hóa",
                                                        "Kinh",      "VN",
                                                        "38",        NULL,
                                                        "38",        NULL,
                                                        NULL,        "2021-06-01",
                                                        "1",         NULL};
    lt_bench_key(i, vals[0]);
    snprintf(vals[2], 128, "19%02ld-%02ld-%02ld", 40 + i % 60, 1 + i % 12, 1 + i % 28);
    snprintf(vals[11], 128, "Số %ld, đường Lê Lợi, phường Điện Biên, thành phố Thanh Hóa", i % 500);
    for (int c = 0; c < LT_BENCH_COLUMNS; c++)
        out[c] = fixed[c];
    out[0] = out[12] = vals[0];
    out[2] = vals[2];
    out[11] = vals[11];
}

void lt_bench_key(long i, char *key)
{
    snprintf(key, 24, "%012ld", 38000000000L + i);
}

/* A ~256-byte population record for citizen i. */
size_t lt_bench_record(long i, uint8_t *out, char *key)
{
    char vals[LT_BENCH_COLUMNS][128];
    const char *v[LT_BENCH_COLUMNS];
    lt_bench_citizen(i, vals, v);
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    snprintf(key, 24, "%s", v[0]);
    p.personal_id = key;
    p.full_name = (char *)v[1];
    p.date_of_birth = (char *)v[2];
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;
    p.place_of_birth = (char *)v[4];
    p.home_town = (char *)v[5];
    p.ethnicity = (char *)v[6];
    p.nationality = (char *)v[7];
    p.permanent_province = (char *)v[8];
    p.current_province = (char *)v[10];
    p.current_address = (char *)v[11];
    p.id_card_number = key;
    p.id_card_issued = (char *)v[13];
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    lienthong__records__population__pack(&p, out);
    return lienthong__records__population__get_packed_size(&p);
}

/* Citizen i's record differs from citizen i + SYN_PERIOD's only in the key
 * (the date of birth repeats every 420 citizens, the address every 500),
 * which is written twice (personal_id, id_card_number) at fixed places.
 * So the publishing source packs each of the SYN_PERIOD patterns once and
 * then makes a record by a copy and two key writes: the same bytes as
 * lt_bench_record, checked when the patterns are made, for a small part
 * of the CPU, so that a feed benchmark measures the gateways rather than
 * the formatting of their input. */
#define SYN_PERIOD  10500
#define SYN_KEY_LEN 12

typedef struct {
    uint8_t *bytes; /* SYN_PERIOD patterns, LT_BENCH_RECORD_MAX apart */
    uint16_t len[SYN_PERIOD];
    uint16_t at[SYN_PERIOD][2]; /* where the key's two copies start */
} syn_t;

static syn_t *s_syn;

/* Writes the 12 digits of citizen i's key (lt_bench_key) at p. */
static void s_key_digits(long i, uint8_t *p)
{
    unsigned long long v = 38000000000ULL + (unsigned long long)i;
    for (int d = SYN_KEY_LEN - 1; d >= 0; d--, v /= 10)
        p[d] = (uint8_t)('0' + v % 10);
}

/* One pattern: record p packed, and where its key stands. 0, or -1 when
 * the key is not found exactly twice. */
static int s_syn_pattern(syn_t *s, long p)
{
    uint8_t *b = s->bytes + (size_t)p * LT_BENCH_RECORD_MAX;
    char key[24];
    size_t n = lt_bench_record(p, b, key);
    if (n == 0 || n > LT_BENCH_RECORD_MAX || strlen(key) != SYN_KEY_LEN)
        return -1;
    int found = 0;
    for (size_t o = 0; o + SYN_KEY_LEN <= n; o++)
        if (memcmp(b + o, key, SYN_KEY_LEN) == 0) {
            if (found == 2)
                return -1;
            s->at[p][found++] = (uint16_t)o;
            o += SYN_KEY_LEN - 1;
        }
    s->len[p] = (uint16_t)n;
    return found == 2 ? 0 : -1;
}

static size_t s_syn_make(const syn_t *s, long i, uint8_t *out, char *key)
{
    long p = i % SYN_PERIOD;
    size_t n = s->len[p];
    memcpy(out, s->bytes + (size_t)p * LT_BENCH_RECORD_MAX, n);
    s_key_digits(i, out + s->at[p][0]);
    memcpy(out + s->at[p][1], out + s->at[p][0], SYN_KEY_LEN);
    memcpy(key, out + s->at[p][0], SYN_KEY_LEN);
    key[SYN_KEY_LEN] = 0;
    return n;
}

/* Makes the patterns once, and checks a few records against
 * lt_bench_record; NULL when they differ (the record changed shape). */
static syn_t *s_syn_get(void)
{
    if (s_syn)
        return s_syn;
    syn_t *s = calloc(1, sizeof *s);
    if (!s || !(s->bytes = malloc((size_t)SYN_PERIOD * LT_BENCH_RECORD_MAX)))
        goto fail;
    for (long p = 0; p < SYN_PERIOD; p++)
        if (s_syn_pattern(s, p) != 0)
            goto fail;
    static const long probe[] = {0, 1, SYN_PERIOD - 1, SYN_PERIOD, 123457, 99999999};
    for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
        uint8_t a[LT_BENCH_RECORD_MAX], b[LT_BENCH_RECORD_MAX];
        char ka[24], kb[24];
        size_t na = lt_bench_record(probe[k], a, ka), nb = s_syn_make(s, probe[k], b, kb);
        if (na != nb || memcmp(a, b, na) != 0 || strcmp(ka, kb) != 0)
            goto fail;
    }
    return s_syn = s;
fail:
    fprintf(stderr, "bench: the synthetic record patterns could not be made\n");
    if (s)
        free(s->bytes);
    free(s);
    return NULL;
}

static size_t s_synthetic(void *arg, long i, uint8_t *out, char *key)
{
    (void)arg;
    const syn_t *s = s_syn_get();
    return s ? s_syn_make(s, i, out, key) : 0;
}

int lt_bench_publish(const char *sock_path, const char *dataset, long n)
{
    return lt_bench_publish_from(sock_path, dataset, n, s_synthetic, NULL);
}

/* Writes v >= 0 in decimal into out (>= 21 bytes), as "%ld" would. */
static void s_decimal(long v, char *out)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    for (int k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    out[n] = 0;
}

/* Publishes n records in Publish messages of PER_PUBLISH, IN_FLIGHT at a
 * time; returns 0 when every one was acknowledged. */
int lt_bench_publish_from(const char *sock_path, const char *dataset, long n,
                          lt_bench_record_fn record, void *arg)
{
    char err[1024];
    lt_client_t *c = lt_client_new(sock_path, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    static uint8_t payloads[PER_PUBLISH][LT_BENCH_RECORD_MAX];
    static char keys[PER_PUBLISH][24], cursors[PER_PUBLISH][24];
    static Lienthong__Change changes[PER_PUBLISH], *ptrs[PER_PUBLISH];
    long sent = 0, acked = 0;
    int rc = 0;
    while (acked < n && rc == 0) {
        while (sent < n && sent - acked < (long)IN_FLIGHT * PER_PUBLISH) {
            Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
            p.request_id = (uint64_t)sent + 1;
            p.dataset = (char *)dataset;
            for (int k = 0; k < PER_PUBLISH && sent < n; k++, sent++) {
                lienthong__change__init(&changes[k]);
                changes[k].payload.len = record(arg, sent, payloads[k], keys[k]);
                if (changes[k].payload.len == 0) {
                    snprintf(err, sizeof err, "record %ld could not be made", sent);
                    rc = -1;
                    break;
                }
                changes[k].payload.data = payloads[k];
                changes[k].key = keys[k];
                s_decimal(sent + 1, cursors[k]);
                changes[k].source_cursor = cursors[k];
                ptrs[k] = &changes[k];
                p.n_changes++;
            }
            p.changes = ptrs;
            if (rc != 0)
                break;
            int r = lt_client_send(c, LIENTHONG__ENVELOPE__BODY_PUBLISH, &p, 100, err, sizeof err);
            if (r != 0) {
                sent -= (long)p.n_changes; /* sent again once acks made room */
                rc = r == LT_CLIENT_ERR_TIMEOUT ? 0 : -1;
                break;
            }
        }
        Lienthong__Envelope *rep = NULL;
        if (rc != 0 || lt_client_recv(c, 30000, &rep, err, sizeof err) != 0) {
            fprintf(stderr, "bench: %s\n", err);
            rc = -1;
            break;
        }
        if (rep->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
            acked += (long)(rep->publish_ack->last_seq - rep->publish_ack->first_seq + 1);
        else {
            fprintf(stderr, "bench_feed: publish refused: %s\n",
                    rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? rep->error->message
                                                                             : "?");
            rc = -1;
        }
        lt_wire_free(&rep);
    }
    lt_client_destroy(&c);
    return rc;
}

int lt_bench_pair(lt_it_fed_t *f, const char *source, const char *dataset, long records,
                  lt_it_gw_t **caller, void **app)
{
    static const char *peers[] = {"VN/GOV/BCA", NULL};
    char err[256];
    lt_sock_opts_t o;
    *app = NULL;
    memset(f, 0, sizeof *f); /* lt_it_fed_cleanup is then safe whatever fails */
    if (lt_it_fed_init(f, "VN") != 0)
        return -1;
    f->extra_source = source;
    if (!lt_it_member_add(f, "VN/GOV/BCA", 1) || !lt_it_member_add(f, "VN/COM/VIETTEL", 1))
        return -1;
    lt_it_gw_t *owner = lt_it_gw_new(f, &f->members[0], 1, NULL, NULL);
    *caller = lt_it_gw_new(f, &f->members[1], 1, peers, NULL);
    lt_sock_opts_default(&o);
    if (!owner || !*caller || lt_it_gw_run(owner, 10000) != 0 ||
        lt_it_gw_run(*caller, 10000) != 0 ||
        lt_bench_publish(owner->sock_path, dataset, records) != 0 ||
        lt_it_gw_wait_peer(*caller, "VN/GOV/BCA", 10000) != 0)
        return -1;
    *app = lt_sock_local_client(lt_it_ctx(), (*caller)->sock_path, &o, err, sizeof err);
    if (!*app)
        fprintf(stderr, "bench: %s\n", err);
    return *app ? 0 : -1;
}

/* ---- lookups and verifies over the local API ------------------------------------------ */

static uint64_t s_next_id = 1;

static int s_send_key(void *app, const char *dataset, int verify, char *key)
{
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    char *fields[] = {"full_name", "date_of_birth"}, *keys[] = {key};
    Lienthong__Claim c1 = LIENTHONG__CLAIM__INIT, c2 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *claims[] = {&c1, &c2};
    c1.field = "full_name";
    c1.value = "NGUYỄN thị thanh hương";
    c2.field = "date_of_birth";
    c2.value = "1950-01-01";
    int64_t deadline = lt_clock_now_ms() + 10000;
    if (verify) {
        vq.request_id = s_next_id++;
        vq.dataset = (char *)dataset;
        vq.keys = keys;
        vq.n_keys = 1;
        vq.claims = claims;
        vq.n_claims = 2;
        vq.purpose = "BENCH";
        vq.deadline_ms = deadline;
        return lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &vq);
    }
    lq.request_id = s_next_id++;
    lq.dataset = (char *)dataset;
    lq.key = key;
    lq.fields = fields;
    lq.n_fields = 2;
    lq.purpose = "BENCH";
    lq.deadline_ms = deadline;
    return lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &lq);
}

static int s_send(void *app, const char *dataset, long records, int verify, long i)
{
    char key[24];
    lt_bench_key(i % records, key);
    return s_send_key(app, dataset, verify, key);
}

/* Receives one answer; 1 for a good (signed, found) answer, 0 otherwise,
 * -1 for none in time. */
static int s_recv(void *app)
{
    char err[256];
    Lienthong__Envelope *env = NULL;
    if (lt_wire_recv_env(app, 15000, LT_LOCAL_MAX_MESSAGE, &env, err, sizeof err) != 1)
        return -1;
    int ok = env && (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY ||
                     env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY);
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "bench: error %s: %s\n", lt_wire_error_name(env->error->code),
                env->error->message);
    lt_wire_free(&env);
    return ok;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void lt_bench_percentiles(double *v, long n, double *p50, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    *p50 = v[n / 2];
    *p99 = v[n * 99 / 100];
}

double lt_bench_us_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e6 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e3;
}

double lt_bench_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime), counted after the command's ')':
     * the command name may itself hold spaces and parentheses. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    long tck = sysconf(_SC_CLK_TCK);
    if (!p || tck <= 0 ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)tck;
}

double lt_bench_cpu_s(pid_t pid)
{
    double ms = lt_bench_cpu_ms(pid);
    return ms > 0 ? ms / 1000.0 : 0;
}

/* The request numbered i: key i % records of the synthetic records, or
 * keys[i % records] when keys is set. */
static int s_send_nth(void *app, const char *dataset, char *const *keys, long records, int verify,
                      long i)
{
    return keys ? s_send_key(app, dataset, verify, keys[i % records])
                : s_send(app, dataset, records, verify, i);
}

double lt_bench_queries(void *app, const char *dataset, long records, int verify, long n,
                        int inflight, double *p50, double *p99)
{
    return lt_bench_queries_of(app, dataset, NULL, records, verify, n, inflight, p50, p99);
}

double lt_bench_queries_of(void *app, const char *dataset, char *const *keys, long records,
                           int verify, long n, int inflight, double *p50, double *p99)
{
    double *lat = inflight == 1 ? calloc((size_t)n, sizeof *lat) : NULL;
    long sent = 0, got = 0, good = 0;
    int64_t t0 = lt_clock_mono_ms();
    struct timespec a;
    while (got < n) {
        for (; sent < n && sent - got < inflight; sent++) {
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (s_send_nth(app, dataset, keys, records, verify, sent) != 0)
                goto out;
        }
        int r = s_recv(app);
        if (r < 0)
            goto out;
        if (lat)
            lat[got] = lt_bench_us_since(&a);
        good += r;
        got++;
    }
    if (lat)
        lt_bench_percentiles(lat, n, p50, p99);
out:
    free(lat);
    double secs = (double)(lt_clock_mono_ms() - t0) / 1000.0;
    if (good != n)
        fprintf(stderr, "bench: %ld of %ld answers were errors or missing\n", n - good, n);
    return good == n && secs > 0 ? (double)n / secs : -1;
}
