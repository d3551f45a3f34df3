/* Authenticating an AWS-style device at CONNECT and deciding what it may do
 * [aws-iot-core.md 1.4, 1.8, 2.4-2.6]: the client certificate is found by
 * its fingerprint (no chain building), must be registered, ACTIVE and
 * within its validity; the policies attached to it are compiled with the
 * connection's variables; iot:Connect must be allowed for the client id.
 * The compiled set then answers every PUBLISH, SUBSCRIBE and delivery, and
 * is rebuilt when a policy or an attachment changes (reg_aws_recheck).
 * Transport-free. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_aws.h"
#include "registry/aws_cert.h"
#include "registry/aws_policy.h"
#include "registry/reg_jwt.h"

struct reg_aws_env {
    const char *region;                 /* borrowed: aws.region */
    const char *account;                /* borrowed: aws.account_id */
};

struct reg_aws_auth {
    int64_t cert_rowid;
    char cert_id[AWS_CERT_ID_LEN + 1];
    char cert_arn[DB_AWS_ARN_MAX];
    char client_id[129];                /* as sent (validated: 1..128 bytes, no NUL) */
    char thing_name[DB_AWS_NAME_MAX];   /* the attached thing named like the client id, or "" */
    char source_ip[64];
    bool persistent;                    /* clean session 0 (iot:ConnectAttributes) */
    bool last_will;
    /* The certificate (DER, owned) and its subject/issuer attributes,
     * parsed only once a policy names iot:Certificate.* (parsing a
     * certificate costs more in OpenSSL 3 than the rest of a lookup). */
    uint8_t *der;
    size_t der_len;
    bool attrs_parsed;
    struct aws_cert_attrs attrs;        /* owned */
    struct aws_policy_set *policies;    /* owned; NULL denies everything */
};
/* Frees the owned parts and zeroes a. NULL-safe. */
void reg_aws_auth_clear(struct reg_aws_auth *a);

/* The ARN of a certificate id: arn:aws:iot:REGION:ACCOUNT:cert/ID. */
int reg_aws_cert_arn(const struct reg_aws_env *env, const char *cert_id, char *out, size_t cap);

/* Authenticates the DER certificate the device presented and checks
 * iot:Connect for client_id. Order: client id shape (BAD_CLIENT_ID), then
 * the certificate: unknown (CERT_UNKNOWN), not ACTIVE (CERT_INACTIVE),
 * outside its validity at now_us (CERT_EXPIRED), then the policies
 * (NOT_AUTHORIZED); a store failure is STORE_ERROR. On REG_AUTH_OK *ret is
 * filled (caller clears); otherwise ret is cleared. *ret must not hold
 * owned fields on entry. */
enum reg_auth_reason reg_aws_authenticate(struct db *db, const struct reg_aws_env *env,
                                          const uint8_t *der, size_t der_len,
                                          const uint8_t *client_id, size_t cid_len,
                                          const char *source_ip, bool persistent, bool last_will,
                                          int64_t now_us, struct reg_aws_auth *ret);

/* The same certificate steps for AWS's HTTPS publish [aws-iot-core.md
 * 1.13], which has no client id and no iot:Connect: unknown
 * (CERT_UNKNOWN), not ACTIVE (CERT_INACTIVE), outside its validity
 * (CERT_EXPIRED), store failure (STORE_ERROR). The policies are compiled
 * without a client id and without a thing: a statement using
 * ${iot:ClientId} or ${iot:Connection.Thing.*} never applies (the
 * engine's rule for every unresolvable variable: an Allow with one grants
 * nothing, a Deny with one denies nothing), and
 * iot:Connection.Thing.IsAttached is false. The caller checks iot:Publish
 * (and iot:RetainPublish) itself. ret->client_id is "" and ret must not be
 * passed to reg_aws_recheck. Same ownership rules as above. */
enum reg_auth_reason reg_aws_authenticate_http(struct db *db, const struct reg_aws_env *env,
                                               const uint8_t *der, size_t der_len,
                                               const char *source_ip, int64_t now_us,
                                               struct reg_aws_auth *ret);

/* After a change in the store (certificate status, policies, attachments,
 * things): re-reads the certificate and recompiles the policies in place.
 * Returns REG_AUTH_OK, or the reason the session must end (the certificate
 * is gone or no longer ACTIVE, or iot:Connect is no longer allowed). On a
 * store error the old policies stay and STORE_ERROR is returned. */
enum reg_auth_reason reg_aws_recheck(struct db *db, const struct reg_aws_env *env,
                                     struct reg_aws_auth *a, int64_t now_us);

/* Decides action on the ARN tail (e.g. "topic/a/b"). */
static inline bool reg_aws_allows(const struct reg_aws_auth *a, enum aws_action action,
                                  const char *tail, size_t len)
{
    return aws_policy_allows(a->policies, action, tail, len);
}
