/* What every libFuzzer target here shares: the entry point libFuzzer (or
 * replay.c) calls, and REQUIRE, which aborts with the failed invariant so
 * libFuzzer keeps the input as a crash. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)
