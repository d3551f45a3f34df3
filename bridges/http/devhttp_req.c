/* Device HTTPS bridge, the pure half: everything about a request that can be
 * decided from its bytes. Messages follow Google's ESF wording where the
 * field reports quote it ("The caller does not have permission",
 * "Invalid JSON payload received. Unknown name ..."). */
#include "bridges/http/devhttp_req.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/timeutil.h"

/* ---- status names and the envelope ---- */

const char *devhttp_gstatus_name(enum devhttp_gstatus s)
{
    switch (s) {
    case DEVHTTP_G_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case DEVHTTP_G_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case DEVHTTP_G_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case DEVHTTP_G_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case DEVHTTP_G_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case DEVHTTP_G_NOT_FOUND: return "NOT_FOUND";
    case DEVHTTP_G_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case DEVHTTP_G_INTERNAL: return "INTERNAL";
    case DEVHTTP_G_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case DEVHTTP_G_UNAVAILABLE: return "UNAVAILABLE";
    case DEVHTTP_G_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    }
    return "UNKNOWN";
}

int devhttp_gstatus_http(enum devhttp_gstatus s)
{
    switch (s) {
    case DEVHTTP_G_INVALID_ARGUMENT:
    case DEVHTTP_G_FAILED_PRECONDITION:
    case DEVHTTP_G_OUT_OF_RANGE:
        return 400;
    case DEVHTTP_G_UNAUTHENTICATED: return 401;
    case DEVHTTP_G_PERMISSION_DENIED: return 403;
    case DEVHTTP_G_NOT_FOUND: return 404;
    case DEVHTTP_G_RESOURCE_EXHAUSTED: return 429;
    case DEVHTTP_G_UNIMPLEMENTED: return 501;
    case DEVHTTP_G_UNAVAILABLE: return 503;
    case DEVHTTP_G_DEADLINE_EXCEEDED: return 504;
    case DEVHTTP_G_INTERNAL: break;
    }
    return 500;
}

