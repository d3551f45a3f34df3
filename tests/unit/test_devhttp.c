/* The device HTTPS bridge's pure half (bridges/http/devhttp_req.c) and the
 * base64 it relies on (common/b64.c): routes from paths, Bearer headers,
 * the publishEvent / setState bodies in both spellings and both base64
 * alphabets, gatewayInfo (body and query), Google's limits, the getConfig
 * query and reply, the error
 * envelope, upstream topics with and without notification configs, the
 * per-device state rate, and AWS's HTTPS publish (bridges/http/devhttp_aws.c:
 * route, query, topic rules, refusals, answers). No sockets, no store. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/http/devhttp_aws.h"
#include "bridges/http/devhttp_req.h"
#include "common/b64.h"
#include "testutil.h"

static const char dev_base[] = "/v1/projects/proj-1/locations/us-central1/registries/reg-1/devices/";

/* ---- base64 ---- */

static int dec(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    return b64_decode(s, strlen(s), out, cap, n);
}

static void test_b64(void)
{
    static const struct { const char *plain, *enc; } rfc4648[] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    char enc[64];
    uint8_t out[64], all[256];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        size_t pl = strlen(rfc4648[i].plain);
        CHECK_EQ(b64_encode(rfc4648[i].plain, pl, enc, sizeof(enc)), 0);
        CHECK_STR(enc, rfc4648[i].enc);
        CHECK_EQ(b64_encoded_len(pl), strlen(rfc4648[i].enc));
        CHECK_EQ(dec(rfc4648[i].enc, out, sizeof(out), &n), 0);
        CHECK(n == pl && memcmp(out, rfc4648[i].plain, pl) == 0);
        CHECK_EQ(b64_decoded_len(rfc4648[i].enc, strlen(rfc4648[i].enc)), pl);
    }
    /* Unpadded, as Google's Python sample's JWTs and some clients send. */
    CHECK_EQ(dec("Zg", out, sizeof(out), &n), 0);
    CHECK(n == 1 && out[0] == 'f');
    CHECK_EQ(dec("Zm9vYmE", out, sizeof(out), &n), 0);
    CHECK(n == 5 && memcmp(out, "fooba", 5) == 0);
    /* URL-safe and standard alphabets decode alike. */
    CHECK_EQ(dec("-_-_", out, sizeof(out), &n), 0);
    CHECK(n == 3 && out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
    CHECK_EQ(dec("+/+/", out, sizeof(out), &n), 0);
    CHECK(n == 3 && out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
    /* Malformed: a lone sextet, misplaced or excess padding, whitespace,
     * other characters. */
    n = 99;
    CHECK_EQ(dec("Z", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(n, 99);
    CHECK_EQ(dec("Zg=", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Z===", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Zm9v=", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Zg=a", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Zm9v\nYmFy", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Zm9 ", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("Zm9*", out, sizeof(out), &n), -EBADMSG);
    CHECK_EQ(dec("=", out, sizeof(out), &n), -EBADMSG);
    /* Room: exactly enough, then one byte short. */
    CHECK_EQ(dec("Zm9vYmFy", out, 6, &n), 0);
    CHECK_EQ(dec("Zm9vYmFy", out, 5, &n), -EMSGSIZE);
    CHECK_EQ(dec("", NULL, 0, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(b64_encode("foo", 3, enc, 4), -ENOSPC);
    CHECK_EQ(b64_encode("foo", 3, enc, 5), 0);
    /* Every byte value, both alphabets. */
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (uint8_t)i;
    char big[400];
    uint8_t back[256];
    CHECK_EQ(b64_encode(all, sizeof(all), big, sizeof(big)), 0);
    CHECK_EQ(b64_decode(big, strlen(big), back, sizeof(back), &n), 0);
    CHECK(n == 256 && memcmp(back, all, 256) == 0);
    for (char *p = big; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    while (big[strlen(big) - 1] == '=')
        big[strlen(big) - 1] = '\0';
    CHECK_EQ(b64_decode(big, strlen(big), back, sizeof(back), &n), 0);
    CHECK(n == 256 && memcmp(back, all, 256) == 0);
}

/* ---- routes ---- */

static int route(const char *tail, struct devhttp_target *t)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s%s", dev_base, tail);
    memset(t, 0x5a, sizeof(*t));
    return devhttp_parse_path(path, strlen(path), t);
}

static int raw_route(const char *path)
{
    struct devhttp_target t;
    return devhttp_parse_path(path, strlen(path), &t);
}

static void test_paths(void)
{
    struct devhttp_target t;
    char longid[300], tail[400];

    CHECK_EQ(route("dev-1:publishEvent", &t), 0);
    CHECK_EQ(t.route, DEVHTTP_ROUTE_PUBLISH_EVENT);
    CHECK_STR(t.names.project, "proj-1");
    CHECK_STR(t.names.location, "us-central1");
    CHECK_STR(t.names.registry, "reg-1");
    CHECK_STR(t.names.device, "dev-1");
    CHECK_STR(t.client_id, "projects/proj-1/locations/us-central1/registries/reg-1/devices/dev-1");
    CHECK_EQ(t.client_id_len, strlen(t.client_id));
    CHECK_EQ(route("dev-1:setState", &t), 0);
    CHECK_EQ(t.route, DEVHTTP_ROUTE_SET_STATE);
    CHECK_EQ(route("dev-1/config", &t), 0);
    CHECK_EQ(t.route, DEVHTTP_ROUTE_GET_CONFIG);
    CHECK_STR(t.names.device, "dev-1");
    /* The numeric id is a device name too; the store resolves it. */
    CHECK_EQ(route("2820948765364765:publishEvent", &t), 0);
    CHECK_STR(t.names.device, "2820948765364765");
    /* Domain-scoped projects carry ':' ("example.com:proj"). */
    CHECK_EQ(raw_route("/v1/projects/example.com:p/locations/l/registries/r/devices/d:setState"), 0);

    CHECK_STR(devhttp_route_method(DEVHTTP_ROUTE_PUBLISH_EVENT), "POST");
    CHECK_STR(devhttp_route_method(DEVHTTP_ROUTE_SET_STATE), "POST");
    CHECK_STR(devhttp_route_method(DEVHTTP_ROUTE_GET_CONFIG), "GET");
    CHECK_STR(devhttp_route_name(DEVHTTP_ROUTE_GET_CONFIG), "getConfig");

    /* Not routes. */
    CHECK_EQ(route("dev-1", &t), -ENOENT);
    CHECK_EQ(route("dev-1:", &t), -ENOENT);
    CHECK_EQ(route(":publishEvent", &t), -ENOENT);
    CHECK_EQ(route("dev-1:sendCommand", &t), -ENOENT);
    CHECK_EQ(route("dev-1:publishevent", &t), -ENOENT);
    CHECK_EQ(route("dev-1:publishEvent/", &t), -ENOENT);
    CHECK_EQ(route("dev-1:publishEvent/x", &t), -ENOENT);
    CHECK_EQ(route("dev-1/config/", &t), -ENOENT);
    CHECK_EQ(route("dev-1/config/x", &t), -ENOENT);
    CHECK_EQ(route("dev-1/configs", &t), -ENOENT);
    CHECK_EQ(route("dev-1/state", &t), -ENOENT);
    CHECK_EQ(route("/config", &t), -ENOENT);
    CHECK_EQ(route("", &t), -ENOENT);
    CHECK_EQ(raw_route(""), -ENOENT);
    CHECK_EQ(raw_route("/"), -ENOENT);
    CHECK_EQ(raw_route("/v1/"), -ENOENT);
    CHECK_EQ(raw_route("/v2/projects/p/locations/l/registries/r/devices/d:setState"), -ENOENT);
    CHECK_EQ(raw_route("/v1/project/p/locations/l/registries/r/devices/d:setState"), -ENOENT);
    CHECK_EQ(raw_route("/v1/projects/p/locations/l/registries/r/device/d:setState"), -ENOENT);
    CHECK_EQ(raw_route("/v1/projects//locations/l/registries/r/devices/d:setState"), -ENOENT);
    CHECK_EQ(raw_route("/v1/projects/p/locations/l/registries/r/devices/d:setState?x"), -ENOENT);
    CHECK_EQ(raw_route("/v1/projects/p/locations/l/registries/r:setState"), -ENOENT);
    CHECK_EQ(raw_route("v1/projects/p/locations/l/registries/r/devices/d:setState"), -ENOENT);
    /* Ids: 255 bytes fit, 256 do not; no NUL inside. */
    memset(longid, 'a', 255);
    longid[255] = '\0';
    snprintf(tail, sizeof(tail), "%s/config", longid);
    CHECK_EQ(route(tail, &t), 0);
    memset(longid, 'a', 256);
    longid[256] = '\0';
    snprintf(tail, sizeof(tail), "%s/config", longid);
    CHECK_EQ(route(tail, &t), -ENOENT);
    static const char with_nul[] = "/v1/projects/p/locations/l/registries/r/devices/d\0x:setState";
    CHECK_EQ(devhttp_parse_path(with_nul, sizeof(with_nul) - 1, &t), -ENOENT);
    /* ret untouched on failure. */
    memset(&t, 0x5a, sizeof(t));
    CHECK_EQ(raw_route("/nope"), -ENOENT);
    CHECK_EQ(((unsigned char *)&t)[0], 0x5a);
}

/* ---- Authorization ---- */

static int bearer(const char *h, char *out, size_t cap)
{
    const char *tok = NULL;
    size_t n = 0;
    int rc = devhttp_bearer(h, strlen(h), &tok, &n);
    if (rc == 0)
        snprintf(out, cap, "%.*s", (int)n, tok);
    return rc;
}

static void test_bearer(void)
{
    char tok[64];

    CHECK_EQ(bearer("Bearer abc.def.ghi", tok, sizeof(tok)), 0);
    CHECK_STR(tok, "abc.def.ghi");
    CHECK_EQ(bearer("bearer   abc  ", tok, sizeof(tok)), 0);
    CHECK_STR(tok, "abc");
    CHECK_EQ(bearer("BEARER\tx", tok, sizeof(tok)), 0);
    CHECK_STR(tok, "x");
    CHECK_EQ(bearer("  Bearer y", tok, sizeof(tok)), 0);
    CHECK_STR(tok, "y");
    CHECK_EQ(bearer("Basic dXNlcjpwYXNz", tok, sizeof(tok)), -ENOENT);
    CHECK_EQ(bearer("Bearer", tok, sizeof(tok)), -ENOENT);
    CHECK_EQ(bearer("Bearer    ", tok, sizeof(tok)), -ENOENT);
    CHECK_EQ(bearer("Bearerabc", tok, sizeof(tok)), -ENOENT);
    CHECK_EQ(bearer("", tok, sizeof(tok)), -ENOENT);

    struct devhttp_err e;
    /* Every token or device problem looks the same from outside. */
    static const enum reg_auth_reason denied[] = {
        REG_AUTH_NOT_JWT, REG_AUTH_BAD_SIGNATURE, REG_AUTH_AUD, REG_AUTH_EXPIRED,
        REG_AUTH_UNKNOWN_DEVICE, REG_AUTH_BLOCKED, REG_AUTH_CREDENTIAL_EXPIRED,
        REG_AUTH_BAD_CLIENT_ID, REG_AUTH_ALG_MISMATCH,
    };
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        devhttp_auth_refusal(denied[i], &e);
        CHECK_EQ(e.http, 403);
        CHECK_EQ(e.status, DEVHTTP_G_PERMISSION_DENIED);
        CHECK_STR(e.msg, "The caller does not have permission");
    }
    devhttp_auth_refusal(REG_AUTH_STORE_ERROR, &e);
    CHECK_EQ(e.http, 503);
    CHECK_EQ(e.status, DEVHTTP_G_UNAVAILABLE);
}

/* ---- bodies ---- */

static int event(const char *body, struct devhttp_event *ev, struct devhttp_err *e)
{
    memset(ev, 0, sizeof(*ev));
    memset(e, 0, sizeof(*e));
    return devhttp_parse_event(body, strlen(body), ev, e);
}

static int state(const char *body, struct devhttp_state *st, struct devhttp_err *e)
{
    memset(st, 0, sizeof(*st));
    memset(e, 0, sizeof(*e));
    return devhttp_parse_state(body, strlen(body), st, e);
}

/* head, then n bytes of 'x' base64-encoded, then tail. */
static char *body_with_payload(const char *head, size_t n, const char *tail)
{
    uint8_t *raw = malloc(n ? n : 1);
    size_t elen = b64_encoded_len(n);
    char *b64 = malloc(elen + 1);
    char *body = malloc(elen + 128);
    if (!raw || !b64 || !body)
        abort();
    memset(raw, 'x', n);
    if (b64_encode(raw, n, b64, elen + 1) < 0)
        abort();
    snprintf(body, elen + 128, "%s%s%s", head, b64, tail);
    free(raw);
    free(b64);
    return body;
}

static void test_event_body(void)
{
    struct devhttp_event ev;
    struct devhttp_err e;
    char *big;

    CHECK_EQ(event("{\"binaryData\":\"aGVsbG8=\"}", &ev, &e), 0);
    CHECK(ev.len == 5 && memcmp(ev.data, "hello", 5) == 0);
    CHECK(ev.subfolder == NULL);
    devhttp_event_clear(&ev);
    /* The Python sample: snake_case and URL-safe, unpadded. */
    CHECK_EQ(event("{\"binary_data\":\"-_8\",\"sub_folder\":\"a/b\"}", &ev, &e), 0);
    CHECK(ev.len == 2 && ev.data[0] == 0xfb && ev.data[1] == 0xff);
    CHECK_STR(ev.subfolder, "a/b");
    devhttp_event_clear(&ev);
    CHECK_EQ(event("{\"subFolder\":\"x\",\"binaryData\":\"\"}", &ev, &e), 0);
    CHECK(ev.len == 0 && ev.data != NULL);
    CHECK_STR(ev.subfolder, "x");
    devhttp_event_clear(&ev);
    /* Absent or null payload is an empty one (proto3); "" subfolder is none. */
    CHECK_EQ(event("{}", &ev, &e), 0);
    CHECK(ev.len == 0 && ev.data != NULL && ev.subfolder == NULL);
    devhttp_event_clear(&ev);
    CHECK_EQ(event("{\"binaryData\":null,\"subFolder\":\"\",\"gatewayInfo\":{}}", &ev, &e), 0);
    CHECK(ev.len == 0 && ev.subfolder == NULL);
    CHECK_EQ(ev.gateway.via, DEVHTTP_VIA_NONE);
    devhttp_event_clear(&ev);
    CHECK_EQ(event("{\"gateway_info\":null}", &ev, &e), 0);
    devhttp_event_clear(&ev);

    /* Refusals, each with Google's status. */
    CHECK_EQ(event("", &ev, &e), -EBADMSG);
    CHECK_EQ(e.http, 400);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    CHECK(strstr(e.msg, "Invalid JSON payload received.") == e.msg);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\"", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\"} x", &ev, &e), -EBADMSG);
    CHECK_EQ(event("[\"aGk=\"]", &ev, &e), -EBADMSG);
    CHECK_EQ(event("\"aGk=\"", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\",\"binaryData\":\"aGk=\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\",\"binary_data\":\"aGk=\"}", &ev, &e), -EBADMSG);
    CHECK(strstr(e.msg, "binary_data") != NULL);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\",\"payload\":1}", &ev, &e), -EBADMSG);
    CHECK(strstr(e.msg, "Unknown name \"payload\"") != NULL);
    CHECK_EQ(event("{\"binaryData\":5}", &ev, &e), -EBADMSG);
    CHECK(strstr(e.msg, "binary_data") != NULL);
    CHECK_EQ(event("{\"binaryData\":\"a\"}", &ev, &e), -EBADMSG);
    CHECK(strstr(e.msg, "Base64") != NULL);
    CHECK_EQ(event("{\"binaryData\":\"aGk*\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"binaryData\":\"aGk=\",\"subFolder\":5}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"subFolder\":\"a/+\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"subFolder\":\"a/#\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"subFolder\":\"a\\u0001\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"subFolder\":\"a\\u0000b\"}", &ev, &e), -EBADMSG);
    CHECK_EQ(event("{\"gatewayInfo\":\"gw\"}", &ev, &e), -EBADMSG);
    /* An unknown name is quoted, cut on a UTF-8 boundary. */
    char name[200];
    size_t w = 0;
    name[w++] = '{';
    name[w++] = '"';
    for (int i = 0; i < 40; i++) {
        name[w++] = '\xc3';
        name[w++] = '\xa9';
    }
    memcpy(name + w, "\":1}", 5);
    CHECK_EQ(event(name, &ev, &e), -EBADMSG);
    {
        char *eb = NULL;
        size_t el = 0;
        CHECK_EQ(devhttp_error_body(&e, &eb, &el), 0);
        json_t *j = json_loadb(eb, el, 0, NULL);
        CHECK(j != NULL);
        CHECK(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     "\xc3\xa9") != NULL);
        json_decref(j);
        free(eb);
    }

    /* Subfolder: 256 bytes fit, 257 do not. */
    char sub[400];
    memset(sub, 's', 256);
    sub[256] = '\0';
    char body[600];
    snprintf(body, sizeof(body), "{\"subFolder\":\"%s\"}", sub);
    CHECK_EQ(event(body, &ev, &e), 0);
    CHECK_EQ(strlen(ev.subfolder), 256);
    devhttp_event_clear(&ev);
    sub[256] = 's';
    sub[257] = '\0';
    snprintf(body, sizeof(body), "{\"subFolder\":\"%s\"}", sub);
    CHECK_EQ(event(body, &ev, &e), -EBADMSG);

    /* Google's 256 KiB telemetry limit applies after decoding. */
    big = body_with_payload("{\"binaryData\":\"", DEVHTTP_MAX_EVENT, "\"}");
    CHECK_EQ(event(big, &ev, &e), 0);
    CHECK_EQ(ev.len, DEVHTTP_MAX_EVENT);
    devhttp_event_clear(&ev);
    free(big);
    big = body_with_payload("{\"binaryData\":\"", DEVHTTP_MAX_EVENT + 1, "\"}");
    CHECK_EQ(event(big, &ev, &e), -EMSGSIZE);
    CHECK_EQ(e.http, 400);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    CHECK(strstr(e.msg, "exceeds the limit") != NULL);
    CHECK(ev.data == NULL);
    free(big);
    devhttp_event_clear(NULL);
}

static void test_state_body(void)
{
    struct devhttp_state st;
    struct devhttp_err e;
    char *big;

    CHECK_EQ(state("{\"state\":{\"binaryData\":\"b24=\"}}", &st, &e), 0);
    CHECK(st.len == 2 && memcmp(st.data, "on", 2) == 0);
    devhttp_state_clear(&st);
    CHECK_EQ(state("{\"state\":{\"binary_data\":\"b24\"}}", &st, &e), 0);
    CHECK(st.len == 2 && memcmp(st.data, "on", 2) == 0);
    devhttp_state_clear(&st);
    CHECK_EQ(state("{\"state\":{}}", &st, &e), 0);
    CHECK(st.len == 0 && st.data != NULL);
    devhttp_state_clear(&st);

    CHECK_EQ(state("{}", &st, &e), -EBADMSG);
    CHECK(strstr(e.msg, "'state' is required") != NULL);
    CHECK_EQ(state("{\"state\":null}", &st, &e), -EBADMSG);
    CHECK_EQ(state("{\"state\":\"b24=\"}", &st, &e), -EBADMSG);
    CHECK_EQ(state("{\"binaryData\":\"b24=\"}", &st, &e), -EBADMSG);
    CHECK_EQ(state("{\"state\":{\"binaryData\":\"b24=\",\"version\":1}}", &st, &e), -EBADMSG);
    CHECK(strstr(e.msg, "at 'state'") != NULL);
    CHECK_EQ(state("{\"state\":{\"binaryData\":\"b\"}}", &st, &e), -EBADMSG);

    /* Google's 64 KiB state limit. */
    big = body_with_payload("{\"state\":{\"binaryData\":\"", DEVHTTP_MAX_STATE, "\"}}");
    CHECK_EQ(state(big, &st, &e), 0);
    CHECK_EQ(st.len, DEVHTTP_MAX_STATE);
    devhttp_state_clear(&st);
    free(big);
    big = body_with_payload("{\"state\":{\"binaryData\":\"", DEVHTTP_MAX_STATE + 1, "\"}}");
    CHECK_EQ(state(big, &st, &e), -EMSGSIZE);
    CHECK(strstr(e.msg, "exceeds the limit") != NULL);
    free(big);
    devhttp_state_clear(NULL);
}

/* ---- getConfig ---- */

static int query(struct devhttp_config_query *q, const char *arg, struct devhttp_err *e)
{
    return devhttp_config_query_add(q, arg, strlen(arg), e);
}

static void test_config(void)
{
    struct devhttp_config_query q;
    struct devhttp_err e;
    char *body = NULL;
    size_t len = 0;

    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "localVersion=3", &e), 0);
    CHECK(q.have_version && q.local_version == 3);
    CHECK_EQ(query(&q, "local_version=3", &e), 0);
    CHECK_EQ(query(&q, "local_version=4", &e), -EBADMSG);
    CHECK_EQ(query(&q, "unrelated=1", &e), 0);
    CHECK_EQ(query(&q, "alt", &e), 0);
    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "local_version=0", &e), 0);
    CHECK(q.have_version && q.local_version == 0);
    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "local_version=9223372036854775807", &e), 0);
    CHECK_EQ(q.local_version, INT64_MAX);
    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "local_version=9223372036854775808", &e), -EBADMSG);
    CHECK_EQ(query(&q, "localVersion=-1", &e), -EBADMSG);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    CHECK_EQ(query(&q, "localVersion=", &e), -EBADMSG);
    CHECK_EQ(query(&q, "localVersion", &e), -EBADMSG);
    CHECK_EQ(query(&q, "localVersion=1x", &e), -EBADMSG);
    CHECK_EQ(query(&q, "localVersion= 1", &e), -EBADMSG);
    CHECK(!q.have_version);

    CHECK_EQ(devhttp_config_check(0, 1, &e), 0);
    CHECK_EQ(devhttp_config_check(1, 1, &e), 0);
    CHECK_EQ(devhttp_config_check(2, 1, &e), -ERANGE);
    CHECK_EQ(e.http, 400);
    CHECK_EQ(e.status, DEVHTTP_G_OUT_OF_RANGE);

    /* 2026-11-28T18:22:05.123456Z */
    CHECK_EQ(devhttp_config_body(7, 1795890125123456LL, (const uint8_t *)"\xfb\xff", 2, &body,
                                 &len), 0);
    CHECK(len == strlen(body) && body[len - 1] == '\n');
    json_t *j = json_loadb(body, len, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "version")), "7");
    CHECK_STR(json_string_value(json_object_get(j, "binaryData")), "+/8=");
    CHECK_STR(json_string_value(json_object_get(j, "cloudUpdateTime")), "2026-11-28T18:22:05.123456Z");
    json_decref(j);
    free(body);
    /* Version 1 as created: empty payload. */
    CHECK_EQ(devhttp_config_body(1, 0, NULL, 0, &body, &len), 0);
    j = json_loadb(body, len, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "binaryData")), "");
    CHECK_STR(json_string_value(json_object_get(j, "cloudUpdateTime")), "1970-01-01T00:00:00Z");
    json_decref(j);
    free(body);
}

