/* AWS Signature Version 4, server side: rebuilds the canonical request from
 * what arrived and checks the signature against the configured access keys
 * (admin.aws_keys), for the AWS control- and data-plane routes. Any region
 * and any service name in the credential scope are accepted (the AWS CLI
 * signs the control plane as "iot" or "execute-api", the data plane as
 * "iotdata"; the docs also name "iotdevicegateway"). Both forms: the
 * Authorization header and the presigned query (X-Amz-Signature). Pure:
 * no sockets; the transport hands over what it read. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AWS refuses a signature dated more than 15 minutes from its clock. */
#define SIGV4_MAX_SKEW_S (15 * 60)

struct sigv4_param {
    const char *name;                   /* decoded */
    const char *value;                  /* decoded; "" without '=' */
};

struct sigv4_request {
    const char *method;                 /* "GET", "POST"... */
    /* The path as the client put it on the wire: percent-encoded once, no
     * query. (The transport decodes it; sigv4_uri_encode rebuilds it.) The
     * canonical URI is this path encoded once more, as AWS does for every
     * service but S3. */
    const char *wire_path;
    const struct sigv4_param *params;   /* decoded query arguments */
    size_t n_params;
    /* The value of a header (name in lower case), or NULL when absent. */
    const char *(*header)(void *ud, const char *lower_name);
    void *header_ud;
    const uint8_t *body;
    size_t body_len;
};

struct sigv4_key {
    const char *id;                     /* access key id */
    const char *secret;
};

enum sigv4_result {
    SIGV4_OK = 0,
    SIGV4_MISSING,          /* neither an Authorization header nor X-Amz-Signature */
    SIGV4_MALFORMED,        /* IncompleteSignatureException */
    SIGV4_UNKNOWN_KEY,      /* UnrecognizedClientException */
    SIGV4_BAD_SIGNATURE,    /* InvalidSignatureException */
    SIGV4_EXPIRED,          /* InvalidSignatureException: signature expired / not yet valid */
};

/* What the credential scope named (filled as far as it was parsed). */
struct sigv4_info {
    char access_key[129];
    char date[9];                       /* YYYYMMDD */
    char region[64];
    char service[64];
};

/* Verifies r. now is Unix seconds. On failure msg gets AWS's message for
 * the case (e.g. "The request signature we calculated does not match the
 * signature you provided. Check your AWS Secret Access Key and signing
 * method. Consult the service documentation for details."). */
enum sigv4_result sigv4_verify(const struct sigv4_request *r, const struct sigv4_key *keys,
                               size_t n_keys, int64_t now, struct sigv4_info *info, char *msg,
                               size_t msg_len);

/* AWS's answer to a failed verification: HTTP status (403, or 400 for
 * MALFORMED... as AWS answers) and the x-amzn-ErrorType code. */
int sigv4_result_status(enum sigv4_result r);
const char *sigv4_result_type(enum sigv4_result r);

/* Percent-encodes s as SigV4 (and the AWS SDKs) do: everything but
 * A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex); '/' stays unless
 * encode_slash. Returns the length written (NUL-terminated), or -ENOSPC. */
int sigv4_uri_encode(const char *s, size_t len, bool encode_slash, char *out, size_t cap);
