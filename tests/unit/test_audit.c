/* test_audit: CUnit suite for lt_audit, the hash-chained audit log with
 * signed checkpoints: entries chain and verify; editing, deleting or
 * truncating entries, or a checkpoint signed by another key, is detected.
 * Export (lt_auditarc): old segments go to files that verify on their own
 * and join each other and the live log, which goes on from its anchor; a
 * file edited after export fails. The subject index (blocks of entries)
 * finds exactly what a scan finds, and a tampered one fails the check. */
#include "unit_pin.h"
#include "unit_sqlite.h"
#include "unit_stats.h"

#include "lt_audit.h"
#include "lt_auditarc.h"
#include "lt_arena.h"
#include "lt_clock.h"
#include "lt_file.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* AddressSanitizer (as lt_arena.h detects it) reserves address space of its
 * own and aborts where malloc would return NULL: the address-space test is
 * skipped under it. */
#define UT_SANITIZED LT_ARENA_EXACT

static char s_dir[256], s_path[300];

static lt_keys_t *s_fill(int n)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    char err[256], key[32];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "0380000000%02d", i % 7);
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup",
                                            .peer = "VN/GOV/BHXH",
                                            .target = "VN/GOV/BCA/population",
                                            .subject = key,
                                            .fields = "full_name",
                                            .purpose = "SOCIAL-INSURANCE",
                                            .case_ref = "HS-1",
                                            .detail = "ERR_NONE"});
        if (i % 10 == 9)
            CU_ASSERT(lt_audit_flush(a, 1) == 0);
    }
    lt_audit_destroy(&a); /* flushes the rest */
    CU_ASSERT_PTR_NULL(a);
    return k;
}

static int s_exec_at(const char *path, const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return rc ? 0 : -1;
}

static int s_exec(const char *sql)
{
    return s_exec_at(s_path, sql);
}

static void s_fresh(void)
{
    ut_rmrf(s_dir);
    CU_ASSERT_FATAL(ut_mkdtemp(s_dir, sizeof s_dir, "audit") == 0);
    snprintf(s_path, sizeof s_path, "%s/audit.db", s_dir);
}

static void test_chain_verifies(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 25);
    /* Reopening continues the chain. */
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a, &(lt_audit_entry_t){.event = "refused", .peer = "VN/COM/X", .detail = "no"});
    lt_audit_destroy(&a);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 26);
    lt_keys_destroy(&k);
}

static void test_edit_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("UPDATE audit SET purpose = 'MARKETING' WHERE seq = 7") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 7"));
    lt_keys_destroy(&k);
}

static void test_delete_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("DELETE FROM audit WHERE seq = 12") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    lt_keys_destroy(&k);
}

static void test_truncation_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("DELETE FROM audit WHERE seq > 22") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "removed"));
    lt_keys_destroy(&k);
}

/* Overwrites the type byte of the first leaf page of the checkpoints
 * table in the log at s_path, so that SQLite reports the page as corrupt
 * (SQLITE_CORRUPT) on reading the checkpoints it holds, and on no other
 * read: the newest checkpoint lies in another leaf. */
static void s_damage_first_checkpoints_leaf(void)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_path, &db) == SQLITE_OK);
    int64_t page = ut_sql_count(db, "SELECT pageno FROM dbstat WHERE name = 'checkpoints' AND "
                                    "path = '/000/' AND pagetype = 'leaf'");
    int64_t size = ut_sql_count(db, "PRAGMA page_size");
    CU_ASSERT_FATAL(ut_sql_count(db, "SELECT count(*) FROM dbstat WHERE name = 'checkpoints' AND "
                                     "pagetype = 'leaf'") > 1);
    sqlite3_close(db);
    FILE *f = fopen(s_path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(fseek(f, (long)((page - 1) * size), SEEK_SET) == 0);
    CU_ASSERT(fputc(0xff, f) == 0xff);
    CU_ASSERT(fclose(f) == 0);
}

/* A checkpoint SQLite cannot read is a failed check naming the error, not
 * an entry without a checkpoint (whose signature goes unchecked). */
static void test_unreadable_checkpoint_fails(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(1000); /* 100 checkpoints: more than one page */
    char err[512] = "";
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 1000);
    s_damage_first_checkpoints_leaf();
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read the checkpoint of entry 1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed"));
    CU_ASSERT_PTR_NULL(strstr(err, "chain broken"));
    /* The same check outside a transaction (an exported segment's,
     * lt_auditarc), where no failed COMMIT comes after to catch it. */
    const uint8_t *pks[1] = {lt_keys_signing_public(k)};
    lt_audit_report_t rep;
    sqlite3 *db = NULL;
    err[0] = '\0';
    CU_ASSERT_FATAL(sqlite3_open_v2(s_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CU_ASSERT(lt_audit_check_db(db, pks, 1, &rep, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read the checkpoint of entry 1: database disk "
                                       "image is malformed"));
    sqlite3_close(db);
    lt_keys_destroy(&k);
}

static void test_rewritten_chain_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    char err[256];
    /* Checkpoints only verify under the gateway's own key. */
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(other), err, sizeof err) == -1);
    lt_keys_destroy(&other);
    lt_keys_destroy(&k);
}

/* Adds n entries to the log at s_path and closes it (one commit). */
/* Makes the log at s_path one of version 1, written before logs named
 * keys: no keys_named row, no key in the anchor. */
static void s_old_format(void)
{
    CU_ASSERT_FATAL(s_exec("ALTER TABLE anchor DROP COLUMN signing_key; DROP TABLE keys_named;"
                           "PRAGMA user_version = 1") == 0);
}

static void s_more(lt_keys_t *k, int n)
{
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = 0; i < n; i++)
        lt_audit_add(a, &(lt_audit_entry_t){.event = "verify",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = "038000000001",
                                            .detail = "ERR_NONE"});
    lt_audit_destroy(&a);
}

static void test_export(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[320], f2[320];
    snprintf(f1, sizeof f1, "%s/seg1.db", s_dir);
    snprintf(f2, sizeof f2, "%s/seg2.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t r1, r2, live;
    /* Nothing is older than a day ago. */
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() - 86400000, pk, 1,
                                 &res, err, sizeof err) == 0);
    CU_ASSERT(res.entries == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 1 && res.last == 25 && res.entries == 25);
    /* The file stands alone; it is never overwritten. */
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &r1, err, sizeof err) == 0);
    CU_ASSERT(r1.anchor == 0 && r1.last == 25);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.entries == 0);
    /* The live log is empty but goes on from entry 25. */
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 25 && live.entries == 0);
    s_more(k, 4);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 25 && live.last == 29 && live.entries == 4);
    CU_ASSERT(lt_auditarc_joins(&r1, &live, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f2, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 26 && res.last == 29);
    CU_ASSERT(lt_auditarc_verify(f2, pk, 1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r2, &r1, err, sizeof err) == -1);
    char member[64];
    CU_ASSERT(lt_auditarc_member(f2, member, sizeof member, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(member, "VN/GOV/BCA");
    lt_keys_destroy(&k);
}

/* The entry times s_clock hands out, one a call (lt_audit_set_clock). */
typedef struct {
    const int64_t *at;
    int next;
} entry_clock_t;

static int64_t s_clock(void *arg)
{
    entry_clock_t *c = arg;
    return c->at[c->next];
}

/* Entries timed by a clock that ran behind: a later entry timed older than
 * the cut-off does not take the recent ones before it out of the live log
 * (docs/operations.md, "Clocks"); the export stops at the first entry not
 * older, and names the step back of entry times. The start's retention
 * warning looks at the entry the next export would take first. */
static void test_export_clock_behind(void)
{
    s_fresh();
    const int64_t day = 86400000, now = lt_clock_now_ms();
    const int64_t at[] = {now - 100 * day, now - 100 * day + 1000, now, now - 50 * day};
    entry_clock_t c = {at, 0};
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[512], f1[320], log[4096] = "", logf[320];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_set_clock(a, s_clock, &c);
    for (c.next = 0; c.next < 4; c.next++) {
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = "038000000001",
                                            .detail = "ERR_NONE"});
        CU_ASSERT(lt_audit_flush(a, 1) == 0); /* each entry signed */
    }
    c.next = 3;
    lt_audit_destroy(&a);
    snprintf(f1, sizeof f1, "%s/seg1.db", s_dir);
    snprintf(logf, sizeof logf, "%s/log.txt", s_dir);
    lt_auditarc_export_t res;
    int saved = ut_capture(logf);
    int rc =
        lt_auditarc_export(s_path, f1, "VN/GOV/BCA", now - 10 * day, pk, 1, &res, err, sizeof err);
    ut_captured(saved, logf, log, sizeof log);
    close(saved);
    CU_ASSERT(rc == 0);
    CU_ASSERT(res.first == 1 && res.last == 2 && res.entries == 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "entry 4 is timed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "before entry 3"));
    lt_audit_report_t live;
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 2 && live.last == 4 && live.entries == 2);
    /* Nor does the start warn of entry 4, which no export takes yet. */
    a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    saved = ut_capture(logf);
    lt_audit_retention_check(a, 10);
    ut_captured(saved, logf, log, sizeof log);
    close(saved);
    CU_ASSERT_PTR_NULL(strstr(log, "beyond audit_retention_days"));
    lt_audit_destroy(&a);
    lt_keys_destroy(&k);
}

/* The first entry timed by a clock that ran ahead (a year), then put right:
 * its time is known wrong, so it neither holds the 100-day-old entries
 * after it in the live log until that year has passed, nor hides them from
 * the start's retention warning (docs/operations.md, "Clocks"). */
static void test_export_clock_ahead(void)
{
    s_fresh();
    const int64_t day = 86400000, now = lt_clock_now_ms();
    const int64_t at[] = {now + 365 * day, now - 100 * day, now - 100 * day + 3000, now};
    entry_clock_t c = {at, 0};
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[512], f1[320], log[4096] = "", logf[320];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_set_clock(a, s_clock, &c);
    for (c.next = 0; c.next < 4; c.next++) {
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = "038000000001",
                                            .detail = "ERR_NONE"});
        CU_ASSERT(lt_audit_flush(a, 1) == 0); /* each entry signed */
    }
    c.next = 3;
    /* Before the export, the start warns of the 100-day-old entries behind
     * the one timed ahead. */
    snprintf(logf, sizeof logf, "%s/log.txt", s_dir);
    int saved = ut_capture(logf);
    lt_audit_retention_check(a, 10);
    ut_captured(saved, logf, log, sizeof log);
    close(saved);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "beyond audit_retention_days"));
    lt_audit_destroy(&a);
    snprintf(f1, sizeof f1, "%s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", now - 10 * day, pk, 1, &res, err,
                                 sizeof err) == 0);
    CU_ASSERT(res.first == 1 && res.last == 3 && res.entries == 3);
    lt_audit_report_t live;
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 3 && live.last == 4 && live.entries == 1);
    lt_keys_destroy(&k);
}

