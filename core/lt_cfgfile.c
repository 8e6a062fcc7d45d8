/* lt_cfgfile: strict libconfig helpers (see lt_cfgfile.h). */
#include "lt_cfgfile.h"
#include "lt_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_cfgfile_err(const config_setting_t *s, const char *file, char *err, size_t errlen,
                const char *fmt, ...)
{
    if (!file)
        file = s && config_setting_source_file(s) ? config_setting_source_file(s) : "?";
    unsigned line = s ? config_setting_source_line(s) : 0;
    int n = line ? snprintf(err, errlen, "%s:%u: ", file, line) : snprintf(err, errlen, "%s: ", file);
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
    case CONFIG_TYPE_INT64:
        snprintf(buf, cap, "%lld", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, cap, "%g", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, cap, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    default:
        snprintf(buf, cap, "%s", config_setting_is_group(s)   ? "a group"
                                 : config_setting_is_list(s) ? "a list"
                                                             : "an array");
    }
    return buf;
}

int lt_cfgfile_read(config_t *c, const char *path, char *err, size_t errlen)
{
    if (config_read_file(c, path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(c) == CONFIG_ERR_FILE_IO)
        snprintf(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
    else
        snprintf(err, errlen, "%s:%d: %s", config_error_file(c) ? config_error_file(c) : path,
                 config_error_line(c), config_error_text(c));
    return -1;
}

int lt_cfgfile_unknown(const config_t *c, const char *file, const char *const *known, char *err,
                    size_t errlen)
{
    return lt_cfgfile_unknown_in(config_root_setting(c), file, known, err, errlen);
}

int lt_cfgfile_unknown_in(const config_setting_t *group, const char *file,
                          const char *const *known, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        int ok = 0;
        for (int k = 0; known[k]; k++)
            ok |= strcmp(config_setting_name(s), known[k]) == 0;
        if (!ok)
            return lt_cfgfile_err(s, file, err, errlen, "unknown setting '%s'", config_setting_name(s));
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
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be a string in double quotes, got %s",
                              name, lt_cfgfile_shown(s, got, sizeof got));
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

/* The value of setting s as written on its line: *v, and 1 when found. */
static int s_literal_on(const char *line, const char *name, long long *v)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(line, name); p; p = strstr(p + 1, name)) {
        int starts = p == line || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        const char *q = p + nl;
        if (!starts || isalnum((unsigned char)*q) || *q == '_')
            continue;
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':')
            continue;
        q += 1 + strspn(q + 1, " \t");
        int neg = *q == '-';
        const char *digits = q + neg;
        int hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
        char *end;
        errno = 0;
        long long x = strtoll(digits, &end, hex ? 16 : 10);
        if (end == digits || errno)
            return 0;
        *v = neg ? -x : x;
        return 1;
    }
    return 0;
}

/* libconfig before 1.6 keeps an integer written without the L suffix in 32
 * bits and drops the rest without a word: 4294967296 reads as 0, and
 * 4294967297 as 1, which a range check would pass. So a 32-bit setting's
 * literal is read again from its line; 1 when it did not fit (*v is then
 * what was written), 0 when the stored value is it (or the line cannot be
 * read: the stored value stands). */
static int s_wrapped(const config_setting_t *s, long long *v)
{
    const char *path = config_setting_source_file(s);
    unsigned want = config_setting_source_line(s);
    FILE *f = path && want ? fopen(path, "r") : NULL;
    char *line = NULL;
    size_t cap = 0;
    int wrapped = 0;
    for (unsigned n = 1; f && getline(&line, &cap, f) >= 0; n++) {
        long long x;
        if (n < want)
            continue;
        wrapped = s_literal_on(line, config_setting_name(s), &x) &&
                  x != (long long)config_setting_get_int(s);
        if (wrapped)
            *v = x;
        break;
    }
    free(line);
    if (f)
        fclose(f);
    return wrapped;
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
    *out = config_setting_get_int64(s);
    long long written;
    if (type == CONFIG_TYPE_INT && s_wrapped(s, &written))
        *out = written; /* what the operator wrote, not what libconfig kept of it */
    if (*out < lo || *out > hi)
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be between %lld and %lld, got %lld",
                           name, lo, hi, *out);
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
