/* Device sessions: the MQTT state machine between one device connection and
 * its upstream session. See session.h for the contract and DESIGN.md
 * "Upstream link" for the invariants kept here:
 *  - a device's QoS 1 PUBLISH is PUBACKed only after the broker's PUBACK;
 *  - a broker QoS 1 PUBLISH is PUBACKed upstream only when the device acked
 *    it, or at once when the daemon drops it, always in arrival order
 *    [MQTT-4.6.0-2];
 *  - device-side packet ids are the daemon's (bounded in-flight tables);
 *  - upstream loss closes the device; no message queue lives here. */
#include "bridges/mqtt/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/codec5.h"
#include "bridges/mqtt/google.h"
#include "bridges/upstream/upstream.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_device_auth.h"
#include "registry/reg_registry_cfg.h"
#include "bridges/mqtt/session_internal.h"

/* ---- hub ---- */

int sess_hub_new(const struct sess_config *cfg, struct db *db, struct lws_vhost *upstream_vh,
                 struct sess_hub **ret)
{
    struct sess_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->cfg = *cfg;
    h->aws_env.region = h->cfg.aws_region;
    h->aws_env.account = h->cfg.aws_account;
    h->db = db;
    h->upstream_vh = upstream_vh;
    *ret = h;
    return 0;
}

void sess_hub_free(struct sess_hub *hub)
{
    if (!hub)
        return;
    free(hub->all);
    free(hub);
}

const struct sess_stats *sess_hub_stats(const struct sess_hub *hub)
{
    return &hub->stats;
}

size_t sess_hub_count(const struct sess_hub *hub)
{
    return hub->n_all;
}

static size_t bucket_of(int64_t rowid)
{
    return (size_t)((uint64_t)rowid * 0x9E3779B97F4A7C15ull >> 52) % HUB_BUCKETS;
}

struct sess *sess_hub_find(struct sess_hub *h, int64_t rowid)
{
    for (struct sess *s = h->buckets[bucket_of(rowid)]; s; s = s->hub_next)
        if (s->auth.device.rowid == rowid)
            return s;
    return NULL;
}

static void hub_insert(struct sess_hub *h, struct sess *s)
{
    if (s->pers == SESS_AWS) {
        sess_hub_insert_aws(h, s);
        return;
    }
    size_t b = bucket_of(s->auth.device.rowid);
    s->hub_next = h->buckets[b];
    h->buckets[b] = s;
    s->in_hub = true;
}

static void hub_remove(struct sess_hub *h, struct sess *s)
{
    if (!s->in_hub)
        return;
    if (s->pers == SESS_AWS) {
        sess_hub_remove_aws(h, s);
        return;
    }
    for (struct sess **pp = &h->buckets[bucket_of(s->auth.device.rowid)]; *pp; pp = &(*pp)->hub_next) {
        if (*pp == s) {
            *pp = s->hub_next;
            break;
        }
    }
    s->in_hub = false;
}

