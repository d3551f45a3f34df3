/* AWS IoT things and thing types: CreateThing (idempotent for an identical
 * configuration), DescribeThing, ListThings with its attribute and type
 * filters, UpdateThing (attributePayload merge, expectedVersion,
 * removeThingType), DeleteThing (success when the thing does not exist,
 * refused while principals are attached, as AWS does), and
 * Create/Describe/List/Deprecate/DeleteThingType. Names, attributes and
 * limits follow the iot model [aws-iot-core.md 5.2]. */
#include "webui/aws_api.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* AWS: a thing without a thing type can have 3 attributes, a typed one 50
 * (the model's AttributePayload: "up to three key-value pairs"; the
 * developer guide's thing-type page: 50). */
#define ATTRS_UNTYPED_MAX 3
#define ATTRS_TYPED_MAX 50
#define ATTR_NAME_MAX 128
#define ATTR_VALUE_MAX 800
#define TYPE_DESCRIPTION_MAX 2028
#define SEARCHABLE_MAX 3            /* AWS: up to three searchable attributes */
#define THINGS_PAGE_DEFAULT 50

/* ---- attributes ---- */

/* Model: names [a-zA-Z0-9_.,@/:#-]+ (<= 128), values
 * [a-zA-Z0-9_.,@/:#=\[\]-]* (<= 800). */
static bool attr_char(char c, bool value)
{
    if (isalnum((unsigned char)c) || strchr("_.,@/:#-", c))
        return c != '\0';
    return value && (c == '=' || c == '[' || c == ']');
}

static int check_attr(struct api_response *resp, const char *name, const json_t *v)
{
    const char *val;
    size_t nlen = strlen(name);
    char shown[160];

    log_escape(shown, sizeof(shown), name, nlen);
    if (nlen == 0 || nlen > ATTR_NAME_MAX) {
        api_aws_invalid(resp, "Attribute name '%s' must have 1 to %d characters.", shown,
                        ATTR_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < nlen; i++) {
        if (!attr_char(name[i], false)) {
            api_aws_invalid(resp, "1 validation error detected: Value '%s' at "
                            "'attributePayload.attributes' failed to satisfy constraint: Map "
                            "keys must satisfy constraint: [Member must satisfy regular "
                            "expression pattern: [a-zA-Z0-9_.,@/:#-]+]", shown);
            return -EINVAL;
        }
    }
    if (!json_is_string(v)) {
        api_aws_invalid(resp, "attributePayload.attributes.%s: expected a string.", shown);
        return -EINVAL;
    }
    val = json_string_value(v);
    if (json_string_length(v) > ATTR_VALUE_MAX) {
        api_aws_invalid(resp, "The value of attribute '%s' is longer than %d characters.",
                        shown, ATTR_VALUE_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_string_length(v); i++) {
        if (!attr_char(val[i], true)) {
            api_aws_invalid(resp, "1 validation error detected: The value of attribute '%s' "
                            "failed to satisfy constraint: Member must satisfy regular "
                            "expression pattern: [a-zA-Z0-9_.,@/:#=\\[\\]-]*", shown);
            return -EINVAL;
        }
    }
    return 0;
}

/* body.attributePayload, validated: attrs borrowed from body (NULL when
 * absent), merge as sent. */
struct attr_payload {
    const json_t *attrs;
    bool merge;
};

static int parse_payload(const json_t *body, struct attr_payload *ret,
                         struct api_response *resp)
{
    const json_t *p = json_object_get(body, "attributePayload"), *v;
    const char *name;

    memset(ret, 0, sizeof(*ret));
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_object(p)) {
        api_aws_invalid(resp, "attributePayload: expected an object.");
        return -EINVAL;
    }
    if (api_aws_bool(p, "merge", &ret->merge, resp) < 0)
        return -EINVAL;
    ret->attrs = json_object_get(p, "attributes");
    if (!ret->attrs || json_is_null(ret->attrs)) {
        ret->attrs = NULL;
        return 0;
    }
    if (!json_is_object(ret->attrs)) {
        api_aws_invalid(resp, "attributePayload.attributes: expected an object.");
        return -EINVAL;
    }
    json_object_foreach((json_t *)ret->attrs, name, v)
        if (check_attr(resp, name, v) < 0)
            return -EINVAL;
    return 0;
}

/* The attributes after applying p to the stored ones (old_json, may be
 * NULL): merged or replaced; an empty value removes an attribute (AWS's
 * way to delete one). NULL on allocation failure. */
static json_t *apply_payload(const char *old_json, const struct attr_payload *p)
{
    json_t *out = NULL, *v;
    const char *name;

    if (old_json && (!p->attrs || p->merge))
        out = json_loads(old_json, 0, NULL);
    if (out && !json_is_object(out)) {
        json_decref(out);
        out = NULL;
    }
    if (!out)
        out = json_object();
    if (!out || !p->attrs)
        return out;
    if (!p->merge)
        json_object_clear(out);
    json_object_foreach((json_t *)p->attrs, name, v) {
        int rc = json_string_length(v) == 0 ? (json_object_del(out, name), 0)
                                             : json_object_set(out, name, v);
        if (rc < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int check_attr_count(struct api_response *resp, const json_t *attrs, bool typed)
{
    size_t max = typed ? ATTRS_TYPED_MAX : ATTRS_UNTYPED_MAX;

    if (json_object_size(attrs) <= max)
        return 0;
    api_aws_invalid(resp, "A thing %s can have at most %zu attributes (got %zu).",
                    typed ? "with a thing type" : "without a thing type", max,
                    json_object_size(attrs));
    return -EINVAL;
}

/* ---- thing types used by things ---- */

/* Checks that type names an existing thing type that may take new things.
 * verb is "create new thing" or "update a thing to use". Returns 0, or < 0
 * with resp filled. */
static int check_type_usable(const struct api_env *env, struct api_response *resp,
                             const char *type, const char *verb)
{
    struct db_aws_thing_type tt;
    int rc;

    if (api_aws_check_name(resp, "thingTypeName", type, API_AWS_NAME_THING) < 0)
        return -EINVAL;
    memset(&tt, 0, sizeof(tt));
    rc = db_aws_thing_type_get(env->db, type, &tt);
    if (rc == -ENOENT) {
        api_aws_not_found_msg(resp, "Thing type %s does not exist.", type);
        return rc;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "thing type lookup");
        return rc;
    }
    rc = tt.deprecated ? -EPERM : 0;
    db_aws_thing_type_clear(&tt);
    if (rc < 0)
        api_aws_invalid(resp, "Can not %s deprecated thing type: %s", verb, type);
    return rc;
}

/* ---- rendering ---- */

static json_t *attrs_json(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;

    if (j && json_is_object(j))
        return j;
    json_decref(j);
    return json_object();
}

/* DescribeThing's shape (full) or ListThings' ThingAttribute. */
static json_t *thing_json(const struct api_env *env, const struct db_aws_thing *t, bool full)
{
    char arn[DB_AWS_ARN_MAX];
    json_t *j = json_object();

    if (!j || api_aws_arn(env, "thing", t->name, arn, sizeof(arn)) < 0)
        goto fail;
    if (full && (json_object_set_new(j, "defaultClientId", json_string(t->name)) < 0 ||
                 json_object_set_new(j, "thingName", json_string(t->name)) < 0 ||
                 json_object_set_new(j, "thingId", json_string(t->thing_id)) < 0 ||
                 json_object_set_new(j, "thingArn", json_string(arn)) < 0))
        goto fail;
    if (!full && json_object_set_new(j, "thingName", json_string(t->name)) < 0)
        goto fail;
    if (t->type_name[0] &&
        json_object_set_new(j, "thingTypeName", json_string(t->type_name)) < 0)
        goto fail;
    if (!full && json_object_set_new(j, "thingArn", json_string(arn)) < 0)
        goto fail;
    if (json_object_set_new(j, "attributes", attrs_json(t->attributes_json)) < 0 ||
        json_object_set_new(j, "version", json_integer(t->version)) < 0)
        goto fail;
    return j;
fail:
    json_decref(j);
    return NULL;
}

static int thing_not_found(struct api_response *resp, const char *name)
{
    char shown[160];

    return api_aws_not_found_msg(resp, "Thing %s cannot be found.",
                                 log_escape(shown, sizeof(shown), name, strlen(name)));
}

/* ---- things ---- */

int api_aws_thing_create(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0], *type = NULL, *billing = NULL;
    struct db_aws_thing t, old;
    struct attr_payload pl;
    json_t *body = NULL, *attrs = NULL;
    char arn[DB_AWS_ARN_MAX];
    int rc;

    memset(&t, 0, sizeof(t));
    memset(&old, 0, sizeof(old));
    if (api_aws_check_name(resp, "thingName", name, API_AWS_NAME_THING) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    if (api_aws_str(body, "thingTypeName", DB_AWS_NAME_MAX - 1, false, &type, resp) < 0 ||
        api_aws_str(body, "billingGroupName", 128, false, &billing, resp) < 0 ||
        parse_payload(body, &pl, resp) < 0)
        goto out;
    if (billing) {
        api_aws_not_found_msg(resp, "Billing group %.128s does not exist (iotcored does not "
                              "emulate billing groups).", billing);
        goto out;
    }
    if (type && check_type_usable(env, resp, type, "create new thing with") < 0)
        goto out;
    attrs = apply_payload(NULL, &pl);
    if (!attrs) {
        api_aws_oom(resp);
        goto out;
    }
    if (check_attr_count(resp, attrs, type != NULL) < 0 ||
        api_aws_arn(env, "thing", name, arn, sizeof(arn)) < 0)
        goto out;
    /* AWS: creating a thing that exists with the same configuration is
     * not an error; a different one is. */
    rc = db_aws_thing_get(env->db, name, &old);
    if (rc == 0) {
        json_t *stored = attrs_json(old.attributes_json);
        bool same = strcmp(old.type_name, type ? type : "") == 0 && json_equal(stored, attrs);
        json_decref(stored);
        if (same)
            api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingName", old.name,
                                               "thingArn", arn, "thingId", old.thing_id));
        else
            api_aws_already_exists(resp, "Thing already exists with different attributes.",
                                   old.thing_id, arn);
        goto out;
    }
    if (rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "thing lookup");
        goto out;
    }
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.type_name, sizeof(t.type_name), "%s", type ? type : "");
    t.attributes_json = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    t.version = 1;
    t.created_us = env->now_us;
    if (!t.attributes_json) {
        api_aws_oom(resp);
        goto out;
    }
    if (api_aws_uuid(t.thing_id) < 0) {
        api_aws_db_failure(env, resp, -EIO, "thing id");
        goto out;
    }
    rc = db_aws_thing_insert(env->db, &t);
    if (rc == -EEXIST)
        api_aws_already_exists(resp, "Thing already exists with different attributes.", name,
                               arn);
    else if (rc == -ENOENT)
        api_aws_not_found_msg(resp, "Thing type %s does not exist.", type ? type : "");
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "thing insert");
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingName", t.name, "thingArn",
                                           arn, "thingId", t.thing_id));
