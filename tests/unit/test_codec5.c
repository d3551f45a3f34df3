/* Unit tests of the MQTT 5 client-role codec (bridges/mqtt/codec5.c).
 *
 * Where the vectors come from:
 *  - "Mosquitto 2.0.11" packets were captured on 127.0.0.1 from a real
 *    /usr/sbin/mosquitto 2.0.11 (Debian) on a free port, with a Python socket
 *    script that sent the bytes our encoders produced (the enc_* arrays
 *    below, which this test checks the encoders still produce) and recorded
 *    what the broker answered. Broker 1 had `allow_anonymous true` only;
 *    broker 2 added `max_keepalive 20`, `max_packet_size 2048`,
 *    `retain_available false`, `max_qos 1`, `max_inflight_messages 5` and an
 *    ACL file allowing only `interop/#`, so that its CONNACK carries more
 *    properties and it refuses things (PUBACK 0x87, DISCONNECT 0x9A/0x9B).
 *    During the same run a paho-mqtt 1.6.1 MQTTv5 subscriber and
 *    `mosquitto_sub -V mqttv5 -F %P` received enc_publish_qos1 with its six
 *    user properties, content type and payload format intact.
 *  - "hand-built" packets are what the spec allows a server to send and the
 *    capture did not show (AUTH, DISCONNECT with properties, PUBREC/PUBREL/
 *    PUBCOMP forms, every CONNACK property...), annotated field by field.
 *  - malformed packets are assembled with a raw builder, not with the
 *    encoders under test.
 * Checks: field-by-field decoding of every vector, encoder bytes, round trips
 * (PUBLISH and the acks travel both ways, so what the encoders write the
 * decoder reads), every prefix and every shorter remaining length, the
 * property table (which id in which packet, duplicates, value ranges), and
 * one case per malformed input with its exact error code. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/codec5.h"
#include "testutil.h"

static bool check_rc(int got, int want, const char *file, int line, const char *what)
{
    return tu_checkf(got == want, file, line, "%s = %d (%s), want %d (%s)", what, got,
                     mqtt_err_name(got), want, mqtt_err_name(want));
}

#define CHECK_RC(expr, want) check_rc((expr), (want), __FILE__, __LINE__, #expr)

/* String literals as byte arrays: the trailing NUL is not part of the packet.
 * Hex escapes stay in literals of their own ("\x05" "abc"). */
#define LIT_LEN(a) (sizeof(a) - 1)
#define S(lit) ((struct mqtt_slice){ (const uint8_t *)(lit), sizeof(lit) - 1 })
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define BIG (1u << 22)                  /* max packet where the limit is not under test */

