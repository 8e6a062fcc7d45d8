/* lt_feedtest: dataset model, publisher, store inspection, a sink adapter
 * and a CURVE man-in-the-middle proxy for the feed integration tests. See
 * lt_feedtest.h. */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_err.h"
#include "lt_batch.h"
#include "lt_sock.h"
#include "lt_wire.h"
#include "records/population.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define SEQ_BITS   40
#define EXTRA_KEYS 16

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- the dataset model ------------------------------------------------------ */

int lt_ft_model_init(lt_ft_model_t *m, size_t n, uint64_t key_base)
{
    memset(m, 0, sizeof *m);
    m->c = calloc(n + EXTRA_KEYS, sizeof *m->c);
    if (!m->c)
        return -1;
    m->n = n;
    m->cap = n + EXTRA_KEYS;
    for (size_t i = 0; i < n; i++) {
        lt_ft_citizen_t *c = &m->c[i];
        snprintf(c->key, sizeof c->key, "%012llu", (unsigned long long)(key_base + i));
        snprintf(c->dob, sizeof c->dob, "19%02zu-%02zu-%02zu", 40 + i % 60, 1 + i % 12, 1 + i % 28);
    }
    return 0;
}

void lt_ft_model_add_view(lt_ft_model_t *m, const char *id, const char *province)
{
    if (m->n_views < LT_FT_MAX_VIEWS)
        m->views[m->n_views++] = (lt_ft_view_t){id, province};
}

void lt_ft_model_free(lt_ft_model_t *m)
{
    for (size_t i = 0; m->c && i < m->n; i++)
        free(m->c[i].bytes);
    free(m->c);
    memset(m, 0, sizeof *m);
}

static int s_in_view(const lt_ft_model_t *m, const lt_ft_citizen_t *c, size_t v)
{
    return c->live && strcmp(c->province, m->views[v].province) == 0;
}

/* The full record of citizen i as the adapter would publish it. */
static uint8_t *s_pack(const lt_ft_citizen_t *c, size_t i, size_t *len)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    char addr[160], perm[160];
    snprintf(addr, sizeof addr, "Số %zu, đường Lê Lợi, phường Điện Biên, tỉnh %s", i % 500,
             c->province);
    snprintf(perm, sizeof perm, "Thôn %zu, xã Hoằng Quỳ, huyện Hoằng Hóa", i % 40);
    p.personal_id = (char *)c->key;
    p.full_name = (char *)c->name;
    p.date_of_birth = (char *)c->dob;
    p.sex = i % 2 ? LIENTHONG__RECORDS__SEX__SEX_FEMALE : LIENTHONG__RECORDS__SEX__SEX_MALE;
    p.place_of_birth = "Thanh Hóa";
    p.home_town = "Hoằng Hóa, Thanh Hóa";
    p.ethnicity = i % 9 ? "Kinh" : "Mường";
    p.nationality = "VN";
    p.permanent_province = "38";
    p.permanent_address = perm;
    p.current_province = (char *)c->province;
    p.current_address = addr;
    p.id_card_number = (char *)c->key;
    p.id_card_issued = "2021-06-01";
    p.status = (Lienthong__Records__CitizenStatus)c->status;
    if (c->status == LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED)
        p.date_of_death = "2024-02-29";
    *len = lienthong__records__population__get_packed_size(&p);
    uint8_t *out = malloc(*len ? *len : 1);
    if (out)
        lienthong__records__population__pack(&p, out);
    return out;
}

/* ---- publishing ----------------------------------------------------------------- */

void lt_ft_pub_init(lt_ft_pub_t *p, const char *dataset)
{
    memset(p, 0, sizeof *p);
    p->dataset = dataset;
}

void lt_ft_pub_clear(lt_ft_pub_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->payloads[i]);
    const char *ds = p->dataset;
    memset(p, 0, sizeof *p);
    p->dataset = ds;
}

static int s_add(lt_ft_pub_t *p, lt_ft_model_t *m, const char *key, int deleted,
                 const uint8_t *bytes, size_t len)
{
    if (p->n >= LT_FT_PUB_MAX)
        return -1;
    size_t k = p->n;
    p->payloads[k] = NULL;
    if (!deleted) {
        if (!(p->payloads[k] = malloc(len ? len : 1)))
            return -1;
        memcpy(p->payloads[k], bytes, len);
    }
    snprintf(p->keys[k], sizeof p->keys[k], "%s", key);
    snprintf(p->cursors[k], sizeof p->cursors[k], "%llu", (unsigned long long)++m->cursor);
    p->lens[k] = deleted ? 0 : len;
    p->deleted[k] = deleted;
    p->n++;
    return 0;
}

int lt_ft_put(lt_ft_pub_t *p, lt_ft_model_t *m, size_t i, const char *name, const char *province,
              int status)
{
    if (i >= m->n || p->n >= LT_FT_PUB_MAX)
        return -1;
    lt_ft_citizen_t *c = &m->c[i];
    /* Callers keep a name by passing m->c[i].name: a copy onto itself
     * (undefined for snprintf) emptied it. */
    if (name != c->name)
        snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->province, sizeof c->province, "%s", province);
    c->status = status;
    size_t len = 0;
    uint8_t *bytes = s_pack(c, i, &len);
    if (!bytes || s_add(p, m, c->key, 0, bytes, len) != 0) {
        free(bytes);
        return -1;
    }
    free(c->bytes);
    c->bytes = bytes;
    c->len = len;
    c->present = c->live = 1;
    for (size_t v = 0; v < m->n_views; v++)
        if (s_in_view(m, c, v))
            c->ever[v] = 1;
    return 0;
}

int lt_ft_del(lt_ft_pub_t *p, lt_ft_model_t *m, size_t i)
{
    if (i >= m->n || s_add(p, m, m->c[i].key, 1, NULL, 0) != 0)
        return -1;
    lt_ft_citizen_t *c = &m->c[i];
    free(c->bytes);
    c->bytes = NULL;
    c->len = 0;
    c->present = 1;
    c->live = 0;
    return 0;
}

int lt_ft_del_unknown(lt_ft_pub_t *p, lt_ft_model_t *m, const char *key)
{
    size_t i;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->c[i].key, key) == 0)
            break;
    if (i == m->n) {
        /* The model's array has EXTRA_KEYS spare slots for such keys. */
        if (m->n >= m->cap)
            return -1;
        lt_ft_citizen_t *c = &m->c[m->n];
        memset(c, 0, sizeof *c);
        snprintf(c->key, sizeof c->key, "%s", key);
        m->n++;
    }
    return lt_ft_del(p, m, i);
}

