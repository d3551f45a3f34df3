/* The bulk import, iotcored's own extension of the Google API for
 * migrations and load tests: POST /v1/projects/P/locations/L:importDevices
 * with JSON lines (application/x-ndjson), each line one record:
 *   {"registry": {DeviceRegistry}}                      creates a registry
 *   {"device": {Device}, "registry": "REGISTRY_ID"}     creates a device in it
 * Records are validated exactly as the create routes validate them
 * (registry CA rule included), in file order, in one store transaction:
 * all or nothing. A failure names its line ("line 17: credentials[0]...")
 * with the status the create route would have answered. The reply is
 * {"registriesCreated": N, "devicesCreated": M}.
 * Fast enough for 100k devices in seconds: the store's prepared statements,
 * registries looked up once, and credential verdicts cached by PEM within
 * the request (a fleet often shares keys or certificates in load tests). */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "registry/reg_cred.h"
#include "registry/reg_x509.h"

/* Distinct credentials whose verdict is remembered; beyond that they are
 * checked every time (still correct, only slower). */
#define CRED_CACHE_SLOTS 8192
#define CRED_CACHE_MAX (CRED_CACHE_SLOTS / 2)

/* ---- credential verdicts, by PEM ---- */

struct cred_entry {
    uint64_t hash;
    enum db_key_format format;
    char *pem;                  /* owned; NULL = empty slot */
};

struct cred_cache {
    struct cred_entry *slots;   /* owned, CRED_CACHE_SLOTS of them (open addressing) */
    size_t n;
};

static uint64_t pem_hash(enum db_key_format format, const char *pem)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)format;    /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)pem; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

/* An api_cred_checker: only accepted credentials are remembered (a refused
 * one ends the import), compared by their whole text, not just the hash. */
static int cached_check(void *ud, enum db_key_format format, const char *pem, int64_t now_us,
                        char *why, size_t why_len)
{
    struct cred_cache *c = ud;
    uint64_t h = pem_hash(format, pem);
    size_t i = (size_t)h & (CRED_CACHE_SLOTS - 1);
    int rc;

    for (; c->slots && c->slots[i].pem; i = (i + 1) & (CRED_CACHE_SLOTS - 1))
        if (c->slots[i].hash == h && c->slots[i].format == format &&
            strcmp(c->slots[i].pem, pem) == 0)
            return 0;
    rc = reg_cred_check(format, pem, now_us, why, why_len);
    if (rc < 0 || c->n >= CRED_CACHE_MAX)
        return rc;
    if (!c->slots && !(c->slots = calloc(CRED_CACHE_SLOTS, sizeof(*c->slots))))
        return 0;
    i = (size_t)h & (CRED_CACHE_SLOTS - 1);
    while (c->slots[i].pem)
        i = (i + 1) & (CRED_CACHE_SLOTS - 1);
    c->slots[i].pem = strdup(pem);
    if (c->slots[i].pem) {
        c->slots[i].hash = h;
        c->slots[i].format = format;
        c->n++;
    }
    return 0;
}

static void cred_cache_free(struct cred_cache *c)
{
    for (size_t i = 0; c->slots && i < CRED_CACHE_SLOTS; i++)
        free(c->slots[i].pem);
    free(c->slots);
}

/* ---- the import ---- */

/* A registry records may name: created earlier in this import or stored. */
struct known_reg {
    struct db_registry reg;     /* owned fields */
    struct reg_x509_cas *cas;   /* owned, NULL without CAs */
};

struct import {
    const struct api_g_route *rt;
    const struct api_request *req;
    struct known_reg *regs;     /* owned, n_regs of them */
    size_t n_regs, cap_regs, last;
    struct cred_cache creds;
    long long registries, devices;
    size_t line;                /* 1-based number of the line being read */
    struct api_err err;         /* the failure of that line */
};

static void import_free(struct import *im)
{
    for (size_t i = 0; i < im->n_regs; i++) {
        db_registry_clear(&im->regs[i].reg);
        reg_x509_cas_free(im->regs[i].cas);
    }
    free(im->regs);
    cred_cache_free(&im->creds);
}

