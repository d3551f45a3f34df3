/* A device's PUBLISH: the Google path (topic map, gateway control topics,
 * payload limits, notification routes, state rate, Pub/Sub attributes,
 * last-event and state bookkeeping), the AWS path's quotas, and the parts
 * both share: the per-second quotas and the forward to the broker with its
 * QoS 1 in-flight slot. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bridges/mqtt/codec5.h"
#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_registry_cfg.h"

static struct up_slot *up_find(struct sess *s, uint16_t device_pid)
{
    for (size_t i = 0; i < s->hub->cfg.max_inflight; i++)
        if (s->ups[i].device_pid == device_pid)
            return &s->ups[i];
    return NULL;
}

/* Registry notification configs choose the upstream topic: the first
 * eventNotificationConfig whose subfolderMatches equals the subfolder, else
 * the default one, goes to {pubsub_prefix}PROJECT/TOPIC; state goes to
 * stateNotificationConfig's topic. Without a match the default topic (tl
 * bytes already in topic) stays (DESIGN.md departure from Google). */
static int route_publish(struct sess *s, const struct mqtt_publish *p, enum google_pub_kind kind,
                         char *topic, size_t cap, int tl)
{
    const struct reg_route *rt = NULL;
    if (kind == GOOGLE_PUB_STATE) {
        if (s->routes->has_state_route)
            rt = &s->routes->state_route;
    } else {
        /* "/devices/D/events" then optionally "/SUBFOLDER". */
        size_t head = strlen("/devices/") + strlen(s->auth.device.id) + strlen("/events");
        const char *sub = NULL;
        size_t sublen = 0;
        if (p->topic.len > head + 1) {
            sub = (const char *)p->topic.p + head + 1;
            sublen = p->topic.len - head - 1;
        }
        rt = reg_registry_event_route(s->routes, sub, sublen);
    }
    if (!rt)
        return tl;
    int n = snprintf(topic, cap, "%s%s", s->hub->cfg.pubsub_prefix, rt->topic);
    return n < 0 || (size_t)n >= cap ? tl : n;
}

/* Counts one inbound PUBLISH of payload_len bytes against per-second
 * quotas (<= 0: none). Returns NULL when within them, else the reason word
 * ("rate-limit", "throughput-limit"), logged; the caller closes. */
static const char *rate_over(struct sess *s, size_t payload_len, int max_messages, int max_bytes)
{
    int64_t now = time_now_mono_ms();
    /* Fixed one-second windows: simple, and a burst can reach at most
     * twice the quota across a window edge, which is what a quota that
     * clouds stated per second tolerates. */
    if (now - s->rate_window >= 1000) {
        s->rate_window = now;
        s->rate_count = 0;
        s->rate_bytes = 0;
    }
    s->rate_bytes += (int64_t)payload_len;
    if (max_messages > 0 && ++s->rate_count > max_messages) {
        log_info("session closed peer=%s client_id=\"%s\": over %d messages/s reason=rate-limit",
                 s->peer, s->client_id, max_messages);
        return "rate-limit";
    }
    if (max_bytes > 0 && s->rate_bytes > max_bytes) {
        log_info("session closed peer=%s client_id=\"%s\": over %d payload bytes/s "
                 "reason=throughput-limit",
                 s->peer, s->client_id, max_bytes);
        return "throughput-limit";
    }
    return NULL;
}

/* The upstream half of a PUBLISH both personalities share: QoS 1 window,
 * the broker publish, the in-flight slot. Returns as sess_handle_publish. */
static int forward_publish(struct sess *s, const struct mqtt_publish *p, const char *topic,
                           size_t tl, bool retain, const struct mqtt5_user_prop *props,
                           size_t n_props)
{
    if (!s->up) {
        sess_close(s, "upstream session lost");
        return -ENOTCONN;
    }
    uint16_t upid = 0;
    int r = upstream_publish_props(s->up, topic, tl, p->payload.p, p->payload.len, p->qos, retain,
                                   props, n_props, &upid);
    if (r == -EAGAIN)
        return 1;
    if (r < 0) {
        sess_close(s, "upstream publish failed");
        return r;
    }
    s->hub->stats.publishes_in++;
    if (p->qos == 1) {
        struct up_slot *slot = up_find(s, 0);
        slot->device_pid = p->packet_id;
        slot->upstream_pid = upid;
    }
    return 0;
}

