/* The store: the only code that speaks SQL. It owns the SQLite handle, the
 * embedded migrations (db_migrations.h, generated from db/migrations/ at build
 * time), one cache of prepared statements per handle, the SQLite -> errno
 * mapping, and the in-memory table of pending last-seen marks that is written
 * in one transaction per flush. Every query binds its values; SQL text is only
 * ever the constant strings below or the embedded migrations. */
#include "db/db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "common/timeutil.h"
#include "db_migrations.h"

/* Long enough to ride out a checkpoint or an operator's sqlite3 shell holding
 * the write lock; short enough that a stuck lock shows up as an error instead
 * of a frozen event loop. */
#define DB_BUSY_TIMEOUT_MS 5000
/* The -wal file is truncated back to this after a checkpoint, so one burst of
 * writes does not keep its disk space on a small box. */
#define DB_WAL_SIZE_LIMIT "16777216"
/* A num_id collision needs two equal draws out of 2^63; retrying a few times
 * covers it, and more than that means the random source is broken. */
#define DB_NUM_ID_ATTEMPTS 8

/* ---- statements ---- */

#define REGISTRY_COLS "pk, project, location, id, extra_json, created_us"
#define DEVICE_COLS                                                                        \
    "pk, registry_pk, id, num_id, blocked, extra_json, created_us, last_heartbeat_us, "    \
    "last_event_us, last_state_us, last_config_ack_us, last_config_send_us, "              \
    "last_error_us, last_error_code, last_error_message"
#define CONFIG_COLS "version, cloud_update_us, device_ack_us, data"
#define STATE_COLS "update_us, data"

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_USER_VERSION,
    ST_REG_INSERT,
    ST_REG_GET,
    ST_REG_GET_PK,
    ST_REG_UPDATE_EXTRA,
    ST_REG_HAS_DEVICES,
    ST_REG_DELETE,
    ST_REG_LIST,
    ST_DEV_INSERT,
    ST_DEV_EXISTS,
    ST_DEV_EXISTS_ID,
    ST_DEV_GET_ID,
    ST_DEV_GET_NUM,
    ST_DEV_GET_PK,
    ST_DEV_UPDATE,
    ST_DEV_DELETE,
    ST_DEV_LIST,
    ST_DEV_COUNT,
    ST_DEV_SET_ERROR,
    ST_MARK_HEARTBEAT,      /* ST_MARK_* follow enum db_mark's order */
    ST_MARK_EVENT,
    ST_MARK_STATE,
    ST_MARK_CONFIG_ACK,
    ST_MARK_CONFIG_SEND,
    ST_CRED_DELETE,
    ST_CRED_INSERT,
    ST_CRED_LIST,
    ST_CFG_MAX,
    ST_CFG_INSERT,
    ST_CFG_TRIM,
    ST_CFG_LATEST,
    ST_CFG_GET,
    ST_CFG_ACK,
    ST_CFG_LIST,
    ST_STATE_INSERT,
    ST_STATE_TRIM,
    ST_STATE_LATEST,
    ST_STATE_LIST,
    ST__COUNT,
};

static const char *const stmt_sql[ST__COUNT] = {
    /* BEGIN IMMEDIATE takes the write lock up front: a deferred transaction
     * that reads first and writes later fails at once with SQLITE_BUSY_SNAPSHOT
     * in WAL mode when another connection wrote in between. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT db_op",
    [ST_RELEASE] = "RELEASE db_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO db_op",
    [ST_USER_VERSION] = "PRAGMA user_version",

    [ST_REG_INSERT] = "INSERT INTO registries (project, location, id, extra_json, created_us) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_REG_GET] = "SELECT " REGISTRY_COLS " FROM registries "
                   "WHERE project = ?1 AND location = ?2 AND id = ?3",
    [ST_REG_GET_PK] = "SELECT " REGISTRY_COLS " FROM registries WHERE pk = ?1",
    [ST_REG_UPDATE_EXTRA] = "UPDATE registries SET extra_json = ?2 WHERE pk = ?1",
    [ST_REG_HAS_DEVICES] = "SELECT EXISTS (SELECT 1 FROM devices WHERE registry_pk = ?1)",
    [ST_REG_DELETE] = "DELETE FROM registries WHERE pk = ?1",
    [ST_REG_LIST] = "SELECT " REGISTRY_COLS " FROM registries "
                    "WHERE project = ?1 AND location = ?2 AND pk > ?3 ORDER BY pk LIMIT ?4",

    [ST_DEV_INSERT] = "INSERT INTO devices (registry_pk, id, num_id, blocked, extra_json, "
                      "created_us, last_heartbeat_us, last_event_us, last_state_us, "
                      "last_config_ack_us, last_config_send_us, last_error_us, "
                      "last_error_code, last_error_message) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_DEV_EXISTS] = "SELECT 1 FROM devices WHERE pk = ?1",
    [ST_DEV_EXISTS_ID] = "SELECT 1 FROM devices WHERE registry_pk = ?1 AND id = ?2",
    [ST_DEV_GET_ID] = "SELECT " DEVICE_COLS " FROM devices WHERE registry_pk = ?1 AND id = ?2",
    [ST_DEV_GET_NUM] = "SELECT " DEVICE_COLS " FROM devices "
                       "WHERE num_id = ?1 AND (?2 = 0 OR registry_pk = ?2)",
    [ST_DEV_GET_PK] = "SELECT " DEVICE_COLS " FROM devices WHERE pk = ?1",
    [ST_DEV_UPDATE] = "UPDATE devices SET blocked = ?2, extra_json = ?3 WHERE pk = ?1",
    [ST_DEV_DELETE] = "DELETE FROM devices WHERE pk = ?1",
    [ST_DEV_LIST] = "SELECT " DEVICE_COLS " FROM devices "
                    "WHERE registry_pk = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
    [ST_DEV_COUNT] = "SELECT count(*) FROM devices WHERE registry_pk = ?1",
    [ST_DEV_SET_ERROR] = "UPDATE devices SET last_error_us = ?2, last_error_code = ?3, "
                         "last_error_message = ?4 WHERE pk = ?1",
    [ST_MARK_HEARTBEAT] = "UPDATE devices SET last_heartbeat_us = ?2 WHERE pk = ?1",
    [ST_MARK_EVENT] = "UPDATE devices SET last_event_us = ?2 WHERE pk = ?1",
    [ST_MARK_STATE] = "UPDATE devices SET last_state_us = ?2 WHERE pk = ?1",
    [ST_MARK_CONFIG_ACK] = "UPDATE devices SET last_config_ack_us = ?2 WHERE pk = ?1",
    [ST_MARK_CONFIG_SEND] = "UPDATE devices SET last_config_send_us = ?2 WHERE pk = ?1",

    [ST_CRED_DELETE] = "DELETE FROM credentials WHERE device_pk = ?1",
    [ST_CRED_INSERT] = "INSERT INTO credentials (device_pk, position, format, key_pem, "
                       "expiration_us) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_CRED_LIST] = "SELECT format, key_pem, expiration_us FROM credentials "
                     "WHERE device_pk = ?1 ORDER BY position LIMIT ?2",

    [ST_CFG_MAX] = "SELECT max(version) FROM device_configs WHERE device_pk = ?1",
    [ST_CFG_INSERT] = "INSERT INTO device_configs (device_pk, version, cloud_update_us, "
                      "device_ack_us, data) VALUES (?1, ?2, ?3, 0, ?4)",
    [ST_CFG_TRIM] = "DELETE FROM device_configs WHERE device_pk = ?1 AND version <= ?2",
    [ST_CFG_LATEST] = "SELECT " CONFIG_COLS " FROM device_configs "
                      "WHERE device_pk = ?1 ORDER BY version DESC LIMIT 1",
    [ST_CFG_GET] = "SELECT " CONFIG_COLS " FROM device_configs "
                   "WHERE device_pk = ?1 AND version = ?2",
    [ST_CFG_ACK] = "UPDATE device_configs SET device_ack_us = ?3 "
                   "WHERE device_pk = ?1 AND version = ?2",
    [ST_CFG_LIST] = "SELECT " CONFIG_COLS " FROM device_configs "
                    "WHERE device_pk = ?1 ORDER BY version DESC LIMIT ?2",

    [ST_STATE_INSERT] = "INSERT INTO device_states (device_pk, update_us, data) "
                        "VALUES (?1, ?2, ?3)",
    /* Deletes the (?2+1)-th newest and everything older; with fewer rows the
     * subquery is NULL and nothing matches. */
    [ST_STATE_TRIM] = "DELETE FROM device_states WHERE device_pk = ?1 AND pk <= "
                      "(SELECT pk FROM device_states WHERE device_pk = ?1 "
                      "ORDER BY pk DESC LIMIT 1 OFFSET ?2)",
    [ST_STATE_LATEST] = "SELECT " STATE_COLS " FROM device_states "
                        "WHERE device_pk = ?1 ORDER BY pk DESC LIMIT 1",
    [ST_STATE_LIST] = "SELECT " STATE_COLS " FROM device_states "
                      "WHERE device_pk = ?1 ORDER BY pk DESC LIMIT ?2",
};

