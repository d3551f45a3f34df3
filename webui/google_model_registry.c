/* Google's DeviceRegistry as a request body: parsed and validated the way
 * the real service did (event and state notification topics, the MQTT and
 * HTTP switches, log level, CA certificates), normalized into the
 * extra_json object the store keeps, and merged into a stored one for a
 * PATCH. Pure; fuzzed (tests/fuzz/fuzz_rest_body.c). */
#include "webui/google_model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "registry/reg_cred.h"
#include "registry/reg_names.h"
#include "registry/reg_x509.h"

#define STR_(x) #x
#define STR(x) STR_(x)

void api_registry_in_clear(struct api_registry_in *r)
{
    if (!r)
        return;
    json_decref(r->extra);
    memset(r, 0, sizeof(*r));
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

/* A repeated message field: an array of at most `max` objects, each turned
 * into its stored form by `item`. */
struct repeated {
    const char *field;
    size_t max;
    const char *too_many;       /* the whole error message */
    /* e is an object; *ret (owned) is set only on success. */
    int (*item)(const json_t *e, size_t i, int64_t now_us, json_t **ret, struct api_err *err);
};

/* Stores the parsed array under r->field in extra, only when non-empty
 * (proto3 omits an empty repeated field). */
static int parse_repeated(const struct repeated *r, const json_t *v, int64_t now_us,
                          json_t *extra, struct api_err *err)
{
    json_t *out;
    size_t i;
    const json_t *e;
    int rc = 0;

    if (api_g_need_type(v, JSON_ARRAY, r->field, "array", err) < 0)
        return -EINVAL;
    if (json_array_size(v) > r->max) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s", r->too_many);
        return -EINVAL;
    }
    out = json_array();
    if (!out)
        return -ENOMEM;
    json_array_foreach(v, i, e) {
        char field[96];
        json_t *o = NULL;

        snprintf(field, sizeof(field), "%s[%zu]", r->field, i);
        rc = api_g_need_type(e, JSON_OBJECT, field, "object", err);
        if (rc == 0)
            rc = r->item(e, i, now_us, &o, err);
        if (rc == 0 && json_array_append_new(out, o) < 0)
            rc = -ENOMEM;
        if (rc < 0)
            break;
    }
    if (rc == 0 && json_array_size(out) > 0 && json_object_set(extra, r->field, out) < 0)
        rc = -ENOMEM;
    json_decref(out);
    return rc;
}

/* eventNotificationConfigs[i]: {subfolderMatches, pubsubTopicName}. */
static int parse_event_config(const json_t *e, size_t i, int64_t now_us, json_t **ret,
                              struct api_err *err)
{
    char field[96];
    const char *key;
    const json_t *x;
    json_t *o = json_object();
    int rc = -EINVAL;

    (void)now_us;
    if (!o)
        return -ENOMEM;
    json_object_foreach((json_t *)e, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "subfolderMatches") == 0) {
            snprintf(field, sizeof(field), "eventNotificationConfigs[%zu].subfolderMatches", i);
            if (api_g_need_type(x, JSON_STRING, field, "TYPE_STRING", err) < 0)
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
            if (api_g_need_type(x, JSON_STRING, field, "TYPE_STRING", err) < 0 ||
                check_pubsub_topic(json_string_value(x), field, err) < 0)
                goto fail;
            if (json_object_set(o, "pubsubTopicName", (json_t *)x) < 0)
                goto oom;
        } else {
            api_g_unknown_name(key, err);
            goto fail;
        }
    }
    if (!json_object_get(o, "pubsubTopicName")) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "eventNotificationConfigs[%zu].pubsubTopicName: required.", i);
        goto fail;
    }
    *ret = o;
    return 0;
oom:
    rc = -ENOMEM;
fail:
    json_decref(o);
    return rc;
}

/* {publicKeyCertificate: {format, certificate, x509Details}}: the details
 * are output only, computed here once and stored with the certificate. */
static int cert_with_details(const char *format, const json_t *cert, json_t **ret)
{
    struct reg_x509_details d;
    char start[40], expiry[40];
    int rc = reg_x509_details(json_string_value(cert), &d);

    if (rc < 0)
        return rc == -ENOMEM ? rc : -EINVAL;
    time_format_rfc3339(d.start_us > 0 ? d.start_us : 0, start, sizeof(start));
    time_format_rfc3339(d.expiry_us > 0 ? d.expiry_us : 0, expiry, sizeof(expiry));
    *ret = json_pack("{s:{s:s,s:O,s:{s:s,s:s,s:s,s:s,s:s,s:s}}}", "publicKeyCertificate",
                     "format", format, "certificate", cert, "x509Details", "issuer", d.issuer,
                     "subject", d.subject, "startTime", start, "expiryTime", expiry,
                     "signatureAlgorithm", d.signature_algorithm, "publicKeyType",
                     d.public_key_type);
    return *ret ? 0 : -ENOMEM;
}

