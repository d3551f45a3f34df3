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

/* The AWS tables (0003). Both certificate tables read into one struct: the
 * columns the other table lacks read as '' and NULL. */
#define AWS_TYPE_COLS "pk, name, type_id, properties_json, deprecated, deprecated_us, created_us"
#define AWS_THING_COLS                                                                     \
    "t.pk, t.name, t.thing_id, coalesce(y.name, ''), t.attributes_json, t.version, "       \
    "t.created_us"
#define AWS_THING_FROM "aws_things t LEFT JOIN aws_thing_types y ON y.pk = t.type_pk"
#define AWS_CERT_COLS                                                                      \
    "pk, cert_id, pem, status, ca_cert_id, mode, '', NULL, not_before_us, not_after_us, "  \
    "created_us, modified_us, generation"
#define AWS_CACERT_COLS                                                                    \
    "pk, cert_id, pem, status, '', mode, auto_registration, registration_config_json, "    \
    "not_before_us, not_after_us, created_us, modified_us, generation"
#define AWS_POLICY_COLS "p.pk, p.name, p.default_version, p.created_us, p.modified_us, p.generation"
#define AWS_PVER_COLS "policy_pk, version, document, created_us"
/* Provisioning templates (0004). */
#define AWS_TMPL_COLS                                                                      \
    "pk, name, template_id, description, enabled, role_arn, type, pre_hook_json, "         \
    "default_version, created_us, modified_us"
#define AWS_TMPL_VER_COLS "template_pk, version, body, created_us"
/* ListThings' attribute filter, off while ?2 (the name) is NULL. The JSON
 * path is built from the bound name, quoted so names with '.' or ':' stay
 * one key (db/ passes only names without '"' or '\'); the prefix match
 * uses substr, not LIKE, so '%' and '_' in a value are plain characters. */
