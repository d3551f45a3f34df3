/* First-start material: owns data_dir's creation, the development CA, the
 * generated server certificate, admin.token and aws-credentials, and the one
 * atomic file writer the daemon uses for anything it must not leave half
 * written. Everything here runs once at startup, before the loop, so plain
 * blocking I/O is fine. OpenSSL is used only through its 3.0 EVP/X509 APIs;
 * its error codes are turned into -EIO plus one line in err here, once. */
#include "daemon/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"

/* PEM files and tokens are small; the cap keeps a wrong file from being read
 * whole. */
#define PKI_FILE_MAX (64 * 1024)

#define CA_DAYS 3650
/* 397 days: the CA/Browser Forum limit for TLS server certificates (Apple
 * and the browsers refuse longer ones; testssl rates 825 days MEDIUM). The
 * daemon renews it before expiry (below), so the short life costs nothing. */
#define SERVER_DAYS 397
/* Renew the generated server certificate this long before it expires, so a
 * daemon restarted now and then never serves an expired one. */
#define SERVER_RENEW_SECONDS (30 * 86400)
/* Issued certificates start an hour in the past: a device whose clock is a
 * little behind would otherwise refuse a certificate made a second ago. */
#define BACKDATE_SECONDS 3600

struct ectx {
    char *err;
    size_t err_len;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ectx *e, int ret, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    vsnprintf(e->err, e->err_len, fmt, ap);
#pragma GCC diagnostic pop
    va_end(ap);
    return ret;
}

/* Appends OpenSSL's first queued error to a message and clears the queue. */
static int fail_ssl(struct ectx *e, const char *what, const char *path)
{
    char buf[256];
    unsigned long code = ERR_get_error();

    if (code)
        ERR_error_string_n(code, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "unknown OpenSSL error");
    ERR_clear_error();
    return fail(e, -EIO, "pki: %s %s: %s", what, path, buf);
}

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int fsync_dir_of(const char *path)
{
    char dir[CFG_STR + 64];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    if (n == 0) {
        dir[0] = slash ? '/' : '.';
        dir[1] = '\0';
    } else {
        if (n >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int pki_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[CFG_STR + 64];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;

    /* mkostemp opens O_CREAT|O_EXCL with mode 0600: the bytes below are
     * never visible to anyone else before the final mode is set. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = 0;
    if (fchmod(fd, mode) < 0)
        r = -errno;
    const char *p = data;
    size_t left = len;
    while (r == 0 && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            r = -errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    /* fsync before rename: after a crash the name points at the old file or
     * the complete new one, never at an empty one. */
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return fsync_dir_of(path);
}

/* Reads a whole small file into a NUL-terminated heap buffer. Returns
 * -ENOENT when it does not exist. A secret file readable by group or others
 * is used but warned about. */
static int read_small(const char *path, bool secret, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PKI_FILE_MAX) {
        close(fd);
        return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
    }
    if (secret && (st.st_mode & 077))
        log_warn("pki: %s is accessible by group or others (mode %03o); chmod 600 it",
                 path, (unsigned)(st.st_mode & 0777));
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            explicit_bzero(buf, got);
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *ret = buf;
    *ret_len = got;
    return 0;
}

static void free_secret(char *buf, size_t len)
{
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* mkdir -p: parents with the usual 0755, data_dir itself 0700 because it
 * holds the CA key and the admin secrets. */
static int make_data_dir(struct ectx *e, const char *dir)
{
    char p[CFG_STR];
    size_t n = strlen(dir);

    if (n == 0)
        return fail(e, -EINVAL, "pki: data_dir is empty");
    if (n >= sizeof(p))
        return fail(e, -ENAMETOOLONG, "pki: data_dir is too long");
    memcpy(p, dir, n + 1);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (size_t i = 1; i < n; i++) {
        if (p[i] != '/')
            continue;
        p[i] = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            int r = -errno;
            return fail(e, r, "pki: cannot create %s: %s", p, strerror(-r));
        }
        p[i] = '/';
    }
    if (mkdir(p, 0700) == 0) {
        log_info("pki: created %s", p);
        return 0;
    }
    if (errno != EEXIST) {
        int r = -errno;
        return fail(e, r, "pki: cannot create %s: %s", p, strerror(-r));
    }
    struct stat st;
    if (stat(p, &st) < 0) {
        int r = -errno;
        return fail(e, r, "pki: cannot stat %s: %s", p, strerror(-r));
    }
    if (!S_ISDIR(st.st_mode))
        return fail(e, -ENOTDIR, "pki: %s is not a directory", p);
    if (st.st_mode & 077)
        log_warn("pki: %s is accessible by group or others (mode %03o); chmod 700 it", p,
                 (unsigned)(st.st_mode & 0777));
    return 0;
}

/* ---- PEM ---------------------------------------------------------------- */

/* Without a callback OpenSSL would prompt on the terminal for an encrypted
 * key; a daemon refuses instead. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

static int load_cert(struct ectx *e, const char *path, X509 **ret)
{
    char *buf;
    size_t len;
    int r = read_small(path, false, &buf, &len);
    if (r < 0)
        return fail(e, r, "pki: cannot read %s: %s", path, strerror(-r));
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    free(buf);
    if (!x)
        return fail_ssl(e, "cannot parse certificate", path);
    *ret = x;
    return 0;
}

static int load_key(struct ectx *e, const char *path, EVP_PKEY **ret)
{
    char *buf;
    size_t len;
    int r = read_small(path, true, &buf, &len);
    if (r < 0)
        return fail(e, r, "pki: cannot read %s: %s", path, strerror(-r));
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    free_secret(buf, len);
    if (!k)
        return fail_ssl(e, "cannot parse key", path);
    *ret = k;
    return 0;
}

/* Writes the key (0600) or certificate (0644) in PEM through a memory BIO
 * that is wiped before it is freed. */
static int save_pem(struct ectx *e, const char *path, X509 *cert, EVP_PKEY *key)
{
    /* The secure-memory BIO clears its buffer when freed. */
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b)
        return fail_ssl(e, "cannot encode", path);
    int ok = cert ? PEM_write_bio_X509(b, cert)
                  : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    if (!ok) {
        BIO_free(b);
        return fail_ssl(e, "cannot encode", path);
    }
    char *data;
    long len = BIO_get_mem_data(b, &data);
    int r = pki_write_atomic(path, data, (size_t)len, cert ? 0644 : 0600);
    explicit_bzero(data, (size_t)len);
    BIO_free(b);
    if (r < 0)
        return fail(e, r, "pki: cannot write %s: %s", path, strerror(-r));
    return 0;
}

