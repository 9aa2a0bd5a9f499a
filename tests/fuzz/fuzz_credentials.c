/* credentials: what a client puts in Authorization or X-API-Key, and the
 * scope lists of keys and of the policy (lib/apikey.c apikey_parse,
 * ingest/auth.c scopes_parse, lib/tenant.c tenant_valid). An accepted key
 * is exactly the grammar: the prefix, its lookup id where it says, the
 * length; a key this module makes always parses. Scopes parse into known
 * bits only, and their names parse back to the same set. */
#include "support.h"

#include "apikey.h"
#include "auth.h"
#include "tenant.h"

#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t size)
{
    char id[APIKEY_ID_MAX];
    if (apikey_parse((const char *)data, size, id) == 0) {
        FUZZ_CHECK(size == APIKEY_LEN, "accepted a key of %zu bytes", size);
        FUZZ_CHECK(memcmp(data, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0,
                   "accepted another prefix");
        FUZZ_CHECK(strlen(id) == APIKEY_ID_LEN &&
                       memcmp(id, data + strlen(APIKEY_PREFIX), APIKEY_ID_LEN) == 0,
                   "the lookup id \"%s\" is not the key's", id);
    } else {
        FUZZ_CHECK(id[0] == '\0', "refused, yet a lookup id \"%s\" was left", id);
    }
    char made[APIKEY_MAX], made_id[APIKEY_ID_MAX], parsed_id[APIKEY_ID_MAX];
    FUZZ_CHECK(apikey_generate(made, made_id) == 0, "no key made");
    FUZZ_CHECK(apikey_parse(made, strlen(made), parsed_id) == 0 && strcmp(made_id, parsed_id) == 0,
               "its own key %s does not parse", made);

    char *text = fuzz_strndup(data, size);
    unsigned scopes;
    char bad[64] = "";
    if (scopes_parse(text, &scopes, bad, sizeof(bad)) == 0) {
        FUZZ_CHECK((scopes & ~SCOPE_ALL) == 0, "unknown scope bits %x", scopes);
        json_t *names = scopes_to_json(scopes);
        unsigned again;
        char why[400];
        FUZZ_CHECK(json_array_size(names) == 0 ||
                       (scopes_from_json(names, &again, why, sizeof(why)) == 0 && again == scopes),
                   "the names of %x do not parse back", scopes);
        json_decref(names);
    } else {
        FUZZ_CHECK(bad[0], "refused without naming the scope");
    }
    if (tenant_valid(text)) {
        size_t n = strlen(text);
        FUZZ_CHECK(n > 0 && n < TENANT_MAX &&
                       strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n,
                   "accepted the tenant \"%s\"", text);
        char a[UUID_STR_LEN], b[UUID_STR_LEN];
        tenant_uuid(text, "events\nexternal\n1", 17, a);
        tenant_uuid(strcmp(text, "other") ? "other" : "another", "events\nexternal\n1", 17, b);
        FUZZ_CHECK(strcmp(a, b) != 0, "two tenants name the same record %s", a);
    }
    free(text);
    return 0;
}
