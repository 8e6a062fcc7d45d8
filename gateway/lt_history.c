/* lt_history: history ids of owned streams and the high-water file beside
 * the store (see lt_history.h and PROTOCOL.md 6.9). */
#include "lt_history.h"
#include "lt_file.h"
#include "lt_log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HW_NAME   "history"
#define HW_HEADER "# lienthong: last durable seq and history id of each owned stream\n"
/* The file is small: one line per owned stream (LT_FEED_MAX_STREAMS). */
#define HW_MAX_BYTES (1u << 20)

/* One owned stream: from the store, and what the file says of it. */
typedef struct {
    char name[LT_STREAM_ID_MAX];
    lt_stream_t st;
    int in_file;
    uint64_t file_seq;
    uint8_t file_history[LT_HISTORY_BYTES];
} s_entry_t;

typedef struct {
    const lt_gwcfg_t *cfg;
    s_entry_t *e;
    size_t n, cap;
} s_list_t;

const char *lt_history_hex(const uint8_t *id, int has, char out[LT_HISTORY_HEX])
{
    if (!has) {
        snprintf(out, LT_HISTORY_HEX, "none");
        return out;
    }
    for (size_t i = 0; i < LT_HISTORY_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
    return out;
}

/* 32 hex digits into 16 bytes; 0 or -1. */
static int s_unhex(const char *hex, uint8_t out[LT_HISTORY_BYTES])
{
    if (strlen(hex) != 2 * LT_HISTORY_BYTES)
        return -1;
    for (size_t i = 0; i < LT_HISTORY_BYTES; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Every stream id begins with its owner's id and '/' (a dataset OWNER/NAME,
 * a view DATASET.NAME), and a member id is INSTANCE/CLASS/CODE, three parts
 * without '/' (PROTOCOL.md 5.3): so no other member's stream begins with
 * ours. A replica whose subscription was removed stays in the store
 * (docs/operations.md, "Reloading the configuration"); it is still another
 * member's stream, and must never be given a history of ours. */
int lt_history_owned(const lt_gwcfg_t *cfg, const char *name)
{
    size_t ml = strlen(cfg->member);
    return ml > 0 && strncmp(name, cfg->member, ml) == 0 && name[ml] == '/' && name[ml + 1];
}

/* An lt_store_stream_fn: collects the owned streams. */
static int s_collect(void *arg, const char *name, const lt_stream_t *st)
{
    s_list_t *l = arg;
    if (!name || !lt_history_owned(l->cfg, name) || strlen(name) >= LT_STREAM_ID_MAX)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        s_entry_t *ne = realloc(l->e, cap * sizeof *ne);
        if (!ne)
            return -1;
        l->e = ne;
        l->cap = cap;
    }
    s_entry_t *e = &l->e[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->st = *st;
    return 0;
}

static int s_list(lt_store_t *store, const lt_gwcfg_t *cfg, s_list_t *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->cfg = cfg;
    if (lt_store_streams(store, s_collect, l) == 0)
        return 0;
    snprintf(err, errlen, "store: cannot list streams: %s", lt_store_error(store));
    free(l->e);
    l->e = NULL;
    return -1;
}

static void s_path(const lt_gwcfg_t *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" HW_NAME, cfg->data_dir);
}

/* Marks the entries the file names with what it says. A missing file says
 * nothing (a new data directory, or one from before history ids). */
static int s_read_file(const lt_gwcfg_t *cfg, s_list_t *l, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    s_path(cfg, path, sizeof path);
    uint8_t *data = NULL;
    size_t size = 0;
    if (lt_file_read(path, HW_MAX_BYTES, &data, &size) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r((char *)data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[LT_STREAM_ID_MAX], hex[64];
        uint64_t seq;
        uint8_t h[LT_HISTORY_BYTES];
        if (line[0] == '#' ||
            sscanf(line, "%255s %63s %" SCNu64, name, hex, &seq) != 3 || s_unhex(hex, h) != 0)
            continue; /* a line this version does not know: not ours to judge */
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->e[i].name, name) == 0) {
                l->e[i].in_file = 1;
                l->e[i].file_seq = seq;
                memcpy(l->e[i].file_history, h, LT_HISTORY_BYTES);
            }
    }
    free(data);
    return 0;
}

static int s_write_file(const lt_gwcfg_t *cfg, const s_list_t *l, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], hex[LT_HISTORY_HEX];
    s_path(cfg, path, sizeof path);
    size_t cap = sizeof HW_HEADER + l->n * (LT_STREAM_ID_MAX + LT_HISTORY_HEX + 24), len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    len += (size_t)snprintf(buf, cap, "%s", HW_HEADER);
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].st.has_history)
            len += (size_t)snprintf(buf + len, cap - len, "%s %s %" PRIu64 "\n", l->e[i].name,
                                    lt_history_hex(l->e[i].st.history, 1, hex),
                                    l->e[i].st.last_seq);
    int rc = lt_file_write_atomic(path, buf, len, 0600);
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    free(buf);
    return rc;
}

