/* AWS requests on the admin server: the SigV4 access keys and account
 * strings (owned copies, the secrets wiped when freed) and the daemon's CA
 * for issuing device certificates, header lookup by name (lws tokens or
 * custom headers, cached per request), telling an AWS request from a
 * Google one, SigV4 verification (webui/sigv4.h) before the body and again
 * over it, and the refusals in AWS's shape (status, x-amzn-ErrorType,
 * {"message"}). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "registry/aws_cert.h"
#include "webui/admin_internal.h"
#include "webui/sigv4.h"

/* Headers a request's handlers and its SigV4 check may read (a signed
 * request names its headers; lws keeps far fewer in its header buffer). */
#define ADMIN_MAX_HEADER_LOOKUPS 64

/* AWS's words for a credential it does not know. */
static const char admin_msg_aws_bad_token[] =
    "The security token included in the request is invalid.";

static struct admin_aws admin_aws;

void admin_aws_free(struct admin_aws *a)
{
    for (size_t i = 0; i < a->n_keys; i++) {
        free((char *)a->keys[i].id);
        if (a->keys[i].secret) {
            explicit_bzero((char *)a->keys[i].secret, strlen(a->keys[i].secret));
            free((char *)a->keys[i].secret);
        }
    }
    free(a->keys);
    free(a->account_id);
    free(a->region);
    free(a->endpoint);
    aws_issuer_free(a->issuer);
    memset(a, 0, sizeof(*a));
}

void admin_aws_set_take(struct admin_aws *a)
{
    admin_aws_free(&admin_aws);
    if (a) {
        admin_aws = *a;
        memset(a, 0, sizeof(*a));
    }
}

const struct admin_aws *admin_aws_get(void)
{
    return &admin_aws;
}

int admin_aws_copy(const struct webui_options *o, struct admin_aws *a)
{
    int rc;

    memset(a, 0, sizeof(*a));
    if (o->n_aws_keys > 0) {
        if (!o->aws_keys)
            return -EINVAL;
        a->keys = calloc(o->n_aws_keys, sizeof(*a->keys));
        if (!a->keys)
            return -ENOMEM;
        for (; a->n_keys < o->n_aws_keys; a->n_keys++) {
            const struct webui_aws_key *k = &o->aws_keys[a->n_keys];
            a->keys[a->n_keys].id = strdup(k->id ? k->id : "");
            a->keys[a->n_keys].secret = strdup(k->secret ? k->secret : "");
            if (!a->keys[a->n_keys].id || !a->keys[a->n_keys].secret) {
                a->n_keys++;
                goto oom;
            }
        }
    }
    a->account_id = strdup(o->aws_account_id ? o->aws_account_id : "");
    a->region = strdup(o->aws_region ? o->aws_region : "");
    a->endpoint = strdup(o->aws_endpoint ? o->aws_endpoint : "");
    if (!a->account_id || !a->region || !a->endpoint)
        goto oom;
    if (o->ca_cert_path && *o->ca_cert_path && o->ca_key_path && *o->ca_key_path) {
        rc = aws_issuer_load(o->ca_cert_path, o->ca_key_path, &a->issuer);
        if (rc < 0) {
            admin_aws_free(a);
            return rc;
        }
    }
    return 0;
oom:
    admin_aws_free(a);
    return -ENOMEM;
}

/* AWS's code for an error the glue decides by HTTP status. */
const char *admin_aws_error_type(int http)
{
    switch (http) {
    case 413: return "RequestEntityTooLargeException";
    case 500: return "InternalFailureException";
    case 503: return "ServiceUnavailableException";
    default: return "InvalidRequestException";
    }
}

/* A header by its lower-case name: lws parses the ~100 headers it knows
 * into tokens (named "host:", "content-type:"...), the rest it keeps as
 * custom headers, looked up with the trailing colon. malloc'd, or NULL
 * when absent. */
