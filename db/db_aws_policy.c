/* AWS policies and their versions: create (with version 1 as the
 * default), get, delete, list, and the version calls (add, get, set the
 * default, delete, list) with AWS's rules: at most
 * DB_AWS_MAX_POLICY_VERSIONS versions, ids never reused, the default
 * version cannot be deleted, and a policy is deleted only once it is
 * attached nowhere and holds nothing but its default version. Every
 * version change bumps the policy's generation and modified time. What a
 * policy is attached to lives in db_aws_attach.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "db/db_internal.h"

void db_aws_policy_version_clear(struct db_aws_policy_version *v) {
    if (!v)
        return;
    free(v->document);
    memset(v, 0, sizeof *v);
}

/* ---- row readers ---- */

void db_aws_policy_read_at(sqlite3_stmt *st, int base, struct db_aws_policy *p) {
    memset(p, 0, sizeof *p);
    p->rowid = sqlite3_column_int64(st, base);
    db_col_copy(st, base + 1, p->name, sizeof p->name);
    p->default_version = sqlite3_column_int64(st, base + 2);
    p->created_us = sqlite3_column_int64(st, base + 3);
    p->modified_us = sqlite3_column_int64(st, base + 4);
    p->generation = sqlite3_column_int64(st, base + 5);
}

static int policy_read(sqlite3_stmt *st, void *row) {
    db_aws_policy_read_at(st, 0, row);
    return 0;
}

/* Nothing owned. */
static void policy_clear(void *row) {
    memset(row, 0, sizeof(struct db_aws_policy));
}

static int policy_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_policy *, void *))cb)(row, ud);
}

static const struct db_row_ops policy_row = {
    .size = sizeof(struct db_aws_policy),
    .read = policy_read,
    .clear = policy_clear,
    .emit = policy_emit,
    .not_found = "policy not found",
};

static int version_read(sqlite3_stmt *st, void *row) {
    struct db_aws_policy_version *v = row;
    int r;
    memset(v, 0, sizeof *v);
    v->policy_rowid = sqlite3_column_int64(st, 0);
    v->version = sqlite3_column_int64(st, 1);
    v->created_us = sqlite3_column_int64(st, 3);
    r = db_col_strdup(st, 2, &v->document);
    /* NOT NULL in the schema; never hand out a NULL document. */
    if (r >= 0 && !v->document)
        r = -ENOMEM;
    return r;
}

static void version_clear(void *row) {
    db_aws_policy_version_clear(row);
}

static int version_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_policy_version *, void *))cb)(row, ud);
}

static const struct db_row_ops version_row = {
    .size = sizeof(struct db_aws_policy_version),
    .read = version_read,
    .clear = version_clear,
    .emit = version_emit,
    .not_found = "policy version not found",
};

/* ---- policies ---- */

static const struct db_versioned policy_versions = {
    .st_versions = DB_ST_AWS_POLICY_VERSIONS,
    .st_insert = DB_ST_AWS_PVER_INSERT,
    .st_added = DB_ST_AWS_POLICY_ADDED,
    .st_delete = DB_ST_AWS_PVER_DELETE,
    .st_touch = DB_ST_AWS_POLICY_TOUCH,
    .max_versions = DB_AWS_MAX_POLICY_VERSIONS,     /* AWS: 5 */
    .owner_missing = "policy not found",
    .version_missing = "policy version not found",
    .too_many = "policy has the maximum number of versions",
    .default_busy = "the default policy version cannot be deleted",
};

