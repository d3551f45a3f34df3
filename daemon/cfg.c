/* Configuration reader: owns the one table of keys (path, type, default,
 * bounds) that both cfg_defaults() and cfg_load() walk, the checks that span
 * several keys, and the translation of libconfig's tree into struct cfg. It is
 * the only file that includes libconfig.h. It does not log: every problem is
 * returned as one "FILE:LINE: message" line for the caller to print. */
#include "daemon/cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* A config file is a few kilobytes; the cap keeps a mistaken path (a log, a
 * device node) from being slurped whole. */
#define CFG_FILE_MAX (1024 * 1024)

enum key_type {
    K_STR,          /* char[size]; min = shortest length; words = allowed values */
    K_INT,          /* int, min..max */
    K_I64,          /* int64_t, min..max */
    K_SIZE,         /* size_t, min..max */
    K_BOOL,
    K_PROTO,        /* enum cfg_protocol from a word */
    K_AUTH,         /* unsigned cfg_auth bits from an array of words */
    K_LISTENERS,    /* the listeners list (own sub-table) */
    K_TOKENS,       /* admin.tokens */
    K_AWS_KEYS,     /* admin.aws_keys (own sub-table) */
};

/* Extra validation of a string value: returns NULL or what is wrong. */
typedef const char *(*str_check_fn)(const char *v);

struct key {
    const char *path;           /* dotted, relative to the table's group */
    enum key_type type;
    size_t off;                 /* into the table's struct */
    size_t size;                /* of the field (strings: buffer size) */
    int64_t min, max;
    const char *def_s;          /* default of a string */
    int64_t def_i;              /* default of a number or bool */
    const char *const *words;   /* K_STR: allowed values, NULL-terminated */
    str_check_fn check;
};

/* The pointer comparison inside sizeof is never evaluated; it only makes the
 * compiler refuse a table line whose field type does not match its K_ type
 * (-Werror turns "distinct pointer types" into an error). */
#define FIELD(S, T, f) (offsetof(S, f) + 0 * sizeof(&((S *)0)->f == (T *)0))
#define FSIZE(S, f) sizeof(((S *)0)->f)

#define STR(S, path, f, def, minlen, words, check) \
    { path, K_STR, offsetof(S, f), FSIZE(S, f), minlen, 0, def, 0, words, check }
#define INT(S, path, f, def, lo, hi) \
    { path, K_INT, FIELD(S, int, f), FSIZE(S, f), lo, hi, NULL, def, NULL, NULL }
#define I64(S, path, f, def, lo, hi) \
    { path, K_I64, FIELD(S, int64_t, f), FSIZE(S, f), lo, hi, NULL, def, NULL, NULL }
#define SIZE(S, path, f, def, lo, hi) \
    { path, K_SIZE, FIELD(S, size_t, f), FSIZE(S, f), lo, hi, NULL, def, NULL, NULL }
#define BOOL(S, path, f, def) \
    { path, K_BOOL, FIELD(S, bool, f), FSIZE(S, f), 0, 1, NULL, def, NULL, NULL }
#define SPECIAL(path, type) { path, type, 0, 0, 0, 0, NULL, 0, NULL, NULL }

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const tls_versions[] = { "1.2", "1.3", NULL };

static const char *check_url(const char *v);
static const char *check_topic_prefix(const char *v);
static const char *check_account_id(const char *v);
static const char *check_region(const char *v);
static const char *check_hostname(const char *v);
static const char *check_listener_name(const char *v);
static const char *check_printable(const char *v);

/* The whole file format. Bounds are sanity limits against typos (a missing
 * zero, a negative duration), not tuning advice; the comments in
 * packaging/iotcored.conf explain each key. */
