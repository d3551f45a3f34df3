/* libFuzzer target for the AWS topic rules a device's PUBLISH and
 * SUBSCRIBE go through before anything else (bridges/mqtt/aws.c:
 * aws_topic_check, aws_reserved_request) and the shadow request parser
 * (registry/reg_aws_shadow.h: reg_aws_shadow_topic). The input is the
 * topic. Must never crash or read out of bounds; abort() when they
 * disagree: a shadow request for one is a shadow request for the other,
 * a publishable reserved topic is a served request, and a parsed request
 * names a thing (and shadow) that are slices of the topic. Crashes found:
 * a NUL inside a name (cut the C string short). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "registry/reg_aws_shadow.h"
#include "fuzz_target.h"

static bool contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char thing[AWS_SHADOW_MAX_THING_NAME + 1], shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1];
    enum reg_shadow_op op;

    /* A heap copy of exactly size bytes, so ASan sees any overread. */
    uint8_t *t = malloc(size ? size : 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    int pub = aws_topic_check(t, size, false);
    int sub = aws_topic_check(t, size, true);
    enum aws_reserved kind = aws_reserved_request(t, size);
    int parsed = reg_aws_shadow_topic(t, size, thing, shadow, &op);

    REQUIRE(pub == 0 || pub == -EMSGSIZE || pub == -EACCES);
    REQUIRE(sub == 0 || sub == -EMSGSIZE || sub == -EACCES);
    if (size > 0 && t[0] == '$' && pub == 0)
        REQUIRE(kind != AWS_RESERVED_NONE);
    /* Both parsers agree on what a shadow request is (the topic parser
     * also refuses names too long for its buffers, and names holding a
     * NUL, which the MQTT codec refuses before either runs). */
    if (kind == AWS_RESERVED_SHADOW)
        REQUIRE(parsed == 0 || parsed == -EINVAL || (parsed == -ENOENT && memchr(t, 0, size)));
    if (parsed == 0) {
        REQUIRE(kind == AWS_RESERVED_SHADOW);
        REQUIRE(*thing && contains(t, size, thing));
        REQUIRE(!*shadow || contains(t, size, shadow));
        REQUIRE(op == REG_SHADOW_GET || op == REG_SHADOW_UPDATE || op == REG_SHADOW_DELETE);
    }
    free(t);
    return 0;
}
