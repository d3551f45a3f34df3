/* Google-style device JWT verification (DESIGN.md "Google token rules").
 * The expected algorithm comes from the stored key type, never from the
 * token: RS256 for RSA credentials, ES256 for P-256 ones; 'none', HS* and
 * everything else are refused before any signature check, and the check
 * itself uses only the scheme of the credential's key type. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "registry/reg_cred.h"

/* Why an authentication was refused. Stable words (reg_auth_reason_word)
 * appear in logs as reason=WORD and in metrics; never change them. */
enum reg_auth_reason {
    REG_AUTH_OK = 0,
    REG_AUTH_BAD_PROTOCOL,      /* "bad-protocol"       CONNACK 1 */
    REG_AUTH_BAD_CLIENT_ID,     /* "bad-client-id"      CONNACK 2 */
    REG_AUTH_NOT_JWT,           /* "not-jwt"            CONNACK 4: missing or not three base64url parts */
    REG_AUTH_BAD_HEADER,        /* "bad-header"         header not JSON, or alg absent */
    REG_AUTH_BAD_TYP,           /* "bad-typ"            typ present and not "JWT" */
    REG_AUTH_ALG_MISMATCH,      /* "alg-mismatch"       alg not RS256/ES256, or no credential of that key type */
    REG_AUTH_BAD_SIGNATURE,     /* "bad-signature"      no valid credential verifies it */
    REG_AUTH_MISSING_CLAIM,     /* "missing-claim"      iat, exp or aud absent or not the right type */
    REG_AUTH_AUD,               /* "aud"                aud != project */
    REG_AUTH_IAT_FUTURE,        /* "iat-future"         iat > now + clock_skew */
    REG_AUTH_LIFETIME,          /* "lifetime"           exp - iat > max_token_lifetime */
    REG_AUTH_EXPIRED,           /* "expired"            deadline <= now */
    REG_AUTH_UNKNOWN_DEVICE,    /* "unknown-device"     no such project/location/registry/device */
    REG_AUTH_BLOCKED,           /* "blocked" */
    REG_AUTH_CREDENTIAL_EXPIRED,/* "credential-expired" every credential past its expirationTime */
    REG_AUTH_NO_CREDENTIAL,     /* "no-credential"      the device has no credential */
    REG_AUTH_STORE_ERROR,       /* "store-error"        CONNACK 3 */
    REG_AUTH_MQTT_DISABLED,     /* "mqtt-disabled"      registry mqttConfig is MQTT_DISABLED */
    /* AWS-style devices (client certificate). */
    REG_AUTH_CERT_UNKNOWN,      /* "unknown-certificate" not registered */
    REG_AUTH_CERT_INACTIVE,     /* "certificate-not-active" INACTIVE, REVOKED, PENDING_* */
    REG_AUTH_CERT_EXPIRED,      /* "certificate-expired" outside notBefore..notAfter */
    REG_AUTH_NOT_AUTHORIZED,    /* "not-authorized"     no policy allows iot:Connect (or a Deny) */
    REG_AUTH_NO_SCHEME,         /* "no-scheme"          no client certificate and no Google client id */
    REG_AUTH__COUNT,
};
const char *reg_auth_reason_word(enum reg_auth_reason r);
/* CONNACK code per DESIGN.md: 1, 2, 4, 3 (store error), else 5 (0 for OK). */
int reg_auth_reason_connack(enum reg_auth_reason r);

struct reg_jwt_rules {
    const char *audience;        /* the project id (borrowed) */
    int64_t clock_skew;          /* seconds */
    int64_t max_lifetime;        /* seconds */
    int64_t refresh_interval;    /* seconds; 0 = Google's rule alone */
};

/* One usable (non-expired) credential of the device: its parsed key, or
 * (tests, tools) the SPKI PEM text of it, parsed on use. */
struct reg_jwt_key {
    enum reg_key_type type;
    const char *public_pem;      /* borrowed: SPKI PEM from reg_cred_public_pem */
    EVP_PKEY *pkey;              /* borrowed; NULL = use public_pem */
};

struct reg_jwt_result {
    int64_t iat;
    int64_t exp;
    int64_t deadline;            /* unix seconds at which the session must close */
    size_t key_index;            /* which key verified */
};

/* True when token (len bytes) passes the first rule of reg_jwt_verify (the
 * NOT_JWT one): at most 8 KiB, exactly three '.'-separated base64url parts
 * (padded or not; '+' and '/' tolerated as Google's decoder did), header and
 * payload non-empty. Cheap and store-free: callers check it before a lookup. */
bool reg_jwt_is_compact(const char *token, size_t len);

/* Verifies token (len bytes, not necessarily NUL-terminated) against keys at
 * time now (unix seconds). Returns REG_AUTH_OK and fills *ret, or the first
 * failing reason in this order: NOT_JWT, BAD_HEADER, BAD_TYP, ALG_MISMATCH,
 * BAD_SIGNATURE, MISSING_CLAIM, AUD, IAT_FUTURE, LIFETIME, EXPIRED.
 * deadline = exp + clock_skew, or min(that, iat + refresh_interval) when
 * refresh_interval > 0. ret->key_index indexes keys. ret may be NULL; it is
 * written only on REG_AUTH_OK. Never logs or keeps the token. */
enum reg_auth_reason reg_jwt_verify(const char *token, size_t len, const struct reg_jwt_key *keys,
                                    size_t n_keys, const struct reg_jwt_rules *rules, int64_t now,
                                    struct reg_jwt_result *ret);
