/* The device HTTPS bridge's transport glue, the only file of bridges/http
 * that sees libwebsockets. Owns one request at a time per connection
 * (keep-alive reuses the per-session struct): it routes and frames the
 * request, authenticates it before reading any body (so an unauthenticated
 * peer cannot make us buffer), collects the body up to max_body, and
 * answers. Two families share the listener, told apart by the path:
 * Google's DeviceService (Bearer JWT, Google's error envelope; once the
 * body or the getConfig query is parsed, gatewayInfo decides whom the
 * request acts for, resolve_gateway) and AWS's HTTPS publish (POST
 * /topics/T, the TLS client certificate, AWS's {"message","traceId"}
 * answers; aws_admit decides everything but the payload before the body).
 * The listener requests a client certificate without requiring one and
 * accepts any in the handshake: identity is the fingerprint, looked up per
 * request. An event or a QoS 1 publish is answered 200 only once the
 * broker has acknowledged it on the service link (DESIGN.md: acknowledge
 * only what the broker has). */
#include "bridges/http/devhttp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/random.h>

#include "bridges/http/devhttp_aws.h"
#include "bridges/http/devhttp_req.h"
#include "bridges/tls_peer.h"
#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/codec5.h"
#include "bridges/upstream/service.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_aws_auth.h"
#include "registry/reg_device_auth.h"
#include "registry/reg_gateway.h"

#define DEVHTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define DEVHTTP_WRITE_CHUNK 16384
/* Four 255-byte ids and the fixed words: anything longer is no route. */
#define DEVHTTP_PATH_MAX 2048
/* reg_jwt_is_compact refuses tokens over 8 KiB; room for "Bearer " too. */
#define DEVHTTP_AUTH_MAX (8192 + 64)
/* A broker that neither acknowledges nor drops the link must not hold a
 * device's request forever. */
#define DEVHTTP_UPSTREAM_DEADLINE_MS 30000
/* Devices that stored a state within the last second; more only costs an
 * occasional extra state for a device (see devhttp_rate). */
#define DEVHTTP_RATE_SLOTS 16384

static struct {
    bool ready;
    struct db *db;                      /* borrowed */
    struct service_link *service;       /* borrowed */
    char google_prefix[256];
    char pubsub_prefix[256];
    char aws_prefix[256];
    char aws_region[64];
    char aws_account[64];
    int64_t clock_skew, max_token_lifetime, refresh_interval;
    size_t max_body;
    struct devhttp_rate rate;
} dh;

/* One service thread (LWS_MAX_SMP 1): one staging buffer with the LWS_PRE
 * headroom lws_write needs. */
static unsigned char dh_wbuf[LWS_PRE + DEVHTTP_WRITE_CHUNK];

/* State publishes are not tied to a request (see serve_state); their
 * completions carry this token. */
static char dh_state_token;

enum dh_phase {
    DH_IDLE,            /* between transactions */
    DH_BODY,            /* authenticated, collecting the body */
    DH_UPSTREAM,        /* event handed to the service link, awaiting PUBACK */
    DH_REPLY,           /* answer ready, being written */
};

/* Per-connection state (lws per-session data, zeroed at accept). */
struct dh_conn {
    struct lws *wsi;
    enum dh_phase phase;
    const char *method;                 /* static name, for logs */
    bool head;                          /* HEAD: headers only, then close */
    struct devhttp_target target;
    struct reg_google_auth auth;        /* owned fields; zeroed until authenticated */
    struct reg_registry_cfg *routes;    /* owned; NULL when the registry has none */
    /* The device the request acts for: the authenticated one, or the one
     * a gateway delegates to (gatewayInfo.delegatedDeviceId). Its topics,
     * state history, config and timestamps are used. */
    int64_t subject_rowid;
    uint64_t subject_num_id;            /* for the deviceNumId attribute */
    char subject_id[DB_ID_MAX];
    int64_t local_version;
    struct devhttp_gateway_info query_gateway;  /* getConfig's gatewayInfo.* */
    struct buf body;
    lws_sorted_usec_list_t deadline;
    /* the answer */
    int status;
    char *reply;                        /* owned */
    size_t reply_len, sent;
    bool head_sent, close, www_auth, retry_after;
    const char *allow;                  /* static; Allow: on 405 */
    char peer[64];
    /* AWS's HTTPS publish: everything but the payload is decided before
     * the body is read (aws_admit). */
    bool aws;
    uint8_t aws_qos;
    bool aws_retain;
    char aws_cert[AWS_CERT_ID_LEN + 1];  /* for logs; "" until known */
    char aws_topic[256 + AWS_MAX_TOPIC + 1];   /* upstream: {aws_prefix}TOPIC */
    char trace_id[DEVHTTP_AWS_TRACE_ID_LEN + 1];
};

static void on_event_done(void *req, int err);

/* Ends whatever the connection was doing; safe at any phase and twice. */
static void conn_reset(struct dh_conn *c)
{
    struct lws *wsi = c->wsi;
    char peer[sizeof(c->peer)];

    lws_sul_cancel(&c->deadline);
    /* The completion must not find this struct after it is reused or
     * freed. */
    if (c->phase == DH_UPSTREAM && dh.service) {
        service_cancel(dh.service, c);
        log_debug("http-devices: peer=%s went away before the broker acknowledged its event",
                  c->peer);
    }
    free(c->reply);
    free(c->routes);
    buf_free(&c->body);
    reg_google_auth_clear(&c->auth);
    memcpy(peer, c->peer, sizeof(peer));
    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    memcpy(c->peer, peer, sizeof(peer));
}

