/* sluice-persist: consumes every collection that has a writer (collection.h)
 * in batches and writes it to PostgreSQL exactly once (see persist_batch.h for how). One replica of
 * the consumer group per process; run as many as there are partitions to share. */
#include "admin_http.h"
#include "collection.h"
#include "config.h"
#include "kafka.h"
#include "lag.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "persist_batch.h"
#include "persist_log.h"
#include "persist_search.h"
#include "pg.h"
#include "signals.h"
#include "timeutil.h"
#include "trace.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct persist_config {
    CONFIG_COMMON_FIELDS;
    char *admin_listen;
    char *group;
    long batch_max;
    long batch_wait_ms;
    long assign_timeout_ms;
    long stuck_partition_ms;
    long session_timeout_ms;
    long search_batch;
    long search_poll_ms;
    long search_yield_ms;
    long search_max_lag_ms;
};

#define CFG(field) offsetof(struct persist_config, field)
static const struct config_entry config_table[] = {
    CONFIG_COMMON_ENTRIES(struct persist_config),
    {"SLUICE_ADMIN_LISTEN", CONFIG_ADDR, "127.0.0.1:9100", CFG(admin_listen), 0, 0,
     "admin HTTP address (/healthz, /readyz, /metrics)"},
    {"SLUICE_PERSIST_GROUP", CONFIG_STRING, "sluice-persist", CFG(group), 0, 0,
     "Kafka consumer group"},
    {"SLUICE_BATCH_MAX", CONFIG_INT, "5000", CFG(batch_max), 1, 1000000, "messages per batch"},
    {"SLUICE_BATCH_WAIT_MS", CONFIG_INT, "50", CFG(batch_wait_ms), 0, 60000,
     "how long a batch waits to fill"},
    {"SLUICE_ASSIGN_TIMEOUT_MS", CONFIG_INT, "30000", CFG(assign_timeout_ms), 5000, 3600000,
     "join the group again when no assignment came within this (doubling each time)"},
    {"SLUICE_STUCK_PARTITION_MS", CONFIG_INT, "60000", CFG(stuck_partition_ms), 100, 86400000,
     "a partition whose applied offset has not moved for this long while messages wait is "
     "reported stuck (sluice_persist_partition_stuck)"},
    /* A replica that stops leaves the group at once; librdkafka's mock
     * coordinator (the dev broker) still waits this less 1 s before it hands
     * the partitions on, where Kafka does as soon as the others rejoin. */
    {"SLUICE_KAFKA_SESSION_TIMEOUT_MS", CONFIG_INT, "6000", CFG(session_timeout_ms), 1500, 300000,
     "how long the group waits for a replica that stopped answering (Kafka refuses less than "
     "its group.min.session.timeout.ms, 6000 by default)"},
    /* The contains= indexer (persist_search.h, docs/search.md). */
    {"SLUICE_SEARCH_BATCH", CONFIG_INT, "20000", CFG(search_batch), 100, 1000000,
     "event ids the search indexer takes per transaction"},
    {"SLUICE_SEARCH_POLL_MS", CONFIG_INT, "250", CFG(search_poll_ms), 10, 60000,
     "how often an idle search indexer looks for new events"},
    {"SLUICE_SEARCH_YIELD_MS", CONFIG_INT, "1000", CFG(search_yield_ms), 0, 600000,
     "the search indexer waits while this replica wrote a bulk batch within this long"},
    {"SLUICE_SEARCH_MAX_LAG_MS", CONFIG_INT, "60000", CFG(search_max_lag_ms), 0, 86400000,
     "... unless the oldest event waiting for the index is older than this"},
};
#define CONFIG_COUNT (sizeof(config_table) / sizeof(config_table[0]))

/* The rows of the metric table (metrics_init names them); rows of one
 * family are adjacent. */
enum persist_metric {
    PM_ROWS,
    PM_UPDATED,
    PM_DUPLICATES,
    PM_SKIPPED,
    PM_BATCHES,
    PM_RETRIES,
    PM_DLQ,
    PM_REJOINS,
    PM_CONSUMED_BYTES,
    PM_IMPORT_CREATED,
    PM_IMPORT_UPDATED,
    PM_IMPORT_UNCHANGED,
    PM_IMPORT_DROPPED,
    PM_IDLE,
    PM_COUNT
};

