/* Unit tests for channels/webhook.c: settings and secrets refused (without
 * showing a secret), the documented body exactly, hostile text that stays
 * inside its JSON string, and signed sends to a one-shot HTTP server on a
 * loopback port, checked against lib/webhook_sig.c. */
#include "channel.h"
#include "check_main.h"
#include "webhook_sig.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ID "0190b1c4-7d2a-7c3e-9b1f-2a3b4c5d6e7f"
#define LINK "http://127.0.0.1:8080/v1/assistance/" ID
#define SECRET1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET2 "whsec_c2VjcmV0LTI="

static const struct assistance plain = {
    .id = ID,
    .topic = "sales",
    .description = "Need a quote for 40 seats",
    .received_at = "2024-03-05T10:00:00.000000Z",
    .request_id = "req-42",
    .link = LINK,
    .delivery_id = "dlv-0190b1c4-sales-hook",
};

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

static struct channel *make(const char *settings, char *err, size_t errlen)
{
    json_t *conf = json_loads(settings, 0, NULL);
    ck_assert_msg(conf != NULL, "test settings are not JSON: %s", settings);
    struct channel *ch = channel_new("hook", conf, err, errlen);
    json_decref(conf);
    return ch;
}

static struct channel *make_ok(void)
{
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"webhook\", \"url\": \"https://receiver.example/in\","
                              " \"secret\": \"" SECRET1 "\"}",
                              err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    return ch;
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
        struct channel *ch = make(cases[i].settings, err, sizeof(err));
        ck_assert_msg(ch == NULL, "accepted %s", cases[i].settings);
        ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0,
                      "case %zu: error \"%s\", expected it to start \"%s\"", i, err, cases[i].want);
        ck_assert_msg(!strstr(err, "toosecret") && !strstr(err, "MfKQ9r8G") &&
                          !strstr(err, "c2VjcmV0"),
                      "the error shows a secret: %s", err);
    }
}
END_TEST

START_TEST(test_rotation_accepted)
{
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/in\","
                              " \"secret\": \"  " SECRET1 " \\t " SECRET2 "  \"}",
                              err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    ck_assert_int_eq(ch->timeout_ms, CHANNEL_DEFAULT_TIMEOUT_MS);
    channel_free(ch);
}
END_TEST

static char *format(const struct channel *ch, const struct assistance *req)
{
    struct buf out = {0};
    ck_assert_int_eq(ch->type->format(ch, req, &out), 0);
    return buf_steal(&out);
}

START_TEST(test_plain_body)
{
    struct channel *ch = make_ok();
    char *body = format(ch, &plain);
    ck_assert_str_eq(body, "{\"type\":\"assistance.requested\","
                           "\"timestamp\":\"2024-03-05T10:00:00.000000Z\","
                           "\"data\":{\"id\":\"" ID "\",\"topic\":\"sales\","
                           "\"description\":\"Need a quote for 40 seats\","
                           "\"received_at\":\"2024-03-05T10:00:00.000000Z\","
                           "\"request_id\":\"req-42\",\"link\":\"" LINK "\"}}");
    free(body);
    struct assistance req = plain;
    req.request_id = NULL;
    req.link = NULL;
    body = format(ch, &req);
    ck_assert_str_eq(body, "{\"type\":\"assistance.requested\","
                           "\"timestamp\":\"2024-03-05T10:00:00.000000Z\","
                           "\"data\":{\"id\":\"" ID "\",\"topic\":\"sales\","
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
        char *body = format(ch, &req);
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

/* A one-shot HTTP server on a loopback port (as in test_http_post.c). */
struct stub {
    int fd, port;
    pthread_t thread;
    const char *response;
    char request[65536];
    size_t request_len;
};

static void *stub_run(void *arg)
{
    struct stub *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t want = 0;
    for (;;) {
        ssize_t n =
            recv(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, 0);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        if (end && !want) {
            const char *cl = strcasestr(s->request, "\r\ncontent-length:");
            want = (size_t)(end + 4 - s->request) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want && s->request_len >= want)
            break;
    }
    send(c, s->response, strlen(s->response), MSG_NOSIGNAL);
    close(c);
    return NULL;
}

static struct channel *stub_start(struct stub *s, const char *response, const char *secrets)
{
    memset(s, 0, sizeof(*s));
    s->response = response;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->fd, 4), 0);
    ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, stub_run, s), 0);
    char settings[512], err[256] = "";
    snprintf(settings, sizeof(settings),
             "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d/in\", \"secret\": \"%s\","
             " \"timeout_ms\": 3000}",
             s->port, secrets);
    struct channel *ch = make(settings, err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    return ch;
}

