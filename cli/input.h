/* Local input of iotcorectl: files named on the command line (read whole,
 * with a cap), base64 for binaryData fields, "k=v,k2=v2" lists and
 * unsigned numbers. Failures are printed here with the argument they came
 * from, and returned as -EINVAL or the file's -errno (usage errors). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Reads the whole file into ret (initialised here, NUL-terminated after
 * len bytes for text use; free with buf_free). `what` names the argument
 * in messages ("--config-file"). -EFBIG past max bytes. */
int ctl_read_file(const char *what, const char *path, size_t max, struct buf *ret);

/* Standard base64 with padding (what proto3 JSON `bytes` fields carry).
 * Returns a malloc'd string, or NULL when out of memory. */
char *ctl_base64(const void *data, size_t len);

/* Splits "k=v,k2=v2" (s is modified in place) and calls fn for each pair
 * in order; an item without '=' or with an empty key is refused. Returns
 * 0, fn's first negative return, or -EINVAL after printing why. */
int ctl_kv_each(const char *what, char *s, int (*fn)(const char *k, const char *v, void *ud),
                void *ud);

/* A decimal number in [min, max] ("0x", signs and spaces refused). */
int ctl_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *ret);
