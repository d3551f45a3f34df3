/* Device credentials (registry/reg_cred.c): format names and numbers, PEM
 * kind vs format, key type and strength, certificate expiry, and the SPKI
 * PEM handed to libjwt. Keys and certificates are generated at test time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "registry/reg_cred.h"
#include "testutil.h"
#include "testutil_crypto.h"

static int64_t now_us;

/* A self-signed certificate valid from now+from_s to now+to_s. */
static char *cert_pem(EVP_PKEY *k, long from_s, long to_s) {
    return tu_cert_pem(k, "device", 1, (time_t)(now_us / 1000000), from_s, to_s);
}

static char *concat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s)
        abort();
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static int check(enum db_key_format f, const char *pem, char *why, size_t n) {
    why[0] = '\0';
    int r = reg_cred_check(f, pem, now_us, why, n);
    /* A refusal must not leave errors on the OpenSSL queue for others. */
    CHECK(ERR_peek_error() == 0);
    return r;
}

static void test_formats(void) {
    enum db_key_format f = 0;
    CHECK(reg_cred_format_parse("RSA_PEM", &f) == 0 && f == DB_KEY_RSA_PEM);
    CHECK(reg_cred_format_parse("RSA_X509_PEM", &f) == 0 && f == DB_KEY_RSA_X509_PEM);
    CHECK(reg_cred_format_parse("ES256_PEM", &f) == 0 && f == DB_KEY_ES256_PEM);
    CHECK(reg_cred_format_parse("ES256_X509_PEM", &f) == 0 && f == DB_KEY_ES256_X509_PEM);
    f = 0;
    CHECK(reg_cred_format_parse("rsa_pem", &f) == -EINVAL && f == 0);
    CHECK(reg_cred_format_parse("UNSPECIFIED_PUBLIC_KEY_FORMAT", &f) == -EINVAL);
    CHECK(reg_cred_format_parse("", &f) == -EINVAL);
    CHECK(reg_cred_format_parse(NULL, &f) == -EINVAL);

    /* resources.proto PublicKeyFormat numbers */
    CHECK(reg_cred_format_from_number(1, &f) == 0 && f == DB_KEY_RSA_X509_PEM);
    CHECK(reg_cred_format_from_number(2, &f) == 0 && f == DB_KEY_ES256_PEM);
    CHECK(reg_cred_format_from_number(3, &f) == 0 && f == DB_KEY_RSA_PEM);
    CHECK(reg_cred_format_from_number(4, &f) == 0 && f == DB_KEY_ES256_X509_PEM);
    f = 0;
    CHECK(reg_cred_format_from_number(0, &f) == -EINVAL && f == 0);
    CHECK(reg_cred_format_from_number(5, &f) == -EINVAL);
    CHECK(reg_cred_format_from_number(-1, &f) == -EINVAL);

    CHECK(strcmp(reg_cred_format_name(DB_KEY_RSA_PEM), "RSA_PEM") == 0);
    CHECK(strcmp(reg_cred_format_name(DB_KEY_ES256_X509_PEM), "ES256_X509_PEM") == 0);
    CHECK(reg_cred_format_name((enum db_key_format)99) != NULL);
    CHECK(reg_cred_format_key_type(DB_KEY_RSA_PEM) == REG_KEY_RSA);
    CHECK(reg_cred_format_key_type(DB_KEY_RSA_X509_PEM) == REG_KEY_RSA);
    CHECK(reg_cred_format_key_type(DB_KEY_ES256_PEM) == REG_KEY_EC_P256);
    CHECK(reg_cred_format_key_type(DB_KEY_ES256_X509_PEM) == REG_KEY_EC_P256);
}

