/* Unit tests for channels/webhook.c: settings and secrets refused (without
 * showing a secret), the documented body exactly, hostile text that stays
 * inside its JSON string, and signed sends to a one-shot HTTP server on a
 * loopback port, checked against lib/webhook_sig.c. */
#include "channel.h"
#include "channel_fixtures.h"
#include "check_main.h"
#include "http_stub.h"
#include "webhook_sig.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET2 "whsec_c2VjcmV0LTI="

static const struct assistance plain = SAMPLE_ASSISTANCE("dlv-0190b1c4-sales-hook");

static const char *const hostile[] = {
    "line one\r\nline two\nline three\rfour",
    "end of data\r\n.\r\nMAIL FROM:<evil@example.com>",
    "hello\r\nBcc: victim@example.com",
    "<!channel> <script>alert(1)</script>",
    "quotes \" and 'single' and \\ backslashes \\\" \\u0000 \\n",
    "\"}, \"type\": \"forged\", \"x\": {\"",
    "Grüße 🎉 日本語 ñ",
    "tab\there \x01\x02\x1b[31m control \x7f",
};

static struct channel *make_ok(void)
{
    return channel_from_json_ok("hook",
                                "{\"type\": \"webhook\", \"url\": \"https://receiver.example/in\","
                                " \"secret\": \"" SECRET1 "\"}");
}

START_TEST(test_refused_settings)
{
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{\"type\": \"webhook\", \"secret\": \"" SECRET1 "\"}",
         "hook: url: needs an http:// or https:// URL"},
        {"{\"type\": \"webhook\", \"url\": \"ftp://x/y\", \"secret\": \"" SECRET1 "\"}",
         "hook: url: needs an http:// or https:// URL"},
        {"{\"type\": \"webhook\", \"url\": \"receiver.example/in\", \"secret\": \"" SECRET1 "\"}",
         "hook: url:"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\"}",
         "hook: secret: needs one or more whsec_ secrets"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": 7}",
         "hook: secret: needs one or more whsec_ secrets"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": \"\"}",
         "hook: secret: needs one or more whsec_ secrets"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": \"   \"}",
         "hook: secret: needs one or more whsec_ secrets"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\","
         " \"secret\": \"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
         "hook: secret: secret 1 is not whsec_ followed by base64"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\","
         " \"secret\": \"whsec_toosecret!!\"}",
         "hook: secret: secret 1 is not whsec_ followed by base64"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": \"whsec_\"}",
         "hook: secret: secret 1 is not whsec_ followed by base64"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\","
         " \"secret\": \"" SECRET1 " whsec_toosecret!!\"}",
         "hook: secret: secret 2 is not whsec_ followed by base64"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": \"" SECRET2
         " " SECRET2 " " SECRET2 " " SECRET2 " " SECRET2 " " SECRET2 " " SECRET2 " " SECRET2
         " " SECRET2 "\"}",
         "hook: secret: at most 8 secrets"},
        {"{\"type\": \"webhook\", \"url\": \"https://r.example/in\", \"secret\": \"" SECRET1
         "\", \"timeout_ms\": 120001}",
         "hook: timeout_ms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_refused("hook", cases[i].settings, cases[i].want, err, sizeof(err));
        ck_assert_msg(!strstr(err, "toosecret") && !strstr(err, "MfKQ9r8G") &&
                          !strstr(err, "c2VjcmV0"),
                      "the error shows a secret: %s", err);
    }
}
END_TEST

START_TEST(test_rotation_accepted)
{
    struct channel *ch =
        channel_from_json_ok("hook", "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/in\","
                                     " \"secret\": \"  " SECRET1 " \\t " SECRET2 "  \"}");
    ck_assert_int_eq(ch->timeout_ms, CHANNEL_DEFAULT_TIMEOUT_MS);
    channel_free(ch);
}
END_TEST

