/* OpenSSL helpers shared by the unit tests (see testutil_crypto.h). */
#include "testutil_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

EVP_PKEY *tu_key(const char *spec)
{
    EVP_PKEY *k;
    if (strncmp(spec, "RSA-", 4) == 0) {
        char *end = NULL;
        unsigned long bits = strtoul(spec + 4, &end, 10);
        if (!end || *end || bits == 0)
            abort();
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (strcmp(spec, "ED25519") == 0) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec);
    }
    if (!k)
        abort();
    return k;
}

char *tu_bio_take_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n < 0)
        abort();
    char *s = xmalloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

char *tu_pubkey_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_PUBKEY(b, k))
        abort();
    return tu_bio_take_text(b);
}

char *tu_cert_pem(EVP_PKEY *k, const char *cn, long serial, time_t now, long from_s, long to_s)
{
    X509 *x = X509_new();
    if (!x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, from_s, &now);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, to_s, &now);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    if (!X509_sign(x, k, EVP_sha256()))
        abort();
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509(b, x))
        abort();
    X509_free(x);
    return tu_bio_take_text(b);
}

char *tu_b64(const void *data, size_t n, enum tu_b64_style style)
{
    const unsigned char *d = data;
    const char *alpha = style == TU_B64_STD_PADDED
                            ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = xmalloc(n / 3 * 4 + 5);
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)d[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (style != TU_B64_URL) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        if (style != TU_B64_URL)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Signs data into sig (cap bytes); returns the signature length. For ES256
 * the DER ECDSA-Sig-Value is turned into the JOSE raw r||s form (RFC 7518
 * section 3.4) unless TU_SIG_ES256_DER. */
static size_t sign(enum tu_sig kind, EVP_PKEY *key, const char *hmac_key, const char *data,
                   unsigned char *sig, size_t cap)
{
    size_t n = cap;
    if (kind == TU_SIG_NONE)
        return 0;
    if (kind == TU_SIG_HS256) {
        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, strlen(hmac_key),
                       (const unsigned char *)data, strlen(data), sig, cap, &n))
            abort();
        return n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &n, (const unsigned char *)data, strlen(data)) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (kind != TU_SIG_ES256)
        return n;
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
    if (!es)
        abort();
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(es);
    return 64;
}

char *tu_jwt(const char *header, const char *payload, enum tu_sig kind, EVP_PKEY *key,
             const char *hmac_key, enum tu_b64_style style)
{
    char *h = tu_b64(header, strlen(header), style);
    char *p = tu_b64(payload, strlen(payload), style);
    size_t n = strlen(h) + strlen(p) + 2;
    char *signing = xmalloc(n);
    snprintf(signing, n, "%s.%s", h, p);
    unsigned char sig[1024];
    size_t sn = sign(kind, key, hmac_key, signing, sig, sizeof(sig));
    char *s = tu_b64(sig, sn, style);
    size_t tn = strlen(signing) + strlen(s) + 2;
    char *tok = xmalloc(tn);
    snprintf(tok, tn, "%s.%s", signing, s);
    free(h);
    free(p);
    free(s);
    free(signing);
    return tok;
}

char *tu_claims(int64_t iat, int64_t exp, const char *aud)
{
    size_t n = strlen(aud) + 80;   /* two 20-digit numbers and the JSON around them */
    char *s = xmalloc(n);
    snprintf(s, n, "{\"iat\":%lld,\"exp\":%lld,\"aud\":\"%s\"}", (long long)iat, (long long)exp,
             aud);
    return s;
}
