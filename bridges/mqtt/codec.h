/* MQTT 3.1.1 codec: pure functions, bytes in, structs out, and back.
 * Both roles (server: decodes what clients send; client: decodes what a broker
 * sends). No sockets, no logging, no allocation: decoded strings are borrowed
 * slices into the caller's packet buffer and live as long as it does.
 * Every malformed input the spec names has its own error code (enum mqtt_err),
 * so the session can log precisely and pick the right reaction. Spec
 * deviations that real clouds tolerated are reported as flags, not errors;
 * the personality decides. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"

#define MQTT_PROTOCOL_LEVEL_311 4
/* Largest remaining length a 4-byte variable byte integer can carry. */
#define MQTT_MAX_REMAINING_LENGTH 268435455u
/* Upper bound on topic filters decoded from one SUBSCRIBE/UNSUBSCRIBE; the
 * session's own limit (AWS: 8) is applied on top. More filters -> MQTT_E_TOO_MANY_FILTERS. */
#define MQTT_MAX_FILTERS 32

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
};

/* Which side decodes: a server refuses packets only a server may send. */
enum mqtt_role {
    MQTT_ROLE_SERVER = 0,   /* we are the server, decoding client packets */
    MQTT_ROLE_CLIENT = 1,   /* we are the client, decoding server packets */
};

