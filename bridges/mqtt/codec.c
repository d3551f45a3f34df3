/* MQTT 3.1.1 codec: framing, decoding with every check the spec names, and
 * encoding, for both roles. It owns nothing but the bytes-to-struct mapping:
 * no allocation, no I/O, no logging; decoded strings borrow from the caller's
 * packet buffer. Reading goes through the rcur cursor (a short read is a
 * truncated packet), writing through wcur after one up-front size check, so
 * an encoder either writes a whole packet or nothing. */
#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/codec_wire.h"

#include <errno.h>
#include <string.h>

#define STR_MAX 65535u      /* a two-byte length prefix [MQTT-1.5.3] */

/* Fixed-header flags each type must carry (table 2.2) [MQTT-2.2.2-1,2];
 * PUBLISH carries DUP/QoS/RETAIN instead and is checked on its own. */
static const uint8_t required_flags[16] = {
    [MQTT_PUBREL] = 0x2,
    [MQTT_SUBSCRIBE] = 0x2,
    [MQTT_UNSUBSCRIBE] = 0x2,
};

/* Who may send each type in 3.1.1 (table 2.1). DISCONNECT is client to
 * server only; a 3.1.1 server just closes the connection. */
#define FROM_CLIENT 0x1
#define FROM_SERVER 0x2
static const uint8_t senders[16] = {
    [MQTT_CONNECT] = FROM_CLIENT,
    [MQTT_CONNACK] = FROM_SERVER,
    [MQTT_PUBLISH] = FROM_CLIENT | FROM_SERVER,
    [MQTT_PUBACK] = FROM_CLIENT | FROM_SERVER,
    [MQTT_PUBREC] = FROM_CLIENT | FROM_SERVER,
    [MQTT_PUBREL] = FROM_CLIENT | FROM_SERVER,
    [MQTT_PUBCOMP] = FROM_CLIENT | FROM_SERVER,
    [MQTT_SUBSCRIBE] = FROM_CLIENT,
    [MQTT_SUBACK] = FROM_SERVER,
    [MQTT_UNSUBSCRIBE] = FROM_CLIENT,
    [MQTT_UNSUBACK] = FROM_SERVER,
    [MQTT_PINGREQ] = FROM_CLIENT,
    [MQTT_PINGRESP] = FROM_SERVER,
    [MQTT_DISCONNECT] = FROM_CLIENT,
};

/* CONNECT flag bits (3.1.2.3). */
#define CF_RESERVED 0x01
#define CF_CLEAN 0x02
#define CF_WILL 0x04
#define CF_WILL_QOS_SHIFT 3
#define CF_WILL_QOS_MASK 0x18
#define CF_WILL_RETAIN 0x20
#define CF_PASSWORD 0x40
#define CF_USERNAME 0x80

/* PUBLISH fixed-header flag bits (3.3.1). */
#define PF_RETAIN 0x1
#define PF_QOS_SHIFT 1
#define PF_DUP 0x8

static const uint8_t name_mqtt[] = { 'M', 'Q', 'T', 'T' };
static const uint8_t name_mqisdp[] = { 'M', 'Q', 'I', 's', 'd', 'p' };

