/* The option table and argv parser of iotcorectl (see args.h). Options may
 * come before or after the command words, as with gcloud. */
#include "cli/args.h"

#include <errno.h>
#include <string.h>

#include "cli/output.h"

enum kind { FLAG, VALUE, REPEAT };

static const struct {
    const char *name;
    enum kind kind;
} table[CTL_OPT__COUNT] = {
    [CTL_OPT_ENDPOINT] = { "--endpoint", VALUE },
    [CTL_OPT_TOKEN] = { "--token", VALUE },
    [CTL_OPT_DATA_DIR] = { "--data-dir", VALUE },
    [CTL_OPT_PROJECT] = { "--project", VALUE },
    [CTL_OPT_REGION] = { "--region", VALUE },
    [CTL_OPT_FORMAT] = { "--format", VALUE },
    [CTL_OPT_CA_FILE] = { "--ca-file", VALUE },
    [CTL_OPT_HELP] = { "--help", FLAG },
    [CTL_OPT_VERSION] = { "--version", FLAG },
    [CTL_OPT_REGISTRY] = { "--registry", VALUE },
    [CTL_OPT_DEVICE] = { "--device", VALUE },
    [CTL_OPT_GATEWAY] = { "--gateway", VALUE },
    [CTL_OPT_PUBLIC_KEY] = { "--public-key", REPEAT },
    [CTL_OPT_BLOCKED] = { "--blocked", FLAG },
    [CTL_OPT_NO_BLOCKED] = { "--no-blocked", FLAG },
    [CTL_OPT_METADATA] = { "--metadata", VALUE },
    [CTL_OPT_DEVICE_TYPE] = { "--device-type", VALUE },
    [CTL_OPT_AUTH_METHOD] = { "--auth-method", VALUE },
    [CTL_OPT_LOG_LEVEL] = { "--log-level", VALUE },
    [CTL_OPT_ENABLE_MQTT] = { "--enable-mqtt-config", FLAG },
    [CTL_OPT_NO_ENABLE_MQTT] = { "--no-enable-mqtt-config", FLAG },
    [CTL_OPT_ENABLE_HTTP] = { "--enable-http-config", FLAG },
    [CTL_OPT_NO_ENABLE_HTTP] = { "--no-enable-http-config", FLAG },
    [CTL_OPT_EVENT_CONFIG] = { "--event-notification-config", REPEAT },
    [CTL_OPT_STATE_TOPIC] = { "--state-pubsub-topic", VALUE },
    [CTL_OPT_PUBLIC_KEY_PATH] = { "--public-key-path", REPEAT },
    [CTL_OPT_CONFIG_FILE] = { "--config-file", VALUE },
    [CTL_OPT_CONFIG_DATA] = { "--config-data", VALUE },
    [CTL_OPT_VERSION_TO_UPDATE] = { "--version-to-update", VALUE },
    [CTL_OPT_COMMAND_DATA] = { "--command-data", VALUE },
    [CTL_OPT_COMMAND_FILE] = { "--command-file", VALUE },
    [CTL_OPT_SUBFOLDER] = { "--subfolder", VALUE },
    [CTL_OPT_PAGE_SIZE] = { "--page-size", VALUE },
    [CTL_OPT_LIMIT] = { "--limit", VALUE },
};

const char *ctl_opt_name(enum ctl_opt o)
{
    return (unsigned)o < CTL_OPT__COUNT ? table[o].name : "?";
}

static int lookup(const char *arg, size_t len)
{
    for (int i = 0; i < CTL_OPT__COUNT; i++)
        if (strlen(table[i].name) == len && strncmp(table[i].name, arg, len) == 0)
            return i;
    return -ENOENT;
}

static int add_value(struct ctl_args *a, int o, const char *v)
{
    if (a->opt[o].n > 0 && table[o].kind != REPEAT) {
        /* A second value would silently win in gcloud; a script that says
         * two things means one of them by mistake. */
        ctl_error("argument %s: given more than once", table[o].name);
        return -EINVAL;
    }
    if (a->opt[o].n == CTL_ARGS_MAX_REPEAT) {
        ctl_error("argument %s: at most %d times", table[o].name, CTL_ARGS_MAX_REPEAT);
        return -EINVAL;
    }
    a->opt[o].v[a->opt[o].n++] = v;
    a->given |= CTL_OPT_BIT(o);
    return 0;
}

int ctl_args_parse(int argc, char **argv, struct ctl_args *ret)
{
    bool only_words = false;

    memset(ret, 0, sizeof(*ret));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq;
        int o;

        if (!only_words && strcmp(arg, "--") == 0) {
            only_words = true;
            continue;
        }
        if (only_words || arg[0] != '-' || arg[1] == '\0') {
            /* "-" alone is a word: a file name meaning stdin. */
            if (ret->n_words == CTL_ARGS_MAX_WORDS) {
                ctl_error("unrecognized argument: %s", arg);
                return -EINVAL;
            }
            ret->words[ret->n_words++] = arg;
            continue;
        }
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        eq = strchr(arg, '=');
        o = lookup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (o < 0) {
            ctl_error("unrecognized argument: %s", arg);
            return -EINVAL;
        }
        if (table[o].kind == FLAG) {
            if (eq) {
                ctl_error("argument %s: takes no value", table[o].name);
                return -EINVAL;
            }
            if (add_value(ret, o, "") < 0)
                return -EINVAL;
            continue;
        }
        if (!eq && i + 1 >= argc) {
            ctl_error("argument %s: expected one value", table[o].name);
            return -EINVAL;
        }
        if (add_value(ret, o, eq ? eq + 1 : argv[++i]) < 0)
            return -EINVAL;
    }
    return 0;
}

const char *ctl_args_get(const struct ctl_args *a, enum ctl_opt o)
{
    return a->opt[o].n ? a->opt[o].v[a->opt[o].n - 1] : NULL;
}

bool ctl_args_has(const struct ctl_args *a, enum ctl_opt o)
{
    return a->opt[o].n > 0;
}

int ctl_args_tristate(const struct ctl_args *a, enum ctl_opt on, enum ctl_opt off, int *ret)
{
    if (ctl_args_has(a, on) && ctl_args_has(a, off)) {
        ctl_error("arguments %s and %s: at most one may be given", table[on].name, table[off].name);
        return -EINVAL;
    }
    *ret = ctl_args_has(a, on) ? 1 : ctl_args_has(a, off) ? 0 : -1;
    return 0;
}
