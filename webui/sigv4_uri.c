/* SigV4's percent-encoding and path normalization: the encoding of
 * sigv4_uri_encode (one byte at a time for the streaming canonical
 * request), the canonical query's order (parameters compared in encoded
 * form without being encoded anywhere), and the dot-segment removal the
 * canonical URI starts from. */
#include <errno.h>
#include <string.h>

#include "webui/sigv4_int.h"

static const char hex_upper[] = "0123456789ABCDEF";

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

size_t sigv4_encode_byte(unsigned char c, bool encode_slash, char out[3])
{
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = '%';
    out[1] = hex_upper[c >> 4];
    out[2] = hex_upper[c & 15];
    return 3;
}

int sigv4_uri_encode(const char *s, size_t len, bool encode_slash, char *out, size_t cap)
{
    size_t o = 0;

    if (!out || cap == 0 || cap > (size_t)INT32_MAX)
        return -ENOSPC;
    for (size_t i = 0; i < len; i++) {
        char e[3];
        size_t k = sigv4_encode_byte((unsigned char)s[i], encode_slash, e);
        if (o + k >= cap)
            return -ENOSPC;
        memcpy(out + o, e, k);
        o += k;
    }
    out[o] = '\0';
    return (int)o;
}

/* Iterates over the bytes of sigv4_uri_encode(s, encode_slash=true), so
 * parameters sort by their encoded form without being encoded anywhere. */
struct enc_iter {
    const unsigned char *s;
    size_t n, i;
    int pending;                /* hex digits still to give for this byte */
    unsigned char cur;
};

static int enc_next(struct enc_iter *it)
{
    if (it->pending == 2) {
        it->pending = 1;
        return hex_upper[it->cur >> 4];
    }
    if (it->pending == 1) {
        it->pending = 0;
        return hex_upper[it->cur & 15];
    }
    if (it->i >= it->n)
        return -1;
    it->cur = it->s[it->i++];
    if (is_unreserved(it->cur))
        return it->cur;
    it->pending = 2;
    return '%';
}

static int enc_cmp(const char *a, const char *b)
{
    struct enc_iter x = { (const unsigned char *)a, strlen(a), 0, 0, 0 };
    struct enc_iter y = { (const unsigned char *)b, strlen(b), 0, 0, 0 };

    for (;;) {
        int ca = enc_next(&x), cb = enc_next(&y);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca < 0)
            return 0;
    }
}

/* botocore sorts (encoded name, encoded value) tuples. */
static int param_cmp(const struct sigv4_param *p, const struct sigv4_param *q)
{
    int c = enc_cmp(sigv4_str_or_empty(p->name), sigv4_str_or_empty(q->name));
    return c ? c : enc_cmp(sigv4_str_or_empty(p->value), sigv4_str_or_empty(q->value));
}

void sigv4_param_order(const struct sigv4_request *r, uint16_t *order)
{
    /* Insertion sort: stable and without allocation; SIGV4_MAX_PARAMS
     * bounds its work. */
    for (size_t i = 0; i < r->n_params; i++) {
        size_t j = i;
        while (j > 0 && param_cmp(&r->params[order[j - 1]], &r->params[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint16_t)i;
    }
}

/* botocore.utils.remove_dot_segments: drop empty and "." segments, let
 * ".." pop one, keep the leading '/' and a trailing '/' if anything is
 * left; an empty path is "/". */
int sigv4_normalize_path(const char *p, char *out)
{
    size_t n = strlen(p), o = 1, i = 0;
    bool lead, trail;

    if (n == 0) {
        out[0] = '/';
        out[1] = '\0';
        return 1;
    }
    if (n + 2 > SIGV4_MAX_PATH)
        return -ENAMETOOLONG;
    lead = p[0] == '/';
    trail = p[n - 1] == '/';
    /* Segments are joined from out[1] on; out[0] is kept for the '/'. */
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 0 || (len == 1 && p[i] == '.')) {
            /* skipped */
        } else if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;            /* the separator before the popped segment */
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p + i, len);
            o += len;
        }
        i = j + 1;
    }
    bool any = o > 1;
    if (trail && any)
        out[o++] = '/';
    out[o] = '\0';
    if (lead) {
        out[0] = '/';
        return (int)o;
    }
    memmove(out, out + 1, o);
    return (int)(o - 1);
}
