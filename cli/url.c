/* Admin API request paths (see url.h). */
#include "cli/url.h"

#include <errno.h>
#include <string.h>

void ctl_url_init(struct ctl_url *u)
{
    u->len = 0;
    u->s[0] = '\0';
    u->has_query = false;
    u->err = 0;
}

static void put(struct ctl_url *u, const char *p, size_t n)
{
    if (u->err)
        return;
    if (n >= sizeof(u->s) - u->len) {
        u->err = -ENAMETOOLONG;
        return;
    }
    memcpy(u->s + u->len, p, n);
    u->len += n;
    u->s[u->len] = '\0';
}

static void put_encoded(struct ctl_url *u, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            put(u, s, 1);
        } else {
            char esc[3] = { '%', hex[ch >> 4], hex[ch & 15] };

            put(u, esc, sizeof(esc));
        }
    }
}

void ctl_url_lit(struct ctl_url *u, const char *s)
{
    put(u, s, strlen(s));
}

void ctl_url_seg(struct ctl_url *u, const char *s)
{
    put(u, "/", 1);
    put_encoded(u, s);
}

void ctl_url_query(struct ctl_url *u, const char *k, const char *v)
{
    put(u, u->has_query ? "&" : "?", 1);
    u->has_query = true;
    put_encoded(u, k);
    put(u, "=", 1);
    put_encoded(u, v);
}

void ctl_url_location(struct ctl_url *u, const struct ctl *c)
{
    ctl_url_init(u);
    ctl_url_lit(u, "/v1/projects");
    ctl_url_seg(u, c->project);
    ctl_url_lit(u, "/locations");
    ctl_url_seg(u, c->region);
}

void ctl_url_registry(struct ctl_url *u, const struct ctl *c, const char *registry)
{
    ctl_url_location(u, c);
    ctl_url_lit(u, "/registries");
    if (registry)
        ctl_url_seg(u, registry);
}

void ctl_url_device(struct ctl_url *u, const struct ctl *c, const char *registry,
                    const char *device)
{
    ctl_url_registry(u, c, registry);
    ctl_url_lit(u, "/devices");
    if (device)
        ctl_url_seg(u, device);
}
