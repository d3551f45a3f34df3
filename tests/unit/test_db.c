/* Unit tests of the store (db/): real SQLite files in a fresh mkdtemp
 * directory, one per test. Covers migrations and the schema-version guard,
 * WAL mode, registry/device CRUD and their errors, num_id draws, credentials,
 * config versions, states, batched marks, cascades and client-id lookups.
 * The test does not include sqlite3.h (only db/ may); where it must look at
 * the file itself it reads the documented header fields directly. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "testutil.h"

/* On failure the files stay in tmpdir for a look (see cleanup). */
static char tmpdir[256];

static void path_in_tmp(char *out, size_t cap, const char *name) {
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    CHECK(n > 0 && (size_t)n < cap);
}

static void remove_db_files(const char *path) {
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

static struct db *open_fresh(const char *name, char *path_out, size_t cap) {
    struct db *db = NULL;
    path_in_tmp(path_out, cap, name);
    remove_db_files(path_out);
    CHECK_EQ(db_open(path_out, &db), 0);
    CHECK(db != NULL);
    return db;
}

static void read_bytes(const char *path, long off, uint8_t *out, size_t n) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, off, SEEK_SET) == 0);
    CHECK(fread(out, 1, n, f) == n);
    fclose(f);
}

static void write_bytes(const char *path, long off, const uint8_t *in, size_t n) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, off, SEEK_SET) == 0);
    CHECK(fwrite(in, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int64_t add_registry(struct db *db, const char *project, const char *id) {
    struct db_registry r;
    memset(&r, 0, sizeof r);
    snprintf(r.project, sizeof r.project, "%s", project);
    snprintf(r.location, sizeof r.location, "us-central1");
    snprintf(r.id, sizeof r.id, "%s", id);
    CHECK_EQ(db_registry_insert(db, &r), 0);
    CHECK(r.rowid > 0);
    return r.rowid;
}

static int64_t add_device(struct db *db, int64_t reg, const char *id, uint64_t *ret_num_id) {
    struct db_device d;
    memset(&d, 0, sizeof d);
    d.registry_rowid = reg;
    snprintf(d.id, sizeof d.id, "%s", id);
    CHECK_EQ(db_device_insert(db, &d), 0);
    CHECK(d.rowid > 0);
    CHECK(d.num_id != 0);
    if (ret_num_id)
        *ret_num_id = d.num_id;
    return d.rowid;
}

/* ---- migrations, WAL, schema guard ---- */

static void test_migrations(void) {
    char path[512], wal[560], err[256];
    uint8_t hdr[4], before[4096], after[4096];
    struct db *db = open_fresh("migrations.db", path, sizeof path);
    struct db_registry r;
    int latest = db_schema_latest();

    CHECK(latest >= 1);
    CHECK_EQ(db_schema_version(db), latest);
    add_registry(db, "p", "r1");

    /* WAL: file format bytes 18 and 19 (read/write version) are 2. */
    read_bytes(path, 18, hdr, 2);
    CHECK_EQ(hdr[0], 2);
    CHECK_EQ(hdr[1], 2);
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(file_exists(wal));
    db_close(db);

    /* Reopening is idempotent and keeps the data. */
    db = NULL;
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_schema_version(db), latest);
    memset(&r, 0, sizeof r);
    CHECK_EQ(db_registry_get(db, "p", "us-central1", "r1", &r), 0);
    db_registry_clear(&r);
    db_close(db);
    db = NULL;
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_schema_version(db), latest);
    db_close(db);

    /* A newer schema: user_version is the big-endian u32 at offset 60. The
     * last close checkpointed and removed the -wal file, so the main file is
     * all there is. */
    CHECK(!file_exists(wal));
    uint32_t future = (uint32_t)latest + 1;
    uint8_t be[4] = {(uint8_t)(future >> 24), (uint8_t)(future >> 16), (uint8_t)(future >> 8),
                     (uint8_t)future};
    write_bytes(path, 60, be, 4);
    read_bytes(path, 0, before, sizeof before);
    db = (struct db *)&db;                 /* sentinel: must stay untouched */
    CHECK_EQ(db_open(path, &db), -EPROTONOSUPPORT);
    CHECK(db == (struct db *)&db);
    CHECK_EQ(db_open_err(path, &db, err, sizeof err), -EPROTONOSUPPORT);
    CHECK(strstr(err, "newer") != NULL);
    read_bytes(path, 0, after, sizeof after);
    CHECK(memcmp(before, after, sizeof before) == 0);   /* refused without writing */

    /* Not a database at all. */
    path_in_tmp(path, sizeof path, "garbage.db");
    remove_db_files(path);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (int i = 0; i < 4096; i++)
        fputc('x', f);
    fclose(f);
    CHECK_EQ(db_open_err(path, &db, err, sizeof err), -EIO);
    CHECK(err[0] != '\0');
    CHECK(db == (struct db *)&db);

    db_close(NULL);                        /* NULL-safe */
}

/* ---- registries ---- */

struct collect {
    int64_t rowids[64];
    int n;
    int stop_after;                        /* 0 = never */
};