/* ---- certificates ------------------------------------------------------- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -EIO;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -EIO;
}

/* A random positive 128-bit serial: RFC 5280 wants serials unique per CA,
 * and with no serial file to keep, randomness is how to get that. */
static int set_random_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int r = -EIO;

    if (!bn)
        return -ENOMEM;
    do {
        if (!BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
            goto out;
    } while (BN_is_zero(bn));
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        r = 0;
out:
    BN_free(bn);
    return r;
}

/* Builds and signs a certificate for key. issuer/issuer_key NULL means
 * self-signed (the CA). san is an OpenSSL subjectAltName value or NULL. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       int days, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    bool ok = x && name;

    ok = ok && X509_set_version(x, X509_VERSION_3);
    ok = ok && set_random_serial(x) == 0;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS);
    ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                          (const unsigned char *)"iotcored", -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                          (const unsigned char *)cn, -1, -1, 0);
    ok = ok && X509_set_subject_name(x, name);
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    ok = ok && X509_set_pubkey(x, key);
    if (!issuer) {
        ok = ok && add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == 0;
        ok = ok && add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
        ok = ok && add_ext(x, x, NID_subject_key_identifier, "hash") == 0;
    } else {
        ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0;
        /* ECDSA keys sign in the handshake; they never encipher a key. */
        ok = ok && add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") == 0;
        ok = ok && add_ext(x, issuer, NID_ext_key_usage, "serverAuth") == 0;
        ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0;
        ok = ok && add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0;
        if (san)
            ok = ok && add_ext(x, issuer, NID_subject_alt_name, san) == 0;
    }
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* The names the generated server certificate must carry: localhost over
 * both address families, and aws.endpoint when it is something else (AWS
 * SDKs connect to the endpoint DescribeEndpoint returns and check it). */
