/* Gateway bindings: which devices a gateway may attach (Google's
 * bindDeviceToGateway / unbindDeviceFromGateway and the associations
 * filters of ListDevices). */
#include <errno.h>

#include "db/db_internal.h"

int db_binding_add(struct db *db, int64_t gateway_rowid, int64_t device_rowid, int64_t now_us)
{
    struct db_q q;

    if (!db || gateway_rowid == device_rowid)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_BIND_INSERT, false);
    db_q_i64(&q, 1, gateway_rowid);
    db_q_i64(&q, 2, device_rowid);
    db_q_i64(&q, 3, now_us);
    return db_q_run(&q);
}

int db_binding_remove(struct db *db, int64_t gateway_rowid, int64_t device_rowid)
{
    struct db_q q;

    if (!db)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_BIND_DELETE, false);
    db_q_i64(&q, 1, gateway_rowid);
    db_q_i64(&q, 2, device_rowid);
    return db_q_run_changes(&q, "binding not found");
}

int db_binding_exists(struct db *db, int64_t gateway_rowid, int64_t device_rowid)
{
    struct db_q q;
    int64_t n = 0;

    if (!db)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_BIND_EXISTS, false);
    db_q_i64(&q, 1, gateway_rowid);
    db_q_i64(&q, 2, device_rowid);
    int r = db_q_int64(&q, &n);
    return r < 0 ? r : n > 0;
}

int db_binding_count(struct db *db, int64_t device_rowid, int64_t *ret)
{
    struct db_q q;

    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_BIND_COUNT, false);
    db_q_i64(&q, 1, device_rowid);
    return db_q_int64(&q, ret);
}

int db_binding_list(struct db *db, int64_t rowid, bool of_gateway, int64_t after_rowid, int limit,
                    int (*cb)(int64_t other_rowid, void *ud), void *ud)
{
    struct db_q q;
    int n = 0, r = 0, step;

    if (!db || !cb)
        return -EINVAL;
    /* A fresh statement: the callback may run other queries. */
    db_q_open(&q, db, of_gateway ? DB_ST_BIND_LIST_DEVICES : DB_ST_BIND_LIST_GATEWAYS, true);
    db_q_i64(&q, 1, rowid);
    db_q_i64(&q, 2, after_rowid);
    db_q_i64(&q, 3, db_limit_of(limit));
    while ((step = db_q_step(&q)) == SQLITE_ROW) {
        int c = cb(sqlite3_column_int64(q.st, 0), ud);
        n++;
        if (c < 0)
            r = c;
        if (c != 0)
            break;
    }
    int e = db_q_end(&q);
    if (r < 0)
        return r;
    return e < 0 ? e : n;
}
