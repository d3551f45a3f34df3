/* The session's upstream side: opening the device's upstream session,
 * the link's callbacks (CONNACK, PUBACK, SUBACK, broker PUBLISH, loss) and
 * the in-flight tables that keep DESIGN.md's "Upstream link" invariants:
 *  - a device's QoS 1 PUBLISH is PUBACKed only after the broker's PUBACK;
 *  - a broker QoS 1 PUBLISH is PUBACKed upstream only when the device acked
 *    it, or at once when the daemon drops it, always in arrival order
 *    [MQTT-4.6.0-2] (the ack ring);
 *  - device-side packet ids are the daemon's (bounded in-flight tables);
 *  - upstream loss closes the device; no message queue lives here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "db/db.h"

/* ---- in-flight tables ---- */

bool sess_alloc_tables(struct sess *s)
{
    size_t n = s->hub->cfg.max_inflight;
    s->ups = calloc(n, sizeof(*s->ups));
    /* The downstream table comes with the first QoS 1 delivery
     * (sess_down_alloc) and the ack ring starts small and grows
     * (ack_push): an idle device's memory is what the daemon is judged on. */
    s->acks_cap = ACKS_INITIAL;
    s->acks = calloc(s->acks_cap, sizeof(*s->acks));
    /* Subscriptions grow on demand: most devices hold two (config and
     * commands), and idle memory per device is what the daemon is judged on. */
    return s->ups && s->acks;
}

/* ---- the link's callbacks ---- */

static void on_up_connack(void *ud, uint8_t rc, bool session_present)
{
    struct sess *s = ud;

    if (s->state != SESS_UPSTREAM_WAIT)
        return;
    if (rc != 0) {
        log_warn("upstream refused session for client_id=\"%s\" (CONNACK %u); answering CONNACK 3",
                 s->client_id, rc);
        sess_send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "upstream refused");
        return;
    }
    /* Only now, with the new session authenticated and bridged, does it
     * replace an older one for the same device (Google kept one connection
     * per device and closed the existing one). */
    if (s->pers == SESS_AWS) {
        /* AWS: the newer connection with a client id wins; the older one is
         * dropped (DUPLICATE_CLIENTID) [aws-iot-core.md 3.6]. */
        struct sess *old = sess_hub_find_aws(s->hub, s->aws->client_id);
        if (old && old != s) {
            log_info("session replaced peer=%s client_id=\"%s\" by a new connection from %s",
                     old->peer, old->client_id, s->peer);
            old->disc_reason = "DUPLICATE_CLIENTID";
            sess_close(old, "replaced by a new connection with the same client id");
        }
        sess_hub_insert(s->hub, s);
        sess_aws_presence_connected(s);
        s->resumed = session_present && s->aws->persistent;
        /* Persistent sessions live in the broker as the upstream session
         * (same clean-session flag), so its session-present is the answer. */
        EMIT(s, MQTT_ENCODED_LEN_CONNACK,
             mqtt_encode_connack(&w_, session_present, MQTT_CONNACK_ACCEPTED));
        goto connected;
    }
    struct sess *old = sess_hub_find(s->hub, s->auth.device.rowid);
    if (old && old != s) {
        log_info("session replaced peer=%s client_id=\"%s\" by a new connection from %s", old->peer,
                 old->client_id, s->peer);
        db_device_set_error(s->hub->db, old->auth.device.rowid, time_now_unix_us(), 6,
                            "mqtt: SERVER: The connection was closed because there is another "
                            "active connection with the same device ID.");
        sess_close(old, "replaced by a new connection");
    }
    sess_hub_insert(s->hub, s);
    /* Google: no persistent sessions, session-present is always 0. */
    sess_send_connack(s, MQTT_CONNACK_ACCEPTED);
connected:
    s->state = SESS_ACTIVE;
    s->hub->stats.connected++;
    log_info("device connected peer=%s client_id=\"%s\" keepalive=%u", s->peer, s->client_id,
             s->keepalive);
    sess_rearm_timer(s);
    if (s->rx_paused) {
        s->rx_paused = false;
        s->ops->rx_flow(s->t, true);
    }
    sess_process_input(s);
}

static void on_up_closed(void *ud, int err)
{
    struct sess *s = ud;

    s->up = NULL;   /* the link frees itself */
    if (s->state == SESS_UPSTREAM_WAIT) {
        log_warn("upstream broker unreachable for client_id=\"%s\" (%s); answering CONNACK 3",
                 s->client_id, err < -1000 ? mqtt_err_name(err) : strerror(-err));
        sess_send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "upstream unavailable");
    } else if (s->state == SESS_ACTIVE) {
        /* No queue lives in the daemon: the device reconnects and resends.
         * The broker also ends an upstream session when a newer one takes
         * its client id: for AWS that is the duplicate-client-id case. */
        s->disc_reason = s->pers == SESS_AWS && sess_aws_newer_exists(s) ? "DUPLICATE_CLIENTID"
                                                                       : "SERVER_ERROR";
        sess_close(s, "upstream session lost");
    }
}

