/* Shared unit-test scaffolding (see testutil.h): the check counters, the
 * verdict, and temporary directories. */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checks, failures;
static bool fatal;

static bool counted(bool ok)
{
    checks++;
    if (!ok)
        failures++;
    return ok;
}

static void failed(void)
{
    if (fatal)
        exit(1);
}

bool tu_check(bool ok, const char *file, int line, const char *what)
{
    if (!counted(ok)) {
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
        failed();
    }
    return ok;
}

bool tu_check_eq(long long a, long long b, const char *file, int line, const char *a_text,
                 const char *b_text)
{
    if (!counted(a == b)) {
        fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", file, line, a_text,
                b_text, a, b);
        failed();
    }
    return a == b;
}

bool tu_check_str(const char *got, const char *want, const char *file, int line)
{
    bool ok = got && want && strcmp(got, want) == 0;
    if (!counted(ok)) {
        fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", file, line, got ? got : "(null)",
                want ? want : "(null)");
        failed();
    }
    return ok;
}

bool tu_checkf(bool ok, const char *file, int line, const char *fmt, ...)
{
    if (!counted(ok)) {
        va_list ap;
        fprintf(stderr, "%s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        failed();
    }
    return ok;
}

void tu_set_fatal(bool on)
{
    fatal = on;
}

int tu_failures(void)
{
    return failures;
}

int tu_finish(const char *name)
{
    if (failures) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, failures, checks);
        return 1;
    }
    printf("%s: %d checks passed\n", name, checks);
    return 0;
}

int tu_mkdtemp(char *out, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (cap == 0)
        return -ENAMETOOLONG;
    int n = snprintf(out, cap, "%s/%s.XXXXXX", base, prefix);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(out)) {
        int e = errno;
        out[0] = '\0';
        return -e;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -errno : 0;
}

int tu_rm_rf(const char *path)
{
    /* Depth first (a directory after its contents), never crossing a link. */
    int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (r == -1)
        return errno == ENOENT ? 0 : -errno;
    return r;
}

void tu_tmpdir_cleanup(const char *dir)
{
    if (!dir || !dir[0])
        return;
    if (failures) {
        fprintf(stderr, "files kept in %s\n", dir);
        return;
    }
    tu_rm_rf(dir);
}
