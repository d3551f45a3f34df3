/* Writes at the end of the event-loop iteration instead of through lws's
 * writeable callback.
 *
 * lws 4.1 on libuv turns every lws_callback_on_writable() into a poll
 * change (libuv's uv_poll_start stops and restarts the watcher: an
 * epoll_ctl DEL and ADD), one more epoll_wait for POLLOUT, and another DEL
 * and ADD to drop POLLOUT after the write: about six system calls around
 * each CONNACK, PUBACK or forwarded PUBLISH, on a socket that is writable
 * almost always (strace: ~38 epoll_ctl calls per device connect and close,
 * Mosquitto ~5). Measured with bench/run scenario 2: daemon CPU per QoS 1
 * message at 5,000 msg/s went from 59-74 us to 48-51 us.
 * Queued connections are instead written from one lws timer due at once,
 * which lws runs after the I/O callbacks that queued them and before it
 * polls again; replies produced by one read go out in one write, and only
 * what the kernel does not take falls back to the writeable callback (lws
 * keeps the rest and sends it first).
 *
 * Before write_soon_init (unit tests driving a session without a loop)
 * write_soon_queue() refuses and callers use lws_callback_on_writable(). */
#ifndef IOTCORED_BRIDGES_WRITE_SOON_H
#define IOTCORED_BRIDGES_WRITE_SOON_H

#include <stdbool.h>

struct lws_context;
struct write_soon;

typedef void (*write_soon_fn)(struct write_soon *node);

/* Embedded in the connection it flushes; zeroed = not queued. */
struct write_soon {
    struct write_soon *next;
    struct write_soon **pprev;          /* NULL when not queued */
    write_soon_fn fn;
};

/* Flushes on ctx's loop from now on. Returns 0 or -EINVAL. */
int write_soon_init(struct lws_context *ctx);

/* Stops flushing (drops what is queued); before lws_context_destroy. */
void write_soon_fini(void);

/* Calls fn(node) once after the current loop iteration's I/O callbacks.
 * Queuing a queued node changes nothing. Returns false when not initialised:
 * the caller must ask lws for a writeable callback instead. fn runs outside
 * any lws callback; it must not queue its own node again. */
bool write_soon_queue(struct write_soon *node, write_soon_fn fn);

/* Unqueues node (NULL-safe, idempotent); call before freeing its owner. */
void write_soon_cancel(struct write_soon *node);

#endif
