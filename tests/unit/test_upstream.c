/* Upstream link against a real Mosquitto (started here on a free port) and
 * against a scripted fake broker for the cases Mosquitto will not produce
 * (malformed packets, QoS 2, unknown acks, silence). Skips (77) without
 * /usr/sbin/mosquitto. Logs are kept on failure. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "bridges/upstream/upstream.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "testutil.h"

#define MOSQUITTO "/usr/sbin/mosquitto"

static pid_t broker_pid = -1;
static char tmpdir[256];
static char broker_log[320];
static char broker_conf[320];

static void stop_broker(void)
{
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
        broker_pid = -1;
    }
}

/* The broker log stays in tmpdir when a check failed. */
static void cleanup(void)
{
    stop_broker();
    tu_tmpdir_cleanup(tmpdir);
}

/* A port nobody listens on right now (bind to 0, read it, close). */
static int free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static bool port_accepts(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Starts mosquitto on a free port; retries when another process took the
 * port between our probe and mosquitto's bind. Returns the port. */
static int start_broker(void)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        FILE *f = fopen(broker_conf, "w");
        CHECK(f);
        fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n",
                port);
        fclose(f);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            int fd = open(broker_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(MOSQUITTO, "mosquitto", "-c", broker_conf, (char *)NULL);
            _exit(127);
        }
        broker_pid = pid;
        for (int i = 0; i < 100; i++) {
            if (port_accepts(port))
                return port;
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                broker_pid = -1;
                break;
            }
            sleep_ms(50);
        }
        stop_broker();
    }
    CHECK(!"mosquitto did not start");
    return -1;
}

/* ---- a scripted fake broker: accepts one connection, reads what comes,
 * and answers with fixed bytes once the CONNECT arrived ---- */

struct fake {
    int lfd, port, cfd;
    uint8_t rx[4096];
    size_t rx_len;
    const uint8_t *script;
    size_t script_len;
    bool sent;
};

static void fake_start(struct fake *f, const uint8_t *script, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    memset(f, 0, sizeof(*f));
    f->cfd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(f->lfd >= 0);
    CHECK(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(f->lfd, 4) == 0);
    CHECK(getsockname(f->lfd, (struct sockaddr *)&sa, &sl) == 0);
    f->port = ntohs(sa.sin_port);
    f->script = script;
    f->script_len = len;
}

static void fake_poll(struct fake *f)
{
    if (!f || f->lfd < 0)
        return;
    if (f->cfd < 0) {
        f->cfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK);
        if (f->cfd < 0)
            return;
    }
    ssize_t n = read(f->cfd, f->rx + f->rx_len, sizeof(f->rx) - f->rx_len);
    if (n > 0)
        f->rx_len += (size_t)n;
    /* The CONNECT is at least 14 bytes; answer once it is here. */
    if (!f->sent && f->rx_len >= 14 && f->script_len) {
        CHECK(write(f->cfd, f->script, f->script_len) == (ssize_t)f->script_len);
        f->sent = true;
    }
}

static void fake_stop(struct fake *f)
{
    if (f->cfd >= 0)
        close(f->cfd);
    close(f->lfd);
    f->lfd = f->cfd = -1;
}

/* ---- links under test ---- */

#define MAX_MSGS 64

struct msg {
    char topic[64];
    char payload[64];
    uint8_t qos;
    uint16_t pid;
};

struct link {
    const char *name;
    struct upstream *u;
    int connacks;
    uint8_t rc;
    int closed;
    int close_err;
    uint16_t pubacks[MAX_MSGS];
    size_t n_pubacks;
    uint16_t suback_pid;
    uint8_t suback_codes[8];
    size_t suback_n;
    uint16_t unsuback_pid;
    struct msg msgs[MAX_MSGS];
    size_t n_msgs;
    size_t n_bulk;                  /* "s/bulk" deliveries, counted, not kept */
    bool auto_ack;
    bool close_in_publish;
};

static void on_connack(void *ud, uint8_t rc, bool sp)
{
    struct link *l = ud;
    (void)sp;
    l->connacks++;
    l->rc = rc;
}

