/* lt_rowmap: a generic mapping between rows of an agency's table and
 * protobuf records, driven by protobuf-c descriptors, so that connecting a
 * new dataset needs a configuration group and no C code:
 *
 *     columns = { personal_id = "personal_id"; full_name = "ho_ten"; ... };
 *
 * Each entry maps a field of the record type to a column of the table. The
 * mapping is used in both directions: row -> packed record (source adapter)
 * and packed record -> the values of an upsert (sink adapter). Rows are read
 * and written through the database seam (lt_db.h), never a backend's API.
 *
 * Conversions (row -> record): TEXT and INTEGER columns fill string fields
 * (TEXT only when it is UTF-8 without NUL);
 * INTEGER fills integer, bool and enum fields; TEXT is accepted for an enum
 * as a value name ("CITIZEN_DECEASED") or a decimal number, and for integer
 * and bool fields as a decimal number; REAL fills float/double; BLOB fills
 * bytes; NULL leaves the field at its default. Conversions (record -> row):
 * empty strings and empty bytes become NULL, enums are stored as integers,
 * uint64 values above INT64_MAX as decimal TEXT. Repeated, message and oneof
 * fields cannot be mapped. */
#ifndef LT_ROWMAP_H
#define LT_ROWMAP_H

#include "lt_db.h"
#include "lt_err.h"

#include <libconfig.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lt_rowmap_t lt_rowmap_t;

/* Builds a mapping for record type `desc` from the libconfig group `columns`
 * read from `file` (used in messages only). `key_column` must be one of the
 * mapped columns; `key_field`, when not NULL, must be the field mapped to
 * it. Returns NULL on failure with err "FILE:LINE: problem". */
lt_rowmap_t *lt_rowmap_new(const ProtobufCMessageDescriptor *desc, const config_setting_t *columns,
                           const char *file, const char *key_column, const char *key_field,
                           char *err, size_t errlen);
/* Frees the mapping and sets *self_p to NULL; safe on NULL or *NULL. */
void lt_rowmap_destroy(lt_rowmap_t **self_p);

size_t lt_rowmap_size(const lt_rowmap_t *self);
const char *lt_rowmap_field_name(const lt_rowmap_t *self, size_t i);
const char *lt_rowmap_column_name(const lt_rowmap_t *self, size_t i);
const char *lt_rowmap_key_field(const lt_rowmap_t *self);
const char *lt_rowmap_key_column(const lt_rowmap_t *self);
const ProtobufCMessageDescriptor *lt_rowmap_descriptor(const lt_rowmap_t *self);

/* Describes `table` for the database seam: the mapped columns in mapping
 * order, the key column, and the type create_table gives each column (TEXT
 * for strings, BLOB for bytes, REAL for float and double, INTEGER else).
 * The description borrows from the mapping and from `table`. */
void lt_rowmap_table(const lt_rowmap_t *self, const char *table, lt_db_table_t *out);

/* lt_rowmap_pack's failure when the row itself is at fault: a column's
 * value does not convert to its field (an unknown enum name, a number out
 * of range), or is text that is not UTF-8 or holds a NUL, which no record
 * may carry (PROTOCOL.md 4.5). The same row fails again until it is
 * changed; -1 is any other failure (out of memory). */
#define LT_ROWMAP_BAD_VALUE (-2)

/* Fills a freshly initialised record from `row`, whose columns are the
 * mapped columns in mapping order (as lt_db_read_row gives them), and packs
 * it. On success *buf is a malloc'd buffer of *len bytes (the caller frees
 * it) and 0 is returned; otherwise LT_ROWMAP_BAD_VALUE or -1 with err
 * naming the column (never its value). */
int lt_rowmap_pack_row(const lt_rowmap_t *self, const lt_db_row_t *row, uint8_t **buf, size_t *len,
                       char *err, size_t errlen) LT_NODISCARD;
/* The same, telling which column failed: *bad is its index (or the size of
 * the mapping when no column is to blame) and err says why, without the
 * column's name. Returns 0, LT_ROWMAP_BAD_VALUE or -1. */
int lt_rowmap_pack(const lt_rowmap_t *self, const lt_db_row_t *row, uint8_t **buf, size_t *len,
                   size_t *bad, char *err, size_t errlen) LT_NODISCARD;

/* Unpacks a record and sets each mapped field as column i of `params` (an
 * upsert's values, in an lt_db_fill_fn). When `key` is not NULL it is set
 * for the key column instead of the record's key field. Values are copied.
 * Returns 0, or -1 with err. */
int lt_rowmap_bind_record(const lt_rowmap_t *self, lt_db_params_t *params, const uint8_t *payload,
                          size_t len, const char *key, char *err, size_t errlen) LT_NODISCARD;

#endif
