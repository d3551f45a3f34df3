/* Levels-based logging to one sink (stderr, captured by journald).
 * The level check happens before any formatting. Library layers (codec, db,
 * registry) do not log; they return errors and the caller logs once. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

extern enum log_level log_current_level;

void log_set_level(enum log_level level);
/* Parses "error" | "warn" | "info" | "debug"; returns -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) do { if ((lvl) <= log_current_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_err(...)   log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

/* Copies peer-controlled bytes into out (always NUL-terminated, truncated with
 * "..." when longer than cap allows), escaping quotes, backslashes and control
 * bytes as \xNN so a log line can never be forged or broken. Returns out. */
char *log_escape(char *out, size_t cap, const void *src, size_t len);