int lt_history_save(lt_store_t *store, const lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    s_list_t l;
    if (s_list(store, cfg, &l, err, errlen) != 0)
        return -1;
    int rc = s_write_file(cfg, &l, err, errlen);
    free(l.e);
    return rc;
}

/* New random histories for the entries with renew set, in one transaction;
 * the entries are updated. */
static int s_renew(lt_store_t *store, s_list_t *l, const int *renew, char *err, size_t errlen)
{
    if (lt_store_begin(store) != 0)
        goto fail;
    for (size_t i = 0; i < l->n; i++)
        if (renew[i] && lt_store_history_set(store, l->e[i].st.id, NULL, &l->e[i].st) != 0)
            goto fail;
    if (lt_store_commit(store) == 0)
        return 0;
fail:
    snprintf(err, errlen, "store: cannot set a new history: %s", lt_store_error(store));
    lt_store_rollback(store);
    return -1;
}

static void s_report_behind(const s_entry_t *e, const char *old_hex, lt_audit_t *audit)
{
    char was[LT_HISTORY_HEX], now[LT_HISTORY_HEX], detail[400];
    lt_history_hex(e->file_history, 1, was);
    lt_history_hex(e->st.history, 1, now);
    snprintf(detail, sizeof detail,
             "store holds seq %" PRIu64 " on history %s, this gateway had seq %" PRIu64
             " on history %s durable: new history %s",
             e->st.last_seq, old_hex, e->file_seq, was, now);
    lt_warn("history",
            "stream %s: the store was restored or rolled back (%s); consumers on the old history "
            "are told to resynchronise",
            e->name, detail);
    if (audit)
        lt_audit_add(audit, &(lt_audit_entry_t){.event = "history-new", .target = e->name,
                                                .detail = detail});
}

int lt_history_check(lt_store_t *store, const lt_gwcfg_t *cfg, lt_audit_t *audit, char *err,
                     size_t errlen)
{
    s_list_t l;
    if (s_list(store, cfg, &l, err, errlen) != 0)
        return -1;
    int rc = -1, *renew = calloc(l.n ? l.n : 1, sizeof *renew);
    char (*old)[LT_HISTORY_HEX] = calloc(l.n ? l.n : 1, sizeof *old);
    if (!renew || !old) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (s_read_file(cfg, &l, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const s_entry_t *e = &l.e[i];
        renew[i] = e->in_file &&
                   (e->st.last_seq < e->file_seq || !e->st.has_history ||
                    memcmp(e->st.history, e->file_history, LT_HISTORY_BYTES) != 0);
        lt_history_hex(e->st.history, e->st.has_history, old[i]);
    }
    if (s_renew(store, &l, renew, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < l.n; i++)
        if (renew[i])
            s_report_behind(&l.e[i], old[i], audit);
    rc = s_write_file(cfg, &l, err, errlen);
out:
    free(renew);
    free(old);
    free(l.e);
    return rc;
}

int lt_history_rotate(lt_store_t *store, const lt_gwcfg_t *cfg, lt_history_report_fn report,
                      void *arg, char *err, size_t errlen)
{
    s_list_t l;
    if (s_list(store, cfg, &l, err, errlen) != 0)
        return -1;
    int rc = -1, *renew = malloc((l.n ? l.n : 1) * sizeof *renew);
    char (*old)[LT_HISTORY_HEX] = calloc(l.n ? l.n : 1, sizeof *old);
    if (!renew || !old) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        renew[i] = 1;
        lt_history_hex(l.e[i].st.history, l.e[i].st.has_history, old[i]);
    }
    if (s_renew(store, &l, renew, err, errlen) != 0)
        goto out;
    char now[LT_HISTORY_HEX];
    for (size_t i = 0; report && i < l.n; i++)
        report(arg, l.e[i].name, l.e[i].st.last_seq, old[i],
               lt_history_hex(l.e[i].st.history, 1, now));
    rc = (int)l.n;
out:
    free(renew);
    free(old);
    free(l.e);
    return rc;
}
