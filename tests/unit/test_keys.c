/* test_keys: CUnit suite for keys/lt_keys: generation, key separation, the
 * 73-byte secret file (mode, size, magic, known answers), Ed25519 signing with
 * domain separation, strict Z85 decoding, and the retired file of public
 * keys (appended to, read in order, strict about its lines). */
#include "unit_util.h"

#include "lt_keys.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/wait.h>

static char g_dir[512];

static int suite_init(void)
{
    if (sodium_init() < 0)
        return -1;
    umask(022); /* the save test must prove the mode is exact despite a umask */
    return ut_mkdtemp(g_dir, sizeof g_dir, "keys");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* Writes a key file by hand in the documented 73-byte layout. */
static int write_key_file(const char *path, uint8_t kind, const uint8_t xsk[32],
                          const uint8_t seed[32], mode_t mode)
{
    uint8_t file[73];
    memcpy(file, "LTKEY1\0\0", 8);
    file[8] = kind;
    memcpy(file + 9, xsk, 32);
    memcpy(file + 41, seed, 32);
    return ut_write_file(path, file, sizeof file, mode);
}

static void test_new_member_keys(void)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT(lt_keys_kind(k) == LT_KEYS_MEMBER);
    const uint8_t *tp = lt_keys_transport_public(k), *sp = lt_keys_signing_public(k);
    CU_ASSERT_FATAL(tp != NULL && sp != NULL);
    CU_ASSERT(memcmp(tp, sp, 32) != 0);
    CU_ASSERT_FATAL(lt_keys_transport_secret(k) != NULL);
    uint8_t derived[32];
    CU_ASSERT(crypto_scalarmult_base(derived, lt_keys_transport_secret(k)) == 0);
    CU_ASSERT(memcmp(derived, tp, 32) == 0);
    /* The signing key is not the Ed25519 image of the transport secret. */
    uint8_t pk[32], sk[64];
    CU_ASSERT(crypto_sign_seed_keypair(pk, sk, lt_keys_transport_secret(k)) == 0);
    CU_ASSERT(memcmp(pk, sp, 32) != 0);
    CU_ASSERT(memcmp(lt_keys_transport_secret(k), sp, 32) != 0);
    lt_keys_destroy(&k);
    CU_ASSERT(k == NULL);
    lt_keys_destroy(&k); /* idempotent */
    lt_keys_destroy(NULL);
}

static void test_two_sets_differ(void)
{
    lt_keys_t *a = lt_keys_new(LT_KEYS_MEMBER), *b = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT(memcmp(lt_keys_transport_public(a), lt_keys_transport_public(b), 32) != 0);
    CU_ASSERT(memcmp(lt_keys_signing_public(a), lt_keys_signing_public(b), 32) != 0);
    CU_ASSERT(memcmp(lt_keys_transport_public(a), lt_keys_signing_public(b), 32) != 0);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
}

static void test_authority_has_no_transport(void)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT(lt_keys_kind(k) == LT_KEYS_AUTHORITY);
    CU_ASSERT(lt_keys_transport_public(k) == NULL);
    CU_ASSERT(lt_keys_transport_secret(k) == NULL);
    CU_ASSERT(lt_keys_signing_public(k) != NULL);
    char path[600], err[512] = "";
    path_of(path, sizeof path, "authority.key");
    CU_ASSERT_FATAL(lt_keys_save(k, path) == 0);
    lt_keys_t *l = lt_keys_load(path, err, sizeof err);
    CU_ASSERT_FATAL(l != NULL);
    CU_ASSERT(lt_keys_kind(l) == LT_KEYS_AUTHORITY);
    CU_ASSERT(lt_keys_transport_public(l) == NULL);
    CU_ASSERT(memcmp(lt_keys_signing_public(k), lt_keys_signing_public(l), 32) == 0);
    lt_keys_destroy(&k);
    lt_keys_destroy(&l);
}

static void test_save_mode_and_round_trip(void)
{
    char path[600], err[512] = "";
    path_of(path, sizeof path, "member.key");
    /* An existing, looser file must end up 0600 too. */
    CU_ASSERT_FATAL(ut_write_file(path, "x", 1, 0644) == 0);
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT_FATAL(lt_keys_save(k, path) == 0);
    struct stat st;
    CU_ASSERT_FATAL(stat(path, &st) == 0);
    CU_ASSERT((st.st_mode & 07777) == 0600);
    CU_ASSERT(st.st_size == 73);
    lt_keys_t *l = lt_keys_load(path, err, sizeof err);
    CU_ASSERT_FATAL(l != NULL);
    CU_ASSERT(lt_keys_kind(l) == LT_KEYS_MEMBER);
    CU_ASSERT(memcmp(lt_keys_transport_public(k), lt_keys_transport_public(l), 32) == 0);
    CU_ASSERT(memcmp(lt_keys_signing_public(k), lt_keys_signing_public(l), 32) == 0);
    CU_ASSERT(memcmp(lt_keys_transport_secret(k), lt_keys_transport_secret(l), 32) == 0);
    /* A signature made by the loaded keys verifies under the original public key. */
    uint8_t sig[64];
    CU_ASSERT(lt_keys_sign(l, "test", (const uint8_t *)"m", 1, sig) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(k), "test", (const uint8_t *)"m", 1, sig) == 0);
    lt_keys_destroy(&k);
    lt_keys_destroy(&l);
}

