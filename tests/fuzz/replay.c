/* Replays a libFuzzer corpus without libFuzzer: runs LLVMFuzzerTestOneInput
 * over every regular file of the directories (or files) named on the command
 * line, so the meson "fuzz" suite keeps every crash ever found as a
 * regression test even when built with gcc. A crash aborts the process, which
 * fails the test. An empty or missing corpus is an error: it would make the
 * test pass without testing anything. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *d = realloc(data, ncap);
            if (!d) {
                free(data);
                fclose(f);
                return -ENOMEM;
            }
            data = d;
            cap = ncap;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(data);
        fclose(f);
        return -EIO;
    }
    fclose(f);
    /* libFuzzer hands over an exact-size copy; do the same so ASan sees
     * reads past the end of the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -ENOMEM;
    }
    if (len)
        memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int run_path(const char *path, size_t *count)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        r = run_file(path);
        if (r == 0)
            (*count)++;
        return r;
    }
    d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    while ((de = readdir(d))) {
        char full[4096];
        int n;

        if (de->d_name[0] == '.')
            continue;
        n = snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(full)) {
            r = -ENAMETOOLONG;
            break;
        }
        if (stat(full, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        r = run_file(full);
        if (r < 0)
            break;
        (*count)++;
    }
    closedir(d);
    return r;
}

int main(int argc, char **argv)
{
    size_t count = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &count) < 0)
            return 1;
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replayed %zu inputs\n", count);
    return 0;
}
