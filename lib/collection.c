#include "collection.h"

#include "digest.h"
#include "tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What each row names, defined by the collection's modules: its HTTP side in
 * ingest/, its writer in persist/. */
extern const struct collection_http events_http, recipes_http, hello_http, epoch_http,
    assistance_http;
extern const struct persist_writer persist_writer_events, persist_writer_recipes,
    persist_writer_users, persist_writer_epochs;

const struct collection collections[] = {
    {.name = "events", .http = &events_http, .writer = &persist_writer_events},
    {.name = "recipes", .http = &recipes_http, .writer = &persist_writer_recipes},
    {.name = "users", .http = &hello_http, .writer = &persist_writer_users},
    {.name = "epochs", .http = &epoch_http, .writer = &persist_writer_epochs},
    /* Consumed by sluice-notify, not written by persist. */
    {.name = "assistance", .http = &assistance_http},
};
const size_t collection_count = sizeof(collections) / sizeof(collections[0]);

const struct collection *collection_find(const char *name)
{
    for (size_t i = 0; i < collection_count; i++) {
        if (strcmp(collections[i].name, name) == 0)
            return &collections[i];
    }
    return NULL;
}

size_t collection_index(const struct collection *c)
{
    return (size_t)(c - collections);
}

int collection_content_id(const char *tenant, const char *collection, const json_t *obj,
                          char id[UUID_STR_LEN])
{
    /* Sorted members and no whitespace: the same record however it was
     * written out; hashed first so the UUIDv5 name stays short. */
    char *canonical = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canonical)
        return -1;
    char digest[DIGEST_HEX_LEN + 1], name[128];
    struct digest_part part = {canonical, strlen(canonical)};
    digest_sha256_hex(&part, 1, digest);
    free(canonical);
    int n = snprintf(name, sizeof(name), "%.32s\ncontent\n%s", collection, digest);
    tenant_uuid(tenant, name, (size_t)n, id);
    return 0;
}

int collection_import_id(const char *tenant, const char *collection, json_t *obj,
                         char id[UUID_STR_LEN], char *why, size_t whylen)
{
    struct uuid u;
    char name[400];
    int n = -1;
    json_t *given = json_object_get(obj, "id");
    bool is_default = strcmp(tenant_or_default(tenant), TENANT_DEFAULT) == 0;
    if (json_is_string(given) && uuid_parse(json_string_value(given), &u) == 0) {
        if (is_default)
            uuid_format(&u, id);
        else
            n = snprintf(name, sizeof(name), "%.32s\nuuid\n%s", collection,
                         json_string_value(given));
    } else if (json_is_string(given) && json_string_length(given) > COLLECTION_ID_MAX) {
        /* Named from a cut-off name, two long ids would be one record. */
        snprintf(why, whylen, "/id: at most %d bytes", COLLECTION_ID_MAX);
        return -1;
    } else if (json_is_string(given) || json_is_integer(given)) {
        n = json_is_string(given) ? snprintf(name, sizeof(name), "%.32s\nexternal\n%s", collection,
                                             json_string_value(given))
                                  : snprintf(name, sizeof(name), "%.32s\nexternal\n%lld",
                                             collection, (long long)json_integer_value(given));
    } else if (given && !json_is_null(given)) {
        snprintf(why, whylen, "/id: must be a string or an integer");
        return -1;
    } else if (collection_content_id(tenant, collection, obj, id) != 0) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    if (n >= 0)
        tenant_uuid(tenant, name, (size_t)n, id);
    json_object_del(obj, "id");
    return 0;
}
