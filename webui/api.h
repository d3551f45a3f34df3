/* Types shared inside webui/: one admin request as the transport glue
 * (admin.c) collected it, one response as a handler built it, the Google
 * error envelope, and the pure JSON models of Google's DeviceRegistry and
 * Device (parse + validate, render). Nothing here knows libwebsockets, so
 * the handlers can be unit-tested and the body parsers fuzzed without a
 * socket. Not installed; the daemon sees only admin.h. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "webui/admin.h"

/* ---- request and response ---- */

enum api_method {
    API_GET = 1,
    API_POST,
    API_PATCH,
    API_PUT,
    API_DELETE,
    API_HEAD,
    API_OPTIONS,
    API_OTHER,
};

/* One query argument, decoded by lws ('+' already turned into a space). */
struct api_param {
    char *name;                         /* owned */
    char *value;                        /* owned; "" when the argument had no '=' */
};

struct api_request {
    enum api_method method;
    /* Decoded path without the query (owned by the glue). lws 4.1 decodes
     * %XX and collapses "//" before we see it; a route that needs the wire
     * form (AWS POST /topics/...) must get it from raw_path, which stays
     * NULL until the glue learns to capture it. */
    const char *path;
    const char *raw_path;
    const struct api_param *params;     /* borrowed, n_params of them, in wire order */
    size_t n_params;
    const char *body;                   /* borrowed, NUL-terminated, body_len bytes */
    size_t body_len;
    const char *content_type;           /* borrowed Content-Type header, or NULL */
    /* Any request header by its lower-case name (AWS passes principals in
     * x-amzn-principal...), or NULL when absent; the value lives until the
     * reply is written. header may be NULL: no header is known. */
    const char *(*header)(void *header_ud, const char *lower_name);
    void *header_ud;
};

struct api_response {
    int status;                         /* HTTP status */
    const char *content_type;           /* static string */
    char *body;                         /* owned (malloc) */
    size_t len;
    const char *allow;                  /* static; sent as Allow: on 405 */
    bool www_authenticate;              /* send WWW-Authenticate: Bearer */
    bool close;                         /* close the connection after the reply */
    bool wipe;                          /* the body holds a secret (a private key): wiped when freed */
    const char *error_type;             /* static; sent as x-amzn-ErrorType (AWS errors) */
};

/* A reply that waits for something outside the request (the broker's
 * PUBACK of a command). The transport glue owns one per connection and
 * lends it in api_env.deferred; it is defined there, opaque here. */
struct api_deferred;
struct aws_issuer;

/* Fills resp from the outcome of what a deferred reply waited for: err 0,
 * a negative errno from the operation, or -ETIMEDOUT when the glue gave up
 * waiting (API_DEFER_TIMEOUT_S). ctx is the handler's, from api_defer. */
typedef void api_finish_fn(struct api_response *resp, int err, void *ctx);

/* How long a deferred reply may wait before it is finished with -ETIMEDOUT
 * (its operation cancelled first). */
#define API_DEFER_TIMEOUT_S 10

/* What the handlers may touch: the store, the live hooks (webui/admin.h,
 * each may be NULL), the clock, and a reply that may wait. */
struct reg_shadow_reply;

typedef void api_retained_fn(void *req, int err, const struct api_retained *msgs, size_t n);

struct api_env {
    struct db *db;                      /* borrowed */
    void (*on_change)(void *ud, enum webui_change what, int64_t rowid);
    void *ud;
    int64_t now_us;                     /* wall clock at dispatch */
    int (*config_updated)(void *ud, int64_t device_rowid);
    int (*command_target)(void *ud, int64_t device_rowid, const char *subfolder);
    int (*publish)(void *ud, const char *topic, const void *data, size_t len, int qos,
                   void (*done)(void *req, int err), void *req);
    void (*publish_cancel)(void *ud, void *req);
    const char *google_prefix;          /* borrowed; NULL reads as "" */
    /* AWS data plane hooks (webui/admin.h); NULL: not available. */
    int (*aws_shadow)(void *ud, const char *thing, const char *shadow, int op, const void *payload,
                      size_t len, bool rest, struct reg_shadow_reply *out);
    int (*aws_publish)(void *ud, const char *topic, const void *data, size_t len, int qos,
                       bool retain, void (*done)(void *req, int err), void *req);
    int (*aws_retained)(void *ud, const char *filter, api_retained_fn *done, void *req);
    void (*aws_retained_cancel)(void *ud, void *req);
    struct api_deferred *deferred;      /* borrowed; NULL: this request cannot wait */
    /* AWS (borrowed; NULL strings read as the config defaults). */
    const char *aws_account_id;
    const char *aws_region;
    const char *aws_endpoint;
    const struct aws_issuer *aws_issuer;    /* the daemon's CA; NULL: cannot issue */
};