/* What became of a stream's messages, for sluice_persist_records_total. */
enum record_outcome { RO_CREATED, RO_UPDATED, RO_UNCHANGED, RO_REPLAYED, RO_DLQ, RO_COUNT };

/* One collection this worker writes: its topic, writer and pending batch. */
struct stream {
    const struct collection *collection;
    const struct persist_writer *writer;
    char topic[256];
    char dlq_topic[256];
    struct persist_batch batch;
    _Atomic int64_t outcomes[RO_COUNT];
};

struct persist {
    struct persist_config cfg;
    struct stream *streams; /* one per collection with a writer (collection.h) */
    size_t nstreams;
    struct stream *current; /* the stream being written, for the DLQ callbacks */
    rd_kafka_t *consumer;
    rd_kafka_t *dlq;
    PGconn *conn;
    bool revoked; /* a rebalance took partitions while a batch was filling */
    atomic_long dlq_failed;
    struct metric metrics[PM_COUNT];
    struct metric_histogram batch_messages, batch_seconds;
    /* Applied position per assigned partition, for the lag and stuck
     * metrics; written by the main thread, read by the admin thread. */
    struct lag_table *lag;
    atomic_bool pg_ok;
    char cluster_id[128]; /* the Kafka cluster being read (persist_log.h) */
    /* Since when this consumer has been in the group without an assignment
     * (subscribed, or its partitions revoked); 0 while it has one. A group
     * that never hands one out is noticed and joined again instead of
     * leaving acknowledged writes unapplied for minutes (issue 9 item 6). */
    _Atomic int64_t unassigned_since_us;
    atomic_int assigned; /* partitions held, for the metric */
    /* SLUICE_ASSIGN_TIMEOUT_MS, doubled at each join that brought no
     * assignment either, back to it on an assignment: restarting a group
     * that is still forming over and over would keep it from ever forming
     * (each new consumer is one more member the coordinator waits for). */
    long rejoin_after_ms;
    /* The admin thread reads the consumer that the main thread may replace. */
    pthread_rwlock_t consumer_lock;
    struct persist_search *search; /* the contains= indexer's thread */
};

static struct stream *stream_of(struct persist *p, const char *topic)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        if (strcmp(p->streams[i].topic, topic) == 0)
            return &p->streams[i];
    }
    return NULL;
}

/* The lag table borrows the stream's copy of the topic name, which lives
 * as long as the process. */
static void lag_set(struct persist *p, const char *topic, int32_t partition, int64_t next)
{
    struct stream *st = stream_of(p, topic);
    if (st)
        lag_table_set(p->lag, st->topic, partition, next, time_now_us());
}

/* The cluster the consumer reads from; "" when the brokers do not say. */
static void read_cluster_id(struct persist *p)
{
    char *id = rd_kafka_clusterid(p->consumer, 5000);
    snprintf(p->cluster_id, sizeof(p->cluster_id), "%s", id ? id : "");
    if (id)
        rd_kafka_mem_free(p->consumer, id);
}

/* The end of each assigned partition's log (-1 where unknown), by one
 * ListOffsets request for them all. */
