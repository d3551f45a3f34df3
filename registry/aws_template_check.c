/* What CreateProvisioningTemplate checks before it stores a body, without
 * any parameter value: the sections' shapes, each resource's type,
 * properties, Condition and OverrideSettings, at most one thing and one
 * certificate, the arity and literal arguments of every intrinsic function,
 * that every Ref and ${name} names a declared parameter (or an
 * AWS::IoT::Certificate::* one), every condition named is declared, and
 * that conditions do not refer to themselves. Each named condition is
 * walked once (t->cstate: 1 while on the walk's path, 2 when done), so the
 * work stays linear in the body. The run calls this first, so the
 * evaluator may rely on these shapes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "registry/aws_template_int.h"

#define COND_VISITING 1
#define COND_DONE 2

static int check_value(struct tpl *t, json_t *v, int depth, bool in_cond);
static int check_named_cond(struct tpl *t, const char *name, int depth);

static int too_deep(struct tpl *t)
{
    return tpl_fail(t, -EINVAL, "Invalid template: conditions are nested too deeply");
}

/* A string literal or a function call (resolved to a string at run time). */
static bool str_or_fn(const json_t *v)
{
    const char *n;
    json_t *a;

    return json_is_string(v) || tpl_fn(v, &n, &a);
}

/* A literal list or a function call (resolved to a list at run time). */
static bool list_or_fn(const json_t *v)
{
    const char *n;
    json_t *a;

    return json_is_array(v) || tpl_fn(v, &n, &a);
}

/* A non-empty run of ASCII digits (an Fn::Select index given as a string). */
static bool digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static bool param_declared(struct tpl *t, const char *name, size_t n)
{
    return tpl_getn(t->params, name, n) || tpl_cert_param(name, n);
}

static int check_ref(struct tpl *t, const char *name, size_t n)
{
    char q[TPL_QBUF];

    if (param_declared(t, name, n))
        return 0;
    return tpl_fail(t, -EINVAL, "Invalid template: Ref to %s, which is not a declared parameter",
                    tpl_quote(name, n, q, sizeof(q)));
}

static int arity(struct tpl *t, const char *fn, const char *form)
{
    return tpl_fail(t, -EINVAL, "Invalid template: %s takes %s", fn, form);
}

static int check_sub(struct tpl *t, json_t *arg, int depth, bool in_cond)
{
    const char *text, *cur, *end, *k;
    json_t *vars = NULL, *x;
    struct tpl_sub_piece pc;
    int rc;

    if (json_is_array(arg)) {
        if (json_array_size(arg) != 2 || !json_is_string(json_array_get(arg, 0)) ||
            !json_is_object(json_array_get(arg, 1)))
            return arity(t, "Fn::Sub", "a string or [string, {variables}]");
        vars = json_array_get(arg, 1);
        json_object_foreach(vars, k, x) {
            if ((rc = check_value(t, x, depth + 1, in_cond)) < 0)
                return rc;
        }
        arg = json_array_get(arg, 0);
    } else if (!json_is_string(arg)) {
        return arity(t, "Fn::Sub", "a string or [string, {variables}]");
    }
    text = json_string_value(arg);
    end = text + json_string_length(arg);
    for (cur = text; tpl_sub_next(&cur, end, &pc);) {
        char q[TPL_QBUF];
        if (!pc.var)
            continue;
        if (pc.n == 0)
            return tpl_fail(t, -EINVAL, "Invalid template: Fn::Sub has an empty ${}");
        if (memchr(pc.p, '.', pc.n))
            return tpl_fail(t, -EINVAL, "Invalid template: Fn::Sub variable %s: resource "
                            "attributes are not supported", tpl_quote(pc.p, pc.n, q, sizeof(q)));
        if (vars && tpl_getn(vars, pc.p, pc.n))
            continue;
        if (!param_declared(t, pc.p, pc.n))
            return tpl_fail(t, -EINVAL, "Invalid template: Fn::Sub variable %s is not a "
                            "declared parameter", tpl_quote(pc.p, pc.n, q, sizeof(q)));
    }
    return 0;
}

