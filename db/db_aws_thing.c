/* AWS things and thing types: insert, get, update, delete and list, with
 * ListThings' filters (thing type, one attribute exact or by prefix). A
 * thing names its type by the type's row; the API speaks type names, so
 * writes resolve the name first and reads join it back. The principals
 * attached to a thing live in db_aws_attach.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "db/db_internal.h"

/* AWS attribute names: [a-zA-Z0-9_.,@/:#-]+, at most 128 characters. The
 * set leaves out '"' and '\', which is what makes the quoted JSON path of
 * the ListThings filter safe to build from the name (db_sql.c). */
#define AWS_ATTR_NAME_MAX 128

void db_aws_thing_clear(struct db_aws_thing *t) {
    if (!t)
        return;
    free(t->attributes_json);
    memset(t, 0, sizeof *t);
}

void db_aws_thing_type_clear(struct db_aws_thing_type *t) {
    if (!t)
        return;
    free(t->properties_json);
    memset(t, 0, sizeof *t);
}

/* ---- row readers ---- */

int db_aws_thing_read_at(sqlite3_stmt *st, int base, struct db_aws_thing *t) {
    int r;
    memset(t, 0, sizeof *t);
    t->rowid = sqlite3_column_int64(st, base);
    db_col_copy(st, base + 1, t->name, sizeof t->name);
    db_col_copy(st, base + 2, t->thing_id, sizeof t->thing_id);
    db_col_copy(st, base + 3, t->type_name, sizeof t->type_name);
    t->version = sqlite3_column_int64(st, base + 5);
    t->created_us = sqlite3_column_int64(st, base + 6);
    r = db_col_strdup(st, base + 4, &t->attributes_json);
    /* A thing stored without attributes reads as the empty object, so no
     * reader has to special-case NULL. */
    if (r >= 0 && !t->attributes_json) {
        t->attributes_json = strdup("{}");
        if (!t->attributes_json)
            r = -ENOMEM;
    }
    return r;
}

static int thing_read(sqlite3_stmt *st, void *row) {
    return db_aws_thing_read_at(st, 0, row);
}

static void thing_clear(void *row) {
    db_aws_thing_clear(row);
}

static int thing_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_thing *, void *))cb)(row, ud);
}

static const struct db_row_ops thing_row = {
    .size = sizeof(struct db_aws_thing),
    .read = thing_read,
    .clear = thing_clear,
    .emit = thing_emit,
    .not_found = "thing not found",
};

static int type_read(sqlite3_stmt *st, void *row) {
    struct db_aws_thing_type *t = row;
    memset(t, 0, sizeof *t);
    t->rowid = sqlite3_column_int64(st, 0);
    db_col_copy(st, 1, t->name, sizeof t->name);
    db_col_copy(st, 2, t->type_id, sizeof t->type_id);
    t->deprecated = sqlite3_column_int(st, 4) != 0;
    t->deprecated_us = sqlite3_column_int64(st, 5);
    t->created_us = sqlite3_column_int64(st, 6);
    return db_col_strdup(st, 3, &t->properties_json);
}

static void type_clear(void *row) {
    db_aws_thing_type_clear(row);
}

static int type_emit(void (*cb)(void), const void *row, void *ud) {
    return ((int (*)(const struct db_aws_thing_type *, void *))cb)(row, ud);
}

static const struct db_row_ops type_row = {
    .size = sizeof(struct db_aws_thing_type),
    .read = type_read,
    .clear = type_clear,
    .emit = type_emit,
    .not_found = "thing type not found",
};

/* ---- things ---- */

/* The row of the type a thing names: 0 for none (""), -ENOENT when no such
 * type exists. The foreign key still guards a type deleted in between by
 * another connection. */
static int type_pk_of(struct db *db, const char *type_name, int64_t *ret) {
    struct db_q q;
    int64_t pk = 0;
    int r;
    if (!*type_name) {
        *ret = 0;
        return 0;
    }
    db_q_open(&q, db, DB_ST_AWS_TYPE_PK, false);
    db_q_text(&q, 1, type_name);
    r = db_q_int64(&q, &pk);
    if (r < 0)
        return r;
    if (pk == 0)
        return db_set_err(db, -ENOENT, "thing type not found");
    *ret = pk;
    return 0;
}