const char *mqtt_err_name(int err)
{
    switch (err) {
    case 0: return "ok";
    case MQTT_E_REMLEN_TOO_LONG: return "remlen-too-long";
    case MQTT_E_PACKET_TOO_LARGE: return "packet-too-large";
    case MQTT_E_BAD_TYPE: return "bad-type";
    case MQTT_E_RESERVED_FLAGS: return "reserved-flags";
    case MQTT_E_QOS3: return "qos3";
    case MQTT_E_PACKET_ID_ZERO: return "packet-id-zero";
    case MQTT_E_UTF8: return "utf8";
    case MQTT_E_UTF8_NUL: return "utf8-nul";
    case MQTT_E_TOPIC_WILDCARD: return "topic-wildcard";
    case MQTT_E_TOPIC_EMPTY: return "topic-empty";
    case MQTT_E_FILTER_EMPTY: return "filter-empty";
    case MQTT_E_FILTER_INVALID: return "filter-invalid";
    case MQTT_E_PROTOCOL_NAME: return "protocol-name";
    case MQTT_E_PROTOCOL_LEVEL: return "protocol-level";
    case MQTT_E_CONNECT_RESERVED: return "connect-reserved";
    case MQTT_E_WILL_FLAGS: return "will-flags";
    case MQTT_E_TRUNCATED: return "truncated";
    case MQTT_E_TRAILING: return "trailing";
    case MQTT_E_NO_FILTERS: return "no-filters";
    case MQTT_E_TOO_MANY_FILTERS: return "too-many-filters";
    case MQTT_E_SUB_QOS: return "sub-qos";
    case MQTT_E_ROLE: return "role";
    case MQTT_E_CLIENT_ID_EMPTY: return "client-id-empty";
    case MQTT_E_CONNACK_FLAGS: return "connack-flags";
    case MQTT_E_BUFFER: return "buffer";
    case MQTT_E_SUBACK_CODE: return "suback-code";
    case MQTT_E_DUP_QOS0: return "dup-qos0";
    case MQTT_E_PROPERTY: return "property";
    case MQTT_E_REASON: return "reason";
    case MQTT_E_TOPIC_ALIAS: return "topic-alias";
    case MQTT_E_VBI: return "vbi";
    case -EMSGSIZE: return "buffer-full";
    default: return "unknown";
    }
}

/* ---- validation ---- */

int mqtt_utf8_check(const uint8_t *p, size_t len)
{
    size_t i = 0;

    /* Well-formed sequences per Unicode table 3-7: this refuses overlong
     * forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF, which
     * [MQTT-1.5.3-1] names) and code points above U+10FFFF (F4 90.., F5..FF). */
    while (i < len) {
        uint8_t c = p[i];
        uint8_t lo = 0x80, hi = 0xBF;
        size_t n;

        if (c == 0)
            return MQTT_E_UTF8_NUL;     /* [MQTT-1.5.3-2] */
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2;
            lo = 0xA0;
        } else if (c == 0xED) {
            n = 2;
            hi = 0x9F;
        } else if (c >= 0xE1 && c <= 0xEF) {
            n = 2;
        } else if (c == 0xF0) {
            n = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3;
            hi = 0x8F;
        } else {
            return MQTT_E_UTF8;         /* stray continuation, C0, C1, F5..FF */
        }
        if (len - i - 1 < n)
            return MQTT_E_UTF8;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return MQTT_E_UTF8;
        for (size_t k = 2; k <= n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return MQTT_E_UTF8;
        i += n + 1;
    }
    return 0;
}

int mqtt_topic_name_check(const uint8_t *p, size_t len)
{
    int r;

    if (len == 0)
        return MQTT_E_TOPIC_EMPTY;      /* [MQTT-4.7.3-1] */
    r = mqtt_utf8_check(p, len);
    if (r < 0)
        return r;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '+' || p[i] == '#')
            return MQTT_E_TOPIC_WILDCARD;   /* [MQTT-3.3.2-2] */
    return 0;
}

int mqtt_topic_filter_check(const uint8_t *p, size_t len)
{
    int r;

    if (len == 0)
        return MQTT_E_FILTER_EMPTY;     /* [MQTT-4.7.3-1] */
    r = mqtt_utf8_check(p, len);
    if (r < 0)
        return r;
    for (size_t i = 0; i < len; i++) {
        bool level_start = i == 0 || p[i - 1] == '/';
        bool level_end = i + 1 == len || p[i + 1] == '/';

        /* '+' fills a whole level [MQTT-4.7.1-3]; '#' fills a whole level
         * and is the last character [MQTT-4.7.1-2]. */
        if (p[i] == '+' && (!level_start || !level_end))
            return MQTT_E_FILTER_INVALID;
        if (p[i] == '#' && (!level_start || i + 1 != len))
            return MQTT_E_FILTER_INVALID;
    }
    return 0;
}

