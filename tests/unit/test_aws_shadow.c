/* AWS Device Shadow documents (registry/aws_shadow*): request validation
 * with AWS's codes and messages, merge rules (nulls, emptied parents,
 * "desired": null, "state": null, arrays), delta rules (nesting, numeric
 * equality, arrays as values), versions and conflicts, the size limit after
 * the merge, depth, clientToken, and the exact shapes of the accepted,
 * documents, delta, get, delete and error documents, compared after
 * parsing. Documents are written with single quotes; J() turns them into
 * JSON. The time is always T. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/aws_shadow.h"
#include "testutil.h"
#include "testutil_json.h"

#define T 1700000000
#define TS "{'timestamp':1700000000}"

#define J tu_json_sq

static struct aws_shadow *fresh(void)
{
    struct aws_shadow *s = NULL;

    tu_check(aws_shadow_new(&s) == 0 && s, __FILE__, __LINE__, "aws_shadow_new");
    return s;
}

static struct aws_shadow_update_out out;
static struct aws_shadow_reject rej;

/* Applies a single-quoted request; leaves the results in out / rej. */
static int upd_opts(struct aws_shadow *s, const char *req, const struct aws_shadow_opts *o)
{
    const char *p = J(req);

    aws_shadow_update_out_clear(&out);
    aws_shadow_reject_clear(&rej);
    return aws_shadow_update(s, p, strlen(p), T, o, &out, &rej);
}

static int upd(struct aws_shadow *s, const char *req)
{
    return upd_opts(s, req, NULL);
}

/* The /get/accepted document of s (empty request), or NULL. */
static char *get_doc(struct aws_shadow *s)
{
    char *doc = NULL;

    aws_shadow_reject_clear(&rej);
    if (aws_shadow_get(s, "", 0, "thing1", T, &doc, &rej) != 0)
        return NULL;
    return doc;
}

#define CHECK_GET(s, want) do { \
        char *g_ = get_doc(s); \
        CHECK_DOC(g_, want); \
        free(g_); \
    } while (0)

/* A refusal: rc, status, message and the error document. */
static void check_rej(int rc, int err, int status, const char *msg, const char *token,
                      const char *file, int line)
{
    char want[512];

    tu_checkf(rc == err, file, line, "rc %d, want %d", rc, err);
    tu_checkf(rej.status == status, file, line, "status %d, want %d", rej.status, status);
    tu_checkf(strcmp(rej.message, msg) == 0, file, line, "message '%s', want '%s'", rej.message,
              msg);
    snprintf(want, sizeof(want), "{'code':%d,'message':'%s','timestamp':1700000000%s%s%s}",
             status, msg, token ? ",'clientToken':'" : "", token ? token : "", token ? "'" : "");
    tu_json_doc_is(rej.doc, want, file, line);
}
#define CHECK_REJ(rc, err, status, msg, token) \
    check_rej((rc), (err), (status), (msg), (token), __FILE__, __LINE__)

#define BAD(s, req, msg) CHECK_REJ(upd((s), (req)), -EBADMSG, 400, msg, NULL)

static void test_names(void)
{
    char n129[130], n65[66];

    CHECK(aws_shadow_thing_name_ok("thing-1:a_b", 11));
    CHECK(!aws_shadow_thing_name_ok("", 0));
    CHECK(!aws_shadow_thing_name_ok("a$b", 3));
    CHECK(!aws_shadow_thing_name_ok("a/b", 3));
    CHECK(!aws_shadow_thing_name_ok("a b", 3));
    CHECK(!aws_shadow_thing_name_ok("a+", 2));
    CHECK(!aws_shadow_thing_name_ok("a#", 2));
    memset(n129, 'a', sizeof(n129));
    CHECK(aws_shadow_thing_name_ok(n129, 128));
    CHECK(!aws_shadow_thing_name_ok(n129, 129));
    CHECK(aws_shadow_name_ok("$config:a_b-1", 13));
    CHECK(!aws_shadow_name_ok("", 0));
    CHECK(!aws_shadow_name_ok("a/b", 3));
    CHECK(!aws_shadow_name_ok("a.b", 3));
    memset(n65, 'z', sizeof(n65));
    CHECK(aws_shadow_name_ok(n65, 64));
    CHECK(!aws_shadow_name_ok(n65, 65));
}

/* The first update creates the shadow: accepted echoes the request with
 * metadata, documents has no previous, delta covers the whole desired. */
