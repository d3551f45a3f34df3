/* The policy document grammar CreatePolicy and CreatePolicyVersion enforce
 * [aws-iot-core.md 2.1]: at most 2048 characters besides whitespace, JSON,
 * an object with an optional Version and a Statement that is one object or
 * a non-empty array of them; each statement has an Effect, exactly one of
 * Action / NotAction and one of Resource / NotResource (strings or
 * non-empty arrays of strings), and may have a Sid and a Condition. Any
 * other key is an error. Condition operators are not checked by name: AWS
 * accepts all of IAM's, and the evaluator fails closed on those it does not
 * implement. Messages follow AWS's MalformedPolicyException texts ("Policy
 * document is Malformed: ...", "The following resources are invalid"). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "registry/aws_policy_int.h"

#define MALFORMED "Policy document is Malformed: "
/* How much of an offending value a message quotes. */
#define QUOTE_MAX 64

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why && why_len) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Characters other than whitespace, counted as Unicode code points (UTF-8
 * continuation bytes are not characters); stops counting past limit. */
static size_t count_chars(const char *s, size_t len, size_t limit)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n <= limit; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
            continue;
        if ((c & 0xc0) == 0x80)
            continue;
        n++;
    }
    return n;
}

static bool is_str(const json_t *v)
{
    return json_is_string(v);
}

/* A string or a non-empty array of strings (bounded). */
static bool str_or_list(const json_t *v)
{
    if (json_is_string(v))
        return true;
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > AWS_POLICY_MAX_ELEMENTS)
        return false;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!is_str(json_array_get(v, i)))
            return false;
    return true;
}

static const char *elem(const json_t *v, size_t i, size_t *len)
{
    const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
    *len = json_string_length(e);
    return json_string_value(e);
}

static size_t n_elems(const json_t *v)
{
    return json_is_array(v) ? json_array_size(v) : 1;
}

