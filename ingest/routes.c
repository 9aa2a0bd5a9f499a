#include "routes.h"

#include "collection.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ingest's own route tables, each beside its handlers; a collection's are
 * named by its row in lib/collection.c. ROUTE_ON_DB: every route whose
 * handler queries PostgreSQL (reads, and the writes that check the stored
 * record first), so that a slow or silent database holds a pool thread,
 * never an event thread. */
static const struct route *const own_tables[] = {bulk_routes, deliveries_routes, dlq_routes,
                                                 keys_routes, ops_routes,        status_routes};
enum { OWN_TABLES = sizeof(own_tables) / sizeof(own_tables[0]) };

static const struct route *collection_routes(const struct collection *c)
{
    return c->http ? c->http->routes : NULL;
}

/* The i-th table: ingest's own first, then each collection's. */
static const struct route *table_at(size_t i)
{
    return i < OWN_TABLES ? own_tables[i] : collection_routes(&collections[i - OWN_TABLES]);
}

struct route *routes_all(size_t *count)
{
    size_t tables = OWN_TABLES + collection_count, n = 0;
    for (size_t i = 0; i < tables; i++) {
        for (const struct route *r = table_at(i); r && r->method; r++)
            n++;
    }
    struct route *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < tables; i++) {
        for (const struct route *r = table_at(i); r && r->method; r++)
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
