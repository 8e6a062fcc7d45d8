/* lt_csv: CSV rows to records (see lt_csv.h). libcsv parses (RFC 4180
 * quoting, any delimiter) and hands over fields and ends of rows through
 * callbacks; the fields of one row are kept until its end, then the row is
 * checked and packed through the rows seam (a CSV row is an lt_db_row_t
 * whose values are all TEXT, or NULL for an empty field), so that the
 * mapping and its conversions are exactly the adapters' (lt_rowmap).
 *
 * Line numbers: the input is fed to libcsv one line at a time, so the line
 * being fed is known when a row ends; the row started that many lines
 * earlier as its quoted fields hold line ends. A line ends with LF, CRLF or
 * a lone CR (as old spreadsheets write): a piece fed ends at the first CR
 * or LF, and the LF of a CRLF, a piece of its own, ends no line (s_piece).
 *
 * A stray quote (one that opens a field and is not closed where it should
 * be) makes the lines after it part of one quoted field, up to where the
 * quoting breaks. So the lines of a row after its first are kept (s_lines_t)
 * until it ends: a row over lines that breaks (malformed quoting, the wrong
 * number of columns, a quote still open at the end of the file) is rejected
 * at its first line, and its other lines are read again, with a new parser,
 * as if it had ended with its first line (s_reread). Those lines cannot
 * start another such row but for the last one: the bytes of a line are
 * inside quotes in exactly one of its readings, from the start of a row or
 * inside a quoted field, so a line read again is read at most twice.
 *
 * Keys already published are kept in a compact open-addressing set
 * (SipHash of the key, with a random key, so that a crafted file cannot
 * make it slow) pointing into an arena that also holds the line of the
 * first occurrence. */
#include "lt_csv.h"
#include "lt_err.h"
#include "lt_adapter.h"
#include "lt_db_backend.h"
#include "lt_limits.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_valid.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* libcsv's parser states (libcsv.c; the field is public in csv.h). */
#define CSV_ROW_NOT_BEGUN 0
#define CSV_FIELD_BEGUN   2

#define CHECK_DATE       1u
#define CHECK_DIGITS     2u
#define CHECK_REQUIRED   4u
#define CHECK_DIGITS_MAX 256 /* the most digits:N may ask for */
#define REASON_MAX       384
/* The lines of one row after its first may hold this many bytes: a quoted
 * field may hold newlines, but a stray quote never closed must not make
 * the rest of a file one row in memory (the import stops, naming it). One
 * line may hold as many: libcsv keeps a row's fields until it ends, so a
 * file without line ends must not be one row in memory either. */
#define ROW_LINES_MAX (16u << 20)
#define CSV_BLOCK     (64u << 10) /* libcsv's growth step (s_parser_start) */

/* The fields of the row being read. */
typedef struct {
    char *buf; /* each field's bytes and a NUL */
    size_t len, cap;
    size_t *off, *flen;
    unsigned char *null;
    size_t n, cap_fields;
    size_t newlines; /* line ends inside the row's quoted fields */
} s_fields_t;

/* The lines of the row being read after its first one, in case it breaks
 * (s_reread), then the lines being read again. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t at;   /* [0, at) fed; [at, len) to read again before new input */
    size_t hold; /* [hold, at): the lines after the first of the row */
} s_lines_t;

/* Keys seen: slots hold arena offset + 1 (0: empty). */
typedef struct {
    uint64_t *slots;
    size_t n_slots, used;
    uint8_t *arena; /* per key: line (8 bytes), length (4), bytes */
    size_t len, cap;
    unsigned char sip[crypto_shorthash_KEYBYTES];
} s_keys_t;

struct lt_csv_t {
    char path[PATH_MAX];
    char socket[PATH_MAX];
    char dataset[256];
    char record_type[256];
    char key_field[256];
    char file[PATH_MAX]; /* the file being read, for messages */
    int batch;
    char delimiter;
    int empty_is_null;
    lt_rowmap_t *map;
    unsigned *checks; /* per mapped column */
    int *digits;      /* per mapped column: the number of digits, 0 any */
    size_t *col;      /* per mapped column: its index in the header */
    size_t n_header;
    char **header;
    int have_header;
    struct csv_parser parser;
    int parser_ready;
    s_fields_t f;
    s_lines_t lines;
    s_keys_t keys;
    long line;       /* the line being fed (1-based) */
    long row_line;   /* the line the row being read began on */
    int cr;          /* the last piece fed ended with a CR: an LF next ends no line */
    int row_cr;      /* the first line of the row being read ended with a CR */
    int row_ended;   /* a row ended in the piece being fed (s_on_row) */
    int reread;      /* the row broke over lines: read them again (s_reread) */
    size_t key;      /* the key field's index in the mapping */
    int bom;         /* bytes of a byte order mark taken at the start; -1 past it */
    int skip_line;   /* the rest of the line is skipped (s_parse_reject) */
    size_t line_len; /* bytes of the line being fed so far (ROW_LINES_MAX) */
    lt_csv_record_fn on_record;
    lt_csv_reject_fn on_reject;
    void *arg;
    char err[1024]; /* a fatal error met inside a callback */
    int failed;
    uint64_t rows, good, bad;
};