static bool slice_eq(struct mqtt_slice a, struct mqtt_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Frames (the frame must cover exactly n bytes), then decodes. A frame error
 * is returned as is; an unexpected frame length gives -EPIPE. */
static int frame_decode(const uint8_t *b, size_t n, struct mqtt5_packet *p)
{
    int f = mqtt5_frame(b, n, BIG);
    if (f < 0)
        return f;
    if ((size_t)f != n)
        return -EPIPE;
    return mqtt5_decode_client(b, n, p);
}

/* ---- captured from Mosquitto 2.0.11 ---- */

/* Broker 1's CONNACK to enc_connect. */
static const uint8_t connack_mosq[] =
    "\x20"                              /* CONNACK */
    "\x09"                              /* remaining length 9 */
    "\x00"                              /* acknowledge flags: no session present */
    "\x00"                              /* reason: success */
    "\x06"                              /* property length 6 */
    "\x22\x00\x0a"                      /* Topic Alias Maximum 10 */
    "\x21\x00\x14";                     /* Receive Maximum 20 */

/* Broker 2's CONNACK to enc_connect (keepalive 60 > max_keepalive 20). */
static const uint8_t connack_limits[] =
    "\x20"                              /* CONNACK */
    "\x15"                              /* remaining length 21 */
    "\x00" "\x00"                       /* flags, reason success */
    "\x12"                              /* property length 18 */
    "\x22\x00\x0a"                      /* Topic Alias Maximum 10 */
    "\x13\x00\x14"                      /* Server Keep Alive 20 */
    "\x25\x00"                          /* Retain Available 0 */
    "\x27\x00\x00\x08\x00"              /* Maximum Packet Size 2048 */
    "\x21\x00\x05"                      /* Receive Maximum 5 */
    "\x24\x01";                         /* Maximum QoS 1 */

/* Broker 1's CONNACK to enc_connect_anon_will (empty client id). */
static const uint8_t connack_assigned[] =
    "\x20"                              /* CONNACK */
    "\x35"                              /* remaining length 53 */
    "\x00" "\x00"                       /* flags, reason success */
    "\x32"                              /* property length 50 */
    "\x22\x00\x0a"                      /* Topic Alias Maximum 10 */
    "\x12\x00\x29"                      /* Assigned Client Identifier (41) */
    "auto-A259153F-74FD-4362-133E-6C4F1D2F2F18"
    "\x21\x00\x14";                     /* Receive Maximum 20 */

/* SUBACK to enc_subscribe: granted QoS 1 and 0. */
static const uint8_t suback_mosq[] =
    "\x90"                              /* SUBACK */
    "\x05"                              /* remaining length 5 */
    "\x00\x01"                          /* packet id 1 */
    "\x00"                              /* property length 0 */
    "\x01" "\x00";                      /* reason codes: granted QoS 1, granted QoS 0 */

/* Broker 2's SUBACK to enc_subscribe_denied: QoS 2 asked, max_qos 1 granted;
 * the ACL-denied filter is granted too (Mosquitto checks ACLs on delivery). */
static const uint8_t suback_limits[] =
    "\x90" "\x05"                       /* SUBACK, remaining length 5 */
    "\x00\x05"                          /* packet id 5 */
    "\x00"                              /* property length 0 */
    "\x01" "\x01";                      /* granted QoS 1, granted QoS 1 */

/* enc_publish_qos1 delivered back to us (we subscribed to interop/#, No
 * Local 0): the broker's packet id, our properties in our order. */
static const uint8_t publish_mosq[] =
    "\x32"                              /* PUBLISH, QoS 1 */
    "\xd3\x01"                          /* remaining length 211 */
    "\x00\x0e" "interop/events"         /* topic */
    "\x00\x01"                          /* packet id 1 */
    "\xb5\x01"                          /* property length 181 */
    "\x01\x01"                          /* Payload Format Indicator 1 (UTF-8) */
    "\x03\x00\x10" "application/json"   /* Content Type */
    "\x26\x00\x08" "deviceId" "\x00\x05" "dev-1"
    "\x26\x00\x0b" "deviceNumId" "\x00\x10" "2718281828459045"
    "\x26\x00\x16" "deviceRegistryLocation" "\x00\x0c" "europe-west1"
    "\x26\x00\x10" "deviceRegistryId" "\x00\x03" "reg"
    "\x26\x00\x09" "projectId" "\x00\x04" "proj"
    "\x26\x00\x09" "subFolder" "\x00\x0f" "telemetry/" "\xc3\xa9" "t" "\xc3\xa9"
    "{\"t\":21.5}";                     /* payload */

/* PUBACK to enc_publish_qos1: success, 2-byte form. */
static const uint8_t puback_mosq[] = "\x40" "\x02" "\x00\x02";

/* PUBACK to enc_publish_nosub: 0x10 No matching subscribers, 3-byte form. */
static const uint8_t puback_nosub[] =
    "\x40" "\x03"                       /* PUBACK, remaining length 3 */
    "\x00\x03"                          /* packet id 3 */
    "\x10";                             /* reason: no matching subscribers (success) */

/* Broker 2's PUBACK to enc_publish_denied (ACL): 0x87 Not authorized. */
static const uint8_t puback_denied[] = "\x40" "\x03" "\x00\x06" "\x87";

/* enc_publish_retained delivered live (Retain As Published: retain kept);
 * the broker reordered the properties. */
static const uint8_t publish_retained_live[] =
    "\x31"                              /* PUBLISH, QoS 0, RETAIN */
    "\x2e"                              /* remaining length 46 */
    "\x00\x10" "interop/retained"       /* topic; no packet id at QoS 0 */
    "\x17"                              /* property length 23 */
    "\x26\x00\x08" "deviceId" "\x00\x05" "dev-1"
    "\x02\x00\x00\x0e\x10"              /* Message Expiry Interval 3600 */
    "kept";

/* The same message sent from the store after a new SUBSCRIBE: 3599 s left. */
static const uint8_t publish_retained_stored[] =
    "\x31" "\x2e"
    "\x00\x10" "interop/retained"
    "\x17"
    "\x26\x00\x08" "deviceId" "\x00\x05" "dev-1"
    "\x02\x00\x00\x0e\x0f"              /* Message Expiry Interval 3599 */
    "kept";

/* enc_publish_clear_retained delivered: no properties, no payload. */
static const uint8_t publish_empty[] =
    "\x30" "\x13" "\x00\x10" "interop/retained" "\x00";

/* UNSUBACK to enc_unsubscribe: success, then 0x11 No subscription existed. */
static const uint8_t unsuback_mosq[] =
    "\xb0" "\x05"                       /* UNSUBACK, remaining length 5 */
    "\x00\x04"                          /* packet id 4 */
    "\x00"                              /* property length 0 */
    "\x00" "\x11";                      /* reason codes */

static const uint8_t pingresp_mosq[] = "\xd0" "\x00";

/* Broker 2 on a retained PUBLISH (retain_available false): DISCONNECT 0x9A. */
static const uint8_t disconnect_retain[] = "\xe0" "\x01" "\x9a";
/* Broker 2 on a QoS 2 PUBLISH (max_qos 1): DISCONNECT 0x9B. */
static const uint8_t disconnect_qos[] = "\xe0" "\x01" "\x9b";

/* ---- our encoders' bytes, as sent to Mosquitto above ---- */

static const uint8_t enc_connect[] =
    "\x10" "\x2a"                       /* CONNECT, remaining length 42 */
    "\x00\x04" "MQTT" "\x05"            /* protocol name, level 5 */
    "\x02"                              /* flags: clean start */
    "\x00\x3c"                          /* keepalive 60 */
    "\x0d"                              /* property length 13 */
    "\x11\x00\x00\x01\x2c"              /* Session Expiry Interval 300 */
    "\x21\x00\x20"                      /* Receive Maximum 32 */
    "\x27\x00\x10\x00\x00"              /* Maximum Packet Size 1048576 */
    "\x00\x10" "iotcored-interop";      /* client id */

static const uint8_t enc_connect_anon_will[] =
    "\x10" "\x30"                       /* CONNECT, remaining length 48 */
    "\x00\x04" "MQTT" "\x05"
    "\xce"                              /* flags: user, password, will QoS 1, will, clean start */
    "\x00\x1e"                          /* keepalive 30 */
    "\x00"                              /* no properties */
    "\x00\x00"                          /* client id: empty (the broker assigns one) */
    "\x00"                              /* Will Properties: none */
    "\x00\x0c" "interop/will" "\x00\x04" "gone"
    "\x00\x04" "user" "\x00\x06" "secret";

static const uint8_t enc_subscribe[] =
    "\x82" "\x20"                       /* SUBSCRIBE, remaining length 32 */
    "\x00\x01"                          /* packet id 1 */
    "\x00"                              /* no properties */
    "\x00\x09" "interop/#" "\x09"       /* options: QoS 1, Retain As Published */
    "\x00\x0e" "interop/none/+" "\x08"; /* options: QoS 0, Retain As Published */

static const uint8_t enc_subscribe_denied[] =
    "\x82" "\x1a" "\x00\x05" "\x00"
    "\x00\x09" "interop/#" "\x02"       /* QoS 2, no Retain As Published */
    "\x00\x08" "denied/x" "\x01";

/* enc_publish_qos1 is publish_mosq with our packet id 2. */
static const uint8_t enc_publish_nosub[] =
    "\x32" "\x14" "\x00\x0e" "nobody/listens" "\x00\x03" "\x00" "x";
static const uint8_t enc_publish_retained[] =
    "\x31" "\x2e" "\x00\x10" "interop/retained"
    "\x17"
    "\x02\x00\x00\x0e\x10"              /* Message Expiry Interval first: our order */
    "\x26\x00\x08" "deviceId" "\x00\x05" "dev-1"
    "kept";
static const uint8_t enc_unsubscribe[] =
    "\xa2" "\x20" "\x00\x04" "\x00"
    "\x00\x09" "interop/#" "\x00\x10" "never/subscribed";
static const uint8_t enc_disconnect[] = "\xe0" "\x00";
static const uint8_t enc_disconnect_will[] = "\xe0" "\x01" "\x04";
static const uint8_t enc_puback[] = "\x40" "\x02" "\x00\x01";

/* ---- hand-built server packets ---- */

/* A 3.1.1 broker's answer to our level-5 CONNECT. */
static const uint8_t connack_311[] = "\x20" "\x02" "\x00" "\x01";

/* Every property a CONNACK may carry, User Property twice. */
static const uint8_t connack_full[] =
    "\x20" "\x82\x01"                   /* CONNACK, remaining length 130 */
    "\x01"                              /* session present */
    "\x00"                              /* success */
    "\x7f"                              /* property length 127 */
    "\x11\x00\x00\x0e\x10"              /* Session Expiry Interval 3600 */
    "\x12\x00\x03" "cid"                /* Assigned Client Identifier */
    "\x13\x00\x1e"                      /* Server Keep Alive 30 */
    "\x15\x00\x05" "SCRAM"              /* Authentication Method */
    "\x16\x00\x02" "\x00\xff"           /* Authentication Data (binary) */
    "\x1a\x00\x04" "resp"               /* Response Information */
    "\x1c\x00\x0a" "other:1883"         /* Server Reference */
    "\x1f\x00\x07" "welcome"            /* Reason String */
    "\x21\x00\x0a"                      /* Receive Maximum 10 */
    "\x22\x00\x00"                      /* Topic Alias Maximum 0 */
    "\x24\x00"                          /* Maximum QoS 0 */
    "\x25\x01"                          /* Retain Available 1 */
    "\x26\x00\x01" "a" "\x00\x01" "b"   /* User Property a=b */
    "\x26\x00\x01" "a" "\x00\x01" "c"   /* User Property a=c (repeats allowed) */
    "\x27\x00\x01\x00\x00"              /* Maximum Packet Size 65536 */
    "\x28\x00"                          /* Wildcard Subscription Available 0 */
    "\x29\x00"                          /* Subscription Identifiers Available 0 */
    "\x2a\x01"                          /* Shared Subscription Available 1 */
    "\x26\x00\x0a" "x-trace-id" "\x00\x14" "00-0af7651916cd43dd8";

/* A CONNACK refusing: 0x87 Not authorized with a reason string. */
static const uint8_t connack_refused[] =
    "\x20" "\x0d" "\x00" "\x87"
    "\x0a"                              /* property length 10 */
    "\x1f\x00\x07" "no auth";

/* PUBLISH QoS 2, DUP, with the publish-only properties and two subscription
 * identifiers (two matching subscriptions [MQTT-3.3.4-4]). */
static const uint8_t publish_full[] =
    "\x3c"                              /* PUBLISH, DUP, QoS 2 */
    "\x31"                              /* remaining length 49 */
    "\x00\x03" "a/b"                    /* topic */
    "\xbe\xef"                          /* packet id 0xbeef */
    "\x27"                              /* property length 39 */
    "\x01\x00"                          /* Payload Format Indicator 0 */
    "\x02\x00\x00\x00\x3c"              /* Message Expiry Interval 60 */
    "\x03\x00\x04" "text"               /* Content Type */
    "\x08\x00\x05" "reply"              /* Response Topic */
    "\x09\x00\x03" "\x01\x02\x03"       /* Correlation Data */
    "\x0b\xc8\x01"                      /* Subscription Identifier 200 */
    "\x0b\x01"                          /* Subscription Identifier 1 */
    "\x26\x00\x01" "k" "\x00\x00"       /* User Property k="" */
    "\xff\x00";                         /* payload: binary */

/* PUBREC 0x10 with a reason string and a user property. */
static const uint8_t pubrec_props[] =
    "\x50" "\x13"                       /* PUBREC, remaining length 19 */
    "\x00\x07"                          /* packet id 7 */
    "\x10"                              /* no matching subscribers */
    "\x0f"                              /* property length 15 */
    "\x1f\x00\x04" "none"               /* Reason String */
    "\x26\x00\x01" "u" "\x00\x02" "vv"; /* User Property */
static const uint8_t pubrel_short[] = "\x62" "\x02" "\x00\x07";     /* 2-byte form */
static const uint8_t pubrel_92[] = "\x62" "\x03" "\x00\x07" "\x92"; /* packet id not found */
/* PUBCOMP success with an explicit reason code and properties. */
static const uint8_t pubcomp_props[] =
    "\x70" "\x09" "\x00\x07" "\x00" "\x05" "\x1f\x00\x02" "ok";
/* PUBACK 4-byte form: success, empty property block. */
static const uint8_t puback_empty_props[] = "\x40" "\x04" "\x00\x02" "\x00" "\x00";

/* SUBACK with properties and every kind of code. */
static const uint8_t suback_codes[] =
    "\x90" "\x0f"                       /* SUBACK, remaining length 15 */
    "\x00\x0a"                          /* packet id 10 */
    "\x06"                              /* property length 6 */
    "\x1f\x00\x03" "why"                /* Reason String */
    "\x00" "\x01" "\x02"                /* granted QoS 0, 1, 2 */
    "\x80" "\x87" "\xa2";               /* unspecified, not authorized, no wildcards */

static const uint8_t unsuback_props[] =
    "\xb0" "\x0a" "\x00\x0b"
    "\x05" "\x1f\x00\x02" "no"
    "\x87" "\x8f";                      /* not authorized, topic filter invalid */

/* DISCONNECT from the server with properties. */
static const uint8_t disconnect_props[] =
    "\xe0" "\x28"                       /* DISCONNECT, remaining length 40 */
    "\x8b"                              /* server shutting down */
    "\x26"                              /* property length 38 */
    "\x1f\x00\x0d" "shutting down"      /* Reason String */
    "\x1c\x00\x0a" "other:1883"         /* Server Reference */
    "\x26\x00\x01" "k" "\x00\x03" "val"; /* User Property */
static const uint8_t disconnect_short[] = "\xe0" "\x00";  /* normal, no reason code */

static const uint8_t auth_short[] = "\xf0" "\x00";        /* AUTH success, reason omitted */
static const uint8_t auth_continue[] =
    "\xf0" "\x11"                       /* AUTH, remaining length 17 */
    "\x18"                              /* continue authentication */
    "\x0f"                              /* property length 15 */
    "\x15\x00\x05" "SCRAM"              /* Authentication Method */
    "\x16\x00\x04" "\x01\x02\x03\x04";  /* Authentication Data */

/* ---- the sample table ---- */

struct sample {
    const char *name;
    const uint8_t *b;
    size_t n;
    unsigned type;
};

#define SAMPLE(arr, type) { #arr, arr, LIT_LEN(arr), type }

static const struct sample samples[] = {
    SAMPLE(connack_mosq, MQTT_CONNACK),
    SAMPLE(connack_limits, MQTT_CONNACK),
    SAMPLE(connack_assigned, MQTT_CONNACK),
    SAMPLE(suback_mosq, MQTT_SUBACK),
    SAMPLE(suback_limits, MQTT_SUBACK),
    SAMPLE(publish_mosq, MQTT_PUBLISH),
    SAMPLE(puback_mosq, MQTT_PUBACK),
    SAMPLE(puback_nosub, MQTT_PUBACK),
    SAMPLE(puback_denied, MQTT_PUBACK),
    SAMPLE(publish_retained_live, MQTT_PUBLISH),
    SAMPLE(publish_retained_stored, MQTT_PUBLISH),
    SAMPLE(publish_empty, MQTT_PUBLISH),
    SAMPLE(unsuback_mosq, MQTT_UNSUBACK),
    SAMPLE(pingresp_mosq, MQTT_PINGRESP),
    SAMPLE(disconnect_retain, MQTT_DISCONNECT),
    SAMPLE(disconnect_qos, MQTT_DISCONNECT),
    SAMPLE(connack_311, MQTT_CONNACK),
    SAMPLE(connack_full, MQTT_CONNACK),
    SAMPLE(connack_refused, MQTT_CONNACK),
    SAMPLE(publish_full, MQTT_PUBLISH),
    SAMPLE(pubrec_props, MQTT_PUBREC),
    SAMPLE(pubrel_short, MQTT_PUBREL),
    SAMPLE(pubrel_92, MQTT_PUBREL),
    SAMPLE(pubcomp_props, MQTT_PUBCOMP),
    SAMPLE(puback_empty_props, MQTT_PUBACK),
    SAMPLE(suback_codes, MQTT_SUBACK),
    SAMPLE(unsuback_props, MQTT_UNSUBACK),
    SAMPLE(disconnect_props, MQTT_DISCONNECT),
    SAMPLE(disconnect_short, MQTT_DISCONNECT),
    SAMPLE(auth_short, MQTT5_AUTH),
    SAMPLE(auth_continue, MQTT5_AUTH),
    /* A PUBLISH travels both ways: our own bytes decode too. */
    SAMPLE(enc_publish_nosub, MQTT_PUBLISH),
    SAMPLE(enc_publish_retained, MQTT_PUBLISH),
    SAMPLE(enc_puback, MQTT_PUBACK),
};
#define N_SAMPLES NELEM(samples)

static void test_samples_decode(void)
{
    struct mqtt5_packet p;

    for (size_t i = 0; i < N_SAMPLES; i++) {
        const struct sample *s = &samples[i];
        if (!CHECK_RC(frame_decode(s->b, s->n, &p), 0)) {
            fprintf(stderr, "  sample %s\n", s->name);
            continue;
        }
        CHECK((unsigned)p.base.type == s->type);
        CHECK(p.base.flags == (s->b[0] & 0x0f));
        /* Every property block is found again by the user property walk. */
        {
            struct mqtt_slice it = p.props.raw;
            struct mqtt5_user_prop u;
            size_t k = 0;
            int r;
            while ((r = mqtt5_user_prop_next(&it, &u)) == 1) {
                if (k < p.props.user_count)
                    CHECK(slice_eq(u.name, p.props.user[k].name) &&
                          slice_eq(u.value, p.props.user[k].value));
                k++;
            }
            CHECK(r == 0 && k == p.props.user_total);
        }
    }
}

static bool user_is(const struct mqtt5_props *p, size_t i, struct mqtt_slice n, struct mqtt_slice v)
{
    return i < p->user_count && slice_eq(p->user[i].name, n) && slice_eq(p->user[i].value, v);
}

#define HAS(p, id) mqtt5_has(&(p).props, MQTT5_PROP_##id)

static void test_mosquitto_fields(void)
{
    struct mqtt5_packet p;
    const struct mqtt5_props *pr = &p.props;

    CHECK_RC(frame_decode(connack_mosq, LIT_LEN(connack_mosq), &p), 0);
    CHECK(p.base.type == MQTT_CONNACK && p.reason == 0 && p.base.u.connack.return_code == 0);
    CHECK(!p.base.u.connack.session_present && !p.connack_311);
    CHECK(pr->present == ((1ull << 0x22) | (1ull << 0x21)));
    CHECK(pr->topic_alias_maximum == 10 && pr->receive_maximum == 20);
    CHECK(pr->raw.len == 6 && pr->raw.p == connack_mosq + 5);   /* borrowed, not copied */

    CHECK_RC(frame_decode(connack_limits, LIT_LEN(connack_limits), &p), 0);
    CHECK(HAS(p, SERVER_KEEP_ALIVE) && pr->server_keep_alive == 20);
    CHECK(HAS(p, RETAIN_AVAILABLE) && pr->retain_available == 0);
    CHECK(HAS(p, MAXIMUM_PACKET_SIZE) && pr->maximum_packet_size == 2048);
    CHECK(pr->receive_maximum == 5);
    CHECK(HAS(p, MAXIMUM_QOS) && pr->maximum_qos == 1);
    CHECK(!HAS(p, SESSION_EXPIRY) && !HAS(p, ASSIGNED_CLIENT_ID) && !HAS(p, REASON_STRING));

    CHECK_RC(frame_decode(connack_assigned, LIT_LEN(connack_assigned), &p), 0);
    CHECK(HAS(p, ASSIGNED_CLIENT_ID));
    CHECK(slice_eq(pr->assigned_client_id, S("auto-A259153F-74FD-4362-133E-6C4F1D2F2F18")));

    CHECK_RC(frame_decode(suback_mosq, LIT_LEN(suback_mosq), &p), 0);
    CHECK(p.base.u.suback.packet_id == 1 && p.base.u.suback.count == 2);
    CHECK(p.base.u.suback.codes[0] == 1 && p.base.u.suback.codes[1] == 0);
    CHECK(pr->present == 0 && pr->raw.len == 0);

    CHECK_RC(frame_decode(suback_limits, LIT_LEN(suback_limits), &p), 0);
    CHECK(p.base.u.suback.packet_id == 5 && p.base.u.suback.count == 2);
    CHECK(p.base.u.suback.codes[0] == 1 && p.base.u.suback.codes[1] == 1);

    CHECK_RC(frame_decode(publish_mosq, LIT_LEN(publish_mosq), &p), 0);
    CHECK(p.base.u.publish.qos == 1 && !p.base.u.publish.dup && !p.base.u.publish.retain);
    CHECK(p.base.u.publish.packet_id == 1);
    CHECK(slice_eq(p.base.u.publish.topic, S("interop/events")));
    CHECK(slice_eq(p.base.u.publish.payload, S("{\"t\":21.5}")));
    CHECK(HAS(p, PAYLOAD_FORMAT) && pr->payload_format == 1);
    CHECK(slice_eq(pr->content_type, S("application/json")));
    CHECK(pr->user_count == 6 && pr->user_total == 6);
    CHECK(user_is(pr, 0, S("deviceId"), S("dev-1")));
    CHECK(user_is(pr, 1, S("deviceNumId"), S("2718281828459045")));
    CHECK(user_is(pr, 2, S("deviceRegistryLocation"), S("europe-west1")));
    CHECK(user_is(pr, 3, S("deviceRegistryId"), S("reg")));
    CHECK(user_is(pr, 4, S("projectId"), S("proj")));
    CHECK(user_is(pr, 5, S("subFolder"), S("telemetry/\xc3\xa9t\xc3\xa9")));
    CHECK(pr->sub_id_count == 0 && !HAS(p, MESSAGE_EXPIRY));

    CHECK_RC(frame_decode(puback_mosq, LIT_LEN(puback_mosq), &p), 0);
    CHECK(p.base.u.ack.packet_id == 2 && p.reason == 0 && pr->present == 0);
    CHECK_RC(frame_decode(puback_nosub, LIT_LEN(puback_nosub), &p), 0);
    CHECK(p.base.u.ack.packet_id == 3 && p.reason == MQTT5_RC_NO_MATCHING_SUBSCRIBERS);
    CHECK_RC(frame_decode(puback_denied, LIT_LEN(puback_denied), &p), 0);
    CHECK(p.base.u.ack.packet_id == 6 && p.reason == MQTT5_RC_NOT_AUTHORIZED);

    CHECK_RC(frame_decode(publish_retained_live, LIT_LEN(publish_retained_live), &p), 0);
    CHECK(p.base.u.publish.retain && p.base.u.publish.qos == 0 && p.base.u.publish.packet_id == 0);
    CHECK(pr->message_expiry == 3600 && user_is(pr, 0, S("deviceId"), S("dev-1")));
    CHECK(slice_eq(p.base.u.publish.payload, S("kept")));
    CHECK_RC(frame_decode(publish_retained_stored, LIT_LEN(publish_retained_stored), &p), 0);
    CHECK(pr->message_expiry == 3599);
    CHECK_RC(frame_decode(publish_empty, LIT_LEN(publish_empty), &p), 0);
    CHECK(p.base.u.publish.payload.len == 0 && pr->present == 0);

    CHECK_RC(frame_decode(unsuback_mosq, LIT_LEN(unsuback_mosq), &p), 0);
    CHECK(p.base.u.suback.packet_id == 4 && p.base.u.ack.packet_id == 4);
    CHECK(p.base.u.suback.count == 2 && p.base.u.suback.codes[0] == 0 &&
          p.base.u.suback.codes[1] == MQTT5_RC_NO_SUBSCRIPTION_EXISTED);

    CHECK_RC(frame_decode(pingresp_mosq, LIT_LEN(pingresp_mosq), &p), 0);
    CHECK(p.base.type == MQTT_PINGRESP);

    CHECK_RC(frame_decode(disconnect_retain, LIT_LEN(disconnect_retain), &p), 0);
    CHECK(p.base.type == MQTT_DISCONNECT && p.reason == 0x9a && pr->present == 0);
    CHECK_RC(frame_decode(disconnect_qos, LIT_LEN(disconnect_qos), &p), 0);
    CHECK(p.reason == 0x9b);
}

static void test_hand_built_fields(void)
{
    struct mqtt5_packet p;
    const struct mqtt5_props *pr = &p.props;

    CHECK_RC(frame_decode(connack_311, LIT_LEN(connack_311), &p), 0);
    CHECK(p.connack_311 && p.reason == 1 && p.base.u.connack.return_code == 1);

    CHECK_RC(frame_decode(connack_full, LIT_LEN(connack_full), &p), 0);
    CHECK(p.base.u.connack.session_present && p.reason == 0 && !p.connack_311);
    CHECK(pr->session_expiry == 3600 && slice_eq(pr->assigned_client_id, S("cid")));
    CHECK(pr->server_keep_alive == 30 && slice_eq(pr->auth_method, S("SCRAM")));
    CHECK(slice_eq(pr->auth_data, S("\x00\xff")));
    CHECK(slice_eq(pr->response_info, S("resp")));
    CHECK(slice_eq(pr->server_reference, S("other:1883")));
    CHECK(slice_eq(pr->reason_string, S("welcome")));
    CHECK(pr->receive_maximum == 10 && HAS(p, TOPIC_ALIAS_MAXIMUM) && pr->topic_alias_maximum == 0);
    CHECK(HAS(p, MAXIMUM_QOS) && pr->maximum_qos == 0 && pr->retain_available == 1);
    CHECK(pr->maximum_packet_size == 65536);
    CHECK(HAS(p, WILDCARD_SUB_AVAILABLE) && pr->wildcard_sub_available == 0);
    CHECK(HAS(p, SUB_ID_AVAILABLE) && pr->sub_id_available == 0);
    CHECK(HAS(p, SHARED_SUB_AVAILABLE) && pr->shared_sub_available == 1);
    CHECK(pr->user_count == 3 && user_is(pr, 0, S("a"), S("b")) && user_is(pr, 1, S("a"), S("c")));
    CHECK(user_is(pr, 2, S("x-trace-id"), S("00-0af7651916cd43dd8")));

    CHECK_RC(frame_decode(connack_refused, LIT_LEN(connack_refused), &p), 0);
    CHECK(p.reason == MQTT5_RC_NOT_AUTHORIZED && p.base.u.connack.return_code == 0x87);
    CHECK(slice_eq(pr->reason_string, S("no auth")));

    CHECK_RC(frame_decode(publish_full, LIT_LEN(publish_full), &p), 0);
    CHECK(p.base.u.publish.qos == 2 && p.base.u.publish.dup);
    CHECK(p.base.u.publish.packet_id == 0xbeef);
    CHECK(HAS(p, PAYLOAD_FORMAT) && pr->payload_format == 0 && pr->message_expiry == 60);
    CHECK(slice_eq(pr->content_type, S("text")) && slice_eq(pr->response_topic, S("reply")));
    CHECK(slice_eq(pr->correlation_data, S("\x01\x02\x03")));
    CHECK(pr->sub_id_count == 2 && pr->sub_id == 200);
    CHECK(user_is(pr, 0, S("k"), S("")));
    CHECK(slice_eq(p.base.u.publish.payload, S("\xff\x00")));

    CHECK_RC(frame_decode(pubrec_props, LIT_LEN(pubrec_props), &p), 0);
    CHECK(p.base.u.ack.packet_id == 7 && p.reason == 0x10);
    CHECK(slice_eq(pr->reason_string, S("none")));
    CHECK(user_is(pr, 0, S("u"), S("vv")));
    CHECK_RC(frame_decode(pubrel_short, LIT_LEN(pubrel_short), &p), 0);
    CHECK(p.base.type == MQTT_PUBREL && p.base.flags == 2 && p.reason == 0);
    CHECK_RC(frame_decode(pubrel_92, LIT_LEN(pubrel_92), &p), 0);
    CHECK(p.reason == MQTT5_RC_PACKET_ID_NOT_FOUND);
    CHECK_RC(frame_decode(pubcomp_props, LIT_LEN(pubcomp_props), &p), 0);
    CHECK(p.base.type == MQTT_PUBCOMP && p.reason == 0 && slice_eq(pr->reason_string, S("ok")));
    CHECK_RC(frame_decode(puback_empty_props, LIT_LEN(puback_empty_props), &p), 0);
    CHECK(p.reason == 0 && pr->present == 0);

    CHECK_RC(frame_decode(suback_codes, LIT_LEN(suback_codes), &p), 0);
    CHECK(p.base.u.suback.count == 6);
    CHECK(memcmp(p.base.u.suback.codes, "\x00\x01\x02\x80\x87\xa2", 6) == 0);
    CHECK(slice_eq(pr->reason_string, S("why")));
    CHECK_RC(frame_decode(unsuback_props, LIT_LEN(unsuback_props), &p), 0);
    CHECK(p.base.u.suback.packet_id == 11 && p.base.u.suback.count == 2);
    CHECK(p.base.u.suback.codes[0] == 0x87 && p.base.u.suback.codes[1] == 0x8f);

    CHECK_RC(frame_decode(disconnect_props, LIT_LEN(disconnect_props), &p), 0);
    CHECK(p.reason == 0x8b && slice_eq(pr->reason_string, S("shutting down")));
    CHECK(slice_eq(pr->server_reference, S("other:1883")) && user_is(pr, 0, S("k"), S("val")));
    CHECK_RC(frame_decode(disconnect_short, LIT_LEN(disconnect_short), &p), 0);
    CHECK(p.reason == 0);

    CHECK_RC(frame_decode(auth_short, LIT_LEN(auth_short), &p), 0);
    CHECK((unsigned)p.base.type == MQTT5_AUTH && p.reason == 0);
    CHECK_RC(frame_decode(auth_continue, LIT_LEN(auth_continue), &p), 0);
    CHECK(p.reason == MQTT5_RC_CONTINUE_AUTH && slice_eq(pr->auth_method, S("SCRAM")));
    CHECK(slice_eq(pr->auth_data, S("\x01\x02\x03\x04")));
}

/* Several packets back to back, as the broker's stream arrives. */
static void test_stream(void)
{
    static uint8_t stream[1024];
    const struct sample *parts[] = { &samples[0], &samples[3], &samples[5], &samples[6],
                                     &samples[29], &samples[13], &samples[27] };
    size_t n = 0, off = 0, count = 0;

    for (size_t i = 0; i < NELEM(parts); i++) {
        memcpy(stream + n, parts[i]->b, parts[i]->n);
        n += parts[i]->n;
    }
    while (off < n) {
        struct mqtt5_packet p;
        int f = mqtt5_frame(stream + off, n - off, BIG);
        if (!CHECK(f > 0))
            break;
        CHECK((size_t)f == parts[count]->n);
        CHECK_RC(mqtt5_decode_client(stream + off, (size_t)f, &p), 0);
        CHECK((unsigned)p.base.type == parts[count]->type);
        off += (size_t)f;
        count++;
    }
    CHECK(count == NELEM(parts));
}

/* ---- encoders: exact bytes ---- */

static bool encodes_to(struct wcur *w, const uint8_t *buf, size_t want_len, const uint8_t *want,
                       size_t n, const char *what)
{
    if (!CHECK_RC(w->err, 0) || !CHECK(w->off == n) || !CHECK(want_len == n) ||
        !CHECK(memcmp(buf, want, n) == 0)) {
        fprintf(stderr, "  encoder %s\n", what);
        return false;
    }
    return true;
}

static const struct mqtt5_user_prop interop_props[] = {
    { S("deviceId"), S("dev-1") },
    { S("deviceNumId"), S("2718281828459045") },
    { S("deviceRegistryLocation"), S("europe-west1") },
    { S("deviceRegistryId"), S("reg") },
    { S("projectId"), S("proj") },
    { S("subFolder"), S("telemetry/\xc3\xa9t\xc3\xa9") },
};

static void test_encoder_bytes(void)
{
    static uint8_t buf[512], want[512];
    struct wcur w;
    struct mqtt5_connect c;
    struct mqtt_subscribe s;
    struct mqtt5_publish p;

    memset(&c, 0, sizeof(c));
    c.base.clean_session = true;
    c.base.keepalive = 60;
    c.base.client_id = S("iotcored-interop");
    c.session_expiry = 300;
    c.receive_maximum = 32;
    c.maximum_packet_size = 1048576;
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_connect(&w, &c);
    encodes_to(&w, buf, mqtt5_encoded_len_connect(&c), enc_connect, LIT_LEN(enc_connect),
               "connect");

    memset(&c, 0, sizeof(c));
    c.base.protocol_level = 4;          /* ignored: always 5 */
    c.base.clean_session = true;
    c.base.keepalive = 30;
    c.base.client_id = S("");
    c.base.will = true;
    c.base.will_qos = 1;
    c.base.will_topic = S("interop/will");
    c.base.will_payload = S("gone");
    c.base.has_username = true;
    c.base.username = S("user");
    c.base.has_password = true;
    c.base.password = S("secret");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_connect(&w, &c);
    encodes_to(&w, buf, mqtt5_encoded_len_connect(&c), enc_connect_anon_will,
               LIT_LEN(enc_connect_anon_will), "connect_anon_will");

    memset(&s, 0, sizeof(s));
    s.packet_id = 1;
    s.count = 2;
    s.filters[0].filter = S("interop/#");
    s.filters[0].qos = 1;
    s.filters[1].filter = S("interop/none/+");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_subscribe(&w, &s, true);
    encodes_to(&w, buf, mqtt5_encoded_len_subscribe(&s), enc_subscribe, LIT_LEN(enc_subscribe),
               "subscribe");
    s.packet_id = 5;
    s.filters[0].qos = 2;
    s.filters[1].filter = S("denied/x");
    s.filters[1].qos = 1;
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_subscribe(&w, &s, false);
    encodes_to(&w, buf, mqtt5_encoded_len_subscribe(&s), enc_subscribe_denied,
               LIT_LEN(enc_subscribe_denied), "subscribe_denied");

    memset(&p, 0, sizeof(p));
    p.base.qos = 1;
    p.base.packet_id = 2;
    p.base.topic = S("interop/events");
    p.base.payload = S("{\"t\":21.5}");
    p.user_props = interop_props;
    p.user_prop_count = NELEM(interop_props);
    p.payload_utf8 = true;
    p.content_type = S("application/json");
    memcpy(want, publish_mosq, LIT_LEN(publish_mosq));
    want[20] = 2;                       /* our packet id; the broker used its own */
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_publish(&w, &p);
    encodes_to(&w, buf, mqtt5_encoded_len_publish(&p), want, LIT_LEN(publish_mosq), "publish_qos1");

    memset(&p, 0, sizeof(p));
    p.base.qos = 1;
    p.base.packet_id = 3;
    p.base.topic = S("nobody/listens");
    p.base.payload = S("x");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_publish(&w, &p);
    encodes_to(&w, buf, mqtt5_encoded_len_publish(&p), enc_publish_nosub,
               LIT_LEN(enc_publish_nosub), "publish_nosub");

    memset(&p, 0, sizeof(p));
    p.base.retain = true;
    p.base.topic = S("interop/retained");
    p.base.payload = S("kept");
    p.user_props = interop_props;
    p.user_prop_count = 1;
    p.message_expiry = 3600;
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_publish(&w, &p);
    encodes_to(&w, buf, mqtt5_encoded_len_publish(&p), enc_publish_retained,
               LIT_LEN(enc_publish_retained), "publish_retained");

    memset(&p, 0, sizeof(p));
    p.base.topic = S("interop/retained");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_publish(&w, &p);
    encodes_to(&w, buf, mqtt5_encoded_len_publish(&p), publish_empty, LIT_LEN(publish_empty),
               "publish_clear_retained");

    memset(&s, 0, sizeof(s));
    s.packet_id = 4;
    s.count = 2;
    s.filters[0].filter = S("interop/#");
    s.filters[0].qos = 2;               /* ignored in UNSUBSCRIBE */
    s.filters[1].filter = S("never/subscribed");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_unsubscribe(&w, &s);
    encodes_to(&w, buf, mqtt5_encoded_len_unsubscribe(&s), enc_unsubscribe,
               LIT_LEN(enc_unsubscribe), "unsubscribe");

    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_disconnect(&w, 0);
    encodes_to(&w, buf, mqtt5_encoded_len_disconnect(0), enc_disconnect, 2, "disconnect");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_disconnect(&w, MQTT5_RC_DISCONNECT_WITH_WILL);
    encodes_to(&w, buf, mqtt5_encoded_len_disconnect(4), enc_disconnect_will, 3, "disconnect_will");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_ack(&w, MQTT_PUBACK, 1, 0);
    encodes_to(&w, buf, mqtt5_encoded_len_ack(0), enc_puback, 4, "puback");
    wcur_init(&w, buf, sizeof(buf));
    mqtt5_encode_ack(&w, MQTT_PUBREL, 7, 0x92);
    encodes_to(&w, buf, mqtt5_encoded_len_ack(0x92), pubrel_92, LIT_LEN(pubrel_92), "pubrel_92");
    wcur_init(&w, buf, sizeof(buf));
    mqtt_encode_empty(&w, MQTT_PINGREQ);    /* PINGREQ is unchanged */
    CHECK(w.err == 0 && w.off == 2 && memcmp(buf, "\xc0\x00", 2) == 0);
}

/* ---- round trips ---- */

/* Encodes p into exactly mqtt5_encoded_len_publish bytes (one less fails and
 * writes nothing), frames, decodes. */
static bool publish_roundtrip(const struct mqtt5_publish *p, struct mqtt5_packet *q, uint8_t *buf,
                              size_t cap)
{
    size_t len = mqtt5_encoded_len_publish(p);
    struct wcur w;

    if (!CHECK(len <= cap))
        return false;
    wcur_init(&w, buf, len - 1);
    mqtt5_encode_publish(&w, p);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    wcur_init(&w, buf, len);
    mqtt5_encode_publish(&w, p);
    if (!CHECK_RC(w.err, 0) || !CHECK(w.off == len))
        return false;
    if (!CHECK_RC(mqtt5_frame(buf, cap, BIG), (int)len))
        return false;
    /* The 3.1.1 framing agrees: same fixed header. */
    CHECK_RC(mqtt_frame(buf, cap, BIG), (int)len);
    return CHECK_RC(mqtt5_decode_client(buf, len, q), 0);
}

static void test_roundtrip_publish(void)
{
    static uint8_t buf[40000];
    static uint8_t payload[16384];
    static struct mqtt5_user_prop up[24];
    static char names[24][8];
    static const size_t payload_sizes[] = { 0, 1, 100, 16384 };
    static const size_t prop_counts[] = { 0, 1, 6, 16, 17, 24 };
    struct mqtt5_publish p;
    struct mqtt5_packet q;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < NELEM(up); i++) {
        int n = snprintf(names[i], sizeof(names[i]), "n%zu", i);
        up[i].name = (struct mqtt_slice){ (const uint8_t *)names[i], (size_t)n };
        up[i].value = S("v\xe2\x82\xac");                           /* "v€" */
    }
    for (size_t a = 0; a < NELEM(payload_sizes); a++) {
        for (size_t b = 0; b < NELEM(prop_counts); b++) {
            for (uint8_t qos = 0; qos <= 2; qos++) {
                memset(&p, 0, sizeof(p));
                p.base.qos = qos;
                p.base.dup = qos == 2;
                p.base.retain = b & 1;
                p.base.packet_id = qos ? (uint16_t)(0xff00 + b) : 0;
                p.base.topic = S("google/p/l/r/d/events/sub");
                p.base.payload = (struct mqtt_slice){ payload, payload_sizes[a] };
                p.user_props = up;
                p.user_prop_count = prop_counts[b];
                p.payload_utf8 = a & 1;
                p.content_type = b & 1 ? S("application/octet-stream") : S("");
                p.message_expiry = (uint32_t)(a * 1000);
                if (!publish_roundtrip(&p, &q, buf, sizeof(buf)))
                    continue;
                CHECK(q.base.type == MQTT_PUBLISH);
                CHECK(q.base.flags == ((p.base.dup ? 8 : 0) | qos << 1 | (b & 1)));
                CHECK(q.base.u.publish.qos == qos && q.base.u.publish.dup == p.base.dup);
                CHECK(q.base.u.publish.retain == p.base.retain);
                CHECK(q.base.u.publish.packet_id == p.base.packet_id);
                CHECK(slice_eq(q.base.u.publish.topic, p.base.topic));
                CHECK(slice_eq(q.base.u.publish.payload, p.base.payload));
                CHECK(mqtt5_has(&q.props, MQTT5_PROP_PAYLOAD_FORMAT) == (bool)(a & 1));
                CHECK(q.props.payload_format == (a & 1));
                CHECK(slice_eq(q.props.content_type, p.content_type));
                CHECK(q.props.message_expiry == p.message_expiry);
                CHECK(q.props.user_total == prop_counts[b]);
                CHECK(q.props.user_count == (prop_counts[b] < MQTT5_MAX_USER_PROPS
                                                 ? prop_counts[b] : MQTT5_MAX_USER_PROPS));
                for (size_t k = 0; k < q.props.user_count; k++)
                    CHECK(user_is(&q.props, k, up[k].name, up[k].value));
                /* Past the bound, the walk still finds every one, in order. */
                {
                    struct mqtt_slice it = q.props.raw;
                    struct mqtt5_user_prop u;
                    size_t k = 0;
                    while (mqtt5_user_prop_next(&it, &u) == 1) {
                        CHECK(k < prop_counts[b] && slice_eq(u.name, up[k].name));
                        k++;
                    }
                    CHECK(k == prop_counts[b]);
                }
            }
        }
    }

    /* Property length crossing the 1-byte VBI boundary (127/128). */
    memset(&p, 0, sizeof(p));
    p.base.topic = S("t");
    p.user_props = up;
    {
        /* One pair "n0"="" takes 1 + 4 + 2 = 7 bytes. */
        static struct mqtt5_user_prop one[20];
        for (size_t i = 0; i < NELEM(one); i++)
            one[i] = (struct mqtt5_user_prop){ S("n0"), S("") };
        p.user_props = one;
        for (size_t cnt = 17; cnt <= 20; cnt++) {
            size_t plen = cnt * 7;
            size_t remlen = 3 + (plen <= 127 ? 1 : 2) + plen;
            p.user_prop_count = cnt;
            CHECK(mqtt5_encoded_len_publish(&p) == 1 + (remlen <= 127 ? 1 : 2) + remlen);
            if (publish_roundtrip(&p, &q, buf, sizeof(buf)))
                CHECK(q.props.raw.len == plen && q.props.user_total == cnt);
        }
    }
}

