/* dbpool: the threads that run database work for the HTTP server, so a slow
 * or silent PostgreSQL never holds one of libmicrohttpd's event threads (every
 * other connection on such a thread would wait with it).
 *
 * A job is a function and its argument, run once on one of the pool's
 * threads. The queue is bounded: a full queue refuses the job at once (the
 * caller answers 503) instead of making anyone wait. The pool owns its threads
 * and queue; the jobs' arguments stay the caller's. */
#ifndef SLUICE_DBPOOL_H
#define SLUICE_DBPOOL_H

#include <stddef.h>

struct dbpool;

typedef void (*dbpool_job_fn)(void *arg);

/* Starts threads workers taking jobs from a queue of at most queue_max
 * waiting jobs; NULL with the reason in err. */
struct dbpool *dbpool_start(size_t threads, size_t queue_max, char *err, size_t errlen);

/* Queues fn(arg); 0, or -1 when the queue is full or the pool is stopping
 * (fn is then never called). Thread-safe. */
int dbpool_submit(struct dbpool *pool, dbpool_job_fn fn, void *arg);

/* Jobs queued or running now (for metrics and tests). */
size_t dbpool_pending(struct dbpool *pool);

/* Refuses new jobs from now on, runs the queued ones to the end and joins
 * the threads. Submitting stays safe (and refused) until dbpool_free. NULL
 * is a no-op; so is a second call. */
void dbpool_stop(struct dbpool *pool);
/* Stops the pool if need be and frees it; nobody may submit any more. */
void dbpool_free(struct dbpool *pool);

#endif
