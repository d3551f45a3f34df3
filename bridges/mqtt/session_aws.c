/* The AWS IoT Core personality inside a session: CONNECT with a client
 * certificate (identity = the certificate's fingerprint, then policies),
 * the topic map to {aws_prefix}T, and the policy decision on every
 * PUBLISH (iot:Publish, iot:RetainPublish: a denied publish disconnects, as
 * AWS does), SUBSCRIBE (iot:Subscribe per filter: 0x80) and delivery
 * (iot:Receive: dropped and acked upstream). Also the hub's map of AWS
 * sessions by client id (a newer connection drops the older one) and the
 * live effects of certificate and policy changes. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/aws.h"
#include "bridges/mqtt/session_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "registry/reg_aws_jit.h"

/* ---- the hub's client-id map ---- */

static size_t aws_bucket(const char *client_id)
{
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)client_id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % HUB_BUCKETS);
}

struct sess *sess_hub_find_aws(struct sess_hub *h, const char *client_id)
{
    for (struct sess *s = h->aws_buckets[aws_bucket(client_id)]; s; s = s->hub_next)
        if (strcmp(s->aws->client_id, client_id) == 0)
            return s;
    return NULL;
}

bool sess_aws_newer_exists(const struct sess *s)
{
    const struct sess_hub *h = s->hub;
    /* Rare (upstream loss only), so a walk over every session is fine. */
    for (size_t i = 0; i < h->n_all; i++) {
        const struct sess *o = h->all[i];
        if (o != s && o->pers == SESS_AWS && o->aws && o->state == SESS_UPSTREAM_WAIT &&
            strcmp(o->aws->client_id, s->aws->client_id) == 0)
            return true;
    }
    return false;
}

void sess_hub_insert_aws(struct sess_hub *h, struct sess *s)
{
    size_t b = aws_bucket(s->aws->client_id);
    s->hub_next = h->aws_buckets[b];
    h->aws_buckets[b] = s;
    s->in_hub = true;
}

void sess_hub_remove_aws(struct sess_hub *h, struct sess *s)
{
    for (struct sess **pp = &h->aws_buckets[aws_bucket(s->aws->client_id)]; *pp;
         pp = &(*pp)->hub_next) {
        if (*pp == s) {
            *pp = s->hub_next;
            break;
        }
    }
    s->in_hub = false;
}

static void source_ip(const char *peer, char *out, size_t cap);

/* ---- lifecycle events ---- */

/* Publishes one lifecycle event; best effort (AWS says they may be lost,
 * late or duplicated). Client ids holding '+' or '#' get none (AWS). */
void sess_aws_event(struct sess *s, const char *kind, struct json_t *j)
{
    const struct sess_config *cfg = &s->hub->cfg;
    char topic[512];
    char *text;

    if (!j)
        return;
    if (cfg->service_publish && !strpbrk(s->aws->client_id, "+#") &&
        snprintf(topic, sizeof(topic), "%s$aws/events/%s/%s", cfg->aws_prefix, kind,
                 s->aws->client_id) < (int)sizeof(topic) &&
        (text = json_dumps(j, JSON_COMPACT))) {
        if (cfg->service_publish(cfg->service_ud, topic, text, strlen(text), 0) < 0)
            log_debug("lifecycle event %s for client_id=\"%s\" dropped (service link busy)", kind,
                      s->client_id);
        free(text);
    }
    json_decref(j);
}

void sess_aws_presence_connected(struct sess *s)
{
    uint8_t r[16];
    char ip[64];

    /* A random (version 4) UUID names the session in both its events. */
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(s->session_uuid, sizeof(s->session_uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    s->presence_version = ++s->hub->presence_version;
    source_ip(s->peer, ip, sizeof(ip));
    sess_aws_event(s, "presence/connected",
             json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I}", "clientId", s->aws->client_id,
                       "timestamp", (json_int_t)(time_now_unix_us() / 1000), "eventType",
                       "connected", "sessionIdentifier", s->session_uuid, "principalIdentifier",
                       s->aws->cert_id, "ipAddress", ip, "versionNumber",
                       (json_int_t)s->presence_version));
}