static void test_load_refuses_loose_mode(void)
{
    static const mode_t modes[] = {0644, 0640, 0604, 0660};
    uint8_t xsk[32] = {1}, seed[32] = {2};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char path[600], err[512] = "";
        path_of(path, sizeof path, "loose.key");
        CU_ASSERT_FATAL(write_key_file(path, 1, xsk, seed, modes[i]) == 0);
        lt_keys_t *k = lt_keys_load(path, err, sizeof err);
        CU_ASSERT(k == NULL);
        CU_ASSERT(strstr(err, "chmod") != NULL);
        CU_ASSERT(strstr(err, path) != NULL);
        lt_keys_destroy(&k);
    }
    /* The same bytes at 0600 (and 0400) load. */
    for (int m = 0; m < 2; m++) {
        char path[600], err[512] = "";
        path_of(path, sizeof path, "tight.key");
        CU_ASSERT_FATAL(write_key_file(path, 1, xsk, seed, m ? 0400 : 0600) == 0);
        lt_keys_t *k = lt_keys_load(path, err, sizeof err);
        CU_ASSERT(k != NULL);
        lt_keys_destroy(&k);
        CU_ASSERT(unlink(path) == 0);
    }
}

static void expect_load_fails(const char *name, const void *data, size_t len, const char *needle)
{
    char path[600], err[512] = "";
    path_of(path, sizeof path, name);
    CU_ASSERT_FATAL(ut_write_file(path, data, len, 0600) == 0);
    lt_keys_t *k = lt_keys_load(path, err, sizeof err);
    CU_ASSERT(k == NULL);
    CU_ASSERT(err[0] != 0);
    if (needle)
        CU_ASSERT(strstr(err, needle) != NULL);
    lt_keys_destroy(&k);
}

/* A symbolic link to a good key file, a FIFO and (as root, who can give
 * a file away) a key file of another user are refused, each naming the
 * path given. */
static void test_load_refuses_link_and_owner(void)
{
    uint8_t xsk[32] = {1}, seed[32] = {2};
    char path[600], link[600], fifo[600], err[512] = "";
    path_of(path, sizeof path, "owned.key");
    path_of(link, sizeof link, "link.key");
    path_of(fifo, sizeof fifo, "fifo.key");
    CU_ASSERT_FATAL(write_key_file(path, 1, xsk, seed, 0600) == 0);
    CU_ASSERT_FATAL(symlink(path, link) == 0 && mkfifo(fifo, 0600) == 0);
    lt_keys_t *k = lt_keys_load(link, err, sizeof err);
    CU_ASSERT(k == NULL && strstr(err, link) && strstr(err, "symbolic link"));
    lt_keys_destroy(&k);
    k = lt_keys_load(fifo, err, sizeof err);
    CU_ASSERT(k == NULL && strstr(err, fifo) && strstr(err, "not a lienthong key file"));
    lt_keys_destroy(&k);
    if (geteuid() == 0) {
        CU_ASSERT_FATAL(chown(path, 65534, 65534) == 0);
        k = lt_keys_load(path, err, sizeof err);
        CU_ASSERT(k == NULL && strstr(err, path) && strstr(err, "owned by") &&
                  strstr(err, "uid 65534") && strstr(err, "chown"));
        lt_keys_destroy(&k);
        CU_ASSERT(chown(path, 0, 0) == 0);
    }
    k = lt_keys_load(path, err, sizeof err);
    CU_ASSERT(k != NULL);
    lt_keys_destroy(&k);
    CU_ASSERT(unlink(link) == 0 && unlink(fifo) == 0 && unlink(path) == 0);
}

static void test_load_refuses_bad_files(void)
{
    uint8_t file[80];
    memset(file, 0, sizeof file);
    memcpy(file, "LTKEY1\0\0", 8);
    file[8] = 1;
    expect_load_fails("short.key", file, 72, "73 bytes");
    expect_load_fails("long.key", file, 74, "73 bytes");
    expect_load_fails("empty.key", file, 0, "73 bytes");
    file[0] = 'X';
    expect_load_fails("magic.key", file, 73, "magic");
    file[0] = 'L';
    file[7] = 1;
    expect_load_fails("magic2.key", file, 73, "magic");
    file[7] = 0;
    file[8] = 3;
    expect_load_fails("kind3.key", file, 73, "kind");
    file[8] = 0;
    expect_load_fails("kind0.key", file, 73, "kind");
    char err[512] = "", path[600];
    path_of(path, sizeof path, "does-not-exist.key");
    CU_ASSERT(lt_keys_load(path, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, "cannot open") != NULL);
}

