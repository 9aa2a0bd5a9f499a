/* recipes: /v1/recipes. Writes are validated here (422 at once, 404 and 412
 * against the stored version) and applied by the persist worker in order per
 * recipe, which re-checks them (persist_recipes.c); reads come from
 * PostgreSQL. Versions give ETags; If-Match makes PUT, PATCH and DELETE
 * conditional so two editors cannot silently overwrite each other. */
#include "collection.h"
#include "cursor.h"
#include "envelope.h"
#include "events.h"
#include "http.h"
#include "reads.h"
#include "mergepatch.h"
#include "recipe.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"
#include "write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 100

#define RECIPE_COLUMNS                                                                             \
    "id::text, doc::text, version, "                                                               \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "(extract(epoch FROM created_at) * 1000000)::bigint"

/* One row as the API's recipe: the document plus id, version and times. */
static json_t *recipe_row(const PGresult *res, int row)
{
    json_t *doc = json_loads(PQgetvalue(res, row, 1), 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    json_object_set_new(doc, "id", json_string(PQgetvalue(res, row, 0)));
    json_object_set_new(doc, "version", json_integer(strtoll(PQgetvalue(res, row, 2), NULL, 10)));
    json_object_set_new(doc, "created_at", json_string(PQgetvalue(res, row, 3)));
    json_object_set_new(doc, "updated_at", json_string(PQgetvalue(res, row, 4)));
    return doc;
}

/* 0 found (*out a new reference, *version set), 1 not found, -1 database
 * unavailable. */
static int fetch_recipe(struct request *req, json_t **out, long long *version)
{
    struct uuid u;
    if (uuid_parse(req->param, &u) != 0)
        return 1;
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(
        req->app, "SELECT " RECIPE_COLUMNS " FROM recipes WHERE id = $1::uuid AND tenant = $2", 2,
        params, &transient);
    if (!res)
        return -1;
    int rc = PQntuples(res) == 0 ? 1 : 0;
    if (rc == 0) {
        *version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        if (out)
            *out = recipe_row(res, 0);
    }
    PQclear(res);
    return rc;
}

static void etag_of(long long version, char out[32])
{
    snprintf(out, 32, "\"%lld\"", version);
}

static enum MHD_Result respond_recipe(struct request *req, unsigned status, json_t *recipe,
                                      bool applied)
{
    char etag[32], location[64];
    etag_of(json_integer_value(json_object_get(recipe, "version")), etag);
    snprintf(location, sizeof(location), "/v1/recipes/%s",
             json_string_value(json_object_get(recipe, "id")));
    const char *headers[] = {
        "ETag", etag, "Location", location, applied ? "Preference-Applied" : NULL, "wait", NULL};
    return http_respond_json(req, status, recipe, headers);
}

static enum MHD_Result not_found(struct request *req)
{
    return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Recipe not found",
                                "No recipe has this id.", NULL, NULL);
}

/* The answer to a recipe write once Kafka (and, when asked, the worker) spoke. */
static enum MHD_Result recipe_written(struct request *req, const struct wait_result *r)
{
    const char *applied[] = {"Preference-Applied", "wait", NULL};
    bool is_delete = strcmp(req->method, "DELETE") == 0;
    if (r->outcome == WAIT_REJECTED) {
        unsigned status = r->status == 404 || r->status == 412 ? (unsigned)r->status : 422;
        return http_respond_problem(req, status, "rejected-by-worker", "Write rejected", r->error,
                                    NULL, applied);
    }
    if (r->outcome == WAIT_CREATED || r->outcome == WAIT_EXISTS) {
        if (is_delete)
            return http_respond(req, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, applied);
        json_t *recipe = NULL;
        long long version;
        if (fetch_recipe(req, &recipe, &version) == 0) {
            bool created = strcmp(req->method, "POST") == 0 && r->outcome == WAIT_CREATED;
            return respond_recipe(req, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, recipe, true);
        }
    }
    char location[16 + HTTP_PARAM_MAX];
    snprintf(location, sizeof(location), "/v1/recipes/%s", req->param);
    const char *headers[] = {"Location", location, NULL};
    return http_respond_json(req, MHD_HTTP_ACCEPTED,
                             json_pack("{s:s, s:s}", "id", req->param, "status", "accepted"),
                             headers);
}

