/* Google Cloud IoT v1 admin REST routes (DeviceManager) over the store:
 * registries and devices under /v1/projects/P/locations/L/. Each handler
 * parses and validates (google_model.c), touches the store in one
 * transaction when it writes several rows, answers in Google's JSON shapes
 * and error envelope, and reports committed changes that affect live
 * sessions through env->on_change. */
#include "webui/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/reg_names.h"

/* The later quota table caps list pages at 500 (reference section 3). */
#define PAGE_MAX 500
/* ListDevices filters: Google allowed 10,000 of each; the request line
 * (lws header space) is the real bound here. */
#define FILTER_MAX 10000
#define NAME_CAP 1200
#define MAX_SEGMENTS 12

/* Custom methods of the real API that iotcored does not serve yet:
 * answered 501 rather than 404 so a client sees why. */
static const char *const unimplemented_verbs[] = {
    "modifyCloudToDeviceConfig", "sendCommandToDevice", "bindDeviceToGateway",
    "unbindDeviceFromGateway", "setIamPolicy", "getIamPolicy", "testIamPermissions",
};

enum route_kind { R_REGISTRIES, R_REGISTRY, R_DEVICES, R_DEVICE, R_DEVICE_SUB };

struct route {
    enum route_kind kind;
    const char *project, *location, *registry, *device;
    const char *verb;       /* after ':' in the last segment, or NULL */
    const char *sub;        /* configVersions | states */
};

/* ---- small helpers ---- */

static void db_failure(const struct api_env *env, struct api_response *resp, int rc,
                       const char *what)
{
    if (rc == -ENOMEM) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        return;
    }
    log_err("admin: %s failed: %s (%s)", what, strerror(rc < 0 ? -rc : rc),
            db_last_error(env->db));
    api_google_error(resp, API_G_INTERNAL, "Internal error.");
}

static void notify(const struct api_env *env, enum webui_change what, int64_t rowid)
{
    if (env->on_change)
        env->on_change(env->ud, what, rowid);
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Splits "/v1/projects/P/locations/L/registries[/R[/devices[/D[/SUB]]]]"
 * (path copied into buf). Returns 0, or -ENOENT when it is no Google route. */
static int route_parse(const char *path, char *buf, size_t cap, struct route *rt)
{
    char *seg[MAX_SEGMENTS];
    size_t n = 0, len = strlen(path);
    char *p, *colon;

    if (strncmp(path, "/v1/", 4) != 0 || len - 4 >= cap)
        return -ENOENT;
    memcpy(buf, path + 4, len - 4 + 1);
    for (p = buf;;) {
        char *slash = strchr(p, '/');
        if (n == MAX_SEGMENTS)
            return -ENOENT;
        seg[n++] = p;
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!*seg[i])
            return -ENOENT;
    memset(rt, 0, sizeof(*rt));
    /* A custom method rides on the last segment: ".../devices/D:verb". */
    colon = strchr(seg[n - 1], ':');
    if (colon) {
        *colon = '\0';
        rt->verb = colon + 1;
        if (!*seg[n - 1] || !*rt->verb)
            return -ENOENT;
    }
    if (n < 5 || strcmp(seg[0], "projects") != 0 || strcmp(seg[2], "locations") != 0 ||
        strcmp(seg[4], "registries") != 0)
        return -ENOENT;
    rt->project = seg[1];
    rt->location = seg[3];
    if (n == 5) {
        rt->kind = R_REGISTRIES;
        return 0;
    }
    rt->registry = seg[5];
    if (n == 6) {
        rt->kind = R_REGISTRY;
        return 0;
    }
    if (strcmp(seg[6], "devices") != 0)
        return -ENOENT;
    if (n == 7) {
        rt->kind = R_DEVICES;
        return 0;
    }
    rt->device = seg[7];
    if (n == 8) {
        rt->kind = R_DEVICE;
        return 0;
    }
    if (n == 9 && (strcmp(seg[8], "configVersions") == 0 || strcmp(seg[8], "states") == 0)) {
        rt->kind = R_DEVICE_SUB;
        rt->sub = seg[8];
        return 0;
    }
    return -ENOENT;
}

static int check_parent(const struct route *rt, struct api_response *resp)
{
    const char *why = NULL;

    if (reg_name_check_project(rt->project, &why) < 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "project \"%.64s\": %s.", rt->project,
                         why ? why : "invalid project id");
        return -EINVAL;
    }
    /* Google had three regions; any valid name is accepted here. */
    if (reg_name_check_location(rt->location, &why) < 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "location \"%.64s\": %s.", rt->location,
                         why ? why : "invalid location");
        return -EINVAL;
    }
    return 0;
}

/* Loads the registry of the route; on failure resp holds the error. */
static int load_registry(const struct api_env *env, const struct route *rt,
                         struct db_registry *reg, char *name, struct api_response *resp)
{
    int rc;

    if (check_parent(rt, resp) < 0)
        return -EINVAL;
    if (api_google_registry_name(rt->project, rt->location, rt->registry, name, NAME_CAP) < 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "The resource name is too long.");
        return -EINVAL;
    }
    rc = db_registry_get(env->db, rt->project, rt->location, rt->registry, reg);
    if (rc == -ENOENT) {
        api_google_error(resp, API_G_NOT_FOUND, "The registry with the name '%s' doesn't exist.",
                         name);
        return rc;
    }
    if (rc < 0) {
        db_failure(env, resp, rc, "registry lookup");
        return rc;
    }
    return 0;
}