static void on_puback(void *ud, uint16_t pid)
{
    struct link *l = ud;
    if (l->n_pubacks < MAX_MSGS)
        l->pubacks[l->n_pubacks] = pid;
    l->n_pubacks++;     /* counts on past MAX_MSGS (bulk) */
}

static void on_suback(void *ud, uint16_t pid, const uint8_t *codes, size_t n)
{
    struct link *l = ud;
    l->suback_pid = pid;
    l->suback_n = n < sizeof(l->suback_codes) ? n : sizeof(l->suback_codes);
    memcpy(l->suback_codes, codes, l->suback_n);
}

static void on_unsuback(void *ud, uint16_t pid)
{
    struct link *l = ud;
    l->unsuback_pid = pid;
}

static void on_publish(void *ud, const struct mqtt_publish *p)
{
    struct link *l = ud;
    if (p->topic.len == 6 && !memcmp(p->topic.p, "s/bulk", 6)) {
        l->n_bulk++;
        if (p->qos == 1)
            CHECK(upstream_puback(l->u, p->packet_id) == 0);
        return;
    }
    if (l->n_msgs < MAX_MSGS) {
        struct msg *m = &l->msgs[l->n_msgs++];
        snprintf(m->topic, sizeof(m->topic), "%.*s", (int)p->topic.len, (const char *)p->topic.p);
        snprintf(m->payload, sizeof(m->payload), "%.*s", (int)p->payload.len,
                 (const char *)p->payload.p);
        m->qos = p->qos;
        m->pid = p->packet_id;
    }
    if (l->close_in_publish) {
        /* The owner may end the link from inside its own callback. */
        upstream_close(l->u, false);
        l->u = NULL;
        return;
    }
    if (p->qos == 1 && l->auto_ack)
        CHECK(upstream_puback(l->u, p->packet_id) == 0);
}

static void on_closed(void *ud, int err)
{
    struct link *l = ud;
    l->closed++;
    l->close_err = err;
    l->u = NULL;
}

static const struct upstream_callbacks cbs = {
    .on_connack = on_connack,
    .on_puback = on_puback,
    .on_suback = on_suback,
    .on_unsuback = on_unsuback,
    .on_publish = on_publish,
    .on_closed = on_closed,
};

static struct lws_context *ctx;
static struct fake *active_fake;
static lws_sorted_usec_list_t poke;

/* Keeps lws_service from sleeping long: lws 4.1 ignores its timeout
 * argument and sleeps until the next timer or socket event. */
static void poke_cb(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(ctx, 0, sul, poke_cb, 20 * LWS_US_PER_MS);
}

static void service(void)
{
    lws_service(ctx, 50);
    fake_poll(active_fake);
}

#define WAIT_UNTIL(cond, ms)                                                                       \
    do {                                                                                           \
        int64_t end_ = time_now_mono_ms() + (ms);                                                  \
        while (!(cond) && time_now_mono_ms() < end_)                                               \
            service();                                                                             \
    } while (0)

static void run_for(int ms)
{
    int64_t end = time_now_mono_ms() + ms;
    while (time_now_mono_ms() < end)
        service();
}

static struct upstream_params params(const char *cid, int port)
{
    struct upstream_params p = {
        .host = "127.0.0.1",
        .port = port,
        .client_id = cid,
        .keepalive = 30,
        .clean_session = true,
        .max_packet = 4096,
        .max_inflight = 4,
        .connect_timeout_ms = 3000,
    };
    return p;
}

static void open_link(struct lws_vhost *vh, struct link *l, const struct upstream_params *p)
{
    memset(l, 0, sizeof(*l));
    l->name = p->client_id;
    l->auto_ack = true;
    CHECK(upstream_open(vh, p, &cbs, l, &l->u) == 0);
    CHECK(l->u);
}

static void open_connected(struct lws_vhost *vh, struct link *l, const struct upstream_params *p)
{
    open_link(vh, l, p);
    WAIT_UNTIL(l->connacks || l->closed, 5000);
    CHECK(l->connacks == 1 && l->rc == 0 && !l->closed);
    CHECK(upstream_is_connected(l->u));
}

