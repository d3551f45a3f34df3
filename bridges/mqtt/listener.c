/* lws glue for device connections (raw-skt over TLS). Limits are checked in
 * the accept filter, before the TLS handshake costs anything; a connection
 * counts as "handshaking" from accept until its first decrypted byte, which
 * bounds both stalled TLS handshakes and silent peers; the session's CONNECT
 * deadline (from accept) drops them. */
#include "bridges/mqtt/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bridges/mqtt/session.h"
#include "bridges/tls_peer.h"
#include "bridges/write_soon.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/twheel.h"

#define ADDR_BUCKETS 1024
#define WRITE_CHUNK 16384

/* Per-address counters, keyed by the IP address without port. */
struct addr_entry {
    struct addr_entry *next;
    uint8_t key[16];
    uint8_t key_len;
    int connections;
    int handshakes;
};

/* Per-connection state, lws's per-session user space (zeroed by lws). */
struct conn {
    struct lws *wsi;
    struct sess *sess;
    struct addr_entry *addr;
    struct twheel_node tw;           /* the session's deadline on the listener's wheel */
    struct write_soon ws;            /* queued output, written at the end of the iteration */
    bool handshaking;
    bool closing;
    char peer[64];
};

static struct {
    struct sess_hub *hub;
    struct listener_limits limits;
    struct addr_entry *buckets[ADDR_BUCKETS];
    /* Every connection's deadline on one wheel driven by one lws timer:
     * lws's own timer list is sorted, O(n) per insert. */
    struct twheel wheel;
    lws_sorted_usec_list_t tick_sul;
    struct lws_context *ctx;
    bool ticking;
    int connections;
    int handshakes;
    bool stopping;
    int64_t last_refusal_log;
    uint64_t refusals_since_log;
} L;

/* An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d; count and
 * print it as the IPv4 address it is. */
static bool v4_mapped(const struct sockaddr *sa, struct sockaddr_in *ret)
{
    const struct sockaddr_in6 *in6 = (const void *)sa;
    if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
        return false;
    memset(ret, 0, sizeof(*ret));
    ret->sin_family = AF_INET;
    ret->sin_port = in6->sin6_port;
    memcpy(&ret->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
    return true;
}

static size_t addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    struct sockaddr_in v4;
    if (v4_mapped(sa, &v4))
        sa = (const struct sockaddr *)&v4;
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

static size_t addr_hash(const uint8_t *key, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % ADDR_BUCKETS;
}

static struct addr_entry *addr_find(const uint8_t *key, size_t len, bool create)
{
    size_t b = addr_hash(key, len);
    for (struct addr_entry *e = L.buckets[b]; e; e = e->next)
        if (e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    if (!create)
        return NULL;
    struct addr_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    memcpy(e->key, key, len);
    e->key_len = (uint8_t)len;
    e->next = L.buckets[b];
    L.buckets[b] = e;
    return e;
}

static void addr_release(struct addr_entry *e)
{
    if (e->connections > 0 || e->handshakes > 0)
        return;
    size_t b = addr_hash(e->key, e->key_len);
    for (struct addr_entry **pp = &L.buckets[b]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            free(e);
            return;
        }
    }
}

static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    struct sockaddr_in v4;
    if (v4_mapped(sa, &v4))
        sa = (const struct sockaddr *)&v4;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%d", host, port);
    } else {
        snprintf(out, cap, "unknown");
    }
}

/* Refusals under a flood are logged at most once a second with a count, so
 * the log cannot be used to amplify the flood. */
static void log_refusal(const char *peer, const char *why)
{
    int64_t now = time_now_mono_ms();
    L.refusals_since_log++;
    if (now - L.last_refusal_log < 1000)
        return;
    log_warn("connection refused peer=%s: %s (%llu refused in the last interval)", peer, why,
             (unsigned long long)L.refusals_since_log);
    L.last_refusal_log = now;
    L.refusals_since_log = 0;
}

static const char *accept_check(const struct sockaddr *sa)
{
    uint8_t key[16];
    size_t len = addr_key(sa, key);
    struct addr_entry *e = len ? addr_find(key, len, false) : NULL;

    if (L.stopping)
        return "shutting down";
    if (L.connections >= L.limits.max_connections)
        return "max_connections reached";
    if (L.handshakes >= L.limits.max_handshakes_in_progress)
        return "max_handshakes_in_progress reached";
    if (e && e->connections >= L.limits.max_connections_per_address)
        return "max_connections_per_address reached";
    if (e && e->handshakes >= L.limits.max_handshakes_per_address)
        return "max_handshakes_per_address reached";
    return NULL;
}

/* ---- transport ops for the session ---- */

static int on_writeable(struct conn *c);

