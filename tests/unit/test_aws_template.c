/* AWS provisioning templates (registry/aws_template*): the developer
 * guide's examples (fleet provisioning with SerialNumber and
 * AWS::IoT::Certificate::Id, JITP with the certificate's CommonName and an
 * inline PolicyDocument string, bulk registration with a Default), every
 * intrinsic function and condition function, Defaults and missing
 * parameters, resources skipped by their condition, the plan's fields and
 * OverrideSettings, invalid templates (JSON, shape, size, depth, resource
 * types and counts, function arity, undeclared names, circular
 * conditions), the output budget, the message buffer, and that a failed run
 * leaves the plan cleared. Templates are written with single quotes; J()
 * turns them into JSON. The suite also runs under ASan, which checks for
 * leaks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/aws_template.h"
#include "testutil.h"
#include "testutil_json.h"

#define J tu_json_sq

static struct aws_template_plan plan;
static char err[512];

#define P(n, v) { (n), (v) }
#define NP(a) (sizeof(a) / sizeof((a)[0]))

/* Runs the single-quoted template; leaves the plan in plan, the message in err. */
static int run_n(const char *sq, const struct aws_template_param *p, size_t n)
{
    const char *body = J(sq);

    aws_template_plan_clear(&plan);
    return aws_template_run(body, strlen(body), p, n, &plan, err, sizeof(err));
}
#define RUN(sq, params) run_n((sq), (params), NP(params))
#define RUN0(sq) run_n((sq), NULL, 0)

static int check_sq(const char *sq)
{
    const char *body = J(sq);

    return aws_template_check(body, strlen(body), err, sizeof(err));
}

static bool plan_is_zero(const struct aws_template_plan *p)
{
    static const struct aws_template_plan zero;

    return memcmp(p, &zero, sizeof(zero)) == 0;
}

/* A template that check and run both refuse with -EINVAL and a message
 * holding want; the plan stays cleared. */
static void invalid(const char *sq, const char *want, const char *file, int line)
{
    int rc = check_sq(sq);

    tu_checkf(rc == -EINVAL, file, line, "check rc %d, want -EINVAL (%s)", rc, sq);
    tu_checkf(strstr(err, want) != NULL, file, line, "check message '%s', want '%s'", err, want);
    rc = RUN0(sq);
    tu_checkf(rc == -EINVAL, file, line, "run rc %d, want -EINVAL", rc);
    tu_checkf(strstr(err, want) != NULL, file, line, "run message '%s', want '%s'", err, want);
    tu_checkf(plan_is_zero(&plan), file, line, "plan not cleared after a failed run");
}
#define INVALID(sq, want) invalid((sq), (want), __FILE__, __LINE__)

/* A run failing with rc and a message holding want. */
static void run_fails(int got, int rc, const char *want, const char *file, int line)
{
    tu_checkf(got == rc, file, line, "run rc %d, want %d (%s)", got, rc, err);
    tu_checkf(strstr(err, want) != NULL, file, line, "message '%s', want '%s'", err, want);
    tu_checkf(plan_is_zero(&plan), file, line, "plan not cleared after a failed run");
}
#define RUN_FAILS(got, rc, want) run_fails((got), (rc), (want), __FILE__, __LINE__)

/* A template whose thing name is the value of expr (JSON, single quotes),
 * with parameters A="a,b,c" and N="1" and a Default D="dflt". */
static const char *value_tpl(const char *expr)
{
    static char b[4096];

    snprintf(b, sizeof(b),
             "{'Parameters':{'A':{'Type':'String'},'N':{'Type':'String'},"
             "'D':{'Type':'String','Default':'dflt'}},"
             "'Mappings':{'M':{'k1':{'k2':'found','l':['x','y']}}},"
             "'Conditions':{'IsA':{'Fn::Equals':[{'Ref':'N'},'1']},"
             "'NotA':{'Fn::Not':[{'Condition':'IsA'}]}},"
             "'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':%s}}}}",
             expr);
    return b;
}

static const struct aws_template_param vparams[] = {
    P("A", "a,b,c"), P("N", "1"),
};

/* The thing name expr resolves to, or NULL (message in err). */
static const char *value_of(const char *expr)
{
    return RUN(value_tpl(expr), vparams) == 0 ? plan.thing_name : NULL;
}
#define CHECK_VALUE(expr, want) CHECK_STR(value_of(expr), want)

/* The developer guide's fleet provisioning example (provision-template.md),
 * with its slips mended: the Fn::Join names the thing (it sat on
 * ThingTypeName), SerialNumber is declared, one brace less. The
 * certificate id is referenced without a declaration, as there. */
static const char fleet_tpl[] =
    "{'Parameters':{'SerialNumber':{'Type':'String'},'DeviceLocation':{'Type':'String'}},"
    " 'Mappings':{'LocationTable':{'Seattle':{'LocationUrl':'https://example.aws'}}},"
    " 'Resources':{"
    "  'thing':{'Type':'AWS::IoT::Thing',"
    "   'Properties':{'AttributePayload':{'version':'v1','serialNumber':'serialNumber'},"
    "    'ThingName':{'Fn::Join':['',['ThingPrefix_',{'Ref':'SerialNumber'}]]},"
    "    'ThingTypeName':'lightBulb-versionA',"
    "    'ThingGroups':['v1-lightbulbs','WA'],"
    "    'BillingGroup':'LightBulbBillingGroup'},"
    "   'OverrideSettings':{'AttributePayload':'MERGE','ThingTypeName':'REPLACE',"
    "    'ThingGroups':'DO_NOTHING'}},"
    "  'certificate':{'Type':'AWS::IoT::Certificate',"
    "   'Properties':{'CertificateId':{'Ref':'AWS::IoT::Certificate::Id'},'Status':'Active'}},"
    "  'policy':{'Type':'AWS::IoT::Policy',"
    "   'Properties':{'PolicyDocument':{'Version':'2012-10-17','Statement':[{'Effect':'Allow',"
    "    'Action':['iot:Publish'],"
    "    'Resource':['arn:aws:iot:us-east-1:123456789012:topic/foo/bar']}]}}}},"
    " 'DeviceConfiguration':{'FallbackUrl':'https://www.example.com/test-site',"
    "  'LocationUrl':{'Fn::FindInMap':['LocationTable',{'Ref':'DeviceLocation'},'LocationUrl']}}}";

