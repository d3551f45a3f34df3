/* The data plane's retained-message calls [aws-iot-core.md 5.3]:
 * GetRetainedMessage (GET /retainedMessage/TOPIC) and ListRetainedMessages
 * (GET /retainedMessage?maxResults=&nextToken=). The broker keeps the
 * retained messages; the daemon reads them through its retained hook (a
 * short-lived subscription, bridges/upstream/retained.h), so the reply
 * waits for the broker. MQTT keeps no time for a retained message:
 * lastModifiedTime is the time of the read (a documented departure). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "webui/aws_api.h"

#define LIST_MAX_RESULTS 200
/* What one read may collect: a broker holding more under the AWS prefix
 * answers ListRetainedMessages 500 instead of exhausting the daemon. */
#define READ_MAX_MSGS 10000
#define READ_MAX_BYTES (64u * 1024 * 1024)

struct topic_row {
    char *topic;
    size_t size;
    int qos;
};

struct retained_ctx {
    struct api_deferred *deferred;
    void (*cancel)(void *ud, void *req);
    void *ud;
    int64_t now_ms;
    bool list;
    /* get */
    char *topic;
    char *payload;              /* base64 */
    int qos;
    bool found;
    /* list */
    struct topic_row *rows;
    size_t n_rows;
    size_t page;
    char *after;                /* nextToken: the last topic of the previous page */
};

static void ctx_free(void *p)
{
    struct retained_ctx *c = p;
    free(c->topic);
    free(c->payload);
    for (size_t i = 0; i < c->n_rows; i++)
        free(c->rows[i].topic);
    free(c->rows);
    free(c->after);
    free(c);
}

static void ctx_cancel(void *cancel_ud, void *req)
{
    struct retained_ctx *c = cancel_ud;
    (void)req;
    c->cancel(c->ud, c);
}

static int by_topic(const void *a, const void *b)
{
    return strcmp(((const struct topic_row *)a)->topic, ((const struct topic_row *)b)->topic);
}

/* The hook's completion: keep what the reply needs, then finish. */
static void on_read(void *req, int err, const struct api_retained *msgs, size_t n)
{
    struct retained_ctx *c = req;

    if (err == 0 && !c->list) {
        for (size_t i = 0; i < n && !c->found; i++) {
            if (strcmp(msgs[i].topic, c->topic) != 0)
                continue;
            size_t cap = 4 * ((msgs[i].len + 2) / 3) + 1;
            c->payload = malloc(cap);
            if (!c->payload) {
                err = -ENOMEM;
                break;
            }
            EVP_EncodeBlock((unsigned char *)c->payload, msgs[i].payload, (int)msgs[i].len);
            c->qos = msgs[i].qos;
            c->found = true;
        }
    } else if (err == 0) {
        c->rows = calloc(n ? n : 1, sizeof(*c->rows));
        if (!c->rows)
            err = -ENOMEM;
        for (size_t i = 0; err == 0 && i < n; i++) {
            if (msgs[i].topic[0] == '$')
                continue;       /* the daemon's own topics are not the account's */
            struct topic_row *r = &c->rows[c->n_rows];
            r->topic = strdup(msgs[i].topic);
            if (!r->topic) {
                err = -ENOMEM;
                break;
            }
            r->size = msgs[i].len;
            r->qos = msgs[i].qos;
            c->n_rows++;
        }
        if (err == 0)
            qsort(c->rows, c->n_rows, sizeof(*c->rows), by_topic);
    }
    api_deferred_done(c->deferred, err);
}

static void finish(struct api_response *resp, int err, void *p)
{
    struct retained_ctx *c = p;

    if (err == -ETIMEDOUT) {
        api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker did not answer in time");
        return;
    }
    if (err == -E2BIG) {
        api_aws_fail(resp, 500, API_AWS_INTERNAL, "Too many retained messages to list");
        return;
    }
    if (err < 0) {
        api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker link is down");
        return;
    }
    if (!c->list) {
        if (!c->found) {
            api_aws_not_found_msg(resp, "No retained message exists for topic %s", c->topic);
            return;
        }
        api_aws_reply_take(resp, json_pack("{s:s, s:s, s:i, s:I}", "topic", c->topic, "payload",
                                           c->payload, "qos", c->qos, "lastModifiedTime",
                                           (json_int_t)c->now_ms));
        return;
    }
    json_t *arr = json_array();
    size_t i = 0, shown = 0;
    while (i < c->n_rows && c->after && strcmp(c->rows[i].topic, c->after) <= 0)
        i++;
    for (; arr && i < c->n_rows && shown < c->page; i++, shown++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:i, s:I}", "topic", c->rows[i].topic,
                                             "payloadSize", (json_int_t)c->rows[i].size, "qos",
                                             c->rows[i].qos, "lastModifiedTime",
                                             (json_int_t)c->now_ms));
    json_t *j = arr ? json_pack("{s:o}", "retainedTopics", arr) : NULL;
    if (j && i < c->n_rows && shown > 0)
        json_object_set_new(j, "nextToken", json_string(c->rows[i - 1].topic));
    api_aws_reply_take(resp, j);
}

static int start(const struct api_env *env, struct api_response *resp, struct retained_ctx *c,
                 const char *filter)
{
    if (!env->aws_retained || !env->aws_retained_cancel || !env->deferred) {
        ctx_free(c);
        return api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker link is not available");
    }
    c->deferred = env->deferred;
    c->cancel = env->aws_retained_cancel;
    c->ud = env->ud;
    c->now_ms = env->now_us / 1000;
    api_defer(env->deferred, finish, c, ctx_free, ctx_cancel, c);
    int r = env->aws_retained(env->ud, filter, on_read, c);
    if (r < 0) {
        api_defer_abort(env->deferred);     /* frees c */
        return api_aws_fail(resp, 503, API_AWS_UNAVAILABLE, "The broker link is not available");
    }
    return 0;
}

int api_aws_retained_get(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *topic = rt->label[0];
    (void)req;

    if (!*topic || strpbrk(topic, "+#") || strlen(topic) > 256)
        return api_aws_invalid(resp, "Invalid topic name");
    struct retained_ctx *c = calloc(1, sizeof(*c));
    if (!c || !(c->topic = strdup(topic))) {
        free(c);
        return api_aws_oom(resp);
    }
    return start(env, resp, c, topic);
}

int api_aws_retained_list(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *max = api_request_param(req, "maxResults");
    const char *token = api_request_param(req, "nextToken");
    uint64_t page = LIST_MAX_RESULTS;
    (void)rt;

    if (max && (api_parse_u64(max, &page) < 0 || page < 1 || page > LIST_MAX_RESULTS))
        return api_aws_invalid(resp, "maxResults must be between 1 and %d", LIST_MAX_RESULTS);
    struct retained_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return api_aws_oom(resp);
    c->list = true;
    c->page = (size_t)page;
    if (token && *token && !(c->after = strdup(token))) {
        free(c);
        return api_aws_oom(resp);
    }
    return start(env, resp, c, "#");
}
