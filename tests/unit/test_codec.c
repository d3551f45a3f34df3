/* Unit tests of the MQTT 3.1.1 codec (bridges/mqtt/codec.c): packets as real
 * clients and brokers send them, annotated field by field; round trips
 * encode -> frame -> decode for every type; every truncation point; and one
 * case per malformed input, each asserting its exact error code.
 * Malformed packets are assembled with a raw builder, not with the encoder
 * under test. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/codec.h"
#include "testutil.h"

static bool check_rc(int got, int want, const char *file, int line, const char *what)
{
    return tu_checkf(got == want, file, line, "%s = %d (%s), want %d (%s)", what, got,
                     mqtt_err_name(got), want, mqtt_err_name(want));
}

#define CHECK_RC(expr, want) check_rc((expr), (want), __FILE__, __LINE__, #expr)

/* String literals as byte arrays: the trailing NUL is not part of the packet.
 * Hex escapes stay in literals of their own ("\x05" "abc"), since "\x05abc"
 * would read as \x5abc. */
#define LIT_LEN(a) (sizeof(a) - 1)
#define S(lit) ((struct mqtt_slice){ (const uint8_t *)(lit), sizeof(lit) - 1 })
#define NONE ((struct mqtt_slice){ NULL, 0 })

#define BIG (1u << 22)                  /* max packet where the limit is not under test */

