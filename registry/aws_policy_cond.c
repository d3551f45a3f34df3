/* Condition blocks [aws-iot-core.md 2.5], decided once per connection: every
 * key AWS IoT offers (client id, thing, certificate, source address,
 * connect attributes) is fixed when the client connects. IAM rules: the
 * operators of a block and the keys under one operator are AND'd, the
 * values of one key OR'd; a key absent from the request makes a positive
 * operator false and a negated one true, unless ...IfExists makes it true;
 * ForAnyValue: needs one key value to satisfy the operator, ForAllValues:
 * needs every key value to (vacuously true when there is none). What this
 * emulator cannot decide (another operator, an unknown key, an address that
 * does not parse) is UNKNOWN, and the compiler fails closed on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry/aws_policy_int.h"

enum op_base {
    OP_STR_EQ,          /* StringEquals */
    OP_STR_EQ_CI,       /* StringEqualsIgnoreCase */
    OP_STR_LIKE,        /* StringLike */
    OP_BOOL,            /* Bool */
    OP_IP,              /* IpAddress */
    OP_NULL,            /* Null */
};

enum op_set { SET_NONE, SET_ANY, SET_ALL };

struct op {
    enum op_base base;
    enum op_set set;
    bool negated;
    bool if_exists;
};

static const struct {
    const char *name;
    enum op_base base;
    bool negated;
} op_names[] = {
    { "StringEquals", OP_STR_EQ, false },
    { "StringNotEquals", OP_STR_EQ, true },
    { "StringEqualsIgnoreCase", OP_STR_EQ_CI, false },
    { "StringNotEqualsIgnoreCase", OP_STR_EQ_CI, true },
    { "StringLike", OP_STR_LIKE, false },
    { "StringNotLike", OP_STR_LIKE, true },
    { "Bool", OP_BOOL, false },
    { "IpAddress", OP_IP, false },
    { "NotIpAddress", OP_IP, true },
    { "Null", OP_NULL, false },
};

static bool strip_prefix(const char **s, size_t *n, const char *lit)
{
    size_t l = strlen(lit);
    if (*n < l || strncasecmp(*s, lit, l) != 0)
        return false;
    *s += l;
    *n -= l;
    return true;
}

static bool strip_suffix(const char *s, size_t *n, const char *lit)
{
    size_t l = strlen(lit);
    if (*n < l || strncasecmp(s + *n - l, lit, l) != 0)
        return false;
    *n -= l;
    return true;
}

/* Parses an operator name; false for one this emulator does not implement. */
static bool parse_op(const char *s, struct op *ret)
{
    size_t n = strlen(s);
    struct op o = { .set = SET_NONE };

    if (strip_prefix(&s, &n, "ForAnyValue:"))
        o.set = SET_ANY;
    else if (strip_prefix(&s, &n, "ForAllValues:"))
        o.set = SET_ALL;
    /* "...IfExists" but not the bare word (no operator is named so). */
    if (n > 8 && strip_suffix(s, &n, "IfExists"))
        o.if_exists = true;
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (strlen(op_names[i].name) == n && strncasecmp(s, op_names[i].name, n) == 0) {
            o.base = op_names[i].base;
            o.negated = op_names[i].negated;
            /* The set qualifiers are defined here for the String operators
             * only; Null has no IfExists form. */
            if (o.set != SET_NONE && o.base != OP_STR_EQ && o.base != OP_STR_EQ_CI &&
                o.base != OP_STR_LIKE)
                return false;
            if (o.base == OP_NULL && o.if_exists)
                return false;
            *ret = o;
            return true;
        }
    }
    return false;
}

/* An address block: family, 16 bytes (IPv4 in the first 4), prefix bits. */
struct cidr {
    int af;
    unsigned char a[16];
    unsigned bits;
};

/* Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6); false when it does not. */
static bool parse_cidr(const char *s, size_t n, struct cidr *ret)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    unsigned bits = 0, max;
    struct cidr c = { 0 };

    if (alen == 0 || alen >= sizeof(buf))
        return false;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, c.a) == 1) {
        c.af = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c.a) == 1) {
        c.af = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    if (slash) {
        size_t bl = n - alen - 1;
        if (bl == 0 || bl > 3)
            return false;
        for (size_t i = 0; i < bl; i++) {
            char d = slash[1 + i];
            if (d < '0' || d > '9')
                return false;
            bits = bits * 10 + (unsigned)(d - '0');
        }
        if (bits > max)
            return false;
    } else {
        bits = max;
    }
    c.bits = bits;
    *ret = c;
    return true;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address, so a
 * dual-stack listener's peers still match IPv4 blocks. */
static void unmap(struct cidr *c)
{
    static const unsigned char pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (c->af == AF_INET6 && memcmp(c->a, pre, 12) == 0) {
        memmove(c->a, c->a + 12, 4);
        memset(c->a + 4, 0, 12);
        c->af = AF_INET;
        c->bits = c->bits >= 96 ? c->bits - 96 : 0;
    }
}

static bool in_block(const char *addr, const struct cidr *block)
{
    struct cidr a;
    struct cidr b = *block;
    unsigned full, rest;

    if (!parse_cidr(addr, strlen(addr), &a) || memchr(addr, '/', strlen(addr)))
        return false;
    unmap(&a);
    unmap(&b);
    if (a.af != b.af)
        return false;
    full = b.bits / 8;
    rest = b.bits % 8;
    if (memcmp(a.a, b.a, full) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((a.a[full] & mask) != (b.a[full] & mask))
            return false;
    }
    return true;
}

/* The text of a condition value: strings as written, booleans and numbers
 * as IAM reads them ("true", "5"). buf holds the converted forms. */
static bool value_text(const json_t *v, char *buf, size_t cap, const char **s, size_t *n)
{
    int w;

    if (json_is_string(v)) {
        *s = json_string_value(v);
        *n = json_string_length(v);
        return true;
    }
    if (json_is_true(v) || json_is_false(v)) {
        *s = json_is_true(v) ? "true" : "false";
        *n = strlen(*s);
        return true;
    }
    if (json_is_integer(v))
        w = snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        w = snprintf(buf, cap, "%.17g", json_real_value(v));
    else
        return false;
    if (w < 0 || (size_t)w >= cap)
        return false;
    *s = buf;
    *n = (size_t)w;
    return true;
}

/* Whether key value k satisfies value pattern p under the positive form of
 * the operator. *unknown is set when p cannot be read for this operator. */
static bool value_match(const struct op *o, const char *k, const struct aws_pat *p,
                        bool *unknown)
{
    switch (o->base) {
    case OP_STR_EQ:
        return aws_pat_equals(p, k, strlen(k), false);
    case OP_STR_EQ_CI:
    case OP_BOOL:
        return aws_pat_equals(p, k, strlen(k), true);
    case OP_STR_LIKE:
        return aws_glob_match(p->tok, p->n, k, strlen(k), "", 0);
    case OP_IP: {
        char buf[INET6_ADDRSTRLEN + 8];
        struct cidr c;
        if (p->n >= sizeof(buf)) {
            *unknown = true;
            return false;
        }
        for (size_t i = 0; i < p->n; i++)
            buf[i] = p->tok[i] > 0xff ? '*' : (char)p->tok[i];
        if (!parse_cidr(buf, p->n, &c)) {
            *unknown = true;
            return false;
        }
        return in_block(k, &c);
    }
    case OP_NULL:
        break;
    }
    return false;
}

/* One operator on one key. */
static enum aws_cond eval_key(const struct op *o, const struct aws_key_vals *kv,
                              const struct aws_pat *vals, size_t nv)
{
    bool unknown = false, any = false, all = true;

    if (o->base == OP_NULL) {
        /* "Null": "true" holds when the key is absent, "false" when it is
         * present; several values are OR'd like any other. */
        bool hit = false;
        for (size_t i = 0; i < nv; i++) {
            if (aws_pat_equals(&vals[i], "true", 4, true))
                hit = hit || kv->n == 0;
            else if (aws_pat_equals(&vals[i], "false", 5, true))
                hit = hit || kv->n > 0;
            else
                return AWS_COND_UNKNOWN;
        }
        return hit ? AWS_COND_TRUE : AWS_COND_FALSE;
    }
    if (kv->n == 0) {
        if (o->if_exists)
            return AWS_COND_TRUE;
        if (o->set == SET_ALL)
            return AWS_COND_TRUE;
        if (o->set == SET_ANY)
            return AWS_COND_FALSE;
        return o->negated ? AWS_COND_TRUE : AWS_COND_FALSE;
    }
    for (size_t k = 0; k < kv->n; k++) {
        bool m = false;
        for (size_t i = 0; i < nv && !m; i++)
            m = value_match(o, kv->v[k], &vals[i], &unknown);
        /* Under a set qualifier the negation applies per key value
         * (ForAllValues:StringNotEquals: no value is any of these). */
        bool sat = o->set != SET_NONE && o->negated ? !m : m;
        any = any || sat;
        all = all && sat;
    }
    if (unknown)
        return AWS_COND_UNKNOWN;
    switch (o->set) {
    case SET_ANY:
        return any ? AWS_COND_TRUE : AWS_COND_FALSE;
    case SET_ALL:
        return all ? AWS_COND_TRUE : AWS_COND_FALSE;
    case SET_NONE:
        break;
    }
    /* Plain operators: the key's values are one set; the positive form holds
     * when any of them matches a value, the negated one when none does. */
    return any != o->negated ? AWS_COND_TRUE : AWS_COND_FALSE;
}

/* Compiles the values of one key. Returns the count, -ENOENT, -ENOMEM, or
 * -EINVAL for a value of a kind no operator takes (not after validation). */
static int compile_values(const json_t *v, const struct aws_policy_ctx *ctx,
                          struct aws_pat **ret)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    struct aws_pat *pats;
    int rc = 0;

    if (n > AWS_POLICY_MAX_ELEMENTS)
        return -EINVAL;
    pats = calloc(n ? n : 1, sizeof(*pats));
    if (!pats)
        return -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        char buf[64];
        const char *s;
        size_t len;
        if (!value_text(e, buf, sizeof(buf), &s, &len)) {
            rc = -EINVAL;
            break;
        }
        rc = aws_policy_subst(ctx, s, len, false, &pats[i]);
        /* A value past the pattern cap cannot be decided: UNKNOWN, so the
         * caller fails closed. */
        if (rc == -E2BIG)
            rc = -EINVAL;
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            aws_pat_free(&pats[i]);
        free(pats);
        return rc;
    }
    *ret = pats;
    return (int)n;
}

