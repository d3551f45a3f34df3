/* The admin HTTP server's transport glue (with admin_aws.c, the only
 * webui files that see libwebsockets): it collects one request per
 * transaction (method, decoded path, query, body capped at http_max_body,
 * or at ADMIN_IMPORT_MAX_BODY for the bulk import), checks the Bearer
 * token (AWS requests go to admin_aws.c for SigV4), routes to /healthz,
 * /metrics and the API modules, and writes the reply (keep-alive, chunked
 * into the socket). Handlers never see lws; they get an api_request and
 * fill an api_response (webui/api.h), at once or, for a reply that waits
 * on the broker, later through the connection's api_deferred. */
#include "webui/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "webui/admin_internal.h"
#include "webui/api.h"

/* lws keeps the whole request head in one header buffer (a few KB), so
 * these bounds are never reached by a request lws accepted; they keep our
 * own allocations finite regardless. */
#define ADMIN_MAX_PARAMS 1024
#define ADMIN_WRITE_CHUNK 16384
#define ADMIN_DEFAULT_MAX_BODY (1024 * 1024)
/* The bulk import (POST /v1/projects/P/locations/L:importDevices) carries a
 * whole fleet in one body: 100k devices with certificates are ~100 MB. Only
 * that route gets this cap, and only after the token was checked. */
#define ADMIN_IMPORT_MAX_BODY ((size_t)256 * 1024 * 1024)
#define ADMIN_IMPORT_VERB ":importDevices"

static const char admin_msg_missing[] =
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.";
static const char admin_msg_invalid[] =
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.";

static struct webui_options admin_opts;
static char *admin_google_prefix;       /* owned copy of admin_opts.google_prefix */
static bool admin_ready;

/* One service thread (LWS_MAX_SMP 1): a single staging buffer with the
 * LWS_PRE headroom lws_write wants. */
static unsigned char admin_wbuf[LWS_PRE + ADMIN_WRITE_CHUNK];

/* Tokens are copied: the caller's array may live on its stack. */
static char **admin_tokens;
static size_t admin_n_tokens;

static void free_tokens(void)
{
    for (size_t i = 0; i < admin_n_tokens; i++) {
        explicit_bzero(admin_tokens[i], strlen(admin_tokens[i]));
        free(admin_tokens[i]);
    }
    free(admin_tokens);
    admin_tokens = NULL;
    admin_n_tokens = 0;
}

int webui_init(const struct webui_options *o)
{
    char **copy = NULL, *prefix;
    struct admin_aws aws;
    size_t n = 0;
    int rc;

    if (!o || !o->db || (o->n_tokens > 0 && !o->tokens))
        return -EINVAL;
    rc = admin_aws_copy(o, &aws);
    if (rc < 0)
        return rc;
    prefix = strdup(o->google_prefix ? o->google_prefix : "");
    if (!prefix) {
        admin_aws_free(&aws);
        return -ENOMEM;
    }
    if (o->n_tokens > 0) {
        copy = calloc(o->n_tokens, sizeof(*copy));
        if (!copy) {
            admin_aws_free(&aws);
            free(prefix);
            return -ENOMEM;
        }
        for (; n < o->n_tokens; n++) {
            copy[n] = strdup(o->tokens[n] ? o->tokens[n] : "");
            if (!copy[n])
                break;
        }
        if (n < o->n_tokens) {
            while (n > 0)
                free(copy[--n]);
            free(copy);
            free(prefix);
            admin_aws_free(&aws);
            return -ENOMEM;
        }
    }
    free_tokens();
    free(admin_google_prefix);
    admin_aws_set_take(&aws);
    admin_google_prefix = prefix;
    admin_tokens = copy;
    admin_n_tokens = n;
    admin_opts = *o;
    admin_opts.tokens = (const char *const *)admin_tokens;
    admin_opts.google_prefix = admin_google_prefix;
    /* The caller's key array and strings may go away: only our copies. */
    admin_opts.aws_keys = NULL;
    admin_opts.n_aws_keys = 0;
    admin_opts.aws_account_id = admin_aws_get()->account_id;
    admin_opts.aws_region = admin_aws_get()->region;
    admin_opts.aws_endpoint = admin_aws_get()->endpoint;
    admin_opts.ca_cert_path = NULL;
    admin_opts.ca_key_path = NULL;
    if (admin_opts.http_max_body == 0)
        admin_opts.http_max_body = ADMIN_DEFAULT_MAX_BODY;
    admin_ready = true;
    return 0;
}

