/* iotcorectl gateways bind|unbind --gateway G --device D --registry R:
 * POST .../registries/R:bindDeviceToGateway and :unbindDeviceFromGateway
 * with {"gatewayId","deviceId"} (string ids or numIds, as Google took). */
#include "cli/cmd.h"

#include "cli/api.h"

static int binding(struct ctl *c, const struct ctl_args *a, const char *verb, const char *done,
                   const char *prep)
{
    const char *gw = ctl_args_get(a, CTL_OPT_GATEWAY), *dev = ctl_args_get(a, CTL_OPT_DEVICE);
    struct ctl_url u;
    json_t *body, *reply = NULL;
    int rc;

    body = json_pack("{s:s,s:s}", "gatewayId", gw, "deviceId", dev);
    if (!body)
        return ctl_oom();
    ctl_url_registry(&u, c, ctl_args_get(a, CTL_OPT_REGISTRY));
    ctl_url_lit(&u, verb);
    rc = ctl_api_call(c, "POST", &u, body, &reply);
    json_decref(body);
    if (rc < 0)
        return rc;
    return ctl_show(c, reply, "%s device [%s] %s gateway [%s].", done, dev, prep, gw);
}

int ctl_gateways_bind(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    return binding(c, a, ":bindDeviceToGateway", "Bound", "to");
}

int ctl_gateways_unbind(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    return binding(c, a, ":unbindDeviceFromGateway", "Unbound", "from");
}
