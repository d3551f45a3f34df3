/* AWS IoT's HTTPS publish, the pure half; see devhttp_aws.h. */
#include "bridges/http/devhttp_aws.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/codec.h"

int devhttp_aws_route(const char *path, size_t len, const char **ret_topic, size_t *ret_len)
{
    size_t pl = sizeof(DEVHTTP_AWS_ROUTE) - 1;

    if (len < pl || memcmp(path, DEVHTTP_AWS_ROUTE, pl) != 0)
        return -ENOENT;
    *ret_topic = path + pl;
    *ret_len = len - pl;
    return 0;
}

void devhttp_aws_err_set(struct devhttp_err *err, int http, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->http = http;
    switch (http) {
    case 400: err->status = DEVHTTP_G_INVALID_ARGUMENT; break;
    case 401: err->status = DEVHTTP_G_UNAUTHENTICATED; break;
    case 403: err->status = DEVHTTP_G_PERMISSION_DENIED; break;
    case 404: err->status = DEVHTTP_G_NOT_FOUND; break;
    case 413: err->status = DEVHTTP_G_INVALID_ARGUMENT; break;
    case 429: err->status = DEVHTTP_G_RESOURCE_EXHAUSTED; break;
    case 503: err->status = DEVHTTP_G_UNAVAILABLE; break;
    case 504: err->status = DEVHTTP_G_DEADLINE_EXCEEDED; break;
    default: err->status = DEVHTTP_G_INTERNAL; break;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* "name=value" split at the first '='; a bare name has an empty value. */
static void split_arg(const char *arg, size_t len, const char **name, size_t *nl, const char **val,
                      size_t *vl)
{
    const char *eq = memchr(arg, '=', len);

    *name = arg;
    *nl = eq ? (size_t)(eq - arg) : len;
    *val = eq ? eq + 1 : arg + len;
    *vl = eq ? len - *nl - 1 : 0;
}

static bool is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static bool is_ci(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && strncasecmp(s, lit, len) == 0;
}

int devhttp_aws_query_add(struct devhttp_aws_query *q, const char *arg, size_t len,
                          struct devhttp_err *err)
{
    const char *name, *val;
    size_t nl, vl;

    split_arg(arg, len, &name, &nl, &val, &vl);
    if (is(name, nl, "qos")) {
        /* The model's range is 0..1: AWS has no QoS 2. */
        int v = is(val, vl, "0") ? 0 : is(val, vl, "1") ? 1 : -1;
        if (v < 0 || (q->have_qos && q->qos != v)) {
            devhttp_aws_err_set(err, 400, "Invalid qos: expected 0 or 1");
            return -EBADMSG;
        }
        q->qos = (uint8_t)v;
        q->have_qos = true;
        return 0;
    }
    if (is(name, nl, "retain")) {
        int v = is_ci(val, vl, "true") ? 1 : is_ci(val, vl, "false") ? 0 : -1;
        if (v < 0 || (q->have_retain && q->retain != (v == 1))) {
            devhttp_aws_err_set(err, 400, "Invalid retain: expected true or false");
            return -EBADMSG;
        }
        q->retain = v == 1;
        q->have_retain = true;
        return 0;
    }
    return 0;
}

int devhttp_aws_topic_check(const char *topic, size_t len, struct devhttp_err *err)
{
    const uint8_t *t = (const uint8_t *)topic;

    if (len == 0) {
        devhttp_aws_err_set(err, 400, "Invalid topic: the topic name is empty");
        return -EBADMSG;
    }
    /* Reserved topics are refused before anything else about them. */
    if (t[0] == '$') {
        devhttp_aws_err_set(err, 403, "Forbidden");
        return -EACCES;
    }
    if (mqtt_utf8_check(t, len) != 0) {
        devhttp_aws_err_set(err, 400, "Invalid topic: not UTF-8, or holds a NUL character");
        return -EBADMSG;
    }
    if (memchr(t, '+', len) || memchr(t, '#', len)) {
        devhttp_aws_err_set(err, 400, "Invalid topic: a topic name cannot contain wildcards");
        return -EBADMSG;
    }
    if (aws_topic_check(t, len, false) < 0) {
        devhttp_aws_err_set(err, 400,
                            "Invalid topic: at most %d bytes and %d forward slashes are allowed",
                            AWS_MAX_TOPIC, AWS_MAX_SLASHES);
        return -EMSGSIZE;
    }
    return 0;
}

void devhttp_aws_auth_refusal(enum reg_auth_reason r, struct devhttp_err *err)
{
    if (r == REG_AUTH_STORE_ERROR)
        devhttp_aws_err_set(err, 503, "Service Unavailable");
    else
        devhttp_aws_err_set(err, 403, "Forbidden");
}

void devhttp_aws_trace_id(const uint8_t rnd[16], char out[DEVHTTP_AWS_TRACE_ID_LEN + 1])
{
    uint8_t b[16];

    memcpy(b, rnd, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);     /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);     /* RFC 4122 variant */
    snprintf(out, DEVHTTP_AWS_TRACE_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int devhttp_aws_body(const char *message, const char *trace_id, char **ret, size_t *ret_len)
{
    char safe[512];
    json_t *msg, *root;
    char *s;

    /* A message cut by vsnprintf can end inside a UTF-8 sequence, which
     * jansson refuses. */
    msg = json_string(message);
    if (!msg) {
        size_t i = 0;
        for (; message[i] && i + 1 < sizeof(safe); i++)
            safe[i] = (unsigned char)message[i] < 0x80 ? message[i] : '?';
        safe[i] = '\0';
        msg = json_string(safe);
    }
    root = json_pack("{s:o*,s:s}", "message", msg, "traceId", trace_id);
    if (!root)
        return -ENOMEM;
    s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return -ENOMEM;
    *ret = s;
    *ret_len = strlen(s);
    return 0;
}
