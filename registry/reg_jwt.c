/* Google-style device JWT verification (DESIGN.md "Google token rules").
 * Owns the order in which a token is judged and the stable reason words.
 * The signature is checked with OpenSSL against the already-parsed key of
 * the credential, with the one scheme its key type allows (RSASSA-PKCS1-v1_5
 * SHA-256 for RSA, ECDSA P-256 SHA-256 for EC), decided before any
 * signature work: the header's alg only has to agree. That rules out the
 * attacks libjwt 1.10 would let through (an HS256 token keyed with the
 * public-key PEM text, a NULL key skipping verification: deps-probe.md
 * section 3) and avoids decoding the key on every CONNECT, which the
 * benchmark found to be half of a connect's CPU. Claims (iat, exp, aud) are
 * read from the payload with jansson.
 * The token is never logged or kept; the local copies are wiped. */
#include "registry/reg_jwt.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "registry/reg_keycache.h"

/* No real device token comes near this (an RS256 token with Google's claims
 * is under 1 KB); it bounds the stack copies below. */
#define JWT_MAX_LEN 8192
#define JWT_DECODED_MAX ((JWT_MAX_LEN / 4 + 1) * 3)

static const char *const reason_words[REG_AUTH__COUNT] = {
    [REG_AUTH_OK] = "ok",
    [REG_AUTH_BAD_PROTOCOL] = "bad-protocol",
    [REG_AUTH_BAD_CLIENT_ID] = "bad-client-id",
    [REG_AUTH_NOT_JWT] = "not-jwt",
    [REG_AUTH_BAD_HEADER] = "bad-header",
    [REG_AUTH_BAD_TYP] = "bad-typ",
    [REG_AUTH_ALG_MISMATCH] = "alg-mismatch",
    [REG_AUTH_BAD_SIGNATURE] = "bad-signature",
    [REG_AUTH_MISSING_CLAIM] = "missing-claim",
    [REG_AUTH_AUD] = "aud",
    [REG_AUTH_IAT_FUTURE] = "iat-future",
    [REG_AUTH_LIFETIME] = "lifetime",
    [REG_AUTH_EXPIRED] = "expired",
    [REG_AUTH_UNKNOWN_DEVICE] = "unknown-device",
    [REG_AUTH_BLOCKED] = "blocked",
    [REG_AUTH_CREDENTIAL_EXPIRED] = "credential-expired",
    [REG_AUTH_NO_CREDENTIAL] = "no-credential",
    [REG_AUTH_STORE_ERROR] = "store-error",
    [REG_AUTH_MQTT_DISABLED] = "mqtt-disabled",
    [REG_AUTH_CERT_UNKNOWN] = "unknown-certificate",
    [REG_AUTH_CERT_INACTIVE] = "certificate-not-active",
    [REG_AUTH_CERT_EXPIRED] = "certificate-expired",
    [REG_AUTH_NOT_AUTHORIZED] = "not-authorized",
    [REG_AUTH_NO_SCHEME] = "no-scheme",
};

const char *reg_auth_reason_word(enum reg_auth_reason r) {
    if ((unsigned)r >= REG_AUTH__COUNT || !reason_words[r])
        return "unknown";
    return reason_words[r];
}

int reg_auth_reason_connack(enum reg_auth_reason r) {
    /* Google answered 5 to every refusal it understood; ClearBlade's table
     * adds 1, 2, 3 and 4 for the cases that are not about who the device is
     * (reference google-iot-core.md section 1.4). */
    switch (r) {
    case REG_AUTH_OK:
        return 0;
    case REG_AUTH_BAD_PROTOCOL:
        return 1;
    case REG_AUTH_BAD_CLIENT_ID:
        return 2;
    case REG_AUTH_STORE_ERROR:
        return 3;
    case REG_AUTH_NOT_JWT:
        return 4;
    default:
        return 5;
    }
}

/* Google's decoder was lenient about padding and alphabet (ClearBlade's docs
 * call theirs strict "unlike Google"), so both alphabets decode. */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

/* One part of a compact JWT: base64 characters, then at most two '=' and only
 * at the end; if padded, a whole number of quads. A data length of 4k+1 can
 * not be produced by any encoder. Returns the length without padding. */
static bool part_valid(const char *p, size_t n, size_t *ret_data_len) {
    size_t data = n;
    while (data > 0 && p[data - 1] == '=' && n - data < 2)
        data--;
    for (size_t i = 0; i < data; i++)
        if (b64_value((unsigned char)p[i]) < 0)
            return false;
    if (data % 4 == 1)
        return false;
    if (data != n && n % 4 != 0)
        return false;
    *ret_data_len = data;
    return true;
}

/* Decodes n base64 characters (no padding; validated by part_valid) into
 * out, which holds at least n * 3 / 4 bytes. Returns the decoded length. */
