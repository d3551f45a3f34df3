/* The event loop: one lws context on the libuv event-lib plugin, one vhost
 * per configured listener, a no-listen vhost for upstream connections, the
 * 1-second store flush, and graceful shutdown on SIGTERM/SIGINT (stop
 * accepting, close sessions, flush, exit 0). */
#pragma once
#include "daemon/cfg.h"
#include "daemon/pki.h"

struct db;

/* Runs until a stop signal. Returns 0 after a clean shutdown, or a negative
 * errno (one line logged) if start-up failed. */
int loop_run(const struct cfg *cfg, const struct pki_files *pki, struct db *db);
