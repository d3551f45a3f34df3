/* Internals shared by the aws_policy_*.c files (not part of the contract in
 * aws_policy.h): the compiled pattern form, the glob matcher, the lookup of
 * policy variables and condition keys in a connection context, the grammar
 * check and the condition evaluator. One job per file:
 *   aws_policy.c           compile documents into a set, check actions
 *   aws_policy_validate.c  the document grammar (CreatePolicy's checks)
 *   aws_policy_glob.c      patterns: building them, matching them
 *   aws_policy_vars.c      policy variables and condition keys from the ctx
 *   aws_policy_cond.c      Condition blocks, decided once per connection */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "registry/aws_policy.h"

/* A compiled pattern is a token array: 0..255 is that byte taken literally,
 * AWS_TOK_STAR and AWS_TOK_QMARK the wildcards. Text substituted from a
 * policy variable or written with the ${*} ${?} ${$} escapes only ever
 * yields literal tokens, which is how a client id "a*" stays literal. */
#define AWS_TOK_STAR  0x100
#define AWS_TOK_QMARK 0x101

/* Longest pattern after substitution, in tokens. A document is at most 2048
 * characters, so only substituted values can reach this (a 1024-character
 * certificate attribute is AWS's own cap, a thing attribute value 800). */
#define AWS_POLICY_MAX_PATTERN 4096

/* AWS: "Certificate attributes that contain arrays are limited to five
 * items" and values longer than 1024 characters are not substituted. */
#define AWS_CERT_MAX_VALUES 5
#define AWS_CERT_MAX_VALUE_LEN 1024

/* Defensive bounds on the grammar; a 2048-character document cannot reach
 * them, they only keep the compiler's loops bounded if that limit moves. */
#define AWS_POLICY_MAX_STATEMENTS 512
#define AWS_POLICY_MAX_ELEMENTS 1024    /* actions, resources, values per list */

struct aws_pat {
    uint16_t *tok;      /* owned */
    size_t n;
};

void aws_pat_free(struct aws_pat *p);

/* Appends the bytes of s as literal tokens, or with wild, '*' and '?' as
 * wildcards. Returns 0, -E2BIG past AWS_POLICY_MAX_PATTERN, -ENOMEM; on
 * failure p keeps what it had. */
int aws_pat_append(struct aws_pat *p, const char *s, size_t n, bool wild);

/* Whether pattern p matches the whole text a followed by b (two pieces so
 * the ARN prefix need not be copied in front of every resource). Linear in
 * the text for the head and tail of the pattern, at most text x segment
 * length for the literal runs between stars; no recursion. */
bool aws_glob_match(const uint16_t *p, size_t np, const char *a, size_t na, const char *b,
                    size_t nb);

/* Whether p, read with every token literal ('*' and '?' as themselves), is
 * the string s; fold compares ASCII letters case-insensitively. */
bool aws_pat_equals(const struct aws_pat *p, const char *s, size_t n, bool fold);

/* The values of a condition key or policy variable for a connection. */
struct aws_key_vals {
    const char *v[AWS_CERT_MAX_VALUES];    /* borrowed from ctx or static */
    size_t n;                               /* 0: the key is absent */
    bool multi;         /* a list (…List, iot:ConnectAttributes): no variable */
    bool cert;          /* from the certificate: AWS's substitution limits apply */
};

/* Looks name (len bytes, no NUL needed) up: 0 with *ret filled, or -ENOENT
 * when the name is not a key this emulator knows. */
int aws_policy_key(const struct aws_policy_ctx *ctx, const char *name, size_t len,
                   struct aws_key_vals *ret);

/* Compiles a Resource or condition value: the text s (n bytes) with its
 * policy variables substituted as literal text and its own '*' and '?' as
 * wildcards. Returns 0 with *ret (caller frees with aws_pat_free), -ENOENT
 * when a variable cannot be resolved, -E2BIG past AWS_POLICY_MAX_PATTERN,
 * -ENOMEM. unresolved_star: a variable that cannot be resolved becomes the
 * wildcard '*' instead of -ENOENT (a Deny's resource, which must cover at
 * least what it would cover for any value). */
int aws_policy_subst(const struct aws_policy_ctx *ctx, const char *s, size_t n,
                     bool unresolved_star, struct aws_pat *ret);

/* Parses and checks a document: the character limit, JSON, the grammar.
 * Returns 0 with the parsed root in *ret (caller json_decref's), -EINVAL
 * with the reason in why, -ENOMEM. */
int aws_policy_load(const char *doc, size_t len, json_t **ret, char *why, size_t why_len);

/* The statements of a loaded document: Statement is an object or an array. */
size_t aws_policy_n_statements(const json_t *root);
const json_t *aws_policy_statement(const json_t *root, size_t i);

/* Decision on a statement's Condition for one connection. UNKNOWN is an
 * operator, key or value this emulator cannot decide: the caller fails
 * closed (an Allow does not apply, a Deny does). */
enum aws_cond {
    AWS_COND_FALSE,
    AWS_COND_TRUE,
    AWS_COND_UNKNOWN,
};

/* Decides a Condition object (NULL: no condition, TRUE). Operators and keys
 * are AND'd, the values of one key OR'd, as in IAM; one FALSE makes the
 * whole FALSE even beside an UNKNOWN. Returns 0 with *ret, -ENOENT when a
 * value names a variable that cannot be resolved (the statement is then
 * inert), -ENOMEM. */
int aws_policy_cond_eval(const json_t *cond, const struct aws_policy_ctx *ctx,
                         enum aws_cond *ret);
