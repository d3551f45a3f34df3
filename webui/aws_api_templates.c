/* AWS IoT provisioning templates and their versions [aws-iot-core.md 1.9,
 * 1.10, 5.2]: Create/Describe/List/Update/DeleteProvisioningTemplate and
 * Create/Describe/List/DeleteProvisioningTemplateVersion, in the botocore
 * iot 2015-05-28 model's shapes. Version 1 is made with the template and
 * is its default; at most 5 versions (VersionsLimitExceededException);
 * the default version cannot be deleted (DeleteConflictException);
 * deleting a template deletes its versions. The provisioning role and the
 * pre-provisioning hook's Lambda are stored as given, never resolved
 * (iotcored has no IAM and runs no Lambda). Tags are accepted and not
 * kept, as for policies. */
#include "registry/aws_template.h"
#include "webui/aws_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define TEMPLATES_PAGE_DEFAULT 25
/* The model's limits: TemplateName, TemplateBody, TemplateDescription (in
 * characters), RoleArn, TargetArn, PayloadVersion. */
#define NAME_MAX_LEN 36
#define BODY_MAX 10240
#define DESCRIPTION_MAX_CHARS 500
#define ROLE_ARN_MIN 20
#define ROLE_ARN_MAX 2048
#define TARGET_ARN_MAX 2048
#define PAYLOAD_VERSION_MIN 10
#define PAYLOAD_VERSION_MAX 32

#define TYPE_FLEET "FLEET_PROVISIONING"
#define TYPE_JITP "JITP"

/* ---- checks ---- */

/* The template engine's validation (registry/aws_template.h), as
 * CreateProvisioningTemplate validates. Returns 0 or -EINVAL (or -ENOMEM)
 * with a message in err. */
static int template_body_check(const char *body, size_t len, char *err, size_t cap)
{
    return aws_template_check(body, len, err, cap);
}

/* TemplateName: ^[0-9A-Za-z_-]+$, 1..36, worded as AWS's validation. */
static int check_name(struct api_response *resp, const char *name)
{
    size_t len = strlen(name);
    char shown[160];

    log_escape(shown, sizeof(shown), name, len);
    if (len < 1 || len > NAME_MAX_LEN) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at 'templateName' failed "
                        "to satisfy constraint: Member must have length %s %d", shown,
                        len < 1 ? "greater than or equal to" : "less than or equal to",
                        len < 1 ? 1 : NAME_MAX_LEN);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '_' || c == '-')) {
            api_aws_invalid(resp, "1 validation error detected: Value '%s' at 'templateName' "
                            "failed to satisfy constraint: Member must satisfy regular "
                            "expression pattern: ^[0-9A-Za-z_-]+$", shown);
            return -EINVAL;
        }
    }
    return 0;
}

/* TemplateDescription: [^\p{C}]*, at most 500 characters. jansson hands
 * over valid UTF-8, so characters are the bytes that do not continue a
 * sequence. Only the control characters (C0, DEL, C1) of \p{C} are
 * refused: format and private-use characters pass. */
static bool description_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;

    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return false;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    return chars <= DESCRIPTION_MAX_CHARS;
}

/* body.description, absent or valid: *ret borrowed from body. */
static int description(const json_t *body, const char **ret, struct api_response *resp)
{
    /* 4 bytes per character at most. */
    if (api_aws_str(body, "description", DESCRIPTION_MAX_CHARS * 4, false, ret, resp) < 0)
        return -EINVAL;
    if (*ret && !description_ok(*ret)) {
        api_aws_invalid(resp, "1 validation error detected: Value at 'description' failed to "
                        "satisfy constraint: Member must have length less than or equal to "
                        "%d and satisfy regular expression pattern: [^\\p{C}]*",
                        DESCRIPTION_MAX_CHARS);
        return -EINVAL;
    }
    return 0;
}

/* body.provisioningRoleArn: RoleArn, 20..2048. */
static int role_arn(const json_t *body, bool required, const char **ret,
                    struct api_response *resp)
{
    if (api_aws_str(body, "provisioningRoleArn", ROLE_ARN_MAX, required, ret, resp) < 0)
        return -EINVAL;
    if (*ret && strlen(*ret) < ROLE_ARN_MIN) {
        api_aws_invalid(resp, "1 validation error detected: Value at 'provisioningRoleArn' "
                        "failed to satisfy constraint: Member must have length greater than "
                        "or equal to %d", ROLE_ARN_MIN);
        return -EINVAL;
    }
    return 0;
}

/* PayloadVersion: ^[0-9-]+$, 10..32. */
static bool payload_version_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < PAYLOAD_VERSION_MIN || n > PAYLOAD_VERSION_MAX)
        return false;
    return strspn(s, "0123456789-") == n;
}

