/* The admin API without sockets (webui/api_http.c, google_model.c,
 * google_api.c): base64 and number helpers, the Google error envelope,
 * field masks, DeviceRegistry/Device body validation, Google's output shapes,
 * and the /v1 routes driven through api_google_handle over a real store in a
 * temporary file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webui/api.h"
#include "testutil.h"

/* Test keys: public halves only (the private ones were discarded). */
static const char ec_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE96kMd9i6Y/pyB5yIHGx9fqn59Pei\n"
    "fm1oGsxmHxec49gViM6mVNsUo+5kMCg1Oj6MOMv35sKkiIJNhJ3EQOXY4Q==\n"
    "-----END PUBLIC KEY-----\n";
static const char rsa_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0SB0HB3awCEC210dg+v2\n"
    "J5XI/HddBZkkmbx2vWN0R/PAo4EhE9sAFPeXBR0wcGYE2SgOGN49U6cqracGqMgV\n"
    "Xp5xCiJDffxA2FWXzKxNgSK6OkPPUUv3nYxdoytigb8pyJaas52Sf96BxekPe0/2\n"
    "v2dyqRRq8/pMlxvk96vXCuZKOYWkAeeAfUauvGAcuJI5A/5+XNfCnjkwhNt+4Q0A\n"
    "7h0q83mB6fdQeNjf1QvRZ4zuhXz5cDRRqSqxFCNnhJpZITbKMwke5xZv6dCsAIup\n"
    "NAvEINtXCl2EGvergGi15TCUCEfsujcrgdpkjdX4WWlvySV+GSj/Xn9QMkcEOx9e\n"
    "SwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

#define NOW_US 1700000000000000LL

/* ---- helpers ---- */

static void test_base64(void)
{
    static const struct {
        const char *plain, *b64;
    } v[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
              { "foob", "Zm9vYg==" }, { "hello", "aGVsbG8=" } };
    uint8_t *out;
    size_t len;
    char *enc;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CHECK(api_base64_encode(v[i].plain, strlen(v[i].plain), &enc) == 0);
        CHECK(strcmp(enc, v[i].b64) == 0);
        free(enc);
        CHECK(api_base64_decode(v[i].b64, 100, &out, &len) == 0);
        CHECK(len == strlen(v[i].plain) && memcmp(out, v[i].plain, len) == 0);
        free(out);
    }
    /* proto3 parsers also take unpadded and URL-safe input. */
    CHECK(api_base64_decode("aGVsbG8", 100, &out, &len) == 0 && len == 5);
    free(out);
    CHECK(api_base64_decode("-_8", 100, &out, &len) == 0 && len == 2 && out[0] == 0xfb &&
          out[1] == 0xff);
    free(out);
    CHECK(api_base64_decode("a", 100, &out, &len) == -EINVAL);
    CHECK(api_base64_decode("aGVs*G8=", 100, &out, &len) == -EINVAL);
    CHECK(api_base64_decode("Zg=", 100, &out, &len) == -EINVAL);
    CHECK(api_base64_decode("Zm9vYg==", 3, &out, &len) == -EMSGSIZE);
}

static void test_u64(void)
{
    uint64_t v;

    CHECK(api_parse_u64("0", &v) == 0 && v == 0);
    CHECK(api_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX);
    CHECK(api_parse_u64("18446744073709551616", &v) == -EINVAL);
    CHECK(api_parse_u64("", &v) == -EINVAL);
    CHECK(api_parse_u64("-1", &v) == -EINVAL);
    CHECK(api_parse_u64(" 1", &v) == -EINVAL);
    CHECK(api_parse_u64("1x", &v) == -EINVAL);
}

static json_t *body_json(const struct api_response *r)
{
    return json_loadb(r->body, r->len, 0, NULL);
}

static void test_envelope(void)
{
    struct api_response r = { 0 };
    json_t *j;

    CHECK(api_google_error(&r, API_G_ALREADY_EXISTS, "Resource already exists (resource=%s).",
                           "x") == 0);
    CHECK(r.status == 409 && strcmp(r.content_type, "application/json") == 0);
    j = body_json(&r);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "error"), "code")) == 409);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "status")),
                 "ALREADY_EXISTS") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                 "Resource already exists (resource=x).") == 0);
    json_decref(j);
    CHECK(api_gstatus_http(API_G_FAILED_PRECONDITION) == 400);
    CHECK(api_gstatus_http(API_G_UNAUTHENTICATED) == 401);
    CHECK(api_gstatus_http(API_G_NOT_FOUND) == 404);
    CHECK(api_gstatus_http(API_G_RESOURCE_EXHAUSTED) == 429);
    CHECK(api_google_error_http(&r, 413, API_G_INVALID_ARGUMENT, "too big") == 0 &&
          r.status == 413);
    api_response_clear(&r);
    CHECK(r.body == NULL);
}