/* ---- the handle ---- */

/* Pending marks of one device; a bit in `set` per enum db_mark. */
struct mark {
    int64_t device;
    int64_t at[DB_MARK__COUNT];
    uint8_t set;
};

struct db {
    sqlite3 *sq;                           /* owned */
    sqlite3_stmt *stmts[ST__COUNT];        /* owned, prepared on first use */
    char err[256];                         /* last failure, for db_last_error */
    uint64_t commits;
    bool ready;                            /* opened and migrated */

    /* Pending marks: a dense array (flushed in insertion order) plus an open
     * addressing index of entry+1 (0 = empty slot), at most half full. */
    struct mark *marks;                    /* owned */
    size_t marks_n, marks_cap;
    uint32_t *mark_index;                  /* owned, mark_index_cap slots, a power of two */
    size_t mark_index_cap;

    int (*num_id_fn)(void *ud, uint64_t *ret);   /* tests only; NULL = getrandom */
    void *num_id_ud;                             /* borrowed */
};

static void copy_trunc(char *dst, size_t cap, const char *src, size_t len) {
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

static int set_err(struct db *db, int r, const char *msg) {
    copy_trunc(db->err, sizeof db->err, msg, strlen(msg));
    return r;
}

/* SQLite result codes are converted here, once (extended codes are on). */
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

static int record(struct db *db, int rc) {
    const char *msg = sqlite3_errmsg(db->sq);
    if (!msg || !*msg)
        msg = sqlite3_errstr(rc);
    copy_trunc(db->err, sizeof db->err, msg, strlen(msg));
    return map_rc(rc);
}

/* ---- one query: sticky first error, checked once ---- */

struct q {
    struct db *db;                         /* borrowed */
    sqlite3_stmt *st;                      /* cached (borrowed) or fresh (owned) */
    int rc;                                /* first SQLite failure */
    bool fresh;
};

/* Cached statements serve the single-row calls. List calls prepare their own
 * (fresh) statement, so a list callback may run any other db_* call on the
 * same handle, a nested list included, without resetting the walk under it. */
static void q_open(struct q *q, struct db *db, enum stmt id, bool fresh) {
    int rc = SQLITE_OK;
    q->db = db;
    q->st = NULL;
    q->rc = SQLITE_OK;
    q->fresh = fresh;
    if (fresh) {
        rc = sqlite3_prepare_v2(db->sq, stmt_sql[id], -1, &q->st, NULL);
    } else {
        if (!db->stmts[id])
            rc = sqlite3_prepare_v3(db->sq, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &db->stmts[id], NULL);
        q->st = db->stmts[id];
    }
    if (rc != SQLITE_OK) {
        q->rc = rc;
        record(db, rc);
        if (fresh)
            sqlite3_finalize(q->st);
        q->st = NULL;
    }
}

static void q_bound(struct q *q, int rc) {
    if (rc != SQLITE_OK && q->rc == SQLITE_OK) {
        q->rc = rc;
        record(q->db, rc);
    }
}

static void q_i64(struct q *q, int idx, int64_t v) {
    if (q->rc == SQLITE_OK)
        q_bound(q, sqlite3_bind_int64(q->st, idx, v));
}

/* NULL binds SQL NULL. SQLITE_STATIC: every caller steps before returning. */
static void q_text(struct q *q, int idx, const char *s) {
    if (q->rc != SQLITE_OK)
        return;
    if (s)
        q_bound(q, sqlite3_bind_text(q->st, idx, s, -1, SQLITE_STATIC));
    else
        q_bound(q, sqlite3_bind_null(q->st, idx));
}

/* Always a blob, never NULL: a NULL pointer would bind SQL NULL, and an empty
 * config or state is a real, empty payload. */
static void q_blob(struct q *q, int idx, const void *p, size_t n) {
    if (q->rc == SQLITE_OK)
        q_bound(q, sqlite3_bind_blob64(q->st, idx, n ? p : "", n, SQLITE_STATIC));
}

/* SQLITE_ROW, SQLITE_DONE, or the (recorded) failure. */
static int q_step(struct q *q) {
    int rc;
    if (q->rc != SQLITE_OK)
        return q->rc;
    rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    q->rc = rc;
    record(q->db, rc);
    return rc;
}

/* Resets (cached) or finalizes (fresh) the statement, which also ends its read
 * snapshot so checkpoints are not held back. Returns 0 or the mapped error. */
static int q_end(struct q *q) {
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

/* Runs a statement that returns no rows we need. */
static int q_run(struct q *q) {
    (void)q_step(q);
    return q_end(q);
}

/* A statement without parameters or rows; quiet leaves db->err alone (used on
 * rollback paths, whose own failure would hide the error that caused them). */
static int exec_stmt(struct db *db, enum stmt id, bool quiet) {
    struct q q;
    char saved[sizeof db->err];
    int r;
    if (quiet)
        memcpy(saved, db->err, sizeof saved);
    q_open(&q, db, id, false);
    r = q_run(&q);
    if (quiet)
        memcpy(db->err, saved, sizeof saved);
    return r;
}

/* ---- column readers ---- */

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    copy_trunc(dst, cap, s, s ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

/* NULL column -> NULL. */
static int col_strdup(sqlite3_stmt *st, int i, char **ret) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n;
    char *p;
    if (!s) {
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

/* Always allocates (at least one byte), so a read payload is never NULL. */
static int col_blobdup(sqlite3_stmt *st, int i, uint8_t **ret, size_t *ret_len) {
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

static bool id_ok(const char *s) {
    size_t n;
    if (!s)
        return false;
    n = strnlen(s, DB_ID_MAX);
    return n > 0 && n < DB_ID_MAX;
}

/* ---- transactions ---- */

/* A write of several rows: its own transaction when none is open, else a
 * savepoint inside the caller's. */
struct txn {
    bool outer;
};

static int txn_begin(struct db *db, struct txn *t) {
    t->outer = sqlite3_get_autocommit(db->sq) != 0;
    return exec_stmt(db, t->outer ? ST_BEGIN : ST_SAVEPOINT, false);
}

/* Commits when r >= 0, else rolls back; returns r or the commit failure. */
static int txn_end(struct db *db, struct txn *t, int r) {
    if (r >= 0) {
        int c = exec_stmt(db, t->outer ? ST_COMMIT : ST_RELEASE, false);
        if (c >= 0)
            return r;
        r = c;
    }
    if (t->outer) {
        /* SQLite may already have rolled back (I/O error, out of memory). */
        if (!sqlite3_get_autocommit(db->sq))
            (void)exec_stmt(db, ST_ROLLBACK, true);
    } else {
        (void)exec_stmt(db, ST_ROLLBACK_TO, true);
        (void)exec_stmt(db, ST_RELEASE, true);
    }
    return r;
}

int db_begin(struct db *db) {
    if (!db)
        return -EINVAL;
    if (!sqlite3_get_autocommit(db->sq))
        return set_err(db, -EBUSY, "a transaction is already open");
    return exec_stmt(db, ST_BEGIN, false);
}

int db_commit(struct db *db) {
    if (!db)
        return -EINVAL;
    return exec_stmt(db, ST_COMMIT, false);
}

int db_rollback(struct db *db) {
    if (!db)
        return -EINVAL;
    if (sqlite3_get_autocommit(db->sq))
        return 0;
    return exec_stmt(db, ST_ROLLBACK, false);
}

/* ---- open, migrate, close ---- */

static int on_commit(void *ud) {
    struct db *db = ud;
    db->commits++;
    return 0;                              /* 0 lets the commit proceed */
}

static int read_user_version(struct db *db, int *ret) {
    struct q q;
    int v = 0, r;
    q_open(&q, db, ST_USER_VERSION, false);
    if (q_step(&q) == SQLITE_ROW)
        v = sqlite3_column_int(q.st, 0);
    r = q_end(&q);
    if (r < 0)
        return r;
    *ret = v;
    return 0;
}

static int exec_sql(struct db *db, const char *sql) {
    int rc = sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : record(db, rc);
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
        int cur, r;

        if (m->version <= from)
            continue;
        r = exec_stmt(db, ST_BEGIN, false);
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
                copy_trunc(why, sizeof why, db->err, strlen(db->err));
                snprintf(db->err, sizeof db->err, "migration %04d_%s: %s", m->version, m->name,
                         why);
            }
        }
        if (r >= 0)
            r = exec_stmt(db, ST_COMMIT, false);
        if (r < 0) {
            if (!sqlite3_get_autocommit(db->sq))
                (void)exec_stmt(db, ST_ROLLBACK, true);
            return r;
        }
    }
    return 0;
}

static int pragma_text(struct db *db, const char *sql, char *out, size_t cap) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            col_copy(st, 0, out, cap);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            copy_trunc(out, cap, "", 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        int r = record(db, rc);
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
        return set_err(db, -EIO, "foreign keys cannot be enabled in this SQLite build");
    return migrate(db, version);
}

int db_open_err(const char *path, struct db **ret, char *err, size_t err_len) {
    struct db *db;
    int rc, r;

    if (err && err_len)
        err[0] = '\0';
    if (!path || !ret) {
        if (err && err_len)
            copy_trunc(err, err_len, "no path", 7);
        return -EINVAL;
    }
    db = calloc(1, sizeof *db);
    if (!db) {
        if (err && err_len)
            copy_trunc(err, err_len, "out of memory", 13);
        return -ENOMEM;
    }
    /* NOMUTEX: one thread (the loop) owns the handle, so SQLite's per-call
     * locking buys nothing. */
    rc = sqlite3_open_v2(path, &db->sq,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        r = db->sq ? record(db, rc) : set_err(db, -ENOMEM, "out of memory");
    else
        r = setup(db);
    if (r < 0) {
        if (err && err_len)
            copy_trunc(err, err_len, db->err, strlen(db->err));
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
        if (db->ready && db->marks_n > 0)
            (void)db_flush_marks(db);
        for (size_t i = 0; i < ST__COUNT; i++)
            sqlite3_finalize(db->stmts[i]);
        /* Recommended before closing a long-lived connection: refreshes the
         * planner statistics that need it, cheap when none do. */
        /* Not on a refused open: a newer schema is left untouched. */
        if (db->ready && sqlite3_get_autocommit(db->sq))
            (void)sqlite3_exec(db->sq, "PRAGMA optimize", NULL, NULL, NULL);
        sqlite3_close_v2(db->sq);
    }
    free(db->marks);
    free(db->mark_index);
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
    ret->marks_pending = db->marks_n;
}

void db_set_num_id_source(struct db *db, int (*fn)(void *ud, uint64_t *ret), void *ud) {
    if (!db)
        return;
    db->num_id_fn = fn;
    db->num_id_ud = ud;
}

/* ---- registries ---- */

void db_registry_clear(struct db_registry *r) {
    if (!r)
        return;
    free(r->extra_json);
    memset(r, 0, sizeof *r);
}

static int read_registry(sqlite3_stmt *st, struct db_registry *r) {
    memset(r, 0, sizeof *r);
    r->rowid = sqlite3_column_int64(st, 0);
    col_copy(st, 1, r->project, sizeof r->project);
    col_copy(st, 2, r->location, sizeof r->location);
    col_copy(st, 3, r->id, sizeof r->id);
    r->created_us = sqlite3_column_int64(st, 5);
    return col_strdup(st, 4, &r->extra_json);
}

/* Runs a prepared single-row registry query into *ret. */
static int registry_one(struct q *q, struct db_registry *ret) {
    struct db_registry tmp;
    int rc = q_step(q), r = -ENOENT;
    if (rc == SQLITE_ROW)
        r = read_registry(q->st, &tmp);
    int e = q_end(q);
    if (e < 0) {
        if (r >= 0 && rc == SQLITE_ROW)
            db_registry_clear(&tmp);
        return e;
    }
    if (r == -ENOENT)
        return set_err(q->db, -ENOENT, "registry not found");
    if (r < 0) {
        db_registry_clear(&tmp);
        return set_err(q->db, r, "out of memory");
    }
    *ret = tmp;
    return 0;
}

int db_registry_insert(struct db *db, struct db_registry *r) {
    struct q q;
    int64_t created;
    int e;
    if (!db || !r)
        return -EINVAL;
    if (!id_ok(r->project) || !id_ok(r->location) || !id_ok(r->id))
        return set_err(db, -EINVAL, "project, location and id must be 1..255 bytes");
    created = r->created_us ? r->created_us : time_now_unix_us();
    q_open(&q, db, ST_REG_INSERT, false);
    q_text(&q, 1, r->project);
    q_text(&q, 2, r->location);
    q_text(&q, 3, r->id);
    q_text(&q, 4, r->extra_json);
    q_i64(&q, 5, created);
    e = q_run(&q);
    if (e < 0)
        return e;
    r->rowid = sqlite3_last_insert_rowid(db->sq);
    r->created_us = created;
    return 0;
}

int db_registry_get(struct db *db, const char *project, const char *location, const char *id,
                    struct db_registry *ret) {
    struct q q;
    if (!db || !project || !location || !id || !ret)
        return -EINVAL;
    q_open(&q, db, ST_REG_GET, false);
    q_text(&q, 1, project);
    q_text(&q, 2, location);
    q_text(&q, 3, id);
    return registry_one(&q, ret);
}

int db_registry_get_by_rowid(struct db *db, int64_t rowid, struct db_registry *ret) {
    struct q q;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_REG_GET_PK, false);
    q_i64(&q, 1, rowid);
    return registry_one(&q, ret);
}

/* Runs an UPDATE/DELETE keyed by rowid; -ENOENT when it touched no row. */
static int run_changes(struct q *q, const char *what) {
    int e = q_run(q);
    if (e < 0)
        return e;
    if (sqlite3_changes(q->db->sq) == 0)
        return set_err(q->db, -ENOENT, what);
    return 0;
}

int db_registry_update_extra(struct db *db, int64_t rowid, const char *extra_json) {
    struct q q;
    if (!db)
        return -EINVAL;
    q_open(&q, db, ST_REG_UPDATE_EXTRA, false);
    q_i64(&q, 1, rowid);
    q_text(&q, 2, extra_json);
    return run_changes(&q, "registry not found");
}

int db_registry_delete(struct db *db, int64_t rowid) {
    struct q q;
    struct txn t;
    int has = 0, r;
    if (!db)
        return -EINVAL;
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    q_open(&q, db, ST_REG_HAS_DEVICES, false);
    q_i64(&q, 1, rowid);
    if (q_step(&q) == SQLITE_ROW)
        has = sqlite3_column_int(q.st, 0);
    r = q_end(&q);
    if (r >= 0 && has)
        r = set_err(db, -ENOTEMPTY, "registry has devices");   /* Google refused too */
    if (r >= 0) {
        q_open(&q, db, ST_REG_DELETE, false);
        q_i64(&q, 1, rowid);
        r = run_changes(&q, "registry not found");
    }
    return txn_end(db, &t, r);
}

static int limit_of(int limit) {
    return limit > 0 ? limit : -1;         /* SQLite: a negative LIMIT means none */
}

int db_registry_list(struct db *db, const char *project, const char *location, int64_t after_rowid,
                     int limit, int (*cb)(const struct db_registry *r, void *ud), void *ud) {
    struct q q;
    int n = 0, r = 0, e;
    if (!db || !project || !location || !cb)
        return -EINVAL;
    q_open(&q, db, ST_REG_LIST, true);
    q_text(&q, 1, project);
    q_text(&q, 2, location);
    q_i64(&q, 3, after_rowid);
    q_i64(&q, 4, limit_of(limit));
    while (q_step(&q) == SQLITE_ROW) {
        struct db_registry reg;
        int c;
        r = read_registry(q.st, &reg);
        if (r < 0) {
            db_registry_clear(&reg);
            set_err(db, r, "out of memory");
            break;
        }
        c = cb(&reg, ud);
        db_registry_clear(&reg);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    e = q_end(&q);
    if (e < 0)
        return e;
    return r < 0 ? r : n;
}

/* ---- devices ---- */

void db_device_clear(struct db_device *d) {
    if (!d)
        return;
    free(d->extra_json);
    memset(d, 0, sizeof *d);
}

static int read_device(sqlite3_stmt *st, struct db_device *d) {
    memset(d, 0, sizeof *d);
    d->rowid = sqlite3_column_int64(st, 0);
    d->registry_rowid = sqlite3_column_int64(st, 1);
    col_copy(st, 2, d->id, sizeof d->id);
    d->num_id = (uint64_t)sqlite3_column_int64(st, 3);   /* the stored bit pattern */
    d->blocked = sqlite3_column_int(st, 4) != 0;
    d->created_us = sqlite3_column_int64(st, 6);
    d->last_heartbeat_us = sqlite3_column_int64(st, 7);
    d->last_event_us = sqlite3_column_int64(st, 8);
    d->last_state_us = sqlite3_column_int64(st, 9);
    d->last_config_ack_us = sqlite3_column_int64(st, 10);
    d->last_config_send_us = sqlite3_column_int64(st, 11);
    d->last_error_us = sqlite3_column_int64(st, 12);
    d->last_error_code = (int32_t)sqlite3_column_int(st, 13);
    col_copy(st, 14, d->last_error_message, sizeof d->last_error_message);
    return col_strdup(st, 5, &d->extra_json);
}

static int device_one(struct q *q, struct db_device *ret) {
    struct db_device tmp;
    int rc = q_step(q), r = -ENOENT;
    if (rc == SQLITE_ROW)
        r = read_device(q->st, &tmp);
    int e = q_end(q);
    if (e < 0) {
        if (rc == SQLITE_ROW)
            db_device_clear(&tmp);
        return e;
    }
    if (r == -ENOENT)
        return set_err(q->db, -ENOENT, "device not found");
    if (r < 0) {
        db_device_clear(&tmp);
        return set_err(q->db, r, "out of memory");
    }
    *ret = tmp;
    return 0;
}

/* 1 if the query found a row, 0 if not, or the error. */
static int exists(struct db *db, enum stmt id, int64_t key, const char *text) {
    struct q q;
    int rc, e;
    q_open(&q, db, id, false);
    q_i64(&q, 1, key);
    if (text)
        q_text(&q, 2, text);
    rc = q_step(&q);
    e = q_end(&q);
    if (e < 0)
        return e;
    return rc == SQLITE_ROW;
}

static int draw_num_id(struct db *db, uint64_t *ret) {
    uint64_t v = 0;
    if (db->num_id_fn) {
        int r = db->num_id_fn(db->num_id_ud, &v);
        if (r < 0)
            return r;
    } else {
        uint8_t *p = (uint8_t *)&v;
        size_t got = 0;
        while (got < sizeof v) {
            ssize_t k = getrandom(p + got, sizeof v - got, 0);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                return set_err(db, -errno, "getrandom failed");
            }
            got += (size_t)k;
        }
    }
    /* Below 2^63: prints as a positive decimal from every language's signed
     * 64-bit integer, as Google's numIds did. */
    *ret = v & (uint64_t)INT64_MAX;
    return 0;
}

static int device_insert_row(struct db *db, const struct db_device *d, uint64_t num_id,
                             int64_t created) {
    char msg[sizeof d->last_error_message];
    struct q q;
    /* The struct's buffer need not be terminated; store what a read returns. */
    copy_trunc(msg, sizeof msg, d->last_error_message,
               strnlen(d->last_error_message, sizeof d->last_error_message));
    q_open(&q, db, ST_DEV_INSERT, false);
    q_i64(&q, 1, d->registry_rowid);
    q_text(&q, 2, d->id);
    q_i64(&q, 3, (int64_t)num_id);
    q_i64(&q, 4, d->blocked ? 1 : 0);
    q_text(&q, 5, d->extra_json);
    q_i64(&q, 6, created);
    q_i64(&q, 7, d->last_heartbeat_us);
    q_i64(&q, 8, d->last_event_us);
    q_i64(&q, 9, d->last_state_us);
    q_i64(&q, 10, d->last_config_ack_us);
    q_i64(&q, 11, d->last_config_send_us);
    q_i64(&q, 12, d->last_error_us);
    q_i64(&q, 13, d->last_error_code);
    q_text(&q, 14, msg);
    return q_run(&q);
}

static int config_insert_row(struct db *db, int64_t device, int64_t version, int64_t now_us,
                             const void *data, size_t len) {
    struct q q;
    q_open(&q, db, ST_CFG_INSERT, false);
    q_i64(&q, 1, device);
    q_i64(&q, 2, version);
    q_i64(&q, 3, now_us);
    q_blob(&q, 4, data, len);
    return q_run(&q);
}

static int device_insert(struct db *db, struct db_device *d, bool draw) {
    struct txn t;
    uint64_t num_id = d->num_id;
    int64_t created, rowid = 0;
    int r;

    if (!id_ok(d->id))
        return set_err(db, -EINVAL, "device id must be 1..255 bytes");
    if (!draw && num_id == 0)
        return set_err(db, -EINVAL, "num_id 0 is reserved");
    created = d->created_us ? d->created_us : time_now_unix_us();
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    for (int attempt = 0;; attempt++) {
        if (draw) {
            r = draw_num_id(db, &num_id);
            if (r < 0)
                break;
            if (num_id == 0) {
                r = set_err(db, -EIO, "random source keeps returning 0");
                if (attempt + 1 < DB_NUM_ID_ATTEMPTS)
                    continue;
                break;
            }
        }
        r = device_insert_row(db, d, num_id, created);
        if (r != -EEXIST || !draw)
            break;
        /* Two unique indexes: the id (the caller's conflict) or the num_id
         * (ours: draw again). */
        r = exists(db, ST_DEV_EXISTS_ID, d->registry_rowid, d->id);
        if (r != 0) {
            if (r > 0)
                r = set_err(db, -EEXIST, "device id exists in this registry");
            break;
        }
        if (attempt + 1 >= DB_NUM_ID_ATTEMPTS) {
            r = set_err(db, -EIO, "no free num_id after several draws");
            break;
        }
    }
    if (r >= 0) {
        rowid = sqlite3_last_insert_rowid(db->sq);
        /* Google created config version 1, empty, with every device. */
        r = config_insert_row(db, rowid, 1, created, NULL, 0);
    }
    r = txn_end(db, &t, r);
    if (r < 0)
        return r;
    d->rowid = rowid;
    d->num_id = num_id;
    d->created_us = created;
    return 0;
}

int db_device_insert(struct db *db, struct db_device *d) {
    if (!db || !d)
        return -EINVAL;
    return device_insert(db, d, true);
}

int db_device_insert_num_id(struct db *db, struct db_device *d) {
    if (!db || !d)
        return -EINVAL;
    return device_insert(db, d, false);
}

int db_device_get_by_id(struct db *db, int64_t registry_rowid, const char *id, struct db_device *ret) {
    struct q q;
    if (!db || !id || !ret)
        return -EINVAL;
    q_open(&q, db, ST_DEV_GET_ID, false);
    q_i64(&q, 1, registry_rowid);
    q_text(&q, 2, id);
    return device_one(&q, ret);
}

int db_device_get_by_num_id(struct db *db, int64_t registry_rowid, uint64_t num_id,
                            struct db_device *ret) {
    struct q q;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_DEV_GET_NUM, false);
    q_i64(&q, 1, (int64_t)num_id);
    q_i64(&q, 2, registry_rowid);
    return device_one(&q, ret);
}

int db_device_get_by_rowid(struct db *db, int64_t rowid, struct db_device *ret) {
    struct q q;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_DEV_GET_PK, false);
    q_i64(&q, 1, rowid);
    return device_one(&q, ret);
}