/* A row being checked: the mapped columns in mapping order. */
typedef struct {
    lt_db_row_t base;
    const lt_csv_t *self;
} s_row_t;

/* ---- configuration -------------------------------------------------- */

static const char *const s_known[] = {"gateway_socket", "dataset", "record_type", "key_field",
                                      "columns",        "checks",  "delimiter",   "empty",
                                      "batch",          NULL};

/* One check list, e.g. "required, digits:12". */
static int s_parse_check(lt_csv_t *self, size_t i, const config_setting_t *s, char *err,
                         size_t errlen)
{
    const char *text = config_setting_get_string(s);
    if (!text)
        return lt_cfgfile_err(s, self->path, err, errlen, "a check must be a string");
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        char *end = NULL;
        if (strcmp(w, "date") == 0)
            self->checks[i] |= CHECK_DATE;
        else if (strcmp(w, "required") == 0)
            self->checks[i] |= CHECK_REQUIRED;
        else if (strcmp(w, "digits") == 0)
            self->checks[i] |= CHECK_DIGITS;
        else if (strncmp(w, "digits:", 7) == 0) {
            /* Checked before the cast: (int) of 4294967308 was 12. */
            errno = 0;
            long n = strtol(w + 7, &end, 10);
            if (!isdigit((unsigned char)w[7]) || errno || *end || n < 1 || n > CHECK_DIGITS_MAX)
                return lt_cfgfile_err(s, self->path, err, errlen,
                                      "check '%s': N of digits:N must be a whole number from 1 "
                                      "to %d",
                                      w, CHECK_DIGITS_MAX);
            self->digits[i] = (int)n;
            self->checks[i] |= CHECK_DIGITS;
        } else
            return lt_cfgfile_err(s, self->path, err, errlen,
                                  "unknown check '%s' (date, digits, digits:N, required)", w);
    }
    return 0;
}

static int s_load_checks(lt_csv_t *self, const config_t *c, char *err, size_t errlen)
{
    size_t n = lt_rowmap_size(self->map);
    self->checks = calloc(n, sizeof *self->checks);
    self->digits = calloc(n, sizeof *self->digits);
    self->col = calloc(n, sizeof *self->col);
    if (!self->checks || !self->digits || !self->col)
        return lt_cfgfile_err(NULL, self->path, err, errlen, "out of memory");
    const config_setting_t *g = config_lookup(c, "checks");
    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return lt_cfgfile_err(g, self->path, err, errlen,
                              "'checks' must be a group: checks = { field = \"date\"; ... };");
    for (int k = 0; k < config_setting_length(g); k++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)k);
        size_t i = 0;
        while (i < n && strcmp(lt_rowmap_field_name(self->map, i), config_setting_name(s)) != 0)
            i++;
        if (i == n)
            return lt_cfgfile_err(s, self->path, err, errlen,
                                  "check of field '%s', which 'columns' does not map",
                                  config_setting_name(s));
        if (s_parse_check(self, i, s, err, errlen))
            return -1;
    }
    return 0;
}

