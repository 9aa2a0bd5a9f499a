#include "ingest_start.h"

#include "auth.h"
#include "collection.h"
#include "dbpool.h"
#include "idemkeys.h"
#include "keyfilter.h"
#include "keystore.h"
#include "log.h"
#include "pg.h"
#include "routes.h"
#include "routing.h"
#include "write.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_DEADLINE_MS 30000

static int start_database(struct ingest *app)
{
    char err[512];
    PGconn *conn = pg_connect_retry(app->cfg.pg_url, START_DEADLINE_MS, err, sizeof(err));
    if (!conn) {
        log_error("cannot connect to PostgreSQL", "detail", err);
        return -1;
    }
    int rc = pg_migrate(conn, app->cfg.schema_dir, err, sizeof(err));
    PQfinish(conn);
    if (rc != 0) {
        log_error("cannot apply migrations", "detail", err);
        return -1;
    }
    app->pg =
        pgpool_new(app->cfg.pg_url, (size_t)app->cfg.pg_pool_size, (int)app->cfg.db_timeout_ms);
    if (!app->pg)
        return -1;
    app->dbpool =
        dbpool_start((size_t)app->cfg.db_threads, (size_t)app->cfg.db_queue, err, sizeof(err));
    if (!app->dbpool) {
        log_error("cannot start the database threads", "detail", err);
        return -1;
    }
    app->keyfilter = keyfilter_start(app->cfg.pg_url, err, sizeof(err));
    if (!app->keyfilter) {
        log_error("cannot start the idempotency keys' filter", "detail", err);
        return -1;
    }
    app->auth = auth_start(&app->cfg, err, sizeof(err));
    if (!app->auth) {
        log_error("cannot start authentication", "detail", err);
        return -1;
    }
    /* Keys are read before the port opens, so a client that writes the
     * moment /readyz answers is not told its key is unknown. */
    keystore_reload_wait(auth_keystore(app->auth), 5000);
    app->waiters = waiters_start(app->cfg.pg_url, err, sizeof(err));
    if (!app->waiters) {
        log_error("cannot start waiting for persisted records", "detail", err);
        return -1;
    }
    return 0;
}

