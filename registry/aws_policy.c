/* AWS IoT policy sets [aws-iot-core.md 2.3-2.6]: the documents that apply
 * to one connection compiled once, when it connects, into what the data
 * path needs: per statement a bitmask of the daemon's actions it names and
 * its resource patterns with the connection's policy variables already
 * substituted. Conditions are decided here too, since every key depends
 * only on the connection, so a statement whose condition does not hold is
 * simply not kept. A check is then a scan of the kept statements, Deny ones
 * first, with a bit test and a glob over the ARN: cheap enough for every
 * PUBLISH and every delivered message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/aws_policy_int.h"

struct stmt {
    uint32_t actions;           /* bit (1 << enum aws_action) per action named */
    bool not_resource;          /* applies to resources matching none of res */
    struct aws_pat *res;        /* owned */
    size_t n_res;
};

struct aws_policy_set {
    char *prefix;               /* owned: "arn:aws:iot:REGION:ACCOUNT:" */
    size_t plen;
    struct stmt *st;            /* owned; the Deny statements come first */
    size_t n;
    size_t n_deny;
};

static const char *const action_names[AWS_ACT__COUNT] = {
    [AWS_ACT_CONNECT] = "iot:Connect",
    [AWS_ACT_PUBLISH] = "iot:Publish",
    [AWS_ACT_SUBSCRIBE] = "iot:Subscribe",
    [AWS_ACT_RECEIVE] = "iot:Receive",
    [AWS_ACT_RETAIN_PUBLISH] = "iot:RetainPublish",
    [AWS_ACT_GET_THING_SHADOW] = "iot:GetThingShadow",
    [AWS_ACT_UPDATE_THING_SHADOW] = "iot:UpdateThingShadow",
    [AWS_ACT_DELETE_THING_SHADOW] = "iot:DeleteThingShadow",
    [AWS_ACT_LIST_NAMED_SHADOWS] = "iot:ListNamedShadowsForThing",
    [AWS_ACT_GET_RETAINED] = "iot:GetRetainedMessage",
    [AWS_ACT_LIST_RETAINED] = "iot:ListRetainedMessages",
};

#define ALL_ACTIONS ((uint32_t)((1u << AWS_ACT__COUNT) - 1))

const char *aws_action_name(enum aws_action a)
{
    if ((unsigned)a >= AWS_ACT__COUNT)
        return "unknown";
    return action_names[a];
}

static void stmt_clear(struct stmt *st)
{
    for (size_t i = 0; i < st->n_res; i++)
        aws_pat_free(&st->res[i]);
    free(st->res);
    st->res = NULL;
    st->n_res = 0;
}

void aws_policy_set_free(struct aws_policy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        stmt_clear(&s->st[i]);
    free(s->st);
    free(s->prefix);
    free(s);
}

static uint16_t lower_tok(uint16_t t)
{
    return t >= 'A' && t <= 'Z' ? (uint16_t)(t - 'A' + 'a') : t;
}

/* The daemon's actions that the patterns of v (Action or NotAction) name.
 * IAM action names are case-insensitive: both sides are lowered. Returns
 * the mask, or -ENOMEM. */
static int64_t action_mask(const json_t *v)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    uint32_t mask = 0;

    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        struct aws_pat p = { NULL, 0 };
        int rc = aws_pat_append(&p, json_string_value(e), json_string_length(e), true);

        if (rc == -ENOMEM)
            return rc;
        if (rc < 0)
            continue;           /* too long to be any action name */
        for (size_t k = 0; k < p.n; k++)
            p.tok[k] = lower_tok(p.tok[k]);
        for (unsigned a = 0; a < AWS_ACT__COUNT; a++) {
            char name[64];
            size_t len = strlen(action_names[a]);
            for (size_t k = 0; k < len; k++)
                name[k] = (char)lower_tok((unsigned char)action_names[a][k]);
            if (aws_glob_match(p.tok, p.n, name, len, "", 0))
                mask |= 1u << a;
        }
        aws_pat_free(&p);
    }
    return mask;
}

