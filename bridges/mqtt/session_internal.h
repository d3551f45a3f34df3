/* Internals shared by the session's files: session.c (life, timers,
 * output, input and dispatch), session_hub.c (the hub's maps and live
 * effects), session_connect.c (CONNECT and refusals), session_upstream.c
 * (the upstream link's callbacks and the in-flight tables),
 * session_subscribe.c (SUBSCRIBE, UNSUBSCRIBE, the filter table),
 * session_publish.c (a device's PUBLISH), session_aws.c (the AWS
 * personality), session_config.c (daemon-owned config delivery) and
 * session_gateway.c (Google gateways). Not included outside
 * bridges/mqtt/session*.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/google.h"
#include "bridges/mqtt/session.h"
#include "bridges/upstream/upstream.h"
#include "common/buf.h"
#include "db/db.h"

struct json_t;
#include "registry/reg_aws_auth.h"
#include "registry/reg_device_auth.h"
#include "registry/reg_gateway.h"
#include "registry/reg_registry_cfg.h"

#define HUB_BUCKETS 4096
#define SUB_FILTER_MAX 1024
#define UPSTREAM_KEEPALIVE 60
#define PENDING_SUBACKS 8
#define RETRY_MS 20                 /* re-try input paused on a full upstream queue */
/* Google resent an unacknowledged QoS 1 config "until the device PUBACKs
 * it" without saying how often; every 5 s keeps a device that lost the
 * packet from waiting long. */
#define CONFIG_RESEND_MS 5000

enum sess_state {
    SESS_WAIT_CONNECT,      /* accepted; TLS and CONNECT must finish before the deadline */
    SESS_UPSTREAM_WAIT,     /* authenticated; waiting for the broker's CONNACK */
    SESS_ACTIVE,
    SESS_CLOSING,           /* close requested; only output flushing remains */
};

/* Device -> broker QoS 1 publish awaiting the broker's PUBACK. */
struct up_slot {
    uint16_t device_pid;    /* 0 = free */
    uint16_t upstream_pid;
};

enum down_kind { DOWN_FREE = 0, DOWN_RELAY, DOWN_CONFIG };

/* Who the device is, decided at CONNECT (DESIGN.md "Personality"). */
enum sess_personality {
    SESS_GOOGLE = 0,        /* client id projects/P/locations/L/registries/R/devices/D + JWT */
    SESS_AWS,               /* client certificate */
};

/* Daemon -> device QoS 1 delivery awaiting the device's PUBACK. */
struct down_slot {
    enum down_kind kind;
    uint16_t device_pid;
    uint16_t upstream_pid;  /* DOWN_RELAY */
    int64_t config_version; /* DOWN_CONFIG */
    int64_t config_device;  /* DOWN_CONFIG: whose config (a gateway holds several) */
    int64_t resend_at;      /* DOWN_CONFIG: monotonic ms of the next resend */
};

/* Broker QoS 1 publishes in arrival order, acked upstream from the head. */
#define ACKS_INITIAL 8
struct ack_entry {
    uint16_t upstream_pid;
    bool done;
};

struct sub_entry {
    char *filter;                    /* owned, device-side filter (< SUB_FILTER_MAX) */
    uint8_t qos;
    enum google_sub_kind kind;
    int64_t device_rowid;            /* the device the filter names (self or attached) */
    /* Relayed from the broker (commands; AWS): the upstream SUBSCRIBE's
     * packet id until the broker's SUBACK, 0 once it is in place there.
     * Until then a command sent to the device would find no subscriber. */
    uint16_t upstream_pid;
};

/* A device a gateway attached (Google: up to 1,000 at a time). */
struct attached {
    int64_t rowid;
    uint64_t num_id;                 /* for the deviceNumId attribute */
    char id[DB_ID_MAX];
};

struct pending_suback {
    bool used;
    uint16_t upstream_pid;
    uint16_t device_pid;
    size_t count;
    uint8_t codes[MQTT_MAX_FILTERS];
    bool waits_upstream[MQTT_MAX_FILTERS];
    int64_t config_devices[MQTT_MAX_FILTERS];  /* configs to send after the SUBACK */
    size_t n_config_devices;
};

