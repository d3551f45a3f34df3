/* Settings from flags, environment and defaults (see settings.h). */
#include "cli/settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "cli/output.h"

static const char *pick(const struct ctl_args *a, enum ctl_opt o, const char *env,
                        const char *dflt)
{
    const char *v = ctl_args_get(a, o);

    if (!v)
        v = getenv(env);
    return v ? v : dflt;
}

/* The token goes into an HTTP header: printable ASCII without spaces, or it
 * could split or forge a header line. */
static int check_token(const char *tok, const char *from)
{
    for (const char *p = tok; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            ctl_error("%s: the token holds spaces or control bytes", from);
            return -EINVAL;
        }
    }
    return 0;
}

static int token_from_file(struct ctl *c, const struct ctl_args *a)
{
    const char *dir = pick(a, CTL_OPT_DATA_DIR, "IOTCORED_DATA_DIR", CTL_DEFAULT_DATA_DIR);
    char path[4096];
    struct buf b;
    size_t len;
    int rc, n;

    n = snprintf(path, sizeof(path), "%s/admin.token", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        ctl_error("--data-dir: path too long");
        return -ENAMETOOLONG;
    }
    rc = ctl_read_file("admin token", path, CTL_TOKEN_MAX - 1, &b);
    if (rc < 0) {
        fputs("  (pass --token, set IOTCORED_TOKEN, or point --data-dir or IOTCORED_DATA_DIR "
              "at the daemon's data_dir)\n", stderr);
        return rc;
    }
    len = b.len;
    /* The daemon writes the token with a trailing newline. */
    while (len > 0 && (b.data[len - 1] == '\n' || b.data[len - 1] == '\r' ||
                       b.data[len - 1] == ' ' || b.data[len - 1] == '\t'))
        len--;
    memcpy(c->token, b.data, len);
    c->token[len] = '\0';
    explicit_bzero(b.data, b.len);
    buf_free(&b);
    if (len == 0) {
        ctl_error("admin token: %s is empty", path);
        return -EINVAL;
    }
    return check_token(c->token, path);
}

int ctl_settings_resolve(struct ctl *c, const struct ctl_args *a)
{
    const char *fmt = ctl_args_get(a, CTL_OPT_FORMAT), *tok;

    c->endpoint = pick(a, CTL_OPT_ENDPOINT, "IOTCORED_ENDPOINT", CTL_DEFAULT_ENDPOINT);
    c->project = pick(a, CTL_OPT_PROJECT, "IOTCORED_PROJECT", NULL);
    c->region = pick(a, CTL_OPT_REGION, "IOTCORED_REGION", CTL_DEFAULT_REGION);
    c->ca_file = pick(a, CTL_OPT_CA_FILE, "IOTCORED_CA_FILE", NULL);
    if (!c->project || !*c->project) {
        ctl_error("no project: pass --project or set IOTCORED_PROJECT");
        return -EINVAL;
    }
    if (!*c->region) {
        ctl_error("--region: must not be empty");
        return -EINVAL;
    }
    if (!fmt || strcmp(fmt, "table") == 0) {
        c->format = CTL_FORMAT_TABLE;
    } else if (strcmp(fmt, "json") == 0) {
        c->format = CTL_FORMAT_JSON;
    } else {
        ctl_error("--format: \"%s\" is not one of: table json", fmt);
        return -EINVAL;
    }
    tok = pick(a, CTL_OPT_TOKEN, "IOTCORED_TOKEN", NULL);
    if (!tok || !*tok)
        return token_from_file(c, a);
    if (strlen(tok) >= sizeof(c->token)) {
        ctl_error("--token: longer than %d bytes", CTL_TOKEN_MAX - 1);
        return -EINVAL;
    }
    memcpy(c->token, tok, strlen(tok) + 1);
    return check_token(c->token, ctl_args_get(a, CTL_OPT_TOKEN) ? "--token" : "IOTCORED_TOKEN");
}