int db_aws_policy_insert(struct db *db, struct db_aws_policy *p, const char *document,
                         int64_t now_us) {
    struct db_txn t;
    struct db_q q;
    int64_t rowid = 0;
    int r;

    if (!db || !p)
        return -EINVAL;
    if (!db_aws_text_ok(p->name, sizeof p->name, true) || !document)
        return db_set_err(db, -EINVAL, "policy name must be 1..128 bytes, with a document");
    /* The policy and its version 1 together or not at all. */
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    db_q_open(&q, db, DB_ST_AWS_POLICY_INSERT, false);
    db_q_text(&q, 1, p->name);
    db_q_i64(&q, 2, now_us);
    r = db_q_run(&q);
    if (r >= 0) {
        rowid = sqlite3_last_insert_rowid(db->sq);
        r = db_version_insert(db, &policy_versions, rowid, 1, document, now_us);
    }
    r = db_txn_end(db, &t, r);
    if (r < 0)
        return r;
    p->rowid = rowid;
    p->default_version = 1;
    p->created_us = now_us;
    p->modified_us = now_us;
    p->generation = 1;
    return 0;
}

int db_aws_policy_get(struct db *db, const char *name, struct db_aws_policy *ret) {
    struct db_q q;
    if (!db || !name || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_POLICY_GET, false);
    db_q_text(&q, 1, name);
    return db_q_one(&q, &policy_row, ret);
}

int db_aws_policy_delete(struct db *db, int64_t rowid) {
    /* AWS: DeleteConflictException in both cases. The default version goes
     * with the policy (ON DELETE CASCADE). */
    static const struct db_guarded_delete g = {
        .in_use = DB_ST_AWS_POLICY_IN_USE,
        .del = DB_ST_AWS_POLICY_DELETE,
        .busy = { "policy is attached to targets", "policy has versions besides the default" },
        .not_found = "policy not found",
    };
    if (!db)
        return -EINVAL;
    return db_delete_guarded(db, &g, rowid);
}

int db_aws_policy_list(struct db *db, bool ascending, int64_t after_rowid, int limit,
                       int (*cb)(const struct db_aws_policy *p, void *ud), void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, ascending ? DB_ST_AWS_POLICY_LIST_ASC : DB_ST_AWS_POLICY_LIST_DESC, true);
    /* Descending from the start: below the largest rowid there can be. */
    db_q_i64(&q, 1, ascending || after_rowid > 0 ? after_rowid : INT64_MAX);
    db_q_i64(&q, 2, db_limit_of(limit));
    return db_q_list(&q, &policy_row, (void (*)(void))cb, ud);
}

/* ---- versions ---- */

int db_aws_policy_version_add(struct db *db, int64_t policy_rowid, const char *document,
                              bool set_default, int64_t now_us, int64_t *ret_version) {
    return db_version_add(db, &policy_versions, policy_rowid, document, set_default, now_us,
                          ret_version);
}

int db_aws_policy_version_get(struct db *db, int64_t policy_rowid, int64_t version,
                              struct db_aws_policy_version *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_PVER_GET, false);
    db_q_i64(&q, 1, policy_rowid);
    db_q_i64(&q, 2, version);
    return db_q_one(&q, &version_row, ret);
}

int db_aws_policy_version_set_default(struct db *db, int64_t policy_rowid, int64_t version,
                                      int64_t now_us) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    /* One statement: it changes no row unless the version exists. */
    db_q_open(&q, db, DB_ST_AWS_POLICY_SET_DEFAULT, false);
    db_q_i64(&q, 1, policy_rowid);
    db_q_i64(&q, 2, version);
    db_q_i64(&q, 3, now_us);
    return db_q_run_changes(&q, "policy version not found");
}

/* The header gives this call no timestamp, so modified_us takes the
 * clock. */
int db_aws_policy_version_delete(struct db *db, int64_t policy_rowid, int64_t version) {
    return db_version_delete(db, &policy_versions, policy_rowid, version, time_now_unix_us());
}

int db_aws_policy_version_list(struct db *db, int64_t policy_rowid,
                               int (*cb)(const struct db_aws_policy_version *v, void *ud),
                               void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_PVER_LIST, true);
    db_q_i64(&q, 1, policy_rowid);
    return db_q_list(&q, &version_row, (void (*)(void))cb, ud);
}
