/* Google device JWT rules (registry/reg_jwt.c). Keys are generated at test
 * time; tokens are built here from hand-written header and payload JSON and
 * signed with OpenSSL, so every bad case (alg none, HS256 keyed with the
 * public PEM, wrong key, bad claims, odd encodings) can be forged. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* Only to show the library trap the registry guards against. */
#include <jwt.h>

#include "registry/reg_jwt.h"
#include "testutil.h"
#include "testutil_crypto.h"
#include "testutil_reg.h"

static int64_t now;

/* ---- token forging ---- */

static char *forge(const char *header, const char *payload, enum tu_sig kind, EVP_PKEY *key) {
    return tu_jwt(header, payload, kind, key, NULL, TU_B64_URL);
}

/* ---- fixtures ---- */

static EVP_PKEY *rsa_a, *rsa_b, *ec_a, *ec_b;
static char *rsa_a_pem, *rsa_b_pem, *ec_a_pem, *ec_b_pem;
static const char *H_RS = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
static const char *H_ES = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
static const struct reg_jwt_rules rules = {
    .audience = "my-project", .clock_skew = 600, .max_lifetime = 86400, .refresh_interval = 0,
};

static enum reg_auth_reason verify_with(const char *tok, const struct reg_jwt_key *keys, size_t n,
                                        const struct reg_jwt_rules *r, struct reg_jwt_result *res) {
    return reg_jwt_verify(tok, strlen(tok), keys, n, r, now, res);
}

/* Every key the device might have: both types, so alg decides. */
static enum reg_auth_reason verify_all(const char *tok, struct reg_jwt_result *res) {
    struct reg_jwt_key keys[] = {
        { REG_KEY_RSA, rsa_a_pem, NULL },
        { REG_KEY_EC_P256, ec_a_pem, NULL },
    };
    return verify_with(tok, keys, 2, &rules, res);
}

static void test_valid(void) {
    struct reg_jwt_result res;
    char *c = tu_claims(now - 10, now + 3600, "my-project");
    char *t = forge(H_RS, c, TU_SIG_RS256, rsa_a);
    memset(&res, 0, sizeof(res));
    CHECK_REASON(verify_all(t, &res), REG_AUTH_OK);
    CHECK(res.iat == now - 10 && res.exp == now + 3600);
    CHECK(res.deadline == now + 3600 + 600);
    CHECK(res.key_index == 0);
    /* Not NUL-terminated: len bounds the token. */
    size_t n = strlen(t);
    char *junk = malloc(n + 8);
    memcpy(junk, t, n);
    memcpy(junk + n, "XXXXXXXX", 8);
    struct reg_jwt_key rk = { REG_KEY_RSA, rsa_a_pem, NULL };
    CHECK_REASON(reg_jwt_verify(junk, n, &rk, 1, &rules, now, &res), REG_AUTH_OK);
    CHECK_REASON(reg_jwt_verify(junk, n + 1, &rk, 1, &rules, now, &res), REG_AUTH_BAD_SIGNATURE);
    free(junk);
    free(t);

    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    memset(&res, 0, sizeof(res));
    CHECK_REASON(verify_all(t, &res), REG_AUTH_OK);
    CHECK(res.key_index == 1);
    /* ret may be NULL when only the verdict matters. */
    CHECK_REASON(verify_all(t, NULL), REG_AUTH_OK);
    free(t);

    /* No typ: tolerated (Google required it; absence is tolerated here). */
    t = forge("{\"alg\":\"ES256\"}", c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_OK);
    free(t);
    /* Extra header fields and claims are ignored. */
    t = forge("{\"kid\":\"x\",\"alg\":\"RS256\",\"typ\":\"JWT\"}",
              "{\"aud\":\"my-project\",\"nbf\":1,\"sub\":\"d\",\"iat\":1700000000,"
              "\"exp\":1700003600}",
              TU_SIG_RS256, rsa_a);
    {
        struct reg_jwt_key k = { REG_KEY_RSA, rsa_a_pem, NULL };
        CHECK_REASON(reg_jwt_verify(t, strlen(t), &k, 1, &rules, 1700000000, &res), REG_AUTH_OK);
        CHECK(res.deadline == 1700003600 + 600);
    }
    free(t);
    /* The ES256 DER form is not JOSE: refused. */
    t = forge(H_ES, c, TU_SIG_ES256_DER, ec_a);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_BAD_SIGNATURE);
    free(t);
    free(c);
}

