/* lt_popgen: deterministic, realistic demo data for the National Population
 * Database (the Ministry of Public Security's `citizens` table, one column
 * per field of lienthong.records.Population) and for a mobile operator's
 * `subscribers` table (lienthong.records.Subscriber).
 *
 * Everything is drawn from a seeded splitmix64 generator: the same seed and
 * the same starting database give the same rows, byte for byte. Names are
 * Vietnamese, NFC, with realistic family-name frequencies; personal ids are
 * 12 digits laid out like Vietnam's (province of birth, century and sex,
 * year of birth, 6 random digits); province codes are the 63 real ones. */
#ifndef LT_POPGEN_H
#define LT_POPGEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t moves, moves_into_38, moves_out_of_38, deaths, name_fixes, birth_fixes;
} lt_popgen_changes_t;

typedef struct {
    uint64_t subscribers, name_mismatches, birth_mismatches;
} lt_popgen_subs_t;

/* The SQL that creates the citizens table if it is missing. */
extern const char *const LT_POPGEN_CITIZENS_SQL;

/* Creates `citizens` in db_path if missing and inserts n citizens in one
 * transaction. The stream is derived from seed and the number of rows
 * already there. Returns 0, or -1 with err set. */
int lt_popgen_citizens(const char *db_path, uint64_t n, uint64_t seed, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Applies n changes to existing citizens in transactions of 500: moves
 * (some into province 38, some out of it), deaths, name and birth-date
 * corrections. Returns 0, or -1 with err set. */
int lt_popgen_changes(const char *db_path, uint64_t n, uint64_t seed, lt_popgen_changes_t *done,
                      char *err, size_t errlen) __attribute__((warn_unused_result));

/* Creates `subscribers` in db_path if missing and inserts n subscribers
 * whose owners are drawn from the citizens of population_path, about 3% of
 * them with a deliberately wrong owner name or birth date. */
int lt_popgen_subscribers(const char *db_path, const char *population_path, uint64_t n,
                          uint64_t seed, lt_popgen_subs_t *done, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