/* delimiter = "," (one character) or "\t". */
static int s_load_delimiter(lt_csv_t *self, const config_t *c, char *err, size_t errlen)
{
    char d[8];
    if (lt_cfgfile_string(c, self->path, "delimiter", ",", 0, d, sizeof d, err, errlen))
        return -1;
    if (strlen(d) != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r')
        return lt_cfgfile_err(config_lookup(c, "delimiter"), self->path, err, errlen,
                              "'delimiter' must be one character other than '\"' and newlines "
                              "(\"\\t\" for a tab)");
    self->delimiter = d[0];
    char empty[8];
    if (lt_cfgfile_string(c, self->path, "empty", "null", 0, empty, sizeof empty, err, errlen))
        return -1;
    if (strcmp(empty, "null") != 0 && strcmp(empty, "text") != 0)
        return lt_cfgfile_err(config_lookup(c, "empty"), self->path, err, errlen,
                              "'empty' must be \"null\" or \"text\"");
    self->empty_is_null = empty[0] == 'n';
    return 0;
}

/* The mapping: `columns` names header columns; the key column is the one
 * mapped to key_field. */
static int s_load_map(lt_csv_t *self, const config_t *c, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *desc = lt_schema_find(self->record_type);
    if (!desc)
        return lt_cfgfile_err(config_lookup(c, "record_type"), self->path, err, errlen,
                              "unknown record type '%s' (e.g. \"lienthong.records.Population\")",
                              self->record_type);
    const config_setting_t *cols = config_lookup(c, "columns");
    const config_setting_t *key = cols ? config_setting_get_member(cols, self->key_field) : NULL;
    const char *key_column = key ? config_setting_get_string(key) : NULL;
    if (cols && !key_column)
        return lt_cfgfile_err(cols, self->path, err, errlen,
                              "the key field is not mapped: add %s = \"<its CSV column>\"; to "
                              "'columns'",
                              self->key_field);
    self->map = lt_rowmap_new(desc, cols, self->path, key_column, self->key_field, err, errlen);
    if (!self->map)
        return -1;
    while (strcmp(lt_rowmap_field_name(self->map, self->key), self->key_field) != 0)
        self->key++;
    return 0;
}

static int s_load(lt_csv_t *self, const config_t *c, char *err, size_t errlen)
{
    const char *p = self->path;
    long long batch;
    if (lt_cfgfile_unknown(c, p, s_known, err, errlen) ||
        lt_cfgfile_string(c, p, "gateway_socket", NULL, 1, self->socket, sizeof self->socket, err,
                          errlen) ||
        lt_cfgfile_string(c, p, "dataset", NULL, 0, self->dataset, sizeof self->dataset, err,
                          errlen) ||
        lt_cfgfile_string(c, p, "record_type", NULL, 0, self->record_type, sizeof self->record_type,
                          err, errlen) ||
        lt_cfgfile_string(c, p, "key_field", NULL, 0, self->key_field, sizeof self->key_field, err,
                          errlen) ||
        lt_cfgfile_int(c, p, "batch", 1000, 1, 100000, &batch, err, errlen) ||
        s_load_delimiter(self, c, err, errlen) || s_load_map(self, c, err, errlen) ||
        s_load_checks(self, c, err, errlen))
        return -1;
    self->batch = (int)batch;
    return 0;
}

lt_csv_t *lt_csv_new(const char *config_path, char *err, size_t errlen)
{
    lt_csv_t *self = calloc(1, sizeof *self);
    if (!self || sodium_init() < 0) {
        lt_err_set(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", config_path);
    crypto_shorthash_keygen(self->keys.sip);
    config_t c;
    config_init(&c);
    int rc = lt_cfgfile_read(&c, config_path, err, errlen) || s_load(self, &c, err, errlen);
    config_destroy(&c);
    if (rc == 0)
        return self;
    lt_csv_destroy(&self);
    return NULL;
}

static void s_header_free(lt_csv_t *self)
{
    for (size_t i = 0; self->header && i < self->n_header; i++)
        free(self->header[i]);
    free(self->header);
    self->header = NULL;
    self->n_header = 0;
    self->have_header = 0;
}

void lt_csv_destroy(lt_csv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_csv_t *self = *self_p;
    if (self->parser_ready)
        csv_free(&self->parser);
    s_header_free(self);
    lt_rowmap_destroy(&self->map);
    free(self->checks);
    free(self->digits);
    free(self->col);
    free(self->f.buf);
    free(self->f.off);
    free(self->f.flen);
    free(self->f.null);
    free(self->lines.buf);
    free(self->keys.slots);
    free(self->keys.arena);
    free(self);
    *self_p = NULL;
}

const char *lt_csv_dataset(const lt_csv_t *self)
{
    return self->dataset;
}

const char *lt_csv_socket(const lt_csv_t *self)
{
    return self->socket;
}

int lt_csv_batch(const lt_csv_t *self)
{
    return self->batch;
}

void lt_csv_set_delimiter(lt_csv_t *self, char delimiter)
{
    self->delimiter = delimiter;
}

void lt_csv_counts(const lt_csv_t *self, uint64_t *rows, uint64_t *good, uint64_t *bad)
{
    *rows = self->rows;
    *good = self->good;
    *bad = self->bad;
}

/* ---- the row seam: a CSV row ---------------------------------------- */

static const s_fields_t *s_f(const lt_db_row_t *row, size_t i, size_t *k)
{
    const lt_csv_t *self = ((const s_row_t *)row)->self;
    *k = self->col[i];
    return &self->f;
}

static size_t s_row_count(const lt_db_row_t *row)
{
    return lt_rowmap_size(((const s_row_t *)row)->self->map);
}

static const char *s_row_name(const lt_db_row_t *row, size_t i)
{
    return lt_rowmap_column_name(((const s_row_t *)row)->self->map, i);
}

static lt_db_type_t s_row_type(const lt_db_row_t *row, size_t i)
{
    size_t k;
    const s_fields_t *f = s_f(row, i, &k);
    return f->null[k] ? LT_DB_NULL : LT_DB_TEXT;
}

static const char *s_row_text(const lt_db_row_t *row, size_t i)
{
    size_t k;
    const s_fields_t *f = s_f(row, i, &k);
    return f->null[k] ? NULL : f->buf + f->off[k];
}

static int64_t s_row_int(const lt_db_row_t *row, size_t i)
{
    const char *t = s_row_text(row, i);
    return t ? strtoll(t, NULL, 10) : 0;
}

static double s_row_double(const lt_db_row_t *row, size_t i)
{
    const char *t = s_row_text(row, i);
    return t ? strtod(t, NULL) : 0;
}

static int s_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    size_t k;
    const s_fields_t *f = s_f(row, i, &k);
    *len = f->null[k] ? 0 : f->flen[k];
    *data = *len ? f->buf + f->off[k] : NULL;
    return 0; /* the field is in the line's buffer already */
}

static const lt_db_ops_t s_row_ops = {
    .name = "csv",
    .row_count = s_row_count,
    .row_name = s_row_name,
    .row_type = s_row_type,
    .row_int = s_row_int,
    .row_double = s_row_double,
    .row_text = s_row_text,
    .row_blob = s_row_blob,
};

/* ---- keys seen -------------------------------------------------------- */

static uint64_t s_hash(const s_keys_t *k, const char *key, size_t len)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, len, k->sip);
    return h;
}

