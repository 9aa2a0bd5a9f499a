/* Unit tests for channels/slack.c: settings refused, the exact message for a
 * plain request, hostile descriptions that stay text (no mentions, no links,
 * no broken JSON), long ones spread over sections Slack accepts, and sends
 * to a one-shot HTTP server on a loopback port. */
#include "channel.h"
#include "channel_fixtures.h"
#include "check_main.h"
#include "http_stub.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct assistance plain = SAMPLE_ASSISTANCE("dlv-1");

static const char *const hostile[] = {
    "line one\r\nline two\nline three\rfour",
    "end of data\r\n.\r\nMAIL FROM:<evil@example.com>",
    "hello\r\nBcc: victim@example.com",
    "<!channel> <!here> <@U024BE7LH> <#C024BE7LR>",
    "<https://evil.example|Your bank> & <mailto:x@y|mail>",
    "&amp; &lt; already escaped &gt;",
    "quotes \" and 'single' and \\ backslashes \\\" \\n",
    "Grüße 🎉 日本語 ñ",
    "*bold* _italic_ ~strike~ `code` ```block``` > quote",
    "{\"text\": \"injected\"}, \"blocks\": []",
    "tab\there, nul-free, \x01\x02\x1b[31m control",
};

static struct channel *make_ok(void)
{
    return channel_from_json_ok(
        "sales-slack", "{\"type\": \"slack\", \"webhook_url\": \"https://hooks.example/T1/B1/x\"}");
}

/* What the test expects Slack's escaping to make of s. */
static char *escaped(const char *s)
{
    struct buf b = {0};
    for (const char *p = s; *p; p++) {
        if (*p == '&')
            buf_puts(&b, "&amp;");
        else if (*p == '<')
            buf_puts(&b, "&lt;");
        else if (*p == '>')
            buf_puts(&b, "&gt;");
        else
            buf_append(&b, p, 1);
    }
    return buf_steal(&b);
}

/* Length in UTF-16 units, as Slack counts. */
static size_t utf16_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            n += *p >= 0xf0 ? 2 : 1;
    }
    return n;
}

/* The message for req, parsed; its text too when text is not NULL (the
 * caller frees both). */
static json_t *format(const struct channel *ch, const struct assistance *req, char **text)
{
    char *out = channel_format_text(ch, req);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON (%s): %s", jerr.text, out);
    if (text)
        *text = out;
    else
        free(out);
    return doc;
}

START_TEST(test_refused_settings)
{
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{\"type\": \"slack\"}", "sales-slack: webhook_url: needs an http:// or https:// URL"},
        {"{\"type\": \"slack\", \"webhook_url\": 5}", "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"\"}", "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"ftp://hooks/secret-token\"}",
         "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"hooks.slack.com/secret-token\"}",
         "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"https://\"}", "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"https://h/secret-token\\r\\nX: y\"}",
         "sales-slack: webhook_url"},
        {"{\"type\": \"slack\", \"webhook_url\": \"https://h/x\", \"timeout_ms\": 50}",
         "sales-slack: timeout_ms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_refused("sales-slack", cases[i].settings, cases[i].want, err, sizeof(err));
        ck_assert_msg(!strstr(err, "secret-token"), "the error shows the URL: %s", err);
    }
}
END_TEST

START_TEST(test_plain_message)
{
    struct channel *ch = make_ok();
    char *text;
    json_decref(format(ch, &plain, &text));
    ck_assert_str_eq(
        text,
        "{\"text\":\"Assistance requested: sales\\nNeed a quote for 40 seats\\nRequest " SAMPLE_ID
        " (X-Request-ID req-42)\\n" SAMPLE_LINK "\","
        "\"blocks\":["
        "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"*Assistance requested:* "
        "sales\"}},"
        "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"Need a quote for 40 "
        "seats\",\"verbatim\":true}},"
        "{\"type\":\"context\",\"elements\":["
        "{\"type\":\"mrkdwn\",\"text\":\"Request " SAMPLE_ID "\",\"verbatim\":true},"
        "{\"type\":\"mrkdwn\",\"text\":\"X-Request-ID req-42\",\"verbatim\":true},"
        "{\"type\":\"mrkdwn\",\"text\":\"Received 2024-03-05T10:00:00.000000Z\","
        "\"verbatim\":true}]},"
        "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"<" SAMPLE_LINK
        "|Open the request>\"}}]}");
    free(text);
    channel_free(ch);
}
END_TEST

