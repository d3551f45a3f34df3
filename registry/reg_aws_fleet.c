/* Fleet provisioning by claim; see reg_aws_fleet.h. */
#include "registry/reg_aws_fleet.h"

#include <errno.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "db/db_aws.h"
#include "registry/reg_aws_provision.h"

#define TOKEN_KEY_SETTING "fleet-ownership-token-key"
#define TOKEN_PREFIX "iotcored1."

void reg_aws_fleet_reply_clear(struct reg_aws_fleet_reply *r)
{
    if (!r)
        return;
    if (r->doc) {
        explicit_bzero(r->doc, strlen(r->doc));
        free(r->doc);
    }
    memset(r, 0, sizeof(*r));
}

static int rejected(struct reg_aws_fleet_reply *out, int status, const char *code,
                    const char *message)
{
    json_t *j = json_pack("{s:i, s:s, s:s}", "statusCode", status, "errorCode", code,
                          "errorMessage", message);
    out->accepted = false;
    out->doc = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out->doc ? 0 : -ENOMEM;
}

static int accepted(struct reg_aws_fleet_reply *out, json_t *j)
{
    out->accepted = true;
    out->doc = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out->doc ? 0 : -ENOMEM;
}

/* ---- ownership tokens ---- */

static int token_key(struct db *db, char key[65])
{
    int r = db_aws_setting_get(db, TOKEN_KEY_SETTING, key, 65);
    if (r != -ENOENT)
        return r;
    uint8_t b[32];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -EIO;
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(key + 2 * i, 3, "%02x", b[i]);
    explicit_bzero(b, sizeof(b));
    return db_aws_setting_set(db, TOKEN_KEY_SETTING, key);
}

static int token_mac(const char *key, const char *cert_id, long long expiry, char out[65])
{
    char msg[128];
    unsigned char md[32];
    unsigned int mdlen = 0;
    int n = snprintf(msg, sizeof(msg), "%s.%lld", cert_id, expiry);
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, (size_t)n, md, &mdlen))
        return -EIO;
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int token_make(struct db *db, const char *cert_id, int64_t now_us, char *out, size_t cap)
{
    char key[65], mac[65];
    long long expiry = (now_us + REG_AWS_TOKEN_TTL_US) / 1000000;
    int r = token_key(db, key);
    if (r == 0)
        r = token_mac(key, cert_id, expiry, mac);
    explicit_bzero(key, sizeof(key));
    if (r < 0)
        return r;
    snprintf(out, cap, TOKEN_PREFIX "%s.%lld.%s", cert_id, expiry, mac);
    return 0;
}

/* 0 with cert_id filled, -EINVAL (not ours, forged, or expired), -EIO. */
static int token_check(struct db *db, const char *token, int64_t now_us,
                       char cert_id[AWS_CERT_ID_LEN + 1])
{
    char key[65], mac[65], got_mac[65];
    long long expiry;
    int used = 0;

    if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 || strlen(token) > 200)
        return -EINVAL;
    if (sscanf(token + strlen(TOKEN_PREFIX), "%64[0-9a-f].%lld.%64[0-9a-f]%n", cert_id, &expiry,
               got_mac, &used) != 3 ||
        token[strlen(TOKEN_PREFIX) + (size_t)used] != '\0' || strlen(cert_id) != AWS_CERT_ID_LEN ||
        strlen(got_mac) != 64 || expiry < 0 || expiry > INT64_MAX / 1000000)
        return -EINVAL;
    int r = db_aws_setting_get(db, TOKEN_KEY_SETTING, key, sizeof(key));
    if (r == -ENOENT)
        return -EINVAL;
    if (r == 0)
        r = token_mac(key, cert_id, expiry, mac);
    explicit_bzero(key, sizeof(key));
    if (r < 0)
        return -EIO;
    if (CRYPTO_memcmp(mac, got_mac, 64) != 0 || expiry * 1000000 < now_us)
        return -EINVAL;
    return 0;
}

/* ---- CreateKeysAndCertificate, CreateCertificateFromCsr ---- */