int db_device_update(struct db *db, const struct db_device *d) {
    struct q q;
    if (!db || !d)
        return -EINVAL;
    q_open(&q, db, ST_DEV_UPDATE, false);
    q_i64(&q, 1, d->rowid);
    q_i64(&q, 2, d->blocked ? 1 : 0);
    q_text(&q, 3, d->extra_json);
    return run_changes(&q, "device not found");
}

int db_device_delete(struct db *db, int64_t rowid) {
    struct q q;
    if (!db)
        return -EINVAL;
    /* Credentials, configs and states go with it (ON DELETE CASCADE), in the
     * statement's own transaction. Pending marks for it are skipped at flush:
     * rowids are never reused (AUTOINCREMENT). */
    q_open(&q, db, ST_DEV_DELETE, false);
    q_i64(&q, 1, rowid);
    return run_changes(&q, "device not found");
}

int db_device_list(struct db *db, int64_t registry_rowid, int64_t after_rowid, int limit,
                   int (*cb)(const struct db_device *d, void *ud), void *ud) {
    struct q q;
    int n = 0, r = 0, e;
    if (!db || !cb)
        return -EINVAL;
    q_open(&q, db, ST_DEV_LIST, true);
    q_i64(&q, 1, registry_rowid);
    q_i64(&q, 2, after_rowid);
    q_i64(&q, 3, limit_of(limit));
    while (q_step(&q) == SQLITE_ROW) {
        struct db_device dev;
        int c;
        r = read_device(q.st, &dev);
        if (r < 0) {
            db_device_clear(&dev);
            set_err(db, r, "out of memory");
            break;
        }
        c = cb(&dev, ud);
        db_device_clear(&dev);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    e = q_end(&q);
    if (e < 0)
        return e;
    return r < 0 ? r : n;
}

int db_device_count(struct db *db, int64_t registry_rowid, int64_t *ret) {
    struct q q;
    int64_t n = 0;
    int e;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_DEV_COUNT, false);
    q_i64(&q, 1, registry_rowid);
    if (q_step(&q) == SQLITE_ROW)
        n = sqlite3_column_int64(q.st, 0);
    e = q_end(&q);
    if (e < 0)
        return e;
    *ret = n;
    return 0;
}

