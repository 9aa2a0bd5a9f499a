/* keys: the API key endpoints (their route table is keys_routes, routes.h)
 * and `sluice-ingest create-key`, which makes a key straight in PostgreSQL:
 * how an operator gets the first admin key, and how `make run` makes its
 * dev key. */
#ifndef SLUICE_KEYS_H
#define SLUICE_KEYS_H

#include "ingest.h"

/* argv: what follows "create-key". Prints the key on stdout; returns the
 * exit code (0, 1 on a database error, 2 on bad usage). */
int keys_create_command(const struct ingest_config *cfg, int argc, char **argv);

#endif
