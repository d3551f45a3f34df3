/* Shared internals of the store, included only by the .c files of db/
 * (never outside it, so sqlite3.h stays inside the store): the handle, the
 * statement ids, the one-query helper with its sticky first error, the
 * column readers, the row runners the get and list functions share, and
 * transactions. These symbols carry the db_ prefix because they link into
 * libdb; none of them is part of db.h's contract. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/db_aws.h"

/* ---- statements (texts in db_sql.c) ---- */

enum db_stmt {
    DB_ST_BEGIN,
    DB_ST_COMMIT,
    DB_ST_ROLLBACK,
    DB_ST_SAVEPOINT,
    DB_ST_RELEASE,
    DB_ST_ROLLBACK_TO,
    DB_ST_USER_VERSION,
    DB_ST_REG_INSERT,
    DB_ST_REG_GET,
    DB_ST_REG_GET_PK,
    DB_ST_REG_UPDATE_EXTRA,
    DB_ST_REG_HAS_DEVICES,
    DB_ST_REG_DELETE,
    DB_ST_REG_LIST,
    DB_ST_DEV_INSERT,
    DB_ST_DEV_EXISTS,
    DB_ST_DEV_EXISTS_ID,
    DB_ST_DEV_GET_ID,
    DB_ST_DEV_GET_NUM,
    DB_ST_DEV_GET_PK,
    DB_ST_DEV_UPDATE,
    DB_ST_DEV_DELETE,
    DB_ST_DEV_LIST,
    DB_ST_DEV_COUNT,
    DB_ST_DEV_SET_ERROR,
    DB_ST_MARK_HEARTBEAT,   /* DB_ST_MARK_* follow enum db_mark's order */
    DB_ST_MARK_EVENT,
    DB_ST_MARK_STATE,
    DB_ST_MARK_CONFIG_ACK,
    DB_ST_MARK_CONFIG_SEND,
    DB_ST_CRED_DELETE,
    DB_ST_CRED_INSERT,
    DB_ST_CRED_LIST,
    DB_ST_CFG_MAX,
    DB_ST_CFG_INSERT,
    DB_ST_CFG_TRIM,
    DB_ST_CFG_LATEST,
    DB_ST_CFG_GET,
    DB_ST_CFG_ACK,
    DB_ST_CFG_LIST,
    DB_ST_STATE_INSERT,
    DB_ST_STATE_TRIM,
    DB_ST_STATE_LATEST,
    DB_ST_STATE_LIST,
    DB_ST_BIND_INSERT,
    DB_ST_BIND_DELETE,
    DB_ST_BIND_EXISTS,
    DB_ST_BIND_COUNT,
    DB_ST_BIND_LIST_DEVICES,
    DB_ST_BIND_LIST_GATEWAYS,
    /* AWS IoT tables (migration 0003, db_aws_*.c) */
    DB_ST_AWS_TYPE_INSERT,
    DB_ST_AWS_TYPE_GET,
    DB_ST_AWS_TYPE_PK,
    DB_ST_AWS_TYPE_UPDATE,
    DB_ST_AWS_TYPE_IN_USE,
    DB_ST_AWS_TYPE_DELETE,
    DB_ST_AWS_TYPE_LIST,
    DB_ST_AWS_THING_INSERT,
    DB_ST_AWS_THING_GET,
    DB_ST_AWS_THING_GET_PK,
    DB_ST_AWS_THING_UPDATE,
    DB_ST_AWS_THING_DELETE,
    DB_ST_AWS_THING_LIST,
    DB_ST_AWS_THING_LIST_TYPE,
    DB_ST_AWS_CERT_INSERT,
    DB_ST_AWS_CERT_GET,
    DB_ST_AWS_CERT_SET_STATUS,
    DB_ST_AWS_CERT_DELETE,
    DB_ST_AWS_CERT_LIST_ASC,
    DB_ST_AWS_CERT_LIST_DESC,
    DB_ST_AWS_CERT_LIST_CA_ASC,
    DB_ST_AWS_CERT_LIST_CA_DESC,
    DB_ST_AWS_CERT_COUNT_CA,
    DB_ST_AWS_CACERT_INSERT,
    DB_ST_AWS_CACERT_GET,
    DB_ST_AWS_CACERT_UPDATE,
    DB_ST_AWS_CACERT_DELETE,
    DB_ST_AWS_CACERT_LIST_ASC,
    DB_ST_AWS_CACERT_LIST_DESC,
    DB_ST_AWS_POLICY_INSERT,
    DB_ST_AWS_POLICY_GET,
    DB_ST_AWS_POLICY_IN_USE,
    DB_ST_AWS_POLICY_DELETE,
    DB_ST_AWS_POLICY_LIST_ASC,
    DB_ST_AWS_POLICY_LIST_DESC,
    DB_ST_AWS_POLICY_VERSIONS,
    DB_ST_AWS_POLICY_ADDED,
    DB_ST_AWS_POLICY_TOUCH,
    DB_ST_AWS_POLICY_SET_DEFAULT,
    DB_ST_AWS_PVER_INSERT,
    DB_ST_AWS_PVER_GET,
    DB_ST_AWS_PVER_DELETE,
    DB_ST_AWS_PVER_LIST,
    DB_ST_AWS_TARGET_INSERT,
    DB_ST_AWS_TARGET_DELETE,
    DB_ST_AWS_TARGET_LIST,
    DB_ST_AWS_TARGET_POLICIES,
    DB_ST_AWS_TARGET_COUNT,
    DB_ST_AWS_TARGET_FORGET,
    DB_ST_AWS_PRINCIPAL_INSERT,
    DB_ST_AWS_PRINCIPAL_DELETE,
    DB_ST_AWS_PRINCIPAL_LIST,
    DB_ST_AWS_PRINCIPAL_THINGS,
    DB_ST_AWS_PRINCIPAL_EXISTS,
    DB_ST_AWS_PRINCIPAL_COUNT,
    DB_ST_AWS_SETTING_GET,
    DB_ST_AWS_SETTING_SET,
    DB_ST_AWS_SETTING_DELETE,
    DB_ST_AWS_SHADOW_GET,
    DB_ST_AWS_SHADOW_PUT,
    DB_ST_AWS_SHADOW_NAMES,
    DB_ST_AWS_TMPL_INSERT,
    DB_ST_AWS_TMPL_GET,
    DB_ST_AWS_TMPL_UPDATE,
    DB_ST_AWS_TMPL_DELETE,
    DB_ST_AWS_TMPL_LIST,
    DB_ST_AWS_TMPL_VERSIONS,
    DB_ST_AWS_TMPL_ADDED,
    DB_ST_AWS_TMPL_TOUCH,
    DB_ST_AWS_TMPL_DEFAULT_BODY,
    DB_ST_AWS_TMPL_VER_INSERT,
    DB_ST_AWS_TMPL_VER_GET,
    DB_ST_AWS_TMPL_VER_DELETE,
    DB_ST_AWS_TMPL_VER_LIST,
    DB_ST__COUNT,
};

