/* Unit tests of registry/reg_aws_shadow (Device Shadow requests over a real
 * SQLite store in a fresh directory) and of the store's shadow rows
 * (db_aws_shadow_*): the request topic parser; what is published, in what
 * order and on which topic, for MQTT and REST requests, accepted and
 * rejected; persistence and versions across a reopen; the 48-hour reset of
 * a deleted shadow; named-shadow listing; a failed store write publishing
 * nothing. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/db_aws.h"
#include "registry/reg_aws_shadow.h"
#include "testutil.h"

static char tmpdir[256];

static void cleanup(void) { tu_tmpdir_cleanup(tmpdir); }

#define S(s) (const uint8_t *)(s), strlen(s)

/* ---- the topic parser ---- */

static void test_topic(void)
{
    char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
    enum reg_shadow_op op;

    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/update"), thing, shadow, &op), 0);
    CHECK_STR(thing, "lamp");
    CHECK_STR(shadow, "");
    CHECK_EQ(op, REG_SHADOW_UPDATE);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/name/net/get"), thing, shadow, &op), 0);
    CHECK_STR(shadow, "net");
    CHECK_EQ(op, REG_SHADOW_GET);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/l/shadow/delete"), thing, shadow, &op), 0);
    CHECK_EQ(op, REG_SHADOW_DELETE);
    /* Responses and anything else are not requests. */
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/update/accepted"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/name/n/update/delta"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/patch"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/jobs/get"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("aws/things/lamp/shadow/get"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/lamp/shadow/nam/x/get"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things//shadow/get"), thing, shadow, &op), -ENOENT);
    CHECK_EQ(reg_aws_shadow_topic(S("$aws/things/l/shadow/name//get"), thing, shadow, &op), -ENOENT);
    /* Too long for the buffers: a request's shape, refused. */
    char big[400];
    snprintf(big, sizeof(big), "$aws/things/%0129d/shadow/get", 0);
    CHECK_EQ(reg_aws_shadow_topic(S(big), thing, shadow, &op), -EINVAL);
    snprintf(big, sizeof(big), "$aws/things/t/shadow/name/%065d/get", 0);
    CHECK_EQ(reg_aws_shadow_topic(S(big), thing, shadow, &op), -EINVAL);
}

/* ---- serving, with a recording publish hook ---- */

#define MAX_PUB 8
struct recorder {
    size_t n;
    char topic[MAX_PUB][300];
    json_t *doc[MAX_PUB];
    int fail;                   /* publish returns this when nonzero */
};

static int record(void *ud, const char *topic, const void *data, size_t len)
{
    struct recorder *r = ud;
    if (r->n < MAX_PUB) {
        snprintf(r->topic[r->n], sizeof(r->topic[0]), "%s", topic);
        r->doc[r->n] = json_loadb(data, len, 0, NULL);
        CHECK(r->doc[r->n] != NULL);
        r->n++;
    }
    return r->fail;
}

static void reset(struct recorder *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->doc[i]);
    memset(r, 0, sizeof(*r));
}

static json_int_t int_at(json_t *j, const char *key)
{
    return json_integer_value(json_object_get(j, key));
}

static int serve(struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                 enum reg_shadow_op op, const char *payload, bool rest, int64_t now_us,
                 struct reg_shadow_reply *out)
{
    reg_shadow_reply_clear(out);
    return reg_aws_shadow_serve(c, thing, shadow, op, payload, strlen(payload), rest, now_us, out);
}

