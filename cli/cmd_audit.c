/* cmd_audit: `lienthong audit` reads the gateway's audit log: the
 * subject-access report ("who has accessed the record of ID X, and why"),
 * recent entries, and a check of the hash chain and its signed checkpoints. */
#include "lt_audit.h"
#include "lt_gwcfg.h"
#include "lt_cli.h"
#include "lt_valid.h"

#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *USAGE = "lienthong audit --config FILE [--subject KEY | --last N] [--verify] [--json]";

static void s_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* v as a JSON string. Text that is not UTF-8 (written by an older gateway,
 * PROTOCOL.md 4.5) is shown with '?' for each bad byte rather than
 * dropped, which jansson would do. */
static json_t *s_json_text(const char *v)
{
    json_t *j = json_string(v ? v : "");
    char *copy = j ? NULL : strdup(v);
    if (copy)
        j = json_string(lt_valid_sanitise(copy));
    free(copy);
    return j;
}

/* Prints the entries the statement yields, as text or a JSON array. */
static int s_print(sqlite3_stmt *st, int json)
{
    static const char *cols[] = {"seq",     "at",       "event",  "peer",        "target",  "subject",
                                 "fields",  "purpose",  "case_ref", "detail", "application", "officer"};
    json_t *arr = json ? json_array() : NULL;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char at[32];
        s_time(sqlite3_column_int64(st, 1), at, sizeof at);
        const char *v[12];
        for (int i = 2; i < 12; i++)
            v[i] = (const char *)sqlite3_column_text(st, i);
        if (arr) {
            json_t *o = json_pack("{s:I,s:s}", cols[0], (json_int_t)sqlite3_column_int64(st, 0),
                                  cols[1], at);
            for (int i = 2; o && i < 12; i++)
                json_object_set_new(o, cols[i], s_json_text(v[i]));
            json_array_append_new(arr, o);
        } else {
            printf("%s UTC  %-12s %-16s %s %s\n    fields: %s  purpose: %s  case: %s  -> %s\n", at,
                   v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);
            /* Requests an application made through the HTTP API (PROTOCOL.md 8.5). */
            if ((v[10] && v[10][0]) || (v[11] && v[11][0]))
                printf("    by application %s, officer %s\n", v[10] ? v[10] : "",
                       v[11] ? v[11] : "");
        }
        n++;
    }
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(arr);
    } else {
        printf("%d entr%s\n", n, n == 1 ? "y" : "ies");
    }
    return rc == SQLITE_DONE ? 0 : 1;
}

static int s_report(const char *path, const char *subject, int last, int json)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 1;
    /* The second pair reads a log no gateway has opened since entries named
     * the application and officer (the columns are missing there). */
    static const char *sql[2][2] = {
        {"SELECT * FROM (SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
         "case_ref, detail, application, officer FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
         "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, case_ref, detail, "
         "application, officer FROM audit WHERE subject = ?1 ORDER BY seq"},
        {"SELECT * FROM (SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
         "case_ref, detail, '', '' FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
         "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, case_ref, detail, "
         "'', '' FROM audit WHERE subject = ?1 ORDER BY seq"}};
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        (sqlite3_prepare_v2(db, sql[0][!!subject], -1, &st, NULL) != SQLITE_OK &&
         sqlite3_prepare_v2(db, sql[1][!!subject], -1, &st, NULL) != SQLITE_OK)) {
        lt_cli_fail(1, "audit", "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    if (subject)
        sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int(st, 1, last);
    if (subject && !json)
        printf("who has accessed the record %s, and why:\n", subject);
    rc = s_print(st, json);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Verifies the log under the member's signing key and, after a key
 * rotation, the previous one kept by `keys promote` (PROTOCOL.md 5.5).
 * The entry count, or -1 with err. */
static long s_verify(const char *path, const char *key_file, char *err, size_t errlen)
{
    char old_path[PATH_MAX + 16];
    lt_keys_t *k = lt_keys_load(key_file, err, errlen), *old = NULL;
    long n = -1;
    if (!k)
        return -1;
    if (lt_keys_old_path(key_file, old_path, sizeof old_path) == 0 &&
        access(old_path, F_OK) == 0 && !(old = lt_keys_load(old_path, err, errlen)))
        goto out;
    const uint8_t *pks[2] = {lt_keys_signing_public(k), old ? lt_keys_signing_public(old) : NULL};
    n = lt_audit_verify_keys(path, pks, old ? 2 : 1, err, errlen);
out:
    lt_keys_destroy(&k);
    lt_keys_destroy(&old);
    return n;
}

int lt_cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {{"config", 1, 0, 'c'}, {"subject", 1, 0, 's'},
                                         {"last", 1, 0, 'n'},   {"verify", 0, 0, 'v'},
                                         {"json", 0, 0, 'j'},   {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *config = NULL, *subject = NULL;
    int last = 50, verify = 0, json = 0, c;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c') config = optarg;
        else if (c == 's') subject = optarg;
        else if (c == 'v') verify = 1;
        else if (c == 'j') json = 1;
        else if (c == 'n' && (last = (int)strtol(optarg, &end, 10)) > 0 && !*end) continue;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_arg("audit", c == 'n' ? optarg : argv[optind - 1], USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg("audit", argv[optind], USAGE);
    if (!config)
        return lt_cli_fail(2, "audit", "missing --config FILE\nusage: %s", USAGE);
    static lt_gwcfg_t cfg;
    char err[1024], path[PATH_MAX + 32];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "audit", "%s", err);
    snprintf(path, sizeof path, "%s/audit.db", cfg.data_dir);
    if (verify) {
        long n = s_verify(path, cfg.key_file, err, sizeof err);
        if (n < 0)
            return lt_cli_fail(1, "audit", "%s", err);
        printf("audit log intact: %ld entries, hash chain and signed checkpoints verified\n", n);
        if (!subject)
            return 0;
    }
    return s_report(path, subject, last, json);
}
