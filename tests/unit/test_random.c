/* Unit tests for lib/random.c: bytes drawn through the per-thread buffer are
 * never handed out twice, not across refills, not in a forked child (which
 * starts with a copy of its parent's buffer), and not between threads. */
#include "random.h"

#include "check_main.h"

#include <check.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRAWS 200 /* 16 bytes each: more than ten refills */

static void draw_all(unsigned char out[DRAWS][16])
{
    for (int i = 0; i < DRAWS; i++)
        ck_assert_int_eq(random_bytes(out[i], 16), 0);
}

static void assert_all_distinct(unsigned char a[DRAWS][16], unsigned char b[DRAWS][16])
{
    for (int i = 0; i < DRAWS; i++) {
        for (int j = 0; j < DRAWS; j++) {
            if (a != b || i != j)
                ck_assert_msg(memcmp(a[i], b[j], 16) != 0, "draws %d and %d are the same", i, j);
        }
    }
}

START_TEST(test_draws_are_distinct_across_refills)
{
    static unsigned char d[DRAWS][16];
    draw_all(d);
    assert_all_distinct(d, d);
    unsigned char big[1000];
    memset(big, 0, sizeof(big));
    ck_assert_int_eq(random_bytes(big, sizeof(big)), 0); /* past the buffer: straight through */
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof(big); i++)
        zeros += big[i] == 0;
    ck_assert_msg(zeros < 30, "%zu zero bytes of 1000", zeros);
}
END_TEST

START_TEST(test_forked_child_draws_anew)
{
    unsigned char one[16];
    ck_assert_int_eq(random_bytes(one, sizeof(one)), 0); /* the buffer is full now */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char child[16];
        int ok = random_bytes(child, sizeof(child)) == 0 &&
                 write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child);
        _exit(ok ? 0 : 1);
    }
    unsigned char parent[16], child[16];
    ck_assert_int_eq(random_bytes(parent, sizeof(parent)), 0);
    ck_assert_int_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(memcmp(parent, child, sizeof(child)) != 0,
                  "the child drew its parent's next bytes from the copied buffer");
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static unsigned char thread_draws[DRAWS][16];

static void *draw_in_thread(void *arg)
{
    (void)arg;
    draw_all(thread_draws);
    return NULL;
}

START_TEST(test_threads_draw_apart)
{
    static unsigned char mine[DRAWS][16];
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, draw_in_thread, NULL), 0);
    draw_all(mine);
    pthread_join(t, NULL);
    assert_all_distinct(mine, thread_draws);
}
END_TEST

static Suite *random_suite(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("draws");
    tcase_add_test(tc, test_draws_are_distinct_across_refills);
    tcase_add_test(tc, test_forked_child_draws_anew);
    tcase_add_test(tc, test_threads_draw_apart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(random_suite());
}
