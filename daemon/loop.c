/* The event loop: lws on libuv (the poll loop is O(n) per wakeup), vhosts
 * from the listener table, shutdown sequencing. All lws setup lives here and
 * in the transport glue of each bridge. */
#include "daemon/loop.h"

#include <errno.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bridges/http/devhttp.h"
#include "bridges/mqtt/listener.h"
#include "bridges/mqtt/session.h"
#include "bridges/upstream/retained.h"
#include "bridges/upstream/service.h"
#include "bridges/upstream/upstream.h"
#include "bridges/write_soon.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "daemon/metrics.h"
#include "daemon/ports.h"
#include "db/db.h"
#include "bridges/mqtt/aws.h"
#include "registry/aws_cert.h"
#include "registry/reg_aws_shadow.h"
#include "registry/reg_jwt.h"
#include "webui/admin.h"

#define SHUTDOWN_GRACE_MS 3000

static struct {
    char aws_prefix[128];
    struct lws_context *ctx;
    struct db *db;
    struct sess_hub *hub;
    struct service_link *service;
    struct aws_issuer *aws_issuer;      /* the dev CA, for fleet provisioning */
    struct lws_vhost *upstream_vh;
    struct upstream_params service_params;  /* strings borrowed from the config */
    struct retained_req *retained;      /* reads of retained messages in flight */
    lws_sorted_usec_list_t flush_sul;
    lws_sorted_usec_list_t shutdown_sul;
    bool stopping;
    int64_t stop_started;
} G;

/* lws's own messages go to our one sink, errors and warnings only. */
static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_err("lws: %.*s", (int)n, line);
    else if (level & LLL_WARN)
        log_warn("lws: %.*s", (int)n, line);
    else
        log_debug("lws: %.*s", (int)n, line);
}

static void on_flush(lws_sorted_usec_list_t *sul)
{
    /* Last-seen style timestamps: one transaction a second (DESIGN.md). */
    if (db_flush_marks(G.db) < 0)
        log_err("store: flushing device timestamps failed: %s", db_last_error(G.db));
    if (!G.stopping)
        lws_sul_schedule(G.ctx, 0, sul, on_flush, 1000 * LWS_US_PER_MS);
}

static void retained_cancel_all(void);

static void on_shutdown_tick(lws_sorted_usec_list_t *sul)
{
    int64_t elapsed = time_now_mono_ms() - G.stop_started;
    if (sess_hub_count(G.hub) > 0 && elapsed < SHUTDOWN_GRACE_MS) {
        lws_sul_schedule(G.ctx, 0, sul, on_shutdown_tick, 50 * LWS_US_PER_MS);
        return;
    }
    /* Give queued upstream DISCONNECTs one more turn of the loop. */
    if (elapsed < 200) {
        lws_sul_schedule(G.ctx, 0, sul, on_shutdown_tick, 50 * LWS_US_PER_MS);
        return;
    }
    if (db_flush_marks(G.db) < 0)
        log_err("store: final flush failed: %s", db_last_error(G.db));
    listener_quiesce();
    /* Upstream links must be gone before the context is destroyed. */
    retained_cancel_all();
    devhttp_fini();
    service_link_free(G.service);
    G.service = NULL;
    /* Stops the libuv loop; lws_service returns and main finishes. */
    lws_context_destroy(G.ctx);
}

static void on_signal(void *handle, int signum)
{
    (void)handle;
    if (G.stopping)
        return;
    G.stopping = true;
    G.stop_started = time_now_mono_ms();
    log_info("received %s: no new connections, closing %zu sessions",
             signum == SIGTERM ? "SIGTERM" : signum == SIGINT ? "SIGINT" : "signal",
             sess_hub_count(G.hub));
    listener_stop_accepting();
    sess_hub_close_all(G.hub);
    lws_sul_cancel(&G.flush_sul);
    lws_sul_schedule(G.ctx, 0, &G.shutdown_sul, on_shutdown_tick, 50 * LWS_US_PER_MS);
    /* lws on libuv re-arms its timer only after I/O or a timer callback,
     * not after this signal callback: wake it, or the sessions' closes,
     * their upstream DISCONNECTs (write_soon.h) and the shutdown tick
     * would wait for whichever timer was due next. */
    lws_cancel_service(G.ctx);
}

