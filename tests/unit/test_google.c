/* Google personality topic rules: what a device may publish and subscribe,
 * and how its topics map to the upstream namespace and back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bridges/mqtt/google.h"
#include "testutil.h"

static const struct google_ident id = {
    .prefix = "google/", .project = "p1", .location = "us-central1", .registry = "reg", .device = "dev-1",
};

static int pub(const char *topic, char *out, enum google_pub_kind *kind)
{
    return google_map_publish(&id, (const uint8_t *)topic, strlen(topic), out, 512, kind);
}

static int sub(const char *filter, char *out, enum google_sub_kind *kind)
{
    return google_map_subscribe(&id, (const uint8_t *)filter, strlen(filter), out, 512, kind);
}

static void test_publish_map(void)
{
    char out[512];
    enum google_pub_kind k;

    CHECK(pub("/devices/dev-1/events", out, &k) > 0);
    CHECK(strcmp(out, "google/p1/us-central1/reg/dev-1/events") == 0 && k == GOOGLE_PUB_EVENTS);
    CHECK(pub("/devices/dev-1/events/a/b", out, &k) > 0);
    CHECK(strcmp(out, "google/p1/us-central1/reg/dev-1/events/a/b") == 0);
    CHECK(pub("/devices/dev-1/state", out, &k) > 0);
    CHECK(strcmp(out, "google/p1/us-central1/reg/dev-1/state") == 0 && k == GOOGLE_PUB_STATE);
    /* Default deny: other devices, other topics, near misses. */
    CHECK(pub("/devices/dev-2/events", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1x/events", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1/events/", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1/state/x", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1/config", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1/commands", out, &k) == -EACCES);
    CHECK(pub("devices/dev-1/events", out, &k) == -EACCES);
    CHECK(pub("google/p1/us-central1/reg/dev-1/events", out, &k) == -EACCES);
    CHECK(pub("$iotcored/control", out, &k) == -EACCES);
    CHECK(pub("/devices/dev-1", out, &k) == -EACCES);
    /* Output too small is an error, not a truncation. */
    CHECK(google_map_publish(&id, (const uint8_t *)"/devices/dev-1/events", 21, out, 10, &k) == -ENOSPC);
    CHECK(google_max_payload(GOOGLE_PUB_EVENTS) == 256 * 1024);
    CHECK(google_max_payload(GOOGLE_PUB_STATE) == 64 * 1024);
}

static void test_subscribe_map(void)
{
    char out[512];
    enum google_sub_kind k;

    CHECK(sub("/devices/dev-1/config", out, &k) == 0 && k == GOOGLE_SUB_CONFIG);
    CHECK(sub("/devices/dev-1/commands/#", out, &k) > 0 && k == GOOGLE_SUB_COMMANDS);
    CHECK(strcmp(out, "google/p1/us-central1/reg/dev-1/commands/#") == 0);
    CHECK(sub("/devices/dev-1/commands", out, &k) > 0);
    CHECK(strcmp(out, "google/p1/us-central1/reg/dev-1/commands") == 0);
    CHECK(sub("/devices/dev-1/commands/x/y", out, &k) > 0);
    CHECK(sub("/devices/dev-2/commands/#", out, &k) == -EACCES);
    CHECK(sub("/devices/+/commands/#", out, &k) == -EACCES);
    CHECK(sub("#", out, &k) == -EACCES);
    CHECK(sub("/devices/dev-1/#", out, &k) == -EACCES);
    CHECK(sub("/devices/dev-1/events", out, &k) == -EACCES);
    CHECK(sub("$SYS/#", out, &k) == -EACCES);
}

static void test_delivery_map(void)
{
    char out[512];
    const char *t1 = "google/p1/us-central1/reg/dev-1/commands";
    const char *t2 = "google/p1/us-central1/reg/dev-1/commands/a/b";
    const char *t3 = "google/p1/us-central1/reg/dev-1/commandsX";
    const char *t4 = "google/p1/us-central1/reg/dev-2/commands";

    CHECK(google_map_delivery(&id, (const uint8_t *)t1, strlen(t1), out, sizeof(out)) > 0);
    CHECK(strcmp(out, "/devices/dev-1/commands") == 0);
    CHECK(google_map_delivery(&id, (const uint8_t *)t2, strlen(t2), out, sizeof(out)) > 0);
    CHECK(strcmp(out, "/devices/dev-1/commands/a/b") == 0);
    CHECK(google_map_delivery(&id, (const uint8_t *)t3, strlen(t3), out, sizeof(out)) == -EACCES);
    CHECK(google_map_delivery(&id, (const uint8_t *)t4, strlen(t4), out, sizeof(out)) == -EACCES);
}

int main(void)
{
    test_publish_map();
    test_subscribe_map();
    test_delivery_map();
    return tu_finish("test_google");
}