/* End (exclusive) of the level starting at start. */
static size_t level_end(const uint8_t *s, size_t len, size_t start)
{
    while (start < len && s[start] != '/')
        start++;
    return start;
}

bool mqtt_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen)
{
    /* Positions past the end (len + 1) mean "no more levels": "a/" has two
     * levels, "a" and "", and "" has one. */
    size_t fi = 0, ti = 0;

    /* A wildcard first level never matches a topic starting with '$', so
     * "#" does not see $SYS or $aws [MQTT-4.7.2-1]. */
    if (tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#'))
        return false;
    while (fi <= flen) {
        size_t fe = level_end(filter, flen, fi);
        size_t fl = fe - fi;
        size_t te, tl;

        /* "#" also matches the parent level: "a/#" matches "a" (4.7.1.2). */
        if (fl == 1 && filter[fi] == '#')
            return true;
        if (ti > tlen)
            return false;
        te = level_end(topic, tlen, ti);
        tl = te - ti;
        if (!(fl == 1 && filter[fi] == '+')) {
            if (fl != tl || (fl > 0 && memcmp(filter + fi, topic + ti, fl) != 0))
                return false;
        }
        fi = fe + 1;
        ti = te + 1;
    }
    return ti > tlen;
}

/* ---- framing ---- */

/* Reads the remaining length that follows the first byte of buf. Returns the
 * fixed-header length (2..5) with *ret_remlen, 0 when more length bytes are
 * needed (then *ret_hdr and *ret_remlen are the smallest values the bytes
 * seen so far allow), or MQTT_E_REMLEN_TOO_LONG. */
static int read_remlen(const uint8_t *buf, size_t len, size_t *ret_hdr, uint32_t *ret_remlen)
{
    uint32_t v = 0;

    for (size_t i = 0; i < 4; i++) {
        uint8_t b;

        if (1 + i >= len) {
            *ret_hdr = 2 + i;
            *ret_remlen = v;
            return 0;
        }
        b = buf[1 + i];
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *ret_hdr = 2 + i;
            *ret_remlen = v;
            return (int)(2 + i);
        }
    }
    /* The fourth length byte still says "more" [MQTT-2.2.3]. */
    return MQTT_E_REMLEN_TOO_LONG;
}

static bool type_valid(uint8_t first)
{
    uint8_t t = first >> 4;
    return t >= MQTT_CONNECT && t <= MQTT_DISCONNECT;
}

int mqtt_frame(const uint8_t *buf, size_t len, size_t max_packet)
{
    size_t hdr;
    uint32_t remlen;
    int r;

    if (len < 1)
        return 0;
    if (!type_valid(buf[0]))
        return MQTT_E_BAD_TYPE;
    r = read_remlen(buf, len, &hdr, &remlen);
    if (r < 0)
        return r;
    /* Checked on the lower bound too (r == 0), so a peer cannot make us
     * buffer up to max_packet before refusing a length it already announced.
     * Written as a subtraction: hdr + remlen cannot overflow size_t, but
     * max_packet may be tiny. */
    if (max_packet < hdr || remlen > max_packet - hdr)
        return MQTT_E_PACKET_TOO_LARGE;
    if (r == 0 || len - hdr < remlen)
        return 0;
    return (int)(hdr + remlen);
}

/* ---- decoding ---- */

static bool slice_is(const struct mqtt_slice *s, const uint8_t *lit, size_t n)
{
    return s->len == n && memcmp(s->p, lit, n) == 0;
}