struct sess {
    struct sess_hub *hub;
    const struct sess_transport_ops *ops;
    void *t;
    char peer[64];
    char client_id[300];             /* escaped for logs */
    enum sess_state state;
    struct buf in;
    struct buf out;
    bool rx_paused;

    /* Identity, once authenticated. */
    enum sess_personality pers;
    struct reg_aws_auth *aws;        /* owned; AWS sessions only */
    bool client_disconnected;        /* the device sent DISCONNECT (AWS: forwarded upstream) */
    bool resumed;                    /* AWS: a persistent session the broker resumed */
    /* AWS lifecycle: why the session ends (disconnectReason; NULL: the
     * default of where it ends), and the ids its two events share. */
    const char *disc_reason;
    uint64_t presence_version;
    char session_uuid[37];
    struct reg_google_auth auth;
    bool authenticated;
    struct google_ident ident;
    struct upstream *up;             /* owned; NULL when gone */
    struct sess *hub_next;           /* device map chain */
    size_t all_index;                /* position in hub->all */
    bool in_hub;

    /* Timers (monotonic ms). */
    int64_t connect_deadline;
    int64_t token_deadline;
    int64_t last_rx;
    int64_t timer_at;                /* when the armed timer fires; 0 = none */
    uint16_t keepalive;

    /* Rate limit window (Google: 100 msg/s per connection). */
    int64_t rate_window;
    int rate_count;
    int64_t rate_bytes;              /* payload bytes in the current window (512 KB/s quotas) */
    int64_t last_state_ms;           /* Google: 1 state update/s per device */

    /* Registry routes (only when the registry has notification configs). */
    struct reg_registry_cfg *routes; /* owned, may be NULL */

    /* Gateways: their settings and the devices attached now. */
    struct reg_gateway_cfg gw;
    struct attached *attached;       /* owned */
    size_t n_attached, cap_attached;

    /* In-flight tables, sized max_inflight (downs from the first QoS 1
     * delivery; the ack ring grows from ACKS_INITIAL). */
    struct up_slot *ups;
    struct down_slot *downs;
    struct ack_entry *acks;
    size_t acks_head, acks_count, acks_cap;
    uint16_t next_device_pid;

    struct sub_entry *subs;          /* owned, grown on demand up to max_subscriptions */
    size_t n_subs, cap_subs;
    /* SUBSCRIBEs awaiting the broker's SUBACK (owned; NULL = free slot). */
    struct pending_suback *pending[PENDING_SUBACKS];
};

struct sess_hub {
    struct sess_config cfg;
    struct db *db;
    struct lws_vhost *upstream_vh;
    struct sess_stats stats;
    struct sess *buckets[HUB_BUCKETS];   /* authenticated Google sessions by device rowid */
    struct sess *aws_buckets[HUB_BUCKETS]; /* authenticated AWS sessions by client id */
    struct reg_aws_env aws_env;          /* points into cfg */
    uint64_t presence_version;           /* AWS versionNumber: grows with every connect */
    size_t n_all;
    struct sess **all;                   /* every live session, for close_all */
    size_t all_cap;
};

#define GATEWAY_MAX_ATTACHED 1000

/* ---- session.c ---- */
/* Marks the session closing (logged with why); the transport closes it and
 * calls sess_on_transport_closed later. Safe to call twice. */
void sess_close(struct sess *s, const char *why);
/* Queue one packet for the device (closing it when its output is full). */
void sess_send_connack(struct sess *s, uint8_t rc);
void sess_send_ack(struct sess *s, enum mqtt_type type, uint16_t pid);
void sess_send_publish(struct sess *s, const struct mqtt_publish *p);
/* Arms the session's timer for its next deadline when that comes earlier
 * than the armed one. */
void sess_rearm_timer(struct sess *s);
/* Frames, decodes and dispatches what waits in the input buffer; negative
 * when the session closed. */
int sess_process_input(struct sess *s);

/* ---- session_hub.c ---- */
/* The authenticated Google session of device rowid, or NULL. */
struct sess *sess_hub_find(struct sess_hub *h, int64_t rowid);
/* Puts an authenticated session into its personality's map / takes it out
 * (no-op when it is not in one). */