static int collect_registry(const struct db_registry *r, void *ud) {
    struct collect *c = ud;
    CHECK(c->n < 64);
    c->rowids[c->n++] = r->rowid;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static int fail_registry(const struct db_registry *r, void *ud) {
    (void)r;
    (void)ud;
    return -ECANCELED;
}

static void test_registries(void) {
    char path[512];
    struct db *db = open_fresh("registries.db", path, sizeof path);
    struct db_registry r, got;
    struct collect c;
    int64_t a, b, d1;

    memset(&r, 0, sizeof r);
    snprintf(r.project, sizeof r.project, "proj");
    snprintf(r.location, sizeof r.location, "europe-west1");
    snprintf(r.id, sizeof r.id, "reg-a");
    r.extra_json = "{\"logLevel\":\"INFO\"}";
    CHECK_EQ(db_registry_insert(db, &r), 0);
    a = r.rowid;
    CHECK(a > 0);
    CHECK(r.created_us > 0);               /* 0 became now */
    r.rowid = 0;
    CHECK_EQ(db_registry_insert(db, &r), -EEXIST);
    CHECK(strstr(db_last_error(db), "UNIQUE") != NULL);
    CHECK_EQ(r.rowid, 0);                  /* untouched on failure */

    /* Same id under another location or project is another registry. */
    snprintf(r.location, sizeof r.location, "us-central1");
    r.created_us = 42;
    CHECK_EQ(db_registry_insert(db, &r), 0);
    CHECK_EQ(r.created_us, 42);
    b = r.rowid;
    CHECK(b != a);

    r.id[0] = '\0';
    CHECK_EQ(db_registry_insert(db, &r), -EINVAL);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_registry_get(db, "proj", "europe-west1", "reg-a", &got), 0);
    CHECK_EQ(got.rowid, a);
    CHECK(strcmp(got.project, "proj") == 0);
    CHECK(strcmp(got.location, "europe-west1") == 0);
    CHECK(strcmp(got.id, "reg-a") == 0);
    CHECK(got.extra_json && strcmp(got.extra_json, "{\"logLevel\":\"INFO\"}") == 0);
    db_registry_clear(&got);
    CHECK(got.extra_json == NULL);
    db_registry_clear(NULL);

    got.rowid = -7;
    CHECK_EQ(db_registry_get(db, "proj", "europe-west1", "nope", &got), -ENOENT);
    CHECK_EQ(got.rowid, -7);

    CHECK_EQ(db_registry_update_extra(db, a, NULL), 0);
    CHECK_EQ(db_registry_get_by_rowid(db, a, &got), 0);
    CHECK(got.extra_json == NULL);
    db_registry_clear(&got);
    CHECK_EQ(db_registry_update_extra(db, 9999, "{}"), -ENOENT);

    /* Listing pages by rowid within project/location. */
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "list-%d", i);
        memset(&r, 0, sizeof r);
        snprintf(r.project, sizeof r.project, "lp");
        snprintf(r.location, sizeof r.location, "asia-east1");
        snprintf(r.id, sizeof r.id, "%s", id);
        CHECK_EQ(db_registry_insert(db, &r), 0);
    }
    memset(&c, 0, sizeof c);
    CHECK_EQ(db_registry_list(db, "lp", "asia-east1", 0, 3, collect_registry, &c), 3);
    CHECK_EQ(c.n, 3);
    CHECK(c.rowids[0] < c.rowids[1] && c.rowids[1] < c.rowids[2]);
    int64_t last = c.rowids[2];
    memset(&c, 0, sizeof c);
    CHECK_EQ(db_registry_list(db, "lp", "asia-east1", last, 3, collect_registry, &c), 2);
    memset(&c, 0, sizeof c);
    CHECK_EQ(db_registry_list(db, "lp", "asia-east1", 0, 0, collect_registry, &c), 5);
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    CHECK_EQ(db_registry_list(db, "lp", "asia-east1", 0, 0, collect_registry, &c), 2);
    CHECK_EQ(db_registry_list(db, "lp", "asia-east1", 0, 0, fail_registry, NULL), -ECANCELED);
    memset(&c, 0, sizeof c);
    CHECK_EQ(db_registry_list(db, "none", "asia-east1", 0, 0, collect_registry, &c), 0);

    /* Delete refuses while devices exist (Google did). */
    d1 = add_device(db, a, "dev-1", NULL);
    CHECK_EQ(db_registry_delete(db, a), -ENOTEMPTY);
    CHECK_EQ(db_registry_get_by_rowid(db, a, &got), 0);
    db_registry_clear(&got);
    CHECK_EQ(db_device_delete(db, d1), 0);
    CHECK_EQ(db_registry_delete(db, a), 0);
    CHECK_EQ(db_registry_get_by_rowid(db, a, &got), -ENOENT);
    CHECK_EQ(db_registry_delete(db, a), -ENOENT);
    CHECK_EQ(db_registry_delete(db, b), 0);
    db_close(db);
}

/* ---- devices ---- */

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

struct seq_source {
    uint64_t values[8];
    int n, next;
};

static int seq_num_id(void *ud, uint64_t *ret) {
    struct seq_source *s = ud;
    if (s->next >= s->n)
        return -EAGAIN;
    *ret = s->values[s->next++];
    return 0;
}

static int count_device(const struct db_device *d, void *ud) {
    int64_t *last = ud;
    CHECK(d->rowid > *last);               /* pk order */
    *last = d->rowid;
    return 0;
}

