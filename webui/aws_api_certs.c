/* AWS IoT device certificates: issued by the daemon's CA
 * (CreateKeysAndCertificate, CreateCertificateFromCsr), registered
 * (RegisterCertificate: signed by a registered CA, whose mode it inherits;
 * RegisterCertificateWithoutCA: SNI_ONLY), described, listed (all, or by
 * CA), moved between states (UpdateCertificate) and deleted
 * (DeleteCertificate) with AWS's rules [aws-iot-core.md 1.4-1.7]. A status
 * change or a deletion is reported as WEBUI_AWS_CERT_CHANGED so live
 * sessions of that certificate are rechecked. */
#include "webui/aws_api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/aws_cert.h"

#define CERTS_PAGE_DEFAULT 25
#define CSR_MAX 4096            /* the model's CertificateSigningRequest maximum */

static const char *const statuses[] = {
    "ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE",
    "PENDING_ACTIVATION",
};

/* Checks a CertificateStatus value; 400 in resp otherwise. */
static int check_status(struct api_response *resp, const char *field, const char *s)
{
    char shown[64];

    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (strcmp(s, statuses[i]) == 0)
            return 0;
    api_aws_invalid(resp, "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                    "constraint: Member must satisfy enum value set: [ACTIVE, INACTIVE, "
                    "REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, PENDING_ACTIVATION]",
                    log_escape(shown, sizeof(shown), s, strlen(s)), field);
    return -EINVAL;
}

static int cert_not_found(struct api_response *resp, const char *id)
{
    return api_aws_not_found_msg(resp, "The certificate %s does not exist.", id);
}

/* Stores a parsed certificate. Returns 0 with c->rowid set, or < 0 with
 * resp filled (409 when it is registered already). */
static int store_cert(const struct api_env *env, struct api_response *resp, const char *pem,
                      const struct aws_cert_info *info, const char *status, const char *mode,
                      const char *ca_id, struct db_aws_cert *c)
{
    char arn[DB_AWS_ARN_MAX];
    int rc;

    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", info->id);
    snprintf(c->status, sizeof(c->status), "%s", status);
    snprintf(c->mode, sizeof(c->mode), "%s", mode);
    snprintf(c->ca_id, sizeof(c->ca_id), "%s", ca_id ? ca_id : "");
    snprintf(c->auto_registration, sizeof(c->auto_registration), "DISABLE");
    c->not_before_us = info->not_before_us;
    c->not_after_us = info->not_after_us;
    c->created_us = env->now_us;
    c->modified_us = env->now_us;
    c->generation = 1;
    c->pem = strdup(pem);
    if (!c->pem) {
        api_aws_oom(resp);
        return -ENOMEM;
    }
    rc = db_aws_cert_insert(env->db, c);
    if (rc == -EEXIST) {
        api_aws_arn(env, "cert", info->id, arn, sizeof(arn));
        api_aws_already_exists(resp, "The certificate is already provisioned or registered",
                               info->id, arn);
    } else if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "certificate insert");
    }
    if (rc < 0)
        db_aws_cert_clear(c);
    return rc;
}

