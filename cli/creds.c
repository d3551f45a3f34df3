/* Credentials, metadata, topics and enum values from iotcorectl flags (see
 * creds.h). The server validates keys, ids and limits; this file only
 * reads files and shapes JSON, so messages about content come from the
 * server in Google's words. */
#include "cli/creds.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "cli/output.h"

/* A PEM public key or certificate is a few KiB; 64 KiB refuses a wrong
 * file (a log, an archive) before it is sent. */
#define PEM_MAX (64u * 1024)

struct key_spec {
    const char *path, *type, *expiration;
};

static int key_field(const char *k, const char *v, void *ud)
{
    struct key_spec *ks = ud;
    const char **slot = strcmp(k, "path") == 0              ? &ks->path
                        : strcmp(k, "type") == 0            ? &ks->type
                        : strcmp(k, "expiration-time") == 0 ? &ks->expiration
                                                            : NULL;

    if (!slot) {
        ctl_error("--public-key: unknown key \"%s\" (expected path, type, expiration-time)", k);
        return -EINVAL;
    }
    if (*slot) {
        ctl_error("--public-key: \"%s\" given twice", k);
        return -EINVAL;
    }
    *slot = v;
    return 0;
}

/* gcloud's old names: es256 meant es256-pem and rs256 meant rsa-x509-pem.
 * People handed either kind of file to them, and Google then refused a
 * mismatch; here the file's PEM label decides, so both kinds work. */
static const char *key_format(const char *type, const char *pem)
{
    static const struct {
        const char *type, *format;
    } map[] = {
        { "rsa-pem", "RSA_PEM" },
        { "rsa-x509-pem", "RSA_X509_PEM" },
        { "es256-pem", "ES256_PEM" },
        { "es256-x509-pem", "ES256_X509_PEM" },
    };
    bool cert = strstr(pem, "-----BEGIN CERTIFICATE-----") != NULL;

    if (strcmp(type, "rs256") == 0)
        return cert ? "RSA_X509_PEM" : "RSA_PEM";
    if (strcmp(type, "es256") == 0)
        return cert ? "ES256_X509_PEM" : "ES256_PEM";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i].type) == 0)
            return map[i].format;
    return NULL;
}

int ctl_cred_from_spec(const char *spec, json_t **ret)
{
    struct key_spec ks = { 0 };
    struct buf pem = { 0 };
    char *copy = strdup(spec);
    const char *format;
    json_t *cred = NULL;
    int rc;

    if (!copy) {
        ctl_error("out of memory");
        return -ENOMEM;
    }
    rc = ctl_kv_each("--public-key", copy, key_field, &ks);
    if (rc < 0)
        goto out;
    if (!ks.path || !ks.type) {
        ctl_error("--public-key: path=FILE and type=TYPE are required");
        rc = -EINVAL;
        goto out;
    }
    rc = ctl_read_file("--public-key", ks.path, PEM_MAX, &pem);
    if (rc < 0)
        goto out;
    format = key_format(ks.type, (const char *)pem.data);
    if (!format) {
        ctl_error("--public-key: type \"%s\" is not one of rs256, rsa-pem, rsa-x509-pem, es256, "
                  "es256-pem, es256-x509-pem", ks.type);
        rc = -EINVAL;
        goto out;
    }
    cred = json_pack("{s:{s:s,s:s}}", "publicKey", "format", format, "key",
                     (const char *)pem.data);
    if (cred && ks.expiration &&
        json_object_set_new(cred, "expirationTime", json_string(ks.expiration)) < 0) {
        json_decref(cred);
        cred = NULL;
    }
    if (!cred) {
        /* json_pack also fails on a key file that is not UTF-8. */
        ctl_error("--public-key: %s is not a text PEM file", ks.path);
        rc = -EINVAL;
        goto out;
    }
    *ret = cred;
out:
    buf_free(&pem);
    free(copy);
    return rc;
}

int ctl_registry_cred_from_file(const char *path, json_t **ret)
{
    struct buf pem;
    json_t *cred;
    int rc;

    rc = ctl_read_file("--public-key-path", path, PEM_MAX, &pem);
    if (rc < 0)
        return rc;
    cred = json_pack("{s:{s:s,s:s}}", "publicKeyCertificate", "format", "X509_CERTIFICATE_PEM",
                     "certificate", (const char *)pem.data);
    buf_free(&pem);
    if (!cred) {
        ctl_error("--public-key-path: %s is not a text PEM file", path);
        return -EINVAL;
    }
    *ret = cred;
    return 0;
}