int db_device_set_error(struct db *db, int64_t device_rowid, int64_t when_us, int32_t code,
                        const char *message) {
    char cut[sizeof((struct db_device *)NULL)->last_error_message];
    struct q q;
    if (!db)
        return -EINVAL;
    /* Cut here so what is stored is exactly what a read gives back. */
    copy_trunc(cut, sizeof cut, message, message ? strlen(message) : 0);
    q_open(&q, db, ST_DEV_SET_ERROR, false);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, when_us);
    q_i64(&q, 3, code);
    q_text(&q, 4, cut);
    return run_changes(&q, "device not found");
}

/* ---- marks ---- */

static size_t mark_hash(int64_t key, size_t mask) {
    uint64_t x = (uint64_t)key;            /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (size_t)x & mask;
}

/* Slot holding key, or the empty slot where it would go. */
static size_t mark_slot(const struct db *db, int64_t key) {
    size_t mask = db->mark_index_cap - 1;
    size_t i = mark_hash(key, mask);
    while (db->mark_index[i] != 0 && db->marks[db->mark_index[i] - 1].device != key)
        i = (i + 1) & mask;
    return i;
}

static int marks_grow(struct db *db) {
    size_t cap = db->marks_cap ? db->marks_cap * 2 : 64;
    size_t icap = 1;
    struct mark *m;
    uint32_t *idx;

    if (db->marks_cap >= DB_MARKS_MAX)
        return -ENOMEM;
    if (cap > DB_MARKS_MAX)
        cap = DB_MARKS_MAX;
    while (icap < cap * 2)                 /* at most half full: short probes */
        icap *= 2;
    idx = calloc(icap, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    m = realloc(db->marks, cap * sizeof *m);
    if (!m) {
        free(idx);
        return -ENOMEM;
    }
    db->marks = m;
    db->marks_cap = cap;
    free(db->mark_index);
    db->mark_index = idx;
    db->mark_index_cap = icap;
    for (size_t e = 0; e < db->marks_n; e++)
        db->mark_index[mark_slot(db, db->marks[e].device)] = (uint32_t)(e + 1);
    return 0;
}

int db_device_mark(struct db *db, int64_t device_rowid, enum db_mark which, int64_t when_us) {
    struct mark *m;
    size_t slot;

    if (!db || device_rowid <= 0 || (int)which < 0 || which >= DB_MARK__COUNT)
        return -EINVAL;
    if (db->marks_n > 0) {
        slot = mark_slot(db, device_rowid);
        if (db->mark_index[slot] != 0) {
            m = &db->marks[db->mark_index[slot] - 1];
            m->at[which] = when_us;
            m->set |= (uint8_t)(1u << which);
            return 0;
        }
    }
    if (db->marks_n == db->marks_cap) {
        int r = marks_grow(db);
        if (r < 0)
            return set_err(db, r, "too many pending marks");
    }
    slot = mark_slot(db, device_rowid);
    m = &db->marks[db->marks_n];
    memset(m, 0, sizeof *m);
    m->device = device_rowid;
    m->at[which] = when_us;
    m->set = (uint8_t)(1u << which);
    db->marks_n++;
    db->mark_index[slot] = (uint32_t)db->marks_n;
    return 0;
}

int db_flush_marks(struct db *db) {
    struct txn t;
    int r;

    if (!db)
        return -EINVAL;
    if (db->marks_n == 0)
        return 0;
    if (!sqlite3_get_autocommit(db->sq))
        return set_err(db, -EBUSY, "marks are not flushed inside a transaction");
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    /* One statement per field, reused for every device: an UPDATE of a
     * deleted device matches no row and is simply skipped. */
    for (int f = 0; f < DB_MARK__COUNT && r >= 0; f++) {
        for (size_t e = 0; e < db->marks_n && r >= 0; e++) {
            const struct mark *m = &db->marks[e];
            struct q q;
            if (!(m->set & (1u << f)))
                continue;
            q_open(&q, db, (enum stmt)(ST_MARK_HEARTBEAT + f), false);
            q_i64(&q, 1, m->device);
            q_i64(&q, 2, m->at[f]);
            r = q_run(&q);
        }
    }
    r = txn_end(db, &t, r);
    if (r < 0)
        return r;                          /* the marks stay for the next flush */
    r = (int)db->marks_n;
    db->marks_n = 0;
    memset(db->mark_index, 0, db->mark_index_cap * sizeof *db->mark_index);
    return r;
}

/* ---- credentials ---- */

void db_credential_clear(struct db_credential *c) {
    if (!c)
        return;
    free(c->key_pem);
    memset(c, 0, sizeof *c);
}

static bool format_ok(enum db_key_format f) {
    switch (f) {
    case DB_KEY_RSA_PEM:
    case DB_KEY_RSA_X509_PEM:
    case DB_KEY_ES256_PEM:
    case DB_KEY_ES256_X509_PEM:
        return true;
    }
    return false;
}

int db_credential_replace(struct db *db, int64_t device_rowid, const struct db_credential *creds,
                          size_t n) {
    struct txn t;
    struct q q;
    int r;

    if (!db || (n > 0 && !creds))
        return -EINVAL;
    if (n > DB_MAX_CREDENTIALS)
        return set_err(db, -E2BIG, "too many credentials");
    for (size_t i = 0; i < n; i++)
        if (!format_ok(creds[i].format) || !creds[i].key_pem)
            return set_err(db, -EINVAL, "bad credential format or key");
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    r = exists(db, ST_DEV_EXISTS, device_rowid, NULL);
    if (r == 0)
        r = set_err(db, -ENOENT, "device not found");
    if (r >= 0) {
        q_open(&q, db, ST_CRED_DELETE, false);
        q_i64(&q, 1, device_rowid);
        r = q_run(&q);
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        q_open(&q, db, ST_CRED_INSERT, false);
        q_i64(&q, 1, device_rowid);
        q_i64(&q, 2, (int64_t)i);
        q_i64(&q, 3, creds[i].format);
        q_text(&q, 4, creds[i].key_pem);
        q_i64(&q, 5, creds[i].expiration_us);
        r = q_run(&q);
    }
    return txn_end(db, &t, r);
}

int db_credential_list(struct db *db, int64_t device_rowid,
                       struct db_credential ret[DB_MAX_CREDENTIALS], size_t *ret_n) {
    struct db_credential tmp[DB_MAX_CREDENTIALS];
    struct q q;
    size_t n = 0;
    int r = 0, e;

    if (!db || !ret || !ret_n)
        return -EINVAL;
    memset(tmp, 0, sizeof tmp);
    q_open(&q, db, ST_CRED_LIST, false);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, DB_MAX_CREDENTIALS);
    while (n < DB_MAX_CREDENTIALS && q_step(&q) == SQLITE_ROW) {
        tmp[n].format = (enum db_key_format)sqlite3_column_int(q.st, 0);
        tmp[n].expiration_us = sqlite3_column_int64(q.st, 2);
        r = col_strdup(q.st, 1, &tmp[n].key_pem);
        if (r >= 0 && !tmp[n].key_pem)
            r = -EIO;                      /* NOT NULL column: cannot happen */
        if (r < 0)
            break;
        n++;
    }
    e = q_end(&q);
    if (e >= 0 && r < 0)
        e = set_err(db, r, "out of memory");
    if (e < 0) {
        for (size_t i = 0; i < DB_MAX_CREDENTIALS; i++)
            db_credential_clear(&tmp[i]);
        return e;
    }
    memcpy(ret, tmp, n * sizeof *tmp);
    *ret_n = n;
    return 0;
}