static void test_alg_confusion(void) {
    struct reg_jwt_result res;
    char *c = tu_claims(now, now + 3600, "my-project");
    const char *nones[] = { "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}",
                            "{\"alg\":\"NONE\",\"typ\":\"JWT\"}", "{\"alg\":\"\"}",
                            "{\"alg\":\"rs256\"}", "{\"alg\":\"RS384\"}", "{\"alg\":\"ES512\"}",
                            "{\"alg\":\"PS256\"}", "{\"alg\":\"EdDSA\"}" };
    for (size_t i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
        char *t = forge(nones[i], c, TU_SIG_NONE, NULL);
        CHECK_REASON(verify_all(t, &res), REG_AUTH_ALG_MISMATCH);
        free(t);
    }
    /* "none" with the old RS256 signature left on. */
    {
        char *good = forge(H_RS, c, TU_SIG_RS256, rsa_a);
        char *none = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, TU_SIG_NONE, NULL);
        const char *sig = strrchr(good, '.');
        size_t n = strlen(none) + strlen(sig) + 1;
        char *t = malloc(n);
        snprintf(t, n, "%.*s%s", (int)(strrchr(none, '.') - none), none, sig);
        CHECK_REASON(verify_all(t, &res), REG_AUTH_ALG_MISMATCH);
        free(t);
        free(good);
        free(none);
    }

    /* HS256 keyed with the public-key PEM text: libjwt 1.10 accepts it when
     * handed that key, so it must be refused before libjwt is called. */
    const char *pems[] = { rsa_a_pem, ec_a_pem };
    enum reg_key_type types[] = { REG_KEY_RSA, REG_KEY_EC_P256 };
    for (int i = 0; i < 2; i++) {
        char *t = tu_jwt("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, TU_SIG_HS256, NULL, pems[i],
                         TU_B64_URL);
        jwt_t *jwt = NULL;
        int rc = jwt_decode(&jwt, t, (const unsigned char *)pems[i], (int)strlen(pems[i]));
        if (rc == 0 && jwt_get_alg(jwt) == JWT_ALG_HS256)
            printf("note: libjwt still accepts HS256 keyed with the %s PEM (guard needed)\n",
                   i ? "EC" : "RSA");
        jwt_free(jwt);
        struct reg_jwt_key k = { types[i], pems[i], NULL };
        CHECK_REASON(verify_with(t, &k, 1, &rules, &res), REG_AUTH_ALG_MISMATCH);
        CHECK_REASON(verify_all(t, &res), REG_AUTH_ALG_MISMATCH);
        free(t);
    }

    /* ES256 token, RSA-only device; RS256 token, EC-only device. */
    char *t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    struct reg_jwt_key rsa_only[] = { { REG_KEY_RSA, rsa_a_pem, NULL }, { REG_KEY_RSA, rsa_b_pem, NULL } };
    CHECK_REASON(verify_with(t, rsa_only, 2, &rules, &res), REG_AUTH_ALG_MISMATCH);
    free(t);
    t = forge(H_RS, c, TU_SIG_RS256, rsa_a);
    struct reg_jwt_key ec_only[] = { { REG_KEY_EC_P256, ec_a_pem, NULL } };
    CHECK_REASON(verify_with(t, ec_only, 1, &rules, &res), REG_AUTH_ALG_MISMATCH);
    /* No keys at all, or keys without PEM text: never a NULL key to libjwt. */
    CHECK_REASON(verify_with(t, NULL, 0, &rules, &res), REG_AUTH_ALG_MISMATCH);
    struct reg_jwt_key empty[] = { { REG_KEY_RSA, NULL, NULL }, { REG_KEY_RSA, "", NULL } };
    CHECK_REASON(verify_with(t, empty, 2, &rules, &res), REG_AUTH_ALG_MISMATCH);
    /* A key labelled RSA whose PEM is really EC: libjwt refuses. */
    struct reg_jwt_key mislabeled[] = { { REG_KEY_RSA, ec_a_pem, NULL } };
    CHECK_REASON(verify_with(t, mislabeled, 1, &rules, &res), REG_AUTH_BAD_SIGNATURE);
    free(t);

    /* Two "alg" members: readers could disagree, so the header is refused. */
    t = forge("{\"alg\":\"RS256\",\"alg\":\"HS256\"}", c, TU_SIG_RS256, rsa_a);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_BAD_HEADER);
    free(t);
    free(c);
}

