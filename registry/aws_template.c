/* Provisioning templates [aws-iot-core.md 1.9, 1.10]: the public entry
 * points, parsing and the body's bounds, and the run itself: each resource
 * whose condition holds turned into the plan's thing, certificate and
 * policies, then the device configuration. The plan is built apart and
 * handed over only when the whole run succeeded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry/aws_template_int.h"

/* ---- parsing ----------------------------------------------------------- */

/* Whether a container below level (v itself at level) nests deeper than
 * AWS_TEMPLATE_MAX_DEPTH; recursion stops one level past the limit. */
static bool too_deep(json_t *v, int level)
{
    const char *k;
    json_t *x;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return false;
    if (level > AWS_TEMPLATE_MAX_DEPTH)
        return true;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (too_deep(x, level + 1))
                return true;
        }
        return false;
    }
    json_object_foreach(v, k, x) {
        if (too_deep(x, level + 1))
            return true;
    }
    return false;
}

/* A section: absent (NULL) or an object. */
static int section(struct tpl *t, const char *name, json_t **ret)
{
    json_t *v = json_object_get(t->root, name);

    if (v && !json_is_object(v))
        return tpl_fail(t, -EINVAL, "Invalid template: %s must be an object", name);
    *ret = v;
    return 0;
}

int tpl_parse(struct tpl *t, const char *body, size_t len)
{
    json_error_t je;
    int rc;

    if (len > AWS_TEMPLATE_MAX_BODY)
        return tpl_fail(t, -EINVAL, "Template body exceeds the maximum length of %d",
                        AWS_TEMPLATE_MAX_BODY);
    t->root = json_loadb(body ? body : "", body ? len : 0,
                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!t->root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return tpl_nomem(t);
        return tpl_fail(t, -EINVAL, "Template body is not valid JSON");
    }
    if (!json_is_object(t->root))
        return tpl_fail(t, -EINVAL, "Template body must be a JSON object");
    if (too_deep(t->root, 1))
        return tpl_fail(t, -EINVAL, "Template body is nested deeper than %d levels",
                        AWS_TEMPLATE_MAX_DEPTH);
    if ((rc = section(t, "Parameters", &t->params)) < 0 ||
        (rc = section(t, "Mappings", &t->mappings)) < 0 ||
        (rc = section(t, "Conditions", &t->conditions)) < 0 ||
        (rc = section(t, "Resources", &t->resources)) < 0 ||
        (rc = section(t, "DeviceConfiguration", &t->devcfg)) < 0)
        return rc;
    if (!t->resources)
        return tpl_fail(t, -EINVAL, "Invalid template: the Resources section is missing");
    return 0;
}

void tpl_release(struct tpl *t)
{
    json_decref(t->root);
    json_decref(t->cstate);
    json_decref(t->values);
    t->root = t->cstate = t->values = NULL;
}

/* ---- the run ----------------------------------------------------------- */

static enum aws_template_override override_of(const json_t *os, const char *key,
                                              const char *alias)
{
    json_t *v = json_object_get(os, key);
    const char *s;

    if (!v)
        v = json_object_get(os, alias);
    s = json_string_value(v);
    if (!s)
        return AWS_TEMPLATE_OVERRIDE_NONE;
    if (strcmp(s, "DO_NOTHING") == 0)
        return AWS_TEMPLATE_DO_NOTHING;
    if (strcmp(s, "MERGE") == 0)
        return AWS_TEMPLATE_MERGE;
    if (strcmp(s, "REPLACE") == 0)
        return AWS_TEMPLATE_REPLACE;
    if (strcmp(s, "FAIL") == 0)
        return AWS_TEMPLATE_FAIL;
    return AWS_TEMPLATE_OVERRIDE_NONE;
}

static char *dump_compact(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT);
}

/* AttributePayload: an object whose values all become strings. */
static int run_attributes(struct tpl *t, json_t *v, char **ret)
{
    json_t *val = NULL, *out = NULL, *x, *s;
    const char *k;
    int rc;

    if ((rc = tpl_eval(t, v, 1, &val)) < 0)
        return rc;
    if (!json_is_object(val)) {
        rc = tpl_fail(t, -EINVAL, "AttributePayload must be an object of attributes");
        goto out;
    }
    if (!(out = json_object())) {
        rc = tpl_nomem(t);
        goto out;
    }
    json_object_foreach(val, k, x) {
        char q[TPL_QBUF], what[TPL_QBUF + 32];
        snprintf(what, sizeof(what), "Attribute %s", tpl_quote(k, strlen(k), q, sizeof(q)));
        if ((rc = tpl_text(t, x, what, &s)) < 0)
            goto out;
        if (json_object_set_new(out, k, s) < 0) {
            rc = tpl_nomem(t);
            goto out;
        }
    }
    if (!(*ret = dump_compact(out)))
        rc = tpl_nomem(t);
out:
    json_decref(val);
    json_decref(out);
    return rc;
}

