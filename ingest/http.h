/* http: libmicrohttpd glue for sluice-ingest.
 *
 * Owns the daemon and the per-request state (struct request), which is created
 * in the access handler and freed only in the request-completed callback.
 * The glue knows no handler: what one handler keeps across callbacks hangs
 * off handler_state (released by its handler_release when the request
 * completes), and a Kafka write's state lives in write_slot, whose inside
 * only write.h knows.
 * Handlers answer through http_respond_* (which add X-Request-ID) or park the
 * connection with http_suspend and finish later from another thread with
 * http_resume, after which on_resume runs on an HTTP thread to queue the
 * response.
 *
 * Database work never runs on libmicrohttpd's event threads (a silent
 * PostgreSQL would hold every connection of that thread): a route marked
 * ROUTE_ON_DB runs its handler on the database pool (dbpool.h), where
 * http_respond_* keep the response in the request until an HTTP thread
 * queues it; http_offload does the same for a handler that needs the
 * database mid-request. Framing the library lets through (two
 * Content-Lengths, an unknown Transfer-Encoding) is refused here, and a
 * request refused on its headers (413, 415) still has its body read and
 * dropped, within bounds, so a client that sends it all first reads the
 * answer. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "auth.h"
#include "buf.h"
#include "ingest.h"
#include "problem.h"
#include "trace.h"
#include "uuid.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARAM_MAX 256

struct http_server;
struct request;
struct route;
typedef enum MHD_Result (*request_fn)(struct request *req);
/* A streaming upload's consumer: takes what it can of the bytes and returns
 * how many it took (it may suspend the connection to apply back-pressure). */
typedef size_t (*request_feed_fn)(struct request *req, const char *data, size_t len);

/* An answer decided on the headers (see struct request's refusal). */
struct http_refusal {
    unsigned status;
    const char *slug, *title;
    char detail[256];
    char challenge[256];    /* a 401's WWW-Authenticate, or "" */
    unsigned retry_after_s; /* a 429's or 503's Retry-After, or 0 */
};

/* Room for the request's Kafka write: write.h's struct write_state, which
 * only write.c reads or writes (write.c checks at compile time that it
 * fits). In place rather than behind a pointer, so a write costs no
 * allocation beyond the request's own; http.h needs only this bound. It owns
 * no memory: the request-completed callback has nothing to release for it. */
#define HTTP_WRITE_STATE_MAX 320
union http_write_slot {
    max_align_t align;
    unsigned char bytes[HTTP_WRITE_STATE_MAX];
};

struct request {
    struct ingest *app;
    struct http_server *server;
    struct MHD_Connection *conn;
    const char *method; /* borrowed from libmicrohttpd for the request's life */
    const char *path;
    char request_id[TRACE_REQUEST_ID_MAX];
    /* The request's trace (the client's traceparent continued, or a new
     * one): its ids go on every Kafka message it produces and log line. */
    struct trace_context trace;
    int64_t started_us;
    /* The largest body it may send: SLUICE_MAX_BODY_BYTES, or its route's
     * smaller limit (routes.h) once matched. */
    long long body_limit;
    /* Who sends it (auth.h), set once the headers are in. */
    struct principal principal;
    /* Its webhook source, whose signature is checked once the body is in. */
    const struct webhook_source *webhook_source;
    /* The values of RateLimit-Policy and RateLimit on every answer, or "". */
    char ratelimit_policy[64], ratelimit_state[64];
    struct buf body;
    /* A refusal decided before the body is read (413, 415): the rest of the
     * body is read and dropped (up to HTTP_DISCARD_MAX_BYTES and
     * HTTP_DISCARD_MAX_MS), then this is the answer. status 0: none. */
    struct http_refusal refusal;
    uint64_t discarded;
    /* Streaming routes (bulk import) consume the body as it arrives instead
     * of buffering it. */
    request_feed_fn feed;
    /* Whatever the matched handler keeps across callbacks (an import, a
     * keyed write, what POST /epoch answers with), owned by the handler.
     * handler_release, when set, frees it: it runs once, in the
     * request-completed callback, on every path (answered, refused, failed,
     * or the client gone mid-request). */
    void *handler_state;
    void (*handler_release)(struct request *req);
    char param[HTTP_PARAM_MAX]; /* the {id} segment of the matched route */
    int match;                  /* enum route_result of the request's path */
    const struct route *route;  /* when match is ROUTE_FOUND */
    char allow[128];            /* when match is ROUTE_METHOD_NOT_ALLOWED */
    unsigned status;            /* for metrics, once a response is queued */
    /* The record the request writes or names, set by its handler: write_start
     * registers it with the waiters, and answers name it even when nothing
     * is produced (a retried Idempotency-Key). */
    char id[UUID_STR_LEN];

    /* Asynchronous completion (a write waiting for its delivery report). */
    request_fn on_resume;
    bool resumed;
    union http_write_slot write_slot; /* write.h's; http.c never looks inside */

    /* Database pool (http_offload, http_defer). While on_pool, the request
     * runs on a pool thread and http_respond keeps the response in stored
     * for an HTTP thread to queue. holds counts what must still happen
     * before the connection resumes (the pool job's end, a delivery report). */
    atomic_int holds;
    bool on_pool;
    void (*pool_work)(struct request *req);
    request_fn deferred;     /* http_defer: the function run on the pool */
    request_fn if_pool_full; /* http_defer: the answer when the pool is full */
    struct MHD_Response *stored;
    unsigned stored_status;
};

