/* data_dir/ports.json: the one place the daemon tells tools and tests which
 * ports it actually bound, so a listener with port = 0 (ephemeral) is usable
 * without guessing. Written once all listeners are up; readers see the old
 * file or the whole new one (pki_write_atomic). */
#include "daemon/ports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/pki.h"

/* Appends to out with the first error sticking, checked once at the end. */
struct out {
    char *p;
    size_t cap, len;
    int err;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (n >= o->cap - o->len) {
        o->err = -EMSGSIZE;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* A JSON string. Listener names are already restricted by the config, but
 * this file is parsed by tools, so escape rather than trust. */
static void put_json_string(struct out *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char esc[2] = { '\\', (char)ch };
            put(o, esc, 2);
        } else if (ch < 0x20) {
            char esc[8];
            int n = snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put(o, esc, (size_t)n);
        } else {
            put(o, (const char *)&ch, 1);
        }
    }
    put(o, "\"", 1);
}

int ports_write(const char *data_dir, const struct ports_entry *entries, size_t n)
{
    /* CFG_MAX_LISTENERS entries of a 64-byte name fit many times over. */
    char text[8192], path[CFG_STR + 32], num[16];
    struct out o = { text, sizeof(text), 0, 0 };

    int m = snprintf(path, sizeof(path), "%s/ports.json", data_dir);
    if (m < 0 || (size_t)m >= sizeof(path))
        return -ENAMETOOLONG;
    put(&o, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (!entries[i].name || entries[i].port < 0 || entries[i].port > 65535)
            return -EINVAL;
        put(&o, i ? ", " : "", i ? 2 : 0);
        put_json_string(&o, entries[i].name);
        m = snprintf(num, sizeof(num), ": %d", entries[i].port);
        put(&o, num, (size_t)m);
    }
    put(&o, "}\n", 2);
    if (o.err)
        return o.err;
    return pki_write_atomic(path, text, o.len, 0644);
}
