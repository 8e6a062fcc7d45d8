/* test_keyscmd: CUnit suite for `lienthong keys promote` (cli/cmd_keys.c),
 * linked in process with the command line's sources, for what only failing
 * system calls show (docs/operations.md, "Rotating keys", step 4): a
 * promote whose audit record fails puts the keys in use back in the key
 * file, and never deletes the switch file, their last copy, unless the key
 * file holds them again; the files it removes after a promote are synced
 * away; the .pub file is replaced atomically, and a failure to write it
 * after a promote is a warning. lt_keys_save, rename, unlink and
 * lt_file_sync_dir are wrapped (CMakeLists.txt). Also lt_cli_jtext, which
 * the text printers of replies (profile, prefill, lookup) read with. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_cli.h"
#include "lt_file.h"
#include "lt_keys.h"
#include "lt_log.h"

#include <errno.h>
#include <sodium.h>

int __real_lt_keys_save(const lt_keys_t *self, const char *path);
int __wrap_lt_keys_save(const lt_keys_t *self, const char *path);
int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __real_unlink(const char *path);
int __wrap_unlink(const char *path);
int __real_lt_file_sync_dir(const char *path);
int __wrap_lt_file_sync_dir(const char *path);

static char g_dir[256], g_key[300], g_conf[300];
/* Saves to the key file left to pass before the next ones fail with
 * ENOSPC (-1: none fails), as a full disk would. */
static int g_key_saves_ok = -1;
/* Whether a rename from the switch file fails (EIO). */
static int g_fail_switch_rename;
/* Calls seen: 'u' for an unlink that removed a file, 's' for a directory
 * sync, in order. */
static char g_calls[64];

static void s_call(char c)
{
    size_t n = strlen(g_calls);
    if (n + 1 < sizeof g_calls)
        g_calls[n] = c;
}

int __wrap_lt_keys_save(const lt_keys_t *self, const char *path)
{
    if (strcmp(path, g_key) == 0 && g_key_saves_ok == 0) {
        errno = ENOSPC;
        return -1;
    }
    if (strcmp(path, g_key) == 0 && g_key_saves_ok > 0)
        g_key_saves_ok--;
    return __real_lt_keys_save(self, path);
}

int __wrap_rename(const char *from, const char *to)
{
    size_t n = strlen(from);
    if (g_fail_switch_rename && n > 11 && strcmp(from + n - 11, ".switch.key") == 0) {
        errno = EIO;
        return -1;
    }
    return __real_rename(from, to);
}

int __wrap_unlink(const char *path)
{
    int rc = __real_unlink(path);
    if (rc == 0)
        s_call('u');
    return rc;
}

int __wrap_lt_file_sync_dir(const char *path)
{
    s_call('s');
    return __real_lt_file_sync_dir(path);
}

static int suite_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* A fresh key directory with member.key (keys *cur) and member.next.key
 * (*next), and a gateway configuration whose data_dir holds an audit.db
 * that is no SQLite database when bad_audit: recording the switch fails. */
static void s_setup(lt_keys_t **cur, lt_keys_t **next, int bad_audit)
{
    char path[400], z[LT_Z85_KEY_LEN + 1], text[1024];
    uint8_t pin[LT_KEY_BYTES] = {7};
    CU_ASSERT_FATAL(ut_mkdtemp(g_dir, sizeof g_dir, "keyscmd") == 0);
    snprintf(g_key, sizeof g_key, "%s/member.key", g_dir);
    snprintf(g_conf, sizeof g_conf, "%s/gateway.conf", g_dir);
    *cur = lt_keys_new(LT_KEYS_MEMBER);
    *next = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(*cur && *next);
    snprintf(path, sizeof path, "%s/member.next.key", g_dir);
    CU_ASSERT_FATAL(lt_keys_save(*cur, g_key) == 0 && lt_keys_save(*next, path) == 0);
    snprintf(path, sizeof path, "%s/member.next.pub", g_dir);
    CU_ASSERT_FATAL(ut_write_text(path, "next public keys\n") == 0);
    snprintf(path, sizeof path, "%s/member.pub", g_dir);
    CU_ASSERT_FATAL(ut_write_text(path, "current public keys\n") == 0);
    snprintf(path, sizeof path, "%s/data", g_dir);
    CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/data/audit.db", g_dir);
    CU_ASSERT_FATAL(!bad_audit || ut_write_text(path, "not a database, not even close\n") == 0);
    lt_keys_z85_encode(pin, z);
    snprintf(text, sizeof text,
             "member = \"VN/GOV/BCA\";\nlisten = \"tcp://127.0.0.1:7400\";\n"
             "key_file = \"member.key\";\ndirectory = \"directory.signed\";\n"
             "data_dir = \"data\";\nauthority_keys = [ \"%s\" ];\n",
             z);
    CU_ASSERT_FATAL(ut_write_text(g_conf, text) == 0);
    g_key_saves_ok = -1;
    g_fail_switch_rename = 0;
    g_calls[0] = 0;
}

