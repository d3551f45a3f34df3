/* The parts of a Google registry's stored JSON (db_registry.extra_json) that
 * the device bridges act on: mqttConfig/httpConfig enabled states and the
 * notification configs that route events and state upstream (DESIGN.md
 * "Upstream topic namespace"). Pure: no store access. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define REG_MAX_EVENT_ROUTES 10     /* Google: at most 10 eventNotificationConfigs */

struct reg_route {
    char subfolder[256];            /* "" = the default route (matches anything) */
    char topic[512];                /* "PROJECT/TOPIC" from projects/PROJECT/topics/TOPIC */
};

struct reg_registry_cfg {
    bool mqtt_enabled;              /* unset = enabled */
    bool http_enabled;
    size_t n_event_routes;
    struct reg_route event_routes[REG_MAX_EVENT_ROUTES];
    bool has_state_route;
    struct reg_route state_route;
};

/* Parses extra_json (NULL or "" = all defaults). Unknown fields are ignored
 * (the admin API validated them). Returns 0 or -EINVAL for JSON that is not
 * an object or a Pub/Sub name that is not projects/P/topics/T. */
int reg_registry_cfg_parse(const char *extra_json, struct reg_registry_cfg *ret);

/* The route for an event subfolder (NULL or "" for none): the first route
 * whose subfolder equals it exactly, else the first default route, else
 * NULL (the daemon's default topic). Google's rule [google-iot-core.md 1.5]. */
const struct reg_route *reg_registry_event_route(const struct reg_registry_cfg *c,
                                                 const char *subfolder, size_t len);