static int publish_aws(struct sess *s, const struct mqtt_publish *p)
{
    char topic[1400];

    if (p->qos == 1) {
        if (up_find(s, p->packet_id))
            return 0;   /* a DUP resend of one still in flight */
        if (!up_find(s, 0))
            return 1;   /* window full: wait for the broker's acks */
    }
    int tl = sess_aws_publish_topic(s, p, topic, sizeof(topic));
    if (tl < 0)
        return tl;
    /* AWS: 100 publishes/s and 512 KB/s per connection; its lifecycle
     * events name THROTTLED among the reasons it disconnects a client. */
    const char *over = rate_over(s, p->payload.len, s->hub->cfg.aws_max_messages_per_second,
                                      s->hub->cfg.aws_max_bytes_per_second);
    if (over) {
        s->disc_reason = "THROTTLED";
        sess_close(s, over);
        return -EBUSY;
    }
    /* Shadow and provisioning requests are the daemon's to serve. */
    if (p->topic.len > 0 && p->topic.p[0] == '$')
        return sess_aws_reserved_publish(s, p);
    /* AWS keeps retained messages (iot:RetainPublish checked above). */
    return forward_publish(s, p, topic, (size_t)tl, p->retain, NULL, 0);
}

/* Google's Pub/Sub attributes for a device's event or state message
 * [google-iot-core.md 1.7]: deviceId, deviceNumId, deviceRegistryLocation,
 * deviceRegistryId, projectId, and subFolder when the event had one.
 * Slices borrow from s, target, p and num (room for a decimal u64). */
#define GOOGLE_ATTRS_MAX 6
static size_t google_attributes(const struct sess *s, const struct google_ident *target,
                                int64_t target_rowid, const struct mqtt_publish *p,
                                enum google_pub_kind kind, struct mqtt5_user_prop *a, char *num)
{
    uint64_t num_id = s->auth.device.num_id;
    size_t n = 0;

    for (size_t i = 0; target_rowid != s->auth.device.rowid && i < s->n_attached; i++)
        if (s->attached[i].rowid == target_rowid)
            num_id = s->attached[i].num_id;
    snprintf(num, 24, "%llu", (unsigned long long)num_id);
#define ATTR(k, v, l) (a[n].name = (struct mqtt_slice){ (const uint8_t *)(k), strlen(k) }, \
                       a[n].value = (struct mqtt_slice){ (const uint8_t *)(v), (l) }, n++)
    ATTR("deviceId", target->device, strlen(target->device));
    ATTR("deviceNumId", num, strlen(num));
    ATTR("deviceRegistryLocation", target->location, strlen(target->location));
    ATTR("deviceRegistryId", target->registry, strlen(target->registry));
    ATTR("projectId", target->project, strlen(target->project));
    /* "/devices/D/events/SUB..." */
    size_t head = strlen("/devices/") + strlen(target->device) + strlen("/events/");
    if (kind == GOOGLE_PUB_EVENTS && p->topic.len > head)
        ATTR("subFolder", p->topic.p + head, p->topic.len - head);
#undef ATTR
    return n;
}

/* Returns 1 if the packet must wait (in-flight window full), 0 if handled,
 * negative if the session was closed. */
