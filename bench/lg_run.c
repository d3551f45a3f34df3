/* The load generator's run: phases (subscribe, connect, settle, hold or
 * publish, drain, close), the rate schedulers, message accounting and CPU
 * sampling of the watched server processes (see lg_run.h). */
#include "bench/lg_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench/lg_conn.h"
#include "bench/lg_jwt.h"

#define MAX_EVENTS 512
#define SEQ_CAP_DEFAULT (1u << 24)      /* sequence numbers tracked per connection */
#define TOKEN_MAX 2048
#define SUB_UP_TIMEOUT_NS (10 * 1000000000LL)
static const uint8_t MAGIC[4] = { 'L', 'G', 'B', '1' };

static volatile sig_atomic_t interrupted;

void lg_run_interrupt(void)
{
    interrupted = 1;
}

struct run {
    const struct lg_opts *o;
    struct lg_result *res;
    SSL_CTX *ctx;
    struct lg_net net;
    struct lg_conn *conns;          /* owned, o->conns */
    char **client_ids;              /* owned */
    char **topics;                  /* owned */
    size_t *topic_lens;
    char **tokens;                  /* owned; one shared or one per connection */
    struct lg_bits *recv_bits;      /* owned, per connection (with a subscriber) */
    struct lg_bits *ack_bits;       /* owned, per connection (QoS 1 with a subscriber) */
    struct lg_conn sub;
    bool sub_failed;
    unsigned started, in_progress, up_now;
    int64_t t_first_start, t_last_up;
    int64_t t_first_pub, t_last_pub, t_first_recv, t_last_recv;
    int64_t t_progress;             /* last received message or PUBACK */
    uint32_t *churn_q;              /* owned: connections to disconnect after this batch */
    size_t churn_n;
    uint8_t payload[LG_MAX_PAYLOAD];
    uint64_t seq_cap;
};

/* ---------------------------------------------------------------- CPU */

