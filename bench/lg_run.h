/* One load-generator run: opens the device connections at a target rate,
 * holds them idle or publishing, reads messages back through an optional
 * subscriber, samples the CPU time of watched server processes at phase
 * boundaries, and fills a struct lg_result. Single-threaded: one epoll
 * loop drives every connection. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/lg_stats.h"

#define LG_MAX_CONNS 200000
#define LG_MAX_SOURCES 250
#define LG_MAX_WATCH 4
#define LG_MAX_PAYLOAD 65536
#define LG_PAYLOAD_HEADER 20        /* magic 4 + conn index 4 + seq 4 + monotonic ns 8 */

enum lg_scheme {
    LG_SCHEME_ES256 = 0,            /* Google JWT, ES256 */
    LG_SCHEME_RS256,                /* Google JWT, RS256 */
    LG_SCHEME_PASSWORD,             /* username/password (a plain broker) */
    LG_SCHEME_NONE,                 /* no credentials */
    LG_SCHEME_X509,                 /* TLS client certificate, no username/password (AWS IoT style) */
};

struct lg_watch {
    char name[32];
    pid_t pid;
};

struct lg_opts {
    /* target */
    const char *host;
    int port;
    bool tls;
    const char *ca_file;            /* NULL: no verification */
    bool resume;
    /* identity */
    enum lg_scheme scheme;
    const char *key_file;           /* JWT signing key, or the client certificate's key (x509) */
    const char *cert_file;          /* client certificate chain (PEM), presented on every connection */
    const char *project, *location, *registry;
    const char *device_prefix;      /* device id = prefix + (offset + i) */
    unsigned device_offset;
    const char *username, *password;
    bool mint_each;                 /* one JWT per connection (else one per run) */
    unsigned token_lifetime;        /* seconds */
    /* connections */
    unsigned conns;
    double connect_rate;            /* connects started per second; 0 = as fast as allowed */
    unsigned concurrency;           /* connections between connect() and CONNACK */
    uint32_t src_base;              /* host order; 0 = kernel's choice */
    unsigned src_count;
    double connect_timeout;         /* seconds, per connection */
    bool churn;                     /* DISCONNECT right after CONNACK */
    double settle;                  /* seconds idle after the connect phase before sampling CPU */
    uint16_t keepalive;
    /* publishing */
    double hold;                    /* seconds after the connect phase */
    double pub_rate;                /* total msg/s; 0 with qos/count set = as fast as possible */
    bool publish;
    uint8_t qos;
    unsigned payload;               /* bytes, >= LG_PAYLOAD_HEADER */
    unsigned window;                /* QoS 1 in flight per connection */
    uint64_t count;                 /* messages per connection (0 = until hold ends) */
    const char *topic_fmt;          /* "%s" = device id */
    double drain;                   /* seconds to wait for stragglers */
    /* subscriber */
    const char *sub_host;
    int sub_port;                   /* 0 = no subscriber */
    const char *sub_filter;
    const char *sub_username, *sub_password;
    /* server CPU sampling */
    size_t n_watch;
    struct lg_watch watch[LG_MAX_WATCH];
    const char *label;
};

/* VmRSS of a watched process (KiB; -1 = unreadable): before the connect
 * phase, at the start of the hold (after --settle), its maximum over
 * once-a-second samples during an idle hold, and at the end of the hold
 * (connections still open). */
struct lg_rss {
    long before_kib, held_kib, max_kib, end_kib;
};

struct lg_phase_cpu {
    double wall_s;
    double client_cpu_us;           /* this process */
    double server_cpu_us[LG_MAX_WATCH];
};

struct lg_result {
    unsigned attempted, connected, resumed;
    unsigned lost_after_up;         /* device connections the server closed while held */
    struct lg_hist connect_ns;      /* connect() -> CONNACK */
    double connect_wall_s;          /* first connect() -> last CONNACK */
    struct lg_phase_cpu cpu_connect;
    struct lg_phase_cpu cpu_hold;
    struct lg_rss rss[LG_MAX_WATCH];
    unsigned up_at_end;             /* device connections still up when the hold ended */
    /* publishing */
    uint64_t sent, acked;
    double pub_wall_s;              /* first -> last publish */
    struct lg_hist ack_ns;          /* PUBLISH -> PUBACK (QoS 1) */
    uint64_t received, dup, lost, lost_acked, foreign, beyond_cap;
    double recv_wall_s;
    struct lg_hist e2e_ns;
    unsigned publishers_full;       /* connections that hit the per-connection sequence cap */
    struct lg_errs errs;
    bool interrupted;
    char fatal[256];                /* setup failure */
};

/* Runs one load. Returns 0, or a negative errno with res->fatal set when
 * the run could not start (no subscriber, bad key...). */
int lg_run(const struct lg_opts *o, struct lg_result *res);
/* Set from a signal handler: end the current phase and report. */
void lg_run_interrupt(void);