/* ---- gatewayInfo ---- */

/* The oneof in a publishEvent body: which member, and the id. */
static void check_event_gw(const char *body, enum devhttp_via via, const char *id)
{
    struct devhttp_event ev;
    struct devhttp_err e;

    if (!CHECK_EQ(event(body, &ev, &e), 0)) {
        fprintf(stderr, "  body %s: %s\n", body, e.msg);
        return;
    }
    CHECK_EQ(ev.gateway.via, via);
    CHECK_STR(ev.gateway.id, id);
    devhttp_event_clear(&ev);
}

static void check_event_gw_refused(const char *body, const char *msg_part)
{
    struct devhttp_event ev;
    struct devhttp_err e;

    if (!CHECK_EQ(event(body, &ev, &e), -EBADMSG)) {
        fprintf(stderr, "  body %s was accepted\n", body);
        devhttp_event_clear(&ev);
        return;
    }
    CHECK_EQ(e.http, 400);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    if (msg_part && !CHECK(strstr(e.msg, msg_part) != NULL))
        fprintf(stderr, "  body %s: message \"%s\" lacks \"%s\"\n", body, e.msg, msg_part);
    CHECK(ev.data == NULL && ev.gateway.via == DEVHTTP_VIA_NONE);
}

static void test_gateway_info_body(void)
{
    struct devhttp_state st;
    struct devhttp_err e;
    char body[800], id[300];

    /* Both members, both spellings: delegatedDeviceId = the path is the
     * gateway's; gatewayId = the path is the device's [reference 2]. */
    check_event_gw("{\"gatewayInfo\":{\"delegatedDeviceId\":\"dev-1\"},\"binaryData\":\"aGk=\"}",
                   DEVHTTP_VIA_DELEGATED_DEVICE, "dev-1");
    check_event_gw("{\"gateway_info\":{\"delegated_device_id\":\"dev-1\"}}",
                   DEVHTTP_VIA_DELEGATED_DEVICE, "dev-1");
    check_event_gw("{\"gatewayInfo\":{\"gatewayId\":\"gw-1\"},\"binaryData\":\"aGk=\"}",
                   DEVHTTP_VIA_GATEWAY, "gw-1");
    check_event_gw("{\"gateway_info\":{\"gateway_id\":\"gw-1\"},\"binary_data\":\"aGk\"}",
                   DEVHTTP_VIA_GATEWAY, "gw-1");
    /* Mixed spellings between levels, as transcoding allowed. */
    check_event_gw("{\"gatewayInfo\":{\"gateway_id\":\"gw-1\"}}", DEVHTTP_VIA_GATEWAY, "gw-1");
    /* A numId names a device as the path may. */
    check_event_gw("{\"gatewayInfo\":{\"delegatedDeviceId\":\"2820071219046311\"}}",
                   DEVHTTP_VIA_DELEGATED_DEVICE, "2820071219046311");
    check_event_gw("{\"gatewayInfo\":{\"gatewayId\":\"18446744073709551615\"}}",
                   DEVHTTP_VIA_GATEWAY, "18446744073709551615");
    /* Null members are absent (proto3): no gateway, or the other member. */
    check_event_gw("{\"gatewayInfo\":{\"gatewayId\":null}}", DEVHTTP_VIA_NONE, "");
    check_event_gw("{\"gatewayInfo\":{\"gatewayId\":null,\"delegatedDeviceId\":\"d-1\"}}",
                   DEVHTTP_VIA_DELEGATED_DEVICE, "d-1");
    /* Device ids at their limits: 3 and 255 characters. */
    check_event_gw("{\"gatewayInfo\":{\"gatewayId\":\"g.~\"}}", DEVHTTP_VIA_GATEWAY, "g.~");
    memset(id, 'a', 255);
    id[255] = '\0';
    snprintf(body, sizeof(body), "{\"gatewayInfo\":{\"gatewayId\":\"%s\"}}", id);
    check_event_gw(body, DEVHTTP_VIA_GATEWAY, id);

    /* Refusals: 400 INVALID_ARGUMENT, nothing returned. */
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"gw-1\",\"delegatedDeviceId\":\"d-1\"}}",
                           "Oneof field 'gateway_or_device' is already set");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"gw-1\",\"gateway_id\":\"gw-2\"}}",
                           "Duplicate field \"gateway_id\"");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayNumId\":\"123\"}}",
                           "Unknown name \"gatewayNumId\" at 'gateway_info'");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":5}}",
                           "'gateway_info.gateway_id' (TYPE_STRING)");
    check_event_gw_refused("{\"gatewayInfo\":{\"delegatedDeviceId\":{}}}",
                           "'gateway_info.delegated_device_id' (TYPE_STRING)");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"g/x\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"g+x\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"ab\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"-gw\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"goog-gw\"}}", "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"g\\u0000x\"}}", NULL);
    check_event_gw_refused("{\"gatewayInfo\":{\"delegatedDeviceId\":\"d\\nx\"}}",
                           "gateway_info.delegated_device_id");
    /* 21 digits is no numId and no device id. */
    check_event_gw_refused("{\"gatewayInfo\":{\"gatewayId\":\"123456789012345678901\"}}",
                           "gateway_info.gateway_id");
    id[255] = 'a';
    id[256] = '\0';
    snprintf(body, sizeof(body), "{\"gatewayInfo\":{\"gatewayId\":\"%s\"}}", id);
    check_event_gw_refused(body, "gateway_info.gateway_id");
    check_event_gw_refused("{\"gatewayInfo\":[\"gw\"]}", "expected an object");
    /* A refused gatewayInfo refuses the whole body (nothing leaks). */
    check_event_gw_refused("{\"binaryData\":\"aGk=\",\"subFolder\":\"s\",\"gatewayInfo\":{\"x\":1}}",
                           "Unknown name \"x\"");

    /* setState carries the same oneof next to "state". */
    CHECK_EQ(state("{\"state\":{\"binaryData\":\"b24=\"},\"gatewayInfo\":{\"delegatedDeviceId\":\"d-1\"}}",
                   &st, &e), 0);
    CHECK(st.len == 2 && memcmp(st.data, "on", 2) == 0);
    CHECK_EQ(st.gateway.via, DEVHTTP_VIA_DELEGATED_DEVICE);
    CHECK_STR(st.gateway.id, "d-1");
    devhttp_state_clear(&st);
    CHECK_EQ(state("{\"gateway_info\":{\"gateway_id\":\"gw-1\"},\"state\":{}}", &st, &e), 0);
    CHECK_EQ(st.gateway.via, DEVHTTP_VIA_GATEWAY);
    CHECK_STR(st.gateway.id, "gw-1");
    devhttp_state_clear(&st);
    CHECK_EQ(state("{\"state\":{},\"gatewayInfo\":{}}", &st, &e), 0);
    CHECK_EQ(st.gateway.via, DEVHTTP_VIA_NONE);
    devhttp_state_clear(&st);
    CHECK_EQ(state("{\"state\":{},\"gatewayInfo\":{\"gatewayId\":\"g\",\"delegatedDeviceId\":\"dd1\"}}",
                   &st, &e), -EBADMSG);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    CHECK(st.data == NULL);
    CHECK_EQ(state("{\"state\":{},\"gatewayInfo\":{\"gatewayId\":\"gw-1\",\"extra\":true}}", &st, &e),
             -EBADMSG);
    CHECK(strstr(e.msg, "at 'gateway_info'") != NULL);

    CHECK_STR(devhttp_via_name(DEVHTTP_VIA_DELEGATED_DEVICE), "delegatedDeviceId");
    CHECK_STR(devhttp_via_name(DEVHTTP_VIA_GATEWAY), "gatewayId");
    CHECK_STR(devhttp_via_name(DEVHTTP_VIA_NONE), "");
}

