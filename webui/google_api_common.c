/* What every Google route handler shares: the error replies worded as
 * Google's, resolving the registry and device a path names, paging, and
 * running several writes as one store transaction. */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "registry/reg_names.h"

/* The later quota table caps list pages at 500 (reference section 3). */
#define PAGE_MAX 500

/* ---- errors and replies ---- */

int api_g_oom(struct api_response *resp)
{
    return api_google_error(resp, API_G_INTERNAL, "Out of memory.");
}

void api_g_db_failure(const struct api_env *env, struct api_response *resp, int rc,
                      const char *what)
{
    if (rc == -ENOMEM) {
        api_g_oom(resp);
        return;
    }
    log_err("admin: %s failed: %s (%s)", what, strerror(rc < 0 ? -rc : rc),
            db_last_error(env->db));
    api_google_error(resp, API_G_INTERNAL, "Internal error.");
}

void api_g_db_failure_err(const struct api_env *env, int rc, const char *what,
                          struct api_err *err)
{
    if (rc == -ENOMEM) {
        api_err_set(err, API_G_INTERNAL, "Out of memory.");
        return;
    }
    log_err("admin: %s failed: %s (%s)", what, strerror(rc < 0 ? -rc : rc),
            db_last_error(env->db));
    api_err_set(err, API_G_INTERNAL, "Internal error.");
}

int api_g_parse_failure(struct api_response *resp, int rc, const struct api_err *err)
{
    return rc == -EINVAL ? api_google_error_from(resp, err) : api_g_oom(resp);
}

int api_g_already_exists(struct api_response *resp, const char *id)
{
    return api_google_error(resp, API_G_ALREADY_EXISTS,
                            "Resource already exists in the project (resource=%s).", id);
}

int api_g_registry_not_found(struct api_response *resp, const char *reg_name)
{
    return api_google_error(resp, API_G_NOT_FOUND,
                            "The registry with the name '%s' doesn't exist.", reg_name);
}

int api_g_device_not_found(struct api_response *resp, const char *reg_name, const char *device)
{
    return api_google_error(resp, API_G_NOT_FOUND,
                            "A device with the name '%s/devices/%s' doesn't exist.", reg_name,
                            device);
}

void api_g_notify(const struct api_env *env, enum webui_change what, int64_t rowid)
{
    if (env->on_change)
        env->on_change(env->ud, what, rowid);
}

int api_g_reply_json_take(struct api_response *resp, json_t *j)
{
    int rc;

    if (!j)
        return api_g_oom(resp);
    rc = api_response_json(resp, 200, j);
    json_decref(j);
    return rc < 0 ? api_g_oom(resp) : 0;
}

int api_g_reply_empty(struct api_response *resp)
{
    /* Methods returning google.protobuf.Empty must answer {}: an empty 200
     * body makes Google's client libraries throw (reference 3.x). */
    return api_response_text(resp, 200, "application/json", "{}\n", 3) < 0 ? api_g_oom(resp)
                                                                            : 0;
}

/* ---- resolving the route ---- */

int api_g_check_parent(const struct api_g_route *rt, struct api_response *resp)
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

int api_g_registry_name(const struct api_g_route *rt, const char *id, char *name,
                        struct api_response *resp)
{
    if (api_google_registry_name(rt->project, rt->location, id, name, API_G_NAME_CAP) == 0)
        return 0;
    api_google_error(resp, API_G_INVALID_ARGUMENT, "The resource name is too long.");
    return -EINVAL;
}

/* A device is named by its string id or its numId [PROTO]; ids start with
 * a letter, so all digits means a numId. */
int api_g_lookup_device(const struct api_env *env, const char *reg_name, int64_t reg_rowid,
                        const char *ref, struct db_device *ret, struct api_response *resp)
{
    uint64_t num;
    int rc;

    if (api_parse_u64(ref, &num) == 0)
        rc = db_device_get_by_num_id(env->db, reg_rowid, num, ret);
    else
        rc = db_device_get_by_id(env->db, reg_rowid, ref, ret);
    if (rc == -ENOENT)
        api_g_device_not_found(resp, reg_name, ref);
    else if (rc < 0)
        api_g_db_failure(env, resp, rc, "device lookup");
    return rc;
}

