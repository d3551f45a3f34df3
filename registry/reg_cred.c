/* Device credentials. Owns what a stored publicKey may be (one PEM block of
 * the kind its format names, a key of the right type and strength, a
 * certificate that has not expired) and turns a credential into the
 * SubjectPublicKeyInfo PEM that libjwt verifies with. OpenSSL 3.0 EVP and
 * PEM APIs only; the OpenSSL error queue is left as it was found, so a
 * refused key never leaks a stale error into another module's report. */
#include "registry/reg_cred.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
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

/* A certificate of an 8192-bit RSA key is about 3 KB of PEM; anything far
 * larger is not a device credential and is not worth handing to a parser. */
#define CRED_PEM_MAX 65536
/* Google advertised "enforcement for strong key sizes"; every documented
 * example is RSA-2048 (reference google-iot-core.md section 4). */
#define RSA_MIN_BITS 2048

static const struct {
    enum db_key_format format;
    const char *name;
    long proto_number;      /* google.cloud.iot.v1.PublicKeyFormat */
    enum reg_key_type key_type;
    bool x509;
} formats[] = {
    { DB_KEY_RSA_PEM, "RSA_PEM", 3, REG_KEY_RSA, false },
    { DB_KEY_RSA_X509_PEM, "RSA_X509_PEM", 1, REG_KEY_RSA, true },
    { DB_KEY_ES256_PEM, "ES256_PEM", 2, REG_KEY_EC_P256, false },
    { DB_KEY_ES256_X509_PEM, "ES256_X509_PEM", 4, REG_KEY_EC_P256, true },
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static int format_index(enum db_key_format f) {
    for (size_t i = 0; i < N_FORMATS; i++)
        if (formats[i].format == f)
            return (int)i;
    return -1;
}

int reg_cred_format_parse(const char *s, enum db_key_format *ret) {
    if (!s || !ret)
        return -EINVAL;
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strcmp(s, formats[i].name) == 0) {
            *ret = formats[i].format;
            return 0;
        }
    return -EINVAL;
}

int reg_cred_format_from_number(long n, enum db_key_format *ret) {
    if (!ret)
        return -EINVAL;
    /* 0 is UNSPECIFIED_PUBLIC_KEY_FORMAT, which Google refused. */
    for (size_t i = 0; i < N_FORMATS; i++)
        if (formats[i].proto_number == n) {
            *ret = formats[i].format;
            return 0;
        }
    return -EINVAL;
}

const char *reg_cred_format_name(enum db_key_format f) {
    int i = format_index(f);
    /* Never NULL, so a caller can hand it to printf or json_string as is. */
    return i < 0 ? "UNSPECIFIED_PUBLIC_KEY_FORMAT" : formats[i].name;
}

enum reg_key_type reg_cred_format_key_type(enum db_key_format f) {
    int i = format_index(f);
    return i < 0 ? (enum reg_key_type)0 : formats[i].key_type;
}

static void set_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t why_len, const char *fmt, ...) {
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static bool only_space(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)p[i]))
            return false;
    return true;
}

/* What was in the one PEM block: exactly one of pkey (a PUBLIC KEY block) or
 * cert (a CERTIFICATE block) is set; pkey_view is the key to check either
 * way (borrowed from the certificate in the second case). */
struct loaded {
    EVP_PKEY *pkey;
    X509 *cert;
    EVP_PKEY *pkey_view;
};

static void loaded_free(struct loaded *l) {
    EVP_PKEY_free(l->pkey);
    X509_free(l->cert);
    *l = (struct loaded){ 0 };
}

/* Reads exactly one PEM block of the kind the format names, surrounded by
 * nothing but whitespace, and decodes its DER completely. Leading text (as
 * `openssl x509 -text` writes) is refused like trailing text: a stored
 * credential is exactly one key, so what is shown back is what verifies. */