static void test_roundtrip_acks(void)
{
    static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };
    static const uint16_t ids[] = { 1, 0x00ff, 0xffff };
    uint8_t buf[8];
    struct wcur w;
    struct mqtt5_packet q;

    for (size_t t = 0; t < NELEM(types); t++) {
        for (int rc = 0; rc < 256; rc++) {
            bool pub = types[t] == MQTT_PUBACK || types[t] == MQTT_PUBREC;
            bool ok = pub ? (rc == 0 || rc == 0x10 || rc == 0x80 || rc == 0x83 || rc == 0x87 ||
                             rc == 0x90 || rc == 0x91 || rc == 0x97 || rc == 0x99)
                          : (rc == 0 || rc == 0x92);
            for (size_t i = 0; i < NELEM(ids); i++) {
                size_t len = mqtt5_encoded_len_ack((uint8_t)rc);
                wcur_init(&w, buf, sizeof(buf));
                mqtt5_encode_ack(&w, (enum mqtt_type)types[t], ids[i], (uint8_t)rc);
                if (!ok) {
                    CHECK_RC(w.err, MQTT_E_BUFFER);
                    CHECK(w.off == 0);
                    continue;
                }
                if (!CHECK_RC(w.err, 0) || !CHECK(w.off == len) ||
                    !CHECK(len == (rc ? 5u : 4u)))
                    continue;
                if (!CHECK_RC(frame_decode(buf, len, &q), 0))
                    continue;
                CHECK(q.base.type == types[t]);
                CHECK(q.base.flags == (types[t] == MQTT_PUBREL ? 2 : 0));
                CHECK(q.base.u.ack.packet_id == ids[i] && q.reason == rc);
            }
        }
    }
}

