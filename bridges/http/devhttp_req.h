/* The transport-free half of the device HTTPS bridge (Google's DeviceService
 * v1, reference google-iot-core.md section 2): routes from the path, the
 * JSON bodies of publishEvent and setState, the getConfig query, Bearer
 * header parsing, the Google error envelope, the config reply, upstream
 * topics and the per-device state rate limit. No sockets, no store, no
 * logging: devhttp.c (the lws glue) calls these and fuzzers and unit tests
 * call them directly. Not installed; the daemon sees only devhttp.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/reg_jwt.h"
#include "registry/reg_names.h"
#include "registry/reg_registry_cfg.h"

/* Google's payload limits, after base64 decoding [reference 1.7]. */
#define DEVHTTP_MAX_EVENT (256 * 1024)
#define DEVHTTP_MAX_STATE (64 * 1024)
/* Multi-level subfolders up to 256 characters (Google's command rule,
 * applied to events too: both become upstream topic levels). */
#define DEVHTTP_MAX_SUBFOLDER 256
/* "projects/P/locations/L/registries/R/devices/D" with four 255-byte ids. */
#define DEVHTTP_CLIENT_ID_MAX 1100

/* google.rpc.Code names the bridge answers with. */
enum devhttp_gstatus {
    DEVHTTP_G_INVALID_ARGUMENT,
    DEVHTTP_G_FAILED_PRECONDITION,
    DEVHTTP_G_OUT_OF_RANGE,
    DEVHTTP_G_UNAUTHENTICATED,
    DEVHTTP_G_PERMISSION_DENIED,
    DEVHTTP_G_NOT_FOUND,
    DEVHTTP_G_RESOURCE_EXHAUSTED,
    DEVHTTP_G_INTERNAL,
    DEVHTTP_G_UNIMPLEMENTED,
    DEVHTTP_G_UNAVAILABLE,
    DEVHTTP_G_DEADLINE_EXCEEDED,
};
const char *devhttp_gstatus_name(enum devhttp_gstatus s);
/* The HTTP code of the canonical mapping (400, 401, 403, 404, 429, 500,
 * 501, 503, 504). */
int devhttp_gstatus_http(enum devhttp_gstatus s);