static void stub_join(struct stub *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* The value of header name in the request (a copy in out), or NULL. */
static const char *header(const struct stub *s, const char *name, char *out, size_t outlen)
{
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *p = strcasestr(s->request, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\r");
    snprintf(out, outlen, "%.*s", (int)n, p);
    return out;
}

START_TEST(test_send_signed)
{
    struct stub s;
    struct channel *ch =
        stub_start(&s, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", SECRET1 " " SECRET2);
    struct send_info info;
    char err[256] = "";
    time_t before = time(NULL);
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_OK);
    time_t after = time(NULL);
    stub_join(&s);
    ck_assert_int_eq(info.status, 204);
    ck_assert(strncmp(s.request, "POST /in HTTP/1.1\r\n", 19) == 0);
    char id[128], ts[64], sig[512], type[64];
    ck_assert_ptr_nonnull(header(&s, "content-type", type, sizeof(type)));
    ck_assert_str_eq(type, "application/json");
    ck_assert_ptr_nonnull(header(&s, "webhook-id", id, sizeof(id)));
    ck_assert_str_eq(id, plain.delivery_id);
    ck_assert_ptr_nonnull(header(&s, "webhook-timestamp", ts, sizeof(ts)));
    long long t = strtoll(ts, NULL, 10);
    ck_assert_msg(t >= before && t <= after, "webhook-timestamp %s is not now", ts);
    ck_assert_ptr_nonnull(header(&s, "webhook-signature", sig, sizeof(sig)));
    const char *body = strstr(s.request, "\r\n\r\n") + 4;
    char *want_body = format(ch, &plain);
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
    struct stub s;
    struct channel *ch = stub_start(
        &s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", SECRET1);
    struct assistance req = plain;
    req.delivery_id = NULL;
    struct send_info info;
    char err[256] = "", id[128];
    ck_assert_int_eq(channel_deliver(ch, &req, &info, err, sizeof(err)), SEND_OK);
    stub_join(&s);
    ck_assert_str_eq(header(&s, "webhook-id", id, sizeof(id)), ID);
    channel_free(ch);
}
END_TEST

START_TEST(test_send_gone_drops)
{
    struct stub s;
    struct channel *ch = stub_start(
        &s, "HTTP/1.1 410 Gone\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_DROP);
    stub_join(&s);
    ck_assert_int_eq(info.status, 410);
    ck_assert_int_eq(info.retry_after_ms, 0);
    ck_assert_ptr_nonnull(strstr(err, "gone: receiver unsubscribed"));
    channel_free(ch);
}
END_TEST

START_TEST(test_send_unavailable_retries)
{
    struct stub s;
    struct channel *ch = stub_start(&s,
                                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
                                    "Content-Length: 4\r\nConnection: close\r\n\r\nbusy",
                                    SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    stub_join(&s);
    ck_assert_int_eq(info.status, 503);
    ck_assert_int_eq(info.retry_after_ms, 30000);
    ck_assert_str_eq(err, "webhook answered 503: busy");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_bad_request_drops)
{
    struct stub s;
    struct channel *ch = stub_start(&s,
                                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 13\r\n"
                                    "Connection: close\r\n\r\nbad signature",
                                    SECRET1);
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_DROP);
    stub_join(&s);
    ck_assert_int_eq(info.status, 400);
    ck_assert_str_eq(err, "webhook answered 400: bad signature");
    channel_free(ch);
}
END_TEST

START_TEST(test_send_header_unsafe_id_drops)
{
    /* Refused before any connection: port 9 (discard) is not listened on. */
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/in\","
                              " \"secret\": \"" SECRET1 "\"}",
                              err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
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
    /* The stubs are on loopback: never through a proxy of the environment. */
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
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
    int rc = check_run(s);
    curl_global_cleanup();
    return rc;
}
