/* The data plane's Publish [aws-iot-core.md 1.13, 5.3]: POST
 * /topics/TOPIC?qos=0|1[&retain=true] with the payload as the body, signed
 * with SigV4 on the admin port. The topic is a device topic: it goes to
 * the broker under the AWS prefix, so devices subscribed to it receive it.
 * A QoS 1 publish is answered once the broker acknowledged it. Reserved
 * topics are refused, except a shadow request, which the shadow service
 * serves as if a device had published it (AWS accepts shadow updates over
 * HTTPS publish); a forged $aws/events/... message is what the refusal
 * prevents. */
#include <errno.h>
#include <string.h>

#include "registry/reg_aws_shadow.h"
#include "webui/aws_api.h"

/* AWS's topic limits [aws-iot-core.md 3.8]: 256 bytes, 7 slashes (the
 * same rule as the MQTT port's bridges/mqtt/aws.c, which webui does not
 * link); MQTT forbids wildcards in a topic name. */
#define TOPIC_MAX 256
#define TOPIC_MAX_SLASHES 7
#define PAYLOAD_MAX (128 * 1024)

static bool topic_ok(const char *t, size_t len)
{
    size_t slashes = 0;
    if (len == 0 || len > TOPIC_MAX || strpbrk(t, "+#"))
        return false;
    for (size_t i = 0; i < len; i++)
        slashes += t[i] == '/';
    return slashes <= TOPIC_MAX_SLASHES;
}

static void publish_finish(struct api_response *resp, int err, void *ctx)
{
    (void)ctx;
    if (err == 0)
        api_aws_reply_empty(resp);
    else if (err == -ETIMEDOUT)
        api_aws_fail(resp, 500, API_AWS_INTERNAL,
                     "The broker did not acknowledge the message in time");
    else
        api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker link is down");
}

static int serve_shadow_request(const struct api_env *env, const char *topic,
                                const struct api_request *req, struct api_response *resp)
{
    char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
    enum reg_shadow_op op;
    struct reg_shadow_reply reply = { 0 };

    if (reg_aws_shadow_topic((const uint8_t *)topic, strlen(topic), thing, shadow, &op) < 0)
        return api_aws_invalid(resp, "Invalid topic name");
    if (!env->aws_shadow)
        return api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The shadow service is not available");
    /* As over MQTT: the outcome goes to /accepted or /rejected. */
    int r = env->aws_shadow(env->ud, thing, shadow, (int)op, req->body ? req->body : "",
                            req->body_len, false, &reply);
    reg_shadow_reply_clear(&reply);
    if (r == -ENOMEM)
        return api_aws_oom(resp);
    if (r < 0)
        return api_aws_fail(resp, 500, API_AWS_INTERNAL, "Internal service failure");
    return api_aws_reply_empty(resp);
}

int api_aws_data_publish(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *topic = rt->label[0];
    const char *qs = api_request_param(req, "qos");
    size_t tl = strlen(topic);
    bool retain = false;
    uint64_t qos = 0;

    if (qs && (api_parse_u64(qs, &qos) < 0 || qos > 1))
        return api_aws_invalid(resp, "qos must be 0 or 1");
    if (api_aws_flag(req, "retain", &retain, resp) < 0)
        return 0;
    if (!topic_ok(topic, tl))
        return api_aws_invalid(resp, "Invalid topic name");
    if (req->body_len > PAYLOAD_MAX)
        return api_aws_fail(resp, 413, "RequestEntityTooLargeException",
                            "The payload exceeds the maximum size allowed");
    if (topic[0] == '$') {
        char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
        enum reg_shadow_op op;
        if (reg_aws_shadow_topic((const uint8_t *)topic, tl, thing, shadow, &op) == 0)
            return serve_shadow_request(env, topic, req, resp);
        return api_aws_fail(resp, 403, "ForbiddenException",
                            "Publishing to this reserved topic is not allowed");
    }
    if (!env->aws_publish || !env->deferred)
        return api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker link is not available");
    if (qos == 0) {
        int r = env->aws_publish(env->ud, topic, req->body, req->body_len, 0, retain, NULL, NULL);
        if (r < 0)
            publish_finish(resp, r, NULL);
        else
            api_aws_reply_empty(resp);
        return 0;
    }
    api_defer(env->deferred, publish_finish, NULL, NULL, env->publish_cancel, env->ud);
    int r = env->aws_publish(env->ud, topic, req->body, req->body_len, 1, retain, api_deferred_done,
                             env->deferred);
    if (r < 0) {
        api_defer_abort(env->deferred);
        publish_finish(resp, r, NULL);
    }
    return 0;
}
