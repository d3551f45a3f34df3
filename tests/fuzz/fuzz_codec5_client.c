/* libFuzzer target for the MQTT 5 codec in the client role (decoding what
 * the upstream broker sends when the link speaks MQTT 5).
 * The input is a byte stream as it would arrive on the socket: frame with
 * mqtt5_frame and decode with mqtt5_decode_client in a loop. Invariants,
 * abort() on any break:
 *  - mqtt5_frame agrees with mqtt_frame except on AUTH, and with itself
 *    under a smaller limit; every strict prefix of a frame needs more bytes
 *    and decodes as MQTT_E_TRUNCATED;
 *  - a failed decode names a known error and leaves *ret untouched;
 *  - a decoded packet is self-consistent (strings UTF-8, the user property
 *    walk finds user_total pairs, slices inside the packet);
 *  - what our client encoders can express comes back the same through them:
 *    a PUBLISH (same format both ways) with only the properties
 *    mqtt5_encode_publish writes, and PUBACK/PUBREC/PUBREL/PUBCOMP without
 *    properties, re-encoded into a buffer of exactly the announced size
 *    (ASan catches a one-byte overrun), decode to the same fields. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/codec.h"
#include "bridges/mqtt/codec5.h"
#include "fuzz_target.h"

#define MAX_PACKET (1u << 20)
#define SMALL_MAX 64

static bool slice_eq(const struct mqtt_slice *a, const struct mqtt_slice *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool inside(const struct mqtt_slice *s, const uint8_t *pkt, size_t n)
{
    return s->len == 0 || (s->p >= pkt && s->len <= n && s->p - pkt <= (ptrdiff_t)(n - s->len));
}

static void check_consistent(const struct mqtt5_packet *p, const uint8_t *pkt, size_t n)
{
    const struct mqtt5_props *pr = &p->props;
    struct mqtt_slice it = pr->raw;
    struct mqtt5_user_prop u;
    size_t k = 0;
    int r;

    REQUIRE(inside(&pr->raw, pkt, n));
    REQUIRE(pr->user_count <= MQTT5_MAX_USER_PROPS && pr->user_count <= pr->user_total);
    while ((r = mqtt5_user_prop_next(&it, &u)) == 1) {
        REQUIRE(mqtt_utf8_check(u.name.p, u.name.len) == 0);
        REQUIRE(mqtt_utf8_check(u.value.p, u.value.len) == 0);
        if (k < pr->user_count)
            REQUIRE(slice_eq(&u.name, &pr->user[k].name) && slice_eq(&u.value, &pr->user[k].value));
        k++;
    }
    REQUIRE(r == 0 && k == pr->user_total);
    REQUIRE(mqtt_utf8_check(pr->reason_string.p, pr->reason_string.len) == 0);
    REQUIRE(!mqtt5_has(pr, MQTT5_PROP_TOPIC_ALIAS));
    REQUIRE(!pr->sub_id_count || (pr->sub_id >= 1 && pr->sub_id <= MQTT5_VBI_MAX));
    if (p->base.type == MQTT_PUBLISH) {
        const struct mqtt_publish *m = &p->base.u.publish;
        REQUIRE(mqtt_topic_name_check(m->topic.p, m->topic.len) == 0);
        REQUIRE(inside(&m->topic, pkt, n) && inside(&m->payload, pkt, n));
        REQUIRE((m->qos > 0) == (m->packet_id != 0));
    }
    if (p->base.type == MQTT_SUBACK || p->base.type == MQTT_UNSUBACK)
        REQUIRE(p->base.u.suback.count >= 1 && p->base.u.suback.count <= MQTT_MAX_FILTERS);
    if (p->base.type == MQTT_CONNACK)
        REQUIRE(p->base.u.connack.return_code == p->reason);
}

/* Properties mqtt5_encode_publish writes; a PUBLISH with others (or a
 * Payload Format/Message Expiry of 0 spelled out, which it omits) cannot be
 * re-encoded to the same fields. */
static bool publish_reencodable(const struct mqtt5_props *pr)
{
    uint64_t allowed = (1ull << MQTT5_PROP_PAYLOAD_FORMAT) | (1ull << MQTT5_PROP_MESSAGE_EXPIRY) |
                       (1ull << MQTT5_PROP_CONTENT_TYPE) | (1ull << MQTT5_PROP_USER);

    if (pr->present & ~allowed)
        return false;
    if (mqtt5_has(pr, MQTT5_PROP_PAYLOAD_FORMAT) && pr->payload_format == 0)
        return false;
    if (mqtt5_has(pr, MQTT5_PROP_MESSAGE_EXPIRY) && pr->message_expiry == 0)
        return false;
    if (mqtt5_has(pr, MQTT5_PROP_CONTENT_TYPE) && pr->content_type.len == 0)
        return false;
    return pr->user_total == pr->user_count;
}

