/* Base64 for JSON `bytes` fields: both alphabets in, standard out. */
#include "common/b64.h"

#include <errno.h>
#include <stdbool.h>

static const char b64_std[64] = {
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P',
    'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'a', 'b', 'c', 'd', 'e', 'f',
    'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v',
    'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '/',
};

/* Sextet value of one character of either alphabet, or -1. */
static int sextet(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return 26 + (ch - 'a');
    if (ch >= '0' && ch <= '9')
        return 52 + (ch - '0');
    switch (ch) {
    case '+': case '-': return 62;
    case '/': case '_': return 63;
    default: return -1;
    }
}

size_t b64_encoded_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

int b64_encode(const void *in, size_t n, char *out, size_t cap)
{
    const uint8_t *src = in;
    size_t need = b64_encoded_len(n);
    size_t w = 0;

    if (n > (SIZE_MAX - 1) / 4 * 3 || cap < need + 1)
        return -ENOSPC;
    for (size_t r = 0; r < n; r += 3) {
        size_t left = n - r;
        uint32_t group = (uint32_t)src[r] << 16;

        if (left > 1)
            group |= (uint32_t)src[r + 1] << 8;
        if (left > 2)
            group |= src[r + 2];
        out[w] = b64_std[group >> 18];
        out[w + 1] = b64_std[(group >> 12) & 0x3f];
        out[w + 2] = left > 1 ? b64_std[(group >> 6) & 0x3f] : '=';
        out[w + 3] = left > 2 ? b64_std[group & 0x3f] : '=';
        w += 4;
    }
    out[w] = '\0';
    return 0;
}

/* Characters before the padding, or (size_t)-1 when the '=' are misplaced:
 * more than two, or padding that does not complete a 4-character group. */
static size_t strip_padding(const char *in, size_t len)
{
    size_t body = len;

    while (body > 0 && in[body - 1] == '=')
        body--;
    if (body == len)
        return body;
    if (len - body > 2 || len % 4 != 0)
        return (size_t)-1;
    return body;
}

size_t b64_decoded_len(const char *in, size_t len)
{
    size_t body = strip_padding(in, len);

    if (body == (size_t)-1)
        body = len;
    /* Each full group of 4 gives 3 bytes; a tail of 2 or 3 gives 1 or 2. */
    return body / 4 * 3 + (body % 4 > 1 ? body % 4 - 1 : 0);
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
    size_t body = strip_padding(in, len);
    size_t w = 0;
    uint32_t acc = 0;
    unsigned nbits = 0;

    if (body == (size_t)-1 || body % 4 == 1)
        return -EBADMSG;
    if (b64_decoded_len(in, len) > cap)
        return -EMSGSIZE;
    for (size_t i = 0; i < body; i++) {
        int v = sextet((unsigned char)in[i]);

        if (v < 0)
            return -EBADMSG;
        acc = (acc << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[w++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1u;
        }
    }
    *ret_len = w;
    return 0;
}
