#include "notify_dlq.h"

#include "notify.h"

#include "kafka.h"
#include "log.h"
#include "trace.h"

void notify_dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct notify *n = opaque;
    struct notify_dlq_ack *ack = msg->_private;
    if (msg->err)
        log_warn("dead-letter topic did not acknowledge", "error", rd_kafka_err2str(msg->err));
    else if (n)
        metric_add(&n->metrics[NM_DLQ], 1);
    ack->err = msg->err;
    atomic_store(&ack->done, 1);
}

void notify_dlq_poll(struct notify *n, int timeout_ms)
{
    rd_kafka_poll(n->dlq, timeout_ms);
}

int notify_dlq_produce(struct notify *n, const char *key, size_t keylen, const char *value,
                       size_t len, const char *error, const char *channel, const char *request_id,
                       const char *traceparent, const rd_kafka_message_t *source,
                       struct notify_dlq_ack *ack)
{
    ack->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    atomic_init(&ack->done, 0);
    rd_kafka_headers_t *h = kafka_dlq_headers(error, source);
    if (channel)
        rd_kafka_header_add(h, "x-channel", -1, channel, -1);
    if (source) {
        trace_copy_headers(source, h);
    } else {
        if (request_id)
            rd_kafka_header_add(h, "x-request-id", -1, request_id, -1);
        if (traceparent)
            rd_kafka_header_add(h, "traceparent", -1, traceparent, -1);
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        n->dlq, RD_KAFKA_V_TOPIC(n->dlq_topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(ack), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        log_warn("cannot produce to the dead-letter topic", "error", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

int notify_dlq_send(struct notify *n, const char *key, size_t keylen, const char *value, size_t len,
                    const char *error, const char *channel, const rd_kafka_message_t *source)
{
    struct notify_dlq_ack ack;
    if (notify_dlq_produce(n, key, keylen, value, len, error, channel, NULL, NULL, source, &ack) !=
        0)
        return -1;
    /* Whichever thread polls serves the report; ack lives until it has. */
    while (!atomic_load(&ack.done))
        notify_dlq_poll(n, 50);
    return ack.err ? -1 : 0;
}