static void test_gateway_info_query(void)
{
    static const char *const names[] = {
        "gatewayInfo.gatewayId", "gatewayInfo.gateway_id", "gateway_info.gatewayId",
        "gateway_info.gateway_id",
    };
    static const char *const delegated[] = {
        "gatewayInfo.delegatedDeviceId", "gatewayInfo.delegated_device_id",
        "gateway_info.delegatedDeviceId", "gateway_info.delegated_device_id",
    };
    struct devhttp_config_query q;
    struct devhttp_err e;
    char arg[600];

    for (size_t i = 0; i < 4; i++) {
        memset(&q, 0, sizeof(q));
        snprintf(arg, sizeof(arg), "%s=gw-1", names[i]);
        CHECK_EQ(query(&q, arg, &e), 0);
        CHECK_EQ(q.gateway.via, DEVHTTP_VIA_GATEWAY);
        CHECK_STR(q.gateway.id, "gw-1");
        memset(&q, 0, sizeof(q));
        snprintf(arg, sizeof(arg), "%s=12345", delegated[i]);
        CHECK_EQ(query(&q, arg, &e), 0);
        CHECK_EQ(q.gateway.via, DEVHTTP_VIA_DELEGATED_DEVICE);
        CHECK_STR(q.gateway.id, "12345");
    }
    /* With localVersion, in any order; the same member and value again is
     * harmless (both spellings of one field). */
    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "gatewayInfo.delegatedDeviceId=dev-9", &e), 0);
    CHECK_EQ(query(&q, "localVersion=2", &e), 0);
    CHECK_EQ(query(&q, "gateway_info.delegated_device_id=dev-9", &e), 0);
    CHECK(q.have_version && q.local_version == 2);
    CHECK_EQ(q.gateway.via, DEVHTTP_VIA_DELEGATED_DEVICE);
    CHECK_STR(q.gateway.id, "dev-9");
    /* A second value, or the other member: refused, the first kept. */
    CHECK_EQ(query(&q, "gatewayInfo.delegatedDeviceId=dev-8", &e), -EBADMSG);
    CHECK_EQ(e.status, DEVHTTP_G_INVALID_ARGUMENT);
    CHECK(strstr(e.msg, "Conflicting values") != NULL);
    CHECK_EQ(query(&q, "gatewayInfo.gatewayId=gw-1", &e), -EBADMSG);
    CHECK(strstr(e.msg, "Oneof field") != NULL);
    CHECK_STR(q.gateway.id, "dev-9");
    /* Bad ids and unknown members. */
    memset(&q, 0, sizeof(q));
    CHECK_EQ(query(&q, "gatewayInfo.gatewayId=", &e), -EBADMSG);
    CHECK_EQ(query(&q, "gatewayInfo.gatewayId", &e), -EBADMSG);
    CHECK_EQ(query(&q, "gatewayInfo.gatewayId=a b", &e), -EBADMSG);
    CHECK_EQ(query(&q, "gatewayInfo.gatewayId=goog1", &e), -EBADMSG);
    {
        static const char with_nul[] = "gatewayInfo.gatewayId=gw\0x";
        CHECK_EQ(devhttp_config_query_add(&q, with_nul, sizeof(with_nul) - 1, &e), -EBADMSG);
    }
    CHECK_EQ(q.gateway.via, DEVHTTP_VIA_NONE);
    CHECK_EQ(query(&q, "gatewayInfo.gatewayNumId=5", &e), -EBADMSG);
    CHECK(strstr(e.msg, "Unknown name \"gatewayInfo.gatewayNumId\"") != NULL);
    CHECK_EQ(query(&q, "gatewayInfo.=5", &e), -EBADMSG);
    CHECK_EQ(query(&q, "gateway_info.gateway_id.x=5", &e), -EBADMSG);
    /* Names that only look alike are not gatewayInfo: ignored. */
    CHECK_EQ(query(&q, "gatewayInfo=gw", &e), 0);
    CHECK_EQ(query(&q, "gatewayinfo.gatewayId=gw", &e), 0);
    CHECK_EQ(q.gateway.via, DEVHTTP_VIA_NONE);
    /* A long unknown name is quoted, cut on a UTF-8 boundary. */
    {
        size_t w = (size_t)snprintf(arg, sizeof(arg), "gatewayInfo.");
        for (int i = 0; i < 60; i++) {
            arg[w++] = '\xc3';
            arg[w++] = '\xa9';
        }
        memcpy(arg + w, "=1", 3);
        CHECK_EQ(query(&q, arg, &e), -EBADMSG);
        char *eb = NULL;
        size_t el = 0;
        CHECK_EQ(devhttp_error_body(&e, &eb, &el), 0);
        json_t *j = json_loadb(eb, el, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        CHECK(m != NULL && strstr(m, "gatewayInfo.\xc3\xa9") != NULL && strchr(m, '?') == NULL);
        json_decref(j);
        free(eb);
    }
}

