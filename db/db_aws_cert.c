/* AWS certificates: device certificates (aws_certs) and CA certificates
 * (aws_ca_certs), each keyed by the hex SHA-256 of its DER, read into the
 * one struct db_aws_cert. Every change bumps the row's generation (AWS's
 * generationId). What a certificate is attached to (policies, things) is
 * the business of db_aws_attach.c and of the API, which forgets those
 * attachments when it deletes a certificate. The two tables share one
 * implementation of insert, get, delete and list, told apart by a struct
 * cert_table; only the updates differ (status alone for device
 * certificates, the registration fields too for CA certificates). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "db/db_internal.h"

void db_aws_cert_clear(struct db_aws_cert *c) {
    if (!c)
        return;
    free(c->pem);
    free(c->registration_config_json);
    memset(c, 0, sizeof *c);
}

/* AWS_CERT_COLS and AWS_CACERT_COLS share one column order. */
static int cert_read(sqlite3_stmt *st, void *row) {
    struct db_aws_cert *c = row;
    int r;
    memset(c, 0, sizeof *c);
    c->rowid = sqlite3_column_int64(st, 0);
    db_col_copy(st, 1, c->id, sizeof c->id);
    db_col_copy(st, 3, c->status, sizeof c->status);
    db_col_copy(st, 4, c->ca_id, sizeof c->ca_id);
    db_col_copy(st, 5, c->mode, sizeof c->mode);
    db_col_copy(st, 6, c->auto_registration, sizeof c->auto_registration);
    c->not_before_us = sqlite3_column_int64(st, 8);
    c->not_after_us = sqlite3_column_int64(st, 9);
    c->created_us = sqlite3_column_int64(st, 10);
    c->modified_us = sqlite3_column_int64(st, 11);
    c->generation = sqlite3_column_int64(st, 12);
    r = db_col_strdup(st, 2, &c->pem);
    if (r >= 0)
        r = db_col_strdup(st, 7, &c->registration_config_json);
    return r;
}

static void cert_clear(void *row) {
    db_aws_cert_clear(row);
}

static int cert_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_cert *, void *))cb)(row, ud);
}

/* One certificate table: its statements, the columns only it stores, and
 * the words its errors use (row.not_found also for updates and deletes
 * that find no row). */
struct cert_table {
    enum db_stmt insert, get, del, list_asc, list_desc;
    /* Binds the insert's own columns, which sit between status (?3) and
     * not_before_us; returns the index of the next parameter. */
    int (*bind_own)(struct db_q *q, const struct db_aws_cert *c);
    const char *bad_insert;             /* db_last_error when cert_ok refuses */
    struct db_row_ops row;
};

static int device_bind_own(struct db_q *q, const struct db_aws_cert *c) {
    db_q_text(q, 4, c->ca_id);
    db_q_text(q, 5, c->mode);
    return 6;
}

static int ca_bind_own(struct db_q *q, const struct db_aws_cert *c) {
    db_q_text(q, 4, c->mode);
    db_q_text(q, 5, c->auto_registration);
    db_q_text(q, 6, c->registration_config_json);
    return 7;
}

static const struct cert_table device_certs = {
    .insert = DB_ST_AWS_CERT_INSERT, .get = DB_ST_AWS_CERT_GET, .del = DB_ST_AWS_CERT_DELETE,
    .list_asc = DB_ST_AWS_CERT_LIST_ASC, .list_desc = DB_ST_AWS_CERT_LIST_DESC,
    .bind_own = device_bind_own,
    .bad_insert = "certificate id, PEM or status missing, or a field too long",
    .row = { .size = sizeof(struct db_aws_cert), .read = cert_read, .clear = cert_clear,
             .emit = cert_emit, .not_found = "certificate not found" },
};

static const struct cert_table ca_certs = {
    .insert = DB_ST_AWS_CACERT_INSERT, .get = DB_ST_AWS_CACERT_GET,
    .del = DB_ST_AWS_CACERT_DELETE,
    .list_asc = DB_ST_AWS_CACERT_LIST_ASC, .list_desc = DB_ST_AWS_CACERT_LIST_DESC,
    .bind_own = ca_bind_own,
    .bad_insert = "CA certificate id, PEM or status missing, or a field too long",
    .row = { .size = sizeof(struct db_aws_cert), .read = cert_read, .clear = cert_clear,
             .emit = cert_emit, .not_found = "CA certificate not found" },
};

/* The fields a write stores must read back whole from the struct. */
static bool cert_ok(const struct db_aws_cert *c) {
    return db_aws_text_ok(c->id, sizeof c->id, true) && c->pem &&
           db_aws_text_ok(c->status, sizeof c->status, true) &&
           db_aws_text_ok(c->ca_id, sizeof c->ca_id, false) &&
           db_aws_text_ok(c->mode, sizeof c->mode, false) &&
           db_aws_text_ok(c->auto_registration, sizeof c->auto_registration, false);
}

/* The stamps are written back to the caller's struct only once the row is
 * in: created defaults to now, modified to created, and the generation
 * starts at 1. */
static int cert_insert(struct db *db, const struct cert_table *t, struct db_aws_cert *c) {
    int64_t created, modified, generation;
    struct db_q q;
    int i, r;

    if (!db || !c)
        return -EINVAL;
    if (!cert_ok(c))
        return db_set_err(db, -EINVAL, t->bad_insert);
    created = c->created_us ? c->created_us : time_now_unix_us();
    modified = c->modified_us ? c->modified_us : created;
    generation = c->generation > 0 ? c->generation : 1;
    db_q_open(&q, db, t->insert, false);
    db_q_text(&q, 1, c->id);
    db_q_text(&q, 2, c->pem);
    db_q_text(&q, 3, c->status);
    i = t->bind_own(&q, c);
    db_q_i64(&q, i, c->not_before_us);
    db_q_i64(&q, i + 1, c->not_after_us);
    db_q_i64(&q, i + 2, created);
    db_q_i64(&q, i + 3, modified);
    db_q_i64(&q, i + 4, generation);
    r = db_q_run(&q);
    if (r < 0)
        return r;
    c->rowid = sqlite3_last_insert_rowid(db->sq);
    c->created_us = created;
    c->modified_us = modified;
    c->generation = generation;
    return 0;
}