static void test_known_answer_from_libsodium(void)
{
    uint8_t seed[32], xsk[32], want_sp[32], want_sk[64], want_tp[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
        xsk[i] = (uint8_t)(0x40 + i);
    }
    CU_ASSERT_FATAL(crypto_sign_seed_keypair(want_sp, want_sk, seed) == 0);
    CU_ASSERT_FATAL(crypto_scalarmult_base(want_tp, xsk) == 0);
    char path[600], err[512] = "";
    path_of(path, sizeof path, "kat.key");
    CU_ASSERT_FATAL(write_key_file(path, 1, xsk, seed, 0600) == 0);
    lt_keys_t *k = lt_keys_load(path, err, sizeof err);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT(memcmp(lt_keys_signing_public(k), want_sp, 32) == 0);
    CU_ASSERT(memcmp(lt_keys_transport_public(k), want_tp, 32) == 0);
    CU_ASSERT(memcmp(lt_keys_transport_secret(k), xsk, 32) == 0);
    /* Save must write back the very same 73 bytes. */
    char again[600];
    path_of(again, sizeof again, "kat-again.key");
    CU_ASSERT_FATAL(lt_keys_save(k, again) == 0);
    uint8_t a[73], b[73];
    FILE *fa = fopen(path, "rb"), *fb = fopen(again, "rb");
    CU_ASSERT_FATAL(fa && fb);
    CU_ASSERT(fread(a, 1, 73, fa) == 73 && fread(b, 1, 73, fb) == 73);
    fclose(fa);
    fclose(fb);
    CU_ASSERT(memcmp(a, b, 73) == 0);
    lt_keys_destroy(&k);
}

static void test_known_answer_rfc_vectors(void)
{
    /* RFC 8032 7.1 TEST 1 (Ed25519) and RFC 7748 6.1 Alice (X25519). */
    uint8_t seed[32], want_sp[32], xsk[32], want_tp[32], want_sig[64];
    CU_ASSERT_FATAL(ut_unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                             seed, 32) == 0);
    CU_ASSERT_FATAL(ut_unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                             want_sp, 32) == 0);
    CU_ASSERT_FATAL(
        ut_unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", xsk, 32) == 0);
    CU_ASSERT_FATAL(ut_unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
                             want_tp, 32) == 0);
    CU_ASSERT_FATAL(ut_unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                             "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                             want_sig, 64) == 0);
    char path[600], err[512] = "";
    path_of(path, sizeof path, "rfc.key");
    CU_ASSERT_FATAL(write_key_file(path, 1, xsk, seed, 0600) == 0);
    lt_keys_t *k = lt_keys_load(path, err, sizeof err);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT(memcmp(lt_keys_signing_public(k), want_sp, 32) == 0);
    CU_ASSERT(memcmp(lt_keys_transport_public(k), want_tp, 32) == 0);
    /* RFC 8032 TEST 1 signs the empty message; ours signs domain || 0x00 || msg,
     * so the plain RFC signature must NOT verify under our scheme. */
    CU_ASSERT(crypto_sign_verify_detached(want_sig, (const uint8_t *)"", 0, want_sp) == 0);
    CU_ASSERT(lt_keys_verify(want_sp, "", (const uint8_t *)"", 0, want_sig) != 0);
    lt_keys_destroy(&k);
}

static void test_sign_verify(void)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER), *other = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k && other);
    uint8_t msg[100], sig[64];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    const uint8_t *pk = lt_keys_signing_public(k);
    CU_ASSERT_FATAL(lt_keys_sign(k, "lienthong/1 test", msg, sizeof msg, sig) == 0);
    CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test", msg, sizeof msg, sig) == 0);
    /* The construction is exactly Ed25519 over domain || 0x00 || msg. */
    uint8_t buf[16 + 1 + 100];
    memcpy(buf, "lienthong/1 test", 16);
    buf[16] = 0;
    memcpy(buf + 17, msg, sizeof msg);
    CU_ASSERT(crypto_sign_verify_detached(sig, buf, sizeof buf, pk) == 0);
    for (size_t bit = 0; bit < sizeof msg * 8; bit += 13) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test", msg, sizeof msg, sig) != 0);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 64 * 8; bit += 5) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test", msg, sizeof msg, sig) != 0);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CU_ASSERT(lt_keys_verify(pk, "lienthong/1 tesT", msg, sizeof msg, sig) != 0);
    CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test ", msg, sizeof msg, sig) != 0);
    CU_ASSERT(lt_keys_verify(pk, "", msg, sizeof msg, sig) != 0);
    CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test", msg, sizeof msg - 1, sig) != 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(other), "lienthong/1 test", msg, sizeof msg,
                             sig) != 0);
    CU_ASSERT(
        lt_keys_verify(lt_keys_transport_public(k), "lienthong/1 test", msg, sizeof msg, sig) != 0);
    CU_ASSERT(lt_keys_verify(pk, "lienthong/1 test", msg, sizeof msg, sig) == 0);
    lt_keys_destroy(&k);
    lt_keys_destroy(&other);
}