/* ---- envelope ---- */

static void test_envelope(void)
{
    struct devhttp_err e;
    char *body = NULL;
    size_t len = 0;
    json_t *j, *err;

    devhttp_err_set(&e, DEVHTTP_G_PERMISSION_DENIED, "The caller does not have permission");
    CHECK_EQ(devhttp_error_body(&e, &body, &len), 0);
    j = json_loadb(body, len, 0, NULL);
    err = json_object_get(j, "error");
    CHECK_EQ(json_integer_value(json_object_get(err, "code")), 403);
    CHECK_STR(json_string_value(json_object_get(err, "status")), "PERMISSION_DENIED");
    CHECK_STR(json_string_value(json_object_get(err, "message")), "The caller does not have permission");
    CHECK_EQ(json_object_size(j), 1);
    CHECK_EQ(json_object_size(err), 3);
    json_decref(j);
    free(body);

    /* An HTTP code outside the mapping keeps the status name. */
    devhttp_err_set(&e, DEVHTTP_G_INVALID_ARGUMENT, "too big");
    e.http = 413;
    CHECK_EQ(devhttp_error_body(&e, &body, &len), 0);
    j = json_loadb(body, len, 0, NULL);
    err = json_object_get(j, "error");
    CHECK_EQ(json_integer_value(json_object_get(err, "code")), 413);
    CHECK_STR(json_string_value(json_object_get(err, "status")), "INVALID_ARGUMENT");
    json_decref(j);
    free(body);

    /* A message cut inside a UTF-8 sequence still makes valid JSON. */
    memset(&e, 0, sizeof(e));
    e.http = 400;
    e.status = DEVHTTP_G_INVALID_ARGUMENT;
    memcpy(e.msg, "bad \xc3", 6);
    CHECK_EQ(devhttp_error_body(&e, &body, &len), 0);
    j = json_loadb(body, len, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "bad ?");
    json_decref(j);
    free(body);

    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_RESOURCE_EXHAUSTED), 429);
    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_UNAUTHENTICATED), 401);
    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_NOT_FOUND), 404);
    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_UNAVAILABLE), 503);
    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_DEADLINE_EXCEEDED), 504);
    CHECK_EQ(devhttp_gstatus_http(DEVHTTP_G_INTERNAL), 500);
    CHECK_STR(devhttp_gstatus_name(DEVHTTP_G_OUT_OF_RANGE), "OUT_OF_RANGE");
}

