/* The admin HTTP server: lws HTTP protocol handler, Bearer-token auth,
 * routing to the API modules, /healthz and /metrics. One instance per
 * process (the daemon calls webui_init once before creating the vhost). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct lws_protocols;

enum webui_change {
    WEBUI_DEVICE_CHANGED = 1,   /* blocked or credentials changed: recheck live sessions */
    WEBUI_DEVICE_DELETED = 2,
    WEBUI_REGISTRY_CHANGED = 3,
    /* AWS: a certificate's status changed or it was deleted (rowid = the
     * certificate's db rowid): its sessions recheck and close unless ACTIVE. */
    WEBUI_AWS_CERT_CHANGED = 4,
    /* AWS: a policy, a policy version, a policy attachment or a thing
     * principal changed (rowid 0): every AWS session recompiles its
     * policies, and closes when iot:Connect is no longer allowed. */
    WEBUI_AWS_POLICIES_CHANGED = 5,
};

/* An AWS access key for SigV4 (admin.aws_keys, or the generated one). */
struct webui_aws_key {
    const char *id;
    const char *secret;
};

struct reg_shadow_reply;

/* One retained message of the broker, topic relative to the AWS prefix
 * (GetRetainedMessage, ListRetainedMessages). Borrowed for the call. */
struct api_retained {
    const char *topic;
    const void *payload;
    size_t len;
    int qos;
};

struct webui_options {
    struct db *db;                      /* borrowed */
    const char *const *tokens;          /* admin bearer tokens (n_tokens; webui_init copies them) */
    size_t n_tokens;
    size_t http_max_body;
    bool metrics_public;
    /* Live effects: called after a committed change (may be NULL). */
    void (*on_change)(void *ud, enum webui_change what, int64_t rowid);
    /* Prometheus text for /metrics; *ret is malloc'd (may be NULL). */
    int (*render_metrics)(void *ud, char **ret);

    /* Live hooks into the device bridges (each may be NULL = not available). */
    /* A new config version of the device was committed: push it to a
     * connected, subscribed device (modifyCloudToDeviceConfig). */
    int (*config_updated)(void *ud, int64_t device_rowid);
    /* Would a command reach the device? 0 yes, -ENOTCONN not connected,
     * -ENOENT not subscribed to a matching commands topic. */
    int (*command_target)(void *ud, int64_t device_rowid, const char *subfolder);
    /* Publishes on the daemon's service link; done(req, err) runs later,
     * exactly once, unless publish_cancel(req) came first (err 0: the broker
     * acknowledged a QoS 1 message). Returns 0, or -ENOTCONN/-EAGAIN at once
     * (done not called). */
    int (*publish)(void *ud, const char *topic, const void *data, size_t len, int qos,
                   void (*done)(void *req, int err), void *req);
    void (*publish_cancel)(void *ud, void *req);
    const char *google_prefix;          /* upstream topic prefix, e.g. "google/" (copied) */
    /* AWS data plane (each may be NULL: answered 503). aws_shadow serves a
     * Device Shadow request (op: enum reg_shadow_op; rest: the REST
     * publishing rules of registry/reg_aws_shadow.h); aws_publish publishes
     * a device topic (mapped under the AWS prefix by the daemon), done as
     * for publish. */
    int (*aws_shadow)(void *ud, const char *thing, const char *shadow, int op, const void *payload,
                      size_t len, bool rest, struct reg_shadow_reply *out);
    int (*aws_publish)(void *ud, const char *topic, const void *data, size_t len, int qos,
                       bool retain, void (*done)(void *req, int err), void *req);
    /* Reads the broker's retained messages under a device topic filter
     * (mapped under the AWS prefix); done(req, err, msgs, n) runs later,
     * once, unless aws_retained_cancel(req) came first. Returns 0, or a
     * negative errno at once (done not called). */
    int (*aws_retained)(void *ud, const char *filter,
                        void (*done)(void *req, int err, const struct api_retained *msgs, size_t n),
                        void *req);
    void (*aws_retained_cancel)(void *ud, void *req);

    /* AWS control plane (strings copied by webui_init). */
    const struct webui_aws_key *aws_keys;   /* SigV4 keys, n_aws_keys of them */
    size_t n_aws_keys;
    const char *aws_account_id;         /* aws.account_id */
    const char *aws_region;             /* aws.region */
    const char *aws_endpoint;           /* aws.endpoint (DescribeEndpoint's answer) */
    const char *ca_cert_path;           /* the daemon's CA, which issues device certificates */
    const char *ca_key_path;

    void *ud;
};

/* Copies the options, the token strings included (the caller's array may
 * go away); db and ud stay borrowed. http_max_body 0 means 1 MiB. May be
 * called again to replace them. Returns 0, -EINVAL (no db, or tokens NULL
 * with n_tokens > 0), -ENOMEM. */
int webui_init(const struct webui_options *o);
/* Wipes and frees the token copies; requests arriving afterwards get 503.
 * Call after the lws context is destroyed. */
void webui_fini(void);
/* Protocol list for the admin vhost (terminated by an all-NULL entry). */
const struct lws_protocols *webui_admin_protocols(void);
