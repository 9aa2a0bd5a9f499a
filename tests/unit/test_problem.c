/* Unit tests for lib/problem.c: RFC 9457 documents, the error list and its
 * cap, and RFC 6901 pointer escaping. */
#include "problem.h"

#include "check_main.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Renders and parses back; the caller json_decref()s. */
static json_t *render_parsed(int status, const char *slug, const char *title, const char *detail,
                             const struct problem_errors *pe, char **text_out)
{
    char *text = problem_render(status, slug, title, detail, pe);
    ck_assert_msg(text != NULL, "problem_render returned NULL");
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    ck_assert_msg(doc != NULL, "problem_render gave invalid JSON (%s): %s", err.text, text);
    ck_assert_msg(json_is_object(doc), "problem document is not an object: %s", text);
    if (text_out)
        *text_out = text;
    else
        free(text);
    return doc;
}

static const char *member_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_string(v), "member \"%s\" is missing or not a string", key);
    return json_string_value(v);
}

START_TEST(test_render_full_document)
{
    struct problem_errors pe = {0};
    problem_errors_add(&pe, "/type", "must be a string");
    problem_errors_add(&pe, "/id", "must be 1 to %d bytes", 255);
    char *text = NULL;
    json_t *doc =
        render_parsed(422, "validation", "Invalid event", "2 fields are invalid.", &pe, &text);
    ck_assert_str_eq(member_string(doc, "type"), "https://sluice.dev/problems/validation");
    ck_assert_str_eq(member_string(doc, "title"), "Invalid event");
    ck_assert_msg(json_is_integer(json_object_get(doc, "status")), "status is not an integer: %s",
                  text);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 422);
    ck_assert_str_eq(member_string(doc, "detail"), "2 fields are invalid.");
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_msg(json_is_array(errors), "errors is not an array: %s", text);
    ck_assert_uint_eq(json_array_size(errors), 2);
    ck_assert_str_eq(member_string(json_array_get(errors, 0), "pointer"), "/type");
    ck_assert_str_eq(member_string(json_array_get(errors, 0), "message"), "must be a string");
    ck_assert_str_eq(member_string(json_array_get(errors, 1), "pointer"), "/id");
    ck_assert_str_eq(member_string(json_array_get(errors, 1), "message"), "must be 1 to 255 bytes");
    /* Members in the order RFC 9457 lists them, so the text reads naturally. */
    ck_assert_msg(strncmp(text, "{\"type\":", 8) == 0, "document does not start with type: %s",
                  text);
    ck_assert_msg(strstr(text, "\"title\"") < strstr(text, "\"status\"") &&
                      strstr(text, "\"status\"") < strstr(text, "\"detail\"") &&
                      strstr(text, "\"detail\"") < strstr(text, "\"errors\""),
                  "members out of order: %s", text);
    free(text);
    json_decref(doc);
    /* The list was borrowed, not stolen: still ours and intact. */
    ck_assert_uint_eq(pe.count, 2);
    ck_assert_uint_eq(json_array_size(pe.list), 2);
    problem_errors_free(&pe);
    ck_assert_ptr_null(pe.list);
    ck_assert_uint_eq(pe.count, 0);
}
END_TEST

START_TEST(test_render_minimal_document)
{
    json_t *doc = render_parsed(404, "not-found", "Not found", NULL, NULL, NULL);
    ck_assert_str_eq(member_string(doc, "type"), "https://sluice.dev/problems/not-found");
    ck_assert_str_eq(member_string(doc, "title"), "Not found");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 404);
    ck_assert_msg(json_object_get(doc, "detail") == NULL, "NULL detail should be absent");
    ck_assert_msg(json_object_get(doc, "errors") == NULL, "NULL errors should be absent");
    json_decref(doc);

    /* An error list with nothing in it adds no "errors" member. */
    struct problem_errors empty = {0};
    doc = render_parsed(400, "bad-request", "Bad request", "x", &empty, NULL);
    ck_assert_msg(json_object_get(doc, "errors") == NULL, "empty errors should be absent");
    json_decref(doc);
}
END_TEST

START_TEST(test_render_escapes_text)
{
    /* Quotes, backslashes, control characters and non-ASCII survive intact. */
    const char *detail = "a \"quoted\" \\ back\tslash\nnew line \x01 caf\xc3\xa9 \xe2\x82\xac";
    json_t *doc = render_parsed(400, "bad-request", "Bad \"request\"", detail, NULL, NULL);
    ck_assert_str_eq(member_string(doc, "detail"), detail);
    ck_assert_str_eq(member_string(doc, "title"), "Bad \"request\"");
    json_decref(doc);
}
END_TEST