static void free_values(struct aws_pat *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aws_pat_free(&p[i]);
    free(p);
}

int aws_policy_cond_eval(const json_t *cond, const struct aws_policy_ctx *ctx,
                         enum aws_cond *ret)
{
    enum aws_cond res = AWS_COND_TRUE;
    const char *opname, *key;
    const json_t *keys, *v;

    if (!cond) {
        *ret = AWS_COND_TRUE;
        return 0;
    }
    if (!json_is_object(cond))
        return -EINVAL;
    json_object_foreach((json_t *)cond, opname, keys) {
        struct op o = { 0 };
        bool known = parse_op(opname, &o);

        if (!json_is_object(keys))
            return -EINVAL;
        json_object_foreach((json_t *)keys, key, v) {
            struct aws_key_vals kv;
            struct aws_pat *vals = NULL;
            enum aws_cond r;
            int n;

            if (!known) {
                /* Nothing is read under an operator we do not know: its
                 * values might not even be strings to it. */
                r = AWS_COND_UNKNOWN;
            } else {
                n = compile_values(v, ctx, &vals);
                if (n == -EINVAL) {
                    r = AWS_COND_UNKNOWN;
                } else if (n < 0) {
                    return n;
                } else {
                    if (aws_policy_key(ctx, key, strlen(key), &kv) < 0)
                        r = AWS_COND_UNKNOWN;
                    else
                        r = eval_key(&o, &kv, vals, (size_t)n);
                    free_values(vals, (size_t)n);
                }
            }
            if (r == AWS_COND_FALSE)
                res = AWS_COND_FALSE;
            else if (r == AWS_COND_UNKNOWN && res == AWS_COND_TRUE)
                res = AWS_COND_UNKNOWN;
        }
    }
    *ret = res;
    return 0;
}