static int decode_connect(struct rcur *r, struct mqtt_connect *c)
{
    struct mqtt_slice name;
    uint8_t flags;
    int e;

    if ((e = mqtt_wire_get_slice(r, &name)) < 0 || (e = mqtt_wire_get_u8(r, &c->protocol_level)) < 0)
        return e;
    /* MQTT 3.1 clients ("MQIsdp", level 3) must hear CONNACK 1, not be
     * dropped as strangers, so they learn to retry with 3.1.1. Level is
     * checked before anything after it: an MQTT 5 CONNECT carries
     * properties we cannot parse [MQTT-3.1.2-2]. */
    if (slice_is(&name, name_mqisdp, sizeof(name_mqisdp)))
        return MQTT_E_PROTOCOL_LEVEL;
    if (!slice_is(&name, name_mqtt, sizeof(name_mqtt)))
        return MQTT_E_PROTOCOL_NAME;    /* [MQTT-3.1.2-1] */
    if (c->protocol_level != MQTT_PROTOCOL_LEVEL_311)
        return MQTT_E_PROTOCOL_LEVEL;

    if ((e = mqtt_wire_get_u8(r, &flags)) < 0)
        return e;
    if (flags & CF_RESERVED)
        return MQTT_E_CONNECT_RESERVED; /* [MQTT-3.1.2-3] */
    c->clean_session = flags & CF_CLEAN;
    c->will = flags & CF_WILL;
    c->will_qos = (flags & CF_WILL_QOS_MASK) >> CF_WILL_QOS_SHIFT;
    c->will_retain = flags & CF_WILL_RETAIN;
    c->has_username = flags & CF_USERNAME;
    c->has_password = flags & CF_PASSWORD;
    /* Will QoS and retain only with the will flag [MQTT-3.1.2-13,15]; QoS 3
     * never [MQTT-3.1.2-14]. */
    if (!c->will && (c->will_qos || c->will_retain))
        return MQTT_E_WILL_FLAGS;
    if (c->will_qos > 2)
        return MQTT_E_WILL_FLAGS;
    /* [MQTT-3.1.2-22] is broken by Arduino-era Google clients (flags 0x42):
     * report it and let the personality decide. */
    c->password_without_username = c->has_password && !c->has_username;

    if ((e = mqtt_wire_get_u16(r, &c->keepalive)) < 0)
        return e;
    /* Payload order is fixed: client id, will topic, will message, user
     * name, password [MQTT-3.1.3-1]. */
    if ((e = mqtt_wire_get_utf8(r, &c->client_id)) < 0)  /* [MQTT-3.1.3-4] */
        return e;
    if (c->will) {
        if ((e = mqtt_wire_get_slice(r, &c->will_topic)) < 0)
            return e;
        /* The will topic is a topic name: no wildcards [MQTT-3.1.3-10, 4.7.1-1]. */
        if ((e = mqtt_topic_name_check(c->will_topic.p, c->will_topic.len)) < 0)
            return e;
        if ((e = mqtt_wire_get_slice(r, &c->will_payload)) < 0)
            return e;
    }
    if (c->has_username && (e = mqtt_wire_get_utf8(r, &c->username)) < 0)  /* [MQTT-3.1.3-11] */
        return e;
    if (c->has_password && (e = mqtt_wire_get_slice(r, &c->password)) < 0)
        return e;
    if ((e = mqtt_wire_end(r)) < 0)
        return e;
    /* Last, so that a packet with this and a real defect reports the defect:
     * this one is answered with CONNACK 2, the others by closing. Clean
     * session 1 with an empty id is the server's call [MQTT-3.1.3-6,7]. */
    if (c->client_id.len == 0 && !c->clean_session)
        return MQTT_E_CLIENT_ID_EMPTY;  /* [MQTT-3.1.3-8] */
    return 0;
}

static int decode_connack(struct rcur *r, struct mqtt_connack *c)
{
    uint8_t ack;
    int e;

    if ((e = mqtt_wire_get_u8(r, &ack)) < 0 || (e = mqtt_wire_get_u8(r, &c->return_code)) < 0)
        return e;
    if (ack & 0xFE)
        return MQTT_E_CONNACK_FLAGS;    /* [MQTT-3.2.2-1] */
    c->session_present = ack & 0x01;
    if (c->session_present && c->return_code != MQTT_CONNACK_ACCEPTED)
        return MQTT_E_CONNACK_FLAGS;    /* [MQTT-3.2.2-4] */
    /* Return codes 6..255 are reserved, not forbidden to receive: the
     * caller treats any non-zero code as a refusal. */
    return mqtt_wire_end(r);
}