/* A producer and the thread that serves its delivery reports. */
static rd_kafka_t *start_producer(struct ingest *app, long timeout_ms, const char *compression,
                                  struct kafka_poller *poller)
{
    char err[512];
    rd_kafka_t *rk = kafka_producer_new(app->cfg.kafka_brokers, (int)timeout_ms, compression,
                                        write_on_delivery, app, err, sizeof(err));
    if (!rk) {
        log_error("cannot create Kafka producer", "detail", err);
        return NULL;
    }
    if (kafka_poller_start(poller, rk) != 0) {
        log_error("cannot start the delivery-report thread");
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* A producer exists only with its poller running (start_producer), so the
 * poller's stop flag tells whether ingest_drain has stopped it already. */
static void stop_poller(rd_kafka_t *rk, struct kafka_poller *poller)
{
    if (rk && !atomic_load(&poller->stop))
        kafka_poller_stop(poller);
}

static void stop_producer(rd_kafka_t **rk, struct kafka_poller *poller)
{
    if (!*rk)
        return;
    stop_poller(*rk, poller);
    rd_kafka_destroy(*rk);
    *rk = NULL;
}

static int start_kafka(struct ingest *app)
{
    char err[512];
    /* Bulk imports get their own producer: their backlog never delays an
     * interactive write, and a long upload may wait longer for acks. */
    app->producer =
        start_producer(app, app->cfg.ack_timeout_ms, KAFKA_COMPRESS_SMALL_BATCHES, &app->poller);
    app->bulk_producer = app->producer
                             ? start_producer(app, app->cfg.bulk_ack_timeout_ms,
                                              KAFKA_COMPRESS_LARGE_BATCHES, &app->bulk_poller)
                             : NULL;
    if (!app->bulk_producer)
        return -1;
    size_t n = collection_count;
    app->topics = calloc(n, sizeof(*app->topics));
    char(*dlqs)[INGEST_TOPIC_MAX] = calloc(n, sizeof(*dlqs));
    const char **topics = calloc(2 * n, sizeof(*topics));
    if (!app->topics || !dlqs || !topics) {
        free(dlqs);
        free(topics);
        log_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        kafka_topic_name(app->topics[i], sizeof(app->topics[i]), app->cfg.topic_prefix,
                         collections[i].name, false);
        kafka_topic_name(dlqs[i], sizeof(dlqs[i]), app->cfg.topic_prefix, collections[i].name,
                         true);
        topics[2 * i] = app->topics[i];
        topics[2 * i + 1] = dlqs[i];
    }
    int ret = kafka_ensure_topics(app->producer, topics, 2 * n, (int)app->cfg.topic_partitions,
                                  (int)app->cfg.topic_replication, START_DEADLINE_MS / 3, err,
                                  sizeof(err));
    free(dlqs);
    free(topics);
    if (ret != 0)
        log_error("kafka topics are not usable", "detail", err);
    return ret;
}

/* Ingest only needs the topics of the routing file: the channels' secrets
 * belong to the notify workers, so a ${VAR} here is never looked up. */
static char *routing_placeholder(const char *name)
{
    (void)name;
    return "(expanded by sluice-notify)";
}

/* The routing file, or NULL after one log line with msg and the reason. */
static struct routing *load_routing(const struct ingest *app, const char *msg)
{
    char err[512];
    struct routing *r = routing_load(app->cfg.routing_file, routing_placeholder, err, sizeof(err));
    if (!r)
        log_error(msg, "path", app->cfg.routing_file, "detail", err);
    return r;
}

void ingest_reload_routing(struct ingest *app)
{
    struct routing *fresh = load_routing(app, "routing file refused; keeping the previous one");
    if (!fresh)
        return;
    pthread_rwlock_wrlock(&app->routing_lock);
    struct routing *old = app->routing;
    app->routing = fresh;
    pthread_rwlock_unlock(&app->routing_lock);
    routing_free(old);
    char topics[1024];
    routing_topic_list(fresh, topics, sizeof(topics));
    log_info("routing reloaded", "path", app->cfg.routing_file, "topics", topics);
}

const char *ingest_topic(const struct ingest *app, const char *collection)
{
    const struct collection *c = collection_find(collection);
    return c ? app->topics[collection_index(c)] : NULL;
}

int ingest_start(struct ingest *app)
{
    ingest_metrics_init(app);
    char err[256];
    /* Validated by the config table already; this cannot fail here. */
    if (cidr_parse_list(app->cfg.trusted_proxies, app->trusted_proxies, CONFIG_MAX_CIDRS,
                        &app->trusted_proxy_count, err, sizeof(err)) != 0) {
        log_error("SLUICE_TRUSTED_PROXIES is invalid", "detail", err);
        return -1;
    }
    pthread_rwlock_init(&app->routing_lock, NULL);
    app->routing = load_routing(app, "routing file refused");
    if (!app->routing)
        return -1;
    app->idemkeys = idemkeys_new(IDEMKEYS_CAPACITY, IDEMKEYS_MAX_AGE_US);
    app->routes = routes_all(&app->route_count);
    if (!app->idemkeys || !app->routes) {
        log_error("cannot allocate the idempotency key index or the route table");
        return -1;
    }
    if (start_database(app) != 0)
        return -1;
    return start_kafka(app);
}

/* Waits, at most until deadline_us, for every suspended request to be
 * resumed and back on its HTTP thread; true when none is left. */
static bool wait_inflight(const struct ingest *app, int64_t deadline_us)
{
    while (atomic_load(&app->inflight) > 0 && time_now_us() < deadline_us)
        time_sleep_ms(5);
    return atomic_load(&app->inflight) == 0;
}

/* Ends in a delivery report for every message the producer still holds: those
 * Kafka took within the flush as acks, the rest as purge errors (503). */
static void drain_producer(rd_kafka_t *rk, int flush_ms)
{
    if (!rk)
        return;
    rd_kafka_flush(rk, flush_ms);
    if (rd_kafka_outq_len(rk) > 0) {
        log_warn("stopping: Kafka did not take every write in time; answering the rest 503");
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk, 1000);
    }
}

/* The order is what keeps a request from outliving what it uses:
 *   1. (main has quiesced the daemon: no new connections)
 *   2. the waiters resume every parked request with its timeout answer;
 *   3. the producers end every write in a delivery report, which resumes it;
 *   4. the database pool ends its jobs, which resume theirs;
 *   5. every resumed request is answered on its HTTP thread;
 *   6. the delivery-report threads stop, so nothing resumes a request after
 *      http_stop has freed it.
 * Then main stops the daemon, and only ingest_stop frees the waiters, which
 * requests keep using until their HTTP thread has answered them. */
void ingest_drain(struct ingest *app)
{
    waiters_close(app->waiters);
    bulk_close();
    int flush_ms = (int)app->cfg.ack_timeout_ms + 1000;
    drain_producer(app->producer, flush_ms);
    drain_producer(app->bulk_producer, flush_ms);
    wait_inflight(app, time_now_us() + (app->cfg.ack_timeout_ms + 2000) * 1000);
    /* Before the HTTP server stops: a job still running resumes its
     * connection when it ends (bounded by SLUICE_DB_TIMEOUT_MS and libpq's
     * connect_timeout); the queued ones answer 503 without waiting. */
    atomic_store(&app->db_closing, true);
    dbpool_stop(app->dbpool);
    /* The requests those jobs resumed are answered on their HTTP threads. */
    if (!wait_inflight(app, time_now_us() + 3000000)) {
        char left[32];
        snprintf(left, sizeof(left), "%ld", (long)atomic_load(&app->inflight));
        log_warn("stopping with requests still unanswered", "requests", left);
    }
    stop_poller(app->producer, &app->poller);
    stop_poller(app->bulk_producer, &app->bulk_poller);
}

void ingest_stop(struct ingest *app)
{
    stop_producer(&app->bulk_producer, &app->bulk_poller);
    stop_producer(&app->producer, &app->poller);
    dbpool_free(app->dbpool);
    app->dbpool = NULL;
    waiters_free(app->waiters);
    app->waiters = NULL;
    auth_stop(app->auth);
    app->auth = NULL;
    keyfilter_stop(app->keyfilter);
    app->keyfilter = NULL;
    pgpool_free(app->pg);
    app->pg = NULL;
    routing_free(app->routing);
    app->routing = NULL;
    idemkeys_free(app->idemkeys);
    app->idemkeys = NULL;
    free(app->routes);
    app->routes = NULL;
    free(app->topics);
    app->topics = NULL;
}
