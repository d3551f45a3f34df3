/* AWS Signature Version 4 verification (webui/sigv4.c): every request in
 * data/sigv4/vectors.txt (signed by botocore and aws-c-auth through
 * data/sigv4/gen_vectors.py, including the AWS-published test suite) must
 * verify, and each must stop verifying when any signed part changes; then
 * AWS's answers for the refusals (messages, statuses, error types), the
 * clock rules, the presigned-token retry and the URI encoder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "webui/sigv4.h"

#define MAX_PARAMS 32
#define MAX_HEADERS 32

struct vec {
    char name[96];
    int64_t now;
    char akid[64], secret[128];
    char method[16];
    char path[1024];
    size_t n_params;
    char pname[MAX_PARAMS][128], pvalue[MAX_PARAMS][512];
    size_t n_headers;
    char hname[MAX_HEADERS][64], hvalue[MAX_HEADERS][1024];
    uint8_t body[4096];
    size_t body_len;
    char sig[65];
};

/* The transport's view of the headers, with one header dropped or
 * replaced when a test asks. */
struct hdr_view {
    const struct vec *v;
    const char *drop;
    const char *over_name, *over_value;
};

static const char *view_header(void *ud, const char *lower)
{
    const struct hdr_view *h = ud;

    if (h->drop && strcmp(h->drop, lower) == 0)
        return NULL;
    if (h->over_name && strcmp(h->over_name, lower) == 0)
        return h->over_value;
    for (size_t i = 0; i < h->v->n_headers; i++)
        if (strcmp(h->v->hname[i], lower) == 0)
            return h->v->hvalue[i];
    return NULL;
}

static const char *vec_header(const struct vec *v, const char *lower)
{
    struct hdr_view h = { v, NULL, NULL, NULL };
    return view_header(&h, lower);
}

/* ---- reading vectors.txt ---------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Undoes gen_vectors.py's escaping of one field into out (NUL added);
 * returns the length, or -1 when it does not fit. */
static long unesc(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Splits "a b" at the first space into two unescaped fields. */
static bool two_fields(const char *rest, char *a, size_t acap, char *b, size_t bcap)
{
    const char *sp = strchr(rest, ' ');

    if (!sp)
        return false;
    return unesc(rest, (size_t)(sp - rest), a, acap) >= 0 &&
           unesc(sp + 1, strlen(sp + 1), b, bcap) >= 0;
}

static size_t load_vectors(struct vec *vs, size_t cap)
{
    char path[1024], line[16384];
    size_t n = 0;
    struct vec *v = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/sigv4/vectors.txt", TEST_DATA_DIR);
    f = fopen(path, "r");
    if (!CHECK(f != NULL))
        return 0;
    while (fgets(line, sizeof(line), f)) {
        size_t l = strlen(line);
        if (!CHECK(l && line[l - 1] == '\n'))
            break;
        line[--l] = '\0';
        char *sp = strchr(line, ' ');
        const char *rest = sp ? sp + 1 : "";
        if (sp)
            *sp = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strcmp(line, "vector") == 0) {
            if (!CHECK(n < cap))
                break;
            v = &vs[n];
            memset(v, 0, sizeof(*v));
            snprintf(v->name, sizeof(v->name), "%s", rest);
            continue;
        }
        if (!v) {
            FAIL("field %s before any vector", line);
            continue;
        }
        bool ok = true;
        if (strcmp(line, "now") == 0) {
            v->now = strtoll(rest, NULL, 10);
        } else if (strcmp(line, "key") == 0) {
            ok = two_fields(rest, v->akid, sizeof(v->akid), v->secret, sizeof(v->secret));
        } else if (strcmp(line, "method") == 0) {
            ok = unesc(rest, strlen(rest), v->method, sizeof(v->method)) >= 0;
        } else if (strcmp(line, "path") == 0) {
            ok = unesc(rest, strlen(rest), v->path, sizeof(v->path)) >= 0;
        } else if (strcmp(line, "param") == 0) {
            ok = v->n_params < MAX_PARAMS &&
                 two_fields(rest, v->pname[v->n_params], sizeof(v->pname[0]),
                            v->pvalue[v->n_params], sizeof(v->pvalue[0]));
            v->n_params++;
        } else if (strcmp(line, "header") == 0) {
            ok = v->n_headers < MAX_HEADERS &&
                 two_fields(rest, v->hname[v->n_headers], sizeof(v->hname[0]),
                            v->hvalue[v->n_headers], sizeof(v->hvalue[0]));
            v->n_headers++;
        } else if (strcmp(line, "body") == 0) {
            long bl = unesc(rest, strlen(rest), (char *)v->body, sizeof(v->body));
            ok = bl >= 0;
            v->body_len = bl >= 0 ? (size_t)bl : 0;
        } else if (strcmp(line, "sig") == 0) {
            ok = strlen(rest) == 64;
            if (ok)
                memcpy(v->sig, rest, 65);
        } else if (strcmp(line, "end") == 0) {
            n++;
            v = NULL;
        } else {
            ok = false;
        }
        if (!ok)
            FAIL("vectors.txt: bad %s line in %s", line, v ? v->name : "?");
    }
    fclose(f);
    return n;
}