static int s_same(const s_keys_t *k, uint64_t slot, const char *key, size_t len, long *line)
{
    const uint8_t *e = k->arena + slot - 1;
    uint32_t elen;
    int64_t first;
    memcpy(&first, e, 8);
    memcpy(&elen, e + 8, 4);
    *line = (long)first;
    return elen == len && memcmp(e + 12, key, len) == 0;
}

static int s_grow_slots(s_keys_t *k)
{
    size_t n = k->n_slots ? k->n_slots * 2 : 1024;
    uint64_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < k->n_slots; i++) {
        if (!k->slots[i])
            continue;
        const uint8_t *e = k->arena + k->slots[i] - 1;
        uint32_t elen;
        memcpy(&elen, e + 8, 4);
        size_t j = s_hash(k, (const char *)e + 12, elen) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = k->slots[i];
    }
    free(k->slots);
    k->slots = slots;
    k->n_slots = n;
    return 0;
}

/* Adds key (first seen on `line`): 1 added, 0 already there (*first set),
 * -1 out of memory. */
static int s_key_add(s_keys_t *k, const char *key, long line, long *first)
{
    size_t len = strlen(key);
    if ((k->used + 1) * 2 > k->n_slots && s_grow_slots(k))
        return -1;
    size_t j = s_hash(k, key, len) & (k->n_slots - 1);
    for (; k->slots[j]; j = (j + 1) & (k->n_slots - 1))
        if (s_same(k, k->slots[j], key, len, first))
            return 0;
    if (k->len + 12 + len > k->cap) {
        size_t cap = (k->len + 12 + len) * 2;
        uint8_t *a = realloc(k->arena, cap);
        if (!a)
            return -1;
        k->arena = a;
        k->cap = cap;
    }
    int64_t l = line;
    uint32_t l32 = (uint32_t)len;
    memcpy(k->arena + k->len, &l, 8);
    memcpy(k->arena + k->len + 8, &l32, 4);
    memcpy(k->arena + k->len + 12, key, len);
    k->slots[j] = k->len + 1;
    k->len += 12 + len;
    k->used++;
    return 1;
}

/* ---- checks ----------------------------------------------------------- */

/* A calendar date written YYYY-MM-DD. */
static int s_is_date(const char *s)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    if (s[10])
        return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] && (m != 2 || d <= 28 + leap);
}

static int s_is_digits(const char *s, int n)
{
    size_t len = strspn(s, "0123456789");
    return s[len] == 0 && len > 0 && (n == 0 || len == (size_t)n);
}

/* The reason column i of the row fails its checks, or NULL. */
static const char *s_check(const lt_csv_t *self, size_t i, char *why, size_t cap)
{
    size_t k = self->col[i];
    const char *v = self->f.null[k] ? NULL : self->f.buf + self->f.off[k];
    size_t len = v ? self->f.flen[k] : 0;
    const uint8_t *bad = v ? u8_check((const uint8_t *)v, len) : NULL;
    unsigned c = self->checks[i];
    if (bad)
        snprintf(why, cap, "invalid UTF-8 at byte %zu", (size_t)(bad - (const uint8_t *)v) + 1);
    else if (strlen(v ? v : "") != len)
        snprintf(why, cap, "contains a NUL byte");
    else if ((c & CHECK_REQUIRED) && !len)
        snprintf(why, cap, "required");
    else if (len && (c & CHECK_DATE) && !s_is_date(v))
        snprintf(why, cap, "not a date YYYY-MM-DD");
    else if (len && (c & CHECK_DIGITS) && !s_is_digits(v, self->digits[i])) {
        if (self->digits[i])
            snprintf(why, cap, "must be %d digits 0-9", self->digits[i]);
        else
            snprintf(why, cap, "must be digits 0-9");
    } else
        return NULL;
    return why;
}

/* ---- rows ------------------------------------------------------------- */

static void s_reject(lt_csv_t *self, long line, const char *column, const char *reason)
{
    if (self->on_reject)
        self->on_reject(self->arg, line, column, reason);
}

/* The end of the reason of a row that broke over lines first..last, most
 * likely at a stray quote: its other lines are read again (s_reread). */
static void s_again(lt_csv_t *self, char *note, size_t cap, long first, long last)
{
    if (last == first + 1)
        snprintf(note, cap, "(a stray quote?); line %ld is read again as a row of its own", last);
    else
        snprintf(note, cap, "(a stray quote?); lines %ld-%ld are read again as rows of their own",
                 first + 1, last);
    self->reread = 1;
}

/* Wrong number of columns: the first missing one, or the first extra. A
 * row over lines with the wrong number is taken for a stray quote's. */
