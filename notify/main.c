/* sluice-notify: consumes sluice.assistance (group sluice-notify), records
 * each request with one delivery per routed channel, and sends them through
 * the channels (notify.h says which module does what). Any number of
 * replicas share the work through the delivery rows. */
#include "notify.h"
#include "notify_dispatch.h"
#include "notify_dlq.h"
#include "notify_record.h"

#include "admin_http.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "otlp.h"
#include "pg.h"
#include "signals.h"
#include "timeutil.h"

#include <curl/curl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG(field) offsetof(struct notify_config, field)
static const struct config_entry config_table[] = {
    CONFIG_COMMON_ENTRIES(struct notify_config),
    {"SLUICE_ADMIN_LISTEN", CONFIG_ADDR, "127.0.0.1:9200", CFG(admin_listen), 0, 0,
     "admin HTTP address (/healthz, /readyz, /metrics)"},
    {"SLUICE_NOTIFY_GROUP", CONFIG_STRING, "sluice-notify", CFG(group), 0, 0,
     "Kafka consumer group"},
    {"SLUICE_ROUTING_FILE", CONFIG_STRING, SLUICE_DEFAULT_ROUTING_FILE, CFG(routing_file), 0, 0,
     "routing file: topics to channels (SIGHUP reloads it)"},
    {"SLUICE_NOTIFY_CONCURRENCY", CONFIG_INT, "50", CFG(concurrency), 1, 1000, "sends at once"},
    {"SLUICE_NOTIFY_RETRY_SCHEDULE", CONFIG_STRING, "0,5s,5m,30m,2h,5h,10h,10h",
     CFG(retry_schedule), 0, 0, "delay before each attempt (ms, s, m, h), +10% jitter"},
    {"SLUICE_NOTIFY_BREAKER_FAILURES", CONFIG_INT, "5", CFG(breaker_failures), 1, 100000,
     "consecutive failures that open a channel's breaker"},
    {"SLUICE_NOTIFY_BREAKER_COOLDOWN_MS", CONFIG_INT, "30000", CFG(breaker_cooldown_ms), 10,
     86400000, "how long an open breaker waits before one probe"},
    {"SLUICE_NOTIFY_LEASE_MS", CONFIG_INT, "60000", CFG(lease_ms), 500, 86400000,
     "a claimed delivery not recorded within this is retried (above channel timeouts)"},
    {"SLUICE_NOTIFY_POLL_MS", CONFIG_INT, "200", CFG(poll_ms), 10, 60000,
     "how often due deliveries are looked for"},
    {"SLUICE_PUBLIC_URL", CONFIG_STRING, "http://127.0.0.1:8080", CFG(public_url), 0, 0,
     "base URL of the API, for links in messages"},
    {"SLUICE_NOTIFY_BATCH_MAX", CONFIG_INT, "500", CFG(batch_max), 1, 100000,
     "requests recorded per transaction"},
    {"SLUICE_STUCK_PARTITION_MS", CONFIG_INT, "60000", CFG(stuck_partition_ms), 100, 86400000,
     "a partition whose committed offset has not moved for this long while requests wait is "
     "reported stuck (sluice_notify_partition_stuck)"},
};
#define CONFIG_COUNT (sizeof(config_table) / sizeof(config_table[0]))

/* Where the assigned partitions stand, for the lag metric: their committed
 * offsets (one request to the coordinator; -1 where there is none yet, or
 * it does not answer, until the first commit says). */
static void lag_from_committed(struct notify *n, rd_kafka_t *rk,
                               const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = q ? rd_kafka_committed(rk, q, 5000) : RD_KAFKA_RESP_ERR__NOENT;
    int64_t now = time_now_us();
    for (int i = 0; i < parts->cnt; i++) {
        int64_t at = !err && !q->elems[i].err && q->elems[i].offset >= 0 ? q->elems[i].offset : -1;
        lag_table_set(n->lag, n->topic, parts->elems[i].partition, at, now);
    }
    if (q)
        rd_kafka_topic_partition_list_destroy(q);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    /* Offsets come from Kafka: recording is idempotent, so resuming from the
     * last commit (made after the database commit) loses and doubles nothing. */
    struct notify *n = opaque;
    char count[16];
    snprintf(count, sizeof(count), "%d", parts->cnt);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("partitions assigned", "count", count);
        lag_from_committed(n, rk, parts);
        rd_kafka_assign(rk, parts);
        metric_set(&n->metrics[NM_ASSIGNED], parts->cnt);
    } else {
        log_info("partitions revoked", "count", count);
        rd_kafka_assign(rk, NULL);
        lag_table_clear(n->lag);
        metric_set(&n->metrics[NM_ASSIGNED], 0);
    }
}

static void reload_routing(struct notify *n)
{
    char err[512];
    struct channel_set *fresh =
        channel_set_load(n->cfg.routing_file, n->cfg.lease_ms, err, sizeof(err));
    if (!fresh) {
        metric_add(&n->metrics[NM_RELOADS_REFUSED], 1);
        log_error("routing file refused; keeping the previous one", "path", n->cfg.routing_file,
                  "detail", err);
        return;
    }
    channel_holder_swap(&n->channels, fresh);
    metric_add(&n->metrics[NM_RELOADS], 1);
    log_info("routing reloaded", "path", n->cfg.routing_file);
}

