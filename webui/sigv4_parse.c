/* What the client sent, read as SigV4 reads it: the Authorization header
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
 * or the presigned query (X-Amz-Algorithm, X-Amz-Credential...), the time
 * the signature claims (X-Amz-Date, else Date), the credential scope and
 * the signed header list, with AWS's message for each way they can be
 * malformed. Everything read borrows from the request. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/b64.h"
#include "webui/sigv4_int.h"

static const char msg_missing[] = "Missing Authentication Token";

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void sigv4_trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1]))
        (*n)--;
}

static const char *find_param(const struct sigv4_request *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (r->params[i].name && strcmp(r->params[i].name, name) == 0)
            return sigv4_str_or_empty(r->params[i].value);
    return NULL;
}

/* "Authorization=ALG": AWS quotes the whole header; we quote only an
 * algorithm-looking first word, never a token or signature. */
static void auth_tail(char *out, size_t cap, const char *alg, size_t alg_len)
{
    bool ok = alg_len > 0 && alg_len <= 32;

    for (size_t i = 0; ok && i < alg_len; i++)
        ok = (alg[i] >= 'A' && alg[i] <= 'Z') || (alg[i] >= '0' && alg[i] <= '9') ||
             alg[i] == '-';
    snprintf(out, cap, "%s%.*s", ok ? " Authorization=" : "", ok ? (int)alg_len : 0, alg);
}

/* Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * AWS SDKs separate the pairs with ", " (botocore, aws-c-auth, the Java
 * and JS SDKs) and some hand-rolled clients with ","; any run of spaces or
 * tabs around a comma is accepted. Unknown keys are ignored. */
static enum sigv4_result parse_auth_header(const char *h, struct sigv4_input *in, bool have_date,
                                           char *msg, size_t msg_len)
{
    size_t n = strlen(h), i = 0;
    const char *alg;
    size_t alg_len;
    bool seen_cred = false, seen_sh = false, seen_sig = false;

    sigv4_trim(&h, &n);
    alg = h;
    while (i < n && !is_ows(h[i]))
        i++;
    alg_len = i;
    while (i < n) {
        while (i < n && is_ows(h[i]))
            i++;
        size_t j = i;
        while (j < n && h[j] != ',')
            j++;
        const char *pair = h + i;
        size_t pair_len = j - i;
        sigv4_trim(&pair, &pair_len);
        const char *eq = memchr(pair, '=', pair_len);
        if (!eq) {
            /* AWS (API Gateway) hashes the offending pair rather than
             * quoting it, as it may be a secret. */
            uint8_t md[32];
            char b64[48];
            unsigned int md_len = 0;
            if (EVP_Digest(pair, pair_len, md, &md_len, EVP_sha256(), NULL) != 1 ||
                b64_encode(md, 32, b64, sizeof(b64)) < 0)
                b64[0] = '\0';
            sigv4_set_msg(msg, msg_len,
                    "Invalid key=value pair (missing equal-sign) in Authorization header "
                    "(hashed with SHA-256 and encoded with Base64): '%s'.", b64);
            return SIGV4_MALFORMED;
        }
        size_t klen = (size_t)(eq - pair);
        const char *v = eq + 1;
        size_t vlen = pair_len - klen - 1;
        bool *seen = NULL;
        if (sigv4_span_eq(pair, klen, "Credential")) {
            seen = &seen_cred;
            in->cred = v;
            in->cred_len = vlen;
        } else if (sigv4_span_eq(pair, klen, "SignedHeaders")) {
            seen = &seen_sh;
            in->signed_headers = v;
            in->signed_len = vlen;
        } else if (sigv4_span_eq(pair, klen, "Signature")) {
            seen = &seen_sig;
            in->signature = v;
            in->sig_len = vlen;
        }
        if (seen && *seen) {
            char key[16];
            sigv4_clean_copy(key, sizeof(key), pair, klen);
            sigv4_set_msg(msg, msg_len,
                          "Authorization header has more than one '%s' parameter.", key);
            return SIGV4_MALFORMED;
        }
        if (seen)
            *seen = true;
        i = j + 1;
    }
    if (!seen_cred || !seen_sig || !seen_sh || !have_date) {
        /* AWS lists every requirement that failed, in this order. */
        char tail[64];
        auth_tail(tail, sizeof(tail), alg, alg_len);
        sigv4_set_msg(msg, msg_len, "%s%s%s%s%s",
                seen_cred ? "" : "Authorization header requires 'Credential' parameter. ",
                seen_sig ? "" : "Authorization header requires 'Signature' parameter. ",
                seen_sh ? "" : "Authorization header requires 'SignedHeaders' parameter. ",
                have_date ? "" : "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header. ",
                tail[0] ? tail + 1 : "");
        /* Drop the trailing space when there was no tail. */
        if (msg && msg_len && !tail[0]) {
            size_t l = strlen(msg);
            if (l && msg[l - 1] == ' ')
                msg[l - 1] = '\0';
        }
        return SIGV4_MALFORMED;
    }
    if (!sigv4_span_eq(alg, alg_len, SIGV4_ALGORITHM)) {
        sigv4_set_msg(msg, msg_len, "The authorization mechanism you have provided is not "
                      "supported. Please use " SIGV4_ALGORITHM ".");
        return SIGV4_MALFORMED;
    }
    return SIGV4_OK;
}

