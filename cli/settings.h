/* Where iotcorectl's settings come from: a flag, else an environment
 * variable, else a default.
 *   endpoint  --endpoint, IOTCORED_ENDPOINT, http://127.0.0.1:8080
 *   token     --token, IOTCORED_TOKEN, else the file DIR/admin.token with
 *             DIR from --data-dir, IOTCORED_DATA_DIR, ./iotcored-data
 *   project   --project, IOTCORED_PROJECT; required (no default, so a
 *             script never writes into a project it did not name)
 *   region    --region, IOTCORED_REGION, us-central1
 *   ca file   --ca-file, IOTCORED_CA_FILE (for an https endpoint)
 *   format    --format=table|json, table */
#pragma once
#include "cli/args.h"
#include "cli/ctl.h"

#define CTL_DEFAULT_ENDPOINT "http://127.0.0.1:8080"
#define CTL_DEFAULT_DATA_DIR "./iotcored-data"
#define CTL_DEFAULT_REGION "us-central1"

/* Fills c (all but c->http). Returns 0, or a negative errno after printing
 * why (-EINVAL, or the token file's -errno). */
int ctl_settings_resolve(struct ctl *c, const struct ctl_args *a);