static const struct key cfg_keys[] = {
    STR(struct cfg, "data_dir", data_dir, "./iotcored-data", 1, NULL, NULL),
    STR(struct cfg, "log.level", log_level, "info", 1, log_levels, NULL),

    STR(struct cfg, "tls.cert", tls.cert, "", 0, NULL, NULL),
    STR(struct cfg, "tls.key", tls.key, "", 0, NULL, NULL),
    STR(struct cfg, "tls.min_version", tls.min_version, "1.2", 1, tls_versions, NULL),

    SPECIAL("listeners", K_LISTENERS),

    STR(struct cfg, "upstream.url", upstream.url, "mqtt://127.0.0.1:1883", 1, NULL, check_url),
    /* MQTT 5 upstream carries Google's Pub/Sub attributes as user
     * properties; 4 (3.1.1) for brokers that lack MQTT 5. */
    INT(struct cfg, "upstream.protocol_version", upstream.protocol_version, 5, 4, 5),
    STR(struct cfg, "upstream.username", upstream.username, "", 0, NULL, NULL),
    STR(struct cfg, "upstream.password", upstream.password, "", 0, NULL, NULL),
    STR(struct cfg, "upstream.client_id_prefix", upstream.client_id_prefix, "iotcored/", 0,
        NULL, check_printable),
    STR(struct cfg, "upstream.service_client_id", upstream.service_client_id,
        "iotcored-service", 1, NULL, check_printable),
    STR(struct cfg, "upstream.service_username", upstream.service_username, "", 0, NULL, NULL),
    STR(struct cfg, "upstream.service_password", upstream.service_password, "", 0, NULL, NULL),
    STR(struct cfg, "upstream.google_prefix", upstream.google_prefix, "google/", 1, NULL,
        check_topic_prefix),
    STR(struct cfg, "upstream.aws_prefix", upstream.aws_prefix, "aws/", 1, NULL,
        check_topic_prefix),
    STR(struct cfg, "upstream.plain_prefix", upstream.plain_prefix, "plain/", 1, NULL,
        check_topic_prefix),
    STR(struct cfg, "upstream.pubsub_prefix", upstream.pubsub_prefix, "pubsub/", 1, NULL,
        check_topic_prefix),

    /* Google capped token lifetime at 24 h; a larger cap is allowed for
     * testing, up to ten years, so a typo of a few zeros is still caught. */
    I64(struct cfg, "google.max_token_lifetime", google.max_token_lifetime, 86400, 1, 315360000),
    I64(struct cfg, "google.refresh_interval", google.refresh_interval, 3600, 0, 315360000),
    I64(struct cfg, "google.clock_skew", google.clock_skew, 600, 0, 86400),
    INT(struct cfg, "google.max_messages_per_second", google.max_messages_per_second, 100, 1,
        1000000),
    INT(struct cfg, "google.max_state_per_second", google.max_state_per_second, 1, 1, 1000),
    /* Google and AWS: 512 KB/s of device-to-cloud payload per device (Google)
     * or per connection (AWS), 100 publishes/s per connection (AWS). */
    INT(struct cfg, "google.max_bytes_per_second", google.max_bytes_per_second, 524288, 1,
        1073741824),

    STR(struct cfg, "aws.account_id", aws.account_id, "123456789012", 1, NULL, check_account_id),
    STR(struct cfg, "aws.region", aws.region, "us-east-1", 1, NULL, check_region),
    STR(struct cfg, "aws.endpoint", aws.endpoint, "localhost", 1, NULL, check_hostname),
    INT(struct cfg, "aws.max_messages_per_second", aws.max_messages_per_second, 100, 1, 1000000),
    INT(struct cfg, "aws.max_bytes_per_second", aws.max_bytes_per_second, 524288, 1, 1073741824),

    SPECIAL("admin.tokens", K_TOKENS),
    SPECIAL("admin.aws_keys", K_AWS_KEYS),
    BOOL(struct cfg, "admin.metrics_public", admin.metrics_public, false),

    INT(struct cfg, "limits.connect_timeout", limits.connect_timeout, 10, 1, 3600),
    INT(struct cfg, "limits.max_connections", limits.max_connections, 100000, 1, 10000000),
    INT(struct cfg, "limits.max_connections_per_address", limits.max_connections_per_address,
        1000, 1, 10000000),
    INT(struct cfg, "limits.max_handshakes_in_progress", limits.max_handshakes_in_progress,
        256, 2, 100000),
    INT(struct cfg, "limits.max_handshakes_per_address", limits.max_handshakes_per_address,
        16, 1, 100000),
    /* Packet ids are 16 bits, so more in flight than that cannot be named. */
    INT(struct cfg, "limits.max_inflight", limits.max_inflight, 32, 1, 65535),
    INT(struct cfg, "limits.max_subscriptions", limits.max_subscriptions, 64, 1, 100000),
    SIZE(struct cfg, "limits.http_max_body", limits.http_max_body, 1048576, 1024, 268435456),
    /* Google's 256 KiB telemetry payload plus room for the fixed header and
     * topic; the upper bound is MQTT's largest remaining length (268435455)
     * plus the 5-byte fixed header. */
    SIZE(struct cfg, "limits.max_packet_size", limits.max_packet_size, 262144 + 1024, 1024,
         268435460),
};

/* Keys of one listeners entry. name and protocol are required; the other
 * defaults depend on the protocol, so listener_defaults() sets them and the
 * default column here is unused. */
static const struct key listener_keys[] = {
    STR(struct cfg_listener, "name", name, NULL, 1, NULL, check_listener_name),
    INT(struct cfg_listener, "port", port, 0, 0, 65535),
    STR(struct cfg_listener, "bind", bind, NULL, 1, NULL, NULL),
    SPECIAL("protocol", K_PROTO),
    BOOL(struct cfg_listener, "tls", tls, true),
    SPECIAL("auth", K_AUTH),
};

static const struct key aws_key_keys[] = {
    STR(struct cfg_aws_key, "id", id, NULL, 1, NULL, NULL),
    STR(struct cfg_aws_key, "secret", secret, NULL, 1, NULL, check_printable),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *word;
    enum cfg_protocol proto;
    int port;           /* default port of a listener with this protocol */
    bool tls;           /* default tls of a listener with this protocol */
} protocols[] = {
    { "mqtt", CFG_PROTO_MQTT, 8883, true },
    { "http-devices", CFG_PROTO_HTTP_DEVICES, 8443, true },
    { "admin", CFG_PROTO_ADMIN, 8080, false },
};

static const struct {
    const char *word;
    unsigned bit;
} auth_words[] = {
    { "jwt", CFG_AUTH_JWT },
    { "x509", CFG_AUTH_X509 },
    { "password", CFG_AUTH_PASSWORD },
};