static void test_signature(void) {
    struct reg_jwt_result res;
    char *c = tu_claims(now, now + 3600, "my-project");
    char *t = forge(H_RS, c, TU_SIG_RS256, rsa_b);   /* device holds rsa_a */
    CHECK_REASON(verify_all(t, &res), REG_AUTH_BAD_SIGNATURE);
    free(t);
    t = forge(H_ES, c, TU_SIG_ES256, ec_b);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_BAD_SIGNATURE);
    free(t);

    /* Tampered payload keeps the header and signature. */
    t = forge(H_RS, c, TU_SIG_RS256, rsa_a);
    char *c2 = tu_claims(now, now + 3600, "other-project");
    char *t2 = forge(H_RS, c2, TU_SIG_RS256, rsa_a);
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    char *p2a = strchr(t2, '.'), *p2b = strrchr(t2, '.');
    size_t n = strlen(t) + strlen(t2);
    char *mix = malloc(n);
    snprintf(mix, n, "%.*s%.*s%s", (int)(dot1 - t), t, (int)(p2b - p2a), p2a, dot2);
    CHECK_REASON(verify_all(mix, &res), REG_AUTH_BAD_SIGNATURE);
    free(mix);
    /* Empty signature on an RS256 header. */
    *(dot2 + 1) = '\0';
    CHECK_REASON(verify_all(t, &res), REG_AUTH_BAD_SIGNATURE);
    free(t);
    free(t2);
    free(c2);

    /* Several keys: the second one verifies, key_index says so. */
    t = forge(H_RS, c, TU_SIG_RS256, rsa_b);
    struct reg_jwt_key keys[] = {
        { REG_KEY_RSA, rsa_a_pem, NULL },
        { REG_KEY_RSA, rsa_b_pem, NULL },
        { REG_KEY_EC_P256, ec_a_pem, NULL },
    };
    memset(&res, 0, sizeof(res));
    CHECK_REASON(verify_with(t, keys, 3, &rules, &res), REG_AUTH_OK);
    CHECK(res.key_index == 1);
    free(t);
    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_with(t, keys, 3, &rules, &res), REG_AUTH_OK);
    CHECK(res.key_index == 2);
    free(t);
    free(c);
}

