/* Unit tests for channels/http_post.c: Retry-After parsing, what each status
 * means, and real POSTs to a one-shot HTTP server on a loopback port (a
 * reply, a long body, a redirect, a timeout, a refused connection). */
#include "check_main.h"
#include "http_post.h"
#include "url.h"
#include "http_stub.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const json_headers[] = {"Content-Type: application/json", "Expect:", NULL};

START_TEST(test_retry_after_seconds)
{
    time_t now = 1700000000;
    ck_assert_int_eq(http_retry_after_ms("120", now), 120000);
    ck_assert_int_eq(http_retry_after_ms(" 120 \r\n", now), 120000);
    ck_assert_int_eq(http_retry_after_ms("1", now), 1000);
    ck_assert_int_eq(http_retry_after_ms("0", now), 0);
    ck_assert_int_eq(http_retry_after_ms("3599", now), 3599000);
    ck_assert_int_eq(http_retry_after_ms("3600", now), HTTP_RETRY_AFTER_MAX_MS);
    ck_assert_int_eq(http_retry_after_ms("86400", now), HTTP_RETRY_AFTER_MAX_MS);
    ck_assert_int_eq(http_retry_after_ms("99999999999999999999999999", now),
                     HTTP_RETRY_AFTER_MAX_MS);
    ck_assert_int_eq(http_retry_after_ms("-5", now), 0);
    ck_assert_int_eq(http_retry_after_ms("+5", now), 0);
    ck_assert_int_eq(http_retry_after_ms("1.5", now), 0);
    ck_assert_int_eq(http_retry_after_ms("12abc", now), 0);
    ck_assert_int_eq(http_retry_after_ms("12 34", now), 0);
    ck_assert_int_eq(http_retry_after_ms("garbage", now), 0);
    ck_assert_int_eq(http_retry_after_ms("", now), 0);
    ck_assert_int_eq(http_retry_after_ms("   ", now), 0);
    ck_assert_int_eq(http_retry_after_ms(NULL, now), 0);
}
END_TEST

START_TEST(test_retry_after_dates)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example. */
    time_t now = 784111777;
    ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:51:37 GMT", now), 120000);
    ck_assert_int_eq(http_retry_after_ms("Sunday, 06-Nov-94 08:51:37 GMT", now), 120000);
    ck_assert_int_eq(http_retry_after_ms("Sun Nov  6 08:51:37 1994", now), 120000);
    ck_assert_int_eq(http_retry_after_ms(" Sun, 06 Nov 1994 08:49:38 GMT\r\n", now), 1000);
    ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);
    ck_assert_int_eq(http_retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);
    ck_assert_int_eq(http_retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", now),
                     HTTP_RETRY_AFTER_MAX_MS);
    ck_assert_int_eq(http_retry_after_ms("Fri, 01 Jan 2100 00:00:00 GMT", now),
                     HTTP_RETRY_AFTER_MAX_MS);
    ck_assert_int_eq(http_retry_after_ms("Monday", now), 0);
    ck_assert_int_eq(http_retry_after_ms("Sun, 99 Nov 1994 08:51:37 GMT garbage garbage garbage "
                                         "garbage garbage",
                                         now),
                     0);
    ck_assert_int_eq(http_retry_after_ms("08:51:37", now), 0);
    ck_assert_int_eq(http_retry_after_ms("1994-11-06T08:51:37Z", now), 0);
}
END_TEST