/* ---- running one vector ------------------------------------------------ */

struct run {
    struct sigv4_param params[MAX_PARAMS];
    struct hdr_view hv;
    struct sigv4_request r;
    struct sigv4_key key;
    struct sigv4_info info;
    char msg[512];
};

static void run_init(struct run *x, const struct vec *v)
{
    memset(x, 0, sizeof(*x));
    for (size_t i = 0; i < v->n_params; i++) {
        x->params[i].name = v->pname[i];
        x->params[i].value = v->pvalue[i];
    }
    x->hv.v = v;
    x->r.method = v->method;
    x->r.wire_path = v->path;
    x->r.params = x->params;
    x->r.n_params = v->n_params;
    x->r.header = view_header;
    x->r.header_ud = &x->hv;
    x->r.body = v->body_len ? v->body : NULL;
    x->r.body_len = v->body_len;
    x->key.id = v->akid;
    x->key.secret = v->secret;
}

static enum sigv4_result run_verify(struct run *x, int64_t now)
{
    return sigv4_verify(&x->r, &x->key, 1, now, &x->info, x->msg, sizeof(x->msg));
}

static const char *vec_param(const struct vec *v, const char *name)
{
    for (size_t i = 0; i < v->n_params; i++)
        if (strcmp(v->pname[i], name) == 0)
            return v->pvalue[i];
    return NULL;
}

#define CHECK_RES(x, now, want, vname) do { \
        enum sigv4_result got_ = run_verify((x), (now)); \
        tu_checkf(got_ == (want), __FILE__, __LINE__, "%s: got %d want %d (%s)", (vname), \
                  (int)got_, (int)(want), (x)->msg); \
        /* No answer ever quotes the signature back. */ \
        tu_checkf(strstr((x)->msg, v->sig) == NULL, __FILE__, __LINE__, \
                  "%s: message quotes the signature", (vname)); \
    } while (0)

