/* Google-style device JWT verification (DESIGN.md "Google token rules").
 * Owns the order in which a token is judged and the stable reason words.
 * libjwt 1.10 is used only to check a signature, and only after this file
 * has decided the algorithm from the stored key type: libjwt takes the
 * algorithm from the token header, so it would accept an HS256 token keyed
 * with the public-key PEM text, and it would skip verification with a NULL
 * key (reference deps-probe.md section 3). It checks no claims, so iat, exp
 * and aud are read here from the payload, decoded with jansson.
 * The token is never logged or kept; the local copies are wiped. */
#include "registry/reg_jwt.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

/* No real device token comes near this (an RS256 token with Google's claims
 * is under 1 KB); it bounds the stack copies below and libjwt's work. */
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
 * are refused so that no two readers of the same text (libjwt and this file)
 * can disagree about which value counts. */
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

/* The expected algorithm as named in the header; the key type decides. */
static bool alg_for(const char *alg, enum reg_key_type *ret_type, jwt_alg_t *ret_alg) {
    if (strcmp(alg, "RS256") == 0) {
        *ret_type = REG_KEY_RSA;
        *ret_alg = JWT_ALG_RS256;
        return true;
    }
    if (strcmp(alg, "ES256") == 0) {
        *ret_type = REG_KEY_EC_P256;
        *ret_alg = JWT_ALG_ES256;
        return true;
    }
    return false;
}

static bool key_usable(const struct reg_jwt_key *k, enum reg_key_type type, size_t *ret_len) {
    if (k->type != type || !k->public_pem)
        return false;
    /* libjwt skips verification for a NULL key or a length <= 0. */
    size_t n = strlen(k->public_pem);
    if (n == 0 || n > INT_MAX)
        return false;
    *ret_len = n;
    return true;
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
    char tok[JWT_MAX_LEN + 1];
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
    jwt_alg_t want;
    bool have_key = false;
    size_t pem_len = 0;
    if (alg_for(json_string_value(alg), &type, &want))
        for (size_t i = 0; i < n_keys && !have_key; i++)
            have_key = key_usable(&keys[i], type, &pem_len);
    if (!have_key) {
        r = REG_AUTH_ALG_MISMATCH;
        goto out_header;
    }

    /* The device may hold up to three credentials and no kid is used:
     * try each key of the right type, first success wins (as Google did). */
    memcpy(tok, token, len);
    tok[len] = '\0';
    r = REG_AUTH_BAD_SIGNATURE;
    for (size_t i = 0; i < n_keys; i++) {
        if (!key_usable(&keys[i], type, &pem_len))
            continue;
        jwt_t *jwt = NULL;
        int rc = jwt_decode(&jwt, tok, (const unsigned char *)keys[i].public_pem, (int)pem_len);
        /* Re-check the alg libjwt used: it reads it from the header itself. */
        bool ok = rc == 0 && jwt && jwt_get_alg(jwt) == want;
        jwt_free(jwt);
        if (ok) {
            key_index = i;
            r = REG_AUTH_OK;
            break;
        }
    }
    explicit_bzero(tok, len);
    if (r != REG_AUTH_OK)
        goto out_header;

    payload = decode_object(s.part[1], s.len[1], buf);
    if (!payload) {
        /* libjwt parsed it, so this is only reachable if the two JSON readers
         * disagree (duplicate names): refuse as a claim problem. */
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
