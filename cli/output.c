/* Tables, JSON and message lines for iotcorectl (see output.h). Cells are
 * made printable before they are measured, so a control byte in a value a
 * server sent can neither break the alignment nor reach the terminal. */
#include "cli/output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table cell longer than this is cut: ids are at most 255 bytes, and a
 * wider cell only makes the table unreadable. */
#define CELL_MAX 512

void ctl_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ERROR: (iotcorectl) ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void ctl_status(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ctl_print_json(const json_t *v)
{
    if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) < 0)
        return -EIO;
    return fputc('\n', stdout) == EOF ? -EIO : 0;
}

/* Follows "a.b.c" through nested objects. */
static const json_t *lookup(const json_t *item, const char *path)
{
    char part[128];

    while (item && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);

        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        item = json_object_get(item, part);
        path += n + (dot ? 1 : 0);
    }
    return item;
}

static void render(const struct ctl_col *col, const json_t *item, char *out, size_t cap)
{
    const json_t *v;

    out[0] = '\0';
    if (col->cell) {
        col->cell(item, out, cap);
    } else {
        v = lookup(item, col->key);
        if (json_is_string(v))
            snprintf(out, cap, "%s", json_string_value(v));
        else if (json_is_boolean(v))
            snprintf(out, cap, "%s", json_is_true(v) ? "True" : "False");
        else if (json_is_integer(v))
            snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(out, cap, "%g", json_real_value(v));
        else if (col->dflt)
            snprintf(out, cap, "%s", col->dflt);
    }
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int ctl_print_table(const struct ctl_col *cols, size_t n_cols, const json_t *items)
{
    size_t rows = json_array_size(items), *width;
    char **cells;
    int rc = 0;

    if (rows == 0) {
        ctl_status("Listed 0 items.");
        return 0;
    }
    width = calloc(n_cols, sizeof(*width));
    cells = calloc(rows * n_cols, sizeof(*cells));
    if (!width || !cells) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t c = 0; c < n_cols; c++)
        width[c] = strlen(cols[c].header);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < n_cols; c++) {
            char buf[CELL_MAX];
            size_t len;

            render(&cols[c], json_array_get(items, r), buf, sizeof(buf));
            len = strlen(buf);
            cells[r * n_cols + c] = malloc(len + 1);
            if (!cells[r * n_cols + c]) {
                rc = -ENOMEM;
                goto out;
            }
            memcpy(cells[r * n_cols + c], buf, len + 1);
            if (len > width[c])
                width[c] = len;
        }
    }
    /* Two spaces between columns and no padding after the last one: what
     * gcloud's table printer does, and what `awk` and `cut` expect. */
    for (size_t c = 0; c < n_cols; c++)
        printf("%-*s%s", c + 1 < n_cols ? (int)width[c] : 0, cols[c].header,
               c + 1 < n_cols ? "  " : "\n");
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < n_cols; c++)
            printf("%-*s%s", c + 1 < n_cols ? (int)width[c] : 0, cells[r * n_cols + c],
                   c + 1 < n_cols ? "  " : "\n");
    if (ferror(stdout))
        rc = -EIO;
out:
    if (cells)
        for (size_t i = 0; i < rows * n_cols; i++)
            free(cells[i]);
    free(cells);
    free(width);
    return rc;
}
