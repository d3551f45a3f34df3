/* Policy variables and condition keys [aws-iot-core.md 2.4, 2.5]: what
 * ${iot:ClientId}, ${iot:Connection.Thing.*}, ${iot:Certificate.*} and
 * aws:SourceIp stand for on one connection, and the substitution that turns
 * a Resource or condition value into a pattern. Names are matched without
 * regard to case, as IAM does for keys; a thing attribute's own name is
 * data and keeps its case.
 *
 * Multi-valued certificate attributes: the bare name is the first value and
 * ".N" is the zero-based index (".1" is the second value), as AWS's
 * developer guide says ("zero-based index ... .1 is replaced by the second
 * country name"); ".List" is every value and is only a condition key. AWS
 * keeps at most five values and does not substitute a value longer than
 * 1024 characters: such a variable is unresolvable here too, so its
 * statement never matches. A value holding '*' or '?' is substituted as
 * literal text, like a client id, so a certificate whose CommonName is
 * "dev*" is granted "dev*" and nothing else (AWS documents that it skips
 * such values; our rule is the one that cannot widen a grant and still
 * lets that device work). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "registry/aws_policy_int.h"

/* The attribute names AWS gives certificate subject and issuer variables. */
static const char *const cert_attrs[] = {
    "CommonName", "Organization", "OrganizationalUnit", "Country", "State",
    "SerialNumber", "DistinguishedNameQualifier", "Title", "Surname", "GivenName",
    "Initials", "Pseudonym", "GenerationQualifier",
};

static bool eq_ci(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && strncasecmp(s, lit, l) == 0;
}

static bool prefix_ci(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && strncasecmp(s, lit, l) == 0;
}

static void one(struct aws_key_vals *r, const char *v)
{
    if (v)
        r->v[r->n++] = v;
}

/* "Attributes[NAME]" after the thing prefix; -ENOENT when malformed. */
static int thing_attr(const struct aws_policy_ctx *ctx, const char *s, size_t n,
                      struct aws_key_vals *r)
{
    if (!prefix_ci(s, n, "Attributes[") || n < 13 || s[n - 1] != ']')
        return -ENOENT;
    s += 11;
    n -= 12;
    for (size_t i = 0; i < ctx->n_thing_attrs; i++) {
        const char *name = ctx->thing_attrs[i].name;
        if (name && strlen(name) == n && memcmp(name, s, n) == 0) {
            one(r, ctx->thing_attrs[i].value);
            break;
        }
    }
    return 0;
}

/* "ATTR", "ATTR.N" or "ATTR.List" after "iot:Certificate.Subject." or
 * ".Issuer."; -ENOENT for an attribute AWS does not name. */
static int cert_attr(const struct aws_kv *kv, size_t nkv, const char *s, size_t n,
                     struct aws_key_vals *r)
{
    const char *dot = memchr(s, '.', n);
    size_t alen = dot ? (size_t)(dot - s) : n;
    const char *canon = NULL;
    const char *vals[AWS_CERT_MAX_VALUES];
    size_t nv = 0, idx = 0;
    bool list = false;

    for (size_t i = 0; i < sizeof(cert_attrs) / sizeof(cert_attrs[0]); i++)
        if (eq_ci(s, alen, cert_attrs[i]))
            canon = cert_attrs[i];
    if (!canon)
        return -ENOENT;
    if (dot) {
        const char *suf = dot + 1;
        size_t sl = n - alen - 1;
        if (eq_ci(suf, sl, "List")) {
            list = true;
        } else {
            /* Digits only; anything past the five kept values is absent,
             * which also keeps the number from overflowing. */
            if (sl == 0 || sl > 3)
                return -ENOENT;
            for (size_t i = 0; i < sl; i++) {
                if (suf[i] < '0' || suf[i] > '9')
                    return -ENOENT;
                idx = idx * 10 + (size_t)(suf[i] - '0');
            }
        }
    }
    for (size_t i = 0; i < nkv && nv < AWS_CERT_MAX_VALUES; i++)
        if (kv[i].name && kv[i].value && strcmp(kv[i].name, canon) == 0)
            vals[nv++] = kv[i].value;
    r->cert = true;
    if (list) {
        r->multi = true;
        for (size_t i = 0; i < nv; i++)
            r->v[r->n++] = vals[i];
    } else if (idx < nv) {
        r->v[r->n++] = vals[idx];
    }
    return 0;
}