static void check_vector(const struct vec *v)
{
    struct run x;
    const char *auth = vec_header(v, "authorization");
    bool presigned = auth == NULL;
    const char *cred = presigned ? vec_param(v, "X-Amz-Credential") : strstr(auth, "Credential=");
    int64_t expires = presigned ? strtoll(vec_param(v, "X-Amz-Expires"), NULL, 10) : 0;

    if (!CHECK(cred != NULL))
        return;
    if (!presigned)
        cred += strlen("Credential=");

    /* As signed. */
    run_init(&x, v);
    CHECK_RES(&x, v->now, SIGV4_OK, v->name);
    CHECK_STR(x.msg, "");
    CHECK_STR(x.info.access_key, v->akid);
    char scope[320];
    snprintf(scope, sizeof(scope), "%s/%s/%s/%s/aws4_request", x.info.access_key, x.info.date,
             x.info.region, x.info.service);
    if (!CHECK(strncmp(cred, scope, strlen(scope)) == 0))
        fprintf(stderr, "%s: scope %s vs %s\n", v->name, scope, cred);

    /* The signature on the wire is the one botocore computed. */
    if (presigned)
        CHECK_STR(vec_param(v, "X-Amz-Signature"), v->sig);
    else
        CHECK(strstr(auth, v->sig) != NULL);

    /* Within the clock skew either way; outside it, expired. */
    if (!presigned) {
        CHECK_RES(&x, v->now + SIGV4_MAX_SKEW_S, SIGV4_OK, v->name);
        CHECK_RES(&x, v->now - SIGV4_MAX_SKEW_S, SIGV4_OK, v->name);
        CHECK_RES(&x, v->now + SIGV4_MAX_SKEW_S + 1, SIGV4_EXPIRED, v->name);
        CHECK(strncmp(x.msg, "Signature expired: ", 19) == 0);
    } else {
        CHECK_RES(&x, v->now + expires, SIGV4_OK, v->name);
        CHECK_RES(&x, v->now + expires + 1, SIGV4_EXPIRED, v->name);
    }
    CHECK_RES(&x, v->now - SIGV4_MAX_SKEW_S - 1, SIGV4_EXPIRED, v->name);
    CHECK(strncmp(x.msg, "Signature not yet current: ", 27) == 0);

    /* Query arguments arrive in any order. */
    if (v->n_params > 1) {
        for (size_t i = 0; i < v->n_params; i++) {
            x.params[i].name = v->pname[v->n_params - 1 - i];
            x.params[i].value = v->pvalue[v->n_params - 1 - i];
        }
        CHECK_RES(&x, v->now, SIGV4_OK, v->name);
    }

    /* Another key id: unknown, with the scope still reported. */
    run_init(&x, v);
    x.key.id = "AKIDOTHER";
    CHECK_RES(&x, v->now, SIGV4_UNKNOWN_KEY, v->name);
    CHECK_STR(x.msg, "The security token included in the request is invalid.");
    CHECK_STR(x.info.access_key, v->akid);

    /* Another secret. */
    run_init(&x, v);
    x.key.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);
    CHECK_STR(x.msg, "The request signature we calculated does not match the signature you "
              "provided. Check your AWS Secret Access Key and signing method. Consult the "
              "service documentation for details.");

    /* Each signed part changed. */
    run_init(&x, v);
    x.r.method = strcmp(v->method, "GET") == 0 ? "HEAD" : "GET";
    CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);

    char path[1100];
    run_init(&x, v);
    snprintf(path, sizeof(path), "%sx", v->path);
    x.r.wire_path = path;
    CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);

    uint8_t body[4097];
    memcpy(body, v->body, v->body_len);
    body[v->body_len] = 'x';
    run_init(&x, v);
    x.r.body = body;
    x.r.body_len = v->body_len + 1;
    const char *ph = vec_header(v, "x-amz-content-sha256");
    /* UNSIGNED-PAYLOAD is what it says. */
    CHECK_RES(&x, v->now, ph && strcmp(ph, "UNSIGNED-PAYLOAD") == 0 ? SIGV4_OK :
              SIGV4_BAD_SIGNATURE, v->name);

    for (size_t i = 0; i < v->n_params; i++) {
        /* The one argument a client may add after signing. */
        bool unsigned_token = strstr(v->name, "token-after") &&
                              strcmp(v->pname[i], "X-Amz-Security-Token") == 0;
        char val[600];
        run_init(&x, v);
        snprintf(val, sizeof(val), "%s ", v->pvalue[i]);
        x.params[i].value = val;
        /* Presigned X-Amz-* arguments that no longer parse are refused as
         * malformed rather than mismatched. */
        bool auth_param = presigned && strncmp(v->pname[i], "X-Amz-", 6) == 0 &&
                          strcmp(v->pname[i], "X-Amz-Security-Token") != 0 &&
                          strcmp(v->pname[i], "X-Amz-Credential") != 0;
        if (auth_param) {
            CHECK(run_verify(&x, v->now) != SIGV4_OK);
        } else {
            CHECK_RES(&x, v->now, unsigned_token ? SIGV4_OK : SIGV4_BAD_SIGNATURE, v->name);
        }
        /* Gone altogether. */
        run_init(&x, v);
        for (size_t k = i; k + 1 < v->n_params; k++)
            x.params[k] = x.params[k + 1];
        x.r.n_params--;
        enum sigv4_result got = run_verify(&x, v->now);
        tu_checkf(unsigned_token ? got == SIGV4_OK : got != SIGV4_OK, __FILE__, __LINE__,
                  "%s: without %s: %d", v->name, v->pname[i], (int)got);
    }

    /* The signature itself: one character off, or not 64 characters. */
    char bad[65], bad_auth[1024];
    snprintf(bad, sizeof(bad), "%s", v->sig);
    bad[63] = bad[63] == '0' ? '1' : '0';
    run_init(&x, v);
    if (presigned) {
        for (size_t i = 0; i < v->n_params; i++)
            if (strcmp(v->pname[i], "X-Amz-Signature") == 0)
                x.params[i].value = bad;
    } else {
        snprintf(bad_auth, sizeof(bad_auth), "%.*s%s", (int)(strlen(auth) - 64), auth, bad);
        x.hv.over_name = "authorization";
        x.hv.over_value = bad_auth;
        CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);
        snprintf(bad_auth, sizeof(bad_auth), "%.*s", (int)(strlen(auth) - 1), auth);
    }
    CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);

    /* Signed headers must all arrive; others do not matter. */
    const char *sh = presigned ? vec_param(v, "X-Amz-SignedHeaders")
                               : strstr(auth, "SignedHeaders=") + strlen("SignedHeaders=");
    for (size_t i = 0; i < v->n_headers; i++) {
        const char *n = v->hname[i];
        size_t nl = strlen(n);
        bool is_signed = false;
        for (const char *p = sh; *p && *p != ','; ) {
            size_t l = strcspn(p, ";,");
            if (l == nl && strncmp(p, n, nl) == 0)
                is_signed = true;
            p += l;
            if (*p == ';')
                p++;
        }
        if (strcmp(n, "authorization") == 0)
            continue;
        run_init(&x, v);
        x.hv.drop = n;
        /* A signed header that is missing is a signature that cannot
         * match; without its date the request is incomplete. */
        enum sigv4_result want = is_signed ? SIGV4_BAD_SIGNATURE : SIGV4_OK;
        if (!presigned && (strcmp(n, "x-amz-date") == 0 ||
                           (strcmp(n, "date") == 0 && !vec_header(v, "x-amz-date"))))
            want = SIGV4_MALFORMED;
        CHECK_RES(&x, v->now, want, v->name);
        if (is_signed && strcmp(n, "x-amz-date") != 0 && strcmp(n, "date") != 0) {
            /* ...and a changed value breaks it, extra spaces aside. */
            char val[1100];
            run_init(&x, v);
            x.hv.over_name = n;
            snprintf(val, sizeof(val), "  %s  ", v->hvalue[i]);
            x.hv.over_value = val;
            CHECK_RES(&x, v->now, SIGV4_OK, v->name);
            snprintf(val, sizeof(val), "%s.", v->hvalue[i]);
            CHECK_RES(&x, v->now, SIGV4_BAD_SIGNATURE, v->name);
        }
    }

    /* The spacing real clients use between the pairs. */
    if (!presigned) {
        char a[1024];
        size_t o = 0;
        for (const char *p = auth; *p && o + 4 < sizeof(a); p++) {
            if (p[0] == ',' && p[1] == ' ') {
                a[o++] = ',';
                p++;
            } else {
                a[o++] = *p;
            }
        }
        a[o] = '\0';
        run_init(&x, v);
        x.hv.over_name = "authorization";
        x.hv.over_value = a;
        CHECK_RES(&x, v->now, SIGV4_OK, v->name);
        o = 0;
        for (const char *p = auth; *p && o + 4 < sizeof(a); p++) {
            if (*p == ',') {
                memcpy(a + o, " ,\t ", 4);
                o += 4;
            } else {
                a[o++] = *p;
            }
        }
        a[o] = '\0';
        CHECK_RES(&x, v->now, SIGV4_OK, v->name);
    }
}

