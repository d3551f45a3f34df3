/* Config (daemon/cfg.c): the embedded defaults, the shipped example configs,
 * and golden error lines. Every data/cfg/bad-NAME.conf must fail with exactly
 * the line in bad-NAME.err ("bad-NAME.conf:LINE: message", OpenBGPD's
 * regress habit); every good-NAME.conf must load. To add a case, add the
 * .conf, run with IOTCORED_GOLDEN_WRITE=1 to write its .err, and review it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cfg.h"
#include "testutil.h"

#define CFG_DIR TEST_DATA_DIR "/cfg"

static struct cfg *new_cfg(void)
{
    struct cfg *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    return c;
}

static void test_defaults(void)
{
    struct cfg *c = new_cfg();
    cfg_defaults(c);

    CHECK(strcmp(c->source, "") == 0);
    CHECK(strcmp(c->data_dir, "./iotcored-data") == 0);
    CHECK(strcmp(c->log_level, "info") == 0);
    CHECK(strcmp(c->tls.cert, "") == 0 && strcmp(c->tls.key, "") == 0);
    CHECK(strcmp(c->tls.min_version, "1.2") == 0);

    CHECK(c->n_listeners == 3);
    CHECK(strcmp(c->listeners[0].name, "mqtts") == 0);
    CHECK(c->listeners[0].port == 8883);
    CHECK(c->listeners[0].protocol == CFG_PROTO_MQTT);
    CHECK(c->listeners[0].tls);
    CHECK(c->listeners[0].auth == (CFG_AUTH_JWT | CFG_AUTH_X509 | CFG_AUTH_PASSWORD));
    CHECK(strcmp(c->listeners[1].name, "devices") == 0);
    CHECK(c->listeners[1].port == 8443);
    CHECK(c->listeners[1].protocol == CFG_PROTO_HTTP_DEVICES);
    CHECK(c->listeners[1].tls);
    CHECK(strcmp(c->listeners[2].name, "admin") == 0);
    CHECK(c->listeners[2].port == 8080);
    CHECK(c->listeners[2].protocol == CFG_PROTO_ADMIN);
    CHECK(!c->listeners[2].tls);
    for (size_t i = 0; i < 3; i++) {
        CHECK(strcmp(c->listeners[i].bind, "127.0.0.1") == 0);
        CHECK(c->listeners[i].auth == (CFG_AUTH_JWT | CFG_AUTH_X509 | CFG_AUTH_PASSWORD));
    }
    CHECK(cfg_find_listener(c, CFG_PROTO_ADMIN) == &c->listeners[2]);
    CHECK(cfg_find_listener(c, CFG_PROTO_MQTT) == &c->listeners[0]);

    CHECK(strcmp(c->upstream.url, "mqtt://127.0.0.1:1883") == 0);
    CHECK(strcmp(c->upstream.host, "127.0.0.1") == 0);
    CHECK(c->upstream.port == 1883);
    CHECK(strcmp(c->upstream.username, "") == 0);
    CHECK(strcmp(c->upstream.client_id_prefix, "iotcored/") == 0);
    CHECK(strcmp(c->upstream.service_client_id, "iotcored-service") == 0);
    CHECK(strcmp(c->upstream.google_prefix, "google/") == 0);
    CHECK(strcmp(c->upstream.aws_prefix, "aws/") == 0);
    CHECK(strcmp(c->upstream.plain_prefix, "plain/") == 0);
    CHECK(strcmp(c->upstream.pubsub_prefix, "pubsub/") == 0);

    CHECK(c->google.max_token_lifetime == 86400);
    CHECK(c->google.refresh_interval == 3600);
    CHECK(c->google.clock_skew == 600);
    CHECK(c->google.max_messages_per_second == 100);
    CHECK(c->google.max_state_per_second == 1);

    CHECK(strcmp(c->aws.account_id, "123456789012") == 0);
    CHECK(strcmp(c->aws.region, "us-east-1") == 0);
    CHECK(strcmp(c->aws.endpoint, "localhost") == 0);

    CHECK(c->admin.n_tokens == 0);
    CHECK(c->admin.n_aws_keys == 0);
    CHECK(!c->admin.metrics_public);

    CHECK(c->limits.connect_timeout == 10);
    CHECK(c->limits.max_connections == 100000);
    CHECK(c->limits.max_connections_per_address == 1000);
    CHECK(c->limits.max_handshakes_in_progress == 256);
    CHECK(c->limits.max_handshakes_per_address == 16);
    CHECK(c->limits.max_inflight == 32);
    CHECK(c->limits.max_subscriptions == 64);
    CHECK(c->limits.http_max_body == 1048576);
    CHECK(c->limits.max_packet_size == 262144 + 1024);
    free(c);
}

/* Reports which part differs, so a drift between iotcored.conf and the
 * table is easy to find. */