static void test_sign_domain_boundary(void)
{
    /* "ab" || 0 || "c" must differ from "a" || 0 || "bc". */
    lt_keys_t *k = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k != NULL);
    uint8_t sig[64];
    CU_ASSERT_FATAL(lt_keys_sign(k, "ab", (const uint8_t *)"c", 1, sig) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(k), "ab", (const uint8_t *)"c", 1, sig) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(k), "a", (const uint8_t *)"bc", 2, sig) != 0);
    CU_ASSERT_FATAL(lt_keys_sign(k, "d", NULL, 0, sig) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(k), "d", NULL, 0, sig) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(k), "d", (const uint8_t *)"", 1, sig) != 0);
    lt_keys_destroy(&k);
}

static void test_z85(void)
{
    uint8_t key[32], back[32];
    char text[LT_Z85_KEY_LEN + 1];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(255 - i * 3);
    lt_keys_z85_encode(key, text);
    CU_ASSERT(strlen(text) == 40);
    CU_ASSERT_FATAL(lt_keys_z85_decode(text, back) == 0);
    CU_ASSERT(memcmp(key, back, 32) == 0);
    /* The all-zero key encodes as forty '0' characters. */
    memset(key, 0, 32);
    lt_keys_z85_encode(key, text);
    CU_ASSERT_STRING_EQUAL(text, "0000000000000000000000000000000000000000");
    char t39[40], t41[42];
    memcpy(t39, text, 39);
    t39[39] = 0;
    memcpy(t41, text, 40);
    t41[40] = '0';
    t41[41] = 0;
    CU_ASSERT(lt_keys_z85_decode(t39, back) == -1);
    CU_ASSERT(lt_keys_z85_decode(t41, back) == -1);
    CU_ASSERT(lt_keys_z85_decode("", back) == -1);
    CU_ASSERT(lt_keys_z85_decode(NULL, back) == -1);
    static const char bad[] = " \"',;\\_`|~\x7f\x80";
    for (const char *b = bad; *b; b++) {
        char t[41];
        memcpy(t, text, 41);
        t[17] = *b;
        CU_ASSERT(lt_keys_z85_decode(t, back) == -1);
    }
}

/* Key rotation: a swap moves the key material in place, so every holder
 * of the object signs with the new keys; the next and old files' names. */
static void test_swap_and_paths(void)
{
    lt_keys_t *a = lt_keys_new(LT_KEYS_MEMBER), *b = lt_keys_new(LT_KEYS_MEMBER);
    lt_keys_t *auth = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(a && b && auth);
    uint8_t apk[32], bpk[32], sig[LT_SIG_BYTES];
    memcpy(apk, lt_keys_signing_public(a), 32);
    memcpy(bpk, lt_keys_signing_public(b), 32);
    const lt_keys_t *holder = a;
    CU_ASSERT(lt_keys_swap(a, auth) == -1);
    CU_ASSERT(memcmp(lt_keys_signing_public(a), apk, 32) == 0);
    CU_ASSERT(lt_keys_swap(a, b) == 0);
    CU_ASSERT(memcmp(lt_keys_signing_public(holder), bpk, 32) == 0);
    CU_ASSERT(memcmp(lt_keys_signing_public(b), apk, 32) == 0);
    CU_ASSERT_FATAL(lt_keys_sign(holder, "d", (const uint8_t *)"m", 1, sig) == 0);
    CU_ASSERT(lt_keys_verify(bpk, "d", (const uint8_t *)"m", 1, sig) == 0);
    CU_ASSERT(lt_keys_verify(apk, "d", (const uint8_t *)"m", 1, sig) == -1);
    char p[64];
    CU_ASSERT(lt_keys_next_path("/etc/lienthong/member.key", p, sizeof p) == 0);
    CU_ASSERT_STRING_EQUAL(p, "/etc/lienthong/member.next.key");
    CU_ASSERT(lt_keys_old_path("/etc/lienthong/member.key", p, sizeof p) == 0);
    CU_ASSERT_STRING_EQUAL(p, "/etc/lienthong/member.old.key");
    CU_ASSERT(lt_keys_next_path("secret", p, sizeof p) == 0);
    CU_ASSERT_STRING_EQUAL(p, "secret.next");
    CU_ASSERT(lt_keys_next_path("/a/very/long/path/to/the/key/file/member.key", p, 16) == -1);
    CU_ASSERT(lt_keys_pub_path("/etc/lienthong/member.key", 0, p, sizeof p) == 0);
    CU_ASSERT_STRING_EQUAL(p, "/etc/lienthong/member.pub");
    CU_ASSERT(lt_keys_pub_path("/etc/lienthong/member.key", 1, p, sizeof p) == 0);
    CU_ASSERT_STRING_EQUAL(p, "/etc/lienthong/member.next.pub");
    CU_ASSERT(lt_keys_pub_path("secret", 0, p, sizeof p) == -1); /* no .pub beside it */
    CU_ASSERT(lt_keys_pub_path("/a/very/long/path/to/the/key/file/member.key", 0, p, 16) == -1);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
    lt_keys_destroy(&auth);
}