static void test_devices(void) {
    char path[512];
    struct db *db = open_fresh("devices.db", path, sizeof path);
    enum { N = 2000 };
    static uint64_t nums[N];
    struct db_device d, got;
    struct db_stats st0, st1;
    int64_t reg = add_registry(db, "p", "reg"), reg2 = add_registry(db, "p", "reg2");
    int64_t n, first = 0;

    /* Many inserts in one caller transaction; every num_id non-zero, below
     * 2^63 and distinct. */
    CHECK_EQ(db_begin(db), 0);
    CHECK_EQ(db_begin(db), -EBUSY);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d", i);
        int64_t rowid = add_device(db, reg, id, &nums[i]);
        if (i == 0)
            first = rowid;
        CHECK(nums[i] != 0 && nums[i] < (UINT64_C(1) << 63));
    }
    CHECK_EQ(db_commit(db), 0);
    qsort(nums, N, sizeof nums[0], cmp_u64);
    for (int i = 1; i < N; i++)
        CHECK(nums[i] != nums[i - 1]);
    CHECK_EQ(db_device_count(db, reg, &n), 0);
    CHECK_EQ(n, N);
    int64_t last = 0;
    CHECK_EQ(db_device_list(db, reg, 0, 0, count_device, &last), N);
    last = first;
    CHECK_EQ(db_device_list(db, reg, first, 10, count_device, &last), 10);

    /* Insert sets rowid, num_id, created; config version 1 exists, empty. */
    memset(&d, 0, sizeof d);
    d.registry_rowid = reg;
    snprintf(d.id, sizeof d.id, "dev-x");
    d.blocked = true;
    d.extra_json = "{\"metadata\":{\"k\":\"v\"}}";
    db_stats(db, &st0);
    CHECK_EQ(db_device_insert(db, &d), 0);
    db_stats(db, &st1);
    CHECK_EQ(st1.commits - st0.commits, 1);   /* device + config v1: one transaction */
    CHECK(d.created_us > 0);
    struct db_config cfg;
    CHECK_EQ(db_config_latest(db, d.rowid, &cfg), 0);
    CHECK_EQ(cfg.version, 1);
    CHECK_EQ(cfg.len, 0);
    CHECK(cfg.data != NULL);
    CHECK_EQ(cfg.cloud_update_us, d.created_us);
    CHECK_EQ(cfg.device_ack_us, 0);
    db_config_clear(&cfg);

    memset(&got, 0, sizeof got);
    CHECK_EQ(db_device_get_by_id(db, reg, "dev-x", &got), 0);
    CHECK_EQ(got.rowid, d.rowid);
    CHECK_EQ(got.registry_rowid, reg);
    CHECK(got.num_id == d.num_id);
    CHECK(got.blocked);
    CHECK(strcmp(got.id, "dev-x") == 0);
    CHECK(got.extra_json && strcmp(got.extra_json, d.extra_json) == 0);
    CHECK_EQ(got.created_us, d.created_us);
    CHECK_EQ(got.last_heartbeat_us, 0);
    db_device_clear(&got);
    CHECK(got.extra_json == NULL);
    db_device_clear(NULL);

    CHECK_EQ(db_device_get_by_num_id(db, reg, d.num_id, &got), 0);
    CHECK_EQ(got.rowid, d.rowid);
    db_device_clear(&got);
    CHECK_EQ(db_device_get_by_num_id(db, 0, d.num_id, &got), 0);   /* any registry */
    db_device_clear(&got);
    CHECK_EQ(db_device_get_by_num_id(db, reg2, d.num_id, &got), -ENOENT);
    CHECK_EQ(db_device_get_by_rowid(db, d.rowid, &got), 0);
    CHECK(strcmp(got.id, "dev-x") == 0);
    db_device_clear(&got);
    got.rowid = 77;
    CHECK_EQ(db_device_get_by_id(db, reg, "missing", &got), -ENOENT);
    CHECK_EQ(got.rowid, 77);

    /* Uniqueness is per registry; the registry must exist. */
    struct db_device dup = d;
    dup.rowid = 0;
    dup.num_id = 0;
    CHECK_EQ(db_device_insert(db, &dup), -EEXIST);
    CHECK_EQ(dup.rowid, 0);
    dup.registry_rowid = reg2;
    CHECK_EQ(db_device_insert(db, &dup), 0);
    dup.rowid = 0;
    dup.registry_rowid = 424242;
    CHECK_EQ(db_device_insert(db, &dup), -ENOENT);
    dup.registry_rowid = reg2;
    dup.id[0] = '\0';
    CHECK_EQ(db_device_insert(db, &dup), -EINVAL);

    /* Update blocked / extra_json. */
    d.blocked = false;
    d.extra_json = NULL;
    CHECK_EQ(db_device_update(db, &d), 0);
    CHECK_EQ(db_device_get_by_rowid(db, d.rowid, &got), 0);
    CHECK(!got.blocked);
    CHECK(got.extra_json == NULL);
    db_device_clear(&got);
    struct db_device ghost = d;
    ghost.rowid = 987654;
    CHECK_EQ(db_device_update(db, &ghost), -ENOENT);

    /* A num_id collision is retried with a fresh draw, invisibly. */
    struct seq_source src = {.values = {d.num_id, d.num_id, 0, 12345}, .n = 4};
    db_set_num_id_source(db, seq_num_id, &src);
    memset(&dup, 0, sizeof dup);
    dup.registry_rowid = reg;
    snprintf(dup.id, sizeof dup.id, "collides");
    CHECK_EQ(db_device_insert(db, &dup), 0);
    CHECK_EQ(dup.num_id, 12345);
    CHECK_EQ(src.next, 4);
    /* ...but an id conflict is the caller's, not retried. */
    src.next = 0;
    src.values[0] = 777;
    dup.rowid = 0;
    CHECK_EQ(db_device_insert(db, &dup), -EEXIST);
    CHECK_EQ(src.next, 1);
    /* A source that keeps colliding ends in an error, not a loop. */
    for (int i = 0; i < 8; i++)
        src.values[i] = 12345;
    src.n = 8;
    src.next = 0;
    snprintf(dup.id, sizeof dup.id, "unlucky");
    CHECK(db_device_insert(db, &dup) < 0);
    CHECK_EQ(db_device_get_by_id(db, reg, "unlucky", &got), -ENOENT);
    db_set_num_id_source(db, NULL, NULL);

    /* Import with a given num_id. */
    memset(&dup, 0, sizeof dup);
    dup.registry_rowid = reg;
    snprintf(dup.id, sizeof dup.id, "imported");
    dup.num_id = UINT64_C(18446744073709551615);   /* any non-zero uint64 */
    CHECK_EQ(db_device_insert_num_id(db, &dup), 0);
    CHECK_EQ(db_device_get_by_num_id(db, reg, UINT64_C(18446744073709551615), &got), 0);
    CHECK(got.num_id == UINT64_C(18446744073709551615));
    db_device_clear(&got);
    snprintf(dup.id, sizeof dup.id, "imported-2");
    CHECK_EQ(db_device_insert_num_id(db, &dup), -EEXIST);
    dup.num_id = 0;
    CHECK_EQ(db_device_insert_num_id(db, &dup), -EINVAL);

    /* Errors are written at once; long messages are cut on a UTF-8 boundary. */
    char msg[400];
    memset(msg, 'a', sizeof msg);
    memcpy(msg + 254, "\xc3\xa9", 2);      /* 'é' straddling byte 255 */
    msg[sizeof msg - 1] = '\0';
    CHECK_EQ(db_device_set_error(db, d.rowid, 1234, 9, msg), 0);
    CHECK_EQ(db_device_get_by_rowid(db, d.rowid, &got), 0);
    CHECK_EQ(got.last_error_us, 1234);
    CHECK_EQ(got.last_error_code, 9);
    CHECK_EQ(strlen(got.last_error_message), 254);
    db_device_clear(&got);
    CHECK_EQ(db_device_set_error(db, 555555, 1, 1, "x"), -ENOENT);
    db_close(db);
}