/* ---- truncation ---- */

/* Every strict prefix of a valid packet needs more bytes, and decoding it as
 * if it were complete is refused. */
static void test_prefixes(void)
{
    struct mqtt5_packet p;

    for (size_t i = 0; i < N_SAMPLES; i++) {
        const struct sample *s = &samples[i];
        for (size_t k = 0; k < s->n; k++) {
            /* Exact-size heap copy so ASan sees any read past the end. */
            uint8_t *b = malloc(k ? k : 1);
            if (!b)
                abort();
            memcpy(b, s->b, k);
            if (!CHECK_RC(mqtt5_frame(b, k, BIG), 0) ||
                !CHECK_RC(mqtt5_decode_client(b, k, &p), MQTT_E_TRUNCATED))
                fprintf(stderr, "  sample %s, prefix %zu\n", s->name, k);
            if (s->type != MQTT5_AUTH)
                CHECK_RC(mqtt_frame(b, k, BIG), 0);
            free(b);
        }
    }
}

static size_t vbi_len_at(const uint8_t *b, size_t *val)
{
    size_t n = 0, v = 0;
    do {
        v |= (size_t)(b[n] & 0x7f) << (7 * n);
    } while (b[n++] & 0x80);
    *val = v;
    return n;
}

/* The outcome of decoding sample s with its remaining length cut to r
 * bytes: 0 where the shorter packet is still valid (a PUBLISH with less
 * payload, an ack in its short form, a SUBACK with fewer codes). */
