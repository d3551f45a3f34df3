/* The resource fields iotcorectl builds from its flags, in the JSON shapes
 * of the Google API (reference section 3): device credentials from
 * --public-key, registry CA certificates from --public-key-path, metadata
 * from --metadata, Pub/Sub topic names. Errors are printed here and
 * returned as -EINVAL or a file's -errno (usage errors). */
#pragma once
#include <jansson.h>

#include "cli/ctl.h"

/* "path=FILE,type=TYPE[,expiration-time=RFC3339]" -> one DeviceCredential
 * {"publicKey":{"format","key"}[,"expirationTime"]} in *ret (owned). TYPE is
 * gcloud's: rsa-pem, rsa-x509-pem, es256-pem, es256-x509-pem, and the old
 * names rs256 and es256 (see creds.c for how those pick a format). */
int ctl_cred_from_spec(const char *spec, json_t **ret);

/* A PEM file -> one RegistryCredential
 * {"publicKeyCertificate":{"format":"X509_CERTIFICATE_PEM","certificate"}}. */
int ctl_registry_cred_from_file(const char *path, json_t **ret);

/* "topic=T[,subfolder=S]" -> one EventNotificationConfig
 * {"pubsubTopicName"[,"subfolderMatches"]}, T expanded as ctl_topic_name. */
int ctl_event_config_from_spec(const struct ctl *c, const char *spec, json_t **ret);

/* "k=v,k2=v2" -> {"k":"v","k2":"v2"}; "" -> {} (clears metadata on update). */
int ctl_metadata_from_spec(const char *spec, json_t **ret);

/* A topic as gcloud takes it: "projects/P/topics/T" as is, a bare "T" as
 * projects/<current project>/topics/T. Returns a new JSON string or NULL
 * (out of memory, printed). */
json_t *ctl_topic_name(const struct ctl *c, const char *topic);

/* An enum flag value as gcloud spells it ("association-only") -> the API's
 * name ("ASSOCIATION_ONLY") when it is one of `allowed` (lower-case,
 * dashes); prints the choices and returns NULL otherwise. */
json_t *ctl_enum_value(const char *what, const char *value, const char *const *allowed);