static void test_export_tampered(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    char err[256], f1[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t r;
    const uint8_t *mine[1] = {lt_keys_signing_public(k)},
                  *theirs[1] = {lt_keys_signing_public(other)};
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, mine, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_verify(f1, theirs, 1, &r, err, sizeof err) == -1);
    snprintf(s_path, sizeof s_path, "%s", f1); /* s_exec edits the file */
    CU_ASSERT(s_exec("UPDATE audit SET subject = '999' WHERE seq = 3") == 0);
    CU_ASSERT(lt_auditarc_verify(f1, mine, 1, &r, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 3"));
    lt_keys_destroy(&other);
    lt_keys_destroy(&k);
}

/* The seqs of subject's entries that lt_auditarc_by_subject reads through
 * arc, into seqs (at most cap); their count, or -1. */
static int s_arc_seqs(lt_auditarc_t *arc, const char *subject, int64_t *seqs, int cap)
{
    sqlite3_stmt *st = NULL;
    int n = 0, step;
    if (lt_auditarc_by_subject(arc, subject, &st) != 0)
        return -1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < cap)
        seqs[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? n : -1;
}

/* An exported file is searched through the connection, and in the read
 * transaction, its check used: a file put in its place after the check
 * (here the same segment with entry 3 moved to another subject) is not
 * what the search reads; opened anew, it fails the check and gives no
 * handle to search. */
static void test_export_searched_as_checked(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25); /* subject ...01: entries 2, 9, 16, 23 */
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[sizeof s_path], forged[sizeof s_path], sql[sizeof s_path + 32];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    snprintf(forged, sizeof forged, "%.250s/forged.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t r;
    CU_ASSERT_FATAL(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1,
                                       &res, err, sizeof err) == 0);
    snprintf(s_path, sizeof s_path, "%s", f1); /* s_exec reads and edits the file */
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", forged);
    CU_ASSERT_FATAL(s_exec(sql) == 0);
    snprintf(s_path, sizeof s_path, "%s", forged);
    CU_ASSERT_FATAL(s_exec("UPDATE audit SET subject = '038000000001' WHERE seq = 3") == 0);
    lt_auditarc_t *arc = lt_auditarc_open(f1, pk, 1, &r, err, sizeof err);
    CU_ASSERT_FATAL(arc != NULL);
    CU_ASSERT(r.anchor == 0 && r.last == 25);
    CU_ASSERT_FATAL(rename(forged, f1) == 0);
    int64_t seqs[16];
    CU_ASSERT(s_arc_seqs(arc, "038000000001", seqs, 16) == 4);
    CU_ASSERT(seqs[0] == 2 && seqs[1] == 9 && seqs[2] == 16 && seqs[3] == 23);
    CU_ASSERT(s_arc_seqs(arc, "038000000002", seqs, 16) == 4 && seqs[0] == 3);
    lt_auditarc_destroy(&arc);
    lt_auditarc_destroy(&arc);
    CU_ASSERT_PTR_NULL(lt_auditarc_open(f1, pk, 1, &r, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 3"));
    lt_keys_destroy(&k);
}

/* An exported file whose segment row was replaced: a NULL member (a row
 * no export writes) is reported as damaged, and a segment that is a view
 * calling a function that is not harmless anywhere (here the R*Tree's
 * node decoder, which parses a blob the file supplies) is refused, not
 * run. */
static void test_export_crafted_segment(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(5);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[512], f1[sizeof s_path], member[64];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t r;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    snprintf(s_path, sizeof s_path, "%s", f1); /* s_exec edits the file */
    CU_ASSERT(s_exec("DROP TABLE segment; CREATE TABLE segment (member TEXT, first_seq INTEGER,"
                     " last_seq INTEGER, exported_at_ms INTEGER);"
                     "INSERT INTO segment VALUES (NULL, 1, 5, 0)") == 0);
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &r, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the segment row is damaged"));
    CU_ASSERT(lt_auditarc_member(f1, member, sizeof member, err, sizeof err) == -1);
    CU_ASSERT(s_exec("DROP TABLE segment; CREATE VIEW segment AS SELECT"
                     " hex(rtreenode(2, x'00')) AS member, 1 AS first_seq, 5 AS last_seq") == 0);
    CU_ASSERT(lt_auditarc_member(f1, member, sizeof member, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unsafe use of rtreenode"));
    lt_keys_destroy(&k);
}

/* One integer from sql (which must yield a row) on the log at s_path. */
static int64_t s_int(const char *sql)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_path, &db) == SQLITE_OK);
    int64_t v = ut_sql_count(db, sql);
    sqlite3_close(db);
    return v;
}

/* Rows of the live log at or below the anchor (exported, not yet removed). */
#define ANCHORED "SELECT count(*) FROM audit WHERE seq <= (SELECT seq FROM anchor)"

/* An export whose removal is cut short after it anchored (here a trigger
 * fails the deletes, as a full disk would) is finished by the next export,
 * which then goes on as usual. */
static void test_export_removal_finished(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[sizeof s_path], f2[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    snprintf(f2, sizeof f2, "%.250s/seg2.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t live;
    CU_ASSERT(s_exec("CREATE TRIGGER stop BEFORE DELETE ON audit WHEN old.seq > 10 "
                     "BEGIN SELECT RAISE(ABORT, 'no room'); END") == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the next export finishes it"));
    CU_ASSERT(s_int(ANCHORED) == 25);
    CU_ASSERT(s_exec("DROP TRIGGER stop") == 0);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 25);
    s_more(k, 4);
    CU_ASSERT(lt_auditarc_export(s_path, f2, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 26 && res.last == 29 && res.entries == 4);
    CU_ASSERT(s_int(ANCHORED) == 0);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 29 && live.entries == 0);
    lt_keys_destroy(&k);
}

/* An export whose anchor cannot be recorded (here a trigger fails the
 * insert, as a full disk or a lock held too long would) removes nothing
 * and deletes its file: kept, it would overlap the next export's, which
 * writes the same entries again, and the two would not join. */
static void test_export_anchor_failed(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[512], f1[sizeof s_path], f2[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    snprintf(f2, sizeof f2, "%.250s/seg2.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t r1, r2, live;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &r1, err, sizeof err) == 0);
    s_more(k, 4);
    CU_ASSERT(s_exec("CREATE TRIGGER stop BEFORE INSERT ON anchor "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END") == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f2, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "anchoring: database or disk is full"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nothing was removed from the live log"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "was deleted"));
    CU_ASSERT(access(f2, F_OK) != 0);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 25 && live.last == 29);
    /* Once the anchor can be written, the same entries export and join. */
    CU_ASSERT(s_exec("DROP TRIGGER stop") == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f2, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 26 && res.last == 29);
    CU_ASSERT(lt_auditarc_verify(f2, pk, 1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &r2, err, sizeof err) == 0);
    lt_keys_destroy(&k);
}

#ifdef LT_TEST_HOOKS
/* What the race hook of an export does: the exports it runs. */
typedef struct {
    lt_keys_t *k;
    const uint8_t *const *pk;
    char out[sizeof s_path];
    int runs, rc;
    char err[1024];
} race_t;

/* A second export of the same log, run while the first is between writing
 * its file and moving the anchor. */
static void s_race_export(void *arg)
{
    race_t *r = arg;
    lt_auditarc_export_t res;
    r->runs++;
    r->rc = lt_auditarc_export(s_path, r->out, "VN/GOV/BCA", lt_clock_now_ms() + 1000, r->pk, 1,
                               &res, r->err, sizeof r->err);
}

/* Two exports at once: the second is refused by the first's lock, naming
 * it, and writes nothing; the first goes on. Without the lock the second
 * would export the same entries and both would anchor. */
static void test_export_locked(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[1024], f1[sizeof s_path], lock[sizeof s_path + 32];
    race_t r = {.k = k, .pk = pk};
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    snprintf(r.out, sizeof r.out, "%.250s/seg2.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t live;
    lt_auditarc_set_race_hook(s_race_export, &r);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    lt_auditarc_set_race_hook(NULL, NULL);
    CU_ASSERT(r.runs == 1 && r.rc == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "another audit export of"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "exporting to"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, f1));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, LT_AUDITARC_LOCK_NAME));
    CU_ASSERT(access(r.out, F_OK) != 0);
    CU_ASSERT(res.first == 1 && res.last == 25 && res.entries == 25);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 25 && live.entries == 0);
    /* A lock held by anything else refuses an export too, before it reads
     * the log; once released, the export runs. */
    s_more(k, 4);
    snprintf(lock, sizeof lock, "%s/" LT_AUDITARC_LOCK_NAME, s_dir);
    int fd = lt_file_lock(lock);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(lt_auditarc_export(s_path, r.out, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nothing was exported"));
    CU_ASSERT_PTR_NULL(strstr(err, "exporting to")); /* the first's record went with its lock */
    CU_ASSERT(access(r.out, F_OK) != 0);
    close(fd);
    CU_ASSERT(lt_auditarc_export(s_path, r.out, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 26 && res.last == 29);
    lt_keys_destroy(&k);
}

/* What an export that took no lock (an older version) does while this one
 * runs: entries 21..30 come, then it anchors at 30, removing 1..30. */
static void s_race_anchor(void *arg)
{
    race_t *r = arg;
    char hex[LT_KEY_BYTES * 2 + 1], sql[1024];
    r->runs++;
    s_more(r->k, 10);
    sodium_bin2hex(hex, sizeof hex, lt_keys_signing_public(r->k), LT_KEY_BYTES);
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO anchor (id, seq, hash, exported_to, at_ms, signing_key) "
             "SELECT 1, seq, hash, 'other.db', 0, X'%s' FROM audit WHERE seq = 30;"
             "DELETE FROM audit WHERE seq <= 30; DELETE FROM checkpoints WHERE seq < 30;",
             hex);
    r->rc = s_exec(sql);
}

/* The anchor moves between the choice of an export's entries (1..20) and
 * their removal: the export fails, deletes its file and leaves the anchor
 * where the other put it. Moving it back to 20 would break the live log's
 * chain, entries 21..30 gone. */
static void test_export_anchor_moved(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(20);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[1024], f1[sizeof s_path];
    race_t r = {.k = k, .pk = pk};
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    lt_audit_report_t live;
    lt_auditarc_set_race_hook(s_race_anchor, &r);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    lt_auditarc_set_race_hook(NULL, NULL);
    CU_ASSERT(r.runs == 1 && r.rc == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "another export ran meanwhile"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 30, exported to other.db, no longer none"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entries 1..20"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "was deleted"));
    CU_ASSERT(access(f1, F_OK) != 0);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 30 && live.entries == 0);
    lt_keys_destroy(&k);
}
#endif

#define UT_NOBODY 65534 /* who runs an export that root's rights must not help */

/* An export to f1 that must fail at the sync of f1's directory, removing
 * nothing: 0 when it did. Root reads any directory, so as root it runs in
 * a child as UT_NOBODY, which owns s_dir and what is in it. */
static int s_export_unsynced(const uint8_t *const *pk, const char *f1)
{
    char err[1024], path[sizeof s_path + 16];
    lt_auditarc_export_t res;
    if (geteuid() != 0)
        return lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                  err, sizeof err) == -1 &&
                       strstr(err, "cannot sync the directory of") && access(f1, F_OK) != 0
                   ? 0
                   : -1;
    static const char *const own[] = {"", "/audit.db", "/audit.db-wal", "/audit.db-shm", "/out"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        snprintf(path, sizeof path, "%s%s", s_dir, own[i]);
        if (chown(path, UT_NOBODY, UT_NOBODY) != 0 && errno != ENOENT)
            return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        _exit(setgid(UT_NOBODY) == 0 && setuid(UT_NOBODY) == 0 && s_export_unsynced(pk, f1) == 0
                  ? 0
                  : 1);
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                   WEXITSTATUS(status) == 0
               ? 0
               : -1;
}

/* The file's directory is synced before any entry leaves the live log:
 * SQLite skips the directory's sync when it cannot open it (here a
 * directory that may be written and entered, not read), so the export
 * fails and removes nothing rather than trust that it was. */
static void test_export_dir_synced(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[1024], dir[sizeof s_path], f1[sizeof s_path + 16];
    snprintf(dir, sizeof dir, "%.250s/out", s_dir);
    snprintf(f1, sizeof f1, "%s/seg1.db", dir);
    CU_ASSERT_FATAL(mkdir(dir, 0300) == 0);
    lt_auditarc_export_t res;
    lt_audit_report_t live;
    CU_ASSERT(s_export_unsynced(pk, f1) == 0);
    CU_ASSERT(lt_audit_check(s_path, pk[0], &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 0 && live.last == 25 && live.entries == 25);
    CU_ASSERT(chmod(dir, 0700) == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.first == 1 && res.last == 25);
    lt_keys_destroy(&k);
}

/* lienthong_audit_last_seq is the last committed seq from the log itself,
 * after a reopen (a restart) and an export that emptied the live log, where
 * the entry counter starts again at 0: the gauge the docs tell operators to
 * compare the last entry with. */
static void test_last_seq_gauge(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    lt_stats_t *stats = lt_stats_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT(lt_audit_set_stats(a, stats) == 0);
    CU_ASSERT(ut_stat(stats, "lienthong_audit_last_seq").gauge == 25);
    CU_ASSERT(ut_stat(stats, "lienthong_audit_entries").counter == 0);
    for (int i = 0; i < 3; i++)
        lt_audit_add(a, &(lt_audit_entry_t){.event = "verify",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = "038000000001",
                                            .detail = "ERR_NONE"});
    CU_ASSERT(lt_audit_commit(a) == 0);
    CU_ASSERT(ut_stat(stats, "lienthong_audit_last_seq").gauge == 28);
    CU_ASSERT(ut_stat(stats, "lienthong_audit_entries").counter == 3);
    lt_audit_destroy(&a);
    lt_stats_destroy(&stats);
    lt_keys_destroy(&k);
}

/* The log syncs each commit (synchronous = FULL): with anything less an
 * answer already released could lose its entry to a power loss
 * (docs/ARCHITECTURE.md, "Audit log"). Checked on a log just created and
 * on one reopened. */
static void test_opened_synced(void)
{
    s_fresh();
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    char err[256];
    for (int i = 0; i < 2; i++) {
        lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_EQUAL(lt_audit_synced(a), 1);
        lt_audit_add(a, &(lt_audit_entry_t){.event = "verify",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = "038000000001",
                                            .detail = "ERR_NONE"});
        CU_ASSERT(lt_audit_commit(a) == 0);
        CU_ASSERT_EQUAL(lt_audit_synced(a), 1);
        lt_audit_destroy(&a);
    }
    lt_keys_destroy(&k);
}

/* Keys changed without a keys-switched entry that names them (as before
 * entries named keys): a log that names keys refuses the first checkpoint
 * of the other key, naming it and the key in force. Written before logs
 * named keys (version 1), it holds checkpoints of both keys: it verifies
 * under the two, not under either alone, nor with a stranger's key, and
 * says which checkpoints no key was bound to. */
static void test_rotated_keys(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25), *next = lt_keys_new(LT_KEYS_MEMBER);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(next && other);
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, next, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a, &(lt_audit_entry_t){.event = "keys-switched", .peer = "VN/GOV/BCA"});
    lt_audit_destroy(&a);
    const uint8_t *both[2] = {lt_keys_signing_public(next), lt_keys_signing_public(k)};
    const uint8_t *wrong[2] = {lt_keys_signing_public(next), lt_keys_signing_public(other)};
    char z[LT_Z85_KEY_LEN + 1];
    lt_audit_report_t r;
    CU_ASSERT(lt_audit_verify_keys(s_path, both, 2, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 26"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "since entry 10")); /* the first checkpoint's key */
    lt_keys_z85_encode(lt_keys_signing_public(next), z);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, z));
    s_old_format();
    CU_ASSERT(lt_audit_check_keys(s_path, both, 2, &r, err, sizeof err) == 0);
    CU_ASSERT(r.entries == 26 && r.loose_first == 10 && r.loose_last == 26 && !r.key_bound);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(next), err, sizeof err) == -1);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT(lt_audit_verify_keys(s_path, wrong, 2, err, sizeof err) == -1);
    lt_keys_destroy(&other);
    lt_keys_destroy(&next);
    lt_keys_destroy(&k);
}

