/* Google's ListDevices: a page of a registry's devices in rowid order,
 * optionally only the ones named by deviceIds / deviceNumIds, and only
 * gateways or non-gateways (gatewayListOptions.gatewayType), or only the
 * devices bound to a gateway / the gateways a device is bound to
 * (gatewayListOptions.associationsGatewayId / associationsDeviceId). */
#include "webui/google_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ListDevices filters: Google allowed 10,000 of each; the request line
 * (lws header space) is the real bound here. */
#define FILTER_MAX 10000

/* Devices copied out of the store callbacks, so they can be rendered with
 * further store reads afterwards. */
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

/* Takes d unless the type filter skips it; one row past the limit only
 * says that a next page exists. */
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

enum filter { NO_FILTER, BY_ID, BY_NUM_ID };

/* Both spellings occur in client code. */
static enum filter filter_of(const char *param)
{
    if (strcmp(param, "deviceIds") == 0 || strcmp(param, "device_ids") == 0)
        return BY_ID;
    if (strcmp(param, "deviceNumIds") == 0 || strcmp(param, "device_num_ids") == 0)
        return BY_NUM_ID;
    return NO_FILTER;
}

static bool has_filter(const struct api_request *req)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (filter_of(req->params[i].name) != NO_FILTER)
            return true;
    return false;
}

/* Adds the device one names to all, when there is one. */
static int lookup_one(const struct api_env *env, const struct db_registry *reg, enum filter f,
                      const char *one, struct dev_page *all, struct api_response *resp)
{
    struct db_device d;
    uint64_t num;
    int rc;

    memset(&d, 0, sizeof(d));
    if (f == BY_NUM_ID) {
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
        api_g_db_failure(env, resp, rc, "device lookup");
        return rc;
    }
    return 0;
}

/* deviceIds / deviceNumIds: repeated arguments, each possibly a
 * comma-separated list. */
static int collect_filtered(const struct api_env *env, const struct api_request *req,
                            const struct db_registry *reg, struct dev_page *all,
                            struct api_response *resp)
{
    size_t seen = 0;

    for (size_t i = 0; i < req->n_params; i++) {
        enum filter f = filter_of(req->params[i].name);
        const char *p = req->params[i].value;

        if (f == NO_FILTER)
            continue;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char one[DB_ID_MAX];

            if (len > 0 && len < sizeof(one)) {
                memcpy(one, p, len);
                one[len] = '\0';
                if (++seen > FILTER_MAX) {
                    api_google_error(resp, API_G_INVALID_ARGUMENT,
                                     "At most %d device ids can be listed.", FILTER_MAX);
                    return -EINVAL;
                }
                if (lookup_one(env, reg, f, one, all, resp) < 0)
                    return -EINVAL;
            }
            if (!end)
                break;
            p = end + 1;
        }
    }
    return 0;
}

/* The page of the devices the filters name, after rowid `after`. Returns
 * >= 0, or < 0 with resp filled. */
static int page_from_filter(const struct api_env *env, const struct api_request *req,
                            const struct db_registry *reg, int64_t after, struct dev_page *pg,
                            struct api_response *resp)
{
    struct dev_page all = { 0 };
    int rc = collect_filtered(env, req, reg, &all, resp);

    if (rc == 0) {
        qsort(all.items, all.n, sizeof(*all.items), cmp_rowid);
        for (size_t i = 0; i < all.n; i++) {
            bool dup = i > 0 && all.items[i].rowid == all.items[i - 1].rowid;
            if (all.items[i].rowid <= after || dup)
                continue;
            if (dev_page_cb(&all.items[i], pg))
                break;
        }
        if (pg->err < 0)
            api_g_db_failure(env, resp, pg->err, "device list");
        rc = pg->err;
    }
    dev_page_free(&all);
    return rc;
}

/* The page of the registry's devices after rowid `after`. A type filter
 * may skip rows: keep reading until the page is full or the registry is
 * exhausted. Returns >= 0, or < 0 with resp filled. */
static int page_from_store(const struct api_env *env, const struct db_registry *reg,
                           int64_t after, int limit, struct dev_page *pg,
                           struct api_response *resp)
{
    int rc;

    pg->last_rowid = after;
    for (;;) {
        int64_t before = pg->last_rowid;
        rc = db_device_list(env->db, reg->rowid, pg->last_rowid, limit + 1, dev_page_cb, pg);
        if (rc >= 0 && pg->err < 0)
            rc = pg->err;
        if (rc < 0 || pg->more || !pg->gateway_type || pg->last_rowid == before)
            break;
    }
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "device list");
    return rc;
}

/* ---- gateway associations ---- */

struct assoc_page {
    const struct api_env *env;
    struct dev_page *pg;
    int err;
};

static int assoc_cb(int64_t rowid, void *ud)
{
    struct assoc_page *a = ud;
    struct db_device d;
    int rc, stop;

    memset(&d, 0, sizeof(d));
    rc = db_device_get_by_rowid(a->env->db, rowid, &d);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        a->err = rc;
        return 1;
    }
    stop = dev_page_cb(&d, a->pg);
    db_device_clear(&d);
    return stop;
}