/* ---- topics ---- */

static void test_topics(void)
{
    struct devhttp_ident id = {
        .google_prefix = "google/", .pubsub_prefix = "pubsub/", .project = "p1",
        .location = "us-central1", .registry = "reg", .device = "dev-1", .routes = NULL,
    };
    struct reg_registry_cfg rc;
    char out[256];

    CHECK_EQ(devhttp_event_topic(&id, NULL, out, sizeof(out)),
             strlen("google/p1/us-central1/reg/dev-1/events"));
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/events");
    CHECK(devhttp_event_topic(&id, "", out, sizeof(out)) > 0);
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/events");
    CHECK(devhttp_event_topic(&id, "a/b", out, sizeof(out)) > 0);
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/events/a/b");
    CHECK(devhttp_state_topic(&id, out, sizeof(out)) > 0);
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/state");
    CHECK_EQ(devhttp_event_topic(&id, "a/b", out, 20), -ENOSPC);
    CHECK_EQ(devhttp_state_topic(&id, out, 10), -ENOSPC);

    /* Notification configs route as on MQTT. */
    CHECK_EQ(reg_registry_cfg_parse(
                 "{\"eventNotificationConfigs\":["
                 "{\"subfolderMatches\":\"alerts\",\"pubsubTopicName\":\"projects/p1/topics/alerts\"},"
                 "{\"pubsubTopicName\":\"projects/p1/topics/all\"}],"
                 "\"stateNotificationConfig\":{\"pubsubTopicName\":\"projects/p1/topics/st\"}}",
                 &rc), 0);
    id.routes = &rc;
    CHECK(devhttp_event_topic(&id, "alerts", out, sizeof(out)) > 0);
    CHECK_STR(out, "pubsub/p1/alerts");
    CHECK(devhttp_event_topic(&id, "other", out, sizeof(out)) > 0);
    CHECK_STR(out, "pubsub/p1/all");
    CHECK(devhttp_event_topic(&id, NULL, out, sizeof(out)) > 0);
    CHECK_STR(out, "pubsub/p1/all");
    CHECK(devhttp_state_topic(&id, out, sizeof(out)) > 0);
    CHECK_STR(out, "pubsub/p1/st");
    /* Only a subfolder route: the rest keeps the default topics. */
    CHECK_EQ(reg_registry_cfg_parse(
                 "{\"eventNotificationConfigs\":["
                 "{\"subfolderMatches\":\"alerts\",\"pubsubTopicName\":\"projects/p1/topics/alerts\"}]}",
                 &rc), 0);
    CHECK(devhttp_event_topic(&id, "x", out, sizeof(out)) > 0);
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/events/x");
    CHECK(devhttp_state_topic(&id, out, sizeof(out)) > 0);
    CHECK_STR(out, "google/p1/us-central1/reg/dev-1/state");
}

