/* Internal to registry/aws_shadow*.c: the shadow struct, and the JSON tree
 * rules (merge with parallel metadata, delta, numeric-aware equality,
 * depth, nulls in arrays, metadata shape checks) the operations and the
 * stored form share. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct aws_shadow {
    json_t *desired;            /* owned; non-empty object or NULL (absent) */
    json_t *reported;           /* owned; likewise */
    json_t *meta_desired;       /* owned; parallel to desired, NULL with it */
    json_t *meta_reported;      /* owned; parallel to reported */
    uint64_t version;           /* last accepted version, kept by delete */
    bool exists;
};

/* Drops the state (not the version). */
void shd_drop_state(struct aws_shadow *s);

/* {"desired"?: deep copy of d, "reported"?: of r}; NULL on failure. */
json_t *shd_pair(const json_t *d, const json_t *r);

/* Depth of v: 0 for a scalar, 1 + the deepest child for an object or
 * array. Stops counting past limit (returns limit + 1). */
int shd_depth(const json_t *v, int limit);

/* Whether a null occurs inside an array anywhere in v. */
bool shd_null_in_array(const json_t *v);

/* Whether v holds a null anywhere. */
bool shd_has_null(const json_t *v);

/* Equality where numbers compare numerically (1 == 1.0); arrays and
 * objects compare element by element with the same rule. */
bool shd_equal(const json_t *a, const json_t *b);

/* The metadata of a value written at ts: an object maps key by key, an
 * array element by element, anything else is {"timestamp": ts}. New
 * reference, NULL on allocation failure. */
json_t *shd_meta_for(const json_t *v, json_int_t ts);

/* Merges patch (an object) into dst (an object) and its parallel metadata
 * meta: null removes, objects merge recursively, anything else replaces;
 * objects left empty are removed. Returns 0, -ENOMEM (dst and meta are
 * then partly merged: callers work on copies). */
int shd_merge(json_t *dst, json_t *meta, const json_t *patch, json_int_t ts);

/* The delta of desired over reported (either may be NULL): a new object,
 * possibly empty; NULL on allocation failure. */
json_t *shd_delta(const json_t *desired, const json_t *reported);

/* The part of meta (parallel to desired) that covers delta's keys. New
 * reference, NULL on allocation failure. */
json_t *shd_meta_restrict(const json_t *delta, const json_t *meta);

/* Whether meta is exactly parallel to v (the stored form's invariant). */
bool shd_meta_parallel(const json_t *v, const json_t *meta);
