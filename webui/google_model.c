/* Google Cloud IoT v1 resources as JSON: DeviceRegistry and Device bodies
 * parsed and validated the way the real service did (proto3 JSON mapping:
 * lowerCamel names, enums as names or numbers, int64 as strings, unknown
 * names refused), and the stored rows rendered back in Google's shape.
 * Pure: no store, no sockets; the body parsers are fuzzed
 * (tests/fuzz/fuzz_rest_body.c). */
#include "webui/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "registry/reg_cred.h"
#include "registry/reg_names.h"

/* ---- proto3 enums ---- */

struct enum_def {
    const char *name;
    long number;
};

/* Numbers from resources.proto; entry 0 is the unspecified value, which
 * proto3 never writes out. */
static const struct enum_def log_levels[] = {
    { "LOG_LEVEL_UNSPECIFIED", 0 }, { "NONE", 10 }, { "ERROR", 20 }, { "INFO", 30 },
    { "DEBUG", 40 },
};
static const struct enum_def mqtt_states[] = {
    { "MQTT_STATE_UNSPECIFIED", 0 }, { "MQTT_ENABLED", 1 }, { "MQTT_DISABLED", 2 },
};
static const struct enum_def http_states[] = {
    { "HTTP_STATE_UNSPECIFIED", 0 }, { "HTTP_ENABLED", 1 }, { "HTTP_DISABLED", 2 },
};
static const struct enum_def gateway_types[] = {
    { "GATEWAY_TYPE_UNSPECIFIED", 0 }, { "GATEWAY", 1 }, { "NON_GATEWAY", 2 },
};
static const struct enum_def gateway_auth_methods[] = {
    { "GATEWAY_AUTH_METHOD_UNSPECIFIED", 0 }, { "ASSOCIATION_ONLY", 1 },
    { "DEVICE_AUTH_TOKEN_ONLY", 2 }, { "ASSOCIATION_AND_DEVICE_AUTH_TOKEN", 3 },
};
static const struct enum_def cert_formats[] = {
    { "UNSPECIFIED_PUBLIC_KEY_CERTIFICATE_FORMAT", 0 }, { "X509_CERTIFICATE_PEM", 1 },
};
#define ENUM_N(t) (sizeof(t) / sizeof((t)[0]))

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Reads an enum the way a proto3 JSON parser does: its name, its number, or
 * its number as a string (Google's libraries send numbers with
 * enum-encoding=int). *ret is NULL for the unspecified value. */
static int enum_parse(const json_t *v, const struct enum_def *defs, size_t n, const char *field,
                      const char **ret, struct api_err *err)
{
    long number = -1;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        uint64_t u;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(s, defs[i].name) == 0) {
                *ret = i == 0 ? NULL : defs[i].name;
                return 0;
            }
        }
        if (api_parse_u64(s, &u) == 0 && u <= 1000)
            number = (long)u;
    } else if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x >= 0 && x <= 1000)
            number = (long)x;
    }
    for (size_t i = 0; number >= 0 && i < n; i++) {
        if (defs[i].number == number) {
            *ret = i == 0 ? NULL : defs[i].name;
            return 0;
        }
    }
    if (json_is_string(v))
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "Invalid value at '%s' (enum), \"%.64s\".", field,
                    json_string_value(v));
    else
        api_err_set(err, API_G_INVALID_ARGUMENT, "Invalid value at '%s' (enum): got %s.", field,
                    json_type_name(v));
    return -EINVAL;
}

static int need_type(const json_t *v, json_type t, const char *field, const char *want,
                     struct api_err *err)
{
    if (json_typeof(v) == t)
        return 0;
    api_err_set(err, API_G_INVALID_ARGUMENT, "Invalid value at '%s' (%s): got %s.", field, want,
                json_type_name(v));
    return -EINVAL;
}

static int unknown_name(const char *key, struct api_err *err)
{
    /* Google's proto3 parser words it exactly so. */
    api_err_set(err, API_G_INVALID_ARGUMENT,
                "Invalid JSON payload received. Unknown name \"%.64s\": Cannot find field.", key);
    return -EINVAL;
}

static int copy_string(const json_t *v, const char *field, char *out, size_t cap,
                       struct api_err *err)
{
    size_t len;

    if (need_type(v, JSON_STRING, field, "TYPE_STRING", err) < 0)
        return -EINVAL;
    len = json_string_length(v);
    if (len >= cap) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: longer than %zu characters.", field,
                    cap - 1);
        return -EINVAL;
    }
    memcpy(out, json_string_value(v), len + 1);
    return 0;
}

/* Parses the body as one JSON object; an empty body is the empty message. */
static int load_object(const char *body, size_t len, const char *what, json_t **ret,
                       struct api_err *err)
{
    json_error_t jerr;
    json_t *root;

