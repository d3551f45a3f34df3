/* Registry CA certificates (Google's DeviceRegistry.credentials): what a
 * certificate shows as x509Details, and the rule that a device certificate
 * must be signed directly by one of its registry's CAs [google-iot-core.md
 * section 4 "Registry CA certificates"]. OpenSSL is used here; callers see
 * PEM text and plain structs. Whether a CA itself is acceptable (X.509v3,
 * RSA >= 2048 or P-256, not expired) is reg_cred_check's job. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Google's quota: at most 10 CA certificates per registry. */
#define REG_X509_MAX_CAS 10

/* X509CertificateDetails, the output-only part of a registry credential. */
struct reg_x509_details {
    char issuer[512];               /* RFC 2253 ("CN=ca,O=example"), cut to fit */
    char subject[512];
    int64_t start_us;               /* notBefore */
    int64_t expiry_us;              /* notAfter */
    char signature_algorithm[64];   /* OpenSSL's long name: "ecdsa-with-SHA256" */
    char public_key_type[16];       /* "RSA" or "EC" (what the key is; else OpenSSL's name) */
};

/* Fills *ret from one CERTIFICATE PEM block. Returns 0, -EINVAL when the
 * text is not a certificate, -ENOMEM. ret is untouched on failure. */
int reg_x509_details(const char *pem, struct reg_x509_details *ret);

/* A registry's CA certificates, parsed once for many checks (an import
 * verifies every device of the registry against the same set). */
struct reg_x509_cas;

/* Parses n (<= REG_X509_MAX_CAS) CERTIFICATE PEM blocks; n may be 0 (then
 * every check passes: no CA, no rule). Returns 0, -EINVAL (a PEM that is not
 * a certificate, or too many), -ENOMEM. */
int reg_x509_cas_new(const char *const *pems, size_t n, struct reg_x509_cas **ret);
void reg_x509_cas_free(struct reg_x509_cas *c);     /* NULL-safe */
size_t reg_x509_cas_count(const struct reg_x509_cas *c);

/* Google's rule for a new device credential of a registry with CAs:
 * cert_pem is a certificate signed directly by the key of one of the CAs
 * (no intermediates) that is itself valid at now_us, and it is none of the
 * CA certificates. Returns 0 (also when the set is empty), -EACCES when no
 * CA vouches for it, -EINVAL when cert_pem is not a certificate, -ENOMEM. */
int reg_x509_cas_verify(const struct reg_x509_cas *c, const char *cert_pem, int64_t now_us);
