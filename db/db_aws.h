/* The store's AWS IoT tables (migration 0003_aws): things and thing types,
 * device and CA certificates, policies with their versions and targets,
 * thing principals, and a few account settings (registration code). Same
 * contract as db.h: typed functions, prepared statements, the return codes
 * listed there; list callbacks get structs valid only during the call and
 * may call other db_* functions; return nonzero from a callback to stop (a
 * negative value is returned as the error); list functions return the
 * number of rows passed to the callback. Owned fields are malloc'd; clear
 * structs with the *_clear functions. Principals and policy targets are
 * stored as the ARN text the API was given (the certificate ARN for
 * certificates). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define DB_AWS_NAME_MAX 129             /* thing/type/policy names: 128 + NUL */
#define DB_AWS_CERT_ID_MAX 65           /* 64 hex + NUL */
#define DB_AWS_ARN_MAX 512
#define DB_AWS_MAX_POLICY_VERSIONS 5    /* AWS: at most 5 versions per policy */

/* ---- things ---- */
struct db_aws_thing {
    int64_t rowid;
    char name[DB_AWS_NAME_MAX];
    char thing_id[40];                  /* UUID text, set by the caller */
    char type_name[DB_AWS_NAME_MAX];    /* "" = none */
    char *attributes_json;              /* owned JSON object text; NULL reads as {} */
    int64_t version;                    /* starts at 1 */
    int64_t created_us;
};
void db_aws_thing_clear(struct db_aws_thing *t);

/* Sets t->rowid. -EEXIST when the name is taken; -ENOENT when type_name is
 * set and no such thing type exists. */
int db_aws_thing_insert(struct db *db, struct db_aws_thing *t);
int db_aws_thing_get(struct db *db, const char *name, struct db_aws_thing *ret);
int db_aws_thing_get_by_rowid(struct db *db, int64_t rowid, struct db_aws_thing *ret);
/* Stores type_name, attributes_json and version. -ENOENT as insert. */
int db_aws_thing_update(struct db *db, const struct db_aws_thing *t);
/* Deletes the thing with its principal attachments. */
int db_aws_thing_delete(struct db *db, int64_t rowid);

/* ListThings filters; NULL/empty fields do not filter. */
struct db_aws_thing_filter {
    const char *type_name;
    const char *attribute_name;         /* with attribute_value */
    const char *attribute_value;
    bool attribute_value_prefix;        /* usePrefixAttributeValue */
};
/* Things with rowid > after_rowid in rowid order, at most limit. */
int db_aws_thing_list(struct db *db, const struct db_aws_thing_filter *f, int64_t after_rowid,
                      int limit, int (*cb)(const struct db_aws_thing *t, void *ud), void *ud);

/* ---- thing types ---- */
struct db_aws_thing_type {
    int64_t rowid;
    char name[DB_AWS_NAME_MAX];
    char type_id[40];                   /* UUID text, set by the caller */
    char *properties_json;              /* owned: thingTypeProperties, or NULL */
    bool deprecated;
    int64_t deprecated_us;
    int64_t created_us;
};
void db_aws_thing_type_clear(struct db_aws_thing_type *t);
int db_aws_thing_type_insert(struct db *db, struct db_aws_thing_type *t);      /* -EEXIST */
int db_aws_thing_type_get(struct db *db, const char *name, struct db_aws_thing_type *ret);
/* Stores deprecated and deprecated_us. */
int db_aws_thing_type_update(struct db *db, const struct db_aws_thing_type *t);
/* -ENOTEMPTY while a thing has the type. */
int db_aws_thing_type_delete(struct db *db, int64_t rowid);
int db_aws_thing_type_list(struct db *db, int64_t after_rowid, int limit,
                           int (*cb)(const struct db_aws_thing_type *t, void *ud), void *ud);

/* ---- certificates (device and CA) ---- */
struct db_aws_cert {
    int64_t rowid;
    char id[DB_AWS_CERT_ID_MAX];        /* lowercase hex SHA-256 of the DER */
    char *pem;                          /* owned */
    char status[24];                    /* ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER,
                                         * REGISTER_INACTIVE, PENDING_ACTIVATION */
    char ca_id[DB_AWS_CERT_ID_MAX];     /* device certs: the registered CA, "" = none */
    char mode[16];                      /* DEFAULT or SNI_ONLY */
    /* CA certificates only. */
    char auto_registration[16];         /* ENABLE or DISABLE */
    char *registration_config_json;     /* owned, or NULL */
    int64_t not_before_us;
    int64_t not_after_us;
    int64_t created_us;
    int64_t modified_us;
    int64_t generation;                 /* bumped on every change */
};
void db_aws_cert_clear(struct db_aws_cert *c);

