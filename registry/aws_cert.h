/* AWS IoT X.509 rules [aws-iot-core.md sections 1.4-1.7, 5.2]: the
 * certificate id (lowercase hex SHA-256 of the DER), what a certificate
 * says (validity, subject and issuer attributes for policy variables),
 * whether a CA signed a certificate, the proof of possession a CA
 * registration carries, and issuing device certificates with the daemon's
 * CA (CreateKeysAndCertificate, CreateCertificateFromCsr). OpenSSL lives
 * here; callers see PEM/DER bytes and plain structs. No store. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/aws_policy.h"

#define AWS_CERT_ID_LEN 64              /* hex characters */
#define AWS_CERT_MAX_PEM 65536

struct aws_cert_info {
    char id[AWS_CERT_ID_LEN + 1];       /* lowercase hex SHA-256 of the DER */
    int64_t not_before_us;
    int64_t not_after_us;
    bool is_ca;                         /* basicConstraints CA:TRUE */
    char subject[512];                  /* RFC 2253 text, cut to fit (logs, API) */
    char issuer[512];
};

/* The id of a DER certificate. Returns 0, -EINVAL (len 0). */
int aws_cert_id_der(const uint8_t *der, size_t len, char out[AWS_CERT_ID_LEN + 1]);

/* Parses exactly one CERTIFICATE PEM block (surrounding whitespace
 * allowed). Returns 0, -EINVAL with why (AWS's CertificateValidationException
 * text, e.g. "The certificate is not a valid X.509 certificate" or
 * "Certificate is not valid PEM"), -ENOMEM. ret untouched on failure. */
int aws_cert_parse_pem(const char *pem, size_t len, struct aws_cert_info *ret, char *why,
                       size_t why_len);
int aws_cert_parse_der(const uint8_t *der, size_t len, struct aws_cert_info *ret);

/* Subject and issuer attributes of a DER certificate, for policy
 * variables: pairs in certificate order, names as aws_policy.h lists them;
 * attributes AWS does not name are left out. Owned storage; free with
 * aws_cert_attrs_clear. Also the serial number as lowercase hex. */
struct aws_cert_attrs {
    struct aws_kv *subject;
    size_t n_subject;
    struct aws_kv *issuer;
    size_t n_issuer;
    char serial[128];
    char *storage;                      /* owns every name/value string */
};
/* Returns 0, -EINVAL (not one DER certificate; a value holding a NUL
 * byte or a serial longer than 63 bytes, which would not survive as a C
 * string: failing beats matching a policy with a cut value), -ENOMEM. */
int aws_cert_attrs_der(const uint8_t *der, size_t len, struct aws_cert_attrs *ret);
void aws_cert_attrs_clear(struct aws_cert_attrs *a);

/* PEM -> DER (malloc'd *ret). Returns 0, -EINVAL, -ENOMEM. */
int aws_cert_pem_to_der(const char *pem, size_t len, uint8_t **ret, size_t *ret_len);

/* The DER bytes of exactly one PEM block labelled label (or alt_label when
 * not NULL), surrounding whitespace allowed, no RFC 1421 headers; *ret is
 * malloc'd. Shared by the certificate and CSR parsers. Returns 0,
 * -EMSGSIZE (len > AWS_CERT_MAX_PEM), -EBADMSG (not PEM: no block, text
 * around it, bad base64, headers, a NUL byte), -EMEDIUMTYPE (a block with
 * another label: a key or CSR given as a certificate), -E2BIG (a second
 * block follows), -ENOMEM. */
int aws_cert_pem_block(const char *pem, size_t len, const char *label, const char *alt_label,
                       uint8_t **ret, size_t *ret_len);

/* Whether ca_pem's key signed cert_pem and cert's issuer name equals ca's
 * subject (no chain building, no time check). Returns 1 yes, 0 no,
 * -EINVAL when either is not a certificate, -ENOMEM. */
int aws_cert_signed_by(const char *cert_pem, const char *ca_pem);

/* RegisterCACertificate's proof of possession: verification_pem is a
 * certificate whose subject CommonName equals registration_code and which
 * ca_pem's key signed. Returns 0, -EACCES with why (AWS's
 * RegistrationCodeValidationException / CertificateValidationException
 * text), -EINVAL when a PEM is not a certificate, -ENOMEM. */
int aws_cert_check_verification(const char *ca_pem, const char *verification_pem,
                                const char *registration_code, char *why, size_t why_len);

/* A fresh registration code: 64 lowercase hex characters. */
int aws_registration_code(char out[AWS_CERT_ID_LEN + 1]);

/* The daemon's CA (data_dir/ca.pem + ca.key) for issuing device
 * certificates. */
struct aws_issuer;
int aws_issuer_load(const char *ca_cert_path, const char *ca_key_path, struct aws_issuer **ret);
void aws_issuer_free(struct aws_issuer *is);    /* NULL-safe */
/* The CA certificate PEM (borrowed). */
const char *aws_issuer_ca_pem(const struct aws_issuer *is);

/* CreateKeysAndCertificate: a new RSA-2048 key pair and a certificate for
 * it signed by the CA, subject "CN=AWS IoT Certificate", valid from now
 * until 2049-12-31T23:59:59Z (as AWS issues them). Every output is a
 * malloc'd PEM string. Returns 0, -ENOMEM, -EIO. */
int aws_issue_keys_and_certificate(const struct aws_issuer *is, char **ret_cert_pem,
                                   char **ret_public_pem, char **ret_private_pem);
/* CreateCertificateFromCsr: checks the CSR's signature and signs its public
 * key and subject (same validity). Returns 0, -EINVAL with why (AWS's
 * InvalidRequestException text) for a bad CSR, -ENOMEM, -EIO. */
int aws_issue_from_csr(const struct aws_issuer *is, const char *csr_pem, size_t len,
                       char **ret_cert_pem, char *why, size_t why_len);
