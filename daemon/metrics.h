/* Prometheus text exposition of the daemon's counters. */
#pragma once
#include <stddef.h>

struct sess_stats;

/* *ret is malloc'd text. Returns 0 or -ENOMEM. */
int metrics_render(const struct sess_stats *st, size_t connections, char **ret);