static void on_webui_change(void *ud, enum webui_change what, int64_t rowid)
{
    (void)ud;
    if (what == WEBUI_DEVICE_CHANGED || what == WEBUI_DEVICE_DELETED)
        sess_hub_device_changed(G.hub, rowid, what == WEBUI_DEVICE_DELETED);
    else if (what == WEBUI_AWS_CERT_CHANGED)
        sess_hub_aws_cert_changed(G.hub, rowid);
    else if (what == WEBUI_AWS_POLICIES_CHANGED)
        sess_hub_aws_policies_changed(G.hub);
}

/* What sessions originate (AWS lifecycle events, shadow responses). */
static int hook_service_publish(void *ud, const char *topic, const void *data, size_t len,
                                int qos)
{
    (void)ud;
    return service_publish(G.service, topic, data, len, (uint8_t)qos, NULL, NULL);
}

/* ---- AWS Device Shadows: REST, backends on the broker ---- */

static int shadow_publish(void *ud, const char *topic, const void *data, size_t len)
{
    (void)ud;
    return service_publish(G.service, topic, data, len, 1, NULL, NULL);
}

static int hook_aws_shadow(void *ud, const char *thing, const char *shadow, int op,
                           const void *payload, size_t len, bool rest,
                           struct reg_shadow_reply *out)
{
    const struct reg_shadow_ctx ctx = {
        .db = G.db, .prefix = G.aws_prefix, .publish = shadow_publish,
    };
    (void)ud;
    return reg_aws_shadow_serve(&ctx, thing, shadow, (enum reg_shadow_op)op, payload, len, rest,
                                time_now_unix_us(), out);
}

static int hook_aws_publish(void *ud, const char *topic, const void *data, size_t len, int qos,
                            bool retain, void (*done)(void *req, int err), void *req)
{
    char up[1400];
    (void)ud;
    if (aws_map_up(G.aws_prefix, (const uint8_t *)topic, strlen(topic), up, sizeof(up)) < 0)
        return -EINVAL;
    return service_publish_full(G.service, up, data, len, (uint8_t)qos, retain, NULL, 0, done,
                                req);
}

/* A backend's shadow request on the broker ({aws_prefix}$aws/things/T/
 * shadow[/name/N]/OP), which the shared subscription hands to exactly one
 * daemon (DESIGN.md "Scale out"). Served as a device's request is. */
static void on_backend_shadow_request(void *ud, const struct mqtt_publish *p)
{
    char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
    const uint8_t *t;
    size_t tl;
    enum reg_shadow_op op;
    struct reg_shadow_reply reply = { 0 };

    (void)ud;
    if (!aws_map_down(G.aws_prefix, p->topic.p, p->topic.len, &t, &tl) ||
        reg_aws_shadow_topic(t, tl, thing, shadow, &op) < 0)
        return;
    int r = hook_aws_shadow(NULL, thing, shadow, (int)op, p->payload.p, p->payload.len, false,
                            &reply);
    if (r < 0)
        log_err("shadow request from the broker for thing \"%s\" failed: %s", thing,
                strerror(-r));
    reg_shadow_reply_clear(&reply);
}

static int subscribe_backend_requests(void)
{
    static const char *const tails[] = {
        "$aws/things/+/shadow/get", "$aws/things/+/shadow/update",
        "$aws/things/+/shadow/delete", "$aws/things/+/shadow/name/+/get",
        "$aws/things/+/shadow/name/+/update", "$aws/things/+/shadow/name/+/delete",
    };
    char buf[6][300];
    const char *filters[6];
    for (size_t i = 0; i < 6; i++) {
        snprintf(buf[i], sizeof(buf[i]), "$share/iotcored/%s%s", G.aws_prefix, tails[i]);
        filters[i] = buf[i];
    }
    return service_subscribe(G.service, filters, 6, on_backend_shadow_request, NULL);
}

/* ---- retained messages (GetRetainedMessage, ListRetainedMessages) ---- */

