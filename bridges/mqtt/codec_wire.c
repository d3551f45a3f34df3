/* Wire primitives shared by the 3.1.1 and the MQTT 5 codec; see
 * codec_wire.h. Pure. */
#include "bridges/mqtt/codec_wire.h"

#include <errno.h>

int mqtt_wire_get_u8(struct rcur *r, uint8_t *ret)
{
    return rcur_u8(r, ret) < 0 ? MQTT_E_TRUNCATED : 0;
}

int mqtt_wire_get_u16(struct rcur *r, uint16_t *ret)
{
    return rcur_u16be(r, ret) < 0 ? MQTT_E_TRUNCATED : 0;
}

int mqtt_wire_get_slice(struct rcur *r, struct mqtt_slice *ret)
{
    uint16_t n;
    const uint8_t *p;

    if (rcur_u16be(r, &n) < 0 || rcur_bytes(r, n, &p) < 0)
        return MQTT_E_TRUNCATED;
    ret->p = p;
    ret->len = n;
    return 0;
}

int mqtt_wire_get_utf8(struct rcur *r, struct mqtt_slice *ret)
{
    int e = mqtt_wire_get_slice(r, ret);
    if (e < 0)
        return e;
    return mqtt_utf8_check(ret->p, ret->len);
}

int mqtt_wire_get_packet_id(struct rcur *r, uint16_t *ret)
{
    int e = mqtt_wire_get_u16(r, ret);
    if (e < 0)
        return e;
    return *ret == 0 ? MQTT_E_PACKET_ID_ZERO : 0;
}

int mqtt_wire_end(const struct rcur *r)
{
    return rcur_left(r) ? MQTT_E_TRAILING : 0;
}

size_t mqtt_wire_vbi_size(size_t v)
{
    return v <= 127u ? 1 : v <= 16383u ? 2 : v <= 2097151u ? 3 : 4;
}

size_t mqtt_wire_packet_size(size_t remlen)
{
    return remlen >= MQTT_WIRE_TOO_BIG ? MQTT_WIRE_TOO_BIG + 5
                                       : 1 + mqtt_wire_vbi_size(remlen) + remlen;
}

void mqtt_wire_fail(struct wcur *w, int err)
{
    if (!w->err)
        w->err = err;
}

void mqtt_wire_put_vbi(struct wcur *w, size_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        wcur_u8(w, v ? (uint8_t)(b | 0x80) : b);
    } while (v);
}

void mqtt_wire_put_slice(struct wcur *w, const struct mqtt_slice *s)
{
    wcur_u16be(w, (uint16_t)s->len);
    wcur_bytes(w, s->p, s->len);
}

bool mqtt_wire_begin(struct wcur *w, uint8_t first, size_t remlen)
{
    if (w->err)
        return false;
    if (remlen > MQTT_MAX_REMAINING_LENGTH) {
        mqtt_wire_fail(w, MQTT_E_BUFFER);
        return false;
    }
    if (w->cap - w->off < mqtt_wire_packet_size(remlen)) {
        mqtt_wire_fail(w, -EMSGSIZE);
        return false;
    }
    wcur_u8(w, first);
    mqtt_wire_put_vbi(w, remlen);
    return true;
}
