/* The timer wheel: deadlines fire on the first tick at or after them, once;
 * re-arming, disarming and freeing from inside a callback; deadlines beyond
 * one wheel period; a stalled loop. */
#include <stdlib.h>
#include <string.h>

#include "common/twheel.h"
#include "testutil.h"

struct item {
    struct twheel_node n;
    int fired;
    int64_t fired_at;
    int64_t rearm_to;            /* re-arm to this in the callback (0 = no) */
    struct item *disarm_other;   /* disarm this one in the callback */
};

static int64_t now_ms;

static void fire(struct twheel_node *n, void *ud)
{
    struct twheel *w = ud;
    struct item *it = (struct item *)n;
    it->fired++;
    it->fired_at = now_ms;
    CHECK(!twheel_armed(n));
    if (it->disarm_other)
        twheel_disarm(&it->disarm_other->n);
    if (it->rearm_to) {
        twheel_arm(w, n, it->rearm_to);
        it->rearm_to = 0;
    }
}

static void run_until(struct twheel *w, int64_t until)
{
    while (now_ms < until) {
        now_ms += TWHEEL_TICK_MS;
        twheel_advance(w, now_ms, fire, w);
    }
}

int main(void)
{
    struct twheel w;
    struct item a, b, c, far, d1, d2;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    memset(&far, 0, sizeof(far));
    memset(&d1, 0, sizeof(d1));
    memset(&d2, 0, sizeof(d2));
    now_ms = 1000000;
    twheel_init(&w, now_ms);

    twheel_arm(&w, &a.n, now_ms + 1000);
    twheel_arm(&w, &b.n, now_ms + 1100);
    twheel_arm(&w, &c.n, now_ms + 600);
    twheel_arm(&w, &c.n, now_ms + 2000);          /* moved later: fires once, late */
    CHECK(twheel_armed(&a.n));
    run_until(&w, 1000000 + 3000);
    CHECK_EQ(a.fired, 1);
    CHECK(a.fired_at >= 1000000 + 1000 && a.fired_at < 1000000 + 1000 + TWHEEL_TICK_MS);
    CHECK_EQ(b.fired, 1);
    CHECK(b.fired_at >= 1000000 + 1100);
    CHECK_EQ(c.fired, 1);
    CHECK(c.fired_at >= 1000000 + 2000);

    /* Beyond one period (64 s): comes round, fires only when due. */
    int64_t start = now_ms;
    twheel_arm(&w, &far.n, start + 150000);
    run_until(&w, start + 149000);
    CHECK_EQ(far.fired, 0);
    run_until(&w, start + 151000);
    CHECK_EQ(far.fired, 1);

    /* Disarm, re-arm from the callback, disarm another from the callback. */
    twheel_arm(&w, &a.n, now_ms + 500);
    twheel_disarm(&a.n);
    twheel_disarm(&a.n);                           /* idempotent */
    d1.rearm_to = now_ms + 2000;
    d1.disarm_other = &d2;
    twheel_arm(&w, &d1.n, now_ms + 500);
    twheel_arm(&w, &d2.n, now_ms + 500);           /* same slot: d1 may run first */
    int before = a.fired;
    run_until(&w, now_ms + 3000);
    CHECK_EQ(a.fired, before);
    CHECK_EQ(d1.fired, 2);
    CHECK(d2.fired <= 1);

    /* A stalled loop (10 periods) fires what is due, once. */
    twheel_arm(&w, &b.n, now_ms + 1000);
    now_ms += 640000;
    twheel_advance(&w, now_ms, fire, &w);
    CHECK_EQ(b.fired, 2);
    CHECK(twheel_ms_to_next_tick(1000) == TWHEEL_TICK_MS);
    CHECK(twheel_ms_to_next_tick(1001) == TWHEEL_TICK_MS - 1);
    return tu_finish("test_twheel");
}