static void test_masks(void)
{
    struct api_err err;
    unsigned m;

    CHECK(api_google_device_mask("blocked,credentials", &m, &err) == 0 &&
          m == (API_DEV_BLOCKED | API_DEV_CREDENTIALS));
    CHECK(api_google_device_mask(" last_heartbeat_time , numId,", &m, &err) == 0 &&
          m == (API_DEV_LAST_HEARTBEAT_TIME | API_DEV_NUM_ID));
    CHECK(api_google_device_mask("gateway_config.gateway_auth_method", &m, &err) == 0 &&
          m == API_DEV_GATEWAY_AUTH_METHOD);
    CHECK(api_google_device_mask("config.version", &m, &err) == 0 && m == API_DEV_CONFIG);
    CHECK(api_google_device_mask("bogus", &m, &err) == -EINVAL && strstr(err.msg, "bogus"));
    CHECK(api_google_registry_mask("event_notification_configs,mqtt_config", &m, &err) == 0 &&
          m == (API_REG_EVENT_CONFIGS | API_REG_MQTT_CONFIG));
    CHECK(api_google_registry_mask("eventNotificationConfig", &m, &err) == 0 &&
          m == API_REG_EVENT_CONFIGS);
    CHECK(api_google_registry_mask("numId", &m, &err) == -EINVAL);
}

/* ---- body validation ---- */

static int reg_parse(const char *body, bool create, struct api_registry_in *in,
                     struct api_err *err)
{
    return api_google_registry_parse(body, strlen(body), create, NOW_US, in, err);
}

static void test_registry_parse(void)
{
    struct api_registry_in in;
    struct api_err err;

    CHECK(reg_parse("{\"id\":\"my-reg\"}", true, &in, &err) == 0);
    CHECK(strcmp(in.id, "my-reg") == 0);
    /* Fresh registries show MQTT and HTTP enabled, as Google's did. */
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(in.extra, "mqttConfig"),
                                                   "mqttEnabledState")), "MQTT_ENABLED") == 0);
    api_registry_in_clear(&in);

    CHECK(reg_parse("{\"id\":\"my-reg\",\"logLevel\":40,\"httpConfig\":{\"httpEnabledState\":"
                    "\"2\"},\"eventNotificationConfigs\":[{\"subfolderMatches\":\"a\","
                    "\"pubsubTopicName\":\"projects/p/topics/t-1\"}]}", true, &in, &err) == 0);
    CHECK(strcmp(json_string_value(json_object_get(in.extra, "logLevel")), "DEBUG") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(in.extra, "httpConfig"),
                                                   "httpEnabledState")), "HTTP_DISABLED") == 0);
    api_registry_in_clear(&in);

    CHECK(reg_parse("", true, &in, &err) == -EINVAL && strstr(err.msg, "id"));
    CHECK(reg_parse("{\"id\":\"goog-r\"}", true, &in, &err) == -EINVAL &&
          strncmp(err.msg, "id: ", 4) == 0);
    CHECK(reg_parse("{\"id\":\"r+1\"}", true, &in, &err) == -EINVAL && strchr(err.msg, '+'));
    CHECK(reg_parse("{\"id\":", true, &in, &err) == -EINVAL &&
          strncmp(err.msg, "Invalid JSON payload received.", 30) == 0);
    CHECK(reg_parse("{\"id\":\"abc\",\"id\":\"abd\"}", true, &in, &err) == -EINVAL);
    CHECK(reg_parse("{\"id\":\"abc\",\"x\":1}", true, &in, &err) == -EINVAL &&
          strstr(err.msg, "Unknown name \"x\""));
    CHECK(reg_parse("{\"id\":\"abc\",\"eventNotificationConfigs\":[{\"pubsubTopicName\":"
                    "\"projects/p/topics/a/b\"}]}", true, &in, &err) == -EINVAL);
    CHECK(reg_parse("{\"id\":\"abc\",\"eventNotificationConfigs\":[{\"subfolderMatches\":\"/a\","
                    "\"pubsubTopicName\":\"projects/p/topics/abc\"}]}", true, &in, &err) ==
          -EINVAL);
    CHECK(reg_parse("{\"id\":\"abc\",\"mqttConfig\":{\"mqttEnabledState\":\"ON\"}}", true, &in,
                    &err) == -EINVAL);
    /* A patch body needs no id. */
    CHECK(reg_parse("{\"logLevel\":\"NONE\"}", false, &in, &err) == 0 && in.id[0] == '\0');
    api_registry_in_clear(&in);
}

