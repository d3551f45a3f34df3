/* Running one query: the per-handle cache of prepared statements, binding
 * with a sticky first error that is checked once, the column readers, the
 * SQLite -> errno mapping, and the two row runners every get and list
 * function goes through (one row into the caller's struct; every row to the
 * caller's callback). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

/* ---- errors ---- */

void db_copy_trunc(char *dst, size_t cap, const char *src, size_t len) {
    if (cap == 0)
        return;
    if (!src)
        len = 0;
    if (len >= cap) {
        len = cap - 1;
        /* Never leave half a UTF-8 sequence: back up to the lead byte of the
         * character the cut would split. */
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

int db_set_err(struct db *db, int r, const char *msg) {
    db_copy_trunc(db->err, sizeof db->err, msg, strlen(msg));
    return r;
}

/* SQLite result codes are converted here, once. Extended result codes are on
 * (db.c), so constraint kinds are told apart. */
static int map_rc(int rc) {
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        /* The only foreign-key failures the store lets reach SQLite are
         * inserts naming a parent that does not exist (registry delete checks
         * for devices itself first). */
        return -ENOENT;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
        return -EINVAL;                    /* CHECK / NOT NULL: the caller passed nonsense */
    case SQLITE_NOMEM:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

int db_record(struct db *db, int rc) {
    const char *msg = sqlite3_errmsg(db->sq);
    if (!msg || !*msg)
        msg = sqlite3_errstr(rc);
    db_copy_trunc(db->err, sizeof db->err, msg, strlen(msg));
    return map_rc(rc);
}

/* ---- one query ---- */

/* Cached statements serve the single-row calls. List calls prepare their own
 * (fresh) statement, so a list callback may run any other db_* call on the
 * same handle, a nested list included, without resetting the walk under it. */
void db_q_open(struct db_q *q, struct db *db, enum db_stmt id, bool fresh) {
    int rc = SQLITE_OK;
    q->db = db;
    q->st = NULL;
    q->rc = SQLITE_OK;
    q->fresh = fresh;
    if (fresh) {
        rc = sqlite3_prepare_v2(db->sq, db_stmt_sql[id], -1, &q->st, NULL);
    } else {
        if (!db->stmts[id])
            rc = sqlite3_prepare_v3(db->sq, db_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &db->stmts[id], NULL);
        q->st = db->stmts[id];
    }
    if (rc != SQLITE_OK) {
        q->rc = rc;
        db_record(db, rc);
        if (fresh)
            sqlite3_finalize(q->st);
        q->st = NULL;
    }
}

static void q_bound(struct db_q *q, int rc) {
    if (rc != SQLITE_OK && q->rc == SQLITE_OK) {
        q->rc = rc;
        db_record(q->db, rc);
    }
}

void db_q_i64(struct db_q *q, int idx, int64_t v) {
    if (q->rc == SQLITE_OK)
        q_bound(q, sqlite3_bind_int64(q->st, idx, v));
}

/* SQLITE_STATIC: every caller steps before returning. */
void db_q_text(struct db_q *q, int idx, const char *s) {
    if (q->rc != SQLITE_OK)
        return;
    if (s)
        q_bound(q, sqlite3_bind_text(q->st, idx, s, -1, SQLITE_STATIC));
    else
        q_bound(q, sqlite3_bind_null(q->st, idx));
}

void db_q_text_n(struct db_q *q, int idx, const char *s, size_t n) {
    if (q->rc == SQLITE_OK)
        q_bound(q, n > INT_MAX ? SQLITE_TOOBIG
                               : sqlite3_bind_text(q->st, idx, s, (int)n, SQLITE_STATIC));
}

/* A NULL pointer would bind SQL NULL, and an empty config or state is a
 * real, empty payload. */
void db_q_blob(struct db_q *q, int idx, const void *p, size_t n) {
    if (q->rc == SQLITE_OK)
        q_bound(q, sqlite3_bind_blob64(q->st, idx, n ? p : "", n, SQLITE_STATIC));
}

int db_q_step(struct db_q *q) {
    int rc;
    if (q->rc != SQLITE_OK)
        return q->rc;
    rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    q->rc = rc;
    db_record(q->db, rc);
    return rc;
}

/* Resetting (cached) or finalizing (fresh) also ends the statement's read
 * snapshot, so checkpoints are not held back. */
int db_q_end(struct db_q *q) {
    if (q->st) {
        if (q->fresh) {
            sqlite3_finalize(q->st);
        } else {
            sqlite3_reset(q->st);
            sqlite3_clear_bindings(q->st);
        }
        q->st = NULL;
    }
    return q->rc == SQLITE_OK ? 0 : map_rc(q->rc);
}

int db_q_run(struct db_q *q) {
    (void)db_q_step(q);
    return db_q_end(q);
}

int db_q_run_changes(struct db_q *q, const char *what) {
    int e = db_q_run(q);
    if (e < 0)
        return e;
    if (sqlite3_changes(q->db->sq) == 0)
        return db_set_err(q->db, -ENOENT, what);
    return 0;
}

int db_q_int64(struct db_q *q, int64_t *ret) {
    int64_t v = 0;
    int e;
    if (db_q_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q->st, 0);
    e = db_q_end(q);
    if (e < 0)
        return e;
    *ret = v;
    return 0;
}

int db_exec_stmt(struct db *db, enum db_stmt id, bool quiet) {
    struct db_q q;
    char saved[sizeof db->err];
    int r;
    if (quiet)
        memcpy(saved, db->err, sizeof saved);
    db_q_open(&q, db, id, false);
    r = db_q_run(&q);
    if (quiet)
        memcpy(db->err, saved, sizeof saved);
    return r;
}

/* ---- column readers and argument checks ---- */

void db_col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    db_copy_trunc(dst, cap, s, s ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

int db_col_strdup(sqlite3_stmt *st, int i, char **ret) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n;
    char *p;
    if (!s) {
        /* A NULL text of a non-NULL column is SQLite failing to convert. */
        if (sqlite3_column_type(st, i) != SQLITE_NULL)
            return -ENOMEM;
        *ret = NULL;
        return 0;
    }
    n = (size_t)sqlite3_column_bytes(st, i);
    p = malloc(n + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, s, n);
    p[n] = '\0';
    *ret = p;
    return 0;
}

int db_col_blobdup(sqlite3_stmt *st, int i, uint8_t **ret, size_t *ret_len) {
    const void *b = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    uint8_t *p;
    if (!b && n > 0)
        return -ENOMEM;
    p = malloc(n ? n : 1);
    if (!p)
        return -ENOMEM;
    if (n)
        memcpy(p, b, n);
    *ret = p;
    *ret_len = n;
    return 0;
}

bool db_id_ok(const char *s) {
    size_t n;
    if (!s)
        return false;
    n = strnlen(s, DB_ID_MAX);
    return n > 0 && n < DB_ID_MAX;
}

int64_t db_limit_of(int limit) {
    return limit > 0 ? limit : -1;         /* SQLite: a negative LIMIT means none */
}

/* ---- row runners ---- */

int db_q_one(struct db_q *q, const struct db_row_ops *ops, void *ret) {
    union db_row tmp;
    int rc = db_q_step(q), r = -ENOENT, e;
    if (rc == SQLITE_ROW)
        r = ops->read(q->st, &tmp);
    e = db_q_end(q);
    if (e >= 0 && r >= 0) {
        memcpy(ret, &tmp, ops->size);
        return 0;
    }
    if (rc == SQLITE_ROW)
        ops->clear(&tmp);
    if (e < 0)
        return e;
    return db_set_err(q->db, r, r == -ENOENT ? ops->not_found : "out of memory");
}

int db_q_list(struct db_q *q, const struct db_row_ops *ops, void (*cb)(void), void *ud) {
    union db_row row;
    int n = 0, r = 0, e;
    while (db_q_step(q) == SQLITE_ROW) {
        int c;
        r = ops->read(q->st, &row);
        if (r < 0) {
            ops->clear(&row);
            db_set_err(q->db, r, "out of memory");
            break;
        }
        c = ops->emit(cb, &row, ud);
        ops->clear(&row);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    e = db_q_end(q);
    if (e < 0)
        return e;
    return r < 0 ? r : n;
}