int api_g_resolve(const struct api_env *env, const struct api_g_route *rt, bool device,
                  struct api_g_target *t, struct api_response *resp)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (api_g_check_parent(rt, resp) < 0 ||
        api_g_registry_name(rt, rt->registry, t->name, resp) < 0)
        return -EINVAL;
    rc = db_registry_get(env->db, rt->project, rt->location, rt->registry, &t->reg);
    if (rc == -ENOENT)
        api_g_registry_not_found(resp, t->name);
    else if (rc < 0)
        api_g_db_failure(env, resp, rc, "registry lookup");
    if (rc < 0)
        return rc;
    return device ? api_g_lookup_device(env, t->name, t->reg.rowid, rt->device, &t->dev, resp)
                  : 0;
}

void api_g_target_clear(struct api_g_target *t)
{
    db_device_clear(&t->dev);
    db_registry_clear(&t->reg);
}

/* ---- query arguments and lists ---- */

const char *api_g_param(const struct api_request *req, const char *camel, const char *snake)
{
    const char *v = api_request_param(req, camel);

    return v ? v : api_request_param(req, snake);
}

int api_g_update_mask_arg(const struct api_request *req,
                          int (*parse)(const char *mask, unsigned *ret, struct api_err *err),
                          unsigned mutable_bits, const char *example, const char *only,
                          unsigned *ret, struct api_response *resp)
{
    const char *mask = api_g_param(req, "updateMask", "update_mask");
    struct api_err err;

    if (!mask || !*mask) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "updateMask: required, e.g. updateMask=%s.", example);
        return -EINVAL;
    }
    if (parse(mask, ret, &err) < 0) {
        api_google_error_from(resp, &err);
        return -EINVAL;
    }
    if (*ret & ~mutable_bits) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "updateMask: only %s can be updated.",
                         only);
        return -EINVAL;
    }
    return 0;
}

int api_g_page_args(const struct api_request *req, int *ret_limit, int64_t *ret_after,
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
    /* The token is the last rowid served, as an opaque decimal string. */
    if (token && *token) {
        if (api_parse_u64(token, &v) < 0 || v > INT64_MAX) {
            api_google_error(resp, API_G_INVALID_ARGUMENT, "pageToken: invalid page token.");
            return -EINVAL;
        }
        *ret_after = (int64_t)v;
    }
    return 0;
}

int api_g_reply_list(struct api_response *resp, const char *key, json_t *arr, bool more,
                     int64_t last_rowid)
{
    json_t *out = json_object();
    char tok[24];

    if (!out || (json_array_size(arr) > 0 && json_object_set(out, key, arr) < 0))
        goto oom;
    if (more) {
        snprintf(tok, sizeof(tok), "%lld", (long long)last_rowid);
        if (json_object_set_new(out, "nextPageToken", json_string(tok)) < 0)
            goto oom;
    }
    return api_g_reply_json_take(resp, out);
oom:
    json_decref(out);
    return api_g_oom(resp);
}

/* ---- writes ---- */

int api_g_in_transaction(const struct api_env *env, struct api_response *resp,
                         int (*fn)(const struct api_env *env, void *ctx,
                                   struct api_response *resp),
                         void *ctx)
{
    int rc = db_begin(env->db);

    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "begin");
        return rc;
    }
    rc = fn(env, ctx, resp);
    if (rc >= 0) {
        rc = db_commit(env->db);
        if (rc >= 0)
            return 0;
        api_g_db_failure(env, resp, rc, "commit");
    }
    if (db_rollback(env->db) < 0)
        log_err("admin: rollback failed: %s", db_last_error(env->db));
    return rc;
}