static bool has_msg(const struct link *l, const char *topic, const char *payload)
{
    for (size_t i = 0; i < l->n_msgs; i++)
        if (!strcmp(l->msgs[i].topic, topic) && (!payload || !strcmp(l->msgs[i].payload, payload)))
            return true;
    return false;
}

static const struct msg *find_msg(const struct link *l, const char *topic)
{
    for (size_t i = 0; i < l->n_msgs; i++)
        if (!strcmp(l->msgs[i].topic, topic))
            return &l->msgs[i];
    return NULL;
}

static bool has_puback(const struct link *l, uint16_t pid)
{
    for (size_t i = 0; i < l->n_pubacks && i < MAX_MSGS; i++)
        if (l->pubacks[i] == pid)
            return true;
    return false;
}

static int pub(struct link *l, const char *topic, const char *payload, uint8_t qos, uint16_t *pid)
{
    return upstream_publish(l->u, topic, strlen(topic), payload, strlen(payload), qos, false, pid);
}

static struct mqtt_topic_qos tq(const char *filter, uint8_t qos)
{
    struct mqtt_topic_qos t = { { (const uint8_t *)filter, strlen(filter) }, qos };
    return t;
}

/* ---- scenarios against the fake broker ---- */

static void fake_case(struct lws_vhost *vh, const char *name, const uint8_t *script, size_t len,
                      uint16_t keepalive, int expect_err)
{
    struct fake f;
    struct link l;
    fake_start(&f, script, len);
    active_fake = &f;
    struct upstream_params p = params(name, f.port);
    p.keepalive = keepalive;
    p.connect_timeout_ms = 1500;
    open_link(vh, &l, &p);
    WAIT_UNTIL(l.closed, 6000);
    if (!l.closed || l.close_err != expect_err)
        fprintf(stderr, "%s: closed=%d err=%d (want %d)\n", name, l.closed, l.close_err, expect_err);
    CHECK(l.closed == 1 && l.close_err == expect_err);
    active_fake = NULL;
    fake_stop(&f);
}