/* ---- credentials ---- */

static void test_credentials(void) {
    char path[512];
    struct db *db = open_fresh("creds.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    int64_t dev = add_device(db, reg, "d", NULL);
    struct db_credential in[4] = {
        {DB_KEY_ES256_PEM, "-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n", 0},
        {DB_KEY_RSA_X509_PEM, "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n",
         1700000000000000},
        {DB_KEY_RSA_PEM, "c", 0},
        {DB_KEY_ES256_X509_PEM, "d", 0},
    };
    struct db_credential out[DB_MAX_CREDENTIALS];
    size_t n = 99;

    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_credential_replace(db, dev, in, 2), 0);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0].format, DB_KEY_ES256_PEM);
    CHECK(strcmp(out[0].key_pem, in[0].key_pem) == 0);
    CHECK_EQ(out[0].expiration_us, 0);
    CHECK_EQ(out[1].format, DB_KEY_RSA_X509_PEM);
    CHECK(strcmp(out[1].key_pem, in[1].key_pem) == 0);
    CHECK_EQ(out[1].expiration_us, 1700000000000000);
    for (size_t i = 0; i < n; i++)
        db_credential_clear(&out[i]);
    db_credential_clear(NULL);

    /* Too many: refused, the old set stays. */
    CHECK_EQ(db_credential_replace(db, dev, in, 4), -E2BIG);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++)
        db_credential_clear(&out[i]);

    /* Replace is a replacement (order kept), not an append. */
    CHECK_EQ(db_credential_replace(db, dev, in + 1, 3), 0);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 3);
    CHECK_EQ(out[0].format, DB_KEY_RSA_X509_PEM);
    CHECK_EQ(out[2].format, DB_KEY_ES256_X509_PEM);
    for (size_t i = 0; i < n; i++)
        db_credential_clear(&out[i]);

    struct db_credential bad = {(enum db_key_format)9, "x", 0};
    CHECK_EQ(db_credential_replace(db, dev, &bad, 1), -EINVAL);
    CHECK_EQ(db_credential_replace(db, 31337, in, 1), -ENOENT);

    /* Inside a caller transaction with a device write; rolled back together. */
    struct db_device d;
    CHECK_EQ(db_device_get_by_rowid(db, dev, &d), 0);
    CHECK_EQ(db_begin(db), 0);
    d.blocked = true;
    CHECK_EQ(db_device_update(db, &d), 0);
    CHECK_EQ(db_credential_replace(db, dev, NULL, 0), 0);
    CHECK_EQ(db_credential_replace(db, dev, in, 4), -E2BIG);  /* does not end the transaction */
    CHECK_EQ(db_rollback(db), 0);
    CHECK_EQ(db_rollback(db), 0);          /* none open: fine */
    db_device_clear(&d);
    CHECK_EQ(db_device_get_by_rowid(db, dev, &d), 0);
    CHECK(!d.blocked);
    db_device_clear(&d);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < n; i++)
        db_credential_clear(&out[i]);

    CHECK_EQ(db_credential_replace(db, dev, NULL, 0), 0);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 0);
    db_close(db);
}

/* ---- config versions and states ---- */

static int collect_config(const struct db_config *c, void *ud) {
    struct collect *col = ud;
    CHECK(col->n < 64);
    CHECK(c->data != NULL);
    col->rowids[col->n++] = c->version;
    return 0;
}

