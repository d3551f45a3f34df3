/* AWS IoT CA certificates and the account's registration code:
 * GetRegistrationCode (stable until DeleteRegistrationCode; kept in the
 * store's settings), RegisterCACertificate (a CA certificate, with the
 * proof of possession in DEFAULT mode: a verification certificate whose
 * CommonName is the registration code, signed by the CA's key; none in
 * SNI_ONLY mode), Describe/List/Update/DeleteCACertificate
 * [aws-iot-core.md 1.6]. */
#include "webui/aws_api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/aws_cert.h"

#define REGCODE_KEY "registration_code"
#define CACERTS_PAGE_DEFAULT 25
/* AWS: up to 10 CA certificates with the same subject per account. */
#define SAME_SUBJECT_MAX 10
#define TEMPLATE_BODY_MAX 10240
#define ROLE_ARN_MAX 2048
#define TEMPLATE_NAME_MAX 36

static int cacert_not_found(struct api_response *resp, const char *id)
{
    return api_aws_not_found_msg(resp, "The CA certificate %s does not exist.", id);
}

/* ---- registration code ---- */

/* The stored code, created on first use. Returns 0, or < 0 with resp
 * filled. */
static int regcode(const struct api_env *env, struct api_response *resp, bool create,
                   char code[AWS_CERT_ID_LEN + 1])
{
    int rc = db_aws_setting_get(env->db, REGCODE_KEY, code, AWS_CERT_ID_LEN + 1);

    if (rc == -ENOENT && create) {
        rc = aws_registration_code(code);
        if (rc >= 0)
            rc = db_aws_setting_set(env->db, REGCODE_KEY, code);
    }
    if (rc < 0 && !(rc == -ENOENT && !create))
        api_aws_db_failure(env, resp, rc, "registration code");
    return rc;
}

int api_aws_regcode_get(const struct api_env *env, const struct api_aws_route *rt,
                        const struct api_request *req, struct api_response *resp)
{
    char code[AWS_CERT_ID_LEN + 1];

    if (regcode(env, resp, true, code) < 0)
        return 0;
    return api_aws_reply_take(resp, json_pack("{s:s}", "registrationCode", code));
}

int api_aws_regcode_delete(const struct api_env *env, const struct api_aws_route *rt,
                           const struct api_request *req, struct api_response *resp)
{
    int rc = db_aws_setting_delete(env->db, REGCODE_KEY);

    if (rc < 0 && rc != -ENOENT)
        return api_aws_db_failure(env, resp, rc, "registration code delete");
    return api_aws_reply_empty(resp);
}

/* ---- registration ---- */

/* body.registrationConfig, validated; *ret owned normalized JSON text, or
 * NULL when absent. */
