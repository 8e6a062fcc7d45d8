/* cmd_audit: `lienthong audit` reads the gateway's audit log: the
 * subject-access report ("who has accessed the record of ID X, and why"),
 * recent entries, and a check of the hash chain and its signed checkpoints.
 * `audit export` moves old segments of the log to files (retention),
 * `audit verify --file` checks such files anywhere, with only the member's
 * public signing key or the federation's directory (and, given the gateway's
 * configuration, joins them to the live log), and `audit --subject --file`
 * searches them, once checked so. */
#include "lt_audit.h"
#include "lt_auditarc.h"
#include "lt_clock.h"
#include "lt_gwcfg.h"
#include "lt_cli.h"
#include "lt_valid.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *USAGE =
    "lienthong audit --config FILE [--subject KEY | --last N] [--verify] [--json]\n"
    "       lienthong audit --subject KEY --file FILE [--file FILE...] [--json]\n"
    "             (--signing-key KEY | --directory FILE --authority-key KEY | --config FILE)\n"
    "       lienthong audit export --config FILE --out FILE [--older-than DAYS]\n"
    "       lienthong audit verify --file FILE [--file FILE...]\n"
    "             (--signing-key KEY | --directory FILE --authority-key KEY | --config FILE)";

static void s_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    /* An entry read from a damaged or crafted log may hold any time. */
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "%lld (unix seconds)", (long long)t);
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

/* One entry as text: v are the columns event to officer (index 2 to 11),
 * each escaped (lt_cli_plain) so that no stored value, such as one written
 * before gateways refused control characters, can start a line of its own
 * and forge an entry. */
static int s_print_text(const char *at, const char *const *v)
{
    char *e[12] = {0};
    int rc = 0;
    for (int i = 2; i < 12; i++)
        if (!(e[i] = lt_cli_plain(v[i])))
            rc = -1;
    if (rc == 0) {
        printf("%s UTC  %-12s %-16s %s %s\n    fields: %s  purpose: %s  case: %s  -> %s\n", at,
               e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9]);
        /* Requests an application made through the HTTP API (PROTOCOL.md 8.5). */
        if (e[10][0] || e[11][0])
            printf("    by application %s, officer %s\n", e[10], e[11]);
    }
    for (int i = 2; i < 12; i++)
        free(e[i]);
    return rc;
}

/* Prints the entries the statement yields as text, or appends them to arr
 * (a JSON report), and counts them in *n: a report may read several files. */
static int s_rows(sqlite3_stmt *st, json_t *arr, int *n)
{
    static const char *cols[] = {"seq",      "at",      "event",       "peer",
                                 "target",   "subject", "fields",      "purpose",
                                 "case_ref", "detail",  "application", "officer"};
    int rc;
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
        } else if (s_print_text(at, v) != 0) {
            lt_cli_fail(1, "audit", "out of memory");
            rc = SQLITE_NOMEM;
            break;
        }
        (*n)++;
    }
    return rc == SQLITE_DONE ? 0 : 1;
}

/* Ends a report of n entries: the JSON array (and frees it), or the count. */
static void s_end(json_t *arr, int n)
{
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(arr);
    } else {
        printf("%d entr%s\n", n, n == 1 ? "y" : "ies");
    }
}

/* A line beside a report: on standard error under --json, which keeps
 * standard output one JSON document. */
static FILE *s_aside(int json)
{
    return json ? stderr : stdout;
}

/* What a subject report of the live log leaves out: entries through the
 * anchor were exported (docs/operations.md, "Audit retention"); the anchor
 * names the file of the last export only. 0, or -1 (sqlite3_errmsg). */
