/* AWS IoT X.509 rules, the issuing half: the daemon's CA (data_dir/ca.pem
 * and ca.key, made by daemon/pki.c) signs the device certificates of
 * CreateKeysAndCertificate and CreateCertificateFromCsr. What AWS issues
 * [aws-iot-core.md 5.2]: subject "CN=AWS IoT Certificate" (or the CSR's),
 * an RSA-2048 key pair, notAfter 2049-12-31T23:59:59Z, and the extensions
 * an AWS-issued certificate carries (AKI, SKI, basicConstraints critical
 * CA:FALSE, keyUsage critical digitalSignature), plus extendedKeyUsage
 * clientAuth, which AWS leaves out: a device certificate is only ever a TLS
 * client certificate, and saying so costs no verifier anything. Private
 * keys leave as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), the form AWS
 * returns; every buffer that held one is wiped before it is freed. The
 * OpenSSL error queue is left as it was found. */
#include "registry/aws_cert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Backdating notBefore: the daemon checks validity with the same clock
 * that issued, so this only helps other verifiers (a device library that
 * checks its own certificate, a second broker, a container whose clock
 * lags the host's). Five minutes is the skew AWS already tolerates
 * elsewhere (SigV4 request times) and still reads as "issued now". */
#define ISSUE_BACKDATE_SECONDS 300
/* "Certificates created by AWS expire 2049-12-31T23:59:59Z"; before 2050,
 * so ASN1_TIME_set_string_X509 stores it as UTCTime (RFC 5280 4.1.2.5). */
#define ISSUE_NOT_AFTER "20491231235959Z"
#define ISSUE_SUBJECT_CN "AWS IoT Certificate"
#define ISSUE_RSA_BITS 2048
/* A key file far larger than this is no key (an RSA-16384 PEM is ~12 KB). */
#define KEY_FILE_MAX (64 * 1024)

struct aws_issuer {
    X509 *ca;               /* owned */
    EVP_PKEY *key;          /* owned: the CA's private key */
    char *ca_pem;           /* owned: ca re-encoded, exactly one block */
};

static void set_why(char *why, size_t why_len, const char *text)
{
    if (why && why_len > 0)
        snprintf(why, why_len, "%s", text);
}

static void free_secret(char *buf, size_t len)
{
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}

/* Reads a small regular file whole, NUL-terminated. Returns 0, -errno,
 * -EFBIG over max. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    struct stat st;
    size_t got = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            free_secret(buf, got);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *ret = buf;
    *ret_len = got;
    return 0;
}

/* An encrypted key must fail, not prompt on the daemon's terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The contents of a memory BIO as a malloc'd string; secret ones are
 * wiped in the BIO by the caller's choice of BIO_s_secmem. */
static int bio_to_str(BIO *b, char **ret)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s;

    if (n <= 0 || !p)
        return -EIO;
    s = malloc((size_t)n + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    *ret = s;
    return 0;
}

static int cert_to_pem(X509 *x, char **ret)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc;

    if (!b)
        return -ENOMEM;
    rc = PEM_write_bio_X509(b, x) ? bio_to_str(b, ret) : -EIO;
    BIO_free(b);
    return rc;
}

