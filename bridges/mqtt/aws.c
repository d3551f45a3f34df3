/* AWS IoT Core topic rules: limits, the upstream namespace, and AWS's
 * matching. Pure; unit-tested in tests/unit/test_aws_topics.c. */
#include "bridges/mqtt/aws.h"

#include <errno.h>
#include <string.h>

#include "bridges/mqtt/codec.h"

uint16_t aws_keepalive(uint16_t requested)
{
    if (requested == 0 || requested > AWS_KEEPALIVE_MAX)
        return AWS_KEEPALIVE_MAX;
    if (requested < AWS_KEEPALIVE_MIN)
        return AWS_KEEPALIVE_MIN;
    return requested;
}

bool aws_client_id_ok(const uint8_t *id, size_t len)
{
    return len >= 1 && len <= AWS_MAX_CLIENT_ID && id[0] != '$';
}

static bool has_prefix(const uint8_t *p, size_t len, const char *pfx)
{
    size_t n = strlen(pfx);
    return len >= n && memcmp(p, pfx, n) == 0;
}

/* Length of "$aws/rules/NAME/" or "$share/GROUP/" at the start, which AWS
 * does not count towards the limits; 0 when neither. */
static size_t uncounted_prefix(const uint8_t *t, size_t len)
{
    size_t skip;
    if (has_prefix(t, len, "$aws/rules/"))
        skip = strlen("$aws/rules/");
    else if (has_prefix(t, len, "$share/"))
        skip = strlen("$share/");
    else
        return 0;
    const uint8_t *slash = memchr(t + skip, '/', len - skip);
    return slash ? (size_t)(slash - t) + 1 : 0;
}

int aws_topic_check(const uint8_t *topic, size_t len, bool subscribe)
{
    size_t skip = uncounted_prefix(topic, len);
    size_t slashes = 0;

    if (len - skip > AWS_MAX_TOPIC)
        return -EMSGSIZE;
    for (size_t i = skip; i < len; i++)
        if (topic[i] == '/')
            slashes++;
    if (slashes > AWS_MAX_SLASHES)
        return -EMSGSIZE;
    /* Reserved topics are the daemon's: a device may publish only the
     * requests it serves (shadows, fleet provisioning) and subscribe only
     * where the daemon answers or announces. Jobs, Basic Ingest
     * ($aws/rules/) and shared subscriptions are not served. */
    if (len > 0 && topic[0] == '$') {
        if (!subscribe)
            return aws_reserved_request(topic, len) != AWS_RESERVED_NONE ? 0 : -EACCES;
        static const char *const served[] = {
            "$aws/things/", "$aws/events/", "$aws/certificates/", "$aws/provisioning-templates/",
        };
        for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
            if (has_prefix(topic, len, served[i]))
                return 0;
        return -EACCES;
    }
    return 0;
}

/* Splits t into '/'-separated levels (at most max); returns the count, or
 * max + 1 when there are more. */
static size_t levels(const uint8_t *t, size_t len, struct mqtt_slice *lv, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && t[i] != '/')
            continue;
        if (n == max)
            return max + 1;
        lv[n].p = t + start;
        lv[n].len = i - start;
        n++;
        start = i + 1;
    }
    return n;
}

static bool level_is(const struct mqtt_slice *l, const char *s)
{
    return l->len == strlen(s) && memcmp(l->p, s, l->len) == 0;
}

enum aws_reserved aws_reserved_request(const uint8_t *topic, size_t len)
{
    struct mqtt_slice lv[8];
    size_t n = levels(topic, len, lv, 8);

    if (n < 4 || !level_is(&lv[0], "$aws"))
        return AWS_RESERVED_NONE;
    /* $aws/things/T/shadow/OP, $aws/things/T/shadow/name/N/OP */
    if (level_is(&lv[1], "things") && lv[2].len > 0 && level_is(&lv[3], "shadow") &&
        (n == 5 || (n == 7 && level_is(&lv[4], "name") && lv[5].len > 0))) {
        const struct mqtt_slice *op = &lv[n - 1];
        if (level_is(op, "get") || level_is(op, "update") || level_is(op, "delete"))
            return AWS_RESERVED_SHADOW;
        return AWS_RESERVED_NONE;
    }
    /* $aws/certificates/create/json, $aws/certificates/create-from-csr/json */
    if (n == 4 && level_is(&lv[1], "certificates") && level_is(&lv[3], "json") &&
        (level_is(&lv[2], "create") || level_is(&lv[2], "create-from-csr")))
        return AWS_RESERVED_PROVISIONING;
    /* $aws/provisioning-templates/NAME/provision/json */
    if (n == 5 && level_is(&lv[1], "provisioning-templates") && lv[2].len > 0 &&
        level_is(&lv[3], "provision") && level_is(&lv[4], "json"))
        return AWS_RESERVED_PROVISIONING;
    return AWS_RESERVED_NONE;
}

int aws_map_up(const char *prefix, const uint8_t *topic, size_t len, char *out, size_t cap)
{
    size_t n = strlen(prefix);
    if (n + len + 1 > cap)
        return -ENOSPC;
    memcpy(out, prefix, n);
    memcpy(out + n, topic, len);
    out[n + len] = '\0';
    return (int)(n + len);
}

bool aws_map_down(const char *prefix, const uint8_t *topic, size_t len, const uint8_t **ret,
                  size_t *ret_len)
{
    size_t n = strlen(prefix);
    if (len <= n || memcmp(topic, prefix, n) != 0)
        return false;
    *ret = topic + n;
    *ret_len = len - n;
    return true;
}

bool aws_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen)
{
    /* "a/#" must not match "a" on AWS (MQTT says it does [MQTT-4.7.1-2]):
     * the topic needs at least as many '/' as the filter, so it reaches the
     * level of the '#' ("a/" and "a/b" match). */
    if (flen >= 2 && filter[flen - 1] == '#' && filter[flen - 2] == '/') {
        size_t fl = 0, tl = 0;
        for (size_t i = 0; i < flen; i++)
            fl += filter[i] == '/';
        for (size_t i = 0; i < tlen; i++)
            tl += topic[i] == '/';
        if (tl < fl)
            return false;
    }
    return mqtt_topic_matches(filter, flen, topic, tlen);
}