static void test_first_update_shapes(void)
{
    struct aws_shadow *s = fresh();

    CHECK(!aws_shadow_exists(s));
    CHECK_EQ(aws_shadow_version(s), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':{'color':'red','power':{'on':true,'lvl':3}}},"
                 "'clientToken':'tok-1'}"), 0);
    CHECK(aws_shadow_exists(s));
    CHECK_EQ(aws_shadow_version(s), 1);
    CHECK_DOC(out.accepted,
              "{'state':{'desired':{'color':'red','power':{'on':true,'lvl':3}}},"
              "'metadata':{'desired':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}}},"
              "'version':1,'timestamp':1700000000,'clientToken':'tok-1'}");
    CHECK_DOC(out.documents,
              "{'current':{'state':{'desired':{'color':'red','power':{'on':true,'lvl':3}}},"
              "'metadata':{'desired':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}}},"
              "'version':1},'timestamp':1700000000,'clientToken':'tok-1'}");
    CHECK_DOC(out.delta,
              "{'state':{'color':'red','power':{'on':true,'lvl':3}},"
              "'metadata':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}},"
              "'version':1,'timestamp':1700000000,'clientToken':'tok-1'}");

    /* Second update, reported, no token: previous appears; the delta left
     * is not published (the request has no desired). */
    CHECK_EQ(upd(s, "{'state':{'reported':{'color':'red','power':{'on':true,'lvl':2}}}}"), 0);
    CHECK_DOC(out.accepted,
              "{'state':{'reported':{'color':'red','power':{'on':true,'lvl':2}}},"
              "'metadata':{'reported':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}}},"
              "'version':2,'timestamp':1700000000}");
    CHECK_DOC(out.documents,
              "{'previous':{'state':{'desired':{'color':'red','power':{'on':true,'lvl':3}}},"
              "'metadata':{'desired':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}}},"
              "'version':1},"
              "'current':{'state':{'desired':{'color':'red','power':{'on':true,'lvl':3}},"
              "'reported':{'color':'red','power':{'on':true,'lvl':2}}},"
              "'metadata':{'desired':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}},"
              "'reported':{'color':" TS ",'power':{'on':" TS ",'lvl':" TS "}}},"
              "'version':2},'timestamp':1700000000}");
    CHECK(out.delta == NULL);

    /* The same with Greengrass's rule publishes the remaining delta. */
    struct aws_shadow_opts gg = { .delta_on_any_update = true };
    CHECK_EQ(upd_opts(s, "{'state':{'reported':{'color':'red'}}}", &gg), 0);
    CHECK_DOC(out.delta, "{'state':{'power':{'lvl':3}},'metadata':{'power':{'lvl':" TS "}},"
              "'version':3,'timestamp':1700000000}");

    /* Desired touched: the delta holds every differing key, not only the
     * requested one. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'mode':'eco'}}}"), 0);
    CHECK_DOC(out.delta, "{'state':{'power':{'lvl':3},'mode':'eco'},"
              "'metadata':{'power':{'lvl':" TS "},'mode':" TS "},"
              "'version':4,'timestamp':1700000000}");
    /* Desired touched but no difference left: no delta. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'power':{'lvl':3},'mode':'eco'}}}"), 0);
    CHECK(out.delta == NULL);
    CHECK_EQ(upd(s, "{'state':{'desired':{'mode':'eco'}}}"), 0);
    CHECK(out.delta == NULL);
    aws_shadow_free(s);
}

static void test_merge_nulls(void)
{
    struct aws_shadow *s = fresh();

    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':{'c':1}},'x':1,'y':{'z':2,'w':3}}}}"), 0);
    /* Removing the only leaf removes its emptied parents. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':{'c':null}},'y':{'z':null},'nope':null}}}"),
             0);
    CHECK_DOC(out.accepted,
              "{'state':{'desired':{'a':{'b':{'c':null}},'y':{'z':null},'nope':null}},"
              "'metadata':{'desired':{'a':{'b':{'c':" TS "}},'y':{'z':" TS "},'nope':" TS "}},"
              "'version':2,'timestamp':1700000000}");
    CHECK_GET(s, "{'state':{'desired':{'x':1,'y':{'w':3}},'delta':{'x':1,'y':{'w':3}}},"
              "'metadata':{'desired':{'x':" TS ",'y':{'w':" TS "}}},"
              "'version':2,'timestamp':1700000000}");
    /* Emptying the section removes it. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'x':null,'y':null}}}"), 0);
    CHECK_GET(s, "{'state':{},'metadata':{},'version':3,'timestamp':1700000000}");
    /* A new object made only of nulls adds nothing; {} adds nothing. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'n':{'m':null},'e':{},'k':{'j':{}}}}}"), 0);
    CHECK_GET(s, "{'state':{},'metadata':{},'version':4,'timestamp':1700000000}");
    /* An object replaces a scalar, a scalar replaces an object. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'a':1,'b':{'c':1}}}}"), 0);
    CHECK_EQ(upd(s, "{'state':{'reported':{'a':{'x':true},'b':'s'}}}"), 0);
    CHECK_GET(s, "{'state':{'reported':{'a':{'x':true},'b':'s'}},"
              "'metadata':{'reported':{'a':{'x':" TS "},'b':" TS "}},"
              "'version':6,'timestamp':1700000000}");
    /* Only the touched leaves get the new timestamp. */
    const char *p = J("{'state':{'reported':{'a':{'y':2}}}}");
    aws_shadow_update_out_clear(&out);
    CHECK_EQ(aws_shadow_update(s, p, strlen(p), T + 5, NULL, &out, &rej), 0);
    CHECK_GET(s, "{'state':{'reported':{'a':{'x':true,'y':2},'b':'s'}},"
              "'metadata':{'reported':{'a':{'x':" TS ",'y':{'timestamp':1700000005}},'b':" TS "}},"
              "'version':7,'timestamp':1700000000}");
    aws_shadow_update_out_clear(&out);
    aws_shadow_free(s);
}