static int check_find_in_map(struct tpl *t, json_t *arg, int depth, bool in_cond)
{
    json_t *level = t->mappings, *x;
    size_t i;
    int rc;

    if (!json_is_array(arg) || json_array_size(arg) != 3)
        return arity(t, "Fn::FindInMap", "[map name, top-level key, second-level key]");
    json_array_foreach(arg, i, x) {
        if (!str_or_fn(x))
            return arity(t, "Fn::FindInMap", "[map name, top-level key, second-level key]");
        if ((rc = check_value(t, x, depth + 1, in_cond)) < 0)
            return rc;
        /* Literal keys are looked up now, as far as they go. */
        if (level && json_is_string(x)) {
            level = json_object_get(level, json_string_value(x));
            if (!level) {
                char q[TPL_QBUF];
                return tpl_fail(t, -EINVAL, "Invalid template: Fn::FindInMap: %s is not in the "
                                "%s", tpl_quote(json_string_value(x), json_string_length(x),
                                                q, sizeof(q)),
                                i == 0 ? "Mappings" : "mapping");
            }
        } else {
            level = NULL;
        }
    }
    return 0;
}

static int check_fn(struct tpl *t, const char *fn, json_t *arg, int depth, bool in_cond)
{
    json_t *a0 = json_array_get(arg, 0), *a1 = json_array_get(arg, 1);
    size_t n = json_is_array(arg) ? json_array_size(arg) : 0;
    char q[TPL_QBUF];
    int rc;

    if (strcmp(fn, "Ref") == 0) {
        if (!json_is_string(arg))
            return arity(t, "Ref", "a parameter name");
        return check_ref(t, json_string_value(arg), json_string_length(arg));
    }
    if (strcmp(fn, "Fn::Join") == 0) {
        if (n != 2 || !json_is_string(a0) || !list_or_fn(a1))
            return arity(t, fn, "[delimiter, [values]]");
        return check_value(t, a1, depth + 1, in_cond);
    }
    if (strcmp(fn, "Fn::Select") == 0) {
        if (n != 2 || !list_or_fn(a1) ||
            !(str_or_fn(a0) || (json_is_integer(a0) && json_integer_value(a0) >= 0)) ||
            (json_is_string(a0) && !digits(json_string_value(a0))))
            return arity(t, fn, "[index, [values]]");
        if ((rc = check_value(t, a0, depth + 1, in_cond)) < 0)
            return rc;
        return check_value(t, a1, depth + 1, in_cond);
    }
    if (strcmp(fn, "Fn::Split") == 0) {
        if (n != 2 || !json_is_string(a0) || json_string_length(a0) == 0 || !str_or_fn(a1))
            return arity(t, fn, "[non-empty delimiter, string]");
        return check_value(t, a1, depth + 1, in_cond);
    }
    if (strcmp(fn, "Fn::Sub") == 0)
        return check_sub(t, arg, depth, in_cond);
    if (strcmp(fn, "Fn::FindInMap") == 0)
        return check_find_in_map(t, arg, depth, in_cond);
    if (strcmp(fn, "Fn::If") == 0) {
        if (in_cond)
            return tpl_fail(t, -EINVAL, "Invalid template: Fn::If cannot be used in Conditions");
        if (n != 3 || !json_is_string(a0))
            return arity(t, fn, "[condition name, value if true, value if false]");
        if (!json_object_get(t->conditions, json_string_value(a0)))
            return tpl_fail(t, -EINVAL, "Invalid template: Fn::If names %s, which is not a "
                            "declared condition", tpl_quote(json_string_value(a0),
                                                           json_string_length(a0), q, sizeof(q)));
        if ((rc = check_value(t, a1, depth + 1, in_cond)) < 0)
            return rc;
        return check_value(t, json_array_get(arg, 2), depth + 1, in_cond);
    }
    if (strcmp(fn, "Fn::Base64") == 0) {
        if (!str_or_fn(arg))
            return arity(t, fn, "a string");
        return check_value(t, arg, depth + 1, in_cond);
    }
    if (strcmp(fn, "Fn::Equals") == 0 || strcmp(fn, "Fn::Not") == 0 ||
        strcmp(fn, "Fn::And") == 0 || strcmp(fn, "Fn::Or") == 0)
        return tpl_fail(t, -EINVAL, "Invalid template: %s can only be used in Conditions", fn);
    return tpl_fail(t, -EINVAL, "Invalid template: unsupported intrinsic function %s",
                    tpl_quote(fn, strlen(fn), q, sizeof(q)));
}