static void test_fleet_example(void)
{
    const struct aws_template_param params[] = {
        P("SerialNumber", "1234"), P("DeviceLocation", "Seattle"),
        P("AWS::IoT::Certificate::Id", "c0ffee"), P("Unused", "ignored"),
    };
    const struct aws_template_param no_id[] = {
        P("SerialNumber", "1234"), P("DeviceLocation", "Seattle"),
    };
    const struct aws_template_param elsewhere[] = {
        P("SerialNumber", "1234"), P("DeviceLocation", "Portland"),
        P("AWS::IoT::Certificate::Id", "c0ffee"),
    };

    CHECK_EQ(check_sq(fleet_tpl), 0);
    CHECK_STR(err, "");
    if (!CHECK_EQ(RUN(fleet_tpl, params), 0))
        return;
    CHECK_STR(err, "");
    CHECK(plan.has_thing);
    CHECK_STR(plan.thing_name, "ThingPrefix_1234");
    CHECK_STR(plan.thing_type, "lightBulb-versionA");
    CHECK_DOC(plan.attributes_json, "{'version':'v1','serialNumber':'serialNumber'}");
    CHECK_STR(plan.attributes_json, J("{'version':'v1','serialNumber':'serialNumber'}"));
    if (CHECK_EQ(plan.n_thing_groups, 2)) {
        CHECK_STR(plan.thing_groups[0], "v1-lightbulbs");
        CHECK_STR(plan.thing_groups[1], "WA");
    }
    CHECK_STR(plan.billing_group, "LightBulbBillingGroup");
    CHECK_EQ(plan.override_attributes, AWS_TEMPLATE_MERGE);
    CHECK_EQ(plan.override_thing_type, AWS_TEMPLATE_REPLACE);
    CHECK_EQ(plan.override_thing_groups, AWS_TEMPLATE_DO_NOTHING);
    CHECK(plan.has_certificate);
    CHECK_STR(plan.certificate_id, "c0ffee");
    CHECK_STR(plan.certificate_status, "ACTIVE");
    CHECK_EQ(plan.override_certificate_status, AWS_TEMPLATE_OVERRIDE_NONE);
    if (CHECK_EQ(plan.n_policies, 1)) {
        CHECK(plan.policies[0].name == NULL);
        CHECK_STR(plan.policies[0].document,
                  J("{'Version':'2012-10-17','Statement':[{'Effect':'Allow','Action':"
                    "['iot:Publish'],'Resource':['arn:aws:iot:us-east-1:123456789012:topic/foo/"
                    "bar']}]}"));
    }
    CHECK_STR(plan.device_configuration,
              J("{'FallbackUrl':'https://www.example.com/test-site',"
                "'LocationUrl':'https://example.aws'}"));

    /* The certificate id is needed once used, declared or not. */
    RUN_FAILS(RUN(fleet_tpl, no_id), -ENOENT, "AWS::IoT::Certificate::Id");
    /* A location the map does not know. */
    RUN_FAILS(RUN(fleet_tpl, elsewhere), -EINVAL, "Portland");
}

/* jit-provisioning.md's template, as the templateBody string it gives
 * (CRLF line ends, the policy document as an escaped string). */
static const char jitp_tpl[] =
    "{\r\n    \"Parameters\" : {\r\n"
    "        \"AWS::IoT::Certificate::CommonName\": {\r\n            \"Type\": \"String\"\r\n        },\r\n"
    "        \"AWS::IoT::Certificate::SerialNumber\": {\r\n            \"Type\": \"String\"\r\n        },\r\n"
    "        \"AWS::IoT::Certificate::Country\": {\r\n            \"Type\": \"String\"\r\n        },\r\n"
    "        \"AWS::IoT::Certificate::Id\": {\r\n            \"Type\": \"String\"\r\n        }\r\n    },\r\n"
    "    \"Resources\": {\r\n"
    "        \"thing\": {\r\n            \"Type\": \"AWS::IoT::Thing\",\r\n            \"Properties\": {\r\n"
    "                \"ThingName\": {\r\n                    \"Ref\": \"AWS::IoT::Certificate::CommonName\"\r\n                },\r\n"
    "                \"AttributePayload\": {\r\n                    \"version\": \"v1\",\r\n"
    "                    \"serialNumber\": {\r\n                        \"Ref\": \"AWS::IoT::Certificate::SerialNumber\"\r\n                    }\r\n                },\r\n"
    "                \"ThingTypeName\": \"lightBulb-versionA\",\r\n"
    "                \"ThingGroups\": [\r\n                    \"v1-lightbulbs\",\r\n"
    "                    {\r\n                        \"Ref\": \"AWS::IoT::Certificate::Country\"\r\n                    }\r\n                ]\r\n            },\r\n"
    "            \"OverrideSettings\": {\r\n                \"AttributePayload\": \"MERGE\",\r\n"
    "                \"ThingTypeName\": \"REPLACE\",\r\n                \"ThingGroups\": \"DO_NOTHING\"\r\n            }\r\n        },\r\n"
    "        \"certificate\": {\r\n            \"Type\": \"AWS::IoT::Certificate\",\r\n            \"Properties\": {\r\n"
    "                \"CertificateId\": {\r\n                    \"Ref\": \"AWS::IoT::Certificate::Id\"\r\n                },\r\n"
    "                \"Status\": \"ACTIVE\"\r\n            },\r\n"
    "            \"OverrideSettings\": {\r\n                \"Status\": \"DO_NOTHING\"\r\n            }\r\n        },\r\n"
    "        \"policy\": {\r\n            \"Type\": \"AWS::IoT::Policy\",\r\n            \"Properties\": {\r\n"
    "                \"PolicyDocument\": \"{ \\\"Version\\\": \\\"2012-10-17\\\", \\\"Statement\\\": [{ "
    "\\\"Effect\\\": \\\"Allow\\\", \\\"Action\\\":[\\\"iot:Publish\\\"], \\\"Resource\\\": "
    "[\\\"arn:aws:iot:us-east-1:123456789012:topic\\/foo\\/bar\\\"] }] }\"\r\n"
    "            }\r\n        }\r\n    }\r\n}";