static void test_section_and_state_null(void)
{
    struct aws_shadow *s = fresh();

    CHECK_EQ(upd(s, "{'state':{'desired':{'a':1},'reported':{'a':2}}}"), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':null,'reported':{'b':1}}}"), 0);
    CHECK_DOC(out.accepted, "{'state':{'desired':null,'reported':{'b':1}},"
              "'metadata':{'desired':" TS ",'reported':{'b':" TS "}},"
              "'version':2,'timestamp':1700000000}");
    CHECK_GET(s, "{'state':{'reported':{'a':2,'b':1}},'metadata':{'reported':{'a':" TS ",'b':" TS
              "}},'version':2,'timestamp':1700000000}");
    /* state: null clears both, keeps the shadow and counts a version. */
    CHECK_EQ(upd(s, "{'state':null,'clientToken':'c'}"), 0);
    CHECK_DOC(out.accepted, "{'state':null,'version':3,'timestamp':1700000000,'clientToken':'c'}");
    CHECK_DOC(out.documents,
              "{'previous':{'state':{'reported':{'a':2,'b':1}},"
              "'metadata':{'reported':{'a':" TS ",'b':" TS "}},'version':2},"
              "'current':{'state':{},'metadata':{},'version':3},"
              "'timestamp':1700000000,'clientToken':'c'}");
    CHECK(out.delta == NULL);
    CHECK(aws_shadow_exists(s));
    CHECK_GET(s, "{'state':{},'metadata':{},'version':3,'timestamp':1700000000}");
    CHECK_EQ(upd(s, "{'state':{}}"), 0);
    CHECK_EQ(aws_shadow_version(s), 4);
    aws_shadow_free(s);
}

static void test_arrays(void)
{
    struct aws_shadow *s = fresh();

    CHECK_EQ(upd(s, "{'state':{'desired':{'colors':['RED','GREEN','BLUE'],'o':[{'a':1},[2]]}}}"),
             0);
    CHECK_DOC(out.accepted, "{'state':{'desired':{'colors':['RED','GREEN','BLUE'],"
              "'o':[{'a':1},[2]]}},'metadata':{'desired':{'colors':[" TS "," TS "," TS "],"
              "'o':[{'a':" TS "},[" TS "]]}},'version':1,'timestamp':1700000000}");
    /* Replaced wholesale, never merged. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'colors':['RED'],'o':[]}}}"), 0);
    CHECK_GET(s, "{'state':{'desired':{'colors':['RED'],'o':[]},'delta':{'colors':['RED'],"
              "'o':[]}},'metadata':{'desired':{'colors':[" TS "],'o':[]}},"
              "'version':2,'timestamp':1700000000}");
    /* Arrays compare as whole values in the delta. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'colors':['RED'],'o':[1]}}}"), 0);
    CHECK_GET(s, "{'state':{'desired':{'colors':['RED'],'o':[]},'reported':{'colors':['RED'],"
              "'o':[1]},'delta':{'o':[]}},'metadata':{'desired':{'colors':[" TS "],'o':[]},"
              "'reported':{'colors':[" TS "],'o':[" TS "]}},'version':3,'timestamp':1700000000}");
    /* Nulls in arrays are refused, at any depth; the state is unchanged. */
    BAD(s, "{'state':{'desired':{'colors':[null,'RED']}}}", "Invalid JSON");
    BAD(s, "{'state':{'reported':{'o':[{'a':null}]}}}", "Invalid JSON");
    BAD(s, "{'state':{'reported':{'o':[[1,[null]]]}}}", "Invalid JSON");
    CHECK_EQ(aws_shadow_version(s), 3);
    aws_shadow_free(s);
}

static void test_delta_rules(void)
{
    struct aws_shadow *s = fresh();

    CHECK_EQ(upd(s, "{'state':{'reported':{'color':{'r':10,'g':4},'list':[1,2],'extra':1,"
                 "'t':1.0,'u':2,'big':9007199254740993,'s':'1'}}}"), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':{'color':{'r':10,'g':5},'on':true,'list':[1,2.0],"
                 "'t':1,'u':2.5,'big':9007199254740992.0,'s':1,'deep':{'a':{'b':1}}}}}"), 0);
    /* Keys only in reported never appear; numbers compare by value (1 and
     * 1.0 are equal, also inside arrays); a string is not a number. */
    CHECK_DOC(out.delta, "{'state':{'color':{'g':5},'on':true,'u':2.5,"
              "'big':9007199254740992.0,'s':1,'deep':{'a':{'b':1}}},"
              "'metadata':{'color':{'g':" TS "},'on':" TS ",'u':" TS ",'big':" TS ",'s':" TS ","
              "'deep':{'a':{'b':" TS "}}},'version':2,'timestamp':1700000000}");
    /* A key deleted from reported but still desired is included; a nested
     * object that matches is left out. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'list':null,'color':{'g':5},'on':true,'u':2.5,"
                 "'big':9007199254740992,'s':1,'deep':{'a':{'b':1,'c':2}}}}}"), 0);
    CHECK_GET(s, "{'state':{'desired':{'color':{'r':10,'g':5},'on':true,'list':[1,2.0],"
              "'t':1,'u':2.5,'big':9007199254740992.0,'s':1,'deep':{'a':{'b':1}}},"
              "'reported':{'color':{'r':10,'g':5},'extra':1,'t':1.0,'u':2.5,"
              "'big':9007199254740992,'s':1,'on':true,'deep':{'a':{'b':1,'c':2}}},"
              "'delta':{'list':[1,2.0]}},"
              "'metadata':{'desired':{'color':{'r':" TS ",'g':" TS "},'on':" TS ",'list':[" TS
              "," TS "],'t':" TS ",'u':" TS ",'big':" TS ",'s':" TS ",'deep':{'a':{'b':" TS "}}},"
              "'reported':{'color':{'r':" TS ",'g':" TS "},'extra':" TS ",'t':" TS ",'u':" TS
              ",'big':" TS ",'s':" TS ",'on':" TS ",'deep':{'a':{'b':" TS ",'c':" TS "}}}},"
              "'version':3,'timestamp':1700000000}");
    /* Desired object vs reported scalar: the whole desired object. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'list':null,'extra':{'k':1}}}}"), 0);
    CHECK_DOC(out.delta, "{'state':{'extra':{'k':1}},'metadata':{'extra':{'k':" TS "}},"
              "'version':4,'timestamp':1700000000}");
    aws_shadow_free(s);
}

static void test_versions(void)
{
    struct aws_shadow *s = fresh();

    /* A shadow that never existed is at version 0. */
    CHECK_REJ(upd(s, "{'state':{'desired':{'a':1}},'version':1,'clientToken':'v'}"), -ESTALE,
              409, "Version conflict", "v");
    CHECK(!aws_shadow_exists(s));
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':1}},'version':0}"), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':2}}}"), 0);
    CHECK_EQ(aws_shadow_version(s), 2);
    CHECK_REJ(upd(s, "{'state':{'desired':{'a':3}},'version':1}"), -ESTALE, 409,
              "Version conflict", NULL);
    CHECK_REJ(upd(s, "{'state':{'desired':{'a':3}},'version':3}"), -ESTALE, 409,
              "Version conflict", NULL);
    CHECK_EQ(aws_shadow_version(s), 2);
    CHECK_GET(s, "{'state':{'desired':{'a':2},'delta':{'a':2}},'metadata':{'desired':{'a':" TS
              "}},'version':2,'timestamp':1700000000}");
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':3}},'version':2}"), 0);
    CHECK_EQ(aws_shadow_version(s), 3);
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':4}},'version':null}"), 0);
    CHECK_EQ(aws_shadow_version(s), 4);
    BAD(s, "{'state':{},'version':'4'}", "Invalid version");
    BAD(s, "{'state':{},'version':-1}", "Invalid version");
    BAD(s, "{'state':{},'version':4.0}", "Invalid version");
    BAD(s, "{'state':{},'version':true}", "Invalid version");
    CHECK_EQ(aws_shadow_version(s), 4);
    aws_shadow_free(s);
}