static Lienthong__Envelope *s_recv(void *sock, int timeout_ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    lt_wire_in_t in;
    char err[256];
    Lienthong__ErrorCode code;
    Lienthong__Envelope *env = NULL;
    if (lt_wire_recv(sock, 0, ZMQ_DONTWAIT, &in) == 0 && in.frames == 1)
        env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body), LT_LOCAL_MAX_MESSAGE,
                             &code, err, sizeof err);
    lt_wire_in_close(&in);
    return env;
}

int lt_ft_pub_try(lt_ft_pub_t *p, lt_it_gw_t *g, uint64_t *first_seq, uint64_t *last_seq,
                  int timeout_ms, Lienthong__ErrorCode *code, char *msg, size_t len)
{
    static uint64_t request_id = 1000; /* callers may publish on several threads */
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    void *s = lt_sock_local_client(lt_it_ctx(), g->sock_path, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "feedtest: %s\n", err);
        return -1;
    }
    Lienthong__Change changes[LT_FT_PUB_MAX], *ptrs[LT_FT_PUB_MAX];
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = __atomic_add_fetch(&request_id, 1, __ATOMIC_RELAXED);
    pub.dataset = (char *)p->dataset;
    for (size_t i = 0; i < p->n; i++) {
        lienthong__change__init(&changes[i]);
        changes[i].key = p->keys[i];
        changes[i].deleted = p->deleted[i];
        changes[i].payload.data = p->payloads[i];
        changes[i].payload.len = p->lens[i];
        changes[i].source_cursor = p->cursors[i];
        ptrs[i] = &changes[i];
    }
    pub.n_changes = p->n;
    pub.changes = ptrs;
    int rc = -1;
    if (lt_wire_send_body(s, NULL, 0, LIENTHONG__ENVELOPE__BODY_PUBLISH, &pub) == 0) {
        int64_t deadline = lt_it_ms() + timeout_ms;
        while (rc < 0 && lt_it_ms() < deadline) {
            Lienthong__Envelope *rep = s_recv(s, (int)(deadline - lt_it_ms()));
            if (!rep)
                continue;
            if (rep->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK &&
                rep->publish_ack->request_id == pub.request_id) {
                if (first_seq)
                    *first_seq = rep->publish_ack->first_seq;
                if (last_seq)
                    *last_seq = rep->publish_ack->last_seq;
                rc = 0;
            } else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
                if (code)
                    *code = rep->error->code;
                if (msg)
                    snprintf(msg, len, "%s", rep->error->message ? rep->error->message : "");
                rc = 1;
            }
            lt_wire_free(&rep);
        }
    }
    zmq_close(s);
    return rc;
}

int lt_ft_pub_send(lt_ft_pub_t *p, lt_it_gw_t *g, uint64_t *first_seq, uint64_t *last_seq,
                   int timeout_ms)
{
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char msg[512];
    int rc = lt_ft_pub_try(p, g, first_seq, last_seq, timeout_ms, &code, msg, sizeof msg);
    if (rc == 1)
        fprintf(stderr, "feedtest: publish refused: %s (%s)\n", msg, lt_wire_error_name(code));
    if (rc != 0)
        fprintf(stderr, "feedtest: publish of %zu changes to %s not acknowledged\n", p->n,
                g->member->id);
    lt_ft_pub_clear(p);
    return rc == 0 ? 0 : -1;
}

/* ---- stores ------------------------------------------------------------------------ */

static sqlite3 *s_db(const lt_it_gw_t *g)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Stream id and last_seq by name: 1 found, 0 not, -1 error. */
static int s_stream(sqlite3 *db, const char *name, int64_t *id, uint64_t *last)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, last_seq FROM streams WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        *id = sqlite3_column_int64(st, 0);
        *last = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return found;
}

uint64_t lt_ft_last_seq(const lt_it_gw_t *g, const char *stream)
{
    sqlite3 *db = s_db(g);
    int64_t id = 0;
    uint64_t last = 0;
    if (db && s_stream(db, stream, &id, &last) != 1)
        last = 0;
    sqlite3_close(db);
    return last;
}

int lt_ft_wait_seq(const lt_it_gw_t *g, const char *stream, uint64_t want, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        if (lt_ft_last_seq(g, stream) >= want)
            return 0;
        s_sleep_ms(20);
    } while (lt_it_ms() < deadline);
    return lt_ft_last_seq(g, stream) >= want ? 0 : -1;
}

int lt_ft_wait_same(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    uint64_t la = 0, lb = 0;
    do {
        la = lt_ft_last_seq(a, stream);
        lb = lt_ft_last_seq(b, stream);
        if (la > 0 && la == lb)
            return 0;
        s_sleep_ms(20);
    } while (lt_it_ms() < deadline);
    fprintf(stderr, "feedtest: %s: %s at %llu, %s at %llu after %d ms\n", stream, a->member->id,
            (unsigned long long)la, b->member->id, (unsigned long long)lb, timeout_ms);
    return -1;
}

static int s_state(sqlite3 *db, int64_t sid, const char *key, uint64_t *seq, int *deleted)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, deleted FROM state WHERE stream = ?1 AND key = ?2", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, sid);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        *deleted = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return found;
}

static int s_record(sqlite3 *db, int64_t sid, uint64_t seq, uint8_t **rec, size_t *len)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT record FROM log WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sid << SEQ_BITS) | (int64_t)seq);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        *rec = malloc(*len ? *len : 1);
        if (*rec)
            memcpy(*rec, sqlite3_column_blob(st, 0), *len);
        else
            found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int lt_ft_state(const lt_it_gw_t *g, const char *stream, const char *key, uint64_t *seq,
                int *deleted)
{
    sqlite3 *db = s_db(g);
    int64_t sid;
    uint64_t last;
    int rc = !db ? -1 : s_stream(db, stream, &sid, &last);
    if (rc == 1)
        rc = s_state(db, sid, key, seq, deleted);
    sqlite3_close(db);
    return rc;
}

int lt_ft_record(const lt_it_gw_t *g, const char *stream, uint64_t seq, uint8_t **rec, size_t *len)
{
    sqlite3 *db = s_db(g);
    int64_t sid;
    uint64_t last;
    int rc = !db ? -1 : s_stream(db, stream, &sid, &last);
    if (rc == 1)
        rc = s_record(db, sid, seq, rec, len);
    sqlite3_close(db);
    return rc;
}

/* count(*) of sql, whose ?1 and ?2 are the stream's id and its first log
 * id, ?3 the next stream's first log id. */
