/* unit_rejects.h: what the CUnit suites of both database backends share
 * (test_db on SQLite, test_db_pg on PostgreSQL): the lt_rejects cycle
 * (PROTOCOL.md 5.7) run through the adapters' seam, each reading the table
 * back with its own raw connection, the source's cursor rows listed and
 * forgotten, --forget of a table's last dataset (its change capture
 * removed), and a fill of an unsigned 64-bit column. */
#ifndef LT_UNIT_REJECTS_H
#define LT_UNIT_REJECTS_H

#include "unit_util.h"

#include "lt_db.h"
#include "lt_source.h"

#include <inttypes.h>

/* lt_db_fill_fn: the key, and an unsigned 64-bit value (w->arg) bound as
 * the row mapping binds one: an integer up to INT64_MAX, decimal text
 * above it. */
static inline int ut_fill_u64(void *ctx, const lt_db_write_t *w, lt_db_params_t *p, char *err,
                              size_t errlen)
{
    const uint64_t *v = w->arg;
    char text[24];
    (void)ctx;
    snprintf(text, sizeof text, "%" PRIu64, *v);
    int rc = lt_db_param_text(p, 0, w->key) ||
             (*v <= INT64_MAX ? lt_db_param_int(p, 1, (int64_t)*v) : lt_db_param_text(p, 1, text));
    if (rc)
        snprintf(err, errlen, "%s", lt_db_params_error(p));
    return rc ? -1 : 0;
}

/* Clears the kinds in mask of r's row, committed: the number cleared, or
 * -1. */
static inline int ut_reject_clear(lt_db_t *d, const lt_db_reject_t *r, const char *key,
                                  unsigned mask)
{
    char err[1024] = "";
    int cleared = -1;
    if (lt_db_begin(d, 1, err, sizeof err) != 0)
        return -1;
    if (lt_db_reject_clear(d, r->dataset, key, mask, &cleared, err, sizeof err) != 0 ||
        lt_db_commit(d, err, sizeof err) != 0) {
        fprintf(stderr, "\n  %s\n", err);
        lt_db_rollback(d);
        return -1;
    }
    return cleared;
}

/* A row holding all three kinds has those of a mask cleared in one call,
 * which tells how many went; another row and another dataset's row of the
 * same key keep theirs. r's row holds mapping and reference rejects. */
