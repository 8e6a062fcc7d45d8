/* test_rulesgw: a dataset's validation rules (PROTOCOL.md 5.7, 8.1) with real
 * `lienthong gateway` processes on 127.0.0.1 and a real source adapter on
 * an SQLite table.
 *
 * The owner's directory entry declares the rules of the population
 * dataset. The agency table holds valid rows and rows each breaking one
 * rule (a citizen id with a wrong province code, a sex digit that disagrees
 * with the sex, a death before the birth, an impossible date, a future
 * date, an empty name, a status outside the list) and one breaking two.
 * Proves: exactly the invalid rows are refused, each with exactly its rule
 * ids; they are in the agency's lt_rejects with their reasons and cursor;
 * the valid rows are stored and reach a consumer, the invalid ones do not;
 * status and metrics count the refusals by rule; a row fixed later is
 * published and its reject removed; a row refused again counts twice. A
 * row whose text is not UTF-8 is a mapping reject of the source, the rest
 * is published; a Publish the gateway refuses for what it holds is read
 * again from the database, not resent as it was, and a row too large to
 * publish alone is a mapping reject. A source killed just after storing a
 * raised epoch shift publishes only what waits at its next start; a
 * published row without a reject writes nothing into lt_rejects, and
 * each published change runs one statement on its row's rejects however
 * many kinds it clears (the source run in this process, its SQLite
 * statements counted). Through a
 * proxy on the gateway's local socket: a row the gateway refuses as
 * malformed even alone is a mapping reject and the rest goes on (and does
 * not hold its dataset when read again after a restart), while a gateway
 * that is unwell is retried and rejects nothing, its refusals logged once
 * and counted; a source killed right
 * after queueing a failed Publish again publishes only what waits; a
 * dataset whose every row the gateway refuses (a configuration that does
 * not match the directory) is held, not made rejects, until rows are
 * accepted. With directory_file, a source whose record_type or key_field
 * is not the directory's refuses to start and --check says so; without it,
 * a gateway that predates the record types in its status refuses its every
 * Publish, naming both record types, and the dataset is held; a gateway
 * whose status gives them has the dataset held before any Publish, and
 * fails --check naming both (which says nothing of types without them). A
 * batch over the frame cap met while a malformed change is looked for
 * halves the batch looking, not the limit.
 * A batch over the cap halved to mapping rejects only stores no cursor
 * past the changes not yet acknowledged.
 *
 * Usage: test_rulesgw /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_source.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define FED       "VN"
#define ID_OWNER  "VN/GOV/BCA"
#define ID_PORTAL "VN/GOV/DVCQG"
#define ID_BHXH   "VN/GOV/BHXH"
#define DS        "VN/GOV/BCA/population"
#define DS_CARDS  "VN/GOV/BHXH/insurance_cards"

#define READY_MS    10000
#define CONVERGE_MS 20000
#define CLI_MS      20000

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\";\n"
    "  rules = (\n"
    "    { field = \"personal_id\"; check = \"citizen_id\"; sex = \"sex\"; "
    "birth = \"date_of_birth\"; },\n"
    "    { field = \"full_name\"; check = \"required\"; },\n"
    "    { field = \"date_of_birth\"; check = \"date\"; not_future = true; },\n"
    "    { field = \"date_of_death\"; check = \"date\"; not_future = true; "
    "after = \"date_of_birth\"; },\n"
    "    { field = \"status\"; check = \"enum\"; "
    "values = [ \"CITIZEN_ALIVE\", \"CITIZEN_DECEASED\", \"CITIZEN_MISSING\" ]; } ); },\n"
    "  { id = \"" DS_CARDS "\"; owner = \"" ID_BHXH "\";\n"
    "    type = \"lienthong.records.InsuranceCard\"; key = \"personal_id\";\n"
    "    rules = ( { field = \"personal_id\"; check = \"reference\"; dataset = \"" DS "\"; },\n"
    "      { field = \"valid_to\"; check = \"date\"; after = \"valid_from\"; } ); } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_PORTAL "\"; target = \"" DS "\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; allow = [\"verify\"];\n"
    "    purposes = [\"DATA-QUALITY\"]; } );\n";

#define CARDS_CONF                                                                                 \
    "gateway_socket = \"%s\";\n"                                                                   \
    "dataset = \"" DS_CARDS "\";\n"                                                                \
    "record_type = \"lienthong.records.InsuranceCard\";\n"                                         \
    "database = \"%s\";\n"                                                                         \
    "table = \"cards\";\n"                                                                         \
    "key_column = \"personal_id\";\n"                                                              \
    "key_field = \"personal_id\";\n"                                                               \
    "directory_file = \"%s\";\n"                                                                   \
    "columns = { personal_id = \"personal_id\"; card_number = \"card_number\"; "                   \
    "valid_from = \"valid_from\"; valid_to = \"valid_to\"; };\n"

#define SOURCE_CONF                                                                                \
    "gateway_socket = \"%s\";\n"                                                                   \
    "dataset = \"" DS "\";\n"                                                                      \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "database = \"%s\";\n"                                                                         \
    "table = \"citizens\";\n"                                                                      \
    "key_column = \"personal_id\";\n"                                                              \
    "key_field = \"personal_id\";\n"                                                               \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; "                       \
    "date_of_birth = \"date_of_birth\"; sex = \"sex\"; status = \"status\"; "                      \
    "date_of_death = \"date_of_death\"; };\n"

/* The agency's rows; `rules` lists the rule ids each must fail ("" valid). */
static const struct {
    const char *id, *name, *dob, *sex, *status, *dod, *rules;
} s_rows[] = {
    {"038085012345", "Nguyễn Văn An", "1985-03-02", "SEX_MALE", "CITIZEN_ALIVE", NULL, ""},
    {"001303999999", "Trần Thị Bình", "2003-12-31", "SEX_FEMALE", "CITIZEN_ALIVE", NULL, ""},
    {"079060000001", "Lê Văn Cường", "1960-07-20", "SEX_MALE", "CITIZEN_DECEASED", "2021-05-01",
     ""},
    {"096199000002", "Phạm Thị Dung", "1999-01-01", "SEX_FEMALE", "CITIZEN_ALIVE", NULL, ""},
    /* the planted one: no province has code 99 */
    {"099085012345", "Hoàng Văn Em", "1985-06-06", "SEX_MALE", "CITIZEN_ALIVE", NULL,
     "personal_id:citizen_id"},
    {"038185012346", "Vũ Văn Phúc", "1985-01-01", "SEX_MALE", "CITIZEN_ALIVE", NULL,
     "personal_id:citizen_id"},
    {"038070012347", "Đỗ Văn Giang", "1970-01-01", "SEX_MALE", "CITIZEN_DECEASED", "1969-12-31",
     "date_of_death:date"},
    {"038090012348", "Bùi Văn Hải", "1990-02-30", "SEX_MALE", "CITIZEN_ALIVE", NULL,
     "date_of_birth:date"},
    {"038095012349", "", "1995-05-05", "SEX_MALE", "CITIZEN_ALIVE", NULL, "full_name:required"},
    {"038088012350", "Ngô Văn Khoa", "1988-08-08", "SEX_MALE", "CITIZEN_DECEASED", "2999-01-01",
     "date_of_death:date"},
    {"038077012351", "Dương Văn Long", "1977-07-07", "SEX_MALE", "CITIZEN_UNSPECIFIED", NULL,
     "status:enum"},
    {"0380770123", "", "1977-07-07", "SEX_MALE", "CITIZEN_ALIVE", NULL,
     "personal_id:citizen_id,full_name:required"},
};
#define N_ROWS  (sizeof s_rows / sizeof s_rows[0])
#define N_VALID 4

typedef struct {
    lt_it_fed_t f;
    lt_it_gw_t *go, *gp, *gb;
    char conf[PATH_MAX + 32], db[PATH_MAX + 32];
} fed_t;

