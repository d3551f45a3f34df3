/* libFuzzer target for the AWS IoT policy engine (registry/aws_policy*):
 * arbitrary bytes are a policy document. It is validated; a valid one is
 * compiled for a fixed connection (whose client id and certificate hold
 * wildcard characters, so substitution must stay literal) and checked
 * against fixed resources and one taken from the input. Any input is also
 * used as a resource tail against a fixed set of awkward patterns, which
 * drives the glob with arbitrary text. Must never crash or hang; abort()
 * when an invariant fails: a reason for every refusal, decisions in range,
 * compiling a document twice changes nothing, an explicit Deny survives any
 * added document, and a deny-everything document denies everything. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/aws_policy.h"
#include "fuzz_target.h"

static const struct aws_kv subject[] = {
    { "CommonName", "dev-1" },
    { "OrganizationalUnit", "ou-a" },
    { "OrganizationalUnit", "ou*b" },
    { "Organization", "Example Corp" },
};
static const struct aws_kv attrs[] = {
    { "color", "red" },
};

static const struct aws_policy_ctx ctx = {
    .region = "us-east-1",
    .account = "123456789012",
    .client_id = "c*?+#${*}",
    .thing_name = "c*?+#${*}",
    .thing_type_name = "sensor",
    .thing_attrs = attrs,
    .n_thing_attrs = 1,
    .thing_is_attached = true,
    .subject = subject,
    .n_subject = 4,
    .cert_serial = "0a1b",
    .cert_id = "abc",
    .source_ip = "10.1.2.3",
    .persistent_connect = true,
};

static const char *const resources[] = {
    "client/c*?+#${*}", "client/dev-1", "topic/a", "topic/a/b/c", "topic/$aws/things/x/shadow/get",
    "topicfilter/a/+/b", "topicfilter/#", "thing/c*?+#${*}", "thing/x/named", "*", "",
    "topic/red", "topic/ou-a",
};

static const char allow_all[] = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
                                "\"Resource\":\"*\"}}";
static const char deny_all[] = "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"*\","
                               "\"Resource\":\"*\"}}";

/* Patterns built to be slow for a naive matcher, and the literal cases. */
static const char glob_doc[] =
    "{\"Statement\":["
    "{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":["
    "\"arn:aws:iot:us-east-1:123456789012:topic/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\","
    "\"arn:aws:iot:us-east-1:123456789012:topic/*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab*\","
    "\"arn:aws:iot:us-east-1:123456789012:topic/?*?*?*?/${*}/${?}\","
    "\"arn:aws:iot:us-east-1:123456789012:topic/id/${iot:ClientId}/*\"]},"
    "{\"Effect\":\"Deny\",\"Action\":\"iot:Publish\",\"NotResource\":"
    "\"arn:aws:iot:us-east-1:123456789012:topic/*\"}]}";

static struct aws_policy_set *compile(const char *const *docs, const size_t *lens, size_t n)
{
    struct aws_policy_set *s = NULL;
    int rc = aws_policy_compile(docs, lens, n, &ctx, &s);
    REQUIRE(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        REQUIRE(s != NULL);
    return s;
}

static void check_glob(const char *res, size_t len)
{
    static struct aws_policy_set *g;
    const char *d = glob_doc;
    size_t dl = sizeof(glob_doc) - 1;

    if (!g) {
        REQUIRE(aws_policy_validate(d, dl, NULL, 0) == 0);
        g = compile(&d, &dl, 1);
        if (!g)
            return;
    }
    enum aws_decision r = aws_policy_check(g, AWS_ACT_PUBLISH, res, len);
    REQUIRE(r <= AWS_DENY_EXPLICIT);
    /* The Deny covers exactly what is not a topic of this account (its
     * pattern's prefix is literal, so only the tail's head decides). */
    REQUIRE((r == AWS_DENY_EXPLICIT) == !(len >= 6 && memcmp(res, "topic/", 6) == 0));
    REQUIRE(aws_policy_check(g, AWS_ACT_SUBSCRIBE, res, len) == AWS_DENY_IMPLICIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    char why[200];
    size_t rlen = size < 80 ? size : 80;
    int rc;

    memset(why, 'x', sizeof(why));
    rc = aws_policy_validate(doc, size, why, sizeof(why));
    REQUIRE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    REQUIRE(memchr(why, '\0', sizeof(why)) != NULL);
    if (rc == -EINVAL)
        REQUIRE(why[0] != '\0');

    check_glob(doc, size);
    if (rc != 0)
        return 0;

    const char *one[1] = { doc };
    size_t one_len[1] = { size };
    const char *two[2] = { doc, doc };
    size_t two_len[2] = { size, size };
    const char *with_allow[2] = { doc, allow_all };
    size_t with_allow_len[2] = { size, sizeof(allow_all) - 1 };
    const char *with_deny[2] = { deny_all, doc };
    size_t with_deny_len[2] = { sizeof(deny_all) - 1, size };
    struct aws_policy_set *a = compile(one, one_len, 1);
    struct aws_policy_set *b = compile(two, two_len, 2);
    struct aws_policy_set *c = compile(with_allow, with_allow_len, 2);
    struct aws_policy_set *d = compile(with_deny, with_deny_len, 2);
    size_t nres = sizeof(resources) / sizeof(resources[0]);

    if (a && b && c && d) {
        for (int act = 0; act < AWS_ACT__COUNT; act++) {
            for (size_t i = 0; i <= nres; i++) {
                /* The last resource is the input's own head. */
                const char *r = i < nres ? resources[i] : doc;
                size_t rl = i < nres ? strlen(r) : rlen;
                enum aws_decision x = aws_policy_check(a, (enum aws_action)act, r, rl);
                enum aws_decision y = aws_policy_check(b, (enum aws_action)act, r, rl);
                enum aws_decision z = aws_policy_check(c, (enum aws_action)act, r, rl);

                REQUIRE(x <= AWS_DENY_EXPLICIT);
                REQUIRE(x == y);
                REQUIRE(z == (x == AWS_DENY_EXPLICIT ? AWS_DENY_EXPLICIT : AWS_ALLOW));
                REQUIRE(aws_policy_check(d, (enum aws_action)act, r, rl) == AWS_DENY_EXPLICIT);
                REQUIRE(aws_policy_allows(a, (enum aws_action)act, r, rl) == (x == AWS_ALLOW));
            }
        }
    }
    aws_policy_set_free(a);
    aws_policy_set_free(b);
    aws_policy_set_free(c);
    aws_policy_set_free(d);
    return 0;
}