/* Writes `lookups` lookups to the log at s_path under `keys`, numbered from
 * first, skipping entry `skip` (0: none), each commit a checkpoint. */
static void s_lookups(lt_keys_t *keys, int first, int lookups, int skip)
{
    char err[256], subject[32];
    lt_audit_t *a = lt_audit_open(s_path, keys, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = first; i < first + lookups; i++) {
        if (i == skip)
            continue;
        snprintf(subject, sizeof subject, "03800000%04d", i);
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup",
                                            .peer = "VN/GOV/BHXH",
                                            .subject = subject,
                                            .detail = "ERR_NONE"});
        CU_ASSERT(lt_audit_commit(a) == 0);
    }
    lt_audit_destroy(&a);
}

/* Switches the log at s_path from the keys in `inuse` to those of `next`,
 * as the gateway does (lt_audit_switch_keys, then the keys change in
 * place); when `really` is 0 the switch is recorded but the keys stay. */
static void s_switch(lt_keys_t *inuse, lt_keys_t *next, int really)
{
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, inuse, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT(lt_audit_switch_keys(a, "VN/GOV/BCA", next, "test") == 0);
    lt_audit_destroy(&a);
    if (really)
        CU_ASSERT_FATAL(lt_keys_swap(inuse, next) == 0);
}

/* Two new member keys, A and B, and their public signing keys. */
static void s_two_keys(lt_keys_t **a, lt_keys_t **b, uint8_t pa[LT_KEY_BYTES],
                       uint8_t pb[LT_KEY_BYTES])
{
    *a = lt_keys_new(LT_KEYS_MEMBER);
    *b = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(*a && *b);
    memcpy(pa, lt_keys_signing_public(*a), LT_KEY_BYTES);
    memcpy(pb, lt_keys_signing_public(*b), LT_KEY_BYTES);
}

/* A fresh log: 3 lookups under first, a switch to next recorded under
 * by (the keys do not change), 3 lookups under then. */
static void s_forged(lt_keys_t *first, lt_keys_t *by, lt_keys_t *next, lt_keys_t *then)
{
    s_fresh();
    s_lookups(first, 1, 3, 0);
    s_switch(by, next, 0);
    s_lookups(then, 5, 3, 0);
}

/* The live check with keys[0..n) and the current key: entries, or -1. */
static long s_live(const uint8_t *const *keys, size_t n, const uint8_t *current)
{
    lt_audit_report_t rep;
    char err[256];
    return lt_audit_check_live(s_path, keys, n, current, &rep, err, sizeof err) == 0 ? rep.entries
                                                                                     : -1;
}

/* F2 of the review: any key the member ever held could re-sign the whole
 * log, entries after its retirement included. Entries 1-3 under A, the
 * switch to B, 4-6 under B; a log forged with A alone, entry 5 dropped,
 * fails under the member's keys once B is current, and so does one that
 * keeps the switch to B but signs what follows with A. */
static void test_forged_after_rotation(void)
{
    lt_keys_t *inuse, *spare;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&inuse, &spare, pa, pb);
    const uint8_t *keys[2] = {pb, pa};

    /* The genuine log; the switch leaves A's keys in spare. */
    s_fresh();
    s_lookups(inuse, 1, 3, 0);
    s_switch(inuse, spare, 1);
    s_lookups(inuse, 5, 3, 0);
    lt_keys_t *a = spare, *b = inuse;
    CU_ASSERT_FATAL(memcmp(lt_keys_signing_public(a), pa, LT_KEY_BYTES) == 0);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), 7);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, NULL, 0), 7);
    CU_ASSERT_EQUAL(s_live(keys, 2, pa), -1); /* the newest checkpoint is B's */

    /* Forged with A alone, entry 5 dropped. */
    s_fresh();
    s_lookups(a, 1, 7, 5);
    CU_ASSERT_EQUAL(lt_audit_verify(s_path, pa, NULL, 0), 6); /* A's log, as such */
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);

    /* Forged with A, keeping the switch to B; a switch signed by B, not
     * by the key in force (A). */
    s_forged(a, a, b, a);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    s_forged(a, b, b, b);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, NULL, 0), -1);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&spare);
}

/* lt_audit_in_force of pk in the log at s_path, opened with keys. */
static int s_in_force(lt_keys_t *keys, const uint8_t *pk)
{
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, keys, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    int rc = lt_audit_in_force(a, pk);
    lt_audit_destroy(&a);
    return rc;
}

/* Item 2 of the third review: "no checkpoint" and "cannot read" were both
 * -1, and a gateway took a damaged last checkpoint for an empty log and
 * removed the switch file. A log without checkpoints is -1; a malformed
 * last checkpoint, or a switch that names no key, is LT_AUDIT_UNREADABLE. */
static void test_in_force_unreadable(void)
{
    lt_keys_t *k, *next;
    uint8_t pk[LT_KEY_BYTES], pn[LT_KEY_BYTES];
    s_two_keys(&k, &next, pk, pn);
    s_fresh();
    CU_ASSERT_EQUAL(s_in_force(k, pk), -1);
    s_lookups(k, 1, 2, 0);
    CU_ASSERT_EQUAL(s_in_force(k, pk), 1);
    CU_ASSERT_EQUAL(s_in_force(k, pn), 0);
    CU_ASSERT(s_exec("UPDATE checkpoints SET hash = x'00' WHERE seq = (SELECT MAX(seq) FROM "
                     "checkpoints)") == 0);
    CU_ASSERT_EQUAL(s_in_force(k, pk), LT_AUDIT_UNREADABLE);
    s_fresh();
    s_lookups(k, 1, 2, 0);
    s_switch(k, next, 0);
    CU_ASSERT_EQUAL(s_in_force(k, pn), 1);
    CU_ASSERT(s_exec("UPDATE audit SET target = 'not a key' WHERE event = 'keys-switched'") == 0);
    CU_ASSERT_EQUAL(s_in_force(k, pn), LT_AUDIT_UNREADABLE);
    lt_keys_destroy(&k);
    lt_keys_destroy(&next);
}

/* Item 4 of the third review: with the buffer one entry short of its
 * flush (FLUSH_ENTRIES in gateway/lt_audit.c: 10000), adding the switch
 * flushed it before the countersignature was set: the switch was committed
 * under the previous key alone, and when the countersigned commit then
 * failed (here: a trigger refuses it) the log kept a switch no next key
 * countersigned. The buffered entries are committed first now; the switch
 * commits alone, countersigned, or not at all. */
static void s_full_then_switch(lt_keys_t *inuse, lt_keys_t *next, int ok)
{
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, inuse, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = 0; i < 9999; i++)
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup", .peer = "VN/GOV/BHXH"});
    CU_ASSERT_EQUAL(lt_audit_switch_keys(a, "VN/GOV/BCA", next, "test"), ok ? 0 : -1);
    lt_audit_destroy(&a);
}

