#include "write.h"

#include "log.h"
#include "otlp.h"
#include "timeutil.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct envelope_origin write_origin(const struct request *req)
{
    return (struct envelope_origin){req->principal.id, req->principal.tenant};
}

void write_key_owner(const struct request *req, char out[TENANT_KEY_OWNER_MAX])
{
    tenant_key_owner(req->principal.tenant, out);
}

_Static_assert(sizeof(struct write_state) <= sizeof(union http_write_slot),
               "struct write_state outgrew its room in struct request: raise "
               "HTTP_WRITE_STATE_MAX in http.h");
_Static_assert(_Alignof(struct write_state) <= _Alignof(union http_write_slot),
               "struct write_state needs more alignment than http_write_slot has");

/* The request's write state, in the room http.h keeps for it. */
static struct write_state *state_of(struct request *req)
{
    return (struct write_state *)(void *)req->write_slot.bytes;
}

void write_answer_without_db(struct request *req)
{
    state_of(req)->answer_without_db = true;
}

bool write_waiting(const struct request *req)
{
    return ((const struct write_state *)(const void *)req->write_slot.bytes)->waiting;
}

/* On the database pool: the collection's answer, which may read the stored
 * record back (events, recipes). */
static enum MHD_Result respond_on_pool(struct request *req)
{
    struct write_state *ws = state_of(req);
    return ws->respond(req, &ws->waited);
}

/* On an HTTP thread when the pool is full: the write is acknowledged, so it
 * is answered as if the client had not waited (202), without the read. */
static enum MHD_Result respond_unread(struct request *req)
{
    struct wait_result pending = {.outcome = WAIT_PENDING};
    return state_of(req)->respond(req, &pending);
}

/* A stored record is answered on the database pool (the answer may read it
 * back, unless the handler said it does not); every other outcome needs no
 * database and is answered here. */
static enum MHD_Result answer_write(struct request *req, const struct wait_result *r)
{
    struct write_state *ws = state_of(req);
    if (ws->answer_without_db ||
        (r->outcome != WAIT_CREATED && r->outcome != WAIT_UPDATED && r->outcome != WAIT_EXISTS))
        return ws->respond(req, r);
    ws->waited = *r;
    http_defer(req, respond_on_pool, respond_unread);
    return MHD_YES;
}

/* Runs on an HTTP thread when the worker reported the record, or time ran out. */
static enum MHD_Result write_waited(struct request *req)
{
    struct wait_result r;
    waiters_take(req->app->waiters, req->id, &r);
    return answer_write(req, &r);
}

static enum MHD_Result too_large(struct request *req, size_t len)
{
    char detail[256];
    snprintf(detail, sizeof(detail),
             "The write would be a %zu-byte Kafka message, over the %d-byte limit; nothing was "
             "stored. Send a smaller body.",
             len, KAFKA_MESSAGE_MAX_BYTES);
    return http_respond_problem(req, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
                                "Request body too large", detail, NULL, NULL);
}

/* The row of sluice_ingest_produce_failed_total a failure counts in. */
static enum ingest_metric failure_metric(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        return M_FAILED_TIMEOUT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return M_FAILED_QUEUE_FULL;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return M_FAILED_TOO_LARGE;
    default:
        return M_FAILED_OTHER;
    }
}

/* The write's PRODUCER span, a child of the request's, ended by the
 * delivery report (or producev's refusal). */
static void trace_produce(const struct request *req, const struct write_state *ws)
{
    if (!ws->produce_span)
        return;
    char span_id[TRACE_SPAN_HEX + 1], name[300]; /* cut to OTLP_NAME_MAX by otlp_span_init */
    snprintf(span_id, sizeof(span_id), "%016llx", (unsigned long long)ws->produce_span);
    snprintf(name, sizeof(name), "send %s", ws->topic);
    struct otlp_span s;
    otlp_span_init(&s, name, OTLP_KIND_PRODUCER, req->trace.trace_id, span_id, req->trace.span_id,
                   ws->produce_start_us, time_now_us());
    otlp_span_str(&s, "messaging.system", "kafka");
    otlp_span_str(&s, "messaging.operation.type", "send");
    otlp_span_str(&s, "messaging.destination.name", ws->topic);
    otlp_span_str(&s, "sluice.record_id", trace_field(req->id));
    if (ws->kafka_err) {
        otlp_span_str(&s, "error.type", rd_kafka_err2name(ws->kafka_err));
        otlp_span_error(&s, rd_kafka_err2str(ws->kafka_err));
    }
    otlp_submit(&s);
}

/* Runs on an HTTP thread once the delivery report (or a produce error) came. */
static enum MHD_Result write_acked(struct request *req)
{
    struct ingest *app = req->app;
    struct write_state *ws = state_of(req);
    trace_produce(req, ws);
    metric_observe_us(&app->ack_latency, time_now_us() - req->started_us);
    if (ws->kafka_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        metric_add(&app->metrics[M_PRODUCED], 1);
        struct wait_result r = {.outcome = WAIT_PENDING};
        if (ws->waiting && !waiters_acked(app->waiters, req->id, req, write_waited, &r))
            return MHD_YES;
        return answer_write(req, &r);
    }
    if (ws->waiting)
        waiters_remove(app->waiters, req->id);
    metric_add(&app->metrics[failure_metric(ws->kafka_err)], 1);
    /* Permanent: the same message will never fit, so no Retry-After (a 503
     * would have the client retry forever). The body limit keeps this rare;
     * a broker with a smaller message.max.bytes says so in the report. */
    if (ws->kafka_err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        log_warn("write refused by kafka as too large", "request_id", req->request_id, "trace_id",
                 req->trace.trace_id, "id", trace_field(req->id));
        return http_respond_problem(req, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
                                    "Request body too large",
                                    "Kafka refused the write as too large; nothing was stored. "
                                    "Send a smaller body.",
                                    NULL, NULL);
    }
    log_warn("write not acknowledged by kafka", "request_id", req->request_id, "trace_id",
             req->trace.trace_id, "id", trace_field(req->id), "error",
             rd_kafka_err2name(ws->kafka_err));
    char detail[256];
    snprintf(detail, sizeof(detail),
             "Kafka did not acknowledge the write (%s); nothing was stored. Retry later.",
             rd_kafka_err2str(ws->kafka_err));
    const char *headers[] = {"Retry-After", "1", NULL};
    return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "broker-unavailable",
                                "Write not accepted", detail, NULL, headers);
}

