/* Device Shadow requests over the store: load, run the engine, store,
 * publish. See reg_aws_shadow.h for what is published when. */
#include "registry/reg_aws_shadow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "db/db_aws.h"

void reg_shadow_reply_clear(struct reg_shadow_reply *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static const char *const op_names[] = {
    [REG_SHADOW_GET] = "get", [REG_SHADOW_UPDATE] = "update", [REG_SHADOW_DELETE] = "delete",
};

int reg_aws_shadow_topic(const uint8_t *topic, size_t len, char thing[AWS_SHADOW_MAX_THING_NAME + 1],
                         char shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1], enum reg_shadow_op *op)
{
    static const char head[] = "$aws/things/";
    const char *t = (const char *)topic, *end = t + len;

    if (len <= sizeof(head) - 1 || memcmp(t, head, sizeof(head) - 1) != 0)
        return -ENOENT;
    t += sizeof(head) - 1;
    /* Split the rest into at most 5 levels: T / shadow [/ name / N] / OP. */
    const char *lv[6];
    size_t ll[6], n = 0;
    while (t <= end && n < 6) {
        const char *slash = memchr(t, '/', (size_t)(end - t));
        const char *stop = slash ? slash : end;
        lv[n] = t;
        ll[n] = (size_t)(stop - t);
        n++;
        t = stop + 1;
        if (!slash)
            break;
    }
    if (t <= end)
        return -ENOENT;     /* more levels than a request has */
#define IS(i, s) (ll[i] == strlen(s) && memcmp(lv[i], s, ll[i]) == 0)
    size_t op_at;
    if (n == 3 && IS(1, "shadow"))
        op_at = 2;
    else if (n == 5 && IS(1, "shadow") && IS(2, "name"))
        op_at = 4;
    else
        return -ENOENT;
    enum reg_shadow_op found = REG_SHADOW_GET;
    bool known = false;
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]) && !known; i++)
        if (IS(op_at, op_names[i])) {
            found = (enum reg_shadow_op)i;
            known = true;
        }
#undef IS
    /* A NUL would cut the name short as a C string: not a name (MQTT
     * forbids it in topics anyway [MQTT-4.7.3-2]). */
    if (!known || ll[0] == 0 || memchr(lv[0], '\0', ll[0]) ||
        (op_at == 4 && (ll[3] == 0 || memchr(lv[3], '\0', ll[3]))))
        return -ENOENT;
    if (ll[0] > AWS_SHADOW_MAX_THING_NAME || (op_at == 4 && ll[3] > AWS_SHADOW_MAX_SHADOW_NAME))
        return -EINVAL;
    memcpy(thing, lv[0], ll[0]);
    thing[ll[0]] = '\0';
    shadow[0] = '\0';
    if (op_at == 4) {
        memcpy(shadow, lv[3], ll[3]);
        shadow[ll[3]] = '\0';
    }
    *op = found;
    return 0;
}

static void publish(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                    const char *suffix, const char *doc)
{
    char topic[AWS_SHADOW_MAX_THING_NAME + AWS_SHADOW_MAX_SHADOW_NAME + 256];
    const char *prefix = c->prefix ? c->prefix : "";

    if (!c->publish || !doc)
        return;
    int n = *shadow ? snprintf(topic, sizeof(topic), "%s$aws/things/%s/shadow/name/%s/%s", prefix,
                               thing, shadow, suffix)
                    : snprintf(topic, sizeof(topic), "%s$aws/things/%s/shadow/%s", prefix, thing,
                               suffix);
    if (n < 0 || (size_t)n >= sizeof(topic)) {
        log_warn("shadow: topic for thing \"%s\" too long; %s not published", thing, suffix);
        return;
    }
    int r = c->publish(c->ud, topic, doc, strlen(doc));
    if (r < 0)
        log_warn("shadow: publishing %s failed (%s): the broker's subscribers miss it", topic,
                 strerror(-r));
}

/* Fills out from a refusal of the engine (or of this file). */
static void reply_reject(struct reg_shadow_reply *out, struct aws_shadow_reject *rej)
{
    out->status = rej->status;
    snprintf(out->message, sizeof(out->message), "%s", rej->message);
    out->body = rej->doc;
    out->len = rej->doc ? strlen(rej->doc) : 0;
    rej->doc = NULL;
}

static int reply_error(struct reg_shadow_reply *out, int status, const char *message,
                       int64_t now_s)
{
    char *doc = NULL;
    if (aws_shadow_error_doc(status, message, NULL, now_s, &doc) < 0)
        return -ENOMEM;
    out->status = status;
    snprintf(out->message, sizeof(out->message), "%s", message);
    out->body = doc;
    out->len = strlen(doc);
    return 0;
}

