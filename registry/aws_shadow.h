/* AWS IoT Device Shadow documents [aws-iot-core.md section 4]: one shadow's
 * stored state (desired, reported, their parallel metadata trees, the
 * version counter), and the update / get / delete operations that turn a
 * request payload into the documents AWS publishes on /accepted, /documents,
 * /delta and /rejected (or returns over REST). Pure: no store, no topics, no
 * clock (the time is a parameter, epoch seconds), no logging; fuzzed.
 *
 * Choices where AWS is ambiguous (each marked [verify] in the reference):
 * - /update/delta is produced after an accepted update when the resulting
 *   delta is non-empty and the request carried a "desired" object (the
 *   developer guide ties /delta to the request's desired state); set
 *   aws_shadow_opts.delta_on_any_update for Greengrass's behaviour (every
 *   accepted update that leaves a non-empty delta). The delta always holds
 *   every differing desired key, not only the requested ones.
 * - Metadata mirrors the state: an object maps key by key, a scalar (or a
 *   null in a request) is a leaf {"timestamp": T}, and an array is an array
 *   of the elements' metadata (what the cloud returns).
 * - Nulls inside an array (at any depth) are rejected with 400 "Invalid
 *   JSON"; the stored state therefore never holds a null.
 * - Empty objects are never stored: merging {} adds nothing, and an object
 *   emptied by nulls is removed, up to the desired/reported section itself.
 * - Nesting: desired and reported may each be at most 6 levels deep,
 *   counting the section object itself, every nested object and every array
 *   ({"a":{"b":{"c":{"d":{"e":{"f":1}}}}}} is the deepest accepted desired).
 * - The size limit is the compact JSON text of {"desired":..,"reported":..}
 *   after the merge, metadata excluded.
 * - "version" must be an integer >= 0 (a null version counts as absent);
 *   it is compared with the last accepted version, which a deleted shadow
 *   keeps, and which is 0 for a shadow that never existed.
 * - Validation order: JSON, clientToken, version, state, state's keys,
 *   desired/reported types, depth, nulls in arrays, version conflict, size.
 *   A clientToken is echoed in errors found after it was validated.
 * - Unknown top-level keys of an update request (e.g. "metadata") are
 *   ignored; the payload of a delete is ignored except for a valid
 *   clientToken, which is echoed.
 * - The /accepted document for {"state": null} is {"state": null, "version",
 *   "timestamp"[, "clientToken"]} without metadata; /documents has no
 *   "previous" for a shadow that did not exist before the update. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AWS defaults [aws-iot-core.md 4.5, 4.7]. */
#define AWS_SHADOW_MAX_STATE_BYTES 8192
#define AWS_SHADOW_MAX_DEPTH 6
#define AWS_SHADOW_MAX_CLIENT_TOKEN 64
#define AWS_SHADOW_MAX_THING_NAME 128
#define AWS_SHADOW_MAX_SHADOW_NAME 64

/* One shadow (classic or named): opaque; one owner, not thread-safe. */
struct aws_shadow;

struct aws_shadow_opts {
    /* Maximum compact size of desired+reported after a merge; 0 means
     * AWS_SHADOW_MAX_STATE_BYTES. */
    size_t max_state_bytes;
    /* Greengrass's /delta rule instead of the cloud's (see above). */
    bool delta_on_any_update;
};

/* Why a request was refused: what AWS answers. status is the HTTP status
 * (400, 404, 409, 413, 415); message is AWS's text (a 404 quotes the name,
 * cut to 128 bytes); doc is the owned (free()) NUL-terminated error
 * document {"code", "message", "timestamp"[, "clientToken"]} for a
 * /rejected topic or a REST body. Filled only when the function says so;
 * release with aws_shadow_reject_clear. */
struct aws_shadow_reject {
    int status;
    char message[192];
    char *doc;                  /* owned */
};
void aws_shadow_reject_clear(struct aws_shadow_reject *rej);   /* NULL-safe */

/* What an accepted update produced: owned NUL-terminated JSON texts
 * (free()). delta is NULL when nothing is to be published on /delta. */
struct aws_shadow_update_out {
    char *accepted;             /* /update/accepted, REST 200 body */
    char *documents;            /* /update/documents */
    char *delta;                /* /update/delta or NULL */
};
void aws_shadow_update_out_clear(struct aws_shadow_update_out *out);   /* NULL-safe */

/* A shadow that does not exist, version counter 0. Returns 0, -ENOMEM. */
int aws_shadow_new(struct aws_shadow **ret);
void aws_shadow_free(struct aws_shadow *s);     /* NULL-safe */