static char *device_body(const char *fmt_a, const char *key_a, const char *extra)
{
    json_t *j = json_pack("{s:s,s:[{s:{s:s,s:s}}]}", "id", "dev-1", "credentials", "publicKey",
                          "format", fmt_a, "key", key_a);
    char *s;

    if (extra) {
        json_t *x = json_loads(extra, 0, NULL);
        json_object_update(j, x);
        json_decref(x);
    }
    s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static int dev_parse(const char *body, bool create, struct api_device_in *in,
                     struct api_err *err)
{
    return api_google_device_parse(body, strlen(body), create, NOW_US, in, err);
}

static void test_device_parse(void)
{
    struct api_device_in in;
    struct api_err err;
    char *b;

    b = device_body("RSA_PEM", rsa_pem, "{\"blocked\":true,\"metadata\":{\"k\":\"v\"},"
                    "\"gatewayConfig\":{\"gatewayType\":1},\"logLevel\":\"INFO\"}");
    CHECK(dev_parse(b, true, &in, &err) == 0);
    CHECK(in.n_creds == 1 && in.creds[0].format == DB_KEY_RSA_PEM && in.blocked);
    CHECK(strcmp(in.log_level, "INFO") == 0);
    CHECK(strcmp(json_string_value(json_object_get(in.gateway_config, "gatewayType")),
                 "GATEWAY") == 0);
    api_device_in_clear(&in);
    free(b);

    /* Formats by proto number (int or string): ES256_PEM = 2 [resources.proto]. */
    b = device_body("2", ec_pem, "{\"credentials\":[{\"publicKey\":{\"format\":2,\"key\":\"\"}}]}");
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL &&
          strncmp(err.msg, "credentials[0].publicKey.key:", 29) == 0);
    free(b);
    b = device_body("2", ec_pem, NULL);
    CHECK(dev_parse(b, true, &in, &err) == 0 && in.creds[0].format == DB_KEY_ES256_PEM);
    api_device_in_clear(&in);
    free(b);

    b = device_body("ES256_PEM", rsa_pem, NULL);
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL &&
          strncmp(err.msg, "credentials[0].publicKey.key:", 29) == 0);
    free(b);
    b = device_body("DSA_PEM", rsa_pem, NULL);
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL && strstr(err.msg, "format"));
    free(b);
    b = device_body("RSA_PEM", rsa_pem, "{\"credentials\":[{\"publicKey\":{\"format\":3,"
                    "\"key\":\"x\"}},{},{},{}]}");
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL && strstr(err.msg, "at most 3"));
    free(b);
    b = device_body("RSA_PEM", rsa_pem, "{\"id\":\"d#1\"}");
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL && strstr(err.msg, "'#'"));
    free(b);
    b = device_body("RSA_PEM", rsa_pem, "{\"config\":{\"version\":\"2\"}}");
    CHECK(dev_parse(b, true, &in, &err) == -EINVAL && strstr(err.msg, "config.version"));
    free(b);
    b = device_body("RSA_PEM", rsa_pem, "{\"config\":{\"version\":0,\"binaryData\":\"aGk=\"}}");
    CHECK(dev_parse(b, true, &in, &err) == 0 && in.config_len == 2 &&
          memcmp(in.config_data, "hi", 2) == 0);
    api_device_in_clear(&in);
    free(b);

    CHECK(dev_parse("{\"id\":\"dev-1\",\"credentials\":[{\"publicKey\":{\"format\":\"RSA_PEM\","
                    "\"key\":\"k\"},\"expirationTime\":\"soon\"}]}", true, &in, &err) == -EINVAL);
    CHECK(dev_parse("{\"id\":\"dev-1\",\"metadata\":{\"k\":1}}", true, &in, &err) == -EINVAL);
    CHECK(dev_parse("{\"id\":\"dev-1\",\"metadata\":{\"9k\":\"v\"}}", true, &in, &err) ==
          -EINVAL);
    CHECK(dev_parse("{\"id\":\"dev-1\",\"blocked\":\"yes\"}", true, &in, &err) == -EINVAL);
    /* Output-only fields are accepted and ignored. */
    CHECK(dev_parse("{\"numId\":\"42\",\"lastHeartbeatTime\":\"1970-01-01T00:00:00Z\"}", false,
                    &in, &err) == 0 && strcmp(in.num_id, "42") == 0);
    api_device_in_clear(&in);
}

