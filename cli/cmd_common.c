/* What the iotcorectl verbs share: update masks, JSON building with one
 * out-of-memory path, and the choice between a script's JSON and a
 * person's table or status line (see cmd.h). */
#include "cli/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/input.h"
#include "cli/url.h"

/* Google's own pageSize ceiling (reference section 3); the server clamps. */
#define PAGE_SIZE_MAX 10000

void ctl_mask_add(struct ctl_mask *m, const char *field)
{
    size_t n = strlen(field), sep = m->len ? 1 : 0;

    if (m->err || n + sep >= sizeof(m->s) - m->len) {
        m->err = -ENAMETOOLONG;
        return;
    }
    if (sep)
        m->s[m->len++] = ',';
    memcpy(m->s + m->len, field, n + 1);
    m->len += n;
}

int ctl_oom(void)
{
    ctl_error("out of memory");
    return -ENOMEM;
}

int ctl_set(json_t *obj, const char *key, json_t *v)
{
    /* json_object_set_new consumes v even when it fails. */
    return !v || json_object_set_new(obj, key, v) < 0 ? ctl_oom() : 0;
}

int ctl_show(const struct ctl *c, json_t *reply, const char *fmt, ...)
{
    int rc = 0;

    if (c->format == CTL_FORMAT_JSON) {
        rc = ctl_print_json(reply);
    } else {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    json_decref(reply);
    return rc;
}

int ctl_show_list(const struct ctl *c, json_t *items, const struct ctl_col *cols, size_t n_cols)
{
    int rc;

    if (c->format == CTL_FORMAT_JSON)
        rc = ctl_print_json(items);
    else
        rc = ctl_print_table(cols, n_cols, items);
    json_decref(items);
    if (rc == -ENOMEM)
        ctl_error("out of memory");
    return rc;
}

int ctl_add_page_size(const struct ctl_args *a, struct ctl_url *u)
{
    const char *v = ctl_args_get(a, CTL_OPT_PAGE_SIZE);
    uint64_t n;

    if (!v)
        return 0;
    if (ctl_parse_uint("--page-size", v, 1, PAGE_SIZE_MAX, &n) < 0)
        return -EINVAL;
    ctl_url_query(u, "pageSize", v);
    return 0;
}

int ctl_describe(struct ctl *c, const struct ctl_url *u)
{
    json_t *reply = NULL;
    int rc = ctl_api_call(c, "GET", u, NULL, &reply);
    if (rc < 0)
        return rc;
    rc = ctl_print_json(reply);
    json_decref(reply);
    return rc;
}

int ctl_patch(struct ctl *c, struct ctl_url *u, const char *mask, const json_t *body,
              const char *kind, const char *id)
{
    json_t *reply = NULL;
    ctl_url_query(u, "updateMask", mask);
    int rc = ctl_api_call(c, "PATCH", u, body, &reply);
    if (rc == 0)
        rc = ctl_show(c, reply, "Updated %s [%s].", kind, id);
    return rc;
}