static void on_up_puback(void *ud, uint16_t upid)
{
    struct sess *s = ud;
    size_t n = s->hub->cfg.max_inflight;

    for (size_t i = 0; i < n; i++) {
        if (s->ups[i].device_pid && s->ups[i].upstream_pid == upid) {
            uint16_t dpid = s->ups[i].device_pid;
            s->ups[i].device_pid = 0;
            /* Acknowledged to the device only now that the broker has it. */
            sess_send_ack(s, MQTT_PUBACK, dpid);
            break;
        }
    }
    if (s->state == SESS_ACTIVE && s->in.len)
        sess_process_input(s);
}

/* ---- the ack ring: broker QoS 1 ids, acked upstream in arrival order ---- */

static void ack_flush(struct sess *s)
{
    while (s->acks_count && s->acks[s->acks_head].done) {
        if (s->up)
            upstream_puback(s->up, s->acks[s->acks_head].upstream_pid);
        s->acks_head = (s->acks_head + 1) % s->acks_cap;
        s->acks_count--;
    }
}

/* The broker may have more in flight towards us than we forward (its own
 * max_inflight_messages); drops are acked in order through the ring, which
 * grows up to 4 * max_inflight + 64 entries. */
static bool ack_grow(struct sess *s)
{
    size_t limit = 4 * s->hub->cfg.max_inflight + 64;
    size_t cap = s->acks_cap * 2 > limit ? limit : s->acks_cap * 2;
    struct ack_entry *a;

    if (cap <= s->acks_cap || !(a = malloc(cap * sizeof(*a))))
        return false;
    /* Unrolled from the head, so the ring starts at 0 again. */
    for (size_t k = 0; k < s->acks_count; k++)
        a[k] = s->acks[(s->acks_head + k) % s->acks_cap];
    free(s->acks);
    s->acks = a;
    s->acks_cap = cap;
    s->acks_head = 0;
    return true;
}

/* Queues a broker QoS 1 id in arrival order. Returns false when the ring is
 * full at its limit (the broker exceeded every sane in-flight window). */
static bool ack_push(struct sess *s, uint16_t upid, bool done)
{
    if (s->acks_count == s->acks_cap && !ack_grow(s))
        return false;
    size_t i = (s->acks_head + s->acks_count) % s->acks_cap;
    s->acks[i].upstream_pid = upid;
    s->acks[i].done = done;
    s->acks_count++;
    return true;
}

static void ack_mark_done(struct sess *s, uint16_t upid)
{
    for (size_t k = 0; k < s->acks_count; k++) {
        size_t i = (s->acks_head + k) % s->acks_cap;
        if (!s->acks[i].done && s->acks[i].upstream_pid == upid) {
            s->acks[i].done = true;
            break;
        }
    }
    ack_flush(s);
}

/* ---- broker PUBLISH and SUBACK, relayed to the device ---- */

struct down_slot *sess_down_alloc(struct sess *s)
{
    size_t n = s->hub->cfg.max_inflight;
    if (!s->downs && !(s->downs = calloc(n, sizeof(*s->downs))))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s->downs[i].kind == DOWN_FREE) {
            /* Next free device-side id, skipping ids still in flight. */
            for (;;) {
                uint16_t pid = s->next_device_pid++;
                if (s->next_device_pid == 0)
                    s->next_device_pid = 1;
                bool used = false;
                for (size_t j = 0; j < n; j++)
                    if (s->downs[j].kind != DOWN_FREE && s->downs[j].device_pid == pid)
                        used = true;
                if (!used) {
                    s->downs[i].device_pid = pid;
                    return &s->downs[i];
                }
            }
        }
    }
    return NULL;
}

/* Sends a broker message to the device. Returns true when its upstream
 * ack now waits for the device's PUBACK, false when the caller acks it. */
static bool deliver(struct sess *s, struct mqtt_publish *out, const struct mqtt_publish *p)
{
    if (out->qos == 1) {
        struct down_slot *d = sess_down_alloc(s);
        if (!d) {
            log_warn("delivery dropped peer=%s client_id=\"%s\": device in-flight window full",
                     s->peer, s->client_id);
            return false;
        }
        d->kind = DOWN_RELAY;
        d->upstream_pid = p->packet_id;
        out->packet_id = d->device_pid;
        sess_send_publish(s, out);
        return true;   /* acked upstream when the device acks */
    }
    sess_send_publish(s, out);
    return false;
}

