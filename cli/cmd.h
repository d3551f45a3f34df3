/* The verbs of iotcorectl and what they share. Each verb takes the
 * resolved context, the parsed arguments (main.c has already checked that
 * only the verb's options were given and its required ones are present)
 * and its positional argument (NULL when it takes none). It returns 0, or
 * a negative errno after printing why; main.c maps that to the exit code. */
#pragma once
#include <stddef.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/ctl.h"
#include "cli/output.h"
#include "cli/url.h"

int ctl_registries_create(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_registries_list(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_registries_describe(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_registries_update(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_registries_delete(struct ctl *c, const struct ctl_args *a, const char *id);

int ctl_devices_create(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_devices_list(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_devices_describe(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_devices_update(struct ctl *c, const struct ctl_args *a, const char *id);
int ctl_devices_delete(struct ctl *c, const struct ctl_args *a, const char *id);

int ctl_configs_update(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_configs_list(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_states_list(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_commands_send(struct ctl *c, const struct ctl_args *a, const char *unused);

int ctl_gateways_bind(struct ctl *c, const struct ctl_args *a, const char *unused);
int ctl_gateways_unbind(struct ctl *c, const struct ctl_args *a, const char *unused);

int ctl_devices_import(struct ctl *c, const struct ctl_args *a, const char *file);

/* ---- shared by the verbs (cmd_common.c) ---- */

/* An updateMask being built ("blocked,metadata"): a handful of field
 * names, so a fixed buffer; the first overflow sticks. */
struct ctl_mask {
    char s[256];
    size_t len;
    int err;
};

void ctl_mask_add(struct ctl_mask *m, const char *field);

/* Prints "out of memory" and returns -ENOMEM. */
int ctl_oom(void);

/* json_object_set_new that reports failure (v NULL or out of memory) as
 * -ENOMEM after printing it; v is always consumed. */
int ctl_set(json_t *obj, const char *key, json_t *v);

/* The reply of a write: the API's JSON with --format=json, otherwise the
 * status line (printf format) on stderr. Consumes reply. */
int ctl_show(const struct ctl *c, json_t *reply, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* describe: GETs u and prints the resource's JSON (in both output modes:
 * gcloud prints a resource as YAML either way; JSON is our structured form). */
int ctl_describe(struct ctl *c, const struct ctl_url *u);

/* update: PATCHes u?updateMask=MASK with body (not consumed) and shows
 * "Updated KIND [ID]." or the JSON. */
int ctl_patch(struct ctl *c, struct ctl_url *u, const char *mask, const json_t *body,
              const char *kind, const char *id);

/* A list: the JSON array with --format=json, otherwise the table. Consumes
 * items. */
int ctl_show_list(const struct ctl *c, json_t *items, const struct ctl_col *cols, size_t n_cols);

/* --page-size as a pageSize query parameter, when given. */
int ctl_add_page_size(const struct ctl_args *a, struct ctl_url *u);
