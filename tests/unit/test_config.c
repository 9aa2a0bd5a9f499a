/* Unit tests for lib/config.c: one table drives loading, defaults and
 * validation; a bad value gives one line naming the variable. Values come from
 * a fake lookup function instead of the environment. */
#include "config.h"

#include "check_main.h"

#include <check.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_cfg {
    char *name;
    long workers;
    long offset;
    char *listen;
    char *level;
};

#define CFG(f) offsetof(struct test_cfg, f)

static const struct config_entry table[] = {
    {"TEST_NAME", CONFIG_STRING, "sluice", CFG(name), 0, 0, "a name"},
    {"TEST_WORKERS", CONFIG_INT, "4", CFG(workers), 1, 64, "worker threads"},
    {"TEST_OFFSET", CONFIG_INT, "-5", CFG(offset), -10, 10, "a signed value"},
    {"TEST_LISTEN", CONFIG_ADDR, "127.0.0.1:8080", CFG(listen), 0, 0, "listen address"},
    {"TEST_LEVEL", CONFIG_LEVEL, "info", CFG(level), 0, 0, "log level"},
};
#define TABLE_N (sizeof(table) / sizeof(table[0]))

/* The fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;

static char *fake_lookup(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2) {
        if (strcmp(p[0], name) == 0)
            return (char *)p[1];
    }
    return NULL;
}

static int load(const char *const *env, struct test_cfg *cfg, char *err, size_t errlen)
{
    fake_env = env;
    memset(cfg, 0, sizeof(*cfg));
    err[0] = '\0';
    return config_load(table, TABLE_N, cfg, fake_lookup, err, errlen);
}

/* Loads with one variable set and asserts failure with a one-line message that
 * names the variable. */
static void assert_rejected(const char *var, const char *value, const char *expect_in_err)
{
    const char *env[] = {var, value, NULL};
    struct test_cfg cfg;
    char err[256];
    int rc = load(env, &cfg, err, sizeof(err));
    ck_assert_msg(rc == -1, "%s=\"%s\" was accepted; expected an error", var, value);
    ck_assert_msg(strstr(err, var) != NULL, "%s=\"%s\": error does not name the variable: \"%s\"",
                  var, value, err);
    ck_assert_msg(strchr(err, '\n') == NULL, "%s=\"%s\": error is not one line: \"%s\"", var, value,
                  err);
    if (expect_in_err)
        ck_assert_msg(strstr(err, expect_in_err) != NULL,
                      "%s=\"%s\": error \"%s\" does not say \"%s\"", var, value, err,
                      expect_in_err);
    config_free(table, TABLE_N, &cfg); /* whatever was loaded before the error */
}

static void assert_accepted(const char *var, const char *value, struct test_cfg *cfg)
{
    const char *env[] = {var, value, NULL};
    char err[256];
    int rc = load(env, cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s=\"%s\" was rejected: %s", var, value, err);
}

START_TEST(test_defaults)
{
    struct test_cfg cfg;
    char err[256];
    ck_assert_int_eq(load(NULL, &cfg, err, sizeof(err)), 0);
    ck_assert_str_eq(cfg.name, "sluice");
    ck_assert_int_eq(cfg.workers, 4);
    ck_assert_int_eq(cfg.offset, -5);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.level, "info");
    /* Strings are heap copies owned by the struct, not the table's text. */
    ck_assert_ptr_ne(cfg.name, table[0].default_value);
    ck_assert_ptr_ne(cfg.listen, table[3].default_value);
    ck_assert_ptr_ne(cfg.level, table[4].default_value);
    config_free(table, TABLE_N, &cfg);
    ck_assert_ptr_null(cfg.name);
    ck_assert_ptr_null(cfg.listen);
    ck_assert_ptr_null(cfg.level);
    ck_assert_int_eq(cfg.workers, 4);  /* integers are left alone */
    config_free(table, TABLE_N, &cfg); /* a second free is harmless */
}
END_TEST