static void reencode_publish(const struct mqtt5_packet *p)
{
    struct mqtt5_publish e;
    struct mqtt5_packet q;
    struct wcur w;
    size_t n;
    uint8_t *buf;

    memset(&e, 0, sizeof(e));
    e.base = p->base.u.publish;
    e.user_props = p->props.user;
    e.user_prop_count = p->props.user_count;
    e.payload_utf8 = p->props.payload_format == 1;
    e.content_type = p->props.content_type;
    e.message_expiry = p->props.message_expiry;
    n = mqtt5_encoded_len_publish(&e);
    buf = malloc(n);
    REQUIRE(buf);
    wcur_init(&w, buf, n - 1);
    mqtt5_encode_publish(&w, &e);
    REQUIRE(w.err < 0 && w.off == 0);
    wcur_init(&w, buf, n);
    mqtt5_encode_publish(&w, &e);
    REQUIRE(w.err == 0 && w.off == n);
    REQUIRE(mqtt5_frame(buf, n, MAX_PACKET) == (int)n);
    REQUIRE(mqtt5_decode_client(buf, n, &q) == 0);
    REQUIRE(q.base.type == MQTT_PUBLISH && q.base.flags == p->base.flags);
    REQUIRE(q.base.u.publish.packet_id == p->base.u.publish.packet_id);
    REQUIRE(slice_eq(&q.base.u.publish.topic, &p->base.u.publish.topic));
    REQUIRE(slice_eq(&q.base.u.publish.payload, &p->base.u.publish.payload));
    REQUIRE(q.props.present == p->props.present);
    REQUIRE(q.props.payload_format == p->props.payload_format);
    REQUIRE(q.props.message_expiry == p->props.message_expiry);
    REQUIRE(slice_eq(&q.props.content_type, &p->props.content_type));
    REQUIRE(q.props.user_count == p->props.user_count);
    for (size_t i = 0; i < q.props.user_count; i++)
        REQUIRE(slice_eq(&q.props.user[i].name, &p->props.user[i].name) &&
                slice_eq(&q.props.user[i].value, &p->props.user[i].value));
    free(buf);
}

static void reencode_ack(const struct mqtt5_packet *p)
{
    uint8_t buf[5];
    size_t n = mqtt5_encoded_len_ack(p->reason);
    struct mqtt5_packet q;
    struct wcur w;

    wcur_init(&w, buf, n);
    mqtt5_encode_ack(&w, p->base.type, p->base.u.ack.packet_id, p->reason);
    REQUIRE(w.err == 0 && w.off == n);
    REQUIRE(mqtt5_decode_client(buf, n, &q) == 0);
    REQUIRE(q.base.type == p->base.type && q.base.flags == p->base.flags);
    REQUIRE(q.base.u.ack.packet_id == p->base.u.ack.packet_id && q.reason == p->reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        const uint8_t *pkt = data + off;
        size_t left = size - off;
        struct mqtt5_packet p, before;
        int n = mqtt5_frame(pkt, left, MAX_PACKET);
        int small = mqtt5_frame(pkt, left, SMALL_MAX);
        int r;

        if ((pkt[0] >> 4) != MQTT5_AUTH)
            REQUIRE(n == mqtt_frame(pkt, left, MAX_PACKET));
        if (small != n)
            REQUIRE(small == MQTT_E_PACKET_TOO_LARGE && (n == 0 || n > SMALL_MAX));
        if (n <= 0)
            break;
        REQUIRE(mqtt5_frame(pkt, (size_t)n - 1, MAX_PACKET) == 0);
        REQUIRE(mqtt5_decode_client(pkt, (size_t)n - 1, &p) == MQTT_E_TRUNCATED);

        memset(&p, 0xA5, sizeof(p));
        before = p;
        r = mqtt5_decode_client(pkt, (size_t)n, &p);
        REQUIRE(r <= 0);
        REQUIRE(strcmp(mqtt_err_name(r), "unknown") != 0);
        if (r < 0) {
            REQUIRE(memcmp(&p, &before, sizeof(p)) == 0);
            (void)mqtt5_disconnect_reason(r);
        } else {
            check_consistent(&p, pkt, (size_t)n);
            if (p.base.type == MQTT_PUBLISH && publish_reencodable(&p.props))
                reencode_publish(&p);
            if (p.base.type >= MQTT_PUBACK && p.base.type <= MQTT_PUBCOMP && p.props.present == 0)
                reencode_ack(&p);
        }
        off += (size_t)n;
    }
    return 0;
}
