/* MQTT 5.0 codec, client role: the property machinery (variable byte
 * integers, one table of which property may appear in which packet and how
 * often), the decoder for what a server sends and the encoders for what a
 * client sends. It owns nothing but the bytes-to-struct mapping, like
 * codec.c, whose validation helpers (mqtt_utf8_check, mqtt_topic_name_check)
 * and error codes it reuses; the fixed header is the 3.1.1 one. */
#include "bridges/mqtt/codec5.h"
#include "bridges/mqtt/codec_wire.h"

#include <errno.h>
#include <string.h>

#define STR_MAX 65535u              /* a two-byte length prefix (1.5.4) */

/* Bit per packet type (1..15) in the property table. */
#define PT(t) (1u << (t))
#define ALL_SERVER_PACKETS (PT(MQTT_CONNACK) | PT(MQTT_PUBLISH) | PT(MQTT_PUBACK) | \
                            PT(MQTT_PUBREC) | PT(MQTT_PUBREL) | PT(MQTT_PUBCOMP) | \
                            PT(MQTT_SUBACK) | PT(MQTT_UNSUBACK) | PT(MQTT_DISCONNECT) | \
                            PT(MQTT5_AUTH))

/* Packets a server sends a client (table 2.1, MQTT 5 adds DISCONNECT and AUTH). */
#define FROM_SERVER (ALL_SERVER_PACKETS | PT(MQTT_PINGRESP))

enum prop_type {
    PROP_NONE = 0,                  /* unknown identifier */
    PROP_BYTE,
    PROP_U16,
    PROP_U32,
    PROP_VBI,
    PROP_UTF8,
    PROP_BINARY,
    PROP_PAIR,
};

struct prop_spec {
    uint8_t type;                   /* enum prop_type */
    uint16_t in;                    /* PT() bits of the server packets that may carry it */
    uint16_t repeat;                /* PT() bits where it may appear more than once */
};

/* Table 2.4, restricted to what a server may send. Properties only a client
 * sends (Request Problem/Response Information, Will Delay Interval) have no
 * packet here, so receiving one is MQTT_E_PROPERTY like an unknown id. Session
 * Expiry Interval is CONNACK only: a server MUST NOT put it in DISCONNECT
 * [MQTT-3.14.2-2]. Everything but User Property, and Subscription Identifier
 * in PUBLISH [MQTT-3.3.4-4], may appear once ("It is a Protocol Error to
 * include ... more than once"). */
static const struct prop_spec props_table[64] = {
    [MQTT5_PROP_PAYLOAD_FORMAT] = { PROP_BYTE, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_MESSAGE_EXPIRY] = { PROP_U32, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_CONTENT_TYPE] = { PROP_UTF8, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_RESPONSE_TOPIC] = { PROP_UTF8, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_CORRELATION_DATA] = { PROP_BINARY, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_SUBSCRIPTION_ID] = { PROP_VBI, PT(MQTT_PUBLISH), PT(MQTT_PUBLISH) },
    [MQTT5_PROP_SESSION_EXPIRY] = { PROP_U32, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_ASSIGNED_CLIENT_ID] = { PROP_UTF8, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_SERVER_KEEP_ALIVE] = { PROP_U16, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_AUTH_METHOD] = { PROP_UTF8, PT(MQTT_CONNACK) | PT(MQTT5_AUTH), 0 },
    [MQTT5_PROP_AUTH_DATA] = { PROP_BINARY, PT(MQTT_CONNACK) | PT(MQTT5_AUTH), 0 },
    [MQTT5_PROP_REQUEST_PROBLEM_INFO] = { PROP_BYTE, 0, 0 },
    [MQTT5_PROP_WILL_DELAY] = { PROP_U32, 0, 0 },
    [MQTT5_PROP_REQUEST_RESPONSE_INFO] = { PROP_BYTE, 0, 0 },
    [MQTT5_PROP_RESPONSE_INFO] = { PROP_UTF8, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_SERVER_REFERENCE] = { PROP_UTF8, PT(MQTT_CONNACK) | PT(MQTT_DISCONNECT), 0 },
    [MQTT5_PROP_REASON_STRING] = { PROP_UTF8, ALL_SERVER_PACKETS & ~PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_RECEIVE_MAXIMUM] = { PROP_U16, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_TOPIC_ALIAS_MAXIMUM] = { PROP_U16, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_TOPIC_ALIAS] = { PROP_U16, PT(MQTT_PUBLISH), 0 },
    [MQTT5_PROP_MAXIMUM_QOS] = { PROP_BYTE, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_RETAIN_AVAILABLE] = { PROP_BYTE, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_USER] = { PROP_PAIR, ALL_SERVER_PACKETS, ALL_SERVER_PACKETS },
    [MQTT5_PROP_MAXIMUM_PACKET_SIZE] = { PROP_U32, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_WILDCARD_SUB_AVAILABLE] = { PROP_BYTE, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_SUB_ID_AVAILABLE] = { PROP_BYTE, PT(MQTT_CONNACK), 0 },
    [MQTT5_PROP_SHARED_SUB_AVAILABLE] = { PROP_BYTE, PT(MQTT_CONNACK), 0 },
};

