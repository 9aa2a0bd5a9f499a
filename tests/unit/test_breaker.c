/* Unit tests for lib/breaker.c: opening after consecutive failures, the
 * cooldown, one probe at a time when half-open, and closing on success. */
#include "breaker.h"

#include "check_main.h"

#include <check.h>

#define SEC 1000000LL

START_TEST(test_opens_after_threshold)
{
    struct breaker b;
    breaker_init(&b, 3, 10 * SEC);
    ck_assert(breaker_allow(&b, 0));
    breaker_failure(&b, 1);
    breaker_failure(&b, 2);
    ck_assert_int_eq(breaker_state(&b, 3), BREAKER_CLOSED);
    breaker_success(&b); /* not consecutive any more */
    breaker_failure(&b, 4);
    breaker_failure(&b, 5);
    ck_assert_int_eq(breaker_state(&b, 6), BREAKER_CLOSED);
    breaker_failure(&b, 7);
    ck_assert_int_eq(breaker_state(&b, 8), BREAKER_OPEN);
    ck_assert(!breaker_allow(&b, 9));
    ck_assert(!breaker_allow(&b, 7 + 10 * SEC - 1));
}
END_TEST

START_TEST(test_half_open_probe)
{
    struct breaker b;
    breaker_init(&b, 1, 10 * SEC);
    breaker_failure(&b, 0);
    ck_assert_int_eq(breaker_state(&b, 10 * SEC), BREAKER_HALF_OPEN);
    ck_assert(breaker_allow(&b, 10 * SEC));
    ck_assert_msg(!breaker_allow(&b, 10 * SEC), "a second probe while the first is out");
    /* A failed probe opens it for another cooldown. */
    breaker_failure(&b, 11 * SEC);
    ck_assert_int_eq(breaker_state(&b, 12 * SEC), BREAKER_OPEN);
    ck_assert(!breaker_allow(&b, 20 * SEC));
    ck_assert(breaker_allow(&b, 21 * SEC));
    breaker_success(&b);
    ck_assert_int_eq(breaker_state(&b, 21 * SEC), BREAKER_CLOSED);
    ck_assert(breaker_allow(&b, 21 * SEC));
    ck_assert(breaker_allow(&b, 21 * SEC));
}
END_TEST

START_TEST(test_late_failures_of_an_open_breaker)
{
    /* Sends that started before it opened report later: they must not
     * restart the cooldown. */
    struct breaker b;
    breaker_init(&b, 2, 10 * SEC);
    breaker_failure(&b, 0);
    breaker_failure(&b, 1);
    breaker_failure(&b, 5 * SEC);
    ck_assert_int_eq(breaker_state(&b, 10 * SEC + 1), BREAKER_HALF_OPEN);
    breaker_init(&b, 0, SEC);
    ck_assert_int_eq(b.threshold, 1);
}
END_TEST

START_TEST(test_probe_given_back)
{
    /* A probe that was claimed but not sent must not keep the breaker
     * half-open for ever. */
    struct breaker b;
    breaker_init(&b, 1, SEC);
    breaker_failure(&b, 0);
    ck_assert(breaker_allow(&b, SEC));
    ck_assert(!breaker_allow(&b, SEC));
    breaker_probe_abandoned(&b);
    ck_assert_int_eq(breaker_state(&b, SEC), BREAKER_HALF_OPEN);
    ck_assert(breaker_allow(&b, SEC));
    /* A refused probe (4xx) still means the receiver answered: closed. */
    breaker_success(&b);
    ck_assert_int_eq(breaker_state(&b, 2 * SEC), BREAKER_CLOSED);
    ck_assert(breaker_allow(&b, 2 * SEC));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_opens_after_threshold);
    tcase_add_test(tc, test_half_open_probe);
    tcase_add_test(tc, test_late_failures_of_an_open_breaker);
    tcase_add_test(tc, test_probe_given_back);
    suite_add_tcase(s, tc);
    return check_run(s);
}
