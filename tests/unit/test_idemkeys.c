/* Unit tests for ingest/idemkeys.c: the claim states, settling, learning from
 * PostgreSQL, the bounds (entries and age), and one key claimed by many
 * threads at once. */
#include "idemkeys.h"

#include "check_main.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_1 "00000000-0000-5000-8000-000000000001"
#define ID_2 "00000000-0000-5000-8000-000000000002"
#define T0 INT64_C(1000000000000000)

START_TEST(test_claim_states)
{
    struct idemkeys *ix = idemkeys_new(16, IDEMKEYS_MAX_AGE_US);
    char id[UUID_STR_LEN];
    uint64_t t1, t2, t3;
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_A, ID_1, T0, id, &t1), IDEM_FIRST);
    ck_assert(t1 != 0);
    /* While the first write is in flight: the same body may go again, another
     * body is refused (and told which record the key made). */
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_A, ID_1, T0, id, &t2), IDEM_IN_FLIGHT);
    ck_assert_uint_eq(t2, t1);
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_B, ID_2, T0, id, &t3), IDEM_CONFLICT);
    ck_assert_uint_eq(t3, 0);
    ck_assert_str_eq(id, ID_1);
    idemkeys_settle(ix, "k", t1, false); /* one failed, one still in flight */
    ck_assert_uint_eq(idemkeys_count(ix), 1);
    idemkeys_settle(ix, "k", t2, true);
    memset(id, 0, sizeof(id));
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_A, ID_1, T0, id, &t3), IDEM_DONE);
    ck_assert_str_eq(id, ID_1);
    ck_assert_uint_eq(t3, 0);
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_B, ID_2, T0, id, &t3), IDEM_CONFLICT);
    /* Keys are compared whole: a prefix or another key is another key. */
    ck_assert_int_eq(idemkeys_claim(ix, "kk", FP_B, ID_2, T0, id, &t3), IDEM_FIRST);
    ck_assert_int_eq(idemkeys_claim(ix, "", FP_B, ID_2, T0, id, &t3), IDEM_FIRST);
    idemkeys_free(ix);
}
END_TEST

START_TEST(test_failed_write_is_forgotten)
{
    struct idemkeys *ix = idemkeys_new(16, IDEMKEYS_MAX_AGE_US);
    char id[UUID_STR_LEN];
    uint64_t t;
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_A, ID_1, T0, id, &t), IDEM_FIRST);
    idemkeys_settle(ix, "k", t, false);
    ck_assert_uint_eq(idemkeys_count(ix), 0);
    /* Nothing reached Kafka: another body may use the key now. */
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_B, ID_2, T0, id, &t), IDEM_FIRST);
    /* A stale ticket (of the forgotten claim) changes nothing. */
    idemkeys_settle(ix, "k", t - 1, false);
    idemkeys_settle(ix, "k", 0, false);
    ck_assert_uint_eq(idemkeys_count(ix), 1);
    idemkeys_free(ix);
}
END_TEST

START_TEST(test_learn_from_postgresql)
{
    struct idemkeys *ix = idemkeys_new(16, IDEMKEYS_MAX_AGE_US);
    char id[UUID_STR_LEN];
    uint64_t t;
    /* Our claim had body B; PostgreSQL says the key made ID_1 from body A. */
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_B, ID_2, T0, id, &t), IDEM_FIRST);
    idemkeys_learn(ix, "k", t, FP_A, ID_1);
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_B, ID_2, T0, id, &t), IDEM_CONFLICT);
    ck_assert_int_eq(idemkeys_claim(ix, "k", FP_A, ID_1, T0, id, &t), IDEM_DONE);
    ck_assert_str_eq(id, ID_1);
    idemkeys_free(ix);
}
END_TEST

