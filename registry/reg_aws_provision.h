/* Provisioning a certificate from a template [aws-iot-core.md 1.9, 1.10]:
 * runs a template body (registry/aws_template.h) with parameter values and
 * applies the plan to the store in one transaction: the thing (created, or
 * an existing one changed as its OverrideSettings say), the policies
 * (existing by name, or inline documents stored under a name derived from
 * the document so the same document is one policy), their attachment to
 * the certificate, the certificate's attachment to the thing, and the
 * certificate's status. Shared by JITP (reg_aws_jit.h) and fleet
 * provisioning's RegisterThing. Transport-free. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_aws.h"
#include "registry/aws_template.h"
#include "registry/reg_aws_auth.h"

/* Inline policies get this prefix and the first 32 hex digits of the
 * SHA-256 of the document text. */
#define REG_AWS_INLINE_POLICY_PREFIX "iotcored-prov-"

struct reg_aws_prov_out {
    char thing_name[DB_AWS_NAME_MAX];   /* "" when the template has no thing */
    char *device_configuration;         /* owned JSON object text */
    char status[24];                    /* the certificate's status afterwards */
    char err[256];                      /* why, on failure */
};
void reg_aws_prov_out_clear(struct reg_aws_prov_out *o);   /* NULL-safe */

/* Runs body (len bytes) with params for the certificate cert_id (which must
 * be registered; AWS::IoT::Certificate::Id is added to params here) and
 * applies the result. default_status is the certificate's status when the
 * template's certificate resource names none ("ACTIVE" for JITP and
 * fleet provisioning). Returns 0 with *out filled (out zeroed by the
 * caller), or with out->err set: -EINVAL (the template failed or names
 * something invalid), -ENOENT (a missing parameter, policy or thing type),
 * -EEXIST (a thing exists and OverrideSettings say FAIL), -EIO (store),
 * -ENOMEM. On failure nothing was changed. */
int reg_aws_provision(struct db *db, const struct reg_aws_env *env, const char *body, size_t len,
                      const struct aws_template_param *params, size_t n_params,
                      const char *cert_id, const char *default_status, int64_t now_us,
                      struct reg_aws_prov_out *out);
