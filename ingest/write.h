/* write: the durable write path every collection shares.
 *
 * write_start suspends the request, produces its envelope (headers: request
 * id, traceparent, and x-wait when the client waits), and answers from the
 * delivery report: 503 with Retry-After when Kafka did not take it, otherwise
 * the collection's respond callback, with the worker's outcome when the client
 * waits (Prefer: wait) or WAIT_PENDING when it does not. A stored outcome is
 * answered on the database pool, since respond may read the record back; a
 * message over KAFKA_MESSAGE_MAX_BYTES, or one Kafka refuses as too large,
 * is a 413, never a 503. */
#ifndef SLUICE_WRITE_H
#define SLUICE_WRITE_H

#include "http.h"
#include "waiters.h"

typedef enum MHD_Result (*write_respond_fn)(struct request *req, const struct wait_result *r);

/* value is stolen. req->id must hold the record id; wait_s <= 0 answers as
 * soon as Kafka has the write. Returns MHD_YES (the answer comes later), or
 * the 413 it queued for a value too large for Kafka. */
enum MHD_Result write_start(struct request *req, const char *topic, const char *key, size_t keylen,
                            char *value, size_t len, int wait_s, write_respond_fn respond);

/* The producer's delivery-report callback: resumes the request. */
void write_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* The principal of every write until authentication lands. */
extern const char *const WRITE_PRINCIPAL;

#endif
