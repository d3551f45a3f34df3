/* The service link: the daemon's own MQTT session to the broker
 * (upstream.service_client_id), for what the daemon originates rather than
 * a device: HTTP-bridge events and state, REST commands, later shadow
 * responses and lifecycle events (DESIGN.md "Upstream link"). It reconnects
 * by itself with backoff. A QoS 1 publish reports completion only on the
 * broker's PUBACK, so an HTTP 200 means the broker has the message. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/upstream/upstream.h"

struct service_link;

/* Completion of service_publish: err 0 when the broker acknowledged (QoS 1)
 * or the message was handed to the socket queue (QoS 0); -ENOTCONN when the
 * link was down or dropped before the PUBACK (the message may or may not
 * have arrived: the caller answers "unavailable" and the sender retries). */
typedef void (*service_done_fn)(void *req, int err);

/* params is copied (strings too). Connects at once and keeps reconnecting
 * (1 s, doubling to 30 s) until service_link_free. */
int service_link_open(struct lws_vhost *vh, const struct upstream_params *params,
                      struct service_link **ret);
void service_link_free(struct service_link *s);
bool service_link_up(const struct service_link *s);

/* Publishes; done(req, err) is called exactly once, never from inside this
 * call, unless service_cancel(req) came first. Returns 0, or -ENOTCONN /
 * -EAGAIN / -EMSGSIZE at once (done is not called then). */
struct mqtt5_user_prop;
/* service_publish with MQTT 5 user properties (see upstream_publish_props). */
int service_publish_props(struct service_link *s, const char *topic, const void *payload,
                          size_t len, uint8_t qos, const struct mqtt5_user_prop *props,
                          size_t n_props, service_done_fn done, void *req);
/* Either of the above, retained on the broker when retain is set. */
int service_publish_full(struct service_link *s, const char *topic, const void *payload,
                         size_t len, uint8_t qos, bool retain, const struct mqtt5_user_prop *props,
                         size_t n_props, service_done_fn done, void *req);
int service_publish(struct service_link *s, const char *topic, const void *payload, size_t len,
                    uint8_t qos, service_done_fn done, void *req);
/* Forgets every pending completion for req (its HTTP request went away). */
void service_cancel(struct service_link *s, void *req);

/* A broker message on one of the link's subscriptions; p is borrowed for
 * the call, and a QoS 1 message is acknowledged when fn returns. */
typedef void (*service_message_fn)(void *ud, const struct mqtt_publish *p);
#define SERVICE_MAX_FILTERS 8
/* Subscribes the link (QoS 1) to the filters (copied) now if it is up and
 * again on every reconnection, and hands what arrives to fn. One set of
 * filters per link; a second call replaces the first for the next
 * connection. Returns 0, -EINVAL (too many or too long), -ENOMEM. */
int service_subscribe(struct service_link *s, const char *const *filters, size_t n,
                      service_message_fn fn, void *ud);