/* Inserts the first n rows of s_rows, valid ones without a death date. */
static int s_insert_valid(const char *db_path, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *sql =
            sqlite3_mprintf("INSERT INTO citizens VALUES (%Q, %Q, %Q, %Q, %Q, NULL)", s_rows[i].id,
                            s_rows[i].name, s_rows[i].dob, s_rows[i].sex, s_rows[i].status);
        int rc = sql ? lt_it_sql(db_path, sql) : -1;
        sqlite3_free(sql);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int s_insert_rows(const char *db_path)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        char *sql = sqlite3_mprintf("INSERT INTO citizens VALUES (%Q, %Q, %Q, %Q, %Q, %Q)",
                                    s_rows[i].id, s_rows[i].name, s_rows[i].dob, s_rows[i].sex,
                                    s_rows[i].status, s_rows[i].dod);
        int rc = sql ? lt_it_sql(db_path, sql) : -1;
        sqlite3_free(sql);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The reject of key of a kind: 1 with its reasons and count, 0 none, -1
 * error. */
static int s_reject_of(const char *db_path, const char *key, const char *kind, char *reasons,
                       size_t cap, long *count)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open(db_path, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT reasons, count, source_cursor, first_seen, last_seen "
                           "FROM lt_rejects WHERE dataset = ?1 AND row_key = ?2 AND kind = ?3",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, DS, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = 0;
    } else if (step == SQLITE_ROW) {
        snprintf(reasons, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        *count = (long)sqlite3_column_int64(st, 1);
        /* A cursor and both times are always there. */
        rc = sqlite3_column_bytes(st, 2) > 0 && sqlite3_column_bytes(st, 3) == 20 &&
                     sqlite3_column_bytes(st, 4) == 20
                 ? 1
                 : -1;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* The reject of key by the owner's rules (kind "rule"). */
static int s_reject(const char *db_path, const char *key, char *reasons, size_t cap, long *count)
{
    return s_reject_of(db_path, key, "rule", reasons, cap, count);
}

/* The one number sql counts in the agency database, -1 on error; waits
 * while a running source writes. */
static long s_count(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (sqlite3_open(db_path, &db) == SQLITE_OK && sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The rows of lt_rejects, -1 on error. */
static long s_reject_rows(const char *db_path)
{
    return s_count(db_path, "SELECT count(*) FROM lt_rejects");
}

/* The reasons text lists exactly the rule ids of want ("a,b"), in order:
 * "a: why; b: why". */
static int s_rules_are(const char *reasons, const char *want)
{
    char got[512] = "";
    const char *p = reasons;
    while (*p) {
        const char *colon = strstr(p, ": ");
        if (!colon)
            return 0;
        if (got[0])
            strncat(got, ",", sizeof got - strlen(got) - 1);
        strncat(got, p,
                (size_t)(colon - p) < sizeof got - strlen(got) - 1 ? (size_t)(colon - p)
                                                                   : sizeof got - strlen(got) - 1);
        const char *next = strstr(colon, "; ");
        p = next ? next + 2 : colon + strlen(colon);
    }
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  reasons \"%s\": rules %s, want %s\n", reasons, got, want);
    return strcmp(got, want) == 0;
}

static int s_source_once(fed_t *x, const char *out, int install)
{
    const char *args[] = {
        "source", "--config", x->conf, install ? "--install" : "--once", install ? "--once" : NULL,
        NULL};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", x->f.dir, out);
    int rc = lt_it_run_cli(x->f.dir, path, args, CLI_MS);
    if (rc != 0)
        lt_it_file_dump(path);
    return rc;
}

/* 1 when g holds key as a live record of DS. */
static int s_has(const lt_it_gw_t *g, const char *key)
{
    uint64_t seq = 0;
    int deleted = 1;
    return lt_ft_state(g, DS, key, &seq, &deleted) == 1 && !deleted;
}

/* The federation, the owner's gateway with owner_extra in its
 * configuration (or NULL). */
static int s_fed_with(fed_t *x, const char *owner_extra)
{
    static const char *peers[] = {ID_OWNER, NULL};
    if (lt_it_fed_init(&x->f, FED) != 0)
        return -1;
    x->f.extra_source = s_source;
    lt_it_member_t *owner = lt_it_member_add(&x->f, ID_OWNER, 1);
    lt_it_member_t *portal = lt_it_member_add(&x->f, ID_PORTAL, 1);
    lt_it_member_t *bhxh = lt_it_member_add(&x->f, ID_BHXH, 1);
    if (!owner || !portal || !bhxh)
        return -1;
    x->go = lt_it_gw_new(&x->f, owner, 1, NULL, owner_extra);
    x->gp = lt_it_gw_new(&x->f, portal, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );\n");
    x->gb = lt_it_gw_new(&x->f, bhxh, 1, peers, NULL);
    if (!x->go || !x->gp || !x->gb || lt_it_gw_run(x->go, READY_MS) != 0 ||
        lt_it_gw_run(x->gp, READY_MS) != 0 || lt_it_gw_run(x->gb, READY_MS) != 0)
        return -1;
    snprintf(x->conf, sizeof x->conf, "%s/source.conf", x->f.dir);
    snprintf(x->db, sizeof x->db, "%s/agency.db", x->f.dir);
    return lt_it_write_fmt(x->conf, SOURCE_CONF, x->go->sock_path, x->db) == 0 &&
                   lt_it_sql(x->db, "CREATE TABLE citizens (personal_id TEXT PRIMARY KEY, "
                                    "full_name TEXT, date_of_birth TEXT, sex TEXT, status TEXT, "
                                    "date_of_death TEXT)") == 0
               ? 0
               : -1;
}

static int s_fed(fed_t *x)
{
    return s_fed_with(x, NULL);
}

/* The count status shows for rule on DS; -1 when not listed. */
static long s_status_count(lt_it_gw_t *g, const char *rule)
{
    Lienthong__Envelope *env = lt_it_gw_status(g, READY_MS);
    long n = -1;
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++) {
        const Lienthong__StreamStatus *s = env->status_reply->streams[i];
        for (size_t j = 0; strcmp(s->stream, DS) == 0 && j < s->n_refusals; j++)
            if (strcmp(s->refusals[j]->rule, rule) == 0)
                n = (long)s->refusals[j]->count;
    }
    lt_wire_free(&env);
    return n;
}

static double s_metric(lt_it_gw_t *g, const char *rule)
{
    char *text = lt_it_gw_metrics(g, READY_MS), series[256];
    snprintf(series, sizeof series,
             "lienthong_publish_refusals_total{dataset=\"" DS "\",rule=\"%s\"}", rule);
    double v = text ? lt_it_metric(text, series) : -2;
    free(text);
    return v;
}

static void test_refused_rows(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char reasons[2048];
    long count = 0;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_rows(x.db) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);

    /* Exactly the valid rows are stored, at the owner and the consumer. */
    if (lt_ft_last_seq(x.go, DS) != N_VALID) {
        fprintf(stderr, "\n  owner last_seq %llu\n", (unsigned long long)lt_ft_last_seq(x.go, DS));
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/src1.out", x.f.dir);
        lt_it_file_dump(path);
        lt_it_file_dump(x.go->log_path);
    }
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == N_VALID);
    LT_IT_REQUIRE(lt_ft_wait_seq(x.gp, DS, N_VALID, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_last_seq(x.gp, DS) == N_VALID);
    for (size_t i = 0; i < N_ROWS; i++) {
        int valid = !s_rows[i].rules[0];
        CU_ASSERT(s_has(x.go, s_rows[i].id) == valid);
        CU_ASSERT(s_has(x.gp, s_rows[i].id) == valid);
        int r = s_reject(x.db, s_rows[i].id, reasons, sizeof reasons, &count);
        CU_ASSERT(r == (valid ? 0 : 1));
        if (r == 1) {
            CU_ASSERT(s_rules_are(reasons, s_rows[i].rules));
            CU_ASSERT(count == 1);
        }
    }
    CU_ASSERT(s_reject_rows(x.db) == (long)(N_ROWS - N_VALID));
    /* The planted row's reason names the province code. */
    CU_ASSERT(s_reject(x.db, "099085012345", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(strstr(reasons, "province code 099 is not one of the 63") != NULL);

    /* Counted by rule in status and metrics. */
    CU_ASSERT(s_status_count(x.go, "personal_id:citizen_id") == 3);
    CU_ASSERT(s_status_count(x.go, "date_of_death:date") == 2);
    CU_ASSERT(s_status_count(x.go, "full_name:required") == 2);
    CU_ASSERT(s_status_count(x.go, "status:enum") == 1);
    CU_ASSERT(s_status_count(x.go, "date_of_birth:date") == 1);
    CU_ASSERT(s_metric(x.go, "personal_id:citizen_id") == 3);
    CU_ASSERT(s_metric(x.go, "status:enum") == 1);

    /* Fixed rows are published and their rejects go: the name filled in,
     * the death date corrected, the wrong id replaced (a new key; the old
     * one is deleted, which clears its reject too). One row is refused
     * again, with another reason: its reject counts 2. */
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET full_name = 'Mai Văn Nam' "
                                  "WHERE personal_id = '038095012349'") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET date_of_death = '1999-12-31' "
                                  "WHERE personal_id = '038070012347'") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET personal_id = '038085012399' "
                                  "WHERE personal_id = '099085012345'") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db,
                            "UPDATE citizens SET status = 'CITIZEN_ALIVE', sex = 'SEX_FEMALE' "
                            "WHERE personal_id = '038077012351'") == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src2.out", 0) == 0);
    CU_ASSERT(s_has(x.go, "038095012349") && s_has(x.go, "038070012347"));
    CU_ASSERT(s_has(x.go, "038085012399") && !s_has(x.go, "099085012345"));
    CU_ASSERT(s_reject(x.db, "038095012349", reasons, sizeof reasons, &count) == 0);
    CU_ASSERT(s_reject(x.db, "038070012347", reasons, sizeof reasons, &count) == 0);
    CU_ASSERT(s_reject(x.db, "099085012345", reasons, sizeof reasons, &count) == 0);
    CU_ASSERT(s_reject(x.db, "038077012351", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(s_rules_are(reasons, "personal_id:citizen_id") && count == 2);
    CU_ASSERT(strstr(reasons, "for a man") != NULL);
    CU_ASSERT(s_reject_rows(x.db) == (long)(N_ROWS - N_VALID - 3));
    LT_IT_REQUIRE(lt_ft_wait_same(x.go, x.gp, DS, CONVERGE_MS) == 0);
    CU_ASSERT(s_has(x.gp, "038085012399") && !s_has(x.gp, "038077012351"));
    CU_ASSERT(s_status_count(x.go, "personal_id:citizen_id") == 4);
out:
    lt_it_fed_cleanup(&x.f);
}

/* The kind-"reference" reject of key in db: 1 with its reasons, 0 none. */
static int s_ref_reject(const char *db_path, const char *key, char *reasons, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT reasons FROM lt_rejects WHERE dataset = ?1 AND row_key = ?2 "
                           "AND kind = 'reference'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, DS_CARDS, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) == SQLITE_OK) {
        int step = sqlite3_step(st);
        rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
        if (rc == 1)
            snprintf(reasons, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Polls g's status until it is connected to member id. 0, or -1. */
static int s_wait_peer(lt_it_gw_t *g, const char *id, int timeout_ms)
{
    for (int64_t end = lt_it_ms() + timeout_ms; lt_it_ms() < end;) {
        Lienthong__Envelope *env = lt_it_gw_status(g, READY_MS);
        int up = 0;
        for (size_t i = 0; env && i < env->status_reply->n_peers_connected; i++)
            up |= strcmp(env->status_reply->peers_connected[i], id) == 0;
        lt_wire_free(&env);
        if (up)
            return 0;
        usleep(50000);
    }
    return -1;
}

/* Insurance cards whose holder must exist in the population register: the
 * card of a citizen the register does not know is published all the same
 * (a reference never refuses) and reported in lt_rejects, by a verify
 * against the population's owner that discloses nothing else. */
static void test_reference_checks(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char reasons[2048], conf[PATH_MAX + 32], db[PATH_MAX + 32];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_rows(x.db) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);
    LT_IT_REQUIRE(lt_ft_last_seq(x.go, DS) == N_VALID);
    snprintf(conf, sizeof conf, "%s/cards.conf", x.f.dir);
    snprintf(db, sizeof db, "%s/cards.db", x.f.dir);
    LT_IT_REQUIRE(lt_it_write_fmt(conf, CARDS_CONF, x.gb->sock_path, db, x.gb->dir_path) == 0);
    LT_IT_REQUIRE(
        lt_it_sql(db, "CREATE TABLE cards (personal_id TEXT PRIMARY KEY, card_number TEXT, "
                      "valid_from TEXT, valid_to TEXT);"
                      "INSERT INTO cards VALUES "
                      "('038085012345', 'DN4797912345678', '2025-01-01', '2025-12-31'),"
                      "('001303999999', 'HS4010000000001', '2025-01-01', '2026-12-31'),"
                      "('038088888888', 'DN4790000000002', '2025-01-01', '2025-12-31'),"
                      "('099085012345', 'DN4790000000003', '2025-01-01', '2025-12-31'),"
                      "('079060000001', 'HT3790000000004', '2025-06-01', '2025-05-31')") == 0);
    LT_IT_REQUIRE(s_wait_peer(x.gb, ID_OWNER, CONVERGE_MS) == 0);
    const char *args[] = {"source", "--config", conf, "--install", "--once", NULL};
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/cards.out", x.f.dir);
    int rc = lt_it_run_cli(x.f.dir, out, args, CLI_MS);
    if (rc != 0)
        lt_it_file_dump(out);
    LT_IT_REQUIRE(rc == 0);
    /* Four cards published; the one whose validity ends before it starts
     * is refused by its date rule. */
    CU_ASSERT(lt_ft_last_seq(x.gb, DS_CARDS) == 4);
    /* Two holders are not in the register (one was never published, one
     * was refused there): reported; the others are not. */
    CU_ASSERT(s_ref_reject(db, "038085012345", reasons, sizeof reasons) == 0);
    CU_ASSERT(s_ref_reject(db, "001303999999", reasons, sizeof reasons) == 0);
    CU_ASSERT(s_ref_reject(db, "038088888888", reasons, sizeof reasons) == 1);
    CU_ASSERT(strstr(reasons, "personal_id:reference: no record '038088888888' in " DS) != NULL);
    /* The log names the rule and the dataset, never the value looked for
     * (it is in lt_rejects). */
    CU_ASSERT(lt_it_file_contains(out, "personal_id:reference: no such record in " DS) == 1);
    CU_ASSERT(lt_it_file_contains(out, "no record '") == 0);
    CU_ASSERT(s_ref_reject(db, "099085012345", reasons, sizeof reasons) == 1);
    CU_ASSERT(s_ref_reject(db, "079060000001", reasons, sizeof reasons) == 0);
    CU_ASSERT(s_reject_rows(db) == 3); /* two references, one date */
    if (s_reject_rows(db) != 3)
        lt_it_file_dump(out);
    /* A deleted card takes its reference reject with it. */
    LT_IT_REQUIRE(lt_it_sql(db, "DELETE FROM cards WHERE personal_id = '038088888888'") == 0);
    const char *again[] = {"source", "--config", conf, "--once", NULL};
    rc = lt_it_run_cli(x.f.dir, out, again, CLI_MS);
    if (rc != 0)
        lt_it_file_dump(out);
    LT_IT_REQUIRE(rc == 0);
    CU_ASSERT(s_ref_reject(db, "038088888888", reasons, sizeof reasons) == 0);
    CU_ASSERT(s_ref_reject(db, "099085012345", reasons, sizeof reasons) == 1);
    CU_ASSERT(s_reject_rows(db) == 2);
out:
    lt_it_fed_cleanup(&x.f);
}

/* The demo's generator agrees with the rules: every citizen it draws, and
 * every change it makes (moves, deaths, corrected names and birth dates),
 * passes them. */
static void test_popgen_passes(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char db[PATH_MAX + 32], out[PATH_MAX + 32];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    snprintf(db, sizeof db, "%s/popgen.db", x.f.dir);
    snprintf(out, sizeof out, "%s/popgen.out", x.f.dir);
    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, SOURCE_CONF, x.go->sock_path, db) == 0);
    const char *gen[] = {"--db", db, "--citizens", "3000", "--seed", "21", NULL};
    const char *chg[] = {"--db", db, "--changes", "1500", "--seed", "22", NULL};
    LT_IT_REQUIRE(lt_it_run_prog(lt_it_popgen_binary(), x.f.dir, out, gen, CLI_MS) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "pop1.out", 1) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3000);
    LT_IT_REQUIRE(lt_it_run_prog(lt_it_popgen_binary(), x.f.dir, out, chg, CLI_MS) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "pop2.out", 0) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) > 3000);
    CU_ASSERT(s_reject_rows(db) == 0);
    Lienthong__Envelope *env = lt_it_gw_status(x.go, READY_MS);
    LT_IT_REQUIRE(env != NULL);
    for (size_t i = 0; i < env->status_reply->n_streams; i++)
        CU_ASSERT(env->status_reply->streams[i]->n_refusals == 0);
    lt_wire_free(&env);