static void test_claims(void) {
    struct reg_jwt_result res;
    char *c, *t;
#define EXPECT(claims_expr, want)                       \
    do {                                                \
        c = (claims_expr);                              \
        t = forge(H_ES, c, TU_SIG_ES256, ec_a);         \
        CHECK_REASON(verify_all(t, &res), (want));      \
        free(t);                                        \
        free(c);                                        \
    } while (0)

    EXPECT(tu_claims(now, now + 3600, "other-project"), REG_AUTH_AUD);
    EXPECT(tu_claims(now, now + 3600, "My-Project"), REG_AUTH_AUD);
    EXPECT(tu_claims(now, now + 3600, ""), REG_AUTH_AUD);
    EXPECT(tu_claims(now - 7200, now - 601, "my-project"), REG_AUTH_EXPIRED);
    /* exp passed but within the skew: still good until exp + skew. */
    EXPECT(tu_claims(now - 3600, now - 300, "my-project"), REG_AUTH_OK);
    CHECK(res.deadline == now - 300 + 600);
    EXPECT(tu_claims(now - 3600, now - 600, "my-project"), REG_AUTH_EXPIRED);  /* deadline == now */
    EXPECT(tu_claims(now + 601, now + 3600, "my-project"), REG_AUTH_IAT_FUTURE);
    EXPECT(tu_claims(now + 600, now + 3600, "my-project"), REG_AUTH_OK);
    EXPECT(tu_claims(now, now + 86401, "my-project"), REG_AUTH_LIFETIME);
    EXPECT(tu_claims(now, now + 86400, "my-project"), REG_AUTH_OK);
    EXPECT(tu_claims(now, now - 1, "my-project"), REG_AUTH_LIFETIME);
    /* Short lifetime: the skew keeps it alive (Google's documented rule). */
    EXPECT(tu_claims(now - 5, now - 4, "my-project"), REG_AUTH_OK);

    char buf[256];
#define EXPECT_JSON(fmt, want, ...)                                  \
    do {                                                             \
        snprintf(buf, sizeof(buf), fmt, __VA_ARGS__);                \
        t = forge(H_ES, buf, TU_SIG_ES256, ec_a);                    \
        CHECK_REASON(verify_all(t, &res), (want));                   \
        free(t);                                                     \
    } while (0)
    long long a = (long long)now;
    EXPECT_JSON("{\"iat\":%lld,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a);
    EXPECT_JSON("{\"exp\":%lld,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld}", REG_AUTH_MISSING_CLAIM, a, a + 60);
    EXPECT_JSON("{\"iat\":\"%lld\",\"exp\":%lld,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a,
                a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":null,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":true,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a);
    EXPECT_JSON("{\"iat\":%lld.5,\"exp\":%lld,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a,
                a + 60);
    /* An integral float is a NumericDate too. */
    EXPECT_JSON("{\"iat\":%lld.0,\"exp\":%lld,\"aud\":\"my-project\"}", REG_AUTH_OK, a, a + 60);
    CHECK(res.iat == now);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%.10e,\"aud\":\"my-project\"}", REG_AUTH_OK, a,
                (double)(a + 60));
    CHECK(res.exp == now + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":1e300,\"aud\":\"my-project\"}", REG_AUTH_MISSING_CLAIM, a);
    /* aud shapes. */
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":[\"my-project\"]}", REG_AUTH_OK, a, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":[\"my-project\",\"x\"]}", REG_AUTH_AUD, a, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":[]}", REG_AUTH_AUD, a, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":[1]}", REG_AUTH_MISSING_CLAIM, a, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":7}", REG_AUTH_MISSING_CLAIM, a, a + 60);
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"aud\":null}", REG_AUTH_MISSING_CLAIM, a, a + 60);
    /* Extreme integers: no overflow, refused by the right rule. */
    EXPECT_JSON("{\"iat\":%lld,\"exp\":9223372036854775807,\"aud\":\"my-project\"}",
                REG_AUTH_LIFETIME, a);
    EXPECT_JSON("{\"iat\":-9223372036854775807,\"exp\":%lld,\"aud\":\"my-project\"}",
                REG_AUTH_LIFETIME, a);
    EXPECT_JSON("{\"iat\":9223372036854775807,\"exp\":9223372036854775807,\"aud\":\"%s\"}",
                REG_AUTH_IAT_FUTURE, "my-project");
    EXPECT_JSON("{\"iat\":-9223372036854775807,\"exp\":-9223372036854775807,\"aud\":\"%s\"}",
                REG_AUTH_EXPIRED, "my-project");
    /* Duplicate claims: libjwt's reader and ours could disagree. */
    EXPECT_JSON("{\"iat\":%lld,\"exp\":%lld,\"exp\":%lld,\"aud\":\"my-project\"}",
                REG_AUTH_MISSING_CLAIM, a, a + 60, a + 999999);
    /* A payload that is JSON but not an object never verifies in libjwt. */
    t = forge(H_ES, "[1,2]", TU_SIG_ES256, ec_a);
    CHECK(verify_all(t, &res) != REG_AUTH_OK);
    free(t);
