/* Unit tests for channels/channel.c: the table of types (every row of
 * channel_types.def found by name, with its settings), channel_new's
 * checks (name, type, timeout_ms) and its "<name>: reason" errors, and
 * channel_deliver's format-then-send (with the log channel, which needs no
 * network). */
#include "channel.h"
#include "channel_fixtures.h"
#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sample request, but without request_id and link. */
static const struct assistance plain = {
    .id = SAMPLE_ID,
    .topic = "sales",
    .description = "Need a quote for 40 seats",
    .received_at = "2024-03-05T10:00:00.000000Z",
    .request_id = NULL,
    .link = NULL,
    .delivery_id = "dlv-1",
};

START_TEST(test_types)
{
    /* Every row of the table is a type found by its name, carrying the
     * settings its row declares. */
    static const struct {
        const char *name;
        const struct channel_type *type;
        const struct channel_setting *settings;
    } rows[] = {
#define CHANNEL_TYPE(name, settings) {#name, &channel_##name, channel_settings_##name},
#include "channel_types.def"
#undef CHANNEL_TYPE
    };
    ck_assert_uint_ge(sizeof(rows) / sizeof(rows[0]), 4);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct channel_type *t = channel_type_find(rows[i].name);
        ck_assert_msg(t == rows[i].type, "channel_type_find(\"%s\") is not channel_%s",
                      rows[i].name, rows[i].name);
        ck_assert_str_eq(t->name, rows[i].name);
        ck_assert_msg(t->settings == rows[i].settings,
                      "channel_%s.settings is not channel_settings_%s", rows[i].name, rows[i].name);
        ck_assert_ptr_eq(channel_settings_of(rows[i].name), t->settings);
        ck_assert_ptr_nonnull(t->init);
        ck_assert_ptr_nonnull(t->format);
        ck_assert_ptr_nonnull(t->send);
        ck_assert_ptr_nonnull(t->destroy);
    }
    ck_assert_ptr_eq(channel_type_find("slack"), &channel_slack);
    ck_assert_ptr_null(channel_type_find("fax"));
    ck_assert_ptr_null(channel_type_find("Slack"));
    ck_assert_ptr_null(channel_type_find(""));
    ck_assert_ptr_null(channel_type_find(NULL));
    ck_assert_ptr_null(channel_settings_of("fax"));
    ck_assert_ptr_null(channel_settings_of(NULL));
}
END_TEST

START_TEST(test_refused)
{
    char long_name[CHANNEL_NAME_MAX + 1];
    memset(long_name, 'n', CHANNEL_NAME_MAX);
    long_name[CHANNEL_NAME_MAX] = '\0';
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"[]", "ops: a channel's settings are an object with a \"type\""},
        {"\"log\"", "ops: a channel's settings are an object with a \"type\""},
        /* A prefix: a new row adds its name at the end of the list. */
        {"{}", "ops: \"\" is not a channel type (slack, email, webhook, log"},
        {"{\"type\": 5}", "ops: \"\" is not a channel type (slack, email, webhook, log"},
        {"{\"type\": \"fax\"}", "ops: \"fax\" is not a channel type (slack, email, webhook, log"},
        {"{\"type\": \"log\", \"timeout_ms\": 99}", "ops: timeout_ms is an integer from 100 to "
                                                    "120000"},
        {"{\"type\": \"log\", \"timeout_ms\": 120001}", "ops: timeout_ms is an integer from 100 "
                                                        "to 120000"},
        {"{\"type\": \"log\", \"timeout_ms\": -1}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": 0}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": 5000.0}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": \"5000\"}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": true}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": null}", "ops: timeout_ms"},
        {"{\"type\": \"log\", \"timeout_ms\": 99999999999999}", "ops: timeout_ms"},
        {"{\"type\": \"slack\"}", "ops: webhook_url:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_refused("ops", cases[i].settings, cases[i].want, err, sizeof(err));
    }
    char err[256] = "";
    ck_assert_ptr_null(channel_from_json(long_name, "{\"type\": \"log\"}", err, sizeof(err)));
    ck_assert_str_eq(err, "a channel name is 1 to 127 bytes");
    ck_assert_ptr_null(channel_from_json("", "{\"type\": \"log\"}", err, sizeof(err)));
    ck_assert_str_eq(err, "a channel name is 1 to 127 bytes");
    json_t *conf = json_pack("{s:s}", "type", "log");
    ck_assert_ptr_null(channel_new(NULL, conf, err, sizeof(err)));
    json_decref(conf);
    /* A short error buffer is cut, never overrun. */
    char tiny[8];
    ck_assert_ptr_null(channel_from_json("ops", "{\"type\": \"fax\"}", tiny, sizeof(tiny)));
    ck_assert_str_eq(tiny, "ops: \"f");
}
END_TEST

START_TEST(test_accepted)
{
    char err[256] = "";
    char name[CHANNEL_NAME_MAX];
    memset(name, 'n', CHANNEL_NAME_MAX - 1);
    name[CHANNEL_NAME_MAX - 1] = '\0';
    struct channel *ch = channel_from_json(name, "{\"type\": \"log\"}", err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    name[0] = 'X'; /* the channel has its own copy */
    ck_assert_int_eq(ch->name[0], 'n');
    ck_assert_uint_eq(strlen(ch->name), CHANNEL_NAME_MAX - 1);
    ck_assert_ptr_eq(ch->type, &channel_log);
    ck_assert_int_eq(ch->timeout_ms, CHANNEL_DEFAULT_TIMEOUT_MS);
    ck_assert_ptr_nonnull(ch->state);
    channel_free(ch);
    ch = channel_from_json("a", "{\"type\": \"log\", \"timeout_ms\": 100}", err, sizeof(err));
    ck_assert_int_eq(ch->timeout_ms, 100);
    channel_free(ch);
    ch = channel_from_json("a", "{\"type\": \"log\", \"timeout_ms\": 120000}", err, sizeof(err));
    ck_assert_int_eq(ch->timeout_ms, 120000);
    channel_free(ch);
    ch = channel_from_json("a",
                           "{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": "
                           "\"whsec_c2VjcmV0LTI=\", \"timeout_ms\": 2500}",
                           err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    ck_assert_int_eq(ch->timeout_ms, 2500);
    channel_free(ch);
    channel_free(NULL);
}
END_TEST

START_TEST(test_deliver)
{
    char path[300], settings[400], err[256] = "";
    temp_file_path(path, sizeof(path), "out.log");
    snprintf(settings, sizeof(settings), "{\"type\": \"log\", \"path\": \"%s\"}", path);
    struct channel *ch = channel_from_json("ops", settings, err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    struct send_info info = {.status = 99, .retry_after_ms = 99};
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_OK);
    ck_assert_int_eq(info.status, 0);
    ck_assert_int_eq(info.retry_after_ms, 0);
    ck_assert_int_eq(channel_deliver(ch, &plain, NULL, err, sizeof(err)), SEND_OK);
    /* What cannot be formatted (not UTF-8) is dropped, not retried. */
    struct assistance bad = plain;
    bad.description = "\xff\xfe";
    ck_assert_int_eq(channel_deliver(ch, &bad, &info, err, sizeof(err)), SEND_DROP);
    ck_assert_str_eq(err, "cannot format the log message");
    channel_free(ch);
    char *text = read_whole_file(path);
    int lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 2);
    free(text);
    temp_file_remove(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_types);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_accepted);
    tcase_add_test(tc, test_deliver);
    suite_add_tcase(s, tc);
    return check_run(s);
}