/* ---- the retired file ---- */

#define RETIRED_CAP 8

/* Key i of a fixed set, and its Z85 text. */
static void s_pk(int i, uint8_t pk[32], char z[LT_Z85_KEY_LEN + 1])
{
    uint8_t seed[32] = {(uint8_t)i}, sk[64];
    CU_ASSERT_FATAL(crypto_sign_seed_keypair(pk, sk, seed) == 0);
    sodium_memzero(sk, sizeof sk);
    lt_keys_z85_encode(pk, z);
}

/* The key file KEY.key of the test directory and its retired file. */
static void s_retired_files(const char *key, char *key_file, char *retired, size_t cap)
{
    snprintf(key_file, cap, "%s/%s.key", g_dir, key);
    snprintf(retired, cap, "%s/%s.retired.pub", g_dir, key);
}

/* The text of path, or "" when it cannot be read. */
static void s_text(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
}

static void test_retired_append_then_load(void)
{
    char key_file[600], retired[600], err[1200], text[512], want[512];
    char z1[41], z2[41];
    uint8_t k1[32], k2[32], got[RETIRED_CAP][32];
    size_t n = 0;
    s_pk(1, k1, z1);
    s_pk(2, k2, z2);
    s_retired_files("app", key_file, retired, sizeof key_file);
    /* Absent: no key and no error, and no file made by reading. */
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == 0);
    CU_ASSERT(n == 0);
    CU_ASSERT(access(retired, F_OK) != 0);
    CU_ASSERT(lt_keys_retired_append(key_file, k1, err, sizeof err) == 0);
    CU_ASSERT(lt_keys_retired_append(key_file, k2, err, sizeof err) == 0);
    CU_ASSERT(lt_keys_retired_append(key_file, k1, err, sizeof err) == 1); /* there already */
    s_text(retired, text, sizeof text);
    snprintf(want, sizeof want, "%s\n%s\n", z1, z2);
    CU_ASSERT_STRING_EQUAL(text, want);
    struct stat st;
    CU_ASSERT(stat(retired, &st) == 0 && (st.st_mode & 0777) == 0644);
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == 0);
    CU_ASSERT_FATAL(n == 2);
    CU_ASSERT(memcmp(got[0], k1, 32) == 0 && memcmp(got[1], k2, 32) == 0);
}

/* A key repeated in the file, or one the caller holds already, is read
 * once; empty and '#' lines and "\r\n" ends are accepted. */
static void test_retired_repeats(void)
{
    char key_file[600], retired[600], err[1200], text[512], z1[41], z2[41], z3[41];
    uint8_t k1[32], k2[32], k3[32], got[RETIRED_CAP][32];
    s_pk(1, k1, z1);
    s_pk(2, k2, z2);
    s_pk(3, k3, z3);
    s_retired_files("rep", key_file, retired, sizeof key_file);
    snprintf(text, sizeof text, "# kept by keys promote\n%s\n\n%s\r\n%s\n%s\n", z1, z2, z1, z3);
    CU_ASSERT_FATAL(ut_write_text(retired, text) == 0);
    memcpy(got[0], k3, 32); /* the caller's own key */
    size_t n = 1;
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == 0);
    CU_ASSERT_FATAL(n == 3);
    CU_ASSERT(memcmp(got[1], k1, 32) == 0 && memcmp(got[2], k2, 32) == 0);
    /* The comment naming no key does not count as holding one. */
    snprintf(text, sizeof text, "# %s\n", z1);
    CU_ASSERT_FATAL(ut_write_text(retired, text) == 0);
    CU_ASSERT(lt_keys_retired_append(key_file, k1, err, sizeof err) == 0);
}

