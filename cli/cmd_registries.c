/* iotcorectl registries create|list|describe|update|delete: the
 * DeviceRegistry routes of the admin API (POST/GET/PATCH/DELETE
 * /v1/projects/P/locations/L/registries[/R]), with gcloud's flags. */
#include "cli/cmd.h"

#include <errno.h>
#include <string.h>

#include "cli/api.h"
#include "cli/creds.h"

static const char *const log_levels[] = { "none", "error", "info", "debug", NULL };

static int enabled_state(json_t *body, struct ctl_mask *m, int on, const char *field,
                         const char *key, const char *yes, const char *no)
{
    if (on < 0)
        return 0;
    ctl_mask_add(m, field);
    return ctl_set(body, field, json_pack("{s:s}", key, on ? yes : no));
}

/* Sets in body what the flags say and names each field in m: the same
 * flags serve create (m unused) and update (m is the updateMask). */
static int registry_fields(struct ctl *c, const struct ctl_args *a, json_t *body,
                           struct ctl_mask *m)
{
    const char *v;
    int mqtt, http, rc;

    if (ctl_args_tristate(a, CTL_OPT_ENABLE_MQTT, CTL_OPT_NO_ENABLE_MQTT, &mqtt) < 0 ||
        ctl_args_tristate(a, CTL_OPT_ENABLE_HTTP, CTL_OPT_NO_ENABLE_HTTP, &http) < 0)
        return -EINVAL;
    rc = enabled_state(body, m, mqtt, "mqttConfig", "mqttEnabledState", "MQTT_ENABLED",
                       "MQTT_DISABLED");
    if (rc == 0)
        rc = enabled_state(body, m, http, "httpConfig", "httpEnabledState", "HTTP_ENABLED",
                           "HTTP_DISABLED");
    if (rc < 0)
        return rc;
    if (ctl_args_has(a, CTL_OPT_EVENT_CONFIG)) {
        json_t *arr = json_array();

        if ((rc = ctl_set(body, "eventNotificationConfigs", arr)) < 0)
            return rc;
        for (size_t i = 0; i < a->opt[CTL_OPT_EVENT_CONFIG].n; i++) {
            json_t *one = NULL;

            rc = ctl_event_config_from_spec(c, a->opt[CTL_OPT_EVENT_CONFIG].v[i], &one);
            if (rc < 0)
                return rc;
            if (json_array_append_new(arr, one) < 0)
                return ctl_oom();
        }
        ctl_mask_add(m, "eventNotificationConfigs");
    }
    v = ctl_args_get(a, CTL_OPT_STATE_TOPIC);
    if (v) {
        /* An empty topic clears the state notification config. */
        json_t *cfg = json_object();

        if ((rc = ctl_set(body, "stateNotificationConfig", cfg)) < 0)
            return rc;
        if (*v) {
            json_t *t = ctl_topic_name(c, v);

            if (!t)
                return -EINVAL;
            if ((rc = ctl_set(cfg, "pubsubTopicName", t)) < 0)
                return rc;
        }
        ctl_mask_add(m, "stateNotificationConfig");
    }
    v = ctl_args_get(a, CTL_OPT_LOG_LEVEL);
    if (v) {
        json_t *lvl = ctl_enum_value("--log-level", v, log_levels);

        if (!lvl)
            return -EINVAL;
        if ((rc = ctl_set(body, "logLevel", lvl)) < 0)
            return rc;
        ctl_mask_add(m, "logLevel");
    }
    if (ctl_args_has(a, CTL_OPT_PUBLIC_KEY_PATH)) {
        json_t *arr = json_array();

        if ((rc = ctl_set(body, "credentials", arr)) < 0)
            return rc;
        for (size_t i = 0; i < a->opt[CTL_OPT_PUBLIC_KEY_PATH].n; i++) {
            json_t *cred = NULL;

            rc = ctl_registry_cred_from_file(a->opt[CTL_OPT_PUBLIC_KEY_PATH].v[i], &cred);
            if (rc < 0)
                return rc;
            if (json_array_append_new(arr, cred) < 0)
                return ctl_oom();
        }
        ctl_mask_add(m, "credentials");
    }
    return 0;
}

int ctl_registries_create(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_mask unused = { 0 };
    struct ctl_url u;
    json_t *body = json_object(), *reply = NULL;
    int rc;

    if ((rc = ctl_set(body, "id", json_string(id))) < 0 ||
        (rc = registry_fields(c, a, body, &unused)) < 0)
        goto out;
    ctl_url_registry(&u, c, NULL);
    rc = ctl_api_call(c, "POST", &u, body, &reply);
    if (rc == 0)
        rc = ctl_show(c, reply, "Created registry [%s].", id);
out:
    json_decref(body);
    return rc;
}

static void cell_location(const json_t *item, char *out, size_t cap)
{
    /* name = projects/P/locations/L/registries/R: the fourth segment. */
    const char *name = json_string_value(json_object_get(item, "name"));
    const char *p = name;

    for (int slash = 0; p && slash < 3; slash++) {
        p = strchr(p, '/');
        if (p)
            p++;
    }
    if (p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    }
}

int ctl_registries_list(struct ctl *c, const struct ctl_args *a, const char *unused)
{
    static const struct ctl_col cols[] = {
        { "ID", "id", NULL, NULL },
        { "LOCATION", NULL, NULL, cell_location },
        /* An unset state means enabled [PROTO]. */
        { "MQTT_ENABLED", "mqttConfig.mqttEnabledState", "MQTT_ENABLED", NULL },
        { "HTTP_ENABLED", "httpConfig.httpEnabledState", "HTTP_ENABLED", NULL },
    };
    struct ctl_url u;
    json_t *items = NULL;
    int rc;

    ctl_url_registry(&u, c, NULL);
    if ((rc = ctl_add_page_size(a, &u)) < 0)
        return rc;
    rc = ctl_api_list(c, &u, "deviceRegistries", &items);
    if (rc < 0)
        return rc;
    return ctl_show_list(c, items, cols, sizeof(cols) / sizeof(cols[0]));
}

int ctl_registries_describe(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_url u;

    ctl_url_registry(&u, c, id);
    return ctl_describe(c, &u);
}

int ctl_registries_update(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_mask m = { 0 };
    struct ctl_url u;
    json_t *body = json_object();
    int rc;

    if (!body)
        return ctl_oom();
    if ((rc = registry_fields(c, a, body, &m)) < 0)
        goto out;
    if (m.len == 0) {
        ctl_error("registries update: nothing to update; give at least one of "
                  "--[no-]enable-mqtt-config, --[no-]enable-http-config, "
                  "--event-notification-config, --state-pubsub-topic, --log-level, "
                  "--public-key-path");
        rc = -EINVAL;
        goto out;
    }
    ctl_url_registry(&u, c, id);
    rc = ctl_patch(c, &u, m.s, body, "registry", id);
out:
    json_decref(body);
    return rc;
}

int ctl_registries_delete(struct ctl *c, const struct ctl_args *a, const char *id)
{
    struct ctl_url u;
    json_t *reply = NULL;
    int rc;

    ctl_url_registry(&u, c, id);
    rc = ctl_api_call(c, "DELETE", &u, NULL, &reply);
    if (rc < 0)
        return rc;
    return ctl_show(c, reply, "Deleted registry [%s].", id);
}
