/* Unit tests for cli/settings.c: reading the env file `make run` writes
 * (and shell-like variations of it), the order of the sources, and URLs. */
#include "settings.h"
#include "url.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What deploy/dev/run.sh writes. */
static const char run_env[] =
    "# Written by make run (pid 4242) while it runs; removed when it stops.\n"
    "export SLUICE_RUN_PID=4242\n"
    "export SLUICE_API_URL=http://127.0.0.1:8080\n"
    "export SLUICE_PG_URL=postgresql://postgres@127.0.0.1:5432/sluice\n"
    "export SLUICE_PERSIST_ADMIN_URLS=\"http://127.0.0.1:1 http://127.0.0.1:2\"\n";

static char *value_of(const char *text, const char *name)
{
    char *v = NULL;
    int rc = cli_settings_env_value(text, name, &v);
    ck_assert_int_ne(rc, -1);
    ck_assert_int_eq(rc == 1, v != NULL);
    return v;
}

static void expect_value(const char *text, const char *name, const char *want)
{
    char *v = value_of(text, name);
    if (!want)
        ck_assert_msg(v == NULL, "%s: expected no value, got \"%s\"", name, v);
    else
        ck_assert_msg(v && strcmp(v, want) == 0, "%s: expected \"%s\", got \"%s\"", name, want,
                      v ? v : "(none)");
    free(v);
}

START_TEST(test_run_env)
{
    expect_value(run_env, "SLUICE_API_URL", "http://127.0.0.1:8080");
    expect_value(run_env, "SLUICE_RUN_PID", "4242");
    expect_value(run_env, "SLUICE_PERSIST_ADMIN_URLS", "http://127.0.0.1:1 http://127.0.0.1:2");
    expect_value(run_env, "SLUICE_API_KEY", NULL);
    expect_value(run_env, "SLUICE_API", NULL); /* a prefix is not the name */
    expect_value(run_env, "API_URL", NULL);    /* nor a suffix */
}
END_TEST

START_TEST(test_shell_forms)
{
    expect_value("SLUICE_API_KEY=bare\n", "SLUICE_API_KEY", "bare");
    expect_value("  export\tSLUICE_API_KEY=tab \n", "SLUICE_API_KEY", "tab");
    expect_value("SLUICE_API_KEY='single \"quoted\" $x'\n", "SLUICE_API_KEY",
                 "single \"quoted\" $x");
    expect_value("SLUICE_API_KEY=\"a \\\"b\\\" \\\\ \\$c \\n\"\n", "SLUICE_API_KEY",
                 "a \"b\" \\ $c \\n");
    expect_value("SLUICE_API_KEY=ab'cd'\"ef\"\n", "SLUICE_API_KEY", "abcdef");
    expect_value("SLUICE_API_KEY=v # a comment\n", "SLUICE_API_KEY", "v");
    expect_value("SLUICE_API_KEY=v\r\n", "SLUICE_API_KEY", "v"); /* CRLF file */
    expect_value("SLUICE_API_KEY=\n", "SLUICE_API_KEY", "");
    expect_value("SLUICE_API_KEY=last-line-without-newline", "SLUICE_API_KEY",
                 "last-line-without-newline");
    expect_value("SLUICE_API_KEY=one\nSLUICE_API_KEY=two\n", "SLUICE_API_KEY", "two");
    /* Lines this does not read are skipped, not half-read. */
    expect_value("SLUICE_API_KEY=\"unterminated\n", "SLUICE_API_KEY", NULL);
    expect_value("SLUICE_API_KEY=two words\n", "SLUICE_API_KEY", NULL);
    expect_value("SLUICE_API_KEY=good\nSLUICE_API_KEY='bad\n", "SLUICE_API_KEY", "good");
    expect_value("# SLUICE_API_KEY=commented\n", "SLUICE_API_KEY", NULL);
    expect_value("exportSLUICE_API_KEY=x\n", "SLUICE_API_KEY", NULL);
    expect_value("SLUICE_API_KEY =x\n", "SLUICE_API_KEY", NULL);
    expect_value("", "SLUICE_API_KEY", NULL);
}
END_TEST