/* Produces one recipe write; doc is borrowed. */
static enum MHD_Result produce_recipe(struct request *req, const char *operation,
                                      long long if_version, json_t *doc)
{
    int64_t now = time_now_us();
    struct uuid u;
    if (uuid_v7(&u, (uint64_t)(now / 1000)) != 0)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "No random bytes for an id.", NULL, NULL);
    uuid_format(&u, req->id);
    size_t len;
    struct envelope_origin origin = write_origin(req);
    char *value =
        envelope_build_recipe(req->id, &origin, now, operation, req->param, if_version, doc, &len);
    if (!value)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Could not encode the write.", NULL, NULL);
    return write_start(req, ingest_topic(req->app, "recipes"), req->param, strlen(req->param),
                       value, len, waiters_parse_prefer(http_header(req, "Prefer")),
                       recipe_written);
}

/* If-Match: -1 when absent or a star, the version for a quoted number (weak
 * or strong), -2 when it is not a version this API gave. */
static long long parse_if_match(const char *h)
{
    if (!h || strcmp(h, "*") == 0)
        return -1;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    char *end;
    errno = 0;
    long long v = h[0] == '"' ? strtoll(h + 1, &end, 10) : -2;
    if (v < 1 || errno || end[0] != '"' || end[1] != '\0')
        return -2;
    return v;
}

/* The checks PUT, PATCH and DELETE share: the recipe exists and If-Match
 * holds. Returns 0 to go on (the stored recipe in *stored), or an answer queued. */
static int precondition(struct request *req, long long *if_version, json_t **stored,
                        enum MHD_Result *answered)
{
    *if_version = parse_if_match(http_header(req, "If-Match"));
    long long version = 0;
    int found = fetch_recipe(req, stored, &version);
    if (found < 0) {
        *answered = reads_failed(req, true);
        return -1;
    }
    if (found > 0) {
        *answered = not_found(req);
        return -1;
    }
    if (*if_version == -2 || (*if_version > 0 && *if_version != version)) {
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "If-Match does not match the recipe's current ETag \"%lld\"; read it again "
                 "and reapply your change.",
                 version);
        json_decref(*stored);
        *stored = NULL;
        *answered = http_respond_problem(req, MHD_HTTP_PRECONDITION_FAILED, "precondition-failed",
                                         "Precondition failed", detail, NULL, NULL);
        return -1;
    }
    return 0;
}

/* Parses and validates a whole recipe body, answering 415/400/422 itself. */
static json_t *recipe_body(struct request *req, enum MHD_Result *answered)
{
    if (!validate_json_content_type(http_header(req, "Content-Type"))) {
        *answered = http_respond_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                         "unsupported-media-type", "Unsupported media type",
                                         "Send the recipe as application/json.", NULL, NULL);
        return NULL;
    }
    json_t *body = http_body_object(req, answered);
    if (!body)
        return NULL;
    struct problem_errors pe = {0};
    if (recipe_validate(body, &pe) > 0) {
        *answered =
            http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "validation",
                                 "Invalid recipe", "One or more fields are invalid.", &pe, NULL);
        problem_errors_free(&pe);
        json_decref(body);
        return NULL;
    }
    return body;
}

static enum MHD_Result recipes_post(struct request *req)
{
    enum MHD_Result answered;
    json_t *body = recipe_body(req, &answered);
    if (!body)
        return answered;
    const char *key = http_header(req, "Idempotency-Key");
    struct uuid u;
    if (key && !validate_idempotency_key(key)) {
        json_decref(body);
        return http_respond_problem(
            req, MHD_HTTP_BAD_REQUEST, "invalid-idempotency-key", "Invalid idempotency key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.", NULL, NULL);
    }
    if (key) {
        char name[600];
        int n = snprintf(name, sizeof(name), TENANT_DEFAULT_KEY_OWNER "\nrecipes\n%s", key);
        tenant_uuid(req->principal.tenant, name, (size_t)n, req->param);
    } else if (uuid_v7(&u, (uint64_t)(time_now_us() / 1000)) != 0) {
        json_decref(body);
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "No random bytes for an id.", NULL, NULL);
    }
    uuid_format(&u, req->param);
    enum MHD_Result ret = produce_recipe(req, "create", -1, body);
    json_decref(body);
    return ret;
}