/* ---- state rate ---- */

static void test_rate(void)
{
    struct devhttp_rate r;

    CHECK_EQ(devhttp_rate_init(&r, 100, 1), 0);
    CHECK_EQ(r.n, 128);
    /* Google's 1/s: one second between accepted states. */
    CHECK(devhttp_rate_take(&r, 7, 10000));
    CHECK(!devhttp_rate_take(&r, 7, 10001));
    CHECK(!devhttp_rate_take(&r, 7, 10999));
    CHECK(devhttp_rate_take(&r, 8, 10999));      /* another device is not affected */
    CHECK(devhttp_rate_take(&r, 7, 11000));
    CHECK(!devhttp_rate_take(&r, 7, 11500));
    CHECK(devhttp_rate_take(&r, 7, 20000));      /* long idle: a full bucket, not two */
    CHECK(!devhttp_rate_take(&r, 7, 20001));
    devhttp_rate_free(&r);

    /* 3/s: a burst of three, then one per third of a second. */
    CHECK_EQ(devhttp_rate_init(&r, 16, 3), 0);
    CHECK(devhttp_rate_take(&r, 1, 0));
    CHECK(devhttp_rate_take(&r, 1, 1));
    CHECK(devhttp_rate_take(&r, 1, 2));
    CHECK(!devhttp_rate_take(&r, 1, 3));
    CHECK(!devhttp_rate_take(&r, 1, 300));
    CHECK(devhttp_rate_take(&r, 1, 340));
    CHECK(!devhttp_rate_take(&r, 1, 341));
    devhttp_rate_free(&r);

    /* A full table never refuses a device it has no room for. */
    CHECK_EQ(devhttp_rate_init(&r, 2, 1), 0);
    CHECK(devhttp_rate_take(&r, 1, 0));
    CHECK(devhttp_rate_take(&r, 2, 0));
    for (int64_t k = 3; k < 50; k++)
        CHECK(devhttp_rate_take(&r, k, 1));
    /* ...and an idle device's slot is reused, not kept. */
    CHECK(devhttp_rate_take(&r, 100, 5000));
    CHECK(!devhttp_rate_take(&r, 100, 5001));
    devhttp_rate_free(&r);

    /* No limit configured. */
    CHECK_EQ(devhttp_rate_init(&r, 4, 0), 0);
    for (int i = 0; i < 10; i++)
        CHECK(devhttp_rate_take(&r, 1, 0));
    devhttp_rate_free(&r);
    devhttp_rate_free(NULL);
    CHECK(devhttp_rate_take(NULL, 1, 0));
}


