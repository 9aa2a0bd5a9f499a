/* reads: what every GET handler does with PostgreSQL: run a query on a pooled
 * connection, answer a failure (503 when the database is away, 500 when the
 * query itself failed), and shape a keyset page. */
#ifndef SLUICE_READS_H
#define SLUICE_READS_H

#include "buf.h"
#include "http.h"
#include "timeutil.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* Runs sql, waiting at most SLUICE_DB_TIMEOUT_MS for a connection's answer;
 * returns a tuples result the caller clears, or NULL with *transient telling
 * whether the database was away or too slow (logged here). Blocks: call it
 * from the database pool (a ROUTE_ON_DB handler, http_offload), never on an
 * event thread. */
PGresult *reads_query(struct ingest *app, const char *sql, int n, const char *const *params,
                      bool *transient);
/* The answer to a failed reads_query. */
enum MHD_Result reads_failed(struct request *req, bool transient);

/* {"items": [row(res, i)...], "next_cursor": ...} from a result of up to
 * limit + 1 rows; the extra row only says a next page exists, and the cursor
 * is the (microseconds, uuid) of the last row shown, from ts_col and id_col. */
json_t *reads_page(const PGresult *res, long limit, json_t *(*row)(const PGresult *, int),
                   int id_col, int ts_col);

/* limit= and cursor= of a keyset page; a bad value adds a problem. With a
 * cursor, after_ts/after_id hold the last row seen (as SQL text). */
struct page_params {
    long limit;
    bool has_cursor;
    char after_ts[TIME_STR_LEN];
    char after_id[UUID_STR_LEN];
};
void reads_page_params(struct request *req, long default_limit, long max_limit,
                       struct page_params *out, struct problem_errors *pe);

/* SQL text of a timestamptz column as the API writes times: RFC 3339 in
 * UTC with microseconds ("2024-05-01T12:00:00.000000Z"); NULL stays NULL. */
#define READS_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* "%text%" for LIKE/ILIKE with the wildcards in text escaped. */
void reads_like_pattern(const char *text, struct buf *out);

#endif