START_TEST(test_without_request_id_and_link)
{
    struct channel *ch = make_ok();
    struct assistance req = plain;
    req.request_id = NULL;
    req.link = NULL;
    char *text;
    json_t *doc = format(ch, &req, &text);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "text")),
                     "Assistance requested: sales\nNeed a quote for 40 seats\nRequest " SAMPLE_ID);
    json_t *blocks = json_object_get(doc, "blocks");
    ck_assert_int_eq(json_array_size(blocks), 3);
    json_t *elements = json_object_get(json_array_get(blocks, 2), "elements");
    ck_assert_int_eq(json_array_size(elements), 2);
    ck_assert_ptr_null(strstr(text, "X-Request-ID"));
    ck_assert_ptr_null(strstr(text, "Open the request"));
    free(text);
    json_decref(doc);
    channel_free(ch);
}
END_TEST

/* The description sections of doc, joined; and checks that every text Slack
 * reads has no raw '<' or '>' but the link's, and fits its section. */
static char *description_of(json_t *doc)
{
    struct buf joined = {0};
    buf_puts(&joined, "");
    json_t *blocks = json_object_get(doc, "blocks");
    ck_assert_uint_le(json_array_size(blocks), 50);
    size_t i;
    json_t *block;
    json_array_foreach(blocks, i, block)
    {
        const char *type = json_string_value(json_object_get(block, "type"));
        json_t *text = json_object_get(block, "text");
        const char *t = json_string_value(json_object_get(text, "text"));
        if (strcmp(type, "section") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(text, "type")), "mrkdwn");
            ck_assert_msg(utf16_len(t) >= 1 && utf16_len(t) <= 3000,
                          "section %zu has %zu characters", i, utf16_len(t));
            if (json_is_true(json_object_get(text, "verbatim")))
                buf_puts(&joined, t);
            else if (i > 0)
                ck_assert_msg(strncmp(t, "<" SAMPLE_LINK "|", strlen(SAMPLE_LINK) + 2) == 0,
                              "stray link: %s", t);
        } else {
            ck_assert_str_eq(type, "context");
            size_t k;
            json_t *el;
            json_array_foreach(json_object_get(block, "elements"), k, el)
            {
                const char *et = json_string_value(json_object_get(el, "text"));
                ck_assert_msg(!strchr(et, '<') && !strchr(et, '>'), "raw <> in %s", et);
            }
        }
        if (strcmp(type, "section") == 0 && json_is_true(json_object_get(text, "verbatim")))
            ck_assert_msg(!strchr(t, '<') && !strchr(t, '>'), "raw <> in section: %s", t);
    }
    const char *fallback = json_string_value(json_object_get(doc, "text"));
    ck_assert_ptr_nonnull(fallback);
    return buf_steal(&joined);
}

START_TEST(test_hostile_descriptions)
{
    struct channel *ch = make_ok();
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct assistance req = plain;
        req.description = hostile[i];
        json_t *doc = format(ch, &req, NULL);
        char *want = escaped(hostile[i]);
        char *got = description_of(doc);
        ck_assert_msg(strcmp(got, want) == 0, "description %zu: got \"%s\", expected \"%s\"", i,
                      got, want);
        const char *fallback = json_string_value(json_object_get(doc, "text"));
        ck_assert_msg(strstr(fallback, want) != NULL, "fallback lacks description %zu: %s", i,
                      fallback);
        ck_assert_ptr_null(strstr(fallback, "<!"));
        ck_assert_ptr_null(strstr(fallback, "<@"));
        ck_assert_ptr_null(strstr(fallback, "<http"));
        free(want);
        free(got);
        json_decref(doc);
    }
    channel_free(ch);
}
END_TEST

START_TEST(test_hostile_topic_request_id_and_link)
{
    struct channel *ch = make_ok();
    struct assistance req = plain;
    req.topic = "<!channel>&co";
    req.request_id = "<@U1>";
    req.link = "http://h/x?a=1&b=<2>|evil";
    json_t *doc = format(ch, &req, NULL);
    json_t *blocks = json_object_get(doc, "blocks");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(blocks, 0), "text"), "text")),
                     "*Assistance requested:* &lt;!channel&gt;&amp;co");
    json_t *elements = json_object_get(json_array_get(blocks, 2), "elements");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(elements, 1), "text")),
                     "X-Request-ID &lt;@U1&gt;");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(blocks, 3), "text"), "text")),
                     "<http://h/x?a=1&amp;b=&lt;2&gt;%7Cevil|Open the request>");
    const char *fallback = json_string_value(json_object_get(doc, "text"));
    ck_assert_ptr_nonnull(strstr(fallback, "Assistance requested: &lt;!channel&gt;&amp;co\n"));
    ck_assert_ptr_nonnull(strstr(fallback, "(X-Request-ID &lt;@U1&gt;)"));
    json_decref(doc);
    channel_free(ch);
}
END_TEST

