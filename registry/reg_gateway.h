/* Google gateways: a device's gatewayConfig (stored in db_device.extra_json)
 * and the rule that decides whether a gateway may attach a device
 * (gatewayAuthMethod: binding, the device's own JWT, or both). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

enum reg_gateway_auth {
    REG_GW_AUTH_UNSPECIFIED = 0,            /* no device may use the gateway */
    REG_GW_AUTH_ASSOCIATION_ONLY,           /* the device must be bound; a token is ignored */
    REG_GW_AUTH_DEVICE_AUTH_TOKEN_ONLY,     /* the device's own JWT; binding not checked */
    REG_GW_AUTH_ASSOCIATION_AND_DEVICE_AUTH_TOKEN,
};

struct reg_gateway_cfg {
    bool is_gateway;                        /* gatewayType == GATEWAY */
    enum reg_gateway_auth auth;
};

/* Parses gatewayConfig from a device's extra_json (NULL = not a gateway).
 * Unknown values read as not a gateway / unspecified. */
void reg_gateway_cfg_parse(const char *device_extra_json, struct reg_gateway_cfg *ret);

/* Why an attach was refused; "" words never change (logs, error payloads). */
enum reg_attach_result {
    REG_ATTACH_OK = 0,
    REG_ATTACH_NO_METHOD,                   /* "auth-method-unspecified" */
    REG_ATTACH_NOT_BOUND,                   /* "not-bound" */
    REG_ATTACH_TOKEN_REFUSED,               /* "token-refused" (detail in the auth reason) */
    REG_ATTACH_UNKNOWN_DEVICE,              /* "unknown-device" */
    REG_ATTACH_BLOCKED,                     /* "blocked" */
    REG_ATTACH_STORE_ERROR,                 /* "store-error" */
};
const char *reg_attach_result_word(enum reg_attach_result r);

/* Decides whether the gateway (rowid, its gatewayConfig) may attach the
 * device named device_id in the same registry (project/location/registry),
 * with the JWT from the attach payload (token may be NULL/""). On OK fills
 * *ret_device_rowid. *ret_auth_reason gets the JWT refusal reason when the
 * result is TOKEN_REFUSED (else 0). */
enum reg_attach_result reg_gateway_attach(struct db *db, int64_t gateway_rowid,
                                          const struct reg_gateway_cfg *gw, const char *project,
                                          const char *location, const char *registry,
                                          int64_t registry_rowid, const char *device_id,
                                          const char *token, int64_t clock_skew,
                                          int64_t max_lifetime, int64_t refresh_interval,
                                          int64_t now, int64_t *ret_device_rowid,
                                          int *ret_auth_reason);

/* The "authorization" string of an attach payload ({"authorization": JWT};
 * empty payload, "{}" or an empty string = no token). *ret is malloc'd or
 * NULL. Returns 0, or -EINVAL when the payload is not such JSON. */
int reg_gateway_attach_token(const void *payload, size_t len, char **ret);

/* Records gatewayConfig.lastAccessedGatewayId/Time on the attached device
 * (Google kept them). Best effort: returns 0 or a negative errno. */
int reg_gateway_mark_accessed(struct db *db, int64_t device_rowid, const char *gateway_id,
                              int64_t now_us);
