/* libFuzzer target for the Device Shadow engine (registry/aws_shadow*).
 * The input is: one option byte (bit 0: a 64-byte size limit instead of
 * AWS's 8192; bit 1: Greengrass's /delta rule), then a stored state and a
 * request separated by the first NUL byte (no NUL: a fresh shadow and the
 * whole rest as the request). The stored state is loaded (and must then
 * dump and reload identically); when it is not a stored form it is applied
 * to a fresh shadow as a first update instead. The request is run as an update, a get and
 * a delete, and again as an update after the delete. Must never crash or
 * hang; abort() when an invariant fails: a refusal has a status, a message
 * and an error document and changes nothing; an accepted update bumps the
 * version by exactly 1, its documents parse, the stored form reloads, and
 * desired+reported respect the size limit; delete keeps the version. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/aws_shadow.h"
#include "fuzz_target.h"

#define NOW 1700000000

static bool parses_as_object(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    bool ok = json_is_object(j);

    json_decref(j);
    return ok;
}

/* The stored form of s (owned), which must reload to the same text. */
static char *dump_checked(const struct aws_shadow *s)
{
    struct aws_shadow *t = NULL;
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;

    if (aws_shadow_dump(s, &a, &alen) < 0)
        return NULL;
    int rc = aws_shadow_load(a, alen, &t);
    REQUIRE(rc == 0 || rc == -ENOMEM);
    if (rc == 0) {
        REQUIRE(aws_shadow_dump(t, &b, &blen) == 0 || !b);
        if (b)
            REQUIRE(blen == alen && memcmp(a, b, alen) == 0);
        REQUIRE(aws_shadow_version(t) == aws_shadow_version(s));
        REQUIRE(aws_shadow_exists(t) == aws_shadow_exists(s));
    }
    free(b);
    aws_shadow_free(t);
    return a;
}

/* Compact size of the stored desired+reported. */
static size_t state_size(const char *dump)
{
    json_t *j = json_loads(dump, 0, NULL);
    size_t n;

    REQUIRE(j);
    n = json_dumpb(json_object_get(j, "state"), NULL, 0, JSON_COMPACT);
    json_decref(j);
    return n;
}

static void check_reject(int rc, const struct aws_shadow_reject *rej)
{
    REQUIRE(rej->status >= 400 && rej->status < 500);
    REQUIRE(rej->message[0] != '\0');
    REQUIRE(parses_as_object(rej->doc));
    (void)rc;
}

static void run_update(struct aws_shadow *s, const char *req, size_t len,
                       const struct aws_shadow_opts *opts, size_t limit)
{
    struct aws_shadow_update_out out = { 0 };
    struct aws_shadow_reject rej = { 0 };
    uint64_t v = aws_shadow_version(s);
    bool existed = aws_shadow_exists(s);
    char *before = dump_checked(s);
    int rc = aws_shadow_update(s, req, len, NOW, opts, &out, &rej);

    REQUIRE(rc == 0 || rc == -EBADMSG || rc == -ESTALE || rc == -EMSGSIZE || rc == -ENOMEM ||
            rc == -EOVERFLOW);
    char *after = dump_checked(s);
    if (rc == 0) {
        REQUIRE(aws_shadow_version(s) == v + 1);
        REQUIRE(aws_shadow_exists(s));
        REQUIRE(parses_as_object(out.accepted));
        REQUIRE(parses_as_object(out.documents));
        REQUIRE(!out.delta || parses_as_object(out.delta));
        REQUIRE(rej.doc == NULL);
        if (after)
            REQUIRE(state_size(after) <= limit);
    } else {
        REQUIRE(aws_shadow_version(s) == v);
        REQUIRE(aws_shadow_exists(s) == existed);
        REQUIRE(!out.accepted && !out.documents && !out.delta);
        if (before && after)
            REQUIRE(strcmp(before, after) == 0);
        if (rc == -EBADMSG || rc == -ESTALE || rc == -EMSGSIZE)
            check_reject(rc, &rej);
        if (rc == -ESTALE)
            REQUIRE(rej.status == 409);
        if (rc == -EMSGSIZE)
            REQUIRE(rej.status == 413);
    }
    free(before);
    free(after);
    aws_shadow_update_out_clear(&out);
    aws_shadow_reject_clear(&rej);
}