/* ---- rendering ---- */

static void test_render(void)
{
    struct db_device d;
    struct db_config cfg = { .version = 1, .cloud_update_us = NOW_US, .data = (uint8_t *)"",
                             .len = 0 };
    struct db_credential cred = { .format = DB_KEY_ES256_PEM, .key_pem = (char *)ec_pem };
    struct api_device_view v = { .dev = &d, .creds = &cred, .n_creds = 1, .config = &cfg };
    json_t *j;

    memset(&d, 0, sizeof(d));
    memcpy(d.id, "dev-1", 6);
    d.num_id = 2928540609735937ULL;
    j = api_google_device_json("projects/p/locations/l/registries/r", &v, API_DEV_ALL);
    CHECK(j != NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "name")),
                 "projects/p/locations/l/registries/r/devices/2928540609735937") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "numId")), "2928540609735937") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "lastEventTime")),
                 "1970-01-01T00:00:00Z") == 0);
    CHECK(json_object_get(j, "blocked") == NULL);
    CHECK(json_object_get(j, "lastErrorStatus") == NULL);
    CHECK(json_is_object(json_object_get(j, "gatewayConfig")) &&
          json_object_size(json_object_get(j, "gatewayConfig")) == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "config"), "version")),
                 "1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "config"), "binaryData")),
                 "") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(
                     json_array_get(json_object_get(j, "credentials"), 0), "publicKey"),
                     "format")), "ES256_PEM") == 0);
    json_decref(j);

    d.blocked = true;
    d.last_error_code = 9;
    memcpy(d.last_error_message, "mqtt: bad", 10);
    j = api_google_device_json("projects/p/locations/l/registries/r", &v,
                               API_DEV_ID | API_DEV_BLOCKED | API_DEV_LAST_ERROR_STATUS);
    CHECK(json_object_size(j) == 3 && json_is_true(json_object_get(j, "blocked")));
    CHECK(json_integer_value(json_object_get(json_object_get(j, "lastErrorStatus"), "code")) ==
          9);
    json_decref(j);
}

static void test_device_extra(void)
{
    struct api_device_in in;
    struct api_err err;
    char *out = NULL;

    CHECK(dev_parse("{\"logLevel\":\"ERROR\",\"gatewayConfig\":{\"gatewayAuthMethod\":1}}", false,
                    &in, &err) == 0);
    /* Only the masked fields change; gatewayType survives an auth-method patch. */
    CHECK(api_google_device_extra("{\"metadata\":{\"a\":\"b\"},\"gatewayConfig\":"
                                  "{\"gatewayType\":\"GATEWAY\"}}", &in,
                                  API_DEV_GATEWAY_AUTH_METHOD, &out) == 0);
    CHECK(out && strstr(out, "\"gatewayType\":\"GATEWAY\"") &&
          strstr(out, "\"gatewayAuthMethod\":\"ASSOCIATION_ONLY\"") && strstr(out, "metadata") &&
          !strstr(out, "logLevel"));
    free(out);
    CHECK(api_google_device_extra("{\"metadata\":{\"a\":\"b\"}}", &in, API_DEV_METADATA, &out) ==
          0 && out == NULL);
    api_device_in_clear(&in);
}

/* ---- routes over a real store ---- */

struct change_log {
    int n;
    enum webui_change last;
};

static void on_change(void *ud, enum webui_change what, int64_t rowid)
{
    struct change_log *c = ud;

    (void)rowid;
    c->n++;
    c->last = what;
}

static int call(const struct api_env *env, enum api_method m, const char *path,
                const struct api_param *params, size_t n_params, const char *body,
                json_t **ret)
{
    struct api_request req = { .method = m, .path = path, .params = params,
                               .n_params = n_params, .body = body ? body : "",
                               .body_len = body ? strlen(body) : 0 };
    struct api_response r = { 0 };
    int status;

    if (api_google_handle(env, &req, &r) < 0)
        return -1;
    status = r.status;
    *ret = body_json(&r);
    if (!*ret)
        fprintf(stderr, "not JSON: %.*s\n", (int)r.len, r.body);
    api_response_clear(&r);
    return status;
}