static bool slice_eq(struct mqtt_slice a, struct mqtt_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Frames (the frame must cover exactly n bytes), then decodes. A frame error
 * is returned as is; an unexpected frame length gives -EPIPE, which no codec
 * path returns. */
static int frame_decode(const uint8_t *b, size_t n, enum mqtt_role role, struct mqtt_packet *p)
{
    int f = mqtt_frame(b, n, BIG);
    if (f < 0)
        return f;
    if ((size_t)f != n)
        return -EPIPE;
    return mqtt_decode(b, n, role, p);
}

/* ---- a raw builder for hand-made packets ---- */

static uint8_t raw_body[70000];
static uint8_t raw_pkt[70010];
static struct wcur raw_w;

static void raw_begin(void)
{
    wcur_init(&raw_w, raw_body, sizeof(raw_body));
}

static void raw_u8(uint8_t v) { wcur_u8(&raw_w, v); }
static void raw_u16(uint16_t v) { wcur_u16be(&raw_w, v); }
static void raw_bytes(struct mqtt_slice s) { wcur_bytes(&raw_w, s.p, s.len); }

/* A length-prefixed field; absent (p == NULL) writes nothing. */
static void raw_str(struct mqtt_slice s)
{
    if (!s.p)
        return;
    raw_u16((uint16_t)s.len);
    raw_bytes(s);
}

/* Prepends the fixed header (minimal remaining length); returns the length. */
static size_t raw_end(uint8_t first)
{
    size_t n = 0, rl = raw_w.off;

    if (raw_w.err) {
        fprintf(stderr, "raw builder overflow\n");
        exit(2);
    }
    raw_pkt[n++] = first;
    do {
        uint8_t b = rl & 0x7f;
        rl >>= 7;
        raw_pkt[n++] = rl ? (uint8_t)(b | 0x80) : b;
    } while (rl);
    memcpy(raw_pkt + n, raw_body, raw_w.off);
    return n + raw_w.off;
}

static size_t raw_connect(struct mqtt_slice name, uint8_t level, uint8_t flags,
                          struct mqtt_slice cid, struct mqtt_slice will_topic,
                          struct mqtt_slice will_msg, struct mqtt_slice user,
                          struct mqtt_slice pass)
{
    raw_begin();
    raw_str(name);
    raw_u8(level);
    raw_u8(flags);
    raw_u16(60);
    raw_str(cid);
    raw_str(will_topic);
    raw_str(will_msg);
    raw_str(user);
    raw_str(pass);
    return raw_end(0x10);
}

/* A 3.1.1 CONNECT with the given flags and payload fields. */
static size_t raw_connect311(uint8_t flags, struct mqtt_slice cid, struct mqtt_slice will_topic,
                             struct mqtt_slice will_msg, struct mqtt_slice user,
                             struct mqtt_slice pass)
{
    return raw_connect(S("MQTT"), 4, flags, cid, will_topic, will_msg, user, pass);
}

static size_t raw_publish(uint8_t first, struct mqtt_slice topic, int pid, struct mqtt_slice payload)
{
    raw_begin();
    raw_str(topic);
    if (pid >= 0)
        raw_u16((uint16_t)pid);
    raw_bytes(payload);
    return raw_end(first);
}

static size_t raw_ack(uint8_t first, uint16_t pid)
{
    raw_begin();
    raw_u16(pid);
    return raw_end(first);
}

static int decode_raw(size_t n, enum mqtt_role role)
{
    struct mqtt_packet p;
    return frame_decode(raw_pkt, n, role, &p);
}

static int decode_server(size_t n) { return decode_raw(n, MQTT_ROLE_SERVER); }
static int decode_client(size_t n) { return decode_raw(n, MQTT_ROLE_CLIENT); }

/* ---- annotated packets ---- */

/* CONNECT as paho.mqtt.python sends it: clean session, no will, no credentials. */
static const uint8_t connect_paho[] =
    "\x10"                              /* CONNECT, fixed-header flags 0 */
    "\x15"                              /* remaining length 21 */
    "\x00\x04" "MQTT"                   /* protocol name */
    "\x04"                              /* protocol level 4 (3.1.1) */
    "\x02"                              /* connect flags: clean session */
    "\x00\x3c"                          /* keepalive 60 s */
    "\x00\x09" "paho-4711";             /* client id */

/* The Arduino-era Google CONNECT (flags 0x42): a password without a user
 * name, which [MQTT-3.1.2-22] forbids and Google accepted. */
static const uint8_t connect_arduino[] =
    "\x10"                              /* CONNECT */
    "\x40"                              /* remaining length 64 */
    "\x00\x04" "MQTT"                   /* protocol name */
    "\x04"                              /* level 4 */
    "\x42"                              /* flags: password (0x40), clean session (0x02) */
    "\x00\x3c"                          /* keepalive 60 s */
    "\x00\x2d" "projects/p/locations/l/registries/r/devices/d" /* client id (45) */
    "\x00\x05" "a.b.c";                 /* password: the JWT (shortened) */

/* The documented Google CONNECT: any user name ("unused"), the JWT as password. */
static const uint8_t connect_google[] =
    "\x10"                              /* CONNECT */
    "\x48"                              /* remaining length 72 */
    "\x00\x04" "MQTT"                   /* protocol name */
    "\x04"                              /* level 4 */
    "\xc2"                              /* flags: user name, password, clean session */
    "\x00\x3c"                          /* keepalive 60 s */
    "\x00\x2d" "projects/p/locations/l/registries/r/devices/d" /* client id (45) */
    "\x00\x06" "unused"                 /* user name */
    "\x00\x05" "a.b.c";                 /* password */

/* An AWS thing with a Last Will: QoS 1, retained. */
static const uint8_t connect_will[] =
    "\x10"                              /* CONNECT */
    "\x26"                              /* remaining length 38 */
    "\x00\x04" "MQTT"                   /* protocol name */
    "\x04"                              /* level 4 */
    "\x2e"                              /* flags: will retain (0x20), will QoS 1 (0x08),
                                         * will (0x04), clean session (0x02) */
    "\x04\xb0"                          /* keepalive 1200 s */
    "\x00\x07" "thing-1"                /* client id */
    "\x00\x0b" "lwt/thing-1"            /* will topic */
    "\x00\x04" "gone";                  /* will message */

/* CONNACK accepted, no session present. */
static const uint8_t connack_ok[] =
    "\x20"                              /* CONNACK */
    "\x02"                              /* remaining length 2 */
    "\x00"                              /* acknowledge flags: session present 0 */
    "\x00";                             /* return code 0: accepted */

/* CONNACK refusing with 5 (not authorized). */
static const uint8_t connack_refused[] = "\x20" "\x02" "\x00" "\x05";

static const uint8_t publish_qos0[] =
    "\x30"                              /* PUBLISH, DUP 0, QoS 0, RETAIN 0 */
    "\x07"                              /* remaining length 7 */
    "\x00\x03" "a/b"                    /* topic name; no packet id at QoS 0 */
    "hi";                               /* payload: the rest of the packet */

static const uint8_t publish_qos1[] =
    "\x32"                              /* PUBLISH, QoS 1 */
    "\x17"                              /* remaining length 23 */
    "\x00\x11" "/devices/d/events"      /* topic name (17) */
    "\x00\x01"                          /* packet id 1 */
    "{}";                               /* payload */

static const uint8_t publish_qos2_dup_retain[] =
    "\x3d"                              /* PUBLISH, DUP (0x08), QoS 2 (0x04), RETAIN (0x01) */
    "\x05"                              /* remaining length 5 */
    "\x00\x01" "x"                      /* topic name */
    "\xff\xff";                         /* packet id 65535; empty payload */

static const uint8_t puback[] = "\x40" "\x02" "\x00\x01";   /* PUBACK, packet id 1 */
static const uint8_t pubrec[] = "\x50" "\x02" "\x00\x02";   /* PUBREC, packet id 2 */
static const uint8_t pubrel[] = "\x62" "\x02" "\x00\x02";   /* PUBREL: flags must be 0x2 */
static const uint8_t pubcomp[] = "\x70" "\x02" "\x00\x02";  /* PUBCOMP */

static const uint8_t subscribe[] =
    "\x82"                              /* SUBSCRIBE: flags must be 0x2 */
    "\x0c"                              /* remaining length 12 */
    "\x00\x0a"                          /* packet id 10 */
    "\x00\x03" "a/+" "\x01"             /* filter, requested QoS 1 */
    "\x00\x01" "#" "\x00";              /* filter, requested QoS 0 */

static const uint8_t suback[] =
    "\x90"                              /* SUBACK */
    "\x04"                              /* remaining length 4 */
    "\x00\x0a"                          /* packet id 10 */
    "\x01"                              /* granted QoS 1 */
    "\x80";                             /* failure */

static const uint8_t unsubscribe[] =
    "\xa2"                              /* UNSUBSCRIBE: flags must be 0x2 */
    "\x07"                              /* remaining length 7 */
    "\x00\x0b"                          /* packet id 11 */
    "\x00\x03" "a/+";                   /* filter (no QoS byte) */

static const uint8_t unsuback[] = "\xb0" "\x02" "\x00\x0b"; /* UNSUBACK, packet id 11 */
static const uint8_t pingreq[] = "\xc0" "\x00";
static const uint8_t pingresp[] = "\xd0" "\x00";
static const uint8_t disconnect[] = "\xe0" "\x00";

struct sample {
    const char *name;
    const uint8_t *b;
    size_t n;
    enum mqtt_role role;                /* who decodes it */
    enum mqtt_type type;
};

#define SAMPLE(arr, role, type) { #arr, arr, LIT_LEN(arr), role, type }

static const struct sample samples[] = {
    SAMPLE(connect_paho, MQTT_ROLE_SERVER, MQTT_CONNECT),
    SAMPLE(connect_arduino, MQTT_ROLE_SERVER, MQTT_CONNECT),
    SAMPLE(connect_google, MQTT_ROLE_SERVER, MQTT_CONNECT),
    SAMPLE(connect_will, MQTT_ROLE_SERVER, MQTT_CONNECT),
    SAMPLE(connack_ok, MQTT_ROLE_CLIENT, MQTT_CONNACK),
    SAMPLE(connack_refused, MQTT_ROLE_CLIENT, MQTT_CONNACK),
    SAMPLE(publish_qos0, MQTT_ROLE_SERVER, MQTT_PUBLISH),
    SAMPLE(publish_qos1, MQTT_ROLE_CLIENT, MQTT_PUBLISH),
    SAMPLE(publish_qos2_dup_retain, MQTT_ROLE_SERVER, MQTT_PUBLISH),
    SAMPLE(puback, MQTT_ROLE_SERVER, MQTT_PUBACK),
    SAMPLE(pubrec, MQTT_ROLE_CLIENT, MQTT_PUBREC),
    SAMPLE(pubrel, MQTT_ROLE_SERVER, MQTT_PUBREL),
    SAMPLE(pubcomp, MQTT_ROLE_CLIENT, MQTT_PUBCOMP),
    SAMPLE(subscribe, MQTT_ROLE_SERVER, MQTT_SUBSCRIBE),
    SAMPLE(suback, MQTT_ROLE_CLIENT, MQTT_SUBACK),
    SAMPLE(unsubscribe, MQTT_ROLE_SERVER, MQTT_UNSUBSCRIBE),
    SAMPLE(unsuback, MQTT_ROLE_CLIENT, MQTT_UNSUBACK),
    SAMPLE(pingreq, MQTT_ROLE_SERVER, MQTT_PINGREQ),
    SAMPLE(pingresp, MQTT_ROLE_CLIENT, MQTT_PINGRESP),
    SAMPLE(disconnect, MQTT_ROLE_SERVER, MQTT_DISCONNECT),
};
#define N_SAMPLES (sizeof(samples) / sizeof(samples[0]))

/* Re-encodes a decoded packet into a buffer of exactly the announced size. */
static bool reencodes_to(const struct mqtt_packet *p, const uint8_t *want, size_t n)
{
    uint8_t buf[512];
    struct wcur w;
    size_t len = mqtt_encoded_len_packet(p);

    if (!CHECK(len == n) || !CHECK(len <= sizeof(buf)))
        return false;
    wcur_init(&w, buf, len);
    mqtt_encode_packet(&w, p);
    return CHECK(w.err == 0) && CHECK(w.off == n) && CHECK(memcmp(buf, want, n) == 0);
}

static void test_samples_decode(void)
{
    struct mqtt_packet p;

    for (size_t i = 0; i < N_SAMPLES; i++) {
        const struct sample *s = &samples[i];
        if (!CHECK_RC(frame_decode(s->b, s->n, s->role, &p), 0)) {
            fprintf(stderr, "  sample %s\n", s->name);
            continue;
        }
        CHECK(p.type == s->type);
        CHECK(p.flags == (s->b[0] & 0x0f));
        /* Valid bytes re-encode to themselves. */
        if (!reencodes_to(&p, s->b, s->n))
            fprintf(stderr, "  sample %s\n", s->name);
    }
}

static void test_connect_fields(void)
{
    struct mqtt_packet p;
    const struct mqtt_connect *c = &p.u.connect;

    CHECK_RC(frame_decode(connect_paho, LIT_LEN(connect_paho), MQTT_ROLE_SERVER, &p), 0);
    CHECK(c->protocol_level == 4);
    CHECK(c->clean_session);
    CHECK(c->keepalive == 60);
    CHECK(slice_eq(c->client_id, S("paho-4711")));
    CHECK(!c->will && !c->has_username && !c->has_password && !c->password_without_username);

    CHECK_RC(frame_decode(connect_arduino, LIT_LEN(connect_arduino), MQTT_ROLE_SERVER, &p), 0);
    CHECK(slice_eq(c->client_id, S("projects/p/locations/l/registries/r/devices/d")));
    CHECK(!c->has_username);
    CHECK(c->has_password);
    CHECK(slice_eq(c->password, S("a.b.c")));
    CHECK(c->password_without_username);

    CHECK_RC(frame_decode(connect_google, LIT_LEN(connect_google), MQTT_ROLE_SERVER, &p), 0);
    CHECK(c->has_username && slice_eq(c->username, S("unused")));
    CHECK(c->has_password && slice_eq(c->password, S("a.b.c")));
    CHECK(!c->password_without_username);

    CHECK_RC(frame_decode(connect_will, LIT_LEN(connect_will), MQTT_ROLE_SERVER, &p), 0);
    CHECK(c->keepalive == 1200);
    CHECK(c->will && c->will_qos == 1 && c->will_retain);
    CHECK(slice_eq(c->will_topic, S("lwt/thing-1")));
    CHECK(slice_eq(c->will_payload, S("gone")));
    CHECK(slice_eq(c->client_id, S("thing-1")));
}

static void test_other_fields(void)
{
    struct mqtt_packet p;

    CHECK_RC(frame_decode(connack_refused, LIT_LEN(connack_refused), MQTT_ROLE_CLIENT, &p), 0);
    CHECK(!p.u.connack.session_present && p.u.connack.return_code == MQTT_CONNACK_NOT_AUTHORIZED);

    CHECK_RC(frame_decode(publish_qos0, LIT_LEN(publish_qos0), MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.publish.qos == 0 && !p.u.publish.dup && !p.u.publish.retain);
    CHECK(p.u.publish.packet_id == 0);
    CHECK(slice_eq(p.u.publish.topic, S("a/b")) && slice_eq(p.u.publish.payload, S("hi")));

    CHECK_RC(frame_decode(publish_qos1, LIT_LEN(publish_qos1), MQTT_ROLE_CLIENT, &p), 0);
    CHECK(p.u.publish.qos == 1 && p.u.publish.packet_id == 1);
    CHECK(slice_eq(p.u.publish.topic, S("/devices/d/events")));
    CHECK(slice_eq(p.u.publish.payload, S("{}")));

    CHECK_RC(frame_decode(publish_qos2_dup_retain, LIT_LEN(publish_qos2_dup_retain),
                          MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.publish.qos == 2 && p.u.publish.dup && p.u.publish.retain);
    CHECK(p.u.publish.packet_id == 65535 && p.u.publish.payload.len == 0);

    CHECK_RC(frame_decode(pubrel, LIT_LEN(pubrel), MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.ack.packet_id == 2);

    CHECK_RC(frame_decode(subscribe, LIT_LEN(subscribe), MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.subscribe.packet_id == 10 && p.u.subscribe.count == 2);
    CHECK(slice_eq(p.u.subscribe.filters[0].filter, S("a/+")) && p.u.subscribe.filters[0].qos == 1);
    CHECK(slice_eq(p.u.subscribe.filters[1].filter, S("#")) && p.u.subscribe.filters[1].qos == 0);

    CHECK_RC(frame_decode(suback, LIT_LEN(suback), MQTT_ROLE_CLIENT, &p), 0);
    CHECK(p.u.suback.packet_id == 10 && p.u.suback.count == 2);
    CHECK(p.u.suback.codes[0] == 1 && p.u.suback.codes[1] == MQTT_SUBACK_FAILURE);

    CHECK_RC(frame_decode(unsubscribe, LIT_LEN(unsubscribe), MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.subscribe.packet_id == 11 && p.u.subscribe.count == 1);
    CHECK(slice_eq(p.u.subscribe.filters[0].filter, S("a/+")));

    CHECK_RC(frame_decode(unsuback, LIT_LEN(unsuback), MQTT_ROLE_CLIENT, &p), 0);
    CHECK(p.u.ack.packet_id == 11);
}

/* A PUBLISH with a two-byte remaining length (200-byte payload). */
static void test_publish_two_byte_remlen(void)
{
    uint8_t pkt[256];
    struct mqtt_packet p;
    size_t n = 0;

    pkt[n++] = 0x30;                    /* PUBLISH QoS 0 */
    pkt[n++] = 0xcd;                    /* remaining length 205 = 0x4d + 0x01 * 128 */
    pkt[n++] = 0x01;
    pkt[n++] = 0x00;                    /* topic "t" */
    pkt[n++] = 0x01;
    pkt[n++] = 't';
    memset(pkt + n, 0xab, 202);         /* payload, binary */
    n += 202;
    CHECK(n == 208);
    CHECK_RC(mqtt_frame(pkt, n, BIG), 208);
    CHECK_RC(mqtt_decode(pkt, n, MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.publish.payload.len == 202);
    reencodes_to(&p, pkt, n);
    for (size_t k = 0; k < n; k++)
        CHECK_RC(mqtt_frame(pkt, k, BIG), 0);
}

/* Several packets back to back, as they arrive on a socket. */
static void test_stream(void)
{
    uint8_t stream[256];
    size_t n = 0, off = 0, count = 0;
    const uint8_t *parts[] = { connect_google, subscribe, publish_qos0, puback, pingreq, disconnect };
    const size_t lens[] = { LIT_LEN(connect_google), LIT_LEN(subscribe), LIT_LEN(publish_qos0),
                            LIT_LEN(puback), LIT_LEN(pingreq), LIT_LEN(disconnect) };
    const enum mqtt_type types[] = { MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_PUBLISH, MQTT_PUBACK,
                                     MQTT_PINGREQ, MQTT_DISCONNECT };

    for (size_t i = 0; i < 6; i++) {
        memcpy(stream + n, parts[i], lens[i]);
        n += lens[i];
    }
    while (off < n) {
        struct mqtt_packet p;
        int f = mqtt_frame(stream + off, n - off, BIG);
        if (!CHECK(f > 0))
            break;
        CHECK((size_t)f == lens[count]);
        CHECK_RC(mqtt_decode(stream + off, (size_t)f, MQTT_ROLE_SERVER, &p), 0);
        CHECK(p.type == types[count]);
        off += (size_t)f;
        count++;
    }
    CHECK(count == 6);
}

/* ---- round trips from structs ---- */

/* Encodes p, checks the size matches mqtt_encoded_len_packet and that
 * nothing fits in one byte less, frames, decodes with role, returns the
 * decoded packet in *q. */
static bool roundtrip(const struct mqtt_packet *p, enum mqtt_role role, struct mqtt_packet *q,
                      uint8_t *buf, size_t cap)
{
    size_t len = mqtt_encoded_len_packet(p);
    struct wcur w;

    if (!CHECK(len <= cap))
        return false;
    wcur_init(&w, buf, len - 1);
    mqtt_encode_packet(&w, p);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    wcur_init(&w, buf, cap);
    mqtt_encode_packet(&w, p);
    if (!CHECK(w.err == 0) || !CHECK(w.off == len))
        return false;
    if (!CHECK_RC(mqtt_frame(buf, cap, BIG), (int)len))
        return false;
    if (!CHECK_RC(mqtt_decode(buf, len, role, q), 0))
        return false;
    return CHECK(q->type == p->type);
}

static void test_roundtrip_connect(void)
{
    static uint8_t buf[4096];
    struct mqtt_packet p, q;
    struct mqtt_connect *c = &p.u.connect;
    const struct mqtt_connect *d = &q.u.connect;
    static const uint8_t binpw[] = { 0x00, 0xff, 0xc0, 0x80 };   /* passwords are binary */

    /* Every combination of will, user name and password. */
    for (int mask = 0; mask < 8; mask++) {
        memset(&p, 0, sizeof(p));
        p.type = MQTT_CONNECT;
        c->clean_session = mask & 1;
        c->keepalive = 0xfffe;
        c->client_id = S("dev-\xc3\xa9");            /* U+00E9 */
        c->will = mask & 1;
        c->will_qos = 2;
        c->will_retain = true;
        c->will_topic = S("wills/dev");
        c->will_payload = S("bye\0bye");
        c->has_username = mask & 2;
        c->username = S("user");
        c->has_password = mask & 4;
        c->password = (struct mqtt_slice){ binpw, sizeof(binpw) };
        if (!roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf)))
            continue;
        CHECK(d->protocol_level == 4);
        CHECK(d->clean_session == c->clean_session);
        CHECK(d->keepalive == 0xfffe);
        CHECK(slice_eq(d->client_id, c->client_id));
        CHECK(d->will == c->will);
        if (c->will) {
            CHECK(d->will_qos == 2 && d->will_retain);
            CHECK(slice_eq(d->will_topic, c->will_topic));
            CHECK(slice_eq(d->will_payload, c->will_payload));
        } else {
            CHECK(d->will_qos == 0 && !d->will_retain);
        }
        CHECK(d->has_username == c->has_username);
        if (c->has_username)
            CHECK(slice_eq(d->username, c->username));
        CHECK(d->has_password == c->has_password);
        if (c->has_password)
            CHECK(slice_eq(d->password, c->password));
        CHECK(d->password_without_username == (c->has_password && !c->has_username));
    }

    /* A zeroed struct is a valid 3.1.1 CONNECT with clean session... */
    memset(&p, 0, sizeof(p));
    p.type = MQTT_CONNECT;
    c->clean_session = true;
    if (roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf)))
        CHECK(d->protocol_level == 4 && d->client_id.len == 0);
    /* ...and level 3 is written the 3.1 way, which we answer with CONNACK 1. */
    c->protocol_level = 3;
    {
        struct wcur w;
        wcur_init(&w, buf, sizeof(buf));
        mqtt_encode_connect(&w, c);
        CHECK(w.err == 0 && w.off == mqtt_encoded_len_connect(c));
        CHECK(memcmp(buf + 2, "\x00\x06" "MQIsdp" "\x03", 9) == 0);
        CHECK_RC(frame_decode(buf, w.off, MQTT_ROLE_SERVER, &q), MQTT_E_PROTOCOL_LEVEL);
    }
}

static void test_roundtrip_connack(void)
{
    uint8_t buf[8];
    struct mqtt_packet p = { .type = MQTT_CONNACK }, q;

    for (int rc = 0; rc <= 5; rc++) {
        p.u.connack.return_code = (uint8_t)rc;
        p.u.connack.session_present = rc == 0;
        if (roundtrip(&p, MQTT_ROLE_CLIENT, &q, buf, sizeof(buf))) {
            CHECK(q.u.connack.return_code == rc);
            CHECK(q.u.connack.session_present == (rc == 0));
        }
    }
}

static void test_roundtrip_publish(void)
{
    static uint8_t buf[20000];
    static uint8_t payload[16384];
    /* Payload sizes around the 1/2/3-byte remaining length boundaries. */
    static const size_t sizes[] = { 0, 1, 122, 123, 124, 16377, 16378, 16384 };
    struct mqtt_packet p, q;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (uint8_t qos = 0; qos <= 2; qos++) {
            memset(&p, 0, sizeof(p));
            p.type = MQTT_PUBLISH;
            p.u.publish.qos = qos;
            p.u.publish.dup = qos > 0;
            p.u.publish.retain = s & 1;
            p.u.publish.topic = S("$aws/things/t/shadow/update");
            p.u.publish.packet_id = qos ? (uint16_t)(1000 + s) : 0;
            p.u.publish.payload = (struct mqtt_slice){ payload, sizes[s] };
            for (int role = MQTT_ROLE_SERVER; role <= MQTT_ROLE_CLIENT; role++) {
                if (!roundtrip(&p, (enum mqtt_role)role, &q, buf, sizeof(buf)))
                    continue;
                CHECK(q.flags == ((p.u.publish.dup ? 8 : 0) | qos << 1 | (s & 1)));
                CHECK(q.u.publish.qos == qos && q.u.publish.dup == p.u.publish.dup);
                CHECK(q.u.publish.retain == p.u.publish.retain);
                CHECK(q.u.publish.packet_id == p.u.publish.packet_id);
                CHECK(slice_eq(q.u.publish.topic, p.u.publish.topic));
                CHECK(slice_eq(q.u.publish.payload, p.u.publish.payload));
            }
        }
    }
    /* Header sizes: remaining length 127 takes 1 byte, 128 takes 2. */
    memset(&p, 0, sizeof(p));
    p.type = MQTT_PUBLISH;
    p.u.publish.topic = S("t");                         /* 3 bytes of remaining length */
    p.u.publish.payload = (struct mqtt_slice){ payload, 124 };
    CHECK(mqtt_encoded_len_publish(&p.u.publish) == 2 + 127);
    p.u.publish.payload.len = 125;
    CHECK(mqtt_encoded_len_publish(&p.u.publish) == 3 + 128);
    p.u.publish.payload.len = 16380;
    CHECK(mqtt_encoded_len_publish(&p.u.publish) == 3 + 16383);
    p.u.publish.payload.len = 16381;
    CHECK(mqtt_encoded_len_publish(&p.u.publish) == 4 + 16384);
}

static void test_roundtrip_acks(void)
{
    static const enum mqtt_type types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
                                            MQTT_UNSUBACK };
    static const uint16_t ids[] = { 1, 0x00ff, 0x0100, 0xffff };
    uint8_t buf[8];
    struct mqtt_packet p, q;

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            memset(&p, 0, sizeof(p));
            p.type = types[t];
            p.u.ack.packet_id = ids[i];
            /* UNSUBACK only travels server -> client. */
            if (roundtrip(&p, MQTT_ROLE_CLIENT, &q, buf, sizeof(buf))) {
                CHECK(q.u.ack.packet_id == ids[i]);
                CHECK(q.flags == (types[t] == MQTT_PUBREL ? 2 : 0));
            }
            if (types[t] != MQTT_UNSUBACK && roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf)))
                CHECK(q.u.ack.packet_id == ids[i]);
        }
    }
}

