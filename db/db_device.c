/* Devices: insert (with the random store-wide num_id and config version 1),
 * the three lookups, update, delete, list, count and the last error. The
 * last-seen timestamps are written by db_marks.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/timeutil.h"
#include "db/db_internal.h"

/* A num_id collision needs two equal draws out of 2^63; retrying a few times
 * covers it, and more than that means the random source is broken. */
#define DB_NUM_ID_ATTEMPTS 8

void db_device_clear(struct db_device *d) {
    if (!d)
        return;
    free(d->extra_json);
    memset(d, 0, sizeof *d);
}

static int device_read(sqlite3_stmt *st, void *row) {
    struct db_device *d = row;
    memset(d, 0, sizeof *d);
    d->rowid = sqlite3_column_int64(st, 0);
    d->registry_rowid = sqlite3_column_int64(st, 1);
    db_col_copy(st, 2, d->id, sizeof d->id);
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
    db_col_copy(st, 14, d->last_error_message, sizeof d->last_error_message);
    return db_col_strdup(st, 5, &d->extra_json);
}

static void device_clear(void *row) {
    db_device_clear(row);
}

static int device_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_device *, void *))cb)(row, ud);
}

static const struct db_row_ops device_row = {
    .size = sizeof(struct db_device),
    .read = device_read,
    .clear = device_clear,
    .emit = device_emit,
    .not_found = "device not found",
};

/* 1 if the query found a row, 0 if not, or the error. */
static int exists(struct db *db, enum db_stmt id, int64_t key, const char *text) {
    struct db_q q;
    int64_t found = 0;
    int r;
    db_q_open(&q, db, id, false);
    db_q_i64(&q, 1, key);
    if (text)
        db_q_text(&q, 2, text);
    r = db_q_int64(&q, &found);            /* the queries select 1 */
    return r < 0 ? r : found != 0;
}

int db_device_must_exist(struct db *db, int64_t device_rowid) {
    int r = exists(db, DB_ST_DEV_EXISTS, device_rowid, NULL);
    if (r == 0)
        return db_set_err(db, -ENOENT, "device not found");
    return r < 0 ? r : 0;
}

void db_set_num_id_source(struct db *db, int (*fn)(void *ud, uint64_t *ret), void *ud) {
    if (!db)
        return;
    db->num_id_fn = fn;
    db->num_id_ud = ud;
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
                return db_set_err(db, -errno, "getrandom failed");
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
    struct db_q q;
    /* The struct's buffer need not be terminated; store what a read returns. */
    db_copy_trunc(msg, sizeof msg, d->last_error_message,
                  strnlen(d->last_error_message, sizeof d->last_error_message));
    db_q_open(&q, db, DB_ST_DEV_INSERT, false);
    db_q_i64(&q, 1, d->registry_rowid);
    db_q_text(&q, 2, d->id);
    db_q_i64(&q, 3, (int64_t)num_id);
    db_q_i64(&q, 4, d->blocked ? 1 : 0);
    db_q_text(&q, 5, d->extra_json);
    db_q_i64(&q, 6, created);
    db_q_i64(&q, 7, d->last_heartbeat_us);
    db_q_i64(&q, 8, d->last_event_us);
    db_q_i64(&q, 9, d->last_state_us);
    db_q_i64(&q, 10, d->last_config_ack_us);
    db_q_i64(&q, 11, d->last_config_send_us);
    db_q_i64(&q, 12, d->last_error_us);
    db_q_i64(&q, 13, d->last_error_code);
    db_q_text(&q, 14, msg);
    return db_q_run(&q);
}

/* The first config version goes in with the row: Google answered a create
 * with version 1, holding the config the request carried, else empty. */
