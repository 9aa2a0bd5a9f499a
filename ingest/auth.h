/* auth: who is asking, and may they.
 *
 * Every route names the one scope it needs (its row in a route table,
 * routes.h); a request's principal holds a set of scopes and a tenant. The
 * principal comes from its credentials, checked as soon as the headers are
 * in, before any of the body is kept:
 *   - an API key (apikey.h), as `Authorization: Bearer` or `X-API-Key`,
 *     looked up in the in-memory key store (keystore.h): no database round
 *     trip on the request path;
 *   - a JWT as `Authorization: Bearer`, verified against a JWKS or an HS256
 *     secret (jwt.h);
 *   - a Standard Webhooks signature from a configured source
 *     (`POST /v1/events?source=<name>`), checked once the body is in;
 *   - none: the anonymous principal, which holds the scopes the policy makes
 *     public (SLUICE_AUTH_PUBLIC_SCOPES: the hello endpoints by default).
 * Credentials that do not check out are a 401 on every route, so a client
 * learns at once that its key is wrong; a principal without the route's scope
 * is a 401 (anonymous, with WWW-Authenticate) or a 403. Then each principal's
 * rate limit (ratelimit.h) is taken. Owns the policy, the webhook sources and
 * the limiter; the key store and the JWT verifier are its own too. */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include "tenant.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A route's scope, one bit each; a route with none (0) is public. The names
 * are the API's (auth.c's table); "*" in a list stands for all of them. */
enum scope {
    SCOPE_PUBLIC = 0,
    SCOPE_EVENTS_WRITE = 1u << 0,
    SCOPE_EVENTS_READ = 1u << 1,
    SCOPE_RECIPES_WRITE = 1u << 2,
    SCOPE_RECIPES_READ = 1u << 3,
    SCOPE_IMPORTS_WRITE = 1u << 4,
    SCOPE_ASSISTANCE_REQUEST = 1u << 5,
    SCOPE_ASSISTANCE_READ = 1u << 6,
    SCOPE_USERS_WRITE = 1u << 7,
    SCOPE_USERS_READ = 1u << 8,
    SCOPE_EPOCHS_WRITE = 1u << 9,
    SCOPE_EPOCHS_READ = 1u << 10,
    SCOPE_ADMIN = 1u << 11,
};
#define SCOPE_COUNT 12
#define SCOPE_ALL ((1u << SCOPE_COUNT) - 1)

/* The scope's name ("events:write"), or NULL for SCOPE_PUBLIC or no scope. */
const char *scope_name(unsigned scope);
/* The scopes of a space- or comma-separated list ("*": all). -1 with the
 * first unknown name in bad when one is not a scope. */
int scopes_parse(const char *list, unsigned *out, char *bad, size_t badlen);
/* The scopes of a JSON array of names; -1 with the reason in why. */
int scopes_from_json(const json_t *array, unsigned *out, char *why, size_t whylen);
/* A new JSON array of the names in scopes, in table order. */
json_t *scopes_to_json(unsigned scopes);

enum principal_kind { PRINCIPAL_ANONYMOUS, PRINCIPAL_API_KEY, PRINCIPAL_JWT, PRINCIPAL_WEBHOOK };

struct principal {
    enum principal_kind kind;
    /* What envelopes and log lines name: "anonymous", "key:<lookup id>",
     * "jwt:<sub>" or "webhook:<source>" (never a secret). */
    char id[300];
    char tenant[TENANT_MAX];
    unsigned scopes;
};

/* An answer decided by authentication: 401, 403 or 429. */
struct auth_denial {
    unsigned status;
    const char *slug, *title;
    char detail[256];
    char challenge[256];    /* WWW-Authenticate, or "" */
    unsigned retry_after_s; /* 429 */
};

struct auth;
struct request;
struct ingest_config;

/* From the configuration (SLUICE_AUTH_*, SLUICE_JWT_*, SLUICE_RATE_LIMIT,
 * SLUICE_WEBHOOK_SOURCES_FILE); starts the key store (its PostgreSQL
 * listener). NULL with the reason in err. */
struct auth *auth_start(const struct ingest_config *cfg, char *err, size_t errlen);
void auth_stop(struct auth *a);
struct keystore *auth_keystore(struct auth *a);

/* On the request's headers, for its matched route: fills req->principal and
 * the rate-limit headers of its answers, true when it may go on; false with
 * the answer in *d. Never waits on anything but short locks. */
bool auth_admit(struct auth *a, struct request *req, struct auth_denial *d);
/* Once the body is in, for a request from a webhook source: its signature,
 * timestamp and freshness. True when it may go on. */
bool auth_admit_body(struct auth *a, struct request *req, struct auth_denial *d);

#endif