static void test_roundtrip_subscribe(void)
{
    static uint8_t buf[4096];
    static const char *const filters[] = { "a/b", "+", "#", "a/+/c/#", "$SYS/#", "/", "\xe2\x82\xac" };
    struct mqtt_packet p, q;

    for (size_t count = 1; count <= MQTT_MAX_FILTERS; count++) {
        memset(&p, 0, sizeof(p));
        p.type = MQTT_SUBSCRIBE;
        p.u.subscribe.packet_id = (uint16_t)(count * 100);
        p.u.subscribe.count = count;
        for (size_t i = 0; i < count; i++) {
            const char *f = filters[i % 7];
            p.u.subscribe.filters[i].filter = (struct mqtt_slice){ (const uint8_t *)f, strlen(f) };
            p.u.subscribe.filters[i].qos = (uint8_t)(i % 3);
        }
        for (int unsub = 0; unsub <= 1; unsub++) {
            p.type = unsub ? MQTT_UNSUBSCRIBE : MQTT_SUBSCRIBE;
            if (!roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf)))
                continue;
            CHECK(q.flags == 2);
            CHECK(q.u.subscribe.packet_id == p.u.subscribe.packet_id);
            CHECK(q.u.subscribe.count == count);
            for (size_t i = 0; i < count; i++) {
                CHECK(slice_eq(q.u.subscribe.filters[i].filter, p.u.subscribe.filters[i].filter));
                CHECK(q.u.subscribe.filters[i].qos == (unsub ? 0 : p.u.subscribe.filters[i].qos));
            }
        }
    }
    CHECK(mqtt_encoded_len_subscribe(&p.u.subscribe) ==
          mqtt_encoded_len_unsubscribe(&p.u.subscribe) + MQTT_MAX_FILTERS);
}

