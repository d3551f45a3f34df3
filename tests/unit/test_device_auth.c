/* Google device authentication over a real store (registry/reg_device_auth.c):
 * client id -> lookup -> blocked -> usable credentials -> JWT rules, the
 * order of the refusals, and that shape errors never touch the store. Keys
 * are generated and tokens signed at test time; the store is a temporary
 * SQLite file. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "db/db.h"
#include "registry/reg_device_auth.h"

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)
#define CHECK_REASON(got, want)                                                         \
    do {                                                                                \
        enum reg_auth_reason g_ = (got), w_ = (want);                                   \
        if (g_ != w_) {                                                                 \
            fprintf(stderr, "%s:%d: got %s, want %s\n", __FILE__, __LINE__,             \
                    reg_auth_reason_word(g_), reg_auth_reason_word(w_));                \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static int64_t now;

/* ---- token forging (unpadded base64url, JOSE ES256 signatures) ---- */

static char *b64url(const unsigned char *d, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n / 3 * 4 + 5);
    if (!out)
        abort();
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (n - i >= 1) {
        uint32_t v = (uint32_t)d[i] << 16 | (n - i == 2 ? (uint32_t)d[i + 1] << 8 : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (n - i == 2)
            out[o++] = a[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static char *forge(EVP_PKEY *key, const char *aud, int64_t iat, int64_t exp) {
    bool ec = EVP_PKEY_is_a(key, "EC");
    char header[64], payload[256];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", ec ? "ES256" : "RS256");
    snprintf(payload, sizeof(payload), "{\"iat\":%lld,\"exp\":%lld,\"aud\":\"%s\"}",
             (long long)iat, (long long)exp, aud);
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    char signing[1024];
    snprintf(signing, sizeof(signing), "%s.%s", h, p);
    unsigned char sig[512];
    size_t n = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &n, (const unsigned char *)signing, strlen(signing)) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (ec) {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)n);
        const BIGNUM *r, *s;
        if (!es)
            abort();
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, sig, 32);
        BN_bn2binpad(s, sig + 32, 32);
        ECDSA_SIG_free(es);
        n = 64;
    }
    char *sg = b64url(sig, n);
    size_t tn = strlen(signing) + strlen(sg) + 2;
    char *tok = malloc(tn);
    if (!tok)
        abort();
    snprintf(tok, tn, "%s.%s", signing, sg);
    free(h);
    free(p);
    free(sg);
    return tok;
}

static char *bio_text(BIO *b) {
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    if (!s)
        abort();
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *pubkey_pem(EVP_PKEY *k) {
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_PUBKEY(b, k))
        abort();
    return bio_text(b);
}

static char *cert_pem(EVP_PKEY *k) {
    X509 *x = X509_new();
    if (!x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"dev", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    if (!X509_sign(x, k, EVP_sha256()))
        abort();
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509(b, x))
        abort();
    X509_free(x);
    return bio_text(b);
}

/* ---- fixtures ---- */

static struct db *db;
static EVP_PKEY *rsa, *ec, *ec2;
static char *rsa_pem, *ec_pem, *ec2_pem, *ec_cert;
static int64_t reg_rowid;

static const struct reg_jwt_rules rules = {
    .audience = "ignored-audience", .clock_skew = 600, .max_lifetime = 86400,
    .refresh_interval = 3600,
};

static int64_t add_device(const char *id, bool blocked, const struct db_credential *creds,
                          size_t n, uint64_t *ret_num_id) {
    struct db_device d;
    memset(&d, 0, sizeof(d));
    d.registry_rowid = reg_rowid;
    snprintf(d.id, sizeof(d.id), "%s", id);
    d.blocked = blocked;
    if (db_device_insert(db, &d) < 0)
        abort();
    if (n && db_credential_replace(db, d.rowid, creds, n) < 0)
        abort();
    if (ret_num_id)
        *ret_num_id = d.num_id;
    return d.rowid;
}

static enum reg_auth_reason auth(const char *cid, const char *token, struct reg_google_auth *ret) {
    return reg_google_authenticate(db, cid, strlen(cid), (const uint8_t *)token,
                                   token ? strlen(token) : 0, token != NULL, &rules, now, ret);
}

static bool is_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

#define CID(dev) "projects/proj-1/locations/us-central1/registries/reg-1/devices/" dev