void devhttp_err_set(struct devhttp_err *err, enum devhttp_gstatus s, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->status = s;
    err->http = devhttp_gstatus_http(s);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* Serializes root (consumed) the way Google's front end did, indented by
 * two (clients do not care, people reading curl output do), plus a
 * newline. */
static int dump_reply(json_t *root, char **ret, size_t *ret_len)
{
    char *text, *grown;
    size_t n;

    if (!root)
        return -ENOMEM;
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    n = strlen(text);
    grown = realloc(text, n + 2);
    if (!grown) {
        free(text);
        return -ENOMEM;
    }
    grown[n] = '\n';
    grown[n + 1] = '\0';
    *ret = grown;
    *ret_len = n + 1;
    return 0;
}

int devhttp_error_body(const struct devhttp_err *err, char **ret, size_t *ret_len)
{
    char safe[sizeof(err->msg)];
    json_t *msg;

    /* A message cut by vsnprintf can end inside a UTF-8 sequence, which
     * jansson refuses: then every non-ASCII byte becomes '?'. */
    msg = json_string(err->msg);
    if (!msg) {
        size_t i = 0;
        for (; err->msg[i] && i + 1 < sizeof(safe); i++)
            safe[i] = (unsigned char)err->msg[i] < 0x80 ? err->msg[i] : '?';
        safe[i] = '\0';
        msg = json_string(safe);
    }
    return dump_reply(json_pack("{s:{s:i,s:o*,s:s}}", "error", "code", err->http, "message", msg,
                                "status", devhttp_gstatus_name(err->status)),
                      ret, ret_len);
}

/* ---- routes ---- */

/* The next '/'-separated segment of [*p, end), advancing *p past it. */
static bool next_segment(const char **p, const char *end, const char **ret, size_t *ret_len)
{
    const char *s = *p, *slash;

    if (s >= end)
        return false;
    slash = memchr(s, '/', (size_t)(end - s));
    *ret = s;
    *ret_len = slash ? (size_t)(slash - s) : (size_t)(end - s);
    *p = slash ? slash + 1 : end;
    return true;
}

static bool segment_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Copies one id into its reg_google_path field: non-empty, at most 255
 * bytes, no NUL (lws decodes %00 into the path otherwise). */
static bool take_id(const char *s, size_t n, char out[256])
{
    if (n == 0 || n > 255 || memchr(s, '\0', n))
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

int devhttp_parse_path(const char *path, size_t len, struct devhttp_target *ret)
{
    static const char *const keys[4] = { "projects", "locations", "registries", "devices" };
    struct devhttp_target t;
    char *ids[4];
    const char *p = path, *end = path + len, *seg = NULL, *last = NULL;
    size_t seg_len = 0, last_len = 0;
    int w;

    memset(&t, 0, sizeof(t));
    ids[0] = t.names.project;
    ids[1] = t.names.location;
    ids[2] = t.names.registry;
    ids[3] = t.names.device;
    if (!path || len < 4 || memcmp(path, "/v1/", 4) != 0)
        return -ENOENT;
    p += 4;
    for (size_t i = 0; i < 4; i++) {
        if (!next_segment(&p, end, &seg, &seg_len) || !segment_is(seg, seg_len, keys[i]))
            return -ENOENT;
        if (!next_segment(&p, end, &seg, &seg_len))
            return -ENOENT;
        if (i < 3 && !take_id(seg, seg_len, ids[i]))
            return -ENOENT;
    }
    /* seg is now "D:verb" or "D" followed by "/config". */
    if (p < end || path[len - 1] == '/') {
        if (!next_segment(&p, end, &last, &last_len) || p < end ||
            !segment_is(last, last_len, "config") || path[len - 1] == '/')
            return -ENOENT;
        if (!take_id(seg, seg_len, ids[3]))
            return -ENOENT;
        t.route = DEVHTTP_ROUTE_GET_CONFIG;
    } else {
        /* Device ids cannot hold ':' [reference section 0], so the verb
         * starts at the last one. */
        const char *colon = NULL;
        for (size_t i = seg_len; i > 0; i--) {
            if (seg[i - 1] == ':') {
                colon = seg + i - 1;
                break;
            }
        }
        if (!colon)
            return -ENOENT;
        size_t dlen = (size_t)(colon - seg), vlen = seg_len - dlen - 1;
        if (segment_is(colon + 1, vlen, "publishEvent"))
            t.route = DEVHTTP_ROUTE_PUBLISH_EVENT;
        else if (segment_is(colon + 1, vlen, "setState"))
            t.route = DEVHTTP_ROUTE_SET_STATE;
        else
            return -ENOENT;
        if (!take_id(seg, dlen, ids[3]))
            return -ENOENT;
    }
    w = snprintf(t.client_id, sizeof(t.client_id), "projects/%s/locations/%s/registries/%s/devices/%s",
                 t.names.project, t.names.location, t.names.registry, t.names.device);
    if (w < 0 || (size_t)w >= sizeof(t.client_id))
        return -ENOENT;
    t.client_id_len = (size_t)w;
    *ret = t;
    return 0;
}

const char *devhttp_route_method(enum devhttp_route r)
{
    return r == DEVHTTP_ROUTE_GET_CONFIG ? "GET" : "POST";
}

const char *devhttp_route_name(enum devhttp_route r)
{
    switch (r) {
    case DEVHTTP_ROUTE_PUBLISH_EVENT: return "publishEvent";
    case DEVHTTP_ROUTE_SET_STATE: return "setState";
    case DEVHTTP_ROUTE_GET_CONFIG: return "getConfig";
    }
    return "unknown";
}

/* ---- Authorization ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int devhttp_bearer(const char *hdr, size_t len, const char **ret_tok, size_t *ret_len)
{
    size_t i = 0, end = len;

    while (i < len && is_blank(hdr[i]))
        i++;
    if (len - i < 7 || strncasecmp(hdr + i, "bearer", 6) != 0 || !is_blank(hdr[i + 6]))
        return -ENOENT;
    i += 7;
    while (i < end && is_blank(hdr[i]))
        i++;
    while (end > i && is_blank(hdr[end - 1]))
        end--;
    if (end == i)
        return -ENOENT;
    *ret_tok = hdr + i;
    *ret_len = end - i;
    return 0;
}

void devhttp_auth_refusal(enum reg_auth_reason r, struct devhttp_err *err)
{
    if (r == REG_AUTH_STORE_ERROR)
        devhttp_err_set(err, DEVHTTP_G_UNAVAILABLE, "The service is currently unavailable.");
    else
        devhttp_err_set(err, DEVHTTP_G_PERMISSION_DENIED, "The caller does not have permission");
}

/* ---- bodies ---- */

void devhttp_event_clear(struct devhttp_event *e)
{
    if (!e)
        return;
    free(e->data);
    free(e->subfolder);
    memset(e, 0, sizeof(*e));
}

void devhttp_state_clear(struct devhttp_state *s)
{
    if (!s)
        return;
    free(s->data);
    memset(s, 0, sizeof(*s));
}

/* A field accepted under its proto name and its lowerCamel JSON name, as
 * Google's transcoding did; the proto name is the one messages quote. */
struct field {
    const char *proto;
    const char *camel;
    json_t *value;          /* borrowed from the parsed document */
};

/* Copies at most max bytes of s into out without splitting a UTF-8
 * sequence, for quoting peer-supplied names in messages. */
static const char *quote_name(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s);

    if (n > cap - 1) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* Binds the members of obj to fields; null members count as absent
 * (proto3). at names the enclosing message for the message, or NULL. */
static int bind_fields(json_t *obj, struct field *f, size_t n, const char *at,
                       struct devhttp_err *err)
{
    const char *key;
    json_t *v;
    char name[72];

    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, f[i].proto) != 0 && strcmp(key, f[i].camel) != 0)
            i++;
        if (i == n) {
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "Invalid JSON payload received. Unknown name \"%s\"%s%s%s: Cannot find field.",
                            quote_name(key, name, 64 + 1), at ? " at '" : "", at ? at : "",
                            at ? "'" : "");
            return -EBADMSG;
        }
        if (json_is_null(v))
            continue;
        if (f[i].value) {
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "Invalid JSON payload received. Duplicate field \"%s\".", f[i].proto);
            return -EBADMSG;
        }
        f[i].value = v;
    }
    return 0;
}

