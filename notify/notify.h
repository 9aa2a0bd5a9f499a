/* notify: the state of one sluice-notify process, shared by its modules
 * (private to notify/).
 *
 *   notify_record.c   consumer side: records each request and its pending
 *                     deliveries in PostgreSQL, then commits the offsets
 *   notify_dispatch.c claims due deliveries, sends them on a pool of threads
 *                     through the channels, records each outcome (retry,
 *                     breaker, DLQ, fallback)
 *   notify_channels.c the routing file and its channels, reloadable
 *
 * main() (notify.c) fills the configuration, starts the parts in order and
 * stops them in reverse. */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include "backoff.h"
#include "metrics.h"
#include "notify_channels.h"

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

struct notify_config {
    char *kafka_brokers;
    char *pg_url;
    char *topic_prefix;
    char *log_level;
    char *schema_dir;
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
    NM_COUNT
};

struct dispatcher;

struct notify {
    struct notify_config cfg;
    struct backoff_schedule schedule;
    struct channel_holder channels;
    char topic[256];
    char dlq_topic[256];
    rd_kafka_t *consumer;
    rd_kafka_t *dlq;
    PGconn *conn; /* the consumer thread's */
    atomic_bool pg_ok;
    struct dispatcher *dispatcher;
    struct metric metrics[NM_COUNT];
    struct metric_histogram send_latency;
};

/* The broker's answer to one dead letter: done turns 1 once it came (err
 * then says how it went). Written by whichever thread polls the producer. */
struct notify_dlq_ack {
    atomic_int done;
    rd_kafka_resp_err_t err;
};

/* Produces a copy of value to the dead-letter topic with kafka_dlq_headers
 * (error, and source's place when it is the consumed message) and x-channel
 * when not NULL, without waiting; ack must live until ack->done (serve it
 * with notify_dlq_poll). -1 when it could not even be queued. Any thread. */
int notify_dlq_produce(struct notify *n, const char *key, size_t keylen, const char *value,
                       size_t len, const char *error, const char *channel,
                       const rd_kafka_message_t *source, struct notify_dlq_ack *ack);
/* Serves the dead-letter producer's acknowledgements. */
void notify_dlq_poll(struct notify *n, int timeout_ms);
/* notify_dlq_produce, then waits for the acknowledgement (bounded by the
 * producer's message timeout); 0 once the broker has the message. */
int notify_dlq_send(struct notify *n, const char *key, size_t keylen, const char *value, size_t len,
                    const char *error, const char *channel, const rd_kafka_message_t *source);

/* Records one batch of messages of the assistance topic in one transaction;
 * poison goes to the DLQ after it. 0 once committed (the caller then commits
 * the offsets), -1 with the reason in err when PostgreSQL is away. */
int notify_record_batch(struct notify *n, rd_kafka_message_t **msgs, size_t count, char *err,
                        size_t errlen);

/* The dispatcher: its own thread, connection and send pool. */
struct dispatcher *dispatcher_start(struct notify *n, char *err, size_t errlen);
/* There may be new due deliveries: look now rather than at the next poll. */
void dispatcher_wake(struct dispatcher *d);
/* Stops claiming, lets the sends in flight finish and records them. */
void dispatcher_stop(struct dispatcher *d);
/* Per-channel lines (deliveries, breaker state) for /metrics. */
struct buf;
void dispatcher_metrics(struct dispatcher *d, struct buf *out);

#endif
