/* Internals shared by the aws_template_*.c files (not part of the contract
 * in aws_template.h): the parsed template, error messages, the shape of an
 * intrinsic function call and the Fn::Sub scanner. One job per file:
 *   aws_template.c        parse, bounds, and the run: resources into a plan
 *   aws_template_util.c   messages, UTF-8, function shapes, the Fn::Sub scanner
 *   aws_template_check.c  CreateProvisioningTemplate's checks (no values)
 *   aws_template_eval.c   values: parameters, functions, conditions
 *
 * Choices where AWS documents nothing (each [verify] against a live
 * account):
 * - Unknown top-level sections (e.g. "Version", "Description") are ignored;
 *   unknown resource keys, properties and OverrideSettings keys are errors.
 * - A parameter's Type must be "String" and its Default a string.
 * - Every declared parameter needs a value (supplied or Default), used or
 *   not, as the JITP guide says of certificate fields; the
 *   AWS::IoT::Certificate::* names may be referenced without a declaration
 *   (the guide's fleet provisioning example does so) and then need a value
 *   only when used. Supplied values for undeclared names are ignored.
 * - Ref names a parameter only (not a resource or AWS::NoValue); Fn::Sub
 *   variables are its own map's, then parameters; ${!x} is the literal
 *   "${x}", a "${" without "}" is literal text, ${a.b} is an error.
 * - Duplicate keys in the body are invalid JSON (JSON_REJECT_DUPLICATES).
 * - Numbers and booleans where a string is expected become their JSON text
 *   ("1", "true"); null, lists and objects there are errors.
 * - A thing needs a ThingName; a certificate exactly one of CertificateId,
 *   CertificateSigningRequest, CertificatePem (CACertificatePem only with
 *   CertificatePem); a run supports CertificateId only (the only form
 *   fleet provisioning and JITP use). Status is ACTIVE or INACTIVE in any
 *   case (the guide's example writes "Active") and is upper-cased.
 * - DeviceConfiguration keeps the types of its literal values (the guide
 *   shows strings only); functions in it are resolved. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "registry/aws_template.h"

/* Recursion bound of the walks: JSON nesting plus condition references. */
#define TPL_MAX_WALK (2 * AWS_TEMPLATE_MAX_DEPTH)
/* Fn::And / Fn::Or take 2 to 10 conditions (CloudFormation's bounds). */
#define TPL_MIN_CONDS 2
#define TPL_MAX_CONDS 10
/* Longest name a message quotes, in bytes. */
#define TPL_QUOTE_MAX 64

struct tpl {
    json_t *root;               /* owned: the parsed body */
    json_t *params;             /* borrowed from root: the sections, NULL if absent */
    json_t *mappings;
    json_t *conditions;
    json_t *resources;
    json_t *devcfg;
    json_t *cstate;             /* owned: per condition name, the walk's state (see the .c files) */
    /* Run only. */
    const struct aws_template_param *vals;      /* borrowed */
    size_t n_vals;
    json_t *values;             /* owned: declared parameter name -> its string value */
    size_t budget;              /* bytes of text the run may still produce */
    char *err;                  /* borrowed: the caller's message buffer */
    size_t cap;
};

/* Writes the message (fmt, printf-style) to t->err, cut to valid UTF-8, and
 * returns rc. */
int tpl_fail(struct tpl *t, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* -ENOMEM with its message. */
int tpl_nomem(struct tpl *t);

/* s (n bytes) for a message: at most TPL_QUOTE_MAX bytes (then "..."), cut
 * at a character boundary, control bytes and invalid UTF-8 as '?'. Returns
 * buf, which should hold TPL_QBUF bytes. */
#define TPL_QBUF (TPL_QUOTE_MAX + 8)
const char *tpl_quote(const char *s, size_t n, char *buf, size_t cap);

/* Whether s (n bytes) is valid UTF-8. */
bool tpl_utf8_ok(const char *s, size_t n);

/* Whether v is an intrinsic function call: an object whose only key is
 * "Ref" or "Fn::...". Sets *name and *arg (borrowed). */
bool tpl_fn(const json_t *v, const char **name, json_t **arg);
/* Whether v is an object holding a "Ref" or "Fn::..." key among others. */
bool tpl_fn_mixed(const json_t *v);

/* The member of object o named by the n bytes at k (which need not end in
 * a NUL), or NULL. Linear: jansson's own json_object_getn needs 2.14. */
json_t *tpl_getn(const json_t *o, const char *k, size_t n);

/* Whether name is one of the AWS::IoT::Certificate::* parameters. */
bool tpl_cert_param(const char *name, size_t n);

/* Fn::Sub scanning: one piece of the text, a literal run or a ${name}. */
struct tpl_sub_piece {
    const char *p;              /* borrowed from the text */
    size_t n;
    bool var;
};
/* Advances *cur (below end) past the next piece; false at the end. */
bool tpl_sub_next(const char **cur, const char *end, struct tpl_sub_piece *pc);

/* Parses and bounds-checks the body into t (zeroed by the caller; err and
 * cap set). Returns 0, -EINVAL (message set), -ENOMEM. */
int tpl_parse(struct tpl *t, const char *body, size_t len);
/* Releases what t owns. */
void tpl_release(struct tpl *t);

/* aws_template_check.c: the whole static check of a parsed template. */
int tpl_check(struct tpl *t);

/* aws_template_eval.c. */
/* Fills t->values from the declared parameters and the caller's values:
 * 0, -ENOENT (a parameter without a value), -ENOMEM. */
int tpl_bind(struct tpl *t);
/* The value of v with every function resolved: a new reference in *ret.
 * 0, -EINVAL, -ENOENT, -ENOMEM (message set). */
int tpl_eval(struct tpl *t, json_t *v, int depth, json_t **ret);
/* An evaluated value as text (what names it in messages): a string as is,
 * a number or boolean as its JSON text; anything else is -EINVAL. *ret is
 * a new reference to a JSON string. */
int tpl_text(struct tpl *t, json_t *v, const char *what, json_t **ret);
/* v evaluated and turned into text as tpl_text: *ret owned (free()). */
int tpl_eval_text(struct tpl *t, json_t *v, const char *what, char **ret);
/* Takes n bytes from t->budget: 0, or -EINVAL (message set) past it. */
int tpl_charge(struct tpl *t, size_t n);
/* Whether the declared condition name holds (memoised in t->cstate). */
int tpl_cond(struct tpl *t, const char *name, int depth, bool *ret);