out:
    lt_it_fed_cleanup(&x.f);
}

/* A row whose text is not UTF-8 (a name in a legacy 8-bit Vietnamese
 * encoding, as "Nguy\xean" in TCVN3) cannot be published: the owner's
 * gateway would refuse the whole Publish (PROTOCOL.md 4.5). The source
 * keeps it in lt_rejects as a mapping reject naming the column, publishes
 * the rest, and --once ends; the row fixed is published and its reject
 * goes. */
static void test_text_not_utf8(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char reasons[2048], out[PATH_MAX + 32];
    long count = 0;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038085012345', 'Nguyễn Văn An', "
                                  "'1985-03-02', 'SEX_MALE', 'CITIZEN_ALIVE', NULL);"
                                  "INSERT INTO citizens VALUES ('038085012360', "
                                  "CAST(X'4E677579EA6E' AS TEXT), '1985-04-04', 'SEX_MALE', "
                                  "'CITIZEN_ALIVE', NULL)") == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);
    snprintf(out, sizeof out, "%s/src1.out", x.f.dir);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 1);
    CU_ASSERT(s_has(x.go, "038085012345") && !s_has(x.go, "038085012360"));
    CU_ASSERT(s_reject_of(x.db, "038085012360", "mapping", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(strstr(reasons, "full_name") && strstr(reasons, "not valid UTF-8"));
    CU_ASSERT(s_reject_rows(x.db) == 1);
    /* The log names the change and the column, never the value. */
    CU_ASSERT(lt_it_file_contains(out, "change 2 ") == 1);
    CU_ASSERT(lt_it_file_contains(out, "column 'full_name'") == 1);
    CU_ASSERT(lt_it_file_contains(out, "ERR_MALFORMED") == 0);

    /* Started again with the row as it is: the gateway holds the cursor of
     * the last change published, and the source's agrees (no "restored
     * from a backup", which would publish the whole table again); the
     * change after it is read, and rejected, again. */
    LT_IT_REQUIRE(s_source_once(&x, "src2.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src2.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 1);
    CU_ASSERT(s_reject_of(x.db, "038085012360", "mapping", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(count == 2);

    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET full_name = 'Nguyễn Văn Bình' "
                                  "WHERE personal_id = '038085012360'") == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src3.out", 0) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 2);
    CU_ASSERT(s_has(x.go, "038085012360"));
    CU_ASSERT(s_reject_rows(x.db) == 0);
out:
    lt_it_fed_cleanup(&x.f);
}

/* Starts `lienthong source --install` as a process logging to source.log. */
static int s_source_start(fed_t *x, lt_it_proc_t *src)
{
    memset(src, 0, sizeof *src);
    snprintf(src->log_path, sizeof src->log_path, "%.4000s/source.log", x->f.dir);
    const char *args[] = {"source", "--config", x->conf, "--install", NULL};
    memcpy(src->args, args, sizeof args);
    return lt_it_proc_start(src);
}

/* A Publish the gateway refuses for what it holds (here ERR_TOO_LARGE: a
 * 40 KB name over the owner's record cap of max_message = 64 KiB) would be
 * refused for ever: the source reads its changes again from the database
 * rather than resending the same bytes, halving its batch. The row too
 * large alone is then a mapping reject naming its size and the limit, so
 * that the good row, and a later change, are published rather than held
 * back for ever; the row fixed is published and its reject goes. */
static void test_refused_publish_read_again(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char reasons[2048] = "";
    long count = 0;
    LT_IT_REQUIRE(s_fed_with(&x, "max_message = 65536;\n") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038085012345', 'Nguyễn Văn An', "
                                  "'1985-03-02', 'SEX_MALE', 'CITIZEN_ALIVE', NULL);"
                                  "INSERT INTO citizens VALUES ('038085012360', "
                                  "substr(replace(hex(zeroblob(40000)), '0', 'a'), 1, 40000), "
                                  "'1985-04-04', 'SEX_MALE', 'CITIZEN_ALIVE', NULL)") == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    int read_again = 0, rejected = 0;
    for (int i = 0; i < 100 && !rejected; i++) {
        usleep(100 * 1000);
        read_again |= lt_it_file_count(src.log_path, 0, "reading changes 1..2 again", NULL) > 0;
        rejected =
            s_reject_of(x.db, "038085012360", "mapping", reasons, sizeof reasons, &count) == 1;
    }
    if (!read_again || !rejected)
        lt_it_file_dump(src.log_path);
    CU_ASSERT(read_again);
    CU_ASSERT(rejected);
    CU_ASSERT(strstr(reasons, "bytes as a record") && strstr(reasons, "max_message"));
    /* The log names the key, and the good row goes on. */
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "key=038085012360 change 2 ", NULL) > 0);
    CU_ASSERT(lt_ft_wait_seq(x.go, DS, 1, CONVERGE_MS) == 0);
    CU_ASSERT(s_has(x.go, "038085012345") && !s_has(x.go, "038085012360"));
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038085012361', 'Lê Văn Cúc', "
                                  "'1985-05-05', 'SEX_MALE', 'CITIZEN_ALIVE', NULL)") == 0);
    CU_ASSERT(lt_ft_wait_seq(x.go, DS, 2, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET full_name = 'Nguyễn Văn Bình' "
                                  "WHERE personal_id = '038085012360'") == 0);
    int rc = lt_ft_wait_seq(x.go, DS, 3, CONVERGE_MS);
    if (rc != 0)
        lt_it_file_dump(src.log_path);
    CU_ASSERT(rc == 0);
    CU_ASSERT(s_has(x.go, "038085012345") && s_has(x.go, "038085012360"));
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    CU_ASSERT(s_reject_rows(x.db) == 0);
out:
    lt_it_fed_cleanup(&x.f);
}

