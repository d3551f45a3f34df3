/* Request paths of the admin API, built the way Google's paths are
 * (/v1/projects/P/locations/L/registries/R/devices/D[:verb]) with every
 * user-supplied segment and query value percent-encoded: ids may hold '%'
 * and '+' (reference section 0). A writer whose first error sticks and is
 * checked once, by the caller that sends the request. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "cli/ctl.h"

/* Google's resource names stay far below this (ids are at most 255 bytes);
 * the bound only needs to hold the longest legal name, encoded, plus a
 * page token. */
#define CTL_URL_MAX 4096

struct ctl_url {
    char s[CTL_URL_MAX];
    size_t len;
    bool has_query;
    int err;                /* 0, or -ENAMETOOLONG once anything did not fit */
};

void ctl_url_init(struct ctl_url *u);
/* Appends s verbatim (a fixed path part such as ":sendCommandToDevice"). */
void ctl_url_lit(struct ctl_url *u, const char *s);
/* Appends "/" and s percent-encoded (only RFC 3986 unreserved bytes stay). */
void ctl_url_seg(struct ctl_url *u, const char *s);
/* Appends "?k=v" or "&k=v", v percent-encoded. */
void ctl_url_query(struct ctl_url *u, const char *k, const char *v);

/* /v1/projects/P/locations/L */
void ctl_url_location(struct ctl_url *u, const struct ctl *c);
/* /v1/projects/P/locations/L/registries[/R] (R may be NULL) */
void ctl_url_registry(struct ctl_url *u, const struct ctl *c, const char *registry);
/* /v1/projects/P/locations/L/registries/R/devices[/D] (D may be NULL) */
void ctl_url_device(struct ctl_url *u, const struct ctl *c, const char *registry,
                    const char *device);
