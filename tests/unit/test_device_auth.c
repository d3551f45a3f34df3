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

#include <openssl/evp.h>

#include "db/db.h"
#include "registry/reg_device_auth.h"
#include "testutil.h"
#include "testutil_crypto.h"
#include "testutil_reg.h"

static int64_t now;

/* ---- token forging (unpadded base64url, JOSE ES256 signatures) ---- */

static char *forge(EVP_PKEY *key, const char *aud, int64_t iat, int64_t exp) {
    bool ec = EVP_PKEY_is_a(key, "EC");
    char header[64];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", ec ? "ES256" : "RS256");
    char *payload = tu_claims(iat, exp, aud);
    char *tok = tu_jwt(header, payload, ec ? TU_SIG_ES256 : TU_SIG_RS256, key, NULL, TU_B64_URL);
    free(payload);
    return tok;
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
    CHECK(strcmp(a.registry.project, "proj-1") == 0);
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
    char dir[256], path[300];
    if (tu_mkdtemp(dir, sizeof(dir), "test_device_auth") < 0)
        return 77;
    snprintf(path, sizeof(path), "%s/auth.db", dir);
    if (db_open(path, &db) < 0) {
        fprintf(stderr, "db_open failed\n");
        tu_rm_rf(dir);
        return 1;
    }
    rsa = tu_key("RSA-2048");
    ec = tu_key("P-256");
    ec2 = tu_key("P-256");
    rsa_pem = tu_pubkey_pem(rsa);
    ec_pem = tu_pubkey_pem(ec);
    ec2_pem = tu_pubkey_pem(ec2);
    ec_cert = tu_cert_pem(ec, "dev", 7, (time_t)now, -3600, 86400L * 365);

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
    tu_tmpdir_cleanup(dir);
    free(rsa_pem);
    free(ec_pem);
    free(ec2_pem);
    free(ec_cert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    return tu_finish("test_device_auth");
}