static int load_credential(enum db_key_format format, const char *pem, char *why, size_t why_len,
                           struct loaded *ret) {
    int fi = format_index(format);
    if (fi < 0) {
        set_why(why, why_len, "unknown public key format");
        return -EINVAL;
    }
    const char *want = formats[fi].x509 ? "CERTIFICATE" : "PUBLIC KEY";
    if (!pem || !pem[0]) {
        set_why(why, why_len, "key is empty; expected a %s PEM block", want);
        return -EINVAL;
    }
    size_t len = strnlen(pem, CRED_PEM_MAX + 1);
    if (len > CRED_PEM_MAX) {
        set_why(why, why_len, "key is longer than %d bytes", CRED_PEM_MAX);
        return -EINVAL;
    }
    size_t lead = 0;
    while (lead < len && isspace((unsigned char)pem[lead]))
        lead++;
    if (len - lead < 11 || memcmp(pem + lead, "-----BEGIN ", 11) != 0) {
        set_why(why, why_len, "not a PEM block; expected \"-----BEGIN %s-----\"", want);
        return -EINVAL;
    }

    int r = -EINVAL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    struct loaded l = { 0 };
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        set_why(why, why_len, "out of memory");
        return -ENOMEM;
    }
    if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
        set_why(why, why_len, "malformed PEM block");
        goto out;
    }
    /* A read-only memory BIO hands back what PEM_read_bio did not consume. */
    char *rest = NULL;
    long rest_len = BIO_get_mem_data(bio, &rest);
    if (rest_len > 0 && !only_space(rest, (size_t)rest_len)) {
        if (memmem(rest, (size_t)rest_len, "-----BEGIN ", 11))
            set_why(why, why_len, "more than one PEM block; exactly one is allowed");
        else
            set_why(why, why_len, "unexpected text after the PEM block");
        goto out;
    }
    if (strcmp(name, want) != 0) {
        set_why(why, why_len, "%s requires a %s PEM block, not %.40s", formats[fi].name, want,
                name);
        goto out;
    }
    if (header && header[0]) {
        set_why(why, why_len, "PEM headers (encrypted or annotated) are not supported; a plain %s "
                "block is required", want);
        goto out;
    }
    const unsigned char *p = data;
    if (formats[fi].x509) {
        l.cert = d2i_X509(NULL, &p, dlen);
        if (!l.cert || p != data + dlen) {
            set_why(why, why_len, "not a valid X.509 certificate");
            goto out;
        }
        l.pkey_view = X509_get0_pubkey(l.cert);
        if (!l.pkey_view) {
            set_why(why, why_len, "the certificate's public key cannot be read");
            goto out;
        }
    } else {
        l.pkey = d2i_PUBKEY(NULL, &p, dlen);
        if (!l.pkey || p != data + dlen) {
            set_why(why, why_len, "not a valid SubjectPublicKeyInfo public key");
            goto out;
        }
        l.pkey_view = l.pkey;
    }
    *ret = l;
    l = (struct loaded){ 0 };
    r = 0;
out:
    loaded_free(&l);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return r;
}

/* The key type must be the one the format promises: the JWT verifier picks
 * RS256 or ES256 from the format, never from the token. */
static int check_key_type(enum db_key_format format, EVP_PKEY *pkey, bool strength, char *why,
                          size_t why_len) {
    const char *fname = reg_cred_format_name(format);
    if (reg_cred_format_key_type(format) == REG_KEY_RSA) {
        /* "RSA" only: an RSA-PSS-restricted key cannot verify RS256. */
        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            const char *t = EVP_PKEY_get0_type_name(pkey);
            set_why(why, why_len, "%s requires an RSA key, not %s", fname,
                    t ? t : "this key type");
            return -EINVAL;
        }
        int bits = EVP_PKEY_get_bits(pkey);
        if (strength && bits < RSA_MIN_BITS) {
            set_why(why, why_len, "RSA key is %d bits; at least %d are required", bits,
                    RSA_MIN_BITS);
            return -EINVAL;
        }
        return 0;
    }
    if (!EVP_PKEY_is_a(pkey, "EC")) {
        const char *t = EVP_PKEY_get0_type_name(pkey);
        set_why(why, why_len, "%s requires an EC P-256 key, not %s", fname,
                t ? t : "this key type");
        return -EINVAL;
    }
    char group[80];
    size_t glen = 0;
    if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen)) {
        set_why(why, why_len,
                "EC key has explicit curve parameters; only the named curve P-256 (prime256v1) "
                "is accepted");
        return -EINVAL;
    }
    if (OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
        set_why(why, why_len, "EC key is on curve %s; only P-256 (prime256v1) is accepted", group);
        return -EINVAL;
    }
    return 0;
}