static void check_long(const char *unit, size_t count, size_t want_sections)
{
    struct channel *ch = make_ok();
    struct buf d = {0};
    for (size_t i = 0; i < count; i++)
        buf_puts(&d, unit);
    struct assistance req = plain;
    req.description = d.data;
    json_t *doc = format(ch, &req, NULL);
    char *want = escaped(d.data);
    char *got = description_of(doc);
    ck_assert_msg(strcmp(got, want) == 0, "a long description (%zu × \"%s\") is not intact", count,
                  unit);
    /* The title, the sections, the context and the link. */
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "blocks")), want_sections + 3);
    free(want);
    free(got);
    json_decref(doc);
    buf_free(&d);
    channel_free(ch);
}

START_TEST(test_long_descriptions)
{
    check_long("a", 4000, 2);
    check_long("&", 4000, 7); /* 20000 characters escaped: 600 per section */
    check_long("🎉", 4000, 3); /* 2 UTF-16 units each */
    check_long("é", 4000, 2);
    check_long("<", 4000, 6); /* 16000 escaped: 750 per section */
}
END_TEST

START_TEST(test_long_description_cut_after_spaces)
{
    struct channel *ch = make_ok();
    struct buf d = {0};
    for (int i = 0; i < 571; i++) /* 3997 characters, 7 a word */
        buf_puts(&d, "abcdef ");
    struct assistance req = plain;
    req.description = d.data;
    json_t *doc = format(ch, &req, NULL);
    json_t *blocks = json_object_get(doc, "blocks");
    ck_assert_uint_eq(json_array_size(blocks), 5);
    const char *first = json_string_value(
        json_object_get(json_object_get(json_array_get(blocks, 1), "text"), "text"));
    ck_assert_uint_eq(strlen(first), 428 * 7);
    ck_assert_int_eq(first[strlen(first) - 1], ' ');
    json_decref(doc);
    buf_free(&d);
    channel_free(ch);
}
END_TEST

START_TEST(test_invalid_utf8_refused)
{
    struct channel *ch = make_ok();
    struct assistance req = plain;
    req.description = "bad \xff\xfe bytes";
    struct buf out = {0};
    ck_assert_int_eq(ch->type->format(ch, &req, &out), -1);
    buf_free(&out);
    channel_free(ch);
}
END_TEST

/* Starts s to answer response, and a channel that posts to it. */
static struct channel *start(struct http_stub *s, const char *response)
{
    http_stub_start(s, response);
    char settings[256];
    snprintf(settings, sizeof(settings),
             "{\"type\": \"slack\", \"webhook_url\": \"http://127.0.0.1:%d/services/secret-token\","
             " \"timeout_ms\": 3000}",
             s->port);
    return channel_from_json_ok("sales-slack", settings);
}

START_TEST(test_send_ok)
{
    struct http_stub s;
    struct channel *ch =
        start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_OK);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 200);
    ck_assert_int_eq(info.retry_after_ms, 0);
    ck_assert(strncmp(s.request, "POST /services/secret-token HTTP/1.1\r\n", 38) == 0);
    ck_assert_ptr_nonnull(strcasestr(s.request, "\r\nContent-Type: application/json\r\n"));
    struct buf want = {0};
    ck_assert_int_eq(ch->type->format(ch, &plain, &want), 0);
    ck_assert_str_eq(strstr(s.request, "\r\n\r\n") + 4, want.data);
    buf_free(&want);
    channel_free(ch);
}
END_TEST

START_TEST(test_send_rate_limited)
{
    struct http_stub s;
    struct channel *ch = start(&s, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                                   "Content-Length: 12\r\nConnection: close\r\n\r\n"
                                   "rate_limited");
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 429);
    ck_assert_int_eq(info.retry_after_ms, 7000);
    ck_assert_str_eq(err, "slack answered 429: rate_limited");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_not_found_drops)
{
    struct http_stub s;
    struct channel *ch = start(&s, "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n"
                                   "Connection: close\r\n\r\nno_service");
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_DROP);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 404);
    ck_assert_str_eq(err, "slack answered 404: no_service");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_server_error_retries)
{
    struct http_stub s;
    struct channel *ch = start(&s, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n");
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 503);
    ck_assert_int_eq(info.retry_after_ms, 2000);
    ck_assert_ptr_null(strstr(err, "secret-token"));
    channel_free(ch);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("slack");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refused_settings);
    tcase_add_test(tc, test_plain_message);
    tcase_add_test(tc, test_without_request_id_and_link);
    tcase_add_test(tc, test_hostile_descriptions);
    tcase_add_test(tc, test_hostile_topic_request_id_and_link);
    tcase_add_test(tc, test_long_descriptions);
    tcase_add_test(tc, test_long_description_cut_after_spaces);
    tcase_add_test(tc, test_invalid_utf8_refused);
    tcase_add_test(tc, test_send_ok);
    tcase_add_test(tc, test_send_rate_limited);
    tcase_add_test(tc, test_send_not_found_drops);
    tcase_add_test(tc, test_send_server_error_retries);
    suite_add_tcase(s, tc);
    return loopback_check_run(s);
}
