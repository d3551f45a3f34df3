/* iotcored-loadgen: main and argument parsing. Opens N MQTT device
 * connections over TLS (Google JWT ES256/RS256, username/password for a
 * plain broker, or a client certificate for AWS IoT-style mTLS) at a target
 * rate, holds them idle or publishing, reads the messages back through a
 * subscriber on the broker, and reports rates, latencies, losses, errors
 * and server CPU per operation. Optionally
 * provisions the devices first through iotcored's REST API. See
 * bench/README.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench/lg_jwt.h"
#include "bench/lg_prov.h"
#include "bench/lg_report.h"
#include "bench/lg_run.h"

static void usage(FILE *f)
{
    fputs(
"usage: iotcored-loadgen [options]\n"
"target:\n"
"  --host IPV4               server address (127.0.0.1)\n"
"  --port N                  server port (required)\n"
"  --no-tls                  plain TCP (default: TLS)\n"
"  --ca FILE                 verify the server certificate (and its IP) against FILE\n"
"  --resume                  offer the last TLS session ticket (resumption)\n"
"identity:\n"
"  --scheme S                es256 | rs256 (Google JWT, default es256) | password | none\n"
"                            | x509 (client certificate, no username/password)\n"
"  --key FILE                JWT signing key (PEM, P-256 or RSA); with x509 the certificate's key\n"
"  --cert FILE               client certificate (PEM, chain allowed) for --scheme x509, loaded\n"
"                            once and presented by every connection\n"
"  --project P --location L --registry R   Google client id parts (bench, us-central1, bench)\n"
"  --device-prefix S         device id = S + number (dev-)\n"
"  --device-offset N         first device number (0)\n"
"  --username U --password P credentials for --scheme password\n"
"  --mint-each               mint one JWT per connection (default: one per run)\n"
"  --token-lifetime S        JWT exp - iat in seconds (3600)\n"
"connections:\n"
"  -n, --conns N             device connections (1)\n"
"  --rate R                  connects started per second (0 = as fast as --concurrency allows)\n"
"  --concurrency N           connections between connect() and CONNACK (32)\n"
"  --src-base IPV4           first source address (e.g. 127.0.0.2); default: kernel's choice\n"
"  --src-count N             spread connections over N consecutive source addresses (1)\n"
"  --connect-timeout S       per connection, seconds (30)\n"
"  --churn                   DISCONNECT right after CONNACK (connect cost without holding)\n"
"  --settle S                idle seconds after the connect phase before sampling CPU (1)\n"
"  --keepalive S             CONNECT keepalive (60; pings at half of it)\n"
"load:\n"
"  --hold S                  seconds to hold the connections after connecting (0)\n"
"  --publish                 publish during the hold\n"
"  --qos 0|1                 (0)\n"
"  --size BYTES              payload size, >= 20 (64)\n"
"  --pub-rate R              total messages per second (0 = as fast as windows allow)\n"
"  --window N                QoS 1 messages in flight per connection, 1..64 (16)\n"
"  --count N                 messages per connection (0 = until --hold ends)\n"
"  --topic FMT               topic, %s = device id (/devices/%s/events; bench/%s without JWT)\n"
"  --drain S                 wait this long without progress for stragglers (5)\n"
"subscriber (plain TCP, on the broker):\n"
"  --sub HOST:PORT           read the messages back for end-to-end latency, loss, dups\n"
"  --sub-filter F            subscription (google/#)\n"
"  --sub-username U --sub-password P\n"
"provisioning (iotcored REST API):\n"
"  --provision N             create the registry and devices offset..offset+N-1 first\n"
"  --admin-url URL           http://127.0.0.1:PORT\n"
"  --admin-token-file FILE   Bearer token (data_dir/admin.token)\n"
"  --provision-only          exit after provisioning\n"
"report:\n"
"  --watch NAME=PID          sample utime+stime of PID per phase (up to 4), and its VmRSS\n"
"                            before connecting, at the start and end of --hold (and each second\n"
"                            during an idle hold)\n"
"  --label S                 label in the report\n"
"  --json                    one JSON line on stdout (table on stderr)\n"
"  -h, --help\n", f);
}

enum {
    O_HOST = 256, O_PORT, O_NOTLS, O_CA, O_RESUME, O_SCHEME, O_KEY, O_CERT, O_PROJECT, O_LOCATION,
    O_REGISTRY, O_DEVPFX, O_DEVOFF, O_USER, O_PASS, O_MINT, O_LIFETIME, O_RATE, O_CONC,
    O_SRCBASE, O_SRCCOUNT, O_CTIMEOUT, O_CHURN, O_SETTLE, O_KEEPALIVE, O_HOLD, O_PUBLISH, O_QOS,
    O_SIZE, O_PUBRATE, O_WINDOW, O_COUNT, O_TOPIC, O_DRAIN, O_SUB, O_SUBFILTER, O_SUBUSER,
    O_SUBPASS, O_PROVISION, O_ADMINURL, O_ADMINTOKEN, O_PROVONLY, O_WATCH, O_LABEL, O_JSON,
};

static const struct option longopts[] = {
    { "host", required_argument, NULL, O_HOST },
    { "port", required_argument, NULL, O_PORT },
    { "no-tls", no_argument, NULL, O_NOTLS },
    { "ca", required_argument, NULL, O_CA },
    { "resume", no_argument, NULL, O_RESUME },
    { "scheme", required_argument, NULL, O_SCHEME },
    { "key", required_argument, NULL, O_KEY },
    { "cert", required_argument, NULL, O_CERT },
    { "project", required_argument, NULL, O_PROJECT },
    { "location", required_argument, NULL, O_LOCATION },
    { "registry", required_argument, NULL, O_REGISTRY },
    { "device-prefix", required_argument, NULL, O_DEVPFX },
    { "device-offset", required_argument, NULL, O_DEVOFF },
    { "username", required_argument, NULL, O_USER },
    { "password", required_argument, NULL, O_PASS },
    { "mint-each", no_argument, NULL, O_MINT },
    { "token-lifetime", required_argument, NULL, O_LIFETIME },
    { "conns", required_argument, NULL, 'n' },
    { "rate", required_argument, NULL, O_RATE },
    { "concurrency", required_argument, NULL, O_CONC },
    { "src-base", required_argument, NULL, O_SRCBASE },
    { "src-count", required_argument, NULL, O_SRCCOUNT },
    { "connect-timeout", required_argument, NULL, O_CTIMEOUT },
    { "churn", no_argument, NULL, O_CHURN },
    { "settle", required_argument, NULL, O_SETTLE },
    { "keepalive", required_argument, NULL, O_KEEPALIVE },
    { "hold", required_argument, NULL, O_HOLD },
    { "publish", no_argument, NULL, O_PUBLISH },
    { "qos", required_argument, NULL, O_QOS },
    { "size", required_argument, NULL, O_SIZE },
    { "pub-rate", required_argument, NULL, O_PUBRATE },
    { "window", required_argument, NULL, O_WINDOW },
    { "count", required_argument, NULL, O_COUNT },
    { "topic", required_argument, NULL, O_TOPIC },
    { "drain", required_argument, NULL, O_DRAIN },
    { "sub", required_argument, NULL, O_SUB },
    { "sub-filter", required_argument, NULL, O_SUBFILTER },
    { "sub-username", required_argument, NULL, O_SUBUSER },
    { "sub-password", required_argument, NULL, O_SUBPASS },
    { "provision", required_argument, NULL, O_PROVISION },
    { "admin-url", required_argument, NULL, O_ADMINURL },
    { "admin-token-file", required_argument, NULL, O_ADMINTOKEN },
    { "provision-only", no_argument, NULL, O_PROVONLY },
    { "watch", required_argument, NULL, O_WATCH },
    { "label", required_argument, NULL, O_LABEL },
    { "json", no_argument, NULL, O_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Bounded number parsing (no atoi): whole string, within [lo, hi]. */
