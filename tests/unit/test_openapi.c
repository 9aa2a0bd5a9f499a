/* Unit test: /openapi.json describes exactly the route table, method by
 * method, so the document cannot drift from what the server answers. */
#include "routes.h"

#include "check_main.h"

#include <check.h>
#include <jansson.h>
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

int main(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_route_is_documented);
    tcase_add_test(tc, test_every_documented_operation_is_routed);
    suite_add_tcase(s, tc);
    return check_run(s);
}