void sess_aws_presence_disconnected(struct sess *s, const char *fallback)
{
    const char *reason = s->disc_reason ? s->disc_reason : fallback;

    if (!s->aws || !s->session_uuid[0])
        return;     /* never announced as connected */
    sess_aws_event(s, "presence/disconnected",
             json_pack("{s:s, s:I, s:s, s:b, s:s, s:s, s:s, s:I}", "clientId", s->aws->client_id,
                       "timestamp", (json_int_t)(time_now_unix_us() / 1000), "eventType",
                       "disconnected", "clientInitiatedDisconnect",
                       strcmp(reason, "CLIENT_INITIATED_DISCONNECT") == 0, "sessionIdentifier",
                       s->session_uuid, "principalIdentifier", s->aws->cert_id, "disconnectReason",
                       reason, "versionNumber", (json_int_t)s->presence_version));
    s->session_uuid[0] = '\0';
}

/* ---- live effects ---- */

static int recheck(struct sess *s, const char *what)
{
    enum reg_auth_reason r =
        reg_aws_recheck(s->hub->db, &s->hub->aws_env, s->aws, time_now_unix_us());
    if (r == REG_AUTH_OK || r == REG_AUTH_STORE_ERROR)
        return 0;   /* a store error keeps the old decision rather than kick everyone */
    log_info("session closed peer=%s client_id=\"%s\": %s reason=%s", s->peer, s->client_id, what,
             reg_auth_reason_word(r));
    /* A certificate taken away is the server's doing; a policy that no
     * longer allows the connection is an authorization failure. */
    s->disc_reason = r == REG_AUTH_NOT_AUTHORIZED ? "FORBIDDEN_ACCESS" : "SERVER_INITIATED_DISCONNECT";
    sess_close(s, what);
    return 1;
}

int sess_hub_aws_cert_changed(struct sess_hub *hub, int64_t cert_rowid)
{
    int closed = 0;
    /* sess_close does not free, so hub->all is stable during the walk. */
    for (size_t i = 0; i < hub->n_all; i++) {
        struct sess *s = hub->all[i];
        if (s->pers == SESS_AWS && s->aws && s->state != SESS_CLOSING &&
            s->aws->cert_rowid == cert_rowid)
            closed += recheck(s, "certificate changed");
    }
    return closed;
}

int sess_hub_aws_policies_changed(struct sess_hub *hub)
{
    int closed = 0;
    for (size_t i = 0; i < hub->n_all; i++) {
        struct sess *s = hub->all[i];
        if (s->pers == SESS_AWS && s->aws && s->state != SESS_CLOSING)
            closed += recheck(s, "policies changed");
    }
    return closed;
}

/* ---- CONNECT ---- */

/* "a.b.c.d:port" or "[v6]:port" -> the address alone (aws:SourceIp). */
static void source_ip(const char *peer, char *out, size_t cap)
{
    const char *start = peer, *end;
    if (*start == '[') {
        start++;
        end = strchr(start, ']');
    } else {
        end = strrchr(start, ':');
    }
    size_t n = end ? (size_t)(end - start) : strlen(start);
    snprintf(out, cap, "%.*s", (int)n, start);
}

/* "topic/T" etc. for a policy check; false when it does not fit. */
static bool resource(const char *kind, const uint8_t *name, size_t len, char *out, size_t cap,
                     size_t *ret_len)
{
    int n = snprintf(out, cap, "%s/%.*s", kind, (int)len, (const char *)name);
    if (n < 0 || (size_t)n >= cap)
        return false;
    *ret_len = (size_t)n;
    return true;
}

/* An unknown (or still pending) certificate signed by a CA with
 * auto-registration: JITR registers it and announces it, JITP provisions
 * it; the connection is refused either way (reg_aws_jit.h). */
