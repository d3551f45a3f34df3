/* First-start material in data_dir (DESIGN.md "First start"): the directory
 * itself (0700), the development CA (ECDSA P-256, ca.pem + ca.key), the
 * server certificate for localhost and 127.0.0.1 signed by it (unless
 * tls.cert/key are configured), admin.token (unless admin.tokens is set)
 * and aws-credentials (unless admin.aws_keys is set). Keys and secrets are
 * written 0600, created atomically (temp file + rename), never logged; their
 * paths are. Existing files are kept and loaded. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

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
 * with one line in err (ret untouched). Logs (info) the path of each file it
 * created, (warn) key files or a data_dir readable by group or others. ret
 * holds secrets (admin_token, aws_secret): explicit_bzero it when done.
 * A generated server certificate is renewed when it no longer chains to
 * ca.pem, expires within 30 days, or does not name aws.endpoint. */
int pki_prepare(const struct cfg *cfg, struct pki_files *ret, char *err, size_t err_len);

/* Writes len bytes to path so that readers see the old file or the whole new
 * one, never a part: a temp file created O_EXCL 0600 in the same directory,
 * fchmod to mode, write, fsync, rename, fsync of the directory. A secret is
 * therefore never readable by others, not even for a moment. Returns 0 or a
 * negative errno; the temp file is removed on failure. */
int pki_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
