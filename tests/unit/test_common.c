/* Unit tests of common/: the cursor reader/writer (short reads leave outputs
 * untouched, the first write error sticks), the capped buffer, the log sink
 * and log_escape (nothing a peer sends can forge or break a log line), and
 * RFC 3339 formatting and parsing. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cursor.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "testutil.h"

/* ---- cursor ---- */

static void test_rcur(void)
{
    static const uint8_t data[] = { 0x01, 0x02, 0x03, 0xff, 0xfe };
    struct rcur r;
    uint8_t u8 = 0x77;
    uint16_t u16 = 0x7777;
    const uint8_t *p = NULL;

    rcur_init(&r, data, sizeof(data));
    CHECK(rcur_left(&r) == 5);
    CHECK(rcur_u8(&r, &u8) == 0 && u8 == 0x01);
    CHECK(rcur_u16be(&r, &u16) == 0 && u16 == 0x0203);
    CHECK(rcur_left(&r) == 2);
    CHECK(rcur_u16be(&r, &u16) == 0 && u16 == 0xfffe);     /* big endian, unsigned */
    CHECK(rcur_left(&r) == 0);

    /* Short reads: -EBADMSG, output and offset untouched. */
    u8 = 0x55;
    u16 = 0x5555;
    CHECK(rcur_u8(&r, &u8) == -EBADMSG && u8 == 0x55);
    CHECK(rcur_u16be(&r, &u16) == -EBADMSG && u16 == 0x5555);
    CHECK(rcur_bytes(&r, 1, &p) == -EBADMSG && p == NULL);
    CHECK(r.off == 5);
    /* Zero bytes at the end is fine. */
    CHECK(rcur_bytes(&r, 0, &p) == 0 && p == data + 5);

    rcur_init(&r, data, 1);
    CHECK(rcur_u16be(&r, &u16) == -EBADMSG && u16 == 0x5555 && r.off == 0);
    CHECK(rcur_bytes(&r, 2, &p) == -EBADMSG && r.off == 0);
    CHECK(rcur_bytes(&r, SIZE_MAX, &p) == -EBADMSG && r.off == 0);

    /* Borrowed, not copied. */
    rcur_init(&r, data, sizeof(data));
    CHECK(rcur_bytes(&r, 3, &p) == 0 && p == data && r.off == 3);

    /* An empty reader. */
    rcur_init(&r, NULL, 0);
    CHECK(rcur_left(&r) == 0 && rcur_u8(&r, &u8) == -EBADMSG);
}

static void test_wcur(void)
{
    uint8_t buf[8];
    struct wcur w;

    memset(buf, 0xee, sizeof(buf));
    wcur_init(&w, buf, 5);
    wcur_u8(&w, 0x01);
    wcur_u16be(&w, 0x0203);
    CHECK(w.err == 0 && w.off == 3);
    CHECK(buf[0] == 0x01 && buf[1] == 0x02 && buf[2] == 0x03);
    /* Three bytes do not fit in two: nothing is written (no partial field). */
    wcur_bytes(&w, "abc", 3);
    CHECK(w.err == -EMSGSIZE && w.off == 3);
    CHECK(buf[3] == 0xee && buf[4] == 0xee);
    /* The first error sticks: later writes that would fit are no-ops. */
    wcur_u8(&w, 0x09);
    CHECK(w.err == -EMSGSIZE && w.off == 3 && buf[3] == 0xee);

    wcur_init(&w, buf, 4);
    wcur_bytes(&w, "abcd", 4);
    CHECK(w.err == 0 && w.off == 4 && memcmp(buf, "abcd", 4) == 0);
    wcur_bytes(&w, NULL, 0);            /* zero bytes at the end fit */
    CHECK(w.err == 0 && w.off == 4);
    wcur_u16be(&w, 1);
    CHECK(w.err == -EMSGSIZE && w.off == 4);

    wcur_init(&w, buf, 1);
    wcur_u16be(&w, 0xabcd);             /* a u16 at one byte left: nothing written */
    CHECK(w.err == -EMSGSIZE && w.off == 0);

    wcur_init(&w, NULL, 0);
    wcur_u8(&w, 1);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
}

/* ---- buf ---- */