static int load_object(const char *body, size_t len, json_t **ret, struct devhttp_err *err)
{
    json_error_t je;
    json_t *root;

    /* jansson refuses NUL in strings and trailing garbage by default. */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* je.text may quote the input; the position is enough. */
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid JSON payload received. Syntax error at line %d, column %d.",
                        je.line, je.column);
        return -EBADMSG;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid JSON payload received. Expected an object.");
        return -EBADMSG;
    }
    *ret = root;
    return 0;
}

/* ---- gatewayInfo ---- */

const char *devhttp_via_name(enum devhttp_via v)
{
    switch (v) {
    case DEVHTTP_VIA_DELEGATED_DEVICE: return "delegatedDeviceId";
    case DEVHTTP_VIA_GATEWAY: return "gatewayId";
    case DEVHTTP_VIA_NONE: break;
    }
    return "";
}

/* The oneof's members, proto name first (messages quote it). */
static const char *const gw_member_proto[] = {
    [DEVHTTP_VIA_DELEGATED_DEVICE] = "delegated_device_id",
    [DEVHTTP_VIA_GATEWAY] = "gateway_id",
};
static const char *const gw_member_camel[] = {
    [DEVHTTP_VIA_DELEGATED_DEVICE] = "delegatedDeviceId",
    [DEVHTTP_VIA_GATEWAY] = "gatewayId",
};

/* Records one gatewayInfo member. The id names a device of the path's
 * registry, by string id or numId (the admin API's bindDeviceToGateway
 * takes both; so does the path); anything else cannot name a device and
 * is refused here, before the store is asked. */
