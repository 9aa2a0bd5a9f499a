/* http: libmicrohttpd glue for sluice-ingest.
 *
 * Owns the daemon and the per-request state (struct request), which is created
 * in the access handler and freed only in the request-completed callback.
 * Handlers answer through http_respond_* (which add X-Request-ID) or park the
 * connection with http_suspend and finish later from another thread with
 * http_resume, after which on_resume runs on an HTTP thread to queue the
 * response. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "buf.h"
#include "netaddr.h"
#include "ingest.h"
#include "problem.h"
#include "uuid.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_PARAM_MAX 256

struct request;
struct route;
struct wait_result;
typedef enum MHD_Result (*request_fn)(struct request *req);
/* A streaming upload's consumer: takes what it can of the bytes and returns
 * how many it took (it may suspend the connection to apply back-pressure). */
typedef size_t (*request_feed_fn)(struct request *req, const char *data, size_t len);

/* Whoever a produced message belongs to: its delivery report calls
 * delivered on the producer's poll thread. */
struct dr_target {
    void (*delivered)(struct dr_target *target, rd_kafka_resp_err_t err);
};

struct request {
    struct dr_target dr; /* the delivery report of this request's write */
    struct ingest *app;
    struct MHD_Connection *conn;
    const char *method; /* borrowed from libmicrohttpd for the request's life */
    const char *path;
    char request_id[130];
    int64_t started_us;
    struct buf body;
    bool body_too_large;
    /* Streaming routes (bulk import) consume the body as it arrives instead
     * of buffering it; stream_state is theirs, released by stream_release
     * when the request completes. */
    request_feed_fn feed;
    void *stream_state;
    void (*stream_release)(struct request *req);
    char param[HTTP_PARAM_MAX]; /* the {id} segment of the matched route */
    int match;                  /* enum route_result of the request's path */
    const struct route *route;  /* when match is ROUTE_FOUND */
    char allow[128];            /* when match is ROUTE_METHOD_NOT_ALLOWED */
    unsigned status;            /* for metrics, once a response is queued */

    /* Asynchronous completion (a write waiting for its delivery report). */
    request_fn on_resume;
    bool resumed;
    rd_kafka_resp_err_t kafka_err;
    char id[UUID_STR_LEN];
    int64_t epoch_ms;                /* POST /epoch: what is stored */
    char client_ip[NETADDR_STR_LEN]; /* POST /epoch: the caller */
    bool waiting;                    /* Prefer: wait: answer once the worker wrote the record */
    /* How the write is answered once Kafka (and the worker) have spoken. */
    enum MHD_Result (*respond)(struct request *req, const struct wait_result *r);
};

struct MHD_Daemon *http_start(struct ingest *app, char *err, size_t errlen);
/* Stops accepting new connections; open ones finish. */
void http_quiesce(struct MHD_Daemon *daemon);
void http_stop(struct MHD_Daemon *daemon);

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

/* Parks the connection until http_resume; on_resume then answers. */
void http_suspend(struct request *req, request_fn on_resume);
/* Thread-safe: called from the Kafka delivery-report thread. */
void http_resume(struct request *req);

#endif