int devhttp_init(const struct devhttp_options *o)
{
    struct devhttp_rate rate;
    const char *gp, *pp, *ap, *ar, *aa;
    int rc;

    if (!o || !o->db)
        return -EINVAL;
    gp = o->google_prefix ? o->google_prefix : "google/";
    pp = o->pubsub_prefix ? o->pubsub_prefix : "pubsub/";
    ap = o->aws_prefix ? o->aws_prefix : "aws/";
    ar = o->aws_region && *o->aws_region ? o->aws_region : "us-east-1";
    aa = o->aws_account_id && *o->aws_account_id ? o->aws_account_id : "123456789012";
    if (strlen(gp) >= sizeof(dh.google_prefix) || strlen(pp) >= sizeof(dh.pubsub_prefix) ||
        strlen(ap) >= sizeof(dh.aws_prefix) || strlen(ar) >= sizeof(dh.aws_region) ||
        strlen(aa) >= sizeof(dh.aws_account))
        return -ENAMETOOLONG;
    rc = devhttp_rate_init(&rate, DEVHTTP_RATE_SLOTS, o->max_state_per_second);
    if (rc < 0)
        return rc;
    devhttp_rate_free(&dh.rate);
    dh.rate = rate;
    dh.db = o->db;
    dh.service = o->service;
    memcpy(dh.google_prefix, gp, strlen(gp) + 1);
    memcpy(dh.pubsub_prefix, pp, strlen(pp) + 1);
    memcpy(dh.aws_prefix, ap, strlen(ap) + 1);
    memcpy(dh.aws_region, ar, strlen(ar) + 1);
    memcpy(dh.aws_account, aa, strlen(aa) + 1);
    dh.clock_skew = o->clock_skew;
    dh.max_token_lifetime = o->max_token_lifetime;
    dh.refresh_interval = o->refresh_interval;
    dh.max_body = o->max_body ? o->max_body : DEVHTTP_DEFAULT_MAX_BODY;
    dh.ready = true;
    return 0;
}

void devhttp_fini(void)
{
    dh.ready = false;
    dh.service = NULL;
    dh.db = NULL;
    devhttp_rate_free(&dh.rate);
}

/* ---- answers ---- */

static void reply_start(struct dh_conn *c)
{
    char cid[160];

    c->phase = DH_REPLY;
    c->sent = 0;
    c->head_sent = false;
    if (c->aws) {
        if (c->status >= 500)
            log_warn("http-devices: %s aws-publish cert=%s peer=%s trace=%s -> %d", c->method,
                     c->aws_cert[0] ? c->aws_cert : "-", c->peer, c->trace_id, c->status);
        else
            log_debug("http-devices: %s aws-publish cert=%s peer=%s trace=%s -> %d", c->method,
                      c->aws_cert[0] ? c->aws_cert : "-", c->peer, c->trace_id, c->status);
        lws_callback_on_writable(c->wsi);
        return;
    }
    log_escape(cid, sizeof(cid), c->target.client_id, c->target.client_id_len);
    if (c->status >= 500)
        log_warn("http-devices: %s %s client_id=\"%s\" peer=%s -> %d", c->method,
                 c->target.route ? devhttp_route_name(c->target.route) : "-", cid, c->peer,
                 c->status);
    else
        log_debug("http-devices: %s %s client_id=\"%s\" peer=%s -> %d", c->method,
                  c->target.route ? devhttp_route_name(c->target.route) : "-", cid, c->peer,
                  c->status);
    lws_callback_on_writable(c->wsi);
}

/* Takes body (malloc'd) as the answer. */
static void reply_body(struct dh_conn *c, int status, char *body, size_t len)
{
    free(c->reply);
    c->status = status;
    c->reply = body;
    c->reply_len = len;
    reply_start(c);
}

static void reply_ok_empty(struct dh_conn *c)
{
    /* Google answered publishEvent and setState with an empty message. */
    char *body = strdup("{}\n");

    if (!body) {
        c->close = true;
        reply_body(c, 500, NULL, 0);
        return;
    }
    reply_body(c, 200, body, 3);
}

/* AWS's answer: 200 {"message":"OK","traceId":...}. */
static void reply_aws_ok(struct dh_conn *c)
{
    char *body = NULL;
    size_t len = 0;

    if (devhttp_aws_body("OK", c->trace_id, &body, &len) < 0) {
        c->close = true;
        reply_body(c, 500, NULL, 0);
        return;
    }
    reply_body(c, 200, body, len);
}

static void reply_error(struct dh_conn *c, const struct devhttp_err *e)
{
    char *body = NULL;
    size_t len = 0;
    int rc = c->aws ? devhttp_aws_body(e->msg, c->trace_id, &body, &len)
                    : devhttp_error_body(e, &body, &len);

    if (rc < 0) {
        /* Nothing to say it with: an empty 500, and a fresh connection. */
        c->close = true;
        reply_body(c, 500, NULL, 0);
        return;
    }
    c->www_auth = e->http == 401 && !c->aws;
    c->retry_after = e->http == 429 || e->http == 503;
    reply_body(c, e->http, body, len);
}

/* An answer chosen before the body was read (framing, auth, route). */
static int reply_early(struct dh_conn *c, const struct devhttp_err *e, bool close)
{
    c->close = close;
    reply_error(c, e);
    return 0;
}

static int write_head(struct lws *wsi, struct dh_conn *c)
{
    unsigned char head[LWS_PRE + 768];
    unsigned char *start = head + LWS_PRE, *p = start, *end = head + sizeof(head) - 1;

    if (lws_add_http_common_headers(wsi, (unsigned int)c->status,
                                    c->aws ? "application/json" : "application/json; charset=UTF-8",
                                    (lws_filepos_t)c->reply_len, &p, end))
        return -1;
    /* AWS repeats the traceId as its request id. */
    if (c->aws && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-amzn-RequestId:",
                                              (const unsigned char *)c->trace_id,
                                              (int)strlen(c->trace_id), &p, end))
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (c->allow && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW,
                                                 (const unsigned char *)c->allow,
                                                 (int)strlen(c->allow), &p, end))
        return -1;
    if (c->www_auth && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                                    (const unsigned char *)"Bearer", 6, &p, end))
        return -1;
    if (c->retry_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                                       (const unsigned char *)"1", 1, &p, end))
        return -1;
    if (c->close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                 (const unsigned char *)"close", 5, &p, end))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* The transaction is over: next request on this connection, or close. */
