/* The life and stored form of one Device Shadow: allocation, the
 * accessors, the JSON text the store keeps (checked on load, since a
 * damaged row must not break the invariants the operations rely on: no
 * nulls, no empty sections, metadata parallel to the state) and the thing
 * and shadow name rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/aws_shadow.h"
#include "registry/aws_shadow_int.h"

int aws_shadow_new(struct aws_shadow **ret)
{
    struct aws_shadow *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

void shd_drop_state(struct aws_shadow *s)
{
    json_decref(s->desired);
    json_decref(s->reported);
    json_decref(s->meta_desired);
    json_decref(s->meta_reported);
    s->desired = s->reported = s->meta_desired = s->meta_reported = NULL;
}

void aws_shadow_free(struct aws_shadow *s)
{
    if (!s)
        return;
    shd_drop_state(s);
    free(s);
}

bool aws_shadow_exists(const struct aws_shadow *s)
{
    return s && s->exists;
}

uint64_t aws_shadow_version(const struct aws_shadow *s)
{
    return s ? s->version : 0;
}

int aws_shadow_dump(const struct aws_shadow *s, char **ret, size_t *ret_len)
{
    json_t *doc = json_pack("{sIsbsoso}", "version", (json_int_t)s->version, "exists", s->exists,
                            "state", shd_pair(s->desired, s->reported),
                            "metadata", shd_pair(s->meta_desired, s->meta_reported));
    char *text;

    if (!doc)
        return -ENOMEM;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -ENOMEM;
    *ret = text;
    *ret_len = strlen(text);
    return 0;
}

/* One stored section and its metadata: both absent, or a non-empty object
 * without nulls and metadata parallel to it. */
static bool section_ok(const json_t *v, const json_t *m)
{
    if (!v)
        return !m;
    return json_is_object(v) && json_object_size(v) > 0 && !shd_has_null(v) &&
           shd_meta_parallel(v, m);
}

static bool only_sections(const json_t *o)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return false;
    json_object_foreach((json_t *)o, k, v) {
        if (strcmp(k, "desired") != 0 && strcmp(k, "reported") != 0)
            return false;
    }
    return true;
}

int aws_shadow_load(const char *text, size_t len, struct aws_shadow **ret)
{
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    json_t *ver, *ex, *st, *md;
    struct aws_shadow *s;
    int rc = -EBADMSG;

    if (!root)
        return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
    ver = json_object_get(root, "version");
    ex = json_object_get(root, "exists");
    st = json_object_get(root, "state");
    md = json_object_get(root, "metadata");
    if (!json_is_integer(ver) || json_integer_value(ver) < 0 || !json_is_boolean(ex) ||
        !only_sections(st) || !only_sections(md))
        goto done;
    json_t *d = json_object_get(st, "desired"), *r = json_object_get(st, "reported");
    json_t *mdd = json_object_get(md, "desired"), *mdr = json_object_get(md, "reported");
    if (!section_ok(d, mdd) || !section_ok(r, mdr))
        goto done;
    if (!json_is_true(ex) && (d || r))
        goto done;
    rc = aws_shadow_new(&s);
    if (rc < 0)
        goto done;
    s->version = (uint64_t)json_integer_value(ver);
    s->exists = json_is_true(ex);
    s->desired = json_incref(d);
    s->reported = json_incref(r);
    s->meta_desired = json_incref(mdd);
    s->meta_reported = json_incref(mdr);
    *ret = s;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static bool name_ok(const char *name, size_t len, size_t max, bool dollar)
{
    if (!name || len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-' || (dollar && c == '$')))
            return false;
    }
    return true;
}

bool aws_shadow_thing_name_ok(const char *name, size_t len)
{
    return name_ok(name, len, AWS_SHADOW_MAX_THING_NAME, false);
}

bool aws_shadow_name_ok(const char *name, size_t len)
{
    return name_ok(name, len, AWS_SHADOW_MAX_SHADOW_NAME, true);
}