out:
    db_aws_thing_clear(&t);
    db_aws_thing_clear(&old);
    json_decref(attrs);
    json_decref(body);
    return 0;
}

int api_aws_thing_describe(const struct api_env *env, const struct api_aws_route *rt,
                           const struct api_request *req, struct api_response *resp)
{
    struct db_aws_thing t;
    int rc;

    if (api_aws_check_name(resp, "thingName", rt->label[0], API_AWS_NAME_THING) < 0)
        return 0;
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_get(env->db, rt->label[0], &t);
    if (rc == -ENOENT)
        return thing_not_found(resp, rt->label[0]);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing lookup");
    api_aws_reply_take(resp, thing_json(env, &t, true));
    db_aws_thing_clear(&t);
    return 0;
}

static int things_cb(const struct db_aws_thing *t, void *ud)
{
    struct api_aws_list *a = ud;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, t->rowid, thing_json(a->env, t, false));
}

int api_aws_things_list(const struct api_env *env, const struct api_aws_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    struct db_aws_thing_filter f = {
        .type_name = api_request_param(req, "thingTypeName"),
        .attribute_name = api_request_param(req, "attributeName"),
        .attribute_value = api_request_param(req, "attributeValue"),
    };
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    int rc;

    if (api_aws_page_args(req, "maxResults", "nextToken", THINGS_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "usePrefixAttributeValue", &f.attribute_value_prefix, resp) < 0)
        return 0;
    if (f.attribute_name && !*f.attribute_name)
        f.attribute_name = NULL;
    if (f.attribute_value && !*f.attribute_value && !f.attribute_name)
        f.attribute_value = NULL;
    if (!f.attribute_name != !f.attribute_value)
        return api_aws_invalid(resp, "attributeName and attributeValue must be given "
                               "together.");
    if (f.type_name && !*f.type_name)
        f.type_name = NULL;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_thing_list(env->db, &f, pg.after, pg.limit + 1, things_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "thing list", "things", "nextToken");
}