int aws_policy_key(const struct aws_policy_ctx *ctx, const char *name, size_t len,
                   struct aws_key_vals *ret)
{
    static const char thing[] = "iot:Connection.Thing.";
    static const char subj[] = "iot:Certificate.Subject.";
    static const char iss[] = "iot:Certificate.Issuer.";
    struct aws_key_vals r = { .n = 0 };
    int rc = 0;

    if (eq_ci(name, len, "iot:ClientId")) {
        one(&r, ctx->client_id);
    } else if (eq_ci(name, len, "aws:SourceIp")) {
        one(&r, ctx->source_ip);
    } else if (eq_ci(name, len, "iot:Certificate.SerialNumber")) {
        one(&r, ctx->cert_serial);
    } else if (eq_ci(name, len, "iot:ConnectAttributes")) {
        r.multi = true;
        if (ctx->persistent_connect)
            one(&r, "PersistentConnect");
        if (ctx->last_will)
            one(&r, "LastWill");
    } else if (prefix_ci(name, len, thing)) {
        const char *s = name + sizeof(thing) - 1;
        size_t n = len - (sizeof(thing) - 1);
        if (eq_ci(s, n, "ThingName"))
            one(&r, ctx->thing_name);
        else if (eq_ci(s, n, "ThingTypeName"))
            one(&r, ctx->thing_type_name);
        else if (eq_ci(s, n, "IsAttached"))
            one(&r, ctx->thing_is_attached ? "true" : "false");
        else
            rc = thing_attr(ctx, s, n, &r);
    } else if (prefix_ci(name, len, subj)) {
        rc = cert_attr(ctx->subject, ctx->n_subject, name + sizeof(subj) - 1,
                       len - (sizeof(subj) - 1), &r);
    } else if (prefix_ci(name, len, iss)) {
        rc = cert_attr(ctx->issuer, ctx->n_issuer, name + sizeof(iss) - 1,
                       len - (sizeof(iss) - 1), &r);
    } else {
        rc = -ENOENT;
    }
    if (rc < 0)
        return rc;
    *ret = r;
    return 0;
}

/* The single value ${name} stands for, or -ENOENT. */
static int var_value(const struct aws_policy_ctx *ctx, const char *name, size_t len,
                     const char **ret)
{
    struct aws_key_vals kv;
    const char *v;

    if (aws_policy_key(ctx, name, len, &kv) < 0 || kv.multi || kv.n != 1)
        return -ENOENT;
    v = kv.v[0];
    if (kv.cert && strlen(v) > AWS_CERT_MAX_VALUE_LEN)
        return -ENOENT;
    *ret = v;
    return 0;
}

int aws_policy_subst(const struct aws_policy_ctx *ctx, const char *s, size_t n,
                     bool unresolved_star, struct aws_pat *ret)
{
    struct aws_pat p = { NULL, 0 };
    size_t i = 0, lit = 0;
    int rc = 0;

    while (i < n && rc == 0) {
        const char *close, *val;
        size_t vlen;

        if (s[i] != '$' || i + 1 >= n || s[i + 1] != '{') {
            i++;
            continue;
        }
        close = memchr(s + i + 2, '}', n - i - 2);
        if (!close) {
            /* An unterminated "${" is plain text. */
            i += 2;
            continue;
        }
        rc = aws_pat_append(&p, s + lit, i - lit, true);
        if (rc < 0)
            break;
        vlen = (size_t)(close - (s + i + 2));
        val = s + i + 2;
        /* ${*} ${?} ${$}: the characters themselves, never wildcards. */
        if (vlen == 1 && (*val == '*' || *val == '?' || *val == '$')) {
            rc = aws_pat_append(&p, val, 1, false);
        } else {
            const char *v;
            rc = var_value(ctx, val, vlen, &v);
            if (rc == 0)
                rc = aws_pat_append(&p, v, strlen(v), false);
            else if (rc == -ENOENT && unresolved_star)
                rc = aws_pat_append(&p, "*", 1, true);
        }
        i = (size_t)(close - s) + 1;
        lit = i;
    }
    if (rc == 0)
        rc = aws_pat_append(&p, s + lit, n - lit, true);
    if (rc < 0) {
        aws_pat_free(&p);
        return rc;
    }
    *ret = p;
    return 0;
}