/* ---- AWS HTTPS publish ---- */

static int aws_route(const char *path, char *out, size_t cap)
{
    const char *t = NULL;
    size_t tl = 0;
    int rc = devhttp_aws_route(path, strlen(path), &t, &tl);
    if (rc == 0)
        snprintf(out, cap, "%.*s", (int)tl, t);
    return rc;
}

static void test_aws_route(void)
{
    char t[300];

    /* The decoded remainder is the topic: %2F arrives as '/', and AWS's own
     * curl example sends plain '/'. */
    CHECK_EQ(aws_route("/topics/dt/sensor1", t, sizeof(t)), 0);
    CHECK_STR(t, "dt/sensor1");
    CHECK_EQ(aws_route("/topics/a", t, sizeof(t)), 0);
    CHECK_STR(t, "a");
    CHECK_EQ(aws_route("/topics/", t, sizeof(t)), 0);      /* empty: the topic check refuses */
    CHECK_STR(t, "");
    CHECK_EQ(aws_route("/topics", t, sizeof(t)), -ENOENT);
    CHECK_EQ(aws_route("/topicsx/a", t, sizeof(t)), -ENOENT);
    CHECK_EQ(aws_route("/Topics/a", t, sizeof(t)), -ENOENT);
    CHECK_EQ(aws_route("/v1/topics/a", t, sizeof(t)), -ENOENT);
    CHECK_EQ(aws_route("", t, sizeof(t)), -ENOENT);
}

static int aws_query(const char *const *args, size_t n, struct devhttp_aws_query *q)
{
    struct devhttp_err e;
    int rc = 0;

    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = devhttp_aws_query_add(q, args[i], strlen(args[i]), &e);
    if (rc < 0)
        CHECK_EQ(e.http, 400);
    return rc;
}

