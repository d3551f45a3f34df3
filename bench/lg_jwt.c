/* JWT minting with OpenSSL for the load generator (see lg_jwt.h). */
#include "bench/lg_jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

struct lg_jwt {
    EVP_PKEY *key;          /* owned */
    enum lg_jwt_alg alg;
    EVP_MD_CTX *md;         /* owned, reset per token */
};

int lg_b64url(const uint8_t *in, size_t n, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t need = (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (need + 1 > cap)
        return -EMSGSIZE;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

int lg_jwt_new(const char *key_file, struct lg_jwt **ret, const char **ret_why)
{
    FILE *f = fopen(key_file, "r");
    if (!f) {
        *ret_why = "cannot open the key file";
        return -ENOENT;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k) {
        *ret_why = "not a PEM private key";
        return -EINVAL;
    }
    enum lg_jwt_alg alg;
    if (EVP_PKEY_is_a(k, "RSA")) {
        alg = LG_JWT_RS256;
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[64];
        size_t gl = 0;
        if (!EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &gl) ||
            strcmp(group, "prime256v1") != 0) {
            EVP_PKEY_free(k);
            *ret_why = "EC key is not P-256";
            return -EINVAL;
        }
        alg = LG_JWT_ES256;
    } else {
        EVP_PKEY_free(k);
        *ret_why = "key is neither RSA nor EC P-256";
        return -EINVAL;
    }
    struct lg_jwt *j = calloc(1, sizeof(*j));
    if (!j || !(j->md = EVP_MD_CTX_new())) {
        free(j);
        EVP_PKEY_free(k);
        *ret_why = "out of memory";
        return -ENOMEM;
    }
    j->key = k;
    j->alg = alg;
    *ret = j;
    return 0;
}

void lg_jwt_free(struct lg_jwt *j)
{
    if (!j)
        return;
    EVP_MD_CTX_free(j->md);
    EVP_PKEY_free(j->key);
    free(j);
}

enum lg_jwt_alg lg_jwt_alg(const struct lg_jwt *j)
{
    return j->alg;
}

/* DER ECDSA-Sig-Value -> JOSE r||s, 32 bytes each (RFC 7518 3.4). */
static int der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
    const uint8_t *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!sig)
        return -EIO;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -EIO;
}

int lg_jwt_mint(struct lg_jwt *j, const char *aud, int64_t iat, int64_t exp, char *out, size_t cap)
{
    const char *hdr = j->alg == LG_JWT_ES256 ? "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
                                             : "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char claims[512];
    int cl = snprintf(claims, sizeof(claims), "{\"iat\":%lld,\"exp\":%lld,\"aud\":\"%s\"}",
                      (long long)iat, (long long)exp, aud);
    if (cl < 0 || (size_t)cl >= sizeof(claims))
        return -EMSGSIZE;

    int hl = lg_b64url((const uint8_t *)hdr, strlen(hdr), out, cap);
    if (hl < 0 || (size_t)hl + 2 > cap)
        return -EMSGSIZE;
    out[hl] = '.';
    int pl = lg_b64url((const uint8_t *)claims, (size_t)cl, out + hl + 1, cap - (size_t)hl - 1);
    if (pl < 0)
        return -EMSGSIZE;
    size_t signing_len = (size_t)hl + 1 + (size_t)pl;

    uint8_t sig[1024];
    size_t sl = sizeof(sig);
    EVP_MD_CTX_reset(j->md);
    if (EVP_DigestSignInit(j->md, NULL, EVP_sha256(), NULL, j->key) != 1 ||
        EVP_DigestSign(j->md, sig, &sl, (const uint8_t *)out, signing_len) != 1)
        return -EIO;
    uint8_t raw[64];
    const uint8_t *s = sig;
    if (j->alg == LG_JWT_ES256) {
        if (der_to_raw(sig, sl, raw) < 0)
            return -EIO;
        s = raw;
        sl = 64;
    }
    if (signing_len + 2 > cap)
        return -EMSGSIZE;
    out[signing_len] = '.';
    int gl = lg_b64url(s, sl, out + signing_len + 1, cap - signing_len - 1);
    if (gl < 0)
        return -EMSGSIZE;
    return (int)(signing_len + 1 + (size_t)gl);
}

int lg_jwt_public_pem(const struct lg_jwt *j, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return -EIO;
    int rc = -EIO;
    if (PEM_write_bio_PUBKEY(b, j->key) == 1) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (size_t)n < cap) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
            rc = (int)n;
        } else {
            rc = -EMSGSIZE;
        }
    }
    BIO_free(b);
    return rc;
}