/* 1000 rows of about 130 bytes make a Publish of about 130 KB, over the
 * owner's max_message of 64 KiB (the source packs to the default 4 MiB):
 * the gateway refuses it as too large and the source, told so, halves its
 * batch until the Publish fits, saying why; every row is published. */
static void test_publish_split_for_max_message(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(s_fed_with(&x, "max_message = 65536;\n") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 999) INSERT INTO citizens SELECT "
                                  "printf('038085%06d', i), 'Nguyen Van ' || printf('%090d', i), "
                                  "'1985-03-02', 'SEX_MALE', 'CITIZEN_ALIVE', NULL FROM n") == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    int rc = lt_ft_wait_seq(x.go, DS, 1000, CONVERGE_MS);
    if (rc != 0)
        lt_it_file_dump(src.log_path);
    CU_ASSERT(rc == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "exceeds the gateway's max_message", NULL) > 0);
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
out:
    lt_it_fed_cleanup(&x.f);
}

/* The epoch shift (adapters/README.md, "Epochs") is raised when a run
 * starts with changes waiting, and stored before its first Publish. A run
 * killed just after storing it left the shift above the one the gateway's
 * cursor was acknowledged under: the next start took the gateway for one
 * restored from a backup and published the whole table again. It must
 * publish only the change waiting. */
static void test_killed_after_raised_shift(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    char out[PATH_MAX + 32];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('096199000002', 'Phạm Thị Dung', "
                                  "'1999-01-01', 'SEX_FEMALE', 'CITIZEN_ALIVE', NULL)") == 0);
    /* Ended just after the raised shift is stored (as a kill -9 would). */
    LT_IT_REQUIRE(setenv("LT_SOURCE_TEST_EXIT", "shift_stored", 1) == 0);
    const char *args[] = {"source", "--config", x.conf, "--once", NULL};
    snprintf(out, sizeof out, "%s/src2.out", x.f.dir);
    int rc = lt_it_run_cli(x.f.dir, out, args, CLI_MS);
    LT_IT_REQUIRE(unsetenv("LT_SOURCE_TEST_EXIT") == 0);
    CU_ASSERT(rc != 0);
    CU_ASSERT(lt_it_file_contains(out, "exiting at shift_stored") == 1);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);

    LT_IT_REQUIRE(s_source_once(&x, "src3.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src3.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_it_file_contains(out, "listed again") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 4);
    CU_ASSERT(s_has(x.go, "096199000002"));
    /* And the next start agrees with the gateway too. */
    LT_IT_REQUIRE(s_source_once(&x, "src4.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src4.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 4);
out:
    lt_it_fed_cleanup(&x.f);
}

/* Statements that read or write a row's rejects (all but the dataset's
 * count and the table's creation), counted on every SQLite connection of
 * this process (sqlite3_auto_extension), for the source run in process. */
static long s_reject_statements;

static int s_trace(unsigned type, void *ctx, void *stmt, void *sql)
{
    (void)type;
    (void)ctx;
    const char *x = sql, *text = sqlite3_sql(stmt);
    if (x && strncmp(x, "--", 2) == 0)
        return 0; /* a trigger the statement fires, not another statement */
    if (text && strstr(text, "lt_rejects") && strncmp(text, "CREATE", 6) != 0 &&
        strncmp(text, "SELECT count(*)", 15) != 0)
        s_reject_statements++;
    return 0;
}

static int s_trace_on(sqlite3 *db, const char **err, const struct sqlite3_api_routines *api)
{
    (void)err;
    (void)api;
    return sqlite3_trace_v2(db, SQLITE_TRACE_STMT, s_trace, NULL);
}

/* Runs the source once in this process; the statements on a row's
 * rejects it ran, or -1 when it failed. */
static long s_source_counted(fed_t *x)
{
    char err[1024] = "";
    if (sqlite3_auto_extension((void (*)(void))s_trace_on) != SQLITE_OK)
        return -1;
    s_reject_statements = 0;
    lt_source_t *src = lt_source_new(x->conf, err, sizeof err);
    int rc = src ? lt_source_run(src, 1) : -1;
    if (!src)
        fprintf(stderr, "\n  %s\n", err);
    lt_source_destroy(&src);
    sqlite3_cancel_auto_extension((void (*)(void))s_trace_on);
    return rc == 0 ? s_reject_statements : -1;
}

/* Rows of lt_rejects written (inserted, updated or deleted) since
 * s_count_writes, by triggers of the test's own. */
static int s_count_writes(const char *db_path)
{
    return lt_it_sql(db_path, "CREATE TABLE t_written(op TEXT);"
                              "CREATE TRIGGER t_w_ins AFTER INSERT ON lt_rejects BEGIN "
                              "INSERT INTO t_written VALUES ('insert'); END;"
                              "CREATE TRIGGER t_w_upd AFTER UPDATE ON lt_rejects BEGIN "
                              "INSERT INTO t_written VALUES ('update'); END;"
                              "CREATE TRIGGER t_w_del AFTER DELETE ON lt_rejects BEGIN "
                              "INSERT INTO t_written VALUES ('delete'); END;");
}

static long s_written(const char *db_path)
{
    return s_count(db_path, "SELECT count(*) FROM t_written");
}

/* While the dataset holds a reject, a published change whose row has none
 * writes nothing into lt_rejects, and every published change runs one
 * statement on its row's rejects, however many kinds it holds and clears:
 * a deleted row its rule and reference rejects, a row fixed its rule
 * reject but not its reference one (a passed check clears that). */
static void test_rejects_written_only_when_changed(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_rows(x.db) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);
    LT_IT_REQUIRE(s_reject_rows(x.db) == (long)(N_ROWS - N_VALID));
    LT_IT_REQUIRE(s_count_writes(x.db) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET full_name = full_name || ' X' WHERE "
                                  "personal_id IN ('038085012345', '001303999999', "
                                  "'079060000001', '096199000002')") == 0);
    long n = s_source_counted(&x);
    if (n != 4)
        fprintf(stderr, "\n  %ld statements on rejects, want 4\n", n);
    CU_ASSERT(n == 4);
    CU_ASSERT(s_written(x.db) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == N_VALID * 2);
    CU_ASSERT(s_reject_rows(x.db) == (long)(N_ROWS - N_VALID));
    /* Two refused rows hold a reference reject too (planted). */
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO lt_rejects(dataset, row_key, kind, reasons, "
                                  "source_cursor, first_seen, last_seen) SELECT dataset, row_key, "
                                  "'reference', 'planted', source_cursor, first_seen, last_seen "
                                  "FROM lt_rejects WHERE row_key IN ('099085012345', "
                                  "'038095012349')") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "DELETE FROM t_written") == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "DELETE FROM citizens WHERE personal_id = '099085012345';"
                                  "UPDATE citizens SET full_name = 'Mai Văn Nam' "
                                  "WHERE personal_id = '038095012349'") == 0);
    n = s_source_counted(&x);
    if (n != 2)
        fprintf(stderr, "\n  %ld statements on rejects, want 2\n", n);
    CU_ASSERT(n == 2);
    CU_ASSERT(s_written(x.db) == 3);
    CU_ASSERT(s_reject_rows(x.db) == (long)(N_ROWS - N_VALID) - 2 + 1);
    char reasons[2048];
    long count = 0;
    CU_ASSERT(s_reject_of(x.db, "038095012349", "reference", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(s_reject_of(x.db, "038095012349", "rule", reasons, sizeof reasons, &count) == 0);
out:
    lt_it_fed_cleanup(&x.f);
}

/* ---- a proxy between the source and its gateway's local socket -------- *
 * The gateway refuses nothing this source packs by itself: to see what the
 * source does with a refusal, the proxy spoils a Publish, or answers it on
 * the gateway's behalf, and forwards everything else as it is. */

/* Rows whose full_name holds it are the ones the proxy acts on. */
#define PX_MARK "SPOILED"

typedef enum {
    PX_SPOIL,      /* a change holding PX_MARK gets a payload that is no record: the
                    * gateway refuses the whole Publish as malformed */
    PX_UNWELL,     /* the first k Publish holding PX_MARK are answered ERR_UNAVAILABLE,
                    * as by a gateway draining */
    PX_FAIL_FIRST, /* the first Publish is answered ERR_INTERNAL, the later ones dropped */
    PX_SPOIL_ALL,  /* every change with a payload gets one that is no record, as a source
                    * whose configuration does not match the directory makes them */
    PX_PASS,       /* everything is forwarded as it is */
    PX_DROP,       /* every Publish is dropped: none is stored or acknowledged */
    PX_OLD_GATEWAY /* everything is forwarded, but a StatusReply without the record types
                    * of its grants, as from a gateway that predates them (PROTOCOL.md 8.3) */
} px_mode_t;

typedef struct {
    void *front, *back;
    pthread_t th;
    pthread_mutex_t mu;
    int stop, running;
    px_mode_t mode;
    int k;
    int answered;                   /* Publish messages the proxy answered itself */
    int dropped;                    /* Publish messages PX_DROP dropped */
    size_t most_changes;            /* changes in the largest Publish since the hook ran */
    const char *hook_db, *hook_sql; /* run on the first Publish PX_SPOIL spoils */
    uint8_t rid[256];
    size_t rid_len;
} px_t;

/* 1 when a change of the Publish holds PX_MARK. */
static int s_px_marked(const Lienthong__Publish *p, size_t *which)
{
    for (size_t i = 0; i < p->n_changes; i++)
        if (p->changes[i]->payload.len &&
            memmem(p->changes[i]->payload.data, p->changes[i]->payload.len, PX_MARK,
                   strlen(PX_MARK))) {
            *which = i;
            return 1;
        }
    return 0;
}

/* What to do with a Publish: *code to answer it with, or *drop, or *alt
 * to forward instead (malloc'd); none of them to forward it as it is. */
static void s_px_publish(px_t *px, Lienthong__Envelope *env, Lienthong__ErrorCode *code, int *drop,
                         uint8_t **alt, size_t *alt_len)
{
    size_t i = 0;
    int marked = s_px_marked(env->publish, &i);
    if (px->mode == PX_DROP) {
        *drop = 1;
        px->dropped++;
    } else if (px->mode == PX_FAIL_FIRST) {
        *code = px->answered++ == 0 ? LIENTHONG__ERROR_CODE__ERR_INTERNAL : 0;
        *drop = !*code;
    } else if (px->mode == PX_UNWELL && marked && px->answered < px->k) {
        px->answered++;
        *code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    } else if ((px->mode == PX_SPOIL && marked) || px->mode == PX_SPOIL_ALL) {
        if (px->mode == PX_SPOIL && px->hook_sql) {
            /* Before the source is told: it reads what this wrote only
             * when it reads its refused changes again. */
            if (lt_it_sql(px->hook_db, px->hook_sql) != 0)
                fprintf(stderr, "\n  proxy: the hook failed\n");
            px->hook_sql = NULL;
            px->most_changes = 0;
        }
        /* Field 1 of 255 bytes, in a payload of 2: not a record. The
         * payloads are the envelope's own: freed with it. */
        static uint8_t bad[] = {0x0a, 0xff};
        for (size_t c = 0; c < env->publish->n_changes; c++) {
            ProtobufCBinaryData *pl = &env->publish->changes[c]->payload;
            if (pl->len >= sizeof bad && (px->mode == PX_SPOIL_ALL || c == i))
                memcpy(pl->data, bad, (pl->len = sizeof bad));
        }
        *alt_len = lienthong__envelope__get_packed_size(env);
        if ((*alt = malloc(*alt_len)))
            lienthong__envelope__pack(env, *alt);
    }
}

/* Switches the proxy to another mode. */
static void s_px_mode(px_t *px, px_mode_t mode)
{
    pthread_mutex_lock(&px->mu);
    px->mode = mode;
    pthread_mutex_unlock(&px->mu);
}

/* Source to gateway. */
static void s_px_front(px_t *px)
{
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&rid, px->front, ZMQ_DONTWAIT) < 0 || !zmq_msg_more(&rid) ||
        zmq_msg_recv(&body, px->front, 0) < 0 || zmq_msg_size(&rid) > sizeof px->rid)
        goto out;
    px->rid_len = zmq_msg_size(&rid);
    memcpy(px->rid, zmq_msg_data(&rid), px->rid_len);
    Lienthong__Envelope *env =
        lienthong__envelope__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    Lienthong__ErrorCode code = 0;
    int drop = 0;
    uint8_t *alt = NULL;
    size_t alt_len = 0;
    pthread_mutex_lock(&px->mu);
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH) {
        if (env->publish->n_changes > px->most_changes)
            px->most_changes = env->publish->n_changes;
        s_px_publish(px, env, &code, &drop, &alt, &alt_len);
    }
    pthread_mutex_unlock(&px->mu);
    if (code)
        (void)lt_wire_send_error(
            px->front, px->rid, px->rid_len, code, env->publish->request_id, "proxy: %s",
            code == LIENTHONG__ERROR_CODE__ERR_INTERNAL ? "store failure; retry"
                                                        : "gateway draining; retry later");
    else if (alt)
        (void)zmq_send(px->back, alt, alt_len, 0);
    else if (!drop)
        (void)zmq_msg_send(&body, px->back, 0);
    free(alt);
    if (env)
        lienthong__envelope__free_unpacked(env, NULL);