/* ---- reason codes ---- */

/* Sorted lists per packet (3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1,
 * 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1), as the server may send them. */
static const uint8_t rc_connack[] = {
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
    0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
};
static const uint8_t rc_puback[] = {        /* PUBACK and PUBREC */
    0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99,
};
static const uint8_t rc_pubrel[] = { 0x00, 0x92 };     /* PUBREL and PUBCOMP */
static const uint8_t rc_suback[] = {
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
};
static const uint8_t rc_unsuback[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };
/* DISCONNECT from the server: 0x04 (with Will) is the client's alone. */
static const uint8_t rc_disconnect_server[] = {
    0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
    0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
    0xA1, 0xA2,
};
/* DISCONNECT from the client (what our encoder may send). */
static const uint8_t rc_disconnect_client[] = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
};
/* AUTH from the server: 0x19 (re-authenticate) is the client's alone. */
static const uint8_t rc_auth_server[] = { 0x00, 0x18 };

static bool rc_in(uint8_t rc, const uint8_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == rc)
            return true;
    return false;
}

#define RC_IN(rc, list) rc_in((rc), (list), sizeof(list))

/* Reason codes of the four publish acknowledgements, either direction. */
static bool ack_rc_ok(uint8_t type, uint8_t rc)
{
    return type == MQTT_PUBACK || type == MQTT_PUBREC ? RC_IN(rc, rc_puback)
                                                      : RC_IN(rc, rc_pubrel);
}

uint8_t mqtt5_disconnect_reason(int err)
{
    switch (err) {
    case MQTT_E_TOPIC_ALIAS:
        return MQTT5_RC_TOPIC_ALIAS_INVALID;
    case MQTT_E_PACKET_TOO_LARGE:
        return MQTT5_RC_PACKET_TOO_LARGE;
    case MQTT_E_PROPERTY:
    case MQTT_E_REASON:
    case MQTT_E_ROLE:
        return MQTT5_RC_PROTOCOL_ERROR;
    default:
        return MQTT5_RC_MALFORMED;
    }
}

/* ---- framing ---- */

int mqtt5_frame(const uint8_t *buf, size_t len, size_t max_packet)
{
    uint32_t remlen = 0;
    size_t hdr = 0;

    if (len < 1 || (buf[0] >> 4) != MQTT5_AUTH)
        return mqtt_frame(buf, len, max_packet);
    /* AUTH: mqtt_frame's steps for the same fixed header. The size check
     * also runs on the lower bound the length bytes seen so far allow, so a
     * peer cannot make us buffer up to max_packet first. */
    for (size_t i = 0; i < 4; i++) {
        uint8_t b;

        hdr = 2 + i;
        if (1 + i >= len)
            break;                      /* remlen is a lower bound */
        b = buf[1 + i];
        remlen |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
        if (i == 3)
            return MQTT_E_REMLEN_TOO_LONG;  /* a fifth length byte (1.5.5) */
    }
    if (max_packet < hdr || remlen > max_packet - hdr)
        return MQTT_E_PACKET_TOO_LARGE;
    /* Byte hdr - 1 is the last length byte: missing, or the body is short. */
    if (len <= hdr - 1 || len - hdr < remlen)
        return 0;
    return (int)(hdr + remlen);
}

/* ---- decoding ---- */

static int get_u32(struct rcur *r, uint32_t *ret)
{
    uint16_t hi, lo;

    if (rcur_u16be(r, &hi) < 0 || rcur_u16be(r, &lo) < 0)
        return MQTT_E_TRUNCATED;
    *ret = (uint32_t)hi << 16 | lo;
    return 0;
}

/* A Variable Byte Integer (1.5.5): at most four bytes, and the fewest that
 * carry the value [MQTT-1.5.5-1], i.e. a last byte of 0 only when alone. */
static int get_vbi(struct rcur *r, uint32_t *ret)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < 4; i++) {
        uint8_t b;

        if (rcur_u8(r, &b) < 0)
            return MQTT_E_TRUNCATED;
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return MQTT_E_VBI;
            *ret = v;
            return 0;
        }
    }
    return MQTT_E_VBI;
}