static int parse_reg_config(const json_t *body, char **ret, struct api_response *resp)
{
    const json_t *rc_obj = json_object_get(body, "registrationConfig");
    const char *tb = NULL, *role = NULL, *tn = NULL;
    json_t *out;

    *ret = NULL;
    if (!rc_obj || json_is_null(rc_obj))
        return 0;
    if (!json_is_object(rc_obj)) {
        api_aws_invalid(resp, "registrationConfig: expected an object.");
        return -EINVAL;
    }
    if (api_aws_str(rc_obj, "templateBody", TEMPLATE_BODY_MAX, false, &tb, resp) < 0 ||
        api_aws_str(rc_obj, "roleArn", ROLE_ARN_MAX, false, &role, resp) < 0 ||
        api_aws_str(rc_obj, "templateName", TEMPLATE_NAME_MAX, false, &tn, resp) < 0)
        return -EINVAL;
    out = json_object();
    if (!out || (tb && json_object_set_new(out, "templateBody", json_string(tb)) < 0) ||
        (role && json_object_set_new(out, "roleArn", json_string(role)) < 0) ||
        (tn && json_object_set_new(out, "templateName", json_string(tn)) < 0) ||
        !(*ret = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        json_decref(out);
        api_aws_oom(resp);
        return -ENOMEM;
    }
    json_decref(out);
    return 0;
}

/* How many registered CAs have the subject of the new one. */
struct subject_count {
    const char *subject;
    int n;
};

static int subject_cb(const struct db_aws_cert *c, void *ud)
{
    struct subject_count *s = ud;
    struct aws_cert_info info;
    char why[8];

    if (c->pem && aws_cert_parse_pem(c->pem, strlen(c->pem), &info, why, sizeof(why)) == 0 &&
        strcmp(info.subject, s->subject) == 0)
        s->n++;
    return 0;
}

/* DEFAULT mode: the verification certificate proves that the registrant
 * holds the CA's key. A certificate the CA did not sign is a
 * CertificateValidationException; one with the wrong CommonName is a
 * RegistrationCodeValidationException. */
static int check_possession(const struct api_env *env, struct api_response *resp,
                            const char *ca_pem, const char *ver_pem)
{
    char code[AWS_CERT_ID_LEN + 1], why[256];
    int rc;

    if (!ver_pem) {
        api_aws_invalid(resp, "verificationCertificate is required when certificateMode is "
                        "DEFAULT.");
        return -EINVAL;
    }
    rc = aws_cert_signed_by(ver_pem, ca_pem);
    if (rc == -ENOMEM) {
        api_aws_oom(resp);
        return rc;
    }
    if (rc != 1) {
        api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION, rc == -EINVAL
                     ? "The verification certificate is not a valid X.509 certificate"
                     : "The verification certificate is not signed by the CA certificate");
        return -EINVAL;
    }
    rc = regcode(env, resp, false, code);
    if (rc == -ENOENT) {
        api_aws_fail(resp, 400, API_AWS_REGCODE_VALIDATION,
                     "There is no registration code: call GetRegistrationCode first");
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    why[0] = '\0';
    rc = aws_cert_check_verification(ca_pem, ver_pem, code, why, sizeof(why));
    if (rc == -EACCES || rc == -EINVAL) {
        api_aws_fail(resp, 400, API_AWS_REGCODE_VALIDATION, "%s",
                     why[0] ? why : "The verification certificate's CommonName is not the "
                     "registration code");
        return -EINVAL;
    }
    if (rc < 0) {
        api_aws_oom(resp);
        return rc;
    }
    return 0;
}

int api_aws_cacert_register(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp)
{
    const char *pem = NULL, *ver = NULL, *mode = NULL;
    bool active = false, auto_reg = false;
    struct subject_count sc;
    struct aws_cert_info info;
    struct db_aws_cert c;
    char arn[DB_AWS_ARN_MAX], why[256], *reg_config = NULL;
    json_t *body = NULL;
    int rc;

    memset(&c, 0, sizeof(c));
    if (api_aws_flag(req, "setAsActive", &active, resp) < 0 ||
        api_aws_flag(req, "allowAutoRegistration", &auto_reg, resp) < 0 ||
        api_aws_body(req, resp, &body) < 0)
        return 0;
    /* tags are accepted and not kept: iotcored does not emulate tagging. */
    if (api_aws_str(body, "caCertificate", AWS_CERT_MAX_PEM, true, &pem, resp) < 0 ||
        api_aws_str(body, "verificationCertificate", AWS_CERT_MAX_PEM, false, &ver, resp) < 0 ||
        api_aws_str(body, "certificateMode", 16, false, &mode, resp) < 0 ||
        parse_reg_config(body, &reg_config, resp) < 0)
        goto out;
    if (!mode)
        mode = "DEFAULT";
    if (strcmp(mode, "DEFAULT") != 0 && strcmp(mode, "SNI_ONLY") != 0) {
        api_aws_invalid(resp, "1 validation error detected: Value '%s' at 'certificateMode' "
                        "failed to satisfy constraint: Member must satisfy enum value set: "
                        "[DEFAULT, SNI_ONLY]", mode);
        goto out;
    }
    why[0] = '\0';
    if (aws_cert_parse_pem(pem, strlen(pem), &info, why, sizeof(why)) < 0) {
        api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION, "%s",
                     why[0] ? why : "The certificate is not a valid X.509 certificate");
        goto out;
    }
    if (!info.is_ca) {
        api_aws_fail(resp, 400, API_AWS_CERT_VALIDATION,
                     "The certificate is not a CA certificate (basicConstraints CA:TRUE)");
        goto out;
    }
    if (strcmp(mode, "DEFAULT") == 0 && check_possession(env, resp, pem, ver) < 0)
        goto out;
    if (api_aws_arn(env, "cacert", info.id, arn, sizeof(arn)) < 0) {
        api_aws_oom(resp);
        goto out;
    }
    rc = db_aws_cacert_get(env->db, info.id, &c);
    if (rc == 0) {
        api_aws_already_exists(resp, "The CA certificate is already registered", info.id, arn);
        goto out;
    }
    if (rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "CA certificate lookup");
        goto out;
    }
    sc.subject = info.subject;
    sc.n = 0;
    rc = db_aws_cacert_list(env->db, true, 0, INT_MAX, subject_cb, &sc);
    if (rc < 0) {
        api_aws_db_failure(env, resp, rc, "CA certificate list");
        goto out;
    }
    if (sc.n >= SAME_SUBJECT_MAX) {
        api_aws_fail(resp, 410, API_AWS_LIMIT, "At most %d CA certificates with the same "
                     "subject can be registered", SAME_SUBJECT_MAX);
        goto out;
    }
    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", info.id);
    snprintf(c.status, sizeof(c.status), "%s", active ? "ACTIVE" : "INACTIVE");
    snprintf(c.mode, sizeof(c.mode), "%s", mode);
    snprintf(c.auto_registration, sizeof(c.auto_registration), "%s",
             auto_reg ? "ENABLE" : "DISABLE");
    c.registration_config_json = reg_config;
    reg_config = NULL;
    c.not_before_us = info.not_before_us;
    c.not_after_us = info.not_after_us;
    c.created_us = env->now_us;
    c.modified_us = env->now_us;
    c.generation = 1;
    c.pem = strdup(pem);
    if (!c.pem) {
        api_aws_oom(resp);
        goto out;
    }
    rc = db_aws_cacert_insert(env->db, &c);
    if (rc == -EEXIST)
        api_aws_already_exists(resp, "The CA certificate is already registered", info.id, arn);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "CA certificate insert");
    else
        api_aws_reply_take(resp, json_pack("{s:s,s:s}", "certificateArn", arn,
                                           "certificateId", info.id));
