/* AWS IoT X.509 rules (registry/aws_cert.c, aws_cert_issue.c): the
 * certificate id against a vector made with the openssl tool and against
 * OpenSSL's own DER, strict PEM framing, validity across 2038 and the
 * UTCTime/GeneralizedTime boundary, subject and issuer attributes for
 * policy variables, the one-level signature rule, the registration-code
 * proof of possession, and the certificates the daemon's CA issues (keys
 * and certificate, from a CSR). Keys and certificates are made at test time
 * by the local helpers below and testutil_crypto. */
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
#include <openssl/x509v3.h>

#include "registry/aws_cert.h"
#include "testutil.h"
#include "testutil_crypto.h"

/* Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
 * -subj "/CN=fixed vector/O=iotcored tests" -days 3650`; its id is what
 * `openssl x509 -noout -fingerprint -sha256` printed, without colons,
 * lower-cased (and what `openssl x509 -outform DER | sha256sum` printed). */
static const char fixed_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBtTCCAVugAwIBAgIUCHGCVMsbSQnAYP05uAS3FCSsOYQwCgYIKoZIzj0EAwIw\n"
    "MDEVMBMGA1UEAwwMZml4ZWQgdmVjdG9yMRcwFQYDVQQKDA5pb3Rjb3JlZCB0ZXN0\n"
    "czAeFw0yNjExMjgyMTE3NTVaFw0zNjExMjUyMTE3NTVaMDAxFTATBgNVBAMMDGZp\n"
    "eGVkIHZlY3RvcjEXMBUGA1UECgwOaW90Y29yZWQgdGVzdHMwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAAQ6PbGG4p73DGxja0DS9Wtn9SQkR7LIXNfBKNdjHv3uu5t9\n"
    "g+rKgDehmys4PePWxiZObIWek6Af+RQqHMcOOVp5o1MwUTAdBgNVHQ4EFgQUZRFa\n"
    "7doeOX+IORvTX2XjAPu2WZEwHwYDVR0jBBgwFoAUZRFa7doeOX+IORvTX2XjAPu2\n"
    "WZEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBuL/6PjR/aeGcT\n"
    "Y5ZviL0VXIAVyTlkxavXu/5cYJR4uQIhAIAYC9H35h3TdYpQdTdC/pxzJryUvdA1\n"
    "Roe4KG53qtLT\n"
    "-----END CERTIFICATE-----\n";
static const char fixed_id[] = "b1e5cfe4183720a47c69d615f334c5254a8d58b56cd6d81c2c593257fd47d86b";
/* date -u -d 2026-11-28T21:17:55Z +%s, and the notAfter ten years on. */
#define FIXED_NOT_BEFORE 1795900675LL
#define FIXED_NOT_AFTER 2111260675LL

#define US 1000000LL

/* ---- helpers ------------------------------------------------------------ */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

/* A name from field/value pairs ("CN", "x", ..., NULL), values UTF-8. */
static X509_NAME *mk_name(const char *const *kv)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        abort();
    for (size_t i = 0; kv[i]; i += 2)
        if (!X509_NAME_add_entry_by_txt(n, kv[i], MBSTRING_UTF8, (const unsigned char *)kv[i + 1],
                                        -1, -1, 0))
            abort();
    return n;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (!e || !X509_add_ext(x, e, -1))
        abort();
    X509_EXTENSION_free(e);
}

/* A certificate for k with subject subj, signed by issuer_key under
 * issuer's subject (both NULL: self-signed), valid nb..na
 * ("YYYYMMDDHHMMSSZ"), serial, basicConstraints bc (NULL: none; a CA also
 * gets a subjectKeyIdentifier when ski). */
static X509 *mk_cert(EVP_PKEY *k, const X509_NAME *subj, X509 *issuer, EVP_PKEY *issuer_key,
                     const char *nb, const char *na, long serial, const char *bc, bool ski)
{
    X509 *x = X509_new();
    if (!x || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
        !ASN1_TIME_set_string_X509(X509_getm_notBefore(x), nb) ||
        !ASN1_TIME_set_string_X509(X509_getm_notAfter(x), na) || !X509_set_subject_name(x, subj) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) ||
        !X509_set_pubkey(x, k))
        abort();
    if (bc)
        add_ext(x, issuer ? issuer : x, NID_basic_constraints, bc);
    if (ski)
        add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
    if (!X509_sign(x, issuer_key ? issuer_key : k, EVP_sha256()))
        abort();
    return x;
}

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509(b, x))
        abort();
    return tu_bio_take_text(b);
}

