/* import_id: the record id a bulk import gives an uploaded record
 * (lib/collection.c collection_import_id, which the recipes import uses, and
 * collection_content_id), for every collection of the table. The input is a
 * JSON object as a record of POST /v1/bulk would be.
 *
 * The id is a UUID and the "id" member is gone afterwards; the same record
 * gets the same id every time (re-importing a file creates nothing new); a
 * UUID given is itself; and two records with different "id"s never share a
 * record id, which would make one overwrite the other. */
#include "support.h"

#include "body.h"
#include "collection.h"
#include "uuid.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* collection_import_id on a copy of obj; 0 with the id, or -1. */
static int import_id_in(const char *tenant, const char *collection, const json_t *obj,
                        char id[UUID_STR_LEN])
{
    json_t *copy = json_deep_copy(obj);
    char why[200] = "";
    int rc = collection_import_id(tenant, collection, copy, id, why, sizeof(why));
    if (rc == 0) {
        FUZZ_CHECK(json_object_get(copy, "id") == NULL, "\"id\" is still in the record");
        struct uuid u;
        FUZZ_CHECK(uuid_parse(id, &u) == 0, "\"%s\" is not a UUID", id);
    } else {
        FUZZ_CHECK(why[0], "refused without a reason");
    }
    json_decref(copy);
    return rc;
}

static int import_id(const char *collection, const json_t *obj, char id[UUID_STR_LEN])
{
    return import_id_in(NULL, collection, obj, id);
}

static void check_collection(const char *collection, const json_t *obj)
{
    char id[UUID_STR_LEN], again[UUID_STR_LEN];
    const json_t *given = json_object_get(obj, "id");
    bool usable = !given || json_is_null(given) ||
                  (json_is_string(given) && json_string_length(given) <= COLLECTION_ID_MAX) ||
                  json_is_integer(given);
    int rc = import_id(collection, obj, id);
    FUZZ_CHECK((rc == 0) == usable, "an id of JSON type %d %s", json_typeof(given),
               rc == 0 ? "accepted" : "refused");
    if (rc != 0)
        return;
    FUZZ_CHECK(import_id(collection, obj, again) == 0 && strcmp(id, again) == 0,
               "the same record got %s and %s", id, again);
    /* Another tenant's same record is another record, whatever its id. */
    char theirs[UUID_STR_LEN];
    FUZZ_CHECK(import_id_in("tenant-b", collection, obj, theirs) == 0 && strcmp(id, theirs) != 0,
               "two tenants' record share the id %s", id);
    struct uuid u;
    if (json_is_string(given) && uuid_parse(json_string_value(given), &u) == 0) {
        char canonical[UUID_STR_LEN];
        uuid_format(&u, canonical);
        FUZZ_CHECK(strcmp(id, canonical) == 0, "the UUID %s became %s", canonical, id);
        return;
    }
    if (!json_is_string(given) && !json_is_integer(given))
        return;
    /* Another record whose "id" differs (one more character, or the next
     * integer) must get another record id. */
    json_t *other = json_deep_copy(obj);
    if (json_is_string(given)) {
        size_t n = json_string_length(given);
        char *longer = malloc(n + 2);
        FUZZ_CHECK(longer != NULL, "out of memory");
        memcpy(longer, json_string_value(given), n);
        longer[n] = 'x';
        longer[n + 1] = '\0';
        json_object_set_new(other, "id", json_stringn(longer, n + 1));
        free(longer);
    } else {
        json_int_t v = json_integer_value(given);
        json_object_set_new(other, "id", json_integer(v == LLONG_MAX ? v - 1 : v + 1));
    }
    char other_id[UUID_STR_LEN];
    /* (A string ending in 'x' is never a UUID.) */
    if (import_id(collection, other, other_id) == 0)
        FUZZ_CHECK(strcmp(id, other_id) != 0,
                   "two %s records with different ids share the record id %s (id of %zu bytes)",
                   collection, id, json_is_string(given) ? json_string_length(given) : 0);
    json_decref(other);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char detail[400];
    json_t *obj = body_parse_object((const char *)data, size, detail, sizeof(detail));
    if (!obj)
        return 0;
    for (size_t i = 0; i < collection_count; i++)
        check_collection(collections[i].name, obj);
    /* A name longer than the 32 bytes the id's name keeps of it. */
    check_collection("a-collection-name-of-more-than-32-bytes", obj);
    json_decref(obj);
    return 0;
}
