#include "routes.h"

#include "collection.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ingest's own routes; each collection's endpoints are in its row of
 * lib/collection.c, next to its handlers. ROUTE_ON_DB: every route whose
 * handler queries PostgreSQL (reads, and the writes that check the stored
 * record first), so that a slow or silent database holds a pool thread,
 * never an event thread. */
const struct route ingest_routes[] = {
    {"POST", "/v1/bulk", bulk_post, bulk_begin, ROUTE_TAKES_ENCODING},
    {"GET", "/v1/imports/{id}", imports_get, NULL, ROUTE_ON_DB},
    {"GET", "/healthz", ops_healthz, NULL, 0},
    /* Asks PostgreSQL and Kafka, each of which may not answer for a while. */
    {"GET", "/readyz", ops_readyz, NULL, ROUTE_ON_DB},
    {"GET", "/metrics", ops_metrics, NULL, 0},
    {"GET", "/openapi.json", ops_openapi, NULL, 0},
};
const size_t ingest_route_count = sizeof(ingest_routes) / sizeof(ingest_routes[0]);

static const struct route *collection_routes(const struct collection *c)
{
    return c->http ? c->http->routes : NULL;
}

struct route *routes_all(size_t *count)
{
    size_t n = ingest_route_count;
    for (size_t i = 0; i < collection_count; i++) {
        for (const struct route *r = collection_routes(&collections[i]); r && r->method; r++)
            n++;
    }
    struct route *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    memcpy(all, ingest_routes, ingest_route_count * sizeof(*all));
    size_t k = ingest_route_count;
    for (size_t i = 0; i < collection_count; i++) {
        for (const struct route *r = collection_routes(&collections[i]); r && r->method; r++)
            all[k++] = *r;
    }
    *count = n;
    return all;
}

/* Matches path against pattern segment by segment; a "{...}" segment takes
 * one non-empty path segment. */
static bool pattern_match(const char *pattern, const char *path, char *param, size_t paramlen)
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || len >= paramlen)
                return false;
            memcpy(param, s, len);
            param[len] = '\0';
            s += len;
            p = strchr(p, '}');
            if (!p)
                return false;
            p++;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

enum route_result route_match(const struct route *table, size_t n, const char *method,
                              const char *path, const struct route **out, char *param,
                              size_t paramlen, char *allow, size_t allowlen)
{
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    size_t allow_len = 0;
    allow[0] = '\0';
    /* Literal patterns own their paths: "/v1/events" is never "/v1/{id}". */
    for (int pass = 0; pass < 2 && allow_len == 0; pass++) {
        for (size_t i = 0; i < n; i++) {
            bool literal = strchr(table[i].pattern, '{') == NULL;
            char scratch[HTTP_PARAM_MAX] = "";
            if (literal != (pass == 0) ||
                !pattern_match(table[i].pattern, path, scratch, sizeof(scratch)))
                continue;
            if (strcmp(table[i].method, want) == 0) {
                *out = &table[i];
                snprintf(param, paramlen, "%s", scratch);
                return ROUTE_FOUND;
            }
            if (strstr(allow, table[i].method))
                continue;
            int w = snprintf(allow + allow_len, allowlen - allow_len, "%s%s", allow_len ? ", " : "",
                             table[i].method);
            if (w > 0 && (size_t)w < allowlen - allow_len)
                allow_len += (size_t)w;
        }
    }
    return allow_len ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}