static void test_serve(struct db *db)
{
    struct recorder rec = { 0 };
    struct reg_shadow_ctx c = { .db = db, .prefix = "aws/", .publish = record, .ud = &rec };
    struct reg_shadow_reply out = { 0 };
    const int64_t t0 = 1800000000LL * 1000000;

    /* MQTT get of nothing: 404 on /get/rejected, token echoed. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_GET, "{\"clientToken\":\"g\"}", false, t0, &out), 0);
    CHECK_EQ(out.status, 404);
    CHECK_STR(out.message, "No shadow exists with name: 'lamp'");
    CHECK_EQ(rec.n, 1);
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/get/rejected");
    CHECK_STR(json_string_value(json_object_get(rec.doc[0], "clientToken")), "g");
    reset(&rec);

    /* MQTT update: accepted, delta, documents, in that order. */
    CHECK_EQ(serve(&c, "lamp", "", REG_SHADOW_UPDATE,
                   "{\"state\":{\"desired\":{\"on\":true}},\"clientToken\":\"u1\"}", false, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    CHECK_EQ(rec.n, 3);
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/update/accepted");
    CHECK_STR(rec.topic[1], "aws/$aws/things/lamp/shadow/update/delta");
    CHECK_STR(rec.topic[2], "aws/$aws/things/lamp/shadow/update/documents");
    CHECK_EQ(int_at(rec.doc[0], "version"), 1);
    CHECK_EQ(int_at(rec.doc[0], "timestamp"), 1800000000);
    reset(&rec);

    /* REST update: the same three, the reply is the accepted document. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_UPDATE, "{\"state\":{\"reported\":{\"on\":true}}}",
                   true, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    CHECK_EQ(rec.n, 2);     /* no delta left: accepted + documents */
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/update/accepted");
    CHECK_STR(rec.topic[1], "aws/$aws/things/lamp/shadow/update/documents");
    json_t *j = json_loadb(out.body, out.len, 0, NULL);
    CHECK_EQ(int_at(j, "version"), 2);
    json_decref(j);
    reset(&rec);

    /* REST errors are the reply alone: nothing on /rejected. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_UPDATE, "{\"state\":1}", true, t0, &out), 0);
    CHECK_EQ(out.status, 400);
    CHECK_STR(out.message, "State node must be an object");
    CHECK_EQ(rec.n, 0);
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_UPDATE,
                   "{\"state\":{\"reported\":{\"x\":1}},\"version\":1}", true, t0, &out), 0);
    CHECK_EQ(out.status, 409);
    CHECK_EQ(rec.n, 0);
    /* A REST get publishes nothing either. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_GET, "", true, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    CHECK_EQ(rec.n, 0);
    /* MQTT errors go to /rejected. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_UPDATE, "not json", false, t0, &out), 0);
    CHECK_EQ(out.status, 400);
    CHECK_EQ(rec.n, 1);
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/update/rejected");
    reset(&rec);

    /* Bad names answer 400 and publish nothing. */
    CHECK_EQ(serve(&c, "la mp", NULL, REG_SHADOW_GET, "", false, t0, &out), 0);
    CHECK_EQ(out.status, 400);
    CHECK_EQ(serve(&c, "lamp", "n/x", REG_SHADOW_GET, "", false, t0, &out), 0);
    CHECK_EQ(out.status, 400);
    CHECK_EQ(rec.n, 0);

    /* Named shadows: own topics, own versions, listed in name order. */
    CHECK_EQ(serve(&c, "lamp", "net", REG_SHADOW_UPDATE, "{\"state\":{\"reported\":{\"ip\":1}}}",
                   false, t0, &out), 0);
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/name/net/update/accepted");
    CHECK_EQ(int_at(rec.doc[0], "version"), 1);
    reset(&rec);
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_UPDATE, "{\"state\":{}}", true, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    reset(&rec);

    /* A REST delete tells devices on /delete/accepted. */
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_DELETE, "", true, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    CHECK_EQ(rec.n, 1);
    CHECK_STR(rec.topic[0], "aws/$aws/things/lamp/shadow/name/aux/delete/accepted");
    reset(&rec);
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_DELETE, "", false, t0, &out), 0);
    CHECK_EQ(out.status, 404);
    CHECK_STR(out.message, "No shadow exists with name: 'aux'");
    reset(&rec);

    /* A failing publish hook does not undo the stored update. */
    rec.fail = -ENOTCONN;
    CHECK_EQ(serve(&c, "lamp", "net", REG_SHADOW_UPDATE, "{\"state\":{\"reported\":{\"ip\":2}}}",
                   false, t0, &out), 0);
    CHECK_EQ(out.status, 200);
    reset(&rec);
    reg_shadow_reply_clear(&out);
}

