/* Bounds-checked cursor reader and writer over caller-owned memory.
 * Reader: every get returns -EBADMSG on short data and leaves outputs untouched.
 * Writer: the first error sticks (err), later puts are no-ops; check once at
 * the end (OpenBGPD's ibuf habit, not curl's hand-computed offsets). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct rcur {
    const uint8_t *p;   /* borrowed */
    size_t len;
    size_t off;
};

struct wcur {
    uint8_t *p;         /* borrowed */
    size_t cap;
    size_t off;
    int err;            /* 0 or the first negative errno (-EMSGSIZE on overflow) */
};

static inline void rcur_init(struct rcur *r, const void *p, size_t len)
{
    r->p = p; r->len = len; r->off = 0;
}
static inline size_t rcur_left(const struct rcur *r) { return r->len - r->off; }

int rcur_u8(struct rcur *r, uint8_t *ret);
int rcur_u16be(struct rcur *r, uint16_t *ret);
/* Borrows n bytes: *ret points into the reader's memory. */
int rcur_bytes(struct rcur *r, size_t n, const uint8_t **ret);

static inline void wcur_init(struct wcur *w, void *p, size_t cap)
{
    w->p = p; w->cap = cap; w->off = 0; w->err = 0;
}
void wcur_u8(struct wcur *w, uint8_t v);
void wcur_u16be(struct wcur *w, uint16_t v);
void wcur_bytes(struct wcur *w, const void *p, size_t n);