static X509 *x509_of(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

/* The id computed independently: SHA-256 over i2d_X509, hex. */
static void openssl_id(X509 *x, char out[AWS_CERT_ID_LEN + 1])
{
    unsigned char *der = NULL, md[32];
    unsigned int mdlen = 0;
    int n = i2d_X509(x, &der);
    if (n <= 0 || !EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort();
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    OPENSSL_free(der);
}

static uint8_t *der_of(X509 *x, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(x, &p);
    if (n <= 0)
        abort();
    uint8_t *d = xmalloc((size_t)n);
    memcpy(d, p, (size_t)n);
    OPENSSL_free(p);
    *len = (size_t)n;
    return d;
}

/* Text a + b, malloc'd. */
static char *cat2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = xmalloc(na + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static char *csr_pem(EVP_PKEY *k, const X509_NAME *subj)
{
    X509_REQ *r = X509_REQ_new();
    bool eddsa = EVP_PKEY_is_a(k, "ED25519");
    if (!r || !X509_REQ_set_version(r, 0) || !X509_REQ_set_subject_name(r, subj) ||
        !X509_REQ_set_pubkey(r, k) || !X509_REQ_sign(r, k, eddsa ? NULL : EVP_sha256()))
        abort();
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509_REQ(b, r))
        abort();
    X509_REQ_free(r);
    return tu_bio_take_text(b);
}

static bool queue_empty(void)
{
    return ERR_peek_error() == 0;
}

static bool is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* ---- id and parsing ----------------------------------------------------- */

static void test_fixed_vector(void)
{
    struct aws_cert_info info;
    char id[AWS_CERT_ID_LEN + 1];
    uint8_t *der = NULL;
    size_t n = 0;

    CHECK_EQ(aws_cert_parse_pem(fixed_pem, strlen(fixed_pem), &info, NULL, 0), 0);
    CHECK_STR(info.id, fixed_id);
    CHECK_EQ(info.not_before_us, FIXED_NOT_BEFORE * US);
    CHECK_EQ(info.not_after_us, FIXED_NOT_AFTER * US);
    CHECK(info.is_ca);
    /* RFC 2253 lists the last RDN first. */
    CHECK_STR(info.subject, "O=iotcored tests,CN=fixed vector");
    CHECK_STR(info.issuer, "O=iotcored tests,CN=fixed vector");

    CHECK_EQ(aws_cert_pem_to_der(fixed_pem, strlen(fixed_pem), &der, &n), 0);
    CHECK_EQ(aws_cert_id_der(der, n, id), 0);
    CHECK_STR(id, fixed_id);
    struct aws_cert_info d;
    CHECK_EQ(aws_cert_parse_der(der, n, &d), 0);
    CHECK_STR(d.id, fixed_id);
    CHECK_EQ(aws_cert_id_der(der, 0, id), -EINVAL);
    free(der);
}

static void test_id_matches_openssl(void)
{
    EVP_PKEY *k = tu_key("P-256");
    char *pem = tu_cert_pem(k, "id test", 7, time(NULL), -60, 86400);
    X509 *x = x509_of(pem);
    char want[AWS_CERT_ID_LEN + 1], got[AWS_CERT_ID_LEN + 1];
    struct aws_cert_info info;
    size_t n;

    openssl_id(x, want);
    CHECK_EQ(aws_cert_parse_pem(pem, strlen(pem), &info, NULL, 0), 0);
    CHECK_STR(info.id, want);
    CHECK(is_lower_hex(info.id, AWS_CERT_ID_LEN));
    uint8_t *der = der_of(x, &n);
    CHECK_EQ(aws_cert_id_der(der, n, got), 0);
    CHECK_STR(got, want);
    CHECK(!info.is_ca);             /* tu_cert_pem adds no basicConstraints */

    /* A DER with a byte after the certificate is not one certificate. */
    uint8_t *longer = xmalloc(n + 1);
    memcpy(longer, der, n);
    longer[n] = 0;
    memset(&info, 0x5a, sizeof(info));
    struct aws_cert_info before = info;
    CHECK_EQ(aws_cert_parse_der(longer, n + 1, &info), -EINVAL);
    CHECK_EQ(aws_cert_parse_der(der, n - 1, &info), -EINVAL);
    CHECK(memcmp(&info, &before, sizeof(info)) == 0);
    CHECK(queue_empty());
    free(longer);
    free(der);
    X509_free(x);
    free(pem);
    EVP_PKEY_free(k);
}

/* Expects pem to be refused with a why starting with want_why. */
static void check_refused(const char *pem, size_t len, const char *want_why, int line)
{
    struct aws_cert_info info, before;
    char why[256] = "";

    memset(&info, 0x5a, sizeof(info));
    before = info;
    int rc = aws_cert_parse_pem(pem, len, &info, why, sizeof(why));
    tu_checkf(rc == -EINVAL, __FILE__, line, "parse returned %d, want -EINVAL", rc);
    tu_checkf(strncmp(why, want_why, strlen(want_why)) == 0, __FILE__, line,
              "why \"%s\", want \"%s\"", why, want_why);
    tu_checkf(memcmp(&info, &before, sizeof(info)) == 0, __FILE__, line, "ret was touched");
    /* Rejections leave no OpenSSL error behind for an unrelated caller. */
    tu_checkf(queue_empty(), __FILE__, line, "OpenSSL error queue not empty");
    ERR_clear_error();
    /* The input is never echoed. */
    tu_checkf(!strstr(why, "MARK"), __FILE__, line, "why echoes the input");
}
#define REFUSED(pem, why) check_refused((pem), strlen(pem), (why), __LINE__)

#define NOT_PEM "Certificate is not valid PEM"
#define NOT_X509 "The certificate is not a valid X.509 certificate"

static void test_parse_framing(void)
{
    struct aws_cert_info info;
    EVP_PKEY *k = tu_key("P-256");
    char *other = tu_cert_pem(k, "other", 9, time(NULL), 0, 3600);

    /* Surrounding whitespace and CRLF line ends are PEM all the same. */
    char *padded = cat2("\n \t\r\n", fixed_pem);
    char *padded2 = cat2(padded, "\r\n\n  \n");
    CHECK_EQ(aws_cert_parse_pem(padded2, strlen(padded2), &info, NULL, 0), 0);
    CHECK_STR(info.id, fixed_id);
    char crlf[2048];
    size_t j = 0;
    for (const char *p = fixed_pem; *p; p++) {
        if (*p == '\n')
            crlf[j++] = '\r';
        crlf[j++] = *p;
    }
    crlf[j] = '\0';
    CHECK_EQ(aws_cert_parse_pem(crlf, j, &info, NULL, 0), 0);
    CHECK_STR(info.id, fixed_id);
    /* Without the final newline. */
    CHECK_EQ(aws_cert_parse_pem(fixed_pem, strlen(fixed_pem) - 1, &info, NULL, 0), 0);

    REFUSED("", NOT_PEM);
    REFUSED("MARK not a certificate at all", NOT_PEM);
    char *before_text = cat2("MARK comment\n", fixed_pem);
    REFUSED(before_text, NOT_PEM);
    char *after_text = cat2(fixed_pem, "MARK trailing\n");
    REFUSED(after_text, NOT_PEM);
    char *two = cat2(fixed_pem, other);
    REFUSED(two, "Certificate PEM must hold exactly one certificate");
    char *two_same = cat2(fixed_pem, fixed_pem);
    REFUSED(two_same, "Certificate PEM must hold exactly one certificate");

    /* Only the first block was parsed: the parse of a lone block is fine. */
    CHECK_EQ(aws_cert_parse_pem(other, strlen(other), &info, NULL, 0), 0);

    /* Broken base64 in the body. */
    char *bad = cat2(fixed_pem, "");
    bad[100] = '!';
    REFUSED(bad, NOT_PEM);
    /* A BEGIN without END. */
    char *cut = cat2(fixed_pem, "");
    cut[strlen(cut) - 30] = '\0';
    REFUSED(cut, NOT_PEM);
    /* A NUL byte inside (the length says there is more). */
    check_refused(fixed_pem, sizeof(fixed_pem), NOT_PEM, __LINE__);

    /* A private key, a public key, a CSR given as the certificate. */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *key_pem = tu_bio_take_text(b);
    REFUSED(key_pem, NOT_X509);
    char *pub_pem = tu_pubkey_pem(k);
    REFUSED(pub_pem, NOT_X509);
    X509_NAME *n = mk_name((const char *const[]){"CN", "csr", NULL});
    char *csr = csr_pem(k, n);
    REFUSED(csr, NOT_X509);
    /* The right label around something that is not a certificate. */
    char *fake = xmalloc(strlen(pub_pem) + 32);
    const char *body = strchr(pub_pem, '\n') + 1;
    size_t body_len = (size_t)(strstr(pub_pem, "-----END") - body);
    snprintf(fake, strlen(pub_pem) + 32,
             "-----BEGIN CERTIFICATE-----\n%.*s-----END CERTIFICATE-----\n", (int)body_len, body);
    REFUSED(fake, NOT_X509);

    /* Longer than AWS's 65536 characters, though valid with the padding. */
    size_t big_len = AWS_CERT_MAX_PEM + 1;
    char *big = xmalloc(big_len + 1);
    memset(big, ' ', big_len);
    memcpy(big, fixed_pem, strlen(fixed_pem));
    big[big_len] = '\0';
    check_refused(big, big_len, "Certificate PEM is longer than 65536 characters", __LINE__);
    CHECK_EQ(aws_cert_parse_pem(big, big_len - 1, &info, NULL, 0), 0);

    /* pem_to_der says -EINVAL for every kind of refusal. */
    uint8_t *der = (uint8_t *)"untouched";
    size_t dn = 42;
    CHECK_EQ(aws_cert_pem_to_der(two, strlen(two), &der, &dn), -EINVAL);
    CHECK_EQ(aws_cert_pem_to_der(key_pem, strlen(key_pem), &der, &dn), -EINVAL);
    CHECK(strcmp((char *)der, "untouched") == 0 && dn == 42);
    CHECK(queue_empty());

    /* The block primitive's finer codes. */
    CHECK_EQ(aws_cert_pem_block(two, strlen(two), "CERTIFICATE", NULL, &der, &dn), -E2BIG);
    CHECK_EQ(aws_cert_pem_block(csr, strlen(csr), "CERTIFICATE", NULL, &der, &dn), -EMEDIUMTYPE);
    CHECK_EQ(aws_cert_pem_block(after_text, strlen(after_text), "CERTIFICATE", NULL, &der, &dn),
             -EBADMSG);
    CHECK_EQ(aws_cert_pem_block(big, big_len, "CERTIFICATE", NULL, &der, &dn), -EMSGSIZE);
    CHECK_EQ(aws_cert_pem_block(csr, strlen(csr), "X", "CERTIFICATE REQUEST", &der, &dn), 0);
    free(der);

    free(big);
    free(fake);
    free(csr);
    X509_NAME_free(n);
    free(pub_pem);
    free(key_pem);
    free(cut);
    free(bad);
    free(two_same);
    free(two);
    free(after_text);
    free(before_text);
    free(padded2);
    free(padded);
    free(other);
    EVP_PKEY_free(k);
}

/* ---- validity ----------------------------------------------------------- */

static void check_validity(EVP_PKEY *k, const char *nb, const char *na, long long nb_s,
                           long long na_s, int na_type, int line)
{
    X509_NAME *n = mk_name((const char *const[]){"CN", "dates", NULL});
    X509 *x = mk_cert(k, n, NULL, NULL, nb, na, 1, NULL, false);
    char *pem = pem_of(x);
    struct aws_cert_info info;

    /* The test's own premise: which ASN.1 time type is on the wire. */
    tu_checkf(ASN1_STRING_type(X509_get0_notAfter(x)) == na_type, __FILE__, line,
              "notAfter %s has type %d, want %d", na, ASN1_STRING_type(X509_get0_notAfter(x)),
              na_type);
    int rc = aws_cert_parse_pem(pem, strlen(pem), &info, NULL, 0);
    tu_checkf(rc == 0, __FILE__, line, "parse %d", rc);
    tu_checkf(info.not_before_us == nb_s * US, __FILE__, line, "notBefore %lld, want %lld",
              (long long)info.not_before_us, nb_s * US);
    tu_checkf(info.not_after_us == na_s * US, __FILE__, line, "notAfter %lld, want %lld",
              (long long)info.not_after_us, na_s * US);
    free(pem);
    X509_free(x);
    X509_NAME_free(n);
}

static void test_validity(void)
{
    EVP_PKEY *k = tu_key("P-256");

    /* Epoch seconds from `date -u -d ... +%s`. */
    check_validity(k, "19500101000000Z", "20491231235959Z", -631152000LL, 2524607999LL,
                   V_ASN1_UTCTIME, __LINE__);
    check_validity(k, "20380119031408Z", "20500101000000Z", 2147483648LL, 2524608000LL,
                   V_ASN1_GENERALIZEDTIME, __LINE__);
    check_validity(k, "20261128211755Z", "21000228120000Z", FIXED_NOT_BEFORE, 4107499200LL,
                   V_ASN1_GENERALIZEDTIME, __LINE__);
    check_validity(k, "19700101000000Z", "99991231235959Z", 0, 253402300799LL,
                   V_ASN1_GENERALIZEDTIME, __LINE__);
    EVP_PKEY_free(k);
}

/* ---- attributes --------------------------------------------------------- */

static void test_attrs(void)
{
    EVP_PKEY *k = tu_key("P-256");
    X509_NAME *subj = mk_name((const char *const[]){
        "C", "US", "ST", "Washington", "L", "Seattle", "O", "Acme", "OU", "one", "OU", "two",
        "CN", "dev*ice?/\xc3\xa9\xe2\x82\xac", "serialNumber", "SN-42", "dnQualifier", "q1",
        "title", "Dr", "SN", "Smith", "GN", "Ann", "initials", "AS", "pseudonym", "anna",
        "generationQualifier", "III", "emailAddress", "a@example.com", "OU", "three", NULL});
    X509_NAME *iss_name = mk_name((const char *const[]){"CN", "Issuer CA", "O", "Acme", NULL});
    /* A BMPString (UCS-2) OU must come out as UTF-8: "Zürich". */
    static const unsigned char zurich[] = {0, 'Z', 0, 0xfc, 0, 'r', 0, 'i', 0, 'c', 0, 'h'};
    if (!X509_NAME_add_entry_by_NID(subj, NID_organizationalUnitName, V_ASN1_BMPSTRING, zurich,
                                    sizeof(zurich), -1, 0))
        abort();
    X509 *ca = mk_cert(k, iss_name, NULL, NULL, "20240101000000Z", "20340101000000Z", 1,
                       "critical,CA:TRUE", true);
    X509 *x = mk_cert(k, subj, ca, k, "20240101000000Z", "20340101000000Z", 1, NULL, false);
    size_t n;
    uint8_t *der;
    struct aws_cert_attrs a;

    /* A known serial: 0x0123456789abcdef01 (leading zero nibble kept). */
    BIGNUM *bn = NULL;
    if (!BN_hex2bn(&bn, "0123456789ABCDEF01") ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_sign(x, k, EVP_sha256()))
        abort();
    BN_free(bn);
    der = der_of(x, &n);

    CHECK_EQ(aws_cert_attrs_der(der, n, &a), 0);
    static const char *const want_subject[][2] = {
        {"Country", "US"},
        {"State", "Washington"},
        {"Organization", "Acme"},
        {"OrganizationalUnit", "one"},
        {"OrganizationalUnit", "two"},
        {"CommonName", "dev*ice?/\xc3\xa9\xe2\x82\xac"},
        {"SerialNumber", "SN-42"},
        {"DistinguishedNameQualifier", "q1"},
        {"Title", "Dr"},
        {"Surname", "Smith"},
        {"GivenName", "Ann"},
        {"Initials", "AS"},
        {"Pseudonym", "anna"},
        {"GenerationQualifier", "III"},
        {"OrganizationalUnit", "three"},
        {"OrganizationalUnit", "Z\xc3\xbcrich"},
    };
    size_t nw = sizeof(want_subject) / sizeof(want_subject[0]);
    if (CHECK_EQ(a.n_subject, nw)) {
        for (size_t i = 0; i < nw; i++) {
            CHECK_STR(a.subject[i].name, want_subject[i][0]);
            CHECK_STR(a.subject[i].value, want_subject[i][1]);
        }
    }
    if (CHECK_EQ(a.n_issuer, 2)) {
        CHECK_STR(a.issuer[0].name, "CommonName");
        CHECK_STR(a.issuer[0].value, "Issuer CA");
        CHECK_STR(a.issuer[1].name, "Organization");
        CHECK_STR(a.issuer[1].value, "Acme");
    }
    CHECK_STR(a.serial, "0123456789abcdef01");
    /* Every string lives in the one storage block. */
    CHECK(a.storage != NULL);
    CHECK((const char *)a.subject == a.storage);
    aws_cert_attrs_clear(&a);
    CHECK(a.storage == NULL && a.subject == NULL && a.n_subject == 0 && a.issuer == NULL);
    aws_cert_attrs_clear(&a);        /* idempotent */
    aws_cert_attrs_clear(NULL);      /* NULL-safe */

    /* Nothing AWS names: no storage, no arrays, the serial all the same. */
    X509_NAME *plain = mk_name((const char *const[]){"L", "Nowhere", NULL});
    X509 *y = mk_cert(k, plain, NULL, NULL, "20240101000000Z", "20340101000000Z", 10, NULL,
                      false);
    size_t yn;
    uint8_t *yder = der_of(y, &yn);
    CHECK_EQ(aws_cert_attrs_der(yder, yn, &a), 0);
    CHECK(a.n_subject == 0 && a.n_issuer == 0 && a.subject == NULL && a.issuer == NULL &&
          a.storage == NULL);
    CHECK_STR(a.serial, "0a");
    aws_cert_attrs_clear(&a);

    /* A value with a NUL (BMPString U+0000) cannot be a C string: refused,
     * ret untouched. */
    static const unsigned char nul_cn[] = {0, 'a', 0, 0, 0, 'b'};
    X509_NAME *nul_name = X509_NAME_new();
    if (!nul_name || !X509_NAME_add_entry_by_NID(nul_name, NID_commonName, V_ASN1_BMPSTRING,
                                                 nul_cn, sizeof(nul_cn), -1, 0))
        abort();
    X509 *z = mk_cert(k, nul_name, NULL, NULL, "20240101000000Z", "20340101000000Z", 11, NULL,
                      false);
    size_t zn;
    uint8_t *zder = der_of(z, &zn);
    struct aws_cert_attrs untouched;
    memset(&untouched, 0x5a, sizeof(untouched));
    a = untouched;
    CHECK_EQ(aws_cert_attrs_der(zder, zn, &a), -EINVAL);
    CHECK_EQ(aws_cert_attrs_der(der, n - 1, &a), -EINVAL);
    CHECK(memcmp(&a, &untouched, sizeof(a)) == 0);
    CHECK(queue_empty());

    free(zder);
    X509_free(z);
    X509_NAME_free(nul_name);
    free(yder);
    X509_free(y);
    X509_NAME_free(plain);
    free(der);
    X509_free(x);
    X509_free(ca);
    X509_NAME_free(iss_name);
    X509_NAME_free(subj);
    EVP_PKEY_free(k);
}

/* ---- signatures and the registration code ------------------------------- */

static void test_signed_by(void)
{
    EVP_PKEY *ca_key = tu_key("P-256"), *ca2_key = tu_key("P-256"), *dev = tu_key("P-256");
    X509_NAME *ca_name = mk_name((const char *const[]){"CN", "Test CA", "O", "Acme", NULL});
    X509_NAME *other_name = mk_name((const char *const[]){"CN", "Other CA", NULL});
    X509_NAME *dev_name = mk_name((const char *const[]){"CN", "device", NULL});
    const char *nb = "20240101000000Z", *na = "20340101000000Z";
    X509 *ca = mk_cert(ca_key, ca_name, NULL, NULL, nb, na, 1, "critical,CA:TRUE", true);
    /* Same subject, another key: the impostor. */
    X509 *ca2 = mk_cert(ca2_key, ca_name, NULL, NULL, nb, na, 2, "critical,CA:TRUE", true);
    X509 *other = mk_cert(ca_key, other_name, NULL, NULL, nb, na, 3, "critical,CA:TRUE", true);
    X509 *leaf = mk_cert(dev, dev_name, ca, ca_key, nb, na, 4, "critical,CA:FALSE", false);
    /* Expired long ago: times play no part. */
    X509 *old = mk_cert(dev, dev_name, ca, ca_key, "20000101000000Z", "20010101000000Z", 5, NULL,
                        false);
    char *ca_pem = pem_of(ca), *ca2_pem = pem_of(ca2), *other_pem = pem_of(other),
         *leaf_pem = pem_of(leaf), *old_pem = pem_of(old);
    struct aws_cert_info info;

    CHECK_EQ(aws_cert_parse_pem(ca_pem, strlen(ca_pem), &info, NULL, 0), 0);
    CHECK(info.is_ca);
    CHECK_EQ(aws_cert_parse_pem(leaf_pem, strlen(leaf_pem), &info, NULL, 0), 0);
    CHECK(!info.is_ca);
    CHECK_STR(info.issuer, "O=Acme,CN=Test CA");

    CHECK_EQ(aws_cert_signed_by(leaf_pem, ca_pem), 1);
    CHECK_EQ(aws_cert_signed_by(old_pem, ca_pem), 1);
    CHECK_EQ(aws_cert_signed_by(leaf_pem, ca2_pem), 0);
    CHECK(queue_empty());
    /* The key matches but the names do not. */
    CHECK_EQ(aws_cert_signed_by(leaf_pem, other_pem), 0);
    CHECK_EQ(aws_cert_signed_by(ca_pem, ca_pem), 1);    /* self-signed */
    CHECK_EQ(aws_cert_signed_by(ca2_pem, ca_pem), 0);
    CHECK_EQ(aws_cert_signed_by("junk", ca_pem), -EINVAL);
    CHECK_EQ(aws_cert_signed_by(leaf_pem, "junk"), -EINVAL);
    CHECK_EQ(aws_cert_signed_by(leaf_pem, NULL), -EINVAL);
    CHECK(queue_empty());

    free(old_pem);
    free(leaf_pem);
    free(other_pem);
    free(ca2_pem);
    free(ca_pem);
    X509_free(old);
    X509_free(leaf);
    X509_free(other);
    X509_free(ca2);
    X509_free(ca);
    X509_NAME_free(dev_name);
    X509_NAME_free(other_name);
    X509_NAME_free(ca_name);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ca2_key);
    EVP_PKEY_free(ca_key);
}

static void test_verification(void)
{
    char code[AWS_CERT_ID_LEN + 1], code2[AWS_CERT_ID_LEN + 1], why[256];
    EVP_PKEY *ca_key = tu_key("RSA-2048"), *other_key = tu_key("P-256"), *v_key = tu_key("P-256");
    const char *nb = "20240101000000Z", *na = "20340101000000Z";

    CHECK_EQ(aws_registration_code(code), 0);
    CHECK_EQ(aws_registration_code(code2), 0);
    CHECK(is_lower_hex(code, AWS_CERT_ID_LEN));
    CHECK(strcmp(code, code2) != 0);

    X509_NAME *ca_name = mk_name((const char *const[]){"CN", "My Root", NULL});
    X509_NAME *good_name = mk_name((const char *const[]){"O", "Acme", "CN", code, NULL});
    X509_NAME *wrong_name = mk_name((const char *const[]){"CN", code2, NULL});
    X509_NAME *two_cn = mk_name((const char *const[]){"CN", code, "CN", code, NULL});
    X509 *ca = mk_cert(ca_key, ca_name, NULL, NULL, nb, na, 1, "critical,CA:TRUE", true);
    /* Signed by another key under the CA's name. */
    X509 *fake_ca = mk_cert(other_key, ca_name, NULL, NULL, nb, na, 1, "critical,CA:TRUE", true);
    X509 *good = mk_cert(v_key, good_name, ca, ca_key, nb, na, 2, NULL, false);
    X509 *wrong = mk_cert(v_key, wrong_name, ca, ca_key, nb, na, 3, NULL, false);
    X509 *forged = mk_cert(v_key, good_name, fake_ca, other_key, nb, na, 4, NULL, false);
    X509 *twice = mk_cert(v_key, two_cn, ca, ca_key, nb, na, 5, NULL, false);
    char *ca_pem = pem_of(ca), *good_pem = pem_of(good), *wrong_pem = pem_of(wrong),
         *forged_pem = pem_of(forged), *twice_pem = pem_of(twice);

    why[0] = '\0';
    CHECK_EQ(aws_cert_check_verification(ca_pem, good_pem, code, why, sizeof(why)), 0);
    CHECK_STR(why, "");
    CHECK_EQ(aws_cert_check_verification(ca_pem, wrong_pem, code, why, sizeof(why)), -EACCES);
    CHECK_STR(why, "The verification certificate's CommonName is not the registration code");
    CHECK_EQ(aws_cert_check_verification(ca_pem, forged_pem, code, why, sizeof(why)), -EACCES);
    CHECK_STR(why,
              "The verification certificate is not signed by the CA certificate's private key");
    CHECK_EQ(aws_cert_check_verification(ca_pem, twice_pem, code, why, sizeof(why)), -EACCES);
    /* A prefix of the code is not the code. */
    code[10] = '\0';
    CHECK_EQ(aws_cert_check_verification(ca_pem, good_pem, code, why, sizeof(why)), -EACCES);
    CHECK_EQ(aws_cert_check_verification(ca_pem, "nope", code2, why, sizeof(why)), -EINVAL);
    CHECK_STR(why, "The verification certificate is not a valid X.509 certificate");
    CHECK_EQ(aws_cert_check_verification("nope", good_pem, code2, why, sizeof(why)), -EINVAL);
    CHECK_STR(why, "The CA certificate is not a valid X.509 certificate");
    CHECK(queue_empty());

    free(twice_pem);
    free(forged_pem);
    free(wrong_pem);
    free(good_pem);
    free(ca_pem);
    X509_free(twice);
    X509_free(forged);
    X509_free(wrong);
    X509_free(good);
    X509_free(fake_ca);
    X509_free(ca);
    X509_NAME_free(two_cn);
    X509_NAME_free(wrong_name);
    X509_NAME_free(good_name);
    X509_NAME_free(ca_name);
    EVP_PKEY_free(v_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(ca_key);
}

/* ---- issuing ------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* Writes a CA as daemon/pki.c does: P-256, PKCS#8 key, CA:TRUE with a
 * subjectKeyIdentifier (when ski). */
static X509 *write_ca(const char *dir, const char *cert_name, const char *key_name, bool ski,
                      EVP_PKEY **ret_key)
{
    char path[512];
    EVP_PKEY *k = tu_key("P-256");
    X509_NAME *n = mk_name((const char *const[]){"O", "iotcored", "CN", "iotcored development CA",
                                                  NULL});
    X509 *ca = mk_cert(k, n, NULL, NULL, "20240101000000Z", "20440101000000Z", 77,
                       "critical,CA:TRUE", ski);
    char *pem = pem_of(ca);
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
        abort();
    char *key_pem = tu_bio_take_text(b);
    snprintf(path, sizeof(path), "%s/%s", dir, cert_name);
    write_text(path, pem);
    snprintf(path, sizeof(path), "%s/%s", dir, key_name);
    write_text(path, key_pem);
    free(key_pem);
    free(pem);
    X509_NAME_free(n);
    *ret_key = k;
    return ca;
}

static struct aws_issuer *load(const char *dir, const char *cert, const char *key, int want)
{
    char cp[512], kp[512];
    struct aws_issuer *is = NULL;
    snprintf(cp, sizeof(cp), "%s/%s", dir, cert);
    snprintf(kp, sizeof(kp), "%s/%s", dir, key);
    CHECK_EQ(aws_issuer_load(cp, kp, &is), want);
    return is;
}

/* The profile every issued certificate shares: signed by ca (and a full
 * verification as a TLS client certificate passes), notAfter exactly
 * 2049-12-31T23:59:59Z as UTCTime, notBefore a few minutes back, the
 * extensions. */
static void check_issued(X509 *x, X509 *ca, time_t t0)
{
    const ASN1_TIME *na = X509_get0_notAfter(x);
    ASN1_TIME *want = ASN1_TIME_new();
    time_t lo = t0 - 600, hi = time(NULL) + 1;

    CHECK_EQ(X509_verify(x, X509_get0_pubkey(ca)), 1);
    CHECK_EQ(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
    CHECK_EQ(X509_get_version(x), X509_VERSION_3);
    if (!want || !ASN1_TIME_set_string(want, "491231235959Z"))
        abort();
    CHECK_EQ(ASN1_STRING_type(na), V_ASN1_UTCTIME);
    CHECK_EQ(ASN1_TIME_compare(na, want), 0);
    ASN1_TIME_free(want);
    CHECK(X509_cmp_time(X509_get0_notBefore(x), &lo) > 0);
    CHECK(X509_cmp_time(X509_get0_notBefore(x), &hi) < 0);
    /* Backdated, so a verifier whose clock lags by a minute accepts it. */
    time_t lag = t0 - 60;
    CHECK(X509_cmp_time(X509_get0_notBefore(x), &lag) < 0);

    uint32_t flags = X509_get_extension_flags(x);
    CHECK(!(flags & EXFLAG_CA));
    CHECK(!(flags & EXFLAG_INVALID));
    int bc = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
    CHECK(bc >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, bc)));
    CHECK_EQ(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    int ku = X509_get_ext_by_NID(x, NID_key_usage, -1);
    CHECK(ku >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, ku)));
    CHECK_EQ(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
    CHECK(X509_get0_subject_key_id(x) != NULL);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *ca_ski = X509_get0_subject_key_id(ca);
    CHECK(aki && ca_ski && ASN1_OCTET_STRING_cmp(aki, ca_ski) == 0);
    /* Positive, and within RFC 5280's 20 octets. */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER && ASN1_STRING_length(serial) <= 20);

    /* What a TLS server does with it: chain to the CA, client purpose. */
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!st || !ctx || !X509_STORE_add_cert(st, ca) || !X509_STORE_CTX_init(ctx, st, x, NULL))
        abort();
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(ctx);
    if (!CHECK_EQ(ok, 1))
        fprintf(stderr, "  verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
}

