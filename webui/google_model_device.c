/* Google's Device as a request body: parsed and validated the way the real
 * service did (credentials checked with reg_cred_check, metadata within
 * Google's limits, gatewayConfig and logLevel as enums, a first config),
 * and the masked fields merged into the stored extra_json. Pure; fuzzed
 * (tests/fuzz/fuzz_rest_body.c). */
#include "webui/google_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "registry/reg_cred.h"

void api_device_in_clear(struct api_device_in *d)
{
    if (!d)
        return;
    json_decref(d->metadata);
    json_decref(d->gateway_config);
    for (size_t i = 0; i < d->n_creds; i++)
        db_credential_clear(&d->creds[i]);
    free(d->config_data);
    memset(d, 0, sizeof(*d));
}

static bool metadata_key_ok(const char *k, size_t len)
{
    if (len < 1 || len > API_G_MAX_METADATA_KEY)
        return false;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = k[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (!strchr("-._+~%", c) || c == '\0')
            return false;
    }
    return true;
}

/* Metadata limits from Google's requirements page (reference section 0). */
static int parse_metadata(const json_t *v, json_t **ret, struct api_err *err)
{
    const char *key;
    const json_t *x;
    size_t total = 0;

    if (api_g_need_type(v, JSON_OBJECT, "metadata", "map", err) < 0)
        return -EINVAL;
    if (json_object_size(v) > API_G_MAX_METADATA_PAIRS) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "metadata: a device can have at most %d metadata pairs.",
                    API_G_MAX_METADATA_PAIRS);
        return -EINVAL;
    }
    json_object_foreach((json_t *)v, key, x) {
        size_t klen = strlen(key);
        if (!metadata_key_ok(key, klen)) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "metadata: invalid key \"%.64s\": keys are 1 to %d characters of "
                        "[a-zA-Z0-9-._+~%%], starting with a letter.", key,
                        API_G_MAX_METADATA_KEY);
            return -EINVAL;
        }
        if (!json_is_string(x)) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "metadata[\"%.64s\"]: values must be strings, got %s.", key,
                        api_g_json_type_name(x));
            return -EINVAL;
        }
        if (json_string_length(x) > API_G_MAX_METADATA_VALUE) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "metadata[\"%.64s\"]: a value can be at most %d bytes.", key,
                        API_G_MAX_METADATA_VALUE);
            return -EINVAL;
        }
        total += klen + json_string_length(x);
    }
    if (total >= API_G_MAX_METADATA_TOTAL) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "metadata: keys and values together must be under %d bytes.",
                    API_G_MAX_METADATA_TOTAL);
        return -EINVAL;
    }
    *ret = json_deep_copy(v);
    return *ret ? 0 : -ENOMEM;
}

static int parse_gateway_config(const json_t *v, json_t **ret, struct api_err *err)
{
    const char *key, *name;
    const json_t *x;
    json_t *o;
    int rc = 0;

    if (api_g_need_type(v, JSON_OBJECT, "gatewayConfig", "object", err) < 0)
        return -EINVAL;
    o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        name = NULL;
        if (strcmp(key, "gatewayType") == 0)
            rc = api_g_enum_parse(x, &api_g_gateway_types, "gatewayConfig.gatewayType", &name,
                                  err);
        else if (strcmp(key, "gatewayAuthMethod") == 0)
            rc = api_g_enum_parse(x, &api_g_gateway_auth_methods,
                                  "gatewayConfig.gatewayAuthMethod", &name, err);
        else if (strcmp(key, "lastAccessedGatewayId") != 0 &&
                 strcmp(key, "lastAccessedGatewayTime") != 0)   /* those two are output only */
            rc = api_g_unknown_name(key, err);
        if (rc == 0 && name && json_object_set_new(o, key, json_string(name)) < 0)
            rc = -ENOMEM;
        if (rc < 0) {
            json_decref(o);
            return rc;
        }
    }
    *ret = o;
    return 0;
}