/* Arms d for a handler that returns before its reply is known: the handler
 * then starts one asynchronous operation whose completion is
 * api_deferred_done with d as its req, and returns 0 leaving resp empty.
 * When the completion runs, finish(resp, err, ctx) fills the reply and the
 * glue sends it. If the client goes away or the wait times out first, the
 * glue calls cancel(cancel_ud, d) so the completion never comes (and, on a
 * timeout, finishes with -ETIMEDOUT). ctx_free(ctx) (may be NULL) runs once
 * in every case, after finish or instead of it. */
void api_defer(struct api_deferred *d, api_finish_fn *finish, void *ctx,
               void (*ctx_free)(void *ctx), void (*cancel)(void *cancel_ud, void *req),
               void *cancel_ud);
/* Disarms d when the operation failed at once (its completion will never
 * run); frees ctx as api_defer says. The handler then answers itself. */
void api_defer_abort(struct api_deferred *d);
/* The completion to give the operation: req is the armed api_deferred.
 * Called from the event loop, at most once per api_defer. */
void api_deferred_done(void *req, int err);

/* Frees the body and zeroes the response. NULL-safe. */
void api_response_clear(struct api_response *r);
/* Serializes j (not consumed) as the response body with the given status,
 * content type application/json. Returns 0 or -ENOMEM. */
int api_response_json(struct api_response *r, int status, const json_t *j);
/* Copies text as the body. Returns 0 or -ENOMEM. */
int api_response_text(struct api_response *r, int status, const char *content_type,
                      const char *text, size_t len);

/* First query argument called name, or NULL. */
const char *api_request_param(const struct api_request *req, const char *name);
/* Strict unsigned decimal (no sign, no spaces, no overflow, at least one
 * digit). Returns 0 or -EINVAL. */
int api_parse_u64(const char *s, uint64_t *ret);
const char *api_method_name(enum api_method m);

/* ---- Google error envelope ---- */

/* google.rpc.Code names; api_google_http_status gives the HTTP code of the
 * standard mapping (reference section 3). */
enum api_gstatus {
    API_G_INVALID_ARGUMENT,
    API_G_FAILED_PRECONDITION,
    API_G_OUT_OF_RANGE,
    API_G_UNAUTHENTICATED,
    API_G_PERMISSION_DENIED,
    API_G_NOT_FOUND,
    API_G_ALREADY_EXISTS,
    API_G_ABORTED,
    API_G_RESOURCE_EXHAUSTED,
    API_G_INTERNAL,
    API_G_UNIMPLEMENTED,
    API_G_UNAVAILABLE,
    API_G_DEADLINE_EXCEEDED,
};

const char *api_gstatus_name(enum api_gstatus s);
int api_gstatus_http(enum api_gstatus s);

