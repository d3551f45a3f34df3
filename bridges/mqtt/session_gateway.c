/* Google gateways on a session [google-iot-core.md 1.5]: /devices/D/attach
 * and /detach, acting for attached devices (their events, state, config and
 * commands go through the gateway's connection and upstream session), and
 * asynchronous errors on /devices/{gateway}/errors. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"

static struct attached *find_attached(const struct sess *s, const uint8_t *id, size_t len)
{
    for (size_t i = 0; i < s->n_attached; i++)
        if (strlen(s->attached[i].id) == len && memcmp(s->attached[i].id, id, len) == 0)
            return &s->attached[i];
    return NULL;
}

bool sess_target(const struct sess *s, const uint8_t *topic, size_t len, struct google_ident *ret,
                 int64_t *ret_rowid)
{
    const uint8_t *id;
    size_t idl;

    if (!google_topic_device(topic, len, &id, &idl))
        return false;
    *ret = s->ident;
    if (idl == strlen(s->auth.device.id) && memcmp(id, s->auth.device.id, idl) == 0) {
        *ret_rowid = s->auth.device.rowid;
        return true;
    }
    const struct attached *a = find_attached(s, id, idl);
    if (!a)
        return false;
    ret->device = a->id;
    *ret_rowid = a->rowid;
    return true;
}

struct sess *sess_hub_reach(struct sess_hub *h, int64_t device_rowid)
{
    struct sess *s = sess_hub_find(h, device_rowid);
    if (s)
        return s;
    /* Attached devices: a scan of the sessions, fine for admin-rate calls
     * (config updates, commands, deletes); a second index can replace it
     * when gateways with many devices make it show. */
    for (size_t i = 0; i < h->n_all; i++) {
        struct sess *g = h->all[i];
        for (size_t k = 0; k < g->n_attached; k++)
            if (g->attached[k].rowid == device_rowid)
                return g;
    }
    return NULL;
}

/* Publishes a GatewayError to the gateway if it subscribed to its errors
 * topic (QoS 0, as the samples subscribe). */
static void send_error(struct sess *s, const char *device_id, const char *description,
                       const struct mqtt_publish *p)
{
    const struct sub_entry *sub = NULL;
    for (size_t i = 0; i < s->n_subs && !sub; i++)
        if (s->subs[i].kind == GOOGLE_SUB_ERRORS)
            sub = &s->subs[i];
    if (!sub)
        return;
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s%, s:i}}", "error_type",
                          "GATEWAY_ATTACHMENT_ERROR", "description", description, "device_id",
                          device_id, "mqtt_message_info", "message_type", "PUBLISH", "topic",
                          (const char *)p->topic.p, p->topic.len, "packet_id", (int)p->packet_id);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return;
    struct mqtt_publish out = {
        .qos = 0,
        .topic = { (const uint8_t *)sub->filter, strlen(sub->filter) },
        .payload = { (const uint8_t *)text, strlen(text) },
    };
    sess_send_publish(s, &out);
    free(text);
}

static void detach(struct sess *s, struct attached *a)
{
    struct mqtt_topic_qos up_filters[MQTT_MAX_FILTERS];
    char up_names[MQTT_MAX_FILTERS][SUB_FILTER_MAX];
    size_t n_up = 0;
    struct google_ident ident = s->ident;

    ident.device = a->id;
    /* Its subscriptions go with it (upstream too), and so do its config
     * deliveries in flight. */
    for (size_t j = 0; j < s->n_subs;) {
        if (s->subs[j].device_rowid != a->rowid) {
            j++;
            continue;
        }
        enum google_sub_kind kind;
        int ul = google_map_subscribe(&ident, (const uint8_t *)s->subs[j].filter,
                                      strlen(s->subs[j].filter), up_names[n_up], SUB_FILTER_MAX,
                                      &kind);
        if (ul > 0 && kind == GOOGLE_SUB_COMMANDS && n_up < MQTT_MAX_FILTERS) {
            up_filters[n_up].filter.p = (const uint8_t *)up_names[n_up];
            up_filters[n_up].filter.len = (size_t)ul;
            up_filters[n_up].qos = 0;
            n_up++;
        }
        sess_sub_remove(s, j);
    }
    if (n_up && s->up) {
        uint16_t pid;
        upstream_unsubscribe(s->up, up_filters, n_up, &pid);
    }
    for (size_t i = 0; s->downs && i < s->hub->cfg.max_inflight; i++)
        if (s->downs[i].kind == DOWN_CONFIG && s->downs[i].config_device == a->rowid)
            s->downs[i].kind = DOWN_FREE;
    *a = s->attached[--s->n_attached];
}

