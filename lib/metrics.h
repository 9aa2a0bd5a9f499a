/* metrics: counters, gauges and histograms in Prometheus text format.
 *
 * Each process declares its metrics as a static table (name, help, type, labels)
 * and bumps them with atomic adds from any thread. Rendering walks the table;
 * extra dynamic lines (for example lag per partition) come from a callback,
 * which writes each family's HELP and TYPE once (metrics_family) and its
 * samples after, escaping label values with metrics_label.
 *
 * Names follow Prometheus' conventions: counters end in _total, durations
 * are histograms in _seconds, sizes in _bytes (or the thing counted,
 * _messages). Nothing here allocates: tables and histograms live in their
 * process's state. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include "buf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct metric {
    const char *name;
    const char *help;
    const char *type;   /* "counter" or "gauge" */
    const char *labels; /* e.g. "status=\"202\"", or NULL */
    _Atomic int64_t value;
};

static inline void metric_add(struct metric *m, int64_t n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

static inline void metric_set(struct metric *m, int64_t v)
{
    atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

/* A histogram's upper bounds, ascending, in the unit values are observed
 * in; per_unit of those make one unit of the exposition (1000000 for
 * microseconds shown as seconds, 1 for counts and bytes). */
#define METRICS_HIST_MAX_BUCKETS 16
struct metric_buckets {
    size_t n;
    int64_t per_unit;
    int64_t bounds[METRICS_HIST_MAX_BUCKETS];
};

/* The default: latencies from 250 us to 5 s (METRICS_HIST_BUCKETS bounds). */
#define METRICS_HIST_BUCKETS 12
extern const struct metric_buckets metrics_buckets_latency;
/* Latencies that may last as long as a client waits (Prefer: wait, up to 30 s). */
extern const struct metric_buckets metrics_buckets_latency_long;
/* How many messages or records something held: 1 to 10000. */
extern const struct metric_buckets metrics_buckets_count;

struct metric_histogram {
    const char *name;
    const char *help;
    const struct metric_buckets *buckets;                 /* NULL: metrics_buckets_latency */
    _Atomic int64_t counts[METRICS_HIST_MAX_BUCKETS + 1]; /* last is +Inf */
    _Atomic int64_t sum;                                  /* in the observed unit */
    _Atomic int64_t count;
};

/* One observation, in the buckets' unit (microseconds for latencies). */
void metric_observe(struct metric_histogram *h, int64_t value);
static inline void metric_observe_us(struct metric_histogram *h, int64_t us)
{
    metric_observe(h, us);
}

void metrics_render(struct buf *out, struct metric *table, size_t n);
/* HELP, TYPE and the samples of an unlabelled histogram. */
void metrics_render_histogram(struct buf *out, struct metric_histogram *h);

/* "# HELP name help\n# TYPE name type\n": once per family, before its samples. */
void metrics_family(struct buf *out, const char *name, const char *help, const char *type);
/* Appends s as a label value (quotes included), escaping \, " and newlines. */
void metrics_label(struct buf *out, const char *s);
/* The samples of one series of a histogram family: labels is NULL or
 * what goes inside the braces before le ("route=\"/x\""), already escaped. */
void metrics_render_histogram_samples(struct buf *out, const char *name, const char *labels,
                                      struct metric_histogram *h);

/* The process_* metrics every Prometheus client library exports (CPU
 * seconds, resident and virtual memory, open and maximum descriptors,
 * start time, threads), read from /proc/self; families it cannot read
 * are left out. */
void metrics_render_process(struct buf *out);

#endif