static enum MHD_Result recipes_get(struct request *req)
{
    json_t *recipe = NULL;
    long long version;
    int found = fetch_recipe(req, &recipe, &version);
    if (found < 0)
        return reads_failed(req, true);
    if (found > 0)
        return not_found(req);
    return respond_recipe(req, MHD_HTTP_OK, recipe, false);
}

static enum MHD_Result recipes_put(struct request *req)
{
    enum MHD_Result answered;
    json_t *body = recipe_body(req, &answered);
    if (!body)
        return answered;
    long long if_version;
    json_t *stored = NULL;
    if (precondition(req, &if_version, &stored, &answered) != 0) {
        json_decref(body);
        return answered;
    }
    json_decref(stored);
    enum MHD_Result ret = produce_recipe(req, "replace", if_version, body);
    json_decref(body);
    return ret;
}

static enum MHD_Result recipes_patch(struct request *req)
{
    const char *ct = http_header(req, "Content-Type");
    size_t ctlen = ct ? strcspn(ct, "; ") : 0;
    if (!ct || !(ctlen == 28 && strncasecmp(ct, "application/merge-patch+json", 28) == 0) ||
        !validate_json_content_type(ct))
        return http_respond_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",
                                    "Unsupported media type",
                                    "Send a JSON Merge Patch as application/merge-patch+json.",
                                    NULL, NULL);
    enum MHD_Result answered;
    json_t *patch = http_body_object(req, &answered);
    if (!patch)
        return answered;
    long long if_version;
    json_t *stored = NULL;
    if (precondition(req, &if_version, &stored, &answered) != 0) {
        json_decref(patch);
        return answered;
    }
    /* Check the merge against the recipe as it is now; the worker checks it
     * again against the recipe as it is when the patch applies. */
    static const char *const server_fields[] = {"id", "version", "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
        json_object_del(stored, server_fields[i]);
    json_t *merged = mergepatch_apply(stored, patch);
    json_decref(stored);
    struct problem_errors pe = {0};
    enum MHD_Result ret;
    if (recipe_validate(merged, &pe) > 0)
        ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "validation",
                                   "Invalid recipe after patch",
                                   "The patched recipe would not be valid.", &pe, NULL);
    else
        ret = produce_recipe(req, "patch", if_version, patch);
    problem_errors_free(&pe);
    json_decref(merged);
    json_decref(patch);
    return ret;
}

static enum MHD_Result recipes_delete(struct request *req)
{
    enum MHD_Result answered;
    long long if_version;
    json_t *stored = NULL;
    if (precondition(req, &if_version, &stored, &answered) != 0)
        return answered;
    json_decref(stored);
    return produce_recipe(req, "delete", if_version, NULL);
}

