/* The service link: one upstream session owned by the daemon, reconnecting
 * with backoff, with completions tied to the broker's PUBACKs. */
#include "bridges/upstream/service.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct pending {
    bool used;
    bool ready;               /* completed; done runs from the sul, not inline */
    uint16_t pid;             /* 0 for QoS 0 */
    int err;
    service_done_fn done;
    void *req;
};

struct service_link {
    struct lws_vhost *vh;
    struct lws_context *ctx;
    struct upstream_params p;
    char host[256], client_id[256], username[256], password[256];
    struct upstream *up;
    bool connected;
    int backoff_ms;
    lws_sorted_usec_list_t reconnect_sul;
    lws_sorted_usec_list_t ready_sul;
    struct pending *pend;     /* max_inflight + room for QoS 0 completions */
    size_t n_pend;
    char *filters[SERVICE_MAX_FILTERS];
    size_t n_filters;
    service_message_fn on_message;
    void *message_ud;
};

static void subscribe_now(struct service_link *s)
{
    struct mqtt_topic_qos f[SERVICE_MAX_FILTERS];
    uint16_t pid;

    if (!s->n_filters || !s->connected || !s->up)
        return;
    for (size_t i = 0; i < s->n_filters; i++)
        f[i] = (struct mqtt_topic_qos){
            .filter = { (const uint8_t *)s->filters[i], strlen(s->filters[i]) }, .qos = 1 };
    int r = upstream_subscribe(s->up, f, s->n_filters, &pid);
    if (r < 0)
        log_err("service link: cannot subscribe (%s): backend requests go unserved",
                strerror(-r));
}

static void reconnect(lws_sorted_usec_list_t *sul);

static void on_ready(lws_sorted_usec_list_t *sul)
{
    struct service_link *s = lws_container_of(sul, struct service_link, ready_sul);
    for (size_t i = 0; i < s->n_pend; i++) {
        struct pending *q = &s->pend[i];
        if (q->used && q->ready) {
            service_done_fn done = q->done;
            void *req = q->req;
            int err = q->err;
            memset(q, 0, sizeof(*q));
            if (done)
                done(req, err);
        }
    }
}

static void complete(struct service_link *s, struct pending *q, int err)
{
    q->ready = true;
    q->err = err;
    lws_sul_schedule(s->ctx, 0, &s->ready_sul, on_ready, 1);
}

static void on_connack(void *ud, uint8_t rc, bool sp)
{
    struct service_link *s = ud;
    (void)sp;
    if (rc == 0) {
        s->connected = true;
        s->backoff_ms = BACKOFF_MIN_MS;
        log_info("service link to the broker is up (client id \"%s\")", s->client_id);
        subscribe_now(s);
    }
}

static void on_puback(void *ud, uint16_t pid)
{
    struct service_link *s = ud;
    for (size_t i = 0; i < s->n_pend; i++) {
        struct pending *q = &s->pend[i];
        if (q->used && !q->ready && q->pid == pid) {
            complete(s, q, 0);
            return;
        }
    }
}

static void on_suback(void *ud, uint16_t pid, const uint8_t *codes, size_t n)
{
    struct service_link *s = ud;
    (void)pid;
    for (size_t i = 0; i < n && i < s->n_filters; i++)
        if (codes[i] == MQTT_SUBACK_FAILURE)
            log_err("service link: the broker refused the subscription to \"%s\"", s->filters[i]);
}

static void on_unsuback(void *ud, uint16_t pid)
{
    (void)ud; (void)pid;
}

static void on_publish(void *ud, const struct mqtt_publish *p)
{
    struct service_link *s = ud;
    if (s->on_message)
        s->on_message(s->message_ud, p);
    if (p->qos == 1 && s->up)
        upstream_puback(s->up, p->packet_id);
}

static void on_closed(void *ud, int err)
{
    struct service_link *s = ud;
    if (s->connected)
        log_warn("service link to the broker lost (%s); reconnecting",
                 err < -1000 ? mqtt_err_name(err) : strerror(-err));
    s->up = NULL;
    s->connected = false;
    /* Whatever was not acknowledged may or may not have arrived. */
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].used && !s->pend[i].ready)
            complete(s, &s->pend[i], -ENOTCONN);
    lws_sul_schedule(s->ctx, 0, &s->reconnect_sul, reconnect,
                     (lws_usec_t)s->backoff_ms * LWS_US_PER_MS);
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static const struct upstream_callbacks callbacks = {
    .on_connack = on_connack,
    .on_puback = on_puback,
    .on_suback = on_suback,
    .on_unsuback = on_unsuback,
    .on_publish = on_publish,
    .on_closed = on_closed,
};