START_TEST(test_render_invalid_utf8_detail)
{
    static const char *const bad[] = {
        "\xff", "abc\xc3", "\xc0\x80", "\xed\xa0\x80", "ok \xf4\x90\x80\x80 bad", "\x80\x80\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = NULL;
        json_t *doc = render_parsed(400, "bad-request", "Bad request", bad[i], NULL, &text);
        /* Still a complete document: a string detail, the other members kept. */
        ck_assert_msg(json_is_string(json_object_get(doc, "detail")),
                      "detail #%zu missing or not a string: %s", i, text);
        ck_assert_str_eq(member_string(doc, "title"), "Bad request");
        ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 400);
        free(text);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_errors_cap)
{
    struct problem_errors pe = {0};
    for (int i = 0; i < PROBLEM_MAX_ERRORS + 50; i++) {
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "/items/%d", i);
        problem_errors_add(&pe, ptr, "bad item %d", i);
    }
    /* Counted, but only the first PROBLEM_MAX_ERRORS are kept. */
    ck_assert_uint_eq(pe.count, PROBLEM_MAX_ERRORS + 50);
    ck_assert_uint_eq(json_array_size(pe.list), PROBLEM_MAX_ERRORS);
    json_t *doc = render_parsed(422, "validation", "Invalid", NULL, &pe, NULL);
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_uint_eq(json_array_size(errors), PROBLEM_MAX_ERRORS);
    json_t *last = json_array_get(errors, PROBLEM_MAX_ERRORS - 1);
    char want[32];
    snprintf(want, sizeof(want), "/items/%d", PROBLEM_MAX_ERRORS - 1);
    ck_assert_str_eq(member_string(last, "pointer"), want);
    json_decref(doc);
    problem_errors_free(&pe);
    /* Reusable after free. */
    problem_errors_add(&pe, "", "whole document");
    ck_assert_uint_eq(pe.count, 1);
    ck_assert_str_eq(member_string(json_array_get(pe.list, 0), "pointer"), "");
    problem_errors_free(&pe);
    problem_errors_free(&pe); /* idempotent */
}
END_TEST

