/* Shared by the Google route files (google_api*.c), nothing else: the
 * parsed route, what it names once loaded from the store, the handlers the
 * dispatcher calls, and the reply, paging and transaction helpers they
 * use. Every handler and helper that takes resp leaves it filled (the
 * result or a Google error) when it returns; handlers return 0. */
#pragma once
#include "webui/api.h"

struct reg_x509_cas;

/* A registry's resource name, "projects/P/locations/L/registries/R", with
 * room for ids at DB_ID_MAX; a longer one is refused as too long. */
#define API_G_NAME_CAP 1200

enum api_g_route_kind {
    API_G_R_REGISTRIES,
    API_G_R_REGISTRY,
    API_G_R_DEVICES,
    API_G_R_DEVICE,
    API_G_R_DEVICE_SUB,
    API_G_R_LOCATION,       /* "projects/P/locations/L:verb" (the bulk import) */
};

/* "/v1/projects/P/locations/L/registries[/R[/devices[/D[/SUB]]]]" or
 * "/v1/projects/P/locations/L:verb", split; every string borrows from the
 * dispatcher's copy of the path. */
struct api_g_route {
    enum api_g_route_kind kind;
    const char *project, *location, *registry, *device;
    const char *verb;       /* after ':' in the last segment, or NULL */
    const char *sub;        /* configVersions | states */
};

typedef int api_g_handler(const struct api_env *env, const struct api_g_route *rt,
                          const struct api_request *req, struct api_response *resp);

/* google_api_registries.c */
api_g_handler api_g_registries_list, api_g_registry_create, api_g_registry_get,
    api_g_registry_patch, api_g_registry_delete;
/* google_api_devices.c */
api_g_handler api_g_device_create, api_g_device_get, api_g_device_patch, api_g_device_delete,
    api_g_device_history;
/* google_api_device_list.c */
api_g_handler api_g_devices_list;
/* google_api_device_verbs.c */
api_g_handler api_g_device_modify_config, api_g_device_send_command;
/* google_api_gateways.c */
api_g_handler api_g_gateway_bind, api_g_gateway_unbind;
/* google_api_import.c */
api_g_handler api_g_import;

/* ---- devices (google_api_devices.c) ---- */

/* Renders the `fields` (API_DEV_*) of a stored device, reading from the
 * store what they need. *ret is owned by the caller. Returns 0 or a
 * negative errno (the store's, or -ENOMEM). */
int api_g_render_device(const struct api_env *env, const char *reg_name,
                        const struct db_device *dev, unsigned fields, json_t **ret);
/* fieldMask of Get/ListDevices as API_DEV_* bits: `none` without one; id,
 * name and numId always come back. Returns 0 or -EINVAL (400 in resp). */
int api_g_field_mask_arg(const struct api_request *req, unsigned none, unsigned *ret,
                         struct api_response *resp);
/* Creates a parsed device in reg, inside the caller's transaction: the name
 * must be empty, the registry's CA rule holds (cas may be NULL: none), then
 * the row, its credentials, and config version 1 with in's config. *ret
 * gets the stored row (rowid, numId); the caller clears it. Returns 0, or <
 * 0 with *err holding the status and message (store failures logged). */
int api_g_device_insert(const struct api_env *env, const struct db_registry *reg,
                        const struct reg_x509_cas *cas, const struct api_device_in *in,
                        struct db_device *ret, struct api_err *err);

/* ---- registry CA certificates (google_api_cas.c) ---- */

/* The registry's CA certificates (extra_json "credentials"), parsed. *ret
 * is NULL when it has none. Returns 0, -ENOMEM, or -EINVAL for a stored
 * certificate that no longer parses (logged by the caller). */
int api_g_registry_cas(const struct db_registry *reg, struct reg_x509_cas **ret);
/* Google's rule for the new credentials of a device in a registry with CAs:
 * each credential of in that is not among old[0..n_old) (the device's
 * stored ones, unaffected by CA changes) must be an X.509 format signed by
 * one of cas. Returns 0, or -EACCES with *err set to Google's 403 text,
 * -ENOMEM. */
int api_g_check_device_cas(const struct reg_x509_cas *cas, const struct api_device_in *in,
                           const struct db_credential *old, size_t n_old, int64_t now_us,
                           struct api_err *err);

/* ---- errors and replies (google_api_common.c) ---- */

