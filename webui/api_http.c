/* Transport-free pieces of an admin request and response: query lookup,
 * strict number parsing, the Google error envelope (google.rpc.Status over
 * JSON, HTTP code from the canonical mapping) and proto3's base64. */
#include "webui/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"

void api_response_clear(struct api_response *r)
{
    if (!r)
        return;
    if (r->wipe && r->body)
        explicit_bzero(r->body, r->len);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int response_take(struct api_response *r, int status, const char *content_type, char *body,
                         size_t len)
{
    free(r->body);
    r->status = status;
    r->content_type = content_type;
    r->body = body;
    r->len = len;
    return 0;
}

int api_response_text(struct api_response *r, int status, const char *content_type,
                      const char *text, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    return response_take(r, status, content_type, copy, len);
}

int api_response_json(struct api_response *r, int status, const json_t *j)
{
    /* Google's front end pretty-prints with two spaces; clients do not care,
     * people reading curl output do. */
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    size_t len;
    char *body;

    if (!text)
        return -ENOMEM;
    len = strlen(text);
    body = realloc(text, len + 2);
    if (!body) {
        free(text);
        return -ENOMEM;
    }
    body[len++] = '\n';
    body[len] = '\0';
    return response_take(r, status, "application/json", body, len);
}

const char *api_request_param(const struct api_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

int api_parse_u64(const char *s, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return -EINVAL;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

const char *api_method_name(enum api_method m)
{
    switch (m) {
    case API_GET: return "GET";
    case API_POST: return "POST";
    case API_PATCH: return "PATCH";
    case API_PUT: return "PUT";
    case API_DELETE: return "DELETE";
    case API_HEAD: return "HEAD";
    case API_OPTIONS: return "OPTIONS";
    case API_OTHER: break;
    }
    return "OTHER";
}

/* ---- Google envelope ---- */

static const struct {
    const char *name;
    int http;
} gstatus_table[] = {
    [API_G_INVALID_ARGUMENT] = { "INVALID_ARGUMENT", 400 },
    [API_G_FAILED_PRECONDITION] = { "FAILED_PRECONDITION", 400 },
    [API_G_OUT_OF_RANGE] = { "OUT_OF_RANGE", 400 },
    [API_G_UNAUTHENTICATED] = { "UNAUTHENTICATED", 401 },
    [API_G_PERMISSION_DENIED] = { "PERMISSION_DENIED", 403 },
    [API_G_NOT_FOUND] = { "NOT_FOUND", 404 },
    [API_G_ALREADY_EXISTS] = { "ALREADY_EXISTS", 409 },
    [API_G_ABORTED] = { "ABORTED", 409 },
    [API_G_RESOURCE_EXHAUSTED] = { "RESOURCE_EXHAUSTED", 429 },
    [API_G_INTERNAL] = { "INTERNAL", 500 },
    [API_G_UNIMPLEMENTED] = { "UNIMPLEMENTED", 501 },
    [API_G_UNAVAILABLE] = { "UNAVAILABLE", 503 },
    [API_G_DEADLINE_EXCEEDED] = { "DEADLINE_EXCEEDED", 504 },
};

const char *api_gstatus_name(enum api_gstatus s)
{
    if ((size_t)s >= sizeof(gstatus_table) / sizeof(gstatus_table[0]))
        return "INTERNAL";
    return gstatus_table[s].name;
}

int api_gstatus_http(enum api_gstatus s)
{
    if ((size_t)s >= sizeof(gstatus_table) / sizeof(gstatus_table[0]))
        return 500;
    return gstatus_table[s].http;
}

void api_err_set(struct api_err *e, enum api_gstatus s, const char *fmt, ...)
{
    va_list ap;

    e->status = s;
    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (vsnprintf(e->msg, sizeof(e->msg), fmt, ap) < 0)
        e->msg[0] = '\0';
#pragma GCC diagnostic pop
    va_end(ap);
}

static int envelope(struct api_response *r, int http, enum api_gstatus s, const char *msg)
{
    /* Even the error path must answer something: a fixed body when jansson
     * cannot allocate. */
    static const char oom[] =
        "{\"error\":{\"code\":500,\"message\":\"Out of memory.\",\"status\":\"INTERNAL\"}}\n";
    json_t *j = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", http, "message", msg, "status",
                          api_gstatus_name(s));
    int rc = j ? api_response_json(r, http, j) : -ENOMEM;

    json_decref(j);
    if (rc < 0) {
        api_response_clear(r);
        if (api_response_text(r, 500, "application/json", oom, sizeof(oom) - 1) < 0) {
            r->status = 500;
            r->content_type = "application/json";
        }
    }
    return rc;
}

static int envelope_v(struct api_response *r, int http, enum api_gstatus s, const char *fmt,
                      va_list ap)
{
    char msg[1024];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
#pragma GCC diagnostic pop
    return envelope(r, http, s, msg);
}

int api_google_error(struct api_response *r, enum api_gstatus s, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = envelope_v(r, api_gstatus_http(s), s, fmt, ap);
    va_end(ap);
    return rc;
}

int api_google_error_http(struct api_response *r, int http, enum api_gstatus s, const char *fmt,
                          ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = envelope_v(r, http, s, fmt, ap);
    va_end(ap);
    return rc;
}

int api_google_error_from(struct api_response *r, const struct api_err *e)
{
    return envelope(r, api_gstatus_http(e->status), e->status, e->msg);
}

/* ---- base64 (common/b64: proto3 bytes as Google's clients sent them) ---- */

int api_base64_encode(const void *data, size_t len, char **ret)
{
    size_t cap = b64_encoded_len(len) + 1;
    char *out = malloc(cap);

    if (!out)
        return -ENOMEM;
    if (b64_encode(data, len, out, cap) < 0) {
        free(out);
        return -ENOMEM;
    }
    *ret = out;
    return 0;
}

int api_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len)
{
    size_t n = strlen(s), got = 0;
    size_t out_max = b64_decoded_len(s, n);

    if (out_max > max)
        return -EMSGSIZE;
    uint8_t *out = malloc(out_max + 1);
    if (!out)
        return -ENOMEM;
    int r = b64_decode(s, n, out, out_max + 1, &got);
    if (r < 0) {
        free(out);
        /* The API's callers answer -EINVAL as "not valid base64". */
        return r == -EMSGSIZE ? -EMSGSIZE : -EINVAL;
    }
    *ret = out;
    *ret_len = got;
    return 0;
}