/* Runs after the loop iteration's I/O callbacks (write_soon.h): most
 * replies go out here in one write, without a poll change. What lws still
 * holds from an earlier write must go first, so then wait for writeable. */
static void conn_write_soon(struct write_soon *ws)
{
    struct conn *c = lws_container_of(ws, struct conn, ws);

    if (!c->wsi || !c->sess || c->closing)
        return;
    if (lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (on_writeable(c) < 0)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void t_want_write(void *t)
{
    struct conn *c = t;
    /* A closing connection flushes through the writeable callback, which
     * closes it once lws has sent everything. */
    if (c->closing || !write_soon_queue(&c->ws, conn_write_soon))
        lws_callback_on_writable(c->wsi);
}

static void t_rx_flow(void *t, bool enable)
{
    struct conn *c = t;
    lws_rx_flow_control(c->wsi, enable ? 1 : 0);
}

static void t_close(void *t)
{
    struct conn *c = t;
    if (c->closing)
        return;
    c->closing = true;
    twheel_disarm(&c->tw);
    if (c->sess) {
        const uint8_t *p;
        size_t len;
        sess_output(c->sess, &p, &len);
        if (len) {
            /* Flush (e.g. a refusing CONNACK) first; the writeable callback
             * closes when empty. A peer that never reads is cut after 5 s. */
            lws_callback_on_writable(c->wsi);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
            return;
        }
    }
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void wheel_fire(struct twheel_node *n, void *ud)
{
    struct conn *c = lws_container_of(n, struct conn, tw);
    (void)ud;
    if (c->sess && !c->closing)
        sess_on_timer(c->sess);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    int64_t now = time_now_mono_ms();
    twheel_advance(&L.wheel, now, wheel_fire, NULL);
    lws_sul_schedule(L.ctx, 0, sul, on_tick, (lws_usec_t)twheel_ms_to_next_tick(now) * 1000);
}

static void start_ticking(struct lws_context *ctx)
{
    if (L.ticking)
        return;
    int64_t now = time_now_mono_ms();
    L.ctx = ctx;
    L.ticking = true;
    twheel_init(&L.wheel, now);
    lws_sul_schedule(ctx, 0, &L.tick_sul, on_tick, (lws_usec_t)twheel_ms_to_next_tick(now) * 1000);
}

static void t_arm_timer(void *t, int64_t ms)
{
    struct conn *c = t;
    if (ms < 0 || c->closing) {
        twheel_disarm(&c->tw);
        return;
    }
    twheel_arm(&L.wheel, &c->tw, time_now_mono_ms() + ms);
}

/* The certificate the client presented, as DER. Read at CONNECT, after
 * the handshake finished (at RAW_ADOPT it may not have: deps-probe.md). */
static int t_peer_cert(void *t, uint8_t **ret, size_t *ret_len)
{
    struct conn *c = t;
    return tls_peer_cert_der(c->wsi ? lws_get_ssl(c->wsi) : NULL, ret, ret_len);
}

static const struct sess_transport_ops conn_ops = {
    .want_write = t_want_write,
    .rx_flow = t_rx_flow,
    .close = t_close,
    .arm_timer = t_arm_timer,
    .peer_cert = t_peer_cert,
};

static void handshake_done(struct conn *c)
{
    if (!c->handshaking)
        return;
    c->handshaking = false;
    /* After the TLS accept lws arms PENDING_TIMEOUT_ESTABLISH_WITH_SERVER
     * (context timeout_secs) and only its HTTP roles clear it: on raw-skt it
     * would kill every session that long after the handshake. The session's
     * own CONNECT deadline and keepalive take over from here. */
    lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    L.handshakes--;
    if (c->addr)
        c->addr->handshakes--;
}

static int on_writeable(struct conn *c)
{
    static uint8_t scratch[LWS_PRE + WRITE_CHUNK];
    const uint8_t *p;
    size_t len;

    if (!c->sess)
        return -1;
    sess_output(c->sess, &p, &len);
    if (len == 0)
        /* Returning -1 drops what lws still buffers, so a closing
         * connection ends only on a writeable callback after its last
         * write, when lws's own buffer has drained too. */
        return c->closing ? -1 : 0;
    size_t n = len > WRITE_CHUNK ? WRITE_CHUNK : len;
    memcpy(scratch + LWS_PRE, p, n);
    /* On a raw socket lws keeps what the kernel did not take and sends it
     * before the next writeable callback, so n counts as written. */
    if (lws_write(c->wsi, scratch + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
        return -1;
    sess_output_consume(c->sess, n);
    sess_output(c->sess, &p, &len);
    if (len || c->closing)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* lws reads a TLS connection pt_serv_buf_size bytes at a time; what
 * OpenSSL already decrypted beyond that stays in the SSL object, and lws
 * 4.1 on libuv forces only one more read of it before the socket is readable
 * again. A device whose packet ends inside that remainder would wait for
 * ever (seen with an 8 KiB PUBLISH in one TLS record), so drain it here. */
static void drain_tls_pending(struct conn *c)
{
    SSL *ssl = lws_get_ssl(c->wsi);
    uint8_t tmp[16384];

    while (ssl && c->sess && !c->closing && SSL_pending(ssl) > 0) {
        int n = SSL_read(ssl, tmp, sizeof(tmp));
        if (n <= 0)
            break;
        sess_on_rx(c->sess, tmp, (size_t)n);
    }
}

static int callback_mqtt(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        /* wsi is the listener here; user is the accepted socket's address. */
        const struct lws_filter_network_conn_args *f = user;
        const char *why = accept_check((const struct sockaddr *)&f->cli_addr);
        if (why) {
            char peer[64];
            format_peer((const struct sockaddr *)&f->cli_addr, peer, sizeof(peer));
            log_refusal(peer, why);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* user is the vhost's SSL_CTX. AWS identity is the certificate's
         * fingerprint, looked up in the session; building and checking a
         * chain in the handshake would only cost CPU (it is most of
         * Mosquitto's ~2.6 ms per mTLS connect) and then be ignored. The
         * handshake still checks CertificateVerify, the client's proof that
         * it holds the certificate's key. */
        if (user) {
            tls_peer_accept_any((SSL_CTX *)user);
            log_debug("client certificates: identified by fingerprint, no chain building");
            /* One TLS 1.3 session ticket per handshake instead of OpenSSL's
             * two: a device holds one connection at a time and a resumed
             * handshake brings it a fresh ticket. Saves a ticket's
             * encryption and ~290-930 B per connect (scenario 6). */
            SSL_CTX_set_num_tickets((SSL_CTX *)user, 1);
        }
        return 0;
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        /* A client certificate is requested, not required: Google devices
         * send none; AWS-style identity is decided in the session from the
         * certificate's fingerprint, never here, so a certificate from an
         * unknown issuer (registered without a CA) still gets through the
         * handshake. */
        return 0;
    case LWS_CALLBACK_RAW_ADOPT: {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        uint8_t key[16];
        size_t klen = 0;

        memset(c, 0, sizeof(*c));
        c->wsi = wsi;
        start_ticking(lws_get_context(wsi));
        if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) == 0) {
            format_peer((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
            klen = addr_key((struct sockaddr *)&ss, key);
        } else {
            snprintf(c->peer, sizeof(c->peer), "unknown");
        }
        if (klen)
            c->addr = addr_find(key, klen, true);
        L.connections++;
        L.handshakes++;
        c->handshaking = true;
        if (c->addr) {
            c->addr->connections++;
            c->addr->handshakes++;
        }
        if (sess_new(L.hub, &conn_ops, c, c->peer, &c->sess) < 0) {
            log_err("out of memory accepting peer=%s", c->peer);
            return -1;
        }
        log_debug("accepted peer=%s", c->peer);
        return 0;
    }
    case LWS_CALLBACK_RAW_RX:
        if (!c->sess || c->closing)
            return 0;
        handshake_done(c);
        sess_on_rx(c->sess, in, len);
        drain_tls_pending(c);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        return on_writeable(c);
    case LWS_CALLBACK_RAW_CLOSE:
        if (!c || !c->wsi)
            return 0;
        twheel_disarm(&c->tw);
        write_soon_cancel(&c->ws);
        handshake_done(c);
        L.connections--;
        if (c->addr) {
            c->addr->connections--;
            addr_release(c->addr);
            c->addr = NULL;
        }
        if (c->sess) {
            struct sess *s = c->sess;
            c->sess = NULL;
            c->closing = true;
            sess_on_transport_closed(s);
        }
        c->wsi = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    { "iotcored-mqtt", callback_mqtt, sizeof(struct conn), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *listener_protocols(void)
{
    return protocols;
}

int listener_init(struct sess_hub *hub, const struct listener_limits *limits)
{
    memset(&L, 0, sizeof(L));
    L.hub = hub;
    L.limits = *limits;
    return 0;
}

void listener_fini(void)
{
    for (size_t i = 0; i < ADDR_BUCKETS; i++) {
        while (L.buckets[i]) {
            struct addr_entry *e = L.buckets[i];
            L.buckets[i] = e->next;
            free(e);
        }
    }
}

void listener_stop_accepting(void)
{
    L.stopping = true;
}

void listener_quiesce(void)
{
    if (L.ticking)
        lws_sul_cancel(&L.tick_sul);
    L.ticking = false;
}

size_t listener_connections(void)
{
    return (size_t)L.connections;
}
