/* Batched last-seen timestamps: db_device_mark records them in memory (a
 * dense array plus a hash index, per handle) and db_flush_marks writes all of
 * them in one transaction, so a busy device costs one UPDATE per flush
 * instead of one per message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

/* Pending marks of one device; a bit in `set` per enum db_mark. */
struct db_mark_entry {
    int64_t device;
    int64_t at[DB_MARK__COUNT];
    uint8_t set;
};

static size_t mark_hash(int64_t key, size_t mask) {
    uint64_t x = (uint64_t)key;            /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (size_t)x & mask;
}

/* Slot holding key, or the empty slot where it would go. */
static size_t mark_slot(const struct db_marks *ms, int64_t key) {
    size_t mask = ms->index_cap - 1;
    size_t i = mark_hash(key, mask);
    while (ms->index[i] != 0 && ms->entries[ms->index[i] - 1].device != key)
        i = (i + 1) & mask;
    return i;
}

static int marks_grow(struct db_marks *ms) {
    size_t cap = ms->cap ? ms->cap * 2 : 64;
    size_t icap = 1;
    struct db_mark_entry *m;
    uint32_t *idx;

    if (ms->cap >= DB_MARKS_MAX)
        return -ENOMEM;
    if (cap > DB_MARKS_MAX)
        cap = DB_MARKS_MAX;
    while (icap < cap * 2)                 /* at most half full: short probes */
        icap *= 2;
    idx = calloc(icap, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    m = realloc(ms->entries, cap * sizeof *m);
    if (!m) {
        free(idx);
        return -ENOMEM;
    }
    ms->entries = m;
    ms->cap = cap;
    free(ms->index);
    ms->index = idx;
    ms->index_cap = icap;
    for (size_t e = 0; e < ms->n; e++)
        ms->index[mark_slot(ms, ms->entries[e].device)] = (uint32_t)(e + 1);
    return 0;
}

void db_marks_free(struct db_marks *ms) {
    free(ms->entries);
    free(ms->index);
    memset(ms, 0, sizeof *ms);
}

int db_device_mark(struct db *db, int64_t device_rowid, enum db_mark which, int64_t when_us) {
    struct db_marks *ms;
    struct db_mark_entry *m;
    size_t slot;

    if (!db || device_rowid <= 0 || (int)which < 0 || which >= DB_MARK__COUNT)
        return -EINVAL;
    ms = &db->marks;
    if (ms->n > 0) {
        slot = mark_slot(ms, device_rowid);
        if (ms->index[slot] != 0) {
            m = &ms->entries[ms->index[slot] - 1];
            m->at[which] = when_us;
            m->set |= (uint8_t)(1u << which);
            return 0;
        }
    }
    if (ms->n == ms->cap) {
        int r = marks_grow(ms);
        if (r < 0)
            return db_set_err(db, r, "too many pending marks");
    }
    slot = mark_slot(ms, device_rowid);
    m = &ms->entries[ms->n];
    memset(m, 0, sizeof *m);
    m->device = device_rowid;
    m->at[which] = when_us;
    m->set = (uint8_t)(1u << which);
    ms->n++;
    ms->index[slot] = (uint32_t)ms->n;
    return 0;
}

int db_flush_marks(struct db *db) {
    struct db_marks *ms;
    struct db_txn t;
    int r;

    if (!db)
        return -EINVAL;
    ms = &db->marks;
    if (ms->n == 0)
        return 0;
    if (!sqlite3_get_autocommit(db->sq))
        return db_set_err(db, -EBUSY, "marks are not flushed inside a transaction");
    r = db_txn_begin(db, &t);
    if (r < 0)
        return r;
    /* One statement per field, reused for every device: an UPDATE of a
     * deleted device matches no row and is simply skipped. */
    for (int f = 0; f < DB_MARK__COUNT && r >= 0; f++) {
        for (size_t e = 0; e < ms->n && r >= 0; e++) {
            const struct db_mark_entry *m = &ms->entries[e];
            struct db_q q;
            if (!(m->set & (1u << f)))
                continue;
            db_q_open(&q, db, (enum db_stmt)(DB_ST_MARK_HEARTBEAT + f), false);
            db_q_i64(&q, 1, m->device);
            db_q_i64(&q, 2, m->at[f]);
            r = db_q_run(&q);
        }
    }
    r = db_txn_end(db, &t, r);
    if (r < 0)
        return r;                          /* the marks stay for the next flush */
    r = (int)ms->n;
    ms->n = 0;
    memset(ms->index, 0, ms->index_cap * sizeof *ms->index);
    return r;
}
