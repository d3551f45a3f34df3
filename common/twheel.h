/* A timer wheel for many deadlines: O(1) arm and disarm, one lws timer for
 * all of them. libwebsockets keeps its timers in one sorted list (O(n) per
 * insert), which per-connection timers at 100k connections would turn into
 * the daemon's hot spot. Pure: the owner calls twheel_advance from a single
 * periodic timer. Deadlines are monotonic milliseconds; a node is looked at
 * on the first tick at or after its deadline, and deadlines more than a
 * wheel period away simply come round again. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TWHEEL_TICK_MS 250
#define TWHEEL_SLOTS 256        /* 64 s period */

/* Embed in the object that owns the deadline. */
struct twheel_node {
    struct twheel_node *next;
    struct twheel_node **pprev;   /* NULL when not armed */
    int64_t due_ms;
};

struct twheel {
    struct twheel_node *slot[TWHEEL_SLOTS];
    struct twheel_node *pending;  /* slot being walked by twheel_advance */
    int64_t done_tick;            /* last tick processed */
};

void twheel_init(struct twheel *w, int64_t now_ms);
/* (Re)arms n for due_ms. */
void twheel_arm(struct twheel *w, struct twheel_node *n, int64_t due_ms);
/* NULL-safe, idempotent. */
void twheel_disarm(struct twheel_node *n);
static inline bool twheel_armed(const struct twheel_node *n)
{
    return n->pprev != NULL;
}
/* Processes every tick up to now: fire(n, ud) for each node due by now,
 * disarmed before the call (fire may re-arm, disarm others, or free n).
 * Nodes due later in a visited slot are re-armed. */
void twheel_advance(struct twheel *w, int64_t now_ms,
                    void (*fire)(struct twheel_node *n, void *ud), void *ud);
/* Milliseconds from now_ms to the next tick boundary (> 0). */
int64_t twheel_ms_to_next_tick(int64_t now_ms);
