/* integration_owners: a federation with three owners and the public-service
 * portal's data store (issue 13 item 1).
 *
 * The Ministry of Public Security (population), Viet Nam Social Security
 * (health-insurance cards) and the Ministry of Health (vaccinations) each run
 * a gateway and a source adapter over their own SQLite database, filled by
 * lienthong-popgen from the same citizens. The portal (VN/GOV/DVCQG)
 * subscribes to one view of each owner and keeps each in its own table with
 * a sink adapter. After the initial load and again after rounds of changes
 * at every owner (deletions, rows leaving a view by its predicate, updates),
 * each of the portal's tables must equal, row by row, the view computed
 * straight from the owner's table, and each sink's cursor must be the
 * owner's last sequence number of the view. Each dataset declares the
 * validation rules of its register (PROTOCOL.md 5.7): a generated record
 * that failed one would be refused by its owner, missing from the portal's
 * table, and fail the comparison. */
#include "lt_feedtest.h"
#include "lt_itest.h"

#include <CUnit/CUnit.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FED         "VN"
#define ID_BCA      "VN/GOV/BCA"
#define ID_BHXH     "VN/GOV/BHXH"
#define ID_BYT      "VN/GOV/BYT"
#define ID_DVCQG    "VN/GOV/DVCQG"
#define DS_POP      "VN/GOV/BCA/population"
#define DS_CARDS    "VN/GOV/BHXH/insurance_cards"
#define DS_VACC     "VN/GOV/BYT/vaccinations"
#define CITIZENS    "3000"
#define CHANGES     "400"
#define READY_MS    30000
#define CONVERGE_MS 120000
#define GEN_MS      120000
#define STOP_MS     20000

/* One owner, its view for the portal and the portal's copy of it. */
typedef struct {
    const char *member, *dataset, *view, *type, *table;
    const char *source_cols; /* every field of the record type */
    const char *view_cols;   /* the view's fields, key first */
    const char *where;       /* the view's predicate as SQL over the owner's table */
    lt_it_gw_t *gw;
    char db[PATH_MAX]; /* the owner's database */
    lt_it_proc_t source, sink;
    char source_conf[PATH_MAX], sink_conf[PATH_MAX];
} owner_t;

#define POP_ALL                                                                                    \
    "personal_id full_name date_of_birth sex place_of_birth home_town ethnicity nationality "      \
    "permanent_province permanent_address current_province current_address id_card_number "        \
    "id_card_issued status date_of_death"
#define POP_VIEW "personal_id full_name date_of_birth sex permanent_address current_address status"
#define CARD_ALL                                                                                   \
    "personal_id card_number valid_from valid_to hospital_code hospital_name benefit_level status"
#define VACC_ALL                                                                                   \
    "personal_id vaccine doses first_dose_date last_dose_date facility facility_province"

static owner_t s_owners[3] = {
    {.member = ID_BCA,
     .dataset = DS_POP,
     .view = DS_POP ".portal",
     .type = "Population",
     .table = "citizens",
     .source_cols = POP_ALL,
     .view_cols = POP_VIEW,
     .where = "WHERE status = 1"},
    {.member = ID_BHXH,
     .dataset = DS_CARDS,
     .view = DS_CARDS ".portal",
     .type = "InsuranceCard",
     .table = "insurance_cards",
     .source_cols = CARD_ALL,
     .view_cols = CARD_ALL,
     .where = "WHERE status = 1"},
    {.member = ID_BYT,
     .dataset = DS_VACC,
     .view = DS_VACC ".portal",
     .type = "Vaccination",
     .table = "vaccinations",
     .source_cols = VACC_ALL,
     .view_cols = VACC_ALL,
     .where = ""},
};

/* The directory's datasets, views and policies: the portal may subscribe
 * to living citizens' identity, valid cards and every vaccination. */