static int cmp_part(const char *what, const void *a, const void *b, size_t n)
{
    if (memcmp(a, b, n) != 0) {
        fprintf(stderr, "iotcored.conf differs from cfg_defaults() in %s\n", what);
        return 1;
    }
    return 0;
}

static void test_shipped(void)
{
    struct cfg *c = new_cfg(), *d = new_cfg();
    char err[1024];
    int r;

    r = cfg_load(SOURCE_ROOT "/packaging/iotcored.conf", c, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "iotcored.conf: %s\n", err);
    CHECK(r == 0);
    CHECK(strcmp(c->data_dir, "/var/lib/iotcored") == 0);
    CHECK(strcmp(c->source, SOURCE_ROOT "/packaging/iotcored.conf") == 0);
    cfg_defaults(d);
    /* The packaged file documents the defaults: only data_dir may differ. */
    memcpy(c->data_dir, d->data_dir, sizeof(c->data_dir));
    memcpy(c->source, d->source, sizeof(c->source));
    int diff = 0;
    diff += cmp_part("log", c->log_level, d->log_level, sizeof(c->log_level));
    diff += cmp_part("tls", &c->tls, &d->tls, sizeof(c->tls));
    diff += cmp_part("n_listeners", &c->n_listeners, &d->n_listeners, sizeof(c->n_listeners));
    diff += cmp_part("listeners", c->listeners, d->listeners, sizeof(c->listeners));
    diff += cmp_part("upstream", &c->upstream, &d->upstream, sizeof(c->upstream));
    diff += cmp_part("google", &c->google, &d->google, sizeof(c->google));
    diff += cmp_part("aws", &c->aws, &d->aws, sizeof(c->aws));
    diff += cmp_part("admin", &c->admin, &d->admin, sizeof(c->admin));
    diff += cmp_part("limits", &c->limits, &d->limits, sizeof(c->limits));
    CHECK(diff == 0);
    CHECK(memcmp(c, d, sizeof(*c)) == 0);

    r = cfg_load(SOURCE_ROOT "/packaging/iotcored-dev.conf", c, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "iotcored-dev.conf: %s\n", err);
    CHECK(r == 0);
    CHECK(strcmp(c->data_dir, "./iotcored-data") == 0);
    CHECK(strcmp(c->upstream.host, "127.0.0.1") == 0);
    CHECK(c->upstream.port == 18830);
    CHECK(c->n_listeners == 3);
    for (size_t i = 0; i < c->n_listeners; i++) {
        CHECK(strcmp(c->listeners[i].bind, "127.0.0.1") == 0);
        CHECK(c->listeners[i].port == d->listeners[i].port);
        CHECK(strcmp(c->listeners[i].name, d->listeners[i].name) == 0);
    }
    free(c);
    free(d);
}

