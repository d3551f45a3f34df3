/* Authenticating a Google-style device at CONNECT: client id -> store lookup
 * -> blocked -> usable credentials -> JWT rules. Transport-free. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "registry/reg_jwt.h"
#include "registry/reg_names.h"

struct reg_google_auth {
    struct db_registry registry;     /* owned fields: release with reg_google_auth_clear */
    struct db_device device;
    struct reg_jwt_result token;
    /* Which credential verified the token (reg_cred_digest of its stored
     * text): removing that one ends the session. */
    unsigned char credential_digest[REG_CRED_DIGEST_LEN];
};
void reg_google_auth_clear(struct reg_google_auth *a);

/* Whether the device still has, live (not expired at now), the credential
 * whose digest is given. 1 yes, 0 no, negative on a store error. */
int reg_credential_still_live(struct db *db, int64_t device_rowid,
                              const unsigned char digest[REG_CRED_DIGEST_LEN], int64_t now);

/* rules->audience is ignored: the project from the client id is used.
 * Returns REG_AUTH_OK (and *ret filled; caller clears) or the refusal reason
 * (ret cleared). *ret is overwritten on entry, so it must not hold owned
 * fields. ret->token.key_index is the position of the verifying credential
 * in the device's credential list. now is unix seconds. Order: client id
 * shape (BAD_CLIENT_ID), password present and a compact JWT (NOT_JWT), both
 * without touching the store; then lookup (UNKNOWN_DEVICE, STORE_ERROR),
 * BLOCKED, NO_CREDENTIAL, CREDENTIAL_EXPIRED, then reg_jwt_verify. */
enum reg_auth_reason reg_google_authenticate(struct db *db, const char *client_id, size_t cid_len,
                                             const uint8_t *password, size_t pw_len, bool has_password,
                                             const struct reg_jwt_rules *rules, int64_t now,
                                             struct reg_google_auth *ret);
