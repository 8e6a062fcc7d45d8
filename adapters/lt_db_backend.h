/* lt_db_backend: the contract between the database seam (lt_db.c) and
 * its backends. A backend is one file that defines one lt_db_ops_t; lt_db.c
 * picks it from the form of the `database` setting and calls it through
 * this table only. Adapters include lt_db.h, never this header.
 *
 * Every operation gets the backend's own connection (`impl`, returned by
 * open) and follows lt_db.h's contract for the function of the same name;
 * lt_db.c adds nothing but the choice of backend, the copy of the table
 * and lt_db_apply, which it builds from begin, upsert, remove,
 * cursor_store, commit and rollback, or hands to the backend's apply.
 * Operations a backend does not need may be NULL where noted. */
#ifndef LT_DB_BACKEND_H
#define LT_DB_BACKEND_H

#include "lt_db.h"

typedef struct lt_db_ops_t lt_db_ops_t;

/* A reject's kind as its LT_DB_REJECT_* bit (lt_db.h): an SQL expression
 * over lt_rejects.kind, for reject_kinds and reject_clear. Plain SQL that
 * SQLite and PostgreSQL read alike (an integer, summed or and-ed with a
 * mask whose parameter each backend writes in its own dialect). */
#define LT_DB_REJECT_BIT_SQL                                                                       \
    "CASE kind WHEN 'mapping' THEN 1 WHEN 'rule' THEN 2 WHEN 'reference' THEN 4 ELSE 0 END"
_Static_assert(LT_DB_REJECT_MAPPING == 1u && LT_DB_REJECT_RULE == 2u &&
                   LT_DB_REJECT_REFERENCE == 4u,
               "LT_DB_REJECT_BIT_SQL spells lt_db.h's bits");

/* A backend's row and parameter objects start with these, so that the
 * accessors in lt_db.c find the backend's functions. */
struct lt_db_row_t {
    const lt_db_ops_t *ops;
};
struct lt_db_params_t {
    const lt_db_ops_t *ops;
    const char *why; /* static text: why the last setter failed */
};

struct lt_db_ops_t {
    const char *name;
    /* `target` is the resolved setting (a SQLite file's path, a libpq
     * connection string); `table` (lt_db's copy) stays valid until close.
     * *name is set to the database's name for messages (lt_db_name). */
    void *(*open)(const char *target, lt_db_role_t role, const lt_db_table_t *table, int create,
                  char *name, size_t name_cap, char *err, size_t errlen);
    void (*close)(void *impl);
    /* NULL: nothing would be created (lt_db_would). */
    int (*would)(const void *impl);

    int (*begin)(void *impl, int write, char *err, size_t errlen);
    int (*commit)(void *impl, char *err, size_t errlen);
    void (*rollback)(void *impl);

    int (*capture_install)(void *impl, int *created, char *err, size_t errlen);
    /* NULL: the backend has no script to print. */
    char *(*capture_script)(void *impl, char *err, size_t errlen);
    int (*capture_present)(void *impl, int *present, char *err, size_t errlen);
    int (*capture_high)(void *impl, int64_t *id, char *err, size_t errlen);
    /* NULL: changes are readable under their ids once committed. */
    int (*capture_sync)(void *impl, size_t limit, size_t *moved, char *err, size_t errlen);
    int (*capture_relist)(void *impl, int64_t *base, char *err, size_t errlen);
    long (*read_changes)(void *impl, int64_t after, size_t limit, lt_db_change_fn fn, void *arg,
                         char *err, size_t errlen);
    int (*last_change)(void *impl, int64_t *id, char *err, size_t errlen);
    int (*requeue)(void *impl, int64_t after, int64_t through, char *err, size_t errlen);
    int (*read_row)(void *impl, const char *key, lt_db_row_fn fn, void *arg, char *err,
                    size_t errlen);
    /* Source only; n > 0. */
    int (*queue_absent)(void *impl, const char *const *keys, size_t n, int append,
                        unsigned char *found, char *err, size_t errlen);

