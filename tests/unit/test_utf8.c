/* Unit tests for lib/utf8.c: lengths count code points, not bytes. */
#include "utf8.h"

#include "check_main.h"

#include <check.h>

START_TEST(test_length_counts_code_points)
{
    ck_assert_uint_eq(utf8_length(""), 0);
    ck_assert_uint_eq(utf8_length("abc"), 3);
    ck_assert_uint_eq(utf8_length("Gr\xc3\xbc\xc3\x9f"
                                  "e \xf0\x9f\x8e\x89"),
                      7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_length_counts_code_points);
    suite_add_tcase(s, tc);
    return check_run(s);
}
