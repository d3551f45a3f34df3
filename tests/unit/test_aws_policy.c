/* AWS IoT policies (registry/aws_policy*): the grammar CreatePolicy accepts,
 * IAM evaluation (default deny, Allow, explicit Deny wins across documents),
 * ARN globbing with '*' spanning '/', MQTT wildcards being literal, policy
 * variables substituted as literal text, conditions decided per connection
 * and failing closed, and a glob that stays fast on adversarial input.
 * Documents are written with single quotes for readability; J() turns them
 * into JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/aws_policy.h"
#include "testutil.h"
#include "testutil_json.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"

static const struct aws_kv subject[] = {
    { "Country", "US" },
    { "Organization", "Example Corp" },
    { "OrganizationalUnit", "ou-a" },
    { "OrganizationalUnit", "ou-b" },
    { "CommonName", "dev1" },
};
static const struct aws_kv issuer[] = {
    { "CommonName", "Example CA" },
};
static const struct aws_kv attrs[] = {
    { "color", "red" },
    { "site", "berlin" },
};

/* A connection with every source of variables present. */
static struct aws_policy_ctx full_ctx(void)
{
    struct aws_policy_ctx c = {
        .region = "us-east-1",
        .account = "123456789012",
        .client_id = "dev1",
        .thing_name = "dev1",
        .thing_type_name = "sensor",
        .thing_attrs = attrs,
        .n_thing_attrs = 2,
        .thing_is_attached = true,
        .subject = subject,
        .n_subject = sizeof(subject) / sizeof(subject[0]),
        .issuer = issuer,
        .n_issuer = 1,
        .cert_serial = "0a1b2c",
        .cert_id = "abc",
        .source_ip = "10.1.2.3",
    };
    return c;
}

/* A connection whose client id is not an attached thing, no certificate. */
static struct aws_policy_ctx bare_ctx(const char *client_id)
{
    struct aws_policy_ctx c = {
        .region = "us-east-1",
        .account = "123456789012",
        .client_id = client_id,
    };
    return c;
}

#define J tu_json_sq

/* Compiles one or two single-quoted documents; each must validate. */
static struct aws_policy_set *pol2(const char *d1, const char *d2,
                                   const struct aws_policy_ctx *ctx)
{
    const char *docs[2] = { J(d1), d2 ? J(d2) : NULL };
    size_t lens[2] = { strlen(docs[0]), d2 ? strlen(docs[1]) : 0 };
    struct aws_policy_set *s = NULL;
    char why[256];

    for (int i = 0; i < (d2 ? 2 : 1); i++)
        if (aws_policy_validate(docs[i], lens[i], why, sizeof(why)) != 0)
            FAIL("document %d invalid: %s", i, why);
    CHECK_EQ(aws_policy_compile(docs, lens, d2 ? 2 : 1, ctx, &s), 0);
    return s;
}

static struct aws_policy_set *pol(const char *doc, const struct aws_policy_ctx *ctx)
{
    return pol2(doc, NULL, ctx);
}

static enum aws_decision dec(const struct aws_policy_set *s, enum aws_action a, const char *r)
{
    return aws_policy_check(s, a, r, strlen(r));
}

#define ALLOWED(s, a, r) CHECK_EQ(dec((s), (a), (r)), AWS_ALLOW)
#define DENIED(s, a, r) CHECK_EQ(dec((s), (a), (r)), AWS_DENY_IMPLICIT)
#define XDENIED(s, a, r) CHECK_EQ(dec((s), (a), (r)), AWS_DENY_EXPLICIT)

/* A one-statement document. */
static const char *stmt1(const char *effect, const char *action, const char *resource,
                         const char *cond)
{
    /* A ring deep enough for the documents one test keeps while it makes
     * others (none keeps more than a handful across 64 calls). */
    static char b[64][4096];
    static int k;
    char *o = b[k++ % 64];

    snprintf(o, sizeof(b[0]),
             "{'Version':'2012-10-17','Statement':[{'Effect':'%s','Action':%s,"
             "'Resource':%s%s%s}]}",
             effect, action, resource, cond ? ",'Condition':" : "", cond ? cond : "");
    return o;
}

static void test_action_names(void)
{
    CHECK_STR(aws_action_name(AWS_ACT_CONNECT), "iot:Connect");
    CHECK_STR(aws_action_name(AWS_ACT_RETAIN_PUBLISH), "iot:RetainPublish");
    CHECK_STR(aws_action_name(AWS_ACT_LIST_NAMED_SHADOWS), "iot:ListNamedShadowsForThing");
    CHECK_STR(aws_action_name(AWS_ACT_LIST_RETAINED), "iot:ListRetainedMessages");
}

