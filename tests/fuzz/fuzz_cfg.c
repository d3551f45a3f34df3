/* libFuzzer target for the config reader (daemon/cfg.c): arbitrary bytes are
 * written to a temporary file and read with cfg_load, which goes through the
 * integer pre-scan, libconfig's lexer and parser, the key table and the
 * whole-file checks. Must never crash or leak (libconfig's own lexer leak is
 * suppressed by tests/lsan.supp); abort() when the contract in daemon/cfg.h
 * fails: a refusal is one line in err and leaves the caller's struct alone,
 * an accepted file satisfies the rules cfg_load promises to enforce. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cfg.h"
#include "fuzz_target.h"

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)
#define POISON 0xA5

/* The libconfig entries of tests/lsan.supp, built in so tests/fuzz/run needs
 * no LSAN_OPTIONS: libconfig 1.5's lexer leaks its string buffer on some
 * syntax errors (see the comments there). Only LeakSanitizer calls this. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

static char path[64];
static int fd = -1;

static void cleanup(void)
{
    if (fd >= 0) {
        unlink(path);
        close(fd);
    }
}

/* One scratch file per process, rewritten for every input. */
static void setup(void)
{
    const char *dir = getenv("TMPDIR");
    int n = snprintf(path, sizeof(path), "%s/fuzz_cfg-XXXXXX", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= sizeof(path))
        n = snprintf(path, sizeof(path), "/tmp/fuzz_cfg-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_cfg: mkstemp");
        abort();
    }
    atexit(cleanup);
}

static void write_input(const uint8_t *data, size_t size)
{
    size_t off = 0;

    if (ftruncate(fd, 0) < 0) {
        perror("fuzz_cfg: ftruncate");
        abort();
    }
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror("fuzz_cfg: pwrite");
            abort();
        }
        off += (size_t)w;
    }
}

static bool loopback(const char *bind)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcmp(bind, "localhost") == 0 || strcmp(bind, "lo") == 0)
        return true;
    if (inet_pton(AF_INET, bind, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, bind, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

static void check_accepted(const struct cfg *cfg)
{
    REQUIRE(strcmp(cfg->source, path) == 0);
    REQUIRE(TERMINATED(cfg->data_dir) && cfg->data_dir[0] != '\0');
    REQUIRE(TERMINATED(cfg->log_level));
    REQUIRE(TERMINATED(cfg->tls.cert) && TERMINATED(cfg->tls.key) && TERMINATED(cfg->tls.min_version));
    REQUIRE((cfg->tls.cert[0] == '\0') == (cfg->tls.key[0] == '\0'));

    REQUIRE(cfg->n_listeners >= 1 && cfg->n_listeners <= CFG_MAX_LISTENERS);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *l = &cfg->listeners[i];
        REQUIRE(TERMINATED(l->name) && TERMINATED(l->bind));
        REQUIRE(l->port >= 0 && l->port <= 65535);
        REQUIRE(l->protocol == CFG_PROTO_MQTT || l->protocol == CFG_PROTO_HTTP_DEVICES ||
                l->protocol == CFG_PROTO_ADMIN);
        REQUIRE((l->auth & ~(unsigned)(CFG_AUTH_JWT | CFG_AUTH_X509 | CFG_AUTH_PASSWORD)) == 0);
        /* DESIGN.md: the admin listener refuses a non-loopback bind without TLS. */
        REQUIRE(l->protocol != CFG_PROTO_ADMIN || l->tls || loopback(l->bind));
        for (size_t j = 0; j < i; j++)
            REQUIRE(strcmp(cfg->listeners[j].name, l->name) != 0);
    }

    REQUIRE(TERMINATED(cfg->upstream.url) && TERMINATED(cfg->upstream.host));
    REQUIRE(strncmp(cfg->upstream.url, "mqtt://", 7) == 0 && cfg->upstream.host[0] != '\0');
    REQUIRE(cfg->upstream.port > 0 && cfg->upstream.port <= 65535);
    REQUIRE(TERMINATED(cfg->upstream.username) && TERMINATED(cfg->upstream.password));
    REQUIRE(TERMINATED(cfg->upstream.service_username) && TERMINATED(cfg->upstream.service_password));
    REQUIRE(TERMINATED(cfg->upstream.client_id_prefix) && TERMINATED(cfg->upstream.service_client_id));
    const char *pfx[] = { cfg->upstream.google_prefix, cfg->upstream.aws_prefix,
                          cfg->upstream.plain_prefix, cfg->upstream.pubsub_prefix };
    REQUIRE(TERMINATED(cfg->upstream.google_prefix) && TERMINATED(cfg->upstream.aws_prefix) &&
            TERMINATED(cfg->upstream.plain_prefix) && TERMINATED(cfg->upstream.pubsub_prefix));
    for (size_t i = 0; i < 4; i++) {
        REQUIRE(pfx[i][0] != '\0');
        REQUIRE(strpbrk(pfx[i], "+#") == NULL);
        for (size_t j = 0; j < 4; j++)
            REQUIRE(i == j || strncmp(pfx[j], pfx[i], strlen(pfx[i])) != 0);
    }

    REQUIRE(cfg->google.max_token_lifetime >= 0 && cfg->google.refresh_interval >= 0 &&
            cfg->google.clock_skew >= 0);
    REQUIRE(TERMINATED(cfg->aws.account_id) && TERMINATED(cfg->aws.region) && TERMINATED(cfg->aws.endpoint));
    REQUIRE(cfg->admin.n_tokens <= CFG_MAX_TOKENS && cfg->admin.n_aws_keys <= CFG_MAX_AWS_KEYS);
    for (size_t i = 0; i < cfg->admin.n_aws_keys; i++)
        for (size_t j = 0; j < i; j++)
            REQUIRE(strcmp(cfg->admin.aws_keys[i].id, cfg->admin.aws_keys[j].id) != 0);

    REQUIRE(cfg->limits.connect_timeout > 0);
    REQUIRE(cfg->limits.max_connections_per_address <= cfg->limits.max_connections);
    REQUIRE(cfg->limits.max_handshakes_per_address < cfg->limits.max_handshakes_in_progress);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg cfg, poison;
    char err[1024];

    if (fd < 0) {
        setup();
        memset(&poison, POISON, sizeof(poison));
    }
    write_input(data, size);
    memcpy(&cfg, &poison, sizeof(cfg));
    memset(err, 'x', sizeof(err));

    int r = cfg_load(path, &cfg, err, sizeof(err));
    REQUIRE(r == 0 || (r < 0 && r > -4096));
    REQUIRE(memchr(err, '\0', sizeof(err)) != NULL);
    if (r < 0) {
        /* One line naming the file, and the caller's struct untouched. */
        REQUIRE(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
        REQUIRE(strpbrk(err, "\r\n") == NULL);
        REQUIRE(memcmp(&cfg, &poison, sizeof(cfg)) == 0);
        return 0;
    }
    REQUIRE(err[0] == '\0');
    check_accepted(&cfg);
    return 0;
}
