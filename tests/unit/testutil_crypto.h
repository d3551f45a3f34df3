/* OpenSSL helpers for the unit tests that make their keys, certificates and
 * tokens at test time: key generation, PEM export, a self-signed
 * certificate, base64 in the spellings JWTs meet, and JWT forging (RS256,
 * HS256, none, and ES256 as JOSE raw r||s or, to forge a bad one, DER).
 * Every helper aborts on an OpenSSL or allocation failure: that is a broken
 * test setup, not a finding. Returned strings are malloc'd; free them. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>

/* A fresh key: "RSA-<bits>" ("RSA-2048"), "ED25519", or an EC curve name
 * ("P-256", "P-384"). Free with EVP_PKEY_free. */
EVP_PKEY *tu_key(const char *spec);
/* The SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of k. */
char *tu_pubkey_pem(EVP_PKEY *k);
/* A self-signed X.509 v3 certificate for k, signed with SHA-256, subject and
 * issuer CN=cn, valid from now+from_s to now+to_s; PEM. */
char *tu_cert_pem(EVP_PKEY *k, const char *cn, long serial, time_t now, long from_s, long to_s);
/* The contents of a memory BIO as a string; consumes b. */
char *tu_bio_take_text(BIO *b);

enum tu_b64_style {
    TU_B64_URL,          /* base64url without padding: what RFC 7515 asks for */
    TU_B64_URL_PADDED,   /* base64url with '=' padding */
    TU_B64_STD_PADDED,   /* the standard alphabet ('+' '/') with padding */
};
char *tu_b64(const void *d, size_t n, enum tu_b64_style style);

enum tu_sig {
    TU_SIG_RS256,
    TU_SIG_ES256,       /* JOSE raw r||s, 64 bytes (RFC 7518 section 3.4) */
    TU_SIG_ES256_DER,   /* the DER ECDSA-Sig-Value OpenSSL makes: wrong for JOSE */
    TU_SIG_HS256,       /* keyed with hmac_key */
    TU_SIG_NONE,        /* an empty signature */
};
/* header.payload.signature, each part encoded in style. key signs RS256 and
 * ES256*, hmac_key HS256; the other may be NULL. header and payload are
 * used as given, so they may be anything a test wants to forge. */
char *tu_jwt(const char *header, const char *payload, enum tu_sig kind, EVP_PKEY *key,
             const char *hmac_key, enum tu_b64_style style);
/* The claims of a Google device JWT: {"iat":IAT,"exp":EXP,"aud":"AUD"}. */
char *tu_claims(int64_t iat, int64_t exp, const char *aud);