/* A type row binds as its pk, none as NULL. */
static void bind_type(struct db_q *q, int idx, int64_t type_pk) {
    if (type_pk)
        db_q_i64(q, idx, type_pk);
    else
        db_q_text(q, idx, NULL);
}

static bool thing_fields_ok(const struct db_aws_thing *t) {
    return db_aws_text_ok(t->thing_id, sizeof t->thing_id, false) &&
           db_aws_text_ok(t->type_name, sizeof t->type_name, false);
}

int db_aws_thing_insert(struct db *db, struct db_aws_thing *t) {
    struct db_q q;
    int64_t type_pk = 0, version, created;
    int r;

    if (!db || !t)
        return -EINVAL;
    if (!db_aws_text_ok(t->name, sizeof t->name, true) || !thing_fields_ok(t))
        return db_set_err(db, -EINVAL, "thing name empty, or a field too long");
    version = t->version > 0 ? t->version : 1;     /* AWS: a new thing is version 1 */
    created = t->created_us ? t->created_us : time_now_unix_us();
    r = type_pk_of(db, t->type_name, &type_pk);
    if (r < 0)
        return r;
    db_q_open(&q, db, DB_ST_AWS_THING_INSERT, false);
    db_q_text(&q, 1, t->name);
    db_q_text(&q, 2, t->thing_id);
    bind_type(&q, 3, type_pk);
    db_q_text(&q, 4, t->attributes_json);
    db_q_i64(&q, 5, version);
    db_q_i64(&q, 6, created);
    r = db_q_run(&q);
    if (r < 0)
        return r;
    t->rowid = sqlite3_last_insert_rowid(db->sq);
    t->version = version;
    t->created_us = created;
    return 0;
}

int db_aws_thing_get(struct db *db, const char *name, struct db_aws_thing *ret) {
    struct db_q q;
    if (!db || !name || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_THING_GET, false);
    db_q_text(&q, 1, name);
    return db_q_one(&q, &thing_row, ret);
}

int db_aws_thing_get_by_rowid(struct db *db, int64_t rowid, struct db_aws_thing *ret) {
    struct db_q q;
    if (!db || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_THING_GET_PK, false);
    db_q_i64(&q, 1, rowid);
    return db_q_one(&q, &thing_row, ret);
}

int db_aws_thing_update(struct db *db, const struct db_aws_thing *t) {
    struct db_q q;
    int64_t type_pk = 0;
    int r;

    if (!db || !t)
        return -EINVAL;
    if (!thing_fields_ok(t))
        return db_set_err(db, -EINVAL, "thing field too long");
    r = type_pk_of(db, t->type_name, &type_pk);
    if (r < 0)
        return r;
    db_q_open(&q, db, DB_ST_AWS_THING_UPDATE, false);
    db_q_i64(&q, 1, t->rowid);
    bind_type(&q, 2, type_pk);
    db_q_text(&q, 3, t->attributes_json);
    db_q_i64(&q, 4, t->version);
    return db_q_run_changes(&q, "thing not found");
}

int db_aws_thing_delete(struct db *db, int64_t rowid) {
    struct db_q q;
    if (!db)
        return -EINVAL;
    /* Its principal attachments go with it (ON DELETE CASCADE), in the
     * statement's own transaction. */
    db_q_open(&q, db, DB_ST_AWS_THING_DELETE, false);
    db_q_i64(&q, 1, rowid);
    return db_q_run_changes(&q, "thing not found");
}

static bool attr_name_ok(const char *s) {
    size_t n = strnlen(s, AWS_ATTR_NAME_MAX + 1);
    if (n == 0 || n > AWS_ATTR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_.,@/:#-", c)))
            return false;
    }
    return true;
}

/* The attribute filter is on when attribute_name is non-empty and
 * attribute_value is set: "" then matches an empty value exactly, or (as a
 * prefix) any thing that has the attribute at all. */
