/* AWS attachments: policy targets (which policies a certificate or thing
 * group carries) and thing principals (which certificates act for a
 * thing). Both are stored as the ARN text the API was given, paged by the
 * attachment's own row id (attach order), and idempotent to attach; the
 * two kinds share the helpers below and differ only in their statements
 * and words. The two hot reads of an AWS connection live here: the
 * thing-principal check at CONNECT and the policies of a certificate. */
#include <errno.h>

#include "db/db_internal.h"

/* ARNs as the API got them: non-empty, at most DB_AWS_ARN_MAX - 1 bytes. */
static bool arn_ok(const char *s) {
    return db_aws_text_ok(s, DB_AWS_ARN_MAX, true);
}

/* ---- shared by both kinds ---- */

/* An attachment write: ?1 the owner's row (policy or thing), ?2 the ARN. */
static void pair_open(struct db_q *q, struct db *db, enum db_stmt id, int64_t owner,
                      const char *arn) {
    db_q_open(q, db, id, false);
    db_q_i64(q, 1, owner);
    db_q_text(q, 2, arn);
}

/* Runs an attachment insert opened with pair_open. */
static int attach_run(struct db_q *q, const char *owner_not_found) {
    int r = db_q_run(q);
    /* Only the foreign key gives -ENOENT here. */
    return r == -ENOENT ? db_set_err(q->db, r, owner_not_found) : r;
}

static int detach(struct db *db, enum db_stmt id, int64_t owner, const char *arn,
                  const char *not_attached) {
    struct db_q q;
    if (!db || !arn)
        return -EINVAL;
    pair_open(&q, db, id, owner, arn);
    return db_q_run_changes(&q, not_attached);
}

/* A page of attachments: ?1 the key (bound by the caller), ?2 the row id
 * to continue after, ?3 the limit. A fresh statement: the callback may run
 * other queries. */
static void page_open(struct db_q *q, struct db *db, enum db_stmt id, int64_t after_rowid,
                      int limit) {
    db_q_open(q, db, id, true);
    db_q_i64(q, 2, after_rowid);
    db_q_i64(q, 3, db_limit_of(limit));
}

/* A callback's verdict c: nonzero stops, negative is the error (into *r).
 * True to stop. */
static bool page_stop(int c, int *r) {
    if (c < 0)
        *r = c;
    return c != 0;
}

static int page_end(struct db_q *q, int n, int r) {
    int e = db_q_end(q);
    if (r < 0)
        return r;
    return e < 0 ? e : n;
}

/* Rows of (attachment pk, text): the targets of a policy or the
 * principals of a thing. */
static int list_pk_text(struct db *db, enum db_stmt id, int64_t key, int64_t after_rowid,
                        int limit, int (*cb)(int64_t attach_rowid, const char *s, void *ud),
                        void *ud) {
    struct db_q q;
    int n = 0, r = 0;

    if (!db || !cb)
        return -EINVAL;
    page_open(&q, db, id, after_rowid, limit);
    db_q_i64(&q, 1, key);
    while (db_q_step(&q) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(q.st, 1);
        if (!s) {                          /* NOT NULL column: SQLite failed to convert */
            r = db_set_err(db, -ENOMEM, "out of memory");
            break;
        }
        n++;
        if (page_stop(cb(sqlite3_column_int64(q.st, 0), s, ud), &r))
            break;
    }
    return page_end(&q, n, r);
}

static int count_text(struct db *db, enum db_stmt id, const char *s, int64_t *ret) {
    struct db_q q;
    if (!db || !s || !ret)
        return -EINVAL;
    db_q_open(&q, db, id, false);
    db_q_text(&q, 1, s);
    return db_q_int64(&q, ret);
}

/* ---- policy targets ---- */

int db_aws_policy_attach(struct db *db, int64_t policy_rowid, const char *target, int64_t now_us) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    if (!arn_ok(target))
        return db_set_err(db, -EINVAL, "policy target empty or too long");
    pair_open(&q, db, DB_ST_AWS_TARGET_INSERT, policy_rowid, target);
    db_q_i64(&q, 3, now_us);
    return attach_run(&q, "policy not found");
}

int db_aws_policy_detach(struct db *db, int64_t policy_rowid, const char *target) {
    return detach(db, DB_ST_AWS_TARGET_DELETE, policy_rowid, target,
                  "policy is not attached to the target");
}

int db_aws_policy_targets(struct db *db, int64_t policy_rowid, int64_t after_rowid, int limit,
                          int (*cb)(int64_t attach_rowid, const char *target, void *ud),
                          void *ud) {
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
    page_open(&q, db, DB_ST_AWS_TARGET_POLICIES, after_rowid, limit);
    db_q_text(&q, 1, target);
    while (db_q_step(&q) == SQLITE_ROW) {
        struct db_aws_policy p;
        const char *doc = (const char *)sqlite3_column_text(q.st, 7);
        /* Valid until the next step: reading the other columns does not
         * convert this one. */
        if (!doc) {
            r = db_set_err(db, -ENOMEM, "out of memory");
            break;
        }
        db_aws_policy_read_at(q.st, 1, &p);
        n++;
        if (page_stop(cb(sqlite3_column_int64(q.st, 0), &p, doc, ud), &r))
            break;
    }
    return page_end(&q, n, r);
}

int db_aws_target_policy_count(struct db *db, const char *target, int64_t *ret) {
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
    if (!db)
        return -EINVAL;
    if (!arn_ok(principal))
        return db_set_err(db, -EINVAL, "principal empty or too long");
    pair_open(&q, db, DB_ST_AWS_PRINCIPAL_INSERT, thing_rowid, principal);
    db_q_i64(&q, 3, exclusive ? 1 : 0);
    db_q_i64(&q, 4, now_us);
    return attach_run(&q, "thing not found");
}

int db_aws_thing_principal_detach(struct db *db, int64_t thing_rowid, const char *principal) {
    return detach(db, DB_ST_AWS_PRINCIPAL_DELETE, thing_rowid, principal,
                  "principal is not attached to the thing");
}

int db_aws_thing_principals(struct db *db, int64_t thing_rowid, int64_t after_rowid, int limit,
                            int (*cb)(int64_t attach_rowid, const char *principal, void *ud),
                            void *ud) {
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
    page_open(&q, db, DB_ST_AWS_PRINCIPAL_THINGS, after_rowid, limit);
    db_q_text(&q, 1, principal);
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
        if (page_stop(c, &r))
            break;
    }
    return page_end(&q, n, r);
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
    return count_text(db, DB_ST_AWS_PRINCIPAL_COUNT, principal, ret);
}