/* ---- config versions ---- */

void db_config_clear(struct db_config *c) {
    if (!c)
        return;
    free(c->data);
    memset(c, 0, sizeof *c);
}

static int read_config(sqlite3_stmt *st, struct db_config *c) {
    memset(c, 0, sizeof *c);
    c->version = sqlite3_column_int64(st, 0);
    c->cloud_update_us = sqlite3_column_int64(st, 1);
    c->device_ack_us = sqlite3_column_int64(st, 2);
    return col_blobdup(st, 3, &c->data, &c->len);
}

static int config_one(struct q *q, struct db_config *ret) {
    struct db_config tmp;
    int rc = q_step(q), r = -ENOENT;
    if (rc == SQLITE_ROW)
        r = read_config(q->st, &tmp);
    int e = q_end(q);
    if (e < 0) {
        if (rc == SQLITE_ROW)
            db_config_clear(&tmp);
        return e;
    }
    if (r == -ENOENT)
        return set_err(q->db, -ENOENT, "config not found");
    if (r < 0)
        return set_err(q->db, r, "out of memory");
    *ret = tmp;
    return 0;
}

int db_config_latest(struct db *db, int64_t device_rowid, struct db_config *ret) {
    struct q q;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_CFG_LATEST, false);
    q_i64(&q, 1, device_rowid);
    return config_one(&q, ret);
}