#define RETAINED_MAX_MSGS 10000
#define RETAINED_MAX_BYTES (64u * 1024 * 1024)
#define RETAINED_TIMEOUT_MS 5000

struct retained_req {
    struct retained_req *next;
    struct retained_read *rr;
    void (*done)(void *req, int err, const struct api_retained *msgs, size_t n);
    void *req;
};

static void retained_unlink(struct retained_req *q)
{
    for (struct retained_req **pp = &G.retained; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

static void on_retained(void *ud, int err, const struct retained_msg *msgs, size_t n)
{
    struct retained_req *q = ud;
    struct api_retained *out = n ? calloc(n, sizeof(*out)) : NULL;
    size_t k = 0;

    retained_unlink(q);
    if (n && !out)
        err = -ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++) {
        const uint8_t *t;
        size_t tl;
        /* Device topics: the prefix comes off (the filter kept us under it). */
        if (!aws_map_down(G.aws_prefix, (const uint8_t *)msgs[i].topic, strlen(msgs[i].topic), &t,
                          &tl))
            continue;
        out[k++] = (struct api_retained){ (const char *)t, msgs[i].payload, msgs[i].len,
                                          msgs[i].qos };
    }
    q->done(q->req, err, err == 0 ? out : NULL, err == 0 ? k : 0);
    free(out);
    free(q);
}

static int hook_aws_retained(void *ud, const char *filter,
                             void (*done)(void *req, int err, const struct api_retained *msgs,
                                          size_t n),
                             void *req)
{
    char up[1400];
    struct retained_req *q;
    (void)ud;

    if (aws_map_up(G.aws_prefix, (const uint8_t *)filter, strlen(filter), up, sizeof(up)) < 0)
        return -EINVAL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->done = done;
    q->req = req;
    int r = retained_read(G.upstream_vh, &G.service_params, up, RETAINED_MAX_MSGS,
                          RETAINED_MAX_BYTES, RETAINED_TIMEOUT_MS, on_retained, q, &q->rr);
    if (r < 0) {
        free(q);
        return r;
    }
    q->next = G.retained;
    G.retained = q;
    return 0;
}

static void hook_aws_retained_cancel(void *ud, void *req)
{
    (void)ud;
    for (struct retained_req *q = G.retained; q; q = q->next)
        if (q->req == req) {
            retained_unlink(q);
            retained_cancel(q->rr);
            free(q);
            return;
        }
}

static void retained_cancel_all(void)
{
    while (G.retained) {
        struct retained_req *q = G.retained;
        G.retained = q->next;
        retained_cancel(q->rr);
        free(q);
    }
}

static int hook_config_updated(void *ud, int64_t device_rowid)
{
    (void)ud;
    return sess_hub_config_updated(G.hub, device_rowid);
}

static int hook_command_target(void *ud, int64_t device_rowid, const char *subfolder)
{
    (void)ud;
    return sess_hub_command_target(G.hub, device_rowid, subfolder);
}

static int hook_publish(void *ud, const char *topic, const void *data, size_t len, int qos,
                        void (*done)(void *req, int err), void *req)
{
    (void)ud;
    return service_publish(G.service, topic, data, len, (uint8_t)qos, done, req);
}

static void hook_publish_cancel(void *ud, void *req)
{
    (void)ud;
    service_cancel(G.service, req);
}

static int render_metrics(void *ud, char **ret)
{
    (void)ud;
    return metrics_render(sess_hub_stats(G.hub), listener_connections(), ret);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        /* Every device costs two descriptors (device + upstream). Cap what we
         * ask for: lws sizes its fd table by this limit. */
        rlim_t want = rl.rlim_max > 262144 ? 262144 : rl.rlim_max;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
}

static long tls_options(const struct cfg *cfg)
{
    long o = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
             SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (strcmp(cfg->tls.min_version, "1.3") == 0)
        o |= SSL_OP_NO_TLSv1_2;
    return o;
}

static struct lws_vhost *create_listener(const struct cfg *cfg, const struct pki_files *pki,
                                         const struct cfg_listener *l)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    info.vhost_name = l->name;
    info.port = l->port;
    info.iface = l->bind;
    info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    /* An IPv4 bind address gets an IPv4 socket (peers logged as a.b.c.d). */
    if (strchr(l->bind, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (l->tls) {
        /* Without DO_SSL_GLOBAL_INIT in the vhost's own options lws
         * silently serves plaintext (deps-probe.md gotcha A). */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = pki->server_cert;
        info.ssl_private_key_filepath = pki->server_key;
        info.ssl_options_set = tls_options(cfg);
        /* TLS 1.2 with forward-secret AEAD suites only: no CBC (LUCKY13),
         * no static RSA. TLS 1.3 suites are OpenSSL's defaults (all AEAD). */
        info.ssl_cipher_list = "ECDHE+AESGCM:ECDHE+CHACHA20";
    }
    switch (l->protocol) {
    case CFG_PROTO_MQTT:
        info.protocols = listener_protocols();
        info.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
        info.listen_accept_role = "raw-skt";
        info.listen_accept_protocol = listener_protocols()[0].name;
        if (l->tls) {
            /* Ask for a client certificate (AWS-style devices) without
             * requiring one (Google-style devices send none); the session
             * decides. */
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                            LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
            info.ssl_ca_filepath = pki->ca_cert;
            /* Our own ALPN list, or a client offering h2 is switched to the
             * HTTP/2 role (gotcha B). */
            info.alpn = "mqtt,x-amzn-mqtt-ca";
        }
        break;
    case CFG_PROTO_HTTP_DEVICES:
        info.protocols = devhttp_protocols();
        if (l->tls) {
            info.alpn = "http/1.1";     /* no h2: the bridge speaks HTTP/1.1 */
            /* As on the MQTT listener: a client certificate is requested
             * (AWS's HTTPS publish) but not required (Google's Bearer JWT
             * requests send none); the bridge accepts any certificate in
             * the handshake and judges it per request. */
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                            LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
            info.ssl_ca_filepath = pki->ca_cert;
        }
        break;
    case CFG_PROTO_ADMIN:
        info.protocols = webui_admin_protocols();
        if (l->tls)
            info.alpn = "http/1.1";
        break;
    default:
        return NULL;
    }
    return lws_create_vhost(G.ctx, &info);
}

int loop_run(const struct cfg *cfg, const struct pki_files *pki, struct db *db)
{
    struct lws_context_creation_info info;
    struct ports_entry ports[CFG_MAX_LISTENERS];
    size_t n_ports = 0;
    int rc = 0;

    memset(&G, 0, sizeof(G));
    G.db = db;
    raise_fd_limit();
    lws_set_log_level(log_current_level >= LOG_LVL_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE
                                                         : LLL_ERR | LLL_WARN,
                      lws_log_emit);

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    /* libuv event-lib plugin; SIGINT/SIGTERM arrive as loop events. The
     * plugin's SIGSEGV/SIGFPE "spin" handlers would hide crashes: off. */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.signal_cb = on_signal;
    info.timeout_secs = (unsigned int)cfg->limits.connect_timeout;
    G.ctx = lws_create_context(&info);
    if (!G.ctx) {
        log_err("cannot create the event loop (libwebsockets with the libuv plugin)");
        return -EIO;
    }

    /* Replies and forwarded packets are written at the end of each loop
     * iteration rather than through writeable callbacks (write_soon.h). */
    write_soon_init(G.ctx);

    /* Upstream connections are made on a vhost that does not listen. */
    struct lws_vhost *upstream_vh = NULL;
    if (upstream_vhost_create(G.ctx, &upstream_vh) < 0) {
        log_err("cannot create the upstream vhost");
        rc = -EIO;
        goto out;
    }

    /* The daemon's own session: what the daemon originates (HTTP bridge
     * messages, REST commands) goes out on it. */
    struct upstream_params sp = {
        .host = cfg->upstream.host,
        .port = cfg->upstream.port,
        .client_id = cfg->upstream.service_client_id,
        .username = cfg->upstream.service_username,
        .password = cfg->upstream.service_password,
        .keepalive = 60,
        .clean_session = true,
        .max_packet = cfg->limits.max_packet_size + 1024,
        .max_inflight = (size_t)cfg->limits.max_inflight,
        .connect_timeout_ms = cfg->limits.connect_timeout * 1000,
        .protocol_version = (uint8_t)cfg->upstream.protocol_version,
    };
    if (service_link_open(upstream_vh, &sp, &G.service) < 0) {
        log_err("cannot start the service link");
        rc = -EIO;
        goto out;
    }
    snprintf(G.aws_prefix, sizeof(G.aws_prefix), "%s", cfg->upstream.aws_prefix);
    G.upstream_vh = upstream_vh;
    G.service_params = sp;
    if (subscribe_backend_requests() < 0) {
        log_err("cannot subscribe the service link to backend shadow requests");
        rc = -ENOMEM;
        goto out;
    }

    struct sess_config sc;
    memset(&sc, 0, sizeof(sc));
    sc.max_token_lifetime = cfg->google.max_token_lifetime;
    sc.refresh_interval = cfg->google.refresh_interval;
    sc.clock_skew = cfg->google.clock_skew;
    snprintf(sc.upstream_host, sizeof(sc.upstream_host), "%s", cfg->upstream.host);
    sc.upstream_port = cfg->upstream.port;
    snprintf(sc.upstream_username, sizeof(sc.upstream_username), "%s", cfg->upstream.username);
    snprintf(sc.upstream_password, sizeof(sc.upstream_password), "%s", cfg->upstream.password);
    snprintf(sc.client_id_prefix, sizeof(sc.client_id_prefix), "%s", cfg->upstream.client_id_prefix);
    snprintf(sc.google_prefix, sizeof(sc.google_prefix), "%s", cfg->upstream.google_prefix);
    snprintf(sc.aws_prefix, sizeof(sc.aws_prefix), "%s", cfg->upstream.aws_prefix);
    sc.upstream_protocol_version = (uint8_t)cfg->upstream.protocol_version;
    snprintf(sc.aws_region, sizeof(sc.aws_region), "%s", cfg->aws.region);
    snprintf(sc.aws_account, sizeof(sc.aws_account), "%s", cfg->aws.account_id);
    snprintf(sc.pubsub_prefix, sizeof(sc.pubsub_prefix), "%s", cfg->upstream.pubsub_prefix);
    sc.max_state_per_second = cfg->google.max_state_per_second;
    sc.max_bytes_per_second = cfg->google.max_bytes_per_second;
    sc.aws_max_messages_per_second = cfg->aws.max_messages_per_second;
    sc.aws_max_bytes_per_second = cfg->aws.max_bytes_per_second;
    sc.service_publish = hook_service_publish;
    if (aws_issuer_load(pki->ca_cert, pki->ca_key, &G.aws_issuer) < 0)
        log_warn("the CA (%s) cannot issue certificates: fleet provisioning is off", pki->ca_cert);
    sc.aws_issuer = G.aws_issuer;
    sc.connect_timeout = cfg->limits.connect_timeout;
    sc.max_packet = cfg->limits.max_packet_size;
    sc.max_inflight = (size_t)cfg->limits.max_inflight;
    sc.max_subscriptions = (size_t)cfg->limits.max_subscriptions;
    sc.max_messages_per_second = cfg->google.max_messages_per_second;
    if (sess_hub_new(&sc, db, upstream_vh, &G.hub) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    struct listener_limits ll = {
        .max_connections = cfg->limits.max_connections,
        .max_connections_per_address = cfg->limits.max_connections_per_address,
        .max_handshakes_in_progress = cfg->limits.max_handshakes_in_progress,
        .max_handshakes_per_address = cfg->limits.max_handshakes_per_address,
    };
    listener_init(G.hub, &ll);

    const char *tokens[CFG_MAX_TOKENS + 1];
    size_t n_tokens = 0;
    for (size_t i = 0; i < cfg->admin.n_tokens; i++)
        tokens[n_tokens++] = cfg->admin.tokens[i];
    if (n_tokens == 0 && pki->admin_token[0])
        tokens[n_tokens++] = pki->admin_token;
    struct webui_aws_key aws_keys[CFG_MAX_AWS_KEYS + 1];
    size_t n_aws_keys = 0;
    for (size_t i = 0; i < cfg->admin.n_aws_keys; i++)
        aws_keys[n_aws_keys++] = (struct webui_aws_key){ cfg->admin.aws_keys[i].id,
                                                         cfg->admin.aws_keys[i].secret };
    if (n_aws_keys == 0 && pki->aws_key_id[0])
        aws_keys[n_aws_keys++] = (struct webui_aws_key){ pki->aws_key_id, pki->aws_secret };
    struct webui_options wo = {
        .db = db,
        .tokens = tokens,
        .n_tokens = n_tokens,
        .http_max_body = cfg->limits.http_max_body,
        .metrics_public = cfg->admin.metrics_public,
        .on_change = on_webui_change,
        .render_metrics = render_metrics,
        .config_updated = hook_config_updated,
        .command_target = hook_command_target,
        .publish = hook_publish,
        .publish_cancel = hook_publish_cancel,
        .aws_shadow = hook_aws_shadow,
        .aws_publish = hook_aws_publish,
        .aws_retained = hook_aws_retained,
        .aws_retained_cancel = hook_aws_retained_cancel,
        .google_prefix = cfg->upstream.google_prefix,
        .aws_keys = aws_keys,
        .n_aws_keys = n_aws_keys,
        .aws_account_id = cfg->aws.account_id,
        .aws_region = cfg->aws.region,
        .aws_endpoint = cfg->aws.endpoint,
        .ca_cert_path = pki->ca_cert,
        .ca_key_path = pki->ca_key,
        .ud = NULL,
    };
    struct devhttp_options ho = {
        .db = db,
        .service = G.service,
        .google_prefix = cfg->upstream.google_prefix,
        .pubsub_prefix = cfg->upstream.pubsub_prefix,
        .aws_prefix = cfg->upstream.aws_prefix,
        .aws_region = cfg->aws.region,
        .aws_account_id = cfg->aws.account_id,
        .clock_skew = cfg->google.clock_skew,
        .max_token_lifetime = cfg->google.max_token_lifetime,
        .refresh_interval = cfg->google.refresh_interval,
        .max_body = cfg->limits.http_max_body,
        .max_state_per_second = cfg->google.max_state_per_second,
    };
    if (devhttp_init(&ho) < 0) {
        log_err("cannot initialise the device HTTP bridge");
        rc = -EINVAL;
        goto out;
    }
    if (webui_init(&wo) < 0) {
        log_err("cannot initialise the admin API");
        rc = -EINVAL;
        goto out;
    }

    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *l = &cfg->listeners[i];
        struct lws_vhost *vh = create_listener(cfg, pki, l);
        if (!vh) {
            log_err("cannot listen on %s:%d for listener '%s'", l->bind, l->port, l->name);
            rc = -EADDRINUSE;
            goto out;
        }
        ports[n_ports].name = l->name;
        ports[n_ports].port = lws_get_vhost_listen_port(vh);
        log_info("listener '%s' on %s:%d (%s%s)", l->name, l->bind, ports[n_ports].port,
                 l->protocol == CFG_PROTO_MQTT ? "mqtt"
                 : l->protocol == CFG_PROTO_ADMIN ? "admin http" : "device http", l->tls ? ", tls" : "");
        n_ports++;
    }
    if (ports_write(pki->data_dir, ports, n_ports) < 0) {
        log_err("cannot write %s/ports.json", pki->data_dir);
        rc = -EIO;
        goto out;
    }
    lws_sul_schedule(G.ctx, 0, &G.flush_sul, on_flush, 1000 * LWS_US_PER_MS);
    log_info("iotcored ready: upstream %s", cfg->upstream.url);

    while (lws_service(G.ctx, 0) >= 0 && !G.stopping)
        ;
out:
    retained_cancel_all();
    devhttp_fini();
    service_link_free(G.service);
    G.service = NULL;
    write_soon_fini();
    /* After the loop stopped this completes the destruction. */
    lws_context_destroy(G.ctx);
    G.ctx = NULL;
    listener_fini();
    sess_hub_free(G.hub);
    G.hub = NULL;
    aws_issuer_free(G.aws_issuer);
    G.aws_issuer = NULL;
    if (rc == 0)
        log_info("iotcored stopped");
    return rc;
}
