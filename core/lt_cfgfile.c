/* lt_cfgfile: strict libconfig helpers (see lt_cfgfile.h). */
#include "lt_cfgfile.h"
#include "lt_err.h"
#include "lt_file.h"
#include "lt_limits.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_literal(const config_setting_t *s, const char **lit, size_t *len);
static unsigned s_source_line(const config_setting_t *s);

int lt_cfgfile_err(const config_setting_t *s, const char *file, char *err, size_t errlen,
                   const char *fmt, ...)
{
    if (!file)
        file = s && config_setting_source_file(s) ? config_setting_source_file(s) : "?";
    unsigned line = s ? s_source_line(s) : 0;
    int n =
        line ? snprintf(err, errlen, "%s:%u: ", file, line) : snprintf(err, errlen, "%s: ", file);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

const char *lt_cfgfile_shown(const config_setting_t *s, char *buf, size_t cap)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        snprintf(buf, cap, "\"%.40s%s\"", v, strlen(v) > 40 ? "..." : "");
        break;
    }
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: {
        /* As written: libconfig may have kept only the low 32 bits. */
        const char *lit;
        size_t len;
        if (s_literal(s, &lit, &len) == 1)
            snprintf(buf, cap, "%.*s%s", len > 40 ? 40 : (int)len, lit, len > 40 ? "..." : "");
        else
            snprintf(buf, cap, "%lld", config_setting_get_int64(s));
        break;
    }
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, cap, "%g", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, cap, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    default:
        snprintf(buf, cap, "%s",
                 config_setting_is_group(s)  ? "a group"
                 : config_setting_is_list(s) ? "a list"
                                             : "an array");
    }
    return buf;
}

/* ---- the text of the files, kept with the configuration ---------------- *
 * libconfig before 1.6 keeps an integer written without the L suffix in 32
 * bits and drops the rest without a word: 4294967296 reads as 0, and
 * 4294967297 as 1, which a range check would pass. So a 32-bit setting's
 * literal is read again from its line (lt_cfgfile_int). The lines come
 * from the text of each file, read once per parsed configuration and kept
 * as the hook of its root setting (config_destroy, or the next read, frees
 * it through the destructor lt_cfgfile_read sets): the file that was
 * parsed is read right after parsing, a file it @includes when a setting of
 * it is first looked at. A setting is thus checked against the text that
 * was parsed, not what the file holds when the setting is asked for. */

typedef struct s_text {
    char *path;
    char *text;   /* the file, each '\n' made '\0'; NULL: not readable */
    size_t len;   /* of text */
    char **lines; /* where each line starts in text */
    size_t n_lines;
    struct s_text *next;
} s_text_t;

static void s_texts_free(void *hook)
{
    for (s_text_t *t = hook, *next; t; t = next) {
        next = t->next;
        free(t->path);
        /* The text may hold a secret (a password in an adapter's
         * 'database'): wiped like every copy of one. */
        if (t->text)
            sodium_memzero(t->text, t->len);
        free(t->text);
        free(t->lines);
        free(t);
    }
}

/* Splits the text into its lines where a '\n' ends them (a NUL inside a
 * line ends only what strstr sees of it, as getline would have it). */
static int s_text_lines(s_text_t *t, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += t->text[i] == '\n' || i + 1 == len;
    if (n && !(t->lines = calloc(n, sizeof *t->lines)))
        return -1;
    for (size_t i = 0, start = 0; i < len; i++)
        if (t->text[i] == '\n' || i + 1 == len) {
            t->lines[t->n_lines++] = t->text + start;
            if (t->text[i] == '\n')
                t->text[i] = '\0';
            start = i + 1;
        }
    return 0;
}

/* Reads path's text into a new entry; NULL when out of memory. A file that
 * cannot be read gets an entry without text, so that it is not tried again
 * (its settings keep the values libconfig stored). */
static s_text_t *s_text_read(const char *path)
{
    s_text_t *t = calloc(1, sizeof *t);
    uint8_t *data = NULL;
    size_t len = 0;
    if (!t || !(t->path = strdup(path)))
        goto fail;
    if (lt_file_read(path, LT_CFGFILE_MAX_BYTES, &data, &len) != 0)
        return t;
    t->text = (char *)data; /* NUL-terminated by lt_file_read */
    t->len = len;
    if (s_text_lines(t, len) == 0)
        return t;
fail:
    s_texts_free(t);
    return NULL;
}