#define AWS_THING_ATTR "json_extract(t.attributes_json, '$.\"' || ?2 || '\"')"
#define AWS_THING_ATTR_MATCH                                                               \
    "(?2 IS NULL OR CASE WHEN ?4 THEN substr(" AWS_THING_ATTR ", 1, length(?3)) = ?3 "     \
    "ELSE " AWS_THING_ATTR " = ?3 END)"

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

    [DB_ST_AWS_TYPE_INSERT] = "INSERT INTO aws_thing_types (name, type_id, properties_json, "
                              "deprecated, deprecated_us, created_us) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [DB_ST_AWS_TYPE_GET] = "SELECT " AWS_TYPE_COLS " FROM aws_thing_types WHERE name = ?1",
    [DB_ST_AWS_TYPE_PK] = "SELECT pk FROM aws_thing_types WHERE name = ?1",
    [DB_ST_AWS_TYPE_UPDATE] = "UPDATE aws_thing_types SET deprecated = ?2, deprecated_us = ?3 "
                              "WHERE pk = ?1",
    [DB_ST_AWS_TYPE_IN_USE] = "SELECT EXISTS (SELECT 1 FROM aws_things WHERE type_pk = ?1)",
    [DB_ST_AWS_TYPE_DELETE] = "DELETE FROM aws_thing_types WHERE pk = ?1",
    [DB_ST_AWS_TYPE_LIST] = "SELECT " AWS_TYPE_COLS " FROM aws_thing_types "
                            "WHERE pk > ?1 ORDER BY pk LIMIT ?2",

    [DB_ST_AWS_THING_INSERT] = "INSERT INTO aws_things (name, thing_id, type_pk, "
                               "attributes_json, version, created_us) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [DB_ST_AWS_THING_GET] = "SELECT " AWS_THING_COLS " FROM " AWS_THING_FROM " WHERE t.name = ?1",
    [DB_ST_AWS_THING_GET_PK] = "SELECT " AWS_THING_COLS " FROM " AWS_THING_FROM
                               " WHERE t.pk = ?1",
    [DB_ST_AWS_THING_UPDATE] = "UPDATE aws_things SET type_pk = ?2, attributes_json = ?3, "
                               "version = ?4 WHERE pk = ?1",
    [DB_ST_AWS_THING_DELETE] = "DELETE FROM aws_things WHERE pk = ?1",
    [DB_ST_AWS_THING_LIST] = "SELECT " AWS_THING_COLS " FROM " AWS_THING_FROM
                             " WHERE t.pk > ?1 AND " AWS_THING_ATTR_MATCH
                             " ORDER BY t.pk LIMIT ?5",
    /* Through aws_things_type, which carries the pk: no sort. */
    [DB_ST_AWS_THING_LIST_TYPE] = "SELECT " AWS_THING_COLS " FROM " AWS_THING_FROM
                                  " WHERE t.type_pk = (SELECT pk FROM aws_thing_types "
                                  "WHERE name = ?6) AND t.pk > ?1 AND " AWS_THING_ATTR_MATCH
                                  " ORDER BY t.pk LIMIT ?5",

    [DB_ST_AWS_CERT_INSERT] = "INSERT INTO aws_certs (cert_id, pem, status, ca_cert_id, mode, "
                              "not_before_us, not_after_us, created_us, modified_us, "
                              "generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [DB_ST_AWS_CERT_GET] = "SELECT " AWS_CERT_COLS " FROM aws_certs WHERE cert_id = ?1",
    [DB_ST_AWS_CERT_SET_STATUS] = "UPDATE aws_certs SET status = ?2, modified_us = ?3, "
                                  "generation = generation + 1 WHERE cert_id = ?1",
    [DB_ST_AWS_CERT_DELETE] = "DELETE FROM aws_certs WHERE cert_id = ?1",
    /* Descending pages bind ?1 = INT64_MAX for "from the start". */
    [DB_ST_AWS_CERT_LIST_ASC] = "SELECT " AWS_CERT_COLS " FROM aws_certs "
                                "WHERE pk > ?1 ORDER BY pk LIMIT ?2",
    [DB_ST_AWS_CERT_LIST_DESC] = "SELECT " AWS_CERT_COLS " FROM aws_certs "
                                 "WHERE pk < ?1 ORDER BY pk DESC LIMIT ?2",
    [DB_ST_AWS_CERT_LIST_CA_ASC] = "SELECT " AWS_CERT_COLS " FROM aws_certs "
                                   "WHERE ca_cert_id = ?3 AND pk > ?1 ORDER BY pk LIMIT ?2",
    [DB_ST_AWS_CERT_LIST_CA_DESC] = "SELECT " AWS_CERT_COLS " FROM aws_certs "
                                    "WHERE ca_cert_id = ?3 AND pk < ?1 "
                                    "ORDER BY pk DESC LIMIT ?2",
    [DB_ST_AWS_CERT_COUNT_CA] = "SELECT count(*) FROM aws_certs WHERE ca_cert_id = ?1",

    [DB_ST_AWS_CACERT_INSERT] = "INSERT INTO aws_ca_certs (cert_id, pem, status, mode, "
                                "auto_registration, registration_config_json, "
                                "not_before_us, not_after_us, created_us, modified_us, "
                                "generation) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [DB_ST_AWS_CACERT_GET] = "SELECT " AWS_CACERT_COLS " FROM aws_ca_certs WHERE cert_id = ?1",
    [DB_ST_AWS_CACERT_UPDATE] = "UPDATE aws_ca_certs SET status = ?2, auto_registration = ?3, "
                                "registration_config_json = ?4, modified_us = ?5, "
                                "generation = generation + 1 WHERE cert_id = ?1",
    [DB_ST_AWS_CACERT_DELETE] = "DELETE FROM aws_ca_certs WHERE cert_id = ?1",
    [DB_ST_AWS_CACERT_LIST_ASC] = "SELECT " AWS_CACERT_COLS " FROM aws_ca_certs "
                                  "WHERE pk > ?1 ORDER BY pk LIMIT ?2",
    [DB_ST_AWS_CACERT_LIST_DESC] = "SELECT " AWS_CACERT_COLS " FROM aws_ca_certs "
                                   "WHERE pk < ?1 ORDER BY pk DESC LIMIT ?2",

    [DB_ST_AWS_POLICY_INSERT] = "INSERT INTO aws_policies (name, default_version, next_version, "
                                "created_us, modified_us, generation) "
                                "VALUES (?1, 1, 2, ?2, ?2, 1)",
    [DB_ST_AWS_POLICY_GET] = "SELECT " AWS_POLICY_COLS " FROM aws_policies p WHERE p.name = ?1",
    /* 1: attached somewhere, 2: versions besides the default, 0: neither. */
    [DB_ST_AWS_POLICY_IN_USE] = "SELECT CASE WHEN EXISTS (SELECT 1 FROM aws_policy_targets "
                                "WHERE policy_pk = ?1) THEN 1 "
                                "WHEN EXISTS (SELECT 1 FROM aws_policy_versions v "
                                "JOIN aws_policies p ON p.pk = v.policy_pk "
                                "WHERE v.policy_pk = ?1 AND v.version <> p.default_version) "
                                "THEN 2 ELSE 0 END",
    [DB_ST_AWS_POLICY_DELETE] = "DELETE FROM aws_policies WHERE pk = ?1",
    [DB_ST_AWS_POLICY_LIST_ASC] = "SELECT " AWS_POLICY_COLS " FROM aws_policies p "
                                  "WHERE p.pk > ?1 ORDER BY p.pk LIMIT ?2",
    [DB_ST_AWS_POLICY_LIST_DESC] = "SELECT " AWS_POLICY_COLS " FROM aws_policies p "
                                   "WHERE p.pk < ?1 ORDER BY p.pk DESC LIMIT ?2",
    [DB_ST_AWS_POLICY_VERSIONS] = "SELECT next_version, default_version, "
                                  "(SELECT count(*) FROM aws_policy_versions "
                                  "WHERE policy_pk = ?1) FROM aws_policies WHERE pk = ?1",
    [DB_ST_AWS_POLICY_ADDED] = "UPDATE aws_policies SET next_version = ?2 + 1, "
                               "default_version = CASE WHEN ?3 THEN ?2 ELSE default_version END, "
                               "modified_us = ?4, generation = generation + 1 WHERE pk = ?1",
    [DB_ST_AWS_POLICY_TOUCH] = "UPDATE aws_policies SET modified_us = ?2, "
                               "generation = generation + 1 WHERE pk = ?1",
    /* Changes no row when the version does not exist. */
    [DB_ST_AWS_POLICY_SET_DEFAULT] = "UPDATE aws_policies SET default_version = ?2, "
                                     "modified_us = ?3, generation = generation + 1 "
                                     "WHERE pk = ?1 AND EXISTS (SELECT 1 FROM "
                                     "aws_policy_versions WHERE policy_pk = ?1 AND version = ?2)",
    [DB_ST_AWS_PVER_INSERT] = "INSERT INTO aws_policy_versions (policy_pk, version, document, "
                              "created_us) VALUES (?1, ?2, ?3, ?4)",
    [DB_ST_AWS_PVER_GET] = "SELECT " AWS_PVER_COLS " FROM aws_policy_versions "
                           "WHERE policy_pk = ?1 AND version = ?2",
    [DB_ST_AWS_PVER_DELETE] = "DELETE FROM aws_policy_versions "
                              "WHERE policy_pk = ?1 AND version = ?2",
    [DB_ST_AWS_PVER_LIST] = "SELECT " AWS_PVER_COLS " FROM aws_policy_versions "
                            "WHERE policy_pk = ?1 ORDER BY version",

    /* Attaching twice is not an error; a missing policy still fails the
     * foreign key (the upsert clause covers uniqueness only). */
    [DB_ST_AWS_TARGET_INSERT] = "INSERT INTO aws_policy_targets (policy_pk, target, created_us) "
                                "VALUES (?1, ?2, ?3) ON CONFLICT (policy_pk, target) DO NOTHING",
    [DB_ST_AWS_TARGET_DELETE] = "DELETE FROM aws_policy_targets "
                                "WHERE policy_pk = ?1 AND target = ?2",
    [DB_ST_AWS_TARGET_LIST] = "SELECT pk, target FROM aws_policy_targets "
                              "WHERE policy_pk = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
    /* A policy always has its default version; the inner join would drop
     * one that somehow lost it rather than hand out an empty document. */
    [DB_ST_AWS_TARGET_POLICIES] = "SELECT a.pk, " AWS_POLICY_COLS ", v.document "
                                  "FROM aws_policy_targets a "
                                  "JOIN aws_policies p ON p.pk = a.policy_pk "
                                  "JOIN aws_policy_versions v ON v.policy_pk = p.pk "
                                  "AND v.version = p.default_version "
                                  "WHERE a.target = ?1 AND a.pk > ?2 ORDER BY a.pk LIMIT ?3",
    [DB_ST_AWS_TARGET_COUNT] = "SELECT count(*) FROM aws_policy_targets WHERE target = ?1",
    [DB_ST_AWS_TARGET_FORGET] = "DELETE FROM aws_policy_targets WHERE target = ?1",

    [DB_ST_AWS_PRINCIPAL_INSERT] = "INSERT INTO aws_thing_principals (thing_pk, principal, "
                                   "exclusive, created_us) VALUES (?1, ?2, ?3, ?4) "
                                   "ON CONFLICT (thing_pk, principal) DO NOTHING",
    [DB_ST_AWS_PRINCIPAL_DELETE] = "DELETE FROM aws_thing_principals "
                                   "WHERE thing_pk = ?1 AND principal = ?2",
    [DB_ST_AWS_PRINCIPAL_LIST] = "SELECT pk, principal FROM aws_thing_principals "
                                 "WHERE thing_pk = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
    [DB_ST_AWS_PRINCIPAL_THINGS] = "SELECT a.pk, " AWS_THING_COLS " FROM aws_thing_principals a "
                                   "JOIN aws_things t ON t.pk = a.thing_pk "
                                   "LEFT JOIN aws_thing_types y ON y.pk = t.type_pk "
                                   "WHERE a.principal = ?1 AND a.pk > ?2 ORDER BY a.pk LIMIT ?3",
    /* Every AWS CONNECT: the thing by its unique name, then the
     * (thing_pk, principal) unique index. */
    [DB_ST_AWS_PRINCIPAL_EXISTS] = "SELECT EXISTS (SELECT 1 FROM aws_things t "
                                   "JOIN aws_thing_principals a ON a.thing_pk = t.pk "
                                   "WHERE t.name = ?1 AND a.principal = ?2)",
    [DB_ST_AWS_PRINCIPAL_COUNT] = "SELECT count(*) FROM aws_thing_principals "
                                  "WHERE principal = ?1",

    [DB_ST_AWS_SETTING_GET] = "SELECT value FROM aws_settings WHERE name = ?1",
    [DB_ST_AWS_SETTING_SET] = "INSERT INTO aws_settings (name, value) VALUES (?1, ?2) "
                              "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [DB_ST_AWS_SETTING_DELETE] = "DELETE FROM aws_settings WHERE name = ?1",

    [DB_ST_AWS_SHADOW_GET] = "SELECT doc, modified_us FROM aws_shadows "
                             "WHERE thing_name = ?1 AND shadow_name = ?2",
    [DB_ST_AWS_SHADOW_PUT] = "INSERT INTO aws_shadows (thing_name, shadow_name, doc, present, "
                             "modified_us) VALUES (?1, ?2, ?3, ?4, ?5) "
                             "ON CONFLICT (thing_name, shadow_name) DO UPDATE SET "
                             "doc = excluded.doc, present = excluded.present, "
                             "modified_us = excluded.modified_us",
    /* The primary key orders a thing's shadows by name. */
    [DB_ST_AWS_SHADOW_NAMES] = "SELECT shadow_name FROM aws_shadows WHERE thing_name = ?1 "
                               "AND shadow_name > ?2 AND present = 1 "
                               "ORDER BY shadow_name LIMIT ?3",

    /* Version 1 comes with the template, in the same transaction. */
    [DB_ST_AWS_TMPL_INSERT] = "INSERT INTO aws_prov_templates (name, template_id, description, "
                              "enabled, role_arn, type, pre_hook_json, default_version, "
                              "next_version, created_us, modified_us) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 2, ?8, ?8)",
    [DB_ST_AWS_TMPL_GET] = "SELECT " AWS_TMPL_COLS " FROM aws_prov_templates WHERE name = ?1",
    /* Changes no row unless the new default version exists. */
    [DB_ST_AWS_TMPL_UPDATE] = "UPDATE aws_prov_templates SET description = ?2, enabled = ?3, "
                              "role_arn = ?4, pre_hook_json = ?5, default_version = ?6, "
                              "modified_us = ?7 WHERE pk = ?1 AND EXISTS (SELECT 1 FROM "
                              "aws_prov_template_versions WHERE template_pk = ?1 AND version = ?6)",
    [DB_ST_AWS_TMPL_DELETE] = "DELETE FROM aws_prov_templates WHERE pk = ?1",
    [DB_ST_AWS_TMPL_LIST] = "SELECT " AWS_TMPL_COLS " FROM aws_prov_templates "
                            "WHERE pk > ?1 ORDER BY pk LIMIT ?2",
    [DB_ST_AWS_TMPL_VERSIONS] = "SELECT next_version, default_version, "
                                "(SELECT count(*) FROM aws_prov_template_versions "
                                "WHERE template_pk = ?1) FROM aws_prov_templates WHERE pk = ?1",
    [DB_ST_AWS_TMPL_ADDED] = "UPDATE aws_prov_templates SET next_version = ?2 + 1, "
                             "default_version = CASE WHEN ?3 THEN ?2 ELSE default_version END, "
                             "modified_us = ?4 WHERE pk = ?1",
    [DB_ST_AWS_TMPL_TOUCH] = "UPDATE aws_prov_templates SET modified_us = ?2 WHERE pk = ?1",
    /* A provisioning request: the name's unique index, then the version's
     * primary key. */
    [DB_ST_AWS_TMPL_DEFAULT_BODY] = "SELECT v.body, t.enabled, t.type FROM aws_prov_templates t "
                                    "JOIN aws_prov_template_versions v ON v.template_pk = t.pk "
                                    "AND v.version = t.default_version WHERE t.name = ?1",
    [DB_ST_AWS_TMPL_VER_INSERT] = "INSERT INTO aws_prov_template_versions (template_pk, version, "
                                  "body, created_us) VALUES (?1, ?2, ?3, ?4)",
    [DB_ST_AWS_TMPL_VER_GET] = "SELECT " AWS_TMPL_VER_COLS " FROM aws_prov_template_versions "
                               "WHERE template_pk = ?1 AND version = ?2",
    [DB_ST_AWS_TMPL_VER_DELETE] = "DELETE FROM aws_prov_template_versions "
                                  "WHERE template_pk = ?1 AND version = ?2",
    [DB_ST_AWS_TMPL_VER_LIST] = "SELECT " AWS_TMPL_VER_COLS " FROM aws_prov_template_versions "
                                "WHERE template_pk = ?1 AND version > ?2 "
                                "ORDER BY version LIMIT ?3",
};
