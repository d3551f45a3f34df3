/* Upstream link: owns one MQTT client session (3.1.1, or 5 when asked) to the broker per
 * struct upstream, over an lws raw client connection (Debian's lws 4.1 has
 * no MQTT client role, and libmosquitto would pick its own packet ids and ack
 * by itself, which the DESIGN.md invariants forbid). Bytes in are framed and
 * decoded by the pure codec (client role); packets out are encoded into a
 * bounded output queue and written on RAW_WRITEABLE. Deadlines (connect,
 * keepalive) of every link sit on one timer wheel driven by a single lws_sul,
 * because lws 4.1 keeps suls in one sorted linked list (O(n) insert), which
 * would not scale to one rescheduled timer per device.
 *
 * Lifetime: a wsi finds its link through its opaque user data. Whenever the
 * link lets go of a wsi (upstream_close, a fatal error) it clears that
 * pointer first and asks lws to kill the wsi asynchronously, so no lws
 * callback can reach a freed link. The one exception is the DISCONNECT flush
 * after upstream_close(u, true): the link stays attached, silent, until lws
 * reports the close. Memory is never freed while our own frame is still
 * using the link (busy counter): frees requested meanwhile are deferred. */
#include "bridges/upstream/upstream.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "bridges/mqtt/codec5.h"
#include "bridges/write_soon.h"
#include "common/buf.h"
#include "common/cursor.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/twheel.h"

/* One lws_write per writeable callback, at most this much: lws 4.1 sends at
 * most tx_packet_size per send() and buffers any remainder itself (with a
 * malloc), so our chunks match it. */
#define UPSTREAM_WRITE_CHUNK 16384u
/* PUBACK, PINGREQ and DISCONNECT may exceed max_output by this much: they
 * are tiny, bounded by the broker's own in-flight window, and dropping one
 * would break an invariant (an ack owed to the broker, the clean end). */
#define UPSTREAM_CONTROL_SLACK 16384u
/* Bytes written (not yet compacted away) before the output queue is moved
 * down (compaction is a memmove, so do it rarely); also the capacity above
 * which an emptied input or output buffer is freed rather than kept. */
#define UPSTREAM_COMPACT_MIN 65536u
/* How long a DISCONNECT (and whatever was queued before it) may take to
 * flush before the TCP connection is dropped anyway. */
#define UPSTREAM_DISCONNECT_FLUSH_S 5

enum up_state {
    UP_TCP = 0,         /* TCP connecting; CONNECT already encoded in out */
    UP_WAIT_CONNACK,    /* CONNECT being sent or sent */
    UP_CONNECTED,       /* CONNACK 0 received */
    UP_CLOSING,         /* detached by upstream_close, flushing DISCONNECT */
    UP_FAILED,          /* no wsi; on_closed(pending_err) due on the next tick */
};

enum fl_kind { FL_PUBLISH = 1, FL_SUBSCRIBE, FL_UNSUBSCRIBE };

/* One packet id in flight towards the broker. */
struct fl_entry {
    uint16_t pid;
    uint8_t kind;       /* enum fl_kind */
    uint8_t nfilters;   /* SUBSCRIBE: filters asked, checked against SUBACK */
};

struct upstream {
    struct twheel_node tw;              /* deadline on the shared wheel (common/twheel.h) */
    struct write_soon ws;               /* queued output, written at the end of the iteration */

    enum up_state state;
    struct lws *wsi;                    /* borrowed; NULL once let go */
    struct upstream_callbacks cb;
    void *ud;                           /* borrowed, the owner's */
    bool detached;                      /* closed by the owner or on_closed called */
    bool opening;                       /* inside lws_client_connect_via_info */
    bool open_failed;                   /* lws reported failure during it */
    bool free_pending;
    unsigned busy;                      /* our frames on the stack using u */
    int pending_err;                    /* UP_FAILED: what on_closed gets */

    int64_t connect_deadline_ms;
    int64_t last_tx_ms;
    int64_t last_rx_ms;
    int64_t ping_sent_ms;
    bool ping_outstanding;
    int64_t ka_ms;                      /* 0 = no keepalive */

    struct buf in;                      /* partial packet from the broker; max max_packet + 5 */
    struct buf out;                     /* encoded packets; max max_output + slack */
    size_t out_off;                     /* bytes of out already handed to lws */
    size_t max_output;
    size_t secret_end;                  /* out[0, secret_end) holds CONNECT (password): wiped once written */
    size_t max_packet;

    struct fl_entry *fl;                /* owned, fl_cap entries */
    size_t fl_len, fl_cap;
    size_t max_inflight;
    size_t pub_inflight, sub_inflight;
    uint16_t next_pid;

    bool v5;                            /* MQTT 5 (else 3.1.1) */

    char tag[96];                       /* escaped client id for log lines */
};

static struct {
    struct lws_context *ctx;            /* every link's context */
    lws_sorted_usec_list_t sul;
    struct twheel w;
    size_t links;                       /* allocated links (they keep the tick running) */
} wheel;

static uint8_t write_scratch[LWS_PRE + UPSTREAM_WRITE_CHUNK];

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