/* body.preProvisioningHook (a ProvisioningHook: targetArn required,
 * payloadVersion) as the compact JSON text to store, malloc'd into *ret;
 * NULL when absent. */
static int pre_hook(const json_t *body, char **ret, struct api_response *resp)
{
    const json_t *h = json_object_get(body, "preProvisioningHook");
    const char *target = NULL, *version = NULL;
    json_t *out;

    *ret = NULL;
    if (!h || json_is_null(h))
        return 0;
    if (!json_is_object(h)) {
        api_aws_invalid(resp, "preProvisioningHook: expected an object.");
        return -EINVAL;
    }
    if (api_aws_str(h, "targetArn", TARGET_ARN_MAX, true, &target, resp) < 0 ||
        api_aws_str(h, "payloadVersion", PAYLOAD_VERSION_MAX, false, &version, resp) < 0)
        return -EINVAL;
    if (!*target) {
        api_aws_invalid(resp, "preProvisioningHook.targetArn must not be empty.");
        return -EINVAL;
    }
    if (version && !payload_version_ok(version)) {
        api_aws_invalid(resp, "1 validation error detected: Value at "
                        "'preProvisioningHook.payloadVersion' failed to satisfy constraint: "
                        "Member must satisfy regular expression pattern: ^[0-9-]+$ and have "
                        "length between %d and %d", PAYLOAD_VERSION_MIN, PAYLOAD_VERSION_MAX);
        return -EINVAL;
    }
    out = version ? json_pack("{s:s,s:s}", "payloadVersion", version, "targetArn", target)
                  : json_pack("{s:s}", "targetArn", target);
    *ret = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(out);
    if (!*ret) {
        api_aws_oom(resp);
        return -ENOMEM;
    }
    return 0;
}

/* AWS documents the hook for FLEET_PROVISIONING templates only. */
static int hook_allowed(struct api_response *resp, const char *type)
{
    if (strcmp(type, TYPE_FLEET) == 0)
        return 0;
    api_aws_invalid(resp, "A pre-provisioning hook is supported only by templates of type "
                    TYPE_FLEET ".");
    return -EINVAL;
}

/* body.templateBody, required and valid: *ret borrowed from body. */
static int template_body(const json_t *body, const char **ret, struct api_response *resp)
{
    char why[256];

    if (api_aws_str(body, "templateBody", BODY_MAX, true, ret, resp) < 0)
        return -EINVAL;
    why[0] = '\0';
    if (template_body_check(*ret, strlen(*ret), why, sizeof(why)) < 0) {
        api_aws_invalid(resp, "%s", why[0] ? why : "The template body is not valid.");
        return -EINVAL;
    }
    return 0;
}

/* A version id from the path: a positive decimal integer. */
static int version_id(struct api_response *resp, const char *raw, int64_t *ret)
{
    char shown[64];
    uint64_t v;

    if (api_parse_u64(raw, &v) < 0 || v == 0 || v > INT64_MAX) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at 'versionId' failed "
                        "to satisfy constraint: Member must be a positive integer",
                        log_escape(shown, sizeof(shown), raw, strlen(raw)));
        return -EINVAL;
    }
    *ret = (int64_t)v;
    return 0;
}

/* ---- loading and rendering ---- */

static int not_found(struct api_response *resp, const char *name)
{
    return api_aws_not_found_msg(resp, "Template with name %s does not exist", name);
}

static int version_not_found(struct api_response *resp, const char *name, int64_t v)
{
    return api_aws_not_found_msg(resp, "Version %lld of template %s does not exist",
                                 (long long)v, name);
}

/* The template called name (its name checked first). Returns 0, or < 0
 * with 400/404/500 in resp; *t is safe to clear either way. */
static int load_template(const struct api_env *env, struct api_response *resp,
                         const char *name, struct db_aws_template *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (check_name(resp, name) < 0)
        return -EINVAL;
    rc = db_aws_template_get(env->db, name, t);
    if (rc == -ENOENT)
        not_found(resp, name);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "provisioning template lookup");
    return rc;
}

/* Replaces an owned text field with a copy of v. */
static int set_text(char **field, const char *v, struct api_response *resp)
{
    char *copy = strdup(v);

    if (!copy) {
        api_aws_oom(resp);
        return -ENOMEM;
    }
    free(*field);
    *field = copy;
    return 0;
}

