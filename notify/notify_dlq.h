/* notify_dlq: dead letters of sluice-notify, to sluice.assistance.dlq.
 *
 * A copy of a request's Kafka message goes there with x-error (x-source-*
 * when it is the consumed message, x-channel when one channel failed it):
 * from notify_record when it can never be recorded, from notify_dispatch when
 * a delivery has failed for good. The producer is the process's (n->dlq):
 * main.c makes it with notify_dlq_on_delivery as its delivery report callback
 * and destroys it after the dispatcher has stopped. Messages are copied, so
 * what a caller passes stays the caller's; an ack is the caller's too and
 * must outlive its report. Any thread may produce. */
#ifndef SLUICE_NOTIFY_DLQ_H
#define SLUICE_NOTIFY_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>

struct notify;

/* The broker's answer to one dead letter: done turns 1 once it came (err
 * then says how it went). Written by whichever thread polls the producer. */
struct notify_dlq_ack {
    atomic_int done;
    rd_kafka_resp_err_t err;
};

/* The delivery report callback of the dead-letter producer: fills the ack
 * the message was produced with. */
void notify_dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Produces a copy of value to the dead-letter topic with kafka_dlq_headers
 * (error, and source's place when it is the consumed message) and x-channel
 * when not NULL, without waiting; ack must live until ack->done (serve it
 * with notify_dlq_poll). -1 when it could not even be queued. Any thread.
 * The request's ids go along: source's x-request-id, traceparent and
 * tracestate, or without a source request_id and traceparent when not NULL. */
int notify_dlq_produce(struct notify *n, const char *key, size_t keylen, const char *value,
                       size_t len, const char *error, const char *channel, const char *request_id,
                       const char *traceparent, const rd_kafka_message_t *source,
                       struct notify_dlq_ack *ack);
/* Serves the dead-letter producer's acknowledgements. */
void notify_dlq_poll(struct notify *n, int timeout_ms);
/* notify_dlq_produce, then waits for the acknowledgement (bounded by the
 * producer's message timeout); 0 once the broker has the message. */
int notify_dlq_send(struct notify *n, const char *key, size_t keylen, const char *value, size_t len,
                    const char *error, const char *channel, const rd_kafka_message_t *source);

#endif