static void test_check(void) {
    char why[256];
    EVP_PKEY *rsa1024 = tu_key("RSA-1024");
    EVP_PKEY *rsa2048 = tu_key("RSA-2048");
    EVP_PKEY *p256 = tu_key("P-256");
    EVP_PKEY *p384 = tu_key("P-384");
    EVP_PKEY *ed = tu_key("ED25519");

    char *rsa1024_pem = tu_pubkey_pem(rsa1024);
    char *rsa2048_pem = tu_pubkey_pem(rsa2048);
    char *p256_pem = tu_pubkey_pem(p256);
    char *p384_pem = tu_pubkey_pem(p384);
    char *ed_pem = tu_pubkey_pem(ed);
    char *rsa_cert = cert_pem(rsa2048, -3600, 365 * 86400L);
    char *ec_cert = cert_pem(p256, -3600, 365 * 86400L);
    char *rsa1024_cert = cert_pem(rsa1024, -3600, 365 * 86400L);
    char *p384_cert = cert_pem(p384, -3600, 365 * 86400L);
    char *expired_cert = cert_pem(p256, -2 * 86400L, -86400L);
    char *future_cert = cert_pem(p256, 86400L, 2 * 86400L);

    /* The good cases. */
    CHECK(check(DB_KEY_RSA_PEM, rsa2048_pem, why, sizeof(why)) == 0);
    CHECK(check(DB_KEY_ES256_PEM, p256_pem, why, sizeof(why)) == 0);
    CHECK(check(DB_KEY_RSA_X509_PEM, rsa_cert, why, sizeof(why)) == 0);
    CHECK(check(DB_KEY_ES256_X509_PEM, ec_cert, why, sizeof(why)) == 0);
    /* notBefore in the future is not refused (device clocks, fresh certs). */
    CHECK(check(DB_KEY_ES256_X509_PEM, future_cert, why, sizeof(why)) == 0);

    /* Strength. */
    CHECK(check(DB_KEY_RSA_PEM, rsa1024_pem, why, sizeof(why)) == -EINVAL);
    CHECK(strcmp(why, "RSA key is 1024 bits; at least 2048 are required") == 0);
    CHECK(check(DB_KEY_RSA_X509_PEM, rsa1024_cert, why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "1024 bits") != NULL);
    CHECK(check(DB_KEY_ES256_PEM, p384_pem, why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "secp384r1") && strstr(why, "P-256"));
    CHECK(check(DB_KEY_ES256_X509_PEM, p384_cert, why, sizeof(why)) == -EINVAL);

    /* Key type vs format. */
    CHECK(check(DB_KEY_ES256_PEM, rsa2048_pem, why, sizeof(why)) == -EINVAL);
    CHECK(strcmp(why, "ES256_PEM requires an EC P-256 key, not RSA") == 0);
    CHECK(check(DB_KEY_RSA_PEM, p256_pem, why, sizeof(why)) == -EINVAL);
    CHECK(strcmp(why, "RSA_PEM requires an RSA key, not EC") == 0);
    CHECK(check(DB_KEY_ES256_PEM, ed_pem, why, sizeof(why)) == -EINVAL);
    CHECK(check(DB_KEY_RSA_X509_PEM, ec_cert, why, sizeof(why)) == -EINVAL);
    CHECK(check(DB_KEY_ES256_X509_PEM, rsa_cert, why, sizeof(why)) == -EINVAL);

    /* PEM kind vs format. */
    CHECK(check(DB_KEY_RSA_PEM, rsa_cert, why, sizeof(why)) == -EINVAL);
    CHECK(strcmp(why, "RSA_PEM requires a PUBLIC KEY PEM block, not CERTIFICATE") == 0);
    CHECK(check(DB_KEY_RSA_X509_PEM, rsa2048_pem, why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "requires a CERTIFICATE"));
    CHECK(check(DB_KEY_ES256_X509_PEM, p256_pem, why, sizeof(why)) == -EINVAL);

    /* Expiry. */
    CHECK(check(DB_KEY_ES256_X509_PEM, expired_cert, why, sizeof(why)) == -EINVAL);
    CHECK(strncmp(why, "certificate expired", 19) == 0);
    /* ... judged at the given time, not the wall clock. */
    CHECK(reg_cred_check(DB_KEY_ES256_X509_PEM, expired_cert, now_us - 36 * 3600 * 1000000LL, why,
                         sizeof(why)) == 0);
    CHECK(reg_cred_check(DB_KEY_ES256_X509_PEM, ec_cert, now_us + 400 * 86400 * 1000000LL, why,
                         sizeof(why)) == -EINVAL);

    /* Surroundings: whitespace fine, anything else refused. */
    char *ws = concat("\n  \n", rsa2048_pem);
    char *ws2 = concat(ws, "\n\r\n\t ");
    CHECK(check(DB_KEY_RSA_PEM, ws2, why, sizeof(why)) == 0);
    char *trail = concat(rsa2048_pem, "garbage\n");
    CHECK(check(DB_KEY_RSA_PEM, trail, why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "after the PEM block"));
    char *lead = concat("Public-Key: (2048 bit)\n", rsa2048_pem);
    CHECK(check(DB_KEY_RSA_PEM, lead, why, sizeof(why)) == -EINVAL);
    char *two = concat(rsa2048_pem, p256_pem);
    CHECK(check(DB_KEY_RSA_PEM, two, why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "more than one"));
    char *chain = concat(rsa_cert, rsa_cert);
    CHECK(check(DB_KEY_RSA_X509_PEM, chain, why, sizeof(why)) == -EINVAL);

    /* Not a key at all. */
    CHECK(check(DB_KEY_RSA_PEM, "", why, sizeof(why)) == -EINVAL && strstr(why, "empty"));
    CHECK(check(DB_KEY_RSA_PEM, NULL, why, sizeof(why)) == -EINVAL);
    CHECK(check(DB_KEY_RSA_PEM, "hello", why, sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "not a PEM block"));
    CHECK(check(DB_KEY_RSA_PEM, "-----BEGIN PUBLIC KEY-----\nAAAA\n", why, sizeof(why)) == -EINVAL);
    CHECK(check(DB_KEY_RSA_PEM, "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", why,
                sizeof(why)) == -EINVAL);
    CHECK(check(DB_KEY_RSA_PEM, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", why,
                sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "SubjectPublicKeyInfo"));
    CHECK(check(DB_KEY_RSA_X509_PEM,
                "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", why,
                sizeof(why)) == -EINVAL);
    CHECK(strstr(why, "X.509"));
    CHECK(check((enum db_key_format)0, rsa2048_pem, why, sizeof(why)) == -EINVAL);

    /* PKCS#1 "RSA PUBLIC KEY" is not what RSA_PEM means. */
    {
        BIO *b = BIO_new(BIO_s_mem());
        if (!b || !PEM_write_bio_PUBKEY(b, rsa2048))
            abort();
        char *pk = tu_bio_take_text(b);
        /* rename the block: same body, wrong kind */
        char *body = strstr(pk, "\n") + 1;
        char *end = strstr(body, "-----END");
        size_t blen = (size_t)(end - body);
        char buf[4096];
        snprintf(buf, sizeof(buf), "-----BEGIN RSA PUBLIC KEY-----\n%.*s-----END RSA PUBLIC KEY-----\n",
                 (int)blen, body);
        CHECK(check(DB_KEY_RSA_PEM, buf, why, sizeof(why)) == -EINVAL);
        CHECK(strcmp(why, "RSA_PEM requires a PUBLIC KEY PEM block, not RSA PUBLIC KEY") == 0);
        free(pk);
    }
    /* Truncated DER inside a good PEM frame, and DER with trailing bytes. */
    {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(p256, &der);
        CHECK(n > 10);
        unsigned char longer[512];
        memcpy(longer, der, (size_t)n);
        longer[n] = 0;
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio(b, "PUBLIC KEY", "", der, n - 5);
        char *t = tu_bio_take_text(b);
        CHECK(check(DB_KEY_ES256_PEM, t, why, sizeof(why)) == -EINVAL);
        free(t);
        b = BIO_new(BIO_s_mem());
        PEM_write_bio(b, "PUBLIC KEY", "", longer, n + 1);
        t = tu_bio_take_text(b);
        CHECK(check(DB_KEY_ES256_PEM, t, why, sizeof(why)) == -EINVAL);
        free(t);
        OPENSSL_free(der);
    }
    /* A why buffer that is NULL or tiny is fine. */
    CHECK(reg_cred_check(DB_KEY_RSA_PEM, rsa1024_pem, now_us, NULL, 0) == -EINVAL);
    char tiny[8];
    CHECK(reg_cred_check(DB_KEY_RSA_PEM, rsa1024_pem, now_us, tiny, sizeof(tiny)) == -EINVAL);
    CHECK(strlen(tiny) == 7);
    /* Oversized input. */
    {
        size_t big = 70000;
        char *s = malloc(big + 1);
        if (!s)
            abort();
        memset(s, ' ', big);
        memcpy(s, "-----BEGIN PUBLIC KEY-----", 26);
        s[big] = '\0';
        CHECK(check(DB_KEY_RSA_PEM, s, why, sizeof(why)) == -EINVAL && strstr(why, "longer"));
        free(s);
    }

    /* reg_cred_public_pem */
    char *out = NULL;
    CHECK(reg_cred_public_pem(DB_KEY_RSA_PEM, rsa2048_pem, &out) == 0 && out);
    CHECK(out && strcmp(out, rsa2048_pem) == 0);
    free(out);
    out = NULL;
    CHECK(reg_cred_public_pem(DB_KEY_RSA_X509_PEM, rsa_cert, &out) == 0 && out);
    CHECK(out && strcmp(out, rsa2048_pem) == 0);
    free(out);
    out = NULL;
    CHECK(reg_cred_public_pem(DB_KEY_ES256_X509_PEM, ec_cert, &out) == 0);
    CHECK(out && strcmp(out, p256_pem) == 0);
    free(out);
    /* An expired certificate still yields its key: expiry is judged when the
     * credential is accepted, and by expirationTime at auth. */
    out = NULL;
    CHECK(reg_cred_public_pem(DB_KEY_ES256_X509_PEM, expired_cert, &out) == 0);
    free(out);
    char *sentinel = (char *)"untouched";
    out = sentinel;
    CHECK(reg_cred_public_pem(DB_KEY_ES256_PEM, rsa2048_pem, &out) == -EINVAL && out == sentinel);
    CHECK(reg_cred_public_pem(DB_KEY_RSA_X509_PEM, rsa2048_pem, &out) == -EINVAL && out == sentinel);
    CHECK(reg_cred_public_pem(DB_KEY_RSA_PEM, "garbage", &out) == -EINVAL && out == sentinel);
    CHECK(reg_cred_public_pem(DB_KEY_RSA_PEM, NULL, &out) == -EINVAL && out == sentinel);
    CHECK(ERR_peek_error() == 0);

    free(ws);
    free(ws2);
    free(trail);
    free(lead);
    free(two);
    free(chain);
    free(rsa1024_pem);
    free(rsa2048_pem);
    free(p256_pem);
    free(p384_pem);
    free(ed_pem);
    free(rsa_cert);
    free(ec_cert);
    free(rsa1024_cert);
    free(p384_cert);
    free(expired_cert);
    free(future_cert);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

int main(void) {
    now_us = (int64_t)time(NULL) * 1000000;
    test_formats();
    test_check();
    return tu_finish("test_cred");
}
