/* AWS topic rules: keepalive clamp, client ids, limits, the upstream map and
 * AWS's "a/#" deviation. */
#include <errno.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "testutil.h"

#define S(x) (const uint8_t *)(x), strlen(x)

static bool m(const char *filter, const char *topic)
{
    return aws_topic_matches(S(filter), S(topic));
}

int main(void)
{
    /* Keepalive: 0 and > 1200 -> 1200; 1..29 -> 30. */
    CHECK_EQ(aws_keepalive(0), 1200);
    CHECK_EQ(aws_keepalive(1), 30);
    CHECK_EQ(aws_keepalive(29), 30);
    CHECK_EQ(aws_keepalive(30), 30);
    CHECK_EQ(aws_keepalive(600), 600);
    CHECK_EQ(aws_keepalive(1200), 1200);
    CHECK_EQ(aws_keepalive(1201), 1200);
    CHECK_EQ(aws_keepalive(65535), 1200);

    /* Client ids: 1..128 bytes, no leading '$'. */
    char id[200];
    memset(id, 'a', sizeof(id));
    CHECK(aws_client_id_ok((const uint8_t *)id, 128));
    CHECK(!aws_client_id_ok((const uint8_t *)id, 129));
    CHECK(!aws_client_id_ok((const uint8_t *)id, 0));
    CHECK(!aws_client_id_ok(S("$dev")));
    CHECK(aws_client_id_ok(S("dev$")));

    /* Limits: 256 bytes, 7 slashes. */
    char t[400];
    memset(t, 'x', sizeof(t));
    CHECK_EQ(aws_topic_check((const uint8_t *)t, 256, false), 0);
    CHECK_EQ(aws_topic_check((const uint8_t *)t, 257, false), -EMSGSIZE);
    CHECK_EQ(aws_topic_check(S("a/b/c/d/e/f/g/h"), false), 0);
    CHECK_EQ(aws_topic_check(S("a/b/c/d/e/f/g/h/i"), false), -EMSGSIZE);
    CHECK_EQ(aws_topic_check(S("a/b/c/d/e/f/g/#"), true), 0);
    /* Reserved topics: a device publishes only the requests the daemon
     * serves, and subscribes only where it answers. */
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/update"), false), 0);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/name/n1/get"), false), 0);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/update/accepted"), true), 0);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/update/accepted"), false), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/update/delta"), false), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/shadow/name/n1/update/documents"), false), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/things/t/jobs/get"), false), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/certificates/create/json"), false), 0);
    CHECK_EQ(aws_topic_check(S("$aws/certificates/create/cbor"), false), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/certificates/create-from-csr/json"), false), 0);
    CHECK_EQ(aws_topic_check(S("$aws/certificates/create/json/accepted"), true), 0);
    CHECK_EQ(aws_topic_check(S("$aws/provisioning-templates/tmpl/provision/json"), false), 0);
    CHECK_EQ(aws_topic_check(S("$aws/provisioning-templates/tmpl/provision/json/rejected"), true), 0);
    CHECK_EQ(aws_topic_check(S("$aws/sitewise/x"), true), -EACCES);
    CHECK_EQ(aws_reserved_request(S("$aws/things/t/shadow/delete")), AWS_RESERVED_SHADOW);
    CHECK_EQ(aws_reserved_request(S("$aws/things/t/shadow/name/n/get")), AWS_RESERVED_SHADOW);
    CHECK_EQ(aws_reserved_request(S("$aws/things//shadow/get")), AWS_RESERVED_NONE);
    CHECK_EQ(aws_reserved_request(S("$aws/things/t/shadow/name//get")), AWS_RESERVED_NONE);
    CHECK_EQ(aws_reserved_request(S("$aws/things/t/shadow/name/n/x/get")), AWS_RESERVED_NONE);
    CHECK_EQ(aws_reserved_request(S("$aws/things/t/shadow")), AWS_RESERVED_NONE);
    CHECK_EQ(aws_reserved_request(S("$aws/certificates/create-from-csr/json")),
             AWS_RESERVED_PROVISIONING);
    CHECK_EQ(aws_reserved_request(S("$aws/provisioning-templates/p/provision/json")),
             AWS_RESERVED_PROVISIONING);
    CHECK_EQ(aws_reserved_request(S("$aws/provisioning-templates//provision/json")),
             AWS_RESERVED_NONE);
    CHECK_EQ(aws_reserved_request(S("dt/things/t/shadow/get")), AWS_RESERVED_NONE);
    CHECK_EQ(aws_topic_check(S("$SYS/broker"), true), -EACCES);
    CHECK_EQ(aws_topic_check(S("$aws/rules/r/a/b/c/d/e/f/g/h"), false), -EACCES);
    /* Lifecycle events: subscribe only. */
    CHECK_EQ(aws_topic_check(S("$aws/events/presence/connected/+"), true), 0);
    CHECK_EQ(aws_topic_check(S("$aws/events/presence/connected/d1"), false), -EACCES);

    /* The upstream map and back. */
    char out[64];
    CHECK_EQ(aws_map_up("aws/", S("dt/1"), out, sizeof(out)), 8);
    CHECK_STR(out, "aws/dt/1");
    CHECK_EQ(aws_map_up("aws/", S("0123456789"), out, 12), -ENOSPC);
    const uint8_t *d;
    size_t dl;
    CHECK(aws_map_down("aws/", S("aws/dt/1"), &d, &dl) && dl == 4 && memcmp(d, "dt/1", 4) == 0);
    CHECK(!aws_map_down("aws/", S("google/p/l"), &d, &dl));
    CHECK(!aws_map_down("aws/", S("aws/"), &d, &dl));

    /* AWS's deviation: "a/#" matches "a/" and below, not "a". */
    CHECK(!m("sensor/#", "sensor"));
    CHECK(m("sensor/#", "sensor/"));
    CHECK(m("sensor/#", "sensor/x"));
    CHECK(m("sensor/#", "sensor/x/y"));
    CHECK(!m("+/#", "sensor"));
    CHECK(m("+/#", "sensor/x"));
    CHECK(!m("a/+/#", "a/b"));
    CHECK(m("a/+/#", "a/b/c"));
    /* Otherwise MQTT's rules. */
    CHECK(m("#", "a"));
    CHECK(m("a/+", "a/b"));
    CHECK(!m("a/+", "a/b/c"));
    CHECK(m("a/b", "a/b"));
    CHECK(!m("a/b", "a/c"));
    CHECK(!m("#", "$aws/x"));
    return tu_finish("aws_topics");
}
