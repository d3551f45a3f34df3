/* AWS account settings: a small name -> text table for the values AWS
 * keeps per account and the emulator must keep across restarts (the CA
 * registration code, the endpoint prefix). */
#include <errno.h>
#include <string.h>

#include "db/db_internal.h"

/* Setting names are the emulator's own constants; the cap only keeps a
 * stray caller from storing a key no reader could name. */
#define AWS_SETTING_NAME_MAX 128

static bool key_ok(const char *key) {
    return db_aws_text_ok(key, AWS_SETTING_NAME_MAX + 1, true);
}

int db_aws_setting_get(struct db *db, const char *key, char *out, size_t cap) {
    struct db_q q;
    size_t n = 0;
    int rc, e, r = 0;

    if (!db || !out || cap == 0)
        return -EINVAL;
    if (!key_ok(key))
        return db_set_err(db, -EINVAL, "setting name empty or too long");
    db_q_open(&q, db, DB_ST_AWS_SETTING_GET, false);
    db_q_text(&q, 1, key);
    rc = db_q_step(&q);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q.st, 0);
        n = (size_t)sqlite3_column_bytes(q.st, 0);
        /* A cut value (a registration code, say) would be a wrong one:
         * refuse instead, and leave out alone. */
        if (!v)
            r = db_set_err(db, -ENOMEM, "out of memory");
        else if (n >= cap)
            r = db_set_err(db, -EMSGSIZE, "setting value does not fit");
        else
            memcpy(out, v, n + 1);
    }
    e = db_q_end(&q);
    if (e < 0)
        return e;
    if (rc != SQLITE_ROW)
        return db_set_err(db, -ENOENT, "setting not set");
    return r;
}

int db_aws_setting_set(struct db *db, const char *key, const char *value) {
    struct db_q q;
    if (!db || !value)
        return -EINVAL;
    if (!key_ok(key))
        return db_set_err(db, -EINVAL, "setting name empty or too long");
    db_q_open(&q, db, DB_ST_AWS_SETTING_SET, false);
    db_q_text(&q, 1, key);
    db_q_text(&q, 2, value);
    return db_q_run(&q);
}

int db_aws_setting_delete(struct db *db, const char *key) {
    struct db_q q;
    if (!db || !key)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_SETTING_DELETE, false);
    db_q_text(&q, 1, key);
    return db_q_run_changes(&q, "setting not set");
}
