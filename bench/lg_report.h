/* Load-generator reports: a human table and one JSON line with the same
 * figures (rates, latency quantiles in milliseconds, losses, errors by
 * kind, CPU microseconds of each watched server process per phase). */
#pragma once
#include <stdio.h>

#include "bench/lg_run.h"

void lg_report_text(FILE *f, const struct lg_opts *o, const struct lg_result *r);
void lg_report_json(FILE *f, const struct lg_opts *o, const struct lg_result *r);