START_TEST(test_overrides)
{
    static const char *const env[] = {
        "TEST_NAME",   "custom",     "TEST_WORKERS", "64",    "TEST_OFFSET", "-10",
        "TEST_LISTEN", "[::1]:9000", "TEST_LEVEL",   "debug", NULL,
    };
    struct test_cfg cfg;
    char err[256];
    ck_assert_msg(load(env, &cfg, err, sizeof(err)) == 0, "load failed: %s", err);
    ck_assert_str_eq(cfg.name, "custom");
    ck_assert_int_eq(cfg.workers, 64);
    ck_assert_int_eq(cfg.offset, -10);
    ck_assert_str_eq(cfg.listen, "[::1]:9000");
    ck_assert_str_eq(cfg.level, "debug");
    /* The value is copied, not borrowed from the environment. */
    ck_assert_ptr_ne(cfg.name, env[1]);
    config_free(table, TABLE_N, &cfg);
}
END_TEST

START_TEST(test_empty_means_default)
{
    static const char *const env[] = {"TEST_NAME", "", "TEST_WORKERS", "", "TEST_LEVEL", "", NULL};
    struct test_cfg cfg;
    char err[256];
    ck_assert_msg(load(env, &cfg, err, sizeof(err)) == 0, "load failed: %s", err);
    ck_assert_str_eq(cfg.name, "sluice");
    ck_assert_int_eq(cfg.workers, 4);
    ck_assert_str_eq(cfg.level, "info");
    config_free(table, TABLE_N, &cfg);
}
END_TEST

START_TEST(test_int_bounds)
{
    struct test_cfg cfg;
    assert_accepted("TEST_WORKERS", "1", &cfg);
    ck_assert_int_eq(cfg.workers, 1);
    config_free(table, TABLE_N, &cfg);
    assert_accepted("TEST_WORKERS", "64", &cfg);
    ck_assert_int_eq(cfg.workers, 64);
    config_free(table, TABLE_N, &cfg);
    assert_accepted("TEST_OFFSET", "10", &cfg);
    ck_assert_int_eq(cfg.offset, 10);
    config_free(table, TABLE_N, &cfg);
    assert_accepted("TEST_OFFSET", "0", &cfg);
    ck_assert_int_eq(cfg.offset, 0);
    config_free(table, TABLE_N, &cfg);
    assert_accepted("TEST_OFFSET", "-10", &cfg);
    ck_assert_int_eq(cfg.offset, -10);
    config_free(table, TABLE_N, &cfg);
}
END_TEST

static const char *const bad_ints[] = {
    "0",
    "65",
    "-1",
    "1000000",
    "abc",
    "12x",
    "x12",
    " ",
    "1.5",
    "1e3",
    "0x10",
    "--1",
    "4 4",
    "99999999999999999999",
    "-99999999999999999999",
    "\xc3\xa9",
};

START_TEST(test_int_rejected)
{
    assert_rejected("TEST_WORKERS", bad_ints[_i], "1 to 64");
}
END_TEST

START_TEST(test_signed_int_rejected)
{
    assert_rejected("TEST_OFFSET", "-11", "-10 to 10");
    assert_rejected("TEST_OFFSET", "11", "-10 to 10");
    assert_rejected("TEST_OFFSET", "-", NULL);
}
END_TEST