/* {'state':{'desired':{'k':'xx..x'}}} whose desired+reported is n bytes
 * compact: {"desired":{"k":""}} is 20 bytes. */
static const char *sized_request(size_t n, const char *section)
{
    static char req[16384];
    size_t fixed = strlen("{'desired':{'k':''}}") - strlen("desired") + strlen(section);
    int off = snprintf(req, sizeof(req), "{'state':{'%s':{'k':'", section);

    memset(req + off, 'x', n - fixed);
    snprintf(req + off + (n - fixed), sizeof(req) - off - (n - fixed), "'}}}");
    return req;
}

static void test_size_limit(void)
{
    struct aws_shadow *s = fresh();

    CHECK_EQ(upd(s, sized_request(8192, "desired")), 0);
    aws_shadow_free(s);
    s = fresh();
    CHECK_REJ(upd(s, sized_request(8193, "desired")), -EMSGSIZE, 413,
              "The payload exceeds the maximum size allowed", NULL);
    CHECK(!aws_shadow_exists(s));
    /* desired and reported count together. */
    CHECK_EQ(upd(s, sized_request(8185, "desired")), 0);
    /* ,"reported":{"a":1} adds 19 bytes. */
    CHECK_REJ(upd(s, "{'state':{'reported':{'a':1}},'clientToken':'big'}"), -EMSGSIZE, 413,
              "The payload exceeds the maximum size allowed", "big");
    CHECK_EQ(aws_shadow_version(s), 1);
    aws_shadow_free(s);

    /* A small limit: a small request that makes the merged state too big
     * is refused; against an oversized state (stored under a larger limit)
     * the check is on the result, so a shrinking update passes only once
     * the result fits. */
    struct aws_shadow_opts small = { .max_state_bytes = 64 };
    s = fresh();
    CHECK_EQ(upd_opts(s, "{'state':{'desired':{'a':'0123456789','b':'0123456789'}}}", &small), 0);
    /* 47 bytes; "c" adds 20. */
    CHECK_REJ(upd_opts(s, "{'state':{'desired':{'c':'0123456789012'}}}", &small), -EMSGSIZE, 413,
              "The payload exceeds the maximum size allowed", NULL);
    CHECK_EQ(aws_shadow_version(s), 1);
    /* Grow under the default limit, then shrink under the small one. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'r':'0123456789012345678901234567890123456789'}}}"), 0);
    CHECK_REJ(upd_opts(s, "{'state':{'desired':{'a':null}}}", &small), -EMSGSIZE, 413,
              "The payload exceeds the maximum size allowed", NULL);
    CHECK_EQ(upd_opts(s, "{'state':{'reported':null}}", &small), 0);
    CHECK_EQ(aws_shadow_version(s), 3);
    /* Metadata does not count: many short keys fit although their
     * metadata is several times larger. */
    CHECK_EQ(upd_opts(s, "{'state':{'desired':null,'reported':{'a':1,'b':2,'c':3,'d':4,"
                      "'e':5,'f':6,'g':7}}}", &small), 0);
    aws_shadow_free(s);
}

