/* lt_db: the database seam's dispatch (see lt_db.h and lt_db_backend.h):
 * chooses a backend from the form of the `database` setting, keeps the
 * adapter's table, and forwards every call to the backend's table of
 * operations. lt_db_apply is built here once from the backend's
 * primitives, so every backend gets the same all-or-nothing rule and the
 * same collapse of a batch to the last write of each key. */
#define _GNU_SOURCE /* qsort_r */
#include "lt_db.h"
#include "lt_db_backend.h"
#include "lt_file.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lt_db_t {
    const lt_db_ops_t *ops;
    void *impl;
    char name[PATH_MAX]; /* for messages (lt_db_name) */
    /* The adapter's table, owned (lt_db_connect copies it). */
    lt_db_table_t table;
    char *table_name;
    char **columns;
    lt_db_type_t *types;
};

/* ---- choosing a backend ---------------------------------------------- */

/* 1 when the setting names a PostgreSQL database: libpq's URI schemes, or
 * a connection string that starts with "keyword=". */
static int s_is_postgresql(const char *database)
{
    if (strncasecmp(database, "postgresql://", 13) == 0 ||
        strncasecmp(database, "postgres://", 11) == 0)
        return 1;
    const char *c = database;
    while (*c == ' ' || *c == '\t')
        c++;
    const char *word = c;
    while (isalpha((unsigned char)*c) || *c == '_')
        c++;
    if (c == word)
        return 0;
    while (*c == ' ' || *c == '\t')
        c++;
    return *c == '=';
}

int lt_db_is_file(const char *database)
{
    return !s_is_postgresql(database);
}

/* ---- connection ------------------------------------------------------- */

/* Copies the table, so the backend may keep pointers into it. */
static int s_table_copy(lt_db_t *self, const lt_db_table_t *t)
{
    size_t n = t->n_columns;
    self->table = *t;
    self->table_name = strdup(t->name);
    self->columns = calloc(n ? n : 1, sizeof *self->columns);
    self->types = calloc(n ? n : 1, sizeof *self->types);
    if (!self->table_name || !self->columns || !self->types)
        return -1;
    for (size_t i = 0; i < n; i++) {
        self->types[i] = t->types[i];
        if (!(self->columns[i] = strdup(t->columns[i])))
            return -1;
    }
    self->table.name = self->table_name;
    self->table.columns = (const char *const *)self->columns;
    self->table.types = self->types;
    return 0;
}