static int expected_cut(const struct sample *s, const uint8_t *body, size_t remlen, size_t r)
{
    size_t at, plen, end;

    switch (s->type) {
    case MQTT_CONNACK:
        return r == 2 && body[1] >= 1 && body[1] <= 5 ? 0 : MQTT_E_TRUNCATED;
    case MQTT_PUBLISH:
        at = 2 + (size_t)(body[0] << 8 | body[1]) + ((s->b[0] >> 1) & 3 ? 2 : 0);
        end = at + vbi_len_at(body + at, &plen);
        return r >= end + plen ? 0 : MQTT_E_TRUNCATED;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        if (r == 2 || r == 3)
            return 0;
        if (remlen <= 3 || r < 3)
            return MQTT_E_TRUNCATED;
        end = 3 + vbi_len_at(body + 3, &plen);
        return r >= end + plen ? 0 : MQTT_E_TRUNCATED;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        if (r < 3)
            return MQTT_E_TRUNCATED;
        end = 2 + vbi_len_at(body + 2, &plen) + plen;
        return r < end ? MQTT_E_TRUNCATED : r == end ? MQTT_E_NO_FILTERS : 0;
    case MQTT_DISCONNECT:
        return r <= 1 ? 0 : MQTT_E_TRUNCATED;
    case MQTT5_AUTH:
        return r == 0 ? 0 : MQTT_E_TRUNCATED;
    default:
        return MQTT_E_TRUNCATED;
    }
}

/* A remaining length that claims less than the fields need: an error (or a
 * shorter valid packet), never a read past the claimed length. */
static void test_short_remaining_length(void)
{
    for (size_t i = 0; i < N_SAMPLES; i++) {
        const struct sample *s = &samples[i];
        size_t remlen;
        size_t hdr = 1 + vbi_len_at(s->b + 1, &remlen);
        const uint8_t *body = s->b + hdr;

        CHECK(hdr + remlen == s->n);
        for (size_t r = 0; r < remlen; r++) {
            uint8_t *b = malloc(3 + r);
            size_t n = 0;
            struct mqtt5_packet p;
            int want = expected_cut(s, body, remlen, r);

            if (!b)
                abort();
            b[n++] = s->b[0];
            if (r > 127) {
                b[n++] = (uint8_t)(0x80 | (r & 0x7f));
                b[n++] = (uint8_t)(r >> 7);
            } else {
                b[n++] = (uint8_t)r;
            }
            memcpy(b + n, body, r);
            n += r;
            if (!CHECK_RC(frame_decode(b, n, &p), want))
                fprintf(stderr, "  sample %s, remaining length %zu\n", s->name, r);
            free(b);
        }
    }
}

/* ---- framing ---- */

static void test_frame(void)
{
    /* mqtt5_frame is mqtt_frame for types 1..14, byte for byte. */
    static const uint8_t heads[][6] = {
        { 0x20, 0x03, 0, 0, 0 }, { 0x30, 0x80, 0x01 }, { 0x30, 0xff, 0xff, 0xff, 0x7f },
        { 0x30, 0xff, 0xff, 0xff, 0xff, 0x01 }, { 0x00, 0x00 }, { 0xd0, 0x00 },
        { 0x90, 0x80, 0x00 },
    };
    for (size_t i = 0; i < NELEM(heads); i++)
        for (size_t k = 0; k <= 6; k++)
            for (size_t max = 1; max < 300; max += 37)
                CHECK_RC(mqtt5_frame(heads[i], k, max), mqtt_frame(heads[i], k, max));

    /* AUTH, which mqtt_frame refuses. */
    CHECK_RC(mqtt_frame(auth_continue, LIT_LEN(auth_continue), BIG), MQTT_E_BAD_TYPE);
    CHECK_RC(mqtt5_frame(auth_continue, LIT_LEN(auth_continue), BIG), (int)LIT_LEN(auth_continue));
    CHECK_RC(mqtt5_frame(auth_continue, LIT_LEN(auth_continue) + 1, BIG),   /* + the NUL */
             (int)LIT_LEN(auth_continue));
    CHECK_RC(mqtt5_frame(auth_continue, LIT_LEN(auth_continue), LIT_LEN(auth_continue)),
             (int)LIT_LEN(auth_continue));
    CHECK_RC(mqtt5_frame(auth_continue, LIT_LEN(auth_continue), LIT_LEN(auth_continue) - 1),
             MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt5_frame(auth_continue, 1, 1), MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt5_frame(auth_continue, 0, BIG), 0);
    {
        static const uint8_t auth_long[] = { 0xf0, 0xff, 0xff, 0xff, 0x7f };
        static const uint8_t auth_too_long[] = { 0xf0, 0xff, 0xff, 0xff, 0xff, 0x01 };
        static const uint8_t auth_2byte[] = { 0xf0, 0x80, 0x01 };
        CHECK_RC(mqtt5_frame(auth_long, 5, BIG), MQTT_E_PACKET_TOO_LARGE);
        CHECK_RC(mqtt5_frame(auth_long, 5, (size_t)MQTT_MAX_REMAINING_LENGTH + 5), 0);
        CHECK_RC(mqtt5_frame(auth_too_long, 6, (size_t)MQTT_MAX_REMAINING_LENGTH + 5),
                 MQTT_E_REMLEN_TOO_LONG);
        /* Only the length bytes seen so far: a lower bound already too big. */
        CHECK_RC(mqtt5_frame(auth_long, 3, 1000), MQTT_E_PACKET_TOO_LARGE);
        CHECK_RC(mqtt5_frame(auth_long, 2, 1000), 0);
        CHECK_RC(mqtt5_frame(auth_2byte, 3, BIG), 0);                     /* 128 bytes to come */
        CHECK_RC(mqtt5_frame(auth_2byte, 3, 130), MQTT_E_PACKET_TOO_LARGE);
        CHECK_RC(mqtt5_frame(auth_2byte, 3, 131), 0);
    }
    /* A non-minimal remaining length in the fixed header is accepted, as in
     * 3.1.1 framing; the body's own integers must be minimal (MQTT_E_VBI). */
    {
        static const uint8_t pingresp_long[] = { 0xd0, 0x80, 0x00 };
        struct mqtt5_packet p;
        CHECK_RC(frame_decode(pingresp_long, 3, &p), 0);
    }
}

/* ---- a raw builder for malformed packets ---- */

static uint8_t raw_body[70000];
static uint8_t raw_pkt[70010];
static struct wcur raw_w;
static uint8_t prop_buf[70000];
static struct wcur prop_w;

static void raw_begin(void) { wcur_init(&raw_w, raw_body, sizeof(raw_body)); }
static void raw_u8(uint8_t v) { wcur_u8(&raw_w, v); }
static void raw_u16(uint16_t v) { wcur_u16be(&raw_w, v); }
static void raw_bytes(const void *p, size_t n) { wcur_bytes(&raw_w, p, n); }
static void raw_str(struct mqtt_slice s) { raw_u16((uint16_t)s.len); raw_bytes(s.p, s.len); }

static void vbi_to(struct wcur *w, size_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        wcur_u8(w, v ? (uint8_t)(b | 0x80) : b);
    } while (v);
}

/* Properties: pb_* collect into prop_buf; raw_props() writes length + block. */
static void pb_begin(void) { wcur_init(&prop_w, prop_buf, sizeof(prop_buf)); }
static void pb_u8(uint8_t id, uint8_t v) { wcur_u8(&prop_w, id); wcur_u8(&prop_w, v); }
static void pb_u16(uint8_t id, uint16_t v) { wcur_u8(&prop_w, id); wcur_u16be(&prop_w, v); }
static void pb_u32(uint8_t id, uint32_t v)
{
    wcur_u8(&prop_w, id);
    wcur_u16be(&prop_w, (uint16_t)(v >> 16));
    wcur_u16be(&prop_w, (uint16_t)v);
}
static void pb_vbi(uint8_t id, size_t v) { wcur_u8(&prop_w, id); vbi_to(&prop_w, v); }
static void pb_str(uint8_t id, struct mqtt_slice s)
{
    wcur_u8(&prop_w, id);
    wcur_u16be(&prop_w, (uint16_t)s.len);
    wcur_bytes(&prop_w, s.p, s.len);
}
static void pb_pair(struct mqtt_slice n, struct mqtt_slice v)
{
    pb_str(MQTT5_PROP_USER, n);
    wcur_u16be(&prop_w, (uint16_t)v.len);
    wcur_bytes(&prop_w, v.p, v.len);
}
static void pb_raw(const void *p, size_t n) { wcur_bytes(&prop_w, p, n); }
static void raw_props(void)
{
    vbi_to(&raw_w, prop_w.off);
    raw_bytes(prop_buf, prop_w.off);
}

/* Prepends the fixed header (minimal remaining length); returns the length. */
static size_t raw_end(uint8_t first)
{
    struct wcur w;

    if (raw_w.err || prop_w.err) {
        fprintf(stderr, "raw builder overflow\n");
        exit(2);
    }
    wcur_init(&w, raw_pkt, sizeof(raw_pkt));
    wcur_u8(&w, first);
    vbi_to(&w, raw_w.off);
    wcur_bytes(&w, raw_body, raw_w.off);
    return w.off;
}

/* Packets of each server type around the current property block. */
static size_t mk(unsigned type)
{
    raw_begin();
    switch (type) {
    case MQTT_CONNACK:
        raw_u8(0);
        raw_u8(0);
        raw_props();
        return raw_end(0x20);
    case MQTT_PUBLISH:
        raw_str(S("t"));
        raw_u16(1);
        raw_props();
        raw_bytes("p", 1);
        return raw_end(0x32);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        raw_u16(1);
        raw_u8(0);
        raw_props();
        return raw_end((uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0)));
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        raw_u16(1);
        raw_props();
        raw_u8(0);
        return raw_end((uint8_t)(type << 4));
    case MQTT_DISCONNECT:
        raw_u8(0);
        raw_props();
        return raw_end(0xe0);
    case MQTT5_AUTH:
        raw_u8(0x18);
        raw_props();
        return raw_end(0xf0);
    default:
        abort();
    }
}

static int decode_raw(size_t n)
{
    struct mqtt5_packet p;
    return frame_decode(raw_pkt, n, &p);
}

static int mk_decode(unsigned type) { return decode_raw(mk(type)); }

/* ---- the property table ---- */

/* Table 2.4 of the spec, written out again independently of codec5.c, for
 * the packets a server sends. */
enum { T_BYTE = 1, T_U16, T_U32, T_VBI, T_UTF8, T_BIN, T_PAIR };
#define B(t) (1u << (t))
static const struct {
    uint8_t id, type;
    unsigned in;
} spec_props[] = {
    { 0x01, T_BYTE, B(MQTT_PUBLISH) },
    { 0x02, T_U32, B(MQTT_PUBLISH) },
    { 0x03, T_UTF8, B(MQTT_PUBLISH) },
    { 0x08, T_UTF8, B(MQTT_PUBLISH) },
    { 0x09, T_BIN, B(MQTT_PUBLISH) },
    { 0x0B, T_VBI, B(MQTT_PUBLISH) },
    { 0x11, T_U32, B(MQTT_CONNACK) },               /* also DISCONNECT, but client only */
    { 0x12, T_UTF8, B(MQTT_CONNACK) },
    { 0x13, T_U16, B(MQTT_CONNACK) },
    { 0x15, T_UTF8, B(MQTT_CONNACK) | B(MQTT5_AUTH) },
    { 0x16, T_BIN, B(MQTT_CONNACK) | B(MQTT5_AUTH) },
    { 0x17, T_BYTE, 0 },                            /* CONNECT only */
    { 0x18, T_U32, 0 },                             /* Will only */
    { 0x19, T_BYTE, 0 },                            /* CONNECT only */
    { 0x1A, T_UTF8, B(MQTT_CONNACK) },
    { 0x1C, T_UTF8, B(MQTT_CONNACK) | B(MQTT_DISCONNECT) },
    { 0x1F, T_UTF8, B(MQTT_CONNACK) | B(MQTT_PUBACK) | B(MQTT_PUBREC) | B(MQTT_PUBREL) |
                    B(MQTT_PUBCOMP) | B(MQTT_SUBACK) | B(MQTT_UNSUBACK) | B(MQTT_DISCONNECT) |
                    B(MQTT5_AUTH) },
    { 0x21, T_U16, B(MQTT_CONNACK) },
    { 0x22, T_U16, B(MQTT_CONNACK) },
    { 0x23, T_U16, B(MQTT_PUBLISH) },               /* Topic Alias: refused on its own */
    { 0x24, T_BYTE, B(MQTT_CONNACK) },
    { 0x25, T_BYTE, B(MQTT_CONNACK) },
    { 0x26, T_PAIR, B(MQTT_CONNACK) | B(MQTT_PUBLISH) | B(MQTT_PUBACK) | B(MQTT_PUBREC) |
                    B(MQTT_PUBREL) | B(MQTT_PUBCOMP) | B(MQTT_SUBACK) | B(MQTT_UNSUBACK) |
                    B(MQTT_DISCONNECT) | B(MQTT5_AUTH) },
    { 0x27, T_U32, B(MQTT_CONNACK) },
    { 0x28, T_BYTE, B(MQTT_CONNACK) },
    { 0x29, T_BYTE, B(MQTT_CONNACK) },
    { 0x2A, T_BYTE, B(MQTT_CONNACK) },
};
static const unsigned server_types[] = {
    MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
    MQTT_SUBACK, MQTT_UNSUBACK, MQTT_DISCONNECT, MQTT5_AUTH,
};

