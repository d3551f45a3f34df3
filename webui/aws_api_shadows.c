/* The data plane's Device Shadow calls [aws-iot-core.md 4.8]: GetThingShadow,
 * UpdateThingShadow, DeleteThingShadow (GET / POST / DELETE
 * /things/T/shadow[?name=N]) and ListNamedShadowsForThing. The request is
 * served by the daemon's shadow hook (registry/reg_aws_shadow.h with
 * rest = true), which also publishes what AWS publishes for a REST call.
 * Replies carry the document as AWS does (the blob the SDKs hand back);
 * errors carry the shadow service's {"code", "message", ...} document and
 * the x-amzn-ErrorType the iot-data model names for the status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_aws_shadow.h"
#include "webui/aws_api.h"

/* iot-data 2015-05-28 error shapes by HTTP status. */
static const char *error_type(int status)
{
    switch (status) {
    case 400: return "InvalidRequestException";
    case 401: return "UnauthorizedException";
    case 404: return "ResourceNotFoundException";
    case 405: return "MethodNotAllowedException";
    case 409: return "ConflictException";
    case 413: return "RequestEntityTooLargeException";
    case 415: return "UnsupportedDocumentEncodingException";
    case 429: return "ThrottlingException";
    case 503: return "ServiceUnavailableException";
    default: return "InternalFailureException";
    }
}

static int serve(const struct api_env *env, const struct api_aws_route *rt,
                 const struct api_request *req, struct api_response *resp, enum reg_shadow_op op)
{
    struct reg_shadow_reply reply = { 0 };
    const char *name = api_request_param(req, "name");

    if (!env->aws_shadow)
        return api_aws_fail(resp, 503, "ServiceUnavailableException",
                            "The shadow service is not available");
    if (name && !*name)
        name = NULL;
    int r = env->aws_shadow(env->ud, rt->label[0], name, (int)op, req->body ? req->body : "",
                            req->body ? req->body_len : 0, true, &reply);
    if (r == -ENOMEM)
        return api_aws_oom(resp);
    if (r < 0)
        return api_aws_fail(resp, 500, "InternalFailureException", "Internal service failure");
    resp->status = reply.status;
    resp->content_type = "application/json";
    resp->body = reply.body;
    resp->len = reply.len;
    if (reply.status != 200)
        resp->error_type = error_type(reply.status);
    reply.body = NULL;
    reg_shadow_reply_clear(&reply);
    return 0;
}

int api_aws_shadow_get(const struct api_env *env, const struct api_aws_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    return serve(env, rt, req, resp, REG_SHADOW_GET);
}

int api_aws_shadow_update(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    return serve(env, rt, req, resp, REG_SHADOW_UPDATE);
}

int api_aws_shadow_delete(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    return serve(env, rt, req, resp, REG_SHADOW_DELETE);
}

struct names {
    json_t *arr;
};

static int add_name(void *ud, const char *name)
{
    struct names *n = ud;
    if (json_array_append_new(n->arr, json_string(name)) < 0)
        return -ENOMEM;
    return 0;
}

/* ListNamedShadowsForThing: pages by name (the token is the last name
 * served, which shadow names never make ambiguous). */
int api_aws_shadow_list_named(const struct api_env *env, const struct api_aws_route *rt,
                              const struct api_request *req, struct api_response *resp)
{
    const char *token = api_request_param(req, "nextToken");
    const char *size = api_request_param(req, "pageSize");
    uint64_t page = 25;
    struct names n = { 0 };

    if (!aws_shadow_thing_name_ok(rt->label[0], strlen(rt->label[0])))
        return api_aws_invalid(resp, "Invalid thing name");
    if (size && (api_parse_u64(size, &page) < 0 || page < 1 || page > 100))
        return api_aws_invalid(resp, "pageSize must be between 1 and 100");
    if (token && *token && !aws_shadow_name_ok(token, strlen(token)))
        return api_aws_invalid(resp, "Invalid nextToken");
    n.arr = json_array();
    if (!n.arr)
        return api_aws_oom(resp);
    /* One more than the page tells whether another page follows. */
    int r = reg_aws_shadow_list(env->db, rt->label[0], token, (int)page + 1, add_name, &n);
    if (r < 0) {
        json_decref(n.arr);
        return r == -ENOMEM ? api_aws_oom(resp) : api_aws_db_failure(env, resp, r, NULL);
    }
    bool more = (uint64_t)r > page;
    if (more)
        json_array_remove(n.arr, json_array_size(n.arr) - 1);
    json_t *j = json_pack("{s:o, s:I}", "results", n.arr, "timestamp",
                          (json_int_t)(env->now_us / 1000000));
    if (j && more) {
        const char *last = json_string_value(json_array_get(n.arr, json_array_size(n.arr) - 1));
        json_object_set_new(j, "nextToken", json_string(last ? last : ""));
    }
    return j ? api_aws_reply_take(resp, j) : api_aws_oom(resp);
}
