#include "metrics.h"

#include <string.h>

static const int64_t bucket_bounds_us[METRICS_HIST_BUCKETS] = {
    250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};

void metric_observe_us(struct metric_histogram *h, int64_t us)
{
    size_t i = 0;
    while (i < METRICS_HIST_BUCKETS && us > bucket_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_render(struct buf *out, struct metric *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* HELP/TYPE once per family: rows of one family are adjacent. */
        if (i == 0 || strcmp(table[i - 1].name, table[i].name) != 0)
            buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", table[i].name, table[i].help,
                       table[i].name, table[i].type);
        long long v = (long long)atomic_load_explicit(&table[i].value, memory_order_relaxed);
        if (table[i].labels)
            buf_printf(out, "%s{%s} %lld\n", table[i].name, table[i].labels, v);
        else
            buf_printf(out, "%s %lld\n", table[i].name, v);
    }
}

void metrics_render_histogram(struct buf *out, struct metric_histogram *h)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    long long cumulative = 0;
    for (size_t i = 0; i <= METRICS_HIST_BUCKETS; i++) {
        cumulative += (long long)atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < METRICS_HIST_BUCKETS)
            buf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", h->name, bucket_bounds_us[i] / 1e6,
                       cumulative);
        else
            buf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n", h->name, cumulative);
    }
    buf_printf(out, "%s_sum %.6f\n%s_count %lld\n", h->name,
               (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, h->name,
               (long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}