/* Byte properties that are flags: 0 or 1, else a Protocol Error. */
static bool is_flag_prop(uint8_t id)
{
    return id == MQTT5_PROP_PAYLOAD_FORMAT || id == MQTT5_PROP_RETAIN_AVAILABLE ||
           id == MQTT5_PROP_WILDCARD_SUB_AVAILABLE || id == MQTT5_PROP_SUB_ID_AVAILABLE ||
           id == MQTT5_PROP_SHARED_SUB_AVAILABLE || id == MQTT5_PROP_MAXIMUM_QOS;
}

/* Stores one property value; checks its range. */
static int store_prop(uint8_t id, uint32_t num, const struct mqtt5_user_prop *s,
                      struct mqtt5_props *p)
{
    switch (id) {
    case MQTT5_PROP_PAYLOAD_FORMAT: p->payload_format = (uint8_t)num; break;
    case MQTT5_PROP_MESSAGE_EXPIRY: p->message_expiry = num; break;
    case MQTT5_PROP_CONTENT_TYPE: p->content_type = s->value; break;
    case MQTT5_PROP_RESPONSE_TOPIC:
        /* A topic name, no wildcards [MQTT-3.3.2-14]. */
        if (mqtt_topic_name_check(s->value.p, s->value.len) < 0)
            return MQTT_E_PROPERTY;
        p->response_topic = s->value;
        break;
    case MQTT5_PROP_CORRELATION_DATA: p->correlation_data = s->value; break;
    case MQTT5_PROP_SUBSCRIPTION_ID:
        if (num == 0)
            return MQTT_E_PROPERTY; /* 1..268435455 (3.3.2.3.8) */
        if (p->sub_id_count++ == 0)
            p->sub_id = num;
        break;
    case MQTT5_PROP_SESSION_EXPIRY: p->session_expiry = num; break;
    case MQTT5_PROP_ASSIGNED_CLIENT_ID: p->assigned_client_id = s->value; break;
    case MQTT5_PROP_SERVER_KEEP_ALIVE: p->server_keep_alive = (uint16_t)num; break;
    case MQTT5_PROP_AUTH_METHOD: p->auth_method = s->value; break;
    case MQTT5_PROP_AUTH_DATA: p->auth_data = s->value; break;
    case MQTT5_PROP_RESPONSE_INFO: p->response_info = s->value; break;
    case MQTT5_PROP_SERVER_REFERENCE: p->server_reference = s->value; break;
    case MQTT5_PROP_REASON_STRING: p->reason_string = s->value; break;
    case MQTT5_PROP_RECEIVE_MAXIMUM:
        if (num == 0)
            return MQTT_E_PROPERTY; /* "a Protocol Error to include ... a value of 0" */
        p->receive_maximum = (uint16_t)num;
        break;
    case MQTT5_PROP_TOPIC_ALIAS_MAXIMUM: p->topic_alias_maximum = (uint16_t)num; break;
    case MQTT5_PROP_MAXIMUM_QOS: p->maximum_qos = (uint8_t)num; break;
    case MQTT5_PROP_RETAIN_AVAILABLE: p->retain_available = (uint8_t)num; break;
    case MQTT5_PROP_USER:
        if (p->user_count < MQTT5_MAX_USER_PROPS)
            p->user[p->user_count++] = *s;
        p->user_total++;
        break;
    case MQTT5_PROP_MAXIMUM_PACKET_SIZE:
        if (num == 0)
            return MQTT_E_PROPERTY; /* "a Protocol Error ... to have the value 0" */
        p->maximum_packet_size = num;
        break;
    case MQTT5_PROP_WILDCARD_SUB_AVAILABLE: p->wildcard_sub_available = (uint8_t)num; break;
    case MQTT5_PROP_SUB_ID_AVAILABLE: p->sub_id_available = (uint8_t)num; break;
    case MQTT5_PROP_SHARED_SUB_AVAILABLE: p->shared_sub_available = (uint8_t)num; break;
    default:
        return MQTT_E_PROPERTY;     /* unreachable: the table lets only these through */
    }
    return 0;
}

/* One property value of the given type from the block. Inside the block a
 * short read means the property overruns the property length: that is the
 * property's fault (MQTT_E_PROPERTY), not the packet's. */
static int read_prop_value(struct rcur *b, uint8_t type, uint32_t *num, struct mqtt5_user_prop *s)
{
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    int e;

    switch (type) {
    case PROP_BYTE:
        e = mqtt_wire_get_u8(b, &u8);
        *num = u8;
        break;
    case PROP_U16:
        e = mqtt_wire_get_u16(b, &u16);
        *num = u16;
        break;
    case PROP_U32:
        e = get_u32(b, num);
        break;
    case PROP_VBI:
        e = get_vbi(b, num);
        break;
    case PROP_UTF8:
        e = mqtt_wire_get_utf8(b, &s->value);
        break;
    case PROP_BINARY:
        e = mqtt_wire_get_slice(b, &s->value);
        break;
    case PROP_PAIR:
        e = mqtt_wire_get_utf8(b, &s->name);
        if (e == 0)
            e = mqtt_wire_get_utf8(b, &s->value);
        break;
    default:
        e = MQTT_E_PROPERTY;
        break;
    }
    return e == MQTT_E_TRUNCATED ? MQTT_E_PROPERTY : e;
}

