/* Unit tests for lib/ratelimit.c: the limit trips exactly at the quota,
 * Retry-After and the RateLimit header values say when to come back, time
 * (injected, never slept) brings the quota back, principals are
 * independent, a full table evicts the bucket closest to full quota, and
 * threads taking at once never let more than the quota through. */
#include "check_main.h"
#include "ratelimit.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define S 1000000LL /* microseconds */
static const int64_t t0 = 1700000000LL * S;

START_TEST(test_trips_exactly_at_quota)
{
    struct ratelimit *rl = ratelimit_new(100, 60, 1000);
    ck_assert_ptr_nonnull(rl);
    struct ratelimit_result r;
    for (int i = 0; i < 100; i++) {
        ck_assert_msg(ratelimit_take(rl, "alice", t0, &r), "request %d refused", i + 1);
        ck_assert(r.allowed);
        ck_assert_int_eq(r.remaining, 99 - i);
        ck_assert_int_eq(r.retry_after_s, 0);
    }
    ck_assert_int_eq(r.reset_s, 60); /* the whole quota is used: 60 s to refill */
    ck_assert(!ratelimit_take(rl, "alice", t0, &r));
    ck_assert(!r.allowed);
    ck_assert_int_eq(r.remaining, 0);
    /* One request comes back every 0.6 s: come back in 1 s, not 60. */
    ck_assert_int_eq(r.retry_after_s, 1);
    ck_assert_int_eq(r.reset_s, 1);
    /* Refused requests cost nothing: still exactly one at 0.6 s. */
    for (int i = 0; i < 50; i++)
        ck_assert(!ratelimit_take(rl, "alice", t0 + S / 2, NULL));
    ck_assert(!ratelimit_take(rl, "alice", t0 + 600000 - 1, NULL));
    ck_assert(ratelimit_take(rl, "alice", t0 + 600000, &r));
    ck_assert_int_eq(r.remaining, 0);
    ck_assert(!ratelimit_take(rl, "alice", t0 + 600000, NULL));
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_headers_exact)
{
    struct ratelimit *rl = ratelimit_new(100, 60, 1000);
    struct ratelimit_result r;
    for (int i = 0; i < 50; i++)
        ck_assert(ratelimit_take(rl, "alice", t0, &r));
    char policy[64], state[64];
    ck_assert_int_eq(ratelimit_headers(&r, 100, 60, policy, sizeof(policy), state, sizeof(state)),
                     0);
    ck_assert_str_eq(policy, "\"default\";q=100;w=60");
    ck_assert_str_eq(state, "\"default\";r=50;t=30");
    /* Largest values fit the 48 bytes the header promises. */
    struct ratelimit_result big = {.remaining = 4294967295LL, .reset_s = 4294967295LL};
    char p48[48], s48[48];
    ck_assert_int_eq(
        ratelimit_headers(&big, UINT32_MAX, UINT32_MAX, p48, sizeof(p48), s48, sizeof(s48)), 0);
    ck_assert_str_eq(s48, "\"default\";r=4294967295;t=4294967295");
    char tiny[19]; /* one short of "default";r=50;t=30 and its NUL */
    ck_assert_int_eq(ratelimit_headers(&r, 100, 60, tiny, sizeof(tiny), state, sizeof(state)), -1);
    ck_assert_int_eq(ratelimit_headers(&r, 100, 60, policy, sizeof(policy), tiny, sizeof(tiny)),
                     -1);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_retry_after_and_recovery)
{
    struct ratelimit *rl = ratelimit_new(10, 60, 100); /* one every 6 s */
    struct ratelimit_result r;
    for (int i = 0; i < 10; i++)
        ck_assert(ratelimit_take(rl, "k", t0, NULL));
    ck_assert(!ratelimit_take(rl, "k", t0, &r));
    ck_assert_int_eq(r.retry_after_s, 6);
    ck_assert(!ratelimit_take(rl, "k", t0 + 5 * S + S / 10, &r));
    ck_assert_int_eq(r.retry_after_s, 1); /* 0.9 s rounds up */
    ck_assert(ratelimit_take(rl, "k", t0 + 6 * S, &r));
    ck_assert(!ratelimit_take(rl, "k", t0 + 6 * S, &r));
    ck_assert_int_eq(r.retry_after_s, 6);
    /* Half a window later, half the quota is back. */
    ck_assert(ratelimit_take(rl, "k", t0 + 36 * S, &r));
    ck_assert_int_eq(r.remaining, 4);
    ck_assert_int_eq(r.reset_s, 36);
    /* A whole window of quiet: all of it, and no more. */
    int allowed = 0;
    for (int i = 0; i < 20; i++)
        allowed += ratelimit_take(rl, "k", t0 + 1000 * S, NULL);
    ck_assert_int_eq(allowed, 10);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_fractional_interval_exact)
{
    /* 3 per second: 333333.33 us apart, no rounding drift. */
    struct ratelimit *rl = ratelimit_new(3, 1, 100);
    for (int i = 0; i < 3; i++)
        ck_assert(ratelimit_take(rl, "k", t0, NULL));
    ck_assert(!ratelimit_take(rl, "k", t0, NULL));
    ck_assert(!ratelimit_take(rl, "k", t0 + 333333, NULL));
    ck_assert(ratelimit_take(rl, "k", t0 + 333334, NULL));
    /* The k-th next one is due at (2 + k - 1) / 3 s after t0, to the
     * microsecond, 30 intervals on: no drift. */
    for (int64_t k = 1; k <= 30; k++) {
        int64_t due = t0 + ((2 + k - 1) * S + 2) / 3;
        ck_assert_msg(!ratelimit_take(rl, "k", due - 1, NULL), "request %lld early", (long long)k);
        ck_assert_msg(ratelimit_take(rl, "k", due, NULL), "request %lld refused", (long long)k);
    }
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_keys_independent)
{
    struct ratelimit *rl = ratelimit_new(5, 60, 1000);
    for (int i = 0; i < 5; i++)
        ck_assert(ratelimit_take(rl, "tenant-a:key1", t0, NULL));
    ck_assert(!ratelimit_take(rl, "tenant-a:key1", t0, NULL));
    for (int i = 0; i < 5; i++)
        ck_assert(ratelimit_take(rl, "tenant-a:key2", t0, NULL));
    ck_assert(!ratelimit_take(rl, "tenant-a:key2", t0, NULL));
    ck_assert(ratelimit_take(rl, "", t0, NULL));
    /* Keys too long to keep inline are kept by digest: still told apart. */
    char long1[200], long2[200];
    memset(long1, 'x', sizeof(long1) - 1);
    long1[sizeof(long1) - 1] = '\0';
    memcpy(long2, long1, sizeof(long2));
    long2[198] = 'y';
    for (int i = 0; i < 5; i++)
        ck_assert(ratelimit_take(rl, long1, t0, NULL));
    ck_assert(!ratelimit_take(rl, long1, t0, NULL));
    ck_assert(ratelimit_take(rl, long2, t0, NULL));
    ck_assert_uint_eq(ratelimit_evictions(rl), 0);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_eviction)
{
    /* 8 entries: one set, so who is evicted is known. */
    struct ratelimit *rl = ratelimit_new(1, 60, 8);
    char key[16];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        ck_assert(ratelimit_take(rl, key, t0 + i, NULL));
    }
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        ck_assert(!ratelimit_take(rl, key, t0 + 100, NULL));
    }
    /* A ninth principal takes p0's slot, the one full again soonest. */
    ck_assert(ratelimit_take(rl, "p8", t0 + 200, NULL));
    ck_assert_uint_eq(ratelimit_evictions(rl), 1);
    /* p0 forgot it was limited (fails open), and in turn evicts p1. */
    ck_assert(ratelimit_take(rl, "p0", t0 + 300, NULL));
    ck_assert_uint_eq(ratelimit_evictions(rl), 2);
    for (int i = 2; i < 8; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        ck_assert_msg(!ratelimit_take(rl, key, t0 + 400, NULL), "%s was evicted", key);
    }
    ck_assert(!ratelimit_take(rl, "p8", t0 + 400, NULL));
    ck_assert_uint_eq(ratelimit_evictions(rl), 2);
    /* A window later every bucket is idle: new principals evict them without
     * losing anything, and that is not counted. */
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "q%d", i);
        ck_assert(ratelimit_take(rl, key, t0 + 61 * S, NULL));
    }
    ck_assert_uint_eq(ratelimit_evictions(rl), 2);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_flood_of_principals_bounded)
{
    /* 100000 distinct principals through 64 slots: no refusal for any of
     * them (each is new), and the table does not grow. */
    struct ratelimit *rl = ratelimit_new(1, 60, 64);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "flood-%d", i);
        ck_assert(ratelimit_take(rl, key, t0, NULL));
    }
    ck_assert_uint_eq(ratelimit_evictions(rl), 100000 - 64);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_clock_backwards)
{
    struct ratelimit *rl = ratelimit_new(2, 10, 100);
    ck_assert(ratelimit_take(rl, "k", t0, NULL));
    ck_assert(ratelimit_take(rl, "k", t0 - 3 * S, NULL));
    /* Earlier than the last take is no time passed: no refund. */
    ck_assert(!ratelimit_take(rl, "k", t0 - 10 * S, NULL));
    ck_assert(ratelimit_take(rl, "k", t0 + 5 * S, NULL));
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_bad_arguments)
{
    ck_assert_ptr_null(ratelimit_new(0, 60, 10));
    ck_assert_ptr_null(ratelimit_new(10, 0, 10));
    ck_assert_ptr_null(ratelimit_new(10, 60, 0));
    ck_assert_ptr_null(ratelimit_new(UINT32_MAX, UINT32_MAX, 10));
    struct ratelimit *rl = ratelimit_new(UINT32_MAX, 1, 10);
    ck_assert_ptr_nonnull(rl);
    ratelimit_free(rl);
    ratelimit_free(NULL);
}
END_TEST

