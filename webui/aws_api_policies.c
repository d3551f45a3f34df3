/* AWS IoT policies and their versions [aws-iot-core.md 2.1, 2.7]:
 * CreatePolicy (version 1, the default; the document checked with
 * aws_policy_validate), GetPolicy, ListPolicies, DeletePolicy (refused
 * while attached or while versions besides the default exist),
 * Create/Get/List/Delete PolicyVersion (at most 5 versions; the default
 * cannot be deleted) and SetDefaultPolicyVersion. A change of what a
 * policy grants is reported as WEBUI_AWS_POLICIES_CHANGED. */
#include "webui/aws_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/aws_policy.h"

#define POLICIES_PAGE_DEFAULT 25
#define DOCUMENT_MAX 404600     /* the model's PolicyDocument maximum */

int api_aws_load_policy(const struct api_env *env, struct api_response *resp, const char *name,
                        struct db_aws_policy *p)
{
    int rc;

    if (api_aws_check_name(resp, "policyName", name, API_AWS_NAME_POLICY) < 0)
        return -EINVAL;
    memset(p, 0, sizeof(*p));
    rc = db_aws_policy_get(env->db, name, p);
    if (rc == -ENOENT)
        api_aws_not_found_msg(resp, "Policy not found (name=%s)", name);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "policy lookup");
    return rc;
}

/* body.policyDocument, required and valid. */
static int policy_document(const json_t *body, const char **ret, struct api_response *resp)
{
    char why[256];
    int rc;

    if (api_aws_str(body, "policyDocument", DOCUMENT_MAX, true, ret, resp) < 0)
        return -EINVAL;
    why[0] = '\0';
    rc = aws_policy_validate(*ret, strlen(*ret), why, sizeof(why));
    if (rc == -ENOMEM) {
        api_aws_oom(resp);
        return rc;
    }
    if (rc < 0) {
        api_aws_fail(resp, 400, API_AWS_MALFORMED_POLICY, "%s",
                     why[0] ? why : "The policy document is not valid.");
        return -EINVAL;
    }
    return 0;
}

/* A version id from the path: a decimal number. */
static int version_id(struct api_response *resp, const char *raw, int64_t *ret)
{
    uint64_t v;

    if (api_parse_u64(raw, &v) < 0 || v == 0 || v > INT64_MAX) {
        api_aws_invalid(resp, "1 validation error detected: Value '%.32s' at "
                        "'policyVersionId' failed to satisfy constraint: Member must satisfy "
                        "regular expression pattern: [0-9]+", raw);
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

static int version_not_found(struct api_response *resp, const char *policy, int64_t v)
{
    return api_aws_not_found_msg(resp, "Policy version %lld of policy %s does not exist.",
                                 (long long)v, policy);
}

int api_aws_policy_create(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0], *doc = NULL;
    struct db_aws_policy p;
    char arn[DB_AWS_ARN_MAX], vid[24], msg[256];
    json_t *body = NULL;
    int rc;

    if (api_aws_check_name(resp, "policyName", name, API_AWS_NAME_POLICY) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    /* tags are accepted and not kept: iotcored does not emulate tagging. */
    if (policy_document(body, &doc, resp) < 0 ||
        api_aws_arn(env, "policy", name, arn, sizeof(arn)) < 0)
        goto out;
    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "%s", name);
    p.created_us = env->now_us;
    p.modified_us = env->now_us;
    p.generation = 1;
    rc = db_aws_policy_insert(env->db, &p, doc, env->now_us);
    if (rc == -EEXIST) {
        snprintf(msg, sizeof(msg), "Policy cannot be created - name already exists (name=%s)",
                 name);
        api_aws_already_exists(resp, msg, name, arn);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "policy insert");
        goto out;
    }
    snprintf(vid, sizeof(vid), "%lld", (long long)(p.default_version ? p.default_version : 1));
    api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s,s:s}", "policyName", name, "policyArn", arn,
                                       "policyDocument", doc, "policyVersionId", vid));
out:
    json_decref(body);
    return 0;
}

