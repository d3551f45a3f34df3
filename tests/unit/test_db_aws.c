/* Unit tests of the store's AWS IoT tables (db_aws.h, migration 0003):
 * real SQLite files in a fresh mkdtemp directory. Covers the migration on a
 * new file and on a file made by the first two migrations, things and thing
 * types with ListThings' filters, device and CA certificates, policies and
 * their versions (limit, ids never reused, default rules), policy targets,
 * thing principals and their cascade, account settings, savepoints inside
 * a caller's transaction, and lists whose callbacks run other queries. The
 * test does not include sqlite3.h (only db/ may): where it must look at the
 * file itself (integrity, query plans, an older schema) it runs Debian's
 * python3 and its sqlite3 module on the file. */
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_aws.h"
#include "testutil.h"

extern char **environ;

/* On failure the files stay in tmpdir for a look (see cleanup). */
static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *name) {
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    CHECK(n > 0 && (size_t)n < cap);
}

static struct db *open_fresh(const char *name, char *path_out, size_t cap) {
    struct db *db = NULL;
    path_in_tmp(path_out, cap, name);
    CHECK_EQ(db_open(path_out, &db), 0);
    CHECK(db != NULL);
    return db;
}

/* Runs python3 -c script args... and returns its exit status (-1 when it
 * could not run or died of a signal). */
static int run_python(const char *script, const char *a1, const char *a2, const char *a3) {
    char *argv[] = {"python3", "-c", (char *)script, (char *)a1, (char *)a2, (char *)a3, NULL};
    pid_t pid;
    int st = 0;
    if (posix_spawn(&pid, "/usr/bin/python3", NULL, NULL, argv, environ) != 0 &&
        posix_spawnp(&pid, "python3", NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* PRAGMA integrity_check and foreign_key_check on a closed store file. */
static const char py_integrity[] =
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1])\n"
    "ic = con.execute('PRAGMA integrity_check').fetchall()\n"
    "fk = con.execute('PRAGMA foreign_key_check').fetchall()\n"
    "if ic != [('ok',)] or fk:\n"
    "    print('integrity', ic[:5], 'foreign keys', fk[:5], file=sys.stderr)\n"
    "    sys.exit(1)\n";

static void check_integrity(const char *path) {
    CHECK_EQ(run_python(py_integrity, path, NULL, NULL), 0);
}

/* ---- fixtures ---- */

static int64_t add_type(struct db *db, const char *name) {
    struct db_aws_thing_type t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.type_id, sizeof t.type_id, "type-id-%s", name);
    CHECK_EQ(db_aws_thing_type_insert(db, &t), 0);
    CHECK(t.rowid > 0);
    return t.rowid;
}

static int64_t add_thing(struct db *db, const char *name, const char *type, const char *attrs) {
    struct db_aws_thing t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.thing_id, sizeof t.thing_id, "id-%s", name);
    snprintf(t.type_name, sizeof t.type_name, "%s", type ? type : "");
    t.attributes_json = (char *)attrs;
    CHECK_EQ(db_aws_thing_insert(db, &t), 0);
    CHECK(t.rowid > 0);
    return t.rowid;
}

static int64_t add_policy(struct db *db, const char *name, const char *doc) {
    struct db_aws_policy p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    CHECK_EQ(db_aws_policy_insert(db, &p, doc, 1000), 0);
    CHECK(p.rowid > 0);
    return p.rowid;
}

static void fill_cert(struct db_aws_cert *c, const char *id, const char *ca) {
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    snprintf(c->status, sizeof c->status, "ACTIVE");
    snprintf(c->ca_id, sizeof c->ca_id, "%s", ca ? ca : "");
    snprintf(c->mode, sizeof c->mode, "DEFAULT");
    c->not_before_us = 100;
    c->not_after_us = 200;
}

/* What a list call handed its callback: rowids and names, in order. */
struct got {
    int n;
    int64_t rowid[32];
    char name[32][DB_AWS_ARN_MAX];
    int stop_after;                        /* 0 = never */
    int fail_with;                         /* returned by the first call when set */
};

static int got_add(struct got *g, int64_t rowid, const char *name) {
    if (!CHECK(g->n < 32))
        return -ENOSPC;
    g->rowid[g->n] = rowid;
    snprintf(g->name[g->n], sizeof g->name[g->n], "%s", name);
    g->n++;
    if (g->fail_with)
        return g->fail_with;
    return g->stop_after && g->n >= g->stop_after ? 1 : 0;
}

static int got_thing(const struct db_aws_thing *t, void *ud) {
    return got_add(ud, t->rowid, t->name);
}

static int got_type(const struct db_aws_thing_type *t, void *ud) {
    return got_add(ud, t->rowid, t->name);
}

static int got_cert(const struct db_aws_cert *c, void *ud) {
    return got_add(ud, c->rowid, c->id);
}

static int got_policy(const struct db_aws_policy *p, void *ud) {
    return got_add(ud, p->rowid, p->name);
}

static int got_version(const struct db_aws_policy_version *v, void *ud) {
    return got_add(ud, v->version, v->document);
}

static int got_text(int64_t attach_rowid, const char *s, void *ud) {
    return got_add(ud, attach_rowid, s);
}

/* Target policies: the name and the default version's document. */
static int got_target_policy(int64_t attach_rowid, const struct db_aws_policy *p,
                             const char *document, void *ud) {
    char both[DB_AWS_ARN_MAX];
    snprintf(both, sizeof both, "%s=%s", p->name, document);
    return got_add(ud, attach_rowid, both);
}

static int got_principal_thing(int64_t attach_rowid, const struct db_aws_thing *t, void *ud) {
    return got_add(ud, attach_rowid, t->name);
}

/* ---- schema ---- */

/* The query shapes of the hot paths must search by index, never scan: the
 * CONNECT check, a certificate's policies and ListThings by type. The
 * texts mirror db_sql.c's statements. */
static const char py_plans[] =
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1])\n"
    "qs = [\n"
    " ('SELECT EXISTS (SELECT 1 FROM aws_things t JOIN aws_thing_principals a '\n"
    "  'ON a.thing_pk = t.pk WHERE t.name = ?1 AND a.principal = ?2)', ('t', 'p')),\n"
    " ('SELECT a.pk, p.name, v.document FROM aws_policy_targets a '\n"
    "  'JOIN aws_policies p ON p.pk = a.policy_pk JOIN aws_policy_versions v '\n"
    "  'ON v.policy_pk = p.pk AND v.version = p.default_version '\n"
    "  'WHERE a.target = ?1 AND a.pk > ?2 ORDER BY a.pk LIMIT ?3', ('x', 0, -1)),\n"
    " ('SELECT t.pk FROM aws_things t WHERE t.type_pk = (SELECT pk FROM aws_thing_types '\n"
    "  'WHERE name = ?1) AND t.pk > ?2 ORDER BY t.pk LIMIT ?3', ('x', 0, -1)),\n"
    " ('SELECT pk FROM aws_policy_targets WHERE policy_pk = ?1 AND pk > ?2 '\n"
    "  'ORDER BY pk LIMIT ?3', (1, 0, -1)),\n"
    " ('SELECT count(*) FROM aws_certs WHERE ca_cert_id = ?1', ('x',)),\n"
    "]\n"
    "bad = 0\n"
    "for sql, args in qs:\n"
    "    plan = [r[3] for r in con.execute('EXPLAIN QUERY PLAN ' + sql, args)]\n"
    "    scans = [d for d in plan if d.startswith('SCAN') and d != 'SCAN CONSTANT ROW']\n"
    "    if scans or any('TEMP B-TREE' in d for d in plan):\n"
    "        print(sql, plan, file=sys.stderr)\n"
    "        bad = 1\n"
    "sys.exit(bad)\n";

static void test_schema(void) {
    char path[512];
    struct db *db = open_fresh("schema.db", path, sizeof path);
    struct db_aws_thing t;

    CHECK_EQ(db_schema_latest(), 4);
    CHECK_EQ(db_schema_version(db), 4);
    add_thing(db, "kept", NULL, "{\"k\":\"v\"}");
    db_close(db);

    /* A second open migrates nothing and keeps the data. */
    db = NULL;
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_schema_version(db), 4);
    memset(&t, 0, sizeof t);
    CHECK_EQ(db_aws_thing_get(db, "kept", &t), 0);
    CHECK_STR(t.attributes_json, "{\"k\":\"v\"}");
    db_aws_thing_clear(&t);
    db_close(db);

    CHECK_EQ(run_python(py_plans, path, NULL, NULL), 0);
    check_integrity(path);
}