static int check_value(struct tpl *t, json_t *v, int depth, bool in_cond)
{
    const char *k;
    json_t *x;
    size_t i;
    int rc;

    if (depth > TPL_MAX_WALK)
        return too_deep(t);
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if ((rc = check_value(t, x, depth + 1, in_cond)) < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (tpl_fn_mixed(v))
        return tpl_fail(t, -EINVAL, "Invalid template: an intrinsic function must be the only "
                        "key of its object");
    if (tpl_fn(v, &k, &x))
        return check_fn(t, k, x, depth, in_cond);
    json_object_foreach(v, k, x) {
        if ((rc = check_value(t, x, depth + 1, in_cond)) < 0)
            return rc;
    }
    return 0;
}

static int bad_condition(struct tpl *t)
{
    return tpl_fail(t, -EINVAL, "Invalid template: a condition is one of Fn::Equals, Fn::Not, "
                    "Fn::And, Fn::Or or Condition");
}

static int check_cond(struct tpl *t, json_t *v, int depth)
{
    const char *k;
    json_t *arg, *x;
    size_t i, n;
    int rc;

    if (depth > TPL_MAX_WALK)
        return too_deep(t);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return bad_condition(t);
    k = json_object_iter_key(json_object_iter(v));
    arg = json_object_iter_value(json_object_iter(v));
    n = json_is_array(arg) ? json_array_size(arg) : 0;
    if (strcmp(k, "Condition") == 0) {
        if (!json_is_string(arg))
            return arity(t, "Condition", "a condition name");
        return check_named_cond(t, json_string_value(arg), depth + 1);
    }
    if (strcmp(k, "Fn::Equals") == 0) {
        if (n != 2)
            return arity(t, k, "[value, value]");
        json_array_foreach(arg, i, x) {
            if ((rc = check_value(t, x, depth + 1, true)) < 0)
                return rc;
        }
        return 0;
    }
    if (strcmp(k, "Fn::Not") == 0) {
        if (n != 1)
            return arity(t, k, "[condition]");
        return check_cond(t, json_array_get(arg, 0), depth + 1);
    }
    if (strcmp(k, "Fn::And") == 0 || strcmp(k, "Fn::Or") == 0) {
        if (n < TPL_MIN_CONDS || n > TPL_MAX_CONDS)
            return arity(t, k, "a list of 2 to 10 conditions");
        json_array_foreach(arg, i, x) {
            if ((rc = check_cond(t, x, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    return bad_condition(t);
}

static int check_named_cond(struct tpl *t, const char *name, int depth)
{
    json_t *def = json_object_get(t->conditions, name);
    json_int_t st = json_integer_value(json_object_get(t->cstate, name));
    char q[TPL_QBUF];
    int rc;

    if (!def)
        return tpl_fail(t, -EINVAL, "Invalid template: condition %s is not declared",
                        tpl_quote(name, strlen(name), q, sizeof(q)));
    if (st == COND_DONE)
        return 0;
    if (st == COND_VISITING)
        return tpl_fail(t, -EINVAL, "Invalid template: condition %s depends on itself",
                        tpl_quote(name, strlen(name), q, sizeof(q)));
    if (depth > TPL_MAX_WALK)
        return too_deep(t);
    if (json_object_set_new(t->cstate, name, json_integer(COND_VISITING)) < 0)
        return tpl_nomem(t);
    if ((rc = check_cond(t, def, depth + 1)) < 0)
        return rc;
    if (json_object_set_new(t->cstate, name, json_integer(COND_DONE)) < 0)
        return tpl_nomem(t);
    return 0;
}

static int check_params(struct tpl *t)
{
    const char *name;
    json_t *decl;
    char q[TPL_QBUF];

    json_object_foreach(t->params, name, decl) {
        json_t *type = json_object_get(decl, "Type"), *def = json_object_get(decl, "Default");
        tpl_quote(name, strlen(name), q, sizeof(q));
        if (!*name)
            return tpl_fail(t, -EINVAL, "Invalid template: a parameter has an empty name");
        if (!json_is_object(decl))
            return tpl_fail(t, -EINVAL, "Invalid template: parameter %s must be an object", q);
        if (!json_is_string(type) || strcmp(json_string_value(type), "String") != 0)
            return tpl_fail(t, -EINVAL, "Invalid template: parameter %s must have Type String",
                            q);
        if (def && !json_is_string(def))
            return tpl_fail(t, -EINVAL, "Invalid template: the Default of parameter %s must be "
                            "a string", q);
    }
    return 0;
}

/* Mappings: map -> top-level key -> second-level key -> a string or a list
 * of strings; no functions [provision-template.md "Mappings"]. */
static int check_mappings(struct tpl *t)
{
    const char *m, *k1, *k2;
    json_t *map, *l1, *v, *x;
    size_t i;

    json_object_foreach(t->mappings, m, map) {
        if (!json_is_object(map))
            goto bad;
        json_object_foreach(map, k1, l1) {
            if (!json_is_object(l1))
                goto bad;
            json_object_foreach(l1, k2, v) {
                if (json_is_string(v))
                    continue;
                if (!json_is_array(v))
                    goto bad;
                json_array_foreach(v, i, x) {
                    if (!json_is_string(x))
                        goto bad;
                }
            }
        }
    }
    return 0;
bad:
    return tpl_fail(t, -EINVAL, "Invalid template: Mappings must map names to objects of "
                    "objects of strings or lists of strings");
}

enum kind { THING, CERTIFICATE, POLICY };

static const char *const thing_props[] = {
    "ThingName", "AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup",
    "PackageVersions", NULL,
};
static const char *const cert_props[] = {
    "CertificateId", "CertificateSigningRequest", "CertificatePem", "CACertificatePem", "Status",
    NULL,
};
static const char *const policy_props[] = { "PolicyName", "PolicyDocument", NULL };

static bool listed(const char *const *names, const char *k)
{
    for (; *names; names++) {
        if (strcmp(*names, k) == 0)
            return true;
    }
    return false;
}

/* OverrideSettings [provision-template.md "Override settings"]: per
 * property (also accepted in the guide's ATTRIBUTE_PAYLOAD spelling),
 * DO_NOTHING, REPLACE or FAIL, and MERGE for AttributePayload and
 * ThingGroups only; none for policies. */
static int check_overrides(struct tpl *t, enum kind kind, json_t *os, const char *rq)
{
    static const char *const thing_keys[] = {
        "AttributePayload", "ATTRIBUTE_PAYLOAD", "ThingTypeName", "THING_TYPE_NAME",
        "ThingGroups", "THING_GROUPS", NULL,
    };
    static const char *const cert_keys[] = { "Status", "STATUS", NULL };
    const char *k;
    json_t *v;
    char q[TPL_QBUF];

    if (kind == POLICY)
        return tpl_fail(t, -EINVAL, "Invalid template: OverrideSettings are not available for "
                        "policy resources");
    if (!json_is_object(os))
        return tpl_fail(t, -EINVAL, "Invalid template: OverrideSettings of %s must be an object",
                        rq);
    if ((json_object_get(os, "AttributePayload") && json_object_get(os, "ATTRIBUTE_PAYLOAD")) ||
        (json_object_get(os, "ThingTypeName") && json_object_get(os, "THING_TYPE_NAME")) ||
        (json_object_get(os, "ThingGroups") && json_object_get(os, "THING_GROUPS")) ||
        (json_object_get(os, "Status") && json_object_get(os, "STATUS")))
        return tpl_fail(t, -EINVAL, "Invalid template: OverrideSettings of %s name a property "
                        "twice", rq);
    json_object_foreach(os, k, v) {
        const char *s = json_string_value(v);
        bool merge_ok = strcasecmp(k, "AttributePayload") == 0 ||
                        strcasecmp(k, "ATTRIBUTE_PAYLOAD") == 0 ||
                        strcasecmp(k, "ThingGroups") == 0 || strcasecmp(k, "THING_GROUPS") == 0;
        if (!listed(kind == THING ? thing_keys : cert_keys, k))
            return tpl_fail(t, -EINVAL, "Invalid template: OverrideSettings of %s cannot name %s",
                            rq, tpl_quote(k, strlen(k), q, sizeof(q)));
        if (!s || (strcmp(s, "DO_NOTHING") != 0 && strcmp(s, "REPLACE") != 0 &&
                   strcmp(s, "FAIL") != 0 && !(merge_ok && strcmp(s, "MERGE") == 0)))
            return tpl_fail(t, -EINVAL, "Invalid template: invalid OverrideSettings value for "
                            "%s in %s", tpl_quote(k, strlen(k), q, sizeof(q)), rq);
    }
    return 0;
}

static int check_thing(struct tpl *t, json_t *props, const char *rq)
{
    json_t *v, *x;
    const char *k;
    size_t i;

    if (!str_or_fn(json_object_get(props, "ThingName")))
        return tpl_fail(t, -EINVAL, "Invalid template: thing %s needs a ThingName string", rq);
    if ((v = json_object_get(props, "ThingTypeName")) && !str_or_fn(v))
        return tpl_fail(t, -EINVAL, "Invalid template: ThingTypeName of %s must be a string", rq);
    if ((v = json_object_get(props, "BillingGroup")) && !str_or_fn(v))
        return tpl_fail(t, -EINVAL, "Invalid template: BillingGroup of %s must be a string", rq);
    if ((v = json_object_get(props, "AttributePayload"))) {
        if (!json_is_object(v))
            return tpl_fail(t, -EINVAL, "Invalid template: AttributePayload of %s must be an "
                            "object", rq);
        if (!tpl_fn(v, &k, &x)) {
            json_object_foreach(v, k, x) {
                if (json_is_null(x) || json_is_array(x) || (json_is_object(x) && !str_or_fn(x)))
                    return tpl_fail(t, -EINVAL, "Invalid template: attribute values of %s must "
                                    "be strings", rq);
            }
        }
    }
    if ((v = json_object_get(props, "ThingGroups"))) {
        if (!list_or_fn(v))
            return tpl_fail(t, -EINVAL, "Invalid template: ThingGroups of %s must be a list", rq);
        json_array_foreach(v, i, x) {
            if (!str_or_fn(x))
                return tpl_fail(t, -EINVAL, "Invalid template: ThingGroups of %s must be a list "
                                "of strings", rq);
        }
    }
    return 0;
}

static int check_certificate(struct tpl *t, json_t *props, const char *rq)
{
    static const char *const one_of[] = {
        "CertificateId", "CertificateSigningRequest", "CertificatePem", NULL,
    };
    json_t *st = json_object_get(props, "Status");
    int ways = 0;

    for (size_t i = 0; one_of[i]; i++) {
        json_t *v = json_object_get(props, one_of[i]);
        if (!v)
            continue;
        if (!str_or_fn(v))
            return tpl_fail(t, -EINVAL, "Invalid template: %s of %s must be a string", one_of[i],
                            rq);
        ways++;
    }
    if (ways != 1)
        return tpl_fail(t, -EINVAL, "Invalid template: certificate %s needs exactly one of "
                        "CertificateId, CertificateSigningRequest or CertificatePem", rq);
    if (json_object_get(props, "CACertificatePem") &&
        (!json_object_get(props, "CertificatePem") ||
         !str_or_fn(json_object_get(props, "CACertificatePem"))))
        return tpl_fail(t, -EINVAL, "Invalid template: CACertificatePem of %s goes with "
                        "CertificatePem", rq);
    if (st && (!str_or_fn(st) ||
               (json_is_string(st) && strcasecmp(json_string_value(st), "ACTIVE") != 0 &&
                strcasecmp(json_string_value(st), "INACTIVE") != 0)))
        return tpl_fail(t, -EINVAL, "Invalid template: Status of %s must be ACTIVE or INACTIVE",
                        rq);
    return 0;
}

static int check_policy(struct tpl *t, json_t *props, const char *rq)
{
    json_t *name = json_object_get(props, "PolicyName");
    json_t *doc = json_object_get(props, "PolicyDocument");

    /* The first message is AWS's (UpdateCACertificate, aws-samples
     * aws-iot-device-management-workshop#1). */
    if (!name && !doc)
        return tpl_fail(t, -EINVAL, "Invalid registration template. Neither policyName nor "
                        "policyDocument is present in the Template.");
    if (name && doc)
        return tpl_fail(t, -EINVAL, "Invalid registration template. Both policyName and "
                        "policyDocument are present in the Template.");
    if (name && !str_or_fn(name))
        return tpl_fail(t, -EINVAL, "Invalid template: PolicyName of %s must be a string", rq);
    if (doc && !json_is_string(doc) && !json_is_object(doc))
        return tpl_fail(t, -EINVAL, "Invalid template: PolicyDocument of %s must be a JSON "
                        "object or a string", rq);
    return 0;
}

static int check_resource(struct tpl *t, const char *lname, json_t *res, int counts[3])
{
    static const char *const keys[] = {
        "Type", "Properties", "OverrideSettings", "Condition", NULL,
    };
    const char *type, *k;
    json_t *props, *cond, *v;
    enum kind kind;
    char rq[TPL_QBUF], q[TPL_QBUF];
    int rc;

    tpl_quote(lname, strlen(lname), rq, sizeof(rq));
    if (!json_is_object(res))
        return tpl_fail(t, -EINVAL, "Invalid template: resource %s must be an object", rq);
    type = json_string_value(json_object_get(res, "Type"));
    if (!type)
        return tpl_fail(t, -EINVAL, "Invalid template: resource %s has no Type", rq);
    if (strcmp(type, "AWS::IoT::Thing") == 0)
        kind = THING;
    else if (strcmp(type, "AWS::IoT::Certificate") == 0)
        kind = CERTIFICATE;
    else if (strcmp(type, "AWS::IoT::Policy") == 0)
        kind = POLICY;
    else
        return tpl_fail(t, -EINVAL, "Invalid template: resource %s has an unsupported type %s",
                        rq, tpl_quote(type, strlen(type), q, sizeof(q)));
    if (++counts[kind] > 1 && kind != POLICY)
        return tpl_fail(t, -EINVAL, "Invalid template: a template may declare only one %s",
                        kind == THING ? "thing" : "certificate");
    json_object_foreach(res, k, v) {
        if (!listed(keys, k))
            return tpl_fail(t, -EINVAL, "Invalid template: resource %s has an unknown key %s",
                            rq, tpl_quote(k, strlen(k), q, sizeof(q)));
    }
    if ((cond = json_object_get(res, "Condition")) &&
        (!json_is_string(cond) || !json_object_get(t->conditions, json_string_value(cond))))
        return tpl_fail(t, -EINVAL, "Invalid template: the Condition of resource %s is not a "
                        "declared condition", rq);
    if ((v = json_object_get(res, "OverrideSettings")) &&
        (rc = check_overrides(t, kind, v, rq)) < 0)
        return rc;
    props = json_object_get(res, "Properties");
    if (props && !json_is_object(props))
        return tpl_fail(t, -EINVAL, "Invalid template: Properties of %s must be an object", rq);
    json_object_foreach(props, k, v) {
        const char *const *names = kind == THING ? thing_props
                                 : kind == CERTIFICATE ? cert_props : policy_props;
        if (!listed(names, k))
            return tpl_fail(t, -EINVAL, "Invalid template: %s is not a property of %s %s",
                            tpl_quote(k, strlen(k), q, sizeof(q)), type, rq);
        if ((rc = check_value(t, v, 1, false)) < 0)
            return rc;
    }
    if (kind == THING)
        return check_thing(t, props, rq);
    if (kind == CERTIFICATE)
        return check_certificate(t, props, rq);
    return check_policy(t, props, rq);
}

int tpl_check(struct tpl *t)
{
    int counts[3] = { 0, 0, 0 };
    const char *name;
    json_t *v;
    int rc;

    if (!t->cstate && !(t->cstate = json_object()))
        return tpl_nomem(t);
    if ((rc = check_params(t)) < 0 || (rc = check_mappings(t)) < 0)
        return rc;
    json_object_foreach(t->conditions, name, v) {
        if ((rc = check_named_cond(t, name, 0)) < 0)
            return rc;
    }
    json_object_foreach(t->resources, name, v) {
        if ((rc = check_resource(t, name, v, counts)) < 0)
            return rc;
    }
    if (!t->devcfg)
        return 0;
    if (tpl_fn(t->devcfg, &name, &v))
        return tpl_fail(t, -EINVAL, "Invalid template: DeviceConfiguration must be an object");
    return check_value(t, t->devcfg, 0, false);
}
