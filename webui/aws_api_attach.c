/* AWS IoT attachments: policies to targets (AttachPolicy, DetachPolicy,
 * ListAttachedPolicies, ListTargetsForPolicy, and the legacy
 * Attach/Detach/ListPrincipalPolicies and ListPolicyPrincipals, which
 * carry the principal or policy in x-amzn-iot-principal /
 * x-amzn-iot-policy headers), and principals to things
 * (Attach/DetachThingPrincipal with x-amzn-principal, ListThingPrincipals,
 * ListPrincipalThings). Targets and principals are certificate ARNs of
 * this account and region: thing groups and Cognito identities are not
 * emulated. Every change is reported as WEBUI_AWS_POLICIES_CHANGED: it
 * changes what live connections may do. */
#include "webui/aws_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* AWS: at most 10 policies attached to one certificate (service quota). */
#define TARGET_POLICIES_MAX 10
#define ATTACH_PAGE_DEFAULT 25
#define THING_PAGE_DEFAULT 25

static const char *header(const struct api_request *req, const char *name)
{
    const char *v = req->header ? req->header(req->header_ud, name) : NULL;

    return v && *v ? v : NULL;
}

static int missing(struct api_response *resp, const char *field)
{
    return api_aws_invalid(resp, "1 validation error detected: Value null at '%s' failed to "
                           "satisfy constraint: Member must not be null", field);
}

/* ---- policy attachments ---- */

struct find_policy {
    int64_t rowid;
    bool found;
};

static int find_policy_cb(int64_t attach_rowid, const struct db_aws_policy *p,
                          const char *document, void *ud)
{
    struct find_policy *f = ud;

    if (p->rowid != f->rowid)
        return 0;
    f->found = true;
    return 1;
}

/* AttachPolicy and AttachPrincipalPolicy. */
static int attach(const struct api_env *env, struct api_response *resp, const char *policy,
                  const char *target, const char *field)
{
    struct find_policy f = { 0 };
    struct db_aws_policy p;
    char arn[DB_AWS_ARN_MAX];
    int64_t n = 0;
    int rc;

    if (api_aws_load_policy(env, resp, policy, &p) < 0 ||
        api_aws_resolve_cert_arn(env, resp, field, target, arn, NULL) < 0)
        return 0;
    rc = db_aws_target_policy_count(env->db, arn, &n);
    if (rc >= 0 && n >= TARGET_POLICIES_MAX) {
        f.rowid = p.rowid;
        rc = db_aws_target_policies(env->db, arn, 0, TARGET_POLICIES_MAX + 1, find_policy_cb,
                                    &f);
        if (rc >= 0 && !f.found)
            return api_aws_fail(resp, 410, API_AWS_LIMIT,
                                "The maximum number of policies (%d) attached to %s has been "
                                "reached", TARGET_POLICIES_MAX, arn);
    }
    if (rc >= 0)
        rc = db_aws_policy_attach(env->db, p.rowid, arn, env->now_us);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy attach");
    api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    return api_aws_reply_empty(resp);
}

/* DetachPolicy and DetachPrincipalPolicy: detaching what is not attached
 * succeeds (the model gives DetachPolicy no not-found error). */
static int detach(const struct api_env *env, struct api_response *resp, const char *policy,
                  const char *target, const char *field)
{
    struct db_aws_policy p;
    char arn[DB_AWS_ARN_MAX];
    int rc;

    if (api_aws_load_policy(env, resp, policy, &p) < 0 ||
        api_aws_resolve_cert_arn(env, resp, field, target, arn, NULL) < 0)
        return 0;
    rc = db_aws_policy_detach(env->db, p.rowid, arn);
    if (rc < 0 && rc != -ENOENT)
        return api_aws_db_failure(env, resp, rc, "policy detach");
    if (rc == 0)
        api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    return api_aws_reply_empty(resp);
}

static int body_target(const struct api_request *req, struct api_response *resp, json_t **body,
                       const char **target)
{
    if (api_aws_body(req, resp, body) < 0)
        return -EINVAL;
    return api_aws_str(*body, "target", DB_AWS_ARN_MAX - 1, true, target, resp);
}

int api_aws_policy_attach(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *target = NULL;
    json_t *body = NULL;

    if (body_target(req, resp, &body, &target) == 0)
        attach(env, resp, rt->label[0], target, "target");
    json_decref(body);
    return 0;
}

