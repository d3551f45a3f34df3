/* Google personality topic rules: the only place that knows Google's device
 * topic names. Pure string work; the session applies the result. */
#include "bridges/mqtt/google.h"

#include <errno.h>
#include <string.h>

/* A tiny append-only string builder over a fixed buffer. */
struct sb {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void sb_add(struct sb *b, const void *s, size_t n)
{
    if (b->overflow || b->cap - b->len <= n) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static int sb_done(struct sb *b)
{
    return b->overflow ? -ENOSPC : (int)b->len;
}

/* Writes "{prefix}P/L/R/D" into b. */
static void sb_device_base(struct sb *b, const struct google_ident *id)
{
    sb_str(b, id->prefix);
    sb_str(b, id->project);
    sb_add(b, "/", 1);
    sb_str(b, id->location);
    sb_add(b, "/", 1);
    sb_str(b, id->registry);
    sb_add(b, "/", 1);
    sb_str(b, id->device);
}

/* If topic starts with "/devices/{device}/", returns the rest's offset, else 0. */
static size_t own_device_prefix(const struct google_ident *id, const uint8_t *t, size_t len)
{
    static const char head[] = "/devices/";
    size_t hl = sizeof(head) - 1, dl = strlen(id->device);

    if (len < hl + dl + 1 || memcmp(t, head, hl) != 0 || memcmp(t + hl, id->device, dl) != 0 ||
        t[hl + dl] != '/')
        return 0;
    return hl + dl + 1;
}

static bool slice_is(const uint8_t *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

static bool slice_starts(const uint8_t *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    return len >= n && memcmp(p, s, n) == 0;
}

int google_map_publish(const struct google_ident *id, const uint8_t *topic, size_t len,
                       char *out, size_t cap, enum google_pub_kind *ret_kind)
{
    struct sb b = { out, cap, 0, false };
    size_t off = own_device_prefix(id, topic, len);

    if (cap)
        out[0] = '\0';
    /* Gateways publishing for attached devices come with the gateway issue;
     * until then a device may use only its own topics, as Google enforced. */
    if (off == 0)
        return -EACCES;
    const uint8_t *rest = topic + off;
    size_t rlen = len - off;

    if (slice_is(rest, rlen, "state")) {
        sb_device_base(&b, id);
        sb_str(&b, "/state");
        *ret_kind = GOOGLE_PUB_STATE;
        return sb_done(&b);
    }
    if (slice_is(rest, rlen, "events")) {
        sb_device_base(&b, id);
        sb_str(&b, "/events");
        *ret_kind = GOOGLE_PUB_EVENTS;
        return sb_done(&b);
    }
    if (slice_starts(rest, rlen, "events/") && rlen > 7) {
        /* The subfolder is taken verbatim, possibly several levels deep
         * [google-iot-core.md 1.5]; the codec already refused wildcards. */
        sb_device_base(&b, id);
        sb_str(&b, "/");
        sb_add(&b, rest, rlen);
        *ret_kind = GOOGLE_PUB_EVENTS;
        return sb_done(&b);
    }
    return -EACCES;
}

size_t google_max_payload(enum google_pub_kind kind)
{
    return kind == GOOGLE_PUB_STATE ? GOOGLE_MAX_STATE : GOOGLE_MAX_TELEMETRY;
}

int google_map_subscribe(const struct google_ident *id, const uint8_t *filter, size_t len,
                         char *out, size_t cap, enum google_sub_kind *ret_kind)
{
    struct sb b = { out, cap, 0, false };
    size_t off = own_device_prefix(id, filter, len);

    if (cap)
        out[0] = '\0';
    if (off == 0)
        return -EACCES;
    const uint8_t *rest = filter + off;
    size_t rlen = len - off;

    if (slice_is(rest, rlen, "config")) {
        *ret_kind = GOOGLE_SUB_CONFIG;
        return 0;
    }
    if (slice_is(rest, rlen, "errors")) {
        *ret_kind = GOOGLE_SUB_ERRORS;
        return 0;
    }
    /* commands, commands/# (the samples' form) and commands/SUB[/...]: the
     * codec validated wildcard placement, so '+' and '#' here are proper
     * levels and map one to one onto the upstream namespace. */
    if (slice_is(rest, rlen, "commands") || slice_starts(rest, rlen, "commands/")) {
        sb_device_base(&b, id);
        sb_str(&b, "/");
        sb_add(&b, rest, rlen);
        *ret_kind = GOOGLE_SUB_COMMANDS;
        return sb_done(&b);
    }
    return -EACCES;
}

int google_map_delivery(const struct google_ident *id, const uint8_t *topic, size_t len,
                        char *out, size_t cap)
{
    char base[1280];
    struct sb bb = { base, sizeof(base), 0, false };
    struct sb b = { out, cap, 0, false };

    sb_device_base(&bb, id);
    sb_str(&bb, "/commands");
    if (bb.overflow || len < bb.len || memcmp(topic, base, bb.len) != 0)
        return -EACCES;
    if (len > bb.len && topic[bb.len] != '/')
        return -EACCES;                 /* e.g. .../commandsX */
    sb_str(&b, "/devices/");
    sb_str(&b, id->device);
    sb_str(&b, "/commands");
    sb_add(&b, topic + bb.len, len - bb.len);
    return sb_done(&b);
}

bool google_topic_device(const uint8_t *topic, size_t len, const uint8_t **ret_id,
                         size_t *ret_len)
{
    static const char head[] = "/devices/";
    size_t hl = sizeof(head) - 1;

    if (len <= hl || memcmp(topic, head, hl) != 0)
        return false;
    const uint8_t *id = topic + hl;
    const uint8_t *slash = memchr(id, '/', len - hl);
    if (!slash || slash == id)
        return false;
    *ret_id = id;
    *ret_len = (size_t)(slash - id);
    return true;
}

enum google_control google_topic_control(const uint8_t *topic, size_t len)
{
    const uint8_t *id;
    size_t idl;

    if (!google_topic_device(topic, len, &id, &idl))
        return GOOGLE_CONTROL_NONE;
    const uint8_t *rest = id + idl + 1;
    size_t rlen = len - (size_t)(rest - topic);
    if (slice_is(rest, rlen, "attach"))
        return GOOGLE_CONTROL_ATTACH;
    if (slice_is(rest, rlen, "detach"))
        return GOOGLE_CONTROL_DETACH;
    return GOOGLE_CONTROL_NONE;
}