/* Constant SQL text per statement: the only SQL besides the migrations. */
extern const char *const db_stmt_sql[DB_ST__COUNT];

/* ---- the handle ---- */

struct db_mark_entry;                      /* db_marks.c */

/* Pending marks: a dense array (flushed in insertion order) plus an open
 * addressing index of entry+1 (0 = empty slot), at most half full. */
struct db_marks {
    struct db_mark_entry *entries;         /* owned */
    size_t n, cap;
    uint32_t *index;                       /* owned, index_cap slots, a power of two */
    size_t index_cap;
};

struct db {
    sqlite3 *sq;                           /* owned */
    sqlite3_stmt *stmts[DB_ST__COUNT];     /* owned, prepared on first use */
    char err[256];                         /* last failure, for db_last_error */
    uint64_t commits;
    bool ready;                            /* opened and migrated */
    struct db_marks marks;

    int (*num_id_fn)(void *ud, uint64_t *ret);   /* tests only; NULL = getrandom */
    void *num_id_ud;                             /* borrowed */
};

/* Frees the pending marks without writing them (db_marks.c). */
void db_marks_free(struct db_marks *m);

/* ---- errors (db_query.c) ---- */

/* Copies at most cap-1 bytes of src[0..len) and terminates, never cutting a
 * UTF-8 sequence in half. src NULL copies nothing. cap 0 writes nothing. */