static int decode_publish(struct rcur *r, uint8_t flags, struct mqtt_publish *p)
{
    const uint8_t *payload;
    size_t n;
    int e;

    p->dup = flags & PF_DUP;
    p->qos = (flags >> PF_QOS_SHIFT) & 3;
    p->retain = flags & PF_RETAIN;
    if (p->qos == 3)
        return MQTT_E_QOS3;             /* [MQTT-3.3.1-4] */
    if (p->dup && p->qos == 0)
        return MQTT_E_DUP_QOS0;         /* [MQTT-3.3.1-2] */
    if ((e = mqtt_wire_get_slice(r, &p->topic)) < 0)
        return e;
    if ((e = mqtt_topic_name_check(p->topic.p, p->topic.len)) < 0)
        return e;
    /* The packet identifier is present only for QoS 1 and 2 (3.3.2.2). */
    if (p->qos > 0 && (e = mqtt_wire_get_packet_id(r, &p->packet_id)) < 0)
        return e;
    n = rcur_left(r);
    (void)rcur_bytes(r, n, &payload);   /* cannot fail: n bytes are left */
    p->payload.p = payload;
    p->payload.len = n;
    return 0;
}

static int decode_ack(struct rcur *r, struct mqtt_ack *a)
{
    int e = mqtt_wire_get_packet_id(r, &a->packet_id);
    if (e < 0)
        return e;
    return mqtt_wire_end(r);
}

static int decode_subscribe(struct rcur *r, bool with_qos, struct mqtt_subscribe *s)
{
    int e;

    if ((e = mqtt_wire_get_packet_id(r, &s->packet_id)) < 0)
        return e;
    /* At least one filter [MQTT-3.8.3-3, 3.10.3-2]. */
    if (rcur_left(r) == 0)
        return MQTT_E_NO_FILTERS;
    while (rcur_left(r) > 0) {
        struct mqtt_topic_qos f = { 0 };

        if (s->count == MQTT_MAX_FILTERS)
            return MQTT_E_TOO_MANY_FILTERS;
        if ((e = mqtt_wire_get_slice(r, &f.filter)) < 0)
            return e;
        if ((e = mqtt_topic_filter_check(f.filter.p, f.filter.len)) < 0)
            return e;
        if (with_qos) {
            if ((e = mqtt_wire_get_u8(r, &f.qos)) < 0)
                return e;
            /* Upper six bits reserved, QoS 3 invalid [MQTT-3.8.3-4]. */
            if (f.qos > 2)
                return MQTT_E_SUB_QOS;
        }
        s->filters[s->count++] = f;
    }
    return 0;
}

static int decode_suback(struct rcur *r, struct mqtt_suback *s)
{
    int e;

    if ((e = mqtt_wire_get_packet_id(r, &s->packet_id)) < 0)
        return e;
    /* One code per filter of our SUBSCRIBE, which had at least one. */
    if (rcur_left(r) == 0)
        return MQTT_E_NO_FILTERS;
    while (rcur_left(r) > 0) {
        uint8_t code;

        if (s->count == MQTT_MAX_FILTERS)
            return MQTT_E_TOO_MANY_FILTERS;
        (void)mqtt_wire_get_u8(r, &code);         /* cannot fail: a byte is left */
        if (code > 2 && code != MQTT_SUBACK_FAILURE)
            return MQTT_E_SUBACK_CODE;  /* [MQTT-3.9.3-2] */
        s->codes[s->count++] = code;
    }
    return 0;
}