out:
    zmq_msg_close(&rid);
    zmq_msg_close(&body);
}

/* A StatusReply packed again without LocalGrants.types (malloc'd in *alt),
 * or nothing when body is another message or has none. */
static void s_px_old_status(zmq_msg_t *body, uint8_t **alt, size_t *alt_len)
{
    Lienthong__Envelope *env =
        lienthong__envelope__unpack(NULL, zmq_msg_size(body), zmq_msg_data(body));
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY &&
        env->status_reply->grants) {
        /* Hidden while packing only: freed with the envelope. */
        Lienthong__LocalGrants *g = env->status_reply->grants;
        size_t n = g->n_types;
        g->n_types = 0;
        *alt_len = lienthong__envelope__get_packed_size(env);
        if ((*alt = malloc(*alt_len)))
            lienthong__envelope__pack(env, *alt);
        g->n_types = n;
    }
    if (env)
        lienthong__envelope__free_unpacked(env, NULL);
}

/* Gateway to source. */
static void s_px_back(px_t *px)
{
    zmq_msg_t body;
    zmq_msg_init(&body);
    uint8_t *alt = NULL;
    size_t alt_len = 0;
    if (zmq_msg_recv(&body, px->back, ZMQ_DONTWAIT) < 0 || !px->rid_len)
        goto out;
    pthread_mutex_lock(&px->mu);
    int old = px->mode == PX_OLD_GATEWAY;
    pthread_mutex_unlock(&px->mu);
    if (old)
        s_px_old_status(&body, &alt, &alt_len);
    if (zmq_send(px->front, px->rid, px->rid_len, ZMQ_SNDMORE) < 0)
        goto out;
    if (alt)
        (void)zmq_send(px->front, alt, alt_len, 0);
    else
        (void)zmq_msg_send(&body, px->front, 0);
out:
    free(alt);
    zmq_msg_close(&body);
}

static void *s_px_run(void *arg)
{
    px_t *px = arg;
    for (;;) {
        pthread_mutex_lock(&px->mu);
        int stop = px->stop;
        pthread_mutex_unlock(&px->mu);
        if (stop)
            break;
        zmq_pollitem_t items[2] = {{px->front, 0, ZMQ_POLLIN, 0}, {px->back, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 50) <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN)
            s_px_front(px);
        if (items[1].revents & ZMQ_POLLIN)
            s_px_back(px);
    }
    return NULL;
}

