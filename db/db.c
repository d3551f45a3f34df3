/* The store's handle: opening the SQLite file (connection settings, WAL,
 * pragmas), applying the embedded migrations (db_migrations.h, generated
 * from db/migrations/ at build time), closing, and the handle's error text,
 * schema version and counters. The queries live in the db_<table>.c files;
 * the helpers they share in db_query.c and db_txn.c. */
#include "db/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "db_migrations.h"

/* Long enough to ride out a checkpoint or an operator's sqlite3 shell holding
 * the write lock; short enough that a stuck lock shows up as an error instead
 * of a frozen event loop. */
#define DB_BUSY_TIMEOUT_MS 5000
/* The -wal file is truncated back to this after a checkpoint, so one burst of
 * writes does not keep its disk space on a small box. */
#define DB_WAL_SIZE_LIMIT "16777216"

static int on_commit(void *ud) {
    struct db *db = ud;
    db->commits++;
    return 0;                              /* 0 lets the commit proceed */
}

static int read_user_version(struct db *db, int *ret) {
    struct db_q q;
    int64_t v;
    int r;
    db_q_open(&q, db, DB_ST_USER_VERSION, false);
    r = db_q_int64(&q, &v);
    if (r < 0)
        return r;
    *ret = (int)v;                         /* user_version is a 32-bit integer */
    return 0;
}

static int exec_sql(struct db *db, const char *sql) {
    int rc = sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_record(db, rc);
}

static int refuse_newer(struct db *db, int version) {
    snprintf(db->err, sizeof db->err,
             "database schema version %d is newer than this build knows (%d)", version,
             db_schema_latest());
    return -EPROTONOSUPPORT;
}

/* Each migration in its own transaction together with its user_version bump,
 * so a crash leaves the file at a whole version. The version is re-read under
 * the write lock: another process may have migrated while we waited for it. */
