/* A device session: one per accepted MQTT connection. It owns the
 * connection's state machine (wait CONNECT -> authenticating -> waiting for
 * the upstream CONNACK -> active -> closing), the CONNECT deadline counted
 * from accept, keepalive (1.5x), the token deadline, packet-id bookkeeping
 * between the device and its upstream session, and the limits. It never
 * touches sockets: the transport (listener.c) feeds bytes in, drains the
 * output buffer, and is told to close; nor SQL: it calls registry/.
 * Order of the data path: bytes -> mqtt_frame -> mqtt_decode -> one handler
 * per packet type -> personality (topic map, allow/deny) -> upstream link. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct db;
struct lws_vhost;
struct sess;
struct sess_hub;

/* What the daemon configures (copied from struct cfg by daemon/). */
struct aws_issuer;

struct sess_config {
    /* Google token rules (seconds). */
    int64_t max_token_lifetime;
    int64_t refresh_interval;
    int64_t clock_skew;
    /* Upstream. */
    char upstream_host[256];
    int upstream_port;
    char upstream_username[256];
    char upstream_password[256];
    char client_id_prefix[128];
    uint8_t upstream_protocol_version;  /* 5 or 4 (3.1.1) */
    char google_prefix[128];
    char aws_prefix[128];           /* AWS device topics go under it */
    char aws_region[64];            /* for policy ARNs */
    char aws_account[32];
    char pubsub_prefix[128];        /* notification-config routes go under it */
    /* Limits. */
    int connect_timeout;            /* s, from accept to CONNACK sent */
    size_t max_packet;              /* codec limit */
    size_t max_inflight;            /* QoS 1 in flight per direction */
    size_t max_subscriptions;
    int max_messages_per_second;    /* per connection (Google: 100) */
    int max_state_per_second;       /* per device (Google: 1) */
    int max_bytes_per_second;       /* Google: device-to-cloud payload per device (512 KB/s) */
    int aws_max_messages_per_second;/* AWS: per connection (100) */
    int aws_max_bytes_per_second;   /* AWS: per connection (512 KB/s) */
    /* Publishes what the daemon originates on the service link (AWS
     * lifecycle events at QoS 0, best effort; shadow responses at QoS 1);
     * may be NULL. */
    int (*service_publish)(void *ud, const char *topic, const void *data, size_t len, int qos);
    void *service_ud;
    /* The daemon's CA, which issues fleet-provisioning certificates
     * (borrowed; NULL: fleet provisioning answers 500). */
    const struct aws_issuer *aws_issuer;
};

/* Counters for /metrics. Refusals are counted by enum reg_auth_reason. */
#define SESS_AUTH_REASONS 32
struct sess_stats {
    uint64_t accepted;              /* connections handed to sessions */
    uint64_t connected;             /* CONNACK 0 sent */
    uint64_t auth_refused[SESS_AUTH_REASONS];
    uint64_t malformed;             /* closed for a malformed packet */
    uint64_t publishes_in;
    uint64_t publishes_out;
    uint64_t current;               /* open sessions */
};

/* The transport under a session (Redis's connection.h habit). */
struct sess_transport_ops {
    /* Output is pending: ask the loop for a writable callback. */
    void (*want_write)(void *t);
    /* Stop (false) or resume (true) reading from the socket. */
    void (*rx_flow)(void *t, bool enable);
    /* Close once pending output is flushed. The transport then calls
     * sess_on_transport_closed. */
    void (*close)(void *t);
    /* (Re)arm the session's single timer to fire after ms; cancel if ms < 0. */
    void (*arm_timer)(void *t, int64_t ms);
    /* The client certificate as DER (*ret malloc'd: free it), -ENOENT when
     * the client sent none. May be NULL (no TLS). */
    int (*peer_cert)(void *t, uint8_t **ret, size_t *ret_len);
};

/* Everything sessions share; one per daemon. */
int sess_hub_new(const struct sess_config *cfg, struct db *db, struct lws_vhost *upstream_vh,
                 struct sess_hub **ret);
void sess_hub_free(struct sess_hub *hub);
const struct sess_stats *sess_hub_stats(const struct sess_hub *hub);
/* Closes every session of the device (blocked, deleted, credentials changed).
 * recheck: reload the device and close only if it is now blocked, deleted, or
 * the credential that authenticated the session is gone. Returns how many
 * sessions were closed. */
int sess_hub_device_changed(struct sess_hub *hub, int64_t device_rowid, bool deleted);
/* A new config version was stored for the device: a connected device
 * subscribed to its config topic gets it now. Returns 1 if sent, else 0. */
int sess_hub_config_updated(struct sess_hub *hub, int64_t device_rowid);
/* Whether a command for the device (subfolder may be NULL/"") would be
 * delivered: 0 yes, -ENOTCONN when the device is not connected, -ENOENT when
 * it is not subscribed to a matching commands topic (Google's
 * sendCommandToDevice failed then). The command itself goes out through the
 * broker (google/P/L/R/D/commands[/SUB]) so backends see it too. */
int sess_hub_command_target(struct sess_hub *hub, int64_t device_rowid, const char *subfolder);
/* AWS: the certificate's status changed or it was deleted: its sessions
 * close unless it is still ACTIVE (and then recompile their policies).
 * Returns how many sessions were closed. */
int sess_hub_aws_cert_changed(struct sess_hub *hub, int64_t cert_rowid);
/* AWS: policies, versions, attachments or things changed: every AWS
 * session recompiles its policies and closes when iot:Connect is no longer
 * allowed. Returns how many sessions were closed. */
int sess_hub_aws_policies_changed(struct sess_hub *hub);
/* Daemon shutdown: close every session (upstream ended the way the
 * personality does). */
void sess_hub_close_all(struct sess_hub *hub);
size_t sess_hub_count(const struct sess_hub *hub);

/* A new accepted connection. peer is the printable "addr:port". tls_ssl is
 * the SSL* (may be NULL) for identity checks at the first byte. */
int sess_new(struct sess_hub *hub, const struct sess_transport_ops *ops, void *t, const char *peer,
             struct sess **ret);
/* Bytes received from the device. Returns 0, or a negative error after
 * which the session has asked the transport to close. */
int sess_on_rx(struct sess *s, const uint8_t *data, size_t len);
/* Output to write: *ret_p and *ret_len (borrowed) until sess_output_consume. */
void sess_output(struct sess *s, const uint8_t **ret_p, size_t *ret_len);
void sess_output_consume(struct sess *s, size_t n);
/* The session's timer fired. */
void sess_on_timer(struct sess *s);
/* The transport is gone (peer closed, error, or after close()): end the
 * upstream session and free. s is invalid afterwards. */
void sess_on_transport_closed(struct sess *s);