static long s_count(const lt_it_gw_t *g, const char *stream, const char *sql)
{
    sqlite3 *db = s_db(g);
    int64_t sid;
    uint64_t last;
    long n = 0;
    if (db && s_stream(db, stream, &sid, &last) == 1) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, sid);
            sqlite3_bind_int64(st, 2, sid << SEQ_BITS);
            sqlite3_bind_int64(st, 3, (sid + 1) << SEQ_BITS);
            if (sqlite3_step(st) == SQLITE_ROW)
                n = (long)sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

long lt_ft_log_count(const lt_it_gw_t *g, const char *stream)
{
    return s_count(g, stream, "SELECT count(*) FROM log WHERE ?1 >= 0 AND id >= ?2 AND id < ?3");
}

long lt_ft_live_count(const lt_it_gw_t *g, const char *stream)
{
    return s_count(g, stream, "SELECT count(*) FROM state WHERE stream = ?1 AND deleted = 0");
}

long lt_ft_used_pages(const lt_it_gw_t *g)
{
    sqlite3 *db = s_db(g);
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (db &&
        sqlite3_prepare_v2(db,
                           "SELECT p.page_count - f.freelist_count FROM "
                           "pragma_page_count() p, pragma_freelist_count() f",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int lt_ft_check_live(const lt_it_gw_t *g, const char *stream, const lt_ft_model_t *m, char *err,
                     size_t errlen)
{
    long live = 0;
    for (size_t i = 0; i < m->n; i++) {
        const lt_ft_citizen_t *c = &m->c[i];
        uint64_t seq = 0;
        int deleted = 0, found = lt_ft_state(g, stream, c->key, &seq, &deleted);
        uint8_t *rec = NULL;
        size_t len = 0;
        if (found < 0)
            return lt_err_set(err, errlen, "%s: cannot read the state of %s", stream, c->key);
        if (!c->live) {
            if (found == 1 && !deleted)
                return lt_err_set(err, errlen, "%s: key %s is live, but was deleted", stream,
                                  c->key);
            continue;
        }
        live++;
        if (found != 1 || deleted || lt_ft_record(g, stream, seq, &rec, &len) != 1)
            return lt_err_set(err, errlen, "%s: live key %s has no current record", stream, c->key);
        Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
        int same = r && r->seq == seq && strcmp(r->key, c->key) == 0 && !r->deleted &&
                   r->payload.len == c->len && memcmp(r->payload.data, c->bytes, c->len) == 0;
        if (r)
            lienthong__record__free_unpacked(r, NULL);
        free(rec);
        if (!same)
            return lt_err_set(err, errlen,
                              "%s: the record of key %s (seq %llu) differs from the "
                              "payload published last",
                              stream, c->key, (unsigned long long)seq);
    }
    long rows = lt_ft_live_count(g, stream);
    if (rows != live)
        return lt_err_set(err, errlen, "%s: %ld live keys, expected %ld", stream, rows, live);
    return 0;
}

/* A walk over the log of one stream in seq order. */
typedef struct {
    sqlite3_stmt *st;
    int64_t sid;
    uint64_t seq;
    const uint8_t *rec;
    size_t len;
} walk_t;

static int s_walk_open(sqlite3 *db, int64_t sid, walk_t *w)
{
    memset(w, 0, sizeof *w);
    w->sid = sid;
    if (sqlite3_prepare_v2(db, "SELECT id, record FROM log WHERE id >= ?1 AND id < ?2 ORDER BY id",
                           -1, &w->st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(w->st, 1, sid << SEQ_BITS);
    sqlite3_bind_int64(w->st, 2, (sid + 1) << SEQ_BITS);
    return 0;
}

/* 1 with the next record, 0 at the end, -1 on error. */
static int s_walk_next(walk_t *w)
{
    int rc = sqlite3_step(w->st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    w->seq = (uint64_t)(sqlite3_column_int64(w->st, 0) & ((1LL << SEQ_BITS) - 1));
    w->len = (size_t)sqlite3_column_bytes(w->st, 1);
    w->rec = sqlite3_column_blob(w->st, 1);
    return 1;
}

static void s_walk_close(walk_t *w)
{
    sqlite3_finalize(w->st);
    w->st = NULL;
}

typedef struct {
    char key[300];
    uint64_t seq;
    int deleted;
} row_t;

/* All state rows of a stream, ordered by key (malloc'd array). */
static int s_state_rows(sqlite3 *db, int64_t sid, row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT key, seq, deleted FROM state WHERE stream = ?1 ORDER BY key",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, sid);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            row_t *nr = realloc(*rows, cap * sizeof *nr);
            if (!nr) {
                rc = SQLITE_NOMEM;
                break;
            }
            *rows = nr;
        }
        row_t *r = &(*rows)[(*n)++];
        snprintf(r->key, sizeof r->key, "%s", (const char *)sqlite3_column_text(st, 0));
        r->seq = (uint64_t)sqlite3_column_int64(st, 1);
        r->deleted = sqlite3_column_int(st, 2);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*rows);
        *rows = NULL;
        return -1;
    }
    return 0;
}

/* Opens g's store in a read transaction (one snapshot for every query). */
static sqlite3 *s_db_snapshot(const lt_it_gw_t *g, const char *stream, int64_t *sid, uint64_t *last,
                              char *err, size_t errlen)
{
    sqlite3 *db = s_db(g);
    if (!db) {
        lt_err_set(err, errlen, "%s: cannot open %s/store.db", g->member->id, g->data_dir);
        return NULL;
    }
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        lt_err_set(err, errlen, "%s: cannot begin: %s", g->member->id, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    if (s_stream(db, stream, sid, last) != 1) {
        lt_err_set(err, errlen, "%s: store has no stream %s", g->member->id, stream);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int s_cmp_key(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

int lt_ft_check_log(const lt_it_gw_t *g, const char *stream, char *err, size_t errlen)
{
    int64_t sid;
    uint64_t last;
    sqlite3 *db = s_db_snapshot(g, stream, &sid, &last, err, errlen);
    if (!db)
        return -1;
    walk_t w;
    row_t *fold = NULL, *state = NULL;
    size_t n_fold = 0, n_state = 0;
    int rc = -1, more;
    uint64_t expect = 1;
    if (s_walk_open(db, sid, &w) != 0 || !(fold = calloc(last ? last : 1, sizeof *fold))) {
        lt_err_set(err, errlen, "%s: cannot read the log", g->member->id);
        goto out;
    }
    while ((more = s_walk_next(&w)) == 1) {
        if (w.seq != expect) {
            lt_err_set(err, errlen,
                       "%s %s: log has seq %llu where %llu was expected (a gap or a "
                       "duplicate)",
                       g->member->id, stream, (unsigned long long)w.seq,
                       (unsigned long long)expect);
            goto out;
        }
        if (w.seq > last) {
            lt_err_set(err, errlen, "%s %s: log has seq %llu beyond last_seq %llu", g->member->id,
                       stream, (unsigned long long)w.seq, (unsigned long long)last);
            goto out;
        }
        Lienthong__Record *r = lienthong__record__unpack(NULL, w.len, w.rec);
        if (!r || r->seq != w.seq || !r->key[0] || (r->deleted && r->payload.len)) {
            lt_err_set(err, errlen, "%s %s: record %llu is %s", g->member->id, stream,
                       (unsigned long long)w.seq,
                       !r                ? "not a Record"
                       : r->seq != w.seq ? "numbered differently"
                       : !r->key[0]      ? "without a key"
                                         : "a tombstone with a payload");
            if (r)
                lienthong__record__free_unpacked(r, NULL);
            goto out;
        }
        row_t *f = &fold[n_fold++];
        snprintf(f->key, sizeof f->key, "%s", r->key);
        f->seq = r->seq;
        f->deleted = r->deleted;
        lienthong__record__free_unpacked(r, NULL);
        expect++;
    }
    if (more < 0 || expect - 1 != last) {
        lt_err_set(err, errlen, "%s %s: log holds seq 1..%llu but last_seq is %llu", g->member->id,
                   stream, (unsigned long long)(expect - 1), (unsigned long long)last);
        goto out;
    }
    /* The state must be exactly the fold of the log: last version per key. */
    qsort(fold, n_fold, sizeof *fold, s_cmp_key);
    size_t n_latest = 0;
    for (size_t i = 0; i < n_fold; i++) {
        if (i + 1 < n_fold && strcmp(fold[i].key, fold[i + 1].key) == 0)
            continue;
        fold[n_latest++] = fold[i];
    }
    if (s_state_rows(db, sid, &state, &n_state) != 0) {
        lt_err_set(err, errlen, "%s: cannot read the state", g->member->id);
        goto out;
    }
    if (n_state != n_latest) {
        lt_err_set(err, errlen, "%s %s: %zu state rows, but the log has %zu keys", g->member->id,
                   stream, n_state, n_latest);
        goto out;
    }
    for (size_t i = 0; i < n_state; i++)
        if (strcmp(state[i].key, fold[i].key) != 0 || state[i].seq != fold[i].seq ||
            state[i].deleted != fold[i].deleted) {
            lt_err_set(err, errlen,
                       "%s %s: state (%s, %llu, %d) but the log's last version is "
                       "(%s, %llu, %d)",
                       g->member->id, stream, state[i].key, (unsigned long long)state[i].seq,
                       state[i].deleted, fold[i].key, (unsigned long long)fold[i].seq,
                       fold[i].deleted);
            goto out;
        }
    rc = 0;
out:
    s_walk_close(&w);
    free(fold);
    free(state);
    sqlite3_close(db);
    return rc;
}

static int s_compare_logs(sqlite3 *da, int64_t sa, const char *ida, sqlite3 *db, int64_t sb,
                          const char *idb, const char *stream, uint64_t upto, char *err,
                          size_t errlen)
{
    walk_t wa, wb;
    int rc = -1;
    uint64_t expect = 1;
    if (s_walk_open(da, sa, &wa) != 0 || s_walk_open(db, sb, &wb) != 0) {
        lt_err_set(err, errlen, "cannot read the logs");
        goto out;
    }
    for (; expect <= upto; expect++) {
        int ma = s_walk_next(&wa), mb = s_walk_next(&wb);
        if (ma != 1 || mb != 1 || wa.seq != expect || wb.seq != expect) {
            lt_err_set(err, errlen, "%s: record %llu missing (%s has %llu, %s has %llu)", stream,
                       (unsigned long long)expect, ida, ma == 1 ? (unsigned long long)wa.seq : 0ULL,
                       idb, mb == 1 ? (unsigned long long)wb.seq : 0ULL);
            goto out;
        }
        if (wa.len != wb.len || memcmp(wa.rec, wb.rec, wa.len) != 0) {
            lt_err_set(err, errlen,
                       "%s: record %llu differs between %s (%zu bytes) and %s (%zu bytes)", stream,
                       (unsigned long long)expect, ida, wa.len, idb, wb.len);
            goto out;
        }
    }
    rc = 0;
out:
    s_walk_close(&wa);
    s_walk_close(&wb);
    return rc;
}

int lt_ft_compare_prefix(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream,
                         uint64_t upto, char *err, size_t errlen)
{
    int64_t sa, sb;
    uint64_t la, lb;
    sqlite3 *da = s_db_snapshot(a, stream, &sa, &la, err, errlen);
    sqlite3 *db = da ? s_db_snapshot(b, stream, &sb, &lb, err, errlen) : NULL;
    int rc = -1;
    if (da && db) {
        if (la < upto || lb < upto)
            lt_err_set(err, errlen, "%s: %s has %llu and %s %llu records, fewer than %llu", stream,
                       a->member->id, (unsigned long long)la, b->member->id, (unsigned long long)lb,
                       (unsigned long long)upto);
        else
            rc = s_compare_logs(da, sa, a->member->id, db, sb, b->member->id, stream, upto, err,
                                errlen);
    }
    sqlite3_close(da);
    sqlite3_close(db);
    return rc;
}

int lt_ft_compare(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream, char *err,
                  size_t errlen)
{
    int64_t sa, sb;
    uint64_t la, lb;
    row_t *ra = NULL, *rb = NULL;
    size_t na = 0, nb = 0;
    sqlite3 *da = s_db_snapshot(a, stream, &sa, &la, err, errlen);
    sqlite3 *db = da ? s_db_snapshot(b, stream, &sb, &lb, err, errlen) : NULL;
    int rc = -1;
    if (!da || !db)
        goto out;
    if (la != lb) {
        lt_err_set(err, errlen, "%s: last_seq %llu at %s but %llu at %s", stream,
                   (unsigned long long)la, a->member->id, (unsigned long long)lb, b->member->id);
        goto out;
    }
    if (s_compare_logs(da, sa, a->member->id, db, sb, b->member->id, stream, la, err, errlen) != 0)
        goto out;
    if (s_state_rows(da, sa, &ra, &na) != 0 || s_state_rows(db, sb, &rb, &nb) != 0) {
        lt_err_set(err, errlen, "%s: cannot read the state tables", stream);
        goto out;
    }
    if (na != nb) {
        lt_err_set(err, errlen, "%s: %zu state rows at %s but %zu at %s", stream, na, a->member->id,
                   nb, b->member->id);
        goto out;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(ra[i].key, rb[i].key) != 0 || ra[i].seq != rb[i].seq ||
            ra[i].deleted != rb[i].deleted) {
            lt_err_set(err, errlen,
                       "%s: state row %zu is (%s, %llu, %d) at %s but (%s, %llu, %d) at %s", stream,
                       i, ra[i].key, (unsigned long long)ra[i].seq, ra[i].deleted, a->member->id,
                       rb[i].key, (unsigned long long)rb[i].seq, rb[i].deleted, b->member->id);
            goto out;
        }
        if (ra[i].deleted)
            continue;
        uint8_t *xa = NULL, *xb = NULL;
        size_t lxa = 0, lxb = 0;
        int fa = s_record(da, sa, ra[i].seq, &xa, &lxa),
            fb = s_record(db, sb, rb[i].seq, &xb, &lxb);
        int same = fa == 1 && fb == 1 && lxa == lxb && memcmp(xa, xb, lxa) == 0;
        free(xa);
        free(xb);
        if (!same) {
            lt_err_set(err, errlen, "%s: live key %s: record %llu differs or is missing", stream,
                       ra[i].key, (unsigned long long)ra[i].seq);
            goto out;
        }
    }
    rc = 0;
out:
    free(ra);
    free(rb);
    sqlite3_close(da);
    sqlite3_close(db);
    return rc;
}

static int s_cmp_citizen(const void *a, const void *b)
{
    const lt_ft_citizen_t *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

/* The model's citizens matching want (NULL: present ones), sorted by key. */
static const lt_ft_citizen_t **s_expected(const lt_ft_model_t *m, long v, size_t *n)
{
    const lt_ft_citizen_t **e = calloc(m->n ? m->n : 1, sizeof *e);
    *n = 0;
    for (size_t i = 0; e && i < m->n; i++)
        if (v < 0 ? m->c[i].present : m->c[i].ever[v])
            e[(*n)++] = &m->c[i];
    if (e)
        qsort(e, *n, sizeof *e, s_cmp_citizen);
    return e;
}

static int s_empty(const char *s)
{
    return !s || !s[0];
}

/* Field-by-field check of a view payload against the model. */
static int s_check_projection(const lt_ft_citizen_t *c, const uint8_t *buf, size_t len,
                              const char *where, char *err, size_t errlen)
{
    Lienthong__Records__Population *p = lienthong__records__population__unpack(NULL, len, buf);
    if (!p)
        return lt_err_set(err, errlen, "%s: key %s: payload is not a Population", where, c->key);
    const char *bad = NULL;
    if (strcmp(p->personal_id, c->key) != 0)
        bad = "personal_id";
    else if (strcmp(p->full_name, c->name) != 0)
        bad = "full_name";
    else if (strcmp(p->date_of_birth, c->dob) != 0)
        bad = "date_of_birth";
    else if (strcmp(p->current_province, c->province) != 0)
        bad = "current_province";
    else if ((int)p->status != c->status)
        bad = "status";
    else if (p->sex != 0)
        bad = "sex (not in the view)";
    else if (!s_empty(p->place_of_birth) || !s_empty(p->home_town) || !s_empty(p->ethnicity) ||
             !s_empty(p->nationality) || !s_empty(p->permanent_province) ||
             !s_empty(p->permanent_address) || !s_empty(p->current_address) ||
             !s_empty(p->id_card_number) || !s_empty(p->id_card_issued) ||
             !s_empty(p->date_of_death))
        bad = "a field outside the view";
    else if (p->base.n_unknown_fields)
        bad = "unknown fields";
    if (bad)
        lt_err_set(err, errlen,
                   "%s: key %s: %s differs from what was published (name '%s', "
                   "province '%s')",
                   where, c->key, bad, p->full_name, p->current_province);
    lienthong__records__population__free_unpacked(p, NULL);
    return bad ? -1 : 0;
}

/* Checks state rows against expected citizens; live ones through check(). */
static int s_check_rows(const lt_it_gw_t *g, const char *stream, const lt_ft_model_t *m, long v,
                        char *err, size_t errlen)
{
    int64_t sid;
    uint64_t last;
    sqlite3 *db = s_db_snapshot(g, stream, &sid, &last, err, errlen);
    if (!db)
        return -1;
    row_t *rows = NULL;
    size_t n_rows = 0, n_exp = 0;
    const lt_ft_citizen_t **exp = s_expected(m, v, &n_exp);
    int rc = -1;
    char where[400];
    snprintf(where, sizeof where, "%s %s", g->member->id, stream);
    if (!exp || s_state_rows(db, sid, &rows, &n_rows) != 0) {
        lt_err_set(err, errlen, "%s: cannot read the state", where);
        goto out;
    }
    for (size_t i = 0; i < n_rows || i < n_exp; i++) {
        if (i >= n_rows || i >= n_exp || strcmp(rows[i].key, exp[i]->key) != 0) {
            lt_err_set(err, errlen,
                       "%s: state has key %s where %s was expected (%zu rows, %zu "
                       "expected)",
                       where, i < n_rows ? rows[i].key : "(none)",
                       i < n_exp ? exp[i]->key : "(none)", n_rows, n_exp);
            goto out;
        }
        const lt_ft_citizen_t *c = exp[i];
        int live = v < 0 ? c->live : s_in_view(m, c, (size_t)v);
        if (rows[i].deleted != !live) {
            lt_err_set(err, errlen, "%s: key %s is %s but should be %s", where, c->key,
                       rows[i].deleted ? "a tombstone" : "live", live ? "live" : "a tombstone");
            goto out;
        }
        uint8_t *rec = NULL;
        size_t len = 0;
        if (s_record(db, sid, rows[i].seq, &rec, &len) != 1) {
            lt_err_set(err, errlen, "%s: key %s: record %llu missing", where, c->key,
                       (unsigned long long)rows[i].seq);
            goto out;
        }
        Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
        free(rec);
        int ok = r && strcmp(r->key, c->key) == 0 && r->deleted == !live;
        if (ok && live && v < 0)
            ok = r->payload.len == c->len && memcmp(r->payload.data, c->bytes, c->len) == 0;
        if (ok && !live)
            ok = r->payload.len == 0;
        if (!ok) {
            lt_err_set(err, errlen, "%s: key %s: record %llu does not hold what was published",
                       where, c->key, (unsigned long long)rows[i].seq);
        } else if (live && v >= 0 &&
                   s_check_projection(c, r->payload.data, r->payload.len, where, err, errlen) !=
                       0) {
            ok = 0;
        }
        if (r)
            lienthong__record__free_unpacked(r, NULL);
        if (!ok)
            goto out;
    }
    rc = 0;
out:
    free(rows);
    free(exp);
    sqlite3_close(db);
    return rc;
}

int lt_ft_check_dataset(const lt_it_gw_t *g, const char *stream, const lt_ft_model_t *m, char *err,
                        size_t errlen)
{
    return s_check_rows(g, stream, m, -1, err, errlen);
}

int lt_ft_check_view(const lt_it_gw_t *g, const lt_ft_model_t *m, size_t v, char *err,
                     size_t errlen)
{
    if (v >= m->n_views)
        return lt_err_set(err, errlen, "no view %zu in the model", v);
    return s_check_rows(g, m->views[v].id, m, (long)v, err, errlen);
}

/* ---- logs ------------------------------------------------------------------------------ */

int lt_ft_log_count_lines(const lt_it_gw_t *g, long mark, const char *a, const char *b)
{
    FILE *f = fopen(g->log_path, "r");
    if (!f)
        return 0;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    if (fseek(f, mark, SEEK_SET) == 0)
        while (getline(&line, &cap, f) >= 0)
            n += strstr(line, a) && (!b || strstr(line, b));
    free(line);
    fclose(f);
    return n;
}

unsigned long long lt_ft_log_sum(const lt_it_gw_t *g, long mark, const char *a)
{
    FILE *f = fopen(g->log_path, "r");
    if (!f)
        return 0;
    unsigned long long sum = 0;
    char *line = NULL, *at;
    size_t cap = 0;
    if (fseek(f, mark, SEEK_SET) == 0)
        while (getline(&line, &cap, f) >= 0)
            if ((at = strstr(line, a)))
                sum += strtoull(at + strlen(a), NULL, 10);
    free(line);
    fclose(f);
    return sum;
}

/* How many of the n strings the file at path holds in order, one a line. */
static size_t s_file_order(const char *path, const char *const *lines, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t i = 0;
    char *line = NULL;
    size_t cap = 0;
    while (i < n && getline(&line, &cap, f) >= 0)
        i += strstr(line, lines[i]) != NULL;
    free(line);
    fclose(f);
    return i;
}

int lt_ft_file_wait_order(const char *path, const char *const *lines, size_t n, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    while (s_file_order(path, lines, n) < n) {
        if (lt_it_ms() > end)
            return -1;
        s_sleep_ms(50);
    }
    return 0;
}

/* ---- a sink adapter (PROTOCOL.md 8.2) ---------------------------------------------------- */

#define SINK_CONF                                                                                  \
    "gateway_socket = \"%s\";\nstream = \"%s\";\n"                                                 \
    "record_type = \"lienthong.records.Population\";\ndatabase = \"%s\";\n"                        \
    "table = \"citizens\";\nkey_column = \"personal_id\";\ncreate_table = true;\n"                 \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; };\n"

int lt_ft_sink_start(lt_it_proc_t *k, const char *sock_path, const char *stream, const char *dir,
                     const char *name, char *conf, char *db)
{
    snprintf(conf, PATH_MAX, "%.4000s/%s.conf", dir, name);
    snprintf(db, PATH_MAX, "%.4000s/%s.db", dir, name);
    snprintf(k->log_path, sizeof k->log_path, "%.4000s/%s.log", dir, name);
    k->args[0] = "sink";
    k->args[1] = "--config";
    k->args[2] = conf;
    if (lt_it_write_fmt(conf, SINK_CONF, sock_path, stream, db) != 0)
        return -1;
    return lt_it_proc_start(k);
}

int lt_ft_sink_check(const char *path, const lt_ft_model_t *m, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long rows = 0, live = 0;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT full_name FROM citizens WHERE personal_id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read %s", path);
        goto out;
    }
    for (size_t i = 0; i < m->n; i++) {
        sqlite3_bind_text(st, 1, m->c[i].key, -1, SQLITE_STATIC);
        int found = sqlite3_step(st) == SQLITE_ROW;
        const char *name = found ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (found && !name)
            name = ""; /* the sink writes an empty string as NULL (adapters/lt_rowmap.c) */
        if (found != m->c[i].live || (found && strcmp(name, m->c[i].name) != 0)) {
            snprintf(err, errlen, "sink row of %s: %s", m->c[i].key, found ? name : "absent");
            goto out;
        }
        live += m->c[i].live;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM citizens", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rows = sqlite3_column_int64(st, 0);
    if (rows != live)
        snprintf(err, errlen, "sink table has %ld rows, expected %ld", rows, live);
    else
        rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int lt_ft_sink_wait(const char *path, uint64_t seq, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    for (;;) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        uint64_t cur = 0;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT seq FROM lt_sink_cursor", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            cur = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (cur == seq)
            return 0;
        if (lt_it_ms() > end)
            return -1;
        s_sleep_ms(50);
    }
}

/* ---- the man in the middle ---------------------------------------------------------------- */

#define MITM_MAX_TAMPERED 16
#define MITM_MAX_HELD     64

struct lt_ft_mitm {
    pthread_t thread;
    int started;
    int stop; /* under mu */
    pthread_mutex_t mu;
    void *ctx, *front, *back;
    lt_ft_mitm_mode_t mode;
    int k;
    lt_keys_t *wrong;       /* RESIGN: a key the directory does not list */
    const lt_keys_t *owner; /* LONGKEY: the owner's, which signs the altered batch */
    int armed;              /* tamper with the batch answering this Subscribe */
    uint64_t armed_from;
    uint8_t armed_prev[LT_HASH_BYTES];
    int drop_next;
    int holding; /* HOLD: batches go to held[] */
    zmq_msg_t held[MITM_MAX_HELD];
    int n_held;
    uint8_t rid[256];
    size_t rid_len;
    lt_ft_mitm_stats_t st;
    struct {
        char stream[256];
        uint64_t first;
        uint8_t *rec;
        size_t len;
    } t[MITM_MAX_TAMPERED];
};

/* Receives every frame of one message; returns the count (0 when none). */
static int s_recv_all(void *sock, zmq_msg_t *parts, int max)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp, *m = n < max ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            return n;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(m);
        else
            n++;
    }
    return n;
}

/* HOLD: the first Subscribe leaves with credit k (packed into *out), and
 * batches are held from then on; the next one first delivers what was
 * held, in order, to the consumer (rid). Under p->mu. */
static void s_mitm_hold(lt_ft_mitm_t *p, Lienthong__Envelope *env, const zmq_msg_t *rid,
                        uint8_t **out, size_t *out_len)
{
    if (p->st.subscribes == 1) {
        env->subscribe->credit = (uint32_t)p->k;
        *out_len = lienthong__envelope__get_packed_size(env);
        if ((*out = malloc(*out_len)))
            lienthong__envelope__pack(env, *out);
        p->holding = 1;
        return;
    }
    for (int i = 0; i < p->n_held; i++) {
        (void)zmq_send(p->front, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid),
                       ZMQ_SNDMORE);
        if (zmq_msg_send(&p->held[i], p->front, 0) < 0)
            zmq_msg_close(&p->held[i]);
    }
    p->n_held = 0;
    p->holding = 0;
}

/* STALE: the owner's answer to a Credit for a subscription it no longer
 * holds (PROTOCOL.md 6.2), sent to the consumer at rid. */
static void s_mitm_stale(lt_ft_mitm_t *p, const zmq_msg_t *rid, const char *stream)
{
    (void)lt_wire_send_error(p->front, zmq_msg_data((zmq_msg_t *)rid),
                             zmq_msg_size((zmq_msg_t *)rid), LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                             0, "%.250s: no subscription", stream);
}

/* Front to back: notes the routing id and any Subscribe, then forwards. */
static void s_mitm_front(lt_ft_mitm_t *p)
{
    char stale[256] = "";
    uint8_t *alt = NULL;
    size_t alt_len = 0;
    zmq_msg_t parts[8];
    int n = s_recv_all(p->front, parts, 8);
    if (n < 2) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->rid_len = zmq_msg_size(&parts[0]) < sizeof p->rid ? zmq_msg_size(&parts[0]) : sizeof p->rid;
    memcpy(p->rid, zmq_msg_data(&parts[0]), p->rid_len);
    if (n == 2) {
        Lienthong__Envelope *env =
            lienthong__envelope__unpack(NULL, zmq_msg_size(&parts[1]), zmq_msg_data(&parts[1]));
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE) {
            p->st.subscribes++;
            if ((p->mode == LT_FT_MITM_FLIP || p->mode == LT_FT_MITM_RESIGN ||
                 p->mode == LT_FT_MITM_LONGKEY) &&
                p->st.tampered < p->k) {
                p->armed = 1;
                p->armed_from = env->subscribe->from_seq;
                memset(p->armed_prev, 0, sizeof p->armed_prev);
                if (env->subscribe->prev_hash.len == LT_HASH_BYTES)
                    memcpy(p->armed_prev, env->subscribe->prev_hash.data, LT_HASH_BYTES);
            }
            if (p->mode == LT_FT_MITM_HOLD)
                s_mitm_hold(p, env, &parts[0], &alt, &alt_len);
            if (p->mode == LT_FT_MITM_STALE && p->st.subscribes <= p->k)
                snprintf(stale, sizeof stale, "%s", env->subscribe->stream);
        }
        if (env)
            lienthong__envelope__free_unpacked(env, NULL);
    }
    pthread_mutex_unlock(&p->mu);
    if (alt) {
        (void)zmq_send(p->back, alt, alt_len, 0);
        free(alt);
        for (int i = 1; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
    for (int i = 1; !alt && i < n; i++)
        if (zmq_msg_send(&parts[i], p->back, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close(&parts[i]);
    if (stale[0]) /* after the Subscribe left, as the owner's answer would come */
        s_mitm_stale(p, &parts[0], stale);
    zmq_msg_close(&parts[0]);
    pthread_mutex_lock(&p->mu);
    p->st.forwarded++;
    pthread_mutex_unlock(&p->mu);
}

/* LONGKEY: records[0] with a key one byte over the limit, the batch signed
 * by the owner (with its history, as the owner signs). 0 or -1. */
static int s_mitm_longkey(lt_ft_mitm_t *p, Lienthong__Batch *b)
{
    ProtobufCBinaryData *rec = &b->records[0];
    Lienthong__Record *r = lienthong__record__unpack(NULL, rec->len, rec->data);
    char key[LT_RECORD_KEY_MAX + 2];
    uint8_t *packed = NULL, sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    int rc = -1;
    if (!r || b->signature.len != LT_SIG_BYTES)
        goto out;
    memset(key, 'k', LT_RECORD_KEY_MAX + 1);
    key[LT_RECORD_KEY_MAX + 1] = 0;
    char *old_key = r->key;
    r->key = key;
    size_t len = lienthong__record__get_packed_size(r);
    if ((packed = malloc(len)))
        lienthong__record__pack(r, packed);
    r->key = old_key;
    if (!packed)
        goto out;
    free(rec->data); /* the envelope's default allocator frees the new one */
    rec->data = packed;
    rec->len = len;
    const uint8_t *history = b->history_id.len == LT_HISTORY_BYTES ? b->history_id.data : NULL;
    if (lt_batch_sign_history(p->owner, b->stream, history, b->first_seq, b->records, b->n_records,
                              p->armed_prev, sig, hash) != 0)
        goto out;
    memcpy(b->signature.data, sig, LT_SIG_BYTES);
    rc = 0;
out:
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    return rc;
}

/* Alters a batch as the mode asks; returns the new envelope bytes (malloc'd)
 * or NULL to forward the original; *drop when it must not be forwarded. */
static uint8_t *s_mitm_batch(lt_ft_mitm_t *p, Lienthong__Envelope *env, size_t *len, int *drop)
{
    Lienthong__Batch *b = env->batch;
    p->st.batches++;
    *drop = 0;
    if (p->mode == LT_FT_MITM_DROP) {
        if (p->st.batches == p->k || p->drop_next) {
            p->drop_next = 0;
            p->st.dropped++;
            *drop = 1;
        }
        return NULL;
    }
    if (!p->armed || b->first_seq != p->armed_from || b->n_records == 0)
        return NULL;
    p->armed = 0;
    if (p->mode == LT_FT_MITM_FLIP) {
        /* The last byte of a Record ends a varint or a string: flipping its
         * low bit keeps the record decodable, so only the signature can tell. */
        b->records[0].data[b->records[0].len - 1] ^= 0x01;
    } else if (p->mode == LT_FT_MITM_LONGKEY) {
        if (s_mitm_longkey(p, b) != 0)
            return NULL;
    } else {
        uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
        if (b->signature.len != LT_SIG_BYTES ||
            lt_batch_sign(p->wrong, b->stream, b->first_seq, b->records, b->n_records,
                          p->armed_prev, sig, hash) != 0)
            return NULL;
        memcpy(b->signature.data, sig, LT_SIG_BYTES);
    }
    int i = p->st.tampered++;
    if (i < MITM_MAX_TAMPERED) {
        snprintf(p->t[i].stream, sizeof p->t[i].stream, "%s", b->stream);
        p->t[i].first = b->first_seq;
        p->t[i].len = b->records[0].len;
        p->t[i].rec = malloc(b->records[0].len);
        if (p->t[i].rec)
            memcpy(p->t[i].rec, b->records[0].data, b->records[0].len);
    }
    *len = lienthong__envelope__get_packed_size(env);
    uint8_t *out = malloc(*len);
    if (out)
        lienthong__envelope__pack(env, out);
    return out;
}

/* Back to front: batches may be altered or dropped. */
static void s_mitm_back(lt_ft_mitm_t *p)
{
    zmq_msg_t parts[8];
    int n = s_recv_all(p->back, parts, 8);
    if (n == 0)
        return;
    uint8_t *alt = NULL;
    size_t alt_len = 0;
    int drop = 0;
    pthread_mutex_lock(&p->mu);
    if (n == 1) {
        Lienthong__Envelope *env =
            lienthong__envelope__unpack(NULL, zmq_msg_size(&parts[0]), zmq_msg_data(&parts[0]));
        int batch = env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH;
        if (batch)
            alt = s_mitm_batch(p, env, &alt_len, &drop);
        if (env)
            lienthong__envelope__free_unpacked(env, NULL);
        if (batch && !drop && !alt && p->holding && p->n_held < MITM_MAX_HELD) {
            zmq_msg_init(&p->held[p->n_held]);
            zmq_msg_move(&p->held[p->n_held++], &parts[0]);
            p->st.held++;
            pthread_mutex_unlock(&p->mu);
            zmq_msg_close(&parts[0]);
            return;
        }
    }
    uint8_t rid[256];
    size_t rid_len = p->rid_len;
    memcpy(rid, p->rid, rid_len);
    if (!drop)
        p->st.forwarded++;
    pthread_mutex_unlock(&p->mu);
    if (drop || !rid_len) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        free(alt);
        return;
    }
    (void)zmq_send(p->front, rid, rid_len, ZMQ_SNDMORE);
    if (alt) {
        (void)zmq_send(p->front, alt, alt_len, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        free(alt);
        return;
    }
    for (int i = 0; i < n; i++)
        if (zmq_msg_send(&parts[i], p->front, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close(&parts[i]);
}

static void *s_mitm_run(void *arg)
{
    lt_ft_mitm_t *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        zmq_pollitem_t items[2] = {{p->front, 0, ZMQ_POLLIN, 0}, {p->back, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 50) < 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN)
            s_mitm_front(p);
        if (items[1].revents & ZMQ_POLLIN)
            s_mitm_back(p);
    }
    return NULL;
}

static int s_opt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

lt_ft_mitm_t *lt_ft_mitm_start(const char *front, const lt_keys_t *owner, const char *back,
                               const lt_keys_t *consumer, lt_ft_mitm_mode_t mode, int k)
{
    lt_ft_mitm_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->mode = mode;
    p->k = k;
    p->owner = owner;
    /* Its own context: no ZAP handler there, so the CURVE server admits the
     * consumer (which is what a thief of the owner's transport key can do). */
    p->ctx = zmq_ctx_new();
    p->front = p->ctx ? zmq_socket(p->ctx, ZMQ_ROUTER) : NULL;
    p->back = p->ctx ? zmq_socket(p->ctx, ZMQ_DEALER) : NULL;
    if (mode == LT_FT_MITM_RESIGN && !(p->wrong = lt_keys_new(LT_KEYS_MEMBER)))
        goto fail;
    if (!p->front || !p->back || s_opt_int(p->front, ZMQ_LINGER, 0) ||
        s_opt_int(p->back, ZMQ_LINGER, 0) || s_opt_int(p->front, ZMQ_CURVE_SERVER, 1) ||
        zmq_setsockopt(p->front, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(owner),
                       LT_KEY_BYTES) ||
        zmq_setsockopt(p->back, ZMQ_CURVE_SERVERKEY, lt_keys_transport_public(owner),
                       LT_KEY_BYTES) ||
        zmq_setsockopt(p->back, ZMQ_CURVE_PUBLICKEY, lt_keys_transport_public(consumer),
                       LT_KEY_BYTES) ||
        zmq_setsockopt(p->back, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(consumer),
                       LT_KEY_BYTES) ||
        s_opt_int(p->back, ZMQ_RECONNECT_IVL, 100)) {
        fprintf(stderr, "feedtest: mitm: cannot set socket options: %s\n",
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_bind(p->front, front) != 0 || zmq_connect(p->back, back) != 0) {
        fprintf(stderr, "feedtest: mitm: cannot bind %s or connect %s: %s\n", front, back,
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&p->thread, NULL, s_mitm_run, p) != 0)
        goto fail;
    p->started = 1;
    return p;
fail:
    lt_ft_mitm_stop(&p);
    return NULL;
}

void lt_ft_mitm_drop_next(lt_ft_mitm_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->drop_next = 1;
    pthread_mutex_unlock(&p->mu);
}

void lt_ft_mitm_stats(lt_ft_mitm_t *p, lt_ft_mitm_stats_t *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}

int lt_ft_mitm_tampered(lt_ft_mitm_t *p, int i, char *stream, size_t stream_len,
                        uint64_t *first_seq, uint8_t **rec, size_t *len)
{
    int rc = -1;
    pthread_mutex_lock(&p->mu);
    if (i >= 0 && i < p->st.tampered && i < MITM_MAX_TAMPERED && p->t[i].rec) {
        snprintf(stream, stream_len, "%s", p->t[i].stream);
        *first_seq = p->t[i].first;
        *len = p->t[i].len;
        if ((*rec = malloc(*len ? *len : 1))) {
            memcpy(*rec, p->t[i].rec, *len);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void lt_ft_mitm_stop(lt_ft_mitm_t **pp)
{
    lt_ft_mitm_t *p = pp ? *pp : NULL;
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    if (p->front)
        zmq_close(p->front);
    if (p->back)
        zmq_close(p->back);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    for (int i = 0; i < MITM_MAX_TAMPERED; i++)
        free(p->t[i].rec);
    for (int i = 0; i < p->n_held; i++)
        zmq_msg_close(&p->held[i]);
    lt_keys_destroy(&p->wrong);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}

int lt_ft_ok(int rc, const char *what, const char *err)
{
    if (rc != 0)
        fprintf(stderr, "\n  %s: %s\n", what, err);
    return rc == 0;
}