static int num(const char *name, const char *s, double lo, double hi, double *ret)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "loadgen: --%s %s: expected a number in [%g, %g]\n", name, s, lo, hi);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n ? 0 : -EINVAL;
}

static void on_signal(int sig)
{
    (void)sig;
    lg_run_interrupt();
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int provision(const struct lg_opts *o, unsigned count, const char *url, const char *token_file)
{
    char token[512], pem[4096];
    const char *why = "";
    struct lg_jwt *j = NULL;
    int rc;

    if (!url || !token_file || !o->key_file) {
        fprintf(stderr, "loadgen: --provision needs --admin-url, --admin-token-file and --key\n");
        return -EINVAL;
    }
    if ((rc = read_token(token_file, token, sizeof(token))) < 0) {
        fprintf(stderr, "loadgen: cannot read the admin token from %s\n", token_file);
        return rc;
    }
    if ((rc = lg_jwt_new(o->key_file, &j, &why)) < 0) {
        fprintf(stderr, "loadgen: key %s: %s\n", o->key_file, why);
        return rc;
    }
    const char *fmt = lg_jwt_alg(j) == LG_JWT_ES256 ? "ES256_PEM" : "RSA_PEM";
    rc = lg_jwt_public_pem(j, pem, sizeof(pem));
    lg_jwt_free(j);
    if (rc < 0) {
        fprintf(stderr, "loadgen: cannot export the public key\n");
        return rc;
    }
    struct lg_prov_req rq = {
        .admin_url = url, .token = token, .project = o->project, .location = o->location,
        .registry = o->registry, .device_prefix = o->device_prefix, .offset = o->device_offset,
        .count = count, .format = fmt, .public_pem = pem,
    };
    struct lg_prov_result res;
    rc = lg_prov_run(&rq, &res);
    explicit_bzero(token, sizeof(token));
    if (rc < 0) {
        fprintf(stderr, "loadgen: provisioning failed: %s\n", res.error);
        return rc;
    }
    fprintf(stderr, "loadgen: provisioned %u devices (%u new, %u existed) in %.2f s (%.0f/s)\n", count,
            res.created, res.existed, res.seconds, res.seconds > 0 ? count / res.seconds : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    struct lg_opts o = {
        .host = "127.0.0.1", .tls = true, .scheme = LG_SCHEME_ES256, .project = "bench",
        .location = "us-central1", .registry = "bench", .device_prefix = "dev-", .token_lifetime = 3600,
        .conns = 1, .concurrency = 32, .src_count = 1, .connect_timeout = 30, .settle = 1,
        .keepalive = 60, .qos = 0, .payload = 64, .window = 16, .drain = 5, .sub_host = "127.0.0.1",
        .sub_filter = "google/#",
    };
    unsigned prov_count = 0;
    bool prov_only = false, json = false;
    const char *admin_url = NULL, *admin_token = NULL;
    double v;
    int c;

#define NUM(lo, hi) do { if (num(longopts[idx].name, optarg, (lo), (hi), &v) < 0) return 2; } while (0)
    int idx = 0;
    while ((c = getopt_long(argc, argv, "n:h", longopts, &idx)) != -1) {
        /* getopt_long leaves idx alone for short options. */
        if (c == 'n') {
            if (num("conns", optarg, 1, LG_MAX_CONNS, &v) < 0)
                return 2;
            o.conns = (unsigned)v;
            continue;
        }
        switch (c) {
        case O_HOST: o.host = optarg; break;
        case O_PORT: NUM(1, 65535); o.port = (int)v; break;
        case O_NOTLS: o.tls = false; break;
        case O_CA: o.ca_file = optarg; break;
        case O_RESUME: o.resume = true; break;
        case O_SCHEME:
            if (strcmp(optarg, "es256") == 0) o.scheme = LG_SCHEME_ES256;
            else if (strcmp(optarg, "rs256") == 0) o.scheme = LG_SCHEME_RS256;
            else if (strcmp(optarg, "password") == 0) o.scheme = LG_SCHEME_PASSWORD;
            else if (strcmp(optarg, "none") == 0) o.scheme = LG_SCHEME_NONE;
            else if (strcmp(optarg, "x509") == 0) o.scheme = LG_SCHEME_X509;
            else { fprintf(stderr, "loadgen: unknown scheme %s\n", optarg); return 2; }
            break;
        case O_KEY: o.key_file = optarg; break;
        case O_CERT: o.cert_file = optarg; break;
        case O_PROJECT: o.project = optarg; break;
        case O_LOCATION: o.location = optarg; break;
        case O_REGISTRY: o.registry = optarg; break;
        case O_DEVPFX: o.device_prefix = optarg; break;
        case O_DEVOFF: NUM(0, 1e9); o.device_offset = (unsigned)v; break;
        case O_USER: o.username = optarg; break;
        case O_PASS: o.password = optarg; break;
        case O_MINT: o.mint_each = true; break;
        case O_LIFETIME: NUM(1, 86400 * 365); o.token_lifetime = (unsigned)v; break;
        case O_RATE: NUM(0, 1e7); o.connect_rate = v; break;
        case O_CONC: NUM(1, LG_MAX_CONNS); o.concurrency = (unsigned)v; break;
        case O_SRCBASE: {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1) {
                fprintf(stderr, "loadgen: --src-base %s: not an IPv4 address\n", optarg);
                return 2;
            }
            o.src_base = ntohl(a.s_addr);
            break;
        }
        case O_SRCCOUNT: NUM(1, LG_MAX_SOURCES); o.src_count = (unsigned)v; break;
        case O_CTIMEOUT: NUM(0.1, 3600); o.connect_timeout = v; break;
        case O_CHURN: o.churn = true; break;
        case O_SETTLE: NUM(0, 600); o.settle = v; break;
        case O_KEEPALIVE: NUM(0, 65535); o.keepalive = (uint16_t)v; break;
        case O_HOLD: NUM(0, 86400); o.hold = v; break;
        case O_PUBLISH: o.publish = true; break;
        case O_QOS: NUM(0, 1); o.qos = (uint8_t)v; break;
        case O_SIZE: NUM(LG_PAYLOAD_HEADER, LG_MAX_PAYLOAD); o.payload = (unsigned)v; break;
        case O_PUBRATE: NUM(0, 1e7); o.pub_rate = v; break;
        case O_WINDOW: NUM(1, 64); o.window = (unsigned)v; break;
        case O_COUNT: NUM(0, 1 << 30); o.count = (uint64_t)v; break;
        case O_TOPIC: o.topic_fmt = optarg; break;
        case O_DRAIN: NUM(0, 600); o.drain = v; break;
        case O_SUB: {
            static char host[64];
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof(host) ||
                num("sub", colon + 1, 1, 65535, &v) < 0) {
                fprintf(stderr, "loadgen: --sub HOST:PORT\n");
                return 2;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            o.sub_host = host;
            o.sub_port = (int)v;
            break;
        }
        case O_SUBFILTER: o.sub_filter = optarg; break;
        case O_SUBUSER: o.sub_username = optarg; break;
        case O_SUBPASS: o.sub_password = optarg; break;
        case O_PROVISION: NUM(1, LG_MAX_CONNS * 10.0); prov_count = (unsigned)v; break;
        case O_ADMINURL: admin_url = optarg; break;
        case O_ADMINTOKEN: admin_token = optarg; break;
        case O_PROVONLY: prov_only = true; break;
        case O_WATCH: {
            const char *eq = strchr(optarg, '=');
            if (o.n_watch >= LG_MAX_WATCH || !eq || eq == optarg ||
                (size_t)(eq - optarg) >= sizeof(o.watch[0].name) ||
                num("watch", eq + 1, 1, 1e9, &v) < 0) {
                fprintf(stderr, "loadgen: --watch NAME=PID (up to %d)\n", LG_MAX_WATCH);
                return 2;
            }
            for (const char *p = optarg; p < eq; p++) {
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) {
                    fprintf(stderr, "loadgen: --watch NAME: letters, digits, '_' and '-'\n");
                    return 2;
                }
            }
            memcpy(o.watch[o.n_watch].name, optarg, (size_t)(eq - optarg));
            o.watch[o.n_watch].name[eq - optarg] = '\0';
            o.watch[o.n_watch++].pid = (pid_t)v;
            break;
        }
        case O_LABEL: o.label = optarg; break;
        case O_JSON: json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
#undef NUM
    if (optind < argc) {
        fprintf(stderr, "loadgen: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    struct in_addr tmp;
    if (inet_pton(AF_INET, o.host, &tmp) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
        return 2;
    }
    if ((o.scheme == LG_SCHEME_ES256 || o.scheme == LG_SCHEME_RS256) && !o.key_file) {
        fprintf(stderr, "loadgen: --scheme %s needs --key\n", o.scheme == LG_SCHEME_ES256 ? "es256" : "rs256");
        return 2;
    }
    if (o.scheme == LG_SCHEME_PASSWORD && (!o.username || !o.password)) {
        fprintf(stderr, "loadgen: --scheme password needs --username and --password\n");
        return 2;
    }
    if (o.scheme == LG_SCHEME_X509 && (!o.cert_file || !o.key_file || !o.tls)) {
        fprintf(stderr, "loadgen: --scheme x509 needs --cert and --key, over TLS\n");
        return 2;
    }
    if (o.cert_file && o.scheme != LG_SCHEME_X509) {
        fprintf(stderr, "loadgen: --cert is for --scheme x509\n");
        return 2;
    }
    if (prov_count && o.scheme == LG_SCHEME_X509) {
        /* Certificates are registered through the AWS control plane
         * (SigV4), which bench/run.py drives with botocore. */
        fprintf(stderr, "loadgen: --provision registers JWT keys, not certificates\n");
        return 2;
    }
    if (o.src_base && (o.src_base & 0xff) + o.src_count > 255) {
        fprintf(stderr, "loadgen: --src-base + --src-count leaves the /24\n");
        return 2;
    }
    if (o.publish && o.hold <= 0 && o.count == 0) {
        fprintf(stderr, "loadgen: --publish needs --hold or --count\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    raise_fd_limit();

    if (prov_count) {
        if (provision(&o, prov_count, admin_url, admin_token) < 0)
            return 1;
        if (prov_only)
            return 0;
    }
    if (!o.port) {
        fprintf(stderr, "loadgen: --port is required\n");
        return 2;
    }

    static struct lg_result res;    /* histograms are large: not on the stack */
    int rc = lg_run(&o, &res);
    lg_report_text(json ? stderr : stdout, &o, &res);
    if (json)
        lg_report_json(stdout, &o, &res);
    if (rc < 0 || res.fatal[0])
        return 1;
    return res.interrupted ? 130 : 0;
}
