/* body_parse_object: well-formed JSON that is refused says what and where;
 * a byte order mark is skipped. */
#include "body.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

static json_t *parse(const char *text, char *detail, size_t len)
{
    return body_parse_object(text, strlen(text), detail, len);
}

START_TEST(test_bom_is_skipped)
{
    char detail[400] = "";
    json_t *doc = parse("\xef\xbb\xbf{\"a\": 1}", detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "a leading BOM was refused: %s", detail);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "a")), 1);
    json_decref(doc);
    /* Only one, and only leading. */
    ck_assert_ptr_null(parse("\xef\xbb\xbf\xef\xbb\xbf{}", detail, sizeof(detail)));
    ck_assert_ptr_null(parse("{} \xef\xbb\xbf", detail, sizeof(detail)));
    ck_assert_ptr_null(parse("\xef\xbb\xbf", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "empty"));
}
END_TEST

START_TEST(test_duplicate_key_is_named)
{
    char detail[400] = "";
    ck_assert_ptr_null(
        parse("{\"type\": \"a\", \"amount\": 1, \"amount\": 2}", detail, sizeof(detail)));
    ck_assert_msg(strstr(detail, "amount") && strstr(detail, "twice") && strstr(detail, "line 1"),
                  "detail does not name the key and where: %s", detail);
    ck_assert_ptr_null(strstr(detail, "not valid JSON"));
}
END_TEST

START_TEST(test_big_integer_is_out_of_range)
{
    char detail[400] = "";
    ck_assert_ptr_null(parse("{\"n\": 92233720368547758070}", detail, sizeof(detail)));
    ck_assert_msg(strstr(detail, "integer out of range") && strstr(detail, "column"), "detail: %s",
                  detail);
    ck_assert_ptr_null(parse("{\"n\": -92233720368547758070}", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "integer out of range"));
    ck_assert_ptr_null(parse("{\"n\": 1e400}", detail, sizeof(detail)));
    ck_assert_msg(strstr(detail, "real number overflow"), "detail: %s", detail);
    /* The edges of int64 are fine. */
    json_t *doc =
        parse("{\"a\": 9223372036854775807, \"b\": -9223372036854775808}", detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "%s", detail);
    json_decref(doc);
}
END_TEST

START_TEST(test_other_refusals)
{
    char detail[400] = "";
    ck_assert_ptr_null(parse("", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "empty"));
    ck_assert_ptr_null(parse("[1]", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "an array"));
    ck_assert_ptr_null(parse("{\"a\": ", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "not valid JSON"));
    ck_assert_ptr_null(parse("{\"a\": \"\xff\"}", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "UTF-8"));
    ck_assert_ptr_null(parse("{\"a\": \"x\\u0000y\"}", detail, sizeof(detail)));
    ck_assert_ptr_nonnull(strstr(detail, "NUL"));
    /* A tiny buffer truncates, never overflows. */
    char tiny[8];
    ck_assert_ptr_null(parse("{\"a\":1,\"a\":2}", tiny, sizeof(tiny)));
    ck_assert_uint_lt(strlen(tiny), sizeof(tiny));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("body");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bom_is_skipped);
    tcase_add_test(tc, test_duplicate_key_is_named);
    tcase_add_test(tc, test_big_integer_is_out_of_range);
    tcase_add_test(tc, test_other_refusals);
    suite_add_tcase(s, tc);
    return check_run(s);
}
