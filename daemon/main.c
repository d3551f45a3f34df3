/* iotcored: command line, then config -> data_dir -> store -> loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/cfg.h"
#include "daemon/loop.h"
#include "daemon/pki.h"
#include "db/db.h"
#include "iotcored-version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: iotcored [-c FILE] [--check-config] [--version]\n"
               "  -c, --config FILE   read FILE (libconfig); without it the embedded defaults\n"
               "  --check-config      validate the configuration and exit\n"
               "  --version           print the version and exit\n");
}

int main(int argc, char **argv)
{
    static struct cfg cfg;
    static struct pki_files pki;
    const char *path = NULL;
    bool check_only = false;
    char err[1024];

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0 || strcmp(argv[i], "-n") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("iotcored %s\n", IOTCORED_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    cfg_defaults(&cfg);
    if (path && cfg_load(path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    enum log_level lvl;
    if (log_level_from_string(cfg.log_level, &lvl) == 0)
        log_set_level(lvl);
    if (check_only) {
        printf("%s: configuration OK\n", path ? path : "(embedded defaults)");
        return 0;
    }
    /* A peer closing mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);

    log_info("iotcored %s starting (config %s)", IOTCORED_VERSION, path ? path : "embedded defaults");
    if (pki_prepare(&cfg, &pki, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return 1;
    }
    struct db *db = NULL;
    if (db_open_err(pki.db_path, &db, err, sizeof(err)) < 0) {
        log_err("store %s: %s", pki.db_path, err);
        return 1;
    }
    int rc = loop_run(&cfg, &pki, db);
    if (db_flush_marks(db) < 0)
        log_err("store: final flush failed: %s", db_last_error(db));
    db_close(db);
    explicit_bzero(&pki, sizeof(pki));
    return rc < 0 ? 1 : 0;
}
