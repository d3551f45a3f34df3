/* The store: the only code that speaks SQL (sqlite3.h is included only in
 * db/). One SQLite file in WAL mode with synchronous=NORMAL, numbered
 * migrations (db/migrations/NNNN_name.sql, embedded at build time) applied at
 * open by PRAGMA user_version, prepared statements only, one writer (the
 * event loop). Typed db_* functions; a later PostgreSQL backend must fit
 * behind the same functions.
 * Returns: >= 0 success; -ENOENT not found (also: the parent row named by a
 * foreign key does not exist); -EEXIST unique constraint; -ENOTEMPTY
 * (registry still has devices); -E2BIG (too many credentials); -ESTALE
 * (config version mismatch); -EINVAL (bad argument: empty or over-long id,
 * unknown key format); -ENOMEM; -EIO any other SQLite failure (the caller
 * logs db_last_error()).
 * Outputs (ret*) are written only on success. Structs handed back with owned
 * fields are overwritten, not cleared first: clear them before reuse.
 * Timestamps are microseconds since the Unix epoch; 0 means never.
 * A handle is used by one thread at a time (the event loop). List callbacks
 * may call other db_* functions on the same handle. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ID_MAX 256               /* registry/device/project/location ids: 255 chars + NUL */
#define DB_MAX_CREDENTIALS 3        /* Google: at most 3 per device */
#define DB_CONFIG_VERSIONS_KEPT 10  /* Google kept the last 10 config versions and 10 states */

struct db;

/* Opens (creating if missing), switches to WAL and migrates, each pending
 * migration in its own transaction. -EPROTONOSUPPORT if the file's schema is
 * newer than this binary knows (nothing is written then). */
int db_open(const char *path, struct db **ret);
/* The same, writing one line saying why into err on failure (db_last_error
 * cannot help when there is no handle). err may be NULL. */
int db_open_err(const char *path, struct db **ret, char *err, size_t err_len);
/* Flushes pending marks, finalizes statements, closes. NULL-safe. A failed
 * final flush is silent here: call db_flush_marks first to see it. */
void db_close(struct db *db);
/* Message of the last SQLite error on this handle, for the caller's log line. */
const char *db_last_error(struct db *db);
/* Current schema version (PRAGMA user_version), for tests and --version. */
int db_schema_version(struct db *db);
/* Highest migration built into this binary. */
int db_schema_latest(void);

/* Counters for /metrics and tests. */
struct db_stats {
    uint64_t commits;               /* transactions committed on this handle (incl. autocommit) */
    size_t marks_pending;           /* devices with marks not yet flushed */
};
void db_stats(struct db *db, struct db_stats *ret);

/* An explicit transaction (BEGIN IMMEDIATE) around several db_* calls; the
 * functions that write more than one row nest inside it as savepoints.
 * db_begin inside an open transaction: -EBUSY. After a failed db_commit the
 * transaction is still open: call db_rollback. db_rollback without an open
 * transaction returns 0. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* ---- registries ---- */
struct db_registry {
    int64_t rowid;
    char project[DB_ID_MAX];
    char location[DB_ID_MAX];
    char id[DB_ID_MAX];
    /* JSON text (owned, malloc'd, may be NULL) of the API fields stored as-is:
     * eventNotificationConfigs, stateNotificationConfig, mqttConfig,
     * httpConfig, logLevel, credentials. The webui owns their shape. */
    char *extra_json;
    int64_t created_us;
};
void db_registry_clear(struct db_registry *r);   /* frees owned fields */

/* Sets r->rowid, and r->created_us to now when it was 0. -EEXIST. */
int db_registry_insert(struct db *db, struct db_registry *r);
int db_registry_get(struct db *db, const char *project, const char *location, const char *id,
                    struct db_registry *ret);
int db_registry_get_by_rowid(struct db *db, int64_t rowid, struct db_registry *ret);
int db_registry_update_extra(struct db *db, int64_t rowid, const char *extra_json);
int db_registry_delete(struct db *db, int64_t rowid);          /* -ENOTEMPTY while it has devices */
/* Lists registries of project/location with rowid > after_rowid, ordered by
 * rowid, at most limit (<= 0: no limit); calls cb for each with a struct
 * valid only during the call (return nonzero from cb to stop; a negative
 * value is returned as the error). Returns the number of rows passed to cb. */