void webui_fini(void)
{
    admin_ready = false;
    free_tokens();
    admin_aws_set_take(NULL);
    free(admin_google_prefix);
    admin_google_prefix = NULL;
    memset(&admin_opts, 0, sizeof(admin_opts));
}

/* ---- replies that wait ---- */

static void wait_disarm(struct api_deferred *d)
{
    lws_sul_cancel(&d->timeout);
    if (d->ctx_free)
        d->ctx_free(d->ctx);
    d->armed = false;
    d->finish = NULL;
    d->ctx = NULL;
    d->ctx_free = NULL;
    d->cancel = NULL;
    d->cancel_ud = NULL;
}

/* The outcome is known (err from the operation, or -ETIMEDOUT): the
 * handler's finish fills the reply, which is then written. */
static void wait_finish(struct api_deferred *d, int err)
{
    struct admin_req *rq = lws_container_of(d, struct admin_req, wait);

    if (!d->armed)
        return;
    d->finish(&rq->resp, err, d->ctx);
    wait_disarm(d);
    admin_start_reply(rq->wsi, rq);
}

static void wait_timed_out(lws_sorted_usec_list_t *sul)
{
    struct api_deferred *d = lws_container_of(sul, struct api_deferred, timeout);

    if (!d->armed)
        return;
    /* Stop the operation first, so its completion cannot come after. */
    if (d->cancel)
        d->cancel(d->cancel_ud, d);
    wait_finish(d, -ETIMEDOUT);
}

void api_defer(struct api_deferred *d, api_finish_fn *finish, void *ctx,
               void (*ctx_free)(void *ctx), void (*cancel)(void *cancel_ud, void *req),
               void *cancel_ud)
{
    struct admin_req *rq = lws_container_of(d, struct admin_req, wait);

    d->armed = true;
    d->finish = finish;
    d->ctx = ctx;
    d->ctx_free = ctx_free;
    d->cancel = cancel;
    d->cancel_ud = cancel_ud;
    lws_sul_schedule(lws_get_context(rq->wsi), 0, &d->timeout, wait_timed_out,
                     (lws_usec_t)API_DEFER_TIMEOUT_S * LWS_US_PER_SEC);
}

void api_defer_abort(struct api_deferred *d)
{
    if (d && d->armed)
        wait_disarm(d);
}

void api_deferred_done(void *req, int err)
{
    if (req)
        wait_finish(req, err);
}

/* ---- per-request state ---- */

static void req_reset(struct admin_req *rq)
{
    struct lws *wsi = rq->wsi;

    /* A reply still waiting when its connection goes: the operation must
     * not complete into a request that no longer exists. */
    if (rq->wait.armed) {
        if (rq->wait.cancel)
            rq->wait.cancel(rq->wait.cancel_ud, &rq->wait);
        wait_disarm(&rq->wait);
    }
    free(rq->path);
    free(rq->content_type);
    for (size_t i = 0; i < rq->n_params; i++) {
        free(rq->params[i].name);
        free(rq->params[i].value);
    }
    free(rq->params);
    for (size_t i = 0; i < rq->n_hdrs; i++) {
        free(rq->hdrs[i].name);
        if (rq->hdrs[i].value) {
            /* Authorization may be among them. */
            explicit_bzero(rq->hdrs[i].value, strlen(rq->hdrs[i].value));
            free(rq->hdrs[i].value);
        }
    }
    free(rq->hdrs);
    buf_free(&rq->body);
    api_response_clear(&rq->resp);
    memset(rq, 0, sizeof(*rq));
    rq->wsi = wsi;
}

/* ---- auth ---- */

/* Compares against every configured token without an early exit, so the
 * time taken does not tell how much of a guess was right. */
static bool token_matches(const char *tok, size_t len)
{
    unsigned ok = 0;

    for (size_t t = 0; t < admin_opts.n_tokens; t++) {
        const char *want = admin_opts.tokens[t];
        size_t wlen = want ? strlen(want) : 0;
        unsigned diff = wlen != len;

        if (wlen == 0)
            continue;
        for (size_t i = 0; i < len; i++)
            diff |= (unsigned char)(tok[i] ^ want[i % wlen]);
        ok |= diff == 0;
    }
    return ok != 0;
}

