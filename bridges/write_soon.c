/* The end-of-iteration write queue; see write_soon.h. */
#include "bridges/write_soon.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <libwebsockets.h>

/* Nodes flushed per pass at most: a flush that keeps queuing others cannot
 * hold the loop (the rest go on the next pass). */
#define WRITE_SOON_MAX_PER_PASS 100000u

static struct {
    struct lws_context *ctx;            /* borrowed; NULL = not initialised */
    lws_sorted_usec_list_t sul;
    struct write_soon *head;
} W;

static void unlink_node(struct write_soon *n)
{
    *n->pprev = n->next;
    if (n->next)
        n->next->pprev = n->pprev;
    n->next = NULL;
    n->pprev = NULL;
}

static void on_due(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    for (unsigned i = 0; W.head && i < WRITE_SOON_MAX_PER_PASS; i++) {
        struct write_soon *n = W.head;
        unlink_node(n);
        n->fn(n);
    }
    if (W.head)
        lws_sul_schedule(W.ctx, 0, &W.sul, on_due, 0);
}

int write_soon_init(struct lws_context *ctx)
{
    if (!ctx)
        return -EINVAL;
    memset(&W, 0, sizeof(W));
    W.ctx = ctx;
    return 0;
}

void write_soon_fini(void)
{
    if (!W.ctx)
        return;
    while (W.head)
        unlink_node(W.head);
    lws_sul_cancel(&W.sul);
    W.ctx = NULL;
}

bool write_soon_queue(struct write_soon *node, write_soon_fn fn)
{
    if (!W.ctx)
        return false;
    if (node->pprev)
        return true;
    node->fn = fn;
    node->next = W.head;
    if (W.head)
        W.head->pprev = &node->next;
    node->pprev = &W.head;
    /* One timer, due at once, for the whole batch: lws runs due timers
     * after the I/O callbacks that queued it, before it polls again. */
    if (!W.head)
        lws_sul_schedule(W.ctx, 0, &W.sul, on_due, 0);
    W.head = node;
    return true;
}

void write_soon_cancel(struct write_soon *node)
{
    if (node && node->pprev)
        unlink_node(node);
}
