/* Fleet provisioning by claim over MQTT [aws-iot-core.md 1.10], the part
 * that is not transport: a device holding a claim certificate asks for a
 * certificate (CreateKeysAndCertificate: new keys from the daemon's CA;
 * CreateCertificateFromCsr: its own key), gets it PENDING_ACTIVATION with
 * a certificate ownership token, and trades the token for its thing
 * (RegisterThing: the named FLEET_PROVISIONING template runs with the
 * request's parameters, reg_aws_provision.h). The session answers on the
 * request topic + /accepted or /rejected, to the requesting connection
 * only (the answer may hold a private key).
 *
 * Ownership tokens are HMAC-SHA256 over the certificate id and an expiry
 * one hour ahead, keyed with a secret kept in the store's account settings
 * (made on first use), so any daemon on the store accepts them. Not done:
 * deleting a certificate whose token expired unused (AWS does), calling a
 * template's pre-provisioning hook (a Lambda on AWS; the template runs
 * without it), the CBOR payload format. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/aws_cert.h"
#include "registry/reg_aws_auth.h"

struct db;

#define REG_AWS_TOKEN_TTL_US (3600LL * 1000000)

/* accepted: doc is the /accepted body; else the /rejected body
 * {"statusCode", "errorCode", "errorMessage"}. doc owned; it may hold a
 * private key: reg_aws_fleet_reply_clear wipes it. */
struct reg_aws_fleet_reply {
    bool accepted;
    char *doc;
    char cert_id[AWS_CERT_ID_LEN + 1];  /* the certificate created or provisioned */
};
void reg_aws_fleet_reply_clear(struct reg_aws_fleet_reply *r);     /* NULL-safe */

/* $aws/certificates/create/json (csr_payload NULL) or
 * $aws/certificates/create-from-csr/json (csr_payload: the request body
 * {"certificateSigningRequest": "PEM"}, len bytes). Returns 0 with *out
 * filled (out zeroed by the caller), -ENOMEM. */
int reg_aws_fleet_create(struct db *db, const struct aws_issuer *issuer, const char *csr_payload,
                         size_t len, int64_t now_us, struct reg_aws_fleet_reply *out);

/* $aws/provisioning-templates/NAME/provision/json with its body
 * {"certificateOwnershipToken": "...", "parameters": {...}}. Returns 0 with
 * *out filled, -ENOMEM. */
int reg_aws_fleet_register(struct db *db, const struct reg_aws_env *env, const char *template_name,
                           const char *payload, size_t len, int64_t now_us,
                           struct reg_aws_fleet_reply *out);
