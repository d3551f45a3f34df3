/* Timer wheel: buckets of intrusive doubly linked lists by tick. */
#include "common/twheel.h"

#include <string.h>

void twheel_init(struct twheel *w, int64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->done_tick = now_ms / TWHEEL_TICK_MS;
}

static void push(struct twheel_node **head, struct twheel_node *n)
{
    n->next = *head;
    if (*head)
        (*head)->pprev = &n->next;
    *head = n;
    n->pprev = head;
}

void twheel_disarm(struct twheel_node *n)
{
    if (!n || !n->pprev)
        return;
    *n->pprev = n->next;
    if (n->next)
        n->next->pprev = n->pprev;
    n->next = NULL;
    n->pprev = NULL;
}

void twheel_arm(struct twheel *w, struct twheel_node *n, int64_t due_ms)
{
    int64_t t = (due_ms + TWHEEL_TICK_MS - 1) / TWHEEL_TICK_MS;

    twheel_disarm(n);
    n->due_ms = due_ms;
    if (t <= w->done_tick)
        t = w->done_tick + 1;
    push(&w->slot[t % TWHEEL_SLOTS], n);
}

void twheel_advance(struct twheel *w, int64_t now_ms,
                    void (*fire)(struct twheel_node *n, void *ud), void *ud)
{
    int64_t now_tick = now_ms / TWHEEL_TICK_MS;
    int64_t first = w->done_tick + 1;

    /* A loop stalled for a whole period needs each slot visited only once. */
    if (now_tick - first >= TWHEEL_SLOTS)
        first = now_tick - TWHEEL_SLOTS + 1;
    for (int64_t k = first; k <= now_tick; k++) {
        struct twheel_node **slot = &w->slot[k % TWHEEL_SLOTS];
        w->done_tick = k;
        /* Move the slot to the pending list, so nodes armed, disarmed or
         * freed by the callbacks meanwhile never disturb the walk. */
        w->pending = *slot;
        if (w->pending)
            w->pending->pprev = &w->pending;
        *slot = NULL;
        while (w->pending) {
            struct twheel_node *n = w->pending;
            twheel_disarm(n);
            if (n->due_ms > now_ms)
                twheel_arm(w, n, n->due_ms);
            else
                fire(n, ud);
        }
    }
    if (w->done_tick < now_tick)
        w->done_tick = now_tick;
}

int64_t twheel_ms_to_next_tick(int64_t now_ms)
{
    return (now_ms / TWHEEL_TICK_MS + 1) * TWHEEL_TICK_MS - now_ms;
}
