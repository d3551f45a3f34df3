/* The store: the only code that speaks SQL (sqlite3.h is included only in
 * db/). One SQLite file in WAL mode with synchronous=NORMAL, numbered
 * migrations (db/migrations/NNNN_name.sql, embedded at build time) applied at
 * open by PRAGMA user_version, prepared statements only, one writer (the
 * event loop). Typed db_* functions; a later PostgreSQL backend must fit
 * behind the same functions.
 * Returns: >= 0 success; -ENOENT not found; -EEXIST unique constraint;
 * -ENOTEMPTY (registry still has devices); -E2BIG (too many credentials);
 * -EIO any other SQLite failure (the caller logs db_last_error()).
 * Timestamps are microseconds since the Unix epoch; 0 means never. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ID_MAX 256               /* registry/device/project/location ids: 255 chars + NUL */
#define DB_MAX_CREDENTIALS 3        /* Google: at most 3 per device */
#define DB_CONFIG_VERSIONS_KEPT 10  /* Google kept the last 10 config versions and 10 states */

struct db;

/* Opens (creating if missing) and migrates. */
int db_open(const char *path, struct db **ret);
/* Flushes pending marks, finalizes statements, closes. NULL-safe. */
void db_close(struct db *db);
/* Message of the last SQLite error on this handle, for the caller's log line. */
const char *db_last_error(struct db *db);
/* Current schema version (PRAGMA user_version), for tests and --version. */
int db_schema_version(struct db *db);

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

int db_registry_insert(struct db *db, struct db_registry *r);  /* sets r->rowid; -EEXIST */
int db_registry_get(struct db *db, const char *project, const char *location, const char *id,
                    struct db_registry *ret);
int db_registry_update_extra(struct db *db, int64_t rowid, const char *extra_json);
int db_registry_delete(struct db *db, int64_t rowid);          /* -ENOTEMPTY while it has devices */
/* Lists registries of project/location with rowid > after_rowid, ordered by
 * rowid, at most limit; calls cb for each (return nonzero from cb to stop). */
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
 * d->rowid and d->num_id. -EEXIST if the id exists in the registry. */
int db_device_insert(struct db *db, struct db_device *d);
int db_device_get_by_id(struct db *db, int64_t registry_rowid, const char *id, struct db_device *ret);
int db_device_get_by_num_id(struct db *db, int64_t registry_rowid, uint64_t num_id,
                            struct db_device *ret);
int db_device_update(struct db *db, const struct db_device *d);  /* blocked, extra_json */
/* Deletes the device with its credentials, configs and states. */
int db_device_delete(struct db *db, int64_t rowid);
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
 * device and field win. -ENOMEM if the pending table cannot grow. */
int db_device_mark(struct db *db, int64_t device_rowid, enum db_mark which, int64_t when_us);
int db_flush_marks(struct db *db);
/* Written at once (rare): lastErrorTime/lastErrorStatus. */
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
 * -E2BIG if n > DB_MAX_CREDENTIALS. */
int db_credential_replace(struct db *db, int64_t device_rowid, const struct db_credential *creds,
                          size_t n);
/* Fills ret[0..*ret_n) in position order; the caller clears each. */
int db_credential_list(struct db *db, int64_t device_rowid,
                       struct db_credential ret[DB_MAX_CREDENTIALS], size_t *ret_n);

/* ---- config versions and states (room for the Google issue) ---- */
struct db_config {
    int64_t version;                 /* from 1 */
    int64_t cloud_update_us;
    int64_t device_ack_us;
    uint8_t *data;                   /* owned */
    size_t len;
};
void db_config_clear(struct db_config *c);
int db_config_latest(struct db *db, int64_t device_rowid, struct db_config *ret);
/* Adds version latest+1 (keeps the last DB_CONFIG_VERSIONS_KEPT). If
 * expect_version != 0 and differs from the latest: -ESTALE. Sets *ret_version. */
int db_config_add(struct db *db, int64_t device_rowid, int64_t expect_version, const void *data,
                  size_t len, int64_t now_us, int64_t *ret_version);
int db_config_ack(struct db *db, int64_t device_rowid, int64_t version, int64_t now_us);

struct db_state {
    int64_t update_us;
    uint8_t *data;                   /* owned */
    size_t len;
};
void db_state_clear(struct db_state *s);
/* Keeps the last DB_CONFIG_VERSIONS_KEPT states. */
int db_state_add(struct db *db, int64_t device_rowid, const void *data, size_t len, int64_t now_us);
int db_state_latest(struct db *db, int64_t device_rowid, struct db_state *ret);

/* Looks a device up by the names a Google client id carries. device may be
 * the string id or the decimal num_id. Fills both structs. */
int db_device_lookup(struct db *db, const char *project, const char *location,
                     const char *registry, const char *device, struct db_registry *ret_reg,
                     struct db_device *ret_dev);