/* A file made by migrations 0001 and 0002 alone (what the previous release
 * left on disk), with a registry in it: opening it applies 0003 and 0004. */
static const char py_make_v2[] =
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1])\n"
    "for f in sys.argv[2:4]:\n"
    "    with open(f) as fh:\n"
    "        con.executescript(fh.read())\n"
    "con.execute(\"INSERT INTO registries (project, location, id, created_us) \"\n"
    "            \"VALUES ('p', 'l', 'r', 1)\")\n"
    "con.execute('PRAGMA user_version = 2')\n"
    "con.commit()\n"
    "con.close()\n";

static void test_upgrade_from_v2(void) {
    char path[512];
    struct db *db = NULL;
    struct db_registry r;

    path_in_tmp(path, sizeof path, "v2.db");
    CHECK_EQ(run_python(py_make_v2, path, SOURCE_ROOT "/db/migrations/0001_initial.sql",
                        SOURCE_ROOT "/db/migrations/0002_gateway_bindings.sql"),
             0);
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_schema_version(db), 4);
    memset(&r, 0, sizeof r);
    CHECK_EQ(db_registry_get(db, "p", "l", "r", &r), 0);
    db_registry_clear(&r);
    add_type(db, "after-upgrade");
    add_thing(db, "t1", "after-upgrade", NULL);
    db_close(db);
    check_integrity(path);
}

/* ---- thing types ---- */

static void test_thing_types(struct db *db) {
    struct db_aws_thing_type t, got;
    struct got g;
    int64_t a, b, c;

    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "sensor");
    snprintf(t.type_id, sizeof t.type_id, "11111111-2222-3333-4444-555555555555");
    t.properties_json = "{\"searchableAttributes\":[\"model\"]}";
    t.created_us = 77;
    CHECK_EQ(db_aws_thing_type_insert(db, &t), 0);
    a = t.rowid;
    CHECK(a > 0);
    CHECK_EQ(t.created_us, 77);
    t.rowid = 0;
    CHECK_EQ(db_aws_thing_type_insert(db, &t), -EEXIST);
    CHECK_EQ(t.rowid, 0);                  /* untouched on failure */
    t.name[0] = '\0';
    CHECK_EQ(db_aws_thing_type_insert(db, &t), -EINVAL);
    memset(t.name, 'x', sizeof t.name);    /* not terminated: would read back cut */
    CHECK_EQ(db_aws_thing_type_insert(db, &t), -EINVAL);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_thing_type_get(db, "sensor", &got), 0);
    CHECK_EQ(got.rowid, a);
    CHECK_STR(got.name, "sensor");
    CHECK_STR(got.type_id, "11111111-2222-3333-4444-555555555555");
    CHECK_STR(got.properties_json, "{\"searchableAttributes\":[\"model\"]}");
    CHECK(!got.deprecated);
    CHECK_EQ(got.deprecated_us, 0);
    CHECK_EQ(got.created_us, 77);
    got.deprecated = true;
    got.deprecated_us = 555;
    CHECK_EQ(db_aws_thing_type_update(db, &got), 0);
    db_aws_thing_type_clear(&got);
    CHECK(got.properties_json == NULL);
    db_aws_thing_type_clear(NULL);

    got.rowid = -7;
    CHECK_EQ(db_aws_thing_type_get(db, "nope", &got), -ENOENT);
    CHECK_EQ(got.rowid, -7);
    CHECK_EQ(db_aws_thing_type_get(db, "sensor", &got), 0);
    CHECK(got.deprecated);
    CHECK_EQ(got.deprecated_us, 555);
    db_aws_thing_type_clear(&got);
    got.rowid = 999999;
    CHECK_EQ(db_aws_thing_type_update(db, &got), -ENOENT);

    b = add_type(db, "gateway");
    c = add_type(db, "camera");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_type_list(db, 0, 2, got_type, &g), 2);
    CHECK_EQ(g.rowid[0], a);
    CHECK_EQ(g.rowid[1], b);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_type_list(db, b, 0, got_type, &g), 1);
    CHECK_STR(g.name[0], "camera");

    /* In use: refused (AWS too) until the last thing leaves the type. */
    int64_t th = add_thing(db, "cam-1", "camera", NULL);
    CHECK_EQ(db_aws_thing_type_delete(db, c), -ENOTEMPTY);
    CHECK_EQ(db_aws_thing_type_get(db, "camera", &got), 0);
    db_aws_thing_type_clear(&got);
    CHECK_EQ(db_aws_thing_delete(db, th), 0);
    CHECK_EQ(db_aws_thing_type_delete(db, c), 0);
    CHECK_EQ(db_aws_thing_type_get(db, "camera", &got), -ENOENT);
    CHECK_EQ(db_aws_thing_type_delete(db, c), -ENOENT);
    CHECK_EQ(db_aws_thing_type_delete(db, b), 0);
}

/* ---- things ---- */

static void test_things(struct db *db) {
    struct db_aws_thing t, got;
    int64_t a;

    add_type(db, "lamp");
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "lamp-1");
    snprintf(t.thing_id, sizeof t.thing_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    snprintf(t.type_name, sizeof t.type_name, "lamp");
    t.attributes_json = "{\"room\":\"kitchen\"}";
    CHECK_EQ(db_aws_thing_insert(db, &t), 0);
    a = t.rowid;
    CHECK(a > 0);
    CHECK_EQ(t.version, 1);                /* AWS: a new thing is version 1 */
    CHECK(t.created_us > 0);               /* 0 became now */

    t.rowid = 0;
    CHECK_EQ(db_aws_thing_insert(db, &t), -EEXIST);
    CHECK_EQ(t.rowid, 0);
    snprintf(t.name, sizeof t.name, "lamp-2");
    snprintf(t.type_name, sizeof t.type_name, "no-such-type");
    CHECK_EQ(db_aws_thing_insert(db, &t), -ENOENT);
    CHECK_EQ(t.rowid, 0);
    CHECK_EQ(db_aws_thing_get(db, "lamp-2", &got), -ENOENT);   /* nothing half-made */
    t.name[0] = '\0';
    CHECK_EQ(db_aws_thing_insert(db, &t), -EINVAL);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_thing_get(db, "lamp-1", &got), 0);
    CHECK_EQ(got.rowid, a);
    CHECK_STR(got.name, "lamp-1");
    CHECK_STR(got.thing_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    CHECK_STR(got.type_name, "lamp");
    CHECK_STR(got.attributes_json, "{\"room\":\"kitchen\"}");
    CHECK_EQ(got.version, 1);

    /* Update: the type goes, the attributes and version change. */
    got.type_name[0] = '\0';
    free(got.attributes_json);
    got.attributes_json = NULL;
    got.version = 2;
    CHECK_EQ(db_aws_thing_update(db, &got), 0);
    db_aws_thing_clear(&got);
    CHECK_EQ(db_aws_thing_get_by_rowid(db, a, &got), 0);
    CHECK_STR(got.type_name, "");
    CHECK_STR(got.attributes_json, "{}");  /* NULL reads as {} */
    CHECK_EQ(got.version, 2);
    snprintf(got.type_name, sizeof got.type_name, "gone");
    CHECK_EQ(db_aws_thing_update(db, &got), -ENOENT);
    snprintf(got.type_name, sizeof got.type_name, "lamp");
    got.version = 3;
    CHECK_EQ(db_aws_thing_update(db, &got), 0);
    got.rowid = 999999;
    CHECK_EQ(db_aws_thing_update(db, &got), -ENOENT);
    db_aws_thing_clear(&got);
    CHECK_EQ(db_aws_thing_get_by_rowid(db, a, &got), 0);
    CHECK_STR(got.type_name, "lamp");
    CHECK_EQ(got.version, 3);
    db_aws_thing_clear(&got);
    got.rowid = -3;
    CHECK_EQ(db_aws_thing_get_by_rowid(db, 999999, &got), -ENOENT);
    CHECK_EQ(got.rowid, -3);

    CHECK_EQ(db_aws_thing_delete(db, a), 0);
    CHECK_EQ(db_aws_thing_delete(db, a), -ENOENT);
    CHECK_EQ(db_aws_thing_get(db, "lamp-1", &got), -ENOENT);
}

static int count_principals_of(const struct db_aws_thing *t, void *ud);

