/* Load-generator connection state machine (see lg_conn.h). */
#include "bench/lg_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/cursor.h"

#define READ_CHUNK 16384
/* Packets a device or subscriber may receive are small except PUBLISH;
 * the input buffer holds at most one maximal packet plus one read. */
#define IN_SLACK (READ_CHUNK * 2)

int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int conn_ex_index = -1;

/* TLS 1.3 tickets arrive after the handshake: pool them. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct lg_conn *c = SSL_get_ex_data(ssl, conn_ex_index);
    if (!c || !c->net->resume || c->net->pool_n >= LG_TICKET_POOL)
        return 0;
    c->net->pool[c->net->pool_n++] = sess;
    return 1;       /* we keep the reference */
}

void lg_net_init_ssl(struct lg_net *net)
{
    if (conn_ex_index < 0)
        conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (!net->ssl_ctx)
        return;
    SSL_CTX_set_mode(net->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (net->resume) {
        SSL_CTX_set_session_cache_mode(net->ssl_ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(net->ssl_ctx, new_session_cb);
    } else {
        SSL_CTX_set_session_cache_mode(net->ssl_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(net->ssl_ctx, SSL_OP_NO_TICKET);
    }
}

void lg_net_free(struct lg_net *net)
{
    while (net->pool_n)
        SSL_SESSION_free(net->pool[--net->pool_n]);
}

static void shut(struct lg_conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);       /* also leaves the epoll set */
        c->fd = -1;
    }
    c->st = LG_ST_CLOSED;
    buf_free(&c->in);
    buf_free(&c->out);
}

static void fail(struct lg_conn *c, const char *kind)
{
    if (c->st == LG_ST_CLOSED)
        return;
    shut(c);
    if (c->net->on_fail)
        c->net->on_fail(c, kind, c->net->ud);
}

void lg_conn_abort(struct lg_conn *c, const char *kind)
{
    fail(c, kind);
}

void lg_conn_close_quiet(struct lg_conn *c)
{
    if (c->st != LG_ST_CLOSED)
        shut(c);
}

void lg_conn_release(struct lg_conn *c)
{
    lg_conn_close_quiet(c);
}

/* Writes what the socket takes. 0 when done or waiting for EPOLLOUT, -1
 * after closing on an error. */
static int flush(struct lg_conn *c)
{
    while (c->out.len > 0) {
        if (c->ssl) {
            ERR_clear_error();
            int n = SSL_write(c->ssl, c->out.data, (int)c->out.len);
            if (n > 0) {
                buf_consume(&c->out, (size_t)n);
                continue;
            }
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                return 0;
            fail(c, c->st == LG_ST_UP ? "write-after-up" : "write");
            return -1;
        }
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        fail(c, c->st == LG_ST_UP ? "write-after-up" : "write");
        return -1;
    }
    return 0;
}

/* Encodes one packet into the output buffer through a cursor writer. */
#define EMIT(c, need, call)                                                   \
    do {                                                                      \
        uint8_t *dst_;                                                        \
        struct wcur w_;                                                       \
        if (buf_reserve(&(c)->out, (need), &dst_) < 0)                        \
            return -EMSGSIZE;                                                 \
        wcur_init(&w_, dst_, (need));                                         \
        call;                                                                 \
        if (w_.err)                                                           \
            return w_.err;                                                    \
        buf_commit(&(c)->out, w_.off);                                        \
    } while (0)

static int send_connect(struct lg_conn *c)
{
    struct mqtt_connect m;
    memset(&m, 0, sizeof(m));
    m.protocol_level = MQTT_PROTOCOL_LEVEL_311;
    m.clean_session = true;
    m.keepalive = c->net->keepalive;
    m.client_id.p = (const uint8_t *)c->client_id;
    m.client_id.len = strlen(c->client_id);
    if (c->username) {
        m.has_username = true;
        m.username.p = (const uint8_t *)c->username;
        m.username.len = strlen(c->username);
    }
    if (c->password) {
        m.has_password = true;
        m.password.p = (const uint8_t *)c->password;
        m.password.len = strlen(c->password);
    }
    size_t need = mqtt_encoded_len_connect(&m);
    EMIT(c, need, mqtt_encode_connect(&w_, &m));
    c->t_last_tx_ns = lg_now_ns();
    return 0;
}

static int send_subscribe(struct lg_conn *c)
{
    struct mqtt_subscribe s;
    memset(&s, 0, sizeof(s));
    s.packet_id = 1;
    s.count = 1;
    s.filters[0].filter.p = (const uint8_t *)c->sub_filter;
    s.filters[0].filter.len = strlen(c->sub_filter);
    s.filters[0].qos = c->sub_qos;
    size_t need = mqtt_encoded_len_subscribe(&s);
    EMIT(c, need, mqtt_encode_subscribe(&w_, &s));
    return 0;
}

static int send_ack(struct lg_conn *c, enum mqtt_type t, uint16_t pid)
{
    EMIT(c, MQTT_ENCODED_LEN_ACK, mqtt_encode_ack(&w_, t, pid));
    return 0;
}

static int send_empty(struct lg_conn *c, enum mqtt_type t)
{
    EMIT(c, MQTT_ENCODED_LEN_EMPTY, mqtt_encode_empty(&w_, t));
    c->t_last_tx_ns = lg_now_ns();
    return 0;
}

static void went_up(struct lg_conn *c)
{
    c->st = LG_ST_UP;
    c->t_up_ns = lg_now_ns();
    if (c->net->on_up)
        c->net->on_up(c, c->net->ud);
}

static const char *const connack_kind[] = {
    "connack-0", "connack-1-protocol", "connack-2-id-rejected", "connack-3-unavailable",
    "connack-4-bad-credentials", "connack-5-not-authorized",
};

/* One decoded packet. Returns -1 when the connection was closed. */
static int handle(struct lg_conn *c, const struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_CONNACK:
        if (c->st != LG_ST_CONNACK) {
            fail(c, "unexpected-connack");
            return -1;
        }
        if (p->u.connack.return_code != 0) {
            uint8_t rc = p->u.connack.return_code;
            fail(c, rc < 6 ? connack_kind[rc] : "connack-other");
            return -1;
        }
        if (c->role == LG_ROLE_SUB) {
            if (send_subscribe(c) < 0) {
                fail(c, "encode");
                return -1;
            }
            c->st = LG_ST_SUBACK;
        } else {
            went_up(c);
        }
        return 0;
    case MQTT_SUBACK:
        if (c->st != LG_ST_SUBACK) {
            fail(c, "unexpected-suback");
            return -1;
        }
        if (p->u.suback.count < 1 || p->u.suback.codes[0] == MQTT_SUBACK_FAILURE) {
            fail(c, "suback-refused");
            return -1;
        }
        went_up(c);
        return 0;
    case MQTT_PUBLISH:
        if (c->st != LG_ST_UP) {
            fail(c, "publish-before-up");
            return -1;
        }
        if (p->u.publish.qos == 1 && send_ack(c, MQTT_PUBACK, p->u.publish.packet_id) < 0) {
            fail(c, "encode");
            return -1;
        }
        if (p->u.publish.qos == 2) {
            fail(c, "qos2-received");
            return -1;
        }
        if (c->net->on_message)
            c->net->on_message(c, &p->u.publish, c->net->ud);
        return 0;
    case MQTT_PUBACK: {
        uint16_t pid = p->u.ack.packet_id;
        if (pid == 0 || pid > LG_MAX_WINDOW || !c->slot_used[pid - 1]) {
            fail(c, "unknown-puback");
            return -1;
        }
        c->slot_used[pid - 1] = false;
        c->inflight--;
        c->acked++;
        if (c->net->on_puback)
            c->net->on_puback(c, c->slot_seq[pid - 1], c->slot_ns[pid - 1], c->net->ud);
        return 0;
    }
    case MQTT_PINGRESP:
    case MQTT_UNSUBACK:
        return 0;
    default:
        fail(c, "unexpected-packet");
        return -1;
    }
}

