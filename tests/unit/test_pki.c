/* First-start material (daemon/pki.c) and ports.json (daemon/ports.c), in
 * mkdtemp data directories: modes, idempotence, the chain and names of the
 * generated server certificate, key types, configured bypasses, renewal,
 * refusal cases, and that secrets never reach the log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "daemon/cfg.h"
#include "daemon/pki.h"
#include "daemon/ports.h"
#include "testutil.h"

struct blob {
    char *p;
    size_t len;
};

static struct blob slurp(const char *dir, const char *name)
{
    char path[1024];
    struct blob b = { NULL, 0 };
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    b.p = malloc(65536);
    if (!b.p)
        abort();
    b.len = fread(b.p, 1, 65535, f);
    b.p[b.len] = '\0';
    fclose(f);
    return b;
}

static int mode_of(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    if (name)
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    else
        snprintf(path, sizeof(path), "%s", dir);
    if (stat(path, &st) < 0)
        return -1;
    return (int)(st.st_mode & 07777);
}

static int file_exists(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void rm_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* No "*.tmpXXXXXX" leftovers from the atomic writer. */
static int tmp_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static int is_p256(EVP_PKEY *k)
{
    char group[64] = "";
    size_t len = 0;
    if (!k || !EVP_PKEY_is_a(k, "EC"))
        return 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &len))
        return 0;
    return strcmp(group, "prime256v1") == 0;
}

static int verifies(X509 *ca, X509 *cert)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = store && ctx && X509_STORE_add_cert(store, ca) &&
             X509_STORE_CTX_init(ctx, store, cert, NULL);
    if (ok) {
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        ok = X509_verify_cert(ctx) == 1;
        if (!ok)
            fprintf(stderr, "verify: %s\n",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static int days_left(X509 *x)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
        return -1;
    return days;
}

static void cn_of(X509 *x, char *out, size_t cap)
{
    out[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
}

static char *make_base(void)
{
    static char base[256];
    if (tu_mkdtemp(base, sizeof(base), "test_pki") < 0)
        abort();
    return base;
}

/* Runs pki_prepare with stderr captured into a file, so the test can prove
 * the log names paths and never contents. */
static int prepare_captured(const struct cfg *cfg, struct pki_files *ret, char *err,
                            size_t err_len, struct blob *log_out, const char *log_path)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0)
        abort();
    dup2(fd, 2);
    close(fd);
    int r = pki_prepare(cfg, ret, err, err_len);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(log_path, "r");
    log_out->p = malloc(65536);
    if (!f || !log_out->p)
        abort();
    log_out->len = fread(log_out->p, 1, 65535, f);
    log_out->p[log_out->len] = '\0';
    fclose(f);
    unlink(log_path);
    return r;
}

static const char *const material[] = { "ca.pem", "ca.key", "server.pem", "server.key",
                                        "admin.token", "aws-credentials" };
#define N_MATERIAL (sizeof(material) / sizeof(material[0]))

