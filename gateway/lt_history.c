/* lt_history: history ids of owned streams and the high-water file beside
 * the store (see lt_history.h and PROTOCOL.md 6.9). */
#include "lt_history.h"
#include "lt_file.h"
#include "lt_log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
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
    int suspect; /* the file's line for it does not read (s_read_file) */
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

/* Exactly 32 hex digits (len of them at hex) into 16 bytes; 0 or -1.
 * Strict: no characters skipped, every one a digit (lower or upper case,
 * as lt_history_hex writes; no sign, space or "0x", which sscanf would
 * take). sodium_hex2bin stops at the first non-digit, so the end it
 * reports must be the end of the 32. */
static int s_unhex(const char *hex, size_t len, uint8_t out[LT_HISTORY_BYTES])
{
    size_t n = 0;
    const char *end = NULL;
    return len == 2 * LT_HISTORY_BYTES &&
                   sodium_hex2bin(out, LT_HISTORY_BYTES, hex, len, NULL, &n, &end) == 0 &&
                   n == LT_HISTORY_BYTES && end == hex + len
               ? 0
               : -1;
}

/* Plain decimal digits (len of them at s), no sign, no wrap; 0 or -1. */
static int s_unsigned(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int lt_history_parse_line(const char *line, char name[LT_STREAM_ID_MAX],
                          uint8_t history[LT_HISTORY_BYTES], uint64_t *seq)
{
    size_t nl = strcspn(line, " ");
    if (nl == 0 || nl >= LT_STREAM_ID_MAX || line[nl] != ' ')
        return -1;
    memcpy(name, line, nl);
    name[nl] = 0;
    const char *hex = line + nl + 1;
    size_t hl = strcspn(hex, " ");
    if (hex[hl] != ' ' || s_unhex(hex, hl, history) != 0)
        return 1;
    const char *num = hex + hl + 1;
    return s_unsigned(num, strlen(num), seq) == 0 ? 0 : 1;
}

int lt_history_format_line(char *buf, size_t len, const char *name,
                           const uint8_t history[LT_HISTORY_BYTES], uint64_t seq)
{
    char hex[LT_HISTORY_HEX];
    int n = snprintf(buf, len, "%s %s %" PRIu64, name, lt_history_hex(history, 1, hex), seq);
    return n >= 0 && (size_t)n < len ? n : -1;
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

static void s_read_line(const char *path, unsigned no, const char *line, s_list_t *l);

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
    /* Lines are counted by hand: strtok_r would skip empty ones. */
    char *line = (char *)data, *end = (char *)data + size;
    for (unsigned no = 1; line < end; no++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl)
            *nl = 0;
        s_read_line(path, no, line, l);
        line = nl ? nl + 1 : end;
    }
    free(data);
    return 0;
}

/* One line of the file. A line that does not read is no alibi for its
 * stream: the file exists to catch a store put back behind it (PROTOCOL.md
 * 6.9), and skipping the line would let it be rewritten from that store,
 * the evidence gone. So the stream it names is renewed as if rolled back;
 * a line whose stream name cannot be read at all could have been any owned
 * stream's, so every one is. */
static void s_read_line(const char *path, unsigned no, const char *line, s_list_t *l)
{
    char name[LT_STREAM_ID_MAX];
    uint8_t h[LT_HISTORY_BYTES];
    uint64_t seq = 0;
    if (line[0] == '#' || line[0] == 0)
        return;
    int rc = lt_history_parse_line(line, name, h, &seq);
    if (rc != 0)
        lt_warn("history",
                "%s line %u: \"%.120s\" is not \"STREAM HISTORY SEQ\" (32 hex digits, a whole "
                "number): %s gets a new history, as after a rollback",
                path, no, line, rc > 0 ? name : "every owned stream");
    for (size_t i = 0; i < l->n; i++) {
        if (rc < 0 || (rc > 0 && strcmp(l->e[i].name, name) == 0)) {
            l->e[i].suspect = 1;
        } else if (rc == 0 && strcmp(l->e[i].name, name) == 0) {
            l->e[i].in_file = 1;
            l->e[i].file_seq = seq;
            memcpy(l->e[i].file_history, h, LT_HISTORY_BYTES);
        }
    }
}

static int s_write_file(const lt_gwcfg_t *cfg, const s_list_t *l, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    s_path(cfg, path, sizeof path);
    size_t cap = sizeof HW_HEADER + l->n * (LT_STREAM_ID_MAX + LT_HISTORY_HEX + 24), len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    len += (size_t)snprintf(buf, cap, "%s", HW_HEADER);
    for (size_t i = 0; i < l->n; i++) {
        if (!l->e[i].st.has_history)
            continue;
        int n = lt_history_format_line(buf + len, cap - len, l->e[i].name, l->e[i].st.history,
                                       l->e[i].st.last_seq);
        assert(n >= 0 && len + (size_t)n + 1 < cap); /* cap counts the longest line */
        len += (size_t)n;
        buf[len++] = '\n';
    }
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
    if (e->suspect)
        snprintf(detail, sizeof detail,
                 "store holds seq %" PRIu64 " on history %s, the high-water file's line for it "
                 "does not read: new history %s",
                 e->st.last_seq, old_hex, now);
    else
        snprintf(detail, sizeof detail,
                 "store holds seq %" PRIu64 " on history %s, this gateway had seq %" PRIu64
                 " on history %s durable: new history %s",
                 e->st.last_seq, old_hex, e->file_seq, was, now);
    lt_warn("history",
            "stream %s: the store was restored or rolled back (%s); consumers on the old history "
            "are told to resynchronise",
            e->name, detail);
    if (audit)
        lt_audit_add(audit, &(lt_audit_entry_t){
                                .event = "history-new", .target = e->name, .detail = detail});
}

int lt_history_check(lt_store_t *store, const lt_gwcfg_t *cfg, lt_audit_t *audit, char *err,
                     size_t errlen)
{
    s_list_t l;
    if (s_list(store, cfg, &l, err, errlen) != 0)
        return -1;
    int rc = -1, *renew = calloc(l.n ? l.n : 1, sizeof *renew);
    char(*old)[LT_HISTORY_HEX] = calloc(l.n ? l.n : 1, sizeof *old);
    if (!renew || !old) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (s_read_file(cfg, &l, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const s_entry_t *e = &l.e[i];
        renew[i] = e->suspect ||
                   (e->in_file && (e->st.last_seq < e->file_seq || !e->st.has_history ||
                                   memcmp(e->st.history, e->file_history, LT_HISTORY_BYTES) != 0));
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
    char(*old)[LT_HISTORY_HEX] = calloc(l.n ? l.n : 1, sizeof *old);
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