/* Listens on SLUICE_LISTEN, sharing the port with other listeners of the
 * same user when SLUICE_LISTEN_REUSEPORT is 1 (SO_REUSEPORT): a new
 * sluice-ingest starts on the port of the one it replaces. */
struct http_server *http_start(struct ingest *app, char *err, size_t errlen);
/* Stops listening without resetting a connection: the port's new
 * connections go to its other listeners from now on (when it has any),
 * those already queued here are served, and every answer from now on says
 * Connection: close. Returns once the queue has stayed empty for 100 ms:
 * within 0.2 s when another listener takes the port's connections (0.7 s
 * when this one is not the port's first), at most 4 s when none does. */
void http_quiesce(struct http_server *srv);
/* After http_quiesce: waits, at most timeout_ms, until every connection
 * still open is parked (its request waits for Kafka, the worker or the
 * database), so that a client that keeps its connection alive gets one
 * more answer, telling it to come back on a new connection, rather than
 * the connection cut under its next request. A request that comes after
 * (on a connection idle all that time) is answered 503 shutting-down:
 * what it would wait for is being stopped. */
void http_settle(struct http_server *srv, long timeout_ms);
/* Closes every connection left and frees srv. */
void http_stop(struct http_server *srv);

/* Queue a response. body is stolen (freed by libmicrohttpd); extra headers are
 * name/value pairs ending with NULL, or NULL. */
enum MHD_Result http_respond(struct request *req, unsigned status, const char *content_type,
                             char *body, size_t len, const char *const *headers);
/* doc is stolen. */
enum MHD_Result http_respond_json(struct request *req, unsigned status, json_t *doc,
                                  const char *const *headers);
enum MHD_Result http_respond_problem(struct request *req, unsigned status, const char *slug,
                                     const char *title, const char *detail,
                                     const struct problem_errors *errors,
                                     const char *const *headers);

const char *http_header(struct request *req, const char *name);
/* The request body parsed as a JSON object (a new reference), or NULL after
 * answering 400 with the reason into *answered. */
json_t *http_body_object(struct request *req, enum MHD_Result *answered);
/* What every JSON write checks first: a JSON Content-Type (else 415) and a
 * well-formed Idempotency-Key, or webhook-id as Standard Webhooks senders
 * send it (else 400), into *idem_key (NULL when none). False after
 * answering into *answered; what names the body in the 415's detail. */
bool http_write_preconditions(struct request *req, const char *what, const char **idem_key,
                              enum MHD_Result *answered);
const char *http_query(struct request *req, const char *name);
/* The client as the socket peer and every X-Forwarded-For line tell it
 * (netaddr_client: the lines count only behind SLUICE_TRUSTED_PROXIES):
 * MHD_lookup_connection_value would give the first line only, which is the
 * one a client writes, so the lines are walked in the order they came.
 * -1 when out of memory. */
struct netaddr;
int http_client_address(struct request *req, struct netaddr *client);

/* Parks the connection until http_resume; on_resume then answers. Called on
 * a pool thread (from a handler that runs there), it adds one more thing the
 * connection waits for before resuming. */
void http_suspend(struct request *req, request_fn on_resume);
/* Thread-safe: called from the Kafka delivery-report thread. */
void http_resume(struct request *req);

/* Suspends req, runs work(req) on the database pool (off the event threads),
 * then on_resume(req) runs on an HTTP thread to answer. A full pool queue
 * answers 503 + Retry-After instead (work and on_resume are then not
 * called). work may read the request (headers, query, body) and keep what
 * it found in it; it must not answer. Called on a pool thread, work runs at
 * once there. */
void http_offload(struct request *req, void (*work)(struct request *req), request_fn on_resume);
/* Runs fn(req) on the database pool as if it were the handler: what it
 * answers through http_respond_* is queued by an HTTP thread afterwards, and
 * it may start a write (write_start). When the pool queue is full,
 * if_pool_full runs on the HTTP thread instead (NULL: 503 + Retry-After). */
void http_defer(struct request *req, request_fn fn, request_fn if_pool_full);

/* The largest body a buffered (non-streaming) route accepts by default:
 * every accepted body fits in one Kafka message with its envelope. The
 * producer (and the dev broker) take messages up to KAFKA_MESSAGE_MAX_BYTES
 * (1,000,000 bytes, librdkafka's and Kafka's default message.max.bytes); the
 * envelope adds at most ~4 KiB (id, times, principal, fingerprint, a type of
 * up to 200 characters and an external id of up to 255 bytes, each of which
 * JSON escaping may grow to 6 bytes a byte, and the record headers: request
 * id, traceparent, x-wait), and re-encoding never grows a body's strings
 * (jansson writes escapes no longer than valid input had to use); an
 * event's envelope splices the body in as it came. 983,040 bytes (960 KiB)
 * leaves 16,960 bytes for that. A re-encoded body whose envelope still comes
 * out larger (reals with 17 digits: 0.1 becomes 0.10000000000000001) is
 * refused with 413 before it is produced. */
#define HTTP_MAX_BODY_DEFAULT 983040
/* A body refused on its headers is read and dropped up to this many bytes
 * beyond the limit and for this long, so ordinary clients read the answer;
 * past that the connection is cut after answering. */
#define HTTP_DISCARD_MAX_BYTES (8u << 20)
#define HTTP_DISCARD_MAX_MS 10000

#endif