int reg_aws_fleet_create(struct db *db, const struct aws_issuer *issuer, const char *csr_payload,
                         size_t len, int64_t now_us, struct reg_aws_fleet_reply *out)
{
    char *cert = NULL, *pub = NULL, *priv = NULL, why[256];
    char token[256];
    struct aws_cert_info info;
    int r;

    if (!issuer)
        return rejected(out, 500, "InternalFailure", "The daemon's CA cannot issue certificates");
    if (csr_payload) {
        json_t *j = json_loadb(csr_payload, len, 0, NULL);
        const char *csr = json_string_value(json_object_get(j, "certificateSigningRequest"));
        if (!csr) {
            json_decref(j);
            return rejected(out, 400, "InvalidPayload",
                            "certificateSigningRequest is missing or not a string");
        }
        r = aws_issue_from_csr(issuer, csr, strlen(csr), &cert, why, sizeof(why));
        json_decref(j);
        if (r == -EINVAL)
            return rejected(out, 400, "InvalidCsr", why);
    } else {
        r = aws_issue_keys_and_certificate(issuer, &cert, &pub, &priv);
    }
    if (r == -ENOMEM)
        return r;
    if (r < 0 || aws_cert_parse_pem(cert, strlen(cert), &info, why, sizeof(why)) < 0) {
        log_err("fleet provisioning: issuing a certificate failed");
        r = rejected(out, 500, "InternalFailure", "Internal failure");
        goto out;
    }
    struct db_aws_cert c = { 0 };
    snprintf(c.id, sizeof(c.id), "%s", info.id);
    snprintf(c.status, sizeof(c.status), "PENDING_ACTIVATION");
    snprintf(c.mode, sizeof(c.mode), "DEFAULT");
    snprintf(c.auto_registration, sizeof(c.auto_registration), "DISABLE");
    c.not_before_us = info.not_before_us;
    c.not_after_us = info.not_after_us;
    c.created_us = c.modified_us = now_us;
    c.generation = 1;
    c.pem = cert;
    r = db_aws_cert_insert(db, &c);
    if (r == 0)
        r = token_make(db, info.id, now_us, token, sizeof(token));
    if (r < 0) {
        log_err("fleet provisioning: storing certificate %s failed: %s", info.id, db_last_error(db));
        r = r == -ENOMEM ? r : rejected(out, 500, "InternalFailure", "Internal failure");
        goto out;
    }
    snprintf(out->cert_id, sizeof(out->cert_id), "%s", info.id);
    json_t *j = json_pack("{s:s, s:s, s:s}", "certificateId", info.id, "certificatePem", cert,
                          "certificateOwnershipToken", token);
    if (j && priv && json_object_set_new(j, "privateKey", json_string(priv)) < 0) {
        json_decref(j);
        j = NULL;
    }
    r = accepted(out, j);
out:
    free(cert);
    free(pub);
    if (priv) {
        explicit_bzero(priv, strlen(priv));
        free(priv);
    }
    return r;
}

/* ---- RegisterThing ---- */

int reg_aws_fleet_register(struct db *db, const struct reg_aws_env *env, const char *template_name,
                           const char *payload, size_t len, int64_t now_us,
                           struct reg_aws_fleet_reply *out)
{
    struct aws_template_param params[48];
    size_t n = 0;
    char cert_id[AWS_CERT_ID_LEN + 1], type[DB_AWS_TEMPLATE_TYPE_MAX];
    char *body = NULL;
    bool enabled = false;
    int r;

    json_t *j = json_loadb(payload, len, 0, NULL);
    const char *token = json_string_value(json_object_get(j, "certificateOwnershipToken"));
    json_t *ps = json_object_get(j, "parameters");
    if (!json_is_object(j)) {
        r = rejected(out, 400, "InvalidPayload", "The payload is not a JSON object");
        goto out;
    }
    if (!token) {
        r = rejected(out, 400, "InvalidPayload", "certificateOwnershipToken is required");
        goto out;
    }
    if (ps && !json_is_null(ps)) {
        const char *k;
        json_t *v;
        if (!json_is_object(ps) || json_object_size(ps) > sizeof(params) / sizeof(params[0]) - 1) {
            r = rejected(out, 400, "InvalidParameters", "parameters must be an object of strings");
            goto out;
        }
        json_object_foreach(ps, k, v) {
            if (!json_is_string(v) || strncmp(k, "AWS::", 5) == 0) {
                r = rejected(out, 400, "InvalidParameters",
                             "parameters must be an object of strings");
                goto out;
            }
            params[n++] = (struct aws_template_param){ k, json_string_value(v) };
        }
    }
    r = token_check(db, token, now_us, cert_id);
    if (r == -EIO) {
        r = rejected(out, 500, "InternalFailure", "Internal failure");
        goto out;
    }
    struct db_aws_cert c = { 0 };
    if (r < 0 || db_aws_cert_get(db, cert_id, &c) < 0) {
        r = rejected(out, 400, "InvalidCertificateOwnershipToken",
                     "The certificate ownership token is not valid");
        goto out;
    }
    db_aws_cert_clear(&c);
    r = db_aws_template_get_default_body(db, template_name, &body, &enabled, type);
    if (r == -ENOENT || (r == 0 && strcmp(type, "FLEET_PROVISIONING") != 0)) {
        r = rejected(out, 404, "ResourceNotFound", "The provisioning template does not exist");
        goto out;
    }
    if (r < 0) {
        r = r == -ENOMEM ? r : rejected(out, 500, "InternalFailure", "Internal failure");
        goto out;
    }
    if (!enabled) {
        r = rejected(out, 400, "InvalidRequest", "The provisioning template is disabled");
        goto out;
    }
    struct reg_aws_prov_out po = { 0 };
    r = reg_aws_provision(db, env, body, strlen(body), params, n, cert_id, "ACTIVE", now_us, &po);
    if (r == -ENOMEM) {
        reg_aws_prov_out_clear(&po);
        goto out;
    }
    if (r < 0) {
        r = rejected(out, r == -EIO ? 500 : 400, r == -EIO ? "InternalFailure" : "InvalidParameters",
                     po.err);
        reg_aws_prov_out_clear(&po);
        goto out;
    }
    snprintf(out->cert_id, sizeof(out->cert_id), "%s", cert_id);
    json_t *acc = json_pack("{s:o?, s:s}", "deviceConfiguration",
                            json_loads(po.device_configuration, 0, NULL), "thingName",
                            po.thing_name);
    reg_aws_prov_out_clear(&po);
    r = accepted(out, acc);
out:
    free(body);
    json_decref(j);
    return r;
}