/* A validation failure: the status and the message for the envelope. */
struct api_err {
    enum api_gstatus status;
    char msg[512];
};
void api_err_set(struct api_err *e, enum api_gstatus s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills r with {"error":{"code":HTTP,"message":...,"status":NAME}}. The
 * HTTP code follows the canonical mapping. Returns 0 or -ENOMEM (r then
 * holds a fixed 500 body when even that could be allocated). */
int api_google_error(struct api_response *r, enum api_gstatus s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int api_google_error_from(struct api_response *r, const struct api_err *e);
/* Same envelope with an HTTP code outside the mapping (405, 411, 413). */
int api_google_error_http(struct api_response *r, int http, enum api_gstatus s,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- base64 (proto3 bytes) ---- */

/* Standard alphabet with padding, as proto3 JSON writes bytes. *ret is a
 * malloc'd NUL-terminated string. Returns 0 or -ENOMEM. */
int api_base64_encode(const void *data, size_t len, char **ret);
/* Accepts the standard and the URL-safe alphabet, padded or not, as proto3
 * JSON parsers do. *ret is malloc'd (never NULL on success, even for 0
 * bytes). Returns 0, -EINVAL on bad input, -EMSGSIZE over max bytes. */
int api_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len);

/* ---- Google models (google_model_*.c) ---- */

/* Google's limits the validators enforce (reference sections 0 and 3). */
#define API_G_MAX_EVENT_CONFIGS 10
#define API_G_MAX_REGISTRY_CERTS 10
#define API_G_MAX_METADATA_PAIRS 500
#define API_G_MAX_METADATA_KEY 128
#define API_G_MAX_METADATA_VALUE 32768
#define API_G_MAX_METADATA_TOTAL 262144
#define API_G_MAX_CONFIG_BYTES 65536
#define API_G_MAX_COMMAND_BYTES 262144
#define API_G_MAX_SUBFOLDER 256
#define API_G_MAX_KEY_PEM 16384

/* Top-level Device fields, as bits (output selection and field masks). */
enum api_dev_field {
    API_DEV_ID = 1u << 0,
    API_DEV_NAME = 1u << 1,
    API_DEV_NUM_ID = 1u << 2,
    API_DEV_CREDENTIALS = 1u << 3,
    API_DEV_LAST_HEARTBEAT_TIME = 1u << 4,
    API_DEV_LAST_EVENT_TIME = 1u << 5,
    API_DEV_LAST_STATE_TIME = 1u << 6,
    API_DEV_LAST_CONFIG_ACK_TIME = 1u << 7,
    API_DEV_LAST_CONFIG_SEND_TIME = 1u << 8,
    API_DEV_BLOCKED = 1u << 9,
    API_DEV_LAST_ERROR_TIME = 1u << 10,
    API_DEV_LAST_ERROR_STATUS = 1u << 11,
    API_DEV_CONFIG = 1u << 12,
    API_DEV_STATE = 1u << 13,
    API_DEV_LOG_LEVEL = 1u << 14,
    API_DEV_METADATA = 1u << 15,
    API_DEV_GATEWAY_CONFIG = 1u << 16,
    /* Not a top-level field: the one gatewayConfig subfield a PATCH may name. */
    API_DEV_GATEWAY_AUTH_METHOD = 1u << 17,
    API_DEV_ALL = (1u << 17) - 1,
};

/* Top-level DeviceRegistry fields (the ones a PATCH mask may name). */
enum api_reg_field {
    API_REG_ID = 1u << 0,
    API_REG_NAME = 1u << 1,
    API_REG_EVENT_CONFIGS = 1u << 2,
    API_REG_STATE_CONFIG = 1u << 3,
    API_REG_MQTT_CONFIG = 1u << 4,
    API_REG_HTTP_CONFIG = 1u << 5,
    API_REG_LOG_LEVEL = 1u << 6,
    API_REG_CREDENTIALS = 1u << 7,
};

/* A DeviceRegistry body, validated. */
struct api_registry_in {
    unsigned present;                   /* API_REG_* the body carried */
    char id[DB_ID_MAX];
    char name[512];                     /* as sent (must be empty or match) */
    /* owned: the stored fields, normalized (enums as names, defaults
     * dropped), keyed by their JSON names; what db extra_json holds. */
    json_t *extra;
};
void api_registry_in_clear(struct api_registry_in *r);

/* Parses and validates a DeviceRegistry JSON body (an empty body is {}).
 * create: the id is required and checked with reg_name_check_id, and
 * missing mqttConfig/httpConfig get Google's enabled defaults. now_us
 * dates registry certificates. Returns 0, or -EINVAL with *err filled;
 * -ENOMEM. ret is untouched on failure. */
int api_google_registry_parse(const char *body, size_t len, bool create, int64_t now_us,
                              struct api_registry_in *ret, struct api_err *err);
/* The same from an already parsed JSON value (root is borrowed; it must be
 * an object): the bulk import reads its lines itself. */
int api_google_registry_parse_json(const json_t *root, bool create, int64_t now_us,
                                   struct api_registry_in *ret, struct api_err *err);
/* Merges the masked registry fields of `in` into the stored extra_json text
 * (a field the body left out is cleared); a cleared mqttConfig/httpConfig
 * falls back to Google's enabled default. *ret is malloc'd JSON text.
 * Returns 0, -ENOMEM. */
int api_google_registry_extra(const char *old_extra, const struct api_registry_in *in,
                              unsigned mask, char **ret);

/* A Device body, validated. */
struct api_device_in {
    unsigned present;                   /* API_DEV_* the body carried */
    char id[DB_ID_MAX];
    char name[512];
    char num_id[32];
    bool blocked;
    json_t *metadata;                   /* owned object, or NULL */
    json_t *gateway_config;             /* owned object (normalized), or NULL */
    const char *log_level;              /* static enum name, or NULL (unspecified) */
    struct db_credential creds[DB_MAX_CREDENTIALS];   /* key_pem owned */
    size_t n_creds;
    uint8_t *config_data;               /* owned; set when config.binaryData was sent */
    size_t config_len;
};
void api_device_in_clear(struct api_device_in *d);

/* Parses and validates a Device JSON body. create: the id is required and
 * checked; config.version, when sent, must be 0. Credentials are checked
 * with reg_cred_check at now_us; messages name the position
 * ("credentials[1].publicKey.key: ..."). Returns 0, or -EINVAL with *err;
 * -ENOMEM. ret is untouched on failure. */
int api_google_device_parse(const char *body, size_t len, bool create, int64_t now_us,
                            struct api_device_in *ret, struct api_err *err);

/* How a Device body's credentials are checked: reg_cred_check's contract
 * (0, or -EINVAL with a reason in why). A bulk import caches verdicts. */
struct api_cred_checker {
    int (*check)(void *ud, enum db_key_format format, const char *pem, int64_t now_us,
                 char *why, size_t why_len);
    void *ud;
};
/* api_google_device_parse over an already parsed JSON value (root borrowed,
 * an object), with the credential checks done by chk (NULL:
 * reg_cred_check). */
int api_google_device_parse_json(const json_t *root, bool create, int64_t now_us,
                                 const struct api_cred_checker *chk, struct api_device_in *ret,
                                 struct api_err *err);

/* ModifyCloudToDeviceConfigRequest {versionToUpdate, binaryData}. */
struct api_config_in {
    int64_t version_to_update;          /* 0: no check */
    uint8_t *data;                      /* owned, never NULL after a parse */
    size_t len;                         /* <= API_G_MAX_CONFIG_BYTES */
};
void api_config_in_clear(struct api_config_in *c);
/* versionToUpdate as a string or a number (proto3 int64), binaryData as
 * base64 (absent = empty). Returns 0, -EINVAL with *err, -ENOMEM; ret
 * untouched on failure. */
int api_google_config_parse(const char *body, size_t len, struct api_config_in *ret,
                            struct api_err *err);

/* SendCommandToDeviceRequest {binaryData, subfolder}. */
struct api_command_in {
    char subfolder[API_G_MAX_SUBFOLDER + 1];    /* "" = none */
    uint8_t *data;                      /* owned, never NULL after a parse */
    size_t len;                         /* <= API_G_MAX_COMMAND_BYTES */
};
void api_command_in_clear(struct api_command_in *c);
/* The subfolder is at most API_G_MAX_SUBFOLDER characters without '+' or
 * '#' (it becomes MQTT topic levels) [PROTO]. Same returns as above. */
int api_google_command_parse(const char *body, size_t len, struct api_command_in *ret,
                             struct api_err *err);

/* Bind/UnbindDeviceFromGatewayRequest {gatewayId, deviceId}: each a string
 * id or numId (a JSON number is taken as a numId). Both required. */
struct api_bind_in {
    char gateway_id[DB_ID_MAX];
    char device_id[DB_ID_MAX];
};
int api_google_bind_parse(const char *body, size_t len, struct api_bind_in *ret,
                          struct api_err *err);

/* Parses a field mask ("a,b.c", snake_case or lowerCamel) into API_DEV_*
 * bits; "gateway_config.gateway_auth_method" gives API_DEV_GATEWAY_AUTH_METHOD,
 * any other subpath selects its top-level field. Returns 0, or -EINVAL with
 * *err naming the unknown path. */
int api_google_device_mask(const char *mask, unsigned *ret, struct api_err *err);
/* Same for DeviceRegistry paths (API_REG_*). */
int api_google_registry_mask(const char *mask, unsigned *ret, struct api_err *err);

/* Builds "projects/P/locations/L/registries/R" into out. Returns 0 or
 * -ENAMETOOLONG. */
int api_google_registry_name(const char *project, const char *location, const char *id, char *out,
                             size_t cap);

/* Renders a DeviceRegistry (id, name, then the stored fields). NULL on
 * allocation failure. */
json_t *api_google_registry_json(const char *reg_name, const struct db_registry *r);

/* What a Device rendering reads besides the device row. */
struct api_device_view {
    const struct db_device *dev;
    const struct db_credential *creds;  /* n_creds of them */
    size_t n_creds;
    const struct db_config *config;     /* NULL: none */
    const struct db_state *state;       /* NULL: none */
};
/* Renders the fields in `fields` (API_DEV_*) of a Device in Google's shape:
 * name from the numId, numId as a string, never-set timestamps as
 * "1970-01-01T00:00:00Z", enums as names, blocked only when true. NULL on
 * allocation failure. */
json_t *api_google_device_json(const char *reg_name, const struct api_device_view *v,
                               unsigned fields);

/* A DeviceConfig {version, cloudUpdateTime, deviceAckTime (when acked),
 * binaryData} and a DeviceState {updateTime, binaryData}. NULL on
 * allocation failure. */
json_t *api_google_config_json(const struct db_config *c);
json_t *api_google_state_json(const struct db_state *s);

/* Merges the masked device fields of `in` into the stored extra_json text
 * (metadata, gatewayConfig, logLevel). *ret is malloc'd JSON text or NULL
 * when nothing is left. Returns 0, -ENOMEM. */
int api_google_device_extra(const char *old_extra, const struct api_device_in *in, unsigned mask,
                            char **ret);

/* ---- Google routes (google_api*.c) ---- */

/* Serves a request under /v1/. Returns 0 with *resp filled (success or a
 * Google error), or -ENOENT when no Google route matches the path (the
 * caller answers 404). Calls env->on_change after committed changes that
 * affect live sessions. */
int api_google_handle(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp);

/* ---- AWS IoT control plane (aws_api*.c) ---- */

/* Fills r with AWS's error shape: HTTP status http, body {"message": ...}
 * and x-amzn-ErrorType: type (a static string, e.g.
 * "ResourceNotFoundException"). Returns 0 or -ENOMEM (r then holds a fixed
 * 500 body when even that could be allocated). */
int api_aws_error(struct api_response *r, int http, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Whether path (decoded) is one of the AWS IoT control-plane paths, which
 * answer in AWS's shapes and accept SigV4 (DESIGN.md "Config"). */
bool api_aws_is_path(const char *path);
/* The path as an AWS SDK put it on the wire, rebuilt from the decoded
 * path: every route label percent-encoded with only A-Za-z0-9-_.~ left as
 * they are (botocore's percent_encode), so '/' inside a label that may
 * hold one (the ARN in POST /attached-policies/{target}) becomes %2F.
 * Returns the length, or -ENOSPC. */
int api_aws_wire_path(const char *path, char *out, size_t cap);
/* Serves an AWS control-plane request. Returns 0 with *resp filled
 * (success or an AWS error), or -ENOENT when no AWS route matches the
 * method and path (the caller answers AWS's 404). Calls env->on_change
 * after committed changes that affect live sessions
 * (WEBUI_AWS_CERT_CHANGED, WEBUI_AWS_POLICIES_CHANGED). */
int api_aws_handle(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp);
/* The answer to a request no AWS route matches: 404
 * ResourceNotFoundException {"message": "Not Found"}, as AWS's front end
 * answers an unknown path of the IoT endpoint. */
int api_aws_not_found(struct api_response *r);
