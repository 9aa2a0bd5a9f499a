/* Unit tests for cli/progress.c: byte counts for people, the terminal line
 * at every width (bar, percentage, never wider than the terminal), and the
 * plain line. */
#include "progress.h"

#include "check_main.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

START_TEST(test_bytes)
{
    const struct {
        uint64_t n;
        const char *want;
    } cases[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1.00 KiB"},
        {1536, "1.50 KiB"},
        {10 * 1024 - 1, "9.99 KiB"}, /* cut, never rounded up to "10.00" */
        {10 * 1024, "10.0 KiB"},
        {1024 * 1024 - 1, "1023 KiB"},
        {1024 * 1024, "1.00 MiB"},
        {39741440, "37.9 MiB"},
        {5ull * 1024 * 1024 * 1024, "5.00 GiB"},
        {3ull << 40, "3.00 TiB"},
        {UINT64_MAX, "16777216 TiB"}, /* no unit past TiB; a double rounds 2^64 - 1 up */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        cli_progress_bytes(cases[i].n, out, sizeof(out));
        ck_assert_msg(strcmp(out, cases[i].want) == 0, "%llu: expected \"%s\", got \"%s\"",
                      (unsigned long long)cases[i].n, cases[i].want, out);
    }
}
END_TEST

START_TEST(test_line_with_bar)
{
    char out[256];
    cli_progress_format(out, sizeof(out), "persisting", 5000, 10000, "5000 of 10000 records", 100);
    ck_assert_str_eq(out, "persisting  [###############...............]  50%  5000 of 10000 "
                          "records");
    cli_progress_format(out, sizeof(out), "uploading", 0, 10, "", 80);
    ck_assert_str_eq(out, "uploading  [..............................]   0%");
    cli_progress_format(out, sizeof(out), "uploading", 10, 10, "", 80);
    ck_assert_str_eq(out, "uploading  [##############################] 100%");
    /* 99.99% is not shown as done. */
    cli_progress_format(out, sizeof(out), "x", 9999, 10000, "", 80);
    ck_assert_msg(strstr(out, " 99%") && strchr(out, '.'), "%s", out);
    /* More done than the total (a count that raced ahead) stays at 100%. */
    cli_progress_format(out, sizeof(out), "x", 12, 10, "", 80);
    ck_assert_msg(strstr(out, "100%"), "%s", out);
    /* Totals near the top of uint64_t do not overflow. */
    cli_progress_format(out, sizeof(out), "x", UINT64_MAX / 2, UINT64_MAX, "", 80);
    ck_assert_msg(strstr(out, " 50%"), "%s", out);
}
END_TEST

START_TEST(test_line_fits_every_width)
{
    const char *detail = "123456 of 200000 records stored";
    for (int columns = 1; columns <= 200; columns++) {
        char out[512];
        cli_progress_format(out, sizeof(out), "persisting", 123456, 200000, detail, columns);
        int room = columns - 1;
        ck_assert_msg((int)strlen(out) <= room, "%d columns: %zu characters: \"%s\"", columns,
                      strlen(out), out);
        const char *bar = strchr(out, '[');
        if (bar) {
            size_t cells = strcspn(bar + 1, "]");
            ck_assert_msg(cells >= 10 && cells <= 30, "%d columns: a bar of %zu", columns, cells);
        }
    }
    /* Without room for a bar of 10, the percentage stays. */
    char out[512];
    cli_progress_format(out, sizeof(out), "persisting", 1, 2, detail, 60);
    ck_assert_str_eq(out, "persisting  50%  123456 of 200000 records stored");
}
END_TEST

START_TEST(test_line_without_total)
{
    char out[128];
    cli_progress_format(out, sizeof(out), "uploading", 5, 0, "5.00 MiB  1.00 MiB/s", 80);
    ck_assert_str_eq(out, "uploading  5.00 MiB  1.00 MiB/s");
    cli_progress_format(out, sizeof(out), "waiting", 0, 0, "", 80);
    ck_assert_str_eq(out, "waiting");
    char tiny[8];
    cli_progress_format(tiny, sizeof(tiny), "uploading", 5, 0, "5.00 MiB", 80);
    ck_assert_str_eq(tiny, "uploadi"); /* truncated to the buffer, terminated */
}
END_TEST

START_TEST(test_plain)
{
    char out[128];
    cli_progress_plain(out, sizeof(out), "persisting", 1, 4, "1 of 4 records stored");
    ck_assert_str_eq(out, "persisting: 1 of 4 records stored (25%)");
    cli_progress_plain(out, sizeof(out), "uploading", 7, 0, "7 B");
    ck_assert_str_eq(out, "uploading: 7 B");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_progress");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_bytes);
    tcase_add_test(tc, test_line_with_bar);
    tcase_add_test(tc, test_line_fits_every_width);
    tcase_add_test(tc, test_line_without_total);
    tcase_add_test(tc, test_plain);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite());
}