int api_aws_policy_get(const struct api_env *env, const struct api_aws_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    struct db_aws_policy p;
    struct db_aws_policy_version v;
    char arn[DB_AWS_ARN_MAX], vid[24], gen[24];
    int rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0)
        return 0;
    memset(&v, 0, sizeof(v));
    rc = db_aws_policy_version_get(env->db, p.rowid, p.default_version, &v);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy version lookup");
    snprintf(vid, sizeof(vid), "%lld", (long long)p.default_version);
    snprintf(gen, sizeof(gen), "%lld", (long long)p.generation);
    if (api_aws_arn(env, "policy", p.name, arn, sizeof(arn)) < 0)
        api_aws_oom(resp);
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "policyName", p.name,
                                           "policyArn", arn, "policyDocument",
                                           v.document ? v.document : "", "defaultVersionId",
                                           vid, "creationDate", api_aws_time(p.created_us),
                                           "lastModifiedDate", api_aws_time(p.modified_us),
                                           "generationId", gen));
    db_aws_policy_version_clear(&v);
    return 0;
}

int api_aws_list_policy(struct api_aws_list *a, int64_t rowid, const struct db_aws_policy *p)
{
    char arn[DB_AWS_ARN_MAX];

    if (api_aws_list_full(a))
        return 1;
    if (api_aws_arn(a->env, "policy", p->name, arn, sizeof(arn)) < 0)
        return 0;
    return api_aws_list_add(a, rowid,
                            json_pack("{s:s,s:s}", "policyName", p->name, "policyArn", arn));
}

static int policies_cb(const struct db_aws_policy *p, void *ud)
{
    return api_aws_list_policy(ud, p->rowid, p);
}

int api_aws_policies_list(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    bool ascending = false;
    int rc;

    if (api_aws_page_args(req, "pageSize", "marker", POLICIES_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "isAscendingOrder", &ascending, resp) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_policy_list(env->db, ascending, pg.after, pg.limit + 1, policies_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "policy list", "policies", "nextMarker");
}

static int stop_cb(int64_t attach_rowid, const char *target, void *ud)
{
    return 1;
}

static int count_version_cb(const struct db_aws_policy_version *v, void *ud)
{
    (*(int *)ud)++;
    return 0;
}

int api_aws_policy_delete(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct db_aws_policy p;
    int versions = 0, rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0)
        return 0;
    rc = db_aws_policy_targets(env->db, p.rowid, 0, 1, stop_cb, NULL);
    if (rc > 0)
        return api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                            "The policy cannot be deleted as the policy is attached to one or "
                            "more principals (name=%s)", p.name);
    if (rc >= 0)
        rc = db_aws_policy_version_list(env->db, p.rowid, count_version_cb, &versions);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy attachments");
    if (versions > 1)
        return api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                            "Cannot delete the policy because it has one or more policy "
                            "versions attached to it (name=%s)", p.name);
    rc = db_aws_policy_delete(env->db, p.rowid);
    if (rc == -ENOTEMPTY)
        return api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                            "The policy cannot be deleted while it is attached or has "
                            "versions besides the default (name=%s)", p.name);
    if (rc < 0 && rc != -ENOENT)
        return api_aws_db_failure(env, resp, rc, "policy delete");
    return api_aws_reply_empty(resp);
}

int api_aws_policy_version_create(const struct api_env *env, const struct api_aws_route *rt,
                                  const struct api_request *req, struct api_response *resp)
{
    const char *doc = NULL;
    struct db_aws_policy p;
    bool set_default = false;
    char arn[DB_AWS_ARN_MAX], vid[24];
    int64_t version = 0;
    json_t *body = NULL;
    int rc;

    if (api_aws_flag(req, "setAsDefault", &set_default, resp) < 0 ||
        api_aws_load_policy(env, resp, rt->label[0], &p) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    if (policy_document(body, &doc, resp) < 0)
        goto out;
    rc = db_aws_policy_version_add(env->db, p.rowid, doc, set_default, env->now_us, &version);
    if (rc == -E2BIG) {
        api_aws_fail(resp, 409, API_AWS_VERSIONS_LIMIT,
                     "The policy %s already has the maximum number of versions (%d)", p.name,
                     DB_AWS_MAX_POLICY_VERSIONS);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "policy version insert");
        goto out;
    }
    if (set_default)
        api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    snprintf(vid, sizeof(vid), "%lld", (long long)version);
    if (api_aws_arn(env, "policy", p.name, arn, sizeof(arn)) < 0)
        api_aws_oom(resp);
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s,s:b}", "policyArn", arn,
                                           "policyDocument", doc, "policyVersionId", vid,
                                           "isDefaultVersion", set_default));