/* Takes reg (its owned fields) into the known list with its CA set. */
static int remember(const struct api_env *env, struct import *im, struct db_registry *reg)
{
    struct known_reg *k;
    int rc;

    if (im->n_regs == im->cap_regs) {
        size_t cap = im->cap_regs ? im->cap_regs * 2 : 8;
        struct known_reg *n = realloc(im->regs, cap * sizeof(*n));
        if (!n)
            goto oom;
        im->regs = n;
        im->cap_regs = cap;
    }
    k = &im->regs[im->n_regs];
    memset(k, 0, sizeof(*k));
    rc = api_g_registry_cas(reg, &k->cas);
    if (rc == -ENOMEM)
        goto oom;
    if (rc < 0) {
        log_err("admin: registry %s holds a CA certificate that does not parse", reg->id);
        api_err_set(&im->err, API_G_INTERNAL, "Internal error.");
        return rc;
    }
    (void)env;
    k->reg = *reg;
    memset(reg, 0, sizeof(*reg));
    im->last = im->n_regs++;
    return 0;
oom:
    api_err_set(&im->err, API_G_INTERNAL, "Out of memory.");
    return -ENOMEM;
}

static int import_registry(const struct api_env *env, struct import *im, const json_t *body)
{
    struct api_registry_in in;
    struct db_registry reg;
    char name[API_G_NAME_CAP];
    int rc;

    memset(&reg, 0, sizeof(reg));
    rc = api_google_registry_parse_json(body, true, env->now_us, &in, &im->err);
    if (rc == -ENOMEM)
        api_err_set(&im->err, API_G_INTERNAL, "Out of memory.");
    if (rc < 0)
        return rc;
    rc = api_google_registry_name(im->rt->project, im->rt->location, in.id, name, sizeof(name));
    if (rc < 0)
        api_err_set(&im->err, API_G_INVALID_ARGUMENT, "The resource name is too long.");
    else if (in.name[0] && strcmp(in.name, name) != 0) {
        api_err_set(&im->err, API_G_INVALID_ARGUMENT,
                    "name: must be empty when creating a registry.");
        rc = -EINVAL;
    } else if ((rc = api_g_registry_row(im->rt, &in, env->now_us, &reg)) < 0)
        api_err_set(&im->err, API_G_INTERNAL, "Out of memory.");
    else if ((rc = db_registry_insert(env->db, &reg)) == -EEXIST)
        api_err_set(&im->err, API_G_ALREADY_EXISTS,
                    "Resource already exists in the project (resource=%s).", in.id);
    else if (rc < 0)
        api_g_db_failure_err(env, rc, "registry insert", &im->err);
    else if ((rc = remember(env, im, &reg)) == 0)
        im->registries++;
    db_registry_clear(&reg);
    api_registry_in_clear(&in);
    return rc;
}

/* The registry a device record names, from this import or the store. */
static int find_registry(const struct api_env *env, struct import *im, const char *id,
                         struct known_reg **ret)
{
    struct db_registry reg;
    char name[API_G_NAME_CAP];
    int rc;

    if (im->n_regs > 0 && strcmp(im->regs[im->last].reg.id, id) == 0) {
        *ret = &im->regs[im->last];
        return 0;
    }
    for (size_t i = 0; i < im->n_regs; i++) {
        if (strcmp(im->regs[i].reg.id, id) == 0) {
            im->last = i;
            *ret = &im->regs[i];
            return 0;
        }
    }
    memset(&reg, 0, sizeof(reg));
    rc = db_registry_get(env->db, im->rt->project, im->rt->location, id, &reg);
    if (rc == -ENOENT) {
        if (api_google_registry_name(im->rt->project, im->rt->location, id, name,
                                     sizeof(name)) < 0)
            snprintf(name, sizeof(name), "(a name too long)");
        api_err_set(&im->err, API_G_NOT_FOUND, "The registry with the name '%s' doesn't exist.",
                    name);
    } else if (rc < 0) {
        api_g_db_failure_err(env, rc, "registry lookup", &im->err);
    } else if ((rc = remember(env, im, &reg)) == 0) {
        *ret = &im->regs[im->last];
    }
    db_registry_clear(&reg);
    return rc;
}