    if (len == 0) {
        *ret = json_object();
        return *ret ? 0 : -ENOMEM;
    }
    /* Duplicate names are refused, as proto3 parsers do; NUL bytes in
     * strings are refused by jansson's default. */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "Invalid JSON payload received. %.200s at line %d, column %d.", jerr.text,
                    jerr.line, jerr.column);
        return -EINVAL;
    }
    if (!json_is_object(root)) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "Invalid JSON payload received. Expected an object (%s), got %s.", what,
                    json_type_name(root));
        json_decref(root);
        return -EINVAL;
    }
    *ret = root;
    return 0;
}

/* "projects/P/topics/T": both parts become topic levels upstream, so both
 * obey the no '+', '#', '/' rule (DESIGN.md); T follows Pub/Sub's own
 * rules, which are the id rules. */
static int check_pubsub_topic(const char *s, const char *field, struct api_err *err)
{
    char project[256];
    const char *p, *slash, *why = NULL;
    size_t plen;

    if (strncmp(s, "projects/", 9) != 0)
        goto bad;
    p = s + 9;
    slash = strchr(p, '/');
    if (!slash)
        goto bad;
    plen = (size_t)(slash - p);
    if (plen == 0 || plen >= sizeof(project))
        goto bad;
    memcpy(project, p, plen);
    project[plen] = '\0';
    if (reg_name_check_project(project, &why) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: project %s.", field, why);
        return -EINVAL;
    }
    if (strncmp(slash, "/topics/", 8) != 0)
        goto bad;
    if (reg_name_check_id(slash + 8, &why) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: topic %s.", field, why);
        return -EINVAL;
    }
    return 0;
bad:
    api_err_set(err, API_G_INVALID_ARGUMENT,
                "%s: expected a Pub/Sub topic name \"projects/PROJECT/topics/TOPIC\".", field);
    return -EINVAL;
}

/* ---- DeviceRegistry ---- */

void api_registry_in_clear(struct api_registry_in *r)
{
    if (!r)
        return;
    json_decref(r->extra);
    memset(r, 0, sizeof(*r));
}

static int parse_event_configs(const json_t *v, json_t *extra, struct api_err *err)
{
    json_t *out;
    size_t i;
    const json_t *e;

    if (need_type(v, JSON_ARRAY, "eventNotificationConfigs", "array", err) < 0)
        return -EINVAL;
    if (json_array_size(v) > API_G_MAX_EVENT_CONFIGS) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "eventNotificationConfigs: at most %d configurations are allowed.",
                    API_G_MAX_EVENT_CONFIGS);
        return -EINVAL;
    }
    out = json_array();
    if (!out)
        return -ENOMEM;
    json_array_foreach(v, i, e) {
        char field[96];
        const char *key;
        const json_t *x;
        json_t *o;

        snprintf(field, sizeof(field), "eventNotificationConfigs[%zu]", i);
        if (need_type(e, JSON_OBJECT, field, "object", err) < 0)
            goto fail;
        o = json_object();
        if (!o || json_array_append_new(out, o) < 0)
            goto oom;
        json_object_foreach((json_t *)e, key, x) {
            if (json_is_null(x))
                continue;
            if (strcmp(key, "subfolderMatches") == 0) {
                snprintf(field, sizeof(field), "eventNotificationConfigs[%zu].subfolderMatches", i);
                if (need_type(x, JSON_STRING, field, "TYPE_STRING", err) < 0)
                    goto fail;
                /* Subfolders are matched without their leading '/' [DOC]. */
                if (json_string_value(x)[0] == '/') {
                    api_err_set(err, API_G_INVALID_ARGUMENT, "%s: must not start with '/'.",
                                field);
                    goto fail;
                }
                if (json_string_length(x) > 0 &&
                    json_object_set(o, "subfolderMatches", (json_t *)x) < 0)
                    goto oom;
            } else if (strcmp(key, "pubsubTopicName") == 0) {
                snprintf(field, sizeof(field), "eventNotificationConfigs[%zu].pubsubTopicName", i);
                if (need_type(x, JSON_STRING, field, "TYPE_STRING", err) < 0 ||
                    check_pubsub_topic(json_string_value(x), field, err) < 0)
                    goto fail;
                if (json_object_set(o, "pubsubTopicName", (json_t *)x) < 0)
                    goto oom;
            } else {
                unknown_name(key, err);
                goto fail;
            }
        }
        if (!json_object_get(o, "pubsubTopicName")) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "eventNotificationConfigs[%zu].pubsubTopicName: required.", i);
            goto fail;
        }
    }
    if (json_array_size(out) > 0 && json_object_set(extra, "eventNotificationConfigs", out) < 0)
        goto oom;
    json_decref(out);
    return 0;
oom:
    json_decref(out);
    return -ENOMEM;
fail:
    json_decref(out);
    return -EINVAL;
}

