/* Bounded growable buffer. */
#include "common/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

/* Grows capacity to hold n more bytes (doubling, capped at max). */
static int buf_grow(struct buf *b, size_t n)
{
    if (n > b->max - b->len)
        return -EMSGSIZE;
    if (b->len + n <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + n)
        ncap *= 2;
    if (ncap > b->max)
        ncap = b->max;
    uint8_t *d = realloc(b->data, ncap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = ncap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int r = buf_grow(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

void buf_release_if_empty(struct buf *b)
{
    if (b->len == 0 && b->data) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int buf_reserve(struct buf *b, size_t n, uint8_t **ret)
{
    int r = buf_grow(b, n);
    if (r < 0)
        return r;
    /* No arithmetic on a NULL buffer (n == 0 before any allocation). */
    *ret = b->data ? b->data + b->len : NULL;
    return 0;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}