out:
    free(reg_config);
    db_aws_cert_clear(&c);
    json_decref(body);
    return 0;
}

/* ---- describe, list, update, delete ---- */

static int load_cacert(const struct api_env *env, struct api_response *resp, const char *raw,
                       struct db_aws_cert *c)
{
    char id[DB_AWS_CERT_ID_MAX];
    int rc;

    if (api_aws_cert_id(resp, raw, id) < 0)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    rc = db_aws_cacert_get(env->db, id, c);
    if (rc == -ENOENT)
        cacert_not_found(resp, id);
    else if (rc < 0)
        api_aws_db_failure(env, resp, rc, "CA certificate lookup");
    return rc;
}

static json_t *cacert_json(const struct api_env *env, const struct db_aws_cert *c)
{
    char arn[DB_AWS_ARN_MAX], gen[24];
    json_t *d = json_object(), *v = json_object(), *out, *cfg = NULL;

    snprintf(gen, sizeof(gen), "%lld", (long long)c->generation);
    if (!d || !v || api_aws_arn(env, "cacert", c->id, arn, sizeof(arn)) < 0 ||
        json_object_set_new(v, "notBefore", api_aws_time(c->not_before_us)) < 0 ||
        json_object_set_new(v, "notAfter", api_aws_time(c->not_after_us)) < 0)
        goto fail;
    if (json_object_set_new(d, "certificateArn", json_string(arn)) < 0 ||
        json_object_set_new(d, "certificateId", json_string(c->id)) < 0 ||
        json_object_set_new(d, "status", json_string(c->status)) < 0 ||
        json_object_set_new(d, "certificatePem", json_string(c->pem ? c->pem : "")) < 0 ||
        json_object_set_new(d, "ownedBy", json_string(api_aws_account(env))) < 0 ||
        json_object_set_new(d, "creationDate", api_aws_time(c->created_us)) < 0 ||
        json_object_set_new(d, "autoRegistrationStatus",
                            json_string(c->auto_registration[0] ? c->auto_registration
                                                                : "DISABLE")) < 0 ||
        json_object_set_new(d, "lastModifiedDate", api_aws_time(c->modified_us)) < 0 ||
        json_object_set_new(d, "customerVersion", json_integer(c->generation)) < 0 ||
        json_object_set_new(d, "generationId", json_string(gen)) < 0)
        goto fail;
    if (json_object_set_new(d, "validity", v) < 0) {
        v = NULL;
        goto fail;
    }
    v = NULL;
    if (json_object_set_new(d, "certificateMode",
                            json_string(c->mode[0] ? c->mode : "DEFAULT")) < 0)
        goto fail;
    if (c->registration_config_json)
        cfg = json_loads(c->registration_config_json, 0, NULL);
    out = json_pack("{s:o}", "certificateDescription", d);
    d = NULL;
    if (out && cfg && json_object_set(out, "registrationConfig", cfg) < 0) {
        json_decref(out);
        out = NULL;
    }
    json_decref(cfg);
    return out;
fail:
    json_decref(v);
    json_decref(d);
    return NULL;
}

