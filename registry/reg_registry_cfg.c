/* Registry settings the bridges act on, read from the stored API JSON. */
#include "registry/reg_registry_cfg.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* "projects/P/topics/T" -> "P/T". */
static int pubsub_to_topic(const char *name, char *out, size_t cap)
{
    static const char head[] = "projects/";
    const char *p, *t;

    if (strncmp(name, head, sizeof(head) - 1) != 0)
        return -EINVAL;
    p = name + sizeof(head) - 1;
    t = strstr(p, "/topics/");
    if (!t || t == p || t[8] == '\0' || strchr(t + 8, '/'))
        return -EINVAL;
    int n = snprintf(out, cap, "%.*s/%s", (int)(t - p), p, t + 8);
    return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

static bool enabled_state(json_t *root, const char *obj, const char *field, const char *disabled)
{
    const char *v = json_string_value(json_object_get(json_object_get(root, obj), field));
    return !(v && strcmp(v, disabled) == 0);
}

int reg_registry_cfg_parse(const char *extra_json, struct reg_registry_cfg *ret)
{
    struct reg_registry_cfg c;
    json_error_t jerr;
    int r = 0;

    memset(&c, 0, sizeof(c));
    c.mqtt_enabled = c.http_enabled = true;
    if (!extra_json || !*extra_json) {
        *ret = c;
        return 0;
    }
    json_t *root = json_loads(extra_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return -EINVAL;
    }
    c.mqtt_enabled = enabled_state(root, "mqttConfig", "mqttEnabledState", "MQTT_DISABLED");
    c.http_enabled = enabled_state(root, "httpConfig", "httpEnabledState", "HTTP_DISABLED");

    json_t *events = json_object_get(root, "eventNotificationConfigs");
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        if (c.n_event_routes == REG_MAX_EVENT_ROUTES)
            break;
        const char *topic = json_string_value(json_object_get(e, "pubsubTopicName"));
        const char *sub = json_string_value(json_object_get(e, "subfolderMatches"));
        struct reg_route *rt = &c.event_routes[c.n_event_routes];
        if (!topic || pubsub_to_topic(topic, rt->topic, sizeof(rt->topic)) < 0) {
            r = -EINVAL;
            break;
        }
        snprintf(rt->subfolder, sizeof(rt->subfolder), "%s", sub ? sub : "");
        c.n_event_routes++;
    }
    const char *st = json_string_value(
        json_object_get(json_object_get(root, "stateNotificationConfig"), "pubsubTopicName"));
    if (r == 0 && st && *st) {
        if (pubsub_to_topic(st, c.state_route.topic, sizeof(c.state_route.topic)) < 0)
            r = -EINVAL;
        else
            c.has_state_route = true;
    }
    json_decref(root);
    if (r == 0)
        *ret = c;
    return r;
}

const struct reg_route *reg_registry_event_route(const struct reg_registry_cfg *c,
                                                 const char *subfolder, size_t len)
{
    const struct reg_route *deflt = NULL;
    for (size_t i = 0; i < c->n_event_routes; i++) {
        const struct reg_route *rt = &c->event_routes[i];
        if (rt->subfolder[0] == '\0') {
            if (!deflt)
                deflt = rt;
            continue;
        }
        if (subfolder && strlen(rt->subfolder) == len && memcmp(rt->subfolder, subfolder, len) == 0)
            return rt;
    }
    return deflt;
}
