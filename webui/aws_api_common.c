/* What every AWS IoT control-plane handler shares: AWS's error shape
 * ({"message"} + x-amzn-ErrorType, with resourceId/resourceArn where the
 * model has them), compact JSON replies with epoch-second timestamps,
 * typed access to JSON bodies and query flags, paging by opaque row-id
 * markers, the model's name and id rules worded as AWS's request
 * validation, ARNs, principal (certificate ARN) resolution, and running
 * several writes as one store transaction. */
#include "webui/aws_api.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"

#define PAGE_MAX 250            /* the model's PageSize / RegistryMaxResults maximum */
#define NAME_MAX_LEN 128

/* ---- errors ---- */

/* A message may quote a name from the decoded path, which need not be
 * UTF-8: jansson refuses such a string, so bytes beyond ASCII become '?'. */
static json_t *message_string(const char *msg)
{
    char safe[1024];
    size_t i;
    json_t *s = json_string(msg);

    if (s)
        return s;
    for (i = 0; msg[i] && i + 1 < sizeof(safe); i++)
        safe[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
    safe[i] = '\0';
    return json_string(safe);
}

static int error_body(struct api_response *r, int http, const char *type, const char *msg,
                      const char *id, const char *arn)
{
    static const char oom[] = "{\"message\":\"Out of memory.\"}";
    json_t *j = json_object();
    char *text = NULL;

    if (j && json_object_set_new(j, "message", message_string(msg)) < 0)
        goto fail;

    if (j && id && json_object_set_new(j, "resourceId", message_string(id)) < 0)
        goto fail;
    if (j && arn && json_object_set_new(j, "resourceArn", message_string(arn)) < 0)
        goto fail;
    text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!text)
        goto fail;
    json_decref(j);
    free(r->body);
    r->status = http;
    r->content_type = "application/json";
    r->body = text;
    r->len = strlen(text);
    r->error_type = type;
    return 0;
fail:
    json_decref(j);
    api_response_clear(r);
    if (api_response_text(r, 500, "application/json", oom, sizeof(oom) - 1) < 0) {
        r->status = 500;
        r->content_type = "application/json";
    }
    r->error_type = API_AWS_INTERNAL;
    return -ENOMEM;
}

static int error_v(struct api_response *r, int http, const char *type, const char *fmt,
                   va_list ap)
{
    char msg[1024];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
#pragma GCC diagnostic pop
    return error_body(r, http, type, msg, NULL, NULL);
}

int api_aws_error(struct api_response *r, int http, const char *type, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = error_v(r, http, type, fmt, ap);
    va_end(ap);
    return rc;
}

int api_aws_not_found(struct api_response *r)
{
    return api_aws_error(r, 404, API_AWS_NOT_FOUND, "Not Found");
}

int api_aws_fail(struct api_response *resp, int http, const char *type, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_v(resp, http, type, fmt, ap);
    va_end(ap);
    return 0;
}

int api_aws_invalid(struct api_response *resp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_v(resp, 400, API_AWS_INVALID, fmt, ap);
    va_end(ap);
    return 0;
}

int api_aws_not_found_msg(struct api_response *resp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_v(resp, 404, API_AWS_NOT_FOUND, fmt, ap);
    va_end(ap);
    return 0;
}

int api_aws_oom(struct api_response *resp)
{
    api_aws_error(resp, 500, API_AWS_INTERNAL, "Out of memory.");
    return 0;
}

int api_aws_db_failure(const struct api_env *env, struct api_response *resp, int rc,
                       const char *what)
{
    if (rc == -ENOMEM)
        return api_aws_oom(resp);
    log_err("admin: aws %s failed: %s (%s)", what, strerror(rc < 0 ? -rc : rc),
            db_last_error(env->db));
    api_aws_error(resp, 500, API_AWS_INTERNAL, "Internal failure.");
    return 0;
}

int api_aws_already_exists(struct api_response *resp, const char *msg, const char *id,
                           const char *arn)
{
    error_body(resp, 409, API_AWS_EXISTS, msg, id, arn);
    return 0;
}

