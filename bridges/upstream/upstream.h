/* Upstream link: one MQTT 3.1.1 client session to the broker, speaking our
 * codec (client role) over an lws raw client connection. Used once per
 * authenticated device and once for the daemon's service link.
 * The link picks its own packet ids (1..65535, skipping ids in flight) and
 * never acknowledges a broker QoS 1 PUBLISH by itself: the owner calls
 * upstream_puback when the device acked it or when the daemon dropped it
 * (DESIGN.md "Upstream link"). Callbacks run on the loop thread; after
 * upstream_close returns, no callback runs for that link again. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/codec.h"

struct lws_vhost;
struct lws_protocols;
struct upstream;

struct upstream_callbacks {
    /* The broker answered CONNECT. rc is the CONNACK code (0 accepted). If
     * rc != 0 on_closed follows. */
    void (*on_connack)(void *ud, uint8_t rc, bool session_present);
    /* PUBACK for a QoS 1 publish we sent (pid as returned by upstream_publish). */
    void (*on_puback)(void *ud, uint16_t pid);
    void (*on_suback)(void *ud, uint16_t pid, const uint8_t *codes, size_t n);
    void (*on_unsuback)(void *ud, uint16_t pid);
    /* A PUBLISH from the broker; p and its slices are borrowed for the call.
     * For QoS 1 the owner must eventually call upstream_puback(p->packet_id),
     * in the order the messages arrived when dropping. QoS 2 from the broker
     * is refused at subscribe time (we never ask for QoS 2). */
    void (*on_publish)(void *ud, const struct mqtt_publish *p);
    /* The link is gone (connect failed, broker closed, protocol error,
     * keepalive timeout). err is a negative errno or mqtt_err. The link
     * frees itself after this returns; do not call upstream_close. */
    void (*on_closed)(void *ud, int err);
};

struct upstream_params {
    const char *host;               /* borrowed for the call */
    int port;
    const char *client_id;
    const char *username;           /* NULL or "" = none */
    const char *password;           /* NULL or "" = none (sent only with a username) */
    uint16_t keepalive;             /* seconds; PINGREQ sent by the link */
    bool clean_session;
    const struct mqtt_publish *will;/* NULL = none; topic/payload/qos/retain used */
    size_t max_packet;              /* largest packet accepted from the broker */
    size_t max_inflight;            /* QoS 1 publishes awaiting PUBACK; more -> -EAGAIN */
    int connect_timeout_ms;         /* TCP + CONNACK deadline */
};

/* The lws protocol entry the daemon puts first in the (non-listening) vhost
 * that upstream connections are made on. */
const struct lws_protocols *upstream_lws_protocol(void);

/* Starts connecting (asynchronous). Returns 0 and *ret, or a negative errno
 * if the connection could not even be started (on_closed is not called
 * then). */
int upstream_open(struct lws_vhost *vh, const struct upstream_params *p,
                  const struct upstream_callbacks *cb, void *ud, struct upstream **ret);

/* Queues a PUBLISH. For qos 1 returns the packet id in *ret_pid (may be NULL
 * for qos 0). -EAGAIN when max_inflight QoS 1 publishes are unacked,
 * -ENOTCONN before CONNACK or after close, -EMSGSIZE if too large. */
int upstream_publish(struct upstream *u, const char *topic, size_t topic_len, const void *payload,
                     size_t len, uint8_t qos, bool retain, uint16_t *ret_pid);
int upstream_subscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                       uint16_t *ret_pid);
int upstream_unsubscribe(struct upstream *u, const struct mqtt_topic_qos *filters, size_t n,
                         uint16_t *ret_pid);
/* Acknowledges a broker QoS 1 PUBLISH. */
int upstream_puback(struct upstream *u, uint16_t pid);

/* Ends the link. send_disconnect: write DISCONNECT first (a clean end: the
 * broker discards the Will); false: close TCP at once so the broker
 * publishes the Will. NULL-safe. No callbacks after this. */
void upstream_close(struct upstream *u, bool send_disconnect);

bool upstream_is_connected(const struct upstream *u);
