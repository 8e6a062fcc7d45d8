/* lt_cfgfile: strict libconfig helpers shared by every configuration reader
 * (gateway config, directory source, adapters): errors read
 * "FILE:LINE: problem", unknown settings are refused, relative paths are
 * resolved against the file's directory. */
#ifndef LT_CFGFILE_H
#define LT_CFGFILE_H

#include <libconfig.h>

#include "lt_err.h"
#include "lt_log.h"
#include <stddef.h>

#include "lt_log.h"

/* Formats "FILE:LINE: message" for setting s into err; "FILE: message" when
 * s is NULL or has no line (a missing setting). file NULL takes the file the
 * setting was read from. Returns -1. */
int lt_cfgfile_err(const config_setting_t *s, const char *file, char *err, size_t errlen,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The value of setting s as written, for an error that quotes it: a
 * string in double quotes (cut at 40 bytes), a number (a named whole
 * number as its file's kept text has it: libconfig may have kept only its
 * low 32 bits), true or false, or "a group", "a list", "an array".
 * Returns buf. */
const char *lt_cfgfile_shown(const config_setting_t *s, char *buf, size_t cap);
/* Reads a libconfig file, and keeps its text with c (freed by
 * config_destroy) for lt_cfgfile_int. Returns 0, or -1 with err set
 * ("FILE:LINE: problem"; a setting written twice is named). */
int lt_cfgfile_read(config_t *c, const char *path, char *err, size_t errlen) LT_NODISCARD;
/* Wipes the value of the string setting `name` (a secret) in c's memory,
 * right before config_destroy(c); nothing when it is absent or not a
 * string. The text lt_cfgfile_read kept is wiped by config_destroy. */
void lt_cfgfile_wipe(const config_t *c, const char *name);
/* Refuses any top-level setting not in the NULL-terminated `known`. */
int lt_cfgfile_unknown(const config_t *c, const char *file, const char *const *known, char *err,
                       size_t errlen) LT_NODISCARD;
/* The same for the settings of one group (e.g. an element of a list). */
int lt_cfgfile_unknown_in(const config_setting_t *group, const char *file, const char *const *known,
                          char *err, size_t errlen) LT_NODISCARD;
/* A string setting into out[cap]; required when dflt is NULL; resolved
 * against the configuration file's directory when is_path. */
int lt_cfgfile_string(const config_t *c, const char *file, const char *name, const char *dflt,
                      int is_path, char *out, size_t cap, char *err, size_t errlen) LT_NODISCARD;
/* A whole number within [lo, hi], dflt when absent. A number past 32 bits
 * written without the L suffix is read as written from the text
 * lt_cfgfile_read kept (libconfig 1.5 keeps only its low 32 bits); in a
 * configuration read otherwise it stands as libconfig stored it. */
int lt_cfgfile_int(const config_t *c, const char *file, const char *name, long long dflt,
                   long long lo, long long hi, long long *out, char *err,
                   size_t errlen) LT_NODISCARD;
/* The number the whole-number setting s (of type int or int64: a member of
 * a group, say) holds, read as lt_cfgfile_int reads one, into *out; who
 * prefixes the errors ("application 'hr': "). Returns 0, or -1 with err
 * set when the number written is past 64 bits or cannot be found in the
 * kept text (the stored value may be a wrapped one). */
int lt_cfgfile_int_of(const config_setting_t *s, const char *file, const char *who, long long *out,
                      char *err, size_t errlen) LT_NODISCARD;
/* A boolean (true/false), dflt when absent. */
int lt_cfgfile_bool(const config_t *c, const char *file, const char *name, int dflt, int *out,
                    char *err, size_t errlen) LT_NODISCARD;

/* log_level ("debug", "info", "warn", "error"; default "info") and
 * log_format ("text", "json"; default "text"), shared by every program's
 * configuration. */
int lt_cfgfile_log(const config_t *c, const char *file, lt_log_level_t *level,
                   lt_log_format_t *format, char *err, size_t errlen) LT_NODISCARD;

#endif
