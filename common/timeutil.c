/* Clocks and RFC 3339. */
#include "common/timeutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t time_now_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_rfc3339(int64_t unix_us, char *out, size_t cap)
{
    time_t secs = (time_t)(unix_us / 1000000);
    long us = (long)(unix_us % 1000000);
    struct tm tm;

    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    if (us)
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    else
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* timegm() normalises 31 April to 1 May; a date that does not exist must be
 * refused instead (RFC 3339 5.7). */
static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    return month == 2 && leap ? 29 : days[month - 1];
}

static int digits(const char **s, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return -EINVAL;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *ret = v;
    return 0;
}

int time_parse_rfc3339(const char *s, int64_t *ret_unix_us)
{
    int Y, M, D, h, m, sec;
    long frac_us = 0;
    int64_t offset = 0;
    struct tm tm;

    if (digits(&s, 4, &Y) || *s++ != '-' || digits(&s, 2, &M) || *s++ != '-' ||
        digits(&s, 2, &D) || (*s != 'T' && *s != 't') || (s++, digits(&s, 2, &h)) ||
        *s++ != ':' || digits(&s, 2, &m) || *s++ != ':' || digits(&s, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 60)
        return -EINVAL;
    if (*s == '.') {
        s++;
        int n = 0;
        long scale = 100000;
        while (*s >= '0' && *s <= '9') {
            if (n < 6) {
                frac_us += (*s - '0') * scale;
                scale /= 10;
            }
            s++;
            if (++n > 9)
                return -EINVAL;
        }
        if (n == 0)
            return -EINVAL;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (*s)
        return -EINVAL;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - offset;
    *ret_unix_us = t * 1000000 + frac_us;
    return 0;
}