/* The kept text of the file setting s was read from; NULL when the
 * configuration was not read by lt_cfgfile_read (from a string, say) or the
 * file cannot be read. */
static const s_text_t *s_text_of(const config_setting_t *s)
{
    const char *path = config_setting_source_file(s);
    s_text_t *t = path ? config_setting_get_hook(config_root_setting(s->config)) : NULL;
    if (!t)
        return NULL;
    for (;; t = t->next) {
        if (strcmp(t->path, path) == 0)
            return t->text ? t : NULL;
        if (!t->next)
            break;
    }
    t->next = s_text_read(path); /* an @included file, first asked for */
    return t->next && t->next->text ? t->next : NULL;
}

/* Line n (from 1) of the text; NULL past its end. */
static const char *s_line(const s_text_t *t, unsigned n)
{
    return n >= 1 && n <= t->n_lines ? t->lines[n - 1] : NULL;
}

/* 1 when line holds nothing but blanks and comments. */
static int s_blank(const char *line)
{
    line += strspn(line, " \t\r");
    return !*line || *line == '#' || (line[0] == '/' && line[1] == '/');
}

/* 1 when line holds the text of element s as a token of its own: a string
 * in its quotes, a whole number not inside a longer one. */
static int s_elem_on(const char *line, const config_setting_t *s)
{
    char want[72];
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        snprintf(want, sizeof want, "\"%.60s\"", config_setting_get_string(s));
    else if (config_setting_type(s) == CONFIG_TYPE_INT ||
             config_setting_type(s) == CONFIG_TYPE_INT64)
        snprintf(want, sizeof want, "%lld", config_setting_get_int64(s));
    else
        return 0;
    size_t len = strlen(want);
    for (const char *p = strstr(line, want); p; p = strstr(p + 1, want))
        if (want[0] == '"' ||
            ((p == line || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[len])))
            return 1;
    return 0;
}

/* The line setting s was written on. libconfig records for a number or
 * string in a list the line of the token after it: the ']' on a line of
 * its own, or the ',' that begins the next line in a list written comma
 * first. Such a line's element, when the line does not hold it, is on the
 * last line before it that holds something (from the kept text). */
static unsigned s_source_line(const config_setting_t *s)
{
    unsigned n = config_setting_source_line(s);
    const config_setting_t *up = config_setting_parent(s);
    if (!n || config_setting_name(s) || config_setting_is_aggregate(s) || !up ||
        config_setting_is_group(up))
        return n;
    const s_text_t *t = s_text_of(s);
    const char *line = t ? s_line(t, n) : NULL;
    if (!line || !strchr("]),", line[strspn(line, " \t\r")]) || !line[strspn(line, " \t\r")] ||
        s_elem_on(line, s))
        return n;
    while (n > 1 && s_blank(s_line(t, n - 1)))
        n--;
    return n > 1 ? n - 1 : n;
}

#define NAME_MAX_LEN   64
#define NAMES_PER_LINE 8

/* libconfig's names: [A-Za-z*][-A-Za-z0-9_*]* */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*"

/* The next setting name written on a line from *p on (a name followed by
 * '=' or ':', outside strings and comments), its length in *len; *p is
 * then past its '=' or ':'. NULL when the line has no more. */
static const char *s_next_name(const char **p, size_t *len)
{
    for (const char *q = *p; q && *q;) {
        if (*q == '#' || (q[0] == '/' && q[1] == '/'))
            break; /* a comment: the rest of the line is not read */
        if (q[0] == '/' && q[1] == '*') {
            q = strstr(q + 2, "*/");
            q = q ? q + 2 : NULL; /* a comment closed on a later line ends it */
            continue;
        }
        if (*q == '"') {
            for (q++; *q && *q != '"'; q++)
                q += q[0] == '\\' && q[1];
            q += *q == '"';
            continue;
        }
        if (!isalpha((unsigned char)*q) && *q != '*') {
            q++;
            continue;
        }
        size_t n = strspn(q, NAME_CHARS);
        const char *after = q + n + strspn(q + n, " \t");
        if (*after == '=' || *after == ':') {
            *p = after + 1;
            *len = n;
            return q;
        }
        q += n;
    }
    return NULL;
}