static void test_vectors(void)
{
    static struct vec vs[128];
    size_t n = load_vectors(vs, 128);
    bool suite_vanilla = false, presign_after = false, crt = false, colon = false;

    CHECK(n >= 60);
    for (size_t i = 0; i < n; i++) {
        check_vector(&vs[i]);
        /* The AWS-published get-vanilla signature, as the suite prints it. */
        if (strcmp(vs[i].name, "aws-suite-get-vanilla") == 0) {
            suite_vanilla = true;
            CHECK_STR(vs[i].sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        }
        if (strcmp(vs[i].name, "aws-suite-query-get-vanilla") == 0)
            CHECK_STR(vs[i].sig, "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d");
        if (strcmp(vs[i].name, "presign-mqtt-token-after") == 0)
            presign_after = true;
        if (strstr(vs[i].name, "-crt"))
            crt = true;
        /* botocore encodes ':' in a label; the canonical URI encodes it again. */
        if (strcmp(vs[i].name, "iot-list-attached-policies-arn") == 0) {
            colon = true;
            CHECK_STR(vs[i].path, "/attached-policies/"
                      "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Acert%2Fabc");
        }
    }
    CHECK(suite_vanilla && presign_after && colon);
    if (!crt)
        fprintf(stderr, "note: vectors.txt has no aws-c-auth (-crt) vectors\n");
}

/* ---- hand-made requests ------------------------------------------------- */

struct hand {
    const char *names[8], *values[8];
    size_t n;
};

static const char *hand_header(void *ud, const char *lower)
{
    const struct hand *h = ud;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->names[i], lower) == 0)
            return h->values[i];
    return NULL;
}

