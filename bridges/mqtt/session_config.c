/* Daemon-owned config delivery (Google's /devices/D/config): the store
 * holds the versions; the session sends the latest on SUBSCRIBE and on
 * every update. At QoS 1 one version per device is in flight: a newer one
 * supersedes an unacknowledged older one (which is then never acked), and
 * the one in flight is resent until the device's PUBACK [google-iot-core.md
 * 1.5 "Config delivery semantics"]. The device never sees RETAIN. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bridges/mqtt/session_internal.h"
#include "common/timeutil.h"

static void send_config(struct sess *s, int64_t device_rowid, const char *device_id,
                        const struct db_config *cfgv, uint8_t qos, uint16_t pid, bool dup)
{
    char topic[300];
    int tl = snprintf(topic, sizeof(topic), "/devices/%s/config", device_id);
    struct mqtt_publish out = {
        .qos = qos,
        .dup = dup,
        .packet_id = pid,
        .topic = { (const uint8_t *)topic, (size_t)tl },
        .payload = { cfgv->data, cfgv->len },
    };
    sess_send_publish(s, &out);
    db_device_mark(s->hub->db, device_rowid, DB_MARK_CONFIG_SEND, time_now_unix_us());
}

static struct down_slot *config_slot(const struct sess *s, int64_t device_rowid)
{
    for (size_t i = 0; s->downs && i < s->hub->cfg.max_inflight; i++)
        if (s->downs[i].kind == DOWN_CONFIG && s->downs[i].config_device == device_rowid)
            return &s->downs[i];
    return NULL;
}

void sess_config_deliver(struct sess *s, int64_t device_rowid, const char *device_id, uint8_t qos)
{
    struct db_config cfgv;
    uint16_t pid = 0;

    memset(&cfgv, 0, sizeof(cfgv));
    if (db_config_latest(s->hub->db, device_rowid, &cfgv) < 0)
        return;
    if (qos == 1) {
        struct down_slot *old = config_slot(s, device_rowid);
        if (old)
            old->kind = DOWN_FREE;      /* superseded: its PUBACK will match nothing */
        struct down_slot *d = sess_down_alloc(s);
        if (!d) {
            db_config_clear(&cfgv);
            return;
        }
        d->kind = DOWN_CONFIG;
        d->config_version = cfgv.version;
        d->config_device = device_rowid;
        d->resend_at = time_now_mono_ms() + CONFIG_RESEND_MS;
        pid = d->device_pid;
    }
    send_config(s, device_rowid, device_id, &cfgv, qos, pid, false);
    db_config_clear(&cfgv);
    sess_rearm_timer(s);
}

/* The device id to put in the topic for a config slot: the session's own
 * or an attached device's. */
static const char *device_id_of(const struct sess *s, int64_t rowid)
{
    if (rowid == s->auth.device.rowid)
        return s->auth.device.id;
    for (size_t i = 0; i < s->n_attached; i++)
        if (s->attached[i].rowid == rowid)
            return s->attached[i].id;
    return NULL;
}

void sess_config_resend_due(struct sess *s, int64_t now_ms)
{
    for (size_t i = 0; s->downs && i < s->hub->cfg.max_inflight; i++) {
        struct down_slot *d = &s->downs[i];
        if (d->kind != DOWN_CONFIG || d->resend_at > now_ms)
            continue;
        struct db_config cfgv;
        const char *id = device_id_of(s, d->config_device);
        memset(&cfgv, 0, sizeof(cfgv));
        /* Resend the version in flight; had a newer one been stored it
         * would already have superseded this slot. */
        if (!id || db_config_latest(s->hub->db, d->config_device, &cfgv) < 0 ||
            cfgv.version != d->config_version) {
            db_config_clear(&cfgv);
            d->kind = DOWN_FREE;
            continue;
        }
        /* The same packet again, DUP set [MQTT-3.3.1-1]. */
        send_config(s, d->config_device, id, &cfgv, 1, d->device_pid, true);
        db_config_clear(&cfgv);
        d->resend_at = now_ms + CONFIG_RESEND_MS;
    }
}

int64_t sess_config_next_resend(const struct sess *s)
{
    int64_t next = INT64_MAX;
    if (!s->downs)
        return next;
    for (size_t i = 0; i < s->hub->cfg.max_inflight; i++)
        if (s->downs[i].kind == DOWN_CONFIG && s->downs[i].resend_at < next)
            next = s->downs[i].resend_at;
    return next;
}

const struct sub_entry *sess_config_subscription(const struct sess *s, int64_t device_rowid)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].kind == GOOGLE_SUB_CONFIG && s->subs[i].device_rowid == device_rowid)
            return &s->subs[i];
    return NULL;
}

void sess_config_acked(struct sess *s, struct down_slot *d)
{
    int64_t now_us = time_now_unix_us();
    /* deviceAckTime on the version and lastConfigAckTime on the device. */
    db_config_ack(s->hub->db, d->config_device, d->config_version, now_us);
    db_device_mark(s->hub->db, d->config_device, DB_MARK_CONFIG_ACK, now_us);
}

int sess_hub_config_updated(struct sess_hub *hub, int64_t device_rowid)
{
    struct sess *s = sess_hub_reach(hub, device_rowid);
    if (!s || s->state != SESS_ACTIVE)
        return 0;
    const struct sub_entry *cs = sess_config_subscription(s, device_rowid);
    const char *id = device_id_of(s, device_rowid);
    if (!cs || !id)
        return 0;
    sess_config_deliver(s, device_rowid, id, cs->qos);
    return 1;
}
