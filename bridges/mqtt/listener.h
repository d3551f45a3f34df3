/* The device MQTT listener's transport glue: the lws raw-skt protocol that
 * accepted TLS connections are bound to. It enforces the connection limits
 * before any TLS work (per address and in total, and the handshakes in
 * progress, so one address can never hold every handshake slot), owns each
 * connection's timer, and feeds bytes to the session (session.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct lws_protocols;
struct sess_hub;

struct listener_limits {
    int max_connections;
    int max_connections_per_address;
    int max_handshakes_in_progress;
    int max_handshakes_per_address;
};

/* One listener state per process (shared by every MQTT vhost). */
int listener_init(struct sess_hub *hub, const struct listener_limits *limits);
void listener_fini(void);
/* Protocol list for an MQTT vhost: [0] is the raw MQTT protocol (it must be
 * first: lws sends the accept filter and the client-certificate check to
 * protocols[0]), then the all-NULL terminator. */
const struct lws_protocols *listener_protocols(void);
/* Refuse new connections from now on (shutdown). */
void listener_stop_accepting(void);
/* Stops the listener's timer; call before lws_context_destroy. */
void listener_quiesce(void);
size_t listener_connections(void);