/* ListThings: type, attribute exact and prefix, odd attribute names, paging. */
static void test_thing_list(struct db *db) {
    struct db_aws_thing_filter f;
    struct got g;
    int64_t r[8];

    add_type(db, "meter");
    r[0] = add_thing(db, "m0", "meter", "{\"model\":\"abc-1\",\"site.name\":\"north\"}");
    r[1] = add_thing(db, "m1", "meter", "{\"model\":\"abc-2\",\"fw:ver\":\"1.2\"}");
    r[2] = add_thing(db, "m2", NULL, "{\"model\":\"abc-1\",\"site\":{\"name\":\"north\"}}");
    r[3] = add_thing(db, "m3", NULL, "{\"model\":\"x%_\"}");
    r[4] = add_thing(db, "m4", "meter", NULL);

    memset(&f, 0, sizeof f);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, NULL, r[0] - 1, 0, got_thing, &g), 5);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, r[0] - 1, 0, got_thing, &g), 5);   /* empty filter */

    f.type_name = "meter";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 3);
    CHECK_EQ(g.rowid[0], r[0]);
    CHECK_EQ(g.rowid[1], r[1]);
    CHECK_EQ(g.rowid[2], r[4]);
    memset(&g, 0, sizeof g);                            /* paging within the type */
    CHECK_EQ(db_aws_thing_list(db, &f, r[0], 1, got_thing, &g), 1);
    CHECK_EQ(g.rowid[0], r[1]);
    f.type_name = "no-such-type";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 0);
    f.type_name = "";                                   /* empty: no filter */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, r[0] - 1, 0, got_thing, &g), 5);

    /* Attribute, exact. */
    f.type_name = NULL;
    f.attribute_name = "model";
    f.attribute_value = "abc-1";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 2);
    CHECK_EQ(g.rowid[0], r[0]);
    CHECK_EQ(g.rowid[1], r[2]);
    f.attribute_value = "abc";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 0);
    /* With a type as well. */
    f.type_name = "meter";
    f.attribute_value = "abc-1";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 1);
    CHECK_EQ(g.rowid[0], r[0]);
    f.type_name = NULL;

    /* Attribute, prefix (usePrefixAttributeValue). */
    f.attribute_value = "abc";
    f.attribute_value_prefix = true;
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 3);
    CHECK_EQ(g.rowid[2], r[2]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, r[0], 1, got_thing, &g), 1);      /* paging */
    CHECK_EQ(g.rowid[0], r[1]);
    /* '%' and '_' are plain characters, not LIKE wildcards. */
    f.attribute_value = "x%";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 1);
    CHECK_EQ(g.rowid[0], r[3]);
    f.attribute_value = "%";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 0);
    f.attribute_value = "a_c";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 0);
    /* An empty prefix: every thing that has the attribute. */
    f.attribute_value = "";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 4);
    f.attribute_value_prefix = false;

    /* A name with '.' is one key, not a path into a nested object. */
    f.attribute_name = "site.name";
    f.attribute_value = "north";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 1);
    CHECK_EQ(g.rowid[0], r[0]);
    f.attribute_name = "fw:ver";
    f.attribute_value = "1.2";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 1);
    CHECK_EQ(g.rowid[0], r[1]);
    f.attribute_name = "a#b/@,-_";
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), 0);
    /* A name outside AWS's set (it would break the JSON path) is refused. */
    f.attribute_name = "bad\"name";
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), -EINVAL);
    f.attribute_name = "bad name";
    CHECK_EQ(db_aws_thing_list(db, &f, 0, 0, got_thing, &g), -EINVAL);
    /* A name without a value does not filter. */
    f.attribute_name = "model";
    f.attribute_value = NULL;
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_list(db, &f, r[0] - 1, 0, got_thing, &g), 5);

    /* Callbacks stop the walk, or fail it. */
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    CHECK_EQ(db_aws_thing_list(db, NULL, r[0] - 1, 0, got_thing, &g), 2);
    memset(&g, 0, sizeof g);
    g.fail_with = -ECANCELED;
    CHECK_EQ(db_aws_thing_list(db, NULL, r[0] - 1, 0, got_thing, &g), -ECANCELED);
    CHECK_EQ(g.n, 1);

    /* A callback may run other queries, a nested list included. */
    int64_t calls = 0;
    CHECK_EQ(db_aws_thing_principal_attach(db, r[1], "arn:nested", false, 1), 0);
    CHECK_EQ(db_aws_thing_list(db, NULL, r[0] - 1, 0, count_principals_of, &calls), 5);
    CHECK_EQ(calls, 1);

    for (int i = 0; i < 5; i++)
        CHECK_EQ(db_aws_thing_delete(db, r[i]), 0);
}

static struct db *nested_db;

static int count_one(int64_t attach_rowid, const char *principal, void *ud) {
    int64_t *calls = ud;
    (void)attach_rowid;
    CHECK_STR(principal, "arn:nested");
    (*calls)++;
    return 0;
}

static int count_principals_of(const struct db_aws_thing *t, void *ud) {
    int r = db_aws_thing_principals(nested_db, t->rowid, 0, 0, count_one, ud);
    CHECK(r == 0 || r == 1);
    CHECK_EQ(db_aws_thing_principal_exists(nested_db, t->name, "arn:nested"), r);
    return 0;
}

/* ---- certificates ---- */