START_TEST(test_url_ok)
{
    ck_assert(url_http_ok("http://127.0.0.1:8080"));
    ck_assert(url_http_ok("HTTPS://api.example.com/sluice/"));
    const char *bad[] = {"",          "127.0.0.1:8080", "ftp://x",     "http://",
                         "http:///x", "http://a b",     "http://a\nb", "file:///etc/passwd"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!url_http_ok(bad[i]), "\"%s\" taken", bad[i]);
}
END_TEST

/* An env file in a temporary directory, and an environment without ours. */
static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_cli_settings.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/env", dir);
    unsetenv("SLUICE_API_URL");
    unsetenv("SLUICE_API_KEY");
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

static void write_env(const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_sources_in_order)
{
    struct cli_settings s;
    char err[256];
    /* Nothing anywhere: the default, no key. */
    ck_assert_int_eq(cli_settings_load(&s, NULL, path, err, sizeof(err)), 0);
    ck_assert_str_eq(s.url, CLI_DEFAULT_URL);
    ck_assert_str_eq(s.url_from, "the default");
    ck_assert_ptr_null(s.key);
    cli_settings_free(&s);

    write_env("export SLUICE_API_URL=http://file:1/\nexport SLUICE_API_KEY=file-key\n");
    ck_assert_int_eq(cli_settings_load(&s, NULL, path, err, sizeof(err)), 0);
    ck_assert_str_eq(s.url, "http://file:1"); /* the trailing '/' cut */
    ck_assert_str_eq(s.url_from, path);
    ck_assert_str_eq(s.key, "file-key");
    cli_settings_free(&s);

    /* The environment wins over the file, each setting on its own. */
    setenv("SLUICE_API_URL", "http://env:2", 1);
    ck_assert_int_eq(cli_settings_load(&s, NULL, path, err, sizeof(err)), 0);
    ck_assert_str_eq(s.url, "http://env:2");
    ck_assert_str_eq(s.url_from, "the environment");
    ck_assert_str_eq(s.key, "file-key");
    cli_settings_free(&s);

    /* An empty variable is unset; --url wins over everything. */
    setenv("SLUICE_API_URL", "", 1);
    setenv("SLUICE_API_KEY", "env-key", 1);
    ck_assert_int_eq(cli_settings_load(&s, "http://flag:3", path, err, sizeof(err)), 0);
    ck_assert_str_eq(s.url, "http://flag:3");
    ck_assert_str_eq(s.url_from, "--url");
    ck_assert_str_eq(s.key, "env-key");
    cli_settings_free(&s);

    /* An empty key in the file is no key. */
    unsetenv("SLUICE_API_KEY");
    write_env("SLUICE_API_KEY=\n");
    ck_assert_int_eq(cli_settings_load(&s, NULL, path, err, sizeof(err)), 0);
    ck_assert_ptr_null(s.key);
    ck_assert_str_eq(s.url, CLI_DEFAULT_URL);
    cli_settings_free(&s);
}
END_TEST

START_TEST(test_bad_url_names_its_source)
{
    struct cli_settings s;
    char err[256] = "";
    write_env("SLUICE_API_URL=localhost:8080\n");
    ck_assert_int_eq(cli_settings_load(&s, NULL, path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "SLUICE_API_URL (from ") && strstr(err, path) &&
                      strstr(err, "localhost:8080"),
                  "%s", err);
    ck_assert_ptr_null(s.url);
    ck_assert_int_eq(cli_settings_load(&s, "nope", path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "--url is not"), "%s", err);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_settings");
    TCase *tc = tcase_create("env file");
    tcase_add_test(tc, test_run_env);
    tcase_add_test(tc, test_shell_forms);
    tcase_add_test(tc, test_url_ok);
    suite_add_tcase(s, tc);
    TCase *load = tcase_create("load");
    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, test_sources_in_order);
    tcase_add_test(load, test_bad_url_names_its_source);
    suite_add_tcase(s, load);
    return s;
}

int main(void)
{
    return check_run(suite());
}