static int s_exported_note(sqlite3 *db, const char *subject, int json)
{
    sqlite3_stmt *st = NULL;
    static const char *has = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'anchor'";
    if (sqlite3_prepare_v2(db, has, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (step == SQLITE_DONE)
        return 0; /* a log no gateway has opened since exports existed */
    if (step != SQLITE_ROW ||
        sqlite3_prepare_v2(db, "SELECT seq, exported_to FROM anchor", -1, &st, NULL) != SQLITE_OK)
        return -1;
    step = sqlite3_step(st);
    int64_t anchor = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    const char *to = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
    /* The path as the export was given it; shown as the report shows values. */
    char *file = lt_cli_plain(to), *key = lt_cli_plain(subject);
    int rc = (step == SQLITE_ROW || step == SQLITE_DONE) && file && key ? 0 : -1;
    if (rc == 0 && anchor > 0) {
        FILE *f = s_aside(json);
        fprintf(f, "entries 1..%lld were exported", (long long)anchor);
        if (file[0])
            fprintf(f, " (the last of them to %s)", file);
        fprintf(f,
                " and are not included: search the exported files with `lienthong audit "
                "--subject %s --file FILE...`\n",
                key);
    }
    free(file);
    free(key);
    sqlite3_finalize(st);
    return rc;
}

static int s_report(const char *path, const char *subject, int last, int json)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 1;
    /* The second reads a log no gateway has opened since entries named the
     * application and officer (the columns are missing there). */
    static const char *recent[2] = {
        "SELECT * FROM (SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
        "case_ref, detail, application, officer FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY "
        "seq",
        "SELECT * FROM (SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
        "case_ref, detail, '', '' FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq"};
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        (subject ? lt_audit_by_subject(db, subject, &st) != 0
                 : sqlite3_prepare_v2(db, recent[0], -1, &st, NULL) != SQLITE_OK &&
                       sqlite3_prepare_v2(db, recent[1], -1, &st, NULL) != SQLITE_OK)) {
        lt_cli_fail(1, "audit", "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    json_t *arr = json ? json_array() : NULL;
    int n = 0;
    if (json && !arr) {
        lt_cli_fail(1, "audit", "out of memory");
        goto out;
    }
    if (!subject)
        sqlite3_bind_int(st, 1, last);
    else if (!json && lt_cli_line("who has accessed the record %s, and why:", subject) != 0) {
        json_decref(arr);
        rc = lt_cli_fail(1, "audit", "cannot write the report");
        goto out;
    }
    rc = s_rows(st, arr, &n);
    s_end(arr, n);
    if (rc == 0 && subject && s_exported_note(db, subject, json) != 0)
        rc = lt_cli_fail(1, "audit", "%s: reading the anchor: %s", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Which signing keys the check bound to which checkpoints (docs/operations.md,
 * "Verifying the audit log"): checkpoints of a log written before logs named
 * the key in force are accepted under any of the keys given, and said. */
static void s_keys_said(const lt_audit_report_t *r)
{
    char z[LT_Z85_KEY_LEN + 1];
    if (r->loose_last)
        printf("key binding not checked for the checkpoints of entries %llu..%llu: the log "
               "recorded no signing key in force for them (written before audit logs named "
               "keys), so any of the keys given is accepted there\n",
               (unsigned long long)r->loose_first, (unsigned long long)r->loose_last);
    if (r->key_bound) {
        lt_keys_z85_encode(r->key, z);
        printf("each checkpoint%s is signed by the key in force at its entry; after entry %llu "
               "it is %s\n",
               r->loose_last ? " after them" : "", (unsigned long long)r->last, z);
    }
}

/* What a check of a log without entries proved: no range, no signing
 * time. Not that the gateway wrote none: entries removed with every
 * checkpoint after them leave a log that reads the same, so the gauge is
 * named as for any other log. */
static void s_proved_empty(const char *what, const lt_audit_report_t *r)
{
    if (!r->anchor)
        printf("%s intact: it holds no entries\n", what);
    else {
        printf("%s intact: no entries after entry %llu; entries 1..%llu were exported (check "
               "the exported files with `lienthong audit verify --file`)\n",
               what, (unsigned long long)r->anchor, (unsigned long long)r->anchor);
        s_keys_said(r);
    }
    printf("entries cut off together with every checkpoint after them would not show: compare "
           "with the gateway's gauge lienthong_audit_last_seq (the last entry it committed), "
           "read before this check; above %llu, entries were removed\n",
           (unsigned long long)r->anchor);
}

/* What a check proved, and what it cannot (docs/operations.md, "Audit log"). */
static void s_proved(const char *what, const lt_audit_report_t *r)
{
    char at[32];
    if (r->entries == 0) {
        s_proved_empty(what, r);
        return;
    }
    s_time(r->signed_at_ms, at, sizeof at);
    printf("%s intact: entries %llu..%llu (%ld), hash chain and signed checkpoints verified; "
           "the last entry was signed at %s UTC\n",
           what, (unsigned long long)r->anchor + 1, (unsigned long long)r->last, r->entries, at);
    if (r->anchor)
        printf("entries 1..%llu were exported; the chain goes on from the signed hash of entry "
               "%llu (check the exported files with `lienthong audit verify --file`)\n",
               (unsigned long long)r->anchor, (unsigned long long)r->anchor);
    s_keys_said(r);
    if (r->outages)
        printf("%ld audit outage(s) recorded (event audit-outage): requests were refused, not "
               "answered, while the log could not be written\n",
               r->outages);
    printf("an answer leaves the owner only once its entry is signed and durable, so each answered "
           "request up to entry %llu is here; entries cut off together with every later checkpoint "
           "would not show: compare the last entry with the gateway's gauge "
           "lienthong_audit_last_seq (the last entry it committed), read before this check\n",
           (unsigned long long)r->last);
}

#define MAX_FILES 64 /* --file options */

/* --signing-key options, or a member's keys with those of its past rotations. */
#define MAX_KEYS LT_KEYS_HISTORY_MAX

/* The public signing keys a log or file may be signed under. */
typedef struct {
    uint8_t key[MAX_KEYS][LT_KEY_BYTES];
    const uint8_t *p[MAX_KEYS];
    size_t n;
} keyset_t;

/* Adds key once; -1 when the set is full. */
static int s_key_add(keyset_t *ks, const uint8_t *key)
{
    for (size_t i = 0; i < ks->n; i++)
        if (memcmp(ks->key[i], key, LT_KEY_BYTES) == 0)
            return 0;
    if (ks->n == MAX_KEYS)
        return -1;
    memcpy(ks->key[ks->n], key, LT_KEY_BYTES);
    ks->p[ks->n] = ks->key[ks->n];
    ks->n++;
    return 0;
}

/* The member's signing keys (lt_keys_signing_history): its key file's,
 * the previous one kept by `keys promote` and those before it. 0, or -1
 * with err. */
static int s_own_keys(const char *key_file, keyset_t *ks, char *err, size_t errlen)
{
    size_t n = 0;
    if (lt_keys_signing_history(key_file, ks->key, MAX_KEYS, &n, err, errlen) != 0)
        return -1;
    for (ks->n = 0; ks->n < n; ks->n++)
        ks->p[ks->n] = ks->key[ks->n];
    return 0;
}

/* The live log's path and (when ks) the member's keys, from the gateway
 * config. */
static int s_live(const char *config, lt_gwcfg_t *cfg, char *path, size_t len, keyset_t *ks)
{
    char err[1024];
    if (lt_gwcfg_load(config, cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "audit", "%s", err);
    snprintf(path, len, "%s/audit.db", cfg->data_dir);
    if (ks && s_own_keys(cfg->key_file, ks, err, sizeof err) != 0)
        return lt_cli_fail(1, "audit", "%s", err);
    return 0;
}

/* `audit export`: entries older than the retention go to out, then leave
 * the live log. */
static int s_export(const char *config, const char *out, long days)
{
    static lt_gwcfg_t cfg;
    char path[PATH_MAX + 32], err[1024];
    keyset_t ks = {0};
    int rc = s_live(config, &cfg, path, sizeof path, &ks);
    if (rc)
        return rc;
    if (days < 0 && cfg.audit_retention_days <= 0)
        return lt_cli_fail(2, "audit", "no audit_retention_days in %s: give --older-than DAYS",
                           config);
    if (days < 0)
        days = cfg.audit_retention_days;
    lt_auditarc_export_t res;
    int64_t before = lt_clock_now_ms() - (int64_t)days * 86400000;
    rc = lt_auditarc_export(path, out, cfg.member, before, ks.p, ks.n, &res, err, sizeof err);
    if (rc != 0)
        return lt_cli_fail(1, "audit", "%s", err);
    if (res.entries == 0)
        printf("nothing to export: no signed entry older than %ld day(s)\n", days);
    else
        printf("exported entries %llu..%llu (%ld) to %s, verified, and removed them from the live "
               "log, which now starts after entry %llu\n",
               (unsigned long long)res.first, (unsigned long long)res.last, res.entries, out,
               (unsigned long long)res.last);
    return 0;
}

/* The keys a file may be signed under: the given --signing-key(s), the
 * gateway's own (current and previous), or the current and next signing
 * keys the directory lists for the file's member. */
static int s_keys_for(const char *file, char *const *z85, int n_z85, const char *dir_file,
                      const char *authority, const char *config, keyset_t *ks)
{
    char member[256], err[1024];
    memset(ks, 0, sizeof *ks);
    for (int i = 0; i < n_z85; i++) {
        uint8_t k[LT_KEY_BYTES];
        if (lt_keys_z85_decode(z85[i], k) != 0)
            return lt_cli_fail(2, "audit",
                               "--signing-key: expected a 40-character Z85 key, got '%s'", z85[i]);
        if (s_key_add(ks, k) != 0)
            return lt_cli_fail(2, "audit", "more than %d --signing-key", MAX_KEYS);
    }
    if (n_z85)
        return 0;
    if (config) {
        static lt_gwcfg_t cfg;
        char path[PATH_MAX + 32];
        return s_live(config, &cfg, path, sizeof path, ks);
    }
    lt_dir_pins_t pins = {0};
    if (!dir_file || !authority || lt_dir_pins_add(&pins, authority) != 0)
        return lt_cli_fail(2, "audit",
                           "verify needs --signing-key, --config, or --directory "
                           "with a valid --authority-key\nusage: %s",
                           USAGE);
    if (lt_auditarc_member(file, member, sizeof member, err, sizeof err) != 0)
        return lt_cli_fail(1, "audit", "%s", err);
    lt_dir_t *dir = lt_dir_load(dir_file, &pins, NULL, 0, err, sizeof err);
    const Lienthong__Member *m = dir ? lt_dir_member(dir, member) : NULL;
    int ok = m && m->signing_key.len == LT_KEY_BYTES;
    if (ok) /* the first two of an empty set: room for both */
        (void)s_key_add(ks, m->signing_key.data);
    if (ok && m->next_signing_key.len == LT_KEY_BYTES)
        (void)s_key_add(ks, m->next_signing_key.data);
    lt_dir_destroy(&dir);
    if (!ok)
        return lt_cli_fail(1, "audit", "%s",
                           m || !*err ? "the directory does not list the member "
                                        "of the file"
                                      : err);
    return 0;
}

/* Where the keys to check exported files come from (the options given). */
typedef struct {
    char *const *z85;
    int n_z85;
    const char *dir_file, *authority, *config;
} keysrc_t;

/* Checks each file, and that each continues the previous and, with live
 * (the live log's report), binds keys from the entry it does; says what
 * each check proved when say. The first and last reports in *first and *last.
 * Each file stays open in arcs[i] as checked (lt_auditarc_open), or is
 * closed again when arcs is NULL; the caller destroys arcs either way.
 * 0, or the exit code (the failure printed). */
static int s_check_files(char **files, int n, const keysrc_t *src, int say,
                         const lt_audit_report_t *live, lt_audit_report_t *first,
                         lt_audit_report_t *last, lt_auditarc_t **arcs)
{
    lt_audit_report_t rep;
    char err[1024], what[PATH_MAX + 16];
    keyset_t ks;
    for (int i = 0; i < n; i++) {
        int rc = s_keys_for(files[i], src->z85, src->n_z85, src->dir_file, src->authority,
                            src->config, &ks);
        if (rc)
            return rc;
        lt_auditarc_t *arc = lt_auditarc_open(files[i], ks.p, ks.n, &rep, err, sizeof err);
        if (!arc)
            return lt_cli_fail(1, "audit", "%s: %s", files[i], err);
        if (arcs)
            arcs[i] = arc;
        else
            lt_auditarc_destroy(&arc);
        if (live && lt_auditarc_named_as_live(&rep, live, err, sizeof err) != 0)
            return lt_cli_fail(1, "audit", "%s: %s", files[i], err);
        if (i && lt_auditarc_joins(last, &rep, err, sizeof err) != 0)
            return lt_cli_fail(1, "audit", "%s does not follow %s: %s", files[i], files[i - 1],
                               err);
        snprintf(what, sizeof what, "segment %s", files[i]);
        if (say)
            s_proved(what, &rep);
        if (i == 0)
            *first = rep;
        *last = rep;
    }
    return 0;
}

/* The live log checked as `audit --verify` does, into rep. 0, or the exit
 * code (the failure printed). */
static int s_check_live(const char *path, const lt_gwcfg_t *cfg, lt_audit_report_t *rep)
{
    char err[1024];
    keyset_t ks = {0};
    if (s_own_keys(cfg->key_file, &ks, err, sizeof err) != 0)
        return lt_cli_fail(1, "audit", "%s", err);
    /* ks.p[0] is the key file's (s_own_keys): the newest checkpoint must
     * be its, whatever earlier keys signed before (docs/operations.md,
     * "Verifying the audit log"). */
    if (lt_audit_check_live(path, ks.p, ks.n, ks.p[0], rep, err, sizeof err) != 0)
        return lt_cli_fail(1, "audit", "%s", err);
    return 0;
}

/* What joining the files to the live log proved, or that they were not. */
static void s_joined_said(const char *newest, const lt_audit_report_t *live)
{
    char since[64] = "names no keys";
    if (!live) {
        printf("not joined to the live log: without --config, neither that the live log goes "
               "on from the newest file given nor from which entry the member's log names keys "
               "was checked (give --config where the gateway runs)\n");
        return;
    }
    if (live->named != UINT64_MAX)
        snprintf(since, sizeof since, "names keys after entry %llu",
                 (unsigned long long)live->named);
    printf("joined to the live log: it goes on from entry %llu, the last of %s, with the key in "
           "force there, and each file binds keys as the live log does (it %s)\n",
           (unsigned long long)live->anchor, newest, since);
}

/* `audit verify --file`: each file, and that each continues the previous;
 * with the configuration, that the live log continues the newest and each
 * binds keys from the entry the live log does (docs/operations.md, "Audit
 * retention"): files altered alike through the newest join each other. */
static int s_verify_files(char **files, int n, const keysrc_t *src)
{
    static lt_gwcfg_t cfg;
    char path[PATH_MAX + 32], err[1024];
    lt_audit_report_t first, last, live;
    int rc;
    if (src->config && ((rc = s_live(src->config, &cfg, path, sizeof path, NULL)) != 0 ||
                        (rc = s_check_live(path, &cfg, &live)) != 0))
        return rc;
    if ((rc = s_check_files(files, n, src, 1, src->config ? &live : NULL, &first, &last, NULL)))
        return rc;
    if (src->config && lt_auditarc_joins(&last, &live, err, sizeof err) != 0)
        return lt_cli_fail(1, "audit",
                           "the live log %s does not follow the newest file given, %s: %s; give "
                           "the exported files through the last export, which its anchor names",
                           path, files[n - 1], err);
    s_joined_said(files[n - 1], src->config ? &live : NULL);
    return 0;
}

/* The subject report of one exported file, read through the connection
 * its check used, in the same read transaction (s_check_files): a file
 * replaced since is not what is read. */
static int s_report_file(const char *file, lt_auditarc_t *arc, const char *subject, json_t *arr,
                         int *n)
{
    sqlite3_stmt *st = NULL;
    int rc = 1;
    if (lt_auditarc_by_subject(arc, subject, &st) != 0)
        lt_cli_fail(1, "audit", "%s: %s", file, lt_auditarc_errmsg(arc));
    else
        rc = s_rows(st, arr, n);
    sqlite3_finalize(st);
    return rc;
}

/* `audit --subject KEY --file F...`: the subject-access report of exported
 * segments, each verified, and joining the previous, before it is read. */
static int s_report_files(char **files, int n_files, const char *subject, int json,
                          const keysrc_t *src)
{
    lt_audit_report_t first, last;
    lt_auditarc_t *arcs[MAX_FILES] = {NULL};
    json_t *arr = NULL;
    char *key = NULL;
    int rc = s_check_files(files, n_files, src, 0, NULL, &first, &last, arcs), n = 0;
    if (rc)
        goto out;
    arr = json ? json_array() : NULL;
    key = lt_cli_plain(subject);
    if ((json && !arr) || !key) {
        json_decref(arr);
        rc = lt_cli_fail(1, "audit", "out of memory");
        goto out;
    }
    if (!json)
        printf("who has accessed the record %s, and why, in the exported entries %llu..%llu:\n",
               key, (unsigned long long)first.anchor + 1, (unsigned long long)last.last);
    for (int i = 0; rc == 0 && i < n_files; i++)
        rc = s_report_file(files[i], arcs[i], subject, arr, &n);
    s_end(arr, n);
    if (rc == 0)
        fprintf(s_aside(json),
                "searched entries %llu..%llu in %d exported file(s), each verified "
                "and joined to the one before; the entries of the live log (`lienthong audit "
                "--config FILE --subject %s`) and of other exported files are not included\n",
                (unsigned long long)first.anchor + 1, (unsigned long long)last.last, n_files, key);
out:
    free(key);
    for (int i = 0; i < n_files; i++)
        lt_auditarc_destroy(&arcs[i]);
    return rc;
}

/* The live log: chain, checkpoints and what that proves. */
static int s_verify_live(const char *path, const lt_gwcfg_t *cfg)
{
    lt_audit_report_t rep;
    int rc = s_check_live(path, cfg, &rep);
    if (rc == 0)
        s_proved("audit log", &rep);
    return rc;
}

/* Why option `name` does not go with the form sub (NULL: the report, or
 * "export" or "verify"), or NULL when it does. A form never ignores an
 * option silently: `--verify --file F` checking the live log instead of F
 * looks like success. */
static const char *s_misplaced(const char *sub, const char *name)
{
    static const char *const takes[][12] = {
        /* the report: --file and its keys for exported files (s_report_checks) */
        {"config", "subject", "last", "verify", "json", "file", "signing-key", "directory",
         "authority-key", NULL},
        {"config", "out", "older-than", NULL},
        {"file", "signing-key", "directory", "authority-key", "config", NULL},
    };
    static char why[96];
    int form = !sub ? 0 : strcmp(sub, "export") == 0 ? 1 : 2;
    for (const char *const *t = takes[form]; *t; t++)
        if (strcmp(*t, name) == 0)
            return NULL;
    snprintf(why, sizeof why, "--%s does not go with `lienthong audit%s%s`", name, sub ? " " : "",
             sub ? sub : "");
    return why;
}

/* What the report's options rule out together: exported files are read
 * only for --subject, and the keys to check them go only with them. NULL
 * when nothing, or why, naming the option. */
static const char *s_report_checks(int n_files, const char *subject, int have_last, int verify,
                                   int have_keys)
{
    if (!n_files)
        return have_keys ? "--signing-key, --directory and --authority-key go with --file (or "
                           "`lienthong audit verify`)"
                         : NULL;
    if (verify)
        return "--verify does not go with `lienthong audit --file`: each file is verified before "
               "it is searched (`lienthong audit verify --file` checks files alone)";
    if (!subject || have_last)
        return "--file goes with --subject: exported files are searched for one record key";
    return NULL;
}

/* What the command line asked for. */
typedef struct {
    const char *sub; /* NULL: the report; "export" or "verify" */
    const char *config, *subject, *out, *dir_file, *authority;
    char *files[MAX_FILES], *z85[MAX_KEYS];
    int last, verify, json, n_files, n_z85, have_last;
    long days;
    const char *misplaced; /* an option the form used does not take */
} audit_args_t;

static const struct option s_opts[] = {{"config", 1, 0, 'c'},
                                       {"subject", 1, 0, 's'},
                                       {"last", 1, 0, 'n'},
                                       {"verify", 0, 0, 'v'},
                                       {"json", 0, 0, 'j'},
                                       {"out", 1, 0, 'o'},
                                       {"older-than", 1, 0, 'd'},
                                       {"file", 1, 0, 'f'},
                                       {"signing-key", 1, 0, 'k'},
                                       {"directory", 1, 0, 'D'},
                                       {"authority-key", 1, 0, 'a'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};

/* The options with a number: -1 taken, else the exit status. */
static int s_number_opt(audit_args_t *a, int c)
{
    long l;
    if (c == 'n') {
        if (lt_cli_int_opt("audit", "--last", optarg, 1, INT_MAX, "a whole number", &l))
            return 2;
        a->last = (int)l;
        a->have_last = 1;
    } else if (lt_cli_int_opt("audit", "--older-than", optarg, 0, LT_AUDIT_RETENTION_DAYS_MAX,
                              "whole days", &a->days)) {
        return 2;
    }
    return -1;
}

/* One option c (with optarg): -1 taken, else the exit status (0 after
 * --help, 2 for a bad option or too many --file or --signing-key). */
static int s_option(audit_args_t *a, int c, char **argv)
{
    if (c == 'c')
        a->config = optarg;
    else if (c == 's')
        a->subject = optarg;
    else if (c == 'v')
        a->verify = 1;
    else if (c == 'j')
        a->json = 1;
    else if (c == 'o')
        a->out = optarg;
    else if (c == 'k' && a->n_z85 >= MAX_KEYS)
        return lt_cli_fail(2, "audit", "more than %d --signing-key", MAX_KEYS);
    else if (c == 'k')
        a->z85[a->n_z85++] = optarg;
    else if (c == 'D')
        a->dir_file = optarg;
    else if (c == 'a')
        a->authority = optarg;
    else if (c == 'f' && a->n_files >= MAX_FILES)
        return lt_cli_fail(2, "audit", "more than %d --file", MAX_FILES);
    else if (c == 'f')
        a->files[a->n_files++] = optarg;
    else if (c == 'n' || c == 'd')
        return s_number_opt(a, c);
    else if (c == 'h') {
        printf("usage: %s\n", USAGE);
        return 0;
    } else
        return lt_cli_bad_opt("audit", c, s_opts, argv, USAGE);
    return -1;
}

/* Reads the command line into a: -1 when the command is to run, else its
 * exit status. The first option the form does not take is kept, and
 * refused once every option is read (a bad option is named first). */
static int s_parse(int argc, char **argv, audit_args_t *a)
{
    int c, rc;
    *a = (audit_args_t){.last = 50, .days = -1};
    if (argc > 1 && (strcmp(argv[1], "export") == 0 || strcmp(argv[1], "verify") == 0))
        a->sub = argv[1], argc--, argv++;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", s_opts)) != -1) {
        const char *given = c != 'h' ? lt_cli_opt_name(s_opts, c) : NULL;
        if (given && !a->misplaced)
            a->misplaced = s_misplaced(a->sub, given);
        if ((rc = s_option(a, c, argv)) >= 0)
            return rc;
    }
    if (optind < argc)
        return lt_cli_bad_arg("audit", argv[optind], USAGE);
    if (a->misplaced)
        return lt_cli_fail(2, "audit", "%s\nusage: %s", a->misplaced, USAGE);
    if (a->subject && a->have_last)
        return lt_cli_fail(2, "audit", "--subject and --last do not go together\nusage: %s", USAGE);
    return -1;
}

/* The report of the live log: checked first with --verify (and, without
 * --subject, only checked). */
static int s_run_live(const audit_args_t *a)
{
    static lt_gwcfg_t cfg;
    char path[PATH_MAX + 32];
    int rc = s_live(a->config, &cfg, path, sizeof path, NULL);
    if (rc)
        return rc;
    if (a->verify && ((rc = s_verify_live(path, &cfg)) != 0 || !a->subject))
        return rc;
    return s_report(path, a->subject, a->last, a->json);
}

int lt_cmd_audit(int argc, char **argv)
{
    audit_args_t a;
    int rc = s_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const keysrc_t src = {a.z85, a.n_z85, a.dir_file, a.authority, a.config};
    if (a.sub && strcmp(a.sub, "verify") == 0) {
        if (!a.n_files)
            return lt_cli_fail(2, "audit", "missing --file FILE\nusage: %s", USAGE);
        return s_verify_files(a.files, a.n_files, &src);
    }
    const char *why = NULL;
    if (!a.sub && (why = s_report_checks(a.n_files, a.subject, a.have_last, a.verify,
                                         a.n_z85 || a.dir_file || a.authority)))
        return lt_cli_fail(2, "audit", "%s\nusage: %s", why, USAGE);
    if (a.n_files)
        return s_report_files(a.files, a.n_files, a.subject, a.json, &src);
    if (!a.config)
        return lt_cli_fail(2, "audit", "missing --config FILE\nusage: %s", USAGE);
    if (a.sub) {
        if (!a.out)
            return lt_cli_fail(2, "audit", "missing --out FILE\nusage: %s", USAGE);
        return s_export(a.config, a.out, a.days);
    }
    return s_run_live(&a);
}
