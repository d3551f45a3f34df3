/* First-start material in data_dir (DESIGN.md "First start"): the directory
 * itself (0700), the development CA (ECDSA P-256, ca.pem + ca.key), the
 * server certificate for localhost and 127.0.0.1 signed by it (unless
 * tls.cert/key are configured), admin.token (unless admin.tokens is set)
 * and aws-credentials (unless admin.aws_keys is set). Keys and secrets are
 * written 0600, created atomically (temp file + rename), never logged; their
 * paths are. Existing files are kept and loaded. */
#pragma once
#include <stddef.h>

#include "daemon/cfg.h"

struct pki_files {
    char data_dir[CFG_STR];
    char db_path[CFG_STR + 32];         /* data_dir/registry.db */
    char ca_cert[CFG_STR + 32];         /* data_dir/ca.pem */
    char ca_key[CFG_STR + 32];
    char server_cert[CFG_STR + 32];     /* tls.cert or data_dir/server.pem */
    char server_key[CFG_STR + 32];
    char admin_token[128];              /* the generated token when admin.tokens is empty, else "" */
    char aws_key_id[64];                /* generated key when admin.aws_keys is empty, else "" */
    char aws_secret[128];
};

/* Creates what is missing, loads what exists. Returns 0, or a negative errno
 * with one line in err. Logs (info) the path of each file it created. */
int pki_prepare(const struct cfg *cfg, struct pki_files *ret, char *err, size_t err_len);