/* ---- replies ---- */

int api_aws_reply_take(struct api_response *resp, json_t *j)
{
    char *text;

    if (!j)
        return api_aws_oom(resp);
    /* 13 significant digits keep a millisecond timestamp exact
     * (1700000000.123) without binary noise. */
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(13));
    json_decref(j);
    if (!text)
        return api_aws_oom(resp);
    free(resp->body);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = text;
    resp->len = strlen(text);
    resp->error_type = NULL;
    return 0;
}

int api_aws_reply_empty(struct api_response *resp)
{
    return api_response_text(resp, 200, "application/json", "{}", 2) < 0 ? api_aws_oom(resp) : 0;
}

json_t *api_aws_time(int64_t unix_us)
{
    return json_real((double)(unix_us / 1000) / 1000.0);
}

/* ---- bodies and query arguments ---- */

int api_aws_body(const struct api_request *req, struct api_response *resp, json_t **ret)
{
    json_error_t jerr;
    json_t *j;

    if (!req->body || req->body_len == 0) {
        *ret = json_object();
        if (!*ret) {
            api_aws_oom(resp);
            return -ENOMEM;
        }
        return 0;
    }
    j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        api_aws_invalid(resp, "The request body is not a valid JSON object.");
        return -EINVAL;
    }
    *ret = j;
    return 0;
}

int api_aws_str(const json_t *body, const char *key, size_t max, bool required,
                const char **ret, struct api_response *resp)
{
    const json_t *v = json_object_get(body, key);

    *ret = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        api_aws_invalid(resp, "1 validation error detected: Value null at '%s' failed to "
                        "satisfy constraint: Member must not be null", key);
        return -EINVAL;
    }
    if (!json_is_string(v)) {
        api_aws_invalid(resp, "%s: expected a string.", key);
        return -EINVAL;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        api_aws_invalid(resp, "1 validation error detected: Value at '%s' failed to satisfy "
                        "constraint: Member must have length less than or equal to %zu",
                        key, max);
        return -EINVAL;
    }
    *ret = json_string_value(v);
    return 0;
}

int api_aws_bool(const json_t *body, const char *key, bool *ret, struct api_response *resp)
{
    const json_t *v = json_object_get(body, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        api_aws_invalid(resp, "%s: expected a boolean.", key);
        return -EINVAL;
    }
    *ret = json_is_true(v);
    return 0;
}

int api_aws_flag(const struct api_request *req, const char *name, bool *ret,
                 struct api_response *resp)
{
    const char *v = api_request_param(req, name);

    if (!v)
        return 0;
    if (strcasecmp(v, "true") == 0) {
        *ret = true;
    } else if (strcasecmp(v, "false") == 0) {
        *ret = false;
    } else {
        api_aws_invalid(resp, "%s: expected true or false.", name);
        return -EINVAL;
    }
    return 0;
}

int api_aws_page_args(const struct api_request *req, const char *size_name,
                      const char *token_name, int def, struct api_aws_page *ret,
                      struct api_response *resp)
{
    const char *size = api_request_param(req, size_name);
    const char *token = api_request_param(req, token_name);
    uint64_t v;

    ret->limit = def;
    ret->after = 0;
    if (size) {
        if (api_parse_u64(size, &v) < 0 || v < 1 || v > PAGE_MAX) {
            api_aws_invalid(resp, "1 validation error detected: Value '%.32s' at '%s' failed "
                            "to satisfy constraint: Member must have value between 1 and %d",
                            size, size_name, PAGE_MAX);
            return -EINVAL;
        }
        ret->limit = (int)v;
    }
    /* The token is the row id of the last row served: opaque to clients,
     * and inside the model's Marker alphabet. */
    if (token && *token) {
        if (api_parse_u64(token, &v) < 0 || v > INT64_MAX) {
            api_aws_invalid(resp, "%s: invalid pagination token.", token_name);
            return -EINVAL;
        }
        ret->after = (int64_t)v;
    }
    return 0;
}