int aws_issuer_load(const char *ca_cert_path, const char *ca_key_path, struct aws_issuer **ret)
{
    struct aws_issuer *is;
    char *cert_text = NULL, *key_text = NULL;
    size_t cert_len = 0, key_len = 0;
    BIO *b;
    int rc;

    if (!ca_cert_path || !ca_key_path || !ret)
        return -EINVAL;
    is = calloc(1, sizeof(*is));
    if (!is)
        return -ENOMEM;
    ERR_set_mark();
    if ((rc = read_file(ca_cert_path, AWS_CERT_MAX_PEM, &cert_text, &cert_len)) < 0 ||
        (rc = read_file(ca_key_path, KEY_FILE_MAX, &key_text, &key_len)) < 0)
        goto out;
    /* The first CERTIFICATE block, as daemon/pki.c reads it; ca_pem is that
     * one certificate re-encoded, whatever else the file held. */
    b = BIO_new_mem_buf(cert_text, (int)cert_len);
    is->ca = b ? PEM_read_bio_X509(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    b = BIO_new_mem_buf(key_text, (int)key_len);
    is->key = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    if (!is->ca || !is->key || X509_check_private_key(is->ca, is->key) != 1) {
        rc = -EINVAL;
        goto out;
    }
    if ((rc = cert_to_pem(is->ca, &is->ca_pem)) < 0)
        goto out;
    *ret = is;
    is = NULL;
    rc = 0;
out:
    free(cert_text);
    free_secret(key_text, key_len);
    aws_issuer_free(is);
    ERR_pop_to_mark();
    return rc;
}

void aws_issuer_free(struct aws_issuer *is)
{
    if (!is)
        return;
    X509_free(is->ca);
    EVP_PKEY_free(is->key);     /* OpenSSL clears the private numbers */
    free(is->ca_pem);
    free(is);
}

const char *aws_issuer_ca_pem(const struct aws_issuer *is)
{
    return is ? is->ca_pem : NULL;
}

/* ---- signing ------------------------------------------------------------ */

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (!ext)
        return false;
    ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A random positive 128-bit serial: RFC 5280 wants serials unique per CA,
 * and with no serial file to keep, randomness is how to get that (AWS's own
 * look random too). At most 17 DER octets, inside RFC 5280's 20. */
static bool set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    bool ok = false;

    if (!bn)
        return false;
    do {
        if (!BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
            goto out;
    } while (BN_is_zero(bn));
    ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
out:
    BN_free(bn);
    return ok;
}

/* Signs pub under subject with the CA: the one certificate profile both
 * operations issue. Returns 0, -ENOMEM, -EIO. */
static int issue(const struct aws_issuer *is, EVP_PKEY *pub, const X509_NAME *subject,
                 char **ret_pem)
{
    X509 *x = X509_new();
    const EVP_MD *md;
    bool ok;
    int rc;

    if (!x)
        return -ENOMEM;
    ok = X509_set_version(x, X509_VERSION_3);
    ok = ok && set_random_serial(x);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -ISSUE_BACKDATE_SECONDS);
    ok = ok && ASN1_TIME_set_string_X509(X509_getm_notAfter(x), ISSUE_NOT_AFTER);
    ok = ok && X509_set_subject_name(x, subject);
    ok = ok && X509_set_issuer_name(x, X509_get_subject_name(is->ca));
    ok = ok && X509_set_pubkey(x, pub);
    ok = ok && add_ext(x, is->ca, NID_basic_constraints, "critical,CA:FALSE");
    /* Only digitalSignature, as on AWS-issued certificates: TLS 1.3 and
     * ECDHE suites never encipher a key with the certificate's key. */
    ok = ok && add_ext(x, is->ca, NID_key_usage, "critical,digitalSignature");
    ok = ok && add_ext(x, is->ca, NID_ext_key_usage, "clientAuth");
    ok = ok && add_ext(x, is->ca, NID_subject_key_identifier, "hash");
    /* keyid when the CA has a subjectKeyIdentifier (the daemon's does);
     * otherwise issuer name and serial, rather than failing. */
    ok = ok && add_ext(x, is->ca, NID_authority_key_identifier, "keyid,issuer");
    /* EdDSA signs the message itself: no separate digest. */
    md = EVP_PKEY_is_a(is->key, "ED25519") || EVP_PKEY_is_a(is->key, "ED448") ? NULL
                                                                                : EVP_sha256();
    ok = ok && X509_sign(x, is->key, md) > 0;
    rc = ok ? cert_to_pem(x, ret_pem) : -EIO;
    X509_free(x);
    return rc;
}

static int public_pem(EVP_PKEY *k, char **ret)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc;

    if (!b)
        return -ENOMEM;
    rc = PEM_write_bio_PUBKEY(b, k) ? bio_to_str(b, ret) : -EIO;
    BIO_free(b);
    return rc;
}

/* PKCS#1 ("BEGIN RSA PRIVATE KEY"), what CreateKeysAndCertificate returns.
 * The secure-memory BIO clears its buffer when freed. */
static int private_pem(EVP_PKEY *k, char **ret)
{
    BIO *b = BIO_new(BIO_s_secmem());
    int rc;

    if (!b)
        return -ENOMEM;
    rc = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL)
             ? bio_to_str(b, ret)
             : -EIO;
    BIO_free(b);
    return rc;
}