static int parse_state_config(const json_t *v, json_t *extra, struct api_err *err)
{
    const char *key;
    const json_t *x;
    const json_t *topic = NULL;
    json_t *o;

    if (need_type(v, JSON_OBJECT, "stateNotificationConfig", "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "pubsubTopicName") != 0)
            return unknown_name(key, err);
        if (need_type(x, JSON_STRING, "stateNotificationConfig.pubsubTopicName", "TYPE_STRING",
                      err) < 0)
            return -EINVAL;
        if (json_string_length(x) == 0)
            continue;       /* an empty name means "no topic" */
        if (check_pubsub_topic(json_string_value(x), "stateNotificationConfig.pubsubTopicName",
                               err) < 0)
            return -EINVAL;
        topic = x;
    }
    if (!topic)
        return 0;
    o = json_pack("{s:O}", "pubsubTopicName", topic);
    if (!o || json_object_set_new(extra, "stateNotificationConfig", o) < 0)
        return -ENOMEM;
    return 0;
}

/* mqttConfig / httpConfig: one enum; unspecified means enabled [PROTO], and
 * we store it explicitly so the reply shows what the bridge will do. */
static int parse_enabled_state(const json_t *v, const char *field, const char *subfield,
                               const struct enum_def *defs, size_t n, json_t *extra,
                               struct api_err *err)
{
    char path[64];
    const char *key, *name = NULL;
    const json_t *x;
    json_t *o;

    if (need_type(v, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, subfield) != 0)
            return unknown_name(key, err);
        snprintf(path, sizeof(path), "%s.%s", field, subfield);
        if (enum_parse(x, defs, n, path, &name, err) < 0)
            return -EINVAL;
    }
    o = json_pack("{s:s}", subfield, name ? name : defs[1].name);
    if (!o || json_object_set_new(extra, field, o) < 0)
        return -ENOMEM;
    return 0;
}

static int parse_registry_credentials(const json_t *v, int64_t now_us, json_t *extra,
                                      struct api_err *err)
{
    json_t *out;
    size_t i;
    const json_t *e;

    if (need_type(v, JSON_ARRAY, "credentials", "array", err) < 0)
        return -EINVAL;
    if (json_array_size(v) > API_G_MAX_REGISTRY_CERTS) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "credentials: a registry can have at most %d certificates.",
                    API_G_MAX_REGISTRY_CERTS);
        return -EINVAL;
    }
    out = json_array();
    if (!out)
        return -ENOMEM;
    json_array_foreach(v, i, e) {
        char field[96], why_rsa[160], why_ec[160];
        const char *key, *format = NULL;
        const json_t *x, *pkc = NULL, *cert = NULL;
        bool have_format = false;
        json_t *o;

        snprintf(field, sizeof(field), "credentials[%zu]", i);
        if (need_type(e, JSON_OBJECT, field, "object", err) < 0)
            goto fail;
        json_object_foreach((json_t *)e, key, x) {
            if (json_is_null(x))
                continue;
            if (strcmp(key, "publicKeyCertificate") != 0) {
                unknown_name(key, err);
                goto fail;
            }
            pkc = x;
        }
        snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate", i);
        if (!pkc) {
            api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
            goto fail;
        }
        if (need_type(pkc, JSON_OBJECT, field, "object", err) < 0)
            goto fail;
        json_object_foreach((json_t *)pkc, key, x) {
            if (json_is_null(x))
                continue;
            if (strcmp(key, "format") == 0) {
                snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate.format", i);
                if (enum_parse(x, cert_formats, ENUM_N(cert_formats), field, &format, err) < 0)
                    goto fail;
                have_format = true;
            } else if (strcmp(key, "certificate") == 0) {
                cert = x;
            } else if (strcmp(key, "x509Details") == 0) {
                continue;   /* output only */
            } else {
                unknown_name(key, err);
                goto fail;
            }
        }
        if (!have_format || !format) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "credentials[%zu].publicKeyCertificate.format: must be "
                        "X509_CERTIFICATE_PEM.", i);
            goto fail;
        }
        snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate.certificate", i);
        if (!cert || (json_is_string(cert) && json_string_length(cert) == 0)) {
            api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
            goto fail;
        }
        if (need_type(cert, JSON_STRING, field, "TYPE_STRING", err) < 0)
            goto fail;
        if (json_string_length(cert) > API_G_MAX_KEY_PEM) {
            api_err_set(err, API_G_INVALID_ARGUMENT, "%s: longer than %d bytes.", field,
                        API_G_MAX_KEY_PEM);
            goto fail;
        }
        /* A registry CA may carry either key type the devices can use. */
        if (reg_cred_check(DB_KEY_RSA_X509_PEM, json_string_value(cert), now_us, why_rsa,
                           sizeof(why_rsa)) < 0 &&
            reg_cred_check(DB_KEY_ES256_X509_PEM, json_string_value(cert), now_us, why_ec,
                           sizeof(why_ec)) < 0) {
            api_err_set(err, API_G_INVALID_ARGUMENT,
                        "%s: not a usable X.509 certificate (as RSA: %s; as EC P-256: %s).", field,
                        why_rsa, why_ec);
            goto fail;
        }
        o = json_pack("{s:{s:s,s:O}}", "publicKeyCertificate", "format", format, "certificate",
                      cert);
        if (!o || json_array_append_new(out, o) < 0)
            goto oom;
    }
    if (json_array_size(out) > 0 && json_object_set(extra, "credentials", out) < 0)
        goto oom;
    json_decref(out);
    return 0;