int api_aws_thing_update(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0], *type = NULL;
    struct db_aws_thing t;
    struct attr_payload pl;
    json_t *body = NULL, *attrs = NULL, *ev;
    bool remove_type = false;
    char *text = NULL;
    int rc;

    memset(&t, 0, sizeof(t));
    if (api_aws_check_name(resp, "thingName", name, API_AWS_NAME_THING) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    if (api_aws_str(body, "thingTypeName", DB_AWS_NAME_MAX - 1, false, &type, resp) < 0 ||
        api_aws_bool(body, "removeThingType", &remove_type, resp) < 0 ||
        parse_payload(body, &pl, resp) < 0)
        goto out;
    ev = json_object_get(body, "expectedVersion");
    if (ev && !json_is_null(ev) && !json_is_integer(ev)) {
        api_aws_invalid(resp, "expectedVersion: expected an integer.");
        goto out;
    }
    if (type && remove_type) {
        api_aws_invalid(resp, "You cannot specify both thingTypeName and removeThingType.");
        goto out;
    }
    rc = db_aws_thing_get(env->db, name, &t);
    if (rc == -ENOENT) {
        thing_not_found(resp, name);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "thing lookup");
        goto out;
    }
    if (ev && json_is_integer(ev) && json_integer_value(ev) != t.version) {
        api_aws_fail(resp, 409, API_AWS_VERSION_CONFLICT,
                     "The version for thing %s does not match the expected version.", name);
        goto out;
    }
    if (type && strcmp(type, t.type_name) != 0 &&
        check_type_usable(env, resp, type, "update a thing to use") < 0)
        goto out;
    attrs = apply_payload(t.attributes_json, &pl);
    if (!attrs) {
        api_aws_oom(resp);
        goto out;
    }
    if (remove_type)
        t.type_name[0] = '\0';
    else if (type)
        snprintf(t.type_name, sizeof(t.type_name), "%s", type);
    if (check_attr_count(resp, attrs, t.type_name[0] != '\0') < 0)
        goto out;
    text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        api_aws_oom(resp);
        goto out;
    }
    free(t.attributes_json);
    t.attributes_json = text;
    t.version++;
    rc = db_aws_thing_update(env->db, &t);
    if (rc == -ENOENT) {
        api_aws_not_found_msg(resp, "Thing type %s does not exist.", t.type_name);
        goto out;
    }
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "thing update");
        goto out;
    }
    /* Thing attributes and type are policy variables of connections. */
    api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    api_aws_reply_empty(resp);