/* X-Amz-Date (query or header) into in->t and in->amz_date. A bad value is
 * quoted up to show - 1 bytes: 23 from the query, 39 from a header. */
static enum sigv4_result read_amz_date(struct sigv4_input *in, const char *s, size_t n,
                                       size_t show, char *msg, size_t msg_len)
{
    char shown[40];

    if (sigv4_parse_amz_date(s, n, &in->t) < 0) {
        sigv4_clean_copy(shown, show < sizeof(shown) ? show : sizeof(shown), s, n);
        sigv4_set_msg(msg, msg_len, "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                      "http://en.wikipedia.org/wiki/ISO_8601", shown);
        return SIGV4_MALFORMED;
    }
    memcpy(in->amz_date, s, 16);
    in->amz_date[16] = '\0';
    return SIGV4_OK;
}

static enum sigv4_result parse_presigned(const struct sigv4_request *r, struct sigv4_input *in,
                                         char *msg, size_t msg_len)
{
    static const char *const required[] = {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
        "X-Amz-SignedHeaders", "X-Amz-Expires",
    };
    const char *v[6];
    char missing[400];
    size_t m = 0;

    missing[0] = '\0';
    for (size_t i = 0; i < 6; i++) {
        v[i] = find_param(r, required[i]);
        if (!v[i] && m < sizeof(missing)) {
            int w = snprintf(missing + m, sizeof(missing) - m,
                             "AWS query-string parameters must include '%s'. ", required[i]);
            if (w > 0)
                m += (size_t)w;
        }
    }
    if (m) {
        sigv4_set_msg(msg, msg_len, "%sRe-examine the query-string parameters.", missing);
        return SIGV4_MALFORMED;
    }
    if (strcmp(v[0], SIGV4_ALGORITHM) != 0) {
        sigv4_set_msg(msg, msg_len, "X-Amz-Algorithm only supports \"" SIGV4_ALGORITHM "\".");
        return SIGV4_MALFORMED;
    }
    in->presigned = true;
    in->cred = v[1];
    in->cred_len = strlen(v[1]);
    in->signature = v[2];
    in->sig_len = strlen(v[2]);
    in->signed_headers = v[4];
    in->signed_len = strlen(v[4]);
    in->token = find_param(r, "X-Amz-Security-Token");

    const char *e = v[5];
    size_t el = strlen(e);
    int64_t exp = 0;
    if (el == 0 || el > 9) {
        sigv4_set_msg(msg, msg_len, "X-Amz-Expires should be a number.");
        return SIGV4_MALFORMED;
    }
    for (size_t i = 0; i < el; i++) {
        if (e[i] < '0' || e[i] > '9') {
            sigv4_set_msg(msg, msg_len, "X-Amz-Expires should be a number.");
            return SIGV4_MALFORMED;
        }
        exp = exp * 10 + (e[i] - '0');
    }
    if (exp > SIGV4_MAX_EXPIRES) {
        sigv4_set_msg(msg, msg_len,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800.");
        return SIGV4_MALFORMED;
    }
    in->expires = exp;
    return read_amz_date(in, v[3], strlen(v[3]), 24, msg, msg_len);
}

/* The time the signature claims: X-Amz-Date, else Date (botocore's rule:
 * it sets one or the other). */
static enum sigv4_result header_time(const struct sigv4_request *r, struct sigv4_input *in,
                                     char *msg, size_t msg_len)
{
    const char *xd = sigv4_header(r, "x-amz-date");
    char shown[40];

    if (xd) {
        size_t n = strlen(xd);
        sigv4_trim(&xd, &n);
        return read_amz_date(in, xd, n, sizeof(shown), msg, msg_len);
    }
    const char *d = sigv4_header(r, "date");
    size_t n = d ? strlen(d) : 0;
    if (d)
        sigv4_trim(&d, &n);
    if (!d || sigv4_parse_http_date(d, n, &in->t) < 0) {
        sigv4_clean_copy(shown, sizeof(shown), d ? d : "", n);
        sigv4_set_msg(msg, msg_len, "Date must be in RFC 1123 format. Got '%s'.", shown);
        return SIGV4_MALFORMED;
    }
    sigv4_format_amz_date(in->t, in->amz_date);
    return SIGV4_OK;
}

/* Splits the credential into its five parts. */
static enum sigv4_result parse_scope(struct sigv4_input *in, char *msg, size_t msg_len)
{
    const char *part[5];
    size_t len[5], k = 0, start = 0;

    for (size_t i = 0; i <= in->cred_len; i++) {
        if (i == in->cred_len || in->cred[i] == '/') {
            if (k == 5) {
                k++;
                break;
            }
            part[k] = in->cred + start;
            len[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    if (k != 5 || len[0] == 0) {
        /* AWS adds "got '<credential>'": left out, since a client that
         * swapped key id and secret would see its secret echoed. */
        sigv4_set_msg(msg, msg_len, "Credential must have exactly 5 slash-delimited elements, "
                      "e.g. keyid/date/region/service/term.");
        return SIGV4_MALFORMED;
    }
    in->akid = part[0];
    in->akid_len = len[0];
    in->date = part[1];
    in->date_len = len[1];
    in->region = part[2];
    in->region_len = len[2];
    in->service = part[3];
    in->service_len = len[3];
    in->term = part[4];
    in->term_len = len[4];
    return SIGV4_OK;
}

enum sigv4_result sigv4_parse_signed_headers(const struct sigv4_input *in,
                                             struct sigv4_signed_list *sl, char *msg,
                                             size_t msg_len)
{
    const char *s = in->signed_headers;
    size_t n = in->signed_len, start = 0;
    bool host = false;

    sl->n = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ';')
            continue;
        size_t len = i - start;
        if (len == 0 || len > SIGV4_MAX_HEADER_NAME || sl->n == SIGV4_MAX_SIGNED_HEADERS) {
            sigv4_set_msg(msg, msg_len, "%s", SIGV4_MSG_BAD_SIGNATURE);
            return SIGV4_BAD_SIGNATURE;
        }
        sl->h[sl->n].name = s + start;
        sl->h[sl->n].len = len;
        sl->n++;
        if (len == 4 && strncasecmp(s + start, "host", 4) == 0)
            host = true;
        start = i + 1;
    }
    if (!host) {
        sigv4_set_msg(msg, msg_len, "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                "Authorization.");
        return SIGV4_MALFORMED;
    }
    return SIGV4_OK;
}

enum sigv4_result sigv4_parse_signature(const struct sigv4_request *r, struct sigv4_input *in,
                                        char *msg, size_t msg_len)
{
    const char *auth = sigv4_header(r, "authorization");
    enum sigv4_result res;

    if (auth) {
        bool have_date = sigv4_header(r, "x-amz-date") || sigv4_header(r, "date");
        res = parse_auth_header(auth, in, have_date, msg, msg_len);
        if (res == SIGV4_OK)
            res = header_time(r, in, msg, msg_len);
    } else if (find_param(r, "X-Amz-Signature")) {
        res = parse_presigned(r, in, msg, msg_len);
    } else {
        sigv4_set_msg(msg, msg_len, "%s", msg_missing);
        return SIGV4_MISSING;
    }
    if (res != SIGV4_OK)
        return res;
    return parse_scope(in, msg, msg_len);
}