static void s_teardown(lt_keys_t **cur, lt_keys_t **next)
{
    lt_keys_destroy(cur);
    lt_keys_destroy(next);
    g_key_saves_ok = -1;
    g_fail_switch_rename = 0;
    CU_ASSERT(ut_rmrf(g_dir) == 0);
}

/* Runs `keys promote --config` (with_config) or `keys promote --key --force`,
 * its stderr captured into err[cap]; the exit status. */
static int s_promote(int with_config, char *err, size_t cap)
{
    char cap_path[400];
    snprintf(cap_path, sizeof cap_path, "%s/stderr", g_dir);
    char *a_conf[] = {"keys", "promote", "--config", g_conf, "--force", NULL};
    char *a_key[] = {"keys", "promote", "--key", g_key, "--force", NULL};
    fflush(stderr);
    int saved = dup(2), fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    int rc = lt_cmd_keys(5, with_config ? a_conf : a_key);
    ut_captured(saved, cap_path, err, cap);
    close(saved);
    (void)__real_unlink(cap_path); /* not one of the calls watched */
    return rc;
}

/* 1 when path holds keys k. */
static int s_holds(const char *path, const lt_keys_t *k)
{
    char err[512];
    lt_keys_t *on = lt_keys_load(path, err, sizeof err);
    int same =
        on && memcmp(lt_keys_signing_public(on), lt_keys_signing_public(k), LT_KEY_BYTES) == 0;
    lt_keys_destroy(&on);
    return same;
}

static int s_exists(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return access(path, F_OK) == 0;
}

/* The audit record fails after member.key took the next keys, and so does
 * any write of member.key (a full disk): the switch file holds exactly the
 * keys in use and is renamed back, needing no free blocks. */
static void test_undo_renames_back(void)
{
    lt_keys_t *cur, *next;
    char err[8192];
    s_setup(&cur, &next, 1);
    g_key_saves_ok = 1; /* the next keys go in; putting the current ones back fails */
    CU_ASSERT_EQUAL(s_promote(1, err, sizeof err), 1);
    CU_ASSERT(strstr(err, "nothing promoted") != NULL);
    CU_ASSERT(s_holds(g_key, cur));
    CU_ASSERT(!s_exists("member.switch.key"));
    CU_ASSERT(s_exists("member.next.key"));
    s_teardown(&cur, &next);
}

/* Neither the rename nor the write can put the keys in use back: the
 * switch file, their last copy, stays, and promote says where each keys
 * are and what to do, with exit status 3. */
static void test_undo_keeps_switch_file(void)
{
    lt_keys_t *cur, *next;
    char err[8192], sw[400];
    s_setup(&cur, &next, 1);
    snprintf(sw, sizeof sw, "%s/member.switch.key", g_dir);
    g_key_saves_ok = 1;
    g_fail_switch_rename = 1;
    CU_ASSERT_EQUAL(s_promote(1, err, sizeof err), 3);
    CU_ASSERT(s_holds(sw, cur));
    CU_ASSERT(s_holds(g_key, next));
    CU_ASSERT(strstr(err, "member.key holds the next keys") != NULL);
    CU_ASSERT(strstr(err, "member.switch.key holds the keys in use") != NULL);
    CU_ASSERT(strstr(err, "nothing promoted") == NULL);
    s_teardown(&cur, &next);
}

/* Only the rename fails: the keys in use are written back, and then the
 * switch file goes. */
static void test_undo_writes_back(void)
{
    lt_keys_t *cur, *next;
    char err[8192];
    s_setup(&cur, &next, 1);
    g_fail_switch_rename = 1;
    CU_ASSERT_EQUAL(s_promote(1, err, sizeof err), 1);
    CU_ASSERT(s_holds(g_key, cur));
    CU_ASSERT(!s_exists("member.switch.key"));
    s_teardown(&cur, &next);
}

