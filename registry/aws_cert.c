/* AWS IoT X.509 rules, the reading half: strict PEM framing, the
 * certificate id (SHA-256 of the DER, as AWS and the TLS path compute it
 * [aws-iot-core.md 1.4]), what DescribeCertificate and the policy
 * variables show of a certificate (validity, subject and issuer attributes,
 * serial [2.4]), the one-level "did this CA sign it" rule, and the proof of
 * possession RegisterCACertificate asks for [1.6]. OpenSSL 3.0 stays inside
 * this file and aws_cert_issue.c; every public function leaves the
 * thread's OpenSSL error queue as it found it (set mark / pop to mark), so
 * a rejected certificate never shows up in an unrelated later error. */
#include "registry/aws_cert.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* AWS's CertificateValidationException texts, as close as is known. */
#define WHY_NOT_PEM "Certificate is not valid PEM"
#define WHY_NOT_X509 "The certificate is not a valid X.509 certificate"

static const char hexdigits[] = "0123456789abcdef";

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static void set_why(char *why, size_t why_len, const char *text)
{
    if (why && why_len > 0)
        snprintf(why, why_len, "%s", text);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(p[i]))
            return false;
    return true;
}

int aws_cert_id_der(const uint8_t *der, size_t len, char out[AWS_CERT_ID_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = 0;

    if (!der || len == 0 || !out)
        return -EINVAL;
    ERR_set_mark();
    if (!EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) || mdlen * 2 != AWS_CERT_ID_LEN)
        rc = -ENOMEM;       /* a built-in digest fails only for want of memory */
    else
        hex_lower(md, mdlen, out);
    ERR_pop_to_mark();
    return rc;
}

int aws_cert_pem_block(const char *pem, size_t len, const char *label, const char *alt_label,
                       uint8_t **ret, size_t *ret_len)
{
    static const char begin[] = "-----BEGIN ";
    char *name = NULL, *header = NULL, *rest = NULL;
    unsigned char *data = NULL;
    long dlen = 0, nrest;
    size_t lead = 0;
    uint8_t *out;
    BIO *b = NULL;
    int rc;

    if (!pem || !label || !ret || !ret_len)
        return -EINVAL;
    if (len > AWS_CERT_MAX_PEM)
        return -EMSGSIZE;
    /* A NUL would end the text for anyone reading it as a C string later,
     * so what was checked and what is stored could differ. */
    if (len == 0 || memchr(pem, '\0', len))
        return -EBADMSG;
    /* PEM_read_bio skips any text before a BEGIN line; AWS takes PEM, not
     * PEM with commentary, so only whitespace may come first. */
    while (lead < len && is_space(pem[lead]))
        lead++;
    if (len - lead < sizeof(begin) - 1 || memcmp(pem + lead, begin, sizeof(begin) - 1) != 0)
        return -EBADMSG;

    ERR_set_mark();
    b = BIO_new_mem_buf(pem + lead, (int)(len - lead));
    if (!b) {
        rc = -ENOMEM;
        goto out;
    }
    if (!PEM_read_bio(b, &name, &header, &data, &dlen) || dlen <= 0) {
        rc = -EBADMSG;
        goto out;
    }
    if (strcmp(name, label) != 0 && (!alt_label || strcmp(name, alt_label) != 0)) {
        rc = -EMEDIUMTYPE;
        goto out;
    }
    /* Proc-Type/DEK-Info headers mean an encrypted block: no certificate. */
    if (header && header[0] != '\0') {
        rc = -EBADMSG;
        goto out;
    }
    /* The memory BIO has consumed exactly the lines up to END. */
    nrest = BIO_get_mem_data(b, &rest);
    if (nrest > 0 && !all_space(rest, (size_t)nrest)) {
        rc = memmem(rest, (size_t)nrest, begin, sizeof(begin) - 1) ? -E2BIG : -EBADMSG;
        goto out;
    }
    out = malloc((size_t)dlen);
    if (!out) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(out, data, (size_t)dlen);
    *ret = out;
    *ret_len = (size_t)dlen;
    rc = 0;
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    /* Someone pastes a private key where a certificate goes: its bytes
     * passed through here, so they are wiped like key material. */
    OPENSSL_clear_free(data, dlen > 0 ? (size_t)dlen : 0);
    BIO_free(b);
    ERR_pop_to_mark();
    return rc;
}

/* One DER certificate, every byte of it (trailing bytes are no part of the
 * certificate but would be part of the hashed id). NULL when it is not. */