static const struct sigv4_key example_key = { "AKIDEXAMPLE",
                                              "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
#define T_SUITE 1440938160 /* 20150830T123600Z */
#define VANILLA_AUTH "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/" \
    "aws4_request, SignedHeaders=host;x-amz-date, Signature=" \
    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

static enum sigv4_result verify_hand(struct hand *h, int64_t now, struct sigv4_info *info,
                                     char *msg, size_t cap)
{
    struct sigv4_request r = { .method = "GET", .wire_path = "/", .header = hand_header,
                               .header_ud = h };
    return sigv4_verify(&r, &example_key, 1, now, info, msg, cap);
}

/* get-vanilla from the AWS SigV4 test suite, independent of vectors.txt. */
static void test_get_vanilla(void)
{
    struct hand h = { { "host", "x-amz-date", "authorization" },
                      { "example.amazonaws.com", "20150830T123600Z", VANILLA_AUTH }, 3 };
    struct sigv4_info info;
    char msg[512];

    CHECK_EQ(verify_hand(&h, T_SUITE, &info, msg, sizeof(msg)), SIGV4_OK);
    CHECK_STR(info.access_key, "AKIDEXAMPLE");
    CHECK_STR(info.date, "20150830");
    CHECK_STR(info.region, "us-east-1");
    CHECK_STR(info.service, "service");
    /* NULL info and message are fine. */
    struct sigv4_request r = { .method = "GET", .wire_path = "", .header = hand_header,
                               .header_ud = &h };
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, NULL, 0), SIGV4_OK);
    /* The key is found among several. */
    struct sigv4_key keys[3] = { { "AKIDOTHER", "x" }, { NULL, NULL }, example_key };
    CHECK_EQ(sigv4_verify(&r, keys, 3, T_SUITE, NULL, NULL, 0), SIGV4_OK);
    CHECK_EQ(sigv4_verify(&r, keys, 2, T_SUITE, NULL, NULL, 0), SIGV4_UNKNOWN_KEY);
    CHECK_EQ(sigv4_verify(&r, NULL, 0, T_SUITE, NULL, NULL, 0), SIGV4_UNKNOWN_KEY);
}