#define CFG_AUTH_ALL (CFG_AUTH_JWT | CFG_AUTH_X509 | CFG_AUTH_PASSWORD)

static const struct cfg_listener default_listeners[] = {
    { "mqtts", 8883, "127.0.0.1", CFG_PROTO_MQTT, true, CFG_AUTH_ALL },
    { "devices", 8443, "127.0.0.1", CFG_PROTO_HTTP_DEVICES, true, CFG_AUTH_ALL },
    { "admin", 8080, "127.0.0.1", CFG_PROTO_ADMIN, false, CFG_AUTH_ALL },
};

/* One load: where messages go and what file they name. */
struct ctx {
    const char *file;
    char *err;
    size_t err_len;
};

__attribute__((format(printf, 3, 4)))
static int fail_at(struct ctx *c, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    if (line > 0)
        snprintf(c->err, c->err_len, "%s:%d: %s", c->file, line, msg);
    else
        snprintf(c->err, c->err_len, "%s: %s", c->file, msg);
    return -EINVAL;
}

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

/* Quotes a file-supplied value for an error line; control bytes are escaped
 * so a message stays one line. */
static const char *q(char *out, size_t cap, const char *v)
{
    return log_escape(out, cap, v, strlen(v));
}

/* Display paths of keys ("listeners[2].auth"); libconfig names are short,
 * so a longer one is a file that is wrong anyway. */
#define CFG_PATH_MAX 192

__attribute__((format(printf, 3, 4)))
static bool fmt_path(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(out, cap, fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* ---- value checks ------------------------------------------------------ */

/* mqtt://host[:port][/], host a name, an IPv4 address or [IPv6]. Fills host
 * and port when they are non-NULL. */
static const char *parse_url(const char *v, char *host, size_t host_cap, int *port)
{
    static const char scheme[] = "mqtt://";
    const char *p, *h, *h_end;

    if (strncmp(v, scheme, sizeof(scheme) - 1) != 0)
        return "must be mqtt://host[:port]";
    p = v + sizeof(scheme) - 1;
    if (strchr(p, '@'))
        return "must not carry user:password (set upstream.username and password)";
    if (*p == '[') {
        h = ++p;
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            return "has an unterminated [IPv6] host";
        h_end = p++;
        char tmp[64];
        struct in6_addr a6;
        size_t n = (size_t)(h_end - h);
        if (n == 0 || n >= sizeof(tmp))
            return "has a bad [IPv6] host";
        memcpy(tmp, h, n);
        tmp[n] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return "has a bad [IPv6] host";
    } else {
        h = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_')
            p++;
        h_end = p;
        if (h_end == h)
            return "must be mqtt://host[:port] (no host)";
    }
    long pn = 1883;
    if (*p == ':') {
        p++;
        if (*p < '0' || *p > '9')
            return "has a bad port";
        pn = 0;
        while (*p >= '0' && *p <= '9') {
            pn = pn * 10 + (*p - '0');
            if (pn > 65535)
                return "has a port above 65535";
            p++;
        }
        if (pn == 0)
            return "has port 0";
    }
    if (*p == '/')
        p++;
    if (*p != '\0')
        return "must be mqtt://host[:port] (no user, path or query)";
    size_t hn = (size_t)(h_end - h);
    if (hn >= 256 || (host && hn >= host_cap))
        return "has a host name that is too long";
    if (host) {
        memcpy(host, h, hn);
        host[hn] = '\0';
    }
    if (port)
        *port = (int)pn;
    return NULL;
}

static const char *check_url(const char *v)
{
    return parse_url(v, NULL, 0, NULL);
}

/* A prefix is the first topic levels of everything a personality sends
 * upstream; a wildcard would make it a filter and '$' would put it in the
 * broker's own namespace. */
static const char *check_topic_prefix(const char *v)
{
    if (v[0] == '$')
        return "must not start with '$'";
    if (strpbrk(v, "+#"))
        return "must not contain '+' or '#'";
    return check_printable(v);
}

static const char *check_account_id(const char *v)
{
    size_t n = strlen(v);
    if (n != 12 || strspn(v, "0123456789") != 12)
        return "must be 12 digits";
    return NULL;
}

static const char *check_region(const char *v)
{
    if (strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
        return "must be lowercase letters, digits and '-'";
    return NULL;
}

static const char *check_hostname(const char *v)
{
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
        != strlen(v))
        return "must be a host name or an IP address";
    return NULL;
}

/* Listener names are the keys of ports.json and appear in log lines, so they
 * stay within characters that need no quoting anywhere. */
static const char *check_listener_name(const char *v)
{
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        != strlen(v))
        return "must be letters, digits, '_' and '-'";
    return NULL;
}

/* Values that end up in MQTT client ids, topics or HTTP headers. */
static const char *check_printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "must not contain control characters";
    return NULL;
}

