/* Direct-mapped cache of parsed credential keys, keyed by SHA-256 of the
 * format byte and the stored PEM text. */
#include "registry/reg_keycache.h"

#include <errno.h>
#include <openssl/sha.h>
#include <string.h>

#include "registry/reg_cred.h"

struct entry {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    EVP_PKEY *pkey;         /* owned reference; NULL = empty */
};

static struct entry cache[REG_KEYCACHE_SLOTS];

void reg_cred_digest(enum db_key_format format, const char *pem, unsigned char out[REG_CRED_DIGEST_LEN])
{
    unsigned char f = (unsigned char)format;
    SHA256_CTX c;
    /* SHA256_* is deprecated in OpenSSL 3 only as an interface choice; the
     * one-shot EVP path costs a provider lookup per call on this hot path. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_Init(&c);
    SHA256_Update(&c, &f, 1);
    SHA256_Update(&c, pem, strlen(pem));
    SHA256_Final(out, &c);
#pragma GCC diagnostic pop
}

int reg_keycache_get(enum db_key_format format, const char *pem, EVP_PKEY **ret)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    uint32_t slot;

    if (!pem || !ret)
        return -EINVAL;
    reg_cred_digest(format, pem, d);
    memcpy(&slot, d, sizeof(slot));
    struct entry *e = &cache[slot % REG_KEYCACHE_SLOTS];
    if (e->pkey && memcmp(e->digest, d, sizeof(d)) == 0) {
        if (EVP_PKEY_up_ref(e->pkey) != 1)
            return -ENOMEM;
        *ret = e->pkey;
        return 0;
    }
    EVP_PKEY *k = NULL;
    int r = reg_cred_public_key(format, pem, &k);
    if (r < 0)
        return r;
    if (EVP_PKEY_up_ref(k) != 1) {
        EVP_PKEY_free(k);
        return -ENOMEM;
    }
    EVP_PKEY_free(e->pkey);
    memcpy(e->digest, d, sizeof(d));
    e->pkey = k;              /* the cache's reference */
    *ret = k;                 /* the caller's */
    return 0;
}

void reg_keycache_clear(void)
{
    for (size_t i = 0; i < REG_KEYCACHE_SLOTS; i++) {
        EVP_PKEY_free(cache[i].pkey);
        cache[i].pkey = NULL;
    }
}