static int transaction_done(struct lws *wsi, struct dh_conn *c)
{
    bool close = c->close || c->head;

    conn_reset(c);
    if (close)
        return -1;      /* lws flushes what it buffered, then closes */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* One lws_write per writable callback: the headers, then body chunks. */
static int on_writable(struct lws *wsi, struct dh_conn *c)
{
    size_t left, n;
    bool last;

    if (c->phase != DH_REPLY)
        return 0;
    if (!c->head_sent) {
        if (write_head(wsi, c) < 0)
            return -1;
        c->head_sent = true;
        if (c->head || c->reply_len == 0)
            return transaction_done(wsi, c);
        lws_callback_on_writable(wsi);
        return 0;
    }
    left = c->reply_len - c->sent;
    n = left < DEVHTTP_WRITE_CHUNK ? left : DEVHTTP_WRITE_CHUNK;
    last = n == left;
    memcpy(dh_wbuf + LWS_PRE, c->reply + c->sent, n);
    if (lws_write(wsi, dh_wbuf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
        (int)n)
        return -1;
    c->sent += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return transaction_done(wsi, c);
}

/* ---- the three methods ---- */

static void log_refusal(const struct dh_conn *c, const char *reason)
{
    char cid[160];

    log_info("http-devices: %s refused client_id=\"%s\" peer=%s reason=%s",
             devhttp_route_name(c->target.route),
             log_escape(cid, sizeof(cid), c->target.client_id, c->target.client_id_len), c->peer,
             reason);
}

static struct devhttp_ident ident_of(const struct dh_conn *c)
{
    struct devhttp_ident id = {
        .google_prefix = dh.google_prefix,
        .pubsub_prefix = dh.pubsub_prefix,
        .project = c->auth.registry.project,
        .location = c->auth.registry.location,
        .registry = c->auth.registry.id,
        .device = c->subject_id,
        .routes = c->routes,
    };
    return id;
}

/* ---- gatewayInfo [reference 2 GatewayInfo, 1.5 "Gateway auth"] ---- */

static void log_gateway_refusal(const struct dh_conn *c, const char *gateway, const char *device,
                                const char *reason)
{
    char cid[160], g[280], d[280];

    log_info("http-devices: %s refused client_id=\"%s\" peer=%s gateway=\"%s\" device=\"%s\" "
             "reason=%s",
             devhttp_route_name(c->target.route),
             log_escape(cid, sizeof(cid), c->target.client_id, c->target.client_id_len), c->peer,
             log_escape(g, sizeof(g), gateway, strlen(gateway)),
             log_escape(d, sizeof(d), device, strlen(device)), reason);
}

/* Answers 403 PERMISSION_DENIED with msg and logs reason; returns -EACCES. */
static int refuse_gateway(struct dh_conn *c, const char *gateway, const char *device,
                          const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse_gateway(struct dh_conn *c, const char *gateway, const char *device,
                          const char *reason, const char *fmt, ...)
{
    struct devhttp_err e;
    va_list ap;

    log_gateway_refusal(c, gateway, device, reason);
    e.status = DEVHTTP_G_PERMISSION_DENIED;
    e.http = devhttp_gstatus_http(e.status);
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    reply_error(c, &e);
    return -EACCES;
}

static int refuse_store_error(struct dh_conn *c, const char *what)
{
    struct devhttp_err e;

    log_err("http-devices: %s for a gateway request failed: %s", what, db_last_error(dh.db));
    devhttp_auth_refusal(REG_AUTH_STORE_ERROR, &e);
    reply_error(c, &e);
    return -EIO;
}

/* The device named id (string id or numId) in the authenticated device's
 * registry: gateways and the devices they serve never cross registries.
 * Returns 0, -ENOENT, or another negative errno on a store error. */
static int lookup_in_registry(const struct dh_conn *c, const char *id, struct db_device *ret)
{
    int rc = db_device_lookup(dh.db, c->auth.registry.project, c->auth.registry.location,
                              c->auth.registry.id, id, NULL, ret);
    return rc == -EINVAL ? -ENOENT : rc;
}

static const char *gw_auth_name(enum reg_gateway_auth a)
{
    switch (a) {
    case REG_GW_AUTH_ASSOCIATION_ONLY: return "ASSOCIATION_ONLY";
    case REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY: return "DEVICE_AUTH_TOKEN_ONLY";
    case REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN: return "ASSOCIATION_AND_DEVICE_AUTH_TOKEN";
    case REG_GW_AUTH_UNSPECIFIED: break;
    }
    return "GATEWAY_AUTH_METHOD_UNSPECIFIED";
}

/* gatewayInfo.delegatedDeviceId: the path and the Bearer JWT are the
 * gateway's (already authenticated, not blocked); it acts for device_id.
 * gatewayAuthMethod decides as for an MQTT attach, except that HTTP has no
 * attach payload: the device's own JWT cannot be presented alongside the
 * gateway's, so the methods that need it refuse (the device may instead
 * call with its own JWT and gatewayInfo.gatewayId). */
static int act_for_device(struct dh_conn *c, const char *device_id)
{
    const char *gw_id = c->auth.device.id;
    struct reg_gateway_cfg gw;
    struct db_device d;
    int rc;

    reg_gateway_cfg_parse(c->auth.device.extra_json, &gw);
    if (!gw.is_gateway)
        return refuse_gateway(c, gw_id, device_id, "not-a-gateway",
                              "The device '%s' is not a gateway: it cannot act for device '%s'.",
                              gw_id, device_id);
    if (gw.auth == REG_GW_AUTH_UNSPECIFIED)
        return refuse_gateway(c, gw_id, device_id, "auth-method-unspecified",
                              "The gateway '%s' has no gatewayAuthMethod: no device may use it.",
                              gw_id);
    if (gw.auth != REG_GW_AUTH_ASSOCIATION_ONLY)
        return refuse_gateway(c, gw_id, device_id, "device-token-required",
                              "The gateway '%s' uses %s, which needs the device's own JWT; a "
                              "gateway cannot present it over HTTP. Call with the device's path "
                              "and JWT and gatewayInfo.gatewayId instead.",
                              gw_id, gw_auth_name(gw.auth));
    memset(&d, 0, sizeof(d));
    rc = lookup_in_registry(c, device_id, &d);
    if (rc == -ENOENT)
        return refuse_gateway(c, gw_id, device_id, "unknown-device",
                              "The device '%s' does not exist in this registry.", device_id);
    if (rc < 0)
        return refuse_store_error(c, "looking up the delegated device");
    int64_t rowid = d.rowid;
    uint64_t num_id = d.num_id;
    bool blocked = d.blocked;
    char subject[DB_ID_MAX];
    memcpy(subject, d.id, sizeof(subject));     /* the string id, even for a numId */
    db_device_clear(&d);
    if (rowid == c->auth.device.rowid)
        return refuse_gateway(c, gw_id, device_id, "self",
                              "A gateway does not delegate to itself: leave gatewayInfo unset.");
    if (blocked)
        return refuse_gateway(c, gw_id, device_id, "blocked-device",
                              "The device '%s' is blocked.", device_id);
    rc = db_binding_exists(dh.db, c->auth.device.rowid, rowid);
    if (rc < 0)
        return refuse_store_error(c, "checking the gateway binding");
    if (rc == 0)
        return refuse_gateway(c, gw_id, device_id, "not-bound",
                              "The device '%s' is not bound to the gateway '%s'.", device_id,
                              gw_id);
    c->subject_rowid = rowid;
    c->subject_num_id = num_id;
    memcpy(c->subject_id, subject, sizeof(c->subject_id));
    /* Best effort, as on MQTT attach. */
    reg_gateway_mark_accessed(dh.db, rowid, gw_id, time_now_unix_us());
    return 0;
}

/* gatewayInfo.gatewayId: the path and the Bearer JWT are the device's own
 * (already authenticated, not blocked); the request comes through the
 * gateway gateway_id. The device's JWT was presented, so every method but
 * UNSPECIFIED can be satisfied; the association ones also need the
 * binding. */
static int come_through_gateway(struct dh_conn *c, const char *gateway_id)
{
    const char *dev_id = c->auth.device.id;
    struct reg_gateway_cfg gw;
    struct db_device g;
    char gw_id[DB_ID_MAX];
    int rc;

    memset(&g, 0, sizeof(g));
    rc = lookup_in_registry(c, gateway_id, &g);
    if (rc == -ENOENT)
        return refuse_gateway(c, gateway_id, dev_id, "unknown-gateway",
                              "The gateway '%s' does not exist in this registry.", gateway_id);
    if (rc < 0)
        return refuse_store_error(c, "looking up the gateway");
    reg_gateway_cfg_parse(g.extra_json, &gw);
    int64_t rowid = g.rowid;
    bool blocked = g.blocked;
    memcpy(gw_id, g.id, sizeof(gw_id));
    db_device_clear(&g);
    if (rowid == c->auth.device.rowid)
        return refuse_gateway(c, gw_id, dev_id, "self",
                              "A gateway does not go through itself: leave gatewayInfo unset.");
    if (!gw.is_gateway)
        return refuse_gateway(c, gw_id, dev_id, "not-a-gateway",
                              "The device '%s' is not a gateway.", gw_id);
    if (blocked)
        return refuse_gateway(c, gw_id, dev_id, "blocked-gateway",
                              "The gateway '%s' is blocked.", gw_id);
    if (gw.auth == REG_GW_AUTH_UNSPECIFIED)
        return refuse_gateway(c, gw_id, dev_id, "auth-method-unspecified",
                              "The gateway '%s' has no gatewayAuthMethod: no device may use it.",
                              gw_id);
    if (gw.auth != REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY) {
        rc = db_binding_exists(dh.db, rowid, c->auth.device.rowid);
        if (rc < 0)
            return refuse_store_error(c, "checking the gateway binding");
        if (rc == 0)
            return refuse_gateway(c, gw_id, dev_id, "not-bound",
                                  "The device '%s' is not bound to the gateway '%s'.", dev_id,
                                  gw_id);
    }
    reg_gateway_mark_accessed(dh.db, c->auth.device.rowid, gw_id, time_now_unix_us());
    return 0;
}

/* Decides whom the request acts for from gatewayInfo. Returns 0, or has
 * answered (403, or 503 on a store error) and returns < 0. */
static int resolve_gateway(struct dh_conn *c, const struct devhttp_gateway_info *gi)
{
    int rc = 0;

    switch (gi->via) {
    case DEVHTTP_VIA_NONE: return 0;
    case DEVHTTP_VIA_DELEGATED_DEVICE: rc = act_for_device(c, gi->id); break;
    case DEVHTTP_VIA_GATEWAY: rc = come_through_gateway(c, gi->id); break;
    }
    if (rc == 0) {
        char cid[160], g[280];
        log_debug("http-devices: %s client_id=\"%s\" peer=%s %s=\"%s\" acts for device \"%s\"",
                  devhttp_route_name(c->target.route),
                  log_escape(cid, sizeof(cid), c->target.client_id, c->target.client_id_len),
                  c->peer, devhttp_via_name(gi->via), log_escape(g, sizeof(g), gi->id, strlen(gi->id)),
                  c->subject_id);
    }
    return rc;
}

static void serve_config(struct dh_conn *c)
{
    struct db_config cfg;
    struct devhttp_err e;
    char *body = NULL;
    size_t len = 0;
    int rc;

    if (resolve_gateway(c, &c->query_gateway) < 0)
        return;
    memset(&cfg, 0, sizeof(cfg));
    rc = db_config_latest(dh.db, c->subject_rowid, &cfg);
    if (rc == -ENOENT) {
        /* Deleted since it authenticated. */
        devhttp_auth_refusal(REG_AUTH_UNKNOWN_DEVICE, &e);
        reply_error(c, &e);
        return;
    }
    if (rc < 0) {
        log_err("http-devices: reading the config of device %lld failed: %s",
                (long long)c->subject_rowid, db_last_error(dh.db));
        devhttp_err_set(&e, DEVHTTP_G_INTERNAL, "Internal error.");
        reply_error(c, &e);
        return;
    }
    /* Google long-polled when localVersion was the latest; we answer with
     * the latest at once (the device simply polls again). */
    if (devhttp_config_check(c->local_version, cfg.version, &e) < 0) {
        db_config_clear(&cfg);
        reply_error(c, &e);
        return;
    }
    rc = devhttp_config_body(cfg.version, cfg.cloud_update_us, cfg.data, cfg.len, &body, &len);
    db_config_clear(&cfg);
    if (rc < 0) {
        devhttp_err_set(&e, DEVHTTP_G_INTERNAL, "Out of memory.");
        reply_error(c, &e);
        return;
    }
    db_device_mark(dh.db, c->subject_rowid, DB_MARK_CONFIG_SEND, time_now_unix_us());
    reply_body(c, 200, body, len);
}

/* A service-link failure said the Google way: retry later. */
static void reply_publish_failed(struct dh_conn *c, int err)
{
    struct devhttp_err e;

    if (c->aws) {
        if (err == -EMSGSIZE)
            devhttp_aws_err_set(&e, 413, "Payload too large for the message broker");
        else if (err == -EINVAL)
            devhttp_aws_err_set(&e, 400, "The message cannot be forwarded");
        else
            devhttp_aws_err_set(&e, 503, "Service Unavailable");
        reply_error(c, &e);
        return;
    }
    if (err == -EMSGSIZE || err == -EINVAL)
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT,
                        "The message cannot be forwarded (topic or size).");
    else
        devhttp_err_set(&e, DEVHTTP_G_UNAVAILABLE,
                        "The message broker is unavailable; retry later.");
    reply_error(c, &e);
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    struct dh_conn *c = lws_container_of(sul, struct dh_conn, deadline);
    struct devhttp_err e;

    if (c->phase != DH_UPSTREAM)
        return;
    if (dh.service)
        service_cancel(dh.service, c);
    log_warn("http-devices: the broker did not acknowledge %s from peer=%s in %d ms",
             c->aws ? "a publish" : "an event", c->peer, DEVHTTP_UPSTREAM_DEADLINE_MS);
    /* It may still arrive: the device retries and may duplicate, which
     * QoS 1 allows. */
    devhttp_err_set(&e, DEVHTTP_G_DEADLINE_EXCEEDED, "The message broker did not answer in time.");
    reply_error(c, &e);
}

static void on_event_done(void *req, int err)
{
    struct dh_conn *c = req;

    if (c->phase != DH_UPSTREAM)
        return;
    lws_sul_cancel(&c->deadline);
    if (err < 0) {
        reply_publish_failed(c, err);
        return;
    }
    if (c->aws) {
        reply_aws_ok(c);
        return;
    }
    if (dh.db)
        db_device_mark(dh.db, c->subject_rowid, DB_MARK_EVENT, time_now_unix_us());
    reply_ok_empty(c);
}

/* Google's Pub/Sub attributes of the subject's message (see
 * bridges/mqtt/session_publish.c): slices borrow from c, subfolder and num. */
static size_t google_attributes(const struct dh_conn *c, const char *subfolder,
                                struct mqtt5_user_prop *a, char *num)
{
    const char *k[] = { "deviceId", "deviceNumId", "deviceRegistryLocation", "deviceRegistryId",
                        "projectId", "subFolder" };
    const char *v[] = { c->subject_id, num, c->auth.registry.location, c->auth.registry.id,
                        c->auth.registry.project, subfolder };
    size_t n = subfolder && *subfolder ? 6 : 5;

    snprintf(num, 24, "%llu", (unsigned long long)c->subject_num_id);
    for (size_t i = 0; i < n; i++) {
        a[i].name = (struct mqtt_slice){ (const uint8_t *)k[i], strlen(k[i]) };
        a[i].value = (struct mqtt_slice){ (const uint8_t *)v[i], strlen(v[i]) };
    }
    return n;
}

static void serve_event(struct dh_conn *c, const char *body, size_t len)
{
    struct devhttp_ident id;
    struct devhttp_event ev;
    struct devhttp_err e;
    char topic[1400];
    int rc;

    memset(&ev, 0, sizeof(ev));
    rc = devhttp_parse_event(body, len, &ev, &e);
    if (rc < 0) {
        reply_error(c, &e);
        return;
    }
    if (resolve_gateway(c, &ev.gateway) < 0) {
        devhttp_event_clear(&ev);
        return;
    }
    id = ident_of(c);
    rc = devhttp_event_topic(&id, ev.subfolder, topic, sizeof(topic));
    if (rc < 0) {
        devhttp_event_clear(&ev);
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT, "The subfolder is too long.");
        reply_error(c, &e);
        return;
    }
    /* The link copies the message into its output queue; the attributes
     * are Google's, as on MQTT. */
    struct mqtt5_user_prop attrs[6];
    char num[24];
    size_t n_attrs = google_attributes(c, ev.subfolder, attrs, num);
    rc = dh.service ? service_publish_props(dh.service, topic, ev.data, ev.len, 1, attrs, n_attrs,
                                            on_event_done, c)
                    : -ENOTCONN;
    devhttp_event_clear(&ev);
    if (rc < 0) {
        reply_publish_failed(c, rc);
        return;
    }
    c->phase = DH_UPSTREAM;
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->deadline, on_deadline,
                     (lws_usec_t)DEVHTTP_UPSTREAM_DEADLINE_MS * LWS_US_PER_MS);
}