START_TEST(test_printable)
{
    char out[16];
    http_printable("ok", 2, out, sizeof(out));
    ck_assert_str_eq(out, "ok");
    http_printable("a\r\nb\x01\x7f\xc3\xa9z", 9, out, sizeof(out));
    ck_assert_str_eq(out, "a..b....z");
    http_printable("0123456789abcdefghij", 20, out, sizeof(out));
    ck_assert_str_eq(out, "0123456789abcde");
    http_printable("", 0, out, sizeof(out));
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_url_ok)
{
    ck_assert(url_http_ok("https://hooks.slack.com/services/T/B/X"));
    ck_assert(url_http_ok("http://127.0.0.1:9000/hook?x=1"));
    ck_assert(url_http_ok("HTTPS://example.com"));
    ck_assert(!url_http_ok("ftp://example.com"));
    ck_assert(!url_http_ok("file:///etc/passwd"));
    ck_assert(!url_http_ok("example.com/hook"));
    ck_assert(!url_http_ok("https://"));
    ck_assert(!url_http_ok("https:///path"));
    ck_assert(!url_http_ok("https://exa mple.com"));
    ck_assert(!url_http_ok("https://example.com/\r\nX: y"));
    ck_assert(!url_http_ok(""));
}
END_TEST

static enum send_result classify(long status, const char *retry_after, const char *body,
                                 struct send_info *info, char *err, size_t errlen)
{
    struct http_reply r = {.status = status};
    snprintf(r.retry_after, sizeof(r.retry_after), "%s", retry_after);
    snprintf(r.body, sizeof(r.body), "%s", body);
    r.body_len = strlen(r.body);
    memset(info, 0, sizeof(*info));
    err[0] = '\0';
    return http_classify("slack", &r, 1700000000, info, err, errlen);
}