int api_aws_reply_list(struct api_response *resp, const char *key, json_t *arr,
                       const char *token_key, bool more, int64_t last)
{
    json_t *out = json_object();
    char tok[24];

    if (!out || json_object_set(out, key, arr) < 0)
        goto oom;
    if (more) {
        snprintf(tok, sizeof(tok), "%lld", (long long)last);
        if (json_object_set_new(out, token_key, json_string(tok)) < 0)
            goto oom;
    }
    return api_aws_reply_take(resp, out);
oom:
    json_decref(out);
    return api_aws_oom(resp);
}

bool api_aws_list_full(struct api_aws_list *a)
{
    if (a->n < a->limit)
        return false;
    a->more = true;
    return true;
}

int api_aws_list_add(struct api_aws_list *a, int64_t rowid, json_t *j)
{
    if (!j || json_array_append_new(a->arr, j) < 0) {
        a->err = -ENOMEM;
        return 1;
    }
    a->n++;
    a->last = rowid;
    return 0;
}

int api_aws_list_finish(const struct api_env *env, struct api_response *resp,
                        struct api_aws_list *a, int rc, const char *what, const char *key,
                        const char *token_key)
{
    if (rc >= 0 && a->err < 0)
        rc = a->err;
    if (rc < 0)
        api_aws_db_failure(env, resp, rc, what);
    else
        api_aws_reply_list(resp, key, a->arr, token_key, a->more, a->last);
    json_decref(a->arr);
    a->arr = NULL;
    return 0;
}

/* ---- names, ids, ARNs ---- */

const char *api_aws_account(const struct api_env *env)
{
    return env->aws_account_id && *env->aws_account_id ? env->aws_account_id
                                                        : API_AWS_DEFAULT_ACCOUNT;
}

const char *api_aws_region(const struct api_env *env)
{
    return env->aws_region && *env->aws_region ? env->aws_region : API_AWS_DEFAULT_REGION;
}

int api_aws_arn(const struct api_env *env, const char *kind, const char *name, char *out,
                size_t cap)
{
    int n = snprintf(out, cap, "arn:aws:iot:%s:%s:%s/%s", api_aws_region(env),
                     api_aws_account(env), kind, name);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static bool name_char(char c, enum api_aws_name_kind kind)
{
    if (isalnum((unsigned char)c) || c == '_' || c == '-')
        return true;
    if (kind == API_AWS_NAME_THING)
        return c == ':';
    return c == '+' || c == '=' || c == ',' || c == '.' || c == '@';
}

int api_aws_check_name(struct api_response *resp, const char *field, const char *name,
                       enum api_aws_name_kind kind)
{
    static const char *const patterns[] = {
        [API_AWS_NAME_THING] = "[a-zA-Z0-9:_-]+",
        [API_AWS_NAME_POLICY] = "[\\w+=,.@-]+",
    };
    size_t len = strlen(name);
    char shown[160];

    log_escape(shown, sizeof(shown), name, len);
    if (len < 1 || len > NAME_MAX_LEN) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at '%s' failed to "
                        "satisfy constraint: Member must have length %s %d", shown, field,
                        len < 1 ? "greater than or equal to" : "less than or equal to",
                        len < 1 ? 1 : NAME_MAX_LEN);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!name_char(name[i], kind)) {
            api_aws_invalid(resp, "1 validation error detected: Value '%s' at '%s' failed to "
                            "satisfy constraint: Member must satisfy regular expression "
                            "pattern: %s", shown, field, patterns[kind]);
            return -EINVAL;
        }
    }
    return 0;
}

int api_aws_cert_id(struct api_response *resp, const char *raw, char out[DB_AWS_CERT_ID_MAX])
{
    size_t len = strlen(raw);
    char shown[96];

    if (len == DB_AWS_CERT_ID_MAX - 1) {
        size_t i;
        for (i = 0; i < len && isxdigit((unsigned char)raw[i]); i++)
            out[i] = (char)tolower((unsigned char)raw[i]);
        if (i == len) {
            out[len] = '\0';
            return 0;
        }
    }
    log_escape(shown, sizeof(shown), raw, len);
    api_aws_invalid(resp, "The certificate id '%s' is not valid: expected 64 hexadecimal "
                    "characters.", shown);
    return -EINVAL;
}

