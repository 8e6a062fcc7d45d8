/* lt_popgen: deterministic, realistic demo data for the National Population
 * Database (the Ministry of Public Security's `citizens` table, one column
 * per field of lienthong.records.Population), for a mobile operator's
 * `subscribers` table (lienthong.records.Subscriber), and for the registers
 * of two more owners drawn from the same citizens: Viet Nam Social
 * Security's `insurance_cards` (lienthong.records.InsuranceCard) and the
 * Ministry of Health's `vaccinations` (lienthong.records.Vaccination).
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

#include "lt_err.h"

typedef struct {
    uint64_t moves, moves_into_38, moves_out_of_38, deaths, name_fixes, birth_fixes;
} lt_popgen_changes_t;

typedef struct {
    uint64_t subscribers, name_mismatches, birth_mismatches;
} lt_popgen_subs_t;

typedef struct {
    uint64_t cards, expired, suspended;
} lt_popgen_cards_t;

typedef struct {
    uint64_t renewals, hospital_moves, suspensions, reinstatements, cancellations;
} lt_popgen_card_changes_t;

typedef struct {
    uint64_t records, in_38;
} lt_popgen_vaccinations_t;

typedef struct {
    uint64_t doses, facility_fixes, into_38, out_of_38, withdrawals;
} lt_popgen_vaccination_changes_t;

/* The SQL that creates the citizens table if it is missing. */
extern const char *const LT_POPGEN_CITIZENS_SQL;

/* Creates `citizens` in db_path if missing and inserts n citizens in one
 * transaction. The stream is derived from seed and the number of rows
 * already there. Returns 0, or -1 with err set. */
int lt_popgen_citizens(const char *db_path, uint64_t n, uint64_t seed, char *err,
                       size_t errlen) LT_NODISCARD;

/* Applies n changes to existing citizens in transactions of 500: moves
 * (some into province 38, some out of it), deaths, name and birth-date
 * corrections. Returns 0, or -1 with err set. */
int lt_popgen_changes(const char *db_path, uint64_t n, uint64_t seed, lt_popgen_changes_t *done,
                      char *err, size_t errlen) LT_NODISCARD;

/* Creates `subscribers` in db_path if missing and inserts n subscribers
 * whose owners are drawn from the citizens of population_path, about 3% of
 * them with a deliberately wrong owner name or birth date. */
int lt_popgen_subscribers(const char *db_path, const char *population_path, uint64_t n,
                          uint64_t seed, lt_popgen_subs_t *done, char *err,
                          size_t errlen) LT_NODISCARD;

/* The SQL that creates the insurance_cards and vaccinations tables. */
extern const char *const LT_POPGEN_CARDS_SQL;
extern const char *const LT_POPGEN_VACCINATIONS_SQL;

/* Creates `insurance_cards` in db_path if missing and gives about 93% of
 * the living citizens of population_path that hold no card yet a card:
 * a number "GGLPPNNNNNNNNNN" (beneficiary group by age, benefit level,
 * province of permanent residence, 10 digits), a year of validity starting
 * no later than 2025-06-30 (3% expired in 2024, 2% suspended), a hospital
 * "PPNNN" of the province the citizen lives in. */
int lt_popgen_cards(const char *db_path, const char *population_path, uint64_t seed,
                    lt_popgen_cards_t *done, char *err, size_t errlen) LT_NODISCARD;

/* Creates `vaccinations` in db_path if missing and records, for about half
 * of the living citizens of population_path not in it yet, one programme
 * vaccine fitting their age and sex: doses, first and last dose dates (no
 * later than 2025-06-30, last >= first, after birth), the facility of the
 * last dose and its province (mostly where the citizen lives). */
int lt_popgen_vaccinations(const char *db_path, const char *population_path, uint64_t seed,
                           lt_popgen_vaccinations_t *done, char *err, size_t errlen) LT_NODISCARD;

/* n changes to insurance_cards: renewals, hospital moves, suspensions and
 * reinstatements, cancellations (deleted rows); no date after 2025-12-31
 * except a renewed card's end of validity. */
int lt_popgen_card_changes(const char *db_path, uint64_t n, uint64_t seed,
                           lt_popgen_card_changes_t *done, char *err, size_t errlen) LT_NODISCARD;

/* n changes to vaccinations: further doses, corrected facilities (some
 * into or out of province 38), withdrawn records (deleted rows). */
int lt_popgen_vaccination_changes(const char *db_path, uint64_t n, uint64_t seed,
                                  lt_popgen_vaccination_changes_t *done, char *err,
                                  size_t errlen) LT_NODISCARD;

#endif