static double proc_cpu_us(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which may itself contain ") ". */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS from /proc/PID/status, KiB; -1 if unreadable. */
static long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

enum rss_point { RSS_BEFORE, RSS_HELD, RSS_MAX, RSS_END };

static void rss_sample(const struct run *r, enum rss_point at)
{
    for (size_t i = 0; i < r->o->n_watch; i++) {
        long v = proc_rss_kib(r->o->watch[i].pid);
        struct lg_rss *s = &r->res->rss[i];
        switch (at) {
        case RSS_BEFORE: s->before_kib = v; break;
        case RSS_HELD: s->held_kib = v; s->max_kib = v; break;
        case RSS_MAX: if (v > s->max_kib) s->max_kib = v; break;
        case RSS_END: s->end_kib = v; if (v > s->max_kib) s->max_kib = v; break;
        }
    }
}

static double self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct cpu_mark {
    int64_t t_ns;
    double self_us;
    double srv_us[LG_MAX_WATCH];
};

static void cpu_mark(const struct run *r, struct cpu_mark *m)
{
    m->t_ns = lg_now_ns();
    m->self_us = self_cpu_us();
    for (size_t i = 0; i < r->o->n_watch; i++)
        m->srv_us[i] = proc_cpu_us(r->o->watch[i].pid);
}

static void cpu_phase(const struct run *r, const struct cpu_mark *a, struct lg_phase_cpu *out)
{
    struct cpu_mark b;
    cpu_mark(r, &b);
    out->wall_s = (double)(b.t_ns - a->t_ns) / 1e9;
    out->client_cpu_us = b.self_us - a->self_us;
    for (size_t i = 0; i < r->o->n_watch; i++)
        out->server_cpu_us[i] = (a->srv_us[i] < 0 || b.srv_us[i] < 0) ? -1 : b.srv_us[i] - a->srv_us[i];
}

/* ---------------------------------------------------------------- callbacks */

static void on_up(struct lg_conn *c, void *ud)
{
    struct run *r = ud;
    if (c->role == LG_ROLE_SUB)
        return;
    r->in_progress--;
    r->up_now++;
    r->res->connected++;
    if (c->resumed)
        r->res->resumed++;
    else if (c->offered)
        lg_errs_add(&r->res->errs, "resume-declined");
    lg_hist_add(&r->res->connect_ns, (uint64_t)(c->t_up_ns - c->t_start_ns));
    r->t_last_up = c->t_up_ns;
    /* Not from inside the connection's own parse loop: queue it. */
    if (r->o->churn)
        r->churn_q[r->churn_n++] = c->idx;
}

static void on_fail(struct lg_conn *c, const char *kind, void *ud)
{
    struct run *r = ud;
    if (c->role == LG_ROLE_SUB) {
        r->sub_failed = true;
        lg_errs_add(&r->res->errs, kind);
        return;
    }
    lg_errs_add(&r->res->errs, kind);
    if (c->t_up_ns) {
        r->up_now--;
        r->res->lost_after_up++;
    } else {
        r->in_progress--;
    }
}

static void on_puback(struct lg_conn *c, uint32_t seq, int64_t sent_ns, void *ud)
{
    struct run *r = ud;
    int64_t now = lg_now_ns();
    r->res->acked++;
    r->t_progress = now;
    lg_hist_add(&r->res->ack_ns, (uint64_t)(now - sent_ns));
    if (r->ack_bits)
        lg_bits_set(&r->ack_bits[c->idx], seq);
}

static void on_message(struct lg_conn *c, const struct mqtt_publish *p, void *ud)
{
    struct run *r = ud;
    (void)c;
    uint32_t idx, seq;
    int64_t ts;
    if (p->payload.len < LG_PAYLOAD_HEADER || memcmp(p->payload.p, MAGIC, 4) != 0) {
        r->res->foreign++;
        return;
    }
    memcpy(&idx, p->payload.p + 4, 4);
    memcpy(&seq, p->payload.p + 8, 4);
    memcpy(&ts, p->payload.p + 12, 8);
    if (idx >= r->o->conns) {
        r->res->foreign++;
        return;
    }
    int64_t now = lg_now_ns();
    int rc = lg_bits_set(&r->recv_bits[idx], seq);
    if (rc == 1) {
        r->res->dup++;
        return;
    }
    if (rc < 0) {
        r->res->beyond_cap++;
        return;
    }
    r->res->received++;
    if (!r->t_first_recv)
        r->t_first_recv = now;
    r->t_last_recv = now;
    r->t_progress = now;
    lg_hist_add(&r->res->e2e_ns, (uint64_t)(now > ts ? now - ts : 0));
}

/* ---------------------------------------------------------------- setup */

static char *dup_subst(const char *fmt, const char *value)
{
    /* fmt with every "%s" replaced by value (no printf on a user format). */
    size_t fl = strlen(fmt), vl = strlen(value), n = 0;
    for (const char *p = fmt; (p = strstr(p, "%s")); p += 2)
        n++;
    char *out = malloc(fl + n * vl + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *p = fmt; *p;) {
        if (p[0] == '%' && p[1] == 's') {
            memcpy(out + o, value, vl);
            o += vl;
            p += 2;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

static int setup_tls(struct run *r)
{
    const struct lg_opts *o = r->o;
    r->ctx = SSL_CTX_new(TLS_client_method());
    if (!r->ctx)
        return -ENOMEM;
    SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION);
    if (o->ca_file) {
        if (SSL_CTX_load_verify_locations(r->ctx, o->ca_file, NULL) != 1) {
            snprintf(r->res->fatal, sizeof(r->res->fatal), "cannot load CA file %s", o->ca_file);
            return -EINVAL;
        }
        SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(r->ctx, SSL_VERIFY_NONE, NULL);
    }
    if (o->scheme == LG_SCHEME_X509) {
        /* Loaded once into the shared context: every connection presents
         * the same certificate (AWS IoT lets one certificate serve many
         * client ids), so a connection costs the handshake's signature,
         * not a PEM decode. */
        if (SSL_CTX_use_certificate_chain_file(r->ctx, o->cert_file) != 1) {
            snprintf(r->res->fatal, sizeof(r->res->fatal), "cannot load the client certificate %s",
                     o->cert_file);
            return -EINVAL;
        }
        if (SSL_CTX_use_PrivateKey_file(r->ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(r->ctx) != 1) {
            snprintf(r->res->fatal, sizeof(r->res->fatal),
                     "cannot load the key %s, or it does not match the certificate %s", o->key_file,
                     o->cert_file);
            return -EINVAL;
        }
        ERR_clear_error();
    }
    return 0;
}

static int setup_identities(struct run *r)
{
    const struct lg_opts *o = r->o;
    struct lg_jwt *jwt = NULL;
    bool google = o->scheme == LG_SCHEME_ES256 || o->scheme == LG_SCHEME_RS256;
    char token[TOKEN_MAX];

    r->client_ids = calloc(o->conns, sizeof(char *));
    r->topics = calloc(o->conns, sizeof(char *));
    r->topic_lens = calloc(o->conns, sizeof(size_t));
    r->tokens = calloc(o->conns, sizeof(char *));
    if (!r->client_ids || !r->topics || !r->topic_lens || !r->tokens)
        return -ENOMEM;
    if (google) {
        const char *why = "";
        int rc = lg_jwt_new(o->key_file, &jwt, &why);
        if (rc < 0) {
            snprintf(r->res->fatal, sizeof(r->res->fatal), "key %s: %s", o->key_file, why);
            return rc;
        }
        enum lg_jwt_alg want = o->scheme == LG_SCHEME_ES256 ? LG_JWT_ES256 : LG_JWT_RS256;
        if (lg_jwt_alg(jwt) != want) {
            snprintf(r->res->fatal, sizeof(r->res->fatal), "key %s does not match the scheme",
                     o->key_file);
            lg_jwt_free(jwt);
            return -EINVAL;
        }
    }
    int64_t iat = time(NULL);
    const char *topic_fmt = o->topic_fmt ? o->topic_fmt : google ? "/devices/%s/events" : "bench/%s";
    int rc = 0;
    for (unsigned i = 0; i < o->conns && rc == 0; i++) {
        char dev[128], cid[512];
        snprintf(dev, sizeof(dev), "%s%u", o->device_prefix, o->device_offset + i);
        if (google)
            snprintf(cid, sizeof(cid), "projects/%s/locations/%s/registries/%s/devices/%s",
                     o->project, o->location, o->registry, dev);
        else
            snprintf(cid, sizeof(cid), "%s", dev);
        r->client_ids[i] = strdup(cid);
        r->topics[i] = dup_subst(topic_fmt, dev);
        if (!r->client_ids[i] || !r->topics[i]) {
            rc = -ENOMEM;
            break;
        }
        r->topic_lens[i] = strlen(r->topics[i]);
        if (google && (i == 0 || o->mint_each)) {
            int tl = lg_jwt_mint(jwt, o->project, iat, iat + o->token_lifetime, token, sizeof(token));
            if (tl < 0) {
                snprintf(r->res->fatal, sizeof(r->res->fatal), "cannot mint a JWT");
                rc = tl;
                break;
            }
            r->tokens[i] = strdup(token);
            explicit_bzero(token, sizeof(token));
            if (!r->tokens[i])
                rc = -ENOMEM;
        } else if (google) {
            r->tokens[i] = r->tokens[0];
        }
    }
    lg_jwt_free(jwt);
    return rc;
}

static void init_conn(struct run *r, struct lg_conn *c, uint32_t idx)
{
    const struct lg_opts *o = r->o;
    memset(c, 0, sizeof(*c));
    c->net = &r->net;
    c->role = LG_ROLE_DEVICE;
    c->idx = idx;
    c->fd = -1;
    c->use_tls = o->tls;
    c->dst.sin_family = AF_INET;
    c->dst.sin_port = htons((uint16_t)o->port);
    inet_pton(AF_INET, o->host, &c->dst.sin_addr);
    c->src.sin_family = AF_INET;
    if (o->src_base)
        c->src.sin_addr.s_addr = htonl(o->src_base + idx % o->src_count);
    c->client_id = r->client_ids[idx];
    switch (o->scheme) {
    case LG_SCHEME_ES256:
    case LG_SCHEME_RS256:
        c->username = "unused";     /* Google ignored it; Arduino clients send none */
        c->password = r->tokens[idx];
        break;
    case LG_SCHEME_PASSWORD:
        c->username = o->username;
        c->password = o->password;
        break;
    case LG_SCHEME_NONE:
    case LG_SCHEME_X509:        /* identity = the certificate; the broker may map it to a username */
        break;
    }
    c->window = (uint16_t)o->window;
}

/* ---------------------------------------------------------------- loop */

static void pump(struct run *r, int timeout_ms)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(r->net.epfd, ev, MAX_EVENTS, timeout_ms);
    for (int i = 0; i < n; i++)
        lg_conn_event(ev[i].data.ptr, ev[i].events);
    for (size_t i = 0; i < r->churn_n; i++) {
        struct lg_conn *c = &r->conns[r->churn_q[i]];
        if (c->st == LG_ST_UP)
            r->up_now--;
        lg_conn_disconnect(c);
    }
    r->churn_n = 0;
}

static void sweep(struct run *r, int64_t now, int64_t *next_sweep, int64_t *next_ping)
{
    const struct lg_opts *o = r->o;
    if (now < *next_sweep)
        return;
    *next_sweep = now + 100000000LL;
    int64_t limit = (int64_t)(o->connect_timeout * 1e9);
    for (unsigned i = 0; i < r->started; i++) {
        struct lg_conn *c = &r->conns[i];
        if (c->st != LG_ST_UP && c->st != LG_ST_CLOSED && c->st != LG_ST_NEW &&
            now - c->t_start_ns > limit)
            lg_conn_abort(c, c->st == LG_ST_TCP ? "timeout-tcp" : c->st == LG_ST_TLS ? "timeout-tls"
                                                                                 : "timeout-connack");
    }
    if (o->keepalive == 0 || now < *next_ping)
        return;
    *next_ping = now + 1000000000LL;
    int64_t idle = (int64_t)o->keepalive * 500000000LL;   /* half the keepalive */
    for (unsigned i = 0; i < r->started; i++)
        if (r->conns[i].st == LG_ST_UP && now - r->conns[i].t_last_tx_ns > idle)
            lg_conn_ping(&r->conns[i]);
    if (r->sub.st == LG_ST_UP && now - r->sub.t_last_tx_ns > idle)
        lg_conn_ping(&r->sub);
}

static int start_subscriber(struct run *r)
{
    const struct lg_opts *o = r->o;
    static char sub_id[64];
    snprintf(sub_id, sizeof(sub_id), "lg-sub-%d", (int)getpid());
    struct lg_conn *s = &r->sub;
    memset(s, 0, sizeof(*s));
    s->net = &r->net;
    s->role = LG_ROLE_SUB;
    s->fd = -1;
    s->use_tls = false;
    s->dst.sin_family = AF_INET;
    s->dst.sin_port = htons((uint16_t)o->sub_port);
    if (inet_pton(AF_INET, o->sub_host, &s->dst.sin_addr) != 1) {
        snprintf(r->res->fatal, sizeof(r->res->fatal), "subscriber host must be an IPv4 address");
        return -EINVAL;
    }
    s->src.sin_family = AF_INET;
    s->client_id = sub_id;
    s->username = o->sub_username;
    s->password = o->sub_password;
    s->sub_filter = o->sub_filter;
    s->sub_qos = o->qos;
    lg_conn_start(s);
    int64_t deadline = lg_now_ns() + SUB_UP_TIMEOUT_NS;
    while (s->st != LG_ST_UP && !r->sub_failed && !interrupted && lg_now_ns() < deadline)
        pump(r, 50);
    if (s->st != LG_ST_UP) {
        snprintf(r->res->fatal, sizeof(r->res->fatal), "subscriber on %s:%d did not get its SUBACK",
                 o->sub_host, o->sub_port);
        return -EIO;
    }
    return 0;
}

static void connect_phase(struct run *r)
{
    const struct lg_opts *o = r->o;
    int64_t t0 = lg_now_ns(), next_sweep = 0, next_ping = t0 + 1000000000LL;
    r->t_first_start = t0;
    while (!interrupted && !r->sub_failed && (r->started < o->conns || r->in_progress > 0)) {
        int64_t now = lg_now_ns();
        uint64_t allowed = o->conns;
        if (o->connect_rate > 0) {
            allowed = (uint64_t)((double)(now - t0) / 1e9 * o->connect_rate) + 1;
            if (allowed > o->conns)
                allowed = o->conns;
        }
        while (r->started < allowed && r->in_progress < o->concurrency) {
            struct lg_conn *c = &r->conns[r->started++];
            r->in_progress++;
            lg_conn_start(c);
        }
        sweep(r, now, &next_sweep, &next_ping);
        int timeout = 50;
        if (o->connect_rate > 0 && r->started < o->conns)
            timeout = 1;
        pump(r, timeout);
    }
}

static void idle_for(struct run *r, double seconds)
{
    int64_t end = lg_now_ns() + (int64_t)(seconds * 1e9), next_sweep = 0, next_ping = 0;
    while (!interrupted && lg_now_ns() < end) {
        sweep(r, lg_now_ns(), &next_sweep, &next_ping);
        pump(r, 50);
    }
}

/* An idle hold: idle_for, sampling the watched processes' VmRSS once a
 * second (reading /proc costs the servers nothing). */
static void idle_hold(struct run *r, double seconds)
{
    int64_t end = lg_now_ns() + (int64_t)(seconds * 1e9), next_sweep = 0, next_ping = 0;
    int64_t next_rss = lg_now_ns() + 1000000000LL;
    while (!interrupted && lg_now_ns() < end) {
        int64_t now = lg_now_ns();
        sweep(r, now, &next_sweep, &next_ping);
        if (now >= next_rss) {
            rss_sample(r, RSS_MAX);
            next_rss = now + 1000000000LL;
        }
        pump(r, 50);
    }
}

/* One message from connection c; false if it cannot take one now. */
static bool publish_one(struct run *r, struct lg_conn *c)
{
    const struct lg_opts *o = r->o;
    if (!lg_conn_can_publish(c, o->qos))
        return false;
    if (o->count && c->next_seq >= o->count)
        return false;
    if (c->next_seq >= r->seq_cap) {
        if (c->next_seq == r->seq_cap) {
            r->res->publishers_full++;
            c->next_seq++;
        }
        return false;
    }
    int64_t now = lg_now_ns();
    uint32_t seq = c->next_seq;
    memcpy(r->payload + 4, &c->idx, 4);
    memcpy(r->payload + 8, &seq, 4);
    memcpy(r->payload + 12, &now, 8);
    int rc = lg_conn_publish(c, r->topics[c->idx], r->topic_lens[c->idx], o->qos, r->payload,
                             o->payload, seq, now);
    if (rc < 0)
        return false;
    c->next_seq++;
    r->res->sent++;
    if (!r->t_first_pub)
        r->t_first_pub = now;
    r->t_last_pub = now;
    return true;
}

static bool all_published(const struct run *r)
{
    const struct lg_opts *o = r->o;
    if (!o->count)
        return false;
    for (unsigned i = 0; i < r->started; i++) {
        const struct lg_conn *c = &r->conns[i];
        if (c->st == LG_ST_UP && (c->next_seq < o->count || c->inflight > 0))
            return false;
    }
    return true;
}

static void publish_phase(struct run *r)
{
    const struct lg_opts *o = r->o;
    int64_t t0 = lg_now_ns(), end = o->hold > 0 ? t0 + (int64_t)(o->hold * 1e9) : INT64_MAX;
    int64_t next_sweep = 0, next_ping = 0;
    uint64_t issued = 0;
    unsigned rr = 0;
    uint64_t max_backlog = (uint64_t)(o->pub_rate * 0.05) + r->up_now + 1;

    while (!interrupted && !r->sub_failed && lg_now_ns() < end && r->up_now > 0) {
        int64_t now = lg_now_ns();
        if (o->pub_rate > 0) {
            uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * o->pub_rate);
            if (due > issued + max_backlog) {
                /* The system fell behind the schedule: skip, and say so. */
                lg_errs_add(&r->res->errs, "publish-behind-schedule");
                issued = due - max_backlog;
            }
            unsigned misses = 0;
            while (issued < due && misses < o->conns) {
                struct lg_conn *c = &r->conns[rr];
                rr = (rr + 1) % o->conns;
                if (publish_one(r, c)) {
                    issued++;
                    misses = 0;
                } else {
                    misses++;
                }
            }
        } else {
            /* As fast as the windows and sockets take, a bounded burst per
             * connection per turn so every connection gets its share. */
            for (unsigned i = 0; i < r->started; i++)
                for (unsigned k = 0; k < o->window && publish_one(r, &r->conns[i]); k++)
                    ;
        }
        if (all_published(r))
            break;
        sweep(r, now, &next_sweep, &next_ping);
        pump(r, o->pub_rate > 0 ? 1 : 0);
    }
}

static uint64_t inflight_total(const struct run *r)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < r->started; i++)
        if (r->conns[i].st == LG_ST_UP)
            n += r->conns[i].inflight;
    return n;
}

