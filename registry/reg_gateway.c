/* Gateway rules [google-iot-core.md 1.5 "Gateway auth"]. */
#include "registry/reg_gateway.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_device_auth.h"

void reg_gateway_cfg_parse(const char *device_extra_json, struct reg_gateway_cfg *ret)
{
    static const char *const methods[] = {
        [REG_GW_AUTH_ASSOCIATION_ONLY] = "ASSOCIATION_ONLY",
        [REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY] = "DEVICE_AUTH_TOKEN_ONLY",
        [REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN] = "ASSOCIATION_AND_DEVICE_AUTH_TOKEN",
    };
    json_error_t jerr;

    memset(ret, 0, sizeof(*ret));
    if (!device_extra_json || !*device_extra_json)
        return;
    json_t *root = json_loads(device_extra_json, 0, &jerr);
    json_t *gc = json_object_get(root, "gatewayConfig");
    const char *type = json_string_value(json_object_get(gc, "gatewayType"));
    const char *method = json_string_value(json_object_get(gc, "gatewayAuthMethod"));
    ret->is_gateway = type && strcmp(type, "GATEWAY") == 0;
    for (size_t i = 1; method && i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i]) == 0)
            ret->auth = (enum reg_gateway_auth)i;
    json_decref(root);
}

const char *reg_attach_result_word(enum reg_attach_result r)
{
    static const char *const words[] = {
        [REG_ATTACH_OK] = "ok",
        [REG_ATTACH_NO_METHOD] = "auth-method-unspecified",
        [REG_ATTACH_NOT_BOUND] = "not-bound",
        [REG_ATTACH_TOKEN_REFUSED] = "token-refused",
        [REG_ATTACH_UNKNOWN_DEVICE] = "unknown-device",
        [REG_ATTACH_BLOCKED] = "blocked",
        [REG_ATTACH_STORE_ERROR] = "store-error",
    };
    if ((unsigned)r >= sizeof(words) / sizeof(words[0]))
        return "unknown";
    return words[r];
}

enum reg_attach_result reg_gateway_attach(struct db *db, int64_t gateway_rowid,
                                          const struct reg_gateway_cfg *gw, const char *project,
                                          const char *location, const char *registry,
                                          int64_t registry_rowid, const char *device_id,
                                          const char *token, int64_t clock_skew,
                                          int64_t max_lifetime, int64_t refresh_interval,
                                          int64_t now, int64_t *ret_device_rowid,
                                          int *ret_auth_reason)
{
    struct db_device d;
    bool need_binding = gw->auth == REG_GW_AUTH_ASSOCIATION_ONLY ||
                        gw->auth == REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN;
    bool need_token = gw->auth == REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY ||
                      gw->auth == REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN;

    *ret_auth_reason = 0;
    if (gw->auth == REG_GW_AUTH_UNSPECIFIED)
        return REG_ATTACH_NO_METHOD;
    memset(&d, 0, sizeof(d));
    int r = db_device_get_by_id(db, registry_rowid, device_id, &d);
    if (r == -ENOENT || r == -EINVAL)
        return REG_ATTACH_UNKNOWN_DEVICE;
    if (r < 0)
        return REG_ATTACH_STORE_ERROR;
    int64_t rowid = d.rowid;
    bool blocked = d.blocked;
    db_device_clear(&d);
    if (blocked)
        return REG_ATTACH_BLOCKED;
    if (need_binding) {
        r = db_binding_exists(db, gateway_rowid, rowid);
        if (r < 0)
            return REG_ATTACH_STORE_ERROR;
        if (r == 0)
            return REG_ATTACH_NOT_BOUND;
    }
    if (need_token) {
        /* The device's own credentials and Google's token rules, exactly
         * as if the device had connected itself. */
        char cid[1100];
        struct reg_google_auth a;
        struct reg_jwt_rules rules = {
            .clock_skew = clock_skew,
            .max_lifetime = max_lifetime,
            .refresh_interval = refresh_interval,
        };
        snprintf(cid, sizeof(cid), "projects/%s/locations/%s/registries/%s/devices/%s", project,
                 location, registry, device_id);
        size_t tl = token ? strlen(token) : 0;
        enum reg_auth_reason ar = reg_google_authenticate(db, cid, strlen(cid),
                                                          (const uint8_t *)token, tl, tl > 0,
                                                          &rules, now, &a);
        if (ar != REG_AUTH_OK) {
            *ret_auth_reason = (int)ar;
            return REG_ATTACH_TOKEN_REFUSED;
        }
        reg_google_auth_clear(&a);
    }
    *ret_device_rowid = rowid;
    return REG_ATTACH_OK;
}

int reg_gateway_mark_accessed(struct db *db, int64_t device_rowid, const char *gateway_id,
                              int64_t now_us)
{
    struct db_device d;
    json_error_t jerr;
    char ts[40];

    memset(&d, 0, sizeof(d));
    int r = db_device_get_by_rowid(db, device_rowid, &d);
    if (r < 0)
        return r;
    json_t *root = d.extra_json ? json_loads(d.extra_json, 0, &jerr) : json_object();
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    json_t *gc = json_object_get(root, "gatewayConfig");
    if (!json_is_object(gc)) {
        gc = json_object();
        json_object_set_new(root, "gatewayConfig", gc);
    }
    time_format_rfc3339(now_us, ts, sizeof(ts));
    json_object_set_new(gc, "lastAccessedGatewayId", json_string(gateway_id));
    json_object_set_new(gc, "lastAccessedGatewayTime", json_string(ts));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) {
        db_device_clear(&d);
        return -ENOMEM;
    }
    free(d.extra_json);
    d.extra_json = text;
    r = db_device_update(db, &d);
    db_device_clear(&d);
    return r;
}

int reg_gateway_attach_token(const void *payload, size_t len, char **ret)
{
    json_error_t jerr;

    *ret = NULL;
    if (len == 0)
        return 0;
    json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return -EINVAL;
    }
    json_t *a = json_object_get(root, "authorization");
    int r = 0;
    if (a && !json_is_string(a))
        r = -EINVAL;
    else if (a && json_string_length(a) > 0 && !(*ret = strdup(json_string_value(a))))
        r = -ENOMEM;
    json_decref(root);
    return r;
}
