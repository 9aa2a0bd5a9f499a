/* import: what `sluicectl import` decides about a file before it sends it,
 * kept pure for the unit tests; the command itself is in import.c. */
#ifndef SLUICE_CLI_IMPORT_H
#define SLUICE_CLI_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

enum cli_import_format { CLI_IMPORT_UNKNOWN, CLI_IMPORT_ARRAY, CLI_IMPORT_NDJSON };

/* The format of a body from its first bytes: '[' a JSON array, '{' NDJSON,
 * after an optional UTF-8 byte order mark and blanks, as ingest decides.
 * Anything else, or no byte that is not blank, is UNKNOWN: it is sent as
 * application/json and ingest, which sees the whole body, says what is
 * wrong with it. */
enum cli_import_format cli_import_format_of(const char *data, size_t len);

/* Whether the bytes start a gzip stream (its magic number). */
bool cli_import_is_gzip(const unsigned char *data, size_t len);

/* The Content-Type for a format. */
const char *cli_import_content_type(enum cli_import_format f);

#endif