static void test_depth(void)
{
    struct aws_shadow *s = fresh();

    /* Six levels counting desired itself. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':{'c':{'d':{'e':{'f':1}}}}}}}}"), 0);
    BAD(s, "{'state':{'desired':{'a':{'b':{'c':{'d':{'e':{'f':{'g':1}}}}}}}}}",
        "JSON contains too many levels of nesting; maximum is 6");
    CHECK_EQ(upd(s, "{'state':{'reported':{'a':{'b':{'c':{'d':{'e':{'f':1}}}}}}}}"), 0);
    BAD(s, "{'state':{'reported':{'a':{'b':{'c':{'d':{'e':{'f':{'g':1}}}}}}}}}",
        "JSON contains too many levels of nesting; maximum is 6");
    /* Arrays count as levels. */
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':{'c':{'d':[1]}}}}}}"), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':{'c':{'d':{'e':[1]}}}}}}}"), 0);
    BAD(s, "{'state':{'desired':{'a':{'b':{'c':{'d':{'e':[[1]]}}}}}}}",
        "JSON contains too many levels of nesting; maximum is 6");
    BAD(s, "{'state':{'desired':{'a':{'b':{'c':{'d':{'e':{'f':{'g':null}}}}}}}}}",
        "JSON contains too many levels of nesting; maximum is 6");
    CHECK_EQ(aws_shadow_version(s), 4);
    aws_shadow_free(s);
}

