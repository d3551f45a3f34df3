/* Applying a provisioning template's plan to the store; see
 * reg_aws_provision.h. */
#include "registry/reg_aws_provision.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "registry/aws_policy.h"

void reg_aws_prov_out_clear(struct reg_aws_prov_out *o)
{
    if (!o)
        return;
    free(o->device_configuration);
    memset(o, 0, sizeof(*o));
}

__attribute__((format(printf, 3, 4)))
static int fail(struct reg_aws_prov_out *out, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->err, sizeof(out->err), fmt, ap);
    va_end(ap);
    return rc;
}

static bool thing_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int uuid4(char out[37])
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -EIO;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

/* The store error as the caller sees it: -EIO unless it is one the header
 * promises. */
static int store_failed(struct db *db, struct reg_aws_prov_out *out, int r, const char *what)
{
    log_err("provisioning: %s failed: %s", what, db_last_error(db));
    return fail(out, r == -ENOMEM ? r : -EIO, "Internal failure (%s)", what);
}

/* AttributePayload merged into (MERGE) or replacing (REPLACE) the thing's. */
static int merge_attributes(const char *old_json, const char *new_json, bool replace, char **ret)
{
    json_t *old = old_json && !replace ? json_loads(old_json, 0, NULL) : json_object();
    json_t *add = json_loads(new_json, 0, NULL);
    int r = -ENOMEM;

    if (old && add && json_is_object(old) && json_is_object(add) &&
        json_object_update(old, add) == 0 && (*ret = json_dumps(old, JSON_COMPACT | JSON_SORT_KEYS)))
        r = 0;
    json_decref(old);
    json_decref(add);
    return r;
}

static int apply_thing(struct db *db, const struct aws_template_plan *plan, const char *cert_arn,
                       int64_t now_us, struct reg_aws_prov_out *out)
{
    struct db_aws_thing t = { 0 };
    int r;

    if (!thing_name_ok(plan->thing_name))
        return fail(out, -EINVAL, "Invalid thing name: %.128s", plan->thing_name);
    if (plan->attributes_json) {
        /* AWS: attribute values are strings; the engine made them so. */
        json_t *a = json_loads(plan->attributes_json, 0, NULL);
        bool ok = json_is_object(a) && json_object_size(a) <= 50;
        json_decref(a);
        if (!ok)
            return fail(out, -EINVAL, "Invalid AttributePayload");
    }
    r = db_aws_thing_get(db, plan->thing_name, &t);
    if (r == -ENOENT) {
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", plan->thing_name);
        if (uuid4(t.thing_id) < 0)
            return fail(out, -EIO, "Internal failure (random)");
        snprintf(t.type_name, sizeof(t.type_name), "%s", plan->thing_type ? plan->thing_type : "");
        t.attributes_json = plan->attributes_json ? strdup(plan->attributes_json) : NULL;
        t.version = 1;
        t.created_us = now_us;
        if (plan->attributes_json && !t.attributes_json)
            return fail(out, -ENOMEM, "Out of memory");
        r = db_aws_thing_insert(db, &t);
        if (r == -ENOENT) {
            db_aws_thing_clear(&t);
            return fail(out, -ENOENT, "Thing type %.128s not found", plan->thing_type);
        }
    } else if (r == 0) {
        /* An existing thing: changed only as OverrideSettings say. */
        bool changed = false;
        if (plan->override_attributes == AWS_TEMPLATE_FAIL ||
            plan->override_thing_type == AWS_TEMPLATE_FAIL ||
            plan->override_thing_groups == AWS_TEMPLATE_FAIL) {
            db_aws_thing_clear(&t);
            return fail(out, -EEXIST, "Thing %s already exists", plan->thing_name);
        }
        if (plan->attributes_json && (plan->override_attributes == AWS_TEMPLATE_MERGE ||
                                      plan->override_attributes == AWS_TEMPLATE_REPLACE)) {
            char *merged = NULL;
            if (merge_attributes(t.attributes_json, plan->attributes_json,
                                 plan->override_attributes == AWS_TEMPLATE_REPLACE, &merged) < 0) {
                db_aws_thing_clear(&t);
                return fail(out, -ENOMEM, "Out of memory");
            }
            free(t.attributes_json);
            t.attributes_json = merged;
            changed = true;
        }
        if (plan->override_thing_type == AWS_TEMPLATE_REPLACE) {
            snprintf(t.type_name, sizeof(t.type_name), "%s", plan->thing_type ? plan->thing_type : "");
            changed = true;
        }
        if (changed) {
            t.version++;
            r = db_aws_thing_update(db, &t);
            if (r == -ENOENT) {
                db_aws_thing_clear(&t);
                return fail(out, -ENOENT, "Thing type %.128s not found", plan->thing_type);
            }
        }
    }
    if (r < 0) {
        db_aws_thing_clear(&t);
        return store_failed(db, out, r, "writing the thing");
    }
    r = db_aws_thing_principal_attach(db, t.rowid, cert_arn, false, now_us);
    db_aws_thing_clear(&t);
    if (r < 0)
        return store_failed(db, out, r, "attaching the certificate to the thing");
    snprintf(out->thing_name, sizeof(out->thing_name), "%s", plan->thing_name);
    return 0;
}