#define THREADS 8
#define TAKES 20000
/* Half of all the shared takes are allowed, so the threads contend for the
 * shared bucket the whole time the quota lasts. */
#define QUOTA (THREADS * TAKES / 2)

struct worker {
    struct ratelimit *rl;
    pthread_barrier_t *start;
    int id;
    int shared_allowed;
    int own_allowed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char own[32];
    snprintf(own, sizeof(own), "own-%d", w->id);
    pthread_barrier_wait(w->start);
    for (int i = 0; i < TAKES; i++) {
        w->shared_allowed += ratelimit_take(w->rl, "shared", t0, NULL);
        w->own_allowed += ratelimit_take(w->rl, own, t0, NULL);
    }
    return NULL;
}

START_TEST(test_threads_never_exceed_quota)
{
    struct ratelimit *rl = ratelimit_new(QUOTA, 60, 1024);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    pthread_barrier_t start;
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.rl = rl, .start = &start, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    int shared = 0;
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        shared += w[i].shared_allowed;
        ck_assert_int_eq(w[i].own_allowed, TAKES);
    }
    ck_assert_int_eq(shared, QUOTA);
    ck_assert_uint_eq(ratelimit_evictions(rl), 0);
    pthread_barrier_destroy(&start);
    ratelimit_free(rl);
}
END_TEST