static void run_get(const struct aws_shadow *s, const char *req, size_t len)
{
    struct aws_shadow_reject rej = { 0 };
    char *doc = NULL;
    int rc = aws_shadow_get(s, req, len, "thing", NOW, &doc, &rej);

    REQUIRE(rc == 0 || rc == -EBADMSG || rc == -ENOENT || rc == -ENOMEM);
    if (rc == 0)
        REQUIRE(aws_shadow_exists(s) && parses_as_object(doc));
    else if (rc != -ENOMEM)
        check_reject(rc, &rej);
    if (rc == -ENOENT)
        REQUIRE(!aws_shadow_exists(s) && rej.status == 404);
    free(doc);
    aws_shadow_reject_clear(&rej);
    /* An empty get always answers when the shadow exists. */
    rc = aws_shadow_get(s, "", 0, "thing", NOW, &doc, &rej);
    REQUIRE(rc == (aws_shadow_exists(s) ? 0 : -ENOENT) || rc == -ENOMEM);
    if (rc == 0)
        free(doc);
    aws_shadow_reject_clear(&rej);
}

static void run_delete(struct aws_shadow *s, const char *req, size_t len)
{
    struct aws_shadow_reject rej = { 0 };
    uint64_t v = aws_shadow_version(s);
    bool existed = aws_shadow_exists(s);
    char *doc = NULL;
    int rc = aws_shadow_delete(s, req, len, "thing", NOW, &doc, &rej);

    REQUIRE(rc == 0 || rc == -ENOENT || rc == -ENOMEM);
    REQUIRE(aws_shadow_version(s) == v);
    if (rc == 0) {
        REQUIRE(existed && !aws_shadow_exists(s) && parses_as_object(doc));
    } else if (rc == -ENOENT) {
        REQUIRE(!existed);
        check_reject(rc, &rej);
    }
    free(doc);
    aws_shadow_reject_clear(&rej);
    free(dump_checked(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aws_shadow_opts opts = { 0 };
    struct aws_shadow *s = NULL;
    const char *req;
    size_t req_len, limit;

    if (size < 1)
        return 0;
    opts.max_state_bytes = (data[0] & 1) ? 64 : 0;
    opts.delta_on_any_update = (data[0] & 2) != 0;
    limit = opts.max_state_bytes ? opts.max_state_bytes : AWS_SHADOW_MAX_STATE_BYTES;
    data++;
    size--;

    const uint8_t *nul = memchr(data, 0, size);
    const char *first = NULL;
    size_t first_len = 0;
    if (nul) {
        int rc = aws_shadow_load((const char *)data, (size_t)(nul - data), &s);
        REQUIRE(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
        if (rc != 0) {
            /* Not a stored form: an update that builds the state instead
             * (the fuzzer rarely finds parallel metadata by itself). */
            first = (const char *)data;
            first_len = (size_t)(nul - data);
        }
        req = (const char *)nul + 1;
        req_len = size - (size_t)(nul - data) - 1;
    } else {
        req = (const char *)data;
        req_len = size;
    }
    if (!s && aws_shadow_new(&s) < 0)
        return 0;
    free(dump_checked(s));
    if (first)
        run_update(s, first, first_len, NULL, AWS_SHADOW_MAX_STATE_BYTES);

    run_update(s, req, req_len, &opts, limit);
    run_get(s, req, req_len);
    run_delete(s, req, req_len);
    run_update(s, req, req_len, &opts, limit);
    run_get(s, req, req_len);
    aws_shadow_free(s);
    return 0;
}