static void test_allow_deny_default(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s, *empty = NULL;

    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/a'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");
    DENIED(s, AWS_ACT_PUBLISH, "topic/b");
    DENIED(s, AWS_ACT_PUBLISH, "topic/a/b");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topic/a");        /* other action */
    DENIED(s, AWS_ACT_RECEIVE, "topic/a");
    aws_policy_set_free(s);

    s = pol(stmt1("Deny", "'iot:Publish'", "'" ARN "topic/a'", NULL), &c);
    XDENIED(s, AWS_ACT_PUBLISH, "topic/a");
    DENIED(s, AWS_ACT_PUBLISH, "topic/b");
    aws_policy_set_free(s);

    /* NULL set and a set of no documents deny everything. */
    CHECK_EQ(aws_policy_check(NULL, AWS_ACT_CONNECT, "client/dev1", 11), AWS_DENY_IMPLICIT);
    CHECK(!aws_policy_allows(NULL, AWS_ACT_CONNECT, "client/dev1", 11));
    CHECK_EQ(aws_policy_compile(NULL, NULL, 0, &c, &empty), 0);
    CHECK(empty != NULL);
    DENIED(empty, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(empty);
    aws_policy_set_free(NULL);

    /* The ARN must be this account's and region's. */
    s = pol(stmt1("Allow", "'iot:Connect'",
                  "['arn:aws:iot:eu-west-1:123456789012:client/dev1',"
                  "'arn:aws:iot:us-east-1:999999999999:client/dev1']", NULL), &c);
    DENIED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);
    s = pol(stmt1("Allow", "'iot:Connect'", "'arn:aws:iot:*:*:client/dev1'", NULL), &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);

    /* Statement as a single object, Version 2008, a Sid and an Id. */
    s = pol("{'Id':'x','Version':'2008-10-17','Statement':{'Sid':'s1','Effect':'Allow',"
            "'Action':['iot:Connect','iot:Publish'],'Resource':['" ARN "client/dev1','"
            ARN "topic/t']}}", &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/dev1");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/t");
    /* IAM does not pair actions with resource types: any listed resource
     * goes with any listed action. */
    ALLOWED(s, AWS_ACT_PUBLISH, "client/dev1");
    DENIED(s, AWS_ACT_PUBLISH, "topic/u");
    aws_policy_set_free(s);

    /* An out-of-range action never passes. */
    s = pol(stmt1("Allow", "'*'", "'*'", NULL), &c);
    CHECK_EQ(aws_policy_check(s, AWS_ACT__COUNT, "topic/a", 7), AWS_DENY_IMPLICIT);
    CHECK_EQ(aws_policy_check(s, (enum aws_action)40, "topic/a", 7), AWS_DENY_IMPLICIT);
    aws_policy_set_free(s);
}