/* {certificateArn, certificateId[, certificatePem]}; *ret owned. */
static json_t *created_json(const struct api_env *env, const char *id, const char *pem)
{
    char arn[DB_AWS_ARN_MAX];
    json_t *j;

    if (api_aws_arn(env, "cert", id, arn, sizeof(arn)) < 0)
        return NULL;
    j = json_pack("{s:s,s:s}", "certificateArn", arn, "certificateId", id);
    if (j && pem && json_object_set_new(j, "certificatePem", json_string(pem)) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int no_issuer(struct api_response *resp)
{
    api_aws_fail(resp, 503, API_AWS_UNAVAILABLE,
                 "The daemon's CA is not available to issue certificates.");
    return 0;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Issued certificates parse by construction; a failure is ours. */
static int parse_issued(struct api_response *resp, const char *pem, struct aws_cert_info *info)
{
    char why[256];
    int rc = aws_cert_parse_pem(pem, strlen(pem), info, why, sizeof(why));

    if (rc < 0) {
        log_err("admin: aws: an issued certificate does not parse: %s", why);
        api_aws_fail(resp, 500, API_AWS_INTERNAL, "Internal failure.");
    }
    return rc;
}

int api_aws_keys_and_cert_create(const struct api_env *env, const struct api_aws_route *rt,
                                 const struct api_request *req, struct api_response *resp)
{
    char *cert = NULL, *pub = NULL, *priv = NULL;
    struct aws_cert_info info;
    struct db_aws_cert c;
    bool active = false;
    json_t *j;
    int rc;

    if (api_aws_flag(req, "setAsActive", &active, resp) < 0)
        return 0;
    if (!env->aws_issuer)
        return no_issuer(resp);
    rc = aws_issue_keys_and_certificate(env->aws_issuer, &cert, &pub, &priv);
    if (rc < 0) {
        if (rc == -ENOMEM)
            return api_aws_oom(resp);
        log_err("admin: aws: issuing a certificate failed: %s", strerror(-rc));
        api_aws_fail(resp, 500, API_AWS_INTERNAL, "Internal failure.");
        return 0;
    }
    if (parse_issued(resp, cert, &info) < 0 ||
        store_cert(env, resp, cert, &info, active ? "ACTIVE" : "INACTIVE", "DEFAULT", NULL,
                   &c) < 0)
        goto out;
    db_aws_cert_clear(&c);
    /* AWS returns the private key once and never keeps it; neither do we. */
    j = created_json(env, info.id, cert);
    if (j && json_object_set_new(j, "keyPair", json_pack("{s:s,s:s}", "PublicKey", pub,
                                                         "PrivateKey", priv)) < 0) {
        json_decref(j);
        j = NULL;
    }
    api_aws_reply_take(resp, j);
    resp->wipe = true;      /* the body carries the private key */
out:
    free(cert);
    free(pub);
    free_secret(priv);
    return 0;
}

int api_aws_cert_from_csr(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *csr = NULL;
    struct aws_cert_info info;
    struct db_aws_cert c;
    json_t *body = NULL;
    char *cert = NULL, why[256];
    bool active = false;
    int rc;

    if (api_aws_flag(req, "setAsActive", &active, resp) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    if (api_aws_str(body, "certificateSigningRequest", CSR_MAX, true, &csr, resp) < 0)
        goto out;
    if (!env->aws_issuer) {
        no_issuer(resp);
        goto out;
    }
    why[0] = '\0';
    rc = aws_issue_from_csr(env->aws_issuer, csr, strlen(csr), &cert, why, sizeof(why));
    if (rc == -EINVAL) {
        api_aws_invalid(resp, "%s", why[0] ? why : "The certificate signing request is not "
                        "valid.");
        goto out;
    }
    if (rc < 0) {
        if (rc == -ENOMEM) {
            api_aws_oom(resp);
        } else {
            log_err("admin: aws: signing a CSR failed: %s", strerror(-rc));
            api_aws_fail(resp, 500, API_AWS_INTERNAL, "Internal failure.");
        }
        goto out;
    }
    if (parse_issued(resp, cert, &info) < 0 ||
        store_cert(env, resp, cert, &info, active ? "ACTIVE" : "INACTIVE", "DEFAULT", NULL,
                   &c) < 0)
        goto out;
    db_aws_cert_clear(&c);
    api_aws_reply_take(resp, created_json(env, info.id, cert));
out:
    free(cert);
    json_decref(body);
    return 0;
}

/* The first registered CA certificate that signed pem. */
struct ca_search {
    const char *pem;
    char id[DB_AWS_CERT_ID_MAX];
    char mode[16];
    bool found;
    int err;
};

static int ca_search_cb(const struct db_aws_cert *ca, void *ud)
{
    struct ca_search *s = ud;
    int r = aws_cert_signed_by(s->pem, ca->pem);

    if (r == 1) {
        snprintf(s->id, sizeof(s->id), "%s", ca->id);
        snprintf(s->mode, sizeof(s->mode), "%s", ca->mode[0] ? ca->mode : "DEFAULT");
        s->found = true;
        return 1;
    }
    /* -EINVAL: a stored CA that no longer parses signs nothing. */
    if (r == -ENOMEM) {
        s->err = r;
        return 1;
    }
    return 0;
}

/* The body of RegisterCertificate / RegisterCertificateWithoutCA: the
 * certificate, and the status it is given (setAsActive wins). */
static int register_args(const struct api_request *req, struct api_response *resp,
                         const json_t *body, bool with_flag, const char **ret_pem,
                         struct aws_cert_info *info, const char **ret_status)
{
    const char *pem = NULL, *status = NULL;
    bool active = false;
    char why[256];

    if ((with_flag && api_aws_flag(req, "setAsActive", &active, resp) < 0) ||
        api_aws_str(body, "certificatePem", AWS_CERT_MAX_PEM, true, &pem, resp) < 0 ||
        api_aws_str(body, "status", 32, false, &status, resp) < 0)
        return -EINVAL;
    if (status && check_status(resp, "status", status) < 0)
        return -EINVAL;
    /* Those two states are the service's own (transfers, auto-registration). */
    if (status && (strcmp(status, "PENDING_ACTIVATION") == 0 ||
                   strcmp(status, "PENDING_TRANSFER") == 0)) {
        api_aws_fail(resp, 406, API_AWS_CERT_STATE,
                     "Not allowed to register certificate with %s status", status);
        return -EINVAL;
    }
    why[0] = '\0';
    if (aws_cert_parse_pem(pem, strlen(pem), info, why, sizeof(why)) < 0) {
        api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION, "%s",
                     why[0] ? why : "The certificate is not a valid X.509 certificate");
        return -EINVAL;
    }
    *ret_pem = pem;
    *ret_status = active ? "ACTIVE" : status ? status : "INACTIVE";
    return 0;
}

int api_aws_cert_register(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *pem = NULL, *status = NULL, *ca_pem = NULL;
    struct ca_search s;
    struct aws_cert_info info, ca_info;
    struct db_aws_cert c, ca;
    json_t *body = NULL;
    char why[256];
    int rc;

    memset(&s, 0, sizeof(s));
    memset(&ca, 0, sizeof(ca));
    if (api_aws_body(req, resp, &body) < 0)
        return 0;
    if (register_args(req, resp, body, true, &pem, &info, &status) < 0 ||
        api_aws_str(body, "caCertificatePem", AWS_CERT_MAX_PEM, false, &ca_pem, resp) < 0)
        goto out;
    s.pem = pem;
    if (ca_pem) {
        /* The caller names the CA (needed when several registered CAs
         * share a subject): it must be registered and have signed pem. */
        why[0] = '\0';
        if (aws_cert_parse_pem(ca_pem, strlen(ca_pem), &ca_info, why, sizeof(why)) < 0) {
            api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION, "caCertificatePem: %s",
                         why[0] ? why : "not a valid X.509 certificate");
            goto out;
        }
        rc = db_aws_cacert_get(env->db, ca_info.id, &ca);
        if (rc == -ENOENT) {
            api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION,
                         "CA certificate is not registered (id %s)", ca_info.id);
            goto out;
        }
        if (rc < 0) {
            api_aws_db_failure(env, resp, rc, "CA certificate lookup");
            goto out;
        }
        rc = aws_cert_signed_by(pem, ca.pem);
        if (rc == 1)
            ca_search_cb(&ca, &s);
        else if (rc == -ENOMEM)
            s.err = rc;
    } else {
        rc = db_aws_cacert_list(env->db, true, 0, INT_MAX, ca_search_cb, &s);
        if (rc < 0)
            s.err = rc;
    }
    if (s.err < 0) {
        api_aws_db_failure(env, resp, s.err, "CA certificate search");
        goto out;
    }
    if (!s.found) {
        api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION,
                     ca_pem ? "The certificate is not signed by the given CA certificate"
                             : "The certificate is not signed by a registered CA "
                               "certificate (register the CA with RegisterCACertificate, or "
                               "the certificate with RegisterCertificateWithoutCA)");
        goto out;
    }
    /* Device certificates are registered in their CA's mode. */
    if (store_cert(env, resp, pem, &info, status, s.mode, s.id, &c) < 0)
        goto out;
    db_aws_cert_clear(&c);
    api_aws_reply_take(resp, created_json(env, info.id, NULL));
out:
    db_aws_cert_clear(&ca);
    json_decref(body);
    return 0;
}