enum admin_auth admin_check_bearer(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    enum admin_auth res = ADMIN_AUTH_INVALID;
    char *hdr, *tok;
    size_t len;

    if (total <= 0)
        return ADMIN_AUTH_MISSING;
    hdr = malloc((size_t)total + 1);
    if (!hdr)
        return ADMIN_AUTH_INVALID;
    if (lws_hdr_copy(wsi, hdr, total + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        goto out;
    if (strncasecmp(hdr, "Bearer ", 7) != 0) {
        res = ADMIN_AUTH_MISSING;     /* another scheme (Basic...) is no bearer credential */
        goto out;
    }
    tok = hdr + 7;
    while (*tok == ' ')
        tok++;
    len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len > 0 && token_matches(tok, len))
        res = ADMIN_AUTH_OK;
out:
    explicit_bzero(hdr, (size_t)total + 1);
    free(hdr);
    return res;
}

/* ---- replies ---- */

int admin_start_reply(struct lws *wsi, struct admin_req *rq)
{
    char path[160];

    rq->responded = true;
    rq->sent = 0;
    log_escape(path, sizeof(path), rq->path ? rq->path : "", rq->path ? strlen(rq->path) : 0);
    /* 501 is a route we do not serve yet, not a fault of ours. */
    if (rq->resp.status >= 500 && rq->resp.status != 501)
        log_warn("admin: %s \"%s\" from %s -> %d", api_method_name(rq->method), path, rq->peer,
                 rq->resp.status);
    else
        log_debug("admin: %s \"%s\" from %s -> %d", api_method_name(rq->method), path, rq->peer,
                  rq->resp.status);
    lws_callback_on_writable(wsi);
    return 0;
}


/* An error decided before the request is complete (auth, size, framing),
 * in the shape of the API the request is for. */
static int early_error(struct lws *wsi, struct admin_req *rq, int http, enum api_gstatus s,
                       bool close, const char *msg)
{
    if (rq->aws)
        api_aws_error(&rq->resp, http, admin_aws_error_type(http), "%s", msg);
    else
        api_google_error_http(&rq->resp, http, s, "%s", msg);
    rq->resp.close = close;
    return admin_start_reply(wsi, rq);
}

static int payload_too_large(struct lws *wsi, struct admin_req *rq)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "Request payload size exceeds the limit: %zu bytes.",
             rq->max_body);
    return early_error(wsi, rq, 413, API_G_INVALID_ARGUMENT, true, msg);
}