/* The {device} segment is the string id or the numId [PROTO]; ids start
 * with a letter, so all digits means a numId. */
static int load_device(const struct api_env *env, const struct route *rt,
                       const struct db_registry *reg, const char *reg_name,
                       struct db_device *dev, struct api_response *resp)
{
    uint64_t num;
    int rc;

    if (all_digits(rt->device) && api_parse_u64(rt->device, &num) == 0)
        rc = db_device_get_by_num_id(env->db, reg->rowid, num, dev);
    else
        rc = db_device_get_by_id(env->db, reg->rowid, rt->device, dev);
    if (rc == -ENOENT) {
        api_google_error(resp, API_G_NOT_FOUND,
                         "A device with the name '%s/devices/%s' doesn't exist.", reg_name,
                         rt->device);
        return rc;
    }
    if (rc < 0) {
        db_failure(env, resp, rc, "device lookup");
        return rc;
    }
    return 0;
}

static int reply_json_take(struct api_response *resp, json_t *j)
{
    int rc;

    if (!j)
        return api_google_error(resp, API_G_INTERNAL, "Out of memory.");
    rc = api_response_json(resp, 200, j);
    json_decref(j);
    if (rc < 0)
        return api_google_error(resp, API_G_INTERNAL, "Out of memory.");
    return 0;
}

static int reply_empty(struct api_response *resp)
{
    /* Methods returning google.protobuf.Empty must answer {}: an empty 200
     * body makes Google's client libraries throw (reference 3.x). */
    return api_response_text(resp, 200, "application/json", "{}\n", 3) < 0
               ? api_google_error(resp, API_G_INTERNAL, "Out of memory.")
               : 0;
}

static int method_not_allowed(struct api_response *resp, const struct api_request *req,
                              const char *allow)
{
    api_google_error_http(resp, 405, API_G_UNIMPLEMENTED,
                          "Method %s is not allowed on this resource (allowed: %s).",
                          api_method_name(req->method), allow);
    resp->allow = allow;
    return 0;
}

/* pageSize / pageToken: the token is the last rowid served, as an opaque
 * decimal string. */
static int page_args(const struct api_request *req, int *ret_limit, int64_t *ret_after,
                     struct api_response *resp)
{
    const char *size = api_request_param(req, "pageSize");
    const char *token = api_request_param(req, "pageToken");
    uint64_t v;

    *ret_limit = PAGE_MAX;
    *ret_after = 0;
    if (size && *size) {
        if (api_parse_u64(size, &v) < 0) {
            api_google_error(resp, API_G_INVALID_ARGUMENT,
                             "pageSize: expected a non-negative integer.");
            return -EINVAL;
        }
        if (v > 0 && v < PAGE_MAX)
            *ret_limit = (int)v;
    }
    if (token && *token) {
        if (api_parse_u64(token, &v) < 0 || v > INT64_MAX) {
            api_google_error(resp, API_G_INVALID_ARGUMENT, "pageToken: invalid page token.");
            return -EINVAL;
        }
        *ret_after = (int64_t)v;
    }
    return 0;
}

static int set_next_token(json_t *o, bool more, int64_t last_rowid)
{
    char tok[24];

    if (!more)
        return 0;
    snprintf(tok, sizeof(tok), "%lld", (long long)last_rowid);
    return json_object_set_new(o, "nextPageToken", json_string(tok));
}

/* ---- registries ---- */

struct reg_page {
    struct db_registry *items;   /* owned, extra_json strdup'd */
    size_t n;
    size_t limit;
    bool more;
    int err;
};

static int reg_page_cb(const struct db_registry *r, void *ud)
{
    struct reg_page *pg = ud;

    if (pg->n == pg->limit) {
        pg->more = true;
        return 1;
    }
    pg->items[pg->n] = *r;
    pg->items[pg->n].extra_json = NULL;
    if (r->extra_json && !(pg->items[pg->n].extra_json = strdup(r->extra_json))) {
        pg->err = -ENOMEM;
        return 1;
    }
    pg->n++;
    return 0;
}

static int registries_list(const struct api_env *env, const struct route *rt,
                           const struct api_request *req, struct api_response *resp)
{
    struct reg_page pg = { 0 };
    char name[NAME_CAP];
    json_t *out = NULL, *arr = NULL;
    int64_t after;
    int limit, rc;

    if (check_parent(rt, resp) < 0 || page_args(req, &limit, &after, resp) < 0)
        return 0;
    pg.limit = (size_t)limit;
    pg.items = calloc(pg.limit, sizeof(*pg.items));
    if (!pg.items)
        return api_google_error(resp, API_G_INTERNAL, "Out of memory.");
    /* One more than a page tells whether a next page exists. */
    rc = db_registry_list(env->db, rt->project, rt->location, after, limit + 1, reg_page_cb, &pg);
    if (rc >= 0 && pg.err < 0)
        rc = pg.err;
    if (rc < 0) {
        db_failure(env, resp, rc, "registry list");
        goto out;
    }
    out = json_object();
    arr = json_array();
    if (!out || !arr)
        goto oom;
    for (size_t i = 0; i < pg.n; i++) {
        json_t *r;
        if (api_google_registry_name(rt->project, rt->location, pg.items[i].id, name,
                                     sizeof(name)) < 0)
            continue;
        r = api_google_registry_json(name, &pg.items[i]);
        if (!r || json_array_append_new(arr, r) < 0)
            goto oom;
    }
    /* proto3 omits an empty repeated field: an empty list is {}. */
    if (json_array_size(arr) > 0 && json_object_set(out, "deviceRegistries", arr) < 0)
        goto oom;
    if (set_next_token(out, pg.more, pg.n ? pg.items[pg.n - 1].rowid : after) < 0)
        goto oom;
    reply_json_take(resp, out);
    out = NULL;
    goto out;
oom:
    api_google_error(resp, API_G_INTERNAL, "Out of memory.");
out:
    json_decref(out);
    json_decref(arr);
    for (size_t i = 0; i < pg.n; i++)
        db_registry_clear(&pg.items[i]);
    free(pg.items);
    return 0;
}