static void test_client_token(void)
{
    struct aws_shadow *s = fresh();
    char req[256];
    const char *t64 = "0123456789012345678901234567890123456789012345678901234567890123";

    snprintf(req, sizeof(req), "{'state':{'desired':{'a':1}},'clientToken':'%s'}", t64);
    CHECK_EQ(upd(s, req), 0);
    snprintf(req, sizeof(req), "{'state':{'desired':{'a':1}},'clientToken':'%sX'}", t64);
    BAD(s, req, "Invalid clientToken");
    BAD(s, "{'state':{},'clientToken':5}", "Invalid clientToken");
    BAD(s, "{'state':{},'clientToken':null}", "Invalid clientToken");
    /* Bytes, not characters: 32 two-byte characters are 64 bytes. */
    char e64[65], utf[160];
    for (int i = 0; i < 32; i++)
        memcpy(e64 + 2 * i, "\xc3\xa9", 2);
    e64[64] = '\0';
    snprintf(utf, sizeof(utf), "{'state':{},'clientToken':'%s'}", e64);
    CHECK_EQ(upd(s, utf), 0);
    snprintf(utf, sizeof(utf), "{'state':{},'clientToken':'%sx'}", e64);
    BAD(s, utf, "Invalid clientToken");
    /* The token is echoed in errors found after it. */
    CHECK_REJ(upd(s, "{'clientToken':'ct'}"), -EBADMSG, 400, "Missing required node: state", "ct");
    CHECK_EQ(aws_shadow_version(s), 2);
    aws_shadow_free(s);
}

static void test_invalid_requests(void)
{
    struct aws_shadow *s = fresh();

    BAD(s, "", "Invalid JSON");
    BAD(s, "{", "Invalid JSON");
    BAD(s, "[]", "Invalid JSON");
    BAD(s, "'state'", "Invalid JSON");
    BAD(s, "{'state':{}} x", "Invalid JSON");
    BAD(s, "{}", "Missing required node: state");
    BAD(s, "{'desired':{'a':1}}", "Missing required node: state");
    BAD(s, "{'state':'on'}", "State node must be an object");
    BAD(s, "{'state':[]}", "State node must be an object");
    BAD(s, "{'state':{'desired':5}}", "Desired node must be an object");
    BAD(s, "{'state':{'desired':[1]}}", "Desired node must be an object");
    BAD(s, "{'state':{'reported':'x'}}", "Reported node must be an object");
    BAD(s, "{'state':{'reported':true}}", "Reported node must be an object");
    BAD(s, "{'state':{'delta':{'a':1}}}", "State contains an invalid node");
    BAD(s, "{'state':{'desired':{'a':1},'delta':null}}", "State contains an invalid node");
    BAD(s, "{'state':{'foo':1}}", "State contains an invalid node");
    CHECK(!aws_shadow_exists(s));
    CHECK_EQ(aws_shadow_version(s), 0);
    /* Not UTF-8: 415. */
    const char bad_utf8[] = "{\"state\":{\"desired\":{\"a\":\"\xff\"}}}";
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_update(s, bad_utf8, sizeof(bad_utf8) - 1, T, NULL, &out, &rej), -EBADMSG);
    CHECK_EQ(rej.status, 415);
    CHECK_STR(rej.message, "Unsupported documented encoding; supported encoding is UTF-8");
    /* Unknown top-level keys are ignored. */
    CHECK_EQ(upd(s, "{'state':{'reported':{'a':1}},'metadata':{'x':1},'timestamp':5}"), 0);
    aws_shadow_free(s);
}