int db_config_get(struct db *db, int64_t device_rowid, int64_t version, struct db_config *ret) {
    struct q q;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_CFG_GET, false);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, version);
    return config_one(&q, ret);
}

int db_config_add(struct db *db, int64_t device_rowid, int64_t expect_version, const void *data,
                  size_t len, int64_t now_us, int64_t *ret_version) {
    struct txn t;
    struct q q;
    int64_t latest = 0, version = 0;
    int r;

    if (!db || (len > 0 && !data))
        return -EINVAL;
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    r = exists(db, ST_DEV_EXISTS, device_rowid, NULL);
    if (r == 0)
        r = set_err(db, -ENOENT, "device not found");
    if (r >= 0) {
        q_open(&q, db, ST_CFG_MAX, false);
        q_i64(&q, 1, device_rowid);
        if (q_step(&q) == SQLITE_ROW)
            latest = sqlite3_column_int64(q.st, 0);   /* NULL (no versions) reads as 0 */
        r = q_end(&q);
    }
    /* Google's versionToUpdate: 0 means unconditional. */
    if (r >= 0 && expect_version != 0 && expect_version != latest)
        r = set_err(db, -ESTALE, "config version is not the latest");
    if (r >= 0) {
        version = latest + 1;
        r = config_insert_row(db, device_rowid, version, now_us, data, len);
    }
    if (r >= 0 && version > DB_CONFIG_VERSIONS_KEPT) {
        q_open(&q, db, ST_CFG_TRIM, false);
        q_i64(&q, 1, device_rowid);
        q_i64(&q, 2, version - DB_CONFIG_VERSIONS_KEPT);
        r = q_run(&q);
    }
    r = txn_end(db, &t, r);
    if (r < 0)
        return r;
    if (ret_version)
        *ret_version = version;
    return 0;
}

