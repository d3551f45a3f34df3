/* Registry settings the bridges act on (reg_registry_cfg) and gateway
 * settings (reg_gateway): parsing of the stored API JSON and Google's
 * routing rule for event subfolders. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_gateway.h"
#include "registry/reg_registry_cfg.h"
#include "testutil.h"

static void test_defaults(void)
{
    struct reg_registry_cfg c;

    CHECK_EQ(reg_registry_cfg_parse(NULL, &c), 0);
    CHECK(c.mqtt_enabled && c.http_enabled);
    CHECK_EQ(c.n_event_routes, 0);
    CHECK(!c.has_state_route);
    CHECK(reg_registry_event_route(&c, "x", 1) == NULL);
    CHECK_EQ(reg_registry_cfg_parse("{}", &c), 0);
    CHECK(c.mqtt_enabled && c.http_enabled);
    CHECK_EQ(reg_registry_cfg_parse("[]", &c), -EINVAL);
    CHECK_EQ(reg_registry_cfg_parse("{", &c), -EINVAL);
}

static void test_enabled_states(void)
{
    struct reg_registry_cfg c;

    CHECK_EQ(reg_registry_cfg_parse("{\"mqttConfig\":{\"mqttEnabledState\":\"MQTT_DISABLED\"},"
                                    "\"httpConfig\":{\"httpEnabledState\":\"HTTP_ENABLED\"}}", &c), 0);
    CHECK(!c.mqtt_enabled);
    CHECK(c.http_enabled);
    CHECK_EQ(reg_registry_cfg_parse("{\"httpConfig\":{\"httpEnabledState\":\"HTTP_DISABLED\"}}", &c), 0);
    CHECK(c.mqtt_enabled);
    CHECK(!c.http_enabled);
}

static void test_routes(void)
{
    struct reg_registry_cfg c;
    const struct reg_route *rt;
    const char *json =
        "{\"eventNotificationConfigs\":["
        "{\"subfolderMatches\":\"alerts\",\"pubsubTopicName\":\"projects/p/topics/alerts\"},"
        "{\"pubsubTopicName\":\"projects/p/topics/all\"},"
        "{\"subfolderMatches\":\"a/b\",\"pubsubTopicName\":\"projects/q/topics/deep\"}],"
        "\"stateNotificationConfig\":{\"pubsubTopicName\":\"projects/p/topics/state\"}}";

    CHECK_EQ(reg_registry_cfg_parse(json, &c), 0);
    CHECK_EQ(c.n_event_routes, 3);
    CHECK(c.has_state_route);
    CHECK_STR(c.state_route.topic, "p/state");
    /* Google: the first config whose subfolderMatches equals the subfolder
     * exactly, else the default (empty) one. */
    rt = reg_registry_event_route(&c, "alerts", 6);
    CHECK(rt && strcmp(rt->topic, "p/alerts") == 0);
    rt = reg_registry_event_route(&c, "a/b", 3);
    CHECK(rt && strcmp(rt->topic, "q/deep") == 0);
    rt = reg_registry_event_route(&c, "alert", 5);      /* no prefix matching */
    CHECK(rt && strcmp(rt->topic, "p/all") == 0);
    rt = reg_registry_event_route(&c, NULL, 0);         /* no subfolder */
    CHECK(rt && strcmp(rt->topic, "p/all") == 0);

    /* Without a default route, an unmatched subfolder has no route. */
    CHECK_EQ(reg_registry_cfg_parse("{\"eventNotificationConfigs\":[{\"subfolderMatches\":\"x\","
                                    "\"pubsubTopicName\":\"projects/p/topics/x\"}]}", &c), 0);
    CHECK(reg_registry_event_route(&c, "y", 1) == NULL);

    /* Malformed Pub/Sub names are refused, not routed somewhere odd. */
    CHECK_EQ(reg_registry_cfg_parse("{\"eventNotificationConfigs\":[{\"pubsubTopicName\":"
                                    "\"projects/p/topics/\"}]}", &c), -EINVAL);
    CHECK_EQ(reg_registry_cfg_parse("{\"eventNotificationConfigs\":[{\"pubsubTopicName\":"
                                    "\"topics/x\"}]}", &c), -EINVAL);
    CHECK_EQ(reg_registry_cfg_parse("{\"stateNotificationConfig\":{\"pubsubTopicName\":"
                                    "\"projects/p/topics/a/b\"}}", &c), -EINVAL);
}

static void test_gateway_cfg(void)
{
    struct reg_gateway_cfg g;

    reg_gateway_cfg_parse(NULL, &g);
    CHECK(!g.is_gateway);
    CHECK_EQ(g.auth, REG_GW_AUTH_UNSPECIFIED);
    reg_gateway_cfg_parse("{\"gatewayConfig\":{\"gatewayType\":\"GATEWAY\","
                          "\"gatewayAuthMethod\":\"ASSOCIATION_ONLY\"}}", &g);
    CHECK(g.is_gateway);
    CHECK_EQ(g.auth, REG_GW_AUTH_ASSOCIATION_ONLY);
    reg_gateway_cfg_parse("{\"gatewayConfig\":{\"gatewayType\":\"GATEWAY\","
                          "\"gatewayAuthMethod\":\"ASSOCIATION_AND_DEVICE_AUTH_TOKEN\"}}", &g);
    CHECK_EQ(g.auth, REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN);
    reg_gateway_cfg_parse("{\"gatewayConfig\":{\"gatewayType\":\"NON_GATEWAY\","
                          "\"gatewayAuthMethod\":\"DEVICE_AUTH_TOKEN_ONLY\"}}", &g);
    CHECK(!g.is_gateway);
    CHECK_EQ(g.auth, REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY);
    reg_gateway_cfg_parse("{\"gatewayConfig\":{\"gatewayType\":\"GATEWAY\","
                          "\"gatewayAuthMethod\":\"SOMETHING\"}}", &g);
    CHECK_EQ(g.auth, REG_GW_AUTH_UNSPECIFIED);
    reg_gateway_cfg_parse("not json", &g);
    CHECK(!g.is_gateway);
}

static void test_attach_token(void)
{
    char *t = NULL;

    CHECK_EQ(reg_gateway_attach_token("", 0, &t), 0);
    CHECK(t == NULL);
    CHECK_EQ(reg_gateway_attach_token("{}", 2, &t), 0);
    CHECK(t == NULL);
    /* The Python sample's association-only payload. */
    const char *empty = "{\"authorization\" : \"\"}";
    CHECK_EQ(reg_gateway_attach_token(empty, strlen(empty), &t), 0);
    CHECK(t == NULL);
    const char *tok = "{\"authorization\":\"a.b.c\"}";
    CHECK_EQ(reg_gateway_attach_token(tok, strlen(tok), &t), 0);
    CHECK(t && strcmp(t, "a.b.c") == 0);
    free(t);
    t = NULL;
    CHECK_EQ(reg_gateway_attach_token("{\"authorization\":5}", 19, &t), -EINVAL);
    CHECK_EQ(reg_gateway_attach_token("nope", 4, &t), -EINVAL);
    CHECK_EQ(reg_gateway_attach_token("[\"x\"]", 5, &t), -EINVAL);
    CHECK(t == NULL);
    CHECK_STR(reg_attach_result_word(REG_ATTACH_NOT_BOUND), "not-bound");
}

int main(void)
{
    test_defaults();
    test_enabled_states();
    test_routes();
    test_gateway_cfg();
    test_attach_token();
    return tu_finish("test_registry_cfg");
}