static int registry_create(const struct api_env *env, const struct route *rt,
                           const struct api_request *req, struct api_response *resp)
{
    struct api_registry_in in;
    struct db_registry reg;
    struct api_err err;
    char name[NAME_CAP];
    json_t *out;
    int rc;

    memset(&reg, 0, sizeof(reg));
    if (check_parent(rt, resp) < 0)
        return 0;
    rc = api_google_registry_parse(req->body, req->body_len, true, env->now_us, &in, &err);
    if (rc == -EINVAL)
        return api_google_error_from(resp, &err);
    if (rc < 0)
        return api_google_error(resp, API_G_INTERNAL, "Out of memory.");
    if (api_google_registry_name(rt->project, rt->location, in.id, name, sizeof(name)) < 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "The resource name is too long.");
        goto out;
    }
    /* [PROTO] the name is output only; tolerate a client echoing it back. */
    if (in.name[0] && strcmp(in.name, name) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "name: must be empty when creating a registry.");
        goto out;
    }
    snprintf(reg.project, sizeof(reg.project), "%s", rt->project);
    snprintf(reg.location, sizeof(reg.location), "%s", rt->location);
    snprintf(reg.id, sizeof(reg.id), "%s", in.id);
    if (json_object_size(in.extra) > 0) {
        reg.extra_json = json_dumps(in.extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!reg.extra_json) {
            api_google_error(resp, API_G_INTERNAL, "Out of memory.");
            goto out;
        }
    }
    reg.created_us = env->now_us;
    rc = db_registry_insert(env->db, &reg);
    if (rc == -EEXIST) {
        api_google_error(resp, API_G_ALREADY_EXISTS,
                         "Resource already exists in the project (resource=%s).", in.id);
        goto out;
    }
    if (rc < 0) {
        db_failure(env, resp, rc, "registry insert");
        goto out;
    }
    log_info("admin: created registry %s", name);
    out = api_google_registry_json(name, &reg);
    reply_json_take(resp, out);
out:
    db_registry_clear(&reg);
    api_registry_in_clear(&in);
    return 0;
}

static int registry_get(const struct api_env *env, const struct route *rt,
                        struct api_response *resp)
{
    struct db_registry reg;
    char name[NAME_CAP];

    memset(&reg, 0, sizeof(reg));
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    reply_json_take(resp, api_google_registry_json(name, &reg));
    db_registry_clear(&reg);
    return 0;
}

static int registry_delete(const struct api_env *env, const struct route *rt,
                           struct api_response *resp)
{
    struct db_registry reg;
    char name[NAME_CAP];
    int rc;

    memset(&reg, 0, sizeof(reg));
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    rc = db_registry_delete(env->db, reg.rowid);
    if (rc == -ENOTEMPTY) {
        /* [FIELD] Google refused while devices remained; tools delete them first. */
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The registry is not empty: delete its devices before deleting "
                         "'%s'.", name);
    } else if (rc == -ENOENT) {
        api_google_error(resp, API_G_NOT_FOUND, "The registry with the name '%s' doesn't exist.",
                         name);
    } else if (rc < 0) {
        db_failure(env, resp, rc, "registry delete");
    } else {
        log_info("admin: deleted registry %s", name);
        notify(env, WEBUI_REGISTRY_CHANGED, reg.rowid);
        reply_empty(resp);
    }
    db_registry_clear(&reg);
    return 0;
}