int db_config_ack(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us) {
    struct q q;
    if (!db)
        return -EINVAL;
    q_open(&q, db, ST_CFG_ACK, false);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, version);
    q_i64(&q, 3, now_us);
    return run_changes(&q, "config version not found");
}

int db_config_list(struct db *db, int64_t device_rowid, int limit,
                   int (*cb)(const struct db_config *c, void *ud), void *ud) {
    struct q q;
    int n = 0, r = 0, e;
    if (!db || !cb)
        return -EINVAL;
    q_open(&q, db, ST_CFG_LIST, true);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, limit_of(limit));
    while (q_step(&q) == SQLITE_ROW) {
        struct db_config c;
        int k;
        r = read_config(q.st, &c);
        if (r < 0) {
            set_err(db, r, "out of memory");
            break;
        }
        k = cb(&c, ud);
        db_config_clear(&c);
        n++;
        if (k < 0)
            r = k;
        if (k != 0)
            break;
    }
    e = q_end(&q);
    if (e < 0)
        return e;
    return r < 0 ? r : n;
}

/* ---- states ---- */

void db_state_clear(struct db_state *s) {
    if (!s)
        return;
    free(s->data);
    memset(s, 0, sizeof *s);
}

static int read_state(sqlite3_stmt *st, struct db_state *s) {
    memset(s, 0, sizeof *s);
    s->update_us = sqlite3_column_int64(st, 0);
    return col_blobdup(st, 1, &s->data, &s->len);
}

