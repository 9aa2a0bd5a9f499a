/* notify_record: the consumer side of sluice-notify. One batch of messages of
 * the assistance topic becomes, in one transaction, the requests' rows and
 * one pending delivery per routed channel; messages that can never be
 * recorded go to the dead-letter topic after it (notify_dlq.h).
 *
 * Runs on the consumer thread and uses its connection, n->conn, which it
 * reconnects when lost (main.c closes it at the end). The messages stay the
 * caller's: it commits their offsets and destroys them. */
#ifndef SLUICE_NOTIFY_RECORD_H
#define SLUICE_NOTIFY_RECORD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct notify;

/* Records msgs[0..count) in one transaction. 0 once committed (the caller
 * then commits the offsets), -1 with the reason in err when PostgreSQL is
 * away (the caller retries the same batch). */
int notify_record_batch(struct notify *n, rd_kafka_message_t **msgs, size_t count, char *err,
                        size_t errlen);

#endif
