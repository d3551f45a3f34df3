/* Base64 as Google's JSON APIs spoke it (proto3 `bytes`): we always write
 * the standard alphabet with '=' padding, and read what clients actually
 * sent: the standard or the URL-safe alphabet (Google's own Python sample
 * encoded URL-safe), padded or not. Pure; callers own every buffer. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Characters b64_encode writes for n bytes, without the NUL. */
size_t b64_encoded_len(size_t n);
/* Writes n bytes as padded standard base64 plus a NUL into out. Returns 0,
 * or -ENOSPC when cap < b64_encoded_len(n) + 1 (out untouched then). */
int b64_encode(const void *in, size_t n, char *out, size_t cap);

/* Bytes that len characters of valid input decode to (padding at the end
 * not counted), so a caller can refuse an over-long payload before it
 * decodes anything. Garbage gives a meaningless but bounded number. */
size_t b64_decoded_len(const char *in, size_t len);
/* Decodes len characters (no NUL needed) into out. Accepts '+'/'-' and
 * '/'/'_' alike, and up to two '=' only as the final padding of a 4-aligned
 * input; no whitespace. Leftover bits are ignored, as protobuf's decoder
 * did. Returns 0 and *ret_len; -EBADMSG on malformed input; -EMSGSIZE when
 * the result would not fit cap. out may be NULL when cap is 0. On failure
 * *ret_len is untouched and out holds no meaningful data. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len);