static void on_state_done(void *req, int err)
{
    (void)req;
    if (err < 0)
        log_warn("http-devices: a state notification was not acknowledged by the broker (%s)",
                 strerror(-err));
}

/* The store is the record of a device's state (states.list); the broker
 * copy is a notification, best effort as Google's stateNotificationConfig
 * was, so the answer does not wait for it. */
static void serve_state(struct dh_conn *c, const char *body, size_t len)
{
    struct devhttp_ident id;
    struct devhttp_state st;
    struct devhttp_err e;
    char topic[1400];
    int64_t now_us;
    int rc;

    memset(&st, 0, sizeof(st));
    rc = devhttp_parse_state(body, len, &st, &e);
    if (rc < 0) {
        reply_error(c, &e);
        return;
    }
    if (resolve_gateway(c, &st.gateway) < 0) {
        devhttp_state_clear(&st);
        return;
    }
    id = ident_of(c);
    /* Google's limit is per device: the delegated one when a gateway acts. */
    if (!devhttp_rate_take(&dh.rate, c->subject_rowid, time_now_mono_ms())) {
        devhttp_state_clear(&st);
        log_refusal(c, "rate-limit");
        devhttp_err_set(&e, DEVHTTP_G_RESOURCE_EXHAUSTED,
                        "Rate limit exceeded: at most %d state updates per second per device.",
                        dh.rate.per_second);
        reply_error(c, &e);
        return;
    }
    now_us = time_now_unix_us();
    rc = db_state_add(dh.db, c->subject_rowid, st.data, st.len, now_us);
    if (rc < 0) {
        devhttp_state_clear(&st);
        if (rc == -ENOENT) {
            devhttp_auth_refusal(REG_AUTH_UNKNOWN_DEVICE, &e);
        } else {
            log_err("http-devices: storing the state of device %lld failed: %s",
                    (long long)c->subject_rowid, db_last_error(dh.db));
            devhttp_err_set(&e, DEVHTTP_G_INTERNAL, "Internal error.");
        }
        reply_error(c, &e);
        return;
    }
    db_device_mark(dh.db, c->subject_rowid, DB_MARK_STATE, now_us);
    rc = devhttp_state_topic(&id, topic, sizeof(topic));
    if (rc >= 0)
        rc = dh.service ? service_publish(dh.service, topic, st.data, st.len, 1, on_state_done,
                                          &dh_state_token)
                        : -ENOTCONN;
    if (rc < 0)
        log_warn("http-devices: state of device %lld stored but not forwarded to the broker (%s)",
                 (long long)c->subject_rowid, strerror(-rc));
    devhttp_state_clear(&st);
    reply_ok_empty(c);
}