static void test_get(void)
{
    struct aws_shadow *s = fresh();
    char *doc = NULL;
    const char *p;

    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_get(s, "", 0, "thing1", T, &doc, &rej), -ENOENT);
    CHECK_EQ(rej.status, 404);
    CHECK_STR(rej.message, "No shadow exists with name: 'thing1'");
    CHECK_DOC(rej.doc, "{'code':404,'message':'No shadow exists with name: \\u0027thing1\\u0027',"
              "'timestamp':1700000000}");
    CHECK(doc == NULL);
    p = J("{'clientToken':'g1'}");
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_get(s, p, strlen(p), "named", T, &doc, &rej), -ENOENT);
    CHECK_DOC(rej.doc, "{'code':404,'message':'No shadow exists with name: \\u0027named\\u0027',"
              "'timestamp':1700000000,'clientToken':'g1'}");

    CHECK_EQ(upd(s, "{'state':{'desired':{'a':1},'reported':{'a':1,'b':2}}}"), 0);
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_get(s, p, strlen(p), "thing1", T, &doc, &rej), 0);
    /* No delta key when desired and reported agree. */
    CHECK_DOC(doc, "{'state':{'desired':{'a':1},'reported':{'a':1,'b':2}},"
              "'metadata':{'desired':{'a':" TS "},'reported':{'a':" TS ",'b':" TS "}},"
              "'version':1,'timestamp':1700000000,'clientToken':'g1'}");
    free(doc);
    doc = NULL;
    CHECK_EQ(aws_shadow_get(s, " \n", 2, "thing1", T, &doc, &rej), 0);
    free(doc);
    doc = NULL;
    p = J("{'clientToken':'g2','other':1}");
    CHECK_EQ(aws_shadow_get(s, p, strlen(p), "thing1", T, &doc, &rej), 0);
    free(doc);
    doc = NULL;
    aws_shadow_reject_clear(&rej);
    CHECK_REJ(aws_shadow_get(s, "nope", 4, "thing1", T, &doc, &rej), -EBADMSG, 400,
              "Invalid JSON", NULL);
    aws_shadow_reject_clear(&rej);
    p = J("{'clientToken':'0123456789012345678901234567890123456789012345678901234567890123X'}");
    CHECK_REJ(aws_shadow_get(s, p, strlen(p), "thing1", T, &doc, &rej), -EBADMSG, 400,
              "Invalid clientToken", NULL);
    CHECK(doc == NULL);
    aws_shadow_reject_clear(&rej);
    aws_shadow_free(s);
}

static void test_delete(void)
{
    struct aws_shadow *s = fresh();
    char *doc = NULL;
    const char *p = J("{'clientToken':'d1'}");

    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_delete(s, p, strlen(p), "thing1", T, &doc, &rej), -ENOENT);
    CHECK_DOC(rej.doc, "{'code':404,'message':'No shadow exists with name: \\u0027thing1\\u0027',"
              "'timestamp':1700000000,'clientToken':'d1'}");
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':1}}}"), 0);
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':2}}}"), 0);
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_delete(s, p, strlen(p), "thing1", T, &doc, &rej), 0);
    CHECK_DOC(doc, "{'version':2,'timestamp':1700000000,'clientToken':'d1'}");
    free(doc);
    doc = NULL;
    CHECK(!aws_shadow_exists(s));
    CHECK_EQ(aws_shadow_version(s), 2);
    CHECK(get_doc(s) == NULL);
    CHECK_EQ(rej.status, 404);
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_delete(s, "", 0, "thing1", T, &doc, &rej), -ENOENT);
    aws_shadow_reject_clear(&rej);
    /* Recreating continues the numbering; the version check sees 2. */
    CHECK_REJ(upd(s, "{'state':{'reported':{'b':1}},'version':0}"), -ESTALE, 409,
              "Version conflict", NULL);
    CHECK_EQ(upd(s, "{'state':{'reported':{'b':1}},'version':2}"), 0);
    CHECK_DOC(out.documents, "{'current':{'state':{'reported':{'b':1}},'metadata':{'reported':"
              "{'b':" TS "}},'version':3},'timestamp':1700000000}");
    CHECK_GET(s, "{'state':{'reported':{'b':1}},'metadata':{'reported':{'b':" TS "}},"
              "'version':3,'timestamp':1700000000}");
    /* Delete ignores content it cannot use: no token echoed. */
    CHECK_EQ(aws_shadow_delete(s, "garbage", 7, "thing1", T, &doc, &rej), 0);
    CHECK_DOC(doc, "{'version':3,'timestamp':1700000000}");
    free(doc);
    aws_shadow_free(s);
}

