/* The transport-free half of AWS IoT's HTTPS publish on the device HTTPS
 * bridge [aws-iot-core.md 1.13]: POST /topics/TOPIC?qos=0|1[&retain=true],
 * body = payload, the device identified by its TLS client certificate. The
 * route from the path, the query, AWS's topic rules for a publish without
 * an MQTT session, the refusal an authentication failure gets, and AWS's
 * answer bodies ({"message": ..., "traceId": ...}). No sockets, no store,
 * no logging: devhttp.c (the lws glue) calls these; unit tests and fuzzers
 * call them directly. Errors reuse struct devhttp_err (its http and msg;
 * the Google status there is only an approximation nobody reads). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/http/devhttp_req.h"
#include "registry/reg_jwt.h"

#define DEVHTTP_AWS_ROUTE "/topics/"
/* A v4 UUID in its 36-character text form. */
#define DEVHTTP_AWS_TRACE_ID_LEN 36

/* Whether a decoded request path (no query) is the publish route: the whole
 * remainder after "/topics/" is the topic. SDKs send the topic as one label
 * with '/' as %2F, hand-written clients (AWS's own curl example) send it
 * with plain '/'; lws has decoded %XX either way. Returns 0 and a slice of
 * path (possibly empty), or -ENOENT for every other path. */
int devhttp_aws_route(const char *path, size_t len, const char **ret_topic, size_t *ret_len);

/* The publish query. AWS's defaults: qos 0, retain false. */
struct devhttp_aws_query {
    uint8_t qos;
    bool retain;
    bool have_qos, have_retain;
};
/* Feeds one decoded query argument "name=value" (lws splits at '&').
 * qos: "0" or "1"; retain: "true" or "false" (any case); a name repeated
 * with another value is refused. Other names (AWS's MQTT 5 extras
 * contentType, responseTopic, messageExpiry) are ignored. Returns 0, or
 * -EBADMSG with err set (400). */
int devhttp_aws_query_add(struct devhttp_aws_query *q, const char *arg, size_t len,
                          struct devhttp_err *err);

/* AWS's rules for a topic published over HTTPS. Returns 0, or with err
 * set: -EACCES (403: every topic starting with '$'; AWS serves nothing
 * reserved here, and a forged $aws/events/... or shadow request must not
 * reach the broker or the daemon's own subscribers), -EBADMSG (400: empty,
 * a wildcard '+' or '#', not UTF-8 or holding NUL), -EMSGSIZE (400: over
 * 256 bytes or 7 '/'). */
int devhttp_aws_topic_check(const char *topic, size_t len, struct devhttp_err *err);

/* Sets err (NULL-safe) to an answer with HTTP code http. */
void devhttp_aws_err_set(struct devhttp_err *err, int http, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The answer to a refused certificate: 403 "Forbidden" for a missing,
 * unknown, inactive or expired certificate (AWS does not say which), 503
 * for a store error. */
void devhttp_aws_auth_refusal(enum reg_auth_reason r, struct devhttp_err *err);

/* Formats 16 random bytes as a v4 UUID (version and variant bits set) into
 * out, NUL-terminated. */
void devhttp_aws_trace_id(const uint8_t rnd[16], char out[DEVHTTP_AWS_TRACE_ID_LEN + 1]);

/* {"message":MESSAGE,"traceId":TRACE} (compact, no newline, as AWS), as a
 * malloc'd NUL-terminated string. A message that is not UTF-8 has its
 * non-ASCII bytes replaced by '?'. Returns 0 or -ENOMEM. */
int devhttp_aws_body(const char *message, const char *trace_id, char **ret, size_t *ret_len);
