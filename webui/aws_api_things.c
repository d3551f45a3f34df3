/* AWS IoT things: CreateThing (idempotent for an identical
 * configuration), DescribeThing, ListThings with its attribute and type
 * filters, UpdateThing (attributePayload merge, expectedVersion,
 * removeThingType) and DeleteThing (success when the thing does not exist,
 * refused while principals are attached, as AWS does), with the attribute
 * rules thing types share. Thing types are aws_api_thing_types.c's. Names,
 * attributes and limits follow the iot model [aws-iot-core.md 5.2]. */
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

bool api_aws_attr_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > ATTR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!attr_char(name[i], false))
            return false;
    return true;
}

json_t *api_aws_stored_object(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;

    if (j && json_is_object(j))
        return j;
    json_decref(j);
    return json_object();
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
    if (!api_aws_attr_name_ok(name)) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at "
                        "'attributePayload.attributes' failed to satisfy constraint: Map "
                        "keys must satisfy constraint: [Member must satisfy regular "
                        "expression pattern: [a-zA-Z0-9_.,@/:#-]+]", shown);
        return -EINVAL;
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
    int rc = api_aws_load_thing_type(env, resp, type, &tt);

    if (rc < 0)
        return rc;
    rc = tt.deprecated ? -EPERM : 0;
    db_aws_thing_type_clear(&tt);
    if (rc < 0)
        api_aws_invalid(resp, "Can not %s deprecated thing type: %s", verb, type);
    return rc;
}

/* ---- rendering ---- */

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
    if (json_object_set_new(j, "attributes", api_aws_stored_object(t->attributes_json)) < 0 ||
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

int api_aws_load_thing(const struct api_env *env, struct api_response *resp, const char *name,
                       struct db_aws_thing *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (api_aws_check_name(resp, "thingName", name, API_AWS_NAME_THING) < 0)
        return -EINVAL;
    rc = db_aws_thing_get(env->db, name, t);
    if (rc == -ENOENT)
        thing_not_found(resp, name);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "thing lookup");
    return rc;
}

/* CreateThing's answer, for a new thing and for an identical one. */
static int reply_created(struct api_response *resp, const char *name, const char *arn,
                         const char *thing_id)
{
    return api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingName", name, "thingArn",
                                              arn, "thingId", thing_id));
}

/* AWS: creating a thing that exists with the same configuration (type
 * and attributes) is not an error; a different one is. */
static void reply_existing(struct api_response *resp, const struct db_aws_thing *old,
                           const char *type, const json_t *attrs, const char *arn)
{
    json_t *stored = api_aws_stored_object(old->attributes_json);
    bool same = strcmp(old->type_name, type ? type : "") == 0 && json_equal(stored, attrs);

    json_decref(stored);
    if (same)
        reply_created(resp, old->name, arn, old->thing_id);
    else
        api_aws_already_exists(resp, "Thing already exists with different attributes.",
                               old->thing_id, arn);
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
    rc = db_aws_thing_get(env->db, name, &old);
    if (rc == 0) {
        reply_existing(resp, &old, type, attrs, arn);
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
        reply_created(resp, t.name, arn, t.thing_id);
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

    if (api_aws_load_thing(env, resp, rt->label[0], &t) < 0)
        return 0;
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
    if (api_aws_load_thing(env, resp, name, &t) < 0)
        goto out;
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
