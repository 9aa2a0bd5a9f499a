/* kafka: librdkafka set-up shared by every process.
 *
 * Owns the client configuration Sluice relies on (acks=all and idempotence for
 * producers; manual offset storage for consumers), topic naming, the check that
 * needed topics exist, and a poll thread that serves a producer's delivery
 * reports. The caller owns every rd_kafka_t it gets and destroys it. */
#ifndef SLUICE_KAFKA_H
#define SLUICE_KAFKA_H

/* The largest message the producer sends (its message.max.bytes, set
 * explicitly): Kafka's and the dev broker's default limit, so a message the
 * producer takes is one the broker takes. Ingest sizes its body limit from it
 * (HTTP_MAX_BODY_DEFAULT) and answers 413 above it. */
#define KAFKA_MESSAGE_MAX_BYTES 1000000
#define KAFKA_MESSAGE_MAX_BYTES_STR "1000000"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* "<prefix><collection>[.dlq]" into out (the collections: collection.h). */
void kafka_topic_name(char *out, size_t outlen, const char *prefix, const char *collection,
                      bool dlq);

/* Producer with acks=all, idempotence, linger.ms=1 (0 sends more, smaller
 * requests: measured at 64 connections, fewer writes per second and a longer
 * tail), message.timeout.ms = timeout_ms and
 * compression.type = compression (KAFKA_COMPRESS_*). dr_cb runs on
 * whichever thread polls the producer. */
rd_kafka_t *kafka_producer_new(const char *brokers, int timeout_ms, const char *compression,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen);

/* Batches of a few messages (interactive writes at linger.ms=1) are not
 * worth compressing: an LZ4 frame costs ~80k instructions to begin (its
 * hash table is cleared per batch) whatever it holds, more than the rest of
 * a write, and saves little on a few hundred bytes. Large batches (imports,
 * dead letters) gain from it. */
#define KAFKA_COMPRESS_SMALL_BATCHES "none"
#define KAFKA_COMPRESS_LARGE_BATCHES "lz4"

/* Consumer in group with enable.auto.offset.store=false, auto commit off (offsets
 * are committed after the database commit), earliest reset and rebalance_cb.
 * session_timeout_ms: how long the group waits for a member that stopped
 * answering; Kafka brokers refuse less than their
 * group.min.session.timeout.ms, KAFKA_SESSION_TIMEOUT_MS by default. */
#define KAFKA_SESSION_TIMEOUT_MS 6000
rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, int session_timeout_ms,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               void *opaque, char *err, size_t errlen);

/* Makes sure every topic exists: creates missing ones (partitions, replication)
 * through the Admin API where the cluster allows, and fails only when a topic is
 * still missing afterwards. */
int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t n, int partitions,
                        int replication, int timeout_ms, char *err, size_t errlen);

/* True when the cluster answers a metadata request within timeout_ms. */
bool kafka_cluster_reachable(rd_kafka_t *rk, int timeout_ms);

/* The value of msg's last header called name, or NULL; *size is its length.
 * Borrowed from msg. */
const char *kafka_header(const rd_kafka_message_t *msg, const char *name, size_t *size);

/* A consumer that reads partitions it assigns itself (rd_kafka_assign) from
 * the offsets it chooses: no group membership, no commits, and an
 * RD_KAFKA_RESP_ERR__PARTITION_EOF event at each partition's end. */
rd_kafka_t *kafka_reader_new(const char *brokers, char *err, size_t errlen);

/* kafka_reader_new's consumer under group.id group: rd_kafka_committed on it
 * reads that group's committed offsets without joining the group (it never
 * subscribes) and without committing any. */
rd_kafka_t *kafka_group_reader_new(const char *brokers, const char *group, char *err,
                                   size_t errlen);

/* The headers every dead letter carries: x-error, and when source is the
 * consumed message it replaces, x-source-topic, -partition and -offset. The
 * caller owns them until a produce takes them. */
rd_kafka_headers_t *kafka_dlq_headers(const char *error, const rd_kafka_message_t *source);

/* Raises msg's partition in offsets to the offset after msg (what a commit
 * after processing it stores). */
void kafka_offsets_advance(rd_kafka_topic_partition_list_t *offsets, const rd_kafka_message_t *msg);

/* Leaves the consumer group and destroys rk, waiting at most timeout_ms for
 * the coordinator (rd_kafka_consumer_close alone blocks forever when the
 * broker is gone). */
void kafka_consumer_close_bounded(rd_kafka_t *rk, int timeout_ms);

/* A thread that polls a producer (serving delivery reports) until stopped. */
struct kafka_poller {
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_bool stop;
};
int kafka_poller_start(struct kafka_poller *p, rd_kafka_t *rk);
void kafka_poller_stop(struct kafka_poller *p);

#endif
