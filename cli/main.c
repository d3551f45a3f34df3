/* iotcorectl: gcloud-like verbs over iotcored's Google Cloud IoT admin API.
 * This file owns the command table (words, positional argument, accepted
 * and required options, synopsis), the dispatch, and the one mapping from
 * errors to the exit codes scripts rely on (see ctl.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/api.h"
#include "cli/cmd.h"
#include "cli/http.h"
#include "cli/settings.h"
#include "iotcored-version.h"

#define O(x) CTL_OPT_BIT(CTL_OPT_##x)

/* Accepted by every verb. */
#define GLOBAL_OPTS                                                                           \
    (O(ENDPOINT) | O(TOKEN) | O(DATA_DIR) | O(PROJECT) | O(REGION) | O(FORMAT) | O(CA_FILE) |  \
     O(HELP) | O(VERSION))
#define REGISTRY_FLAGS                                                                        \
    (O(ENABLE_MQTT) | O(NO_ENABLE_MQTT) | O(ENABLE_HTTP) | O(NO_ENABLE_HTTP) |                \
     O(EVENT_CONFIG) | O(STATE_TOPIC) | O(LOG_LEVEL) | O(PUBLIC_KEY_PATH))
#define DEVICE_FLAGS                                                                          \
    (O(REGISTRY) | O(PUBLIC_KEY) | O(BLOCKED) | O(NO_BLOCKED) | O(METADATA) | O(LOG_LEVEL) |  \
     O(AUTH_METHOD))

struct cmd {
    const char *words[3];
    const char *arg;        /* the positional argument's name, or NULL for none */
    int (*run)(struct ctl *c, const struct ctl_args *a, const char *arg);
    uint64_t opts;          /* beyond GLOBAL_OPTS */
    uint64_t required;      /* options that must be given, non-empty */
    const char *synopsis;   /* after the words */
};