static void test_deny_wins_across_documents(void)
{
    struct aws_policy_ctx c = full_ctx();
    const char *allow = stmt1("Allow", "'iot:*'", "'" ARN "topic/*'", NULL);
    const char *deny = stmt1("Deny", "'iot:Publish'", "'" ARN "topic/secret/*'", NULL);
    struct aws_policy_set *s;

    for (int order = 0; order < 2; order++) {
        s = order ? pol2(deny, allow, &c) : pol2(allow, deny, &c);
        ALLOWED(s, AWS_ACT_PUBLISH, "topic/open");
        XDENIED(s, AWS_ACT_PUBLISH, "topic/secret/x");
        /* The Deny names Publish only. */
        ALLOWED(s, AWS_ACT_RECEIVE, "topic/secret/x");
        aws_policy_set_free(s);
    }

    /* Within one document too, and NotResource: deny all but one topic. */
    s = pol("{'Statement':[{'Effect':'Allow','Action':'iot:Publish','Resource':'*'},"
            "{'Effect':'Deny','Action':'iot:Publish','NotResource':'" ARN "topic/ok'}]}", &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/ok");
    XDENIED(s, AWS_ACT_PUBLISH, "topic/other");
    aws_policy_set_free(s);
}

static void test_star_and_qmark(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;

    /* '*' spans levels: not MQTT's '+'. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/a/*'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a/b");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a/b/c/d");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a/");
    DENIED(s, AWS_ACT_PUBLISH, "topic/a");
    DENIED(s, AWS_ACT_PUBLISH, "topic/ab/c");
    aws_policy_set_free(s);

    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/*/end'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/x/end");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/x/y/z/end");
    DENIED(s, AWS_ACT_PUBLISH, "topic/x/end/more");
    aws_policy_set_free(s);

    /* '?' is exactly one character, '/' included. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/a?c'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/abc");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a/c");
    DENIED(s, AWS_ACT_PUBLISH, "topic/ac");
    DENIED(s, AWS_ACT_PUBLISH, "topic/abbc");
    aws_policy_set_free(s);

    /* A literal character matches only itself, '/' included. */
    s = pol(stmt1("Allow", "'iot:Publish'", "['" ARN "topic/a_c','" ARN "topic/*/x_y']", NULL),
            &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/a/c");
    DENIED(s, AWS_ACT_PUBLISH, "topic/q/x/y");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/q/x_y");
    aws_policy_set_free(s);

    /* Case-sensitive resources. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/Abc'", NULL), &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/abc");
    aws_policy_set_free(s);

    /* "*" alone and the ARN-wide star. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'arn:aws:iot:us-east-1:123456789012:*'", NULL),
            &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/anything/at/all");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/");
    aws_policy_set_free(s);
}

static void test_mqtt_wildcards_literal(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;

    s = pol(stmt1("Allow", "'iot:Subscribe'",
                  "['" ARN "topicfilter/a/+/b','" ARN "topicfilter/x/#']", NULL), &c);
    ALLOWED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a/+/b");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a/x/b");
    ALLOWED(s, AWS_ACT_SUBSCRIBE, "topicfilter/x/#");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/x/y");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/x/y/#");
    aws_policy_set_free(s);

    /* The documented pitfall: allowing "topicfilter/a/" plus a star admits
     * "a/#", which a Deny on "topicfilter/a/restricted/" plus a star does
     * not catch. */
    s = pol("{'Statement':[{'Effect':'Allow','Action':'iot:Subscribe','Resource':'"
            ARN "topicfilter/a/*'},{'Effect':'Deny','Action':'iot:Subscribe','Resource':'"
            ARN "topicfilter/a/restricted/*'}]}", &c);
    ALLOWED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a/#");
    XDENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a/restricted/#");
    aws_policy_set_free(s);
}

static void test_actions(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;

    s = pol(stmt1("Allow", "'iot:Pub*'", "'*'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a");
    DENIED(s, AWS_ACT_RETAIN_PUBLISH, "topic/a");
    aws_policy_set_free(s);

    /* IAM action names are case-insensitive, patterns included. */
    s = pol(stmt1("Allow", "['IOT:PUBLISH','iot:retain*','Iot:?eceive']", "'*'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");
    ALLOWED(s, AWS_ACT_RETAIN_PUBLISH, "topic/a");
    ALLOWED(s, AWS_ACT_RECEIVE, "topic/a");
    DENIED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);

    s = pol(stmt1("Allow", "'iot:*'", "'*'", NULL), &c);
    for (int a = 0; a < AWS_ACT__COUNT; a++)
        ALLOWED(s, (enum aws_action)a, "thing/dev1");
    aws_policy_set_free(s);
    s = pol(stmt1("Allow", "'*'", "'*'", NULL), &c);
    ALLOWED(s, AWS_ACT_UPDATE_THING_SHADOW, "thing/dev1/named");
    aws_policy_set_free(s);

    /* Other services and unknown iot actions are accepted and match nothing. */
    s = pol(stmt1("Allow", "['s3:*','iot:DescribeJobExecution','greengrass:*']", "'*'", NULL),
            &c);
    for (int a = 0; a < AWS_ACT__COUNT; a++)
        DENIED(s, (enum aws_action)a, "topic/a");
    aws_policy_set_free(s);

    /* NotAction: everything but Publish. */
    s = pol("{'Statement':{'Effect':'Allow','NotAction':'iot:Publish','Resource':'*'}}", &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/a");
    ALLOWED(s, AWS_ACT_SUBSCRIBE, "topicfilter/a");
    aws_policy_set_free(s);

    /* Shadow and retained-message resources; "*" for the list actions. */
    s = pol("{'Statement':[{'Effect':'Allow','Action':'iot:GetThingShadow','Resource':'"
            ARN "thing/dev1'},{'Effect':'Allow','Action':'iot:ListRetainedMessages',"
            "'Resource':'*'},{'Effect':'Allow','Action':'iot:ListNamedShadowsForThing',"
            "'Resource':'" ARN "*'}]}", &c);
    ALLOWED(s, AWS_ACT_GET_THING_SHADOW, "thing/dev1");
    DENIED(s, AWS_ACT_GET_THING_SHADOW, "thing/dev1/named");
    ALLOWED(s, AWS_ACT_LIST_RETAINED, "*");
    /* The request resource "*" is only covered by a Resource of "*". */
    DENIED(s, AWS_ACT_LIST_NAMED_SHADOWS, "*");
    aws_policy_set_free(s);
}

static void test_client_id_variable(void)
{
    const char *doc = stmt1("Allow", "['iot:Connect','iot:Publish']",
                            "['" ARN "client/${iot:ClientId}','" ARN "topic/d/${iot:ClientId}/*']",
                            NULL);
    struct aws_policy_ctx c = bare_ctx("dev1");
    struct aws_policy_set *s;

    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/dev1");
    DENIED(s, AWS_ACT_CONNECT, "client/dev2");
    DENIED(s, AWS_ACT_CONNECT, "client/dev1x");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/d/dev1/x/y");
    DENIED(s, AWS_ACT_PUBLISH, "topic/d/dev2/x");
    aws_policy_set_free(s);

    /* A client id with wildcard characters matches only itself. */
    c = bare_ctx("a*b");
    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/a*b");
    DENIED(s, AWS_ACT_CONNECT, "client/aXb");
    DENIED(s, AWS_ACT_CONNECT, "client/ab");
    DENIED(s, AWS_ACT_PUBLISH, "topic/d/aXXb/t");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/d/a*b/t");
    aws_policy_set_free(s);

    c = bare_ctx("a?");
    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/a?");
    DENIED(s, AWS_ACT_CONNECT, "client/ab");
    aws_policy_set_free(s);

    c = bare_ctx("*");
    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/*");
    DENIED(s, AWS_ACT_CONNECT, "client/dev1");
    DENIED(s, AWS_ACT_PUBLISH, "topic/d/x/t");
    aws_policy_set_free(s);

    /* Substituted text is never read again as a variable or an escape. */
    c = bare_ctx("${*}");
    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/${*}");
    DENIED(s, AWS_ACT_CONNECT, "client/*");
    DENIED(s, AWS_ACT_CONNECT, "client/x");
    aws_policy_set_free(s);
    c = bare_ctx("${iot:ClientId}");
    s = pol(doc, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/${iot:ClientId}");
    aws_policy_set_free(s);

    /* The docs' caveat: a client id "+" turns the grant into a filter. */
    c = bare_ctx("+");
    s = pol(stmt1("Allow", "'iot:Subscribe'", "'" ARN "topicfilter/my/${iot:ClientId}/t'",
                  NULL), &c);
    ALLOWED(s, AWS_ACT_SUBSCRIBE, "topicfilter/my/+/t");
    DENIED(s, AWS_ACT_SUBSCRIBE, "topicfilter/my/x/t");
    aws_policy_set_free(s);

    /* No client id (absent): the statement is inert. */
    c = bare_ctx(NULL);
    s = pol(doc, &c);
    DENIED(s, AWS_ACT_CONNECT, "client/");
    DENIED(s, AWS_ACT_CONNECT, "client/${iot:ClientId}");
    aws_policy_set_free(s);

    /* Variable names are case-insensitive, as IAM keys are. */
    c = bare_ctx("dev1");
    s = pol(stmt1("Allow", "'iot:Connect'", "'" ARN "client/${IOT:clientid}'", NULL), &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);
}

static void test_thing_variables(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_ctx none = bare_ctx("dev1");
    const char *allow = stmt1("Allow", "'iot:Publish'",
                              "['" ARN "topic/t/${iot:Connection.Thing.ThingName}',"
                              "'" ARN "topic/type/${iot:Connection.Thing.ThingTypeName}',"
                              "'" ARN "topic/c/${iot:Connection.Thing.Attributes[color]}']",
                              NULL);
    struct aws_policy_set *s;

    s = pol(allow, &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/t/dev1");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/type/sensor");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/c/red");
    DENIED(s, AWS_ACT_PUBLISH, "topic/c/blue");
    aws_policy_set_free(s);

    /* Without an attached thing the whole statement is inert, even the
     * resources that would resolve. */
    s = pol(allow, &none);
    DENIED(s, AWS_ACT_PUBLISH, "topic/t/dev1");
    DENIED(s, AWS_ACT_PUBLISH, "topic/t/");
    aws_policy_set_free(s);

    /* A missing attribute (or type) makes the statement inert, too. */
    c.thing_type_name = NULL;
    s = pol(allow, &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/t/dev1");
    aws_policy_set_free(s);
    c = full_ctx();
    s = pol(stmt1("Allow", "'iot:Publish'",
                  "'" ARN "topic/${iot:Connection.Thing.Attributes[shape]}'", NULL), &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/");
    aws_policy_set_free(s);
    /* Attribute names keep their case. */
    s = pol(stmt1("Allow", "'iot:Publish'",
                  "'" ARN "topic/${iot:Connection.Thing.Attributes[Color]}'", NULL), &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/red");
    aws_policy_set_free(s);

    /* A Deny is never lifted by a value the connection lacks: its variable
     * stands for any value (stricter than AWS, which ignores the whole
     * statement), so only the rest of its pattern still narrows it. */
    s = pol2(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/*'", NULL),
             stmt1("Deny", "'iot:Publish'",
                   "'" ARN "topic/${iot:Connection.Thing.ThingName}'", NULL), &none);
    XDENIED(s, AWS_ACT_PUBLISH, "topic/dev1");
    aws_policy_set_free(s);
    s = pol2(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/*'", NULL),
             stmt1("Deny", "'iot:Publish'",
                   "'" ARN "topic/${iot:Connection.Thing.ThingName}/admin'", NULL), &none);
    XDENIED(s, AWS_ACT_PUBLISH, "topic/x/admin");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/x/data");
    aws_policy_set_free(s);
    /* In a Deny's NotResource the unresolvable element is dropped: the
     * exception shrinks, so the Deny covers more. */
    s = pol2(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/*'", NULL),
             "{'Version':'2012-10-17','Statement':[{'Effect':'Deny','Action':'iot:Publish',"
             "'NotResource':['" ARN "topic/${iot:Connection.Thing.ThingName}','" ARN
             "topic/open']}]}", &none);
    XDENIED(s, AWS_ACT_PUBLISH, "topic/dev1");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/open");
    aws_policy_set_free(s);
    /* An Allow with an unresolvable variable stays inert. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/${iot:Connection.Thing.ThingName}'",
                  NULL), &none);
    DENIED(s, AWS_ACT_PUBLISH, "topic/dev1");
    aws_policy_set_free(s);
    s = pol2(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/*'", NULL),
             stmt1("Deny", "'iot:Publish'",
                   "'" ARN "topic/${iot:Connection.Thing.ThingName}'", NULL), &c);
    XDENIED(s, AWS_ACT_PUBLISH, "topic/dev1");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/dev2");
    aws_policy_set_free(s);

    /* Unknown variables are unresolvable. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/${iot:Nope}'", NULL), &c);
    DENIED(s, AWS_ACT_PUBLISH, "topic/");
    DENIED(s, AWS_ACT_PUBLISH, "topic/${iot:Nope}");
    aws_policy_set_free(s);

    /* IsAttached as a variable; an unterminated "${" is plain text. */
    s = pol(stmt1("Allow", "'iot:Publish'",
                  "['" ARN "topic/att/${iot:Connection.Thing.IsAttached}','" ARN "topic/${x']",
                  NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/att/true");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/${x");
    aws_policy_set_free(s);
}

static void test_certificate_variables(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_kv star_cn[] = { { "CommonName", "dev*" } };
    struct aws_policy_set *s;

    s = pol(stmt1("Allow", "'iot:Publish'",
                  "['" ARN "topic/cn/${iot:Certificate.Subject.CommonName}',"
                  "'" ARN "topic/ou0/${iot:Certificate.Subject.OrganizationalUnit}',"
                  "'" ARN "topic/ou1/${iot:Certificate.Subject.OrganizationalUnit.1}',"
                  "'" ARN "topic/ou00/${iot:Certificate.Subject.OrganizationalUnit.0}',"
                  "'" ARN "topic/ca/${iot:Certificate.Issuer.CommonName}',"
                  "'" ARN "topic/sn/${iot:Certificate.SerialNumber}']", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/cn/dev1");
    DENIED(s, AWS_ACT_PUBLISH, "topic/cn/dev2");
    /* Bare name and .0 are the first value, .1 the second (zero-based). */
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/ou0/ou-a");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/ou00/ou-a");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/ou1/ou-b");
    DENIED(s, AWS_ACT_PUBLISH, "topic/ou1/ou-a");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/ca/Example CA");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/sn/0a1b2c");
    aws_policy_set_free(s);

    /* An index past the values, .List, or an unknown attribute: inert. */
    const char *bad[] = {
        "'" ARN "topic/x/${iot:Certificate.Subject.OrganizationalUnit.2}'",
        "'" ARN "topic/x/${iot:Certificate.Subject.OrganizationalUnit.List}'",
        "'" ARN "topic/x/${iot:Certificate.Subject.Email}'",
        "'" ARN "topic/x/${iot:Certificate.Subject.Title}'",
        "'" ARN "topic/x/${iot:Certificate.Subject.CommonName.x}'",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = pol(stmt1("Allow", "'iot:Publish'", bad[i], NULL), &c);
        DENIED(s, AWS_ACT_PUBLISH, "topic/x/ou-a");
        DENIED(s, AWS_ACT_PUBLISH, "topic/x/");
        aws_policy_set_free(s);
    }

    /* A certificate value holding a wildcard character is literal text:
     * the CN "dev*" is granted "dev*" and nothing the '*' would cover. */
    c.subject = star_cn;
    c.n_subject = 1;
    s = pol(stmt1("Allow", "'iot:Publish'",
                  "'" ARN "topic/cn/${iot:Certificate.Subject.CommonName}'", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/cn/dev*");
    DENIED(s, AWS_ACT_PUBLISH, "topic/cn/devX");
    DENIED(s, AWS_ACT_PUBLISH, "topic/cn/dev");
    aws_policy_set_free(s);
}

static void test_escapes(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;

    s = pol(stmt1("Allow", "'iot:Publish'",
                  "['" ARN "topic/star/${*}','" ARN "topic/q/${?}','" ARN "topic/${$}aws/x',"
                  "'" ARN "topic/mix/${*}*']", NULL), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/star/*");
    DENIED(s, AWS_ACT_PUBLISH, "topic/star/x");
    DENIED(s, AWS_ACT_PUBLISH, "topic/star/");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/q/?");
    DENIED(s, AWS_ACT_PUBLISH, "topic/q/x");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/$aws/x");
    /* A literal star followed by a wildcard one. */
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/mix/*");
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/mix/*abc");
    DENIED(s, AWS_ACT_PUBLISH, "topic/mix/abc");
    aws_policy_set_free(s);
}

/* The conditions tests ask one thing of each document: is this Connect let
 * in? A document compiled for ctx, checked once for the client resource,
 * freed. */
static enum aws_decision connect_dec(const char *doc, const struct aws_policy_ctx *ctx,
                                     const char *client)
{
    struct aws_policy_set *s = pol(doc, ctx);
    enum aws_decision d = dec(s, AWS_ACT_CONNECT, client);

    aws_policy_set_free(s);
    return d;
}

#define CONNECT_ALLOWED(doc, ctx, client) CHECK_EQ(connect_dec((doc), (ctx), (client)), AWS_ALLOW)
#define CONNECT_DENIED(doc, ctx, client) \
    CHECK_EQ(connect_dec((doc), (ctx), (client)), AWS_DENY_IMPLICIT)

/* An Allow of iot:Connect on every client, under cond. */
static const char *connect_if(const char *cond)
{
    return stmt1("Allow", "'iot:Connect'", "'*'", cond);
}

static void test_conditions_bool_like(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_ctx none = bare_ctx("sensor-7");
    struct aws_policy_ctx k;
    const char *attached = connect_if("{'Bool':{'iot:Connection.Thing.IsAttached':'true'}}");
    const char *like = connect_if("{'StringLike':{'iot:ClientId':['sensor-*','gw-?\?']}}");

    CONNECT_ALLOWED(attached, &c, "client/dev1");
    CONNECT_DENIED(attached, &none, "client/sensor-7");
    /* JSON booleans are accepted as values. */
    CONNECT_ALLOWED(connect_if("{'Bool':{'iot:Connection.Thing.IsAttached':[false]}}"), &none,
                    "client/sensor-7");

    k = bare_ctx("sensor-7");
    CONNECT_ALLOWED(like, &k, "client/sensor-7");
    k = bare_ctx("gw-12");
    CONNECT_ALLOWED(like, &k, "client/gw-12");
    k = bare_ctx("gw-123");
    CONNECT_DENIED(like, &k, "client/gw-123");

    /* StringNotLike; StringEquals is exact, IgnoreCase folds. */
    k = bare_ctx("Sensor-1");
    CONNECT_ALLOWED(connect_if("{'StringNotLike':{'iot:ClientId':'sensor-*'}}"), &k,
                    "client/Sensor-1");
    CONNECT_DENIED(connect_if("{'StringEquals':{'iot:ClientId':'sensor-1'}}"), &k,
                   "client/Sensor-1");
    CONNECT_ALLOWED(connect_if("{'StringEqualsIgnoreCase':{'iot:ClientId':'sensor-1'}}"), &k,
                    "client/Sensor-1");
    /* StringEquals reads '*' as itself. */
    k = bare_ctx("a*");
    CONNECT_ALLOWED(connect_if("{'StringEquals':{'iot:ClientId':'a*'}}"), &k, "client/a*");
    k = bare_ctx("ab");
    CONNECT_DENIED(connect_if("{'StringEquals':{'iot:ClientId':'a*'}}"), &k, "client/ab");

    /* Variables in condition values: thing name must equal the client id. */
    CONNECT_ALLOWED(
        connect_if("{'StringEquals':{'iot:Connection.Thing.ThingName':'${iot:ClientId}'}}"), &c,
        "client/dev1");
    /* A value with an unresolvable variable makes the statement inert. */
    CONNECT_DENIED(stmt1("Deny", "'iot:Connect'", "'*'",
                         "{'StringNotEquals':"
                         "{'iot:ClientId':'${iot:Connection.Thing.ThingName}'}}"),
                   &none, "client/sensor-7");
}

static void test_conditions_sets(void)
{
    struct aws_policy_ctx c = full_ctx();      /* OU: ou-a, ou-b */
    struct aws_policy_ctx none = bare_ctx("x");
    const char *any = connect_if("{'ForAnyValue:StringEquals':"
                                 "{'iot:Certificate.Subject.OrganizationalUnit.List':"
                                 "['ou-b','ou-z']}}");
    const char *all = connect_if("{'ForAllValues:StringEquals':"
                                 "{'iot:Certificate.Subject.OrganizationalUnit.List':"
                                 "['ou-a','ou-b']}}");
    const char *all_narrow = connect_if("{'ForAllValues:StringEquals':"
                                        "{'iot:Certificate.Subject.OrganizationalUnit.List':"
                                        "['ou-a']}}");
    struct aws_policy_set *s;

    CONNECT_ALLOWED(any, &c, "client/dev1");
    CONNECT_ALLOWED(all, &c, "client/dev1");
    CONNECT_DENIED(all_narrow, &c, "client/dev1");
    /* No values: ForAnyValue is false, ForAllValues vacuously true (IAM). */
    CONNECT_DENIED(any, &none, "client/x");
    CONNECT_ALLOWED(all, &none, "client/x");
    /* The AWS docs' Organization example. */
    s = pol(stmt1("Allow", "'iot:Publish'", "'*'",
                  "{'ForAllValues:StringEquals':"
                  "{'iot:Certificate.Subject.Organization.List':['Example Corp','AnyCompany']}}"),
            &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");
    aws_policy_set_free(s);

    /* Keys AND'd, values OR'd, operators AND'd. */
    CONNECT_ALLOWED(connect_if("{'StringEquals':{'iot:ClientId':['x','dev1'],"
                               "'iot:Connection.Thing.ThingTypeName':'sensor'},"
                               "'StringLike':{'iot:Certificate.Subject.Country':'U?'}}"),
                    &c, "client/dev1");
    CONNECT_DENIED(connect_if("{'StringEquals':{'iot:ClientId':['x','dev1'],"
                              "'iot:Connection.Thing.ThingTypeName':'other'}}"),
                   &c, "client/dev1");

    /* Absent keys: positive false, negated true, IfExists true. */
    CONNECT_ALLOWED(connect_if("{'StringNotEquals':{'iot:Connection.Thing.ThingTypeName':'x'}}"),
                    &none, "client/x");
    CONNECT_DENIED(connect_if("{'StringEquals':{'iot:Connection.Thing.ThingTypeName':'x'}}"),
                   &none, "client/x");
    CONNECT_ALLOWED(
        connect_if("{'StringEqualsIfExists':{'iot:Connection.Thing.ThingTypeName':'x'}}"),
        &none, "client/x");
    CONNECT_DENIED(
        connect_if("{'StringEqualsIfExists':{'iot:Connection.Thing.ThingTypeName':'x'}}"), &c,
        "client/dev1");
    /* Null. */
    CONNECT_ALLOWED(connect_if("{'Null':{'iot:Connection.Thing.ThingName':'true'}}"), &none,
                    "client/x");
    CONNECT_DENIED(connect_if("{'Null':{'iot:Connection.Thing.ThingName':'true'}}"), &c,
                   "client/dev1");
}

static void test_fail_closed(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;
    const char *unknown_ops[] = {
        "{'NumericEquals':{'iot:ClientId':'1'}}",
        "{'DateLessThan':{'aws:CurrentTime':'2030-01-01T00:00:00Z'}}",
        "{'ForAnyValue:Bool':{'iot:Connection.Thing.IsAttached':'true'}}",
        "{'StringEquals':{'aws:CurrentTime':'x'}}",              /* unknown key */
        "{'StringEquals':{'iot:Certificate.Subject.Email':'x'}}",
        "{'IpAddress':{'aws:SourceIp':'not-an-address'}}",
    };

    for (size_t i = 0; i < sizeof(unknown_ops) / sizeof(unknown_ops[0]); i++) {
        /* An Allow we cannot decide grants nothing... */
        s = pol(stmt1("Allow", "'iot:Publish'", "'*'", unknown_ops[i]), &c);
        DENIED(s, AWS_ACT_PUBLISH, "topic/a");
        aws_policy_set_free(s);
        /* ...and a Deny we cannot decide applies. */
        s = pol2(stmt1("Allow", "'iot:Publish'", "'*'", NULL),
                 stmt1("Deny", "'iot:Publish'", "'" ARN "topic/a'", unknown_ops[i]), &c);
        XDENIED(s, AWS_ACT_PUBLISH, "topic/a");
        ALLOWED(s, AWS_ACT_PUBLISH, "topic/b");
        aws_policy_set_free(s);
    }

    /* An undecidable operator beside one that is false: the AND is false,
     * so even a Deny does not apply. */
    s = pol2(stmt1("Allow", "'iot:Publish'", "'*'", NULL),
             stmt1("Deny", "'iot:Publish'", "'*'",
                   "{'NumericEquals':{'x':'1'},'StringEquals':{'iot:ClientId':'other'}}"), &c);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");
    aws_policy_set_free(s);
}

static void test_ip_conditions(void)
{
    struct aws_policy_ctx c = full_ctx();      /* 10.1.2.3 */
    const char *in10 = connect_if("{'IpAddress':{'aws:SourceIp':['192.0.2.0/24','10.0.0.0/8']}}");
    const char *not10 = connect_if("{'NotIpAddress':{'aws:SourceIp':'10.0.0.0/8'}}");
    const char *in_upper_half = connect_if("{'IpAddress':{'aws:SourceIp':'10.1.2.128/25'}}");

    CONNECT_ALLOWED(in10, &c, "client/dev1");
    CONNECT_DENIED(not10, &c, "client/dev1");

    c.source_ip = "192.168.1.1";
    CONNECT_DENIED(in10, &c, "client/dev1");
    CONNECT_ALLOWED(not10, &c, "client/dev1");

    /* Prefix lengths that do not fall on a byte. */
    c.source_ip = "10.1.2.130";
    CONNECT_ALLOWED(in_upper_half, &c, "client/dev1");
    c.source_ip = "10.1.2.127";
    CONNECT_DENIED(in_upper_half, &c, "client/dev1");

    /* A bare address is a /32; an IPv4-mapped peer is its IPv4 address. */
    c.source_ip = "::ffff:10.9.9.9";
    CONNECT_ALLOWED(connect_if("{'IpAddress':{'aws:SourceIp':['10.9.9.9']}}"), &c,
                    "client/dev1");

    /* IPv6. */
    c.source_ip = "2001:db8:1::5";
    CONNECT_ALLOWED(connect_if("{'IpAddress':{'aws:SourceIp':'2001:db8::/32'}}"), &c,
                    "client/dev1");
    CONNECT_DENIED(connect_if("{'IpAddress':{'aws:SourceIp':'2001:db9::/32'}}"), &c,
                   "client/dev1");
    CONNECT_DENIED(in10, &c, "client/dev1");

    /* No source address known: IpAddress false, NotIpAddress true. */
    c.source_ip = NULL;
    CONNECT_DENIED(in10, &c, "client/dev1");
    CONNECT_ALLOWED(not10, &c, "client/dev1");
}

static void test_connect_attributes(void)
{
    struct aws_policy_ctx c = full_ctx();
    struct aws_policy_set *s;
    /* AWS's example: only persistent sessions may connect, and a Deny on
     * connections carrying a Last Will. */
    const char *persist = connect_if("{'ForAnyValue:StringEquals':"
                                     "{'iot:ConnectAttributes':['PersistentConnect']}}");
    const char *no_will = stmt1("Deny", "'iot:Connect'", "'*'",
                                "{'ForAnyValue:StringEquals':"
                                "{'iot:ConnectAttributes':'LastWill'}}");
    const char *only_persist = connect_if("{'ForAllValues:StringEquals':"
                                          "{'iot:ConnectAttributes':['PersistentConnect']}}");

    s = pol2(persist, no_will, &c);
    DENIED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);
    c.persistent_connect = true;
    s = pol2(persist, no_will, &c);
    ALLOWED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);
    c.last_will = true;
    s = pol2(persist, no_will, &c);
    XDENIED(s, AWS_ACT_CONNECT, "client/dev1");
    aws_policy_set_free(s);

    /* ForAllValues: only these attributes may be used. */
    CONNECT_DENIED(only_persist, &c, "client/dev1");
    c.last_will = false;
    CONNECT_ALLOWED(only_persist, &c, "client/dev1");
}

/* Validates the single-quoted doc; returns the errno and leaves why. */
static int val(const char *sq, char *why, size_t n)
{
    const char *d = J(sq);
    return aws_policy_validate(d, strlen(d), why, n);
}

#define INVALID(doc, text) do { \
        char why_[256] = ""; \
        CHECK_EQ(val((doc), why_, sizeof(why_)), -EINVAL); \
        if (!strstr(why_, (text))) \
            FAIL("why \"%s\" lacks \"%s\"", why_, (text)); \
    } while (0)

static void test_validation(void)
{
    char why[256];
    static char big[6000];
    size_t n;

    CHECK_EQ(val(stmt1("Allow", "'iot:Connect'", "'*'", NULL), why, sizeof(why)), 0);
    INVALID("", "not valid JSON");
    INVALID("not json", "not valid JSON");
    INVALID("{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*'}]", "not valid JSON");
    INVALID("{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*'}]} x", "not valid JSON");
    INVALID("[]", "Malformed");
    INVALID("{'Statement':[{'Action':'*','Resource':'*'}]}", "Missing required field Effect");
    INVALID(stmt1("Permit", "'*'", "'*'", NULL), "Invalid effect: Permit");
    INVALID(stmt1("allow", "'*'", "'*'", NULL), "Invalid effect");
    INVALID("{'Statement':[]}", "Statement must not be empty");
    INVALID("{'Version':'2012-10-17'}", "Missing required field Statement");
    INVALID("{'Statement':'x'}", "Statement");
    INVALID("{'Statement':['x']}", "Statement");
    INVALID("{'Version':'2020-01-01','Statement':{'Effect':'Allow','Action':'*','Resource':'*'}}",
            "Version");
    INVALID("{'Version':1,'Statement':{'Effect':'Allow','Action':'*','Resource':'*'}}",
            "Version");
    INVALID("{'Statement':{'Effect':'Allow','Action':'*','Resource':'*'},'Extra':1}",
            "Unknown field Extra");
    INVALID("{'Statement':{'Effect':'Allow','Action':'*','Resource':'*','Principal':'*'}}",
            "Unknown field Principal");
    INVALID(stmt1("Allow", "5", "'*'", NULL), "Action must be");
    INVALID(stmt1("Allow", "[]", "'*'", NULL), "Action must be");
    INVALID(stmt1("Allow", "['iot:Publish',3]", "'*'", NULL), "Action must be");
    INVALID(stmt1("Allow", "'Publish'", "'*'", NULL), "Invalid action");
    INVALID(stmt1("Allow", "'iot:a:b'", "'*'", NULL), "Invalid action");
    INVALID(stmt1("Allow", "'*'", "[1]", NULL), "Resource must be");
    INVALID(stmt1("Allow", "'*'", "{}", NULL), "Resource must be");
    INVALID(stmt1("Allow", "'*'", "'topic/a'", NULL), "The following resources are invalid");
    INVALID("{'Statement':{'Effect':'Allow','Action':'*'}}", "Resource");
    INVALID("{'Statement':{'Effect':'Allow','Resource':'*'}}", "Action");
    INVALID("{'Statement':{'Effect':'Allow','Action':'*','NotAction':'*','Resource':'*'}}",
            "exactly one of Action");
    INVALID("{'Statement':{'Effect':'Allow','Action':'*','Resource':'*','Sid':1}}", "Sid");
    INVALID(stmt1("Allow", "'*'", "'*'", "'x'"), "Condition");
    INVALID(stmt1("Allow", "'*'", "'*'", "{'StringEquals':'x'}"), "Condition");
    INVALID(stmt1("Allow", "'*'", "'*'", "{'StringEquals':{'iot:ClientId':null}}"),
            "condition value");
    INVALID(stmt1("Allow", "'*'", "'*'", "{'StringEquals':{'iot:ClientId':[{}]}}"),
            "condition value");
    INVALID(stmt1("Allow", "'*'", "'*'", "{'StringEquals':{'iot:ClientId':[]}}"),
            "must not be empty");
    /* Duplicate keys are rejected rather than silently resolved. */
    INVALID("{'Statement':{'Effect':'Allow','Effect':'Deny','Action':'*','Resource':'*'}}",
            "not valid JSON");

    /* 2048 characters besides whitespace: whitespace is free. */
    n = (size_t)snprintf(big, sizeof(big), "{'Statement':{'Effect':'Allow','Action':'*',"
                         "'Resource':'" ARN "topic/");
    /* Exactly 2048 characters: valid. */
    while (n < 2048 - 3)
        big[n++] = 'a';
    memcpy(big + n, "'}}", 4);
    CHECK_EQ(strlen(big), 2048);
    CHECK_EQ(val(big, why, sizeof(why)), 0);
    /* 2049: invalid, with AWS's reason. */
    memcpy(big + n, "a'}}", 5);
    INVALID(big, "longer than 2048 characters");
    /* Whitespace does not count: 3000 spaces around a small document. */
    n = 0;
    for (int i = 0; i < 3000; i++)
        big[n++] = ' ';
    n += (size_t)snprintf(big + n, sizeof(big) - n, "%s",
                          "{'Statement' : {'Effect' : 'Allow',\n\t'Action':'*','Resource':'*'}}");
    CHECK_EQ(val(big, why, sizeof(why)), 0);

    /* why may be NULL; a tiny buffer is truncated, not overrun. */
    CHECK_EQ(aws_policy_validate("x", 1, NULL, 0), -EINVAL);
    char tiny[8] = "zzzzzzz";
    CHECK_EQ(aws_policy_validate("x", 1, tiny, 4), -EINVAL);
    CHECK_EQ(strlen(tiny), 3);
    CHECK_EQ(aws_policy_validate(NULL, 0, why, sizeof(why)), -EINVAL);

    /* Empty Condition blocks and an unknown operator are valid documents. */
    CHECK_EQ(val(stmt1("Allow", "'*'", "'*'", "{}"), why, sizeof(why)), 0);
    CHECK_EQ(val(stmt1("Allow", "'*'", "'*'", "{'ArnLike':{'aws:SourceArn':'arn:*'}}"), why,
                 sizeof(why)), 0);
    CHECK_EQ(val(stmt1("Allow", "'*'", "'*'", "{'NumericLessThan':{'x':5}}"), why,
                 sizeof(why)), 0);
}

static void test_compile_skips_invalid(void)
{
    struct aws_policy_ctx c = full_ctx();
    const char *good = J(stmt1("Allow", "'iot:Publish'", "'" ARN "topic/a'", NULL));
    const char *bad_deny = J("{'Statement':{'Effect':'Deny','Action':'*','Resource':'*','X':1}}");
    const char *bad_allow = J("{'Statement':{'Effect':'Allow','Action':'*','Resource':'*'}");
    const char *docs[3] = { bad_allow, good, bad_deny };
    size_t lens[3] = { strlen(bad_allow), strlen(good), strlen(bad_deny) };
    struct aws_policy_set *s = NULL;

    CHECK_EQ(aws_policy_compile(docs, lens, 3, &c, &s), 0);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/a");          /* the bad Deny is not applied */
    DENIED(s, AWS_ACT_PUBLISH, "topic/b");           /* the bad Allow is not applied */
    aws_policy_set_free(s);

    /* Documents need no NUL: lens bound them. */
    const char *two = J("{'Statement':{'Effect':'Allow','Action':'*','Resource':'*'}}GARBAGE");
    size_t tl = strlen(two) - strlen("GARBAGE");
    CHECK_EQ(aws_policy_validate(two, tl, NULL, 0), 0);
    CHECK_EQ(aws_policy_compile(&two, &tl, 1, &c, &s), 0);
    ALLOWED(s, AWS_ACT_PUBLISH, "topic/z");
    aws_policy_set_free(s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_adversarial_glob(void)
{
    struct aws_policy_ctx c = full_ctx();
    static char doc[2100], topic[65536];
    struct aws_policy_set *s;
    size_t n;
    double t0 = now_s();

    /* "*a*a*a...*b" against a long run of 'a': a backtracking matcher takes
     * exponential time here. */
    n = (size_t)snprintf(doc, sizeof(doc),
                         "{'Statement':{'Effect':'Allow','Action':'*','Resource':'" ARN "topic/");
    for (; n < 2040; n++)
        doc[n] = (n % 2) ? '*' : 'a';
    memcpy(doc + n, "b'}}", 5);
    s = pol(doc, &c);
    memcpy(topic, "topic/", 6);
    memset(topic + 6, 'a', sizeof(topic) - 7);
    topic[sizeof(topic) - 1] = '\0';
    for (int i = 0; i < 20; i++)
        DENIED(s, AWS_ACT_PUBLISH, topic);
    topic[sizeof(topic) - 2] = 'b';
    ALLOWED(s, AWS_ACT_PUBLISH, topic);
    aws_policy_set_free(s);

    /* A long literal run between stars, nearly matching everywhere: the
     * worst case (text x run) of the classic matcher, on an 8 KiB text. */
    n = (size_t)snprintf(doc, sizeof(doc),
                         "{'Statement':{'Effect':'Allow','Action':'*','Resource':'" ARN "topic/*");
    while (n < 2030)
        doc[n++] = 'a';
    memcpy(doc + n, "b*'}}", 6);
    s = pol(doc, &c);
    topic[sizeof(topic) - 2] = 'a';
    for (int i = 0; i < 5; i++)
        CHECK_EQ(aws_policy_check(s, AWS_ACT_PUBLISH, topic, 8192), AWS_DENY_IMPLICIT);
    aws_policy_set_free(s);

    /* Generous: a few milliseconds normally, under a sanitizer well below. */
    double dt = now_s() - t0;
    if (dt > 5.0)
        FAIL("adversarial globbing took %.2f s", dt);
}

int main(void)
{
    test_action_names();
    test_allow_deny_default();
    test_deny_wins_across_documents();
    test_star_and_qmark();
    test_mqtt_wildcards_literal();
    test_actions();
    test_client_id_variable();
    test_thing_variables();
    test_certificate_variables();
    test_escapes();
    test_conditions_bool_like();
    test_conditions_sets();
    test_fail_closed();
    test_ip_conditions();
    test_connect_attributes();
    test_validation();
    test_compile_skips_invalid();
    test_adversarial_glob();
    return tu_finish("test_aws_policy");
}