/* Stored hook text as a new object; NULL when none (or unreadable). */
static json_t *stored_hook(const struct db_aws_template *t)
{
    json_t *j = t->pre_hook_json ? json_loads(t->pre_hook_json, 0, NULL) : NULL;

    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The fields Describe and List share, in the model's member order:
 * templateArn, templateName, description (when set), creationDate,
 * lastModifiedDate. */
static json_t *template_head(const char *arn, const struct db_aws_template *t)
{
    json_t *j = json_pack("{s:s,s:s}", "templateArn", arn, "templateName", t->name);

    if (j && t->description && *t->description &&
        json_object_set_new(j, "description", json_string(t->description)) < 0)
        goto fail;
    if (j && (json_object_set_new(j, "creationDate", api_aws_time(t->created_us)) < 0 ||
              json_object_set_new(j, "lastModifiedDate", api_aws_time(t->modified_us)) < 0))
        goto fail;
    return j;
fail:
    json_decref(j);
    return NULL;
}

/* ---- templates ---- */

int api_aws_template_create(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp)
{
    const char *name = NULL, *desc = NULL, *tbody = NULL, *role = NULL, *type = NULL;
    struct db_aws_template t;
    bool enabled = false;
    char arn[DB_AWS_ARN_MAX], msg[128];
    json_t *body = NULL;
    char *hook = NULL;
    int rc;

    memset(&t, 0, sizeof(t));
    if (api_aws_body(req, resp, &body) < 0)
        return 0;
    /* tags are accepted and not kept: iotcored does not emulate tagging. */
    if (api_aws_str(body, "templateName", NAME_MAX_LEN, true, &name, resp) < 0 ||
        check_name(resp, name) < 0 || description(body, &desc, resp) < 0 ||
        template_body(body, &tbody, resp) < 0 ||
        api_aws_bool(body, "enabled", &enabled, resp) < 0 ||
        role_arn(body, true, &role, resp) < 0 ||
        api_aws_str(body, "type", DB_AWS_TEMPLATE_TYPE_MAX - 1, false, &type, resp) < 0 ||
        pre_hook(body, &hook, resp) < 0)
        goto out;
    if (!type)
        type = TYPE_FLEET;
    if (strcmp(type, TYPE_FLEET) != 0 && strcmp(type, TYPE_JITP) != 0) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at 'type' failed to "
                        "satisfy constraint: Member must satisfy enum value set: ["
                        TYPE_FLEET ", " TYPE_JITP "]", type);
        goto out;
    }
    if ((hook && hook_allowed(resp, type) < 0) ||
        api_aws_arn(env, "provisioningtemplate", name, arn, sizeof(arn)) < 0)
        goto out;
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.type, sizeof(t.type), "%s", type);
    t.enabled = enabled;
    if (set_text(&t.description, desc ? desc : "", resp) < 0 ||
        set_text(&t.role_arn, role, resp) < 0)
        goto out;
    t.pre_hook_json = hook;
    hook = NULL;
    if (api_aws_uuid(t.template_id) < 0) {
        api_aws_db_failure(env, resp, -EIO, "template id");
        goto out;
    }
    rc = db_aws_template_insert(env->db, &t, tbody, env->now_us);
    if (rc == -EEXIST) {
        snprintf(msg, sizeof(msg), "Template with name %s already exists", name);
        api_aws_already_exists(resp, msg, name, arn);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "provisioning template insert");
        goto out;
    }
    api_aws_reply_take(resp, json_pack("{s:s,s:s,s:I}", "templateArn", arn, "templateName",
                                       name, "defaultVersionId",
                                       (json_int_t)t.default_version));
out:
    free(hook);
    db_aws_template_clear(&t);
    json_decref(body);
    return 0;
}

int api_aws_template_describe(const struct api_env *env, const struct api_aws_route *rt,
                              const struct api_request *req, struct api_response *resp)
{
    struct db_aws_template t;
    struct db_aws_template_version v;
    char arn[DB_AWS_ARN_MAX];
    json_t *j = NULL, *hook;
    int rc;

    memset(&v, 0, sizeof(v));
    if (load_template(env, resp, rt->label[0], &t) < 0)
        goto out;
    rc = db_aws_template_version_get(env->db, t.rowid, t.default_version, &v);
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "provisioning template version lookup");
        goto out;
    }
    if (api_aws_arn(env, "provisioningtemplate", t.name, arn, sizeof(arn)) < 0 ||
        !(j = template_head(arn, &t)) ||
        json_object_set_new(j, "defaultVersionId", json_integer(t.default_version)) < 0 ||
        json_object_set_new(j, "templateBody", json_string(v.body)) < 0 ||
        json_object_set_new(j, "enabled", json_boolean(t.enabled)) < 0 ||
        json_object_set_new(j, "provisioningRoleArn", json_string(t.role_arn)) < 0) {
        api_aws_oom(resp);
        goto out;
    }
    hook = stored_hook(&t);
    if ((hook && json_object_set_new(j, "preProvisioningHook", hook) < 0) ||
        json_object_set_new(j, "type", json_string(t.type)) < 0) {
        api_aws_oom(resp);
        goto out;
    }
    api_aws_reply_take(resp, j);
    j = NULL;
