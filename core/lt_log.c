/* lt_log: one event per line on stderr, as text or JSON, with syslog
 * priorities when stderr is the journal. Newlines inside messages are
 * replaced, other control characters written as \xNN in text, and JSON
 * strings are escaped (invalid UTF-8 becomes U+FFFD), so a hostile string
 * can never forge a second log line, send a terminal its escape sequences or
 * break a shipper. */
#include "lt_log.h"
#include "lt_valid.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistr.h>

#define TAG_MAX 128

/* Atomic because a reload sets them on the poll loop while the gateway's
 * other threads (the checkpointer, the writer) log; relaxed, since a line
 * only needs some level and format, old or new, never a torn one. */
static atomic_int s_level = LT_LOG_INFO;
static atomic_int s_format = LT_LOG_TEXT;
static char s_program[TAG_MAX] = "lienthong";
static char s_member[TAG_MAX];
static char s_dataset[TAG_MAX * 2];

static const char *const s_names[] = {"debug", "info", "warn", "error"};
static const char *const s_tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
/* syslog(3) priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR. */
static const int s_priority[] = {7, 6, 4, 3};

static void s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void lt_log_set_program(const char *program)
{
    s_copy(s_program, sizeof s_program, program && program[0] ? program : "lienthong");
}

void lt_log_set_member(const char *member)
{
    s_copy(s_member, sizeof s_member, member);
}

void lt_log_set_dataset(const char *dataset)
{
    s_copy(s_dataset, sizeof s_dataset, dataset);
}

void lt_log_set_level(lt_log_level_t level)
{
    atomic_store_explicit(&s_level, (int)level, memory_order_relaxed);
}

void lt_log_set_format(lt_log_format_t format)
{
    atomic_store_explicit(&s_format, (int)format, memory_order_relaxed);
}

int lt_log_parse_level(const char *name, lt_log_level_t *level)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, s_names[i]) == 0) {
            *level = (lt_log_level_t)i;
            return 0;
        }
    return -1;
}

int lt_log_parse_format(const char *name, lt_log_format_t *format)
{
    if (strcmp(name, "text") == 0 || strcmp(name, "json") == 0) {
        *format = name[0] == 't' ? LT_LOG_TEXT : LT_LOG_JSON;
        return 0;
    }
    return -1;
}

int lt_log_to_journal(void)
{
    /* systemd sets JOURNAL_STREAM for stdout/stderr connected to journald;
     * it is inherited, so it is only believed when it names our stderr. */
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Appends s to out[cap] as the inside of a JSON string. */
static size_t s_json_escape(char *out, size_t cap, size_t n, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p && n + 8 < cap) {
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            out[n++] = (char)*p++;
        } else {
            ucs4_t uc;
            int len = u8_mbtoucr(&uc, p, strnlen((const char *)p, 4));
            if (len <= 0) {
                n += (size_t)snprintf(out + n, cap - n, "\\ufffd");
                p++;
            } else if (uc >= 0x80 && uc <= 0x9f) { /* C1 controls, e.g. CSI */
                n += (size_t)snprintf(out + n, cap - n, "\\u%04x", (unsigned)uc);
                p += len;
            } else {
                memcpy(out + n, p, (size_t)len);
                n += (size_t)len;
                p += len;
            }
        }
    }
    out[n] = '\0';
    return n;
}

static size_t s_json_field(char *out, size_t cap, size_t n, const char *name, const char *value)
{
    if (!value[0])
        return n;
    n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":\"", n > 1 ? "," : "", name);
    if (n >= cap)
        return cap - 1;
    n = s_json_escape(out, cap, n, value);
    if (n + 1 < cap)
        out[n++] = '"';
    out[n] = '\0';
    return n;
}

static void s_json_line(char *out, size_t cap, const char *ts, lt_log_level_t level,
                        const char *component, const char *msg)
{
    size_t n = 0;
    out[n++] = '{';
    n = s_json_field(out, cap, n, "time", ts);
    n = s_json_field(out, cap, n, "level", s_names[level]);
    n = s_json_field(out, cap, n, "program", s_program);
    n = s_json_field(out, cap, n, "member", s_member);
    n = s_json_field(out, cap, n, "dataset", s_dataset);
    n = s_json_field(out, cap, n, "component", component);
    n = s_json_field(out, cap, n, "message", msg);
    snprintf(out + n, cap - n, "}");
}

/* Every C0 control, DEL and C1 control as \xNN, so that no request field
 * echoed in a message can move a terminal's cursor, retitle it or erase a
 * line, and a backslash as \\, so that text which spells "\x1b" itself
 * cannot pass for an escape it never held; then each byte that is not
 * UTF-8 (or a character cut at the end) as '?'. */
char *lt_log_escape(char *out, size_t cap, const char *msg)
{
    size_t n = 0;
    if (cap == 0)
        return out;
    for (const uint8_t *p = (const uint8_t *)msg; *p; p++) {
        char piece[16];
        int len = 1, more = 0; /* more: bytes of the input the piece also stands for */
        if (*p < 0x20 || *p == 0x7f)
            len = snprintf(piece, sizeof piece, "\\x%02x", *p);
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* C1 controls, e.g. CSI */
            len = snprintf(piece, sizeof piece, "\\xc2\\x%02x", p[1]), more = 1;
        else if (*p == '\\')
            len = 2, piece[0] = piece[1] = '\\';
        else
            piece[0] = (char)*p;
        /* Whole pieces only, with room for the final NUL: an escape is
         * never cut into something that reads as text. */
        if (len < 0 || n + (size_t)len >= cap)
            break;
        memcpy(out + n, piece, (size_t)len);
        n += (size_t)len;
        p += more;
    }
    out[n] = '\0';
    return lt_valid_sanitise(out);
}

static void s_text_line(char *out, size_t cap, const char *ts, lt_log_level_t level,
                        const char *component, const char *msg)
{
    snprintf(out, cap, "%s%s%s %s%s%s%s%s %s: %s", ts, ts[0] ? " " : "", s_tags[level], s_program,
             s_member[0] ? " member=" : "", s_member, s_dataset[0] ? " dataset=" : "", s_dataset,
             component, msg);
}

void lt_log(lt_log_level_t level, const char *component, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&s_level, memory_order_relaxed))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    int journal = lt_log_to_journal();
    /* Read once: a reload meanwhile must not give a line of both formats. */
    int json = atomic_load_explicit(&s_format, memory_order_relaxed) == LT_LOG_JSON;
    char ts[48] = "";
    /* The journal stamps every line itself; JSON keeps its time field. */
    if (!journal || json) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        char sec[24];
        strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts, sizeof ts, "%.24s.%03dZ", sec, (int)(tv.tv_usec / 1000) % 1000);
    }
    char line[16384]; /* room for every byte of msg escaped as \uXXXX */
    if (json) {
        s_json_line(line, sizeof line, ts, level, component, msg);
    } else { /* newlines are spaces already */
        char text[sizeof msg * 4];
        s_text_line(line, sizeof line, ts, level, component, lt_log_escape(text, sizeof text, msg));
    }
    if (journal)
        fprintf(stderr, "<%d>%s\n", s_priority[level], line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}