static int64_t *log_ends(struct persist *p, const rd_kafka_topic_partition_list_t *parts)
{
    int64_t *ends = malloc((parts->cnt ? (size_t)parts->cnt : 1) * sizeof(*ends));
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
    if (!ends || !q) {
        free(ends);
        if (q)
            rd_kafka_topic_partition_list_destroy(q);
        return NULL;
    }
    for (int i = 0; i < q->cnt; i++)
        q->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest offset */
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(p->consumer, q, 10000);
    for (int i = 0; i < q->cnt; i++)
        ends[i] = err || q->elems[i].err || q->elems[i].offset < 0 ? -1 : q->elems[i].offset;
    if (err)
        log_warn("cannot read where the partitions' logs end", "error", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(q);
    return ends;
}

/* Reads the partitions' rows and sets where each starts (persist_log.h);
 * false when PostgreSQL did not answer. */
static bool start_offsets(struct persist *p, rd_kafka_topic_partition_list_t *parts)
{
    const char *params[] = {p->cfg.group};
    PGresult *res = PQexecParams(p->conn,
                                 "SELECT topic, partition, next_offset, cluster_id, anchor "
                                 "FROM kafka_offsets WHERE consumer_group = $1",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return false;
    }
    int64_t *ends = log_ends(p, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        struct persist_log_row row = {0};
        bool found = false;
        for (int r = 0; r < PQntuples(res) && !found; r++) {
            found = strcmp(PQgetvalue(res, r, 0), tp->topic) == 0 &&
                    atoi(PQgetvalue(res, r, 1)) == tp->partition;
            if (found) {
                row.next = strtoll(PQgetvalue(res, r, 2), NULL, 10);
                row.cluster_id = PQgetisnull(res, r, 3) ? NULL : PQgetvalue(res, r, 3);
                row.anchor = PQgetisnull(res, r, 4) ? NULL : PQgetvalue(res, r, 4);
            }
        }
        int64_t start = persist_log_start(found ? &row : NULL, p->cluster_id, ends ? ends[i] : -1);
        tp->offset = start < 0 ? RD_KAFKA_OFFSET_BEGINNING : start;
        lag_set(p, tp->topic, tp->partition, start < 0 ? 0 : start);
    }
    free(ends);
    PQclear(res);
    return true;
}

/* Where each newly assigned partition resumes: from PostgreSQL's row when it
 * names the log being read, else from the log's beginning. Kafka's committed
 * offsets are never used: they may run behind the database, and after a
 * broker restart they belong to nobody. Without PostgreSQL nothing can be
 * decided, so this waits for it (heartbeats go on in librdkafka's thread);
 * the batch could not be written meanwhile anyway. */
static void assign_from_database(struct persist *p, rd_kafka_topic_partition_list_t *parts)
{
    read_cluster_id(p);
    long backoff = 100;
    bool said = false;
    while (signals_running) {
        char err[256] = "";
        if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
            PQfinish(p->conn);
            p->conn = pg_connect(p->cfg.pg_url, err, sizeof(err));
        }
        if (p->conn && start_offsets(p, parts)) {
            atomic_store(&p->pg_ok, true);
            return;
        }
        atomic_store(&p->pg_ok, false);
        if (!said)
            log_warn("PostgreSQL unreachable: partitions wait for it before they are read",
                     "detail", err[0] ? err : (p->conn ? PQerrorMessage(p->conn) : ""));
        said = true;
        time_sleep_ms(backoff);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
    /* Stopping: nothing read from here on is written. */
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct persist *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_from_database(p, parts);
        char count[16];
        snprintf(count, sizeof(count), "%d", parts->cnt);
        log_info("partitions assigned", "count", count);
        /* A member the group gave nothing: more replicas than partitions.
         * It is in the group (not waiting for an assignment: the watchdog
         * leaves it alone) and takes over when a rebalance hands it some. */
        if (parts->cnt == 0)
            log_info("no partitions for this replica: idle until a rebalance gives it some",
                     "group", p->cfg.group);
        metric_set(&p->metrics[PM_IDLE], parts->cnt == 0);
        rd_kafka_assign(rk, parts);
        atomic_store(&p->assigned, parts->cnt);
        atomic_store(&p->unassigned_since_us, 0);
        p->rejoin_after_ms = p->cfg.assign_timeout_ms;
    } else {
        /* The batch being filled may hold messages of revoked partitions: drop
         * it; the next owner resumes from PostgreSQL's offsets. */
        p->revoked = true;
        lag_table_clear(p->lag);
        metric_set(&p->metrics[PM_IDLE], 0);
        log_info("partitions revoked");
        rd_kafka_assign(rk, NULL);
        atomic_store(&p->assigned, 0);
        atomic_store(&p->unassigned_since_us, time_now_us());
    }
}

static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct persist *p = opaque;
    if (msg->err)
        atomic_fetch_add(&p->dlq_failed, 1);
}

