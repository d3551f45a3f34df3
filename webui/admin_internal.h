/* Internals shared by the admin server's two files: admin.c (the lws
 * protocol callback, request collection, Bearer auth, routing, replies
 * and replies that wait) and admin_aws.c (AWS requests: the SigV4 keys
 * and account strings, header lookup by name, signature verification
 * before and after the body, AWS's error replies). Both are transport
 * glue and see libwebsockets. Not included outside webui/admin*.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "common/buf.h"
#include "webui/admin.h"
#include "webui/api.h"

struct aws_issuer;
struct sigv4_key;

/* A reply that waits (webui/api.h): armed by a handler, finished by the
 * operation's completion, the timeout, or dropped with the connection. */
struct api_deferred {
    bool armed;
    api_finish_fn *finish;
    void *ctx;                  /* the handler's; freed with ctx_free */
    void (*ctx_free)(void *ctx);
    void (*cancel)(void *cancel_ud, void *req);
    void *cancel_ud;
    lws_sorted_usec_list_t timeout;
};

/* Per-connection state (lws per-session data, zeroed at accept), reused by
 * each keep-alive transaction; everything it points to is freed by
 * req_reset. */
struct admin_req {
    struct lws *wsi;            /* borrowed: the connection this is the data of */
    bool active;                /* a transaction is in progress */
    bool responded;             /* resp is final; waiting to write it */
    bool headers_sent;
    bool want_body;
    enum api_method method;
    char *path;                 /* owned */
    char *content_type;         /* owned, or NULL */
    struct api_param *params;   /* owned, n_params entries with owned strings */
    size_t n_params;
    size_t max_body;            /* this request's cap */
    struct buf body;            /* capped at max_body + 1 (the NUL) */
    struct api_deferred wait;   /* armed while the reply waits */
    struct api_response resp;
    size_t sent;
    char peer[64];
    /* AWS: the request is answered in AWS's shapes; a SigV4 signature over
     * a body is checked again once the body is in. */
    bool aws;
    bool aws_verify_body;
    /* Header values read so far (owned; value NULL = absent), so the
     * pointers handed out stay valid until the reply is written. */
    struct admin_hdr {
        char *name;
        char *value;
    } *hdrs;
    size_t n_hdrs;
};

/* AWS: owned copies of the options' strings and keys, and the daemon's CA
 * for issuing device certificates (NULL when not configured). */
struct admin_aws {
    struct sigv4_key *keys;             /* id and secret strings owned */
    size_t n_keys;
    char *account_id, *region, *endpoint;
    struct aws_issuer *issuer;
};

enum admin_auth { ADMIN_AUTH_OK, ADMIN_AUTH_MISSING, ADMIN_AUTH_INVALID };

/* ---- admin.c ---- */
/* The Authorization header's Bearer token against admin.tokens (constant
 * time): ADMIN_AUTH_MISSING also for another scheme. */
enum admin_auth admin_check_bearer(struct lws *wsi);
/* rq->resp is final: logs the outcome and asks lws to write it. Returns the
 * callback's value (0). */
int admin_start_reply(struct lws *wsi, struct admin_req *rq);
/* A copy of lws header token tok into *ret (malloc'd; NULL when absent).
 * 0, -ENOMEM, -EINVAL. */
int admin_copy_header(struct lws *wsi, enum lws_token_indexes tok, char **ret);

/* ---- admin_aws.c ---- */
/* Copies the AWS part of o into *ret (and loads the CA). 0, -EINVAL,
 * -ENOMEM or the CA loader's error; *ret is empty on failure. */
int admin_aws_copy(const struct webui_options *o, struct admin_aws *ret);
/* Wipes the secrets and frees what a holds; a is left empty. */
void admin_aws_free(struct admin_aws *a);
/* Replaces the AWS settings in use (the old ones freed) with a's, leaving
 * a empty; NULL just frees them. */
void admin_aws_set_take(struct admin_aws *a);
/* The AWS settings in use (empty before webui_init). */
const struct admin_aws *admin_aws_get(void);
/* api_request.header and sigv4_request.header (ud: the admin_req): a
 * header's value by lower-case name, or NULL when absent; valid until the
 * request is reset. */
const char *admin_header(void *ud, const char *lower_name);
/* An AWS request: SigV4 signed (header or presigned query), or aimed at
 * an AWS control-plane path. */
bool admin_aws_is_request(struct admin_req *rq);
/* AWS's error type for an error the glue decides by HTTP status. */
const char *admin_aws_error_type(int http);
/* Authenticates an AWS request before its body is read (Bearer or SigV4).
 * Returns 0 to go on, or 1 when the refusal was answered (*ret the
 * callback's value). */
int admin_aws_authenticate(struct lws *wsi, struct admin_req *rq, bool body_pending, bool close,
                           int *ret);
/* Checks the signature again over the whole body (rq->aws_verify_body).
 * Same returns as admin_aws_authenticate. */
int admin_aws_check_body(struct lws *wsi, struct admin_req *rq, const uint8_t *body,
                         size_t body_len, int *ret);