static void test_first_start(void)
{
    char *base = make_base();
    char dir[256], err[512], log_path[300];
    struct cfg *cfg = calloc(1, sizeof(*cfg));
    struct pki_files *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct blob log;
    if (!cfg || !a || !b)
        abort();

    /* Two missing levels: mkdir -p. */
    snprintf(dir, sizeof(dir), "%s/var/iotcored", base);
    snprintf(log_path, sizeof(log_path), "%s/log.txt", base);
    cfg_defaults(cfg);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", dir);

    int r = prepare_captured(cfg, a, err, sizeof(err), &log, log_path);
    if (r < 0)
        fprintf(stderr, "pki_prepare: %s\n", err);
    CHECK(r == 0);
    CHECK(mode_of(dir, NULL) == 0700);
    CHECK(mode_of(dir, "ca.pem") == 0644);
    CHECK(mode_of(dir, "ca.key") == 0600);
    CHECK(mode_of(dir, "server.pem") == 0644);
    CHECK(mode_of(dir, "server.key") == 0600);
    CHECK(mode_of(dir, "admin.token") == 0600);
    CHECK(mode_of(dir, "aws-credentials") == 0600);
    CHECK(tmp_files(dir) == 0);

    char want[600];
    snprintf(want, sizeof(want), "%s/registry.db", dir);
    CHECK(strcmp(a->db_path, want) == 0);
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    CHECK(strcmp(a->ca_cert, want) == 0);
    snprintf(want, sizeof(want), "%s/server.key", dir);
    CHECK(strcmp(a->server_key, want) == 0);
    CHECK(strcmp(a->data_dir, dir) == 0);

    /* admin.token: 32 random bytes in hex, the file holds it plus a newline. */
    CHECK(strlen(a->admin_token) == 64);
    CHECK(strspn(a->admin_token, "0123456789abcdef") == 64);
    struct blob tok = slurp(dir, "admin.token");
    CHECK(tok.p && tok.len == 65 && memcmp(tok.p, a->admin_token, 64) == 0 && tok.p[64] == '\n');

    /* aws-credentials: the AWS shared-credentials shape. */
    CHECK(strlen(a->aws_key_id) == 20 && strncmp(a->aws_key_id, "AKIA", 4) == 0);
    CHECK(strspn(a->aws_key_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 20);
    CHECK(strlen(a->aws_secret) == 40);
    CHECK(strspn(a->aws_secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789+/") == 40);
    struct blob cred = slurp(dir, "aws-credentials");
    char expect_cred[400];
    snprintf(expect_cred, sizeof(expect_cred),
             "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", a->aws_key_id,
             a->aws_secret);
    CHECK(cred.p && strcmp(cred.p, expect_cred) == 0);

    /* The log names each created file and holds no secret. */
    CHECK(strstr(log.p, "ca.key") && strstr(log.p, "server.pem") &&
          strstr(log.p, "admin.token") && strstr(log.p, "aws-credentials"));
    CHECK(strstr(log.p, a->admin_token) == NULL);
    CHECK(strstr(log.p, a->aws_secret) == NULL);
    CHECK(strstr(log.p, "PRIVATE KEY") == NULL);

    /* Second start: everything loaded, nothing rewritten, nothing logged
     * as created. */
    struct blob before[N_MATERIAL];
    for (size_t i = 0; i < N_MATERIAL; i++)
        before[i] = slurp(dir, material[i]);
    free(log.p);
    r = prepare_captured(cfg, b, err, sizeof(err), &log, log_path);
    CHECK(r == 0);
    CHECK(memcmp(a, b, sizeof(*a)) == 0);
    CHECK(strstr(log.p, "created") == NULL && strstr(log.p, "renewed") == NULL);
    for (size_t i = 0; i < N_MATERIAL; i++) {
        struct blob now = slurp(dir, material[i]);
        CHECK(before[i].p && now.p && now.len == before[i].len &&
              memcmp(now.p, before[i].p, now.len) == 0);
        free(now.p);
    }

    /* The certificates. */
    X509 *ca = read_cert(a->ca_cert), *srv = read_cert(a->server_cert);
    EVP_PKEY *ca_key = read_key(a->ca_key), *srv_key = read_key(a->server_key);
    CHECK(ca && srv && ca_key && srv_key);
    if (ca && srv && ca_key && srv_key) {
        char cn[128];
        CHECK(is_p256(ca_key));
        CHECK(is_p256(srv_key));
        CHECK(X509_check_private_key(ca, ca_key) == 1);
        CHECK(X509_check_private_key(srv, srv_key) == 1);
        cn_of(ca, cn, sizeof(cn));
        CHECK(strcmp(cn, "iotcored development CA") == 0);
        cn_of(srv, cn, sizeof(cn));
        CHECK(strcmp(cn, "localhost") == 0);
        CHECK(X509_check_ca(ca) == 1);
        CHECK(X509_check_ca(srv) == 0);
        CHECK((X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
              (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
        CHECK(X509_get0_subject_key_id(ca) != NULL);
        CHECK(X509_get_extension_flags(srv) & EXFLAG_XKUSAGE);
        CHECK(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
        /* basicConstraints is critical on the CA. */
        int crit = -1;
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
        CHECK(bc && bc->ca && crit == 1);
        BASIC_CONSTRAINTS_free(bc);
        CHECK(verifies(ca, srv));
        CHECK(X509_check_host(srv, "localhost", 0, 0, NULL) == 1);
        CHECK(X509_check_ip_asc(srv, "127.0.0.1", 0) == 1);
        CHECK(X509_check_host(srv, "example.com", 0, 0, NULL) != 1);
        int ca_days = days_left(ca), srv_days = days_left(srv);
        CHECK(ca_days >= 3649 && ca_days <= 3650);
        CHECK(srv_days >= 396 && srv_days <= 397);   /* CA/Browser Forum limit */
        /* A random 128-bit serial (at most 128 bits, almost surely > 64). */
        BIGNUM *sn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(srv), NULL);
        CHECK(sn && BN_num_bits(sn) <= 128 && BN_num_bits(sn) > 64 && !BN_is_negative(sn));
        BN_free(sn);
    }
    X509_free(srv);
    EVP_PKEY_free(srv_key);

    /* server.pem gone, CA kept: a new server certificate from the same CA. */
    rm_file(dir, "server.pem");
    r = pki_prepare(cfg, b, err, sizeof(err));
    CHECK(r == 0);
    struct blob ca_now = slurp(dir, "ca.pem"), key_now = slurp(dir, "ca.key");
    CHECK(ca_now.len == before[0].len && memcmp(ca_now.p, before[0].p, ca_now.len) == 0);
    CHECK(key_now.len == before[1].len && memcmp(key_now.p, before[1].p, key_now.len) == 0);
    free(ca_now.p);
    free(key_now.p);
    srv = read_cert(b->server_cert);
    CHECK(srv && ca && verifies(ca, srv));
    X509_free(srv);

    /* aws.endpoint not in the certificate: renewed with it. */
    snprintf(cfg->aws.endpoint, sizeof(cfg->aws.endpoint), "iot.example.test");
    r = pki_prepare(cfg, b, err, sizeof(err));
    CHECK(r == 0);
    srv = read_cert(b->server_cert);
    CHECK(srv && X509_check_host(srv, "iot.example.test", 0, 0, NULL) == 1);
    CHECK(srv && X509_check_host(srv, "localhost", 0, 0, NULL) == 1);
    CHECK(srv && ca && verifies(ca, srv));
    X509_free(srv);
    struct blob s1 = slurp(dir, "server.pem");
    CHECK(pki_prepare(cfg, b, err, sizeof(err)) == 0);
    struct blob s2 = slurp(dir, "server.pem");
    CHECK(s1.len == s2.len && memcmp(s1.p, s2.p, s1.len) == 0);
    free(s1.p);
    free(s2.p);

    /* A server certificate from another CA is replaced. */
    {
        char other[300];
        struct cfg *c2 = calloc(1, sizeof(*c2));
        struct pki_files *p2 = calloc(1, sizeof(*p2));
        if (!c2 || !p2)
            abort();
        snprintf(other, sizeof(other), "%s/other", base);
        cfg_defaults(c2);
        snprintf(c2->data_dir, sizeof(c2->data_dir), "%s", other);
        CHECK(pki_prepare(c2, p2, err, sizeof(err)) == 0);
        struct blob op = slurp(other, "server.pem"), ok = slurp(other, "server.key");
        char path[600];
        snprintf(path, sizeof(path), "%s/server.pem", dir);
        CHECK(pki_write_atomic(path, op.p, op.len, 0644) == 0);
        snprintf(path, sizeof(path), "%s/server.key", dir);
        CHECK(pki_write_atomic(path, ok.p, ok.len, 0600) == 0);
        CHECK(pki_prepare(cfg, b, err, sizeof(err)) == 0);
        srv = read_cert(b->server_cert);
        CHECK(srv && ca && verifies(ca, srv));
        X509_free(srv);
        free(op.p);
        free(ok.p);
        free(c2);
        free(p2);
    }

    /* A hand-written admin.token is loaded as it is (trailing newline
     * dropped); one that is not a header word is refused. */
    {
        char path[600];
        snprintf(path, sizeof(path), "%s/admin.token", dir);
        CHECK(pki_write_atomic(path, "my-own-token\n", strlen("my-own-token\n"), 0600) == 0);
        CHECK(pki_prepare(cfg, b, err, sizeof(err)) == 0);
        CHECK(strcmp(b->admin_token, "my-own-token") == 0);
        CHECK(pki_write_atomic(path, "two words\n", strlen("two words\n"), 0600) == 0);
        memset(b, 0xAA, sizeof(*b));
        struct pki_files *snap = malloc(sizeof(*snap));
        if (!snap)
            abort();
        memcpy(snap, b, sizeof(*b));
        CHECK(pki_prepare(cfg, b, err, sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "admin.token") != NULL);
        CHECK(memcmp(snap, b, sizeof(*b)) == 0);   /* ret untouched on failure */
        free(snap);
        rm_file(dir, "admin.token");
    }

    /* A mangled aws-credentials file is refused, not silently replaced. */
    {
        char path[600];
        snprintf(path, sizeof(path), "%s/aws-credentials", dir);
        const char *other = "[other]\naws_access_key_id = AKIAX\n";
        CHECK(pki_write_atomic(path, other, strlen(other), 0600) == 0);
        CHECK(pki_prepare(cfg, b, err, sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "aws-credentials") != NULL);
        const char *mine = "# mine\n[default]\r\naws_secret_access_key=S3cr/t\r\n"
                           "aws_access_key_id=AKIAMINE\r\n";
        CHECK(pki_write_atomic(path, mine, strlen(mine), 0600) == 0);
        CHECK(pki_prepare(cfg, b, err, sizeof(err)) == 0);
        CHECK(strcmp(b->aws_key_id, "AKIAMINE") == 0 && strcmp(b->aws_secret, "S3cr/t") == 0);
    }

    /* ca.pem without its key cannot sign: refused with the path. */
    rm_file(dir, "ca.key");
    r = pki_prepare(cfg, b, err, sizeof(err));
    CHECK(r == -ENOENT);
    CHECK(strstr(err, "ca.key") != NULL);

    for (size_t i = 0; i < N_MATERIAL; i++)
        free(before[i].p);
    free(tok.p);
    free(cred.p);
    free(log.p);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    tu_tmpdir_cleanup(base);
    free(cfg);
    free(a);
    free(b);
}

static void test_configured(void)
{
    char *base = make_base();
    char err[512];
    struct cfg *cfg = calloc(1, sizeof(*cfg));
    struct pki_files *p = calloc(1, sizeof(*p));
    if (!cfg || !p)
        abort();

    cfg_defaults(cfg);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/data", base);
    snprintf(cfg->tls.cert, sizeof(cfg->tls.cert), "/etc/ssl/mine.pem");
    snprintf(cfg->tls.key, sizeof(cfg->tls.key), "/etc/ssl/mine.key");
    cfg->admin.n_tokens = 1;
    snprintf(cfg->admin.tokens[0], sizeof(cfg->admin.tokens[0]), "configured-token");
    cfg->admin.n_aws_keys = 1;
    snprintf(cfg->admin.aws_keys[0].id, sizeof(cfg->admin.aws_keys[0].id), "AKIACONF");
    snprintf(cfg->admin.aws_keys[0].secret, sizeof(cfg->admin.aws_keys[0].secret), "s");

    int r = pki_prepare(cfg, p, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "pki_prepare: %s\n", err);
    CHECK(r == 0);
    CHECK(strcmp(p->server_cert, "/etc/ssl/mine.pem") == 0);
    CHECK(strcmp(p->server_key, "/etc/ssl/mine.key") == 0);
    CHECK(!file_exists(cfg->data_dir, "server.pem"));
    CHECK(!file_exists(cfg->data_dir, "server.key"));
    /* The CA is still made: it signs the device certificates AWS's
     * CreateKeysAndCertificate issues. */
    CHECK(file_exists(cfg->data_dir, "ca.pem") && file_exists(cfg->data_dir, "ca.key"));
    CHECK(!file_exists(cfg->data_dir, "admin.token"));
    CHECK(!file_exists(cfg->data_dir, "aws-credentials"));
    CHECK(p->admin_token[0] == '\0');
    CHECK(p->aws_key_id[0] == '\0' && p->aws_secret[0] == '\0');

    /* data_dir that is a file. */
    char file[300];
    snprintf(file, sizeof(file), "%s/plainfile", base);
    FILE *f = fopen(file, "w");
    if (f)
        fclose(f);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", file);
    CHECK(pki_prepare(cfg, p, err, sizeof(err)) == -ENOTDIR);
    CHECK(strstr(err, "not a directory") != NULL);

    tu_tmpdir_cleanup(base);
    free(cfg);
    free(p);
}

static void test_ports(void)
{
    char *base = make_base();
    struct ports_entry e[] = { { "mqtts", 40123 }, { "devices", 8443 }, { "admin", 0 } };

    CHECK(ports_write(base, e, 3) == 0);
    struct blob b = slurp(base, "ports.json");
    CHECK(b.p && strcmp(b.p, "{\"mqtts\": 40123, \"devices\": 8443, \"admin\": 0}\n") == 0);
    CHECK(mode_of(base, "ports.json") == 0644);
    CHECK(tmp_files(base) == 0);
    free(b.p);

    /* Rewritten in place; a name is escaped, never trusted. */
    struct ports_entry q[] = { { "a\"b\\c\n", 1 } };
    CHECK(ports_write(base, q, 1) == 0);
    b = slurp(base, "ports.json");
    CHECK(b.p && strcmp(b.p, "{\"a\\\"b\\\\c\\u000a\": 1}\n") == 0);
    free(b.p);
    CHECK(ports_write(base, NULL, 0) == 0);
    b = slurp(base, "ports.json");
    CHECK(b.p && strcmp(b.p, "{}\n") == 0);
    free(b.p);

    struct ports_entry bad[] = { { "x", 65536 } };
    CHECK(ports_write(base, bad, 1) == -EINVAL);
    struct ports_entry noname[] = { { NULL, 1 } };
    CHECK(ports_write(base, noname, 1) == -EINVAL);
    CHECK(ports_write("/nonexistent-dir", e, 3) == -ENOENT);
    tu_tmpdir_cleanup(base);
}

int main(void)
{
    /* Modes must come from the code, not from the caller's umask: with
     * umask 0 anything the code left to the default would show. */
    umask(0);
    test_first_start();
    test_configured();
    test_ports();
    return tu_finish("test_pki");
}