static void test_roundtrip_suback(void)
{
    uint8_t buf[64];
    static const uint8_t codes[MQTT_MAX_FILTERS] = { 0, 1, 2, 0x80, 1, 1, 0x80, 2 };
    struct mqtt_packet p, q;

    for (size_t count = 1; count <= MQTT_MAX_FILTERS; count++) {
        memset(&p, 0, sizeof(p));
        p.type = MQTT_SUBACK;
        p.u.suback.packet_id = 7;
        p.u.suback.count = count;
        memcpy(p.u.suback.codes, codes, count);
        CHECK(mqtt_encoded_len_suback(count) == 4 + count);
        if (roundtrip(&p, MQTT_ROLE_CLIENT, &q, buf, sizeof(buf))) {
            CHECK(q.u.suback.packet_id == 7 && q.u.suback.count == count);
            CHECK(memcmp(q.u.suback.codes, codes, count) == 0);
        }
    }
}

static void test_roundtrip_empty(void)
{
    uint8_t buf[2];
    struct mqtt_packet p, q;

    memset(&p, 0, sizeof(p));
    p.type = MQTT_PINGREQ;
    roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf));
    p.type = MQTT_DISCONNECT;
    roundtrip(&p, MQTT_ROLE_SERVER, &q, buf, sizeof(buf));
    p.type = MQTT_PINGRESP;
    roundtrip(&p, MQTT_ROLE_CLIENT, &q, buf, sizeof(buf));
}

/* ---- truncation ---- */

/* Every strict prefix of a valid packet needs more bytes, and decoding it as
 * if it were complete is refused. */
static void test_prefixes(void)
{
    struct mqtt_packet p;

    for (size_t i = 0; i < N_SAMPLES; i++) {
        const struct sample *s = &samples[i];
        for (size_t k = 0; k < s->n; k++) {
            if (!CHECK_RC(mqtt_frame(s->b, k, BIG), 0) ||
                !CHECK_RC(mqtt_decode(s->b, k, s->role, &p), MQTT_E_TRUNCATED))
                fprintf(stderr, "  sample %s, prefix %zu\n", s->name, k);
        }
    }
}

/* The outcome of decoding sample s with its remaining length cut to r bytes
 * of body: where the shorter packet is still valid (a PUBLISH with less
 * payload, a SUBSCRIBE with fewer filters), 0. */
static int expected_cut(const struct sample *s, size_t r)
{
    const uint8_t *body = s->b + 2;     /* every sample has a one-byte length */
    size_t fixed, off;

    switch (s->type) {
    case MQTT_PUBLISH:
        fixed = 2 + (size_t)(body[0] << 8 | body[1]) + (((s->b[0] >> 1) & 3) ? 2 : 0);
        return r >= fixed ? 0 : MQTT_E_TRUNCATED;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        if (r < 2)
            return MQTT_E_TRUNCATED;
        if (r == 2)
            return MQTT_E_NO_FILTERS;
        /* Valid exactly at a filter boundary. */
        for (off = 2; off < r;)
            off += 2 + (size_t)(body[off] << 8 | body[off + 1]) +
                   (s->type == MQTT_SUBSCRIBE ? 1 : 0);
        return off == r ? 0 : MQTT_E_TRUNCATED;
    case MQTT_SUBACK:
        return r < 2 ? MQTT_E_TRUNCATED : r == 2 ? MQTT_E_NO_FILTERS : 0;
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
        size_t remlen = s->n - 2;

        for (size_t r = 0; r < remlen; r++) {
            /* Exact-size heap copy so ASan sees any read past the end. */
            uint8_t *b = malloc(2 + r);
            struct mqtt_packet p;
            int want = expected_cut(s, r);

            if (!b)
                abort();
            b[0] = s->b[0];
            b[1] = (uint8_t)r;
            memcpy(b + 2, s->b + 2, r);
            if (!CHECK_RC(frame_decode(b, 2 + r, s->role, &p), want))
                fprintf(stderr, "  sample %s, remaining length %zu\n", s->name, r);
            else if (want == 0)
                reencodes_to(&p, b, 2 + r);
            free(b);
        }
    }
}

/* ---- framing ---- */

