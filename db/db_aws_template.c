/* AWS IoT provisioning templates (fleet provisioning and JITP) and their
 * versions: create (with version 1 as the default), get, update (the
 * template's settings and which version is the default), delete (with
 * every version), list, the version calls (add, get, delete, list) with
 * AWS's rules (at most DB_AWS_MAX_TEMPLATE_VERSIONS versions, ids never
 * reused, the default version cannot be deleted), and the one read a
 * provisioning request makes: the default version's body by template
 * name. The store neither parses nor checks a body or a hook: the API
 * layer and the template engine own their meaning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

void db_aws_template_clear(struct db_aws_template *t) {
    if (!t)
        return;
    free(t->description);
    free(t->role_arn);
    free(t->pre_hook_json);
    memset(t, 0, sizeof *t);
}

void db_aws_template_version_clear(struct db_aws_template_version *v) {
    if (!v)
        return;
    free(v->body);
    memset(v, 0, sizeof *v);
}

/* ---- row readers ---- */

/* The columns of AWS_TMPL_COLS (db_sql.c). */
static int template_read(sqlite3_stmt *st, void *row) {
    struct db_aws_template *t = row;
    int r;

    memset(t, 0, sizeof *t);
    t->rowid = sqlite3_column_int64(st, 0);
    db_col_copy(st, 1, t->name, sizeof t->name);
    db_col_copy(st, 2, t->template_id, sizeof t->template_id);
    t->enabled = sqlite3_column_int64(st, 4) != 0;
    db_col_copy(st, 6, t->type, sizeof t->type);
    t->default_version = sqlite3_column_int64(st, 8);
    t->created_us = sqlite3_column_int64(st, 9);
    t->modified_us = sqlite3_column_int64(st, 10);
    r = db_col_strdup(st, 3, &t->description);
    if (r >= 0)
        r = db_col_strdup(st, 5, &t->role_arn);
    if (r >= 0)
        r = db_col_strdup(st, 7, &t->pre_hook_json);
    /* NOT NULL in the schema: never hand out a NULL description or role. */
    if (r >= 0 && (!t->description || !t->role_arn))
        r = -ENOMEM;
    return r;
}

static void template_clear(void *row) {
    db_aws_template_clear(row);
}

static int template_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_template *, void *))cb)(row, ud);
}

static const struct db_row_ops template_row = {
    .size = sizeof(struct db_aws_template),
    .read = template_read,
    .clear = template_clear,
    .emit = template_emit,
    .not_found = "provisioning template not found",
};

static int version_read(sqlite3_stmt *st, void *row) {
    struct db_aws_template_version *v = row;
    int r;

    memset(v, 0, sizeof *v);
    v->template_rowid = sqlite3_column_int64(st, 0);
    v->version = sqlite3_column_int64(st, 1);
    v->created_us = sqlite3_column_int64(st, 3);
    r = db_col_strdup(st, 2, &v->body);
    if (r >= 0 && !v->body)
        r = -ENOMEM;
    return r;
}

static void version_clear(void *row) {
    db_aws_template_version_clear(row);
}

static int version_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_template_version *, void *))cb)(row, ud);
}

static const struct db_row_ops version_row = {
    .size = sizeof(struct db_aws_template_version),
    .read = version_read,
    .clear = version_clear,
    .emit = version_emit,
    .not_found = "provisioning template version not found",
};

/* ---- templates ---- */

static const struct db_versioned template_versions = {
    .st_versions = DB_ST_AWS_TMPL_VERSIONS,
    .st_insert = DB_ST_AWS_TMPL_VER_INSERT,
    .st_added = DB_ST_AWS_TMPL_ADDED,
    .st_delete = DB_ST_AWS_TMPL_VER_DELETE,
    .st_touch = DB_ST_AWS_TMPL_TOUCH,
    .max_versions = DB_AWS_MAX_TEMPLATE_VERSIONS,
    .owner_missing = "provisioning template not found",
    .version_missing = "provisioning template version not found",
    .too_many = "template has the maximum number of versions",
    .default_busy = "the default template version cannot be deleted",
};

int db_aws_template_insert(struct db *db, struct db_aws_template *t, const char *body,
                           int64_t now_us) {
    struct db_txn txn;
    struct db_q q;
    int64_t rowid = 0;
    int r;

    if (!db || !t)
        return -EINVAL;
    if (!db_aws_text_ok(t->name, sizeof t->name, true) ||
        !db_aws_text_ok(t->template_id, sizeof t->template_id, false) ||
        !db_aws_text_ok(t->type, sizeof t->type, true) || !body)
        return db_set_err(db, -EINVAL, "template name and type must be set, with a body");
    /* The template and its version 1 together or not at all. */
    r = db_txn_begin(db, &txn);
    if (r < 0)
        return r;
    db_q_open(&q, db, DB_ST_AWS_TMPL_INSERT, false);
    db_q_text(&q, 1, t->name);
    db_q_text(&q, 2, t->template_id);
    db_q_text(&q, 3, t->description ? t->description : "");
    db_q_i64(&q, 4, t->enabled ? 1 : 0);
    db_q_text(&q, 5, t->role_arn ? t->role_arn : "");
    db_q_text(&q, 6, t->type);
    db_q_text(&q, 7, t->pre_hook_json);
    db_q_i64(&q, 8, now_us);
    r = db_q_run(&q);
    if (r >= 0) {
        rowid = sqlite3_last_insert_rowid(db->sq);
        r = db_version_insert(db, &template_versions, rowid, 1, body, now_us);
    }
    r = db_txn_end(db, &txn, r);
    if (r < 0)
        return r;
    t->rowid = rowid;
    t->default_version = 1;
    t->created_us = now_us;
    t->modified_us = now_us;
    return 0;
}

