/* The session's subscriptions: SUBSCRIBE (each filter mapped by the
 * personality, the broker's SUBACK awaited for relayed filters, the latest
 * config sent at once for a config filter) and UNSUBSCRIBE, and the table
 * of filters that deliveries are matched against. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/session_internal.h"
#include "common/log.h"

const struct sub_entry *sess_sub_match(const struct sess *s, const char *topic, size_t len)
{
    const struct sub_entry *best = NULL;
    bool (*matches)(const uint8_t *, size_t, const uint8_t *, size_t) =
        s->pers == SESS_AWS ? aws_topic_matches : mqtt_topic_matches;
    for (size_t i = 0; i < s->n_subs; i++) {
        if (matches((const uint8_t *)s->subs[i].filter, strlen(s->subs[i].filter),
                    (const uint8_t *)topic, len) &&
            (!best || s->subs[i].qos > best->qos))
            best = &s->subs[i];
    }
    return best;
}

/* Room for one more subscription (doubling, capped by max_subscriptions). */
static bool grow_subs(struct sess *s)
{
    if (s->n_subs < s->cap_subs)
        return true;
    size_t ncap = s->cap_subs ? s->cap_subs * 2 : 2;
    if (ncap > s->hub->cfg.max_subscriptions)
        ncap = s->hub->cfg.max_subscriptions;
    struct sub_entry *n = realloc(s->subs, ncap * sizeof(*n));
    if (!n)
        return false;
    s->subs = n;
    s->cap_subs = ncap;
    return s->n_subs < s->cap_subs;
}

void sess_sub_remove(struct sess *s, size_t j)
{
    free(s->subs[j].filter);
    s->subs[j] = s->subs[--s->n_subs];
}

int sess_handle_subscribe(struct sess *s, const struct mqtt_subscribe *sub)
{
    struct pending_suback *ps = NULL;
    struct mqtt_topic_qos up_filters[MQTT_MAX_FILTERS];
    char up_names[MQTT_MAX_FILTERS][SUB_FILTER_MAX];
    size_t n_up = 0, slot = PENDING_SUBACKS;
    /* Indices of the entries this SUBSCRIBE added that wait for the broker
     * (nothing is removed from the table meanwhile). */
    size_t new_up[MQTT_MAX_FILTERS];
    size_t n_new_up = 0;

    if (s->pers == SESS_AWS && sub->count > AWS_MAX_FILTERS_PER_SUBSCRIBE) {
        /* AWS: at most 8 filters per SUBSCRIBE [aws-iot-core.md 3.8]. */
        s->disc_reason = "CLIENT_ERROR";
        sess_close(s, "more than 8 filters in one SUBSCRIBE (AWS limit)");
        return -EPROTO;
    }
    for (size_t i = 0; i < PENDING_SUBACKS; i++)
        if (!s->pending[i])
            slot = i;
    if (slot == PENDING_SUBACKS) {
        sess_close(s, "too many SUBSCRIBEs awaiting the broker");
        return -EPROTO;
    }
    /* Allocated per SUBSCRIBE: an idle session keeps none. */
    ps = calloc(1, sizeof(*ps));
    if (!ps) {
        sess_close(s, "out of memory");
        return -ENOMEM;
    }
    ps->device_pid = sub->packet_id;
    ps->count = sub->count;
    for (size_t i = 0; i < sub->count; i++) {
        const struct mqtt_topic_qos *f = &sub->filters[i];
        enum google_sub_kind kind;
        struct google_ident target;
        int64_t target_rowid = 0;
        /* Google granted QoS 1 for a QoS 2 request. */
        uint8_t qos = f->qos > 1 ? 1 : f->qos;
        int ul = -EACCES;
        if (s->pers == SESS_AWS) {
            kind = GOOGLE_SUB_COMMANDS;     /* relayed from the broker */
            ul = sess_aws_subscribe_filter(s, f, up_names[n_up], SUB_FILTER_MAX);
        } else if (sess_target(s, f->filter.p, f->filter.len, &target, &target_rowid))
            /* The device's own topics, or (gateways) those of an attached
             * device; a gateway's errors topic only for itself. */
            ul = google_map_subscribe(&target, f->filter.p, f->filter.len, up_names[n_up],
                                      SUB_FILTER_MAX, &kind);
        if (ul >= 0 && kind == GOOGLE_SUB_ERRORS &&
            (!s->gw.is_gateway || target_rowid != s->auth.device.rowid))
            ul = -EACCES;
        if (ul < 0 || f->filter.len >= SUB_FILTER_MAX) {
            char esc[300];
            log_info("subscription refused peer=%s client_id=\"%s\" filter=\"%s\"", s->peer,
                     s->client_id, log_escape(esc, sizeof(esc), f->filter.p, f->filter.len));
            ps->codes[i] = MQTT_SUBACK_FAILURE;
            continue;
        }
        /* Replace an existing identical filter [MQTT-3.8.4-3], else add. */
        struct sub_entry *e = NULL;
        for (size_t j = 0; j < s->n_subs; j++)
            if (strlen(s->subs[j].filter) == f->filter.len &&
                memcmp(s->subs[j].filter, f->filter.p, f->filter.len) == 0)
                e = &s->subs[j];
        if (!e) {
            char *copy = NULL;
            if (s->n_subs >= s->hub->cfg.max_subscriptions || !grow_subs(s) ||
                !(copy = malloc(f->filter.len + 1))) {
                ps->codes[i] = MQTT_SUBACK_FAILURE;
                continue;
            }
            memcpy(copy, f->filter.p, f->filter.len);
            copy[f->filter.len] = '\0';
            e = &s->subs[s->n_subs++];
            e->filter = copy;
            e->upstream_pid = 0;
            if (kind == GOOGLE_SUB_COMMANDS)
                new_up[n_new_up++] = (size_t)(e - s->subs);
        }
        e->qos = qos;
        e->kind = kind;
        e->device_rowid = target_rowid;
        ps->codes[i] = qos;
        if (kind == GOOGLE_SUB_COMMANDS) {
            up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
            up_filters[n_up].filter.len = (size_t)ul;
            up_filters[n_up].qos = qos;
            ps->waits_upstream[i] = true;
            n_up++;
        } else if (kind == GOOGLE_SUB_CONFIG) {
            ps->config_devices[ps->n_config_devices++] = target_rowid;
        }
    }
    if (s->pers == SESS_AWS) {
        struct mqtt_slice granted[MQTT_MAX_FILTERS] = { { 0 } };
        size_t n_granted = 0;
        for (size_t i = 0; i < sub->count; i++)
            if (ps->codes[i] != MQTT_SUBACK_FAILURE)
                granted[n_granted++] = sub->filters[i].filter;
        sess_aws_subscription_event(s, true, granted, n_granted);
    }
    if (n_up && s->up && upstream_subscribe(s->up, up_filters, n_up, &ps->upstream_pid) >= 0) {
        ps->used = true;     /* SUBACK when the broker's SUBACK arrives */
        s->pending[slot] = ps;
        for (size_t k = 0; k < n_new_up; k++)
            s->subs[new_up[k]].upstream_pid = ps->upstream_pid;
    } else {
        for (size_t i = 0; i < ps->count; i++)
            if (ps->waits_upstream[i])
                ps->codes[i] = MQTT_SUBACK_FAILURE;
        EMIT(s, 4 + ps->count, mqtt_encode_suback(&w_, ps->device_pid, ps->codes, ps->count));
    }
    /* Google sent the latest config as soon as the subscription was made. */
    for (size_t i = 0; i < ps->n_config_devices; i++) {
        int64_t rowid = ps->config_devices[i];
        const struct sub_entry *cs = sess_config_subscription(s, rowid);
        struct google_ident target;
        int64_t r2;
        if (cs && sess_target(s, (const uint8_t *)cs->filter, strlen(cs->filter), &target, &r2))
            sess_config_deliver(s, rowid, target.device, cs->qos);
    }
    if (!ps->used)
        free(ps);
    return 0;
}