static int dlq_send(void *opaque, const struct persist_item *it)
{
    struct persist *p = opaque;
    rd_kafka_headers_t *h = kafka_dlq_headers(it->error, it->msg);
    trace_copy_headers(it->msg, h);
    rd_kafka_resp_err_t err = rd_kafka_producev(p->dlq, RD_KAFKA_V_TOPIC(p->current->dlq_topic),
                                                RD_KAFKA_V_KEY(it->msg->key, it->msg->key_len),
                                                RD_KAFKA_V_VALUE(it->msg->payload, it->msg->len),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        return -1;
    }
    char partition[16], offset[32], status[16];
    snprintf(partition, sizeof(partition), "%d", it->msg->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)it->msg->offset);
    snprintf(status, sizeof(status), "%d", it->reject_status ? it->reject_status : 422);
    /* The request's ids: a grep for its trace id finds why it was refused. */
    struct trace_ids ids;
    trace_ids_from_message(it->msg, &ids);
    log_warn("poison message sent to the dead-letter topic", "topic", p->current->topic,
             "partition", partition, "offset", offset, "error", it->error, "status", status, "id",
             trace_field(it->record_id), "request_id", trace_field(ids.request_id), "trace_id",
             trace_field(ids.trace_id), "import_id", trace_field(it->import_id));
    return 0;
}

