/* recipes: POST and PUT /v1/recipes and the recipes of POST /v1/bulk, as far
 * as they go without a server: the body parsed as ingest parses it
 * (ingest/body.c), validated (lib/recipe.c recipe_validate, which ingest and
 * persist share) and the collection table's import for "recipes"
 * (ingest/recipes.c, lib/collection.c collection_import_id).
 *
 * recipe_validate's count and recipe_first_error agree; an import is
 * accepted exactly when the record's id is usable and the rest of it is a
 * valid recipe, and then its envelope reads back in persist
 * (envelope_parse_recipe) with the recipe as sent, minus its "id", which
 * names the recipe the same way on every import. */
#include "support.h"

#include "body.h"
#include "collection.h"
#include "envelope.h"
#include "recipe.h"

#include <stdlib.h>
#include <string.h>

static size_t problems(const json_t *doc)
{
    struct problem_errors pe = {0};
    size_t n = recipe_validate(doc, &pe);
    FUZZ_CHECK(n == pe.count, "recipe_validate returned %zu for %zu problems", n, pe.count);
    char first[400];
    recipe_first_error(doc, first, sizeof(first));
    FUZZ_CHECK((n == 0) == (first[0] == '\0'), "first error \"%s\" with %zu problems", first, n);
    problem_errors_free(&pe);
    return n;
}

static char *import(const json_t *body, const char *raw, size_t rawlen, char id[UUID_STR_LEN],
                    size_t *len)
{
    const struct collection *c = collection_find("recipes");
    FUZZ_CHECK(c && c->http && c->http->import, "recipes has no import");
    json_t *copy = json_deep_copy(body);
    struct import_record rec = {copy, raw, rawlen, NULL, &fuzz_origin};
    char why[300] = "";
    bool keyed = false;
    char *value = c->http->import(&rec, id, why, sizeof(why), len, &keyed);
    FUZZ_CHECK(value || why[0], "import refused without a reason");
    FUZZ_CHECK(!value || keyed, "a recipe's import is not keyed by its id");
    json_decref(copy);
    return value;
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char detail[400] = "";
    json_t *body = body_parse_object((const char *)data, size, detail, sizeof(detail));
    if (!body) {
        FUZZ_CHECK(detail[0], "body refused without a reason");
        return 0;
    }
    size_t as_posted = problems(body);

    /* What the import validates: the record without its "id". */
    json_t *without_id = json_deep_copy(body);
    json_t *given = json_object_get(without_id, "id");
    bool id_usable =
        !given || json_is_null(given) || json_is_string(given) || json_is_integer(given);
    json_object_del(without_id, "id");
    size_t as_imported = problems(without_id);
    if (!json_object_get(body, "id"))
        FUZZ_CHECK(as_posted == as_imported, "the same recipe validated twice differently");

    char id[UUID_STR_LEN], id_again[UUID_STR_LEN];
    size_t len = 0, len_again = 0;
    char *value = import(body, (const char *)data, size, id, &len);
    char *again = import(body, (const char *)data, size, id_again, &len_again);
    FUZZ_CHECK((value != NULL) == (id_usable && as_imported == 0),
               "import %s a recipe with %zu problems (id usable: %d)",
               value ? "accepted" : "refused", as_imported, id_usable);
    if (value) {
        FUZZ_CHECK(again && strcmp(id, id_again) == 0, "imported twice as %s and %s", id, id_again);
        struct recipe_envelope env;
        char err[300];
        FUZZ_CHECK(envelope_parse_recipe(value, len, &env, err, sizeof(err)) == 0,
                   "persist refuses the envelope ingest wrote: %s", err);
        FUZZ_CHECK(strcmp(env.recipe_id, id) == 0 && strcmp(env.operation, "create") == 0,
                   "envelope names recipe %s, import said %s", env.recipe_id, id);
        FUZZ_CHECK(json_equal(env.doc, without_id), "the envelope's recipe is not the one sent");
        FUZZ_CHECK(problems(env.doc) == 0, "persist would refuse what ingest accepted");
        envelope_recipe_free(&env);
    }
    free(value);
    free(again);
    json_decref(without_id);
    json_decref(body);
    return 0;
}