static void test_issue_keys(struct aws_issuer *is, X509 *ca, EVP_PKEY **ret_device_key)
{
    char *cert = NULL, *pub = NULL, *priv = NULL, *cert2 = NULL, *pub2 = NULL, *priv2 = NULL;
    time_t t0 = time(NULL);

    if (!CHECK_EQ(aws_issue_keys_and_certificate(is, &cert, &pub, &priv), 0))
        return;
    CHECK(queue_empty());
    X509 *x = x509_of(cert);
    if (!CHECK(x != NULL))
        return;
    check_issued(x, ca, t0);

    struct aws_cert_info info;
    CHECK_EQ(aws_cert_parse_pem(cert, strlen(cert), &info, NULL, 0), 0);
    CHECK_STR(info.subject, "CN=AWS IoT Certificate");
    CHECK_STR(info.issuer, "CN=iotcored development CA,O=iotcored");
    CHECK_EQ(info.not_after_us, 2524607999LL * US);
    CHECK(!info.is_ca);
    CHECK_EQ(aws_cert_signed_by(cert, aws_issuer_ca_pem(is)), 1);

    /* The private key is PKCS#1 RSA-2048 and belongs to the certificate. */
    CHECK(strncmp(priv, "-----BEGIN RSA PRIVATE KEY-----\n", 32) == 0);
    CHECK(strncmp(pub, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
    BIO *b = BIO_new_mem_buf(priv, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    b = BIO_new_mem_buf(pub, -1);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (CHECK(k != NULL && pk != NULL)) {
        CHECK(EVP_PKEY_is_a(k, "RSA"));
        CHECK_EQ(EVP_PKEY_get_bits(k), 2048);
        CHECK_EQ(X509_check_private_key(x, k), 1);
        CHECK_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), pk), 1);
    }
    EVP_PKEY_free(pk);

    /* A second call: another key, another serial, another id. */
    CHECK_EQ(aws_issue_keys_and_certificate(is, &cert2, &pub2, &priv2), 0);
    X509 *y = cert2 ? x509_of(cert2) : NULL;
    if (CHECK(y != NULL)) {
        CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)) != 0);
        CHECK(strcmp(pub, pub2) != 0);
    }
    X509_free(y);
    free(cert2);
    free(pub2);
    free(priv2);

    *ret_device_key = k;
    X509_free(x);
    free(cert);
    free(pub);
    free(priv);
}