static void test_frame_lengths(void)
{
    static const struct {
        uint8_t hdr[5];
        size_t hlen;
        uint32_t remlen;
    } cases[] = {
        { { 0xc0, 0x00 }, 2, 0 },
        { { 0x30, 0x7f }, 2, 127 },
        { { 0x30, 0x80, 0x01 }, 3, 128 },
        { { 0x30, 0xff, 0x7f }, 3, 16383 },
        { { 0x30, 0x80, 0x80, 0x01 }, 4, 16384 },
        { { 0x30, 0xff, 0xff, 0x7f }, 4, 2097151 },
        { { 0x30, 0x80, 0x80, 0x80, 0x01 }, 5, 2097152 },
        { { 0x30, 0xff, 0xff, 0xff, 0x7f }, 5, MQTT_MAX_REMAINING_LENGTH },
        /* Non-minimal encodings: 3.1.1 does not forbid them. */
        { { 0xc0, 0x80, 0x00 }, 3, 0 },
        { { 0x30, 0x81, 0x80, 0x80, 0x00 }, 5, 1 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t total = cases[i].hlen + cases[i].remlen;
        uint8_t *b;

        /* The header alone: need more (unless the body is empty). */
        CHECK_RC(mqtt_frame(cases[i].hdr, cases[i].hlen, SIZE_MAX),
                 cases[i].remlen ? 0 : (int)total);
        /* The limit is on the whole packet: exactly total passes... */
        CHECK_RC(mqtt_frame(cases[i].hdr, cases[i].hlen, total), cases[i].remlen ? 0 : (int)total);
        /* ...one less is refused from the header alone. */
        CHECK_RC(mqtt_frame(cases[i].hdr, cases[i].hlen, total - 1), MQTT_E_PACKET_TOO_LARGE);
        if (total > (4u << 20))
            continue;
        b = calloc(1, total);
        if (!b)
            abort();
        memcpy(b, cases[i].hdr, cases[i].hlen);
        CHECK_RC(mqtt_frame(b, total, total), (int)total);
        CHECK_RC(mqtt_frame(b, total - 1, total), 0);
        free(b);
    }
}

static void test_frame_errors(void)
{
    static const uint8_t five[] = { 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f };
    static const uint8_t five_zero[] = { 0x30, 0x80, 0x80, 0x80, 0x80, 0x00 };
    static const uint8_t four_more[] = { 0x30, 0xff, 0xff, 0xff };
    static const uint8_t big_first[] = { 0x30, 0xff };
    static const uint8_t big_second[] = { 0x30, 0x81, 0x01 };
    static const uint8_t cont[] = { 0x30, 0x80 };
    struct mqtt_packet p;

    CHECK_RC(mqtt_frame(NULL, 0, BIG), 0);
    /* More than four length bytes [MQTT-2.2.3], known at the fourth. */
    CHECK_RC(mqtt_frame(five, sizeof(five), SIZE_MAX), MQTT_E_REMLEN_TOO_LONG);
    CHECK_RC(mqtt_frame(five, 5, SIZE_MAX), MQTT_E_REMLEN_TOO_LONG);
    CHECK_RC(mqtt_frame(five_zero, sizeof(five_zero), SIZE_MAX), MQTT_E_REMLEN_TOO_LONG);
    CHECK_RC(mqtt_decode(five, sizeof(five), MQTT_ROLE_SERVER, &p), MQTT_E_REMLEN_TOO_LONG);
    CHECK_RC(mqtt_frame(four_more, sizeof(four_more), SIZE_MAX), 0);
    /* Too large as soon as the length bytes show it, without the body: after
     * 0xff the packet is at least 1 + 2 + 127 bytes (a further length byte
     * may be 0x00, so no more can be assumed). */
    CHECK_RC(mqtt_frame(big_first, sizeof(big_first), 129), MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt_frame(big_first, sizeof(big_first), 130), 0);
    /* 0x81 0x01 is 129: 1 + 2 + 129 bytes in all. */
    CHECK_RC(mqtt_frame(big_second, sizeof(big_second), 131), MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt_frame(big_second, sizeof(big_second), 132), 0);
    CHECK_RC(mqtt_frame(cont, sizeof(cont), 2), MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt_frame(cont, sizeof(cont), 3), 0);
    CHECK_RC(mqtt_frame(cont, 1, 1), MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt_frame(publish_qos1, LIT_LEN(publish_qos1), LIT_LEN(publish_qos1) - 1),
             MQTT_E_PACKET_TOO_LARGE);
    CHECK_RC(mqtt_frame(publish_qos1, 2, LIT_LEN(publish_qos1) - 1), MQTT_E_PACKET_TOO_LARGE);
    /* Types 0 and 15 are reserved: known from the first byte. */
    for (unsigned f = 0; f < 16; f++) {
        uint8_t b0[2] = { (uint8_t)f, 0 }, b15[2] = { (uint8_t)(0xf0 | f), 0 };
        CHECK_RC(mqtt_frame(b0, 1, BIG), MQTT_E_BAD_TYPE);
        CHECK_RC(mqtt_frame(b15, 2, BIG), MQTT_E_BAD_TYPE);
        CHECK_RC(mqtt_decode(b0, 2, MQTT_ROLE_SERVER, &p), MQTT_E_BAD_TYPE);
        CHECK_RC(mqtt_decode(b15, 2, MQTT_ROLE_CLIENT, &p), MQTT_E_BAD_TYPE);
    }
}

/* mqtt_decode wants exactly one packet. */
static void test_decode_length_mismatch(void)
{
    uint8_t two[8];
    struct mqtt_packet p;

    memcpy(two, puback, 4);
    memcpy(two + 4, puback, 4);
    CHECK_RC(mqtt_decode(two, 8, MQTT_ROLE_SERVER, &p), MQTT_E_TRAILING);
    CHECK_RC(mqtt_decode(two, 3, MQTT_ROLE_SERVER, &p), MQTT_E_TRUNCATED);
    CHECK_RC(mqtt_decode(two, 0, MQTT_ROLE_SERVER, &p), MQTT_E_TRUNCATED);
}

/* ---- malformed input, one error each ---- */

static void test_err_reserved_flags(void)
{
    /* Table 2.2: 0x2 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; 0 for the rest. */
    static const struct { uint8_t type; enum mqtt_role role; uint8_t want; } t[] = {
        { MQTT_CONNECT, MQTT_ROLE_SERVER, 0 }, { MQTT_CONNACK, MQTT_ROLE_CLIENT, 0 },
        { MQTT_PUBACK, MQTT_ROLE_SERVER, 0 }, { MQTT_PUBREC, MQTT_ROLE_SERVER, 0 },
        { MQTT_PUBREL, MQTT_ROLE_SERVER, 2 }, { MQTT_PUBCOMP, MQTT_ROLE_CLIENT, 0 },
        { MQTT_SUBSCRIBE, MQTT_ROLE_SERVER, 2 }, { MQTT_SUBACK, MQTT_ROLE_CLIENT, 0 },
        { MQTT_UNSUBSCRIBE, MQTT_ROLE_SERVER, 2 }, { MQTT_UNSUBACK, MQTT_ROLE_CLIENT, 0 },
        { MQTT_PINGREQ, MQTT_ROLE_SERVER, 0 }, { MQTT_PINGRESP, MQTT_ROLE_CLIENT, 0 },
        { MQTT_DISCONNECT, MQTT_ROLE_SERVER, 0 },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (unsigned f = 0; f < 16; f++) {
            if (f == t[i].want)
                continue;
            /* The body is irrelevant: flags are checked before it. */
            uint8_t b[4] = { (uint8_t)(t[i].type << 4 | f), 2, 0, 1 };
            struct mqtt_packet p;
            if (!CHECK_RC(mqtt_decode(b, 4, t[i].role, &p), MQTT_E_RESERVED_FLAGS))
                fprintf(stderr, "  type %u flags %u\n", t[i].type, f);
        }
    }
}

static void test_err_role(void)
{
    static const uint8_t from_server_only[] = { MQTT_CONNACK, MQTT_SUBACK, MQTT_UNSUBACK,
                                                MQTT_PINGRESP };
    static const uint8_t from_client_only[] = { MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_UNSUBSCRIBE,
                                                MQTT_PINGREQ, MQTT_DISCONNECT };
    static const uint8_t both[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };
    struct mqtt_packet p;

    /* A role violation is reported whatever the flags and body. */
    for (size_t i = 0; i < sizeof(from_server_only); i++) {
        uint8_t b[4] = { (uint8_t)(from_server_only[i] << 4 | 0xf), 2, 0, 1 };
        CHECK_RC(mqtt_decode(b, 4, MQTT_ROLE_SERVER, &p), MQTT_E_ROLE);
    }
    for (size_t i = 0; i < sizeof(from_client_only); i++) {
        uint8_t b[4] = { (uint8_t)(from_client_only[i] << 4), 2, 0, 1 };
        CHECK_RC(mqtt_decode(b, 4, MQTT_ROLE_CLIENT, &p), MQTT_E_ROLE);
    }
    for (size_t i = 0; i < sizeof(both); i++) {
        uint8_t b[4] = { (uint8_t)(both[i] << 4 | (both[i] == MQTT_PUBREL ? 2 : 0)), 2, 0, 1 };
        CHECK_RC(mqtt_decode(b, 4, MQTT_ROLE_SERVER, &p), 0);
        CHECK_RC(mqtt_decode(b, 4, MQTT_ROLE_CLIENT, &p), 0);
    }
    CHECK_RC(frame_decode(publish_qos0, LIT_LEN(publish_qos0), MQTT_ROLE_CLIENT, &p), 0);
    CHECK_RC(frame_decode(publish_qos1, LIT_LEN(publish_qos1), MQTT_ROLE_SERVER, &p), 0);
    /* The annotated samples, decoded by the wrong side. */
    CHECK_RC(frame_decode(connect_paho, LIT_LEN(connect_paho), MQTT_ROLE_CLIENT, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(connack_ok, LIT_LEN(connack_ok), MQTT_ROLE_SERVER, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(suback, LIT_LEN(suback), MQTT_ROLE_SERVER, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(pingresp, LIT_LEN(pingresp), MQTT_ROLE_SERVER, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(subscribe, LIT_LEN(subscribe), MQTT_ROLE_CLIENT, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(pingreq, LIT_LEN(pingreq), MQTT_ROLE_CLIENT, &p), MQTT_E_ROLE);
    CHECK_RC(frame_decode(disconnect, LIT_LEN(disconnect), MQTT_ROLE_CLIENT, &p), MQTT_E_ROLE);
}

static void test_err_publish(void)
{
    /* QoS 3 [MQTT-3.3.1-4], with or without DUP/RETAIN. */
    CHECK_RC(decode_server(raw_publish(0x36, S("a"), 1, S(""))), MQTT_E_QOS3);
    CHECK_RC(decode_client(raw_publish(0x3f, S("a"), 1, S(""))), MQTT_E_QOS3);
    /* DUP with QoS 0 [MQTT-3.3.1-2]. */
    CHECK_RC(decode_server(raw_publish(0x38, S("a"), -1, S("x"))), MQTT_E_DUP_QOS0);
    CHECK_RC(decode_server(raw_publish(0x39, S("a"), -1, S("x"))), MQTT_E_DUP_QOS0);
    /* Packet id 0 at QoS 1 and 2 [MQTT-2.3.1-1]. */
    CHECK_RC(decode_server(raw_publish(0x32, S("a"), 0, S("x"))), MQTT_E_PACKET_ID_ZERO);
    CHECK_RC(decode_client(raw_publish(0x34, S("a"), 0, S("x"))), MQTT_E_PACKET_ID_ZERO);
    /* Topic names: non-empty, no wildcards, UTF-8 without U+0000. */
    CHECK_RC(decode_server(raw_publish(0x30, S(""), -1, S("x"))), MQTT_E_TOPIC_EMPTY);
    CHECK_RC(decode_server(raw_publish(0x32, S(""), 1, S("x"))), MQTT_E_TOPIC_EMPTY);
    CHECK_RC(decode_server(raw_publish(0x30, S("a/+/b"), -1, S(""))), MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(decode_server(raw_publish(0x30, S("a/#"), -1, S(""))), MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(decode_client(raw_publish(0x30, S("#"), -1, S(""))), MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(decode_server(raw_publish(0x30, S("a+b"), -1, S(""))), MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(decode_server(raw_publish(0x30, S("a\0b"), -1, S(""))), MQTT_E_UTF8_NUL);
    CHECK_RC(decode_server(raw_publish(0x30, S("a\xed\xa0\x80"), -1, S(""))), MQTT_E_UTF8);
    CHECK_RC(decode_server(raw_publish(0x30, S("\xc0\xaf"), -1, S(""))), MQTT_E_UTF8);
    /* The payload is binary: anything goes, even an empty one. */
    CHECK_RC(decode_server(raw_publish(0x30, S("a"), -1, S("\0\xff\xed\xa0\x80"))), 0);
    CHECK_RC(decode_server(raw_publish(0x31, S("a"), -1, S(""))), 0);
    /* Truncated: topic length beyond the packet, or no room for the id. */
    CHECK_RC(decode_server(raw_publish(0x32, S("abc"), -1, S(""))), MQTT_E_TRUNCATED);
    CHECK_RC(decode_server(raw_publish(0x32, S("abc"), -1, S("\x01"))), MQTT_E_TRUNCATED);
    raw_begin();
    raw_u16(10);
    raw_bytes(S("abc"));
    CHECK_RC(decode_server(raw_end(0x30)), MQTT_E_TRUNCATED);
    raw_begin();
    raw_u8(0);
    CHECK_RC(decode_server(raw_end(0x30)), MQTT_E_TRUNCATED);
}

static void test_err_acks(void)
{
    static const uint8_t firsts[] = { 0x40, 0x50, 0x62, 0x70 };

    for (size_t i = 0; i < sizeof(firsts); i++) {
        /* Packet id 0 [MQTT-2.3.1-1]. */
        CHECK_RC(decode_server(raw_ack(firsts[i], 0)), MQTT_E_PACKET_ID_ZERO);
        CHECK_RC(decode_client(raw_ack(firsts[i], 0)), MQTT_E_PACKET_ID_ZERO);
        /* Exactly two bytes of body. */
        raw_begin();
        raw_u16(1);
        raw_u8(0);
        CHECK_RC(decode_server(raw_end(firsts[i])), MQTT_E_TRAILING);
        raw_begin();
        raw_u8(1);
        CHECK_RC(decode_server(raw_end(firsts[i])), MQTT_E_TRUNCATED);
        raw_begin();
        CHECK_RC(decode_client(raw_end(firsts[i])), MQTT_E_TRUNCATED);
    }
    CHECK_RC(decode_client(raw_ack(0xb0, 0)), MQTT_E_PACKET_ID_ZERO);
    raw_begin();
    raw_u16(1);
    raw_u16(1);
    CHECK_RC(decode_client(raw_end(0xb0)), MQTT_E_TRAILING);
}

static void test_err_connack(void)
{
    raw_begin();
    raw_u8(0x02);                       /* reserved acknowledge flag bit */
    raw_u8(0);
    CHECK_RC(decode_client(raw_end(0x20)), MQTT_E_CONNACK_FLAGS);
    raw_begin();
    raw_u8(0x80);
    raw_u8(0);
    CHECK_RC(decode_client(raw_end(0x20)), MQTT_E_CONNACK_FLAGS);
    /* Session present with a refusal [MQTT-3.2.2-4]. */
    raw_begin();
    raw_u8(0x01);
    raw_u8(5);
    CHECK_RC(decode_client(raw_end(0x20)), MQTT_E_CONNACK_FLAGS);
    /* Reserved return codes (6..255) are decoded; the caller refuses them. */
    raw_begin();
    raw_u8(0);
    raw_u8(6);
    CHECK_RC(decode_client(raw_end(0x20)), 0);
    raw_begin();
    raw_u8(0);
    raw_u8(0);
    raw_u8(0);
    CHECK_RC(decode_client(raw_end(0x20)), MQTT_E_TRAILING);
    raw_begin();
    raw_u8(0);
    CHECK_RC(decode_client(raw_end(0x20)), MQTT_E_TRUNCATED);
}

static size_t raw_subscribe(uint8_t first, uint16_t pid, const char *const *filters, size_t n,
                            int qos)
{
    raw_begin();
    raw_u16(pid);
    for (size_t i = 0; i < n; i++) {
        raw_u16((uint16_t)strlen(filters[i]));
        raw_bytes((struct mqtt_slice){ (const uint8_t *)filters[i], strlen(filters[i]) });
        if (qos >= 0)
            raw_u8((uint8_t)qos);
    }
    return raw_end(first);
}

static void test_err_subscribe(void)
{
    static const char *const ok[] = { "a/b" };
    static const char *const many[MQTT_MAX_FILTERS + 1] = {
        "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
        "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
    };
    static const char *const invalid[] = { "a/#/b", "a#", "#a", "a/b#", "+a", "a+/b", "a/++",
                                           "##", "#/", "a/+b/c" };
    static const char *const empty[] = { "a", "" };
    static const char *const bad_utf8[] = { "a/\xc3" };

    /* Packet id 0 [MQTT-2.3.1-1]. */
    CHECK_RC(decode_server(raw_subscribe(0x82, 0, ok, 1, 1)), MQTT_E_PACKET_ID_ZERO);
    CHECK_RC(decode_server(raw_subscribe(0xa2, 0, ok, 1, -1)), MQTT_E_PACKET_ID_ZERO);
    /* No filters [MQTT-3.8.3-3, 3.10.3-2]. */
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 0, 1)), MQTT_E_NO_FILTERS);
    CHECK_RC(decode_server(raw_subscribe(0xa2, 1, ok, 0, -1)), MQTT_E_NO_FILTERS);
    /* More filters than we hold. */
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, many, MQTT_MAX_FILTERS, 1)), 0);
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, many, MQTT_MAX_FILTERS + 1, 1)),
             MQTT_E_TOO_MANY_FILTERS);
    CHECK_RC(decode_server(raw_subscribe(0xa2, 1, many, MQTT_MAX_FILTERS + 1, -1)),
             MQTT_E_TOO_MANY_FILTERS);
    /* Requested QoS 3 or reserved bits [MQTT-3.8.3-4]. */
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 1, 2)), 0);
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 1, 3)), MQTT_E_SUB_QOS);
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 1, 0x04)), MQTT_E_SUB_QOS);
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 1, 0x80)), MQTT_E_SUB_QOS);
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, ok, 1, 0xfd)), MQTT_E_SUB_QOS);
    /* Filters: non-empty [MQTT-4.7.3-1], wildcards alone in their level. */
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, empty, 2, 0)), MQTT_E_FILTER_EMPTY);
    CHECK_RC(decode_server(raw_subscribe(0xa2, 1, empty, 2, -1)), MQTT_E_FILTER_EMPTY);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        CHECK_RC(decode_server(raw_subscribe(0x82, 1, invalid + i, 1, 0)), MQTT_E_FILTER_INVALID);
        CHECK_RC(decode_server(raw_subscribe(0xa2, 1, invalid + i, 1, -1)), MQTT_E_FILTER_INVALID);
    }
    CHECK_RC(decode_server(raw_subscribe(0x82, 1, bad_utf8, 1, 0)), MQTT_E_UTF8);
    CHECK_RC(decode_server(raw_subscribe(0xa2, 1, bad_utf8, 1, -1)), MQTT_E_UTF8);
    /* A filter "\0": strlen would stop, so write it by hand. */
    raw_begin();
    raw_u16(1);
    raw_u16(1);
    raw_u8(0);
    raw_u8(0);
    CHECK_RC(decode_server(raw_end(0x82)), MQTT_E_UTF8_NUL);
    /* Filter without its QoS byte; a stray byte after the last filter. */
    raw_begin();
    raw_u16(1);
    raw_str(S("a"));
    CHECK_RC(decode_server(raw_end(0x82)), MQTT_E_TRUNCATED);
    raw_begin();
    raw_u16(1);
    raw_str(S("a"));
    raw_u8(0);
    CHECK_RC(decode_server(raw_end(0xa2)), MQTT_E_TRUNCATED);
    raw_begin();
    raw_u8(1);
    CHECK_RC(decode_server(raw_end(0x82)), MQTT_E_TRUNCATED);
}

