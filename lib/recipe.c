#include "recipe.h"

#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* Non-empty after trimming spaces, and at most max characters. */
static int text_ok(const json_t *v, size_t max)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t chars = utf8_length(s);
    if (chars == 0 || chars > max)
        return 0;
    return strspn(s, " \t\r\n") < strlen(s);
}

static void check_ingredients(const json_t *list, struct problem_errors *pe)
{
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > 100) {
        problem_errors_add(pe, "/ingredients", "must be an array of 1 to 100 ingredients");
        return;
    }
    size_t i;
    json_t *ing;
    json_array_foreach(list, i, ing)
    {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/ingredients/%zu", i);
        if (!json_is_object(ing)) {
            problem_errors_add(pe, ptr, "must be an object {name, quantity, unit}");
            continue;
        }
        char field[80];
        snprintf(field, sizeof(field), "%s/name", ptr);
        if (!text_ok(json_object_get(ing, "name"), 200))
            problem_errors_add(pe, field, "must be a non-empty string of at most 200 characters");
        snprintf(field, sizeof(field), "%s/quantity", ptr);
        json_t *q = json_object_get(ing, "quantity");
        if (!json_is_number(q) || json_number_value(q) <= 0)
            problem_errors_add(pe, field, "must be a number greater than 0");
        snprintf(field, sizeof(field), "%s/unit", ptr);
        if (!text_ok(json_object_get(ing, "unit"), 50))
            problem_errors_add(pe, field, "must be a non-empty string of at most 50 characters");
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)ing, key, value)
        {
            if (strcmp(key, "name") && strcmp(key, "quantity") && strcmp(key, "unit")) {
                char extra[600];
                problem_pointer_join(extra, sizeof(extra), ptr, key);
                problem_errors_add(pe, extra, "is not a field of an ingredient");
            }
        }
    }
}

static void check_strings(const json_t *list, const char *name, size_t min, size_t max,
                          size_t each_max, struct problem_errors *pe)
{
    char ptr[64];
    snprintf(ptr, sizeof(ptr), "/%s", name);
    if (!json_is_array(list) || json_array_size(list) < min || json_array_size(list) > max) {
        problem_errors_add(pe, ptr, "must be an array of %zu to %zu strings", min, max);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!text_ok(v, each_max)) {
            char item[96];
            snprintf(item, sizeof(item), "%s/%zu", ptr, i);
            problem_errors_add(pe, item, "must be a non-empty string of at most %zu characters",
                               each_max);
        }
    }
}

size_t recipe_validate(const json_t *recipe, struct problem_errors *pe)
{
    size_t before = pe->count;
    if (!json_is_object(recipe)) {
        problem_errors_add(pe, "", "a recipe is a JSON object");
        return pe->count - before;
    }
    if (!text_ok(json_object_get(recipe, "title"), 200))
        problem_errors_add(pe, "/title", "must be a string of 1 to 200 characters");
    json_t *description = json_object_get(recipe, "description");
    if (description && !json_is_null(description) &&
        (!json_is_string(description) || utf8_length(json_string_value(description)) > 10000))
        problem_errors_add(pe, "/description", "must be a string of at most 10000 characters");
    json_t *servings = json_object_get(recipe, "servings");
    if (servings && !json_is_null(servings) &&
        (!json_is_integer(servings) || json_integer_value(servings) < 1 ||
         json_integer_value(servings) > 1000))
        problem_errors_add(pe, "/servings", "must be an integer from 1 to 1000");
    check_ingredients(json_object_get(recipe, "ingredients"), pe);
    check_strings(json_object_get(recipe, "steps"), "steps", 1, 100, 10000, pe);
    json_t *tags = json_object_get(recipe, "tags");
    if (tags && !json_is_null(tags))
        check_strings(tags, "tags", 0, 50, 50, pe);
    static const char *const known[] = {"title",       "description", "servings",
                                        "ingredients", "steps",       "tags"};
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)recipe, key, value)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(key, known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0])) {
            char ptr[600];
            problem_pointer_join(ptr, sizeof(ptr), "", key);
            problem_errors_add(pe, ptr, "is not a field of a recipe");
        }
    }
    return pe->count - before;
}

void recipe_first_error(const json_t *recipe, char *out, size_t outlen)
{
    struct problem_errors pe = {0};
    out[0] = '\0';
    if (recipe_validate(recipe, &pe) > 0) {
        json_t *first = json_array_get(pe.list, 0);
        snprintf(out, outlen, "%s: %s", json_string_value(json_object_get(first, "pointer")),
                 json_string_value(json_object_get(first, "message")));
    }
    problem_errors_free(&pe);
}
