/* The request messages of Google's custom methods, parsed and validated the
 * way the real service read them: ModifyCloudToDeviceConfigRequest,
 * SendCommandToDeviceRequest and Bind/UnbindDeviceFromGatewayRequest
 * (device_manager.proto). Pure; fuzzed (tests/fuzz/fuzz_rest_body.c). */
#include "webui/google_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_config_in_clear(struct api_config_in *c)
{
    if (!c)
        return;
    free(c->data);
    memset(c, 0, sizeof(*c));
}

void api_command_in_clear(struct api_command_in *c)
{
    if (!c)
        return;
    free(c->data);
    memset(c, 0, sizeof(*c));
}

/* A `bytes` field: base64 text of at most max decoded bytes; what says how
 * the limit is worded in the error ("a configuration"). */
static int parse_bytes(const json_t *v, const char *field, size_t max, const char *what,
                       uint8_t **ret, size_t *ret_len, struct api_err *err)
{
    int rc;

    if (api_g_need_type(v, JSON_STRING, field, "TYPE_BYTES", err) < 0)
        return -EINVAL;
    rc = api_base64_decode(json_string_value(v), max, ret, ret_len);
    if (rc == -EMSGSIZE)
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: %s can be at most %zu bytes.", field,
                    what, max);
    else if (rc == -EINVAL)
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "Invalid value at '%s' (TYPE_BYTES): not base64.", field);
    return rc == -EMSGSIZE ? -EINVAL : rc;
}

/* An absent bytes field is proto3's default, the empty payload. */
static int empty_bytes(uint8_t **ret, size_t *ret_len)
{
    *ret = malloc(1);
    *ret_len = 0;
    return *ret ? 0 : -ENOMEM;
}

/* proto3 int64: a JSON number or a decimal string (Google's libraries send
 * strings). Negative versions do not exist. */
static int parse_version(const json_t *v, const char *field, int64_t *ret, struct api_err *err)
{
    uint64_t u;

    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && api_parse_u64(json_string_value(v), &u) == 0 && u <= INT64_MAX) {
        *ret = (int64_t)u;
        return 0;
    }
    api_err_set(err, API_G_INVALID_ARGUMENT,
                "Invalid value at '%s' (TYPE_INT64): expected a non-negative integer.", field);
    return -EINVAL;
}

int api_google_config_parse(const char *body, size_t len, struct api_config_in *ret,
                            struct api_err *err)
{
    struct api_config_in c;
    const char *key;
    json_t *root = NULL, *v;
    int rc = api_g_load_object(body, len, "ModifyCloudToDeviceConfigRequest", &root, err);

    if (rc < 0)
        return rc;
    memset(&c, 0, sizeof(c));
    json_object_foreach(root, key, v) {
        if (json_is_null(v))
            continue;
        if (strcmp(key, "versionToUpdate") == 0 || strcmp(key, "version_to_update") == 0)
            rc = parse_version(v, "versionToUpdate", &c.version_to_update, err);
        else if (strcmp(key, "binaryData") == 0 || strcmp(key, "binary_data") == 0) {
            free(c.data);
            c.data = NULL;
            rc = parse_bytes(v, "binaryData", API_G_MAX_CONFIG_BYTES, "a configuration",
                             &c.data, &c.len, err);
        } else if (strcmp(key, "name") != 0)    /* the path names the device */
            rc = api_g_unknown_name(key, err);
        if (rc < 0)
            goto out;
    }
    if (!c.data && (rc = empty_bytes(&c.data, &c.len)) < 0)
        goto out;
    *ret = c;
    memset(&c, 0, sizeof(c));
out:
    api_config_in_clear(&c);
    json_decref(root);
    return rc;
}

/* The subfolder becomes MQTT topic levels: no wildcards [PROTO: "up to 256
 * characters, no '+', '#' or NUL"; jansson already refuses NUL]. */
static int check_subfolder(const json_t *v, char *out, size_t cap, struct api_err *err)
{
    const char *s;

    if (api_g_need_type(v, JSON_STRING, "subfolder", "TYPE_STRING", err) < 0)
        return -EINVAL;
    s = json_string_value(v);
    if (json_string_length(v) > API_G_MAX_SUBFOLDER) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "subfolder: at most %d characters are allowed.", API_G_MAX_SUBFOLDER);
        return -EINVAL;
    }
    if (strlen(s) != json_string_length(v) || strpbrk(s, "+#")) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "subfolder: must not contain '+', '#' or NUL characters.");
        return -EINVAL;
    }
    snprintf(out, cap, "%s", s);
    return 0;
}

int api_google_command_parse(const char *body, size_t len, struct api_command_in *ret,
                             struct api_err *err)
{
    struct api_command_in c;
    const char *key;
    json_t *root = NULL, *v;
    int rc = api_g_load_object(body, len, "SendCommandToDeviceRequest", &root, err);

    if (rc < 0)
        return rc;
    memset(&c, 0, sizeof(c));
    json_object_foreach(root, key, v) {
        if (json_is_null(v))
            continue;
        if (strcmp(key, "binaryData") == 0 || strcmp(key, "binary_data") == 0) {
            free(c.data);
            c.data = NULL;
            rc = parse_bytes(v, "binaryData", API_G_MAX_COMMAND_BYTES, "a command", &c.data,
                             &c.len, err);
        } else if (strcmp(key, "subfolder") == 0)
            rc = check_subfolder(v, c.subfolder, sizeof(c.subfolder), err);
        else if (strcmp(key, "name") != 0)
            rc = api_g_unknown_name(key, err);
        if (rc < 0)
            goto out;
    }
    if (!c.data && (rc = empty_bytes(&c.data, &c.len)) < 0)
        goto out;
    *ret = c;
    memset(&c, 0, sizeof(c));
out:
    api_command_in_clear(&c);
    json_decref(root);
    return rc;
}

/* A device named by its string id or its numId. */
static int parse_device_ref(const json_t *v, const char *field, char *out, size_t cap,
                            struct api_err *err)
{
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    return api_g_copy_string(v, field, out, cap, err);
}

int api_google_bind_parse(const char *body, size_t len, struct api_bind_in *ret,
                          struct api_err *err)
{
    struct api_bind_in b;
    const char *key;
    json_t *root = NULL, *v;
    int rc = api_g_load_object(body, len, "BindDeviceToGatewayRequest", &root, err);

    if (rc < 0)
        return rc;
    memset(&b, 0, sizeof(b));
    json_object_foreach(root, key, v) {
        if (json_is_null(v))
            continue;
        if (strcmp(key, "gatewayId") == 0 || strcmp(key, "gateway_id") == 0)
            rc = parse_device_ref(v, "gatewayId", b.gateway_id, sizeof(b.gateway_id), err);
        else if (strcmp(key, "deviceId") == 0 || strcmp(key, "device_id") == 0)
            rc = parse_device_ref(v, "deviceId", b.device_id, sizeof(b.device_id), err);
        else if (strcmp(key, "parent") != 0)    /* the path names the registry */
            rc = api_g_unknown_name(key, err);
        if (rc < 0)
            goto out;
    }
    if (!b.gateway_id[0] || !b.device_id[0]) {
        api_err_set(err, API_G_INVALID_ARGUMENT, "%s: required.",
                    b.gateway_id[0] ? "deviceId" : "gatewayId");
        rc = -EINVAL;
        goto out;
    }
    *ret = b;
out:
    json_decref(root);
    return rc;
}
