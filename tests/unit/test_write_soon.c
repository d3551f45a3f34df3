/* write_soon: a queued connection is flushed once, after the loop turn that
 * queued it; cancelled or dropped ones never; callers are refused (and fall
 * back to lws's writeable callback) before init and after fini. Runs on
 * lws's default poll loop, whose timers work as on libuv. */
#include <errno.h>
#include <string.h>

#include <libwebsockets.h>

#include "bridges/write_soon.h"
#include "testutil.h"

struct conn_stub {
    struct write_soon ws;
    int flushed;
    struct conn_stub *queue_on_flush;   /* queued from inside the flush */
};

static void flush(struct write_soon *ws)
{
    struct conn_stub *c = lws_container_of(ws, struct conn_stub, ws);
    c->flushed++;
    if (c->queue_on_flush)
        CHECK(write_soon_queue(&c->queue_on_flush->ws, flush));
}

/* lws 4.1 ignores lws_service's timeout and sleeps until its next timer:
 * this one keeps every turn short (there are no sockets to wake it). */
static struct lws_context *poke_ctx;
static lws_sorted_usec_list_t poke;

static void poke_cb(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(poke_ctx, 0, sul, poke_cb, 5 * LWS_US_PER_MS);
}

/* Turns the loop until *counter is set, at most ~0.5 s. */
static void turn_until(struct lws_context *ctx, const int *counter)
{
    for (int i = 0; i < 100 && !*counter; i++)
        lws_service(ctx, 0);
}

static void turn(struct lws_context *ctx, int n)
{
    for (int i = 0; i < n; i++)
        lws_service(ctx, 0);
}

int main(void)
{
    struct conn_stub a, b, c, d, e;
    struct lws_context_creation_info ci;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    memset(&e, 0, sizeof(e));
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    memset(&ci, 0, sizeof(ci));
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    struct lws_context *ctx = lws_create_context(&ci);
    CHECK(ctx);
    if (!ctx)
        return tu_finish("write_soon");
    poke_ctx = ctx;
    lws_sul_schedule(ctx, 0, &poke, poke_cb, 5 * LWS_US_PER_MS);

    /* Not initialised: refused, so the caller asks for writeable. */
    CHECK(!write_soon_queue(&a.ws, flush));
    CHECK(a.ws.pprev == NULL);
    CHECK_EQ(write_soon_init(NULL), -EINVAL);
    CHECK_EQ(write_soon_init(ctx), 0);

    /* Queued twice, flushed once; a cancelled neighbour never. */
    CHECK(write_soon_queue(&a.ws, flush));
    CHECK(write_soon_queue(&b.ws, flush));
    CHECK(write_soon_queue(&a.ws, flush));
    write_soon_cancel(&b.ws);
    write_soon_cancel(&b.ws);            /* idempotent */
    write_soon_cancel(NULL);
    CHECK_EQ(a.flushed, 0);              /* not before the loop turns */
    turn_until(ctx, &a.flushed);
    turn(ctx, 3);
    CHECK_EQ(a.flushed, 1);
    CHECK_EQ(b.flushed, 0);
    CHECK(a.ws.pprev == NULL);

    /* Queued again after its flush: flushed again. A flush that queues
     * another connection (an upstream PUBACK making a device PUBACK) gets
     * that one flushed too, without another queue call from outside. */
    a.queue_on_flush = &c;
    CHECK(write_soon_queue(&a.ws, flush));
    turn_until(ctx, &c.flushed);
    turn(ctx, 3);
    CHECK_EQ(a.flushed, 2);
    CHECK_EQ(c.flushed, 1);

    /* Cancelled from inside another's flush (a link closed meanwhile). */
    CHECK(write_soon_queue(&d.ws, flush));
    CHECK(write_soon_queue(&e.ws, flush));
    write_soon_cancel(&d.ws);
    turn_until(ctx, &e.flushed);
    turn(ctx, 3);
    CHECK_EQ(d.flushed, 0);
    CHECK_EQ(e.flushed, 1);

    /* fini drops what is queued and refuses from then on. */
    CHECK(write_soon_queue(&d.ws, flush));
    write_soon_fini();
    CHECK(d.ws.pprev == NULL);
    turn(ctx, 5);
    CHECK_EQ(d.flushed, 0);
    CHECK(!write_soon_queue(&d.ws, flush));

    lws_sul_cancel(&poke);
    lws_context_destroy(ctx);
    return tu_finish("write_soon");
}
