/* Upstream link: one MQTT 3.1.1 client session to the broker, speaking our
 * codec (client role) over an lws raw client connection. Used once per
 * authenticated device and once for the daemon's service link.
 * The link picks its own packet ids (1..65535, skipping ids in flight) and
 * never acknowledges a broker QoS 1 PUBLISH by itself: the owner calls
 * upstream_puback when the device acked it or when the daemon dropped it
 * (DESIGN.md "Upstream link"). Callbacks run on the loop thread; after
 * upstream_close returns, no callback runs for that link again.
 * Callbacks are never called from inside an upstream_* call: only from lws
 * callbacks and timers, so an owner may call upstream_* from its callbacks
 * (including upstream_close on this or another link) without re-entry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/codec.h"

struct lws_context;
struct lws_vhost;
struct lws_protocols;
struct upstream;

/* Name of the lws protocol entry returned by upstream_lws_protocol(). */
#define UPSTREAM_LWS_PROTOCOL_NAME "iotcored-upstream"

/* Defaults for zero fields of struct upstream_params. */
#define UPSTREAM_DEFAULT_MAX_PACKET (1024u * 1024u)
#define UPSTREAM_DEFAULT_MAX_OUTPUT (1024u * 1024u)
#define UPSTREAM_DEFAULT_MAX_INFLIGHT 32u
#define UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS 10000
/* Largest accepted max_inflight: ids are looked up linearly. */
#define UPSTREAM_MAX_INFLIGHT_LIMIT 1024u
/* SUBSCRIBE + UNSUBSCRIBE awaiting their ack; more -> -EAGAIN. */
#define UPSTREAM_MAX_PENDING_SUBS 16u

struct upstream_callbacks {
    /* The broker answered CONNECT. rc is the CONNACK code (0 accepted). If
     * rc != 0 on_closed(-ECONNREFUSED) follows (unless the owner calls
     * upstream_close from on_connack). */
    void (*on_connack)(void *ud, uint8_t rc, bool session_present);
    /* PUBACK for a QoS 1 publish we sent (pid as returned by upstream_publish).
     * A PUBACK for an id not in flight is ignored. */
    void (*on_puback)(void *ud, uint16_t pid);
    void (*on_suback)(void *ud, uint16_t pid, const uint8_t *codes, size_t n);
    void (*on_unsuback)(void *ud, uint16_t pid);
    /* A PUBLISH from the broker; p and its slices are borrowed for the call.
     * For QoS 1 the owner must eventually call upstream_puback(p->packet_id),
     * in the order the messages arrived when dropping. QoS 2 from the broker
     * is refused at subscribe time (we never ask for QoS 2); a QoS 2 PUBLISH
     * anyway ends the link with -EPROTO. */
    void (*on_publish)(void *ud, const struct mqtt_publish *p);
    /* The link is gone (connect failed, broker closed, protocol error,
     * keepalive timeout). err is a negative errno or mqtt_err: -ECONNREFUSED
     * (TCP refused or CONNACK refusal), -ETIMEDOUT (connect deadline or
     * keepalive), -ECONNRESET (broker closed), -EPROTO or an mqtt_err (the
     * broker broke the protocol). The link frees itself after this returns;
     * do not call upstream_close. Called at most once per link. */
    void (*on_closed)(void *ud, int err);
};

struct upstream_params {
    const char *host;               /* borrowed for the call */
    int port;
    const char *client_id;          /* borrowed for the call (like every field) */
    const char *username;           /* NULL or "" = none */
    const char *password;           /* NULL or "" = none (sent only with a username) */
    uint16_t keepalive;             /* seconds; PINGREQ sent by the link; 0 = none */
    bool clean_session;
    const struct mqtt_publish *will;/* NULL = none; topic/payload/qos/retain used */
    size_t max_packet;              /* largest packet accepted from the broker; 0 = default */
    size_t max_inflight;            /* QoS 1 publishes awaiting PUBACK; more -> -EAGAIN; 0 = default */
    int connect_timeout_ms;         /* TCP + CONNACK deadline; 0 = default */
    size_t max_output;              /* bytes of PUBLISH/SUBSCRIBE queued towards the broker
                                     * before upstream_publish says -EAGAIN; 0 = default */
    /* 5: MQTT 5 (publishes may carry user properties); 0 or 4: MQTT 3.1.1. */
    uint8_t protocol_version;
    /* MQTT 5 with clean_session false: seconds the broker keeps the session
     * after the link ends (3.1.1 leaves that to the broker's config). */
    uint32_t session_expiry;
};