int api_aws_policy_detach(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *target = NULL;
    json_t *body = NULL;

    if (body_target(req, resp, &body, &target) == 0)
        detach(env, resp, rt->label[0], target, "target");
    json_decref(body);
    return 0;
}

int api_aws_principal_policy_attach(const struct api_env *env, const struct api_aws_route *rt,
                                    const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-iot-principal");

    if (!principal)
        return missing(resp, "principal");
    return attach(env, resp, rt->label[0], principal, "principal");
}

int api_aws_principal_policy_detach(const struct api_env *env, const struct api_aws_route *rt,
                                    const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-iot-principal");

    if (!principal)
        return missing(resp, "principal");
    return detach(env, resp, rt->label[0], principal, "principal");
}

static int target_policies_cb(int64_t attach_rowid, const struct db_aws_policy *p,
                              const char *document, void *ud)
{
    return api_aws_list_policy(ud, attach_rowid, p);
}

/* ListAttachedPolicies and ListPrincipalPolicies, in attach order
 * (isAscendingOrder and recursive are accepted and change nothing: there
 * are no thing groups to recurse into). */
static int list_target_policies(const struct api_env *env, const struct api_request *req,
                                struct api_response *resp, const char *target,
                                const char *field)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    char arn[DB_AWS_ARN_MAX];
    bool flag = false;
    int rc;

    if (api_aws_page_args(req, "pageSize", "marker", ATTACH_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "isAscendingOrder", &flag, resp) < 0 ||
        api_aws_flag(req, "recursive", &flag, resp) < 0 ||
        api_aws_resolve_cert_arn(env, resp, field, target, arn, NULL) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_target_policies(env->db, arn, pg.after, pg.limit + 1, target_policies_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "attached policies", "policies",
                               "nextMarker");
}

int api_aws_attached_policies_list(const struct api_env *env, const struct api_aws_route *rt,
                                   const struct api_request *req, struct api_response *resp)
{
    return list_target_policies(env, req, resp, rt->label[0], "target");
}

int api_aws_principal_policies_list(const struct api_env *env, const struct api_aws_route *rt,
                                    const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-iot-principal");

    if (!principal)
        return missing(resp, "principal");
    return list_target_policies(env, req, resp, principal, "principal");
}

static int targets_cb(int64_t attach_rowid, const char *target, void *ud)
{
    struct api_aws_list *a = ud;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, attach_rowid, json_string(target));
}

/* ListTargetsForPolicy ("targets") and ListPolicyPrincipals
 * ("principals"), in attach order. */
static int list_policy_targets(const struct api_env *env, const struct api_request *req,
                               struct api_response *resp, const char *policy, const char *key)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    struct db_aws_policy p;
    bool flag = false;
    int rc;

    if (api_aws_page_args(req, "pageSize", "marker", ATTACH_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "isAscendingOrder", &flag, resp) < 0 ||
        api_aws_load_policy(env, resp, policy, &p) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_policy_targets(env->db, p.rowid, pg.after, pg.limit + 1, targets_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "policy targets", key, "nextMarker");
}

int api_aws_policy_targets_list(const struct api_env *env, const struct api_aws_route *rt,
                                const struct api_request *req, struct api_response *resp)
{
    return list_policy_targets(env, req, resp, rt->label[0], "targets");
}

int api_aws_policy_principals_list(const struct api_env *env, const struct api_aws_route *rt,
                                   const struct api_request *req, struct api_response *resp)
{
    const char *policy = header(req, "x-amzn-iot-policy");

    if (!policy)
        return missing(resp, "policyName");
    return list_policy_targets(env, req, resp, policy, "principals");
}

/* ---- thing principals ---- */

/* Whether the principal is attached to a thing other than rowid. */
struct other_thing {
    int64_t rowid;
    char name[DB_AWS_NAME_MAX];
};

static int other_thing_cb(int64_t attach_rowid, const struct db_aws_thing *t, void *ud)
{
    struct other_thing *o = ud;

    if (t->rowid == o->rowid)
        return 0;
    snprintf(o->name, sizeof(o->name), "%s", t->name);
    return 1;
}