static void test_switch_full_buffer(void)
{
    lt_keys_t *inuse, *spare;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&inuse, &spare, pa, pb);
    const uint8_t *keys[2] = {pb, pa};
    s_fresh();
    s_lookups(inuse, 1, 1, 0);
    CU_ASSERT(s_exec("CREATE TRIGGER no_cosign BEFORE INSERT ON checkpoints WHEN "
                     "NEW.countersignature IS NOT NULL BEGIN SELECT RAISE(ABORT, 'test'); "
                     "END") == 0);
    s_full_then_switch(inuse, spare, 0);
    /* The lookups, then the entry that ends the outage the refusal began. */
    CU_ASSERT_EQUAL(lt_audit_verify(s_path, pa, NULL, 0), 10001);
    CU_ASSERT_EQUAL(s_in_force(inuse, pa), 1);
    CU_ASSERT(s_exec("DROP TRIGGER no_cosign") == 0);
    s_full_then_switch(inuse, spare, 1);
    CU_ASSERT_FATAL(lt_keys_swap(inuse, spare) == 0);
    s_lookups(inuse, 1, 2, 0);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, NULL, 0), 20003);
    CU_ASSERT_EQUAL(s_in_force(inuse, pb), 1);
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&spare);
}

/* Exports every signed entry of the log at s_path to file. */
static void s_export_all(const char *file, const uint8_t *const *keys, size_t n)
{
    char err[256];
    lt_auditarc_export_t res;
    CU_ASSERT_FATAL(lt_auditarc_export(s_path, file, "VN/GOV/BCA", lt_clock_now_ms() + 1000, keys,
                                       n, &res, err, sizeof err) == 0);
}

/* A new log at s_path of 25 entries under new keys (returned), of version 1
 * when old, else brought to version 2 at entry 25, then replaced by an
 * anchor alone: every entry and checkpoint deleted (the subject index
 * emptied with them), and an anchor inserted; with `kept` the anchor is
 * entry 20, whose genuine checkpoint stays, else entry 7 with a zero hash
 * and none. */
static lt_keys_t *s_anchor_only(int old, int kept)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    if (old)
        s_old_format();
    else
        CU_ASSERT_FATAL(s_exec("UPDATE keys_named SET since = 25") == 0);
    CU_ASSERT_FATAL(s_exec(kept ? "DELETE FROM checkpoints WHERE seq <> 20;"
                                  "INSERT INTO anchor (id, seq, hash, exported_to, at_ms) "
                                  "SELECT 1, seq, hash, 'elsewhere.db', 0 FROM checkpoints"
                                : "DELETE FROM checkpoints; INSERT INTO anchor (id, seq, hash, "
                                  "exported_to, at_ms) VALUES (1, 7, zeroblob(32), "
                                  "'elsewhere.db', 0)") == 0);
    CU_ASSERT_FATAL(s_exec("DELETE FROM audit; DELETE FROM subject_blocks;"
                           "UPDATE subject_indexed SET upto = 0") == 0);
    return k;
}

/* F2 of the second review: a live log replaced by an anchor alone passed
 * the live check with no key at all, its anchor's checkpoint checked only
 * when kept and the current key only when entries follow. An anchor must
 * come with its checkpoint (an export keeps it), and the key in force after
 * it must be the current one: so fails a log brought to version 2 at entry
 * 25 (its anchor then below `since`), one of version 1, and one whose
 * anchor keeps a genuine checkpoint of a retired key; with that key
 * current it passes, and so does a genuine export. */