static void test_stored_form(void)
{
    struct aws_shadow *s = fresh(), *t = NULL;
    char *a = NULL, *b = NULL, *doc = NULL;
    size_t alen = 0, blen = 0;

    CHECK_EQ(aws_shadow_dump(s, &a, &alen), 0);
    CHECK_DOC(a, "{'version':0,'exists':false,'state':{},'metadata':{}}");
    free(a);
    CHECK_EQ(upd(s, "{'state':{'desired':{'a':{'b':[1,{'c':'x'}]},'n':1.5},'reported':{'a':1}}}"),
             0);
    CHECK_EQ(aws_shadow_dump(s, &a, &alen), 0);
    CHECK_EQ(strlen(a), alen);
    CHECK_EQ(aws_shadow_load(a, alen, &t), 0);
    if (t) {
        CHECK(aws_shadow_exists(t));
        CHECK_EQ(aws_shadow_version(t), 1);
        CHECK_EQ(aws_shadow_dump(t, &b, &blen), 0);
        CHECK_STR(b, a);
        doc = get_doc(t);
        char *d2 = get_doc(s);
        CHECK_STR(doc, d2);
        free(doc);
        free(d2);
        /* The loaded copy keeps working. */
        CHECK_EQ(upd(t, "{'state':{'desired':{'a':null}},'version':1}"), 0);
        CHECK_GET(t, "{'state':{'desired':{'n':1.5},'reported':{'a':1},'delta':{'n':1.5}},"
                  "'metadata':{'desired':{'n':" TS "},'reported':{'a':" TS "}},"
                  "'version':2,'timestamp':1700000000}");
    }
    free(a);
    free(b);
    aws_shadow_free(t);
    t = NULL;
    /* A deleted shadow keeps its version in the stored form. */
    aws_shadow_reject_clear(&rej);
    CHECK_EQ(aws_shadow_delete(s, "", 0, "x", T, &doc, &rej), 0);
    free(doc);
    CHECK_EQ(aws_shadow_dump(s, &a, &alen), 0);
    CHECK_DOC(a, "{'version':1,'exists':false,'state':{},'metadata':{}}");
    CHECK_EQ(aws_shadow_load(a, alen, &t), 0);
    CHECK_EQ(aws_shadow_version(t), 1);
    CHECK(!aws_shadow_exists(t));
    free(a);
    aws_shadow_free(t);
    aws_shadow_free(s);

    static const char *const bad[] = {
        "", "[]", "{'version':1,'exists':true,'state':{}}",
        "{'version':-1,'exists':true,'state':{},'metadata':{}}",
        "{'version':1,'exists':1,'state':{},'metadata':{}}",
        "{'version':1,'exists':true,'state':{'delta':{}},'metadata':{}}",
        "{'version':1,'exists':true,'state':{'desired':{'a':1}},'metadata':{}}",
        "{'version':1,'exists':true,'state':{'desired':{'a':1}},'metadata':{'desired':{'a':1}}}",
        "{'version':1,'exists':true,'state':{'desired':{'a':null}},'metadata':{'desired':{'a':"
        TS "}}}",
        "{'version':1,'exists':true,'state':{'desired':{'a':[1]}},'metadata':{'desired':{'a':"
        TS "}}}",
        "{'version':1,'exists':true,'state':{'desired':{}},'metadata':{'desired':{}}}",
        "{'version':1,'exists':false,'state':{'desired':{'a':1}},'metadata':{'desired':{'a':"
        TS "}}}",
        "{'version':1,'version':2,'exists':true,'state':{},'metadata':{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *p = J(bad[i]);
        t = NULL;
        if (!CHECK_EQ(aws_shadow_load(p, strlen(p), &t), -EBADMSG))
            fprintf(stderr, "  stored form %zu: %s\n", i, p);
        CHECK(t == NULL);
    }
}

static void test_error_doc(void)
{
    char *doc = NULL;

    CHECK_EQ(aws_shadow_error_doc(500, "Internal service failure", "x", T, &doc), 0);
    CHECK_DOC(doc, "{'code':500,'message':'Internal service failure','timestamp':1700000000,"
              "'clientToken':'x'}");
    free(doc);
    CHECK_EQ(aws_shadow_error_doc(429, "Too Many Requests", NULL, T, &doc), 0);
    CHECK_DOC(doc, "{'code':429,'message':'Too Many Requests','timestamp':1700000000}");
    free(doc);
}

int main(void)
{
    test_names();
    test_first_update_shapes();
    test_merge_nulls();
    test_section_and_state_null();
    test_arrays();
    test_delta_rules();
    test_versions();
    test_size_limit();
    test_depth();
    test_client_token();
    test_invalid_requests();
    test_get();
    test_delete();
    test_stored_form();
    test_error_doc();
    aws_shadow_update_out_clear(&out);
    aws_shadow_reject_clear(&rej);
    return tu_finish("aws_shadow");
}
