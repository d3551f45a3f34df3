/* Names and ids: Google's id rules, plus iotcored's refusal of '+', '#', '/'
 * in anything that becomes an MQTT topic level (DESIGN.md departure).
 * Pure string rules; no store access. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Registry and device ids: [a-zA-Z][-a-zA-Z0-9._+~%]{2,254}, not starting
 * with "goog" (any case), no '+' (topic wildcard: departure from Google).
 * Returns 0, or -EINVAL with *ret_why a static English reason. */
int reg_name_check_id(const char *s, const char **ret_why);
/* Project ids and locations: 1..255 chars of [a-zA-Z0-9._~:%-], first a
 * letter or digit; never '+', '#', '/'. */
int reg_name_check_project(const char *s, const char **ret_why);
int reg_name_check_location(const char *s, const char **ret_why);

/* The parts of a Google client id
 * "projects/P/locations/L/registries/R/devices/D", as NUL-terminated copies. */
struct reg_google_path {
    char project[256];
    char location[256];
    char registry[256];
    char device[256];
};
/* Returns 0, or -EINVAL if the client id does not have exactly that shape
 * (empty parts, extra slashes, parts over 255 bytes, or a NUL byte). */
int reg_google_client_id_parse(const char *cid, size_t len, struct reg_google_path *ret);
/* True when the client id starts with "projects/" (Google personality). */
bool reg_google_client_id_is_google(const char *cid, size_t len);
