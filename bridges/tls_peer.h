/* Client certificates on the device listeners (MQTT and HTTPS), the same
 * way on both: the handshake requests one and accepts any presented
 * certificate; the identity is decided later from its SHA-256 fingerprint
 * (AWS style), never from a chain. Building and checking a chain in the
 * handshake would only cost CPU (most of Mosquitto's ~2.6 ms per mTLS
 * connect) and then be ignored: a certificate registered without a CA has
 * no chain we know. The handshake still checks CertificateVerify, the
 * client's proof that it holds the certificate's key. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Installs the accept-any verify callback on a listener's SSL_CTX (from
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS). */
void tls_peer_accept_any(SSL_CTX *ctx);

/* The certificate the client presented, as DER (*ret malloc'd). Returns 0,
 * -ENOENT (none; ssl may be NULL), -EIO, -ENOMEM. A resumed TLS session
 * keeps its certificate. lws's "verified" flag means nothing here: a
 * missing certificate reports verified too. */
int tls_peer_cert_der(SSL *ssl, uint8_t **ret, size_t *ret_len);