oom:
    json_decref(out);
    return -ENOMEM;
fail:
    json_decref(out);
    return -EINVAL;
}

int api_google_registry_parse(const char *body, size_t len, bool create, int64_t now_us,
                              struct api_registry_in *ret, struct api_err *err)
{
    struct api_registry_in r;
    const char *key, *why = NULL;
    json_t *root = NULL, *v;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = load_object(body, len, "DeviceRegistry", &root, err);
    if (rc < 0)
        return rc;
    r.extra = json_object();
    if (!r.extra) {
        rc = -ENOMEM;
        goto out;
    }
    json_object_foreach(root, key, v) {
        if (json_is_null(v))
            continue;       /* proto3: null is the default value */
        if (strcmp(key, "id") == 0) {
            rc = copy_string(v, "id", r.id, sizeof(r.id), err);
            r.present |= API_REG_ID;
        } else if (strcmp(key, "name") == 0) {
            rc = copy_string(v, "name", r.name, sizeof(r.name), err);
            r.present |= API_REG_NAME;
        } else if (strcmp(key, "eventNotificationConfigs") == 0) {
            rc = parse_event_configs(v, r.extra, err);
            r.present |= API_REG_EVENT_CONFIGS;
        } else if (strcmp(key, "stateNotificationConfig") == 0) {
            rc = parse_state_config(v, r.extra, err);
            r.present |= API_REG_STATE_CONFIG;
        } else if (strcmp(key, "mqttConfig") == 0) {
            rc = parse_enabled_state(v, "mqttConfig", "mqttEnabledState", mqtt_states,
                                     ENUM_N(mqtt_states), r.extra, err);
            r.present |= API_REG_MQTT_CONFIG;
        } else if (strcmp(key, "httpConfig") == 0) {
            rc = parse_enabled_state(v, "httpConfig", "httpEnabledState", http_states,
                                     ENUM_N(http_states), r.extra, err);
            r.present |= API_REG_HTTP_CONFIG;
        } else if (strcmp(key, "logLevel") == 0) {
            const char *name = NULL;
            rc = enum_parse(v, log_levels, ENUM_N(log_levels), "logLevel", &name, err);
            if (rc == 0 && name && json_object_set_new(r.extra, "logLevel", json_string(name)) < 0)
                rc = -ENOMEM;
            r.present |= API_REG_LOG_LEVEL;
        } else if (strcmp(key, "credentials") == 0) {
            rc = parse_registry_credentials(v, now_us, r.extra, err);
            r.present |= API_REG_CREDENTIALS;
        } else {
            rc = unknown_name(key, err);
        }
        if (rc < 0)
            goto out;
    }
    if (create) {
        if (r.id[0] == '\0') {
            api_err_set(err, API_G_INVALID_ARGUMENT, "id: a registry id is required.");
            rc = -EINVAL;
            goto out;
        }
        if (reg_name_check_id(r.id, &why) < 0) {
            api_err_set(err, API_G_INVALID_ARGUMENT, "id: %s.", why ? why : "invalid id");
            rc = -EINVAL;
            goto out;
        }
        /* Google showed the protocols as enabled on a fresh registry. */
        if (!json_object_get(r.extra, "mqttConfig") &&
            json_object_set_new(r.extra, "mqttConfig",
                                json_pack("{s:s}", "mqttEnabledState", "MQTT_ENABLED")) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        if (!json_object_get(r.extra, "httpConfig") &&
            json_object_set_new(r.extra, "httpConfig",
                                json_pack("{s:s}", "httpEnabledState", "HTTP_ENABLED")) < 0) {
            rc = -ENOMEM;
            goto out;
        }
    }
    *ret = r;
    memset(&r, 0, sizeof(r));
    rc = 0;
out:
    json_decref(root);
    api_registry_in_clear(&r);
    return rc;
}

/* ---- Device ---- */

static const struct {
    const char *name;
    unsigned bit;
} device_fields[] = {
    { "id", API_DEV_ID },
    { "name", API_DEV_NAME },
    { "numId", API_DEV_NUM_ID },
    { "credentials", API_DEV_CREDENTIALS },
    { "lastHeartbeatTime", API_DEV_LAST_HEARTBEAT_TIME },
    { "lastEventTime", API_DEV_LAST_EVENT_TIME },
    { "lastStateTime", API_DEV_LAST_STATE_TIME },
    { "lastConfigAckTime", API_DEV_LAST_CONFIG_ACK_TIME },
    { "lastConfigSendTime", API_DEV_LAST_CONFIG_SEND_TIME },
    { "blocked", API_DEV_BLOCKED },
    { "lastErrorTime", API_DEV_LAST_ERROR_TIME },
    { "lastErrorStatus", API_DEV_LAST_ERROR_STATUS },
    { "config", API_DEV_CONFIG },
    { "state", API_DEV_STATE },
    { "logLevel", API_DEV_LOG_LEVEL },
    { "metadata", API_DEV_METADATA },
    { "gatewayConfig", API_DEV_GATEWAY_CONFIG },
};
#define N_DEVICE_FIELDS (sizeof(device_fields) / sizeof(device_fields[0]))

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

