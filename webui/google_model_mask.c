/* Google field masks ("a,b.c", snake_case or lowerCamel) as API_DEV_* and
 * API_REG_* bits, and the table of top-level Device fields the masks and
 * the Device body parser share. Pure. */
#include "webui/google_model.h"

#include <errno.h>
#include <string.h>

struct field_name {
    const char *name;
    unsigned bit;
};

static const struct field_name device_fields[] = {
    { "id", API_DEV_ID },
    { "name", API_DEV_NAME },
    { "numId", API_DEV_NUM_ID },
    { "credentials", API_DEV_CREDENTIALS },
    { "lastHeartbeatTime", API_DEV_LAST_HEARTBEAT_TIME },
    { "lastEventTime", API_DEV_LAST_EVENT_TIME },
    { "lastStateTime", API_DEV_LAST_STATE_TIME },
    { "lastConfigAckTime", API_DEV_LAST_CONFIG_ACK_TIME },
    { "lastConfigSendTime", API_DEV_LAST_CONFIG_SEND_TIME },
    { "blocked", API_DEV_BLOCKED },
    { "lastErrorTime", API_DEV_LAST_ERROR_TIME },
    { "lastErrorStatus", API_DEV_LAST_ERROR_STATUS },
    { "config", API_DEV_CONFIG },
    { "state", API_DEV_STATE },
    { "logLevel", API_DEV_LOG_LEVEL },
    { "metadata", API_DEV_METADATA },
    { "gatewayConfig", API_DEV_GATEWAY_CONFIG },
};

static const struct field_name registry_fields[] = {
    { "id", API_REG_ID },
    { "name", API_REG_NAME },
    { "eventNotificationConfigs", API_REG_EVENT_CONFIGS },
    /* the proto comment spells it in the singular */
    { "eventNotificationConfig", API_REG_EVENT_CONFIGS },
    { "stateNotificationConfig", API_REG_STATE_CONFIG },
    { "mqttConfig", API_REG_MQTT_CONFIG },
    { "httpConfig", API_REG_HTTP_CONFIG },
    { "logLevel", API_REG_LOG_LEVEL },
    { "credentials", API_REG_CREDENTIALS },
};

#define N_OF(t) (sizeof(t) / sizeof((t)[0]))

/* The bit of the field called name[0..len), 0 when there is none (every
 * bit is nonzero). */
static unsigned field_lookup(const struct field_name *t, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && strncmp(name, t[i].name, len) == 0)
            return t[i].bit;
    return 0;
}

unsigned api_g_device_field(const char *name, size_t len)
{
    return field_lookup(device_fields, N_OF(device_fields), name, len);
}

/* snake_case -> lowerCamel, so both spellings name one field. */
static int camelize(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool up = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '_') {
            up = true;
            continue;
        }
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = false;
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* The bits of one camelized path: any subpath selects its top-level field. */
static unsigned registry_path_bits(const char *path)
{
    const char *dot = strchr(path, '.');

    return field_lookup(registry_fields, N_OF(registry_fields), path,
                        dot ? (size_t)(dot - path) : strlen(path));
}

/* ... except the one gatewayConfig subfield a device PATCH may name. */
static unsigned device_path_bits(const char *path)
{
    const char *dot = strchr(path, '.');

    if (strcmp(path, "gatewayConfig.gatewayAuthMethod") == 0)
        return API_DEV_GATEWAY_AUTH_METHOD;
    return api_g_device_field(path, dot ? (size_t)(dot - path) : strlen(path));
}

/* ORs path_bits of each trimmed, non-empty, camelized path into *ret;
 * ret is untouched on failure. */
static int mask_parse(const char *mask, unsigned (*path_bits)(const char *path), unsigned *ret,
                      struct api_err *err)
{
    const char *p = mask;
    unsigned acc = 0;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        char path[128];
        unsigned bits;

        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0) {
            bits = camelize(s, len, path, sizeof(path)) < 0 ? 0 : path_bits(path);
            if (!bits) {
                int shown = len > 64 ? 64 : (int)len;
                api_err_set(err, API_G_INVALID_ARGUMENT,
                            "Invalid field mask: unknown field \"%.*s\".", shown, s);
                return -EINVAL;
            }
            acc |= bits;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *ret = acc;
    return 0;
}

int api_google_device_mask(const char *mask, unsigned *ret, struct api_err *err)
{
    return mask_parse(mask, device_path_bits, ret, err);
}

int api_google_registry_mask(const char *mask, unsigned *ret, struct api_err *err)
{
    return mask_parse(mask, registry_path_bits, ret, err);
}
