/* Shared by the Google model files (google_model_*.c), nothing else: the
 * enums of resources.proto, reading proto3 JSON the way Google's parser did
 * (types, enums, unknown names, new ids, PEM strings, the stored
 * extra_json), and the Device field table the body parser and the field
 * masks both use. Pure; not part of api.h. */
#pragma once
#include "webui/api.h"

/* ---- resources.proto enums ---- */

struct api_g_enum_value {
    const char *name;
    long number;
};
/* values[0] is the unspecified value, which proto3 never writes out. */
struct api_g_enum {
    const struct api_g_enum_value *values;
    size_t n;
};
extern const struct api_g_enum api_g_log_levels, api_g_mqtt_states, api_g_http_states,
    api_g_gateway_types, api_g_gateway_auth_methods, api_g_cert_formats;

/* Reads an enum the way a proto3 JSON parser does: its name, its number, or
 * its number as a string (Google's libraries send numbers with
 * enum-encoding=int). *ret is the static name, NULL for the unspecified
 * value. Returns 0, or -EINVAL with *err naming field. */
int api_g_enum_parse(const json_t *v, const struct api_g_enum *e, const char *field,
                     const char **ret, struct api_err *err);

/* ---- proto3 JSON reading ---- */

/* "an object", "a string"...: how error messages name a JSON type. */
const char *api_g_json_type_name(const json_t *v);
/* 0 when v has type t, else -EINVAL with "Invalid value at 'field' (want)". */
int api_g_need_type(const json_t *v, json_type t, const char *field, const char *want,
                    struct api_err *err);
/* Always -EINVAL, with Google's wording for a name the message lacks. */
int api_g_unknown_name(const char *key, struct api_err *err);
/* Copies a JSON string shorter than cap into out. Returns 0 or -EINVAL. */
int api_g_copy_string(const json_t *v, const char *field, char *out, size_t cap,
                      struct api_err *err);
/* Parses the body as one JSON object (what names the message in errors);
 * an empty body is the empty message. *ret is owned by the caller. Returns
 * 0, -EINVAL with *err, -ENOMEM. */
int api_g_load_object(const char *body, size_t len, const char *what, json_t **ret,
                      struct api_err *err);
/* The id a create names: required ("id: a <what> id is required.") and
 * checked with reg_name_check_id. Returns 0 or -EINVAL with *err. */
int api_g_check_new_id(const char *id, const char *what, struct api_err *err);
/* A key or certificate PEM at field: present and non-empty, a string, at
 * most API_G_MAX_KEY_PEM bytes. Returns 0 or -EINVAL with *err. */
int api_g_check_pem(const json_t *pem, const char *field, struct api_err *err);

/* The stored extra_json text as an object (owned), NULL when there is none
 * or it is not an object. */
json_t *api_g_load_extra(const char *extra_json);
/* Sets o[key] to v (not consumed), or removes key when v is NULL. Returns
 * 0 or -1 (allocation). */
int api_g_put_or_del(json_t *o, const char *key, json_t *v);

/* ---- resource fields ---- */

/* The DeviceRegistry fields kept in extra_json, in Google's output order,
 * with their API_REG_* bits; ends with { 0, NULL }. */
struct api_g_stored_field {
    unsigned bit;
    const char *key;
};
extern const struct api_g_stored_field api_g_registry_stored[];

/* The API_DEV_* bit of the top-level Device field called name[0..len), or
 * 0 when there is none. */
unsigned api_g_device_field(const char *name, size_t len);
