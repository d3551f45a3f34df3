/* Command-line words and options of iotcorectl: one declarative table of
 * every option (name, whether it takes a value, whether it may repeat), and
 * a parser that fills a struct of borrowed argv pointers. Which command
 * accepts which option is decided by the dispatcher (main.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ctl_opt {
    /* global */
    CTL_OPT_ENDPOINT, CTL_OPT_TOKEN, CTL_OPT_DATA_DIR, CTL_OPT_PROJECT, CTL_OPT_REGION,
    CTL_OPT_FORMAT, CTL_OPT_CA_FILE, CTL_OPT_HELP, CTL_OPT_VERSION,
    /* resource selection */
    CTL_OPT_REGISTRY, CTL_OPT_DEVICE, CTL_OPT_GATEWAY,
    /* devices */
    CTL_OPT_PUBLIC_KEY, CTL_OPT_BLOCKED, CTL_OPT_NO_BLOCKED, CTL_OPT_METADATA,
    CTL_OPT_DEVICE_TYPE, CTL_OPT_AUTH_METHOD, CTL_OPT_LOG_LEVEL,
    /* registries */
    CTL_OPT_ENABLE_MQTT, CTL_OPT_NO_ENABLE_MQTT, CTL_OPT_ENABLE_HTTP, CTL_OPT_NO_ENABLE_HTTP,
    CTL_OPT_EVENT_CONFIG, CTL_OPT_STATE_TOPIC, CTL_OPT_PUBLIC_KEY_PATH,
    /* configs, states, commands */
    CTL_OPT_CONFIG_FILE, CTL_OPT_CONFIG_DATA, CTL_OPT_VERSION_TO_UPDATE,
    CTL_OPT_COMMAND_DATA, CTL_OPT_COMMAND_FILE, CTL_OPT_SUBFOLDER,
    /* lists */
    CTL_OPT_PAGE_SIZE, CTL_OPT_LIMIT,
    CTL_OPT__COUNT
};

/* A command's accepted options are a bit set over enum ctl_opt. */
#define CTL_OPT_BIT(o) (UINT64_C(1) << (o))
_Static_assert(CTL_OPT__COUNT <= 64, "option sets are 64-bit masks");

/* Google allows 3 credentials per device and 10 notification configs or CA
 * certificates per registry; 16 leaves room for the server to say so. */
#define CTL_ARGS_MAX_REPEAT 16
#define CTL_ARGS_MAX_WORDS 8

struct ctl_args {
    const char *words[CTL_ARGS_MAX_WORDS];     /* positional words, borrowed from argv */
    size_t n_words;
    struct {
        size_t n;
        const char *v[CTL_ARGS_MAX_REPEAT];    /* borrowed; "" for a flag */
    } opt[CTL_OPT__COUNT];
    uint64_t given;                            /* CTL_OPT_BIT of each option seen */
};

/* Parses argv[1..argc-1]. "--name=value" and "--name value" both work; "--"
 * ends the options. Returns 0, or -EINVAL after printing why (unknown
 * option, missing value, value on a flag, too many words or repeats). */
int ctl_args_parse(int argc, char **argv, struct ctl_args *ret);

/* The last value of an option, or NULL when it was not given. */
const char *ctl_args_get(const struct ctl_args *a, enum ctl_opt o);

bool ctl_args_has(const struct ctl_args *a, enum ctl_opt o);

/* "--name" of an option, for messages. */
const char *ctl_opt_name(enum ctl_opt o);

/* A --x / --no-x pair: *ret = 1, 0, or -1 when neither was given. Returns
 * -EINVAL after printing why when both were given. */
int ctl_args_tristate(const struct ctl_args *a, enum ctl_opt on, enum ctl_opt off, int *ret);
