/* iotcorectl devices configs update|list, devices states list and devices
 * commands send --device D --registry R: what flows to and from one device
 * (POST .../devices/D:modifyCloudToDeviceConfig, GET .../configVersions,
 * GET .../states, POST .../devices/D:sendCommandToDevice). Payloads travel
 * as base64 binaryData, as the API's `bytes` fields do. */
#include "cli/cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api.h"
#include "cli/input.h"

/* Google capped configs at 64 KiB and commands at 256 KiB; the server
 * enforces those. This only stops a wrong file (an image, a log) early. */
#define PAYLOAD_FILE_MAX (1024u * 1024)
/* Google kept the last 10 configs and states (reference section 3). */
#define HISTORY_MAX 10

/* The payload of --X-data or --X-file (exactly one), base64-encoded. */
static int payload(const struct ctl_args *a, enum ctl_opt data_opt, enum ctl_opt file_opt,
                   json_t **ret)
{
    const char *data = ctl_args_get(a, data_opt), *file = ctl_args_get(a, file_opt);
    struct buf b = { 0 };
    char *text;
    int rc;

    if (!data == !file) {
        ctl_error("exactly one of %s and %s is required", ctl_opt_name(data_opt),
                  ctl_opt_name(file_opt));
        return -EINVAL;
    }
    if (file) {
        rc = ctl_read_file(ctl_opt_name(file_opt), file, PAYLOAD_FILE_MAX, &b);
        if (rc < 0)
            return rc;
        text = ctl_base64(b.data, b.len);
        buf_free(&b);
    } else {
        text = ctl_base64(data, strlen(data));
    }
    *ret = text ? json_string(text) : NULL;
    free(text);
    return *ret ? 0 : ctl_oom();
}

static void device_url(struct ctl_url *u, const struct ctl *c, const struct ctl_args *a)
{
    ctl_url_device(u, c, ctl_args_get(a, CTL_OPT_REGISTRY), ctl_args_get(a, CTL_OPT_DEVICE));
}

int ctl_configs_update(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    const char *ver = ctl_args_get(a, CTL_OPT_VERSION_TO_UPDATE);
    struct ctl_url u;
    json_t *body = json_object(), *data = NULL, *reply = NULL;
    uint64_t n;
    int rc;

    if (!body)
        return ctl_oom();
    /* versionToUpdate is an int64, which proto3 JSON carries as a string;
     * 0 (or none) means no check. */
    if (ver && (rc = ctl_parse_uint("--version-to-update", ver, 0, INT64_MAX, &n)) < 0)
        goto out;
    if (ver && (rc = ctl_set(body, "versionToUpdate", json_string(ver))) < 0)
        goto out;
    if ((rc = payload(a, CTL_OPT_CONFIG_DATA, CTL_OPT_CONFIG_FILE, &data)) < 0 ||
        (rc = ctl_set(body, "binaryData", data)) < 0)
        goto out;
    device_url(&u, c, a);
    ctl_url_lit(&u, ":modifyCloudToDeviceConfig");
    rc = ctl_api_call(c, "POST", &u, body, &reply);
    if (rc == 0) {
        const char *v = json_string_value(json_object_get(reply, "version"));

        rc = ctl_show(c, reply, "Updated configuration of device [%s] to version [%s].",
                      ctl_args_get(a, CTL_OPT_DEVICE), v ? v : "?");
    }
out:
    json_decref(body);
    return rc;
}

/* --limit N as numVersions / numStates; without it the server sends all it
 * keeps. */
static int history(struct ctl *c, const struct ctl_args *a, const char *sub, const char *num,
                   const char *key, const struct ctl_col *cols, size_t n_cols)
{
    const char *limit = ctl_args_get(a, CTL_OPT_LIMIT);
    struct ctl_url u;
    json_t *items = NULL;
    uint64_t n;
    int rc;

    device_url(&u, c, a);
    ctl_url_lit(&u, sub);
    if (limit) {
        if (ctl_parse_uint("--limit", limit, 1, HISTORY_MAX, &n) < 0)
            return -EINVAL;
        ctl_url_query(&u, num, limit);
    }
    rc = ctl_api_list(c, &u, key, &items);
    if (rc < 0)
        return rc;
    return ctl_show_list(c, items, cols, n_cols);
}

int ctl_configs_list(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    static const struct ctl_col cols[] = {
        { "VERSION", "version", NULL, NULL },
        { "CLOUD_UPDATE_TIME", "cloudUpdateTime", NULL, NULL },
        { "DEVICE_ACK_TIME", "deviceAckTime", NULL, NULL },
    };

    return history(c, a, "/configVersions", "numVersions", "deviceConfigs", cols,
                   sizeof(cols) / sizeof(cols[0]));
}

int ctl_states_list(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    static const struct ctl_col cols[] = {
        { "UPDATE_TIME", "updateTime", NULL, NULL },
        { "BINARY_DATA", "binaryData", NULL, NULL },
    };

    return history(c, a, "/states", "numStates", "deviceStates", cols,
                   sizeof(cols) / sizeof(cols[0]));
}

int ctl_commands_send(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    const char *sub = ctl_args_get(a, CTL_OPT_SUBFOLDER);
    struct ctl_url u;
    json_t *body = json_object(), *data = NULL, *reply = NULL;
    int rc;

    if (!body)
        return ctl_oom();
    if ((rc = payload(a, CTL_OPT_COMMAND_DATA, CTL_OPT_COMMAND_FILE, &data)) < 0 ||
        (rc = ctl_set(body, "binaryData", data)) < 0)
        goto out;
    if (sub && (rc = ctl_set(body, "subfolder", json_string(sub))) < 0)
        goto out;
    device_url(&u, c, a);
    ctl_url_lit(&u, ":sendCommandToDevice");
    rc = ctl_api_call(c, "POST", &u, body, &reply);
    if (rc == 0)
        rc = ctl_show(c, reply, "Sent command to device [%s].", ctl_args_get(a, CTL_OPT_DEVICE));
out:
    json_decref(body);
    return rc;
}