static void check_csr_refused(struct aws_issuer *is, const char *csr, const char *want_why,
                              int line)
{
    char why[256] = "";
    char *cert = (char *)"untouched";
    int rc = aws_issue_from_csr(is, csr, strlen(csr), &cert, why, sizeof(why));
    tu_checkf(rc == -EINVAL, __FILE__, line, "from_csr returned %d, want -EINVAL", rc);
    tu_checkf(strcmp(cert, "untouched") == 0, __FILE__, line, "ret was touched");
    tu_checkf(strcmp(why, want_why) == 0, __FILE__, line, "why \"%s\", want \"%s\"", why,
              want_why);
    tu_checkf(queue_empty(), __FILE__, line, "OpenSSL error queue not empty");
    ERR_clear_error();
}

static void check_csr_issued(struct aws_issuer *is, X509 *ca, EVP_PKEY *k, const X509_NAME *subj,
                             int line)
{
    char *csr = csr_pem(k, subj), *cert = NULL, why[256] = "";
    time_t t0 = time(NULL);
    int rc = aws_issue_from_csr(is, csr, strlen(csr), &cert, why, sizeof(why));
    tu_checkf(rc == 0, __FILE__, line, "from_csr %d: %s", rc, why);
    X509 *x = cert ? x509_of(cert) : NULL;
    if (tu_checkf(x != NULL, __FILE__, line, "no certificate")) {
        check_issued(x, ca, t0);
        tu_checkf(X509_NAME_cmp(X509_get_subject_name(x), subj) == 0, __FILE__, line,
                  "subject differs from the CSR's");
        tu_checkf(EVP_PKEY_eq(X509_get0_pubkey(x), k) == 1, __FILE__, line,
                  "key differs from the CSR's");
    }
    X509_free(x);
    free(cert);
    free(csr);
}

