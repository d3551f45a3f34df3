/* Fleet provisioning by claim over MQTT [aws-iot-core.md 1.10]: a device's
 * $aws/certificates/create/json, $aws/certificates/create-from-csr/json and
 * $aws/provisioning-templates/NAME/provision/json requests, served by
 * registry/reg_aws_fleet.h. AWS answers the requesting connection alone
 * (the answer to create holds a private key), on the request topic +
 * /accepted or /rejected, and only if the device subscribed to it: so the
 * answer is written to this device directly (QoS 0), never through the
 * broker, after the same iot:Receive check as any delivery. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "registry/reg_aws_fleet.h"

static void answer(struct sess *s, const struct mqtt_publish *req,
                   const struct reg_aws_fleet_reply *reply)
{
    char topic[AWS_MAX_TOPIC + 16], res[AWS_MAX_TOPIC + 64];
    int n = snprintf(topic, sizeof(topic), "%.*s/%s", (int)req->topic.len,
                     (const char *)req->topic.p, reply->accepted ? "accepted" : "rejected");

    if (n < 0 || (size_t)n >= sizeof(topic))
        return;
    /* Delivered only to a subscriber, as any message. */
    if (!sess_sub_match(s, topic, (size_t)n))
        return;
    n = snprintf(res, sizeof(res), "topic/%s", topic);
    if (n < 0 || (size_t)n >= sizeof(res) ||
        !reg_aws_allows(s->aws, AWS_ACT_RECEIVE, res, (size_t)n))
        return;
    struct mqtt_publish p = {
        .topic = { (const uint8_t *)topic, strlen(topic) },
        .payload = { (const uint8_t *)reply->doc, strlen(reply->doc) },
        .qos = 0,
    };
    sess_send_publish(s, &p);
}

int sess_aws_provision(struct sess *s, const struct mqtt_publish *p)
{
    static const char create[] = "$aws/certificates/create/json";
    static const char from_csr[] = "$aws/certificates/create-from-csr/json";
    static const char tmpl[] = "$aws/provisioning-templates/";
    struct reg_aws_fleet_reply reply = { 0 };
    const char *t = (const char *)p->topic.p;
    size_t tl = p->topic.len;
    int64_t now = time_now_unix_us();
    int r;

    if (tl == strlen(create) && memcmp(t, create, tl) == 0) {
        r = reg_aws_fleet_create(s->hub->db, s->hub->cfg.aws_issuer, NULL, 0, now, &reply);
    } else if (tl == strlen(from_csr) && memcmp(t, from_csr, tl) == 0) {
        r = reg_aws_fleet_create(s->hub->db, s->hub->cfg.aws_issuer,
                                 (const char *)p->payload.p, p->payload.len, now, &reply);
    } else {
        /* $aws/provisioning-templates/NAME/provision/json (aws.c checked
         * the shape). */
        char name[64];
        const char *start = t + strlen(tmpl);
        const char *slash = memchr(start, '/', tl - strlen(tmpl));
        size_t nl = slash ? (size_t)(slash - start) : 0;
        if (nl == 0 || nl >= sizeof(name))
            return 0;
        memcpy(name, start, nl);
        name[nl] = '\0';
        r = reg_aws_fleet_register(s->hub->db, &s->hub->aws_env, name,
                                   (const char *)p->payload.p, p->payload.len, now, &reply);
    }
    if (r < 0) {
        sess_close(s, "out of memory");
        return r;
    }
    char esc[300];
    log_info("fleet provisioning peer=%s client_id=\"%s\" topic=\"%s\": %s%s%s", s->peer,
             s->client_id, log_escape(esc, sizeof(esc), p->topic.p, p->topic.len),
             reply.accepted ? "accepted" : "rejected", reply.cert_id[0] ? " certificate=" : "",
             reply.cert_id);
    answer(s, p, &reply);
    reg_aws_fleet_reply_clear(&reply);
    return 0;
}
