/* Registry CA certificates (registry/reg_x509.c): x509Details of RSA and
 * EC certificates, and the device-certificate rule: signed directly by a
 * registry CA that is valid now, never a CA itself, no intermediates, an
 * empty set accepting everything. Keys and certificates are made at test
 * time (testutil_crypto); CA-signed ones by the local issue() below. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "registry/reg_x509.h"
#include "testutil.h"
#include "testutil_crypto.h"

#define DAY 86400L

/* A certificate for key k (CN=cn) issued by the CA (ca_pem, ca_key), valid
 * from now+from_s to now+to_s; PEM, malloc'd. */
static char *issue(EVP_PKEY *k, const char *cn, const char *ca_pem, EVP_PKEY *ca_key, time_t now,
                   long from_s, long to_s)
{
    BIO *in = BIO_new_mem_buf(ca_pem, -1);
    X509 *ca = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
    X509 *x = X509_new();
    BIO *out = BIO_new(BIO_s_mem());

    if (!ca || !x || !out)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, from_s, &now);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, to_s, &now);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, k);
    if (!X509_sign(x, ca_key, EVP_sha256()) || !PEM_write_bio_X509(out, x))
        abort();
    X509_free(x);
    X509_free(ca);
    BIO_free(in);
    return tu_bio_take_text(out);
}

