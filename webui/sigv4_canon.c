/* The SigV4 computation: the canonical request (method, canonical URI,
 * sorted query, signed headers with their trimmed values, payload hash)
 * streamed into one SHA-256 rather than built in memory, the string to
 * sign over the credential scope, and the HMAC key chain. Only small
 * scratch buffers on the stack; key material is wiped. */
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webui/sigv4_int.h"

static const char hex_lower[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Python's str.split() whitespace in ASCII: what botocore's Trimall
 * (' '.join(value.split())) trims and collapses. */
static bool is_py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

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
        char e[3];
        h_put(h, e, sigv4_encode_byte((unsigned char)s[i], encode_slash, e));
    }
}

/* The payload line: x-amz-content-sha256 when the client sent it (botocore
 * takes it verbatim, e.g. "UNSIGNED-PAYLOAD"), else the body's SHA-256. A
 * hex value that is not the body's hash would let a body be swapped under
 * a valid signature, so it is refused as S3 does. */
enum sigv4_result sigv4_payload_hash(const struct sigv4_request *r, char *out, size_t cap,
                                     char *msg, size_t msg_len)
{
    const char *v = sigv4_header(r, "x-amz-content-sha256");
    uint8_t md[32];
    unsigned int md_len = 0;
    char hex[65];
    static const uint8_t empty = 0;

    if (EVP_Digest(r->body ? (const void *)r->body : &empty, r->body_len, md, &md_len,
                   EVP_sha256(), NULL) != 1) {
        sigv4_set_msg(msg, msg_len, "%s", SIGV4_MSG_BAD_SIGNATURE);
        return SIGV4_BAD_SIGNATURE;
    }
    hex_encode(md, 32, hex);
    if (!v) {
        snprintf(out, cap, "%s", hex);
        return SIGV4_OK;
    }
    size_t n = strlen(v);
    sigv4_trim(&v, &n);
    bool is_hex = n == 64;
    for (size_t i = 0; is_hex && i < n; i++)
        is_hex = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
                 (v[i] >= 'A' && v[i] <= 'F');
    if (is_hex && strncasecmp(v, hex, 64) != 0) {
        sigv4_set_msg(msg, msg_len, "The provided 'x-amz-content-sha256' header does not "
                      "match what was computed.");
        return SIGV4_BAD_SIGNATURE;
    }
    if (n + 1 > cap) {
        sigv4_set_msg(msg, msg_len, "%s", SIGV4_MSG_BAD_SIGNATURE);
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
    const char *v = sigv4_header(r, lower);
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

/* The canonical request, line by line: method, canonical URI, canonical
 * query, one line per signed header, a blank line, the signed header
 * list, the payload hash. */
bool sigv4_canonical_hash(const struct sigv4_request *r, const struct sigv4_input *in,
                          const struct sigv4_canon *c, bool drop_token, char out[65])
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
    h_puts(&h, sigv4_str_or_empty(r->method));
    h_putc(&h, '\n');
    h_put_encoded(&h, c->norm_path, c->norm_len, false);
    h_putc(&h, '\n');
    for (size_t k = 0; k < c->n_order; k++) {
        const struct sigv4_param *p = &r->params[c->order[k]];
        const char *name = sigv4_str_or_empty(p->name);
        if (in->presigned && (strcmp(name, "X-Amz-Signature") == 0 ||
                              (drop_token && strcmp(name, "X-Amz-Security-Token") == 0)))
            continue;
        if (!first)
            h_putc(&h, '&');
        first = false;
        h_put_encoded(&h, name, strlen(name), true);
        h_putc(&h, '=');
        const char *v = sigv4_str_or_empty(p->value);
        h_put_encoded(&h, v, strlen(v), true);
    }
    h_putc(&h, '\n');
    for (size_t k = 0; k < c->signed_list->n && ok; k++)
        ok = put_header(&h, r, c->signed_list->h[k].name, c->signed_list->h[k].len);
    h_putc(&h, '\n');
    h_put(&h, in->signed_headers, in->signed_len);
    h_putc(&h, '\n');
    h_puts(&h, c->payload);
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
bool sigv4_signing_key(const char *secret, const struct sigv4_input *in, uint8_t out[32])
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

bool sigv4_signature_of(const uint8_t key[32], const struct sigv4_input *in,
                        const char *creq_hex, char out[65])
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
