/* AWS Signature Version 4, server side. This module owns the verdict:
 * sigv4_verify runs the steps in AWS's order (signature present and well
 * formed, credential scope, time window, signed headers, access key, then
 * the signature itself) and answers with AWS's result and message for each
 * failure; sigv4_result_status/type map a result to AWS's HTTP answer. The
 * rules follow botocore (botocore/auth.py SigV4Auth, SigV4QueryAuth; the
 * AWS CLI also signs with aws-c-auth, which agrees) and the AWS-published
 * SigV4 test suite; both are checked by tests/unit/test_sigv4.c against
 * vectors botocore made. The other files of the library, behind
 * sigv4_int.h: sigv4_parse.c reads what the client sent, sigv4_date.c its
 * dates, sigv4_uri.c encodes and normalizes, sigv4_canon.c computes the
 * canonical request and the signature.
 *
 * No allocation, no logging, no clock: the caller hands over the time. */
#include "webui/sigv4.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "webui/sigv4_int.h"

static const char msg_unknown_key[] = "The security token included in the request is invalid.";

void sigv4_set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

void sigv4_clean_copy(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (o + 1 == cap && n > o && cap > 4)
        memcpy(out + cap - 4, "...", 3);
    out[o] = '\0';
}

static void fill_info(struct sigv4_info *info, const struct sigv4_input *in)
{
    if (!info)
        return;
    if (in->akid_len < sizeof(info->access_key))
        snprintf(info->access_key, sizeof(info->access_key), "%.*s", (int)in->akid_len, in->akid);
    if (in->date_len < sizeof(info->date))
        snprintf(info->date, sizeof(info->date), "%.*s", (int)in->date_len, in->date);
    if (in->region_len < sizeof(info->region))
        snprintf(info->region, sizeof(info->region), "%.*s", (int)in->region_len, in->region);
    if (in->service_len < sizeof(info->service))
        snprintf(info->service, sizeof(info->service), "%.*s", (int)in->service_len,
                 in->service);
}

/* The scope's own rules, which AWS reports as InvalidSignatureException
 * ("SignatureDoesNotMatch" on the query APIs). Any region and service. */
static enum sigv4_result check_scope(const struct sigv4_input *in, char *msg, size_t msg_len)
{
    char shown[40];

    if (!sigv4_span_eq(in->term, in->term_len, SIGV4_TERMINATOR)) {
        sigv4_clean_copy(shown, sizeof(shown), in->term, in->term_len);
        sigv4_set_msg(msg, msg_len, "Credential should be scoped with a valid terminator: '"
                      SIGV4_TERMINATOR "', not '%s'.", shown);
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->region_len == 0 || in->region_len >= 64) {
        sigv4_set_msg(msg, msg_len, "Credential should be scoped to a valid region. ");
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->service_len == 0 || in->service_len >= 64) {
        sigv4_set_msg(msg, msg_len, "Credential should be scoped to correct service. ");
        return SIGV4_BAD_SIGNATURE;
    }
    if (in->date_len != 8 || memcmp(in->date, in->amz_date, 8) != 0) {
        sigv4_clean_copy(shown, sizeof(shown), in->date, in->date_len);
        sigv4_set_msg(msg, msg_len, "Date in Credential scope does not match YYYYMMDD from "
                      "ISO-8601 version of date from HTTP: '%s' != '%.8s', from '%s'.", shown,
                      in->amz_date, in->amz_date);
        return SIGV4_BAD_SIGNATURE;
    }
    return SIGV4_OK;
}