static void fake_scenarios(struct lws_vhost *vh)
{
    /* CONNACK 0 then a type-15 packet: malformed. */
    static const uint8_t bad_type[] = { 0x20, 0x02, 0x00, 0x00, 0xf0, 0x00 };
    fake_case(vh, "fake-bad-type", bad_type, sizeof(bad_type), 30, MQTT_E_BAD_TYPE);

    /* CONNACK 0, PUBACK for an id never used (ignored), PINGRESP, then a
     * QoS 2 PUBLISH "a/b" id 7: protocol error. */
    static const uint8_t qos2[] = { 0x20, 0x02, 0x00, 0x00, 0x40, 0x02, 0x00, 0x4d, 0xd0, 0x00,
                                    0x34, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07 };
    fake_case(vh, "fake-qos2", qos2, sizeof(qos2), 30, -EPROTO);

    /* A packet before CONNACK. */
    static const uint8_t early[] = { 0xd0, 0x00 };
    fake_case(vh, "fake-early", early, sizeof(early), 30, -EPROTO);

    /* CONNACK 5 (not authorized): on_connack(5) then on_closed(-ECONNREFUSED). */
    static const uint8_t refused[] = { 0x20, 0x02, 0x00, 0x05 };
    fake_case(vh, "fake-refused", refused, sizeof(refused), 30, -ECONNREFUSED);

    /* A PUBLISH longer than max_packet (4096). */
    static const uint8_t big[] = { 0x20, 0x02, 0x00, 0x00, 0x30, 0xff, 0xff, 0x03 };
    fake_case(vh, "fake-big", big, sizeof(big), 30, MQTT_E_PACKET_TOO_LARGE);

    /* No CONNACK at all: the connect deadline (1.5 s). */
    fake_case(vh, "fake-silent", NULL, 0, 30, -ETIMEDOUT);

    /* CONNACK, then silence with keepalive 1: PINGREQ after ~1 s, no answer,
     * dead ~0.5 s later. Check the PINGREQ went out. */
    {
        static const uint8_t ack[] = { 0x20, 0x02, 0x00, 0x00 };
        struct fake f;
        struct link l;
        fake_start(&f, ack, sizeof(ack));
        active_fake = &f;
        struct upstream_params p = params("fake-keepalive", f.port);
        p.keepalive = 1;
        open_link(vh, &l, &p);
        WAIT_UNTIL(l.closed, 5000);
        CHECK(l.connacks == 1 && l.closed == 1 && l.close_err == -ETIMEDOUT);
        bool ping = false;
        for (size_t i = 0; i + 1 < f.rx_len; i++)
            if (f.rx[i] == 0xc0 && f.rx[i + 1] == 0x00)
                ping = true;
        CHECK(ping);
        active_fake = NULL;
        fake_stop(&f);
    }

    /* Fragmented delivery: CONNACK and a QoS 1 PUBLISH arriving one byte
     * at a time through the input buffer. */
    {
        static const uint8_t script[] = { 0x20, 0x02, 0x00, 0x00, 0x32, 0x0a, 0x00, 0x03, 'x', '/',
                                          'y', 0x00, 0x09, 'h', 'e', 'y' };
        struct fake f;
        struct link l;
        fake_start(&f, NULL, 0);
        active_fake = &f;
        struct upstream_params p = params("fake-fragments", f.port);
        open_link(vh, &l, &p);
        WAIT_UNTIL(f.cfd >= 0 && f.rx_len >= 14, 3000);
        CHECK(f.cfd >= 0);
        for (size_t i = 0; i < sizeof(script); i++) {
            CHECK(write(f.cfd, script + i, 1) == 1);
            run_for(5);
        }
        WAIT_UNTIL(l.n_msgs == 1, 3000);
        CHECK(l.connacks == 1 && l.n_msgs == 1 && !strcmp(l.msgs[0].topic, "x/y") &&
              !strcmp(l.msgs[0].payload, "hey") && l.msgs[0].qos == 1 && l.msgs[0].pid == 9);
        /* Our PUBACK for id 9 reaches the broker. */
        WAIT_UNTIL(f.rx_len >= 4 && f.rx[f.rx_len - 4] == 0x40, 3000);
        CHECK(f.rx_len >= 4 && f.rx[f.rx_len - 4] == 0x40 && f.rx[f.rx_len - 3] == 0x02 &&
              f.rx[f.rx_len - 2] == 0x00 && f.rx[f.rx_len - 1] == 0x09);
        /* The broker goes away: -ECONNRESET. */
        close(f.cfd);
        f.cfd = -1;
        WAIT_UNTIL(l.closed, 3000);
        CHECK(l.closed == 1 && l.close_err == -ECONNRESET);
        active_fake = NULL;
        fake_stop(&f);
    }
}