static void test_ok(void) {
    struct reg_google_auth a;
    char *t = forge(rsa, "proj-1", now - 10, now + 7200);
    memset(&a, 0x5A, sizeof(a));
    CHECK_REASON(auth(CID("dev-rsa"), t, &a), REG_AUTH_OK);
    CHECK(strcmp(a.path.project, "proj-1") == 0 && strcmp(a.path.device, "dev-rsa") == 0);
    CHECK(strcmp(a.registry.id, "reg-1") == 0 && a.registry.rowid == reg_rowid);
    CHECK(strcmp(a.device.id, "dev-rsa") == 0 && !a.device.blocked);
    CHECK(a.token.iat == now - 10 && a.token.exp == now + 7200);
    CHECK(a.token.deadline == now - 10 + 3600);   /* refresh_interval before exp + skew */
    CHECK(a.token.key_index == 0);
    reg_google_auth_clear(&a);
    CHECK(is_zero(&a, sizeof(a)));
    reg_google_auth_clear(NULL);

    /* aud is the project from the client id, not rules->audience. */
    CHECK_REASON(auth(CID("dev-rsa"), t, &a), REG_AUTH_OK);
    reg_google_auth_clear(&a);
    free(t);
    t = forge(rsa, "ignored-audience", now, now + 60);
    CHECK_REASON(auth(CID("dev-rsa"), t, &a), REG_AUTH_AUD);
    CHECK(is_zero(&a, sizeof(a)));
    free(t);
    t = forge(rsa, "proj-1", now, now + 60);
    CHECK_REASON(auth("projects/proj-2/locations/us-central1/registries/reg-1/devices/dev-rsa", t,
                      &a),
                 REG_AUTH_UNKNOWN_DEVICE);
    free(t);

    /* A certificate credential (ES256_X509_PEM) verifies through its key. */
    t = forge(ec, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("dev-cert"), t, &a), REG_AUTH_OK);
    reg_google_auth_clear(&a);
    free(t);
}

static void test_num_id(uint64_t num_id) {
    struct reg_google_auth a;
    char cid[256];
    snprintf(cid, sizeof(cid), CID("%llu"), (unsigned long long)num_id);
    char *t = forge(rsa, "proj-1", now, now + 60);
    CHECK_REASON(auth(cid, t, &a), REG_AUTH_OK);
    CHECK(strcmp(a.device.id, "dev-rsa") == 0 && a.device.num_id == num_id);
    reg_google_auth_clear(&a);
    snprintf(cid, sizeof(cid), CID("%llu"), (unsigned long long)(num_id + 1));
    CHECK_REASON(auth(cid, t, &a), REG_AUTH_UNKNOWN_DEVICE);
    free(t);
}

static void test_shape_before_store(void) {
    struct reg_google_auth a;
    char *t = forge(rsa, "proj-1", now, now + 60);
    /* db NULL: these refusals must be decided without the store. */
    struct db *saved = db;
    db = NULL;
    CHECK_REASON(auth("my-client", t, &a), REG_AUTH_BAD_CLIENT_ID);
    CHECK_REASON(auth("projects/proj-1", t, &a), REG_AUTH_BAD_CLIENT_ID);
    CHECK_REASON(auth("projects/proj-1/locations/us-central1/registries/reg-1/devices/", t, &a),
                 REG_AUTH_BAD_CLIENT_ID);
    CHECK_REASON(auth(CID("dev-rsa/extra"), t, &a), REG_AUTH_BAD_CLIENT_ID);
    CHECK_REASON(auth(CID("dev-rsa"), NULL, &a), REG_AUTH_NOT_JWT);
    CHECK_REASON(auth(CID("dev-rsa"), "", &a), REG_AUTH_NOT_JWT);
    CHECK_REASON(auth(CID("dev-rsa"), "not-a-jwt", &a), REG_AUTH_NOT_JWT);
    CHECK_REASON(auth(CID("dev-rsa"), "e30.e30", &a), REG_AUTH_NOT_JWT);
    /* BAD_CLIENT_ID wins over NOT_JWT. */
    CHECK_REASON(auth("projects/x", "junk", &a), REG_AUTH_BAD_CLIENT_ID);
    CHECK(is_zero(&a, sizeof(a)));
    /* has_password false wins over whatever bytes are there. */
    CHECK_REASON(reg_google_authenticate(db, CID("dev-rsa"), strlen(CID("dev-rsa")),
                                         (const uint8_t *)t, strlen(t), false, &rules, now, &a),
                 REG_AUTH_NOT_JWT);
    db = saved;
    /* A NUL inside the client id. */
    static const char nul_cid[] = CID("dev-rsa\0x");
    CHECK_REASON(reg_google_authenticate(db, nul_cid, sizeof(nul_cid) - 1, (const uint8_t *)t,
                                         strlen(t), true, &rules, now, &a),
                 REG_AUTH_BAD_CLIENT_ID);
    free(t);
}