static void drain_phase(struct run *r)
{
    const struct lg_opts *o = r->o;
    int64_t next_sweep = 0, next_ping = 0;
    r->t_progress = lg_now_ns();
    while (!interrupted && !r->sub_failed) {
        int64_t now = lg_now_ns();
        bool acks_done = inflight_total(r) == 0;
        bool recv_done = !o->sub_port || r->res->received + r->res->beyond_cap >= r->res->sent;
        if (acks_done && recv_done)
            break;
        if (now - r->t_progress > (int64_t)(o->drain * 1e9))
            break;
        sweep(r, now, &next_sweep, &next_ping);
        pump(r, 10);
    }
}

static void account_losses(struct run *r)
{
    const struct lg_opts *o = r->o;
    if (!o->sub_port || !o->publish)
        return;
    for (unsigned i = 0; i < r->started; i++) {
        const struct lg_conn *c = &r->conns[i];
        uint32_t n = c->next_seq > r->seq_cap ? (uint32_t)r->seq_cap : c->next_seq;
        for (uint32_t s = 0; s < n; s++) {
            if (lg_bits_test(&r->recv_bits[i], s))
                continue;
            r->res->lost++;
            if (r->ack_bits && lg_bits_test(&r->ack_bits[i], s))
                r->res->lost_acked++;
        }
    }
}

