/* CHECK_REASON for the tests of the registry's device authentication:
 * compares two reg_auth_reason values and names both on failure. Header
 * only, so it adds no link dependency beyond the registry the test links. */
#pragma once
#include <stdbool.h>

#include "registry/reg_jwt.h"
#include "testutil.h"

#define CHECK_REASON(got, want) tu_check_reason((got), (want), __FILE__, __LINE__)

static inline bool tu_check_reason(enum reg_auth_reason got, enum reg_auth_reason want,
                                   const char *file, int line)
{
    return tu_checkf(got == want, file, line, "got %s, want %s", reg_auth_reason_word(got),
                     reg_auth_reason_word(want));
}
