#include "persist_search.h"

#include "persist_batch.h"

#include "log.h"
#include "pg.h"
#include "timeutil.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct persist_search {
    struct persist_search_config cfg;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping, cancel and the wait */
    pthread_cond_t wake;  /* CLOCK_MONOTONIC */
    bool stopping;
    PGcancel *cancel; /* of the connection in use, for stop */
    _Atomic int64_t busy_until_us;
    /* Read by the admin thread. */
    _Atomic int64_t backlog_ids, backlog_rows, indexed_total, batches_total, errors_total;
    _Atomic int64_t lag_ms;
    atomic_bool connected;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sleeps up to ms unless stopped; false once stopping. */
static bool nap(struct persist_search *s, long ms)
{
    /* The condition variable waits on CLOCK_MONOTONIC (search_start). */
    struct timespec ts = time_deadline(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &ts) == 0)
        ;
    bool running = !s->stopping;
    pthread_mutex_unlock(&s->lock);
    return running;
}

static void set_conn(struct persist_search *s, PGconn **conn, PGconn *next)
{
    pthread_mutex_lock(&s->lock);
    if (s->cancel)
        PQfreeCancel(s->cancel);
    s->cancel = next ? PQgetCancel(next) : NULL;
    pthread_mutex_unlock(&s->lock);
    if (*conn)
        PQfinish(*conn);
    *conn = next;
    atomic_store(&s->connected, next != NULL);
}

/* The session's settings: the indexer's inserts go to the GIN's pending
 * list, merged into the tree in bulk when it fills (bigger is cheaper per
 * row, but a query scans the list, so it is flushed when the backlog is
 * empty); its commits need no flush to disk of their own, since a lost one
 * only leaves its backlog rows to index again. */
static const char *const session_sql = "SET work_mem = '64MB'; "
                                       "SET gin_pending_list_limit = '32MB'; "
                                       "SET synchronous_commit = off; "
                                       "SET application_name = 'sluice-persist search'";

