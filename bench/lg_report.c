/* Report printers for the load generator (see lg_report.h). */
#include "bench/lg_report.h"

#include <string.h>

static const char *scheme_name(enum lg_scheme s)
{
    switch (s) {
    case LG_SCHEME_ES256: return "jwt-es256";
    case LG_SCHEME_RS256: return "jwt-rs256";
    case LG_SCHEME_PASSWORD: return "password";
    case LG_SCHEME_NONE: return "none";
    case LG_SCHEME_X509: return "x509";
    }
    return "?";
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double rate(double n, double s)
{
    return s > 0 ? n / s : 0;
}

/* A JSON string: quotes, backslashes and control bytes escaped. Watch
 * names and error kinds are plain words and printed as they are. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void hist_json(FILE *f, const char *name, const struct lg_hist *h)
{
    fprintf(f, "\"%s\":{\"n\":%llu,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
               "\"mean_ms\":%.4f}",
            name, (unsigned long long)h->count, ms(lg_hist_quantile(h, 0.5)),
            ms(lg_hist_quantile(h, 0.9)), ms(lg_hist_quantile(h, 0.99)), ms(h->count ? h->max : 0),
            h->count ? h->sum / (double)h->count / 1e6 : 0.0);
}

static void cpu_json(FILE *f, const char *name, const struct lg_opts *o, const struct lg_phase_cpu *p)
{
    fprintf(f, "\"%s\":{\"wall_s\":%.3f,\"client_us\":%.0f", name, p->wall_s, p->client_cpu_us);
    for (size_t i = 0; i < o->n_watch; i++)
        fprintf(f, ",\"%s_us\":%.0f", o->watch[i].name, p->server_cpu_us[i]);
    fputc('}', f);
}

void lg_report_json(FILE *f, const struct lg_opts *o, const struct lg_result *r)
{
    fputs("{\"label\":", f);
    json_str(f, o->label);
    fprintf(f, ",\"scheme\":\"%s\",\"target\":\"%s:%d\",\"tls\":%s,\"resume\":%s,",
            scheme_name(o->scheme), o->host, o->port, o->tls ? "true" : "false",
            o->resume ? "true" : "false");
    fprintf(f, "\"conns\":%u,\"attempted\":%u,\"connected\":%u,\"resumed\":%u,\"lost_after_up\":%u,",
            o->conns, r->attempted, r->connected, r->resumed, r->lost_after_up);
    fprintf(f, "\"connect\":{\"wall_s\":%.3f,\"rate\":%.1f,", r->connect_wall_s,
            rate(r->connected, r->connect_wall_s));
    hist_json(f, "latency", &r->connect_ns);
    fputs("},", f);
    fprintf(f, "\"publish\":{\"qos\":%u,\"size\":%u,\"target_rate\":%.1f,\"sent\":%llu,\"acked\":%llu,"
               "\"wall_s\":%.3f,\"rate\":%.1f,",
            o->qos, o->payload, o->pub_rate, (unsigned long long)r->sent,
            (unsigned long long)r->acked, r->pub_wall_s, rate((double)r->sent, r->pub_wall_s));
    hist_json(f, "ack_latency", &r->ack_ns);
    fputs("},", f);
    fprintf(f, "\"e2e\":{\"received\":%llu,\"dup\":%llu,\"lost\":%llu,\"lost_acked\":%llu,"
               "\"foreign\":%llu,\"beyond_cap\":%llu,\"wall_s\":%.3f,\"rate\":%.1f,",
            (unsigned long long)r->received, (unsigned long long)r->dup,
            (unsigned long long)r->lost, (unsigned long long)r->lost_acked,
            (unsigned long long)r->foreign, (unsigned long long)r->beyond_cap, r->recv_wall_s,
            rate((double)r->received, r->recv_wall_s));
    hist_json(f, "latency", &r->e2e_ns);
    fputs("},\"errors\":{", f);
    for (size_t i = 0; i < r->errs.n; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", r->errs.name[i], (unsigned long long)r->errs.count[i]);
    if (r->errs.other)
        fprintf(f, "%s\"other\":%llu", r->errs.n ? "," : "", (unsigned long long)r->errs.other);
    fputs("},\"cpu\":{", f);
    cpu_json(f, "connect", o, &r->cpu_connect);
    fputc(',', f);
    cpu_json(f, "hold", o, &r->cpu_hold);
    fputs("},\"rss_kib\":{", f);
    for (size_t i = 0; i < o->n_watch; i++)
        fprintf(f, "%s\"%s\":{\"before\":%ld,\"held\":%ld,\"max\":%ld,\"end\":%ld}", i ? "," : "",
                o->watch[i].name, r->rss[i].before_kib, r->rss[i].held_kib, r->rss[i].max_kib,
                r->rss[i].end_kib);
    fprintf(f, "},\"up_at_end\":%u,\"interrupted\":%s,\"fatal\":", r->up_at_end,
            r->interrupted ? "true" : "false");
    json_str(f, r->fatal);
    fputs("}\n", f);
}

static void hist_line(FILE *f, const char *what, const struct lg_hist *h)
{
    if (!h->count) {
        fprintf(f, "  %-22s -\n", what);
        return;
    }
    fprintf(f, "  %-22s n=%llu p50=%.3f ms p90=%.3f ms p99=%.3f ms max=%.3f ms\n", what,
            (unsigned long long)h->count, ms(lg_hist_quantile(h, 0.5)), ms(lg_hist_quantile(h, 0.9)),
            ms(lg_hist_quantile(h, 0.99)), ms(h->max));
}

static void cpu_lines(FILE *f, const char *phase, const struct lg_opts *o, const struct lg_phase_cpu *p,
                      double ops, const char *op)
{
    if (p->wall_s <= 0)
        return;
    fprintf(f, "  cpu %-8s wall %.2f s, loadgen %.0f us", phase, p->wall_s, p->client_cpu_us);
    if (ops > 0)
        fprintf(f, " (%.1f us/%s)", p->client_cpu_us / ops, op);
    fputc('\n', f);
    for (size_t i = 0; i < o->n_watch; i++) {
        fprintf(f, "               %-10s %.0f us", o->watch[i].name, p->server_cpu_us[i]);
        if (ops > 0 && p->server_cpu_us[i] >= 0)
            fprintf(f, " (%.1f us/%s)", p->server_cpu_us[i] / ops, op);
        fputc('\n', f);
    }
}

void lg_report_text(FILE *f, const struct lg_opts *o, const struct lg_result *r)
{
    fprintf(f, "loadgen %s: %s -> %s:%d%s%s\n", o->label ? o->label : "", scheme_name(o->scheme),
            o->host, o->port, o->tls ? " tls" : "", o->resume ? " resume" : "");
    fprintf(f, "  connections            %u/%u up (%u attempted, %u resumed, %u closed by the server later)\n",
            r->connected, o->conns, r->attempted, r->resumed, r->lost_after_up);
    fprintf(f, "  connect rate           %.1f /s over %.2f s\n", rate(r->connected, r->connect_wall_s),
            r->connect_wall_s);
    hist_line(f, "connect latency", &r->connect_ns);
    if (o->publish) {
        fprintf(f, "  publish                qos %u, %u B, %llu sent, %llu acked, %.1f msg/s\n", o->qos,
                o->payload, (unsigned long long)r->sent, (unsigned long long)r->acked,
                rate((double)r->sent, r->pub_wall_s));
        hist_line(f, "puback latency", &r->ack_ns);
    }
    if (o->sub_port && o->publish) {
        fprintf(f, "  received               %llu (%.1f msg/s), lost %llu (acked %llu), dup %llu, foreign %llu\n",
                (unsigned long long)r->received, rate((double)r->received, r->recv_wall_s),
                (unsigned long long)r->lost, (unsigned long long)r->lost_acked,
                (unsigned long long)r->dup, (unsigned long long)r->foreign);
        hist_line(f, "end-to-end latency", &r->e2e_ns);
    }
    if (r->errs.n || r->errs.other) {
        fprintf(f, "  errors                ");
        for (size_t i = 0; i < r->errs.n; i++)
            fprintf(f, " %s=%llu", r->errs.name[i], (unsigned long long)r->errs.count[i]);
        if (r->errs.other)
            fprintf(f, " other=%llu", (unsigned long long)r->errs.other);
        fputc('\n', f);
    } else {
        fprintf(f, "  errors                 none\n");
    }
    cpu_lines(f, "connect", o, &r->cpu_connect, r->connected, "connect");
    cpu_lines(f, "hold", o, &r->cpu_hold, (double)r->sent, "msg");
    for (size_t i = 0; i < o->n_watch; i++)
        if (r->rss[i].end_kib >= 0)
            fprintf(f, "  rss %-10s before %ld KiB, held %ld KiB, end of hold %ld KiB (max %ld), "
                       "%+.1f KiB per connection\n", o->watch[i].name, r->rss[i].before_kib,
                    r->rss[i].held_kib, r->rss[i].end_kib, r->rss[i].max_kib,
                    r->connected ? (double)(r->rss[i].end_kib - r->rss[i].before_kib) / r->connected : 0.0);
    if (o->hold > 0 && !o->publish)
        fprintf(f, "  up at the end of hold  %u\n", r->up_at_end);
    if (r->fatal[0])
        fprintf(f, "  FAILED: %s\n", r->fatal);
    if (r->interrupted)
        fprintf(f, "  (interrupted)\n");
}
