/* test_dir: CUnit suite for core/lt_dir: compiling a directory source
 * file, signing, opening (signature, age, federation, tampering), queries,
 * FILE:LINE compile errors, and lt_dir_validate on its own. */
#include "unit_util.h"

#include "lt_dir.h"
#include "directory.pb-c.h"

#include <sodium.h>
#include <time.h>

#define ERRLEN 1024

static char g_dir[512];
static lt_keys_t *g_auth, *g_other_auth, *g_members[3];
static lt_keys_t *g_next[3]; /* the members' next keys, for key rotation */
static lt_dir_pins_t g_pins;

/* The source file, one entry per line; @T<n> and @S<n> are member n's
 * transport and signing keys in Z85. Line numbers are 1-based indices. */
// clang-format off
static const char *SRC[] = {
    "# lienthong directory source used by test_dir",                                   /* 1 */
    "federation = \"VN\";",                                                             /* 2 */
    "version = 7;",                                                                     /* 3 */
    "valid_days = 30;",                                                                 /* 4 */
    "members = (",                                                                      /* 5 */
    "  { id = \"VN/GOV/BCA\"; name = \"Bo Cong an\"; endpoints = [ \"tcp://10.0.0.1:7400\" ];", /* 6 */
    "    transport_key = \"@T0\";",                                                     /* 7 */
    "    signing_key = \"@S0\"; status = \"active\"; },",                              /* 8 */
    "  { id = \"VN/PROV/38\"; name = \"Thanh Hoa\"; endpoints = [ \"tcp://10.0.0.2:7400\" ];", /* 9 */
    "    transport_key = \"@T1\";",                                                     /* 10 */
    "    signing_key = \"@S1\"; },",                                                    /* 11 */
    "  { id = \"VN/COM/VIETTEL\"; name = \"Viettel\";",                                 /* 12 */
    "    endpoints = [ \"tcp://10.0.0.3:7400\", \"tcp://10.0.0.4:7400\" ];",            /* 13 */
    "    transport_key = \"@T2\"; signing_key = \"@S2\"; status = \"suspended\"; }",    /* 14 */
    ");",                                                                               /* 15 */
    "datasets = (",                                                                     /* 16 */
    "  { id = \"VN/GOV/BCA/population\"; owner = \"VN/GOV/BCA\";",                     /* 17 */
    "    type = \"lienthong.records.Population\"; key = \"personal_id\"; description = \"Population\"; },", /* 18 */
    "  { id = \"VN/COM/VIETTEL/subscriber\"; owner = \"VN/COM/VIETTEL\"; type = \"lienthong.records.Subscriber\";", /* 19 */
    "    key = \"phone_number\"; }",                                                    /* 20 */
    ");",                                                                               /* 21 */
    "views = (",                                                                        /* 22 */
    "  { id = \"VN/GOV/BCA/population.basic\"; dataset = \"VN/GOV/BCA/population\";",  /* 23 */
    "    fields = [ \"personal_id\", \"full_name\", \"date_of_birth\" ];",              /* 24 */
    "    where = { current_province = \"38\"; }; }",                                    /* 25 */
    ");",                                                                               /* 26 */
    "policies = (",                                                                     /* 27 */
    "  { consumer = \"VN/PROV/38\"; target = \"VN/GOV/BCA/population.basic\";",         /* 28 */
    "    allow = [ \"subscribe\" ]; },",                                                /* 29 */
    "  { consumer = \"VN/COM/VIETTEL\"; target = \"VN/GOV/BCA/population\";",          /* 30 */
    "    allow = [ \"verify\", \"lookup\" ]; fields = [ \"full_name\", \"date_of_birth\" ]; purposes = [ \"KYC\" ]; },", /* 31 */
    "  { consumer = \"VN/GOV/BCA\"; target = \"VN/COM/VIETTEL/subscriber\";",          /* 32 */
    "    allow = [ \"subscribe\", \"lookup\" ]; fields = [ \"owner_name\" ]; purposes = [ \"INVESTIGATION\" ]; }", /* 33 */
    ");",                                                                               /* 34 */
    NULL,
};
// clang-format on

static int suite_init(void)
{
    if (sodium_init() < 0 || ut_mkdtemp(g_dir, sizeof g_dir, "dir") != 0)
        return -1;
    g_auth = lt_keys_new(LT_KEYS_AUTHORITY);
    g_other_auth = lt_keys_new(LT_KEYS_AUTHORITY);
    for (int i = 0; i < 3; i++)
        if (!(g_members[i] = lt_keys_new(LT_KEYS_MEMBER)) ||
            !(g_next[i] = lt_keys_new(LT_KEYS_MEMBER)))
            return -1;
    if (!g_auth || !g_other_auth)
        return -1;
    char z[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_signing_public(g_auth), z);
    return lt_dir_pins_add(&g_pins, z);
}

static int suite_clean(void)
{
    lt_keys_destroy(&g_auth);
    lt_keys_destroy(&g_other_auth);
    for (int i = 0; i < 3; i++) {
        lt_keys_destroy(&g_members[i]);
        lt_keys_destroy(&g_next[i]);
    }
    return ut_rmrf(g_dir);
}

/* The key a token names: @Tn / @Sn member n's transport / signing key,
 * @Un / @Vn its next ones, @A0 the other authority's key; NULL if none. */
static const uint8_t *token_key(const char *p)
{
    if (p[0] != '@' || p[2] < '0' || p[2] > '2')
        return NULL;
    int n = p[2] - '0';
    switch (p[1]) {
    case 'T':
        return lt_keys_transport_public(g_members[n]);
    case 'S':
        return lt_keys_signing_public(g_members[n]);
    case 'U':
        return lt_keys_transport_public(g_next[n]);
    case 'V':
        return lt_keys_signing_public(g_next[n]);
    case 'A':
        return lt_keys_signing_public(g_other_auth);
    default:
        return NULL;
    }
}

/* Copies line into out, replacing key tokens (token_key) by Z85 keys. */
static void expand(const char *line, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = line; *p && o + 41 < cap;) {
        const uint8_t *key = token_key(p);
        if (key) {
            lt_keys_z85_encode(key, out + o);
            o += LT_Z85_KEY_LEN;
            p += 3;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
}

/* Writes SRC with line `replace` (1-based; 0 for none) replaced by `with`. */
static void write_src(char *path, size_t cap, const char *name, int replace, const char *with)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    static char text[16384];
    text[0] = 0;
    for (int i = 0; SRC[i]; i++) {
        char buf[1024];
        expand(i + 1 == replace ? with : SRC[i], buf, sizeof buf);
        strncat(text, buf, sizeof text - strlen(text) - 2);
        strcat(text, "\n");
    }
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
}

/* Compiles the (possibly modified) source and signs it with `auth`. */
static int build_signed(int replace, const char *with, int64_t issued, int64_t expires,
                        const lt_keys_t *auth, uint8_t **dir, size_t *dir_len, uint8_t **sig,
                        size_t *sig_len)
{
    char path[700], err[ERRLEN] = "";
    write_src(path, sizeof path, "dir.src", replace, with);
    if (lt_dir_compile(path, 0, issued, expires, dir, dir_len, err, sizeof err) != 0) {
        fprintf(stderr, "\n    compile: %s\n", err);
        return -1;
    }
    return lt_dir_sign(*dir, *dir_len, auth, sig, sig_len);
}

static lt_dir_t *open_good(uint8_t **sig, size_t *sig_len)
{
    uint8_t *dir = NULL;
    char err[ERRLEN] = "";
    if (build_signed(0, NULL, 0, 0, g_auth, &dir, &(size_t){0}, sig, sig_len) != 0)
        return NULL;
    free(dir);
    lt_dir_t *d = lt_dir_open(*sig, *sig_len, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err);
    if (!d)
        fprintf(stderr, "\n    open: %s\n", err);
    return d;
}

