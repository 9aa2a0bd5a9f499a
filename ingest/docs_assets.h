/* docs_assets: the files GET /docs serves (Swagger UI over /openapi.json),
 * compiled in. ingest/static/embed.cmake writes the table (docs_assets.c in
 * the build folder) from ingest/static/ and npm's swagger-ui-dist; ops.c
 * serves it. Everything here is read-only and lives as long as the process. */
#ifndef SLUICE_DOCS_ASSETS_H
#define SLUICE_DOCS_ASSETS_H

#include <stddef.h>

struct docs_asset {
    const char *name;         /* the {asset} of /docs/{asset}; "" for the page, /docs */
    const char *content_type; /* with its charset for text */
    const char *etag;         /* quoted: a hash of the content */
    const unsigned char *data;
    size_t len;
};

/* Ends with a row whose name is NULL. */
extern const struct docs_asset docs_assets[];
/* The console's files (GET /console, "" its page), from ingest/static/
 * console*: always built in, npm or not. Ends as docs_assets does. */
extern const struct docs_asset console_assets[];
/* "" when Swagger UI is built in; else why not (npm missing, npm ci failed),
 * and only the page and its initializer are in docs_assets. */
extern const char docs_assets_missing[];
/* "swagger-ui-dist 5.35.0", or "" when it is missing. */
extern const char docs_assets_origin[];

#endif