int db_aws_template_get(struct db *db, const char *name, struct db_aws_template *ret) {
    struct db_q q;
    if (!db || !name || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TMPL_GET, false);
    db_q_text(&q, 1, name);
    return db_q_one(&q, &template_row, ret);
}

int db_aws_template_update(struct db *db, const struct db_aws_template *t, int64_t now_us) {
    struct db_q q;
    if (!db || !t)
        return -EINVAL;
    /* One statement: it changes no row unless the version exists. */
    db_q_open(&q, db, DB_ST_AWS_TMPL_UPDATE, false);
    db_q_i64(&q, 1, t->rowid);
    db_q_text(&q, 2, t->description ? t->description : "");
    db_q_i64(&q, 3, t->enabled ? 1 : 0);
    db_q_text(&q, 4, t->role_arn ? t->role_arn : "");
    db_q_text(&q, 5, t->pre_hook_json);
    db_q_i64(&q, 6, t->default_version);
    db_q_i64(&q, 7, now_us);
    return db_q_run_changes(&q, "provisioning template or version not found");
}

int db_aws_template_delete(struct db *db, int64_t rowid) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    /* The versions go with it (ON DELETE CASCADE). */
    db_q_open(&q, db, DB_ST_AWS_TMPL_DELETE, false);
    db_q_i64(&q, 1, rowid);
    return db_q_run_changes(&q, "provisioning template not found");
}

int db_aws_template_list(struct db *db, int64_t after_rowid, int limit,
                         int (*cb)(const struct db_aws_template *t, void *ud), void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TMPL_LIST, true);
    db_q_i64(&q, 1, after_rowid);
    db_q_i64(&q, 2, db_limit_of(limit));
    return db_q_list(&q, &template_row, (void (*)(void))cb, ud);
}

/* ---- versions ---- */

int db_aws_template_version_add(struct db *db, int64_t template_rowid, const char *body,
                                bool set_default, int64_t now_us, int64_t *ret_version) {
    return db_version_add(db, &template_versions, template_rowid, body, set_default, now_us,
                          ret_version);
}

int db_aws_template_version_get(struct db *db, int64_t template_rowid, int64_t version,
                                struct db_aws_template_version *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TMPL_VER_GET, false);
    db_q_i64(&q, 1, template_rowid);
    db_q_i64(&q, 2, version);
    return db_q_one(&q, &version_row, ret);
}

int db_aws_template_version_delete(struct db *db, int64_t template_rowid, int64_t version,
                                   int64_t now_us) {
    return db_version_delete(db, &template_versions, template_rowid, version, now_us);
}

int db_aws_template_version_list(struct db *db, int64_t template_rowid, int64_t after_version,
                                 int limit,
                                 int (*cb)(const struct db_aws_template_version *v, void *ud),
                                 void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TMPL_VER_LIST, true);
    db_q_i64(&q, 1, template_rowid);
    db_q_i64(&q, 2, after_version);
    db_q_i64(&q, 3, db_limit_of(limit));
    return db_q_list(&q, &version_row, (void (*)(void))cb, ud);
}

/* ---- provisioning ---- */

int db_aws_template_get_default_body(struct db *db, const char *name, char **ret_body,
                                     bool *ret_enabled, char ret_type[DB_AWS_TEMPLATE_TYPE_MAX]) {
    char type[DB_AWS_TEMPLATE_TYPE_MAX] = "";
    struct db_q q;
    char *body = NULL;
    bool enabled = false;
    int rc, e, r = 0;

    if (!db || !name || !ret_body)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TMPL_DEFAULT_BODY, false);
    db_q_text(&q, 1, name);
    rc = db_q_step(&q);
    if (rc == SQLITE_ROW) {
        r = db_col_strdup(q.st, 0, &body);
        if (r >= 0 && !body)
            r = -ENOMEM;
        enabled = sqlite3_column_int64(q.st, 1) != 0;
        db_col_copy(q.st, 2, type, sizeof type);
    }
    e = db_q_end(&q);
    if (e < 0 || r < 0) {
        free(body);
        return e < 0 ? e : db_set_err(db, r, "out of memory");
    }
    if (rc != SQLITE_ROW)
        return db_set_err(db, -ENOENT, "provisioning template not found");
    *ret_body = body;
    if (ret_enabled)
        *ret_enabled = enabled;
    if (ret_type)
        memcpy(ret_type, type, sizeof type);
    return 0;
}
