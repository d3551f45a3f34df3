/* Cursor reader/writer: the only place that touches raw offsets. */
#include "common/cursor.h"

#include <errno.h>
#include <string.h>

int rcur_u8(struct rcur *r, uint8_t *ret)
{
    if (rcur_left(r) < 1)
        return -EBADMSG;
    *ret = r->p[r->off++];
    return 0;
}

int rcur_u16be(struct rcur *r, uint16_t *ret)
{
    if (rcur_left(r) < 2)
        return -EBADMSG;
    *ret = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return 0;
}

int rcur_bytes(struct rcur *r, size_t n, const uint8_t **ret)
{
    if (rcur_left(r) < n)
        return -EBADMSG;
    *ret = r->p + r->off;
    r->off += n;
    return 0;
}

void wcur_u8(struct wcur *w, uint8_t v)
{
    wcur_bytes(w, &v, 1);
}

void wcur_u16be(struct wcur *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    wcur_bytes(w, b, 2);
}

void wcur_bytes(struct wcur *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (w->cap - w->off < n) {
        w->err = -EMSGSIZE;
        return;
    }
    if (n)
        memcpy(w->p + w->off, p, n);
    w->off += n;
}