int api_g_oom(struct api_response *resp);
/* A store failure: "Out of memory." for -ENOMEM, else logged (what, the
 * store's message) and answered "Internal error.". */
void api_g_db_failure(const struct api_env *env, struct api_response *resp, int rc,
                      const char *what);
/* The body parsers' -EINVAL (with *err) or -ENOMEM as the reply. */
int api_g_parse_failure(struct api_response *resp, int rc, const struct api_err *err);
int api_g_already_exists(struct api_response *resp, const char *id);
int api_g_registry_not_found(struct api_response *resp, const char *reg_name);
int api_g_device_not_found(struct api_response *resp, const char *reg_name, const char *device);
/* A store failure as an api_err (INTERNAL), logged like api_g_db_failure. */
void api_g_db_failure_err(const struct api_env *env, int rc, const char *what,
                          struct api_err *err);
/* Reports a committed change to env->on_change, when there is one. */
void api_g_notify(const struct api_env *env, enum webui_change what, int64_t rowid);

/* 200 with j (consumed; NULL means allocation failed). */
int api_g_reply_json_take(struct api_response *resp, json_t *j);
/* 200 {} for the methods returning google.protobuf.Empty. */
int api_g_reply_empty(struct api_response *resp);

/* ---- resolving the route ---- */

/* Checks the project and location of the route (400 on failure). */
int api_g_check_parent(const struct api_g_route *rt, struct api_response *resp);
/* Builds the registry's resource name for id into name (API_G_NAME_CAP);
 * 400 when too long. */
int api_g_registry_name(const struct api_g_route *rt, const char *id, char *name,
                        struct api_response *resp);

/* What a route names, loaded from the store. */
struct api_g_target {
    struct db_registry reg;
    struct db_device dev;           /* zeroed unless the device was resolved */
    char name[API_G_NAME_CAP];      /* the registry's resource name */
};
/* The device of registry (rowid, resource name reg_name) that ref names:
 * its string id, or its numId when all digits. Returns 0, or < 0 with resp
 * holding the 404 or 500; *ret untouched then. */
int api_g_lookup_device(const struct api_env *env, const char *reg_name, int64_t reg_rowid,
                        const char *ref, struct db_device *ret, struct api_response *resp);
/* Loads the route's registry and, with device, its device (the {device}
 * segment is the id or the numId). Returns 0, or < 0 with resp holding the
 * 400, 404 or 500. t must be cleared with api_g_target_clear either way. */
int api_g_resolve(const struct api_env *env, const struct api_g_route *rt, bool device,
                  struct api_g_target *t, struct api_response *resp);
void api_g_target_clear(struct api_g_target *t);

/* ---- query arguments and lists ---- */

/* A query argument under its lowerCamel or its snake_case name. */
const char *api_g_param(const struct api_request *req, const char *camel, const char *snake);
/* updateMask (or update_mask) of a PATCH, parsed by parse into *ret:
 * required (example names fields for the message), known, and only the
 * mutable fields (`only` names them). Returns 0 or -EINVAL (400 in resp). */
int api_g_update_mask_arg(const struct api_request *req,
                          int (*parse)(const char *mask, unsigned *ret, struct api_err *err),
                          unsigned mutable_bits, const char *example, const char *only,
                          unsigned *ret, struct api_response *resp);
/* pageSize / pageToken: *ret_limit rows after rowid *ret_after. */
int api_g_page_args(const struct api_request *req, int *ret_limit, int64_t *ret_after,
                    struct api_response *resp);
/* 200 {key: items, nextPageToken} (arr borrowed): proto3 omits an empty
 * repeated field, and the token (the last rowid served) is there only when
 * more rows follow. */
int api_g_reply_list(struct api_response *resp, const char *key, json_t *arr, bool more,
                     int64_t last_rowid);

/* ---- writes ---- */

/* The row of a parsed DeviceRegistry create (the normalized fields as its
 * extra_json). Returns 0 or -ENOMEM; reg is cleared by the caller. */
int api_g_registry_row(const struct api_g_route *rt, const struct api_registry_in *in,
                       int64_t now_us, struct db_registry *reg);

/* Runs fn inside one store transaction: committed when fn returns >= 0,
 * rolled back when fn or the commit fails. fn fills resp on failure only. */
int api_g_in_transaction(const struct api_env *env, struct api_response *resp,
                         int (*fn)(const struct api_env *env, void *ctx,
                                   struct api_response *resp),
                         void *ctx);
