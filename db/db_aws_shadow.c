/* AWS Device Shadows: one row per (thing, shadow name) holding the shadow
 * engine's stored form. The store neither parses nor checks the text: the
 * registry (reg_aws_shadow) owns its meaning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

static bool names_ok(const char *thing, const char *shadow) {
    return db_aws_text_ok(thing, DB_AWS_NAME_MAX, true) &&
           db_aws_text_ok(shadow, DB_AWS_SHADOW_NAME_MAX, false);
}

int db_aws_shadow_get(struct db *db, const char *thing, const char *shadow, char **ret_text,
                      size_t *ret_len, int64_t *ret_modified_us) {
    struct db_q q;
    char *text = NULL;
    size_t n = 0;
    int64_t modified = 0;
    int rc, e, r = 0;

    if (!db || !ret_text || !ret_len)
        return -EINVAL;
    if (!names_ok(thing, shadow))
        return db_set_err(db, -EINVAL, "thing or shadow name empty or too long");
    db_q_open(&q, db, DB_ST_AWS_SHADOW_GET, false);
    db_q_text(&q, 1, thing);
    db_q_text(&q, 2, shadow);
    rc = db_q_step(&q);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q.st, 0);
        n = (size_t)sqlite3_column_bytes(q.st, 0);
        modified = sqlite3_column_int64(q.st, 1);
        text = v ? malloc(n + 1) : NULL;
        if (!text)
            r = db_set_err(db, -ENOMEM, "out of memory");
        else
            memcpy(text, v, n + 1);
    }
    e = db_q_end(&q);
    if (e < 0 || r < 0) {
        free(text);
        return e < 0 ? e : r;
    }
    if (rc != SQLITE_ROW)
        return db_set_err(db, -ENOENT, "no such shadow");
    *ret_text = text;
    *ret_len = n;
    if (ret_modified_us)
        *ret_modified_us = modified;
    return 0;
}

int db_aws_shadow_put(struct db *db, const char *thing, const char *shadow, const char *text,
                      size_t len, bool present, int64_t modified_us) {
    struct db_q q;

    if (!db || !text)
        return -EINVAL;
    if (!names_ok(thing, shadow))
        return db_set_err(db, -EINVAL, "thing or shadow name empty or too long");
    if (memchr(text, '\0', len))
        return db_set_err(db, -EINVAL, "shadow document holds a NUL");
    db_q_open(&q, db, DB_ST_AWS_SHADOW_PUT, false);
    db_q_text(&q, 1, thing);
    db_q_text(&q, 2, shadow);
    db_q_text_n(&q, 3, text, len);
    db_q_i64(&q, 4, present ? 1 : 0);
    db_q_i64(&q, 5, modified_us);
    return db_q_run(&q);
}

int db_aws_shadow_list_names(struct db *db, const char *thing, const char *after, int limit,
                             int (*cb)(void *ud, const char *name), void *ud) {
    struct db_q q;
    int rc, e, n = 0, stop = 0;

    if (!db || !cb || !after)
        return -EINVAL;
    if (!names_ok(thing, after))
        return db_set_err(db, -EINVAL, "thing or shadow name empty or too long");
    db_q_open(&q, db, DB_ST_AWS_SHADOW_NAMES, true);
    db_q_text(&q, 1, thing);
    db_q_text(&q, 2, after);
    db_q_i64(&q, 3, db_limit_of(limit));
    while (!stop && (rc = db_q_step(&q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q.st, 0);
        if (!name)
            continue;
        stop = cb(ud, name);
        n++;
    }
    e = db_q_end(&q);
    if (e < 0)
        return e;
    return stop < 0 ? stop : n;
}