static bool is_loopback_bind(const char *bind)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcmp(bind, "localhost") == 0 || strcmp(bind, "lo") == 0)
        return true;
    if (inet_pton(AF_INET, bind, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, bind, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

/* ---- the table walker --------------------------------------------------- */

static const char *type_name(enum key_type t)
{
    switch (t) {
    case K_STR: case K_PROTO: return "a string";
    case K_INT: case K_I64: case K_SIZE: return "an integer";
    case K_BOOL: return "true or false";
    case K_AUTH: return "an array of strings";
    case K_LISTENERS: return "a list of groups: ( { ... }, ... )";
    case K_TOKENS: return "an array of strings";
    case K_AWS_KEYS: return "a list of groups: ( { id = ...; secret = ...; } )";
    }
    return "?";
}

static int parse_string(struct ctx *c, const struct key *k, const config_setting_t *s,
                        const char *path, char *dst)
{
    char qb[160];
    const char *v = config_setting_get_string(s);
    size_t n = strlen(v);

    if (n >= k->size)
        return fail_at(c, line_of(s), "'%s' is too long (at most %zu bytes)", path, k->size - 1);
    if ((int64_t)n < k->min)
        return fail_at(c, line_of(s), k->min == 1 ? "'%s' must not be empty"
                       : "'%s' is too short", path);
    if (k->words) {
        size_t i;
        for (i = 0; k->words[i]; i++)
            if (strcmp(v, k->words[i]) == 0)
                break;
        if (!k->words[i]) {
            char list[128] = "";
            size_t off = 0;
            for (size_t j = 0; k->words[j] && off < sizeof(list); j++) {
                int m = snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
                                 j ? ", " : "", k->words[j]);
                if (m < 0)
                    break;
                off += (size_t)m;
            }
            return fail_at(c, line_of(s), "'%s' must be one of %s (got \"%s\")", path, list,
                           q(qb, sizeof(qb), v));
        }
    }
    if (k->check) {
        const char *why = k->check(v);
        if (why)
            return fail_at(c, line_of(s), "'%s' %s (got \"%s\")", path, why,
                           q(qb, sizeof(qb), v));
    }
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_number(struct ctx *c, const struct key *k, const config_setting_t *s,
                        const char *path, int64_t *ret)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return fail_at(c, line_of(s), "'%s' must be %s", path, type_name(k->type));
    long long v = config_setting_get_int64(s);
    if (v < k->min || v > k->max)
        return fail_at(c, line_of(s), "'%s' must be between %lld and %lld (got %lld)", path,
                       (long long)k->min, (long long)k->max, v);
    *ret = v;
    return 0;
}

static int parse_proto(struct ctx *c, const config_setting_t *s, const char *path,
                       enum cfg_protocol *ret)
{
    char qb[160];
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(c, line_of(s), "'%s' must be a string", path);
    const char *v = config_setting_get_string(s);
    for (size_t i = 0; i < N(protocols); i++) {
        if (strcmp(v, protocols[i].word) == 0) {
            *ret = protocols[i].proto;
            return 0;
        }
    }
    return fail_at(c, line_of(s),
                   "'%s' must be one of \"mqtt\", \"http-devices\", \"admin\" (got \"%s\")",
                   path, q(qb, sizeof(qb), v));
}

static int parse_auth(struct ctx *c, const config_setting_t *s, const char *path,
                      unsigned *ret)
{
    char qb[160];
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_at(c, line_of(s), "'%s' must be an array of strings", path);
    int n = config_setting_length(s);
    if (n == 0)
        return fail_at(c, line_of(s), "'%s' must name at least one of \"jwt\", \"x509\", "
                       "\"password\"", path);
    unsigned bits = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(c, line_of(e), "'%s' must be an array of strings", path);
        const char *v = config_setting_get_string(e);
        size_t j;
        for (j = 0; j < N(auth_words); j++)
            if (strcmp(v, auth_words[j].word) == 0)
                break;
        if (j == N(auth_words))
            return fail_at(c, line_of(e), "'%s' must contain only \"jwt\", \"x509\", "
                           "\"password\" (got \"%s\")", path, q(qb, sizeof(qb), v));
        bits |= auth_words[j].bit;
    }
    *ret = bits;
    return 0;
}

static int parse_group(struct ctx *c, const config_setting_t *g, const struct key *keys,
                       size_t n_keys, const char *rel, const char *disp, void *base,
                       void *cfg_root);

/* One leaf (or special aggregate) of a table into base. */
static int parse_key(struct ctx *c, const struct key *k, const config_setting_t *s,
                     const char *path, void *base, void *cfg_root);

static const struct key *find_key(const struct key *keys, size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].path, rel) == 0)
            return &keys[i];
    return NULL;
}

static bool is_group_prefix(const struct key *keys, size_t n, const char *rel)
{
    size_t len = strlen(rel);
    for (size_t i = 0; i < n; i++)
        if (strncmp(keys[i].path, rel, len) == 0 && keys[i].path[len] == '.')
            return true;
    return false;
}

/* Walks every setting of group g: each must be a key of the table or a group
 * that leads to one; anything else is an unknown key. rel is g's path within
 * the table ("" at the table's root) and disp its path as the user sees it. */