void sess_hub_insert(struct sess_hub *h, struct sess *s);
void sess_hub_remove(struct sess_hub *h, struct sess *s);
/* Adds a new session to the list of live ones (0 or -ENOMEM) / removes it
 * (O(1), at s->all_index). */
int sess_hub_track(struct sess_hub *h, struct sess *s);
void sess_hub_untrack(struct sess_hub *h, struct sess *s);

/* ---- session_connect.c ---- */
/* A CONNECT in SESS_WAIT_CONNECT: picks the personality, authenticates and
 * opens the upstream session. 0 on the way to CONNACK; negative when the
 * session was refused and closed. */
int sess_handle_connect(struct sess *s, const struct mqtt_connect *c);
/* Logs and counts a refused CONNECT, answers it as the personality does
 * (Google: CONNACK with the reason's code; AWS: no CONNACK) and closes. */
void sess_refuse(struct sess *s, enum reg_auth_reason reason);

/* ---- session_upstream.c ---- */
/* Allocates the in-flight tables (sized max_inflight). */
bool sess_alloc_tables(struct sess *s);
/* Opens the session's upstream link (client id up_cid) and moves to
 * SESS_UPSTREAM_WAIT with input paused. On failure answers CONNACK 3 and
 * closes; returns a negative errno then. */
int sess_open_upstream(struct sess *s, const char *up_cid, bool clean_session,
                       const struct mqtt_publish *will);
/* A free device-side delivery slot with a fresh packet id, or NULL. */
struct down_slot *sess_down_alloc(struct sess *s);
/* The device PUBACKed packet id pid: frees its delivery slot and acks the
 * broker (in arrival order) or records the config ack. */
void sess_handle_device_puback(struct sess *s, uint16_t pid);

/* ---- session_subscribe.c ---- */
/* SUBSCRIBE / UNSUBSCRIBE from the device; 0, or negative when the
 * session was closed. */
int sess_handle_subscribe(struct sess *s, const struct mqtt_subscribe *sub);
int sess_handle_unsubscribe(struct sess *s, const struct mqtt_subscribe *uns);
/* The subscription with the highest QoS whose filter matches topic, or NULL. */
const struct sub_entry *sess_sub_match(const struct sess *s, const char *topic, size_t len);
/* Removes subscription j (frees its filter; the last one moves into j). */
void sess_sub_remove(struct sess *s, size_t j);

/* ---- session_publish.c ---- */
/* A device's PUBLISH. Returns 1 if the packet must wait (in-flight window
 * full), 0 if handled, negative if the session was closed. */
int sess_handle_publish(struct sess *s, const struct mqtt_publish *p);

/* ---- session_aws.c ---- */
/* CONNECT of a device that presented a client certificate (der, len; the
 * session takes ownership). Same returns as sess_handle_connect. */
int sess_aws_connect(struct sess *s, const struct mqtt_connect *c, uint8_t *der, size_t len);
/* The PUBLISH's upstream topic into out (and whether it keeps RETAIN), or
 * negative after closing the session (a denied publish disconnects, as AWS
 * does). */
int sess_aws_publish_topic(struct sess *s, const struct mqtt_publish *p, char *out, size_t cap);
/* One SUBSCRIBE filter: its upstream filter into out, or -EACCES (0x80). */
int sess_aws_subscribe_filter(struct sess *s, const struct mqtt_topic_qos *f, char *out,
                              size_t cap);
/* A broker PUBLISH for this AWS session: the device topic into out and the
 * subscription it is delivered under, or -EACCES to drop it (no matching
 * subscription, iot:Receive denied). */
int sess_aws_delivery(struct sess *s, const struct mqtt_publish *p, char *out, size_t cap,
                      const struct sub_entry **ret_sub);
/* AWS lifecycle events [aws-iot-core.md 3.11]: $aws/events/presence/
 * connected|disconnected/CLIENTID, published under the AWS prefix on the
 * service link. disconnected uses s->disc_reason, else fallback. */
void sess_aws_presence_connected(struct sess *s);
/* Publishes one lifecycle event (kind "presence/connected",
 * "subscriptions/subscribed", ...) for the session's client id; takes j. */