static void test_buf(void)
{
    struct buf b;
    uint8_t big[1000];
    size_t cap;

    memset(big, 'x', sizeof(big));
    buf_init(&b, 600);
    CHECK(b.len == 0 && b.data == NULL);
    CHECK(buf_append(&b, "hello", 5) == 0 && b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    CHECK(buf_append(&b, NULL, 0) == 0 && b.len == 5);
    /* Over the maximum: refused, unchanged. */
    CHECK(buf_append(&b, big, 596) == -EMSGSIZE);
    CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    /* Exactly up to the maximum: accepted, capacity never above it. */
    CHECK(buf_append(&b, big, 595) == 0 && b.len == 600);
    CHECK(b.cap <= 600 && b.cap >= b.len);
    CHECK(buf_append(&b, "!", 1) == -EMSGSIZE && b.len == 600);
    CHECK(memcmp(b.data, "hellox", 6) == 0 && b.data[599] == 'x');

    /* Consume keeps the rest in order. */
    buf_consume(&b, 3);
    CHECK(b.len == 597 && memcmp(b.data, "lox", 3) == 0);
    cap = b.cap;
    buf_consume(&b, 597);
    CHECK(b.len == 0 && b.cap == cap);
    CHECK(buf_append(&b, "ab", 2) == 0);
    buf_consume(&b, 5);                 /* more than len: empties */
    CHECK(b.len == 0);
    CHECK(buf_append(&b, "xyz", 3) == 0);
    buf_reset(&b);
    CHECK(b.len == 0 && b.data != NULL);
    buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    buf_free(&b);                       /* twice is fine */
    buf_free(NULL);                     /* NULL-safe */

    /* A maximum below the first allocation step. */
    buf_init(&b, 10);
    CHECK(buf_append(&b, big, 10) == 0 && b.cap == 10);
    CHECK(buf_append(&b, big, 1) == -EMSGSIZE);
    buf_free(&b);

    /* A zero maximum holds nothing. */
    buf_init(&b, 0);
    CHECK(buf_append(&b, "a", 1) == -EMSGSIZE);
    CHECK(buf_append(&b, NULL, 0) == 0 && b.len == 0);
    buf_free(&b);

    /* Growth by doubling keeps the data. */
    buf_init(&b, 100000);
    for (int i = 0; i < 100; i++)
        CHECK(buf_append(&b, big, 1000) == 0);
    CHECK(b.len == 100000 && b.cap == 100000 && b.data[99999] == 'x');
    CHECK(buf_append(&b, big, 1) == -EMSGSIZE);
    buf_free(&b);
}

/* buf_reserve/buf_commit: write in place, then account for what was written. */
static void test_buf_reserve(void)
{
    struct buf b;
    uint8_t *p = NULL;

    buf_init(&b, 300);
    CHECK(buf_append(&b, "ab", 2) == 0);
    CHECK(buf_reserve(&b, 298, &p) == 0 && p == b.data + 2 && b.cap >= 300);
    memcpy(p, "cd", 2);
    buf_commit(&b, 2);                  /* fewer than reserved is fine */
    CHECK(b.len == 4 && memcmp(b.data, "abcd", 4) == 0);
    p = NULL;
    CHECK(buf_reserve(&b, 297, &p) == -EMSGSIZE && p == NULL && b.len == 4);
    buf_free(&b);
}

/* ---- log ---- */

static void test_log_escape(void)
{
    char out[64];
    char small[8];

    CHECK_STR(log_escape(out, sizeof(out), "dev-1", 5), "dev-1");
    CHECK_STR(log_escape(out, sizeof(out), "", 0), "");
    /* Quotes and backslashes: a quoted value cannot be closed early. */
    CHECK_STR(log_escape(out, sizeof(out), "a\"b\\c", 5), "a\\x22b\\x5cc");
    /* Control bytes: no new line can be forged. */
    CHECK_STR(log_escape(out, sizeof(out), "x\nINFO y\r\t", 10), "x\\x0aINFO y\\x0d\\x09");
    CHECK_STR(log_escape(out, sizeof(out), "\0\x7f\xff", 3), "\\x00\\x7f\\xff");
    /* The length is what counts, not a NUL. */
    CHECK_STR(log_escape(out, sizeof(out), "ab\0cd", 5), "ab\\x00cd");

    /* Truncation marks itself with "..." and always terminates. */
    CHECK_STR(log_escape(small, sizeof(small), "abcdefghij", 10), "abcd...");
    CHECK_STR(log_escape(small, sizeof(small), "\n\n\n", 3), "\\x0a...");
    CHECK_STR(log_escape(small, 4, "abcdefghij", 10), "...");
    CHECK_STR(log_escape(small, 3, "abcdefghij", 10), "");
    CHECK_STR(log_escape(small, 1, "abc", 3), "");
    /* What fits is not truncated, even when "..." would not fit after it. */
    CHECK_STR(log_escape(small, sizeof(small), "abcdefg", 7), "abcdefg");
    CHECK_STR(log_escape(small, 3, "ab", 2), "ab");
    CHECK_STR(log_escape(small, 5, "\n", 1), "\\x0a");
    CHECK_STR(log_escape(small, sizeof(small), "abcdefgh", 8), "abcd...");
    /* cap 0: nothing written, out returned. */
    small[0] = 'Z';
    CHECK(log_escape(small, 0, "abc", 3) == small && small[0] == 'Z');
}

static void test_log_level(void)
{
    enum log_level l = LOG_LVL_ERROR;

    CHECK(log_level_from_string("debug", &l) == 0 && l == LOG_LVL_DEBUG);
    CHECK(log_level_from_string("warn", &l) == 0 && l == LOG_LVL_WARN);
    CHECK(log_level_from_string("error", &l) == 0 && l == LOG_LVL_ERROR);
    CHECK(log_level_from_string("info", &l) == 0 && l == LOG_LVL_INFO);
    CHECK(log_level_from_string("INFO", &l) == -EINVAL && l == LOG_LVL_INFO);
    CHECK(log_level_from_string("", &l) == -EINVAL);
    CHECK(log_level_from_string("warning", &l) == -EINVAL);
}

/* Runs fn with stderr redirected to a temporary file; returns what it wrote. */
static size_t capture_stderr(void (*fn)(void), char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n = 0;

    if (!tmp || saved < 0)
        return 0;
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return n;
}

static void log_at_warn_level(void)
{
    log_set_level(LOG_LVL_WARN);
    log_info("hidden %d", 1);
    log_debug("hidden %d", 2);
    log_warn("shown %d", 3);
    log_err("also \"%s\"", "shown");
    log_set_level(LOG_LVL_INFO);
}

static void log_long_line(void)
{
    static char msg[5000];

    memset(msg, 'y', sizeof(msg) - 1);
    log_info("%s", msg);
}

static void test_log_write(void)
{
    static char out[8192];
    size_t n;
    const char *line2;

    /* The level filter; one line per call, "TIMESTAMP LEVEL message". */
    n = capture_stderr(log_at_warn_level, out, sizeof(out));
    CHECK(n > 0 && out[n - 1] == '\n');
    CHECK(strstr(out, "hidden") == NULL);
    CHECK(strlen(out) >= 24 && out[4] == '-' && out[10] == 'T' && out[23] == 'Z');
    CHECK(strncmp(out + 24, " WARN  shown 3\n", 15) == 0);
    line2 = strchr(out, '\n');
    CHECK(line2 && strncmp(line2 + 26, "ERROR also \"shown\"\n", 19) == 0);

    /* An overlong message is cut, still one line. */
    n = capture_stderr(log_long_line, out, sizeof(out));
    CHECK(n == 2047 && out[n - 1] == '\n' && out[n - 2] == 'y');
    CHECK(strchr(out, '\n') == out + n - 1);
}

/* ---- time ---- */

static void test_time_format(void)
{
    char out[40];

    time_format_rfc3339(0, out, sizeof(out));
    CHECK_STR(out, "1970-01-01T00:00:00Z");
    time_format_rfc3339(1, out, sizeof(out));
    CHECK_STR(out, "1970-01-01T00:00:00.000001Z");
    time_format_rfc3339(-1, out, sizeof(out));
    CHECK_STR(out, "1969-12-31T23:59:59.999999Z");
    time_format_rfc3339(-1000000, out, sizeof(out));
    CHECK_STR(out, "1969-12-31T23:59:59Z");
    time_format_rfc3339(1700000000LL * 1000000, out, sizeof(out));
    CHECK_STR(out, "2023-11-14T22:13:20Z");
    time_format_rfc3339(1700000000LL * 1000000 + 123456, out, sizeof(out));
    CHECK_STR(out, "2023-11-14T22:13:20.123456Z");
    time_format_rfc3339(951782400LL * 1000000, out, sizeof(out));      /* leap day 2000 */
    CHECK_STR(out, "2000-02-29T00:00:00Z");
    time_format_rfc3339(253402300799LL * 1000000 + 999999, out, sizeof(out));
    CHECK_STR(out, "9999-12-31T23:59:59.999999Z");
    /* A short buffer is truncated, never overrun. */
    time_format_rfc3339(0, out, 5);
    CHECK_STR(out, "1970");
}

static void test_time_parse(void)
{
    static const struct { const char *s; int64_t us; } ok[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "1970-01-01t00:00:00z", 0 },
        { "2023-11-14T22:13:20Z", 1700000000LL * 1000000 },
        { "2023-11-14T22:13:20.123456Z", 1700000000LL * 1000000 + 123456 },
        { "2023-11-14T22:13:20.5Z", 1700000000LL * 1000000 + 500000 },
        { "2023-11-14T22:13:20.123456789Z", 1700000000LL * 1000000 + 123456 },
        { "2023-11-14T23:13:20+01:00", 1700000000LL * 1000000 },
        { "2023-11-14T16:43:20-05:30", 1700000000LL * 1000000 },
        { "2023-11-14T22:13:20+00:00", 1700000000LL * 1000000 },
        { "1969-12-31T23:59:59.999999Z", -1 },
        { "2000-02-29T00:00:00Z", 951782400LL * 1000000 },
        { "2024-12-31T23:59:60Z", 1735689600LL * 1000000 },     /* leap second: next second */
    };
    static const char *const bad[] = {
        "", "2023", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z",
        "2023-11-14T22:13Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20.1234567890Z",
        "2023-11-14T22:13:20ZZ", "2023-11-14T22:13:20+0100", "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20+01:60", "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z",
        "2023-01-00T00:00:00Z", "2023-01-32T00:00:00Z", "2023-01-01T24:00:00Z",
        "2023-01-01T00:60:00Z", "2023-01-01T00:00:61Z", "2023-02-29T00:00:00Z",
        "2024-02-30T00:00:00Z", "2023-04-31T00:00:00Z", "1900-02-29T00:00:00Z",
        "+023-01-01T00:00:00Z", "2023-1-01T00:00:00Z", "２023-01-01T00:00:00Z",
    };
    int64_t us;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        us = 42;
        if (!CHECK(time_parse_rfc3339(ok[i].s, &us) == 0 && us == ok[i].us))
            fprintf(stderr, "  \"%s\" -> %lld\n", ok[i].s, (long long)us);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        us = 42;
        if (!CHECK(time_parse_rfc3339(bad[i], &us) == -EINVAL && us == 42))
            fprintf(stderr, "  \"%s\" accepted\n", bad[i]);
    }
}