out:
    json_decref(j);
    db_aws_template_version_clear(&v);
    db_aws_template_clear(&t);
    return 0;
}

static int templates_cb(const struct db_aws_template *t, void *ud)
{
    struct api_aws_list *a = ud;
    char arn[DB_AWS_ARN_MAX];
    json_t *j;

    if (api_aws_list_full(a))
        return 1;
    if (api_aws_arn(a->env, "provisioningtemplate", t->name, arn, sizeof(arn)) < 0)
        return 0;
    j = template_head(arn, t);
    if (j && (json_object_set_new(j, "enabled", json_boolean(t->enabled)) < 0 ||
              json_object_set_new(j, "type", json_string(t->type)) < 0)) {
        json_decref(j);
        j = NULL;
    }
    return api_aws_list_add(a, t->rowid, j);
}

int api_aws_templates_list(const struct api_env *env, const struct api_aws_route *rt,
                           const struct api_request *req, struct api_response *resp)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    int rc;

    if (api_aws_page_args(req, "maxResults", "nextToken", TEMPLATES_PAGE_DEFAULT, &pg,
                          resp) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_template_list(env->db, pg.after, pg.limit + 1, templates_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "provisioning template list", "templates",
                               "nextToken");
}

int api_aws_template_update(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp)
{
    const char *desc = NULL, *role = NULL;
    struct db_aws_template t;
    struct db_aws_template_version v;
    bool remove_hook = false;
    json_t *body = NULL;
    const json_t *def;
    char *hook = NULL;
    int rc;

    memset(&v, 0, sizeof(v));
    if (load_template(env, resp, rt->label[0], &t) < 0 || api_aws_body(req, resp, &body) < 0)
        goto out;
    if (description(body, &desc, resp) < 0 ||
        api_aws_bool(body, "enabled", &t.enabled, resp) < 0 ||
        role_arn(body, false, &role, resp) < 0 || pre_hook(body, &hook, resp) < 0 ||
        api_aws_bool(body, "removePreProvisioningHook", &remove_hook, resp) < 0)
        goto out;
    if (hook && remove_hook) {
        api_aws_invalid(resp, "preProvisioningHook and removePreProvisioningHook cannot be "
                        "used together.");
        goto out;
    }
    if (hook && hook_allowed(resp, t.type) < 0)
        goto out;
    def = json_object_get(body, "defaultVersionId");
    if (def && !json_is_null(def)) {
        if (!json_is_integer(def) || json_integer_value(def) <= 0) {
            api_aws_invalid(resp, "defaultVersionId: expected a positive integer.");
            goto out;
        }
        rc = db_aws_template_version_get(env->db, t.rowid, json_integer_value(def), &v);
        if (rc == -ENOENT) {
            version_not_found(resp, t.name, json_integer_value(def));
            goto out;
        }
        if (rc < 0) {
            api_aws_db_failure(env, resp, rc, "provisioning template version lookup");
            goto out;
        }
        t.default_version = json_integer_value(def);
    }
    if ((desc && set_text(&t.description, desc, resp) < 0) ||
        (role && set_text(&t.role_arn, role, resp) < 0))
        goto out;
    if (hook || remove_hook) {
        free(t.pre_hook_json);
        t.pre_hook_json = hook;
        hook = NULL;
    }
    rc = db_aws_template_update(env->db, &t, env->now_us);
    if (rc == -ENOENT)
        version_not_found(resp, t.name, t.default_version);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "provisioning template update");
    else
        api_aws_reply_empty(resp);
out:
    free(hook);
    db_aws_template_version_clear(&v);
    db_aws_template_clear(&t);
    json_decref(body);
    return 0;
}

int api_aws_template_delete(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp)
{
    struct db_aws_template t;
    int rc;

    if (load_template(env, resp, rt->label[0], &t) < 0)
        goto out;
    rc = db_aws_template_delete(env->db, t.rowid);
    if (rc == -ENOENT)
        not_found(resp, t.name);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "provisioning template delete");
    else
        api_aws_reply_empty(resp);
out:
    db_aws_template_clear(&t);
    return 0;
}

/* ---- versions ---- */