static int check_not_expired(X509 *cert, int64_t now_us, char *why, size_t why_len) {
    const ASN1_TIME *na = X509_get0_notAfter(cert);
    time_t now = (time_t)(now_us / 1000000);
    int c = na ? X509_cmp_time(na, &now) : 0;
    if (c == 0) {
        set_why(why, why_len, "the certificate's notAfter date cannot be read");
        return -EINVAL;
    }
    if (c < 0) {
        struct tm tm;
        char when[32];
        if (ASN1_TIME_to_tm(na, &tm) && strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
            set_why(why, why_len, "certificate expired on %s", when);
        else
            set_why(why, why_len, "certificate expired");
        return -EINVAL;
    }
    return 0;
}

int reg_cred_check(enum db_key_format format, const char *pem, int64_t now_us, char *why,
                   size_t why_len) {
    ERR_set_mark();
    struct loaded l = { 0 };
    int r = load_credential(format, pem, why, why_len, &l);
    if (r >= 0)
        r = check_key_type(format, l.pkey_view, true, why, why_len);
    if (r >= 0 && l.cert)
        r = check_not_expired(l.cert, now_us, why, why_len);
    loaded_free(&l);
    ERR_pop_to_mark();
    return r < 0 ? r : 0;
}

int reg_cred_public_pem(enum db_key_format format, const char *pem, char **ret_pem) {
    if (!ret_pem)
        return -EINVAL;
    ERR_set_mark();
    struct loaded l = { 0 };
    BIO *out = NULL;
    /* Strength and certificate expiry are rules for accepting a credential
     * (reg_cred_check at create/patch); a stored one keeps working, as on
     * Google where CA and certificate checks happened only then. The key
     * type is still checked because it decides the JWT algorithm. */
    int r = load_credential(format, pem, NULL, 0, &l);
    if (r >= 0)
        r = check_key_type(format, l.pkey_view, false, NULL, 0);
    if (r < 0)
        goto out;
    r = -ENOMEM;
    out = BIO_new(BIO_s_mem());
    if (!out || !PEM_write_bio_PUBKEY(out, l.pkey_view))
        goto out;
    char *text = NULL;
    long n = BIO_get_mem_data(out, &text);
    if (n <= 0 || !text)
        goto out;
    char *copy = malloc((size_t)n + 1);
    if (!copy)
        goto out;
    memcpy(copy, text, (size_t)n);
    copy[n] = '\0';
    *ret_pem = copy;
    r = 0;
out:
    BIO_free(out);
    loaded_free(&l);
    ERR_pop_to_mark();
    return r;
}

int reg_cred_public_key(enum db_key_format format, const char *pem, EVP_PKEY **ret) {
    if (!ret)
        return -EINVAL;
    ERR_set_mark();
    struct loaded l = { 0 };
    /* The same acceptance as reg_cred_public_pem: type checked, strength
     * and expiry not (those were rules at create time). */
    int r = load_credential(format, pem, NULL, 0, &l);
    if (r >= 0)
        r = check_key_type(format, l.pkey_view, false, NULL, 0);
    if (r >= 0) {
        if (EVP_PKEY_up_ref(l.pkey_view) == 1)
            *ret = l.pkey_view;
        else
            r = -ENOMEM;
    }
    loaded_free(&l);
    ERR_pop_to_mark();
    return r;
}
