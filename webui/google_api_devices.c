/* Google DeviceManager routes on one device: create (with the registry's
 * CA rule), get, patch (new credentials checked against the CAs), delete
 * (refused while bound to a gateway), and its config and state history;
 * and rendering a stored device with what a field mask asks of the store
 * (shared with the device list), and the insert the bulk import shares. */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/reg_gateway.h"
#include "registry/reg_x509.h"

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

int api_g_device_insert(const struct api_env *env, const struct db_registry *reg,
                        const struct reg_x509_cas *cas, const struct api_device_in *in,
                        struct db_device *ret, struct api_err *err)
{
    struct db_device dev;
    int rc;

    if (in->name[0]) {
        api_err_set(err, API_G_INVALID_ARGUMENT,
                    "name: must be empty when creating a device (it is output only).");
        return -EINVAL;
    }
    rc = api_g_check_device_cas(cas, in, NULL, 0, env->now_us, err);
    if (rc == -ENOMEM)
        api_err_set(err, API_G_INTERNAL, "Out of memory.");
    if (rc < 0)
        return rc;
    memset(&dev, 0, sizeof(dev));
    dev.registry_rowid = reg->rowid;
    snprintf(dev.id, sizeof(dev.id), "%s", in->id);
    dev.blocked = in->blocked;
    dev.created_us = env->now_us;
    if (api_google_device_extra(NULL, in,
                                API_DEV_METADATA | API_DEV_LOG_LEVEL | API_DEV_GATEWAY_CONFIG,
                                &dev.extra_json) < 0) {
        api_err_set(err, API_G_INTERNAL, "Out of memory.");
        return -ENOMEM;
    }
    /* Version 1 holds the config the device was created with [PROTO]. */
    rc = db_device_insert_config(env->db, &dev, in->config_data, in->config_len);
    if (rc == -EEXIST)
        api_err_set(err, API_G_ALREADY_EXISTS,
                    "Resource already exists in the project (resource=%s).", in->id);
    else if (rc < 0)
        api_g_db_failure_err(env, rc, "device insert", err);
    if (rc >= 0 && in->n_creds > 0) {
        rc = db_credential_replace(env->db, dev.rowid, in->creds, in->n_creds);
        if (rc < 0)
            api_g_db_failure_err(env, rc, "credential insert", err);
    }
    if (rc < 0) {
        db_device_clear(&dev);
        return rc;
    }
    *ret = dev;
    return 0;
}

struct device_create {
    const struct db_registry *reg;
    const struct reg_x509_cas *cas;
    const struct api_device_in *in;
    struct db_device dev;           /* the stored row */
};

/* Device, credentials and first config land together or not at all. */
static int insert_rows(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct device_create *c = ctx;
    struct api_err err;
    int rc = api_g_device_insert(env, c->reg, c->cas, c->in, &c->dev, &err);

    if (rc < 0)
        api_google_error_from(resp, &err);
    return rc;
}

/* The registry's CA set; a stored certificate that no longer parses is a
 * store problem (500), not the client's. */
static int load_cas(const struct api_env *env, const struct api_g_target *t,
                    struct reg_x509_cas **ret, struct api_response *resp)
{
    int rc = api_g_registry_cas(&t->reg, ret);

    if (rc == -ENOMEM)
        api_g_oom(resp);
    else if (rc < 0) {
        log_err("admin: registry %s holds a CA certificate that does not parse", t->name);
        api_google_error(resp, API_G_INTERNAL, "Internal error.");
    }
    (void)env;
    return rc;
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
    struct db_device stored;
    struct reg_x509_cas *cas = NULL;
    struct device_create c = { .in = &in };
    struct api_err err;
    int rc;

    memset(&stored, 0, sizeof(stored));
    memset(&in, 0, sizeof(in));
    if (api_g_resolve(env, rt, false, &t, resp) < 0)
        goto out;
    rc = api_google_device_parse(req->body, req->body_len, true, env->now_us, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    if (load_cas(env, &t, &cas, resp) < 0)
        goto out;
    c.reg = &t.reg;
    c.cas = cas;
    if (api_g_in_transaction(env, resp, insert_rows, &c) < 0)
        goto out;
    log_info("admin: created device %s/devices/%s (numId %llu)", t.name, c.dev.id,
             (unsigned long long)c.dev.num_id);
    /* Read back so the reply shows what the store holds. */
    rc = db_device_get_by_id(env->db, t.reg.rowid, c.dev.id, &stored);
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "device read");
    else
        reply_device(env, t.name, &stored, API_DEV_ALL, resp);
out:
    reg_x509_cas_free(cas);
    db_device_clear(&stored);
    api_device_in_clear(&in);
    db_device_clear(&c.dev);
    api_g_target_clear(&t);
    return 0;
}

/* New credentials of a device in a registry with CAs must be vouched for
 * by one of them; the ones the device already has are not checked again. */
static int check_new_creds(const struct api_env *env, const struct api_g_target *t,
                           const struct api_device_in *in, struct api_response *resp)
{
    struct db_credential old[DB_MAX_CREDENTIALS];
    struct reg_x509_cas *cas = NULL;
    struct api_err err;
    size_t n_old = 0;
    int rc = load_cas(env, t, &cas, resp);

    if (rc < 0 || !cas)
        return rc;
    memset(old, 0, sizeof(old));
    rc = db_credential_list(env->db, t->dev.rowid, old, &n_old);
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "credential list");
    } else {
        rc = api_g_check_device_cas(cas, in, old, n_old, env->now_us, &err);
        if (rc == -ENOMEM)
            api_g_oom(resp);
        else if (rc < 0)
            api_google_error_from(resp, &err);
    }
    for (size_t i = 0; i < n_old; i++)
        db_credential_clear(&old[i]);
    reg_x509_cas_free(cas);
    return rc;
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
    if ((mask & API_DEV_CREDENTIALS) && check_new_creds(env, &t, &in, resp) < 0)
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

/* [FIELD udmi#378] Google refused to delete a device still bound to a
 * gateway, or a gateway with devices bound: unbind first. */
static int refuse_if_bound(const struct api_env *env, const struct api_g_target *t,
                           struct api_response *resp)
{
    struct reg_gateway_cfg gw;
    int64_t n = 0;
    int rc = db_binding_count(env->db, t->dev.rowid, &n);

    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "binding count");
        return rc;
    }
    if (n == 0)
        return 0;
    reg_gateway_cfg_parse(t->dev.extra_json, &gw);
    if (gw.is_gateway)
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The gateway '%s' has %lld device(s) bound to it; unbind them before "
                         "deleting it.", t->dev.id, (long long)n);
    else
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The device '%s' is bound to %lld gateway(s); unbind it before "
                         "deleting it.", t->dev.id, (long long)n);
    return -EBUSY;
}

int api_g_device_delete(const struct api_env *env, const struct api_g_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    struct api_g_target t;
    int rc;

    (void)req;
    if (api_g_resolve(env, rt, true, &t, resp) < 0 || refuse_if_bound(env, &t, resp) < 0)
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
