#include "pgpool.h"

#include "pg.h"

#include "timeutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pgpool {
    char *url;
    size_t size;
    int query_timeout_ms;
    PGconn **conns; /* NULL slot: not connected yet */
    bool *busy;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

struct pgpool *pgpool_new(const char *url, size_t size, int query_timeout_ms)
{
    struct pgpool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->url = strdup(url);
    pool->size = size;
    pool->query_timeout_ms = query_timeout_ms;
    pool->conns = calloc(size, sizeof(*pool->conns));
    pool->busy = calloc(size, sizeof(*pool->busy));
    if (!pool->url || !pool->conns || !pool->busy) {
        pgpool_free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    return pool;
}

void pgpool_free(struct pgpool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; pool->conns && i < pool->size; i++)
        PQfinish(pool->conns[i]);
    free(pool->conns);
    free(pool->busy);
    free(pool->url);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool);
}

PGconn *pgpool_get(struct pgpool *pool, int timeout_ms, char *err, size_t errlen)
{
    struct timespec deadline = time_deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&pool->lock);
    size_t slot = pool->size;
    for (;;) {
        for (size_t i = 0; i < pool->size; i++) {
            if (!pool->busy[i]) {
                slot = i;
                break;
            }
        }
        if (slot < pool->size)
            break;
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            snprintf(err, errlen, "no database connection free within %d ms", timeout_ms);
            return NULL;
        }
    }
    pool->busy[slot] = true;
    PGconn *conn = pool->conns[slot];
    pthread_mutex_unlock(&pool->lock);

    /* Connect outside the lock: it can take a while and others may proceed. */
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = pg_connect(pool->url, err, errlen);
        /* The server stops a slow query itself too (a contains= scan), so
         * it does not run on after the client gave up on it. */
        char sql[64];
        snprintf(sql, sizeof(sql), "SET statement_timeout = %d", pool->query_timeout_ms);
        PGresult *res =
            conn ? pgpool_exec(conn, sql, 0, NULL, pool->query_timeout_ms, err, errlen) : NULL;
        if (conn && PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (res)
                snprintf(err, errlen, "%s", PQresultErrorMessage(res));
            PQfinish(conn);
            conn = NULL;
        }
        PQclear(res);
        pthread_mutex_lock(&pool->lock);
        pool->conns[slot] = conn;
        if (!conn) {
            pool->busy[slot] = false;
            pthread_cond_signal(&pool->freed);
        }
        pthread_mutex_unlock(&pool->lock);
    }
    return conn;
}

void pgpool_put(struct pgpool *pool, PGconn *conn)
{
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->size; i++) {
        if (pool->conns[i] == conn) {
            /* A connection that broke mid-query is dropped; the slot reconnects. */
            if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
                PQfinish(conn);
                pool->conns[i] = NULL;
            }
            pool->busy[i] = false;
            break;
        }
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

PGresult *pgpool_exec(PGconn *conn, const char *sql, int n, const char *const *params,
                      int timeout_ms, char *err, size_t errlen)
{
    /* Sent, then waited for with poll: a blocking PQexec would wait for a
     * frozen server (SIGSTOP, a black-holed network) as long as the kernel
     * keeps the connection, many minutes. */
    if (!PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0)) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        return NULL;
    }
    int64_t deadline = time_now_us() + (int64_t)timeout_ms * 1000;
    PGresult *last = NULL;
    for (;;) {
        while (PQisBusy(conn)) {
            int64_t left_us = deadline - time_now_us();
            if (left_us <= 0) {
                snprintf(err, errlen, "the database did not answer within %d ms", timeout_ms);
                PQclear(last);
                return NULL;
            }
            struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
            int rc = poll(&pfd, 1, (int)((left_us + 999) / 1000));
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0 || (rc > 0 && !PQconsumeInput(conn))) {
                snprintf(err, errlen, "%s", rc < 0 ? strerror(errno) : PQerrorMessage(conn));
                err[strcspn(err, "\n")] = '\0';
                PQclear(last);
                return NULL;
            }
        }
        PGresult *res = PQgetResult(conn);
        if (!res)
            break;
        /* One statement, one result; keep the last (an error ends it). */
        PQclear(last);
        last = res;
    }
    if (!last) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
    }
    return last;
}
