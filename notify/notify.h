/* notify: the state of one sluice-notify process (private to notify/).
 *
 * main.c owns the one struct notify: start() fills it in order (the routing
 * and its channels, PostgreSQL, the dead-letter producer, the consumer, the
 * dispatcher, the admin server) and stop() frees it in reverse. The modules
 * borrow it, each through its own header:
 *
 *   notify_channels.h the routing file and its channels, reloadable
 *   notify_record.h   consumer side: records each request and its pending
 *                     deliveries in PostgreSQL, then commits the offsets
 *   notify_dispatch.h claims due deliveries, sends them on a pool of threads
 *                     through the channels, records each outcome (retry,
 *                     breaker, DLQ, fallback)
 *   notify_dlq.h      dead letters to sluice.assistance.dlq
 *
 * This header declares no module's functions, so including it never pulls in
 * another module. */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include "backoff.h"
#include "config.h"
#include "lag.h"
#include "metrics.h"
#include "notify_channels.h"

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

struct notify_config {
    CONFIG_COMMON_FIELDS;
    char *admin_listen;
    char *group;
    char *routing_file;
    char *retry_schedule;
    char *public_url;
    long concurrency;
    long breaker_failures;
    long breaker_cooldown_ms;
    long lease_ms;
    long poll_ms;
    long batch_max;
    long stuck_partition_ms;
};

enum notify_metric {
    NM_RECORDED,
    NM_DUPLICATES,
    NM_POISON,
    NM_RECORD_RETRIES,
    NM_INFLIGHT,
    NM_BACKLOG,
    NM_RELOADS,
    NM_RELOADS_REFUSED,
    NM_DLQ,      /* dead letters the broker acknowledged (notify_dlq.c) */
    NM_ASSIGNED, /* partitions of the requests' topic this replica consumes */
    NM_CONSUMED_BYTES,
    NM_COUNT
};

struct dispatcher; /* notify_dispatch.h */

struct notify {
    struct notify_config cfg;
    struct backoff_schedule schedule;
    struct channel_holder channels;
    char topic[256];
    char dlq_topic[256];
    rd_kafka_t *consumer;
    rd_kafka_t *dlq; /* the dead-letter producer (notify_dlq.h) */
    PGconn *conn;    /* the consumer thread's (notify_record.h reconnects it) */
    atomic_bool pg_ok;
    struct dispatcher *dispatcher;
    struct metric metrics[NM_COUNT];
    struct metric_histogram send_latency;
    struct metric_histogram record_batch; /* requests recorded per transaction */
    /* Where each assigned partition's committed offset stands, for the lag
     * and stuck metrics: the consumer thread writes, the admin thread reads. */
    struct lag_table *lag;
};

#endif