START_TEST(test_bounded_in_entries)
{
    struct idemkeys *ix = idemkeys_new(100, IDEMKEYS_MAX_AGE_US);
    char key[32], id[UUID_STR_LEN];
    uint64_t t, first_ticket = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        ck_assert_int_eq(idemkeys_claim(ix, key, FP_A, ID_1, T0 + i, id, &t), IDEM_FIRST);
        if (i == 0)
            first_ticket = t;
        ck_assert_uint_le(idemkeys_count(ix), 100);
    }
    /* The oldest went first; the newest are still known. */
    ck_assert_int_eq(idemkeys_claim(ix, "key-999", FP_B, ID_2, T0 + 1000, id, &t), IDEM_CONFLICT);
    ck_assert_int_eq(idemkeys_claim(ix, "key-901", FP_B, ID_2, T0 + 1000, id, &t), IDEM_CONFLICT);
    idemkeys_settle(ix, "key-0", first_ticket, true); /* evicted: ignored */
    ck_assert_int_eq(idemkeys_claim(ix, "key-0", FP_B, ID_2, T0 + 1000, id, &t), IDEM_FIRST);
    ck_assert_uint_le(idemkeys_count(ix), 100);
    idemkeys_free(ix);
}
END_TEST

START_TEST(test_bounded_in_age)
{
    int64_t age = INT64_C(60) * 1000000;
    struct idemkeys *ix = idemkeys_new(100, age);
    char id[UUID_STR_LEN];
    uint64_t t;
    ck_assert_int_eq(idemkeys_claim(ix, "old", FP_A, ID_1, T0, id, &t), IDEM_FIRST);
    idemkeys_settle(ix, "old", t, true);
    ck_assert_int_eq(idemkeys_claim(ix, "old", FP_B, ID_2, T0 + age, id, &t), IDEM_CONFLICT);
    /* Past its age the key is PostgreSQL's business alone. */
    ck_assert_int_eq(idemkeys_claim(ix, "old", FP_B, ID_2, T0 + age + 1, id, &t), IDEM_FIRST);
    ck_assert_int_eq(idemkeys_claim(ix, "a", FP_A, ID_1, T0 + age + 1, id, &t), IDEM_FIRST);
    ck_assert_int_eq(idemkeys_claim(ix, "b", FP_A, ID_1, T0 + 3 * age, id, &t), IDEM_FIRST);
    ck_assert_uint_eq(idemkeys_count(ix), 1); /* "old" and "a" aged out */
    idemkeys_free(ix);
}
END_TEST

#define RACERS 8
static struct idemkeys *race_ix;
static int race_firsts, race_conflicts;
static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;

static void *racer(void *arg)
{
    long n = (long)arg;
    char id[UUID_STR_LEN], key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "race-%d", i);
        uint64_t t;
        /* Half the racers send body A, half body B, under the same key. */
        enum idem_claim c =
            idemkeys_claim(race_ix, key, n % 2 ? FP_A : FP_B, n % 2 ? ID_1 : ID_2, T0, id, &t);
        pthread_mutex_lock(&race_lock);
        race_firsts += c == IDEM_FIRST;
        race_conflicts += c == IDEM_CONFLICT;
        pthread_mutex_unlock(&race_lock);
        idemkeys_settle(race_ix, key, t, true);
    }
    return NULL;
}

START_TEST(test_one_first_among_threads)
{
    race_ix = idemkeys_new(IDEMKEYS_CAPACITY, IDEMKEYS_MAX_AGE_US);
    race_firsts = race_conflicts = 0;
    pthread_t th[RACERS];
    for (long i = 0; i < RACERS; i++)
        pthread_create(&th[i], NULL, racer, (void *)i);
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    /* Each key: exactly one claim won; the 4 racers with the other body
     * were all refused. */
    ck_assert_int_eq(race_firsts, 2000);
    ck_assert_int_eq(race_conflicts, 2000 * RACERS / 2);
    idemkeys_free(race_ix);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idemkeys");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_claim_states);
    tcase_add_test(tc, test_failed_write_is_forgotten);
    tcase_add_test(tc, test_learn_from_postgresql);
    tcase_add_test(tc, test_bounded_in_entries);
    tcase_add_test(tc, test_bounded_in_age);
    tcase_add_test(tc, test_one_first_among_threads);
    suite_add_tcase(s, tc);
    return check_run(s);
}