/* Device certificates. -EEXIST when the id is registered. */
int db_aws_cert_insert(struct db *db, struct db_aws_cert *c);
int db_aws_cert_get(struct db *db, const char *id, struct db_aws_cert *ret);
/* Sets status, modified_us = now_us, generation + 1. */
int db_aws_cert_set_status(struct db *db, const char *id, const char *status, int64_t now_us);
int db_aws_cert_delete(struct db *db, const char *id);
/* ca_id NULL: all device certificates; else those registered with that CA.
 * Ordered by rowid (descending when !ascending), rowid beyond after_rowid
 * in that direction (0 = from the start). */
int db_aws_cert_list(struct db *db, const char *ca_id, bool ascending, int64_t after_rowid,
                     int limit, int (*cb)(const struct db_aws_cert *c, void *ud), void *ud);
/* How many device certificates name ca_id. */
int db_aws_cert_count_by_ca(struct db *db, const char *ca_id, int64_t *ret);

/* CA certificates: the same struct and rules, their own table. */
int db_aws_cacert_insert(struct db *db, struct db_aws_cert *c);
int db_aws_cacert_get(struct db *db, const char *id, struct db_aws_cert *ret);
/* Stores status, auto_registration, registration_config_json; sets
 * modified_us = now_us and generation + 1. */
int db_aws_cacert_update(struct db *db, const struct db_aws_cert *c, int64_t now_us);
int db_aws_cacert_delete(struct db *db, const char *id);
int db_aws_cacert_list(struct db *db, bool ascending, int64_t after_rowid, int limit,
                       int (*cb)(const struct db_aws_cert *c, void *ud), void *ud);

/* ---- policies ---- */
struct db_aws_policy {
    int64_t rowid;
    char name[DB_AWS_NAME_MAX];
    int64_t default_version;
    int64_t created_us;
    int64_t modified_us;
    int64_t generation;                 /* bumped on every change */
};
struct db_aws_policy_version {
    int64_t policy_rowid;
    int64_t version;                    /* 1, 2, ... never reused */
    char *document;                     /* owned */
    int64_t created_us;
};
void db_aws_policy_version_clear(struct db_aws_policy_version *v);

/* Creates the policy with version 1 (the default) holding document. Sets
 * p->rowid, p->default_version. -EEXIST. */
int db_aws_policy_insert(struct db *db, struct db_aws_policy *p, const char *document,
                         int64_t now_us);
int db_aws_policy_get(struct db *db, const char *name, struct db_aws_policy *ret);
/* -ENOTEMPTY while the policy has targets or versions besides the default. */
int db_aws_policy_delete(struct db *db, int64_t rowid);
int db_aws_policy_list(struct db *db, bool ascending, int64_t after_rowid, int limit,
                       int (*cb)(const struct db_aws_policy *p, void *ud), void *ud);

/* Adds the next version (optionally the default). -E2BIG when the policy
 * already has DB_AWS_MAX_POLICY_VERSIONS versions. *ret_version set. */
int db_aws_policy_version_add(struct db *db, int64_t policy_rowid, const char *document,
                              bool set_default, int64_t now_us, int64_t *ret_version);
int db_aws_policy_version_get(struct db *db, int64_t policy_rowid, int64_t version,
                              struct db_aws_policy_version *ret);
/* -ENOENT when the version does not exist. */
int db_aws_policy_version_set_default(struct db *db, int64_t policy_rowid, int64_t version,
                                      int64_t now_us);
/* -EBUSY for the default version; -ENOENT. */
int db_aws_policy_version_delete(struct db *db, int64_t policy_rowid, int64_t version);
/* In version order. */
int db_aws_policy_version_list(struct db *db, int64_t policy_rowid,
                               int (*cb)(const struct db_aws_policy_version *v, void *ud),
                               void *ud);

/* Policy targets (certificate ARNs, thing group ARNs). Attaching twice is
 * not an error. Detach: -ENOENT when not attached. */