int api_aws_thing_principal_attach(const struct api_env *env, const struct api_aws_route *rt,
                                   const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-principal");
    const char *type = api_request_param(req, "thingPrincipalType");
    struct other_thing o = { 0 };
    struct db_aws_thing t;
    char arn[DB_AWS_ARN_MAX];
    bool exclusive = false;
    int rc;

    if (!principal)
        return missing(resp, "principal");
    if (type && *type) {
        if (strcmp(type, "EXCLUSIVE_THING") == 0)
            exclusive = true;
        else if (strcmp(type, "NON_EXCLUSIVE_THING") != 0)
            return api_aws_invalid(resp, "1 validation error detected: Value '%.32s' at "
                                   "'thingPrincipalType' failed to satisfy constraint: Member "
                                   "must satisfy enum value set: [EXCLUSIVE_THING, "
                                   "NON_EXCLUSIVE_THING]", type);
    }
    if (api_aws_load_thing(env, resp, rt->label[0], &t) < 0)
        return 0;
    if (api_aws_resolve_cert_arn(env, resp, "principal", principal, arn, NULL) < 0)
        goto out;
    if (exclusive) {
        o.rowid = t.rowid;
        rc = db_aws_principal_things(env->db, arn, 0, DB_AWS_NAME_MAX, other_thing_cb, &o);
        if (rc < 0) {
            api_aws_db_failure(env, resp, rc, "principal things");
            goto out;
        }
        if (o.name[0]) {
            api_aws_invalid(resp, "The principal %s is already attached to thing %s and "
                            "cannot be attached exclusively.", arn, o.name);
            goto out;
        }
    }
    rc = db_aws_thing_principal_attach(env->db, t.rowid, arn, exclusive, env->now_us);
    if (rc == -ENOENT) {
        api_aws_not_found_msg(resp, "Thing %s cannot be found.", t.name);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "thing principal attach");
        goto out;
    }
    api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    api_aws_reply_empty(resp);
out:
    db_aws_thing_clear(&t);
    return 0;
}

int api_aws_thing_principal_detach(const struct api_env *env, const struct api_aws_route *rt,
                                   const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-principal");
    struct db_aws_thing t;
    char arn[DB_AWS_ARN_MAX];
    int rc;

    if (!principal)
        return missing(resp, "principal");
    if (api_aws_load_thing(env, resp, rt->label[0], &t) < 0)
        return 0;
    if (api_aws_resolve_cert_arn(env, resp, "principal", principal, arn, NULL) < 0)
        goto out;
    rc = db_aws_thing_principal_detach(env->db, t.rowid, arn);
    if (rc < 0 && rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "thing principal detach");
        goto out;
    }
    if (rc == 0)
        api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    api_aws_reply_empty(resp);
out:
    db_aws_thing_clear(&t);
    return 0;
}

static int principals_cb(int64_t attach_rowid, const char *principal, void *ud)
{
    struct api_aws_list *a = ud;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, attach_rowid, json_string(principal));
}

int api_aws_thing_principals_list(const struct api_env *env, const struct api_aws_route *rt,
                                  const struct api_request *req, struct api_response *resp)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    struct db_aws_thing t;
    int rc;

    if (api_aws_page_args(req, "maxResults", "nextToken", THING_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_check_name(resp, "thingName", rt->label[0], API_AWS_NAME_THING) < 0)
        return 0;
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_get(env->db, rt->label[0], &t);
    if (rc == -ENOENT)
        return api_aws_not_found_msg(resp, "Failed to list principals for thing %s because the "
                                     "thing does not exist in your account", rt->label[0]);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing lookup");
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr) {
        db_aws_thing_clear(&t);
        return api_aws_oom(resp);
    }
    rc = db_aws_thing_principals(env->db, t.rowid, pg.after, pg.limit + 1, principals_cb, &a);
    db_aws_thing_clear(&t);
    return api_aws_list_finish(env, resp, &a, rc, "thing principals", "principals",
                               "nextToken");
}

static int principal_things_cb(int64_t attach_rowid, const struct db_aws_thing *t, void *ud)
{
    struct api_aws_list *a = ud;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, attach_rowid, json_string(t->name));
}

int api_aws_principal_things_list(const struct api_env *env, const struct api_aws_route *rt,
                                  const struct api_request *req, struct api_response *resp)
{
    const char *principal = header(req, "x-amzn-principal");
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    char arn[DB_AWS_ARN_MAX];
    int rc;

    if (!principal)
        return missing(resp, "principal");
    if (api_aws_page_args(req, "maxResults", "nextToken", THING_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_resolve_cert_arn(env, resp, "principal", principal, arn, NULL) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_principal_things(env->db, arn, pg.after, pg.limit + 1, principal_things_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "principal things", "things", "nextToken");
}