/* A valid value of the given type (1 for bytes: every byte property accepts it). */
static void pb_valid(uint8_t id, uint8_t type)
{
    switch (type) {
    case T_BYTE: pb_u8(id, 1); break;
    case T_U16: pb_u16(id, 5); break;
    case T_U32: pb_u32(id, 7); break;
    case T_VBI: pb_vbi(id, 1); break;
    case T_UTF8: pb_str(id, S("a/b")); break;
    case T_BIN: pb_str(id, S("\x00\xff")); break;
    case T_PAIR: pb_pair(S("k"), S("v")); break;
    default: abort();
    }
}

static void test_property_table(void)
{
    bool known[256] = { false };

    for (size_t i = 0; i < NELEM(spec_props); i++) {
        known[spec_props[i].id] = true;
        for (size_t t = 0; t < NELEM(server_types); t++) {
            unsigned type = server_types[t];
            bool allowed = spec_props[i].in & B(type);
            int want = !allowed ? MQTT_E_PROPERTY
                     : spec_props[i].id == MQTT5_PROP_TOPIC_ALIAS ? MQTT_E_TOPIC_ALIAS : 0;
            bool repeats = spec_props[i].id == MQTT5_PROP_USER ||
                           spec_props[i].id == MQTT5_PROP_SUBSCRIPTION_ID;

            pb_begin();
            pb_valid(spec_props[i].id, spec_props[i].type);
            if (!CHECK_RC(mk_decode(type), want))
                fprintf(stderr, "  property 0x%02x in type %u\n", spec_props[i].id, type);
            if (want != 0)
                continue;
            /* Twice: a Protocol Error for all but User Property and, in a
             * PUBLISH, Subscription Identifier. */
            pb_valid(spec_props[i].id, spec_props[i].type);
            if (!CHECK_RC(mk_decode(type), repeats ? 0 : MQTT_E_PROPERTY))
                fprintf(stderr, "  property 0x%02x twice in type %u\n", spec_props[i].id, type);
            /* Also with another property in between. */
            pb_begin();
            pb_valid(spec_props[i].id, spec_props[i].type);
            pb_pair(S("x"), S("y"));
            pb_valid(spec_props[i].id, spec_props[i].type);
            CHECK_RC(mk_decode(type), repeats ? 0 : MQTT_E_PROPERTY);
        }
    }
    /* Every other identifier is unknown, in every packet; so are identifiers
     * written as multi-byte variable byte integers. */
    for (int id = 0; id < 256; id++) {
        if (known[id])
            continue;
        for (size_t t = 0; t < NELEM(server_types); t++) {
            uint8_t v[3] = { (uint8_t)id, 0x01, 0x00 };
            pb_begin();
            pb_raw(v, 3);
            if (!CHECK_RC(mk_decode(server_types[t]), MQTT_E_PROPERTY))
                fprintf(stderr, "  unknown id 0x%02x in type %u\n", id, server_types[t]);
        }
    }
}

/* Property values out of range. */
static void test_property_values(void)
{
    static const struct {
        uint8_t id;
        uint8_t type;
        unsigned ptype;
    } flags[] = {
        { MQTT5_PROP_PAYLOAD_FORMAT, T_BYTE, MQTT_PUBLISH },
        { MQTT5_PROP_MAXIMUM_QOS, T_BYTE, MQTT_CONNACK },
        { MQTT5_PROP_RETAIN_AVAILABLE, T_BYTE, MQTT_CONNACK },
        { MQTT5_PROP_WILDCARD_SUB_AVAILABLE, T_BYTE, MQTT_CONNACK },
        { MQTT5_PROP_SUB_ID_AVAILABLE, T_BYTE, MQTT_CONNACK },
        { MQTT5_PROP_SHARED_SUB_AVAILABLE, T_BYTE, MQTT_CONNACK },
    };

    /* Byte flags: 0 and 1 only (Maximum QoS: absent means 2, so 2 is an error). */
    for (size_t i = 0; i < NELEM(flags); i++) {
        for (int v = 0; v < 256; v++) {
            pb_begin();
            pb_u8(flags[i].id, (uint8_t)v);
            CHECK_RC(mk_decode(flags[i].ptype), v <= 1 ? 0 : MQTT_E_PROPERTY);
        }
    }
    pb_begin();
    pb_u16(MQTT5_PROP_RECEIVE_MAXIMUM, 0);
    CHECK_RC(mk_decode(MQTT_CONNACK), MQTT_E_PROPERTY);
    pb_begin();
    pb_u16(MQTT5_PROP_RECEIVE_MAXIMUM, 65535);
    CHECK_RC(mk_decode(MQTT_CONNACK), 0);
    pb_begin();
    pb_u32(MQTT5_PROP_MAXIMUM_PACKET_SIZE, 0);
    CHECK_RC(mk_decode(MQTT_CONNACK), MQTT_E_PROPERTY);
    pb_begin();
    pb_u32(MQTT5_PROP_MAXIMUM_PACKET_SIZE, 0xffffffffu);
    CHECK_RC(mk_decode(MQTT_CONNACK), 0);
    pb_begin();
    pb_u16(MQTT5_PROP_SERVER_KEEP_ALIVE, 0);        /* 0 is fine: keepalive off */
    CHECK_RC(mk_decode(MQTT_CONNACK), 0);

    /* Subscription Identifier: 1..268435455, minimal encoding. */
    pb_begin();
    pb_vbi(MQTT5_PROP_SUBSCRIPTION_ID, 0);
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_PROPERTY);
    pb_begin();
    pb_vbi(MQTT5_PROP_SUBSCRIPTION_ID, MQTT5_VBI_MAX);
    {
        struct mqtt5_packet p;
        size_t n = mk(MQTT_PUBLISH);
        CHECK_RC(frame_decode(raw_pkt, n, &p), 0);
        CHECK(p.props.sub_id == MQTT5_VBI_MAX && p.props.sub_id_count == 1);
    }
    pb_begin();
    pb_raw("\x0b\x81\x00", 3);          /* 1 written in two bytes */
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_VBI);
    pb_begin();
    pb_raw("\x0b\xff\xff\xff\xff\x01", 6);  /* five bytes */
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_VBI);
    pb_begin();
    pb_raw("\x0b\xff\xff", 3);          /* runs past the block */
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_PROPERTY);

    /* Response Topic must be a topic name. */
    pb_begin();
    pb_str(MQTT5_PROP_RESPONSE_TOPIC, S("a/+"));
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_PROPERTY);
    pb_begin();
    pb_str(MQTT5_PROP_RESPONSE_TOPIC, S(""));
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_PROPERTY);

    /* Session Expiry Interval from a server's DISCONNECT [MQTT-3.14.2-2]. */
    pb_begin();
    pb_u32(MQTT5_PROP_SESSION_EXPIRY, 0);
    CHECK_RC(mk_decode(MQTT_DISCONNECT), MQTT_E_PROPERTY);
}

/* Strings in properties: UTF-8 checked, binary not. */
static void test_property_strings(void)
{
    static const struct {
        const char *s;
        size_t n;
        int want;
    } cases[] = {
        { "ok", 2, 0 },
        { "\xc3\xa9", 2, 0 },
        { "\xc3", 1, MQTT_E_UTF8 },               /* truncated sequence */
        { "\xed\xa0\x80", 3, MQTT_E_UTF8 },       /* surrogate */
        { "\xc0\xaf", 2, MQTT_E_UTF8 },           /* overlong */
        { "a\0b", 3, MQTT_E_UTF8_NUL },
    };
    static const uint8_t utf8_ids[][2] = {
        { MQTT5_PROP_CONTENT_TYPE, MQTT_PUBLISH },
        { MQTT5_PROP_ASSIGNED_CLIENT_ID, MQTT_CONNACK },
        { MQTT5_PROP_AUTH_METHOD, MQTT5_AUTH },
        { MQTT5_PROP_RESPONSE_INFO, MQTT_CONNACK },
        { MQTT5_PROP_SERVER_REFERENCE, MQTT_DISCONNECT },
        { MQTT5_PROP_REASON_STRING, MQTT_PUBACK },
        { MQTT5_PROP_REASON_STRING, MQTT_SUBACK },
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct mqtt_slice s = { (const uint8_t *)cases[i].s, cases[i].n };
        for (size_t t = 0; t < NELEM(server_types); t++) {
            pb_begin();
            pb_pair(s, S("v"));         /* bad name */
            CHECK_RC(mk_decode(server_types[t]), cases[i].want);
            pb_begin();
            pb_pair(S("n"), s);         /* bad value */
            CHECK_RC(mk_decode(server_types[t]), cases[i].want);
        }
        for (size_t k = 0; k < NELEM(utf8_ids); k++) {
            pb_begin();
            pb_str(utf8_ids[k][0], s);
            CHECK_RC(mk_decode(utf8_ids[k][1]), cases[i].want);
        }
        /* Binary data is not UTF-8 checked. */
        pb_begin();
        pb_str(MQTT5_PROP_CORRELATION_DATA, s);
        CHECK_RC(mk_decode(MQTT_PUBLISH), 0);
        pb_begin();
        pb_str(MQTT5_PROP_AUTH_DATA, s);
        CHECK_RC(mk_decode(MQTT_CONNACK), 0);
    }
}

