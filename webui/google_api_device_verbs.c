/* Google's custom methods on one device: modifyCloudToDeviceConfig (a new
 * config version, pushed to a connected, subscribed device through the
 * config_updated hook) and sendCommandToDevice (published on the service
 * link to the device's commands topic upstream, whose per-device session
 * delivers it; the reply waits for the broker's PUBACK). */
#include "webui/google_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Google allowed one config update per second per device (reference 1.7).
 * Enforced over a sliding window from the versions the store keeps: at
 * most CONFIG_BURST versions in CONFIG_BURST seconds, so the sustained rate
 * is Google's while a create followed by two quick updates (what a
 * provisioning script does) passes. Kept in the store, it holds across
 * restarts and across daemons sharing one registry. */
#define CONFIG_BURST 3

/* ---- modifyCloudToDeviceConfig ---- */

struct config_write {
    int64_t device_rowid;
    const struct api_config_in *in;
    int64_t latest_version;
    int64_t times[CONFIG_BURST];    /* cloudUpdateTime of the newest versions, newest first */
    int n;
    int64_t version;            /* the version written */
};

static int collect_latest(const struct db_config *c, void *ud)
{
    struct config_write *w = ud;

    if (w->n == 0)
        w->latest_version = c->version;
    w->times[w->n++] = c->cloud_update_us;
    return w->n == CONFIG_BURST;
}

static int add_config(const struct api_env *env, void *ctx, struct api_response *resp)
{
    struct config_write *w = ctx;
    int64_t expect = w->in->version_to_update;
    int rc = db_config_list(env->db, w->device_rowid, CONFIG_BURST, collect_latest, w);

    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "config list");
        return rc;
    }
    /* Optimistic concurrency first: a stale writer learns that, not that
     * it was too fast. The reference recommends FAILED_PRECONDITION. */
    if (expect != 0 && expect != w->latest_version) {
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The config version to update (%lld) is not the latest version (%lld).",
                         (long long)expect, (long long)w->latest_version);
        return -ESTALE;
    }
    if (w->n == CONFIG_BURST && w->times[CONFIG_BURST - 1] > env->now_us - CONFIG_BURST * 1000000LL) {
        api_google_error(resp, API_G_RESOURCE_EXHAUSTED,
                         "Rate limit exceeded: a device's configuration can be updated at most "
                         "once per second.");
        return -EAGAIN;
    }
    rc = db_config_add(env->db, w->device_rowid, expect, w->in->data, w->in->len, env->now_us,
                       &w->version);
    if (rc == -ESTALE) {
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "The config version to update (%lld) is not the latest version.",
                         (long long)expect);
    } else if (rc < 0) {
        api_g_db_failure(env, resp, rc, "config add");
    }
    return rc;
}