static int run_raw(const char *body, const struct aws_template_param *p, size_t n)
{
    aws_template_plan_clear(&plan);
    return aws_template_run(body, strlen(body), p, n, &plan, err, sizeof(err));
}

static void test_jitp_example(void)
{
    const struct aws_template_param cert[] = {
        P("AWS::IoT::Certificate::CommonName", "lamp-0042"),
        P("AWS::IoT::Certificate::SerialNumber", "4c2a"),
        P("AWS::IoT::Certificate::Country", "US"),
        P("AWS::IoT::Certificate::Organization", "Example"),
        P("AWS::IoT::Certificate::Id", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    };
    const struct aws_template_param no_country[] = {
        P("AWS::IoT::Certificate::CommonName", "lamp-0042"),
        P("AWS::IoT::Certificate::SerialNumber", "4c2a"),
        P("AWS::IoT::Certificate::Id", "9f86"),
    };

    CHECK_EQ(aws_template_check(jitp_tpl, strlen(jitp_tpl), err, sizeof(err)), 0);
    if (!CHECK_EQ(run_raw(jitp_tpl, cert, NP(cert)), 0))
        return;
    CHECK_STR(plan.thing_name, "lamp-0042");
    CHECK_STR(plan.thing_type, "lightBulb-versionA");
    CHECK_DOC(plan.attributes_json, "{'version':'v1','serialNumber':'4c2a'}");
    if (CHECK_EQ(plan.n_thing_groups, 2)) {
        CHECK_STR(plan.thing_groups[0], "v1-lightbulbs");
        CHECK_STR(plan.thing_groups[1], "US");
    }
    CHECK(plan.billing_group == NULL);
    CHECK_EQ(plan.override_attributes, AWS_TEMPLATE_MERGE);
    CHECK_EQ(plan.override_thing_type, AWS_TEMPLATE_REPLACE);
    CHECK_EQ(plan.override_thing_groups, AWS_TEMPLATE_DO_NOTHING);
    CHECK_STR(plan.certificate_id,
              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    CHECK_STR(plan.certificate_status, "ACTIVE");
    CHECK_EQ(plan.override_certificate_status, AWS_TEMPLATE_DO_NOTHING);
    /* An inline document given as a string is passed on as written. */
    if (CHECK_EQ(plan.n_policies, 1)) {
        CHECK(plan.policies[0].name == NULL);
        CHECK_STR(plan.policies[0].document,
                  "{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", "
                  "\"Action\":[\"iot:Publish\"], \"Resource\": "
                  "[\"arn:aws:iot:us-east-1:123456789012:topic/foo/bar\"] }] }");
    }
    CHECK_STR(plan.device_configuration, "{}");

    /* jit-provisioning.md: the certificate must hold every declared field. */
    RUN_FAILS(run_raw(jitp_tpl, no_country, NP(no_country)), -ENOENT,
              "AWS::IoT::Certificate::Country");
}

/* The bulk registration example with a CertificateId, a ThingName added,
 * and its Location Default. */
static const char bulk_tpl[] =
    "{'Parameters':{'ThingName':{'Type':'String'},'SerialNumber':{'Type':'String'},"
    "  'Location':{'Type':'String','Default':'WA'},'CertificateId':{'Type':'String'}},"
    " 'Resources':{"
    "  'thing':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':{'Ref':'ThingName'},"
    "   'AttributePayload':{'version':'v1','serialNumber':{'Ref':'SerialNumber'}},"
    "   'ThingTypeName':'lightBulb-versionA',"
    "   'ThingGroups':['v1-lightbulbs',{'Ref':'Location'}]}},"
    "  'certificate':{'Type':'AWS::IoT::Certificate',"
    "   'Properties':{'CertificateId':{'Ref':'CertificateId'}}},"
    "  'policy':{'Type':'AWS::IoT::Policy','Properties':{'PolicyName':'MyIotPolicy'}}}}";

static void test_defaults_and_missing(void)
{
    const struct aws_template_param all[] = {
        P("ThingName", "bulb1"), P("SerialNumber", "s1"), P("CertificateId", "abc"),
    };
    const struct aws_template_param located[] = {
        P("ThingName", "bulb1"), P("SerialNumber", "s1"), P("CertificateId", "abc"),
        P("Location", "OR"), P("Location", "second"),
    };
    const struct aws_template_param no_serial[] = {
        P("ThingName", "bulb1"), P("CertificateId", "abc"), P("SerialNumber", NULL),
    };

    if (CHECK_EQ(RUN(bulk_tpl, all), 0) && CHECK_EQ(plan.n_thing_groups, 2)) {
        CHECK_STR(plan.thing_groups[1], "WA");
        CHECK_STR(plan.certificate_id, "abc");
        CHECK(plan.certificate_status == NULL);
        CHECK_EQ(plan.override_attributes, AWS_TEMPLATE_OVERRIDE_NONE);
        if (CHECK_EQ(plan.n_policies, 1)) {
            CHECK_STR(plan.policies[0].name, "MyIotPolicy");
            CHECK(plan.policies[0].document == NULL);
        }
    }
    /* A supplied value beats the Default; the first of two counts. */
    if (CHECK_EQ(RUN(bulk_tpl, located), 0) && CHECK_EQ(plan.n_thing_groups, 2))
        CHECK_STR(plan.thing_groups[1], "OR");
    /* A declared parameter without a value, used or not (a NULL value is
     * no value). */
    RUN_FAILS(RUN(bulk_tpl, no_serial), -ENOENT, "SerialNumber");
    RUN_FAILS(RUN0("{'Parameters':{'Unused':{'Type':'String'}},'Resources':{}}"), -ENOENT,
              "Unused");
    CHECK_EQ(RUN0("{'Parameters':{'Unused':{'Type':'String','Default':''}},'Resources':{}}"), 0);
    CHECK(!plan.has_thing && !plan.has_certificate && plan.n_policies == 0);
    CHECK_STR(plan.device_configuration, "{}");
}

static void test_functions(void)
{
    /* Ref and Default. */
    CHECK_VALUE("{'Ref':'A'}", "a,b,c");
    CHECK_VALUE("{'Ref':'D'}", "dflt");
    CHECK_VALUE("'literal'", "literal");
    /* Fn::Join: empty delimiter, nested functions, numbers as text. */
    CHECK_VALUE("{'Fn::Join':['-',['x',{'Ref':'N'},'y']]}", "x-1-y");
    CHECK_VALUE("{'Fn::Join':['',[]]}", "");
    CHECK_VALUE("{'Fn::Join':['+',[1,true,2.5]]}", "1+true+2.5");
    CHECK_VALUE("{'Fn::Join':['/',{'Fn::Split':[',',{'Ref':'A'}]}]}", "a/b/c");
    /* Fn::Select: a number or a digit string, from a literal or a split. */
    CHECK_VALUE("{'Fn::Select':[1,['p','q','r']]}", "q");
    CHECK_VALUE("{'Fn::Select':['2',{'Fn::Split':[',',{'Ref':'A'}]}]}", "c");
    CHECK_VALUE("{'Fn::Select':[{'Ref':'N'},['p','q']]}", "q");
    CHECK_VALUE("{'Fn::Select':[0,{'Fn::FindInMap':['M','k1','l']}]}", "x");
    CHECK(value_of("{'Fn::Select':[3,['p','q','r']]}") == NULL);
    CHECK(strstr(err, "out of range") != NULL);
    CHECK(value_of("{'Fn::Select':[0,[null]]}") == NULL);
    CHECK(strstr(err, "null") != NULL);
    CHECK(value_of("{'Fn::Select':[{'Ref':'A'},['p']]}") == NULL);
    CHECK(value_of("{'Fn::Select':[0,{'Ref':'A'}]}") == NULL);
    CHECK(strstr(err, "list") != NULL);
    /* Fn::Split keeps empty pieces. */
    CHECK_VALUE("{'Fn::Join':['|',{'Fn::Split':[',','a,,b,']}]}", "a||b|");
    CHECK_VALUE("{'Fn::Join':['|',{'Fn::Split':['::','x::y']}]}", "x|y");
    CHECK_VALUE("{'Fn::Join':['|',{'Fn::Split':[',','']}]}", "");
    /* Fn::Sub: parameters, its own variables first, ${!x}, an unclosed ${. */
    CHECK_VALUE("{'Fn::Sub':'dev-${A}-${D}'}", "dev-a,b,c-dflt");
    CHECK_VALUE("{'Fn::Sub':['${A}:${v}',{'A':'own','v':{'Fn::Join':['.',['1','2']]}}]}",
                "own:1.2");
    CHECK_VALUE("{'Fn::Sub':'${!A} and ${A'}", "${A} and ${A");
    CHECK_VALUE("{'Fn::Sub':'$A {A} $'}", "$A {A} $");
    CHECK_VALUE("{'Fn::Sub':''}", "");
    /* Fn::FindInMap with keys from functions. */
    CHECK_VALUE("{'Fn::FindInMap':['M',{'Fn::Sub':'k${N}'},'k2']}", "found");
    CHECK(value_of("{'Fn::FindInMap':['M','k1',{'Ref':'A'}]}") == NULL);
    CHECK(strstr(err, "Fn::FindInMap") != NULL);
    CHECK(value_of("{'Fn::FindInMap':['M','k1','l']}") == NULL);    /* a list, not a name */
    /* Fn::If on declared conditions. */
    CHECK_VALUE("{'Fn::If':['IsA','yes','no']}", "yes");
    CHECK_VALUE("{'Fn::If':['NotA','yes',{'Ref':'D'}]}", "dflt");
    /* Fn::Base64. */
    CHECK_VALUE("{'Fn::Base64':'hello'}", "aGVsbG8=");
    CHECK_VALUE("{'Fn::Base64':{'Ref':'N'}}", "MQ==");
    CHECK_VALUE("{'Fn::Base64':''}", "");
    /* Values that are not text. */
    CHECK(value_of("{'Fn::Split':[',','a']}") == NULL);
    CHECK(strstr(err, "ThingName must resolve to a string") != NULL);
    CHECK(value_of("{'Fn::If':['IsA',null,'x']}") == NULL);
    CHECK_VALUE("{'Fn::If':['IsA',7,'x']}", "7");
}

/* Conditions: Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition references,
 * and resources skipped when theirs is false. */
static const char cond_tpl[] =
    "{'Parameters':{'Env':{'Type':'String'},'Kind':{'Type':'String','Default':'lamp'}},"
    " 'Conditions':{"
    "  'Prod':{'Fn::Equals':[{'Ref':'Env'},'prod']},"
    "  'Lamp':{'Fn::Equals':['lamp',{'Ref':'Kind'}]},"
    "  'ProdLamp':{'Fn::And':[{'Condition':'Prod'},{'Condition':'Lamp'}]},"
    "  'Either':{'Fn::Or':[{'Condition':'Prod'},{'Fn::Equals':[{'Ref':'Env'},'stage']},"
    "   {'Condition':'Lamp'}]},"
    "  'Dev':{'Fn::Not':[{'Condition':'Prod'}]},"
    "  'NumEq':{'Fn::Equals':[1,'1']}},"
    " 'Resources':{"
    "  'thing':{'Type':'AWS::IoT::Thing','Condition':'Either',"
    "   'Properties':{'ThingName':{'Fn::If':['ProdLamp','prod-lamp',"
    "    {'Fn::If':['Dev','dev-thing','other']}]}}},"
    "  'prodpolicy':{'Type':'AWS::IoT::Policy','Condition':'Prod',"
    "   'Properties':{'PolicyName':'prod'}},"
    "  'devpolicy':{'Type':'AWS::IoT::Policy','Condition':'Dev',"
    "   'Properties':{'PolicyName':'dev'}},"
    "  'always':{'Type':'AWS::IoT::Policy','Condition':'NumEq',"
    "   'Properties':{'PolicyName':'always'}}},"
    " 'DeviceConfiguration':{'env':{'Fn::If':['Prod','p','d']},'nested':{'n':[1,{'Ref':'Kind'}]}}}";

static void test_conditions(void)
{
    const struct aws_template_param prod[] = { P("Env", "prod") };
    const struct aws_template_param dev_other[] = { P("Env", "dev"), P("Kind", "fan") };
    const struct aws_template_param dev_lamp[] = { P("Env", "dev") };

    CHECK_EQ(check_sq(cond_tpl), 0);
    if (CHECK_EQ(RUN(cond_tpl, prod), 0)) {
        CHECK(plan.has_thing);
        CHECK_STR(plan.thing_name, "prod-lamp");
        if (CHECK_EQ(plan.n_policies, 2)) {
            CHECK_STR(plan.policies[0].name, "prod");
            CHECK_STR(plan.policies[1].name, "always");
        }
        CHECK_DOC(plan.device_configuration, "{'env':'p','nested':{'n':[1,'lamp']}}");
    }
    /* Either is false: the thing is skipped entirely. */
    if (CHECK_EQ(RUN(cond_tpl, dev_other), 0)) {
        CHECK(!plan.has_thing && plan.thing_name == NULL);
        if (CHECK_EQ(plan.n_policies, 2)) {
            CHECK_STR(plan.policies[0].name, "dev");
            CHECK_STR(plan.policies[1].name, "always");
        }
    }
    if (CHECK_EQ(RUN(cond_tpl, dev_lamp), 0)) {
        CHECK(plan.has_thing);
        CHECK_STR(plan.thing_name, "dev-thing");
    }
    /* A condition is evaluated once however often it is used. */
    CHECK_EQ(RUN0("{'Conditions':{'C0':{'Fn::Equals':['a','a']},"
                  "'C1':{'Fn::And':[{'Condition':'C0'},{'Condition':'C0'}]},"
                  "'C2':{'Fn::And':[{'Condition':'C1'},{'Condition':'C1'}]},"
                  "'C3':{'Fn::And':[{'Condition':'C2'},{'Condition':'C2'}]}},"
                  "'Resources':{'p':{'Type':'AWS::IoT::Policy','Condition':'C3',"
                  "'Properties':{'PolicyName':'x'}}}}"), 0);
    CHECK_EQ(plan.n_policies, 1);
}

static void test_plan_details(void)
{
    const struct aws_template_param p[] = { P("S", "inactive"), P("Id", "cid") };

    /* Empty AttributePayload and ThingGroups; numbers and booleans as text;
     * a status in any case; the guide's OverrideSettings spelling. */
    if (CHECK_EQ(RUN("{'Parameters':{'S':{'Type':'String'},'Id':{'Type':'String'}},"
                     "'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'n',"
                     "'AttributePayload':{},'ThingGroups':[]},"
                     "'OverrideSettings':{'ATTRIBUTE_PAYLOAD':'REPLACE','THING_GROUPS':'MERGE',"
                     "'THING_TYPE_NAME':'FAIL'}},"
                     "'c':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':"
                     "{'Ref':'Id'},'Status':{'Ref':'S'}},'OverrideSettings':{'Status':'REPLACE'}}}}",
                     p), 0)) {
        CHECK_STR(plan.attributes_json, "{}");
        CHECK_EQ(plan.n_thing_groups, 0);
        CHECK(plan.thing_groups == NULL && plan.thing_type == NULL);
        CHECK_EQ(plan.override_attributes, AWS_TEMPLATE_REPLACE);
        CHECK_EQ(plan.override_thing_groups, AWS_TEMPLATE_MERGE);
        CHECK_EQ(plan.override_thing_type, AWS_TEMPLATE_FAIL);
        CHECK_STR(plan.certificate_status, "INACTIVE");
        CHECK_EQ(plan.override_certificate_status, AWS_TEMPLATE_REPLACE);
    }
    if (CHECK_EQ(RUN0("{'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'n',"
                      "'AttributePayload':{'n':7,'f':1.5,'b':false,'s':{'Fn::Sub':'x'}}}}}}"), 0))
        CHECK_STR(plan.attributes_json, J("{'n':'7','f':'1.5','b':'false','s':'x'}"));
    /* An attribute payload from a function must still be an object. */
    RUN_FAILS(RUN0("{'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'n',"
                   "'AttributePayload':{'Fn::Join':['',['a']]}}}}}"), -EINVAL, "AttributePayload");
    /* A status that a parameter makes invalid. */
    const struct aws_template_param bad[] = { P("S", "REVOKED"), P("Id", "cid") };
    RUN_FAILS(RUN("{'Parameters':{'S':{'Type':'String'},'Id':{'Type':'String'}},"
                  "'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{"
                  "'CertificateId':{'Ref':'Id'},'Status':{'Ref':'S'}}}}}", bad),
              -EINVAL, "Status");
    /* A CSR certificate is a valid template, but not one this engine runs. */
    CHECK_EQ(check_sq("{'Parameters':{'CSR':{'Type':'String'}},'Resources':{'c':{'Type':"
                      "'AWS::IoT::Certificate','Properties':{'CertificateSigningRequest':"
                      "{'Ref':'CSR'},'Status':'ACTIVE'}}}}"), 0);
    const struct aws_template_param csr[] = { P("CSR", "-----BEGIN CERTIFICATE REQUEST-----") };
    RUN_FAILS(RUN("{'Parameters':{'CSR':{'Type':'String'}},'Resources':{'c':{'Type':"
                  "'AWS::IoT::Certificate','Properties':{'CertificateSigningRequest':"
                  "{'Ref':'CSR'}}}}}", csr), -EINVAL, "CertificateId");
    /* Policies in document order; a document built with functions. */
    const struct aws_template_param tn[] = { P("T", "dev/1") };
    if (CHECK_EQ(RUN("{'Parameters':{'T':{'Type':'String'}},'Resources':{"
                     "'p2':{'Type':'AWS::IoT::Policy','Properties':{'PolicyName':'second'}},"
                     "'p1':{'Type':'AWS::IoT::Policy','Properties':{'PolicyDocument':{"
                     "'Statement':[{'Effect':'Allow','Action':'iot:Publish','Resource':"
                     "{'Fn::Sub':'arn:aws:iot:*:*:topic/${T}'}}]}}},"
                     "'p0':{'Type':'AWS::IoT::Policy','Properties':{'PolicyName':{'Ref':'T'}}}}}",
                     tn), 0) &&
        CHECK_EQ(plan.n_policies, 3)) {
        CHECK_STR(plan.policies[0].name, "second");
        CHECK_STR(plan.policies[1].document,
                  J("{'Statement':[{'Effect':'Allow','Action':'iot:Publish','Resource':"
                    "'arn:aws:iot:*:*:topic/dev/1'}]}"));
        CHECK_STR(plan.policies[2].name, "dev/1");
    }
    /* Unknown top-level sections are ignored. */
    CHECK_EQ(check_sq("{'Version':'2018-11-30','Description':'x','Resources':{}}"), 0);
    /* Parameter values must be UTF-8. */
    const struct aws_template_param latin1[] = { P("T", "caf\xe9") };
    RUN_FAILS(RUN("{'Parameters':{'T':{'Type':'String'}},'Resources':{}}", latin1), -EINVAL,
              "UTF-8");
    /* A plan already cleared clears again; NULL is fine. */
    aws_template_plan_clear(&plan);
    aws_template_plan_clear(&plan);
    CHECK(plan_is_zero(&plan));
    aws_template_plan_clear(NULL);
}

/* {"Resources":{},"DeviceConfiguration":{"a":[[...]]}} with n lists. */
static void deep_body(char *b, size_t cap, int n)
{
    size_t o = (size_t)snprintf(b, cap, "{\"Resources\":{},\"DeviceConfiguration\":{\"a\":");

    for (int i = 0; i < n && o + 4 < cap; i++)
        b[o++] = '[';
    for (int i = 0; i < n && o + 4 < cap; i++)
        b[o++] = ']';
    snprintf(b + o, cap - o, "}}");
}

static void test_invalid(void)
{
    char big[AWS_TEMPLATE_MAX_BODY + 2];
    char deep[2200];

    /* Not JSON, not an object, no Resources, wrong section types. */
    INVALID("{'Resources':{}", "not valid JSON");
    INVALID("", "not valid JSON");
    INVALID("{'Resources':{},'Resources':{}}", "not valid JSON");
    INVALID("['Resources']", "must be a JSON object");
    INVALID("'Resources'", "must be a JSON object");
    INVALID("{}", "Resources section is missing");
    INVALID("{'Resources':[]}", "Resources must be an object");
    INVALID("{'Resources':{},'Parameters':[]}", "Parameters must be an object");
    INVALID("{'Resources':{},'DeviceConfiguration':'x'}", "DeviceConfiguration must be an object");
    INVALID("{'Resources':{},'DeviceConfiguration':{'Ref':'x'}}", "DeviceConfiguration");
    /* Too large: AWS's 10240 characters. */
    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"Resources\":{}}", 16);
    CHECK_EQ(aws_template_check(big, AWS_TEMPLATE_MAX_BODY, err, sizeof(err)), 0);
    CHECK_EQ(aws_template_check(big, AWS_TEMPLATE_MAX_BODY + 1, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "10240") != NULL);
    CHECK_EQ(aws_template_run(big, AWS_TEMPLATE_MAX_BODY + 1, NULL, 0, &plan, err, sizeof(err)),
             -EINVAL);
    /* Too deep: 32 levels pass, 33 do not (the body, DeviceConfiguration,
     * then nested lists). */
    deep_body(deep, sizeof(deep), 30);
    CHECK_EQ(aws_template_check(deep, strlen(deep), err, sizeof(err)), 0);
    deep_body(deep, sizeof(deep), 31);
    CHECK_EQ(aws_template_check(deep, strlen(deep), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "deeper than 32") != NULL);
    /* jansson's own limit is far deeper; ours answers first. */
    deep_body(deep, sizeof(deep), 1000);
    CHECK_EQ(aws_template_check(deep, strlen(deep), err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "deeper than 32") != NULL);

    /* Resources: type, count, keys, properties. */
    INVALID("{'Resources':{'b':{'Type':'AWS::S3::Bucket'}}}", "unsupported type");
    INVALID("{'Resources':{'b':{'Properties':{}}}}", "has no Type");
    INVALID("{'Resources':{'b':'AWS::IoT::Thing'}}", "must be an object");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a'}},"
            "'b':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'b'}}}}",
            "only one thing");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'a'}},"
            "'b':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'b'}}}}",
            "only one certificate");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{}}}}", "ThingName");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing'}}}", "ThingName");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':['a']}}}}",
            "ThingName");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a',"
            "'Color':'red'}}}}", "not a property");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a'},"
            "'DependsOn':'b'}}}", "unknown key");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a',"
            "'AttributePayload':{'x':['l']}}}}}", "attribute values");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a',"
            "'ThingGroups':'g'}}}}", "ThingGroups");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a',"
            "'ThingGroups':[['g']]}}}}", "ThingGroups");
    INVALID("{'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{}}}}",
            "exactly one of");
    INVALID("{'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'a',"
            "'CertificatePem':'b'}}}}", "exactly one of");
    INVALID("{'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'a',"
            "'Status':'REVOKED'}}}}", "ACTIVE or INACTIVE");
    INVALID("{'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'a',"
            "'CACertificatePem':'ca'}}}}", "CACertificatePem");
    INVALID("{'Resources':{'p':{'Type':'AWS::IoT::Policy','Properties':{}}}}",
            "Invalid registration template. Neither policyName nor policyDocument is present "
            "in the Template.");
    INVALID("{'Resources':{'p':{'Type':'AWS::IoT::Policy','Properties':{'PolicyName':'a',"
            "'PolicyDocument':'{}'}}}}", "Both policyName and policyDocument");
    INVALID("{'Resources':{'p':{'Type':'AWS::IoT::Policy','Properties':{'PolicyDocument':[]}}}}",
            "PolicyDocument");
    /* OverrideSettings. */
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a'},"
            "'OverrideSettings':{'ThingTypeName':'MERGE'}}}}", "invalid OverrideSettings value");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a'},"
            "'OverrideSettings':{'ThingName':'REPLACE'}}}}", "cannot name");
    INVALID("{'Resources':{'a':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':'a'},"
            "'OverrideSettings':{'ThingGroups':'MERGE','THING_GROUPS':'MERGE'}}}}", "twice");
    INVALID("{'Resources':{'c':{'Type':'AWS::IoT::Certificate','Properties':{'CertificateId':'a'},"
            "'OverrideSettings':{'Status':'MERGE'}}}}", "invalid OverrideSettings value");
    INVALID("{'Resources':{'p':{'Type':'AWS::IoT::Policy','Properties':{'PolicyName':'a'},"
            "'OverrideSettings':{}}}}", "not available for policy");
    /* Parameters and Mappings. */
    INVALID("{'Parameters':{'P':{'Type':'Number'}},'Resources':{}}", "Type String");
    INVALID("{'Parameters':{'P':{}},'Resources':{}}", "Type String");
    INVALID("{'Parameters':{'P':'String'},'Resources':{}}", "must be an object");
    INVALID("{'Parameters':{'P':{'Type':'String','Default':1}},'Resources':{}}", "Default");
    INVALID("{'Parameters':{'':{'Type':'String'}},'Resources':{}}", "empty name");
    INVALID("{'Mappings':{'M':{'k':'v'}},'Resources':{}}", "Mappings");
    INVALID("{'Mappings':{'M':{'k':{'k2':{'Ref':'P'}}}},'Resources':{}}", "Mappings");
}

