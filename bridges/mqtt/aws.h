/* The AWS IoT Core personality: pure topic rules [aws-iot-core.md 3.2-3.9].
 * A device topic T maps to {aws_prefix}T upstream and back (DESIGN.md
 * "Upstream topic namespace"). AWS's limits apply to topics and filters
 * (256 bytes, at most 7 '/', the $aws/rules/NAME/ and $share/GROUP/
 * prefixes not counted), and its one matching deviation: "a/#" does not
 * match "a". Reserved ($...) topics are the daemon's to serve (shadows,
 * provisioning, lifecycle events); none reaches the broker as a plain
 * device topic. Which topic a device may use is the policy's decision
 * (registry/aws_policy.h), made by the session. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWS_MAX_TOPIC 256
#define AWS_MAX_SLASHES 7
#define AWS_MAX_PAYLOAD (128 * 1024)
#define AWS_MAX_FILTERS_PER_SUBSCRIBE 8
#define AWS_MAX_CLIENT_ID 128
/* Keepalive: 0 or over 1200 s is taken as 1200; under 30 s as 30. */
#define AWS_KEEPALIVE_MIN 30
#define AWS_KEEPALIVE_MAX 1200

/* The keepalive AWS applies for a requested one. */
uint16_t aws_keepalive(uint16_t requested);

/* Whether a client id is acceptable: 1..128 bytes, not starting with '$'. */
bool aws_client_id_ok(const uint8_t *id, size_t len);

/* Checks a PUBLISH topic name or (subscribe) a SUBSCRIBE filter against
 * AWS's limits (the codec already checked MQTT syntax). Returns 0,
 * -EMSGSIZE (too long, too many levels), -EACCES (a reserved $ topic the
 * daemon does not serve: a device may publish only the requests of
 * aws_reserved_request, and subscribe under $aws/things/, $aws/events/,
 * $aws/certificates/ and $aws/provisioning-templates/). */
int aws_topic_check(const uint8_t *topic, size_t len, bool subscribe);

/* The daemon-served requests a device may publish [aws-iot-core.md 1.10,
 * 4.1]: shadow get/update/delete (classic and named) and the fleet
 * provisioning calls in their JSON form (CBOR is not served). Anything
 * else, including the response topics, is AWS_RESERVED_NONE. */
enum aws_reserved { AWS_RESERVED_NONE, AWS_RESERVED_SHADOW, AWS_RESERVED_PROVISIONING };
enum aws_reserved aws_reserved_request(const uint8_t *topic, size_t len);

/* Device topic or filter -> upstream, NUL-terminated into out. Returns the
 * length, -ENOSPC. */
int aws_map_up(const char *prefix, const uint8_t *topic, size_t len, char *out, size_t cap);
/* Upstream topic -> device topic (a borrowed tail of topic). Returns false
 * when the topic is not under prefix. */
bool aws_map_down(const char *prefix, const uint8_t *topic, size_t len, const uint8_t **ret,
                  size_t *ret_len);

/* MQTT matching with AWS's deviation: a trailing "/#" needs at least the
 * '/' ("a/#" matches "a/" and "a/b" but not "a"). */
bool aws_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);