static int parse_group(struct ctx *c, const config_setting_t *g, const struct key *keys,
                       size_t n_keys, const char *rel, const char *disp, void *base,
                       void *cfg_root)
{
    int n = config_setting_length(g);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        char r[CFG_PATH_MAX], d[CFG_PATH_MAX];
        if (!fmt_path(r, sizeof(r), "%s%s%s", rel, *rel ? "." : "", name) ||
            !fmt_path(d, sizeof(d), "%s%s%s", disp, *disp ? "." : "", name))
            return fail_at(c, line_of(s), "unknown key '%.64s...'", name);

        const struct key *k = find_key(keys, n_keys, r);
        if (k) {
            int ret = parse_key(c, k, s, d, base, cfg_root);
            if (ret < 0)
                return ret;
        } else if (is_group_prefix(keys, n_keys, r)) {
            if (!config_setting_is_group(s))
                return fail_at(c, line_of(s), "'%s' must be a group: { ... }", d);
            int ret = parse_group(c, s, keys, n_keys, r, d, base, cfg_root);
            if (ret < 0)
                return ret;
        } else {
            return fail_at(c, line_of(s), "unknown key '%s'", d);
        }
    }
    return 0;
}

static void listener_defaults(struct cfg_listener *l, enum cfg_protocol p)
{
    for (size_t i = 0; i < N(protocols); i++) {
        if (protocols[i].proto == p) {
            l->port = protocols[i].port;
            l->tls = protocols[i].tls;
        }
    }
    copy_str(l->bind, sizeof(l->bind), "127.0.0.1");
    l->auth = CFG_AUTH_ALL;
}

/* One entry of listeners. The protocol is read first because the defaults of
 * the other keys depend on it; the walk then overrides what the file sets. */
static int parse_listener(struct ctx *c, const config_setting_t *s, const char *disp,
                          struct cfg_listener *l, void *cfg_root)
{
    if (!config_setting_is_group(s))
        return fail_at(c, line_of(s), "'%s' must be a group: { name = ...; ... }", disp);
    const config_setting_t *ps = config_setting_get_member(s, "protocol");
    if (!ps)
        return fail_at(c, line_of(s), "'%s' has no 'protocol'", disp);
    char pdisp[CFG_PATH_MAX];
    if (!fmt_path(pdisp, sizeof(pdisp), "%s.protocol", disp))
        return fail_at(c, line_of(s), "path too long");
    enum cfg_protocol p;
    int ret = parse_proto(c, ps, pdisp, &p);
    if (ret < 0)
        return ret;
    memset(l, 0, sizeof(*l));
    l->protocol = p;
    listener_defaults(l, p);
    ret = parse_group(c, s, listener_keys, N(listener_keys), "", disp, l, cfg_root);
    if (ret < 0)
        return ret;
    if (l->name[0] == '\0')
        return fail_at(c, line_of(s), "'%s' has no 'name'", disp);
    if (config_setting_get_member(s, "auth") && p == CFG_PROTO_ADMIN)
        return fail_at(c, line_of(config_setting_get_member(s, "auth")),
                       "'%s.auth' applies to mqtt and http-devices listeners only", disp);
    /* DESIGN.md "First start": admin tokens and the console must never cross
     * a network in clear text. */
    if (p == CFG_PROTO_ADMIN && !l->tls && !is_loopback_bind(l->bind)) {
        char qb[96];
        const config_setting_t *bs = config_setting_get_member(s, "bind");
        return fail_at(c, line_of(bs ? bs : s),
                       "listener '%s': admin without tls must bind a loopback address "
                       "(got \"%s\")", l->name, q(qb, sizeof(qb), l->bind));
    }
    return 0;
}

static int parse_listeners(struct ctx *c, const config_setting_t *s, const char *path,
                           struct cfg *cfg)
{
    if (!config_setting_is_list(s))
        return fail_at(c, line_of(s), "'%s' must be %s", path, type_name(K_LISTENERS));
    int n = config_setting_length(s);
    if (n == 0)
        return fail_at(c, line_of(s), "'%s' must not be empty (leave it out for the defaults)",
                       path);
    if ((size_t)n > CFG_MAX_LISTENERS)
        return fail_at(c, line_of(s), "'%s' has more than %d entries", path,
                       CFG_MAX_LISTENERS);
    /* Entries given in the file replace the default list entirely. */
    cfg->n_listeners = 0;
    memset(cfg->listeners, 0, sizeof(cfg->listeners));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct cfg_listener *l = &cfg->listeners[i];
        char disp[CFG_PATH_MAX];
        if (!fmt_path(disp, sizeof(disp), "%s[%d]", path, i))
            return fail_at(c, line_of(e), "path too long");
        int ret = parse_listener(c, e, disp, l, cfg);
        if (ret < 0)
            return ret;
        for (int j = 0; j < i; j++) {
            const struct cfg_listener *o = &cfg->listeners[j];
            if (strcmp(o->name, l->name) == 0)
                return fail_at(c, line_of(e), "duplicate listener name '%s'", l->name);
            if (l->port != 0 && o->port == l->port && strcmp(o->bind, l->bind) == 0)
                return fail_at(c, line_of(e), "listener '%s': %s port %d is already used by "
                               "listener '%s'", l->name, l->bind, l->port, o->name);
        }
        cfg->n_listeners = (size_t)i + 1;
    }
    return 0;
}

