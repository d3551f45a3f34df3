/* Admin API requests, replies and error envelopes (see api.h). */
#include "cli/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/http.h"
#include "cli/output.h"

/* Error text from a server is printed, so it is bounded and cleaned. */
#define MESSAGE_MAX 1024

static void clean_copy(char *out, size_t cap, const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 1 < cap; i++)
        out[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    out[n] = '\0';
}

static const char *http_reason(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "HTTP error";
    }
}

/* Prints Google's envelope {"error":{"code","message","status"}} as
 * "STATUS: message"; anything else as "HTTP nnn: <body or reason>". */
static void print_api_error(long status, const struct buf *body)
{
    char msg[MESSAGE_MAX], st[64];
    json_t *root = json_loadb((const char *)body->data, body->len, 0, NULL);
    json_t *err = json_object_get(root, "error");
    const char *m = json_string_value(json_object_get(err, "message"));
    const char *s = json_string_value(json_object_get(err, "status"));

    if (json_is_object(err) && (m || s)) {
        clean_copy(st, sizeof(st), s ? s : "UNKNOWN", strlen(s ? s : "UNKNOWN"));
        clean_copy(msg, sizeof(msg), m ? m : "", strlen(m ? m : ""));
        ctl_error("%s: %s", st, msg);
    } else if (body->len > 0) {
        clean_copy(msg, sizeof(msg), (const char *)body->data, body->len);
        ctl_error("HTTP %ld: %s", status, msg);
    } else {
        ctl_error("HTTP %ld: %s", status, http_reason(status));
    }
    json_decref(root);
}

static int transport_error(const struct ctl *c, int rc)
{
    switch (rc) {
    case -EMSGSIZE:
        ctl_error("the response from %s is larger than %u bytes", ctl_http_endpoint(c->http),
                  CTL_HTTP_MAX_RESPONSE);
        break;
    case -ENOMEM:
        ctl_error("out of memory");
        break;
    case -EIO:
        ctl_error("reading the request body failed: %s", ctl_http_error(c->http));
        break;
    case -EINVAL:
        ctl_error("invalid endpoint URL %s: %s", ctl_http_endpoint(c->http),
                  ctl_http_error(c->http));
        break;
    default:
        ctl_error("cannot reach %s: %s", ctl_http_endpoint(c->http), ctl_http_error(c->http));
        break;
    }
    return rc;
}

static int exchange(struct ctl *c, const char *method, const struct ctl_url *u,
                    const struct ctl_http_body *body, json_t **ret)
{
    struct buf resp;
    json_t *root;
    long status = 0;
    int rc;

    if (u->err) {
        ctl_error("request path too long");
        return u->err;
    }
    buf_init(&resp, CTL_HTTP_MAX_RESPONSE);
    rc = ctl_http_request(c->http, method, u->s, body, &status, &resp);
    if (rc < 0) {
        transport_error(c, rc);
        goto out;
    }
    if (status < 200 || status >= 300) {
        print_api_error(status, &resp);
        rc = CTL_ERR_API;
        goto out;
    }
    if (resp.len == 0) {
        root = json_object();
        if (!root) {
            rc = transport_error(c, -ENOMEM);
            goto out;
        }
    } else {
        root = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        if (!json_is_object(root)) {
            json_decref(root);
            ctl_error("HTTP %ld: the response from %s %s is not a JSON object", status, method,
                      u->s);
            rc = -EBADMSG;
            goto out;
        }
    }
    *ret = root;
    rc = 0;
out:
    buf_free(&resp);
    return rc;
}

int ctl_api_call(struct ctl *c, const char *method, const struct ctl_url *u, const json_t *body,
                 json_t **ret)
{
    struct ctl_http_body b = { .content_type = "application/json" };
    char *text = NULL;
    int rc;

    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
            return transport_error(c, -ENOMEM);
        b.data = text;
        b.len = strlen(text);
    }
    rc = exchange(c, method, u, body ? &b : NULL, ret);
    free(text);
    return rc;
}

int ctl_api_upload(struct ctl *c, const struct ctl_url *u, const char *content_type, FILE *file,
                   long long file_len, json_t **ret)
{
    struct ctl_http_body b = { .content_type = content_type, .file = file, .file_len = file_len };

    return exchange(c, "POST", u, &b, ret);
}

int ctl_api_list(struct ctl *c, const struct ctl_url *u, const char *key, json_t **ret)
{
    struct ctl_url page = *u;
    json_t *all = json_array(), *reply = NULL;
    char token[CTL_URL_MAX] = "";
    int rc;

    if (!all)
        return transport_error(c, -ENOMEM);
    for (;;) {
        const char *next;
        json_t *items;

        rc = ctl_api_call(c, "GET", &page, NULL, &reply);
        if (rc < 0)
            goto fail;
        /* proto3 JSON omits an empty repeated field: no key is no items. */
        items = json_object_get(reply, key);
        if (items && (!json_is_array(items) || json_array_extend(all, items) < 0)) {
            rc = -EBADMSG;
            ctl_error("the list response has a \"%s\" that is not an array", key);
            goto fail;
        }
        next = json_string_value(json_object_get(reply, "nextPageToken"));
        if (!next || !*next)
            break;
        /* A repeated token would loop forever. */
        if (strcmp(next, token) == 0) {
            rc = -EBADMSG;
            ctl_error("the server repeated page token \"%.64s\"", next);
            goto fail;
        }
        if (strlen(next) >= sizeof(token)) {
            rc = -EBADMSG;
            ctl_error("the server sent a page token longer than %zu bytes", sizeof(token) - 1);
            goto fail;
        }
        snprintf(token, sizeof(token), "%s", next);
        page = *u;
        ctl_url_query(&page, "pageToken", token);
        json_decref(reply);
        reply = NULL;
    }
    json_decref(reply);
    *ret = all;
    return 0;
fail:
    json_decref(reply);
    json_decref(all);
    return rc;
}