out:
    db_aws_thing_clear(&t);
    json_decref(attrs);
    json_decref(body);
    return 0;
}

static int count_cb(int64_t attach_rowid, const char *principal, void *ud)
{
    return 1;
}

int api_aws_thing_delete(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0], *ev = api_request_param(req, "expectedVersion");
    struct db_aws_thing t;
    uint64_t want = 0;
    int rc;

    if (api_aws_check_name(resp, "thingName", name, API_AWS_NAME_THING) < 0)
        return 0;
    if (ev && api_parse_u64(ev, &want) < 0)
        return api_aws_invalid(resp, "expectedVersion: expected an integer.");
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_get(env->db, name, &t);
    /* AWS: deleting a thing that does not exist succeeds. */
    if (rc == -ENOENT)
        return api_aws_reply_empty(resp);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing lookup");
    if (ev && (int64_t)want != t.version) {
        api_aws_fail(resp, 409, API_AWS_VERSION_CONFLICT,
                     "The version for thing %s does not match the expected version.", name);
        goto out;
    }
    rc = db_aws_thing_principals(env->db, t.rowid, 0, 1, count_cb, NULL);
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "thing principals");
        goto out;
    }
    if (rc > 0) {
        api_aws_invalid(resp, "Cannot delete. Thing %s is still attached to one or more "
                        "principals", name);
        goto out;
    }
    rc = db_aws_thing_delete(env->db, t.rowid);
    if (rc < 0 && rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "thing delete");
        goto out;
    }
    api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    api_aws_reply_empty(resp);