/* credentials[i]: {publicKeyCertificate: {format, certificate}}. */
static int parse_registry_cert(const json_t *e, size_t i, int64_t now_us, json_t **ret,
                               struct api_err *err)
{
    char field[96], why_rsa[160], why_ec[160];
    const char *key, *format = NULL;
    const json_t *x, *pkc = NULL, *cert = NULL;
    bool have_format = false;

    json_object_foreach((json_t *)e, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "publicKeyCertificate") != 0)
            return api_g_unknown_name(key, err);
        pkc = x;
    }
    snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate", i);
    if (!pkc) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
        return -EINVAL;
    }
    if (api_g_need_type(pkc, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)pkc, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "format") == 0) {
            snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate.format", i);
            if (api_g_enum_parse(x, &api_g_cert_formats, field, &format, err) < 0)
                return -EINVAL;
            have_format = true;
        } else if (strcmp(key, "certificate") == 0) {
            cert = x;
        } else if (strcmp(key, "x509Details") != 0) {     /* that one is output only */
            return api_g_unknown_name(key, err);
        }
    }
    if (!have_format || !format) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "credentials[%zu].publicKeyCertificate.format: must be "
                    "X509_CERTIFICATE_PEM.", i);
        return -EINVAL;
    }
    snprintf(field, sizeof(field), "credentials[%zu].publicKeyCertificate.certificate", i);
    if (api_g_check_pem(cert, field, err) < 0)
        return -EINVAL;
    /* A registry CA may carry either key type the devices can use. */
    if (reg_cred_check(DB_KEY_RSA_X509_PEM, json_string_value(cert), now_us, why_rsa,
                       sizeof(why_rsa)) < 0 &&
        reg_cred_check(DB_KEY_ES256_X509_PEM, json_string_value(cert), now_us, why_ec,
                       sizeof(why_ec)) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "%s: not a usable X.509 certificate (as RSA: %s; as EC P-256: %s).", field,
                    why_rsa, why_ec);
        return -EINVAL;
    }
    return cert_with_details(format, cert, ret);
}

static const struct repeated event_configs = {
    .field = "eventNotificationConfigs",
    .max = API_G_MAX_EVENT_CONFIGS,
    .too_many = "eventNotificationConfigs: at most " STR(API_G_MAX_EVENT_CONFIGS)
                " configurations are allowed.",
    .item = parse_event_config,
};

static const struct repeated registry_certs = {
    .field = "credentials",
    .max = API_G_MAX_REGISTRY_CERTS,
    .too_many = "credentials: a registry can have at most " STR(API_G_MAX_REGISTRY_CERTS)
                " certificates.",
    .item = parse_registry_cert,
};

static int parse_state_config(const json_t *v, json_t *extra, struct api_err *err)
{
    const char *key;
    const json_t *x;
    const json_t *topic = NULL;
    json_t *o;

    if (api_g_need_type(v, JSON_OBJECT, "stateNotificationConfig", "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, "pubsubTopicName") != 0)
            return api_g_unknown_name(key, err);
        if (api_g_need_type(x, JSON_STRING, "stateNotificationConfig.pubsubTopicName",
                            "TYPE_STRING", err) < 0)
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
                               const struct api_g_enum *states, json_t *extra,
                               struct api_err *err)
{
    char path[64];
    const char *key, *name = NULL;
    const json_t *x;
    json_t *o;

    if (api_g_need_type(v, JSON_OBJECT, field, "object", err) < 0)
        return -EINVAL;
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x))
            continue;
        if (strcmp(key, subfield) != 0)
            return api_g_unknown_name(key, err);
        snprintf(path, sizeof(path), "%s.%s", field, subfield);
        if (api_g_enum_parse(x, states, path, &name, err) < 0)
            return -EINVAL;
    }
    o = json_pack("{s:s}", subfield, name ? name : states->values[1].name);
    if (!o || json_object_set_new(extra, field, o) < 0)
        return -ENOMEM;
    return 0;
}

/* Google showed the protocols as enabled on a fresh registry, and a
 * cleared switch falls back to that default. */
static int set_protocol_defaults(json_t *extra)
{
    if (!json_object_get(extra, "mqttConfig") &&
        json_object_set_new(extra, "mqttConfig",
                            json_pack("{s:s}", "mqttEnabledState", "MQTT_ENABLED")) < 0)
        return -ENOMEM;
    if (!json_object_get(extra, "httpConfig") &&
        json_object_set_new(extra, "httpConfig",
                            json_pack("{s:s}", "httpEnabledState", "HTTP_ENABLED")) < 0)
        return -ENOMEM;
    return 0;
}

