/* ingest: the state of one sluice-ingest process, shared by its modules.
 *
 * main() fills the configuration and starts the parts in order (database pool,
 * producer and its poll thread, HTTP server); handlers only read this struct,
 * apart from the atomic metrics and the in-flight counter. */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include "config.h"
#include "kafka.h"
#include "netaddr.h"
#include "metrics.h"
#include "pgpool.h"
#include "waiters.h"

#include <pthread.h>
#include <stdatomic.h>

struct dbpool;
struct idemkeys;
struct keyfilter;
struct route;
struct routing;

#define INGEST_TOPIC_MAX 256

struct ingest_config {
    char *listen;
    long listen_reuseport;  /* 1: SO_REUSEPORT (http.h) */
    long shutdown_grace_ms; /* how long open connections may go on at SIGTERM */
    CONFIG_COMMON_FIELDS;
    long http_threads;
    long max_connections_per_ip; /* 0: no limit (of the 4096 in all) */
    long max_body_bytes;
    long ack_timeout_ms;
    long bulk_ack_timeout_ms;
    long topic_partitions;
    long topic_replication;
    long pg_pool_size;
    long db_threads;    /* threads running database work (dbpool.h) */
    long db_queue;      /* requests that may wait for one; more get 503 */
    long db_timeout_ms; /* how long one query may take */
    char *trusted_proxies;
    char *routing_file;
    /* Authentication (auth.h) */
    char *auth_public_scopes;
    char *api_key_pepper;
    char *rate_limit;
    char *webhook_sources_file;
    char *jwt_jwks;
    char *jwt_hs256_secret;
    char *jwt_issuer;
    char *jwt_audience;
    char *jwt_algorithms;
    char *jwt_tenant_claim;
    long jwt_leeway_s;
    /* HTTPS (http.c): PEM files, both set or both empty */
    char *tls_cert;
    char *tls_key;
};

/* The rows of ingest's metric table (ops.c names them); rows of one family
 * are adjacent. */
enum ingest_metric {
    M_REQ_2XX,
    M_REQ_4XX,
    M_REQ_5XX,
    M_PRODUCED,
    /* Writes Kafka did not take, by reason (write.c). */
    M_FAILED_TIMEOUT,
    M_FAILED_QUEUE_FULL,
    M_FAILED_TOO_LARGE,
    M_FAILED_OTHER,
    M_INFLIGHT,
    M_DB_REFUSED,
    /* Bytes of the messages Kafka acknowledged, by producer. */
    M_BYTES_WRITES,
    M_BYTES_BULK,
    /* Imported records' delivery reports. */
    M_BULK_PRODUCED,
    M_BULK_FAILED,
    /* Keyed writes whose key was new by the filter (no lookup), or looked
     * up in PostgreSQL (events.c). */
    M_IDEM_FILTERED,
    M_IDEM_LOOKED_UP,
    M_IDEM_FILTER_READY, /* 1 while the filter is whole (set when rendered) */
    M_IDEM_FILTER_KEYS,
    M_METRIC_COUNT
};

/* Requests by route (ops.c): a row per route of the table http.c matches,
 * up to INGEST_ROUTE_ROWS, and a last row for requests no route took (not
 * found, method not allowed, refused before matching); a counter per
 * status code from 100 to 599 and a duration histogram in each. */
#define INGEST_ROUTE_ROWS 64
#define INGEST_STATUS_FIRST 100
#define INGEST_STATUS_SLOTS 500
struct ingest_route_metrics {
    _Atomic int64_t responses[INGEST_STATUS_SLOTS];
    struct metric_histogram seconds;
};

/* The two producers, for the metrics that tell them apart. */
enum ingest_producer { PRODUCER_WRITES, PRODUCER_BULK, PRODUCER_COUNT };

struct ingest {
    struct ingest_config cfg;
    rd_kafka_t *producer; /* interactive writes */
    struct kafka_poller poller;
    rd_kafka_t *bulk_producer; /* bulk imports */
    struct kafka_poller bulk_poller;
    struct pgpool *pg;
    struct dbpool *dbpool; /* runs the database work of requests */
    struct waiters *waiters;
    struct idemkeys *idemkeys;        /* Idempotency-Keys accepted lately (idemkeys.h) */
    struct keyfilter *keyfilter;      /* the keys PostgreSQL may hold (keyfilter.h) */
    struct auth *auth;                /* credentials, scopes, rate limits (auth.h) */
    char (*topics)[INGEST_TOPIC_MAX]; /* one per row of collections[] (collection.h) */
    /* Every route (routes_all), matched by http.c. */
    struct route *routes;
    size_t route_count;
    struct cidr trusted_proxies[CONFIG_MAX_CIDRS];
    size_t trusted_proxy_count;
    struct metric metrics[M_METRIC_COUNT];
    struct metric_histogram ack_latency;
    /* From producev to the delivery report (librdkafka's own latency). */
    struct metric_histogram produce_latency[PRODUCER_COUNT];
    struct ingest_route_metrics route_metrics[INGEST_ROUTE_ROWS + 1];
    /* The assistance routing file's topics; swapped by a SIGHUP reload while
     * handlers read it, hence the lock. */
    pthread_rwlock_t routing_lock;
    struct routing *routing;
    /* Requests waiting on a delivery report; shutdown waits for zero. */
    atomic_long inflight;
    /* Set by shutdown once waiting is over: reads still queued for the
     * database answer 503 at once instead of each waiting for it. */
    atomic_bool db_closing;
};

void ingest_metrics_init(struct ingest *app);

struct request;
/* Counts a finished request (route, status, duration) and writes its debug
 * line; from libmicrohttpd's request-completed callback (ops.c). */
void ingest_request_completed(struct ingest *app, const struct request *req);

/* The Kafka topic of the collection named name (a row of collection.h). */
const char *ingest_topic(const struct ingest *app, const char *collection);

/* Loads the routing file again (SIGHUP); an invalid file is refused with a
 * log line and the routing in force stays. */
void ingest_reload_routing(struct ingest *app);

#endif