/* ---- AWS HTTPS publish [aws-iot-core.md 1.13] ---- */

/* QoS 1 waits for the broker's PUBACK (on_event_done); QoS 0 is answered
 * once the link has taken the message, as AWS answers it at once. */
static void serve_aws_publish(struct dh_conn *c, const void *body, size_t len)
{
    int rc = dh.service ? service_publish_full(dh.service, c->aws_topic, body, len, c->aws_qos,
                                               c->aws_retain, NULL, 0,
                                               c->aws_qos ? on_event_done : NULL, c)
                        : -ENOTCONN;

    if (rc < 0) {
        log_info("http-devices: aws-publish not forwarded cert=%s peer=%s reason=%s", c->aws_cert,
                 c->peer, rc == -EMSGSIZE ? "too-large-for-broker" : "broker-unavailable");
        reply_publish_failed(c, rc);
        return;
    }
    if (c->aws_qos == 0) {
        reply_aws_ok(c);
        return;
    }
    c->phase = DH_UPSTREAM;
    lws_sul_schedule(lws_get_context(c->wsi), 0, &c->deadline, on_deadline,
                     (lws_usec_t)DEVHTTP_UPSTREAM_DEADLINE_MS * LWS_US_PER_MS);
}

static int dispatch(struct dh_conn *c)
{
    const char *body = c->body.len ? (const char *)c->body.data : "";

    if (c->aws) {
        serve_aws_publish(c, body, c->body.len);
        return 0;
    }
    switch (c->target.route) {
    case DEVHTTP_ROUTE_GET_CONFIG: serve_config(c); break;
    case DEVHTTP_ROUTE_PUBLISH_EVENT: serve_event(c, body, c->body.len); break;
    case DEVHTTP_ROUTE_SET_STATE: serve_state(c, body, c->body.len); break;
    }
    return 0;
}

