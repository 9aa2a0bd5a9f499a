#include "write.h"

#include "log.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const WRITE_PRINCIPAL = "anonymous";

/* Runs on an HTTP thread when the worker reported the record, or time ran out. */
static enum MHD_Result write_waited(struct request *req)
{
    struct wait_result r;
    waiters_take(req->app->waiters, req->id, &r);
    return req->respond(req, &r);
}

/* Runs on an HTTP thread once the delivery report (or a produce error) came. */
static enum MHD_Result write_acked(struct request *req)
{
    struct ingest *app = req->app;
    metric_observe_us(&app->ack_latency, time_now_us() - req->started_us);
    if (req->kafka_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        metric_add(&app->metrics[M_PRODUCED], 1);
        struct wait_result r = {.outcome = WAIT_PENDING};
        if (req->waiting && !waiters_acked(app->waiters, req->id, req, write_waited, &r))
            return MHD_YES;
        return req->respond(req, &r);
    }
    if (req->waiting)
        waiters_remove(app->waiters, req->id);
    metric_add(&app->metrics[M_PRODUCE_FAILED], 1);
    log_warn("write not acknowledged by kafka", "request_id", req->request_id, "error",
             rd_kafka_err2name(req->kafka_err));
    char detail[256];
    snprintf(detail, sizeof(detail),
             "Kafka did not acknowledge the write (%s); nothing was stored. Retry later.",
             rd_kafka_err2str(req->kafka_err));
    const char *headers[] = {"Retry-After", "1", NULL};
    return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "broker-unavailable",
                                "Write not accepted", detail, NULL, headers);
}

void write_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct dr_target *target = msg->_private;
    if (target)
        target->delivered(target, msg->err);
}

/* A single write's report: the request is the target's container. */
static void request_delivered(struct dr_target *target, rd_kafka_resp_err_t err)
{
    struct request *req = (struct request *)target; /* dr is the first member */
    req->kafka_err = err;
    http_resume(req);
}

enum MHD_Result write_start(struct request *req, const char *topic, const char *key, size_t keylen,
                            char *value, size_t len, int wait_s, write_respond_fn respond)
{
    struct ingest *app = req->app;
    req->respond = respond;
    req->dr.delivered = request_delivered;
    /* Registered before producing: the worker may report before the ack. */
    if (wait_s > 0 && app->waiters)
        req->waiting =
            waiters_add(app->waiters, req->id, req, time_now_us() + (int64_t)wait_s * 1000000) == 0;

    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3);
    rd_kafka_header_add(hdrs, "x-request-id", -1, req->request_id, -1);
    if (req->waiting)
        rd_kafka_header_add(hdrs, "x-wait", -1, "1", 1);
    const char *traceparent = http_header(req, "traceparent");
    if (traceparent && strlen(traceparent) < 128)
        rd_kafka_header_add(hdrs, "traceparent", -1, traceparent, -1);

    /* Suspend first: the delivery report may arrive before producev returns. */
    http_suspend(req, write_acked);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(app->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                          RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&req->dr), RD_KAFKA_V_END);
    if (err) {
        /* Not enqueued: we still own value and headers. */
        free(value);
        rd_kafka_headers_destroy(hdrs);
        req->kafka_err = err;
        http_resume(req);
    }
    return MHD_YES;
}