out:
    json_decref(body);
    return 0;
}

int api_aws_policy_version_get(const struct api_env *env, const struct api_aws_route *rt,
                               const struct api_request *req, struct api_response *resp)
{
    struct db_aws_policy p;
    struct db_aws_policy_version v;
    char arn[DB_AWS_ARN_MAX], vid[24], gen[24];
    int64_t version;
    int rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0 ||
        version_id(resp, rt->label[1], &version) < 0)
        return 0;
    memset(&v, 0, sizeof(v));
    rc = db_aws_policy_version_get(env->db, p.rowid, version, &v);
    if (rc == -ENOENT)
        return version_not_found(resp, p.name, version);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy version lookup");
    snprintf(vid, sizeof(vid), "%lld", (long long)version);
    snprintf(gen, sizeof(gen), "%lld", (long long)p.generation);
    if (api_aws_arn(env, "policy", p.name, arn, sizeof(arn)) < 0)
        api_aws_oom(resp);
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s,s:s,s:b,s:o,s:o,s:s}", "policyArn", arn,
                                           "policyName", p.name, "policyDocument",
                                           v.document ? v.document : "", "policyVersionId",
                                           vid, "isDefaultVersion", version == p.default_version,
                                           "creationDate", api_aws_time(v.created_us),
                                           "lastModifiedDate", api_aws_time(v.created_us),
                                           "generationId", gen));
    db_aws_policy_version_clear(&v);
    return 0;
}

struct versions_acc {
    json_t *arr;
    int64_t default_version;
    int err;
};

static int versions_cb(const struct db_aws_policy_version *v, void *ud)
{
    struct versions_acc *a = ud;
    char vid[24];
    json_t *j;

    snprintf(vid, sizeof(vid), "%lld", (long long)v->version);
    j = json_pack("{s:s,s:b,s:o}", "versionId", vid, "isDefaultVersion",
                  v->version == a->default_version, "createDate", api_aws_time(v->created_us));
    if (!j || json_array_append_new(a->arr, j) < 0) {
        a->err = -ENOMEM;
        return 1;
    }
    return 0;
}

int api_aws_policy_versions_list(const struct api_env *env, const struct api_aws_route *rt,
                                 const struct api_request *req, struct api_response *resp)
{
    struct db_aws_policy p;
    struct versions_acc a = { 0 };
    int rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0)
        return 0;
    a.default_version = p.default_version;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_policy_version_list(env->db, p.rowid, versions_cb, &a);
    if (rc >= 0 && a.err < 0)
        rc = a.err;
    if (rc < 0)
        api_aws_db_failure(env, resp, rc, "policy version list");
    else
        api_aws_reply_take(resp, json_pack("{s:O}", "policyVersions", a.arr));
    json_decref(a.arr);
    return 0;
}

int api_aws_policy_version_set_default(const struct api_env *env,
                                       const struct api_aws_route *rt,
                                       const struct api_request *req,
                                       struct api_response *resp)
{
    struct db_aws_policy p;
    int64_t version;
    int rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0 ||
        version_id(resp, rt->label[1], &version) < 0)
        return 0;
    rc = db_aws_policy_version_set_default(env->db, p.rowid, version, env->now_us);
    if (rc == -ENOENT)
        return version_not_found(resp, p.name, version);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy default version");
    if (version != p.default_version)
        api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    return api_aws_reply_empty(resp);
}

int api_aws_policy_version_delete(const struct api_env *env, const struct api_aws_route *rt,
                                  const struct api_request *req, struct api_response *resp)
{
    struct db_aws_policy p;
    int64_t version;
    int rc;

    if (api_aws_load_policy(env, resp, rt->label[0], &p) < 0 ||
        version_id(resp, rt->label[1], &version) < 0)
        return 0;
    rc = db_aws_policy_version_delete(env->db, p.rowid, version);
    if (rc == -EBUSY)
        return api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                            "Cannot delete the default version of a policy (name=%s)", p.name);
    if (rc == -ENOENT)
        return version_not_found(resp, p.name, version);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "policy version delete");
    return api_aws_reply_empty(resp);
}