/* Starts a proxy listening at `path` for the gateway at `gateway`. */
static int s_px_start(px_t *px, const char *path, const char *gateway, px_mode_t mode, int k)
{
    char ep[PATH_MAX + 16];
    int zero = 0;
    memset(px, 0, sizeof *px);
    px->mode = mode;
    px->k = k;
    px->front = zmq_socket(lt_it_ctx(), ZMQ_ROUTER);
    px->back = zmq_socket(lt_it_ctx(), ZMQ_DEALER);
    if (!px->front || !px->back || zmq_setsockopt(px->front, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(px->back, ZMQ_LINGER, &zero, sizeof zero) != 0)
        return -1;
    snprintf(ep, sizeof ep, "ipc://%.4000s", path);
    if (zmq_bind(px->front, ep) != 0)
        return -1;
    snprintf(ep, sizeof ep, "ipc://%.4000s", gateway);
    if (zmq_connect(px->back, ep) != 0 || pthread_mutex_init(&px->mu, NULL) != 0)
        return -1;
    if (pthread_create(&px->th, NULL, s_px_run, px) != 0) {
        pthread_mutex_destroy(&px->mu);
        return -1;
    }
    px->running = 1;
    return 0;
}

static int s_px_answered(px_t *px)
{
    pthread_mutex_lock(&px->mu);
    int n = px->answered;
    pthread_mutex_unlock(&px->mu);
    return n;
}

/* Stops a proxy started, or not, by s_px_start (px zeroed before). */
static void s_px_stop(px_t *px)
{
    if (px->running) {
        pthread_mutex_lock(&px->mu);
        px->stop = 1;
        pthread_mutex_unlock(&px->mu);
        (void)pthread_join(px->th, NULL);
        pthread_mutex_destroy(&px->mu);
    }
    if (px->front)
        zmq_close(px->front);
    if (px->back)
        zmq_close(px->back);
    memset(px, 0, sizeof *px);
}

/* The federation, with the source configured to reach the owner's gateway
 * through a proxy in `mode`. */
static int s_fed_px(fed_t *x, px_t *px, px_mode_t mode, int k)
{
    char path[PATH_MAX + 32];
    if (s_fed(x) != 0)
        return -1;
    snprintf(path, sizeof path, "%.4000s/px.sock", x->f.dir);
    return s_px_start(px, path, x->go->sock_path, mode, k) == 0 &&
                   lt_it_write_fmt(x->conf, SOURCE_CONF, path, x->db) == 0
               ? 0
               : -1;
}

/* 0 when the owner's gateway holds DS up to seq in time, else -1 with the
 * source's log shown. */
static int s_wait_seq(const fed_t *x, const lt_it_proc_t *src, uint64_t seq)
{
    int rc = lt_ft_wait_seq(x->go, DS, seq, CONVERGE_MS);
    if (rc != 0)
        lt_it_file_dump(src->log_path);
    return rc;
}

/* Three valid rows, the second (038085012360, change 3 in key order)
 * holding PX_MARK, so the proxy spoils it. 0, or -1. */
static int s_insert_marked(const char *db)
{
    return lt_it_sql(db, "INSERT INTO citizens VALUES ('038085012345', 'Nguyễn Văn An', "
                         "'1985-03-02', 'SEX_MALE', 'CITIZEN_ALIVE', NULL);"
                         "INSERT INTO citizens VALUES ('038085012360', 'Lê " PX_MARK
                         "', '1985-04-04', 'SEX_MALE', 'CITIZEN_ALIVE', NULL);"
                         "INSERT INTO citizens VALUES ('001303999999', 'Trần Thị Bình', "
                         "'2003-12-31', 'SEX_FEMALE', 'CITIZEN_ALIVE', NULL)");
}

/* A row the owner's gateway refuses as malformed even alone (here spoiled
 * by the proxy: its payload is no record) would be read again for ever,
 * holding back its dataset; and the Publish of the whole batch holding it
 * is refused too. The source reads the batch again fewer at a time until
 * the row is alone, keeps it in lt_rejects as a mapping reject naming the
 * gateway's message, logs it with its key and change id, and publishes
 * the others and the later changes; the row changed is published and its
 * reject goes. */
static void test_malformed_alone_is_reject(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char reasons[2048] = "";
    long count = 0;
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_SPOIL, 0) == 0);
    LT_IT_REQUIRE(s_insert_marked(x.db) == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    int rejected = 0;
    for (int i = 0; i < 100 && !rejected; i++) {
        usleep(100 * 1000);
        rejected =
            s_reject_of(x.db, "038085012360", "mapping", reasons, sizeof reasons, &count) == 1;
    }
    if (!rejected)
        lt_it_file_dump(src.log_path);
    CU_ASSERT(rejected);
    /* The gateway's message names the change, its key being the row's
     * (the rows were listed in key order: it is change 3). */
    CU_ASSERT(strstr(reasons, "ERR_MALFORMED") && strstr(reasons, "payload for key 038085012360"));
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "key=038085012360 change 3 ", NULL) > 0);
    CU_ASSERT(lt_ft_wait_seq(x.go, DS, 2, CONVERGE_MS) == 0);
    CU_ASSERT(s_has(x.go, "038085012345") && s_has(x.go, "001303999999"));
    CU_ASSERT(!s_has(x.go, "038085012360"));
    /* Started again, the source reads the row again (the cursor stays
     * before it) before any row is accepted: already a reject, it does
     * not hold the dataset. */
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    /* A later change is not held back. */
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038085012361', 'Lê Văn Cúc', "
                                  "'1985-05-05', 'SEX_MALE', 'CITIZEN_ALIVE', NULL)") == 0);
    CU_ASSERT(lt_ft_wait_seq(x.go, DS, 3, CONVERGE_MS) == 0);
    /* The row changed is published, and its reject goes. */
    LT_IT_REQUIRE(lt_it_sql(x.db, "UPDATE citizens SET full_name = 'Lê Văn Em' "
                                  "WHERE personal_id = '038085012360'") == 0);
    CU_ASSERT(s_wait_seq(&x, &src, 4) == 0);
    CU_ASSERT(s_has(x.go, "038085012360"));
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    CU_ASSERT(s_reject_rows(x.db) == 0);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* 950 kB of text: a record the gateway takes (its cap is 1 MiB), five
 * make a Publish over the 4 MiB the source packs to, three do not. */
#define BIG_NAME "substr(replace(hex(zeroblob(475000)), '0', 'a'), 1, 950000)"

/* While the source reads a refused Publish again fewer at a time to find
 * the change at fault, a batch that would exceed the frame cap halves how
 * many it reads while looking, not the dataset's limit: the changes after
 * those refused go as many per Publish as before. Thirteen changes
 * (batch = 13), the seventh spoiled by the proxy, are refused as one
 * Publish; meanwhile the proxy adds five large rows and six small ones, so
 * that the third batch of six read again (one small change and five large
 * ones) is over the cap. Then the nine changes after it go in one
 * Publish. The source's next read after sending the first Publish is
 * poll_ms after it, far later than its refusal comes: it reads the added
 * rows only when it reads the refused changes again. */
static void test_narrowing_keeps_the_limit(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char path[PATH_MAX + 32], key[32];
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_SPOIL, 0) == 0);
    snprintf(path, sizeof path, "%.4000s/px.sock", x.f.dir);
    LT_IT_REQUIRE(
        lt_it_write_fmt(x.conf, SOURCE_CONF "batch = 13;\npoll_ms = 1000;\n", path, x.db) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 12) INSERT INTO citizens SELECT "
                                  "printf('0380850124%02d', i), CASE i WHEN 6 THEN 'Lê " PX_MARK
                                  "' ELSE 'Nguyễn Văn Anh' END, '1985-03-02', 'SEX_MALE', "
                                  "'CITIZEN_ALIVE', NULL FROM n") == 0);
    pthread_mutex_lock(&px.mu);
    px.hook_db = x.db;
    px.hook_sql = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 10) "
                  "INSERT INTO citizens SELECT printf('0380850125%02d', i), CASE WHEN i < 5 "
                  "THEN " BIG_NAME " ELSE 'Trần Thị Bình' END, '1985-03-02', 'SEX_MALE', "
                  "'CITIZEN_ALIVE', NULL FROM n";
    pthread_mutex_unlock(&px.mu);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    /* Every change but the spoiled one is published. */
    CU_ASSERT(s_wait_seq(&x, &src, 23) == 0);
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    for (int i = 0; i < 24; i++) {
        snprintf(key, sizeof key, "0380850%d%02d", i < 13 ? 124 : 125, i < 13 ? i : i - 13);
        CU_ASSERT(s_has(x.go, key) == (i != 6));
    }
    CU_ASSERT(s_reject_of(x.db, "038085012406", "mapping", path, sizeof path, &(long){0}) == 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "a Publish would exceed", NULL) == 1);
    pthread_mutex_lock(&px.mu);
    size_t most = px.most_changes;
    pthread_mutex_unlock(&px.mu);
    if (most != 9) {
        fprintf(stderr, "\n  the largest Publish after the refusal held %zu changes, want 9\n",
                most);
        lt_it_file_dump(src.log_path);
    }
    CU_ASSERT(most == 9);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* An error that says the gateway is unwell, not the change (here
 * ERR_UNAVAILABLE, as from a gateway draining), is retried: the change is
 * published once the gateway is well, never made a reject. The source
 * logs the first refusal, not each (the rest are counted once a minute,
 * test_retrylog), and one line when the Publish is accepted again. */
static void test_unwell_gateway_retried(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_UNWELL, 3) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038085012360', 'Lê " PX_MARK
                                  "', '1985-04-04', 'SEX_MALE', 'CITIZEN_ALIVE', NULL)") == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    CU_ASSERT(s_wait_seq(&x, &src, 1) == 0);
    CU_ASSERT(s_px_answered(&px) == 3);
    CU_ASSERT(s_has(x.go, "038085012360"));
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    CU_ASSERT(s_reject_rows(x.db) == 0);
    CU_ASSERT_EQUAL(lt_it_file_count(src.log_path, 0, "gateway refused a publish", NULL), 1);
    CU_ASSERT_EQUAL(lt_it_file_count(src.log_path, 0, "resending request_id", NULL), 1);
    CU_ASSERT_EQUAL(
        lt_it_file_count(src.log_path, 0, "publishes accepted again after 3 refusals over", NULL),
        1);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* A Publish that fails while a later one is in flight has its keys queued
 * again under new change ids. A source killed right after the commit of
 * that, before the gateway acknowledged anything under the run's shift,
 * must not take the gateway for one restored from a backup at its next
 * start (publishing the whole table again): the stored cursor claims no
 * change the gateway does not hold. */