static int cert_get(struct db *db, const struct cert_table *t, const char *id,
                    struct db_aws_cert *ret) {
    struct db_q q;
    if (!db || !id || !ret)
        return -EINVAL;
    db_q_open(&q, db, t->get, false);
    db_q_text(&q, 1, id);
    return db_q_one(&q, &t->row, ret);
}

static int cert_delete(struct db *db, const struct cert_table *t, const char *id) {
    struct db_q q;
    if (!db || !id)
        return -EINVAL;
    db_q_open(&q, db, t->del, false);
    db_q_text(&q, 1, id);
    return db_q_run_changes(&q, t->row.not_found);
}

/* ca_id non-NULL (device certificates only) keeps those registered with
 * that CA. */
static int cert_list(struct db *db, const struct cert_table *t, const char *ca_id,
                     bool ascending, int64_t after_rowid, int limit,
                     int (*cb)(const struct db_aws_cert *c, void *ud), void *ud) {
    enum db_stmt id;
    struct db_q q;

    if (!db || !cb)
        return -EINVAL;
    /* Separate statements rather than bound switches, so each uses its
     * index (pk, or aws_certs_ca which carries the pk) without a sort. */
    if (ca_id)
        id = ascending ? DB_ST_AWS_CERT_LIST_CA_ASC : DB_ST_AWS_CERT_LIST_CA_DESC;
    else
        id = ascending ? t->list_asc : t->list_desc;
    db_q_open(&q, db, id, true);
    /* Descending pages start at after_rowid 0 too: bound as "below the
     * largest rowid there can be". */
    db_q_i64(&q, 1, ascending || after_rowid > 0 ? after_rowid : INT64_MAX);
    db_q_i64(&q, 2, db_limit_of(limit));
    if (ca_id)
        db_q_text(&q, 3, ca_id);
    return db_q_list(&q, &t->row, (void (*)(void))cb, ud);
}

/* ---- device certificates ---- */

int db_aws_cert_insert(struct db *db, struct db_aws_cert *c) {
    return cert_insert(db, &device_certs, c);
}

int db_aws_cert_get(struct db *db, const char *id, struct db_aws_cert *ret) {
    return cert_get(db, &device_certs, id, ret);
}

int db_aws_cert_set_status(struct db *db, const char *id, const char *status, int64_t now_us) {
    struct db_q q;
    if (!db || !id)
        return -EINVAL;
    if (!db_aws_text_ok(status, sizeof((struct db_aws_cert *)NULL)->status, true))
        return db_set_err(db, -EINVAL, "certificate status empty or too long");
    db_q_open(&q, db, DB_ST_AWS_CERT_SET_STATUS, false);
    db_q_text(&q, 1, id);
    db_q_text(&q, 2, status);
    db_q_i64(&q, 3, now_us);
    return db_q_run_changes(&q, device_certs.row.not_found);
}

int db_aws_cert_delete(struct db *db, const char *id) {
    return cert_delete(db, &device_certs, id);
}

int db_aws_cert_list(struct db *db, const char *ca_id, bool ascending, int64_t after_rowid,
                     int limit, int (*cb)(const struct db_aws_cert *c, void *ud), void *ud) {
    return cert_list(db, &device_certs, ca_id, ascending, after_rowid, limit, cb, ud);
}

int db_aws_cert_count_by_ca(struct db *db, const char *ca_id, int64_t *ret) {
    struct db_q q;
    if (!db || !ca_id || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_CERT_COUNT_CA, false);
    db_q_text(&q, 1, ca_id);
    return db_q_int64(&q, ret);
}

/* ---- CA certificates ---- */

int db_aws_cacert_insert(struct db *db, struct db_aws_cert *c) {
    return cert_insert(db, &ca_certs, c);
}

int db_aws_cacert_get(struct db *db, const char *id, struct db_aws_cert *ret) {
    return cert_get(db, &ca_certs, id, ret);
}

int db_aws_cacert_update(struct db *db, const struct db_aws_cert *c, int64_t now_us) {
    struct db_q q;
    if (!db || !c)
        return -EINVAL;
    if (!db_aws_text_ok(c->id, sizeof c->id, true) ||
        !db_aws_text_ok(c->status, sizeof c->status, true) ||
        !db_aws_text_ok(c->auto_registration, sizeof c->auto_registration, false))
        return db_set_err(db, -EINVAL, "CA certificate id or status missing, or too long");
    db_q_open(&q, db, DB_ST_AWS_CACERT_UPDATE, false);
    db_q_text(&q, 1, c->id);
    db_q_text(&q, 2, c->status);
    db_q_text(&q, 3, c->auto_registration);
    db_q_text(&q, 4, c->registration_config_json);
    db_q_i64(&q, 5, now_us);
    return db_q_run_changes(&q, ca_certs.row.not_found);
}

int db_aws_cacert_delete(struct db *db, const char *id) {
    return cert_delete(db, &ca_certs, id);
}

int db_aws_cacert_list(struct db *db, bool ascending, int64_t after_rowid, int limit,
                       int (*cb)(const struct db_aws_cert *c, void *ud), void *ud) {
    return cert_list(db, &ca_certs, NULL, ascending, after_rowid, limit, cb, ud);
}