static const char *s_directory =
    "datasets = (\n"
    "  { id = \"" DS_POP "\"; owner = \"" ID_BCA "\"; type = \"lienthong.records.Population\";\n"
    "    key = \"personal_id\";\n"
    "    rules = ( { field = \"personal_id\"; check = \"citizen_id\"; sex = \"sex\";\n"
    "                birth = \"date_of_birth\"; },\n"
    "      { field = \"date_of_birth\"; check = \"date\"; not_future = true; },\n"
    "      { field = \"date_of_death\"; check = \"date\"; not_future = true;\n"
    "        after = \"date_of_birth\"; } ); },\n"
    "  { id = \"" DS_CARDS "\"; owner = \"" ID_BHXH "\";\n"
    "    type = \"lienthong.records.InsuranceCard\"; key = \"personal_id\";\n"
    "    rules = ( { field = \"personal_id\"; check = \"citizen_id\"; },\n"
    "      { field = \"card_number\"; check = \"required\"; },\n"
    "      { field = \"valid_from\"; check = \"date\"; not_future = true; },\n"
    "      { field = \"valid_to\"; check = \"date\"; after = \"valid_from\"; },\n"
    "      { field = \"benefit_level\"; check = \"enum\";\n"
    "        values = [\"1\", \"2\", \"3\", \"4\", \"5\"]; } ); },\n"
    "  { id = \"" DS_VACC "\"; owner = \"" ID_BYT "\"; type = \"lienthong.records.Vaccination\";\n"
    "    key = \"personal_id\";\n"
    "    rules = ( { field = \"personal_id\"; check = \"citizen_id\"; },\n"
    "      { field = \"vaccine\"; check = \"enum\";\n"
    "        values = [\"COVID-19\", \"HepB\", \"Td\", \"HPV\", \"MR\"]; },\n"
    "      { field = \"doses\"; check = \"required\"; },\n"
    "      { field = \"first_dose_date\"; check = \"date\"; not_future = true; },\n"
    "      { field = \"last_dose_date\"; check = \"date\"; not_future = true;\n"
    "        after = \"first_dose_date\"; } ); } );\n"
    "views = (\n"
    "  { id = \"" DS_POP ".portal\"; dataset = \"" DS_POP "\";\n"
    "    fields = [\"personal_id\", \"full_name\", \"date_of_birth\", \"sex\",\n"
    "              \"permanent_address\", \"current_address\", \"status\"];\n"
    "    where = { status = \"CITIZEN_ALIVE\"; }; },\n"
    "  { id = \"" DS_CARDS ".portal\"; dataset = \"" DS_CARDS "\";\n"
    "    fields = [\"personal_id\", \"card_number\", \"valid_from\", \"valid_to\", "
    "\"hospital_code\",\n"
    "              \"hospital_name\", \"benefit_level\", \"status\"];\n"
    "    where = { status = \"CARD_VALID\"; }; },\n"
    "  { id = \"" DS_VACC ".portal\"; dataset = \"" DS_VACC "\";\n"
    "    fields = [\"personal_id\", \"vaccine\", \"doses\", \"first_dose_date\", "
    "\"last_dose_date\",\n"
    "              \"facility\", \"facility_province\"]; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_DVCQG "\"; target = \"" DS_POP ".portal\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_DVCQG "\"; target = \"" DS_CARDS
    ".portal\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_DVCQG "\"; target = \"" DS_VACC
    ".portal\"; allow = [\"subscribe\"]; } );\n";

static lt_it_fed_t s_fed;
static lt_it_gw_t *s_portal;
static char s_portal_db[PATH_MAX];

/* ---- databases ---------------------------------------------------------- */

static sqlite3 *s_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* One integer from sql (with ?1 = arg when given); dflt when no row or no
 * table yet. */
