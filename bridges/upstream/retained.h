/* Reading the broker's retained messages (the data plane's
 * GetRetainedMessage and ListRetainedMessages [aws-iot-core.md 5.3]):
 * MQTT has no call for it, so a short-lived session of the daemon
 * subscribes to the filter and collects what arrives with the retain flag
 * (a broker sets it only on messages sent because of the new
 * subscription). To know when they are all in, the session also subscribes
 * to a marker topic of its own and, once the broker's SUBACK came,
 * publishes to it: the broker queues the retained messages when it handles
 * the SUBSCRIBE, so the marker arrives after the last of them. Loop thread
 * only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws_vhost;
struct upstream_params;
struct retained_read;

struct retained_msg {
    char *topic;                /* owned, NUL-terminated (the broker's topic) */
    uint8_t *payload;           /* owned */
    size_t len;
    uint8_t qos;
};

/* err 0 with msgs (n of them, borrowed for the call, in arrival order),
 * -ETIMEDOUT, -ECONNREFUSED / -ECONNRESET (the broker), -E2BIG (more than
 * max_msgs or max_bytes), -ENOMEM. Called exactly once, from the loop,
 * unless retained_cancel came first. */
typedef void (*retained_done_fn)(void *ud, int err, const struct retained_msg *msgs, size_t n);

/* Starts a read of filter's retained messages on a new session made with
 * p (its client id is replaced by a unique one; clean session). Returns 0
 * and *ret, or -EINVAL, -ENOMEM (done not called then). */
int retained_read(struct lws_vhost *vh, const struct upstream_params *p, const char *filter,
                  size_t max_msgs, size_t max_bytes, int timeout_ms, retained_done_fn done,
                  void *ud, struct retained_read **ret);
/* done will not be called; the session ends. NULL-safe. */
void retained_cancel(struct retained_read *r);