int api_aws_uuid(char out[37])
{
    uint8_t b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t k = getrandom(b + got, sizeof(b) - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -EIO;
        }
        got += (size_t)k;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);     /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);     /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* "arn:aws:iot:REGION:ACCOUNT:cert/ID". Only certificate principals exist
 * here: thing groups and Cognito identities are not emulated. */
int api_aws_resolve_cert_arn(const struct api_env *env, struct api_response *resp,
                             const char *field, const char *principal,
                             char arn[DB_AWS_ARN_MAX], struct db_aws_cert *cert)
{
    static const char prefix[] = "arn:aws:iot:";
    const char *region, *account, *rest, *colon;
    char id[DB_AWS_CERT_ID_MAX], shown[160];
    struct db_aws_cert c;
    size_t rlen, alen;
    int rc;

    log_escape(shown, sizeof(shown), principal, strlen(principal));
    if (strncmp(principal, prefix, sizeof(prefix) - 1) != 0)
        goto invalid;
    region = principal + sizeof(prefix) - 1;
    colon = strchr(region, ':');
    if (!colon)
        goto invalid;
    rlen = (size_t)(colon - region);
    account = colon + 1;
    colon = strchr(account, ':');
    if (!colon)
        goto invalid;
    alen = (size_t)(colon - account);
    rest = colon + 1;
    if (strncmp(rest, "thinggroup/", 11) == 0) {
        api_aws_not_found_msg(resp, "No thing group with ARN %s exists.", shown);
        return -ENOENT;
    }
    if (strncmp(rest, "cert/", 5) != 0)
        goto invalid;
    if (strlen(rest + 5) != DB_AWS_CERT_ID_MAX - 1 || api_aws_cert_id(resp, rest + 5, id) < 0)
        goto invalid;
    if (rlen != strlen(api_aws_region(env)) || strncmp(region, api_aws_region(env), rlen) != 0 ||
        alen != strlen(api_aws_account(env)) ||
        strncmp(account, api_aws_account(env), alen) != 0) {
        api_aws_not_found_msg(resp, "The certificate %s does not belong to this account and "
                              "region.", shown);
        return -ENOENT;
    }
    memset(&c, 0, sizeof(c));
    rc = db_aws_cert_get(env->db, id, &c);
    if (rc == -ENOENT) {
        api_aws_not_found_msg(resp, "The certificate %s does not exist.", shown);
        return rc;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "certificate lookup");
        return rc;
    }
    if (api_aws_arn(env, "cert", c.id, arn, DB_AWS_ARN_MAX) < 0) {
        db_aws_cert_clear(&c);
        api_aws_invalid(resp, "%s: too long.", field);
        return -EINVAL;
    }
    if (cert)
        *cert = c;
    else
        db_aws_cert_clear(&c);
    return 0;
invalid:
    api_aws_invalid(resp, "%s '%s' is not valid: expected a certificate ARN "
                    "(arn:aws:iot:REGION:ACCOUNT:cert/CERTIFICATE_ID).", field, shown);
    return -EINVAL;
}

/* ---- writes ---- */

int api_aws_in_transaction(const struct api_env *env, struct api_response *resp,
                           int (*fn)(const struct api_env *env, void *ctx,
                                     struct api_response *resp),
                           void *ctx)
{
    int rc = db_begin(env->db);

    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "begin");
        return rc;
    }
    rc = fn(env, ctx, resp);
    if (rc >= 0) {
        int crc = db_commit(env->db);
        if (crc >= 0)
            return rc;
        api_aws_db_failure(env, resp, crc, "commit");
        rc = crc;
    }
    if (db_rollback(env->db) < 0)
        log_err("admin: aws rollback failed: %s", db_last_error(env->db));
    return rc;
}

void api_aws_notify(const struct api_env *env, enum webui_change what, int64_t rowid)
{
    if (env->on_change)
        env->on_change(env->ud, what, rowid);
}
