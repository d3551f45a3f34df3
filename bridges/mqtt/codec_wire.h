/* Wire primitives the MQTT 3.1.1 codec (codec.c) and the MQTT 5 client
 * codec (codec5.c) share: bounded field readers that turn a short read into
 * MQTT_E_TRUNCATED, and the fixed-header writer that checks a whole packet
 * fits before writing a byte. Private to the codec library: nothing outside
 * bridges/mqtt/codec*.c includes it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/codec.h"
#include "common/cursor.h"

/* ---- reading (each returns 0 or a negative mqtt_err) ---- */
int mqtt_wire_get_u8(struct rcur *r, uint8_t *ret);
int mqtt_wire_get_u16(struct rcur *r, uint16_t *ret);
/* A string or binary field: two-byte length then the bytes (1.5.3); ret
 * borrows from the packet. */
int mqtt_wire_get_slice(struct rcur *r, struct mqtt_slice *ret);
/* The same, checked as UTF-8 without U+0000. */
int mqtt_wire_get_utf8(struct rcur *r, struct mqtt_slice *ret);
/* A packet identifier, never 0 [MQTT-2.3.1-1]. */
int mqtt_wire_get_packet_id(struct rcur *r, uint16_t *ret);
/* MQTT_E_TRAILING when bytes are left after the last field. */
int mqtt_wire_end(const struct rcur *r);

/* ---- writing ---- */
/* Sizes at or past this never fit a packet: mqtt_wire_begin refuses them,
 * so size arithmetic may saturate here instead of wrapping. */
#define MQTT_WIRE_TOO_BIG ((size_t)MQTT_MAX_REMAINING_LENGTH + 1)
/* Bytes of a Variable Byte Integer (the remaining length, MQTT 5 lengths). */
size_t mqtt_wire_vbi_size(size_t v);
/* Fixed header + remaining length bytes + remlen. */
size_t mqtt_wire_packet_size(size_t remlen);
/* Records err in w unless an error is already there. */
void mqtt_wire_fail(struct wcur *w, int err);
void mqtt_wire_put_vbi(struct wcur *w, size_t v);
void mqtt_wire_put_slice(struct wcur *w, const struct mqtt_slice *s);
/* Checks the whole packet fits (remlen within MQTT's maximum: else
 * MQTT_E_BUFFER; room in w: else -EMSGSIZE), then writes the fixed header.
 * Returns false (error left in w) when nothing may be written. */
bool mqtt_wire_begin(struct wcur *w, uint8_t first, size_t remlen);
