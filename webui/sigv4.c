/* AWS Signature Version 4, server side. This module owns the canonical
 * request as AWS rebuilds it from what arrived (method, the path normalized
 * then percent-encoded a second time, the query re-encoded and sorted, the
 * signed headers trimmed, the payload hash), the string to sign over the
 * credential scope, the HMAC key chain, and AWS's verdicts and messages for
 * the two forms a client can sign with: the Authorization header and the
 * presigned query (X-Amz-Signature). The rules follow botocore
 * (botocore/auth.py SigV4Auth, SigV4QueryAuth; the AWS CLI also signs with
 * aws-c-auth, which agrees) and the AWS-published SigV4 test suite; both
 * are checked by tests/unit/test_sigv4.c against vectors botocore made.
 *
 * The canonical request is never built in memory: its pieces stream into
 * one SHA-256, so the only buffers are a bounded path and small scratch
 * arrays on the stack. No allocation, no logging, no clock: the caller
 * hands over the time. */
#include "webui/sigv4.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/b64.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
/* Bounds on what a peer can make us walk. lws keeps the whole request head
 * in a few KB, so real requests stay far below them. */
#define SIGV4_MAX_PATH 8192
#define SIGV4_MAX_PARAMS 1024
#define SIGV4_MAX_SIGNED_HEADERS 64
#define SIGV4_MAX_HEADER_NAME 128
/* "AWS4" + secret must fit one HMAC key buffer; AWS secrets are 40 chars. */
#define SIGV4_MAX_SECRET 256
/* AWS refuses presigned URLs valid for more than seven days. */
#define SIGV4_MAX_EXPIRES 604800

static const char msg_bad_signature[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
static const char msg_unknown_key[] = "The security token included in the request is invalid.";
static const char msg_missing[] = "Missing Authentication Token";

/* ---- small helpers ---------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Python's str.split() whitespace in ASCII: what botocore's Trimall
 * (' '.join(value.split())) trims and collapses. */
static bool is_py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool span_eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

__attribute__((format(printf, 3, 4)))
static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* A peer string fit to quote in a message: printable ASCII only, at most
 * cap - 1 bytes (longer input ends in "..."). */
static void clean_copy(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (o + 1 == cap && n > o && cap > 4)
        memcpy(out + cap - 4, "...", 3);
    out[o] = '\0';
}

int sigv4_uri_encode(const char *s, size_t len, bool encode_slash, char *out, size_t cap)
{
    size_t o = 0;

    if (!out || cap == 0 || cap > (size_t)INT32_MAX)
        return -ENOSPC;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (c == '/' && !encode_slash)) {
            if (o + 1 >= cap)
                return -ENOSPC;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap)
                return -ENOSPC;
            out[o++] = '%';
            out[o++] = hex_upper[c >> 4];
            out[o++] = hex_upper[c & 15];
        }
    }
    out[o] = '\0';
    return (int)o;
}

/* ---- dates -------------------------------------------------------------- */

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
static int parse_amz_date(const char *s, size_t n, int64_t *ret)
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

static void format_amz_date(int64_t t, char out[17])
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
static int parse_http_date(const char *s, size_t n, int64_t *ret)
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

/* ---- the streaming canonical request ---------------------------------- */

struct hasher {
    EVP_MD_CTX *ctx;
    bool bad;
    size_t n;
    char buf[256];
};

static void h_flush(struct hasher *h)
{
    if (h->n && !h->bad && EVP_DigestUpdate(h->ctx, h->buf, h->n) != 1)
        h->bad = true;
    h->n = 0;
}

static void h_putc(struct hasher *h, char c)
{
    if (h->n == sizeof(h->buf))
        h_flush(h);
    h->buf[h->n++] = c;
}

static void h_put(struct hasher *h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h_putc(h, s[i]);
}

static void h_puts(struct hasher *h, const char *s)
{
    h_put(h, s, strlen(s));
}

