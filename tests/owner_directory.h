/* owner_directory.h: the small federation on which the owner's write path
 * (gateway/lt_publish, PROTOCOL.md 6.1 and 8.1) is tested, shared by the
 * unit suite (tests/unit/test_publish.c) and the fuzz targets
 * (tests/fuzz/fuzz_publish.c; tests/fuzz/fuzz_feed.c, which keeps the
 * owner's keys to sign batches and snapshots).
 *
 * VN/GOV/BCA owns two datasets: population (views: residents of province
 * 38 with two fields; living residents of 38 with one) and phones (view:
 * active subscribers); VN/COM/VIETTEL owns subscribers and may look up,
 * verify (full_name, date_of_birth; purpose KYC) and subscribe to
 * population (tests/unit/test_querymod.c, test_feed.c). The directory is
 * compiled from source, signed by a throwaway authority and opened in
 * process (expiry not checked). */
#ifndef LT_OWNER_DIRECTORY_H
#define LT_OWNER_DIRECTORY_H

#include "lt_dir.h"
#include "lt_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OD_OWNER   "VN/GOV/BCA"
#define OD_POP     "VN/GOV/BCA/population"
#define OD_P38     OD_POP ".p38"
#define OD_ALIVE38 OD_POP ".alive38"
#define OD_PHONES  "VN/GOV/BCA/phones"
#define OD_ACTIVE  OD_PHONES ".active"
#define OD_FOREIGN "VN/COM/VIETTEL/subscribers"

/* Writes the source with the members' keys to path, with the text of more
 * views (each starting ",\n") after the fixed ones, pop_rules (e.g.
 * "rules = ( ... );") in the population dataset, more policies (each
 * starting ",\n") after the fixed one, and the owner's status ("" for
 * none: active; "suspended" or "revoked", PROTOCOL.md 3.2); 0 or -1. */
static inline int od_write_source_status(const char *path, const lt_keys_t *owner,
                                         const lt_keys_t *other, const char *more_views,
                                         const char *pop_rules, const char *more_policies,
                                         const char *owner_status)
{
    char z[4][LT_Z85_KEY_LEN + 1], status[64] = "";
    if (owner_status[0])
        snprintf(status, sizeof status, " status = \"%s\";", owner_status);
    lt_keys_z85_encode(lt_keys_transport_public(owner), z[0]);
    lt_keys_z85_encode(lt_keys_signing_public(owner), z[1]);
    lt_keys_z85_encode(lt_keys_transport_public(other), z[2]);
    lt_keys_z85_encode(lt_keys_signing_public(other), z[3]);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "federation = \"VN\";\nversion = 2;\n"
            "members = (\n"
            "  { id = \"" OD_OWNER "\"; name = \"BCA\"; endpoints = [\"tcp://127.0.0.1:7400\"];\n"
            "    transport_key = \"%s\"; signing_key = \"%s\";%s },\n"
            "  { id = \"VN/COM/VIETTEL\"; name = \"Viettel\";\n"
            "    transport_key = \"%s\"; signing_key = \"%s\"; } );\n"
            "datasets = (\n"
            "  { id = \"" OD_POP "\"; owner = \"" OD_OWNER "\";\n"
            "    type = \"lienthong.records.Population\"; key = \"personal_id\"; %s },\n"
            "  { id = \"" OD_PHONES "\"; owner = \"" OD_OWNER "\";\n"
            "    type = \"lienthong.records.Subscriber\"; key = \"phone_number\"; },\n"
            "  { id = \"" OD_FOREIGN "\"; owner = \"VN/COM/VIETTEL\";\n"
            "    type = \"lienthong.records.Subscriber\"; key = \"phone_number\"; } );\n"
            "views = (\n"
            "  { id = \"" OD_P38 "\"; dataset = \"" OD_POP "\";\n"
            "    fields = [\"personal_id\", \"full_name\"]; where = { current_province = \"38\"; "
            "}; },\n"
            "  { id = \"" OD_ALIVE38 "\"; dataset = \"" OD_POP "\"; fields = [\"full_name\"];\n"
            "    where = { status = \"CITIZEN_ALIVE\"; current_province = \"38\"; }; },\n"
            "  { id = \"" OD_ACTIVE "\"; dataset = \"" OD_PHONES "\";\n"
            "    fields = [\"phone_number\", \"owner_personal_id\"];\n"
            "    where = { status = \"SUBSCRIBER_ACTIVE\"; }; }%s );\n"
            "policies = (\n"
            "  { consumer = \"VN/COM/VIETTEL\"; target = \"" OD_POP "\";\n"
            "    allow = [\"lookup\", \"verify\", \"subscribe\"];\n"
            "    fields = [\"full_name\", \"date_of_birth\"]; purposes = [\"KYC\"]; }%s );\n",
            z[0], z[1], status, z[2], z[3], pop_rules, more_views, more_policies);
    return fclose(f) == 0 ? 0 : -1;
}