static int registry_patch(const struct api_env *env, const struct route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    static const struct {
        unsigned bit;
        const char *key;
    } fields[] = {
        { API_REG_EVENT_CONFIGS, "eventNotificationConfigs" },
        { API_REG_STATE_CONFIG, "stateNotificationConfig" },
        { API_REG_MQTT_CONFIG, "mqttConfig" },
        { API_REG_HTTP_CONFIG, "httpConfig" },
        { API_REG_LOG_LEVEL, "logLevel" },
        { API_REG_CREDENTIALS, "credentials" },
    };
    const unsigned mutable_bits = API_REG_EVENT_CONFIGS | API_REG_STATE_CONFIG |
                                  API_REG_MQTT_CONFIG | API_REG_HTTP_CONFIG | API_REG_LOG_LEVEL |
                                  API_REG_CREDENTIALS;
    const char *mask_text = api_request_param(req, "updateMask");
    struct api_registry_in in;
    struct db_registry reg;
    struct api_err err;
    char name[NAME_CAP];
    json_t *extra = NULL;
    char *text = NULL;
    unsigned mask;
    int rc;

    memset(&reg, 0, sizeof(reg));
    memset(&in, 0, sizeof(in));
    if (!mask_text)
        mask_text = api_request_param(req, "update_mask");
    if (!mask_text || !*mask_text)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "updateMask: required, e.g. updateMask=mqttConfig,logLevel.");
    if (api_google_registry_mask(mask_text, &mask, &err) < 0)
        return api_google_error_from(resp, &err);
    if (mask & ~mutable_bits)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "updateMask: only event_notification_configs, "
                                "state_notification_config, mqtt_config, http_config, log_level "
                                "and credentials can be updated.");
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    rc = api_google_registry_parse(req->body, req->body_len, false, env->now_us, &in, &err);
    if (rc == -EINVAL) {
        api_google_error_from(resp, &err);
        goto out;
    }
    if (rc < 0) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    if (in.id[0] && strcmp(in.id, reg.id) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "id: must be empty or match the path.");
        goto out;
    }
    extra = reg.extra_json ? json_loads(reg.extra_json, 0, NULL) : NULL;
    if (!json_is_object(extra)) {
        json_decref(extra);
        extra = json_object();
        if (!extra)
            goto oom;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *v;
        if (!(mask & fields[i].bit))
            continue;
        v = json_object_get(in.extra, fields[i].key);
        if (v) {
            if (json_object_set(extra, fields[i].key, v) < 0)
                goto oom;
        } else {
            json_object_del(extra, fields[i].key);
        }
    }
    /* Cleared protocol switches fall back to Google's default (enabled). */
    if (!json_object_get(extra, "mqttConfig") &&
        json_object_set_new(extra, "mqttConfig",
                            json_pack("{s:s}", "mqttEnabledState", "MQTT_ENABLED")) < 0)
        goto oom;
    if (!json_object_get(extra, "httpConfig") &&
        json_object_set_new(extra, "httpConfig",
                            json_pack("{s:s}", "httpEnabledState", "HTTP_ENABLED")) < 0)
        goto oom;
    text = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto oom;
    rc = db_registry_update_extra(env->db, reg.rowid, text);
    if (rc < 0) {
        db_failure(env, resp, rc, "registry update");
        goto out;
    }
    free(reg.extra_json);
    reg.extra_json = text;
    text = NULL;
    log_info("admin: updated registry %s", name);
    notify(env, WEBUI_REGISTRY_CHANGED, reg.rowid);
    reply_json_take(resp, api_google_registry_json(name, &reg));
    goto out;
oom:
    api_google_error(resp, API_G_INTERNAL, "Out of memory.");
out:
    free(text);
    json_decref(extra);
    api_registry_in_clear(&in);
    db_registry_clear(&reg);
    return 0;
}

/* ---- devices ---- */

/* Renders one device with what `fields` needs from the store. */
static int render_device(const struct api_env *env, const char *reg_name,
                         const struct db_device *dev, unsigned fields, json_t **ret)
{
    struct db_credential creds[DB_MAX_CREDENTIALS];
    struct db_config cfg;
    struct db_state st;
    struct api_device_view v = { .dev = dev };
    size_t n_creds = 0;
    bool have_cfg = false, have_st = false;
    int rc = 0;

    memset(creds, 0, sizeof(creds));
    memset(&cfg, 0, sizeof(cfg));
    memset(&st, 0, sizeof(st));
    if (fields & API_DEV_CREDENTIALS) {
        rc = db_credential_list(env->db, dev->rowid, creds, &n_creds);
        if (rc < 0)
            goto out;
        v.creds = creds;
        v.n_creds = n_creds;
    }
    if (fields & API_DEV_CONFIG) {
        rc = db_config_latest(env->db, dev->rowid, &cfg);
        if (rc < 0 && rc != -ENOENT)
            goto out;
        have_cfg = rc >= 0;
        v.config = have_cfg ? &cfg : NULL;
    }
    if (fields & API_DEV_STATE) {
        rc = db_state_latest(env->db, dev->rowid, &st);
        if (rc < 0 && rc != -ENOENT)
            goto out;
        have_st = rc >= 0;
        v.state = have_st ? &st : NULL;
    }
    *ret = api_google_device_json(reg_name, &v, fields);
    rc = *ret ? 0 : -ENOMEM;
out:
    for (size_t i = 0; i < n_creds; i++)
        db_credential_clear(&creds[i]);
    if (have_cfg)
        db_config_clear(&cfg);
    if (have_st)
        db_state_clear(&st);
    return rc;
}

static int reply_device(const struct api_env *env, const char *reg_name,
                        const struct db_device *dev, unsigned fields, struct api_response *resp)
{
    json_t *j = NULL;
    int rc = render_device(env, reg_name, dev, fields, &j);

    if (rc < 0) {
        db_failure(env, resp, rc, "device read");
        return 0;
    }
    return reply_json_take(resp, j);
}

/* fieldMask of Get/ListDevices; id, name and numId always come back. */
static int field_mask_arg(const struct api_request *req, unsigned none, unsigned *ret,
                          struct api_response *resp)
{
    const char *m = api_request_param(req, "fieldMask");
    struct api_err err;
    unsigned bits;

    if (!m)
        m = api_request_param(req, "field_mask");
    if (!m || !*m) {
        *ret = none;
        return 0;
    }
    if (api_google_device_mask(m, &bits, &err) < 0) {
        api_google_error_from(resp, &err);
        return -EINVAL;
    }
    if (bits & API_DEV_GATEWAY_AUTH_METHOD)
        bits |= API_DEV_GATEWAY_CONFIG;
    *ret = (bits & API_DEV_ALL) | API_DEV_ID | API_DEV_NAME | API_DEV_NUM_ID;
    return 0;
}

