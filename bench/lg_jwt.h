/* JWT minting for the load generator: Google Cloud IoT device tokens
 * (header {"alg":"ES256"|"RS256","typ":"JWT"}, claims iat, exp, aud =
 * project), signed with OpenSSL. ES256 signatures are JOSE raw r||s (64
 * bytes), not DER. Also hands out the public key as SPKI PEM for
 * provisioning. */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum lg_jwt_alg {
    LG_JWT_ES256 = 1,
    LG_JWT_RS256 = 2,
};

struct lg_jwt;

/* Loads a PEM private key (P-256 EC or RSA); the algorithm follows the key.
 * Returns 0 and *ret (free with lg_jwt_free), -ENOENT, -EINVAL for another
 * key type, -ENOMEM. Does not log: *ret_why names the failure. */
int lg_jwt_new(const char *key_file, struct lg_jwt **ret, const char **ret_why);
void lg_jwt_free(struct lg_jwt *j);
enum lg_jwt_alg lg_jwt_alg(const struct lg_jwt *j);

/* Writes a NUL-terminated token for aud into out. Returns its length or
 * -EMSGSIZE / -EIO. */
int lg_jwt_mint(struct lg_jwt *j, const char *aud, int64_t iat, int64_t exp, char *out, size_t cap);

/* SPKI PEM of the public key (NUL-terminated). Returns its length or
 * -EMSGSIZE / -EIO. */
int lg_jwt_public_pem(const struct lg_jwt *j, char *out, size_t cap);

/* base64url without padding; returns the length written (NUL-terminated)
 * or -EMSGSIZE. */
int lg_b64url(const uint8_t *in, size_t n, char *out, size_t cap);