static int parse_format(const json_t *v, const char *field, enum db_key_format *ret,
                        struct api_err *err)
{
    static const char expect[] = "expected RSA_PEM, RSA_X509_PEM, ES256_PEM or ES256_X509_PEM";

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        uint64_t n;
        if (reg_cred_format_parse(s, ret) == 0)
            return 0;
        if (api_parse_u64(s, &n) == 0 && n <= 1000 &&
            reg_cred_format_from_number((long)n, ret) == 0)
            return 0;
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: unknown format \"%.40s\"; %s.", field, s,
                    expect);
        return -EINVAL;
    }
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= 0 && n <= 1000 && reg_cred_format_from_number((long)n, ret) == 0)
            return 0;
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: unknown format %lld; %s.", field,
                    (long long)n, expect);
        return -EINVAL;
    }
    api_err_set(err, API_G_INVALID_ARGUMENT, "%s: got %s; %s.", field, api_g_json_type_name(v),
                expect);
    return -EINVAL;
}

static int check_with(const struct api_cred_checker *chk, enum db_key_format format,
                      const char *pem, int64_t now_us, char *why, size_t why_len)
{
    if (chk && chk->check)
        return chk->check(chk->ud, format, pem, now_us, why, why_len);
    return reg_cred_check(format, pem, now_us, why, why_len);
}

static int parse_credential(const json_t *e, size_t i, int64_t now_us,
                            const struct api_cred_checker *chk, struct db_credential *ret,
                            struct api_err *err)
{
    char field[96], why[256];
    const char *key;
    const json_t *x, *pk = NULL, *exp = NULL, *fmt = NULL, *pem = NULL;
    enum db_key_format format;
    int64_t exp_us = 0;

    snprintf(field, sizeof(field), "credentials[%zu]", i);
    if (api_g_need_type(e, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)e, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "publicKey") == 0)
            pk = x;
        else if (strcmp(key, "expirationTime") == 0)
            exp = x;
        else
            return api_g_unknown_name(key, err);
    }
    snprintf(field, sizeof(field), "credentials[%zu].publicKey", i);
    if (!pk) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
        return -EINVAL;
    }
    if (api_g_need_type(pk, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)pk, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "format") == 0)
            fmt = x;
        else if (strcmp(key, "key") == 0)
            pem = x;
        else
            return api_g_unknown_name(key, err);
    }
    snprintf(field, sizeof(field), "credentials[%zu].publicKey.format", i);
    if (!fmt) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "%s: required (RSA_PEM, RSA_X509_PEM, ES256_PEM or ES256_X509_PEM).", field);
        return -EINVAL;
    }
    if (parse_format(fmt, field, &format, err) < 0)
        return -EINVAL;
    snprintf(field, sizeof(field), "credentials[%zu].publicKey.key", i);
    if (api_g_check_pem(pem, field, err) < 0)
        return -EINVAL;
    why[0] = '\0';
    if (check_with(chk, format, json_string_value(pem), now_us, why, sizeof(why)) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: %s", field,
                    why[0] ? why : "the key does not match its format.");
        return -EINVAL;
    }
    if (exp) {
        snprintf(field, sizeof(field), "credentials[%zu].expirationTime", i);
        if (api_g_need_type(exp, JSON_STRING, field, "google.protobuf.Timestamp", err) < 0)
            return -EINVAL;
        if (time_parse_rfc3339(json_string_value(exp), &exp_us) < 0 || exp_us < 0) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "%s: \"%.40s\" is not an RFC 3339 timestamp (e.g. "
                        "\"2030-01-01T00:00:00Z\").", field, json_string_value(exp));
            return -EINVAL;
        }
    }
    ret->key_pem = strdup(json_string_value(pem));
    if (!ret->key_pem)
        return -ENOMEM;
    ret->format = format;
    ret->expiration_us = exp_us;    /* the epoch itself means "never", as in Google's output */
    return 0;
}

static int parse_device_credentials(const json_t *v, int64_t now_us,
                                    const struct api_cred_checker *chk, struct api_device_in *d,
                                    struct api_err *err)
{
    size_t i;
    const json_t *e;