/* The property length and properties of a packet of the given type (2.2.2).
 * A length beyond the packet is MQTT_E_TRUNCATED, like a string's. */
static int get_props(struct rcur *r, unsigned type, struct mqtt5_props *p)
{
    struct rcur b;
    const uint8_t *block;
    uint32_t len;
    int e;

    if ((e = get_vbi(r, &len)) < 0)
        return e;
    if (rcur_bytes(r, len, &block) < 0)
        return MQTT_E_TRUNCATED;
    p->raw.p = block;
    p->raw.len = len;
    rcur_init(&b, block, len);
    while (rcur_left(&b) > 0) {
        const struct prop_spec *spec;
        struct mqtt5_user_prop s = { { NULL, 0 }, { NULL, 0 } };
        uint32_t num = 0;
        uint8_t id;

        /* Identifiers are variable byte integers, but every defined one is
         * below 0x80: a continuation bit means an unknown identifier. */
        (void)mqtt_wire_get_u8(&b, &id);      /* cannot fail: a byte is left */
        spec = id < 64 ? &props_table[id] : NULL;
        if (!spec || spec->type == PROP_NONE || !(spec->in & PT(type)))
            return MQTT_E_PROPERTY;
        if (id == MQTT5_PROP_TOPIC_ALIAS)
            return MQTT_E_TOPIC_ALIAS;  /* we allow none [MQTT-3.1.2-27] */
        if (((p->present >> id) & 1) && !(spec->repeat & PT(type)))
            return MQTT_E_PROPERTY;
        p->present |= (uint64_t)1 << id;
        if ((e = read_prop_value(&b, spec->type, &num, &s)) < 0)
            return e;
        if (is_flag_prop(id) && num > 1)
            return MQTT_E_PROPERTY;
        if ((e = store_prop(id, num, &s, p)) < 0)
            return e;
    }
    return 0;
}

static int decode_connack(struct rcur *r, struct mqtt5_packet *p)
{
    struct mqtt_connack *c = &p->base.u.connack;
    uint8_t ack;
    int e;

    if ((e = mqtt_wire_get_u8(r, &ack)) < 0 || (e = mqtt_wire_get_u8(r, &p->reason)) < 0)
        return e;
    if (ack & 0xFE)
        return MQTT_E_CONNACK_FLAGS;    /* [MQTT-3.2.2-1] */
    c->session_present = ack & 0x01;
    c->return_code = p->reason;
    if (c->session_present && p->reason != MQTT5_RC_SUCCESS)
        return MQTT_E_CONNACK_FLAGS;    /* [MQTT-3.2.2-6] */
    /* A broker that does not speak MQTT 5 answers with a 3.1.1 CONNACK
     * refusing the level (1) or the connection (2..5), without properties:
     * report it rather than calling it malformed, so the link can say why. */
    if (rcur_left(r) == 0 && p->reason >= 1 && p->reason <= 5) {
        p->connack_311 = true;
        return 0;
    }
    if (!RC_IN(p->reason, rc_connack))
        return MQTT_E_REASON;           /* [MQTT-3.2.2-8] */
    if ((e = get_props(r, MQTT_CONNACK, &p->props)) < 0)
        return e;
    return mqtt_wire_end(r);
}

