/* AWS Device Shadow requests over the store [aws-iot-core.md 4]: loads a
 * shadow, runs the pure engine (registry/aws_shadow.h) on a get, update or
 * delete, stores the result, and hands every message AWS would publish to
 * the caller's publish hook with its full upstream topic
 * ({prefix}$aws/things/T/shadow[/name/N]/SUFFIX). One entry point serves
 * all three sources: a device's PUBLISH on the MQTT port, a backend's
 * request arriving from the broker, and the data-plane REST calls.
 *
 * What is published, by source (AWS's documented data flow):
 * - MQTT requests: /accepted (+ /update/delta, /update/documents) or
 *   /rejected.
 * - REST requests: never /rejected (the error is the HTTP reply); an
 *   accepted update publishes /update/accepted, /delta and /documents and
 *   an accepted delete /delete/accepted, so devices see other clients'
 *   changes (the SDKs' "foreign state change"); a get publishes nothing.
 * A shadow deleted more than 48 hours ago starts again from version 0, as
 * AWS documents; within 48 hours a recreated shadow continues the
 * numbering. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/aws_shadow.h"

struct db;

enum reg_shadow_op { REG_SHADOW_GET, REG_SHADOW_UPDATE, REG_SHADOW_DELETE };

#define REG_SHADOW_RESET_AFTER_US (48LL * 3600 * 1000000)

struct reg_shadow_ctx {
    struct db *db;                  /* borrowed */
    const char *prefix;             /* upstream AWS prefix ("aws/"); NULL reads as "" */
    struct aws_shadow_opts opts;
    /* Publishes one message (topic NUL-terminated); may be NULL (nothing
     * published). Its failure is logged, not returned: the store already
     * holds the result. */
    int (*publish)(void *ud, const char *topic, const void *data, size_t len);
    void *ud;
};

/* The reply to the requester: status 200 and the accepted document, or
 * AWS's status and error document ({"code","message","timestamp"
 * [,"clientToken"]}); message is the error text (empty on 200). body owned
 * (free()); release with reg_shadow_reply_clear. */
struct reg_shadow_reply {
    int status;
    char message[192];
    char *body;
    size_t len;
};
void reg_shadow_reply_clear(struct reg_shadow_reply *r);    /* NULL-safe */

/* Serves one request. thing: a thing name; shadow: NULL or "" for the
 * classic shadow, else the shadow's name (both checked here: a bad name
 * answers 400). rest selects the publishing rules above. Returns 0 with
 * *out filled (out zeroed by the caller), or -ENOMEM, -EIO (the store
 * failed; nothing was published or changed): answer 500. */
int reg_aws_shadow_serve(const struct reg_shadow_ctx *c, const char *thing, const char *shadow,
                         enum reg_shadow_op op, const void *payload, size_t len, bool rest,
                         int64_t now_us, struct reg_shadow_reply *out);

/* A shadow request topic, relative to the prefix:
 * "$aws/things/T/shadow/OP" or "$aws/things/T/shadow/name/N/OP" with OP get,
 * update or delete. Returns 0 (thing and shadow copied NUL-terminated,
 * shadow "" for the classic one), -ENOENT when the topic is not a shadow
 * request topic (a response topic, or anything else), -EINVAL when it has
 * a request's shape but a name too long for the buffers. Pure. */
int reg_aws_shadow_topic(const uint8_t *topic, size_t len, char thing[AWS_SHADOW_MAX_THING_NAME + 1],
                         char shadow[AWS_SHADOW_MAX_SHADOW_NAME + 1], enum reg_shadow_op *op);

/* The names of the thing's named shadows that exist, in name order,
 * starting after `after` ("" or NULL = from the start), at most limit.
 * Returns the count passed to cb or a negative errno. */
int reg_aws_shadow_list(struct db *db, const char *thing, const char *after, int limit,
                        int (*cb)(void *ud, const char *name), void *ud);