static void test_aws_query(void)
{
    struct devhttp_aws_query q;

    /* AWS's defaults: qos 0, retain false. */
    CHECK_EQ(aws_query(NULL, 0, &q), 0);
    CHECK(q.qos == 0 && !q.retain);
    {
        const char *a[] = { "qos=1" };
        CHECK_EQ(aws_query(a, 1, &q), 0);
        CHECK(q.qos == 1 && !q.retain);
    }
    {
        const char *a[] = { "qos=0", "retain=true" };
        CHECK_EQ(aws_query(a, 2, &q), 0);
        CHECK(q.qos == 0 && q.retain);
    }
    {
        const char *a[] = { "retain=TRUE", "qos=1", "retain=True" };   /* same value twice */
        CHECK_EQ(aws_query(a, 3, &q), 0);
        CHECK(q.qos == 1 && q.retain);
    }
    {
        const char *a[] = { "retain=false", "contentType=text/plain", "messageExpiry=60", "x" };
        CHECK_EQ(aws_query(a, 4, &q), 0);
        CHECK(q.qos == 0 && !q.retain);
    }
    /* Refused: no QoS 2, no other spellings, no conflicting repeats. */
    static const char *const bad[][2] = {
        { "qos=2", NULL }, { "qos=", NULL }, { "qos", NULL }, { "qos=01", NULL },
        { "qos=-1", NULL }, { "qos= 1", NULL }, { "qos=1", "qos=0" }, { "retain=1", NULL },
        { "retain=yes", NULL }, { "retain=", NULL }, { "retain=true", "retain=false" },
        { "QOS=1x", NULL },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *a[2] = { bad[i][0], bad[i][1] };
        int rc = aws_query(a, bad[i][1] ? 2 : 1, &q);
        /* Names are case-sensitive: "QOS" is an unknown (ignored) name. */
        if (strcmp(bad[i][0], "QOS=1x") == 0)
            CHECK_EQ(rc, 0);
        else if (!CHECK_EQ(rc, -EBADMSG))
            fprintf(stderr, "  query %s %s\n", bad[i][0], bad[i][1] ? bad[i][1] : "");
    }
}

static int aws_topic(const char *t, size_t len, int *http)
{
    struct devhttp_err e = { .http = 0 };
    int rc = devhttp_aws_topic_check(t, len, &e);
    *http = rc < 0 ? e.http : 200;
    return rc;
}

static void test_aws_topics(void)
{
    char t[400];
    int http;

    CHECK_EQ(aws_topic("dt/sensor1", 10, &http), 0);
    CHECK_EQ(aws_topic("a", 1, &http), 0);
    CHECK_EQ(aws_topic("a//b/", 5, &http), 0);
    CHECK_EQ(aws_topic("caf\xc3\xa9", 5, &http), 0);
    /* 256 bytes and 7 slashes are the limits. */
    memset(t, 'x', sizeof(t));
    CHECK_EQ(aws_topic(t, 256, &http), 0);
    CHECK_EQ(aws_topic(t, 257, &http), -EMSGSIZE);
    CHECK_EQ(http, 400);
    CHECK_EQ(aws_topic("a/b/c/d/e/f/g/h", 15, &http), 0);
    CHECK_EQ(aws_topic("a/b/c/d/e/f/g/h/i", 17, &http), -EMSGSIZE);
    CHECK_EQ(http, 400);
    /* Every '$' topic is 403, even those MQTT devices may publish (shadow
     * requests) and Basic Ingest. */
    static const char *const reserved[] = {
        "$aws/things/t/shadow/update", "$aws/things/t/shadow/get",
        "$aws/events/presence/connected/c", "$aws/rules/r/x", "$SYS/x", "$",
        "$aws/certificates/create/json",
    };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        CHECK_EQ(aws_topic(reserved[i], strlen(reserved[i]), &http), -EACCES);
        CHECK_EQ(http, 403);
    }
    /* 400: empty, wildcards anywhere, NUL, bad UTF-8. */
    static const char *const bad[] = { "", "a/+", "+", "a/#", "#", "a+b", "a/b#", "\xc3", "\xff/a" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(aws_topic(bad[i], strlen(bad[i]), &http), -EBADMSG);
        CHECK_EQ(http, 400);
    }
    CHECK_EQ(aws_topic("a\0b", 3, &http), -EBADMSG);
}

static void test_aws_answers(void)
{
    static const uint8_t zero[16], ones[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    char id[DEVHTTP_AWS_TRACE_ID_LEN + 1];
    struct devhttp_err e;
    char *body = NULL;
    size_t len = 0;

    /* Version 4, RFC 4122 variant. */
    devhttp_aws_trace_id(zero, id);
    CHECK_STR(id, "00000000-0000-4000-8000-000000000000");
    devhttp_aws_trace_id(ones, id);
    CHECK_STR(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");

    /* AWS's body, compact, message first. */
    CHECK_EQ(devhttp_aws_body("OK", "00000000-0000-4000-8000-000000000000", &body, &len), 0);
    CHECK_STR(body, "{\"message\":\"OK\",\"traceId\":\"00000000-0000-4000-8000-000000000000\"}");
    CHECK_EQ(len, strlen(body));
    free(body);
    /* Escaped, and a message cut inside a UTF-8 sequence still makes JSON. */
    CHECK_EQ(devhttp_aws_body("a \"b\"\n\xc3", "t", &body, &len), 0);
    CHECK_STR(body, "{\"message\":\"a \\\"b\\\"\\n?\",\"traceId\":\"t\"}");
    free(body);

    /* Every certificate problem is the same 403; a store error is 503. */
    static const enum reg_auth_reason forbidden[] = { REG_AUTH_CERT_UNKNOWN, REG_AUTH_CERT_INACTIVE,
                                                      REG_AUTH_CERT_EXPIRED, REG_AUTH_NOT_AUTHORIZED };
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        devhttp_aws_auth_refusal(forbidden[i], &e);
        CHECK_EQ(e.http, 403);
        CHECK_STR(e.msg, "Forbidden");
    }
    devhttp_aws_auth_refusal(REG_AUTH_STORE_ERROR, &e);
    CHECK_EQ(e.http, 503);
    devhttp_aws_err_set(&e, 413, "Payload too large: at most %d bytes", 131072);
    CHECK_EQ(e.http, 413);
    CHECK_STR(e.msg, "Payload too large: at most 131072 bytes");
    devhttp_aws_err_set(NULL, 400, "ignored");
}

int main(void)
{
    test_b64();
    test_paths();
    test_bearer();
    test_event_body();
    test_state_body();
    test_config();
    test_gateway_info_body();
    test_gateway_info_query();
    test_envelope();
    test_topics();
    test_rate();
    test_aws_route();
    test_aws_query();
    test_aws_topics();
    test_aws_answers();
    return tu_finish("test_devhttp");
}
