/* Versioned resources: AWS policies and provisioning templates keep the
 * same rules for their versions (at most N, ids never reused, the default
 * not deletable, every change touching the owner), so they share this code
 * and differ only in their statements and messages (db_internal.h struct
 * db_versioned). */
#include <errno.h>

#include "db/db_internal.h"

/* The id the next version gets, the default, how many versions exist.
 * -ENOENT when the owner does not exist. */
struct versions {
    int64_t next, def, count;
};

static int versions_of(struct db *db, const struct db_versioned *k, int64_t owner,
                       struct versions *ret) {
    struct versions v = {0, 0, 0};
    struct db_q q;
    int rc, e;

    db_q_open(&q, db, k->st_versions, false);
    db_q_i64(&q, 1, owner);
    rc = db_q_step(&q);
    if (rc == SQLITE_ROW) {
        v.next = sqlite3_column_int64(q.st, 0);
        v.def = sqlite3_column_int64(q.st, 1);
        v.count = sqlite3_column_int64(q.st, 2);
    }
    e = db_q_end(&q);
    if (e < 0)
        return e;
    if (rc != SQLITE_ROW)
        return db_set_err(db, -ENOENT, k->owner_missing);
    *ret = v;
    return 0;
}

int db_version_insert(struct db *db, const struct db_versioned *k, int64_t owner,
                      int64_t version, const char *text, int64_t now_us) {
    struct db_q q;
    db_q_open(&q, db, k->st_insert, false);
    db_q_i64(&q, 1, owner);
    db_q_i64(&q, 2, version);
    db_q_text(&q, 3, text);
    db_q_i64(&q, 4, now_us);
    return db_q_run(&q);
}

int db_version_add(struct db *db, const struct db_versioned *k, int64_t owner, const char *text,
                   bool set_default, int64_t now_us, int64_t *ret_version) {
    struct versions v;
    struct db_txn t;
    struct db_q q;
    int r;

    if (!db || !text)
        return -EINVAL;
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    r = versions_of(db, k, owner, &v);
    if (r >= 0 && v.count >= k->max_versions)
        r = db_set_err(db, -E2BIG, k->too_many);
    if (r >= 0)
        r = db_version_insert(db, k, owner, v.next, text, now_us);
    if (r >= 0) {
        db_q_open(&q, db, k->st_added, false);
        db_q_i64(&q, 1, owner);
        db_q_i64(&q, 2, v.next);
        db_q_i64(&q, 3, set_default ? 1 : 0);
        db_q_i64(&q, 4, now_us);
        r = db_q_run_changes(&q, k->owner_missing);
    }
    r = db_txn_end(db, &t, r);
    if (r < 0)
        return r;
    if (ret_version)
        *ret_version = v.next;
    return 0;
}

int db_version_delete(struct db *db, const struct db_versioned *k, int64_t owner,
                      int64_t version, int64_t now_us) {
    struct versions v;
    struct db_txn t;
    struct db_q q;
    int r;

    if (!db)
        return -EINVAL;
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    r = versions_of(db, k, owner, &v);
    if (r >= 0 && v.def == version)
        r = db_set_err(db, -EBUSY, k->default_busy);
    if (r >= 0) {
        db_q_open(&q, db, k->st_delete, false);
        db_q_i64(&q, 1, owner);
        db_q_i64(&q, 2, version);
        r = db_q_run_changes(&q, k->version_missing);
    }
    if (r >= 0) {
        db_q_open(&q, db, k->st_touch, false);
        db_q_i64(&q, 1, owner);
        db_q_i64(&q, 2, now_us);
        r = db_q_run_changes(&q, k->owner_missing);
    }
    return db_txn_end(db, &t, r);
}