/* IAM's action form: "*" or "vendor:name" (the name may hold wildcards). */
static bool action_ok(const char *s, size_t n)
{
    const char *colon;
    size_t vl;

    if (n == 1 && s[0] == '*')
        return true;
    colon = memchr(s, ':', n);
    if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
        return false;
    vl = (size_t)(colon - s);
    if (vl == 0 || colon + 1 == s + n)
        return false;
    for (size_t i = 0; i < vl; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

/* A resource is an ARN (pattern) or "*". */
static bool resource_ok(const char *s, size_t n)
{
    return (n == 1 && s[0] == '*') || (n > 4 && memcmp(s, "arn:", 4) == 0);
}

static bool cond_value_ok(const json_t *v)
{
    return json_is_string(v) || json_is_boolean(v) || json_is_number(v);
}

static int check_condition(const json_t *c, char *why, size_t wl)
{
    const char *op, *key;
    const json_t *keys, *v;

    if (!json_is_object(c))
        return fail(why, wl, MALFORMED "Condition must be an object");
    json_object_foreach((json_t *)c, op, keys) {
        if (!*op)
            return fail(why, wl, MALFORMED "Condition operator must not be empty");
        if (!json_is_object(keys))
            return fail(why, wl, MALFORMED "Condition %.*s must be an object", QUOTE_MAX, op);
        json_object_foreach((json_t *)keys, key, v) {
            if (!*key)
                return fail(why, wl, MALFORMED "Condition key must not be empty");
            if (json_is_array(v)) {
                if (json_array_size(v) == 0 || json_array_size(v) > AWS_POLICY_MAX_ELEMENTS)
                    return fail(why, wl, MALFORMED "Condition values of %.*s must not be empty",
                                QUOTE_MAX, key);
                for (size_t i = 0; i < json_array_size(v); i++)
                    if (!cond_value_ok(json_array_get(v, i)))
                        return fail(why, wl, MALFORMED "Invalid condition value for %.*s",
                                    QUOTE_MAX, key);
            } else if (!cond_value_ok(v)) {
                return fail(why, wl, MALFORMED "Invalid condition value for %.*s", QUOTE_MAX,
                            key);
            }
        }
    }
    return 0;
}

static int check_statement(const json_t *st, char *why, size_t wl)
{
    const json_t *eff, *act, *nact, *res, *nres, *sid, *cond, *v;
    const char *key, *s;
    size_t n;

    if (!json_is_object(st))
        return fail(why, wl, MALFORMED "Statement must be an object or an array of objects");
    json_object_foreach((json_t *)st, key, v) {
        if (strcmp(key, "Effect") && strcmp(key, "Action") && strcmp(key, "NotAction") &&
            strcmp(key, "Resource") && strcmp(key, "NotResource") && strcmp(key, "Sid") &&
            strcmp(key, "Condition"))
            return fail(why, wl, MALFORMED "Unknown field %.*s in Statement", QUOTE_MAX, key);
    }
    eff = json_object_get(st, "Effect");
    act = json_object_get(st, "Action");
    nact = json_object_get(st, "NotAction");
    res = json_object_get(st, "Resource");
    nres = json_object_get(st, "NotResource");
    sid = json_object_get(st, "Sid");
    cond = json_object_get(st, "Condition");

    if (!eff)
        return fail(why, wl, MALFORMED "Missing required field Effect");
    if (!json_is_string(eff) || (strcmp(json_string_value(eff), "Allow") &&
                                 strcmp(json_string_value(eff), "Deny")))
        return fail(why, wl, MALFORMED "Invalid effect: %.*s", QUOTE_MAX,
                    json_is_string(eff) ? json_string_value(eff) : "(not a string)");
    if (sid && !json_is_string(sid))
        return fail(why, wl, MALFORMED "Sid must be a string");
    if (!act == !nact)
        return fail(why, wl, MALFORMED "Statement must have exactly one of Action and NotAction");
    if (!res == !nres)
        return fail(why, wl,
                    MALFORMED "Statement must have exactly one of Resource and NotResource");
    v = act ? act : nact;
    if (!str_or_list(v))
        return fail(why, wl, MALFORMED "%s must be a string or a non-empty array of strings",
                    act ? "Action" : "NotAction");
    for (size_t i = 0; i < n_elems(v); i++) {
        s = elem(v, i, &n);
        if (!action_ok(s, n))
            return fail(why, wl, MALFORMED "Invalid action: %.*s", QUOTE_MAX, s);
    }
    v = res ? res : nres;
    if (!str_or_list(v))
        return fail(why, wl, MALFORMED "%s must be a string or a non-empty array of strings",
                    res ? "Resource" : "NotResource");
    for (size_t i = 0; i < n_elems(v); i++) {
        s = elem(v, i, &n);
        if (!resource_ok(s, n))
            return fail(why, wl, MALFORMED "The following resources are invalid : %.*s",
                        QUOTE_MAX, s);
    }
    if (cond)
        return check_condition(cond, why, wl);
    return 0;
}

size_t aws_policy_n_statements(const json_t *root)
{
    const json_t *st = json_object_get(root, "Statement");
    return json_is_array(st) ? json_array_size(st) : st ? 1 : 0;
}

const json_t *aws_policy_statement(const json_t *root, size_t i)
{
    const json_t *st = json_object_get(root, "Statement");
    return json_is_array(st) ? json_array_get(st, i) : st;
}

static int check_doc(const json_t *root, char *why, size_t wl)
{
    const json_t *ver, *st, *v;
    const char *key;
    size_t n;

    if (!json_is_object(root))
        return fail(why, wl, MALFORMED "Policy document must be a JSON object");
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "Version") && strcmp(key, "Statement") && strcmp(key, "Id"))
            return fail(why, wl, MALFORMED "Unknown field %.*s", QUOTE_MAX, key);
    }
    ver = json_object_get(root, "Version");
    if (ver && (!json_is_string(ver) || (strcmp(json_string_value(ver), "2012-10-17") &&
                                         strcmp(json_string_value(ver), "2008-10-17"))))
        return fail(why, wl, MALFORMED "Invalid Version: %.*s", QUOTE_MAX,
                    json_is_string(ver) ? json_string_value(ver) : "(not a string)");
    v = json_object_get(root, "Id");
    if (v && !json_is_string(v))
        return fail(why, wl, MALFORMED "Id must be a string");
    st = json_object_get(root, "Statement");
    if (!st)
        return fail(why, wl, MALFORMED "Missing required field Statement");
    if (!json_is_object(st) && !json_is_array(st))
        return fail(why, wl, MALFORMED "Statement must be an object or an array of objects");
    n = aws_policy_n_statements(root);
    if (n == 0)
        return fail(why, wl, MALFORMED "Statement must not be empty");
    if (n > AWS_POLICY_MAX_STATEMENTS)
        return fail(why, wl, MALFORMED "Too many statements");
    for (size_t i = 0; i < n; i++) {
        int rc = check_statement(aws_policy_statement(root, i), why, wl);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int aws_policy_load(const char *doc, size_t len, json_t **ret, char *why, size_t why_len)
{
    json_error_t err;
    json_t *root;
    int rc;

    if (why && why_len)
        why[0] = '\0';
    if (!doc && len)
        return fail(why, why_len, "Policy document is not valid JSON");
    if (count_chars(doc, len, AWS_POLICY_MAX_CHARS) > AWS_POLICY_MAX_CHARS)
        return fail(why, why_len, "Policy document is longer than %d characters",
                    AWS_POLICY_MAX_CHARS);
    root = json_loadb(doc ? doc : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        /* jansson reports allocation failure as json_error_out_of_memory;
         * everything else is the document's fault. */
        if (json_error_code(&err) == json_error_out_of_memory)
            return -ENOMEM;
        return fail(why, why_len, "Policy document is not valid JSON");
    }
    rc = check_doc(root, why, why_len);
    if (rc < 0) {
        json_decref(root);
        return rc;
    }
    *ret = root;
    return 0;
}

int aws_policy_validate(const char *doc, size_t len, char *why, size_t why_len)
{
    json_t *root;
    int rc = aws_policy_load(doc, len, &root, why, why_len);

    if (rc == 0)
        json_decref(root);
    return rc;
}