START_TEST(test_errors_odd_pointers)
{
    struct problem_errors pe = {0};
    problem_errors_add(&pe, NULL, "no pointer");
    problem_errors_add(&pe, "/\xff", "invalid UTF-8 pointer");
    problem_errors_add(&pe, "#/query/limit", "must be an integer from 1 to %d", 1000);
    ck_assert_uint_eq(pe.count, 3);
    ck_assert_uint_eq(json_array_size(pe.list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(pe.list, i);
        ck_assert_msg(json_is_string(json_object_get(e, "pointer")), "entry %zu: no pointer", i);
        ck_assert_msg(json_is_string(json_object_get(e, "message")), "entry %zu: no message", i);
    }
    ck_assert_str_eq(member_string(json_array_get(pe.list, 2), "message"),
                     "must be an integer from 1 to 1000");
    problem_errors_free(&pe);
}
END_TEST

START_TEST(test_errors_long_multibyte_message_keeps_message)
{
    /* A message longer than the module's formatting buffer is cut; cutting
     * must not leave a broken UTF-8 sequence that loses the whole message. */
    char big[1200] = "";
    for (int i = 0; i < 500; i++)
        strcat(big, "\xc3\xa9"); /* U+00E9, 2 bytes: 1000 bytes in all */
    for (int shift = 0; shift < 3; shift++) {
        struct problem_errors pe = {0};
        problem_errors_add(&pe, "/body", "%.*s%s", shift, "xx", big);
        json_t *e = json_array_get(pe.list, 0);
        ck_assert_msg(e != NULL, "no entry added");
        json_t *msg = json_object_get(e, "message");
        ck_assert_msg(json_is_string(msg),
                      "entry for a long message (prefix %d bytes) has no \"message\" member",
                      shift);
        ck_assert_msg(strlen(json_string_value(msg)) > 100, "message was emptied");
        problem_errors_free(&pe);
    }
}
END_TEST

static void assert_join(const char *base, const char *token, size_t outlen, int want_rc,
                        const char *want)
{
    char *out = malloc(outlen);
    ck_assert_ptr_nonnull(out);
    memset(out, 'x', outlen);
    int rc = problem_pointer_join(out, outlen, base, token);
    ck_assert_msg(rc == want_rc, "problem_pointer_join(\"%s\", \"%s\", %zu) returned %d, want %d",
                  base, token, outlen, rc, want_rc);
    if (want)
        ck_assert_msg(strcmp(out, want) == 0,
                      "problem_pointer_join(\"%s\", \"%s\"): expected \"%s\", got \"%s\"", base,
                      token, want, out);
    free(out);
}

START_TEST(test_pointer_join_escaping)
{
    assert_join("", "type", 64, 0, "/type");
    assert_join("/body", "name", 64, 0, "/body/name");
    assert_join("", "", 64, 0, "/");
    assert_join("", "a/b", 64, 0, "/a~1b");
    assert_join("", "m~n", 64, 0, "/m~0n");
    assert_join("", "~1", 64, 0, "/~01"); /* not "/~1": that would mean "/" */
    assert_join("", "/~", 64, 0, "/~1~0");
    assert_join("", "~~//", 64, 0, "/~0~0~1~1");
    assert_join("/a~1b", "c", 64, 0, "/a~1b/c"); /* the base is already escaped */
    assert_join("", "caf\xc3\xa9", 64, 0, "/caf\xc3\xa9");
    assert_join("", "with space", 64, 0, "/with space");
    assert_join("", "0", 64, 0, "/0");
}
END_TEST

START_TEST(test_pointer_join_in_place)
{
    char buf[64] = "/items";
    ck_assert_int_eq(problem_pointer_join(buf, sizeof(buf), buf, "3"), 0);
    ck_assert_str_eq(buf, "/items/3");
    ck_assert_int_eq(problem_pointer_join(buf, sizeof(buf), buf, "a/b~"), 0);
    ck_assert_str_eq(buf, "/items/3/a~1b~0");
}
END_TEST

START_TEST(test_pointer_join_truncation)
{
    /* "/ab" needs 4 bytes with the NUL. */
    assert_join("", "ab", 4, 0, "/ab");
    assert_join("", "ab", 3, -1, NULL);
    assert_join("", "ab", 2, -1, NULL);
    assert_join("", "ab", 1, -1, NULL);
    /* Escapes count double: "/~0" needs 4. */
    assert_join("", "~", 4, 0, "/~0");
    assert_join("", "~", 3, -1, NULL);
    assert_join("", "/", 3, -1, NULL);
    /* The base alone may not fit. */
    assert_join("/abcdef", "g", 8, -1, NULL);
    assert_join("/abcdef", "g", 9, -1, NULL);
    assert_join("/abcdef", "g", 10, 0, "/abcdef/g");
    /* A truncated result is still a terminated string within the buffer. */
    for (size_t len = 2; len < 12; len++) {
        char *out = malloc(len);
        ck_assert_ptr_nonnull(out);
        memset(out, 'x', len);
        int rc = problem_pointer_join(out, len, "", "a~b/c~d/e");
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(memchr(out, '\0', len) != NULL, "outlen %zu: result not terminated", len);
        free(out);
    }
}
END_TEST

START_TEST(test_type_uri)
{
    char out[128];
    ck_assert_str_eq(problem_type_uri("validation", out, sizeof(out)),
                     "https://sluice.dev/problems/validation");
    ck_assert_ptr_eq(problem_type_uri("x", out, sizeof(out)), out);
    char small[10];
    problem_type_uri("validation", small, sizeof(small));
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

static Suite *problem_suite(void)
{
    Suite *s = suite_create("problem");
    TCase *render = tcase_create("render");
    tcase_add_test(render, test_render_full_document);
    tcase_add_test(render, test_render_minimal_document);
    tcase_add_test(render, test_render_escapes_text);
    tcase_add_test(render, test_render_invalid_utf8_detail);
    tcase_add_test(render, test_type_uri);
    suite_add_tcase(s, render);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_errors_cap);
    tcase_add_test(errors, test_errors_odd_pointers);
    tcase_add_test(errors, test_errors_long_multibyte_message_keeps_message);
    suite_add_tcase(s, errors);

    TCase *pointer = tcase_create("pointer");
    tcase_add_test(pointer, test_pointer_join_escaping);
    tcase_add_test(pointer, test_pointer_join_in_place);
    tcase_add_test(pointer, test_pointer_join_truncation);
    suite_add_tcase(s, pointer);
    return s;
}

int main(void)
{
    return check_run(problem_suite());
}
