/* libFuzzer target for the provisioning template engine
 * (registry/aws_template*). The input is: one byte choosing the size of
 * the message buffer (1 to 256), then a template body up to the first NUL
 * byte, then parameter values as "name=value" lines (no NUL: a fixed set of
 * values for the names the seeds use). The body is checked, then run with
 * those values and with none. Must never crash, leak or hang; abort() when
 * an invariant fails: results in range; a message on every failure and none
 * on success, terminated within the buffer and valid UTF-8; a run fails
 * with the check's error and message whenever the check fails; a failed run
 * leaves the plan zeroed; a plan is consistent (a thing has a name, a
 * certificate an id, a policy exactly one of name and document, the JSON
 * texts parse as objects, the status is ACTIVE or INACTIVE) and the same on
 * a second run. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/aws_template.h"
#include "fuzz_target.h"

#define MAX_PARAMS 16
#define GUARD 0x5a

static const struct aws_template_param fixed[] = {
    { "SerialNumber", "1234" },
    { "DeviceLocation", "Seattle" },
    { "ThingName", "thing-1" },
    { "Location", "OR" },
    { "CertificateId", "abc" },
    { "A", "a,b,c" },
    { "N", "1" },
    { "Env", "prod" },
    { "AWS::IoT::Certificate::Id", "c0ffee" },
    { "AWS::IoT::Certificate::CommonName", "lamp-1" },
    { "AWS::IoT::Certificate::SerialNumber", "4c2a" },
    { "AWS::IoT::Certificate::Country", "US" },
};

static bool is_zero(const struct aws_template_plan *p)
{
    static const struct aws_template_plan zero;

    return memcmp(p, &zero, sizeof(zero)) == 0;
}

static bool utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;

    json_decref(j);
    return ok;
}

/* The message in a buffer of cap bytes followed by guard bytes. */
static void check_message(const char *err, size_t cap, int rc)
{
    size_t n = strnlen(err, cap);

    REQUIRE(n < cap);
    REQUIRE((unsigned char)err[cap] == GUARD);
    REQUIRE(utf8_ok(err));
    if (rc == 0)
        REQUIRE(n == 0);
    else if (cap > 1)
        REQUIRE(n > 0);
}

