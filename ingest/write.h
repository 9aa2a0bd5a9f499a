/* write: the durable write path every collection shares.
 *
 * write_start suspends the request, produces its envelope (headers: request
 * id, traceparent and tracestate (write_trace_headers), and x-wait when the
 * client waits), and answers from the
 * delivery report: 503 with Retry-After when Kafka did not take it, otherwise
 * the collection's respond callback, with the worker's outcome when the client
 * waits (Prefer: wait) or WAIT_PENDING when it does not. A stored outcome is
 * answered on the database pool, since respond may read the record back; a
 * message over KAFKA_MESSAGE_MAX_BYTES, or one Kafka refuses as too large,
 * is a 413, never a 503.
 *
 * A write's state (struct write_state) is this module's; it lives in its
 * request's write_slot (http.h), zeroed with the request, and holds nothing
 * on the heap, so nothing is freed for it when the request completes. It
 * never outlives the request: the connection stays suspended from
 * write_start until the answer is queued, and the waiters and the delivery
 * report borrow the request only while it is. */
#ifndef SLUICE_WRITE_H
#define SLUICE_WRITE_H

#include "envelope.h"
#include "http.h"
#include "waiters.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

/* Whoever a produced message belongs to (a request's write, a bulk import):
 * its delivery report calls delivered on the producer's poll thread. */
struct dr_target {
    void (*delivered)(struct dr_target *target, rd_kafka_resp_err_t err);
};

typedef enum MHD_Result (*write_respond_fn)(struct request *req, const struct wait_result *r);

/* What a write keeps from write_start until it is answered. Only write.c
 * reads or writes it; handlers go through the functions below. */
struct write_state {
    struct dr_target dr; /* first member: the delivery report's target */
    struct request *req; /* the request whose write_slot this is */
    /* How the write is answered once Kafka (and the worker) have spoken. */
    write_respond_fn respond;
    rd_kafka_resp_err_t kafka_err; /* the delivery report's, or producev's */
    bool waiting; /* registered with the waiters: the answer waits for the worker */
    /* respond never reads PostgreSQL (hello, epoch): a stored outcome is
     * answered on the HTTP thread, without queueing for the pool. */
    bool answer_without_db;
    struct wait_result waited; /* the worker's outcome, for respond on the pool */
    /* The PRODUCER span (otlp.h) from producev to the delivery report, when
     * sampled: its id (0: none, no span) in binary, as the room left is
     * tight, and what it names. The topic is the app's, living as long. */
    uint64_t produce_span;
    int64_t produce_start_us;
    const char *topic;
};

/* value is stolen. key NULL (keylen 0) produces unkeyed, to whichever
 * partition the sticky partitioner fills. req->id must hold the record id; wait_s <= 0 answers as
 * soon as Kafka has the write. Returns MHD_YES (the answer comes later), or
 * the 413 it queued for a value too large for Kafka. */
enum MHD_Result write_start(struct request *req, const char *topic, const char *key, size_t keylen,
                            char *value, size_t len, int wait_s, write_respond_fn respond);

/* Before write_start: respond reads nothing back from PostgreSQL, so the
 * worker's outcome is answered on the HTTP thread instead of the pool. */
void write_answer_without_db(struct request *req);
/* In respond: whether the client waited for the worker (Prefer: wait was
 * taken), for Preference-Applied. False for a request that wrote nothing. */
bool write_waiting(const struct request *req);

/* The headers that carry req's identity to the workers: x-request-id,
 * traceparent (req's trace with ingest's span as the parent), and the
 * client's tracestate when its trace is continued. Every message a request
 * produces carries them. While spans are exported (otlp.h) the sampled flag
 * sent is ingest's decision, so the workers' spans follow it; a single
 * write's traceparent names its PRODUCER span rather than the request's. */
void write_trace_headers(struct request *req, rd_kafka_headers_t *hdrs);

/* Both producers' delivery-report callback (opaque: the app): counts the
 * producers' metrics and resumes the request or import the message is for. */
void write_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Who writes: the request's principal and tenant (auth.h), for its
 * envelope; borrowed from req. */
struct envelope_origin write_origin(const struct request *req);
/* The owner of the request's Idempotency-Key (tenant_key_owner). */
void write_key_owner(const struct request *req, char out[TENANT_KEY_OWNER_MAX]);

#endif