int db_aws_policy_attach(struct db *db, int64_t policy_rowid, const char *target, int64_t now_us);
int db_aws_policy_detach(struct db *db, int64_t policy_rowid, const char *target);
/* Targets of a policy, in attach order after after_rowid (an internal
 * attachment row id passed to cb for paging). */
int db_aws_policy_targets(struct db *db, int64_t policy_rowid, int64_t after_rowid, int limit,
                          int (*cb)(int64_t attach_rowid, const char *target, void *ud), void *ud);
/* Policies attached to target, with their default version's document (for
 * a connection's evaluation and ListAttachedPolicies), in attach order. */
int db_aws_target_policies(struct db *db, const char *target, int64_t after_rowid, int limit,
                           int (*cb)(int64_t attach_rowid, const struct db_aws_policy *p,
                                     const char *document, void *ud),
                           void *ud);
/* How many policies are attached to target. */
int db_aws_target_policy_count(struct db *db, const char *target, int64_t *ret);
/* Removes every attachment naming target (the certificate is deleted). */
int db_aws_target_forget(struct db *db, const char *target);

/* ---- thing principals ---- */
/* Attaching twice is not an error. -ENOENT when the thing does not exist. */
int db_aws_thing_principal_attach(struct db *db, int64_t thing_rowid, const char *principal,
                                  bool exclusive, int64_t now_us);
int db_aws_thing_principal_detach(struct db *db, int64_t thing_rowid, const char *principal);
/* Principals of a thing, in attach order after after_rowid. */
int db_aws_thing_principals(struct db *db, int64_t thing_rowid, int64_t after_rowid, int limit,
                            int (*cb)(int64_t attach_rowid, const char *principal, void *ud),
                            void *ud);
/* Things a principal is attached to, in attach order after after_rowid. */
int db_aws_principal_things(struct db *db, const char *principal, int64_t after_rowid, int limit,
                            int (*cb)(int64_t attach_rowid, const struct db_aws_thing *t,
                                      void *ud),
                            void *ud);
/* 1 when the principal is attached to the thing named thing_name, else 0. */
int db_aws_thing_principal_exists(struct db *db, const char *thing_name, const char *principal);
int db_aws_principal_thing_count(struct db *db, const char *principal, int64_t *ret);

/* ---- account settings ---- */
/* A small key/value table: "registration_code", "endpoint_prefix"...
 * get: -ENOENT when unset; value is copied into out (cap bytes). */
int db_aws_setting_get(struct db *db, const char *key, char *out, size_t cap);
int db_aws_setting_set(struct db *db, const char *key, const char *value);
int db_aws_setting_delete(struct db *db, const char *key);

/* ---- device shadows (migration 0004) ---- */
/* Shadows are keyed by thing name and shadow name ("" = the classic
 * shadow) and hold registry/aws_shadow.h's stored form as text. The store
 * checks lengths only; the names' syntax is the caller's. */
#define DB_AWS_SHADOW_NAME_MAX 65       /* 64 + NUL */

/* *ret_text (malloc'd, NUL-terminated) and *ret_len, *ret_modified_us (may
 * be NULL). -ENOENT when no row was ever written. */
int db_aws_shadow_get(struct db *db, const char *thing, const char *shadow, char **ret_text,
                      size_t *ret_len, int64_t *ret_modified_us);
/* Inserts or replaces the row. present: whether the shadow exists (the
 * stored form's "exists"). */
int db_aws_shadow_put(struct db *db, const char *thing, const char *shadow, const char *text,
                      size_t len, bool present, int64_t modified_us);
/* The names of the thing's present named shadows in name order, after
 * `after` ("" = from the start), at most limit (<= 0: all). */
int db_aws_shadow_list_names(struct db *db, const char *thing, const char *after, int limit,
                             int (*cb)(void *ud, const char *name), void *ud);

/* ---- provisioning templates (migration 0004) ---- */
/* Fleet provisioning and JITP templates with their versions, under AWS's
 * rules: version 1 (the default) is made with the template, at most
 * DB_AWS_MAX_TEMPLATE_VERSIONS versions, ids never reused, the default
 * version cannot be deleted; deleting a template deletes its versions.
 * Every change sets the template's modified_us. The store checks lengths
 * and presence only; the names' syntax, the type's value and the body's
 * meaning are the caller's. */
