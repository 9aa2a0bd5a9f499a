/* persist_recipes: the recipes collection's writer. Writes to one recipe come
 * in the order they were accepted (keyed by recipe id, so one partition) and
 * are applied one at a time against the stored version: a PATCH is merged
 * into whatever the previous write left, so concurrent PATCHes all apply in
 * order. A write that cannot apply (unknown recipe, stale If-Match, merged
 * result invalid) is rejected with the status the client would have got. */
#include "mergepatch.h"
#include "persist_writer.h"
#include "recipe.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *parse_recipe(struct persist_item *it)
{
    struct recipe_envelope *r = it->record;
    return envelope_parse_recipe(it->msg->payload, it->msg->len, r, it->error, sizeof(it->error)) ==
                   0
               ? r->id
               : NULL;
}

static enum step_result reject(struct batch_ctx *c, struct persist_item *it, int status,
                               const char *reason)
{
    it->reject_status = status;
    snprintf(c->err, c->errlen, "%s", reason);
    return STEP_DATA_ERROR;
}

static enum step_result insert_recipe(struct batch_ctx *c, struct persist_item *it, const char *doc,
                                      const char *received, bool *created)
{
    const struct recipe_envelope *rc = it->record;
    const char *params[] = {rc->recipe_id, doc, received, envelope_tenant(rc->root)};
    return persist_insert(c,
                          "INSERT INTO recipes (id, doc, version, created_at, updated_at, tenant) "
                          "VALUES ($1::uuid, $2::jsonb, 1, $3, $3, $4) ON CONFLICT (id) DO NOTHING",
                          4, params, created, "creating recipe");
}

static enum step_result write_recipe(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    const struct recipe_envelope *rc = it->record;
    char received[TIME_STR_LEN];
    time_format(rc->received_at_us, received);
    *created = false;
    if (strcmp(rc->operation, "create") == 0) {
        char why[300];
        recipe_first_error(rc->doc, why, sizeof(why));
        if (why[0])
            return reject(c, it, 422, why);
        char *doc = json_dumps(rc->doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        enum step_result r = insert_recipe(c, it, doc, received, created);
        free(doc);
        return r;
    }

    /* The stored recipe, locked until COMMIT; another tenant's is none. */
    const char *id_param[] = {rc->recipe_id, envelope_tenant(rc->root)};
    PGresult *res = NULL;
    enum step_result r = persist_exec(c,
                                      "SELECT doc::text, version FROM recipes WHERE id = $1::uuid "
                                      "AND tenant = $2 FOR UPDATE",
                                      2, id_param, &res, "reading recipe");
    if (r != STEP_OK)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return reject(c, it, 404, "no recipe has this id");
    }
    long long version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    json_t *stored = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (rc->if_version >= 0 && rc->if_version != version) {
        json_decref(stored);
        char why[128];
        snprintf(why, sizeof(why), "If-Match expected version %lld, the recipe is at %lld",
                 (long long)rc->if_version, version);
        return reject(c, it, 412, why);
    }
    if (strcmp(rc->operation, "delete") == 0) {
        json_decref(stored);
        return persist_exec(c, "DELETE FROM recipes WHERE id = $1::uuid AND tenant = $2", 2,
                            id_param, NULL, "deleting recipe");
    }
    json_t *next = strcmp(rc->operation, "patch") == 0 ? mergepatch_apply(stored, rc->doc)
                                                       : json_incref(rc->doc);
    json_decref(stored);
    char why[300];
    recipe_first_error(next, why, sizeof(why));
    if (why[0]) {
        json_decref(next);
        return reject(c, it, 422, why);
    }
    char *doc = json_dumps(next, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(next);
    const char *params[] = {rc->recipe_id, doc, received, envelope_tenant(rc->root)};
    r = persist_exec(c,
                     "UPDATE recipes SET doc = $2::jsonb, version = version + 1, updated_at = $3 "
                     "WHERE id = $1::uuid AND tenant = $4",
                     4, params, NULL, "updating recipe");
    free(doc);
    return r;
}

const struct persist_writer persist_writer_recipes = {
    .record_size = sizeof(struct recipe_envelope),
    .parse = parse_recipe,
    .write_all = NULL,
    .write_one = write_recipe,
};