/* Compiles one statement. Returns 1 with *ret when it can apply to this
 * connection, 0 when it never can (nothing to keep), -ENOMEM. */
static int compile_stmt(const json_t *js, const struct aws_policy_ctx *ctx, bool *ret_deny,
                        struct stmt *ret)
{
    const json_t *act = json_object_get(js, "Action");
    const json_t *res = json_object_get(js, "Resource");
    bool deny = strcmp(json_string_value(json_object_get(js, "Effect")), "Deny") == 0;
    struct stmt st = { 0 };
    enum aws_cond cond;
    int64_t mask;
    size_t n;
    int rc;

    mask = action_mask(act ? act : json_object_get(js, "NotAction"));
    if (mask < 0)
        return (int)mask;
    st.actions = act ? (uint32_t)mask : ALL_ACTIONS & ~(uint32_t)mask;
    if (!st.actions)
        return 0;

    rc = aws_policy_cond_eval(json_object_get(js, "Condition"), ctx, &cond);
    if (rc == -ENOMEM)
        return rc;
    if (rc == -ENOENT)
        return 0;               /* an unresolvable variable: inert */
    if (rc < 0)
        cond = AWS_COND_UNKNOWN;
    /* Fail closed: what cannot be decided never grants, always denies. */
    if (cond == AWS_COND_FALSE || (cond == AWS_COND_UNKNOWN && !deny))
        return 0;

    st.not_resource = !res;
    if (!res)
        res = json_object_get(js, "NotResource");
    n = json_is_array(res) ? json_array_size(res) : 1;
    st.res = calloc(n, sizeof(*st.res));
    if (!st.res)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(res) ? json_array_get(res, i) : res;
        struct aws_pat p;

        /* A variable this connection cannot resolve (no thing attached,
         * no client id over HTTPS): an Allow does not apply (AWS), and a
         * Deny applies as if the variable were '*', so a missing value
         * never lifts a Deny (stricter than AWS, which ignores the
         * statement). In a Deny's NotResource the element is left out:
         * the exception shrinks, the Deny covers more. */
        rc = aws_policy_subst(ctx, json_string_value(e), json_string_length(e),
                              deny && !st.not_resource, &p);
        if (rc == -E2BIG) {
            /* Past our own size cap: fail closed. An Allow is dropped; for
             * a Deny the pattern covers everything (Resource) or nothing
             * (NotResource), so the Deny applies at least as widely. */
            if (!deny) {
                rc = 0;
                goto drop;
            }
            if (st.not_resource)
                continue;
            p.tok = malloc(sizeof(*p.tok));
            if (!p.tok) {
                rc = -ENOMEM;
                goto drop;
            }
            p.tok[0] = AWS_TOK_STAR;
            p.n = 1;
            rc = 0;
        }
        if (rc == -ENOENT && deny && st.not_resource)
            continue;           /* see above: the exception shrinks */
        if (rc < 0) {
            if (rc == -ENOENT)
                rc = 0;         /* an unresolvable variable: an inert Allow */
            goto drop;
        }
        st.res[st.n_res++] = p;
    }
    *ret_deny = deny;
    *ret = st;
    return 1;

drop:
    stmt_clear(&st);
    return rc;
}

/* A growable statement array. */
struct stmts {
    struct stmt *v;
    size_t n, cap;
};

static int stmts_push(struct stmts *a, const struct stmt *st)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct stmt *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = *st;
    return 0;
}

static void stmts_free(struct stmts *a)
{
    for (size_t i = 0; i < a->n; i++)
        stmt_clear(&a->v[i]);
    free(a->v);
}

static int compile_doc(const json_t *root, const struct aws_policy_ctx *ctx,
                       struct stmts *deny, struct stmts *allow)
{
    size_t n = aws_policy_n_statements(root);