START_TEST(test_plain_body)
{
    struct channel *ch = make_ok();
    char *body = channel_format_text(ch, &plain);
    ck_assert_str_eq(body, "{\"type\":\"assistance.requested\","
                           "\"timestamp\":\"2024-03-05T10:00:00.000000Z\","
                           "\"data\":{\"id\":\"" SAMPLE_ID "\",\"topic\":\"sales\","
                           "\"description\":\"Need a quote for 40 seats\","
                           "\"received_at\":\"2024-03-05T10:00:00.000000Z\","
                           "\"request_id\":\"req-42\",\"link\":\"" SAMPLE_LINK "\"}}");
    free(body);
    struct assistance req = plain;
    req.request_id = NULL;
    req.link = NULL;
    body = channel_format_text(ch, &req);
    ck_assert_str_eq(body, "{\"type\":\"assistance.requested\","
                           "\"timestamp\":\"2024-03-05T10:00:00.000000Z\","
                           "\"data\":{\"id\":\"" SAMPLE_ID "\",\"topic\":\"sales\","
                           "\"description\":\"Need a quote for 40 seats\","
                           "\"received_at\":\"2024-03-05T10:00:00.000000Z\","
                           "\"request_id\":null,\"link\":null}}");
    free(body);
    channel_free(ch);
}
END_TEST

START_TEST(test_hostile_body)
{
    struct channel *ch = make_ok();
    struct buf long_text = {0};
    for (int i = 0; i < 1000; i++)
        buf_puts(&long_text, "\"\\🎉");
    for (size_t i = 0; i <= sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct assistance req = plain;
        req.description = i < sizeof(hostile) / sizeof(hostile[0]) ? hostile[i] : long_text.data;
        req.topic = "\"sales\"\r\n";
        char *body = channel_format_text(ch, &req);
        ck_assert_ptr_null(strchr(body, '\n'));
        ck_assert_ptr_null(strchr(body, '\r'));
        json_error_t jerr;
        json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(doc != NULL, "not JSON (%s): %s", jerr.text, body);
        ck_assert_uint_eq(json_object_size(doc), 3);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "assistance.requested");
        json_t *data = json_object_get(doc, "data");
        ck_assert_uint_eq(json_object_size(data), 6);
        ck_assert_str_eq(json_string_value(json_object_get(data, "description")), req.description);
        ck_assert_str_eq(json_string_value(json_object_get(data, "topic")), req.topic);
        json_decref(doc);
        free(body);
    }
    buf_free(&long_text);
    channel_free(ch);
}
END_TEST

/* Starts s to answer response, and a channel that posts to it signed with
 * secrets. */
static struct channel *start(struct http_stub *s, const char *response, const char *secrets)
{
    http_stub_start(s, response);
    char settings[512];
    snprintf(settings, sizeof(settings),
             "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d/in\", \"secret\": \"%s\","
             " \"timeout_ms\": 3000}",
             s->port, secrets);
    return channel_from_json_ok("hook", settings);
}

START_TEST(test_send_signed)
{
    struct http_stub s;
    struct channel *ch =
        start(&s, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", SECRET1 " " SECRET2);
    struct send_info info;
    char err[256] = "";
    time_t before = time(NULL);
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_OK);
    time_t after = time(NULL);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 204);
    ck_assert(strncmp(s.request, "POST /in HTTP/1.1\r\n", 19) == 0);
    char id[128], ts[64], sig[512], type[64];
    ck_assert_ptr_nonnull(http_stub_header(&s, "content-type", type, sizeof(type)));
    ck_assert_str_eq(type, "application/json");
    ck_assert_ptr_nonnull(http_stub_header(&s, "webhook-id", id, sizeof(id)));
    ck_assert_str_eq(id, plain.delivery_id);
    ck_assert_ptr_nonnull(http_stub_header(&s, "webhook-timestamp", ts, sizeof(ts)));
    long long t = strtoll(ts, NULL, 10);
    ck_assert_msg(t >= before && t <= after, "webhook-timestamp %s is not now", ts);
    ck_assert_ptr_nonnull(http_stub_header(&s, "webhook-signature", sig, sizeof(sig)));
    const char *body = strstr(s.request, "\r\n\r\n") + 4;
    char *want_body = channel_format_text(ch, &plain);
    ck_assert_str_eq(body, want_body);
    const char *secrets[] = {SECRET1, SECRET2};
    char want[512];
    ck_assert_int_eq(webhook_signature(secrets, 2, id, t, body, strlen(body), want, sizeof(want)),
                     0);
    ck_assert_str_eq(sig, want);
    ck_assert_int_eq(strncmp(sig, "v1,", 3), 0);
    ck_assert_ptr_nonnull(strstr(sig, " v1,"));
    free(want_body);
    channel_free(ch);
}
END_TEST

