/* Shared by the AWS IoT control-plane route files (aws_api*.c), nothing
 * else: the matched route, the handlers the router (aws_api.c) calls, and
 * the helpers they share (aws_api_common.c): AWS's error replies, JSON
 * bodies and replies, query flags, paging, ARNs, name rules, principal
 * resolution and store transactions. Every handler and helper that takes
 * resp leaves it filled (the result or an AWS error) when it says so;
 * handlers return 0. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db_aws.h"
#include "webui/api.h"

/* The config defaults (DESIGN.md "Config"), for an env without them. */
#define API_AWS_DEFAULT_ACCOUNT "123456789012"
#define API_AWS_DEFAULT_REGION "us-east-1"
#define API_AWS_DEFAULT_ENDPOINT "localhost"

/* AWS's error codes and the HTTP status the iot model gives each
 * [aws-iot-core.md 5.1]. */
#define API_AWS_INVALID "InvalidRequestException"                   /* 400 */
#define API_AWS_NOT_FOUND "ResourceNotFoundException"               /* 404 */
#define API_AWS_EXISTS "ResourceAlreadyExistsException"             /* 409 */
#define API_AWS_DELETE_CONFLICT "DeleteConflictException"           /* 409 */
#define API_AWS_VERSION_CONFLICT "VersionConflictException"         /* 409 */
#define API_AWS_VERSIONS_LIMIT "VersionsLimitExceededException"     /* 409 */
#define API_AWS_CERT_STATE "CertificateStateException"              /* 406 */
#define API_AWS_CERT_VALIDATION "CertificateValidationException"    /* 400 */
#define API_AWS_REGCODE_VALIDATION "RegistrationCodeValidationException" /* 400 */
#define API_AWS_MALFORMED_POLICY "MalformedPolicyException"         /* 400 */
#define API_AWS_LIMIT "LimitExceededException"                      /* 410 */
#define API_AWS_INTERNAL "InternalFailureException"                 /* 500 */
#define API_AWS_UNAVAILABLE "ServiceUnavailableException"           /* 503 */

/* Route labels, decoded, borrowed from the router's copy of the path. */
struct api_aws_route {
    const char *label[2];
};

typedef int api_aws_handler(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp);

/* aws_api_things.c: things */
api_aws_handler api_aws_thing_create, api_aws_thing_describe, api_aws_things_list,
    api_aws_thing_update, api_aws_thing_delete;
/* aws_api_thing_types.c: thing types */
api_aws_handler api_aws_thing_type_create, api_aws_thing_type_describe,
    api_aws_thing_types_list, api_aws_thing_type_deprecate, api_aws_thing_type_delete;
/* aws_api_certs.c: device certificates */
api_aws_handler api_aws_keys_and_cert_create, api_aws_cert_from_csr, api_aws_cert_register,
    api_aws_cert_register_no_ca, api_aws_cert_describe, api_aws_certs_list, api_aws_certs_by_ca,
    api_aws_cert_update, api_aws_cert_delete;
/* aws_api_cacerts.c: CA certificates and the registration code */
api_aws_handler api_aws_regcode_get, api_aws_regcode_delete, api_aws_cacert_register,
    api_aws_cacert_describe, api_aws_cacerts_list, api_aws_cacert_update, api_aws_cacert_delete;
/* aws_api_policies.c: policies and their versions */
api_aws_handler api_aws_policy_create, api_aws_policy_get, api_aws_policies_list,
    api_aws_policy_delete, api_aws_policy_version_create, api_aws_policy_version_get,
    api_aws_policy_versions_list, api_aws_policy_version_set_default,
    api_aws_policy_version_delete;
/* aws_api_attach.c: policy targets, legacy principal policies, thing principals */
api_aws_handler api_aws_policy_attach, api_aws_policy_detach, api_aws_attached_policies_list,
    api_aws_policy_targets_list, api_aws_principal_policy_attach,
    api_aws_principal_policy_detach, api_aws_principal_policies_list,
    api_aws_policy_principals_list, api_aws_thing_principal_attach,
    api_aws_thing_principal_detach, api_aws_thing_principals_list,
    api_aws_principal_things_list;
/* aws_api_templates.c: provisioning templates and their versions */
api_aws_handler api_aws_template_create, api_aws_templates_list, api_aws_template_describe,
    api_aws_template_update, api_aws_template_delete, api_aws_template_version_create,
    api_aws_template_versions_list, api_aws_template_version_describe,
    api_aws_template_version_delete;
