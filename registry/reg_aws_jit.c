/* Just-in-time registration and provisioning; see reg_aws_jit.h. */
#include "registry/reg_aws_jit.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/aws_cert.h"
#include "registry/reg_aws_provision.h"

void reg_aws_jit_clear(struct reg_aws_jit *j)
{
    if (!j)
        return;
    free(j->event);
    memset(j, 0, sizeof(*j));
}

static char *der_to_pem(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *data;

    if (x && b && PEM_write_bio_X509(b, x)) {
        long n = BIO_get_mem_data(b, &data);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    X509_free(x);
    return out;
}

static bool auto_registering(const struct db_aws_cert *ca)
{
    return strcmp(ca->status, "ACTIVE") == 0 && strcmp(ca->auto_registration, "ENABLE") == 0;
}

struct find_ca {
    const char *pem;
    int64_t now_us;
    struct db_aws_cert *found;      /* a copy of the CA row */
    int err;
};

static int try_ca(const struct db_aws_cert *ca, void *ud)
{
    struct find_ca *f = ud;
    if (!auto_registering(ca) || (ca->not_after_us && ca->not_after_us < f->now_us))
        return 0;
    if (aws_cert_signed_by(f->pem, ca->pem) != 1)
        return 0;
    f->found = calloc(1, sizeof(*f->found));
    if (!f->found) {
        f->err = -ENOMEM;
        return 1;
    }
    *f->found = *ca;
    f->found->pem = NULL;
    f->found->registration_config_json =
        ca->registration_config_json ? strdup(ca->registration_config_json) : NULL;
    if (ca->registration_config_json && !f->found->registration_config_json)
        f->err = -ENOMEM;
    return 1;
}

static int event(const struct reg_aws_env *env, struct reg_aws_jit *out, int64_t now_us,
                 int64_t registered_us)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "certificateId", out->cert_id,
                          "caCertificateId", out->ca_id, "timestamp",
                          (json_int_t)(now_us / 1000), "certificateStatus", "PENDING_ACTIVATION",
                          "awsAccountId", env->account ? env->account : "",
                          "certificateRegistrationTimestamp", (json_int_t)(registered_us / 1000));
    out->event = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out->event ? 0 : -ENOMEM;
}

/* The template a CA's registrationConfig names: its templateBody, or the
 * default version of the JITP template templateName. *ret NULL: none. */
static int ca_template(struct db *db, const char *config_json, char **ret)
{
    json_t *cfg = config_json ? json_loads(config_json, 0, NULL) : NULL;
    const char *body = json_string_value(json_object_get(cfg, "templateBody"));
    const char *name = json_string_value(json_object_get(cfg, "templateName"));
    int r = 0;

    *ret = NULL;
    if (body && *body) {
        *ret = strdup(body);
        r = *ret ? 0 : -ENOMEM;
    } else if (name && *name) {
        r = db_aws_template_get_default_body(db, name, ret, NULL, NULL);
        if (r == -ENOENT)
            log_warn("JITP: the CA names provisioning template \"%s\", which does not exist",
                     name);
    }
    json_decref(cfg);
    return r == -ENOENT ? 0 : r;
}

/* JITP's parameters from the certificate's subject. */
static size_t subject_params(const struct aws_cert_attrs *a, struct aws_template_param *p,
                             char names[][64], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_subject && n < max; i++) {
        const char *k = a->subject[i].name;
        if (strcmp(k, "State") == 0)
            k = "StateName";
        snprintf(names[n], 64, "AWS::IoT::Certificate::%s", k);
        p[n] = (struct aws_template_param){ names[n], a->subject[i].value };
        n++;
    }
    return n;
}