/* A last line without its end is read, and an append ends it first. */
static void test_retired_no_final_newline(void)
{
    char key_file[600], retired[600], err[1200], text[512], want[512], z1[41], z2[41];
    uint8_t k1[32], k2[32], got[RETIRED_CAP][32];
    size_t n = 0;
    s_pk(1, k1, z1);
    s_pk(2, k2, z2);
    s_retired_files("nonl", key_file, retired, sizeof key_file);
    CU_ASSERT_FATAL(ut_write_text(retired, z1) == 0);
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == 0);
    CU_ASSERT(n == 1 && memcmp(got[0], k1, 32) == 0);
    CU_ASSERT(lt_keys_retired_append(key_file, k2, err, sizeof err) == 0);
    s_text(retired, text, sizeof text);
    snprintf(want, sizeof want, "%s\n%s\n", z1, z2);
    CU_ASSERT_STRING_EQUAL(text, want);
}

/* A bad line is refused with the file, the line's number (empty and
 * comment lines counted) and the line; loading leaves *n alone, and an
 * append leaves the file alone. */
static void test_retired_bad_line(void)
{
    char key_file[600], retired[600], err[1200], text[1024], z1[41], z2[41];
    uint8_t k1[32], k2[32], got[RETIRED_CAP][32];
    s_pk(1, k1, z1);
    s_pk(2, k2, z2);
    s_retired_files("bad", key_file, retired, sizeof key_file);
    /* Each bad line, and how the error quotes it. */
    char line[6][100], quoted[6][100];
    snprintf(line[0], 100, "not a key");
    snprintf(line[1], 100, "%s ", z2); /* spaces around a key */
    snprintf(line[2], 100, " %s", z2);
    snprintf(line[3], 100, "%s%s", z2, z2); /* two keys on a line: 60 characters quoted */
    snprintf(line[4], 100, "%.39s", z2);
    snprintf(line[5], 100, "%.20s\r%.19s", z2, z2 + 21); /* a "\r" inside */
    for (int i = 0; i < 6; i++)
        snprintf(quoted[i], 100, "'%.60s'", line[i]);
    quoted[5][21] = '?';
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "%s\n\n# a comment\n%s\n%s\n", z1, line[i], z1);
        CU_ASSERT_FATAL(ut_write_text(retired, text) == 0);
        size_t n = 1;
        err[0] = 0;
        CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == -1);
        CU_ASSERT(n == 1);
        CU_ASSERT(ut_has_loc(err, retired, 4));
        CU_ASSERT(strstr(err, quoted[i]) != NULL);
        err[0] = 0;
        CU_ASSERT(lt_keys_retired_append(key_file, k2, err, sizeof err) == -1);
        CU_ASSERT(ut_has_loc(err, retired, 4));
        char after[1024];
        s_text(retired, after, sizeof after);
        CU_ASSERT_STRING_EQUAL(after, text);
    }
    /* A NUL inside a line: refused, not read as the end of the file. */
    char nul[2 * 41 + 1];
    snprintf(nul, sizeof nul, "%s\n%s\n", z1, z2);
    nul[41 + 5] = 0;
    CU_ASSERT_FATAL(ut_write_file(retired, nul, sizeof nul - 1, 0644) == 0);
    size_t n = 0;
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == -1);
    CU_ASSERT(ut_has_loc(err, retired, 2));
    CU_ASSERT(n == 0);
}

/* The previous keys' .old.pub: read back as lt_keys_old_public_save wrote
 * it, with the file it came from; a bad line is refused with the file, the
 * line's number and the offending token quoted. */