/* aws_api_shadows.c: the data plane's Device Shadow calls */
api_aws_handler api_aws_shadow_get, api_aws_shadow_update, api_aws_shadow_delete,
    api_aws_shadow_list_named;
/* aws_api_publish.c: the data plane's Publish */
api_aws_handler api_aws_data_publish;
/* aws_api_retained.c: GetRetainedMessage, ListRetainedMessages */
api_aws_handler api_aws_retained_get, api_aws_retained_list;

/* ---- errors (each fills resp and returns 0, so a handler can return it) ---- */

/* api_aws_error that returns 0 (the reply is filled either way). */
int api_aws_fail(struct api_response *resp, int http, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int api_aws_invalid(struct api_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int api_aws_not_found_msg(struct api_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int api_aws_oom(struct api_response *resp);
/* A store failure: logged with db_last_error, 500 InternalFailureException
 * (-ENOMEM answers without the log line). */
int api_aws_db_failure(const struct api_env *env, struct api_response *resp, int rc,
                       const char *what);
/* 409 ResourceAlreadyExistsException with AWS's resourceId/resourceArn. */
int api_aws_already_exists(struct api_response *resp, const char *msg, const char *id,
                           const char *arn);

/* ---- replies ---- */

/* 200 with j (consumed; NULL answers 500) as compact JSON. */
int api_aws_reply_take(struct api_response *resp, json_t *j);
/* 200 {} for operations without output. */
int api_aws_reply_empty(struct api_response *resp);
/* A timestamp as AWS's JSON carries it: epoch seconds, a number with
 * millisecond precision. NULL on allocation failure. */
json_t *api_aws_time(int64_t unix_us);

/* ---- request bodies and query arguments ---- */

/* The body as a JSON object (an empty body reads as {}). *ret is owned by
 * the caller. Returns 0, or -EINVAL with 400 in resp. */
int api_aws_body(const struct api_request *req, struct api_response *resp, json_t **ret);
/* body[key] as a string of at most max bytes: *ret borrowed from body, NULL
 * when absent (or JSON null). Returns 0, or -EINVAL with 400 in resp (wrong
 * type, too long, or absent while required). */
int api_aws_str(const json_t *body, const char *key, size_t max, bool required,
                const char **ret, struct api_response *resp);
/* body[key] as a boolean; *ret keeps its value when absent. */
int api_aws_bool(const json_t *body, const char *key, bool *ret, struct api_response *resp);
/* Query flag name: "true"/"false" (any case); *ret keeps its value when
 * absent. Returns 0, or -EINVAL with 400 in resp. */
int api_aws_flag(const struct api_request *req, const char *name, bool *ret,
                 struct api_response *resp);

/* One page of a list: at most limit rows after the row id `after`. */
struct api_aws_page {
    int limit;
    int64_t after;
};
/* Reads the page size (size_name: pageSize or maxResults, 1..250,
 * default def) and the token (token_name: marker or nextToken: the last
 * row id served, as the decimal text the previous page returned). Returns
 * 0, or -EINVAL with 400 in resp. */
int api_aws_page_args(const struct api_request *req, const char *size_name,
                      const char *token_name, int def, struct api_aws_page *ret,
                      struct api_response *resp);
/* Builds {key: arr, token_key: "LAST"} (token_key only when more). arr is
 * borrowed. Replies 200 (or 500). */
int api_aws_reply_list(struct api_response *resp, const char *key, json_t *arr,
                       const char *token_key, bool more, int64_t last);

/* One list page being built by a store callback: ask the store for
 * limit + 1 rows; the row past the page only says there is a next one. */
struct api_aws_list {
    const struct api_env *env;
    json_t *arr;                /* owned until api_aws_list_finish */
    int limit, n;
    bool more;
    int64_t last;               /* row id of the last row served */
    int err;
    void *ctx;                  /* the handler's */
};
/* In a callback, first: true (and more set) when the page is full; the
 * callback then returns 1 to stop. */
bool api_aws_list_full(struct api_aws_list *a);
/* Appends j (consumed; NULL counts as out of memory) for row rowid.
 * Returns the callback's return value: 0 go on, 1 stop (a->err set). */
int api_aws_list_add(struct api_aws_list *a, int64_t rowid, json_t *j);
/* Replies {key: [...], token_key: ...} or the error (rc from the store, or
 * a->err), and frees a->arr. Returns 0. */
int api_aws_list_finish(const struct api_env *env, struct api_response *resp,
                        struct api_aws_list *a, int rc, const char *what, const char *key,
                        const char *token_key);

/* ---- names, ids, ARNs ---- */

const char *api_aws_account(const struct api_env *env);
const char *api_aws_region(const struct api_env *env);
/* "arn:aws:iot:REGION:ACCOUNT:KIND/NAME" into out. Returns 0 or
 * -ENAMETOOLONG. */
int api_aws_arn(const struct api_env *env, const char *kind, const char *name, char *out,
                size_t cap);

enum api_aws_name_kind {
    API_AWS_NAME_THING,     /* things and thing types: [a-zA-Z0-9:_-]{1,128} */
    API_AWS_NAME_POLICY,    /* [\w+=,.@-]{1,128} */
};
/* Checks a name against the model's rule; on failure 400 in resp, worded
 * as AWS's request validation ("1 validation error detected: ..."), field
 * naming the parameter. Returns 0 or -EINVAL. */
int api_aws_check_name(struct api_response *resp, const char *field, const char *name,
                       enum api_aws_name_kind kind);
/* A certificate id: 64 hex digits, any case; out gets it in lower case.
 * Returns 0, or -EINVAL with 400 in resp. */
int api_aws_cert_id(struct api_response *resp, const char *raw, char out[DB_AWS_CERT_ID_MAX]);
/* A fresh random UUID (version 4) as text. Returns 0 or -EIO. */
int api_aws_uuid(char out[37]);

/* A principal or policy target (a certificate ARN of this account and
 * region) resolved to its canonical ARN (lower-case id) and certificate.
 * field names it in messages. Returns 0; -EINVAL with 400 (not a
 * certificate ARN) or -ENOENT with 404 (no such certificate here) in resp;
 * other errors with 500 in resp. On success the caller clears *cert (may
 * be NULL when not wanted). */
int api_aws_resolve_cert_arn(const struct api_env *env, struct api_response *resp,
                             const char *field, const char *principal,
                             char arn[DB_AWS_ARN_MAX], struct db_aws_cert *cert);

/* The policy called name (its name checked first). Returns 0, or < 0 with
 * 400/404/500 in resp. (aws_api_policies.c) */
int api_aws_load_policy(const struct api_env *env, struct api_response *resp, const char *name,
                        struct db_aws_policy *p);
/* A list callback's step for one policy: AWS's Policy {policyName,
 * policyArn} for row rowid; returns the callback's verdict, as
 * api_aws_list_add. (aws_api_policies.c) */
int api_aws_list_policy(struct api_aws_list *a, int64_t rowid, const struct db_aws_policy *p);
/* The thing called name (its name checked first). Returns 0, or < 0 with
 * 400/404/500 in resp; *t is safe to clear either way. (aws_api_things.c) */
int api_aws_load_thing(const struct api_env *env, struct api_response *resp, const char *name,
                       struct db_aws_thing *t);
/* The thing type called name (its name checked first). Returns 0, or < 0
 * with 400/404/500 in resp; *t is safe to clear either way.
 * (aws_api_thing_types.c) */
int api_aws_load_thing_type(const struct api_env *env, struct api_response *resp,
                            const char *name, struct db_aws_thing_type *t);
/* An attribute name as the model allows it: [a-zA-Z0-9_.,@/:#-]{1,128}.
 * (aws_api_things.c, also for thing types' searchable attributes) */
bool api_aws_attr_name_ok(const char *name);
/* Stored JSON object text (thing attributes, thing type properties) as a
 * new object: {} for NULL or anything but an object; NULL only when out
 * of memory. (aws_api_things.c) */
json_t *api_aws_stored_object(const char *text);

/* ---- writes ---- */

/* Runs fn inside one store transaction: commits when it returns >= 0,
 * rolls back otherwise (fn then has filled resp). Returns fn's result, or
 * the store's error (500 in resp). */
int api_aws_in_transaction(const struct api_env *env, struct api_response *resp,
                           int (*fn)(const struct api_env *env, void *ctx,
                                     struct api_response *resp),
                           void *ctx);
void api_aws_notify(const struct api_env *env, enum webui_change what, int64_t rowid);