lt_db_t *lt_db_connect(const char *database, const char *config_file, lt_db_role_t role,
                       const lt_db_table_t *table, int create, char *err, size_t errlen)
{
    if (table->key >= table->n_columns) {
        snprintf(err, errlen, "table %s: the key is not one of its %zu columns", table->name,
                 table->n_columns);
        return NULL;
    }
    lt_db_t *self = calloc(1, sizeof *self);
    char path[PATH_MAX];
    const char *target = database;
    if (!self || s_table_copy(self, table) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->ops = &lt_db_pg_ops;
    if (s_is_postgresql(database)) {
        /* libpq knows the URI schemes in lower case only. */
        if (snprintf(path, sizeof path, "%s", database) >= (int)sizeof path) {
            snprintf(err, errlen, "'database' is too long");
            goto fail;
        }
        size_t scheme = strncasecmp(path, "postgresql://", 13) == 0 ? 10
                        : strncasecmp(path, "postgres://", 11) == 0 ? 8
                                                                    : 0;
        for (size_t i = 0; i < scheme; i++)
            path[i] = (char)tolower((unsigned char)path[i]);
        target = path;
    } else {
        if (lt_file_resolve(config_file, database, path, sizeof path) != 0) {
            snprintf(err, errlen, "database path too long: %.200s...", database);
            goto fail;
        }
        self->ops = &lt_db_sqlite_ops;
        target = path;
    }
    self->impl = self->ops->open(target, role, &self->table, create, self->name, sizeof self->name,
                                 err, errlen);
fail:
    /* path holds a PostgreSQL setting, which may hold a password. */
    sodium_memzero(path, sizeof path);
    if (self && !self->impl)
        lt_db_destroy(&self);
    return self;
}

void lt_db_destroy(lt_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_db_t *self = *self_p;
    if (self->impl)
        self->ops->close(self->impl);
    for (size_t i = 0; self->columns && i < self->table.n_columns; i++)
        free(self->columns[i]);
    free(self->columns);
    free(self->types);
    free(self->table_name);
    free(self);
    *self_p = NULL;
}

const char *lt_db_name(const lt_db_t *self)
{
    return self->name;
}

/* ---- forwarded operations --------------------------------------------- */

int lt_db_begin(lt_db_t *self, int write, char *err, size_t errlen)
{
    return self->ops->begin(self->impl, write, err, errlen);
}

int lt_db_commit(lt_db_t *self, char *err, size_t errlen)
{
    return self->ops->commit(self->impl, err, errlen);
}

void lt_db_rollback(lt_db_t *self)
{
    self->ops->rollback(self->impl);
}

int lt_db_capture_install(lt_db_t *self, int *created, char *err, size_t errlen)
{
    return self->ops->capture_install(self->impl, created, err, errlen);
}

char *lt_db_capture_script(lt_db_t *self, char *err, size_t errlen)
{
    if (self->ops->capture_script)
        return self->ops->capture_script(self->impl, err, errlen);
    snprintf(err, errlen, "the %s backend installs change capture itself: run --install",
             self->ops->name);
    return NULL;
}

int lt_db_capture_present(lt_db_t *self, int *present, char *err, size_t errlen)
{
    return self->ops->capture_present(self->impl, present, err, errlen);
}

int lt_db_capture_high(lt_db_t *self, int64_t *id, char *err, size_t errlen)
{
    return self->ops->capture_high(self->impl, id, err, errlen);
}

int lt_db_capture_sync(lt_db_t *self, size_t limit, size_t *moved, char *err, size_t errlen)
{
    *moved = 0;
    return self->ops->capture_sync ? self->ops->capture_sync(self->impl, limit, moved, err, errlen)
                                   : 0;
}

int lt_db_capture_relist(lt_db_t *self, int64_t *base, char *err, size_t errlen)
{
    return self->ops->capture_relist(self->impl, base, err, errlen);
}

int lt_db_wait_fd(lt_db_t *self)
{
    return self->ops->wait_fd ? self->ops->wait_fd(self->impl) : -1;
}

int lt_db_news(lt_db_t *self)
{
    return self->ops->news ? self->ops->news(self->impl) : 0;
}

int lt_db_lost(const lt_db_t *self)
{
    return self->ops->lost ? self->ops->lost(self->impl) : 0;
}

long lt_db_read_changes(lt_db_t *self, int64_t after, size_t limit, lt_db_change_fn fn, void *arg,
                        char *err, size_t errlen)
{
    return self->ops->read_changes(self->impl, after, limit, fn, arg, err, errlen);
}

int lt_db_last_change(lt_db_t *self, int64_t *id, char *err, size_t errlen)
{
    return self->ops->last_change(self->impl, id, err, errlen);
}

int lt_db_requeue(lt_db_t *self, int64_t after, int64_t through, char *err, size_t errlen)
{
    return self->ops->requeue(self->impl, after, through, err, errlen);
}

int lt_db_queue_absent(lt_db_t *self, const char *const *keys, size_t n, int append,
                       unsigned char *found, char *err, size_t errlen)
{
    return n ? self->ops->queue_absent(self->impl, keys, n, append, found, err, errlen) : 0;
}

int lt_db_read_row(lt_db_t *self, const char *key, lt_db_row_fn fn, void *arg, char *err,
                   size_t errlen)
{
    return self->ops->read_row(self->impl, key, fn, arg, err, errlen);
}

int lt_db_cursor_load(lt_db_t *self, const char *name, int64_t *value, char *err, size_t errlen)
{
    return self->ops->cursor_load(self->impl, name, value, err, errlen);
}

int lt_db_cursor_store(lt_db_t *self, const char *name, int64_t value, char *err, size_t errlen)
{
    return self->ops->cursor_store(self->impl, name, value, err, errlen);
}

int lt_db_shift_load(lt_db_t *self, const char *name, int64_t *shift, int64_t *acked, char *err,
                     size_t errlen)
{
    return self->ops->shift_load(self->impl, name, shift, acked, err, errlen);
}

int lt_db_shift_store(lt_db_t *self, const char *name, int64_t shift, int64_t acked, char *err,
                      size_t errlen)
{
    return self->ops->shift_store(self->impl, name, shift, acked, err, errlen);
}

int lt_db_would(const lt_db_t *self)
{
    return self->ops->would ? self->ops->would(self->impl) : 0;
}

int lt_db_history_load(lt_db_t *self, const char *name, char hex[LT_DB_HISTORY_HEX], char *err,
                       size_t errlen)
{
    hex[0] = '\0';
    return self->ops->history_load(self->impl, name, hex, err, errlen);
}

int lt_db_history_store(lt_db_t *self, const char *name, const char *hex, char *err, size_t errlen)
{
    return self->ops->history_store(self->impl, name, hex, err, errlen);
}

int lt_db_cursor_list(lt_db_t *self, lt_db_cursor_fn fn, void *arg, char *err, size_t errlen)
{
    return self->ops->cursor_list(self->impl, fn, arg, err, errlen);
}

int lt_db_cursor_forget(lt_db_t *self, const char *name, int *found, char *err, size_t errlen)
{
    return self->ops->cursor_forget(self->impl, name, found, err, errlen);
}

int lt_db_capture_drop(lt_db_t *self, const char *table, int *dropped, char *err, size_t errlen)
{
    return self->ops->capture_drop(self->impl, table, dropped, err, errlen);
}

int lt_db_reject(lt_db_t *self, const lt_db_reject_t *r, char *err, size_t errlen)
{
    assert(r->reasons); /* lt_db.h: a passed row goes by lt_db_reject_clear */
    return self->ops->reject(self->impl, r, err, errlen);
}

int lt_db_reject_kinds(lt_db_t *self, const char *dataset, const char *key, unsigned *kinds,
                       char *err, size_t errlen)
{
    return self->ops->reject_kinds(self->impl, dataset, key, kinds, err, errlen);
}

int lt_db_reject_clear(lt_db_t *self, const char *dataset, const char *key, unsigned kinds,
                       int *cleared, char *err, size_t errlen)
{
    return self->ops->reject_clear(self->impl, dataset, key, kinds, cleared, err, errlen);
}

int lt_db_reject_count(lt_db_t *self, const char *dataset, int64_t *n, char *err, size_t errlen)
{
    return self->ops->reject_count(self->impl, dataset, n, err, errlen);
}

/* ---- applying a batch ------------------------------------------------- */

/* Orders write indexes by key, then by position. */
static int s_cmp_write(const void *a, const void *b, void *arg)
{
    const lt_db_write_t *w = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(w[i].key, w[j].key);
    return c ? c : (i > j) - (i < j);
}

static int s_cmp_index(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return (i > j) - (i < j);
}

/* The indexes of the last write of each key, in their order in w: writing
 * only these gives the same table as writing all of w in order, because each
 * write replaces or removes the whole row of its key. */
static size_t *s_last_per_key(const lt_db_write_t *w, size_t n, size_t *kept)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof *idx, s_cmp_write, (void *)w);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(w[idx[i]].key, w[idx[i + 1]].key) == 0)
            continue;
        idx[k++] = idx[i];
    }
    qsort(idx, k, sizeof *idx, s_cmp_index);
    *kept = k;
    return idx;
}

