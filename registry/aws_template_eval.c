/* Values of a checked template with CloudFormation's meaning: the
 * parameters bound to the caller's values or their Defaults, every
 * intrinsic function, and the conditions, each evaluated once
 * (t->cstate: name -> true/false, null while being evaluated). The work is
 * linear in the body except for the text functions produce, which is
 * charged to t->budget (AWS_TEMPLATE_MAX_OUTPUT) so that Fn::Sub variables
 * used many times, nested Fn::Join or Fn::Base64 cannot grow it without
 * bound. The check ran first: shapes it guarantees are not re-checked,
 * only what depends on values is (list or string, indexes, map keys). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "registry/aws_template_int.h"

/* An Fn::Select index has at most this many digits (no overflow; no list
 * a 10240-byte body can make is that long anyway). */
#define INDEX_DIGITS 9

int tpl_charge(struct tpl *t, size_t n)
{
    if (n > t->budget)
        return tpl_fail(t, -EINVAL, "The template produces more than %d bytes of values",
                        AWS_TEMPLATE_MAX_OUTPUT);
    t->budget -= n;
    return 0;
}

/* The caller's first value for name (n bytes), or NULL. */
static const char *supplied(const struct tpl *t, const char *name, size_t n)
{
    for (size_t i = 0; i < t->n_vals; i++) {
        const char *k = t->vals[i].name;
        if (k && t->vals[i].value && strlen(k) == n && memcmp(k, name, n) == 0)
            return t->vals[i].value;
    }
    return NULL;
}

static int missing(struct tpl *t, const char *name, size_t n)
{
    char q[TPL_QBUF];

    return tpl_fail(t, -ENOENT, "No value for template parameter %s",
                    tpl_quote(name, n, q, sizeof(q)));
}

static int param_string(struct tpl *t, const char *name, size_t n, const char *s, json_t **ret)
{
    size_t len = strlen(s);
    char q[TPL_QBUF];

    if (!tpl_utf8_ok(s, len))
        return tpl_fail(t, -EINVAL, "The value of parameter %s is not valid UTF-8",
                        tpl_quote(name, n, q, sizeof(q)));
    if (!(*ret = json_stringn(s, len)))
        return tpl_nomem(t);
    return 0;
}

int tpl_bind(struct tpl *t)
{
    const char *name;
    json_t *decl, *v;
    int rc;

    if (!(t->values = json_object()))
        return tpl_nomem(t);
    json_object_foreach(t->params, name, decl) {
        size_t n = strlen(name);
        const char *s = supplied(t, name, n);
        if (s) {
            if ((rc = param_string(t, name, n, s, &v)) < 0)
                return rc;
        } else if ((v = json_object_get(decl, "Default"))) {
            json_incref(v);
        } else {
            return missing(t, name, n);
        }
        if (json_object_set_new(t->values, name, v) < 0)
            return tpl_nomem(t);
    }
    return 0;
}

/* The value of parameter name (n bytes): a declared one, or an
 * AWS::IoT::Certificate::* one the template uses without declaring. */
static int param_value(struct tpl *t, const char *name, size_t n, json_t **ret)
{
    json_t *v = tpl_getn(t->values, name, n);
    char q[TPL_QBUF];
    const char *s;
    int rc;

    if (v) {
        json_incref(v);
    } else if (!tpl_cert_param(name, n)) {
        return tpl_fail(t, -EINVAL, "%s is not a declared parameter",
                        tpl_quote(name, n, q, sizeof(q)));
    } else if (!(s = supplied(t, name, n))) {
        return missing(t, name, n);
    } else if ((rc = param_string(t, name, n, s, &v)) < 0) {
        return rc;
    }
    if ((rc = tpl_charge(t, json_string_length(v))) < 0) {
        json_decref(v);
        return rc;
    }
    *ret = v;
    return 0;
}

static bool scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

