/* lt_log: one event per line on stderr; newlines inside messages are
 * replaced so a hostile string can never forge a second log line. */
#include "lt_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

static lt_log_level_t s_level = LT_LOG_INFO;
static char s_ident[64] = "lienthong";

void lt_log_set_ident(const char *ident)
{
    snprintf(s_ident, sizeof s_ident, "%s", ident ? ident : "lienthong");
}

void lt_log_set_level(lt_log_level_t level)
{
    s_level = level;
}

int lt_log_parse_level(const char *name, lt_log_level_t *level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *level = (lt_log_level_t)i;
            return 0;
        }
    return -1;
}

void lt_log(lt_log_level_t level, const char *component, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < s_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s [%s] %s: %s\n", ts, (long)(tv.tv_usec / 1000), tags[level],
            s_ident, component, msg);
    fflush(stderr);
}
