#include "kafka.h"

#include "log.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>

void kafka_topic_name(char *out, size_t outlen, const char *prefix, const char *collection,
                      bool dlq)
{
    snprintf(out, outlen, "%s%s%s", prefix, collection, dlq ? ".dlq" : "");
}

/* A configuration from NULL-terminated name/value pairs; NULL on a bad pair. */
static rd_kafka_conf_t *conf_from_pairs(const char *const *pairs, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; pairs[i]; i += 2) {
        if (rd_kafka_conf_set(conf, pairs[i], pairs[i + 1], err, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

/* Every line librdkafka writes comes here, on its own threads, instead of
 * its default plain-text logger on stderr: one JSON line like any other,
 * naming the client ("rdkafka#consumer-2") since a process has several.
 * Its levels are syslog's: 0-3 emergency to error, 4 warning, 5 notice,
 * 6 info, 7 debug. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_msg(level <= 3   ? LOG_ERROR
            : level <= 5 ? LOG_WARN
            : level == 6 ? LOG_INFO
                         : LOG_DEBUG,
            "librdkafka", "client", rk ? rd_kafka_name(rk) : NULL, "facility", fac, "detail", buf,
            NULL);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    /* Broker transport errors are routine while a broker restarts; the fatal
     * ones (idempotence broken) need the operator. */
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        log_error("kafka fatal error", "detail", fatal);
    } else {
        log_warn("kafka error", "error", rd_kafka_err2name(err), "detail", reason);
    }
}

static rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err,
                                    size_t errlen)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