START_TEST(test_classify)
{
    struct send_info info;
    char err[512];
    static const struct {
        long status;
        const char *retry_after;
        enum send_result want;
        long want_wait;
    } cases[] = {
        {200, "", SEND_OK, 0},        {201, "", SEND_OK, 0},
        {204, "", SEND_OK, 0},        {429, "7", SEND_RETRY, 7000},
        {429, "", SEND_RETRY, 0},     {429, "soon", SEND_RETRY, 0},
        {408, "", SEND_RETRY, 0},     {500, "", SEND_RETRY, 0},
        {502, "2", SEND_RETRY, 2000}, {503, "120", SEND_RETRY, 120000},
        {504, "", SEND_RETRY, 0},     {599, "", SEND_RETRY, 0},
        {400, "", SEND_DROP, 0},      {401, "", SEND_DROP, 0},
        {403, "9", SEND_DROP, 0},     {404, "", SEND_DROP, 0},
        {410, "", SEND_DROP, 0},      {301, "", SEND_DROP, 0},
        {302, "", SEND_DROP, 0},      {100, "", SEND_DROP, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum send_result got =
            classify(cases[i].status, cases[i].retry_after, "", &info, err, sizeof(err));
        ck_assert_msg(got == cases[i].want, "status %ld: got %d, expected %d", cases[i].status, got,
                      cases[i].want);
        ck_assert_int_eq(info.status, cases[i].status);
        ck_assert_int_eq(info.retry_after_ms, cases[i].want_wait);
    }
    ck_assert_int_eq(classify(404, "", "no_service", &info, err, sizeof(err)), SEND_DROP);
    ck_assert_str_eq(err, "slack answered 404: no_service");
    ck_assert_int_eq(classify(400, "", "bad\r\n\"payload\"\x01", &info, err, sizeof(err)),
                     SEND_DROP);
    ck_assert_str_eq(err, "slack answered 400: bad..\"payload\".");
    ck_assert_int_eq(classify(503, "", "down", &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_str_eq(err, "slack answered 503: down");
    ck_assert_int_eq(classify(301, "", "", &info, err, sizeof(err)), SEND_DROP);
    ck_assert_ptr_nonnull(strstr(err, "redirects are not followed"));
}
END_TEST

START_TEST(test_post_reply)
{
    struct http_stub s;
    http_stub_start(&s, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 12\r\n"
                        "retry-after:   30  \r\nConnection: close\r\n\r\nrate_limited");
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/services/T1/B1/secret", s.port);
    const char *body = "{\"text\":\"hi\"}";
    struct http_reply r;
    ck_assert_int_eq(http_post(url, json_headers, body, strlen(body), 2000, &r, err, sizeof(err)),
                     0);
    http_stub_join(&s);
    ck_assert_int_eq(r.status, 429);
    ck_assert_str_eq(r.retry_after, "30");
    ck_assert_str_eq(r.body, "rate_limited");
    ck_assert_msg(strncmp(s.request, "POST /services/T1/B1/secret HTTP/1.1\r\n", 38) == 0,
                  "request line: %.60s", s.request);
    ck_assert_ptr_nonnull(strcasestr(s.request, "\r\nContent-Type: application/json\r\n"));
    ck_assert_ptr_null(strcasestr(s.request, "\r\nExpect:"));
    const char *got_body = strstr(s.request, "\r\n\r\n") + 4;
    ck_assert_str_eq(got_body, body);
    struct send_info info = {0};
    ck_assert_int_eq(http_classify("slack", &r, time(NULL), &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_int_eq(info.retry_after_ms, 30000);
}
END_TEST

START_TEST(test_post_long_body_kept_short)
{
    static char response[4096];
    char big[2001];
    memset(big, 'x', 2000);
    big[2000] = '\0';
    snprintf(response, sizeof(response),
             "HTTP/1.1 400 Bad Request\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n%s",
             big);
    struct http_stub s;
    http_stub_start(&s, response);
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct http_reply r;
    /* A body past 1 KiB: no "Expect: 100-continue" wait either. */
    char body[3000];
    memset(body, 'b', sizeof(body));
    ck_assert_int_eq(http_post(url, json_headers, body, sizeof(body), 2000, &r, err, sizeof(err)),
                     0);
    http_stub_join(&s);
    ck_assert_int_eq(r.status, 400);
    ck_assert_uint_eq(r.body_len, HTTP_BODY_KEEP);
    ck_assert_uint_eq(strlen(r.body), HTTP_BODY_KEEP);
    ck_assert_str_eq(r.retry_after, "");
}
END_TEST

START_TEST(test_post_no_redirect)
{
    struct http_stub s;
    http_stub_start(&s, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n");
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct http_reply r;
    ck_assert_int_eq(http_post(url, json_headers, "{}", 2, 2000, &r, err, sizeof(err)), 0);
    http_stub_join(&s);
    ck_assert_int_eq(r.status, 302);
}
END_TEST

START_TEST(test_post_timeout)
{
    struct http_stub s;
    http_stub_start(&s, NULL); /* reads, never answers */
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct http_reply r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(http_post(url, json_headers, "{}", 2, 300, &r, err, sizeof(err)), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    http_stub_join(&s);
    ck_assert_str_eq(err, "timeout after 300 ms");
    ck_assert_int_eq(r.status, 0);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_msg(ms >= 250 && ms < 1500, "took %ld ms for a 300 ms timeout", ms);
}
END_TEST

START_TEST(test_post_refused)
{
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/services/secret-token", loopback_unused_port());
    struct http_reply r;
    ck_assert_int_eq(http_post(url, json_headers, "{}", 2, 2000, &r, err, sizeof(err)), -1);
    ck_assert_msg(err[0] != '\0', "no reason given");
    ck_assert_msg(!strstr(err, "secret-token"), "the reason shows the URL: %s", err);
    ck_assert_int_eq(r.status, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_post");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_retry_after_seconds);
    tcase_add_test(tc, test_retry_after_dates);
    tcase_add_test(tc, test_printable);
    tcase_add_test(tc, test_url_ok);
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_post_reply);
    tcase_add_test(tc, test_post_long_body_kept_short);
    tcase_add_test(tc, test_post_no_redirect);
    tcase_add_test(tc, test_post_timeout);
    tcase_add_test(tc, test_post_refused);
    suite_add_tcase(s, tc);
    return loopback_check_run(s);
}