static int run_groups(struct tpl *t, json_t *v, struct aws_template_plan *p)
{
    json_t *val = NULL, *x, *s;
    size_t i;
    int rc;

    if ((rc = tpl_eval(t, v, 1, &val)) < 0)
        return rc;
    if (!json_is_array(val)) {
        rc = tpl_fail(t, -EINVAL, "ThingGroups must be a list of group names");
        goto out;
    }
    if (json_array_size(val) &&
        !(p->thing_groups = calloc(json_array_size(val), sizeof(*p->thing_groups)))) {
        rc = tpl_nomem(t);
        goto out;
    }
    json_array_foreach(val, i, x) {
        if ((rc = tpl_text(t, x, "A thing group", &s)) < 0)
            goto out;
        p->thing_groups[i] = strdup(json_string_value(s));
        json_decref(s);
        if (!p->thing_groups[i]) {
            rc = tpl_nomem(t);
            goto out;
        }
        p->n_thing_groups = i + 1;
    }
out:
    json_decref(val);
    return rc;
}

/* An optional property as text into *ret (left NULL when absent). */
static int opt_text(struct tpl *t, json_t *props, const char *name, char **ret)
{
    json_t *v = json_object_get(props, name);

    return v ? tpl_eval_text(t, v, name, ret) : 0;
}

static int run_thing(struct tpl *t, json_t *res, struct aws_template_plan *p)
{
    json_t *props = json_object_get(res, "Properties");
    json_t *os = json_object_get(res, "OverrideSettings");
    json_t *v;
    int rc;

    p->has_thing = true;
    if ((rc = tpl_eval_text(t, json_object_get(props, "ThingName"), "ThingName",
                            &p->thing_name)) < 0 ||
        (rc = opt_text(t, props, "ThingTypeName", &p->thing_type)) < 0 ||
        (rc = opt_text(t, props, "BillingGroup", &p->billing_group)) < 0)
        return rc;
    if ((v = json_object_get(props, "AttributePayload")) &&
        (rc = run_attributes(t, v, &p->attributes_json)) < 0)
        return rc;
    if ((v = json_object_get(props, "ThingGroups")) && (rc = run_groups(t, v, p)) < 0)
        return rc;
    p->override_attributes = override_of(os, "AttributePayload", "ATTRIBUTE_PAYLOAD");
    p->override_thing_type = override_of(os, "ThingTypeName", "THING_TYPE_NAME");
    p->override_thing_groups = override_of(os, "ThingGroups", "THING_GROUPS");
    return 0;
}

static int run_certificate(struct tpl *t, json_t *res, struct aws_template_plan *p)
{
    json_t *props = json_object_get(res, "Properties");
    json_t *id = json_object_get(props, "CertificateId");
    char *st;
    int rc;

    if (!id)
        return tpl_fail(t, -EINVAL, "Only certificates given by CertificateId can be provisioned "
                                    "with this template");
    p->has_certificate = true;
    if ((rc = tpl_eval_text(t, id, "CertificateId", &p->certificate_id)) < 0 ||
        (rc = opt_text(t, props, "Status", &p->certificate_status)) < 0)
        return rc;
    if ((st = p->certificate_status)) {
        if (strcasecmp(st, "ACTIVE") == 0) {
            memcpy(st, "ACTIVE", 6);
        } else if (strcasecmp(st, "INACTIVE") == 0) {
            memcpy(st, "INACTIVE", 8);
        } else {
            char q[TPL_QBUF];
            return tpl_fail(t, -EINVAL, "Invalid certificate Status %s: ACTIVE or INACTIVE",
                            tpl_quote(st, strlen(st), q, sizeof(q)));
        }
    }
    p->override_certificate_status =
        override_of(json_object_get(res, "OverrideSettings"), "Status", "STATUS");
    return 0;
}