static void test_killed_after_requeue(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char path[PATH_MAX + 32], out[PATH_MAX + 32];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src1.out", 1) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);
    LT_IT_REQUIRE(lt_it_sql(x.db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 5) INSERT INTO citizens SELECT "
                                  "printf('0380850124%02d', i), 'Nguyễn Văn Anh', '1985-03-02', "
                                  "'SEX_MALE', 'CITIZEN_ALIVE', NULL FROM n") == 0);
    /* Two changes per Publish, through a proxy that fails the first and
     * drops the others; ended just after the first is queued again. */
    snprintf(path, sizeof path, "%.4000s/px.sock", x.f.dir);
    LT_IT_REQUIRE(s_px_start(&px, path, x.go->sock_path, PX_FAIL_FIRST, 0) == 0);
    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, SOURCE_CONF "batch = 2;\n", path, x.db) == 0);
    LT_IT_REQUIRE(setenv("LT_SOURCE_TEST_EXIT", "requeue_committed", 1) == 0);
    const char *args[] = {"source", "--config", x.conf, "--once", NULL};
    snprintf(out, sizeof out, "%s/src2.out", x.f.dir);
    int rc = lt_it_run_cli(x.f.dir, out, args, CLI_MS);
    LT_IT_REQUIRE(unsetenv("LT_SOURCE_TEST_EXIT") == 0);
    CU_ASSERT(rc != 0);
    CU_ASSERT(lt_it_file_contains(out, "queued again under new change ids") == 1);
    CU_ASSERT(lt_it_file_contains(out, "exiting at requeue_committed") == 1);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);
    s_px_stop(&px);

    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, SOURCE_CONF, x.go->sock_path, x.db) == 0);
    LT_IT_REQUIRE(s_source_once(&x, "src3.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src3.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_it_file_contains(out, "listed again") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 9);
    CU_ASSERT(s_has(x.go, "038085012400") && s_has(x.go, "038085012405"));
    /* And the next start agrees with the gateway too. */
    LT_IT_REQUIRE(s_source_once(&x, "src4.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src4.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 9);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* 0 once the source's log holds `a` n times, else -1 with the log shown. */
static int s_wait_log(const lt_it_proc_t *src, const char *a, int n)
{
    for (int i = 0; i < 200; i++) {
        if (lt_it_file_count(src->log_path, 0, a, NULL) >= n)
            return 0;
        usleep(100 * 1000);
    }
    lt_it_file_dump(src->log_path);
    return -1;
}

static int s_source_run(fed_t *x, const char *out, const char *opt, const char *opt2);
static int s_out_has(const fed_t *x, const char *out, const char *a, const char *b);

#define HELD "most likely the configuration does not match the directory"

/* When the source's configuration does not match the directory (a
 * record_type other than the dataset's, a column mapping that spoils a
 * field of every row; played here by the proxy spoiling every row), the
 * gateway refuses every row as malformed, even alone. Made rejects, the
 * whole table would go into lt_rejects. The dataset is held instead: no
 * reject, nothing published, one error line naming the dataset, the
 * gateway's message and the likely cause, retried; once the rows are
 * accepted, everything is published. Later, a run of rows refused alone
 * with no row accepted between holds it again after BREAKER_K - 1 = 2
 * rejects. `--once` leaves a held dataset and exits 1. */
static void test_every_row_refused_holds(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_SPOIL_ALL, 0) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    /* --once does not retry a held dataset for ever: it exits 1, naming it
     * (the run is bounded by CLI_MS). */
    CU_ASSERT(s_source_run(&x, "once.out", "--install", "--once") == 1);
    CU_ASSERT(s_out_has(&x, "once.out", "dataset=" DS " is not published: ",
                        "the breaker holds it (see its error line); --once ends without it"));
    CU_ASSERT(s_reject_rows(x.db) == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    CU_ASSERT(s_wait_log(&src, HELD, 1) == 0);
    /* Retried, and the error line not repeated. */
    CU_ASSERT(s_wait_log(&src, "reading changes 1..1 again", 3) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, HELD, NULL) == 1);
    /* Nor a warning at each retry while held: those before the hold
     * (the Publish of three, then of one) and no more. */
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "WARN", "gateway refused a publish") <= 3);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "WARN", "to find the change at fault") <= 2);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR", "dataset=" DS) >= 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, HELD, "payload for key") == 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, HELD,
                               "record_type ('lienthong.records.Population')") == 1);
    CU_ASSERT(s_reject_rows(x.db) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 0);

    /* The rows accepted: all published. */
    s_px_mode(&px, PX_PASS);
    CU_ASSERT(s_wait_seq(&x, &src, 3) == 0);
    CU_ASSERT(s_has(x.go, "038085012345") && s_has(x.go, "001303999999") &&
              s_has(x.go, "079060000001"));
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "accepts its rows again", NULL) == 1);
    CU_ASSERT(s_reject_rows(x.db) == 0);

    /* Three rows refused alone in a row, no row accepted between: two
     * rejects, then held; the third is published once accepted. */
    s_px_mode(&px, PX_SPOIL_ALL);
    LT_IT_REQUIRE(lt_it_sql(x.db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 2) INSERT INTO citizens SELECT "
                                  "printf('0380850124%02d', i), 'Nguyễn Văn Anh', '1985-03-02', "
                                  "'SEX_MALE', 'CITIZEN_ALIVE', NULL FROM n") == 0);
    CU_ASSERT(s_wait_log(&src, HELD, 2) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, HELD, "so were the 2 changes before it") == 1);
    CU_ASSERT(s_reject_rows(x.db) == 2);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);
    s_px_mode(&px, PX_PASS);
    CU_ASSERT(s_wait_seq(&x, &src, 4) == 0);
    CU_ASSERT(s_has(x.go, "038085012402"));
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* The source's configuration for DS, of record type `type` keyed by `key`
 * with `columns`, reading the owner's directory file. */
#define TYPED_CONF                                                                                 \
    "gateway_socket = \"%s\";\n"                                                                   \
    "dataset = \"" DS "\";\n"                                                                      \
    "database = \"%s\";\n"                                                                         \
    "table = \"citizens\";\n"                                                                      \
    "key_column = \"personal_id\";\n"                                                              \
    "directory_file = \"%s\";\n"                                                                   \
    "record_type = \"%s\";\n"                                                                      \
    "key_field = \"%s\";\n"                                                                        \
    "columns = { %s };\n"

/* Runs `lienthong source --config CONF` with `opt` (and `opt2`), the
 * output in `out`: the exit code. */
static int s_source_run(fed_t *x, const char *out, const char *opt, const char *opt2)
{
    const char *args[] = {"source", "--config", x->conf, opt, opt2, NULL};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", x->f.dir, out);
    return lt_it_run_cli(x->f.dir, path, args, CLI_MS);
}

/* 1 when the file `out` of the federation's directory holds a and b. */
static int s_out_has(const fed_t *x, const char *out, const char *a, const char *b)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", x->f.dir, out);
    int n = lt_it_file_count(path, 0, a, b);
    if (n == 0)
        lt_it_file_dump(path);
    return n > 0;
}

/* A source whose record_type (or key_field) is not the dataset's in the
 * directory would have every row refused as malformed: with
 * directory_file set, it refuses to start and --check fails, naming both;
 * configured as the directory says, it publishes. */
static void test_record_type_not_the_directorys(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    const char *gw = x.go->sock_path, *dir = x.go->dir_path;
    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, TYPED_CONF, gw, x.db, dir,
                                  "lienthong.records.InsuranceCard", "personal_id",
                                  "personal_id = \"personal_id\"; card_number = \"full_name\"; "
                                  "valid_from = \"date_of_birth\"; valid_to = \"sex\";") == 0);
    CU_ASSERT(s_source_run(&x, "check1.out", "--check", NULL) != 0);
    CU_ASSERT(s_out_has(&x, "check1.out", "record_type 'lienthong.records.InsuranceCard'",
                        "record type 'lienthong.records.Population'"));
    CU_ASSERT(s_source_run(&x, "run1.out", "--install", "--once") != 0);
    CU_ASSERT(s_out_has(&x, "run1.out", "record_type 'lienthong.records.InsuranceCard'",
                        "record type 'lienthong.records.Population'"));
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 0);

    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, TYPED_CONF, gw, x.db, dir, "lienthong.records.Population",
                                  "id_card_number",
                                  "id_card_number = \"personal_id\"; full_name = \"full_name\";") ==
                  0);
    CU_ASSERT(s_source_run(&x, "check2.out", "--check", NULL) != 0);
    CU_ASSERT(s_out_has(&x, "check2.out", "key_field 'id_card_number'", "key field 'personal_id'"));
    CU_ASSERT(s_source_run(&x, "run2.out", "--install", "--once") != 0);
    CU_ASSERT(s_out_has(&x, "run2.out", "key_field 'id_card_number'", "key field 'personal_id'"));

    /* As the directory says: checked, and published. */
    LT_IT_REQUIRE(
        lt_it_write_fmt(x.conf, SOURCE_CONF "directory_file = \"%s\";\n", gw, x.db, dir) == 0);
    CU_ASSERT(s_source_once(&x, "run3.out", 1) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 3);
    CU_ASSERT(s_source_run(&x, "check3.out", "--check", NULL) == 0);
    CU_ASSERT(
        s_out_has(&x, "check3.out", "dataset " DS " is a lienthong.records.Population", NULL));
out:
    lt_it_fed_cleanup(&x.f);
}

/* The same record_type without directory_file: the source cannot compare
 * it at start when its gateway predates the record types of the grants in
 * its status (PROTOCOL.md 8.3; played by the proxy taking them out), but
 * it names it in every Publish (8.1), and the owner's gateway refuses each
 * one before decoding any record, naming both types. Some InsuranceCard
 * payloads decode as Population records (protobuf reads what it can), and
 * were stored as such; now nothing is published and nothing is made a
 * reject. A fault of the configuration, never of a row: the source holds
 * the dataset at the first refusal, recognised by the form of its message,
 * without reading the Publish again fewer at a time to find a row at
 * fault, with one error line naming both types, and retries it whole,
 * quietly. `--once` leaves it and exits 1, naming it. */
#define WRONG_TYPE                                                                                 \
    "its record_type 'lienthong.records.InsuranceCard' is not the record type "                    \
    "'lienthong.records.Population' the directory gives it"

/* The source's configuration for DS as InsuranceCard records, through the
 * gateway socket `sock`, without directory_file. 0, or -1. */
static int s_wrong_type_conf(const fed_t *x, const char *sock)
{
    return lt_it_write_fmt(x->conf,
                           "gateway_socket = \"%s\";\n"
                           "dataset = \"" DS "\";\n"
                           "database = \"%s\";\n"
                           "table = \"citizens\";\n"
                           "key_column = \"personal_id\";\n"
                           "record_type = \"lienthong.records.InsuranceCard\";\n"
                           "key_field = \"personal_id\";\n"
                           "columns = { personal_id = \"personal_id\"; card_number = "
                           "\"full_name\"; valid_from = \"date_of_birth\"; };\n",
                           sock, x->db);
}