    if (api_g_need_type(v, JSON_ARRAY, "credentials", "array", err) < 0)
        return -EINVAL;
    /* Google's quota: three credentials per device (rotation overlap). */
    if (json_array_size(v) > DB_MAX_CREDENTIALS) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "The device can have at most %d credentials (got %zu).", DB_MAX_CREDENTIALS,
                    json_array_size(v));
        return -EINVAL;
    }
    json_array_foreach(v, i, e) {
        int rc = parse_credential(e, i, now_us, chk, &d->creds[d->n_creds], err);
        if (rc < 0)
            return rc;
        d->n_creds++;
    }
    return 0;
}

static int parse_int64_zero(const json_t *v, const char *field, bool *ret_zero,
                            struct api_err *err)
{
    uint64_t u;

    if (json_is_integer(v)) {
        *ret_zero = json_integer_value(v) == 0;
        return 0;
    }
    if (json_is_string(v) && api_parse_u64(json_string_value(v), &u) == 0) {
        *ret_zero = u == 0;
        return 0;
    }
    api_err_set(err, API_G_INVALID_ARGUMENT, "Invalid value at '%s' (TYPE_INT64): got %s.",
                field, api_g_json_type_name(v));
    return -EINVAL;
}

static int parse_device_config(const json_t *v, bool create, struct api_device_in *d,
                               struct api_err *err)
{
    const char *key;
    const json_t *x;
    bool zero;
    int rc;

    if (api_g_need_type(v, JSON_OBJECT, "config", "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "version") == 0) {
            if (parse_int64_zero(x, "config.version", &zero, err) < 0)
                return -EINVAL;
            /* [PROTO] a config given at creation must carry version 0. */
            if (create && !zero) {
                api_err_set(err, API_G_INVALID_ARGUMENT,
                            "config.version: must be 0 (unset) when creating a device.");
                return -EINVAL;
            }
        } else if (strcmp(key, "binaryData") == 0) {
            uint8_t *data;
            size_t len;
            if (api_g_need_type(x, JSON_STRING, "config.binaryData", "TYPE_BYTES", err) < 0)
                return -EINVAL;
            rc = api_base64_decode(json_string_value(x), API_G_MAX_CONFIG_BYTES, &data, &len);
            if (rc == -EMSGSIZE) {
                api_err_set(err, API_G_INVALID_ARGUMENT,
                            "config.binaryData: a configuration can be at most %d bytes.",
                            API_G_MAX_CONFIG_BYTES);
                return -EINVAL;
            }
            if (rc == -EINVAL) {
                api_err_set(err, API_G_INVALID_ARGUMENT,
                            "Invalid value at 'config.binaryData' (TYPE_BYTES): not base64.");
                return -EINVAL;
            }
            if (rc < 0)
                return rc;
            free(d->config_data);
            d->config_data = data;
            d->config_len = len;
        } else if (strcmp(key, "cloudUpdateTime") == 0 || strcmp(key, "deviceAckTime") == 0) {
            continue;       /* output only */
        } else {
            return api_g_unknown_name(key, err);
        }
    }
    return 0;
}

int api_google_device_parse(const char *body, size_t len, bool create, int64_t now_us,
                            struct api_device_in *ret, struct api_err *err)
{
    json_t *root = NULL;
    int rc = api_g_load_object(body, len, "Device", &root, err);

    if (rc < 0)
        return rc;
    rc = api_google_device_parse_json(root, create, now_us, NULL, ret, err);
    json_decref(root);
    return rc;
}

int api_google_device_parse_json(const json_t *root, bool create, int64_t now_us,
                                 const struct api_cred_checker *chk, struct api_device_in *ret,
                                 struct api_err *err)
{
    struct api_device_in d;
    const char *key;
    json_t *v;
    int rc = 0;