int api_aws_cacert_describe(const struct api_env *env, const struct api_aws_route *rt,
                            const struct api_request *req, struct api_response *resp)
{
    struct db_aws_cert c;

    if (load_cacert(env, resp, rt->label[0], &c) < 0)
        return 0;
    api_aws_reply_take(resp, cacert_json(env, &c));
    db_aws_cert_clear(&c);
    return 0;
}

/* templateName filters on registrationConfig.templateName. */
static int cacerts_cb(const struct db_aws_cert *c, void *ud)
{
    struct api_aws_list *a = ud;
    const char *tn = a->ctx;
    char arn[DB_AWS_ARN_MAX];

    if (tn) {
        json_t *cfg = c->registration_config_json
                          ? json_loads(c->registration_config_json, 0, NULL) : NULL;
        const char *have = json_string_value(json_object_get(cfg, "templateName"));
        bool match = have && strcmp(have, tn) == 0;
        json_decref(cfg);
        if (!match)
            return 0;
    }
    if (api_aws_list_full(a))
        return 1;
    if (api_aws_arn(a->env, "cacert", c->id, arn, sizeof(arn)) < 0)
        return 0;
    return api_aws_list_add(a, c->rowid,
                            json_pack("{s:s,s:s,s:s,s:o}", "certificateArn", arn,
                                      "certificateId", c->id, "status", c->status,
                                      "creationDate", api_aws_time(c->created_us)));
}

int api_aws_cacerts_list(const struct api_env *env, const struct api_aws_route *rt,
                         const struct api_request *req, struct api_response *resp)
{
    const char *tn = api_request_param(req, "templateName");
    struct api_aws_list a = { .env = env };
    struct api_aws_page pg;
    bool ascending = false;
    int rc;

    if (api_aws_page_args(req, "pageSize", "marker", CACERTS_PAGE_DEFAULT, &pg, resp) < 0 ||
        api_aws_flag(req, "isAscendingOrder", &ascending, resp) < 0)
        return 0;
    a.limit = pg.limit;
    a.ctx = tn && *tn ? (void *)tn : NULL;
    a.arr = json_array();
    if (!a.arr)
        return api_aws_oom(resp);
    /* With a filter the store cannot count the page: read until full. */
    rc = db_aws_cacert_list(env->db, ascending, pg.after, a.ctx ? INT_MAX : pg.limit + 1,
                            cacerts_cb, &a);
    return api_aws_list_finish(env, resp, &a, rc, "CA certificate list", "certificates",
                               "nextMarker");
}