static void reconnect(lws_sorted_usec_list_t *sul)
{
    struct service_link *s = lws_container_of(sul, struct service_link, reconnect_sul);
    if (s->up)
        return;
    int r = upstream_open(s->vh, &s->p, &callbacks, s, &s->up);
    if (r < 0) {
        s->up = NULL;
        log_warn("service link: cannot start connecting (%s); retrying", strerror(-r));
        lws_sul_schedule(s->ctx, 0, &s->reconnect_sul, reconnect,
                         (lws_usec_t)s->backoff_ms * LWS_US_PER_MS);
    }
}

int service_link_open(struct lws_vhost *vh, const struct upstream_params *params,
                      struct service_link **ret)
{
    struct service_link *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->vh = vh;
    s->ctx = lws_get_vhost_user(vh);
    if (!s->ctx) {
        free(s);
        return -EINVAL;
    }
    s->p = *params;
    snprintf(s->host, sizeof(s->host), "%s", params->host ? params->host : "");
    snprintf(s->client_id, sizeof(s->client_id), "%s", params->client_id ? params->client_id : "");
    snprintf(s->username, sizeof(s->username), "%s", params->username ? params->username : "");
    snprintf(s->password, sizeof(s->password), "%s", params->password ? params->password : "");
    s->p.host = s->host;
    s->p.client_id = s->client_id;
    s->p.username = s->username;
    s->p.password = s->password;
    s->p.will = NULL;
    s->n_pend = (params->max_inflight ? params->max_inflight : 32) * 2;
    s->pend = calloc(s->n_pend, sizeof(*s->pend));
    if (!s->pend) {
        free(s);
        return -ENOMEM;
    }
    s->backoff_ms = BACKOFF_MIN_MS;
    reconnect(&s->reconnect_sul);
    *ret = s;
    return 0;
}

void service_link_free(struct service_link *s)
{
    if (!s)
        return;
    lws_sul_cancel(&s->reconnect_sul);
    lws_sul_cancel(&s->ready_sul);
    upstream_close(s->up, true);
    for (size_t i = 0; i < s->n_filters; i++)
        free(s->filters[i]);
    explicit_bzero(s->password, sizeof(s->password));
    free(s->pend);
    free(s);
}

bool service_link_up(const struct service_link *s)
{
    return s && s->connected;
}

int service_publish(struct service_link *s, const char *topic, const void *payload, size_t len,
                    uint8_t qos, service_done_fn done, void *req)
{
    return service_publish_props(s, topic, payload, len, qos, NULL, 0, done, req);
}

int service_publish_props(struct service_link *s, const char *topic, const void *payload,
                          size_t len, uint8_t qos, const struct mqtt5_user_prop *props,
                          size_t n_props, service_done_fn done, void *req)
{
    return service_publish_full(s, topic, payload, len, qos, false, props, n_props, done, req);
}

int service_publish_full(struct service_link *s, const char *topic, const void *payload,
                         size_t len, uint8_t qos, bool retain, const struct mqtt5_user_prop *props,
                         size_t n_props, service_done_fn done, void *req)
{
    struct pending *q = NULL;
    if (!s->connected || !s->up)
        return -ENOTCONN;
    for (size_t i = 0; i < s->n_pend && !q; i++)
        if (!s->pend[i].used)
            q = &s->pend[i];
    if (!q)
        return -EAGAIN;
    uint16_t pid = 0;
    int r = upstream_publish_props(s->up, topic, strlen(topic), payload, len, qos, retain, props,
                                   n_props, &pid);
    if (r < 0)
        return r;
    q->used = true;
    q->pid = qos ? pid : 0;
    q->done = done;
    q->req = req;
    if (qos == 0)
        complete(s, q, 0);
    return 0;
}

void service_cancel(struct service_link *s, void *req)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].used && s->pend[i].req == req)
            s->pend[i].done = NULL;   /* the slot stays until its PUBACK */
}

int service_subscribe(struct service_link *s, const char *const *filters, size_t n,
                      service_message_fn fn, void *ud)
{
    char *copy[SERVICE_MAX_FILTERS] = { 0 };

    if (n > SERVICE_MAX_FILTERS)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (strlen(filters[i]) > 1024 || !(copy[i] = strdup(filters[i]))) {
            for (size_t j = 0; j < i; j++)
                free(copy[j]);
            return copy[i] ? -EINVAL : -ENOMEM;
        }
    }
    for (size_t i = 0; i < s->n_filters; i++)
        free(s->filters[i]);
    memcpy(s->filters, copy, sizeof(copy));
    s->n_filters = n;
    s->on_message = fn;
    s->message_ud = ud;
    subscribe_now(s);
    return 0;
}