static int parse_tokens(struct ctx *c, const config_setting_t *s, const char *path,
                        struct cfg *cfg)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_at(c, line_of(s), "'%s' must be %s", path, type_name(K_TOKENS));
    int n = config_setting_length(s);
    if (n == 0)
        return fail_at(c, line_of(s), "'%s' must not be empty (leave it out to generate "
                       "admin.token)", path);
    if ((size_t)n > CFG_MAX_TOKENS)
        return fail_at(c, line_of(s), "'%s' has more than %d entries", path, CFG_MAX_TOKENS);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(c, line_of(e), "'%s' must be %s", path, type_name(K_TOKENS));
        const char *v = config_setting_get_string(e);
        size_t len = strlen(v);
        if (len == 0)
            return fail_at(c, line_of(e), "'%s[%d]' must not be empty", path, i);
        if (len >= sizeof(cfg->admin.tokens[0]))
            return fail_at(c, line_of(e), "'%s[%d]' is too long (at most %zu bytes)", path, i,
                           sizeof(cfg->admin.tokens[0]) - 1);
        /* The token travels as "Authorization: Bearer TOKEN": one header
         * word, so no spaces or control bytes. */
        for (size_t j = 0; j < len; j++)
            if ((unsigned char)v[j] <= 0x20 || (unsigned char)v[j] >= 0x7f)
                return fail_at(c, line_of(e), "'%s[%d]' must be printable ASCII without "
                               "spaces", path, i);
        memcpy(cfg->admin.tokens[i], v, len + 1);
    }
    cfg->admin.n_tokens = (size_t)n;
    return 0;
}

static int parse_aws_keys(struct ctx *c, const config_setting_t *s, const char *path,
                          struct cfg *cfg)
{
    if (!config_setting_is_list(s))
        return fail_at(c, line_of(s), "'%s' must be %s", path, type_name(K_AWS_KEYS));
    int n = config_setting_length(s);
    if (n == 0)
        return fail_at(c, line_of(s), "'%s' must not be empty (leave it out to generate "
                       "aws-credentials)", path);
    if ((size_t)n > CFG_MAX_AWS_KEYS)
        return fail_at(c, line_of(s), "'%s' has more than %d entries", path,
                       CFG_MAX_AWS_KEYS);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        struct cfg_aws_key *k = &cfg->admin.aws_keys[i];
        char disp[CFG_PATH_MAX];
        if (!fmt_path(disp, sizeof(disp), "%s[%d]", path, i))
            return fail_at(c, line_of(e), "path too long");
        if (!config_setting_is_group(e))
            return fail_at(c, line_of(e), "'%s' must be a group: { id = ...; secret = ...; }",
                           disp);
        memset(k, 0, sizeof(*k));
        int ret = parse_group(c, e, aws_key_keys, N(aws_key_keys), "", disp, k, cfg);
        if (ret < 0)
            return ret;
        if (k->id[0] == '\0' || k->secret[0] == '\0')
            return fail_at(c, line_of(e), "'%s' needs both 'id' and 'secret'", disp);
        /* SigV4 carries the key id inside the Credential= parameter, where
         * '/' separates the scope; AWS ids are upper-case alphanumerics. */
        if (strspn(k->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            != strlen(k->id))
            return fail_at(c, line_of(config_setting_get_member(e, "id")),
                           "'%s.id' must be letters and digits", disp);
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->admin.aws_keys[j].id, k->id) == 0)
                return fail_at(c, line_of(e), "duplicate aws key id '%s'", k->id);
    }
    cfg->admin.n_aws_keys = (size_t)n;
    return 0;
}

static int parse_key(struct ctx *c, const struct key *k, const config_setting_t *s,
                     const char *path, void *base, void *cfg_root)
{
    char *field = (char *)base + k->off;
    int64_t v;
    int ret;

    switch (k->type) {
    case K_STR:
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
            return fail_at(c, line_of(s), "'%s' must be a string", path);
        return parse_string(c, k, s, path, field);
    case K_INT:
        ret = parse_number(c, k, s, path, &v);
        if (ret == 0)
            *(int *)(void *)field = (int)v;
        return ret;
    case K_I64:
        ret = parse_number(c, k, s, path, &v);
        if (ret == 0)
            *(int64_t *)(void *)field = v;
        return ret;
    case K_SIZE:
        ret = parse_number(c, k, s, path, &v);
        if (ret == 0)
            *(size_t *)(void *)field = (size_t)v;
        return ret;
    case K_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return fail_at(c, line_of(s), "'%s' must be true or false", path);
        *(bool *)(void *)field = config_setting_get_bool(s) != 0;
        return 0;
    case K_PROTO:
        /* Already applied by parse_listener; checked again for the type. */
        return parse_proto(c, s, path, &((struct cfg_listener *)base)->protocol);
    case K_AUTH:
        return parse_auth(c, s, path, &((struct cfg_listener *)base)->auth);
    case K_LISTENERS:
        return parse_listeners(c, s, path, cfg_root);
    case K_TOKENS:
        return parse_tokens(c, s, path, cfg_root);
    case K_AWS_KEYS:
        return parse_aws_keys(c, s, path, cfg_root);
    }
    return -EINVAL;
}

static void apply_default(const struct key *k, void *base)
{
    char *field = (char *)base + k->off;

    switch (k->type) {
    case K_STR:
        if (k->def_s)
            copy_str(field, k->size, k->def_s);
        break;
    case K_INT:
        *(int *)(void *)field = (int)k->def_i;
        break;
    case K_I64:
        *(int64_t *)(void *)field = k->def_i;
        break;
    case K_SIZE:
        *(size_t *)(void *)field = (size_t)k->def_i;
        break;
    case K_BOOL:
        *(bool *)(void *)field = k->def_i != 0;
        break;
    default:
        break;
    }
}

