/* pgpool: a fixed set of PostgreSQL connections shared by the HTTP threads
 * for reads. A borrowed connection is returned with pgpool_put; a broken one is
 * reset there, so the next borrower gets a fresh connection. */
#ifndef SLUICE_PGPOOL_H
#define SLUICE_PGPOOL_H

#include <libpq-fe.h>
#include <stddef.h>

struct pgpool;

/* Opens nothing yet: connections are made on first use, so ingest can start
 * (and answer /healthz) while PostgreSQL is still coming up. */
struct pgpool *pgpool_new(const char *url, size_t size);
void pgpool_free(struct pgpool *pool);

/* Waits up to timeout_ms for a free connection and makes sure it is connected;
 * NULL with the reason in err. */
PGconn *pgpool_get(struct pgpool *pool, int timeout_ms, char *err, size_t errlen);
void pgpool_put(struct pgpool *pool, PGconn *conn);

#endif