static int set_gateway(struct devhttp_gateway_info *gi, enum devhttp_via via, const char *s,
                       size_t n, struct devhttp_err *err)
{
    bool digits = n > 0 && n <= 20;
    const char *why = NULL;

    for (size_t i = 0; digits && i < n; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (n == 0 || n >= sizeof(gi->id) || memchr(s, '\0', n)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at 'gateway_info.%s': expected a device id or numeric id.",
                        gw_member_proto[via]);
        return -EBADMSG;
    }
    memcpy(gi->id, s, n);
    gi->id[n] = '\0';
    if (!digits && reg_name_check_id(gi->id, &why) < 0) {
        memset(gi, 0, sizeof(*gi));
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at 'gateway_info.%s': expected a device id or numeric id.",
                        gw_member_proto[via]);
        return -EBADMSG;
    }
    gi->via = via;
    return 0;
}

static int gateway_oneof_conflict(enum devhttp_via second, struct devhttp_err *err)
{
    devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                    "Invalid JSON payload received. Oneof field 'gateway_or_device' is already "
                    "set. Cannot set '%s'.", gw_member_camel[second]);
    return -EBADMSG;
}

/* gatewayInfo from a body: absent, null or {} sets nothing (proto3);
 * otherwise exactly one member of the oneof. ret is cleared first. */
static int take_gateway(json_t *v, struct devhttp_gateway_info *ret, struct devhttp_err *err)
{
    struct field f[] = {
        [DEVHTTP_VIA_NONE] = { "", "", NULL },     /* never matches a JSON key */
        [DEVHTTP_VIA_DELEGATED_DEVICE] = { "delegated_device_id", "delegatedDeviceId", NULL },
        [DEVHTTP_VIA_GATEWAY] = { "gateway_id", "gatewayId", NULL },
    };
    enum devhttp_via via;
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (!v)
        return 0;
    if (!json_is_object(v)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at 'gateway_info' (type.googleapis.com/"
                        "google.cloud.iot.v1.GatewayInfo): expected an object.");
        return -EBADMSG;
    }
    /* f[0] is a placeholder so the indexes are the enum: skip it. */
    rc = bind_fields(v, f + 1, 2, "gateway_info", err);
    if (rc < 0)
        return rc;
    if (f[DEVHTTP_VIA_DELEGATED_DEVICE].value && f[DEVHTTP_VIA_GATEWAY].value)
        return gateway_oneof_conflict(DEVHTTP_VIA_GATEWAY, err);
    via = f[DEVHTTP_VIA_DELEGATED_DEVICE].value ? DEVHTTP_VIA_DELEGATED_DEVICE
          : f[DEVHTTP_VIA_GATEWAY].value       ? DEVHTTP_VIA_GATEWAY
                                               : DEVHTTP_VIA_NONE;
    if (via == DEVHTTP_VIA_NONE)
        return 0;
    if (!json_is_string(f[via].value)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at 'gateway_info.%s' (TYPE_STRING).", gw_member_proto[via]);
        return -EBADMSG;
    }
    return set_gateway(ret, via, json_string_value(f[via].value),
                       json_string_length(f[via].value), err);
}

/* Decodes a proto3 bytes field (v may be NULL: empty) into a fresh buffer
 * of at most limit bytes. what names it in the size message. */
static int take_bytes(const json_t *v, const char *field, size_t limit, const char *what,
                      uint8_t **ret, size_t *ret_len, struct devhttp_err *err)
{
    const char *s = "";
    size_t slen = 0, need, got = 0;
    uint8_t *out;
    int rc;

    if (v && !json_is_string(v)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT, "Invalid value at '%s' (TYPE_BYTES).",
                        field);
        return -EBADMSG;
    }
    if (v) {
        s = json_string_value(v);
        slen = json_string_length(v);
    }
    need = b64_decoded_len(s, slen);
    if (need > limit) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "The %s payload size of %zu bytes exceeds the limit of %zu bytes.", what,
                        need, limit);
        return -EMSGSIZE;
    }
    out = malloc(need ? need : 1);
    if (!out) {
        devhttp_err_set(err, DEVHTTP_G_INTERNAL, "Out of memory.");
        return -ENOMEM;
    }
    rc = b64_decode(s, slen, out, need, &got);
    if (rc < 0) {
        free(out);
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed.", field);
        return -EBADMSG;
    }
    *ret = out;
    *ret_len = got;
    return 0;
}