static const struct lws_protocols protocols[] = {
    {
        .name = UPSTREAM_LWS_PROTOCOL_NAME,
        .callback = lws_cb,
        .per_session_data_size = 0,
        .rx_buffer_size = 0,
        .tx_packet_size = UPSTREAM_WRITE_CHUNK,
    },
    /* Debian's lws_config.h lacks LWS_PROTOCOL_LIST_TERM. */
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *upstream_lws_protocol(void)
{
    return &protocols[0];
}

int upstream_vhost_create(struct lws_context *ctx, struct lws_vhost **ret)
{
    struct lws_context_creation_info info;
    struct lws_vhost *vh;

    if (!ctx || !ret)
        return -EINVAL;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.vhost_name = "upstream";
    info.protocols = protocols;
    /* lws 4.1 has no vhost -> context getter; upstream_open reads it here. */
    info.user = ctx;
    vh = lws_create_vhost(ctx, &info);
    if (!vh)
        return -ENOMEM;
    *ret = vh;
    return 0;
}

/* ---- timer wheel ---- */

static void wheel_unlink(struct upstream *u)
{
    twheel_disarm(&u->tw);
}

/* Looks at u again on the first tick at or after due_ms. */
static void wheel_arm(struct upstream *u, int64_t due_ms)
{
    twheel_arm(&wheel.w, &u->tw, due_ms);
}

static void wheel_disarm(struct upstream *u)
{
    twheel_disarm(&u->tw);
}

static void wheel_tick(lws_sorted_usec_list_t *sul);

static void wheel_schedule(int64_t now)
{
    lws_sul_schedule(wheel.ctx, 0, &wheel.sul, wheel_tick,
                     (lws_usec_t)twheel_ms_to_next_tick(now) * 1000);
}

static int wheel_register(struct lws_context *ctx)
{
    if (wheel.links && wheel.ctx != ctx)
        return -EINVAL;
    if (wheel.links++ == 0) {
        int64_t now = time_now_mono_ms();
        wheel.ctx = ctx;
        twheel_init(&wheel.w, now);
        wheel_schedule(now);
    }
    return 0;
}

static void wheel_unregister(void)
{
    if (--wheel.links == 0) {
        lws_sul_cancel(&wheel.sul);
        wheel.ctx = NULL;
    }
}

/* ---- lifetime ---- */

static void destroy(struct upstream *u)
{
    wheel_unlink(u);
    write_soon_cancel(&u->ws);
    if (u->secret_end && u->out.data)
        explicit_bzero(u->out.data, u->secret_end);
    buf_free(&u->in);
    buf_free(&u->out);
    free(u->fl);
    free(u);
    wheel_unregister();
}

/* Frees u now, or when the outermost frame using it returns. */
static void release(struct upstream *u)
{
    if (u->busy)
        u->free_pending = true;
    else
        destroy(u);
}

/* Lets go of the wsi: it no longer reaches u, and lws closes it on its next
 * service pass (never synchronously: we may be inside its own callback). */
static void drop_wsi(struct upstream *u)
{
    struct lws *wsi = u->wsi;

    if (!wsi)
        return;
    u->wsi = NULL;
    write_soon_cancel(&u->ws);
    lws_set_opaque_user_data(wsi, NULL);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The link ended on its own: tell the owner once (unless it closed the link
 * itself) and free. The wsi is already gone or dropped. */
static void report_closed(struct upstream *u, int err)
{
    wheel_disarm(u);
    if (!u->detached) {
        u->detached = true;
        if (u->cb.on_closed) {
            u->busy++;
            u->cb.on_closed(u->ud, err);
            u->busy--;
        }
    }
    release(u);
}

static void fail(struct upstream *u, int err)
{
    if (err < -1000)
        log_debug("upstream \"%s\": closing: %s", u->tag, mqtt_err_name(err));
    else
        log_debug("upstream \"%s\": closing: %s", u->tag, strerror(-err));
    drop_wsi(u);
    report_closed(u, err);
}

/* ---- output ---- */

static void out_compact(struct upstream *u)
{
    /* Until CONNECT is written it stays at the front, so it can be wiped. */
    if (u->out_off && !u->secret_end) {
        buf_consume(&u->out, u->out_off);
        u->out_off = 0;
    }
}

/* Space for n bytes at the end of the output queue. limit is the queue
 * size this kind of packet may fill (max_output for peer-driven packets,
 * out.max for control packets). */
static int out_reserve(struct upstream *u, size_t n, size_t limit, uint8_t **ret)
{
    if (n > limit)
        return -EMSGSIZE;
    if (u->out.len - u->out_off + n > limit)
        return -EAGAIN;
    if (u->out.len + n > limit)
        out_compact(u);
    if (u->out.len + n > u->out.max)
        return -EAGAIN;
    return buf_reserve(&u->out, n, ret);
}

static int on_writeable(struct upstream *u);

/* Runs after the loop iteration's I/O callbacks (write_soon.h): what the
 * iteration queued goes out in one write, without a poll change. */
static void up_write_soon(struct write_soon *ws)
{
    struct upstream *u = lws_container_of(ws, struct upstream, ws);

    if (!u->wsi || u->state == UP_TCP)
        return;
    if (u->state == UP_CLOSING || lws_partial_buffered(u->wsi)) {
        /* What lws still holds goes first; a closing link ends in the
         * writeable callback once everything is out. */
        lws_callback_on_writable(u->wsi);
        return;
    }
    /* on_writeable may fail the link (report_closed); keep u alive until
     * it returns. Its error paths have already let go of the wsi. */
    u->busy++;
    (void)on_writeable(u);
    u->busy--;
    if (u->free_pending && !u->busy)
        destroy(u);
}

static void want_write(struct upstream *u)
{
    if (!u->wsi || u->state == UP_TCP)
        return;
    if (u->state == UP_CLOSING || !write_soon_queue(&u->ws, up_write_soon))
        lws_callback_on_writable(u->wsi);
}

/* Finishes a packet encoded at the reserved spot. */
static int out_commit(struct upstream *u, const struct wcur *w)
{
    if (w->err)
        return w->err == -EMSGSIZE ? -EMSGSIZE : -EINVAL;
    buf_commit(&u->out, w->off);
    want_write(u);
    return 0;
}

static int queue_empty_packet(struct upstream *u, enum mqtt_type type)
{
    struct wcur w;
    uint8_t *p;
    int r = out_reserve(u, MQTT_ENCODED_LEN_EMPTY, u->out.max, &p);

    if (r < 0)
        return r;
    wcur_init(&w, p, MQTT_ENCODED_LEN_EMPTY);
    mqtt_encode_empty(&w, type);
    return out_commit(u, &w);
}

static int on_writeable(struct upstream *u)
{
    size_t pending = u->out.len - u->out_off;
    size_t n;

    if (!pending) {
        /* A writeable callback comes only after lws drained what it
         * buffered from our last write, so the DISCONNECT is on the wire. */
        if (u->state == UP_CLOSING)
            return -1;
        return 0;
    }
    n = pending < UPSTREAM_WRITE_CHUNK ? pending : UPSTREAM_WRITE_CHUNK;
    memcpy(write_scratch + LWS_PRE, u->out.data + u->out_off, n);
    /* For raw sockets lws 4.1 returns n even when it kept part of it
     * (it sends the rest itself before the next writeable callback), or
     * -1 on a dead socket. */
    if (lws_write(u->wsi, write_scratch + LWS_PRE, n, LWS_WRITE_RAW) < 0) {
        if (u->state == UP_CLOSING) {
            drop_wsi(u);
            report_closed(u, 0);
            return -1;
        }
        fail(u, -EIO);
        return -1;
    }
    u->last_tx_ms = time_now_mono_ms();
    u->out_off += n;
    if (u->secret_end && u->out_off >= u->secret_end) {
        explicit_bzero(u->out.data, u->secret_end);
        explicit_bzero(write_scratch + LWS_PRE, n);
        u->secret_end = 0;
    }
    if (u->out_off == u->out.len) {
        /* Give a burst's memory back: 100k mostly idle links add up. */
        if (u->out.cap > UPSTREAM_COMPACT_MIN)
            buf_free(&u->out);
        buf_reset(&u->out);
        u->out_off = 0;
        if (u->state == UP_CLOSING)
            lws_callback_on_writable(u->wsi);
    } else {
        if (u->out_off >= UPSTREAM_COMPACT_MIN && u->out_off >= u->out.len / 2)
            out_compact(u);
        lws_callback_on_writable(u->wsi);
    }
    return 0;
}

/* ---- packet ids ---- */

static struct fl_entry *fl_find(struct upstream *u, uint16_t pid, enum fl_kind kind)
{
    for (size_t i = 0; i < u->fl_len; i++)
        if (u->fl[i].pid == pid && (!kind || u->fl[i].kind == kind))
            return &u->fl[i];
    return NULL;
}

static void fl_remove(struct upstream *u, struct fl_entry *e)
{
    switch (e->kind) {
    case FL_PUBLISH: u->pub_inflight--; break;
    default: u->sub_inflight--; break;
    }
    *e = u->fl[--u->fl_len];
}

/* Next id in 1..65535 not in flight. The table never holds 65535 ids
 * (max_inflight is capped), so this ends. */
static uint16_t pid_alloc(struct upstream *u)
{
    for (;;) {
        uint16_t pid = u->next_pid++;
        if (u->next_pid == 0)
            u->next_pid = 1;
        if (!fl_find(u, pid, 0))
            return pid;
    }
}

static void fl_add(struct upstream *u, uint16_t pid, enum fl_kind kind, size_t nfilters)
{
    struct fl_entry *e = &u->fl[u->fl_len++];

    e->pid = pid;
    e->kind = (uint8_t)kind;
    e->nfilters = (uint8_t)nfilters;
    if (kind == FL_PUBLISH)
        u->pub_inflight++;
    else
        u->sub_inflight++;
}

/* ---- input ---- */

static bool gone(const struct upstream *u)
{
    return u->detached || !u->wsi;
}

/* Handles one decoded packet. Returns 0 or the error that ends the link. */
static int dispatch(struct upstream *u, const struct mqtt_packet *pkt)
{
    struct fl_entry *e;

    if (u->state == UP_WAIT_CONNACK && pkt->type != MQTT_CONNACK)
        return -EPROTO;     /* [MQTT-3.2.0-1]: CONNACK comes first */
    switch (pkt->type) {
    case MQTT_CONNACK: {
        uint8_t rc = pkt->u.connack.return_code;
        if (u->state != UP_WAIT_CONNACK)
            return -EPROTO;
        if (rc == MQTT_CONNACK_ACCEPTED) {
            u->state = UP_CONNECTED;
            wheel_disarm(u);
            if (u->ka_ms)
                wheel_arm(u, time_now_mono_ms() + u->ka_ms);
        }
        if (u->cb.on_connack)
            u->cb.on_connack(u->ud, rc, pkt->u.connack.session_present);
        if (rc != MQTT_CONNACK_ACCEPTED)
            return -ECONNREFUSED;
        return 0;
    }
    case MQTT_PUBLISH:
        /* We subscribe at QoS 1 at most; a QoS 2 delivery would need the
         * PUBREC/PUBREL exchange we deliberately do not implement. */
        if (pkt->u.publish.qos > 1)
            return -EPROTO;
        if (u->cb.on_publish)
            u->cb.on_publish(u->ud, &pkt->u.publish);
        else if (pkt->u.publish.qos == 1)
            upstream_puback(u, pkt->u.publish.packet_id);
        return 0;
    case MQTT_PUBACK:
        e = fl_find(u, pkt->u.ack.packet_id, FL_PUBLISH);
        if (!e) {
            /* A late or duplicate ack (after a broker-side redelivery);
             * harmless, and not worth a reconnect. */
            log_debug("upstream \"%s\": PUBACK for unknown id %u ignored", u->tag,
                      pkt->u.ack.packet_id);
            return 0;
        }
        fl_remove(u, e);
        if (u->cb.on_puback)
            u->cb.on_puback(u->ud, pkt->u.ack.packet_id);
        return 0;
    case MQTT_SUBACK:
        e = fl_find(u, pkt->u.suback.packet_id, FL_SUBSCRIBE);
        if (!e) {
            log_debug("upstream \"%s\": SUBACK for unknown id %u ignored", u->tag,
                      pkt->u.suback.packet_id);
            return 0;
        }
        /* One code per filter, in order [MQTT-3.8.4-5]; the owner maps them
         * back by position. */
        if (e->nfilters != pkt->u.suback.count)
            return -EPROTO;
        fl_remove(u, e);
        if (u->cb.on_suback)
            u->cb.on_suback(u->ud, pkt->u.suback.packet_id, pkt->u.suback.codes,
                            pkt->u.suback.count);
        return 0;
    case MQTT_UNSUBACK:
        e = fl_find(u, pkt->u.ack.packet_id, FL_UNSUBSCRIBE);
        if (!e) {
            log_debug("upstream \"%s\": UNSUBACK for unknown id %u ignored", u->tag,
                      pkt->u.ack.packet_id);
            return 0;
        }
        fl_remove(u, e);
        if (u->cb.on_unsuback)
            u->cb.on_unsuback(u->ud, pkt->u.ack.packet_id);
        return 0;
    case MQTT_PINGRESP:
        return 0;
    default:
        /* PUBREC/PUBREL/PUBCOMP: QoS 2, which we never use. */
        return -EPROTO;
    }
}

/* An MQTT 5 packet from the broker, brought to the 3.1.1 shape dispatch
 * knows. Returns 0 (pkt filled), 1 when nothing is left to dispatch, or
 * the error that ends the link. What 3.1.1 cannot say is handled here:
 * the broker's DISCONNECT (with its reason), CONNACK properties that bind
 * us (Receive Maximum, Server Keep Alive), and reason codes. */
static int decode_v5(struct upstream *u, const uint8_t *p, size_t n, struct mqtt_packet *pkt)
{
    struct mqtt5_packet m;
    char why[160];
    int r = mqtt5_decode_client(p, n, &m);

    if (r < 0)
        return r;
    *pkt = m.base;
    switch ((int)m.base.type) {
    case MQTT_DISCONNECT:
        log_warn("upstream \"%s\": broker disconnected (reason 0x%02x%s%s)", u->tag, m.reason,
                 m.props.reason_string.len ? ": " : "",
                 m.props.reason_string.len
                     ? log_escape(why, sizeof(why), m.props.reason_string.p, m.props.reason_string.len)
                     : "");
        return -ECONNRESET;
    case MQTT5_AUTH:
        return -EPROTO;     /* we never start enhanced authentication */
    case MQTT_CONNACK:
        if (m.connack_311 || m.reason != 0) {
            /* A refusal (or a 3.1.1-only broker): the owner sees a
             * non-zero code, the link ends. */
            pkt->u.connack.return_code = m.reason ? m.reason : MQTT_CONNACK_BAD_PROTOCOL;
            return 0;
        }
        /* [MQTT-3.3.4-7]: never more unacked QoS 1 publishes than the
         * broker's Receive Maximum. */
        if (mqtt5_has(&m.props, MQTT5_PROP_RECEIVE_MAXIMUM) &&
            m.props.receive_maximum < u->max_inflight)
            u->max_inflight = m.props.receive_maximum;
        /* [MQTT-3.2.2-21]: the Server Keep Alive replaces ours. */
        if (mqtt5_has(&m.props, MQTT5_PROP_SERVER_KEEP_ALIVE))
            u->ka_ms = (int64_t)m.props.server_keep_alive * 1000;
        return 0;
    case MQTT_PUBACK:
        if (m.reason >= 0x80) {
            /* The broker took the message but will not deliver it (ACL,
             * quota). 3.1.1 brokers ack such messages silently; a 3.1.1
             * device cannot be told either, so the ack goes on, logged. */
            log_warn("upstream \"%s\": broker refused publish id %u (reason 0x%02x)", u->tag,
                     m.base.u.ack.packet_id, m.reason);
        }
        return 0;
    case MQTT_SUBACK:
        /* MQTT 5 failure codes (0x87, 0x8F...) are 0x80 to a 3.1.1 device. */
        for (size_t i = 0; i < pkt->u.suback.count; i++)
            if (pkt->u.suback.codes[i] >= 0x80)
                pkt->u.suback.codes[i] = MQTT_SUBACK_FAILURE;
        return 0;
    default:
        return 0;
    }
}

/* Frames and dispatches every complete packet in p[0, len). Returns bytes
 * consumed (>= 0) or the error that ends the link. Stops early when the
 * owner closed the link from a callback. */
static long process(struct upstream *u, const uint8_t *p, size_t len)
{
    size_t off = 0;

    while (off < len && !gone(u)) {
        struct mqtt_packet pkt;
        int r, n = u->v5 ? mqtt5_frame(p + off, len - off, u->max_packet)
                         : mqtt_frame(p + off, len - off, u->max_packet);
        if (n == 0)
            break;
        if (n < 0)
            return n;
        if (u->v5) {
            r = decode_v5(u, p + off, (size_t)n, &pkt);
            if (r == 1) {       /* consumed (nothing for dispatch) */
                off += (size_t)n;
                continue;
            }
        } else {
            r = mqtt_decode(p + off, (size_t)n, MQTT_ROLE_CLIENT, &pkt);
        }
        if (r < 0)
            return r;
        r = dispatch(u, &pkt);
        if (r < 0)
            return r;
        off += (size_t)n;
    }
    return (long)off;
}

static int on_rx(struct upstream *u, const uint8_t *in, size_t len)
{
    long used;
    int err = 0;

    if (u->state == UP_CLOSING)
        return 0;   /* nothing from the broker matters any more */
    u->last_rx_ms = time_now_mono_ms();
    /* Any packet shows the broker is alive; the PINGRESP may sit behind. */
    u->ping_outstanding = false;
    u->busy++;
    if (u->in.len == 0) {
        /* Common case: parse straight from lws's buffer, keep only a tail. */
        used = process(u, in, len);
        if (used < 0) {
            err = (int)used;
        } else if (!gone(u) && (size_t)used < len) {
            err = buf_append(&u->in, in + used, len - (size_t)used);
        }
    } else {
        while (len && !gone(u)) {
            /* Cap max_packet + 5 always has room for the rest of one packet:
             * mqtt_frame refuses anything longer as soon as it sees the
             * length, so a partial packet never fills the buffer. */
            size_t room = u->in.max - u->in.len;
            size_t take = len < room ? len : room;
            if (take == 0) {
                err = -EMSGSIZE;
                break;
            }
            err = buf_append(&u->in, in, take);
            if (err < 0)
                break;
            in += take;
            len -= take;
            used = process(u, u->in.data, u->in.len);
            if (used < 0) {
                err = (int)used;
                break;
            }
            buf_consume(&u->in, (size_t)used);
        }
        if (u->in.len == 0 && u->in.cap > UPSTREAM_COMPACT_MIN)
            buf_free(&u->in);
    }
    if (err < 0 && !gone(u))
        fail(u, err);
    u->busy--;
    /* Return -1 when the wsi was let go of: lws then closes it now. */
    int ret = u->wsi ? 0 : -1;
    if (u->free_pending && !u->busy)
        destroy(u);
    return ret;
}

/* ---- timers ---- */

static void on_timer(struct upstream *u, int64_t now)
{
    switch (u->state) {
    case UP_FAILED:
        report_closed(u, u->pending_err);
        return;
    case UP_TCP:
    case UP_WAIT_CONNACK:
        if (now >= u->connect_deadline_ms) {
            fail(u, -ETIMEDOUT);
            return;
        }
        wheel_arm(u, u->connect_deadline_ms);
        return;
    case UP_CONNECTED:
        break;
    default:
        return;
    }
    if (!u->ka_ms)
        return;
    if (u->ping_outstanding) {
        /* The broker has keepalive/2 to answer a PINGREQ (any packet counts):
         * with the keepalive spent before it, that is 1.5x keepalive of
         * silence, the broker's own limit for us [MQTT-3.1.2-24]. */
        if (now >= u->ping_sent_ms + u->ka_ms / 2) {
            fail(u, -ETIMEDOUT);
            return;
        }
        wheel_arm(u, u->ping_sent_ms + u->ka_ms / 2);
        return;
    }
    /* Ping when we sent nothing for a keepalive [MQTT-3.1.2-23], and also
     * when we heard nothing for one: a link that only publishes QoS 0 would
     * otherwise never learn the broker is gone. */
    if (now >= u->last_tx_ms + u->ka_ms || now >= u->last_rx_ms + u->ka_ms) {
        if (queue_empty_packet(u, MQTT_PINGREQ) == 0) {
            u->ping_outstanding = true;
            u->ping_sent_ms = now;
            wheel_arm(u, now + u->ka_ms / 2);
            return;
        }
        /* Output full: the silence deadline still stands. */
        int64_t dead = u->last_rx_ms + u->ka_ms + u->ka_ms / 2;
        if (now >= dead) {
            fail(u, -ETIMEDOUT);
            return;
        }
        wheel_arm(u, now + TWHEEL_TICK_MS);
        return;
    }
    int64_t due = u->last_tx_ms < u->last_rx_ms ? u->last_tx_ms : u->last_rx_ms;
    wheel_arm(u, due + u->ka_ms);
}

static void wheel_fire(struct twheel_node *n, void *ud)
{
    struct upstream *u = lws_container_of(n, struct upstream, tw);
    on_timer(u, *(const int64_t *)ud);
}

static void wheel_tick(lws_sorted_usec_list_t *sul)
{
    int64_t now = time_now_mono_ms();

    (void)sul;
    twheel_advance(&wheel.w, now, wheel_fire, &now);
    if (wheel.links)
        wheel_schedule(now);
}

/* ---- lws glue ---- */

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct upstream *u;

    switch (reason) {
    case LWS_CALLBACK_RAW_CONNECTED:
        u = lws_get_opaque_user_data(wsi);
        if (!u)
            return -1;
        /* May run inside lws_client_connect_via_info (a loopback connect
         * can complete at once); u->wsi is already set through pwsi. */
        u->state = UP_WAIT_CONNACK;
        u->last_tx_ms = u->last_rx_ms = time_now_mono_ms();
        want_write(u);
        return 0;

    case LWS_CALLBACK_RAW_RX:
        u = lws_get_opaque_user_data(wsi);
        if (!u)
            return -1;
        return on_rx(u, in, len);

    case LWS_CALLBACK_RAW_WRITEABLE:
        u = lws_get_opaque_user_data(wsi);
        if (!u)
            return -1;
        return on_writeable(u);

    case LWS_CALLBACK_RAW_CLOSE:
        /* An established raw client gets RAW_CLOSE, never also
         * CLIENT_CONNECTION_ERROR (lws 4.1 close.c: they exclude each other). */
        u = lws_get_opaque_user_data(wsi);
        if (!u)
            return 0;
        lws_set_opaque_user_data(wsi, NULL);
        u->wsi = NULL;
        if (u->opening) {
            u->open_failed = true;
            return 0;
        }
        if (u->state != UP_CLOSING)
            log_debug("upstream \"%s\": connection closed by the broker", u->tag);
        report_closed(u, u->state == UP_CLOSING ? 0 : -ECONNRESET);
        return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        u = lws_get_opaque_user_data(wsi);
        if (!u)
            return 0;
        lws_set_opaque_user_data(wsi, NULL);
        u->wsi = NULL;
        if (u->opening) {
            u->open_failed = true;
            return 0;
        }
        log_debug("upstream \"%s\": connect failed: %.*s", u->tag, in ? (int)len : 0,
                  in ? (const char *)in : "");
        report_closed(u, -ECONNREFUSED);
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- API ---- */

static struct mqtt_slice slice_of(const char *s)
{
    struct mqtt_slice sl = { (const uint8_t *)s, s ? strlen(s) : 0 };
    return sl;
}

static int encode_connect(struct upstream *u, const struct upstream_params *p)
{
    struct mqtt_connect c;
    struct wcur w;
    uint8_t *dst;
    size_t n;
    int r;

    memset(&c, 0, sizeof(c));
    c.protocol_level = MQTT_PROTOCOL_LEVEL_311;
    c.clean_session = p->clean_session;
    c.keepalive = p->keepalive;
    c.client_id = slice_of(p->client_id);
    if (p->will) {
        if (p->will->qos > 2 || !p->will->topic.len ||
            mqtt_topic_name_check(p->will->topic.p, p->will->topic.len) < 0)
            return -EINVAL;
        c.will = true;
        c.will_qos = p->will->qos;
        c.will_retain = p->will->retain;
        c.will_topic = p->will->topic;
        c.will_payload = p->will->payload;
    }
    if (p->username && p->username[0]) {
        c.has_username = true;
        c.username = slice_of(p->username);
        /* [MQTT-3.1.2-22]: no password without a username. */
        if (p->password && p->password[0]) {
            c.has_password = true;
            c.password = slice_of(p->password);
        }
    }
    struct mqtt5_connect c5 = { .base = c };
    if (u->v5) {
        c5.base.protocol_level = MQTT_PROTOCOL_LEVEL_5;
        c5.session_expiry = p->clean_session ? 0 : p->session_expiry;
        /* Tell the broker our packet limit, so it drops what we could not
         * take instead of ending the link with it. */
        c5.maximum_packet_size = (uint32_t)u->max_packet;
        n = mqtt5_encoded_len_connect(&c5);
    } else {
        n = mqtt_encoded_len_connect(&c);
    }
    r = out_reserve(u, n, u->out.max, &dst);
    if (r < 0)
        return r == -EAGAIN ? -EINVAL : r;
    wcur_init(&w, dst, n);
    if (u->v5)
        mqtt5_encode_connect(&w, &c5);
    else
        mqtt_encode_connect(&w, &c);
    if (w.err)
        return -EINVAL;     /* a string over 65535 bytes */
    buf_commit(&u->out, w.off);
    u->secret_end = u->out.len;
    return 0;
}

int upstream_open(struct lws_vhost *vh, const struct upstream_params *p,
                  const struct upstream_callbacks *cb, void *ud, struct upstream **ret)
{
    struct lws_client_connect_info ci;
    struct lws_context *ctx;
    struct upstream *u;
    struct lws *wsi;
    size_t max_packet, max_inflight, max_output;
    int64_t now;
    int r;

    if (!vh || !p || !cb || !ret || !p->host || !p->host[0] || !p->client_id || p->port <= 0 ||
        p->port > 65535 || p->connect_timeout_ms < 0)
        return -EINVAL;
    ctx = lws_get_vhost_user(vh);
    if (!ctx)
        return -EINVAL;
    max_packet = p->max_packet ? p->max_packet : UPSTREAM_DEFAULT_MAX_PACKET;
    if (max_packet < 2 || max_packet > MQTT_MAX_REMAINING_LENGTH + 5u)
        return -EINVAL;
    max_inflight = p->max_inflight ? p->max_inflight : UPSTREAM_DEFAULT_MAX_INFLIGHT;
    if (max_inflight > UPSTREAM_MAX_INFLIGHT_LIMIT)
        return -EINVAL;
    max_output = p->max_output ? p->max_output : UPSTREAM_DEFAULT_MAX_OUTPUT;

    u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->fl_cap = max_inflight + UPSTREAM_MAX_PENDING_SUBS;
    u->fl = calloc(u->fl_cap, sizeof(*u->fl));
    if (!u->fl) {
        free(u);
        return -ENOMEM;
    }
    r = wheel_register(ctx);
    if (r < 0) {
        free(u->fl);
        free(u);
        return r;
    }
    u->cb = *cb;
    u->ud = ud;
    u->state = UP_TCP;
    u->max_packet = max_packet;
    u->max_inflight = max_inflight;
    u->max_output = max_output;
    u->next_pid = 1;
    u->ka_ms = (int64_t)p->keepalive * 1000;
    u->v5 = p->protocol_version == MQTT_PROTOCOL_LEVEL_5;
    if (p->protocol_version != 0 && p->protocol_version != MQTT_PROTOCOL_LEVEL_311 && !u->v5) {
        destroy(u);
        return -EINVAL;
    }
    /* A complete packet plus at most 4 length bytes and the type byte. */
    buf_init(&u->in, max_packet + 5);
    buf_init(&u->out, max_output + UPSTREAM_CONTROL_SLACK);
    log_escape(u->tag, sizeof(u->tag), p->client_id, strlen(p->client_id));

    /* CONNECT is encoded now: the parameters are only borrowed for this
     * call, and nothing else (password included) needs to be kept. */
    r = encode_connect(u, p);
    if (r < 0) {
        destroy(u);
        return r;
    }

    now = time_now_mono_ms();
    u->connect_deadline_ms =
        now + (p->connect_timeout_ms ? p->connect_timeout_ms : UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS);
    wheel_arm(u, u->connect_deadline_ms);

    memset(&ci, 0, sizeof(ci));
    ci.context = ctx;
    ci.vhost = vh;
    ci.address = p->host;
    ci.host = p->host;
    ci.port = p->port;
    ci.method = "RAW";
    ci.local_protocol_name = UPSTREAM_LWS_PROTOCOL_NAME;
    ci.opaque_user_data = u;
    /* Set before lws can call back (RAW_CONNECTED may come inside the call). */
    ci.pwsi = &u->wsi;
    u->opening = true;
    wsi = lws_client_connect_via_info(&ci);
    u->opening = false;
    if (!wsi || u->open_failed) {
        /* lws already freed the wsi (and suppressed CONNECTION_ERROR while
         * inside the call); pwsi may still point at it. Report the refusal
         * from the next tick, as a connect failure found later would be. */
        log_debug("upstream \"%s\": connect failed at once", u->tag);
        u->wsi = NULL;
        u->state = UP_FAILED;
        u->pending_err = -ECONNREFUSED;
        wheel_arm(u, now);
    }
    *ret = u;
    return 0;
}

int upstream_publish(struct upstream *u, const char *topic, size_t topic_len, const void *payload,
                     size_t len, uint8_t qos, bool retain, uint16_t *ret_pid)
{
    return upstream_publish_props(u, topic, topic_len, payload, len, qos, retain, NULL, 0, ret_pid);
}

bool upstream_is_v5(const struct upstream *u)
{
    return u && u->v5;
}

int upstream_publish_props(struct upstream *u, const char *topic, size_t topic_len,
                           const void *payload, size_t len, uint8_t qos, bool retain,
                           const struct mqtt5_user_prop *props, size_t n_props, uint16_t *ret_pid)
{
    struct mqtt_publish pub;
    struct wcur w;
    uint8_t *dst;
    uint16_t pid = 0;
    size_t n;
    int r;

    if (!u || u->detached || u->state != UP_CONNECTED)
        return -ENOTCONN;
    if (qos > 1 || !topic || (len && !payload))
        return -EINVAL;
    if (topic_len > 65535)
        return -EMSGSIZE;
    if (mqtt_topic_name_check((const uint8_t *)topic, topic_len) < 0)
        return -EINVAL;
    if (qos == 1 && u->pub_inflight >= u->max_inflight)
        return -EAGAIN;
    memset(&pub, 0, sizeof(pub));
    pub.qos = qos;
    pub.retain = retain;
    pub.topic.p = (const uint8_t *)topic;
    pub.topic.len = topic_len;
    pub.packet_id = qos ? 1 : 0;    /* the size does not depend on the id */
    pub.payload.p = payload;
    pub.payload.len = len;
    struct mqtt5_publish p5 = { .base = pub, .user_props = props, .user_prop_count = n_props };
    n = u->v5 ? mqtt5_encoded_len_publish(&p5) : mqtt_encoded_len_publish(&pub);
    r = out_reserve(u, n, u->max_output, &dst);
    if (r < 0)
        return r;
    if (qos == 1)
        pid = pid_alloc(u);
    pub.packet_id = pid;
    p5.base.packet_id = pid;
    wcur_init(&w, dst, n);
    if (u->v5)
        mqtt5_encode_publish(&w, &p5);
    else
        mqtt_encode_publish(&w, &pub);
    r = out_commit(u, &w);
    if (r < 0)
        return r;
    if (qos == 1)
        fl_add(u, pid, FL_PUBLISH, 0);
    if (ret_pid)
        *ret_pid = pid;
    return 0;
}

static int queue_sub(struct upstream *u, enum mqtt_type type, const struct mqtt_topic_qos *filters,
                     size_t n, uint16_t *ret_pid)
{
    struct mqtt_subscribe s;
    struct wcur w;
    uint8_t *dst;
    size_t len;
    int r;

    if (!u || u->detached || u->state != UP_CONNECTED)
        return -ENOTCONN;
    if (!filters || n == 0 || n > MQTT_MAX_FILTERS)
        return -EINVAL;
    if (u->sub_inflight >= UPSTREAM_MAX_PENDING_SUBS)
        return -EAGAIN;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < n; i++) {
        if (mqtt_topic_filter_check(filters[i].filter.p, filters[i].filter.len) < 0)
            return -EINVAL;
        s.filters[i].filter = filters[i].filter;
        /* QoS 2 deliveries would need PUBREC/PUBREL, which we do not do. */
        s.filters[i].qos = filters[i].qos > 1 ? 1 : filters[i].qos;
    }
    s.count = n;
    s.packet_id = 1;                /* the size does not depend on the id */
    if (u->v5)
        len = type == MQTT_SUBSCRIBE ? mqtt5_encoded_len_subscribe(&s)
                                     : mqtt5_encoded_len_unsubscribe(&s);
    else
        len = type == MQTT_SUBSCRIBE ? mqtt_encoded_len_subscribe(&s)
                                     : mqtt_encoded_len_unsubscribe(&s);
    r = out_reserve(u, len, u->max_output, &dst);
    if (r < 0)
        return r;
    s.packet_id = pid_alloc(u);
    wcur_init(&w, dst, len);
    /* MQTT 5: Retain As Published off, so RETAIN reaches a subscriber as
     * 3.1.1 sets it (only on messages sent because of the subscription). */
    if (u->v5 && type == MQTT_SUBSCRIBE)
        mqtt5_encode_subscribe(&w, &s, false);
    else if (u->v5)
        mqtt5_encode_unsubscribe(&w, &s);
    else if (type == MQTT_SUBSCRIBE)
        mqtt_encode_subscribe(&w, &s);
    else
        mqtt_encode_unsubscribe(&w, &s);
    r = out_commit(u, &w);
    if (r < 0)
        return r;
    fl_add(u, s.packet_id, type == MQTT_SUBSCRIBE ? FL_SUBSCRIBE : FL_UNSUBSCRIBE, n);
    if (ret_pid)
        *ret_pid = s.packet_id;
    return 0;
}

int upstream_subscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                       uint16_t *ret_pid)
{
    return queue_sub(u, MQTT_SUBSCRIBE, filters, n, ret_pid);
}

int upstream_unsubscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                         uint16_t *ret_pid)
{
    return queue_sub(u, MQTT_UNSUBSCRIBE, filters, n, ret_pid);
}

