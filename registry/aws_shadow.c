/* The Device Shadow operations [aws-iot-core.md 4.2-4.7]: request
 * validation with AWS's status codes and messages, the update (validate,
 * check the version, merge into copies, check the size, then commit), get,
 * delete, and the documents each publishes. The tree rules live in
 * aws_shadow_doc.c, the stored form in aws_shadow_form.c. Nothing here
 * reads the clock, touches the store or logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/aws_shadow.h"
#include "registry/aws_shadow_int.h"

/* AWS's messages [aws-iot-core.md 4.6]. */
#define MSG_INVALID_JSON "Invalid JSON"
#define MSG_NO_STATE "Missing required node: state"
#define MSG_STATE_TYPE "State node must be an object"
#define MSG_DESIRED_TYPE "Desired node must be an object"
#define MSG_REPORTED_TYPE "Reported node must be an object"
#define MSG_VERSION "Invalid version"
#define MSG_TOKEN "Invalid clientToken"
#define MSG_DEPTH "JSON contains too many levels of nesting; maximum is 6"
#define MSG_STATE_NODE "State contains an invalid node"
#define MSG_CONFLICT "Version conflict"
#define MSG_TOO_BIG "The payload exceeds the maximum size allowed"
#define MSG_ENCODING "Unsupported documented encoding; supported encoding is UTF-8"

void aws_shadow_reject_clear(struct aws_shadow_reject *rej)
{
    if (!rej)
        return;
    free(rej->doc);
    memset(rej, 0, sizeof(*rej));
}

void aws_shadow_update_out_clear(struct aws_shadow_update_out *out)
{
    if (!out)
        return;
    free(out->accepted);
    free(out->documents);
    free(out->delta);
    memset(out, 0, sizeof(*out));
}

/* Adds version, timestamp and the client token to a response and renders
 * it; consumes doc. NULL on allocation failure. */
static char *finish(json_t *doc, const uint64_t *version, int64_t now, const char *token)
{
    char *text = NULL;

    if (!doc)
        return NULL;
    if (version && json_object_set_new(doc, "version", json_integer((json_int_t)*version)) < 0)
        goto out;
    if (json_object_set_new(doc, "timestamp", json_integer(now)) < 0)
        goto out;
    if (token && json_object_set_new(doc, "clientToken", json_string(token)) < 0)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
out:
    json_decref(doc);
    return text;
}

int aws_shadow_error_doc(int status, const char *message, const char *client_token, int64_t now,
                         char **ret)
{
    char *text = finish(json_pack("{siss}", "code", status, "message", message ? message : ""),
                        NULL, now, client_token);

    if (!text)
        return -ENOMEM;
    *ret = text;
    return 0;
}

/* Fills rej and returns err, or -ENOMEM with rej untouched. */
static int reject(struct aws_shadow_reject *rej, int err, int status, const char *message,
                  const char *token, int64_t now)
{
    char *doc;

    if (aws_shadow_error_doc(status, message, token, now, &doc) < 0)
        return -ENOMEM;
    rej->status = status;
    snprintf(rej->message, sizeof(rej->message), "%s", message);
    rej->doc = doc;
    return err;
}

/* Parses a request payload; on a parse failure fills rej (400 or 415). */
static int parse(const char *payload, size_t len, json_t **ret, struct aws_shadow_reject *rej,
                 int64_t now)
{
    json_error_t jerr;
    json_t *root = json_loadb(payload ? payload : "", len, 0, &jerr);

    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return -ENOMEM;
        if (json_error_code(&jerr) == json_error_invalid_utf8)
            return reject(rej, -EBADMSG, 415, MSG_ENCODING, NULL, now);
        return reject(rej, -EBADMSG, 400, MSG_INVALID_JSON, NULL, now);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return reject(rej, -EBADMSG, 400, MSG_INVALID_JSON, NULL, now);
    }
    *ret = root;
    return 0;
}

/* The request's clientToken: 0 with *ret NULL when absent; a refusal (400
 * "Invalid clientToken") when it is not a string of at most 64 bytes. */
static int client_token(const json_t *root, const char **ret, struct aws_shadow_reject *rej,
                        int64_t now)
{
    json_t *ct = json_object_get(root, "clientToken");

    if (!ct) {
        *ret = NULL;
        return 0;
    }
    if (!json_is_string(ct) || json_string_length(ct) > AWS_SHADOW_MAX_CLIENT_TOKEN)
        return reject(rej, -EBADMSG, 400, MSG_TOKEN, NULL, now);
    *ret = json_string_value(ct);
    return 0;
}