int aws_issue_keys_and_certificate(const struct aws_issuer *is, char **ret_cert_pem,
                                   char **ret_public_pem, char **ret_private_pem)
{
    char *cert = NULL, *pub = NULL, *priv = NULL;
    X509_NAME *subject = NULL;
    EVP_PKEY *key = NULL;
    int rc;

    if (!is || !ret_cert_pem || !ret_public_pem || !ret_private_pem)
        return -EINVAL;
    ERR_set_mark();
    key = EVP_RSA_gen(ISSUE_RSA_BITS);
    subject = X509_NAME_new();
    if (!key || !subject) {
        rc = key ? -ENOMEM : -EIO;
        goto out;
    }
    if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)ISSUE_SUBJECT_CN, -1, -1, 0)) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = issue(is, key, subject, &cert)) < 0 || (rc = public_pem(key, &pub)) < 0 ||
        (rc = private_pem(key, &priv)) < 0)
        goto out;
    *ret_cert_pem = cert;
    *ret_public_pem = pub;
    *ret_private_pem = priv;
    cert = pub = priv = NULL;
    rc = 0;
out:
    free(cert);
    free(pub);
    if (priv)
        free_secret(priv, strlen(priv));
    X509_NAME_free(subject);
    EVP_PKEY_free(key);
    ERR_pop_to_mark();
    return rc;
}

/* The keys AWS IoT takes for device certificates [aws-iot-core.md 1.3]:
 * RSA of 2048 bits or more, ECDSA on P-256 or P-384. DSA, EdDSA and the
 * other curves are refused rather than signed into a certificate no TLS
 * client could use here. */
static bool key_acceptable(EVP_PKEY *k, char *why, size_t why_len)
{
    char group[64];

    if (EVP_PKEY_is_a(k, "RSA")) {
        if (EVP_PKEY_get_bits(k) >= 2048)
            return true;
        set_why(why, why_len, "The CSR's RSA key is shorter than 2048 bits");
        return false;
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        if (EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0))
            return true;
        set_why(why, why_len, "The CSR's EC key is on a curve other than P-256 or P-384");
        return false;
    }
    set_why(why, why_len, "The CSR's key is neither RSA nor EC");
    return false;
}

int aws_issue_from_csr(const struct aws_issuer *is, const char *csr_pem, size_t len,
                       char **ret_cert_pem, char *why, size_t why_len)
{
    const unsigned char *p;
    uint8_t *der = NULL;
    size_t n = 0;
    X509_REQ *req = NULL;
    EVP_PKEY *pub;
    char *cert = NULL;
    int rc;

    if (!is || !ret_cert_pem)
        return -EINVAL;
    ERR_set_mark();
    /* "NEW CERTIFICATE REQUEST" is what Windows' certreq and old Netscape
     * tools write; OpenSSL reads both. */
    rc = aws_cert_pem_block(csr_pem, len, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", &der,
                            &n);
    if (rc == -ENOMEM)
        goto out;
    if (rc == -EMSGSIZE) {
        set_why(why, why_len, "The certificate signing request is longer than 65536 characters");
        rc = -EINVAL;
        goto out;
    }
    if (rc == -E2BIG) {
        set_why(why, why_len, "The PEM must hold exactly one certificate signing request");
        rc = -EINVAL;
        goto out;
    }
    if (rc < 0) {
        set_why(why, why_len, "The certificate signing request is not a valid PEM-encoded CSR");
        rc = -EINVAL;
        goto out;
    }
    p = der;
    req = n <= LONG_MAX ? d2i_X509_REQ(NULL, &p, (long)n) : NULL;
    pub = req && p == der + n ? X509_REQ_get0_pubkey(req) : NULL;
    if (!pub) {
        set_why(why, why_len, "The certificate signing request is not a valid PKCS#10 request");
        rc = -EINVAL;
        goto out;
    }
    /* Proof that whoever sent the CSR holds the private key. */
    if (X509_REQ_verify(req, pub) != 1) {
        set_why(why, why_len, "The certificate signing request's signature is not valid");
        rc = -EINVAL;
        goto out;
    }
    if (!key_acceptable(pub, why, why_len)) {
        rc = -EINVAL;
        goto out;
    }
    /* Only the key and subject are taken: extensions the CSR asks for
     * (subjectAltName...) are not copied, the profile is the CA's. */
    if ((rc = issue(is, pub, X509_REQ_get_subject_name(req), &cert)) < 0)
        goto out;
    *ret_cert_pem = cert;
    rc = 0;
out:
    X509_REQ_free(req);
    free(der);
    ERR_pop_to_mark();
    return rc;
}