void db_copy_trunc(char *dst, size_t cap, const char *src, size_t len);
/* Sets db_last_error to msg; returns r. */
int db_set_err(struct db *db, int r, const char *msg);
/* Records SQLite's message for rc in db_last_error; returns rc as 0 or a
 * negative errno (the one place SQLite codes are converted). */
int db_record(struct db *db, int rc);

/* ---- one query: sticky first error, checked once (db_query.c) ---- */

struct db_q {
    struct db *db;                         /* borrowed */
    sqlite3_stmt *st;                      /* cached (borrowed) or fresh (owned) */
    int rc;                                /* first SQLite failure */
    bool fresh;
};

/* fresh: prepares a statement of its own instead of the handle's cached one
 * (list calls, whose callbacks may run other queries). Never fails: a failure
 * sticks in q and surfaces at db_q_step/db_q_end. */
void db_q_open(struct db_q *q, struct db *db, enum db_stmt id, bool fresh);
void db_q_i64(struct db_q *q, int idx, int64_t v);
/* NULL binds SQL NULL. The text is not copied: step before it goes away. */
void db_q_text(struct db_q *q, int idx, const char *s);
/* n bytes of s (no NUL needed), not copied either. */
void db_q_text_n(struct db_q *q, int idx, const char *s, size_t n);
/* Always a blob, never NULL (an empty payload is real). Not copied either. */
void db_q_blob(struct db_q *q, int idx, const void *p, size_t n);
/* SQLITE_ROW, SQLITE_DONE, or the (recorded) failure. */
int db_q_step(struct db_q *q);
/* Resets or finalizes the statement; 0 or the mapped first failure. */
int db_q_end(struct db_q *q);
/* Steps once and ends: for statements whose rows are not needed. */
int db_q_run(struct db_q *q);
/* As db_q_run, then -ENOENT (with message what) when no row changed. */
int db_q_run_changes(struct db_q *q, const char *what);
/* Steps once and ends; *ret = column 0 of the first row, 0 when there is no
 * row or the column is NULL. *ret is written only on success. */
int db_q_int64(struct db_q *q, int64_t *ret);
/* A statement without parameters or rows; quiet leaves db_last_error alone
 * (rollback paths, whose own failure would hide the error that caused them). */
int db_exec_stmt(struct db *db, enum db_stmt id, bool quiet);

/* ---- column readers and argument checks (db_query.c) ---- */

void db_col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap);
/* NULL column -> *ret = NULL. */
int db_col_strdup(sqlite3_stmt *st, int i, char **ret);
/* Always allocates (at least one byte), so a read payload is never NULL. */
int db_col_blobdup(sqlite3_stmt *st, int i, uint8_t **ret, size_t *ret_len);
/* 1..DB_ID_MAX-1 bytes. */
bool db_id_ok(const char *s);
/* A public limit (<= 0: none) as SQLite's LIMIT value. */
int64_t db_limit_of(int limit);

/* ---- row runners: the get and list functions (db_query.c) ---- */

/* Scratch for one row of any type the runners read. */
union db_row {
    struct db_registry registry;
    struct db_device device;
    struct db_config config;
    struct db_state state;
    struct db_aws_thing aws_thing;
    struct db_aws_thing_type aws_thing_type;
    struct db_aws_cert aws_cert;
    struct db_aws_policy aws_policy;
    struct db_aws_policy_version aws_policy_version;
    struct db_aws_template aws_template;
    struct db_aws_template_version aws_template_version;
};

/* One row type: how to read it, free it and hand it to a list callback. */
struct db_row_ops {
    size_t size;                           /* of the struct read */
    /* Fills row from the current result row; on failure row is still safe to
     * clear. Returns 0 or -ENOMEM. */
    int (*read)(sqlite3_stmt *st, void *row);
    void (*clear)(void *row);
    /* Calls the caller's callback, cast back from void (*)(void) to its real
     * type (a call through the wrong function type would be undefined). */
    int (*emit)(void (*cb)(void), const void *row, void *ud);
    const char *not_found;                 /* db_last_error when a get finds nothing */
};

/* Steps an opened single-row query into *ret (written only on success);
 * -ENOENT with ops->not_found when there is no row. */
