/* SigV4's dates: X-Amz-Date's ISO 8601 basic form read and written, and
 * the RFC 1123 Date header read, all as Unix seconds in UTC. Civil dates
 * are computed here (no timegm, no TZ, no clock), so the module stays
 * pure. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "webui/sigv4_int.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so the module needs neither timegm nor the TZ. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int make_time(int y, int mo, int d, int h, int mi, int s, int64_t *ret)
{
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
        return -EINVAL;
    *ret = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

/* "20150830T123600Z", the ISO 8601 basic format of X-Amz-Date. */
int sigv4_parse_amz_date(const char *s, size_t n, int64_t *ret)
{
    int y, mo, d, h, mi, sec;

    if (n != 16 || s[8] != 'T' || s[15] != 'Z' || !digits(s, 4, &y) || !digits(s + 4, 2, &mo) ||
        !digits(s + 6, 2, &d) || !digits(s + 9, 2, &h) || !digits(s + 11, 2, &mi) ||
        !digits(s + 13, 2, &sec))
        return -EINVAL;
    return make_time(y, mo, d, h, mi, sec, ret);
}

static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sigv4_format_amz_date(int64_t t, char out[17])
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400, y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = m = d = rem = 0;    /* not a time anyone signs at */
    put_digits(out, (int)y, 4);
    put_digits(out + 4, m, 2);
    put_digits(out + 6, d, 2);
    out[8] = 'T';
    put_digits(out + 9, (int)(rem / 3600), 2);
    put_digits(out + 11, (int)(rem / 60 % 60), 2);
    put_digits(out + 13, (int)(rem % 60), 2);
    out[15] = 'Z';
    out[16] = '\0';
}

/* RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT", the Date header when a client
 * sends no X-Amz-Date. botocore writes it with email.utils.formatdate,
 * whose zone is "-0000", so the numeric zero zones count as GMT too. The
 * weekday is optional and not checked against the date. */
int sigv4_parse_http_date(const char *s, size_t n, int64_t *ret)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char zone[8];
    int d, y, h, mi, sec, mo = 0;
    size_t i = 0, k;

    if (n >= 5 && s[3] == ',' && s[4] == ' ')
        i = 5;
    for (k = i; k < n && s[k] >= '0' && s[k] <= '9'; k++)
        ;
    if (k - i < 1 || k - i > 2 || !digits(s + i, k - i, &d) || k >= n || s[k] != ' ')
        return -EINVAL;
    i = k + 1;
    if (n - i < 3)
        return -EINVAL;
    for (int m = 0; m < 12; m++)
        if (memcmp(s + i, months + 3 * m, 3) == 0)
            mo = m + 1;
    i += 3;
    if (!mo || n - i < 1 + 4 + 1 + 8 + 1 || s[i] != ' ' || !digits(s + i + 1, 4, &y) ||
        s[i + 5] != ' ' || !digits(s + i + 6, 2, &h) || s[i + 8] != ':' ||
        !digits(s + i + 9, 2, &mi) || s[i + 11] != ':' || !digits(s + i + 12, 2, &sec) ||
        s[i + 14] != ' ')
        return -EINVAL;
    i += 15;
    if (n - i >= sizeof(zone))
        return -EINVAL;
    memcpy(zone, s + i, n - i);
    zone[n - i] = '\0';
    if (strcmp(zone, "GMT") != 0 && strcmp(zone, "UTC") != 0 && strcmp(zone, "+0000") != 0 &&
        strcmp(zone, "-0000") != 0)
        return -EINVAL;
    return make_time(y, mo, d, h, mi, sec, ret);
}
