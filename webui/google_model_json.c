/* proto3 JSON as Google's parser read it, for the model files: the
 * resources.proto enums (names or numbers), type checks worded like
 * Google's errors, unknown names refused, bodies loaded as one object, and
 * the stored extra_json text read back. Pure. */
#include "webui/google_model.h"

#include <errno.h>
#include <string.h>

#include "registry/reg_names.h"

/* ---- resources.proto enums ---- */

#define ENUM(name, ...)                                                   \
    static const struct api_g_enum_value name##_values[] = { __VA_ARGS__ }; \
    const struct api_g_enum name = { name##_values,                       \
                                     sizeof(name##_values) / sizeof(name##_values[0]) }

/* Numbers from resources.proto. */
ENUM(api_g_log_levels, { "LOG_LEVEL_UNSPECIFIED", 0 }, { "NONE", 10 }, { "ERROR", 20 },
     { "INFO", 30 }, { "DEBUG", 40 });
ENUM(api_g_mqtt_states, { "MQTT_STATE_UNSPECIFIED", 0 }, { "MQTT_ENABLED", 1 },
     { "MQTT_DISABLED", 2 });
ENUM(api_g_http_states, { "HTTP_STATE_UNSPECIFIED", 0 }, { "HTTP_ENABLED", 1 },
     { "HTTP_DISABLED", 2 });
ENUM(api_g_gateway_types, { "GATEWAY_TYPE_UNSPECIFIED", 0 }, { "GATEWAY", 1 },
     { "NON_GATEWAY", 2 });
ENUM(api_g_gateway_auth_methods, { "GATEWAY_AUTH_METHOD_UNSPECIFIED", 0 },
     { "ASSOCIATION_ONLY", 1 }, { "DEVICE_AUTH_TOKEN_ONLY", 2 },
     { "ASSOCIATION_AND_DEVICE_AUTH_TOKEN", 3 });
ENUM(api_g_cert_formats, { "UNSPECIFIED_PUBLIC_KEY_CERTIFICATE_FORMAT", 0 },
     { "X509_CERTIFICATE_PEM", 1 });

const char *api_g_json_type_name(const json_t *v)
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

int api_g_enum_parse(const json_t *v, const struct api_g_enum *e, const char *field,
                     const char **ret, struct api_err *err)
{
    long number = -1;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        uint64_t u;
        for (size_t i = 0; i < e->n; i++) {
            if (strcmp(s, e->values[i].name) == 0) {
                *ret = i == 0 ? NULL : e->values[i].name;
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
    for (size_t i = 0; number >= 0 && i < e->n; i++) {
        if (e->values[i].number == number) {
            *ret = i == 0 ? NULL : e->values[i].name;
            return 0;
        }
    }
    if (json_is_string(v))
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "Invalid value at '%s' (enum), \"%.64s\".", field,
                    json_string_value(v));
    else
        api_err_set(err, API_G_INVALID_ARGUMENT, "Invalid value at '%s' (enum): got %s.", field,
                    api_g_json_type_name(v));
    return -EINVAL;
}

/* ---- proto3 JSON reading ---- */

int api_g_need_type(const json_t *v, json_type t, const char *field, const char *want,
                    struct api_err *err)
{
    if (json_typeof(v) == t)
        return 0;
    api_err_set(err, API_G_INVALID_ARGUMENT, "Invalid value at '%s' (%s): got %s.", field, want,
                api_g_json_type_name(v));
    return -EINVAL;
}

int api_g_unknown_name(const char *key, struct api_err *err)
{
    /* Google's proto3 parser words it exactly so. */
    api_err_set(err, API_G_INVALID_ARGUMENT,
                "Invalid JSON payload received. Unknown name \"%.64s\": Cannot find field.", key);
    return -EINVAL;
}

int api_g_copy_string(const json_t *v, const char *field, char *out, size_t cap,
                      struct api_err *err)
{
    size_t len;

    if (api_g_need_type(v, JSON_STRING, field, "TYPE_STRING", err) < 0)
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

int api_g_load_object(const char *body, size_t len, const char *what, json_t **ret,
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
                    api_g_json_type_name(root));
        json_decref(root);
        return -EINVAL;
    }
    *ret = root;
    return 0;
}

int api_g_check_new_id(const char *id, const char *what, struct api_err *err)
{
    const char *why = NULL;

    if (id[0] == '\0') {
        api_err_set(err, API_G_INVALID_ARGUMENT, "id: a %s id is required.", what);
        return -EINVAL;
    }
    if (reg_name_check_id(id, &why) < 0) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "id: %s.", why ? why : "invalid id");
        return -EINVAL;
    }
    return 0;
}

int api_g_check_pem(const json_t *pem, const char *field, struct api_err *err)
{
    if (!pem || (json_is_string(pem) && json_string_length(pem) == 0)) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.", field);
        return -EINVAL;
    }
    if (api_g_need_type(pem, JSON_STRING, field, "TYPE_STRING", err) < 0)
        return -EINVAL;
    if (json_string_length(pem) > API_G_MAX_KEY_PEM) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: longer than %d bytes.", field,
                    API_G_MAX_KEY_PEM);
        return -EINVAL;
    }
    return 0;
}

json_t *api_g_load_extra(const char *extra_json)
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

int api_g_put_or_del(json_t *o, const char *key, json_t *v)
{
    if (v)
        return json_object_set(o, key, v);
    json_object_del(o, key);
    return 0;
}
