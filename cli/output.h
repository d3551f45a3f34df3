/* What iotcorectl prints: gcloud-style aligned tables and status lines for
 * people, the API's JSON for scripts, and one error line format,
 * "ERROR: (iotcorectl) ...", on stderr. */
#pragma once
#include <stddef.h>

#include <jansson.h>

/* "ERROR: (iotcorectl) <message>" on stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A status line for people ("Created device [d1].") on stderr, so stdout
 * stays clean for data. */
void ctl_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pretty-prints v (indent 2, key order kept) and a newline on stdout.
 * Returns 0 or -EIO. */
int ctl_print_json(const json_t *v);

/* One table column. The cell is the value at the dotted path `key` in the
 * item (strings as they are, booleans as True/False, integers in decimal),
 * `dflt` when absent; or, when `cell` is set, whatever it writes. */
struct ctl_col {
    const char *header;
    const char *key;
    const char *dflt;
    void (*cell)(const json_t *item, char *out, size_t cap);
};

/* Prints items (a JSON array of objects) as a table with a header row and
 * columns padded to their widest cell; "Listed 0 items." on stderr when the
 * array is empty, as gcloud does. Returns 0, -ENOMEM or -EIO. */
int ctl_print_table(const struct ctl_col *cols, size_t n_cols, const json_t *items);
