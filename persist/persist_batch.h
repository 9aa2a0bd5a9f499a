/* persist_batch: one batch of Kafka messages written to PostgreSQL in one
 * transaction, exactly once.
 *
 * Inside the transaction the partitions' rows in kafka_offsets are locked and
 * read, and the batch's first messages of each partition are checked against
 * the log the row names (persist_log.h); in that log, messages below a
 * partition's next_offset were applied before (a replay after a crash or a
 * rebalance) and are skipped. A partition whose row names another log is
 * reset and read again from its beginning; one that cannot tell yet is read
 * again from its anchor (both through b->seeks). The rest are staged
 * with COPY and inserted idempotently, poison messages are collected for the
 * DLQ, and the new next_offset of each partition is written before COMMIT. So
 * any crash, at any moment, ends with every message applied exactly once.
 *
 * At debug level each message of a committed batch gets a line saying what
 * became of it, with its request and trace ids (trace.h).
 *
 * The batch borrows the rd_kafka_message_t pointers; the caller destroys them
 * after the batch is done. */
#ifndef SLUICE_PERSIST_BATCH_H
#define SLUICE_PERSIST_BATCH_H

#include "envelope.h"

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERSIST_ERROR_MAX 256

/* What writing a record did; counted per import and told to a waiting client. */
enum persist_outcome {
    PERSIST_NONE,      /* not written (skipped or poison) */
    PERSIST_CREATED,   /* a new record */
    PERSIST_UPDATED,   /* a new version of a stored record */
    PERSIST_UNCHANGED, /* the stored record was the same */
};

struct persist_item {
    rd_kafka_message_t *msg; /* borrowed */
    /* The parsed envelope, whatever its collection's writer made of it
     * (persist_item_record); NULL until parsed. */
    void *record;
    /* Frees record's insides, set by a writer whose record does not begin
     * with its json_t *root (persist_writer.h). */
    void (*release)(void *record);
    const char *record_id; /* the envelope id, borrowed; NULL when unparsable */
    bool parsed;
    bool skip;   /* already applied by an earlier transaction */
    bool poison; /* can never be written: goes to the DLQ */
    bool wait;   /* a client waits for the outcome (Prefer: wait): NOTIFY it */
    enum persist_outcome outcome;
    int reject_status;  /* the HTTP status a rejection means (422 when 0) */
    char import_id[40]; /* x-import-id: the bulk import this record came in; "" when none */
    char error[PERSIST_ERROR_MAX];
};

/* A partition the consumer must read again from offset (-1: its beginning). */
struct persist_seek {
    int32_t partition;
    int64_t offset;
};

/* The advisory lock a bulk batch holds shared for its transaction: the
 * search indexers of every replica defer while anyone holds it (so an import
 * written by two replicas is not slowed by either one's indexer). */
#define PERSIST_BULK_WRITE_LOCK "hashtext('sluice.bulk_write')"

struct persist_batch {
    struct persist_item *items;
    size_t count, cap;
    /* Set by the caller: the batch is bulk (full, or an import's), and its
     * transaction holds PERSIST_BULK_WRITE_LOCK shared. */
    bool bulk;
    /* Filled by persist_batch_write; the caller seeks these partitions and
     * leaves them out of the Kafka commit. */
    struct persist_seek *seeks;
    size_t nseeks;
};

enum persist_result {
    PERSIST_OK,
    PERSIST_RETRY, /* transient: nothing was committed; retry the same batch */
};

struct persist_stats {
    long created, updated, unchanged;
    long skipped; /* messages not applied: replays, or read again from elsewhere */
    long poison;
    /* The records of bulk imports among the above (x-import-id), by what
     * they did; dropped: poison. */
    long import_created, import_updated, import_unchanged, import_dropped;
};

/* Called for each poison message before COMMIT; returns 0 when the message is
 * safely in the DLQ, -1 to make the whole batch retry. */
typedef int (*persist_dlq_fn)(void *opaque, const struct persist_item *item);
/* Called once all poison messages were handed to dlq_fn: waits for the DLQ's
 * acknowledgements; -1 makes the batch retry. */
typedef int (*persist_dlq_flush_fn)(void *opaque);

/* The log's high watermark of a partition, or -1 when it cannot be read. */
typedef int64_t (*persist_high_fn)(void *opaque, const char *topic, int32_t partition);

struct persist_sink {
    persist_dlq_fn dlq;
    persist_dlq_flush_fn dlq_flush;
    persist_high_fn high_watermark;
    void *opaque;
};

int persist_batch_add(struct persist_batch *b, rd_kafka_message_t *msg);
/* Forgets the items (destroying their messages) and keeps the storage. */
void persist_batch_clear(struct persist_batch *b);
void persist_batch_free(struct persist_batch *b);

/* One writer per collection (persist_writer.h), named by its row in
 * lib/collection.c. */
struct persist_writer;

/* cluster_id names the Kafka cluster the batch was read from. */
enum persist_result persist_batch_write(PGconn *conn, const char *group, const char *topic,
                                        const char *cluster_id, const struct persist_writer *writer,
                                        struct persist_batch *b, const struct persist_sink *sink,
                                        struct persist_stats *stats, char *err, size_t errlen);

/* The batch's CONSUMER span (otlp.h), from start_us (its first attempt)
 * to now: parented to the traceparent of the first message that has one
 * (a new trace when none has), linked to the other messages' traces, with
 * the topic, the first message's partition, the records, group, attempts
 * and what became of them. stats is the committed attempt's, or NULL with
 * error saying why the batch was abandoned. Nothing when not exported or
 * not sampled. */
void persist_batch_trace(const struct persist_batch *b, const char *topic, const char *group,
                         const struct persist_stats *stats, int64_t start_us, int attempts,
                         const char *error);

/* An event as the events writer keeps it (persist_events.c): read by
 * envelope_scan_event from its own copy of the message (text), or, when the
 * envelope is in another form, parsed by envelope_parse_event (root) with
 * its body encoded once (body_dump). Either way f's fields are
 * NUL-terminated strings, and the body is stored as f.body says: PostgreSQL
 * checks it as it reads it into jsonb. */
struct persist_event {
    struct event_scan f;
    char *text;      /* owned; NULL when parsed */
    json_t *root;    /* owned; NULL when scanned */
    char *body_dump; /* owned; NULL when scanned */
};

/* Reads one events envelope; -1 with err when it can never be written.
 * Exposed, with the two below, for unit tests. */
int persist_event_read(const void *data, size_t len, struct persist_event *ev, char *err,
                       size_t errlen);
void persist_event_release(struct persist_event *ev);

/* Row text for COPY ... FROM STDIN (text format) of one event, with the
 * escaping that format needs; appended to out. */
struct buf;
void persist_copy_row(struct buf *out, const struct persist_event *ev);

#endif