static int device_get(const struct api_env *env, const struct route *rt,
                      const struct api_request *req, struct api_response *resp)
{
    struct db_registry reg;
    struct db_device dev;
    char name[NAME_CAP];
    unsigned fields;

    memset(&reg, 0, sizeof(reg));
    memset(&dev, 0, sizeof(dev));
    if (field_mask_arg(req, API_DEV_ALL, &fields, resp) < 0)
        return 0;
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    if (load_device(env, rt, &reg, name, &dev, resp) == 0) {
        reply_device(env, name, &dev, fields, resp);
        db_device_clear(&dev);
    }
    db_registry_clear(&reg);
    return 0;
}

struct dev_page {
    struct db_device *items;     /* owned, extra_json strdup'd */
    size_t n, cap;
    size_t limit;                /* 0: no limit (filter lookups) */
    bool more;
    int err;
    int64_t last_rowid;          /* last row the store returned */
    const char *gateway_type;    /* filter: GATEWAY | NON_GATEWAY, or NULL */
};

static bool device_is_gateway(const struct db_device *d)
{
    json_t *extra = d->extra_json ? json_loads(d->extra_json, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(json_object_get(extra, "gatewayConfig"),
                                                      "gatewayType"));
    bool gw = t && strcmp(t, "GATEWAY") == 0;

    json_decref(extra);
    return gw;
}

static int dev_page_add(struct dev_page *pg, const struct db_device *d)
{
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 16;
        struct db_device *items = realloc(pg->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        pg->items = items;
        pg->cap = cap;
    }
    pg->items[pg->n] = *d;
    pg->items[pg->n].extra_json = NULL;
    if (d->extra_json && !(pg->items[pg->n].extra_json = strdup(d->extra_json)))
        return -ENOMEM;
    pg->n++;
    return 0;
}

static int dev_page_cb(const struct db_device *d, void *ud)
{
    struct dev_page *pg = ud;

    pg->last_rowid = d->rowid;
    if (pg->gateway_type &&
        device_is_gateway(d) != (strcmp(pg->gateway_type, "GATEWAY") == 0))
        return 0;
    if (pg->limit && pg->n == pg->limit) {
        pg->more = true;
        return 1;
    }
    pg->err = dev_page_add(pg, d);
    return pg->err < 0;
}

static void dev_page_free(struct dev_page *pg)
{
    for (size_t i = 0; i < pg->n; i++)
        db_device_clear(&pg->items[i]);
    free(pg->items);
}

static int cmp_rowid(const void *a, const void *b)
{
    const struct db_device *x = a, *y = b;

    return x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
}

/* deviceIds / deviceNumIds: repeated arguments, each possibly a
 * comma-separated list (both spellings occur in client code). */
static int collect_filtered(const struct api_env *env, const struct api_request *req,
                            const struct db_registry *reg, struct dev_page *all,
                            struct api_response *resp)
{
    size_t seen = 0;

    for (size_t i = 0; i < req->n_params; i++) {
        const struct api_param *pa = &req->params[i];
        bool by_num = strcmp(pa->name, "deviceNumIds") == 0 ||
                      strcmp(pa->name, "device_num_ids") == 0;
        bool by_id = strcmp(pa->name, "deviceIds") == 0 || strcmp(pa->name, "device_ids") == 0;
        const char *p = pa->value;

        if (!by_num && !by_id)
            continue;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char one[DB_ID_MAX];
            struct db_device d;
            uint64_t num;
            int rc;

            if (len > 0 && len < sizeof(one)) {
                memcpy(one, p, len);
                one[len] = '\0';
                if (++seen > FILTER_MAX) {
                    api_google_error(resp, API_G_INVALID_ARGUMENT,
                                     "At most %d device ids can be listed.", FILTER_MAX);
                    return -EINVAL;
                }
                memset(&d, 0, sizeof(d));
                if (by_num) {
                    if (api_parse_u64(one, &num) < 0) {
                        api_google_error(resp, API_G_INVALID_ARGUMENT,
                                         "deviceNumIds: \"%.32s\" is not a number.", one);
                        return -EINVAL;
                    }
                    rc = db_device_get_by_num_id(env->db, reg->rowid, num, &d);
                } else {
                    rc = db_device_get_by_id(env->db, reg->rowid, one, &d);
                }
                if (rc == 0) {
                    rc = dev_page_add(all, &d);
                    db_device_clear(&d);
                }
                if (rc < 0 && rc != -ENOENT) {
                    db_failure(env, resp, rc, "device lookup");
                    return rc;
                }
            }
            if (!end)
                break;
            p = end + 1;
        }
    }
    return 0;
}

static bool has_filter(const struct api_request *req)
{
    static const char *const names[] = { "deviceIds", "device_ids", "deviceNumIds",
                                          "device_num_ids" };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (api_request_param(req, names[i]))
            return true;
    return false;
}