out:
    db_aws_thing_clear(&t);
    return 0;
}

/* ---- thing types ---- */

/* body.thingTypeProperties, validated and normalized (only the model's
 * fields). *ret owned; NULL when absent. */
static int parse_type_props(const json_t *body, json_t **ret, struct api_response *resp)
{
    const json_t *p = json_object_get(body, "thingTypeProperties"), *sa, *v;
    const char *desc = NULL;
    json_t *out;
    size_t i;

    *ret = NULL;
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_object(p)) {
        api_aws_invalid(resp, "thingTypeProperties: expected an object.");
        return -EINVAL;
    }
    if (api_aws_str(p, "thingTypeDescription", TYPE_DESCRIPTION_MAX, false, &desc, resp) < 0)
        return -EINVAL;
    sa = json_object_get(p, "searchableAttributes");
    if (sa && !json_is_null(sa)) {
        if (!json_is_array(sa) || json_array_size(sa) > SEARCHABLE_MAX) {
            api_aws_invalid(resp, "thingTypeProperties.searchableAttributes: expected a list "
                            "of at most %d attribute names.", SEARCHABLE_MAX);
            return -EINVAL;
        }
        json_array_foreach(sa, i, v) {
            const char *n = json_is_string(v) ? json_string_value(v) : "";
            bool ok = *n && strlen(n) <= ATTR_NAME_MAX;
            for (const char *c = n; ok && *c; c++)
                ok = attr_char(*c, false);
            if (!ok) {
                api_aws_invalid(resp, "thingTypeProperties.searchableAttributes[%zu] is not a "
                                "valid attribute name.", i);
                return -EINVAL;
            }
        }
    } else {
        sa = NULL;
    }
    out = json_object();
    if (!out || (desc && json_object_set_new(out, "thingTypeDescription", json_string(desc)) < 0) ||
        (sa && json_object_set(out, "searchableAttributes", (json_t *)sa) < 0)) {
        json_decref(out);
        api_aws_oom(resp);
        return -ENOMEM;
    }
    *ret = out;
    return 0;
}