/* Whether the shadow exists (an update created it and no delete followed). */
bool aws_shadow_exists(const struct aws_shadow *s);
/* The last accepted version (0 if none); kept after a delete, so that a
 * shadow recreated within AWS's 48 hours continues the numbering. A caller
 * that emulates the 48-hour reset simply starts from aws_shadow_new. */
uint64_t aws_shadow_version(const struct aws_shadow *s);

/* The stored form, one JSON text: {"version": N, "exists": bool, "state":
 * {"desired"?, "reported"?}, "metadata": {"desired"?, "reported"?}}.
 * aws_shadow_dump sets *ret (owned, free()) and *ret_len (without the NUL);
 * returns 0, -ENOMEM. aws_shadow_load parses text of len bytes (no NUL
 * needed) into a new shadow: returns 0, -EBADMSG when it is not a stored
 * form (bad JSON, wrong types, metadata not parallel to the state, a null
 * in the state), -ENOMEM. */
int aws_shadow_dump(const struct aws_shadow *s, char **ret, size_t *ret_len);
int aws_shadow_load(const char *text, size_t len, struct aws_shadow **ret);

/* Applies an update request (payload of len bytes, no NUL needed) at time
 * now (epoch seconds). opts may be NULL (AWS defaults).
 * Returns 0: accepted; s now holds the merged state at version + 1 and
 * *out holds the documents (out must be zeroed or cleared by the caller).
 * On refusal s and *out are untouched and *rej is filled:
 *   -EBADMSG  400 (message as AWS: "Invalid JSON", "Missing required node:
 *             state", ...), or 415 for a payload that is not UTF-8;
 *   -ESTALE   409 "Version conflict";
 *   -EMSGSIZE 413 "The payload exceeds the maximum size allowed".
 * Other failures leave s, *out and *rej untouched: -ENOMEM, -EOVERFLOW
 * (the version counter is at its maximum); a transport answers them with
 * 500 "Internal service failure" (aws_shadow_error_doc). */
int aws_shadow_update(struct aws_shadow *s, const char *payload, size_t len, int64_t now,
                      const struct aws_shadow_opts *opts, struct aws_shadow_update_out *out,
                      struct aws_shadow_reject *rej);

/* Answers a get request (payload empty, or {"clientToken": "..."}; other
 * keys are ignored). name is the shadow's name for the 404 message (the
 * thing name for a classic shadow). Returns 0 with *ret the /get/accepted
 * document (owned): full desired, reported, the delta when non-empty,
 * metadata, version, timestamp, clientToken if sent. On refusal *ret is
 * untouched and *rej filled: -EBADMSG (400 "Invalid JSON", "Invalid
 * clientToken"; 415), -ENOENT (404 "No shadow exists with name: 'NAME'").
 * -ENOMEM touches nothing. */
int aws_shadow_get(const struct aws_shadow *s, const char *payload, size_t len, const char *name,
                   int64_t now, char **ret, struct aws_shadow_reject *rej);

/* Deletes the shadow: its state is dropped and the version kept. The
 * payload is ignored except for a valid clientToken, which is echoed.
 * Returns 0 with *ret the /delete/accepted document {"version": N,
 * "timestamp": T[, "clientToken"]} (N the version of the deleted state);
 * -ENOENT (404 as aws_shadow_get, *rej filled) when the shadow does not
 * exist; -ENOMEM touches nothing. */
int aws_shadow_delete(struct aws_shadow *s, const char *payload, size_t len, const char *name,
                      int64_t now, char **ret, struct aws_shadow_reject *rej);

/* An error document {"code": status, "message": message, "timestamp":
 * now[, "clientToken": token]} for errors found outside this module (401,
 * 403, 429, 500). token may be NULL. Returns 0 with *ret owned, -ENOMEM. */
int aws_shadow_error_doc(int status, const char *message, const char *client_token, int64_t now,
                         char **ret);

/* Names [DATA-MODEL ThingName, ShadowName]: a thing name is 1..128 of
 * [a-zA-Z0-9:_-]; a shadow name is 1..64 of [$a-zA-Z0-9:_-]. The shadow
 * name follows the API model, which allows '$' (Greengrass does not); a '$'
 * is harmless in the topic tree because it is never the first character of
 * a topic there. len bytes, no NUL needed. */
bool aws_shadow_thing_name_ok(const char *name, size_t len);
bool aws_shadow_name_ok(const char *name, size_t len);
