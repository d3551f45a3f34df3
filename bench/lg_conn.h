/* One load-generator connection: an explicit state machine (TCP connect ->
 * TLS handshake -> CONNECT/CONNACK -> [SUBSCRIBE/SUBACK] -> up) over a
 * non-blocking socket registered edge-triggered in the run's epoll set.
 * Packets are framed, decoded and encoded with the project's MQTT codec
 * (client role). Input and output buffers are bounded; QoS 1 publishes use
 * a fixed window of packet ids. The connection reports what happens through
 * the callbacks of its struct lg_net; it never frees itself: the owner's
 * array holds it until the run ends, so a stale epoll event finds it
 * closed. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "bridges/mqtt/codec.h"
#include "common/buf.h"

#define LG_MAX_WINDOW 64            /* QoS 1 publishes in flight per connection */
#define LG_OUT_MAX (256 * 1024)     /* bytes queued for one socket */
#define LG_OUT_HIGH (16 * 1024)     /* above this, the run stops adding publishes */
#define LG_TICKET_POOL 4096         /* TLS session tickets kept for --resume */

enum lg_role {
    LG_ROLE_DEVICE = 0,
    LG_ROLE_SUB = 1,                /* backend subscriber: SUBSCRIBE after CONNACK */
};

enum lg_state {
    LG_ST_NEW = 0,
    LG_ST_TCP,                      /* connect() in progress */
    LG_ST_TLS,                      /* handshake in progress */
    LG_ST_CONNACK,                  /* CONNECT sent */
    LG_ST_SUBACK,                   /* SUBSCRIBE sent (subscriber) */
    LG_ST_UP,
    LG_ST_CLOSED,
};

struct lg_conn;

/* What every connection of a run shares. */
struct lg_net {
    int epfd;
    SSL_CTX *ssl_ctx;               /* borrowed; NULL for plain TCP devices */
    const char *verify_ip;          /* server IP to check in its certificate, or NULL */
    bool resume;                    /* offer a session ticket from the pool */
    /* Tickets received and not used yet, newest last. Each is offered once:
     * servers with stateful TLS 1.3 tickets (SSL_OP_NO_TICKET) accept a
     * ticket only once, as a reconnecting device would use its own. */
    SSL_SESSION *pool[LG_TICKET_POOL];  /* owned */
    size_t pool_n;
    size_t max_packet;
    uint16_t keepalive;             /* seconds, sent in CONNECT */
    void *ud;
    void (*on_up)(struct lg_conn *c, void *ud);
    void (*on_fail)(struct lg_conn *c, const char *kind, void *ud);   /* kind: static string */
    void (*on_puback)(struct lg_conn *c, uint32_t seq, int64_t sent_ns, void *ud);
    void (*on_message)(struct lg_conn *c, const struct mqtt_publish *p, void *ud);
};

struct lg_conn {
    struct lg_net *net;             /* borrowed */
    enum lg_role role;
    enum lg_state st;
    uint32_t idx;
    int fd;
    SSL *ssl;                       /* owned */
    bool use_tls;
    struct sockaddr_in dst;
    struct sockaddr_in src;         /* sin_addr 0: let the kernel pick */
    /* CONNECT fields, borrowed from the run (must outlive the connection). */
    const char *client_id;
    const char *username;           /* NULL: none */
    const char *password;           /* NULL: none */
    const char *sub_filter;         /* subscriber only */
    uint8_t sub_qos;
    struct buf in;
    struct buf out;
    int64_t t_start_ns;             /* connect() called */
    int64_t t_up_ns;                /* CONNACK 0 (device) / SUBACK (subscriber) */
    int64_t t_last_tx_ns;
    bool offered;                   /* a session ticket was offered (resume) */
    bool resumed;                   /* TLS session was resumed */
    bool disconnected;              /* we sent DISCONNECT */
    /* QoS 1 window: slot i carries packet id i + 1. */
    uint16_t window;
    uint16_t inflight;
    bool slot_used[LG_MAX_WINDOW];
    uint32_t slot_seq[LG_MAX_WINDOW];
    int64_t slot_ns[LG_MAX_WINDOW];
    uint32_t next_seq;              /* next sequence number to publish */
    uint64_t sent, acked;
};

int64_t lg_now_ns(void);            /* CLOCK_MONOTONIC */

/* Sets up SSL_CTX callbacks the connections rely on (session capture). */
void lg_net_init_ssl(struct lg_net *net);
void lg_net_free(struct lg_net *net);

/* Starts connecting. On an immediate failure the connection is closed and
 * on_fail has been called. */
void lg_conn_start(struct lg_conn *c);
/* Drives the state machine after epoll reported events for c. */
void lg_conn_event(struct lg_conn *c, uint32_t events);
/* True when a publish of this QoS would be accepted right now. */
bool lg_conn_can_publish(const struct lg_conn *c, uint8_t qos);
/* Queues and flushes one PUBLISH; seq and ts_ns are only recorded for the
 * PUBACK callback. Returns 0, -EAGAIN (window full or output above
 * LG_OUT_HIGH) or another negative errno (the connection is then closed). */
int lg_conn_publish(struct lg_conn *c, const char *topic, size_t tlen, uint8_t qos,
                    const uint8_t *payload, size_t plen, uint32_t seq, int64_t ts_ns);
void lg_conn_ping(struct lg_conn *c);
/* Sends DISCONNECT (when up), flushes what the socket takes, closes. */
void lg_conn_disconnect(struct lg_conn *c);
/* Closes and reports kind through on_fail (timeouts decided by the run). */
void lg_conn_abort(struct lg_conn *c, const char *kind);
/* Closes without reporting (end of run). */
void lg_conn_close_quiet(struct lg_conn *c);
/* Frees buffers; the connection must be closed. */
void lg_conn_release(struct lg_conn *c);