static X509 *der_to_x509(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (!der || len == 0 || len > LONG_MAX)
        return NULL;
    x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* PEM text -> certificate and its DER. Returns aws_cert_pem_block's codes,
 * or -EINVAL when the block's content is not a certificate. Call inside an
 * error mark. */
static int pem_to_x509(const char *pem, size_t len, X509 **ret_x, uint8_t **ret_der,
                       size_t *ret_len)
{
    uint8_t *der = NULL;
    size_t n = 0;
    X509 *x;
    int rc = aws_cert_pem_block(pem, len, "CERTIFICATE", NULL, &der, &n);

    if (rc < 0)
        return rc;
    x = der_to_x509(der, n);
    if (!x) {
        free(der);
        return -EINVAL;
    }
    *ret_x = x;
    if (ret_der) {
        *ret_der = der;
        *ret_len = n;
    } else {
        free(der);
    }
    return 0;
}

/* A NUL-terminated PEM (the stored and API forms) as a certificate. */
static int pem_str_to_x509(const char *pem, X509 **ret)
{
    if (!pem)
        return -EINVAL;
    return pem_to_x509(pem, strnlen(pem, AWS_CERT_MAX_PEM + 1), ret, NULL, NULL) < 0 ? -EINVAL
                                                                                     : 0;
}

int aws_cert_pem_to_der(const char *pem, size_t len, uint8_t **ret, size_t *ret_len)
{
    X509 *x = NULL;
    int rc;

    if (!ret || !ret_len)
        return -EINVAL;
    ERR_set_mark();
    rc = pem_to_x509(pem, len, &x, ret, ret_len);
    X509_free(x);
    ERR_pop_to_mark();
    return rc == -ENOMEM ? rc : rc < 0 ? -EINVAL : 0;
}

static void name_text(const X509_NAME *name, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL;
    long n;

    out[0] = '\0';
    /* RFC 2253 flags escape every byte >= 0x80 and control bytes, so the
     * text is ASCII and a cut can never split a character. */
    if (!b || X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return;
    }
    n = BIO_get_mem_data(b, &text);
    if (n > 0 && text) {
        size_t k = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
        memcpy(out, text, k);
        out[k] = '\0';
    }
    BIO_free(b);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). Done by hand because time_t and timegm differ between
 * platforms, and notAfter 9999-12-31 must still come out right. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* UTCTime (years 1950-2049) and GeneralizedTime (2050 on, as RFC 5280
 * requires) both go through ASN1_TIME_to_tm, which knows the two-digit
 * year rule and any offset. */
static int time_us(const ASN1_TIME *t, int64_t *ret)
{
    struct tm tm;
    int64_t s;

    /* ASN1_TIME_to_tm(NULL) would mean "now". */
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -EINVAL;
    s = days_from_civil((int64_t)tm.tm_year + 1900, (int64_t)tm.tm_mon + 1, tm.tm_mday) * 86400 +
        (int64_t)tm.tm_hour * 3600 + (int64_t)tm.tm_min * 60 + tm.tm_sec;
    *ret = s * 1000000;
    return 0;
}

static int fill_info(X509 *x, const uint8_t *der, size_t len, struct aws_cert_info *ret)
{
    struct aws_cert_info info;
    uint32_t flags;
    int rc;

    memset(&info, 0, sizeof(info));
    if ((rc = aws_cert_id_der(der, len, info.id)) < 0)
        return rc;
    if (time_us(X509_get0_notBefore(x), &info.not_before_us) < 0 ||
        time_us(X509_get0_notAfter(x), &info.not_after_us) < 0)
        return -EINVAL;
    /* EXFLAG_INVALID: an extension OpenSSL could not decode, or one given
     * twice; a TLS stack would refuse such a certificate anyway. */
    flags = X509_get_extension_flags(x);
    if (flags & EXFLAG_INVALID)
        return -EINVAL;
    info.is_ca = (flags & EXFLAG_CA) != 0;
    name_text(X509_get_subject_name(x), info.subject, sizeof(info.subject));
    name_text(X509_get_issuer_name(x), info.issuer, sizeof(info.issuer));
    *ret = info;
    return 0;
}

int aws_cert_parse_pem(const char *pem, size_t len, struct aws_cert_info *ret, char *why,
                       size_t why_len)
{
    uint8_t *der = NULL;
    size_t n = 0;
    X509 *x = NULL;
    int rc;

    if (!ret)
        return -EINVAL;
    ERR_set_mark();
    rc = pem_to_x509(pem, len, &x, &der, &n);
    if (rc == 0) {
        rc = fill_info(x, der, n, ret);
        if (rc == -EINVAL)
            set_why(why, why_len, WHY_NOT_X509);
    } else if (rc == -EMSGSIZE) {
        set_why(why, why_len, "Certificate PEM is longer than 65536 characters");
    } else if (rc == -E2BIG) {
        set_why(why, why_len, "Certificate PEM must hold exactly one certificate");
    } else if (rc == -EMEDIUMTYPE || rc == -EINVAL) {
        /* A private key or a CSR is valid PEM, just no certificate. */
        set_why(why, why_len, WHY_NOT_X509);
    } else if (rc != -ENOMEM) {
        set_why(why, why_len, WHY_NOT_PEM);
    }
    if (rc < 0 && rc != -ENOMEM)
        rc = -EINVAL;
    X509_free(x);
    free(der);
    ERR_pop_to_mark();
    return rc;
}

int aws_cert_parse_der(const uint8_t *der, size_t len, struct aws_cert_info *ret)
{
    X509 *x;
    int rc;

    if (!ret)
        return -EINVAL;
    ERR_set_mark();
    x = der_to_x509(der, len);
    rc = x ? fill_info(x, der, len, ret) : -EINVAL;
    X509_free(x);
    ERR_pop_to_mark();
    return rc;
}

/* ---- attributes for policy variables ------------------------------------ */

/* The attributes AWS names [aws-iot-core.md 2.4]; others are left out. */
static const struct {
    int nid;
    const char *name;
} attr_names[] = {
    {NID_commonName, "CommonName"},
    {NID_organizationName, "Organization"},
    {NID_organizationalUnitName, "OrganizationalUnit"},
    {NID_countryName, "Country"},
    {NID_stateOrProvinceName, "State"},
    {NID_serialNumber, "SerialNumber"},
    {NID_dnQualifier, "DistinguishedNameQualifier"},
    {NID_title, "Title"},
    {NID_surname, "Surname"},
    {NID_givenName, "GivenName"},
    {NID_initials, "Initials"},
    {NID_pseudonym, "Pseudonym"},
    {NID_generationQualifier, "GenerationQualifier"},
};

static const char *attr_name(int nid)
{
    for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
        if (attr_names[i].nid == nid)
            return attr_names[i].name;
    return NULL;
}

/* One named attribute value on its way into the storage block. */
struct attr_tmp {
    const char *name;
    unsigned char *utf8;        /* owned, OPENSSL_malloc'd */
    size_t len;
};

/* Converts the named entries of n into tmp[*k...], adding their string
 * bytes (with NULs) to *bytes. */
static int collect(const X509_NAME *n, struct attr_tmp *tmp, size_t *k, size_t *bytes)
{
    int count = X509_NAME_entry_count(n);

    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
        const char *name = attr_name(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
        unsigned char *utf8 = NULL;
        int len;

        if (!name)
            continue;
        /* Values go out byte for byte: '*', '?', '/' and non-ASCII stay
         * literal, policy substitution is what treats them as text. */
        len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (len < 0)
            return -EINVAL;
        if (memchr(utf8, '\0', (size_t)len)) {
            OPENSSL_free(utf8);
            return -EINVAL;
        }
        tmp[*k].name = name;
        tmp[*k].utf8 = utf8;
        tmp[*k].len = (size_t)len;
        (*k)++;
        *bytes += strlen(name) + 1 + (size_t)len + 1;
    }
    return 0;
}

static int serial_hex(const X509 *x, char *out, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    int rc = -EINVAL;

    if (!hex) {
        rc = bn ? -ENOMEM : -EINVAL;
        goto out;
    }
    size_t n = strlen(hex);
    if (n < cap) {
        for (size_t i = 0; i <= n; i++)
            out[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] - 'A' + 'a') : hex[i];
        rc = 0;
    }
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int aws_cert_attrs_der(const uint8_t *der, size_t len, struct aws_cert_attrs *ret)
{
    struct aws_cert_attrs a;
    struct attr_tmp *tmp = NULL;
    size_t k = 0, n_subject = 0, bytes = 0, total;
    X509 *x;
    int rc;

    if (!ret)
        return -EINVAL;
    memset(&a, 0, sizeof(a));
    ERR_set_mark();
    x = der_to_x509(der, len);
    if (!x) {
        rc = -EINVAL;
        goto out;
    }
    if ((rc = serial_hex(x, a.serial, sizeof(a.serial))) < 0)
        goto out;
    total = (size_t)X509_NAME_entry_count(X509_get_subject_name(x)) +
            (size_t)X509_NAME_entry_count(X509_get_issuer_name(x));
    if (total > 0) {
        tmp = calloc(total, sizeof(*tmp));
        if (!tmp) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if ((rc = collect(X509_get_subject_name(x), tmp, &k, &bytes)) < 0)
        goto out;
    n_subject = k;
    if ((rc = collect(X509_get_issuer_name(x), tmp, &k, &bytes)) < 0)
        goto out;

    if (k > 0) {
        /* One block: the pair arrays first (malloc's alignment), then the
         * strings, so one free releases everything. */
        char *block = malloc(k * sizeof(struct aws_kv) + bytes);
        if (!block) {
            rc = -ENOMEM;
            goto out;
        }
        struct aws_kv *kv = (struct aws_kv *)(void *)block;
        char *s = block + k * sizeof(struct aws_kv);
        for (size_t i = 0; i < k; i++) {
            size_t nl = strlen(tmp[i].name) + 1;
            memcpy(s, tmp[i].name, nl);
            kv[i].name = s;
            s += nl;
            memcpy(s, tmp[i].utf8, tmp[i].len);
            s[tmp[i].len] = '\0';
            kv[i].value = s;
            s += tmp[i].len + 1;
        }
        a.storage = block;
        a.subject = n_subject > 0 ? kv : NULL;
        a.n_subject = n_subject;
        a.issuer = k > n_subject ? kv + n_subject : NULL;
        a.n_issuer = k - n_subject;
    }
    *ret = a;
    rc = 0;
out:
    for (size_t i = 0; i < k; i++)
        OPENSSL_free(tmp[i].utf8);
    free(tmp);
    X509_free(x);
    ERR_pop_to_mark();
    return rc;
}

void aws_cert_attrs_clear(struct aws_cert_attrs *a)
{
    if (!a)
        return;
    free(a->storage);
    memset(a, 0, sizeof(*a));
}

/* ---- who signed what ---------------------------------------------------- */

/* One level, no chain, no clock: the issuer name is the CA's subject (RFC
 * 5280 comparison) and the CA's key verifies the signature. */
static bool x509_signed_by(X509 *cert, X509 *ca)
{
    EVP_PKEY *k = X509_get0_pubkey(ca);

    return k && X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)) == 0 &&
           X509_verify(cert, k) == 1;
}

