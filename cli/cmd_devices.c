/* iotcorectl devices create|list|describe|update|delete --registry R: the
 * Device routes of the admin API (POST/GET/PATCH/DELETE
 * .../registries/R/devices[/D]), with gcloud's flags. */
#include "cli/cmd.h"

#include <errno.h>

#include "cli/api.h"
#include "cli/creds.h"

static const char *const log_levels[] = { "none", "error", "info", "debug", NULL };
static const char *const device_types[] = { "gateway", "non-gateway", NULL };
static const char *const auth_methods[] = {
    "association-only", "device-auth-token-only", "association-and-device-auth-token", NULL,
};

static int credentials(const struct ctl_args *a, json_t *body)
{
    json_t *arr = json_array();
    int rc = ctl_set(body, "credentials", arr);

    for (size_t i = 0; rc == 0 && i < a->opt[CTL_OPT_PUBLIC_KEY].n; i++) {
        json_t *cred = NULL;

        rc = ctl_cred_from_spec(a->opt[CTL_OPT_PUBLIC_KEY].v[i], &cred);
        if (rc == 0 && json_array_append_new(arr, cred) < 0)
            rc = ctl_oom();
    }
    return rc;
}

/* Sets in body what the flags say and names each field in m (the
 * updateMask of an update; unused by create). --device-type is immutable
 * [PROTO], so only create offers it. */
static int device_fields(const struct ctl_args *a, json_t *body, struct ctl_mask *m)
{
    const char *v;
    int blocked, rc;

    if (ctl_args_tristate(a, CTL_OPT_BLOCKED, CTL_OPT_NO_BLOCKED, &blocked) < 0)
        return -EINVAL;
    if (ctl_args_has(a, CTL_OPT_PUBLIC_KEY)) {
        if ((rc = credentials(a, body)) < 0)
            return rc;
        ctl_mask_add(m, "credentials");
    }
    if (blocked >= 0) {
        if ((rc = ctl_set(body, "blocked", json_boolean(blocked))) < 0)
            return rc;
        ctl_mask_add(m, "blocked");
    }
    v = ctl_args_get(a, CTL_OPT_METADATA);
    if (v) {
        json_t *md = NULL;

        if ((rc = ctl_metadata_from_spec(v, &md)) < 0 || (rc = ctl_set(body, "metadata", md)) < 0)
            return rc;
        ctl_mask_add(m, "metadata");
    }
    v = ctl_args_get(a, CTL_OPT_LOG_LEVEL);
    if (v) {
        json_t *lvl = ctl_enum_value("--log-level", v, log_levels);

        if (!lvl)
            return -EINVAL;
        if ((rc = ctl_set(body, "logLevel", lvl)) < 0)
            return rc;
        ctl_mask_add(m, "logLevel");
    }
    if (ctl_args_has(a, CTL_OPT_DEVICE_TYPE) || ctl_args_has(a, CTL_OPT_AUTH_METHOD)) {
        json_t *gw = json_object();

        if ((rc = ctl_set(body, "gatewayConfig", gw)) < 0)
            return rc;
        v = ctl_args_get(a, CTL_OPT_DEVICE_TYPE);
        if (v) {
            json_t *t = ctl_enum_value("--device-type", v, device_types);

            if (!t)
                return -EINVAL;
            if ((rc = ctl_set(gw, "gatewayType", t)) < 0)
                return rc;
        }
        v = ctl_args_get(a, CTL_OPT_AUTH_METHOD);
        if (v) {
            json_t *am = ctl_enum_value("--auth-method", v, auth_methods);

            if (!am)
                return -EINVAL;
            if ((rc = ctl_set(gw, "gatewayAuthMethod", am)) < 0)
                return rc;
            ctl_mask_add(m, "gatewayConfig.gatewayAuthMethod");
        }
    }
    return 0;
}

int ctl_devices_create(struct ctl *c, const struct ctl_args *a, const char *id)
{
    const char *reg = ctl_args_get(a, CTL_OPT_REGISTRY);
    struct ctl_mask unused = { 0 };
    struct ctl_url u;
    json_t *body = json_object(), *reply = NULL;
    int rc;

    if ((rc = ctl_set(body, "id", json_string(id))) < 0 ||
        (rc = device_fields(a, body, &unused)) < 0)
        goto out;
    ctl_url_device(&u, c, reg, NULL);
    rc = ctl_api_call(c, "POST", &u, body, &reply);
    if (rc == 0)
        rc = ctl_show(c, reply, "Created device [%s].", id);
out:
    json_decref(body);
    return rc;
}

int ctl_devices_list(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    static const struct ctl_col cols[] = {
        { "ID", "id", NULL, NULL },
        { "NUM_ID", "numId", NULL, NULL },
        /* proto3 JSON leaves out a false bool. */
        { "BLOCKED", "blocked", "False", NULL },
    };
    struct ctl_url u;
    json_t *items = NULL;
    int rc;

    ctl_url_device(&u, c, ctl_args_get(a, CTL_OPT_REGISTRY), NULL);
    /* Without a mask ListDevices returns only id, numId and name [REC]. */
    ctl_url_query(&u, "fieldMask", "blocked");
    if ((rc = ctl_add_page_size(a, &u)) < 0)
        return rc;
    rc = ctl_api_list(c, &u, "devices", &items);
    if (rc < 0)
        return rc;
    return ctl_show_list(c, items, cols, sizeof(cols) / sizeof(cols[0]));
}

int ctl_devices_describe(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_url u;

    ctl_url_device(&u, c, ctl_args_get(a, CTL_OPT_REGISTRY), id);
    return ctl_describe(c, &u);
}

int ctl_devices_update(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_mask m = { 0 };
    struct ctl_url u;
    json_t *body = json_object();
    int rc;

    if (!body)
        return ctl_oom();
    if ((rc = device_fields(a, body, &m)) < 0)
        goto out;
    if (m.len == 0) {
        ctl_error("devices update: nothing to update; give at least one of --[no-]blocked, "
                  "--metadata, --public-key, --log-level, --auth-method");
        rc = -EINVAL;
        goto out;
    }
    ctl_url_device(&u, c, ctl_args_get(a, CTL_OPT_REGISTRY), id);
    rc = ctl_patch(c, &u, m.s, body, "device", id);
out:
    json_decref(body);
    return rc;
}

int ctl_devices_delete(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_url u;
    json_t *reply = NULL;
    int rc;

    ctl_url_device(&u, c, ctl_args_get(a, CTL_OPT_REGISTRY), id);
    rc = ctl_api_call(c, "DELETE", &u, NULL, &reply);
    if (rc < 0)
        return rc;
    return ctl_show(c, reply, "Deleted device [%s].", id);
}
