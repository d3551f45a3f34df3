/* Private to the SigV4 files (webui/sigv4*.c), never included elsewhere:
 * the limits, what the client sent (struct sigv4_input, filled by
 * sigv4_parse.c), and the pieces the other files share: dates
 * (sigv4_date.c), percent-encoding and path normalization (sigv4_uri.c),
 * the canonical request and signature (sigv4_canon.c), and the message
 * helpers (sigv4.c). The symbols carry the sigv4_ prefix because they link
 * into libsigv4; none of them is part of sigv4.h's contract. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "webui/sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
/* Bounds on what a peer can make us walk. lws keeps the whole request head
 * in a few KB, so real requests stay far below them. */
#define SIGV4_MAX_PATH 8192
#define SIGV4_MAX_PARAMS 1024
#define SIGV4_MAX_SIGNED_HEADERS 64
#define SIGV4_MAX_HEADER_NAME 128
/* "AWS4" + secret must fit one HMAC key buffer; AWS secrets are 40 chars. */
#define SIGV4_MAX_SECRET 256
/* AWS refuses presigned URLs valid for more than seven days. */
#define SIGV4_MAX_EXPIRES 604800

/* AWS's one answer to every signature that does not check out. */
#define SIGV4_MSG_BAD_SIGNATURE                                                                \
    "The request signature we calculated does not match the signature you provided. Check "  \
    "your AWS Secret Access Key and signing method. Consult the service documentation for "   \
    "details."

/* ---- what the client sent (sigv4_parse.c) ---- */

/* Every pointer borrows from the request. */
struct sigv4_input {
    bool presigned;
    const char *cred;                   /* AKID/date/region/service/term */
    size_t cred_len;
    const char *signed_headers;         /* "host;x-amz-date" */
    size_t signed_len;
    const char *signature;
    size_t sig_len;
    char amz_date[17];                  /* the time as the string to sign has it */
    int64_t t;
    int64_t expires;                    /* presigned only */
    const char *token;                  /* presigned X-Amz-Security-Token, or NULL */
    /* the credential scope */
    const char *akid, *date, *region, *service, *term;
    size_t akid_len, date_len, region_len, service_len, term_len;
};

/* The signed header names, split from in->signed_headers. */
struct sigv4_signed_list {
    size_t n;
    struct {
        const char *name;
        size_t len;
    } h[SIGV4_MAX_SIGNED_HEADERS];
};

/* Reads the signature r carries (Authorization header, else presigned
 * query), its time and its credential scope into *in. SIGV4_MISSING when r
 * carries none; otherwise SIGV4_MALFORMED (or another failure) with AWS's
 * message in msg. */
enum sigv4_result sigv4_parse_signature(const struct sigv4_request *r, struct sigv4_input *in,
                                        char *msg, size_t msg_len);
/* Splits in->signed_headers, which must name host. */
enum sigv4_result sigv4_parse_signed_headers(const struct sigv4_input *in,
                                             struct sigv4_signed_list *sl, char *msg,
                                             size_t msg_len);
/* Drops spaces and tabs at both ends of s[0..*n). */
void sigv4_trim(const char **s, size_t *n);

static inline const char *sigv4_str_or_empty(const char *s)
{
    return s ? s : "";
}

static inline bool sigv4_span_eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

/* The value of header lower (a lower-case name), or NULL. */
static inline const char *sigv4_header(const struct sigv4_request *r, const char *lower)
{
    return r->header ? r->header(r->header_ud, lower) : NULL;
}

/* ---- dates (sigv4_date.c); times are Unix seconds ---- */

/* "20150830T123600Z", the ISO 8601 basic format of X-Amz-Date. 0 or -EINVAL. */
int sigv4_parse_amz_date(const char *s, size_t n, int64_t *ret);
/* RFC 1123, the Date header. 0 or -EINVAL. */
int sigv4_parse_http_date(const char *s, size_t n, int64_t *ret);
/* t in the X-Amz-Date form, NUL-terminated. */
void sigv4_format_amz_date(int64_t t, char out[17]);

/* ---- percent-encoding and paths (sigv4_uri.c) ---- */

/* Byte c as sigv4_uri_encode writes it into out (not terminated): returns
 * 1 (c itself) or 3 (%XX). */
size_t sigv4_encode_byte(unsigned char c, bool encode_slash, char out[3]);
/* Fills order with the indexes of r->params sorted as botocore sorts the
 * canonical query (by encoded name, then encoded value). r->n_params <=
 * SIGV4_MAX_PARAMS. */
void sigv4_param_order(const struct sigv4_request *r, uint16_t *order);
/* botocore's remove_dot_segments of p into out (SIGV4_MAX_PATH bytes).
 * Returns the length written, or -ENAMETOOLONG. */
int sigv4_normalize_path(const char *p, char *out);

/* ---- canonical request and signature (sigv4_canon.c) ---- */

/* The canonical request's payload line into out. SIGV4_BAD_SIGNATURE with
 * msg set when it cannot stand. */
enum sigv4_result sigv4_payload_hash(const struct sigv4_request *r, char *out, size_t cap,
                                     char *msg, size_t msg_len);
/* The parts of the canonical request that do not change between tries. */
struct sigv4_canon {
    const struct sigv4_signed_list *signed_list;
    const char *norm_path;              /* sigv4_normalize_path's result */
    size_t norm_len;
    const uint16_t *order;              /* sigv4_param_order's result */
    size_t n_order;
    const char *payload;                /* sigv4_payload_hash's result */
};
/* SHA-256 of the canonical request, hex; drop_token leaves a presigned
 * query's X-Amz-Security-Token out. False when a signed header is absent
 * (the client signed something we did not get) or OpenSSL failed. */
bool sigv4_canonical_hash(const struct sigv4_request *r, const struct sigv4_input *in,
                          const struct sigv4_canon *c, bool drop_token, char out[65]);
/* The signing key the secret gives for in's scope. False when the secret
 * is too long or OpenSSL failed. The caller wipes out. */
bool sigv4_signing_key(const char *secret, const struct sigv4_input *in, uint8_t out[32]);
/* The signature, hex, of the string to sign over creq_hex. */
bool sigv4_signature_of(const uint8_t key[32], const struct sigv4_input *in,
                        const char *creq_hex, char out[65]);

/* ---- messages (sigv4.c) ---- */

/* vsnprintf into msg; nothing when msg is NULL or cap 0. */
void sigv4_set_msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A peer string fit to quote in a message: printable ASCII only, at most
 * cap - 1 bytes (longer input ends in "..."). */
void sigv4_clean_copy(char *out, size_t cap, const char *s, size_t n);