static void on_up_publish(void *ud, const struct mqtt_publish *p)
{
    struct sess *s = ud;
    char topic[1400];
    int tl;

    if (p->qos == 1 && !ack_push(s, p->packet_id, false)) {
        sess_close(s, "too many broker messages in flight");
        return;
    }
    if (s->state != SESS_ACTIVE)
        goto drop;
    if (s->pers == SESS_AWS) {
        const struct sub_entry *sub;
        tl = sess_aws_delivery(s, p, topic, sizeof(topic), &sub);
        if (tl < 0)
            goto drop;
        struct mqtt_publish out = {
            .qos = p->qos < sub->qos ? p->qos : sub->qos,
            .retain = p->retain,      /* retained messages keep the flag (AWS delivers them) */
            .topic = { (const uint8_t *)topic, (size_t)tl },
            .payload = p->payload,
        };
        if (deliver(s, &out, p))
            return;
        goto drop;
    }
    tl = google_map_delivery(&s->ident, p->topic.p, p->topic.len, topic, sizeof(topic));
    for (size_t i = 0; tl < 0 && i < s->n_attached; i++) {
        struct google_ident other = s->ident;
        other.device = s->attached[i].id;
        tl = google_map_delivery(&other, p->topic.p, p->topic.len, topic, sizeof(topic));
    }
    if (tl < 0)
        goto drop;
    const struct sub_entry *sub = sess_sub_match(s, topic, (size_t)tl);
    if (!sub || sub->kind != GOOGLE_SUB_COMMANDS)
        goto drop;   /* default deny: not subscribed, not delivered */

    struct mqtt_publish out = {
        .qos = p->qos < sub->qos ? p->qos : sub->qos,
        .retain = false,          /* the device never sees RETAIN (Google) */
        .topic = { (const uint8_t *)topic, (size_t)tl },
        .payload = p->payload,
    };
    if (deliver(s, &out, p))
        return;
drop:
    if (p->qos == 1)
        ack_mark_done(s, p->packet_id);
}

static void on_up_suback(void *ud, uint16_t pid, const uint8_t *codes, size_t n)
{
    struct sess *s = ud;
    for (size_t i = 0; i < PENDING_SUBACKS; i++) {
        struct pending_suback *ps = s->pending[i];
        if (!ps || ps->upstream_pid != pid)
            continue;
        size_t k = 0;
        for (size_t j = 0; j < ps->count; j++) {
            if (!ps->waits_upstream[j])
                continue;
            if (k < n && codes[k] == MQTT_SUBACK_FAILURE)
                ps->codes[j] = MQTT_SUBACK_FAILURE;
            k++;
        }
        s->pending[i] = NULL;
        for (size_t j = 0; j < s->n_subs; j++)
            if (s->subs[j].upstream_pid == pid)
                s->subs[j].upstream_pid = 0;
        EMIT(s, 4 + ps->count, mqtt_encode_suback(&w_, ps->device_pid, ps->codes, ps->count));
        free(ps);
        return;
    }
}

static void on_up_unsuback(void *ud, uint16_t pid)
{
    (void)ud;
    (void)pid;
}

static const struct upstream_callbacks up_callbacks = {
    .on_connack = on_up_connack,
    .on_puback = on_up_puback,
    .on_suback = on_up_suback,
    .on_unsuback = on_up_unsuback,
    .on_publish = on_up_publish,
    .on_closed = on_up_closed,
};

/* ---- opening, and the device's acks ---- */

int sess_open_upstream(struct sess *s, const char *up_cid, bool clean_session,
                       const struct mqtt_publish *will)
{
    const struct sess_config *cfg = &s->hub->cfg;
    struct upstream_params up = {
        .host = cfg->upstream_host,
        .port = cfg->upstream_port,
        .client_id = up_cid,
        .username = cfg->upstream_username,
        .password = cfg->upstream_password,
        .keepalive = UPSTREAM_KEEPALIVE,
        .clean_session = clean_session,
        .will = will,
        .max_packet = cfg->max_packet + 1024,
        .max_inflight = cfg->max_inflight,
        .connect_timeout_ms = cfg->connect_timeout * 1000,
        .protocol_version = cfg->upstream_protocol_version,
        /* AWS keeps a persistent session for an hour after the device
         * goes [aws-iot-core.md 3.3]. */
        .session_expiry = 3600,
    };
    int e = upstream_open(s->hub->upstream_vh, &up, &up_callbacks, s, &s->up);
    if (e < 0) {
        s->up = NULL;
        log_warn("upstream connect failed for client_id=\"%s\": %s; answering CONNACK 3",
                 s->client_id, strerror(-e));
        sess_send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "upstream unavailable");
        return e;
    }
    s->state = SESS_UPSTREAM_WAIT;
    /* Packets a client sends right after CONNECT [MQTT-3.1.4-5] wait in the
     * input buffer until the upstream session is up. */
    s->rx_paused = true;
    s->ops->rx_flow(s->t, false);
    return 0;
}

void sess_handle_device_puback(struct sess *s, uint16_t pid)
{
    for (size_t i = 0; s->downs && i < s->hub->cfg.max_inflight; i++) {
        struct down_slot *d = &s->downs[i];
        if (d->kind == DOWN_FREE || d->device_pid != pid)
            continue;
        if (d->kind == DOWN_RELAY) {
            ack_mark_done(s, d->upstream_pid);
        } else {
            sess_config_acked(s, d);
        }
        d->kind = DOWN_FREE;
        return;
    }
}
