/* MQTT 5.0 codec, client role: encoders for what a client sends (CONNECT,
 * PUBLISH, PUBACK..PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT) and one
 * decoder for what a server sends (CONNACK, PUBLISH, PUBACK..PUBCOMP, SUBACK,
 * UNSUBACK, PINGRESP, DISCONNECT, AUTH). Same conventions as codec.h: pure,
 * no allocation, no I/O, no logging; decoded strings are borrowed slices into
 * the caller's packet buffer; errors are the mqtt_err codes of codec.h (the
 * MQTT 5 ones are MQTT_E_PROPERTY, MQTT_E_REASON, MQTT_E_TOPIC_ALIAS,
 * MQTT_E_VBI). It exists for the upstream link, which speaks MQTT 5 to the
 * broker so that events can carry user properties; devices stay on 3.1.1.
 *
 * Framing is the 3.1.1 fixed header unchanged: mqtt_frame() delimits every
 * MQTT 5 packet except AUTH (type 15), which it refuses as MQTT_E_BAD_TYPE.
 * mqtt5_frame() is mqtt_frame() plus AUTH; use it on an MQTT 5 connection.
 * Ping is unchanged too: mqtt_encode_empty(w, MQTT_PINGREQ). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/codec.h"
#include "common/cursor.h"

#define MQTT_PROTOCOL_LEVEL_5 5
/* Packet type 15, new in MQTT 5 (enum mqtt_type stops at 14). */
#define MQTT5_AUTH 15
/* User properties a decoded packet keeps as slices; more are still validated
 * and counted (user_total) and can be walked with mqtt5_user_prop_next(). */
#define MQTT5_MAX_USER_PROPS 16
/* Largest variable byte integer (also the largest Subscription Identifier). */
#define MQTT5_VBI_MAX 268435455u

