/* What every iotcorectl command shares: the resolved settings (endpoint,
 * token, project, region, output format) and the HTTP client, plus the
 * process exit codes a script can rely on. main.c owns the one instance. */
#pragma once
#include <stddef.h>

/* Exit codes: the documented contract for scripts. */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_API = 1,          /* the server answered with an error */
    CTL_EXIT_USAGE = 2,        /* bad arguments or unreadable local input */
    CTL_EXIT_CONNECT = 3,      /* no answer: refused, unresolvable, timed out, TLS */
};

enum ctl_format { CTL_FORMAT_TABLE, CTL_FORMAT_JSON };

/* An admin token is a short random string; 4 KiB is far above any we issue
 * and keeps the Authorization header bounded. */
#define CTL_TOKEN_MAX 4096

struct ctl_http;

struct ctl {
    const char *endpoint;          /* borrowed (argv or environ), no trailing '/' handling here */
    const char *project;           /* borrowed */
    const char *region;            /* borrowed */
    const char *ca_file;           /* borrowed, may be NULL */
    enum ctl_format format;
    char token[CTL_TOKEN_MAX];     /* owned copy, wiped before exit; "" = none */
    struct ctl_http *http;         /* owned */
};