static json_t *type_json(const struct api_env *env, const struct db_aws_thing_type *t,
                         bool with_id)
{
    char arn[DB_AWS_ARN_MAX];
    json_t *j = json_object(), *meta = json_object();

    if (!j || !meta || api_aws_arn(env, "thingtype", t->name, arn, sizeof(arn)) < 0)
        goto fail;
    if (json_object_set_new(meta, "deprecated", json_boolean(t->deprecated)) < 0 ||
        (t->deprecated &&
         json_object_set_new(meta, "deprecationDate", api_aws_time(t->deprecated_us)) < 0) ||
        json_object_set_new(meta, "creationDate", api_aws_time(t->created_us)) < 0)
        goto fail;
    if (json_object_set_new(j, "thingTypeName", json_string(t->name)) < 0 ||
        (with_id && json_object_set_new(j, "thingTypeId", json_string(t->type_id)) < 0) ||
        json_object_set_new(j, "thingTypeArn", json_string(arn)) < 0 ||
        json_object_set_new(j, "thingTypeProperties", attrs_json(t->properties_json)) < 0 ||
        json_object_set_new(j, "thingTypeMetadata", meta) < 0) {
        meta = NULL;
        goto fail;
    }
    return j;
fail:
    json_decref(meta);
    json_decref(j);
    return NULL;
}

static int type_not_found(struct api_response *resp, const char *name)
{
    return api_aws_not_found_msg(resp, "Thing type %s does not exist.", name);
}

int api_aws_thing_type_create(const struct api_env *env, const struct api_aws_route *rt,
                              const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0];
    struct db_aws_thing_type t, old;
    json_t *body = NULL, *props = NULL;
    char arn[DB_AWS_ARN_MAX];
    int rc;

    memset(&t, 0, sizeof(t));
    memset(&old, 0, sizeof(old));
    if (api_aws_check_name(resp, "thingTypeName", name, API_AWS_NAME_THING) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    /* tags are accepted and not kept: iotcored does not emulate tagging. */
    if (parse_type_props(body, &props, resp) < 0 ||
        api_aws_arn(env, "thingtype", name, arn, sizeof(arn)) < 0)
        goto out;
    rc = db_aws_thing_type_get(env->db, name, &old);
    if (rc == 0) {
        json_t *stored = attrs_json(old.properties_json), *want = props ? props : json_object();
        bool same = want && json_equal(stored, want);
        if (want != props)
            json_decref(want);
        json_decref(stored);
        if (same)
            api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingTypeName", old.name,
                                               "thingTypeArn", arn, "thingTypeId",
                                               old.type_id));
        else
            api_aws_already_exists(resp, "Thing type already exists with different "
                                   "properties.", old.type_id, arn);
        goto out;
    }
    if (rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "thing type lookup");
        goto out;
    }
    snprintf(t.name, sizeof(t.name), "%s", name);
    t.created_us = env->now_us;
    if (props) {
        t.properties_json = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
        if (!t.properties_json) {
            api_aws_oom(resp);
            goto out;
        }
    }
    if (api_aws_uuid(t.type_id) < 0) {
        api_aws_db_failure(env, resp, -EIO, "thing type id");
        goto out;
    }
    rc = db_aws_thing_type_insert(env->db, &t);
    if (rc == -EEXIST)
        api_aws_already_exists(resp, "Thing type already exists.", name, arn);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "thing type insert");
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingTypeName", t.name,
                                           "thingTypeArn", arn, "thingTypeId", t.type_id));
out:
    db_aws_thing_type_clear(&t);
    db_aws_thing_type_clear(&old);
    json_decref(props);
    json_decref(body);
    return 0;
}

int api_aws_thing_type_describe(const struct api_env *env, const struct api_aws_route *rt,
                                const struct api_request *req, struct api_response *resp)
{
    struct db_aws_thing_type t;
    int rc;

    if (api_aws_check_name(resp, "thingTypeName", rt->label[0], API_AWS_NAME_THING) < 0)
        return 0;
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_type_get(env->db, rt->label[0], &t);
    if (rc == -ENOENT)
        return type_not_found(resp, rt->label[0]);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing type lookup");
    api_aws_reply_take(resp, type_json(env, &t, true));
    db_aws_thing_type_clear(&t);
    return 0;
}