static int load(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                int64_t now_us, struct aws_shadow **ret)
{
    char *text = NULL;
    size_t len = 0;
    int64_t modified = 0;

    int r = db_aws_shadow_get(c->db, thing, shadow, &text, &len, &modified);
    if (r == -ENOENT)
        return aws_shadow_new(ret);
    if (r < 0) {
        log_err("store: reading shadow \"%s\"/\"%s\" failed: %s", thing, shadow,
                db_last_error(c->db));
        return r == -ENOMEM ? r : -EIO;
    }
    r = aws_shadow_load(text, len, ret);
    free(text);
    if (r == -EBADMSG) {
        log_err("store: shadow \"%s\"/\"%s\" is not a stored shadow form", thing, shadow);
        return -EIO;
    }
    if (r < 0)
        return r;
    /* AWS restarts the numbering of a shadow deleted 48 hours ago. */
    if (!aws_shadow_exists(*ret) && now_us - modified > REG_SHADOW_RESET_AFTER_US) {
        aws_shadow_free(*ret);
        return aws_shadow_new(ret);
    }
    return 0;
}

static int store(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                 const struct aws_shadow *s, int64_t now_us)
{
    char *text = NULL;
    size_t len = 0;

    int r = aws_shadow_dump(s, &text, &len);
    if (r < 0)
        return r;
    r = db_aws_shadow_put(c->db, thing, shadow, text, len, aws_shadow_exists(s), now_us);
    free(text);
    if (r < 0) {
        log_err("store: writing shadow \"%s\"/\"%s\" failed: %s", thing, shadow,
                db_last_error(c->db));
        return r == -ENOMEM ? r : -EIO;
    }
    return 0;
}

static int serve_update(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                        struct aws_shadow *s, const void *payload, size_t len, bool rest,
                        int64_t now_us, struct reg_shadow_reply *out)
{
    struct aws_shadow_update_out up = { 0 };
    struct aws_shadow_reject rej = { 0 };
    int64_t now_s = now_us / 1000000;

    /* The engine changes s only on success; the store write comes after,
     * so a failed write publishes nothing (the caller answers 500). */
    int r = aws_shadow_update(s, payload, len, now_s, &c->opts, &up, &rej);
    if (r == -ENOMEM)
        return r;
    if (r == -EOVERFLOW)
        return reply_error(out, 500, "Internal service failure", now_s);
    if (r < 0) {
        reply_reject(out, &rej);
        if (!rest)
            publish(c, thing, shadow, "update/rejected", out->body);
        return 0;
    }
    r = store(c, thing, shadow, s, now_us);
    if (r < 0) {
        aws_shadow_update_out_clear(&up);
        return r;
    }
    publish(c, thing, shadow, "update/accepted", up.accepted);
    publish(c, thing, shadow, "update/delta", up.delta);
    publish(c, thing, shadow, "update/documents", up.documents);
    out->status = 200;
    out->body = up.accepted;
    out->len = strlen(up.accepted);
    up.accepted = NULL;
    aws_shadow_update_out_clear(&up);
    return 0;
}

int reg_aws_shadow_serve(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                         enum reg_shadow_op op, const void *payload, size_t len, bool rest,
                         int64_t now_us, struct reg_shadow_reply *out)
{
    struct aws_shadow *s = NULL;
    struct aws_shadow_reject rej = { 0 };
    char *doc = NULL;
    int64_t now_s = now_us / 1000000;
    const char *suffix = op == REG_SHADOW_GET ? "get" : op == REG_SHADOW_UPDATE ? "update" : "delete";
    char topic_suffix[32];

    if (!shadow)
        shadow = "";
    if (!aws_shadow_thing_name_ok(thing, strlen(thing)))
        return reply_error(out, 400, "Invalid thing name", now_s);
    if (*shadow && !aws_shadow_name_ok(shadow, strlen(shadow)))
        return reply_error(out, 400, "Invalid shadow name", now_s);
    if (!payload)
        payload = "";
    int r = load(c, thing, shadow, now_us, &s);
    if (r < 0)
        return r;
    /* The 404 text names the shadow; the classic one by its thing. */
    const char *name = *shadow ? shadow : thing;

    switch (op) {
    case REG_SHADOW_UPDATE:
        r = serve_update(c, thing, shadow, s, payload, len, rest, now_us, out);
        aws_shadow_free(s);
        return r;
    case REG_SHADOW_GET:
        r = aws_shadow_get(s, payload, len, name, now_s, &doc, &rej);
        break;
    case REG_SHADOW_DELETE:
        r = aws_shadow_delete(s, payload, len, name, now_s, &doc, &rej);
        if (r == 0) {
            int w = store(c, thing, shadow, s, now_us);
            if (w < 0) {
                free(doc);
                aws_shadow_free(s);
                return w;
            }
        }
        break;
    }
    aws_shadow_free(s);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        reply_reject(out, &rej);
        if (!rest) {
            snprintf(topic_suffix, sizeof(topic_suffix), "%s/rejected", suffix);
            publish(c, thing, shadow, topic_suffix, out->body);
        }
        return 0;
    }
    /* A REST get is the requester's alone; a delete tells every device. */
    if (!rest || op == REG_SHADOW_DELETE) {
        snprintf(topic_suffix, sizeof(topic_suffix), "%s/accepted", suffix);
        publish(c, thing, shadow, topic_suffix, doc);
    }
    out->status = 200;
    out->body = doc;
    out->len = strlen(doc);
    return 0;
}

int reg_aws_shadow_list(struct db *db, const char *thing, const char *after, int limit,
                        int (*cb)(void *ud, const char *name), void *ud)
{
    return db_aws_shadow_list_names(db, thing, after ? after : "", limit, cb, ud);
}