int api_aws_cacert_update(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    const char *status = api_request_param(req, "newStatus");
    const char *auto_reg = api_request_param(req, "newAutoRegistrationStatus");
    bool remove_auto = false, changed = false;
    char *reg_config = NULL;
    struct db_aws_cert c;
    json_t *body = NULL;
    int rc;

    if (load_cacert(env, resp, rt->label[0], &c) < 0)
        return 0;
    if (api_aws_body(req, resp, &body) < 0 ||
        api_aws_bool(body, "removeAutoRegistration", &remove_auto, resp) < 0 ||
        parse_reg_config(body, &reg_config, resp) < 0)
        goto out;
    if (status && strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0) {
        api_aws_invalid(resp, "1 validation error detected: Value '%.32s' at 'newStatus' "
                        "failed to satisfy constraint: Member must satisfy enum value set: "
                        "[ACTIVE, INACTIVE]", status);
        goto out;
    }
    if (auto_reg && strcmp(auto_reg, "ENABLE") != 0 && strcmp(auto_reg, "DISABLE") != 0) {
        api_aws_invalid(resp, "1 validation error detected: Value '%.32s' at "
                        "'newAutoRegistrationStatus' failed to satisfy constraint: Member "
                        "must satisfy enum value set: [ENABLE, DISABLE]", auto_reg);
        goto out;
    }
    if (remove_auto && reg_config) {
        api_aws_invalid(resp, "You cannot specify both registrationConfig and "
                        "removeAutoRegistration.");
        goto out;
    }
    if (status) {
        changed |= strcmp(c.status, status) != 0;
        snprintf(c.status, sizeof(c.status), "%s", status);
    }
    if (auto_reg) {
        changed |= strcmp(c.auto_registration, auto_reg) != 0;
        snprintf(c.auto_registration, sizeof(c.auto_registration), "%s", auto_reg);
    }
    if (remove_auto || reg_config) {
        free(c.registration_config_json);
        c.registration_config_json = reg_config;
        reg_config = NULL;
        changed = true;
    }
    if (changed) {
        rc = db_aws_cacert_update(env->db, &c, env->now_us);
        if (rc == -ENOENT) {
            cacert_not_found(resp, c.id);
            goto out;
        }
        if (rc < 0) {
            api_aws_db_failure(env, resp, rc, "CA certificate update");
            goto out;
        }
    }
    api_aws_reply_empty(resp);
out:
    free(reg_config);
    json_decref(body);
    db_aws_cert_clear(&c);
    return 0;
}

/* The device certificates of a deleted CA, to recheck their sessions. */
static int by_ca_cb(const struct db_aws_cert *c, void *ud)
{
    const struct api_env *env = ud;

    api_aws_notify(env, WEBUI_AWS_CERT_CHANGED, c->rowid);
    return 0;
}

/* A device certificate registered under a CA stops authenticating once
 * the CA is gone (the connect-time rule checks that the CA exists), so
 * its sessions are rechecked. */
int api_aws_cacert_delete(const struct api_env *env, const struct api_aws_route *rt,
                          const struct api_request *req, struct api_response *resp)
{
    struct db_aws_cert c;
    int rc;

    if (load_cacert(env, resp, rt->label[0], &c) < 0)
        return 0;
    if (strcmp(c.status, "ACTIVE") == 0) {
        api_aws_fail(resp, 406, API_AWS_CERT_STATE,
                     "The CA certificate must be deactivated (not ACTIVE) before deletion. "
                     "Id: %s", c.id);
        goto out;
    }
    rc = db_aws_cacert_delete(env->db, c.id);
    if (rc < 0 && rc != -ENOENT) {
        api_aws_db_failure(env, resp, rc, "CA certificate delete");
        goto out;
    }
    if (env->on_change && db_aws_cert_list(env->db, c.id, true, 0, INT_MAX, by_ca_cb,
                                           (void *)env) < 0)
        log_warn("admin: aws: the certificates of deleted CA %s could not be listed: %s", c.id,
                 db_last_error(env->db));
    api_aws_reply_empty(resp);
out:
    db_aws_cert_clear(&c);
    return 0;
}