static void commit_offsets(struct notify *n, rd_kafka_message_t **msgs, size_t count)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < count; i++)
        kafka_offsets_advance(offsets, msgs[i]);
    rd_kafka_resp_err_t err = rd_kafka_commit(n->consumer, offsets, 0);
    if (err)
        log_warn("offsets not committed; those requests will be seen again (harmless)", "error",
                 rd_kafka_err2str(err));
    /* Recorded either way: the lag is what is not in PostgreSQL yet. */
    int64_t now = time_now_us();
    for (int i = 0; i < offsets->cnt; i++)
        lag_table_set(n->lag, n->topic, offsets->elems[i].partition, offsets->elems[i].offset, now);
    rd_kafka_topic_partition_list_destroy(offsets);
}

/* Polls a batch, records it (retrying while PostgreSQL is away), commits. */
static void run(struct notify *n)
{
    rd_kafka_message_t **msgs = calloc((size_t)n->cfg.batch_max, sizeof(*msgs));
    if (!msgs) {
        log_error("out of memory for a batch");
        return;
    }
    while (signals_running) {
        if (signals_reload) {
            signals_reload = 0;
            reload_routing(n);
        }
        size_t count = 0;
        int64_t deadline = 0;
        while (signals_running && count < (size_t)n->cfg.batch_max) {
            int wait_ms = deadline ? (int)((deadline - time_now_us()) / 1000) : 200;
            if (deadline && wait_ms <= 0)
                break;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(n->consumer, wait_ms);
            if (!m) {
                if (!deadline)
                    break; /* idle: look at the reload flag again */
                continue;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    log_warn("consumer error", "detail", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            msgs[count++] = m;
            metric_add(&n->metrics[NM_CONSUMED_BYTES], (int64_t)m->len);
            if (!deadline)
                deadline = time_now_us() + 20 * 1000;
        }
        long backoff = 100;
        while (count && signals_running) {
            char err[512] = "";
            if (notify_record_batch(n, msgs, count, err, sizeof(err)) == 0) {
                metric_observe(&n->record_batch, (int64_t)count);
                commit_offsets(n, msgs, count);
                dispatcher_wake(n->dispatcher);
                break;
            }
            metric_add(&n->metrics[NM_RECORD_RETRIES], 1);
            char delay[16];
            snprintf(delay, sizeof(delay), "%ld", backoff);
            log_warn("requests not recorded; retrying", "detail", err, "backoff_ms", delay);
            time_sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        for (size_t i = 0; i < count; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
}

static bool admin_ready(void *opaque, char *why, size_t whylen)
{
    struct notify *n = opaque;
    return admin_http_worker_ready(atomic_load(&n->pg_ok), n->consumer, why, whylen);
}

static void admin_metrics(void *opaque, struct buf *out)
{
    struct notify *n = opaque;
    metrics_render(out, n->metrics, NM_COUNT);
    metrics_render_histogram(out, &n->send_latency);
    metrics_render_histogram(out, &n->record_batch);
    dispatcher_metrics(n->dispatcher, out);
    /* The consumer is never replaced: no lock needed to read it. */
    lag_table_render(n->lag, lag_consumer_watermarks, n->consumer, "sluice_notify",
                     n->cfg.stuck_partition_ms * 1000, time_now_us(), out);
    otlp_metrics_render(out);
    metrics_render_process(out);
}

static void metrics_init(struct notify *n)
{
    static const char *const defs[NM_COUNT][3] = {
        [NM_RECORDED] = {"sluice_notify_requests_recorded_total", "Requests recorded", "counter"},
        [NM_DUPLICATES] = {"sluice_notify_requests_duplicate_total",
                           "Redelivered requests that were already recorded", "counter"},
        [NM_POISON] = {"sluice_notify_poison_total", "Messages sent to the DLQ unrecorded",
                       "counter"},
        [NM_RECORD_RETRIES] = {"sluice_notify_record_retries_total",
                               "Batches not recorded at the first try", "counter"},
        [NM_INFLIGHT] = {"sluice_notify_inflight", "Sends in flight", "gauge"},
        [NM_BACKLOG] = {"sluice_notify_retry_backlog",
                        "Pending deliveries that failed at least once", "gauge"},
        [NM_RELOADS] = {"sluice_notify_routing_reloads_total", "Routing files loaded by SIGHUP",
                        "counter"},
        [NM_RELOADS_REFUSED] = {"sluice_notify_routing_refused_total",
                                "Routing files refused by SIGHUP", "counter"},
        [NM_DLQ] = {"sluice_notify_dlq_total",
                    "Dead letters the broker acknowledged (unrecordable messages and deliveries "
                    "failed for good)",
                    "counter"},
        /* A replica without partitions still sends: deliveries are shared
         * through PostgreSQL, so none of them is idle for that. */
        [NM_ASSIGNED] = {"sluice_notify_assigned_partitions",
                         "Partitions of the requests' topic this replica consumes", "gauge"},
        [NM_CONSUMED_BYTES] = {"sluice_notify_consumed_bytes_total",
                               "Bytes of the messages consumed (values)", "counter"},
    };
    for (size_t i = 0; i < NM_COUNT; i++) {
        n->metrics[i].name = defs[i][0];
        n->metrics[i].help = defs[i][1];
        n->metrics[i].type = defs[i][2];
    }
    n->send_latency.name = "sluice_notify_send_seconds";
    n->send_latency.help = "Time of one send to a channel";
    n->record_batch.name = "sluice_notify_record_batch_messages";
    n->record_batch.help = "Requests recorded per transaction";
    n->record_batch.buckets = &metrics_buckets_count;
}

static int start(struct notify *n, struct admin_http **admin)
{
    char err[512];
    metrics_init(n);
    n->lag = lag_table_new();
    if (!n->lag) {
        log_error("out of memory");
        return -1;
    }
    if (backoff_parse(n->cfg.retry_schedule, &n->schedule, err, sizeof(err)) != 0) {
        log_error("SLUICE_NOTIFY_RETRY_SCHEDULE is invalid", "detail", err);
        return -1;
    }
    struct channel_set *set =
        channel_set_load(n->cfg.routing_file, n->cfg.lease_ms, err, sizeof(err));
    if (!set) {
        log_error("routing file refused", "path", n->cfg.routing_file, "detail", err);
        return -1;
    }
    channel_holder_init(&n->channels, set);
    kafka_topic_name(n->topic, sizeof(n->topic), n->cfg.topic_prefix, "assistance", false);
    kafka_topic_name(n->dlq_topic, sizeof(n->dlq_topic), n->cfg.topic_prefix, "assistance", true);
    n->conn = pg_connect_retry(n->cfg.pg_url, 30000, err, sizeof(err));
    if (!n->conn || pg_migrate(n->conn, n->cfg.schema_dir, err, sizeof(err)) != 0) {
        log_error("PostgreSQL not usable", "detail", err);
        return -1;
    }
    atomic_store(&n->pg_ok, true);
    n->dlq = kafka_producer_new(n->cfg.kafka_brokers, 30000, KAFKA_COMPRESS_LARGE_BATCHES,
                                notify_dlq_on_delivery, n, err, sizeof(err));
    n->consumer =
        n->dlq ? kafka_consumer_new(n->cfg.kafka_brokers, n->cfg.group, KAFKA_SESSION_TIMEOUT_MS,
                                    on_rebalance, n, err, sizeof(err))
               : NULL;
    if (!n->consumer) {
        log_error("cannot create Kafka clients", "detail", err);
        return -1;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, n->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(n->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (kerr) {
        log_error("cannot subscribe", "error", rd_kafka_err2str(kerr));
        return -1;
    }
    n->dispatcher = dispatcher_start(n, err, sizeof(err));
    if (!n->dispatcher) {
        log_error("cannot start sending", "detail", err);
        return -1;
    }
    struct admin_http_handlers h = {admin_ready, admin_metrics, n};
    *admin = admin_http_start(n->cfg.admin_listen, &h, err, sizeof(err));
    if (!*admin) {
        log_error("cannot start admin server", "detail", err);
        return -1;
    }
    log_info("consuming", "topic", n->topic, "group", n->cfg.group, "admin", n->cfg.admin_listen);
    return 0;
}

static void stop(struct notify *n, struct admin_http *admin)
{
    admin_http_stop(admin);
    /* First stop claiming: the sends in flight finish and are recorded
     * before the process goes; then leave the group. */
    dispatcher_stop(n->dispatcher);
    if (n->consumer)
        kafka_consumer_close_bounded(n->consumer, 10000);
    if (n->dlq) {
        rd_kafka_flush(n->dlq, 5000);
        rd_kafka_destroy(n->dlq);
    }
    if (n->channels.current)
        channel_holder_destroy(&n->channels);
    PQfinish(n->conn);
    lag_table_free(n->lag);
}

int main(int argc, char **argv)
{
    static struct notify n;
    int code;
    if (config_from_args(argc, argv,
                         "sluice-notify: routes assistance requests to Slack, email, webhooks.",
                         config_table, CONFIG_COUNT, &n.cfg, &code) != 0)
        return code;
    log_set_process("sluice-notify");
    log_set_level(n.cfg.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signals_install(true);
    /* A log channel on a closed pipe must fail its write, not end the process. */
    signal(SIGPIPE, SIG_IGN);
    otlp_start("sluice-notify");

    struct admin_http *admin = NULL;
    code = 1;
    if (start(&n, &admin) == 0) {
        run(&n);
        log_info("stopping: leaving the group, finishing the sends in flight");
        code = 0;
    }
    stop(&n, admin);
    otlp_stop();
    config_free(config_table, CONFIG_COUNT, &n.cfg);
    curl_global_cleanup();
    return code;
}
