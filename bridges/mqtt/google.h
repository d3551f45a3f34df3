/* The Google Cloud IoT Core personality: pure topic rules. Device topics
 * (/devices/D/events[/SUB], /devices/D/state, /devices/D/config,
 * /devices/D/commands[/#|/SUB]) map to the upstream namespace
 * {google_prefix}P/L/R/D/... (DESIGN.md "Upstream topic namespace").
 * Everything else is denied: Google closed the connection on a publish to
 * any other topic and answered 0x80 to any other subscription. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Google's payload limits [google-iot-core.md 1.7]. */
#define GOOGLE_MAX_TELEMETRY (256 * 1024)
#define GOOGLE_MAX_STATE (64 * 1024)
/* Google closed connections idle for 20 minutes whatever the keepalive. */
#define GOOGLE_IDLE_LIMIT_S (20 * 60)

struct google_ident {
    const char *prefix;            /* upstream google_prefix, e.g. "google/" (borrowed) */
    const char *project;           /* borrowed, as stored */
    const char *location;
    const char *registry;
    const char *device;            /* the string device id */
};

enum google_pub_kind {
    GOOGLE_PUB_EVENTS = 1,
    GOOGLE_PUB_STATE = 2,
};

enum google_sub_kind {
    GOOGLE_SUB_CONFIG = 1,         /* served by the daemon from the store */
    GOOGLE_SUB_COMMANDS = 2,       /* relayed from the broker */
    GOOGLE_SUB_ERRORS = 3,         /* gateways: asynchronous errors from the daemon */
};

enum google_control {
    GOOGLE_CONTROL_NONE = 0,
    GOOGLE_CONTROL_ATTACH = 1,     /* /devices/D/attach (gateways) */
    GOOGLE_CONTROL_DETACH = 2,     /* /devices/D/detach */
};

/* The device id a topic or filter names: "/devices/{id}/..." -> id (a
 * borrowed slice). Returns false for any other shape. */
bool google_topic_device(const uint8_t *topic, size_t len, const uint8_t **ret_id,
                         size_t *ret_len);
/* Whether the topic is a gateway control message for its device. */
enum google_control google_topic_control(const uint8_t *topic, size_t len);

/* Device PUBLISH topic -> upstream topic, written NUL-terminated to out.
 * Returns the upstream topic length, -EACCES for a topic the device may not
 * publish, -ENOSPC if out is too small. */
int google_map_publish(const struct google_ident *id, const uint8_t *topic, size_t len,
                       char *out, size_t cap, enum google_pub_kind *ret_kind);
size_t google_max_payload(enum google_pub_kind kind);

/* Device SUBSCRIBE filter -> kind, and for commands the upstream filter in
 * out (NUL-terminated; returns its length; 0 for config). -EACCES otherwise. */
int google_map_subscribe(const struct google_ident *id, const uint8_t *filter, size_t len,
                         char *out, size_t cap, enum google_sub_kind *ret_kind);

/* Upstream topic of a broker PUBLISH -> the device topic it is delivered on
 * (/devices/D/commands[/SUB]). Returns its length, or -EACCES when the topic
 * is not this device's commands. */
int google_map_delivery(const struct google_ident *id, const uint8_t *topic, size_t len,
                        char *out, size_t cap);
