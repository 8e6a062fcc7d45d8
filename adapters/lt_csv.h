/* lt_csv: CSV rows to records, for `lienthong import csv`. A CSV export
 * (RFC 4180 quoting, UTF-8, a header row, a configurable delimiter) is
 * streamed through libcsv in pieces of any size; each row is checked and
 * converted with the same column <-> field mapping as the adapters
 * (lt_rowmap, the configuration's `columns` naming the header's columns),
 * and handed over as a packed record, or rejected with the line it starts
 * on, the column and the reason. A row over lines (quoted fields holding
 * newlines) that breaks is taken for a stray quote's: it is rejected at its
 * first line and its other lines are read again as rows of their own.
 * Memory stays bounded by the longest row (its lines after the first: at
 * most 16 MiB), plus the keys seen so far (to reject a key the file
 * already had).
 *
 * The import configuration (libconfig, strict, errors "FILE:LINE: ..."):
 *   gateway_socket = "/run/lienthong/gateway.sock";
 *   dataset = "VN/GOV/BCA/population";
 *   record_type = "lienthong.records.Population";
 *   key_field = "personal_id";
 *   columns = { personal_id = "so_dinh_danh"; full_name = "ho_ten"; ... };
 *   checks = { personal_id = "digits:12"; date_of_birth = "date"; };  (optional)
 *   delimiter = ",";      one character, or "\t" (default ",")
 *   empty = "null";       an empty field is absent ("null", the default) or
 *                         an empty text ("text"); a quoted "" is always text
 *   batch = 1000;         records per Publish (default 1000)
 * Checks: "date" (a calendar date YYYY-MM-DD), "digits" (0-9 only),
 * "digits:N" (exactly N of them), "required" (not empty). Every mapped
 * column must be valid UTF-8, and the key must not be empty. */
#ifndef LT_CSV_H
#define LT_CSV_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt_csv_t lt_csv_t;

/* A good row: its key and packed record (valid during the call), and the
 * line it starts on. Returns 0, or -1 to stop the import. */
typedef int (*lt_csv_record_fn)(void *arg, const char *key, const uint8_t *payload, size_t len,
                                long line);
/* A rejected row: one call per problem, with the line it starts on, the
 * column's name in the header (or its number when the header has none) and
 * the reason. */
typedef void (*lt_csv_reject_fn)(void *arg, long line, const char *column, const char *reason);

/* Loads the import configuration. NULL on failure with err set. */
lt_csv_t *lt_csv_new(const char *config_path, char *err, size_t errlen);
void lt_csv_destroy(lt_csv_t **self_p);

/* Settings the import needs from the configuration. */
const char *lt_csv_dataset(const lt_csv_t *self);
const char *lt_csv_socket(const lt_csv_t *self);
int lt_csv_batch(const lt_csv_t *self);
/* Overrides the configuration's delimiter (before lt_csv_begin). */
void lt_csv_set_delimiter(lt_csv_t *self, char delimiter);

/* Starts a file (its name for messages); keys seen in earlier files stay
 * seen. 0, or -1 with err. */
int lt_csv_begin(lt_csv_t *self, const char *file, lt_csv_record_fn on_record,
                 lt_csv_reject_fn on_reject, void *arg, char *err, size_t errlen);
/* Feeds the next piece of the file. 0, or -1 with err (a header that lacks
 * a mapped column, a row whose lines after its first pass 16 MiB, out of
 * memory, or the record callback stopped). */
int lt_csv_feed(lt_csv_t *self, const void *data, size_t len, char *err, size_t errlen);
/* Ends the file (a last row without a newline; an unterminated quote, whose
 * lines after its first are read again). 0, or -1 with err. */
int lt_csv_end(lt_csv_t *self, char *err, size_t errlen);

/* Rows of data seen, published (handed to on_record) and rejected, over
 * every file so far. */
void lt_csv_counts(const lt_csv_t *self, uint64_t *rows, uint64_t *good, uint64_t *bad);

#endif