/* ---- compile, sign, open ------------------------------------------------------ */

static void test_round_trip(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    char err[ERRLEN] = "";
    int64_t now = (int64_t)time(NULL);
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    lt_dir_t *d = lt_dir_open(sig, sig_len, &g_pins, "VN", now, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    const Lienthong__Directory *m = lt_dir_get(d);
    CU_ASSERT(m->format == 1);
    CU_ASSERT_STRING_EQUAL(m->federation, "VN");
    CU_ASSERT(lt_dir_version(d) == 7);
    CU_ASSERT(m->issued_at >= now - 5 && m->issued_at <= now + 5);
    CU_ASSERT(lt_dir_expires(d) == m->issued_at + 30 * 86400);
    CU_ASSERT(m->n_members == 3 && m->n_datasets == 2 && m->n_views == 1 && m->n_policies == 3);
    size_t len = 0;
    const uint8_t *sb = lt_dir_signed_bytes(d, &len);
    CU_ASSERT(len == sig_len && memcmp(sb, sig, len) == 0);
    /* The signature is Ed25519 over domain || 0 || exact Directory bytes. */
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, sig_len, sig);
    CU_ASSERT_FATAL(sd != NULL && sd->n_signatures == 1);
    CU_ASSERT(sd->directory.len == dir_len && memcmp(sd->directory.data, dir, dir_len) == 0);
    CU_ASSERT(lt_keys_verify(lt_keys_signing_public(g_auth), LT_DIR_DOMAIN, dir, dir_len,
                             sd->signatures[0]->signature.data) == 0);
    lienthong__signed_directory__free_unpacked(sd, NULL);
    lt_dir_destroy(&d);
    CU_ASSERT(d == NULL);
    lt_dir_destroy(&d);
    /* now = 0 skips the age check; federation NULL skips that check. */
    d = lt_dir_open(sig, sig_len, &g_pins, NULL, 0, err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    free(dir);
    free(sig);
}

static void test_compile_overrides(void)
{
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL;
    size_t len = 0;
    write_src(path, sizeof path, "over.src", 0, NULL);
    CU_ASSERT_FATAL(lt_dir_compile(path, 99, 1000, 2000, &dir, &len, err, sizeof err) == 0);
    Lienthong__Directory *m = lienthong__directory__unpack(NULL, len, dir);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(m->version == 99 && m->issued_at == 1000 && m->expires_at == 2000);
    lienthong__directory__free_unpacked(m, NULL);
    free(dir);
    dir = NULL;
    /* No longer than valid_days allows: refused as when opening. */
    int64_t too_far = 1000 + (LT_DIR_MAX_VALID_DAYS + 1) * 86400LL;
    CU_ASSERT(lt_dir_compile(path, 0, 1000, too_far, &dir, &len, err, sizeof err) != 0);
    CU_ASSERT(strstr(err, "valid for more than 3650 days") != NULL);
    CU_ASSERT(lt_dir_compile(path, 0, 1000, INT64_MAX, &dir, &len, err, sizeof err) != 0);
    CU_ASSERT(strstr(err, "9223372036854775807") != NULL);
    CU_ASSERT(dir == NULL);
}

static void test_load_from_file(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    char path[700], err[ERRLEN] = "";
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    snprintf(path, sizeof path, "%s/directory.signed", g_dir);
    CU_ASSERT_FATAL(ut_write_file(path, sig, sig_len, 0644) == 0);
    lt_dir_t *d = lt_dir_load(path, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    snprintf(path, sizeof path, "%s/absent.signed", g_dir);
    CU_ASSERT(lt_dir_load(path, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, path) != NULL);
    free(dir);
    free(sig);
}

static void test_queries(void)
{
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    lt_dir_t *d = open_good(&sig, &sig_len);
    CU_ASSERT_FATAL(d != NULL);
    const Lienthong__Member *m = lt_dir_member(d, "VN/PROV/38");
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_STRING_EQUAL(m->name, "Thanh Hoa");
    CU_ASSERT(m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE); /* the default */
    CU_ASSERT(m->n_endpoints == 1 && strcmp(m->endpoints[0], "tcp://10.0.0.2:7400") == 0);
    CU_ASSERT(memcmp(m->transport_key.data, lt_keys_transport_public(g_members[1]), 32) == 0);
    CU_ASSERT(memcmp(m->signing_key.data, lt_keys_signing_public(g_members[1]), 32) == 0);
    m = lt_dir_member(d, "VN/COM/VIETTEL");
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(m->status == LIENTHONG__MEMBER_STATUS__MEMBER_SUSPENDED);
    CU_ASSERT(m->n_endpoints == 2);
    CU_ASSERT(lt_dir_member(d, "VN/GOV/XYZ") == NULL);
    CU_ASSERT(lt_dir_member(d, NULL) == NULL);
    /* What batches, answers and links are held to (PROTOCOL.md 3.2, 5.4). */
    char said[256] = "";
    CU_ASSERT_PTR_NULL(lt_dir_inactive(d, "VN/PROV/38"));
    CU_ASSERT_PTR_NULL(lt_dir_inactive_say(d, "VN/PROV/38", said, sizeof said));
    CU_ASSERT_STRING_EQUAL(said, "");
    CU_ASSERT_STRING_EQUAL(lt_dir_inactive(d, "VN/COM/VIETTEL"), "suspended");
    CU_ASSERT_STRING_EQUAL(lt_dir_inactive(d, "VN/GOV/XYZ"), "not in the directory");
    CU_ASSERT_STRING_EQUAL(lt_dir_inactive(d, NULL), "not in the directory");
    CU_ASSERT(lt_dir_inactive_say(d, "VN/COM/VIETTEL", said, sizeof said) == said);
    CU_ASSERT_STRING_EQUAL(said, "VN/COM/VIETTEL is suspended in directory version 7");
    CU_ASSERT(lt_dir_inactive_say(d, "VN/GOV/XYZ", said, sizeof said) == said);
    CU_ASSERT_STRING_EQUAL(said, "VN/GOV/XYZ is not listed in directory version 7");
    m = lt_dir_member_by_transport(d, lt_keys_transport_public(g_members[2]));
    CU_ASSERT(m != NULL && strcmp(m->id, "VN/COM/VIETTEL") == 0);
    CU_ASSERT(lt_dir_member_by_transport(d, lt_keys_signing_public(g_members[2])) == NULL);
    uint8_t zero[32] = {0};
    CU_ASSERT(lt_dir_member_by_transport(d, zero) == NULL);

    const Lienthong__Dataset *ds = lt_dir_dataset(d, "VN/GOV/BCA/population");
    CU_ASSERT_FATAL(ds != NULL);
    CU_ASSERT_STRING_EQUAL(ds->record_type, "lienthong.records.Population");
    CU_ASSERT_STRING_EQUAL(ds->key_field, "personal_id");
    CU_ASSERT_STRING_EQUAL(ds->description, "Population");
    ds = lt_dir_dataset(d, "VN/COM/VIETTEL/subscriber");
    CU_ASSERT(ds != NULL && strcmp(ds->description, "") == 0);
    CU_ASSERT(lt_dir_dataset(d, "VN/GOV/BCA/population.basic") == NULL);

    const Lienthong__View *v = lt_dir_view(d, "VN/GOV/BCA/population.basic");
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_STRING_EQUAL(v->dataset, "VN/GOV/BCA/population");
    CU_ASSERT(v->n_fields == 3 && strcmp(v->fields[2], "date_of_birth") == 0);
    CU_ASSERT_FATAL(v->n_where == 1);
    CU_ASSERT_STRING_EQUAL(v->where[0]->field, "current_province");
    CU_ASSERT_STRING_EQUAL(v->where[0]->equals, "38");
    CU_ASSERT(lt_dir_view(d, "VN/GOV/BCA/population") == NULL);
    /* A view resolves to its dataset, a dataset to itself. */
    CU_ASSERT(lt_dir_dataset_of(d, "VN/GOV/BCA/population.basic") ==
              lt_dir_dataset(d, "VN/GOV/BCA/population"));
    CU_ASSERT(lt_dir_dataset_of(d, "VN/GOV/BCA/population") ==
              lt_dir_dataset(d, "VN/GOV/BCA/population"));
    CU_ASSERT(lt_dir_dataset_of(d, "VN/GOV/BCA/nothing") == NULL);
    CU_ASSERT(lt_dir_dataset_of(NULL, "VN/GOV/BCA/population") == NULL);

    const Lienthong__Policy *p = lt_dir_policy(d, "VN/PROV/38", "VN/GOV/BCA/population.basic");
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_SUBSCRIBE) == 1);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_LOOKUP) == 0);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_VERIFY) == 0);
    CU_ASSERT(lt_dir_policy(d, "VN/PROV/38", "VN/GOV/BCA/population") == NULL);
    CU_ASSERT(lt_dir_policy(d, "VN/GOV/BCA/population.basic", "VN/PROV/38") == NULL);
    p = lt_dir_policy(d, "VN/COM/VIETTEL", "VN/GOV/BCA/population");
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_VERIFY) == 1);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_LOOKUP) == 1);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_SUBSCRIBE) == 0);
    CU_ASSERT(lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_NONE) == 0);
    CU_ASSERT(p->n_fields == 2 && p->n_purposes == 1 && strcmp(p->purposes[0], "KYC") == 0);
    CU_ASSERT(lt_dir_policy_allows(NULL, LIENTHONG__OPERATION__OP_SUBSCRIBE) == 0);
    lt_dir_destroy(&d);
    free(sig);
}

