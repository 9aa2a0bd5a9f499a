/* pgpool: a fixed set of PostgreSQL connections shared by the database pool's
 * threads (dbpool.h) for reads. A borrowed connection is returned with
 * pgpool_put; a broken one (or one left mid-query by a timeout) is dropped
 * there, so the next borrower gets a fresh connection.
 *
 * Every wait is bounded: for a free connection (pgpool_get's timeout), to
 * connect (libpq's connect_timeout, lib/pg.c), and for a query
 * (pgpool_exec's deadline on the client side, which holds even when the
 * server is frozen, and statement_timeout on the server side, which stops
 * a slow query there too). */
#ifndef SLUICE_PGPOOL_H
#define SLUICE_PGPOOL_H

#include <libpq-fe.h>
#include <stddef.h>

struct pgpool;

/* Opens nothing yet: connections are made on first use, so ingest can start
 * (and answer /healthz) while PostgreSQL is still coming up. */
struct pgpool *pgpool_new(const char *url, size_t size, int query_timeout_ms);
void pgpool_free(struct pgpool *pool);

/* Waits up to timeout_ms for a free connection and makes sure it is connected;
 * NULL with the reason in err. */
PGconn *pgpool_get(struct pgpool *pool, int timeout_ms, char *err, size_t errlen);
void pgpool_put(struct pgpool *pool, PGconn *conn);

/* Runs one parameterised statement on conn, waiting at most timeout_ms for
 * the answer; the result (the caller clears it) or NULL with the reason in
 * err. After a timeout conn is mid-query, and pgpool_put drops it. */
PGresult *pgpool_exec(PGconn *conn, const char *sql, int n, const char *const *params,
                      int timeout_ms, char *err, size_t errlen);

#endif
