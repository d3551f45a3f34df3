/* Google DeviceManager registry routes: list, create, get, patch and
 * delete DeviceRegistry resources under /v1/projects/P/locations/L/. */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Renders each registry as the store returns it; one row past the page
 * only says that a next page exists. */
struct reg_list {
    const struct api_g_route *rt;
    json_t *arr;                /* owned */
    size_t n, limit;
    bool more;
    int64_t last_rowid;         /* of the last row served */
    int err;
};

static int reg_list_cb(const struct db_registry *r, void *ud)
{
    struct reg_list *l = ud;
    char name[API_G_NAME_CAP];
    json_t *j;

    if (l->n == l->limit) {
        l->more = true;
        return 1;
    }
    l->n++;
    l->last_rowid = r->rowid;
    if (api_google_registry_name(l->rt->project, l->rt->location, r->id, name, sizeof(name)) < 0)
        return 0;
    j = api_google_registry_json(name, r);
    if (!j || json_array_append_new(l->arr, j) < 0) {
        l->err = -ENOMEM;
        return 1;
    }
    return 0;
}

int api_g_registries_list(const struct api_env *env, const struct api_g_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct reg_list l = { .rt = rt };
    int limit, rc;

    if (api_g_check_parent(rt, resp) < 0 || api_g_page_args(req, &limit, &l.last_rowid, resp) < 0)
        return 0;
    l.limit = (size_t)limit;
    l.arr = json_array();
    if (!l.arr)
        return api_g_oom(resp);
    rc = db_registry_list(env->db, rt->project, rt->location, l.last_rowid, limit + 1,
                          reg_list_cb, &l);
    if (rc >= 0 && l.err < 0)
        rc = l.err;
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "registry list");
    else
        api_g_reply_list(resp, "deviceRegistries", l.arr, l.more, l.last_rowid);
    json_decref(l.arr);
    return 0;
}

int api_g_registry_row(const struct api_g_route *rt, const struct api_registry_in *in,
                       int64_t now_us, struct db_registry *reg)
{
    snprintf(reg->project, sizeof(reg->project), "%s", rt->project);
    snprintf(reg->location, sizeof(reg->location), "%s", rt->location);
    snprintf(reg->id, sizeof(reg->id), "%s", in->id);
    reg->created_us = now_us;
    if (json_object_size(in->extra) == 0)
        return 0;
    reg->extra_json = json_dumps(in->extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return reg->extra_json ? 0 : -ENOMEM;
}

int api_g_registry_create(const struct api_env *env, const struct api_g_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct api_registry_in in;
    struct db_registry reg;
    struct api_err err;
    char name[API_G_NAME_CAP];
    int rc;

    memset(&reg, 0, sizeof(reg));
    if (api_g_check_parent(rt, resp) < 0)
        return 0;
    rc = api_google_registry_parse(req->body, req->body_len, true, env->now_us, &in, &err);
    if (rc < 0)
        return api_g_parse_failure(resp, rc, &err);
    if (api_g_registry_name(rt, in.id, name, resp) < 0)
        goto out;
    /* [PROTO] the name is output only; tolerate a client echoing it back. */
    if (in.name[0] && strcmp(in.name, name) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "name: must be empty when creating a registry.");
        goto out;
    }
    if (api_g_registry_row(rt, &in, env->now_us, &reg) < 0) {
        api_g_oom(resp);
        goto out;
    }
    rc = db_registry_insert(env->db, &reg);
    if (rc == -EEXIST) {
        api_g_already_exists(resp, in.id);
    } else if (rc < 0) {
        api_g_db_failure(env, resp, rc, "registry insert");
    } else {
        log_info("admin: created registry %s", name);
        api_g_reply_json_take(resp, api_google_registry_json(name, &reg));
    }
out:
    db_registry_clear(&reg);
    api_registry_in_clear(&in);
    return 0;
}

int api_g_registry_get(const struct api_env *env, const struct api_g_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    struct api_g_target t;

    (void)req;
    if (api_g_resolve(env, rt, false, &t, resp) == 0)
        api_g_reply_json_take(resp, api_google_registry_json(t.name, &t.reg));
    api_g_target_clear(&t);
    return 0;
}

int api_g_registry_delete(const struct api_env *env, const struct api_g_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct api_g_target t;
    int rc;

    (void)req;
    if (api_g_resolve(env, rt, false, &t, resp) < 0)
        goto out;
    rc = db_registry_delete(env->db, t.reg.rowid);
    if (rc == -ENOTEMPTY) {
        /* [FIELD] Google refused while devices remained; tools delete them first. */
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The registry is not empty: delete its devices before deleting "
                         "'%s'.", t.name);
    } else if (rc == -ENOENT) {
        api_g_registry_not_found(resp, t.name);
    } else if (rc < 0) {
        api_g_db_failure(env, resp, rc, "registry delete");
    } else {
        log_info("admin: deleted registry %s", t.name);
        api_g_notify(env, WEBUI_REGISTRY_CHANGED, t.reg.rowid);
        api_g_reply_empty(resp);
    }
out:
    api_g_target_clear(&t);
    return 0;
}

int api_g_registry_patch(const struct api_env *env, const struct api_g_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const unsigned mutable_bits = API_REG_EVENT_CONFIGS | API_REG_STATE_CONFIG |
                                  API_REG_MQTT_CONFIG | API_REG_HTTP_CONFIG | API_REG_LOG_LEVEL |
                                  API_REG_CREDENTIALS;
    struct api_registry_in in;
    struct api_g_target t;
    struct api_err err;
    char *text = NULL;
    unsigned mask;
    int rc;

    memset(&in, 0, sizeof(in));
    if (api_g_update_mask_arg(req, api_google_registry_mask, mutable_bits,
                              "mqttConfig,logLevel",
                              "event_notification_configs, state_notification_config, "
                              "mqtt_config, http_config, log_level and credentials",
                              &mask, resp) < 0)
        return 0;
    if (api_g_resolve(env, rt, false, &t, resp) < 0)
        goto out;
    rc = api_google_registry_parse(req->body, req->body_len, false, env->now_us, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    if (in.id[0] && strcmp(in.id, t.reg.id) != 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "id: must be empty or match the path.");
        goto out;
    }
    if (api_google_registry_extra(t.reg.extra_json, &in, mask, &text) < 0) {
        api_g_oom(resp);
        goto out;
    }
    rc = db_registry_update_extra(env->db, t.reg.rowid, text);
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "registry update");
        goto out;
    }
    free(t.reg.extra_json);
    t.reg.extra_json = text;
    text = NULL;
    log_info("admin: updated registry %s", t.name);
    api_g_notify(env, WEBUI_REGISTRY_CHANGED, t.reg.rowid);
    api_g_reply_json_take(resp, api_google_registry_json(t.name, &t.reg));
out:
    free(text);
    api_registry_in_clear(&in);
    api_g_target_clear(&t);
    return 0;
}