static int64_t high_watermark(void *opaque, const char *topic, int32_t partition)
{
    struct persist *p = opaque;
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(p->consumer, topic, partition, &low, &high, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return high;
}

static int dlq_flush(void *opaque)
{
    struct persist *p = opaque;
    if (rd_kafka_flush(p->dlq, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return atomic_exchange(&p->dlq_failed, 0) == 0 ? 0 : -1;
}

/* A committed batch in the metrics. */
static void count_batch(struct persist *p, struct stream *st, const struct persist_stats *stats,
                        int64_t took_us)
{
    metric_add(&p->metrics[PM_ROWS], stats->created);
    metric_add(&p->metrics[PM_UPDATED], stats->updated);
    metric_add(&p->metrics[PM_DUPLICATES], stats->unchanged);
    metric_add(&p->metrics[PM_SKIPPED], stats->skipped);
    metric_add(&p->metrics[PM_DLQ], stats->poison);
    metric_add(&p->metrics[PM_BATCHES], 1);
    metric_add(&p->metrics[PM_IMPORT_CREATED], stats->import_created);
    metric_add(&p->metrics[PM_IMPORT_UPDATED], stats->import_updated);
    metric_add(&p->metrics[PM_IMPORT_UNCHANGED], stats->import_unchanged);
    metric_add(&p->metrics[PM_IMPORT_DROPPED], stats->import_dropped);
    const long by_outcome[RO_COUNT] = {
        [RO_CREATED] = stats->created,     [RO_UPDATED] = stats->updated,
        [RO_UNCHANGED] = stats->unchanged, [RO_REPLAYED] = stats->skipped,
        [RO_DLQ] = stats->poison,
    };
    for (size_t i = 0; i < RO_COUNT; i++)
        atomic_fetch_add_explicit(&st->outcomes[i], by_outcome[i], memory_order_relaxed);
    metric_observe(&p->batch_messages, (int64_t)st->batch.count);
    metric_observe_us(&p->batch_seconds, took_us);
}

/* Writes the batch, retrying transient failures with backoff until it commits
 * or the process is told to stop (then nothing of the batch is committed and
 * the next owner replays it). */
/* A batch that filled up (the replica is behind its topic) or carries an
 * import's records: the search indexer defers to it, from before it is
 * written until yield_ms after, so a write taking longer than that opens no
 * gap. Small batches of a steady trickle leave the indexer to keep up. */
static bool batch_is_bulk(const struct persist *p, const struct stream *st)
{
    if (st->batch.count >= (size_t)p->cfg.batch_max)
        return true;
    size_t size;
    for (size_t i = 0; i < st->batch.count; i++) {
        if (kafka_header(st->batch.items[i].msg, "x-import-id", &size))
            return true;
    }
    return false;
}

static bool write_batch(struct persist *p, struct stream *st)
{
    p->current = st;
    bool bulk = st->batch.bulk = batch_is_bulk(p, st);
    struct persist_sink sink = {dlq_send, dlq_flush, high_watermark, p};
    long backoff = 100;
    int64_t first_try = time_now_us();
    int attempts = 0;
    while (signals_running) {
        char err[512] = "";
        if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
            PQfinish(p->conn);
            p->conn = pg_connect(p->cfg.pg_url, err, sizeof(err));
        }
        if (p->conn) {
            struct persist_stats stats = {0};
            int64_t started = time_now_us();
            attempts++;
            if (bulk)
                persist_search_busy(p->search);
            if (persist_batch_write(p->conn, p->cfg.group, st->topic, p->cluster_id, st->writer,
                                    &st->batch, &sink, &stats, err, sizeof(err)) == PERSIST_OK) {
                atomic_store(&p->pg_ok, true);
                count_batch(p, st, &stats, time_now_us() - started);
                if (bulk)
                    persist_search_busy(p->search);
                persist_batch_trace(&st->batch, st->topic, p->cfg.group, &stats, first_try,
                                    attempts, NULL);
                return true;
            }
        }
        atomic_store(&p->pg_ok, false);
        metric_add(&p->metrics[PM_RETRIES], 1);
        char delay[16];
        snprintf(delay, sizeof(delay), "%ld", backoff);
        log_warn("batch not written; retrying", "detail", err, "backoff_ms", delay);
        time_sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    persist_batch_trace(&st->batch, st->topic, p->cfg.group, NULL, first_try, attempts,
                        "stopping: the batch is left to the partition's next owner");
    return false;
}

static bool seeking(const struct persist_batch *b, int32_t partition)
{
    for (size_t i = 0; i < b->nseeks; i++) {
        if (b->seeks[i].partition == partition)
            return true;
    }
    return false;
}

/* Partitions the batch found in another log, or could not place yet, are
 * read again from where it said (persist_log.h). */
static void seek_partitions(struct persist *p, struct stream *st)
{
    if (!st->batch.nseeks)
        return;
    rd_kafka_topic_partition_list_t *to = rd_kafka_topic_partition_list_new((int)st->batch.nseeks);
    for (size_t i = 0; i < st->batch.nseeks; i++) {
        const struct persist_seek *sk = &st->batch.seeks[i];
        rd_kafka_topic_partition_list_add(to, st->topic, sk->partition)->offset =
            sk->offset < 0 ? RD_KAFKA_OFFSET_BEGINNING : sk->offset;
        lag_set(p, st->topic, sk->partition, sk->offset < 0 ? 0 : sk->offset);
    }
    rd_kafka_error_t *error = rd_kafka_seek_partitions(p->consumer, to, 10000);
    if (error) {
        /* The partition then goes on from where it was, and its next batch
         * meets the same row and asks again. */
        log_warn("cannot seek", "topic", st->topic, "error", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    rd_kafka_topic_partition_list_destroy(to);
}

/* After the database commit, Kafka's committed offsets follow (for tools
 * such as lag monitors); PostgreSQL stays the source of truth. */
static void commit_to_kafka(struct persist *p, struct stream *st)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < st->batch.count; i++) {
        if (!seeking(&st->batch, st->batch.items[i].msg->partition))
            kafka_offsets_advance(offsets, st->batch.items[i].msg);
    }
    for (int i = 0; i < offsets->cnt; i++)
        lag_set(p, st->topic, offsets->elems[i].partition, offsets->elems[i].offset);
    if (offsets->cnt)
        rd_kafka_commit(p->consumer, offsets, 1);
    rd_kafka_topic_partition_list_destroy(offsets);
    seek_partitions(p, st);
}

static size_t pending(struct persist *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nstreams; i++)
        n += p->streams[i].batch.count;
    return n;
}

static void clear_all(struct persist *p)
{
    for (size_t i = 0; i < p->nstreams; i++)
        persist_batch_clear(&p->streams[i].batch);
}

/* A new consumer subscribed to every stream's topic, or NULL with err. */
static rd_kafka_t *join_group(struct persist *p, char *err, size_t errlen)
{
    rd_kafka_t *rk =
        kafka_consumer_new(p->cfg.kafka_brokers, p->cfg.group, (int)p->cfg.session_timeout_ms,
                           on_rebalance, p, err, errlen);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)p->nstreams);
    for (size_t i = 0; i < p->nstreams; i++)
        rd_kafka_topic_partition_list_add(sub, p->streams[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (kerr) {
        snprintf(err, errlen, "cannot subscribe: %s", rd_kafka_err2str(kerr));
        rd_kafka_destroy(rk);
        return NULL;
    }
    atomic_store(&p->assigned, 0);
    atomic_store(&p->unassigned_since_us, time_now_us());
    metric_set(&p->metrics[PM_IDLE], 0);
    return rk;
}

/* The watchdog, run before each poll: in the group with no assignment for
 * longer than rejoin_after_ms. A new consumer (a new member id and new
 * connections) rather than a re-subscribe: a coordinator that dropped our
 * JoinGroup would keep this client waiting max.poll.interval.ms for it.
 * Nothing is lost: PostgreSQL's offsets say where each partition resumes. */
static void rejoin_if_unassigned(struct persist *p)
{
    int64_t since = atomic_load(&p->unassigned_since_us);
    int64_t now = time_now_us();
    if (!since || now - since < p->rejoin_after_ms * 1000)
        return;
    char waited[32], err[512];
    snprintf(waited, sizeof(waited), "%lld", (long long)((now - since) / 1000));
    log_warn("no partitions assigned; joining the consumer group again", "group", p->cfg.group,
             "waited_ms", waited);
    metric_add(&p->metrics[PM_REJOINS], 1);
    p->rejoin_after_ms = p->rejoin_after_ms * 2 > 600000 ? 600000 : p->rejoin_after_ms * 2;
    clear_all(p); /* nothing of an assignment it never had, but never keep the old handle's */
    pthread_rwlock_wrlock(&p->consumer_lock);
    kafka_consumer_close_bounded(p->consumer, 5000);
    p->consumer = join_group(p, err, sizeof(err));
    pthread_rwlock_unlock(&p->consumer_lock);
    if (!p->consumer) {
        log_error("cannot join the consumer group again; stopping", "detail", err);
        signals_running = 0;
    }
}

/* Fills the batches until full or the wait since the first message is over. */
static void fill(struct persist *p)
{
    int64_t deadline = 0;
    while (signals_running && pending(p) < (size_t)p->cfg.batch_max) {
        int wait_ms = 100;
        if (deadline) {
            int64_t left = (deadline - time_now_us()) / 1000;
            if (left <= 0)
                break;
            wait_ms = (int)left;
        }
        rejoin_if_unassigned(p);
        if (!p->consumer)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, wait_ms);
        if (p->revoked) {
            /* The rebalance ran inside this poll, which usually returns NULL. */
            if (m)
                rd_kafka_message_destroy(m);
            clear_all(p);
            p->revoked = false;
            deadline = 0;
            continue;
        }
        if (!m)
            continue;
        struct stream *st = m->err ? NULL : stream_of(p, rd_kafka_topic_name(m->rkt));
        if (!st) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("consumer error", "detail", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (persist_batch_add(&st->batch, m) != 0) {
            rd_kafka_message_destroy(m);
            break;
        }
        metric_add(&p->metrics[PM_CONSUMED_BYTES], (int64_t)m->len);
        if (!deadline)
            deadline = time_now_us() + p->cfg.batch_wait_ms * 1000;
    }
}

static void run(struct persist *p)
{
    while (signals_running) {
        p->revoked = false;
        fill(p);
        for (size_t i = 0; i < p->nstreams && signals_running; i++) {
            struct stream *st = &p->streams[i];
            if (st->batch.count && write_batch(p, st))
                commit_to_kafka(p, st);
        }
        clear_all(p);
    }
}

static bool admin_ready(void *opaque, char *why, size_t whylen)
{
    struct persist *p = opaque;
    /* The DLQ producer reaches the same cluster and is never replaced. */
    return admin_http_worker_ready(atomic_load(&p->pg_ok), p->dlq, why, whylen);
}

static void admin_metrics(void *opaque, struct buf *out)
{
    struct persist *p = opaque;
    metrics_render(out, p->metrics, PM_COUNT);
    static const char *const outcomes[RO_COUNT] = {"created", "updated", "unchanged", "replayed",
                                                   "dead-lettered"};
    metrics_family(out, "sluice_persist_records_total",
                   "Messages of committed batches by topic and what became of them (created, "
                   "updated, unchanged: rows written; replayed: applied before; dead-lettered: "
                   "sent to the DLQ)",
                   "counter");
    for (size_t i = 0; i < p->nstreams; i++) {
        for (size_t k = 0; k < RO_COUNT; k++) {
            buf_puts(out, "sluice_persist_records_total{topic=");
            metrics_label(out, p->streams[i].topic);
            buf_printf(
                out, ",outcome=\"%s\"} %lld\n", outcomes[k],
                (long long)atomic_load_explicit(&p->streams[i].outcomes[k], memory_order_relaxed));
        }
    }
    metrics_render_histogram(out, &p->batch_messages);
    metrics_render_histogram(out, &p->batch_seconds);
    int64_t since = atomic_load(&p->unassigned_since_us);
    buf_printf(out,
               "# HELP sluice_persist_assigned_partitions Partitions this replica holds\n"
               "# TYPE sluice_persist_assigned_partitions gauge\n"
               "sluice_persist_assigned_partitions %d\n"
               "# HELP sluice_persist_unassigned_seconds How long it has been in the group "
               "without an assignment\n"
               "# TYPE sluice_persist_unassigned_seconds gauge\n"
               "sluice_persist_unassigned_seconds %.3f\n",
               atomic_load(&p->assigned), since ? (double)(time_now_us() - since) / 1e6 : 0.0);
    pthread_rwlock_rdlock(&p->consumer_lock);
    lag_table_render(p->lag, lag_consumer_watermarks, p->consumer, "sluice_persist",
                     p->cfg.stuck_partition_ms * 1000, time_now_us(), out);
    pthread_rwlock_unlock(&p->consumer_lock);
    persist_search_render(p->search, out);
    otlp_metrics_render(out);
    metrics_render_process(out);
}

static void metrics_init(struct persist *p)
{
    static const char *const imported = "Records of bulk imports in committed batches, by what "
                                        "became of them (dropped: sent to the DLQ)";
    static const char *const defs[PM_COUNT][4] = {
        [PM_ROWS] = {"sluice_persist_rows_total", "Rows inserted", "counter"},
        [PM_UPDATED] = {"sluice_persist_updated_total", "Records replaced by a changed version",
                        "counter"},
        [PM_DUPLICATES] = {"sluice_persist_duplicates_total",
                           "Messages whose record was already stored as it is", "counter"},
        [PM_SKIPPED] = {"sluice_persist_replayed_total",
                        "Messages not applied: offset already applied, or read again to check "
                        "which log the offsets belong to",
                        "counter"},
        [PM_BATCHES] = {"sluice_persist_batches_total", "Batches committed", "counter"},
        [PM_RETRIES] = {"sluice_persist_batch_retries_total",
                        "Batch attempts that failed transiently", "counter"},
        [PM_DLQ] = {"sluice_persist_dlq_total", "Poison messages sent to the DLQ", "counter"},
        [PM_REJOINS] = {"sluice_persist_group_rejoins_total",
                        "Times no assignment came in time and the group was joined again",
                        "counter"},
        [PM_CONSUMED_BYTES] = {"sluice_persist_consumed_bytes_total",
                               "Bytes of the messages consumed (values)", "counter"},
        [PM_IMPORT_CREATED] = {"sluice_persist_import_records_total", imported, "counter",
                               "outcome=\"created\""},
        [PM_IMPORT_UPDATED] = {"sluice_persist_import_records_total", imported, "counter",
                               "outcome=\"updated\""},
        [PM_IMPORT_UNCHANGED] = {"sluice_persist_import_records_total", imported, "counter",
                                 "outcome=\"unchanged\""},
        [PM_IMPORT_DROPPED] = {"sluice_persist_import_records_total", imported, "counter",
                               "outcome=\"dropped\""},
        [PM_IDLE] = {"sluice_persist_idle",
                     "1 while the group gives this replica no partitions (more replicas than "
                     "partitions)",
                     "gauge"},
    };
    for (size_t i = 0; i < PM_COUNT; i++) {
        p->metrics[i].name = defs[i][0];
        p->metrics[i].help = defs[i][1];
        p->metrics[i].type = defs[i][2];
        p->metrics[i].labels = defs[i][3];
    }
    p->batch_messages.name = "sluice_persist_batch_messages";
    p->batch_messages.help = "Messages in each committed batch (of one topic)";
    p->batch_messages.buckets = &metrics_buckets_count;
    p->batch_seconds.name = "sluice_persist_batch_seconds";
    p->batch_seconds.help = "Time to write and commit a batch (the attempt that committed)";
    p->batch_seconds.buckets = &metrics_buckets_latency_long;
    pthread_rwlock_init(&p->consumer_lock, NULL);
}

static int start(struct persist *p, struct admin_http **admin)
{
    char err[512];
    metrics_init(p);
    p->lag = lag_table_new();
    p->streams = calloc(collection_count, sizeof(*p->streams));
    if (!p->streams || !p->lag) {
        log_error("out of memory");
        return -1;
    }
    char names[256] = "";
    size_t names_len = 0;
    for (size_t i = 0; i < collection_count; i++) {
        if (!collections[i].writer)
            continue;
        struct stream *st = &p->streams[p->nstreams++];
        st->collection = &collections[i];
        st->writer = collections[i].writer;
        kafka_topic_name(st->topic, sizeof(st->topic), p->cfg.topic_prefix, st->collection->name,
                         false);
        kafka_topic_name(st->dlq_topic, sizeof(st->dlq_topic), p->cfg.topic_prefix,
                         st->collection->name, true);
        int w = snprintf(names + names_len, sizeof(names) - names_len, "%s%s",
                         names_len ? ", " : "", st->collection->name);
        if (w > 0 && (size_t)w < sizeof(names) - names_len)
            names_len += (size_t)w;
    }
    p->conn = pg_connect_retry(p->cfg.pg_url, 30000, err, sizeof(err));
    if (!p->conn || pg_migrate(p->conn, p->cfg.schema_dir, err, sizeof(err)) != 0) {
        log_error("PostgreSQL not usable", "detail", err);
        return -1;
    }
    atomic_store(&p->pg_ok, true);
    struct persist_search_config sc = {.pg_url = p->cfg.pg_url,
                                       .batch = p->cfg.search_batch,
                                       .poll_ms = p->cfg.search_poll_ms,
                                       .yield_ms = p->cfg.search_yield_ms,
                                       .max_lag_ms = p->cfg.search_max_lag_ms};
    p->search = persist_search_start(&sc, err, sizeof(err));
    if (!p->search) {
        log_error("cannot start the search indexer", "detail", err);
        return -1;
    }
    p->dlq = kafka_producer_new(p->cfg.kafka_brokers, 30000, KAFKA_COMPRESS_LARGE_BATCHES,
                                on_dlq_delivery, p, err, sizeof(err));
    p->rejoin_after_ms = p->cfg.assign_timeout_ms;
    p->consumer = p->dlq ? join_group(p, err, sizeof(err)) : NULL;
    if (!p->consumer) {
        log_error("cannot create Kafka clients", "detail", err);
        return -1;
    }
    struct admin_http_handlers h = {admin_ready, admin_metrics, p};
    *admin = admin_http_start(p->cfg.admin_listen, &h, err, sizeof(err));
    if (!*admin) {
        log_error("cannot start admin server", "detail", err);
        return -1;
    }
    log_info("consuming", "collections", names, "group", p->cfg.group, "admin",
             p->cfg.admin_listen);
    return 0;
}

static void stop(struct persist *p, struct admin_http *admin)
{
    admin_http_stop(admin);
    persist_search_stop(p->search);
    if (p->consumer)
        kafka_consumer_close_bounded(p->consumer, 10000);
    if (p->dlq) {
        rd_kafka_flush(p->dlq, 5000);
        rd_kafka_destroy(p->dlq);
    }
    for (size_t i = 0; i < p->nstreams; i++)
        persist_batch_free(&p->streams[i].batch);
    free(p->streams);
    PQfinish(p->conn);
    lag_table_free(p->lag);
    pthread_rwlock_destroy(&p->consumer_lock);
}

int main(int argc, char **argv)
{
    static struct persist p;
    int code;
    if (config_from_args(argc, argv,
                         "sluice-persist: writes the collections to PostgreSQL (collection.h).",
                         config_table, CONFIG_COUNT, &p.cfg, &code) != 0)
        return code;
    log_set_process("sluice-persist");
    log_set_level(p.cfg.log_level);
    signals_install(false);
    otlp_start("sluice-persist");

    struct admin_http *admin = NULL;
    code = 1;
    if (start(&p, &admin) == 0) {
        run(&p);
        log_info("stopping: leaving the group");
        code = 0;
    }
    stop(&p, admin);
    otlp_stop();
    config_free(config_table, CONFIG_COUNT, &p.cfg);
    return code;
}
