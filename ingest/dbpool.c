#include "dbpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dbpool_job {
    dbpool_job_fn fn;
    void *arg;
};

struct dbpool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or the pool stops */
    struct dbpool_job *ring;
    size_t cap, head, count; /* ring of cap slots; count queued from head */
    size_t running;
    bool stopping;
    pthread_t *threads;
    size_t nthreads; /* started, hence to join */
};

static void *dbpool_main(void *arg)
{
    struct dbpool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->count == 0 && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        /* Stopping still runs what was queued: each job resumes a request
         * that must be answered. */
        if (pool->count == 0)
            break;
        struct dbpool_job job = pool->ring[pool->head];
        pool->head = (pool->head + 1) % pool->cap;
        pool->count--;
        pool->running++;
        pthread_mutex_unlock(&pool->lock);
        job.fn(job.arg);
        pthread_mutex_lock(&pool->lock);
        pool->running--;
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

struct dbpool *dbpool_start(size_t threads, size_t queue_max, char *err, size_t errlen)
{
    if (threads == 0 || queue_max == 0) {
        snprintf(err, errlen, "the database pool needs at least one thread and one queue slot");
        return NULL;
    }
    struct dbpool *pool = calloc(1, sizeof(*pool));
    if (!pool) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pool->ring = calloc(queue_max, sizeof(*pool->ring));
    pool->threads = calloc(threads, sizeof(*pool->threads));
    pool->cap = queue_max;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    if (!pool->ring || !pool->threads) {
        snprintf(err, errlen, "out of memory");
        dbpool_free(pool);
        return NULL;
    }
    for (size_t i = 0; i < threads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, dbpool_main, pool);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start a database thread: %s", strerror(rc));
            dbpool_free(pool);
            return NULL;
        }
        pool->nthreads++;
    }
    return pool;
}

int dbpool_submit(struct dbpool *pool, dbpool_job_fn fn, void *arg)
{
    pthread_mutex_lock(&pool->lock);
    int rc = -1;
    if (!pool->stopping && pool->count < pool->cap) {
        pool->ring[(pool->head + pool->count) % pool->cap] = (struct dbpool_job){fn, arg};
        pool->count++;
        pthread_cond_signal(&pool->work);
        rc = 0;
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

size_t dbpool_pending(struct dbpool *pool)
{
    pthread_mutex_lock(&pool->lock);
    size_t n = pool->count + pool->running;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

void dbpool_stop(struct dbpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pool->nthreads = 0;
}

void dbpool_free(struct dbpool *pool)
{
    if (!pool)
        return;
    dbpool_stop(pool);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work);
    free(pool->threads);
    free(pool->ring);
    free(pool);
}
