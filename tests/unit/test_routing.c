/* Unit tests for lib/routing.c: a good routing file, ${VAR} expansion, and
 * every kind of bad file refused with the place of the problem. */
#include "routing.h"

#include "check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char *fake_env(const char *name)
{
    if (strcmp(name, "SLACK_WEBHOOK_URL") == 0)
        return "https://hooks.example/T1";
    if (strcmp(name, "SMTP_URL") == 0)
        return "smtp://127.0.0.1:2525";
    return NULL;
}

static const char *good =
    "{\"channels\": {"
    "  \"sales-slack\": {\"type\": \"slack\", \"webhook_url\": \"${SLACK_WEBHOOK_URL}\"},"
    "  \"pricing-email\": {\"type\": \"email\", \"url\": \"${SMTP_URL}\", \"from\": \"a@x\","
    "                     \"to\": [\"b@x\", \"c@x\"]},"
    "  \"ops\": {\"type\": \"log\"}},"
    " \"topics\": {\"Sales\": {\"channels\": [\"sales-slack\"], \"fallback\": \"ops\"},"
    "              \"pricing\": {\"channels\": [\"pricing-email\", \"ops\"]}}}";

START_TEST(test_good_file)
{
    char err[256] = "";
    struct routing *r = routing_parse(good, fake_env, err, sizeof(err));
    ck_assert_msg(r != NULL, "good file refused: %s", err);
    const json_t *ch = routing_topic_channels(r, "SALES");
    ck_assert_int_eq(json_array_size(ch), 1);
    ck_assert_str_eq(json_string_value(json_array_get(ch, 0)), "sales-slack");
    ck_assert_str_eq(routing_topic_fallback(r, "sales"), "ops");
    ck_assert_ptr_null(routing_topic_fallback(r, "pricing"));
    ck_assert_ptr_null(routing_topic_channels(r, "support"));
    ck_assert_str_eq(
        json_string_value(json_object_get(routing_channel(r, "sales-slack"), "webhook_url")),
        "https://hooks.example/T1");
    char list[128];
    routing_topic_list(r, list, sizeof(list));
    ck_assert_str_eq(list, "pricing, sales");
    routing_free(r);
}
END_TEST

static void refused(const char *text, const char *want)
{
    char err[256] = "";
    struct routing *r = routing_parse(text, fake_env, err, sizeof(err));
    ck_assert_msg(r == NULL, "accepted, expected the error %s", want);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" does not contain \"%s\"", err, want);
}

START_TEST(test_bad_files)
{
    refused("{", "not JSON");
    refused("{\"channels\": {}}", "\"channels\" and \"topics\"");
    refused("{\"channels\": {\"a\": {\"type\": \"fax\"}}, \"topics\": {}}",
            "/channels/a/type: \"fax\" is not a channel type");
    refused("{\"channels\": {\"a\": {\"type\": \"slack\"}}, \"topics\": {}}",
            "/channels/a/webhook_url: a slack channel needs this setting");
    refused("{\"channels\": {\"a\": {\"type\": \"slack\", \"webhook_url\": \"${NOPE}\"}},"
            " \"topics\": {}}",
            "/channels/a/webhook_url: ${NOPE} is not set");
    refused("{\"channels\": {\"a\": {\"type\": \"log\", \"path\": \"${}\"}}, \"topics\": {}}",
            "/channels/a/path");
    refused("{\"channels\": {\"a\": {\"type\": \"email\", \"url\": \"u\", \"from\": \"f\","
            " \"to\": [1]}}, \"topics\": {}}",
            "/channels/a/to");
    refused("{\"channels\": {\"a\": {\"type\": \"log\"}}, \"topics\": {\"s\": {\"channels\": "
            "[\"b\"]}}}",
            "/topics/s/channels/0: no channel is named \"b\"");
    refused("{\"channels\": {\"a\": {\"type\": \"log\"}}, \"topics\": {\"s\": {\"channels\": []}}}",
            "/topics/s/channels: a topic names one or more channels");
    refused("{\"channels\": {\"a\": {\"type\": \"log\"}}, \"topics\": {\"s\": {\"channels\": "
            "[\"a\"], \"fallback\": \"z\"}}}",
            "/topics/s/fallback");
    refused("{\"channels\": {\"a\": {\"type\": \"log\"}}, \"topics\": {\"s\": {\"channels\": "
            "[\"a\"]}, \"S\": {\"channels\": [\"a\"]}}}",
            "appears twice");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("routing");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_bad_files);
    suite_add_tcase(s, tc);
    return check_run(s);
}
