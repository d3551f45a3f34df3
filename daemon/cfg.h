/* Configuration: one table of keys (path, type, default, bounds) read from a
 * libconfig file into this plain struct. Every key is optional; unknown keys
 * and bad values are errors naming file:line. libconfig.h is included only in
 * daemon/cfg.c. The shape is the contract in DESIGN.md "Config". */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_LISTENERS 16
#define CFG_MAX_TOKENS 16
#define CFG_MAX_AWS_KEYS 16
#define CFG_STR 512

enum cfg_protocol {
    CFG_PROTO_MQTT = 1,            /* "mqtt" */
    CFG_PROTO_HTTP_DEVICES = 2,    /* "http-devices" */
    CFG_PROTO_ADMIN = 3,           /* "admin" */
};

/* Bits of listener.auth. */
enum cfg_auth {
    CFG_AUTH_JWT = 1 << 0,
    CFG_AUTH_X509 = 1 << 1,
    CFG_AUTH_PASSWORD = 1 << 2,
};

struct cfg_listener {
    char name[64];                 /* key in ports.json; unique */
    int port;                      /* 0 = ephemeral */
    char bind[64];
    enum cfg_protocol protocol;
    bool tls;
    unsigned auth;                 /* cfg_auth bits; default all three */
};

struct cfg_aws_key {
    char id[128];
    char secret[128];
};

struct cfg {
    char source[CFG_STR];          /* file it was read from, or "" for defaults */
    char data_dir[CFG_STR];        /* default "./iotcored-data" */
    char log_level[16];            /* error | warn | info | debug; default info */

    struct {
        char cert[CFG_STR];        /* "" = data_dir/server.pem (generated) */
        char key[CFG_STR];
        char min_version[8];       /* "1.2" (default) or "1.3" */
    } tls;

    size_t n_listeners;            /* defaults: mqtts 8883, devices 8443, admin 8080 */
    struct cfg_listener listeners[CFG_MAX_LISTENERS];

    struct {
        char url[CFG_STR];         /* mqtt://host:port; default mqtt://127.0.0.1:1883 */
        char host[256];            /* parsed from url */
        int port;
        char username[256];
        char password[256];
        char client_id_prefix[128];        /* "iotcored/" */
        char service_client_id[128];       /* "iotcored-service" */
        char service_username[256];        /* "" in the file = username (cfg_load copies it) */
        char service_password[256];        /* "" in the file = password (cfg_load copies it) */
        char google_prefix[128];           /* "google/" */
        char aws_prefix[128];              /* "aws/" */
        char plain_prefix[128];            /* "plain/" */
        char pubsub_prefix[128];           /* "pubsub/" */
        int protocol_version;              /* 5 (MQTT 5) or 4 (MQTT 3.1.1) */
    } upstream;

    struct {
        int64_t max_token_lifetime;        /* 86400 */
        int64_t refresh_interval;          /* 3600; 0 = Google's rule alone */
        int64_t clock_skew;                /* 600 */
        int max_messages_per_second;       /* 100, per connection */
        int max_state_per_second;          /* 1, per device */
        int max_bytes_per_second;          /* 524288, device-to-cloud payload bytes per device */
    } google;

    struct {
        char account_id[32];               /* "123456789012" */
        char region[64];                   /* "us-east-1" */
        char endpoint[256];                /* "localhost" */
        int max_messages_per_second;       /* 100, inbound publishes per connection */
        int max_bytes_per_second;          /* 524288, inbound payload bytes per connection */
    } aws;

    struct {
        size_t n_tokens;                   /* 0 = data_dir/admin.token (generated) */
        char tokens[CFG_MAX_TOKENS][256];
        size_t n_aws_keys;                 /* 0 = data_dir/aws-credentials (generated) */
        struct cfg_aws_key aws_keys[CFG_MAX_AWS_KEYS];
        bool metrics_public;               /* false */
    } admin;

    struct {
        int connect_timeout;               /* 10 s, from TCP accept to CONNECT done */
        int max_connections;               /* 100000 */
        int max_connections_per_address;   /* 1000 */
        int max_handshakes_in_progress;    /* 256 */
        int max_handshakes_per_address;    /* 16 */
        int max_inflight;                  /* 32 */
        int max_subscriptions;             /* 64 */
        size_t http_max_body;              /* 1048576 */
        size_t max_packet_size;            /* 268435460 cap; default 262144 + 1024 (Google telemetry + headers) */
    } limits;
};

/* Fills cfg with the embedded defaults (no file). */
void cfg_defaults(struct cfg *cfg);

/* Reads path over the embedded defaults (it applies cfg_defaults itself, so
 * cfg need not be prepared). Returns 0, or a negative errno (-EINVAL for a
 * bad file, -ENOENT etc. when it cannot be read) with a single line
 * "FILE:LINE: what is wrong" (or "FILE: ..." when there is no line) written
 * to err; cfg is written only on success. Unknown keys, wrong types,
 * out-of-range values, duplicate listener names, unparsable upstream.url,
 * an admin listener without tls on a non-loopback bind, and integers that
 * libconfig 1.5 would silently wrap are errors. */
int cfg_load(const char *path, struct cfg *cfg, char *err, size_t err_len);

/* The listener with that protocol, or NULL. */
const struct cfg_listener *cfg_find_listener(const struct cfg *cfg, enum cfg_protocol p);
