/* Google DeviceManager routes on one device: create, get, patch, delete,
 * and its config and state history; and rendering a stored device with
 * what a field mask asks of the store (shared with the device list). */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ---- rendering ---- */

int api_g_render_device(const struct api_env *env, const char *reg_name,
                        const struct db_device *dev, unsigned fields, json_t **ret)
{
    struct db_credential creds[DB_MAX_CREDENTIALS];
    struct db_config cfg;
    struct db_state st;
    struct api_device_view v = { .dev = dev };
    size_t n_creds = 0;
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
        v.config = rc >= 0 ? &cfg : NULL;
    }
    if (fields & API_DEV_STATE) {
        rc = db_state_latest(env->db, dev->rowid, &st);
        if (rc < 0 && rc != -ENOENT)
            goto out;
        v.state = rc >= 0 ? &st : NULL;
    }
    *ret = api_google_device_json(reg_name, &v, fields);
    rc = *ret ? 0 : -ENOMEM;
out:
    for (size_t i = 0; i < n_creds; i++)
        db_credential_clear(&creds[i]);
    if (v.config)
        db_config_clear(&cfg);
    if (v.state)
        db_state_clear(&st);
    return rc;
}

static int reply_device(const struct api_env *env, const char *reg_name,
                        const struct db_device *dev, unsigned fields, struct api_response *resp)
{
    json_t *j = NULL;
    int rc = api_g_render_device(env, reg_name, dev, fields, &j);

    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "device read");
        return 0;
    }
    return api_g_reply_json_take(resp, j);
}

int api_g_field_mask_arg(const struct api_request *req, unsigned none, unsigned *ret,
                         struct api_response *resp)
{
    const char *m = api_g_param(req, "fieldMask", "field_mask");
    struct api_err err;
    unsigned bits;

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

/* ---- routes ---- */

int api_g_device_get(const struct api_env *env, const struct api_g_route *rt,
                     const struct api_request *req, struct api_response *resp)
{
    struct api_g_target t;
    unsigned fields;

    if (api_g_field_mask_arg(req, API_DEV_ALL, &fields, resp) < 0)
        return 0;
    if (api_g_resolve(env, rt, true, &t, resp) == 0)
        reply_device(env, t.name, &t.dev, fields, resp);
    api_g_target_clear(&t);
    return 0;
}

/* What one device write puts in the store besides the row itself. */
struct device_write {
    struct db_device *dev;
    const struct api_device_in *in;
    bool creds;                 /* replace the credentials with in->creds */
};

static int replace_creds(const struct api_env *env, const struct device_write *w,
                         const char *what, struct api_response *resp)
{
    int rc;

    if (!w->creds)
        return 0;
    rc = db_credential_replace(env->db, w->dev->rowid, w->in->creds, w->in->n_creds);
    if (rc < 0)
        api_g_db_failure(env, resp, rc, what);
    return rc < 0 ? rc : 0;
}

/* Device, credentials and first config land together or not at all. */
static int insert_rows(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct device_write *w = ctx;
    int64_t version;
    int rc = db_device_insert(env->db, w->dev);

    if (rc == -EEXIST) {
        api_g_already_exists(resp, w->in->id);
        return rc;
    }
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "device insert");
        return rc;
    }
    rc = replace_creds(env, w, "credential insert", resp);
    if (rc < 0 || !w->in->config_data || w->in->config_len == 0)
        return rc;
    /* The store creates version 1 empty (as Google did without a config);
     * a config sent with the device becomes the next version. */
    rc = db_config_add(env->db, w->dev->rowid, 0, w->in->config_data, w->in->config_len,
                       env->now_us, &version);
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "config insert");
    return rc < 0 ? rc : 0;
}

static int update_rows(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct device_write *w = ctx;
    int rc = db_device_update(env->db, w->dev);

    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "device update");
        return rc;
    }
    return replace_creds(env, w, "credential replace", resp);
}