rd_kafka_t *kafka_producer_new(const char *brokers, int timeout_ms, const char *compression,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
    const char *pairs[] = {"bootstrap.servers", brokers, "acks", "all", "enable.idempotence",
                           "true", "linger.ms", "1", "message.timeout.ms", timeout,
                           /* A broker thread backing off a dead broker scans for
                            * timed-out messages only between attempts: with the
                            * default 10 s backoff a 503 could come 10 s late. */
                           "reconnect.backoff.ms", "100", "reconnect.backoff.max.ms", "500",
                           "queue.buffering.max.messages", "200000", "compression.type",
                           compression, "socket.nagle.disable", "true", "log.connection.close",
                           "false",
                           /* Stated, not defaulted: ingest's body limit is
                            * sized from it (KAFKA_MESSAGE_MAX_BYTES). */
                           "message.max.bytes", KAFKA_MESSAGE_MAX_BYTES_STR, NULL};
    rd_kafka_conf_t *conf = conf_from_pairs(pairs, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return kafka_client_new(RD_KAFKA_PRODUCER, conf, err, errlen);
}

rd_kafka_t *kafka_consumer_new(const char *brokers, const char *group, int session_timeout_ms,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               void *opaque, char *err, size_t errlen)
{
    char session[16];
    snprintf(session, sizeof(session), "%d", session_timeout_ms);
    const char *pairs[] = {"bootstrap.servers",
                           brokers,
                           "group.id",
                           group,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "auto.offset.reset",
                           "earliest",
                           "enable.partition.eof",
                           "false",
                           "session.timeout.ms",
                           session,
                           "heartbeat.interval.ms",
                           "500",
                           "max.poll.interval.ms",
                           "300000",
                           "fetch.wait.max.ms",
                           "10",
                           "socket.nagle.disable",
                           "true",
                           "log.connection.close",
                           "false",
                           NULL};
    rd_kafka_conf_t *conf = conf_from_pairs(pairs, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_t *kafka_reader_new(const char *brokers, char *err, size_t errlen)
{
    /* A group id only because librdkafka's consumer wants one: the reader
     * assigns partitions itself and never joins or commits. */
    return kafka_group_reader_new(brokers, "sluice-reader", err, errlen);
}

rd_kafka_t *kafka_group_reader_new(const char *brokers, const char *group, char *err, size_t errlen)
{
    const char *pairs[] = {"bootstrap.servers",
                           brokers,
                           "group.id",
                           group,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "enable.partition.eof",
                           "true",
                           NULL};
    rd_kafka_conf_t *conf = conf_from_pairs(pairs, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_t *rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Returns how many of topics are missing from the cluster's metadata, or -1 when
 * the cluster did not answer. missing[i] is set for each missing topic. */
static int kafka_missing_topics(rd_kafka_t *rk, const char *const *topics, size_t n, bool *missing,
                                int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        missing[i] = true;
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, topics[i]) == 0 && md->topics[t].partition_cnt > 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                missing[i] = false;
                break;
            }
        }
        count += missing[i];
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

static void kafka_create_topics(rd_kafka_t *rk, const char *const *topics, size_t n,
                                const bool *missing, int partitions, int replication,
                                int timeout_ms)
{
    rd_kafka_NewTopic_t *newt[64];
    size_t count = 0;
    char err[256];
    for (size_t i = 0; i < n && count < 64; i++) {
        if (!missing[i])
            continue;
        newt[count] = rd_kafka_NewTopic_new(topics[i], partitions, replication, err, sizeof(err));
        if (newt[count])
            count++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof(err));
    rd_kafka_CreateTopics(rk, newt, count, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t rn = 0;
        const rd_kafka_topic_result_t **results =
            res ? rd_kafka_CreateTopics_result_topics(res, &rn) : NULL;
        if (rd_kafka_event_error(ev))
            log_warn("could not create topics", "detail", rd_kafka_event_error_string(ev));
        for (size_t i = 0; i < rn; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                log_warn("could not create topic", "topic", rd_kafka_topic_result_name(results[i]),
                         "error", rd_kafka_err2name(e));
            else
                log_info("created topic", "topic", rd_kafka_topic_result_name(results[i]));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < count; i++)
        rd_kafka_NewTopic_destroy(newt[i]);
}

int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t n, int partitions,
                        int replication, int timeout_ms, char *err, size_t errlen)
{
    bool missing[64];
    if (n > 64) {
        snprintf(err, errlen, "too many topics (%zu)", n);
        return -1;
    }
    int count = kafka_missing_topics(rk, topics, n, missing, timeout_ms);
    if (count < 0) {
        snprintf(err, errlen, "Kafka did not answer a metadata request within %d ms", timeout_ms);
        return -1;
    }
    if (count == 0)
        return 0;
    kafka_create_topics(rk, topics, n, missing, partitions, replication, timeout_ms);
    /* Creation may be refused (no controller, no ACL); what matters is whether
     * the topics exist now. */
    count = kafka_missing_topics(rk, topics, n, missing, timeout_ms);
    if (count != 0) {
        for (size_t i = 0; i < n; i++) {
            if (count > 0 && missing[i]) {
                snprintf(err, errlen, "topic %s is missing and could not be created", topics[i]);
                return -1;
            }
        }
        snprintf(err, errlen, "Kafka did not answer a metadata request within %d ms", timeout_ms);
        return -1;
    }
    return 0;
}

bool kafka_cluster_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    bool ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok;
}

static void *kafka_poller_run(void *arg)
{
    struct kafka_poller *p = arg;
    while (!atomic_load(&p->stop))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

int kafka_poller_start(struct kafka_poller *p, rd_kafka_t *rk)
{
    p->rk = rk;
    atomic_store(&p->stop, false);
    return pthread_create(&p->thread, NULL, kafka_poller_run, p) == 0 ? 0 : -1;
}

void kafka_poller_stop(struct kafka_poller *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
}

/* Leaves the group, but never waits for a broker that is gone:
 * rd_kafka_consumer_close() blocks until the coordinator answers, so close
 * through a queue with a deadline and skip the close on destroy if needed.
 * Nothing is lost either way: offsets were committed after each batch. */
void kafka_consumer_close_bounded(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
    if (error) {
        log_warn("cannot leave the group", "detail", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    int64_t deadline = time_now_us() + (int64_t)timeout_ms * 1000;
    while (!error && !rd_kafka_consumer_closed(rk) && time_now_us() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        /* The final revocation comes as an event here, not to the callback. */
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            rd_kafka_assign(rk, NULL);
        rd_kafka_event_destroy(ev);
    }
    bool closed = rd_kafka_consumer_closed(rk);
    if (!closed)
        log_warn("left without saying goodbye to the group: Kafka did not answer");
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

const char *kafka_header(const rd_kafka_message_t *msg, const char *name, size_t *size)
{
    rd_kafka_headers_t *hdrs;
    const void *value;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &value, size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return value;
}

rd_kafka_headers_t *kafka_dlq_headers(const char *error, const rd_kafka_message_t *source)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "x-error", -1, error, -1);
    if (source) {
        char partition[16], offset[32];
        snprintf(partition, sizeof(partition), "%d", source->partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)source->offset);
        rd_kafka_header_add(h, "x-source-topic", -1, rd_kafka_topic_name(source->rkt), -1);
        rd_kafka_header_add(h, "x-source-partition", -1, partition, -1);
        rd_kafka_header_add(h, "x-source-offset", -1, offset, -1);
    }
    return h;
}

void kafka_offsets_advance(rd_kafka_topic_partition_list_t *offsets, const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(offsets, topic, msg->partition);
    if (!tp)
        tp = rd_kafka_topic_partition_list_add(offsets, topic, msg->partition);
    if (msg->offset + 1 > tp->offset)
        tp->offset = msg->offset + 1;
}
