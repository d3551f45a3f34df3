/* AWS attachments: policy targets (which policies a certificate or thing
 * group carries) and thing principals (which certificates act for a
 * thing). Both are stored as the ARN text the API was given, paged by the
 * attachment's own row id (attach order), and idempotent to attach. The
 * two hot reads of an AWS connection live here: the thing-principal check
 * at CONNECT and the policies of a certificate. */
#include <errno.h>

#include "db/db_internal.h"

/* ARNs as the API got them: non-empty, at most DB_AWS_ARN_MAX - 1 bytes. */
static bool arn_ok(const char *s) {
    return db_aws_text_ok(s, DB_AWS_ARN_MAX, true);
}

/* A callback's verdict: nonzero stops, negative is the error. */
static int list_end(struct db_q *q, int n, int r) {
    int e = db_q_end(q);
    if (r < 0)
        return r;
    return e < 0 ? e : n;
}

/* Rows of (attachment pk, text): the targets of a policy or the
 * principals of a thing. A fresh statement: the callback may run other
 * queries. */
static int list_pk_text(struct db *db, enum db_stmt id, int64_t key, int64_t after_rowid,
                        int limit, int (*cb)(int64_t attach_rowid, const char *s, void *ud),
                        void *ud) {
    struct db_q q;
    int n = 0, r = 0;

    db_q_open(&q, db, id, true);
    db_q_i64(&q, 1, key);
    db_q_i64(&q, 2, after_rowid);
    db_q_i64(&q, 3, db_limit_of(limit));
    while (db_q_step(&q) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(q.st, 1);
        int c;
        if (!s) {                          /* NOT NULL column: SQLite failed to convert */
            r = db_set_err(db, -ENOMEM, "out of memory");
            break;
        }
        c = cb(sqlite3_column_int64(q.st, 0), s, ud);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    return list_end(&q, n, r);
}

static int count_text(struct db *db, enum db_stmt id, const char *s, int64_t *ret) {
    struct db_q q;
    db_q_open(&q, db, id, false);
    db_q_text(&q, 1, s);
    return db_q_int64(&q, ret);
}

/* ---- policy targets ---- */

int db_aws_policy_attach(struct db *db, int64_t policy_rowid, const char *target, int64_t now_us) {
    struct db_q q;
    int r;

    if (!db)
        return -EINVAL;
    if (!arn_ok(target))
        return db_set_err(db, -EINVAL, "policy target empty or too long");
    db_q_open(&q, db, DB_ST_AWS_TARGET_INSERT, false);
    db_q_i64(&q, 1, policy_rowid);
    db_q_text(&q, 2, target);
    db_q_i64(&q, 3, now_us);
    r = db_q_run(&q);
    /* Only the foreign key gives -ENOENT here. */
    return r == -ENOENT ? db_set_err(db, r, "policy not found") : r;
}

int db_aws_policy_detach(struct db *db, int64_t policy_rowid, const char *target) {
    struct db_q q;
    if (!db || !target)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TARGET_DELETE, false);
    db_q_i64(&q, 1, policy_rowid);
    db_q_text(&q, 2, target);
    return db_q_run_changes(&q, "policy is not attached to the target");
}

int db_aws_policy_targets(struct db *db, int64_t policy_rowid, int64_t after_rowid, int limit,
                          int (*cb)(int64_t attach_rowid, const char *target, void *ud),
                          void *ud) {
    if (!db || !cb)
        return -EINVAL;
    return list_pk_text(db, DB_ST_AWS_TARGET_LIST, policy_rowid, after_rowid, limit, cb, ud);
}