static void test_record_type_refused_by_gateway(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char path[PATH_MAX + 32];
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_OLD_GATEWAY, 0) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    snprintf(path, sizeof path, "%.4000s/px.sock", x.f.dir);
    LT_IT_REQUIRE(s_wrong_type_conf(&x, path) == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    CU_ASSERT(s_wait_log(&src, WRONG_TYPE, 1) == 0);
    /* Retried whole, the error line not repeated. */
    CU_ASSERT(s_wait_log(&src, "reading changes 1..3 again", 3) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR", WRONG_TYPE) == 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR",
                               "Set record_type to "
                               "'lienthong.records.Population'") == 1);
    /* The directory may be the wrong one: changing the configuration to
     * match it would then publish the wrong type. */
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR",
                               "if the directory changed, ask the authority whether the "
                               "directory is wrong") == 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR", NULL) == 1);
    /* No row looked for, no breaker line, no warning at each retry. */
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "reading them again", NULL) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, HELD, NULL) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "WARN", "gateway refused a publish") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 0);
    CU_ASSERT(s_reject_rows(x.db) == 0);
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    if (CU_get_number_of_failures())
        lt_it_file_dump(src.log_path);

    /* --once ends (it retried for ever), with an error naming it. */
    CU_ASSERT(s_source_run(&x, "once.out", "--once", NULL) == 1);
    CU_ASSERT(s_out_has(&x, "once.out", "dataset=" DS " is not published: " WRONG_TYPE,
                        "--once ends without it"));
    CU_ASSERT(s_reject_rows(x.db) == 0);
    /* Learnt from the refusal: the owner's gateway refused Publish messages. */
    CU_ASSERT(lt_it_file_count(x.go->log_path, 0, "refused publish", "is not the record type") >=
              1);
    /* --check cannot tell from a status without the types: it passes,
     * saying nothing of record types. */
    CU_ASSERT(s_source_run(&x, "check.out", "--check", NULL) == 0);
    CU_ASSERT(s_out_has(&x, "check.out", "granted to " ID_OWNER, NULL));
    snprintf(path, sizeof path, "%.4000s/check.out", x.f.dir);
    CU_ASSERT(lt_it_file_count(path, 0, "record type", NULL) == 0);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* The same record_type, with a gateway whose status gives each granted
 * dataset its record type (PROTOCOL.md 8.3): the source compares it before
 * its first Publish and holds the dataset at once, with the same error
 * line as for the refusal, saying it is known from the status; no Publish
 * of it is sent (the gateway refused none; it learnt it from a refusal
 * before), nothing is published nor made a reject. `--once` leaves it and
 * exits 1, naming it. */
static void test_record_type_told_by_status(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(s_fed(&x) == 0);
    LT_IT_REQUIRE(s_insert_valid(x.db, 3) == 0);
    LT_IT_REQUIRE(s_wrong_type_conf(&x, x.go->sock_path) == 0);
    CU_ASSERT(s_source_run(&x, "once.out", "--install", "--once") == 1);
    CU_ASSERT(s_out_has(&x, "once.out", "dataset=" DS " is not published: " WRONG_TYPE,
                        "--once ends without it"));
    CU_ASSERT(s_out_has(&x, "once.out", "would refuse every Publish of it, as its status tells",
                        "Set record_type to 'lienthong.records.Population'"));
    /* --check reports it from the status too, naming the dataset and
     * both types (it passed, with the tables installed). */
    CU_ASSERT(s_source_run(&x, "check.out", "--check", NULL) == 1);
    CU_ASSERT(s_out_has(&x, "check.out", "error", "dataset " DS ": " WRONG_TYPE));
    CU_ASSERT(s_out_has(&x, "check.out", "fix: set record_type to 'lienthong.records.Population'",
                        x.conf));
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    CU_ASSERT(s_wait_log(&src, WRONG_TYPE, 1) == 0);
    /* Long enough for a Publish and its refusal, had one been sent. */
    usleep(1500 * 1000);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "ERROR", WRONG_TYPE) == 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "reading changes", NULL) == 0);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "WARN", "gateway refused a publish") == 0);
    CU_ASSERT(lt_it_proc_stop(&src, CLI_MS) == 0);
    if (CU_get_number_of_failures())
        lt_it_file_dump(src.log_path);
    CU_ASSERT(lt_it_file_count(x.go->log_path, 0, "refused publish", NULL) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 0);
    CU_ASSERT(s_reject_rows(x.db) == 0);
out:
    lt_it_fed_cleanup(&x.f);
}

/* `--once` with a Publish refused for what it holds: its changes are read
 * again after a back-off (fewer at a time), and are still waiting then,
 * so the run goes on until the row at fault is a reject and the others
 * are published (it ended at once, with nothing published, exit 0). */
static void test_once_reads_refused_again(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char reasons[2048] = "";
    long count = 0;
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_SPOIL, 0) == 0);
    LT_IT_REQUIRE(s_insert_marked(x.db) == 0);
    CU_ASSERT(s_source_once(&x, "once.out", 1) == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 2);
    CU_ASSERT(s_has(x.go, "038085012345") && s_has(x.go, "001303999999"));
    CU_ASSERT(s_reject_of(x.db, "038085012360", "mapping", reasons, sizeof reasons, &count) == 1);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

/* 0 once PX_DROP dropped a Publish and the source stored the five mapping
 * rejects (with its cursor, in one transaction), else -1 with the log
 * shown. */
static int s_wait_dropped(const fed_t *x, px_t *px, const lt_it_proc_t *src)
{
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&px->mu);
        int dropped = px->dropped;
        pthread_mutex_unlock(&px->mu);
        if (dropped > 0 && s_count(x->db, "SELECT count(*) FROM lt_rejects WHERE kind = "
                                          "'mapping'") == 5)
            return 0;
        usleep(50 * 1000);
    }
    lt_it_file_dump(src->log_path);
    return -1;
}

/* Ten changes (batch = 10): five mapping rejects (names not UTF-8), then
 * five rows of 950 kB, over the 4 MiB cap together. The batch of ten is
 * over the cap, halved to five: all mapping rejects, so nothing packed.
 * That flight kept the last change of the bigger attempt (10) as the last
 * one sent, and the cursor stored with its rejects passed the large rows,
 * whose Publish the proxy drops (never acknowledged); the shift was stored
 * as acknowledged too. A source killed then took the gateway, holding
 * nothing, for one restored from a backup at its next start and listed the
 * whole table again. The stored cursor must stay before change 6, and the
 * next start publish the large rows as they wait. */
static void test_halved_to_rejects_keeps_cursor(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    px_t px;
    memset(&px, 0, sizeof px);
    char path[PATH_MAX + 32], out[PATH_MAX + 32], key[32], reasons[2048] = "";
    long count = 0;
    LT_IT_REQUIRE(s_fed_px(&x, &px, PX_DROP, 0) == 0);
    snprintf(path, sizeof path, "%.4000s/px.sock", x.f.dir);
    LT_IT_REQUIRE(lt_it_write_fmt(x.conf, SOURCE_CONF "batch = 10;\n", path, x.db) == 0);
    /* Listed in key order at --install: the rejects are changes 1..5. */
    LT_IT_REQUIRE(lt_it_sql(x.db, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 9) INSERT INTO citizens SELECT "
                                  "printf('0380850126%02d', i), CASE WHEN i < 5 THEN "
                                  "CAST(X'4E677579EA6E' AS TEXT) ELSE " BIG_NAME " END, "
                                  "'1985-03-02', 'SEX_MALE', 'CITIZEN_ALIVE', NULL FROM n") == 0);
    lt_it_proc_t src;
    LT_IT_REQUIRE(s_source_start(&x, &src) == 0);
    CU_ASSERT(s_wait_dropped(&x, &px, &src) == 0);
    long cursor = s_count(x.db, "SELECT change_id FROM lt_source_cursor WHERE dataset = '" DS "'");
    if (cursor < 0 || cursor > 5) {
        fprintf(stderr, "\n  stored cursor %ld with changes 6..10 unacknowledged\n", cursor);
        lt_it_file_dump(src.log_path);
    }
    CU_ASSERT(cursor >= 0 && cursor <= 5);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "a Publish would exceed", NULL) >= 1);
    /* Killed as by kill -9 with the large rows unacknowledged. */
    lt_it_proc_kill(&src);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 0);

    s_px_mode(&px, PX_PASS);
    LT_IT_REQUIRE(s_source_once(&x, "src2.out", 0) == 0);
    snprintf(out, sizeof out, "%s/src2.out", x.f.dir);
    CU_ASSERT(lt_it_file_contains(out, "restored from a backup") == 0);
    CU_ASSERT(lt_it_file_contains(out, "listed again") == 0);
    CU_ASSERT(lt_ft_last_seq(x.go, DS) == 5);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "0380850126%02d", i);
        CU_ASSERT(s_has(x.go, key) == (i >= 5));
    }
    /* The rejects were read, and rejected, again. */
    CU_ASSERT(s_reject_of(x.db, "038085012600", "mapping", reasons, sizeof reasons, &count) == 1);
    CU_ASSERT(count == 2);
out:
    s_px_stop(&px);
    lt_it_fed_cleanup(&x.f);
}

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"1 invalid rows refused with their rules, in lt_rejects; fixed rows clear them",
         test_refused_rows},
        {"2 reference checks by verify: a card whose holder is not registered is reported",
         test_reference_checks},
        {"3 the demo's generated population and its changes pass every rule", test_popgen_passes},
        {"4 a row whose text is not UTF-8 is a mapping reject; the rest is published",
         test_text_not_utf8},
        {"5 a Publish refused for what it holds is read again; a row too large alone is a reject",
         test_refused_publish_read_again},
        {"6 a Publish over the owner's max_message is split, not refused for ever",
         test_publish_split_for_max_message},
        {"7 a source killed just after storing a raised epoch shift publishes only what waits",
         test_killed_after_raised_shift},
        {"8 a published change writes lt_rejects only when a reject is added, cleared or changed",
         test_rejects_written_only_when_changed},
        {"9 a change the gateway refuses as malformed even alone is a reject; the rest goes on",
         test_malformed_alone_is_reject},
        {"10 a gateway that is unwell (ERR_UNAVAILABLE) is retried, its changes never rejects",
         test_unwell_gateway_retried},
        {"11 a source killed after queueing a failed Publish again publishes only what waits",
         test_killed_after_requeue},
        {"12 a dataset whose every row the gateway refuses as malformed is held, not rejected",
         test_every_row_refused_holds},
        {"13 a source whose record_type is not the directory's refuses to start, naming both",
         test_record_type_not_the_directorys},
        {"14 without directory_file, a Publish of another record type refused holds the dataset",
         test_record_type_refused_by_gateway},
        {"15 narrowing to find a malformed change keeps the limit when a batch is over the cap",
         test_narrowing_keeps_the_limit},
        {"16 --once goes on while a Publish refused for what it holds is read again",
         test_once_reads_refused_again},
        {"17 a batch over the cap halved to mapping rejects only stores no cursor past the rest",
         test_halved_to_rejects_keeps_cursor},
        {"18 the status gives another record type: the dataset is held before any Publish",
         test_record_type_told_by_status},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"rules", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}