/* The backend's apply, with the last write of each key. */
static int s_apply_collapsed(lt_db_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill,
                             void *ctx, const char *name, int64_t value, size_t *failed, char *err,
                             size_t errlen)
{
    size_t k = 0;
    size_t *idx = s_last_per_key(w, n, &k);
    lt_db_write_t *c = calloc(k ? k : 1, sizeof *c);
    int rc = -1;
    if (!idx || !c) {
        snprintf(err, errlen, "out of memory for a batch of %zu writes", n);
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        c[i] = w[idx[i]];
    size_t bad = k;
    rc = self->ops->apply(self->impl, c, k, fill, ctx, name, value, &bad, err, errlen);
    if (rc != 0 && bad < k)
        *failed = idx[bad];
out:
    free(idx);
    free(c);
    return rc;
}

int lt_db_write(lt_db_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                const char *name, int64_t value, size_t *failed, char *err, size_t errlen)
{
    const lt_db_ops_t *ops = self->ops;
    *failed = n;
    if (ops->apply) /* many rows per statement, inside the caller's transaction */
        return s_apply_collapsed(self, w, n, fill, ctx, name, value, failed, err, errlen);
    for (size_t i = 0; i < n; i++) {
        int rc = w[i].deleted ? ops->remove(self->impl, w[i].key, err, errlen)
                              : ops->upsert(self->impl, &w[i], fill, ctx, err, errlen);
        if (rc != 0) {
            *failed = i;
            return -1;
        }
    }
    return ops->cursor_store(self->impl, name, value, err, errlen);
}

int lt_db_apply(lt_db_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                const char *name, int64_t value, size_t *failed, char *err, size_t errlen)
{
    const lt_db_ops_t *ops = self->ops;
    *failed = n;
    if (ops->apply) /* the backend opens its own transaction */
        return s_apply_collapsed(self, w, n, fill, ctx, name, value, failed, err, errlen);
    if (ops->begin(self->impl, 1, err, errlen) != 0)
        return -1;
    if (lt_db_write(self, w, n, fill, ctx, name, value, failed, err, errlen) == 0 &&
        ops->commit(self->impl, err, errlen) == 0)
        return 0;
    ops->rollback(self->impl);
    return -1;
}

int lt_db_clear(lt_db_t *self, char *err, size_t errlen)
{
    return self->ops->clear(self->impl, err, errlen);
}

/* ---- rows and parameters ---------------------------------------------- */

size_t lt_db_row_count(const lt_db_row_t *row)
{
    return row->ops->row_count(row);
}

const char *lt_db_row_name(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_name(row, i);
}

lt_db_type_t lt_db_row_type(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_type(row, i);
}

int lt_db_row_null(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_type(row, i) == LT_DB_NULL;
}

int64_t lt_db_row_int(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_int(row, i);
}

double lt_db_row_double(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_double(row, i);
}

const char *lt_db_row_text(const lt_db_row_t *row, size_t i)
{
    return row->ops->row_text(row, i);
}

int lt_db_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    return row->ops->row_blob(row, i, data, len);
}

int lt_db_param_null(lt_db_params_t *p, size_t i)
{
    return p->ops->param_null(p, i);
}

int lt_db_param_int(lt_db_params_t *p, size_t i, int64_t v)
{
    return p->ops->param_int(p, i, v);
}

int lt_db_param_double(lt_db_params_t *p, size_t i, double v)
{
    return p->ops->param_double(p, i, v);
}

int lt_db_param_text(lt_db_params_t *p, size_t i, const char *s)
{
    return p->ops->param_text(p, i, s);
}

int lt_db_param_blob(lt_db_params_t *p, size_t i, const void *data, size_t len)
{
    return p->ops->param_blob(p, i, data, len);
}

const char *lt_db_params_error(const lt_db_params_t *p)
{
    return p->why ? p->why : "no reason given";
}
