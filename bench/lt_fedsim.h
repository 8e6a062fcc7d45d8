/* lt_fedsim: the data side of the federation simulation (bench_federation).
 *
 * - The 63 provinces and centrally-run cities with their real two-digit
 *   codes (as in adapters/lt_popgen.c) and 2019 census weights; the five
 *   centrally-run cities form the first tier.
 * - A deterministic citizen generator: citizen i of a seed has fixed
 *   identity fields (personal id, name, birth date, sex, birth province...)
 *   and mutable ones given as parameters (current province, address
 *   version, status), packed as a ~256-byte lienthong.records.Population.
 * - Read-only checks of gateway stores (data_dir/store.db) with the sqlite3
 *   C API: a stream's log and state compared byte for byte between an owner
 *   and a replica; a view replica's live rows compared with the model.
 * - What bench_federation and bench_wan both measure with: the Change that
 *   publishes a citizen of the model, a replica's lag sample, and series
 *   of figures with their percentiles. */
#ifndef LT_FEDSIM_H
#define LT_FEDSIM_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"

#define LT_FEDSIM_PROVINCES    63
#define LT_FEDSIM_MAX_CITIZENS 1000000 /* the personal id ends in the index */

typedef struct {
    const char *code; /* "01" ... "96" */
    const char *name; /* "Hà Nội" */
    uint32_t people;  /* thousands, 2019 census: the draw weight */
    int city;         /* 1 for the five centrally-run cities */
} lt_fedsim_province_t;

extern const lt_fedsim_province_t lt_fedsim_provinces[LT_FEDSIM_PROVINCES];

/* splitmix64, for everything random in the simulation. */
typedef struct {
    uint64_t s;
} lt_fedsim_rng_t;
void lt_fedsim_rng_seed(lt_fedsim_rng_t *r, uint64_t seed, uint64_t salt);
uint64_t lt_fedsim_rng_next(lt_fedsim_rng_t *r);
/* Uniform in [0, n). */
uint32_t lt_fedsim_rng_below(lt_fedsim_rng_t *r, uint32_t n);
/* A province index drawn with the census weights. */
int lt_fedsim_rng_province(lt_fedsim_rng_t *r);

/* The province citizen i lives in when first loaded. */
int lt_fedsim_home(uint64_t seed, uint64_t i);

enum { LT_FEDSIM_ALIVE = 1, LT_FEDSIM_DECEASED = 2 }; /* = CitizenStatus values */

/* One citizen as the source database holds it. */
typedef struct {
    char personal_id[16];
    char full_name[96];
    char date_of_birth[16];
    int sex; /* lienthong.records.Sex */
    char place_of_birth[48];
    char home_town[128];
    const char *ethnicity;
    const char *permanent_province;
    char permanent_address[192];
    const char *current_province;
    char current_address[192];
    char id_card_issued[16];
    int status; /* lienthong.records.CitizenStatus */
    char date_of_death[16];
} lt_fedsim_person_t;

/* Citizen i (i < LT_FEDSIM_MAX_CITIZENS) living in province index
 * `province`, at address version `version`, with `status`. */
void lt_fedsim_person(uint64_t seed, uint64_t i, int province, uint32_t version, int status,
                      lt_fedsim_person_t *p);
/* Packs it as lienthong.records.Population into out; returns the size, or
 * 0 when cap is too small. */
size_t lt_fedsim_pack(const lt_fedsim_person_t *p, uint8_t *out, size_t cap);
/* Citizen index of a personal id made by lt_fedsim_person, or -1. */
long lt_fedsim_index(const char *personal_id);

/* ---- store checks (read-only, sqlite3) ----------------------------------- */

typedef struct {
    uint64_t last_seq;   /* equal on both sides when the check passes */
    uint64_t records;    /* log records compared */
    uint64_t tombstones; /* of which deletions */
    uint64_t state_rows; /* state rows compared */
    uint64_t live;       /* of which not deleted */
} lt_fedsim_cmp_t;

/* Compares stream `name` of the owner's store and of a replica's store:
 * same last_seq, log records 1..last_seq present and byte-identical (log
 * id = stream_id << 40 | seq), nothing beyond, identical state tables.
 * 0 when equal; -1 with the first difference in err. */
int lt_fedsim_compare(const char *owner_db, const char *replica_db, const char *name,
                      lt_fedsim_cmp_t *out, char *err, size_t errlen);

/* The model's view of citizen i, for lt_fedsim_check_view. */
typedef struct {
    uint64_t seed;
    size_t n;
    const uint8_t *province; /* current province index per citizen */
    const uint32_t *version; /* address version per citizen */
    const uint8_t *status;   /* status per citizen */
} lt_fedsim_model_t;

/* Checks that the live state rows of view `name` in db (a view of
 * province index p with the view's fields) are exactly the model's
 * citizens of p, each with the model's current values and no field
 * outside the view. 0 or -1 with err. *live gets the row count. */
int lt_fedsim_check_view(const char *db, const char *name, int p, const lt_fedsim_model_t *m,
                         uint64_t *live, char *err, size_t errlen);

/* A Change that publishes citizen i as the model holds it, with its own
 * storage (Publish points into it until it is sent). */
typedef struct {
    Lienthong__Change change;
    uint8_t payload[512];
    char key[16], cursor[24];
} lt_fedsim_change_t;

/* Fills c for citizen i of m with source cursor `cursor`; returns the
 * payload size, or 0 when the record does not fit. */
size_t lt_fedsim_change(const lt_fedsim_model_t *m, size_t i, uint64_t cursor,
                        lt_fedsim_change_t *c);

/* One lag sample of a view's replica, owner_last and replica_last being
 * the two last_seq read at now_ms (wall clock): *records behind, and *ms
 * since the first record the replica lacks changed at the owner (looked up
 * in the owner's open store db, view stream id view_id); both 0 when the
 * replica is not behind. */
void lt_fedsim_lag(void *owner_db, int64_t view_id, uint64_t owner_last, uint64_t replica_last,
                   int64_t now_ms, double *records, double *ms);

/* ---- figures ------------------------------------------------------------- */

/* A growing series of values; {0} is empty. A value is dropped when memory
 * runs out (the figures then cover fewer samples). */
typedef struct {
    double *v;
    size_t n, cap;
} lt_fedsim_series_t;

void lt_fedsim_series_add(lt_fedsim_series_t *s, double x);
/* Sorts, then the q-quantile (0..1); 0 when empty. */
double lt_fedsim_pct(lt_fedsim_series_t *s, double q);
void lt_fedsim_series_free(lt_fedsim_series_t *s);

/* changed_at_ms of record seq of stream `stream_id` in an open read-only
 * connection (sqlite3 *), or -1. */
int64_t lt_fedsim_changed_at(void *db, int64_t stream_id, uint64_t seq);
/* Store id and last_seq of a stream by name in an open connection: 0, or
 * -1 when it is absent or on error. */
int lt_fedsim_stream(void *db, const char *name, int64_t *id, uint64_t *last);
/* Opens a store read-only (sqlite3 *), or NULL. */
void *lt_fedsim_open(const char *path);
void lt_fedsim_close(void *db);

#endif