static int devices_list(const struct api_env *env, const struct route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    struct dev_page pg = { 0 };
    struct db_registry reg;
    char name[NAME_CAP];
    const char *gw = api_request_param(req, "gatewayListOptions.gatewayType");
    json_t *out = NULL, *arr = NULL;
    unsigned fields;
    int64_t after;
    int limit, rc;

    memset(&reg, 0, sizeof(reg));
    if (field_mask_arg(req, API_DEV_ID | API_DEV_NAME | API_DEV_NUM_ID, &fields, resp) < 0 ||
        page_args(req, &limit, &after, resp) < 0)
        return 0;
    if (gw && *gw) {
        /* Accept the enum name or number, like the body fields. */
        if (strcmp(gw, "GATEWAY") == 0 || strcmp(gw, "1") == 0)
            pg.gateway_type = "GATEWAY";
        else if (strcmp(gw, "NON_GATEWAY") == 0 || strcmp(gw, "2") == 0)
            pg.gateway_type = "NON_GATEWAY";
        else if (strcmp(gw, "GATEWAY_TYPE_UNSPECIFIED") != 0 && strcmp(gw, "0") != 0)
            return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                    "gatewayListOptions.gatewayType: expected GATEWAY or "
                                    "NON_GATEWAY.");
    }
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    if (api_request_param(req, "gatewayListOptions.associationsGatewayId") ||
        api_request_param(req, "gatewayListOptions.associationsDeviceId")) {
        /* Gateway bindings are not served yet, so no device is bound. */
        reply_json_take(resp, json_object());
        goto out;
    }
    if (has_filter(req)) {
        struct dev_page all = { 0 };
        rc = collect_filtered(env, req, &reg, &all, resp);
        if (rc < 0) {
            dev_page_free(&all);
            goto out;
        }
        qsort(all.items, all.n, sizeof(*all.items), cmp_rowid);
        pg.limit = (size_t)limit;
        for (size_t i = 0; i < all.n; i++) {
            bool dup = i > 0 && all.items[i].rowid == all.items[i - 1].rowid;
            if (all.items[i].rowid <= after || dup)
                continue;
            if (dev_page_cb(&all.items[i], &pg))
                break;
        }
        rc = pg.err;
        dev_page_free(&all);
    } else {
        pg.limit = (size_t)limit;
        /* A type filter may skip rows: keep reading pages until this one
         * is full or the registry is exhausted. */
        pg.last_rowid = after;
        for (;;) {
            int64_t before = pg.last_rowid;
            rc = db_device_list(env->db, reg.rowid, pg.last_rowid, limit + 1, dev_page_cb, &pg);
            if (rc >= 0 && pg.err < 0)
                rc = pg.err;
            if (rc < 0 || pg.more || !pg.gateway_type || pg.last_rowid == before)
                break;
        }
    }
    if (rc < 0) {
        db_failure(env, resp, rc, "device list");
        goto out;
    }
    out = json_object();
    arr = json_array();
    if (!out || !arr)
        goto oom;
    for (size_t i = 0; i < pg.n; i++) {
        json_t *d = NULL;
        rc = render_device(env, name, &pg.items[i], fields, &d);
        if (rc < 0) {
            db_failure(env, resp, rc, "device read");
            goto out;
        }
        if (json_array_append_new(arr, d) < 0)
            goto oom;
    }
    if (json_array_size(arr) > 0 && json_object_set(out, "devices", arr) < 0)
        goto oom;
    if (set_next_token(out, pg.more, pg.n ? pg.items[pg.n - 1].rowid : after) < 0)
        goto oom;
    reply_json_take(resp, out);
    out = NULL;
    goto out;
oom:
    api_google_error(resp, API_G_INTERNAL, "Out of memory.");
out:
    json_decref(out);
    json_decref(arr);
    dev_page_free(&pg);
    db_registry_clear(&reg);
    return 0;
}

static int device_create(const struct api_env *env, const struct route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    struct api_device_in in;
    struct db_registry reg;
    struct db_device dev;
    struct api_err err;
    char name[NAME_CAP];
    bool in_tx = false;
    int64_t version;
    int rc;

    memset(&reg, 0, sizeof(reg));
    memset(&dev, 0, sizeof(dev));
    memset(&in, 0, sizeof(in));
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    rc = api_google_device_parse(req->body, req->body_len, true, env->now_us, &in, &err);
    if (rc == -EINVAL) {
        api_google_error_from(resp, &err);
        goto out;
    }
    if (rc < 0) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    if (in.name[0]) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "name: must be empty when creating a device (it is output only).");
        goto out;
    }
    dev.registry_rowid = reg.rowid;
    snprintf(dev.id, sizeof(dev.id), "%s", in.id);
    dev.blocked = in.blocked;
    dev.created_us = env->now_us;
    rc = api_google_device_extra(NULL, &in,
                                 API_DEV_METADATA | API_DEV_LOG_LEVEL | API_DEV_GATEWAY_CONFIG,
                                 &dev.extra_json);
    if (rc < 0) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    /* Device, credentials and first config land together or not at all. */
    rc = db_begin(env->db);
    if (rc < 0) {
        db_failure(env, resp, rc, "begin");
        goto out;
    }
    in_tx = true;
    rc = db_device_insert(env->db, &dev);
    if (rc == -EEXIST) {
        api_google_error(resp, API_G_ALREADY_EXISTS,
                         "Resource already exists in the project (resource=%s).", in.id);
        goto out;
    }
    if (rc < 0) {
        db_failure(env, resp, rc, "device insert");
        goto out;
    }
    if (in.n_creds > 0) {
        rc = db_credential_replace(env->db, dev.rowid, in.creds, in.n_creds);
        if (rc < 0) {
            db_failure(env, resp, rc, "credential insert");
            goto out;
        }
    }
    /* The store creates version 1 empty (as Google did without a config);
     * a config sent with the device becomes the next version. */
    if (in.config_data && in.config_len > 0) {
        rc = db_config_add(env->db, dev.rowid, 0, in.config_data, in.config_len, env->now_us,
                           &version);
        if (rc < 0) {
            db_failure(env, resp, rc, "config insert");
            goto out;
        }
    }
    rc = db_commit(env->db);
    if (rc < 0) {
        db_failure(env, resp, rc, "commit");
        goto out;
    }
    in_tx = false;
    log_info("admin: created device %s/devices/%s (numId %llu)", name, dev.id,
             (unsigned long long)dev.num_id);
    {
        /* Read back so the reply shows what the store holds. */
        struct db_device stored;
        memset(&stored, 0, sizeof(stored));
        rc = db_device_get_by_id(env->db, reg.rowid, dev.id, &stored);
        if (rc < 0)
            db_failure(env, resp, rc, "device read");
        else
            reply_device(env, name, &stored, API_DEV_ALL, resp);
        db_device_clear(&stored);
    }