static int load_text(const char *text, struct cfg *c, char *err, size_t err_len)
{
    char dir[256], path[300];
    if (tu_mkdtemp(dir, sizeof(dir), "test_cfg") < 0)
        abort();
    snprintf(path, sizeof(path), "%s/t.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    int r = cfg_load(path, c, err, err_len);
    /* Messages name the path given; strip the temp dir for comparisons. */
    size_t dl = strlen(dir) + 1;
    if (strncmp(err, path, strlen(path)) == 0)
        memmove(err, err + dl, strlen(err + dl) + 1);
    tu_rm_rf(dir);
    return r;
}

static void test_values(void)
{
    struct cfg *c = new_cfg();
    char err[1024];

    /* Listeners in the file replace the defaults; per-protocol defaults fill
     * what an entry leaves out. */
    CHECK(load_text("listeners = (\n"
                    "  { name = \"m\"; protocol = \"mqtt\"; auth = [\"x509\", \"jwt\"]; },\n"
                    "  { name = \"adm\"; protocol = \"admin\"; port = 0; bind = \"::1\"; },\n"
                    "  { name = \"dev\"; protocol = \"http-devices\"; tls = false; }\n"
                    ");\n", c, err, sizeof(err)) == 0);
    CHECK(c->n_listeners == 3);
    CHECK(strcmp(c->listeners[0].name, "m") == 0);
    CHECK(c->listeners[0].port == 8883 && c->listeners[0].tls);
    CHECK(c->listeners[0].auth == (CFG_AUTH_X509 | CFG_AUTH_JWT));
    CHECK(strcmp(c->listeners[0].bind, "127.0.0.1") == 0);
    CHECK(c->listeners[1].protocol == CFG_PROTO_ADMIN && c->listeners[1].port == 0);
    CHECK(!c->listeners[1].tls);
    CHECK(c->listeners[2].port == 8443 && !c->listeners[2].tls);
    CHECK(cfg_find_listener(c, CFG_PROTO_HTTP_DEVICES) == &c->listeners[2]);

    CHECK(load_text("listeners = ( { name = \"only\"; protocol = \"mqtt\"; port = 1884; } );\n",
                    c, err, sizeof(err)) == 0);
    CHECK(c->n_listeners == 1);
    CHECK(cfg_find_listener(c, CFG_PROTO_ADMIN) == NULL);

    /* Upstream URL forms. */
    CHECK(load_text("upstream = { url = \"mqtt://broker.example\"; };\n", c, err,
                    sizeof(err)) == 0);
    CHECK(strcmp(c->upstream.host, "broker.example") == 0 && c->upstream.port == 1883);
    CHECK(load_text("upstream = { url = \"mqtt://[::1]:1884/\"; };\n", c, err,
                    sizeof(err)) == 0);
    CHECK(strcmp(c->upstream.host, "::1") == 0 && c->upstream.port == 1884);

    /* The service link falls back to the device sessions' credentials. */
    CHECK(load_text("upstream = { username = \"u\"; password = \"p\"; };\n", c, err,
                    sizeof(err)) == 0);
    CHECK(strcmp(c->upstream.service_username, "u") == 0);
    CHECK(strcmp(c->upstream.service_password, "p") == 0);
    CHECK(load_text("upstream = { username = \"u\"; service_username = \"s\"; };\n", c, err,
                    sizeof(err)) == 0);
    CHECK(strcmp(c->upstream.service_username, "s") == 0);

    /* Admin secrets. */
    CHECK(load_text("admin = { tokens = [\"t1-aaaaaaaa\", \"t2-bbbbbbbb\"];\n"
                    "  aws_keys = ( { id = \"AKIA1\"; secret = \"s1/+x\"; },\n"
                    "               { id = \"AKIA2\"; secret = \"s2\"; } );\n"
                    "  metrics_public = true; };\n", c, err, sizeof(err)) == 0);
    CHECK(c->admin.n_tokens == 2 && strcmp(c->admin.tokens[1], "t2-bbbbbbbb") == 0);
    CHECK(c->admin.n_aws_keys == 2 && strcmp(c->admin.aws_keys[0].secret, "s1/+x") == 0);
    CHECK(c->admin.metrics_public);

    /* 64-bit literals, bounds edges, durations. */
    CHECK(load_text("limits = { max_packet_size = 268435460L; http_max_body = 1024; };\n"
                    "google = { refresh_interval = 0; clock_skew = 0; max_token_lifetime = 1; };\n",
                    c, err, sizeof(err)) == 0);
    CHECK(c->limits.max_packet_size == 268435460);
    CHECK(c->limits.http_max_body == 1024);
    CHECK(c->google.refresh_interval == 0 && c->google.max_token_lifetime == 1);

    CHECK(load_text("log = { level = \"debug\"; };\ntls = { min_version = \"1.3\";\n"
                    "  cert = \"/c.pem\"; key = \"/k.pem\"; };\n", c, err, sizeof(err)) == 0);
    CHECK(strcmp(c->log_level, "debug") == 0 && strcmp(c->tls.min_version, "1.3") == 0);
    CHECK(strcmp(c->tls.cert, "/c.pem") == 0 && strcmp(c->tls.key, "/k.pem") == 0);

    /* A failed load leaves the caller's struct as it was. */
    struct cfg *before = new_cfg();
    memcpy(before, c, sizeof(*c));
    CHECK(load_text("data_dir = \"changed\";\nlimits = { max_inflight = 0; };\n", c, err,
                    sizeof(err)) == -EINVAL);
    CHECK(memcmp(before, c, sizeof(*c)) == 0);
    CHECK(strcmp(err, "t.conf:2: 'limits.max_inflight' must be between 1 and 65535 (got 0)")
          == 0);
    free(before);

    /* A file that is not there names the file, without a line. */
    CHECK(cfg_load("/nonexistent/iotcored.conf", c, err, sizeof(err)) == -ENOENT);
    CHECK(strcmp(err, "/nonexistent/iotcored.conf: cannot open: No such file or directory")
          == 0);
    CHECK(cfg_load("/", c, err, sizeof(err)) == -EINVAL);
    CHECK(strcmp(err, "/: not a regular file") == 0);

    /* A NUL would end libconfig's read early and hide the rest. */
    {
        char dir[256], path[300];
        CHECK(tu_mkdtemp(dir, sizeof(dir), "test_cfg") == 0);
        snprintf(path, sizeof(path), "%s/nul.conf", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
            fwrite("data_dir = \"a\";\n\0bogus = 1;\n", 1, 29, f);
            fclose(f);
        }
        CHECK(cfg_load(path, c, err, sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "contains a NUL byte") != NULL);
        tu_rm_rf(dir);
    }

    /* A tiny err buffer is truncated, never overrun. */
    char small[8];
    CHECK(load_text("bogus = 1;\n", c, small, sizeof(small)) == -EINVAL);
    CHECK(strlen(small) == sizeof(small) - 1);
    free(c);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_golden(void)
{
    char *names[256];
    size_t n = 0, n_bad = 0, n_good = 0;
    int write_mode = getenv("IOTCORED_GOLDEN_WRITE") != NULL;
    struct cfg *c = new_cfg();

    /* Messages name the path as given: load by relative name from the
     * data directory so the .err files hold "bad-x.conf:LINE: ...". */
    if (chdir(CFG_DIR) < 0) {
        FAIL("%s: %s", CFG_DIR, strerror(errno));
        free(c);
        return;
    }
    DIR *d = opendir(".");
    CHECK(d != NULL);
    if (!d) {
        free(c);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
        if (ends_with(de->d_name, ".conf")) {
            names[n] = strdup(de->d_name);
            if (!names[n])
                abort();
            n++;
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);

    for (size_t i = 0; i < n; i++) {
        char err[1024] = "", exp_path[300], expected[1024] = "";
        int r = cfg_load(names[i], c, err, sizeof(err));

        if (strncmp(names[i], "good-", 5) == 0) {
            n_good++;
            if (r != 0)
                fprintf(stderr, "%s: unexpected error: %s\n", names[i], err);
            CHECK(r == 0);
            continue;
        }
        if (strncmp(names[i], "bad-", 4) != 0)
            continue;
        n_bad++;
        snprintf(exp_path, sizeof(exp_path), "%.*s.err", (int)(strlen(names[i]) - 5), names[i]);
        if (write_mode) {
            FILE *f = fopen(exp_path, "w");
            CHECK(f != NULL);
            if (f) {
                fprintf(f, "%s\n", err);
                fclose(f);
            }
        }
        FILE *f = fopen(exp_path, "r");
        if (!f) {
            FAIL("%s: missing %s (got: %s)", names[i], exp_path, err);
            continue;
        }
        if (!fgets(expected, sizeof(expected), f))
            expected[0] = '\0';
        fclose(f);
        expected[strcspn(expected, "\n")] = '\0';
        if (r >= 0 || strcmp(err, expected) != 0) {
            FAIL("%s: rc %d\n  expected: %s\n  got:      %s", names[i], r, expected, err);
        }
        /* One line: nothing a log reader could mistake for two. */
        CHECK(strchr(err, '\n') == NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    CHECK(n_bad >= 40);
    CHECK(n_good >= 1);
    free(c);
}

int main(void)
{
    test_defaults();
    test_shipped();
    test_values();
    test_golden();
    return tu_finish("test_cfg");
}