static void just_in_time(struct sess *s, const uint8_t *der, size_t len)
{
    const struct sess_config *cfg = &s->hub->cfg;
    struct reg_aws_jit j = { 0 };
    char topic[256];

    int r = reg_aws_jit(s->hub->db, &s->hub->aws_env, der, len, time_now_unix_us(), &j);
    if (r == -ENOENT)
        return;
    if (r < 0) {
        log_err("JITR peer=%s: %s", s->peer, strerror(-r));
    } else if (j.event) {
        log_info("JITR peer=%s certificate=%s ca=%s: PENDING_ACTIVATION, announced on "
                 "$aws/events/certificates/registered/%s", s->peer, j.cert_id, j.ca_id, j.ca_id);
        snprintf(topic, sizeof(topic), "%s$aws/events/certificates/registered/%s",
                 cfg->aws_prefix, j.ca_id);
        if (!cfg->service_publish ||
            cfg->service_publish(cfg->service_ud, topic, j.event, strlen(j.event), 1) < 0)
            log_warn("JITR event for certificate %s not published (service link down)",
                     j.cert_id);
    } else if (j.provisioned) {
        log_info("JITP peer=%s certificate=%s ca=%s: provisioned, thing \"%s\", status %s; the "
                 "device reconnects", s->peer, j.cert_id, j.ca_id, j.thing_name, j.status);
    } else {
        log_warn("JITP peer=%s certificate=%s ca=%s: the template failed (%s); the certificate "
                 "stays PENDING_ACTIVATION", s->peer, j.cert_id, j.ca_id, j.err);
    }
    reg_aws_jit_clear(&j);
}

int sess_aws_connect(struct sess *s, const struct mqtt_connect *c, uint8_t *der, size_t len)
{
    const struct sess_config *cfg = &s->hub->cfg;
    char ip[64];
    enum reg_auth_reason r;

    s->pers = SESS_AWS;
    s->aws = calloc(1, sizeof(*s->aws));
    if (!s->aws) {
        free(der);
        sess_close(s, "out of memory");
        return -ENOMEM;
    }
    source_ip(s->peer, ip, sizeof(ip));
    /* Username and password are ignored on certificate connections: the
     * device SDKs put their metrics string there [aws-iot-core.md 1.2]. */
    r = reg_aws_authenticate(s->hub->db, &s->hub->aws_env, der, len, c->client_id.p,
                             c->client_id.len, ip, !c->clean_session, c->will,
                             time_now_unix_us(), s->aws);
    if (r == REG_AUTH_CERT_UNKNOWN || r == REG_AUTH_CERT_INACTIVE)
        just_in_time(s, der, len);
    free(der);
    if (r != REG_AUTH_OK) {
        sess_refuse(s, r);
        return -EACCES;
    }
    if (c->will) {
        /* The Will is a publish the device makes later: the policy must
         * allow it now, as AWS checks it at CONNECT. */
        char res[AWS_MAX_TOPIC + 64];
        size_t rl;
        bool ok = aws_topic_check(c->will_topic.p, c->will_topic.len, false) == 0 &&
                  c->will_payload.len <= AWS_MAX_PAYLOAD &&
                  resource("topic", c->will_topic.p, c->will_topic.len, res, sizeof(res), &rl) &&
                  reg_aws_allows(s->aws, AWS_ACT_PUBLISH, res, rl) &&
                  (!c->will_retain || reg_aws_allows(s->aws, AWS_ACT_RETAIN_PUBLISH, res, rl));
        if (!ok) {
            sess_refuse(s, REG_AUTH_NOT_AUTHORIZED);
            return -EACCES;
        }
    }
    s->keepalive = aws_keepalive(c->keepalive);
    s->token_deadline = INT64_MAX;      /* no token: certificates are checked on change */
    if (!sess_alloc_tables(s)) {
        sess_close(s, "out of memory");
        return -ENOMEM;
    }

    /* One upstream session per client id, with the device's clean-session
     * flag: a persistent AWS session is the broker's persistent session
     * (the shipped Mosquitto config expires them after 1 h, as AWS). */
    char up_cid[1400];
    snprintf(up_cid, sizeof(up_cid), "%sa:%s", cfg->client_id_prefix, s->aws->client_id);
    char will_topic[1400];
    struct mqtt_publish will = { 0 };
    if (c->will) {
        int wl = aws_map_up(cfg->aws_prefix, c->will_topic.p, c->will_topic.len, will_topic,
                            sizeof(will_topic));
        if (wl < 0) {
            sess_refuse(s, REG_AUTH_NOT_AUTHORIZED);
            return -EACCES;
        }
        will.topic.p = (const uint8_t *)will_topic;
        will.topic.len = (size_t)wl;
        will.payload = c->will_payload;
        will.qos = c->will_qos > 1 ? 1 : c->will_qos;
        will.retain = c->will_retain;
    }
    s->authenticated = false;   /* the Google auth struct stays unused */
    return sess_open_upstream(s, up_cid, c->clean_session, c->will ? &will : NULL);
}