static size_t b64_decode(const char *p, size_t n, unsigned char *out) {
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6) | (uint32_t)b64_value((unsigned char)p[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

struct split {
    const char *part[3];
    size_t len[3];       /* without padding */
};

static bool split_token(const char *token, size_t len, struct split *ret) {
    if (!token || len == 0 || len > JWT_MAX_LEN)
        return false;
    struct split s;
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && token[i] != '.')
            continue;
        if (k == 3)
            return false;   /* a fourth part: JWE or garbage */
        s.part[k] = token + start;
        if (!part_valid(token + start, i - start, &s.len[k]))
            return false;
        k++;
        start = i + 1;
    }
    /* The signature may be empty (alg "none" tokens look like that); they
     * are refused later as alg-mismatch, which names the attack. */
    if (k != 3 || s.len[0] == 0 || s.len[1] == 0)
        return false;
    *ret = s;
    return true;
}

bool reg_jwt_is_compact(const char *token, size_t len) {
    struct split s;
    return split_token(token, len, &s);
}

/* Decodes one part into buf and parses it as a JSON object; duplicate names
 * are refused so that no reader of the same text (a backend, a log tool)
 * can disagree with us about which value counts. */
static json_t *decode_object(const char *p, size_t n, unsigned char *buf) {
    size_t dn = b64_decode(p, n, buf);
    json_error_t err;
    json_t *j = json_loadb((const char *)buf, dn, JSON_REJECT_DUPLICATES, &err);
    explicit_bzero(buf, dn);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* iat and exp must be JSON numbers with an integral value; RFC 7519 allows
 * non-integer NumericDates and some libraries write 1.7e9. */
static bool claim_seconds(json_t *payload, const char *name, int64_t *ret) {
    json_t *v = json_object_get(payload, name);
    if (json_is_integer(v)) {
        *ret = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9.0e18 && d <= 9.0e18 && (double)(int64_t)d == d) {
            *ret = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* aud is one string (Google); RFC 7519 also allows an array, accepted when
 * it names only the project. Returns OK, AUD or MISSING_CLAIM (wrong type). */
static enum reg_auth_reason check_aud(json_t *aud, const char *audience) {
    if (json_is_array(aud)) {
        size_t n = json_array_size(aud);
        for (size_t i = 0; i < n; i++)
            if (!json_is_string(json_array_get(aud, i)))
                return REG_AUTH_MISSING_CLAIM;
        if (n != 1)
            return REG_AUTH_AUD;
        aud = json_array_get(aud, 0);
    }
    if (!json_is_string(aud))
        return REG_AUTH_MISSING_CLAIM;
    /* jansson refuses "\u0000" without JSON_ALLOW_NUL, so strcmp sees it all. */
    if (!audience || strcmp(json_string_value(aud), audience) != 0)
        return REG_AUTH_AUD;
    return REG_AUTH_OK;
}

/* Claims are peer-controlled int64s: saturate instead of overflowing. */
static int64_t add_sat(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sub_sat(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static enum reg_auth_reason check_claims(json_t *payload, const struct reg_jwt_rules *rules,
                                         int64_t now, struct reg_jwt_result *ret) {
    int64_t iat, exp;
    json_t *aud = json_object_get(payload, "aud");
    if (!claim_seconds(payload, "iat", &iat) || !claim_seconds(payload, "exp", &exp) || !aud)
        return REG_AUTH_MISSING_CLAIM;
    enum reg_auth_reason r = check_aud(aud, rules->audience);
    if (r != REG_AUTH_OK)
        return r;
    if (iat > add_sat(now, rules->clock_skew))
        return REG_AUTH_IAT_FUTURE;
    if (exp < iat || sub_sat(exp, iat) > rules->max_lifetime)
        return REG_AUTH_LIFETIME;
    /* Google closed the connection at exp + skew; the product also enforces
     * an hourly refresh from iat when refresh_interval > 0. */
    int64_t deadline = add_sat(exp, rules->clock_skew);
    if (rules->refresh_interval > 0) {
        int64_t refresh = add_sat(iat, rules->refresh_interval);
        if (refresh < deadline)
            deadline = refresh;
    }
    if (deadline <= now)
        return REG_AUTH_EXPIRED;
    ret->iat = iat;
    ret->exp = exp;
    ret->deadline = deadline;
    return REG_AUTH_OK;
}

/* The key type an alg names: only Google's two. */
static bool alg_for(const char *alg, enum reg_key_type *ret_type) {
    if (strcmp(alg, "RS256") == 0) {
        *ret_type = REG_KEY_RSA;
        return true;
    }
    if (strcmp(alg, "ES256") == 0) {
        *ret_type = REG_KEY_EC_P256;
        return true;
    }
    return false;
}

static bool key_usable(const struct reg_jwt_key *k, enum reg_key_type type) {
    return k->type == type && (k->pkey || (k->public_pem && *k->public_pem));
}

/* SHA-256 fetched once: an implicit fetch per verification is a provider
 * lookup on the connect path. */
static const EVP_MD *sha256(void) {
    static EVP_MD *md;
    if (!md)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md;
}

/* JOSE ES256 signatures are raw r||s (RFC 7518 3.4); OpenSSL wants DER. */
static int es256_to_der(const unsigned char *sig, size_t len, unsigned char *der, size_t cap) {
    if (len != 64)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }
    int n = i2d_ECDSA_SIG(es, NULL);
    unsigned char *p = der;
    if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(es, &p) != n)
        n = -1;
    ECDSA_SIG_free(es);
    return n;
}

/* Verifies sig over input with pkey, using only the scheme of type. */
static bool verify_with(EVP_PKEY *pkey, enum reg_key_type type, const char *input, size_t input_len,
                        const unsigned char *sig, size_t sig_len) {
    unsigned char der[80];
    const unsigned char *vsig = sig;
    size_t vlen = sig_len;

    if (type == REG_KEY_EC_P256) {
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
            return false;
        int n = es256_to_der(sig, sig_len, der, sizeof(der));
        if (n < 0)
            return false;
        vsig = der;
        vlen = (size_t)n;
    } else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
               sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
        return false;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && sha256() && EVP_DigestVerifyInit(ctx, NULL, sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, vsig, vlen, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The key of k: its parsed key, or its PEM parsed (and cached). */
static EVP_PKEY *key_of(const struct reg_jwt_key *k) {
    EVP_PKEY *pkey = NULL;
    if (k->pkey) {
        if (EVP_PKEY_up_ref(k->pkey) == 1)
            pkey = k->pkey;
    } else {
        enum db_key_format f = k->type == REG_KEY_RSA ? DB_KEY_RSA_PEM : DB_KEY_ES256_PEM;
        if (reg_keycache_get(f, k->public_pem, &pkey) < 0)
            pkey = NULL;
    }
    return pkey;
}

enum reg_auth_reason reg_jwt_verify(const char *token, size_t len, const struct reg_jwt_key *keys,
                                    size_t n_keys, const struct reg_jwt_rules *rules, int64_t now,
                                    struct reg_jwt_result *ret) {
    struct split s;
    if (!split_token(token, len, &s))
        return REG_AUTH_NOT_JWT;
    if (!rules || (!keys && n_keys > 0))
        return REG_AUTH_BAD_SIGNATURE;

    enum reg_auth_reason r;
    unsigned char buf[JWT_DECODED_MAX];
    json_t *header = NULL, *payload = NULL;
    size_t key_index = 0;

    header = decode_object(s.part[0], s.len[0], buf);
    json_t *alg = json_object_get(header, "alg");
    if (!header || !json_is_string(alg)) {
        r = REG_AUTH_BAD_HEADER;
        goto out_header;
    }
    json_t *typ = json_object_get(header, "typ");
    if (typ && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0)) {
        r = REG_AUTH_BAD_TYP;
        goto out_header;
    }

    /* Before any signature check: the algorithm must be one Google allowed
     * and match a key the device owns, so "none", HS256 keyed with the PEM
     * text and every other alg never reach libjwt. */
    enum reg_key_type type;
    bool have_key = false;
    if (alg_for(json_string_value(alg), &type))
        for (size_t i = 0; i < n_keys && !have_key; i++)
            have_key = key_usable(&keys[i], type);
    if (!have_key) {
        r = REG_AUTH_ALG_MISMATCH;
        goto out_header;
    }

    /* The device may hold up to three credentials and no kid is used:
     * try each key of the right type, first success wins (as Google did). */
    unsigned char sig[JWT_DECODED_MAX];
    size_t sig_len = b64_decode(s.part[2], s.len[2], sig);
    size_t input_len = (size_t)(s.part[2] - token) - 1;   /* "header.payload" */
    r = REG_AUTH_BAD_SIGNATURE;
    for (size_t i = 0; i < n_keys; i++) {
        if (!key_usable(&keys[i], type))
            continue;
        EVP_PKEY *pkey = key_of(&keys[i]);
        bool ok = pkey && verify_with(pkey, type, token, input_len, sig, sig_len);
        EVP_PKEY_free(pkey);
        if (ok) {
            key_index = i;
            r = REG_AUTH_OK;
            break;
        }
    }
    if (r != REG_AUTH_OK)
        goto out_header;

    payload = decode_object(s.part[1], s.len[1], buf);
    if (!payload) {
        /* Duplicate names or a payload that is not an object: refuse as a
         * claim problem. */
        r = REG_AUTH_MISSING_CLAIM;
        goto out_header;
    }
    struct reg_jwt_result res = { .key_index = key_index };
    r = check_claims(payload, rules, now, &res);
    if (r == REG_AUTH_OK && ret)
        *ret = res;
    json_decref(payload);
out_header:
    json_decref(header);
    return r;
}