static void test_names_and_pins(void)
{
    CU_ASSERT_STRING_EQUAL(lt_dir_status_name(LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED), "revoked");
    CU_ASSERT_STRING_EQUAL(lt_dir_status_name(LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE), "active");
    CU_ASSERT_STRING_EQUAL(lt_dir_op_name(LIENTHONG__OPERATION__OP_VERIFY), "verify");
    CU_ASSERT_STRING_EQUAL(lt_dir_op_name((Lienthong__Operation)42), "none");
    lt_dir_pins_t pins;
    memset(&pins, 0, sizeof pins);
    char z[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_signing_public(g_auth), z);
    CU_ASSERT(lt_dir_pins_add(&pins, "not a key") == -1);
    CU_ASSERT(pins.count == 0);
    for (int i = 0; i < 8; i++)
        CU_ASSERT(lt_dir_pins_add(&pins, z) == 0);
    CU_ASSERT(lt_dir_pins_add(&pins, z) == -1);
    CU_ASSERT(pins.count == 8);
}

/* ---- open rejects ----------------------------------------------------------- */

static void expect_open_fails(const uint8_t *buf, size_t len, const lt_dir_pins_t *pins,
                              const char *fed, int64_t now, const char *needle)
{
    char err[ERRLEN] = "";
    lt_dir_t *d = lt_dir_open(buf, len, pins, fed, now, err, sizeof err);
    CU_ASSERT(d == NULL);
    if (needle && !strstr(err, needle))
        fprintf(stderr, "\n    want '%s' in: %s\n", needle, err);
    if (needle)
        CU_ASSERT(strstr(err, needle) != NULL);
    lt_dir_destroy(&d);
}