static inline void ut_rejects_clear(lt_db_t *d, lt_db_reject_t *r)
{
    char err[1024] = "";
    unsigned kinds = 0;
    lt_db_reject_t other = *r;
    other.dataset = "VN/GOV/BCA/other";
    r->kind = "rule";
    r->reasons = "full_name:required: empty";
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject(d, r, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject(d, &other, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(ut_reject_clear(d, r, "038085012345",
                              LT_DB_REJECT_MAPPING | LT_DB_REJECT_RULE | LT_DB_REJECT_REFERENCE) ==
              0);
    CU_ASSERT(ut_reject_clear(d, r, r->key, LT_DB_REJECT_MAPPING | LT_DB_REJECT_RULE) == 2);
    CU_ASSERT(lt_db_reject_kinds(d, r->dataset, r->key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == LT_DB_REJECT_REFERENCE);
    CU_ASSERT(ut_reject_clear(d, r, r->key, LT_DB_REJECT_MAPPING | LT_DB_REJECT_RULE) == 0);
    CU_ASSERT(ut_reject_clear(d, r, r->key, LT_DB_REJECT_REFERENCE) == 1);
    CU_ASSERT(lt_db_reject_kinds(d, r->dataset, r->key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == 0);
    CU_ASSERT(lt_db_reject_kinds(d, other.dataset, r->key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == LT_DB_REJECT_MAPPING);
    CU_ASSERT(ut_reject_clear(d, &other, r->key, LT_DB_REJECT_MAPPING) == 1);
}

/* A refused row is recorded, refused again counts 2 with the latest
 * reasons, kinds are kept apart, a published version removes it; all in
 * the caller's transaction. count(sql) is the one number the backend's
 * raw connection reads for sql. */
static inline void ut_rejects_cycle(lt_db_t *d, int64_t (*count)(const char *sql))
{
    char err[1024] = "";
    int64_t n = -1;
    lt_db_reject_t r = {.dataset = "VN/GOV/BCA/population",
                        .key = "099085012345",
                        .kind = "rule",
                        .reasons = "personal_id:citizen_id: province",
                        .cursor = "17",
                        .at = "2026-01-15T12:00:00Z"};
    CU_ASSERT(lt_db_reject_count(d, r.dataset, &n, err, sizeof err) == 0 && n == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    r.reasons = "full_name:required: empty";
    r.cursor = "18";
    r.at = "2026-01-15T12:00:05Z";
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    r.kind = "reference";
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject_count(d, r.dataset, &n, err, sizeof err) == 0 && n == 2);
    CU_ASSERT(lt_db_reject_count(d, "VN/GOV/BCA/other", &n, err, sizeof err) == 0 && n == 0);
    CU_ASSERT(count("SELECT count FROM lt_rejects WHERE kind = 'rule'") == 2);
    CU_ASSERT(count("SELECT count(*) FROM lt_rejects WHERE kind = 'rule' AND "
                    "reasons = 'full_name:required: empty' AND source_cursor = '18' AND "
                    "first_seen = '2026-01-15T12:00:00Z' AND "
                    "last_seen = '2026-01-15T12:00:05Z'") == 1);
    /* Rolled back: nothing removed. */
    int cleared = -1;
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject_clear(d, r.dataset, r.key, LT_DB_REJECT_RULE, &cleared, err,
                                 sizeof err) == 0 &&
              cleared == 1);
    lt_db_rollback(d);
    CU_ASSERT(lt_db_reject_count(d, r.dataset, &n, err, sizeof err) == 0 && n == 2);
    CU_ASSERT(ut_reject_clear(d, &r, r.key, LT_DB_REJECT_RULE) == 1);
    CU_ASSERT(lt_db_reject_count(d, r.dataset, &n, err, sizeof err) == 0 && n == 1);
    CU_ASSERT(count("SELECT count(*) FROM lt_rejects WHERE kind = 'reference'") == 1);
    /* The kinds a row holds, so that a published row without any writes
     * nothing. */
    unsigned kinds = 99;
    CU_ASSERT(lt_db_reject_kinds(d, r.dataset, r.key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == LT_DB_REJECT_REFERENCE);
    r.kind = "mapping";
    r.reasons = "column 'full_name': not valid UTF-8";
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject_kinds(d, r.dataset, r.key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == (LT_DB_REJECT_REFERENCE | LT_DB_REJECT_MAPPING));
    CU_ASSERT(lt_db_reject_kinds(d, r.dataset, "038085012345", &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == 0);
    CU_ASSERT(lt_db_reject_kinds(d, "VN/GOV/BCA/other", r.key, &kinds, err, sizeof err) == 0);
    CU_ASSERT(kinds == 0);
    ut_rejects_clear(d, &r);
}

/* The cursor rows of datasets named ut/cursor/... (other tests' rows are
 * skipped), as "dataset table id;" in listing order. */
static inline int ut_cursor_row(void *arg, const lt_db_cursor_row_t *r)
{
    char *out = arg;
    size_t n = strlen(out);
    if (strncmp(r->dataset, "ut/cursor/", 10) == 0)
        snprintf(out + n, 512 - n, "%s %s %" PRId64 ";", r->dataset + 10, r->table, r->change_id);
    return strcmp(r->dataset, "ut/cursor/stop") == 0 ? 42 : 0;
}

/* Two datasets of d's table, listed in dataset order with their tables and
 * cursors; forgetting one deletes its row and its rejects only; a listing
 * stops at its callback's nonzero return. */
static inline void ut_cursor_cycle(lt_db_t *d, const char *table, int64_t (*count)(const char *sql))
{
    char err[1024] = "", got[512] = "", want[512];
    int found = -1;
    lt_db_reject_t r = {.dataset = "ut/cursor/b",
                        .key = "k1",
                        .kind = "rule",
                        .reasons = "x",
                        .cursor = "5",
                        .at = "2026-01-15T12:00:00Z"};
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/cursor/b", 5, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/cursor/a", 7, err, sizeof err) == 0);
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    r.dataset = "ut/cursor/a";
    CU_ASSERT(lt_db_reject(d, &r, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_list(d, ut_cursor_row, got, err, sizeof err) == 0);
    snprintf(want, sizeof want, "a %s 7;b %s 5;", table, table);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_forget(d, "ut/cursor/b", &found, err, sizeof err) == 0 && found == 1);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    got[0] = 0;
    CU_ASSERT(lt_db_cursor_list(d, ut_cursor_row, got, err, sizeof err) == 0);
    snprintf(want, sizeof want, "a %s 7;", table);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(count("SELECT count(*) FROM lt_rejects WHERE dataset = 'ut/cursor/b'") == 0);
    CU_ASSERT(count("SELECT count(*) FROM lt_rejects WHERE dataset = 'ut/cursor/a'") == 1);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_forget(d, "ut/cursor/b", &found, err, sizeof err) == 0 && found == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/cursor/stop", 9, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    got[0] = 0;
    CU_ASSERT(lt_db_cursor_list(d, ut_cursor_row, got, err, sizeof err) == 42);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_forget(d, "ut/cursor/stop", &found, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_forget(d, "ut/cursor/a", &found, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
}

/* A source configuration's settings (after gateway_socket and database)
 * of one dataset, `dataset`, on `table` (columns id and name). */
#define UT_SOURCE_DATASET(dataset, table)                                                          \
    "dataset = \"" dataset "\";\nrecord_type = \"lienthong.records.Population\";\n"                \
    "table = \"" table "\";\nkey_column = \"id\";\nkey_field = \"personal_id\";\n"                 \
    "columns = { personal_id = \"id\"; full_name = \"name\"; };\n"

/* lt_source_forget of `dataset` through the configuration at `conf`; its
 * result, what it wrote in out. */
static inline int ut_forget(const char *conf, const char *dataset, char *out, size_t cap)
{
    char err[1024] = "";
    lt_source_t *src = lt_source_new(conf, err, sizeof err);
    if (!src)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(src != NULL);
    FILE *f = fmemopen(out, cap, "w");
    CU_ASSERT_FATAL(f != NULL);
    int rc = lt_source_forget(src, dataset, f, err, sizeof err);
    fclose(f);
    out[cap - 1] = 0;
    if (rc)
        fprintf(stderr, "%s\n", err);
    lt_source_destroy(&src);
    return rc;
}

/* d: a source of table citizens (id, name), capture installed. `other` is
 * a source configuration whose only dataset reads another table, `same`
 * one whose only dataset reads citizens, `denied` (NULL: none) `other` as
 * a role that did not install the capture; `write` runs the agency's SQL,
 * `listed` counts citizens' changes in the change list. --forget keeps
 * the capture while a cursor row or a configured dataset reads the table,
 * and removes it with the last: later writes list nothing. */
static inline void ut_forget_last(lt_db_t *d, const char *other, const char *same,
                                  const char *denied, void (*write)(const char *sql),
                                  int64_t (*listed)(void))
{
    char err[1024] = "", out[1024];
    int present = -1;
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/forget/a", 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/forget/b", 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    write("INSERT INTO citizens (id, name) VALUES ('f1', 'An')");
    CU_ASSERT(listed() >= 1);
    /* Another cursor row of the table keeps the capture. */
    CU_ASSERT(ut_forget(other, "ut/forget/a", out, sizeof out) == 0);
    CU_ASSERT_STRING_EQUAL(out, "forgot dataset ut/forget/a\n");
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0 && present == 1);
    /* So does a dataset of the configuration on the table. */
    CU_ASSERT(ut_forget(same, "ut/forget/b", out, sizeof out) == 0);
    CU_ASSERT_STRING_EQUAL(out, "forgot dataset ut/forget/b\n");
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0 && present == 1);
    /* The last one goes with the table's capture and changes. */
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/forget/b", 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    if (denied) { /* a role that may not remove the capture changes nothing */
        lt_source_t *src = lt_source_new(denied, err, sizeof err);
        CU_ASSERT_FATAL(src != NULL);
        CU_ASSERT(lt_source_forget(src, "ut/forget/b", stderr, err, sizeof err) == -1);
        CU_ASSERT(strstr(err, "cannot remove the change capture of table citizens") != NULL);
        CU_ASSERT(strstr(err, "rights of the role that installed it") != NULL);
        lt_source_destroy(&src);
        int64_t cur = -1;
        CU_ASSERT(lt_db_cursor_load(d, "ut/forget/b", &cur, err, sizeof err) == 0 && cur == 0);
        CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0 && present == 1);
    }
    CU_ASSERT(ut_forget(other, "ut/forget/b", out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "no dataset reads table citizens any more") != NULL);
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0 && present == 0);
    CU_ASSERT(listed() == 0);
    write("INSERT INTO citizens (id, name) VALUES ('f2', 'Ba')");
    write("UPDATE citizens SET name = 'Chi' WHERE id = 'f1'");
    write("DELETE FROM citizens WHERE id = 'f2'");
    CU_ASSERT(listed() == 0);
}

#endif