int tpl_text(struct tpl *t, json_t *v, const char *what, json_t **ret)
{
    json_t *s;

    if (json_is_string(v)) {
        *ret = json_incref(v);
        return 0;
    }
    if (json_is_integer(v)) {
        s = json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        char *d = json_dumps(v, JSON_ENCODE_ANY);
        s = d ? json_string(d) : NULL;
        free(d);
    } else if (json_is_boolean(v)) {
        s = json_string(json_is_true(v) ? "true" : "false");
    } else {
        return tpl_fail(t, -EINVAL, "%s must resolve to a string", what);
    }
    if (!s)
        return tpl_nomem(t);
    *ret = s;
    return 0;
}

/* v evaluated, then as text. */
static int eval_text(struct tpl *t, json_t *v, int depth, const char *what, json_t **ret)
{
    json_t *val;
    int rc;

    if ((rc = tpl_eval(t, v, depth, &val)) < 0)
        return rc;
    rc = tpl_text(t, val, what, ret);
    json_decref(val);
    return rc;
}

int tpl_eval_text(struct tpl *t, json_t *v, const char *what, char **ret)
{
    json_t *s;
    int rc;

    if (!v)
        return tpl_fail(t, -EINVAL, "%s is missing", what);
    if ((rc = eval_text(t, v, 1, what, &s)) < 0)
        return rc;
    *ret = strdup(json_string_value(s));
    json_decref(s);
    return *ret ? 0 : tpl_nomem(t);
}

/* A growing text whose every byte is charged to the budget. */
struct sb {
    char *p;            /* owned */
    size_t n, cap;
};

