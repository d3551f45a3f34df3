/* Registries: the rows a project/location/id names, with the API fields the
 * webui stores as JSON text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "db/db_internal.h"

void db_registry_clear(struct db_registry *r) {
    if (!r)
        return;
    free(r->extra_json);
    memset(r, 0, sizeof *r);
}

static int registry_read(sqlite3_stmt *st, void *row) {
    struct db_registry *r = row;
    memset(r, 0, sizeof *r);
    r->rowid = sqlite3_column_int64(st, 0);
    db_col_copy(st, 1, r->project, sizeof r->project);
    db_col_copy(st, 2, r->location, sizeof r->location);
    db_col_copy(st, 3, r->id, sizeof r->id);
    r->created_us = sqlite3_column_int64(st, 5);
    return db_col_strdup(st, 4, &r->extra_json);
}

static void registry_clear(void *row) {
    db_registry_clear(row);
}

static int registry_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_registry *, void *))cb)(row, ud);
}

static const struct db_row_ops registry_row = {
    .size = sizeof(struct db_registry),
    .read = registry_read,
    .clear = registry_clear,
    .emit = registry_emit,
    .not_found = "registry not found",
};

int db_registry_insert(struct db *db, struct db_registry *r) {
    struct db_q q;
    int64_t created;
    int e;
    if (!db || !r)
        return -EINVAL;
    if (!db_id_ok(r->project) || !db_id_ok(r->location) || !db_id_ok(r->id))
        return db_set_err(db, -EINVAL, "project, location and id must be 1..255 bytes");
    created = r->created_us ? r->created_us : time_now_unix_us();
    db_q_open(&q, db, DB_ST_REG_INSERT, false);
    db_q_text(&q, 1, r->project);
    db_q_text(&q, 2, r->location);
    db_q_text(&q, 3, r->id);
    db_q_text(&q, 4, r->extra_json);
    db_q_i64(&q, 5, created);
    e = db_q_run(&q);
    if (e < 0)
        return e;
    r->rowid = sqlite3_last_insert_rowid(db->sq);
    r->created_us = created;
    return 0;
}

int db_registry_get(struct db *db, const char *project, const char *location, const char *id,
                    struct db_registry *ret) {
    struct db_q q;
    if (!db || !project || !location || !id || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_REG_GET, false);
    db_q_text(&q, 1, project);
    db_q_text(&q, 2, location);
    db_q_text(&q, 3, id);
    return db_q_one(&q, &registry_row, ret);
}

int db_registry_get_by_rowid(struct db *db, int64_t rowid, struct db_registry *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_REG_GET_PK, false);
    db_q_i64(&q, 1, rowid);
    return db_q_one(&q, &registry_row, ret);
}

int db_registry_update_extra(struct db *db, int64_t rowid, const char *extra_json) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_REG_UPDATE_EXTRA, false);
    db_q_i64(&q, 1, rowid);
    db_q_text(&q, 2, extra_json);
    return db_q_run_changes(&q, "registry not found");
}

int db_registry_delete(struct db *db, int64_t rowid) {
    static const struct db_guarded_delete g = {
        .in_use = DB_ST_REG_HAS_DEVICES,
        .del = DB_ST_REG_DELETE,
        .busy = { "registry has devices" },                /* Google refused too */
        .not_found = "registry not found",
    };
    if (!db)
        return -EINVAL;
    return db_delete_guarded(db, &g, rowid);
}

int db_registry_list(struct db *db, const char *project, const char *location, int64_t after_rowid,
                     int limit, int (*cb)(const struct db_registry *r, void *ud), void *ud) {
    struct db_q q;
    if (!db || !project || !location || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_REG_LIST, true);
    db_q_text(&q, 1, project);
    db_q_text(&q, 2, location);
    db_q_i64(&q, 3, after_rowid);
    db_q_i64(&q, 4, db_limit_of(limit));
    return db_q_list(&q, &registry_row, (void (*)(void))cb, ud);
}