static void test_clock_messages(void)
{
    struct hand h = { { "host", "x-amz-date", "authorization" },
                      { "example.amazonaws.com", "20150830T123600Z", VANILLA_AUTH }, 3 };
    char msg[512];

    /* 13:01:00 is 25 minutes on. */
    CHECK_EQ(verify_hand(&h, T_SUITE + 25 * 60, NULL, msg, sizeof(msg)), SIGV4_EXPIRED);
    CHECK_STR(msg, "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z "
              "(20150830T130100Z - 15 min.)");
    /* 12:00:00 is 36 minutes before. */
    CHECK_EQ(verify_hand(&h, T_SUITE - 36 * 60, NULL, msg, sizeof(msg)), SIGV4_EXPIRED);
    CHECK_STR(msg, "Signature not yet current: 20150830T123600Z is still later than "
              "20150830T121500Z (20150830T120000Z + 15 min.)");
    CHECK_EQ(verify_hand(&h, T_SUITE + 900, NULL, msg, sizeof(msg)), SIGV4_OK);
    CHECK_EQ(verify_hand(&h, T_SUITE - 900, NULL, msg, sizeof(msg)), SIGV4_OK);
    CHECK_EQ(verify_hand(&h, T_SUITE + 901, NULL, msg, sizeof(msg)), SIGV4_EXPIRED);
    CHECK_EQ(verify_hand(&h, T_SUITE - 901, NULL, msg, sizeof(msg)), SIGV4_EXPIRED);
    /* A short buffer is cut, never overrun. */
    char small[8];
    CHECK_EQ(verify_hand(&h, 0, NULL, small, sizeof(small)), SIGV4_EXPIRED);
    CHECK_STR(small, "Signatu");

    /* The Date header (RFC 1123) when there is no X-Amz-Date; the zone as
     * botocore writes it or as GMT. The time is read (expired far off),
     * then the signature is checked over the header as sent. */
    const char *dates[] = { "Sun, 30 Aug 2015 12:36:00 GMT", "Sun, 30 Aug 2015 12:36:00 -0000",
                            "30 Aug 2015 12:36:00 +0000", "Sun, 30 Aug 2015 12:36:00 UTC" };
    for (size_t i = 0; i < 4; i++) {
        struct hand d = { { "host", "date", "authorization" },
                          { "example.amazonaws.com", dates[i],
                            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                            "aws4_request, SignedHeaders=date;host, Signature="
                            "0000000000000000000000000000000000000000000000000000000000000000" },
                          3 };
        CHECK_EQ(verify_hand(&d, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_BAD_SIGNATURE);
        CHECK_EQ(verify_hand(&d, T_SUITE + 3600, NULL, msg, sizeof(msg)), SIGV4_EXPIRED);
        CHECK_STR(msg, "Signature expired: 20150830T123600Z is now earlier than 20150830T132100Z "
                  "(20150830T133600Z - 15 min.)");
    }
    const char *bad_dates[] = { "Sun, 30 Aug 2015 12:36:00", "Sun, 30 Foo 2015 12:36:00 GMT",
                                "Sun, 31 Sep 2015 12:36:00 GMT", "30 Aug 2015 25:36:00 GMT",
                                "1440938160", "" };
    for (size_t i = 0; i < 6; i++) {
        struct hand d = { { "host", "date", "authorization" },
                          { "example.amazonaws.com", bad_dates[i], VANILLA_AUTH }, 3 };
        CHECK_EQ(verify_hand(&d, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    }
    const char *bad_amz[] = { "20150830T123600", "20150830 123600Z", "20150230T123600Z",
                              "2015083OT123600Z", "20150830T123660Z" };
    for (size_t i = 0; i < 5; i++) {
        struct hand d = { { "host", "x-amz-date", "authorization" },
                          { "example.amazonaws.com", bad_amz[i], VANILLA_AUTH }, 3 };
        CHECK_EQ(verify_hand(&d, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
        CHECK(strncmp(msg, "Date must be in ISO-8601 'basic format'. Got '", 46) == 0);
    }
    /* The scope's date is the request's. */
    struct hand d = { { "host", "x-amz-date", "authorization" },
                      { "example.amazonaws.com", "20150830T123600Z",
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" }, 3 };
    CHECK_EQ(verify_hand(&d, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_BAD_SIGNATURE);
    CHECK_STR(msg, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
              "date from HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
}

static void test_malformed(void)
{
    static const char sig[] = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    struct {
        const char *auth;
        enum sigv4_result want;
        const char *msg;
    } cases[] = {
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date", SIGV4_MALFORMED,
          "Authorization header requires 'Signature' parameter. "
          "Authorization=AWS4-HMAC-SHA256" },
        { "AWS4-HMAC-SHA256 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED,
          "Authorization header requires 'Credential' parameter. Authorization header requires "
          "'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256" },
        /* A bearer token is not quoted back, nor hashed into view. */
        { "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", SIGV4_MALFORMED,
          "Authorization header requires 'Credential' parameter. Authorization header requires "
          "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter." },
        { "Bearer abc.def", SIGV4_MALFORMED, NULL },
        { "AWS4-HMAC-SHA1 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED, "The authorization mechanism you have provided is not supported. "
          "Please use AWS4-HMAC-SHA256." },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED, "Credential must have exactly 5 slash-delimited elements, e.g. "
          "keyid/date/region/service/term." },
        { "AWS4-HMAC-SHA256 Credential=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY/20150830/us-east-1/"
          "service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED, "Credential must have exactly 5 slash-delimited elements, e.g. "
          "keyid/date/region/service/term." },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED, "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
          "Authorization." },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31, "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_MALFORMED, "Authorization header has more than one 'Signature' parameter." },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_requesx, "
          "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_BAD_SIGNATURE, "Credential should be scoped with a valid terminator: "
          "'aws4_request', not 'aws4_requesx'." },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_BAD_SIGNATURE, NULL },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
          SIGV4_BAD_SIGNATURE, NULL },
        /* Unknown keys are ignored, any case of spacing accepted. */
        { "AWS4-HMAC-SHA256   Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
          "SignedHeaders=host;x-amz-date,Foo=bar,Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31  ",
          SIGV4_OK, "" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
          SIGV4_BAD_SIGNATURE, NULL },
        { "", SIGV4_MALFORMED, NULL },
    };
    char msg[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hand h = { { "host", "x-amz-date", "authorization" },
                          { "example.amazonaws.com", "20150830T123600Z", cases[i].auth }, 3 };
        enum sigv4_result got = verify_hand(&h, T_SUITE, NULL, msg, sizeof(msg));
        tu_checkf(got == cases[i].want, __FILE__, __LINE__, "case %zu: got %d want %d (%s)", i,
                  (int)got, (int)cases[i].want, msg);
        if (cases[i].msg)
            CHECK_STR(msg, cases[i].msg);
        CHECK(strstr(msg, sig) == NULL && strstr(msg, "wJalr") == NULL &&
              strstr(msg, "eyJ") == NULL && strstr(msg, "abc.def") == NULL);
    }
    /* The pair without '=' is named by its SHA-256 only. */
    struct hand b = { { "host", "x-amz-date", "authorization" },
                      { "example.amazonaws.com", "20150830T123600Z", "Bearer abc.def" }, 3 };
    CHECK_EQ(verify_hand(&b, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    CHECK(strncmp(msg, "Invalid key=value pair (missing equal-sign) in Authorization header "
                  "(hashed with SHA-256 and encoded with Base64): '", 113) == 0);

    /* No date at all. */
    struct hand nd = { { "host", "authorization" }, { "example.amazonaws.com", VANILLA_AUTH }, 2 };
    CHECK_EQ(verify_hand(&nd, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    CHECK_STR(msg, "Authorization header requires existence of either a 'X-Amz-Date' or a "
              "'Date' header. Authorization=AWS4-HMAC-SHA256");

    /* Nothing at all. */
    struct hand none = { { "host" }, { "example.amazonaws.com" }, 1 };
    CHECK_EQ(verify_hand(&none, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MISSING);
    CHECK_STR(msg, "Missing Authentication Token");
    struct sigv4_request r = { .method = "GET", .wire_path = "/" };
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, NULL, 0), SIGV4_MISSING);
    /* A presigned-looking query without X-Amz-Signature is no attempt. */
    struct sigv4_param p[] = { { "X-Amz-Credential", "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request" } };
    r.params = p;
    r.n_params = 1;
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, NULL, 0), SIGV4_MISSING);
}

static void test_presigned_rules(void)
{
    struct sigv4_param p[] = {
        { "X-Amz-Algorithm", "AWS4-HMAC-SHA256" },
        { "X-Amz-Credential", "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request" },
        { "X-Amz-Date", "20150830T123600Z" },
        { "X-Amz-Expires", "3600" },
        { "X-Amz-SignedHeaders", "host" },
        { "X-Amz-Signature", "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d" },
    };
    struct hand h = { { "host" }, { "example.amazonaws.com" }, 1 };
    struct sigv4_request r = { .method = "GET", .wire_path = "/", .params = p, .n_params = 6,
                               .header = hand_header, .header_ud = &h };
    struct sigv4_info info;
    char msg[512];

    /* aws-sig-v4-test-suite get-vanilla, query form. */
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, &info, msg, sizeof(msg)), SIGV4_OK);
    CHECK_STR(info.service, "service");
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE + 3600, NULL, msg, sizeof(msg)), SIGV4_OK);
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE + 3601, NULL, msg, sizeof(msg)),
             SIGV4_EXPIRED);
    CHECK_STR(msg, "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
              "(20150830T133601Z - 3600 sec.)");
    /* An Authorization header wins over the query. */
    h.names[1] = "authorization";
    h.values[1] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    h.n = 2;
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    h.n = 1;

    p[3].value = "604801";
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    p[3].value = "36x0";
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    p[3].value = "3600";
    p[0].value = "AWS4-HMAC-SHA1";
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    p[0].value = "AWS4-HMAC-SHA256";
    p[2].value = "2015-08-30T12:36:00Z";
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    p[2].value = "20150830T123600Z";
    p[3] = p[5];                /* X-Amz-Expires gone */
    r.n_params = 5;
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)), SIGV4_MALFORMED);
    CHECK_STR(msg, "AWS query-string parameters must include 'X-Amz-Expires'. Re-examine the "
              "query-string parameters.");
}

