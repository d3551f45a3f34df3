/* Unit tests of fleet provisioning by claim (registry/reg_aws_fleet.h) and
 * the template application under it (reg_aws_provision.h), over a real
 * SQLite store and a CA made here: CreateKeysAndCertificate and
 * CreateCertificateFromCsr answers, the ownership token (forged, moved to
 * another certificate, expired, from another store's key), parameters a
 * device may not set, disabled and JITP templates, and a successful
 * RegisterThing: certificate ACTIVE, thing created with its principal,
 * policy attached; a failing template changes nothing. */
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/db_aws.h"
#include "registry/reg_aws_fleet.h"
#include "testutil.h"
#include "testutil_crypto.h"

static char tmpdir[256];
static void cleanup(void) { tu_tmpdir_cleanup(tmpdir); }

static const struct reg_aws_env env = { .region = "us-east-1", .account = "123456789012" };
static const int64_t T0 = 1800000000LL * 1000000;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A P-256 CA (CA:TRUE) written as ca.pem / ca.key in tmpdir. */
static struct aws_issuer *make_issuer(void)
{
    char cp[512], kp[512];
    EVP_PKEY *k = tu_key("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX v3;
    struct aws_issuer *is = NULL;

    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fleet test CA", -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365 * 30);
    X509_set_pubkey(x, k);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    CHECK(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *pem = tu_bio_take_text(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *key = tu_bio_take_text(b);
    snprintf(cp, sizeof(cp), "%s/ca.pem", tmpdir);
    snprintf(kp, sizeof(kp), "%s/ca.key", tmpdir);
    write_file(cp, pem);
    write_file(kp, key);
    free(pem);
    free(key);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
    CHECK_EQ(aws_issuer_load(cp, kp, &is), 0);
    return is;
}

static json_t *doc_of(const struct reg_aws_fleet_reply *r)
{
    json_t *j = json_loads(r->doc, 0, NULL);
    CHECK(json_is_object(j));
    return j;
}

static const char *str(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

static void check_rejected(const struct reg_aws_fleet_reply *r, int status, const char *code)
{
    CHECK(!r->accepted);
    json_t *j = doc_of(r);
    CHECK_EQ(json_integer_value(json_object_get(j, "statusCode")), status);
    CHECK_STR(str(j, "errorCode"), code);
    CHECK(str(j, "errorMessage") && *str(j, "errorMessage"));
    json_decref(j);
}

static void status_is(struct db *db, const char *id, const char *want)
{
    struct db_aws_cert c = { 0 };
    CHECK_EQ(db_aws_cert_get(db, id, &c), 0);
    CHECK_STR(c.status, want);
    db_aws_cert_clear(&c);
}

static const char TEMPLATE[] =
    "{\"Parameters\":{\"Serial\":{\"Type\":\"String\"}},"
    "\"Resources\":{"
    "\"thing\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":{\"ThingName\":"
    "{\"Fn::Join\":[\"\",[\"dev-\",{\"Ref\":\"Serial\"}]]},"
    "\"AttributePayload\":{\"serial\":{\"Ref\":\"Serial\"}}}},"
    "\"cert\":{\"Type\":\"AWS::IoT::Certificate\",\"Properties\":{\"CertificateId\":"
    "{\"Ref\":\"AWS::IoT::Certificate::Id\"},\"Status\":\"ACTIVE\"}},"
    "\"policy\":{\"Type\":\"AWS::IoT::Policy\",\"Properties\":{\"PolicyDocument\":"
    "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
    "\\\"Action\\\":\\\"iot:Connect\\\",\\\"Resource\\\":\\\"*\\\"}]}\"}}},"
    "\"DeviceConfiguration\":{\"topic\":{\"Fn::Sub\":\"dt/${Serial}\"}}}";

static void add_template(struct db *db, const char *name, const char *type, bool enabled,
                         const char *body)
{
    struct db_aws_template t = { 0 };
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.template_id, sizeof(t.template_id), "00000000-0000-4000-8000-000000000000");
    snprintf(t.type, sizeof(t.type), "%s", type);
    t.enabled = enabled;
    CHECK_EQ(db_aws_template_insert(db, &t, body, T0), 0);
}

static void test_fleet(struct db *db, struct aws_issuer *is)
{
    struct reg_aws_fleet_reply r = { 0 }, created = { 0 }, other = { 0 };
    char payload[2048];

    /* CreateKeysAndCertificate: key, certificate, token; PENDING_ACTIVATION. */
    CHECK_EQ(reg_aws_fleet_create(db, is, NULL, 0, T0, &created), 0);
    CHECK(created.accepted);
    json_t *c = doc_of(&created);
    CHECK(strstr(str(c, "privateKey"), "PRIVATE KEY") != NULL);
    CHECK(strstr(str(c, "certificatePem"), "BEGIN CERTIFICATE") != NULL);
    CHECK_STR(str(c, "certificateId"), created.cert_id);
    status_is(db, created.cert_id, "PENDING_ACTIVATION");
    char token[256];
    snprintf(token, sizeof(token), "%s", str(c, "certificateOwnershipToken"));
    json_decref(c);

    /* CreateCertificateFromCsr refuses a payload without a CSR, or a bad one. */
    CHECK_EQ(reg_aws_fleet_create(db, is, "{}", 2, T0, &r), 0);
    check_rejected(&r, 400, "InvalidPayload");
    reg_aws_fleet_reply_clear(&r);
    CHECK_EQ(reg_aws_fleet_create(db, is, "{\"certificateSigningRequest\":\"x\"}", 33, T0, &r), 0);
    check_rejected(&r, 400, "InvalidCsr");
    reg_aws_fleet_reply_clear(&r);
    CHECK_EQ(reg_aws_fleet_create(db, is, NULL, 0, T0, &other), 0);

    add_template(db, "fleet", "FLEET_PROVISIONING", true, TEMPLATE);
    add_template(db, "off", "FLEET_PROVISIONING", false, TEMPLATE);
    add_template(db, "jitp", "JITP", true, TEMPLATE);

#define REGISTER(name, tok, params, at)                                                        \
    do {                                                                                       \
        snprintf(payload, sizeof(payload),                                                     \
                 "{\"certificateOwnershipToken\":\"%s\",\"parameters\":%s}", tok, params);     \
        reg_aws_fleet_reply_clear(&r);                                                         \
        CHECK_EQ(reg_aws_fleet_register(db, &env, name, payload, strlen(payload), at, &r), 0); \
    } while (0)

    /* Forged: one hex digit of the MAC changed. */
    char forged[256];
    snprintf(forged, sizeof(forged), "%s", token);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
    REGISTER("fleet", forged, "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 400, "InvalidCertificateOwnershipToken");
    /* The token's MAC moved onto the other certificate's id. */
    char moved[256];
    const char *dot = strchr(token + strlen("iotcored1."), '.');
    snprintf(moved, sizeof(moved), "iotcored1.%s%s", other.cert_id, dot);
    REGISTER("fleet", moved, "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 400, "InvalidCertificateOwnershipToken");
    /* Not a token at all, and an expired one (an hour and a second on). */
    REGISTER("fleet", "abc", "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 400, "InvalidCertificateOwnershipToken");
    REGISTER("fleet", token, "{\"Serial\":\"1\"}", T0 + REG_AWS_TOKEN_TTL_US + 1000000);
    check_rejected(&r, 400, "InvalidCertificateOwnershipToken");
    /* A device may not name the certificate itself. */
    REGISTER("fleet", token, "{\"AWS::IoT::Certificate::Id\":\"x\"}", T0);
    check_rejected(&r, 400, "InvalidParameters");
    REGISTER("fleet", token, "{\"Serial\":1}", T0);
    check_rejected(&r, 400, "InvalidParameters");
    /* Templates: unknown, disabled, of the JITP type. */
    REGISTER("nosuch", token, "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 404, "ResourceNotFound");
    REGISTER("off", token, "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 400, "InvalidRequest");
    REGISTER("jitp", token, "{\"Serial\":\"1\"}", T0);
    check_rejected(&r, 404, "ResourceNotFound");
    /* A missing parameter fails the template: nothing changes. */
    REGISTER("fleet", token, "{}", T0);
    check_rejected(&r, 400, "InvalidParameters");
    status_is(db, created.cert_id, "PENDING_ACTIVATION");
    struct db_aws_thing t = { 0 };
    CHECK_EQ(db_aws_thing_get(db, "dev-42", &t), -ENOENT);

    /* The real thing. */
    REGISTER("fleet", token, "{\"Serial\":\"42\"}", T0 + 1000000);
    CHECK(r.accepted);
    json_t *a = doc_of(&r);
    CHECK_STR(str(a, "thingName"), "dev-42");
    CHECK_STR(str(json_object_get(a, "deviceConfiguration"), "topic"), "dt/42");
    json_decref(a);
    status_is(db, created.cert_id, "ACTIVE");
    CHECK_EQ(db_aws_thing_get(db, "dev-42", &t), 0);
    CHECK(strstr(t.attributes_json, "\"serial\":\"42\"") != NULL);
    char arn[256];
    snprintf(arn, sizeof(arn), "arn:aws:iot:us-east-1:123456789012:cert/%s", created.cert_id);
    CHECK_EQ(db_aws_thing_principal_exists(db, "dev-42", arn), 1);
    int64_t n_policies = 0;
    CHECK_EQ(db_aws_target_policy_count(db, arn, &n_policies), 0);
    CHECK_EQ(n_policies, 1);
    db_aws_thing_clear(&t);

    reg_aws_fleet_reply_clear(&r);
    reg_aws_fleet_reply_clear(&created);
    reg_aws_fleet_reply_clear(&other);
#undef REGISTER
}

int main(void)
{
    char path[512];
    struct db *db = NULL;

    CHECK(tu_mkdtemp(tmpdir, sizeof tmpdir, "test_reg_aws_fleet") == 0);
    atexit(cleanup);
    snprintf(path, sizeof(path), "%s/fleet.db", tmpdir);
    CHECK_EQ(db_open(path, &db), 0);
    struct aws_issuer *is = make_issuer();
    test_fleet(db, is);
    aws_issuer_free(is);
    db_close(db);
    return tu_finish("reg_aws_fleet");
}
