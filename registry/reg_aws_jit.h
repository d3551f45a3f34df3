/* Just-in-time registration and provisioning [aws-iot-core.md 1.9]: a
 * device presents a certificate the registry does not know (or one JITR
 * left PENDING_ACTIVATION), signed by a registered CA that is ACTIVE and
 * has auto-registration enabled.
 * - JITR (the CA has no provisioning template): the certificate is
 *   registered PENDING_ACTIVATION with the CA's id, and the caller
 *   publishes the returned event on $aws/events/certificates/registered/
 *   CAID (again on every later attempt while it stays pending) and closes
 *   the connection: a backend activates the certificate and attaches a
 *   policy, and the device reconnects.
 * - JITP (the CA's registrationConfig has a templateBody or templateName):
 *   the certificate is registered and the template run at once
 *   (reg_aws_provision.h) with the certificate's subject as parameters
 *   (AWS::IoT::Certificate::CommonName, Country, Organization,
 *   OrganizationalUnit, DistinguishedNameQualifier, StateName,
 *   SerialNumber, Id). The first connection is closed all the same, as on
 *   AWS; the device's next one finds an ACTIVE certificate.
 * A bare TLS handshake registers nothing: the caller runs this at CONNECT.
 * Transport-free. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_aws.h"
#include "registry/reg_aws_auth.h"

struct reg_aws_jit {
    char cert_id[DB_AWS_CERT_ID_MAX];
    char ca_id[DB_AWS_CERT_ID_MAX];
    char *event;            /* owned JSON for .../registered/CAID, or NULL (JITP) */
    bool provisioned;       /* JITP ran (status: the certificate's status now) */
    char status[24];
    char thing_name[DB_AWS_NAME_MAX];
    char err[256];          /* a JITP failure, logged by the caller */
};
void reg_aws_jit_clear(struct reg_aws_jit *j);     /* NULL-safe */

/* Handles the certificate (DER) at time now_us. Returns 0 when JITR or
 * JITP applied (*out filled; the connection must still be closed),
 * -ENOENT when neither applies (refuse as usual: no CA with
 * auto-registration signed it, or it is registered and not pending, or it
 * is outside its validity), -EIO, -ENOMEM. out zeroed by the caller. */
int reg_aws_jit(struct db *db, const struct reg_aws_env *env, const uint8_t *der, size_t len,
                int64_t now_us, struct reg_aws_jit *out);
