/* Unit tests for lib/jsonsplit.c: arrays and NDJSON cut into records however
 * the bytes are chunked, oversize records skipped, broken framing reported. */
#include "jsonsplit.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char got[4096];

static void collect(void *opaque, size_t index, const char *data, size_t len, const char *error)
{
    (void)opaque;
    char line[512];
    if (data)
        snprintf(line, sizeof(line), "%zu:%.*s|", index, (int)len, data);
    else
        snprintf(line, sizeof(line), "%zu!%s|", index, error);
    strncat(got, line, sizeof(got) - strlen(got) - 1);
}

/* Splits text fed in chunks of `step` bytes; returns what was emitted. */
static const char *split(const char *text, size_t step, size_t max, bool *ok)
{
    struct jsonsplit s;
    got[0] = '\0';
    jsonsplit_init(&s, max, collect, NULL);
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += step)
        jsonsplit_feed(&s, text + i, len - i < step ? len - i : step);
    *ok = jsonsplit_finish(&s);
    jsonsplit_free(&s);
    return got;
}

static void expect(const char *text, const char *want, bool want_ok)
{
    for (size_t step = 1; step <= strlen(text) + 1; step++) {
        bool ok;
        const char *out = split(text, step, 64, &ok);
        ck_assert_msg(strcmp(out, want) == 0 && ok == want_ok,
                      "split(%s) in chunks of %zu: expected %s (%s), got %s (%s)", text, step, want,
                      want_ok ? "ok" : "failed", out, ok ? "ok" : "failed");
    }
}

START_TEST(test_arrays)
{
    expect("[]", "", true);
    expect(" [ ] ", "", true);
    expect("[{\"a\":1}]", "0:{\"a\":1}|", true);
    expect("[ {\"a\":[1,{\"b\":\"]}\"}]} , {} ,[2] ]\n", "0:{\"a\":[1,{\"b\":\"]}\"}]}|1:{}|2:[2]|",
           true);
    expect("[1, \"x,y\", true,null]", "0:1|1:\"x,y\"|2:true|3:null|", true);
    expect("[\"a\\\"]\", {\"k\":\"\\\\\"}]", "0:\"a\\\"]\"|1:{\"k\":\"\\\\\"}|", true);
    expect("[{\"a\":}, {\"b\":2}]", "0:{\"a\":}|1:{\"b\":2}|", true); /* parsed by the caller */
}
END_TEST

START_TEST(test_broken_arrays)
{
    expect("[{\"a\":1}", "0:{\"a\":1}|1!the body ended inside the array|", false);
    expect("[{\"a\":1", "0!the body ended inside the array|", false);
    expect("[1,,2]", "0:1|1!a value is missing in the array|", false);
    expect("[{} {}]", "0:{}|1!expected ',' or ']' after a record|", false);
    expect("[1] x", "0:1|1!data after the end of the array|", false);
}
END_TEST

START_TEST(test_ndjson)
{
    expect("{\"a\":1}\n{\"b\":2}\n", "0:{\"a\":1}|1:{\"b\":2}|", true);
    expect("{\"a\":1}\r\n\n  \n{\"b\":2}", "0:{\"a\":1}|1:{\"b\":2}|", true);
    expect("{\"a\":\"x\\ny\"}\nnot json\n", "0:{\"a\":\"x\\ny\"}|1:not json|", true);
    expect("", "", true);
}
END_TEST

START_TEST(test_not_a_stream_of_records)
{
    /* Only '[' or '{' may open the body: a scalar or text at the top fails
     * before anything is emitted, so nothing after it is imported. */
    expect("42\n{\"a\":1}\n",
           "0!the body is neither a JSON array nor NDJSON of objects (it "
           "starts with neither '[' nor '{')|",
           false);
    expect("  hello",
           "0!the body is neither a JSON array nor NDJSON of objects (it starts with "
           "neither '[' nor '{')|",
           false);
    expect("\"[\"",
           "0!the body is neither a JSON array nor NDJSON of objects (it starts with "
           "neither '[' nor '{')|",
           false);
}
END_TEST

START_TEST(test_seen)
{
    const char *cases[] = {"", " \r\n\t", "[]", "x"};
    bool want[] = {false, false, true, true};
    for (size_t i = 0; i < 4; i++) {
        struct jsonsplit s;
        got[0] = '\0';
        jsonsplit_init(&s, 64, collect, NULL);
        jsonsplit_feed(&s, cases[i], strlen(cases[i]));
        jsonsplit_finish(&s);
        ck_assert_msg(s.seen == want[i], "seen after \"%s\"", cases[i]);
        jsonsplit_free(&s);
    }
}
END_TEST

START_TEST(test_oversize_records_are_skipped)
{
    char big[200];
    snprintf(big, sizeof(big), "[{\"a\":\"%070d\"},{\"b\":1}]", 0);
    expect(big, "0!record is larger than the per-record limit|1:{\"b\":1}|", true);
    snprintf(big, sizeof(big), "{\"a\":\"%070d\"}\n{\"b\":1}\n", 0);
    expect(big, "0!record is larger than the per-record limit|1:{\"b\":1}|", true);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonsplit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_arrays);
    tcase_add_test(tc, test_broken_arrays);
    tcase_add_test(tc, test_ndjson);
    tcase_add_test(tc, test_not_a_stream_of_records);
    tcase_add_test(tc, test_seen);
    tcase_add_test(tc, test_oversize_records_are_skipped);
    suite_add_tcase(s, tc);
    return check_run(s);
}