/* An inline document's policy name: the prefix and 32 hex digits of its
 * SHA-256, so provisioning many devices with one template makes one
 * policy. */
static int inline_policy_name(const char *doc, char *out, size_t cap)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(doc, strlen(doc), md, &mdlen, EVP_sha256(), NULL))
        return -EIO;
    size_t n = (size_t)snprintf(out, cap, "%s", REG_AWS_INLINE_POLICY_PREFIX);
    for (size_t i = 0; i < 16 && n + 2 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%02x", md[i]);
    return 0;
}

static int apply_policy(struct db *db, const struct aws_template_policy *tp, const char *cert_arn,
                        int64_t now_us, struct reg_aws_prov_out *out)
{
    struct db_aws_policy p = { 0 };
    char name[DB_AWS_NAME_MAX];
    int r;

    if (tp->document) {
        char why[200];
        if (aws_policy_validate(tp->document, strlen(tp->document), why, sizeof(why)) < 0)
            return fail(out, -EINVAL, "Invalid PolicyDocument: %s", why);
        if (inline_policy_name(tp->document, name, sizeof(name)) < 0)
            return fail(out, -EIO, "Internal failure (digest)");
    } else {
        snprintf(name, sizeof(name), "%s", tp->name ? tp->name : "");
    }
    r = db_aws_policy_get(db, name, &p);
    if (r == -ENOENT && tp->document) {
        memset(&p, 0, sizeof(p));
        snprintf(p.name, sizeof(p.name), "%s", name);
        r = db_aws_policy_insert(db, &p, tp->document, now_us);
    } else if (r == -ENOENT) {
        return fail(out, -ENOENT, "Policy %.128s not found", name);
    }
    if (r < 0) {
        return store_failed(db, out, r, "writing the policy");
    }
    r = db_aws_policy_attach(db, p.rowid, cert_arn, now_us);
    return r < 0 ? store_failed(db, out, r, "attaching the policy") : 0;
}

static int apply(struct db *db, const struct reg_aws_env *env, const struct aws_template_plan *plan,
                 const char *cert_id, const char *default_status, int64_t now_us,
                 struct reg_aws_prov_out *out)
{
    char arn[DB_AWS_ARN_MAX];
    int r;

    if (plan->has_certificate && strcmp(plan->certificate_id, cert_id) != 0)
        return fail(out, -EINVAL, "The template's CertificateId is not the certificate being "
                                  "provisioned");
    if (reg_aws_cert_arn(env, cert_id, arn, sizeof(arn)) < 0)
        return fail(out, -EINVAL, "Invalid certificate id");
    if (plan->has_thing && (r = apply_thing(db, plan, arn, now_us, out)) < 0)
        return r;
    for (size_t i = 0; i < plan->n_policies; i++)
        if ((r = apply_policy(db, &plan->policies[i], arn, now_us, out)) < 0)
            return r;
    const char *status = plan->certificate_status ? plan->certificate_status : default_status;
    if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0)
        return fail(out, -EINVAL, "Invalid certificate status %.24s", status);
    r = db_aws_cert_set_status(db, cert_id, status, now_us);
    if (r == -ENOENT)
        return fail(out, -ENOENT, "Certificate %s not found", cert_id);
    if (r < 0)
        return store_failed(db, out, r, "setting the certificate status");
    snprintf(out->status, sizeof(out->status), "%s", status);
    out->device_configuration = strdup(plan->device_configuration ? plan->device_configuration : "{}");
    return out->device_configuration ? 0 : fail(out, -ENOMEM, "Out of memory");
}

int reg_aws_provision(struct db *db, const struct reg_aws_env *env, const char *body, size_t len,
                      const struct aws_template_param *params, size_t n_params,
                      const char *cert_id, const char *default_status, int64_t now_us,
                      struct reg_aws_prov_out *out)
{
    struct aws_template_plan plan = { 0 };
    struct aws_template_param all[64];
    char err[256];
    int r;

    if (n_params >= sizeof(all) / sizeof(all[0]))
        return fail(out, -EINVAL, "Too many parameters");
    /* The caller's values come first: AWS::IoT::Certificate::Id is ours. */
    all[0] = (struct aws_template_param){ AWS_TEMPLATE_CERT_ID_PARAM, cert_id };
    for (size_t i = 0; i < n_params; i++)
        all[i + 1] = params[i];
    r = aws_template_run(body, len, all, n_params + 1, &plan, err, sizeof(err));
    if (r == -ENOMEM)
        return fail(out, r, "Out of memory");
    if (r < 0)
        return fail(out, r, "%s", err);
    r = db_begin(db);
    if (r < 0) {
        aws_template_plan_clear(&plan);
        return store_failed(db, out, r, "starting a transaction");
    }
    r = apply(db, env, &plan, cert_id, default_status, now_us, out);
    aws_template_plan_clear(&plan);
    if (r < 0) {
        db_rollback(db);
        free(out->device_configuration);
        out->device_configuration = NULL;
        out->thing_name[0] = '\0';
        return r;
    }
    r = db_commit(db);
    if (r < 0) {
        db_rollback(db);
        reg_aws_prov_out_clear(out);
        return store_failed(db, out, r, "committing");
    }
    return 0;
}
