/* libFuzzer target for the MQTT codec in the server role (decoding what
 * devices send). fuzz_codec_client.c includes this file with FUZZ_ROLE set to
 * the client role, so both targets share one harness.
 * The input is a byte stream as it would arrive on a socket: frame and decode
 * packets in a loop. Every decoded packet is re-encoded into a buffer of
 * exactly mqtt_encoded_len_packet() bytes (ASan catches a one-byte overrun),
 * framed and decoded again, and must come back equal; with a minimal
 * remaining length the bytes must be identical too. abort() on any mismatch. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/codec.h"
#include "fuzz_target.h"

#ifndef FUZZ_ROLE
#define FUZZ_ROLE MQTT_ROLE_SERVER
#endif

/* Large enough for anything libFuzzer generates; a second, small limit checks
 * that framing agrees with itself across limits. */
#define MAX_PACKET (1u << 20)
#define SMALL_MAX 64

static bool slice_eq(const struct mqtt_slice *a, const struct mqtt_slice *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool packet_eq(const struct mqtt_packet *a, const struct mqtt_packet *b)
{
    if (a->type != b->type || a->flags != b->flags)
        return false;
    switch (a->type) {
    case MQTT_CONNECT: {
        const struct mqtt_connect *x = &a->u.connect, *y = &b->u.connect;
        return x->protocol_level == y->protocol_level && x->clean_session == y->clean_session &&
               x->keepalive == y->keepalive && slice_eq(&x->client_id, &y->client_id) &&
               x->will == y->will && x->will_qos == y->will_qos &&
               x->will_retain == y->will_retain && slice_eq(&x->will_topic, &y->will_topic) &&
               slice_eq(&x->will_payload, &y->will_payload) &&
               x->has_username == y->has_username && slice_eq(&x->username, &y->username) &&
               x->has_password == y->has_password && slice_eq(&x->password, &y->password) &&
               x->password_without_username == y->password_without_username;
    }
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.return_code == b->u.connack.return_code;
    case MQTT_PUBLISH: {
        const struct mqtt_publish *x = &a->u.publish, *y = &b->u.publish;
        return x->dup == y->dup && x->qos == y->qos && x->retain == y->retain &&
               slice_eq(&x->topic, &y->topic) && x->packet_id == y->packet_id &&
               slice_eq(&x->payload, &y->payload);
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return a->u.ack.packet_id == b->u.ack.packet_id;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        const struct mqtt_subscribe *x = &a->u.subscribe, *y = &b->u.subscribe;
        if (x->packet_id != y->packet_id || x->count != y->count)
            return false;
        for (size_t i = 0; i < x->count; i++)
            if (!slice_eq(&x->filters[i].filter, &y->filters[i].filter) ||
                x->filters[i].qos != y->filters[i].qos)
                return false;
        return true;
    }
    case MQTT_SUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               a->u.suback.count == b->u.suback.count &&
               memcmp(a->u.suback.codes, b->u.suback.codes, a->u.suback.count) == 0;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return true;
    }
    return false;
}

/* Topic matching invariants that need no reference implementation. */
static void check_matching(const struct mqtt_packet *p)
{
    static const uint8_t hash[] = { '#' };

    if (p->type == MQTT_PUBLISH) {
        const struct mqtt_slice *t = &p->u.publish.topic;
        /* A topic name is a valid filter and matches itself. */
        REQUIRE(mqtt_topic_filter_check(t->p, t->len) == 0);
        REQUIRE(mqtt_topic_matches(t->p, t->len, t->p, t->len));
        /* "#" matches everything but $-topics [MQTT-4.7.2-1]. */
        REQUIRE(mqtt_topic_matches(hash, 1, t->p, t->len) == (t->p[0] != '$'));
    } else if (p->type == MQTT_SUBSCRIBE || p->type == MQTT_UNSUBSCRIBE) {
        const struct mqtt_subscribe *s = &p->u.subscribe;
        for (size_t i = 0; i < s->count; i++) {
            const struct mqtt_slice *f = &s->filters[i].filter;
            bool wild = memchr(f->p, '+', f->len) || memchr(f->p, '#', f->len);
            REQUIRE(mqtt_topic_name_check(f->p, f->len) == (wild ? MQTT_E_TOPIC_WILDCARD : 0));
            for (size_t j = 0; j < s->count; j++) {
                const struct mqtt_slice *g = &s->filters[j].filter;
                /* Filters as topics: no crash; a wildcard-free filter matches itself. */
                bool m = mqtt_topic_matches(f->p, f->len, g->p, g->len);
                if (i == j && !wild)
                    REQUIRE(m);
            }
        }
    }
}

static void roundtrip(const uint8_t *orig, size_t orig_len, const struct mqtt_packet *p)
{
    size_t n = mqtt_encoded_len_packet(p);
    uint8_t *buf = malloc(n);
    struct mqtt_packet q;
    struct wcur w;

    REQUIRE(buf);
    /* One byte short: refused, nothing written past the end. */
    wcur_init(&w, buf, n - 1);
    mqtt_encode_packet(&w, p);
    REQUIRE(w.err < 0 && w.off == 0);

    wcur_init(&w, buf, n);
    mqtt_encode_packet(&w, p);
    REQUIRE(w.err == 0);
    REQUIRE(w.off == n);
    REQUIRE(mqtt_frame(buf, n, MAX_PACKET) == (int)n);
    REQUIRE(mqtt_decode(buf, n, FUZZ_ROLE, &q) == 0);
    REQUIRE(packet_eq(p, &q));
    /* The encoder writes minimal lengths; the input may not have. */
    if (orig_len == n)
        REQUIRE(memcmp(orig, buf, n) == 0);
    else
        REQUIRE(orig_len > n);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        const uint8_t *pkt = data + off;
        size_t left = size - off;
        struct mqtt_packet p;
        int n = mqtt_frame(pkt, left, MAX_PACKET);
        int small = mqtt_frame(pkt, left, SMALL_MAX);
        int r;

        /* Framing under a smaller limit agrees, or refuses as too large. */
        if (small != n)
            REQUIRE(small == MQTT_E_PACKET_TOO_LARGE && (n == 0 || n > SMALL_MAX));
        if (n <= 0) {
            (void)mqtt_err_name(n);
            break;
        }
        /* Every strict prefix of a complete packet needs more bytes. */
        REQUIRE(mqtt_frame(pkt, (size_t)n - 1, MAX_PACKET) == 0);
        REQUIRE(mqtt_decode(pkt, (size_t)n - 1, FUZZ_ROLE, &p) == MQTT_E_TRUNCATED);

        memset(&p, 0xA5, sizeof(p));
        r = mqtt_decode(pkt, (size_t)n, FUZZ_ROLE, &p);
        REQUIRE(r <= 0);
        REQUIRE(strcmp(mqtt_err_name(r), "unknown") != 0);
        if (r == 0) {
            roundtrip(pkt, (size_t)n, &p);
            check_matching(&p);
        }
        off += (size_t)n;
    }
    return 0;
}
