/* Unit test: /openapi.json describes exactly the route table, method by
 * method, so the document cannot drift from what the server answers. */
#include "routes.h"

#include "check_main.h"

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const char openapi_json[];

static json_t *load_doc(void)
{
    json_error_t err;
    json_t *doc = json_loads(openapi_json, 0, &err);
    ck_assert_msg(doc != NULL, "ingest/openapi.json is not JSON: %s (line %d)", err.text, err.line);
    return doc;
}

static void lower(const char *in, char *out, size_t outlen)
{
    size_t i = 0;
    for (; in[i] && i + 1 < outlen; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

/* The table ingest serves: its own routes and every collection's. */
static struct route *routes;
static size_t route_count;

static void routes_setup(void)
{
    routes = routes_all(&route_count);
    ck_assert_ptr_nonnull(routes);
}

static void routes_teardown(void)
{
    free(routes);
}

START_TEST(test_every_route_is_documented)
{
    json_t *doc = load_doc();
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < route_count; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof(method));
        json_t *item = json_object_get(paths, routes[i].pattern);
        ck_assert_msg(item != NULL, "route %s %s is missing from openapi.json paths",
                      routes[i].method, routes[i].pattern);
        ck_assert_msg(json_object_get(item, method) != NULL,
                      "route %s %s: openapi.json has the path but not the method", routes[i].method,
                      routes[i].pattern);
    }
    json_decref(doc);
}
END_TEST

/* Each operation's security names the route's scope (x-scope, and the
 * scope list of each requirement); a public route's security is empty. */
START_TEST(test_security_follows_the_route_table)
{
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < route_count; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof(method));
        json_t *op = json_object_get(json_object_get(paths, routes[i].pattern), method);
        json_t *security = json_object_get(op, "security");
        ck_assert_msg(json_is_array(security), "%s %s: no security in openapi.json",
                      routes[i].method, routes[i].pattern);
        const char *scope = scope_name(routes[i].scope);
        if (!scope) {
            ck_assert_msg(json_array_size(security) == 0,
                          "%s %s is public in the route table but openapi.json asks for "
                          "credentials",
                          routes[i].method, routes[i].pattern);
            continue;
        }
        const char *x_scope = json_string_value(json_object_get(op, "x-scope"));
        ck_assert_msg(x_scope && strcmp(x_scope, scope) == 0,
                      "%s %s needs %s in the route table, openapi.json says %s", routes[i].method,
                      routes[i].pattern, scope, x_scope ? x_scope : "nothing");
        size_t j;
        json_t *req;
        json_array_foreach(security, j, req)
        {
            const char *scheme;
            json_t *scopes;
            json_object_foreach(req, scheme, scopes)
            {
                if (strcmp(scheme, "webhookSignature") == 0)
                    continue;
                ck_assert_msg(json_array_size(scopes) == 1 &&
                                  strcmp(json_string_value(json_array_get(scopes, 0)), scope) == 0,
                              "%s %s: security scheme %s should list exactly %s", routes[i].method,
                              routes[i].pattern, scheme, scope);
            }
        }
    }
    json_decref(doc);
}
END_TEST

START_TEST(test_every_documented_operation_is_routed)
{
    json_t *doc = load_doc();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            size_t i = 0;
            while (i < route_count && (strcmp(routes[i].pattern, path) != 0 ||
                                       strcasecmp(routes[i].method, method) != 0))
                i++;
            ck_assert_msg(i < route_count, "openapi.json documents %s %s, which no route serves",
                          method, path);
        }
    }
    json_decref(doc);
}
END_TEST

/* What the route table says an operation can answer is in its responses:
 * statuses as three digits, a success among them, 503 (database-busy,
 * database-unavailable) on every route that runs on the database pool and
 * (broker-unavailable) on every write. docs/api.md lists the same statuses
 * per operation (tests/integration/test_docs.py). */
START_TEST(test_responses_follow_the_route_table)
{
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < route_count; i++) {
        char method[16];
        lower(routes[i].method, method, sizeof(method));
        json_t *responses = json_object_get(
            json_object_get(json_object_get(paths, routes[i].pattern), method), "responses");
        ck_assert_msg(json_object_size(responses) > 0, "%s %s: no responses in openapi.json",
                      routes[i].method, routes[i].pattern);
        const char *status;
        json_t *r;
        bool success = false;
        json_object_foreach(responses, status, r)
        {
            ck_assert_msg(strlen(status) == 3 && status[0] >= '1' && status[0] <= '5' &&
                              strspn(status, "0123456789") == 3,
                          "%s %s: response \"%s\" is not an HTTP status", routes[i].method,
                          routes[i].pattern, status);
            success = success || status[0] == '2';
        }
        ck_assert_msg(success, "%s %s: no 2xx response", routes[i].method, routes[i].pattern);
        bool write = strcmp(routes[i].method, "GET") != 0 && strcmp(routes[i].method, "HEAD") != 0;
        if ((routes[i].flags & ROUTE_ON_DB) || write)
            ck_assert_msg(json_object_get(responses, "503") != NULL,
                          "%s %s %s, so it can answer 503: openapi.json must say so",
                          routes[i].method, routes[i].pattern,
                          write ? "is a write" : "runs on the database pool");
    }
    json_decref(doc);
}
END_TEST

/* The parameter `name` of an operation (borrowed), or NULL. */
static json_t *param(json_t *doc, const char *path, const char *method, const char *name)
{
    json_t *params = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "paths"), path), method),
        "parameters");
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return p;
    }
    return NULL;
}

static const char *description(json_t *p)
{
    const char *d = json_string_value(json_object_get(p, "description"));
    return d ? d : "";
}

/* Issue 9: what a client must know is written down, not left to guess. */
START_TEST(test_documents_bounds_time_field_and_outcomes)
{
    json_t *doc = load_doc();
    static const char *const queries[] = {"/v1/events", "/v1/"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_msg(strstr(description(param(doc, queries[i], "get", "after")), "inclusive"),
                      "GET %s: after must say it is inclusive", queries[i]);
        ck_assert_msg(strstr(description(param(doc, queries[i], "get", "before")), "exclusive"),
                      "GET %s: before must say it is exclusive", queries[i]);
    }
    static const char *const writes[] = {"/v1/events", "/v1/bulk"};
    for (size_t i = 0; i < 2; i++) {
        const char *d = description(param(doc, writes[i], "post", "time_field"));
        ck_assert_msg(strstr(d, "JSON Pointer") && strstr(d, "occurred_at, timestamp, date, "
                                                             "created_at, time"),
                      "POST %s: time_field and the recognised names must be documented", writes[i]);
    }
    const char *bulk = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "paths"), "/v1/bulk"), "post"),
        "description"));
    ck_assert_msg(bulk && strstr(bulk, "without an id") && strstr(bulk, "canonical JSON"),
                  "POST /v1/bulk must say how a record without an id gets its identity");
    json_t *imp = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Import"),
        "properties");
    static const char *const counts[] = {"persisted", "created", "updated", "unchanged", "dropped"};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        ck_assert_msg(json_object_get(imp, counts[i]), "Import lacks %s", counts[i]);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, routes_setup, routes_teardown);
    tcase_add_test(tc, test_every_route_is_documented);
    tcase_add_test(tc, test_every_documented_operation_is_routed);
    tcase_add_test(tc, test_security_follows_the_route_table);
    tcase_add_test(tc, test_responses_follow_the_route_table);
    tcase_add_test(tc, test_documents_bounds_time_field_and_outcomes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
