/* Stored rows rendered in Google's JSON shapes: DeviceRegistry, Device
 * (the fields a mask selects), DeviceConfig and DeviceState, with proto3's
 * conventions (int64 as strings, bytes as base64, enums as names, defaults
 * omitted, never-set timestamps as the epoch). Pure. */
#include "webui/google_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/timeutil.h"
#include "registry/reg_cred.h"

int api_google_registry_name(const char *project, const char *location, const char *id, char *out,
                             size_t cap)
{
    int n = snprintf(out, cap, "projects/%s/locations/%s/registries/%s", project, location, id);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

json_t *api_google_registry_json(const char *reg_name, const struct db_registry *r)
{
    json_t *o = json_pack("{s:s,s:s}", "id", r->id, "name", reg_name);
    json_t *extra = api_g_load_extra(r->extra_json);

    if (!o)
        goto out;
    for (const struct api_g_stored_field *f = api_g_registry_stored; extra && f->key; f++) {
        json_t *v = json_object_get(extra, f->key);
        if (v && json_object_set(o, f->key, v) < 0) {
            json_decref(o);
            o = NULL;
            goto out;
        }
    }
out:
    json_decref(extra);
    return o;
}

static int set_time(json_t *o, const char *key, int64_t us)
{
    char buf[40];

    time_format_rfc3339(us > 0 ? us : 0, buf, sizeof(buf));
    return json_object_set_new(o, key, json_string(buf));
}

static int set_bytes(json_t *o, const char *key, const uint8_t *data, size_t len)
{
    char *b64;
    int rc;

    if (api_base64_encode(data ? data : (const uint8_t *)"", data ? len : 0, &b64) < 0)
        return -1;
    rc = json_object_set_new(o, key, json_string(b64));
    free(b64);
    return rc;
}

static json_t *credentials_json(const struct db_credential *creds, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const char *fmt = reg_cred_format_name(creds[i].format);
        json_t *c = json_pack("{s:{s:s,s:s}}", "publicKey", "format", fmt ? fmt : "RSA_PEM",
                              "key", creds[i].key_pem ? creds[i].key_pem : "");
        if (!c || set_time(c, "expirationTime", creds[i].expiration_us) < 0 ||
            json_array_append_new(a, c) < 0) {
            json_decref(c);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *api_google_config_json(const struct db_config *c)
{
    char version[24];
    json_t *o;

    snprintf(version, sizeof(version), "%lld", (long long)c->version);
    o = json_pack("{s:s}", "version", version);
    if (!o || set_time(o, "cloudUpdateTime", c->cloud_update_us) < 0 ||
        (c->device_ack_us > 0 && set_time(o, "deviceAckTime", c->device_ack_us) < 0) ||
        set_bytes(o, "binaryData", c->data, c->len) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_google_state_json(const struct db_state *s)
{
    json_t *o = json_object();

    if (!o || set_time(o, "updateTime", s->update_us) < 0 ||
        set_bytes(o, "binaryData", s->data, s->len) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_google_device_json(const char *reg_name, const struct api_device_view *v,
                               unsigned fields)
{
    const struct db_device *d = v->dev;
    json_t *o = json_object(), *extra = api_g_load_extra(d->extra_json), *x;
    char buf[1100];
    int bad = 0;

    if (!o)
        goto fail;
    if (fields & API_DEV_ID)
        bad |= json_object_set_new(o, "id", json_string(d->id));
    if (fields & API_DEV_NAME) {
        /* [PROTO] the name the server returns is built from the numId. */
        snprintf(buf, sizeof(buf), "%s/devices/%llu", reg_name, (unsigned long long)d->num_id);
        bad |= json_object_set_new(o, "name", json_string(buf));
    }
    if (fields & API_DEV_NUM_ID) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->num_id);
        bad |= json_object_set_new(o, "numId", json_string(buf));
    }
    if ((fields & API_DEV_CREDENTIALS) && v->n_creds > 0) {
        x = credentials_json(v->creds, v->n_creds);
        bad |= x ? json_object_set_new(o, "credentials", x) : -1;
    }
    /* Never-set timestamps come back as the epoch [FIELD gcloud output]. */
    if (fields & API_DEV_LAST_HEARTBEAT_TIME)
        bad |= set_time(o, "lastHeartbeatTime", d->last_heartbeat_us);
    if (fields & API_DEV_LAST_EVENT_TIME)
        bad |= set_time(o, "lastEventTime", d->last_event_us);
    if (fields & API_DEV_LAST_STATE_TIME)
        bad |= set_time(o, "lastStateTime", d->last_state_us);
    if (fields & API_DEV_LAST_CONFIG_ACK_TIME)
        bad |= set_time(o, "lastConfigAckTime", d->last_config_ack_us);
    if (fields & API_DEV_LAST_CONFIG_SEND_TIME)
        bad |= set_time(o, "lastConfigSendTime", d->last_config_send_us);
    if ((fields & API_DEV_BLOCKED) && d->blocked)
        bad |= json_object_set_new(o, "blocked", json_true());   /* proto3 omits false */
    if (fields & API_DEV_LAST_ERROR_TIME)
        bad |= set_time(o, "lastErrorTime", d->last_error_us);
    if ((fields & API_DEV_LAST_ERROR_STATUS) &&
        (d->last_error_code != 0 || d->last_error_message[0])) {
        /* The message comes from a device-side failure; jansson refuses
         * text that is not UTF-8, and the reply must not fail over it. */
        json_t *msg = json_string(d->last_error_message);
        x = json_pack("{s:i,s:o}", "code", (int)d->last_error_code, "message",
                      msg ? msg : json_string("(message not UTF-8)"));
        bad |= x ? json_object_set_new(o, "lastErrorStatus", x) : -1;
    }
    if ((fields & API_DEV_CONFIG) && v->config) {
        x = api_google_config_json(v->config);
        bad |= x ? json_object_set_new(o, "config", x) : -1;
    }
    if ((fields & API_DEV_STATE) && v->state) {
        x = api_google_state_json(v->state);
        bad |= x ? json_object_set_new(o, "state", x) : -1;
    }
    if ((fields & API_DEV_LOG_LEVEL) && (x = json_object_get(extra, "logLevel")))
        bad |= json_object_set(o, "logLevel", x);
    if ((fields & API_DEV_METADATA) && (x = json_object_get(extra, "metadata")) &&
        json_object_size(x) > 0)
        bad |= json_object_set(o, "metadata", x);
    if (fields & API_DEV_GATEWAY_CONFIG) {
        /* An empty gatewayConfig comes back as {} [FIELD]. */
        x = json_object_get(extra, "gatewayConfig");
        bad |= x ? json_object_set(o, "gatewayConfig", x)
                 : json_object_set_new(o, "gatewayConfig", json_object());
    }
    if (bad)
        goto fail;
    json_decref(extra);
    return o;
fail:
    json_decref(extra);
    json_decref(o);
    return NULL;
}
