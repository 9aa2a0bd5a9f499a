#include "lag.h"

#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct lag_entry {
    const char *topic;
    int32_t partition;
    int64_t next;
    int64_t moved_us;        /* when next last changed (or the partition came) */
    int64_t behind_since_us; /* when a render first saw messages waiting; 0: none */
};

struct lag_table {
    pthread_mutex_t lock;
    struct lag_entry *entries;
    size_t count, cap;
};

struct lag_table *lag_table_new(void)
{
    struct lag_table *t = calloc(1, sizeof(*t));
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void lag_table_free(struct lag_table *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->entries);
    free(t);
}

void lag_table_set(struct lag_table *t, const char *topic, int32_t partition, int64_t next,
                   int64_t now_us)
{
    pthread_mutex_lock(&t->lock);
    size_t i = 0;
    while (i < t->count && (t->entries[i].partition != partition || t->entries[i].topic != topic))
        i++;
    if (i == t->count && t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct lag_entry *e = realloc(t->entries, cap * sizeof(*e));
        if (e) {
            t->entries = e;
            t->cap = cap;
        }
    }
    if (i == t->count && t->count < t->cap) {
        t->entries[t->count++] = (struct lag_entry){topic, partition, next, now_us, 0};
    } else if (i < t->count && t->entries[i].next != next) {
        t->entries[i].next = next;
        t->entries[i].moved_us = now_us;
    }
    pthread_mutex_unlock(&t->lock);
}

void lag_table_clear(struct lag_table *t)
{
    pthread_mutex_lock(&t->lock);
    t->count = 0;
    pthread_mutex_unlock(&t->lock);
}

int lag_consumer_watermarks(void *opaque, const char *topic, int32_t partition, int64_t *low,
                            int64_t *high)
{
    rd_kafka_t *rk = opaque;
    if (!rk || rd_kafka_get_watermark_offsets(rk, topic, partition, low, high) !=
                   RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return *high < 0 ? -1 : 0;
}

static void series(struct buf *out, const char *prefix, const char *name, const struct lag_entry *e,
                   long long value)
{
    buf_printf(out, "%s_%s{topic=", prefix, name);
    metrics_label(out, e->topic);
    buf_printf(out, ",partition=\"%d\"} %lld\n", (int)e->partition, value);
}

void lag_table_render(struct lag_table *t, lag_watermarks_fn watermarks, void *opaque,
                      const char *prefix, int64_t stuck_after_us, int64_t now_us, struct buf *out)
{
    char name[128];
    pthread_mutex_lock(&t->lock);
    long long *lags = malloc((t->count ? t->count : 1) * sizeof(*lags));
    /* Out of memory: nothing can be told of any partition. */
    long unknown = lags ? 0 : (long)t->count, stuck = 0;
    for (size_t i = 0; lags && i < t->count; i++) {
        struct lag_entry *e = &t->entries[i];
        int64_t low = -1, high = -1;
        if (watermarks(opaque, e->topic, e->partition, &low, &high) != 0) {
            lags[i] = -1;
            unknown++;
            continue;
        }
        /* A position past the log's end belongs to another log (a new
         * broker): all of this one is still to be read. Not known yet: the
         * log's beginning. */
        int64_t next = e->next < 0 ? (low > 0 ? low : 0) : e->next;
        lags[i] = next > high ? high : high - next;
        if (lags[i] <= 0) {
            e->behind_since_us = 0;
            continue;
        }
        if (!e->behind_since_us)
            e->behind_since_us = now_us;
        int64_t since = e->behind_since_us > e->moved_us ? e->behind_since_us : e->moved_us;
        stuck += now_us - since >= stuck_after_us;
    }
    snprintf(name, sizeof(name), "%s_lag", prefix);
    metrics_family(out, name, "Messages of the partition this replica has not committed yet",
                   "gauge");
    for (size_t i = 0; lags && i < t->count; i++) {
        if (lags[i] >= 0)
            series(out, prefix, "lag", &t->entries[i], lags[i]);
    }
    snprintf(name, sizeof(name), "%s_partition_stuck", prefix);
    metrics_family(out, name,
                   "1 while messages wait on the partition and its committed offset has not moved "
                   "for the stuck-partition time",
                   "gauge");
    for (size_t i = 0; lags && i < t->count; i++) {
        const struct lag_entry *e = &t->entries[i];
        if (lags[i] < 0)
            continue;
        int64_t since = e->behind_since_us > e->moved_us ? e->behind_since_us : e->moved_us;
        series(out, prefix, "partition_stuck", e, lags[i] > 0 && now_us - since >= stuck_after_us);
    }
    pthread_mutex_unlock(&t->lock);
    free(lags);
    snprintf(name, sizeof(name), "%s_stuck_partitions", prefix);
    metrics_family(out, name, "Partitions of this replica that are stuck (see _partition_stuck)",
                   "gauge");
    buf_printf(out, "%s %ld\n", name, stuck);
    /* Until the first fetch of a partition answers, its end is not known and
     * its lag cannot be told: a drain must not take that for none. */
    snprintf(name, sizeof(name), "%s_lag_unknown_partitions", prefix);
    metrics_family(out, name, "Assigned partitions whose log end is not known yet", "gauge");
    buf_printf(out, "%s %ld\n", name, unknown);
}
