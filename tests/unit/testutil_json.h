/* JSON in unit tests: documents written with single quotes (readable in C
 * string literals) and a check that a JSON text equals one. */
#pragma once
#include <stdbool.h>

/* The document with every ' turned into ". The result lives in one of 8
 * rotating 16 KiB buffers (a longer document fails the test). */
const char *tu_json_sq(const char *sq);

/* Whether the JSON text got (may be NULL) equals the single-quoted
 * document want, compared as JSON values; a failure is reported at
 * file:line with both texts. */
bool tu_json_doc_is(const char *got, const char *want, const char *file, int line);
#define CHECK_DOC(got, want) tu_json_doc_is((got), (want), __FILE__, __LINE__)