/* A subfolder becomes upstream topic levels: no wildcards, no NUL or
 * control bytes, at most DEVHTTP_MAX_SUBFOLDER bytes. "" means none. */
static int take_subfolder(const json_t *v, char **ret, struct devhttp_err *err)
{
    const char *s;
    size_t n;

    *ret = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT, "Invalid value at 'sub_folder' (TYPE_STRING).");
        return -EBADMSG;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0)
        return 0;
    if (n > DEVHTTP_MAX_SUBFOLDER) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "The subfolder is longer than %d characters.", DEVHTTP_MAX_SUBFOLDER);
        return -EBADMSG;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '+' || c == '#') {
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "The subfolder may not contain '+', '#' or control characters.");
            return -EBADMSG;
        }
    }
    *ret = strndup(s, n);
    if (!*ret) {
        devhttp_err_set(err, DEVHTTP_G_INTERNAL, "Out of memory.");
        return -ENOMEM;
    }
    return 0;
}

int devhttp_parse_event(const char *body, size_t len, struct devhttp_event *ret,
                        struct devhttp_err *err)
{
    struct field f[] = {
        { "binary_data", "binaryData", NULL },
        { "sub_folder", "subFolder", NULL },
        { "gateway_info", "gatewayInfo", NULL },
    };
    struct devhttp_event e;
    json_t *root = NULL;
    int rc;

    memset(&e, 0, sizeof(e));
    rc = load_object(body, len, &root, err);
    if (rc < 0)
        return rc;
    rc = bind_fields(root, f, 3, NULL, err);
    if (rc == 0)
        rc = take_gateway(f[2].value, &e.gateway, err);
    if (rc == 0)
        rc = take_subfolder(f[1].value, &e.subfolder, err);
    if (rc == 0)
        rc = take_bytes(f[0].value, "binary_data", DEVHTTP_MAX_EVENT, "telemetry", &e.data, &e.len,
                        err);
    json_decref(root);
    if (rc < 0) {
        devhttp_event_clear(&e);
        return rc;
    }
    *ret = e;
    return 0;
}

int devhttp_parse_state(const char *body, size_t len, struct devhttp_state *ret,
                        struct devhttp_err *err)
{
    struct field top[] = {
        { "state", "state", NULL },
        { "gateway_info", "gatewayInfo", NULL },
    };
    struct field inner[] = {
        { "binary_data", "binaryData", NULL },
    };
    struct devhttp_state s;
    json_t *root = NULL;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = load_object(body, len, &root, err);
    if (rc < 0)
        return rc;
    rc = bind_fields(root, top, 2, NULL, err);
    if (rc == 0 && !top[0].value) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid JSON payload received. 'state' is required.");
        rc = -EBADMSG;
    }
    if (rc == 0 && !json_is_object(top[0].value)) {
        devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                        "Invalid value at 'state' (type.googleapis.com/"
                        "google.cloud.iot.v1.DeviceState): expected an object.");
        rc = -EBADMSG;
    }
    if (rc == 0)
        rc = bind_fields(top[0].value, inner, 1, "state", err);
    if (rc == 0)
        rc = take_gateway(top[1].value, &s.gateway, err);
    if (rc == 0)
        rc = take_bytes(inner[0].value, "state.binary_data", DEVHTTP_MAX_STATE, "state", &s.data,
                        &s.len, err);
    json_decref(root);
    if (rc < 0)
        return rc;
    *ret = s;
    return 0;
}

/* ---- getConfig ---- */

