/* iotcorectl devices import FILE: bulk import of registries and devices
 * from JSON lines in one request, for migrations and load tests. Each line
 * is one record: {"registry": {DeviceRegistry}} creates a registry,
 * {"registry": "ID", "device": {Device}} a device in it (the server's
 * :importDevices route; it applies the whole file in one transaction and
 * names a refused record by its line). The file is checked line by line
 * first, so a line that is not a JSON object is reported as FILE:LINE
 * before anything reaches the server, then streamed as the body (100k
 * devices need not fit in memory twice). */
#include "cli/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/api.h"

/* The admin route the import is sent to, appended to
 * /v1/projects/P/locations/L (webui/google_api_import.c). */
#define IMPORT_ROUTE ":importDevices"
#define IMPORT_CONTENT_TYPE "application/x-ndjson"

/* One record is a device with at most 3 credentials and 256 KiB of
 * metadata, or a registry with 10 CA certificates: 1 MiB per line is
 * ample and bounds the checker's buffer. */
#define LINE_MAX_BYTES (1024u * 1024)

/* Returns the number of records, or -EINVAL after printing FILE:LINE. */
static long long check_lines(FILE *f, const char *path)
{
    char *line = malloc(LINE_MAX_BYTES + 2);
    long long records = 0, lineno = 0;
    int rc = 0;

    if (!line)
        return ctl_oom();
    while (fgets(line, LINE_MAX_BYTES + 2, f)) {
        size_t len = strlen(line);
        json_error_t jerr;
        json_t *rec;

        lineno++;
        if (len > LINE_MAX_BYTES) {
            ctl_error("%s:%lld: line longer than %u bytes", path, lineno, LINE_MAX_BYTES);
            rc = -EINVAL;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        rec = json_loadb(line, len, 0, &jerr);
        if (!json_is_object(rec)) {
            ctl_error("%s:%lld: %s", path, lineno, rec ? "not a JSON object" : jerr.text);
            json_decref(rec);
            rc = -EINVAL;
            break;
        }
        json_decref(rec);
        records++;
    }
    if (rc == 0 && ferror(f)) {
        ctl_error("%s: read error", path);
        rc = -EIO;
    }
    free(line);
    return rc < 0 ? rc : records;
}

int ctl_devices_import(struct ctl *c, const struct ctl_args *a, const char *file)
{
    struct ctl_url u;
    struct stat st;
    json_t *reply = NULL;
    long long records;
    FILE *f;
    int rc;

    f = fopen(file, "rb");
    if (!f) {
        rc = -errno;
        ctl_error("devices import: cannot open %s: %s", file, strerror(-rc));
        return rc;
    }
    /* The length goes in Content-Length, so it must be a regular file. */
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        ctl_error("devices import: %s is not a regular file", file);
        rc = -EINVAL;
        goto out;
    }
    records = check_lines(f, file);
    if (records < 0) {
        rc = (int)records;
        goto out;
    }
    if (records == 0) {
        ctl_error("devices import: %s holds no records", file);
        rc = -EINVAL;
        goto out;
    }
    rewind(f);
    ctl_url_location(&u, c);
    ctl_url_lit(&u, IMPORT_ROUTE);
    rc = ctl_api_upload(c, &u, IMPORT_CONTENT_TYPE, f, (long long)st.st_size, &reply);
    if (rc < 0)
        goto out;
    if (c->format == CTL_FORMAT_TABLE && json_object_size(reply) > 0) {
        /* Whatever counts the server reports, shown as it sends them. */
        rc = ctl_print_json(reply);
        json_decref(reply);
        ctl_status("Imported %lld records from [%s].", records, file);
    } else {
        rc = ctl_show(c, reply, "Imported %lld records from [%s].", records, file);
    }
out:
    fclose(f);
    return rc;
}