static void test_routes(void)
{
    char dir[256];
    char dbpath[300];
    struct change_log changes = { 0 };
    struct api_env env = { .on_change = on_change, .ud = &changes, .now_us = NOW_US };
    const char *regs = "/v1/projects/p1/locations/us-central1/registries";
    const char *devs = "/v1/projects/p1/locations/us-central1/registries/reg-1/devices";
    char url[256], *body;
    struct api_param mask = { .name = "updateMask", .value = "blocked" };
    json_t *j = NULL;
    int rc = tu_mkdtemp(dir, sizeof(dir), "iotcored-test-api");

    if (rc < 0) {
        FAIL("tu_mkdtemp: %s", strerror(-rc));
        return;
    }
    snprintf(dbpath, sizeof(dbpath), "%s/api.db", dir);
    if (db_open(dbpath, &env.db) < 0) {
        FAIL("db_open failed");
        tu_tmpdir_cleanup(dir);
        return;
    }

    CHECK(call(&env, API_GET, regs, NULL, 0, NULL, &j) == 200 && json_object_size(j) == 0);
    json_decref(j);
    CHECK(call(&env, API_POST, regs, NULL, 0, "{\"id\":\"reg-1\"}", &j) == 200);
    CHECK(strcmp(json_string_value(json_object_get(j, "name")),
                 "projects/p1/locations/us-central1/registries/reg-1") == 0);
    json_decref(j);
    CHECK(call(&env, API_POST, regs, NULL, 0, "{\"id\":\"reg-1\"}", &j) == 409);
    json_decref(j);
    CHECK(call(&env, API_DELETE, "/v1/projects/p1/locations/us-central1/registries/nope", NULL, 0,
               NULL, &j) == 404);
    json_decref(j);

    body = device_body("RSA_PEM", rsa_pem, NULL);
    CHECK(call(&env, API_POST, devs, NULL, 0, body, &j) == 200);
    free(body);
    CHECK(strcmp(json_string_value(json_object_get(j, "id")), "dev-1") == 0);
    snprintf(url, sizeof(url), "%s/%s", devs, json_string_value(json_object_get(j, "numId")));
    json_decref(j);
    CHECK(call(&env, API_GET, url, NULL, 0, NULL, &j) == 200 &&
          strcmp(json_string_value(json_object_get(j, "id")), "dev-1") == 0);
    json_decref(j);

    /* A failed create leaves nothing behind. */
    CHECK(call(&env, API_POST, devs, NULL, 0,
               "{\"id\":\"dev-2\",\"credentials\":[{\"publicKey\":{\"format\":\"RSA_PEM\","
               "\"key\":\"nope\"}}]}", &j) == 400);
    json_decref(j);
    snprintf(url, sizeof(url), "%s/dev-2", devs);
    CHECK(call(&env, API_GET, url, NULL, 0, NULL, &j) == 404);
    json_decref(j);

    snprintf(url, sizeof(url), "%s/dev-1", devs);
    CHECK(call(&env, API_PATCH, url, &mask, 1, "{\"blocked\":true}", &j) == 200 &&
          json_is_true(json_object_get(j, "blocked")));
    json_decref(j);
    CHECK(changes.n == 1 && changes.last == WEBUI_DEVICE_CHANGED);
    CHECK(call(&env, API_PATCH, url, NULL, 0, "{\"blocked\":true}", &j) == 400);
    json_decref(j);

    CHECK(call(&env, API_DELETE, "/v1/projects/p1/locations/us-central1/registries/reg-1", NULL,
               0, NULL, &j) == 400 &&
          strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "status")),
                 "FAILED_PRECONDITION") == 0);
    json_decref(j);
    CHECK(call(&env, API_DELETE, url, NULL, 0, NULL, &j) == 200 && json_object_size(j) == 0);
    json_decref(j);
    CHECK(changes.last == WEBUI_DEVICE_DELETED);
    CHECK(call(&env, API_DELETE, "/v1/projects/p1/locations/us-central1/registries/reg-1", NULL,
               0, NULL, &j) == 200);
    json_decref(j);

    CHECK(call(&env, API_PUT, regs, NULL, 0, NULL, &j) == 405);
    json_decref(j);
    {
        struct api_request req = { .method = API_GET, .path = "/v1/projects/p1/nothing",
                                   .body = "" };
        struct api_response r = { 0 };
        CHECK(api_google_handle(&env, &req, &r) == -ENOENT);
        api_response_clear(&r);
    }

    db_close(env.db);
    tu_tmpdir_cleanup(dir);
}

int main(void)
{
    test_base64();
    test_u64();
    test_envelope();
    test_masks();
    test_registry_parse();
    test_device_parse();
    test_render();
    test_device_extra();
    test_routes();
    return tu_finish("test_api");
}
