/* Parsed device public keys, cached by the credential they came from.
 * Decoding a PEM key or certificate costs more than the ES256 verification
 * itself (the benchmark found the key decoded three times per CONNECT, 47%
 * of its CPU); a credential's text never changes in place (a patch replaces
 * it), so its digest is a safe key. Bounded and direct-mapped: a collision
 * replaces the older entry. One thread (the event loop). */
#pragma once
#include <openssl/evp.h>

#include "db/db.h"

#define REG_KEYCACHE_SLOTS 8192

/* A new reference to the key of (format, pem): EVP_PKEY_free() it. Parses
 * and caches on a miss. -EINVAL if the credential does not parse. */
int reg_keycache_get(enum db_key_format format, const char *pem, EVP_PKEY **ret);
/* Drops every entry (tests, shutdown). */
void reg_keycache_clear(void);