static void test_anchor_only_log(void)
{
    lt_keys_t *b = lt_keys_new(LT_KEYS_MEMBER), *k = s_anchor_only(0, 0);
    CU_ASSERT_FATAL(b != NULL);
    const uint8_t *pb = lt_keys_signing_public(b), *keys[2] = {pb, lt_keys_signing_public(k)};
    lt_audit_report_t r;
    char err[256], f1[sizeof s_path];
    CU_ASSERT_EQUAL(s_live(keys + 1, 1, keys[1]), -1);
    CU_ASSERT(lt_audit_check_keys(s_path, keys + 1, 1, &r, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the anchor (entry 7) comes without its signed checkpoint"));
    lt_keys_destroy(&k);
    k = s_anchor_only(1, 0);
    keys[1] = lt_keys_signing_public(k);
    CU_ASSERT_EQUAL(s_live(keys + 1, 1, keys[1]), -1);
    lt_keys_destroy(&k);
    /* A genuine checkpoint of A kept, B current. */
    k = s_anchor_only(1, 1);
    keys[1] = lt_keys_signing_public(k);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    CU_ASSERT(lt_audit_check_live(s_path, keys, 2, pb, &r, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the newest checkpoint (entry 20) is not signed by the "
                                       "member's current signing key"));
    CU_ASSERT_EQUAL(s_live(keys, 2, keys[1]), 0);
    lt_keys_destroy(&k);
    /* A genuine export, nothing after it. */
    s_fresh();
    k = s_fill(25);
    keys[1] = lt_keys_signing_public(k);
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    s_export_all(f1, keys + 1, 1);
    CU_ASSERT(lt_audit_check_live(s_path, keys + 1, 1, keys[1], &r, err, sizeof err) == 0);
    CU_ASSERT(r.anchor == 25 && r.entries == 0);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    lt_keys_destroy(&k);
    lt_keys_destroy(&b);
}

/* A segment forged at file: the anchor of the genuine segment `from`
 * (with the key it records and its checkpoint, or, when resign, the key of
 * `by` recorded and its checkpoint signed by it), then entries 8 and 10
 * of the genuine ones (9 dropped) re-chained and signed by `by`. */
static void s_forge_segment(const char *file, const char *from, lt_keys_t *by, int resign)
{
    char err[256], sql[1024], saved[sizeof s_path];
    snprintf(saved, sizeof saved, "%s", s_path);
    snprintf(s_path, sizeof s_path, "%s", file);
    CU_ASSERT_FATAL(lt_audit_create(file, err, sizeof err) == 0);
    snprintf(sql, sizeof sql,
             "ATTACH '%.290s' AS g; INSERT INTO anchor SELECT * FROM g.anchor;"
             "INSERT INTO checkpoints SELECT * FROM g.checkpoints WHERE seq = "
             "(SELECT seq FROM anchor)",
             from);
    CU_ASSERT_FATAL(s_exec(sql) == 0);
    if (resign) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        uint8_t msg[8 + LT_HASH_BYTES], sig[LT_SIG_BYTES];
        CU_ASSERT_FATAL(sqlite3_open(file, &db) == SQLITE_OK &&
                        sqlite3_prepare_v2(db, "SELECT seq, hash FROM anchor", -1, &st, NULL) ==
                            SQLITE_OK &&
                        sqlite3_step(st) == SQLITE_ROW);
        for (int i = 7; i >= 0; i--)
            msg[7 - i] = (uint8_t)((uint64_t)sqlite3_column_int64(st, 0) >> (8 * i));
        memcpy(msg + 8, sqlite3_column_blob(st, 1), LT_HASH_BYTES);
        sqlite3_finalize(st);
        CU_ASSERT_FATAL(lt_keys_sign(by, "lienthong/1 audit", msg, sizeof msg, sig) == 0);
        CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "UPDATE checkpoints SET signature = ?1", -1, &st,
                                           NULL) == SQLITE_OK);
        sqlite3_bind_blob(st, 1, sig, sizeof sig, SQLITE_STATIC);
        CU_ASSERT(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
        CU_ASSERT(sqlite3_prepare_v2(db, "UPDATE anchor SET signing_key = ?1", -1, &st, NULL) ==
                  SQLITE_OK);
        sqlite3_bind_blob(st, 1, lt_keys_signing_public(by), LT_KEY_BYTES, SQLITE_STATIC);
        CU_ASSERT(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    s_lookups(by, 8, 3, 9);
    CU_ASSERT_FATAL(s_exec("CREATE TABLE segment (member TEXT NOT NULL, first_seq INTEGER NOT "
                           "NULL, last_seq INTEGER NOT NULL, exported_at_ms INTEGER NOT NULL);"
                           "INSERT INTO segment VALUES ('VN/GOV/BCA', 8, 9, 0);"
                           "DROP TABLE subject_blocks; DROP TABLE subject_indexed") == 0);
    snprintf(s_path, sizeof s_path, "%s", saved);
}

/* F1 of the second review: a file passed off as version 1 (all its
 * checkpoints accepted under any key) was refused only after a file that
 * binds fewer entries. Entries 1-10 written before the log named keys,
 * 11-15 after (since = 10), exported; 16-20, exported. The first file
 * claiming version 1, or to bind keys only after entry 15, no longer joins
 * the second, which binds them after 10; the second claiming version 1 is
 * refused alone (its anchor records a key), and with the key removed joins
 * neither the first nor the live log. Each downgraded file disagrees with
 * the live log's since (lt_auditarc_named_as_live), naming its first entry
 * past it; the genuine ones agree. */
static void test_downgraded_segment(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(10);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[sizeof s_path], f2[sizeof s_path], v[64];
    lt_audit_report_t r1, r2, bad, live;
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    snprintf(f2, sizeof f2, "%.250s/seg2.db", s_dir);
    snprintf(v, sizeof v, "PRAGMA user_version = %d", lt_audit_version());
    s_old_format();
    s_more(k, 5);
    s_export_all(f1, pk, 1);
    s_more(k, 5);
    s_export_all(f2, pk, 1);
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &r1, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_verify(f2, pk, 1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_audit_check_keys(s_path, pk, 1, &live, err, sizeof err) == 0);
    CU_ASSERT(r1.named == 10 && r1.last == 15 && r2.named == 10 && live.named == 10);
    CU_ASSERT(lt_auditarc_joins(&r1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r2, &live, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_named_as_live(&r1, &live, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_named_as_live(&r2, &live, err, sizeof err) == 0);
    /* The first as version 1. */
    CU_ASSERT_FATAL(s_exec_at(f1, "PRAGMA user_version = 1") == 0);
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &bad, err, sizeof err) == 0);
    CU_ASSERT(bad.named == UINT64_MAX);
    CU_ASSERT(lt_auditarc_joins(&bad, &r2, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entries through 15"));
    /* Only the live log tells it from a file exported before since. */
    CU_ASSERT(lt_auditarc_named_as_live(&bad, &live, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 11, which it holds"));
    /* The first binding keys after 15 only. */
    CU_ASSERT_FATAL(s_exec_at(f1, v) == 0 &&
                    s_exec_at(f1, "UPDATE keys_named SET since = 15") == 0);
    CU_ASSERT(lt_auditarc_verify(f1, pk, 1, &bad, err, sizeof err) == 0);
    CU_ASSERT(bad.named == 15 && bad.loose_last == 15);
    CU_ASSERT(lt_auditarc_joins(&bad, &r2, err, sizeof err) == -1);
    CU_ASSERT(lt_auditarc_named_as_live(&bad, &live, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 11, which it holds"));
    /* Binding keys from an earlier entry than the live log. */
    bad.named = 5;
    CU_ASSERT(lt_auditarc_named_as_live(&bad, &live, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the live log after entry 10"));
    /* The second as version 1. */
    CU_ASSERT_FATAL(s_exec_at(f2, "PRAGMA user_version = 1") == 0);
    CU_ASSERT(lt_auditarc_verify(f2, pk, 1, &bad, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "records a signing key"));
    CU_ASSERT_FATAL(s_exec_at(f2, "UPDATE anchor SET signing_key = NULL") == 0);
    CU_ASSERT(lt_auditarc_verify(f2, pk, 1, &bad, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &bad, err, sizeof err) == -1);
    CU_ASSERT(lt_auditarc_joins(&bad, &live, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entries through 20"));
    CU_ASSERT(lt_auditarc_named_as_live(&bad, &live, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 16, which it holds"));
    lt_keys_destroy(&k);
}

/* The segment after a rotation, forged with the retired key: entries 1-3
 * under A, the switch to B, 5-7 under B, exported (the first file); 8-10
 * under B, exported (the second, whose anchor records B). A second file
 * forged with A, entry 9 dropped and the rest re-chained, fails under the
 * member's keys: with B's anchor, at its first checkpoint, naming the
 * checkpoint and A; with A recorded at the anchor and its checkpoint
 * re-signed by A, or made to look like a file of the format before logs
 * named keys, it verifies alone but does not follow the first file. */
static void test_forged_segment_after_rotation(void)
{
    lt_keys_t *inuse, *spare;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    char za[LT_Z85_KEY_LEN + 1], zb[LT_Z85_KEY_LEN + 1], err[512];
    char seg1[sizeof s_path], seg2[sizeof s_path], forged[sizeof s_path];
    s_two_keys(&inuse, &spare, pa, pb);
    lt_keys_z85_encode(pa, za);
    lt_keys_z85_encode(pb, zb);
    const uint8_t *keys[2] = {pb, pa};
    lt_audit_report_t r1, r2, rf;
    s_fresh();
    snprintf(seg1, sizeof seg1, "%.250s/seg1.db", s_dir);
    snprintf(seg2, sizeof seg2, "%.250s/seg2.db", s_dir);
    snprintf(forged, sizeof forged, "%.250s/forged.db", s_dir);
    s_lookups(inuse, 1, 3, 0);
    s_switch(inuse, spare, 1);
    s_lookups(inuse, 5, 3, 0);
    lt_keys_t *a = spare, *b = inuse;
    s_export_all(seg1, keys, 2);
    s_lookups(b, 8, 3, 0);
    s_export_all(seg2, keys, 2);

    /* The genuine files: the second's anchor records B, and they join. */
    CU_ASSERT_FATAL(lt_auditarc_verify(seg1, keys, 2, &r1, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_auditarc_verify(seg2, keys, 2, &r2, err, sizeof err) == 0);
    CU_ASSERT(r1.last == 7 && r1.key_bound && memcmp(r1.key, pb, LT_KEY_BYTES) == 0);
    CU_ASSERT(r2.anchor == 7 && r2.anchor_bound && memcmp(r2.anchor_key, pb, LT_KEY_BYTES) == 0);
    CU_ASSERT(r1.loose_last == 0 && r2.loose_last == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &r2, err, sizeof err) == 0);

    /* Forged with A after B's anchor. */
    s_forge_segment(forged, seg2, a, 0);
    CU_ASSERT(lt_auditarc_verify(forged, keys, 2, &rf, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, za));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, zb));

    /* A recorded at the anchor, its checkpoint re-signed by A. */
    CU_ASSERT(unlink(forged) == 0);
    s_forge_segment(forged, seg2, a, 1);
    CU_ASSERT_FATAL(lt_auditarc_verify(forged, keys, 2, &rf, err, sizeof err) == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &rf, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, za));

    /* The same passed off as a file from before logs named keys. */
    snprintf(s_path, sizeof s_path, "%s", forged);
    s_old_format();
    CU_ASSERT_FATAL(lt_auditarc_verify(forged, keys, 2, &rf, err, sizeof err) == 0);
    CU_ASSERT(rf.loose_first == 7 && rf.loose_last == 9);
    CU_ASSERT(lt_auditarc_joins(&r1, &rf, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "never stops naming keys"));
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&spare);
}

/* An export never ends at a keys-switched entry, whose checkpoint is the
 * previous key's while the key in force after it is the next: with the
 * switch last, it stops before it; the next export takes the switch, and
 * its anchor records A, and the files and the live log verify and join. */
static void test_export_not_at_switch(void)
{
    lt_keys_t *inuse, *spare;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    char err[256], seg1[sizeof s_path], seg2[sizeof s_path];
    s_two_keys(&inuse, &spare, pa, pb);
    const uint8_t *keys[2] = {pb, pa};
    lt_audit_report_t r1, r2, live;
    s_fresh();
    snprintf(seg1, sizeof seg1, "%.250s/seg1.db", s_dir);
    snprintf(seg2, sizeof seg2, "%.250s/seg2.db", s_dir);
    s_lookups(inuse, 1, 3, 0);
    s_switch(inuse, spare, 1);
    s_export_all(seg1, keys, 2);
    s_lookups(inuse, 5, 2, 0);
    s_export_all(seg2, keys, 2);
    CU_ASSERT_FATAL(lt_auditarc_verify(seg1, keys, 2, &r1, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_auditarc_verify(seg2, keys, 2, &r2, err, sizeof err) == 0);
    CU_ASSERT(r1.last == 3 && r2.anchor == 3 && r2.last == 6);
    CU_ASSERT(r2.anchor_bound && memcmp(r2.anchor_key, pa, LT_KEY_BYTES) == 0);
    CU_ASSERT(r2.key_bound && memcmp(r2.key, pb, LT_KEY_BYTES) == 0);
    CU_ASSERT(lt_auditarc_joins(&r1, &r2, err, sizeof err) == 0);
    CU_ASSERT(lt_audit_check_live(s_path, keys, 2, pb, &live, err, sizeof err) == 0);
    CU_ASSERT(live.anchor == 6 && live.anchor_bound &&
              memcmp(live.anchor_key, pb, LT_KEY_BYTES) == 0);
    CU_ASSERT(lt_audit_check_live(s_path, keys, 2, pa, &live, err, sizeof err) == -1);
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&spare);
}

/* Writes, under `by` alone, a keys-switched entry naming `prev` and
 * `next` at the end of the log at s_path: what a holder of a retired key
 * can make without the next key's secret. */
static void s_switch_alone(lt_keys_t *by, const uint8_t *prev, const uint8_t *next)
{
    char err[256], zp[LT_Z85_KEY_LEN + 1], zn[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(prev, zp);
    lt_keys_z85_encode(next, zn);
    lt_audit_t *a = lt_audit_open(s_path, by, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a,
                 &(lt_audit_entry_t){
                     .event = "keys-switched", .peer = "VN/GOV/BCA", .target = zn, .fields = zp});
    CU_ASSERT(lt_audit_commit(a) == 0);
    lt_audit_destroy(&a);
}

/* Runs sql on the log at s_path. */
static void s_edit(const char *sql)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_path, &db) == SQLITE_OK);
    CU_ASSERT(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

/* Item 1 of the second review: A, retired after the switch to B, leaks;
 * its holder writes a log under A alone that ends with a switch to B
 * (whose public key is public), as a genuine promote while the gateway is
 * stopped leaves it. The switch's checkpoint must be countersigned by B:
 * without it, or with a countersignature B did not make, the log fails;
 * the genuine one (lt_audit_switch_keys, holding both) verifies. */
static void test_switch_needs_next_key(void)
{
    lt_keys_t *a, *b;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&a, &b, pa, pb);
    const uint8_t *keys[2] = {pb, pa};

    s_fresh();
    s_lookups(a, 1, 3, 0);
    s_switch(a, b, 0);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), 4);

    s_fresh();
    s_lookups(a, 1, 3, 0);
    s_switch_alone(a, pa, pb);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, NULL, 0), -1);
    /* A countersignature that is not B's. */
    s_edit("UPDATE checkpoints SET countersignature = randomblob(64) WHERE seq = 4");
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);

    /* B's countersignature of the genuine switch does not carry over to
     * the forged one at the same seq (it covers the chain hash). */
    s_fresh();
    s_lookups(a, 1, 3, 0);
    s_switch(a, b, 0);
    char sql[256] = "UPDATE checkpoints SET countersignature = X'";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db,
                                       "SELECT hex(countersignature) FROM checkpoints "
                                       "WHERE seq = 4",
                                       -1, &st, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 128);
    strcat(sql, (const char *)sqlite3_column_text(st, 0));
    strcat(sql, "' WHERE seq = 4");
    sqlite3_finalize(st);
    sqlite3_close(db);
    s_fresh();
    s_lookups(a, 1, 3, 0);
    s_switch_alone(a, pa, pb);
    s_edit(sql);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), -1);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
}

/* A genuine log across two rotations (A, then B, then C) verifies under
 * the three with C current; one of the keys missing, or B as the current
 * key, fails; a switch to a key that is not the member's fails. */
static void test_two_rotations(void)
{
    lt_keys_t *inuse = lt_keys_new(LT_KEYS_MEMBER), *b = lt_keys_new(LT_KEYS_MEMBER);
    lt_keys_t *c = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(inuse && b && c);
    uint8_t pk[3][LT_KEY_BYTES];
    memcpy(pk[2], lt_keys_signing_public(inuse), LT_KEY_BYTES);
    memcpy(pk[1], lt_keys_signing_public(b), LT_KEY_BYTES);
    memcpy(pk[0], lt_keys_signing_public(c), LT_KEY_BYTES);
    const uint8_t *all[3] = {pk[0], pk[1], pk[2]}, *no_b[2] = {pk[0], pk[2]};
    s_fresh();
    s_lookups(inuse, 1, 2, 0);
    s_switch(inuse, b, 1);
    s_lookups(inuse, 3, 2, 0);
    s_switch(inuse, c, 1);
    s_lookups(inuse, 5, 2, 0);
    CU_ASSERT_EQUAL(s_live(all, 3, pk[0]), 8);
    CU_ASSERT_EQUAL(s_live(all, 3, pk[1]), -1);
    CU_ASSERT_EQUAL(s_live(no_b, 2, pk[0]), -1);
    CU_ASSERT_EQUAL(s_live(all + 1, 2, pk[1]), -1); /* C is not among them */
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&b);
    lt_keys_destroy(&c);
}

/* A log written before keys-switched entries named keys (the entry
 * written after the switch, under the new key, without keys) verifies as
 * it did, with the new key current. */
static void test_old_format_rotation(void)
{
    lt_keys_t *inuse, *b;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&inuse, &b, pa, pb);
    const uint8_t *keys[2] = {pb, pa};
    char err[256];
    s_fresh();
    s_lookups(inuse, 1, 3, 0);
    CU_ASSERT_FATAL(lt_keys_swap(inuse, b) == 0);
    lt_audit_t *a = lt_audit_open(s_path, inuse, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a, &(lt_audit_entry_t){.event = "keys-switched",
                                        .peer = "VN/GOV/BCA",
                                        .detail = "transport key x"});
    lt_audit_destroy(&a);
    s_lookups(inuse, 5, 2, 0);
    s_old_format();
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), 6);
    CU_ASSERT_EQUAL(lt_audit_verify_keys(s_path, keys, 2, err, sizeof err), 6);
    lt_keys_destroy(&inuse);
    lt_keys_destroy(&b);
}

/* A segment of a log from before logs named keys (version 1) spanning a
 * key rotation exports under both keys and verifies under both, not under
 * the new one alone. */
static void test_export_rotated(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25), *next = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(next != NULL);
    char err[256], f1[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    s_more(next, 3);
    s_old_format(); /* the keys changed without a keys-switched entry */
    const uint8_t *both[2] = {lt_keys_signing_public(next), lt_keys_signing_public(k)};
    lt_auditarc_export_t res;
    lt_audit_report_t r;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, both, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, both, 2, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.entries == 28);
    CU_ASSERT(lt_auditarc_verify(f1, both, 2, &r, err, sizeof err) == 0);
    CU_ASSERT(r.loose_last == 28 && !r.key_bound); /* the export keeps the log's format */
    CU_ASSERT(lt_auditarc_verify(f1, both, 1, &r, err, sizeof err) == -1);
    lt_keys_destroy(&next);
    lt_keys_destroy(&k);
}

