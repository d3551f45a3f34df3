/* The hub: every live session (for shutdown and counts), the map of
 * authenticated Google sessions by device rowid (one connection per
 * device), the statistics, and the live effects the admin API asks for on
 * Google devices (a device changed, blocked or deleted; would a command
 * reach it). AWS sessions have their own map in session_aws.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/session_internal.h"
#include "common/timeutil.h"
#include "db/db.h"
#include "registry/reg_device_auth.h"

int sess_hub_new(const struct sess_config *cfg, struct db *db, struct lws_vhost *upstream_vh,
                 struct sess_hub **ret)
{
    struct sess_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->cfg = *cfg;
    h->aws_env.region = h->cfg.aws_region;
    h->aws_env.account = h->cfg.aws_account;
    h->db = db;
    h->upstream_vh = upstream_vh;
    *ret = h;
    return 0;
}

void sess_hub_free(struct sess_hub *hub)
{
    if (!hub)
        return;
    free(hub->all);
    free(hub);
}

const struct sess_stats *sess_hub_stats(const struct sess_hub *hub)
{
    return &hub->stats;
}

size_t sess_hub_count(const struct sess_hub *hub)
{
    return hub->n_all;
}

static size_t bucket_of(int64_t rowid)
{
    return (size_t)((uint64_t)rowid * 0x9E3779B97F4A7C15ull >> 52) % HUB_BUCKETS;
}

struct sess *sess_hub_find(struct sess_hub *h, int64_t rowid)
{
    for (struct sess *s = h->buckets[bucket_of(rowid)]; s; s = s->hub_next)
        if (s->auth.device.rowid == rowid)
            return s;
    return NULL;
}

void sess_hub_insert(struct sess_hub *h, struct sess *s)
{
    if (s->pers == SESS_AWS) {
        sess_hub_insert_aws(h, s);
        return;
    }
    size_t b = bucket_of(s->auth.device.rowid);
    s->hub_next = h->buckets[b];
    h->buckets[b] = s;
    s->in_hub = true;
}

void sess_hub_remove(struct sess_hub *h, struct sess *s)
{
    if (!s->in_hub)
        return;
    if (s->pers == SESS_AWS) {
        sess_hub_remove_aws(h, s);
        return;
    }
    for (struct sess **pp = &h->buckets[bucket_of(s->auth.device.rowid)]; *pp; pp = &(*pp)->hub_next) {
        if (*pp == s) {
            *pp = s->hub_next;
            break;
        }
    }
    s->in_hub = false;
}

/* Every live session sits in hub->all at s->all_index (O(1) removal). */
int sess_hub_track(struct sess_hub *h, struct sess *s)
{
    if (h->n_all == h->all_cap) {
        size_t ncap = h->all_cap ? h->all_cap * 2 : 64;
        struct sess **n = realloc(h->all, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        h->all = n;
        h->all_cap = ncap;
    }
    s->all_index = h->n_all;
    h->all[h->n_all++] = s;
    return 0;
}

void sess_hub_untrack(struct sess_hub *h, struct sess *s)
{
    size_t i = s->all_index;
    if (i >= h->n_all || h->all[i] != s)
        return;
    h->all[i] = h->all[--h->n_all];
    h->all[i]->all_index = i;
}

int sess_hub_device_changed(struct sess_hub *hub, int64_t device_rowid, bool deleted)
{
    struct sess *s = sess_hub_find(hub, device_rowid);
    if (!s) {
        /* A device attached through a gateway: detach it when it is gone or
         * blocked; its credentials do not matter to the gateway's session. */
        struct db_device d;
        memset(&d, 0, sizeof(d));
        int r = deleted ? -ENOENT : db_device_get_by_rowid(hub->db, device_rowid, &d);
        if (r == -ENOENT || (r >= 0 && d.blocked))
            sess_gateway_forget(hub, device_rowid);
        if (r >= 0)
            db_device_clear(&d);
        return 0;
    }
    if (deleted) {
        sess_close(s, "device deleted");
        return 1;
    }
    struct db_device d;
    memset(&d, 0, sizeof(d));
    int r = db_device_get_by_id(hub->db, s->auth.registry.rowid, s->auth.device.id, &d);
    if (r == -ENOENT || (r >= 0 && d.blocked)) {
        if (r >= 0)
            db_device_clear(&d);
        sess_close(s, r == -ENOENT ? "device deleted" : "device blocked");
        return 1;
    }
    if (r >= 0)
        db_device_clear(&d);
    /* Removing (or expiring) the credential the session authenticated with
     * ends it, even when the device keeps other keys. */
    int live = reg_credential_still_live(hub->db, device_rowid, s->auth.credential_digest,
                                         time_now_unix());
    if (live == 0) {
        sess_close(s, "credential removed");
        return 1;
    }
    return 0;
}

int sess_hub_command_target(struct sess_hub *hub, int64_t device_rowid, const char *subfolder)
{
    struct sess *s = sess_hub_reach(hub, device_rowid);
    char topic[1400];
    const char *id = NULL;

    if (!s || s->state != SESS_ACTIVE)
        return -ENOTCONN;
    if (s->auth.device.rowid == device_rowid)
        id = s->auth.device.id;
    for (size_t i = 0; !id && i < s->n_attached; i++)
        if (s->attached[i].rowid == device_rowid)
            id = s->attached[i].id;
    if (!id)
        return -ENOTCONN;
    int n = snprintf(topic, sizeof(topic), "/devices/%s/commands%s%s", id,
                     subfolder && *subfolder ? "/" : "", subfolder ? subfolder : "");
    if (n < 0 || (size_t)n >= sizeof(topic))
        return -ENOENT;
    const struct sub_entry *sub = sess_sub_match(s, topic, (size_t)n);
    /* Subscribed means the broker has the subscription: until its SUBACK
     * (which the device's own SUBACK waits for) a command would be lost. */
    return sub && sub->kind == GOOGLE_SUB_COMMANDS && sub->upstream_pid == 0 ? 0 : -ENOENT;
}

void sess_hub_close_all(struct sess_hub *hub)
{
    /* sess_close does not free (the transport's close callback does), so
     * the array is stable while we walk it. */
    for (size_t i = 0; i < hub->n_all; i++)
        sess_close(hub->all[i], "daemon shutting down");
}
