/* Scaffolding every unit test shares: CHECK macros that count checks and
 * failures, the final verdict and exit status, and temporary directories.
 * A test runs all its checks and fails at the end, unless it asks for fatal
 * mode (its later steps need the earlier ones): then the first failed check
 * exits 1. Exit 77 to skip stays the test's own business. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Each CHECK is an expression worth its result, so a test may write
 * "if (!CHECK(x)) return;". On failure it prints "file:line: ..." to stderr. */
#define CHECK(cond) tu_check(!!(cond), __FILE__, __LINE__, #cond)
/* Integer equality with both values in the message (errno codes mostly). */
#define CHECK_EQ(a, b) tu_check_eq((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
/* String equality with both strings in the message. */
#define CHECK_STR(got, want) tu_check_str((got), (want), __FILE__, __LINE__)
/* A failed check found by hand: the message says what went wrong. */
#define FAIL(...) tu_checkf(false, __FILE__, __LINE__, __VA_ARGS__)

bool tu_check(bool ok, const char *file, int line, const char *what);
bool tu_check_eq(long long a, long long b, const char *file, int line, const char *a_text,
                 const char *b_text);
bool tu_check_str(const char *got, const char *want, const char *file, int line);
/* The general form: counts a check; when !ok prints "file:line: " and the
 * formatted message. For test-local CHECK_* macros that name their values. */
bool tu_checkf(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* From now on the first failed check exits 1 (atexit handlers still run). */
void tu_set_fatal(bool fatal);
/* Failed checks so far. */
int tu_failures(void);
/* The verdict, for main's return: prints "NAME: N checks passed" to stdout
 * and returns 0, or "NAME: F of N checks failed" to stderr and returns 1. */
int tu_finish(const char *name);

/* Makes a fresh directory $TMPDIR/PREFIX.XXXXXX (/tmp when TMPDIR is unset
 * or empty) and writes its path to out. Returns 0, -ENAMETOOLONG when cap is
 * too small, or -errno from mkdtemp; out is an empty string on failure. */
int tu_mkdtemp(char *out, size_t cap, const char *prefix);
/* Removes path and everything below it without following symbolic links.
 * A missing path is fine. Returns 0 or the first -errno. */
int tu_rm_rf(const char *path);
/* For a directory from tu_mkdtemp when the test is done with it: removed if
 * no check has failed, otherwise kept for a look and named on stderr. An
 * empty or NULL dir is ignored (nothing was made). */
void tu_tmpdir_cleanup(const char *dir);