START_TEST(test_addr)
{
    static const char *const good[] = {"127.0.0.1:8080", "localhost:1", "localhost:65535",
                                       "0.0.0.0:80",     "[::1]:8080",  "a:1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct test_cfg cfg;
        assert_accepted("TEST_LISTEN", good[i], &cfg);
        ck_assert_str_eq(cfg.listen, good[i]);
        config_free(table, TABLE_N, &cfg);
    }
    static const char *const bad[] = {
        "localhost", "localhost:0", "localhost:65536",
        ":8080",     "localhost:",  "localhost:http",
        "host:80x",  "host:-1",     "host:1.5",
        "8080",      ":",           "host:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_rejected("TEST_LISTEN", bad[i], "host:port");
}
END_TEST

START_TEST(test_level)
{
    static const char *const good[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct test_cfg cfg;
        assert_accepted("TEST_LEVEL", good[i], &cfg);
        ck_assert_str_eq(cfg.level, good[i]);
        config_free(table, TABLE_N, &cfg);
    }
    static const char *const bad[] = {"verbose", "trace", "warning", "fatal", "info ",
                                      " info",   "inf",   "infox",   "0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_rejected("TEST_LEVEL", bad[i], "debug, info, warn, error");
}
END_TEST

START_TEST(test_error_names_value)
{
    const char *env[] = {"TEST_WORKERS", "lots", NULL};
    struct test_cfg cfg;
    char err[256];
    ck_assert_int_eq(load(env, &cfg, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "TEST_WORKERS") && strstr(err, "lots"),
                  "error should name the variable and the bad value: \"%s\"", err);
    config_free(table, TABLE_N, &cfg);
}
END_TEST

START_TEST(test_error_small_buffer)
{
    const char *env[] = {"TEST_LISTEN", "this is not an address at all, not even close", NULL};
    struct test_cfg cfg;
    char err[16];
    memset(err, 'x', sizeof(err));
    fake_env = env;
    memset(&cfg, 0, sizeof(cfg));
    ck_assert_int_eq(config_load(table, TABLE_N, &cfg, fake_lookup, err, sizeof(err)), -1);
    ck_assert_msg(memchr(err, '\0', sizeof(err)) != NULL, "truncated error is not terminated");
    config_free(table, TABLE_N, &cfg);
}
END_TEST

START_TEST(test_empty_string_rejected)
{
    /* A string whose value and default are both empty is an error. */
    static const struct config_entry required[] = {
        {"TEST_REQUIRED", CONFIG_STRING, "", CFG(name), 0, 0, "must be set"},
    };
    struct test_cfg cfg = {0};
    char err[256] = "";
    fake_env = NULL;
    ck_assert_int_eq(config_load(required, 1, &cfg, fake_lookup, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "TEST_REQUIRED") != NULL, "error does not name the variable: %s",
                  err);
    ck_assert_ptr_null(cfg.name);
    static const char *const env[] = {"TEST_REQUIRED", "given", NULL};
    fake_env = env;
    ck_assert_int_eq(config_load(required, 1, &cfg, fake_lookup, err, sizeof(err)), 0);
    ck_assert_str_eq(cfg.name, "given");
    config_free(required, 1, &cfg);
}
END_TEST

START_TEST(test_reload_and_partial_failure_free)
{
    /* Loading again replaces (and frees) the previous strings; a failure part
     * way leaves earlier strings for config_free. LeakSanitizer checks both. */
    static const char *const first[] = {"TEST_NAME", "one", NULL};
    static const char *const second[] = {"TEST_NAME", "two", "TEST_LEVEL", "loud", NULL};
    struct test_cfg cfg;
    char err[256];
    ck_assert_int_eq(load(first, &cfg, err, sizeof(err)), 0);
    fake_env = second;
    ck_assert_int_eq(config_load(table, TABLE_N, &cfg, fake_lookup, err, sizeof(err)), -1);
    ck_assert_str_eq(cfg.name, "two");
    ck_assert_msg(strstr(err, "TEST_LEVEL") != NULL, "error: %s", err);
    config_free(table, TABLE_N, &cfg);
    ck_assert_ptr_null(cfg.name);
    ck_assert_ptr_null(cfg.listen);
    ck_assert_ptr_null(cfg.level);
}
END_TEST

static void assert_split(const char *addr, size_t hostlen, int want_rc, const char *want_host,
                         int want_port)
{
    char *host = malloc(hostlen);
    ck_assert_ptr_nonnull(host);
    int port = -7;
    int rc = config_split_addr(addr, host, hostlen, &port);
    ck_assert_msg(rc == want_rc, "config_split_addr(\"%s\", hostlen %zu) = %d, want %d", addr,
                  hostlen, rc, want_rc);
    if (want_rc == 0) {
        ck_assert_str_eq(host, want_host);
        ck_assert_int_eq(port, want_port);
    }
    free(host);
}

START_TEST(test_split_addr)
{
    assert_split("127.0.0.1:8080", 64, 0, "127.0.0.1", 8080);
    assert_split("localhost:1", 64, 0, "localhost", 1);
    assert_split("localhost:65535", 64, 0, "localhost", 65535);
    assert_split("0.0.0.0:9100", 64, 0, "0.0.0.0", 9100);
    assert_split("a:b:80", 64, 0, "a:b", 80); /* the last colon separates the port */
    /* The host must fit with its NUL. */
    assert_split("abcd:80", 5, 0, "abcd", 80);
    assert_split("abcd:80", 4, -1, NULL, 0);
    assert_split("abcd:80", 1, -1, NULL, 0);
    static const char *const bad[] = {
        "",         "localhost",   "localhost:", ":80",
        ":",        "localhost:0", "host:65536", "host:-80",
        "host:80a", "host:8 0",    "host:0x50",  "host:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_split(bad[i], 64, -1, NULL, 0);
}
END_TEST

START_TEST(test_print_help)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    config_print_help(f, "sluice-test", "Does testing.", table, TABLE_N);
    fclose(f);
    ck_assert_msg(strstr(text, "sluice-test") != NULL, "help lacks the program name:\n%s", text);
    ck_assert_msg(strstr(text, "Does testing.") != NULL, "help lacks the summary:\n%s", text);
    for (size_t i = 0; i < TABLE_N; i++) {
        ck_assert_msg(strstr(text, table[i].env) != NULL, "help lacks %s:\n%s", table[i].env, text);
        ck_assert_msg(strstr(text, table[i].help) != NULL, "help lacks \"%s\":\n%s", table[i].help,
                      text);
        char def[64];
        snprintf(def, sizeof(def), "(default: %s)", table[i].default_value);
        ck_assert_msg(strstr(text, def) != NULL, "help lacks \"%s\":\n%s", def, text);
    }
    free(text);
}
END_TEST

START_TEST(test_from_args)
{
    /* Keep the test output clean: --help prints to stdout, which goes to
     * /dev/null until the end of the test. */
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(saved_stdout, 0);
    ck_assert_int_ge(devnull, 0);
    dup2(devnull, STDOUT_FILENO);
    close(devnull);
    struct test_cfg cfg = {0};
    int code = -1;
    char prog[] = "prog", help[] = "--help", h[] = "-h", junk[] = "--port=1";
    char *argv_help[] = {prog, help, NULL};
    ck_assert_int_eq(config_from_args(2, argv_help, "S", table, TABLE_N, &cfg, &code), -1);
    ck_assert_int_eq(code, 0);
    code = -1;
    char *argv_h[] = {prog, h, NULL};
    ck_assert_int_eq(config_from_args(2, argv_h, "S", table, TABLE_N, &cfg, &code), -1);
    ck_assert_int_eq(code, 0);
    code = -1;
    char *argv_junk[] = {prog, junk, NULL};
    ck_assert_int_eq(config_from_args(2, argv_junk, "S", table, TABLE_N, &cfg, &code), -1);
    ck_assert_int_eq(code, 2);

    /* From the real environment (this test runs in its own process). */
    char *argv_none[] = {prog, NULL};
    setenv("TEST_WORKERS", "7", 1);
    ck_assert_int_eq(config_from_args(1, argv_none, "S", table, TABLE_N, &cfg, &code), 0);
    ck_assert_int_eq(cfg.workers, 7);
    config_free(table, TABLE_N, &cfg);
    setenv("TEST_WORKERS", "700", 1);
    code = -1;
    ck_assert_int_eq(config_from_args(1, argv_none, "S", table, TABLE_N, &cfg, &code), -1);
    ck_assert_int_eq(code, 2);
    ck_assert_ptr_null(cfg.name); /* freed on the error path */
    unsetenv("TEST_WORKERS");
    fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *load_tc = tcase_create("load");
    tcase_add_test(load_tc, test_defaults);
    tcase_add_test(load_tc, test_overrides);
    tcase_add_test(load_tc, test_empty_means_default);
    tcase_add_test(load_tc, test_int_bounds);
    tcase_add_loop_test(load_tc, test_int_rejected, 0, sizeof(bad_ints) / sizeof(bad_ints[0]));
    tcase_add_test(load_tc, test_signed_int_rejected);
    tcase_add_test(load_tc, test_addr);
    tcase_add_test(load_tc, test_level);
    tcase_add_test(load_tc, test_error_names_value);
    tcase_add_test(load_tc, test_error_small_buffer);
    tcase_add_test(load_tc, test_empty_string_rejected);
    tcase_add_test(load_tc, test_reload_and_partial_failure_free);
    suite_add_tcase(s, load_tc);

    TCase *misc = tcase_create("misc");
    tcase_add_test(misc, test_split_addr);
    tcase_add_test(misc, test_print_help);
    tcase_add_test(misc, test_from_args);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    return check_run(config_suite());
}