static int types_cb(const struct db_aws_thing_type *t, void *ud)
{
    struct api_aws_list *a = ud;

    if (api_aws_list_full(a))
        return 1;
    return api_aws_list_add(a, t->rowid, type_json(a->env, t, false));
}

int api_aws_thing_types_list(const struct api_env *env, const struct api_aws_route *rt,
                             const struct api_request *req, struct api_response *resp)
{
    const char *only = api_request_param(req, "thingTypeName");
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    int rc;

    if (api_aws_page_args(req, "maxResults", "nextToken", THINGS_PAGE_DEFAULT, &pg, resp) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    if (only && *only) {
        /* The filter names one type: at most one row. */
        struct db_aws_thing_type t;
        memset(&t, 0, sizeof(t));
        rc = db_aws_thing_type_get(env->db, only, &t);
        if (rc == 0 && t.rowid > pg.after)
            types_cb(&t, &a);
        db_aws_thing_type_clear(&t);
        if (rc == -ENOENT)
            rc = 0;
    } else {
        rc = db_aws_thing_type_list(env->db, pg.after, pg.limit + 1, types_cb, &a);
    }
    return api_aws_list_finish(env, resp, &a, rc, "thing type list", "thingTypes", "nextToken");
}

int api_aws_thing_type_deprecate(const struct api_env *env, const struct api_aws_route *rt,
                                 const struct api_request *req, struct api_response *resp)
{
    struct db_aws_thing_type t;
    json_t *body = NULL;
    bool undo = false;
    int rc;

    if (api_aws_check_name(resp, "thingTypeName", rt->label[0], API_AWS_NAME_THING) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    rc = api_aws_bool(body, "undoDeprecate", &undo, resp);
    json_decref(body);
    if (rc < 0)
        return 0;
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_type_get(env->db, rt->label[0], &t);
    if (rc == -ENOENT)
        return type_not_found(resp, rt->label[0]);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing type lookup");
    if (t.deprecated != !undo) {
        t.deprecated = !undo;
        t.deprecated_us = undo ? 0 : env->now_us;
        rc = db_aws_thing_type_update(env->db, &t);
    }
    if (rc < 0)
        api_aws_db_failure(env, resp, rc, "thing type update");
    else
        api_aws_reply_empty(resp);
    db_aws_thing_type_clear(&t);
    return 0;
}

/* AWS also makes the caller wait 5 minutes after deprecating; iotcored
 * does not (a local stand-in has no caches to drain). */
int api_aws_thing_type_delete(const struct api_env *env, const struct api_aws_route *rt,
                              const struct api_request *req, struct api_response *resp)
{
    const char *name = rt->label[0];
    struct db_aws_thing_type t;
    int rc;

    if (api_aws_check_name(resp, "thingTypeName", name, API_AWS_NAME_THING) < 0)
        return 0;
    memset(&t, 0, sizeof(t));
    rc = db_aws_thing_type_get(env->db, name, &t);
    if (rc == -ENOENT)
        return type_not_found(resp, name);
    if (rc < 0)
        return api_aws_db_failure(env, resp, rc, "thing type lookup");
    if (!t.deprecated) {
        api_aws_invalid(resp, "Thing type %s must be deprecated before it can be deleted.",
                        name);
        goto out;
    }
    rc = db_aws_thing_type_delete(env->db, t.rowid);
    if (rc == -ENOTEMPTY)
        api_aws_invalid(resp, "Thing type %s cannot be deleted while things are associated "
                        "with it.", name);
    else if (rc < 0 && rc != -ENOENT)
        api_aws_db_failure(env, resp, rc, "thing type delete");
    else
        api_aws_reply_empty(resp);
out:
    db_aws_thing_type_clear(&t);
    return 0;
}