    if (need_type(v, JSON_OBJECT, "metadata", "map", err) < 0)
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
                        json_type_name(x));
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

    if (need_type(v, JSON_OBJECT, "gatewayConfig", "object", err) < 0)
        return -EINVAL;
    o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        name = NULL;
        if (strcmp(key, "gatewayType") == 0) {
            if (enum_parse(x, gateway_types, ENUM_N(gateway_types), "gatewayConfig.gatewayType",
                           &name, err) < 0)
                goto fail;
        } else if (strcmp(key, "gatewayAuthMethod") == 0) {
            if (enum_parse(x, gateway_auth_methods, ENUM_N(gateway_auth_methods),
                           "gatewayConfig.gatewayAuthMethod", &name, err) < 0)
                goto fail;
        } else if (strcmp(key, "lastAccessedGatewayId") == 0 ||
                   strcmp(key, "lastAccessedGatewayTime") == 0) {
            continue;       /* output only */
        } else {
            unknown_name(key, err);
            goto fail;
        }
        if (name && json_object_set_new(o, key, json_string(name)) < 0) {
            json_decref(o);
            return -ENOMEM;
        }
    }
    *ret = o;
    return 0;
fail:
    json_decref(o);
    return -EINVAL;
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
    api_err_set(err, API_G_INVALID_ARGUMENT, "%s: got %s; %s.", field, json_type_name(v), expect);
    return -EINVAL;
}

static int parse_credential(const json_t *e, size_t i, int64_t now_us, struct db_credential *ret,
                            struct api_err *err)
{
    char field[96], why[256];
    const char *key;
    const json_t *x, *pk = NULL, *exp = NULL, *fmt = NULL, *pem = NULL;
    enum db_key_format format;
    int64_t exp_us = 0;

    snprintf(field, sizeof(field), "credentials[%zu]", i);
    if (need_type(e, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)e, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "publicKey") == 0)
            pk = x;
        else if (strcmp(key, "expirationTime") == 0)
            exp = x;
        else
            return unknown_name(key, err);
    }
    snprintf(field, sizeof(field), "credentials[%zu].publicKey", i);
    if (!pk) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
        return -EINVAL;
    }
    if (need_type(pk, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)pk, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "format") == 0)
            fmt = x;
        else if (strcmp(key, "key") == 0)
            pem = x;
        else
            return unknown_name(key, err);
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
    if (!pem || (json_is_string(pem) && json_string_length(pem) == 0)) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
        return -EINVAL;
    }
    if (need_type(pem, JSON_STRING, field, "TYPE_STRING", err) < 0)
        return -EINVAL;
    if (json_string_length(pem) > API_G_MAX_KEY_PEM) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: longer than %d bytes.", field,
                    API_G_MAX_KEY_PEM);
        return -EINVAL;
    }
    why[0] = '\0';
    if (reg_cred_check(format, json_string_value(pem), now_us, why, sizeof(why)) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: %s", field,
                    why[0] ? why : "the key does not match its format.");
        return -EINVAL;
    }
    if (exp) {
        snprintf(field, sizeof(field), "credentials[%zu].expirationTime", i);
        if (need_type(exp, JSON_STRING, field, "google.protobuf.Timestamp", err) < 0)
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

static int parse_device_credentials(const json_t *v, int64_t now_us, struct api_device_in *d,
                                    struct api_err *err)
{
    size_t i;
    const json_t *e;

    if (need_type(v, JSON_ARRAY, "credentials", "array", err) < 0)
        return -EINVAL;
    /* Google's quota: three credentials per device (rotation overlap). */
    if (json_array_size(v) > DB_MAX_CREDENTIALS) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "The device can have at most %d credentials (got %zu).", DB_MAX_CREDENTIALS,
                    json_array_size(v));
        return -EINVAL;
    }
    json_array_foreach(v, i, e) {
        int rc = parse_credential(e, i, now_us, &d->creds[d->n_creds], err);
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
                field, json_type_name(v));
    return -EINVAL;
}