int mqtt_decode(const uint8_t *pkt, size_t len, enum mqtt_role role, struct mqtt_packet *ret)
{
    struct mqtt_packet p;
    struct rcur r;
    size_t hdr;
    uint32_t remlen;
    uint8_t type, flags;
    int e;

    if (len < 1)
        return MQTT_E_TRUNCATED;
    if (!type_valid(pkt[0]))
        return MQTT_E_BAD_TYPE;
    e = read_remlen(pkt, len, &hdr, &remlen);
    if (e < 0)
        return e;
    if (e == 0 || len - hdr < remlen)
        return MQTT_E_TRUNCATED;
    if (len - hdr > remlen)
        return MQTT_E_TRAILING;

    type = pkt[0] >> 4;
    flags = pkt[0] & 0x0F;
    if (!(senders[type] & (role == MQTT_ROLE_SERVER ? FROM_CLIENT : FROM_SERVER)))
        return MQTT_E_ROLE;
    if (type != MQTT_PUBLISH && flags != required_flags[type])
        return MQTT_E_RESERVED_FLAGS;   /* [MQTT-2.2.2-2] */

    /* Decoded into a local so *ret is untouched on error, and zeroed so
     * fields a type does not use compare equal across decodes. */
    memset(&p, 0, sizeof(p));
    p.type = (enum mqtt_type)type;
    p.flags = flags;
    rcur_init(&r, pkt + hdr, remlen);
    switch (p.type) {
    case MQTT_CONNECT:
        e = decode_connect(&r, &p.u.connect);
        break;
    case MQTT_CONNACK:
        e = decode_connack(&r, &p.u.connack);
        break;
    case MQTT_PUBLISH:
        e = decode_publish(&r, flags, &p.u.publish);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        e = decode_ack(&r, &p.u.ack);
        break;
    case MQTT_SUBSCRIBE:
        e = decode_subscribe(&r, true, &p.u.subscribe);
        break;
    case MQTT_UNSUBSCRIBE:
        e = decode_subscribe(&r, false, &p.u.subscribe);
        break;
    case MQTT_SUBACK:
        e = decode_suback(&r, &p.u.suback);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        e = mqtt_wire_end(&r);            /* no variable header, no payload */
        break;
    default:
        e = MQTT_E_BAD_TYPE;            /* unreachable: type_valid() above */
        break;
    }
    if (e < 0)
        return e;
    *ret = p;
    return 0;
}

/* ---- encoding ---- */

static size_t str_size(const struct mqtt_slice *s)
{
    return 2 + s->len;
}

static uint8_t connect_level(const struct mqtt_connect *c)
{
    return c->protocol_level ? c->protocol_level : MQTT_PROTOCOL_LEVEL_311;
}

static size_t connect_remlen(const struct mqtt_connect *c)
{
    size_t n = 2 + (connect_level(c) == 3 ? sizeof(name_mqisdp) : sizeof(name_mqtt));

    n += 1 + 1 + 2;                     /* level, flags, keepalive */
    n += str_size(&c->client_id);
    if (c->will)
        n += str_size(&c->will_topic) + str_size(&c->will_payload);
    if (c->has_username)
        n += str_size(&c->username);
    if (c->has_password)
        n += str_size(&c->password);
    return n;
}

size_t mqtt_encoded_len_connect(const struct mqtt_connect *c)
{
    return mqtt_wire_packet_size(connect_remlen(c));
}

void mqtt_encode_connect(struct wcur *w, const struct mqtt_connect *c)
{
    uint8_t level = connect_level(c);
    uint8_t flags = 0;

    if (c->client_id.len > STR_MAX ||
        (c->will && (c->will_qos > 2 || c->will_topic.len > STR_MAX ||
                     c->will_payload.len > STR_MAX)) ||
        (c->has_username && c->username.len > STR_MAX) ||
        (c->has_password && c->password.len > STR_MAX)) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    if (c->clean_session)
        flags |= CF_CLEAN;
    if (c->will) {
        flags |= CF_WILL | (uint8_t)(c->will_qos << CF_WILL_QOS_SHIFT);
        if (c->will_retain)
            flags |= CF_WILL_RETAIN;
    }
    if (c->has_username)
        flags |= CF_USERNAME;
    if (c->has_password)
        flags |= CF_PASSWORD;

    if (!mqtt_wire_begin(w, MQTT_CONNECT << 4, connect_remlen(c)))
        return;
    if (level == 3) {
        wcur_u16be(w, sizeof(name_mqisdp));
        wcur_bytes(w, name_mqisdp, sizeof(name_mqisdp));
    } else {
        wcur_u16be(w, sizeof(name_mqtt));
        wcur_bytes(w, name_mqtt, sizeof(name_mqtt));
    }
    wcur_u8(w, level);
    wcur_u8(w, flags);
    wcur_u16be(w, c->keepalive);
    mqtt_wire_put_slice(w, &c->client_id);
    if (c->will) {
        mqtt_wire_put_slice(w, &c->will_topic);
        mqtt_wire_put_slice(w, &c->will_payload);
    }
    if (c->has_username)
        mqtt_wire_put_slice(w, &c->username);
    if (c->has_password)
        mqtt_wire_put_slice(w, &c->password);
}