struct names {
    char got[8][70];
    int n;
};

static int add_name(void *ud, const char *name)
{
    struct names *n = ud;
    if (n->n < 8)
        snprintf(n->got[n->n++], sizeof(n->got[0]), "%s", name);
    return 0;
}

static void test_list_and_reopen(const char *path)
{
    struct db *db = NULL;
    struct names n = { 0 };
    struct reg_shadow_ctx c;
    struct reg_shadow_reply out = { 0 };
    const int64_t t0 = 1800000000LL * 1000000;

    CHECK_EQ(db_open(path, &db), 0);
    c = (struct reg_shadow_ctx){ .db = db, .prefix = "aws/" };
    /* "aux" was deleted; the classic shadow is not named. */
    CHECK_EQ(reg_aws_shadow_list(db, "lamp", NULL, 0, add_name, &n), 1);
    CHECK_STR(n.got[0], "net");
    CHECK_EQ(reg_aws_shadow_list(db, "lamp", "net", 0, add_name, &n), 0);
    CHECK_EQ(reg_aws_shadow_list(db, "nothing", "", 0, add_name, &n), 0);

    /* Kept across the reopen: versions continue. */
    CHECK_EQ(serve(&c, "lamp", NULL, REG_SHADOW_UPDATE, "{\"state\":{\"reported\":{\"on\":false}}}",
                   true, t0, &out), 0);
    json_t *j = json_loadb(out.body, out.len, 0, NULL);
    CHECK_EQ(int_at(j, "version"), 3);
    json_decref(j);

    /* Recreated within 48 hours: the deleted shadow's numbering goes on. */
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_UPDATE, "{\"state\":{}}", true,
                   t0 + REG_SHADOW_RESET_AFTER_US - 1000000, &out), 0);
    j = json_loadb(out.body, out.len, 0, NULL);
    CHECK_EQ(int_at(j, "version"), 2);
    json_decref(j);
    /* Deleted for more than 48 hours: it starts again. */
    int64_t t1 = t0 + REG_SHADOW_RESET_AFTER_US;
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_DELETE, "", true, t1, &out), 0);
    CHECK_EQ(serve(&c, "lamp", "aux", REG_SHADOW_UPDATE, "{\"state\":{}}", true,
                   t1 + REG_SHADOW_RESET_AFTER_US + 1, &out), 0);
    j = json_loadb(out.body, out.len, 0, NULL);
    CHECK_EQ(int_at(j, "version"), 1);
    json_decref(j);

    /* A row that is not a stored form is a store failure (500), not a
     * shadow: nothing is published. */
    CHECK_EQ(db_aws_shadow_put(db, "broken", "", "{\"version\":", 11, true, t0), 0);
    CHECK_EQ(serve(&c, "broken", NULL, REG_SHADOW_GET, "", true, t0, &out), -EIO);
    /* The store's own argument checks. */
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(db_aws_shadow_get(db, "", "", &text, &len, NULL), -EINVAL);
    CHECK_EQ(db_aws_shadow_put(db, "t", "", "a\0b", 3, true, t0), -EINVAL);
    CHECK_EQ(db_aws_shadow_get(db, "t", "", &text, &len, NULL), -ENOENT);
    reg_shadow_reply_clear(&out);
    db_close(db);
}

int main(void)
{
    char path[512];
    struct db *db = NULL;

    CHECK(tu_mkdtemp(tmpdir, sizeof tmpdir, "test_reg_aws_shadow") == 0);
    atexit(cleanup);
    test_topic();
    snprintf(path, sizeof(path), "%s/shadows.db", tmpdir);
    CHECK_EQ(db_open(path, &db), 0);
    test_serve(db);
    db_close(db);
    test_list_and_reopen(path);
    return tu_finish("reg_aws_shadow");
}