/* gatewayListOptions is a oneof [PROTO]: at most one of its fields. */
static const char *list_option(const struct api_request *req, const char *camel,
                               const char *snake)
{
    const char *v = api_g_param(req, camel, snake);

    return v && *v ? v : NULL;
}

/* The page of the devices bound to gateway `ref` (of_gateway) or of the
 * gateways device `ref` is bound to, after rowid `after`. Returns >= 0, or
 * < 0 with resp filled. */
static int page_from_bindings(const struct api_env *env, const struct api_g_target *t,
                              const char *ref, bool of_gateway, int64_t after, int limit,
                              struct dev_page *pg, struct api_response *resp)
{
    struct assoc_page a = { .env = env, .pg = pg };
    struct db_device d;
    int rc;

    memset(&d, 0, sizeof(d));
    if (api_g_lookup_device(env, t->name, t->reg.rowid, ref, &d, resp) < 0)
        return -ENOENT;
    pg->last_rowid = after;
    rc = db_binding_list(env->db, d.rowid, of_gateway, after, limit + 1, assoc_cb, &a);
    db_device_clear(&d);
    if (rc >= 0 && a.err < 0)
        rc = a.err;
    if (rc >= 0 && pg->err < 0)
        rc = pg->err;
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "binding list");
    return rc;
}

/* gatewayListOptions.gatewayType: the enum name or number, like the body
 * fields; *ret NULL for no filter. */
static int gateway_type_arg(const struct api_request *req, const char **ret,
                            struct api_response *resp)
{
    const char *gw = list_option(req, "gatewayListOptions.gatewayType",
                                 "gateway_list_options.gateway_type");

    *ret = NULL;
    if (!gw || strcmp(gw, "GATEWAY_TYPE_UNSPECIFIED") == 0 || strcmp(gw, "0") == 0)
        return 0;
    if (strcmp(gw, "GATEWAY") == 0 || strcmp(gw, "1") == 0)
        *ret = "GATEWAY";
    else if (strcmp(gw, "NON_GATEWAY") == 0 || strcmp(gw, "2") == 0)
        *ret = "NON_GATEWAY";
    else {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "gatewayListOptions.gatewayType: expected GATEWAY or NON_GATEWAY.");
        return -EINVAL;
    }
    return 0;
}

static void reply_page(const struct api_env *env, const char *reg_name,
                       const struct dev_page *pg, unsigned fields, int64_t after,
                       struct api_response *resp)
{
    json_t *arr = json_array();
    int rc;

    if (!arr) {
        api_g_oom(resp);
        return;
    }
    for (size_t i = 0; i < pg->n; i++) {
        json_t *d = NULL;
        rc = api_g_render_device(env, reg_name, &pg->items[i], fields, &d);
        if (rc < 0) {
            api_g_db_failure(env, resp, rc, "device read");
            goto out;
        }
        if (json_array_append_new(arr, d) < 0) {
            api_g_oom(resp);
            goto out;
        }
    }
    api_g_reply_list(resp, "devices", arr, pg->more, pg->n ? pg->items[pg->n - 1].rowid : after);
out:
    json_decref(arr);
}

int api_g_devices_list(const struct api_env *env, const struct api_g_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    const char *of_gw = list_option(req, "gatewayListOptions.associationsGatewayId",
                                    "gateway_list_options.associations_gateway_id");
    const char *of_dev = list_option(req, "gatewayListOptions.associationsDeviceId",
                                     "gateway_list_options.associations_device_id");
    struct dev_page pg = { 0 };
    struct api_g_target t;
    unsigned fields;
    int64_t after;
    int limit, rc;

    if (api_g_field_mask_arg(req, API_DEV_ID | API_DEV_NAME | API_DEV_NUM_ID, &fields, resp) < 0 ||
        api_g_page_args(req, &limit, &after, resp) < 0 ||
        gateway_type_arg(req, &pg.gateway_type, resp) < 0)
        return 0;
    if ((pg.gateway_type != NULL) + (of_gw != NULL) + (of_dev != NULL) > 1)
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "gatewayListOptions: set at most one of gatewayType, "
                                "associationsGatewayId and associationsDeviceId.");
    if ((of_gw || of_dev) && has_filter(req))
        return api_google_error(resp, API_G_INVALID_ARGUMENT,
                                "gatewayListOptions.associations* cannot be combined with "
                                "deviceIds or deviceNumIds.");
    if (api_g_resolve(env, rt, false, &t, resp) < 0)
        goto out;
    pg.limit = (size_t)limit;
    if (of_gw || of_dev)
        rc = page_from_bindings(env, &t, of_gw ? of_gw : of_dev, of_gw != NULL, after, limit,
                                &pg, resp);
    else
        rc = has_filter(req) ? page_from_filter(env, req, &t.reg, after, &pg, resp)
                             : page_from_store(env, &t.reg, after, limit, &pg, resp);
    if (rc >= 0)
        reply_page(env, t.name, &pg, fields, after, resp);
out:
    dev_page_free(&pg);
    api_g_target_clear(&t);
    return 0;
}