/* ---- PUBLISH, SUBSCRIBE, delivery ---- */

int sess_aws_publish_topic(struct sess *s, const struct mqtt_publish *p, char *out, size_t cap)
{
    char esc[300], res[AWS_MAX_TOPIC + 64];
    size_t rl;
    const char *why = NULL;

    int e = aws_topic_check(p->topic.p, p->topic.len, false);
    if (e == -EMSGSIZE)
        why = "topic over AWS's limits (256 bytes, 7 slashes)";
    else if (e < 0)
        why = "reserved topic";
    else if (p->payload.len > AWS_MAX_PAYLOAD)
        why = "payload over 128 KiB";
    else if (!resource("topic", p->topic.p, p->topic.len, res, sizeof(res), &rl) ||
             !reg_aws_allows(s->aws, AWS_ACT_PUBLISH, res, rl))
        why = "iot:Publish denied";
    else if (p->retain && !reg_aws_allows(s->aws, AWS_ACT_RETAIN_PUBLISH, res, rl))
        why = "iot:RetainPublish denied";
    if (why) {
        /* AWS disconnects a client whose publish it refuses. */
        log_info("publish refused peer=%s client_id=\"%s\" topic=\"%s\": %s; disconnecting as "
                 "AWS does",
                 s->peer, s->client_id, log_escape(esc, sizeof(esc), p->topic.p, p->topic.len),
                 why);
        s->disc_reason = e < 0 || p->payload.len > AWS_MAX_PAYLOAD ? "CLIENT_ERROR" : "FORBIDDEN_ACCESS";
        sess_close(s, why);
        return -EACCES;
    }
    int tl = aws_map_up(s->hub->cfg.aws_prefix, p->topic.p, p->topic.len, out, cap);
    if (tl < 0) {
        sess_close(s, "topic too long");
        return tl;
    }
    return tl;
}

int sess_aws_subscribe_filter(struct sess *s, const struct mqtt_topic_qos *f, char *out,
                              size_t cap)
{
    char esc[300], res[AWS_MAX_TOPIC + 64];
    size_t rl;
    const char *why = NULL;

    if (aws_topic_check(f->filter.p, f->filter.len, true) < 0)
        why = "over AWS's limits or reserved";
    else if (!resource("topicfilter", f->filter.p, f->filter.len, res, sizeof(res), &rl) ||
             !reg_aws_allows(s->aws, AWS_ACT_SUBSCRIBE, res, rl))
        why = "iot:Subscribe denied";
    if (why) {
        log_info("subscription refused peer=%s client_id=\"%s\" filter=\"%s\": %s", s->peer,
                 s->client_id, log_escape(esc, sizeof(esc), f->filter.p, f->filter.len), why);
        return -EACCES;
    }
    int n = aws_map_up(s->hub->cfg.aws_prefix, f->filter.p, f->filter.len, out, cap);
    return n < 0 ? -EACCES : n;
}

int sess_aws_delivery(struct sess *s, const struct mqtt_publish *p, char *out, size_t cap,
                      const struct sub_entry **ret_sub)
{
    const uint8_t *t;
    size_t tl, rl;
    char res[AWS_MAX_TOPIC + 64];

    if (!aws_map_down(s->hub->cfg.aws_prefix, p->topic.p, p->topic.len, &t, &tl) || tl >= cap)
        return -EACCES;
    memcpy(out, t, tl);
    out[tl] = '\0';
    /* The broker matched by MQTT's rules; AWS's differ ("a/#" does not
     * match "a"), and only a subscription of the device delivers. */
    const struct sub_entry *sub = sess_sub_match(s, out, tl);
    if (!sub && s->resumed) {
        /* A resumed persistent session: its subscriptions were made on an
         * earlier connection and live in the broker, which has already
         * matched them (and applied their QoS). */
        static const struct sub_entry broker_held = { .qos = 1 };
        sub = &broker_held;
    }
    if (!sub)
        return -EACCES;
    /* iot:Receive on every delivery, so a policy change applies to live
     * subscriptions [aws-iot-core.md 2.2]. */
    if (!resource("topic", t, tl, res, sizeof(res), &rl) ||
        !reg_aws_allows(s->aws, AWS_ACT_RECEIVE, res, rl))
        return -EACCES;
    *ret_sub = sub;
    return (int)tl;
}