int main(void)
{
    if (access(MOSQUITTO, X_OK) != 0) {
        fprintf(stderr, "no %s: skipping\n", MOSQUITTO);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getenv("UPSTREAM_TEST_DEBUG"))
        log_set_level(LOG_LVL_DEBUG);
    /* Each step needs the link state the one before left: stop at the
     * first failure. */
    tu_set_fatal(true);
    CHECK(tu_mkdtemp(tmpdir, sizeof(tmpdir), "test-upstream") == 0);
    snprintf(broker_log, sizeof(broker_log), "%s/mosquitto.log", tmpdir);
    snprintf(broker_conf, sizeof(broker_conf), "%s/mosquitto.conf", tmpdir);
    atexit(cleanup);

    int port = start_broker();

    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    ctx = lws_create_context(&ci);
    CHECK(ctx);
    lws_sul_schedule(ctx, 0, &poke, poke_cb, 20 * LWS_US_PER_MS);

    /* A vhost built by hand the way the daemon may build it ... */
    static struct lws_protocols prots[2];
    prots[0] = *upstream_lws_protocol();
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof(vi));
    vi.port = CONTEXT_PORT_NO_LISTEN;
    vi.vhost_name = "upstream-test";
    vi.protocols = prots;
    vi.user = ctx;
    struct lws_vhost *vh = lws_create_vhost(ctx, &vi);
    CHECK(vh);
    /* ... and the helper's. */
    struct lws_vhost *vh2 = NULL;
    CHECK(upstream_vhost_create(ctx, &vh2) == 0 && vh2);

    /* Bad parameters are refused synchronously, without on_closed. */
    {
        struct upstream *x = NULL;
        struct upstream_params p = params("bad", 0);
        CHECK(upstream_open(vh, &p, &cbs, NULL, &x) == -EINVAL && !x);
        p = params("bad", port);
        p.max_inflight = UPSTREAM_MAX_INFLIGHT_LIMIT + 1;
        CHECK(upstream_open(vh, &p, &cbs, NULL, &x) == -EINVAL && !x);
    }
    upstream_close(NULL, true);

    struct link a, b;
    struct upstream_params pa = params("test-a", port);
    open_link(vh, &a, &pa);
    /* Nothing can be published before CONNACK. */
    CHECK(pub(&a, "t/early", "x", 0, NULL) == -ENOTCONN);
    WAIT_UNTIL(a.connacks || a.closed, 5000);
    CHECK(a.connacks == 1 && a.rc == 0 && upstream_is_connected(a.u));
    struct upstream_params pb = params("test-b", port);
    open_connected(vh2, &b, &pb);

    /* B subscribes to t/# and will/# at QoS 1 (a QoS 2 request is asked as 1). */
    struct mqtt_topic_qos subs[2] = { tq("t/#", 1), tq("will/#", 2) };
    uint16_t spid = 0;
    CHECK(upstream_subscribe(b.u, subs, 2, &spid) == 0 && spid != 0);
    struct mqtt_topic_qos badf = tq("a/#/b", 0);
    CHECK(upstream_subscribe(b.u, &badf, 1, NULL) == -EINVAL);
    WAIT_UNTIL(b.suback_pid == spid, 3000);
    CHECK(b.suback_pid == spid && b.suback_n == 2 && b.suback_codes[0] == 1 &&
          b.suback_codes[1] == 1);

    /* A publishes QoS 0 and QoS 1; B receives both; A gets the PUBACK. */
    uint16_t pid0 = 123, pid1 = 0;
    CHECK(pub(&a, "t/zero", "hello0", 0, &pid0) == 0 && pid0 == 0);
    CHECK(pub(&a, "t/one", "hello1", 1, &pid1) == 0 && pid1 != 0);
    CHECK(pub(&a, "t/+", "x", 0, NULL) == -EINVAL);
    CHECK(pub(&a, "t/two", "x", 2, NULL) == -EINVAL);
    WAIT_UNTIL(has_puback(&a, pid1) && b.n_msgs >= 2, 3000);
    CHECK(has_puback(&a, pid1));
    const struct msg *m0 = find_msg(&b, "t/zero"), *m1 = find_msg(&b, "t/one");
    CHECK(m0 && !strcmp(m0->payload, "hello0") && m0->qos == 0);
    CHECK(m1 && !strcmp(m1->payload, "hello1") && m1->qos == 1 && m1->pid != 0);

    /* max_inflight (4) QoS 1 publishes before any PUBACK: the 5th is
     * -EAGAIN; ids are distinct; after the acks publishing works again. */
    uint16_t ids[4];
    for (int i = 0; i < 4; i++) {
        char payload[16];
        snprintf(payload, sizeof(payload), "burst%d", i);
        CHECK(pub(&a, "t/burst", payload, 1, &ids[i]) == 0);
        for (int j = 0; j < i; j++)
            CHECK(ids[i] != ids[j]);
    }
    CHECK(pub(&a, "t/burst", "burst4", 1, NULL) == -EAGAIN);
    CHECK(pub(&a, "t/burst", "qos0-still-ok", 0, NULL) == 0);
    WAIT_UNTIL(has_puback(&a, ids[0]) && has_puback(&a, ids[1]) && has_puback(&a, ids[2]) &&
                   has_puback(&a, ids[3]),
               3000);
    for (int i = 0; i < 4; i++)
        CHECK(has_puback(&a, ids[i]));
    uint16_t again = 0;
    CHECK(pub(&a, "t/burst", "burst5", 1, &again) == 0 && again != 0);
    WAIT_UNTIL(has_puback(&a, again) && has_msg(&b, "t/burst", "burst5"), 3000);
    CHECK(has_msg(&b, "t/burst", "burst0") && has_msg(&b, "t/burst", "burst3") &&
          has_msg(&b, "t/burst", "qos0-still-ok") && has_msg(&b, "t/burst", "burst5"));

    /* B acks late: the owner decides when. */
    b.auto_ack = false;
    size_t before = b.n_msgs;
    CHECK(pub(&a, "t/late", "late", 1, NULL) == 0);
    WAIT_UNTIL(b.n_msgs > before, 3000);
    const struct msg *ml = find_msg(&b, "t/late");
    CHECK(ml && ml->qos == 1);
    CHECK(upstream_puback(b.u, ml->pid) == 0);
    CHECK(upstream_puback(b.u, 0) == -EINVAL);
    b.auto_ack = true;

    /* A link closing itself from inside on_publish: no on_closed, no crash. */
    struct link g;
    struct upstream_params pg = params("test-g", port);
    open_connected(vh, &g, &pg);
    struct mqtt_topic_qos gs = tq("t/g", 1);
    CHECK(upstream_subscribe(g.u, &gs, 1, NULL) == 0);
    WAIT_UNTIL(g.suback_n == 1, 3000);
    g.close_in_publish = true;
    CHECK(pub(&a, "t/g", "bye", 1, NULL) == 0);
    WAIT_UNTIL(g.n_msgs == 1, 3000);
    CHECK(g.n_msgs == 1 && !g.u);
    run_for(100);
    CHECK(g.closed == 0);

    /* Keepalive 1 s against a live broker: PINGREQs are answered and the
     * idle link stays up for several keepalive periods. */
    struct link k;
    struct upstream_params pk = params("test-k", port);
    pk.keepalive = 1;
    open_connected(vh, &k, &pk);
    run_for(3500);
    CHECK(k.closed == 0 && upstream_is_connected(k.u));
    upstream_close(k.u, true);

    /* Will: C closes without DISCONNECT, the broker publishes its Will. */
    static const char will_c[] = "gone-c", will_d[] = "gone-d";
    struct mqtt_publish wc = { .qos = 1, .topic = { (const uint8_t *)"will/c", 6 },
                               .payload = { (const uint8_t *)will_c, sizeof(will_c) - 1 } };
    struct mqtt_publish wd = { .qos = 1, .topic = { (const uint8_t *)"will/d", 6 },
                               .payload = { (const uint8_t *)will_d, sizeof(will_d) - 1 } };
    struct link c, d;
    struct upstream_params pc = params("test-c", port);
    pc.will = &wc;
    pc.username = "someone";
    pc.password = "not-logged";
    open_connected(vh, &c, &pc);
    struct upstream_params pd = params("test-d", port);
    pd.will = &wd;
    open_connected(vh, &d, &pd);

    upstream_close(c.u, false);
    WAIT_UNTIL(has_msg(&b, "will/c", "gone-c"), 3000);
    CHECK(has_msg(&b, "will/c", "gone-c"));
    CHECK(find_msg(&b, "will/c")->qos == 1);

    /* D closes with DISCONNECT after queueing a publish: the publish goes
     * out, the Will does not. */
    CHECK(pub(&d, "t/from-d", "last-words", 1, NULL) == 0);
    upstream_close(d.u, true);
    CHECK(pub(&a, "t/marker", "m", 1, NULL) == 0);
    WAIT_UNTIL(has_msg(&b, "t/marker", "m") && has_msg(&b, "t/from-d", "last-words"), 3000);
    CHECK(has_msg(&b, "t/from-d", "last-words"));
    run_for(1000);
    CHECK(!has_msg(&b, "will/d", NULL));
    CHECK(c.closed == 0 && d.closed == 0);

    /* Unsubscribe: t/# no longer delivered. */
    struct mqtt_topic_qos us = tq("t/#", 0);
    uint16_t upid = 0;
    CHECK(upstream_unsubscribe(b.u, &us, 1, &upid) == 0 && upid != 0);
    WAIT_UNTIL(b.unsuback_pid == upid, 3000);
    CHECK(b.unsuback_pid == upid);
    before = b.n_msgs;
    CHECK(pub(&a, "t/after-unsub", "x", 1, NULL) == 0);
    run_for(300);
    CHECK(!has_msg(&b, "t/after-unsub", NULL));

    /* Bulk: 600 QoS 1 publishes of 1 KiB through a 64 KiB output queue.
     * The queue fills (-EAGAIN), drains through chunked writes, and every
     * accepted message arrives (QoS 1 so Mosquitto never drops one). */
    {
        struct link s_, *sl = &s_;
        struct upstream_params ps = params("test-bulk", port);
        ps.max_inflight = 1000;
        ps.max_output = 65536;
        open_connected(vh, sl, &ps);
        struct mqtt_topic_qos bs = tq("s/#", 1);
        CHECK(upstream_subscribe(b.u, &bs, 1, NULL) == 0);
        WAIT_UNTIL(b.suback_n == 1 && b.suback_pid != spid, 3000);
        static char big[70000];
        memset(big, 'x', sizeof(big));
        CHECK(upstream_publish(sl->u, "s/bulk", 6, big, sizeof(big), 1, false, NULL) == -EMSGSIZE);
        int sent = 0, eagain = 0;
        int64_t end = time_now_mono_ms() + 10000;
        while (sent < 600 && time_now_mono_ms() < end) {
            int r = upstream_publish(sl->u, "s/bulk", 6, big, 1024, 1, false, NULL);
            if (r == 0) {
                sent++;
                continue;
            }
            CHECK(r == -EAGAIN);
            eagain++;
            service();
        }
        CHECK(sent == 600 && eagain > 0);
        WAIT_UNTIL(b.n_bulk == 600 && sl->n_pubacks == 600, 10000);
        if (b.n_bulk != 600 || sl->n_pubacks != 600)
            fprintf(stderr, "bulk: delivered %zu acked %zu\n", b.n_bulk, sl->n_pubacks);
        CHECK(b.n_bulk == 600);
        upstream_close(sl->u, true);
    }

    /* A closed port: upstream_open succeeds, on_closed reports the error. */
    struct link f;
    struct upstream_params pf = params("test-f", free_port());
    open_link(vh, &f, &pf);
    WAIT_UNTIL(f.closed, 3000);
    CHECK(f.closed == 1 && f.close_err == -ECONNREFUSED && f.connacks == 0);

    /* A failure lws finds inside lws_client_connect_via_info (connect() on
     * a missing unix socket path fails at once; lws reads "+path" as one):
     * still reported through on_closed, after upstream_open returned 0. */
    struct link f2;
    struct upstream_params pf2 = params("test-f2", 1);
    pf2.host = "+/nonexistent/iotcored-upstream-test.sock";
    open_link(vh, &f2, &pf2);
    CHECK(f2.closed == 0);
    WAIT_UNTIL(f2.closed, 3000);
    CHECK(f2.closed == 1 && f2.close_err == -ECONNREFUSED && f2.connacks == 0);

    /* Closing a link that is still connecting. */
    struct link h;
    struct upstream_params ph = params("test-h", port);
    open_link(vh, &h, &ph);
    upstream_close(h.u, true);
    run_for(200);
    CHECK(h.closed == 0);

    fake_scenarios(vh);

    /* The broker goes away: A and B learn it through on_closed. */
    stop_broker();
    WAIT_UNTIL(a.closed && b.closed, 5000);
    CHECK(a.closed == 1 && a.close_err == -ECONNRESET);
    CHECK(b.closed == 1 && b.close_err == -ECONNRESET);
    CHECK(pub(&a, "t/x", "x", 0, NULL) == -ENOTCONN);   /* a.u is NULL now */

    lws_sul_cancel(&poke);
    lws_context_destroy(ctx);
    return tu_finish("test_upstream");
}