/* An invalid value in a thing name: the template of value_tpl. */
#define INVALID_VALUE(expr, want) INVALID(value_tpl(expr), want)

static void test_invalid_functions(void)
{
    INVALID_VALUE("{'Ref':'Nope'}", "not a declared parameter");
    INVALID_VALUE("{'Ref':'AWS::Region'}", "not a declared parameter");
    INVALID_VALUE("{'Ref':['A']}", "Ref takes");
    INVALID_VALUE("{'Fn::GetAtt':['t','Arn']}", "unsupported intrinsic function");
    INVALID_VALUE("{'Fn::Join':['-',['a'],'extra']}", "Fn::Join takes");
    INVALID_VALUE("{'Fn::Join':['-','a']}", "Fn::Join takes");
    INVALID_VALUE("{'Fn::Join':[1,['a']]}", "Fn::Join takes");
    INVALID_VALUE("{'Fn::Join':['-',[{'Ref':'Nope'}]]}", "not a declared parameter");
    INVALID_VALUE("{'Fn::Select':[0]}", "Fn::Select takes");
    INVALID_VALUE("{'Fn::Select':[-1,['a']]}", "Fn::Select takes");
    INVALID_VALUE("{'Fn::Select':['x',['a']]}", "Fn::Select takes");
    INVALID_VALUE("{'Fn::Split':['','a']}", "Fn::Split takes");
    INVALID_VALUE("{'Fn::Split':[',']}", "Fn::Split takes");
    INVALID_VALUE("{'Fn::Sub':['${x}']}", "Fn::Sub takes");
    INVALID_VALUE("{'Fn::Sub':1}", "Fn::Sub takes");
    INVALID_VALUE("{'Fn::Sub':'${Nope}'}", "not a declared parameter");
    INVALID_VALUE("{'Fn::Sub':'${}'}", "empty ${}");
    INVALID_VALUE("{'Fn::Sub':'${t.Arn}'}", "attributes");
    INVALID_VALUE("{'Fn::Sub':['${v}',{'v':{'Ref':'Nope'}}]}", "not a declared parameter");
    INVALID_VALUE("{'Fn::FindInMap':['M','k1']}", "Fn::FindInMap takes");
    INVALID_VALUE("{'Fn::FindInMap':['Nope','k1','k2']}", "not in the Mappings");
    INVALID_VALUE("{'Fn::FindInMap':['M','k9','k2']}", "not in the mapping");
    INVALID_VALUE("{'Fn::FindInMap':['M','k1',['k2']]}", "Fn::FindInMap takes");
    INVALID_VALUE("{'Fn::If':['Nope','a','b']}", "not a declared condition");
    INVALID_VALUE("{'Fn::If':['IsA','a']}", "Fn::If takes");
    INVALID_VALUE("{'Fn::If':['IsA','a',{'Ref':'Nope'}]}", "not a declared parameter");
    INVALID_VALUE("{'Fn::Base64':['a']}", "Fn::Base64 takes");
    INVALID_VALUE("{'Fn::Equals':['a','a']}", "only be used in Conditions");
    INVALID_VALUE("{'Fn::Not':[{'Condition':'IsA'}]}", "only be used in Conditions");
    INVALID_VALUE("{'Ref':'A','Other':1}", "only key of its object");

    /* Conditions. */
    INVALID("{'Conditions':{'C':{'Fn::Equals':['a']}},'Resources':{}}", "Fn::Equals takes");
    INVALID("{'Conditions':{'C':{'Fn::And':[{'Fn::Equals':['a','a']}]}},'Resources':{}}",
            "2 to 10");
    INVALID("{'Conditions':{'C':{'Fn::Or':[{'Condition':'C'},{'Condition':'C'},"
            "{'Condition':'C'},{'Condition':'C'},{'Condition':'C'},{'Condition':'C'},"
            "{'Condition':'C'},{'Condition':'C'},{'Condition':'C'},{'Condition':'C'},"
            "{'Condition':'C'}]}},'Resources':{}}", "2 to 10");
    INVALID("{'Conditions':{'C':{'Fn::Not':[{'Condition':'C'}]}},'Resources':{}}",
            "depends on itself");
    INVALID("{'Conditions':{'A':{'Condition':'B'},'B':{'Fn::Not':[{'Condition':'A'}]}},"
            "'Resources':{}}", "depends on itself");
    INVALID("{'Conditions':{'A':{'Condition':'Nope'}},'Resources':{}}", "not declared");
    INVALID("{'Conditions':{'A':'true'},'Resources':{}}", "a condition is one of");
    INVALID("{'Conditions':{'A':{'Fn::Equals':['a','a'],'Fn::Not':[]}},'Resources':{}}",
            "a condition is one of");
    INVALID("{'Conditions':{'A':{'Fn::If':['A','a','b']}},'Resources':{}}",
            "a condition is one of");
    INVALID("{'Conditions':{'A':{'Fn::Equals':[{'Fn::If':['A','a','b']},'a']}},"
            "'Resources':{}}", "Fn::If cannot be used in Conditions");
    INVALID("{'Resources':{'p':{'Type':'AWS::IoT::Policy','Condition':'Nope',"
            "'Properties':{'PolicyName':'a'}}}}", "not a declared condition");
}

