/* The one log sink: stderr, one line per call, with a level tag and a
 * wall-clock timestamp (journald adds its own, but tests read stderr). */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_current_level = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
    log_current_level = level;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *const tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
    if (n < 0)
        return;
    va_start(ap, fmt);
    /* The format comes from our own code; checked by the format attribute. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

static size_t escaped_len(unsigned char c)
{
    return (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? 4 : 1;
}

char *log_escape(char *out, size_t cap, const void *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = src;
    size_t o = 0, total = 0, limit;

    if (cap == 0)
        return out;
    /* Room for "..." is kept only when the whole escaped text cannot fit,
     * so a value that fits is never cut. Counting stops at cap. */
    for (size_t i = 0; i < len && total < cap; i++)
        total += escaped_len(s[i]);
    limit = total < cap ? cap - 1 : cap >= 4 ? cap - 4 : 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        size_t need = escaped_len(c);
        if (o + need > limit) {
            if (cap >= 4) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 4) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}