static int device_insert(struct db *db, struct db_device *d, bool draw, const void *config,
                         size_t config_len) {
    struct db_txn t;
    uint64_t num_id = d->num_id;
    int64_t created, rowid = 0;
    int r;

    if (!db_id_ok(d->id))
        return db_set_err(db, -EINVAL, "device id must be 1..255 bytes");
    if (!draw && num_id == 0)
        return db_set_err(db, -EINVAL, "num_id 0 is reserved");
    if (config_len > 0 && !config)
        return db_set_err(db, -EINVAL, "config payload missing");
    created = d->created_us ? d->created_us : time_now_unix_us();
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    for (int attempt = 0;; attempt++) {
        if (draw) {
            r = draw_num_id(db, &num_id);
            if (r < 0)
                break;
            if (num_id == 0) {
                r = db_set_err(db, -EIO, "random source keeps returning 0");
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
        r = exists(db, DB_ST_DEV_EXISTS_ID, d->registry_rowid, d->id);
        if (r != 0) {
            if (r > 0)
                r = db_set_err(db, -EEXIST, "device id exists in this registry");
            break;
        }
        if (attempt + 1 >= DB_NUM_ID_ATTEMPTS) {
            r = db_set_err(db, -EIO, "no free num_id after several draws");
            break;
        }
    }
    if (r >= 0) {
        rowid = sqlite3_last_insert_rowid(db->sq);
        r = db_config_insert_row(db, rowid, 1, created, config, config_len);
    }
    r = db_txn_end(db, &t, r);
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
    return device_insert(db, d, true, NULL, 0);
}

int db_device_insert_config(struct db *db, struct db_device *d, const void *config,
                            size_t config_len) {
    if (!db || !d)
        return -EINVAL;
    return device_insert(db, d, true, config, config_len);
}

int db_device_insert_num_id(struct db *db, struct db_device *d) {
    if (!db || !d)
        return -EINVAL;
    return device_insert(db, d, false, NULL, 0);
}

int db_device_get_by_id(struct db *db, int64_t registry_rowid, const char *id,
                        struct db_device *ret) {
    struct db_q q;
    if (!db || !id || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_GET_ID, false);
    db_q_i64(&q, 1, registry_rowid);
    db_q_text(&q, 2, id);
    return db_q_one(&q, &device_row, ret);
}

int db_device_get_by_num_id(struct db *db, int64_t registry_rowid, uint64_t num_id,
                            struct db_device *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_GET_NUM, false);
    db_q_i64(&q, 1, (int64_t)num_id);
    db_q_i64(&q, 2, registry_rowid);
    return db_q_one(&q, &device_row, ret);
}

int db_device_get_by_rowid(struct db *db, int64_t rowid, struct db_device *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_GET_PK, false);
    db_q_i64(&q, 1, rowid);
    return db_q_one(&q, &device_row, ret);
}

int db_device_update(struct db *db, const struct db_device *d) {
    struct db_q q;
    if (!db || !d)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_UPDATE, false);
    db_q_i64(&q, 1, d->rowid);
    db_q_i64(&q, 2, d->blocked ? 1 : 0);
    db_q_text(&q, 3, d->extra_json);
    return db_q_run_changes(&q, "device not found");
}

int db_device_delete(struct db *db, int64_t rowid) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    /* Credentials, configs and states go with it (ON DELETE CASCADE), in the
     * statement's own transaction. Pending marks for it are skipped at flush:
     * rowids are never reused (AUTOINCREMENT). */
    db_q_open(&q, db, DB_ST_DEV_DELETE, false);
    db_q_i64(&q, 1, rowid);
    return db_q_run_changes(&q, "device not found");
}

int db_device_list(struct db *db, int64_t registry_rowid, int64_t after_rowid, int limit,
                   int (*cb)(const struct db_device *d, void *ud), void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_LIST, true);
    db_q_i64(&q, 1, registry_rowid);
    db_q_i64(&q, 2, after_rowid);
    db_q_i64(&q, 3, db_limit_of(limit));
    return db_q_list(&q, &device_row, (void (*)(void))cb, ud);
}

int db_device_count(struct db *db, int64_t registry_rowid, int64_t *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_DEV_COUNT, false);
    db_q_i64(&q, 1, registry_rowid);
    return db_q_int64(&q, ret);
}

int db_device_set_error(struct db *db, int64_t device_rowid, int64_t when_us, int32_t code,
                        const char *message) {
    char cut[sizeof((struct db_device *)NULL)->last_error_message];
    struct db_q q;
    if (!db)
        return -EINVAL;
    /* Cut here so what is stored is exactly what a read gives back. */
    db_copy_trunc(cut, sizeof cut, message, message ? strlen(message) : 0);
    db_q_open(&q, db, DB_ST_DEV_SET_ERROR, false);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, when_us);
    db_q_i64(&q, 3, code);
    db_q_text(&q, 4, cut);
    return db_q_run_changes(&q, "device not found");
}