#define CHURN_TAKES 2000

static void *churn_main(void *arg)
{
    struct worker *w = arg;
    char key[32];
    for (int i = 0; i < CHURN_TAKES; i++) {
        snprintf(key, sizeof(key), "churn-%d-%d", w->id, i % 50);
        w->own_allowed += ratelimit_take(w->rl, key, t0 + i, NULL);
    }
    return NULL;
}

START_TEST(test_threads_evicting)
{
    /* More principals than slots from every thread at once: whatever is
     * evicted, no principal is refused (each of the 50 per thread gets at
     * most its quota of 40 without eviction, and eviction only forgets). */
    struct ratelimit *rl = ratelimit_new(40, 60, 64);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.rl = rl, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, churn_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(w[i].own_allowed, CHURN_TAKES);
    }
    ck_assert_uint_gt(ratelimit_evictions(rl), 0);
    ratelimit_free(rl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_trips_exactly_at_quota);
    tcase_add_test(tc, test_headers_exact);
    tcase_add_test(tc, test_retry_after_and_recovery);
    tcase_add_test(tc, test_fractional_interval_exact);
    tcase_add_test(tc, test_keys_independent);
    tcase_add_test(tc, test_eviction);
    tcase_add_test(tc, test_flood_of_principals_bounded);
    tcase_add_test(tc, test_clock_backwards);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_threads_never_exceed_quota);
    tcase_add_test(tc, test_threads_evicting);
    suite_add_tcase(s, tc);
    return check_run(s);
}