/* Strict non-negative decimal int64: digits only, no sign, no overflow. */
static int parse_version(const char *s, size_t n, int64_t *ret)
{
    int64_t v = 0;

    if (n == 0)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EBADMSG;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return -EBADMSG;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

static bool name_starts(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && memcmp(s, prefix, pl) == 0;
}

int devhttp_config_query_add(struct devhttp_config_query *q, const char *arg, size_t len,
                             struct devhttp_err *err)
{
    const char *eq = memchr(arg, '=', len);
    size_t nlen = eq ? (size_t)(eq - arg) : len;
    const char *val = eq ? eq + 1 : arg + len;
    size_t vlen = len - nlen - (eq ? 1 : 0);
    int64_t v;

    if (segment_is(arg, nlen, "localVersion") || segment_is(arg, nlen, "local_version")) {
        if (parse_version(val, vlen, &v) < 0) {
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "Invalid value at 'local_version' (TYPE_INT64): expected a "
                            "non-negative integer.");
            return -EBADMSG;
        }
        if (q->have_version && q->local_version != v) {
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "Conflicting values for 'local_version'.");
            return -EBADMSG;
        }
        q->local_version = v;
        q->have_version = true;
        return 0;
    }
    if (name_starts(arg, nlen, "gatewayInfo.") || name_starts(arg, nlen, "gateway_info.")) {
        /* Google's transcoding bound "gatewayInfo.gatewayId" and friends
         * to the request's GatewayInfo, either spelling per segment. */
        size_t pl = arg[7] == '_' ? strlen("gateway_info.") : strlen("gatewayInfo.");
        const char *member = arg + pl;
        size_t mlen = nlen - pl;
        struct devhttp_gateway_info gi;
        enum devhttp_via via = DEVHTTP_VIA_NONE;
        char raw[72], name[72];

        for (int k = DEVHTTP_VIA_DELEGATED_DEVICE; k <= DEVHTTP_VIA_GATEWAY; k++)
            if (segment_is(member, mlen, gw_member_proto[k]) ||
                segment_is(member, mlen, gw_member_camel[k]))
                via = (enum devhttp_via)k;
        if (via == DEVHTTP_VIA_NONE) {
            size_t shown = nlen < sizeof(raw) - 1 ? nlen : sizeof(raw) - 1;
            memcpy(raw, arg, shown);
            raw[shown] = '\0';
            devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                            "Invalid JSON payload received. Unknown name \"%s\": Cannot bind "
                            "query parameter. Field could not be found in request message.",
                            quote_name(raw, name, 64 + 1));
            return -EBADMSG;
        }
        memset(&gi, 0, sizeof(gi));
        if (set_gateway(&gi, via, val, vlen, err) < 0)
            return -EBADMSG;
        if (q->gateway.via != DEVHTTP_VIA_NONE &&
            (q->gateway.via != via || strcmp(q->gateway.id, gi.id) != 0)) {
            if (q->gateway.via == via) {
                devhttp_err_set(err, DEVHTTP_G_INVALID_ARGUMENT,
                                "Conflicting values for 'gateway_info.%s'.", gw_member_proto[via]);
                return -EBADMSG;
            }
            return gateway_oneof_conflict(via, err);
        }
        q->gateway = gi;
        return 0;
    }
    return 0;
}

int devhttp_config_check(int64_t local_version, int64_t latest, struct devhttp_err *err)
{
    if (local_version <= latest)
        return 0;
    devhttp_err_set(err, DEVHTTP_G_OUT_OF_RANGE,
                    "The local version %lld is greater than the latest configuration version %lld.",
                    (long long)local_version, (long long)latest);
    return -ERANGE;
}

int devhttp_config_body(int64_t version, int64_t cloud_update_us, const uint8_t *data, size_t len,
                        char **ret, size_t *ret_len)
{
    char ver[24], when[40];
    size_t blen = b64_encoded_len(len);
    char *b64 = malloc(blen + 1);
    json_t *root;

    if (!b64)
        return -ENOMEM;
    if (b64_encode(data ? data : (const uint8_t *)"", data ? len : 0, b64, blen + 1) < 0) {
        free(b64);
        return -ENOMEM;
    }
    /* int64 travels as a JSON string in proto3 JSON. */
    snprintf(ver, sizeof(ver), "%lld", (long long)version);
    time_format_rfc3339(cloud_update_us, when, sizeof(when));
    root = json_pack("{s:s,s:s,s:s}", "version", ver, "cloudUpdateTime", when, "binaryData", b64);
    free(b64);
    return dump_reply(root, ret, ret_len);
}