static void test_old_pub_bad_file(void)
{
    char key_file[600], old[600], from[700], err[1200], text[1024], zt[41], zs[41];
    uint8_t t[32], g[32];
    snprintf(key_file, sizeof key_file, "%s/oldpub.key", g_dir);
    snprintf(old, sizeof old, "%s/oldpub.old.pub", g_dir);
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT(lt_keys_old_public(key_file, t, g, from, sizeof from, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(from, old); /* none yet: where promote writes it */
    CU_ASSERT_FATAL(lt_keys_old_public_save(key_file, k, err, sizeof err) == 0);
    from[0] = 0;
    CU_ASSERT(lt_keys_old_public(key_file, t, g, from, sizeof from, err, sizeof err) == 1);
    CU_ASSERT_STRING_EQUAL(from, old);
    CU_ASSERT(memcmp(t, lt_keys_transport_public(k), 32) == 0 &&
              memcmp(g, lt_keys_signing_public(k), 32) == 0);
    lt_keys_z85_encode(lt_keys_transport_public(k), zt);
    lt_keys_z85_encode(lt_keys_signing_public(k), zs);
    lt_keys_destroy(&k);
    /* Each bad third line, and the token the error quotes. */
    char line[5][120], quoted[5][130];
    snprintf(line[0], 120, "signing_kye = \"%s\";", zs);
    snprintf(quoted[0], 130, "'signing_kye'");
    snprintf(line[1], 120, "signing_key = \"%.39s,\";", zs);
    snprintf(quoted[1], 130, "'%.39s,'", zs);
    snprintf(line[2], 120, "signing_key = %s;", zs);
    snprintf(quoted[2], 130, "'%s'", line[2]);
    snprintf(line[3], 120, "transport_key = \"%s\";", zt);
    snprintf(quoted[3], 130, "'transport_key'");
    snprintf(line[4], 120, "signing_key = \"%.20s\x01%.19s\";", zs, zs + 21);
    snprintf(quoted[4], 130, "'%.20s?%.19s'", zs, zs + 21);
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "# previous keys\ntransport_key = \"%s\";\n%s\n", zt, line[i]);
        CU_ASSERT_FATAL(ut_write_text(old, text) == 0);
        err[0] = 0;
        CU_ASSERT(lt_keys_old_public(key_file, t, g, NULL, 0, err, sizeof err) == -1);
        CU_ASSERT(ut_has_loc(err, old, 3));
        CU_ASSERT(strstr(err, quoted[i]) != NULL);
        if (!strstr(err, quoted[i]))
            fprintf(stderr, "\n  %s: %s\n", quoted[i], err);
    }
    snprintf(text, sizeof text, "transport_key = \"%s\";\n", zt);
    CU_ASSERT_FATAL(ut_write_text(old, text) == 0);
    CU_ASSERT(lt_keys_old_public(key_file, t, g, NULL, 0, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "lacks its signing_key") != NULL);
    (void)unlink(old);
}

/* One key more than the caller has room for is refused, naming its line. */
static void test_retired_over_cap(void)
{
    char key_file[600], retired[600], err[1200], text[RETIRED_CAP * 41 + 200] = "", z[41];
    uint8_t k[32], got[RETIRED_CAP][32];
    s_retired_files("cap", key_file, retired, sizeof key_file);
    for (int i = 0; i <= RETIRED_CAP; i++) {
        s_pk(10 + i, k, z);
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s\n", z);
    }
    CU_ASSERT_FATAL(ut_write_text(retired, text) == 0);
    size_t n = 0;
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == -1);
    CU_ASSERT(n == 0);
    CU_ASSERT(ut_has_loc(err, retired, RETIRED_CAP + 1));
    CU_ASSERT(strstr(err, "more than 8 keys") != NULL);
    /* With room for all of them it loads. */
    uint8_t room[RETIRED_CAP + 1][32];
    CU_ASSERT(lt_keys_retired_load(key_file, room, RETIRED_CAP + 1, &n, err, sizeof err) == 0);
    CU_ASSERT(n == RETIRED_CAP + 1);
}

/* A retired file that cannot be read is an error, unlike an absent one;
 * one that cannot be written is -2 with errno; a key file without .key
 * has KEYFILE.retired. */
static void test_retired_unreadable_and_names(void)
{
    char key_file[600], retired[600], err[1200], z[41];
    uint8_t k[32], got[RETIRED_CAP][32];
    size_t n = 0;
    s_pk(1, k, z);
    s_retired_files("dir", key_file, retired, sizeof key_file);
    CU_ASSERT_FATAL(mkdir(retired, 0700) == 0); /* not a file */
    CU_ASSERT(lt_keys_retired_load(key_file, got, RETIRED_CAP, &n, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, retired) != NULL);
    CU_ASSERT(lt_keys_retired_append(key_file, k, err, sizeof err) == -1);
    CU_ASSERT(rmdir(retired) == 0);
    snprintf(key_file, sizeof key_file, "%s/nodir/m.key", g_dir);
    errno = 0;
    CU_ASSERT(lt_keys_retired_append(key_file, k, err, sizeof err) == -2);
    CU_ASSERT(errno == ENOENT);
    snprintf(key_file, sizeof key_file, "%s/secret", g_dir);
    CU_ASSERT(lt_keys_retired_append(key_file, k, err, sizeof err) == 0);
    snprintf(retired, sizeof retired, "%s/secret.retired", g_dir);
    CU_ASSERT(access(retired, F_OK) == 0);
    CU_ASSERT(lt_keys_retired_path("/etc/lienthong/member.key", retired, sizeof retired) == 0);
    CU_ASSERT_STRING_EQUAL(retired, "/etc/lienthong/member.retired.pub");
}

/* lt_keys_switch_remove of key_file as a user that owns its directory
 * (mode mode), the switch file written first: as root, in a child that
 * became `nobody` (root passes every permission check); otherwise here.
 * Its code, with err; 99 when the test could not be set up. */