void write_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    /* Both producers report here (opaque is the app): the metrics that
     * tell them apart are counted once for both. */
    struct ingest *app = opaque;
    if (app) {
        bool bulk = rk == app->bulk_producer;
        int64_t latency_us = rd_kafka_message_latency(msg);
        if (latency_us >= 0)
            metric_observe_us(&app->produce_latency[bulk ? PRODUCER_BULK : PRODUCER_WRITES],
                              latency_us);
        if (!msg->err)
            metric_add(&app->metrics[bulk ? M_BYTES_BULK : M_BYTES_WRITES], (int64_t)msg->len);
        if (bulk)
            metric_add(&app->metrics[msg->err ? M_BULK_FAILED : M_BULK_PRODUCED], 1);
    }
    struct dr_target *target = msg->_private;
    if (target)
        target->delivered(target, msg->err);
}

/* A single write's report: the write state is the target's container. */
static void request_delivered(struct dr_target *target, rd_kafka_resp_err_t err)
{
    struct write_state *ws = (struct write_state *)target; /* dr is the first member */
    ws->kafka_err = err;
    http_resume(ws->req);
}

/* The longest tracestate passed on: the specification's 32 members of
 * up to 256 bytes need more, but vendors must cope with it cut at 512. */
#define WRITE_TRACESTATE_MAX 512

/* write_trace_headers, the traceparent naming span_id (NULL: the request's
 * own span) as the parent. */
static void trace_headers(struct request *req, const char *span_id, rd_kafka_headers_t *hdrs)
{
    rd_kafka_header_add(hdrs, "x-request-id", -1, req->request_id, -1);
    struct trace_context sent = req->trace;
    if (span_id)
        memcpy(sent.span_id, span_id, sizeof(sent.span_id));
    /* As an OpenTelemetry SDK's propagator does: the flag says whether this
     * process recorded the trace, so a new trace that it samples goes on
     * sampled and the workers' parent-based samplers agree. */
    if (otlp_enabled())
        sent.flags = (unsigned char)((sent.flags & ~1u) | (otlp_sampled(&req->trace) ? 1u : 0u));
    char traceparent[TRACE_PARENT_LEN + 1];
    trace_format(&sent, traceparent);
    rd_kafka_header_add(hdrs, "traceparent", -1, traceparent, -1);
    /* tracestate belongs to the caller's trace: passed on only when that
     * trace is continued, and only when it is short printable ASCII. */
    const char *state = req->trace.parent_id[0] ? http_header(req, "tracestate") : NULL;
    size_t len = state ? strlen(state) : 0;
    bool ok = len > 0 && len <= WRITE_TRACESTATE_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = state[i] >= 0x20 && state[i] < 0x7f;
    if (ok)
        rd_kafka_header_add(hdrs, "tracestate", -1, state, (ssize_t)len);
}

void write_trace_headers(struct request *req, rd_kafka_headers_t *hdrs)
{
    trace_headers(req, NULL, hdrs);
}

enum MHD_Result write_start(struct request *req, const char *topic, const char *key, size_t keylen,
                            char *value, size_t len, int wait_s, write_respond_fn respond)
{
    struct ingest *app = req->app;
    /* Checked before anything is registered: the envelope may come out
     * larger than the body (reals re-encoded with 17 digits). */
    if (len > KAFKA_MESSAGE_MAX_BYTES) {
        free(value);
        return too_large(req, len);
    }
    struct write_state *ws = state_of(req);
    ws->req = req;
    ws->respond = respond;
    ws->dr.delivered = request_delivered;
    /* Registered before producing: the worker may report before the ack. */
    if (wait_s > 0 && app->waiters)
        ws->waiting =
            waiters_add(app->waiters, req->id, req, time_now_us() + (int64_t)wait_s * 1000000) == 0;

    char produce_span[TRACE_SPAN_HEX + 1] = "";
    if (otlp_sampled(&req->trace)) {
        otlp_new_span_id(produce_span);
        ws->produce_span = strtoull(produce_span, NULL, 16);
        ws->produce_start_us = time_now_us();
        ws->topic = topic;
    }
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    trace_headers(req, produce_span[0] ? produce_span : NULL, hdrs);
    if (ws->waiting)
        rd_kafka_header_add(hdrs, "x-wait", -1, "1", 1);

    /* Suspend first: the delivery report may arrive before producev returns. */
    http_suspend(req, write_acked);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(app->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                          RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&ws->dr), RD_KAFKA_V_END);
    if (err) {
        /* Not enqueued: we still own value and headers. */
        free(value);
        rd_kafka_headers_destroy(hdrs);
        ws->kafka_err = err;
        http_resume(req);
    }
    return MHD_YES;
}