static int decode_publish(struct rcur *r, uint8_t flags, struct mqtt5_packet *p)
{
    struct mqtt_publish *m = &p->base.u.publish;
    const uint8_t *payload;
    size_t n;
    int e;

    m->dup = flags & 0x8;
    m->qos = (flags >> 1) & 3;
    m->retain = flags & 0x1;
    if (m->qos == 3)
        return MQTT_E_QOS3;             /* [MQTT-3.3.1-4] */
    if (m->dup && m->qos == 0)
        return MQTT_E_DUP_QOS0;         /* [MQTT-3.3.1-2] */
    if ((e = mqtt_wire_get_slice(r, &m->topic)) < 0)
        return e;
    if (m->qos > 0 && (e = mqtt_wire_get_packet_id(r, &m->packet_id)) < 0)
        return e;
    /* Properties before the topic check, so that an aliased PUBLISH (empty
     * topic + Topic Alias) reports the alias, its real defect. */
    if ((e = get_props(r, MQTT_PUBLISH, &p->props)) < 0)
        return e;
    if ((e = mqtt_topic_name_check(m->topic.p, m->topic.len)) < 0)
        return e;
    n = rcur_left(r);
    (void)rcur_bytes(r, n, &payload);   /* cannot fail: n bytes are left */
    m->payload.p = payload;
    m->payload.len = n;
    return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: packet id, then reason code and
 * properties, each omitted when the remaining length stops before it
 * (3.4.2.1: "If the Remaining Length is 2, there is no Reason Code and the
 * value of 0x00 is used"; below 4 there is no Property Length). */
static int decode_ack(struct rcur *r, uint8_t type, struct mqtt5_packet *p)
{
    int e;

    if ((e = mqtt_wire_get_packet_id(r, &p->base.u.ack.packet_id)) < 0)
        return e;
    if (rcur_left(r) == 0)
        return 0;
    (void)mqtt_wire_get_u8(r, &p->reason);        /* cannot fail: a byte is left */
    if (!ack_rc_ok(type, p->reason))
        return MQTT_E_REASON;           /* [MQTT-3.4.2-1, 3.5.2-1, 3.6.2-1, 3.7.2-1] */
    if (rcur_left(r) == 0)
        return 0;
    if ((e = get_props(r, type, &p->props)) < 0)
        return e;
    return mqtt_wire_end(r);
}

/* SUBACK and UNSUBACK: packet id, properties, one reason code per filter. */
static int decode_suback(struct rcur *r, uint8_t type, struct mqtt5_packet *p)
{
    struct mqtt_suback *s = &p->base.u.suback;
    int e;

    if ((e = mqtt_wire_get_packet_id(r, &s->packet_id)) < 0)
        return e;
    if ((e = get_props(r, type, &p->props)) < 0)
        return e;
    /* One code per filter of our request, which had at least one. */
    if (rcur_left(r) == 0)
        return MQTT_E_NO_FILTERS;
    while (rcur_left(r) > 0) {
        uint8_t code;

        if (s->count == MQTT_MAX_FILTERS)
            return MQTT_E_TOO_MANY_FILTERS;
        (void)mqtt_wire_get_u8(r, &code);         /* cannot fail: a byte is left */
        if (type == MQTT_SUBACK ? !RC_IN(code, rc_suback) : !RC_IN(code, rc_unsuback))
            return MQTT_E_REASON;       /* [MQTT-3.9.3-2], [MQTT-3.11.3-2] */
        s->codes[s->count++] = code;
    }
    return 0;
}

/* DISCONNECT and AUTH: reason code and properties, both omitted when the
 * remaining length is 0 (3.14.2.1, 3.15.2.1). DISCONNECT may also stop after
 * the reason code ("If the Remaining Length is less than 2, a value of 0 is
 * used" for the property length); AUTH may not. */
static int decode_disconnect_auth(struct rcur *r, unsigned type, struct mqtt5_packet *p)
{
    bool ok;
    int e;

    if (rcur_left(r) == 0)
        return 0;
    (void)mqtt_wire_get_u8(r, &p->reason);        /* cannot fail: a byte is left */
    ok = type == MQTT_DISCONNECT ? RC_IN(p->reason, rc_disconnect_server)
                                 : RC_IN(p->reason, rc_auth_server);
    if (!ok)
        return MQTT_E_REASON;
    if (rcur_left(r) == 0 && type == MQTT_DISCONNECT)
        return 0;
    if ((e = get_props(r, type, &p->props)) < 0)
        return e;
    return mqtt_wire_end(r);
}

/* Reads the fixed header's remaining length; mirrors mqtt_frame. Returns the
 * header length, or a negative mqtt_err. */
static int fixed_header(const uint8_t *pkt, size_t len, uint32_t *ret_remlen)
{
    uint32_t v = 0;

    for (size_t i = 0; i < 4; i++) {
        uint8_t b;

        if (1 + i >= len)
            return MQTT_E_TRUNCATED;
        b = pkt[1 + i];
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *ret_remlen = v;
            return (int)(2 + i);
        }
    }
    return MQTT_E_REMLEN_TOO_LONG;
}

int mqtt5_decode_client(const uint8_t *pkt, size_t len, struct mqtt5_packet *ret)
{
    struct mqtt5_packet p;
    struct rcur r;
    uint32_t remlen = 0;
    unsigned type;
    uint8_t flags;
    int hdr, e;

    if (len < 1)
        return MQTT_E_TRUNCATED;
    type = pkt[0] >> 4;
    flags = pkt[0] & 0x0F;
    if (type == 0)
        return MQTT_E_BAD_TYPE;
    hdr = fixed_header(pkt, len, &remlen);
    if (hdr < 0)
        return hdr;
    if (len - (size_t)hdr < remlen)
        return MQTT_E_TRUNCATED;
    if (len - (size_t)hdr > remlen)
        return MQTT_E_TRAILING;
    if (!(FROM_SERVER & PT(type)))
        return MQTT_E_ROLE;
    /* Table 2.2: PUBREL 0x2, PUBLISH its own flags, every other 0. */
    if (type != MQTT_PUBLISH && flags != (type == MQTT_PUBREL ? 0x2 : 0))
        return MQTT_E_RESERVED_FLAGS;   /* [MQTT-2.1.3-1] */

    /* A zeroed local: *ret untouched on error, unused fields compare equal. */
    memset(&p, 0, sizeof(p));
    p.base.type = (enum mqtt_type)type;
    p.base.flags = flags;
    rcur_init(&r, pkt + hdr, remlen);
    switch (type) {
    case MQTT_CONNACK:
        e = decode_connack(&r, &p);
        break;
    case MQTT_PUBLISH:
        e = decode_publish(&r, flags, &p);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        e = decode_ack(&r, (uint8_t)type, &p);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        e = decode_suback(&r, (uint8_t)type, &p);
        break;
    case MQTT_PINGRESP:
        e = mqtt_wire_end(&r);
        break;
    case MQTT_DISCONNECT:
    case MQTT5_AUTH:
        e = decode_disconnect_auth(&r, type, &p);
        break;
    default:
        e = MQTT_E_ROLE;                /* unreachable: FROM_SERVER above */
        break;
    }
    if (e < 0)
        return e;
    *ret = p;
    return 0;
}

int mqtt5_user_prop_next(struct mqtt_slice *it, struct mqtt5_user_prop *ret)
{
    struct rcur b;

    if (it->len == 0)
        return 0;
    rcur_init(&b, it->p, it->len);
    while (rcur_left(&b) > 0) {
        const struct prop_spec *spec;
        struct mqtt5_user_prop s = { { NULL, 0 }, { NULL, 0 } };
        uint32_t num;
        uint8_t id;
        int e;

        (void)mqtt_wire_get_u8(&b, &id);
        spec = id < 64 ? &props_table[id] : NULL;
        if (!spec || spec->type == PROP_NONE)
            return MQTT_E_PROPERTY;
        if ((e = read_prop_value(&b, spec->type, &num, &s)) < 0)
            return MQTT_E_PROPERTY;
        if (id == MQTT5_PROP_USER) {
            it->p += b.off;
            it->len -= b.off;
            *ret = s;
            return 1;
        }
    }
    it->p += b.off;
    it->len = 0;
    return 0;
}

/* ---- encoding ---- */


/* Saturating sum, so absurd inputs fail in mqtt_wire_begin() rather than wrap. */
static size_t add(size_t a, size_t b)
{
    return a >= MQTT_WIRE_TOO_BIG || b >= MQTT_WIRE_TOO_BIG || a + b >= MQTT_WIRE_TOO_BIG ? MQTT_WIRE_TOO_BIG : a + b;
}

static void put_u32(struct wcur *w, uint32_t v)
{
    wcur_u16be(w, (uint16_t)(v >> 16));
    wcur_u16be(w, (uint16_t)v);
}

static size_t str_size(const struct mqtt_slice *s)
{
    return s->len > STR_MAX ? MQTT_WIRE_TOO_BIG : 2 + s->len;
}

static size_t connect_props_len(const struct mqtt5_connect *c)
{
    return (c->session_expiry ? 5u : 0u) + (c->receive_maximum ? 3u : 0u) +
           (c->maximum_packet_size ? 5u : 0u);
}

static size_t connect_remlen(const struct mqtt5_connect *c)
{
    const struct mqtt_connect *b = &c->base;
    size_t plen = connect_props_len(c);
    size_t n = 2 + 4 + 1 + 1 + 2;       /* "MQTT", level, flags, keepalive */

    n += mqtt_wire_vbi_size(plen) + plen;
    n = add(n, str_size(&b->client_id));
    if (b->will) {
        n = add(n, 1);                  /* Will Properties: length 0 */
        n = add(n, str_size(&b->will_topic));
        n = add(n, str_size(&b->will_payload));
    }
    if (b->has_username)
        n = add(n, str_size(&b->username));
    if (b->has_password)
        n = add(n, str_size(&b->password));
    return n;
}

size_t mqtt5_encoded_len_connect(const struct mqtt5_connect *c)
{
    return mqtt_wire_packet_size(connect_remlen(c));
}

void mqtt5_encode_connect(struct wcur *w, const struct mqtt5_connect *c)
{
    static const uint8_t name[] = { 'M', 'Q', 'T', 'T' };
    const struct mqtt_connect *b = &c->base;
    uint8_t flags = 0;

    if (b->will && b->will_qos > 2) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    /* Flags as 3.1.1 (3.1.2.3); bit 1 is Clean Start. */
    if (b->clean_session)
        flags |= 0x02;
    if (b->will) {
        flags |= 0x04 | (uint8_t)(b->will_qos << 3);
        if (b->will_retain)
            flags |= 0x20;
    }
    if (b->has_password)
        flags |= 0x40;
    if (b->has_username)
        flags |= 0x80;
    /* Over-long strings saturate connect_remlen, so mqtt_wire_begin() refuses them. */
    if (!mqtt_wire_begin(w, MQTT_CONNECT << 4, connect_remlen(c)))
        return;
    wcur_u16be(w, sizeof(name));
    wcur_bytes(w, name, sizeof(name));
    wcur_u8(w, MQTT_PROTOCOL_LEVEL_5);
    wcur_u8(w, flags);
    wcur_u16be(w, b->keepalive);
    mqtt_wire_put_vbi(w, connect_props_len(c));
    if (c->session_expiry) {
        wcur_u8(w, MQTT5_PROP_SESSION_EXPIRY);
        put_u32(w, c->session_expiry);
    }
    if (c->receive_maximum) {
        wcur_u8(w, MQTT5_PROP_RECEIVE_MAXIMUM);
        wcur_u16be(w, c->receive_maximum);
    }
    if (c->maximum_packet_size) {
        wcur_u8(w, MQTT5_PROP_MAXIMUM_PACKET_SIZE);
        put_u32(w, c->maximum_packet_size);
    }
    mqtt_wire_put_slice(w, &b->client_id);
    if (b->will) {
        wcur_u8(w, 0);                  /* Will Properties: none */
        mqtt_wire_put_slice(w, &b->will_topic);
        mqtt_wire_put_slice(w, &b->will_payload);
    }
    if (b->has_username)
        mqtt_wire_put_slice(w, &b->username);
    if (b->has_password)
        mqtt_wire_put_slice(w, &b->password);
}

static size_t publish_props_len(const struct mqtt5_publish *p)
{
    size_t n = 0;

    if (p->payload_utf8)
        n += 2;
    if (p->message_expiry)
        n += 5;
    if (p->content_type.len)
        n = add(n, add(1, str_size(&p->content_type)));
    /* Each user property takes at least 5 bytes: stop counting early. */
    if (p->user_prop_count >= MQTT_WIRE_TOO_BIG / 5)
        return MQTT_WIRE_TOO_BIG;
    for (size_t i = 0; i < p->user_prop_count && n < MQTT_WIRE_TOO_BIG; i++)
        n = add(n, add(1, add(str_size(&p->user_props[i].name),
                              str_size(&p->user_props[i].value))));
    return n;
}

static size_t publish_remlen(const struct mqtt5_publish *p)
{
    const struct mqtt_publish *b = &p->base;
    size_t plen = publish_props_len(p);
    size_t n = add(str_size(&b->topic), b->qos ? 2 : 0);

    if (plen >= MQTT_WIRE_TOO_BIG)
        return MQTT_WIRE_TOO_BIG;
    n = add(n, mqtt_wire_vbi_size(plen) + plen);
    return add(n, b->payload.len);
}

size_t mqtt5_encoded_len_publish(const struct mqtt5_publish *p)
{
    return mqtt_wire_packet_size(publish_remlen(p));
}

void mqtt5_encode_publish(struct wcur *w, const struct mqtt5_publish *p)
{
    const struct mqtt_publish *b = &p->base;
    uint8_t first = MQTT_PUBLISH << 4;
    size_t remlen;
    int e;

    if (w->err)
        return;
    if (b->qos > 2 || (b->qos > 0 && b->packet_id == 0) ||
        (p->user_prop_count > 0 && !p->user_props)) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    remlen = publish_remlen(p);
    if (remlen >= MQTT_WIRE_TOO_BIG) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    /* A string the broker would refuse ends the whole connection
     * [MQTT-1.5.4-1]: refuse it here, where the caller can still choose. */
    if (p->content_type.len &&
        (e = mqtt_utf8_check(p->content_type.p, p->content_type.len)) < 0) {
        mqtt_wire_fail(w, e);
        return;
    }
    for (size_t i = 0; i < p->user_prop_count; i++) {
        const struct mqtt5_user_prop *u = &p->user_props[i];
        if ((e = mqtt_utf8_check(u->name.p, u->name.len)) < 0 ||
            (e = mqtt_utf8_check(u->value.p, u->value.len)) < 0) {
            mqtt_wire_fail(w, e);
            return;
        }
    }
    first |= (uint8_t)(b->qos << 1);
    if (b->dup)
        first |= 0x8;
    if (b->retain)
        first |= 0x1;
    if (!mqtt_wire_begin(w, first, remlen))
        return;
    mqtt_wire_put_slice(w, &b->topic);
    if (b->qos > 0)
        wcur_u16be(w, b->packet_id);
    mqtt_wire_put_vbi(w, publish_props_len(p));
    if (p->payload_utf8) {
        wcur_u8(w, MQTT5_PROP_PAYLOAD_FORMAT);
        wcur_u8(w, 1);
    }
    if (p->message_expiry) {
        wcur_u8(w, MQTT5_PROP_MESSAGE_EXPIRY);
        put_u32(w, p->message_expiry);
    }
    if (p->content_type.len) {
        wcur_u8(w, MQTT5_PROP_CONTENT_TYPE);
        mqtt_wire_put_slice(w, &p->content_type);
    }
    for (size_t i = 0; i < p->user_prop_count; i++) {
        wcur_u8(w, MQTT5_PROP_USER);
        mqtt_wire_put_slice(w, &p->user_props[i].name);
        mqtt_wire_put_slice(w, &p->user_props[i].value);
    }
    wcur_bytes(w, b->payload.p, b->payload.len);
}

size_t mqtt5_encoded_len_ack(uint8_t reason)
{
    return reason ? 5 : 4;
}

void mqtt5_encode_ack(struct wcur *w, enum mqtt_type type, uint16_t packet_id, uint8_t reason)
{
    if (type != MQTT_PUBACK && type != MQTT_PUBREC && type != MQTT_PUBREL &&
        type != MQTT_PUBCOMP) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    if (packet_id == 0 || !ack_rc_ok((uint8_t)type, reason)) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    if (!mqtt_wire_begin(w, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0)), reason ? 3 : 2))
        return;
    wcur_u16be(w, packet_id);
    /* Reason 0 without properties may be omitted [MQTT-3.4.2-1]: the 2-byte
     * form, which is also all a 3.1.1-minded reader expects. */
    if (reason)
        wcur_u8(w, reason);
}

