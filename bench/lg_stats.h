/* Load-generator statistics: log-linear latency histograms (HDR-like, about
 * 1.6 % relative precision, fixed memory), growable bit sets with a hard cap
 * (which sequence numbers a subscriber saw), and a small table of error
 * counts by kind. No I/O, no allocation except the bit sets. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 128 exact values, then 64 sub-buckets per power of two up to 2^63. */
#define LG_HIST_BUCKETS (128 + 57 * 64)

struct lg_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t b[LG_HIST_BUCKETS];
};

void lg_hist_init(struct lg_hist *h);
void lg_hist_add(struct lg_hist *h, uint64_t v);
/* Value at quantile q (0..1), the upper edge of its bucket clamped to the
 * exact max; 0 when empty. */
uint64_t lg_hist_quantile(const struct lg_hist *h, double q);
void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from);

/* A bit set over sequence numbers 0..max_bits-1, grown on demand. */
struct lg_bits {
    uint64_t *w;        /* owned */
    size_t nwords;
    size_t max_bits;
};

void lg_bits_init(struct lg_bits *b, size_t max_bits);
/* Sets bit i; returns 1 if it was already set, 0 if newly set, -ERANGE
 * beyond max_bits, -ENOMEM. */
int lg_bits_set(struct lg_bits *b, size_t i);
bool lg_bits_test(const struct lg_bits *b, size_t i);
void lg_bits_free(struct lg_bits *b);

/* Errors by kind: up to LG_ERR_KINDS distinct names (static strings), the
 * rest counted under "other". */
#define LG_ERR_KINDS 32
struct lg_errs {
    size_t n;
    const char *name[LG_ERR_KINDS];
    uint64_t count[LG_ERR_KINDS];
    uint64_t other;
};

void lg_errs_add(struct lg_errs *e, const char *kind);
uint64_t lg_errs_total(const struct lg_errs *e);