static int server_san(const struct cfg *cfg, char *out, size_t cap)
{
    const char *ep = cfg->aws.endpoint;
    int n;

    if (ep[0] == '\0' || strcmp(ep, "localhost") == 0 || strcmp(ep, "127.0.0.1") == 0 ||
        strcmp(ep, "::1") == 0) {
        n = snprintf(out, cap, "DNS:localhost,IP:127.0.0.1,IP:::1");
    } else {
        struct in_addr a4;
        struct in6_addr a6;
        bool ip = inet_pton(AF_INET, ep, &a4) == 1 || inet_pton(AF_INET6, ep, &a6) == 1;
        /* A comma would start another SAN entry: config validation keeps it
         * out, and this keeps it out for a struct filled by hand. */
        if (strpbrk(ep, ", \t\r\n"))
            return -EINVAL;
        n = snprintf(out, cap, "DNS:localhost,IP:127.0.0.1,IP:::1,%s:%s", ip ? "IP" : "DNS",
                     ep);
    }
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Why an existing generated server certificate must be replaced, or NULL. */
static const char *server_cert_stale(const struct cfg *cfg, X509 *cert, EVP_PKEY *key,
                                     X509 *ca)
{
    const char *why = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();

    if (!store || !ctx || !X509_STORE_add_cert(store, ca) ||
        !X509_STORE_CTX_init(ctx, store, cert, NULL)) {
        why = "cannot check it";
        goto out;
    }
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1) {
        why = "it does not verify against ca.pem";
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        why = "server.key does not match it";
        goto out;
    }
    time_t soon = time(NULL) + SERVER_RENEW_SECONDS;
    if (X509_cmp_time(X509_get0_notAfter(cert), &soon) <= 0) {
        why = "it expires within 30 days";
        goto out;
    }
    const char *ep = cfg->aws.endpoint;
    if (ep[0] && X509_check_host(cert, ep, 0, 0, NULL) != 1 && X509_check_ip_asc(cert, ep, 0) != 1)
        why = "it does not name aws.endpoint";
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return why;
}

/* Loads ca.pem + ca.key, or creates both. The key is written before the
 * certificate: ca.pem present means the pair is complete, so an interrupted
 * first start is simply redone. */
static int prepare_ca(struct ectx *e, const struct pki_files *f, X509 **ret_cert,
                      EVP_PKEY **ret_key, bool *ret_created)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int r;

    if (exists(f->ca_cert)) {
        r = load_cert(e, f->ca_cert, &cert);
        if (r < 0)
            return r;
        r = load_key(e, f->ca_key, &key);
        if (r < 0) {
            X509_free(cert);
            return r;
        }
        if (X509_check_private_key(cert, key) != 1) {
            X509_free(cert);
            EVP_PKEY_free(key);
            ERR_clear_error();
            return fail(e, -EINVAL, "pki: %s does not match %s", f->ca_key, f->ca_cert);
        }
        *ret_created = false;
    } else {
        key = EVP_EC_gen("P-256");
        if (!key)
            return fail_ssl(e, "cannot generate key for", f->ca_key);
        cert = make_cert("iotcored development CA", key, NULL, NULL, CA_DAYS, NULL);
        if (!cert) {
            EVP_PKEY_free(key);
            return fail_ssl(e, "cannot make", f->ca_cert);
        }
        r = save_pem(e, f->ca_key, NULL, key);
        if (r == 0)
            r = save_pem(e, f->ca_cert, cert, NULL);
        if (r < 0) {
            X509_free(cert);
            EVP_PKEY_free(key);
            return r;
        }
        log_info("pki: created %s", f->ca_key);
        log_info("pki: created %s (devices trust this CA)", f->ca_cert);
        *ret_created = true;
    }
    *ret_cert = cert;
    *ret_key = key;
    return 0;
}

static int prepare_server(struct ectx *e, const struct cfg *cfg, const struct pki_files *f,
                          X509 *ca, EVP_PKEY *ca_key, bool ca_created)
{
    const char *why = NULL;
    char san[CFG_STR];
    int r;

    if (!exists(f->server_cert))
        why = NULL;
    else if (ca_created)
        why = "new CA";
    else if (!exists(f->server_key))
        why = "server.key is missing";
    else {
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        r = load_cert(e, f->server_cert, &cert);
        if (r == 0)
            r = load_key(e, f->server_key, &key);
        if (r < 0) {
            X509_free(cert);
            return r;
        }
        why = server_cert_stale(cfg, cert, key, ca);
        X509_free(cert);
        EVP_PKEY_free(key);
        if (!why)
            return 0;
    }

    r = server_san(cfg, san, sizeof(san));
    if (r < 0)
        return fail(e, r, "pki: aws.endpoint cannot be put in a certificate");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return fail_ssl(e, "cannot generate key for", f->server_key);
    X509 *cert = make_cert("localhost", key, ca, ca_key, SERVER_DAYS, san);
    if (!cert) {
        EVP_PKEY_free(key);
        return fail_ssl(e, "cannot make", f->server_cert);
    }
    r = save_pem(e, f->server_key, NULL, key);
    if (r == 0)
        r = save_pem(e, f->server_cert, cert, NULL);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (r < 0)
        return r;
    if (why) {
        log_info("pki: renewed %s and %s (%s)", f->server_cert, f->server_key, why);
    } else {
        log_info("pki: created %s", f->server_key);
        log_info("pki: created %s", f->server_cert);
    }
    return 0;
}