static void test_wrong_pin(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    int64_t now = (int64_t)time(NULL);
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_other_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now, "no valid signature");
    /* A second pin that matches is enough. */
    lt_dir_pins_t two = g_pins;
    memcpy(two.keys[0], lt_keys_signing_public(g_members[0]), 32);
    memcpy(two.keys[1], lt_keys_signing_public(g_other_auth), 32);
    two.count = 2;
    char err[ERRLEN] = "";
    lt_dir_t *d = lt_dir_open(sig, sig_len, &two, "VN", now, err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    lt_dir_pins_t none;
    memset(&none, 0, sizeof none);
    expect_open_fails(sig, sig_len, &none, "VN", now, "pinned");
    free(sig);
    /* Signed by a member's key, which is not an authority. */
    CU_ASSERT_FATAL(lt_dir_sign(dir, dir_len, g_members[0], &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now, "no valid signature");
    free(sig);
    free(dir);
}

static void test_expired_and_future(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    int64_t now = (int64_t)time(NULL);
    CU_ASSERT_FATAL(build_signed(0, NULL, now - 10 * 86400, now - 60, g_auth, &dir, &dir_len, &sig,
                                 &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now, "expired");
    char err[ERRLEN] = "";
    lt_dir_t *d = lt_dir_open(sig, sig_len, &g_pins, "VN", 0, err, sizeof err);
    CU_ASSERT(d != NULL); /* inspection only */
    lt_dir_destroy(&d);
    free(dir);
    free(sig);
    CU_ASSERT_FATAL(build_signed(0, NULL, now + 3600, now + 86400, g_auth, &dir, &dir_len, &sig,
                                 &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now, "future");
    free(dir);
    free(sig);
    /* A little clock skew is tolerated. */
    CU_ASSERT_FATAL(
        build_signed(0, NULL, now + 60, now + 86400, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    d = lt_dir_open(sig, sig_len, &g_pins, "VN", now, err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    free(dir);
    free(sig);
}

/* Times the calendar cannot hold (gmtime_r fails) are named in unix
 * seconds: a directory from a peer or a file may carry any 64-bit value
 * within its bounded validity, and the message must not read an unset
 * date. */
static void test_times_past_the_calendar(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    int64_t now = (int64_t)time(NULL), far = (int64_t)1 << 60;
    CU_ASSERT_FATAL(
        build_signed(0, NULL, far, far + 86400, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now,
                      "issued in the future (1152921504606846976 (unix seconds))");
    free(dir);
    free(sig);
    CU_ASSERT_FATAL(
        build_signed(0, NULL, -far, -far + 86400, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now,
                      "expired at -1152921504606760576 (unix seconds)");
    free(dir);
    free(sig);
}

static void test_federation_mismatch(void)
{
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    lt_dir_t *d = open_good(&sig, &sig_len);
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_destroy(&d);
    expect_open_fails(sig, sig_len, &g_pins, "LA", (int64_t)time(NULL), "federation");
    expect_open_fails(sig, sig_len, &g_pins, "", (int64_t)time(NULL), "federation");
    free(sig);
}

static const uint8_t *find(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
    return memmem(hay, hlen, needle, nlen);
}

static void test_any_flipped_signed_byte(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    int64_t now = (int64_t)time(NULL);
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, sig_len, sig);
    CU_ASSERT_FATAL(sd != NULL);
    const uint8_t *d0 = find(sig, sig_len, dir, dir_len);
    const uint8_t *s0 = find(sig, sig_len, sd->signatures[0]->signature.data, 64);
    CU_ASSERT_FATAL(d0 && s0);
    size_t ranges[2][2] = {{(size_t)(d0 - sig), dir_len}, {(size_t)(s0 - sig), 64}};
    size_t tried = 0, refused = 0;
    for (int r = 0; r < 2; r++)
        for (size_t i = ranges[r][0]; i < ranges[r][0] + ranges[r][1]; i++) {
            char err[ERRLEN] = "";
            uint8_t bit = (uint8_t)(1u << (i % 8));
            sig[i] ^= bit;
            lt_dir_t *d = lt_dir_open(sig, sig_len, &g_pins, "VN", now, err, sizeof err);
            sig[i] ^= bit;
            tried++;
            refused += d == NULL;
            if (d)
                fprintf(stderr, "\n    flip at %zu accepted\n", i);
            lt_dir_destroy(&d);
        }
    CU_ASSERT(tried == dir_len + 64);
    CU_ASSERT(refused == tried);
    lienthong__signed_directory__free_unpacked(sd, NULL);
    /* Unchanged, it still opens. */
    char err[ERRLEN] = "";
    lt_dir_t *d = lt_dir_open(sig, sig_len, &g_pins, "VN", now, err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    free(dir);
    free(sig);
}

static void test_garbage(void)
{
    int64_t now = (int64_t)time(NULL);
    uint8_t junk[512];
    for (int round = 0; round < 50; round++) {
        randombytes_buf(junk, sizeof junk);
        expect_open_fails(junk, (size_t)(round * 10 + 1), &g_pins, "VN", now, NULL);
    }
    static const uint8_t empty[1] = {0};
    expect_open_fails(empty, 0, &g_pins, "VN", now, "no valid signature");
    /* Over the cap: refused before any decoding (NULL would crash otherwise). */
    expect_open_fails(NULL, (size_t)LT_DIR_MAX_BYTES + 1, &g_pins, "VN", now, "cap");
    /* A valid signature over bytes that are not a Directory. */
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    static const uint8_t notdir[] = {0xff, 0xff, 0xff, 0xff};
    CU_ASSERT_FATAL(lt_dir_sign(notdir, sizeof notdir, g_auth, &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", now, "cannot be decoded");
    free(sig);
}

/* A correctly signed directory that fails semantic validation. */
static void test_signed_but_invalid(void)
{
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL, *sig = NULL;
    size_t len = 0, sig_len = 0;
    write_src(path, sizeof path, "inv.src", 0, NULL);
    CU_ASSERT_FATAL(lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) == 0);
    Lienthong__Directory *m = lienthong__directory__unpack(NULL, len, dir);
    CU_ASSERT_FATAL(m != NULL);
    m->members[1]->status = LIENTHONG__MEMBER_STATUS__MEMBER_UNKNOWN;
    size_t n = lienthong__directory__get_packed_size(m);
    uint8_t *bad = malloc(n);
    CU_ASSERT_FATAL(bad != NULL);
    lienthong__directory__pack(m, bad);
    CU_ASSERT_FATAL(lt_dir_sign(bad, n, g_auth, &sig, &sig_len) == 0);
    expect_open_fails(sig, sig_len, &g_pins, "VN", (int64_t)time(NULL), "invalid directory");
    lienthong__directory__free_unpacked(m, NULL);
    free(bad);
    free(sig);
    free(dir);
}

/* The key carried beside the signature is a hint only: changing it does
 * not matter, the pinned keys decide. */
static void test_authority_hint_untrusted(void)
{
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    lt_dir_t *d = open_good(&sig, &sig_len);
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_destroy(&d);
    uint8_t *hint = (uint8_t *)find(sig, sig_len, lt_keys_signing_public(g_auth), 32);
    CU_ASSERT_FATAL(hint != NULL);
    memcpy(hint, lt_keys_signing_public(g_other_auth), 32);
    char err[ERRLEN] = "";
    d = lt_dir_open(sig, sig_len, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err);
    CU_ASSERT(d != NULL);
    lt_dir_destroy(&d);
    lt_dir_pins_t other;
    memset(&other, 0, sizeof other);
    memcpy(other.keys[0], lt_keys_signing_public(g_other_auth), 32);
    other.count = 1;
    expect_open_fails(sig, sig_len, &other, "VN", (int64_t)time(NULL), "no valid signature");
    free(sig);
}

/* A signed directory of n signatures over dir: the valid one (good, as
 * lt_dir_sign made it) at index at, the others 64 random bytes; each
 * names g_auth's key as its hint when `hinted`. */
static uint8_t *multi_signed(const uint8_t *dir, size_t dir_len, const uint8_t *good, size_t n,
                             size_t at, int hinted, size_t *len)
{
    static uint8_t junk[40][LT_SIG_BYTES];
    static Lienthong__DirectorySignature ds[40];
    Lienthong__DirectorySignature *ptrs[40];
    CU_ASSERT_FATAL(n <= 40);
    for (size_t i = 0; i < n; i++) {
        lienthong__directory_signature__init(&ds[i]);
        randombytes_buf(junk[i], sizeof junk[i]);
        ds[i].signature.data = i == at ? (uint8_t *)good : junk[i];
        ds[i].signature.len = LT_SIG_BYTES;
        if (hinted) {
            ds[i].authority_key.data = (uint8_t *)lt_keys_signing_public(g_auth);
            ds[i].authority_key.len = LT_KEY_BYTES;
        }
        ptrs[i] = &ds[i];
    }
    Lienthong__SignedDirectory sd = LIENTHONG__SIGNED_DIRECTORY__INIT;
    sd.directory.data = (uint8_t *)dir;
    sd.directory.len = dir_len;
    sd.signatures = ptrs;
    sd.n_signatures = n;
    *len = lienthong__signed_directory__get_packed_size(&sd);
    uint8_t *out = malloc(*len);
    CU_ASSERT_FATAL(out != NULL);
    lienthong__signed_directory__pack(&sd, out);
    return out;
}

/* 1 when a directory of n signatures, the valid one at index at, opens. */
static int opens_with(const uint8_t *dir, size_t dir_len, const uint8_t *good, size_t n, size_t at,
                      int hinted, const lt_dir_pins_t *pins)
{
    size_t len;
    char err[ERRLEN];
    uint8_t *buf = multi_signed(dir, dir_len, good, n, at, hinted, &len);
    lt_dir_t *d = lt_dir_open(buf, len, pins, "VN", (int64_t)time(NULL), err, sizeof err);
    int ok = d != NULL;
    lt_dir_destroy(&d);
    free(buf);
    return ok;
}

/* A directory signed by g_auth: its body, its signed bytes and the
 * signature alone, in good. */
static void signed_by_auth(uint8_t **dir, size_t *dir_len, uint8_t **sig, size_t *sig_len,
                           uint8_t good[LT_SIG_BYTES])
{
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_auth, dir, dir_len, sig, sig_len) == 0);
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, *sig_len, *sig);
    CU_ASSERT_FATAL(sd && sd->n_signatures == 1);
    memcpy(good, sd->signatures[0]->signature.data, LT_SIG_BYTES);
    lienthong__signed_directory__free_unpacked(sd, NULL);
}

/* A peer's offer of many signatures costs a bounded number of Ed25519
 * verifications (LT_DIR_MAX_SIGS examined, LT_DIR_MAX_VERIFIES spent),
 * each hashing the whole body: past the bounds a valid signature is not
 * looked at. */
static void test_signature_bounds(void)
{
    uint8_t *dir = NULL, *sig = NULL, good[LT_SIG_BYTES];
    size_t dir_len = 0, sig_len = 0;
    signed_by_auth(&dir, &dir_len, &sig, &sig_len, good);
    /* Hinted: one verification each; the 16th verifies, the 17th is not examined. */
    CU_ASSERT(opens_with(dir, dir_len, good, LT_DIR_MAX_SIGS, LT_DIR_MAX_SIGS - 1, 1, &g_pins));
    CU_ASSERT(!opens_with(dir, dir_len, good, LT_DIR_MAX_SIGS + 1, LT_DIR_MAX_SIGS, 1, &g_pins));
    /* Without hints each is tried with every pin, from the same budget: with
     * two pins, 8 signatures spend it. */
    lt_dir_pins_t two = g_pins;
    memcpy(two.keys[1], two.keys[0], LT_KEY_BYTES);
    memcpy(two.keys[0], lt_keys_signing_public(g_other_auth), LT_KEY_BYTES);
    two.count = 2;
    size_t spent = LT_DIR_MAX_VERIFIES / 2;
    CU_ASSERT(opens_with(dir, dir_len, good, spent + 1, spent - 1, 0, &two));
    CU_ASSERT(!opens_with(dir, dir_len, good, spent + 1, spent, 0, &two));
    free(sig);
    free(dir);
}

/* lt_dir_signer answers with the key that verified the directory when it
 * was opened, when trust holds it, without verifying again: here a search
 * under two keys would spend its budget before the valid signature (as in
 * test_signature_bounds), yet the key that verified it at open is given.
 * Under keys without it, the search runs as before: another key finds
 * nothing, the key alone finds it. */
static void test_signer_from_open(void)
{
    uint8_t *dir = NULL, *sig = NULL, key[LT_KEY_BYTES], good[LT_SIG_BYTES];
    size_t dir_len = 0, sig_len = 0, len;
    char err[ERRLEN];
    signed_by_auth(&dir, &dir_len, &sig, &sig_len, good);
    size_t spent = LT_DIR_MAX_VERIFIES / 2;
    uint8_t *buf = multi_signed(dir, dir_len, good, spent + 1, spent, 0, &len);
    lt_dir_t *d = lt_dir_open(buf, len, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_pins_t two = g_pins, other = {.count = 1};
    memcpy(two.keys[1], two.keys[0], LT_KEY_BYTES);
    memcpy(two.keys[0], lt_keys_signing_public(g_other_auth), LT_KEY_BYTES);
    two.count = 2;
    memcpy(other.keys[0], lt_keys_signing_public(g_other_auth), LT_KEY_BYTES);
    CU_ASSERT(lt_dir_signer(d, &two, key) == 0);
    CU_ASSERT(memcmp(key, lt_keys_signing_public(g_auth), LT_KEY_BYTES) == 0);
    CU_ASSERT(lt_dir_signer(d, &other, key) == -1);
    lt_dir_destroy(&d);
    free(buf);
    /* A directory with its one signature: under the key alone. */
    d = lt_dir_open(sig, sig_len, &two, "VN", (int64_t)time(NULL), err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT(lt_dir_signer(d, &g_pins, key) == 0);
    CU_ASSERT(memcmp(key, lt_keys_signing_public(g_auth), LT_KEY_BYTES) == 0);
    CU_ASSERT(lt_dir_signer(d, &other, key) == -1);
    lt_dir_destroy(&d);
    free(sig);
    free(dir);
}

/* ---- compile errors ----------------------------------------------------------- */

static void expect_compile_error(int replace, const char *with, int line, const char *needle)
{
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL;
    size_t len = 0;
    write_src(path, sizeof path, "bad.src", replace, with);
    int rc = lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err);
    CU_ASSERT(rc == -1);
    if (rc == 0)
        free(dir);
    if (!ut_has_loc(err, path, line) || !strstr(err, needle))
        fprintf(stderr, "\n    want %s:%d: ...%s..., got: %s\n", path, line, needle, err);
    CU_ASSERT(ut_has_loc(err, path, line));
    CU_ASSERT(strstr(err, needle) != NULL);
}

static void test_compile_syntax_error(void)
{
    expect_compile_error(3, "version = = 7;", 3, "syntax");
    expect_compile_error(24, "    fields = [ \"personal_id\", ];", 24, "syntax");
}

static void test_compile_bad_key(void)
{
    expect_compile_error(10, "    transport_key = \"tooShort\";", 10, "transport_key");
    expect_compile_error(10, "    transport_key = \"000000000000000000000000000000000000000~\";",
                         10, "Z85");
    expect_compile_error(10, "    transport_key = 12345;", 10, "Z85");
    expect_compile_error(11, "    signing_key = \"@S1x\"; },", 11, "signing_key");
}

/* Line 18 of SRC with the population dataset's rules (PROTOCOL.md 5.7). */
#define RULES_18(rules)                                                                            \
    "    type = \"lienthong.records.Population\"; key = \"personal_id\"; "                         \
    "rules = ( " rules " ); },"

static void test_compile_rules(void)
{
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL;
    size_t len = 0;
    write_src(path, sizeof path, "rules.src", 18,
              RULES_18("{ field = \"personal_id\"; check = \"citizen_id\"; sex = \"sex\"; "
                       "birth = \"date_of_birth\"; }, { field = \"date_of_death\"; check = "
                       "\"date\"; not_future = true; after = \"date_of_birth\"; }, { field = "
                       "\"status\"; check = \"enum\"; values = [ \"CITIZEN_ALIVE\" ]; }, { field "
                       "= \"personal_id\"; check = \"reference\"; dataset = "
                       "\"VN/COM/VIETTEL/subscriber\"; }"));
    CU_ASSERT_FATAL(lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) == 0);
    Lienthong__Directory *m = lienthong__directory__unpack(NULL, len, dir);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_FATAL(m->datasets[0]->n_rules == 4);
    const Lienthong__Rule *r = m->datasets[0]->rules[1];
    CU_ASSERT(strcmp(r->field, "date_of_death") == 0 && strcmp(r->check, "date") == 0 &&
              r->not_future && strcmp(r->after, "date_of_birth") == 0);
    CU_ASSERT(m->datasets[0]->rules[2]->n_values == 1);
    CU_ASSERT_STRING_EQUAL(m->datasets[0]->rules[3]->dataset, "VN/COM/VIETTEL/subscriber");
    lienthong__directory__free_unpacked(m, NULL);
    free(dir);
    expect_compile_error(18, RULES_18("{ field = \"personal_id\"; check = \"cccd\"; }"), 17,
                         "unknown check 'cccd'");
    expect_compile_error(18, RULES_18("{ field = \"shoe\"; check = \"required\"; }"), 17,
                         "'shoe' is not a field");
    expect_compile_error(18, RULES_18("{ field = \"sex\"; check = \"required\"; colour = 1; }"), 18,
                         "unknown rule setting 'colour'");
    expect_compile_error(18, RULES_18("{ field = \"sex\"; check = \"required\"; }, 7"), 18,
                         "each rule must be a group");
    /* An empty value in an enum rule on a text field (5.7), named with its
     * dataset and field. Before, it was taken and never matched anything. */
    expect_compile_error(18,
                         RULES_18("{ field = \"nationality\"; check = \"enum\"; "
                                  "values = [ \"VN\", \"\" ]; }"),
                         17,
                         "dataset 'VN/GOV/BCA/population': rule 1 (nationality): value 2 of the "
                         "enum rule is empty ('')");
    expect_compile_error(18,
                         RULES_18("{ field = \"personal_id\"; check = \"reference\"; "
                                  "dataset = \"VN/GOV/BCA/nope\"; }"),
                         17, "refers to 'VN/GOV/BCA/nope', not a listed dataset");
}

static void test_compile_unknown_record_type(void)
{
    expect_compile_error(19,
                         "  { id = \"VN/COM/VIETTEL/subscriber\"; owner = \"VN/COM/VIETTEL\"; "
                         "type = \"lienthong.records.Shoe\";",
                         19, "unknown record type");
}

static void test_compile_view_unknown_field(void)
{
    expect_compile_error(24, "    fields = [ \"personal_id\", \"shoe_size\" ];", 23, "shoe_size");
    expect_compile_error(25, "    where = { shoe_size = \"42\"; }; }", 23, "shoe_size");
}

static void test_compile_policy_unknown_member(void)
{
    expect_compile_error(30, "  { consumer = \"VN/GOV/XYZ\"; target = \"VN/GOV/BCA/population\";",
                         30, "VN/GOV/XYZ");
}

static void test_compile_duplicate_member(void)
{
    expect_compile_error(9,
                         "  { id = \"VN/GOV/BCA\"; name = \"Thanh Hoa\"; endpoints = "
                         "[ \"tcp://10.0.0.2:7400\" ];",
                         9, "listed twice");
}

static void test_compile_bad_member_id(void)
{
    expect_compile_error(12, "  { id = \"vn/com/viettel\"; name = \"Viettel\";", 12,
                         "INSTANCE/CLASS/CODE");
    expect_compile_error(12, "  { id = \"VN/COM\"; name = \"Viettel\";", 12, "INSTANCE/CLASS/CODE");
}

/* libzmq takes a port modulo 65536: ":92938" would bind 27402. */
static void test_compile_bad_endpoint(void)
{
    static const char *const bad[][2] = {
        {"tcp://127.0.0.1:92938", "port '92938'"},
        {"tcp://127.0.0.1:65536", "port '65536'"},
        {"tcp://127.0.0.1:0", "port '0'"},
        {"tcp://127.0.0.1:+74", "port '+74'"},
        {"tcp://127.0.0.1:74x", "port '74x'"},
        {"tcp://127.0.0.1:", "port ''"},
        {"tcp://:7400", "no HOST"},
        {"tcp://10.0.0.3", "no :PORT"},
        {"tcp://::1:7400", "IPv6"},
        {"tcp://a b:7400", "HOST must be"},
        {"udp://10.0.0.3:7400", "not a tcp://"},
    };
    char line[256], needle[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "    endpoints = [ \"tcp://10.0.0.3:7400\", \"%s\" ];",
                 bad[i][0]);
        expect_compile_error(13, line, 13, bad[i][1]);
        snprintf(needle, sizeof needle, "endpoint 2 \"%s\"", bad[i][0]);
        expect_compile_error(13, line, 13, needle);
    }
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL;
    size_t len = 0;
    write_src(path, sizeof path, "endpoints.src", 13,
              "    endpoints = [ \"tcp://gw.x-y_z.vn:65535\", \"tcp://*:1\" ];");
    CU_ASSERT(lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) == 0);
    free(dir);
}

static void test_compile_unknown_operation(void)
{
    expect_compile_error(29, "    allow = [ \"subscribe\", \"delete\" ]; },", 29, "delete");
}

/* Every setting is known: a misspelt one is refused, never left out of
 * what is signed (a view without its 'where' would hold every record). */
static void test_compile_unknown_settings(void)
{
    expect_compile_error(25, "    wehre = { current_province = \"38\"; }; }", 25,
                         "unknown setting 'wehre'");
    expect_compile_error(4, "valid_dys = 365;", 4, "unknown setting 'valid_dys'");
    expect_compile_error(4, "valid_days = \"90\";", 4, "'valid_days' must be a whole number");
    expect_compile_error(3, "version = \"7\";", 3, "'version' must be a whole number");
    expect_compile_error(11, "    signing_key = \"@S1\"; stauts = \"revoked\"; },", 11,
                         "unknown setting 'stauts'");
    expect_compile_error(18,
                         "    type = \"lienthong.records.Population\"; key = \"personal_id\"; "
                         "descripton = \"x\"; },",
                         18, "unknown setting 'descripton'");
    expect_compile_error(31,
                         "    allow = [ \"verify\", \"lookup\" ]; feilds = [ \"full_name\" ]; "
                         "purposes = [ \"KYC\" ]; },",
                         31, "unknown setting 'feilds'");
}

static void test_compile_other_errors(void)
{
    expect_compile_error(4, "valid_days = 0;", 4, "valid_days");
    expect_compile_error(11, "    signing_key = \"@S1\"; status = \"retired\"; },", 11, "status");
    expect_compile_error(14, "    transport_key = \"@T0\"; signing_key = \"@S2\"; }", 12,
                         "same transport key");
    char err[ERRLEN] = "", path[700];
    uint8_t *dir = NULL;
    size_t len = 0;
    /* A lookup (or verify) policy on a view compiles (issue 15, PROTOCOL.md
     * 7.5): a province looks up only its own residents, only the view's fields. */
    write_src(path, sizeof path, "viewlookup.src", 29,
              "    allow = [ \"lookup\", \"verify\" ]; purposes = [ \"SERVICE\" ]; },");
    CU_ASSERT(lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) == 0);
    free(dir);
    dir = NULL;
    snprintf(path, sizeof path, "%s/absent.src", g_dir);
    CU_ASSERT(lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "cannot read") != NULL);
}

/* ---- lt_dir_validate on its own -------------------------------------------------- */

static Lienthong__Directory *good_message(void)
{
    char path[700], err[ERRLEN] = "";
    uint8_t *dir = NULL;
    size_t len = 0;
    write_src(path, sizeof path, "val.src", 0, NULL);
    if (lt_dir_compile(path, 0, 0, 0, &dir, &len, err, sizeof err) != 0)
        return NULL;
    Lienthong__Directory *m = lienthong__directory__unpack(NULL, len, dir);
    free(dir);
    return m;
}

/* Runs lt_dir_validate, expecting failure at (section, index) with needle. */
static void expect_invalid(const Lienthong__Directory *m, const char *section, size_t index,
                           const char *needle)
{
    const char *sec = "unset";
    size_t idx = 999;
    char err[ERRLEN] = "";
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == -1);
    if (section) {
        CU_ASSERT(sec != NULL && strcmp(sec, section) == 0);
        CU_ASSERT(idx == index);
    } else {
        CU_ASSERT(sec == NULL);
    }
    if (!strstr(err, needle))
        fprintf(stderr, "\n    want '%s' in: %s\n", needle, err);
    CU_ASSERT(strstr(err, needle) != NULL);
}

static void test_validate_top_level(void)
{
    Lienthong__Directory *m = good_message();
    CU_ASSERT_FATAL(m != NULL);
    const char *sec = "unset";
    size_t idx = 5;
    char err[ERRLEN] = "";
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    CU_ASSERT(sec == NULL && idx == 0);
    m->format = 2;
    expect_invalid(m, NULL, 0, "format");
    m->format = 1;
    m->version = 0;
    expect_invalid(m, NULL, 0, "version");
    m->version = 7;
    int64_t exp = m->expires_at;
    m->expires_at = m->issued_at;
    expect_invalid(m, NULL, 0, "expires");
    /* Valid for as long as valid_days allows at most (PROTOCOL.md 5.3). */
    m->expires_at = m->issued_at + LT_DIR_MAX_VALID_DAYS * 86400LL;
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    m->expires_at++;
    expect_invalid(m, NULL, 0, "valid for more than 3650 days");
    m->expires_at = INT64_MAX;
    expect_invalid(m, NULL, 0, "valid for more than 3650 days");
    int64_t issued = m->issued_at;
    m->issued_at = INT64_MIN; /* the difference would overflow int64 */
    expect_invalid(m, NULL, 0, "valid for more than 3650 days");
    m->issued_at = issued;
    m->expires_at = exp;
    char *fed = m->federation;
    m->federation = (char *)"";
    expect_invalid(m, NULL, 0, "federation");
    m->federation = fed;
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    lienthong__directory__free_unpacked(m, NULL);
}

static void test_validate_members(void)
{
    Lienthong__Directory *m = good_message();
    CU_ASSERT_FATAL(m != NULL);
    m->members[1]->transport_key.len = 31;
    expect_invalid(m, "members", 1, "transport key");
    m->members[1]->transport_key.len = 32;
    m->members[2]->signing_key.len = 0;
    expect_invalid(m, "members", 2, "signing key");
    m->members[2]->signing_key.len = 32;
    uint8_t *t2 = m->members[2]->transport_key.data;
    m->members[2]->transport_key.data = m->members[0]->transport_key.data;
    expect_invalid(m, "members", 2, "same transport key");
    m->members[2]->transport_key.data = t2;
    m->members[1]->status = LIENTHONG__MEMBER_STATUS__MEMBER_UNKNOWN;
    expect_invalid(m, "members", 1, "status");
    m->members[1]->status = LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED;
    char *ep = m->members[0]->endpoints[0];
    m->members[0]->endpoints[0] = (char *)"udp://10.0.0.1:7400";
    expect_invalid(m, "members", 0, "endpoint");
    m->members[0]->endpoints[0] = (char *)"tcp://10.0.0.1:70000";
    expect_invalid(m, "members", 0, "endpoint 'tcp://10.0.0.1:70000' is not tcp://HOST:PORT: port");
    m->members[0]->endpoints[0] = ep;
    char *id = m->members[1]->id;
    m->members[1]->id = (char *)"VN//38";
    expect_invalid(m, "members", 1, "INSTANCE/CLASS/CODE");
    m->members[1]->id = id;
    const char *sec;
    size_t idx;
    char err[ERRLEN];
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    lienthong__directory__free_unpacked(m, NULL);
}

static void test_validate_datasets_views(void)
{
    Lienthong__Directory *m = good_message();
    CU_ASSERT_FATAL(m != NULL);
    char *owner = m->datasets[1]->owner;
    m->datasets[1]->owner = (char *)"VN/GOV/NOPE";
    expect_invalid(m, "datasets", 1, "owner");
    m->datasets[1]->owner = owner;
    char *key = m->datasets[0]->key_field;
    m->datasets[0]->key_field = (char *)"sex"; /* an enum, not a string */
    expect_invalid(m, "datasets", 0, "key");
    m->datasets[0]->key_field = key;
    char *dsid = m->datasets[0]->id;
    m->datasets[0]->id = (char *)"VN/GOV/BCA/a/b";
    expect_invalid(m, "datasets", 0, "OWNER/NAME");
    m->datasets[0]->id = dsid;
    size_t nf = m->views[0]->n_fields;
    m->views[0]->n_fields = 0;
    expect_invalid(m, "views", 0, "no fields");
    m->views[0]->n_fields = nf;
    char *wf = m->views[0]->where[0]->field;
    m->views[0]->where[0]->field = (char *)"shoe_size";
    expect_invalid(m, "views", 0, "shoe_size");
    m->views[0]->where[0]->field = wf;
    char *vid = m->views[0]->id;
    m->views[0]->id = (char *)"VN/COM/VIETTEL/subscriber.x";
    expect_invalid(m, "views", 0, "DATASET.NAME");
    m->views[0]->id = vid;
    const char *sec;
    size_t idx;
    char err[ERRLEN];
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    lienthong__directory__free_unpacked(m, NULL);
}

static void test_validate_policies(void)
{
    Lienthong__Directory *m = good_message();
    CU_ASSERT_FATAL(m != NULL);
    Lienthong__Policy *p0 = m->policies[0], *p2 = m->policies[2];
    /* Lookup on a view is valid (issue 15): the view's fields and rows
     * bound what the policy releases (PROTOCOL.md 7.5). */
    p0->operations[0] = LIENTHONG__OPERATION__OP_LOOKUP;
    const char *vsec;
    size_t vidx;
    char verr[ERRLEN];
    CU_ASSERT(lt_dir_validate(m, &vsec, &vidx, verr, sizeof verr) == 0);
    p0->operations[0] = LIENTHONG__OPERATION__OP_SUBSCRIBE;
    size_t nops = p2->n_operations;
    p2->n_operations = 0;
    expect_invalid(m, "policies", 2, "no operation");
    p2->n_operations = nops;
    char *c = p2->consumer, *t = p2->target;
    p2->consumer = m->policies[1]->consumer;
    p2->target = m->policies[1]->target;
    expect_invalid(m, "policies", 2, "twice");
    p2->target = (char *)"VN/GOV/BCA/nothing";
    expect_invalid(m, "policies", 2, "not a listed dataset or view");
    p2->consumer = c;
    p2->target = t;
    char *f = m->policies[1]->fields[1];
    m->policies[1]->fields[1] = (char *)"shoe_size";
    expect_invalid(m, "policies", 1, "shoe_size");
    m->policies[1]->fields[1] = f;
    const char *sec;
    size_t idx;
    char err[ERRLEN];
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    lienthong__directory__free_unpacked(m, NULL);
}

/* ---- key rotation (PROTOCOL.md 5.5) ------------------------------------------ */

/* Member 1 (VN/PROV/38) lists next keys: both are admitted and verified. */
static void test_rotation_member_keys(void)
{
    uint8_t *dir = NULL, *sig = NULL;
    size_t dir_len = 0, sig_len = 0;
    char err[ERRLEN] = "";
    CU_ASSERT_FATAL(build_signed(11,
                                 "    signing_key = \"@S1\"; next_transport_key = \"@U1\";"
                                 " next_signing_key = \"@V1\"; },",
                                 0, 0, g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    lt_dir_t *d = lt_dir_open(sig, sig_len, &g_pins, "VN", (int64_t)time(NULL), err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    const Lienthong__Member *m = lt_dir_member(d, "VN/PROV/38");
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(lt_dir_member_by_transport(d, lt_keys_transport_public(g_members[1])) == m);
    CU_ASSERT(lt_dir_member_by_transport(d, lt_keys_transport_public(g_next[1])) == m);
    CU_ASSERT(lt_dir_member_by_transport(d, lt_keys_transport_public(g_next[0])) == NULL);
    const uint8_t *keys[2];
    CU_ASSERT(lt_dir_transport_keys(m, keys) == 2);
    CU_ASSERT(memcmp(keys[1], lt_keys_transport_public(g_next[1]), 32) == 0);
    CU_ASSERT(lt_dir_signing_keys(lt_dir_member(d, "VN/GOV/BCA"), keys) == 1);
    /* Either key of each kind; a key of another member is not the member's. */
    CU_ASSERT(lt_dir_member_holds(m, lt_keys_transport_public(g_next[1]),
                                  lt_keys_signing_public(g_next[1])));
    CU_ASSERT(lt_dir_member_holds(m, lt_keys_transport_public(g_members[1]),
                                  lt_keys_signing_public(g_next[1])));
    CU_ASSERT(!lt_dir_member_holds(m, lt_keys_transport_public(g_members[0]),
                                   lt_keys_signing_public(g_members[1])));
    CU_ASSERT(!lt_dir_member_holds(m, lt_keys_transport_public(g_next[1]),
                                   lt_keys_signing_public(g_next[2])));
    uint8_t s_old[LT_SIG_BYTES], s_new[LT_SIG_BYTES], s_other[LT_SIG_BYTES];
    const uint8_t msg[] = "root";
    CU_ASSERT_FATAL(lt_keys_sign(g_members[1], "test", msg, sizeof msg, s_old) == 0);
    CU_ASSERT_FATAL(lt_keys_sign(g_next[1], "test", msg, sizeof msg, s_new) == 0);
    CU_ASSERT_FATAL(lt_keys_sign(g_next[0], "test", msg, sizeof msg, s_other) == 0);
    CU_ASSERT(lt_dir_member_verify(m, "test", msg, sizeof msg, s_old) == 0);
    CU_ASSERT(lt_dir_member_verify(m, "test", msg, sizeof msg, s_new) == 0);
    CU_ASSERT(lt_dir_member_verify(m, "test", msg, sizeof msg, s_other) == -1);
    CU_ASSERT(lt_dir_member_verify(m, "other", msg, sizeof msg, s_new) == -1);
    /* A member without next keys verifies under its one key only. */
    CU_ASSERT(lt_dir_member_verify(lt_dir_member(d, "VN/GOV/BCA"), "test", msg, sizeof msg,
                                   s_other) == -1);
    lt_dir_destroy(&d);
    free(dir);
    free(sig);
}

static void test_rotation_invalid_keys(void)
{
    /* Line 11 of member 1 replaced; a validation error points at the start
     * of the member's group (line 9, or 12 for member 2). */
    static const struct {
        const char *with;
        int line;
        const char *needle;
    } bad[] = {
        {"next_transport_key = \"@T1\";", 9, "next transport key equals the current one"},
        {"next_signing_key = \"@S1\";", 9, "next signing key equals the current one"},
        {"next_transport_key = \"@T0\";", 9, "shares a transport key with 'VN/GOV/BCA'"},
        {"next_signing_key = \"@S0\";", 9, "shares a signing key with 'VN/GOV/BCA'"},
        /* member 2's current key is member 1's next key */
        {"next_transport_key = \"@T2\";", 12, "shares a transport key with 'VN/PROV/38'"},
        {"next_signing_key = \"short\";", 11, "next_signing_key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[200];
        snprintf(line, sizeof line, "    signing_key = \"@S1\"; %s },", bad[i].with);
        expect_compile_error(11, line, bad[i].line, bad[i].needle);
    }
    Lienthong__Directory *m = good_message();
    CU_ASSERT_FATAL(m != NULL);
    uint8_t k[32] = {1};
    m->members[0]->next_transport_key.data = k;
    m->members[0]->next_transport_key.len = 31;
    expect_invalid(m, "members", 0, "next transport key must be 32 bytes");
    m->members[0]->next_transport_key.len = 32;
    const char *sec;
    size_t idx;
    char err[ERRLEN];
    CU_ASSERT(lt_dir_validate(m, &sec, &idx, err, sizeof err) == 0);
    m->members[0]->next_transport_key.data = NULL;
    m->members[0]->next_transport_key.len = 0;
    lienthong__directory__free_unpacked(m, NULL);
}

/* A directory signed by a next authority key that the current directory
 * announces is trusted; the pins alone do not trust it. */
static void test_rotation_authority(void)
{
    uint8_t *dir = NULL, *sig = NULL, *dir2 = NULL, *sig2 = NULL;
    size_t dir_len = 0, sig_len = 0, dir2_len = 0, sig2_len = 0;
    char err[ERRLEN] = "";
    int64_t now = (int64_t)time(NULL);
    CU_ASSERT_FATAL(build_signed(4, "valid_days = 30; next_authority_keys = [ \"@A0\" ];", 0, 0,
                                 g_auth, &dir, &dir_len, &sig, &sig_len) == 0);
    lt_dir_t *cur = lt_dir_open(sig, sig_len, &g_pins, "VN", now, err, sizeof err);
    CU_ASSERT_FATAL(cur != NULL);
    CU_ASSERT(lt_dir_get(cur)->n_next_authority_keys == 1);
    CU_ASSERT_FATAL(build_signed(0, NULL, 0, 0, g_other_auth, &dir2, &dir2_len, &sig2, &sig2_len) ==
                    0);
    expect_open_fails(sig2, sig2_len, &g_pins, "VN", now, "no valid signature");
    lt_dir_pins_t trust;
    lt_dir_trust(&g_pins, NULL, &trust);
    CU_ASSERT(trust.count == 1);
    lt_dir_trust(&g_pins, cur, &trust);
    CU_ASSERT_FATAL(trust.count == 2);
    CU_ASSERT(memcmp(trust.keys[1], lt_keys_signing_public(g_other_auth), 32) == 0);
    lt_dir_t *next = lt_dir_open(sig2, sig2_len, &trust, "VN", now, err, sizeof err);
    CU_ASSERT(next != NULL);
    /* The successor announces nothing: only the pins trust its successors. */
    lt_dir_trust(&g_pins, next, &trust);
    CU_ASSERT(trust.count == 1);
    /* An announced key already pinned is not listed twice. */
    lt_dir_pins_t both = g_pins;
    memcpy(both.keys[both.count++], lt_keys_signing_public(g_other_auth), 32);
    lt_dir_trust(&both, cur, &trust);
    CU_ASSERT(trust.count == 2);
    lt_dir_destroy(&next);
    lt_dir_destroy(&cur);
    free(dir);
    free(sig);
    free(dir2);
    free(sig2);
    expect_compile_error(4, "valid_days = 30; next_authority_keys = [ \"nope\" ];", 4,
                         "next_authority_keys item 1");
    expect_compile_error(4,
                         "next_authority_keys = [ \"@A0\", \"@A0\", \"@A0\", \"@A0\", \"@A0\" ];",
                         4, "at most 4");
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"compile + sign + open round trip", test_round_trip},
        {"compile overrides version and times, within the validity bound", test_compile_overrides},
        {"load from file", test_load_from_file},
        {"queries", test_queries},
        {"names and pins", test_names_and_pins},
        {"open refuses a wrong pinned key", test_wrong_pin},
        {"open refuses expired and future directories", test_expired_and_future},
        {"open names times past the calendar in unix seconds", test_times_past_the_calendar},
        {"open refuses another federation", test_federation_mismatch},
        {"open refuses any flipped signed byte", test_any_flipped_signed_byte},
        {"open refuses garbage", test_garbage},
        {"open refuses a signed but invalid directory", test_signed_but_invalid},
        {"authority key hint is not trusted", test_authority_hint_untrusted},
        {"signatures examined and verifications spent are bounded", test_signature_bounds},
        {"the signer is the key that verified the directory at open, not verified again",
         test_signer_from_open},
        {"compile: syntax error line", test_compile_syntax_error},
        {"compile: bad Z85 key line", test_compile_bad_key},
        {"compile: dataset rules, and errors quoting the token", test_compile_rules},
        {"compile: unknown record type line", test_compile_unknown_record_type},
        {"compile: view with unknown field line", test_compile_view_unknown_field},
        {"compile: policy naming unknown member line", test_compile_policy_unknown_member},
        {"compile: duplicate member id line", test_compile_duplicate_member},
        {"compile: bad member id line", test_compile_bad_member_id},
        {"compile: endpoint port 1..65535, host present, with line", test_compile_bad_endpoint},
        {"compile: unknown operation line", test_compile_unknown_operation},
        {"compile: a misspelt setting is refused", test_compile_unknown_settings},
        {"compile: other errors", test_compile_other_errors},
        {"validate: top level", test_validate_top_level},
        {"validate: members", test_validate_members},
        {"validate: datasets and views", test_validate_datasets_views},
        {"validate: policies", test_validate_policies},
        {"rotation: a member's current and next keys", test_rotation_member_keys},
        {"rotation: invalid next keys", test_rotation_invalid_keys},
        {"rotation: next authority keys", test_rotation_authority},
        {NULL, NULL},
    };
    return ut_main("lt_dir", suite_init, suite_clean, tests);
}