int upstream_puback(struct upstream *u, uint16_t pid)
{
    struct wcur w;
    uint8_t *dst;
    int r;

    if (!u || u->detached || u->state != UP_CONNECTED)
        return -ENOTCONN;
    if (pid == 0)
        return -EINVAL;
    r = out_reserve(u, MQTT_ENCODED_LEN_ACK, u->out.max, &dst);
    if (r < 0)
        return r;
    wcur_init(&w, dst, MQTT_ENCODED_LEN_ACK);
    mqtt_encode_ack(&w, MQTT_PUBACK, pid);
    return out_commit(u, &w);
}

void upstream_close(struct upstream *u, bool send_disconnect)
{
    if (!u || u->detached)
        return;
    u->detached = true;
    wheel_disarm(u);
    if (send_disconnect && u->state == UP_CONNECTED && u->wsi &&
        queue_empty_packet(u, MQTT_DISCONNECT) == 0) {
        /* Stay attached until lws reports the close, so what is queued
         * (DISCONNECT last) still goes out; bounded by a flush timeout. */
        u->state = UP_CLOSING;
        lws_set_timeout(u->wsi, PENDING_TIMEOUT_CLOSE_SEND, UPSTREAM_DISCONNECT_FLUSH_S);
        return;
    }
    drop_wsi(u);
    release(u);
}

bool upstream_is_connected(const struct upstream *u)
{
    return u && !u->detached && u->state == UP_CONNECTED;
}
