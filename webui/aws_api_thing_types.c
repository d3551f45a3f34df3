/* AWS IoT thing types: Create/Describe/List/Deprecate/DeleteThingType, and
 * the lookup things use to check the type they name. CreateThingType is
 * idempotent for identical properties; a type must be deprecated before it
 * can be deleted, and is refused while things use it, as AWS does. Names
 * and limits follow the iot model [aws-iot-core.md 5.2]. */
#include "webui/aws_api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define TYPE_DESCRIPTION_MAX 2028
#define SEARCHABLE_MAX 3            /* AWS: up to three searchable attributes */
#define TYPES_PAGE_DEFAULT 50

int api_aws_load_thing_type(const struct api_env *env, struct api_response *resp,
                            const char *name, struct db_aws_thing_type *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (api_aws_check_name(resp, "thingTypeName", name, API_AWS_NAME_THING) < 0)
        return -EINVAL;
    rc = db_aws_thing_type_get(env->db, name, t);
    if (rc == -ENOENT)
        api_aws_not_found_msg(resp, "Thing type %s does not exist.", name);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "thing type lookup");
    return rc;
}

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
            if (!json_is_string(v) || !api_aws_attr_name_ok(json_string_value(v))) {
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
        json_object_set_new(j, "thingTypeProperties",
                            api_aws_stored_object(t->properties_json)) < 0 ||
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

/* CreateThingType's answer, for a new type and for an identical one. */
static int reply_created(struct api_response *resp, const char *name, const char *arn,
                         const char *type_id)
{
    return api_aws_reply_take(resp, json_pack("{s:s,s:s,s:s}", "thingTypeName", name,
                                              "thingTypeArn", arn, "thingTypeId", type_id));
}

/* AWS: creating a type that exists with the same properties is not an
 * error; different ones are. */
static void reply_existing(struct api_response *resp, const struct db_aws_thing_type *old,
                           const json_t *props, const char *arn)
{
    json_t *stored = api_aws_stored_object(old->properties_json);
    json_t *none = props ? NULL : json_object();        /* no properties compare as {} */
    bool same = json_equal(stored, props ? props : none);

    json_decref(none);
    json_decref(stored);
    if (same)
        reply_created(resp, old->name, arn, old->type_id);
    else
        api_aws_already_exists(resp, "Thing type already exists with different properties.",
                               old->type_id, arn);
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
        reply_existing(resp, &old, props, arn);
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
        reply_created(resp, t.name, arn, t.type_id);
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

    if (api_aws_load_thing_type(env, resp, rt->label[0], &t) < 0)
        return 0;
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

    if (api_aws_page_args(req, "maxResults", "nextToken", TYPES_PAGE_DEFAULT, &pg, resp) < 0)
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
    if (rc < 0 || api_aws_load_thing_type(env, resp, rt->label[0], &t) < 0)
        return 0;
    rc = 0;
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

    if (api_aws_load_thing_type(env, resp, name, &t) < 0)
        return 0;
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