int sess_handle_unsubscribe(struct sess *s, const struct mqtt_subscribe *uns)
{
    struct mqtt_topic_qos up_filters[MQTT_MAX_FILTERS];
    char up_names[MQTT_MAX_FILTERS][SUB_FILTER_MAX];
    size_t n_up = 0;

    for (size_t i = 0; i < uns->count; i++) {
        const struct mqtt_slice *f = &uns->filters[i].filter;
        if (s->pers == SESS_AWS) {
            /* Forwarded whether or not this connection made the
             * subscription: a resumed persistent session holds
             * subscriptions only the broker knows. */
            int ul = aws_map_up(s->hub->cfg.aws_prefix, f->p, f->len, up_names[n_up],
                                SUB_FILTER_MAX);
            if (ul > 0 && f->len < SUB_FILTER_MAX) {
                up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
                up_filters[n_up].filter.len = (size_t)ul;
                up_filters[n_up].qos = 0;
                n_up++;
            }
        }
        for (size_t j = 0; j < s->n_subs; j++) {
            if (strlen(s->subs[j].filter) != f->len || memcmp(s->subs[j].filter, f->p, f->len) != 0)
                continue;
            enum google_sub_kind kind;
            struct google_ident target;
            int64_t target_rowid;
            int ul = -EACCES;
            if (s->pers != SESS_AWS && sess_target(s, f->p, f->len, &target, &target_rowid))
                ul = google_map_subscribe(&target, f->p, f->len, up_names[n_up], SUB_FILTER_MAX,
                                          &kind);
            if (ul > 0 && kind == GOOGLE_SUB_COMMANDS) {
                up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
                up_filters[n_up].filter.len = (size_t)ul;
                up_filters[n_up].qos = 0;
                n_up++;
            }
            sess_sub_remove(s, j);
            break;
        }
    }
    if (s->pers == SESS_AWS) {
        struct mqtt_slice filters[MQTT_MAX_FILTERS] = { { 0 } };
        for (size_t i = 0; i < uns->count; i++)
            filters[i] = uns->filters[i].filter;
        sess_aws_subscription_event(s, false, filters, uns->count);
    }
    if (n_up && s->up) {
        uint16_t pid;
        upstream_unsubscribe(s->up, up_filters, n_up, &pid);
    }
    sess_send_ack(s, MQTT_UNSUBACK, uns->packet_id);
    return 0;
}