out:
    if (in_tx && db_rollback(env->db) < 0)
        log_err("admin: rollback failed: %s", db_last_error(env->db));
    api_device_in_clear(&in);
    db_device_clear(&dev);
    db_registry_clear(&reg);
    return 0;
}

static int device_delete(const struct api_env *env, const struct route *rt,
                         struct api_response *resp)
{
    struct db_registry reg;
    struct db_device dev;
    char name[NAME_CAP];
    int rc;

    memset(&reg, 0, sizeof(reg));
    memset(&dev, 0, sizeof(dev));
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    if (load_device(env, rt, &reg, name, &dev, resp) < 0)
        goto out;
    /* The store removes credentials, configs and states with the row. */
    rc = db_device_delete(env->db, dev.rowid);
    if (rc == -ENOENT) {
        api_google_error(resp, API_G_NOT_FOUND,
                         "A device with the name '%s/devices/%s' doesn't exist.", name,
                         rt->device);
    } else if (rc < 0) {
        db_failure(env, resp, rc, "device delete");
    } else {
        log_info("admin: deleted device %s/devices/%s", name, dev.id);
        notify(env, WEBUI_DEVICE_DELETED, dev.rowid);
        reply_empty(resp);
    }
out:
    db_device_clear(&dev);
    db_registry_clear(&reg);
    return 0;
}

static int device_patch(const struct api_env *env, const struct route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    /* [PROTO] credentials, blocked, metadata; [REC] logLevel and
     * gatewayConfig.gatewayAuthMethod too. */
    const unsigned mutable_bits = API_DEV_BLOCKED | API_DEV_CREDENTIALS | API_DEV_METADATA |
                                  API_DEV_LOG_LEVEL | API_DEV_GATEWAY_AUTH_METHOD;
    const char *mask_text = api_request_param(req, "updateMask");
    struct api_device_in in;
    struct db_registry reg;
    struct db_device dev;
    struct api_err err;
    char name[NAME_CAP];
    char *extra = NULL;
    bool in_tx = false, was_blocked;
    unsigned mask;
    int rc;

    memset(&reg, 0, sizeof(reg));
    memset(&dev, 0, sizeof(dev));
    memset(&in, 0, sizeof(in));
    if (!mask_text)
        mask_text = api_request_param(req, "update_mask");
    if (!mask_text || !*mask_text)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "updateMask: required, e.g. updateMask=blocked,credentials.");
    if (api_google_device_mask(mask_text, &mask, &err) < 0)
        return api_google_error_from(resp, &err);
    if (mask & ~mutable_bits)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "updateMask: only blocked, credentials, metadata, log_level and "
                                "gateway_config.gateway_auth_method can be updated.");
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    if (load_device(env, rt, &reg, name, &dev, resp) < 0)
        goto out;
    rc = api_google_device_parse(req->body, req->body_len, false, env->now_us, &in, &err);
    if (rc == -EINVAL) {
        api_google_error_from(resp, &err);
        goto out;
    }
    if (rc < 0) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    /* [PROTO] id and numId must be empty; a client echoing the device's own
     * values back is tolerated. */
    if (in.id[0] && strcmp(in.id, dev.id) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "id: must be empty or match the device.");
        goto out;
    }
    if (in.num_id[0]) {
        uint64_t n;
        if (api_parse_u64(in.num_id, &n) < 0 || (n != 0 && n != dev.num_id)) {
            api_google_error(resp, API_G_INVALID_ARGUMENT,
                             "numId: must be empty or match the device.");
            goto out;
        }
    }
    rc = api_google_device_extra(dev.extra_json, &in, mask, &extra);
    if (rc < 0) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    was_blocked = dev.blocked;
    if (mask & API_DEV_BLOCKED)
        dev.blocked = in.blocked;
    free(dev.extra_json);
    dev.extra_json = extra;
    extra = NULL;
    rc = db_begin(env->db);
    if (rc < 0) {
        db_failure(env, resp, rc, "begin");
        goto out;
    }
    in_tx = true;
    rc = db_device_update(env->db, &dev);
    if (rc < 0) {
        db_failure(env, resp, rc, "device update");
        goto out;
    }
    if (mask & API_DEV_CREDENTIALS) {
        rc = db_credential_replace(env->db, dev.rowid, in.creds, in.n_creds);
        if (rc < 0) {
            db_failure(env, resp, rc, "credential replace");
            goto out;
        }
    }
    rc = db_commit(env->db);
    if (rc < 0) {
        db_failure(env, resp, rc, "commit");
        goto out;
    }
    in_tx = false;
    log_info("admin: updated device %s/devices/%s", name, dev.id);
    /* Live sessions recheck only when what admits them changed. */
    if ((mask & API_DEV_CREDENTIALS) || ((mask & API_DEV_BLOCKED) && dev.blocked != was_blocked))
        notify(env, WEBUI_DEVICE_CHANGED, dev.rowid);
    reply_device(env, name, &dev, API_DEV_ALL, resp);
