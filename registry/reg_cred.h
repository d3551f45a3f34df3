/* Device credentials: PEM parsing, key type and strength, certificate
 * validity, and the public key text libjwt verifies with. OpenSSL is used
 * here; callers see only key types and PEM text. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "db/db.h"

enum reg_key_type {
    REG_KEY_RSA = 1,        /* verifies RS256 */
    REG_KEY_EC_P256 = 2,    /* verifies ES256 */
};

/* Parses "RSA_PEM" | "RSA_X509_PEM" | "ES256_PEM" | "ES256_X509_PEM".
 * reg_cred_format_from_number takes the proto3 PublicKeyFormat number that
 * Google's client libraries send with enum-encoding=int (RSA_X509_PEM = 1,
 * RSA_PEM = 3, ES256_PEM = 2, ES256_X509_PEM = 4, per resources.proto). */
int reg_cred_format_parse(const char *s, enum db_key_format *ret);
int reg_cred_format_from_number(long n, enum db_key_format *ret);
/* Never NULL: "UNSPECIFIED_PUBLIC_KEY_FORMAT" for a value outside the enum. */
const char *reg_cred_format_name(enum db_key_format f);
/* 0 (no key type) for a value outside the enum. */
enum reg_key_type reg_cred_format_key_type(enum db_key_format f);

/* Validates that pem is what format says: a PUBLIC KEY PEM for *_PEM, a
 * CERTIFICATE PEM for *_X509_PEM; RSA of at least 2048 bits for RSA_*, an EC
 * key on P-256 for ES256_*; a certificate not expired at now_us. Exactly one
 * PEM block with only whitespace around it. Returns 0, or -EINVAL with a
 * human reason written to why (for the 400 message; the caller prefixes the
 * field path, e.g. "RSA key is 1024 bits; at least 2048 are required"). why
 * may be NULL; it is not written on success. */
int reg_cred_check(enum db_key_format format, const char *pem, int64_t now_us, char *why,
                   size_t why_len);

/* Returns (malloc'd, *ret_pem) the SubjectPublicKeyInfo "BEGIN PUBLIC KEY"
 * PEM of the credential, extracting it from the certificate for *_X509_PEM:
 * libjwt 1.10 refuses certificates as keys. -EINVAL if it does not parse or
 * its key type is not the format's; key strength and certificate expiry are
 * not judged here (they are rules for accepting a credential, above).
 * -ENOMEM. *ret_pem untouched on failure. */
int reg_cred_public_pem(enum db_key_format format, const char *pem, char **ret_pem);

/* The parsed public key of a stored credential (a new reference: the
 * caller EVP_PKEY_free()s it), the key type checked against the format.
 * -EINVAL if it does not parse. Used through reg_keycache on hot paths. */
int reg_cred_public_key(enum db_key_format format, const char *pem, EVP_PKEY **ret);

#define REG_CRED_DIGEST_LEN 32
/* SHA-256 of a stored credential's format and text: identifies it across
 * edits of the device's credential list. */
void reg_cred_digest(enum db_key_format format, const char *pem, unsigned char out[REG_CRED_DIGEST_LEN]);
