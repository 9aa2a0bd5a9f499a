/* Unit tests for lib/jsonpointer.c: RFC 6901's own examples (section 5), the
 * escapes in both orders, array indexes, and malformed or hostile pointers. */
#include "jsonpointer.h"

#include "check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6901 section 5's document. */
static const char rfc_doc[] = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, "
                              "\"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, "
                              "\"m~n\": 8}";

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    ck_assert_msg(doc != NULL, "fixture is not JSON: %s", err.text);
    return doc;
}

static void expect_int(json_t *doc, const char *ptr, json_int_t want)
{
    json_t *v = jsonpointer_get(doc, ptr);
    ck_assert_msg(json_is_integer(v), "pointer \"%s\": expected %lld, got %s", ptr, (long long)want,
                  v ? "another value" : "nothing");
    ck_assert_int_eq(json_integer_value(v), want);
}

START_TEST(test_rfc6901_examples)
{
    json_t *doc = load(rfc_doc);
    ck_assert_ptr_eq(jsonpointer_get(doc, ""), doc);
    ck_assert_ptr_eq(jsonpointer_get(doc, "/foo"), json_object_get(doc, "foo"));
    ck_assert_str_eq(json_string_value(jsonpointer_get(doc, "/foo/0")), "bar");
    ck_assert_str_eq(json_string_value(jsonpointer_get(doc, "/foo/1")), "baz");
    expect_int(doc, "/", 0);
    expect_int(doc, "/a~1b", 1);
    expect_int(doc, "/c%d", 2);
    expect_int(doc, "/e^f", 3);
    expect_int(doc, "/g|h", 4);
    expect_int(doc, "/i\\j", 5);
    expect_int(doc, "/k\"l", 6);
    expect_int(doc, "/ ", 7);
    expect_int(doc, "/m~0n", 8);
    json_decref(doc);
}
END_TEST

START_TEST(test_escape_order)
{
    /* "~01" is "~1" unescaped once (a literal "~1"), never "/". */
    json_t *doc = load("{\"~1\": 1, \"/\": 2, \"~\": 3}");
    expect_int(doc, "/~01", 1);
    expect_int(doc, "/~1", 2);
    expect_int(doc, "/~0", 3);
    json_decref(doc);
}
END_TEST

START_TEST(test_names_nothing)
{
    json_t *doc = load("{\"a\": [10, 20], \"n\": null, \"s\": \"x\"}");
    const char *none[] = {"/b",    "/a/2", "/a/-", "/a/01", "/a/-1",
                          "/a/1x", "/a/",  "/s/0", "/n/x",  "/a/99999999999999999999",
                          "a",     "/~2",  "/~"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        ck_assert_msg(jsonpointer_get(doc, none[i]) == NULL, "pointer \"%s\" named something",
                      none[i]);
    ck_assert(json_is_null(jsonpointer_get(doc, "/n")));
    expect_int(doc, "/a/0", 10);
    ck_assert_ptr_null(jsonpointer_get(NULL, "/a"));
    json_decref(doc);
}
END_TEST

START_TEST(test_check)
{
    char err[128];
    ck_assert_int_eq(jsonpointer_check("", err, sizeof(err)), 0);
    ck_assert_int_eq(jsonpointer_check("/a~0~1/0", err, sizeof(err)), 0);
    const char *bad[] = {"a", "/~", "/a~2", "/~~0", " /a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(jsonpointer_check(bad[i], err, sizeof(err)) == -1, "\"%s\" accepted", bad[i]);
        ck_assert_msg(err[0] != '\0', "\"%s\" refused without a reason", bad[i]);
    }
    ck_assert_int_eq(jsonpointer_check(NULL, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_long_member_names)
{
    /* A name longer than the walker's buffer names nothing instead of being
     * cut (a cut name could match another member). */
    size_t n = 5000;
    char *name = malloc(n + 1);
    memset(name, 'k', n);
    name[n] = '\0';
    json_t *doc = json_object();
    json_object_set_new(doc, name, json_integer(1));
    name[1023] = '\0';
    json_object_set_new(doc, name, json_integer(2));
    name[1023] = 'k';
    char *ptr = malloc(n + 2);
    ptr[0] = '/';
    memcpy(ptr + 1, name, n + 1);
    ck_assert_ptr_null(jsonpointer_get(doc, ptr));
    free(ptr);
    free(name);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonpointer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rfc6901_examples);
    tcase_add_test(tc, test_escape_order);
    tcase_add_test(tc, test_names_nothing);
    tcase_add_test(tc, test_check);
    tcase_add_test(tc, test_long_member_names);
    suite_add_tcase(s, tc);
    return check_run(s);
}