static void test_err_suback(void)
{
    raw_begin();
    raw_u16(1);
    raw_u8(3);                          /* neither 0..2 nor 0x80 [MQTT-3.9.3-2] */
    CHECK_RC(decode_client(raw_end(0x90)), MQTT_E_SUBACK_CODE);
    raw_begin();
    raw_u16(1);
    raw_u8(0);
    raw_u8(0x81);
    CHECK_RC(decode_client(raw_end(0x90)), MQTT_E_SUBACK_CODE);
    raw_begin();
    raw_u16(1);
    CHECK_RC(decode_client(raw_end(0x90)), MQTT_E_NO_FILTERS);
    raw_begin();
    raw_u16(0);
    raw_u8(0);
    CHECK_RC(decode_client(raw_end(0x90)), MQTT_E_PACKET_ID_ZERO);
    raw_begin();
    raw_u16(1);
    for (int i = 0; i <= MQTT_MAX_FILTERS; i++)
        raw_u8(1);
    CHECK_RC(decode_client(raw_end(0x90)), MQTT_E_TOO_MANY_FILTERS);
}

static void test_err_empty_packets(void)
{
    static const struct { uint8_t first; enum mqtt_role role; } t[] = {
        { 0xc0, MQTT_ROLE_SERVER }, { 0xd0, MQTT_ROLE_CLIENT }, { 0xe0, MQTT_ROLE_SERVER },
    };

    for (size_t i = 0; i < 3; i++) {
        raw_begin();
        raw_u8(0);
        CHECK_RC(decode_raw(raw_end(t[i].first), t[i].role), MQTT_E_TRAILING);
    }
}

