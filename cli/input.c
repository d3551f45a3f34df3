/* Files, base64, key=value lists and numbers from the command line (see
 * input.h). */
#include "cli/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/output.h"

int ctl_read_file(const char *what, const char *path, size_t max, struct buf *ret)
{
    struct stat st;
    int fd, rc = 0;

    /* One byte past max: room for the NUL, and how "too large" shows. */
    buf_init(ret, max + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        ctl_error("%s: cannot open %s: %s", what, path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        ctl_error("%s: %s is a directory", what, path);
        goto out;
    }
    for (;;) {
        size_t chunk = max + 1 - ret->len;
        uint8_t *p;
        ssize_t n;

        if (chunk == 0)
            break;
        if (chunk > 65536)
            chunk = 65536;
        rc = buf_reserve(ret, chunk, &p);
        if (rc < 0) {
            ctl_error("out of memory");
            goto out;
        }
        n = read(fd, p, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            ctl_error("%s: cannot read %s: %s", what, path, strerror(-rc));
            goto out;
        }
        if (n == 0)
            break;
        buf_commit(ret, (size_t)n);
    }
    if (ret->len > max) {
        rc = -EFBIG;
        ctl_error("%s: %s is larger than %zu bytes", what, path, max);
        goto out;
    }
    rc = buf_append(ret, "", 1);
    if (rc < 0) {
        ctl_error("out of memory");
        goto out;
    }
    ret->len--;
out:
    close(fd);
    if (rc < 0)
        buf_free(ret);
    return rc;
}

char *ctl_base64(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *in = data;
    char *out, *o;
    size_t i;

    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    o = out;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

int ctl_kv_each(const char *what, char *s, int (*fn)(const char *k, const char *v, void *ud),
                void *ud)
{
    while (*s) {
        char *comma = strchr(s, ',');
        char *eq;
        int rc;

        if (comma)
            *comma = '\0';
        eq = strchr(s, '=');
        if (!eq || eq == s) {
            ctl_error("%s: expected KEY=VALUE, got \"%s\"", what, s);
            return -EINVAL;
        }
        *eq = '\0';
        rc = fn(s, eq + 1, ud);
        if (rc < 0)
            return rc;
        if (!comma)
            break;
        s = comma + 1;
        if (!*s) {
            ctl_error("%s: a trailing ',' with no KEY=VALUE after it", what);
            return -EINVAL;
        }
    }
    return 0;
}

int ctl_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v = 0;

    if (!*s)
        goto bad;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        goto bad;
    *ret = v;
    return 0;
bad:
    ctl_error("%s: expected a whole number from %llu to %llu, got \"%s\"", what,
              (unsigned long long)min, (unsigned long long)max, s);
    return -EINVAL;
}
