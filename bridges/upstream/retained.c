/* Reading the broker's retained messages with a short-lived session; see
 * retained.h. */
#include "bridges/upstream/retained.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bridges/upstream/upstream.h"
#include "common/log.h"

struct retained_read {
    struct lws_context *ctx;
    struct upstream *up;
    char client_id[64];
    char marker[96];
    char *filter;
    size_t max_msgs, max_bytes, bytes;
    struct retained_msg *msgs;
    size_t n, cap;
    retained_done_fn done;
    void *ud;
    int err;                    /* the outcome, once known */
    bool finished;
    lws_sorted_usec_list_t timeout_sul;
    lws_sorted_usec_list_t finish_sul;
};

static void free_msgs(struct retained_read *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->msgs[i].topic);
        free(r->msgs[i].payload);
    }
    free(r->msgs);
    r->msgs = NULL;
    r->n = r->cap = 0;
}

static void destroy(struct retained_read *r)
{
    lws_sul_cancel(&r->timeout_sul);
    lws_sul_cancel(&r->finish_sul);
    upstream_close(r->up, true);
    free_msgs(r);
    free(r->filter);
    free(r);
}

/* done runs from a timer, never inside an upstream callback (the owner
 * may cancel or start reads from it). */
static void on_finish(lws_sorted_usec_list_t *sul)
{
    struct retained_read *r = lws_container_of(sul, struct retained_read, finish_sul);
    retained_done_fn done = r->done;
    r->done = NULL;
    if (done)
        done(r->ud, r->err, r->err == 0 ? r->msgs : NULL, r->err == 0 ? r->n : 0);
    destroy(r);
}

static void finish(struct retained_read *r, int err)
{
    if (r->finished)
        return;
    r->finished = true;
    r->err = err;
    lws_sul_schedule(r->ctx, 0, &r->finish_sul, on_finish, 1);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
    finish(lws_container_of(sul, struct retained_read, timeout_sul), -ETIMEDOUT);
}

static void on_connack(void *ud, uint8_t rc, bool sp)
{
    struct retained_read *r = ud;
    struct mqtt_topic_qos f[2] = {
        /* QoS 1, so a retained QoS 1 message arrives as QoS 1. */
        { .filter = { (const uint8_t *)r->filter, strlen(r->filter) }, .qos = 1 },
        { .filter = { (const uint8_t *)r->marker, strlen(r->marker) }, .qos = 0 },
    };
    uint16_t pid;
    (void)sp;
    if (rc != 0)
        return;     /* on_closed follows */
    if (upstream_subscribe(r->up, f, 2, &pid) < 0)
        finish(r, -EIO);
}

static void on_suback(void *ud, uint16_t pid, const uint8_t *codes, size_t n)
{
    struct retained_read *r = ud;
    (void)pid;
    if (n != 2 || codes[0] == MQTT_SUBACK_FAILURE || codes[1] == MQTT_SUBACK_FAILURE) {
        finish(r, -EACCES);
        return;
    }
    if (upstream_publish(r->up, r->marker, strlen(r->marker), "", 0, 0, false, NULL) < 0)
        finish(r, -EIO);
}

static void on_publish(void *ud, const struct mqtt_publish *p)
{
    struct retained_read *r = ud;

    if (p->qos == 1)
        upstream_puback(r->up, p->packet_id);
    if (r->finished)
        return;
    if (p->topic.len == strlen(r->marker) && memcmp(p->topic.p, r->marker, p->topic.len) == 0) {
        finish(r, 0);
        return;
    }
    if (!p->retain)
        return;     /* live traffic, not a retained message */
    if (r->n >= r->max_msgs || r->bytes + p->payload.len > r->max_bytes) {
        finish(r, -E2BIG);
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct retained_msg *m = realloc(r->msgs, cap * sizeof(*m));
        if (!m) {
            finish(r, -ENOMEM);
            return;
        }
        r->msgs = m;
        r->cap = cap;
    }
    struct retained_msg *m = &r->msgs[r->n];
    m->topic = strndup((const char *)p->topic.p, p->topic.len);
    m->payload = malloc(p->payload.len ? p->payload.len : 1);
    if (!m->topic || !m->payload) {
        free(m->topic);
        free(m->payload);
        finish(r, -ENOMEM);
        return;
    }
    memcpy(m->payload, p->payload.p, p->payload.len);
    m->len = p->payload.len;
    m->qos = p->qos;
    r->bytes += p->payload.len;
    r->n++;
}

static void on_puback(void *ud, uint16_t pid) { (void)ud; (void)pid; }
static void on_unsuback(void *ud, uint16_t pid) { (void)ud; (void)pid; }

static void on_closed(void *ud, int err)
{
    struct retained_read *r = ud;
    r->up = NULL;       /* the link frees itself */
    finish(r, err < 0 ? err : -ECONNRESET);
}

static const struct upstream_callbacks callbacks = {
    .on_connack = on_connack,
    .on_puback = on_puback,
    .on_suback = on_suback,
    .on_unsuback = on_unsuback,
    .on_publish = on_publish,
    .on_closed = on_closed,
};

int retained_read(struct lws_vhost *vh, const struct upstream_params *p, const char *filter,
                  size_t max_msgs, size_t max_bytes, int timeout_ms, retained_done_fn done,
                  void *ud, struct retained_read **ret)
{
    uint8_t rnd[12];
    struct retained_read *r;

    if (!vh || !p || !filter || !*filter || !done)
        return -EINVAL;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -EIO;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->ctx = lws_get_vhost_user(vh);
    r->filter = strdup(filter);
    if (!r->ctx || !r->filter) {
        int e = r->ctx ? -ENOMEM : -EINVAL;
        free(r->filter);
        free(r);
        return e;
    }
    char hex[25];
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    snprintf(r->client_id, sizeof(r->client_id), "iotcored-retained-%s", hex);
    /* Under $iotcored/, the daemons' namespace no device reaches. */
    snprintf(r->marker, sizeof(r->marker), "$iotcored/retained-marker/%s", hex);
    r->max_msgs = max_msgs;
    r->max_bytes = max_bytes;
    r->done = done;
    r->ud = ud;
    struct upstream_params up = *p;
    up.client_id = r->client_id;
    up.clean_session = true;
    up.will = NULL;
    up.session_expiry = 0;
    int e = upstream_open(vh, &up, &callbacks, r, &r->up);
    if (e < 0) {
        free(r->filter);
        free(r);
        return e;
    }
    lws_sul_schedule(r->ctx, 0, &r->timeout_sul, on_timeout, (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    *ret = r;
    return 0;
}

void retained_cancel(struct retained_read *r)
{
    if (!r)
        return;
    r->done = NULL;
    if (!r->finished) {
        r->finished = true;
        destroy(r);
    }
    /* else on_finish is scheduled and frees it without calling done. */
}