/* A new log at s_path whose subject index takes blocks of n entries (each
 * log keeps the size written in it), so that a few entries span blocks. */
static void s_blocks_of(int n)
{
    char err[256], sql[128];
    CU_ASSERT_FATAL(lt_audit_create(s_path, err, sizeof err) == 0);
    snprintf(sql, sizeof sql, "INSERT INTO subject_indexed VALUES (1, %d, 0)", n);
    CU_ASSERT_FATAL(s_exec(sql) == 0);
}

/* A new log at s_path with blocks of 8 entries, filled as s_fill does. */
static lt_keys_t *s_fill_blocks_of_8(int n)
{
    s_fresh();
    s_blocks_of(8);
    return s_fill(n);
}

/* The seqs of subject's entries as the subject-access report finds them
 * (report = 1, lt_audit_by_subject) or by a scan of every entry: up to max
 * into seqs; returns how many, or -1. */
static int s_seqs(const char *subject, int report, int64_t *seqs, int max)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open_v2(s_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    if (report ? lt_audit_by_subject(db, subject, &st) != 0
               : sqlite3_prepare_v2(db, "SELECT seq FROM audit WHERE subject = ?1 ORDER BY seq", -1,
                                    &st, NULL) != SQLITE_OK)
        goto out;
    if (!report)
        sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    n = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (n < max)
            seqs[n++] = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The report finds, for each subject s_fill writes, exactly the entries a
 * scan finds; returns how many it found in all. */
static int s_report_exact(void)
{
    int total = 0;
    for (int i = 0; i < 7; i++) {
        char key[32];
        int64_t a[5000], b[5000];
        snprintf(key, sizeof key, "0380000000%02d", i);
        int na = s_seqs(key, 1, a, 5000), nb = s_seqs(key, 0, b, 5000);
        CU_ASSERT(na >= 0 && na == nb);
        CU_ASSERT(na >= 0 && na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0);
        total += na > 0 ? na : 0;
    }
    return total;
}

/* The log at s_path verifies under pk with n entries, and the report finds
 * exactly what a scan finds, n entries in all. */
static void s_verified_exact(const uint8_t *pk, long n)
{
    char err[256];
    CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == n);
    CU_ASSERT(s_report_exact() == n);
}

/* Entries are indexed by subject a full block at a time, in the commit
 * that fills the block; the report reads the blocks and scans the entries
 * after them; an export removes the index rows of the entries it removes. */
static void test_subject_blocks(void)
{
    lt_keys_t *k = s_fill_blocks_of_8(25); /* commits at 10, 20 and 25 */
    char err[256];
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 24);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks") == 24);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks WHERE block <> (seq - 1) / 8") == 0);
    CU_ASSERT(s_report_exact() == 25);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 25);
    s_more(k, 3); /* 26..28, subject ...01: not yet indexed */
    int64_t seqs[64];
    CU_ASSERT(s_seqs("038000000001", 1, seqs, 64) == 7 && seqs[6] == 28);
    CU_ASSERT(s_report_exact() == 28);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char f1[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == 0);
    CU_ASSERT(res.entries == 28);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks") == 0);
    CU_ASSERT(s_report_exact() == 0);
    s_more(k, 9); /* 29..37: 29..32 fill the block of 24..31 and start the next */
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 32);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks") == 4);
    CU_ASSERT(s_seqs("038000000001", 1, seqs, 64) == 9 && seqs[0] == 29 && seqs[8] == 37);
    CU_ASSERT(s_report_exact() == 9);
    CU_ASSERT(lt_audit_verify(s_path, pk[0], err, sizeof err) == 9);
    lt_keys_destroy(&k);
}

/* A subject index that does not hold exactly its entries (a row removed,
 * altered, repeated in another block or added beyond the extent; an extent
 * claimed beyond its rows or short of them) fails the log's check, as it
 * could hide entries from the subject-access report or show one twice; the
 * report stays exact and bounded meanwhile, and the next commit mends a
 * lowered extent. */
static void test_subject_index_checked(void)
{
    lt_keys_t *k = s_fill_blocks_of_8(25);
    const uint8_t *pk = lt_keys_signing_public(k);
    char err[256];
    static const char *broken[][2] = {
        {"DELETE FROM subject_blocks WHERE seq = 5",
         "INSERT INTO subject_blocks SELECT 0, subject, seq FROM audit WHERE seq = 5"},
        {"UPDATE subject_blocks SET subject = '999' WHERE seq = 5",
         "UPDATE subject_blocks SET subject = (SELECT subject FROM audit WHERE seq = 5) "
         "WHERE seq = 5"},
        {"UPDATE subject_blocks SET block = 2 WHERE seq = 5",
         "UPDATE subject_blocks SET block = 0 WHERE seq = 5"},
        {"INSERT INTO subject_blocks SELECT 2, subject, seq FROM audit WHERE seq = 5",
         "DELETE FROM subject_blocks WHERE block = 2 AND seq = 5"},
        {"INSERT INTO subject_blocks VALUES (1000000000000, '038000000001', 26)",
         "DELETE FROM subject_blocks WHERE seq = 26"},
        {"UPDATE subject_indexed SET upto = 32", "UPDATE subject_indexed SET upto = 24"}};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        CU_ASSERT(s_exec(broken[i][0]) == 0);
        CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "subject index"));
        if (i == 3 || i == 4) /* a row repeated or far out adds nothing to the report */
            CU_ASSERT(s_report_exact() == 25);
        CU_ASSERT(s_exec(broken[i][1]) == 0);
        CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == 25);
    }
    CU_ASSERT(s_exec("UPDATE subject_indexed SET upto = 16") == 0);
    CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == -1);
    CU_ASSERT(s_report_exact() == 25);
    s_more(k, 1);
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 24);
    s_verified_exact(pk, 26);
    lt_keys_destroy(&k);
}

/* An export whose removal is cut short leaves exported entries (and their
 * index rows) in the live log: the report starts after the anchor (those
 * entries are in the exported file), and the check holds. */
static void test_subject_after_cut_export(void)
{
    lt_keys_t *k = s_fill_blocks_of_8(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256], f1[sizeof s_path];
    snprintf(f1, sizeof f1, "%.250s/seg1.db", s_dir);
    lt_auditarc_export_t res;
    CU_ASSERT(s_exec("CREATE TRIGGER stop BEFORE DELETE ON audit WHEN old.seq > 10 "
                     "BEGIN SELECT RAISE(ABORT, 'no room'); END") == 0);
    CU_ASSERT(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT(s_exec("DROP TRIGGER stop") == 0);
    int64_t seqs[64];
    CU_ASSERT(s_seqs("038000000001", 0, seqs, 64) > 0); /* still in the file */
    CU_ASSERT(s_seqs("038000000001", 1, seqs, 64) == 0);
    CU_ASSERT(lt_audit_verify(s_path, pk[0], err, sizeof err) == 0);
    s_more(k, 4);
    CU_ASSERT(s_seqs("038000000001", 1, seqs, 64) == 4 && seqs[0] == 26 && seqs[3] == 29);
    CU_ASSERT(lt_audit_verify(s_path, pk[0], err, sizeof err) == 4);
    lt_keys_destroy(&k);
}

/* An index row no gateway writes (a block size that is not a positive
 * integer, an extent past the last entry) fails the check and is built
 * again by the next gateway that opens the log: it never divides by it. */
static void test_subject_index_damaged_row(void)
{
    static const char *damage[] = {"UPDATE subject_indexed SET block_size = 'x'",
                                   "UPDATE subject_indexed SET block_size = 0.5",
                                   "UPDATE subject_indexed SET upto = 1000"};
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        lt_keys_t *k = s_fill_blocks_of_8(25);
        const uint8_t *pk = lt_keys_signing_public(k);
        char err[256];
        CU_ASSERT(s_exec(damage[i]) == 0);
        CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "subject index"));
        s_more(k, 2);
        /* Made again, with a new log's block size: nothing is full yet. */
        CU_ASSERT(s_int("SELECT block_size FROM subject_indexed") == 4096);
        CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 0);
        CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks") == 0);
        s_verified_exact(pk, 27);
        lt_keys_destroy(&k);
    }
}

/* Indexing that fails (here a trigger refuses the rows, as a damaged file
 * might) costs no entry: each commit still writes its entries, the open
 * still succeeds, the report scans what is not indexed; once indexing
 * works again the next gateway catches up. */
static void test_subject_index_failing(void)
{
    s_fresh();
    s_blocks_of(8);
    CU_ASSERT(s_exec("CREATE TRIGGER refuse BEFORE INSERT ON subject_blocks "
                     "BEGIN SELECT RAISE(ABORT, 'no room'); END") == 0);
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk = lt_keys_signing_public(k);
    char err[256];
    CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == 25);
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 0);
    CU_ASSERT(s_report_exact() == 25);
    s_more(k, 8); /* the catch-up at open fails too */
    CU_ASSERT(lt_audit_verify(s_path, pk, err, sizeof err) == 33);
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 0);
    CU_ASSERT(s_report_exact() == 33);
    CU_ASSERT(s_exec("DROP TRIGGER refuse") == 0);
    s_more(k, 1);
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 32);
    s_verified_exact(pk, 34);
    lt_keys_destroy(&k);
}

/* A log written with the older index (one B-tree insert per entry; here
 * made so by dropping the block tables) is read by a scan; the gateway that
 * opens it drops that index and indexes its full blocks before it serves. */
static void test_subject_index_upgrade(void)
{
    s_fresh();
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    char err[256], key[32];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = 0; i < 4100; i++) {
        snprintf(key, sizeof key, "0380000000%02d", i % 7);
        lt_audit_add(
            a, &(lt_audit_entry_t){
                   .event = "lookup", .peer = "VN/GOV/BHXH", .subject = key, .detail = "ERR_NONE"});
    }
    lt_audit_destroy(&a);
    CU_ASSERT(s_exec("DROP TABLE subject_blocks; DROP TABLE subject_indexed;"
                     "CREATE INDEX audit_subject ON audit(subject); PRAGMA user_version = 0") == 0);
    CU_ASSERT(s_report_exact() == 4100);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 4100);
    a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_destroy(&a);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_subject'") == 0);
    CU_ASSERT(s_int("SELECT upto FROM subject_indexed") == 4096);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM subject_blocks") == 4096);
    CU_ASSERT(s_report_exact() == 4100);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 4100);
    lt_keys_destroy(&k);
}

/* A log of this version whose per-entry index came back: a release from
 * before audit versioning, started on it after a rollback, creates the
 * index again at its start (whether or not it then refuses the log). The
 * next start drops it, though the log is at this version already: it only
 * costs a B-tree insert on every entry. */
static void test_subject_index_recreated(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(3);
    CU_ASSERT_FATAL(s_exec("CREATE INDEX audit_subject ON audit(subject)") == 0);
    CU_ASSERT_FATAL(s_int("PRAGMA user_version") == lt_audit_version());
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_destroy(&a);
    CU_ASSERT(s_int("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_subject'") == 0);
    CU_ASSERT(s_report_exact() == 3);
    lt_keys_destroy(&k);
}

/* The reason the last s_schema_ok refused the log for. */
static char s_schema_err[512];

/* The check restore runs on a backup's audit log (lt_audit_schema_check)
 * of the file at s_path: 0 or -1 (the reason in s_schema_err). */