/* Property blocks whose lengths disagree with what they hold. */
static void test_property_lengths(void)
{
    size_t n;

    /* Property length beyond the packet: truncated, like a string's. */
    raw_begin();
    raw_u16(1);
    raw_u8(0);
    raw_u8(9);                          /* property length 9, 3 bytes follow */
    raw_bytes("\x1f\x00\x00", 3);
    CHECK_RC(decode_raw(raw_end(0x40)), MQTT_E_TRUNCATED);
    raw_begin();
    raw_u8(0);
    raw_u8(0);
    raw_bytes("\xff\xff\xff\x7f", 4);   /* property length 268435455 */
    CHECK_RC(decode_raw(raw_end(0x20)), MQTT_E_TRUNCATED);

    /* Property length as a bad variable byte integer. */
    raw_begin();
    raw_u8(0);
    raw_u8(0);
    raw_bytes("\x80\x80\x80\x80\x01", 5);   /* five bytes */
    CHECK_RC(decode_raw(raw_end(0x20)), MQTT_E_VBI);
    raw_begin();
    raw_u8(0);
    raw_u8(0);
    raw_bytes("\x80\x00", 2);           /* 0 in two bytes */
    CHECK_RC(decode_raw(raw_end(0x20)), MQTT_E_VBI);
    raw_begin();
    raw_u16(1);
    raw_bytes("\x83\x00", 2);           /* 3 written in two bytes, in a SUBACK */
    raw_bytes("\x1f\x00\x00", 3);
    raw_u8(0);
    CHECK_RC(decode_raw(raw_end(0x90)), MQTT_E_VBI);
    raw_begin();
    raw_u8(0);
    raw_bytes("\x80", 1);               /* the packet ends inside the integer */
    CHECK_RC(decode_raw(raw_end(0xe0)), MQTT_E_TRUNCATED);

    /* A property running past its block, though the packet has the bytes:
     * the reason string claims 5 bytes, the block holds 3 of them and the
     * SUBACK codes follow. */
    raw_begin();
    raw_u16(1);
    raw_u8(6);
    raw_bytes("\x1f\x00\x05" "abc", 6);
    raw_bytes("\x00\x00", 2);
    CHECK_RC(decode_raw(raw_end(0x90)), MQTT_E_PROPERTY);
    for (size_t cut = 1; cut <= 4; cut++) {  /* a u32 cut short by the block */
        pb_begin();
        pb_raw("\x27\x00\x00\x10\x00", cut);
        CHECK_RC(mk_decode(MQTT_CONNACK), MQTT_E_PROPERTY);
    }
    pb_begin();
    pb_raw("\x26\x00\x01" "k" "\x00", 5);   /* user property cut inside the value length */
    CHECK_RC(mk_decode(MQTT_DISCONNECT), MQTT_E_PROPERTY);

    /* Bytes after the properties where nothing may follow. */
    pb_begin();
    n = mk(MQTT_CONNACK);
    raw_pkt[1]++;
    raw_pkt[n] = 0;
    CHECK_RC(decode_raw(n + 1), MQTT_E_TRAILING);
    n = mk(MQTT_PUBACK);
    raw_pkt[1]++;
    raw_pkt[n] = 0;
    CHECK_RC(decode_raw(n + 1), MQTT_E_TRAILING);
    n = mk(MQTT_DISCONNECT);
    raw_pkt[1]++;
    raw_pkt[n] = 0;
    CHECK_RC(decode_raw(n + 1), MQTT_E_TRAILING);
    n = mk(MQTT5_AUTH);
    raw_pkt[1]++;
    raw_pkt[n] = 0;
    CHECK_RC(decode_raw(n + 1), MQTT_E_TRAILING);
    CHECK_RC(decode_raw(0), MQTT_E_TRUNCATED);
    {
        static const uint8_t pingresp_body[] = { 0xd0, 0x01, 0x00 };
        struct mqtt5_packet p;
        CHECK_RC(frame_decode(pingresp_body, 3, &p), MQTT_E_TRAILING);
        /* The decoder's own length checks, without the framer. */
        CHECK_RC(mqtt5_decode_client(pingresp_body, 2, &p), MQTT_E_TRUNCATED);
        CHECK_RC(mqtt5_decode_client(puback_mosq, LIT_LEN(puback_mosq) + 1, &p), MQTT_E_TRAILING);
    }
    /* The 2-byte AUTH form does not exist: reason code without properties. */
    {
        static const uint8_t auth1[] = { 0xf0, 0x01, 0x18 };
        struct mqtt5_packet p;
        CHECK_RC(frame_decode(auth1, 3, &p), MQTT_E_TRUNCATED);
    }
}

static void test_topic_alias(void)
{
    size_t n;

    /* An alias defining a mapping (topic present) and one using it (empty
     * topic): both refused as we allowed none. */
    pb_begin();
    pb_u16(MQTT5_PROP_TOPIC_ALIAS, 1);
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_TOPIC_ALIAS);
    raw_begin();
    raw_u16(0);                         /* empty topic */
    raw_props();
    n = raw_end(0x30);
    CHECK_RC(decode_raw(n), MQTT_E_TOPIC_ALIAS);
    /* Behind other properties, too. */
    pb_begin();
    pb_pair(S("a"), S("b"));
    pb_u16(MQTT5_PROP_TOPIC_ALIAS, 3);
    CHECK_RC(mk_decode(MQTT_PUBLISH), MQTT_E_TOPIC_ALIAS);
    /* An empty topic without an alias is just an empty topic. */
    pb_begin();
    raw_begin();
    raw_u16(0);
    raw_props();
    CHECK_RC(decode_raw(raw_end(0x30)), MQTT_E_TOPIC_EMPTY);
    CHECK(mqtt5_disconnect_reason(MQTT_E_TOPIC_ALIAS) == MQTT5_RC_TOPIC_ALIAS_INVALID);
}

/* ---- reason codes ---- */

static bool in_list(int rc, const uint8_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] == rc)
            return true;
    return false;
}

static void test_reason_codes(void)
{
    /* Tables 3.x of the spec, for what a server sends. */
    static const uint8_t connack[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
                                       0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A,
                                       0x9B, 0x9C, 0x9D, 0x9F };
    static const uint8_t puback[] = { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 };
    static const uint8_t pubrel[] = { 0x00, 0x92 };
    static const uint8_t suback[] = { 0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97,
                                      0x9E, 0xA1, 0xA2 };
    static const uint8_t unsuback[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };
    static const uint8_t disconnect[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                          0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
                                          0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
                                          0xA2 };
    static const uint8_t auth[] = { 0x00, 0x18 };
    struct mqtt5_packet p;

    for (int rc = 0; rc < 256; rc++) {
        size_t n;

        /* CONNACK with properties (rc != 0 needs session present 0). */
        raw_begin();
        raw_u8(0);
        raw_u8((uint8_t)rc);
        raw_u8(0);
        CHECK_RC(decode_raw(raw_end(0x20)),
                 in_list(rc, connack, sizeof(connack)) ? 0 : MQTT_E_REASON);
        /* Acks in the 3-byte and 4-byte forms. */
        for (unsigned t = MQTT_PUBACK; t <= MQTT_PUBCOMP; t++) {
            bool ok = t <= MQTT_PUBREC ? in_list(rc, puback, sizeof(puback))
                                       : in_list(rc, pubrel, sizeof(pubrel));
            uint8_t first = (uint8_t)(t << 4 | (t == MQTT_PUBREL ? 2 : 0));
            raw_begin();
            raw_u16(9);
            raw_u8((uint8_t)rc);
            CHECK_RC(decode_raw(raw_end(first)), ok ? 0 : MQTT_E_REASON);
            raw_u8(0);
            CHECK_RC(decode_raw(raw_end(first)), ok ? 0 : MQTT_E_REASON);
        }
        /* SUBACK and UNSUBACK, code after a valid one. */
        raw_begin();
        raw_u16(9);
        raw_u8(0);
        raw_u8(0);
        raw_u8((uint8_t)rc);
        CHECK_RC(decode_raw(raw_end(0x90)),
                 in_list(rc, suback, sizeof(suback)) ? 0 : MQTT_E_REASON);
        CHECK_RC(decode_raw(raw_end(0xb0)),
                 in_list(rc, unsuback, sizeof(unsuback)) ? 0 : MQTT_E_REASON);
        /* DISCONNECT in the 1-byte and the full form; AUTH full form. */
        raw_begin();
        raw_u8((uint8_t)rc);
        n = raw_end(0xe0);
        CHECK_RC(decode_raw(n), in_list(rc, disconnect, sizeof(disconnect)) ? 0 : MQTT_E_REASON);
        raw_u8(0);
        CHECK_RC(decode_raw(raw_end(0xe0)),
                 in_list(rc, disconnect, sizeof(disconnect)) ? 0 : MQTT_E_REASON);
        CHECK_RC(decode_raw(raw_end(0xf0)), in_list(rc, auth, sizeof(auth)) ? 0 : MQTT_E_REASON);
    }
    /* Named cases the brief lists: 0x04 is the client's, 0x19 the client's. */
    CHECK_RC(frame_decode((const uint8_t *)"\xe0\x01\x04", 3, &p), MQTT_E_REASON);
    CHECK_RC(frame_decode((const uint8_t *)"\xf0\x02\x19\x00", 4, &p), MQTT_E_REASON);

    /* CONNACK: the 3.1.1 form only for a 3.1.1 refusal code. */
    for (int rc = 0; rc < 256; rc++) {
        uint8_t b[4] = { 0x20, 0x02, 0x00, (uint8_t)rc };
        int want = rc >= 1 && rc <= 5 ? 0
                 : in_list(rc, connack, sizeof(connack)) ? MQTT_E_TRUNCATED : MQTT_E_REASON;
        if (CHECK_RC(frame_decode(b, 4, &p), want) && want == 0)
            CHECK(p.connack_311 && p.reason == rc);
    }
    /* CONNACK flags. */
    CHECK_RC(frame_decode((const uint8_t *)"\x20\x03\x02\x00\x00", 5, &p), MQTT_E_CONNACK_FLAGS);
    CHECK_RC(frame_decode((const uint8_t *)"\x20\x03\x01\x00\x00", 5, &p), 0);
    CHECK(p.base.u.connack.session_present);
    CHECK_RC(frame_decode((const uint8_t *)"\x20\x03\x01\x87\x00", 5, &p), MQTT_E_CONNACK_FLAGS);
    CHECK_RC(frame_decode((const uint8_t *)"\x20\x02\x01\x01", 4, &p), MQTT_E_CONNACK_FLAGS);
}

/* ---- other malformed packets ---- */

static void test_err_header(void)
{
    struct mqtt5_packet p;
    static const struct {
        const char *b;
        size_t n;
        int want;
    } cases[] = {
        /* Packets only a client sends. */
        { "\x10\x00", 2, MQTT_E_ROLE },
        { "\x82\x00", 2, MQTT_E_ROLE },
        { "\xa2\x00", 2, MQTT_E_ROLE },
        { "\xc0\x00", 2, MQTT_E_ROLE },
        { "\x00\x00", 2, MQTT_E_BAD_TYPE },
        /* Reserved flags [MQTT-2.1.3-1]. */
        { "\x41\x02\x00\x01", 4, MQTT_E_RESERVED_FLAGS },
        { "\x60\x02\x00\x01", 4, MQTT_E_RESERVED_FLAGS },
        { "\x72\x02\x00\x01", 4, MQTT_E_RESERVED_FLAGS },
        { "\x21\x03\x00\x00\x00", 5, MQTT_E_RESERVED_FLAGS },
        { "\x98\x04\x00\x01\x00\x00", 6, MQTT_E_RESERVED_FLAGS },
        { "\xb4\x04\x00\x01\x00\x00", 6, MQTT_E_RESERVED_FLAGS },
        { "\xd1\x00", 2, MQTT_E_RESERVED_FLAGS },
        { "\xe1\x00", 2, MQTT_E_RESERVED_FLAGS },
        { "\xf1\x00", 2, MQTT_E_RESERVED_FLAGS },
        /* PUBLISH header. */
        { "\x36\x06\x00\x01t\x00\x01\x00", 8, MQTT_E_QOS3 },
        { "\x38\x04\x00\x01t\x00", 6, MQTT_E_DUP_QOS0 },
        { "\x32\x06\x00\x01t\x00\x00\x00", 8, MQTT_E_PACKET_ID_ZERO },
        { "\x30\x04\x00\x01+\x00", 6, MQTT_E_TOPIC_WILDCARD },
        { "\x30\x04\x00\x01\xc3\x00", 6, MQTT_E_UTF8 },
        { "\x30\x05\x00\x02" "a\x00" "\x00", 7, MQTT_E_UTF8_NUL },
        /* Packet ids. */
        { "\x40\x02\x00\x00", 4, MQTT_E_PACKET_ID_ZERO },
        { "\x62\x03\x00\x00\x00", 5, MQTT_E_PACKET_ID_ZERO },
        { "\x90\x04\x00\x00\x00\x00", 6, MQTT_E_PACKET_ID_ZERO },
        { "\xb0\x04\x00\x00\x00\x00", 6, MQTT_E_PACKET_ID_ZERO },
        /* SUBACK/UNSUBACK without codes. */
        { "\x90\x03\x00\x01\x00", 5, MQTT_E_NO_FILTERS },
        { "\xb0\x03\x00\x01\x00", 5, MQTT_E_NO_FILTERS },
        { "\x90\x02\x00\x01", 4, MQTT_E_TRUNCATED },
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        if (!CHECK_RC(frame_decode((const uint8_t *)cases[i].b, cases[i].n, &p), cases[i].want))
            fprintf(stderr, "  case %zu\n", i);
    }
    /* More codes than filters we could have sent. */
    raw_begin();
    raw_u16(1);
    raw_u8(0);
    for (int i = 0; i < MQTT_MAX_FILTERS; i++)
        raw_u8(1);
    CHECK_RC(decode_raw(raw_end(0x90)), 0);
    raw_u8(1);
    CHECK_RC(decode_raw(raw_end(0x90)), MQTT_E_TOO_MANY_FILTERS);
    CHECK_RC(decode_raw(raw_end(0xb0)), MQTT_E_REASON);     /* 0x01 is no UNSUBACK code */
}

/* On failure *ret is untouched. */
static void test_ret_untouched(void)
{
    struct mqtt5_packet p, before;

    memset(&p, 0xA5, sizeof(p));
    before = p;
    pb_begin();
    pb_pair(S("a"), S("b"));
    pb_u16(MQTT5_PROP_TOPIC_ALIAS, 1);
    CHECK_RC(mqtt5_decode_client(raw_pkt, mk(MQTT_PUBLISH), &p), MQTT_E_TOPIC_ALIAS);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0);
    CHECK_RC(mqtt5_decode_client(connack_full, LIT_LEN(connack_full) - 1, &p), MQTT_E_TRUNCATED);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0);
    CHECK_RC(mqtt5_decode_client((const uint8_t *)"\xe0\x01\x04", 3, &p), MQTT_E_REASON);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0);
}

