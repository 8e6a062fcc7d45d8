/* lienthong-popgen: demo data for the demonstration federation, the tests
 * and the benchmarks: a deterministic Vietnamese population in an agency's
 * SQLite database, rounds of changes to it, a mobile operator's
 * subscribers, and the insurance-card and vaccination registers of two more
 * owners (with their own rounds of changes). Not part of the product: it is neither linked into the
 * libraries nor installed. */
#include "lt_popgen.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE_POPGEN =
    "lienthong-popgen --db FILE (--citizens N | --changes N | --subscribers N --population FILE"
    " | --insurance-cards --population FILE | --vaccinations --population FILE"
    " | --card-changes N | --vaccination-changes N) [--seed S]";

/* Prints "lienthong-popgen: " and the message to stderr; returns code. */
static int __attribute__((format(printf, 3, 4)))
s_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    (void)cmd;
    fprintf(stderr, "lienthong-popgen: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static int s_bad_arg(const char *cmd, const char *arg, const char *usage)
{
    (void)cmd;
    fprintf(stderr, "lienthong-popgen: unexpected argument '%s'\nusage: %s\n", arg, usage);
    return 2;
}

/* Strict whole number: digits only, no sign, no trailing text. */
static int s_number(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (!(text[0] >= '0' && text[0] <= '9') || errno || *end)
        return s_fail(2, cmd, "%s expects a whole number, got '%s'", opt, text);
    *out = v;
    return 0;
}

typedef struct {
    const char *db, *population;
    uint64_t citizens, changes, subscribers, card_changes, vacc_changes, seed;
    int modes;
} s_popgen_args_t;

static int s_popgen_args(int argc, char **argv, s_popgen_args_t *a)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"citizens", required_argument, 0, 'n'},
                                         {"changes", required_argument, 0, 'x'},
                                         {"subscribers", required_argument, 0, 's'},
                                         {"population", required_argument, 0, 'p'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"insurance-cards", no_argument, 0, 'i'},
                                         {"vaccinations", no_argument, 0, 'v'},
                                         {"card-changes", required_argument, 0, 'I'},
                                         {"vaccination-changes", required_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        if (c == 'd')
            a->db = optarg;
        else if (c == 'p')
            a->population = optarg;
        else if (c == 'n')
            bad = s_number(argv[0], "--citizens", optarg, &a->citizens), a->modes |= 1;
        else if (c == 'x')
            bad = s_number(argv[0], "--changes", optarg, &a->changes), a->modes |= 2;
        else if (c == 's')
            bad = s_number(argv[0], "--subscribers", optarg, &a->subscribers), a->modes |= 4;
        else if (c == 'i')
            a->modes |= 8;
        else if (c == 'v')
            a->modes |= 16;
        else if (c == 'I')
            bad = s_number(argv[0], "--card-changes", optarg, &a->card_changes), a->modes |= 32;
        else if (c == 'V')
            bad = s_number(argv[0], "--vaccination-changes", optarg, &a->vacc_changes),
            a->modes |= 64;
        else if (c == 'S')
            bad = s_number(argv[0], "--seed", optarg, &a->seed);
        else if (c == 'h') {
            printf("usage: %s\n", USAGE_POPGEN);
            return 0;
        } else
            return s_bad_arg(argv[0], argv[optind - 1], USAGE_POPGEN);
        if (bad)
            return 2;
    }
    if (optind < argc)
        return s_bad_arg(argv[0], argv[optind], USAGE_POPGEN);
    if (!a->db)
        return s_fail(2, argv[0], "missing --db FILE\nusage: %s", USAGE_POPGEN);
    if (a->modes == 0 || (a->modes & (a->modes - 1)) != 0)
        return s_fail(2, argv[0],
                      "give exactly one of --citizens, --changes, --subscribers,"
                      " --insurance-cards, --vaccinations, --card-changes,"
                      " --vaccination-changes\nusage: %s",
                      USAGE_POPGEN);
    if (((a->modes & (4 | 8 | 16)) != 0) != (a->population != NULL))
        return s_fail(2, argv[0],
                      "--population FILE goes with --subscribers, --insurance-cards"
                      " and --vaccinations (and only with them)\nusage: %s",
                      USAGE_POPGEN);
    return -1; /* go on */
}

/* The insurance-card and vaccination registers and their changes. */
static int s_other_owners(const s_popgen_args_t *a)
{
    char err[1024];
    if (a->modes == 8) {
        lt_popgen_cards_t d;
        if (lt_popgen_cards(a->db, a->population, a->seed, &d, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " insurance cards added to %s: %" PRIu64 " expired, %" PRIu64
               " suspended\n",
               d.cards, a->db, d.expired, d.suspended);
    } else if (a->modes == 16) {
        lt_popgen_vaccinations_t d;
        if (lt_popgen_vaccinations(a->db, a->population, a->seed, &d, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " vaccination records added to %s: %" PRIu64
               " at facilities of province 38\n",
               d.records, a->db, d.in_38);
    } else if (a->modes == 32) {
        lt_popgen_card_changes_t d;
        if (lt_popgen_card_changes(a->db, a->card_changes, a->seed, &d, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " changes to insurance cards in %s: %" PRIu64
               " renewals, %" PRIu64 " hospital moves, %" PRIu64 " suspensions, %" PRIu64
               " reinstatements, %" PRIu64 " cancellations\n",
               a->card_changes, a->db, d.renewals, d.hospital_moves, d.suspensions,
               d.reinstatements, d.cancellations);
    } else {
        lt_popgen_vaccination_changes_t d;
        if (lt_popgen_vaccination_changes(a->db, a->vacc_changes, a->seed, &d, err, sizeof err) !=
            0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " changes to vaccinations in %s: %" PRIu64
               " further doses, %" PRIu64 " facility corrections, %" PRIu64 " withdrawn; %" PRIu64
               " records moved into province 38, %" PRIu64 " out of it\n",
               a->vacc_changes, a->db, d.doses, d.facility_fixes, d.withdrawals, d.into_38,
               d.out_of_38);
    }
    return 0;
}

int main(int argc, char **argv)
{
    s_popgen_args_t a = {.seed = 1};
    int rc = s_popgen_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char err[1024];
    if (a.modes == 1) {
        if (lt_popgen_citizens(a.db, a.citizens, a.seed, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " citizens added to %s (seed %" PRIu64 ")\n", a.citizens, a.db,
               a.seed);
    } else if (a.modes == 2) {
        lt_popgen_changes_t d;
        if (lt_popgen_changes(a.db, a.changes, a.seed, &d, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " changes to citizens in %s: %" PRIu64 " moves (%" PRIu64
               " into 38, %" PRIu64 " out of 38), %" PRIu64 " deaths, %" PRIu64
               " name corrections, %" PRIu64 " birth-date corrections\n",
               a.changes, a.db, d.moves, d.moves_into_38, d.moves_out_of_38, d.deaths, d.name_fixes,
               d.birth_fixes);
    } else if (a.modes >= 8) {
        return s_other_owners(&a);
    } else {
        lt_popgen_subs_t d;
        if (lt_popgen_subscribers(a.db, a.population, a.subscribers, a.seed, &d, err, sizeof err) !=
            0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " subscribers added to %s: %" PRIu64 " with a wrong owner name, "
               "%" PRIu64 " with a wrong owner birth date\n",
               d.subscribers, a.db, d.name_mismatches, d.birth_mismatches);
    }
    return 0;
}