/* Nested Fn::Sub variables multiply text: the budget stops them. */
static void test_budget(void)
{
    char tpl[4096];
    const char *x16 = "${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}${x}";
    size_t n;

    /* A 64-byte seed repeated 16 times per level, five levels: 64 MiB. */
    n = (size_t)snprintf(tpl, sizeof(tpl),
                         "{'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':"
                         "{'Fn::Sub':['%s',{'x':{'Fn::Sub':['%s',{'x':{'Fn::Sub':['%s',{'x':"
                         "{'Fn::Sub':['%s',{'x':{'Fn::Sub':['%s',{'x':'"
                         "0123456789012345678901234567890123456789012345678901234567890123'}]}"
                         "}]}}]}}]}}]}}}}}",
                         x16, x16, x16, x16, x16);
    CHECK(n < sizeof(tpl));
    CHECK_EQ(check_sq(tpl), 0);
    RUN_FAILS(RUN0(tpl), -EINVAL, "more than");
    /* Three levels (256 KiB) pass. */
    n = (size_t)snprintf(tpl, sizeof(tpl),
                         "{'Resources':{'t':{'Type':'AWS::IoT::Thing','Properties':{'ThingName':"
                         "{'Fn::Sub':['%s',{'x':{'Fn::Sub':['%s',{'x':{'Fn::Sub':['%s',{'x':'"
                         "0123456789012345678901234567890123456789012345678901234567890123'}]}"
                         "}]}}]}}}}}", x16, x16, x16);
    if (CHECK_EQ(RUN0(tpl), 0))
        CHECK_EQ(strlen(plan.thing_name), 64 * 16 * 16 * 16);
    /* Fn::Base64 grows text by a third per level: 24 levels over a 1 KiB
     * Fn::Sub, within the depth limit, pass 1 MiB. */
    n = (size_t)snprintf(tpl, sizeof(tpl), "{'Resources':{'t':{'Type':'AWS::IoT::Thing',"
                         "'Properties':{'ThingName':");
    for (int i = 0; i < 24; i++)
        n += (size_t)snprintf(tpl + n, sizeof(tpl) - n, "{'Fn::Base64':");
    n += (size_t)snprintf(tpl + n, sizeof(tpl) - n, "{'Fn::Sub':['%s',{'x':'"
                          "0123456789012345678901234567890123456789012345678901234567890123'}]}",
                          x16);
    for (int i = 0; i < 24; i++)
        tpl[n++] = '}';
    snprintf(tpl + n, sizeof(tpl) - n, "}}}}");
    CHECK_EQ(check_sq(tpl), 0);
    RUN_FAILS(RUN0(tpl), -EINVAL, "more than");
}

