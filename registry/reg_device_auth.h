/* Authenticating a Google-style device at CONNECT: client id -> store lookup
 * -> blocked -> usable credentials -> JWT rules. Transport-free. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "registry/reg_jwt.h"
#include "registry/reg_names.h"

struct reg_google_auth {
    struct reg_google_path path;     /* as the client id named it */
    struct db_registry registry;     /* owned fields: release with reg_google_auth_clear */
    struct db_device device;
    struct reg_jwt_result token;
};
void reg_google_auth_clear(struct reg_google_auth *a);

/* rules->audience is ignored: the project from the client id is used.
 * Returns REG_AUTH_OK (and *ret filled; caller clears) or the refusal reason
 * (ret cleared). now is unix seconds. */
enum reg_auth_reason reg_google_authenticate(struct db *db, const char *client_id, size_t cid_len,
                                             const uint8_t *password, size_t pw_len, bool has_password,
                                             const struct reg_jwt_rules *rules, int64_t now,
                                             struct reg_google_auth *ret);
