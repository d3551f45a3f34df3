/* Device provisioning for the load generator through iotcored's Google
 * Cloud IoT REST API (admin listener, plain HTTP on loopback, Bearer
 * token): one registry, then N devices sharing one public key, over one
 * keep-alive connection. An existing registry or device (409) counts as
 * done, so reruns are cheap. */
#pragma once
#include <stddef.h>

struct lg_prov_req {
    const char *admin_url;      /* "http://127.0.0.1:PORT" */
    const char *token;          /* Bearer token */
    const char *project, *location, *registry;
    const char *device_prefix;  /* device id = prefix + (offset + i) */
    unsigned offset;
    unsigned count;
    const char *format;         /* "ES256_PEM" | "RSA_PEM" */
    const char *public_pem;     /* SPKI PEM */
};

struct lg_prov_result {
    unsigned created;
    unsigned existed;
    double seconds;
    char error[256];            /* set when the call fails */
};

/* Returns 0 when the registry and every device exist afterwards, else a
 * negative errno with res->error describing the first failure. */
int lg_prov_run(const struct lg_prov_req *rq, struct lg_prov_result *res);