static int attach(struct sess *s, const struct mqtt_publish *p, const char *device_id)
{
    char *token = NULL;
    int64_t rowid = 0;
    int auth_reason = 0;
    enum reg_attach_result r;

    if (find_attached(s, (const uint8_t *)device_id, strlen(device_id)))
        return 0;   /* attaching twice is harmless */
    if (s->n_attached >= GATEWAY_MAX_ATTACHED) {
        log_info("attach refused peer=%s gateway=\"%s\" device=\"%s\" reason=too-many-attached",
                 s->peer, s->auth.device.id, device_id);
        send_error(s, device_id, "too many devices attached to this gateway", p);
        return 0;
    }
    if (reg_gateway_attach_token(p->payload.p, p->payload.len, &token) < 0) {
        send_error(s, device_id, "attach payload is not {\"authorization\": \"JWT\"}", p);
        return 0;
    }
    const struct sess_config *cfg = &s->hub->cfg;
    r = reg_gateway_attach(s->hub->db, s->auth.device.rowid, &s->gw, s->auth.registry.project,
                           s->auth.registry.location, s->auth.registry.id, s->auth.registry.rowid,
                           device_id, token, cfg->clock_skew, cfg->max_token_lifetime,
                           cfg->refresh_interval, time_now_unix(), &rowid, &auth_reason);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    if (r != REG_ATTACH_OK) {
        log_info("attach refused peer=%s gateway=\"%s\" device=\"%s\" reason=%s%s%s", s->peer,
                 s->auth.device.id, device_id, reg_attach_result_word(r),
                 auth_reason ? "/" : "",
                 auth_reason ? reg_auth_reason_word((enum reg_auth_reason)auth_reason) : "");
        send_error(s, device_id, reg_attach_result_word(r), p);
        return 0;
    }
    if (s->n_attached == s->cap_attached) {
        size_t ncap = s->cap_attached ? s->cap_attached * 2 : 8;
        struct attached *n = realloc(s->attached, ncap * sizeof(*n));
        if (!n) {
            send_error(s, device_id, "out of memory", p);
            return 0;
        }
        s->attached = n;
        s->cap_attached = ncap;
    }
    struct attached *a = &s->attached[s->n_attached++];
    struct db_device d;
    memset(&d, 0, sizeof(d));
    a->rowid = rowid;
    a->num_id = db_device_get_by_rowid(s->hub->db, rowid, &d) == 0 ? d.num_id : 0;
    db_device_clear(&d);
    snprintf(a->id, sizeof(a->id), "%s", device_id);
    reg_gateway_mark_accessed(s->hub->db, rowid, s->auth.device.id, time_now_unix_us());
    log_info("device attached peer=%s gateway=\"%s\" device=\"%s\"", s->peer, s->auth.device.id,
             device_id);
    return 0;
}

int sess_gateway_control(struct sess *s, const struct mqtt_publish *p, enum google_control c)
{
    const uint8_t *id;
    size_t idl;
    char device_id[DB_ID_MAX];

    if (!s->gw.is_gateway) {
        /* Google closed the connection of a non-gateway sending these. */
        sess_close(s, "attach/detach from a device that is not a gateway");
        return -EACCES;
    }
    google_topic_device(p->topic.p, p->topic.len, &id, &idl);
    if (idl >= sizeof(device_id)) {
        sess_close(s, "attach/detach for an over-long device id");
        return -EINVAL;
    }
    memcpy(device_id, id, idl);
    device_id[idl] = '\0';
    if (c == GOOGLE_CONTROL_ATTACH) {
        attach(s, p, device_id);
    } else {
        struct attached *a = find_attached(s, id, idl);
        if (a) {
            detach(s, a);
            log_info("device detached peer=%s gateway=\"%s\" device=\"%s\"", s->peer,
                     s->auth.device.id, device_id);
        }
    }
    /* Success or failure, the packet is acknowledged so the gateway does not
     * resend it for ever; failures are reported on its errors topic. */
    if (p->qos == 1)
        sess_send_ack(s, MQTT_PUBACK, p->packet_id);
    return 0;
}

void sess_gateway_forget(struct sess_hub *h, int64_t device_rowid)
{
    struct sess *g = sess_hub_reach(h, device_rowid);
    if (!g || g->auth.device.rowid == device_rowid)
        return;
    for (size_t k = 0; k < g->n_attached; k++) {
        if (g->attached[k].rowid == device_rowid) {
            log_info("device detached from gateway \"%s\": device deleted or blocked",
                     g->auth.device.id);
            detach(g, &g->attached[k]);
            return;
        }
    }
}