struct event_spec {
    const char *topic, *subfolder;
};

static int event_field(const char *k, const char *v, void *ud)
{
    struct event_spec *es = ud;
    const char **slot = strcmp(k, "topic") == 0       ? &es->topic
                        : strcmp(k, "subfolder") == 0 ? &es->subfolder
                                                      : NULL;

    if (!slot || *slot) {
        ctl_error("--event-notification-config: unexpected \"%s\" (expected topic=T once and "
                  "optionally subfolder=S)", k);
        return -EINVAL;
    }
    *slot = v;
    return 0;
}

int ctl_event_config_from_spec(const struct ctl *c, const char *spec, json_t **ret)
{
    struct event_spec es = { 0 };
    char *copy = strdup(spec);
    json_t *cfg = NULL, *topic;
    int rc;

    if (!copy) {
        ctl_error("out of memory");
        return -ENOMEM;
    }
    rc = ctl_kv_each("--event-notification-config", copy, event_field, &es);
    if (rc < 0)
        goto out;
    if (!es.topic || !*es.topic) {
        ctl_error("--event-notification-config: topic=TOPIC is required");
        rc = -EINVAL;
        goto out;
    }
    topic = ctl_topic_name(c, es.topic);
    cfg = topic ? json_pack("{s:o}", "pubsubTopicName", topic) : NULL;
    if (cfg && es.subfolder &&
        json_object_set_new(cfg, "subfolderMatches", json_string(es.subfolder)) < 0) {
        json_decref(cfg);
        cfg = NULL;
    }
    if (!cfg) {
        ctl_error("--event-notification-config: out of memory or not UTF-8");
        rc = -EINVAL;
        goto out;
    }
    *ret = cfg;
out:
    free(copy);
    return rc;
}

static int metadata_field(const char *k, const char *v, void *ud)
{
    json_t *obj = ud, *s = json_string(v);

    if (json_object_get(obj, k)) {
        ctl_error("--metadata: key \"%s\" given twice", k);
        json_decref(s);
        return -EINVAL;
    }
    if (!s || json_object_set_new(obj, k, s) < 0) {
        ctl_error("--metadata: \"%s\" is not UTF-8 text", k);
        return -EINVAL;
    }
    return 0;
}

int ctl_metadata_from_spec(const char *spec, json_t **ret)
{
    char *copy = strdup(spec);
    json_t *obj = json_object();
    int rc;

    if (!copy || !obj) {
        free(copy);
        json_decref(obj);
        ctl_error("out of memory");
        return -ENOMEM;
    }
    rc = ctl_kv_each("--metadata", copy, metadata_field, obj);
    free(copy);
    if (rc < 0) {
        json_decref(obj);
        return rc;
    }
    *ret = obj;
    return 0;
}

json_t *ctl_topic_name(const struct ctl *c, const char *topic)
{
    json_t *s;

    if (strncmp(topic, "projects/", 9) == 0)
        s = json_string(topic);
    else
        s = json_sprintf("projects/%s/topics/%s", c->project, topic);
    if (!s)
        ctl_error("topic \"%s\": out of memory or not UTF-8", topic);
    return s;
}

json_t *ctl_enum_value(const char *what, const char *value, const char *const *allowed)
{
    char up[64];
    size_t n = strlen(value);

    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(value, allowed[i]) != 0)
            continue;
        if (n >= sizeof(up))
            break;
        for (size_t j = 0; j <= n; j++)
            up[j] = value[j] == '-' ? '_' : (value[j] >= 'a' && value[j] <= 'z')
                                                ? (char)(value[j] - 'a' + 'A')
                                                : value[j];
        return json_string(up);
    }
    fprintf(stderr, "ERROR: (iotcorectl) %s: \"%s\" is not one of:", what, value);
    for (size_t i = 0; allowed[i]; i++)
        fprintf(stderr, " %s", allowed[i]);
    fputc('\n', stderr);
    return NULL;
}