/* The message buffer: always terminated, cut to valid UTF-8. */
static void test_messages(void)
{
    const char *body = J("{'Resources':{'b':{'Type':'AWS::S3::\xc3\xa9\xc3\xa9\xc3\xa9'}}}");
    char small[1], tiny[48];
    json_t *s;

    small[0] = 'x';
    CHECK_EQ(aws_template_check(body, strlen(body), small, sizeof(small)), -EINVAL);
    CHECK_EQ(small[0], '\0');
    for (size_t cap = 2; cap <= sizeof(tiny); cap++) {
        memset(tiny, 'x', sizeof(tiny));
        CHECK_EQ(aws_template_check(body, strlen(body), tiny, cap), -EINVAL);
        CHECK(strlen(tiny) < cap);
        s = json_string(tiny);          /* NULL when not valid UTF-8 */
        tu_checkf(s != NULL, __FILE__, __LINE__, "cap %zu: message not UTF-8", cap);
        json_decref(s);
    }
    /* Long and control-laden names are quoted short and clean. */
    CHECK_EQ(check_sq("{'Resources':{'b':{'Type':'AWS::S3::Bucket\\u0001"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}}}"),
             -EINVAL);
    CHECK(strstr(err, "'AWS::S3::Bucket?xxx") != NULL);
    CHECK(strstr(err, "...'") != NULL);
    CHECK(strlen(err) < 200);
    /* Success leaves the message empty. */
    strcpy(err, "stale");
    CHECK_EQ(check_sq("{'Resources':{}}"), 0);
    CHECK_STR(err, "");
}

int main(void)
{
    test_fleet_example();
    test_jitp_example();
    test_defaults_and_missing();
    test_functions();
    test_conditions();
    test_plan_details();
    test_invalid();
    test_invalid_functions();
    test_budget();
    test_messages();
    aws_template_plan_clear(&plan);
    return tu_finish("aws_template");
}
