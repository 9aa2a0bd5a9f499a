/* Unit tests for cli/args.c: options before, between and after arguments,
 * every way of giving a value, the refusals, and the --since/--until and
 * count converters. */
#include "args.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

static const struct cli_option command[] = {
    {"type", 0, "T", "a type"},
    {"limit", 'n', "N", "a count"},
    {"all", 0, NULL, "a flag"},
    {NULL, 0, NULL, NULL},
};
static const struct cli_option global[] = {
    {"json", 0, NULL, "json"},
    {"help", 'h', NULL, "help"},
    {"type", 0, NULL, "shadowed by the command's --type"},
    {NULL, 0, NULL, NULL},
};
static const struct cli_option *const lists[] = {command, global, NULL};

static int parse(struct cli_parsed *p, char *err, size_t errlen, int argc, char **argv)
{
    return cli_args_parse(lists, argc, argv, p, err, errlen);
}

START_TEST(test_options_anywhere)
{
    char *argv[] = {"a", "--type", "x.y", "b", "-n", "5", "--json", "c"};
    struct cli_parsed p;
    char err[128] = "";
    ck_assert_int_eq(parse(&p, err, sizeof(err), 8, argv), 0);
    ck_assert_int_eq(p.nargs, 3);
    ck_assert_str_eq(p.arg[0], "a");
    ck_assert_str_eq(p.arg[1], "b");
    ck_assert_str_eq(p.arg[2], "c");
    ck_assert_str_eq(cli_args_get(&p, "type"), "x.y");
    ck_assert_str_eq(cli_args_get(&p, "limit"), "5");
    ck_assert(cli_args_flag(&p, "json"));
    ck_assert(!cli_args_flag(&p, "all"));
    ck_assert(!cli_args_flag(&p, "help"));
    ck_assert_ptr_null(cli_args_get(&p, "nope"));
}
END_TEST

START_TEST(test_value_forms)
{
    char *argv[] = {"--type=a=b", "-n7", "--limit", "-3"};
    struct cli_parsed p;
    char err[128];
    ck_assert_int_eq(parse(&p, err, sizeof(err), 2, argv), 0);
    ck_assert_str_eq(cli_args_get(&p, "type"), "a=b"); /* split at the first '=' */
    ck_assert_str_eq(cli_args_get(&p, "limit"), "7");
    /* A value may start with '-': it is the option's, as getopt has it. */
    ck_assert_int_eq(parse(&p, err, sizeof(err), 4, argv), 0);
    ck_assert_str_eq(cli_args_get(&p, "limit"), "-3");
    char *empty[] = {"--type="};
    ck_assert_int_eq(parse(&p, err, sizeof(err), 1, empty), 0);
    ck_assert_str_eq(cli_args_get(&p, "type"), "");
}
END_TEST

START_TEST(test_last_wins_and_first_list_wins)
{
    char *argv[] = {"--type", "one", "--type", "two"};
    struct cli_parsed p;
    char err[128];
    ck_assert_int_eq(parse(&p, err, sizeof(err), 4, argv), 0);
    ck_assert_str_eq(cli_args_get(&p, "type"), "two");
    /* The command's --type takes a value; the global flag of that name is hidden. */
    ck_assert_uint_eq(p.noptions, 5);
}
END_TEST

START_TEST(test_dash_and_double_dash)
{
    char *argv[] = {"-", "--", "--json", "-n"};
    struct cli_parsed p;
    char err[128];
    ck_assert_int_eq(parse(&p, err, sizeof(err), 4, argv), 0);
    ck_assert_int_eq(p.nargs, 3);
    ck_assert_str_eq(p.arg[0], "-");
    ck_assert_str_eq(p.arg[1], "--json");
    ck_assert_str_eq(p.arg[2], "-n");
    ck_assert(!cli_args_flag(&p, "json"));
}
END_TEST

static void expect_refused(int argc, char **argv, const char *reason)
{
    struct cli_parsed p;
    char err[128] = "";
    ck_assert_int_eq(parse(&p, err, sizeof(err), argc, argv), -1);
    ck_assert_msg(strstr(err, reason), "expected \"%s\" in \"%s\"", reason, err);
}

START_TEST(test_refusals)
{
    char *unknown[] = {"--tpye", "x"};
    expect_refused(2, unknown, "unknown option --tpye");
    char *unknown_short[] = {"-x"};
    expect_refused(1, unknown_short, "unknown option -x");
    char *flag_value[] = {"--all=yes"};
    expect_refused(1, flag_value, "--all takes no value");
    char *missing[] = {"a", "--type"};
    expect_refused(2, missing, "--type needs a value (T)");
    char *many[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
    expect_refused(9, many, "too many arguments");
    /* A hostile name is cut short in the message. */
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[0] = long_name[1] = '-';
    long_name[sizeof(long_name) - 1] = '\0';
    char *hostile[] = {long_name};
    expect_refused(1, hostile, "unknown option --aaaa");
}
END_TEST

START_TEST(test_uint)
{
    long v = -1;
    ck_assert_int_eq(cli_args_uint("42", 1, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(cli_args_uint("1", 1, 1, &v), 0);
    const char *bad[] = {"",   "0",  "101", "-1",   "+5",
                         " 5", "5 ", "5s",  "0x10", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cli_args_uint(bad[i], 1, 100, &v) == -1, "\"%s\" taken", bad[i]);
    ck_assert_int_eq(cli_args_uint(NULL, 1, 100, &v), -1);
}
END_TEST

START_TEST(test_time)
{
    char out[64], err[256];
    time_t now = 1714564800; /* 2024-05-01T12:00:00Z */
    ck_assert_int_eq(cli_args_time("2024-05-01", now, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_str_eq(out, "2024-05-01");
    ck_assert_int_eq(
        cli_args_time("2016-09-30T17:45:12+02:00", now, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_str_eq(out, "2016-09-30T17:45:12+02:00");
    const struct {
        const char *in, *out;
    } durations[] = {
        {"90s", "2024-05-01T11:58:30Z"}, {"15m", "2024-05-01T11:45:00Z"},
        {"2h", "2024-05-01T10:00:00Z"},  {"7d", "2024-04-24T12:00:00Z"},
        {"1w", "2024-04-24T12:00:00Z"},  {"0s", "2024-05-01T12:00:00Z"},
    };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        ck_assert_int_eq(cli_args_time(durations[i].in, now, out, sizeof(out), err, sizeof(err)),
                         0);
        ck_assert_str_eq(out, durations[i].out);
    }
    const char *bad[] = {"", "s", "5", "5y", "-5m", "5 m", "yesterday", "99999999d", "1.5h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(cli_args_time(bad[i], now, out, sizeof(out), err, sizeof(err)) == -1,
                      "\"%s\" taken as %s", bad[i], out);
        ck_assert_msg(strstr(err, "duration"), "the message names the forms: %s", err);
    }
    char small[8];
    ck_assert_int_eq(cli_args_time("2024-05-01", now, small, sizeof(small), err, sizeof(err)), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_args");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_options_anywhere);
    tcase_add_test(tc, test_value_forms);
    tcase_add_test(tc, test_last_wins_and_first_list_wins);
    tcase_add_test(tc, test_dash_and_double_dash);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_uint);
    tcase_add_test(tc, test_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite());
}