int sess_handle_publish(struct sess *s, const struct mqtt_publish *p)
{
    char topic[1400];
    enum google_pub_kind kind;
    int64_t now = time_now_mono_ms();

    if (p->qos == 2) {
        /* Google closed the connection on QoS 2; AWS never acknowledges a
         * QoS 2 PUBLISH, and a client waiting for a PUBREC is better told
         * at once. */
        sess_close(s, s->pers == SESS_AWS ? "QoS 2 is not supported (AWS IoT Core)"
                                          : "QoS 2 is not supported (Google IoT Core)");
        return -EPROTO;
    }
    if (s->pers == SESS_AWS)
        return publish_aws(s, p);
    enum google_control control = google_topic_control(p->topic.p, p->topic.len);
    if (control != GOOGLE_CONTROL_NONE)
        return sess_gateway_control(s, p, control);
    struct google_ident target;
    int64_t target_rowid = 0;
    int tl = -EACCES;
    if (sess_target(s, p->topic.p, p->topic.len, &target, &target_rowid))
        tl = google_map_publish(&target, p->topic.p, p->topic.len, topic, sizeof(topic), &kind);
    if (tl < 0) {
        char esc[300];
        log_info("publish denied peer=%s client_id=\"%s\" topic=\"%s\"; closing as Google did",
                 s->peer, s->client_id, log_escape(esc, sizeof(esc), p->topic.p, p->topic.len));
        sess_close(s, "publish to a topic the device may not use");
        return -EACCES;
    }
    if (p->payload.len > google_max_payload(kind)) {
        log_info("publish refused peer=%s client_id=\"%s\": %s payload of %zu bytes over Google's %zu",
                 s->peer, s->client_id, kind == GOOGLE_PUB_STATE ? "state" : "telemetry",
                 p->payload.len, google_max_payload(kind));
        db_device_set_error(s->hub->db, s->auth.device.rowid, time_now_unix_us(), 3,
                            "mqtt: The payload size exceeds the limit.");
        sess_close(s, "payload too large");
        return -EMSGSIZE;
    }
    if (s->routes)
        tl = route_publish(s, p, kind, topic, sizeof(topic), tl);
    if (p->qos == 1) {
        if (up_find(s, p->packet_id))
            return 0;   /* a DUP resend of one still in flight: ack comes with the broker's */
        if (!up_find(s, 0))
            return 1;   /* window full: wait for the broker's acks */
    }
    const char *over = rate_over(s, p->payload.len, s->hub->cfg.max_messages_per_second,
                                      s->hub->cfg.max_bytes_per_second);
    if (over) {
        /* Google never said what it did over a quota: close with
         * RESOURCE_EXHAUSTED, the reference's recommendation. */
        db_device_set_error(s->hub->db, s->auth.device.rowid, time_now_unix_us(), 8,
                            strcmp(over, "rate-limit") == 0
                                ? "mqtt: RESOURCE_EXHAUSTED: message rate exceeded."
                                : "mqtt: RESOURCE_EXHAUSTED: throughput exceeded.");
        sess_close(s, over);
        return -EBUSY;
    }
    if (kind == GOOGLE_PUB_STATE && s->hub->cfg.max_state_per_second > 0) {
        /* Google: 1 state update per second per device. Over it: close
         * with RESOURCE_EXHAUSTED, our reading of the quota (the service
         * never documented its reaction). */
        if (s->last_state_ms && now - s->last_state_ms < 1000 / s->hub->cfg.max_state_per_second) {
            log_info("session closed peer=%s client_id=\"%s\": over %d state updates/s reason=state-rate-limit",
                     s->peer, s->client_id, s->hub->cfg.max_state_per_second);
            db_device_set_error(s->hub->db, s->auth.device.rowid, time_now_unix_us(), 8,
                                "mqtt: RESOURCE_EXHAUSTED: state update rate exceeded.");
            sess_close(s, "state rate limit");
            return -EBUSY;
        }
        s->last_state_ms = now;
    }
    /* The attributes Google put on every Pub/Sub message it forwarded,
     * as MQTT 5 user properties (an MQTT 3.1.1 upstream cannot carry
     * them). RETAIN is ignored: Google had no retained messages. */
    struct mqtt5_user_prop attrs[GOOGLE_ATTRS_MAX];
    char num[24];
    size_t n_attrs = google_attributes(s, &target, target_rowid, p, kind, attrs, num);
    int r = forward_publish(s, p, topic, (size_t)tl, false, attrs, n_attrs);
    if (r != 0)
        return r;
    int64_t now_us = time_now_unix_us();
    /* Timestamps and state belong to the device the topic names (a
     * gateway publishes for its attached devices). */
    if (kind == GOOGLE_PUB_STATE) {
        db_state_add(s->hub->db, target_rowid, p->payload.p, p->payload.len, now_us);
        db_device_mark(s->hub->db, target_rowid, DB_MARK_STATE, now_us);
    } else {
        db_device_mark(s->hub->db, target_rowid, DB_MARK_EVENT, now_us);
    }
    return 0;
}

