/* dbpool: jobs run off the caller's thread, the queue bound refuses at once,
 * and stopping runs what was queued. */
#include "dbpool.h"

#include "check_main.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int ran, started;
static pthread_t main_thread;
static atomic_int on_main;

static void blocked_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    if (pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&on_main, 1);
    atomic_fetch_add(&ran, 1);
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

START_TEST(test_queue_bound_refuses_at_once)
{
    char err[128];
    gate_open = false;
    atomic_store(&ran, 0);
    main_thread = pthread_self();
    struct dbpool *pool = dbpool_start(2, 3, err, sizeof(err));
    ck_assert_msg(pool != NULL, "%s", err);
    int accepted = 0;
    /* Two jobs held by the threads, three queued; wait until both threads
     * took theirs so the count is exact. */
    ck_assert_int_eq(dbpool_submit(pool, blocked_job, NULL), 0);
    ck_assert_int_eq(dbpool_submit(pool, blocked_job, NULL), 0);
    for (int i = 0; i < 400 && atomic_load(&started) != 2; i++)
        usleep(5000); /* a bounded wait on the condition: 2 s at most */
    ck_assert_msg(atomic_load(&started) == 2, "both pool threads took a job within 2 s (%d did)",
                  atomic_load(&started));
    accepted = 2;
    for (int i = 0; i < 10; i++)
        accepted += dbpool_submit(pool, blocked_job, NULL) == 0;
    ck_assert_int_eq(accepted, 5);
    ck_assert_uint_eq(dbpool_pending(pool), 5);
    open_gate();
    /* Stop runs the queued jobs to the end. */
    dbpool_stop(pool);
    ck_assert_int_eq(atomic_load(&ran), 5);
    ck_assert_int_eq(atomic_load(&on_main), 0);
    ck_assert_int_eq(dbpool_submit(pool, blocked_job, NULL), -1);
    dbpool_free(pool);
}
END_TEST

START_TEST(test_bad_sizes)
{
    char err[128];
    ck_assert_ptr_null(dbpool_start(0, 1, err, sizeof(err)));
    ck_assert_ptr_null(dbpool_start(1, 0, err, sizeof(err)));
    dbpool_free(NULL);
    dbpool_stop(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dbpool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_queue_bound_refuses_at_once);
    tcase_add_test(tc, test_bad_sizes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