int api_g_device_create(const struct api_env *env, const struct api_g_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    struct api_device_in in;
    struct api_g_target t;
    struct db_device dev, stored;
    struct device_write w = { .dev = &dev, .in = &in };
    struct api_err err;
    int rc;

    memset(&dev, 0, sizeof(dev));
    memset(&stored, 0, sizeof(stored));
    memset(&in, 0, sizeof(in));
    if (api_g_resolve(env, rt, false, &t, resp) < 0)
        goto out;
    rc = api_google_device_parse(req->body, req->body_len, true, env->now_us, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    if (in.name[0]) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "name: must be empty when creating a device (it is output only).");
        goto out;
    }
    dev.registry_rowid = t.reg.rowid;
    snprintf(dev.id, sizeof(dev.id), "%s", in.id);
    dev.blocked = in.blocked;
    dev.created_us = env->now_us;
    if (api_google_device_extra(NULL, &in,
                                API_DEV_METADATA | API_DEV_LOG_LEVEL | API_DEV_GATEWAY_CONFIG,
                                &dev.extra_json) < 0) {
        api_g_oom(resp);
        goto out;
    }
    w.creds = in.n_creds > 0;
    if (api_g_in_transaction(env, resp, insert_rows, &w) < 0)
        goto out;
    log_info("admin: created device %s/devices/%s (numId %llu)", t.name, dev.id,
             (unsigned long long)dev.num_id);
    /* Read back so the reply shows what the store holds. */
    rc = db_device_get_by_id(env->db, t.reg.rowid, dev.id, &stored);
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "device read");
    else
        reply_device(env, t.name, &stored, API_DEV_ALL, resp);
out:
    db_device_clear(&stored);
    api_device_in_clear(&in);
    db_device_clear(&dev);
    api_g_target_clear(&t);
    return 0;
}

/* [PROTO] id and numId must be empty; a client echoing the device's own
 * values back is tolerated. */
static int check_identity(const struct api_device_in *in, const struct db_device *dev,
                          struct api_response *resp)
{
    uint64_t n;

    if (in->id[0] && strcmp(in->id, dev->id) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "id: must be empty or match the device.");
        return -EINVAL;
    }
    if (in->num_id[0] &&
        (api_parse_u64(in->num_id, &n) < 0 || (n != 0 && n != dev->num_id))) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "numId: must be empty or match the device.");
        return -EINVAL;
    }
    return 0;
}