    memset(&d, 0, sizeof(d));
    if (api_g_need_type(root, JSON_OBJECT, "device", "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)root, key, v) {
        unsigned bit = api_g_device_field(key, strlen(key));

        if (!bit) {
            rc = api_g_unknown_name(key, err);
            goto out;
        }
        if (json_is_null(v))
            continue;
        d.present |= bit;
        switch (bit) {
        case API_DEV_ID:
            rc = api_g_copy_string(v, "id", d.id, sizeof(d.id), err);
            break;
        case API_DEV_NAME:
            rc = api_g_copy_string(v, "name", d.name, sizeof(d.name), err);
            break;
        case API_DEV_NUM_ID:
            /* uint64 as a string (or a number); output only, kept to compare. */
            if (json_is_integer(v) && json_integer_value(v) >= 0)
                snprintf(d.num_id, sizeof(d.num_id), "%lld", (long long)json_integer_value(v));
            else
                rc = api_g_copy_string(v, "numId", d.num_id, sizeof(d.num_id), err);
            break;
        case API_DEV_CREDENTIALS:
            rc = parse_device_credentials(v, now_us, chk, &d, err);
            break;
        case API_DEV_BLOCKED:
            rc = api_g_need_type(v, json_is_true(v) ? JSON_TRUE : JSON_FALSE, "blocked",
                                 "TYPE_BOOL", err);
            d.blocked = json_is_true(v);
            break;
        case API_DEV_METADATA:
            rc = parse_metadata(v, &d.metadata, err);
            break;
        case API_DEV_GATEWAY_CONFIG:
            rc = parse_gateway_config(v, &d.gateway_config, err);
            break;
        case API_DEV_LOG_LEVEL:
            rc = api_g_enum_parse(v, &api_g_log_levels, "logLevel", &d.log_level, err);
            break;
        case API_DEV_CONFIG:
            rc = parse_device_config(v, create, &d, err);
            break;
        default:
            break;          /* output-only fields are accepted and ignored */
        }
        if (rc < 0)
            goto out;
    }
    if (create && (rc = api_g_check_new_id(d.id, "device", err)) < 0)
        goto out;
    *ret = d;
    memset(&d, 0, sizeof(d));
    rc = 0;
out:
    api_device_in_clear(&d);
    return rc;
}

int api_google_device_extra(const char *old_extra, const struct api_device_in *in, unsigned mask,
                            char **ret)
{
    json_t *o = api_g_load_extra(old_extra);
    json_t *ll = NULL, *md = NULL, *gw;
    char *text = NULL;
    int rc = -ENOMEM;

    if (!o && !(o = json_object()))
        return -ENOMEM;
    if ((mask & API_DEV_LOG_LEVEL) && in->log_level && !(ll = json_string(in->log_level)))
        goto out;
    if ((mask & API_DEV_LOG_LEVEL) && api_g_put_or_del(o, "logLevel", ll) < 0)
        goto out;
    if (mask & API_DEV_METADATA) {
        if (in->metadata && json_object_size(in->metadata) > 0)
            md = in->metadata;
        if (api_g_put_or_del(o, "metadata", md) < 0)
            goto out;
    }
    if (mask & API_DEV_GATEWAY_CONFIG) {
        gw = in->gateway_config && json_object_size(in->gateway_config) > 0 ? in->gateway_config
                                                                             : NULL;
        if (api_g_put_or_del(o, "gatewayConfig", gw) < 0)
            goto out;
    }
    if (mask & API_DEV_GATEWAY_AUTH_METHOD) {
        json_t *method = in->gateway_config ? json_object_get(in->gateway_config,
                                                              "gatewayAuthMethod") : NULL;
        gw = json_object_get(o, "gatewayConfig");
        if (!gw && method) {
            gw = json_object();
            if (!gw || json_object_set_new(o, "gatewayConfig", gw) < 0)
                goto out;
        }
        if (gw) {
            /* The stored object may be shared with `in`; copy before editing. */
            json_t *copy = json_deep_copy(gw);
            if (!copy)
                goto out;
            if (api_g_put_or_del(copy, "gatewayAuthMethod", method) < 0) {
                json_decref(copy);
                goto out;
            }
            if (json_object_set_new(o, "gatewayConfig", copy) < 0)
                goto out;
            if (json_object_size(copy) == 0)
                json_object_del(o, "gatewayConfig");
        }
    }
    if (json_object_size(o) > 0) {
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
            goto out;
    }
    *ret = text;
    rc = 0;
out:
    json_decref(ll);
    json_decref(o);
    return rc;
}