/* The setting names written on line, at most NAMES_PER_LINE; how many. */
static size_t s_names_on(const char *line, char names[][NAME_MAX_LEN])
{
    size_t k = 0, len;
    for (const char *p = line, *name; k < NAMES_PER_LINE && (name = s_next_name(&p, &len));)
        if (len < NAME_MAX_LEN)
            snprintf(names[k++], NAME_MAX_LEN, "%.*s", (int)len, name);
    return k;
}

/* 1 when name is written as a setting on line n of t, before its index i
 * there, or on a line before n. */
static int s_named_before(const s_text_t *t, unsigned n, size_t i, const char *name)
{
    char names[NAMES_PER_LINE][NAME_MAX_LEN];
    for (unsigned m = 1; m <= n; m++) {
        size_t k = s_names_on(s_line(t, m), names);
        for (size_t j = 0; j < (m == n ? i : k); j++)
            if (strcmp(names[j], name) == 0)
                return 1;
    }
    return 0;
}

/* The name of the setting libconfig found twice on line n of path: the
 * setting written on that line, or of those written there the first one
 * written before too. out is "" when it cannot be told. */
static void s_duplicate_name(const char *path, unsigned n, char out[NAME_MAX_LEN])
{
    char names[NAMES_PER_LINE][NAME_MAX_LEN];
    s_text_t *t = s_text_read(path);
    const char *line = t && t->text ? s_line(t, n) : NULL;
    size_t k = line ? s_names_on(line, names) : 0;
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        if (k == 1 || s_named_before(t, n, i, names[i])) {
            memcpy(out, names[i], NAME_MAX_LEN);
            break;
        }
    s_texts_free(t);
}

int lt_cfgfile_read(config_t *c, const char *path, char *err, size_t errlen)
{
    if (config_read_file(c, path) != CONFIG_TRUE) {
        if (config_error_type(c) == CONFIG_ERR_FILE_IO)
            return lt_err_set(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
        const char *file = config_error_file(c) ? config_error_file(c) : path;
        const char *text = config_error_text(c);
        char name[NAME_MAX_LEN] = "";
        /* libconfig does not say which setting it found twice. */
        if (text && strcmp(text, "duplicate setting name") == 0 && config_error_line(c) > 0)
            s_duplicate_name(file, (unsigned)config_error_line(c), name);
        return lt_err_set(err, errlen, "%s:%d: %s%s%s%s", file, config_error_line(c), text,
                          name[0] ? " '" : "", name, name[0] ? "'" : "");
    }
    s_text_t *t = s_text_read(path);
    if (!t)
        return lt_err_set(err, errlen, "%s: out of memory", path);
    config_set_destructor(c, s_texts_free);
    config_setting_set_hook(config_root_setting(c), t);
    return 0;
}

void lt_cfgfile_wipe(const config_t *c, const char *name)
{
    const config_setting_t *s = config_lookup(c, name);
    const char *v = s ? config_setting_get_string(s) : NULL;
    /* libconfig hands out a const pointer to the string it allocated for
     * the setting and frees unwiped in config_destroy; nothing else shares
     * it, and the caller destroys c next, so writing through it is safe. */
    if (v)
        sodium_memzero((char *)v, strlen(v));
}

int lt_cfgfile_unknown(const config_t *c, const char *file, const char *const *known, char *err,
                       size_t errlen)
{
    return lt_cfgfile_unknown_in(config_root_setting(c), file, known, err, errlen);
}

int lt_cfgfile_unknown_in(const config_setting_t *group, const char *file, const char *const *known,
                          char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        int ok = 0;
        for (int k = 0; known[k]; k++)
            ok |= strcmp(config_setting_name(s), known[k]) == 0;
        if (!ok)
            return lt_cfgfile_err(s, file, err, errlen, "unknown setting '%s'",
                                  config_setting_name(s));
    }
    return 0;
}