/* Frames and handles every complete packet in the input buffer. */
static int parse(struct lg_conn *c)
{
    size_t off = 0;
    int rc = 0;
    while (off < c->in.len) {
        int n = mqtt_frame(c->in.data + off, c->in.len - off, c->net->max_packet);
        if (n == 0)
            break;
        if (n < 0) {
            fail(c, "malformed-frame");
            return -1;
        }
        struct mqtt_packet pkt;
        int d = mqtt_decode(c->in.data + off, (size_t)n, MQTT_ROLE_CLIENT, &pkt);
        if (d < 0) {
            fail(c, "malformed-packet");
            return -1;
        }
        off += (size_t)n;
        if ((rc = handle(c, &pkt)) < 0)
            return -1;
    }
    buf_consume(&c->in, off);
    return 0;
}

/* Reads until the socket (or TLS) has nothing more. -1 when closed. */
static int read_all(struct lg_conn *c)
{
    for (;;) {
        uint8_t *dst;
        if (buf_reserve(&c->in, READ_CHUNK, &dst) < 0) {
            fail(c, "input-overflow");
            return -1;
        }
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, dst, READ_CHUNK);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return 0;
                bool up = c->st == LG_ST_UP;
                if (e == SSL_ERROR_ZERO_RETURN)
                    fail(c, up ? "closed-by-server" : "closed-before-connack");
                else if (e == SSL_ERROR_SSL && !up)
                    /* In TLS 1.3 the client's handshake ends before the
                     * server has checked the client certificate: a refused
                     * one shows up as an alert on the first read. */
                    fail(c, "tls-alert-before-connack");
                else
                    fail(c, up ? "reset-by-server" : "reset-before-connack");
                return -1;
            }
            n = r;
        } else {
            n = recv(c->fd, dst, READ_CHUNK, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return 0;
                fail(c, c->st == LG_ST_UP ? "reset-by-server" : "reset-before-connack");
                return -1;
            }
            if (n == 0) {
                fail(c, c->st == LG_ST_UP ? "closed-by-server" : "closed-before-connack");
                return -1;
            }
        }
        buf_commit(&c->in, (size_t)n);
        if (parse(c) < 0)
            return -1;
    }
}