    /* NULL: no descriptor, no news (the caller polls), never lost. */
    int (*wait_fd)(void *impl);
    int (*news)(void *impl);
    int (*lost)(const void *impl);

    int (*cursor_load)(void *impl, const char *name, int64_t *value, char *err, size_t errlen);
    int (*cursor_store)(void *impl, const char *name, int64_t value, char *err, size_t errlen);
    int (*shift_load)(void *impl, const char *name, int64_t *shift, int64_t *acked, char *err,
                      size_t errlen);
    int (*shift_store)(void *impl, const char *name, int64_t shift, int64_t acked, char *err,
                       size_t errlen);
    /* Sink only; history_load gets hex[0] = '\0' (none). */
    int (*history_load)(void *impl, const char *name, char *hex, char *err, size_t errlen);
    int (*history_store)(void *impl, const char *name, const char *hex, char *err, size_t errlen);
    /* Source only. */
    int (*cursor_list)(void *impl, lt_db_cursor_fn fn, void *arg, char *err, size_t errlen);
    int (*cursor_forget)(void *impl, const char *name, int *found, char *err, size_t errlen);
    int (*capture_drop)(void *impl, const char *table, int *dropped, char *err, size_t errlen);
    int (*reject)(void *impl, const lt_db_reject_t *r, char *err, size_t errlen);
    int (*reject_count)(void *impl, const char *dataset, int64_t *n, char *err, size_t errlen);
    int (*reject_kinds)(void *impl, const char *dataset, const char *key, unsigned *kinds,
                        char *err, size_t errlen);
    int (*reject_clear)(void *impl, const char *dataset, const char *key, unsigned kinds,
                        int *cleared, char *err, size_t errlen);

    /* One upsert (fill sets the values) or one delete by key, in the
     * caller's write transaction. NULL when apply is given. */
    int (*upsert)(void *impl, const lt_db_write_t *w, lt_db_fill_fn fill, void *ctx, char *err,
                  size_t errlen);
    int (*remove)(void *impl, const char *key, char *err, size_t errlen);
    /* Deletes every row of the table, in the caller's write transaction
     * (a sink's replacement, PROTOCOL.md 8.2). */
    int (*clear)(void *impl, char *err, size_t errlen);
    /* NULL: lt_db_apply runs begin, upsert or remove per write,
     * cursor_store and commit. Otherwise the whole of lt_db_apply, all or
     * nothing, for writes of distinct keys (lt_db_apply keeps the last of
     * each key): many rows per statement; *failed as lt_db_apply's. */
    int (*apply)(void *impl, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                 const char *name, int64_t value, size_t *failed, char *err, size_t errlen);

    size_t (*row_count)(const lt_db_row_t *row);
    const char *(*row_name)(const lt_db_row_t *row, size_t i);
    lt_db_type_t (*row_type)(const lt_db_row_t *row, size_t i);
    int64_t (*row_int)(const lt_db_row_t *row, size_t i);
    double (*row_double)(const lt_db_row_t *row, size_t i);
    const char *(*row_text)(const lt_db_row_t *row, size_t i);
    int (*row_blob)(const lt_db_row_t *row, size_t i, const void **data, size_t *len);

    int (*param_null)(lt_db_params_t *p, size_t i);
    int (*param_int)(lt_db_params_t *p, size_t i, int64_t v);
    int (*param_double)(lt_db_params_t *p, size_t i, double v);
    int (*param_text)(lt_db_params_t *p, size_t i, const char *s);
    int (*param_blob)(lt_db_params_t *p, size_t i, const void *data, size_t len);
};

/* The backends built in. */
extern const lt_db_ops_t lt_db_sqlite_ops;
extern const lt_db_ops_t lt_db_pg_ops;

/* Wipes every value of libpq's parsed options (PQconninfoParse,
 * PQconndefaults), the password among them, before PQconninfoFree: every
 * use in lt_db_pg.c goes through it. Here for its unit test. */
struct _PQconninfoOption;
void lt_db_pg_opts_wipe(struct _PQconninfoOption *opts);

#endif