START_TEST(test_send_id_falls_back_to_request_id)
{
    struct http_stub s;
    struct channel *ch =
        start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", SECRET1);
    struct assistance req = plain;
    req.delivery_id = NULL;
    struct send_info info;
    char err[256] = "", id[128];
    ck_assert_int_eq(channel_deliver(ch, &req, &info, err, sizeof(err)), SEND_OK);
    http_stub_join(&s);
    ck_assert_str_eq(http_stub_header(&s, "webhook-id", id, sizeof(id)), SAMPLE_ID);
    channel_free(ch);
}
END_TEST

START_TEST(test_send_gone_drops)
{
    struct http_stub s;
    struct channel *ch = start(
        &s, "HTTP/1.1 410 Gone\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_DROP);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 410);
    ck_assert_int_eq(info.retry_after_ms, 0);
    ck_assert_ptr_nonnull(strstr(err, "gone: receiver unsubscribed"));
    channel_free(ch);
}
END_TEST

START_TEST(test_send_unavailable_retries)
{
    struct http_stub s;
    struct channel *ch = start(&s,
                               "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
                               "Content-Length: 4\r\nConnection: close\r\n\r\nbusy",
                               SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 503);
    ck_assert_int_eq(info.retry_after_ms, 30000);
    ck_assert_str_eq(err, "webhook answered 503: busy");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_bad_request_drops)
{
    struct http_stub s;
    struct channel *ch = start(&s,
                               "HTTP/1.1 400 Bad Request\r\nContent-Length: 13\r\n"
                               "Connection: close\r\n\r\nbad signature",
                               SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_DROP);
    http_stub_join(&s);
    ck_assert_int_eq(info.status, 400);
    ck_assert_str_eq(err, "webhook answered 400: bad signature");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_header_unsafe_id_drops)
{
    /* Refused before any connection: port 9 (discard) is not listened on. */
    struct channel *ch =
        channel_from_json_ok("hook", "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/in\","
                                     " \"secret\": \"" SECRET1 "\"}");
    char err[256] = "";
    struct assistance req = plain;
    req.delivery_id = "dlv\r\nX-Injected: 1";
    struct send_info info;
    ck_assert_int_eq(channel_deliver(ch, &req, &info, err, sizeof(err)), SEND_DROP);
    ck_assert_ptr_nonnull(strstr(err, "webhook-id"));
    ck_assert_int_eq(info.status, 0);
    channel_free(ch);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("webhook");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refused_settings);
    tcase_add_test(tc, test_rotation_accepted);
    tcase_add_test(tc, test_plain_body);
    tcase_add_test(tc, test_hostile_body);
    tcase_add_test(tc, test_send_signed);
    tcase_add_test(tc, test_send_id_falls_back_to_request_id);
    tcase_add_test(tc, test_send_gone_drops);
    tcase_add_test(tc, test_send_unavailable_retries);
    tcase_add_test(tc, test_send_bad_request_drops);
    tcase_add_test(tc, test_send_header_unsafe_id_drops);
    suite_add_tcase(s, tc);
    return loopback_check_run(s);
}