int lt_cfgfile_string(const config_t *c, const char *file, const char *name, const char *dflt,
                      int is_path, char *out, size_t cap, char *err, size_t errlen)
{
    const config_setting_t *s = config_lookup(c, name);
    const char *v = dflt;
    char got[64];
    if (s && !(v = config_setting_get_string(s)))
        return lt_cfgfile_err(s, file, err, errlen,
                              "'%s' must be a string in double quotes, got %s", name,
                              lt_cfgfile_shown(s, got, sizeof got));
    if (!v)
        return lt_cfgfile_err(NULL, file, err, errlen, "missing required setting '%s'", name);
    if (!v[0])
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must not be empty", name);
    int rc = is_path ? lt_file_resolve(file, v, out, cap)
                     : (snprintf(out, cap, "%s", v) >= (int)cap ? -1 : 0);
    if (rc != 0)
        return lt_cfgfile_err(s, file, err, errlen, "'%s' is too long", name);
    return 0;
}

/* Skips blanks, line ends and comments from *q on line *n of t, to where
 * the value written after a setting's '=' begins (libconfig allows it on a
 * later line). 0, or -1 at the end of the text. */
static int s_skip(const s_text_t *t, unsigned *n, const char **q)
{
    int in_block = 0;
    for (;;) {
        const char *p = *q;
        if (in_block) {
            const char *e = strstr(p, "*/");
            p = e ? e + 2 : p + strlen(p);
            in_block = !e;
        }
        if (!in_block) {
            p += strspn(p, " \t\r");
            if (p[0] == '/' && p[1] == '*') {
                *q = p + 2;
                in_block = 1;
                continue;
            }
            if (*p && *p != '#' && !(p[0] == '/' && p[1] == '/')) {
                *q = p;
                return 0;
            }
        }
        const char *next = s_line(t, ++*n); /* the rest of the line is a comment, or empty */
        if (!next)
            return -1;
        *q = next;
    }
}

/* Where the whole number written for the k-th (from 0) setting called
 * `name` on line n begins (a sign, then a digit; the number may be on a
 * later line): *lit, its length *len (sign, digits and any suffix), and 1
 * when found. How many settings so called line n holds in *count. */
static int s_literal_on(const s_text_t *t, unsigned n, const char *name, size_t k, const char **lit,
                        size_t *len, size_t *count)
{
    size_t nl = strlen(name), l;
    int found = 0;
    *count = 0;
    for (const char *p = s_line(t, n), *at; (at = s_next_name(&p, &l));) {
        if (l != nl || memcmp(at, name, nl) != 0 || (*count)++ != k)
            continue;
        const char *q = p;
        unsigned m = n;
        if (s_skip(t, &m, &q) != 0)
            continue;
        const char *digits = q + (*q == '-' || *q == '+');
        if (!isdigit((unsigned char)*digits))
            continue;
        *lit = q;
        *len = (size_t)(digits - q) + strspn(digits, "0123456789abcdefABCDEFxXL");
        found = 1;
    }
    return found;
}

/* 1 when s is at or under `at`; else 0, with *k counting the settings
 * before it, in the order of the text, that are called `name` and were
 * written on line `line` of file. */
static int s_count_before(const config_setting_t *at, const config_setting_t *s, const char *name,
                          unsigned line, const char *file, size_t *k)
{
    if (at == s)
        return 1;
    const char *n = config_setting_name(at), *f = config_setting_source_file(at);
    *k += n && f && strcmp(n, name) == 0 && config_setting_source_line(at) == line &&
          strcmp(f, file) == 0;
    for (int i = 0; config_setting_is_aggregate(at) && i < config_setting_length(at); i++)
        if (s_count_before(config_setting_get_elem(at, (unsigned)i), s, name, line, file, k))
            return 1;
    return 0;
}

/* The literal of s as written, for a named whole number not written with
 * the L suffix: *lit and *len, and 1; 0 when its text is not known (a
 * configuration not read by lt_cfgfile_read, a file that cannot be read);
 * -1 when the text is known but the number cannot be found in it. Of
 * several settings of its name on its line (members of groups written on
 * one line), it is the one at its place among them. */
static int s_literal(const config_setting_t *s, const char **lit, size_t *len)
{
    const char *name = config_setting_name(s);
    unsigned want = config_setting_source_line(s);
    const s_text_t *t =
        name && want && config_setting_type(s) == CONFIG_TYPE_INT ? s_text_of(s) : NULL;
    size_t k = 0, count;
    if (!t || !s_line(t, want))
        return 0;
    int rc = s_literal_on(t, want, name, 0, lit, len, &count);
    if (count > 1) { /* the rare case: the tree is walked for its place */
        s_count_before(config_root_setting(s->config), s, name, want, config_setting_source_file(s),
                       &k);
        rc = s_literal_on(t, want, name, k, lit, len, &count);
    }
    return rc ? 1 : -1;
}