int db_aws_thing_list(struct db *db, const struct db_aws_thing_filter *f, int64_t after_rowid,
                      int limit, int (*cb)(const struct db_aws_thing *t, void *ud), void *ud) {
    const char *type = f && f->type_name && *f->type_name ? f->type_name : NULL;
    bool attr = f && f->attribute_name && *f->attribute_name && f->attribute_value;
    struct db_q q;

    if (!db || !cb)
        return -EINVAL;
    if (attr && !attr_name_ok(f->attribute_name))
        return db_set_err(db, -EINVAL, "bad attribute name");
    db_q_open(&q, db, type ? DB_ST_AWS_THING_LIST_TYPE : DB_ST_AWS_THING_LIST, true);
    db_q_i64(&q, 1, after_rowid);
    db_q_text(&q, 2, attr ? f->attribute_name : NULL);
    db_q_text(&q, 3, attr ? f->attribute_value : NULL);
    db_q_i64(&q, 4, attr && f->attribute_value_prefix ? 1 : 0);
    db_q_i64(&q, 5, db_limit_of(limit));
    if (type)
        db_q_text(&q, 6, type);
    return db_q_list(&q, &thing_row, (void (*)(void))cb, ud);
}

/* ---- thing types ---- */

int db_aws_thing_type_insert(struct db *db, struct db_aws_thing_type *t) {
    struct db_q q;
    int64_t created;
    int r;

    if (!db || !t)
        return -EINVAL;
    if (!db_aws_text_ok(t->name, sizeof t->name, true) ||
        !db_aws_text_ok(t->type_id, sizeof t->type_id, false))
        return db_set_err(db, -EINVAL, "thing type name empty, or a field too long");
    created = t->created_us ? t->created_us : time_now_unix_us();
    db_q_open(&q, db, DB_ST_AWS_TYPE_INSERT, false);
    db_q_text(&q, 1, t->name);
    db_q_text(&q, 2, t->type_id);
    db_q_text(&q, 3, t->properties_json);
    db_q_i64(&q, 4, t->deprecated ? 1 : 0);
    db_q_i64(&q, 5, t->deprecated_us);
    db_q_i64(&q, 6, created);
    r = db_q_run(&q);
    if (r < 0)
        return r;
    t->rowid = sqlite3_last_insert_rowid(db->sq);
    t->created_us = created;
    return 0;
}

int db_aws_thing_type_get(struct db *db, const char *name, struct db_aws_thing_type *ret) {
    struct db_q q;
    if (!db || !name || !ret)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TYPE_GET, false);
    db_q_text(&q, 1, name);
    return db_q_one(&q, &type_row, ret);
}

int db_aws_thing_type_update(struct db *db, const struct db_aws_thing_type *t) {
    struct db_q q;
    if (!db || !t)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TYPE_UPDATE, false);
    db_q_i64(&q, 1, t->rowid);
    db_q_i64(&q, 2, t->deprecated ? 1 : 0);
    db_q_i64(&q, 3, t->deprecated_us);
    return db_q_run_changes(&q, "thing type not found");
}

int db_aws_thing_type_delete(struct db *db, int64_t rowid) {
    static const struct db_guarded_delete g = {
        .in_use = DB_ST_AWS_TYPE_IN_USE,
        .del = DB_ST_AWS_TYPE_DELETE,
        .busy = { "thing type is used by things" },        /* AWS refuses too */
        .not_found = "thing type not found",
    };
    if (!db)
        return -EINVAL;
    return db_delete_guarded(db, &g, rowid);
}

int db_aws_thing_type_list(struct db *db, int64_t after_rowid, int limit,
                           int (*cb)(const struct db_aws_thing_type *t, void *ud), void *ud) {
    struct db_q q;
    if (!db || !cb)
        return -EINVAL;
    db_q_open(&q, db, DB_ST_AWS_TYPE_LIST, true);
    db_q_i64(&q, 1, after_rowid);
    db_q_i64(&q, 2, db_limit_of(limit));
    return db_q_list(&q, &type_row, (void (*)(void))cb, ud);
}