void mqtt_encode_connack(struct wcur *w, bool session_present, uint8_t return_code)
{
    if (!mqtt_wire_begin(w, MQTT_CONNACK << 4, 2))
        return;
    wcur_u8(w, session_present ? 1 : 0);
    wcur_u8(w, return_code);
}

/* Saturates instead of wrapping so an absurd payload length fails in mqtt_wire_begin(). */
static size_t publish_remlen(const struct mqtt_publish *p)
{
    size_t fixed = str_size(&p->topic) + (p->qos ? 2 : 0);

    if (p->payload.len > MQTT_MAX_REMAINING_LENGTH || p->topic.len > STR_MAX)
        return (size_t)MQTT_MAX_REMAINING_LENGTH + 1;
    return fixed + p->payload.len;
}

size_t mqtt_encoded_len_publish(const struct mqtt_publish *p)
{
    return mqtt_wire_packet_size(publish_remlen(p));
}

void mqtt_encode_publish(struct wcur *w, const struct mqtt_publish *p)
{
    uint8_t first = MQTT_PUBLISH << 4;

    if (p->qos > 2 || p->topic.len > STR_MAX || (p->qos > 0 && p->packet_id == 0)) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    first |= (uint8_t)(p->qos << PF_QOS_SHIFT);
    if (p->dup)
        first |= PF_DUP;
    if (p->retain)
        first |= PF_RETAIN;
    if (!mqtt_wire_begin(w, first, publish_remlen(p)))
        return;
    mqtt_wire_put_slice(w, &p->topic);
    if (p->qos > 0)
        wcur_u16be(w, p->packet_id);
    wcur_bytes(w, p->payload.p, p->payload.len);
}

void mqtt_encode_ack(struct wcur *w, enum mqtt_type type, uint16_t packet_id)
{
    switch (type) {
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        break;
    default:
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    if (packet_id == 0) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    if (!mqtt_wire_begin(w, (uint8_t)(type << 4 | required_flags[type]), 2))
        return;
    wcur_u16be(w, packet_id);
}

static size_t subscribe_remlen(const struct mqtt_subscribe *s, bool with_qos)
{
    size_t n = 2;
    size_t count = s->count < MQTT_MAX_FILTERS ? s->count : MQTT_MAX_FILTERS;

    for (size_t i = 0; i < count; i++)
        n += str_size(&s->filters[i].filter) + (with_qos ? 1 : 0);
    return n;
}

size_t mqtt_encoded_len_subscribe(const struct mqtt_subscribe *s)
{
    return mqtt_wire_packet_size(subscribe_remlen(s, true));
}

size_t mqtt_encoded_len_unsubscribe(const struct mqtt_subscribe *s)
{
    return mqtt_wire_packet_size(subscribe_remlen(s, false));
}

static void encode_subscribe(struct wcur *w, enum mqtt_type type, const struct mqtt_subscribe *s)
{
    bool with_qos = type == MQTT_SUBSCRIBE;

    if (s->packet_id == 0 || s->count == 0 || s->count > MQTT_MAX_FILTERS) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        if (s->filters[i].filter.len > STR_MAX || (with_qos && s->filters[i].qos > 2)) {
            mqtt_wire_fail(w, MQTT_E_BUFFER);
            return;
        }
    }
    if (!mqtt_wire_begin(w, (uint8_t)(type << 4 | required_flags[type]), subscribe_remlen(s, with_qos)))
        return;
    wcur_u16be(w, s->packet_id);
    for (size_t i = 0; i < s->count; i++) {
        mqtt_wire_put_slice(w, &s->filters[i].filter);
        if (with_qos)
            wcur_u8(w, s->filters[i].qos);
    }
}

