/* Unit tests for lib/routing.c: a good routing file, ${VAR} expansion, and
 * every kind of bad file refused with the place of the problem; channels'
 * settings refused or accepted as their types declare (channel_types.def). */
#include "routing.h"

#include "channel_settings.h"
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

/* What ingest hands the loader for every ${VAR}. */
static char *placeholder_env(const char *name)
{
    (void)name;
    return "(expanded by sluice-notify)";
}

START_TEST(test_placeholders_pass)
{
    /* Ingest never looks the variables up: the declarations check only what
     * a placeholder satisfies. */
    char err[256] = "";
    struct routing *r = routing_parse(good, placeholder_env, err, sizeof(err));
    ck_assert_msg(r != NULL, "refused with placeholders: %s", err);
    routing_free(r);
}
END_TEST

/* {"channels": {"c": conf}, "topics": {}} through routing_parse; steals
 * conf. NULL with err filled when refused. */
static struct routing *parse_channel(json_t *conf, char *err, size_t errlen)
{
    json_t *doc = json_pack("{s:{s:o}, s:{}}", "channels", "c", conf, "topics");
    char *text = json_dumps(doc, 0);
    ck_assert_ptr_nonnull(text);
    struct routing *r = routing_parse(text, fake_env, err, errlen);
    free(text);
    json_decref(doc);
    return r;
}

/* A channel of type with every required setting set, as a placeholder
 * would be; a new reference. */
static json_t *minimal(const char *type, const struct channel_setting *s)
{
    json_t *conf = json_pack("{s:s}", "type", type);
    for (; s->key; s++) {
        if (s->need == CHANNEL_SETTING_REQUIRED)
            json_object_set_new(conf, s->key, json_string("x"));
    }
    return conf;
}

static void assert_refused_with(json_t *conf, const char *want, const char *what)
{
    char err[512] = "";
    struct routing *r = parse_channel(conf, err, sizeof(err));
    ck_assert_msg(r == NULL, "%s: accepted, expected \"%s\"", what, want);
    ck_assert_msg(strstr(err, want) != NULL, "%s: error \"%s\" does not contain \"%s\"", what, err,
                  want);
}