static int s_check_count(lt_csv_t *self, long line)
{
    char why[REASON_MAX], col[24], over[224] = "", note[128];
    if (self->f.n == self->n_header)
        return 0;
    if (self->f.newlines) {
        s_again(self, note, sizeof note, line, self->line);
        snprintf(over, sizeof over,
                 " in a row whose quoted fields run on from line %ld to line %ld %s", line,
                 self->line, note);
    }
    if (self->f.n < self->n_header) {
        snprintf(why, sizeof why, "missing (the row has %zu of the header's %zu columns)%s",
                 self->f.n, self->n_header, over);
        s_reject(self, line, self->header[self->f.n], why);
    } else {
        snprintf(col, sizeof col, "%zu", self->n_header + 1);
        snprintf(why, sizeof why, "extra (the row has %zu columns, the header %zu)%s", self->f.n,
                 self->n_header, over);
        s_reject(self, line, col, why);
    }
    return -1;
}

/* Why the key of the row cannot be published, or NULL: the owner's
 * gateway refuses a whole Publish for an empty key or one over
 * LT_RECORD_KEY_MAX bytes (PROTOCOL.md 8.1), which would stop the import
 * with the rows after it unsent. Its length, never its value. */
static const char *s_check_key(const lt_csv_t *self, size_t i, char *why, size_t cap)
{
    size_t k = self->col[i];
    const char *v = self->f.null[k] ? "" : self->f.buf + self->f.off[k];
    if (lt_valid_key(v))
        return NULL;
    if (!v[0])
        return "empty key";
    snprintf(why, cap, "the key is %zu bytes, over the %d bytes a record key may have",
             self->f.flen[k], LT_RECORD_KEY_MAX);
    return why;
}