static int64_t s_int(const char *path, const char *sql, const char *arg, int64_t dflt)
{
    sqlite3 *db = s_open(path);
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        (!arg || sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK) &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* "a b c" -> "COALESCE(a, ''), COALESCE(b, ''), ..." */
static void s_select_list(const char *cols, char *out, size_t cap)
{
    char buf[512];
    size_t used = 0;
    snprintf(buf, sizeof buf, "%s", cols);
    out[0] = 0;
    for (char *save = NULL, *c = strtok_r(buf, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        int n = snprintf(out + used, cap - used, "%sCOALESCE(%s, '')", used ? ", " : "", c);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}

static size_t s_ncols(const char *cols)
{
    size_t n = 1;
    for (const char *p = cols; *p; p++)
        n += *p == ' ';
    return n;
}

static const char *s_col(sqlite3_stmt *st, int c)
{
    const unsigned char *t = sqlite3_column_text(st, c);
    return t ? (const char *)t : "";
}

/* The portal's table of owner o equals the owner's view row by row: same
 * keys in the same order, same text in every column. 0, or -1 with the
 * first difference in err; *rows the rows compared. */
static int s_compare(const owner_t *o, size_t *rows, char *err, size_t errlen)
{
    char list[1024], qa[1400], qb[1400];
    sqlite3 *da = s_open(o->db), *db = s_open(s_portal_db);
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = -1;
    *rows = 0;
    s_select_list(o->view_cols, list, sizeof list);
    snprintf(qa, sizeof qa, "SELECT %s FROM %s %s ORDER BY personal_id", list, o->table, o->where);
    snprintf(qb, sizeof qb, "SELECT %s FROM %s ORDER BY personal_id", list, o->table);
    if (!da || !db || sqlite3_prepare_v2(da, qa, -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, qb, -1, &b, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot query the tables", o->view);
        goto out;
    }
    int n = (int)s_ncols(o->view_cols);
    for (;;) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra != SQLITE_ROW || rb != SQLITE_ROW) {
            if (ra != rb)
                snprintf(err, errlen, "%s: the %s has more rows (from key %s)", o->view,
                         ra == SQLITE_ROW ? "owner's view" : "portal's table",
                         ra == SQLITE_ROW ? s_col(a, 0) : s_col(b, 0));
            rc = ra == rb && ra == SQLITE_DONE ? 0 : -1;
            break;
        }
        for (int c = 0; c < n; c++)
            if (strcmp(s_col(a, c), s_col(b, c)) != 0) {
                snprintf(err, errlen,
                         "%s row %zu (owner key %s, portal key %s) column %d: '%s' vs '%s'",
                         o->view, *rows, s_col(a, 0), s_col(b, 0), c, s_col(a, c), s_col(b, c));
                goto out;
            }
        (*rows)++;
    }
out:
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_close(da);
    sqlite3_close(db);
    return rc;
}

/* ---- processes ------------------------------------------------------------ */

/* "a b" -> "a = \"a\"; b = \"b\";" */
static void s_columns(const char *cols, char *out, size_t cap)
{
    char buf[512];
    size_t used = 0;
    snprintf(buf, sizeof buf, "%s", cols);
    out[0] = 0;
    for (char *save = NULL, *c = strtok_r(buf, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        int n = snprintf(out + used, cap - used, " %s = \"%s\";", c, c);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}

static int s_start_adapters(owner_t *o)
{
    char cols[1024];
    s_columns(o->source_cols, cols, sizeof cols);
    snprintf(o->source_conf, sizeof o->source_conf, "%.4000s/%s-source.conf", s_fed.dir, o->table);
    snprintf(o->source.log_path, sizeof o->source.log_path, "%.4000s/%s-source.log", s_fed.dir,
             o->table);
    if (lt_it_write_fmt(
            o->source_conf,
            "gateway_socket = \"%s\"; dataset = \"%s\";\n"
            "record_type = \"lienthong.records.%s\"; database = \"%s\";\n"
            "table = \"%s\"; key_column = \"personal_id\"; key_field = \"personal_id\";\n"
            "columns = {%s };\n",
            o->gw->sock_path, o->dataset, o->type, o->db, o->table, cols))
        return -1;
    s_columns(o->view_cols, cols, sizeof cols);
    snprintf(o->sink_conf, sizeof o->sink_conf, "%.4000s/%s-sink.conf", s_fed.dir, o->table);
    snprintf(o->sink.log_path, sizeof o->sink.log_path, "%.4000s/%s-sink.log", s_fed.dir, o->table);
    if (lt_it_write_fmt(o->sink_conf,
                        "gateway_socket = \"%s\"; stream = \"%s\";\n"
                        "record_type = \"lienthong.records.%s\"; database = \"%s\";\n"
                        "table = \"%s\"; key_column = \"personal_id\"; create_table = true;\n"
                        "columns = {%s };\n",
                        s_portal->sock_path, o->view, o->type, s_portal_db, o->table, cols))
        return -1;
    o->source.args[0] = "source", o->source.args[1] = "--config";
    o->source.args[2] = o->source_conf, o->source.args[3] = "--install";
    o->sink.args[0] = "sink", o->sink.args[1] = "--config", o->sink.args[2] = o->sink_conf;
    return lt_it_proc_start(&o->source) || lt_it_proc_start(&o->sink) ? -1 : 0;
}

/* Runs lienthong-popgen with args in the federation's directory. */
static int s_popgen(const char *const *args)
{
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%.4000s/popgen.log", s_fed.dir);
    int rc = lt_it_run_prog(lt_it_popgen_binary(), s_fed.dir, out, args, GEN_MS);
    if (rc != 0)
        lt_it_file_dump(out);
    return rc;
}

/* Every change in the owner's database acknowledged, and the portal's sink
 * at the owner's last seq of the view. */
static int s_settled(const owner_t *o)
{
    int64_t changes = s_int(o->db, "SELECT COALESCE(MAX(id), 0) FROM lt_changes", NULL, -1);
    int64_t acked =
        s_int(o->db, "SELECT COALESCE(MAX(change_id), 0) FROM lt_source_cursor", NULL, -2);
    uint64_t last = lt_ft_last_seq(o->gw, o->view);
    int64_t cursor =
        s_int(s_portal_db, "SELECT seq FROM lt_sink_cursor WHERE stream = ?1", o->view, -1);
    return changes >= 0 && changes <= acked && last > 0 && cursor == (int64_t)last;
}

static int s_wait_settled(void)
{
    int64_t deadline = lt_it_ms() + CONVERGE_MS;
    while (lt_it_ms() < deadline) {
        int all = 1;
        for (size_t i = 0; i < 3; i++)
            all &= s_settled(&s_owners[i]);
        if (all)
            return 0;
        usleep(200 * 1000);
    }
    return -1;
}

static void s_dump(void)
{
    for (size_t i = 0; i < 3; i++) {
        lt_it_log_dump(s_owners[i].gw);
        lt_it_file_dump(s_owners[i].source.log_path);
        lt_it_file_dump(s_owners[i].sink.log_path);
    }
    lt_it_log_dump(s_portal);
}

/* Each of the portal's tables equals its owner's view, and says so. */
static int s_check_all(const char *when)
{
    int bad = 0;
    for (size_t i = 0; i < 3; i++) {
        char err[1024] = "";
        size_t rows = 0;
        int rc = s_compare(&s_owners[i], &rows, err, sizeof err);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT(rows > 0);
        if (rc)
            fprintf(stderr, "\n%s: %s\n", when, err);
        else
            fprintf(stderr, "[%s: %s %zu rows equal] ", when, s_owners[i].view, rows);
        bad |= rc != 0 || rows == 0;
        /* No generated record broke a rule of its register. */
        int64_t rejects = s_int(s_owners[i].db, "SELECT COUNT(*) FROM lt_rejects", NULL, -1);
        CU_ASSERT_EQUAL(rejects, 0);
        bad |= rejects != 0;
    }
    return bad ? -1 : 0;
}

/* Keys that the portal held for owner o and that now are, in the owner's
 * table, gone (deleted) or outside the view's predicate (still there). */
static void s_left(const owner_t *o, const char *before, int64_t *deleted, int64_t *outside)
{
    char sql[1024];
    sqlite3 *db = s_open(s_portal_db);
    sqlite3_stmt *st = NULL;
    *deleted = *outside = -1;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT COUNT(*) FROM before.%s k WHERE k.personal_id NOT IN "
             "(SELECT personal_id FROM owner.%s)), "
             "(SELECT COUNT(*) FROM before.%s k WHERE k.personal_id IN "
             "(SELECT personal_id FROM owner.%s) AND k.personal_id NOT IN "
             "(SELECT personal_id FROM owner.%s %s))",
             o->table, o->table, o->table, o->table, o->table, o->where);
    char attach[2 * PATH_MAX + 128];
    snprintf(attach, sizeof attach, "ATTACH '%s' AS before; ATTACH '%s' AS owner;", before, o->db);
    if (db && sqlite3_exec(db, attach, NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *deleted = sqlite3_column_int64(st, 0);
        *outside = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- the test ------------------------------------------------------------- */

static int s_federation(void)
{
    if (lt_it_fed_init(&s_fed, FED))
        return -1;
    s_fed.extra_source = s_directory;
    lt_it_member_t *m[3], *portal;
    for (size_t i = 0; i < 3; i++)
        if (!(m[i] = lt_it_member_add(&s_fed, s_owners[i].member, 1)))
            return -1;
    if (!(portal = lt_it_member_add(&s_fed, ID_DVCQG, 1)))
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (!(s_owners[i].gw = lt_it_gw_new(&s_fed, m[i], 1, NULL, NULL)) ||
            lt_it_gw_run(s_owners[i].gw, READY_MS))
            return -1;
    static const char *const peers[] = {ID_BCA, ID_BHXH, ID_BYT, NULL};
    s_portal = lt_it_gw_new(&s_fed, portal, 1, peers,
                            "subscribe = ( { stream = \"" DS_POP ".portal\"; },\n"
                            "  { stream = \"" DS_CARDS ".portal\"; },\n"
                            "  { stream = \"" DS_VACC ".portal\"; } );");
    if (!s_portal || lt_it_gw_run(s_portal, READY_MS))
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (lt_it_gw_wait_peer(s_portal, s_owners[i].member, READY_MS))
            return -1;
    snprintf(s_portal_db, sizeof s_portal_db, "%.4000s/portal.db", s_fed.dir);
    snprintf(s_owners[0].db, sizeof s_owners[0].db, "%.4000s/bca.db", s_fed.dir);
    snprintf(s_owners[1].db, sizeof s_owners[1].db, "%.4000s/bhxh.db", s_fed.dir);
    snprintf(s_owners[2].db, sizeof s_owners[2].db, "%.4000s/byt.db", s_fed.dir);
    return 0;
}

static int s_load(void)
{
    const char *pop[] = {"--db", s_owners[0].db, "--citizens", CITIZENS, "--seed", "13", NULL};
    const char *cards[] = {
        "--db", s_owners[1].db, "--insurance-cards", "--population", s_owners[0].db, "--seed", "14",
        NULL};
    const char *vacc[] = {
        "--db", s_owners[2].db, "--vaccinations", "--population", s_owners[0].db, "--seed", "15",
        NULL};
    return s_popgen(pop) || s_popgen(cards) || s_popgen(vacc) ? -1 : 0;
}

/* Rounds of changes at every owner by ordinary SQL (popgen), and a few
 * citizens removed from the population register outright. */
static int s_change(void)
{
    const char *pop[] = {"--db", s_owners[0].db, "--changes", CHANGES, "--seed", "16", NULL};
    const char *cards[] = {"--db", s_owners[1].db, "--card-changes", CHANGES, "--seed", "17", NULL};
    const char *vacc[] = {"--db", s_owners[2].db, "--vaccination-changes", CHANGES, "--seed", "18",
                          NULL};
    if (s_popgen(pop) || s_popgen(cards) || s_popgen(vacc))
        return -1;
    return lt_it_sql(s_owners[0].db, "DELETE FROM citizens WHERE rowid IN "
                                     "(SELECT rowid FROM citizens WHERE status = 1 "
                                     "ORDER BY rowid LIMIT 7)");
}

static void test_portal_replicas_equal_owners_views(void)
{
    char before[PATH_MAX];
    int64_t deleted[3], outside[3];
    LT_IT_REQUIRE(s_federation() == 0);
    LT_IT_REQUIRE(s_load() == 0);
    for (size_t i = 0; i < 3; i++)
        LT_IT_REQUIRE(s_start_adapters(&s_owners[i]) == 0);
    CU_ASSERT(s_wait_settled() == 0);
    LT_IT_REQUIRE(s_check_all("initial load") == 0);

    /* A copy of the portal's tables, to tell afterwards which keys left. */
    snprintf(before, sizeof before, "%.4000s/before.db", s_fed.dir);
    char sql[PATH_MAX + 64];
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", before);
    LT_IT_REQUIRE(lt_it_sql(s_portal_db, sql) == 0);

    LT_IT_REQUIRE(s_change() == 0);
    CU_ASSERT(s_wait_settled() == 0);
    LT_IT_REQUIRE(s_check_all("after changes") == 0);

    /* The changes did what the test is about: at each owner some rows the
     * portal held were deleted, and (where the view has a predicate) some
     * left the view while still in the owner's table. */
    for (size_t i = 0; i < 3; i++) {
        s_left(&s_owners[i], before, &deleted[i], &outside[i]);
        fprintf(stderr, "[%s: %lld deleted, %lld left by predicate] ", s_owners[i].view,
                (long long)deleted[i], (long long)outside[i]);
        CU_ASSERT(deleted[i] > 0);
        CU_ASSERT(s_owners[i].where[0] ? outside[i] > 0 : outside[i] == 0);
    }
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(lt_it_proc_stop(&s_owners[i].sink, STOP_MS), 0);
        CU_ASSERT_EQUAL(lt_it_proc_stop(&s_owners[i].source, STOP_MS), 0);
    }
out:
    if (CU_get_number_of_failures() > 0)
        s_dump();
    for (size_t i = 0; i < 3; i++) {
        lt_it_proc_kill(&s_owners[i].sink);
        lt_it_proc_kill(&s_owners[i].source);
    }
    lt_it_fed_cleanup(&s_fed);
}

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"three owners: the portal's replicas equal the owners' views",
         test_portal_replicas_equal_owners_views},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"owners", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}
