/* collection: the table of Sluice's collections, one row each.
 *
 * A collection is a kind of record clients write (events, recipes, ...). Its
 * row says everything the processes need to know about it: its name, which
 * also names its Kafka topics (<prefix><name> and its dead-letter topic
 * <prefix><name>.dlq), the HTTP endpoints that write and read it, how a bulk
 * import turns an uploaded record into its envelope, and the writer that
 * sluice-persist applies its messages with. Ingest, persist, the bulk
 * importer and the dev broker all read this table; none keeps a list of its
 * own. Adding a collection is a migration, a module and a row
 * (docs/extending.md).
 *
 * The table is constant and names functions of both ingest and persist, so
 * every process links both halves (CMakeLists.txt); the table is the only
 * place where they meet. */
#ifndef SLUICE_COLLECTION_H
#define SLUICE_COLLECTION_H

#include "envelope.h"
#include "uuid.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct route;          /* ingest/routes.h */
struct persist_writer; /* persist/persist_writer.h */

/* One record of a bulk upload, as the importer hands it to its collection. */
struct import_record {
    json_t *obj;                          /* the record (borrowed; the collection may change it) */
    const char *text;                     /* its bytes as uploaded */
    size_t len;                           /* of text */
    const char *time_field;               /* ?time_field= (a checked JSON Pointer), or NULL */
    const struct envelope_origin *origin; /* who imports it, and into which tenant */
};

/* Makes rec into the collection's envelope: heap text the caller frees, with
 * the record's id in id and its length in *len; NULL with the reason in why
 * when the record cannot be imported. The same record imported twice gets
 * the same id, so re-importing a file creates nothing new. *keyed says
 * whether a later record may be a new version of this one (it names
 * itself): its message is then keyed by the id, so versions keep their
 * order; a record named by its content alone goes unkeyed (copies collapse
 * wherever they land) and the producer fills one batch at a time. */
typedef char *(*import_fn)(const struct import_record *rec, char id[UUID_STR_LEN], char *why,
                           size_t whylen, size_t *len, bool *keyed);

/* What ingest serves of a collection: defined beside its handlers, or in
 * its module when it has no endpoints of its own. */
struct collection_http {
    const struct route *routes; /* ends with a row whose method is NULL */
    /* POST /v1/bulk?collection=<name>; NULL: it cannot be imported. */
    import_fn import;
    bool import_time_field; /* its import takes ?time_field= */
};

struct collection {
    const char *name;
    /* What sluice-ingest serves of it: its endpoints and how a bulk import
     * makes an uploaded record into its envelope (NULL: neither). */
    const struct collection_http *http;
    /* How sluice-persist writes it; NULL when another process consumes it
     * (assistance requests go to sluice-notify). */
    const struct persist_writer *writer;
};

extern const struct collection collections[];
extern const size_t collection_count;

/* The row named name, or NULL. */
const struct collection *collection_find(const char *name);
/* The id an imported record without one gets: UUIDv5 within the tenant
 * (tenant_uuid) of "<collection>\ncontent\n" and the SHA-256 (hex) of the
 * record's canonical JSON (members sorted by name at every level, no
 * whitespace; obj borrowed). -1 when out of memory. */
int collection_content_id(const char *tenant, const char *collection, const json_t *obj,
                          char id[UUID_STR_LEN]);
/* The longest text "id" of an imported record, in bytes (as POST
 * /v1/events takes). */
#define COLLECTION_ID_MAX 255

/* The id of an imported record from its "id" member, which is then removed:
 * a UUID is itself in the default tenant (named "<collection>\nuuid\n<uuid>"
 * in any other, so no tenant can name another's record), other text or an
 * integer is named (UUIDv5 within the tenant of
 * "<collection>\nexternal\n<id>"), none is the content id above; so the
 * same file imported twice names the same records. -1 with why when "id" is
 * of another type or longer than COLLECTION_ID_MAX. */
int collection_import_id(const char *tenant, const char *collection, json_t *obj,
                         char id[UUID_STR_LEN], char *why, size_t whylen);
/* Its position in collections[] (processes keep per-collection state in
 * arrays of collection_count). */
size_t collection_index(const struct collection *c);

#endif