static void test_certs(struct db *db) {
    struct db_aws_cert c, got;
    struct got g;
    int64_t n = -1, rows[4];
    static const char *ids[4] = {
        "0000000000000000000000000000000000000000000000000000000000000001",
        "0000000000000000000000000000000000000000000000000000000000000002",
        "0000000000000000000000000000000000000000000000000000000000000003",
        "0000000000000000000000000000000000000000000000000000000000000004",
    };
    const char *ca = "00000000000000000000000000000000000000000000000000000000000000ca";

    for (int i = 0; i < 4; i++) {
        fill_cert(&c, ids[i], i % 2 ? ca : NULL);
        if (i == 0)
            c.created_us = 5000;
        CHECK_EQ(db_aws_cert_insert(db, &c), 0);
        rows[i] = c.rowid;
        CHECK(rows[i] > 0);
        CHECK_EQ(c.generation, 1);
        if (i == 0) {
            CHECK_EQ(c.created_us, 5000);
            CHECK_EQ(c.modified_us, 5000);
        }
    }
    fill_cert(&c, ids[0], NULL);
    CHECK_EQ(db_aws_cert_insert(db, &c), -EEXIST);
    CHECK_EQ(c.rowid, 0);
    fill_cert(&c, "", NULL);
    CHECK_EQ(db_aws_cert_insert(db, &c), -EINVAL);
    fill_cert(&c, ids[0], NULL);
    c.pem = NULL;
    CHECK_EQ(db_aws_cert_insert(db, &c), -EINVAL);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_cert_get(db, ids[1], &got), 0);
    CHECK_EQ(got.rowid, rows[1]);
    CHECK_STR(got.id, ids[1]);
    CHECK(got.pem && strstr(got.pem, "BEGIN CERTIFICATE") != NULL);
    CHECK_STR(got.status, "ACTIVE");
    CHECK_STR(got.ca_id, ca);
    CHECK_STR(got.mode, "DEFAULT");
    CHECK_STR(got.auto_registration, "");
    CHECK(got.registration_config_json == NULL);
    CHECK_EQ(got.not_before_us, 100);
    CHECK_EQ(got.not_after_us, 200);
    CHECK_EQ(got.generation, 1);
    db_aws_cert_clear(&got);
    CHECK(got.pem == NULL);
    db_aws_cert_clear(NULL);
    got.rowid = -5;
    CHECK_EQ(db_aws_cert_get(db, "ffff", &got), -ENOENT);
    CHECK_EQ(got.rowid, -5);

    CHECK_EQ(db_aws_cert_set_status(db, ids[1], "INACTIVE", 9000), 0);
    CHECK_EQ(db_aws_cert_get(db, ids[1], &got), 0);
    CHECK_STR(got.status, "INACTIVE");
    CHECK_EQ(got.modified_us, 9000);
    CHECK_EQ(got.generation, 2);
    db_aws_cert_clear(&got);
    CHECK_EQ(db_aws_cert_set_status(db, "ffff", "ACTIVE", 1), -ENOENT);
    CHECK_EQ(db_aws_cert_set_status(db, ids[1], "", 1), -EINVAL);

    /* All, both directions, with paging. */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, NULL, true, 0, 0, got_cert, &g), 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(g.rowid[i], rows[i]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, NULL, true, rows[1], 1, got_cert, &g), 1);
    CHECK_EQ(g.rowid[0], rows[2]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, NULL, false, 0, 3, got_cert, &g), 3);
    CHECK_EQ(g.rowid[0], rows[3]);
    CHECK_EQ(g.rowid[2], rows[1]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, NULL, false, rows[1], 0, got_cert, &g), 1);
    CHECK_EQ(g.rowid[0], rows[0]);

    /* By CA, both directions. */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, ca, true, 0, 0, got_cert, &g), 2);
    CHECK_EQ(g.rowid[0], rows[1]);
    CHECK_EQ(g.rowid[1], rows[3]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, ca, false, 0, 0, got_cert, &g), 2);
    CHECK_EQ(g.rowid[0], rows[3]);
    CHECK_EQ(g.rowid[1], rows[1]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, ca, false, rows[3], 0, got_cert, &g), 1);
    CHECK_EQ(g.rowid[0], rows[1]);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cert_list(db, "ffff", true, 0, 0, got_cert, &g), 0);
    CHECK_EQ(db_aws_cert_count_by_ca(db, ca, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(db_aws_cert_count_by_ca(db, "ffff", &n), 0);
    CHECK_EQ(n, 0);

    CHECK_EQ(db_aws_cert_delete(db, ids[3]), 0);
    CHECK_EQ(db_aws_cert_delete(db, ids[3]), -ENOENT);
    CHECK_EQ(db_aws_cert_count_by_ca(db, ca, &n), 0);
    CHECK_EQ(n, 1);

    /* CA certificates: their own table (the same id may be in both). */
    fill_cert(&c, ca, NULL);
    snprintf(c.auto_registration, sizeof c.auto_registration, "DISABLE");
    c.registration_config_json = "{\"templateBody\":\"{}\"}";
    c.generation = 7;
    CHECK_EQ(db_aws_cacert_insert(db, &c), 0);
    int64_t ca_row = c.rowid;
    CHECK(ca_row > 0);
    CHECK_EQ(c.generation, 7);
    c.rowid = 0;
    CHECK_EQ(db_aws_cacert_insert(db, &c), -EEXIST);
    CHECK_EQ(c.rowid, 0);
    fill_cert(&c, ids[0], NULL);
    snprintf(c.auto_registration, sizeof c.auto_registration, "ENABLE");
    CHECK_EQ(db_aws_cacert_insert(db, &c), 0);   /* also a device cert id */
    int64_t ca_row2 = c.rowid;

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_cacert_get(db, ca, &got), 0);
    CHECK_EQ(got.rowid, ca_row);
    CHECK_STR(got.auto_registration, "DISABLE");
    CHECK_STR(got.registration_config_json, "{\"templateBody\":\"{}\"}");
    CHECK_STR(got.ca_id, "");
    CHECK_EQ(got.generation, 7);
    snprintf(got.status, sizeof got.status, "INACTIVE");
    snprintf(got.auto_registration, sizeof got.auto_registration, "ENABLE");
    free(got.registration_config_json);
    got.registration_config_json = NULL;
    CHECK_EQ(db_aws_cacert_update(db, &got, 12345), 0);
    db_aws_cert_clear(&got);
    CHECK_EQ(db_aws_cacert_get(db, ca, &got), 0);
    CHECK_STR(got.status, "INACTIVE");
    CHECK_STR(got.auto_registration, "ENABLE");
    CHECK(got.registration_config_json == NULL);
    CHECK_EQ(got.modified_us, 12345);
    CHECK_EQ(got.generation, 8);
    snprintf(got.id, sizeof got.id, "ffff");
    CHECK_EQ(db_aws_cacert_update(db, &got, 1), -ENOENT);
    db_aws_cert_clear(&got);
    CHECK_EQ(db_aws_cacert_get(db, ids[2], &got), -ENOENT);

    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cacert_list(db, true, 0, 0, got_cert, &g), 2);
    CHECK_EQ(g.rowid[0], ca_row);
    CHECK_EQ(g.rowid[1], ca_row2);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cacert_list(db, false, 0, 1, got_cert, &g), 1);
    CHECK_EQ(g.rowid[0], ca_row2);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_cacert_list(db, false, ca_row2, 0, got_cert, &g), 1);
    CHECK_EQ(g.rowid[0], ca_row);

    /* A CA delete leaves the device certificates it issued alone. */
    CHECK_EQ(db_aws_cacert_delete(db, ca), 0);
    CHECK_EQ(db_aws_cacert_delete(db, ca), -ENOENT);
    CHECK_EQ(db_aws_cert_count_by_ca(db, ca, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(db_aws_cacert_delete(db, ids[0]), 0);
    CHECK_EQ(db_aws_cert_get(db, ids[0], &got), 0);   /* the device cert stays */
    db_aws_cert_clear(&got);
}

/* ---- policies and versions ---- */

static void test_policies(struct db *db) {
    struct db_aws_policy p, got;
    struct db_aws_policy_version v;
    struct got g;
    int64_t pr, ver = -1, gen;

    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "pol");
    CHECK_EQ(db_aws_policy_insert(db, &p, "{\"v\":1}", 1000), 0);
    pr = p.rowid;
    CHECK(pr > 0);
    CHECK_EQ(p.default_version, 1);
    p.rowid = 0;
    CHECK_EQ(db_aws_policy_insert(db, &p, "{}", 1000), -EEXIST);
    CHECK_EQ(p.rowid, 0);
    CHECK_EQ(db_aws_policy_insert(db, &p, NULL, 1000), -EINVAL);
    p.name[0] = '\0';
    CHECK_EQ(db_aws_policy_insert(db, &p, "{}", 1000), -EINVAL);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.rowid, pr);
    CHECK_STR(got.name, "pol");
    CHECK_EQ(got.default_version, 1);
    CHECK_EQ(got.created_us, 1000);
    CHECK_EQ(got.modified_us, 1000);
    CHECK_EQ(got.generation, 1);
    got.rowid = -1;
    CHECK_EQ(db_aws_policy_get(db, "nope", &got), -ENOENT);
    CHECK_EQ(got.rowid, -1);

    memset(&v, 0, sizeof v);
    CHECK_EQ(db_aws_policy_version_get(db, pr, 1, &v), 0);
    CHECK_EQ(v.policy_rowid, pr);
    CHECK_EQ(v.version, 1);
    CHECK_STR(v.document, "{\"v\":1}");
    CHECK_EQ(v.created_us, 1000);
    db_aws_policy_version_clear(&v);
    CHECK(v.document == NULL);
    db_aws_policy_version_clear(NULL);

    /* Up to five versions; the sixth is refused and leaves nothing. */
    for (int i = 2; i <= 5; i++) {
        char doc[32];
        snprintf(doc, sizeof doc, "{\"v\":%d}", i);
        CHECK_EQ(db_aws_policy_version_add(db, pr, doc, false, 1000 + i, &ver), 0);
        CHECK_EQ(ver, i);
    }
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.default_version, 1);      /* not asked to become the default */
    CHECK_EQ(got.generation, 5);
    CHECK_EQ(got.modified_us, 1005);
    ver = -1;
    CHECK_EQ(db_aws_policy_version_add(db, pr, "{}", true, 2000, &ver), -E2BIG);
    CHECK_EQ(ver, -1);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.generation, 5);
    CHECK_EQ(got.default_version, 1);
    CHECK_EQ(db_aws_policy_version_add(db, 999999, "{}", true, 2000, &ver), -ENOENT);
    CHECK_EQ(db_aws_policy_version_add(db, pr, NULL, true, 2000, &ver), -EINVAL);

    /* Ids are never reused: deleting the highest does not free its id. */
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 5), 0);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 5), -ENOENT);
    CHECK_EQ(db_aws_policy_version_get(db, pr, 5, &v), -ENOENT);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.generation, 6);
    CHECK(got.modified_us > 1005);         /* the clock: the call takes no time */
    CHECK_EQ(db_aws_policy_version_add(db, pr, "{\"v\":6}", true, 3000, &ver), 0);
    CHECK_EQ(ver, 6);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.default_version, 6);
    CHECK_EQ(got.generation, 7);
    CHECK_EQ(got.modified_us, 3000);

    /* Defaults: a missing version is -ENOENT; the default cannot go. */
    CHECK_EQ(db_aws_policy_version_set_default(db, pr, 5, 4000), -ENOENT);
    CHECK_EQ(db_aws_policy_version_set_default(db, 999999, 1, 4000), -ENOENT);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.generation, 7);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 6), -EBUSY);
    CHECK_EQ(db_aws_policy_version_delete(db, 999999, 1), -ENOENT);
    CHECK_EQ(db_aws_policy_version_set_default(db, pr, 2, 4000), 0);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.default_version, 2);
    CHECK_EQ(got.generation, 8);
    CHECK_EQ(got.modified_us, 4000);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 2), -EBUSY);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 6), 0);

    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_version_list(db, pr, got_version, &g), 4);
    CHECK_EQ(g.rowid[0], 1);
    CHECK_EQ(g.rowid[1], 2);
    CHECK_EQ(g.rowid[2], 3);
    CHECK_EQ(g.rowid[3], 4);
    CHECK_STR(g.name[3], "{\"v\":4}");
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    CHECK_EQ(db_aws_policy_version_list(db, pr, got_version, &g), 1);

    /* Delete: refused while versions besides the default or targets exist. */
    CHECK_EQ(db_aws_policy_delete(db, pr), -ENOTEMPTY);
    CHECK(strstr(db_last_error(db), "versions") != NULL);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 1), 0);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 3), 0);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 4), 0);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    gen = got.generation;
    CHECK_EQ(db_aws_policy_attach(db, pr, "arn:aws:iot:r:1:cert/x", 5000), 0);
    CHECK_EQ(db_aws_policy_delete(db, pr), -ENOTEMPTY);
    CHECK(strstr(db_last_error(db), "attached") != NULL);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), 0);
    CHECK_EQ(got.generation, gen);         /* attaching is not a policy change */
    CHECK_EQ(db_aws_policy_detach(db, pr, "arn:aws:iot:r:1:cert/x"), 0);
    CHECK_EQ(db_aws_policy_delete(db, pr), 0);
    CHECK_EQ(db_aws_policy_delete(db, pr), -ENOENT);
    CHECK_EQ(db_aws_policy_get(db, "pol", &got), -ENOENT);
    CHECK_EQ(db_aws_policy_version_get(db, pr, 2, &v), -ENOENT);   /* cascaded */

    /* Listing, both directions. */
    int64_t a = add_policy(db, "p-a", "{}");
    int64_t b = add_policy(db, "p-b", "{}");
    int64_t c = add_policy(db, "p-c", "{}");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_list(db, true, 0, 0, got_policy, &g), 3);
    CHECK_EQ(g.rowid[0], a);
    CHECK_EQ(g.rowid[2], c);
    CHECK_STR(g.name[1], "p-b");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_list(db, true, a, 1, got_policy, &g), 1);
    CHECK_EQ(g.rowid[0], b);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_list(db, false, 0, 2, got_policy, &g), 2);
    CHECK_EQ(g.rowid[0], c);
    CHECK_EQ(g.rowid[1], b);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_list(db, false, b, 0, got_policy, &g), 1);
    CHECK_EQ(g.rowid[0], a);
    CHECK_EQ(db_aws_policy_delete(db, a), 0);
    CHECK_EQ(db_aws_policy_delete(db, b), 0);
    CHECK_EQ(db_aws_policy_delete(db, c), 0);
}

