/* pg: PostgreSQL connections, error classification and schema migrations.
 *
 * Every PGresult a function here creates is cleared before it returns; callers
 * own the PGconn they get from pg_connect and close it with PQfinish. */
#ifndef SLUICE_PG_H
#define SLUICE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Connects once, with connect and TCP keepalive timeouts unless url sets
 * its own; NULL with the reason in err. */
PGconn *pg_connect(const char *url, char *err, size_t errlen);

/* Connects, retrying with backoff until deadline_ms has passed. */
PGconn *pg_connect_retry(const char *url, int deadline_ms, char *err, size_t errlen);

/* True when a failed statement may succeed if retried later: the connection is
 * gone, or the SQLSTATE is of class 08 (connection), 40 (rollback), 53
 * (resources), 57 (operator intervention) or 58 (system). False means the data
 * itself is at fault (for example class 22 or 23). */
bool pg_error_is_transient(PGconn *conn, const PGresult *res);

/* Runs a statement that returns no rows; -1 with the server's message in err
 * (which may be NULL when the caller only needs to know). */
int pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/* Applies numbered migrations (NNN_name.sql) from dir that are not yet recorded
 * in schema_migrations, each in its own transaction, under an advisory lock so
 * many replicas starting together apply each exactly once. */
int pg_migrate(PGconn *conn, const char *dir, char *err, size_t errlen);

/* What pg_wait_readable found readable. */
#define PG_READABLE_CONN 1u
#define PG_READABLE_OTHER 2u

/* Waits up to timeout_ms until conn's socket (conn may be NULL) or other_fd
 * (when >= 0: a wake-up pipe) is readable: PG_READABLE_* bits, 0 when time
 * ran out. With poll(2), as a LISTEN thread of a process holding thousands
 * of client connections may get a socket number beyond select's FD_SETSIZE. */
unsigned pg_wait_readable(PGconn *conn, int other_fd, int timeout_ms);

/* Appends s as one quoted element of a text[] literal that out holds from its
 * opening "{" (the caller closes it with "}"). */
struct buf;
void pg_text_array_add(struct buf *out, const char *s);

#endif
