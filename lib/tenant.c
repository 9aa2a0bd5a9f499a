#include "tenant.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool tenant_valid(const char *tenant)
{
    size_t n = strlen(tenant);
    if (n == 0 || n >= TENANT_MAX ||
        !(islower((unsigned char)tenant[0]) || isdigit((unsigned char)tenant[0])))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tenant[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '_'))
            return false;
    }
    return true;
}

const char *tenant_or_default(const char *tenant)
{
    return tenant && *tenant ? tenant : TENANT_DEFAULT;
}

void tenant_uuid(const char *tenant, const char *name, size_t len, char out[UUID_STR_LEN])
{
    struct uuid u;
    tenant = tenant_or_default(tenant);
    if (strcmp(tenant, TENANT_DEFAULT) == 0) {
        uuid_v5(&u, &uuid_namespace_sluice, name, len);
    } else {
        char prefixed[1024];
        int n = snprintf(prefixed, sizeof(prefixed), "tenant:%s\n%.*s", tenant, (int)len, name);
        size_t used = n < 0 ? 0 : (size_t)n < sizeof(prefixed) ? (size_t)n : sizeof(prefixed) - 1;
        uuid_v5(&u, &uuid_namespace_sluice, prefixed, used);
    }
    uuid_format(&u, out);
}

void tenant_key_owner(const char *tenant, char out[TENANT_KEY_OWNER_MAX])
{
    tenant = tenant_or_default(tenant);
    if (strcmp(tenant, TENANT_DEFAULT) == 0)
        snprintf(out, TENANT_KEY_OWNER_MAX, "%s", TENANT_DEFAULT_KEY_OWNER);
    else
        snprintf(out, TENANT_KEY_OWNER_MAX, "tenant:%s", tenant);
}