/* ---- policy targets ---- */

static void test_targets(struct db *db) {
    const char *cert = "arn:aws:iot:us-east-1:123456789012:cert/abc";
    const char *group = "arn:aws:iot:us-east-1:123456789012:thinggroup/g";
    struct db_aws_cert c;
    struct got g;
    int64_t a = add_policy(db, "t-a", "{\"a\":1}");
    int64_t b = add_policy(db, "t-b", "{\"b\":1}");
    int64_t n = -1, ver = 0;

    CHECK_EQ(db_aws_target_policy_count(db, cert, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_aws_policy_attach(db, b, cert, 1), 0);
    CHECK_EQ(db_aws_policy_attach(db, a, cert, 2), 0);
    CHECK_EQ(db_aws_policy_attach(db, a, cert, 3), 0);     /* again: not an error */
    CHECK_EQ(db_aws_policy_attach(db, a, group, 4), 0);
    CHECK_EQ(db_aws_policy_attach(db, 999999, cert, 5), -ENOENT);
    CHECK(strstr(db_last_error(db), "policy not found") != NULL);
    CHECK_EQ(db_aws_policy_attach(db, a, "", 5), -EINVAL);
    CHECK_EQ(db_aws_target_policy_count(db, cert, &n), 0);
    CHECK_EQ(n, 2);

    /* Targets of a policy, in attach order, paged by the attachment row. */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_targets(db, a, 0, 0, got_text, &g), 2);
    CHECK_STR(g.name[0], cert);
    CHECK_STR(g.name[1], group);
    int64_t first = g.rowid[0];
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_targets(db, a, first, 0, got_text, &g), 1);
    CHECK_STR(g.name[0], group);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_policy_targets(db, a, 0, 1, got_text, &g), 1);
    memset(&g, 0, sizeof g);
    g.fail_with = -EIO;
    CHECK_EQ(db_aws_policy_targets(db, a, 0, 0, got_text, &g), -EIO);

    /* Policies of a target, in attach order, with the default document. */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_target_policies(db, cert, 0, 0, got_target_policy, &g), 2);
    CHECK_STR(g.name[0], "t-b={\"b\":1}");
    CHECK_STR(g.name[1], "t-a={\"a\":1}");
    CHECK(g.rowid[0] < g.rowid[1]);
    CHECK_EQ(db_aws_policy_version_add(db, a, "{\"a\":2}", true, 10, &ver), 0);
    CHECK_EQ(db_aws_policy_version_add(db, b, "{\"b\":2}", false, 10, &ver), 0);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_target_policies(db, cert, 0, 0, got_target_policy, &g), 2);
    CHECK_STR(g.name[0], "t-b={\"b\":1}");     /* version 2 is not b's default */
    CHECK_STR(g.name[1], "t-a={\"a\":2}");
    int64_t at0 = g.rowid[0];
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_target_policies(db, cert, at0, 0, got_target_policy, &g), 1);
    CHECK_STR(g.name[0], "t-a={\"a\":2}");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_target_policies(db, cert, 0, 1, got_target_policy, &g), 1);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_target_policies(db, "arn:none", 0, 0, got_target_policy, &g), 0);

    /* Detach: -ENOENT when not attached. */
    CHECK_EQ(db_aws_policy_detach(db, b, group), -ENOENT);
    CHECK_EQ(db_aws_policy_detach(db, b, cert), 0);
    CHECK_EQ(db_aws_policy_detach(db, b, cert), -ENOENT);
    CHECK_EQ(db_aws_policy_attach(db, b, cert, 6), 0);

    /* A certificate delete leaves the targets; the API forgets them. */
    fill_cert(&c, "abc", NULL);
    CHECK_EQ(db_aws_cert_insert(db, &c), 0);
    CHECK_EQ(db_aws_cert_delete(db, "abc"), 0);
    CHECK_EQ(db_aws_target_policy_count(db, cert, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(db_aws_target_forget(db, cert), 2);
    CHECK_EQ(db_aws_target_forget(db, cert), 0);
    CHECK_EQ(db_aws_target_policy_count(db, cert, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_aws_target_policy_count(db, group, &n), 0);
    CHECK_EQ(n, 1);                        /* other targets stay */

    CHECK_EQ(db_aws_policy_detach(db, a, group), 0);
    CHECK_EQ(db_aws_policy_version_set_default(db, a, 1, 11), 0);
    CHECK_EQ(db_aws_policy_version_delete(db, a, 2), 0);
    CHECK_EQ(db_aws_policy_version_delete(db, b, 2), 0);
    CHECK_EQ(db_aws_policy_delete(db, a), 0);
    CHECK_EQ(db_aws_policy_delete(db, b), 0);
}

/* ---- thing principals ---- */

static void test_principals(struct db *db) {
    const char *p1 = "arn:aws:iot:us-east-1:123456789012:cert/p1";
    const char *p2 = "arn:aws:iot:us-east-1:123456789012:cert/p2";
    int64_t t1 = add_thing(db, "pt-1", NULL, NULL);
    int64_t t2 = add_thing(db, "pt-2", NULL, "{\"a\":\"b\"}");
    struct got g;
    int64_t n = -1;

    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-1", p1), 0);
    CHECK_EQ(db_aws_thing_principal_attach(db, t1, p1, false, 1), 0);
    CHECK_EQ(db_aws_thing_principal_attach(db, t1, p1, false, 2), 0);   /* idempotent */
    CHECK_EQ(db_aws_thing_principal_attach(db, t1, p2, true, 3), 0);
    CHECK_EQ(db_aws_thing_principal_attach(db, t2, p1, false, 4), 0);
    CHECK_EQ(db_aws_thing_principal_attach(db, 999999, p1, false, 5), -ENOENT);
    CHECK(strstr(db_last_error(db), "thing not found") != NULL);
    CHECK_EQ(db_aws_thing_principal_attach(db, t1, "", false, 5), -EINVAL);

    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-1", p1), 1);
    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-1", p2), 1);
    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-2", p2), 0);
    CHECK_EQ(db_aws_thing_principal_exists(db, "nope", p1), 0);
    CHECK_EQ(db_aws_principal_thing_count(db, p1, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(db_aws_principal_thing_count(db, "arn:none", &n), 0);
    CHECK_EQ(n, 0);

    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_principals(db, t1, 0, 0, got_text, &g), 2);
    CHECK_STR(g.name[0], p1);
    CHECK_STR(g.name[1], p2);
    int64_t first = g.rowid[0];
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_principals(db, t1, first, 0, got_text, &g), 1);
    CHECK_STR(g.name[0], p2);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_principals(db, t1, 0, 1, got_text, &g), 1);

    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_principal_things(db, p1, 0, 0, got_principal_thing, &g), 2);
    CHECK_STR(g.name[0], "pt-1");
    CHECK_STR(g.name[1], "pt-2");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_principal_things(db, p1, first, 0, got_principal_thing, &g), 1);
    CHECK_STR(g.name[0], "pt-2");
    memset(&g, 0, sizeof g);
    g.fail_with = -EPERM;
    CHECK_EQ(db_aws_principal_things(db, p1, 0, 0, got_principal_thing, &g), -EPERM);
    CHECK_EQ(g.n, 1);

    CHECK_EQ(db_aws_thing_principal_detach(db, t2, p2), -ENOENT);
    CHECK_EQ(db_aws_thing_principal_detach(db, t2, p1), 0);
    CHECK_EQ(db_aws_thing_principal_detach(db, t2, p1), -ENOENT);
    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-2", p1), 0);

    /* A thing delete takes its attachments with it. */
    CHECK_EQ(db_aws_thing_delete(db, t1), 0);
    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-1", p1), 0);
    CHECK_EQ(db_aws_principal_thing_count(db, p1, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_aws_principal_thing_count(db, p2, &n), 0);
    CHECK_EQ(n, 0);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_thing_principals(db, t1, 0, 0, got_text, &g), 0);
    /* A new thing under the old name does not inherit them. */
    int64_t t1b = add_thing(db, "pt-1", NULL, NULL);
    CHECK(t1b != t1);
    CHECK_EQ(db_aws_thing_principal_exists(db, "pt-1", p1), 0);
    CHECK_EQ(db_aws_thing_delete(db, t1b), 0);
    CHECK_EQ(db_aws_thing_delete(db, t2), 0);
}