    for (size_t i = 0; i < n; i++) {
        struct stmt st;
        bool is_deny = false;
        int rc = compile_stmt(aws_policy_statement(root, i), ctx, &is_deny, &st);

        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        rc = stmts_push(is_deny ? deny : allow, &st);
        if (rc < 0) {
            stmt_clear(&st);
            return rc;
        }
    }
    return 0;
}

static char *make_prefix(const struct aws_policy_ctx *ctx, size_t *ret_len)
{
    const char *region = ctx->region ? ctx->region : "";
    const char *account = ctx->account ? ctx->account : "";
    size_t rl = strlen(region), al = strlen(account);
    size_t len = 12 + rl + 1 + al + 1;
    char *p = malloc(len + 1);

    if (!p)
        return NULL;
    memcpy(p, "arn:aws:iot:", 12);
    memcpy(p + 12, region, rl);
    p[12 + rl] = ':';
    memcpy(p + 13 + rl, account, al);
    p[13 + rl + al] = ':';
    p[len] = '\0';
    *ret_len = len;
    return p;
}

int aws_policy_compile(const char *const *docs, const size_t *lens, size_t n,
                       const struct aws_policy_ctx *ctx, struct aws_policy_set **ret)
{
    static const struct aws_policy_ctx empty = { 0 };
    struct stmts deny = { 0 }, allow = { 0 };
    struct aws_policy_set *s;
    int rc = 0;

    if (!ctx)
        ctx = &empty;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->prefix = make_prefix(ctx, &s->plen);
    if (!s->prefix) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *root;

        if (!docs || !lens)
            break;
        rc = aws_policy_load(docs[i], lens[i], &root, NULL, 0);
        if (rc == -ENOMEM)
            goto fail;
        if (rc < 0)
            continue;           /* invalid documents are skipped: only denies */
        rc = compile_doc(root, ctx, &deny, &allow);
        json_decref(root);
        if (rc < 0)
            goto fail;
    }
    rc = 0;
    if (deny.n + allow.n) {
        s->st = malloc((deny.n + allow.n) * sizeof(*s->st));
        if (!s->st) {
            rc = -ENOMEM;
            goto fail;
        }
        if (deny.n)
            memcpy(s->st, deny.v, deny.n * sizeof(*s->st));
        if (allow.n)
            memcpy(s->st + deny.n, allow.v, allow.n * sizeof(*s->st));
        s->n = deny.n + allow.n;
        s->n_deny = deny.n;
    }
    free(deny.v);
    free(allow.v);
    *ret = s;
    return 0;

fail:
    stmts_free(&deny);
    stmts_free(&allow);
    aws_policy_set_free(s);
    return rc;
}

enum aws_decision aws_policy_check(const struct aws_policy_set *s, enum aws_action a,
                                   const char *resource, size_t len)
{
    uint32_t bit;
    size_t plen;

    if (!s || (unsigned)a >= AWS_ACT__COUNT || (!resource && len))
        return AWS_DENY_IMPLICIT;
    bit = 1u << (unsigned)a;
    if (!resource)
        resource = "";
    /* The actions whose resource AWS gives as "*" are checked against "*"
     * itself: only a policy Resource of "*" (or "?"...) covers them, as in
     * IAM, not "arn:aws:iot:...:*". No real ARN tail is a bare "*". */
    plen = len == 1 && resource[0] == '*' ? 0 : s->plen;
    /* Deny statements come first, so the first statement that applies
     * decides: an explicit Deny wins over every Allow. */
    for (size_t i = 0; i < s->n; i++) {
        const struct stmt *st = &s->st[i];
        bool hit = false;

        if (!(st->actions & bit))
            continue;
        for (size_t r = 0; r < st->n_res && !hit; r++)
            hit = aws_glob_match(st->res[r].tok, st->res[r].n, s->prefix, plen, resource, len);
        if (hit != st->not_resource)
            return i < s->n_deny ? AWS_DENY_EXPLICIT : AWS_ALLOW;
    }
    return AWS_DENY_IMPLICIT;
}