static void test_user_prop_next(void)
{
    struct mqtt_slice it;
    struct mqtt5_user_prop u;

    it = (struct mqtt_slice){ NULL, 0 };
    CHECK(mqtt5_user_prop_next(&it, &u) == 0);
    /* Other properties are skipped; the walk ends empty. */
    it = S("\x1f\x00\x01" "r" "\x26\x00\x01" "a" "\x00\x01" "b" "\x0b\x81\x01"
           "\x26\x00\x00" "\x00\x00");
    CHECK(mqtt5_user_prop_next(&it, &u) == 1);
    CHECK(slice_eq(u.name, S("a")) && slice_eq(u.value, S("b")));
    CHECK(mqtt5_user_prop_next(&it, &u) == 1 && u.name.len == 0 && u.value.len == 0);
    CHECK(mqtt5_user_prop_next(&it, &u) == 0 && it.len == 0);
    CHECK(mqtt5_user_prop_next(&it, &u) == 0);
    /* Not a valid block. */
    it = S("\x26\x00\x05" "a");
    CHECK_RC(mqtt5_user_prop_next(&it, &u), MQTT_E_PROPERTY);
    it = S("\x7f\x00");
    CHECK_RC(mqtt5_user_prop_next(&it, &u), MQTT_E_PROPERTY);
}

static void test_disconnect_reason(void)
{
    CHECK(mqtt5_disconnect_reason(MQTT_E_TOPIC_ALIAS) == 0x94);
    CHECK(mqtt5_disconnect_reason(MQTT_E_PACKET_TOO_LARGE) == 0x95);
    CHECK(mqtt5_disconnect_reason(MQTT_E_PROPERTY) == 0x82);
    CHECK(mqtt5_disconnect_reason(MQTT_E_REASON) == 0x82);
    CHECK(mqtt5_disconnect_reason(MQTT_E_ROLE) == 0x82);
    CHECK(mqtt5_disconnect_reason(MQTT_E_TRUNCATED) == 0x81);
    CHECK(mqtt5_disconnect_reason(MQTT_E_VBI) == 0x81);
    CHECK(mqtt5_disconnect_reason(MQTT_E_UTF8) == 0x81);
}

static void test_err_names(void)
{
    static const struct {
        int err;
        const char *name;
    } names[] = {
        { MQTT_E_PROPERTY, "property" },
        { MQTT_E_REASON, "reason" },
        { MQTT_E_TOPIC_ALIAS, "topic-alias" },
        { MQTT_E_VBI, "vbi" },
    };

    for (size_t i = 0; i < NELEM(names); i++) {
        CHECK_STR(mqtt_err_name(names[i].err), names[i].name);
        /* Distinct from every 3.1.1 code and name. */
        for (int e = MQTT_E_REMLEN_TOO_LONG; e >= MQTT_E_DUP_QOS0; e--) {
            CHECK(e != names[i].err);
            CHECK(strcmp(mqtt_err_name(e), names[i].name) != 0);
        }
    }
    CHECK_STR(mqtt_err_name(MQTT_E_VBI - 1), "unknown");
    CHECK_STR(mqtt_err_name(MQTT_E_PROPERTY + 1), "unknown");
}

/* ---- encoder errors ---- */

static void test_encoder_errors(void)
{
    static uint8_t big[70000];
    uint8_t buf[256];
    struct wcur w;
    struct mqtt5_publish pub;
    struct mqtt5_connect con;
    struct mqtt_subscribe sub;
    struct mqtt5_user_prop up[2] = { { S("a"), S("b") }, { S("c"), S("d") } };

    memset(&pub, 0, sizeof(pub));
    pub.base.topic = S("t");
    pub.base.payload = S("x");
    memset(&con, 0, sizeof(con));
    con.base.clean_session = true;
    con.base.client_id = S("c");
    memset(&sub, 0, sizeof(sub));
    sub.packet_id = 1;
    sub.count = 1;
    sub.filters[0].filter = S("a");

#define EXPECT_ENC(call, want) do { \
        wcur_init(&w, buf, sizeof(buf)); \
        call; \
        CHECK_RC(w.err, want); \
        if (want) \
            CHECK(w.off == 0); \
    } while (0)

    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), 0);
    pub.base.qos = 3;
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.base.qos = 1;                   /* packet id 0 at QoS 1 */
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.base.packet_id = 9;
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), 0);
    pub.user_prop_count = 1;            /* count without an array */
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.user_props = up;
    pub.user_prop_count = 2;
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), 0);
    up[1].value = S("\xc3");
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_UTF8);
    up[1].value = S("d");
    up[0].name = S("a\0");
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_UTF8_NUL);
    up[0].name = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    up[0].name = S("a");
    pub.content_type = S("\xed\xa0\x80");
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_UTF8);
    pub.content_type = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.content_type = S("");
    pub.user_prop_count = (size_t)-1;   /* absurd count: refused before reading */
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.user_prop_count = 0;
    pub.base.topic = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.base.topic = (struct mqtt_slice){ big, 65535 };
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), -EMSGSIZE);
    pub.base.topic = S("t");
    pub.base.payload = (struct mqtt_slice){ big, (size_t)MQTT_MAX_REMAINING_LENGTH };
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.base.payload = (struct mqtt_slice){ big, (size_t)MQTT_MAX_REMAINING_LENGTH - 6 };
    CHECK(mqtt5_encoded_len_publish(&pub) == 5 + MQTT_MAX_REMAINING_LENGTH);
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), -EMSGSIZE);  /* fits MQTT, not buf */
    pub.base.payload.len++;
    EXPECT_ENC(mqtt5_encode_publish(&w, &pub), MQTT_E_BUFFER);

    EXPECT_ENC(mqtt5_encode_connect(&w, &con), 0);
    CHECK(w.off == mqtt5_encoded_len_connect(&con) && w.off == 16);
    con.base.will = true;
    con.base.will_topic = S("w");
    con.base.will_qos = 3;
    EXPECT_ENC(mqtt5_encode_connect(&w, &con), MQTT_E_BUFFER);
    con.base.will = false;              /* will fields ignored without the flag */
    EXPECT_ENC(mqtt5_encode_connect(&w, &con), 0);
    con.base.client_id = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_connect(&w, &con), MQTT_E_BUFFER);
    con.base.client_id = S("c");
    con.base.has_password = true;       /* without a user name: fine in MQTT 5 */
    con.base.password = S("pw");
    EXPECT_ENC(mqtt5_encode_connect(&w, &con), 0);
    CHECK(buf[9] == 0x42);
    con.base.password = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_connect(&w, &con), MQTT_E_BUFFER);

    for (int rc = 0; rc < 256; rc++) {
        bool ok = rc == 0 || rc == 4 || (rc >= 0x80 && rc <= 0x83) || rc == 0x90 ||
                  (rc >= 0x93 && rc <= 0x99);
        int want = ok ? 0 : MQTT_E_BUFFER;
        EXPECT_ENC(mqtt5_encode_disconnect(&w, (uint8_t)rc), want);
        if (ok)
            CHECK(w.off == mqtt5_encoded_len_disconnect((uint8_t)rc));
    }
    EXPECT_ENC(mqtt5_encode_ack(&w, MQTT_PUBACK, 0, 0), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt5_encode_ack(&w, MQTT_PUBLISH, 1, 0), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt5_encode_ack(&w, MQTT_UNSUBACK, 1, 0), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt5_encode_ack(&w, MQTT_PUBACK, 1, 0x92), MQTT_E_BUFFER);

    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, false), 0);
    CHECK(w.off == 9 && buf[8] == 0);
    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, true), 0);
    CHECK(buf[8] == 0x08);
    sub.filters[0].qos = 3;
    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, false), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt5_encode_unsubscribe(&w, &sub), 0);  /* QoS not sent */
    sub.filters[0].qos = 0;
    sub.count = 0;
    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, false), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt5_encode_unsubscribe(&w, &sub), MQTT_E_BUFFER);
    sub.count = MQTT_MAX_FILTERS + 1;
    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, false), MQTT_E_BUFFER);
    sub.count = 1;
    sub.filters[0].filter = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt5_encode_subscribe(&w, &sub, false), MQTT_E_BUFFER);
    sub.filters[0].filter = S("a");
    sub.packet_id = 0;
    EXPECT_ENC(mqtt5_encode_unsubscribe(&w, &sub), MQTT_E_BUFFER);
    sub.packet_id = 1;
#undef EXPECT_ENC

    /* One byte short: -EMSGSIZE and nothing written, for every encoder. */
    {
        struct mqtt_subscribe full;
        size_t lens[7];
        memset(&full, 0, sizeof(full));
        full.packet_id = 3;
        full.count = MQTT_MAX_FILTERS;
        for (size_t i = 0; i < MQTT_MAX_FILTERS; i++)
            full.filters[i].filter = S("x/+/y");
        pub.base.payload = S("payload");
        pub.user_props = up;
        pub.user_prop_count = 2;
        con.base.password = S("pw");
        lens[0] = mqtt5_encoded_len_publish(&pub);
        lens[1] = mqtt5_encoded_len_connect(&con);
        lens[2] = mqtt5_encoded_len_subscribe(&full);
        lens[3] = mqtt5_encoded_len_unsubscribe(&full);
        lens[4] = mqtt5_encoded_len_ack(0x10);
        lens[5] = mqtt5_encoded_len_disconnect(0x04);
        lens[6] = mqtt5_encoded_len_ack(0);
        for (size_t k = 0; k < NELEM(lens); k++) {
            for (size_t extra = 0; extra <= 1; extra++) {
                static uint8_t b2[1024];
                CHECK(lens[k] <= sizeof(b2));
                wcur_init(&w, b2, lens[k] - 1 + extra);
                switch (k) {
                case 0: mqtt5_encode_publish(&w, &pub); break;
                case 1: mqtt5_encode_connect(&w, &con); break;
                case 2: mqtt5_encode_subscribe(&w, &full, true); break;
                case 3: mqtt5_encode_unsubscribe(&w, &full); break;
                case 4: mqtt5_encode_ack(&w, MQTT_PUBREC, 1, 0x10); break;
                case 5: mqtt5_encode_disconnect(&w, 0x04); break;
                default: mqtt5_encode_ack(&w, MQTT_PUBCOMP, 1, 0); break;
                }
                if (extra)
                    CHECK(w.err == 0 && w.off == lens[k]);
                else
                    CHECK(w.err == -EMSGSIZE && w.off == 0);
            }
        }
        /* 32 filters of 7 + 1 bytes, packet id, property length. */
        CHECK(lens[2] == 3 + 2 + 1 + MQTT_MAX_FILTERS * 8);
        CHECK(lens[3] == lens[2] - MQTT_MAX_FILTERS);
    }

    /* The first error sticks; later encodes write nothing. */
    wcur_init(&w, buf, 3);
    mqtt5_encode_ack(&w, MQTT_PUBACK, 1, 0);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    mqtt5_encode_disconnect(&w, 0);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    w.err = MQTT_E_BUFFER;
    pub.user_props = up;
    up[0].name = S("\xc3");             /* would be MQTT_E_UTF8: the first error stays */
    mqtt5_encode_publish(&w, &pub);
    CHECK(w.err == MQTT_E_BUFFER && w.off == 0);
    /* Packets accumulate in one buffer. */
    wcur_init(&w, buf, 8);
    mqtt5_encode_ack(&w, MQTT_PUBACK, 0x1234, 0);
    mqtt5_encode_ack(&w, MQTT_PUBREL, 0x1234, 0);
    CHECK(w.err == 0 && w.off == 8);
    CHECK(memcmp(buf, "\x40\x02\x12\x34\x62\x02\x12\x34", 8) == 0);
}

int main(void)
{
    test_samples_decode();
    test_mosquitto_fields();
    test_hand_built_fields();
    test_stream();
    test_encoder_bytes();
    test_roundtrip_publish();
    test_roundtrip_acks();
    test_prefixes();
    test_short_remaining_length();
    test_frame();
    test_property_table();
    test_property_values();
    test_property_strings();
    test_property_lengths();
    test_topic_alias();
    test_reason_codes();
    test_err_header();
    test_ret_untouched();
    test_user_prop_next();
    test_disconnect_reason();
    test_err_names();
    test_encoder_errors();

    return tu_finish("test_codec5");
}