static void h_put_encoded(struct hasher *h, const char *s, size_t n, bool encode_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (c == '/' && !encode_slash)) {
            h_putc(h, (char)c);
        } else {
            h_putc(h, '%');
            h_putc(h, hex_upper[c >> 4]);
            h_putc(h, hex_upper[c & 15]);
        }
    }
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

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* botocore sorts (encoded name, encoded value) tuples. */
static int param_cmp(const struct sigv4_param *p, const struct sigv4_param *q)
{
    int c = enc_cmp(str_or_empty(p->name), str_or_empty(q->name));
    return c ? c : enc_cmp(str_or_empty(p->value), str_or_empty(q->value));
}

/* botocore.utils.remove_dot_segments: drop empty and "." segments, let
 * ".." pop one, keep the leading '/' and a trailing '/' if anything is
 * left; an empty path is "/". Returns the length written into out (cap
 * SIGV4_MAX_PATH), or -ENAMETOOLONG. */
static int normalize_path(const char *p, char *out)
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

/* ---- what the client sent ---------------------------------------------- */

struct sig_input {
    bool presigned;
    const char *cred;                   /* AKID/date/region/service/term */
    size_t cred_len;
    const char *signed_headers;         /* "host;x-amz-date" */
    size_t signed_len;
    const char *signature;
    size_t sig_len;
    char amz_date[17];                  /* the time as the string to sign has it */
    int64_t t;
    int64_t expires;                    /* presigned only */
    const char *token;                  /* presigned X-Amz-Security-Token, or NULL */
    /* the credential scope */
    const char *akid, *date, *region, *service, *term;
    size_t akid_len, date_len, region_len, service_len, term_len;
};

static const char *find_param(const struct sigv4_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (r->params[i].name && strcmp(r->params[i].name, name) == 0)
            return str_or_empty(r->params[i].value);
    return NULL;
}