/* ---- request head ---- */

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} dh_methods[] = {
    { WSI_TOKEN_GET_URI, "GET" },
    { WSI_TOKEN_POST_URI, "POST" },
    { WSI_TOKEN_PUT_URI, "PUT" },
    { WSI_TOKEN_PATCH_URI, "PATCH" },
    { WSI_TOKEN_DELETE_URI, "DELETE" },
    { WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
    { WSI_TOKEN_HEAD_URI, "HEAD" },
};

/* Copies a header into out (NUL-terminated). Returns its length, -ENOENT
 * when absent, -E2BIG when it does not fit. */
static int header_copy(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t cap)
{
    int total = lws_hdr_total_length(wsi, tok);

    if (total <= 0)
        return -ENOENT;
    if ((size_t)total >= cap)
        return -E2BIG;
    if (lws_hdr_copy(wsi, out, (int)cap, tok) < 0)
        return -E2BIG;
    return total;
}

/* Strict decimal Content-Length. */
static int parse_length(const char *s, uint64_t *ret)
{
    uint64_t v = 0;

    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

/* The getConfig query: lws splits it at '&' and decodes %XX and '+'. */
static int read_query(struct lws *wsi, struct dh_conn *c, struct devhttp_err *e)
{
    struct devhttp_config_query q;
    char arg[512];
    int rc = 0;

    memset(&q, 0, sizeof(q));
    for (int i = 0; rc == 0; i++) {
        int n = lws_hdr_copy_fragment(wsi, arg, (int)sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (n > 0)
            rc = devhttp_config_query_add(&q, arg, (size_t)n, e);
    }
    c->local_version = q.local_version;
    c->query_gateway = q.gateway;
    return rc;
}

/* Authenticates the Bearer token as the MQTT bridge would authenticate a
 * CONNECT for the same client id. Returns 0, or answers and returns < 0. */
static int authenticate(struct lws *wsi, struct dh_conn *c, bool close_on_refusal)
{
    char hdr[DEVHTTP_AUTH_MAX];
    const char *tok = NULL;
    size_t tok_len = 0;
    struct devhttp_err e;
    struct reg_jwt_rules rules = {
        .audience = NULL,           /* the project from the path is used */
        .clock_skew = dh.clock_skew,
        .max_lifetime = dh.max_token_lifetime,
        .refresh_interval = dh.refresh_interval,
    };
    struct reg_registry_cfg rc;
    enum reg_auth_reason r;
    int n = header_copy(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr));

    if (n == -E2BIG) {
        explicit_bzero(hdr, sizeof(hdr));
        r = REG_AUTH_NOT_JWT;       /* longer than any token we accept */
    } else if (n < 0 || devhttp_bearer(hdr, (size_t)n, &tok, &tok_len) < 0) {
        if (n > 0)
            explicit_bzero(hdr, (size_t)n);
        log_refusal(c, "no-bearer");
        devhttp_err_set(&e, DEVHTTP_G_UNAUTHENTICATED,
                        "Request is missing required authentication credential. "
                        "Expected a device JWT as a Bearer token.");
        reply_early(c, &e, close_on_refusal);
        return -EACCES;
    } else {
        r = reg_google_authenticate(dh.db, c->target.client_id, c->target.client_id_len,
                                    (const uint8_t *)tok, tok_len, true, &rules, time_now_unix(),
                                    &c->auth);
        explicit_bzero(hdr, (size_t)n);
    }
    if (r != REG_AUTH_OK) {
        log_refusal(c, reg_auth_reason_word(r));
        devhttp_auth_refusal(r, &e);
        reply_early(c, &e, close_on_refusal);
        return -EACCES;
    }
    if (reg_registry_cfg_parse(c->auth.registry.extra_json, &rc) < 0) {
        log_refusal(c, reg_auth_reason_word(REG_AUTH_STORE_ERROR));
        devhttp_auth_refusal(REG_AUTH_STORE_ERROR, &e);
        reply_early(c, &e, close_on_refusal);
        return -EIO;
    }
    /* httpConfig is the registry's switch for this bridge [reference 2]. */
    if (!rc.http_enabled) {
        log_refusal(c, "http-disabled");
        devhttp_err_set(&e, DEVHTTP_G_PERMISSION_DENIED, "HTTP is disabled for this registry");
        reply_early(c, &e, close_on_refusal);
        return -EACCES;
    }
    c->subject_rowid = c->auth.device.rowid;
    c->subject_num_id = c->auth.device.num_id;
    memcpy(c->subject_id, c->auth.device.id, sizeof(c->subject_id));
    if (rc.n_event_routes || rc.has_state_route) {
        c->routes = malloc(sizeof(*c->routes));
        if (!c->routes) {
            devhttp_err_set(&e, DEVHTTP_G_INTERNAL, "Out of memory.");
            reply_early(c, &e, true);
            return -ENOMEM;
        }
        *c->routes = rc;
    }
    return 0;
}


/* Logs an AWS refusal with a reason word (never the payload), answers e
 * and returns -EACCES. */
static int aws_refuse(struct dh_conn *c, const char *topic, size_t tl, const char *reason,
                      const struct devhttp_err *e, bool close)
{
    char t[300];

    log_info("http-devices: aws-publish refused cert=%s peer=%s topic=\"%s\" reason=%s trace=%s",
             c->aws_cert[0] ? c->aws_cert : "-", c->peer, log_escape(t, sizeof(t), topic, tl),
             reason, c->trace_id);
    reply_early(c, e, close);
    return -EACCES;
}

/* Everything about an AWS publish but its payload, before any body is
 * read: the certificate (registered, ACTIVE, valid), the query, AWS's
 * topic rules, iot:Publish (and iot:RetainPublish) on topic/TOPIC, the
 * 128 KiB limit. Policies are compiled per request, so a change in the
 * store applies to the next one. Returns 0 with c->aws_* set, or has
 * answered and returns < 0. */
static int aws_admit(struct lws *wsi, struct dh_conn *c, const char *topic, size_t tl,
                     uint64_t length, bool close_on_refusal)
{
    const struct reg_aws_env env = { .region = dh.aws_region, .account = dh.aws_account };
    struct devhttp_aws_query q;
    struct reg_aws_auth auth;
    struct devhttp_err e;
    enum reg_auth_reason r;
    char arg[1024], res[AWS_MAX_TOPIC + 16];
    uint8_t *der = NULL;
    size_t der_len = 0;
    bool allowed, retain_allowed = true;
    int rc, n;

    rc = tls_peer_cert_der(lws_get_ssl(wsi), &der, &der_len);
    if (rc < 0) {
        devhttp_aws_auth_refusal(rc == -ENOENT ? REG_AUTH_CERT_UNKNOWN : REG_AUTH_STORE_ERROR, &e);
        return aws_refuse(c, topic, tl, rc == -ENOENT ? "no-certificate" : "certificate-unreadable",
                          &e, close_on_refusal);
    }
    if (aws_cert_id_der(der, der_len, c->aws_cert) < 0)
        c->aws_cert[0] = '\0';
    r = reg_aws_authenticate_http(dh.db, &env, der, der_len, c->peer, time_now_unix_us(), &auth);
    free(der);
    if (r != REG_AUTH_OK) {
        devhttp_aws_auth_refusal(r, &e);
        return aws_refuse(c, topic, tl, reg_auth_reason_word(r), &e, close_on_refusal);
    }

    /* lws splits the query at '&' and decodes %XX and '+'. An argument
     * that does not fit arg is none of ours (qos and retain are short; a
     * long responseTopic is ignored like the other MQTT 5 extras), but the
     * ones after it still count. */
    memset(&q, 0, sizeof(q));
    rc = 0;
    for (int i = 0; rc == 0; i++) {
        n = lws_hdr_copy_fragment(wsi, arg, (int)sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                continue;
            break;
        }
        if (n > 0)
            rc = devhttp_aws_query_add(&q, arg, (size_t)n, &e);
    }
    if (rc < 0) {
        reg_aws_auth_clear(&auth);
        return aws_refuse(c, topic, tl, "bad-query", &e, close_on_refusal);
    }
    rc = devhttp_aws_topic_check(topic, tl, &e);
    if (rc < 0) {
        reg_aws_auth_clear(&auth);
        return aws_refuse(c, topic, tl, rc == -EACCES ? "reserved-topic" : "bad-topic", &e,
                          close_on_refusal);
    }
    n = snprintf(res, sizeof(res), "topic/%.*s", (int)tl, topic);
    allowed = n > 0 && (size_t)n < sizeof(res) &&
              reg_aws_allows(&auth, AWS_ACT_PUBLISH, res, (size_t)n);
    if (allowed && q.retain)
        retain_allowed = reg_aws_allows(&auth, AWS_ACT_RETAIN_PUBLISH, res, (size_t)n);
    reg_aws_auth_clear(&auth);
    if (!allowed || !retain_allowed) {
        devhttp_aws_err_set(&e, 403, "Forbidden");
        return aws_refuse(c, topic, tl, !allowed ? "publish-denied" : "retain-publish-denied", &e,
                          close_on_refusal);
    }
    if (length > AWS_MAX_PAYLOAD) {
        devhttp_aws_err_set(&e, 413, "Payload too large: at most %d bytes", AWS_MAX_PAYLOAD);
        return aws_refuse(c, topic, tl, "payload-too-large", &e, true);
    }
    if (aws_map_up(dh.aws_prefix, (const uint8_t *)topic, tl, c->aws_topic,
                   sizeof(c->aws_topic)) < 0) {
        devhttp_aws_err_set(&e, 400, "Invalid topic: too long");
        return aws_refuse(c, topic, tl, "bad-topic", &e, close_on_refusal);
    }
    c->aws_qos = q.qos;
    c->aws_retain = q.retain;
    return 0;
}

/* lws reads a TLS connection pt_serv_buf_size bytes at a time; what
 * OpenSSL already decrypted beyond that stays in the SSL object, and lws
 * 4.1 on libuv forces only one more read of it before the socket is
 * readable again (its idle handler stops after one forced service). A body
 * that ends inside that remainder stalled until lws's timeout (curl sends
 * a body in 16 KiB TLS records: any body over ~8 KiB). Waking the loop
 * makes lws force one more read, and each chunk re-arms it while anything
 * is pending. The MQTT listener drains the SSL object itself; here lws
 * must see the bytes, or its Content-Length accounting (and keep-alive)
 * would break. */
static void wake_for_tls_pending(struct lws *wsi)
{
    SSL *ssl = lws_get_ssl(wsi);

    if (ssl && SSL_pending(ssl) > 0)
        lws_cancel_service(lws_get_context(wsi));
}

static void new_trace_id(struct dh_conn *c)
{
    uint8_t r[16];

    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    devhttp_aws_trace_id(r, c->trace_id);
}

static int on_http(struct lws *wsi, struct dh_conn *c, const char *in, size_t in_len)
{
    enum lws_token_indexes tok = WSI_TOKEN_COUNT;
    char path[DEVHTTP_PATH_MAX], num[32];
    struct devhttp_err e;
    const char *aws_topic = NULL;
    size_t aws_tl = 0;
    uint64_t length = 0;
    bool has_length = false, expect_continue = false, chunked;
    int n;

    conn_reset(c);
    c->wsi = wsi;
    if (!lws_get_peer_simple(wsi, c->peer, sizeof(c->peer)))
        c->peer[0] = '\0';
    c->method = "OTHER";
    for (size_t i = 0; i < sizeof(dh_methods) / sizeof(dh_methods[0]); i++) {
        if (lws_hdr_total_length(wsi, dh_methods[i].tok) > 0) {
            tok = dh_methods[i].tok;
            c->method = dh_methods[i].name;
            break;
        }
    }
    c->head = tok == WSI_TOKEN_HEAD_URI;
    /* lws cannot skip a chunked body to reach the next request: any
     * answer to one ends the connection. */
    chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    if (!dh.ready) {
        devhttp_err_set(&e, DEVHTTP_G_UNAVAILABLE, "The device bridge is not ready.");
        return reply_early(c, &e, true);
    }

    /* Route and method first: they need nothing from the store. lws has
     * already decoded %XX and collapsed "//" in the path. */
    n = tok != WSI_TOKEN_COUNT ? header_copy(wsi, tok, path, sizeof(path)) : -ENOENT;
    if (n < 0 && in && in_len < sizeof(path)) {
        memcpy(path, in, in_len);
        path[in_len] = '\0';
        n = (int)in_len;
    }
    if (n >= 0 && devhttp_parse_path(path, (size_t)n, &c->target) == 0) {
        /* Google's DeviceService */
    } else if (n >= 0 && devhttp_aws_route(path, (size_t)n, &aws_topic, &aws_tl) == 0) {
        c->aws = true;
        new_trace_id(c);
    } else {
        devhttp_err_set(&e, DEVHTTP_G_NOT_FOUND, "The requested URL was not found on this server.");
        return reply_early(c, &e, chunked);
    }
    if (c->aws && strcmp(c->method, "POST") != 0) {
        devhttp_aws_err_set(&e, 405, "Method %s is not allowed: publish with POST", c->method);
        c->allow = "POST";
        return reply_early(c, &e, chunked);
    }
    if (!c->aws && strcmp(c->method, devhttp_route_method(c->target.route)) != 0) {
        devhttp_err_set(&e, DEVHTTP_G_UNIMPLEMENTED, "Method %s is not allowed on %s.", c->method,
                        devhttp_route_name(c->target.route));
        e.http = 405;
        c->allow = devhttp_route_method(c->target.route);
        return reply_early(c, &e, chunked);
    }

    /* Framing. lws 4.1 reads a body only by Content-Length and does not
     * decode a chunked one; without a length we cannot know where the
     * next request starts, so these answers close the connection. */
    if (chunked) {
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT,
                        "Chunked request bodies are not supported; send Content-Length.");
        e.http = 411;
        return reply_early(c, &e, true);
    }
    n = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, num, sizeof(num));
    if (n >= 0 || n == -E2BIG) {
        has_length = true;
        if (n < 0 || parse_length(num, &length) < 0) {
            devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT, "Invalid Content-Length.");
            return reply_early(c, &e, true);
        }
    }
    /* An AWS publish may have no body at all (an empty payload), which
     * HTTP/1.1 sends without Content-Length. */
    if (!has_length && !c->aws && c->target.route != DEVHTTP_ROUTE_GET_CONFIG) {
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT, "A request body needs a Content-Length.");
        e.http = 411;
        return reply_early(c, &e, true);
    }
    if (length > dh.max_body) {
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT,
                        "Request payload size exceeds the limit: %zu bytes.", dh.max_body);
        e.http = 413;
        return reply_early(c, &e, true);
    }
    if (length > 0 && header_copy(wsi, WSI_TOKEN_HTTP_EXPECT, num, sizeof(num)) > 0)
        expect_continue = strcasecmp(num, "100-continue") == 0;

    /* A client waiting for "100 Continue" may never send the body lws
     * would otherwise skip: refuse it by closing. */
    if (c->aws) {
        if (aws_admit(wsi, c, aws_topic, aws_tl, length, expect_continue) < 0)
            return 0;
    } else {
        if (authenticate(wsi, c, expect_continue) < 0)
            return 0;
        if (c->target.route == DEVHTTP_ROUTE_GET_CONFIG && read_query(wsi, c, &e) < 0)
            return reply_early(c, &e, expect_continue);
    }

    if (length == 0)
        return dispatch(c);
    if (expect_continue) {
        /* lws does not send the interim answer itself. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        memcpy(dh_wbuf + LWS_PRE, cont, sizeof(cont) - 1);
        if (lws_write(wsi, dh_wbuf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP) <
            (int)(sizeof(cont) - 1))
            return -1;
    }
    buf_init(&c->body, c->aws && dh.max_body > AWS_MAX_PAYLOAD ? AWS_MAX_PAYLOAD : dh.max_body);
    c->phase = DH_BODY;
    wake_for_tls_pending(wsi);
    return 0;
}

static int on_body(struct lws *wsi, struct dh_conn *c, const void *in, size_t len)
{
    struct devhttp_err e;
    int rc;

    if (c->phase != DH_BODY || len == 0)
        return 0;
    /* Content-Length was checked; count what really arrives anyway. */
    rc = buf_append(&c->body, in, len);
    if (rc == -EMSGSIZE) {
        devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT,
                        "Request payload size exceeds the limit: %zu bytes.", c->body.max);
        e.http = 413;
        return reply_early(c, &e, true);
    }
    if (rc < 0) {
        devhttp_err_set(&e, DEVHTTP_G_INTERNAL, "Out of memory.");
        return reply_early(c, &e, true);
    }
    wake_for_tls_pending(wsi);
    return 0;
}

static int devhttp_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                            void *in, size_t len)
{
    struct dh_conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* user is the vhost's SSL_CTX (not a connection): any client
         * certificate gets through the handshake (bridges/tls_peer.h). */
        if (user)
            tls_peer_accept_any((SSL_CTX *)user);
        return 0;
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        /* A client certificate is requested, not required: Google devices
         * send none, and an AWS one is judged per request. */
        return 0;
    case LWS_CALLBACK_HTTP:
        return c ? on_http(wsi, c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c ? on_body(wsi, c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!c)
            return -1;
        return c->phase == DH_BODY ? dispatch(c) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? on_writable(wsi, c) : -1;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* Cancels a pending publish: its completion must not find freed
         * per-session memory. */
        if (c)
            conn_reset(c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols devhttp_protocol_list[] = {
    {
        .name = "iotcored-http-devices",
        .callback = devhttp_callback,
        .per_session_data_size = sizeof(struct dh_conn),
        .rx_buffer_size = 0,
    },
    { .name = NULL, .callback = NULL, .per_session_data_size = 0, .rx_buffer_size = 0 },
};

const struct lws_protocols *devhttp_protocols(void)
{
    return devhttp_protocol_list;
}