#define NOT_CSR "The certificate signing request is not a valid PEM-encoded CSR"

static void test_issue_csr(struct aws_issuer *is, X509 *ca, EVP_PKEY *rsa2048)
{
    X509_NAME *subj =
        mk_name((const char *const[]){"C", "DE", "O", "Acme", "CN", "sensor-7", NULL});
    X509_NAME *empty = X509_NAME_new();
    EVP_PKEY *p256 = tu_key("P-256"), *p384 = tu_key("P-384"), *p521 = tu_key("P-521"),
             *rsa1024 = tu_key("RSA-1024"), *ed = tu_key("ED25519");

    check_csr_issued(is, ca, p256, subj, __LINE__);
    check_csr_issued(is, ca, p384, empty, __LINE__);        /* an empty subject is allowed */
    if (rsa2048)
        check_csr_issued(is, ca, rsa2048, subj, __LINE__);

    /* Windows' label for the same thing. */
    char *csr = csr_pem(p256, subj);
    char *alt = xmalloc(strlen(csr) + 16);
    const char *body = strchr(csr, '\n') + 1;
    size_t body_len = (size_t)(strstr(csr, "-----END") - body);
    snprintf(alt, strlen(csr) + 16, "-----BEGIN NEW CERTIFICATE REQUEST-----\n%.*s"
             "-----END NEW CERTIFICATE REQUEST-----\n", (int)body_len, body);
    char *cert = NULL;
    CHECK_EQ(aws_issue_from_csr(is, alt, strlen(alt), &cert, NULL, 0), 0);
    free(cert);
    free(alt);

    /* Tampered: one byte of the subject changed after signing ("sensor-7"
     * -> "sensor-8"), so the CSR's self-signature no longer verifies. */
    uint8_t *der = NULL;
    size_t n = 0;
    if (CHECK_EQ(aws_cert_pem_block(csr, strlen(csr), "CERTIFICATE REQUEST", NULL, &der, &n), 0)) {
        uint8_t *hit = memmem(der, n, "sensor-7", 8);
        if (CHECK(hit != NULL)) {
            hit[7] = '8';
            char *b64 = tu_b64(der, n, TU_B64_STD_PADDED);
            char *tampered = xmalloc(strlen(b64) + 128);
            snprintf(tampered, strlen(b64) + 128,
                     "-----BEGIN CERTIFICATE REQUEST-----\n%s\n-----END CERTIFICATE REQUEST-----\n",
                     b64);
            check_csr_refused(is, tampered,
                              "The certificate signing request's signature is not valid",
                              __LINE__);
            free(tampered);
            free(b64);
        }
        free(der);
    }

    char *weak = csr_pem(rsa1024, subj);
    check_csr_refused(is, weak, "The CSR's RSA key is shorter than 2048 bits", __LINE__);
    char *c521 = csr_pem(p521, subj);
    check_csr_refused(is, c521, "The CSR's EC key is on a curve other than P-256 or P-384",
                      __LINE__);
    char *ced = csr_pem(ed, subj);
    check_csr_refused(is, ced, "The CSR's key is neither RSA nor EC", __LINE__);
    check_csr_refused(is, fixed_pem, NOT_CSR, __LINE__);
    check_csr_refused(is, "garbage", NOT_CSR, __LINE__);
    char *two = cat2(csr, csr);
    check_csr_refused(is, two, "The PEM must hold exactly one certificate signing request",
                      __LINE__);

    free(two);
    free(ced);
    free(c521);
    free(weak);
    free(csr);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(p256);
    X509_NAME_free(empty);
    X509_NAME_free(subj);
}