void cfg_defaults(struct cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N(cfg_keys); i++)
        apply_default(&cfg_keys[i], cfg);
    memcpy(cfg->listeners, default_listeners, sizeof(default_listeners));
    cfg->n_listeners = N(default_listeners);
    parse_url(cfg->upstream.url, cfg->upstream.host, sizeof(cfg->upstream.host),
              &cfg->upstream.port);
}

/* ---- whole-file checks -------------------------------------------------- */

/* libconfig 1.5 silently wraps a decimal integer outside 32 bits (without the
 * L suffix) and hex above 0x7fffffff, so "max_connections = 4294967396" would
 * load as 100. The text is scanned for such literals before parsing. The scan
 * follows libconfig's lexer: comments (#, //, / * * /), strings with
 * escapes, names that may contain digits. */
static int scan_integers(struct ctx *c, const char *t, size_t len)
{
    int line = 1;
    size_t i = 0;

    while (i < len) {
        char ch = t[i];
        if (ch == '\n') {
            line++;
            i++;
        } else if (ch == '#' || (ch == '/' && i + 1 < len && t[i + 1] == '/')) {
            while (i < len && t[i] != '\n')
                i++;
        } else if (ch == '/' && i + 1 < len && t[i + 1] == '*') {
            i += 2;
            while (i < len && !(t[i] == '*' && i + 1 < len && t[i + 1] == '/')) {
                if (t[i] == '\n')
                    line++;
                i++;
            }
            i += 2;
        } else if (ch == '"') {
            /* libconfig 1.5 accepts a string left open at the end of the
             * file when nothing else is pending, dropping what follows it. */
            int start_line = line;
            i++;
            while (i < len && t[i] != '"') {
                if (t[i] == '\\' && i + 1 < len)
                    i++;
                if (t[i] == '\n')
                    line++;
                i++;
            }
            if (i >= len)
                return fail_at(c, start_line, "unterminated string");
            i++;
        } else if (ch == '@') {
            /* One file, one source of file:line; @include would also resolve
             * paths against the daemon's working directory. */
            if (len - i >= 8 && memcmp(t + i, "@include", 8) == 0)
                return fail_at(c, line, "@include is not supported");
            i++;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '*' ||
                   ch == '_') {
            while (i < len && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
                               (t[i] >= '0' && t[i] <= '9') || t[i] == '*' || t[i] == '_' ||
                               t[i] == '-'))
                i++;
        } else if ((ch >= '0' && ch <= '9') ||
                   ((ch == '-' || ch == '+') && i + 1 < len && t[i + 1] >= '0' &&
                    t[i + 1] <= '9')) {
            bool neg = ch == '-';
            size_t start = i;
            if (ch == '-' || ch == '+')
                i++;
            uint64_t v = 0;
            bool big = false, hex = false;
            if (t[i] == '0' && i + 1 < len && (t[i + 1] == 'x' || t[i + 1] == 'X')) {
                hex = true;
                i += 2;
                while (i < len && strchr("0123456789abcdefABCDEF", t[i]) && t[i]) {
                    unsigned d = (unsigned)(t[i] <= '9' ? t[i] - '0' : (t[i] | 0x20) - 'a' + 10);
                    if (v > (UINT64_MAX >> 4))
                        big = true;
                    v = (v << 4) | d;
                    i++;
                }
            } else {
                while (i < len && t[i] >= '0' && t[i] <= '9') {
                    if (v > (UINT64_MAX - 9) / 10)
                        big = true;
                    v = v * 10 + (uint64_t)(t[i] - '0');
                    i++;
                }
            }
            if (i < len && (t[i] == 'L' || t[i] == '.' || t[i] == 'e' || t[i] == 'E')) {
                /* 64-bit or float literal: skip it; libconfig checks those. */
                while (i < len && strchr("0123456789.eE+-L", t[i]) && t[i])
                    i++;
                continue;
            }
            uint64_t lim = hex ? 0x7fffffffu : (neg ? 0x80000000u : 0x7fffffffu);
            if (big || v > lim)
                return fail_at(c, line, "integer %.*s does not fit in 32 bits (libconfig "
                               "would wrap it; add L for a 64-bit value)",
                               (int)(i - start > 40 ? 40 : i - start), t + start);
        } else {
            i++;
        }
    }
    return 0;
}

static int read_text(struct ctx *c, const char *path, char **ret)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fail_at(c, 0, "cannot open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail_at(c, 0, "not a regular file");
    }
    if (st.st_size > CFG_FILE_MAX) {
        close(fd);
        return fail_at(c, 0, "larger than %d bytes", CFG_FILE_MAX);
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (!text) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(text);
            close(fd);
            fail_at(c, 0, "cannot read: %s", strerror(e));
            return -e;
        }
        got += (size_t)r;
    }
    close(fd);
    text[got] = '\0';
    /* libconfig reads a C string: a NUL would silently end the file early. */
    if (memchr(text, '\0', got)) {
        free(text);
        return fail_at(c, 0, "contains a NUL byte");
    }
    *ret = text;
    return 0;
}

