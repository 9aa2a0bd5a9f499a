/* Unit tests for channels/log.c: settings refused, the exact line, hostile
 * text that stays on one JSON line, appending to a file, stdout by default,
 * lines from many threads that never interleave, and a full disk. */
#include "channel.h"
#include "channel_fixtures.h"
#include "check_main.h"
#include "log.h"
#include "timeutil.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct assistance plain = SAMPLE_ASSISTANCE("dlv-1");

static const char *const hostile[] = {
    "line one\r\nline two\nline three\rfour", "end of data\r\n.\r\nMAIL FROM:<evil@example.com>",
    "hello\r\nBcc: victim@example.com",       "\"}\n{\"forged\": true, \"x\": \"",
    "quotes \" and \\ backslashes \\\" \\n",  "Grüße 🎉 日本語",
    "\x01\x02\x1b[31m control \x7f",
};

static struct channel *make(const char *settings, char *err, size_t errlen)
{
    return channel_from_json("ops-log", settings, err, errlen);
}

/* A channel on a fresh file in a fresh directory; path gets its name (remove
 * both with temp_file_remove()). */
static struct channel *make_file(char *path, size_t pathlen)
{
    temp_file_path(path, pathlen, "notify.log");
    char settings[256];
    snprintf(settings, sizeof(settings), "{\"type\": \"log\", \"path\": \"%s\"}", path);
    return channel_from_json_ok("ops-log", settings);
}

START_TEST(test_refused_settings)
{
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{\"type\": \"log\", \"path\": \"/nonexistent-sluice-dir/notify.log\"}",
         "ops-log: path: cannot open /nonexistent-sluice-dir/notify.log: No such file or "
         "directory"},
        {"{\"type\": \"log\", \"path\": \"/tmp\"}", "ops-log: path: cannot open /tmp: Is a "
                                                    "directory"},
        {"{\"type\": \"log\", \"path\": \"\"}",
         "ops-log: path: a file name, or no \"path\" for stdout"},
        {"{\"type\": \"log\", \"path\": 5}",
         "ops-log: path: a file name, or no \"path\" for stdout"},
        {"{\"type\": \"log\", \"timeout_ms\": 0}",
         "ops-log: timeout_ms is an integer from 100 to 120000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct channel *ch = make(cases[i].settings, err, sizeof(err));
        ck_assert_msg(ch == NULL, "accepted %s", cases[i].settings);
        ck_assert_str_eq(err, cases[i].want);
    }
}
END_TEST

START_TEST(test_line)
{
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"log\"}", err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    struct buf out = {0};
    int64_t before = time_now_us();
    ck_assert_int_eq(ch->type->format(ch, &plain, &out), 0);
    int64_t after = time_now_us();
    /* {"ts":"<27 characters>", then the rest exactly. */
    ck_assert_int_eq(strncmp(out.data, "{\"ts\":\"", 7), 0);
    ck_assert_str_eq(out.data + 7 + 27,
                     "\",\"channel\":\"ops-log\",\"topic\":\"sales\",\"id\":\"" SAMPLE_ID "\","
                     "\"description\":\"Need a quote for 40 seats\",\"request_id\":\"req-42\","
                     "\"link\":\"" SAMPLE_LINK "\",\"delivery_id\":\"dlv-1\"}\n");
    char ts[28];
    memcpy(ts, out.data + 7, 27);
    ts[27] = '\0';
    int64_t at;
    ck_assert_int_eq(time_parse(ts, &at), 0);
    ck_assert_msg(at >= before - 1 && at <= after + 1, "ts %s is not now", ts);
    buf_free(&out);

    struct assistance req = plain;
    req.request_id = NULL;
    req.link = NULL;
    req.delivery_id = NULL;
    ck_assert_int_eq(ch->type->format(ch, &req, &out), 0);
    ck_assert_ptr_nonnull(
        strstr(out.data, ",\"request_id\":null,\"link\":null,\"delivery_id\":null}\n"));
    buf_free(&out);
    channel_free(ch);
}
END_TEST

START_TEST(test_hostile_text_stays_on_its_line)
{
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"log\"}", err, sizeof(err));
    ck_assert_ptr_nonnull(ch);
    struct buf long_text = {0};
    for (int i = 0; i < 4000; i++)
        buf_puts(&long_text, i % 2 ? "\n" : "🎉");
    for (size_t i = 0; i <= sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct assistance req = plain;
        req.description = i < sizeof(hostile) / sizeof(hostile[0]) ? hostile[i] : long_text.data;
        req.topic = "sa\nles";
        struct buf out = {0};
        ck_assert_int_eq(ch->type->format(ch, &req, &out), 0);
        ck_assert_ptr_eq(strchr(out.data, '\n'), out.data + out.len - 1);
        ck_assert_ptr_null(strchr(out.data, '\r'));
        json_error_t jerr;
        json_t *line = json_loads(out.data, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(line != NULL, "not JSON (%s): %s", jerr.text, out.data);
        ck_assert_uint_eq(json_object_size(line), 8);
        ck_assert_str_eq(json_string_value(json_object_get(line, "description")), req.description);
        ck_assert_str_eq(json_string_value(json_object_get(line, "topic")), req.topic);
        json_decref(line);
        buf_free(&out);
    }
    buf_free(&long_text);
    channel_free(ch);
}
END_TEST

