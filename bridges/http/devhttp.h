/* The device HTTPS bridge on the "http-devices" listener: Google Cloud IoT
 * Core's DeviceService v1 (publishEvent, setState, getConfig), where every
 * request carries its own device JWT, checked exactly as an MQTT CONNECT
 * would be; and AWS IoT's HTTPS publish (POST /topics/T?qos=), where the
 * TLS client certificate is the identity and the certificate's policies
 * decide. Events, state and publishes go to the broker on the service
 * link. The daemon creates the vhost (TLS, ALPN "http/1.1", a client
 * certificate requested but not required) with devhttp_protocols() and
 * calls devhttp_init before the loop runs. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct db;
struct service_link;
struct lws_protocols;

struct devhttp_options {
    struct db *db;                   /* borrowed; outlives the vhost */
    struct service_link *service;    /* borrowed; NULL answers event publishes 503 */
    const char *google_prefix;       /* upstream topic prefix, e.g. "google/" (copied) */
    const char *pubsub_prefix;       /* notification-config topics, e.g. "pubsub/" (copied;
                                      * NULL = "pubsub/") */
    const char *aws_prefix;          /* AWS publishes, e.g. "aws/" (copied; NULL = "aws/") */
    const char *aws_region;          /* policy ARNs (copied; NULL or "" = "us-east-1") */
    const char *aws_account_id;      /* policy ARNs (copied; NULL or "" = "123456789012") */
    int64_t clock_skew;              /* JWT rules, seconds (DESIGN.md "Google token rules") */
    int64_t max_token_lifetime;
    int64_t refresh_interval;
    size_t max_body;                 /* request body cap (limits.http_max_body); 0 = 1 MiB */
    int max_state_per_second;        /* per device; <= 0 = no limit */
};

/* Copies o (strings too). May be called again to replace the options.
 * Returns 0, -EINVAL (no db), -ENAMETOOLONG (a prefix, the region or the
 * account) or -ENOMEM. */
int devhttp_init(const struct devhttp_options *o);
/* Forgets the service link and frees the rate table. Call it before
 * service_link_free: connections still open afterwards (closed by
 * lws_context_destroy) must not cancel completions on a freed link. */
void devhttp_fini(void);
/* [0] the HTTP handler ("iotcored-http-devices"), then an all-NULL
 * terminator (the Debian lws has no LWS_PROTOCOL_LIST_TERM). */
const struct lws_protocols *devhttp_protocols(void);