#undef EXPECT
#undef EXPECT_JSON

    /* ret untouched on refusal. */
    struct reg_jwt_result sentinel;
    memset(&sentinel, 0xA5, sizeof(sentinel));
    res = sentinel;
    c = tu_claims(now - 7200, now - 3600, "my-project");
    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_EXPIRED);
    CHECK(memcmp(&res, &sentinel, sizeof(res)) == 0);
    free(t);
    free(c);
}

static void test_refresh(void) {
    struct reg_jwt_result res;
    struct reg_jwt_rules r = rules;
    r.refresh_interval = 3600;
    struct reg_jwt_key k = { REG_KEY_EC_P256, ec_a_pem, NULL };

    /* iat + refresh comes first. */
    char *c = tu_claims(now - 100, now + 3000, "my-project");
    char *t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_with(t, &k, 1, &r, &res), REG_AUTH_OK);
    CHECK(res.deadline == now - 100 + 3600);
    free(t);
    free(c);
    /* exp + skew comes first. */
    c = tu_claims(now - 100, now + 600, "my-project");
    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_with(t, &k, 1, &r, &res), REG_AUTH_OK);
    CHECK(res.deadline == now + 600 + 600);
    free(t);
    free(c);
    /* A 24 h token older than the refresh interval: expired. */
    c = tu_claims(now - 3600, now + 82800, "my-project");
    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_with(t, &k, 1, &r, &res), REG_AUTH_EXPIRED);
    /* Google's rule alone keeps it. */
    CHECK_REASON(verify_with(t, &k, 1, &rules, &res), REG_AUTH_OK);
    CHECK(res.deadline == now + 82800 + 600);
    free(t);
    free(c);
    c = tu_claims(now - 3599, now + 82800, "my-project");
    t = forge(H_ES, c, TU_SIG_ES256, ec_a);
    CHECK_REASON(verify_with(t, &k, 1, &r, &res), REG_AUTH_OK);
    CHECK(res.deadline == now + 1);
    free(t);
    free(c);
}

static void test_header(void) {
    struct reg_jwt_result res;
    char *c = tu_claims(now, now + 3600, "my-project");
    struct {
        const char *header;
        enum reg_auth_reason want;
    } cases[] = {
        { "{\"alg\":\"ES256\",\"typ\":\"jws\"}", REG_AUTH_BAD_TYP },
        { "{\"alg\":\"ES256\",\"typ\":\"jwt\"}", REG_AUTH_BAD_TYP },
        { "{\"alg\":\"ES256\",\"typ\":\"JWT \"}", REG_AUTH_BAD_TYP },
        { "{\"alg\":\"ES256\",\"typ\":1}", REG_AUTH_BAD_TYP },
        { "{\"alg\":\"ES256\",\"typ\":null}", REG_AUTH_BAD_TYP },
        { "{\"typ\":\"jws\"}", REG_AUTH_BAD_HEADER },   /* BAD_HEADER comes first */
        { "{\"typ\":\"JWT\"}", REG_AUTH_BAD_HEADER },
        { "{\"alg\":256}", REG_AUTH_BAD_HEADER },
        { "{\"alg\":null}", REG_AUTH_BAD_HEADER },
        { "[\"ES256\"]", REG_AUTH_BAD_HEADER },
        { "\"ES256\"", REG_AUTH_BAD_HEADER },
        { "{\"alg\":\"ES256\"", REG_AUTH_BAD_HEADER },
        { "not json", REG_AUTH_BAD_HEADER },
        { "{\"alg\":\"ES256\\u0000\"}", REG_AUTH_BAD_HEADER },
        { "{\"alg\":\"ES256\"} x", REG_AUTH_BAD_HEADER },
        { "{\"alg\":\"HS256\",\"typ\":\"jws\"}", REG_AUTH_BAD_TYP },   /* BAD_TYP before ALG */
        { "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", REG_AUTH_OK },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = forge(cases[i].header, c, TU_SIG_ES256, ec_a);
        enum reg_auth_reason got = verify_all(t, &res);
        if (got != cases[i].want)
            fprintf(stderr, "header %s\n", cases[i].header);
        CHECK_REASON(got, cases[i].want);
        free(t);
    }
    free(c);
}