#define DB_AWS_TEMPLATE_NAME_MAX 37     /* [0-9A-Za-z_-]{1,36} + NUL */
#define DB_AWS_TEMPLATE_TYPE_MAX 32     /* FLEET_PROVISIONING or JITP */
#define DB_AWS_MAX_TEMPLATE_VERSIONS 5  /* AWS: at most 5 versions per template */

struct db_aws_template {
    int64_t rowid;
    char name[DB_AWS_TEMPLATE_NAME_MAX];
    char template_id[40];               /* UUID text, set by the caller */
    char *description;                  /* owned; read as "" when none, never NULL */
    bool enabled;
    char *role_arn;                     /* owned: provisioningRoleArn; read never NULL */
    char type[DB_AWS_TEMPLATE_TYPE_MAX];
    char *pre_hook_json;                /* owned: preProvisioningHook object text, or NULL */
    int64_t default_version;
    int64_t created_us;
    int64_t modified_us;
};
struct db_aws_template_version {
    int64_t template_rowid;
    int64_t version;                    /* 1, 2, ... never reused */
    char *body;                         /* owned, never NULL after a read */
    int64_t created_us;
};
/* Free the owned fields and zero the struct; NULL-safe. */
void db_aws_template_clear(struct db_aws_template *t);
void db_aws_template_version_clear(struct db_aws_template_version *v);

/* Creates the template (name, template_id, description, enabled,
 * role_arn, type, pre_hook_json from t; NULL description or role_arn
 * store "") with version 1 holding body as its default. Sets t->rowid,
 * default_version 1, created_us and modified_us = now_us. -EEXIST when
 * the name is taken; -EINVAL for an empty name or type or a NULL body. */
int db_aws_template_insert(struct db *db, struct db_aws_template *t, const char *body,
                           int64_t now_us);
/* -ENOENT when no template has that name. On success the caller clears
 * *ret. */
int db_aws_template_get(struct db *db, const char *name, struct db_aws_template *ret);
/* Stores description, enabled, role_arn, pre_hook_json (NULL: none) and
 * default_version of the template t->rowid; modified_us = now_us.
 * -ENOENT when the template or that version does not exist (nothing
 * changes then). */
int db_aws_template_update(struct db *db, const struct db_aws_template *t, int64_t now_us);
/* Deletes the template with all its versions. -ENOENT. */
int db_aws_template_delete(struct db *db, int64_t rowid);
/* Templates with rowid > after_rowid in rowid order, at most limit (<= 0:
 * all). */
int db_aws_template_list(struct db *db, int64_t after_rowid, int limit,
                         int (*cb)(const struct db_aws_template *t, void *ud), void *ud);

/* Adds the next version (the default when set_default). -E2BIG when the
 * template already has DB_AWS_MAX_TEMPLATE_VERSIONS versions; -ENOENT
 * when there is no such template. *ret_version (may be NULL) set on
 * success. */
int db_aws_template_version_add(struct db *db, int64_t template_rowid, const char *body,
                                bool set_default, int64_t now_us, int64_t *ret_version);
/* -ENOENT. On success the caller clears *ret. */
int db_aws_template_version_get(struct db *db, int64_t template_rowid, int64_t version,
                                struct db_aws_template_version *ret);
/* -EBUSY for the default version; -ENOENT when the template or the
 * version does not exist. */
int db_aws_template_version_delete(struct db *db, int64_t template_rowid, int64_t version,
                                   int64_t now_us);
/* Versions above after_version (0 = from the first) in version order, at
 * most limit (<= 0: all). */
int db_aws_template_version_list(struct db *db, int64_t template_rowid, int64_t after_version,
                                 int limit,
                                 int (*cb)(const struct db_aws_template_version *v, void *ud),
                                 void *ud);

/* What a provisioning request needs of the template called name, in one
 * read: its default version's body (*ret_body, malloc'd, NUL-terminated,
 * the caller frees it), whether it is enabled, and its type (ret_type,
 * DB_AWS_TEMPLATE_TYPE_MAX bytes). ret_enabled and ret_type may be NULL.
 * -ENOENT when no template has that name; outputs untouched on failure. */
int db_aws_template_get_default_body(struct db *db, const char *name, char **ret_body,
                                     bool *ret_enabled, char ret_type[DB_AWS_TEMPLATE_TYPE_MAX]);