int db_registry_list(struct db *db, const char *project, const char *location, int64_t after_rowid,
                     int limit, int (*cb)(const struct db_registry *r, void *ud), void *ud);

/* ---- devices ---- */
struct db_device {
    int64_t rowid;
    int64_t registry_rowid;
    char id[DB_ID_MAX];
    uint64_t num_id;                 /* random, unique across the store, never 0 */
    bool blocked;
    /* JSON text (owned, may be NULL): metadata, gatewayConfig, logLevel. */
    char *extra_json;
    int64_t created_us;
    int64_t last_heartbeat_us;
    int64_t last_event_us;
    int64_t last_state_us;
    int64_t last_config_ack_us;
    int64_t last_config_send_us;
    int64_t last_error_us;
    int32_t last_error_code;
    char last_error_message[256];
};
void db_device_clear(struct db_device *d);

/* Inserts the device with a fresh random num_id (retrying on collision) and
 * config version 1 with an empty payload (Google did that at create). Sets
 * d->rowid and d->num_id, and d->created_us to now when it was 0; the other
 * fields (last_* included) are stored as given. -EEXIST if the id exists in
 * the registry; -ENOENT if the registry does not exist. */
int db_device_insert(struct db *db, struct db_device *d);
/* The same with config version 1 holding config[0..config_len) (copied;
 * NULL with 0 = empty): a Device created with a config (Google: the reply
 * shows version 1 with that payload). */
int db_device_insert_config(struct db *db, struct db_device *d, const void *config,
                            size_t config_len);
/* The same with the caller's d->num_id (non-zero), for imports that keep a
 * device's numeric id. -EEXIST if the id or the num_id is taken. */
int db_device_insert_num_id(struct db *db, struct db_device *d);
int db_device_get_by_id(struct db *db, int64_t registry_rowid, const char *id, struct db_device *ret);
/* registry_rowid 0 matches any registry (num_ids are unique store-wide). */
int db_device_get_by_num_id(struct db *db, int64_t registry_rowid, uint64_t num_id,
                            struct db_device *ret);
int db_device_get_by_rowid(struct db *db, int64_t rowid, struct db_device *ret);
int db_device_update(struct db *db, const struct db_device *d);  /* blocked, extra_json */
/* Deletes the device with its credentials, configs and states. */
int db_device_delete(struct db *db, int64_t rowid);
/* As db_registry_list, within one registry. */
int db_device_list(struct db *db, int64_t registry_rowid, int64_t after_rowid, int limit,
                   int (*cb)(const struct db_device *d, void *ud), void *ud);
int db_device_count(struct db *db, int64_t registry_rowid, int64_t *ret);

/* Which device timestamp a mark updates. */
enum db_mark {
    DB_MARK_HEARTBEAT,
    DB_MARK_EVENT,
    DB_MARK_STATE,
    DB_MARK_CONFIG_ACK,
    DB_MARK_CONFIG_SEND,
    DB_MARK__COUNT,
};
/* Records a timestamp in memory; db_flush_marks writes all pending marks in
 * one transaction (the loop calls it once a second). Later marks for the same
 * device and field win. Reads do not see a mark before it is flushed.
 * -ENOMEM if the pending table cannot grow (capped at DB_MARKS_MAX devices,
 * so a store that cannot write does not eat the box); -EINVAL bad field. */
#define DB_MARKS_MAX 1000000
int db_device_mark(struct db *db, int64_t device_rowid, enum db_mark which, int64_t when_us);
/* Returns the number of devices written. Devices deleted meanwhile are
 * skipped. On failure nothing is written and the marks stay pending for the
 * next call. -EBUSY inside an explicit transaction (its rollback would lose
 * marks already taken off the table). */
int db_flush_marks(struct db *db);
/* Written at once (rare): lastErrorTime/lastErrorStatus. The message is cut
 * to fit last_error_message (on a UTF-8 boundary). */
int db_device_set_error(struct db *db, int64_t device_rowid, int64_t when_us, int32_t code,
                        const char *message);

/* ---- credentials ---- */
enum db_key_format {
    DB_KEY_RSA_PEM = 1,
    DB_KEY_RSA_X509_PEM = 2,
    DB_KEY_ES256_PEM = 3,
    DB_KEY_ES256_X509_PEM = 4,
};
struct db_credential {
    enum db_key_format format;
    char *key_pem;                   /* owned: the PEM exactly as submitted */
    int64_t expiration_us;           /* 0 = none */
};
void db_credential_clear(struct db_credential *c);