static int s_schema_ok(void)
{
    sqlite3 *db = NULL;
    s_schema_err[0] = '\0';
    int rc = sqlite3_open_v2(s_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
                 ? lt_audit_schema_check(db, s_schema_err, sizeof s_schema_err)
                 : -2;
    sqlite3_close(db);
    return rc;
}

/* A log as this version writes it, with sql run on it. */
static void s_log_with(const char *sql)
{
    s_fresh();
    lt_keys_t *k = s_fill(3);
    lt_keys_destroy(&k);
    if (sql)
        CU_ASSERT_FATAL(s_exec(sql) == 0);
}

/* A fresh live log passed off as version 1 after an export: 25 entries
 * exported, 4 more, then its keys_named row dropped and its version
 * lowered, its anchor still recording the key. Returns its keys. */
static lt_keys_t *s_passed_off_after_export(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256] = "", f1[320];
    lt_auditarc_export_t res;
    snprintf(f1, sizeof f1, "%s/seg1.db", s_dir);
    CU_ASSERT_FATAL(lt_auditarc_export(s_path, f1, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1,
                                       &res, err, sizeof err) == 0);
    s_more(k, 4);
    CU_ASSERT_FATAL(s_exec("DROP TABLE keys_named; PRAGMA user_version = 1") == 0);
    return k;
}

/* A live log passed off as version 1 after an export (its anchor records
 * a key, its keys_named row dropped) is refused by the next export, and
 * left as it is: brought to this version first, it would bind keys only
 * after its last entry and pass (lt_auditarc_export checks, then brings
 * the log up). */
static void test_export_checks_before_upgrade(void)
{
    lt_keys_t *k = s_passed_off_after_export();
    const uint8_t *pk[1] = {lt_keys_signing_public(k)};
    char err[256] = "", f2[320];
    lt_auditarc_export_t res;
    snprintf(f2, sizeof f2, "%s/seg2.db", s_dir);
    CU_ASSERT(lt_auditarc_export(s_path, f2, "VN/GOV/BCA", lt_clock_now_ms() + 1000, pk, 1, &res,
                                 err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "passed off as the older format"));
    CU_ASSERT(s_int("PRAGMA user_version") == 1);
    CU_ASSERT(access(f2, F_OK) != 0);
    lt_keys_destroy(&k);
}

/* A log at version 1, before the countersignature's step, is an audit
 * log's (a backup of it restores), and opening it brings it to the
 * current version, where a switch is countersigned. */
static void test_version_1_log(void)
{
    s_fresh();
    CU_ASSERT_FATAL(s_exec(lt_audit_step_sql(1)) == 0 && s_exec("PRAGMA user_version = 1") == 0);
    CU_ASSERT(s_schema_ok() == 0);
    lt_keys_t *a, *b;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&a, &b, pa, pb);
    const uint8_t *keys[2] = {pb, pa};
    s_lookups(a, 1, 2, 0);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
    s_switch(a, b, 0);
    CU_ASSERT_EQUAL(s_live(keys, 2, pb), 3);
    CU_ASSERT(s_schema_ok() == 0);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
}

/* A log from before the application and officer columns, as the version
 * that added them left it after its first ALTER TABLE. */
#define S_BEFORE_COLUMNS                                                                           \
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"                         \
    "  event TEXT, peer TEXT, target TEXT, subject TEXT, fields TEXT, "                            \
    "purpose TEXT,  case_ref TEXT, detail TEXT, hash BLOB NOT NULL);"                              \
    "CREATE INDEX audit_subject ON audit(subject);"                                                \
    "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL,"                       \
    "  signature BLOB NOT NULL, at_ms INTEGER NOT NULL);"                                          \
    "ALTER TABLE audit ADD COLUMN application TEXT;"

static void test_schema_check(void)
{
    /* As written now, and as a log from before application and officer
     * (with its index by subject) is after it was opened once. */
    s_log_with(NULL);
    CU_ASSERT(s_schema_ok() == 0);
    s_fresh();
    CU_ASSERT_FATAL(s_exec(S_BEFORE_COLUMNS "ALTER TABLE audit ADD COLUMN officer TEXT;") == 0);
    CU_ASSERT(s_schema_ok() == 0);
    /* A log of version 1 (before step 2 added the anchor's key), as a
     * backup of an earlier version holds it. */
    s_fresh();
    CU_ASSERT_FATAL(s_exec(lt_audit_step_sql(1)) == 0 && s_exec("PRAGMA user_version = 1") == 0);
    CU_ASSERT(s_schema_ok() == 0);
    /* A trigger, a view, an index of its own. */
    s_log_with("CREATE TRIGGER t AFTER INSERT ON audit BEGIN DELETE FROM checkpoints; END");
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, "its schema holds trigger \"t\", which is not an audit "
                                   "log's as it is") != NULL);
    s_log_with("CREATE VIEW v AS SELECT * FROM audit");
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, "its schema holds view \"v\"") != NULL);
    s_log_with("CREATE INDEX extra ON audit(peer)");
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, "its schema holds index \"extra\"") != NULL);
    /* A name that is not plain text is not printed; its type is. */
    s_log_with("CREATE INDEX \"a\nb\" ON audit(peer)");
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, "its schema holds index \"(a name not shown)\"") != NULL);
    /* The audit table with a constraint that stops the log after a few
     * entries, under the right name. */
    s_log_with("DROP TABLE audit; CREATE TABLE audit (seq INTEGER PRIMARY KEY CHECK (seq < 5), "
               "at_ms INTEGER NOT NULL, event TEXT, peer TEXT, target TEXT, subject TEXT, "
               "fields TEXT, purpose TEXT, case_ref TEXT, detail TEXT, hash BLOB NOT NULL, "
               "application TEXT, officer TEXT)");
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, "its schema holds table \"audit\"") != NULL);
    /* An expression index named as one of SQLite's own (this SQLite
     * refuses the file's schema as malformed; the check refuses it either
     * way). */
    s_log_with("CREATE INDEX x ON audit(abs(seq));"
               "PRAGMA writable_schema = ON;"
               "UPDATE sqlite_schema SET name = 'sqlite_autoindex_audit_9' WHERE name = 'x';"
               "PRAGMA writable_schema = OFF;");
    CU_ASSERT(s_schema_ok() == -1);
}

/* A log an earlier version left with only the first of the two columns it
 * adds (stopped between them): it opens, gains the second, keeps its
 * entries, and a backup holding it can be restored. */
static void test_half_added_columns(void)
{
    s_log_with("ALTER TABLE audit DROP COLUMN officer; PRAGMA user_version = 0");
    CU_ASSERT_FATAL(s_int("SELECT count(*) FROM pragma_table_info('audit') "
                          "WHERE name IN ('application', 'officer')") == 1);
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    char err[256] = "";
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_STRING_EQUAL(err, "");
    lt_audit_add(
        a, &(lt_audit_entry_t){
               .event = "lookup", .peer = "VN/GOV/BHXH", .application = "hoso", .officer = "nv01"});
    lt_audit_destroy(&a);
    CU_ASSERT(s_int("SELECT count(*) FROM audit WHERE officer = 'nv01'") == 1);
    CU_ASSERT(s_int("SELECT count(*) FROM audit") == 4);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
    lt_keys_destroy(&k);
    /* As such a log is in a backup, by the earlier version's statements. */
    s_fresh();
    CU_ASSERT_FATAL(s_exec(S_BEFORE_COLUMNS) == 0);
    CU_ASSERT(s_schema_ok() == 0);
    a = lt_audit_open(s_path, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(a);
    lt_audit_destroy(&a);
    CU_ASSERT(s_int("SELECT count(*) FROM pragma_table_info('audit') "
                    "WHERE name IN ('application', 'officer')") == 2);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
    CU_ASSERT(s_schema_ok() == 0);
}

/* Opens the log at s_path (keys k): 0, or -1 with the reason in err. */
static int s_open_close(const lt_keys_t *k, char *err, size_t errlen)
{
    err[0] = '\0';
    lt_audit_t *a = lt_audit_open(s_path, k, err, errlen);
    lt_audit_destroy(&a);
    return err[0] ? -1 : 0;
}

/* A new log is made at the current version, by the gateway and by an
 * export (the same tables: lt_audit_create). */
static void test_version_fresh(void)
{
    s_fresh();
    char err[512];
    CU_ASSERT_FATAL(lt_audit_version() >= 1);
    CU_ASSERT(s_open_close(NULL, err, sizeof err) == 0);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
    CU_ASSERT(s_int("SELECT count(*) FROM pragma_table_info('audit') "
                    "WHERE name IN ('application', 'officer')") == 2);
    CU_ASSERT(s_schema_ok() == 0);
    snprintf(s_path, sizeof s_path, "%s/segment.db", s_dir);
    CU_ASSERT(lt_audit_create(s_path, err, sizeof err) == 0);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
    CU_ASSERT(s_schema_ok() == 0);
}

/* A log from before versioning (user_version 0), with the two columns or
 * without them, is brought to the current version once, its entries kept
 * and still verifying; a step that fails leaves it as it was. */
static void test_version_old_log(void)
{
    static const char *olds[] = {
        "PRAGMA user_version = 0",
        "ALTER TABLE audit DROP COLUMN officer; ALTER TABLE audit DROP COLUMN application;"
        "PRAGMA user_version = 0"};
    char err[512];
    for (size_t i = 0; i < sizeof olds / sizeof *olds; i++) {
        s_fresh();
        lt_keys_t *k = s_fill(3);
        CU_ASSERT_FATAL(s_exec(olds[i]) == 0);
        CU_ASSERT(s_open_close(k, err, sizeof err) == 0);
        CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
        CU_ASSERT(s_int("SELECT count(*) FROM pragma_table_info('audit') "
                        "WHERE name IN ('application', 'officer')") == 2);
        CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 3);
        CU_ASSERT(s_schema_ok() == 0);
        lt_keys_destroy(&k);
    }
    /* All or nothing: an object in the way of the step's last table (an
     * index named anchor) fails it after its earlier tables were made;
     * none is left, nor a version. */
    s_fresh();
    CU_ASSERT_FATAL(s_exec(S_BEFORE_COLUMNS "CREATE INDEX anchor ON audit(peer)") == 0);
    CU_ASSERT(s_open_close(NULL, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "step 1: ") != NULL);
    CU_ASSERT(strstr(err, s_path) != NULL);
    CU_ASSERT(s_int("PRAGMA user_version") == 0);
    CU_ASSERT(s_int("SELECT count(*) FROM sqlite_master WHERE name = 'subject_blocks'") == 0);
    CU_ASSERT(s_int("SELECT count(*) FROM pragma_table_info('audit') WHERE name = 'officer'") == 0);
    CU_ASSERT(s_exec("DROP INDEX anchor") == 0);
    CU_ASSERT(s_open_close(NULL, err, sizeof err) == 0);
    CU_ASSERT(s_int("PRAGMA user_version") == lt_audit_version());
}

/* A live log passed off as version 1 after an export (its anchor records
 * a key, its keys_named row dropped, s_passed_off_after_export) is
 * refused by the gateway's open, naming the file and the column, and left
 * as it is: brought up, it would bind keys only after its last entry.
 * The same for a checkpoint's countersignature in a log claiming version
 * 1 (the anchor's column dropped too) or 2; the genuine version-1 logs
 * upgrade (test_version_1_log, test_version_old_log). */
