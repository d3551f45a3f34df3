/* Transactions: the caller's explicit one (db_begin/db_commit/db_rollback)
 * and the internal one around every write of several rows, which becomes a
 * savepoint when the caller already holds a transaction; and the delete
 * that checks first whether the row is still in use, inside one. */
#include <errno.h>

#include "db/db_internal.h"

int db_txn_begin(struct db *db, struct db_txn *t) {
    t->outer = sqlite3_get_autocommit(db->sq) != 0;
    return db_exec_stmt(db, t->outer ? DB_ST_BEGIN : DB_ST_SAVEPOINT, false);
}

int db_txn_end(struct db *db, struct db_txn *t, int r) {
    if (r >= 0) {
        int c = db_exec_stmt(db, t->outer ? DB_ST_COMMIT : DB_ST_RELEASE, false);
        if (c >= 0)
            return r;
        r = c;
    }
    if (t->outer) {
        /* SQLite may already have rolled back (I/O error, out of memory). */
        if (!sqlite3_get_autocommit(db->sq))
            (void)db_exec_stmt(db, DB_ST_ROLLBACK, true);
    } else {
        (void)db_exec_stmt(db, DB_ST_ROLLBACK_TO, true);
        (void)db_exec_stmt(db, DB_ST_RELEASE, true);
    }
    return r;
}

int db_delete_guarded(struct db *db, const struct db_guarded_delete *g, int64_t rowid) {
    struct db_txn t;
    struct db_q q;
    int64_t use = 0;
    int r;

    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    db_q_open(&q, db, g->in_use, false);
    db_q_i64(&q, 1, rowid);
    r = db_q_int64(&q, &use);
    if (r >= 0 && use != 0)
        r = db_set_err(db, -ENOTEMPTY, use == 2 && g->busy[1] ? g->busy[1] : g->busy[0]);
    if (r >= 0) {
        db_q_open(&q, db, g->del, false);
        db_q_i64(&q, 1, rowid);
        r = db_q_run_changes(&q, g->not_found);
    }
    return db_txn_end(db, &t, r);
}

int db_begin(struct db *db) {
    if (!db)
        return -EINVAL;
    if (!sqlite3_get_autocommit(db->sq))
        return db_set_err(db, -EBUSY, "a transaction is already open");
    return db_exec_stmt(db, DB_ST_BEGIN, false);
}

int db_commit(struct db *db) {
    if (!db)
        return -EINVAL;
    return db_exec_stmt(db, DB_ST_COMMIT, false);
}

int db_rollback(struct db *db) {
    if (!db)
        return -EINVAL;
    if (sqlite3_get_autocommit(db->sq))
        return 0;
    return db_exec_stmt(db, DB_ST_ROLLBACK, false);
}