struct mqtt5_user_prop;

/* The lws protocol entry the daemon puts first in the (non-listening) vhost
 * that upstream connections are made on. */
const struct lws_protocols *upstream_lws_protocol(void);

/* Creates the non-listening vhost for upstream links on ctx (its protocol
 * list is upstream_lws_protocol() alone; its user pointer is ctx). The vhost
 * belongs to the context (lws_context_destroy frees it). Returns 0 or
 * -ENOMEM. A hand-built vhost works too if its creation info sets
 * .user = the lws_context (lws 4.1 has no vhost -> context getter) and its
 * protocol list starts with upstream_lws_protocol(). */
int upstream_vhost_create(struct lws_context *ctx, struct lws_vhost **ret);

/* Starts connecting (asynchronous). Returns 0 and *ret, or a negative errno
 * if the connection could not even be started (-EINVAL bad parameters or a
 * vhost without the context as user, -ENOMEM); on_closed is not called then.
 * A refusal lws detects at once (closed port on loopback) is still reported
 * through on_closed, after upstream_open returned.
 * Every link must be closed (upstream_close) or have reported on_closed
 * before the lws context is destroyed. All links share one lws context. */
int upstream_open(struct lws_vhost *vh, const struct upstream_params *p,
                  const struct upstream_callbacks *cb, void *ud, struct upstream **ret);

/* Queues a PUBLISH. For qos 1 returns the packet id in *ret_pid (may be NULL
 * for qos 0; set to 0 then). -EAGAIN when max_inflight QoS 1 publishes are
 * unacked or the output queue is full, -ENOTCONN before CONNACK or after
 * close, -EMSGSIZE if too large, -EINVAL for qos > 1 or an invalid topic. */
int upstream_publish(struct upstream *u, const char *topic, size_t topic_len, const void *payload,
                     size_t len, uint8_t qos, bool retain, uint16_t *ret_pid);
/* The same with MQTT 5 user properties (borrowed for the call; names and
 * values UTF-8 without NUL, else -EINVAL). On an MQTT 3.1.1 link they are
 * left out: 3.1.1 has no way to carry them. */
int upstream_publish_props(struct upstream *u, const char *topic, size_t topic_len,
                           const void *payload, size_t len, uint8_t qos, bool retain,
                           const struct mqtt5_user_prop *props, size_t n_props, uint16_t *ret_pid);
/* Whether the link speaks MQTT 5. */
bool upstream_is_v5(const struct upstream *u);
/* Queues a SUBSCRIBE (1..MQTT_MAX_FILTERS filters; a requested QoS above 1
 * is asked as 1). on_suback reports the broker's codes in filter order.
 * -EAGAIN when UPSTREAM_MAX_PENDING_SUBS are unanswered. */
int upstream_subscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                       uint16_t *ret_pid);
int upstream_unsubscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                         uint16_t *ret_pid);
/* Acknowledges a broker QoS 1 PUBLISH. Acks go out in call order. */
int upstream_puback(struct upstream *u, uint16_t pid);

/* Ends the link. send_disconnect: write DISCONNECT first (a clean end: the
 * broker discards the Will); false: close TCP at once so the broker
 * publishes the Will. DISCONNECT is only sent once CONNACK was received;
 * before that the TCP connection is closed at once. NULL-safe. No callbacks
 * after this; u must not be used again. */
void upstream_close(struct upstream *u, bool send_disconnect);

bool upstream_is_connected(const struct upstream *u);