static int provision(struct db *db, const struct reg_aws_env *env, const char *body,
                     const uint8_t *der, size_t len, int64_t now_us, struct reg_aws_jit *out)
{
    struct aws_cert_attrs attrs = { 0 };
    struct aws_template_param params[16];
    char names[16][64];
    struct reg_aws_prov_out po = { 0 };

    int r = aws_cert_attrs_der(der, len, &attrs);
    if (r < 0)
        return r == -ENOMEM ? r : -EIO;
    size_t n = subject_params(&attrs, params, names, 16);
    r = reg_aws_provision(db, env, body, strlen(body), params, n, out->cert_id, "ACTIVE", now_us,
                          &po);
    aws_cert_attrs_clear(&attrs);
    if (r == -ENOMEM) {
        reg_aws_prov_out_clear(&po);
        return r;
    }
    if (r < 0) {
        /* The certificate stays PENDING_ACTIVATION; the caller logs why. */
        snprintf(out->err, sizeof(out->err), "%s", po.err);
        snprintf(out->status, sizeof(out->status), "PENDING_ACTIVATION");
    } else {
        out->provisioned = true;
        snprintf(out->status, sizeof(out->status), "%s", po.status);
        snprintf(out->thing_name, sizeof(out->thing_name), "%s", po.thing_name);
    }
    reg_aws_prov_out_clear(&po);
    return 0;
}

int reg_aws_jit(struct db *db, const struct reg_aws_env *env, const uint8_t *der, size_t len,
                int64_t now_us, struct reg_aws_jit *out)
{
    struct aws_cert_info info;
    struct db_aws_cert known = { 0 };
    int r;

    if (aws_cert_parse_der(der, len, &info) < 0)
        return -ENOENT;
    snprintf(out->cert_id, sizeof(out->cert_id), "%s", info.id);
    r = db_aws_cert_get(db, info.id, &known);
    if (r == 0) {
        /* A certificate JITR registered and nobody activated yet: the event
         * again, as AWS repeats it on every attempt. */
        struct db_aws_cert ca = { 0 };
        bool pending = strcmp(known.status, "PENDING_ACTIVATION") == 0 && known.ca_id[0] &&
                       db_aws_cacert_get(db, known.ca_id, &ca) == 0 && auto_registering(&ca);
        int64_t registered = known.created_us;
        snprintf(out->ca_id, sizeof(out->ca_id), "%s", known.ca_id);
        db_aws_cert_clear(&known);
        db_aws_cert_clear(&ca);
        if (!pending)
            return -ENOENT;
        snprintf(out->status, sizeof(out->status), "PENDING_ACTIVATION");
        return event(env, out, now_us, registered);
    }
    if (r != -ENOENT)
        return r == -ENOMEM ? r : -EIO;
    if (info.is_ca || now_us < info.not_before_us || now_us > info.not_after_us)
        return -ENOENT;

    char *pem = der_to_pem(der, len);
    if (!pem)
        return -ENOMEM;
    struct find_ca f = { .pem = pem, .now_us = now_us };
    r = db_aws_cacert_list(db, true, 0, 0, try_ca, &f);
    if (r < 0 || f.err < 0 || !f.found) {
        if (f.found) {
            db_aws_cert_clear(f.found);
            free(f.found);
        }
        free(pem);
        return r < 0 ? (r == -ENOMEM ? r : -EIO) : f.err < 0 ? f.err : -ENOENT;
    }
    snprintf(out->ca_id, sizeof(out->ca_id), "%s", f.found->id);

    /* Registered as RegisterCertificate with the CA would. */
    struct db_aws_cert c = { 0 };
    snprintf(c.id, sizeof(c.id), "%s", info.id);
    c.pem = pem;
    snprintf(c.status, sizeof(c.status), "PENDING_ACTIVATION");
    snprintf(c.ca_id, sizeof(c.ca_id), "%s", f.found->id);
    snprintf(c.mode, sizeof(c.mode), "DEFAULT");
    c.not_before_us = info.not_before_us;
    c.not_after_us = info.not_after_us;
    c.created_us = c.modified_us = now_us;
    c.generation = 1;
    char *body = NULL;
    r = ca_template(db, f.found->registration_config_json, &body);
    db_aws_cert_clear(f.found);
    free(f.found);
    if (r == 0) {
        r = db_aws_cert_insert(db, &c);
        /* A concurrent daemon registered it first: pending either way. */
        if (r == -EEXIST)
            r = 0;
    }
    free(pem);
    if (r < 0) {
        free(body);
        log_err("JITR: registering certificate %s failed: %s", info.id, db_last_error(db));
        return r == -ENOMEM ? r : -EIO;
    }
    snprintf(out->status, sizeof(out->status), "PENDING_ACTIVATION");
    if (!body)
        return event(env, out, now_us, now_us);
    r = provision(db, env, body, der, len, now_us, out);
    free(body);
    return r;
}