static void test_open_refuses_passed_off(void)
{
    lt_keys_t *k = s_passed_off_after_export();
    char err[1024] = "", want[640];
    CU_ASSERT(s_open_close(k, err, sizeof err) == -1);
    snprintf(want, sizeof want,
             "audit log %s: the log claims version 1, but its "
             "anchor.signing_key holds a value, which only a log of version 2 or later writes",
             s_path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT(s_int("PRAGMA user_version") == 1);
    CU_ASSERT(s_int("SELECT count(*) FROM sqlite_master WHERE name = 'keys_named'") == 0);
    CU_ASSERT(s_int("SELECT count(*) FROM audit") == 4);
    lt_keys_destroy(&k);

    /* A switch's countersignature, with no anchor. */
    lt_keys_t *a, *b;
    uint8_t pa[LT_KEY_BYTES], pb[LT_KEY_BYTES];
    s_two_keys(&a, &b, pa, pb);
    s_fresh();
    s_lookups(a, 1, 2, 0);
    s_switch(a, b, 1);
    CU_ASSERT_FATAL(s_int("SELECT count(*) FROM checkpoints WHERE countersignature IS NOT NULL") ==
                    1);
    CU_ASSERT_FATAL(s_exec("PRAGMA user_version = 2") == 0);
    CU_ASSERT(s_open_close(a, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "claims version 2, but its checkpoints.countersignature "
                                       "holds a value, which only a log of version 3 or later"));
    CU_ASSERT(s_int("PRAGMA user_version") == 2);
    s_old_format();
    CU_ASSERT(s_open_close(a, err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "claims version 1, but its checkpoints.countersignature"));
    CU_ASSERT(s_int("PRAGMA user_version") == 1);
    CU_ASSERT(s_int("SELECT count(*) FROM sqlite_master WHERE name = 'keys_named'") == 0);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
}

/* A log a newer binary wrote is refused, naming the file and both
 * versions, and left as it is; a backup holding one is not restored. */
static void test_version_newer_refused(void)
{
    char sql[64], want[128], err[512];
    int newer = lt_audit_version() + 1;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", newer);
    s_log_with(sql);
    CU_ASSERT(s_open_close(NULL, err, sizeof err) == -1);
    snprintf(want, sizeof want, "version %d is newer than this lienthong supports (%d)", newer,
             lt_audit_version());
    CU_ASSERT(strstr(err, want) != NULL);
    CU_ASSERT(strstr(err, s_path) != NULL);
    CU_ASSERT(s_int("PRAGMA user_version") == newer);
    CU_ASSERT(s_int("SELECT count(*) FROM audit") == 3);
    CU_ASSERT(s_schema_ok() == -1);
    CU_ASSERT(strstr(s_schema_err, want) != NULL);
}

/* A log already at the current version is only read at open: it opens
 * while another connection holds its write lock (a long sqlite3 session,
 * a backup), where taking the lock would wait out the busy timeout and
 * fail, and its file is not changed. */
static void test_version_current_no_write(void)
{
    s_log_with(NULL);
    sqlite3 *other = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_path, &other) == SQLITE_OK);
    ut_sql_exec(other, "BEGIN IMMEDIATE");
    int64_t before = ut_sql_count(other, "PRAGMA data_version");
    char err[512];
    /* Taking the lock would wait out the log's 5 s busy timeout
     * (gateway/lt_audit.c): anything well under that, however slow the
     * machine, tells the two apart. */
    int64_t t0 = lt_clock_mono_ms();
    CU_ASSERT(s_open_close(NULL, err, sizeof err) == 0);
    CU_ASSERT(lt_clock_mono_ms() - t0 < 4000);
    if (err[0])
        fprintf(stderr, "%s\n", err);
    ut_sql_exec(other, "COMMIT");
    CU_ASSERT(ut_sql_count(other, "PRAGMA data_version") == before);
    sqlite3_close(other);
}

/* Each released layout step's text, pinned by its SHA-256
 * (lt_audit_step_sql). A new step is added with its hash; a released
 * step's hash never changes. If this test fails you edited a released
 * step, which logs already past it would never run: add a new step
 * instead (docs/ARCHITECTURE.md "Audit log"). Step 1's two columns added
 * to a log from before versioning are code, held by the tests above. */
static void test_released_steps_pinned(void)
{
    static const char *const pins[] = {
        /* 1 */ "7feef012b88010e988f1730812d0d9e1b679faea549ec3b778a4b8bf2f092413",
        /* 2 */ "6084a706fc675a42ee95ae5872f7524193bea8d2ff7c0765069e1c5d22a0f7b5",
        /* 3 */ "00783cf27f5225c3ee0c1844f010c0f178f615cfe880e23b269c7d73c8d632cc",
    };
    ut_pin_steps("audit log", lt_audit_step_sql, pins, (int)(sizeof pins / sizeof *pins));
}

/* The child of test_unbuffered_entry_fails_closed: 0 when every check
 * holds, else the number of the check that failed. */
static int s_unbuffered_child(const lt_keys_t *k)
{
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    if (!a)
        return 1;
    size_t big = (size_t)128 << 20;
    char *detail = malloc(big + 1);
    if (!detail)
        return 2;
    memset(detail, 'x', big);
    detail[big] = 0;
    lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup", .peer = "VN/GOV/BHXH", .detail = "ok"});
    /* No room for a copy of the detail: the entry cannot be buffered. */
    /* The address space in use now (statm's first field, in pages), plus
     * 64 MiB: room for everything but a second copy of the detail. */
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    int read = f && fscanf(f, "%lu", &pages) == 1;
    if (f)
        fclose(f);
    if (!read)
        return 3;
    struct rlimit old, lim;
    if (getrlimit(RLIMIT_AS, &old) != 0)
        return 3;
    lim = old;
    lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        return 4;
    lt_audit_add(a,
                 &(lt_audit_entry_t){.event = "lookup", .peer = "VN/GOV/BHXH", .detail = detail});
    char why[256] = "";
    int committed = lt_audit_commit(a), writable = lt_audit_writable(a, why, sizeof why);
    if (setrlimit(RLIMIT_AS, &old) != 0)
        return 5;
    free(detail);
    if (committed != -1 || writable != 0)
        return 6; /* an answer would have left without its entry */
    if (!strstr(why, "could not be buffered"))
        return 10; /* failed, but not for the entry it could not copy */
    if (lt_audit_flush(a, 1) != 0 || !lt_audit_writable(a, NULL, 0))
        return 7;
    lt_audit_destroy(&a);
    sqlite3 *db;
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_open(s_path, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT event, detail FROM audit ORDER BY seq", -1, &st, NULL) !=
            SQLITE_OK)
        return 8;
    while (sqlite3_step(st) == SQLITE_ROW)
        found +=
            strcmp((const char *)sqlite3_column_text(st, 0), "audit-outage") == 0 &&
            strstr((const char *)sqlite3_column_text(st, 1), ": 2 entries not written") != NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (found != 1 || lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) != 1)
        return 9; /* the outage entry alone, naming both entries lost */
    return 0;
}

static void test_unbuffered_entry_fails_closed(void)
{
    if (UT_SANITIZED) {
        fprintf(stderr, "skipped under AddressSanitizer (address-space limit)\n");
        return;
    }
    s_fresh();
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(s_unbuffered_child(k));
    int status = 0;
    CU_ASSERT(waitpid(pid, &status, 0) == pid);
    CU_ASSERT(WIFEXITED(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "check %d failed\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lt_keys_destroy(&k);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    static const ut_test_t tests[] = {
        {"entries chain, verify, and continue after reopening", test_chain_verifies},
        {"a backup's log with objects an audit log does not have is refused", test_schema_check},
        {"a log at version 1 is an audit log, and opens at the current version",
         test_version_1_log},
        {"a log left with one of the two added columns gains the other", test_half_added_columns},
        {"a new log or segment is made at the current version", test_version_fresh},
        {"a log from before versioning is brought to the current version once, all or nothing",
         test_version_old_log},
        {"a log of a newer version is refused, naming both versions", test_version_newer_refused},
        {"a log at the current version opens without writing", test_version_current_no_write},
        {"a released layout step is never edited (its text's hash is pinned)",
         test_released_steps_pinned},
        {"an edited entry breaks the chain at that entry", test_edit_detected},
        {"a deleted entry is detected", test_delete_detected},
        {"a cut-off tail is detected by the last checkpoint", test_truncation_detected},
        {"checkpoints verify only under the gateway's key", test_rewritten_chain_detected},
        {"a checkpoint SQLite cannot read fails the check, naming the error",
         test_unreadable_checkpoint_fails},
        {"old segments export to files that verify and join the live log", test_export},
        {"an exported file edited or checked under another key fails", test_export_tampered},
        {"an entry timed by a clock that ran behind takes no recent entry out with it",
         test_export_clock_behind},
        {"an entry timed by a clock that ran ahead holds no old entry in the live log",
         test_export_clock_ahead},
        {"an export checks a log passed off as version 1 before bringing it up",
         test_export_checks_before_upgrade},
        {"the gateway's open refuses a log passed off as an older version, leaving it as it is",
         test_open_refuses_passed_off},
        {"an exported file is searched as it was checked, not as it is now",
         test_export_searched_as_checked},
        {"a removal cut short is finished by the next export", test_export_removal_finished},
        {"an anchor that cannot be recorded removes nothing and deletes the file",
         test_export_anchor_failed},
        {"the exported file's directory is synced before entries are removed",
         test_export_dir_synced},
#ifdef LT_TEST_HOOKS
        {"a second export while one runs is refused by its lock, naming it", test_export_locked},
        {"an anchor moved meanwhile is not moved back: the export fails and deletes its file",
         test_export_anchor_moved},
#endif
        {"the log syncs each commit (synchronous = FULL), created or reopened", test_opened_synced},
        {"the last committed seq is a gauge that goes on across reopens and exports",
         test_last_seq_gauge},
        {"a crafted segment row is reported, its functions not run", test_export_crafted_segment},
        {"after a key rotation, checkpoints verify under both keys", test_rotated_keys},
        {"a segment spanning a key rotation verifies under both keys", test_export_rotated},
        {"a log re-signed with a retired key fails; each checkpoint is the key's in force",
         test_forged_after_rotation},
        {"a switch added to a full buffer commits alone, countersigned", test_switch_full_buffer},
        {"the key in force of a log with a malformed last checkpoint is an error, not none",
         test_in_force_unreadable},
        {"a segment forged with a retired key after the anchor fails, naming checkpoint and key",
         test_forged_segment_after_rotation},
        {"a segment passed off as an older format does not join a later one that names keys",
         test_downgraded_segment},
        {"a live log of an anchor alone fails: its checkpoint, under the current key",
         test_anchor_only_log},
        {"an export never ends at a keys-switched entry; its anchor records the key in force",
         test_export_not_at_switch},
        {"a log across two rotations verifies under the key in force at each seq",
         test_two_rotations},
        {"a log from before keys-switched entries named keys verifies", test_old_format_rotation},
        {"a switch made with the previous key alone does not verify", test_switch_needs_next_key},
        {"an entry that cannot be buffered fails the commit closed",
         test_unbuffered_entry_fails_closed},
        {"entries are indexed by subject a block at a time", test_subject_blocks},
        {"a subject index that does not hold its entries fails the check",
         test_subject_index_checked},
        {"after an export cut short, the subject report starts after the anchor",
         test_subject_after_cut_export},
        {"a damaged subject index row fails the check and is made again",
         test_subject_index_damaged_row},
        {"indexing that fails costs no entry, and catches up later", test_subject_index_failing},
        {"a log with the older subject index is indexed in blocks when opened",
         test_subject_index_upgrade},
        {"a per-entry subject index made again on a log of this version is dropped at open",
         test_subject_index_recreated},
        {NULL, NULL},
    };
    int rc = ut_main("lt_audit", NULL, NULL, tests);
    ut_rmrf(s_dir);
    return rc;
}
