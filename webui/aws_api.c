/* AWS IoT control-plane routes (the botocore iot 2015-05-28 model's
 * method + requestUri pairs) on the admin port: matches a decoded path
 * against the route table and hands the labels to the handler of its
 * resource (aws_api_things.c, aws_api_certs.c, aws_api_cacerts.c,
 * aws_api_policies.c, aws_api_attach.c); rebuilds the path an SDK signed
 * (SigV4) from the decoded one; and serves DescribeEndpoint. A method or
 * path no route serves is answered as AWS's front end answers an unknown
 * path of the IoT endpoint: 404 ResourceNotFoundException "Not Found". */
#include "webui/aws_api.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "webui/sigv4.h"

/* "{}" is one label (no '/'); "{+}" takes the rest of the path, '/'
 * included: a policy target is an ARN ("...:cert/ID"), which botocore
 * sends with the '/' encoded as %2F and lws hands over decoded. */
static const struct {
    enum api_method method;
    const char *pattern;
    api_aws_handler *fn;
} routes[] = {
    { API_POST, "/things/{}", api_aws_thing_create },
    { API_GET, "/things/{}", api_aws_thing_describe },
    { API_PATCH, "/things/{}", api_aws_thing_update },
    { API_DELETE, "/things/{}", api_aws_thing_delete },
    { API_GET, "/things", api_aws_things_list },
    { API_PUT, "/things/{}/principals", api_aws_thing_principal_attach },
    { API_DELETE, "/things/{}/principals", api_aws_thing_principal_detach },
    { API_GET, "/things/{}/principals", api_aws_thing_principals_list },
    { API_GET, "/principals/things", api_aws_principal_things_list },
    { API_POST, "/thing-types/{}", api_aws_thing_type_create },
    { API_GET, "/thing-types/{}", api_aws_thing_type_describe },
    { API_DELETE, "/thing-types/{}", api_aws_thing_type_delete },
    { API_GET, "/thing-types", api_aws_thing_types_list },
    { API_POST, "/thing-types/{}/deprecate", api_aws_thing_type_deprecate },

    { API_POST, "/keys-and-certificate", api_aws_keys_and_cert_create },
    { API_POST, "/certificates", api_aws_cert_from_csr },
    { API_GET, "/certificates", api_aws_certs_list },
    { API_GET, "/certificates/{}", api_aws_cert_describe },
    { API_PUT, "/certificates/{}", api_aws_cert_update },
    { API_DELETE, "/certificates/{}", api_aws_cert_delete },
    { API_POST, "/certificate/register", api_aws_cert_register },
    { API_POST, "/certificate/register-no-ca", api_aws_cert_register_no_ca },
    { API_GET, "/certificates-by-ca/{}", api_aws_certs_by_ca },

    { API_GET, "/registrationcode", api_aws_regcode_get },
    { API_DELETE, "/registrationcode", api_aws_regcode_delete },
    { API_POST, "/cacertificate", api_aws_cacert_register },
    { API_GET, "/cacertificate/{}", api_aws_cacert_describe },
    { API_PUT, "/cacertificate/{}", api_aws_cacert_update },
    { API_DELETE, "/cacertificate/{}", api_aws_cacert_delete },
    { API_GET, "/cacertificates", api_aws_cacerts_list },

    { API_POST, "/policies/{}", api_aws_policy_create },
    { API_GET, "/policies/{}", api_aws_policy_get },
    { API_DELETE, "/policies/{}", api_aws_policy_delete },
    { API_GET, "/policies", api_aws_policies_list },
    { API_POST, "/policies/{}/version", api_aws_policy_version_create },
    { API_GET, "/policies/{}/version", api_aws_policy_versions_list },
    { API_GET, "/policies/{}/version/{}", api_aws_policy_version_get },
    { API_PATCH, "/policies/{}/version/{}", api_aws_policy_version_set_default },
    { API_DELETE, "/policies/{}/version/{}", api_aws_policy_version_delete },
    { API_PUT, "/target-policies/{}", api_aws_policy_attach },
    { API_POST, "/target-policies/{}", api_aws_policy_detach },
    { API_POST, "/attached-policies/{+}", api_aws_attached_policies_list },
    { API_POST, "/policy-targets/{}", api_aws_policy_targets_list },
    { API_PUT, "/principal-policies/{}", api_aws_principal_policy_attach },
    { API_DELETE, "/principal-policies/{}", api_aws_principal_policy_detach },
    { API_GET, "/principal-policies", api_aws_principal_policies_list },
    { API_GET, "/policy-principals", api_aws_policy_principals_list },

    { API_POST, "/provisioning-templates", api_aws_template_create },
    { API_GET, "/provisioning-templates", api_aws_templates_list },
    { API_GET, "/provisioning-templates/{}", api_aws_template_describe },
    { API_PATCH, "/provisioning-templates/{}", api_aws_template_update },
    { API_DELETE, "/provisioning-templates/{}", api_aws_template_delete },
    { API_POST, "/provisioning-templates/{}/versions", api_aws_template_version_create },
    { API_GET, "/provisioning-templates/{}/versions", api_aws_template_versions_list },
    { API_GET, "/provisioning-templates/{}/versions/{}", api_aws_template_version_describe },
    { API_DELETE, "/provisioning-templates/{}/versions/{}", api_aws_template_version_delete },

    /* The data plane (iot-data), on the same port. */
    { API_GET, "/things/{}/shadow", api_aws_shadow_get },
    { API_POST, "/things/{}/shadow", api_aws_shadow_update },
    { API_DELETE, "/things/{}/shadow", api_aws_shadow_delete },
    { API_GET, "/api/things/shadow/ListNamedShadowsForThing/{}", api_aws_shadow_list_named },
    { API_POST, "/topics/{+}", api_aws_data_publish },
    { API_GET, "/retainedMessage", api_aws_retained_list },
    { API_GET, "/retainedMessage/{+}", api_aws_retained_get },

    { API_GET, "/endpoint", NULL },     /* DescribeEndpoint, below */
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches path against pattern; labels are copied NUL-terminated into buf
 * (when buf is NULL only the match is decided). last_greedy: a label that
 * ends the pattern takes the rest of the path. That is the second try,
 * after no route matched exactly: botocore sends a '/' inside a label as
 * %2F, lws decodes it, and such a name (invalid for every label but a
 * target ARN) should still reach its handler, which refuses it as AWS
 * does, under a signature computed over the encoded form. */
static bool match(const char *pattern, const char *path, bool last_greedy, char *buf, size_t cap,
                  struct api_aws_route *rt)
{
    const char *p = pattern, *s = path;
    size_t used = 0;
    int nl = 0;

    while (*p) {
        if (*p == '{') {
            bool greedy = p[1] == '+' || (last_greedy && strchr(p, '}')[1] == '\0');
            const char *end = greedy ? s + strlen(s) : strchrnul(s, '/');
            size_t n = (size_t)(end - s);

            p = strchr(p, '}') + 1;
            if (n == 0 || nl == 2)
                return false;
            if (buf) {
                if (used + n + 1 > cap)
                    return false;
                memcpy(buf + used, s, n);
                buf[used + n] = '\0';
                rt->label[nl] = buf + used;
                used += n + 1;
            }
            nl++;
            s = end;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

/* The first segment of a path or pattern ("/things/x" -> "things"). */
static size_t first_segment(const char *path, const char **ret)
{
    const char *s = path + (*path == '/');

    *ret = s;
    return (size_t)(strchrnul(s, '/') - s);
}

bool api_aws_is_path(const char *path)
{
    const char *seg, *want;
    size_t n = first_segment(path, &seg);

    if (*path != '/' || n == 0)
        return false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        size_t m = first_segment(routes[i].pattern, &want);
        if (m == n && memcmp(seg, want, n) == 0)
            return true;
    }
    return false;
}

int api_aws_wire_path(const char *path, char *out, size_t cap)
{
    const char *pattern = NULL;
    bool greedy = false;
    size_t used = 0;

    for (int pass = 0; pass < 2 && !pattern; pass++)
        for (size_t i = 0; i < N_ROUTES && !pattern; i++)
            if (match(routes[i].pattern, path, pass == 1, NULL, 0, NULL)) {
                pattern = routes[i].pattern;
                greedy = pass == 1;
            }
    /* No route: encode as if the whole path were literal segments. */
    if (!pattern)
        return sigv4_uri_encode(path, strlen(path), false, out, cap);
    for (const char *p = pattern, *s = path; *p;) {
        int n;
        if (*p == '{') {
            bool rest = p[1] == '+' || (greedy && strchr(p, '}')[1] == '\0');
            const char *end = rest ? s + strlen(s) : strchrnul(s, '/');
            n = sigv4_uri_encode(s, (size_t)(end - s), true, out + used, cap - used);
            if (n < 0)
                return n;
            used += (size_t)n;
            s = end;
            p = strchr(p, '}') + 1;
            continue;
        }
        /* Literal pattern characters are all unreserved or '/'. */
        if (used + 2 > cap)
            return -ENOSPC;
        out[used++] = *p++;
        out[used] = '\0';
        s++;
    }
    return (int)used;
}

/* DescribeEndpoint: every endpoint type is served by this daemon under the
 * configured aws.endpoint (the MQTT, device HTTPS and credentials-provider
 * roles share one host here; AWS gives each its own). */
static int describe_endpoint(const struct api_env *env, const struct api_request *req,
                             struct api_response *resp)
{
    static const char *const types[] = {
        "iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs",
    };
    const char *type = api_request_param(req, "endpointType");
    const char *ep = env->aws_endpoint && *env->aws_endpoint ? env->aws_endpoint
                                                             : API_AWS_DEFAULT_ENDPOINT;
    bool known = !type || !*type;
    char shown[160];

    for (size_t i = 0; !known && i < sizeof(types) / sizeof(types[0]); i++)
        known = strcmp(type, types[i]) == 0;
    if (!known) {
        api_aws_invalid(resp, "Endpoint type %s is not valid.",
                        log_escape(shown, sizeof(shown), type, strlen(type)));
        return 0;
    }
    return api_aws_reply_take(resp, json_pack("{s:s}", "endpointAddress", ep));
}

int api_aws_handle(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp)
{
    char buf[2048];
    struct api_aws_route rt;

    bool path_known = false;

    for (int pass = 0; pass < 2 && !path_known; pass++) {
        for (size_t i = 0; i < N_ROUTES; i++) {
            memset(&rt, 0, sizeof(rt));
            if (!match(routes[i].pattern, req->path, pass == 1, buf, sizeof(buf), &rt))
                continue;
            /* A path that matches exactly is never re-read greedily: only
             * its own methods serve it. */
            path_known = true;
            if (routes[i].method != req->method)
                continue;
            if (!routes[i].fn)
                return describe_endpoint(env, req, resp);
            return routes[i].fn(env, &rt, req, resp);
        }
    }
    return -ENOENT;
}
