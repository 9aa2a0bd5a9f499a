/* Unit tests for lib/recipe.c and lib/mergepatch.c: every rule of a valid
 * recipe with its JSON Pointer, and RFC 7396 merge patches (its appendix A). */
#include "mergepatch.h"
#include "recipe.h"

#include "check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *valid =
    "{\"title\":\"Pesto\",\"description\":\"green\",\"servings\":4,"
    "\"ingredients\":[{\"name\":\"olive oil\",\"quantity\":50,\"unit\":\"g\"},"
    "{\"name\":\"basil\",\"quantity\":0.5,\"unit\":\"bunch\"}],"
    "\"steps\":[\"Chop.\",\"Mix.\"],\"tags\":[\"italian\",\"quick\"]}";

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    ck_assert_msg(doc != NULL, "bad test JSON %s: %s", text, err.text);
    return doc;
}

/* Applies patch to the valid recipe and returns the pointers reported. */
static char *pointers_after(const char *patch_text)
{
    json_t *base = load(valid), *patch = load(patch_text);
    json_t *merged = mergepatch_apply(base, patch);
    struct problem_errors pe = {0};
    recipe_validate(merged, &pe);
    static char out[1024];
    out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(pe.list, i, e)
    {
        strcat(out, json_string_value(json_object_get(e, "pointer")));
        strcat(out, " ");
    }
    problem_errors_free(&pe);
    json_decref(merged);
    json_decref(patch);
    json_decref(base);
    return out;
}

START_TEST(test_valid_recipe)
{
    ck_assert_str_eq(pointers_after("{}"), "");
    ck_assert_str_eq(pointers_after("{\"description\":null,\"servings\":null,\"tags\":null}"), "");
}
END_TEST

START_TEST(test_each_rule_has_its_pointer)
{
    ck_assert_str_eq(pointers_after("{\"title\":\"\"}"), "/title ");
    ck_assert_str_eq(pointers_after("{\"title\":\"   \"}"), "/title ");
    char patch[400];
    char long_title[202];
    memset(long_title, 'a', 201);
    long_title[201] = '\0';
    snprintf(patch, sizeof(patch), "{\"title\":\"%s\"}", long_title);
    ck_assert_str_eq(pointers_after(patch), "/title ");
    long_title[200] = '\0';
    snprintf(patch, sizeof(patch), "{\"title\":\"%s\"}", long_title);
    ck_assert_str_eq(pointers_after(patch), "");
    ck_assert_str_eq(pointers_after("{\"title\":5}"), "/title ");
    ck_assert_str_eq(pointers_after("{\"servings\":0}"), "/servings ");
    ck_assert_str_eq(pointers_after("{\"servings\":1001}"), "/servings ");
    ck_assert_str_eq(pointers_after("{\"servings\":2.5}"), "/servings ");
    ck_assert_str_eq(pointers_after("{\"description\":7}"), "/description ");
    ck_assert_str_eq(pointers_after("{\"ingredients\":[]}"), "/ingredients ");
    ck_assert_str_eq(pointers_after("{\"ingredients\":[{\"name\":\"x\",\"quantity\":0,"
                                    "\"unit\":\"g\"}]}"),
                     "/ingredients/0/quantity ");
    ck_assert_str_eq(pointers_after("{\"ingredients\":[{\"name\":\"\",\"quantity\":-1}]}"),
                     "/ingredients/0/name /ingredients/0/quantity /ingredients/0/unit ");
    ck_assert_str_eq(pointers_after("{\"ingredients\":[{\"name\":\"x\",\"quantity\":1,"
                                    "\"unit\":\"g\",\"a/b\":1}]}"),
                     "/ingredients/0/a~1b ");
    ck_assert_str_eq(pointers_after("{\"ingredients\":[\"salt\"]}"), "/ingredients/0 ");
    ck_assert_str_eq(pointers_after("{\"steps\":[]}"), "/steps ");
    ck_assert_str_eq(pointers_after("{\"steps\":[\"ok\",\"\"]}"), "/steps/1 ");
    ck_assert_str_eq(pointers_after("{\"tags\":[1]}"), "/tags/0 ");
    ck_assert_str_eq(pointers_after("{\"colour\":\"red\"}"), "/colour ");
    ck_assert_str_eq(pointers_after("{\"title\":null,\"steps\":null}"), "/title /steps ");
}
END_TEST

START_TEST(test_limits_of_lists)
{
    json_t *r = load(valid);
    json_t *steps = json_array();
    for (int i = 0; i < 101; i++)
        json_array_append_new(steps, json_string("step"));
    json_object_set_new(r, "steps", steps);
    char first[256];
    recipe_first_error(r, first, sizeof(first));
    ck_assert_str_eq(first, "/steps: must be an array of 1 to 100 strings");
    json_array_remove(steps, 0);
    recipe_first_error(r, first, sizeof(first));
    ck_assert_str_eq(first, "");
    json_decref(r);
    json_t *not_object = load("[1]");
    recipe_first_error(not_object, first, sizeof(first));
    ck_assert_str_eq(first, ": a recipe is a JSON object");
    json_decref(not_object);
}
END_TEST

/* RFC 7396 appendix A. */
START_TEST(test_merge_patch_rfc_examples)
{
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *target = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
        json_t *patch = json_loads(cases[i][1], JSON_DECODE_ANY, NULL);
        json_t *want = json_loads(cases[i][2], JSON_DECODE_ANY, NULL);
        json_t *got = mergepatch_apply(target, patch);
        char *text = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        ck_assert_msg(json_equal(got, want), "case %zu: %s + %s: expected %s, got %s", i,
                      cases[i][0], cases[i][1], cases[i][2], text);
        free(text);
        json_decref(got);
        json_decref(want);
        json_decref(patch);
        json_decref(target);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("recipe");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_valid_recipe);
    tcase_add_test(tc, test_each_rule_has_its_pointer);
    tcase_add_test(tc, test_limits_of_lists);
    tcase_add_test(tc, test_merge_patch_rfc_examples);
    suite_add_tcase(s, tc);
    return check_run(s);
}
