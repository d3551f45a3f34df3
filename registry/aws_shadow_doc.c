/* The JSON tree rules of the Device Shadow [aws-iot-core.md 4.3, 4.4]:
 * merging a request into a section together with its parallel metadata,
 * the delta of desired over reported, equality with numbers compared by
 * value (Greengrass's JsonUtil: 1 == 1.0), nesting depth, nulls in arrays,
 * and the metadata shape the stored form must keep. Recursion is bounded:
 * requests are depth-checked before merging, and jansson's parser caps
 * nesting for everything else. */
#include <errno.h>

#include "registry/aws_shadow_int.h"

int shd_depth(const json_t *v, int limit)
{
    int deepest = 0;

    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (limit <= 0)
        return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;

        json_object_foreach((json_t *)v, k, c) {
            int d = shd_depth(c, limit - 1);
            if (d > deepest)
                deepest = d;
            if (deepest >= limit)
                break;
        }
    } else {
        size_t i;
        json_t *c;

        json_array_foreach(v, i, c) {
            int d = shd_depth(c, limit - 1);
            if (d > deepest)
                deepest = d;
            if (deepest >= limit)
                break;
        }
    }
    return deepest + 1;
}

static bool has_null(const json_t *v, bool in_array_only, bool inside)
{
    const char *k;
    json_t *c;
    size_t i;

    if (json_is_null(v))
        return inside || !in_array_only;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) {
            if (has_null(c, in_array_only, inside))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) {
            if (has_null(c, in_array_only, true))
                return true;
        }
    }
    return false;
}

bool shd_null_in_array(const json_t *v)
{
    return has_null(v, true, false);
}

bool shd_has_null(const json_t *v)
{
    return has_null(v, false, false);
}

static bool num_equal(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_real(a) && json_is_real(b))
        return json_real_value(a) == json_real_value(b);
    /* One integer, one real: equal only if the real is that exact integer. */
    const json_t *i = json_is_integer(a) ? a : b;
    double r = json_real_value(json_is_real(a) ? a : b);
    /* The range test is false for NaN too; the cast is then defined. */
    if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
        return false;
    json_int_t n = (json_int_t)r;
    return (double)n == r && n == json_integer_value(i);
}

bool shd_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_equal(a, b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(a)) {
        const char *k;
        json_t *c;

        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, c) {
            json_t *o = json_object_get(b, k);
            if (!o || !shd_equal(c, o))
                return false;
        }
        return true;
    }
    if (json_is_array(a)) {
        size_t n = json_array_size(a);

        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!shd_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static json_t *leaf(json_int_t ts)
{
    return json_pack("{sI}", "timestamp", ts);
}

json_t *shd_meta_for(const json_t *v, json_int_t ts)
{
    json_t *m, *c;
    const char *k;
    size_t i;

    if (json_is_object(v)) {
        m = json_object();
        if (!m)
            return NULL;
        json_object_foreach((json_t *)v, k, c) {
            if (json_object_set_new(m, k, shd_meta_for(c, ts)) < 0)
                goto fail;
        }
        return m;
    }
    if (json_is_array(v)) {
        m = json_array();
        if (!m)
            return NULL;
        json_array_foreach(v, i, c) {
            if (json_array_append_new(m, shd_meta_for(c, ts)) < 0)
                goto fail;
        }
        return m;
    }
    return leaf(ts);
fail:
    json_decref(m);
    return NULL;
}

int shd_merge(json_t *dst, json_t *meta, const json_t *patch, json_int_t ts)
{
    const char *k;
    json_t *pv;

    json_object_foreach((json_t *)patch, k, pv) {
        if (json_is_null(pv)) {
            json_object_del(dst, k);
            json_object_del(meta, k);
            continue;
        }
        if (json_is_object(pv)) {
            json_t *d = json_object_get(dst, k);
            json_t *m = json_object_get(meta, k);

            if (!json_is_object(d) || !json_is_object(m)) {
                /* Absent or not an object: the patch replaces it, with its
                 * nulls dropped (merging into an empty object does that). */
                if (json_object_set_new(dst, k, json_object()) < 0 ||
                    json_object_set_new(meta, k, json_object()) < 0)
                    return -ENOMEM;
                d = json_object_get(dst, k);
                m = json_object_get(meta, k);
                if (!d || !m)
                    return -ENOMEM;
            }
            if (shd_merge(d, m, pv, ts) < 0)
                return -ENOMEM;
            if (json_object_size(d) == 0) {
                /* AWS removes an object the update emptied; we never store
                 * an empty one either. */
                json_object_del(dst, k);
                json_object_del(meta, k);
            }
            continue;
        }
        /* Scalars and arrays replace whatever was there. */
        json_t *copy = json_deep_copy(pv);
        json_t *m = shd_meta_for(pv, ts);
        if (!copy || !m) {
            json_decref(copy);
            json_decref(m);
            return -ENOMEM;
        }
        if (json_object_set_new(dst, k, copy) < 0) {
            json_decref(m);
            return -ENOMEM;
        }
        if (json_object_set_new(meta, k, m) < 0)
            return -ENOMEM;
    }
    return 0;
}

json_t *shd_delta(const json_t *desired, const json_t *reported)
{
    json_t *delta = json_object();
    const char *k;
    json_t *dv;

    if (!delta || !json_is_object(desired))
        return delta;
    json_object_foreach((json_t *)desired, k, dv) {
        json_t *rv = json_is_object(reported) ? json_object_get(reported, k) : NULL;
        json_t *add = NULL;

        if (rv && json_is_object(dv) && json_is_object(rv)) {
            add = shd_delta(dv, rv);
            if (!add)
                goto fail;
            if (json_object_size(add) == 0) {
                json_decref(add);
                continue;
            }
        } else if (!rv || !shd_equal(dv, rv)) {
            add = json_deep_copy(dv);
            if (!add)
                goto fail;
        } else {
            continue;
        }
        if (json_object_set_new(delta, k, add) < 0)
            goto fail;
    }
    return delta;
fail:
    json_decref(delta);
    return NULL;
}

json_t *shd_meta_restrict(const json_t *delta, const json_t *meta)
{
    json_t *out = json_object();
    const char *k;
    json_t *dv;

    if (!out)
        return NULL;
    json_object_foreach((json_t *)delta, k, dv) {
        json_t *m = json_object_get(meta, k);
        json_t *add;

        if (!m)
            continue;
        if (json_is_object(dv))
            add = shd_meta_restrict(dv, m);
        else
            add = json_deep_copy(m);
        if (!add || json_object_set_new(out, k, add) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

bool shd_meta_parallel(const json_t *v, const json_t *meta)
{
    const char *k;
    json_t *c;

    if (json_is_object(v)) {
        if (!json_is_object(meta) || json_object_size(meta) != json_object_size(v))
            return false;
        json_object_foreach((json_t *)v, k, c) {
            if (!shd_meta_parallel(c, json_object_get(meta, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);

        if (!json_is_array(meta) || json_array_size(meta) != n)
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!shd_meta_parallel(json_array_get(v, i), json_array_get(meta, i)))
                return false;
        }
        return true;
    }
    return json_is_object(meta) && json_object_size(meta) == 1 &&
           json_is_integer(json_object_get(meta, "timestamp"));
}
