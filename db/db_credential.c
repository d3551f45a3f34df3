/* Device credentials: up to DB_MAX_CREDENTIALS public keys per device, in
 * the order the API gave them, always replaced as a whole set. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

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
    struct db_txn t;
    struct db_q q;
    int r;

    if (!db || (n > 0 && !creds))
        return -EINVAL;
    if (n > DB_MAX_CREDENTIALS)
        return db_set_err(db, -E2BIG, "too many credentials");
    for (size_t i = 0; i < n; i++)
        if (!format_ok(creds[i].format) || !creds[i].key_pem)
            return db_set_err(db, -EINVAL, "bad credential format or key");
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    r = db_device_must_exist(db, device_rowid);
    if (r >= 0) {
        db_q_open(&q, db, DB_ST_CRED_DELETE, false);
        db_q_i64(&q, 1, device_rowid);
        r = db_q_run(&q);
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        db_q_open(&q, db, DB_ST_CRED_INSERT, false);
        db_q_i64(&q, 1, device_rowid);
        db_q_i64(&q, 2, (int64_t)i);
        db_q_i64(&q, 3, creds[i].format);
        db_q_text(&q, 4, creds[i].key_pem);
        db_q_i64(&q, 5, creds[i].expiration_us);
        r = db_q_run(&q);
    }
    return db_txn_end(db, &t, r);
}

/* Not through db_q_list: the rows are kept (owned by the caller), not lent to
 * a callback, and all or none of them are handed back. */
int db_credential_list(struct db *db, int64_t device_rowid,
                       struct db_credential ret[DB_MAX_CREDENTIALS], size_t *ret_n) {
    struct db_credential tmp[DB_MAX_CREDENTIALS];
    struct db_q q;
    size_t n = 0;
    int r = 0, e;

    if (!db || !ret || !ret_n)
        return -EINVAL;
    memset(tmp, 0, sizeof tmp);
    db_q_open(&q, db, DB_ST_CRED_LIST, false);
    db_q_i64(&q, 1, device_rowid);
    db_q_i64(&q, 2, DB_MAX_CREDENTIALS);
    while (n < DB_MAX_CREDENTIALS && db_q_step(&q) == SQLITE_ROW) {
        tmp[n].format = (enum db_key_format)sqlite3_column_int(q.st, 0);
        tmp[n].expiration_us = sqlite3_column_int64(q.st, 2);
        r = db_col_strdup(q.st, 1, &tmp[n].key_pem);
        if (r >= 0 && !tmp[n].key_pem)
            r = -EIO;                      /* NOT NULL column: cannot happen */
        if (r < 0)
            break;
        n++;
    }
    e = db_q_end(&q);
    if (e >= 0 && r < 0)
        e = db_set_err(db, r, "out of memory");
    if (e < 0) {
        for (size_t i = 0; i < DB_MAX_CREDENTIALS; i++)
            db_credential_clear(&tmp[i]);
        return e;
    }
    memcpy(ret, tmp, n * sizeof *tmp);
    *ret_n = n;
    return 0;
}
