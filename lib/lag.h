/* lag: how far behind a worker's partitions are, and which are stuck.
 *
 * The worker's main thread tells the table where each assigned partition
 * stands whenever that moves: the next offset it has committed to
 * PostgreSQL (lag_table_set), and forgets them all on a revocation. The
 * admin thread renders, for each partition, the messages between that
 * offset and the end of the log the consumer last heard of (no broker
 * request: librdkafka's cached watermarks), and calls a partition stuck
 * when messages have waited there for stuck_after_us while its offset did
 * not move: the worker is alive but not getting through (a database that
 * does not answer, a lock, a batch retried forever). Waiting is measured
 * from the first render that saw the partition behind, so a stuck
 * partition shows up at the first scrape stuck_after_us after that.
 *
 * The table owns its entries and a lock (every function is thread-safe);
 * topic names are borrowed and must outlive it. */
#ifndef SLUICE_LAG_H
#define SLUICE_LAG_H

#include "buf.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

struct lag_table;

struct lag_table *lag_table_new(void);
void lag_table_free(struct lag_table *t);

/* Partition stands at next (-1: not known yet; its log's beginning is
 * assumed). now_us is the current time (time_now_us). */
void lag_table_set(struct lag_table *t, const char *topic, int32_t partition, int64_t next,
                   int64_t now_us);
/* Forgets every partition (a revocation). */
void lag_table_clear(struct lag_table *t);

/* Where a partition's log begins and ends; 0 when known. */
typedef int (*lag_watermarks_fn)(void *opaque, const char *topic, int32_t partition, int64_t *low,
                                 int64_t *high);

/* Appends <prefix>_lag{topic,partition} (messages behind),
 * <prefix>_partition_stuck{topic,partition} (0 or 1), <prefix>_stuck_partitions
 * and <prefix>_lag_unknown_partitions (assigned partitions whose log end is
 * not known yet, left out of the others). */
void lag_table_render(struct lag_table *t, lag_watermarks_fn watermarks, void *opaque,
                      const char *prefix, int64_t stuck_after_us, int64_t now_us, struct buf *out);

/* A lag_watermarks_fn over a consumer (opaque: its rd_kafka_t). */
int lag_consumer_watermarks(void *opaque, const char *topic, int32_t partition, int64_t *low,
                            int64_t *high);

#endif