/* Every live session sits in hub->all at s->all_index (O(1) removal). */
static int hub_track(struct sess_hub *h, struct sess *s)
{
    if (h->n_all == h->all_cap) {
        size_t ncap = h->all_cap ? h->all_cap * 2 : 64;
        struct sess **n = realloc(h->all, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        h->all = n;
        h->all_cap = ncap;
    }
    s->all_index = h->n_all;
    h->all[h->n_all++] = s;
    return 0;
}

static void hub_untrack(struct sess_hub *h, struct sess *s)
{
    size_t i = s->all_index;
    if (i >= h->n_all || h->all[i] != s)
        return;
    h->all[i] = h->all[--h->n_all];
    h->all[i]->all_index = i;
}

int sess_hub_device_changed(struct sess_hub *hub, int64_t device_rowid, bool deleted)
{
    struct sess *s = sess_hub_find(hub, device_rowid);
    if (!s) {
        /* A device attached through a gateway: detach it when it is gone or
         * blocked; its credentials do not matter to the gateway's session. */
        struct db_device d;
        memset(&d, 0, sizeof(d));
        int r = deleted ? -ENOENT : db_device_get_by_rowid(hub->db, device_rowid, &d);
        if (r == -ENOENT || (r >= 0 && d.blocked))
            sess_gateway_forget(hub, device_rowid);
        if (r >= 0)
            db_device_clear(&d);
        return 0;
    }
    if (deleted) {
        sess_close(s, "device deleted");
        return 1;
    }
    struct db_device d;
    memset(&d, 0, sizeof(d));
    int r = db_device_get_by_id(hub->db, s->auth.registry.rowid, s->auth.device.id, &d);
    if (r == -ENOENT || (r >= 0 && d.blocked)) {
        if (r >= 0)
            db_device_clear(&d);
        sess_close(s, r == -ENOENT ? "device deleted" : "device blocked");
        return 1;
    }
    if (r >= 0)
        db_device_clear(&d);
    /* Removing (or expiring) the credential the session authenticated with
     * ends it, even when the device keeps other keys. */
    int live = reg_credential_still_live(hub->db, device_rowid, s->auth.credential_digest,
                                         time_now_unix());
    if (live == 0) {
        sess_close(s, "credential removed");
        return 1;
    }
    return 0;
}

int sess_hub_command_target(struct sess_hub *hub, int64_t device_rowid, const char *subfolder)
{
    struct sess *s = sess_hub_reach(hub, device_rowid);
    char topic[1400];
    const char *id = NULL;

    if (!s || s->state != SESS_ACTIVE)
        return -ENOTCONN;
    if (s->auth.device.rowid == device_rowid)
        id = s->auth.device.id;
    for (size_t i = 0; !id && i < s->n_attached; i++)
        if (s->attached[i].rowid == device_rowid)
            id = s->attached[i].id;
    if (!id)
        return -ENOTCONN;
    int n = snprintf(topic, sizeof(topic), "/devices/%s/commands%s%s", id,
                     subfolder && *subfolder ? "/" : "", subfolder ? subfolder : "");
    if (n < 0 || (size_t)n >= sizeof(topic))
        return -ENOENT;
    const struct sub_entry *sub = sess_sub_match(s, topic, (size_t)n);
    return sub && sub->kind == GOOGLE_SUB_COMMANDS ? 0 : -ENOENT;
}

void sess_hub_close_all(struct sess_hub *hub)
{
    /* sess_close does not free (the transport's close callback does), so
     * the array is stable while we walk it. */
    for (size_t i = 0; i < hub->n_all; i++)
        sess_close(hub->all[i], "daemon shutting down");
}

/* ---- output ---- */

static void send_connack(struct sess *s, uint8_t rc)
{
    EMIT(s, MQTT_ENCODED_LEN_CONNACK, mqtt_encode_connack(&w_, false, rc));
}

void sess_send_ack(struct sess *s, enum mqtt_type type, uint16_t pid)
{
    EMIT(s, MQTT_ENCODED_LEN_ACK, mqtt_encode_ack(&w_, type, pid));
}

void sess_send_publish(struct sess *s, const struct mqtt_publish *p)
{
    size_t len = mqtt_encoded_len_publish(p);
    EMIT(s, len, mqtt_encode_publish(&w_, p));
    s->hub->stats.publishes_out++;
}

void sess_output(struct sess *s, const uint8_t **ret_p, size_t *ret_len)
{
    *ret_p = s->out.data;
    *ret_len = s->out.len;
}

void sess_output_consume(struct sess *s, size_t n)
{
    buf_consume(&s->out, n);
}

/* ---- lifecycle ---- */

int sess_new(struct sess_hub *hub, const struct sess_transport_ops *ops, void *t, const char *peer,
             struct sess **ret)
{
    struct sess *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->hub = hub;
    s->ops = ops;
    s->t = t;
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    snprintf(s->client_id, sizeof(s->client_id), "-");
    /* Room for one maximal packet plus what one more read can bring while
     * input is paused. */
    buf_init(&s->in, hub->cfg.max_packet + 64 * 1024);
    /* Output: a few maximal deliveries; a device that does not read beyond
     * that is dropped. */
    buf_init(&s->out, 4 * hub->cfg.max_packet + 64 * 1024);
    s->state = SESS_WAIT_CONNECT;
    s->connect_deadline = time_now_mono_ms() + (int64_t)hub->cfg.connect_timeout * 1000;
    s->last_rx = time_now_mono_ms();
    s->next_device_pid = 1;
    if (hub_track(hub, s) < 0) {
        free(s);
        return -ENOMEM;
    }
    hub->stats.accepted++;
    hub->stats.current++;
    sess_rearm_timer(s);
    *ret = s;
    return 0;
}

static void end_upstream(struct sess *s)
{
    if (!s->up)
        return;
    /* Google devices had no Will: always a clean DISCONNECT upstream. AWS
     * devices that vanish without DISCONNECT (network loss, kick, shutdown)
     * end their upstream session without one either, so the broker
     * publishes their Will; their own DISCONNECT is forwarded. */
    upstream_close(s->up, s->pers == SESS_GOOGLE || s->client_disconnected);
    s->up = NULL;
}

void sess_close(struct sess *s, const char *why)
{
    if (s->state == SESS_CLOSING)
        return;
    if (s->state == SESS_ACTIVE)
        log_info("session closed peer=%s client_id=\"%s\": %s", s->peer, s->client_id, why);
    else
        log_debug("connection closed peer=%s client_id=\"%s\": %s", s->peer, s->client_id, why);
    s->state = SESS_CLOSING;
    hub_remove(s->hub, s);
    end_upstream(s);
    s->ops->arm_timer(s->t, -1);
    s->ops->close(s->t);
}

void sess_on_transport_closed(struct sess *s)
{
    if (!s)
        return;
    if (s->state == SESS_ACTIVE)
        log_info("session closed peer=%s client_id=\"%s\": connection lost", s->peer, s->client_id);
    hub_remove(s->hub, s);
    hub_untrack(s->hub, s);
    end_upstream(s);
    s->hub->stats.current--;
    if (s->authenticated)
        reg_google_auth_clear(&s->auth);
    if (s->aws) {
        reg_aws_auth_clear(s->aws);
        free(s->aws);
    }
    buf_free(&s->in);
    buf_free(&s->out);
    free(s->ups);
    free(s->downs);
    free(s->acks);
    for (size_t i = 0; i < s->n_subs; i++)
        free(s->subs[i].filter);
    for (size_t i = 0; i < PENDING_SUBACKS; i++)
        free(s->pending[i]);
    free(s->subs);
    free(s->routes);
    free(s->attached);
    free(s);
}

/* ---- timers ---- */

static int64_t keepalive_deadline(const struct sess *s)
{
    if (s->pers == SESS_AWS)    /* clamped to 30..1200 s at CONNECT, never 0 */
        return s->last_rx + (int64_t)s->keepalive * 1500;
    int64_t idle = (int64_t)GOOGLE_IDLE_LIMIT_S * 1000;
    /* 1.5x the keepalive [MQTT-3.1.2-24], and never beyond Google's hard
     * 20-minute idle limit (which also covers keepalive 0). */
    if (s->keepalive && (int64_t)s->keepalive * 1500 < idle)
        idle = (int64_t)s->keepalive * 1500;
    return s->last_rx + idle;
}

static int64_t next_deadline(const struct sess *s)
{
    if (s->state != SESS_ACTIVE)
        return s->connect_deadline;
    int64_t next = keepalive_deadline(s);
    if (s->token_deadline < next)
        next = s->token_deadline;
    int64_t resend = sess_config_next_resend(s);
    if (resend < next)
        next = resend;
    return next;
}

/* lws keeps timers in one sorted list (O(n) inserts), so the timer is moved
 * only when the next deadline comes earlier than the armed one; a deadline
 * that moved later (traffic extends keepalive) is found when the timer
 * fires and sess_on_timer re-arms. Roughly one insert per keepalive period
 * per session instead of one per packet. */
void sess_rearm_timer(struct sess *s)
{
    if (s->state == SESS_CLOSING)
        return;
    int64_t next = next_deadline(s);
    if (s->timer_at && s->timer_at <= next)
        return;
    int64_t ms = next - time_now_mono_ms();
    s->timer_at = next;
    s->ops->arm_timer(s->t, ms < 0 ? 0 : ms);
}

void sess_on_timer(struct sess *s)
{
    int64_t now = time_now_mono_ms();

    s->timer_at = 0;
    if (s->state == SESS_CLOSING)
        return;
    if (s->state == SESS_ACTIVE && s->rx_paused) {
        /* Input waits for room upstream (output queue or in-flight
         * window): retry it. */
        sess_process_input(s);
        if (s->state == SESS_CLOSING)
            return;
    }
    if (s->state != SESS_ACTIVE) {
        if (now >= s->connect_deadline) {
            log_info("connection dropped peer=%s: no CONNECT completed within %d s", s->peer,
                     s->hub->cfg.connect_timeout);
            sess_close(s, "connect timeout");
            return;
        }
    } else if (now >= s->token_deadline) {
        /* Google closed the connection at token expiry plus skew; we also
         * enforce the hourly refresh. lastErrorStatus as Google set it. */
        log_info("session closed peer=%s client_id=\"%s\": token deadline reached reason=token-expired",
                 s->peer, s->client_id);
        db_device_set_error(s->hub->db, s->auth.device.rowid, time_now_unix_us(), 16,
                            "mqtt: SERVER: The authorization token expired.");
        sess_close(s, "token expired");
        return;
    } else if (now >= keepalive_deadline(s)) {
        sess_close(s, "keepalive timeout");
        return;
    } else {
        sess_config_resend_due(s, now);
    }
    sess_rearm_timer(s);
}

/* ---- upstream callbacks ---- */

bool sess_alloc_tables(struct sess *s)
{
    size_t n = s->hub->cfg.max_inflight;
    s->ups = calloc(n, sizeof(*s->ups));
    s->downs = calloc(n, sizeof(*s->downs));
    /* The broker may have more in flight towards us than we forward (its own
     * max_inflight_messages); drops are acked in order through this ring. */
    s->acks_cap = 4 * n + 64;
    s->acks = calloc(s->acks_cap, sizeof(*s->acks));
    /* Subscriptions grow on demand: most devices hold two (config and
     * commands), and idle memory per device is what the daemon is judged on. */
    return s->ups && s->downs && s->acks;
}

static void on_up_connack(void *ud, uint8_t rc, bool session_present)
{
    struct sess *s = ud;

    if (s->state != SESS_UPSTREAM_WAIT)
        return;
    if (rc != 0) {
        log_warn("upstream refused session for client_id=\"%s\" (CONNACK %u); answering CONNACK 3",
                 s->client_id, rc);
        send_connack(s, MQTT_CONNACK_UNAVAILABLE);
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
            sess_close(old, "replaced by a new connection with the same client id");
        }
        hub_insert(s->hub, s);
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
    hub_insert(s->hub, s);
    /* Google: no persistent sessions, session-present is always 0. */
    send_connack(s, MQTT_CONNACK_ACCEPTED);
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
        send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "upstream unavailable");
    } else if (s->state == SESS_ACTIVE) {
        /* No queue lives in the daemon: the device reconnects and resends. */
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

static void ack_flush(struct sess *s)
{
    while (s->acks_count && s->acks[s->acks_head].done) {
        if (s->up)
            upstream_puback(s->up, s->acks[s->acks_head].upstream_pid);
        s->acks_head = (s->acks_head + 1) % s->acks_cap;
        s->acks_count--;
    }
}

/* Queues a broker QoS 1 id in arrival order. Returns false when the ring is
 * full (the broker exceeded every sane in-flight window). */
static bool ack_push(struct sess *s, uint16_t upid, bool done)
{
    if (s->acks_count == s->acks_cap)
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

struct down_slot *sess_down_alloc(struct sess *s)
{
    size_t n = s->hub->cfg.max_inflight;
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

const struct sub_entry *sess_sub_match(const struct sess *s, const char *topic, size_t len)
{
    const struct sub_entry *best = NULL;
    bool (*matches)(const uint8_t *, size_t, const uint8_t *, size_t) =
        s->pers == SESS_AWS ? aws_topic_matches : mqtt_topic_matches;
    for (size_t i = 0; i < s->n_subs; i++) {
        if (matches((const uint8_t *)s->subs[i].filter, strlen(s->subs[i].filter),
                    (const uint8_t *)topic, len) &&
            (!best || s->subs[i].qos > best->qos))
            best = &s->subs[i];
    }
    return best;
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

/* ---- packet handlers ---- */

void sess_refuse(struct sess *s, enum reg_auth_reason reason)
{
    int code = reg_auth_reason_connack(reason);
    if ((size_t)reason < SESS_AUTH_REASONS)
        s->hub->stats.auth_refused[reason]++;
    if (s->pers == SESS_AWS) {
        /* AWS answers an MQTT 3.1.1 CONNECT it refuses with no CONNACK:
         * the connection just closes (clients report "connection lost")
         * [aws-iot-core.md 1.8]. The log says why. */
        log_info("connection refused peer=%s client_id=\"%s\" connack=none reason=%s", s->peer,
                 s->client_id, reg_auth_reason_word(reason));
        sess_close(s, "refused");
        return;
    }
    log_info("connection refused peer=%s client_id=\"%s\" connack=%d reason=%s", s->peer,
             s->client_id, code, reg_auth_reason_word(reason));
    send_connack(s, (uint8_t)code);
    sess_close(s, "refused");
}

static int handle_connect(struct sess *s, const struct mqtt_connect *c)
{
    const struct sess_config *cfg = &s->hub->cfg;

    log_escape(s->client_id, sizeof(s->client_id), c->client_id.p, c->client_id.len);
    /* A client certificate means AWS-style, whatever the client id
     * (DESIGN.md "Personality"). */
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (s->ops->peer_cert && s->ops->peer_cert(s->t, &der, &der_len) == 0)
        return sess_aws_connect(s, c, der, der_len);
    if (!reg_google_client_id_is_google((const char *)c->client_id.p, c->client_id.len)) {
        /* The plain (username/password) scheme comes with a later issue:
         * nothing matches, CONNACK 5 (DESIGN.md). */
        sess_refuse(s, REG_AUTH_NO_SCHEME);
        return -EACCES;
    }
    struct reg_jwt_rules rules = {
        .audience = NULL,
        .clock_skew = cfg->clock_skew,
        .max_lifetime = cfg->max_token_lifetime,
        .refresh_interval = cfg->refresh_interval,
    };
    int64_t now = time_now_unix();
    enum reg_auth_reason r = reg_google_authenticate(
        s->hub->db, (const char *)c->client_id.p, c->client_id.len, c->password.p, c->password.len,
        c->has_password, &rules, now, &s->auth);
    if (r != REG_AUTH_OK) {
        sess_refuse(s, r);
        return -EACCES;
    }
    s->authenticated = true;
    struct reg_registry_cfg rc;
    if (reg_registry_cfg_parse(s->auth.registry.extra_json, &rc) < 0) {
        sess_refuse(s, REG_AUTH_STORE_ERROR);
        return -EIO;
    }
    if (!rc.mqtt_enabled) {
        /* Google refused devices of a registry with MQTT_DISABLED. */
        sess_refuse(s, REG_AUTH_MQTT_DISABLED);
        return -EACCES;
    }
    if (rc.n_event_routes || rc.has_state_route) {
        s->routes = malloc(sizeof(*s->routes));
        if (!s->routes) {
            send_connack(s, MQTT_CONNACK_UNAVAILABLE);
            sess_close(s, "out of memory");
            return -ENOMEM;
        }
        *s->routes = rc;
    }
    reg_gateway_cfg_parse(s->auth.device.extra_json, &s->gw);
    s->ident.prefix = cfg->google_prefix;
    s->ident.project = s->auth.registry.project;
    s->ident.location = s->auth.registry.location;
    s->ident.registry = s->auth.registry.id;
    s->ident.device = s->auth.device.id;
    s->token_deadline = time_now_mono_ms() + (s->auth.token.deadline - now) * 1000;
    s->keepalive = c->keepalive;
    if (c->will)
        log_info("peer=%s client_id=\"%s\": Will dropped (Google IoT Core had no Last Will)", s->peer,
                 s->client_id);
    if (!sess_alloc_tables(s)) {
        send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "out of memory");
        return -ENOMEM;
    }

    /* One upstream session per device, named after the device; clean,
     * because Google kept no session state (clean session 0 is treated as
     * clean and answered with session-present 0). */
    char up_cid[1400];
    snprintf(up_cid, sizeof(up_cid), "%sg:%s/%s/%s/%s", cfg->client_id_prefix,
             s->auth.registry.project, s->auth.registry.location, s->auth.registry.id,
             s->auth.device.id);
    return sess_open_upstream(s, up_cid, true, NULL);
}

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
        send_connack(s, MQTT_CONNACK_UNAVAILABLE);
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

/* Room for one more subscription (doubling, capped by max_subscriptions). */
static bool grow_subs(struct sess *s)
{
    if (s->n_subs < s->cap_subs)
        return true;
    size_t ncap = s->cap_subs ? s->cap_subs * 2 : 2;
    if (ncap > s->hub->cfg.max_subscriptions)
        ncap = s->hub->cfg.max_subscriptions;
    struct sub_entry *n = realloc(s->subs, ncap * sizeof(*n));
    if (!n)
        return false;
    s->subs = n;
    s->cap_subs = ncap;
    return s->n_subs < s->cap_subs;
}

void sess_sub_remove(struct sess *s, size_t j)
{
    free(s->subs[j].filter);
    s->subs[j] = s->subs[--s->n_subs];
}

static int handle_subscribe(struct sess *s, const struct mqtt_subscribe *sub)
{
    struct pending_suback *ps = NULL;
    struct mqtt_topic_qos up_filters[MQTT_MAX_FILTERS];
    char up_names[MQTT_MAX_FILTERS][SUB_FILTER_MAX];
    size_t n_up = 0, slot = PENDING_SUBACKS;

    if (s->pers == SESS_AWS && sub->count > AWS_MAX_FILTERS_PER_SUBSCRIBE) {
        /* AWS: at most 8 filters per SUBSCRIBE [aws-iot-core.md 3.8]. */
        sess_close(s, "more than 8 filters in one SUBSCRIBE (AWS limit)");
        return -EPROTO;
    }
    for (size_t i = 0; i < PENDING_SUBACKS; i++)
        if (!s->pending[i])
            slot = i;
    if (slot == PENDING_SUBACKS) {
        sess_close(s, "too many SUBSCRIBEs awaiting the broker");
        return -EPROTO;
    }
    /* Allocated per SUBSCRIBE: an idle session keeps none. */
    ps = calloc(1, sizeof(*ps));
    if (!ps) {
        sess_close(s, "out of memory");
        return -ENOMEM;
    }
    ps->device_pid = sub->packet_id;
    ps->count = sub->count;
    for (size_t i = 0; i < sub->count; i++) {
        const struct mqtt_topic_qos *f = &sub->filters[i];
        enum google_sub_kind kind;
        struct google_ident target;
        int64_t target_rowid = 0;
        /* Google granted QoS 1 for a QoS 2 request. */
        uint8_t qos = f->qos > 1 ? 1 : f->qos;
        int ul = -EACCES;
        if (s->pers == SESS_AWS) {
            kind = GOOGLE_SUB_COMMANDS;     /* relayed from the broker */
            ul = sess_aws_subscribe_filter(s, f, up_names[n_up], SUB_FILTER_MAX);
        } else if (sess_target(s, f->filter.p, f->filter.len, &target, &target_rowid))
            /* The device's own topics, or (gateways) those of an attached
             * device; a gateway's errors topic only for itself. */
            ul = google_map_subscribe(&target, f->filter.p, f->filter.len, up_names[n_up],
                                      SUB_FILTER_MAX, &kind);
        if (ul >= 0 && kind == GOOGLE_SUB_ERRORS &&
            (!s->gw.is_gateway || target_rowid != s->auth.device.rowid))
            ul = -EACCES;
        if (ul < 0 || f->filter.len >= SUB_FILTER_MAX) {
            char esc[300];
            log_info("subscription refused peer=%s client_id=\"%s\" filter=\"%s\"", s->peer,
                     s->client_id, log_escape(esc, sizeof(esc), f->filter.p, f->filter.len));
            ps->codes[i] = MQTT_SUBACK_FAILURE;
            continue;
        }
        /* Replace an existing identical filter [MQTT-3.8.4-3], else add. */
        struct sub_entry *e = NULL;
        for (size_t j = 0; j < s->n_subs; j++)
            if (strlen(s->subs[j].filter) == f->filter.len &&
                memcmp(s->subs[j].filter, f->filter.p, f->filter.len) == 0)
                e = &s->subs[j];
        if (!e) {
            char *copy = NULL;
            if (s->n_subs >= s->hub->cfg.max_subscriptions || !grow_subs(s) ||
                !(copy = malloc(f->filter.len + 1))) {
                ps->codes[i] = MQTT_SUBACK_FAILURE;
                continue;
            }
            memcpy(copy, f->filter.p, f->filter.len);
            copy[f->filter.len] = '\0';
            e = &s->subs[s->n_subs++];
            e->filter = copy;
        }
        e->qos = qos;
        e->kind = kind;
        e->device_rowid = target_rowid;
        ps->codes[i] = qos;
        if (kind == GOOGLE_SUB_COMMANDS) {
            up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
            up_filters[n_up].filter.len = (size_t)ul;
            up_filters[n_up].qos = qos;
            ps->waits_upstream[i] = true;
            n_up++;
        } else if (kind == GOOGLE_SUB_CONFIG) {
            ps->config_devices[ps->n_config_devices++] = target_rowid;
        }
    }
    if (n_up && s->up && upstream_subscribe(s->up, up_filters, n_up, &ps->upstream_pid) >= 0) {
        ps->used = true;     /* SUBACK when the broker's SUBACK arrives */
        s->pending[slot] = ps;
    } else {
        for (size_t i = 0; i < ps->count; i++)
            if (ps->waits_upstream[i])
                ps->codes[i] = MQTT_SUBACK_FAILURE;
        EMIT(s, 4 + ps->count, mqtt_encode_suback(&w_, ps->device_pid, ps->codes, ps->count));
    }
    /* Google sent the latest config as soon as the subscription was made. */
    for (size_t i = 0; i < ps->n_config_devices; i++) {
        int64_t rowid = ps->config_devices[i];
        const struct sub_entry *cs = sess_config_subscription(s, rowid);
        struct google_ident target;
        int64_t r2;
        if (cs && sess_target(s, (const uint8_t *)cs->filter, strlen(cs->filter), &target, &r2))
            sess_config_deliver(s, rowid, target.device, cs->qos);
    }
    if (!ps->used)
        free(ps);
    return 0;
}

static int handle_unsubscribe(struct sess *s, const struct mqtt_subscribe *uns)
{
    struct mqtt_topic_qos up_filters[MQTT_MAX_FILTERS];
    char up_names[MQTT_MAX_FILTERS][SUB_FILTER_MAX];
    size_t n_up = 0;

    for (size_t i = 0; i < uns->count; i++) {
        const struct mqtt_slice *f = &uns->filters[i].filter;
        if (s->pers == SESS_AWS) {
            /* Forwarded whether or not this connection made the
             * subscription: a resumed persistent session holds
             * subscriptions only the broker knows. */
            int ul = aws_map_up(s->hub->cfg.aws_prefix, f->p, f->len, up_names[n_up],
                                SUB_FILTER_MAX);
            if (ul > 0 && f->len < SUB_FILTER_MAX) {
                up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
                up_filters[n_up].filter.len = (size_t)ul;
                up_filters[n_up].qos = 0;
                n_up++;
            }
        }
        for (size_t j = 0; j < s->n_subs; j++) {
            if (strlen(s->subs[j].filter) != f->len || memcmp(s->subs[j].filter, f->p, f->len) != 0)
                continue;
            enum google_sub_kind kind;
            struct google_ident target;
            int64_t target_rowid;
            int ul = -EACCES;
            if (s->pers != SESS_AWS && sess_target(s, f->p, f->len, &target, &target_rowid))
                ul = google_map_subscribe(&target, f->p, f->len, up_names[n_up], SUB_FILTER_MAX,
                                          &kind);
            if (ul > 0 && kind == GOOGLE_SUB_COMMANDS) {
                up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
                up_filters[n_up].filter.len = (size_t)ul;
                up_filters[n_up].qos = 0;
                n_up++;
            }
            sess_sub_remove(s, j);
            break;
        }
    }
    if (n_up && s->up) {
        uint16_t pid;
        upstream_unsubscribe(s->up, up_filters, n_up, &pid);
    }
    sess_send_ack(s, MQTT_UNSUBACK, uns->packet_id);
    return 0;
}

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

const char *sess_rate_over(struct sess *s, size_t payload_len, int max_messages, int max_bytes)
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
 * the broker publish, the in-flight slot. Returns as handle_publish. */
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
    const char *over = sess_rate_over(s, p->payload.len, s->hub->cfg.aws_max_messages_per_second,
                                      s->hub->cfg.aws_max_bytes_per_second);
    if (over) {
        sess_close(s, over);
        return -EBUSY;
    }
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
static int handle_publish(struct sess *s, const struct mqtt_publish *p)
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
    const char *over = sess_rate_over(s, p->payload.len, s->hub->cfg.max_messages_per_second,
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

static void handle_device_puback(struct sess *s, uint16_t pid)
{
    for (size_t i = 0; i < s->hub->cfg.max_inflight; i++) {
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

/* Handles one decoded packet. Returns 1 to stop and keep it for later, 0 when
 * consumed, negative when the session closed. */
static int dispatch(struct sess *s, const struct mqtt_packet *pk)
{
    if (s->state == SESS_WAIT_CONNECT) {
        if (pk->type != MQTT_CONNECT) {
            /* [MQTT-3.1.0-1] the first packet must be CONNECT. */
            sess_close(s, "first packet is not CONNECT");
            return -EPROTO;
        }
        return handle_connect(s, &pk->u.connect);
    }
    switch (pk->type) {
    case MQTT_CONNECT:
        sess_close(s, "second CONNECT [MQTT-3.1.0-2]");
        return -EPROTO;
    case MQTT_PUBLISH:
        return handle_publish(s, &pk->u.publish);
    case MQTT_PUBACK:
        handle_device_puback(s, pk->u.ack.packet_id);
        return 0;
    case MQTT_SUBSCRIBE:
        return handle_subscribe(s, &pk->u.subscribe);
    case MQTT_UNSUBSCRIBE:
        return handle_unsubscribe(s, &pk->u.subscribe);
    case MQTT_PINGREQ:
        EMIT(s, 2, mqtt_encode_empty(&w_, MQTT_PINGRESP));
        if (s->pers == SESS_GOOGLE)
            db_device_mark(s->hub->db, s->auth.device.rowid, DB_MARK_HEARTBEAT,
                           time_now_unix_us());
        return 0;
    case MQTT_DISCONNECT:
        /* A clean end: the Will (none for Google) is discarded; AWS
         * devices' DISCONNECT is forwarded upstream so the broker discards
         * it too. */
        s->client_disconnected = true;
        sess_close(s, "client disconnected");
        return -ECONNRESET;
    default:
        /* PUBREC/PUBREL/PUBCOMP: QoS 2 does not exist for Google devices. */
        sess_close(s, "QoS 2 flow packet");
        return -EPROTO;
    }
}

int sess_process_input(struct sess *s)
{
    size_t off = 0;
    int r = 0;

    while (s->state == SESS_WAIT_CONNECT || s->state == SESS_ACTIVE) {
        int n = mqtt_frame(s->in.data + off, s->in.len - off, s->hub->cfg.max_packet);
        if (n == 0)
            break;
        struct mqtt_packet pk;
        r = n < 0 ? n : mqtt_decode(s->in.data + off, (size_t)n, MQTT_ROLE_SERVER, &pk);
        if (r < 0) {
            s->hub->stats.malformed++;
            if (r == MQTT_E_PROTOCOL_LEVEL && s->state == SESS_WAIT_CONNECT) {
                /* [MQTT-3.1.2-2] unacceptable protocol level: CONNACK 1. */
                s->hub->stats.auth_refused[REG_AUTH_BAD_PROTOCOL]++;
                log_info("connection refused peer=%s connack=1 reason=bad-protocol", s->peer);
                send_connack(s, MQTT_CONNACK_BAD_PROTOCOL);
            } else if (r == MQTT_E_CLIENT_ID_EMPTY && s->state == SESS_WAIT_CONNECT) {
                /* [MQTT-3.1.3-9] empty client id with clean session 0: CONNACK 2. */
                s->hub->stats.auth_refused[REG_AUTH_BAD_CLIENT_ID]++;
                log_info("connection refused peer=%s connack=2 reason=bad-client-id", s->peer);
                send_connack(s, MQTT_CONNACK_ID_REJECTED);
            } else {
                log_info("malformed packet from peer=%s client_id=\"%s\": %s; closing", s->peer,
                         s->client_id, mqtt_err_name(r));
            }
            sess_close(s, "malformed packet");
            break;
        }
        s->last_rx = time_now_mono_ms();
        r = dispatch(s, &pk);
        if (r == 1)
            break;      /* keep the packet; resumed by a PUBACK from the broker */
        off += (size_t)n;
        if (r < 0)
            break;
    }
    if (s->in.data)
        buf_consume(&s->in, off);
    if (s->state == SESS_ACTIVE) {
        /* Stop reading while a complete packet waits for room upstream. A
         * broker PUBACK resumes at once; the retry timer covers a full
         * output queue, which no PUBACK signals (QoS 0). */
        bool waiting = r == 1;
        if (waiting != s->rx_paused) {
            s->rx_paused = waiting;
            s->ops->rx_flow(s->t, !waiting);
        }
        if (waiting) {
            s->timer_at = time_now_mono_ms() + RETRY_MS;
            s->ops->arm_timer(s->t, RETRY_MS);
        } else {
            sess_rearm_timer(s);
        }
    }
    return r < 0 ? r : 0;
}

int sess_on_rx(struct sess *s, const uint8_t *data, size_t len)
{
    if (s->state == SESS_CLOSING)
        return -ECONNRESET;
    int r = buf_append(&s->in, data, len);
    if (r < 0) {
        log_info("input overflow from peer=%s client_id=\"%s\"; closing", s->peer, s->client_id);
        sess_close(s, "input overflow");
        return r;
    }
    if (s->state == SESS_UPSTREAM_WAIT)
        return 0;
    return sess_process_input(s);
}