static int write_headers(struct lws *wsi, struct admin_req *rq)
{
    unsigned char hbuf[LWS_PRE + 1024];
    unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
    const struct api_response *r = &rq->resp;

    if (lws_add_http_common_headers(wsi, (unsigned)r->status,
                                    r->content_type ? r->content_type : "application/json",
                                    (lws_filepos_t)r->len, &p, end))
        return -1;
    /* Replies can carry resource data: nobody should cache them. */
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &p, end))
        return -1;
    if (r->www_authenticate &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                     (const unsigned char *)"Bearer", 6, &p, end))
        return -1;
    if (r->allow &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW, (const unsigned char *)r->allow,
                                     (int)strlen(r->allow), &p, end))
        return -1;
    if (r->close &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end))
        return -1;
    if (r->error_type &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-amzn-ErrorType:",
                                    (const unsigned char *)r->error_type,
                                    (int)strlen(r->error_type), &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

static int on_writable(struct lws *wsi, struct admin_req *rq)
{
    size_t n;
    bool final, close;

    if (!rq->active || !rq->responded)
        return 0;
    if (!rq->headers_sent) {
        if (write_headers(wsi, rq) < 0)
            return -1;
        rq->headers_sent = true;
        if (rq->resp.len > 0 && lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (rq->sent < rq->resp.len) {
        n = rq->resp.len - rq->sent;
        if (n > ADMIN_WRITE_CHUNK)
            n = ADMIN_WRITE_CHUNK;
        final = rq->sent + n == rq->resp.len;
        memcpy(admin_wbuf + LWS_PRE, rq->resp.body + rq->sent, n);
        if (lws_write(wsi, admin_wbuf + LWS_PRE, n,
                      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
            return -1;
        rq->sent += n;
        if (!final) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    close = rq->resp.close;
    req_reset(rq);
    /* Returning nonzero closes; lws flushes what it buffered first. */
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- routing ---- */

static bool route_is_public(enum api_method m, const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return true;
    return strcmp(path, "/metrics") == 0 && admin_opts.metrics_public && m == API_GET;
}

/* /healthz and /metrics answer GET only. */
static bool only_get(struct admin_req *rq, const char *path)
{
    if (rq->method == API_GET)
        return true;
    api_google_error_http(&rq->resp, 405, API_G_UNIMPLEMENTED, "Method %s is not allowed on %s.",
                          api_method_name(rq->method), path);
    rq->resp.allow = "GET";
    return false;
}

static void serve_healthz(struct admin_req *rq)
{
    if (only_get(rq, "/healthz") &&
        api_response_text(&rq->resp, 200, "application/json", "{\"status\":\"ok\"}\n", 16) < 0)
        api_google_error(&rq->resp, API_G_INTERNAL, "Out of memory.");
}

static void serve_metrics(struct admin_req *rq)
{
    char *text = NULL;
    int rc;

    if (!only_get(rq, "/metrics"))
        return;
    if (!admin_opts.render_metrics) {
        api_google_error(&rq->resp, API_G_NOT_FOUND, "Metrics are not available.");
        return;
    }
    rc = admin_opts.render_metrics(admin_opts.ud, &text);
    if (rc < 0 || api_response_text(&rq->resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                                    text ? text : "", text ? strlen(text) : 0) < 0)
        api_google_error(&rq->resp, API_G_INTERNAL, "Metrics could not be rendered.");
    free(text);
}

static int dispatch(struct lws *wsi, struct admin_req *rq)
{
    struct api_request req = {
        .method = rq->method,
        .path = rq->path,
        .params = rq->params,
        .n_params = rq->n_params,
        .body = "",
        .content_type = rq->content_type,
    };
    struct api_env env = {
        .db = admin_opts.db,
        .on_change = admin_opts.on_change,
        .ud = admin_opts.ud,
        .now_us = time_now_unix_us(),
        .config_updated = admin_opts.config_updated,
        .command_target = admin_opts.command_target,
        .publish = admin_opts.publish,
        .publish_cancel = admin_opts.publish_cancel,
        .google_prefix = admin_opts.google_prefix,
        .aws_shadow = admin_opts.aws_shadow,
        .aws_publish = admin_opts.aws_publish,
        .aws_retained = admin_opts.aws_retained,
        .aws_retained_cancel = admin_opts.aws_retained_cancel,
        .deferred = &rq->wait,
        .aws_account_id = admin_aws_get()->account_id,
        .aws_region = admin_aws_get()->region,
        .aws_endpoint = admin_aws_get()->endpoint,
        .aws_issuer = admin_aws_get()->issuer,
    };
    int rc;

    req.header = admin_header;
    req.header_ud = rq;

    /* Handlers get the body NUL-terminated; the buffer has room for it. */
    if (rq->body.len > 0) {
        if (buf_append(&rq->body, "", 1) < 0)
            return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");
        req.body = (const char *)rq->body.data;
        req.body_len = rq->body.len - 1;
    }
    if (rq->aws_verify_body &&
        admin_aws_check_body(wsi, rq, (const uint8_t *)req.body, req.body_len, &rc))
        return rc;
    if (strcmp(rq->path, "/healthz") == 0) {
        serve_healthz(rq);
    } else if (strcmp(rq->path, "/metrics") == 0) {
        serve_metrics(rq);
    } else if (rq->aws) {
        rc = api_aws_handle(&env, &req, &rq->resp);
        if (rc == -ENOENT)
            api_aws_not_found(&rq->resp);
    } else {
        rc = strncmp(rq->path, "/v1/", 4) == 0 ? api_google_handle(&env, &req, &rq->resp)
                                                : -ENOENT;
        if (rc == -ENOENT)
            api_google_error(&rq->resp, API_G_NOT_FOUND, "The requested URL %.200s was not found.",
                             rq->path);
    }
    /* A handler waiting on the broker answers later (wait_finish). */
    if (rq->wait.armed)
        return 0;
    return admin_start_reply(wsi, rq);
}

/* ---- request collection ---- */

static const struct {
    enum lws_token_indexes tok;
    enum api_method method;
} admin_methods[] = {
    { WSI_TOKEN_GET_URI, API_GET },
    { WSI_TOKEN_POST_URI, API_POST },
    { WSI_TOKEN_PATCH_URI, API_PATCH },
    { WSI_TOKEN_PUT_URI, API_PUT },
    { WSI_TOKEN_DELETE_URI, API_DELETE },
    { WSI_TOKEN_OPTIONS_URI, API_OPTIONS },
    { WSI_TOKEN_HEAD_URI, API_HEAD },
};

int admin_copy_header(struct lws *wsi, enum lws_token_indexes tok, char **ret)
{
    int total = lws_hdr_total_length(wsi, tok);
    char *s;

    if (total <= 0) {
        *ret = NULL;
        return 0;
    }
    s = malloc((size_t)total + 1);
    if (!s)
        return -ENOMEM;
    if (lws_hdr_copy(wsi, s, total + 1, tok) < 0) {
        free(s);
        return -EINVAL;
    }
    *ret = s;
    return 0;
}

/* The bulk import is the one route allowed a body beyond http_max_body. */
static size_t body_cap(const struct admin_req *rq)
{
    size_t plen = strlen(rq->path), vlen = strlen(ADMIN_IMPORT_VERB);

    if (rq->method == API_POST && strncmp(rq->path, "/v1/", 4) == 0 && plen > vlen &&
        strcmp(rq->path + plen - vlen, ADMIN_IMPORT_VERB) == 0 &&
        admin_opts.http_max_body < ADMIN_IMPORT_MAX_BODY)
        return ADMIN_IMPORT_MAX_BODY;
    return admin_opts.http_max_body;
}

/* Query arguments: lws splits them at '&' (and ';') into fragments and has
 * already decoded %XX and '+'. */
static int collect_params(struct lws *wsi, struct admin_req *rq)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char *frag;
    int rc = 0;

    if (total <= 0)
        return 0;
    frag = malloc((size_t)total + 1);
    if (!frag)
        return -ENOMEM;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        struct api_param *pa, *grown;
        char *eq;

        if (n < 0)
            break;
        if (n == 0)
            continue;
        if (rq->n_params == ADMIN_MAX_PARAMS) {
            rc = -E2BIG;
            break;
        }
        grown = realloc(rq->params, (rq->n_params + 1) * sizeof(*grown));
        if (!grown) {
            rc = -ENOMEM;
            break;
        }
        rq->params = grown;
        pa = &rq->params[rq->n_params];
        eq = strchr(frag, '=');
        pa->name = eq ? strndup(frag, (size_t)(eq - frag)) : strdup(frag);
        pa->value = strdup(eq ? eq + 1 : "");
        rq->n_params++;
        if (!pa->name || !pa->value) {
            rc = -ENOMEM;
            break;
        }
    }
    free(frag);
    return rc;
}

static int on_http(struct lws *wsi, struct admin_req *rq, const char *in, size_t in_len)
{
    enum lws_token_indexes tok = WSI_TOKEN_COUNT;
    uint64_t content_length = 0;
    bool has_length = false, expect_continue = false;
    char *hdr = NULL;
    enum admin_auth auth;
    int rc;

    rq->wsi = wsi;
    req_reset(rq);
    rq->active = true;
    rq->method = API_OTHER;
    if (lws_get_peer_simple(wsi, rq->peer, sizeof(rq->peer)) == NULL)
        rq->peer[0] = '\0';
    for (size_t i = 0; i < sizeof(admin_methods) / sizeof(admin_methods[0]); i++) {
        if (lws_hdr_total_length(wsi, admin_methods[i].tok) > 0) {
            tok = admin_methods[i].tok;
            rq->method = admin_methods[i].method;
            break;
        }
    }
    if (tok != WSI_TOKEN_COUNT)
        rc = admin_copy_header(wsi, tok, &rq->path);
    else
        rc = (rq->path = strndup(in ? in : "/", in ? in_len : 1)) ? 0 : -ENOMEM;
    if (rc == 0 && !rq->path)
        rc = (rq->path = strdup("/")) ? 0 : -ENOMEM;
    if (rc < 0)
        return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");
    if (!admin_ready)
        return early_error(wsi, rq, 503, API_G_UNAVAILABLE, true, "The admin API is starting.");
    rc = collect_params(wsi, rq);
    if (rc == -E2BIG)
        return early_error(wsi, rq, 400, API_G_INVALID_ARGUMENT, true,
                           "Too many query parameters.");
    if (rc < 0)
        return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");
    rq->aws = admin_aws_is_request(rq);

    /* Body framing. lws 4.1 reads a POST/PATCH/PUT body only by
     * Content-Length (a missing one means "until 100 MB"), and does not
     * decode a chunked request body: both are refused and the connection
     * closed, since we cannot know where the next request would start. */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return early_error(wsi, rq, 411, API_G_INVALID_ARGUMENT, true,
                           "Chunked request bodies are not supported; send Content-Length.");
    if (admin_copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, &hdr) < 0)
        return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");
    if (hdr) {
        has_length = true;
        rc = api_parse_u64(hdr, &content_length);
        free(hdr);
        if (rc < 0)
            return early_error(wsi, rq, 400, API_G_INVALID_ARGUMENT, true,
                               "Invalid Content-Length.");
    }
    if (!has_length &&
        (rq->method == API_POST || rq->method == API_PATCH || rq->method == API_PUT))
        return early_error(wsi, rq, 411, API_G_INVALID_ARGUMENT, true,
                           "A request body needs a Content-Length.");
    rq->max_body = body_cap(rq);
    if (content_length > rq->max_body)
        return payload_too_large(wsi, rq);
    if (content_length > 0 &&
        admin_copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, &rq->content_type) < 0)
        return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");

    if (content_length > 0 && admin_copy_header(wsi, WSI_TOKEN_HTTP_EXPECT, &hdr) == 0 && hdr) {
        expect_continue = strcasecmp(hdr, "100-continue") == 0;
        free(hdr);
    }
    /* Auth before the body is read: an unauthenticated client cannot make
     * us buffer anything (lws discards the rest of its body). A client that
     * waits for "100 Continue" may never send that body, so then the
     * connection is closed rather than left expecting it. */
    if (!route_is_public(rq->method, rq->path) && rq->aws) {
        if (admin_aws_authenticate(wsi, rq, content_length > 0, expect_continue, &rc))
            return rc;
    } else if (!route_is_public(rq->method, rq->path)) {
        auth = admin_check_bearer(wsi);
        if (auth != ADMIN_AUTH_OK) {
            char path[160];
            log_warn("admin: 401 %s \"%s\" from %s: %s bearer token", api_method_name(rq->method),
                     log_escape(path, sizeof(path), rq->path, strlen(rq->path)), rq->peer,
                     auth == ADMIN_AUTH_MISSING ? "missing" : "invalid");
            rc = early_error(wsi, rq, 401, API_G_UNAUTHENTICATED, expect_continue,
                             auth == ADMIN_AUTH_MISSING ? admin_msg_missing : admin_msg_invalid);
            rq->resp.www_authenticate = true;
            return rc;
        }
    }
    if (content_length > 0) {
        /* lws ignores "Expect: 100-continue"; without the interim reply curl
         * waits a second before sending a large body. */
        if (expect_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            memcpy(admin_wbuf + LWS_PRE, cont, sizeof(cont) - 1);
            if (lws_write(wsi, admin_wbuf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP) <
                (int)(sizeof(cont) - 1))
                return -1;
        }
        buf_init(&rq->body, rq->max_body + 1);
        rq->want_body = true;
        return 0;
    }
    /* No body: answer now. A POST with an explicit zero length still gets
     * HTTP_BODY/BODY_COMPLETION from lws; both are ignored once answered. */
    return dispatch(wsi, rq);
}

static int on_body(struct lws *wsi, struct admin_req *rq, const void *in, size_t len)
{
    int rc;

    if (!rq->active || rq->responded || !rq->want_body || len == 0)
        return 0;
    /* Content-Length was checked, but count what really arrives. */
    if (rq->body.len + len > rq->max_body)
        return payload_too_large(wsi, rq);
    rc = buf_append(&rq->body, in, len);
    if (rc < 0)
        return early_error(wsi, rq, 500, API_G_INTERNAL, true, "Out of memory.");
    return 0;
}

static int admin_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    struct admin_req *rq = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (!rq)
            return -1;
        return on_http(wsi, rq, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        if (!rq)
            return -1;
        return on_body(wsi, rq, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!rq)
            return -1;
        /* Only a request that waited for its body is dispatched here: one
         * with a zero Content-Length was dispatched in on_http already,
         * and may still be waiting for its reply (a deferred one), which a
         * second dispatch would run twice. */
        if (!rq->active || rq->responded || !rq->want_body)
            return 0;
        return dispatch(wsi, rq);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!rq)
            return -1;
        return on_writable(wsi, rq);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (rq)
            req_reset(rq);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* protocols[0] receives every HTTP callback of the vhost; the Debian lws
 * has no LWS_PROTOCOL_LIST_TERM, hence the literal terminator. */
static const struct lws_protocols admin_protocols[] = {
    {
        .name = "iotcored-admin",
        .callback = admin_callback,
        .per_session_data_size = sizeof(struct admin_req),
        .rx_buffer_size = 0,
    },
    { .name = NULL, .callback = NULL, .per_session_data_size = 0, .rx_buffer_size = 0 },
};

const struct lws_protocols *webui_admin_protocols(void)
{
    return admin_protocols;
}