static const char *get_header(const struct sigv4_request *r, const char *lower)
{
    return r->header ? r->header(r->header_ud, lower) : NULL;
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* "Authorization=ALG": AWS quotes the whole header; we quote only an
 * algorithm-looking first word, never a token or signature. */
static void auth_tail(char *out, size_t cap, const char *alg, size_t alg_len)
{
    bool ok = alg_len > 0 && alg_len <= 32;

    for (size_t i = 0; ok && i < alg_len; i++)
        ok = (alg[i] >= 'A' && alg[i] <= 'Z') || (alg[i] >= '0' && alg[i] <= '9') ||
             alg[i] == '-';
    snprintf(out, cap, "%s%.*s", ok ? " Authorization=" : "", ok ? (int)alg_len : 0, alg);
}

/* Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * AWS SDKs separate the pairs with ", " (botocore, aws-c-auth, the Java
 * and JS SDKs) and some hand-rolled clients with ","; any run of spaces or
 * tabs around a comma is accepted. Unknown keys are ignored. */
static enum sigv4_result parse_auth_header(const char *h, struct sig_input *in, bool have_date,
                                           char *msg, size_t msg_len)
{
    size_t n = strlen(h), i = 0;
    const char *alg;
    size_t alg_len;
    bool seen_cred = false, seen_sh = false, seen_sig = false;

    trim(&h, &n);
    alg = h;
    while (i < n && !is_ows(h[i]))
        i++;
    alg_len = i;
    while (i < n) {
        while (i < n && is_ows(h[i]))
            i++;
        size_t j = i;
        while (j < n && h[j] != ',')
            j++;
        const char *pair = h + i;
        size_t pair_len = j - i;
        trim(&pair, &pair_len);
        const char *eq = memchr(pair, '=', pair_len);
        if (!eq) {
            /* AWS (API Gateway) hashes the offending pair rather than
             * quoting it, as it may be a secret. */
            uint8_t md[32];
            char b64[48];
            unsigned int md_len = 0;
            if (EVP_Digest(pair, pair_len, md, &md_len, EVP_sha256(), NULL) != 1 ||
                b64_encode(md, 32, b64, sizeof(b64)) < 0)
                b64[0] = '\0';
            set_msg(msg, msg_len,
                    "Invalid key=value pair (missing equal-sign) in Authorization header "
                    "(hashed with SHA-256 and encoded with Base64): '%s'.", b64);
            return SIGV4_MALFORMED;
        }
        size_t klen = (size_t)(eq - pair);
        const char *v = eq + 1;
        size_t vlen = pair_len - klen - 1;
        bool *seen = NULL;
        if (span_eq(pair, klen, "Credential")) {
            seen = &seen_cred;
            in->cred = v;
            in->cred_len = vlen;
        } else if (span_eq(pair, klen, "SignedHeaders")) {
            seen = &seen_sh;
            in->signed_headers = v;
            in->signed_len = vlen;
        } else if (span_eq(pair, klen, "Signature")) {
            seen = &seen_sig;
            in->signature = v;
            in->sig_len = vlen;
        }
        if (seen && *seen) {
            char key[16];
            clean_copy(key, sizeof(key), pair, klen);
            set_msg(msg, msg_len, "Authorization header has more than one '%s' parameter.", key);
            return SIGV4_MALFORMED;
        }
        if (seen)
            *seen = true;
        i = j + 1;
    }
    if (!seen_cred || !seen_sig || !seen_sh || !have_date) {
        /* AWS lists every requirement that failed, in this order. */
        char tail[64];
        auth_tail(tail, sizeof(tail), alg, alg_len);
        set_msg(msg, msg_len, "%s%s%s%s%s",
                seen_cred ? "" : "Authorization header requires 'Credential' parameter. ",
                seen_sig ? "" : "Authorization header requires 'Signature' parameter. ",
                seen_sh ? "" : "Authorization header requires 'SignedHeaders' parameter. ",
                have_date ? "" : "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header. ",
                tail[0] ? tail + 1 : "");
        /* Drop the trailing space when there was no tail. */
        if (msg && msg_len && !tail[0]) {
            size_t l = strlen(msg);
            if (l && msg[l - 1] == ' ')
                msg[l - 1] = '\0';
        }
        return SIGV4_MALFORMED;
    }
    if (!span_eq(alg, alg_len, SIGV4_ALGORITHM)) {
        set_msg(msg, msg_len, "The authorization mechanism you have provided is not supported. "
                "Please use " SIGV4_ALGORITHM ".");
        return SIGV4_MALFORMED;
    }
    return SIGV4_OK;
}

static enum sigv4_result parse_presigned(const struct sigv4_request *r, struct sig_input *in,
                                         char *msg, size_t msg_len)
{
    static const char *const required[] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
        "X-Amz-SignedHeaders", "X-Amz-Expires",
    };
    const char *v[6];
    char missing[400];
    size_t m = 0;

    missing[0] = '\0';
    for (size_t i = 0; i < 6; i++) {
        v[i] = find_param(r, required[i]);
        if (!v[i] && m < sizeof(missing)) {
            int w = snprintf(missing + m, sizeof(missing) - m,
                             "AWS query-string parameters must include '%s'. ", required[i]);
            if (w > 0)
                m += (size_t)w;
        }
    }
    if (m) {
        set_msg(msg, msg_len, "%sRe-examine the query-string parameters.", missing);
        return SIGV4_MALFORMED;
    }
    if (strcmp(v[0], SIGV4_ALGORITHM) != 0) {
        set_msg(msg, msg_len, "X-Amz-Algorithm only supports \"" SIGV4_ALGORITHM "\".");
        return SIGV4_MALFORMED;
    }
    in->presigned = true;
    in->cred = v[1];
    in->cred_len = strlen(v[1]);
    in->signature = v[2];
    in->sig_len = strlen(v[2]);
    in->signed_headers = v[4];
    in->signed_len = strlen(v[4]);
    in->token = find_param(r, "X-Amz-Security-Token");

    const char *e = v[5];
    size_t el = strlen(e);
    int64_t exp = 0;
    if (el == 0 || el > 9) {
        set_msg(msg, msg_len, "X-Amz-Expires should be a number.");
        return SIGV4_MALFORMED;
    }
    for (size_t i = 0; i < el; i++) {
        if (e[i] < '0' || e[i] > '9') {
            set_msg(msg, msg_len, "X-Amz-Expires should be a number.");
            return SIGV4_MALFORMED;
        }
        exp = exp * 10 + (e[i] - '0');
    }
    if (exp > SIGV4_MAX_EXPIRES) {
        set_msg(msg, msg_len,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800.");
        return SIGV4_MALFORMED;
    }
    in->expires = exp;

    char shown[24];
    size_t dl = strlen(v[3]);
    if (parse_amz_date(v[3], dl, &in->t) < 0) {
        clean_copy(shown, sizeof(shown), v[3], dl);
        set_msg(msg, msg_len, "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                "http://en.wikipedia.org/wiki/ISO_8601", shown);
        return SIGV4_MALFORMED;
    }
    memcpy(in->amz_date, v[3], 16);
    in->amz_date[16] = '\0';
    return SIGV4_OK;
}

/* The time the signature claims: X-Amz-Date, else Date (botocore's rule:
 * it sets one or the other). */
static enum sigv4_result header_time(const struct sigv4_request *r, struct sig_input *in,
                                     char *msg, size_t msg_len)
{
    const char *xd = get_header(r, "x-amz-date");
    char shown[40];

    if (xd) {
        size_t n = strlen(xd);
        trim(&xd, &n);
        if (parse_amz_date(xd, n, &in->t) < 0) {
            clean_copy(shown, sizeof(shown), xd, n);
            set_msg(msg, msg_len, "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                    "http://en.wikipedia.org/wiki/ISO_8601", shown);
            return SIGV4_MALFORMED;
        }
        memcpy(in->amz_date, xd, 16);
        in->amz_date[16] = '\0';
        return SIGV4_OK;
    }
    const char *d = get_header(r, "date");
    size_t n = d ? strlen(d) : 0;
    if (d)
        trim(&d, &n);
    if (!d || parse_http_date(d, n, &in->t) < 0) {
        clean_copy(shown, sizeof(shown), d ? d : "", n);
        set_msg(msg, msg_len, "Date must be in RFC 1123 format. Got '%s'.", shown);
        return SIGV4_MALFORMED;
    }
    format_amz_date(in->t, in->amz_date);
    return SIGV4_OK;
}

static void fill_info(struct sigv4_info *info, const struct sig_input *in)
{
    if (!info)
        return;
    if (in->akid_len < sizeof(info->access_key))
        snprintf(info->access_key, sizeof(info->access_key), "%.*s", (int)in->akid_len, in->akid);
    if (in->date_len < sizeof(info->date))
        snprintf(info->date, sizeof(info->date), "%.*s", (int)in->date_len, in->date);
    if (in->region_len < sizeof(info->region))
        snprintf(info->region, sizeof(info->region), "%.*s", (int)in->region_len, in->region);
    if (in->service_len < sizeof(info->service))
        snprintf(info->service, sizeof(info->service), "%.*s", (int)in->service_len,
                 in->service);
}

/* Splits the credential into its five parts. */
static enum sigv4_result parse_scope(struct sig_input *in, char *msg, size_t msg_len)
{
    const char *part[5];
    size_t len[5], k = 0, start = 0;

    for (size_t i = 0; i <= in->cred_len; i++) {
        if (i == in->cred_len || in->cred[i] == '/') {
            if (k == 5) {
                k++;
                break;
            }
            part[k] = in->cred + start;
            len[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    if (k != 5 || len[0] == 0) {
        /* AWS adds "got '<credential>'": left out, since a client that
         * swapped key id and secret would see its secret echoed. */
        set_msg(msg, msg_len, "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term.");
        return SIGV4_MALFORMED;
    }
    in->akid = part[0];
    in->akid_len = len[0];
    in->date = part[1];
    in->date_len = len[1];
    in->region = part[2];
    in->region_len = len[2];
    in->service = part[3];
    in->service_len = len[3];
    in->term = part[4];
    in->term_len = len[4];
    return SIGV4_OK;
}

/* The scope's own rules, which AWS reports as InvalidSignatureException
 * ("SignatureDoesNotMatch" on the query APIs). Any region and service. */
static enum sigv4_result check_scope(const struct sig_input *in, char *msg, size_t msg_len)
{
    char shown[40];

    if (!span_eq(in->term, in->term_len, SIGV4_TERMINATOR)) {
        clean_copy(shown, sizeof(shown), in->term, in->term_len);
        set_msg(msg, msg_len, "Credential should be scoped with a valid terminator: '"
                SIGV4_TERMINATOR "', not '%s'.", shown);
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->region_len == 0 || in->region_len >= 64) {
        set_msg(msg, msg_len, "Credential should be scoped to a valid region. ");
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->service_len == 0 || in->service_len >= 64) {
        set_msg(msg, msg_len, "Credential should be scoped to correct service. ");
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->date_len != 8 || memcmp(in->date, in->amz_date, 8) != 0) {
        clean_copy(shown, sizeof(shown), in->date, in->date_len);
        set_msg(msg, msg_len, "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                "version of date from HTTP: '%s' != '%.8s', from '%s'.", shown, in->amz_date,
                in->amz_date);
        return SIGV4_BAD_SIGNATURE;
    }
    return SIGV4_OK;
}

static enum sigv4_result check_time(const struct sig_input *in, int64_t now, char *msg,
                                    size_t msg_len)
{
    char a[17], b[17];

    if (in->t > now + SIGV4_MAX_SKEW_S) {
        format_amz_date(now + SIGV4_MAX_SKEW_S, a);
        format_amz_date(now, b);
        set_msg(msg, msg_len, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                in->amz_date, a, b);
        return SIGV4_EXPIRED;
    }
    if (!in->presigned && in->t < now - SIGV4_MAX_SKEW_S) {
        format_amz_date(now - SIGV4_MAX_SKEW_S, a);
        format_amz_date(now, b);
        set_msg(msg, msg_len, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                in->amz_date, a, b);
        return SIGV4_EXPIRED;
    }
    /* A presigned URL lives X-Amz-Expires seconds from X-Amz-Date. */
    if (in->presigned && in->t < now - in->expires) {
        format_amz_date(now - in->expires, a);
        format_amz_date(now, b);
        set_msg(msg, msg_len, "Signature expired: %s is now earlier than %s (%s - %lld sec.)",
                in->amz_date, a, b, (long long)in->expires);
        return SIGV4_EXPIRED;
    }
    return SIGV4_OK;
}

struct signed_list {
    size_t n;
    struct {
        const char *name;
        size_t len;
    } h[SIGV4_MAX_SIGNED_HEADERS];
};

static enum sigv4_result parse_signed_headers(const struct sig_input *in, struct signed_list *sl,
                                              char *msg, size_t msg_len)
{
    const char *s = in->signed_headers;
    size_t n = in->signed_len, start = 0;
    bool host = false;

    sl->n = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ';')
            continue;
        size_t len = i - start;
        if (len == 0 || len > SIGV4_MAX_HEADER_NAME || sl->n == SIGV4_MAX_SIGNED_HEADERS) {
            set_msg(msg, msg_len, "%s", msg_bad_signature);
            return SIGV4_BAD_SIGNATURE;
        }
        sl->h[sl->n].name = s + start;
        sl->h[sl->n].len = len;
        sl->n++;
        if (len == 4 && strncasecmp(s + start, "host", 4) == 0)
            host = true;
        start = i + 1;
    }
    if (!host) {
        set_msg(msg, msg_len, "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                "Authorization.");
        return SIGV4_MALFORMED;
    }
    return SIGV4_OK;
}

/* The payload line: x-amz-content-sha256 when the client sent it (botocore
 * takes it verbatim, e.g. "UNSIGNED-PAYLOAD"), else the body's SHA-256. A
 * hex value that is not the body's hash would let a body be swapped under
 * a valid signature, so it is refused as S3 does. */
static enum sigv4_result payload_hash(const struct sigv4_request *r, char *out, size_t cap,
                                      char *msg, size_t msg_len)
{
    const char *v = get_header(r, "x-amz-content-sha256");
    uint8_t md[32];
    unsigned int md_len = 0;
    char hex[65];
    static const uint8_t empty = 0;

    if (EVP_Digest(r->body ? (const void *)r->body : &empty, r->body_len, md, &md_len,
                   EVP_sha256(), NULL) != 1) {
        set_msg(msg, msg_len, "%s", msg_bad_signature);
        return SIGV4_BAD_SIGNATURE;
    }
    hex_encode(md, 32, hex);
    if (!v) {
        snprintf(out, cap, "%s", hex);
        return SIGV4_OK;
    }
    size_t n = strlen(v);
    trim(&v, &n);
    bool is_hex = n == 64;
    for (size_t i = 0; is_hex && i < n; i++)
        is_hex = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
                 (v[i] >= 'A' && v[i] <= 'F');
    if (is_hex && strncasecmp(v, hex, 64) != 0) {
        set_msg(msg, msg_len, "The provided 'x-amz-content-sha256' header does not match what "
                "was computed.");
        return SIGV4_BAD_SIGNATURE;
    }
    if (n + 1 > cap) {
        set_msg(msg, msg_len, "%s", msg_bad_signature);
        return SIGV4_BAD_SIGNATURE;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return SIGV4_OK;
}

/* Streams one header's canonical line "name:Trimall(value)\n". */
static bool put_header(struct hasher *h, const struct sigv4_request *r, const char *name,
                       size_t len)
{
    char lower[SIGV4_MAX_HEADER_NAME + 1];

    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    lower[len] = '\0';
    const char *v = get_header(r, lower);
    if (!v)
        return false;
    h_put(h, lower, len);
    h_putc(h, ':');
    bool space = false, started = false;
    for (const char *p = v; *p; p++) {
        if (is_py_space((unsigned char)*p)) {
            space = started;
            continue;
        }
        if (space)
            h_putc(h, ' ');
        space = false;
        started = true;
        h_putc(h, *p);
    }
    h_putc(h, '\n');
    return true;
}

/* SHA-256 of the canonical request, hex. Returns false when a signed
 * header is absent (the client signed something we did not get) or
 * OpenSSL failed. */
static bool canonical_hash(const struct sigv4_request *r, const struct sig_input *in,
                           const struct signed_list *sl, const char *norm_path, size_t norm_len,
                           const uint16_t *order, size_t n_order, const char *payload,
                           bool drop_token, char out[65])
{
    struct hasher h;
    uint8_t md[32];
    unsigned int md_len = 0;
    bool ok = true, first = true;

    memset(&h, 0, sizeof(h));
    h.ctx = EVP_MD_CTX_new();
    if (!h.ctx || EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h.ctx);
        return false;
    }
    h_puts(&h, str_or_empty(r->method));
    h_putc(&h, '\n');
    h_put_encoded(&h, norm_path, norm_len, false);
    h_putc(&h, '\n');
    for (size_t k = 0; k < n_order; k++) {
        const struct sigv4_param *p = &r->params[order[k]];
        const char *name = str_or_empty(p->name);
        if (in->presigned && (strcmp(name, "X-Amz-Signature") == 0 ||
                              (drop_token && strcmp(name, "X-Amz-Security-Token") == 0)))
            continue;
        if (!first)
            h_putc(&h, '&');
        first = false;
        h_put_encoded(&h, name, strlen(name), true);
        h_putc(&h, '=');
        const char *v = str_or_empty(p->value);
        h_put_encoded(&h, v, strlen(v), true);
    }
    h_putc(&h, '\n');
    for (size_t k = 0; k < sl->n && ok; k++)
        ok = put_header(&h, r, sl->h[k].name, sl->h[k].len);
    h_putc(&h, '\n');
    h_put(&h, in->signed_headers, in->signed_len);
    h_putc(&h, '\n');
    h_puts(&h, payload);
    h_flush(&h);
    if (ok && (h.bad || EVP_DigestFinal_ex(h.ctx, md, &md_len) != 1 || md_len != 32))
        ok = false;
    EVP_MD_CTX_free(h.ctx);
    if (ok)
        hex_encode(md, 32, out);
    return ok;
}

static bool hmac(const uint8_t *key, size_t key_len, const char *data, size_t len, uint8_t out[32])
{
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, len, out,
                &out_len) != NULL && out_len == 32;
}

/* k_signing = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"). */
static bool signing_key(const char *secret, const struct sig_input *in, uint8_t out[32])
{
    uint8_t k0[4 + SIGV4_MAX_SECRET], k1[32], k2[32];
    size_t sl = strlen(secret);
    bool ok;

    if (sl > SIGV4_MAX_SECRET)
        return false;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    ok = hmac(k0, 4 + sl, in->date, in->date_len, k1) &&
         hmac(k1, 32, in->region, in->region_len, k2) &&
         hmac(k2, 32, in->service, in->service_len, k1) &&
         hmac(k1, 32, SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), out);
    explicit_bzero(k0, sizeof(k0));
    explicit_bzero(k1, sizeof(k1));
    explicit_bzero(k2, sizeof(k2));
    return ok;
}

static bool signature_of(const uint8_t key[32], const struct sig_input *in, const char *creq_hex,
                         char out[65])
{
    char sts[320];
    uint8_t md[32];
    int n = snprintf(sts, sizeof(sts), SIGV4_ALGORITHM "\n%s\n%.*s/%.*s/%.*s/" SIGV4_TERMINATOR
                     "\n%s", in->amz_date, (int)in->date_len, in->date, (int)in->region_len,
                     in->region, (int)in->service_len, in->service, creq_hex);

    if (n < 0 || (size_t)n >= sizeof(sts) || !hmac(key, 32, sts, (size_t)n, md))
        return false;
    hex_encode(md, 32, out);
    return true;
}

enum sigv4_result sigv4_verify(const struct sigv4_request *r, const struct sigv4_key *keys,
                               size_t n_keys, int64_t now, struct sigv4_info *info, char *msg,
                               size_t msg_len)
{
    struct sig_input in;
    struct signed_list sl;
    enum sigv4_result res;
    const struct sigv4_key *key = NULL;
    char norm[SIGV4_MAX_PATH];
    uint16_t order[SIGV4_MAX_PARAMS];
    char payload[128], creq[65], want[65];
    uint8_t k_signing[32];
    int norm_len;

    if (info)
        memset(info, 0, sizeof(*info));
    if (msg && msg_len)
        msg[0] = '\0';
    memset(&in, 0, sizeof(in));

    const char *auth = get_header(r, "authorization");
    if (auth) {
        bool have_date = get_header(r, "x-amz-date") || get_header(r, "date");
        res = parse_auth_header(auth, &in, have_date, msg, msg_len);
        if (res == SIGV4_OK)
            res = header_time(r, &in, msg, msg_len);
    } else if (find_param(r, "X-Amz-Signature")) {
        res = parse_presigned(r, &in, msg, msg_len);
    } else {
        set_msg(msg, msg_len, "%s", msg_missing);
        return SIGV4_MISSING;
    }
    if (res != SIGV4_OK)
        return res;
    res = parse_scope(&in, msg, msg_len);
    if (res != SIGV4_OK)
        return res;
    fill_info(info, &in);
    if ((res = check_scope(&in, msg, msg_len)) != SIGV4_OK ||
        (res = check_time(&in, now, msg, msg_len)) != SIGV4_OK ||
        (res = parse_signed_headers(&in, &sl, msg, msg_len)) != SIGV4_OK)
        return res;

    for (size_t i = 0; i < n_keys && !key; i++)
        if (keys[i].id && keys[i].secret && span_eq(in.akid, in.akid_len, keys[i].id))
            key = &keys[i];
    if (!key) {
        set_msg(msg, msg_len, "%s", msg_unknown_key);
        return SIGV4_UNKNOWN_KEY;
    }

    /* From here every refusal is AWS's one "does not match" answer. */
    set_msg(msg, msg_len, "%s", msg_bad_signature);
    if ((res = payload_hash(r, payload, sizeof(payload), msg, msg_len)) != SIGV4_OK)
        return res;
    norm_len = normalize_path(str_or_empty(r->wire_path), norm);
    if (norm_len < 0 || r->n_params > SIGV4_MAX_PARAMS || (r->n_params && !r->params))
        return SIGV4_BAD_SIGNATURE;
    for (size_t i = 0; i < r->n_params; i++) {
        size_t j = i;
        while (j > 0 && param_cmp(&r->params[order[j - 1]], &r->params[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint16_t)i;
    }
    if (in.sig_len != 64 || !signing_key(key->secret, &in, k_signing))
        return SIGV4_BAD_SIGNATURE;

    /* botocore signs X-Amz-Security-Token inside a presigned query; the AWS
     * IoT device SDKs append it after signing (MQTT over WebSocket), so a
     * presigned request that fails with it is tried once without it. */
    res = SIGV4_BAD_SIGNATURE;
    for (int pass = 0; pass < (in.presigned && in.token ? 2 : 1); pass++) {
        if (!canonical_hash(r, &in, &sl, norm, (size_t)norm_len, order, r->n_params, payload,
                            pass == 1, creq) ||
            !signature_of(k_signing, &in, creq, want))
            break;
        if (CRYPTO_memcmp(want, in.signature, 64) == 0) {
            res = SIGV4_OK;
            break;
        }
    }
    explicit_bzero(k_signing, sizeof(k_signing));
    explicit_bzero(want, sizeof(want));
    if (res == SIGV4_OK && msg && msg_len)
        msg[0] = '\0';
    return res;
}

/* How AWS answers each failure, as seen from the AWS SDKs and CLI:
 *  - IoT's control plane (iot.REGION.amazonaws.com) and data plane
 *    (data-ats.iot...) are fronted like API Gateway: a bad signature is
 *    403 with x-amzn-ErrorType InvalidSignatureException (aws-sdk-js-v3
 *    issue 1569: IoTClient, httpStatusCode 403; javaquery/Examples issue 5:
 *    iotdata publish, 403 {"message": "The request signature we
 *    calculated..."}), and so is an expired one.
 *  - API Gateway answers an incomplete Authorization header with 403 and
 *    x-amzn-ErrorType IncompleteSignatureException (aws/chalice issue 828,
 *    europace/baufismart-kundenangaben-api issue 44, AWS knowledge center
 *    "api-gateway-troubleshoot-403-forbidden"). The JSON/query services
 *    behind the older front end answer 400 for the same error (SES, Cloud9,
 *    tagging), but IoT is not one of them, so 403.
 *  - No credentials at all: 403 MissingAuthenticationTokenException,
 *    "Missing Authentication Token" (API Gateway's MISSING_AUTHENTICATION_TOKEN).
 *  - An access key AWS does not know: 403 UnrecognizedClientException,
 *    "The security token included in the request is invalid." */
int sigv4_result_status(enum sigv4_result r)
{
    return r == SIGV4_OK ? 200 : 403;
}

const char *sigv4_result_type(enum sigv4_result r)
{
    switch (r) {
    case SIGV4_OK:
        return "";
    case SIGV4_MISSING:
        return "MissingAuthenticationTokenException";
    case SIGV4_MALFORMED:
        return "IncompleteSignatureException";
    case SIGV4_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case SIGV4_BAD_SIGNATURE:
    case SIGV4_EXPIRED:
        return "InvalidSignatureException";
    }
    return "InvalidSignatureException";
}
