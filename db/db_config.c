/* Config versions and device states: the last DB_CONFIG_VERSIONS_KEPT of
 * each per device, as Google kept them. Configs are numbered and acked;
 * states are kept in order of arrival. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

/* ---- row types ---- */

void db_config_clear(struct db_config *c) {
    if (!c)
        return;
    free(c->data);
    memset(c, 0, sizeof *c);
}

void db_state_clear(struct db_state *s) {
    if (!s)
        return;
    free(s->data);
    memset(s, 0, sizeof *s);
}

static int config_read(sqlite3_stmt *st, void *row) {
    struct db_config *c = row;
    memset(c, 0, sizeof *c);
    c->version = sqlite3_column_int64(st, 0);
    c->cloud_update_us = sqlite3_column_int64(st, 1);
    c->device_ack_us = sqlite3_column_int64(st, 2);
    return db_col_blobdup(st, 3, &c->data, &c->len);
}

static int state_read(sqlite3_stmt *st, void *row) {
    struct db_state *s = row;
    memset(s, 0, sizeof *s);
    s->update_us = sqlite3_column_int64(st, 0);
    return db_col_blobdup(st, 1, &s->data, &s->len);
}

static void config_clear(void *row) {
    db_config_clear(row);
}

static void state_clear(void *row) {
    db_state_clear(row);
}

static int config_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_config *, void *))cb)(row, ud);
}

static int state_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_state *, void *))cb)(row, ud);
}

static const struct db_row_ops config_row = {
    .size = sizeof(struct db_config),
    .read = config_read,
    .clear = config_clear,
    .emit = config_emit,
    .not_found = "config not found",
};

static const struct db_row_ops state_row = {
    .size = sizeof(struct db_state),
    .read = state_read,
    .clear = state_clear,
    .emit = state_emit,
    .not_found = "no state",
};

/* The newest row of one device (configs and states alike). */
static int latest_of(struct db *db, enum db_stmt id, int64_t device_rowid,
                     const struct db_row_ops *ops, void *ret) {
    struct db_q q;
    db_q_open(&q, db, id, false);
    db_q_i64(&q, 1, device_rowid);
    return db_q_one(&q, ops, ret);
}

/* The newest rows of one device first (configs and states alike). */
static int list_newest(struct db *db, enum db_stmt id, int64_t device_rowid, int limit,
                       const struct db_row_ops *ops, void (*cb)(void), void *ud) {
    struct db_q q;
    db_q_open(&q, db, id, true);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, db_limit_of(limit));
    return db_q_list(&q, ops, cb, ud);
}

/* ---- config versions ---- */

int db_config_insert_row(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us,
                         const void *data, size_t len) {
    struct db_q q;
    db_q_open(&q, db, DB_ST_CFG_INSERT, false);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, version);
    db_q_i64(&q, 3, now_us);
    db_q_blob(&q, 4, data, len);
    return db_q_run(&q);
}

int db_config_latest(struct db *db, int64_t device_rowid, struct db_config *ret) {
    if (!db || !ret)
        return -EINVAL;
    return latest_of(db, DB_ST_CFG_LATEST, device_rowid, &config_row, ret);
}

int db_config_get(struct db *db, int64_t device_rowid, int64_t version, struct db_config *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_CFG_GET, false);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, version);
    return db_q_one(&q, &config_row, ret);
}

int db_config_add(struct db *db, int64_t device_rowid, int64_t expect_version, const void *data,
                  size_t len, int64_t now_us, int64_t *ret_version) {
    struct db_txn t;
    struct db_q q;
    int64_t latest = 0, version = 0;
    int r;

    if (!db || (len > 0 && !data))
        return -EINVAL;
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    r = db_device_must_exist(db, device_rowid);
    if (r >= 0) {
        db_q_open(&q, db, DB_ST_CFG_MAX, false);
        db_q_i64(&q, 1, device_rowid);
        r = db_q_int64(&q, &latest);       /* NULL (no versions) reads as 0 */
    }
    /* Google's versionToUpdate: 0 means unconditional. */
    if (r >= 0 && expect_version != 0 && expect_version != latest)
        r = db_set_err(db, -ESTALE, "config version is not the latest");
    if (r >= 0) {
        version = latest + 1;
        r = db_config_insert_row(db, device_rowid, version, now_us, data, len);
    }
    if (r >= 0 && version > DB_CONFIG_VERSIONS_KEPT) {
        db_q_open(&q, db, DB_ST_CFG_TRIM, false);
        db_q_i64(&q, 1, device_rowid);
        db_q_i64(&q, 2, version - DB_CONFIG_VERSIONS_KEPT);
        r = db_q_run(&q);
    }
    r = db_txn_end(db, &t, r);
    if (r < 0)
        return r;
    if (ret_version)
        *ret_version = version;
    return 0;
}

int db_config_ack(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_CFG_ACK, false);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, version);
    db_q_i64(&q, 3, now_us);
    return db_q_run_changes(&q, "config version not found");
}

int db_config_list(struct db *db, int64_t device_rowid, int limit,
                   int (*cb)(const struct db_config *c, void *ud), void *ud) {
    if (!db || !cb)
        return -EINVAL;
    return list_newest(db, DB_ST_CFG_LIST, device_rowid, limit, &config_row, (void (*)(void))cb,
                       ud);
}

/* ---- states ---- */

int db_state_add(struct db *db, int64_t device_rowid, const void *data, size_t len,
                 int64_t now_us) {
    struct db_txn t;
    struct db_q q;
    int r;

    if (!db || (len > 0 && !data))
        return -EINVAL;
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    db_q_open(&q, db, DB_ST_STATE_INSERT, false);
    db_q_i64(&q, 1, device_rowid);     /* an unknown device fails the foreign key: -ENOENT */
    db_q_i64(&q, 2, now_us);
    db_q_blob(&q, 3, data, len);
    r = db_q_run(&q);
    if (r >= 0) {
        db_q_open(&q, db, DB_ST_STATE_TRIM, false);
        db_q_i64(&q, 1, device_rowid);
        db_q_i64(&q, 2, DB_CONFIG_VERSIONS_KEPT);
        r = db_q_run(&q);
    }
    return db_txn_end(db, &t, r);
}

int db_state_latest(struct db *db, int64_t device_rowid, struct db_state *ret) {
    if (!db || !ret)
        return -EINVAL;
    return latest_of(db, DB_ST_STATE_LATEST, device_rowid, &state_row, ret);
}

int db_state_list(struct db *db, int64_t device_rowid, int limit,
                  int (*cb)(const struct db_state *s, void *ud), void *ud) {
    if (!db || !cb)
        return -EINVAL;
    return list_newest(db, DB_ST_STATE_LIST, device_rowid, limit, &state_row, (void (*)(void))cb,
                       ud);
}