/* Why a request is refused: HTTP code, status and the envelope's message. */
struct devhttp_err {
    int http;
    enum devhttp_gstatus status;
    char msg[320];
};
/* Sets err (NULL-safe) with the canonical HTTP code of s. */
void devhttp_err_set(struct devhttp_err *err, enum devhttp_gstatus s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* {"error":{"code":HTTP,"message":MSG,"status":NAME}} plus a newline, as a
 * malloc'd NUL-terminated string. Returns 0 or -ENOMEM. */
int devhttp_error_body(const struct devhttp_err *err, char **ret, size_t *ret_len);

/* ---- routes ---- */

enum devhttp_route {
    DEVHTTP_ROUTE_PUBLISH_EVENT = 1,   /* POST .../devices/D:publishEvent */
    DEVHTTP_ROUTE_SET_STATE,           /* POST .../devices/D:setState */
    DEVHTTP_ROUTE_GET_CONFIG,          /* GET  .../devices/D/config */
};

struct devhttp_target {
    enum devhttp_route route;
    struct reg_google_path names;      /* as the path spells them (D may be the numId) */
    /* The MQTT client id the same device would use, for
     * reg_google_authenticate: the HTTP bridge authenticates exactly as
     * the MQTT one does. NUL-terminated. */
    char client_id[DEVHTTP_CLIENT_ID_MAX];
    size_t client_id_len;
};

/* Parses a decoded request path (no query) of the form
 * /v1/projects/P/locations/L/registries/R/devices/D{:publishEvent|:setState|/config}.
 * Returns 0, or -ENOENT for anything else (empty or over-long ids, extra
 * segments, an unknown verb). ret is written only on success. */
int devhttp_parse_path(const char *path, size_t len, struct devhttp_target *ret);
/* The one method a route serves ("POST" or "GET"), for 405 and Allow:. */
const char *devhttp_route_method(enum devhttp_route r);
/* "publishEvent", "setState", "getConfig" for log lines. */
const char *devhttp_route_name(enum devhttp_route r);

/* ---- Authorization ---- */

/* Finds the credential in an Authorization header value "Bearer TOKEN" (the
 * scheme in any case, spaces around the token ignored). Returns 0 and a
 * slice into hdr, or -ENOENT when the header carries no Bearer credential
 * (another scheme, or nothing after it). */
int devhttp_bearer(const char *hdr, size_t len, const char **ret_tok, size_t *ret_len);
/* The answer to a refused authentication: 403 PERMISSION_DENIED for every
 * token and device problem (Google did not say which, and an unknown
 * device must look like a bad key), 503 UNAVAILABLE for a store error. */
void devhttp_auth_refusal(enum reg_auth_reason r, struct devhttp_err *err);

/* ---- gatewayInfo ---- */

/* GatewayInfo is a oneof [reference 2, ClearBlade's GatewayInfo page]:
 * - delegatedDeviceId: the path and the token belong to the GATEWAY, which
 *   acts for the named device;
 * - gatewayId: the path and the token belong to the DEVICE, and the request
 *   comes through the named gateway.
 * Unset (or an empty message) when no gateway is involved. */
enum devhttp_via {
    DEVHTTP_VIA_NONE = 0,
    DEVHTTP_VIA_DELEGATED_DEVICE,      /* id names the device the gateway acts for */
    DEVHTTP_VIA_GATEWAY,               /* id names the gateway the device goes through */
};
struct devhttp_gateway_info {
    enum devhttp_via via;
    /* A device id (reg_name_check_id) or a decimal numId, NUL-terminated;
     * "" when via is NONE. */
    char id[256];
};
/* "delegatedDeviceId" / "gatewayId" (logs), "" for NONE. */
const char *devhttp_via_name(enum devhttp_via v);

/* ---- bodies ---- */

struct devhttp_event {
    uint8_t *data;          /* owned, never NULL after success (len may be 0) */
    size_t len;
    char *subfolder;        /* owned; NULL when absent or empty */
    struct devhttp_gateway_info gateway;
};
void devhttp_event_clear(struct devhttp_event *e);   /* NULL-safe */

struct devhttp_state {
    uint8_t *data;          /* owned, never NULL after success */
    size_t len;
    struct devhttp_gateway_info gateway;
};
void devhttp_state_clear(struct devhttp_state *s);   /* NULL-safe */

/* publishEvent's body {"binaryData"|"binary_data": b64, "subFolder"|
 * "sub_folder": str, "gatewayInfo"|"gateway_info": {"delegatedDeviceId"|
 * "delegated_device_id": id} or {"gatewayId"|"gateway_id": id}}. Both
 * base64 alphabets, padded or not. ret->gateway says who gatewayInfo names;
 * deciding whether that is allowed is the glue's business (it needs the
 * store). Returns 0 and *ret, or a negative errno with err set: -EBADMSG
 * (not JSON, unknown or duplicated field, wrong type, bad base64, bad
 * subfolder, both gatewayInfo members, an id that is neither a device id
 * nor a numId: 400 INVALID_ARGUMENT), -EMSGSIZE (payload over
 * DEVHTTP_MAX_EVENT: 400 INVALID_ARGUMENT), -ENOMEM (500). */
int devhttp_parse_event(const char *body, size_t len, struct devhttp_event *ret,
                        struct devhttp_err *err);
/* setState's body {"state": {"binaryData"|"binary_data": b64},
 * "gatewayInfo"|"gateway_info": {...}}; "state" is required. Same returns,
 * with DEVHTTP_MAX_STATE. */
int devhttp_parse_state(const char *body, size_t len, struct devhttp_state *ret,
                        struct devhttp_err *err);

/* ---- getConfig ---- */

struct devhttp_config_query {
    int64_t local_version;  /* 0 when absent */
    bool have_version;
    struct devhttp_gateway_info gateway;
};
/* Feeds one decoded query argument "name=value" (as lws hands them over).
 * localVersion / local_version: a decimal int64 >= 0 (both may appear only
 * with the same value); {gatewayInfo|gateway_info}.{delegatedDeviceId|
 * delegated_device_id|gatewayId|gateway_id}: the gatewayInfo oneof as in
 * the bodies (repeating one member with the same value is harmless; two
 * members or two values are not; another gatewayInfo.* name is unknown);
 * anything else is ignored. Returns 0 or -EBADMSG with err set (400
 * INVALID_ARGUMENT). */
int devhttp_config_query_add(struct devhttp_config_query *q, const char *arg, size_t len,
                             struct devhttp_err *err);
/* Google: a localVersion above the latest is OUT_OF_RANGE. Returns 0 or
 * -ERANGE with err set. */
int devhttp_config_check(int64_t local_version, int64_t latest, struct devhttp_err *err);
/* {"version":"N","cloudUpdateTime":"RFC3339","binaryData":"b64"} plus a
 * newline, malloc'd. Returns 0 or -ENOMEM. */
int devhttp_config_body(int64_t version, int64_t cloud_update_us, const uint8_t *data, size_t len,
                        char **ret, size_t *ret_len);

/* ---- upstream ---- */

/* Who a message is from and where its registry routes it. */
struct devhttp_ident {
    const char *google_prefix;         /* e.g. "google/" (borrowed, all of these) */
    const char *pubsub_prefix;         /* e.g. "pubsub/" */
    const char *project, *location, *registry;
    const char *device;                /* the string id, even when the path used the numId */
    const struct reg_registry_cfg *routes;   /* NULL: no notification configs */
};
/* The upstream topic of an event (subfolder NULL or "" for none) or of the
 * state, NUL-terminated into out, chosen as on MQTT: the registry's
 * matching notification config ({pubsub_prefix}PROJECT/TOPIC), else
 * {google_prefix}P/L/R/D/events[/SUBFOLDER] or .../state. Returns the
 * length, or -ENOSPC. */
int devhttp_event_topic(const struct devhttp_ident *id, const char *subfolder, char *out,
                        size_t cap);
int devhttp_state_topic(const struct devhttp_ident *id, char *out, size_t cap);

/* ---- per-device state rate ---- */

/* A token bucket per device (capacity and refill: per_second states a
 * second), so per_second = 1 means "one second since the previous accepted
 * state" (Google's 1/s rule, measured between updates). Buckets live in a
 * fixed open-addressed table; a device whose bucket is full again needs no
 * entry, so the table only holds devices active in the last second. When
 * every probed slot is busy the least recently used one is reused: that
 * device may get one extra state through, never a false refusal. */
struct devhttp_rate_slot {
    int64_t key;            /* device rowid; 0 = free */
    int64_t last_ms;        /* monotonic time of the last update */
    int64_t milli;          /* tokens x 1000 at last_ms */
};
struct devhttp_rate {
    struct devhttp_rate_slot *slots;   /* owned */
    size_t n;
    int per_second;                    /* <= 0: no limit */
};
/* n_slots is rounded up to a power of two. Returns 0 or -ENOMEM. */
int devhttp_rate_init(struct devhttp_rate *r, size_t n_slots, int per_second);
void devhttp_rate_free(struct devhttp_rate *r);   /* NULL-safe */
/* True (and one token taken) when device key may store a state at now_ms. */
bool devhttp_rate_take(struct devhttp_rate *r, int64_t key, int64_t now_ms);
