/* libFuzzer target for the Google admin API body parsers (webui/google_model_*.c):
 * the first byte picks DeviceRegistry or Device, create or patch, or one of
 * the custom methods' requests (modifyCloudToDeviceConfig,
 * sendCommandToDevice, bind/unbind); the rest is the request body. Must
 * never crash or leak; abort() when an accepted body breaks what the
 * handlers rely on: a created resource has a valid id, a device has at
 * most DB_MAX_CREDENTIALS checked credentials, what is stored (extra_json)
 * is a JSON object that renders back, payloads are within Google's limits
 * and a command subfolder holds no MQTT wildcard. The same bytes are also
 * fed to the field-mask parsers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg_cred.h"
#include "registry/reg_names.h"
#include "webui/api.h"
#include "fuzz_target.h"

/* 2023-11-14: fixed, so certificate expiry does not change verdicts. */
#define FUZZ_NOW_US 1700000000000000LL

static void check_registry(const char *body, size_t len, bool create)
{
    struct api_registry_in in;
    struct api_err err;
    struct db_registry reg;
    json_t *out;

    memset(&err, 0, sizeof(err));
    if (api_google_registry_parse(body, len, create, FUZZ_NOW_US, &in, &err) < 0) {
        REQUIRE(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        return;
    }
    REQUIRE(json_is_object(in.extra));
    if (create)
        REQUIRE(reg_name_check_id(in.id, NULL) == 0);
    memset(&reg, 0, sizeof(reg));
    memcpy(reg.id, "fuzz-registry", sizeof("fuzz-registry"));
    reg.extra_json = json_dumps(in.extra, JSON_COMPACT);
    REQUIRE(reg.extra_json != NULL);
    out = api_google_registry_json("projects/p/locations/l/registries/fuzz-registry", &reg);
    REQUIRE(out != NULL);
    json_decref(out);
    free(reg.extra_json);
    api_registry_in_clear(&in);
}

static void check_device(const char *body, size_t len, bool create)
{
    struct api_device_in in;
    struct api_err err;
    struct db_device dev;
    struct api_device_view v;
    char *extra = NULL;
    json_t *out;

    memset(&err, 0, sizeof(err));
    if (api_google_device_parse(body, len, create, FUZZ_NOW_US, &in, &err) < 0) {
        REQUIRE(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        return;
    }
    REQUIRE(in.n_creds <= DB_MAX_CREDENTIALS);
    for (size_t i = 0; i < in.n_creds; i++) {
        char why[256];
        REQUIRE(in.creds[i].key_pem != NULL);
        REQUIRE(reg_cred_check(in.creds[i].format, in.creds[i].key_pem, FUZZ_NOW_US, why,
                               sizeof(why)) == 0);
    }
    if (create)
        REQUIRE(reg_name_check_id(in.id, NULL) == 0);
    REQUIRE(in.config_len <= API_G_MAX_CONFIG_BYTES);
    REQUIRE(api_google_device_extra(NULL, &in, API_DEV_ALL | API_DEV_GATEWAY_AUTH_METHOD,
                                    &extra) == 0);
    memset(&dev, 0, sizeof(dev));
    memcpy(dev.id, "fuzz-device", sizeof("fuzz-device"));
    dev.num_id = 1;
    dev.blocked = in.blocked;
    dev.extra_json = extra;
    memset(&v, 0, sizeof(v));
    v.dev = &dev;
    v.creds = in.creds;
    v.n_creds = in.n_creds;
    out = api_google_device_json("projects/p/locations/l/registries/r", &v, API_DEV_ALL);
    REQUIRE(out != NULL);
    json_decref(out);
    free(extra);
    api_device_in_clear(&in);
}

static void check_requests(const char *body, size_t len, int which)
{
    struct api_config_in cfg;
    struct api_command_in cmd;
    struct api_bind_in bind;
    struct api_err err;

    memset(&err, 0, sizeof(err));
    if (which == 0 && api_google_config_parse(body, len, &cfg, &err) == 0) {
        REQUIRE(cfg.data != NULL && cfg.len <= API_G_MAX_CONFIG_BYTES);
        REQUIRE(cfg.version_to_update >= 0);
        api_config_in_clear(&cfg);
    } else if (which == 1 && api_google_command_parse(body, len, &cmd, &err) == 0) {
        REQUIRE(cmd.data != NULL && cmd.len <= API_G_MAX_COMMAND_BYTES);
        REQUIRE(strlen(cmd.subfolder) <= API_G_MAX_SUBFOLDER);
        REQUIRE(strpbrk(cmd.subfolder, "+#") == NULL);
        api_command_in_clear(&cmd);
    } else if (which == 2 && api_google_bind_parse(body, len, &bind, &err) == 0) {
        REQUIRE(bind.gateway_id[0] != '\0' && bind.device_id[0] != '\0');
    }
    REQUIRE(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_err err;
    unsigned bits;
    char *text;

    if (size < 1)
        return 0;
    switch (data[0] & 7) {
    case 0: check_registry((const char *)data + 1, size - 1, true); break;
    case 1: check_registry((const char *)data + 1, size - 1, false); break;
    case 2: check_device((const char *)data + 1, size - 1, true); break;
    case 3: check_device((const char *)data + 1, size - 1, false); break;
    case 4: check_requests((const char *)data + 1, size - 1, 0); break;
    case 5: check_requests((const char *)data + 1, size - 1, 1); break;
    default: check_requests((const char *)data + 1, size - 1, 2); break;
    }
    /* Field masks arrive as query strings: NUL-terminated text. */
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    (void)api_google_device_mask(text, &bits, &err);
    (void)api_google_registry_mask(text, &bits, &err);
    free(text);
    return 0;
}
