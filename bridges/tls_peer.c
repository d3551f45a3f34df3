/* Client certificates on the device listeners; see tls_peer.h. */
#include "bridges/tls_peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Replaces X509_verify_cert for client certificates. */
static int accept_presented_cert(X509_STORE_CTX *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 1;
}

void tls_peer_accept_any(SSL_CTX *ctx)
{
    SSL_CTX_set_cert_verify_callback(ctx, accept_presented_cert, NULL);
}

int tls_peer_cert_der(SSL *ssl, uint8_t **ret, size_t *ret_len)
{
    X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    unsigned char *der = NULL;
    int n;

    if (!x)
        return -ENOENT;
    n = i2d_X509(x, &der);
    if (n <= 0)
        return -EIO;
    uint8_t *copy = malloc((size_t)n);
    if (copy)
        memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    if (!copy)
        return -ENOMEM;
    *ret = copy;
    *ret_len = (size_t)n;
    return 0;
}
