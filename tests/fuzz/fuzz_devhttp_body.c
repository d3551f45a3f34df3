/* libFuzzer target for what a device sends the HTTPS bridge
 * (bridges/http/devhttp_req.c): the first byte picks publishEvent body,
 * setState body, request path, getConfig query argument or Authorization
 * header; the rest is the peer's bytes. Must never crash or leak; abort()
 * when an accepted input breaks what the glue relies on: payloads within
 * Google's limits, subfolders that are safe topic levels, routes whose
 * client id parses back to the same names, and every refusal renderable as
 * a JSON envelope with a 4xx/5xx code. Every accepted base64 payload must
 * also survive a re-encode/decode round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridges/http/devhttp_req.h"
#include "common/b64.h"
#include "fuzz_target.h"

static void check_refusal(const struct devhttp_err *e)
{
    char *body = NULL;
    size_t len = 0;
    json_t *j;

    REQUIRE(memchr(e->msg, '\0', sizeof(e->msg)) != NULL);
    REQUIRE(e->http >= 400 && e->http <= 599);
    REQUIRE(devhttp_error_body(e, &body, &len) == 0);
    j = json_loadb(body, len, 0, NULL);
    REQUIRE(j != NULL);
    REQUIRE(json_integer_value(json_object_get(json_object_get(j, "error"), "code")) == e->http);
    json_decref(j);
    free(body);
}

static void check_round_trip(const uint8_t *p, size_t n)
{
    size_t elen = b64_encoded_len(n), back_len = 0;
    char *enc = malloc(elen + 1);
    uint8_t *back = malloc(n ? n : 1);

    REQUIRE(enc && back);
    REQUIRE(b64_encode(p, n, enc, elen + 1) == 0);
    REQUIRE(b64_decode(enc, elen, back, n, &back_len) == 0);
    REQUIRE(back_len == n && memcmp(back, p, n) == 0);
    free(enc);
    free(back);
}

static void fuzz_event(const char *body, size_t len)
{
    struct devhttp_event ev;
    struct devhttp_err e;
    struct devhttp_ident id = {
        .google_prefix = "google/", .pubsub_prefix = "pubsub/", .project = "p",
        .location = "l", .registry = "r", .device = "d", .routes = NULL,
    };
    char topic[1400];

    memset(&e, 0, sizeof(e));
    if (devhttp_parse_event(body, len, &ev, &e) < 0) {
        check_refusal(&e);
        return;
    }
    REQUIRE(ev.data != NULL && ev.len <= DEVHTTP_MAX_EVENT);
    if (ev.subfolder) {
        size_t sl = strlen(ev.subfolder);
        REQUIRE(sl > 0 && sl <= DEVHTTP_MAX_SUBFOLDER);
        REQUIRE(strpbrk(ev.subfolder, "+#") == NULL);
    }
    REQUIRE(devhttp_event_topic(&id, ev.subfolder, topic, sizeof(topic)) > 0);
    check_round_trip(ev.data, ev.len);
    devhttp_event_clear(&ev);
}

static void fuzz_state(const char *body, size_t len)
{
    struct devhttp_state st;
    struct devhttp_err e;

    memset(&e, 0, sizeof(e));
    if (devhttp_parse_state(body, len, &st, &e) < 0) {
        check_refusal(&e);
        return;
    }
    REQUIRE(st.data != NULL && st.len <= DEVHTTP_MAX_STATE);
    check_round_trip(st.data, st.len);
    devhttp_state_clear(&st);
}

static void fuzz_path(const char *path, size_t len)
{
    struct devhttp_target t;
    struct reg_google_path back;

    if (devhttp_parse_path(path, len, &t) < 0)
        return;
    REQUIRE(t.route >= DEVHTTP_ROUTE_PUBLISH_EVENT && t.route <= DEVHTTP_ROUTE_GET_CONFIG);
    REQUIRE(t.client_id_len == strlen(t.client_id));
    /* The glue authenticates with this string: it must name the same
     * device the path did, or be refused as malformed. */
    if (reg_google_client_id_parse(t.client_id, t.client_id_len, &back) == 0) {
        REQUIRE(strcmp(back.project, t.names.project) == 0);
        REQUIRE(strcmp(back.location, t.names.location) == 0);
        REQUIRE(strcmp(back.registry, t.names.registry) == 0);
        REQUIRE(strcmp(back.device, t.names.device) == 0);
    }
}

static void fuzz_query(const char *arg, size_t len)
{
    struct devhttp_config_query q;
    struct devhttp_err e;

    memset(&q, 0, sizeof(q));
    memset(&e, 0, sizeof(e));
    if (devhttp_config_query_add(&q, arg, len, &e) < 0) {
        check_refusal(&e);
        return;
    }
    REQUIRE(q.local_version >= 0);
    if (devhttp_config_check(q.local_version, 1, &e) < 0)
        check_refusal(&e);
}

static void fuzz_bearer(const char *hdr, size_t len)
{
    const char *tok = NULL;
    size_t n = 0;

    if (devhttp_bearer(hdr, len, &tok, &n) < 0)
        return;
    REQUIRE(n > 0 && tok >= hdr && tok + n <= hdr + len);
    REQUIRE(tok[0] != ' ' && tok[n - 1] != ' ');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0: fuzz_event(text, len); break;
    case 1: fuzz_state(text, len); break;
    case 2: fuzz_path(text, len); break;
    case 3: fuzz_query(text, len); break;
    default: fuzz_bearer(text, len); break;
    }
    return 0;
}