int api_aws_cert_register_no_ca(const struct api_env *env, const struct api_aws_route *rt,
                                const struct api_request *req, struct api_response *resp)
{
    const char *pem = NULL, *status = NULL;
    struct aws_cert_info info;
    struct db_aws_cert c;
    json_t *body = NULL;

    if (api_aws_body(req, resp, &body) < 0)
        return 0;
    if (register_args(req, resp, body, false, &pem, &info, &status) == 0 &&
        store_cert(env, resp, pem, &info, status, "SNI_ONLY", NULL, &c) == 0) {
        db_aws_cert_clear(&c);
        api_aws_reply_take(resp, created_json(env, info.id, NULL));
    }
    json_decref(body);
    return 0;
}

static json_t *validity_json(const struct db_aws_cert *c)
{
    json_t *v = json_object();

    if (v && (json_object_set_new(v, "notBefore", api_aws_time(c->not_before_us)) < 0 ||
              json_object_set_new(v, "notAfter", api_aws_time(c->not_after_us)) < 0)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static json_t *description_json(const struct api_env *env, const struct db_aws_cert *c)
{
    char arn[DB_AWS_ARN_MAX], gen[24];
    json_t *d = json_object();

    snprintf(gen, sizeof(gen), "%lld", (long long)c->generation);
    if (!d || api_aws_arn(env, "cert", c->id, arn, sizeof(arn)) < 0 ||
        json_object_set_new(d, "certificateArn", json_string(arn)) < 0 ||
        json_object_set_new(d, "certificateId", json_string(c->id)) < 0 ||
        (c->ca_id[0] && json_object_set_new(d, "caCertificateId", json_string(c->ca_id)) < 0) ||
        json_object_set_new(d, "status", json_string(c->status)) < 0 ||
        json_object_set_new(d, "certificatePem", json_string(c->pem ? c->pem : "")) < 0 ||
        json_object_set_new(d, "ownedBy", json_string(api_aws_account(env))) < 0 ||
        json_object_set_new(d, "creationDate", api_aws_time(c->created_us)) < 0 ||
        json_object_set_new(d, "lastModifiedDate", api_aws_time(c->modified_us)) < 0 ||
        json_object_set_new(d, "customerVersion", json_integer(c->generation)) < 0 ||
        json_object_set_new(d, "generationId", json_string(gen)) < 0 ||
        json_object_set_new(d, "validity", validity_json(c)) < 0 ||
        json_object_set_new(d, "certificateMode",
                            json_string(c->mode[0] ? c->mode : "DEFAULT")) < 0) {
        json_decref(d);
        return NULL;
    }
    return json_pack("{s:o}", "certificateDescription", d);
}

/* Reads the certificate named by the route; 400/404/500 in resp. */
static int load_cert(const struct api_env *env, struct api_response *resp, const char *raw,
                     struct db_aws_cert *c)
{
    char id[DB_AWS_CERT_ID_MAX];
    int rc;

    if (api_aws_cert_id(resp, raw, id) < 0)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    rc = db_aws_cert_get(env->db, id, c);
    if (rc == -ENOENT)
        cert_not_found(resp, id);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "certificate lookup");
    return rc;
}

int api_aws_cert_describe(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct db_aws_cert c;

    if (load_cert(env, resp, rt->label[0], &c) < 0)
        return 0;
    api_aws_reply_take(resp, description_json(env, &c));
    db_aws_cert_clear(&c);
    return 0;
}

static int certs_cb(const struct db_aws_cert *c, void *ud)
{
    struct api_aws_list *a = ud;
    char arn[DB_AWS_ARN_MAX];
    json_t *j;

    if (api_aws_list_full(a))
        return 1;
    if (api_aws_arn(a->env, "cert", c->id, arn, sizeof(arn)) < 0)
        return 0;
    j = json_pack("{s:s,s:s,s:s,s:s,s:o}", "certificateArn", arn, "certificateId", c->id,
                  "status", c->status, "certificateMode", c->mode[0] ? c->mode : "DEFAULT",
                  "creationDate", api_aws_time(c->created_us));
    return api_aws_list_add(a, c->rowid, j);
}

/* ListCertificates and ListCertificatesByCA (ca_id NULL: all). Newest
 * first unless isAscendingOrder=true, as AWS pages them. */
static int list_certs(const struct api_env *env, const struct api_request *req,
                      struct api_response *resp, const char *ca_id)
{
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    bool ascending = false;
    int rc;

    if (api_aws_page_args(req, "pageSize", "marker", CERTS_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "isAscendingOrder", &ascending, resp) < 0)
        return 0;
    a.limit = pg.limit;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    rc = db_aws_cert_list(env->db, ca_id, ascending, pg.after, pg.limit + 1, certs_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "certificate list", "certificates",
                               "nextMarker");
}

int api_aws_certs_list(const struct api_env *env, const struct api_aws_route *rt,
                       const struct api_request *req, struct api_response *resp)
{
    return list_certs(env, req, resp, NULL);
}

int api_aws_certs_by_ca(const struct api_env *env, const struct api_aws_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    char id[DB_AWS_CERT_ID_MAX];

    if (api_aws_cert_id(resp, rt->label[0], id) < 0)
        return 0;
    return list_certs(env, req, resp, id);
}

/* UpdateCertificate. PENDING_TRANSFER and PENDING_ACTIVATION are the
 * service's own states (the model: setting them throws). REVOKED is final
 * here: AWS means revocation to be permanent, and a revoked certificate
 * that could come back would make revocation meaningless for whoever
 * relies on it; it can still be deleted. */
int api_aws_cert_update(const struct api_env *env, const struct api_aws_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    const char *status = api_request_param(req, "newStatus");
    struct db_aws_cert c;
    int rc;

    if (load_cert(env, resp, rt->label[0], &c) < 0)
        return 0;
    if (!status || !*status) {
        api_aws_invalid(resp, "1 validation error detected: Value null at 'newStatus' failed "
                        "to satisfy constraint: Member must not be null");
        goto out;
    }
    if (check_status(resp, "newStatus", status) < 0)
        goto out;
    if (strcmp(status, "PENDING_TRANSFER") == 0 || strcmp(status, "PENDING_ACTIVATION") == 0) {
        api_aws_invalid(resp, "The certificate status cannot be set to %s.", status);
        goto out;
    }
    if (strcmp(c.status, "REVOKED") == 0 && strcmp(status, "REVOKED") != 0) {
        api_aws_fail(resp, 406, API_AWS_CERT_STATE,
                     "The certificate is revoked and its status cannot be changed. Id: %s",
                     c.id);
        goto out;
    }
    if (strcmp(c.status, "PENDING_TRANSFER") == 0) {
        api_aws_fail(resp, 406, API_AWS_CERT_STATE,
                     "The certificate is pending transfer. Id: %s", c.id);
        goto out;
    }
    if (strcmp(c.status, status) != 0) {
        rc = db_aws_cert_set_status(env->db, c.id, status, env->now_us);
        if (rc == -ENOENT) {
            cert_not_found(resp, c.id);
            goto out;
        }
        if (rc < 0) {
            api_aws_db_failure(env, resp, rc, "certificate update");
            goto out;
        }
        api_aws_notify(env, WEBUI_AWS_CERT_CHANGED, c.rowid);
    }
    api_aws_reply_empty(resp);
out:
    db_aws_cert_clear(&c);
    return 0;
}

static int first_thing_cb(int64_t attach_rowid, const struct db_aws_thing *t, void *ud)
{
    snprintf(ud, DB_AWS_NAME_MAX, "%s", t->name);
    return 1;
}

/* The deletion itself: the certificate's policy attachments go with it
 * (forceDelete), in the same transaction. */
struct cert_delete {
    const char *id;
    const char *arn;
};

static int cert_delete_tx(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct cert_delete *d = ctx;
    int rc = db_aws_target_forget(env->db, d->arn);

    if (rc >= 0)
        rc = db_aws_cert_delete(env->db, d->id);
    if (rc < 0 && rc != -ENOENT)
        api_aws_db_failure(env, resp, rc, "certificate delete");
    return rc == -ENOENT ? 0 : rc;
}

int api_aws_cert_delete(const struct api_env *env, const struct api_aws_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    char arn[DB_AWS_ARN_MAX], thing[DB_AWS_NAME_MAX];
    struct cert_delete d;
    struct db_aws_cert c;
    bool force = false;
    int64_t n_policies = 0;
    int rc;

    if (api_aws_flag(req, "forceDelete", &force, resp) < 0 ||
        load_cert(env, resp, rt->label[0], &c) < 0)
        return 0;
    if (api_aws_arn(env, "cert", c.id, arn, sizeof(arn)) < 0) {
        api_aws_oom(resp);
        goto out;
    }
    if (strcmp(c.status, "ACTIVE") == 0) {
        api_aws_fail(resp, 406, API_AWS_CERT_STATE,
                     "Certificate must be deactivated (not ACTIVE) before deletion. Id: %s",
                     c.id);
        goto out;
    }
    thing[0] = '\0';
    rc = db_aws_principal_things(env->db, arn, 0, 1, first_thing_cb, thing);
    if (rc >= 0)
        rc = db_aws_target_policy_count(env->db, arn, &n_policies);
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "certificate attachments");
        goto out;
    }
    /* forceDelete skips only the policy check [aws-iot-core.md 1.5]. */
    if (thing[0]) {
        api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                     "Things must be detached before deletion (arn: %s)", arn);
        goto out;
    }
    if (n_policies > 0 && !force) {
        api_aws_fail(resp, 409, API_AWS_DELETE_CONFLICT,
                     "Certificate policies must be detached before deletion (arn: %s)", arn);
        goto out;
    }
    d.id = c.id;
    d.arn = arn;
    if (api_aws_in_transaction(env, resp, cert_delete_tx, &d) < 0)
        goto out;
    api_aws_notify(env, WEBUI_AWS_CERT_CHANGED, c.rowid);
    if (n_policies > 0)
        api_aws_notify(env, WEBUI_AWS_POLICIES_CHANGED, 0);
    api_aws_reply_empty(resp);
out:
    db_aws_cert_clear(&c);
    return 0;
}