int db_state_add(struct db *db, int64_t device_rowid, const void *data, size_t len, int64_t now_us) {
    struct txn t;
    struct q q;
    int r;

    if (!db || (len > 0 && !data))
        return -EINVAL;
    r = txn_begin(db, &t);
    if (r < 0)
        return r;
    q_open(&q, db, ST_STATE_INSERT, false);
    q_i64(&q, 1, device_rowid);        /* an unknown device fails the foreign key: -ENOENT */
    q_i64(&q, 2, now_us);
    q_blob(&q, 3, data, len);
    r = q_run(&q);
    if (r >= 0) {
        q_open(&q, db, ST_STATE_TRIM, false);
        q_i64(&q, 1, device_rowid);
        q_i64(&q, 2, DB_CONFIG_VERSIONS_KEPT);
        r = q_run(&q);
    }
    return txn_end(db, &t, r);
}

int db_state_latest(struct db *db, int64_t device_rowid, struct db_state *ret) {
    struct db_state tmp;
    struct q q;
    int rc, r = -ENOENT, e;
    if (!db || !ret)
        return -EINVAL;
    q_open(&q, db, ST_STATE_LATEST, false);
    q_i64(&q, 1, device_rowid);
    rc = q_step(&q);
    if (rc == SQLITE_ROW)
        r = read_state(q.st, &tmp);
    e = q_end(&q);
    if (e < 0) {
        if (rc == SQLITE_ROW)
            db_state_clear(&tmp);
        return e;
    }
    if (r == -ENOENT)
        return set_err(db, -ENOENT, "no state");
    if (r < 0)
        return set_err(db, r, "out of memory");
    *ret = tmp;
    return 0;
}

int db_state_list(struct db *db, int64_t device_rowid, int limit,
                  int (*cb)(const struct db_state *s, void *ud), void *ud) {
    struct q q;
    int n = 0, r = 0, e;
    if (!db || !cb)
        return -EINVAL;
    q_open(&q, db, ST_STATE_LIST, true);
    q_i64(&q, 1, device_rowid);
    q_i64(&q, 2, limit_of(limit));
    while (q_step(&q) == SQLITE_ROW) {
        struct db_state s;
        int k;
        r = read_state(q.st, &s);
        if (r < 0) {
            set_err(db, r, "out of memory");
            break;
        }
        k = cb(&s, ud);
        db_state_clear(&s);
        n++;
        if (k < 0)
            r = k;
        if (k != 0)
            break;
    }
    e = q_end(&q);
    if (e < 0)
        return e;
    return r < 0 ? r : n;
}

/* ---- lookup by client-id names ---- */

/* All digits, no sign or space, fits in a uint64, non-zero (0 is never a
 * num_id). */
static bool parse_num_id(const char *s, uint64_t *ret) {
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v == 0)
        return false;
    *ret = v;
    return true;
}

int db_device_lookup(struct db *db, const char *project, const char *location,
                     const char *registry, const char *device, struct db_registry *ret_reg,
                     struct db_device *ret_dev) {
    struct db_registry reg;
    struct db_device dev;
    uint64_t num_id;
    int r;

    if (!db || !project || !location || !registry || !device)
        return -EINVAL;
    r = db_registry_get(db, project, location, registry, &reg);
    if (r < 0)
        return r;
    /* The string id first: Google device ids start with a letter, but ids
     * this store accepts may be all digits, and then the exact id wins. */
    r = db_device_get_by_id(db, reg.rowid, device, &dev);
    if (r == -ENOENT && parse_num_id(device, &num_id))
        r = db_device_get_by_num_id(db, reg.rowid, num_id, &dev);
    if (r < 0) {
        db_registry_clear(&reg);
        return r;
    }
    if (ret_reg)
        *ret_reg = reg;
    else
        db_registry_clear(&reg);
    if (ret_dev)
        *ret_dev = dev;
    else
        db_device_clear(&dev);
    return 0;
}