/* Checks that span several keys, after every key was read. */
static int check_whole(struct ctx *c, const config_t *lc, struct cfg *cfg)
{
    const config_setting_t *s;

    if ((cfg->tls.cert[0] == '\0') != (cfg->tls.key[0] == '\0')) {
        s = config_lookup(lc, cfg->tls.cert[0] ? "tls.cert" : "tls.key");
        return fail_at(c, line_of(s), "'tls.cert' and 'tls.key' must be set together");
    }

    if (cfg->limits.max_connections_per_address > cfg->limits.max_connections) {
        s = config_lookup(lc, "limits.max_connections_per_address");
        return fail_at(c, line_of(s ? s : config_lookup(lc, "limits.max_connections")),
                       "'limits.max_connections_per_address' (%d) exceeds "
                       "'limits.max_connections' (%d)",
                       cfg->limits.max_connections_per_address, cfg->limits.max_connections);
    }
    /* DESIGN.md: one address can never hold every handshake slot. */
    if (cfg->limits.max_handshakes_per_address >= cfg->limits.max_handshakes_in_progress) {
        s = config_lookup(lc, "limits.max_handshakes_per_address");
        return fail_at(c, line_of(s ? s : config_lookup(lc, "limits.max_handshakes_in_progress")),
                       "'limits.max_handshakes_per_address' (%d) must be below "
                       "'limits.max_handshakes_in_progress' (%d)",
                       cfg->limits.max_handshakes_per_address,
                       cfg->limits.max_handshakes_in_progress);
    }

    /* Each personality must own its upstream subtree: if one prefix starts
     * another, a device of one personality could publish into the other's. */
    static const char *const pfx_keys[] = { "upstream.google_prefix", "upstream.aws_prefix",
                                            "upstream.plain_prefix", "upstream.pubsub_prefix" };
    const char *pfx[] = { cfg->upstream.google_prefix, cfg->upstream.aws_prefix,
                          cfg->upstream.plain_prefix, cfg->upstream.pubsub_prefix };
    for (size_t i = 0; i < N(pfx); i++) {
        for (size_t j = 0; j < N(pfx); j++) {
            if (i == j || strncmp(pfx[j], pfx[i], strlen(pfx[i])) != 0)
                continue;
            s = config_lookup(lc, pfx_keys[j]);
            if (!s)
                s = config_lookup(lc, pfx_keys[i]);
            return fail_at(c, line_of(s), "'%s' and '%s' overlap (\"%s\", \"%s\"): each "
                           "personality needs its own topic prefix", pfx_keys[i], pfx_keys[j],
                           pfx[i], pfx[j]);
        }
    }

    parse_url(cfg->upstream.url, cfg->upstream.host, sizeof(cfg->upstream.host),
              &cfg->upstream.port);
    /* The service link defaults to the device sessions' credentials. */
    if (cfg->upstream.service_username[0] == '\0')
        copy_str(cfg->upstream.service_username, sizeof(cfg->upstream.service_username),
                 cfg->upstream.username);
    if (cfg->upstream.service_password[0] == '\0')
        copy_str(cfg->upstream.service_password, sizeof(cfg->upstream.service_password),
                 cfg->upstream.password);
    return 0;
}

int cfg_load(const char *path, struct cfg *cfg, char *err, size_t err_len)
{
    struct ctx c = { path, err, err_len };
    char *text = NULL;
    config_t lc;
    struct cfg *tmp;
    int ret;

    if (err_len)
        err[0] = '\0';
    if (strlen(path) >= sizeof(cfg->source))
        return fail_at(&c, 0, "path too long");
    ret = read_text(&c, path, &text);
    if (ret < 0)
        return ret;
    ret = scan_integers(&c, text, strlen(text));
    if (ret < 0) {
        explicit_bzero(text, strlen(text));
        free(text);
        return ret;
    }

    /* Built aside and copied only on success: the caller's struct is
     * untouched by a failed load (a reload keeps running on the old one). */
    tmp = calloc(1, sizeof(*tmp));
    if (!tmp) {
        explicit_bzero(text, strlen(text));
        free(text);
        return -ENOMEM;
    }
    cfg_defaults(tmp);

    config_init(&lc);
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        ret = fail_at(&c, config_error_line(&lc), "%s", config_error_text(&lc));
        goto out;
    }
    ret = parse_group(&c, config_root_setting(&lc), cfg_keys, N(cfg_keys), "", "", tmp, tmp);
    if (ret < 0)
        goto out;
    ret = check_whole(&c, &lc, tmp);
    if (ret < 0)
        goto out;
    copy_str(tmp->source, sizeof(tmp->source), path);
    memcpy(cfg, tmp, sizeof(*cfg));
    ret = 0;
out:
    config_destroy(&lc);
    /* The file and the struct hold upstream passwords and admin secrets. */
    explicit_bzero(text, strlen(text));
    free(text);
    explicit_bzero(tmp, sizeof(*tmp));
    free(tmp);
    return ret;
}

const struct cfg_listener *cfg_find_listener(const struct cfg *cfg, enum cfg_protocol p)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].protocol == p)
            return &cfg->listeners[i];
    return NULL;
}