static void after_handshake(struct lg_conn *c)
{
    if (send_connect(c) < 0) {
        fail(c, "encode");
        return;
    }
    c->st = LG_ST_CONNACK;
    if (flush(c) < 0)
        return;
    if (read_all(c) < 0)
        return;
    flush(c);
}

static void tls_step(struct lg_conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->resumed = SSL_session_reused(c->ssl);
        after_handshake(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    unsigned long err = ERR_peek_last_error();
    if (SSL_get_verify_result(c->ssl) != X509_V_OK)
        fail(c, "tls-verify");
    else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ||
             (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
        fail(c, "tls-closed-by-server");    /* e.g. a per-address handshake limit */
    else
        fail(c, "tls-handshake");
}

static void tcp_done(struct lg_conn *c)
{
    int err = 0;
    socklen_t sl = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
        err = errno;
    if (err) {
        fail(c, err == ECONNREFUSED ? "tcp-refused" : err == ETIMEDOUT ? "tcp-timeout" : "tcp-error");
        return;
    }
    if (!c->use_tls) {
        after_handshake(c);
        return;
    }
    c->ssl = SSL_new(c->net->ssl_ctx);
    if (!c->ssl) {
        fail(c, "ssl-new");
        return;
    }
    SSL_set_ex_data(c->ssl, conn_ex_index, c);
    SSL_set_fd(c->ssl, c->fd);
    if (c->net->verify_ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->net->verify_ip);
    if (c->net->resume && c->net->pool_n) {
        SSL_SESSION *t = c->net->pool[--c->net->pool_n];
        c->offered = SSL_set_session(c->ssl, t) == 1;
        SSL_SESSION_free(t);        /* the SSL holds its own reference */
    }
    c->st = LG_ST_TLS;
    tls_step(c);
}

void lg_conn_start(struct lg_conn *c)
{
    buf_init(&c->in, c->net->max_packet + IN_SLACK);
    buf_init(&c->out, LG_OUT_MAX);
    c->t_start_ns = lg_now_ns();
    c->st = LG_ST_TCP;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, errno == EMFILE || errno == ENFILE ? "fd-limit" : "socket");
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->src.sin_addr.s_addr != 0) {
        /* Port chosen at connect(), so each source address has its own
         * ephemeral range per destination. */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(c->fd, (struct sockaddr *)&c->src, sizeof(c->src)) < 0) {
            fail(c, "bind-source");
            return;
        }
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c };
    if (epoll_ctl(c->net->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fail(c, "epoll");
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&c->dst, sizeof(c->dst)) < 0 && errno != EINPROGRESS) {
        fail(c, errno == EADDRNOTAVAIL ? "no-ephemeral-port" : errno == ECONNREFUSED ? "tcp-refused"
                                                                                    : "tcp-error");
        return;
    }
}