/* ---- settings ---- */

static void test_settings(struct db *db) {
    char out[16];

    memcpy(out, "untouched", 10);
    CHECK_EQ(db_aws_setting_get(db, "registration_code", out, sizeof out), -ENOENT);
    CHECK_STR(out, "untouched");
    CHECK_EQ(db_aws_setting_set(db, "registration_code", "abc123"), 0);
    CHECK_EQ(db_aws_setting_get(db, "registration_code", out, sizeof out), 0);
    CHECK_STR(out, "abc123");
    CHECK_EQ(db_aws_setting_set(db, "registration_code", "def"), 0);    /* overwrite */
    CHECK_EQ(db_aws_setting_get(db, "registration_code", out, sizeof out), 0);
    CHECK_STR(out, "def");
    CHECK_EQ(db_aws_setting_set(db, "endpoint_prefix", "0123456789abcdef"), 0);
    memcpy(out, "untouched", 10);
    CHECK_EQ(db_aws_setting_get(db, "endpoint_prefix", out, sizeof out), -EMSGSIZE);
    CHECK_STR(out, "untouched");           /* a cut value would be a wrong one */
    CHECK_EQ(db_aws_setting_set(db, "empty", ""), 0);
    CHECK_EQ(db_aws_setting_get(db, "empty", out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_EQ(db_aws_setting_set(db, "", "x"), -EINVAL);
    CHECK_EQ(db_aws_setting_set(db, "k", NULL), -EINVAL);

    CHECK_EQ(db_aws_setting_delete(db, "registration_code"), 0);
    CHECK_EQ(db_aws_setting_delete(db, "registration_code"), -ENOENT);
    CHECK_EQ(db_aws_setting_get(db, "registration_code", out, sizeof out), -ENOENT);
    char big[17];
    CHECK_EQ(db_aws_setting_get(db, "endpoint_prefix", big, sizeof big), 0);   /* others stay */
    CHECK_STR(big, "0123456789abcdef");
}

/* ---- inside a caller's transaction ---- */

/* A failing multi-row write inside db_begin rolls back its savepoint
 * only; the caller's earlier writes stay and commit. */
static void test_in_transaction(struct db *db) {
    struct db_aws_policy p;
    int64_t ver = -1, pr;

    CHECK_EQ(db_begin(db), 0);
    pr = add_policy(db, "txn-pol", "{}");
    for (int i = 0; i < DB_AWS_MAX_POLICY_VERSIONS - 1; i++)
        CHECK_EQ(db_aws_policy_version_add(db, pr, "{}", false, 1, &ver), 0);
    CHECK_EQ(db_aws_policy_version_add(db, pr, "{}", false, 1, &ver), -E2BIG);
    CHECK_EQ(db_aws_policy_version_delete(db, pr, 1), -EBUSY);
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "txn-pol");
    CHECK_EQ(db_aws_policy_insert(db, &p, "{}", 1), -EEXIST);
    CHECK_EQ(db_commit(db), 0);
    CHECK_EQ(db_aws_policy_get(db, "txn-pol", &p), 0);
    CHECK_EQ(p.generation, DB_AWS_MAX_POLICY_VERSIONS);
    struct db_aws_policy_version v;
    CHECK_EQ(db_aws_policy_version_get(db, pr, DB_AWS_MAX_POLICY_VERSIONS, &v), 0);
    db_aws_policy_version_clear(&v);
    CHECK_EQ(db_aws_policy_version_get(db, pr, DB_AWS_MAX_POLICY_VERSIONS + 1, &v), -ENOENT);

    /* Rolled back as a whole: the policy and its version 1 go together. */
    CHECK_EQ(db_begin(db), 0);
    add_policy(db, "rolled-back", "{}");
    CHECK_EQ(db_rollback(db), 0);
    CHECK_EQ(db_aws_policy_get(db, "rolled-back", &p), -ENOENT);
}

/* ---- provisioning templates (migration 0004) ---- */

static int64_t add_template(struct db *db, const char *name, const char *body, int64_t now_us) {
    struct db_aws_template t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.template_id, sizeof t.template_id, "tid-%s", name);
    snprintf(t.type, sizeof t.type, "FLEET_PROVISIONING");
    CHECK_EQ(db_aws_template_insert(db, &t, body, now_us), 0);
    CHECK(t.rowid > 0);
    return t.rowid;
}

static int got_template(const struct db_aws_template *t, void *ud) {
    return got_add(ud, t->rowid, t->name);
}

static int got_template_version(const struct db_aws_template_version *v, void *ud) {
    return got_add(ud, v->version, v->body);
}

/* A list callback that runs other queries on the same handle. */
static int template_default_body(const struct db_aws_template *t, void *ud) {
    char *body = NULL;
    int r = db_aws_template_get_default_body(nested_db, t->name, &body, NULL, NULL);
    if (r < 0)
        return r;
    r = got_add(ud, t->rowid, body);
    free(body);
    return r;
}

/* A provisioning request (by template name) and ListProvisioningTemplate-
 * Versions must search by index. The texts mirror db_sql.c's. */
static const char py_template_plans[] =
    "import sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1])\n"
    "qs = [\n"
    " ('SELECT v.body, t.enabled, t.type FROM aws_prov_templates t '\n"
    "  'JOIN aws_prov_template_versions v ON v.template_pk = t.pk '\n"
    "  'AND v.version = t.default_version WHERE t.name = ?1', ('x',)),\n"
    " ('SELECT template_pk, version, body, created_us FROM aws_prov_template_versions '\n"
    "  'WHERE template_pk = ?1 AND version > ?2 ORDER BY version LIMIT ?3', (1, 0, -1)),\n"
    "]\n"
    "bad = 0\n"
    "for sql, args in qs:\n"
    "    plan = [r[3] for r in con.execute('EXPLAIN QUERY PLAN ' + sql, args)]\n"
    "    scans = [d for d in plan if d.startswith('SCAN')]\n"
    "    if scans or any('TEMP B-TREE' in d for d in plan):\n"
    "        print(sql, plan, file=sys.stderr)\n"
    "        bad = 1\n"
    "sys.exit(bad)\n";