static bool blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    }
    return true;
}

static int not_found(struct aws_shadow_reject *rej, const char *name, const char *token,
                     int64_t now)
{
    char msg[sizeof(rej->message)];

    snprintf(msg, sizeof(msg), "No shadow exists with name: '%.128s'", name ? name : "");
    return reject(rej, -ENOENT, 404, msg, token, now);
}

json_t *shd_pair(const json_t *d, const json_t *r)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    if ((d && json_object_set_new(o, "desired", json_deep_copy(d)) < 0) ||
        (r && json_object_set_new(o, "reported", json_deep_copy(r)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {"state": {desired, reported}, "metadata": {...}, "version": v}: one side
 * of /update/documents. */
static json_t *snapshot(const json_t *d, const json_t *r, const json_t *md, const json_t *mr,
                        uint64_t version)
{
    return json_pack("{soso sI}", "state", shd_pair(d, r), "metadata", shd_pair(md, mr),
                     "version", (json_int_t)version);
}

/* The metadata of a request's state: each section present gets the
 * metadata of its value (a null section a leaf). */
static json_t *request_meta(const json_t *state, json_int_t ts)
{
    json_t *m = json_object();
    const char *k;
    json_t *v;

    if (!m)
        return NULL;
    json_object_foreach((json_t *)state, k, v) {
        if (json_object_set_new(m, k, shd_meta_for(v, ts)) < 0) {
            json_decref(m);
            return NULL;
        }
    }
    return m;
}

/* Applies one section of the request to a working copy. */
static int apply(json_t **sec, json_t **meta, const json_t *patch, json_int_t ts)
{
    if (!patch)
        return 0;
    if (json_is_null(patch)) {
        json_decref(*sec);
        json_decref(*meta);
        *sec = *meta = NULL;
        return 0;
    }
    if (!*sec) {
        *sec = json_object();
        *meta = json_object();
        if (!*sec || !*meta)
            return -ENOMEM;
    }
    if (shd_merge(*sec, *meta, patch, ts) < 0)
        return -ENOMEM;
    if (json_object_size(*sec) == 0) {
        json_decref(*sec);
        json_decref(*meta);
        *sec = *meta = NULL;
    }
    return 0;
}

static json_t *copy_or_null(const json_t *v, bool *failed)
{
    json_t *c;

    if (!v)
        return NULL;
    c = json_deep_copy(v);
    if (!c)
        *failed = true;
    return c;
}

/* The checks of a request that need no stored state, in AWS's order (see
 * the header). Sets the sections (borrowed; NULL when absent). */
static int check_request(const json_t *root, const char *token, const json_t **ret_state,
                         const json_t **ret_desired, const json_t **ret_reported,
                         struct aws_shadow_reject *rej, int64_t now)
{
    const json_t *ver = json_object_get(root, "version");
    const json_t *state = json_object_get(root, "state");
    const json_t *desired = NULL, *reported = NULL;
    const char *k;
    json_t *v;

    if (ver && !json_is_null(ver) && (!json_is_integer(ver) || json_integer_value(ver) < 0))
        return reject(rej, -EBADMSG, 400, MSG_VERSION, token, now);
    if (!state)
        return reject(rej, -EBADMSG, 400, MSG_NO_STATE, token, now);
    if (!json_is_null(state) && !json_is_object(state))
        return reject(rej, -EBADMSG, 400, MSG_STATE_TYPE, token, now);
    if (json_is_object(state)) {
        json_object_foreach((json_t *)state, k, v) {
            if (strcmp(k, "desired") != 0 && strcmp(k, "reported") != 0)
                return reject(rej, -EBADMSG, 400, MSG_STATE_NODE, token, now);
        }
        desired = json_object_get(state, "desired");
        reported = json_object_get(state, "reported");
        if (desired && !json_is_null(desired) && !json_is_object(desired))
            return reject(rej, -EBADMSG, 400, MSG_DESIRED_TYPE, token, now);
        if (reported && !json_is_null(reported) && !json_is_object(reported))
            return reject(rej, -EBADMSG, 400, MSG_REPORTED_TYPE, token, now);
        if ((desired && shd_depth(desired, AWS_SHADOW_MAX_DEPTH) > AWS_SHADOW_MAX_DEPTH) ||
            (reported && shd_depth(reported, AWS_SHADOW_MAX_DEPTH) > AWS_SHADOW_MAX_DEPTH))
            return reject(rej, -EBADMSG, 400, MSG_DEPTH, token, now);
        /* [DG device-shadow-document "Arrays"]: arrays can't hold null. */
        if (shd_null_in_array(state))
            return reject(rej, -EBADMSG, 400, MSG_INVALID_JSON, token, now);
    }
    *ret_state = state;
    *ret_desired = desired;
    *ret_reported = reported;
    return 0;
}

/* The three documents of an accepted update; all or nothing. */
static int make_update_docs(const struct aws_shadow *s, const json_t *state, bool want_delta,
                            json_t *nd, json_t *nr, json_t *nmd, json_t *nmr, uint64_t nv,
                            int64_t now, const char *token, struct aws_shadow_update_out *res)
{
    json_t *acc, *docs, *delta;
    uint64_t prev = s->version;

    memset(res, 0, sizeof(*res));
    acc = json_pack("{sO}", "state", (json_t *)state);
    if (acc && json_is_object(state) &&
        json_object_set_new(acc, "metadata", request_meta(state, now)) < 0) {
        json_decref(acc);
        acc = NULL;
    }
    res->accepted = finish(acc, &nv, now, token);

    docs = json_pack("{so}", "current", snapshot(nd, nr, nmd, nmr, nv));
    if (docs && s->exists &&
        json_object_set_new(docs, "previous", snapshot(s->desired, s->reported, s->meta_desired,
                                                       s->meta_reported, prev)) < 0) {
        json_decref(docs);
        docs = NULL;
    }
    res->documents = finish(docs, NULL, now, token);

    delta = shd_delta(nd, nr);
    if (!delta)
        goto fail;
    if (want_delta && json_object_size(delta) > 0) {
        json_t *meta = shd_meta_restrict(delta, nmd);

        res->delta = finish(json_pack("{soso}", "state", delta, "metadata", meta), &nv, now, token);
        if (!res->delta)
            goto fail;
    } else {
        json_decref(delta);
    }
    if (!res->accepted || !res->documents)
        goto fail;
    return 0;
fail:
    aws_shadow_update_out_clear(res);
    return -ENOMEM;
}

int aws_shadow_update(struct aws_shadow *s, const char *payload, size_t len, int64_t now,
                      const struct aws_shadow_opts *opts, struct aws_shadow_update_out *out,
                      struct aws_shadow_reject *rej)
{
    size_t max = opts && opts->max_state_bytes ? opts->max_state_bytes
                                                 : AWS_SHADOW_MAX_STATE_BYTES;
    bool any_delta = opts && opts->delta_on_any_update;
    const json_t *state, *desired, *reported, *ver;
    json_t *root = NULL, *nd = NULL, *nr = NULL, *nmd = NULL, *nmr = NULL;
    struct aws_shadow_update_out res;
    const char *token;
    bool failed = false;
    int rc;

    if (!s || !out || !rej)
        return -EINVAL;
    rc = parse(payload, len, &root, rej, now);
    if (rc < 0)
        return rc;
    rc = client_token(root, &token, rej, now);
    if (rc < 0)
        goto done;
    rc = check_request(root, token, &state, &desired, &reported, rej, now);
    if (rc < 0)
        goto done;
    ver = json_object_get(root, "version");
    if (json_is_integer(ver) && (uint64_t)json_integer_value(ver) != s->version) {
        rc = reject(rej, -ESTALE, 409, MSG_CONFLICT, token, now);
        goto done;
    }
    if (s->version >= (uint64_t)INT64_MAX) {
        rc = -EOVERFLOW;
        goto done;
    }

    /* Merge into copies: a refusal from here on leaves s as it was. */
    if (!json_is_null(state)) {
        nd = copy_or_null(s->desired, &failed);
        nr = copy_or_null(s->reported, &failed);
        nmd = copy_or_null(s->meta_desired, &failed);
        nmr = copy_or_null(s->meta_reported, &failed);
        if (failed || apply(&nd, &nmd, desired, now) < 0 || apply(&nr, &nmr, reported, now) < 0) {
            rc = -ENOMEM;
            goto done;
        }
    }
    /* [aws-iot-core.md 4.7]: desired+reported after the merge, metadata
     * excluded. */
    json_t *sized = shd_pair(nd, nr);
    if (!sized) {
        rc = -ENOMEM;
        goto done;
    }
    size_t size = json_dumpb(sized, NULL, 0, JSON_COMPACT);
    json_decref(sized);
    if (size == 0) {
        rc = -ENOMEM;
        goto done;
    }
    if (size > max) {
        rc = reject(rej, -EMSGSIZE, 413, MSG_TOO_BIG, token, now);
        goto done;
    }

    rc = make_update_docs(s, state, any_delta || json_is_object(desired), nd, nr, nmd, nmr,
                          s->version + 1, now, token, &res);
    if (rc < 0)
        goto done;

    /* Commit. */
    shd_drop_state(s);
    s->desired = nd;
    s->reported = nr;
    s->meta_desired = nmd;
    s->meta_reported = nmr;
    nd = nr = nmd = nmr = NULL;
    s->version++;
    s->exists = true;
    *out = res;
    rc = 0;
done:
    json_decref(nd);
    json_decref(nr);
    json_decref(nmd);
    json_decref(nmr);
    json_decref(root);
    return rc;
}

/* The clientToken of a get or delete payload. strict: the payload must be
 * empty or a JSON object with a valid token (get); otherwise anything that
 * is not one is ignored (delete: "the content is ignored"). *ret_root keeps
 * the token alive. */
static int request_token(const char *payload, size_t len, bool strict, json_t **ret_root,
                         const char **ret_token, struct aws_shadow_reject *rej, int64_t now)
{
    json_t *root = NULL;
    int rc;

    *ret_root = NULL;
    *ret_token = NULL;
    if (len == 0 || blank(payload, len))
        return 0;
    if (!strict) {
        root = json_loadb(payload, len, 0, NULL);
        json_t *ct = json_object_get(root, "clientToken");
        if (json_is_string(ct) && json_string_length(ct) <= AWS_SHADOW_MAX_CLIENT_TOKEN)
            *ret_token = json_string_value(ct);
        *ret_root = root;
        return 0;
    }
    rc = parse(payload, len, &root, rej, now);
    if (rc < 0)
        return rc;
    rc = client_token(root, ret_token, rej, now);
    if (rc < 0) {
        json_decref(root);
        return rc;
    }
    *ret_root = root;
    return 0;
}

int aws_shadow_get(const struct aws_shadow *s, const char *payload, size_t len, const char *name,
                   int64_t now, char **ret, struct aws_shadow_reject *rej)
{
    json_t *root, *doc, *st, *delta;
    const char *token;
    char *text;
    int rc;

    if (!s || !ret || !rej || (!payload && len))
        return -EINVAL;
    rc = request_token(payload, len, true, &root, &token, rej, now);
    if (rc < 0)
        return rc;
    if (!s->exists) {
        rc = not_found(rej, name, token, now);
        goto done;
    }
    st = shd_pair(s->desired, s->reported);
    delta = shd_delta(s->desired, s->reported);
    if (!st || !delta || (json_object_size(delta) > 0 && json_object_set(st, "delta", delta) < 0)) {
        json_decref(st);
        json_decref(delta);
        rc = -ENOMEM;
        goto done;
    }
    json_decref(delta);
    doc = json_pack("{soso}", "state", st, "metadata", shd_pair(s->meta_desired, s->meta_reported));
    text = finish(doc, &s->version, now, token);
    if (!text) {
        rc = -ENOMEM;
        goto done;
    }
    *ret = text;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int aws_shadow_delete(struct aws_shadow *s, const char *payload, size_t len, const char *name,
                      int64_t now, char **ret, struct aws_shadow_reject *rej)
{
    json_t *root;
    const char *token;
    char *text;
    int rc;

    if (!s || !ret || !rej || (!payload && len))
        return -EINVAL;
    request_token(payload, len, false, &root, &token, rej, now);
    if (!s->exists) {
        rc = not_found(rej, name, token, now);
        goto done;
    }
    text = finish(json_object(), &s->version, now, token);
    if (!text) {
        rc = -ENOMEM;
        goto done;
    }
    shd_drop_state(s);
    s->exists = false;
    *ret = text;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