int api_g_device_modify_config(const struct api_env *env, const struct api_g_route *rt,
                               const struct api_request *req, struct api_response *resp)
{
    struct api_config_in in;
    struct api_g_target t;
    struct config_write w;
    struct db_config stored;
    struct api_err err;
    int rc;

    memset(&in, 0, sizeof(in));
    memset(&w, 0, sizeof(w));
    memset(&stored, 0, sizeof(stored));
    if (api_g_resolve(env, rt, true, &t, resp) < 0)
        goto out;
    rc = api_google_config_parse(req->body, req->body_len, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    w.device_rowid = t.dev.rowid;
    w.in = &in;
    if (api_g_in_transaction(env, resp, add_config, &w) < 0)
        goto out;
    log_info("admin: config version %lld of %s/devices/%s (%zu bytes)", (long long)w.version,
             t.name, t.dev.id, in.len);
    /* Committed: a connected, subscribed device gets it now (and, at QoS
     * 1, until it acknowledges) [google-iot-core.md 1.5]. */
    if (env->config_updated)
        env->config_updated(env->ud, t.dev.rowid);
    rc = db_config_get(env->db, t.dev.rowid, w.version, &stored);
    if (rc < 0) {
        api_g_db_failure(env, resp, rc, "config read");
        goto out;
    }
    api_g_reply_json_take(resp, api_google_config_json(&stored));
    db_config_clear(&stored);
out:
    api_config_in_clear(&in);
    api_g_target_clear(&t);
    return 0;
}

/* ---- sendCommandToDevice ---- */

static void command_finish(struct api_response *resp, int err, void *ctx)
{
    (void)ctx;
    if (err == 0)
        api_g_reply_empty(resp);
    else if (err == -ETIMEDOUT)
        api_google_error(resp, API_G_DEADLINE_EXCEEDED,
                         "The command was not acknowledged by the broker in time; it may or may "
                         "not have been delivered.");
    else
        api_google_error(resp, API_G_UNAVAILABLE,
                         "The command could not be delivered: the broker link is down. Retry "
                         "later.");
}

/* The upstream topic the device's own session is subscribed to:
 * {google_prefix}P/L/R/D/commands[/SUBFOLDER] (DESIGN.md topic namespace). */
static int command_topic(const struct api_env *env, const struct api_g_target *t,
                         const char *subfolder, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s/%s/%s/%s/commands%s%s",
                     env->google_prefix ? env->google_prefix : "", t->reg.project,
                     t->reg.location, t->reg.id, t->dev.id, subfolder[0] ? "/" : "", subfolder);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Google's check before sending: the device is connected and subscribed to
 * a commands topic the subfolder matches [DOC commands page; the text
 * quoted by Google's Go sample test]. */
static int check_target(const struct api_env *env, const struct api_g_target *t,
                        const char *subfolder, struct api_response *resp)
{
    int rc = env->command_target(env->ud, t->dev.rowid, subfolder);

    if (rc == -ENOTCONN)
        api_google_error(resp, API_G_FAILED_PRECONDITION, "Device `%s` is not connected.",
                         t->dev.id);
    else if (rc == -ENOENT)
        api_google_error(resp, API_G_FAILED_PRECONDITION,
                         "Device `%s` is not subscribed to the commands topic.", t->dev.id);
    else if (rc < 0)
        api_google_error(resp, API_G_UNAVAILABLE, "The device bridge cannot take commands now.");
    return rc < 0 ? rc : 0;
}

int api_g_device_send_command(const struct api_env *env, const struct api_g_route *rt,
                              const struct api_request *req, struct api_response *resp)
{
    struct api_command_in in;
    struct api_g_target t;
    struct api_err err;
    char topic[1400];
    int rc;

    memset(&in, 0, sizeof(in));
    if (api_g_resolve(env, rt, true, &t, resp) < 0)
        goto out;
    rc = api_google_command_parse(req->body, req->body_len, &in, &err);
    if (rc < 0) {
        api_g_parse_failure(resp, rc, &err);
        goto out;
    }
    if (!env->command_target || !env->publish || !env->deferred) {
        api_google_error(resp, API_G_UNAVAILABLE, "Commands are not available: no device bridge.");
        goto out;
    }
    if (check_target(env, &t, in.subfolder, resp) < 0)
        goto out;
    if (command_topic(env, &t, in.subfolder, topic, sizeof(topic)) < 0) {
        api_google_error(resp, API_G_INVALID_ARGUMENT, "subfolder: the command topic is too long.");
        goto out;
    }
    /* QoS 1: the reply waits for the broker's PUBACK, so a 200 means the
     * broker has the command for the device's session. */
    api_defer(env->deferred, command_finish, NULL, NULL, env->publish_cancel, env->ud);
    rc = env->publish(env->ud, topic, in.data, in.len, 1, api_deferred_done, env->deferred);
    if (rc < 0) {
        api_defer_abort(env->deferred);
        command_finish(resp, rc, NULL);
        goto out;
    }
    if (LOG_LVL_DEBUG <= log_current_level) {
        char sub[API_G_MAX_SUBFOLDER * 4 + 1];
        log_debug("admin: command for %s/devices/%s (%zu bytes, subfolder \"%s\")", t.name,
                  t.dev.id, in.len, log_escape(sub, sizeof(sub), in.subfolder,
                                               strlen(in.subfolder)));
    }
out:
    api_command_in_clear(&in);
    api_g_target_clear(&t);
    return 0;
}