static int import_device(const struct api_env *env, struct import *im, const json_t *body,
                         const char *registry_id)
{
    const struct api_cred_checker chk = { cached_check, &im->creds };
    struct api_device_in in;
    struct known_reg *k = NULL;
    struct db_device dev;
    int rc = find_registry(env, im, registry_id, &k);

    if (rc < 0)
        return rc;
    memset(&dev, 0, sizeof(dev));
    rc = api_google_device_parse_json(body, true, env->now_us, &chk, &in, &im->err);
    if (rc == -ENOMEM)
        api_err_set(&im->err, API_G_INTERNAL, "Out of memory.");
    if (rc < 0)
        return rc;
    rc = api_g_device_insert(env, &k->reg, k->cas, &in, &dev, &im->err);
    if (rc == 0)
        im->devices++;
    db_device_clear(&dev);
    api_device_in_clear(&in);
    return rc;
}

static int bad_record(struct import *im)
{
    api_err_set(&im->err, API_G_INVALID_ARGUMENT,
                "expected {\"registry\": {DeviceRegistry}} or {\"device\": {Device}, "
                "\"registry\": \"REGISTRY_ID\"}.");
    return -EINVAL;
}

/* One line: a JSON object holding one record. */
static int import_line(const struct api_env *env, struct import *im, const char *text,
                       size_t len)
{
    json_error_t jerr;
    json_t *rec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *reg, *dev;
    const char *key;
    json_t *v;
    int rc;

    if (!rec) {
        api_err_set(&im->err, API_G_INVALID_ARGUMENT, "Invalid JSON payload received. %.200s.",
                    jerr.text);
        return -EINVAL;
    }
    rc = json_is_object(rec) ? 0 : bad_record(im);
    json_object_foreach(rec, key, v) {
        if (rc == 0 && strcmp(key, "registry") != 0 && strcmp(key, "device") != 0) {
            api_err_set(&im->err, API_G_INVALID_ARGUMENT,
                        "Invalid JSON payload received. Unknown name \"%.64s\": Cannot find "
                        "field.", key);
            rc = -EINVAL;
        }
    }
    reg = json_object_get(rec, "registry");
    dev = json_object_get(rec, "device");
    if (rc < 0)
        ;
    else if (dev && json_is_string(reg))
        rc = import_device(env, im, dev, json_string_value(reg));
    else if (!dev && json_is_object(reg))
        rc = import_registry(env, im, reg);
    else
        rc = bad_record(im);
    json_decref(rec);
    return rc;
}

/* Every line in file order, inside api_g_in_transaction. */
static int import_all(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct import *im = ctx;
    const char *p = im->req->body, *end = p + im->req->body_len;
    int rc = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);

        im->line++;
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0 && (rc = import_line(env, im, p, len)) < 0)
            break;
        p = nl ? nl + 1 : end;
    }
    if (rc < 0)
        api_google_error(resp, im->err.status, "line %zu: %s", im->line, im->err.msg);
    else if (im->registries + im->devices == 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "The import holds no records.");
        rc = -EINVAL;
    }
    return rc;
}

/* application/x-ndjson (what the CLI sends), the other names JSON lines go
 * by, and plain application/json; parameters (charset) are ignored. */
static bool content_type_ok(const char *ct)
{
    static const char *const ok[] = {
        "application/x-ndjson", "application/jsonl", "application/x-jsonlines",
        "application/json",
    };
    size_t len;

    if (!ct)
        return true;
    len = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (len == strlen(ok[i]) && strncasecmp(ct, ok[i], len) == 0)
            return true;
    return false;
}

int api_g_import(const struct api_env *env, const struct api_g_route *rt,
                 const struct api_request *req, struct api_response *resp)
{
    struct import im;
    json_t *out;

    if (api_g_check_parent(rt, resp) < 0)
        return 0;
    if (!content_type_ok(req->content_type))
        return api_google_error_http(resp, 415, API_G_INVALID_ARGUMENT,
                                     "importDevices takes JSON lines "
                                     "(Content-Type: application/x-ndjson).");
    memset(&im, 0, sizeof(im));
    im.rt = rt;
    im.req = req;
    if (api_g_in_transaction(env, resp, import_all, &im) == 0) {
        log_info("admin: imported %lld registries and %lld devices into projects/%s/locations/%s",
                 im.registries, im.devices, rt->project, rt->location);
        out = json_pack("{s:I,s:I}", "registriesCreated", (json_int_t)im.registries,
                        "devicesCreated", (json_int_t)im.devices);
        api_g_reply_json_take(resp, out);
    }
    import_free(&im);
    return 0;
}
