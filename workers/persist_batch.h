/* persist_batch: one batch of Kafka messages written to PostgreSQL in one
 * transaction, exactly once.
 *
 * Inside the transaction the partitions' rows in kafka_offsets are locked and
 * read; messages below a partition's next_offset were applied before (a
 * replay after a crash or a rebalance) and are skipped. The rest are staged
 * with COPY and inserted idempotently, poison messages are collected for the
 * DLQ, and the new next_offset of each partition is written before COMMIT. So
 * any crash, at any moment, ends with every message applied exactly once.
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

struct persist_item {
    rd_kafka_message_t *msg;       /* borrowed */
    struct event_envelope ev;      /* events */
    struct user_envelope user;     /* users */
    struct epoch_envelope epoch;   /* epochs */
    struct recipe_envelope recipe; /* recipes */
    const char *record_id;         /* the envelope id, borrowed; NULL when unparsable */
    bool parsed;
    bool skip;          /* already applied by an earlier transaction */
    bool poison;        /* can never be written: goes to the DLQ */
    bool wait;          /* a client waits for the outcome (Prefer: wait): NOTIFY it */
    bool created;       /* this batch inserted the row (only tracked for wait) */
    int reject_status;  /* the HTTP status a rejection means (422 when 0) */
    char import_id[40]; /* x-import-id: the bulk import this record came in; "" when none */
    char error[PERSIST_ERROR_MAX];
};

struct persist_batch {
    struct persist_item *items;
    size_t count, cap;
};

enum persist_result {
    PERSIST_OK,
    PERSIST_RETRY, /* transient: nothing was committed; retry the same batch */
};

struct persist_stats {
    long inserted;   /* rows new to the table */
    long duplicates; /* rows whose id was already there */
    long skipped;    /* messages already applied (replay) */
    long poison;
};

/* Called for each poison message before COMMIT; returns 0 when the message is
 * safely in the DLQ, -1 to make the whole batch retry. */
typedef int (*persist_dlq_fn)(void *opaque, const struct persist_item *item);
/* Called once all poison messages were handed to dlq_fn: waits for the DLQ's
 * acknowledgements; -1 makes the batch retry. */
typedef int (*persist_dlq_flush_fn)(void *opaque);

struct persist_sink {
    persist_dlq_fn dlq;
    persist_dlq_flush_fn dlq_flush;
    void *opaque;
};

int persist_batch_add(struct persist_batch *b, rd_kafka_message_t *msg);
/* Forgets the items (destroying their messages) and keeps the storage. */
void persist_batch_clear(struct persist_batch *b);
void persist_batch_free(struct persist_batch *b);

/* One writer per collection (persist_writer.h). */
struct persist_writer;
extern const struct persist_writer persist_writer_events;
extern const struct persist_writer persist_writer_users;
extern const struct persist_writer persist_writer_epochs;
extern const struct persist_writer persist_writer_recipes;

enum persist_result persist_batch_write(PGconn *conn, const char *group, const char *topic,
                                        const struct persist_writer *writer,
                                        struct persist_batch *b, const struct persist_sink *sink,
                                        struct persist_stats *stats, char *err, size_t errlen);

/* Row text for COPY ... FROM STDIN (text format) of one event, with the
 * escaping that format needs; appended to out. Exposed for unit tests. */
struct buf;
void persist_copy_row(struct buf *out, const struct event_envelope *ev);

#endif