static void test_err_connect(void)
{
    /* Protocol name [MQTT-3.1.2-1]. */
    CHECK_RC(decode_server(raw_connect(S("MQTX"), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_NAME);
    CHECK_RC(decode_server(raw_connect(S("mqtt"), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_NAME);
    CHECK_RC(decode_server(raw_connect(S("MQT"), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_NAME);
    CHECK_RC(decode_server(raw_connect(S("MQTTT"), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_NAME);
    CHECK_RC(decode_server(raw_connect(S(""), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_NAME);
    /* Protocol level: CONNACK 1 [MQTT-3.1.2-2], for MQTT 3.1 clients too. */
    CHECK_RC(decode_server(raw_connect(S("MQTT"), 3, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_LEVEL);
    CHECK_RC(decode_server(raw_connect(S("MQTT"), 0, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_LEVEL);
    CHECK_RC(decode_server(raw_connect(S("MQTT"), 255, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_LEVEL);
    CHECK_RC(decode_server(raw_connect(S("MQIsdp"), 3, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_LEVEL);
    CHECK_RC(decode_server(raw_connect(S("MQIsdp"), 4, 2, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_PROTOCOL_LEVEL);
    {
        /* An MQTT 5 CONNECT: properties follow the keepalive, so level must
         * be decided before the rest is parsed. */
        static const uint8_t v5[] =
            "\x10" "\x12"                   /* CONNECT, remaining length 18 */
            "\x00\x04" "MQTT" "\x05" "\x02" "\x00\x3c"
            "\x05" "\x11\x00\x00\x00\x0a"   /* properties: session expiry 10 */
            "\x00\x00";                     /* empty client id */
        struct mqtt_packet p;
        CHECK_RC(frame_decode(v5, LIT_LEN(v5), MQTT_ROLE_SERVER, &p), MQTT_E_PROTOCOL_LEVEL);
    }
    /* Reserved connect flag [MQTT-3.1.2-3]. */
    CHECK_RC(decode_server(raw_connect311(0x03, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_CONNECT_RESERVED);
    CHECK_RC(decode_server(raw_connect311(0x01, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_CONNECT_RESERVED);
    /* Will QoS/retain without the will flag, will QoS 3 [MQTT-3.1.2-13..15]. */
    CHECK_RC(decode_server(raw_connect311(0x0a, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_WILL_FLAGS);
    CHECK_RC(decode_server(raw_connect311(0x12, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_WILL_FLAGS);
    CHECK_RC(decode_server(raw_connect311(0x22, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_WILL_FLAGS);
    CHECK_RC(decode_server(raw_connect311(0x1e, S("c"), S("w"), S("m"), NONE, NONE)),
             MQTT_E_WILL_FLAGS);
    CHECK_RC(decode_server(raw_connect311(0x16, S("c"), S("w"), S("m"), NONE, NONE)), 0);
    /* Will topic is a topic name. */
    CHECK_RC(decode_server(raw_connect311(0x06, S("c"), S("w/#"), S("m"), NONE, NONE)),
             MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(decode_server(raw_connect311(0x06, S("c"), S(""), S("m"), NONE, NONE)),
             MQTT_E_TOPIC_EMPTY);
    CHECK_RC(decode_server(raw_connect311(0x06, S("c"), S("w\xff"), S("m"), NONE, NONE)),
             MQTT_E_UTF8);
    /* The will message is binary. */
    CHECK_RC(decode_server(raw_connect311(0x06, S("c"), S("w"), S("\0\xff"), NONE, NONE)), 0);
    /* Client id and user name are UTF-8 [MQTT-3.1.3-4, 3.1.3-11]; the password is not. */
    CHECK_RC(decode_server(raw_connect311(0x02, S("c\xed\xbf\xbf"), NONE, NONE, NONE, NONE)),
             MQTT_E_UTF8);
    CHECK_RC(decode_server(raw_connect311(0x02, S("c\0"), NONE, NONE, NONE, NONE)),
             MQTT_E_UTF8_NUL);
    CHECK_RC(decode_server(raw_connect311(0x82, S("c"), NONE, NONE, S("\xf4\x90\x80\x80"), NONE)),
             MQTT_E_UTF8);
    CHECK_RC(decode_server(raw_connect311(0xc2, S("c"), NONE, NONE, S("u"), S("\0\xff"))), 0);
    /* Truncated: a flagged field missing, or cut inside a field. */
    CHECK_RC(decode_server(raw_connect311(0xc2, S("c"), NONE, NONE, S("u"), NONE)),
             MQTT_E_TRUNCATED);
    CHECK_RC(decode_server(raw_connect311(0x42, S("c"), NONE, NONE, NONE, NONE)),
             MQTT_E_TRUNCATED);
    CHECK_RC(decode_server(raw_connect311(0x06, S("c"), S("w"), NONE, NONE, NONE)),
             MQTT_E_TRUNCATED);
    CHECK_RC(decode_server(raw_connect311(0x02, NONE, NONE, NONE, NONE, NONE)),
             MQTT_E_TRUNCATED);
    /* A field the flags do not announce is trailing. */
    CHECK_RC(decode_server(raw_connect311(0x02, S("c"), NONE, NONE, S("u"), NONE)),
             MQTT_E_TRAILING);
    CHECK_RC(decode_server(raw_connect311(0x82, S("c"), NONE, NONE, S("u"), S("p"))),
             MQTT_E_TRAILING);
}

static void test_connect_client_id_and_password(void)
{
    struct mqtt_packet p;

    /* Empty client id: refused with clean session 0 [MQTT-3.1.3-8]... */
    CHECK_RC(decode_server(raw_connect311(0x00, S(""), NONE, NONE, NONE, NONE)),
             MQTT_E_CLIENT_ID_EMPTY);
    /* ...allowed with clean session 1 (the personality decides) [MQTT-3.1.3-6]. */
    CHECK_RC(decode_server(raw_connect311(0x02, S(""), NONE, NONE, NONE, NONE)), 0);
    /* A real defect is reported before the empty id. */
    CHECK_RC(decode_server(raw_connect311(0x00, S(""), NONE, NONE, S("u"), NONE)),
             MQTT_E_TRAILING);
    CHECK_RC(decode_server(raw_connect311(0x40, S(""), NONE, NONE, NONE, NONE)),
             MQTT_E_TRUNCATED);

    /* Password without user name: decoded, flagged [MQTT-3.1.2-22]. */
    CHECK_RC(frame_decode(raw_pkt, raw_connect311(0x42, S("c"), NONE, NONE, NONE, S("jwt")),
                          MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.connect.password_without_username);
    CHECK(slice_eq(p.u.connect.password, S("jwt")));
    /* User name without password is fine. */
    CHECK_RC(frame_decode(raw_pkt, raw_connect311(0x82, S("c"), NONE, NONE, S("u"), NONE),
                          MQTT_ROLE_SERVER, &p), 0);
    CHECK(!p.u.connect.password_without_username && !p.u.connect.has_password);
    CHECK(slice_eq(p.u.connect.username, S("u")));
    /* Empty password and user name are present, just empty. */
    CHECK_RC(frame_decode(raw_pkt, raw_connect311(0xc2, S("c"), NONE, NONE, S(""), S("")),
                          MQTT_ROLE_SERVER, &p), 0);
    CHECK(p.u.connect.has_username && p.u.connect.username.len == 0);
    CHECK(p.u.connect.has_password && p.u.connect.password.len == 0);
}

/* On error the output is left as it was. */
static void test_ret_untouched(void)
{
    struct mqtt_packet p, before;

    memset(&p, 0x5a, sizeof(p));
    before = p;
    CHECK_RC(mqtt_decode(raw_pkt, raw_publish(0x32, S("a/+"), 1, S("x")), MQTT_ROLE_SERVER, &p),
             MQTT_E_TOPIC_WILDCARD);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0);
    CHECK_RC(mqtt_decode(raw_pkt, raw_connect311(0x00, S(""), NONE, NONE, NONE, NONE),
                         MQTT_ROLE_SERVER, &p), MQTT_E_CLIENT_ID_EMPTY);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0);
}

/* ---- validation helpers ---- */

static void test_utf8(void)
{
    static const struct { const char *s; size_t n; int want; } t[] = {
#define U(lit, want) { lit, sizeof(lit) - 1, want }
        U("", 0),
        U("plain ascii", 0),
        U("\x7f", 0),                           /* DEL: a control, but well formed */
        U("\xc2\x80", 0),                       /* U+0080 */
        U("\xdf\xbf", 0),                       /* U+07FF */
        U("\xe0\xa0\x80", 0),                   /* U+0800 */
        U("\xe2\x82\xac", 0),                   /* U+20AC euro */
        U("\xed\x9f\xbf", 0),                   /* U+D7FF, last before surrogates */
        U("\xee\x80\x80", 0),                   /* U+E000, first after */
        U("\xef\xbf\xbf", 0),                   /* U+FFFF: a noncharacter, allowed */
        U("\xef\xbb\xbf", 0),                   /* U+FEFF BOM [MQTT-1.5.3-3]: kept */
        U("\xf0\x90\x80\x80", 0),               /* U+10000 */
        U("\xf4\x8f\xbf\xbf", 0),               /* U+10FFFF */
        U("\0", MQTT_E_UTF8_NUL),
        U("ab\0", MQTT_E_UTF8_NUL),
        U("\xc0\x80", MQTT_E_UTF8),             /* overlong U+0000 (modified UTF-8) */
        U("\xc1\xbf", MQTT_E_UTF8),             /* overlong */
        U("\xe0\x80\xaf", MQTT_E_UTF8),         /* overlong '/' */
        U("\xe0\x9f\xbf", MQTT_E_UTF8),         /* overlong U+07FF */
        U("\xf0\x80\x80\xaf", MQTT_E_UTF8),     /* overlong */
        U("\xf0\x8f\xbf\xbf", MQTT_E_UTF8),     /* overlong U+FFFF */
        U("\xed\xa0\x80", MQTT_E_UTF8),         /* U+D800 surrogate */
        U("\xed\xbf\xbf", MQTT_E_UTF8),         /* U+DFFF surrogate */
        U("\xf4\x90\x80\x80", MQTT_E_UTF8),     /* U+110000 */
        U("\xf5\x80\x80\x80", MQTT_E_UTF8),
        U("\xf8\x88\x80\x80\x80", MQTT_E_UTF8), /* old 5-byte form */
        U("\xfe", MQTT_E_UTF8),
        U("\xff", MQTT_E_UTF8),
        U("\x80", MQTT_E_UTF8),                 /* stray continuation */
        U("a\xbf", MQTT_E_UTF8),
        U("\xc3", MQTT_E_UTF8),                 /* truncated at the end */
        U("\xe2\x82", MQTT_E_UTF8),
        U("\xf0\x9f\x98", MQTT_E_UTF8),
        U("\xe2\x28\xa1", MQTT_E_UTF8),         /* bad second byte */
        U("\xe2\x82\x28", MQTT_E_UTF8),         /* bad third byte */
        U("\xf0\x9f\x98\x28", MQTT_E_UTF8),     /* bad fourth byte */
        U("\xc3\xa9\xc3", MQTT_E_UTF8),
#undef U
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!CHECK_RC(mqtt_utf8_check((const uint8_t *)t[i].s, t[i].n), t[i].want))
            fprintf(stderr, "  case %zu\n", i);
}

static void test_topic_checks(void)
{
    static const char *const filters_ok[] = { "#", "+", "+/+", "a/#", "/#", "+/#", "a/+/b", "/",
                                              "//", "$SYS/#", "\xe2\x82\xac/+", "a b", "+/+/#" };
    static const char *const filters_bad[] = { "a#", "#/a", "a/#/b", "##", "a+", "+a", "a/b+",
                                               "++", "a/+b/c", "#+", "+#", "a/#/" };
    static const char *const names_ok[] = { "a", "/", "a/b", "$SYS/x", " ", "a//b" };
    static const char *const names_wild[] = { "+", "#", "a/+", "a/#", "a#b", "a+b" };

    for (size_t i = 0; i < sizeof(filters_ok) / sizeof(filters_ok[0]); i++)
        CHECK_RC(mqtt_topic_filter_check((const uint8_t *)filters_ok[i], strlen(filters_ok[i])), 0);
    for (size_t i = 0; i < sizeof(filters_bad) / sizeof(filters_bad[0]); i++)
        CHECK_RC(mqtt_topic_filter_check((const uint8_t *)filters_bad[i], strlen(filters_bad[i])),
                 MQTT_E_FILTER_INVALID);
    CHECK_RC(mqtt_topic_filter_check((const uint8_t *)"", 0), MQTT_E_FILTER_EMPTY);
    CHECK_RC(mqtt_topic_filter_check((const uint8_t *)"a\0", 2), MQTT_E_UTF8_NUL);
    for (size_t i = 0; i < sizeof(names_ok) / sizeof(names_ok[0]); i++)
        CHECK_RC(mqtt_topic_name_check((const uint8_t *)names_ok[i], strlen(names_ok[i])), 0);
    for (size_t i = 0; i < sizeof(names_wild) / sizeof(names_wild[0]); i++)
        CHECK_RC(mqtt_topic_name_check((const uint8_t *)names_wild[i], strlen(names_wild[i])),
                 MQTT_E_TOPIC_WILDCARD);
    CHECK_RC(mqtt_topic_name_check((const uint8_t *)"", 0), MQTT_E_TOPIC_EMPTY);
    CHECK_RC(mqtt_topic_name_check((const uint8_t *)"\xc0\x80", 2), MQTT_E_UTF8);
}

static void test_topic_matches(void)
{
    static const struct { const char *f, *t; bool want; } t[] = {
        /* The spec's own examples (4.7.1.2, 4.7.1.3). */
        { "sport/tennis/player1/#", "sport/tennis/player1", true },
        { "sport/tennis/player1/#", "sport/tennis/player1/ranking", true },
        { "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true },
        { "sport/#", "sport", true },
        { "#", "sport/tennis", true },
        { "sport/tennis/+", "sport/tennis/player1", true },
        { "sport/tennis/+", "sport/tennis/player1/ranking", false },
        { "sport/+", "sport", false },
        { "sport/+", "sport/", true },
        { "+/+", "/finance", true },
        { "/+", "/finance", true },
        { "+", "/finance", false },
        { "+/tennis/#", "sport/tennis/player1", true },
        { "ACCOUNTS", "Accounts", false },
        /* $-topics are not matched by a leading wildcard [MQTT-4.7.2-1]. */
        { "#", "$SYS/broker/clients", false },
        { "+/monitor/Clients", "$SYS/monitor/Clients", false },
        { "+", "$x", false },
        { "$SYS/#", "$SYS/monitor/Clients", true },
        { "$SYS/monitor/+", "$SYS/monitor/Clients", true },
        { "$aws/things/+/shadow/#", "$aws/things/t/shadow/update/accepted", true },
        { "a/$x", "a/$x", true },
        { "a/+", "a/$x", true },                /* only the first level is special */
        /* Plain levels. */
        { "a/b", "a/b", true },
        { "a/b", "a/c", false },
        { "a/b", "a/b/c", false },
        { "a/b/c", "a/b", false },
        { "a/b", "a/bc", false },
        { "a/#", "ab", false },
        { "a//b", "a//b", true },
        { "a/+/b", "a//b", true },
        { "+/#", "a", true },
        { "#", "/", true },
        { "+/+", "/", true },
        { "+", "", true },
        { "/devices/d/commands/#", "/devices/d/commands", true },
        { "/devices/d/commands/#", "/devices/d/commands/x/y", true },
        { "/devices/d/commands/#", "/devices/d/commandsx", false },
        { "/devices/d/config", "/devices/d/config", true },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool got = mqtt_topic_matches((const uint8_t *)t[i].f, strlen(t[i].f),
                                      (const uint8_t *)t[i].t, strlen(t[i].t));
        if (!CHECK(got == t[i].want))
            fprintf(stderr, "  filter \"%s\" topic \"%s\"\n", t[i].f, t[i].t);
    }
}

static void test_err_names(void)
{
    const char *names[64];
    size_t n = 0;

    for (int e = MQTT_E_REMLEN_TOO_LONG; e >= MQTT_E_DUP_QOS0; e--) {
        const char *s = mqtt_err_name(e);
        CHECK(strcmp(s, "unknown") != 0);
        for (const char *c = s; *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-');
        for (size_t j = 0; j < n; j++)
            CHECK(strcmp(names[j], s) != 0);
        names[n++] = s;
    }
    CHECK(n == 27);
    CHECK(strcmp(mqtt_err_name(MQTT_E_REMLEN_TOO_LONG), "remlen-too-long") == 0);
    CHECK(strcmp(mqtt_err_name(MQTT_E_QOS3), "qos3") == 0);
    CHECK(strcmp(mqtt_err_name(0), "ok") == 0);
    CHECK(strcmp(mqtt_err_name(-EMSGSIZE), "buffer-full") == 0);
    CHECK(strcmp(mqtt_err_name(-1), "unknown") == 0);
    CHECK(strcmp(mqtt_err_name(MQTT_E_DUP_QOS0 - 1), "unknown") == 0);
    CHECK(strcmp(mqtt_err_name(-1000), "unknown") == 0);
}

/* ---- encoder errors ---- */

static void test_encoder_errors(void)
{
    static uint8_t big[70000];
    uint8_t buf[64];
    struct wcur w;
    struct mqtt_publish pub = { .topic = S("t"), .payload = S("x") };
    struct mqtt_connect con = { .clean_session = true, .client_id = S("c") };
    struct mqtt_subscribe sub = { .packet_id = 1, .count = 1 };
    static const uint8_t codes_ok[] = { 0, 0x80 }, codes_bad[] = { 0, 3 };

    sub.filters[0].filter = S("a");

#define EXPECT_ENC(call, want) do { \
        wcur_init(&w, buf, sizeof(buf)); \
        call; \
        CHECK_RC(w.err, want); \
        if (want) \
            CHECK(w.off == 0); \
    } while (0)

    EXPECT_ENC(mqtt_encode_publish(&w, &pub), 0);
    pub.qos = 3;
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.qos = 1;                        /* packet id 0 at QoS 1 */
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.packet_id = 9;
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), 0);
    pub.topic = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), MQTT_E_BUFFER);
    pub.topic = (struct mqtt_slice){ big, 65535 };
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), -EMSGSIZE);
    pub.topic = S("t");
    pub.payload = (struct mqtt_slice){ big, (size_t)MQTT_MAX_REMAINING_LENGTH };
    EXPECT_ENC(mqtt_encode_publish(&w, &pub), MQTT_E_BUFFER);   /* header + payload too long */

    EXPECT_ENC(mqtt_encode_connect(&w, &con), 0);
    con.will = true;
    con.will_topic = S("w");
    con.will_qos = 3;
    EXPECT_ENC(mqtt_encode_connect(&w, &con), MQTT_E_BUFFER);
    con.will = false;                   /* will fields ignored without the flag */
    EXPECT_ENC(mqtt_encode_connect(&w, &con), 0);
    con.client_id = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt_encode_connect(&w, &con), MQTT_E_BUFFER);
    con.client_id = S("c");
    con.has_password = true;
    con.password = (struct mqtt_slice){ big, 65536 };
    EXPECT_ENC(mqtt_encode_connect(&w, &con), MQTT_E_BUFFER);

    EXPECT_ENC(mqtt_encode_ack(&w, MQTT_PUBACK, 1), 0);
    EXPECT_ENC(mqtt_encode_ack(&w, MQTT_PUBACK, 0), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_ack(&w, MQTT_PUBLISH, 1), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_ack(&w, MQTT_SUBACK, 1), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_empty(&w, MQTT_PINGRESP), 0);
    EXPECT_ENC(mqtt_encode_empty(&w, MQTT_CONNECT), MQTT_E_BUFFER);

    EXPECT_ENC(mqtt_encode_subscribe(&w, &sub), 0);
    sub.filters[0].qos = 3;
    EXPECT_ENC(mqtt_encode_subscribe(&w, &sub), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_unsubscribe(&w, &sub), 0);   /* QoS not sent */
    sub.count = 0;
    EXPECT_ENC(mqtt_encode_subscribe(&w, &sub), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_unsubscribe(&w, &sub), MQTT_E_BUFFER);
    sub.count = MQTT_MAX_FILTERS + 1;
    EXPECT_ENC(mqtt_encode_subscribe(&w, &sub), MQTT_E_BUFFER);
    sub.count = 1;
    sub.packet_id = 0;
    EXPECT_ENC(mqtt_encode_unsubscribe(&w, &sub), MQTT_E_BUFFER);

    EXPECT_ENC(mqtt_encode_suback(&w, 1, codes_ok, 2), 0);
    EXPECT_ENC(mqtt_encode_suback(&w, 1, codes_bad, 2), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_suback(&w, 0, codes_ok, 2), MQTT_E_BUFFER);
    EXPECT_ENC(mqtt_encode_suback(&w, 1, codes_ok, 0), MQTT_E_BUFFER);
#undef EXPECT_ENC

    /* The first error sticks; later encodes write nothing. */
    wcur_init(&w, buf, 3);
    mqtt_encode_ack(&w, MQTT_PUBACK, 1);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    mqtt_encode_empty(&w, MQTT_PINGREQ);
    CHECK(w.err == -EMSGSIZE && w.off == 0);
    /* Packets accumulate in one buffer. */
    wcur_init(&w, buf, 6);
    mqtt_encode_ack(&w, MQTT_PUBREL, 0x1234);
    mqtt_encode_empty(&w, MQTT_DISCONNECT);
    CHECK(w.err == 0 && w.off == 6);
    CHECK(memcmp(buf, "\x62\x02\x12\x34\xe0\x00", 6) == 0);
    mqtt_encode_connack(&w, false, 0);
    CHECK(w.err == -EMSGSIZE && w.off == 6);
}

int main(void)
{
    test_samples_decode();
    test_connect_fields();
    test_other_fields();
    test_publish_two_byte_remlen();
    test_stream();
    test_roundtrip_connect();
    test_roundtrip_connack();
    test_roundtrip_publish();
    test_roundtrip_acks();
    test_roundtrip_subscribe();
    test_roundtrip_suback();
    test_roundtrip_empty();
    test_prefixes();
    test_short_remaining_length();
    test_frame_lengths();
    test_frame_errors();
    test_decode_length_mismatch();
    test_err_reserved_flags();
    test_err_role();
    test_err_publish();
    test_err_acks();
    test_err_connack();
    test_err_subscribe();
    test_err_suback();
    test_err_empty_packets();
    test_err_connect();
    test_connect_client_id_and_password();
    test_ret_untouched();
    test_utf8();
    test_topic_checks();
    test_topic_matches();
    test_err_names();
    test_encoder_errors();

    return tu_finish("test_codec");
}