static const struct cmd cmds[] = {
    { { "registries", "create" }, "REGISTRY", ctl_registries_create, REGISTRY_FLAGS, 0,
      "REGISTRY [--[no-]enable-mqtt-config] [--[no-]enable-http-config]\n"
      "      [--event-notification-config topic=T[,subfolder=S]]... [--state-pubsub-topic T]\n"
      "      [--log-level none|error|info|debug] [--public-key-path CA_CERT.pem]..." },
    { { "registries", "list" }, NULL, ctl_registries_list, O(PAGE_SIZE), 0, "[--page-size N]" },
    { { "registries", "describe" }, "REGISTRY", ctl_registries_describe, 0, 0, "REGISTRY" },
    { { "registries", "update" }, "REGISTRY", ctl_registries_update, REGISTRY_FLAGS, 0,
      "REGISTRY (flags of create; each one given is updated)" },
    { { "registries", "delete" }, "REGISTRY", ctl_registries_delete, 0, 0, "REGISTRY" },

    { { "devices", "create" }, "DEVICE", ctl_devices_create, DEVICE_FLAGS | O(DEVICE_TYPE),
      O(REGISTRY),
      "DEVICE --registry R\n"
      "      [--public-key path=FILE,type=rs256|rsa-pem|rsa-x509-pem|es256|es256-pem|"
      "es256-x509-pem[,expiration-time=RFC3339]]...\n"
      "      [--blocked|--no-blocked] [--metadata k=v,k2=v2] [--log-level L]\n"
      "      [--device-type gateway|non-gateway] [--auth-method association-only|"
      "device-auth-token-only|association-and-device-auth-token]" },
    { { "devices", "list" }, NULL, ctl_devices_list, O(REGISTRY) | O(PAGE_SIZE), O(REGISTRY),
      "--registry R [--page-size N]" },
    { { "devices", "describe" }, "DEVICE", ctl_devices_describe, O(REGISTRY), O(REGISTRY),
      "DEVICE --registry R" },
    { { "devices", "update" }, "DEVICE", ctl_devices_update, DEVICE_FLAGS, O(REGISTRY),
      "DEVICE --registry R [--blocked|--no-blocked] [--metadata k=v,...] "
      "[--public-key ...]... [--log-level L] [--auth-method M]" },
    { { "devices", "delete" }, "DEVICE", ctl_devices_delete, O(REGISTRY), O(REGISTRY),
      "DEVICE --registry R" },
    { { "devices", "import" }, "FILE", ctl_devices_import, 0, 0,
      "FILE   (JSON lines: one registry or device object per line)" },

    { { "devices", "configs", "update" }, NULL, ctl_configs_update,
      O(REGISTRY) | O(DEVICE) | O(CONFIG_FILE) | O(CONFIG_DATA) | O(VERSION_TO_UPDATE),
      O(REGISTRY) | O(DEVICE),
      "--device D --registry R (--config-file F | --config-data S) [--version-to-update N]" },
    { { "devices", "configs", "list" }, NULL, ctl_configs_list,
      O(REGISTRY) | O(DEVICE) | O(LIMIT), O(REGISTRY) | O(DEVICE),
      "--device D --registry R [--limit N]" },
    { { "devices", "states", "list" }, NULL, ctl_states_list, O(REGISTRY) | O(DEVICE) | O(LIMIT),
      O(REGISTRY) | O(DEVICE), "--device D --registry R [--limit N]" },
    { { "devices", "commands", "send" }, NULL, ctl_commands_send,
      O(REGISTRY) | O(DEVICE) | O(COMMAND_DATA) | O(COMMAND_FILE) | O(SUBFOLDER),
      O(REGISTRY) | O(DEVICE),
      "--device D --registry R (--command-data S | --command-file F) [--subfolder S]" },

    { { "gateways", "bind" }, NULL, ctl_gateways_bind, O(REGISTRY) | O(DEVICE) | O(GATEWAY),
      O(REGISTRY) | O(DEVICE) | O(GATEWAY), "--gateway G --device D --registry R" },
    { { "gateways", "unbind" }, NULL, ctl_gateways_unbind, O(REGISTRY) | O(DEVICE) | O(GATEWAY),
      O(REGISTRY) | O(DEVICE) | O(GATEWAY), "--gateway G --device D --registry R" },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char global_help[] =
    "Global options (flag, else environment, else default):\n"
    "  --endpoint URL     IOTCORED_ENDPOINT, default " CTL_DEFAULT_ENDPOINT "\n"
    "  --token TOKEN      IOTCORED_TOKEN, else DIR/admin.token\n"
    "  --data-dir DIR     IOTCORED_DATA_DIR, default " CTL_DEFAULT_DATA_DIR "\n"
    "  --project P        IOTCORED_PROJECT, required\n"
    "  --region L         IOTCORED_REGION, default " CTL_DEFAULT_REGION "\n"
    "  --ca-file FILE     IOTCORED_CA_FILE, CA bundle for an https endpoint\n"
    "  --format FORMAT    table (default) or json (the API's JSON; lists as one array)\n"
    "Exit codes: 0 success, 1 API error, 2 usage error, 3 connection error.\n";

static size_t n_words(const struct cmd *cmd)
{
    size_t n = 0;

    while (n < 3 && cmd->words[n])
        n++;
    return n;
}

static void print_synopsis(FILE *out, const struct cmd *cmd)
{
    fputs("  iotcorectl", out);
    for (size_t i = 0; i < n_words(cmd); i++)
        fprintf(out, " %s", cmd->words[i]);
    fprintf(out, " %s\n", cmd->synopsis);
}

/* Synopses of the commands whose words start with the given ones. */
static void print_usage(FILE *out, const char *const *words, size_t n)
{
    fputs("Usage:\n", out);
    for (size_t i = 0; i < N_CMDS; i++) {
        size_t k = 0;

        while (k < n && k < n_words(&cmds[i]) && strcmp(words[k], cmds[i].words[k]) == 0)
            k++;
        if (k == n || k == n_words(&cmds[i]))
            print_synopsis(out, &cmds[i]);
    }
    fputs(global_help, out);
}

/* The command whose words all match the leading words, the longest one. */
static const struct cmd *find_cmd(const struct ctl_args *a)
{
    const struct cmd *best = NULL;

    for (size_t i = 0; i < N_CMDS; i++) {
        size_t n = n_words(&cmds[i]), k = 0;

        while (k < n && k < a->n_words && strcmp(a->words[k], cmds[i].words[k]) == 0)
            k++;
        if (k == n && (!best || n > n_words(best)))
            best = &cmds[i];
    }
    return best;
}

static int check_args(const struct cmd *cmd, const struct ctl_args *a, const char **ret_arg)
{
    size_t n = n_words(cmd), extra = a->n_words - n;
    uint64_t stray = a->given & ~(GLOBAL_OPTS | cmd->opts);
    char name[64];

    snprintf(name, sizeof(name), "%s %s%s%s", cmd->words[0], cmd->words[1],
             cmd->words[2] ? " " : "", cmd->words[2] ? cmd->words[2] : "");
    for (int o = 0; o < CTL_OPT__COUNT; o++) {
        if (stray & CTL_OPT_BIT(o)) {
            ctl_error("%s: unrecognized argument %s", name, ctl_opt_name((enum ctl_opt)o));
            return -EINVAL;
        }
        if ((cmd->required & CTL_OPT_BIT(o)) &&
            (!ctl_args_get(a, (enum ctl_opt)o) || !*ctl_args_get(a, (enum ctl_opt)o))) {
            ctl_error("%s: argument %s is required", name, ctl_opt_name((enum ctl_opt)o));
            return -EINVAL;
        }
    }
    if (cmd->arg && (extra != 1 || !*a->words[n])) {
        ctl_error("%s: expected one %s argument", name, cmd->arg);
        return -EINVAL;
    }
    if (!cmd->arg && extra != 0) {
        ctl_error("%s: unrecognized argument %s", name, a->words[n]);
        return -EINVAL;
    }
    *ret_arg = cmd->arg ? a->words[n] : NULL;
    return 0;
}

/* The one place errors become exit codes. */
static int exit_code(int rc)
{
    switch (rc) {
    case 0:
        return CTL_EXIT_OK;
    case -ECONNREFUSED:
    case -EHOSTUNREACH:
    case -ETIMEDOUT:
    case -ECOMM:
        return CTL_EXIT_CONNECT;
    case -EINVAL:           /* bad arguments, or an endpoint libcurl refused */
    case -ENOENT:           /* files named on the command line */
    case -EACCES:
    case -EPERM:
    case -EISDIR:
    case -ENOTDIR:
    case -ELOOP:
    case -EFBIG:
    case -ENAMETOOLONG:
        return CTL_EXIT_USAGE;
    default:                /* CTL_ERR_API, -EBADMSG, -EMSGSIZE, -ENOMEM, -EIO */
        return CTL_EXIT_API;
    }
}

static int run(int argc, char **argv)
{
    struct ctl_args a;
    struct ctl c;
    const struct cmd *cmd;
    const char *arg = NULL;
    int rc;

    memset(&c, 0, sizeof(c));
    if (ctl_args_parse(argc, argv, &a) < 0)
        return -EINVAL;
    if (ctl_args_has(&a, CTL_OPT_VERSION)) {
        printf("iotcorectl %s\n", IOTCORED_VERSION);
        return 0;
    }
    cmd = find_cmd(&a);
    if (ctl_args_has(&a, CTL_OPT_HELP)) {
        print_usage(stdout, a.words, cmd ? n_words(cmd) : a.n_words);
        return 0;
    }
    if (!cmd) {
        if (a.n_words)
            ctl_error("unknown command: %s%s%s", a.words[0], a.n_words > 1 ? " " : "",
                      a.n_words > 1 ? a.words[1] : "");
        print_usage(stderr, a.words, a.n_words ? 1 : 0);
        return -EINVAL;
    }
    if (check_args(cmd, &a, &arg) < 0) {
        fputs("Usage:\n", stderr);
        print_synopsis(stderr, cmd);
        return -EINVAL;
    }
    rc = ctl_settings_resolve(&c, &a);
    if (rc < 0) {
        explicit_bzero(c.token, sizeof(c.token));
        return rc;
    }
    rc = ctl_http_new(c.endpoint, c.token, c.ca_file, &c.http);
    /* The client holds its own copy; this one has served. */
    explicit_bzero(c.token, sizeof(c.token));
    if (rc == -EINVAL) {
        ctl_error("--endpoint \"%s\": not an http:// or https:// URL", c.endpoint);
        return rc;
    }
    if (rc < 0) {
        ctl_error("out of memory");
        return rc;
    }
    rc = cmd->run(&c, &a, arg);
    ctl_http_free(c.http);
    return rc;
}

int main(int argc, char **argv)
{
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ctl_error("libcurl failed to initialise");
        return CTL_EXIT_API;
    }
    rc = run(argc, argv);
    curl_global_cleanup();
    /* A full disk or closed pipe on stdout must not look like success. */
    if (fflush(stdout) != 0 && rc == 0) {
        ctl_error("writing the output failed: %s", strerror(errno));
        rc = -EIO;
    }
    return exit_code(rc);
}