void mqtt_encode_subscribe(struct wcur *w, const struct mqtt_subscribe *s)
{
    encode_subscribe(w, MQTT_SUBSCRIBE, s);
}

void mqtt_encode_unsubscribe(struct wcur *w, const struct mqtt_subscribe *s)
{
    encode_subscribe(w, MQTT_UNSUBSCRIBE, s);
}

size_t mqtt_encoded_len_suback(size_t count)
{
    return mqtt_wire_packet_size(2 + count);
}

void mqtt_encode_suback(struct wcur *w, uint16_t packet_id, const uint8_t *codes, size_t count)
{
    /* Mirrors what the decoder accepts: one code per filter of a SUBSCRIBE
     * we decoded, so 1..MQTT_MAX_FILTERS valid codes [MQTT-3.9.3-2]. */
    if (packet_id == 0 || count == 0 || count > MQTT_MAX_FILTERS) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (codes[i] > 2 && codes[i] != MQTT_SUBACK_FAILURE) {
            mqtt_wire_fail(w, MQTT_E_BUFFER);
            return;
        }
    }
    if (!mqtt_wire_begin(w, MQTT_SUBACK << 4, 2 + count))
        return;
    wcur_u16be(w, packet_id);
    wcur_bytes(w, codes, count);
}

void mqtt_encode_empty(struct wcur *w, enum mqtt_type type)
{
    if (type != MQTT_PINGREQ && type != MQTT_PINGRESP && type != MQTT_DISCONNECT) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return;
    }
    (void)mqtt_wire_begin(w, (uint8_t)(type << 4), 0);
}

size_t mqtt_encoded_len_packet(const struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_CONNECT:
        return mqtt_encoded_len_connect(&p->u.connect);
    case MQTT_CONNACK:
        return MQTT_ENCODED_LEN_CONNACK;
    case MQTT_PUBLISH:
        return mqtt_encoded_len_publish(&p->u.publish);
    case MQTT_SUBSCRIBE:
        return mqtt_encoded_len_subscribe(&p->u.subscribe);
    case MQTT_UNSUBSCRIBE:
        return mqtt_encoded_len_unsubscribe(&p->u.subscribe);
    case MQTT_SUBACK:
        return mqtt_encoded_len_suback(p->u.suback.count);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return MQTT_ENCODED_LEN_EMPTY;
    default:
        return MQTT_ENCODED_LEN_ACK;
    }
}

void mqtt_encode_packet(struct wcur *w, const struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_CONNECT:
        mqtt_encode_connect(w, &p->u.connect);
        break;
    case MQTT_CONNACK:
        mqtt_encode_connack(w, p->u.connack.session_present, p->u.connack.return_code);
        break;
    case MQTT_PUBLISH:
        mqtt_encode_publish(w, &p->u.publish);
        break;
    case MQTT_SUBSCRIBE:
        mqtt_encode_subscribe(w, &p->u.subscribe);
        break;
    case MQTT_UNSUBSCRIBE:
        mqtt_encode_unsubscribe(w, &p->u.subscribe);
        break;
    case MQTT_SUBACK:
        mqtt_encode_suback(w, p->u.suback.packet_id, p->u.suback.codes, p->u.suback.count);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        mqtt_encode_empty(w, p->type);
        break;
    default:
        mqtt_encode_ack(w, p->type, p->u.ack.packet_id);   /* refuses non-ack types */
        break;
    }
}