static void test_refusals(void) {
    struct reg_google_auth a;
    char *t = forge(rsa, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("no-such-dev"), t, &a), REG_AUTH_UNKNOWN_DEVICE);
    CHECK_REASON(auth("projects/proj-1/locations/us-central1/registries/nope/devices/dev-rsa", t,
                      &a),
                 REG_AUTH_UNKNOWN_DEVICE);
    CHECK_REASON(auth("projects/proj-1/locations/europe-west1/registries/reg-1/devices/dev-rsa",
                      t, &a),
                 REG_AUTH_UNKNOWN_DEVICE);
    CHECK_REASON(auth(CID("dev-blocked"), t, &a), REG_AUTH_BLOCKED);
    CHECK(is_zero(&a, sizeof(a)));
    CHECK_REASON(auth(CID("dev-nocred"), t, &a), REG_AUTH_NO_CREDENTIAL);
    CHECK_REASON(auth(CID("dev-expired"), t, &a), REG_AUTH_CREDENTIAL_EXPIRED);
    CHECK_REASON(auth(CID("dev-garbage"), t, &a), REG_AUTH_NO_CREDENTIAL);
    /* Header problems are judged after the store (only NOT_JWT is before). */
    CHECK_REASON(auth(CID("no-such-dev"), "e30.e30.", &a), REG_AUTH_UNKNOWN_DEVICE);
    CHECK_REASON(auth(CID("dev-rsa"), "e30.e30.", &a), REG_AUTH_BAD_HEADER);
    /* Wrong algorithm for the device's keys. */
    char *te = forge(ec, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("dev-rsa"), te, &a), REG_AUTH_ALG_MISMATCH);
    free(te);
    free(t);
    /* Expired token. */
    t = forge(rsa, "proj-1", now - 7200, now - 3600);
    CHECK_REASON(auth(CID("dev-rsa"), t, &a), REG_AUTH_EXPIRED);
    CHECK(is_zero(&a, sizeof(a)));
    free(t);
}

static void test_rotation(void) {
    struct reg_google_auth a;
    /* dev-rotate: [ec (expired), rsa (live), ec2 (live)]. */
    char *t = forge(ec, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("dev-rotate"), t, &a), REG_AUTH_BAD_SIGNATURE);
    free(t);
    t = forge(ec2, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("dev-rotate"), t, &a), REG_AUTH_OK);
    CHECK(a.token.key_index == 2);   /* position in the device's list */
    reg_google_auth_clear(&a);
    free(t);
    t = forge(rsa, "proj-1", now, now + 60);
    CHECK_REASON(auth(CID("dev-rotate"), t, &a), REG_AUTH_OK);
    CHECK(a.token.key_index == 1);
    reg_google_auth_clear(&a);
    free(t);
}

int main(void) {
    now = (int64_t)time(NULL);
    char path[] = "/tmp/test_device_auth.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 77;
    close(fd);
    unlink(path);
    if (db_open(path, &db) < 0) {
        fprintf(stderr, "db_open failed\n");
        return 1;
    }
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa || !ec || !ec2)
        abort();
    rsa_pem = pubkey_pem(rsa);
    ec_pem = pubkey_pem(ec);
    ec2_pem = pubkey_pem(ec2);
    ec_cert = cert_pem(ec);

    struct db_registry r;
    memset(&r, 0, sizeof(r));
    snprintf(r.project, sizeof(r.project), "proj-1");
    snprintf(r.location, sizeof(r.location), "us-central1");
    snprintf(r.id, sizeof(r.id), "reg-1");
    if (db_registry_insert(db, &r) < 0)
        abort();
    reg_rowid = r.rowid;

    int64_t now_us = now * 1000000;
    struct db_credential c_rsa = { DB_KEY_RSA_PEM, rsa_pem, 0 };
    struct db_credential c_rsa_later = { DB_KEY_RSA_PEM, rsa_pem, now_us + 3600 * 1000000LL };
    struct db_credential c_ec_old = { DB_KEY_ES256_PEM, ec_pem, now_us - 1000000 };
    struct db_credential c_ec_now = { DB_KEY_ES256_PEM, ec_pem, now_us };
    struct db_credential c_ec2 = { DB_KEY_ES256_PEM, ec2_pem, 0 };
    struct db_credential c_cert = { DB_KEY_ES256_X509_PEM, ec_cert, 0 };
    struct db_credential c_garbage = { DB_KEY_RSA_PEM, (char *)"not a key", 0 };
    uint64_t num_id = 0;
    add_device("dev-rsa", false, &c_rsa, 1, &num_id);
    add_device("dev-cert", false, &c_cert, 1, NULL);
    add_device("dev-blocked", true, &c_rsa, 1, NULL);
    add_device("dev-nocred", false, NULL, 0, NULL);
    struct db_credential expired[] = { c_ec_old, c_ec_now };
    add_device("dev-expired", false, expired, 2, NULL);
    add_device("dev-garbage", false, &c_garbage, 1, NULL);
    struct db_credential rotate[] = { c_ec_old, c_rsa_later, c_ec2 };
    add_device("dev-rotate", false, rotate, 3, NULL);

    test_ok();
    test_num_id(num_id);
    test_shape_before_store();
    test_refusals();
    test_rotation();

    db_close(db);
    unlink(path);
    char side[sizeof(path) + 8];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    free(rsa_pem);
    free(ec_pem);
    free(ec2_pem);
    free(ec_cert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_device_auth: ok\n");
    return 0;
}
