/* CONNECT: the choice of personality (a client certificate means AWS,
 * handed to session_aws.c; a client id starting projects/ means Google),
 * the Google device's authentication (JWT against its credentials, the
 * registry's MQTT switch and notification routes, its gateway settings),
 * and the one place a refused CONNECT is answered, logged and counted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "registry/reg_device_auth.h"
#include "registry/reg_registry_cfg.h"

void sess_refuse(struct sess *s, enum reg_auth_reason reason)
{
    int code = reg_auth_reason_connack(reason);
    if ((size_t)reason < SESS_AUTH_REASONS)
        s->hub->stats.auth_refused[reason]++;
    if (s->pers == SESS_AWS) {
        /* AWS answers an MQTT 3.1.1 CONNECT it refuses with no CONNACK:
         * the connection just closes (clients report "connection lost")
         * [aws-iot-core.md 1.8]. The log says why. */
        log_info("connection refused peer=%s client_id=\"%s\" connack=none reason=%s", s->peer,
                 s->client_id, reg_auth_reason_word(reason));
        sess_close(s, "refused");
        return;
    }
    log_info("connection refused peer=%s client_id=\"%s\" connack=%d reason=%s", s->peer,
             s->client_id, code, reg_auth_reason_word(reason));
    sess_send_connack(s, (uint8_t)code);
    sess_close(s, "refused");
}

int sess_handle_connect(struct sess *s, const struct mqtt_connect *c)
{
    const struct sess_config *cfg = &s->hub->cfg;

    log_escape(s->client_id, sizeof(s->client_id), c->client_id.p, c->client_id.len);
    /* A client certificate means AWS-style, whatever the client id
     * (DESIGN.md "Personality"). */
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (s->ops->peer_cert && s->ops->peer_cert(s->t, &der, &der_len) == 0)
        return sess_aws_connect(s, c, der, der_len);
    if (!reg_google_client_id_is_google((const char *)c->client_id.p, c->client_id.len)) {
        /* The plain (username/password) scheme comes with a later issue:
         * nothing matches, CONNACK 5 (DESIGN.md). */
        sess_refuse(s, REG_AUTH_NO_SCHEME);
        return -EACCES;
    }
    struct reg_jwt_rules rules = {
        .audience = NULL,
        .clock_skew = cfg->clock_skew,
        .max_lifetime = cfg->max_token_lifetime,
        .refresh_interval = cfg->refresh_interval,
    };
    int64_t now = time_now_unix();
    enum reg_auth_reason r = reg_google_authenticate(
        s->hub->db, (const char *)c->client_id.p, c->client_id.len, c->password.p, c->password.len,
        c->has_password, &rules, now, &s->auth);
    if (r != REG_AUTH_OK) {
        sess_refuse(s, r);
        return -EACCES;
    }
    s->authenticated = true;
    struct reg_registry_cfg rc;
    if (reg_registry_cfg_parse(s->auth.registry.extra_json, &rc) < 0) {
        sess_refuse(s, REG_AUTH_STORE_ERROR);
        return -EIO;
    }
    if (!rc.mqtt_enabled) {
        /* Google refused devices of a registry with MQTT_DISABLED. */
        sess_refuse(s, REG_AUTH_MQTT_DISABLED);
        return -EACCES;
    }
    if (rc.n_event_routes || rc.has_state_route) {
        s->routes = malloc(sizeof(*s->routes));
        if (!s->routes) {
            sess_send_connack(s, MQTT_CONNACK_UNAVAILABLE);
            sess_close(s, "out of memory");
            return -ENOMEM;
        }
        *s->routes = rc;
    }
    reg_gateway_cfg_parse(s->auth.device.extra_json, &s->gw);
    s->ident.prefix = cfg->google_prefix;
    s->ident.project = s->auth.registry.project;
    s->ident.location = s->auth.registry.location;
    s->ident.registry = s->auth.registry.id;
    s->ident.device = s->auth.device.id;
    s->token_deadline = time_now_mono_ms() + (s->auth.token.deadline - now) * 1000;
    s->keepalive = c->keepalive;
    if (c->will)
        log_info("peer=%s client_id=\"%s\": Will dropped (Google IoT Core had no Last Will)", s->peer,
                 s->client_id);
    if (!sess_alloc_tables(s)) {
        sess_send_connack(s, MQTT_CONNACK_UNAVAILABLE);
        sess_close(s, "out of memory");
        return -ENOMEM;
    }

    /* One upstream session per device, named after the device; clean,
     * because Google kept no session state (clean session 0 is treated as
     * clean and answered with session-present 0). */
    char up_cid[1400];
    snprintf(up_cid, sizeof(up_cid), "%sg:%s/%s/%s/%s", cfg->client_id_prefix,
             s->auth.registry.project, s->auth.registry.location, s->auth.registry.id,
             s->auth.device.id);
    return sess_open_upstream(s, up_cid, true, NULL);
}