/* The number the whole-number setting s holds, as written, into *v: 0
 * (libconfig's stored value when the text is not known, or for a number
 * written with the L suffix, which it keeps whole); -1 when its text is
 * known but the number written cannot be found in it, or the one found is
 * not one libconfig kept the low 32 bits of (the stored value may be a
 * wrapped one); -2 when the number written is past 64 bits. */
static int s_written(const config_setting_t *s, long long *v)
{
    const char *lit;
    size_t len;
    *v = config_setting_get_int64(s);
    int found = s_literal(s, &lit, &len);
    if (found <= 0)
        return found;
    int neg = *lit == '-';
    const char *digits = lit + (*lit == '-' || *lit == '+');
    int hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    errno = 0;
    long long x = strtoll(digits, NULL, hex ? 16 : 10);
    if (errno == ERANGE)
        return -2;
    *v = neg ? -x : x; /* what the operator wrote, not what libconfig kept of it */
    /* libconfig kept its low 32 bits: other ones were read from the text
     * of another setting (one the scan above was misled to), never used. */
    return (int32_t)(uint64_t)*v == config_setting_get_int(s) ? 0 : -1;
}

int lt_cfgfile_int_of(const config_setting_t *s, const char *file, const char *who, long long *out,
                      char *err, size_t errlen)
{
    char got[64];
    int rc = s_written(s, out);
    if (rc == -1)
        return lt_cfgfile_err(s, file, err, errlen,
                              "%s'%s': cannot find the number written for it; write it as "
                              "%s = NUMBER;",
                              who, config_setting_name(s), config_setting_name(s));
    if (rc == -2)
        return lt_cfgfile_err(s, file, err, errlen, "%s'%s' is out of range, got %s", who,
                              config_setting_name(s), lt_cfgfile_shown(s, got, sizeof got));
    return 0;
}

int lt_cfgfile_int(const config_t *c, const char *file, const char *name, long long dflt,
                   long long lo, long long hi, long long *out, char *err, size_t errlen)
{
    const config_setting_t *s = config_lookup(c, name);
    *out = dflt;
    if (!s)
        return 0;
    int type = config_setting_type(s);
    char got[64];
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be a whole number, got %s", name,
                              lt_cfgfile_shown(s, got, sizeof got));
    int rc = s_written(s, out);
    if (rc == -1)
        return lt_cfgfile_int_of(s, file, "", out, err, errlen);
    if (rc == -2 || *out < lo || *out > hi)
        return lt_cfgfile_err(s, file, err, errlen, "'%s' %smust be between %lld and %lld, got %s",
                              name, rc == -2 ? "is out of range: it " : "", lo, hi,
                              lt_cfgfile_shown(s, got, sizeof got));
    return 0;
}

int lt_cfgfile_bool(const config_t *c, const char *file, const char *name, int dflt, int *out,
                    char *err, size_t errlen)
{
    const config_setting_t *s = config_lookup(c, name);
    *out = dflt;
    if (!s)
        return 0;
    char got[64];
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be true or false, got %s", name,
                              lt_cfgfile_shown(s, got, sizeof got));
    *out = config_setting_get_bool(s);
    return 0;
}

int lt_cfgfile_log(const config_t *c, const char *file, lt_log_level_t *level,
                   lt_log_format_t *format, char *err, size_t errlen)
{
    char v[16];
    if (lt_cfgfile_string(c, file, "log_level", "info", 0, v, sizeof v, err, errlen) != 0)
        return -1;
    if (lt_log_parse_level(v, level) != 0)
        return lt_cfgfile_err(config_lookup(c, "log_level"), file, err, errlen,
                              "log_level must be debug, info, warn or error, got \"%s\"", v);
    if (lt_cfgfile_string(c, file, "log_format", "text", 0, v, sizeof v, err, errlen) != 0)
        return -1;
    if (lt_log_parse_format(v, format) != 0)
        return lt_cfgfile_err(config_lookup(c, "log_format"), file, err, errlen,
                              "log_format must be \"text\" or \"json\", got \"%s\"", v);
    return 0;
}