int api_g_device_patch(const struct api_env *env, const struct api_g_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    /* [PROTO] credentials, blocked, metadata; [REC] logLevel and
     * gatewayConfig.gatewayAuthMethod too. */
    const unsigned mutable_bits = API_DEV_BLOCKED | API_DEV_CREDENTIALS | API_DEV_METADATA |
                                  API_DEV_LOG_LEVEL | API_DEV_GATEWAY_AUTH_METHOD;
    struct api_device_in in;
    struct api_g_target t;
    struct device_write w = { .dev = &t.dev, .in = &in };
    struct api_err err;
    char *extra = NULL;
    bool was_blocked;
    unsigned mask;
    int rc;

    memset(&in, 0, sizeof(in));
    if (api_g_update_mask_arg(req, api_google_device_mask, mutable_bits, "blocked,credentials",
                              "blocked, credentials, metadata, log_level and "
                              "gateway_config.gateway_auth_method",
                              &mask, resp) < 0)
        return 0;
    if (api_g_resolve(env, rt, true, &t, resp) < 0)
        goto out;
    rc = api_google_device_parse(req->body, req->body_len, false, env->now_us, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    if (check_identity(&in, &t.dev, resp) < 0)
        goto out;
    if (api_google_device_extra(t.dev.extra_json, &in, mask, &extra) < 0) {
        api_g_oom(resp);
        goto out;
    }
    was_blocked = t.dev.blocked;
    if (mask & API_DEV_BLOCKED)
        t.dev.blocked = in.blocked;
    free(t.dev.extra_json);
    t.dev.extra_json = extra;
    extra = NULL;
    w.creds = mask & API_DEV_CREDENTIALS;
    if (api_g_in_transaction(env, resp, update_rows, &w) < 0)
        goto out;
    log_info("admin: updated device %s/devices/%s", t.name, t.dev.id);
    /* Live sessions recheck only when what admits them changed. */
    if (w.creds || ((mask & API_DEV_BLOCKED) && t.dev.blocked != was_blocked))
        api_g_notify(env, WEBUI_DEVICE_CHANGED, t.dev.rowid);
    reply_device(env, t.name, &t.dev, API_DEV_ALL, resp);
out:
    free(extra);
    api_device_in_clear(&in);
    api_g_target_clear(&t);
    return 0;
}

int api_g_device_delete(const struct api_env *env, const struct api_g_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    struct api_g_target t;
    int rc;

    (void)req;
    if (api_g_resolve(env, rt, true, &t, resp) < 0)
        goto out;
    /* The store removes credentials, configs and states with the row. */
    rc = db_device_delete(env->db, t.dev.rowid);
    if (rc == -ENOENT) {
        api_g_device_not_found(resp, t.name, rt->device);
    } else if (rc < 0) {
        api_g_db_failure(env, resp, rc, "device delete");
    } else {
        log_info("admin: deleted device %s/devices/%s", t.name, t.dev.id);
        api_g_notify(env, WEBUI_DEVICE_DELETED, t.dev.rowid);
        api_g_reply_empty(resp);
    }
out:
    api_g_target_clear(&t);
    return 0;
}

/* ---- config and state history ---- */

static int append_or_fail(json_t *arr, json_t *j, int *err)
{
    if (!j || json_array_append_new(arr, j) < 0) {
        *err = -ENOMEM;
        return 1;
    }
    return 0;
}

struct history {
    json_t *arr;
    int err;
};

static int config_cb(const struct db_config *c, void *ud)
{
    struct history *h = ud;

    return append_or_fail(h->arr, api_google_config_json(c), &h->err);
}

static int state_cb(const struct db_state *st, void *ud)
{
    struct history *h = ud;

    return append_or_fail(h->arr, api_google_state_json(st), &h->err);
}

/* ListDeviceConfigVersions / ListDeviceStates: newest first; 0 means all
 * kept (at most DB_CONFIG_VERSIONS_KEPT) [PROTO]. */
int api_g_device_history(const struct api_env *env, const struct api_g_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    bool configs = strcmp(rt->sub, "configVersions") == 0;
    const char *num_name = configs ? "numVersions" : "numStates";
    const char *num = api_request_param(req, num_name);
    struct history h = { 0 };
    struct api_g_target t;
    uint64_t n = 0;
    int rc;

    if (num && *num && api_parse_u64(num, &n) < 0)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "%s: expected a non-negative integer.", num_name);
    if (n > DB_CONFIG_VERSIONS_KEPT)
        n = DB_CONFIG_VERSIONS_KEPT;
    if (api_g_resolve(env, rt, true, &t, resp) < 0)
        goto out;
    h.arr = json_array();
    if (!h.arr) {
        api_g_oom(resp);
        goto out;
    }
    rc = configs ? db_config_list(env->db, t.dev.rowid, (int)n, config_cb, &h)
                 : db_state_list(env->db, t.dev.rowid, (int)n, state_cb, &h);
    if (rc >= 0 && h.err < 0)
        rc = h.err;
    if (rc < 0)
        api_g_db_failure(env, resp, rc, configs ? "config list" : "state list");
    else
        api_g_reply_list(resp, configs ? "deviceConfigs" : "deviceStates", h.arr, false, 0);
out:
    json_decref(h.arr);
    api_g_target_clear(&t);
    return 0;
}
