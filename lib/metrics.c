#include "metrics.h"

#include <dirent.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const struct metric_buckets metrics_buckets_latency = {
    12,
    1000000,
    {250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000}};

const struct metric_buckets metrics_buckets_latency_long = {
    14,
    1000000,
    {1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
     30000000, 60000000}};

const struct metric_buckets metrics_buckets_count = {
    11, 1, {1, 2, 5, 10, 20, 50, 100, 500, 1000, 5000, 10000}};

static const struct metric_buckets *buckets_of(const struct metric_histogram *h)
{
    return h->buckets ? h->buckets : &metrics_buckets_latency;
}

void metric_observe(struct metric_histogram *h, int64_t value)
{
    const struct metric_buckets *b = buckets_of(h);
    size_t i = 0;
    while (i < b->n && value > b->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_family(struct buf *out, const char *name, const char *help, const char *type)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_label(struct buf *out, const char *s)
{
    buf_puts(out, "\"");
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '"')
            buf_puts(out, "\\\"");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, p, 1);
    }
    buf_puts(out, "\"");
}

void metrics_render(struct buf *out, struct metric *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* HELP/TYPE once per family: rows of one family are adjacent. */
        if (i == 0 || strcmp(table[i - 1].name, table[i].name) != 0)
            metrics_family(out, table[i].name, table[i].help, table[i].type);
        long long v = (long long)atomic_load_explicit(&table[i].value, memory_order_relaxed);
        if (table[i].labels)
            buf_printf(out, "%s{%s} %lld\n", table[i].name, table[i].labels, v);
        else
            buf_printf(out, "%s %lld\n", table[i].name, v);
    }
}

/* value / per_unit in decimal, exactly: integers stay integers, and a
 * fraction keeps every digit per_unit (a power of ten) allows, so a running
 * total of microseconds never loses one. trim drops trailing zeros (bucket
 * bounds read "0.00025", not "0.000250"). */
static void put_scaled(struct buf *out, int64_t value, int64_t per_unit, bool trim)
{
    if (per_unit <= 1) {
        buf_printf(out, "%" PRId64, value);
        return;
    }
    int digits = 0;
    for (int64_t p = per_unit; p > 1; p /= 10)
        digits++;
    /* In unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    uint64_t mag = value < 0 ? -(uint64_t)value : (uint64_t)value;
    uint64_t whole = mag / (uint64_t)per_unit, frac = mag % (uint64_t)per_unit;
    char tail[24];
    size_t len = (size_t)digits < sizeof(tail) ? (size_t)digits : sizeof(tail) - 1;
    for (size_t i = len; i > 0; i--, frac /= 10)
        tail[i - 1] = (char)('0' + frac % 10);
    tail[len] = '\0';
    if (trim) {
        while (len > 0 && tail[len - 1] == '0')
            tail[--len] = '\0';
    }
    buf_printf(out, "%s%" PRIu64 "%s%s", value < 0 ? "-" : "", whole, len ? "." : "", tail);
}

void metrics_render_histogram_samples(struct buf *out, const char *name, const char *labels,
                                      struct metric_histogram *h)
{
    const struct metric_buckets *b = buckets_of(h);
    const char *sep = labels && *labels ? "," : "";
    labels = labels ? labels : "";
    long long cumulative = 0;
    for (size_t i = 0; i <= b->n; i++) {
        cumulative += (long long)atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        buf_printf(out, "%s_bucket{%s%sle=\"", name, labels, sep);
        if (i < b->n)
            put_scaled(out, b->bounds[i], b->per_unit, true);
        else
            buf_puts(out, "+Inf");
        buf_printf(out, "\"} %lld\n", cumulative);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    buf_printf(out, "%s_sum%s%s%s ", name, open, labels, close);
    put_scaled(out, atomic_load_explicit(&h->sum, memory_order_relaxed), b->per_unit, false);
    buf_printf(out, "\n%s_count%s%s%s %lld\n", name, open, labels, close,
               (long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

void metrics_render_histogram(struct buf *out, struct metric_histogram *h)
{
    metrics_family(out, h->name, h->help, "histogram");
    metrics_render_histogram_samples(out, h->name, NULL, h);
}

/* The fields of /proc/self/stat after the command name (which may hold
 * spaces and parentheses): fields[0] is the state, field N of proc(5) is
 * fields[N - 3]. Returns how many were read. */
static int self_stat(unsigned long long *fields, int max)
{
    char text[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (!p || !p[1])
        return 0;
    p += 3; /* ") S " */
    fields[0] = 0;
    int count = 1;
    while (count < max && *p) {
        char *end;
        fields[count] = strtoull(p, &end, 10);
        if (end == p)
            break;
        count++;
        p = end;
    }
    return count;
}

static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    }
    fclose(f);
    return btime;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void metrics_render_process(struct buf *out)
{
    unsigned long long st[24];
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    /* proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24. */
    if (self_stat(st, 22) == 22 && ticks > 0 && page > 0) {
        metrics_family(out, "process_cpu_seconds_total", "Total user and system CPU time spent",
                       "counter");
        buf_printf(out, "process_cpu_seconds_total %.2f\n", (double)(st[11] + st[12]) / ticks);
        metrics_family(out, "process_virtual_memory_bytes", "Virtual memory size", "gauge");
        buf_printf(out, "process_virtual_memory_bytes %llu\n", st[20]);
        metrics_family(out, "process_resident_memory_bytes", "Resident memory size", "gauge");
        buf_printf(out, "process_resident_memory_bytes %llu\n", st[21] * (unsigned long long)page);
        long long btime = boot_time();
        if (btime >= 0) {
            metrics_family(out, "process_start_time_seconds",
                           "Start time of the process since the Unix epoch", "gauge");
            buf_printf(out, "process_start_time_seconds %.2f\n",
                       (double)btime + (double)st[19] / ticks);
        }
    }
    long fds = open_fds();
    if (fds >= 0) {
        metrics_family(out, "process_open_fds", "Open file descriptors", "gauge");
        buf_printf(out, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        metrics_family(out, "process_max_fds", "Maximum number of open file descriptors", "gauge");
        buf_printf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}