static enum MHD_Result recipes_search(struct request *req)
{
    struct problem_errors pe = {0};
    const char *params[6];
    int n = 0;
    struct buf sql = {0}, like = {0};
    char lowered[2][501]; /* at most 500 bytes and the NUL */
    buf_puts(&sql, "SELECT " RECIPE_COLUMNS " FROM recipes WHERE tenant = $1");
    params[n++] = req->principal.tenant;
    static const char *const names[] = {"ingredient", "tag"};
    static const char *const conds[] = {"ingredient_names @> ARRAY[lower($%d)]",
                                        "tags @> ARRAY[lower($%d)]"};
    for (int i = 0; i < 2; i++) {
        const char *v = http_query(req, names[i]);
        if (!v || !*v)
            continue;
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "#/query/%s", names[i]);
        if (!validate_utf8(v) || strlen(v) >= sizeof(lowered[i])) {
            problem_errors_add(&pe, ptr, "must be valid UTF-8 of at most 500 bytes");
            continue;
        }
        snprintf(lowered[i], sizeof(lowered[i]), "%s", v);
        params[n++] = lowered[i];
        buf_puts(&sql, " AND ");
        buf_printf(&sql, conds[i], n);
    }
    const char *q = http_query(req, "q");
    if (q && *q) {
        if (!validate_utf8(q)) {
            problem_errors_add(&pe, "#/query/q", "must be valid UTF-8");
        } else {
            reads_like_pattern(q, &like);
            params[n++] = like.data;
            buf_printf(&sql, " AND search_text LIKE lower($%d)", n);
        }
    }
    struct page_params page;
    reads_page_params(req, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, &page, &pe);
    long limit = page.limit;
    if (page.has_cursor) {
        params[n++] = page.after_ts;
        params[n++] = page.after_id;
        buf_printf(&sql, " AND (created_at, id) > ($%d::timestamptz, $%d::uuid)", n - 1, n);
    }
    enum MHD_Result ret;
    if (pe.count) {
        ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-query",
                                   "Invalid query parameters",
                                   "One or more query parameters are invalid.", &pe, NULL);
        goto out;
    }
    buf_printf(&sql, " ORDER BY recipes.created_at, recipes.id LIMIT %ld", limit + 1);
    bool transient;
    PGresult *res = reads_query(req->app, sql.data, n, params, &transient);
    ret = res ? http_respond_json(req, MHD_HTTP_OK, reads_page(res, limit, recipe_row, 0, 5), NULL)
              : reads_failed(req, transient);
    PQclear(res);
out:
    problem_errors_free(&pe);
    buf_free(&sql);
    buf_free(&like);
    return ret;
}

/* A recipe record: an "id" (a UUID, or any text) names the recipe, so
 * importing the same file twice creates nothing new. */
static char *recipes_import(const struct import_record *rec, char id[UUID_STR_LEN], char *why,
                            size_t whylen, size_t *len, bool *keyed)
{
    json_t *obj = rec->obj;
    *keyed = true; /* a recipe's versions follow one another */
    if (collection_import_id(rec->origin->tenant, "recipes", obj, id, why, whylen) != 0)
        return NULL;
    struct problem_errors pe = {0};
    if (recipe_validate(obj, &pe) > 0) {
        problem_errors_first(&pe, why, whylen);
        problem_errors_free(&pe);
        return NULL;
    }
    char write_id[UUID_STR_LEN];
    struct uuid u;
    if (uuid_v7(&u, (uint64_t)(time_now_us() / 1000)) != 0)
        return NULL;
    uuid_format(&u, write_id);
    return envelope_build_recipe(write_id, rec->origin, time_now_us(), "create", id, -1, obj, len);
}

/* The recipes collection's endpoints and import: its row's http in lib/collection.c. */
static const struct route endpoints[] = {
    {"POST", "/v1/recipes", SCOPE_RECIPES_WRITE, recipes_post, NULL, 0, 0},
    {"GET", "/v1/recipes", SCOPE_RECIPES_READ, recipes_search, NULL, ROUTE_ON_DB, 0},
    {"GET", "/v1/recipes/{id}", SCOPE_RECIPES_READ, recipes_get, NULL, ROUTE_ON_DB, 0},
    /* Checked against the stored recipe (404, 412) before producing. */
    {"PUT", "/v1/recipes/{id}", SCOPE_RECIPES_WRITE, recipes_put, NULL, ROUTE_ON_DB, 0},
    {"PATCH", "/v1/recipes/{id}", SCOPE_RECIPES_WRITE, recipes_patch, NULL, ROUTE_ON_DB, 0},
    {"DELETE", "/v1/recipes/{id}", SCOPE_RECIPES_WRITE, recipes_delete, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
const struct collection_http recipes_http = {.routes = endpoints, .import = recipes_import};