static int s_switch_remove_as_owner(const char *dir, const char *key_file, mode_t mode, char *err,
                                    size_t errlen)
{
    char sw[700];
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    int saved = k && lt_keys_switch_path(key_file, sw, sizeof sw) == 0 ? lt_keys_save(k, sw) : -1;
    lt_keys_destroy(&k);
    struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
    int fds[2];
    if (saved != 0 || (geteuid() == 0 && (!pw || chown(dir, pw->pw_uid, pw->pw_gid) != 0)) ||
        chmod(dir, mode) != 0 || pipe(fds) != 0)
        return 99;
    pid_t pid = fork();
    if (pid == 0) {
        struct {
            int rc;
            char err[1200];
        } res = {99, ""};
        close(fds[0]);
        if (!pw || (setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 && setuid(pw->pw_uid) == 0))
            res.rc = lt_keys_switch_remove(key_file, res.err, sizeof res.err);
        _exit(write(fds[1], &res, sizeof res) == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fds[1]);
    struct {
        int rc;
        char err[1200];
    } res = {99, ""};
    int status = 1;
    ssize_t n = pid > 0 ? read(fds[0], &res, sizeof res) : -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (chmod(dir, 0700) != 0 || n != (ssize_t)sizeof res || status != 0)
        return 99;
    snprintf(err, errlen, "%s", res.err);
    return res.rc;
}

/* The switch file goes with its directory synced; one removed whose
 * directory cannot be synced (here: the directory cannot be opened) is
 * told apart from one that cannot be removed. */
static void test_switch_remove(void)
{
    char dir[600], key_file[700], sw[700], err[1200];
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(k != NULL);
    path_of(dir, sizeof dir, "switch");
    snprintf(key_file, sizeof key_file, "%s/m.key", dir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 && chmod(g_dir, 0711) == 0);
    CU_ASSERT_FATAL(lt_keys_switch_path(key_file, sw, sizeof sw) == 0);
    CU_ASSERT_FATAL(lt_keys_save(k, sw) == 0);
    lt_keys_destroy(&k);
    CU_ASSERT(lt_keys_switch_remove(key_file, err, sizeof err) == 1);
    CU_ASSERT(access(sw, F_OK) != 0);
    CU_ASSERT(lt_keys_switch_remove(key_file, err, sizeof err) == 0);
    /* Writable and searchable, not readable: removed, not synced. */
    CU_ASSERT(s_switch_remove_as_owner(dir, key_file, 0300, err, sizeof err) == -2);
    CU_ASSERT(strstr(err, "removed ") && strstr(err, sw) && strstr(err, "cannot sync"));
    CU_ASSERT(access(sw, F_OK) != 0);
    /* Not writable: not removed. */
    CU_ASSERT(s_switch_remove_as_owner(dir, key_file, 0500, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "cannot remove ") && strstr(err, sw));
    CU_ASSERT(access(sw, F_OK) == 0);
    CU_ASSERT(chmod(g_dir, 0700) == 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"new member keys: two independent pairs", test_new_member_keys},
        {"two fresh key sets differ", test_two_sets_differ},
        {"authority keys have no transport pair", test_authority_has_no_transport},
        {"save gives mode 0600; load round trip", test_save_mode_and_round_trip},
        {"load refuses group/other-accessible files", test_load_refuses_loose_mode},
        {"load refuses wrong size, magic, kind", test_load_refuses_bad_files},
        {"load refuses a symbolic link, a FIFO and another user's file",
         test_load_refuses_link_and_owner},
        {"known answer: hand-written file vs libsodium", test_known_answer_from_libsodium},
        {"known answer: RFC 8032 / RFC 7748 vectors", test_known_answer_rfc_vectors},
        {"sign/verify and every kind of tampering", test_sign_verify},
        {"domain separator boundary, empty message", test_sign_domain_boundary},
        {"Z85 strict decoding", test_z85},
        {"swap in place; next and old key file names", test_swap_and_paths},
        {"retired file: two appends then a load, in order", test_retired_append_then_load},
        {"retired file: a repeated key is read once", test_retired_repeats},
        {"retired file: a last line without its end", test_retired_no_final_newline},
        {"retired file: a bad line is refused with its number", test_retired_bad_line},
        {"retired file: more keys than the caller's room", test_retired_over_cap},
        {"previous public keys: read back, a bad .old.pub quotes its token", test_old_pub_bad_file},
        {"retired file: unreadable, unwritable, names", test_retired_unreadable_and_names},
        {"switch file: removed with its directory synced, each failure told apart",
         test_switch_remove},
        {NULL, NULL},
    };
    return ut_main("lt_keys", suite_init, suite_clean, tests);
}