/* One top-level member of a DeviceRegistry body into r. */
static int parse_registry_member(const char *key, const json_t *v, int64_t now_us,
                                 struct api_registry_in *r, struct api_err *err)
{
    const char *name = NULL;
    int rc;

    if (strcmp(key, "id") == 0) {
        r->present |= API_REG_ID;
        return api_g_copy_string(v, "id", r->id, sizeof(r->id), err);
    }
    if (strcmp(key, "name") == 0) {
        r->present |= API_REG_NAME;
        return api_g_copy_string(v, "name", r->name, sizeof(r->name), err);
    }
    if (strcmp(key, "eventNotificationConfigs") == 0) {
        r->present |= API_REG_EVENT_CONFIGS;
        return parse_repeated(&event_configs, v, now_us, r->extra, err);
    }
    if (strcmp(key, "stateNotificationConfig") == 0) {
        r->present |= API_REG_STATE_CONFIG;
        return parse_state_config(v, r->extra, err);
    }
    if (strcmp(key, "mqttConfig") == 0) {
        r->present |= API_REG_MQTT_CONFIG;
        return parse_enabled_state(v, "mqttConfig", "mqttEnabledState", &api_g_mqtt_states,
                                   r->extra, err);
    }
    if (strcmp(key, "httpConfig") == 0) {
        r->present |= API_REG_HTTP_CONFIG;
        return parse_enabled_state(v, "httpConfig", "httpEnabledState", &api_g_http_states,
                                   r->extra, err);
    }
    if (strcmp(key, "logLevel") == 0) {
        r->present |= API_REG_LOG_LEVEL;
        rc = api_g_enum_parse(v, &api_g_log_levels, "logLevel", &name, err);
        if (rc == 0 && name && json_object_set_new(r->extra, "logLevel", json_string(name)) < 0)
            rc = -ENOMEM;
        return rc;
    }
    if (strcmp(key, "credentials") == 0) {
        r->present |= API_REG_CREDENTIALS;
        return parse_repeated(&registry_certs, v, now_us, r->extra, err);
    }
    return api_g_unknown_name(key, err);
}

int api_google_registry_parse(const char *body, size_t len, bool create, int64_t now_us,
                              struct api_registry_in *ret, struct api_err *err)
{
    json_t *root = NULL;
    int rc = api_g_load_object(body, len, "DeviceRegistry", &root, err);

    if (rc < 0)
        return rc;
    rc = api_google_registry_parse_json(root, create, now_us, ret, err);
    json_decref(root);
    return rc;
}

int api_google_registry_parse_json(const json_t *root, bool create, int64_t now_us,
                                   struct api_registry_in *ret, struct api_err *err)
{
    struct api_registry_in r;
    const char *key;
    json_t *v;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    if (api_g_need_type(root, JSON_OBJECT, "registry", "object", err) < 0)
        return -EINVAL;
    r.extra = json_object();
    if (!r.extra) {
        rc = -ENOMEM;
        goto out;
    }
    json_object_foreach((json_t *)root, key, v) {
        if (json_is_null(v))
            continue;       /* proto3: null is the default value */
        rc = parse_registry_member(key, v, now_us, &r, err);
        if (rc < 0)
            goto out;
    }
    if (create) {
        rc = api_g_check_new_id(r.id, "registry", err);
        if (rc == 0)
            rc = set_protocol_defaults(r.extra);
        if (rc < 0)
            goto out;
    }
    *ret = r;
    memset(&r, 0, sizeof(r));
    rc = 0;
out:
    api_registry_in_clear(&r);
    return rc;
}

const struct api_g_stored_field api_g_registry_stored[] = {
    { API_REG_EVENT_CONFIGS, "eventNotificationConfigs" },
    { API_REG_STATE_CONFIG, "stateNotificationConfig" },
    { API_REG_MQTT_CONFIG, "mqttConfig" },
    { API_REG_HTTP_CONFIG, "httpConfig" },
    { API_REG_LOG_LEVEL, "logLevel" },
    { API_REG_CREDENTIALS, "credentials" },
    { 0, NULL },
};

int api_google_registry_extra(const char *old_extra, const struct api_registry_in *in,
                              unsigned mask, char **ret)
{
    json_t *o = api_g_load_extra(old_extra);
    char *text;
    int rc = -ENOMEM;

    if (!o && !(o = json_object()))
        return -ENOMEM;
    for (const struct api_g_stored_field *f = api_g_registry_stored; f->key; f++)
        if ((mask & f->bit) && api_g_put_or_del(o, f->key, json_object_get(in->extra, f->key)) < 0)
            goto out;
    if (set_protocol_defaults(o) < 0)
        goto out;
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto out;
    *ret = text;
    rc = 0;
out:
    json_decref(o);
    return rc;
}
