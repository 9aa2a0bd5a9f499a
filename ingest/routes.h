/* routes: the HTTP API as tables of {method, pattern, handler}.
 *
 * Each table sits beside its handlers: ingest's own (imports in bulk.c,
 * operations in ops.c) and each collection's, named by its row in
 * lib/collection.c; routes_all joins them into the one table http.c
 * matches. Patterns are literal path segments with at most one "{name}"
 * segment, whose text is handed to the handler. Adding an endpoint is its
 * handler and one row, which names its scope; a handler that reads
 * PostgreSQL says so with ROUTE_ON_DB. Matching is pure and unit-tested. */
#ifndef SLUICE_ROUTES_H
#define SLUICE_ROUTES_H

#include "auth.h"
#include "collection.h"
#include "http.h"

#include <stddef.h>

struct route {
    const char *method;
    const char *pattern;
    /* The scope a request needs (enum scope, auth.h); SCOPE_PUBLIC: none.
     * Which scopes are public by default is the policy's (auth.h), not
     * the table's: the table says what each route is. */
    unsigned scope;
    request_fn handler; /* answers once the whole body is in */
    /* For a streaming route: runs when the headers are in, sets req->feed
     * (or answers at once). NULL: the body is buffered, up to the limit. */
    request_fn begin;
    unsigned flags; /* enum route_flag */
    /* The largest body it takes, in KiB, when smaller than
     * SLUICE_MAX_BODY_BYTES (0: that setting): what a route reads is small,
     * and a client sending more is told at once (413) rather than buffered. */
    unsigned max_body_kib;
};

enum route_flag {
    /* The handler runs on the database pool, off the event threads (it
     * reads PostgreSQL); it answers as usual, see http_defer. */
    ROUTE_ON_DB = 1u << 0,
    /* The handler decodes a Content-Encoding itself (bulk import: gzip);
     * other routes answer 415 to one. */
    ROUTE_TAKES_ENCODING = 1u << 1,
};

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED };

/* Ingest's own route tables (each ends with a row whose method is NULL),
 * defined beside their handlers: imports (bulk.c), assistance deliveries
 * (deliveries.c), dead letters (dlq.c), API keys (keys.c), operations
 * (ops.c), where everything stands (status.c). */
extern const struct route bulk_routes[], deliveries_routes[], dlq_routes[], keys_routes[],
    ops_routes[], status_routes[];

/* Every route: ingest's own and each collection's (collection.h), in one
 * table the caller frees; NULL when out of memory. */
struct route *routes_all(size_t *count);

/* On ROUTE_FOUND sets *out and copies the {param} segment into param; on
 * ROUTE_METHOD_NOT_ALLOWED lists the path's methods in allow ("GET, POST").
 * HEAD matches GET routes. */
enum route_result route_match(const struct route *table, size_t n, const char *method,
                              const char *path, const struct route **out, char *param,
                              size_t paramlen, char *allow, size_t allowlen);

/* Ingest begins to stop: parked uploads are resumed and no upload produces
 * or parks again; each is answered 503 once its body is in (bulk.c). */
void bulk_close(void);

#endif
