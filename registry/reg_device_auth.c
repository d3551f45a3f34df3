/* Authenticating a Google-style device at CONNECT (and per HTTP bridge
 * request). Owns the order of the checks, chosen so that a refusal costs as
 * little as possible and says the most specific true thing: client id shape
 * and token shape first (no store access for garbage), then the store
 * lookup, blocked, usable credentials, and last the JWT rules. */
#include "registry/reg_device_auth.h"
#include "registry/reg_keycache.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void reg_google_auth_clear(struct reg_google_auth *a) {
    if (!a)
        return;
    db_registry_clear(&a->registry);
    db_device_clear(&a->device);
    memset(a, 0, sizeof(*a));
}

/* A credential past its expirationTime is ignored for new authentication but
 * kept (reference google-iot-core.md section 4). */
static bool credential_live(const struct db_credential *c, int64_t now) {
    if (c->expiration_us == 0)
        return true;
    if (now > INT64_MAX / 1000000)
        return false;
    return c->expiration_us > now * 1000000;
}

enum reg_auth_reason reg_google_authenticate(struct db *db, const char *client_id, size_t cid_len,
                                             const uint8_t *password, size_t pw_len,
                                             bool has_password,
                                             const struct reg_jwt_rules *rules, int64_t now,
                                             struct reg_google_auth *ret) {
    struct reg_google_auth a;
    memset(&a, 0, sizeof(a));
    /* The client id's parts: only for the lookup and the audience (the
     * session keeps the registry and device rows, not 1 KiB of names). */
    struct reg_google_path path;
    memset(&path, 0, sizeof(path));
    struct db_credential creds[DB_MAX_CREDENTIALS];
    memset(creds, 0, sizeof(creds));
    size_t n_creds = 0;
    EVP_PKEY *pkeys[DB_MAX_CREDENTIALS] = { 0 };
    struct reg_jwt_key keys[DB_MAX_CREDENTIALS];
    size_t key_pos[DB_MAX_CREDENTIALS];
    size_t n_keys = 0;
    enum reg_auth_reason r;

    if (!ret)
        return REG_AUTH_STORE_ERROR;
    memset(ret, 0, sizeof(*ret));
    if (!rules)
        return REG_AUTH_STORE_ERROR;
    if (!reg_google_client_id_is_google(client_id, cid_len) ||
        reg_google_client_id_parse(client_id, cid_len, &path) < 0)
        return REG_AUTH_BAD_CLIENT_ID;
    /* CONNACK 4 is about the packet, not the device: decide it before the
     * store is asked anything. */
    if (!has_password || !password || !reg_jwt_is_compact((const char *)password, pw_len))
        return REG_AUTH_NOT_JWT;

    int rc = db_device_lookup(db, path.project, path.location, path.registry, path.device,
                              &a.registry, &a.device);
    /* -EINVAL: names the store could never hold, so no such device either. */
    if (rc == -ENOENT || rc == -EINVAL) {
        r = REG_AUTH_UNKNOWN_DEVICE;
        goto fail;
    }
    if (rc < 0) {
        r = REG_AUTH_STORE_ERROR;
        goto fail;
    }
    if (a.device.blocked) {
        r = REG_AUTH_BLOCKED;
        goto fail;
    }
    rc = db_credential_list(db, a.device.rowid, creds, &n_creds);
    if (rc < 0) {
        n_creds = 0;
        r = REG_AUTH_STORE_ERROR;
        goto fail;
    }
    if (n_creds == 0) {
        r = REG_AUTH_NO_CREDENTIAL;
        goto fail;
    }

    bool any_live = false;
    for (size_t i = 0; i < n_creds; i++) {
        if (!credential_live(&creds[i], now))
            continue;
        any_live = true;
        /* A stored credential that no longer parses (written by an older
         * version, or by hand) is skipped so the others still work. */
        /* Parsed once per credential text and cached (reg_keycache). */
        rc = reg_keycache_get(creds[i].format, creds[i].key_pem, &pkeys[n_keys]);
        if (rc == -ENOMEM) {
            r = REG_AUTH_STORE_ERROR;
            goto fail;
        }
        if (rc < 0)
            continue;
        keys[n_keys].type = reg_cred_format_key_type(creds[i].format);
        keys[n_keys].pkey = pkeys[n_keys];
        keys[n_keys].public_pem = NULL;
        key_pos[n_keys] = i;
        n_keys++;
    }
    if (!any_live) {
        r = REG_AUTH_CREDENTIAL_EXPIRED;
        goto fail;
    }
    if (n_keys == 0) {
        r = REG_AUTH_NO_CREDENTIAL;
        goto fail;
    }

    /* aud must be the project that owns the registry (Google's rule). */
    struct reg_jwt_rules jr = *rules;
    jr.audience = path.project;
    r = reg_jwt_verify((const char *)password, pw_len, keys, n_keys, &jr, now, &a.token);
    if (r != REG_AUTH_OK)
        goto fail;
    a.token.key_index = key_pos[a.token.key_index];
    reg_cred_digest(creds[a.token.key_index].format, creds[a.token.key_index].key_pem,
                    a.credential_digest);

    for (size_t i = 0; i < n_keys; i++)
        EVP_PKEY_free(pkeys[i]);
    for (size_t i = 0; i < n_creds; i++)
        db_credential_clear(&creds[i]);
    *ret = a;
    return REG_AUTH_OK;

fail:
    for (size_t i = 0; i < n_keys; i++)
        EVP_PKEY_free(pkeys[i]);
    for (size_t i = 0; i < n_creds; i++)
        db_credential_clear(&creds[i]);
    reg_google_auth_clear(&a);
    return r;
}

int reg_credential_still_live(struct db *db, int64_t device_rowid,
                              const unsigned char digest[REG_CRED_DIGEST_LEN], int64_t now)
{
    struct db_credential creds[DB_MAX_CREDENTIALS];
    size_t n = 0;
    int found = 0;

    int r = db_credential_list(db, device_rowid, creds, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        unsigned char d[REG_CRED_DIGEST_LEN];
        reg_cred_digest(creds[i].format, creds[i].key_pem, d);
        if (memcmp(d, digest, sizeof(d)) == 0 && credential_live(&creds[i], now))
            found = 1;
        db_credential_clear(&creds[i]);
    }
    return found;
}
