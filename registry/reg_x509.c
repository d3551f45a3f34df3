/* Registry CA certificates: x509Details for the admin API's output, and
 * the check of a device certificate against the registry's CAs. Google
 * verified only at device create or credential update, only one level
 * (intermediate CAs were not supported), honouring the CA's own validity
 * period, with no CRL or OCSP [google-iot-core.md section 4]. OpenSSL 3.0;
 * the OpenSSL error queue is left as it was found. */
#include "registry/reg_x509.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A certificate PEM far larger than this is no CA a registry would hold
 * (reg_cred applies the same bound to device credentials). */
#define X509_PEM_MAX 65536

struct reg_x509_cas {
    X509 *certs[REG_X509_MAX_CAS];      /* owned */
    size_t n;
};

/* The first CERTIFICATE block of pem; NULL when there is none. */
static X509 *load_cert(const char *pem)
{
    size_t len;
    BIO *bio;
    X509 *x;

    if (!pem)
        return NULL;
    len = strnlen(pem, X509_PEM_MAX + 1);
    if (len == 0 || len > X509_PEM_MAX)
        return NULL;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return x;
}

static int name_text(const X509_NAME *name, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL;
    long n;

    out[0] = '\0';
    if (!b)
        return -ENOMEM;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return -EINVAL;
    }
    n = BIO_get_mem_data(b, &text);
    if (n > 0 && text) {
        size_t k = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
        memcpy(out, text, k);
        out[k] = '\0';
    }
    BIO_free(b);
    return 0;
}

static int time_us(const ASN1_TIME *t, int64_t *ret)
{
    struct tm tm;

    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -EINVAL;
    *ret = (int64_t)timegm(&tm) * 1000000;
    return 0;
}

int reg_x509_details(const char *pem, struct reg_x509_details *ret)
{
    struct reg_x509_details d;
    EVP_PKEY *key;
    X509 *x;
    int rc = -EINVAL;

    if (!ret)
        return -EINVAL;
    ERR_set_mark();
    x = load_cert(pem);
    if (!x)
        goto out;
    memset(&d, 0, sizeof(d));
    if ((rc = name_text(X509_get_issuer_name(x), d.issuer, sizeof(d.issuer))) < 0 ||
        (rc = name_text(X509_get_subject_name(x), d.subject, sizeof(d.subject))) < 0 ||
        (rc = time_us(X509_get0_notBefore(x), &d.start_us)) < 0 ||
        (rc = time_us(X509_get0_notAfter(x), &d.expiry_us)) < 0)
        goto out;
    snprintf(d.signature_algorithm, sizeof(d.signature_algorithm), "%s",
             OBJ_nid2ln(X509_get_signature_nid(x)) ? OBJ_nid2ln(X509_get_signature_nid(x))
                                                    : "unknown");
    key = X509_get0_pubkey(x);
    if (!key) {
        rc = -EINVAL;
        goto out;
    }
    if (EVP_PKEY_is_a(key, "RSA"))
        snprintf(d.public_key_type, sizeof(d.public_key_type), "RSA");
    else if (EVP_PKEY_is_a(key, "EC"))
        snprintf(d.public_key_type, sizeof(d.public_key_type), "EC");
    else
        snprintf(d.public_key_type, sizeof(d.public_key_type), "%s",
                 EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
    *ret = d;
    rc = 0;
out:
    X509_free(x);
    ERR_pop_to_mark();
    return rc;
}

int reg_x509_cas_new(const char *const *pems, size_t n, struct reg_x509_cas **ret)
{
    struct reg_x509_cas *c;
    int rc = 0;

    if (!ret || (n > 0 && !pems))
        return -EINVAL;
    if (n > REG_X509_MAX_CAS)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    ERR_set_mark();
    for (size_t i = 0; i < n; i++) {
        c->certs[i] = load_cert(pems[i]);
        if (!c->certs[i]) {
            rc = -EINVAL;
            break;
        }
        c->n++;
    }
    ERR_pop_to_mark();
    if (rc < 0) {
        reg_x509_cas_free(c);
        return rc;
    }
    *ret = c;
    return 0;
}

void reg_x509_cas_free(struct reg_x509_cas *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        X509_free(c->certs[i]);
    free(c);
}

size_t reg_x509_cas_count(const struct reg_x509_cas *c)
{
    return c ? c->n : 0;
}

/* "The CA's validity period is honoured" [DOC verifying-credentials]. */
static bool ca_valid_at(X509 *ca, int64_t now_us)
{
    time_t now = (time_t)(now_us / 1000000);
    const ASN1_TIME *nb = X509_get0_notBefore(ca), *na = X509_get0_notAfter(ca);

    /* X509_cmp_time: -1 before now, 1 after, 0 on a malformed time. */
    return nb && na && X509_cmp_time(nb, &now) < 0 && X509_cmp_time(na, &now) > 0;
}

int reg_x509_cas_verify(const struct reg_x509_cas *c, const char *cert_pem, int64_t now_us)
{
    X509 *x;
    int rc = -EACCES;

    if (!c || c->n == 0)
        return 0;
    ERR_set_mark();
    x = load_cert(cert_pem);
    if (!x) {
        ERR_pop_to_mark();
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n; i++) {
        /* A registry CA is no device credential, even though it verifies
         * against itself when self-signed. */
        if (X509_cmp(x, c->certs[i]) == 0) {
            rc = -EACCES;
            break;
        }
        if (rc == 0 || !ca_valid_at(c->certs[i], now_us))
            continue;
        /* The signature only: one level, no chain building, no name or
         * key-usage policy beyond what Google documented. */
        if (X509_verify(x, X509_get0_pubkey(c->certs[i])) == 1)
            rc = 0;
    }
    X509_free(x);
    ERR_pop_to_mark();
    return rc;
}