static int parse_device_config(const json_t *v, bool create, struct api_device_in *d,
                               struct api_err *err)
{
    const char *key;
    const json_t *x;
    bool zero;
    int rc;

    if (need_type(v, JSON_OBJECT, "config", "object", err) < 0)
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
            if (need_type(x, JSON_STRING, "config.binaryData", "TYPE_BYTES", err) < 0)
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
            return unknown_name(key, err);
        }
    }
    return 0;
}

int api_google_device_parse(const char *body, size_t len, bool create, int64_t now_us,
                            struct api_device_in *ret, struct api_err *err)
{
    struct api_device_in d;
    const char *key, *why = NULL;
    json_t *root = NULL, *v;
    int rc;

    memset(&d, 0, sizeof(d));
    rc = load_object(body, len, "Device", &root, err);
    if (rc < 0)
        return rc;
    json_object_foreach(root, key, v) {
        unsigned bit = 0;

        for (size_t i = 0; i < N_DEVICE_FIELDS; i++)
            if (strcmp(key, device_fields[i].name) == 0)
                bit = device_fields[i].bit;
        if (!bit) {
            rc = unknown_name(key, err);
            goto out;
        }
        if (json_is_null(v))
            continue;
        d.present |= bit;
        switch (bit) {
        case API_DEV_ID:
            rc = copy_string(v, "id", d.id, sizeof(d.id), err);
            break;
        case API_DEV_NAME:
            rc = copy_string(v, "name", d.name, sizeof(d.name), err);
            break;
        case API_DEV_NUM_ID:
            /* uint64 as a string (or a number); output only, kept to compare. */
            if (json_is_integer(v) && json_integer_value(v) >= 0)
                snprintf(d.num_id, sizeof(d.num_id), "%lld", (long long)json_integer_value(v));
            else
                rc = copy_string(v, "numId", d.num_id, sizeof(d.num_id), err);
            break;
        case API_DEV_CREDENTIALS:
            rc = parse_device_credentials(v, now_us, &d, err);
            break;
        case API_DEV_BLOCKED:
            rc = need_type(v, json_is_true(v) ? JSON_TRUE : JSON_FALSE, "blocked", "TYPE_BOOL",
                           err);
            d.blocked = json_is_true(v);
            break;
        case API_DEV_METADATA:
            rc = parse_metadata(v, &d.metadata, err);
            break;
        case API_DEV_GATEWAY_CONFIG:
            rc = parse_gateway_config(v, &d.gateway_config, err);
            break;
        case API_DEV_LOG_LEVEL:
            rc = enum_parse(v, log_levels, ENUM_N(log_levels), "logLevel", &d.log_level, err);
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
    if (create) {
        if (d.id[0] == '\0') {
            api_err_set(err, API_G_INVALID_ARGUMENT, "id: a device id is required.");
            rc = -EINVAL;
            goto out;
        }
        if (reg_name_check_id(d.id, &why) < 0) {
            api_err_set(err, API_G_INVALID_ARGUMENT, "id: %s.", why ? why : "invalid id");
            rc = -EINVAL;
            goto out;
        }
    }
    *ret = d;
    memset(&d, 0, sizeof(d));
    rc = 0;
out:
    json_decref(root);
    api_device_in_clear(&d);
    return rc;
}

/* ---- field masks ---- */

/* snake_case -> lowerCamel, so both spellings name one field. */
static int camelize(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool up = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '_') {
            up = true;
            continue;
        }
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = false;
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Calls one(path) for each trimmed, non-empty, camelized path. */
static int mask_walk(const char *mask, int (*one)(const char *path, unsigned *acc, void *ctx),
                     unsigned *acc, void *ctx, struct api_err *err)
{
    const char *p = mask;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        char path[128];

        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (camelize(s, len, path, sizeof(path)) < 0 || one(path, acc, ctx) < 0) {
                int shown = len > 64 ? 64 : (int)len;
                api_err_set(err, API_G_INVALID_ARGUMENT,
                            "Invalid field mask: unknown field \"%.*s\".", shown, s);
                return -EINVAL;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int device_mask_one(const char *path, unsigned *acc, void *ctx)
{
    const char *dot = strchr(path, '.');
    size_t top = dot ? (size_t)(dot - path) : strlen(path);

    if (strcmp(path, "gatewayConfig.gatewayAuthMethod") == 0) {
        *acc |= API_DEV_GATEWAY_AUTH_METHOD;
        return 0;
    }
    for (size_t i = 0; i < N_DEVICE_FIELDS; i++) {
        if (strlen(device_fields[i].name) == top &&
            strncmp(path, device_fields[i].name, top) == 0) {
            *acc |= device_fields[i].bit;
            return 0;
        }
    }
    return -EINVAL;
}

int api_google_device_mask(const char *mask, unsigned *ret, struct api_err *err)
{
    unsigned acc = 0;

    if (mask_walk(mask, device_mask_one, &acc, NULL, err) < 0)
        return -EINVAL;
    *ret = acc;
    return 0;
}

static int registry_mask_one(const char *path, unsigned *acc, void *ctx)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fields[] = {
        { "id", API_REG_ID },
        { "name", API_REG_NAME },
        { "eventNotificationConfigs", API_REG_EVENT_CONFIGS },
        /* the proto comment spells it in the singular */
        { "eventNotificationConfig", API_REG_EVENT_CONFIGS },
        { "stateNotificationConfig", API_REG_STATE_CONFIG },
        { "mqttConfig", API_REG_MQTT_CONFIG },
        { "httpConfig", API_REG_HTTP_CONFIG },
        { "logLevel", API_REG_LOG_LEVEL },
        { "credentials", API_REG_CREDENTIALS },
    };
    const char *dot = strchr(path, '.');
    size_t top = dot ? (size_t)(dot - path) : strlen(path);

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].name) == top && strncmp(path, fields[i].name, top) == 0) {
            *acc |= fields[i].bit;
            return 0;
        }
    }
    return -EINVAL;
}

