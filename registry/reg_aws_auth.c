/* AWS device authentication and policy compilation over the store; see
 * reg_aws_auth.h. */
#include "registry/reg_aws_auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A document list for one compilation. AWS allows 10 policies per
 * certificate by default; more are compiled too, up to this bound. */
#define MAX_DOCS 64
/* Thing attributes: AWS allows 50 per thing. */
#define MAX_THING_ATTRS 64

void reg_aws_auth_clear(struct reg_aws_auth *a)
{
    if (!a)
        return;
    aws_cert_attrs_clear(&a->attrs);
    aws_policy_set_free(a->policies);
    free(a->der);
    memset(a, 0, sizeof(*a));
}

int reg_aws_cert_arn(const struct reg_aws_env *env, const char *cert_id, char *out, size_t cap)
{
    int n = snprintf(out, cap, "arn:aws:iot:%s:%s:cert/%s", env->region, env->account, cert_id);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

struct docs {
    char *text[MAX_DOCS];
    size_t len[MAX_DOCS];
    size_t n;
    int err;
};

static int collect_doc(int64_t attach_rowid, const struct db_aws_policy *p, const char *document,
                       void *ud)
{
    struct docs *d = ud;
    (void)attach_rowid;
    (void)p;
    if (d->n == MAX_DOCS)
        return 1;
    d->text[d->n] = strdup(document);
    if (!d->text[d->n]) {
        d->err = -ENOMEM;
        return -ENOMEM;
    }
    d->len[d->n] = strlen(document);
    d->n++;
    return 0;
}

/* Whether any document may use a certificate variable or condition key
 * (a cheap over-approximation: the text mentions it at all, in any case,
 * as variable names are matched without regard to case). */
static bool docs_name_certificate(const struct docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcasestr(d->text[i], "iot:Certificate"))
            return true;
    return false;
}

static void docs_free(struct docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->text[i]);
    d->n = 0;
}

/* The thing's attributes as pairs borrowed from root (a JSON object). */
static size_t thing_attrs(const json_t *root, struct aws_kv *kv, size_t cap)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    if (!json_is_object(root))
        return 0;
    json_object_foreach((json_t *)root, k, v) {
        if (n == cap || !json_is_string(v))
            continue;
        kv[n].name = k;
        kv[n].value = json_string_value(v);
        n++;
    }
    return n;
}

/* Compiles the certificate's policies for the connection in a into *ret.
 * Thing variables come from the thing named like the client id when it is
 * attached to the certificate (AWS's rule). */
static enum reg_auth_reason compile(struct db *db, const struct reg_aws_env *env,
                                    struct reg_aws_auth *a, struct aws_policy_set **ret)
{
    struct docs d = { .n = 0 };
    struct db_aws_thing thing;
    struct aws_kv kv[MAX_THING_ATTRS];
    json_t *attrs_root = NULL;
    bool have_thing = false;
    enum reg_auth_reason reason = REG_AUTH_STORE_ERROR;
    int r;

    memset(&thing, 0, sizeof(thing));
    a->thing_name[0] = '\0';
    /* No client id (HTTPS publish): no thing either, as on AWS, where the
     * thing variables exist only on MQTT and WebSocket connections. */
    r = a->client_id[0] ? db_aws_thing_principal_exists(db, a->client_id, a->cert_arn) : 0;
    if (r < 0)
        goto out;
    if (r == 1 && db_aws_thing_get(db, a->client_id, &thing) == 0) {
        have_thing = true;
        snprintf(a->thing_name, sizeof(a->thing_name), "%s", thing.name);
        if (thing.attributes_json)
            attrs_root = json_loads(thing.attributes_json, 0, NULL);
    }
    r = db_aws_target_policies(db, a->cert_arn, 0, 0, collect_doc, &d);
    if (r < 0 || d.err < 0)
        goto out;
    if (!a->attrs_parsed && docs_name_certificate(&d)) {
        if (aws_cert_attrs_der(a->der, a->der_len, &a->attrs) < 0)
            goto out;
        a->attrs_parsed = true;
    }

    struct aws_policy_ctx ctx = {
        .region = env->region,
        .account = env->account,
        .client_id = a->client_id[0] ? a->client_id : NULL,
        .thing_name = have_thing ? thing.name : NULL,
        .thing_type_name = have_thing && thing.type_name[0] ? thing.type_name : NULL,
        .thing_attrs = kv,
        .n_thing_attrs = have_thing ? thing_attrs(attrs_root, kv, MAX_THING_ATTRS) : 0,
        .thing_is_attached = have_thing,
        .subject = a->attrs.subject,
        .n_subject = a->attrs.n_subject,
        .issuer = a->attrs.issuer,
        .n_issuer = a->attrs.n_issuer,
        .cert_serial = a->attrs.serial[0] ? a->attrs.serial : NULL,
        .cert_id = a->cert_id,
        .source_ip = a->source_ip[0] ? a->source_ip : NULL,
        .persistent_connect = a->persistent,
        .last_will = a->last_will,
    };
    if (aws_policy_compile((const char *const *)d.text, d.len, d.n, &ctx, ret) < 0)
        goto out;
    reason = REG_AUTH_OK;
out:
    json_decref(attrs_root);
    db_aws_thing_clear(&thing);
    docs_free(&d);
    return reason;
}