static inline int od_write_source_full(const char *path, const lt_keys_t *owner,
                                       const lt_keys_t *other, const char *more_views,
                                       const char *pop_rules, const char *more_policies)
{
    return od_write_source_status(path, owner, other, more_views, pop_rules, more_policies, "");
}

static inline int od_write_source_rules(const char *path, const lt_keys_t *owner,
                                        const lt_keys_t *other, const char *more_views,
                                        const char *pop_rules)
{
    return od_write_source_full(path, owner, other, more_views, pop_rules, "");
}

static inline int od_write_source_views(const char *path, const lt_keys_t *owner,
                                        const lt_keys_t *other, const char *more_views)
{
    return od_write_source_rules(path, owner, other, more_views, "");
}

/* Writes the source with the members' keys to path; 0 or -1. */
static inline int od_write_source(const char *path, const lt_keys_t *owner, const lt_keys_t *other)
{
    return od_write_source_views(path, owner, other, "");
}

/* Compiles the directory source at path (removed afterwards), signs it by
 * auth and opens it (expiry not checked): the directory of federation
 * "VN" written by a test. NULL with the reason in err. */
static inline lt_dir_t *od_directory_file(const char *path, const lt_keys_t *auth, char *err,
                                          size_t errlen)
{
    uint8_t *raw = NULL, *sig = NULL;
    size_t raw_len = 0, sig_len = 0;
    lt_dir_pins_t pins = {.count = 1};
    lt_dir_t *d = NULL;
    if (lt_dir_compile(path, 0, 0, 0, &raw, &raw_len, err, errlen) == 0 &&
        lt_dir_sign(raw, raw_len, auth, &sig, &sig_len) == 0) {
        memcpy(pins.keys[0], lt_keys_signing_public(auth), LT_KEY_BYTES);
        d = lt_dir_open(sig, sig_len, &pins, "VN", 0, err, errlen);
    }
    free(raw);
    free(sig);
    (void)unlink(path);
    return d;
}

/* Builds the directory with the members' keys owner and other (the owner
 * and VN/COM/VIETTEL), signed by auth, with more_views, pop_rules,
 * more_policies and owner_status (see od_write_source_status), using
 * tmpdir for its source file (removed afterwards). NULL with the reason in
 * err. */
static inline lt_dir_t *od_directory_status(const char *tmpdir, const lt_keys_t *owner,
                                            const lt_keys_t *other, const lt_keys_t *auth,
                                            const char *more_views, const char *pop_rules,
                                            const char *more_policies, const char *owner_status,
                                            char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/owner-directory.src", tmpdir);
    snprintf(err, errlen, "cannot write %s", path);
    if (!owner || !other || !auth ||
        od_write_source_status(path, owner, other, more_views, pop_rules, more_policies,
                               owner_status) != 0) {
        (void)unlink(path);
        return NULL;
    }
    return od_directory_file(path, auth, err, errlen);
}

static inline lt_dir_t *od_directory_full(const char *tmpdir, const lt_keys_t *owner,
                                          const lt_keys_t *other, const lt_keys_t *auth,
                                          const char *more_views, const char *pop_rules,
                                          const char *more_policies, char *err, size_t errlen)
{
    return od_directory_status(tmpdir, owner, other, auth, more_views, pop_rules, more_policies, "",
                               err, errlen);
}

static inline lt_dir_t *od_directory_keyed(const char *tmpdir, const lt_keys_t *owner,
                                           const lt_keys_t *other, const lt_keys_t *auth,
                                           const char *more_views, const char *pop_rules, char *err,
                                           size_t errlen)
{
    return od_directory_full(tmpdir, owner, other, auth, more_views, pop_rules, "", err, errlen);
}

/* The same with fresh keys, which nobody keeps, and more_policies. */
static inline lt_dir_t *od_directory_policies(const char *tmpdir, const char *more_views,
                                              const char *pop_rules, const char *more_policies,
                                              char *err, size_t errlen)
{
    lt_keys_t *a = lt_keys_new(LT_KEYS_MEMBER), *b = lt_keys_new(LT_KEYS_MEMBER),
              *auth = lt_keys_new(LT_KEYS_AUTHORITY);
    lt_dir_t *d =
        od_directory_full(tmpdir, a, b, auth, more_views, pop_rules, more_policies, err, errlen);
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
    lt_keys_destroy(&auth);
    return d;
}

static inline lt_dir_t *od_directory_rules(const char *tmpdir, const char *more_views,
                                           const char *pop_rules, char *err, size_t errlen)
{
    return od_directory_policies(tmpdir, more_views, pop_rules, "", err, errlen);
}

static inline lt_dir_t *od_directory_views(const char *tmpdir, const char *more_views, char *err,
                                           size_t errlen)
{
    return od_directory_rules(tmpdir, more_views, "", err, errlen);
}

/* Builds the directory, using tmpdir for its source file (removed
 * afterwards). NULL with the reason in err. */
static inline lt_dir_t *od_directory(const char *tmpdir, char *err, size_t errlen)
{
    return od_directory_views(tmpdir, "", err, errlen);
}

#endif
