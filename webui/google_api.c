/* Google Cloud IoT v1 admin REST routes (DeviceManager) over the store:
 * splits a /v1/projects/P/locations/L/... path into a route and hands it
 * to the handler for its resource and method (google_api_registries.c,
 * google_api_devices.c, google_api_device_list.c), or for its custom
 * method ":verb" (google_api_device_verbs.c, google_api_gateways.c,
 * google_api_import.c). Handlers parse and
 * validate (google_model_*.c), touch the store in one transaction when
 * they write several rows, answer in Google's JSON shapes and error
 * envelope, and report committed changes that affect live sessions through
 * env->on_change. */
#include "webui/google_api.h"

#include <errno.h>
#include <string.h>

#define MAX_SEGMENTS 12

/* Custom methods of the real API that iotcored does not serve (IAM is
 * out of scope): answered 501 rather than 404 so a client sees why. */
static const char *const unimplemented_verbs[] = {
    "setIamPolicy", "getIamPolicy", "testIamPermissions",
};

/* Custom methods, all POST. importDevices is iotcored's own (the bulk
 * import of registries and devices, one transaction). */
static const struct {
    enum api_g_route_kind kind;
    const char *verb;
    api_g_handler *fn;
} verbs[] = {
    { API_G_R_DEVICE, "modifyCloudToDeviceConfig", api_g_device_modify_config },
    { API_G_R_DEVICE, "sendCommandToDevice", api_g_device_send_command },
    { API_G_R_REGISTRY, "bindDeviceToGateway", api_g_gateway_bind },
    { API_G_R_REGISTRY, "unbindDeviceFromGateway", api_g_gateway_unbind },
    { API_G_R_LOCATION, "importDevices", api_g_import },
};

static const struct {
    enum api_g_route_kind kind;
    enum api_method method;
    api_g_handler *fn;
} handlers[] = {
    { API_G_R_REGISTRIES, API_GET, api_g_registries_list },
    { API_G_R_REGISTRIES, API_POST, api_g_registry_create },
    { API_G_R_REGISTRY, API_GET, api_g_registry_get },
    { API_G_R_REGISTRY, API_PATCH, api_g_registry_patch },
    { API_G_R_REGISTRY, API_DELETE, api_g_registry_delete },
    { API_G_R_DEVICES, API_GET, api_g_devices_list },
    { API_G_R_DEVICES, API_POST, api_g_device_create },
    { API_G_R_DEVICE, API_GET, api_g_device_get },
    { API_G_R_DEVICE, API_PATCH, api_g_device_patch },
    { API_G_R_DEVICE, API_DELETE, api_g_device_delete },
    { API_G_R_DEVICE_SUB, API_GET, api_g_device_history },
};

/* The Allow header of a 405, per kind: the methods in handlers[]. */
static const char *const allowed[] = {
    [API_G_R_REGISTRIES] = "GET, POST",
    [API_G_R_REGISTRY] = "GET, PATCH, DELETE",
    [API_G_R_DEVICES] = "GET, POST",
    [API_G_R_DEVICE] = "GET, PATCH, DELETE",
    [API_G_R_DEVICE_SUB] = "GET",
    [API_G_R_LOCATION] = "",
};

/* Splits "/v1/projects/P/locations/L/registries[/R[/devices[/D[/SUB]]]]"
 * and "/v1/projects/P/locations/L:verb" (path copied into buf). Returns 0,
 * or -ENOENT when it is no Google route. */
static int route_parse(const char *path, char *buf, size_t cap, struct api_g_route *rt)
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
    if (n < 4 || strcmp(seg[0], "projects") != 0 || strcmp(seg[2], "locations") != 0)
        return -ENOENT;
    rt->project = seg[1];
    rt->location = seg[3];
    if (n == 4) {
        if (!rt->verb)
            return -ENOENT;
        rt->kind = API_G_R_LOCATION;
        return 0;
    }
    if (strcmp(seg[4], "registries") != 0)
        return -ENOENT;
    if (n == 5) {
        rt->kind = API_G_R_REGISTRIES;
        return 0;
    }
    rt->registry = seg[5];
    if (n == 6) {
        rt->kind = API_G_R_REGISTRY;
        return 0;
    }
    if (strcmp(seg[6], "devices") != 0)
        return -ENOENT;
    if (n == 7) {
        rt->kind = API_G_R_DEVICES;
        return 0;
    }
    rt->device = seg[7];
    if (n == 8) {
        rt->kind = API_G_R_DEVICE;
        return 0;
    }
    if (n == 9 && (strcmp(seg[8], "configVersions") == 0 || strcmp(seg[8], "states") == 0)) {
        rt->kind = API_G_R_DEVICE_SUB;
        rt->sub = seg[8];
        return 0;
    }
    return -ENOENT;
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

static bool verb_unimplemented(const char *verb)
{
    for (size_t i = 0; i < sizeof(unimplemented_verbs) / sizeof(unimplemented_verbs[0]); i++)
        if (strcmp(verb, unimplemented_verbs[i]) == 0)
            return true;
    return false;
}

/* A custom method: known for its resource kind, POST only. */
static int handle_verb(const struct api_env *env, const struct api_g_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    enum api_method m = req->method;

    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (verbs[i].kind != rt->kind || strcmp(verbs[i].verb, rt->verb) != 0)
            continue;
        if (m != API_POST)
            return method_not_allowed(resp, req, "POST");
        return verbs[i].fn(env, rt, req, resp);
    }
    if (!verb_unimplemented(rt->verb) || rt->kind == API_G_R_LOCATION)
        return -ENOENT;
    if (m != API_POST && !(m == API_GET && strcmp(rt->verb, "getIamPolicy") == 0))
        return method_not_allowed(resp, req, "POST");
    return api_google_error(resp, API_G_UNIMPLEMENTED, "%s is not implemented by iotcored.",
                            rt->verb);
}

int api_google_handle(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp)
{
    char buf[4096];
    struct api_g_route rt;
    enum api_method m = req->method;

    if (route_parse(req->path, buf, sizeof(buf), &rt) < 0)
        return -ENOENT;
    if (rt.verb)
        return handle_verb(env, &rt, req, resp);
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].kind == rt.kind && handlers[i].method == m)
            return handlers[i].fn(env, &rt, req, resp);
    return method_not_allowed(resp, req, allowed[rt.kind]);
}