int db_aws_target_policies(struct db *db, const char *target, int64_t after_rowid, int limit,
                           int (*cb)(int64_t attach_rowid, const struct db_aws_policy *p,
                                     const char *document, void *ud),
                           void *ud) {
    struct db_q q;
    int n = 0, r = 0;

    if (!db || !target || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TARGET_POLICIES, true);
    db_q_text(&q, 1, target);
    db_q_i64(&q, 2, after_rowid);
    db_q_i64(&q, 3, db_limit_of(limit));
    while (db_q_step(&q) == SQLITE_ROW) {
        struct db_aws_policy p;
        const char *doc = (const char *)sqlite3_column_text(q.st, 7);
        int c;
        /* Valid until the next step: reading the other columns does not
         * convert this one. */
        if (!doc) {
            r = db_set_err(db, -ENOMEM, "out of memory");
            break;
        }
        db_aws_policy_read_at(q.st, 1, &p);
        c = cb(sqlite3_column_int64(q.st, 0), &p, doc, ud);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    return list_end(&q, n, r);
}

int db_aws_target_policy_count(struct db *db, const char *target, int64_t *ret) {
    if (!db || !target || !ret)
        return -EINVAL;
    return count_text(db, DB_ST_AWS_TARGET_COUNT, target, ret);
}

int db_aws_target_forget(struct db *db, const char *target) {
    struct db_q q;
    int r;

    if (!db || !target)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TARGET_FORGET, false);
    db_q_text(&q, 1, target);
    r = db_q_run(&q);
    /* How many attachments went (>= 0 is success either way). */
    return r < 0 ? r : sqlite3_changes(db->sq);
}

/* ---- thing principals ---- */

int db_aws_thing_principal_attach(struct db *db, int64_t thing_rowid, const char *principal,
                                  bool exclusive, int64_t now_us) {
    struct db_q q;
    int r;

    if (!db)
        return -EINVAL;
    if (!arn_ok(principal))
        return db_set_err(db, -EINVAL, "principal empty or too long");
    db_q_open(&q, db, DB_ST_AWS_PRINCIPAL_INSERT, false);
    db_q_i64(&q, 1, thing_rowid);
    db_q_text(&q, 2, principal);
    db_q_i64(&q, 3, exclusive ? 1 : 0);
    db_q_i64(&q, 4, now_us);
    r = db_q_run(&q);
    /* Only the foreign key gives -ENOENT here. */
    return r == -ENOENT ? db_set_err(db, r, "thing not found") : r;
}

int db_aws_thing_principal_detach(struct db *db, int64_t thing_rowid, const char *principal) {
    struct db_q q;
    if (!db || !principal)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_PRINCIPAL_DELETE, false);
    db_q_i64(&q, 1, thing_rowid);
    db_q_text(&q, 2, principal);
    return db_q_run_changes(&q, "principal is not attached to the thing");
}

int db_aws_thing_principals(struct db *db, int64_t thing_rowid, int64_t after_rowid, int limit,
                            int (*cb)(int64_t attach_rowid, const char *principal, void *ud),
                            void *ud) {
    if (!db || !cb)
        return -EINVAL;
    return list_pk_text(db, DB_ST_AWS_PRINCIPAL_LIST, thing_rowid, after_rowid, limit, cb, ud);
}

int db_aws_principal_things(struct db *db, const char *principal, int64_t after_rowid, int limit,
                            int (*cb)(int64_t attach_rowid, const struct db_aws_thing *t,
                                      void *ud),
                            void *ud) {
    struct db_q q;
    int n = 0, r = 0;

    if (!db || !principal || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_PRINCIPAL_THINGS, true);
    db_q_text(&q, 1, principal);
    db_q_i64(&q, 2, after_rowid);
    db_q_i64(&q, 3, db_limit_of(limit));
    while (db_q_step(&q) == SQLITE_ROW) {
        struct db_aws_thing t;
        int c;
        r = db_aws_thing_read_at(q.st, 1, &t);
        if (r < 0) {
            db_aws_thing_clear(&t);
            db_set_err(db, r, "out of memory");
            break;
        }
        c = cb(sqlite3_column_int64(q.st, 0), &t, ud);
        db_aws_thing_clear(&t);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    return list_end(&q, n, r);
}

int db_aws_thing_principal_exists(struct db *db, const char *thing_name, const char *principal) {
    struct db_q q;
    int64_t found = 0;
    int r;

    if (!db || !thing_name || !principal)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_PRINCIPAL_EXISTS, false);
    db_q_text(&q, 1, thing_name);
    db_q_text(&q, 2, principal);
    r = db_q_int64(&q, &found);
    return r < 0 ? r : found != 0;
}

int db_aws_principal_thing_count(struct db *db, const char *principal, int64_t *ret) {
    if (!db || !principal || !ret)
        return -EINVAL;
    return count_text(db, DB_ST_AWS_PRINCIPAL_COUNT, principal, ret);
}