static void assert_accepted(json_t *conf, const char *what)
{
    char err[512] = "";
    struct routing *r = parse_channel(conf, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s: refused: %s", what, err);
    routing_free(r);
}

/* Every type of the table, from its declarations alone: each required
 * setting refused when missing, null or empty; each setting refused when it
 * is not of its kind; each optional one accepted when absent or null. */
START_TEST(test_declarations_drive_validation)
{
    static const struct {
        const char *type;
        const struct channel_setting *settings;
    } rows[] = {
#define CHANNEL_TYPE(name, settings) {#name, channel_settings_##name},
#include "channel_types.def"
#undef CHANNEL_TYPE
    };
    for (size_t t = 0; t < sizeof(rows) / sizeof(rows[0]); t++) {
        const char *type = rows[t].type;
        char what[128], want[256];
        snprintf(what, sizeof(what), "%s with its required settings", type);
        assert_accepted(minimal(type, rows[t].settings), what);
        for (const struct channel_setting *s = rows[t].settings; s->key; s++) {
            json_t *conf;
            if (s->need == CHANNEL_SETTING_REQUIRED) {
                snprintf(want, sizeof(want), "/channels/c/%s: a%s %s channel needs this setting",
                         s->key, strchr("aeiou", type[0]) ? "n" : "", type);
                snprintf(what, sizeof(what), "%s without %s", type, s->key);
                conf = minimal(type, rows[t].settings);
                json_object_del(conf, s->key);
                assert_refused_with(conf, want, what);
                snprintf(what, sizeof(what), "%s with %s null", type, s->key);
                conf = minimal(type, rows[t].settings);
                json_object_set_new(conf, s->key, json_null());
                assert_refused_with(conf, want, what);
                snprintf(want, sizeof(want), "/channels/c/%s: ", s->key);
                snprintf(what, sizeof(what), "%s with %s empty", type, s->key);
                conf = minimal(type, rows[t].settings);
                json_object_set_new(conf, s->key, json_string(""));
                assert_refused_with(conf, want, what);
            } else {
                snprintf(what, sizeof(what), "%s with %s null", type, s->key);
                conf = minimal(type, rows[t].settings);
                json_object_set_new(conf, s->key, json_null());
                assert_accepted(conf, what);
            }
            snprintf(want, sizeof(want), "/channels/c/%s: a%s %s channel's \"%s\" is ", s->key,
                     strchr("aeiou", type[0]) ? "n" : "", type, s->key);
            snprintf(what, sizeof(what), "%s with %s a number", type, s->key);
            conf = minimal(type, rows[t].settings);
            json_object_set_new(conf, s->key, json_integer(5));
            assert_refused_with(conf, want, what);
            snprintf(what, sizeof(what), "%s with %s an object", type, s->key);
            conf = minimal(type, rows[t].settings);
            json_object_set_new(conf, s->key, json_object());
            assert_refused_with(conf, want, what);
        }
    }
}
END_TEST

/* The messages as a user reads them, for the kinds the table uses. */
START_TEST(test_setting_messages)
{
    char names[256], want[400];
    channel_settings_type_list(names, sizeof(names));
    /* The shipped types first; a new row adds its name at the end. */
    ck_assert_msg(strncmp(names, "slack, email, webhook, log", 26) == 0, "type list \"%s\"", names);
    snprintf(want, sizeof(want), "/channels/c/type: \"fax\" is not a channel type (%s)", names);
    assert_refused_with(json_pack("{s:s}", "type", "fax"), want, "type fax");
    assert_refused_with(json_pack("{s:i}", "type", 5), "/channels/c/type: \"\" is not", "type 5");
    assert_refused_with(json_pack("{s:s, s:s, s:s}", "type", "email", "url", "u", "from", "f"),
                        "/channels/c/to: an email channel needs this setting (a non-empty string, "
                        "or a non-empty list of them)",
                        "email without to");
    assert_refused_with(
        json_pack("{s:s, s:s, s:s, s:[]}", "type", "email", "url", "u", "from", "f", "to"),
        "/channels/c/to: an email channel's \"to\" is a non-empty string, or a "
        "non-empty list of them, not an empty list",
        "email to []");
    assert_refused_with(json_pack("{s:s, s:s, s:s, s:[s, s]}", "type", "email", "url", "u", "from",
                                  "f", "to", "b@x", ""),
                        "/channels/c/to/1: an item of an email channel's \"to\" is a non-empty "
                        "string, not an empty string",
                        "email to [\"b@x\", \"\"]");
    assert_refused_with(json_pack("{s:s, s:s}", "type", "slack", "webhook_url", ""),
                        "/channels/c/webhook_url: a slack channel's \"webhook_url\" is a "
                        "non-empty string, not an empty string",
                        "slack webhook_url \"\"");
    assert_refused_with(json_pack("{s:s, s:b}", "type", "log", "path", 1),
                        "/channels/c/path: a log channel's \"path\" is a string, not a boolean",
                        "log path true");
    /* An optional string may be empty (no subject prefix), and settings no
     * type declares are ignored, as the inits ignore them. */
    assert_accepted(json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "email", "url", "u", "from", "f",
                              "to", "t", "subject_prefix", ""),
                    "email with an empty subject_prefix");
    assert_accepted(json_pack("{s:s, s:s}", "type", "log", "colour", "blue"),
                    "log with an undeclared setting");
    /* A short buffer is cut, never overrun. */
    char tiny[4];
    channel_settings_type_list(tiny, sizeof(tiny));
    ck_assert_str_eq(tiny, "sla");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("routing");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_placeholders_pass);
    tcase_add_test(tc, test_declarations_drive_validation);
    tcase_add_test(tc, test_setting_messages);
    suite_add_tcase(s, tc);
    return check_run(s);
}