/* Replaces all credentials of a device (in one transaction with the caller's
 * device write when the caller wrapped both in db_begin/db_commit).
 * -E2BIG if n > DB_MAX_CREDENTIALS; -ENOENT unknown device; -EINVAL unknown
 * format or NULL key_pem. */
int db_credential_replace(struct db *db, int64_t device_rowid, const struct db_credential *creds,
                          size_t n);
/* Fills ret[0..*ret_n) in position order; the caller clears each. An
 * unknown device has no credentials (*ret_n = 0). */
int db_credential_list(struct db *db, int64_t device_rowid,
                       struct db_credential ret[DB_MAX_CREDENTIALS], size_t *ret_n);

/* ---- config versions and states (room for the Google issue) ---- */
struct db_config {
    int64_t version;                 /* from 1 */
    int64_t cloud_update_us;
    int64_t device_ack_us;
    uint8_t *data;                   /* owned, never NULL after a successful read */
    size_t len;
};
void db_config_clear(struct db_config *c);
int db_config_latest(struct db *db, int64_t device_rowid, struct db_config *ret);
int db_config_get(struct db *db, int64_t device_rowid, int64_t version, struct db_config *ret);
/* Newest first, at most limit (<= 0: all kept); cb as in db_registry_list. */
int db_config_list(struct db *db, int64_t device_rowid, int limit,
                   int (*cb)(const struct db_config *c, void *ud), void *ud);
/* Adds version latest+1 (keeps the last DB_CONFIG_VERSIONS_KEPT). If
 * expect_version != 0 and differs from the latest: -ESTALE. Sets *ret_version
 * (may be NULL). -ENOENT unknown device. */
int db_config_add(struct db *db, int64_t device_rowid, int64_t expect_version, const void *data,
                  size_t len, int64_t now_us, int64_t *ret_version);
/* Sets device_ack of that version; -ENOENT if it is not kept. */
int db_config_ack(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us);

struct db_state {
    int64_t update_us;
    uint8_t *data;                   /* owned, never NULL after a successful read */
    size_t len;
};
void db_state_clear(struct db_state *s);
/* Keeps the last DB_CONFIG_VERSIONS_KEPT states ("last" = order of
 * arrival). -ENOENT unknown device. */
int db_state_add(struct db *db, int64_t device_rowid, const void *data, size_t len, int64_t now_us);
int db_state_latest(struct db *db, int64_t device_rowid, struct db_state *ret);
/* Newest first, at most limit (<= 0: all kept); cb as in db_registry_list. */
int db_state_list(struct db *db, int64_t device_rowid, int limit,
                  int (*cb)(const struct db_state *s, void *ud), void *ud);

/* Looks a device up by the names a Google client id carries. device may be
 * the string id or the decimal num_id (tried when no device has that string
 * id, the string is all digits and parses as a uint64). Fills both structs,
 * or neither. */
int db_device_lookup(struct db *db, const char *project, const char *location,
                     const char *registry, const char *device, struct db_registry *ret_reg,
                     struct db_device *ret_dev);

/* Tests only: replaces getrandom() as the num_id source of this handle
 * (fn returns 0 and a value, or a negative errno). NULL restores getrandom. */
void db_set_num_id_source(struct db *db, int (*fn)(void *ud, uint64_t *ret), void *ud);

/* ---- gateway bindings (Google bindDeviceToGateway) ---- */

/* -EEXIST if already bound, -ENOENT if either device does not exist. */
int db_binding_add(struct db *db, int64_t gateway_rowid, int64_t device_rowid, int64_t now_us);
/* -ENOENT if not bound. */
int db_binding_remove(struct db *db, int64_t gateway_rowid, int64_t device_rowid);
/* 1 bound, 0 not, or a negative error. */
int db_binding_exists(struct db *db, int64_t gateway_rowid, int64_t device_rowid);
/* Bindings the device takes part in, as gateway or as device. */
int db_binding_count(struct db *db, int64_t device_rowid, int64_t *ret);
/* The devices bound to a gateway (of_gateway) or the gateways a device is
 * bound to, rowid > after_rowid in order, at most limit (<= 0: all). cb
 * returns nonzero to stop, negative as the error. Returns how many. */
int db_binding_list(struct db *db, int64_t rowid, bool of_gateway, int64_t after_rowid, int limit,
                    int (*cb)(int64_t other_rowid, void *ud), void *ud);
