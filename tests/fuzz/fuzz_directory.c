/* fuzz_directory: libFuzzer target for the signed directory. Each input is
 * (1) opened with lt_dir_open against a pinned key set (the fixed test
 * authority of fuzz_common.h plus an unrelated key), at a fixed clock and
 * with the age check off; and (2) unpacked directly as a Directory and
 * handed to lt_dir_validate, so the validator is fuzzed even though random
 * bytes never carry a valid signature. Opened directories are queried;
 * every decoded one is also printed (lt_dirshow, as `lienthong directory
 * show` does with a file nobody verified) and checked by lt_dirshow_check,
 * whose verdict must agree with lt_dir_validate. */
#include "fuzz_common.h"
#include "lt_dir.h"
#include "lt_dirshow.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static lt_dir_pins_t g_pins;
static FILE *g_null; /* what the printer writes to: only its reads matter */

static void s_init(void)
{
    if (g_pins.count)
        return;
    if (sodium_init() < 0)
        abort();
    uint8_t seed[32], sk[64];
    fuzz_authority_seed(seed);
    if (crypto_sign_seed_keypair(g_pins.keys[1], sk, seed) != 0)
        abort();
    memset(g_pins.keys[0], 0x42, 32);
    g_pins.count = 2;
    if (!(g_null = fopen("/dev/null", "w")))
        abort();
}

/* Runs every query once per member, dataset, view and policy. */
static void s_query(const lt_dir_t *d)
{
    const Lienthong__Directory *m = lt_dir_get(d);
    size_t len = 0;
    if (!lt_dir_signed_bytes(d, &len) || len == 0 || lt_dir_version(d) != m->version)
        abort();
    for (size_t i = 0; i < m->n_members; i++) {
        if (lt_dir_member(d, m->members[i]->id) != m->members[i])
            abort();
        if (!lt_dir_member_by_transport(d, m->members[i]->transport_key.data))
            abort();
        (void)lt_dir_status_name(m->members[i]->status);
    }
    for (size_t i = 0; i < m->n_datasets; i++)
        if (lt_dir_dataset(d, m->datasets[i]->id) != m->datasets[i])
            abort();
    for (size_t i = 0; i < m->n_views; i++)
        if (lt_dir_view(d, m->views[i]->id) != m->views[i])
            abort();
    for (size_t i = 0; i < m->n_policies; i++) {
        const Lienthong__Policy *p =
            lt_dir_policy(d, m->policies[i]->consumer, m->policies[i]->target);
        if (p != m->policies[i] || !lt_dir_policy_allows(p, p->operations[0]))
            abort();
        (void)lt_dir_op_name(p->operations[0]);
    }
}

static void s_open(const uint8_t *data, size_t size, const char *federation, int64_t now)
{
    char err[1024];
    err[0] = 0;
    lt_dir_t *d = lt_dir_open(data, size, &g_pins, federation, now, err, sizeof err);
    if (!d && !err[0])
        abort();
    if (d) {
        s_query(d);
        lt_dir_destroy(&d);
    }
}

static void s_validate(const uint8_t *data, size_t size)
{
    Lienthong__Directory *m = lienthong__directory__unpack(NULL, size, data);
    if (!m)
        return;
    const char *section = NULL;
    size_t index = 0;
    char err[1024];
    err[0] = 0;
    int rc = lt_dir_validate(m, &section, &index, err, sizeof err);
    if (rc != 0 && !err[0])
        abort();
    if (rc == 0 && section)
        abort();
    if (lt_dirshow_print(g_null, m, "fuzz") != 0)
        abort();
    /* The same verdict, unless the bytes are not UTF-8 (checked first). */
    err[0] = 0;
    int shown = lt_dirshow_check(data, size, m, err, sizeof err);
    if ((shown != 0 && !err[0]) || (rc != 0 && shown == 0))
        abort();
    lienthong__directory__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    s_open(data, size, "VN", FUZZ_NOW);
    s_open(data, size, NULL, 0);
    s_validate(data, size);
    /* The body of a SignedDirectory, validated without its signature. */
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, size, data);
    if (sd) {
        s_validate(sd->directory.data, sd->directory.len);
        lienthong__signed_directory__free_unpacked(sd, NULL);
    }
    return 0;
}