static enum sigv4_result check_time(const struct sigv4_input *in, int64_t now, char *msg,
                                    size_t msg_len)
{
    char a[17], b[17];

    if (in->t > now + SIGV4_MAX_SKEW_S) {
        sigv4_format_amz_date(now + SIGV4_MAX_SKEW_S, a);
        sigv4_format_amz_date(now, b);
        sigv4_set_msg(msg, msg_len,
                      "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                      in->amz_date, a, b);
        return SIGV4_EXPIRED;
    }
    if (!in->presigned && in->t < now - SIGV4_MAX_SKEW_S) {
        sigv4_format_amz_date(now - SIGV4_MAX_SKEW_S, a);
        sigv4_format_amz_date(now, b);
        sigv4_set_msg(msg, msg_len, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
                      in->amz_date, a, b);
        return SIGV4_EXPIRED;
    }
    /* A presigned URL lives X-Amz-Expires seconds from X-Amz-Date. */
    if (in->presigned && in->t < now - in->expires) {
        sigv4_format_amz_date(now - in->expires, a);
        sigv4_format_amz_date(now, b);
        sigv4_set_msg(msg, msg_len,
                      "Signature expired: %s is now earlier than %s (%s - %lld sec.)",
                      in->amz_date, a, b, (long long)in->expires);
        return SIGV4_EXPIRED;
    }
    return SIGV4_OK;
}

enum sigv4_result sigv4_verify(const struct sigv4_request *r, const struct sigv4_key *keys,
                               size_t n_keys, int64_t now, struct sigv4_info *info, char *msg,
                               size_t msg_len)
{
    struct sigv4_input in;
    struct sigv4_signed_list sl;
    enum sigv4_result res;
    const struct sigv4_key *key = NULL;
    char norm[SIGV4_MAX_PATH];
    uint16_t order[SIGV4_MAX_PARAMS];
    char payload[128], creq[65], want[65];
    uint8_t k_signing[32];
    int norm_len;

    if (info)
        memset(info, 0, sizeof(*info));
    if (msg && msg_len)
        msg[0] = '\0';
    memset(&in, 0, sizeof(in));

    res = sigv4_parse_signature(r, &in, msg, msg_len);
    if (res != SIGV4_OK)
        return res;
    fill_info(info, &in);
    if ((res = check_scope(&in, msg, msg_len)) != SIGV4_OK ||
        (res = check_time(&in, now, msg, msg_len)) != SIGV4_OK ||
        (res = sigv4_parse_signed_headers(&in, &sl, msg, msg_len)) != SIGV4_OK)
        return res;

    for (size_t i = 0; i < n_keys && !key; i++)
        if (keys[i].id && keys[i].secret && sigv4_span_eq(in.akid, in.akid_len, keys[i].id))
            key = &keys[i];
    if (!key) {
        sigv4_set_msg(msg, msg_len, "%s", msg_unknown_key);
        return SIGV4_UNKNOWN_KEY;
    }

    /* From here every refusal is AWS's one "does not match" answer. */
    sigv4_set_msg(msg, msg_len, "%s", SIGV4_MSG_BAD_SIGNATURE);
    if ((res = sigv4_payload_hash(r, payload, sizeof(payload), msg, msg_len)) != SIGV4_OK)
        return res;
    norm_len = sigv4_normalize_path(sigv4_str_or_empty(r->wire_path), norm);
    if (norm_len < 0 || r->n_params > SIGV4_MAX_PARAMS || (r->n_params && !r->params))
        return SIGV4_BAD_SIGNATURE;
    sigv4_param_order(r, order);
    if (in.sig_len != 64 || !sigv4_signing_key(key->secret, &in, k_signing))
        return SIGV4_BAD_SIGNATURE;

    struct sigv4_canon canon = {
        .signed_list = &sl,
        .norm_path = norm,
        .norm_len = (size_t)norm_len,
        .order = order,
        .n_order = r->n_params,
        .payload = payload,
    };
    /* botocore signs X-Amz-Security-Token inside a presigned query; the AWS
     * IoT device SDKs append it after signing (MQTT over WebSocket), so a
     * presigned request that fails with it is tried once without it. */
    res = SIGV4_BAD_SIGNATURE;
    for (int pass = 0; pass < (in.presigned && in.token ? 2 : 1); pass++) {
        if (!sigv4_canonical_hash(r, &in, &canon, pass == 1, creq) ||
            !sigv4_signature_of(k_signing, &in, creq, want))
            break;
        if (CRYPTO_memcmp(want, in.signature, 64) == 0) {
            res = SIGV4_OK;
            break;
        }
    }
    explicit_bzero(k_signing, sizeof(k_signing));
    explicit_bzero(want, sizeof(want));
    if (res == SIGV4_OK && msg && msg_len)
        msg[0] = '\0';
    return res;
}

/* How AWS answers each failure, as seen from the AWS SDKs and CLI:
 *  - IoT's control plane (iot.REGION.amazonaws.com) and data plane
 *    (data-ats.iot...) are fronted like API Gateway: a bad signature is
 *    403 with x-amzn-ErrorType InvalidSignatureException (aws-sdk-js-v3
 *    issue 1569: IoTClient, httpStatusCode 403; javaquery/Examples issue 5:
 *    iotdata publish, 403 {"message": "The request signature we
 *    calculated..."}), and so is an expired one.
 *  - API Gateway answers an incomplete Authorization header with 403 and
 *    x-amzn-ErrorType IncompleteSignatureException (aws/chalice issue 828,
 *    europace/baufismart-kundenangaben-api issue 44, AWS knowledge center
 *    "api-gateway-troubleshoot-403-forbidden"). The JSON/query services
 *    behind the older front end answer 400 for the same error (SES, Cloud9,
 *    tagging), but IoT is not one of them, so 403.
 *  - No credentials at all: 403 MissingAuthenticationTokenException,
 *    "Missing Authentication Token" (API Gateway's MISSING_AUTHENTICATION_TOKEN).
 *  - An access key AWS does not know: 403 UnrecognizedClientException,
 *    "The security token included in the request is invalid." */
int sigv4_result_status(enum sigv4_result r)
{
    return r == SIGV4_OK ? 200 : 403;
}

const char *sigv4_result_type(enum sigv4_result r)
{
    switch (r) {
    case SIGV4_OK:
        return "";
    case SIGV4_MISSING:
        return "MissingAuthenticationTokenException";
    case SIGV4_MALFORMED:
        return "IncompleteSignatureException";
    case SIGV4_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case SIGV4_BAD_SIGNATURE:
    case SIGV4_EXPIRED:
        return "InvalidSignatureException";
    }
    return "InvalidSignatureException";
}