static char *read_header(struct lws *wsi, const char *lower)
{
    size_t n = strlen(lower);
    char name[128], *v;
    int len;

    if (n == 0 || n + 2 > sizeof(name))
        return NULL;
    for (int t = 0; t < (int)WSI_TOKEN_COUNT; t++) {
        const char *tn = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (tn && strncmp(tn, lower, n) == 0 && tn[n] == ':' && tn[n + 1] == '\0') {
            if (admin_copy_header(wsi, (enum lws_token_indexes)t, &v) < 0)
                return NULL;
            return v;
        }
    }
    memcpy(name, lower, n);
    name[n] = ':';
    name[n + 1] = '\0';
    len = lws_hdr_custom_length(wsi, name, (int)n + 1);
    if (len < 0)
        return NULL;
    v = malloc((size_t)len + 1);
    if (!v)
        return NULL;
    if (lws_hdr_custom_copy(wsi, v, len + 1, name, (int)n + 1) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* api_request.header and sigv4_request.header: values are cached in the
 * request, so what a handler or the signature check was given stays valid
 * (and equal) until the reply is written. */
const char *admin_header(void *ud, const char *lower_name)
{
    struct admin_req *rq = ud;
    struct admin_hdr *grown;
    char *name;

    for (size_t i = 0; i < rq->n_hdrs; i++)
        if (strcmp(rq->hdrs[i].name, lower_name) == 0)
            return rq->hdrs[i].value;
    if (rq->n_hdrs == ADMIN_MAX_HEADER_LOOKUPS || !rq->wsi)
        return NULL;
    grown = realloc(rq->hdrs, (rq->n_hdrs + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    rq->hdrs = grown;
    name = strdup(lower_name);
    if (!name)
        return NULL;
    rq->hdrs[rq->n_hdrs].name = name;
    rq->hdrs[rq->n_hdrs].value = read_header(rq->wsi, lower_name);
    return rq->hdrs[rq->n_hdrs++].value;
}

/* Checks the request's SigV4 signature over body (what arrived so far).
 * msg gets AWS's message on failure; info what the credential named. */
static enum sigv4_result aws_verify(struct admin_req *rq, const uint8_t *body, size_t body_len,
                                    struct sigv4_info *info, char *msg, size_t msg_len)
{
    size_t plen = strlen(rq->path), cap = plen * 3 + 1;
    struct sigv4_param *params = NULL;
    enum sigv4_result res = SIGV4_MALFORMED;
    char *wire = malloc(cap);

    snprintf(msg, msg_len, "Out of memory.");
    memset(info, 0, sizeof(*info));
    if (!wire)
        return res;
    if (rq->n_params > 0) {
        params = calloc(rq->n_params, sizeof(*params));
        if (!params)
            goto out;
        for (size_t i = 0; i < rq->n_params; i++) {
            params[i].name = rq->params[i].name;
            params[i].value = rq->params[i].value;
        }
    }
    if (api_aws_wire_path(rq->path, wire, cap) < 0)
        goto out;
    struct sigv4_request r = {
        .method = api_method_name(rq->method),
        .wire_path = wire,
        .params = params,
        .n_params = rq->n_params,
        .header = admin_header,
        .header_ud = rq,
        .body = body,
        .body_len = body_len,
    };
    res = sigv4_verify(&r, admin_aws.keys, admin_aws.n_keys, time_now_unix(), info, msg,
                       msg_len);
out:
    free(params);
    free(wire);
    return res;
}

/* Answers a refused AWS credential (AWS's status, code and message) and
 * logs why, never the signature. */
static int aws_refuse(struct lws *wsi, struct admin_req *rq, int http, const char *type,
                      const char *msg, const char *key, bool close)
{
    char path[160], kid[80];

    log_escape(path, sizeof(path), rq->path, strlen(rq->path));
    if (*key)
        log_warn("admin: %d %s \"%s\" from %s: %s (access key \"%s\")", http,
                 api_method_name(rq->method), path, rq->peer, type,
                 log_escape(kid, sizeof(kid), key, strlen(key)));
    else
        log_warn("admin: %d %s \"%s\" from %s: %s", http, api_method_name(rq->method), path,
                 rq->peer, type);
    api_aws_error(&rq->resp, http, type, "%s", msg);
    rq->resp.close = close;
    return admin_start_reply(wsi, rq);
}

bool admin_aws_is_request(struct admin_req *rq)
{
    const char *auth = admin_header(rq, "authorization");

    if (auth && strncmp(auth, "AWS4-", 5) == 0)
        return true;
    for (size_t i = 0; i < rq->n_params; i++)
        if (strcmp(rq->params[i].name, "X-Amz-Signature") == 0)
            return true;
    return api_aws_is_path(rq->path);
}

/* Authenticates an AWS request before its body is read: the admin Bearer
 * token (DESIGN.md accepts it on AWS paths too), or SigV4. A signature
 * covers the body's hash, so with a body pending only the failures that do
 * not depend on it (missing, malformed, unknown key, expired) are final
 * here; the signature is checked again once the body is in. Returns 0 to
 * go on, or 1 when the refusal was answered (*ret the callback's value). */
int admin_aws_authenticate(struct lws *wsi, struct admin_req *rq, bool body_pending, bool close,
                           int *ret)
{
    const char *auth = admin_header(rq, "authorization");
    struct sigv4_info info;
    enum sigv4_result res;
    char msg[512];

    /* What handlers read from headers is read now, while lws surely still
     * holds them (x-amzn-principal & co. are also signed). */
    admin_header(rq, "x-amzn-principal");
    admin_header(rq, "x-amzn-iot-principal");
    admin_header(rq, "x-amzn-iot-policy");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        if (admin_check_bearer(wsi) == ADMIN_AUTH_OK)
            return 0;
        *ret = aws_refuse(wsi, rq, 403, "UnrecognizedClientException",
                          admin_msg_aws_bad_token, "(bearer)", close);
        return 1;
    }
    res = aws_verify(rq, NULL, 0, &info, msg, sizeof(msg));
    if (res == SIGV4_OK || (res == SIGV4_BAD_SIGNATURE && body_pending)) {
        rq->aws_verify_body = body_pending;
        return 0;
    }
    *ret = aws_refuse(wsi, rq, sigv4_result_status(res), sigv4_result_type(res), msg,
                      info.access_key, close);
    return 1;
}

/* The body is in: a signature whose check waited on it (it covers the
 * body's hash) is checked now, over all of it. */
int admin_aws_check_body(struct lws *wsi, struct admin_req *rq, const uint8_t *body,
                         size_t body_len, int *ret)
{
    struct sigv4_info info;
    enum sigv4_result res;
    char msg[512];

    res = aws_verify(rq, body, body_len, &info, msg, sizeof(msg));
    if (res == SIGV4_OK)
        return 0;
    *ret = aws_refuse(wsi, rq, sigv4_result_status(res), sigv4_result_type(res), msg,
                      info.access_key, false);
    return 1;
}