void sess_aws_event(struct sess *s, const char *kind, struct json_t *j);
/* ---- session_aws_reserved.c ---- */
/* A device's PUBLISH on a topic the daemon serves (aws_reserved_request:
 * shadows, fleet provisioning), already allowed by the policy: served here
 * and never forwarded; a QoS 1 request is acknowledged once served.
 * Returns 0, or negative when the session was closed. */
int sess_aws_reserved_publish(struct sess *s, const struct mqtt_publish *p);
/* ---- session_aws_provision.c ---- */
/* A fleet-provisioning request ($aws/certificates/create[-from-csr]/json,
 * $aws/provisioning-templates/NAME/provision/json); answers go to this
 * connection alone. Returns 0, or negative when the session was closed. */
int sess_aws_provision(struct sess *s, const struct mqtt_publish *p);
/* subscriptions/subscribed and /unsubscribed lifecycle events for the
 * filters (device topics) of one SUBSCRIBE or UNSUBSCRIBE. */
void sess_aws_subscription_event(struct sess *s, bool subscribed, const struct mqtt_slice *filters,
                                 size_t n);
void sess_aws_presence_disconnected(struct sess *s, const char *fallback);
struct sess *sess_hub_find_aws(struct sess_hub *h, const char *client_id);
/* Whether a newer connection with s's client id is being set up (it takes
 * the broker session over before its own CONNACK). */
bool sess_aws_newer_exists(const struct sess *s);
void sess_hub_insert_aws(struct sess_hub *h, struct sess *s);
void sess_hub_remove_aws(struct sess_hub *h, struct sess *s);

/* ---- session_config.c ---- */
/* Sends the latest config of device_rowid (self or attached) on
 * /devices/{device_id}/config at qos; at QoS 1 it supersedes any unacked
 * version of that device and is resent until acked. */
void sess_config_deliver(struct sess *s, int64_t device_rowid, const char *device_id, uint8_t qos);
/* Resends every unacknowledged config whose time has come. */
void sess_config_resend_due(struct sess *s, int64_t now_ms);
/* Earliest resend time, or INT64_MAX when nothing waits. */
int64_t sess_config_next_resend(const struct sess *s);
/* The session's config subscription for device_rowid, or NULL. */
const struct sub_entry *sess_config_subscription(const struct sess *s, int64_t device_rowid);
/* The device PUBACKed a config delivery: record the ack time. */
void sess_config_acked(struct sess *s, struct down_slot *d);

/* ---- session_gateway.c ---- */
/* Handles /devices/D/attach and /detach (p's topic); 0 or negative when the
 * session was closed (a non-gateway sending them, as Google did). */
int sess_gateway_control(struct sess *s, const struct mqtt_publish *p, enum google_control c);
/* The identity a topic or filter acts for: the device itself or a device
 * its gateway attached. Returns false when it names neither. */
bool sess_target(const struct sess *s, const uint8_t *topic, size_t len, struct google_ident *ret,
                 int64_t *ret_rowid);
/* The session through which device_rowid is reachable: its own, or the
 * gateway session it is attached to. */
struct sess *sess_hub_reach(struct sess_hub *h, int64_t device_rowid);
/* Detaches the device (deleted, blocked) from whichever gateway holds it. */
void sess_gateway_forget(struct sess_hub *h, int64_t device_rowid);

/* Asks the transport for a writable callback when output waits. */
static inline void sess_want_write(struct sess *s)
{
    if (s->out.len)
        s->ops->want_write(s->t);
}

/* Encodes one packet of at most len bytes into the output buffer; closes on
 * overflow (a device that does not read its output is dropped, not
 * buffered for ever). */
#define EMIT(s, len, ...)                                                           \
    do {                                                                            \
        uint8_t *p_;                                                                \
        struct wcur w_;                                                             \
        if (buf_reserve(&(s)->out, (len), &p_) < 0) {                               \
            sess_close((s), "output buffer full (device not reading)");             \
            break;                                                                  \
        }                                                                           \
        wcur_init(&w_, p_, (len));                                                  \
        __VA_ARGS__;                                                                \
        if (w_.err) {                                                               \
            sess_close((s), "encoder error");                                       \
            break;                                                                  \
        }                                                                           \
        buf_commit(&(s)->out, w_.off);                                              \
        sess_want_write(s);                                                              \
    } while (0)

