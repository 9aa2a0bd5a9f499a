/* Unit tests for ingest/routes.c: matching of {method, pattern} rows, literal
 * patterns owning their paths, {param} capture, HEAD as GET, 404 and 405 with
 * Allow; on a table of our own and on the real one. */
#include "routes.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dummy handlers: only their addresses matter. */
static enum MHD_Result h_list(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_create(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_get(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_delete(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_parts(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_slug(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_about(struct request *req)
{
    (void)req;
    return MHD_YES;
}
static enum MHD_Result h_root(struct request *req)
{
    (void)req;
    return MHD_YES;
}

static const struct route table[] = {
    {"GET", "/items", 0, h_list, NULL, 0, 0},
    {"POST", "/items", 0, h_create, NULL, 0, 0},
    {"GET", "/items/{id}", 0, h_get, NULL, 0, 0},
    {"DELETE", "/items/{id}", 0, h_delete, NULL, 0, 0},
    {"GET", "/items/{id}/parts", 0, h_parts, NULL, 0, 0},
    {"GET", "/{slug}", 0, h_slug, NULL, 0, 0},
    {"GET", "/about", 0, h_about, NULL, 0, 0}, /* after /{slug}, yet the literal wins */
    {"GET", "/", 0, h_root, NULL, 0, 0},
};
#define TABLE_N (sizeof(table) / sizeof(table[0]))

struct outcome {
    enum route_result result;
    const struct route *route;
    char param[HTTP_PARAM_MAX];
    char allow[128];
};

static const char *result_name(enum route_result r)
{
    switch (r) {
    case ROUTE_FOUND:
        return "FOUND";
    case ROUTE_NOT_FOUND:
        return "NOT_FOUND";
    case ROUTE_METHOD_NOT_ALLOWED:
        return "METHOD_NOT_ALLOWED";
    }
    return "?";
}

static struct outcome match(const struct route *t, size_t n, const char *method, const char *path)
{
    struct outcome o;
    memset(&o, 0, sizeof(o));
    /* Exact-size heap copies: AddressSanitizer catches reads past the end. */
    char *m = strdup(method), *p = strdup(path);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(p);
    o.result =
        route_match(t, n, m, p, &o.route, o.param, sizeof(o.param), o.allow, sizeof(o.allow));
    free(m);
    free(p);
    return o;
}

static void assert_found(const struct route *t, size_t n, const char *method, const char *path,
                         request_fn want, const char *want_param)
{
    struct outcome o = match(t, n, method, path);
    ck_assert_msg(o.result == ROUTE_FOUND, "%s %s: expected FOUND, got %s (allow \"%s\")", method,
                  path, result_name(o.result), o.allow);
    ck_assert_msg(o.route != NULL && o.route->handler == want,
                  "%s %s: matched the row %s %s, not the expected handler", method, path,
                  o.route ? o.route->method : "-", o.route ? o.route->pattern : "-");
    ck_assert_msg(strcmp(o.param, want_param) == 0, "%s %s: param \"%s\", expected \"%s\"", method,
                  path, o.param, want_param);
}

static void assert_not_found(const struct route *t, size_t n, const char *method, const char *path)
{
    struct outcome o = match(t, n, method, path);
    ck_assert_msg(o.result == ROUTE_NOT_FOUND,
                  "%s %s: expected NOT_FOUND, got %s (%s, allow \"%s\")", method, path,
                  result_name(o.result), o.route ? o.route->pattern : "-", o.allow);
}

static void assert_not_allowed(const struct route *t, size_t n, const char *method,
                               const char *path, const char *want_allow)
{
    struct outcome o = match(t, n, method, path);
    ck_assert_msg(o.result == ROUTE_METHOD_NOT_ALLOWED,
                  "%s %s: expected METHOD_NOT_ALLOWED, got %s (%s)", method, path,
                  result_name(o.result), o.route ? o.route->pattern : "-");
    ck_assert_msg(strcmp(o.allow, want_allow) == 0, "%s %s: Allow \"%s\", expected \"%s\"", method,
                  path, o.allow, want_allow);
}

/* ---- our own table ----------------------------------------------------- */

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

/* Handlers are private to their files: the row serving
 * method and pattern names them here. */
static request_fn handler_of(const char *method, const char *pattern)
{
    for (size_t i = 0; i < route_count; i++) {
        if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
            return routes[i].handler;
    }
    ck_abort_msg("no route %s %s", method, pattern);
    return NULL;
}
#define events_post handler_of("POST", "/v1/events")
#define events_query handler_of("GET", "/v1/events")
#define events_get handler_of("GET", "/v1/events/{id}")
#define ops_healthz handler_of("GET", "/healthz")
#define ops_readyz handler_of("GET", "/readyz")
#define ops_metrics handler_of("GET", "/metrics")
#define ops_openapi handler_of("GET", "/openapi.json")

START_TEST(test_literal_paths)
{
    assert_found(table, TABLE_N, "GET", "/items", h_list, "");
    assert_found(table, TABLE_N, "POST", "/items", h_create, "");
    assert_found(table, TABLE_N, "GET", "/about", h_about, "");
    assert_found(table, TABLE_N, "GET", "/", h_root, "");
}
END_TEST

START_TEST(test_param_paths)
{
    assert_found(table, TABLE_N, "GET", "/items/42", h_get, "42");
    assert_found(table, TABLE_N, "DELETE", "/items/42", h_delete, "42");
    assert_found(table, TABLE_N, "GET", "/items/42/parts", h_parts, "42");
    assert_found(table, TABLE_N, "GET", "/items/a-b_c.d~e%20f", h_get, "a-b_c.d~e%20f");
    assert_found(table, TABLE_N, "GET", "/items/caf\xc3\xa9", h_get, "caf\xc3\xa9");
    assert_found(table, TABLE_N, "GET", "/whatever", h_slug, "whatever");
    assert_found(table, TABLE_N, "GET", "/items-not", h_slug, "items-not");
    assert_found(table, TABLE_N, "GET", "/abou", h_slug, "abou");
    assert_found(table, TABLE_N, "GET", "/aboutx", h_slug, "aboutx");
}
END_TEST

START_TEST(test_literal_beats_param)
{
    /* "/items" is never the slug "items", wherever the rows are. */
    assert_found(table, TABLE_N, "GET", "/items", h_list, "");
    assert_found(table, TABLE_N, "GET", "/about", h_about, "");
    /* A literal path with another method is a 405 for that literal, not a
     * fallback to the {slug} row. */
    assert_not_allowed(table, TABLE_N, "POST", "/about", "GET");
}
END_TEST

START_TEST(test_head_is_get)
{
    assert_found(table, TABLE_N, "HEAD", "/items", h_list, "");
    assert_found(table, TABLE_N, "HEAD", "/items/7", h_get, "7");
    assert_found(table, TABLE_N, "HEAD", "/whatever", h_slug, "whatever");
}
END_TEST

START_TEST(test_method_not_allowed)
{
    assert_not_allowed(table, TABLE_N, "PUT", "/items", "GET, POST");
    assert_not_allowed(table, TABLE_N, "DELETE", "/items", "GET, POST");
    assert_not_allowed(table, TABLE_N, "PATCH", "/items/42", "GET, DELETE");
    assert_not_allowed(table, TABLE_N, "POST", "/items/42/parts", "GET");
    assert_not_allowed(table, TABLE_N, "BREW", "/items", "GET, POST");
    /* Methods are case-sensitive (RFC 9110 section 9.1). */
    assert_not_allowed(table, TABLE_N, "get", "/items", "GET, POST");
    assert_not_allowed(table, TABLE_N, "", "/items", "GET, POST");
}
END_TEST

START_TEST(test_not_found)
{
    assert_not_found(table, TABLE_N, "GET", "");
    assert_not_found(table, TABLE_N, "GET", "items");
    assert_not_found(table, TABLE_N, "GET", "//");
    assert_not_found(table, TABLE_N, "GET", "/items/");    /* empty {id} */
    assert_not_found(table, TABLE_N, "GET", "/items//");   /* empty {id} */
    assert_not_found(table, TABLE_N, "GET", "/items/42/"); /* trailing slash */
    assert_not_found(table, TABLE_N, "GET", "/items/42/parts/");
    assert_not_found(table, TABLE_N, "GET", "/items/42/other");
    assert_not_found(table, TABLE_N, "GET", "/items/42/parts/9");
    assert_not_found(table, TABLE_N, "GET", "/items//parts");
    assert_not_found(table, TABLE_N, "GET", "/Items/42");
    assert_not_found(table, TABLE_N, "GET", "/a/b/c/d");
    assert_not_found(table, TABLE_N, "POST", "/nothing/here");
    assert_not_found(table, 0, "GET", "/items"); /* an empty table */
}
END_TEST

START_TEST(test_param_length_limit)
{
    /* The {param} segment must fit HTTP_PARAM_MAX with its NUL. */
    char path[HTTP_PARAM_MAX + 16];
    snprintf(path, sizeof(path), "/items/");
    size_t base = strlen(path);
    memset(path + base, 'p', HTTP_PARAM_MAX - 1);
    path[base + HTTP_PARAM_MAX - 1] = '\0';
    struct outcome o = match(table, TABLE_N, "GET", path);
    ck_assert_msg(o.result == ROUTE_FOUND, "a %d-byte id should match", HTTP_PARAM_MAX - 1);
    ck_assert_uint_eq(strlen(o.param), HTTP_PARAM_MAX - 1);
    path[base + HTTP_PARAM_MAX - 1] = 'p';
    path[base + HTTP_PARAM_MAX] = '\0';
    o = match(table, TABLE_N, "GET", path);
    ck_assert_msg(o.result == ROUTE_NOT_FOUND, "a %d-byte id should not match (got %s)",
                  HTTP_PARAM_MAX, result_name(o.result));

    /* A very long path is simply not found. */
    size_t big = 100000;
    char *huge = malloc(big + 1);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', big);
    huge[0] = '/';
    huge[big] = '\0';
    o = match(table, TABLE_N, "GET", huge);
    ck_assert_int_eq(o.result, ROUTE_NOT_FOUND);
    free(huge);
}
END_TEST

START_TEST(test_found_small_param_buffer)
{
    /* A caller's param buffer smaller than HTTP_PARAM_MAX is still filled. */
    const struct route *r = NULL;
    char param[4], allow[64];
    enum route_result res = route_match(table, TABLE_N, "GET", "/items/5", &r, param, sizeof(param),
                                        allow, sizeof(allow));
    ck_assert_int_eq(res, ROUTE_FOUND);
    ck_assert_str_eq(param, "5");
}
END_TEST

/* ---- the real table ----------------------------------------------------- */

START_TEST(test_real_event_routes)
{
    assert_found(routes, route_count, "POST", "/v1/events", events_post, "");
    assert_found(routes, route_count, "GET", "/v1/events", events_query, "");
    assert_found(routes, route_count, "GET", "/v1/events/abc", events_get, "abc");
    assert_found(routes, route_count, "GET", "/v1/events/018f3406-9e00-7abc-8def-0123456789ab",
                 events_get, "018f3406-9e00-7abc-8def-0123456789ab");
    assert_found(routes, route_count, "HEAD", "/v1/events/abc", events_get, "abc");
    assert_found(routes, route_count, "HEAD", "/v1/events", events_query, "");
}
END_TEST

START_TEST(test_real_events_is_not_an_id)
{
    /* "/v1/events" is the query route, never "/v1/{id}" with id "events". */
    struct outcome o = match(routes, route_count, "GET", "/v1/events");
    ck_assert_int_eq(o.result, ROUTE_FOUND);
    ck_assert_msg(o.route->handler == events_query, "GET /v1/events matched %s %s", o.route->method,
                  o.route->pattern);
    ck_assert_str_eq(o.route->pattern, "/v1/events");
    ck_assert_str_eq(o.param, "");
}
END_TEST

START_TEST(test_real_method_not_allowed)
{
    assert_not_allowed(routes, route_count, "POST", "/v1/events/abc", "GET");
    assert_not_allowed(routes, route_count, "DELETE", "/v1/events/abc", "GET");
    assert_not_allowed(routes, route_count, "PUT", "/v1/events", "POST, GET");
    assert_not_allowed(routes, route_count, "DELETE", "/v1/events", "POST, GET");
    assert_not_allowed(routes, route_count, "POST", "/healthz", "GET");
    assert_not_allowed(routes, route_count, "POST", "/metrics", "GET");
    assert_not_allowed(routes, route_count, "POST", "/v1/abc", "GET");
}
END_TEST

START_TEST(test_real_ops_and_compat)
{
    assert_found(routes, route_count, "GET", "/healthz", ops_healthz, "");
    assert_found(routes, route_count, "GET", "/readyz", ops_readyz, "");
    assert_found(routes, route_count, "GET", "/metrics", ops_metrics, "");
    assert_found(routes, route_count, "GET", "/openapi.json", ops_openapi, "");
    assert_found(routes, route_count, "HEAD", "/healthz", ops_healthz, "");
    /* The seed's original paths. */
    assert_found(routes, route_count, "GET", "/v1/", events_query, "");
    assert_found(routes, route_count, "GET", "/v1/abc", events_get, "abc");
}
END_TEST

START_TEST(test_real_not_found)
{
    static const char *const paths[] = {
        "",
        "/",
        "/nope",
        "/v1",
        "/v1/events/",
        "/v1/events/abc/def",
        "/v1/events//",
        "/v1//",
        "/v2/events",
        "/V1/events",
        "/healthz/",
        "/healthz/x",
        "/metrics.txt",
        "/v1/events/abc/",
        "/v1/abc/def",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        assert_not_found(routes, route_count, "GET", paths[i]);
}
END_TEST

START_TEST(test_real_table_is_well_formed)
{
    ck_assert_uint_gt(route_count, 0);
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &routes[i];
        ck_assert_msg(r->method && r->pattern && r->handler, "row %zu is incomplete", i);
        ck_assert_msg(r->pattern[0] == '/', "row %zu: pattern \"%s\" is not absolute", i,
                      r->pattern);
        ck_assert_msg(strspn(r->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(r->method) &&
                          r->method[0],
                      "row %zu: method \"%s\" is not an upper-case token", i, r->method);
        const char *open = strchr(r->pattern, '{');
        if (open) {
            ck_assert_msg(strchr(open + 1, '{') == NULL, "row %zu: \"%s\" has two parameters", i,
                          r->pattern);
            ck_assert_msg(strchr(open, '}') != NULL, "row %zu: \"%s\" has an unclosed {", i,
                          r->pattern);
        }
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(routes[j].method, r->method) != 0 ||
                              strcmp(routes[j].pattern, r->pattern) != 0,
                          "rows %zu and %zu are both %s %s", j, i, r->method, r->pattern);
    }
}
END_TEST

START_TEST(test_real_every_row_reachable)
{
    /* Each row, with its {param} filled in, is matched to itself. */
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &routes[i];
        char path[256];
        const char *open = strchr(r->pattern, '{');
        if (open) {
            const char *close = strchr(open, '}');
            snprintf(path, sizeof(path), "%.*sx1%s", (int)(open - r->pattern), r->pattern,
                     close + 1);
        } else {
            snprintf(path, sizeof(path), "%s", r->pattern);
        }
        struct outcome o = match(routes, route_count, r->method, path);
        ck_assert_msg(o.result == ROUTE_FOUND, "%s %s (row %zu) is not reachable: %s", r->method,
                      path, i, result_name(o.result));
        ck_assert_msg(o.route->handler == r->handler, "%s %s reached %s %s instead of row %zu",
                      r->method, path, o.route->method, o.route->pattern, i);
        ck_assert_str_eq(o.param, open ? "x1" : "");
    }
}
END_TEST

/* Every read runs on the database pool; nothing that must answer while
 * PostgreSQL is frozen (health, metrics, unkeyed event writes) does. */
START_TEST(test_real_database_routes_are_on_the_pool)
{
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &routes[i];
        bool reads =
            strcmp(r->method, "GET") == 0 && strcmp(r->pattern, "/healthz") != 0 &&
            strcmp(r->pattern, "/metrics") != 0 && strcmp(r->pattern, "/openapi.json") != 0 &&
            strcmp(r->pattern, "/docs") != 0 && strcmp(r->pattern, "/docs/{asset}") != 0 &&
            strcmp(r->pattern, "/console") != 0 && strcmp(r->pattern, "/console/{asset}") != 0;
        if (reads)
            ck_assert_msg(r->flags & ROUTE_ON_DB,
                          "%s %s reads PostgreSQL but runs on an event "
                          "thread (no ROUTE_ON_DB)",
                          r->method, r->pattern);
    }
    static const char *const never[][2] = {
        {"GET", "/healthz"}, {"GET", "/metrics"}, {"POST", "/v1/events"}, {"POST", "/v1/bulk"}};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        struct outcome o = match(routes, route_count, never[i][0], never[i][1]);
        ck_assert_int_eq(o.result, ROUTE_FOUND);
        ck_assert_msg(!(o.route->flags & ROUTE_ON_DB), "%s %s must not wait for the pool",
                      never[i][0], never[i][1]);
    }
    struct outcome bulk = match(routes, route_count, "POST", "/v1/bulk");
    ck_assert(bulk.route->flags & ROUTE_TAKES_ENCODING);
    struct outcome ev = match(routes, route_count, "POST", "/v1/events");
    ck_assert(!(ev.route->flags & ROUTE_TAKES_ENCODING));
}
END_TEST

static Suite *routes_suite(void)
{
    Suite *s = suite_create("routes");
    TCase *own = tcase_create("own_table");
    tcase_add_test(own, test_literal_paths);
    tcase_add_test(own, test_param_paths);
    tcase_add_test(own, test_literal_beats_param);
    tcase_add_test(own, test_head_is_get);
    tcase_add_test(own, test_method_not_allowed);
    tcase_add_test(own, test_not_found);
    tcase_add_test(own, test_param_length_limit);
    tcase_add_test(own, test_found_small_param_buffer);
    suite_add_tcase(s, own);

    TCase *real = tcase_create("real_table");
    tcase_add_checked_fixture(real, routes_setup, routes_teardown);
    tcase_add_test(real, test_real_event_routes);
    tcase_add_test(real, test_real_events_is_not_an_id);
    tcase_add_test(real, test_real_method_not_allowed);
    tcase_add_test(real, test_real_ops_and_compat);
    tcase_add_test(real, test_real_not_found);
    tcase_add_test(real, test_real_table_is_well_formed);
    tcase_add_test(real, test_real_every_row_reachable);
    tcase_add_test(real, test_real_database_routes_are_on_the_pool);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return check_run(routes_suite());
}
