/* The AWS requests a device publishes on reserved topics, which the daemon
 * serves itself instead of forwarding [aws-iot-core.md 4.1, 1.10]: Device
 * Shadow get/update/delete (responses go out on the service link under
 * {aws_prefix}$aws/things/..., so every subscriber sees them, as on AWS),
 * fleet provisioning (session_aws_provision.c); and the subscription
 * lifecycle events. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "registry/reg_aws_shadow.h"

static int shadow_publish(void *ud, const char *topic, const void *data, size_t len)
{
    const struct sess_config *cfg = ud;
    /* QoS 1 towards the broker, so a QoS 1 subscriber gets it at QoS 1. */
    return cfg->service_publish ? cfg->service_publish(cfg->service_ud, topic, data, len, 1)
                                : -ENOTCONN;
}

static void serve_shadow(struct sess *s, const struct mqtt_publish *p)
{
    char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
    char esc[300];
    enum reg_shadow_op op;
    struct reg_shadow_reply reply = { 0 };
    const struct reg_shadow_ctx ctx = {
        .db = s->hub->db,
        .prefix = s->hub->cfg.aws_prefix,
        .publish = shadow_publish,
        .ud = &s->hub->cfg,
    };

    if (reg_aws_shadow_topic(p->topic.p, p->topic.len, thing, shadow, &op) < 0) {
        log_info("shadow request ignored peer=%s client_id=\"%s\" topic=\"%s\": invalid thing "
                 "or shadow name", s->peer, s->client_id,
                 log_escape(esc, sizeof(esc), p->topic.p, p->topic.len));
        return;
    }
    int r = reg_aws_shadow_serve(&ctx, thing, shadow, op, p->payload.p, p->payload.len, false,
                                 time_now_unix_us(), &reply);
    if (r < 0)
        log_err("shadow request failed peer=%s client_id=\"%s\" thing=\"%s\": %s", s->peer,
                s->client_id, thing, strerror(-r));
    else if (reply.status != 200)
        log_debug("shadow request rejected peer=%s client_id=\"%s\" thing=\"%s\": %d %s",
                  s->peer, s->client_id, thing, reply.status, reply.message);
    reg_shadow_reply_clear(&reply);
}

int sess_aws_reserved_publish(struct sess *s, const struct mqtt_publish *p)
{
    switch (aws_reserved_request(p->topic.p, p->topic.len)) {
    case AWS_RESERVED_SHADOW:
        serve_shadow(s, p);
        break;
    case AWS_RESERVED_PROVISIONING: {
        int r = sess_aws_provision(s, p);
        if (r < 0)
            return r;
        break;
    }
    case AWS_RESERVED_NONE:
        /* aws_topic_check let only served requests through. */
        sess_close(s, "reserved topic");
        return -EACCES;
    }
    if (p->qos == 1)
        sess_send_ack(s, MQTT_PUBACK, p->packet_id);
    return 0;
}

void sess_aws_subscription_event(struct sess *s, bool subscribed, const struct mqtt_slice *filters,
                                 size_t n)
{
    json_t *topics = json_array();

    if (!topics || n == 0 || !s->session_uuid[0]) {
        json_decref(topics);
        return;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(topics, json_stringn((const char *)filters[i].p, filters[i].len));
    const char *type = subscribed ? "subscribed" : "unsubscribed";
    char kind[40];
    snprintf(kind, sizeof(kind), "subscriptions/%s", type);
    sess_aws_event(s, kind,
                   json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "clientId", s->aws->client_id,
                             "timestamp", (json_int_t)(time_now_unix_us() / 1000), "eventType",
                             type, "sessionIdentifier", s->session_uuid, "principalIdentifier",
                             s->aws->cert_id, "topics", topics));
}