out:
    if (in_tx && db_rollback(env->db) < 0)
        log_err("admin: rollback failed: %s", db_last_error(env->db));
    free(extra);
    api_device_in_clear(&in);
    db_device_clear(&dev);
    db_registry_clear(&reg);
    return 0;
}

struct history {
    json_t *arr;
    int err;
};

static int config_cb(const struct db_config *c, void *ud)
{
    struct history *h = ud;
    json_t *j = api_google_config_json(c);

    if (!j || json_array_append_new(h->arr, j) < 0) {
        h->err = -ENOMEM;
        return 1;
    }
    return 0;
}

static int state_cb(const struct db_state *st, void *ud)
{
    struct history *h = ud;
    json_t *j = api_google_state_json(st);

    if (!j || json_array_append_new(h->arr, j) < 0) {
        h->err = -ENOMEM;
        return 1;
    }
    return 0;
}

/* ListDeviceConfigVersions / ListDeviceStates: newest first; 0 means all
 * kept (at most DB_CONFIG_VERSIONS_KEPT) [PROTO]. */
static int device_history(const struct api_env *env, const struct route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    bool configs = strcmp(rt->sub, "configVersions") == 0;
    const char *num = api_request_param(req, configs ? "numVersions" : "numStates");
    struct history h = { 0 };
    struct db_registry reg;
    struct db_device dev;
    char name[NAME_CAP];
    uint64_t n = 0;
    int rc;

    memset(&reg, 0, sizeof(reg));
    memset(&dev, 0, sizeof(dev));
    if (num && *num && api_parse_u64(num, &n) < 0)
        return api_google_error(resp, API_G_INVALID_ARGUMENT, "%s: expected a non-negative "
                                "integer.", configs ? "numVersions" : "numStates");
    if (n > DB_CONFIG_VERSIONS_KEPT)
        n = DB_CONFIG_VERSIONS_KEPT;
    if (load_registry(env, rt, &reg, name, resp) < 0)
        return 0;
    if (load_device(env, rt, &reg, name, &dev, resp) < 0)
        goto out;
    h.arr = json_array();
    if (!h.arr) {
        api_google_error(resp, API_G_INTERNAL, "Out of memory.");
        goto out;
    }
    rc = configs ? db_config_list(env->db, dev.rowid, (int)n, config_cb, &h)
                 : db_state_list(env->db, dev.rowid, (int)n, state_cb, &h);
    if (rc >= 0 && h.err < 0)
        rc = h.err;
    if (rc < 0) {
        db_failure(env, resp, rc, configs ? "config list" : "state list");
        goto out;
    }
    {
        json_t *o = json_object();
        if (o && json_array_size(h.arr) > 0 &&
            json_object_set(o, configs ? "deviceConfigs" : "deviceStates", h.arr) < 0) {
            json_decref(o);
            o = NULL;
        }
        reply_json_take(resp, o);
    }
out:
    json_decref(h.arr);
    db_device_clear(&dev);
    db_registry_clear(&reg);
    return 0;
}

static int unimplemented(struct api_response *resp, const char *what)
{
    return api_google_error(resp, API_G_UNIMPLEMENTED, "%s is not implemented by iotcored yet.",
                            what);
}

static bool verb_known(const char *verb)
{
    for (size_t i = 0; i < sizeof(unimplemented_verbs) / sizeof(unimplemented_verbs[0]); i++)
        if (strcmp(verb, unimplemented_verbs[i]) == 0)
            return true;
    return false;
}

int api_google_handle(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp)
{
    char buf[4096];
    struct route rt;
    enum api_method m = req->method;

    if (route_parse(req->path, buf, sizeof(buf), &rt) < 0)
        return -ENOENT;
    if (rt.verb) {
        if (!verb_known(rt.verb))
            return -ENOENT;
        if (m != API_POST && !(m == API_GET && strcmp(rt.verb, "getIamPolicy") == 0))
            return method_not_allowed(resp, req, "POST");
        return unimplemented(resp, rt.verb);
    }
    switch (rt.kind) {
    case R_REGISTRIES:
        if (m == API_GET)
            return registries_list(env, &rt, req, resp);
        if (m == API_POST)
            return registry_create(env, &rt, req, resp);
        return method_not_allowed(resp, req, "GET, POST");
    case R_REGISTRY:
        if (m == API_GET)
            return registry_get(env, &rt, resp);
        if (m == API_PATCH)
            return registry_patch(env, &rt, req, resp);
        if (m == API_DELETE)
            return registry_delete(env, &rt, resp);
        return method_not_allowed(resp, req, "GET, PATCH, DELETE");
    case R_DEVICES:
        if (m == API_GET)
            return devices_list(env, &rt, req, resp);
        if (m == API_POST)
            return device_create(env, &rt, req, resp);
        return method_not_allowed(resp, req, "GET, POST");
    case R_DEVICE:
        if (m == API_GET)
            return device_get(env, &rt, req, resp);
        if (m == API_PATCH)
            return device_patch(env, &rt, req, resp);
        if (m == API_DELETE)
            return device_delete(env, &rt, resp);
        return method_not_allowed(resp, req, "GET, PATCH, DELETE");
    case R_DEVICE_SUB:
        if (m != API_GET)
            return method_not_allowed(resp, req, "GET");
        return device_history(env, &rt, req, resp);
    }
    return -ENOENT;
}