static int sb_add(struct tpl *t, struct sb *b, const char *p, size_t n)
{
    int rc;

    if ((rc = tpl_charge(t, n)) < 0)
        return rc;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return tpl_nomem(t);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* The text as a JSON string (new reference); frees b's buffer. */
static int sb_finish(struct tpl *t, struct sb *b, json_t **ret)
{
    *ret = json_stringn(b->p ? b->p : "", b->n);
    free(b->p);
    b->p = NULL;
    return *ret ? 0 : tpl_nomem(t);
}

static int eval_join(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *sep = json_array_get(arg, 0), *list = NULL, *x, *s;
    struct sb b = { 0 };
    size_t i;
    int rc;

    if ((rc = tpl_eval(t, json_array_get(arg, 1), depth + 1, &list)) < 0)
        return rc;
    if (!json_is_array(list)) {
        rc = tpl_fail(t, -EINVAL, "Fn::Join: the values must be a list");
        goto out;
    }
    json_array_foreach(list, i, x) {
        if ((rc = tpl_text(t, x, "A value of Fn::Join", &s)) < 0)
            goto out;
        if (i)
            rc = sb_add(t, &b, json_string_value(sep), json_string_length(sep));
        if (rc == 0)
            rc = sb_add(t, &b, json_string_value(s), json_string_length(s));
        json_decref(s);
        if (rc < 0)
            goto out;
    }
    rc = sb_finish(t, &b, ret);
out:
    free(b.p);
    json_decref(list);
    return rc;
}

static int eval_select(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *iv = NULL, *list = NULL, *x;
    size_t idx = 0;
    int rc;

    if ((rc = tpl_eval(t, json_array_get(arg, 0), depth + 1, &iv)) < 0)
        return rc;
    if (json_is_integer(iv) && json_integer_value(iv) >= 0) {
        idx = (size_t)json_integer_value(iv);
    } else {
        const char *s = json_string_value(iv);
        size_t n = json_string_length(iv);
        if (!s || n == 0 || n > INDEX_DIGITS || strspn(s, "0123456789") != n) {
            rc = tpl_fail(t, -EINVAL, "Fn::Select: the index must be a non-negative integer");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            idx = idx * 10 + (size_t)(s[i] - '0');
    }
    if ((rc = tpl_eval(t, json_array_get(arg, 1), depth + 1, &list)) < 0)
        goto out;
    if (!json_is_array(list)) {
        rc = tpl_fail(t, -EINVAL, "Fn::Select: the values must be a list");
        goto out;
    }
    /* AWS: out-of-range indexes and null values are provisioning errors. */
    if (idx >= json_array_size(list)) {
        rc = tpl_fail(t, -EINVAL, "Fn::Select: index %zu is out of range for a list of %zu",
                      idx, json_array_size(list));
        goto out;
    }
    x = json_array_get(list, idx);
    if (json_is_null(x)) {
        rc = tpl_fail(t, -EINVAL, "Fn::Select: the selected value is null");
        goto out;
    }
    *ret = json_incref(x);
out:
    json_decref(iv);
    json_decref(list);
    return rc;
}

static int eval_split(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *sepv = json_array_get(arg, 0), *src = NULL, *out = NULL;
    const char *sep = json_string_value(sepv), *p, *end, *hit;
    size_t seplen = json_string_length(sepv);
    int rc;

    if ((rc = eval_text(t, json_array_get(arg, 1), depth + 1, "The string of Fn::Split",
                        &src)) < 0)
        return rc;
    if (!(out = json_array())) {
        rc = tpl_nomem(t);
        goto out;
    }
    p = json_string_value(src);
    end = p + json_string_length(src);
    for (;;) {
        hit = memmem(p, (size_t)(end - p), sep, seplen);
        size_t n = (size_t)((hit ? hit : end) - p);
        /* Each element costs its text and a little for the element. */
        if ((rc = tpl_charge(t, n + 16)) < 0)
            goto out;
        if (json_array_append_new(out, json_stringn(p, n)) < 0) {
            rc = tpl_nomem(t);
            goto out;
        }
        if (!hit)
            break;
        p = hit + seplen;
    }
    *ret = out;
    out = NULL;
out:
    json_decref(src);
    json_decref(out);
    return rc;
}

static int eval_sub(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *text = arg, *vars = NULL, *vals = NULL, *x, *s;
    const char *k, *cur, *end;
    struct tpl_sub_piece pc;
    struct sb b = { 0 };
    int rc = 0;

    if (json_is_array(arg)) {
        text = json_array_get(arg, 0);
        vars = json_array_get(arg, 1);
    }
    /* Each variable once, however often the text uses it. */
    if (!(vals = json_object()))
        return tpl_nomem(t);
    json_object_foreach(vars, k, x) {
        char q[TPL_QBUF], what[TPL_QBUF + 32];
        snprintf(what, sizeof(what), "Fn::Sub variable %s", tpl_quote(k, strlen(k), q, sizeof(q)));
        if ((rc = eval_text(t, x, depth + 1, what, &s)) < 0)
            goto out;
        if (json_object_set_new(vals, k, s) < 0) {
            rc = tpl_nomem(t);
            goto out;
        }
    }
    cur = json_string_value(text);
    end = cur + json_string_length(text);
    while (rc == 0 && tpl_sub_next(&cur, end, &pc)) {
        if (!pc.var) {
            rc = sb_add(t, &b, pc.p, pc.n);
        } else if ((x = tpl_getn(vals, pc.p, pc.n))) {
            rc = sb_add(t, &b, json_string_value(x), json_string_length(x));
        } else if ((rc = param_value(t, pc.p, pc.n, &x)) == 0) {
            rc = sb_add(t, &b, json_string_value(x), json_string_length(x));
            json_decref(x);
        }
    }
    if (rc == 0)
        rc = sb_finish(t, &b, ret);
out:
    free(b.p);
    json_decref(vals);
    return rc;
}

static int eval_find_in_map(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *key[3] = { NULL, NULL, NULL }, *v = t->mappings;
    char q[3][TPL_QBUF];
    int rc = 0;

    for (size_t i = 0; i < 3 && rc == 0; i++)
        rc = eval_text(t, json_array_get(arg, i), depth + 1, "A key of Fn::FindInMap", &key[i]);
    for (size_t i = 0; i < 3 && rc == 0 && v; i++)
        v = tpl_getn(v, json_string_value(key[i]), json_string_length(key[i]));
    if (rc == 0 && !v) {
        for (size_t i = 0; i < 3; i++)
            tpl_quote(json_string_value(key[i]), json_string_length(key[i]), q[i], sizeof(q[i]));
        rc = tpl_fail(t, -EINVAL, "Fn::FindInMap: no value for [%s, %s, %s]", q[0], q[1], q[2]);
    }
    if (rc == 0)
        *ret = json_incref(v);
    for (size_t i = 0; i < 3; i++)
        json_decref(key[i]);
    return rc;
}

static int eval_base64(struct tpl *t, json_t *arg, int depth, json_t **ret)
{
    json_t *s;
    size_t n;
    char *buf;
    int rc;

    if ((rc = eval_text(t, arg, depth + 1, "The value of Fn::Base64", &s)) < 0)
        return rc;
    n = b64_encoded_len(json_string_length(s));
    if ((rc = tpl_charge(t, n)) < 0)
        goto out;
    if (!(buf = malloc(n + 1))) {
        rc = tpl_nomem(t);
        goto out;
    }
    b64_encode(json_string_value(s), json_string_length(s), buf, n + 1);
    *ret = json_stringn(buf, n);
    free(buf);
    if (!*ret)
        rc = tpl_nomem(t);
out:
    json_decref(s);
    return rc;
}

static int eval_fn(struct tpl *t, const char *fn, json_t *arg, int depth, json_t **ret)
{
    bool holds;
    int rc;

    if (strcmp(fn, "Ref") == 0)
        return param_value(t, json_string_value(arg), json_string_length(arg), ret);
    if (strcmp(fn, "Fn::Join") == 0)
        return eval_join(t, arg, depth, ret);
    if (strcmp(fn, "Fn::Select") == 0)
        return eval_select(t, arg, depth, ret);
    if (strcmp(fn, "Fn::Split") == 0)
        return eval_split(t, arg, depth, ret);
    if (strcmp(fn, "Fn::Sub") == 0)
        return eval_sub(t, arg, depth, ret);
    if (strcmp(fn, "Fn::FindInMap") == 0)
        return eval_find_in_map(t, arg, depth, ret);
    if (strcmp(fn, "Fn::Base64") == 0)
        return eval_base64(t, arg, depth, ret);
    if (strcmp(fn, "Fn::If") == 0) {
        if ((rc = tpl_cond(t, json_string_value(json_array_get(arg, 0)), depth + 1,
                           &holds)) < 0)
            return rc;
        return tpl_eval(t, json_array_get(arg, holds ? 1 : 2), depth + 1, ret);
    }
    /* The check lets no other name through. */
    return tpl_fail(t, -EINVAL, "Unsupported intrinsic function");
}

int tpl_eval(struct tpl *t, json_t *v, int depth, json_t **ret)
{
    json_t *out, *x, *y;
    const char *k;
    size_t i;
    int rc;

    if (!v)
        return tpl_fail(t, -EINVAL, "A value is missing");
    if (depth > TPL_MAX_WALK)
        return tpl_fail(t, -EINVAL, "Values and conditions are nested too deeply");
    if (tpl_fn(v, &k, &x))
        return eval_fn(t, k, x, depth, ret);
    if (json_is_array(v)) {
        if (!(out = json_array()))
            return tpl_nomem(t);
        json_array_foreach(v, i, x) {
            if ((rc = tpl_eval(t, x, depth + 1, &y)) < 0 ||
                (json_array_append_new(out, y) < 0 && (rc = tpl_nomem(t)) < 0)) {
                json_decref(out);
                return rc;
            }
        }
    } else if (json_is_object(v)) {
        if (!(out = json_object()))
            return tpl_nomem(t);
        json_object_foreach(v, k, x) {
            if ((rc = tpl_eval(t, x, depth + 1, &y)) < 0 ||
                (json_object_set_new(out, k, y) < 0 && (rc = tpl_nomem(t)) < 0)) {
                json_decref(out);
                return rc;
            }
        }
    } else {
        out = json_incref(v);
    }
    *ret = out;
    return 0;
}

/* Fn::Equals compares text (so "1" equals 1), lists and objects by value. */
static int equals(struct tpl *t, json_t *arg, int depth, bool *ret)
{
    json_t *a = NULL, *b = NULL, *sa = NULL, *sb = NULL;
    int rc;

    if ((rc = tpl_eval(t, json_array_get(arg, 0), depth + 1, &a)) < 0 ||
        (rc = tpl_eval(t, json_array_get(arg, 1), depth + 1, &b)) < 0)
        goto out;
    if (scalar(a) && scalar(b)) {
        if ((rc = tpl_text(t, a, "Fn::Equals", &sa)) < 0 ||
            (rc = tpl_text(t, b, "Fn::Equals", &sb)) < 0)
            goto out;
        *ret = json_string_length(sa) == json_string_length(sb) &&
               memcmp(json_string_value(sa), json_string_value(sb), json_string_length(sa)) == 0;
    } else {
        *ret = json_equal(a, b);
    }
out:
    json_decref(a);
    json_decref(b);
    json_decref(sa);
    json_decref(sb);
    return rc;
}

static int cond_expr(struct tpl *t, json_t *v, int depth, bool *ret)
{
    const char *k = json_object_iter_key(json_object_iter(v));
    json_t *arg = json_object_iter_value(json_object_iter(v)), *x;
    bool all = false;
    size_t i;
    int rc;

    if (depth > TPL_MAX_WALK)
        return tpl_fail(t, -EINVAL, "Values and conditions are nested too deeply");
    if (strcmp(k, "Condition") == 0)
        return tpl_cond(t, json_string_value(arg), depth + 1, ret);
    if (strcmp(k, "Fn::Equals") == 0)
        return equals(t, arg, depth, ret);
    if (strcmp(k, "Fn::Not") == 0) {
        if ((rc = cond_expr(t, json_array_get(arg, 0), depth + 1, ret)) < 0)
            return rc;
        *ret = !*ret;
        return 0;
    }
    /* Fn::And / Fn::Or, stopping at the first operand that decides. */
    all = strcmp(k, "Fn::And") == 0;
    json_array_foreach(arg, i, x) {
        if ((rc = cond_expr(t, x, depth + 1, ret)) < 0)
            return rc;
        if (*ret != all)
            return 0;
    }
    *ret = all;
    return 0;
}

int tpl_cond(struct tpl *t, const char *name, int depth, bool *ret)
{
    json_t *st = json_object_get(t->cstate, name), *def = json_object_get(t->conditions, name);
    char q[TPL_QBUF];
    bool b = false;
    int rc;

    if (json_is_boolean(st)) {
        *ret = json_is_true(st);
        return 0;
    }
    tpl_quote(name, strlen(name), q, sizeof(q));
    if (st)
        return tpl_fail(t, -EINVAL, "Condition %s depends on itself", q);
    if (!def)
        return tpl_fail(t, -EINVAL, "Condition %s is not declared", q);
    if (depth > TPL_MAX_WALK)
        return tpl_fail(t, -EINVAL, "Values and conditions are nested too deeply");
    if (json_object_set_new(t->cstate, name, json_null()) < 0)
        return tpl_nomem(t);
    if ((rc = cond_expr(t, def, depth + 1, &b)) < 0)
        return rc;
    if (json_object_set_new(t->cstate, name, json_boolean(b)) < 0)
        return tpl_nomem(t);
    *ret = b;
    return 0;
}