/* Every check of every mapped column; each failing column is reported. */
static int s_check_columns(lt_csv_t *self, long line, size_t key)
{
    char why[REASON_MAX];
    int bad = 0;
    for (size_t i = 0; i < lt_rowmap_size(self->map); i++) {
        const char *reason = s_check(self, i, why, sizeof why);
        if (!reason && i == key)
            reason = s_check_key(self, i, why, sizeof why);
        if (reason) {
            s_reject(self, line, lt_rowmap_column_name(self->map, i), reason);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* Rejects the row that packed to a record of `len` bytes, more than any
 * gateway takes in a Publish (PROTOCOL.md 8.1): it would stop the import
 * with the rows after it unsent. Names its largest column, which is most
 * likely at fault, and the sizes, never a value. */
static void s_too_big(lt_csv_t *self, long line, size_t len)
{
    char why[REASON_MAX];
    size_t big = 0;
    for (size_t i = 1; i < lt_rowmap_size(self->map); i++)
        if (self->f.flen[self->col[i]] > self->f.flen[self->col[big]])
            big = i;
    snprintf(why, sizeof why,
             "the row is %zu bytes as a record (%zu of them in this column), over the %u bytes "
             "a record may have in a Publish",
             len, self->f.flen[self->col[big]], LT_PUBLISH_MAX_RECORD);
    s_reject(self, line, lt_rowmap_column_name(self->map, big), why);
}

/* Checks, packs and hands over (or rejects) the row that just ended. */
static int s_row(lt_csv_t *self, long line)
{
    size_t key = self->key;
    self->rows++;
    if (s_check_count(self, line) || s_check_columns(self, line, key)) {
        self->bad++;
        return 0;
    }
    s_row_t row = {{&s_row_ops}, self};
    uint8_t *buf = NULL;
    size_t len = 0, bad = 0;
    char why[REASON_MAX];
    if (lt_rowmap_pack(self->map, &row.base, &buf, &len, &bad, why, sizeof why) != 0) {
        s_reject(self, line,
                 bad < lt_rowmap_size(self->map) ? lt_rowmap_column_name(self->map, bad) : "?",
                 why);
        self->bad++;
        return 0;
    }
    if (len > LT_PUBLISH_MAX_RECORD) {
        s_too_big(self, line, len);
        self->bad++;
        free(buf);
        return 0;
    }
    const char *k = self->f.buf + self->f.off[self->col[key]];
    long first = 0;
    int added = s_key_add(&self->keys, k, line, &first);
    int rc = 0;
    if (added < 0) {
        lt_err_set(self->err, sizeof self->err, "out of memory for the keys seen");
        rc = -1;
    } else if (added == 0) {
        snprintf(why, sizeof why, "duplicate key, first on line %ld", first);
        s_reject(self, line, lt_rowmap_column_name(self->map, key), why);
        self->bad++;
    } else if (self->on_record && self->on_record(self->arg, k, buf, len, line) != 0) {
        lt_err_set(self->err, sizeof self->err, "stopped at line %ld", line);
        rc = -1;
    } else
        self->good++;
    free(buf);
    return rc;
}

/* The header: the index of each mapped column in it. */
static int s_header(lt_csv_t *self)
{
    self->header = calloc(self->f.n ? self->f.n : 1, sizeof *self->header);
    if (!self->header)
        goto oom;
    for (size_t i = 0; i < self->f.n; i++) {
        const char *name = self->f.null[i] ? "" : self->f.buf + self->f.off[i];
        if (!(self->header[i] = strdup(name)))
            goto oom;
        self->n_header++;
        for (size_t j = 0; j < i; j++)
            if (name[0] && strcmp(self->header[j], name) == 0) {
                lt_err_set(self->err, sizeof self->err, "%s:1: the header names column '%s' twice",
                           self->file, name);
                return -1;
            }
    }
    for (size_t i = 0; i < lt_rowmap_size(self->map); i++) {
        const char *want = lt_rowmap_column_name(self->map, i);
        size_t k = 0;
        while (k < self->n_header && strcmp(self->header[k], want) != 0)
            k++;
        if (k == self->n_header) {
            lt_err_set(self->err, sizeof self->err,
                       "%s:1: the header has no column '%s' (mapped to field %s in %s)", self->file,
                       want, lt_rowmap_field_name(self->map, i), self->path);
            return -1;
        }
        self->col[i] = k;
    }
    self->have_header = 1;
    return 0;
oom:
    lt_err_set(self->err, sizeof self->err, "out of memory");
    return -1;
}

/* Room for one more field of `len` bytes. */
static int s_grow_fields(s_fields_t *f, size_t len)
{
    if (f->n == f->cap_fields) {
        size_t cap = f->cap_fields ? f->cap_fields * 2 : 32;
        size_t *off = realloc(f->off, cap * sizeof *off);
        if (off)
            f->off = off;
        size_t *flen = off ? realloc(f->flen, cap * sizeof *flen) : NULL;
        if (flen)
            f->flen = flen;
        unsigned char *null = flen ? realloc(f->null, cap) : NULL;
        if (!null)
            return -1;
        f->null = null;
        f->cap_fields = cap;
    }
    if (f->len + len + 1 > f->cap) {
        size_t cap = (f->len + len + 1) * 2;
        char *buf = realloc(f->buf, cap);
        if (!buf)
            return -1;
        f->buf = buf;
        f->cap = cap;
    }
    return 0;
}

/* The line ends in text: LF, CRLF or a lone CR each count one. */
static size_t s_line_ends(const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n' || (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'));
    return n;
}

/* libcsv: one field of the row (NULL for an empty one with
 * CSV_EMPTY_IS_NULL). */
static void s_on_field(void *data, size_t len, void *arg)
{
    lt_csv_t *self = arg;
    s_fields_t *f = &self->f;
    if (!data)
        len = 0;
    if (self->failed || self->reread) /* the rest of a row that broke */
        return;
    if (s_grow_fields(f, len) != 0) {
        lt_err_set(self->err, sizeof self->err, "out of memory reading a row");
        self->failed = 1;
        return;
    }
    f->off[f->n] = f->len;
    f->flen[f->n] = len;
    f->null[f->n] = data == NULL;
    if (len)
        memcpy(f->buf + f->len, data, len);
    f->buf[f->len + len] = 0;
    f->len += len + 1;
    f->newlines += s_line_ends(data, len);
    f->n++;
}

/* libcsv: the end of a row. */
static void s_on_row(int terminator, void *arg)
{
    lt_csv_t *self = arg;
    (void)terminator;
    long line = self->line - (long)self->f.newlines;
    if (!self->failed && !self->reread &&
        (self->have_header ? s_row(self, line) : s_header(self)) != 0)
        self->failed = 1;
    self->f.n = self->f.len = self->f.newlines = 0;
    if (self->reread) /* s_reread needs the first line of the row */
        return;
    self->row_line = self->line; /* of the next row, when a '\r' ended this one */
    self->row_ended = 1;
}

/* ---- feeding ---------------------------------------------------------- */

/* RFC 4180: spaces are part of a field. */
static int s_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* A new parser. Strict: a character after a closing quote, or a quote in
 * an unquoted field, is an error (CSV_EPARSE) rather than text that
 * silently swallows the delimiters and rows after it (s_parse_reject). */
static int s_parser_start(lt_csv_t *self)
{
    if (self->parser_ready)
        csv_free(&self->parser);
    self->parser_ready = 0;
    unsigned char opts =
        CSV_STRICT | CSV_APPEND_NULL | (self->empty_is_null ? CSV_EMPTY_IS_NULL : 0);
    if (csv_init(&self->parser, opts) != 0)
        return -1;
    self->parser_ready = 1;
    csv_set_delim(&self->parser, (unsigned char)self->delimiter);
    /* libcsv grows a field's buffer by this much at a time (128 bytes by
     * default): a long quoted field, up to the 16 MiB a row may hold, would
     * cost a realloc per 128 bytes, each copying the field so far. */
    csv_set_blk_size(&self->parser, CSV_BLOCK);
    csv_set_space_func(&self->parser, s_no_space);
    return 0;
}

int lt_csv_begin(lt_csv_t *self, const char *file, lt_csv_record_fn on_record,
                 lt_csv_reject_fn on_reject, void *arg, char *err, size_t errlen)
{
    s_header_free(self);
    if (s_parser_start(self) != 0) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    snprintf(self->file, sizeof self->file, "%s", file);
    self->on_record = on_record;
    self->on_reject = on_reject;
    self->arg = arg;
    self->line = 1;
    self->bom = 0;
    self->skip_line = 0;
    self->line_len = 0;
    self->failed = 0;
    self->f.n = self->f.len = self->f.newlines = 0;
    self->lines.len = self->lines.at = self->lines.hold = 0;
    self->row_line = 1;
    self->cr = self->row_cr = 0;
    self->row_ended = self->reread = 0;
    return 0;
}

/* The quoting of the row being read broke on the current line (CSV_EPARSE):
 * that row is rejected, with the column it broke in. A row on this line
 * alone: reading goes on with a new parser at the next line (the caller
 * skips the rest of this one). A row begun on an earlier line: its other
 * lines are read again (s_reread). A header row that breaks stops the
 * file. -1 when the import cannot go on. */
static int s_parse_reject(lt_csv_t *self)
{
    if (csv_error(&self->parser) != CSV_EPARSE || !self->have_header)
        return -1;
    char col[24], why[REASON_MAX], note[128];
    snprintf(col, sizeof col, "%zu", self->f.n + 1);
    if (self->row_line < self->line) {
        s_again(self, note, sizeof note, self->row_line, self->line);
        snprintf(why, sizeof why,
                 "malformed quoting on line %ld, in a row whose quoted fields run on from line "
                 "%ld %s",
                 self->line, self->row_line, note);
    } else
        snprintf(why, sizeof why,
                 "malformed quoting on line %ld (a quote inside an unquoted field, or a "
                 "character after a closing quote); the rest of that line is skipped",
                 self->line);
    self->rows++;
    self->bad++;
    s_reject(self, self->row_line, self->f.n < self->n_header ? self->header[self->f.n] : col, why);
    if (self->reread)
        return 0;
    self->f.n = self->f.len = self->f.newlines = 0;
    self->skip_line = 1; /* up to and including this line's newline */
    if (s_parser_start(self) == 0)
        return 0;
    lt_err_set(self->err, sizeof self->err, "out of memory");
    self->failed = 1;
    return 0;
}

/* The row being read broke over lines and is rejected at its first: its
 * other lines, held, are read again before any new input, with a new
 * parser, as if the row had ended with its first line. */
static int s_reread(lt_csv_t *self)
{
    self->reread = 0;
    self->lines.at = self->lines.hold;
    self->line = self->row_line + 1;
    self->cr = self->row_cr; /* the LF of its first line's CRLF may come next */
    self->skip_line = 0;
    self->line_len = 0;
    self->f.n = self->f.len = self->f.newlines = 0;
    if (s_parser_start(self) == 0)
        return 0;
    lt_err_set(self->err, sizeof self->err, "out of memory");
    return -1;
}

/* Holds a piece of new input that the row being read runs on into, in
 * case that row breaks. */
static int s_hold(lt_csv_t *self, const char *p, size_t n)
{
    s_lines_t *l = &self->lines;
    if (l->hold > 0) { /* lines read again before the row's: done with */
        memmove(l->buf, l->buf + l->hold, l->len - l->hold);
        l->len -= l->hold;
        l->hold = 0;
    }
    if (l->len + n > ROW_LINES_MAX) {
        lt_err_set(self->err, sizeof self->err,
                   "%s:%ld: a row over %u MiB: its quoted fields run on from line %ld (a "
                   "stray quote?)",
                   self->file, self->line, ROW_LINES_MAX >> 20, self->row_line);
        return -1;
    }
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n)
            cap *= 2;
        char *buf = realloc(l->buf, cap);
        if (!buf) {
            lt_err_set(self->err, sizeof self->err, "out of memory holding a row's lines");
            return -1;
        }
        l->buf = buf;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, p, n);
    l->at = l->len += n;
    return 0;
}

