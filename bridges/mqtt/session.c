/* Device sessions: one per device connection (see session.h for the
 * contract). This file owns the session's life (new, close, the transport
 * gone), its timers (CONNECT deadline, keepalive, token deadline, config
 * resends), its output buffer, and the input path: framing, decoding and
 * the one dispatch switch per packet type. The handlers live beside it:
 * session_connect.c, session_publish.c, session_subscribe.c, the upstream
 * side in session_upstream.c, the hub in session_hub.c; the personalities'
 * parts in session_aws.c, session_config.c and session_gateway.c. */
#include "bridges/mqtt/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/google.h"
#include "bridges/upstream/upstream.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_device_auth.h"
#include "bridges/mqtt/session_internal.h"

/* ---- output ---- */

void sess_send_connack(struct sess *s, uint8_t rc)
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
    /* Most devices are idle most of the time: hold no buffer between
     * packets (a malloc per burst costs far less than the TLS record). */
    buf_release_if_empty(&s->out);
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
    if (sess_hub_track(hub, s) < 0) {
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
    if (s->state == SESS_ACTIVE) {
        log_info("session closed peer=%s client_id=\"%s\": %s", s->peer, s->client_id, why);
        if (s->pers == SESS_AWS)
            sess_aws_presence_disconnected(s, "SERVER_INITIATED_DISCONNECT");
    } else
        log_debug("connection closed peer=%s client_id=\"%s\": %s", s->peer, s->client_id, why);
    s->state = SESS_CLOSING;
    sess_hub_remove(s->hub, s);
    end_upstream(s);
    s->ops->arm_timer(s->t, -1);
    s->ops->close(s->t);
}

void sess_on_transport_closed(struct sess *s)
{
    if (!s)
        return;
    if (s->state == SESS_ACTIVE) {
        log_info("session closed peer=%s client_id=\"%s\": connection lost", s->peer, s->client_id);
        if (s->pers == SESS_AWS)
            sess_aws_presence_disconnected(s, "CONNECTION_LOST");
    }
    sess_hub_remove(s->hub, s);
    sess_hub_untrack(s->hub, s);
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
        s->disc_reason = "MQTT_KEEP_ALIVE_TIMEOUT";
        sess_close(s, "keepalive timeout");
        return;
    } else {
        sess_config_resend_due(s, now);
    }
    sess_rearm_timer(s);
}

/* ---- input ---- */

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
        return sess_handle_connect(s, &pk->u.connect);
    }
    switch (pk->type) {
    case MQTT_CONNECT:
        sess_close(s, "second CONNECT [MQTT-3.1.0-2]");
        return -EPROTO;
    case MQTT_PUBLISH:
        return sess_handle_publish(s, &pk->u.publish);
    case MQTT_PUBACK:
        sess_handle_device_puback(s, pk->u.ack.packet_id);
        return 0;
    case MQTT_SUBSCRIBE:
        return sess_handle_subscribe(s, &pk->u.subscribe);
    case MQTT_UNSUBSCRIBE:
        return sess_handle_unsubscribe(s, &pk->u.subscribe);
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
        s->disc_reason = "CLIENT_INITIATED_DISCONNECT";
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
                sess_send_connack(s, MQTT_CONNACK_BAD_PROTOCOL);
            } else if (r == MQTT_E_CLIENT_ID_EMPTY && s->state == SESS_WAIT_CONNECT) {
                /* [MQTT-3.1.3-9] empty client id with clean session 0: CONNACK 2. */
                s->hub->stats.auth_refused[REG_AUTH_BAD_CLIENT_ID]++;
                log_info("connection refused peer=%s connack=2 reason=bad-client-id", s->peer);
                sess_send_connack(s, MQTT_CONNACK_ID_REJECTED);
            } else {
                log_info("malformed packet from peer=%s client_id=\"%s\": %s; closing", s->peer,
                         s->client_id, mqtt_err_name(r));
            }
            s->disc_reason = "CLIENT_ERROR";
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
    if (s->in.data) {
        buf_consume(&s->in, off);
        buf_release_if_empty(&s->in);
    }
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