static void teardown(struct run *r)
{
    const struct lg_opts *o = r->o;
    if (r->conns) {
        for (unsigned i = 0; i < o->conns; i++)
            lg_conn_disconnect(&r->conns[i]);
    }
    lg_conn_disconnect(&r->sub);
    if (r->net.epfd >= 0)
        close(r->net.epfd);
    lg_net_free(&r->net);
    SSL_CTX_free(r->ctx);
    for (unsigned i = 0; i < o->conns; i++) {
        if (r->client_ids)
            free(r->client_ids[i]);
        if (r->topics)
            free(r->topics[i]);
        if (r->tokens && r->tokens[i] && (i == 0 || r->tokens[i] != r->tokens[0])) {
            explicit_bzero(r->tokens[i], strlen(r->tokens[i]));
            free(r->tokens[i]);
        }
        if (r->recv_bits)
            lg_bits_free(&r->recv_bits[i]);
        if (r->ack_bits)
            lg_bits_free(&r->ack_bits[i]);
    }
    free(r->client_ids);
    free(r->topics);
    free(r->topic_lens);
    free(r->tokens);
    free(r->recv_bits);
    free(r->ack_bits);
    free(r->conns);
    free(r->churn_q);
}

int lg_run(const struct lg_opts *o, struct lg_result *res)
{
    struct run *r = calloc(1, sizeof(*r));
    int rc = 0;
    struct cpu_mark mark;

    memset(res, 0, sizeof(*res));
    lg_hist_init(&res->connect_ns);
    lg_hist_init(&res->ack_ns);
    lg_hist_init(&res->e2e_ns);
    if (!r) {
        snprintf(res->fatal, sizeof(res->fatal), "out of memory");
        return -ENOMEM;
    }
    r->o = o;
    r->res = res;
    r->net.epfd = -1;
    r->sub.st = LG_ST_CLOSED;
    r->sub.fd = -1;
    r->seq_cap = o->count ? o->count : SEQ_CAP_DEFAULT;
    res->attempted = 0;

    r->conns = calloc(o->conns, sizeof(*r->conns));
    r->churn_q = calloc(o->conns, sizeof(*r->churn_q));
    if (!r->conns || !r->churn_q) {
        snprintf(res->fatal, sizeof(res->fatal), "out of memory for %u connections", o->conns);
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < o->conns; i++) {
        r->conns[i].st = LG_ST_CLOSED;
        r->conns[i].fd = -1;
    }
    if (o->tls && (rc = setup_tls(r)) < 0)
        goto out;
    if ((rc = setup_identities(r)) < 0) {
        if (!res->fatal[0])
            snprintf(res->fatal, sizeof(res->fatal), "cannot prepare identities: %s", strerror(-rc));
        goto out;
    }
    if (o->sub_port) {
        r->recv_bits = calloc(o->conns, sizeof(*r->recv_bits));
        if (o->qos == 1)
            r->ack_bits = calloc(o->conns, sizeof(*r->ack_bits));
        if (!r->recv_bits || (o->qos == 1 && !r->ack_bits)) {
            rc = -ENOMEM;
            snprintf(res->fatal, sizeof(res->fatal), "out of memory");
            goto out;
        }
        for (unsigned i = 0; i < o->conns; i++) {
            lg_bits_init(&r->recv_bits[i], r->seq_cap);
            if (r->ack_bits)
                lg_bits_init(&r->ack_bits[i], r->seq_cap);
        }
    }
    memset(r->payload, 0xA5, sizeof(r->payload));
    memcpy(r->payload, MAGIC, 4);

    r->net.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->net.epfd < 0) {
        rc = -errno;
        snprintf(res->fatal, sizeof(res->fatal), "epoll_create1: %s", strerror(errno));
        goto out;
    }
    r->net.ssl_ctx = r->ctx;
    r->net.verify_ip = o->ca_file ? o->host : NULL;
    r->net.resume = o->resume;
    r->net.max_packet = LG_MAX_PAYLOAD + 1024;
    r->net.keepalive = o->keepalive;
    r->net.ud = r;
    r->net.on_up = on_up;
    r->net.on_fail = on_fail;
    r->net.on_puback = on_puback;
    r->net.on_message = on_message;
    lg_net_init_ssl(&r->net);

    if (o->sub_port && (rc = start_subscriber(r)) < 0)
        goto out;

    for (unsigned i = 0; i < o->conns; i++)
        init_conn(r, &r->conns[i], i);

    for (size_t i = 0; i < o->n_watch; i++)
        res->rss[i] = (struct lg_rss){ -1, -1, -1, -1 };
    rss_sample(r, RSS_BEFORE);
    cpu_mark(r, &mark);
    connect_phase(r);
    res->attempted = r->started;
    if (r->t_last_up > r->t_first_start)
        res->connect_wall_s = (double)(r->t_last_up - r->t_first_start) / 1e9;
    if (o->settle > 0)
        idle_for(r, o->settle);
    cpu_phase(r, &mark, &res->cpu_connect);

    if (!interrupted && (o->hold > 0 || o->publish)) {
        rss_sample(r, RSS_HELD);
        cpu_mark(r, &mark);
        if (o->publish) {
            publish_phase(r);
            drain_phase(r);
        } else {
            idle_hold(r, o->hold);
        }
        cpu_phase(r, &mark, &res->cpu_hold);
        rss_sample(r, RSS_END);
    }
    res->up_at_end = r->up_now;
    if (r->t_last_pub > r->t_first_pub)
        res->pub_wall_s = (double)(r->t_last_pub - r->t_first_pub) / 1e9;
    if (r->t_last_recv > r->t_first_recv)
        res->recv_wall_s = (double)(r->t_last_recv - r->t_first_recv) / 1e9;
    account_losses(r);
    if (r->sub_failed)
        snprintf(res->fatal, sizeof(res->fatal), "the subscriber connection failed during the run");
out:
    res->interrupted = interrupted;
    teardown(r);
    free(r);
    return rc;
}