static int run_policy(struct tpl *t, json_t *res, struct aws_template_plan *p)
{
    json_t *props = json_object_get(res, "Properties");
    json_t *doc = json_object_get(props, "PolicyDocument"), *val = NULL;
    struct aws_template_policy *pol, *n;
    int rc = 0;

    n = realloc(p->policies, (p->n_policies + 1) * sizeof(*p->policies));
    if (!n)
        return tpl_nomem(t);
    p->policies = n;
    pol = &p->policies[p->n_policies++];
    memset(pol, 0, sizeof(*pol));
    if (!doc)
        return tpl_eval_text(t, json_object_get(props, "PolicyName"), "PolicyName", &pol->name);
    if ((rc = tpl_eval(t, doc, 1, &val)) < 0)
        return rc;
    if (json_is_string(val))
        pol->document = strdup(json_string_value(val));
    else if (json_is_object(val))
        pol->document = dump_compact(val);
    else
        rc = tpl_fail(t, -EINVAL, "PolicyDocument must be a JSON object or a string");
    if (!rc && !pol->document)
        rc = tpl_nomem(t);
    json_decref(val);
    return rc;
}

static int run_resources(struct tpl *t, struct aws_template_plan *p)
{
    const char *name;
    json_t *res;
    int rc;

    json_object_foreach(t->resources, name, res) {
        const char *type = json_string_value(json_object_get(res, "Type"));
        const char *cond = json_string_value(json_object_get(res, "Condition"));
        bool holds = true;

        if (cond && (rc = tpl_cond(t, cond, 0, &holds)) < 0)
            return rc;
        if (!holds)
            continue;
        if (strcmp(type, "AWS::IoT::Thing") == 0)
            rc = run_thing(t, res, p);
        else if (strcmp(type, "AWS::IoT::Certificate") == 0)
            rc = run_certificate(t, res, p);
        else
            rc = run_policy(t, res, p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int run_devcfg(struct tpl *t, struct aws_template_plan *p)
{
    json_t *val = NULL;
    int rc;

    if (!t->devcfg) {
        p->device_configuration = strdup("{}");
        return p->device_configuration ? 0 : tpl_nomem(t);
    }
    if ((rc = tpl_eval(t, t->devcfg, 1, &val)) < 0)
        return rc;
    p->device_configuration = dump_compact(val);
    json_decref(val);
    return p->device_configuration ? 0 : tpl_nomem(t);
}

/* ---- entry points ------------------------------------------------------ */

int aws_template_check(const char *body, size_t len, char *err, size_t cap)
{
    struct tpl t = { .err = err, .cap = cap };
    int rc;

    if (cap)
        err[0] = '\0';
    rc = tpl_parse(&t, body, len);
    if (rc == 0)
        rc = tpl_check(&t);
    tpl_release(&t);
    return rc;
}

int aws_template_run(const char *body, size_t len, const struct aws_template_param *params,
                     size_t n_params, struct aws_template_plan *out, char *err, size_t cap)
{
    struct tpl t = { .err = err, .cap = cap };
    struct aws_template_plan p = { 0 };
    int rc;

    if (cap)
        err[0] = '\0';
    if ((rc = tpl_parse(&t, body, len)) < 0 || (rc = tpl_check(&t)) < 0)
        goto out;
    /* The check kept its own per-condition states; the run memoises
     * values. */
    json_decref(t.cstate);
    if (!(t.cstate = json_object())) {
        rc = tpl_nomem(&t);
        goto out;
    }
    t.vals = params;
    t.n_vals = params ? n_params : 0;
    t.budget = AWS_TEMPLATE_MAX_OUTPUT;
    if ((rc = tpl_bind(&t)) < 0 || (rc = run_resources(&t, &p)) < 0 ||
        (rc = run_devcfg(&t, &p)) < 0)
        goto out;
    *out = p;
    if (cap)
        err[0] = '\0';
out:
    if (rc < 0)
        aws_template_plan_clear(&p);
    tpl_release(&t);
    return rc;
}

void aws_template_plan_clear(struct aws_template_plan *p)
{
    if (!p)
        return;
    free(p->thing_name);
    free(p->thing_type);
    free(p->attributes_json);
    for (size_t i = 0; i < p->n_thing_groups; i++)
        free(p->thing_groups[i]);
    free(p->thing_groups);
    free(p->billing_group);
    free(p->certificate_id);
    free(p->certificate_status);
    for (size_t i = 0; i < p->n_policies; i++) {
        free(p->policies[i].name);
        free(p->policies[i].document);
    }
    free(p->policies);
    free(p->device_configuration);
    memset(p, 0, sizeof(*p));
}