/* A hex x-amz-content-sha256 must be the body's hash (else the body could
 * be swapped under a valid signature); UNSIGNED-PAYLOAD is taken as is. */
static void test_payload_hash(void)
{
    struct hand h = { { "host", "x-amz-date", "authorization", "x-amz-content-sha256" },
                      { "example.amazonaws.com", "20150830T123600Z", VANILLA_AUTH,
                        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e" }, 4 };
    struct sigv4_request r = { .method = "POST", .wire_path = "/", .header = hand_header,
                               .header_ud = &h, .body = (const uint8_t *)"Param1=value2",
                               .body_len = 13 };
    char msg[512];

    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)),
             SIGV4_BAD_SIGNATURE);
    CHECK_STR(msg, "The provided 'x-amz-content-sha256' header does not match what was computed.");
    r.body = (const uint8_t *)"Param1=value1";
    CHECK_EQ(sigv4_verify(&r, &example_key, 1, T_SUITE, NULL, msg, sizeof(msg)),
             SIGV4_BAD_SIGNATURE);
    CHECK(strncmp(msg, "The request signature we calculated", 35) == 0);
}

static void test_uri_encode(void)
{
    char out[64];

    CHECK_EQ(sigv4_uri_encode("a b/c~-._Z9", 11, false, out, sizeof(out)), 13);
    CHECK_STR(out, "a%20b/c~-._Z9");
    CHECK_EQ(sigv4_uri_encode("a b/c", 5, true, out, sizeof(out)), 9);
    CHECK_STR(out, "a%20b%2Fc");
    CHECK_EQ(sigv4_uri_encode(":@+=,%\xc3\xbc*", 9, true, out, sizeof(out)), 27);
    CHECK_STR(out, "%3A%40%2B%3D%2C%25%C3%BC%2A");
    CHECK_EQ(sigv4_uri_encode("a\0b", 3, true, out, sizeof(out)), 5);
    CHECK(memcmp(out, "a%00b", 6) == 0);
    CHECK_EQ(sigv4_uri_encode("", 0, true, out, sizeof(out)), 0);
    CHECK_STR(out, "");
    /* Exactly enough room, then one byte short. */
    CHECK_EQ(sigv4_uri_encode("ab:", 3, true, out, 6), 5);
    CHECK_EQ(sigv4_uri_encode("ab:", 3, true, out, 5), -ENOSPC);
    CHECK_EQ(sigv4_uri_encode("ab", 2, true, out, 2), -ENOSPC);
    CHECK_EQ(sigv4_uri_encode("", 0, true, out, 0), -ENOSPC);
    CHECK_EQ(sigv4_uri_encode("a", 1, true, NULL, 0), -ENOSPC);
}