static void test_not_jwt(void) {
    struct reg_jwt_result res;
    struct reg_jwt_key k = { REG_KEY_EC_P256, ec_a_pem, NULL };
    const char *bad[] = {
        "", "abc", "a.b.c", "e30.e30", "e30.e30.e30.e30", "e30.e30.e30.", "..", ".e30.abc",
        "e30..abc", "e3 0.e30.e30", "e30.e30.e30\n", " e30.e30.e30", "e30.e30.e30 ",
        "e30.e30.e30==", "e30===.e30.", "e30.e3=0.e30", "e30.e30.e3\"0", "e30.e30.e30,e30",
        "e30.e30.e30\t", "e30.e30.a", "e30.e30.e30%", "eyJhbGciOiJFUzI1NiJ9===.e30.",
        "e30.e30.e30=====",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum reg_auth_reason got = reg_jwt_verify(bad[i], strlen(bad[i]), &k, 1, &rules, now, &res);
        if (got != REG_AUTH_NOT_JWT)
            fprintf(stderr, "token \"%s\"\n", bad[i]);
        CHECK_REASON(got, REG_AUTH_NOT_JWT);
        CHECK(!reg_jwt_is_compact(bad[i], strlen(bad[i])));
    }
    CHECK_REASON(reg_jwt_verify(NULL, 0, &k, 1, &rules, now, &res), REG_AUTH_NOT_JWT);
    CHECK_REASON(reg_jwt_verify(NULL, 5, &k, 1, &rules, now, &res), REG_AUTH_NOT_JWT);
    static const char binary[] = { 'e', '3', '0', '.', (char)0xff, 'a', '.', 'b', 0, 'c' };
    CHECK_REASON(reg_jwt_verify(binary, sizeof(binary), &k, 1, &rules, now, &res), REG_AUTH_NOT_JWT);
    static const char with_nul[] = { 'e', '3', '0', '.', 'e', '3', '0', '.', 'a', 0, 'b' };
    CHECK_REASON(reg_jwt_verify(with_nul, sizeof(with_nul), &k, 1, &rules, now, &res),
                 REG_AUTH_NOT_JWT);

    /* Shape is fine but the header does not decode to JSON. */
    CHECK(reg_jwt_is_compact("e30.e30.", 8));
    CHECK_REASON(reg_jwt_verify("abcd.e30.", 9, &k, 1, &rules, now, &res), REG_AUTH_BAD_HEADER);

    /* Over 8 KiB, even if correctly signed. */
    char *big = malloc(9000);
    int n = snprintf(big, 9000, "{\"iat\":%lld,\"exp\":%lld,\"aud\":\"my-project\",\"pad\":\"",
                     (long long)now, (long long)now + 60);
    memset(big + n, 'x', 6200);
    memcpy(big + n + 6200, "\"}", 3);
    char *t = forge(H_ES, big, TU_SIG_ES256, ec_a);
    CHECK(strlen(t) > 8192);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_NOT_JWT);
    free(t);
    /* ... and just under is fine. */
    big[n + 5900] = '\0';
    memcpy(big + n + 5900, "\"}", 3);
    t = forge(H_ES, big, TU_SIG_ES256, ec_a);
    CHECK(strlen(t) <= 8192);
    CHECK_REASON(verify_all(t, &res), REG_AUTH_OK);
    free(t);
    free(big);
}