/* ---- upstream ---- */

static int topic_put(char *out, size_t cap, int n)
{
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int devhttp_event_topic(const struct devhttp_ident *id, const char *subfolder, char *out,
                        size_t cap)
{
    size_t sublen = subfolder ? strlen(subfolder) : 0;
    const struct reg_route *rt = NULL;

    if (id->routes)
        rt = reg_registry_event_route(id->routes, sublen ? subfolder : NULL, sublen);
    if (rt)
        return topic_put(out, cap, snprintf(out, cap, "%s%s", id->pubsub_prefix, rt->topic));
    return topic_put(out, cap, snprintf(out, cap, "%s%s/%s/%s/%s/events%s%s", id->google_prefix,
                                        id->project, id->location, id->registry, id->device,
                                        sublen ? "/" : "", sublen ? subfolder : ""));
}

int devhttp_state_topic(const struct devhttp_ident *id, char *out, size_t cap)
{
    if (id->routes && id->routes->has_state_route)
        return topic_put(out, cap, snprintf(out, cap, "%s%s", id->pubsub_prefix,
                                            id->routes->state_route.topic));
    return topic_put(out, cap, snprintf(out, cap, "%s%s/%s/%s/%s/state", id->google_prefix,
                                        id->project, id->location, id->registry, id->device));
}

/* ---- per-device state rate ---- */

#define DEVHTTP_RATE_PROBES 16

int devhttp_rate_init(struct devhttp_rate *r, size_t n_slots, int per_second)
{
    size_t n = 1;

    while (n < n_slots && n < ((size_t)1 << 24))
        n <<= 1;
    r->slots = calloc(n, sizeof(*r->slots));
    if (!r->slots)
        return -ENOMEM;
    r->n = n;
    r->per_second = per_second;
    return 0;
}

void devhttp_rate_free(struct devhttp_rate *r)
{
    if (!r)
        return;
    free(r->slots);
    memset(r, 0, sizeof(*r));
}

bool devhttp_rate_take(struct devhttp_rate *r, int64_t key, int64_t now_ms)
{
    struct devhttp_rate_slot *hit = NULL, *vacant = NULL, *oldest = NULL;
    int64_t full, elapsed;
    uint64_t h;

    if (!r || !r->slots || r->per_second <= 0)
        return true;
    full = (int64_t)r->per_second * 1000;
    h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    for (size_t i = 0; i < DEVHTTP_RATE_PROBES && i < r->n; i++) {
        struct devhttp_rate_slot *s = &r->slots[(h + i) & (r->n - 1)];

        if (s->key == key) {
            hit = s;
            break;
        }
        /* A bucket refills completely within a second: such a slot holds
         * nothing worth keeping. Keep looking for the key, though. */
        if (s->key == 0 || now_ms - s->last_ms >= 1000) {
            if (!vacant)
                vacant = s;
        } else if (!oldest || s->last_ms < oldest->last_ms) {
            oldest = s;
        }
    }
    if (!hit) {
        hit = vacant ? vacant : oldest;
        if (!hit)
            return true;
        hit->key = key;
        hit->last_ms = now_ms;
        hit->milli = full;
    }
    elapsed = now_ms - hit->last_ms;
    if (elapsed < 0)
        elapsed = 0;
    if (elapsed > 1000)
        elapsed = 1000;
    hit->milli += elapsed * r->per_second;
    if (hit->milli > full)
        hit->milli = full;
    hit->last_ms = now_ms;
    if (hit->milli < 1000)
        return false;
    hit->milli -= 1000;
    return true;
}