/* CONNACK return codes (3.1.1 table 3.1). */
enum mqtt_connack_rc {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

#define MQTT_SUBACK_FAILURE 0x80

/* Errors. All negative and distinct, below -1000 so they never collide with
 * -errno. "Need more data" is not an error: mqtt_frame returns 0. */
enum mqtt_err {
    MQTT_E_REMLEN_TOO_LONG = -1001,     /* variable byte integer over 4 bytes [MQTT-2.2.3] */
    MQTT_E_PACKET_TOO_LARGE = -1002,    /* frame larger than the max packet size parameter */
    MQTT_E_BAD_TYPE = -1003,            /* type 0 or 15 */
    MQTT_E_RESERVED_FLAGS = -1004,      /* fixed-header flags not as table 2.2 [MQTT-2.2.2-2] */
    MQTT_E_QOS3 = -1005,                /* PUBLISH QoS 3 [MQTT-3.3.1-4] */
    MQTT_E_PACKET_ID_ZERO = -1006,      /* packet identifier 0 where one is required [MQTT-2.3.1-1] */
    MQTT_E_UTF8 = -1007,                /* ill-formed UTF-8 or surrogate [MQTT-1.5.3-1] */
    MQTT_E_UTF8_NUL = -1008,            /* U+0000 in a string [MQTT-1.5.3-2] */
    MQTT_E_TOPIC_WILDCARD = -1009,      /* '+' or '#' in a PUBLISH topic name [MQTT-3.3.2-2] */
    MQTT_E_TOPIC_EMPTY = -1010,         /* zero-length topic name [MQTT-4.7.3-1] */
    MQTT_E_FILTER_EMPTY = -1011,        /* zero-length topic filter [MQTT-4.7.3-1] */
    MQTT_E_FILTER_INVALID = -1012,      /* '#' not last or not alone in its level, '+' not alone [MQTT-4.7.1-2,3] */
    MQTT_E_PROTOCOL_NAME = -1013,       /* protocol name not "MQTT" [MQTT-3.1.2-1] */
    MQTT_E_PROTOCOL_LEVEL = -1014,      /* level not 4: answer CONNACK 1 [MQTT-3.1.2-2] */
    MQTT_E_CONNECT_RESERVED = -1015,    /* CONNECT flags bit 0 set [MQTT-3.1.2-3] */
    MQTT_E_WILL_FLAGS = -1016,          /* will QoS/retain set without will flag, or will QoS 3 [MQTT-3.1.2-11..14] */
    MQTT_E_TRUNCATED = -1017,           /* packet body shorter than its fields say */
    MQTT_E_TRAILING = -1018,            /* bytes left over after the last field */
    MQTT_E_NO_FILTERS = -1019,          /* SUBSCRIBE/UNSUBSCRIBE with no filter [MQTT-3.8.3-3, 3.10.3-2] */
    MQTT_E_TOO_MANY_FILTERS = -1020,    /* more than MQTT_MAX_FILTERS */
    MQTT_E_SUB_QOS = -1021,             /* requested QoS 3 or reserved bits set [MQTT-3.8.3-4] */
    MQTT_E_ROLE = -1022,                /* packet type the other side may not send (e.g. CONNACK to a server) */
    MQTT_E_CLIENT_ID_EMPTY = -1023,     /* empty client id with clean session 0 [MQTT-3.1.3-8] */
    MQTT_E_CONNACK_FLAGS = -1024,       /* CONNACK acknowledge flags bits 7-1 set [MQTT-3.2.2-1], or
                                         * session present with a refusal [MQTT-3.2.2-4] */
    MQTT_E_BUFFER = -1025,              /* encoder: value out of range (a too small buffer is -EMSGSIZE) */
    MQTT_E_SUBACK_CODE = -1026,         /* SUBACK return code not 0, 1, 2 or 0x80 [MQTT-3.9.3-2] */
    MQTT_E_DUP_QOS0 = -1027,            /* PUBLISH DUP set with QoS 0 [MQTT-3.3.1-2]; Mosquitto refuses it too */
    /* MQTT 5 only (codec5.h): a run of their own from -1101, so the 3.1.1 run
     * above stays contiguous and ends at MQTT_E_DUP_QOS0. */
    MQTT_E_PROPERTY = -1101,            /* property: unknown id, not allowed in this packet, a second
                                         * single-occurrence one, value out of range, or running past
                                         * the property length (2.2.2.2, table 2.4) */
    MQTT_E_REASON = -1102,              /* reason code not allowed for this packet (tables 2.6, 3.x) */
    MQTT_E_TOPIC_ALIAS = -1103,         /* Topic Alias from a server we allowed none [MQTT-3.3.2-9] */
    MQTT_E_VBI = -1104,                 /* variable byte integer in a packet body over 4 bytes or not
                                         * minimal [MQTT-1.5.5-1] */
};

/* Stable short name for an error ("remlen-too-long", "qos3"...), for logs and
 * metrics labels. Also "ok" for 0 and "buffer-full" for the encoders'
 * -EMSGSIZE; anything else is "unknown". */
const char *mqtt_err_name(int err);

/* A borrowed byte slice (not NUL-terminated). */
struct mqtt_slice {
    const uint8_t *p;
    size_t len;
};

struct mqtt_connect {
    uint8_t protocol_level;
    bool clean_session;
    uint16_t keepalive;                 /* seconds */
    struct mqtt_slice client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct mqtt_slice will_topic;
    struct mqtt_slice will_payload;
    bool has_username;
    struct mqtt_slice username;
    bool has_password;
    struct mqtt_slice password;
    /* Deviation flags: decoded anyway; the personality decides. */
    bool password_without_username;     /* [MQTT-3.1.2-22] broken; Google and Arduino clients did it */
};

struct mqtt_connack {
    bool session_present;
    uint8_t return_code;
};

struct mqtt_publish {
    bool dup;
    uint8_t qos;                        /* 0, 1 or 2 */
    bool retain;
    struct mqtt_slice topic;
    uint16_t packet_id;                 /* 0 when qos == 0 */
    struct mqtt_slice payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK. */
struct mqtt_ack {
    uint16_t packet_id;
};

struct mqtt_topic_qos {
    struct mqtt_slice filter;
    uint8_t qos;                        /* requested (SUBSCRIBE) */
};

struct mqtt_subscribe {                 /* also UNSUBSCRIBE (qos unused) */
    uint16_t packet_id;
    size_t count;
    struct mqtt_topic_qos filters[MQTT_MAX_FILTERS];
};

struct mqtt_suback {
    uint16_t packet_id;
    size_t count;
    uint8_t codes[MQTT_MAX_FILTERS];
};

struct mqtt_packet {
    enum mqtt_type type;
    uint8_t flags;                      /* low nibble of the fixed header */
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;
        struct mqtt_subscribe subscribe;
        struct mqtt_suback suback;
    } u;
};

/* Framing. Looks at the start of buf (len bytes available) for one complete
 * packet. Returns the total packet length (fixed header + remaining length,
 * > 0) when complete, 0 when more bytes are needed, or a negative mqtt_err
 * (MQTT_E_REMLEN_TOO_LONG, MQTT_E_PACKET_TOO_LARGE as soon as the length
 * field shows the packet would exceed max_packet, MQTT_E_BAD_TYPE).
 * max_packet bounds the whole packet, fixed header included. A non-minimal
 * remaining length (0x80 0x00) is accepted: 3.1.1 does not forbid it. */
int mqtt_frame(const uint8_t *buf, size_t len, size_t max_packet);

/* Decodes exactly one complete packet (as delimited by mqtt_frame) for the
 * given role. On success returns 0 and fills *ret, whose slices borrow from
 * pkt. On failure returns a negative mqtt_err and leaves *ret untouched.
 * A CONNECT that is well formed except for an empty client id with clean
 * session 0 gives MQTT_E_CLIENT_ID_EMPTY (answer CONNACK 2); a wrong protocol
 * level, or the MQTT 3.1 name "MQIsdp", gives MQTT_E_PROTOCOL_LEVEL before
 * anything after the level byte is looked at (answer CONNACK 1).
 * SUBSCRIBE/UNSUBSCRIBE filters are validated (non-empty, wildcard placement),
 * PUBLISH and Will topic names are validated (non-empty, no wildcards), every
 * string is checked for well-formed UTF-8 without U+0000. */
int mqtt_decode(const uint8_t *pkt, size_t len, enum mqtt_role role, struct mqtt_packet *ret);

/* Validation helpers, exposed for the personalities and for REST input. */
int mqtt_utf8_check(const uint8_t *p, size_t len);               /* 0, MQTT_E_UTF8 or MQTT_E_UTF8_NUL */
int mqtt_topic_name_check(const uint8_t *p, size_t len);         /* 0 or an mqtt_err */
int mqtt_topic_filter_check(const uint8_t *p, size_t len);       /* 0 or an mqtt_err */
/* MQTT topic matching (filter with + and #, [MQTT-4.7]), including the rule
 * that wildcards at the first level do not match topics starting with '$'. */
bool mqtt_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

/* Encoders. Each writes one whole packet to w (fixed header included) and
 * leaves any error in w->err (-EMSGSIZE when the buffer is too small,
 * MQTT_E_BUFFER for a value out of range such as a string over 65535 bytes,
 * QoS 3, packet id 0 where one is required, or no filters). On error nothing
 * is written; if w->err is already set they do nothing.
 * mqtt_encoded_len_* give the exact size up front so callers can size buffers. */

/* protocol_level 0 means 4 (so a zeroed struct encodes 3.1.1); 3 is sent with
 * the MQTT 3.1 name "MQIsdp", anything else with "MQTT" (tests use that to
 * send levels we refuse). Will fields are sent only when c->will is set. */
void mqtt_encode_connect(struct wcur *w, const struct mqtt_connect *c);
void mqtt_encode_connack(struct wcur *w, bool session_present, uint8_t return_code);
void mqtt_encode_publish(struct wcur *w, const struct mqtt_publish *p);
/* type: MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL (flags 0x2 added), MQTT_PUBCOMP or MQTT_UNSUBACK. */
void mqtt_encode_ack(struct wcur *w, enum mqtt_type type, uint16_t packet_id);
void mqtt_encode_subscribe(struct wcur *w, const struct mqtt_subscribe *s);
void mqtt_encode_unsubscribe(struct wcur *w, const struct mqtt_subscribe *s);
void mqtt_encode_suback(struct wcur *w, uint16_t packet_id, const uint8_t *codes, size_t count);
/* type: MQTT_PINGREQ, MQTT_PINGRESP or MQTT_DISCONNECT (two-byte packets). */
void mqtt_encode_empty(struct wcur *w, enum mqtt_type type);

size_t mqtt_encoded_len_publish(const struct mqtt_publish *p);
size_t mqtt_encoded_len_connect(const struct mqtt_connect *c);
size_t mqtt_encoded_len_subscribe(const struct mqtt_subscribe *s);
size_t mqtt_encoded_len_unsubscribe(const struct mqtt_subscribe *s);
size_t mqtt_encoded_len_suback(size_t count);
/* CONNACK and the acks are always 4 bytes, PINGREQ/PINGRESP/DISCONNECT 2. */
#define MQTT_ENCODED_LEN_CONNACK 4
#define MQTT_ENCODED_LEN_ACK 4
#define MQTT_ENCODED_LEN_EMPTY 2

/* Any packet as mqtt_decode fills it (p->type selects the union member; the
 * PUBLISH flags come from p->u.publish, p->flags is ignored), through the
 * per-type encoders above; MQTT_E_BUFFER for an unknown type. */
void mqtt_encode_packet(struct wcur *w, const struct mqtt_packet *p);
size_t mqtt_encoded_len_packet(const struct mqtt_packet *p);