static size_t subscribe_remlen(const struct mqtt_subscribe *s, bool with_options)
{
    size_t n = 2 + 1;                   /* packet id, property length 0 */
    size_t count = s->count < MQTT_MAX_FILTERS ? s->count : MQTT_MAX_FILTERS;

    for (size_t i = 0; i < count; i++)
        n = add(n, add(str_size(&s->filters[i].filter), with_options ? 1 : 0));
    return n;
}

size_t mqtt5_encoded_len_subscribe(const struct mqtt_subscribe *s)
{
    return mqtt_wire_packet_size(subscribe_remlen(s, true));
}

size_t mqtt5_encoded_len_unsubscribe(const struct mqtt_subscribe *s)
{
    return mqtt_wire_packet_size(subscribe_remlen(s, false));
}

static void encode_subscribe(struct wcur *w, enum mqtt_type type, const struct mqtt_subscribe *s,
                             bool retain_as_published)
{
    bool with_options = type == MQTT_SUBSCRIBE;

    if (s->packet_id == 0 || s->count == 0 || s->count > MQTT_MAX_FILTERS) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        if (s->filters[i].filter.len > STR_MAX || (with_options && s->filters[i].qos > 2)) {
            mqtt_wire_fail(w, MQTT_E_BUFFER);
            return;
        }
    }
    if (!mqtt_wire_begin(w, (uint8_t)(type << 4 | 0x2), subscribe_remlen(s, with_options)))
        return;
    wcur_u16be(w, s->packet_id);
    wcur_u8(w, 0);                      /* no properties (no Subscription Identifier) */
    for (size_t i = 0; i < s->count; i++) {
        mqtt_wire_put_slice(w, &s->filters[i].filter);
        /* Subscription options (3.8.3.1): QoS bits 0-1, No Local (bit 2) 0,
         * Retain As Published bit 3, Retain Handling bits 4-5 0. */
        if (with_options)
            wcur_u8(w, (uint8_t)(s->filters[i].qos | (retain_as_published ? 0x08 : 0)));
    }
}

void mqtt5_encode_subscribe(struct wcur *w, const struct mqtt_subscribe *s,
                            bool retain_as_published)
{
    encode_subscribe(w, MQTT_SUBSCRIBE, s, retain_as_published);
}

void mqtt5_encode_unsubscribe(struct wcur *w, const struct mqtt_subscribe *s)
{
    encode_subscribe(w, MQTT_UNSUBSCRIBE, s, false);
}

size_t mqtt5_encoded_len_disconnect(uint8_t reason)
{
    return reason ? 3 : 2;
}

void mqtt5_encode_disconnect(struct wcur *w, uint8_t reason)
{
    if (!RC_IN(reason, rc_disconnect_client)) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    /* Reason 0 without properties: remaining length 0 (3.14.2.1). */
    if (!mqtt_wire_begin(w, MQTT_DISCONNECT << 4, reason ? 1 : 0))
        return;
    if (reason)
        wcur_u8(w, reason);
}