static void test_templates(struct db *db, const char *path) {
    struct db_aws_template t, got;
    struct got g;
    char *body = NULL;
    char type[DB_AWS_TEMPLATE_TYPE_MAX];
    bool enabled = false;
    int64_t tr;

    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "fleet");
    snprintf(t.template_id, sizeof t.template_id, "0d6e1c2a-uuid");
    snprintf(t.type, sizeof t.type, "JITP");
    t.description = "claim template";
    t.enabled = true;
    t.role_arn = "arn:aws:iam::123456789012:role/Prov";
    t.pre_hook_json = "{\"targetArn\":\"arn:aws:lambda:r:1:function:f\"}";
    CHECK_EQ(db_aws_template_insert(db, &t, "{\"Resources\":{}}", 1000), 0);
    tr = t.rowid;
    CHECK(tr > 0);
    CHECK_EQ(t.default_version, 1);
    CHECK_EQ(t.created_us, 1000);
    CHECK_EQ(t.modified_us, 1000);
    t.rowid = 0;
    CHECK_EQ(db_aws_template_insert(db, &t, "{}", 2000), -EEXIST);
    CHECK_EQ(t.rowid, 0);
    CHECK_EQ(db_aws_template_insert(db, &t, NULL, 2000), -EINVAL);
    CHECK_EQ(db_aws_template_insert(NULL, &t, "{}", 2000), -EINVAL);
    CHECK_EQ(db_aws_template_insert(db, NULL, "{}", 2000), -EINVAL);
    snprintf(t.name, sizeof t.name, "no-type");
    t.type[0] = '\0';
    CHECK_EQ(db_aws_template_insert(db, &t, "{}", 2000), -EINVAL);
    t.name[0] = '\0';
    snprintf(t.type, sizeof t.type, "JITP");
    CHECK_EQ(db_aws_template_insert(db, &t, "{}", 2000), -EINVAL);
    memset(t.name, 'n', sizeof t.name);    /* not terminated within the field */
    CHECK_EQ(db_aws_template_insert(db, &t, "{}", 2000), -EINVAL);
    CHECK_EQ(db_aws_template_get(db, "no-type", &got), -ENOENT);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_template_get(db, "fleet", &got), 0);
    CHECK_EQ(got.rowid, tr);
    CHECK_STR(got.name, "fleet");
    CHECK_STR(got.template_id, "0d6e1c2a-uuid");
    CHECK_STR(got.description, "claim template");
    CHECK(got.enabled);
    CHECK_STR(got.role_arn, "arn:aws:iam::123456789012:role/Prov");
    CHECK_STR(got.type, "JITP");
    CHECK_STR(got.pre_hook_json, "{\"targetArn\":\"arn:aws:lambda:r:1:function:f\"}");
    CHECK_EQ(got.default_version, 1);
    CHECK_EQ(got.created_us, 1000);
    CHECK_EQ(got.modified_us, 1000);
    db_aws_template_clear(&got);
    CHECK(got.description == NULL && got.role_arn == NULL && got.pre_hook_json == NULL);
    db_aws_template_clear(NULL);
    got.rowid = -1;
    CHECK_EQ(db_aws_template_get(db, "nope", &got), -ENOENT);
    CHECK_EQ(got.rowid, -1);               /* untouched on failure */
    CHECK(strstr(db_last_error(db), "not found") != NULL);

    /* NULL description and role store "" (and read back non-NULL); no hook. */
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "bare");
    snprintf(t.type, sizeof t.type, "FLEET_PROVISIONING");
    CHECK_EQ(db_aws_template_insert(db, &t, "{\"Resources\":{\"a\":{}}}", 1500), 0);
    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_template_get(db, "bare", &got), 0);
    CHECK_STR(got.description, "");
    CHECK_STR(got.role_arn, "");
    CHECK_STR(got.template_id, "");
    CHECK(got.pre_hook_json == NULL);
    CHECK(!got.enabled);

    /* Update: the settings, then a default version that does not exist,
     * which changes nothing. */
    free(got.description);
    got.description = strdup("changed");
    got.enabled = true;
    free(got.role_arn);
    got.role_arn = strdup("arn:aws:iam::123456789012:role/Other");
    got.pre_hook_json = strdup("{\"targetArn\":\"x\"}");
    CHECK(got.description && got.role_arn && got.pre_hook_json);
    CHECK_EQ(db_aws_template_update(db, &got, 1600), 0);
    got.default_version = 2;
    free(got.description);
    got.description = strdup("lost");
    CHECK_EQ(db_aws_template_update(db, &got, 1700), -ENOENT);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_get(db, "bare", &got), 0);
    CHECK_STR(got.description, "changed");
    CHECK(got.enabled);
    CHECK_STR(got.role_arn, "arn:aws:iam::123456789012:role/Other");
    CHECK_STR(got.pre_hook_json, "{\"targetArn\":\"x\"}");
    CHECK_EQ(got.default_version, 1);
    CHECK_EQ(got.created_us, 1500);
    CHECK_EQ(got.modified_us, 1600);
    /* NULL hook removes it; a missing template is -ENOENT. */
    free(got.pre_hook_json);
    got.pre_hook_json = NULL;
    CHECK_EQ(db_aws_template_update(db, &got, 1800), 0);
    got.rowid = 999999;
    CHECK_EQ(db_aws_template_update(db, &got, 1800), -ENOENT);
    CHECK_EQ(db_aws_template_update(db, NULL, 1800), -EINVAL);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_get(db, "bare", &got), 0);
    CHECK(got.pre_hook_json == NULL);
    CHECK_EQ(got.modified_us, 1800);
    db_aws_template_clear(&got);

    /* The default body by name: one read for a provisioning request. */
    memset(type, 'z', sizeof type);
    CHECK_EQ(db_aws_template_get_default_body(db, "fleet", &body, &enabled, type), 0);
    CHECK_STR(body, "{\"Resources\":{}}");
    CHECK(enabled);
    CHECK_STR(type, "JITP");
    free(body);
    body = NULL;
    CHECK_EQ(db_aws_template_get_default_body(db, "bare", &body, NULL, NULL), 0);
    CHECK_STR(body, "{\"Resources\":{\"a\":{}}}");
    free(body);
    body = (char *)"kept";
    enabled = false;
    CHECK_EQ(db_aws_template_get_default_body(db, "nope", &body, &enabled, type), -ENOENT);
    CHECK_STR(body, "kept");               /* outputs untouched on failure */
    CHECK(!enabled);
    CHECK_STR(type, "JITP");
    CHECK_EQ(db_aws_template_get_default_body(db, "fleet", NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(db_aws_template_get_default_body(db, NULL, &body, NULL, NULL), -EINVAL);

    /* Listing in creation order, paged by rowid; callbacks may query. */
    int64_t c = add_template(db, "third", "{\"Resources\":{\"c\":{}}}", 3000);
    int64_t bare = 0;
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_list(db, 0, 0, got_template, &g), 3);
    CHECK_STR(g.name[0], "fleet");
    CHECK_STR(g.name[1], "bare");
    CHECK_STR(g.name[2], "third");
    CHECK_EQ(g.rowid[0], tr);
    CHECK_EQ(g.rowid[2], c);
    bare = g.rowid[1];
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_list(db, tr, 1, got_template, &g), 1);
    CHECK_STR(g.name[0], "bare");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_list(db, c, 0, got_template, &g), 0);
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    CHECK_EQ(db_aws_template_list(db, 0, 0, got_template, &g), 2);
    memset(&g, 0, sizeof g);
    g.fail_with = -EIO;
    CHECK_EQ(db_aws_template_list(db, 0, 0, got_template, &g), -EIO);
    CHECK_EQ(g.n, 1);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_list(db, 0, 0, template_default_body, &g), 3);
    CHECK_STR(g.name[2], "{\"Resources\":{\"c\":{}}}");
    CHECK_EQ(db_aws_template_list(db, 0, 0, NULL, &g), -EINVAL);

    /* Delete: the versions go with the template. */
    CHECK_EQ(db_aws_template_version_add(db, c, "{\"v\":2}", true, 3100, NULL), 0);
    CHECK_EQ(db_aws_template_delete(db, c), 0);
    CHECK_EQ(db_aws_template_delete(db, c), -ENOENT);
    CHECK_EQ(db_aws_template_get(db, "third", &got), -ENOENT);
    struct db_aws_template_version v;
    CHECK_EQ(db_aws_template_version_get(db, c, 1, &v), -ENOENT);
    CHECK_EQ(db_aws_template_version_get(db, c, 2, &v), -ENOENT);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_version_list(db, c, 0, 0, got_template_version, &g), 0);
    CHECK_EQ(db_aws_template_get_default_body(db, "third", &body, NULL, NULL), -ENOENT);
    CHECK_EQ(db_aws_template_delete(db, bare), 0);
    /* The name is free again: a new template starts at version 1. */
    int64_t again = add_template(db, "third", "{}", 4000);
    CHECK(again != c);
    CHECK_EQ(db_aws_template_get(db, "third", &got), 0);
    CHECK_EQ(got.default_version, 1);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_delete(db, again), 0);

    CHECK_EQ(run_python(py_template_plans, path, NULL, NULL), 0);
}