static int collect_state(const struct db_state *s, void *ud) {
    struct collect *col = ud;
    CHECK(col->n < 64);
    CHECK(s->data != NULL && s->len <= 1);
    col->rowids[col->n++] = s->len ? s->data[0] : 0;
    return 0;
}

static void test_configs_states(void) {
    char path[512];
    struct db *db = open_fresh("configs.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    int64_t dev = add_device(db, reg, "d", NULL);
    int64_t v = -1;
    struct db_config c;
    struct db_state s;
    struct collect col;
    const uint8_t payload[] = {0x00, 0x01, 0xff, 0x00, 'x'};

    CHECK_EQ(db_config_add(db, dev, 1, payload, sizeof payload, 1000, &v), 0);
    CHECK_EQ(v, 2);
    v = -1;
    CHECK_EQ(db_config_add(db, dev, 1, "y", 1, 1001, &v), -ESTALE);
    CHECK_EQ(v, -1);
    CHECK_EQ(db_config_add(db, dev, 0, "z", 1, 1002, &v), 0);  /* 0: unconditional */
    CHECK_EQ(v, 3);
    CHECK_EQ(db_config_add(db, 5555, 0, "z", 1, 1002, &v), -ENOENT);

    CHECK_EQ(db_config_get(db, dev, 2, &c), 0);
    CHECK_EQ(c.len, sizeof payload);
    CHECK(memcmp(c.data, payload, sizeof payload) == 0);
    CHECK_EQ(c.cloud_update_us, 1000);
    db_config_clear(&c);
    db_config_clear(NULL);

    CHECK_EQ(db_config_ack(db, dev, 2, 2000), 0);
    CHECK_EQ(db_config_get(db, dev, 2, &c), 0);
    CHECK_EQ(c.device_ack_us, 2000);
    db_config_clear(&c);
    CHECK_EQ(db_config_ack(db, dev, 99, 2000), -ENOENT);

    /* Keep the last 10. */
    for (int i = 4; i <= 15; i++) {
        CHECK_EQ(db_config_add(db, dev, i - 1, &i, sizeof i, 3000 + i, &v), 0);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(db_config_latest(db, dev, &c), 0);
    CHECK_EQ(c.version, 15);
    CHECK_EQ(c.len, sizeof(int));
    db_config_clear(&c);
    memset(&col, 0, sizeof col);
    CHECK_EQ(db_config_list(db, dev, 0, collect_config, &col), DB_CONFIG_VERSIONS_KEPT);
    for (int i = 0; i < col.n; i++)
        CHECK_EQ(col.rowids[i], 15 - i);  /* newest first */
    memset(&col, 0, sizeof col);
    CHECK_EQ(db_config_list(db, dev, 3, collect_config, &col), 3);
    c.version = -3;
    CHECK_EQ(db_config_get(db, dev, 5, &c), -ENOENT);
    CHECK_EQ(c.version, -3);
    CHECK_EQ(db_config_get(db, dev, 6, &c), 0);
    db_config_clear(&c);
    CHECK_EQ(db_config_add(db, dev, 14, "x", 1, 1, &v), -ESTALE);

    /* States: keep the last 10 by arrival, even when the clock steps back. */
    CHECK_EQ(db_state_latest(db, dev, &s), -ENOENT);
    for (int i = 1; i <= 15; i++) {
        uint8_t b = (uint8_t)i;
        CHECK_EQ(db_state_add(db, dev, &b, 1, i == 15 ? 5 : 100 + i), 0);
    }
    CHECK_EQ(db_state_latest(db, dev, &s), 0);
    CHECK_EQ(s.len, 1);
    CHECK_EQ(s.data[0], 15);
    CHECK_EQ(s.update_us, 5);
    db_state_clear(&s);
    db_state_clear(NULL);
    memset(&col, 0, sizeof col);
    CHECK_EQ(db_state_list(db, dev, 0, collect_state, &col), DB_CONFIG_VERSIONS_KEPT);
    for (int i = 0; i < col.n; i++)
        CHECK_EQ(col.rowids[i], 15 - i);
    CHECK_EQ(db_state_add(db, 5555, "x", 1, 1), -ENOENT);

    /* An empty state is a real, empty payload. */
    CHECK_EQ(db_state_add(db, dev, NULL, 0, 200), 0);
    CHECK_EQ(db_state_latest(db, dev, &s), 0);
    CHECK_EQ(s.len, 0);
    CHECK(s.data != NULL);
    db_state_clear(&s);

    /* Other devices' histories are separate. */
    int64_t dev2 = add_device(db, reg, "d2", NULL);
    CHECK_EQ(db_state_add(db, dev2, "q", 1, 1), 0);
    memset(&col, 0, sizeof col);
    CHECK_EQ(db_state_list(db, dev, 0, collect_state, &col) >= 0, 1);
    CHECK_EQ(col.n, DB_CONFIG_VERSIONS_KEPT);
    db_close(db);
}

/* ---- marks ---- */

static void test_marks(void) {
    char path[512];
    struct db *db = open_fresh("marks.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    enum { N = 100 };
    int64_t devs[N];
    struct db_device d;
    struct db_stats st0, st1;

    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        devs[i] = add_device(db, reg, id, NULL);
    }
    CHECK_EQ(db_flush_marks(db), 0);       /* nothing pending: no transaction */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(db_device_mark(db, devs[i], DB_MARK_HEARTBEAT, 1000 + i), 0);
        CHECK_EQ(db_device_mark(db, devs[i], DB_MARK_EVENT, 2000 + i), 0);
    }
    /* Later marks win, even with an earlier time. */
    CHECK_EQ(db_device_mark(db, devs[0], DB_MARK_HEARTBEAT, 5), 0);
    CHECK_EQ(db_device_mark(db, devs[1], DB_MARK_CONFIG_ACK, 7), 0);
    CHECK_EQ(db_device_mark(db, devs[1], DB_MARK_CONFIG_SEND, 8), 0);
    CHECK_EQ(db_device_mark(db, devs[1], DB_MARK_STATE, 9), 0);
    CHECK_EQ(db_device_mark(db, devs[0], DB_MARK__COUNT, 1), -EINVAL);
    CHECK_EQ(db_device_mark(db, 0, DB_MARK_EVENT, 1), -EINVAL);

    db_stats(db, &st0);
    CHECK_EQ(st0.marks_pending, N);
    CHECK_EQ(db_device_get_by_rowid(db, devs[5], &d), 0);
    CHECK_EQ(d.last_heartbeat_us, 0);      /* not visible before the flush */
    db_device_clear(&d);

    /* Not inside a caller transaction: its rollback would lose them. */
    CHECK_EQ(db_begin(db), 0);
    CHECK_EQ(db_flush_marks(db), -EBUSY);
    CHECK_EQ(db_rollback(db), 0);

    CHECK_EQ(db_flush_marks(db), N);
    db_stats(db, &st1);
    CHECK_EQ(st1.commits - st0.commits, 1);   /* one transaction for all */
    CHECK_EQ(st1.marks_pending, 0);
    CHECK_EQ(db_device_get_by_rowid(db, devs[5], &d), 0);
    CHECK_EQ(d.last_heartbeat_us, 1005);
    CHECK_EQ(d.last_event_us, 2005);
    CHECK_EQ(d.last_state_us, 0);
    db_device_clear(&d);
    CHECK_EQ(db_device_get_by_rowid(db, devs[0], &d), 0);
    CHECK_EQ(d.last_heartbeat_us, 5);
    db_device_clear(&d);
    CHECK_EQ(db_device_get_by_rowid(db, devs[1], &d), 0);
    CHECK_EQ(d.last_config_ack_us, 7);
    CHECK_EQ(d.last_config_send_us, 8);
    CHECK_EQ(d.last_state_us, 9);
    db_device_clear(&d);
    CHECK_EQ(db_flush_marks(db), 0);

    /* A device deleted between mark and flush is skipped; the others land. */
    CHECK_EQ(db_device_mark(db, devs[2], DB_MARK_EVENT, 1), 0);
    CHECK_EQ(db_device_mark(db, devs[3], DB_MARK_EVENT, 3), 0);
    CHECK_EQ(db_device_delete(db, devs[2]), 0);
    CHECK_EQ(db_flush_marks(db), 2);
    CHECK_EQ(db_device_get_by_rowid(db, devs[3], &d), 0);
    CHECK_EQ(d.last_event_us, 3);
    db_device_clear(&d);
    CHECK_EQ(db_device_get_by_rowid(db, devs[2], &d), -ENOENT);
    /* A later device never inherits a deleted one's rowid (or its marks),
     * even when the deleted one had the highest rowid. */
    int64_t tail = add_device(db, reg, "tail", NULL);
    CHECK_EQ(db_device_mark(db, tail, DB_MARK_HEARTBEAT, 99), 0);
    CHECK_EQ(db_device_delete(db, tail), 0);
    int64_t fresh = add_device(db, reg, "fresh", NULL);
    CHECK(fresh > tail);
    CHECK_EQ(db_flush_marks(db), 1);
    CHECK_EQ(db_device_get_by_rowid(db, fresh, &d), 0);
    CHECK_EQ(d.last_heartbeat_us, 0);
    db_device_clear(&d);

    /* db_close flushes. */
    CHECK_EQ(db_device_mark(db, devs[4], DB_MARK_STATE, 4444), 0);
    db_close(db);
    db = NULL;
    CHECK_EQ(db_open(path, &db), 0);
    CHECK_EQ(db_device_get_by_rowid(db, devs[4], &d), 0);
    CHECK_EQ(d.last_state_us, 4444);
    db_device_clear(&d);

    /* The pending table is bounded. */
    for (int64_t i = 1; i <= DB_MARKS_MAX; i++)
        CHECK_EQ(db_device_mark(db, 1000000 + i, DB_MARK_HEARTBEAT, i), 0);
    CHECK_EQ(db_device_mark(db, 5000000, DB_MARK_HEARTBEAT, 1), -ENOMEM);
    CHECK_EQ(db_device_mark(db, 1000001, DB_MARK_EVENT, 1), 0);   /* existing entry: fine */
    db_stats(db, &st0);
    CHECK_EQ(st0.marks_pending, DB_MARKS_MAX);
    CHECK_EQ(db_flush_marks(db), DB_MARKS_MAX);
    CHECK_EQ(db_device_mark(db, 5000000, DB_MARK_HEARTBEAT, 1), 0);
    CHECK_EQ(db_flush_marks(db), 1);
    db_close(db);
}

/* ---- cascade, lookups, re-entrant lists ---- */

static void test_cascade(void) {
    char path[512];
    struct db *db = open_fresh("cascade.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    int64_t dev = add_device(db, reg, "d", NULL);
    int64_t keep = add_device(db, reg, "keep", NULL);
    struct db_credential cred = {DB_KEY_ES256_PEM, "pem", 0}, out[DB_MAX_CREDENTIALS];
    struct db_config c;
    struct db_state s;
    size_t n;

    CHECK_EQ(db_credential_replace(db, dev, &cred, 1), 0);
    CHECK_EQ(db_credential_replace(db, keep, &cred, 1), 0);
    CHECK_EQ(db_config_add(db, dev, 0, "c", 1, 1, NULL), 0);
    CHECK_EQ(db_state_add(db, dev, "s", 1, 1), 0);
    CHECK_EQ(db_state_add(db, keep, "s", 1, 1), 0);

    CHECK_EQ(db_device_delete(db, dev), 0);
    CHECK_EQ(db_device_delete(db, dev), -ENOENT);
    CHECK_EQ(db_credential_list(db, dev, out, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(db_config_latest(db, dev, &c), -ENOENT);
    CHECK_EQ(db_config_get(db, dev, 1, &c), -ENOENT);
    CHECK_EQ(db_state_latest(db, dev, &s), -ENOENT);

    /* The neighbour keeps everything. */
    CHECK_EQ(db_credential_list(db, keep, out, &n), 0);
    CHECK_EQ(n, 1);
    db_credential_clear(&out[0]);
    CHECK_EQ(db_config_latest(db, keep, &c), 0);
    db_config_clear(&c);
    CHECK_EQ(db_state_latest(db, keep, &s), 0);
    db_state_clear(&s);
    db_close(db);
}

static void test_lookup(void) {
    char path[512], num[32];
    struct db *db = open_fresh("lookup.db", path, sizeof path);
    int64_t reg = add_registry(db, "proj", "reg");
    uint64_t num_id;
    int64_t dev = add_device(db, reg, "my-device", &num_id);
    struct db_registry r;
    struct db_device d;

    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", "my-device", &r, &d), 0);
    CHECK_EQ(r.rowid, reg);
    CHECK_EQ(d.rowid, dev);
    CHECK(strcmp(r.project, "proj") == 0);
    db_registry_clear(&r);
    db_device_clear(&d);

    snprintf(num, sizeof num, "%" PRIu64, num_id);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", num, &r, &d), 0);
    CHECK_EQ(d.rowid, dev);
    CHECK(strcmp(d.id, "my-device") == 0);
    db_registry_clear(&r);
    db_device_clear(&d);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", num, NULL, NULL), 0);

    /* Failures leave both outputs alone. */
    r.rowid = -1;
    d.rowid = -2;
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", "nope", &r, &d), -ENOENT);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "other", "my-device", &r, &d), -ENOENT);
    CHECK_EQ(db_device_lookup(db, "proj", "europe-west1", "reg", "my-device", &r, &d), -ENOENT);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", "0", &r, &d), -ENOENT);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", "", &r, &d), -ENOENT);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", "18446744073709551616", &r, &d),
             -ENOENT);                     /* 2^64: does not parse as uint64 */
    snprintf(num, sizeof num, "+%" PRIu64, num_id);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", num, &r, &d), -ENOENT);
    snprintf(num, sizeof num, "%" PRIu64 "x", num_id);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg", num, &r, &d), -ENOENT);
    CHECK_EQ(r.rowid, -1);
    CHECK_EQ(d.rowid, -2);

    /* A num_id in another registry is not found through this one. */
    int64_t reg2 = add_registry(db, "proj", "reg2");
    snprintf(num, sizeof num, "%" PRIu64, num_id);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg2", num, &r, &d), -ENOENT);

    /* An all-digit string id wins over a num_id with the same digits. */
    struct db_device a, b;
    memset(&a, 0, sizeof a);
    a.registry_rowid = reg2;
    snprintf(a.id, sizeof a.id, "123");
    CHECK_EQ(db_device_insert(db, &a), 0);
    memset(&b, 0, sizeof b);
    b.registry_rowid = reg2;
    snprintf(b.id, sizeof b.id, "by-number");
    b.num_id = 123;
    CHECK_EQ(db_device_insert_num_id(db, &b), 0);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg2", "123", NULL, &d), 0);
    CHECK_EQ(d.rowid, a.rowid);
    db_device_clear(&d);
    CHECK_EQ(db_device_lookup(db, "proj", "us-central1", "reg2", "0123", NULL, &d), 0);
    CHECK_EQ(d.rowid, b.rowid);
    db_device_clear(&d);
    db_close(db);
}

struct nested {
    struct db *db;
    int outer, inner;
};

static int inner_cb(const struct db_device *d, void *ud) {
    struct nested *n = ud;
    (void)d;
    n->inner++;
    return 0;
}

/* Runs other queries, a nested list and a write while the outer walk is open. */
static int outer_cb(const struct db_device *d, void *ud) {
    struct nested *n = ud;
    struct db_credential out[DB_MAX_CREDENTIALS];
    struct db_config c;
    struct db_device again;
    size_t k;

    n->outer++;
    CHECK_EQ(db_credential_list(n->db, d->rowid, out, &k), 0);
    CHECK_EQ(db_config_latest(n->db, d->rowid, &c), 0);
    db_config_clear(&c);
    CHECK_EQ(db_device_get_by_rowid(n->db, d->rowid, &again), 0);
    db_device_clear(&again);
    CHECK_EQ(db_device_list(n->db, d->registry_rowid, 0, 0, inner_cb, n), 3);
    CHECK_EQ(db_state_add(n->db, d->rowid, "s", 1, 1), 0);
    return 0;
}

static void test_reentrant_lists(void) {
    char path[512];
    struct db *db = open_fresh("nested.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    struct nested n = {.db = db};

    add_device(db, reg, "a", NULL);
    add_device(db, reg, "b", NULL);
    add_device(db, reg, "c", NULL);
    CHECK_EQ(db_device_list(db, reg, 0, 0, outer_cb, &n), 3);
    CHECK_EQ(n.outer, 3);
    CHECK_EQ(n.inner, 9);
    db_close(db);
}

static void cleanup(void) {
    tu_tmpdir_cleanup(tmpdir);
}

static int collect_rowid(int64_t rowid, void *ud) {
    int64_t *out = ud;
    out[++out[0]] = rowid;
    return 0;
}

static void test_bindings(void) {
    char path[512];
    struct db *db = open_fresh("bindings.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    int64_t gw = add_device(db, reg, "gw", NULL);
    int64_t a = add_device(db, reg, "a", NULL);
    int64_t b = add_device(db, reg, "b", NULL);
    int64_t got[8] = {0}, n = -1;

    CHECK_EQ(db_binding_exists(db, gw, a), 0);
    CHECK_EQ(db_binding_add(db, gw, a, 1), 0);
    CHECK_EQ(db_binding_add(db, gw, b, 2), 0);
    CHECK_EQ(db_binding_add(db, gw, a, 3), -EEXIST);
    CHECK_EQ(db_binding_add(db, gw, gw, 3), -EINVAL);     /* not to itself */
    CHECK_EQ(db_binding_add(db, gw, 999999, 3), -ENOENT); /* no such device */
    CHECK_EQ(db_binding_exists(db, gw, a), 1);
    CHECK_EQ(db_binding_exists(db, a, gw), 0);            /* direction matters */

    /* Devices of the gateway, in rowid order; gateways of a device. */
    CHECK_EQ(db_binding_list(db, gw, true, 0, 0, collect_rowid, got), 2);
    CHECK_EQ(got[0], 2);
    CHECK_EQ(got[1], a);
    CHECK_EQ(got[2], b);
    got[0] = 0;
    CHECK_EQ(db_binding_list(db, gw, true, a, 0, collect_rowid, got), 1);   /* paging */
    CHECK_EQ(got[1], b);
    got[0] = 0;
    CHECK_EQ(db_binding_list(db, b, false, 0, 0, collect_rowid, got), 1);
    CHECK_EQ(got[1], gw);

    CHECK_EQ(db_binding_count(db, gw, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(db_binding_remove(db, gw, a), 0);
    CHECK_EQ(db_binding_remove(db, gw, a), -ENOENT);
    CHECK_EQ(db_binding_count(db, a, &n), 0);
    CHECK_EQ(n, 0);

    /* Deleting a bound device removes its bindings with it. */
    CHECK_EQ(db_device_delete(db, b), 0);
    CHECK_EQ(db_binding_count(db, gw, &n), 0);
    CHECK_EQ(n, 0);
    db_close(db);
}

/* A device created with a config: version 1 holds it, and the next
 * version is 2 (Google answered a create with version 1). */
static void test_insert_with_config(void) {
    char path[512];
    struct db *db = open_fresh("initial_config.db", path, sizeof path);
    int64_t reg = add_registry(db, "p", "r");
    const uint8_t payload[] = {'m', 0x00, 'o', 0xff};
    struct db_device d, e;
    struct db_config c;
    int64_t v = -1;

    memset(&d, 0, sizeof d);
    d.registry_rowid = reg;
    snprintf(d.id, sizeof d.id, "with-config");
    d.created_us = 4242;
    CHECK_EQ(db_device_insert_config(db, &d, payload, sizeof payload), 0);
    CHECK(d.rowid > 0 && d.num_id != 0);
    CHECK_EQ(db_config_latest(db, d.rowid, &c), 0);
    CHECK_EQ(c.version, 1);
    CHECK_EQ(c.cloud_update_us, 4242);
    CHECK_EQ(c.len, sizeof payload);
    CHECK(memcmp(c.data, payload, sizeof payload) == 0);
    db_config_clear(&c);
    CHECK_EQ(db_config_add(db, d.rowid, 1, "x", 1, 5000, &v), 0);
    CHECK_EQ(v, 2);

    /* NULL, 0 is the empty version 1 of db_device_insert. */
    memset(&e, 0, sizeof e);
    e.registry_rowid = reg;
    snprintf(e.id, sizeof e.id, "without-config");
    CHECK_EQ(db_device_insert_config(db, &e, NULL, 0), 0);
    CHECK_EQ(db_config_latest(db, e.rowid, &c), 0);
    CHECK_EQ(c.version, 1);
    CHECK_EQ(c.len, 0);
    db_config_clear(&c);

    /* Failures leave nothing behind: a taken id, a payload pointer missing. */
    e.rowid = 0;
    CHECK_EQ(db_device_insert_config(db, &e, payload, sizeof payload), -EEXIST);
    snprintf(e.id, sizeof e.id, "no-payload");
    CHECK_EQ(db_device_insert_config(db, &e, NULL, 3), -EINVAL);
    CHECK_EQ(db_device_get_by_id(db, reg, "no-payload", &d), -ENOENT);
    db_close(db);
}

int main(void) {
    /* Later steps build on earlier ones: stop at the first failure. */
    tu_set_fatal(true);
    CHECK(tu_mkdtemp(tmpdir, sizeof tmpdir, "test_db") == 0);
    atexit(cleanup);

    test_migrations();
    test_registries();
    test_devices();
    test_credentials();
    test_configs_states();
    test_marks();
    test_cascade();
    test_lookup();
    test_reentrant_lists();
    test_bindings();
    test_insert_with_config();

    return tu_finish("test_db");
}
