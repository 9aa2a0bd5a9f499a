/* mergepatch: PATCH /v1/recipes/{id} applies a client's JSON Merge Patch
 * (RFC 7396) to the stored recipe (lib/mergepatch.c), in ingest to answer
 * 422 at once and again in persist. The input is two JSON values one after
 * the other, the target and the patch (one value alone: the patch, over {}).
 *
 * Checked against RFC 7396 itself: neither argument changes; a non-object
 * patch replaces the target; an object patch removes its null members, sets
 * every other member to the merge of the target's and keeps the target's
 * other members; merging {} with a patch is the patch without its null
 * members (recursively through objects); applying a patch twice is applying
 * it once; the result prints and reads back equal. Then the result goes
 * through recipe_validate as ingest's PATCH does. */
#include "support.h"

#include "mergepatch.h"
#include "recipe.h"

#include <stdlib.h>
#include <string.h>

/* The patch with every null member of every object removed: what merging it
 * into {} gives. A new reference. */
static json_t *without_nulls(const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value)
    {
        if (!json_is_null(value))
            json_object_set_new(out, key, without_nulls(value));
    }
    return out;
}

static void check_merge(const json_t *target, const json_t *patch, const json_t *result)
{
    if (!json_is_object(patch)) {
        FUZZ_CHECK(json_equal(result, patch), "a non-object patch did not replace the target");
        return;
    }
    FUZZ_CHECK(json_is_object(result), "an object patch gave a non-object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value)
    {
        json_t *got = json_object_get(result, key);
        if (json_is_null(value)) {
            FUZZ_CHECK(got == NULL, "member \"%s\" set to null was kept", key);
            continue;
        }
        FUZZ_CHECK(got != NULL, "member \"%s\" of the patch is missing", key);
        const json_t *before = json_is_object(target) ? json_object_get(target, key) : NULL;
        check_merge(before, value, got);
    }
    if (!json_is_object(target))
        return;
    json_object_foreach((json_t *)target, key, value)
    {
        if (!json_object_get(patch, key))
            FUZZ_CHECK(json_equal(json_object_get(result, key), value),
                       "member \"%s\" the patch does not name changed", key);
    }
    size_t expected = 0;
    json_object_foreach((json_t *)result, key, value)
    {
        expected++;
        FUZZ_CHECK(json_object_get(patch, key) || json_object_get(target, key),
                   "member \"%s\" came from nowhere", key);
    }
    FUZZ_CHECK(expected == json_object_size(result), "result size");
}

int fuzz_one(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *target =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &err);
    if (!target)
        return 0;
    size_t used = (size_t)err.position <= size ? (size_t)err.position : size;
    json_t *patch = json_loadb((const char *)data + used, size - used, JSON_DECODE_ANY, NULL);
    if (!patch) {
        patch = target;
        target = json_object();
    }
    json_t *target_copy = json_deep_copy(target), *patch_copy = json_deep_copy(patch);

    json_t *result = mergepatch_apply(target, patch);
    FUZZ_CHECK(result != NULL, "mergepatch_apply failed");
    FUZZ_CHECK(json_equal(target, target_copy) && json_equal(patch, patch_copy),
               "mergepatch_apply changed its arguments");
    check_merge(target, patch, result);
    fuzz_check_json_round_trip(result);

    json_t *twice = mergepatch_apply(result, patch);
    FUZZ_CHECK(json_equal(twice, result), "applying the patch again changed the result");
    json_t *empty = json_object(), *from_empty = mergepatch_apply(empty, patch);
    json_t *want = without_nulls(patch);
    FUZZ_CHECK(json_equal(from_empty, want), "the patch over {} is not the patch without nulls");

    /* As PATCH /v1/recipes/{id} checks the merge. */
    struct problem_errors pe = {0};
    size_t problems = recipe_validate(result, &pe);
    FUZZ_CHECK(problems == pe.count, "recipe_validate counted %zu of %zu", problems, pe.count);
    char first[300];
    recipe_first_error(result, first, sizeof(first));
    FUZZ_CHECK((problems == 0) == (first[0] == '\0'), "first error \"%s\" with %zu problems", first,
               problems);
    problem_errors_free(&pe);

    json_decref(want);
    json_decref(from_empty);
    json_decref(empty);
    json_decref(twice);
    json_decref(result);
    json_decref(patch_copy);
    json_decref(target_copy);
    json_decref(patch);
    json_decref(target);
    return 0;
}