/* ---- secrets ------------------------------------------------------------ */

static int random_hex(char *out, size_t n_bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];

    if (n_bytes > sizeof(raw) || RAND_bytes(raw, (int)n_bytes) != 1)
        return -EIO;
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n_bytes] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

/* n characters drawn uniformly from alphabet: bytes that would bias the
 * modulo are rejected. */
static int random_chars(char *out, size_t n, const char *alphabet)
{
    size_t a = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)a;
    unsigned char raw[32];
    size_t have = 0, pos = sizeof(raw);

    while (have < n) {
        if (pos == sizeof(raw)) {
            if (RAND_bytes(raw, sizeof(raw)) != 1)
                return -EIO;
            pos = 0;
        }
        unsigned char b = raw[pos++];
        if (b < limit)
            out[have++] = alphabet[b % a];
    }
    out[n] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* A token is one word of "Authorization: Bearer TOKEN". */
static bool token_ok(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return false;
    return true;
}

static int prepare_admin_token(struct ectx *e, const char *path, char *out, size_t cap)
{
    char *buf;
    size_t len;
    int r = read_small(path, true, &buf, &len);

    if (r == 0) {
        char *t = trim(buf);
        size_t n = strlen(t);
        if (!token_ok(t) || n >= cap) {
            free_secret(buf, len);
            return fail(e, -EINVAL, "pki: %s must hold one token of printable characters "
                        "(at most %zu)", path, cap - 1);
        }
        memcpy(out, t, n + 1);
        free_secret(buf, len);
        return 0;
    }
    if (r != -ENOENT)
        return fail(e, r, "pki: cannot read %s: %s", path, strerror(-r));

    /* 256 bits: as strong as the ECDSA keys next to it. */
    char tok[65 + 1];
    if (cap < 65 || random_hex(tok, 32) < 0)
        return fail(e, -EIO, "pki: cannot generate %s", path);
    tok[64] = '\n';
    r = pki_write_atomic(path, tok, 65, 0600);
    tok[64] = '\0';
    if (r < 0) {
        explicit_bzero(tok, sizeof(tok));
        return fail(e, r, "pki: cannot write %s: %s", path, strerror(-r));
    }
    memcpy(out, tok, 65);
    explicit_bzero(tok, sizeof(tok));
    log_info("pki: created %s", path);
    return 0;
}

/* Reads the [default] profile of an AWS shared-credentials file, the format
 * the AWS CLI and SDKs read with AWS_SHARED_CREDENTIALS_FILE. */