int api_aws_template_version_create(const struct api_env *env, const struct api_aws_route *rt,
                                    const struct api_request *req, struct api_response *resp)
{
    const char *tbody = NULL;
    struct db_aws_template t;
    bool set_default = false;
    char arn[DB_AWS_ARN_MAX];
    int64_t version = 0;
    json_t *body = NULL;
    int rc;

    if (load_template(env, resp, rt->label[0], &t) < 0 ||
        api_aws_flag(req, "setAsDefault", &set_default, resp) < 0 ||
        api_aws_body(req, resp, &body) < 0 || template_body(body, &tbody, resp) < 0)
        goto out;
    rc = db_aws_template_version_add(env->db, t.rowid, tbody, set_default, env->now_us,
                                     &version);
    if (rc == -E2BIG) {
        api_aws_fail(resp, 409, API_AWS_VERSIONS_LIMIT,
                     "The template %s already has the maximum number of versions (%d)", t.name,
                     DB_AWS_MAX_TEMPLATE_VERSIONS);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "provisioning template version insert");
        goto out;
    }
    if (api_aws_arn(env, "provisioningtemplate", t.name, arn, sizeof(arn)) < 0)
        api_aws_oom(resp);
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:I,s:b}", "templateArn", arn,
                                           "templateName", t.name, "versionId",
                                           (json_int_t)version, "isDefaultVersion",
                                           set_default));
out:
    db_aws_template_clear(&t);
    json_decref(body);
    return 0;
}

int api_aws_template_version_describe(const struct api_env *env,
                                      const struct api_aws_route *rt,
                                      const struct api_request *req, struct api_response *resp)
{
    struct db_aws_template t;
    struct db_aws_template_version v;
    int64_t version;
    int rc;

    memset(&v, 0, sizeof(v));
    if (load_template(env, resp, rt->label[0], &t) < 0 ||
        version_id(resp, rt->label[1], &version) < 0)
        goto out;
    rc = db_aws_template_version_get(env->db, t.rowid, version, &v);
    if (rc == -ENOENT)
        version_not_found(resp, t.name, version);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "provisioning template version lookup");
    else
        api_aws_reply_take(resp, json_pack("{s:I,s:o,s:s,s:b}", "versionId",
                                           (json_int_t)v.version, "creationDate",
                                           api_aws_time(v.created_us), "templateBody", v.body,
                                           "isDefaultVersion",
                                           v.version == t.default_version));
out:
    db_aws_template_version_clear(&v);
    db_aws_template_clear(&t);
    return 0;
}

static int versions_cb(const struct db_aws_template_version *v, void *ud)
{
    struct api_aws_list *a = ud;
    const struct db_aws_template *t = a->ctx;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, v->version,
                            json_pack("{s:I,s:o,s:b}", "versionId", (json_int_t)v->version,
                                      "creationDate", api_aws_time(v->created_us),
                                      "isDefaultVersion", v->version == t->default_version));
}

int api_aws_template_versions_list(const struct api_env *env, const struct api_aws_route *rt,
                                   const struct api_request *req, struct api_response *resp)
{
    struct api_aws_list a = { .env = env };
    struct db_aws_template t;
    struct api_aws_page pg;
    int rc;

    if (load_template(env, resp, rt->label[0], &t) < 0 ||
        api_aws_page_args(req, "maxResults", "nextToken", TEMPLATES_PAGE_DEFAULT, &pg,
                          resp) < 0)
        goto out;
    a.limit = pg.limit;
    a.ctx = &t;
    a.arr = json_array();
    if (!a.arr) {
        api_aws_oom(resp);
        goto out;
    }
    /* The token is the last version id served. */
    rc = db_aws_template_version_list(env->db, t.rowid, pg.after, pg.limit + 1, versions_cb,
                                      &a);
    api_aws_list_finish(env, resp, &a, rc, "provisioning template version list", "versions",
                        "nextToken");
out:
    db_aws_template_clear(&t);
    return 0;
}

int api_aws_template_version_delete(const struct api_env *env, const struct api_aws_route *rt,
                                    const struct api_request *req, struct api_response *resp)
{
    struct db_aws_template t;
    int64_t version;
    int rc;

    if (load_template(env, resp, rt->label[0], &t) < 0 ||
        version_id(resp, rt->label[1], &version) < 0)
        goto out;
    rc = db_aws_template_version_delete(env->db, t.rowid, version, env->now_us);
    if (rc == -EBUSY)
        api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                     "Cannot delete the default version of the template %s", t.name);
    else if (rc == -ENOENT)
        version_not_found(resp, t.name, version);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "provisioning template version delete");
    else
        api_aws_reply_empty(resp);
out:
    db_aws_template_clear(&t);
    return 0;
}