static void test_issuer(void)
{
    char dir[256];
    EVP_PKEY *ca_key = NULL, *ca2_key = NULL, *device_key = NULL;

    if (tu_mkdtemp(dir, sizeof(dir), "test_aws_cert") < 0) {
        FAIL("mkdtemp");
        return;
    }
    X509 *ca = write_ca(dir, "ca.pem", "ca.key", true, &ca_key);
    X509 *ca2 = write_ca(dir, "ca2.pem", "ca2.key", false, &ca2_key);

    /* Wrong key for the certificate, missing files, not PEM. */
    CHECK(load(dir, "ca.pem", "ca2.key", -EINVAL) == NULL);
    CHECK(load(dir, "missing.pem", "ca.key", -ENOENT) == NULL);
    CHECK(load(dir, "ca.pem", "missing.key", -ENOENT) == NULL);
    CHECK(load(dir, "ca.key", "ca.key", -EINVAL) == NULL);
    CHECK(queue_empty());
    aws_issuer_free(NULL);

    struct aws_issuer *is = load(dir, "ca.pem", "ca.key", 0);
    if (is) {
        struct aws_cert_info a, b;
        const char *pem = aws_issuer_ca_pem(is);
        char *want = pem_of(ca);
        CHECK_EQ(aws_cert_parse_pem(pem, strlen(pem), &a, NULL, 0), 0);
        CHECK_EQ(aws_cert_parse_pem(want, strlen(want), &b, NULL, 0), 0);
        CHECK_STR(a.id, b.id);
        free(want);

        test_issue_keys(is, ca, &device_key);
        test_issue_csr(is, ca, device_key);
        aws_issuer_free(is);
    }

    /* A CA without a subjectKeyIdentifier still issues (AKI falls back to
     * issuer and serial). */
    is = load(dir, "ca2.pem", "ca2.key", 0);
    if (is) {
        X509_NAME *subj = mk_name((const char *const[]){"CN", "x", NULL});
        EVP_PKEY *k = tu_key("P-256");
        char *csr = csr_pem(k, subj), *cert = NULL;
        CHECK_EQ(aws_issue_from_csr(is, csr, strlen(csr), &cert, NULL, 0), 0);
        X509 *x = cert ? x509_of(cert) : NULL;
        if (CHECK(x != NULL)) {
            CHECK_EQ(X509_verify(x, X509_get0_pubkey(ca2)), 1);
            CHECK(X509_get0_authority_issuer(x) != NULL);
        }
        X509_free(x);
        free(cert);
        free(csr);
        EVP_PKEY_free(k);
        X509_NAME_free(subj);
        aws_issuer_free(is);
    }

    EVP_PKEY_free(device_key);
    X509_free(ca2);
    X509_free(ca);
    EVP_PKEY_free(ca2_key);
    EVP_PKEY_free(ca_key);
    tu_tmpdir_cleanup(dir);
}

int main(void)
{
    test_fixed_vector();
    test_id_matches_openssl();
    test_parse_framing();
    test_validity();
    test_attrs();
    test_signed_by();
    test_verification();
    test_issuer();
    return tu_finish("aws_cert");
}