static int migrate(struct db *db, int from) {
    for (size_t i = 0; i < DB_MIGRATIONS_COUNT; i++) {
        const struct db_migration *m = &db_migrations[i];
        char bump[64], why[160];           /* room for the prefix in db->err */
        struct db_txn t;
        int cur, r;

        if (m->version <= from)
            continue;
        r = db_txn_begin(db, &t);          /* nothing is open yet: BEGIN IMMEDIATE */
        if (r < 0)
            return r;
        r = read_user_version(db, &cur);
        if (r >= 0 && cur > db_schema_latest())
            r = refuse_newer(db, cur);
        if (r >= 0 && cur < m->version) {
            /* The number comes from the embedded table, never from data. */
            snprintf(bump, sizeof bump, "PRAGMA user_version = %d", m->version);
            r = exec_sql(db, m->sql);
            if (r >= 0)
                r = exec_sql(db, bump);
            if (r < 0) {
                db_copy_trunc(why, sizeof why, db->err, strlen(db->err));
                snprintf(db->err, sizeof db->err, "migration %04d_%s: %s", m->version, m->name,
                         why);
            }
        }
        r = db_txn_end(db, &t, r);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A pragma that answers with one text value (uncached: run once at open). */
static int pragma_text(struct db *db, const char *sql, char *out, size_t cap) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            db_col_copy(st, 0, out, cap);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            db_copy_trunc(out, cap, "", 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        int r = db_record(db, rc);
        sqlite3_finalize(st);
        return r;
    }
    sqlite3_finalize(st);
    return 0;
}

static int setup(struct db *db) {
    char mode[32], fk[8];
    const char *file;
    int version, r;

    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, DB_BUSY_TIMEOUT_MS);
    /* Double-quoted string literals and schema edits through writable_schema
     * are SQLite legacy traps; nothing here needs them. */
    sqlite3_db_config(db->sq, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(db->sq, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    sqlite3_db_config(db->sq, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_commit_hook(db->sq, on_commit, db);

    /* Before anything writes: a newer schema is left exactly as it is. */
    r = read_user_version(db, &version);
    if (r < 0)
        return r;
    if (version > db_schema_latest())
        return refuse_newer(db, version);

    r = pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if (r < 0)
        return r;
    file = sqlite3_db_filename(db->sq, "main");
    /* In-memory and temporary databases cannot be WAL; real files must be. */
    if (strcmp(mode, "wal") != 0 && file && *file) {
        snprintf(db->err, sizeof db->err, "journal_mode is %s, not wal", mode);
        return -EIO;
    }
    /* NORMAL in WAL mode: a power cut may lose the last transactions but never
     * corrupts; the daemon acknowledges nothing on the strength of a commit
     * that FULL would have made durable and NORMAL not. */
    r = exec_sql(db, "PRAGMA synchronous = NORMAL");
    if (r >= 0)
        r = exec_sql(db, "PRAGMA foreign_keys = ON");
    if (r >= 0)
        r = exec_sql(db, "PRAGMA journal_size_limit = " DB_WAL_SIZE_LIMIT);
    if (r >= 0)
        r = pragma_text(db, "PRAGMA foreign_keys", fk, sizeof fk);
    if (r < 0)
        return r;
    if (strcmp(fk, "1") != 0)              /* the cascades depend on it */
        return db_set_err(db, -EIO, "foreign keys cannot be enabled in this SQLite build");
    return migrate(db, version);
}

/* The caller's error line (err may be NULL, err_len 0). */
static void open_err(char *err, size_t err_len, const char *msg) {
    if (err)
        db_copy_trunc(err, err_len, msg, strlen(msg));
}

int db_open_err(const char *path, struct db **ret, char *err, size_t err_len) {
    struct db *db;
    int rc, r;

    open_err(err, err_len, "");
    if (!path || !ret) {
        open_err(err, err_len, "no path");
        return -EINVAL;
    }
    db = calloc(1, sizeof *db);
    if (!db) {
        open_err(err, err_len, "out of memory");
        return -ENOMEM;
    }
    /* NOMUTEX: one thread (the loop) owns the handle, so SQLite's per-call
     * locking buys nothing. */
    rc = sqlite3_open_v2(path, &db->sq,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        r = db->sq ? db_record(db, rc) : db_set_err(db, -ENOMEM, "out of memory");
    else
        r = setup(db);
    if (r < 0) {
        open_err(err, err_len, db->err);
        db_close(db);
        return r;
    }
    db->ready = true;
    db->err[0] = '\0';
    *ret = db;
    return 0;
}

int db_open(const char *path, struct db **ret) {
    return db_open_err(path, ret, NULL, 0);
}

void db_close(struct db *db) {
    if (!db)
        return;
    if (db->sq) {
        if (db->ready && db->marks.n > 0)
            (void)db_flush_marks(db);
        for (size_t i = 0; i < DB_ST__COUNT; i++)
            sqlite3_finalize(db->stmts[i]);
        /* Recommended before closing a long-lived connection: refreshes the
         * planner statistics that need it, cheap when none do. */
        /* Not on a refused open: a newer schema is left untouched. */
        if (db->ready && sqlite3_get_autocommit(db->sq))
            (void)sqlite3_exec(db->sq, "PRAGMA optimize", NULL, NULL, NULL);
        sqlite3_close_v2(db->sq);
    }
    db_marks_free(&db->marks);
    free(db);
}

const char *db_last_error(struct db *db) {
    if (!db)
        return "no database";
    return db->err[0] ? db->err : "no error";
}

int db_schema_version(struct db *db) {
    int v, r;
    if (!db)
        return -EINVAL;
    r = read_user_version(db, &v);
    return r < 0 ? r : v;
}

int db_schema_latest(void) {
    return db_migrations[DB_MIGRATIONS_COUNT - 1].version;
}

void db_stats(struct db *db, struct db_stats *ret) {
    if (!ret)
        return;
    memset(ret, 0, sizeof *ret);
    if (!db)
        return;
    ret->commits = db->commits;
    ret->marks_pending = db->marks.n;
}