/* Counts a piece of the line being fed against ROW_LINES_MAX. The rest of
 * a line whose quoting broke is skipped, not kept, and is not counted. */
static int s_line_cap(lt_csv_t *self, size_t n)
{
    if (self->skip_line || (self->line_len += n) <= ROW_LINES_MAX)
        return 0;
    lt_err_set(self->err, sizeof self->err,
               "%s:%ld: a line over %u MiB without a line end (LF, CRLF or CR)", self->file,
               self->line, ROW_LINES_MAX >> 20);
    return -1;
}

/* Feeds one piece of a line, up to and including its newline: new input,
 * or held (again) and read again. */
static int s_piece(lt_csv_t *self, const char *p, size_t n, int again)
{
    s_lines_t *l = &self->lines;
    if (self->parser.pstate == CSV_ROW_NOT_BEGUN)
        self->row_line = self->line;
    /* The row runs on from an earlier line: hold the piece, if new. */
    int runs_on = self->parser.pstate != CSV_ROW_NOT_BEGUN && self->line > self->row_line;
    if (again)
        l->at += n;
    else if (!runs_on)
        l->len = l->at = l->hold = 0;
    else if (s_hold(self, p, n) != 0)
        return -1;
    if (s_line_cap(self, n) != 0)
        return -1;
    self->row_ended = 0;
    /* After a row that broke over lines (s_reread), libcsv reads on to the
     * end of the piece: what it finds there is read again anyway. */
    if (self->skip_line)
        ; /* the rest of a line whose quoting broke, maybe fed in pieces */
    else if (csv_parse(&self->parser, p, n, s_on_field, s_on_row, self) != n && !self->failed &&
             !self->reread && s_parse_reject(self) != 0) {
        lt_err_set(self->err, sizeof self->err, "%s:%ld: %s", self->file, self->line,
                   csv_strerror(csv_error(&self->parser)));
        return -1;
    }
    if (self->failed)
        return -1;
    if (self->reread)
        return s_reread(self);
    /* A piece ends at its first CR or LF: the LF of a CRLF comes alone. */
    int eol = p[n - 1] == '\r' || (p[n - 1] == '\n' && !(n == 1 && self->cr));
    self->cr = p[n - 1] == '\r';
    if (eol) {
        if (!runs_on)
            self->row_cr = self->cr;
        self->skip_line = 0;
        self->line_len = 0;
        self->line++;
    }
    if (!runs_on || self->row_ended) /* the lines held so far: done with */
        l->hold = l->at;
    return 0;
}