int aws_cert_signed_by(const char *cert_pem, const char *ca_pem)
{
    X509 *cert = NULL, *ca = NULL;
    int rc;

    ERR_set_mark();
    if ((rc = pem_str_to_x509(cert_pem, &cert)) == 0 && (rc = pem_str_to_x509(ca_pem, &ca)) == 0)
        rc = x509_signed_by(cert, ca) ? 1 : 0;
    X509_free(cert);
    X509_free(ca);
    ERR_pop_to_mark();
    return rc;
}

/* Whether the subject holds exactly one CommonName and it is code. Two CNs
 * would leave it open which one was meant. */
static bool cn_is(X509 *x, const char *code)
{
    const X509_NAME *n = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    bool ok;
    int len;

    if (i < 0 || X509_NAME_get_index_by_NID(n, NID_commonName, i) >= 0)
        return false;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    if (len < 0)
        return false;
    ok = (size_t)len == strlen(code) && memcmp(utf8, code, (size_t)len) == 0;
    OPENSSL_free(utf8);
    return ok;
}

int aws_cert_check_verification(const char *ca_pem, const char *verification_pem,
                                const char *registration_code, char *why, size_t why_len)
{
    X509 *ca = NULL, *v = NULL;
    int rc;

    if (!registration_code)
        return -EINVAL;
    ERR_set_mark();
    if (pem_str_to_x509(ca_pem, &ca) < 0) {
        set_why(why, why_len, "The CA certificate is not a valid X.509 certificate");
        rc = -EINVAL;
    } else if (pem_str_to_x509(verification_pem, &v) < 0) {
        set_why(why, why_len, "The verification certificate is not a valid X.509 certificate");
        rc = -EINVAL;
    } else if (!x509_signed_by(v, ca)) {
        set_why(why, why_len,
                "The verification certificate is not signed by the CA certificate's private key");
        rc = -EACCES;
    } else if (!cn_is(v, registration_code)) {
        set_why(why, why_len,
                "The verification certificate's CommonName is not the registration code");
        rc = -EACCES;
    } else {
        rc = 0;
    }
    X509_free(ca);
    X509_free(v);
    ERR_pop_to_mark();
    return rc;
}

int aws_registration_code(char out[AWS_CERT_ID_LEN + 1])
{
    unsigned char r[AWS_CERT_ID_LEN / 2];
    int rc = 0;

    if (!out)
        return -EINVAL;
    ERR_set_mark();
    if (RAND_bytes(r, (int)sizeof(r)) != 1)
        rc = -EIO;
    else
        hex_lower(r, sizeof(r), out);
    ERR_pop_to_mark();
    return rc;
}
