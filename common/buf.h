/* A growable byte buffer with a hard maximum (curl's dynbuf rule: every
 * buffer a peer can grow has a cap). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;      /* owned */
    size_t len;
    size_t cap;
    size_t max;         /* hard limit on len */
};

void buf_init(struct buf *b, size_t max);
/* Appends; -EMSGSIZE if len would exceed max, -ENOMEM on allocation failure.
 * On failure the buffer is unchanged. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Gives the storage back when the buffer is empty (max is kept; the next
 * append allocates again): idle connections then hold no buffers. */
void buf_release_if_empty(struct buf *b);
void buf_free(struct buf *b);

/* Makes room for n more bytes and returns where they go (*ret); the caller
 * writes them and then calls buf_commit(b, written). Same errors as
 * buf_append. */
int buf_reserve(struct buf *b, size_t n, uint8_t **ret);
void buf_commit(struct buf *b, size_t n);
