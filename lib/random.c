#include "random.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#define RANDOM_POOL 256 /* getrandom never returns short for up to 256 bytes */

/* Each thread's unused bytes: thread-local, so the hot path takes no lock. */
static _Thread_local struct {
    unsigned char bytes[RANDOM_POOL];
    size_t left;
    unsigned generation;
} pool;

/* Bumped in a forked child (its one thread is a copy of the forking one,
 * buffer included), so that thread draws anew. Global because fork is. */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

int random_bytes(void *out, size_t n)
{
    if (n > RANDOM_POOL)
        return getrandom(out, n, 0) == (ssize_t)n ? 0 : -1;
    pthread_once(&atfork_once, watch_forks);
    unsigned generation = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (pool.generation != generation) {
        pool.left = 0;
        pool.generation = generation;
    }
    if (pool.left < n) {
        if (getrandom(pool.bytes, sizeof(pool.bytes), 0) != (ssize_t)sizeof(pool.bytes))
            return -1;
        pool.left = sizeof(pool.bytes);
    }
    unsigned char *from = pool.bytes + sizeof(pool.bytes) - pool.left;
    memcpy(out, from, n);
    memset(from, 0, n); /* handed out once, then gone from the buffer */
    pool.left -= n;
    return 0;
}
