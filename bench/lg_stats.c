/* Histograms, bit sets and error counts for the load generator (see
 * lg_stats.h). */
#include "bench/lg_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void lg_hist_init(struct lg_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

static size_t bucket_of(uint64_t v)
{
    if (v < 128)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);     /* >= 7 */
    unsigned shift = msb - 6;
    size_t sub = (size_t)(v >> shift) - 64;                  /* 0..63 */
    return 128 + (size_t)(msb - 7) * 64 + sub;
}

/* Largest value that falls in bucket i. */
static uint64_t bucket_top(size_t i)
{
    if (i < 128)
        return i;
    size_t k = i - 128;
    unsigned msb = (unsigned)(k / 64) + 7;
    unsigned shift = msb - 6;
    uint64_t sub = k % 64;
    return ((64 + sub + 1) << shift) - 1;
}

void lg_hist_add(struct lg_hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

uint64_t lg_hist_quantile(const struct lg_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top > h->max ? h->max : top;
        }
    }
    return h->max;
}

void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from)
{
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

void lg_bits_init(struct lg_bits *b, size_t max_bits)
{
    b->w = NULL;
    b->nwords = 0;
    b->max_bits = max_bits;
}

int lg_bits_set(struct lg_bits *b, size_t i)
{
    if (i >= b->max_bits)
        return -ERANGE;
    size_t word = i / 64;
    if (word >= b->nwords) {
        size_t n = b->nwords ? b->nwords : 16;
        while (n <= word)
            n *= 2;
        size_t maxw = (b->max_bits + 63) / 64;
        if (n > maxw)
            n = maxw;
        uint64_t *w = realloc(b->w, n * sizeof(*w));
        if (!w)
            return -ENOMEM;
        memset(w + b->nwords, 0, (n - b->nwords) * sizeof(*w));
        b->w = w;
        b->nwords = n;
    }
    uint64_t m = 1ull << (i % 64);
    if (b->w[word] & m)
        return 1;
    b->w[word] |= m;
    return 0;
}

bool lg_bits_test(const struct lg_bits *b, size_t i)
{
    size_t word = i / 64;
    return word < b->nwords && (b->w[word] & (1ull << (i % 64)));
}

void lg_bits_free(struct lg_bits *b)
{
    if (!b)
        return;
    free(b->w);
    b->w = NULL;
    b->nwords = 0;
}

void lg_errs_add(struct lg_errs *e, const char *kind)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->name[i] == kind || strcmp(e->name[i], kind) == 0) {
            e->count[i]++;
            return;
        }
    }
    if (e->n < LG_ERR_KINDS) {
        e->name[e->n] = kind;
        e->count[e->n++] = 1;
        return;
    }
    e->other++;
}

uint64_t lg_errs_total(const struct lg_errs *e)
{
    uint64_t t = e->other;
    for (size_t i = 0; i < e->n; i++)
        t += e->count[i];
    return t;
}