static void test_details(time_t now)
{
    EVP_PKEY *ec = tu_key("P-256"), *rsa = tu_key("RSA-2048");
    char *ec_pem = tu_cert_pem(ec, "ec-ca", 1, now, -DAY, 365 * DAY);
    char *rsa_pem = tu_cert_pem(rsa, "rsa-ca", 2, now, -DAY, 30 * DAY);
    struct reg_x509_details d;

    memset(&d, 0, sizeof(d));
    if (CHECK_EQ(reg_x509_details(ec_pem, &d), 0)) {
        CHECK_STR(d.issuer, "CN=ec-ca");
        CHECK_STR(d.subject, "CN=ec-ca");
        CHECK_STR(d.public_key_type, "EC");
        CHECK_STR(d.signature_algorithm, "ecdsa-with-SHA256");
        CHECK_EQ(d.start_us, ((int64_t)now - DAY) * 1000000);
        CHECK_EQ(d.expiry_us, ((int64_t)now + 365 * DAY) * 1000000);
    }
    if (CHECK_EQ(reg_x509_details(rsa_pem, &d), 0)) {
        CHECK_STR(d.public_key_type, "RSA");
        CHECK_STR(d.signature_algorithm, "sha256WithRSAEncryption");
        CHECK_STR(d.subject, "CN=rsa-ca");
    }
    /* Not a certificate: a public key, garbage, nothing. */
    char *pub = tu_pubkey_pem(ec);
    d.issuer[0] = 'X';
    CHECK_EQ(reg_x509_details(pub, &d), -EINVAL);
    CHECK(d.issuer[0] == 'X');      /* untouched on failure */
    CHECK_EQ(reg_x509_details("hello", &d), -EINVAL);
    CHECK_EQ(reg_x509_details("", &d), -EINVAL);
    CHECK_EQ(reg_x509_details(NULL, &d), -EINVAL);
    free(pub);
    free(ec_pem);
    free(rsa_pem);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

static void test_verify(time_t now)
{
    int64_t now_us = (int64_t)now * 1000000;
    EVP_PKEY *ca_key = tu_key("P-256"), *ca2_key = tu_key("RSA-2048"), *dev_key = tu_key("P-256");
    EVP_PKEY *inter_key = tu_key("P-256");
    char *ca = tu_cert_pem(ca_key, "root-ca", 1, now, -DAY, 365 * DAY);
    char *ca2 = tu_cert_pem(ca2_key, "other-ca", 2, now, -DAY, 365 * DAY);
    char *expired_ca = tu_cert_pem(ca_key, "root-ca", 3, now, -10 * DAY, -DAY);
    char *future_ca = tu_cert_pem(ca_key, "root-ca", 4, now, DAY, 10 * DAY);
    char *by_ca = issue(dev_key, "dev", ca, ca_key, now, -DAY, 30 * DAY);
    char *by_ca2 = issue(dev_key, "dev", ca2, ca2_key, now, -DAY, 30 * DAY);
    char *self = tu_cert_pem(dev_key, "dev", 5, now, -DAY, 30 * DAY);
    char *inter = issue(inter_key, "intermediate", ca, ca_key, now, -DAY, 30 * DAY);
    char *by_inter = issue(dev_key, "dev", inter, inter_key, now, -DAY, 30 * DAY);
    struct reg_x509_cas *set = NULL, *empty = NULL, *old = NULL, *early = NULL;

    {
        const char *pems[] = { ca, ca2 };
        if (!CHECK_EQ(reg_x509_cas_new(pems, 2, &set), 0))
            goto out;
    }
    CHECK_EQ(reg_x509_cas_count(set), 2);
    CHECK_EQ(reg_x509_cas_verify(set, by_ca, now_us), 0);
    CHECK_EQ(reg_x509_cas_verify(set, by_ca2, now_us), 0);
    CHECK_EQ(reg_x509_cas_verify(set, self, now_us), -EACCES);
    /* One level only: a certificate from an intermediate the registry does
     * not hold is refused, though the intermediate chains to a CA. */
    CHECK_EQ(reg_x509_cas_verify(set, by_inter, now_us), -EACCES);
    CHECK_EQ(reg_x509_cas_verify(set, inter, now_us), 0);
    /* A CA certificate is never a device credential. */
    CHECK_EQ(reg_x509_cas_verify(set, ca, now_us), -EACCES);
    CHECK_EQ(reg_x509_cas_verify(set, ca2, now_us), -EACCES);
    CHECK_EQ(reg_x509_cas_verify(set, "not a certificate", now_us), -EINVAL);

    /* No CA: no rule. */
    CHECK_EQ(reg_x509_cas_new(NULL, 0, &empty), 0);
    CHECK_EQ(reg_x509_cas_count(empty), 0);
    CHECK_EQ(reg_x509_cas_verify(empty, self, now_us), 0);
    CHECK_EQ(reg_x509_cas_verify(NULL, self, now_us), 0);

    /* The CA's own validity counts: the same key, but expired or not yet valid. */
    {
        const char *pems[] = { expired_ca };
        if (CHECK_EQ(reg_x509_cas_new(pems, 1, &old), 0))
            CHECK_EQ(reg_x509_cas_verify(old, by_ca, now_us), -EACCES);
        pems[0] = future_ca;
        if (CHECK_EQ(reg_x509_cas_new(pems, 1, &early), 0))
            CHECK_EQ(reg_x509_cas_verify(early, by_ca, now_us), -EACCES);
    }
    /* Bad sets. */
    {
        const char *bad[] = { ca, "garbage" };
        const char *many[REG_X509_MAX_CAS + 1];
        struct reg_x509_cas *x = (struct reg_x509_cas *)&x;     /* must stay as it is */
        CHECK_EQ(reg_x509_cas_new(bad, 2, &x), -EINVAL);
        CHECK(x == (struct reg_x509_cas *)&x);
        for (size_t i = 0; i < REG_X509_MAX_CAS + 1; i++)
            many[i] = ca;
        CHECK_EQ(reg_x509_cas_new(many, REG_X509_MAX_CAS + 1, &x), -EINVAL);
    }
out:
    reg_x509_cas_free(set);
    reg_x509_cas_free(empty);
    reg_x509_cas_free(old);
    reg_x509_cas_free(early);
    reg_x509_cas_free(NULL);
    free(ca);
    free(ca2);
    free(expired_ca);
    free(future_ca);
    free(by_ca);
    free(by_ca2);
    free(self);
    free(inter);
    free(by_inter);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(ca2_key);
    EVP_PKEY_free(dev_key);
    EVP_PKEY_free(inter_key);
}

int main(void)
{
    time_t now = time(NULL);

    test_details(now);
    test_verify(now);
    return tu_finish("test_x509");
}