/* The bytes of s up to and including its first CR or LF, or all len. */
static size_t s_piece_len(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n' || s[i] == '\r')
            return i + 1;
    return len;
}

/* Feeds the lines to read again, then p, a piece of a line at a time. */
static int s_feed_lines(lt_csv_t *self, const char *p, size_t len)
{
    s_lines_t *l = &self->lines;
    while (!self->failed && (l->at < l->len || len > 0)) {
        int again = l->at < l->len;
        const char *s = again ? l->buf + l->at : p;
        size_t left = again ? l->len - l->at : len;
        size_t n = s_piece_len(s, left);
        if (!again) {
            p += n;
            len -= n;
        }
        if (s_piece(self, s, n, again) != 0)
            self->failed = 1;
    }
    return self->failed ? -1 : 0;
}

#define BOM "\xEF\xBB\xBF"

/* A UTF-8 byte order mark, as spreadsheets write, is not data. It may come
 * split over feeds (a pipe gives what it has): its first bytes are held
 * back until the mark is whole, or fed as data when it is not one. */
static int s_feed_bom(lt_csv_t *self, const char **p, size_t *len)
{
    while (self->bom >= 0 && self->bom < 3 && *len > 0 && **p == BOM[self->bom]) {
        self->bom++;
        (*p)++;
        (*len)--;
    }
    if (self->bom == 3 || (self->bom >= 0 && *len > 0)) {
        int held = self->bom < 3 ? self->bom : 0;
        self->bom = -1;
        return s_feed_lines(self, BOM, (size_t)held);
    }
    return 0;
}

int lt_csv_feed(lt_csv_t *self, const void *data, size_t len, char *err, size_t errlen)
{
    const char *p = data;
    if (s_feed_bom(self, &p, &len) == 0 && s_feed_lines(self, p, len) == 0)
        return 0;
    lt_err_set(err, errlen, "%s", self->err);
    return -1;
}

/* An open quote ran to the end of the file: that row is bad (libcsv would
 * end the field there, as if it had been closed). Over lines, its other
 * lines are read again. */
static void s_unterminated(lt_csv_t *self)
{
    const s_lines_t *l = &self->lines;
    char col[24], why[REASON_MAX], note[128];
    snprintf(col, sizeof col, "%zu", self->f.n + 1);
    /* The lines held may be just the LF of the first line's CRLF. */
    long last = l->hold < l->at
                    ? self->line - (l->buf[l->at - 1] == '\n' || l->buf[l->at - 1] == '\r')
                    : self->row_line;
    if (self->have_header && last > self->row_line) {
        s_again(self, note, sizeof note, self->row_line, last);
        snprintf(why, sizeof why,
                 "unterminated quoted field, open from line %ld to the end of the file on line "
                 "%ld %s",
                 self->row_line, last, note);
    } else
        snprintf(why, sizeof why, "unterminated quoted field (runs to the end of the file)");
    self->rows++;
    self->bad++;
    s_reject(self, self->row_line,
             self->have_header && self->f.n < self->n_header ? self->header[self->f.n] : col, why);
}

/* The end of the file ends the row being read. 1 when that row broke over
 * lines and they were read again: the file ends again. */
static int s_end_row(lt_csv_t *self)
{
    if (self->parser.pstate == CSV_FIELD_BEGUN && self->parser.quoted)
        s_unterminated(self);
    else
        (void)csv_fini(&self->parser, s_on_field, s_on_row, self);
    if (self->failed || !self->reread)
        return 0;
    if (s_reread(self) != 0) {
        self->failed = 1;
        return 0;
    }
    return s_feed_lines(self, NULL, 0) == 0;
}

int lt_csv_end(lt_csv_t *self, char *err, size_t errlen)
{
    if (self->bom > 0 && self->bom < 3) /* a file of a mark's first bytes */
        (void)s_feed_lines(self, BOM, (size_t)self->bom);
    self->bom = -1;
    while (!self->failed && s_end_row(self))
        ;
    if (!self->failed && !self->have_header) {
        lt_err_set(self->err, sizeof self->err, "%s: no header row", self->file);
        self->failed = 1;
    }
    if (!self->failed)
        return 0;
    lt_err_set(err, errlen, "%s", self->err);
    return -1;
}