/* Refreshes the backlog gauges; -1 when the connection failed. */
static int sample(struct persist_search *s, PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT count(*), coalesce(sum(n), 0), coalesce((extract(epoch "
                                 "FROM now() - min(enqueued_at)) * 1000)::bigint, 0) FROM "
                                 "event_search_backlog");
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        atomic_store(&s->backlog_rows, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        atomic_store(&s->backlog_ids, strtoll(PQgetvalue(res, 0, 1), NULL, 10));
        int64_t lag = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        atomic_store(&s->lag_ms, lag < 0 ? 0 : lag);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* 1 when a replica's bulk batch is in its transaction (it holds
 * PERSIST_BULK_WRITE_LOCK shared), 0 when none is, -1 when the connection
 * failed. The exclusive lock is let go in the statement that took it: a
 * bulk batch waits for the indexer at most that long, never for an index
 * run. */
static int bulk_write_in_flight(PGconn *conn)
{
    PGresult *res =
        PQexec(conn, "SELECT CASE WHEN pg_try_advisory_lock(" PERSIST_BULK_WRITE_LOCK
                     ") THEN NOT pg_advisory_unlock(" PERSIST_BULK_WRITE_LOCK ") ELSE true END");
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* One call of event_search_index: ids indexed, -1 when another session
 * holds the indexer's lock, -2 on failure (logged). */
static long long index_batch(struct persist_search *s, PGconn *conn)
{
    char batch[24];
    snprintf(batch, sizeof(batch), "%ld", s->cfg.batch);
    const char *params[] = {batch};
    PGresult *res =
        PQexecParams(conn, "SELECT event_search_index($1::int)", 1, NULL, params, NULL, NULL, 0);
    long long n = -2;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    } else {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", PQerrorMessage(conn));
        detail[strcspn(detail, "\n")] = '\0';
        pthread_mutex_lock(&s->lock);
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (!stopping)
            log_warn("search indexer: batch failed; it rolled back and is retried", "detail",
                     detail);
    }
    PQclear(res);
    return n;
}

static void *run(void *arg)
{
    struct persist_search *s = arg;
    PGconn *conn = NULL;
    long retry_ms = 100;
    bool pending_list_dirty = false;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stopping)
            break;
        if (!conn) {
            char err[512];
            PGconn *c = pg_connect(s->cfg.pg_url, err, sizeof(err));
            if (c && pg_exec(c, session_sql, err, sizeof(err)) != 0) {
                PQfinish(c);
                c = NULL;
            }
            if (!c) {
                atomic_fetch_add(&s->errors_total, 1);
                log_warn("search indexer: cannot connect to PostgreSQL; retrying", "detail", err);
                nap(s, retry_ms);
                retry_ms = retry_ms * 2 > 5000 ? 5000 : retry_ms * 2;
                continue;
            }
            set_conn(s, &conn, c);
            retry_ms = 100;
        }
        if (sample(s, conn) != 0)
            goto failed;
        int64_t backlog = atomic_load(&s->backlog_ids);
        if (backlog == 0) {
            if (pending_list_dirty) {
                /* Queries scan the pending list: merge it now that it is
                 * not growing. */
                PGresult *res =
                    PQexec(conn, "SELECT gin_clean_pending_list('event_search_doc'::regclass)");
                bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
                PQclear(res);
                if (!ok)
                    goto failed;
                pending_list_dirty = false;
            }
            nap(s, s->cfg.poll_ms);
            continue;
        }
        if (atomic_load(&s->lag_ms) < s->cfg.max_lag_ms) {
            int bulk = mono_us() < atomic_load(&s->busy_until_us) ? 1 : bulk_write_in_flight(conn);
            if (bulk < 0)
                goto failed;
            if (bulk) {
                nap(s, s->cfg.poll_ms);
                continue;
            }
        }
        long long n = index_batch(s, conn);
        if (n == -2)
            goto failed;
        if (n == -1) {
            nap(s, s->cfg.poll_ms);
            continue;
        }
        atomic_fetch_add(&s->indexed_total, n);
        atomic_fetch_add(&s->batches_total, 1);
        pending_list_dirty = true;
        continue;
    failed:
        atomic_fetch_add(&s->errors_total, 1);
        if (PQstatus(conn) != CONNECTION_OK)
            set_conn(s, &conn, NULL);
        nap(s, retry_ms);
        retry_ms = retry_ms * 2 > 5000 ? 5000 : retry_ms * 2;
    }
    set_conn(s, &conn, NULL);
    return NULL;
}

struct persist_search *persist_search_start(const struct persist_search_config *cfg, char *err,
                                            size_t errlen)
{
    struct persist_search *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "cannot start the search indexer's thread");
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

void persist_search_busy(struct persist_search *s)
{
    if (s)
        atomic_store(&s->busy_until_us, mono_us() + (int64_t)s->cfg.yield_ms * 1000);
}

void persist_search_render(struct persist_search *s, struct buf *out)
{
    if (!s)
        return;
    buf_printf(out,
               "# HELP sluice_persist_search_backlog_ids Event ids waiting for the contains= "
               "index (event_search_backlog, as this replica last read it)\n"
               "# TYPE sluice_persist_search_backlog_ids gauge\n"
               "sluice_persist_search_backlog_ids %lld\n"
               "# HELP sluice_persist_search_backlog_rows Rows of event_search_backlog (one per "
               "statement that wrote events)\n"
               "# TYPE sluice_persist_search_backlog_rows gauge\n"
               "sluice_persist_search_backlog_rows %lld\n"
               "# HELP sluice_persist_search_lag_seconds Age of the oldest backlog row: how far "
               "the contains= index is behind the writes\n"
               "# TYPE sluice_persist_search_lag_seconds gauge\n"
               "sluice_persist_search_lag_seconds %.3f\n"
               "# HELP sluice_persist_search_indexed_total Event ids this replica's indexer "
               "indexed\n"
               "# TYPE sluice_persist_search_indexed_total counter\n"
               "sluice_persist_search_indexed_total %lld\n"
               "# HELP sluice_persist_search_batches_total Indexer batches committed by this "
               "replica\n"
               "# TYPE sluice_persist_search_batches_total counter\n"
               "sluice_persist_search_batches_total %lld\n"
               "# HELP sluice_persist_search_errors_total Indexer batches or connections that "
               "failed (retried)\n"
               "# TYPE sluice_persist_search_errors_total counter\n"
               "sluice_persist_search_errors_total %lld\n"
               "# HELP sluice_persist_search_connected 1 while the indexer has its PostgreSQL "
               "connection\n"
               "# TYPE sluice_persist_search_connected gauge\n"
               "sluice_persist_search_connected %d\n",
               (long long)atomic_load(&s->backlog_ids), (long long)atomic_load(&s->backlog_rows),
               (double)atomic_load(&s->lag_ms) / 1000.0, (long long)atomic_load(&s->indexed_total),
               (long long)atomic_load(&s->batches_total), (long long)atomic_load(&s->errors_total),
               atomic_load(&s->connected) ? 1 : 0);
}

void persist_search_stop(struct persist_search *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    if (s->cancel) {
        char err[256];
        PQcancel(s->cancel, err, sizeof(err));
    }
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
