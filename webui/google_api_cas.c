/* Registry CA certificates applied to device credentials: a registry with
 * at least one CA accepts only new device certificates signed directly by
 * one of them, checked when a device is created or its credentials are
 * updated, never later [google-iot-core.md section 4]. */
#include "webui/google_api.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "registry/reg_x509.h"

int api_g_registry_cas(const struct db_registry *reg, struct reg_x509_cas **ret)
{
    const char *pems[REG_X509_MAX_CAS];
    json_t *extra = reg->extra_json ? json_loads(reg->extra_json, 0, NULL) : NULL, *creds, *c;
    size_t n = 0, i;
    int rc = 0;

    *ret = NULL;
    creds = json_object_get(extra, "credentials");
    json_array_foreach(creds, i, c) {
        const char *pem = json_string_value(
            json_object_get(json_object_get(c, "publicKeyCertificate"), "certificate"));
        if (!pem)
            continue;
        if (n == REG_X509_MAX_CAS) {
            rc = -EINVAL;
            break;
        }
        pems[n++] = pem;
    }
    if (rc == 0 && n > 0)
        rc = reg_x509_cas_new(pems, n, ret);
    json_decref(extra);
    return rc;
}

static bool stored_before(const struct db_credential *c, const struct db_credential *old,
                          size_t n_old)
{
    for (size_t i = 0; i < n_old; i++)
        if (old[i].format == c->format && old[i].key_pem && strcmp(old[i].key_pem, c->key_pem) == 0)
            return true;
    return false;
}

int api_g_check_device_cas(const struct reg_x509_cas *cas, const struct api_device_in *in,
                           const struct db_credential *old, size_t n_old, int64_t now_us,
                           struct api_err *err)
{
    if (reg_x509_cas_count(cas) == 0)
        return 0;
    for (size_t i = 0; i < in->n_creds; i++) {
        const struct db_credential *c = &in->creds[i];
        bool x509 = c->format == DB_KEY_RSA_X509_PEM || c->format == DB_KEY_ES256_X509_PEM;
        int rc;

        if (stored_before(c, old, n_old))
            continue;
        rc = x509 ? reg_x509_cas_verify(cas, c->key_pem, now_us) : -EACCES;
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            /* Google's wording [FIELD balena-io-examples/google-iot#22]. */
            api_err_set(err, API_G_PERMISSION_DENIED,
                        "The signature of device credential in position %zu could not be "
                        "verified against any registry certificate.", i);
            return -EACCES;
        }
    }
    return 0;
}
