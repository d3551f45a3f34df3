/* Policy patterns: a token array where literal bytes and the '*' / '?'
 * wildcards are distinct values (see aws_policy_int.h), and the matcher
 * that runs on every PUBLISH and every delivery. IAM resource matching is
 * one flat glob over the whole ARN: '*' takes any run of characters, '/'
 * included, '?' exactly one; nothing else is special. Matching is
 * iterative: the pattern's head and tail are anchored, and each literal run
 * between stars takes its leftmost fit, which is enough for a single kind of
 * star and cannot blow up on "*a*a*a..." patterns. */
#include <errno.h>
#include <stdlib.h>

#include "registry/aws_policy_int.h"

void aws_pat_free(struct aws_pat *p)
{
    if (!p)
        return;
    free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

int aws_pat_append(struct aws_pat *p, const char *s, size_t n, bool wild)
{
    uint16_t *t;

    if (n == 0)
        return 0;
    if (n > AWS_POLICY_MAX_PATTERN || p->n > AWS_POLICY_MAX_PATTERN - n)
        return -E2BIG;
    /* Exact-size growth: patterns are built once per connection and a few
     * appends each; no capacity field to keep in step. */
    t = realloc(p->tok, (p->n + n) * sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (wild && c == '*')
            t[p->n + i] = AWS_TOK_STAR;
        else if (wild && c == '?')
            t[p->n + i] = AWS_TOK_QMARK;
        else
            t[p->n + i] = c;
    }
    p->tok = t;
    p->n += n;
    return 0;
}

/* The text is two pieces (ARN prefix, then the caller's tail). */
struct text {
    const unsigned char *a, *b;
    size_t na, n;
};

static inline unsigned at(const struct text *t, size_t i)
{
    return i < t->na ? t->a[i] : t->b[i - t->na];
}

static inline bool tok_ok(uint16_t tok, unsigned c)
{
    return tok == AWS_TOK_QMARK || tok == c;
}

/* Whether the star-free run p[0..n) matches the text at position pos. */
static bool run_at(const uint16_t *p, size_t n, const struct text *t, size_t pos)
{
    for (size_t k = 0; k < n; k++)
        if (!tok_ok(p[k], at(t, pos + k)))
            return false;
    return true;
}

bool aws_glob_match(const uint16_t *p, size_t np, const char *a, size_t na, const char *b,
                    size_t nb)
{
    const struct text t = {
        (const unsigned char *)a, (const unsigned char *)b, na, na + nb,
    };
    size_t head = 0, last, tail, pos, end, i;

    /* Head: everything before the first star is anchored at the start. */
    while (head < np && p[head] != AWS_TOK_STAR) {
        if (head >= t.n || !tok_ok(p[head], at(&t, head)))
            return false;
        head++;
    }
    if (head == np)
        return head == t.n;

    /* Tail: everything after the last star is anchored at the end. */
    last = np - 1;
    while (p[last] != AWS_TOK_STAR)
        last--;
    tail = np - 1 - last;
    if (t.n - head < tail)
        return false;
    end = t.n - tail;
    if (!run_at(p + last + 1, tail, &t, end))
        return false;

    /* Middle: each run between stars at its leftmost fit in [pos, end).
     * Leftmost is optimal for one kind of star: it leaves the most text for
     * the runs after it. */
    pos = head;
    i = head;
    while (i < last) {
        size_t j, len;

        while (i < last && p[i] == AWS_TOK_STAR)
            i++;
        if (i >= last)
            break;
        j = i;
        while (p[j] != AWS_TOK_STAR)
            j++;
        len = j - i;
        for (;;) {
            if (end - pos < len)
                return false;
            if (run_at(p + i, len, &t, pos))
                break;
            pos++;
        }
        pos += len;
        i = j;
    }
    return true;
}

static inline unsigned fold_c(unsigned c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

bool aws_pat_equals(const struct aws_pat *p, const char *s, size_t n, bool fold)
{
    if (p->n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned tok = p->tok[i], c = (unsigned char)s[i];
        if (tok == AWS_TOK_STAR)
            tok = '*';
        else if (tok == AWS_TOK_QMARK)
            tok = '?';
        if (fold) {
            tok = fold_c(tok);
            c = fold_c(c);
        }
        if (tok != c)
            return false;
    }
    return true;
}
