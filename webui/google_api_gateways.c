/* Google's gateway bindings: bindDeviceToGateway and
 * unbindDeviceFromGateway on a registry. A binding lets a gateway attach
 * the device over MQTT (ASSOCIATION_ONLY and
 * ASSOCIATION_AND_DEVICE_AUTH_TOKEN); both must be in the registry the path
 * names, the gateway must be a GATEWAY and the device must not be one.
 * Binding twice is not an error (200 {} again): the request states the
 * wanted end state, so a provisioning script can be re-run. Unbinding a
 * pair that is not bound is 404. */
#include "webui/google_api.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "registry/reg_gateway.h"

/* Google's quotas (reference 1.7): devices bound to one gateway, gateways
 * bound to one device. */
#define BOUND_TO_GATEWAY_MAX 10000
#define GATEWAYS_OF_DEVICE_MAX 10

/* The request, its registry and the two devices it names. */
struct binding_req {
    struct api_g_target t;
    struct api_bind_in in;
    struct db_device gateway, device;
};

static void binding_req_clear(struct binding_req *b)
{
    db_device_clear(&b->gateway);
    db_device_clear(&b->device);
    api_g_target_clear(&b->t);
}

static bool is_gateway(const struct db_device *d)
{
    struct reg_gateway_cfg gw;

    reg_gateway_cfg_parse(d->extra_json, &gw);
    return gw.is_gateway;
}

/* Parses and resolves; fills resp and returns < 0 on any failure. */
static int binding_load(const struct api_env *env, const struct api_g_route *rt,
                        const struct api_request *req, struct binding_req *b,
                        struct api_response *resp)
{
    struct api_err err;
    int rc;

    memset(b, 0, sizeof(*b));
    if (api_g_resolve(env, rt, false, &b->t, resp) < 0)
        return -EINVAL;
    rc = api_google_bind_parse(req->body, req->body_len, &b->in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        return rc;
    }
    /* Both in this registry: a lookup scoped to it finds no other. */
    if (api_g_lookup_device(env, b->t.name, b->t.reg.rowid, b->in.gateway_id, &b->gateway,
                            resp) < 0 ||
        api_g_lookup_device(env, b->t.name, b->t.reg.rowid, b->in.device_id, &b->device,
                            resp) < 0)
        return -ENOENT;
    if (b->gateway.rowid == b->device.rowid) {
        api_google_error(resp, API_G_INVALID_ARGUMENT,
                         "gatewayId and deviceId name the same device '%s'.", b->device.id);
        return -EINVAL;
    }
    return 0;
}

/* The rules of a new binding: the types, then Google's quotas. */
static int check_bindable(const struct api_env *env, const struct binding_req *b,
                          struct api_response *resp)
{
    int64_t n = 0;
    int rc;

    if (!is_gateway(&b->gateway)) {
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The device '%s' is not a gateway (gatewayConfig.gatewayType is not "
                         "GATEWAY).", b->gateway.id);
        return -EINVAL;
    }
    if (is_gateway(&b->device)) {
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The device '%s' is a gateway; a gateway cannot be bound to another "
                         "gateway.", b->device.id);
        return -EINVAL;
    }
    /* gatewayType never changes after create, so a gateway's bindings are
     * its devices and a device's bindings are its gateways. */
    rc = db_binding_count(env->db, b->device.rowid, &n);
    if (rc >= 0 && n >= GATEWAYS_OF_DEVICE_MAX) {
        api_google_error(resp, API_G_RESOURCE_EXHAUSTED,
                         "The device '%s' is already bound to %d gateways, the maximum.",
                         b->device.id, GATEWAYS_OF_DEVICE_MAX);
        return -E2BIG;
    }
    if (rc >= 0)
        rc = db_binding_count(env->db, b->gateway.rowid, &n);
    if (rc >= 0 && n >= BOUND_TO_GATEWAY_MAX) {
        api_google_error(resp, API_G_RESOURCE_EXHAUSTED,
                         "The gateway '%s' already has %d bound devices, the maximum.",
                         b->gateway.id, BOUND_TO_GATEWAY_MAX);
        return -E2BIG;
    }
    if (rc < 0)
        api_g_db_failure(env, resp, rc, "binding count");
    return rc < 0 ? rc : 0;
}

int api_g_gateway_bind(const struct api_env *env, const struct api_g_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    struct binding_req b;
    int rc;

    if (binding_load(env, rt, req, &b, resp) < 0)
        goto out;
    rc = db_binding_exists(env->db, b.gateway.rowid, b.device.rowid);
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "binding lookup");
        goto out;
    }
    if (rc == 1) {
        api_g_reply_empty(resp);
        goto out;
    }
    if (check_bindable(env, &b, resp) < 0)
        goto out;
    rc = db_binding_add(env->db, b.gateway.rowid, b.device.rowid, env->now_us);
    if (rc < 0 && rc != -EEXIST) {
        api_g_db_failure(env, resp, rc, "binding insert");
        goto out;
    }
    log_info("admin: bound %s/devices/%s to gateway %s", b.t.name, b.device.id, b.gateway.id);
    api_g_reply_empty(resp);
out:
    binding_req_clear(&b);
    return 0;
}

int api_g_gateway_unbind(const struct api_env *env, const struct api_g_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    struct binding_req b;
    int rc;

    if (binding_load(env, rt, req, &b, resp) < 0)
        goto out;
    rc = db_binding_remove(env->db, b.gateway.rowid, b.device.rowid);
    if (rc == -ENOENT) {
        api_google_error(resp, API_G_NOT_FOUND,
                         "The device '%s' is not bound to the gateway '%s'.", b.device.id,
                         b.gateway.id);
        goto out;
    }
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "binding delete");
        goto out;
    }
    log_info("admin: unbound %s/devices/%s from gateway %s", b.t.name, b.device.id,
             b.gateway.id);
    /* A gateway session holding the device attached may need to let go. */
    api_g_notify(env, WEBUI_DEVICE_CHANGED, b.device.rowid);
    api_g_reply_empty(resp);
out:
    binding_req_clear(&b);
    return 0;
}
