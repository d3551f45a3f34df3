/* libFuzzer target for SigV4 verification (webui/sigv4.c). The input is a
 * request in lines: the Authorization header value (an empty line: none),
 * the wire path, the query ("a=b&c", taken as decoded arguments), then
 * "name: value" headers up to an empty line, then the body. It is verified
 * against one fixed key at the AWS test suite's time (20150830T123600Z),
 * so corpus entries built from the suite reach the signature check. Must
 * never crash; abort() when the verdict breaks an invariant: an answer
 * outside the enum, a message not NUL-terminated in its buffer, a success
 * with a message or without the key's id, or a different verdict when
 * info and msg are left out. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webui/sigv4.h"
#include "fuzz_target.h"

#define FUZZ_NOW 1440938160
#define MAX_ARGS 64
#define MAX_HDRS 32

struct hdrs {
    const char *name[MAX_HDRS], *value[MAX_HDRS];
    size_t n;
};

static const char *get_header(void *ud, const char *lower)
{
    const struct hdrs *h = ud;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->name[i], lower) == 0)
            return h->value[i];
    return NULL;
}

/* Cuts the next line off *p (NUL in place of '\n'); NULL at the end. */
static char *next_line(char **p, char *end)
{
    char *s = *p, *nl;

    if (s >= end)
        return NULL;
    nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        nl = end;
    *nl = '\0';
    *p = nl + 1;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sigv4_key key = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
    struct sigv4_param args[MAX_ARGS];
    struct hdrs h = { .n = 0 };
    struct sigv4_info info;
    char msg[256], enc[64];
    char *buf = malloc(size + 1), *p, *end, *line;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    p = buf;
    end = buf + size;

    const char *auth = next_line(&p, end);
    const char *path = next_line(&p, end);
    char *query = next_line(&p, end);
    size_t n_args = 0;
    for (char *q = query; q && *q && n_args < MAX_ARGS; ) {
        char *amp = strchr(q, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq)
            *eq = '\0';
        args[n_args].name = q;
        args[n_args].value = eq ? eq + 1 : "";
        n_args++;
        q = amp ? amp + 1 : NULL;
    }
    if (auth && *auth) {
        h.name[h.n] = "authorization";
        h.value[h.n++] = auth;
    }
    while ((line = next_line(&p, end)) && *line && h.n < MAX_HDRS) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (char *c = line; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        h.name[h.n] = line;
        h.value[h.n++] = colon[1] == ' ' ? colon + 2 : colon + 1;
    }
    const uint8_t *body = p < end ? (const uint8_t *)p : NULL;
    size_t body_len = p < end ? (size_t)(end - p) : 0;

    struct sigv4_request r = {
        .method = "GET", .wire_path = path ? path : "", .params = args, .n_params = n_args,
        .header = get_header, .header_ud = &h, .body = body, .body_len = body_len,
    };
    if (body_len)
        r.method = "POST";
    memset(msg, 'x', sizeof(msg));
    enum sigv4_result res = sigv4_verify(&r, &key, 1, FUZZ_NOW, &info, msg, sizeof(msg));
#ifdef FUZZ_SIGV4_PRINT
    fprintf(stderr, "result=%d %s\n", (int)res, msg);
#endif
    REQUIRE(res <= SIGV4_EXPIRED);
    REQUIRE(memchr(msg, '\0', sizeof(msg)) != NULL);
    REQUIRE(memchr(info.access_key, '\0', sizeof(info.access_key)) != NULL);
    REQUIRE(memchr(info.region, '\0', sizeof(info.region)) != NULL);
    REQUIRE(sigv4_result_type(res) != NULL);
    if (res == SIGV4_OK) {
        REQUIRE(msg[0] == '\0');
        REQUIRE(strcmp(info.access_key, "AKIDEXAMPLE") == 0);
    } else {
        REQUIRE(msg[0] != '\0');
        REQUIRE(sigv4_result_status(res) == 403);
    }
    REQUIRE(sigv4_verify(&r, &key, 1, FUZZ_NOW, NULL, NULL, 0) == res);
    /* Without the key nothing verifies. */
    REQUIRE(sigv4_verify(&r, NULL, 0, FUZZ_NOW, NULL, NULL, 0) != SIGV4_OK);

    /* The encoder stays in its buffer and agrees on its length. */
    int n = sigv4_uri_encode((const char *)data, size, size & 1, enc, sizeof(enc));
    REQUIRE(n == -ENOSPC || (n >= 0 && (size_t)n < sizeof(enc) && enc[n] == '\0'));
    free(buf);
    return 0;
}