static void test_template_versions(struct db *db) {
    struct db_aws_template got;
    struct db_aws_template_version v;
    struct got g;
    int64_t tr, ver = -1;
    char *body = NULL;

    tr = add_template(db, "versioned", "{\"v\":1}", 1000);

    memset(&v, 0, sizeof v);
    CHECK_EQ(db_aws_template_version_get(db, tr, 1, &v), 0);
    CHECK_EQ(v.template_rowid, tr);
    CHECK_EQ(v.version, 1);
    CHECK_STR(v.body, "{\"v\":1}");
    CHECK_EQ(v.created_us, 1000);
    db_aws_template_version_clear(&v);
    CHECK(v.body == NULL);
    db_aws_template_version_clear(NULL);

    /* Up to five versions; the sixth is refused and leaves nothing. */
    for (int i = 2; i <= DB_AWS_MAX_TEMPLATE_VERSIONS; i++) {
        char doc[32];
        snprintf(doc, sizeof doc, "{\"v\":%d}", i);
        CHECK_EQ(db_aws_template_version_add(db, tr, doc, false, 1000 + i, &ver), 0);
        CHECK_EQ(ver, i);
    }
    memset(&got, 0, sizeof got);
    CHECK_EQ(db_aws_template_get(db, "versioned", &got), 0);
    CHECK_EQ(got.default_version, 1);      /* not asked to become the default */
    CHECK_EQ(got.modified_us, 1005);
    CHECK_EQ(got.created_us, 1000);
    db_aws_template_clear(&got);
    ver = -1;
    CHECK_EQ(db_aws_template_version_add(db, tr, "{}", true, 2000, &ver), -E2BIG);
    CHECK_EQ(ver, -1);
    CHECK_EQ(db_aws_template_get(db, "versioned", &got), 0);
    CHECK_EQ(got.default_version, 1);
    CHECK_EQ(got.modified_us, 1005);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_version_get(db, tr, 6, &v), -ENOENT);
    CHECK_EQ(db_aws_template_version_add(db, 999999, "{}", true, 2000, &ver), -ENOENT);
    CHECK_EQ(db_aws_template_version_add(db, tr, NULL, true, 2000, &ver), -EINVAL);

    /* Ids are never reused; a delete is a change of the template. */
    CHECK_EQ(db_aws_template_version_delete(db, tr, 5, 2500), 0);
    CHECK_EQ(db_aws_template_version_delete(db, tr, 5, 2500), -ENOENT);
    CHECK_EQ(db_aws_template_version_get(db, tr, 5, &v), -ENOENT);
    CHECK_EQ(db_aws_template_get(db, "versioned", &got), 0);
    CHECK_EQ(got.modified_us, 2500);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_version_add(db, tr, "{\"v\":6}", true, 3000, &ver), 0);
    CHECK_EQ(ver, 6);
    CHECK_EQ(db_aws_template_get(db, "versioned", &got), 0);
    CHECK_EQ(got.default_version, 6);
    CHECK_EQ(got.modified_us, 3000);
    CHECK_EQ(db_aws_template_get_default_body(db, "versioned", &body, NULL, NULL), 0);
    CHECK_STR(body, "{\"v\":6}");
    free(body);

    /* The default cannot go; moving it (update) frees the old one. */
    CHECK_EQ(db_aws_template_version_delete(db, tr, 6, 3100), -EBUSY);
    CHECK(strstr(db_last_error(db), "default") != NULL);
    CHECK_EQ(db_aws_template_version_delete(db, 999999, 1, 3100), -ENOENT);
    got.default_version = 2;
    CHECK_EQ(db_aws_template_update(db, &got, 3200), 0);
    db_aws_template_clear(&got);
    CHECK_EQ(db_aws_template_version_delete(db, tr, 2, 3300), -EBUSY);
    CHECK_EQ(db_aws_template_version_delete(db, tr, 6, 3300), 0);
    CHECK_EQ(db_aws_template_get_default_body(db, "versioned", &body, NULL, NULL), 0);
    CHECK_STR(body, "{\"v\":2}");
    free(body);

    /* Listing in version order, paged by version id. */
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_version_list(db, tr, 0, 0, got_template_version, &g), 4);
    CHECK_EQ(g.rowid[0], 1);
    CHECK_EQ(g.rowid[1], 2);
    CHECK_EQ(g.rowid[2], 3);
    CHECK_EQ(g.rowid[3], 4);
    CHECK_STR(g.name[3], "{\"v\":4}");
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_version_list(db, tr, 1, 2, got_template_version, &g), 2);
    CHECK_EQ(g.rowid[0], 2);
    CHECK_EQ(g.rowid[1], 3);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_version_list(db, tr, 4, 0, got_template_version, &g), 0);
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    CHECK_EQ(db_aws_template_version_list(db, tr, 0, 0, got_template_version, &g), 1);
    CHECK_EQ(db_aws_template_version_list(db, tr, 0, 0, NULL, &g), -EINVAL);
    memset(&g, 0, sizeof g);
    CHECK_EQ(db_aws_template_version_list(db, 999999, 0, 0, got_template_version, &g), 0);

    /* Inside a caller's transaction a refused add rolls back its own
     * savepoint only. */
    CHECK_EQ(db_begin(db), 0);
    CHECK_EQ(db_aws_template_version_add(db, tr, "{\"v\":7}", false, 4000, &ver), 0);
    CHECK_EQ(ver, 7);
    CHECK_EQ(db_aws_template_version_add(db, tr, "{}", false, 4000, &ver), -E2BIG);
    CHECK_EQ(db_aws_template_version_delete(db, tr, 2, 4000), -EBUSY);
    CHECK_EQ(db_commit(db), 0);
    CHECK_EQ(db_aws_template_version_get(db, tr, 7, &v), 0);
    CHECK_STR(v.body, "{\"v\":7}");
    db_aws_template_version_clear(&v);
    /* Rolled back as a whole: a template and its version 1 together. */
    CHECK_EQ(db_begin(db), 0);
    add_template(db, "rolled-back", "{}", 5000);
    CHECK_EQ(db_rollback(db), 0);
    CHECK_EQ(db_aws_template_get(db, "rolled-back", &got), -ENOENT);
    CHECK_EQ(db_aws_template_get_default_body(db, "rolled-back", &body, NULL, NULL), -ENOENT);
    /* "versioned" stays for the reopen check in main. */
}

static void cleanup(void) {
    tu_tmpdir_cleanup(tmpdir);
}

int main(void) {
    char path[512];
    struct db *db;

    /* Later steps build on earlier ones: stop at the first failure. */
    tu_set_fatal(true);
    CHECK(tu_mkdtemp(tmpdir, sizeof tmpdir, "test_db_aws") == 0);
    atexit(cleanup);

    test_schema();
    test_upgrade_from_v2();

    db = open_fresh("aws.db", path, sizeof path);
    nested_db = db;
    test_thing_types(db);
    test_things(db);
    test_thing_list(db);
    test_certs(db);
    test_policies(db);
    test_targets(db);
    test_principals(db);
    test_settings(db);
    test_in_transaction(db);
    test_templates(db, path);
    test_template_versions(db);
    db_close(db);

    /* Reopened: the data is kept, and the file is sound. */
    db = NULL;
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_schema_version(db), 4);
    char out[32];
    CHECK_EQ(db_aws_setting_get(db, "endpoint_prefix", out, sizeof out), 0);
    CHECK_STR(out, "0123456789abcdef");
    struct db_aws_policy p;
    CHECK_EQ(db_aws_policy_get(db, "txn-pol", &p), 0);
    char *body = NULL;
    CHECK_EQ(db_aws_template_get_default_body(db, "versioned", &body, NULL, NULL), 0);
    CHECK_STR(body, "{\"v\":2}");
    free(body);
    db_close(db);
    check_integrity(path);

    return tu_finish("test_db_aws");
}
