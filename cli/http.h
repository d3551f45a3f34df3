/* The one HTTP client of iotcorectl: a libcurl easy handle bound to the
 * admin endpoint and token, reused across requests so the pages of a list
 * share one connection. It neither prints nor interprets bodies: it returns
 * the status and the body (bounded), or a transport error. */
#pragma once
#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"

/* A response larger than this is refused: a full ListDevices page is 500
 * devices of a few hundred bytes with the fields the CLI asks for, and a
 * described device with its 10 kept configs and states of 64 KiB each
 * stays under 2 MiB; 32 MiB leaves room for metadata-heavy fleets. */
#define CTL_HTTP_MAX_RESPONSE (32u * 1024 * 1024)

struct ctl_http;

/* A request body: either bytes in memory, or an open regular file of a
 * known length streamed as it is read (bulk import). */
struct ctl_http_body {
    const char *content_type;
    const void *data;       /* borrowed */
    size_t len;
    FILE *file;             /* borrowed; used when non-NULL */
    long long file_len;
};

/* endpoint: "http://host:port" or "https://..." (a trailing '/' is
 * dropped); token: "" for none; ca_file: NULL for the system store. The
 * strings are copied. Returns 0, -EINVAL for an endpoint that is not an
 * http(s) URL or a token with bytes a header cannot carry, -ENOMEM. */
int ctl_http_new(const char *endpoint, const char *token, const char *ca_file,
                 struct ctl_http **ret);

/* NULL-safe; wipes the copy of the token. */
void ctl_http_free(struct ctl_http *h);

/* Sends METHOD endpoint+path with body (may be NULL). On success returns 0,
 * *ret_status holds the HTTP status and resp (reset first, capped at
 * CTL_HTTP_MAX_RESPONSE) the body. Errors: -ECONNREFUSED, -EHOSTUNREACH
 * (name not resolved), -ETIMEDOUT, -ECOMM (TLS or other transport
 * failure), -EMSGSIZE (response over the cap), -EIO (reading the body
 * file), -EINVAL (URL refused by libcurl), -ENOMEM; ctl_http_error() then
 * says why in libcurl's words. */
int ctl_http_request(struct ctl_http *h, const char *method, const char *path,
                     const struct ctl_http_body *body, long *ret_status, struct buf *resp);

/* The endpoint as used (no trailing '/'), for messages. */
const char *ctl_http_endpoint(const struct ctl_http *h);

/* libcurl's description of the last transport error ("" if none). */
const char *ctl_http_error(const struct ctl_http *h);
