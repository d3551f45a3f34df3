/* /metrics: counters named iotcored_*, refusals labelled by the stable
 * reason words of registry/reg_jwt.h. */
#include "daemon/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridges/mqtt/session.h"
#include "registry/reg_jwt.h"

int metrics_render(const struct sess_stats *st, size_t connections, char **ret)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "# TYPE iotcored_connections gauge\niotcored_connections %zu\n", connections);
    fprintf(f, "# TYPE iotcored_sessions gauge\niotcored_sessions %llu\n",
            (unsigned long long)st->current);
    fprintf(f, "# TYPE iotcored_accepted_total counter\niotcored_accepted_total %llu\n",
            (unsigned long long)st->accepted);
    fprintf(f, "# TYPE iotcored_connected_total counter\niotcored_connected_total %llu\n",
            (unsigned long long)st->connected);
    fprintf(f, "# TYPE iotcored_malformed_total counter\niotcored_malformed_total %llu\n",
            (unsigned long long)st->malformed);
    fprintf(f, "# TYPE iotcored_publish_in_total counter\niotcored_publish_in_total %llu\n",
            (unsigned long long)st->publishes_in);
    fprintf(f, "# TYPE iotcored_publish_out_total counter\niotcored_publish_out_total %llu\n",
            (unsigned long long)st->publishes_out);
    fprintf(f, "# TYPE iotcored_auth_refused_total counter\n");
    for (int r = 1; r < REG_AUTH__COUNT && r < SESS_AUTH_REASONS; r++)
        fprintf(f, "iotcored_auth_refused_total{reason=\"%s\"} %llu\n",
                reg_auth_reason_word((enum reg_auth_reason)r),
                (unsigned long long)st->auth_refused[r]);
    if (fclose(f) != 0) {
        free(text);
        return -ENOMEM;
    }
    *ret = text;
    return 0;
}
