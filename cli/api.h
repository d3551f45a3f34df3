/* Calls to iotcored's Google Cloud IoT admin API: one request with its
 * reply decoded, or every page of a list. Every failure is printed here,
 * once, in the form scripts read ("ERROR: (iotcorectl) STATUS: message"),
 * and returned as a negative errno that main.c maps to the exit code. */
#pragma once
#include <errno.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/ctl.h"
#include "cli/url.h"

/* The server answered with an error status (already printed). */
#define CTL_ERR_API (-EREMOTEIO)

/* Sends METHOD u with body (NULL for none; serialised compactly) and, on a
 * 2xx reply, stores its JSON object in *ret (owned by the caller; an empty
 * body reads as {}). Errors: CTL_ERR_API, -EBADMSG (2xx reply not a JSON
 * object), the transport errors of ctl_http_request, -ENAMETOOLONG (u
 * overflowed). */
int ctl_api_call(struct ctl *c, const char *method, const struct ctl_url *u, const json_t *body,
                 json_t **ret);

/* POSTs an open regular file of file_len bytes as the body. Same returns. */
int ctl_api_upload(struct ctl *c, const struct ctl_url *u, const char *content_type, FILE *file,
                   long long file_len, json_t **ret);

/* GETs u, then u&pageToken=... while the reply carries a nextPageToken, and
 * concatenates the arrays under `key` into *ret (a JSON array, owned by the
 * caller). Same returns as ctl_api_call, plus -EBADMSG when a server
 * repeats a page token (which would loop forever). */
int ctl_api_list(struct ctl *c, const struct ctl_url *u, const char *key, json_t **ret);