static bool parses_as_object(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    bool ok = json_is_object(j);

    json_decref(j);
    return ok;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_plan(const struct aws_template_plan *p)
{
    REQUIRE(p->has_thing == (p->thing_name != NULL));
    REQUIRE(p->has_thing || (!p->thing_type && !p->attributes_json && !p->n_thing_groups &&
                             !p->billing_group));
    REQUIRE(!p->thing_name || utf8_ok(p->thing_name));
    REQUIRE(!p->attributes_json || parses_as_object(p->attributes_json));
    REQUIRE((p->n_thing_groups == 0) == (p->thing_groups == NULL));
    for (size_t i = 0; i < p->n_thing_groups; i++)
        REQUIRE(p->thing_groups[i] && utf8_ok(p->thing_groups[i]));
    REQUIRE(p->override_attributes <= AWS_TEMPLATE_FAIL);
    REQUIRE(p->override_thing_type <= AWS_TEMPLATE_FAIL);
    REQUIRE(p->override_thing_groups <= AWS_TEMPLATE_FAIL);
    REQUIRE(p->override_certificate_status <= AWS_TEMPLATE_FAIL);
    REQUIRE(p->override_thing_type != AWS_TEMPLATE_MERGE);
    REQUIRE(p->override_certificate_status != AWS_TEMPLATE_MERGE);
    REQUIRE(p->has_certificate == (p->certificate_id != NULL));
    REQUIRE(!p->certificate_status || strcmp(p->certificate_status, "ACTIVE") == 0 ||
            strcmp(p->certificate_status, "INACTIVE") == 0);
    REQUIRE((p->n_policies == 0) == (p->policies == NULL));
    for (size_t i = 0; i < p->n_policies; i++)
        REQUIRE((p->policies[i].name == NULL) != (p->policies[i].document == NULL));
    REQUIRE(parses_as_object(p->device_configuration));
}

static bool same_plan(const struct aws_template_plan *a, const struct aws_template_plan *b)
{
    if (a->has_thing != b->has_thing || a->has_certificate != b->has_certificate ||
        a->n_thing_groups != b->n_thing_groups || a->n_policies != b->n_policies ||
        a->override_attributes != b->override_attributes ||
        a->override_thing_type != b->override_thing_type ||
        a->override_thing_groups != b->override_thing_groups ||
        a->override_certificate_status != b->override_certificate_status ||
        !same_str(a->thing_name, b->thing_name) || !same_str(a->thing_type, b->thing_type) ||
        !same_str(a->attributes_json, b->attributes_json) ||
        !same_str(a->billing_group, b->billing_group) ||
        !same_str(a->certificate_id, b->certificate_id) ||
        !same_str(a->certificate_status, b->certificate_status) ||
        !same_str(a->device_configuration, b->device_configuration))
        return false;
    for (size_t i = 0; i < a->n_thing_groups; i++) {
        if (!same_str(a->thing_groups[i], b->thing_groups[i]))
            return false;
    }
    for (size_t i = 0; i < a->n_policies; i++) {
        if (!same_str(a->policies[i].name, b->policies[i].name) ||
            !same_str(a->policies[i].document, b->policies[i].document))
            return false;
    }
    return true;
}

static void run(const char *body, size_t len, const struct aws_template_param *params, size_t n,
                int check_rc, const char *check_err, char *err, size_t cap)
{
    struct aws_template_plan p = { 0 }, q = { 0 };
    int rc;

    memset(err, GUARD, cap + 1);
    rc = aws_template_run(body, len, params, n, &p, err, cap);
    REQUIRE(rc == 0 || rc == -EINVAL || rc == -ENOENT || rc == -ENOMEM);
    check_message(err, cap, rc);
    if (check_rc != 0 && check_rc != -ENOMEM) {
        /* The run checks first: same error, same message. */
        REQUIRE(rc == check_rc || rc == -ENOMEM);
        if (rc == check_rc)
            REQUIRE(strcmp(err, check_err) == 0);
    }
    if (rc != 0) {
        REQUIRE(is_zero(&p));
        return;
    }
    REQUIRE(check_rc == 0);
    check_plan(&p);
    rc = aws_template_run(body, len, params, n, &q, err, cap);
    REQUIRE(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        REQUIRE(same_plan(&p, &q));
    aws_template_plan_clear(&p);
    REQUIRE(is_zero(&p));
    aws_template_plan_clear(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aws_template_param params[MAX_PARAMS];
    char *copy = NULL, err[257], check_err[257];
    const struct aws_template_param *use = fixed;
    size_t n = sizeof(fixed) / sizeof(fixed[0]), cap, len;
    const uint8_t *nul;
    int rc;

    if (size < 1)
        return 0;
    cap = 1 + data[0];
    data++;
    size--;
    nul = memchr(data, 0, size);
    len = nul ? (size_t)(nul - data) : size;
    if (nul) {
        /* "name=value" lines, NUL-terminated in a copy of the rest. */
        size_t rest = size - len - 1;
        char *line, *next;
        if (!(copy = malloc(rest + 1)))
            return 0;
        memcpy(copy, nul + 1, rest);
        copy[rest] = '\0';
        n = 0;
        for (line = copy; line && n < MAX_PARAMS; line = next) {
            char *eq;
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (!(eq = strchr(line, '=')))
                continue;
            *eq = '\0';
            params[n].name = line;
            params[n].value = eq + 1;
            n++;
        }
        use = params;
    }

    memset(check_err, GUARD, cap + 1);
    rc = aws_template_check((const char *)data, len, check_err, cap);
    REQUIRE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    check_message(check_err, cap, rc);
    run((const char *)data, len, use, n, rc, check_err, err, cap);
    run((const char *)data, len, NULL, 0, rc, check_err, err, cap);
    free(copy);
    return 0;
}
