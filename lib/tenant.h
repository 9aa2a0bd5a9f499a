/* tenant: the namespace a principal writes and reads in.
 *
 * Every record carries its tenant (the envelope's "tenant", a column of each
 * collection's table) and every read is filtered by it, so one tenant never
 * reads another's records. Deterministic ids are UUIDv5 names prefixed with
 * the tenant, so two tenants' `{"id": 1}` are two records; the default
 * tenant's names have no prefix, which keeps the ids of everything stored
 * before tenants existed. Pure functions. */
#ifndef SLUICE_TENANT_H
#define SLUICE_TENANT_H

#include "uuid.h"

#include <stdbool.h>
#include <stddef.h>

#define TENANT_MAX 64
/* The tenant of the anonymous principal, of a key or token that names none,
 * and of every record written before tenants existed. */
#define TENANT_DEFAULT "default"
/* The idempotency keys' owner of the default tenant, as stored before
 * tenants existed (tenant_key_owner). */
#define TENANT_DEFAULT_KEY_OWNER "anonymous"
#define TENANT_KEY_OWNER_MAX (TENANT_MAX + 8)

/* A tenant name: 1 to 63 of [a-z0-9_-], starting with a letter or digit.
 * It goes into ids and log lines, so it is kept plain. */
bool tenant_valid(const char *tenant);
/* The tenant of an envelope or a row: NULL or "" is the default one. */
const char *tenant_or_default(const char *tenant);
/* UUIDv5 (Sluice namespace) of name within tenant: of name itself for the
 * default tenant, of "tenant:<tenant>\n" + name for any other. */
void tenant_uuid(const char *tenant, const char *name, size_t len, char out[UUID_STR_LEN]);
/* Whose an Idempotency-Key is, as idempotency_keys.principal stores it:
 * "anonymous" for the default tenant (as before tenants), "tenant:<name>"
 * for another (a ':' no tenant name has, so the two never meet). */
void tenant_key_owner(const char *tenant, char out[TENANT_KEY_OWNER_MAX]);

#endif
