/* Names and ids. Owns the character and length rules for everything a user
 * names (registries, devices, projects, locations) and the shape of a Google
 * MQTT client id. Google's rules are copied where they exist; iotcored adds
 * one departure: '+', '#' and '/' are refused in every name that becomes an
 * upstream MQTT topic level (DESIGN.md "Upstream topic namespace"), since a
 * topic name cannot carry them. Pure string code: no store, no logging. */
#include "registry/reg_names.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* Google's quota table gives 256 bytes for an id; the requirements page says
 * 3..255 characters. Both fit in struct reg_google_path's 256-byte fields. */
#define ID_MIN 3
#define ID_MAX 255
#define PROJECT_MAX 255

static bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static void set_why(const char **ret_why, const char *why) {
    if (ret_why)
        *ret_why = why;
}

/* Reason for a byte that is never allowed because it would break a topic
 * level, or NULL. Named separately so the 400 message says why. */
static const char *topic_byte_reason(unsigned char c) {
    switch (c) {
    case '+':
        return "must not contain '+' (MQTT topic wildcard)";
    case '#':
        return "must not contain '#' (MQTT topic wildcard)";
    case '/':
        return "must not contain '/' (MQTT topic level separator)";
    default:
        return NULL;
    }
}

int reg_name_check_id(const char *s, const char **ret_why) {
    if (!s) {
        set_why(ret_why, "is missing");
        return -EINVAL;
    }
    /* Bounded scan: a 1 MB string must not be walked to find out it is long. */
    size_t n = strnlen(s, ID_MAX + 1);
    if (n < ID_MIN) {
        set_why(ret_why, "must be at least 3 characters long");
        return -EINVAL;
    }
    if (n > ID_MAX) {
        set_why(ret_why, "must be at most 255 characters long");
        return -EINVAL;
    }
    if (!is_alpha((unsigned char)s[0])) {
        set_why(ret_why, "must start with a letter");
        return -EINVAL;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *topic = topic_byte_reason(c);
        if (topic) {
            set_why(ret_why, topic);
            return -EINVAL;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_' && c != '~' &&
            c != '%') {
            set_why(ret_why, "may contain only letters, digits and - . _ ~ %");
            return -EINVAL;
        }
    }
    /* Google reserves the prefix for itself, in any case. */
    if (strncasecmp(s, "goog", 4) == 0) {
        set_why(ret_why, "must not start with \"goog\"");
        return -EINVAL;
    }
    return 0;
}

/* Projects and locations are not created through this API (they come from
 * the URL), so the rule is permissive: Google project ids are
 * [a-z][a-z0-9-]{4,28}[a-z0-9], domain-scoped ones add "example.com:", and
 * emulator users pick names like "demo"; only what breaks a topic level or a
 * URL path is refused. */
static int check_path_name(const char *s, const char **ret_why) {
    if (!s || !s[0]) {
        set_why(ret_why, "must not be empty");
        return -EINVAL;
    }
    size_t n = strnlen(s, PROJECT_MAX + 1);
    if (n > PROJECT_MAX) {
        set_why(ret_why, "must be at most 255 characters long");
        return -EINVAL;
    }
    if (!is_alpha((unsigned char)s[0]) && !is_digit((unsigned char)s[0])) {
        set_why(ret_why, "must start with a letter or a digit");
        return -EINVAL;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *topic = topic_byte_reason(c);
        if (topic) {
            set_why(ret_why, topic);
            return -EINVAL;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_' && c != '~' &&
            c != ':' && c != '%') {
            set_why(ret_why, "may contain only letters, digits and - . _ ~ : %");
            return -EINVAL;
        }
    }
    return 0;
}

int reg_name_check_project(const char *s, const char **ret_why) {
    return check_path_name(s, ret_why);
}

int reg_name_check_location(const char *s, const char **ret_why) {
    return check_path_name(s, ret_why);
}

bool reg_google_client_id_is_google(const char *cid, size_t len) {
    static const char prefix[] = "projects/";
    return cid && len >= sizeof(prefix) - 1 && memcmp(cid, prefix, sizeof(prefix) - 1) == 0;
}

/* Copies the part that starts at *pos and ends before the next '/' (or at
 * end) into out; advances *pos past the '/'. The last part must end at end
 * and every other part must end at a '/'. */
static int take_part(const char *cid, size_t len, size_t *pos, bool last, char out[256]) {
    size_t start = *pos, i = start;
    while (i < len && cid[i] != '/')
        i++;
    size_t n = i - start;
    if (n == 0 || n > 255)
        return -EINVAL;
    if (last ? i != len : i == len)
        return -EINVAL;
    memcpy(out, cid + start, n);
    out[n] = '\0';
    *pos = last ? i : i + 1;
    return 0;
}

/* Matches the literal keyword followed by '/' at *pos. */
static int take_keyword(const char *cid, size_t len, size_t *pos, const char *kw) {
    size_t n = strlen(kw);
    if (len - *pos < n + 1 || memcmp(cid + *pos, kw, n) != 0 || cid[*pos + n] != '/')
        return -EINVAL;
    *pos += n + 1;
    return 0;
}

int reg_google_client_id_parse(const char *cid, size_t len, struct reg_google_path *ret) {
    if (!cid || !ret)
        return -EINVAL;
    /* A NUL would truncate the copies below and make two different client
     * ids name the same device. */
    if (memchr(cid, '\0', len))
        return -EINVAL;

    struct reg_google_path p;
    size_t pos = 0;
    if (take_keyword(cid, len, &pos, "projects") < 0 ||
        take_part(cid, len, &pos, false, p.project) < 0 ||
        take_keyword(cid, len, &pos, "locations") < 0 ||
        take_part(cid, len, &pos, false, p.location) < 0 ||
        take_keyword(cid, len, &pos, "registries") < 0 ||
        take_part(cid, len, &pos, false, p.registry) < 0 ||
        take_keyword(cid, len, &pos, "devices") < 0 ||
        take_part(cid, len, &pos, true, p.device) < 0)
        return -EINVAL;
    *ret = p;
    return 0;
}