/* The certificate row's verdict at now_us. */
static enum reg_auth_reason cert_usable(const struct db_aws_cert *c, int64_t now_us)
{
    /* Only ACTIVE certificates authenticate; INACTIVE, REVOKED and the
     * PENDING_* states are refused alike [aws-iot-core.md 1.5]. */
    if (strcmp(c->status, "ACTIVE") != 0)
        return REG_AUTH_CERT_INACTIVE;
    if (now_us < c->not_before_us || (c->not_after_us && now_us > c->not_after_us))
        return REG_AUTH_CERT_EXPIRED;
    return REG_AUTH_OK;
}

static enum reg_auth_reason check_connect(const struct reg_aws_auth *a)
{
    char tail[16 + sizeof(a->client_id)];
    int n = snprintf(tail, sizeof(tail), "client/%s", a->client_id);
    if (n < 0 || (size_t)n >= sizeof(tail))
        return REG_AUTH_NOT_AUTHORIZED;
    return reg_aws_allows(a, AWS_ACT_CONNECT, tail, (size_t)n) ? REG_AUTH_OK
                                                               : REG_AUTH_NOT_AUTHORIZED;
}

/* The certificate steps shared by both entry points: fingerprint, lookup,
 * status and validity, then the policies compiled for what ret already
 * holds (client id or none, source address, connect attributes). On
 * failure ret is left for the caller to clear. */
static enum reg_auth_reason cert_and_policies(struct db *db, const struct reg_aws_env *env,
                                              const uint8_t *der, size_t der_len, int64_t now_us,
                                              struct reg_aws_auth *ret)
{
    struct db_aws_cert cert;
    enum reg_auth_reason reason;

    memset(&cert, 0, sizeof(cert));
    if (aws_cert_id_der(der, der_len, ret->cert_id) < 0)
        return REG_AUTH_CERT_UNKNOWN;
    int r = db_aws_cert_get(db, ret->cert_id, &cert);
    if (r == -ENOENT)
        return REG_AUTH_CERT_UNKNOWN;
    if (r < 0)
        return REG_AUTH_STORE_ERROR;
    reason = cert_usable(&cert, now_us);
    if (reason != REG_AUTH_OK)
        goto out;
    ret->cert_rowid = cert.rowid;
    ret->der = malloc(der_len);
    if (!ret->der || reg_aws_cert_arn(env, ret->cert_id, ret->cert_arn, sizeof(ret->cert_arn)) < 0) {
        reason = REG_AUTH_STORE_ERROR;
        goto out;
    }
    memcpy(ret->der, der, der_len);
    ret->der_len = der_len;
    reason = compile(db, env, ret, &ret->policies);
out:
    db_aws_cert_clear(&cert);
    return reason;
}

enum reg_auth_reason reg_aws_authenticate(struct db *db, const struct reg_aws_env *env,
                                          const uint8_t *der, size_t der_len,
                                          const uint8_t *client_id, size_t cid_len,
                                          const char *source_ip, bool persistent, bool last_will,
                                          int64_t now_us, struct reg_aws_auth *ret)
{
    enum reg_auth_reason reason;

    memset(ret, 0, sizeof(*ret));
    if (cid_len < 1 || cid_len >= sizeof(ret->client_id) || client_id[0] == '$' ||
        memchr(client_id, '\0', cid_len))
        return REG_AUTH_BAD_CLIENT_ID;
    memcpy(ret->client_id, client_id, cid_len);
    ret->client_id[cid_len] = '\0';
    snprintf(ret->source_ip, sizeof(ret->source_ip), "%s", source_ip ? source_ip : "");
    ret->persistent = persistent;
    ret->last_will = last_will;

    reason = cert_and_policies(db, env, der, der_len, now_us, ret);
    if (reason == REG_AUTH_OK)
        reason = check_connect(ret);
    if (reason != REG_AUTH_OK)
        reg_aws_auth_clear(ret);
    return reason;
}

enum reg_auth_reason reg_aws_authenticate_http(struct db *db, const struct reg_aws_env *env,
                                               const uint8_t *der, size_t der_len,
                                               const char *source_ip, int64_t now_us,
                                               struct reg_aws_auth *ret)
{
    enum reg_auth_reason reason;

    memset(ret, 0, sizeof(*ret));
    snprintf(ret->source_ip, sizeof(ret->source_ip), "%s", source_ip ? source_ip : "");
    reason = cert_and_policies(db, env, der, der_len, now_us, ret);
    if (reason != REG_AUTH_OK)
        reg_aws_auth_clear(ret);
    return reason;
}

enum reg_auth_reason reg_aws_recheck(struct db *db, const struct reg_aws_env *env,
                                     struct reg_aws_auth *a, int64_t now_us)
{
    struct db_aws_cert cert;
    struct aws_policy_set *set = NULL;
    enum reg_auth_reason reason;

    memset(&cert, 0, sizeof(cert));
    int r = db_aws_cert_get(db, a->cert_id, &cert);
    if (r == -ENOENT)
        return REG_AUTH_CERT_UNKNOWN;
    if (r < 0)
        return REG_AUTH_STORE_ERROR;
    reason = cert_usable(&cert, now_us);
    db_aws_cert_clear(&cert);
    if (reason != REG_AUTH_OK)
        return reason;
    char old_thing[sizeof(a->thing_name)];
    memcpy(old_thing, a->thing_name, sizeof(old_thing));
    reason = compile(db, env, a, &set);
    if (reason != REG_AUTH_OK) {
        memcpy(a->thing_name, old_thing, sizeof(old_thing));
        return reason;
    }
    aws_policy_set_free(a->policies);
    a->policies = set;
    return check_connect(a);
}