/* After a promote, the removal of member.next.key and member.next.pub is
 * synced: a power loss would bring them back, and the next rotation's
 * `keygen --next` would refuse. member.pub is replaced, not rewritten in
 * place (a crash would leave it empty): a link to the previous one keeps
 * its text. */
static void test_promote_syncs_and_replaces_pub(void)
{
    lt_keys_t *cur, *next;
    char err[8192], pub[400], link_path[400];
    uint8_t *text = NULL;
    size_t len = 0;
    s_setup(&cur, &next, 0);
    snprintf(pub, sizeof pub, "%s/member.pub", g_dir);
    snprintf(link_path, sizeof link_path, "%s/member.pub.link", g_dir);
    CU_ASSERT_FATAL(link(pub, link_path) == 0);
    CU_ASSERT_EQUAL(s_promote(0, err, sizeof err), 0);
    CU_ASSERT(s_holds(g_key, next));
    CU_ASSERT(!s_exists("member.next.key") && !s_exists("member.next.pub"));
    const char *last_unlink = strrchr(g_calls, 'u');
    CU_ASSERT(last_unlink && strchr(last_unlink, 's'));
    CU_ASSERT_FATAL(lt_file_read(link_path, 4096, &text, &len) == 0);
    CU_ASSERT(strcmp((char *)text, "current public keys\n") == 0);
    free(text);
    CU_ASSERT_FATAL(lt_file_read(pub, 4096, &text, &len) == 0);
    CU_ASSERT(strstr((char *)text, "transport_key = ") != NULL);
    free(text);
    s_teardown(&cur, &next);
}

/* member.pub cannot be written after member.key took the next keys: the
 * promote is done, so it exits 0 with a warning naming the file, and
 * member.next.pub, which holds the same public keys, stays. */
static void test_pub_failure_is_warning(void)
{
    lt_keys_t *cur, *next;
    char err[8192], pub[400];
    s_setup(&cur, &next, 0);
    snprintf(pub, sizeof pub, "%s/member.pub", g_dir);
    CU_ASSERT_FATAL(unlink(pub) == 0 && mkdir(pub, 0700) == 0);
    CU_ASSERT_EQUAL(s_promote(0, err, sizeof err), 0);
    CU_ASSERT(s_holds(g_key, next));
    CU_ASSERT(strstr(err, "promoted") != NULL);
    CU_ASSERT(strstr(err, pub) != NULL);
    CU_ASSERT(s_exists("member.next.pub"));
    CU_ASSERT(!s_exists("member.next.key"));
    CU_ASSERT(rmdir(pub) == 0);
    s_teardown(&cur, &next);
}

/* A member absent, or not text, reads as the fallback the printer names,
 * never NULL (which went to "%s" before). */
static void test_jtext_fallback(void)
{
    json_t *o = json_pack("{s:s,s:i,s:s}", "detail", "late", "seq", 3, "empty", "");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_STRING_EQUAL(lt_cli_jtext(o, "detail", "-"), "late");
    CU_ASSERT_STRING_EQUAL(lt_cli_jtext(o, "empty", "-"), "");
    CU_ASSERT_STRING_EQUAL(lt_cli_jtext(o, "owner", "-"), "-");
    CU_ASSERT_STRING_EQUAL(lt_cli_jtext(o, "seq", ""), "");
    CU_ASSERT_STRING_EQUAL(lt_cli_jtext(NULL, "detail", "unknown"), "unknown");
    json_decref(o);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"undo renames the switch file back", test_undo_renames_back},
        {"lt_cli_jtext: a member absent or not text reads as the fallback", test_jtext_fallback},
        {"undo keeps the switch file it cannot restore", test_undo_keeps_switch_file},
        {"undo writes the keys back when the rename fails", test_undo_writes_back},
        {"promote syncs its removals and replaces member.pub", test_promote_syncs_and_replaces_pub},
        {"a member.pub that cannot be written is a warning", test_pub_failure_is_warning},
        {NULL, NULL},
    };
    lt_log_set_level(LT_LOG_ERROR);
    return ut_main("keyscmd", suite_init, NULL, tests);
}