void lg_conn_event(struct lg_conn *c, uint32_t events)
{
    switch (c->st) {
    case LG_ST_TCP:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            tcp_done(c);
        return;
    case LG_ST_TLS:
        tls_step(c);
        return;
    case LG_ST_CONNACK:
    case LG_ST_SUBACK:
    case LG_ST_UP:
        if (flush(c) < 0)
            return;
        if (read_all(c) < 0)
            return;
        flush(c);
        return;
    default:
        return;
    }
}

bool lg_conn_can_publish(const struct lg_conn *c, uint8_t qos)
{
    if (c->st != LG_ST_UP || c->out.len > LG_OUT_HIGH)
        return false;
    return qos == 0 || c->inflight < c->window;
}

static int queue_publish(struct lg_conn *c, const char *topic, size_t tlen, uint8_t qos,
                         const uint8_t *payload, size_t plen, uint32_t seq, int64_t ts_ns)
{
    struct mqtt_publish m;
    memset(&m, 0, sizeof(m));
    m.qos = qos;
    m.topic.p = (const uint8_t *)topic;
    m.topic.len = tlen;
    m.payload.p = payload;
    m.payload.len = plen;
    int slot = -1;
    if (qos == 1) {
        for (int i = 0; i < c->window; i++) {
            if (!c->slot_used[i]) {
                slot = i;
                break;
            }
        }
        if (slot < 0)
            return -EAGAIN;
        m.packet_id = (uint16_t)(slot + 1);
    }
    size_t need = mqtt_encoded_len_publish(&m);
    EMIT(c, need, mqtt_encode_publish(&w_, &m));
    if (slot >= 0) {
        c->slot_used[slot] = true;
        c->slot_seq[slot] = seq;
        c->slot_ns[slot] = ts_ns;
        c->inflight++;
    }
    c->sent++;
    c->t_last_tx_ns = ts_ns;
    return 0;
}

int lg_conn_publish(struct lg_conn *c, const char *topic, size_t tlen, uint8_t qos,
                    const uint8_t *payload, size_t plen, uint32_t seq, int64_t ts_ns)
{
    if (!lg_conn_can_publish(c, qos))
        return -EAGAIN;
    int r = queue_publish(c, topic, tlen, qos, payload, plen, seq, ts_ns);
    if (r < 0)
        return r;
    if (flush(c) < 0)
        return -EIO;
    return 0;
}

void lg_conn_ping(struct lg_conn *c)
{
    if (c->st != LG_ST_UP)
        return;
    if (send_empty(c, MQTT_PINGREQ) < 0) {
        fail(c, "encode");
        return;
    }
    flush(c);
}

void lg_conn_disconnect(struct lg_conn *c)
{
    if (c->st == LG_ST_CLOSED)
        return;
    if (c->st == LG_ST_UP && send_empty(c, MQTT_DISCONNECT) == 0) {
        c->disconnected = true;
        if (flush(c) < 0)
            return;
    }
    if (c->ssl && c->st == LG_ST_UP)
        SSL_shutdown(c->ssl);       /* close_notify, no wait for the peer's */
    shut(c);
}