START_TEST(test_appends_to_file)
{
    char path[256];
    struct channel *ch = make_file(path, sizeof(path));
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_OK);
    ck_assert_int_eq(info.status, 0);
    channel_free(ch);
    /* A second channel on the same file keeps what was there. */
    char settings[300];
    snprintf(settings, sizeof(settings), "{\"type\": \"log\", \"path\": \"%s\"}", path);
    ch = make(settings, err, sizeof(err));
    ck_assert_ptr_nonnull(ch);
    struct assistance req = plain;
    req.description = hostile[0];
    ck_assert_int_eq(channel_deliver(ch, &req, &info, err, sizeof(err)), SEND_OK);
    channel_free(ch);
    char *text = read_whole_file(path);
    char *second = strchr(text, '\n') + 1;
    ck_assert_ptr_eq(strchr(second, '\n'), text + strlen(text) - 1);
    ck_assert_ptr_nonnull(strstr(text, "\"description\":\"Need a quote for 40 seats\""));
    ck_assert_ptr_nonnull(strstr(second, "\"description\":\"line one\\r\\nline two"));
    free(text);
    temp_file_remove(path);
}
END_TEST

START_TEST(test_stdout_by_default)
{
    char path[] = "/tmp/sluice-test-stdout-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"log\"}", err, sizeof(err));
    ck_assert_ptr_nonnull(ch);
    struct send_info info;
    enum send_result r = channel_deliver(ch, &plain, &info, err, sizeof(err));
    channel_free(ch); /* does not close stdout */
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fd);
    ck_assert_int_eq(r, SEND_OK);
    char *text = read_whole_file(path);
    ck_assert_ptr_nonnull(strstr(text, "\"channel\":\"ops-log\""));
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    free(text);
    unlink(path);
    ck_assert_int_ne(fcntl(STDOUT_FILENO, F_GETFD), -1);
}
END_TEST

#define THREADS 8
#define LINES 200

static void *deliver_many(void *arg)
{
    const struct channel *ch = arg;
    struct buf d = {0};
    for (int i = 0; i < 500; i++)
        buf_puts(&d, "long text ");
    struct assistance req = plain;
    req.description = d.data;
    for (int i = 0; i < LINES; i++) {
        char err[256];
        struct send_info info;
        if (channel_deliver(ch, &req, &info, err, sizeof(err)) != SEND_OK)
            break;
    }
    buf_free(&d);
    return NULL;
}

START_TEST(test_threads_never_interleave)
{
    char path[256];
    struct channel *ch = make_file(path, sizeof(path));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, deliver_many, ch), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    channel_free(ch);
    char *text = read_whole_file(path);
    int lines = 0;
    for (char *line = text, *next; *line; line = next + 1) {
        next = strchr(line, '\n');
        ck_assert_ptr_nonnull(next);
        *next = '\0';
        json_t *doc = json_loads(line, 0, NULL);
        ck_assert_msg(doc != NULL, "line %d is not JSON", lines + 1);
        json_decref(doc);
        lines++;
    }
    ck_assert_int_eq(lines, THREADS * LINES);
    free(text);
    temp_file_remove(path);
}
END_TEST

START_TEST(test_full_disk_retries)
{
    char err[256] = "";
    struct channel *ch = make("{\"type\": \"log\", \"path\": \"/dev/full\"}", err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused: %s", err);
    struct send_info info;
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_str_eq(err, "cannot write the log: No space left on device");
    /* And again: the error does not stick. */
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    channel_free(ch);
}
END_TEST

/* lib/log.c's limit for lines outsiders can cause. */
START_TEST(test_rate_limit_counts_suppressed)
{
    struct log_limit limit = {.per_second = 3};
    unsigned long suppressed = 99;
    for (int i = 0; i < 3; i++) {
        ck_assert(log_limit_allow(&limit, 100, &suppressed));
        ck_assert_uint_eq(suppressed, 0);
    }
    for (int i = 0; i < 5; i++)
        ck_assert(!log_limit_allow(&limit, 100, &suppressed));
    /* The next second: allowed again, and told how many were left out. */
    ck_assert(log_limit_allow(&limit, 101, &suppressed));
    ck_assert_uint_eq(suppressed, 5);
    ck_assert(log_limit_allow(&limit, 101, &suppressed));
    ck_assert_uint_eq(suppressed, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refused_settings);
    tcase_add_test(tc, test_line);
    tcase_add_test(tc, test_hostile_text_stays_on_its_line);
    tcase_add_test(tc, test_appends_to_file);
    tcase_add_test(tc, test_stdout_by_default);
    tcase_add_test(tc, test_threads_never_interleave);
    tcase_add_test(tc, test_full_disk_retries);
    tcase_add_test(tc, test_rate_limit_counts_suppressed);
    suite_add_tcase(s, tc);
    return check_run(s);
}
