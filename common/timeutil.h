/* Clocks and time formats. Wall time (unix) is for tokens and stored
 * timestamps; monotonic time is for deadlines that must not jump. */
#pragma once
#include <stddef.h>
#include <stdint.h>

int64_t time_now_unix(void);        /* seconds, CLOCK_REALTIME */
int64_t time_now_unix_us(void);     /* microseconds, CLOCK_REALTIME */
int64_t time_now_mono_ms(void);     /* milliseconds, CLOCK_MONOTONIC */

/* Formats microseconds since the epoch as RFC 3339 UTC with a Z, the way
 * Google's JSON mapping does ("2026-11-28T18:22:05.123456Z"; 0 gives
 * "1970-01-01T00:00:00Z"). out must hold at least 32 bytes. */
void time_format_rfc3339(int64_t unix_us, char *out, size_t cap);
/* Parses RFC 3339 ("...Z" or "+hh:mm", optional fraction up to ns).
 * Returns 0 and microseconds, or -EINVAL. */
int time_parse_rfc3339(const char *s, int64_t *ret_unix_us);