/* Property identifiers (table 2.4). */
enum mqtt5_prop_id {
    MQTT5_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT5_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT5_PROP_CONTENT_TYPE = 0x03,
    MQTT5_PROP_RESPONSE_TOPIC = 0x08,
    MQTT5_PROP_CORRELATION_DATA = 0x09,
    MQTT5_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT5_PROP_SESSION_EXPIRY = 0x11,
    MQTT5_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT5_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT5_PROP_AUTH_METHOD = 0x15,
    MQTT5_PROP_AUTH_DATA = 0x16,
    MQTT5_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT5_PROP_WILL_DELAY = 0x18,
    MQTT5_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT5_PROP_RESPONSE_INFO = 0x1A,
    MQTT5_PROP_SERVER_REFERENCE = 0x1C,
    MQTT5_PROP_REASON_STRING = 0x1F,
    MQTT5_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT5_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT5_PROP_TOPIC_ALIAS = 0x23,
    MQTT5_PROP_MAXIMUM_QOS = 0x24,
    MQTT5_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT5_PROP_USER = 0x26,
    MQTT5_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT5_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT5_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT5_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Reason codes the upstream link is likely to name (table 2.6). Below 0x80
 * is success, 0x80 and above failure, in every packet that carries one. */
enum mqtt5_reason {
    MQTT5_RC_SUCCESS = 0x00,                /* also Normal disconnection, Granted QoS 0 */
    MQTT5_RC_GRANTED_QOS1 = 0x01,
    MQTT5_RC_GRANTED_QOS2 = 0x02,
    MQTT5_RC_DISCONNECT_WITH_WILL = 0x04,   /* client DISCONNECT: broker still sends the Will */
    MQTT5_RC_NO_MATCHING_SUBSCRIBERS = 0x10, /* PUBACK/PUBREC: success */
    MQTT5_RC_NO_SUBSCRIPTION_EXISTED = 0x11, /* UNSUBACK: success */
    MQTT5_RC_CONTINUE_AUTH = 0x18,
    MQTT5_RC_UNSPECIFIED = 0x80,
    MQTT5_RC_MALFORMED = 0x81,
    MQTT5_RC_PROTOCOL_ERROR = 0x82,
    MQTT5_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    MQTT5_RC_UNSUPPORTED_PROTOCOL = 0x84,
    MQTT5_RC_NOT_AUTHORIZED = 0x87,
    MQTT5_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT5_RC_PACKET_ID_IN_USE = 0x91,
    MQTT5_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT5_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT5_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT5_RC_PACKET_TOO_LARGE = 0x95,
    MQTT5_RC_QUOTA_EXCEEDED = 0x97,
    MQTT5_RC_PAYLOAD_FORMAT_INVALID = 0x99,
};

/* A User Property (0x26): a UTF-8 string pair; both borrowed. */
struct mqtt5_user_prop {
    struct mqtt_slice name, value;
};

/* The properties of one decoded packet. A field is meaningful only when its
 * bit (1 << id) is set in present (mqtt5_has); absent ones are zero, not
 * the spec's defaults (Receive Maximum absent means 65535, Maximum QoS
 * absent means 2, Retain Available absent means 1: apply those yourself).
 * Every slice borrows from the packet buffer. Which ids a packet may carry
 * is checked by the decoder (table 2.4), so e.g. an assigned client id is
 * only ever set in a CONNACK. */
struct mqtt5_props {
    uint64_t present;                   /* bit (1 << id) per property seen */
    struct mqtt_slice raw;              /* the whole validated block, for mqtt5_user_prop_next */
    /* CONNACK */
    uint32_t session_expiry;            /* 0x11, seconds */
    uint16_t receive_maximum;           /* 0x21, 1..65535 (0 refused) */
    uint32_t maximum_packet_size;       /* 0x27, bytes, whole packet; >= 1 (0 refused) */
    uint16_t topic_alias_maximum;       /* 0x22: aliases we may send; we send none */
    struct mqtt_slice assigned_client_id; /* 0x12 */
    uint16_t server_keep_alive;         /* 0x13, seconds: use it instead of ours [MQTT-3.2.2-21] */
    uint8_t maximum_qos;                /* 0x24, 0 or 1 (2 refused: absent means 2) */
    uint8_t retain_available;           /* 0x25, 0 or 1 */
    uint8_t wildcard_sub_available;     /* 0x28, 0 or 1 */
    uint8_t sub_id_available;           /* 0x29, 0 or 1 */
    uint8_t shared_sub_available;       /* 0x2A, 0 or 1 */
    struct mqtt_slice response_info;    /* 0x1A */
    struct mqtt_slice server_reference; /* 0x1C, also DISCONNECT */
    struct mqtt_slice auth_method;      /* 0x15, also AUTH */
    struct mqtt_slice auth_data;        /* 0x16, binary, also AUTH */
    /* CONNACK, acks, SUBACK, UNSUBACK, DISCONNECT, AUTH */
    struct mqtt_slice reason_string;    /* 0x1F, for logs (quote it: peer-controlled) */
    /* PUBLISH */
    uint8_t payload_format;             /* 0x01: 1 = payload claims UTF-8 (not checked here) */
    uint32_t message_expiry;            /* 0x02, seconds left */
    struct mqtt_slice content_type;     /* 0x03 */
    struct mqtt_slice response_topic;   /* 0x08, a valid topic name */
    struct mqtt_slice correlation_data; /* 0x09, binary */
    size_t sub_id_count;                /* 0x0B may repeat in a PUBLISH [MQTT-3.3.4-4] */
    uint32_t sub_id;                    /* the first one, 1..MQTT5_VBI_MAX */
    /* Any packet */
    size_t user_count;                  /* user properties kept in user[] */
    size_t user_total;                  /* user properties in the packet (>= user_count) */
    struct mqtt5_user_prop user[MQTT5_MAX_USER_PROPS];
};

static inline bool mqtt5_has(const struct mqtt5_props *p, enum mqtt5_prop_id id)
{
    return (p->present >> id) & 1;
}

/* A packet from the server. base is filled exactly as mqtt_decode fills a
 * 3.1.1 packet where the packet exists in 3.1.1, so handling can be shared:
 *   CONNACK   base.u.connack (return_code = the MQTT 5 reason code, also in
 *             reason; any non-zero one is a refusal);
 *   PUBLISH   base.u.publish (payload after the properties);
 *   PUBACK, PUBREC, PUBREL, PUBCOMP  base.u.ack.packet_id, reason;
 *   SUBACK    base.u.suback (codes: 0x00-0x02 granted QoS, >= 0x80 failure);
 *   UNSUBACK  base.u.suback too: packet id and one reason code per filter
 *             (0x00 or 0x11 success, >= 0x80 failure). base.u.ack.packet_id
 *             reads the same packet id (common initial sequence, C11 6.5.2.3);
 *   PINGRESP  nothing;
 *   DISCONNECT  reason (server's reason code), props.reason_string,
 *             props.server_reference;
 *   AUTH      base.type == MQTT5_AUTH, reason, props.auth_method/auth_data.
 * Reason codes omitted on the wire (the short forms) read as 0x00. */
struct mqtt5_packet {
    struct mqtt_packet base;
    uint8_t reason;
    /* CONNACK only: a 2-byte CONNACK refusing with a 3.1.1 return code 1..5,
     * as a broker that does not speak MQTT 5 answers our CONNECT (1 =
     * unacceptable protocol version). reason holds that 3.1.1 code. */
    bool connack_311;
    struct mqtt5_props props;
};

/* mqtt_frame() that also accepts packet type 15 (AUTH): same returns (total
 * length, 0 for more bytes, MQTT_E_REMLEN_TOO_LONG, MQTT_E_PACKET_TOO_LARGE,
 * MQTT_E_BAD_TYPE for type 0), same max_packet meaning. */
int mqtt5_frame(const uint8_t *buf, size_t len, size_t max_packet);

/* Decodes exactly one complete packet (as delimited by mqtt5_frame) that a
 * server sent to us, the client. Returns 0 and fills *ret (slices borrow from
 * pkt), or a negative mqtt_err and leaves *ret untouched:
 * MQTT_E_ROLE for CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ;
 * MQTT_E_RESERVED_FLAGS, MQTT_E_QOS3, MQTT_E_DUP_QOS0, MQTT_E_PACKET_ID_ZERO,
 * MQTT_E_CONNACK_FLAGS, MQTT_E_NO_FILTERS, MQTT_E_TOO_MANY_FILTERS as in 3.1.1;
 * MQTT_E_TRUNCATED / MQTT_E_TRAILING when a length disagrees with the packet
 * (a property length longer than the packet is MQTT_E_TRUNCATED);
 * MQTT_E_VBI for a bad property length or Subscription Identifier encoding;
 * MQTT_E_PROPERTY for a property that is unknown, not allowed in this packet,
 * repeated when it may appear once, out of range, or overrunning its block;
 * MQTT_E_UTF8 / MQTT_E_UTF8_NUL for a bad string (topic, user property, reason
 * string...); MQTT_E_TOPIC_ALIAS for any Topic Alias (we advertise Topic Alias
 * Maximum 0, so a server may send none [MQTT-3.1.2-27]); the topic errors of
 * mqtt_topic_name_check for the PUBLISH topic; MQTT_E_REASON for a reason
 * code the packet's table does not list, or one only a client may send. */
int mqtt5_decode_client(const uint8_t *pkt, size_t len, struct mqtt5_packet *ret);

/* Walks the user properties of a property block that the decoder validated
 * (packet->props.raw), all of them, past MQTT5_MAX_USER_PROPS too. *it is
 * the walk's state: start with a copy of props.raw; it advances. Returns 1
 * with *ret filled (borrowed), 0 at the end, MQTT_E_PROPERTY if the block is
 * not a valid one (never for props.raw). */
int mqtt5_user_prop_next(struct mqtt_slice *it, struct mqtt5_user_prop *ret);

/* The DISCONNECT reason code a client sends before closing because decoding
 * failed with err (4.13.1: it SHOULD send one): 0x94 for a topic alias, 0x95
 * packet too large, 0x82 protocol error (property, reason code, role), 0x81
 * malformed for every other mqtt_err. */
uint8_t mqtt5_disconnect_reason(int err);

/* ---- encoders ----
 * As in codec.h: each writes one whole packet to w or nothing, leaving the
 * error in w->err (-EMSGSIZE when the buffer is too small, MQTT_E_BUFFER for
 * a value out of range: a string over 65535 bytes, QoS 3, packet id 0, a
 * reason code the packet may not carry, too many or no filters), and does
 * nothing if w->err is already set. mqtt5_encoded_len_* give the exact size. */

/* CONNECT, level 5. base carries what 3.1.1 does (base.protocol_level is
 * ignored; base.clean_session is Clean Start; a password without a user name
 * is allowed in MQTT 5 and base.password_without_username is ignored). The
 * Will, when base.will is set, goes with an empty Will property block. The
 * three properties are sent only when nonzero. Topic Alias Maximum is never
 * sent (0): the decoder then refuses any Topic Alias. */
struct mqtt5_connect {
    struct mqtt_connect base;
    uint32_t session_expiry;            /* 0x11, seconds; 0 = session ends with the connection */
    uint16_t receive_maximum;           /* 0x21: QoS 1/2 deliveries in flight to us; 0 = 65535 */
    uint32_t maximum_packet_size;       /* 0x27: largest packet we accept; 0 = no limit */
};
void mqtt5_encode_connect(struct wcur *w, const struct mqtt5_connect *c);
size_t mqtt5_encoded_len_connect(const struct mqtt5_connect *c);

/* PUBLISH. user_props (borrowed, may be NULL when user_prop_count is 0) go
 * out in order, as User Properties; names and values must be well-formed
 * UTF-8 without U+0000, else MQTT_E_UTF8 / MQTT_E_UTF8_NUL in w->err (the
 * broker would drop the connection [MQTT-1.5.4-1]). payload_utf8 sends
 * Payload Format Indicator 1; content_type (UTF-8, same check) and
 * message_expiry are sent when non-empty / nonzero. Topic validity is the
 * caller's (mqtt_topic_name_check), as with mqtt_encode_publish. */
struct mqtt5_publish {
    struct mqtt_publish base;
    const struct mqtt5_user_prop *user_props;
    size_t user_prop_count;
    bool payload_utf8;                  /* 0x01 = 1 */
    struct mqtt_slice content_type;     /* 0x03 */
    uint32_t message_expiry;            /* 0x02, seconds */
};
void mqtt5_encode_publish(struct wcur *w, const struct mqtt5_publish *p);
size_t mqtt5_encoded_len_publish(const struct mqtt5_publish *p);

/* PUBACK, PUBREC, PUBREL (flags 0x2 added) or PUBCOMP. reason 0 gives the
 * 2-byte form (reason and properties omitted [MQTT-3.4.2-1] and likewise for
 * the others); any other reason the 3-byte form, and must be one the
 * packet's table lists. */
void mqtt5_encode_ack(struct wcur *w, enum mqtt_type type, uint16_t packet_id, uint8_t reason);
size_t mqtt5_encoded_len_ack(uint8_t reason);   /* 4, or 5 with a reason */

/* SUBSCRIBE with an empty property block. Each filter's options byte is its
 * QoS (0..2), No Local 0, Retain As Published = retain_as_published for the
 * whole packet, Retain Handling 0 (send retained messages on subscribe). */
void mqtt5_encode_subscribe(struct wcur *w, const struct mqtt_subscribe *s,
                            bool retain_as_published);
size_t mqtt5_encoded_len_subscribe(const struct mqtt_subscribe *s);

/* UNSUBSCRIBE with an empty property block (filters' qos ignored). */
void mqtt5_encode_unsubscribe(struct wcur *w, const struct mqtt_subscribe *s);
size_t mqtt5_encoded_len_unsubscribe(const struct mqtt_subscribe *s);

/* DISCONNECT from the client: reason 0 gives the 2-byte form (E0 00); any
 * other the 3-byte form, and must be a code a client may send (0x04
 * Disconnect with Will Message, 0x80-0x83, 0x90, 0x93-0x99). */
void mqtt5_encode_disconnect(struct wcur *w, uint8_t reason);
size_t mqtt5_encoded_len_disconnect(uint8_t reason);   /* 2, or 3 with a reason */
