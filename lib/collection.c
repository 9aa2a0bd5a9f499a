#include "collection.h"

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
