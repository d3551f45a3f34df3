/* data_dir/ports.json: every bound listener port by name, written once all
 * listeners are up ({"mqtts": 40123, ...}), atomically (temp + rename), so
 * tests and tools can read ephemeral ports. */
#pragma once
#include <stddef.h>

struct ports_entry {
    const char *name;   /* borrowed */
    int port;           /* the bound port, 0..65535 */
};

/* Writes data_dir/ports.json (mode 0644) with one member per entry, in
 * order. Returns 0, -EINVAL for a NULL name or a port out of range,
 * -EMSGSIZE if it would not fit 8 KiB, or a negative errno from the write. */
int ports_write(const char *data_dir, const struct ports_entry *entries, size_t n);