/* Google's decoder was lenient: padding and the standard alphabet work. */
static void test_encodings(void) {
    struct reg_jwt_result res;
    /* The "x" claim puts base64 digits 62 and 63 ('-' '_' or '+' '/') into
     * the payload; its three lengths and the two header spellings give every
     * padding (none, "=", "==") on header and payload. */
    const char *xs[] = { "?\?\?>>>~~", "?\?\?>>>~~~", "?\?\?>>>~~~~" };
    const char *hs[] = { "", " ", "  " };
    enum tu_b64_style styles[] = { TU_B64_URL, TU_B64_URL_PADDED, TU_B64_STD_PADDED };
    for (size_t x = 0; x < 3; x++) {
        char c[256];
        snprintf(c, sizeof(c), "{\"iat\":%lld,\"exp\":%lld,\"aud\":\"my-project\",\"x\":\"%s\"}",
                 (long long)now, (long long)now + 60, xs[x]);
        for (size_t h = 0; h < 3; h++) {
            for (int i = 0; i < 3; i++) {
                for (int es = 0; es < 2; es++) {
                    char hdr[64];
                    snprintf(hdr, sizeof(hdr), "{\"alg\":%s\"%s\",\"typ\":\"JWT\"}", hs[h],
                             es ? "ES256" : "RS256");
                    char *t = tu_jwt(hdr, c, es ? TU_SIG_ES256 : TU_SIG_RS256, es ? ec_a : rsa_a,
                                     NULL, styles[i]);
                    CHECK(reg_jwt_is_compact(t, strlen(t)));
                    enum reg_auth_reason got = verify_all(t, &res);
                    if (got != REG_AUTH_OK)
                        fprintf(stderr, "style %d: %s\n", i, t);
                    CHECK_REASON(got, REG_AUTH_OK);
                    free(t);
                }
            }
        }
    }
}

static void test_words(void) {
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_ALG_MISMATCH), "alg-mismatch") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BAD_SIGNATURE), "bad-signature") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_AUD), "aud") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_EXPIRED), "expired") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_IAT_FUTURE), "iat-future") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_LIFETIME), "lifetime") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_MISSING_CLAIM), "missing-claim") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_UNKNOWN_DEVICE), "unknown-device") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BLOCKED), "blocked") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_CREDENTIAL_EXPIRED), "credential-expired") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BAD_CLIENT_ID), "bad-client-id") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_NOT_JWT), "not-jwt") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BAD_TYP), "bad-typ") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BAD_HEADER), "bad-header") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_NO_CREDENTIAL), "no-credential") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_STORE_ERROR), "store-error") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH_BAD_PROTOCOL), "bad-protocol") == 0);
    CHECK(strcmp(reg_auth_reason_word(REG_AUTH__COUNT), "unknown") == 0);
    CHECK(strcmp(reg_auth_reason_word((enum reg_auth_reason)-1), "unknown") == 0);
    for (int r = 0; r < REG_AUTH__COUNT; r++)
        CHECK(strcmp(reg_auth_reason_word((enum reg_auth_reason)r), "unknown") != 0);

    CHECK(reg_auth_reason_connack(REG_AUTH_OK) == 0);
    CHECK(reg_auth_reason_connack(REG_AUTH_BAD_PROTOCOL) == 1);
    CHECK(reg_auth_reason_connack(REG_AUTH_BAD_CLIENT_ID) == 2);
    CHECK(reg_auth_reason_connack(REG_AUTH_STORE_ERROR) == 3);
    CHECK(reg_auth_reason_connack(REG_AUTH_NOT_JWT) == 4);
    for (int r = REG_AUTH_BAD_HEADER; r < REG_AUTH_STORE_ERROR; r++)
        CHECK(reg_auth_reason_connack((enum reg_auth_reason)r) == 5);
}

int main(void) {
    now = (int64_t)time(NULL);
    rsa_a = tu_key("RSA-2048");
    rsa_b = tu_key("RSA-2048");
    ec_a = tu_key("P-256");
    ec_b = tu_key("P-256");
    rsa_a_pem = tu_pubkey_pem(rsa_a);
    rsa_b_pem = tu_pubkey_pem(rsa_b);
    ec_a_pem = tu_pubkey_pem(ec_a);
    ec_b_pem = tu_pubkey_pem(ec_b);

    test_valid();
    test_alg_confusion();
    test_signature();
    test_claims();
    test_refresh();
    test_header();
    test_not_jwt();
    test_encodings();
    test_words();

    free(rsa_a_pem);
    free(rsa_b_pem);
    free(ec_a_pem);
    free(ec_b_pem);
    EVP_PKEY_free(rsa_a);
    EVP_PKEY_free(rsa_b);
    EVP_PKEY_free(ec_a);
    EVP_PKEY_free(ec_b);
    return tu_finish("test_jwt");
}
