/* metrics: counters and gauges in Prometheus text format.
 *
 * Each process declares its metrics as a static table (name, help, type, labels)
 * and bumps them with atomic adds from any thread. Rendering walks the table;
 * extra dynamic lines (for example lag per partition) come from a callback. */
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

/* Latency histogram with fixed buckets in microseconds. */
#define METRICS_HIST_BUCKETS 12
struct metric_histogram {
    const char *name;
    const char *help;
    _Atomic int64_t buckets[METRICS_HIST_BUCKETS + 1]; /* last is +Inf */
    _Atomic int64_t sum_us;
    _Atomic int64_t count;
};

void metric_observe_us(struct metric_histogram *h, int64_t us);

void metrics_render(struct buf *out, struct metric *table, size_t n);
void metrics_render_histogram(struct buf *out, struct metric_histogram *h);

#endif