int api_google_registry_mask(const char *mask, unsigned *ret, struct api_err *err)
{
    unsigned acc = 0;

    if (mask_walk(mask, registry_mask_one, &acc, NULL, err) < 0)
        return -EINVAL;
    *ret = acc;
    return 0;
}

/* ---- rendering ---- */

int api_google_registry_name(const char *project, const char *location, const char *id, char *out,
                             size_t cap)
{
    int n = snprintf(out, cap, "projects/%s/locations/%s/registries/%s", project, location, id);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static json_t *load_extra(const char *extra_json)
{
    json_t *j;

    if (!extra_json || !*extra_json)
        return NULL;
    j = json_loads(extra_json, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *api_google_registry_json(const char *reg_name, const struct db_registry *r)
{
    static const char *const order[] = {
        "eventNotificationConfigs", "stateNotificationConfig", "mqttConfig", "httpConfig",
        "logLevel", "credentials",
    };
    json_t *o = json_pack("{s:s,s:s}", "id", r->id, "name", reg_name);
    json_t *extra = load_extra(r->extra_json);

    if (!o)
        goto out;
    for (size_t i = 0; extra && i < sizeof(order) / sizeof(order[0]); i++) {
        json_t *v = json_object_get(extra, order[i]);
        if (v && json_object_set(o, order[i], v) < 0) {
            json_decref(o);
            o = NULL;
            goto out;
        }
    }
out:
    json_decref(extra);
    return o;
}

static int set_time(json_t *o, const char *key, int64_t us)
{
    char buf[40];

    time_format_rfc3339(us > 0 ? us : 0, buf, sizeof(buf));
    return json_object_set_new(o, key, json_string(buf));
}

static int set_bytes(json_t *o, const char *key, const uint8_t *data, size_t len)
{
    char *b64;
    int rc;

    if (api_base64_encode(data ? data : (const uint8_t *)"", data ? len : 0, &b64) < 0)
        return -1;
    rc = json_object_set_new(o, key, json_string(b64));
    free(b64);
    return rc;
}

static json_t *credentials_json(const struct db_credential *creds, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const char *fmt = reg_cred_format_name(creds[i].format);
        json_t *c = json_pack("{s:{s:s,s:s}}", "publicKey", "format", fmt ? fmt : "RSA_PEM",
                              "key", creds[i].key_pem ? creds[i].key_pem : "");
        if (!c || set_time(c, "expirationTime", creds[i].expiration_us) < 0 ||
            json_array_append_new(a, c) < 0) {
            json_decref(c);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *api_google_config_json(const struct db_config *c)
{
    char version[24];
    json_t *o;

    snprintf(version, sizeof(version), "%lld", (long long)c->version);
    o = json_pack("{s:s}", "version", version);
    if (!o || set_time(o, "cloudUpdateTime", c->cloud_update_us) < 0 ||
        (c->device_ack_us > 0 && set_time(o, "deviceAckTime", c->device_ack_us) < 0) ||
        set_bytes(o, "binaryData", c->data, c->len) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_google_state_json(const struct db_state *s)
{
    json_t *o = json_object();

    if (!o || set_time(o, "updateTime", s->update_us) < 0 ||
        set_bytes(o, "binaryData", s->data, s->len) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_google_device_json(const char *reg_name, const struct api_device_view *v,
                               unsigned fields)
{
    const struct db_device *d = v->dev;
    json_t *o = json_object(), *extra = load_extra(d->extra_json), *x;
    char buf[1100];
    int bad = 0;

    if (!o)
        goto fail;
    if (fields & API_DEV_ID)
        bad |= json_object_set_new(o, "id", json_string(d->id));
    if (fields & API_DEV_NAME) {
        /* [PROTO] the name the server returns is built from the numId. */
        snprintf(buf, sizeof(buf), "%s/devices/%llu", reg_name, (unsigned long long)d->num_id);
        bad |= json_object_set_new(o, "name", json_string(buf));
    }
    if (fields & API_DEV_NUM_ID) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->num_id);
        bad |= json_object_set_new(o, "numId", json_string(buf));
    }
    if ((fields & API_DEV_CREDENTIALS) && v->n_creds > 0) {
        x = credentials_json(v->creds, v->n_creds);
        bad |= x ? json_object_set_new(o, "credentials", x) : -1;
    }
    /* Never-set timestamps come back as the epoch [FIELD gcloud output]. */
    if (fields & API_DEV_LAST_HEARTBEAT_TIME)
        bad |= set_time(o, "lastHeartbeatTime", d->last_heartbeat_us);
    if (fields & API_DEV_LAST_EVENT_TIME)
        bad |= set_time(o, "lastEventTime", d->last_event_us);
    if (fields & API_DEV_LAST_STATE_TIME)
        bad |= set_time(o, "lastStateTime", d->last_state_us);
    if (fields & API_DEV_LAST_CONFIG_ACK_TIME)
        bad |= set_time(o, "lastConfigAckTime", d->last_config_ack_us);
    if (fields & API_DEV_LAST_CONFIG_SEND_TIME)
        bad |= set_time(o, "lastConfigSendTime", d->last_config_send_us);
    if ((fields & API_DEV_BLOCKED) && d->blocked)
        bad |= json_object_set_new(o, "blocked", json_true());   /* proto3 omits false */
    if (fields & API_DEV_LAST_ERROR_TIME)
        bad |= set_time(o, "lastErrorTime", d->last_error_us);
    if ((fields & API_DEV_LAST_ERROR_STATUS) &&
        (d->last_error_code != 0 || d->last_error_message[0])) {
        /* The message comes from a device-side failure; jansson refuses
         * text that is not UTF-8, and the reply must not fail over it. */
        json_t *msg = json_string(d->last_error_message);
        x = json_pack("{s:i,s:o}", "code", (int)d->last_error_code, "message",
                      msg ? msg : json_string("(message not UTF-8)"));
        bad |= x ? json_object_set_new(o, "lastErrorStatus", x) : -1;
    }
    if ((fields & API_DEV_CONFIG) && v->config) {
        x = api_google_config_json(v->config);
        bad |= x ? json_object_set_new(o, "config", x) : -1;
    }
    if ((fields & API_DEV_STATE) && v->state) {
        x = api_google_state_json(v->state);
        bad |= x ? json_object_set_new(o, "state", x) : -1;
    }
    if ((fields & API_DEV_LOG_LEVEL) && (x = json_object_get(extra, "logLevel")))
        bad |= json_object_set(o, "logLevel", x);
    if ((fields & API_DEV_METADATA) && (x = json_object_get(extra, "metadata")) &&
        json_object_size(x) > 0)
        bad |= json_object_set(o, "metadata", x);
    if (fields & API_DEV_GATEWAY_CONFIG) {
        /* An empty gatewayConfig comes back as {} [FIELD]. */
        x = json_object_get(extra, "gatewayConfig");
        bad |= x ? json_object_set(o, "gatewayConfig", x)
                 : json_object_set_new(o, "gatewayConfig", json_object());
    }
    if (bad)
        goto fail;
    json_decref(extra);
    return o;
fail:
    json_decref(extra);
    json_decref(o);
    return NULL;
}

static int put_or_del(json_t *o, const char *key, json_t *v)
{
    if (v)
        return json_object_set(o, key, v);
    json_object_del(o, key);
    return 0;
}

int api_google_device_extra(const char *old_extra, const struct api_device_in *in, unsigned mask,
                            char **ret)
{
    json_t *o = load_extra(old_extra);
    json_t *ll = NULL, *md = NULL, *gw;
    char *text = NULL;
    int rc = -ENOMEM;

    if (!o && !(o = json_object()))
        return -ENOMEM;
    if ((mask & API_DEV_LOG_LEVEL) && in->log_level && !(ll = json_string(in->log_level)))
        goto out;
    if ((mask & API_DEV_LOG_LEVEL) && put_or_del(o, "logLevel", ll) < 0)
        goto out;
    if (mask & API_DEV_METADATA) {
        if (in->metadata && json_object_size(in->metadata) > 0)
            md = in->metadata;
        if (put_or_del(o, "metadata", md) < 0)
            goto out;
    }
    if (mask & API_DEV_GATEWAY_CONFIG) {
        gw = in->gateway_config && json_object_size(in->gateway_config) > 0 ? in->gateway_config
                                                                             : NULL;
        if (put_or_del(o, "gatewayConfig", gw) < 0)
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
            if (put_or_del(copy, "gatewayAuthMethod", method) < 0) {
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