static void test_status(void)
{
    CHECK_EQ(sigv4_result_status(SIGV4_MISSING), 403);
    CHECK_STR(sigv4_result_type(SIGV4_MISSING), "MissingAuthenticationTokenException");
    CHECK_EQ(sigv4_result_status(SIGV4_MALFORMED), 403);
    CHECK_STR(sigv4_result_type(SIGV4_MALFORMED), "IncompleteSignatureException");
    CHECK_EQ(sigv4_result_status(SIGV4_UNKNOWN_KEY), 403);
    CHECK_STR(sigv4_result_type(SIGV4_UNKNOWN_KEY), "UnrecognizedClientException");
    CHECK_EQ(sigv4_result_status(SIGV4_BAD_SIGNATURE), 403);
    CHECK_STR(sigv4_result_type(SIGV4_BAD_SIGNATURE), "InvalidSignatureException");
    CHECK_EQ(sigv4_result_status(SIGV4_EXPIRED), 403);
    CHECK_STR(sigv4_result_type(SIGV4_EXPIRED), "InvalidSignatureException");
    CHECK_EQ(sigv4_result_status(SIGV4_OK), 200);
}

int main(void)
{
    test_uri_encode();
    test_status();
    test_get_vanilla();
    test_clock_messages();
    test_malformed();
    test_presigned_rules();
    test_payload_hash();
    test_vectors();
    return tu_finish("sigv4");
}
