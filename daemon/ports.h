/* data_dir/ports.json: every bound listener port by name, written once all
 * listeners are up ({"mqtts": 40123, ...}), atomically (temp + rename), so
 * tests and tools can read ephemeral ports. */
#pragma once
#include <stddef.h>

struct ports_entry {
    const char *name;
    int port;
};

int ports_write(const char *data_dir, const struct ports_entry *entries, size_t n);
