/* Every SQL statement the store runs besides the migrations, indexed by
 * enum db_stmt: constant text, values always bound. Kept in one table so the
 * queries can be read against the schema (migrations/) in one place. */
#include "db/db_internal.h"

#define REGISTRY_COLS "pk, project, location, id, extra_json, created_us"
#define DEVICE_COLS                                                                        \
    "pk, registry_pk, id, num_id, blocked, extra_json, created_us, last_heartbeat_us, "    \
    "last_event_us, last_state_us, last_config_ack_us, last_config_send_us, "              \
    "last_error_us, last_error_code, last_error_message"
#define CONFIG_COLS "version, cloud_update_us, device_ack_us, data"
#define STATE_COLS "update_us, data"

const char *const db_stmt_sql[DB_ST__COUNT] = {
    /* BEGIN IMMEDIATE takes the write lock up front: a deferred transaction
     * that reads first and writes later fails at once with SQLITE_BUSY_SNAPSHOT
     * in WAL mode when another connection wrote in between. */
    [DB_ST_BEGIN] = "BEGIN IMMEDIATE",
    [DB_ST_COMMIT] = "COMMIT",
    [DB_ST_ROLLBACK] = "ROLLBACK",
    [DB_ST_SAVEPOINT] = "SAVEPOINT db_op",
    [DB_ST_RELEASE] = "RELEASE db_op",
    [DB_ST_ROLLBACK_TO] = "ROLLBACK TO db_op",
    [DB_ST_USER_VERSION] = "PRAGMA user_version",

    [DB_ST_REG_INSERT] = "INSERT INTO registries (project, location, id, extra_json, created_us) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)",
    [DB_ST_REG_GET] = "SELECT " REGISTRY_COLS " FROM registries "
                      "WHERE project = ?1 AND location = ?2 AND id = ?3",
    [DB_ST_REG_GET_PK] = "SELECT " REGISTRY_COLS " FROM registries WHERE pk = ?1",
    [DB_ST_REG_UPDATE_EXTRA] = "UPDATE registries SET extra_json = ?2 WHERE pk = ?1",
    [DB_ST_REG_HAS_DEVICES] = "SELECT EXISTS (SELECT 1 FROM devices WHERE registry_pk = ?1)",
    [DB_ST_REG_DELETE] = "DELETE FROM registries WHERE pk = ?1",
    [DB_ST_REG_LIST] = "SELECT " REGISTRY_COLS " FROM registries "
                       "WHERE project = ?1 AND location = ?2 AND pk > ?3 ORDER BY pk LIMIT ?4",

    [DB_ST_DEV_INSERT] = "INSERT INTO devices (registry_pk, id, num_id, blocked, extra_json, "
                         "created_us, last_heartbeat_us, last_event_us, last_state_us, "
                         "last_config_ack_us, last_config_send_us, last_error_us, "
                         "last_error_code, last_error_message) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [DB_ST_DEV_EXISTS] = "SELECT 1 FROM devices WHERE pk = ?1",
    [DB_ST_DEV_EXISTS_ID] = "SELECT 1 FROM devices WHERE registry_pk = ?1 AND id = ?2",
    [DB_ST_DEV_GET_ID] = "SELECT " DEVICE_COLS " FROM devices WHERE registry_pk = ?1 AND id = ?2",
    [DB_ST_DEV_GET_NUM] = "SELECT " DEVICE_COLS " FROM devices "
                          "WHERE num_id = ?1 AND (?2 = 0 OR registry_pk = ?2)",
    [DB_ST_DEV_GET_PK] = "SELECT " DEVICE_COLS " FROM devices WHERE pk = ?1",
    [DB_ST_DEV_UPDATE] = "UPDATE devices SET blocked = ?2, extra_json = ?3 WHERE pk = ?1",
    [DB_ST_DEV_DELETE] = "DELETE FROM devices WHERE pk = ?1",
    [DB_ST_DEV_LIST] = "SELECT " DEVICE_COLS " FROM devices "
                       "WHERE registry_pk = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
    [DB_ST_DEV_COUNT] = "SELECT count(*) FROM devices WHERE registry_pk = ?1",
    [DB_ST_DEV_SET_ERROR] = "UPDATE devices SET last_error_us = ?2, last_error_code = ?3, "
                            "last_error_message = ?4 WHERE pk = ?1",
    [DB_ST_MARK_HEARTBEAT] = "UPDATE devices SET last_heartbeat_us = ?2 WHERE pk = ?1",
    [DB_ST_MARK_EVENT] = "UPDATE devices SET last_event_us = ?2 WHERE pk = ?1",
    [DB_ST_MARK_STATE] = "UPDATE devices SET last_state_us = ?2 WHERE pk = ?1",
    [DB_ST_MARK_CONFIG_ACK] = "UPDATE devices SET last_config_ack_us = ?2 WHERE pk = ?1",
    [DB_ST_MARK_CONFIG_SEND] = "UPDATE devices SET last_config_send_us = ?2 WHERE pk = ?1",

    [DB_ST_CRED_DELETE] = "DELETE FROM credentials WHERE device_pk = ?1",
    [DB_ST_CRED_INSERT] = "INSERT INTO credentials (device_pk, position, format, key_pem, "
                          "expiration_us) VALUES (?1, ?2, ?3, ?4, ?5)",
    [DB_ST_CRED_LIST] = "SELECT format, key_pem, expiration_us FROM credentials "
                        "WHERE device_pk = ?1 ORDER BY position LIMIT ?2",

    [DB_ST_CFG_MAX] = "SELECT max(version) FROM device_configs WHERE device_pk = ?1",
    [DB_ST_CFG_INSERT] = "INSERT INTO device_configs (device_pk, version, cloud_update_us, "
                         "device_ack_us, data) VALUES (?1, ?2, ?3, 0, ?4)",
    [DB_ST_CFG_TRIM] = "DELETE FROM device_configs WHERE device_pk = ?1 AND version <= ?2",
    [DB_ST_CFG_LATEST] = "SELECT " CONFIG_COLS " FROM device_configs "
                         "WHERE device_pk = ?1 ORDER BY version DESC LIMIT 1",
    [DB_ST_CFG_GET] = "SELECT " CONFIG_COLS " FROM device_configs "
                      "WHERE device_pk = ?1 AND version = ?2",
    [DB_ST_CFG_ACK] = "UPDATE device_configs SET device_ack_us = ?3 "
                      "WHERE device_pk = ?1 AND version = ?2",
    [DB_ST_CFG_LIST] = "SELECT " CONFIG_COLS " FROM device_configs "
                       "WHERE device_pk = ?1 ORDER BY version DESC LIMIT ?2",

    [DB_ST_STATE_INSERT] = "INSERT INTO device_states (device_pk, update_us, data) "
                           "VALUES (?1, ?2, ?3)",
    /* Deletes the (?2+1)-th newest and everything older; with fewer rows the
     * subquery is NULL and nothing matches. */
    [DB_ST_STATE_TRIM] = "DELETE FROM device_states WHERE device_pk = ?1 AND pk <= "
                         "(SELECT pk FROM device_states WHERE device_pk = ?1 "
                         "ORDER BY pk DESC LIMIT 1 OFFSET ?2)",
    [DB_ST_STATE_LATEST] = "SELECT " STATE_COLS " FROM device_states "
                           "WHERE device_pk = ?1 ORDER BY pk DESC LIMIT 1",
    [DB_ST_STATE_LIST] = "SELECT " STATE_COLS " FROM device_states "
                         "WHERE device_pk = ?1 ORDER BY pk DESC LIMIT ?2",

    [DB_ST_BIND_INSERT] = "INSERT INTO gateway_bindings (gateway_pk, device_pk, created_us) "
                          "VALUES (?1, ?2, ?3)",
    [DB_ST_BIND_DELETE] = "DELETE FROM gateway_bindings WHERE gateway_pk = ?1 AND device_pk = ?2",
    [DB_ST_BIND_EXISTS] = "SELECT count(*) FROM gateway_bindings "
                          "WHERE gateway_pk = ?1 AND device_pk = ?2",
    [DB_ST_BIND_COUNT] = "SELECT count(*) FROM gateway_bindings "
                         "WHERE gateway_pk = ?1 OR device_pk = ?1",
    [DB_ST_BIND_LIST_DEVICES] = "SELECT device_pk FROM gateway_bindings "
                                "WHERE gateway_pk = ?1 AND device_pk > ?2 "
                                "ORDER BY device_pk LIMIT ?3",
    [DB_ST_BIND_LIST_GATEWAYS] = "SELECT gateway_pk FROM gateway_bindings "
                                 "WHERE device_pk = ?1 AND gateway_pk > ?2 "
                                 "ORDER BY gateway_pk LIMIT ?3",
};