int db_q_one(struct db_q *q, const struct db_row_ops *ops, void *ret);
/* Walks an opened (fresh) query, passing each row to cb through ops->emit;
 * the row is valid only during the call. cb returns nonzero to stop, a
 * negative value is returned as the error. Returns the rows passed to cb. */
int db_q_list(struct db_q *q, const struct db_row_ops *ops, void (*cb)(void), void *ud);

/* ---- versioned resources (db_versions.c) ---- */

/* What differs between the owners of versions (AWS policies, provisioning
 * templates): their statements and messages. Statements: versions ?1
 * owner -> next_version, default_version, count; insert ?1 owner ?2
 * version ?3 text ?4 created_us; added ?1 owner ?2 version ?3 set_default
 * ?4 now (next_version = ?2 + 1, the default when ?3); delete ?1 owner ?2
 * version; touch ?1 owner ?2 now. */
struct db_versioned {
    enum db_stmt st_versions, st_insert, st_added, st_delete, st_touch;
    int64_t max_versions;
    const char *owner_missing;      /* -ENOENT messages */
    const char *version_missing;
    const char *too_many;           /* -E2BIG */
    const char *default_busy;       /* -EBUSY */
};
/* One version row, as a create adds version 1. */
int db_version_insert(struct db *db, const struct db_versioned *k, int64_t owner,
                      int64_t version, const char *text, int64_t now_us);
/* The next version (ids never reused), optionally the default, within the
 * owner's limit (-E2BIG); in one transaction or savepoint. */
int db_version_add(struct db *db, const struct db_versioned *k, int64_t owner, const char *text,
                   bool set_default, int64_t now_us, int64_t *ret_version);
/* Deletes a version that is not the default (-EBUSY) and touches the owner. */
int db_version_delete(struct db *db, const struct db_versioned *k, int64_t owner,
                      int64_t version, int64_t now_us);

/* ---- transactions (db_txn.c) ---- */

/* A write of several rows: its own transaction when none is open, else a
 * savepoint inside the caller's. */
struct db_txn {
    bool outer;
};

int db_txn_begin(struct db *db, struct db_txn *t);
/* Commits when r >= 0, else rolls back; returns r or the commit failure. */
int db_txn_end(struct db *db, struct db_txn *t, int r);

/* A delete refused while the row is in use (a registry with devices, a
 * thing type with things, a policy attached or with versions). in_use and
 * del both take ?1 = the row id; in_use reads 0 when the row may go, else
 * k >= 1, refused with -ENOTEMPTY and busy[k - 1] (busy[0] when that is
 * NULL or k > 2). */
struct db_guarded_delete {
    enum db_stmt in_use;
    enum db_stmt del;
    const char *busy[2];
    const char *not_found;                 /* db_last_error when no row went */
};
/* Checks and deletes under one write lock, so nothing takes the row into
 * use in between (db_txn.c). */
int db_delete_guarded(struct db *db, const struct db_guarded_delete *g, int64_t rowid);

/* ---- shared between the row modules ---- */

/* 0 if the device exists, -ENOENT ("device not found") if not, or the error
 * (db_device.c). */
int db_device_must_exist(struct db *db, int64_t device_rowid);
/* Inserts one config version row, device_ack 0 (db_config.c). */
int db_config_insert_row(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us,
                         const void *data, size_t len);

/* ---- shared between the AWS row modules (db_aws_*.c) ---- */

/* s is terminated within cap bytes, so it is stored exactly as a struct
 * field of that size reads it back, and non-empty when required. */
static inline bool db_aws_text_ok(const char *s, size_t cap, bool required) {
    size_t n;
    if (!s)
        return false;
    n = strnlen(s, cap);
    return n < cap && (n > 0 || !required);
}
/* Fills t from the thing columns (AWS_THING_COLS in db_sql.c) starting at
 * column base; on failure t is still safe to clear. 0 or -ENOMEM
 * (db_aws_thing.c). */
int db_aws_thing_read_at(sqlite3_stmt *st, int base, struct db_aws_thing *t);
/* The same for the policy columns (AWS_POLICY_COLS; db_aws_policy.c). */
void db_aws_policy_read_at(sqlite3_stmt *st, int base, struct db_aws_policy *p);