static void test_time_roundtrip(void)
{
    char out[40];
    int64_t us;

    /* Every month end of a leap and a non-leap year, plus odd fractions. */
    for (int64_t t = -86400LL * 400; t < 86400LL * 365 * 60; t += 86400LL * 13 + 7) {
        for (int64_t frac = 0; frac < 1000000; frac += 333333) {
            int64_t v = t * 1000000 + frac;
            time_format_rfc3339(v, out, sizeof(out));
            if (!CHECK(time_parse_rfc3339(out, &us) == 0 && us == v)) {
                fprintf(stderr, "  %lld -> %s -> %lld\n", (long long)v, out, (long long)us);
                return;
            }
        }
    }
}

static void test_clocks(void)
{
    int64_t m1 = time_now_mono_ms(), m2;
    int64_t s = time_now_unix(), us = time_now_unix_us();

    CHECK(s > 1600000000);
    CHECK(us / 1000000 >= s && us / 1000000 <= s + 2);
    m2 = time_now_mono_ms();
    CHECK(m2 >= m1);
}

int main(void)
{
    test_rcur();
    test_wcur();
    test_buf();
    test_buf_reserve();
    test_log_escape();
    test_log_level();
    test_log_write();
    test_time_format();
    test_time_parse();
    test_time_roundtrip();
    test_clocks();

    return tu_finish("test_common");
}