static int parse_aws_credentials(char *text, char *id, size_t id_cap, char *secret,
                                 size_t secret_cap)
{
    bool in_default = false, have_id = false, have_secret = false;
    char *line = text;

    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *l = trim(line);
        if (*l == '[') {
            in_default = strcmp(l, "[default]") == 0;
        } else if (in_default && *l && *l != '#' && *l != ';') {
            char *eq = strchr(l, '=');
            if (eq) {
                *eq = '\0';
                char *k = trim(l), *v = trim(eq + 1);
                size_t n = strlen(v);
                if (strcmp(k, "aws_access_key_id") == 0) {
                    if (n == 0 || n >= id_cap || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz0123456789") != n)
                        return -EINVAL;
                    memcpy(id, v, n + 1);
                    have_id = true;
                } else if (strcmp(k, "aws_secret_access_key") == 0) {
                    if (n >= secret_cap || !token_ok(v))
                        return -EINVAL;
                    memcpy(secret, v, n + 1);
                    have_secret = true;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return have_id && have_secret ? 0 : -ENOENT;
}

static int prepare_aws_credentials(struct ectx *e, const char *path, struct pki_files *f)
{
    char *buf;
    size_t len;
    int r = read_small(path, true, &buf, &len);

    if (r == 0) {
        r = parse_aws_credentials(buf, f->aws_key_id, sizeof(f->aws_key_id), f->aws_secret,
                                  sizeof(f->aws_secret));
        free_secret(buf, len);
        if (r < 0)
            return fail(e, -EINVAL, "pki: %s has no valid aws_access_key_id and "
                        "aws_secret_access_key under [default]", path);
        return 0;
    }
    if (r != -ENOENT)
        return fail(e, r, "pki: cannot read %s: %s", path, strerror(-r));

    /* The shapes of real keys: "AKIA" + 16 upper-case alphanumerics (long-term
     * IAM user key) and a 40-character base64 secret, so tools that pattern
     * check credentials accept them. */
    char id[21], secret[41], text[160];
    memcpy(id, "AKIA", 4);
    if (random_chars(id + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") < 0 ||
        random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789+/") < 0)
        return fail(e, -EIO, "pki: cannot generate %s", path);
    int n = snprintf(text, sizeof(text),
                     "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", id,
                     secret);
    r = n < 0 || (size_t)n >= sizeof(text) ? -EOVERFLOW
                                           : pki_write_atomic(path, text, (size_t)n, 0600);
    explicit_bzero(text, sizeof(text));
    if (r < 0) {
        explicit_bzero(secret, sizeof(secret));
        return fail(e, r, "pki: cannot write %s: %s", path, strerror(-r));
    }
    memcpy(f->aws_key_id, id, sizeof(id));
    memcpy(f->aws_secret, secret, sizeof(secret));
    explicit_bzero(secret, sizeof(secret));
    log_info("pki: created %s", path);
    return 0;
}

/* ---- entry point -------------------------------------------------------- */

int pki_prepare(const struct cfg *cfg, struct pki_files *ret, char *err, size_t err_len)
{
    struct ectx e = { err, err_len };
    struct pki_files *f;
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    bool ca_created = false;
    int r;

    if (err_len)
        err[0] = '\0';
    /* Filled aside so ret stays untouched on failure; heap because it holds
     * secrets that must be wiped and is a few kilobytes. */
    f = calloc(1, sizeof(*f));
    if (!f)
        return fail(&e, -ENOMEM, "pki: out of memory");

    const char *dir = cfg->data_dir;
    size_t dl = strlen(dir);
    if (dl >= sizeof(f->data_dir)) {
        r = fail(&e, -ENAMETOOLONG, "pki: data_dir is too long");
        goto out;
    }
    memcpy(f->data_dir, dir, dl + 1);
    if (join(f->db_path, sizeof(f->db_path), dir, "registry.db") < 0 ||
        join(f->ca_cert, sizeof(f->ca_cert), dir, "ca.pem") < 0 ||
        join(f->ca_key, sizeof(f->ca_key), dir, "ca.key") < 0) {
        r = fail(&e, -ENAMETOOLONG, "pki: data_dir is too long");
        goto out;
    }
    if (cfg->tls.cert[0]) {
        if (strlen(cfg->tls.cert) >= sizeof(f->server_cert) ||
            strlen(cfg->tls.key) >= sizeof(f->server_key)) {
            r = fail(&e, -ENAMETOOLONG, "pki: tls.cert or tls.key is too long");
            goto out;
        }
        memcpy(f->server_cert, cfg->tls.cert, strlen(cfg->tls.cert) + 1);
        memcpy(f->server_key, cfg->tls.key, strlen(cfg->tls.key) + 1);
    } else if (join(f->server_cert, sizeof(f->server_cert), dir, "server.pem") < 0 ||
               join(f->server_key, sizeof(f->server_key), dir, "server.key") < 0) {
        r = fail(&e, -ENAMETOOLONG, "pki: data_dir is too long");
        goto out;
    }

    r = make_data_dir(&e, dir);
    if (r < 0)
        goto out;
    /* The CA exists even with a configured server certificate: it also signs
     * the device certificates CreateKeysAndCertificate issues. */
    r = prepare_ca(&e, f, &ca, &ca_key, &ca_created);
    if (r < 0)
        goto out;
    if (!cfg->tls.cert[0]) {
        r = prepare_server(&e, cfg, f, ca, ca_key, ca_created);
        if (r < 0)
            goto out;
    }
    if (cfg->admin.n_tokens == 0) {
        char path[CFG_STR + 32];
        if (join(path, sizeof(path), dir, "admin.token") < 0) {
            r = fail(&e, -ENAMETOOLONG, "pki: data_dir is too long");
            goto out;
        }
        r = prepare_admin_token(&e, path, f->admin_token, sizeof(f->admin_token));
        if (r < 0)
            goto out;
    }
    if (cfg->admin.n_aws_keys == 0) {
        char path[CFG_STR + 32];
        if (join(path, sizeof(path), dir, "aws-credentials") < 0) {
            r = fail(&e, -ENAMETOOLONG, "pki: data_dir is too long");
            goto out;
        }
        r = prepare_aws_credentials(&e, path, f);
        if (r < 0)
            goto out;
    }
    memcpy(ret, f, sizeof(*ret));
    r = 0;
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    explicit_bzero(f, sizeof(*f));
    free(f);
    return r;
}
