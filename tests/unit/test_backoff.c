/* Unit tests for lib/backoff.c: schedule parsing (good and hostile text) and
 * the jittered delay of each attempt. */
#include "backoff.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

START_TEST(test_default_schedule)
{
    struct backoff_schedule s;
    char err[128] = "";
    ck_assert_msg(backoff_parse("0,5s,5m,30m,2h,5h,10h,10h", &s, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(s.attempts, 8);
    const int64_t want[] = {0,         5000,       300000,     1800000,
                            7200000LL, 18000000LL, 36000000LL, 36000000LL};
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(backoff_delay_ms(&s, i + 1, 0.0), want[i]);
    ck_assert_int_eq(backoff_delay_ms(&s, 9, 0.0), -1);
    ck_assert_int_eq(backoff_delay_ms(&s, 0, 0.0), -1);
}
END_TEST

START_TEST(test_jitter_bounded)
{
    struct backoff_schedule s;
    char err[128];
    ck_assert_int_eq(backoff_parse("200ms, 1s", &s, err, sizeof(err)), 0);
    ck_assert_int_eq(backoff_delay_ms(&s, 1, 0.0), 200);
    ck_assert_int_eq(backoff_delay_ms(&s, 1, 0.999), 219);
    ck_assert_int_eq(backoff_delay_ms(&s, 2, 0.5), 1050);
    /* A random source out of range falls back to no jitter. */
    ck_assert_int_eq(backoff_delay_ms(&s, 2, 7.0), 1000);
    ck_assert_int_eq(backoff_delay_ms(&s, 2, -1.0), 1000);
}
END_TEST

START_TEST(test_bad_schedules)
{
    static const char *const bad[] = {"",  ",",     "5",         "5x",  "-1s",  "1.5s",
                                      "s", "0,,1s", "99999999h", "1 s", "0;1s", "1s,2s,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct backoff_schedule s;
        char err[128] = "";
        ck_assert_msg(backoff_parse(bad[i], &s, err, sizeof(err)) == -1, "\"%s\" was accepted",
                      bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", bad[i]);
    }
    char many[200] = "0";
    for (int i = 0; i < BACKOFF_MAX_ATTEMPTS; i++)
        strcat(many, ",1s");
    struct backoff_schedule s;
    char err[128];
    ck_assert_int_eq(backoff_parse(many, &s, err, sizeof(err)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_default_schedule);
    tcase_add_test(tc, test_jitter_bounded);
    tcase_add_test(tc, test_bad_schedules);
    suite_add_tcase(s, tc);
    return check_run(s);
}
