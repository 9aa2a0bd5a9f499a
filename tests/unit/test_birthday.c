/* Unit tests for ingest/birthday.c: usernames, strict past dates, days until
 * the next birthday across year ends and leap years, with today injected. */
#include "birthday.h"
#include "timeutil.h"

#include "check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int64_t day(int y, int m, int d)
{
    return time_days_from_civil(y, m, d);
}

START_TEST(test_usernames)
{
    ck_assert(birthday_valid_username("a"));
    ck_assert(birthday_valid_username("JohnDoe"));
    char longest[101];
    memset(longest, 'x', 100);
    longest[100] = '\0';
    ck_assert(birthday_valid_username(longest));
    longest[99] = '1';
    ck_assert(!birthday_valid_username(longest));
    ck_assert(!birthday_valid_username(""));
    ck_assert(!birthday_valid_username("john1"));
    ck_assert(!birthday_valid_username("jo hn"));
    ck_assert(!birthday_valid_username("jöhn"));
    ck_assert(!birthday_valid_username("john-doe"));
    char too_long[102];
    memset(too_long, 'y', 101);
    too_long[101] = '\0';
    ck_assert(!birthday_valid_username(too_long));
}
END_TEST

START_TEST(test_dates_must_be_real_and_past)
{
    int64_t today = day(2024, 3, 1);
    int y, m, d;
    ck_assert_int_eq(birthday_parse_date("2000-02-29", today, &y, &m, &d), 0);
    ck_assert_int_eq(y, 2000);
    ck_assert_int_eq(m, 2);
    ck_assert_int_eq(d, 29);
    ck_assert_int_eq(birthday_parse_date("2024-02-29", today, &y, &m, &d), 0); /* yesterday */
    ck_assert_int_eq(birthday_parse_date("1950-12-31", today, &y, &m, &d), 0);
    ck_assert_int_eq(birthday_parse_date("2024-03-01", today, &y, &m, &d), -1); /* today */
    ck_assert_int_eq(birthday_parse_date("2024-03-02", today, &y, &m, &d), -1); /* tomorrow */
    ck_assert_int_eq(birthday_parse_date("2000-13-01", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("2001-02-29", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("2000-04-31", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("2000-1-01", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("2000-01-01T00:00:00Z", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("", today, &y, &m, &d), -1);
    ck_assert_int_eq(birthday_parse_date("01/02/2000", today, &y, &m, &d), -1);
}
END_TEST

START_TEST(test_days_until)
{
    ck_assert_int_eq(birthday_days_until(5, 10, day(2024, 5, 10)), 0);
    ck_assert_int_eq(birthday_days_until(5, 11, day(2024, 5, 10)), 1);
    ck_assert_int_eq(birthday_days_until(5, 9, day(2024, 5, 10)), 364);  /* 2025 not leap */
    ck_assert_int_eq(birthday_days_until(5, 9, day(2023, 5, 10)), 365);  /* through 2024-02-29 */
    ck_assert_int_eq(birthday_days_until(1, 1, day(2023, 12, 31)), 1);   /* year end */
    ck_assert_int_eq(birthday_days_until(12, 31, day(2024, 1, 1)), 365); /* leap year */
    ck_assert_int_eq(birthday_days_until(12, 31, day(2023, 12, 31)), 0);
}
END_TEST

START_TEST(test_leap_day_birthdays)
{
    /* In leap years on the day itself, otherwise on 28 February. */
    ck_assert_int_eq(birthday_days_until(2, 29, day(2024, 2, 29)), 0);
    ck_assert_int_eq(birthday_days_until(2, 29, day(2023, 2, 28)), 0);
    ck_assert_int_eq(birthday_days_until(2, 29, day(2023, 2, 27)), 1);
    ck_assert_int_eq(birthday_days_until(2, 29, day(2023, 3, 1)), 365); /* 2024-02-29 */
    ck_assert_int_eq(birthday_days_until(2, 29, day(2024, 2, 28)), 1);
    ck_assert_int_eq(birthday_days_until(2, 29, day(2024, 3, 1)), 364); /* 2025-02-28 */
    ck_assert_int_eq(birthday_days_until(2, 28, day(2024, 2, 29)), 365);
}
END_TEST

START_TEST(test_messages)
{
    char out[256];
    birthday_message("Ann", 0, out, sizeof(out));
    ck_assert_str_eq(out, "Hello, Ann! Happy birthday!");
    birthday_message("Ann", 1, out, sizeof(out));
    ck_assert_str_eq(out, "Hello, Ann! Your birthday is in 1 day(s)");
    birthday_message("Ann", 364, out, sizeof(out));
    ck_assert_str_eq(out, "Hello, Ann! Your birthday is in 364 day(s)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("birthday");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_usernames);
    tcase_add_test(tc, test_dates_must_be_real_and_past);
    tcase_add_test(tc, test_days_until);
    tcase_add_test(tc, test_leap_day_birthdays);
    tcase_add_test(tc, test_messages);
    suite_add_tcase(s, tc);
    return check_run(s);
}
