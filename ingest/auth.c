#include "auth.h"

#include "http.h"
#include "ingest.h"
#include "jwt.h"
#include "keystore.h"
#include "log.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "routes.h"
#include "timeutil.h"
#include "webhook_sig.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* In bit order of enum scope. */
static const char *const scope_names[SCOPE_COUNT] = {
    "events:write",  "events:read",        "recipes:write",   "recipes:read",
    "imports:write", "request-assistance", "assistance:read", "users:write",
    "users:read",    "epochs:write",       "epochs:read",     "admin",
};

const char *scope_name(unsigned scope)
{
    for (unsigned i = 0; i < SCOPE_COUNT; i++)
        if (scope == 1u << i)
            return scope_names[i];
    return NULL;
}

static int scope_one(const char *name, size_t len, unsigned *out)
{
    if (len == 1 && name[0] == '*') {
        *out |= SCOPE_ALL;
        return 0;
    }
    for (unsigned i = 0; i < SCOPE_COUNT; i++) {
        if (strlen(scope_names[i]) == len && memcmp(scope_names[i], name, len) == 0) {
            *out |= 1u << i;
            return 0;
        }
    }
    return -1;
}

int scopes_parse(const char *list, unsigned *out, char *bad, size_t badlen)
{
    *out = 0;
    for (const char *p = list; *p;) {
        size_t skip = strspn(p, " ,\t");
        p += skip;
        size_t len = strcspn(p, " ,\t");
        if (!len)
            break;
        if (scope_one(p, len, out) != 0) {
            snprintf(bad, badlen, "%.*s", (int)(len > 60 ? 60 : len), p);
            return -1;
        }
        p += len;
    }
    return 0;
}

int scopes_from_json(const json_t *array, unsigned *out, char *why, size_t whylen)
{
    *out = 0;
    if (!json_is_array(array) || json_array_size(array) == 0) {
        snprintf(why, whylen, "must be a non-empty array of scope names");
        return -1;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(array, i, v)
    {
        const char *name = json_string_value(v);
        if (!name || scope_one(name, strlen(name), out) != 0) {
            int n = snprintf(why, whylen, "item %zu is not a scope; the scopes are *", i);
            for (unsigned k = 0; k < SCOPE_COUNT && n > 0 && (size_t)n < whylen; k++)
                n += snprintf(why + n, whylen - (size_t)n, ", %s", scope_names[k]);
            return -1;
        }
    }
    return 0;
}

json_t *scopes_to_json(unsigned scopes)
{
    json_t *array = json_array();
    for (unsigned i = 0; array && i < SCOPE_COUNT; i++)
        if (scopes & (1u << i))
            json_array_append_new(array, json_string(scope_names[i]));
    return array;
}

/* A configured sender of signed webhooks (SLUICE_WEBHOOK_SOURCES_FILE). */
#define WEBHOOK_SECRETS_MAX 8
struct webhook_source {
    char name[64];
    char tenant[TENANT_MAX];
    char *secrets[WEBHOOK_SECRETS_MAX];
    size_t nsecrets;
};

/* Signatures already taken, for WEBHOOK_SIG_TOLERANCE_S: a captured request sent
 * again within its timestamp's window is refused. A ring of digests of
 * (source, webhook-id, timestamp) per replica: across replicas a replay
 * collapses into the same record anyway (webhook-id is its idempotency key). */
#define REPLAY_SLOTS 65536
struct replay_entry {
    unsigned char digest[32];
    int64_t until_s;
};

/* Tokens verified lately, by the SHA-256 of their text: a service sends the
 * same token with every request until it expires, and verifying it again
 * (base64, JSON, the key, the signature) costs more than the write. An entry
 * holds until the token's exp or TOKEN_CACHE_MAX_S, whichever comes first,
 * so a key taken out of the JWKS stops working within that bound. Direct
 * mapped: a colliding token replaces the entry (and is verified anew). */
#define TOKEN_CACHE_SLOTS 4096
#define TOKEN_CACHE_STRIPES 16
#define TOKEN_CACHE_MAX_S 300
struct token_entry {
    unsigned char digest[32];
    int64_t until_s; /* 0: empty */
    struct principal principal;
};

struct auth {
    unsigned public_scopes;
    struct token_entry *tokens; /* TOKEN_CACHE_SLOTS, when JWTs are accepted */
    pthread_mutex_t token_locks[TOKEN_CACHE_STRIPES];
    struct keystore *keys;
    struct jwt_verifier *jwt;  /* NULL: JWTs are not accepted */
    struct ratelimit *limiter; /* NULL: no rate limit */
    long limit_quota, limit_window_s;
    struct webhook_source *sources;
    size_t nsources;
    pthread_mutex_t replay_lock;
    struct replay_entry *replay; /* open addressing, REPLAY_SLOTS */
};

struct keystore *auth_keystore(struct auth *a)
{
    return a->keys;
}

static void sources_free(struct auth *a)
{
    for (size_t i = 0; i < a->nsources; i++)
        for (size_t j = 0; j < a->sources[i].nsecrets; j++)
            free(a->sources[i].secrets[j]);
    free(a->sources);
    a->sources = NULL;
    a->nsources = 0;
}

/* {"sources": {"<name>": {"secrets": ["whsec_..."], "tenant": "<tenant>"}}} */
static int sources_load(struct auth *a, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    json_t *sources = json_object_get(doc, "sources");
    int rc = -1;
    if (!json_is_object(sources) || json_object_size(sources) == 0) {
        snprintf(err, errlen, "%s: expected {\"sources\": {\"<name>\": {...}}}", path);
        goto out;
    }
    a->sources = calloc(json_object_size(sources), sizeof(*a->sources));
    if (!a->sources) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *name;
    json_t *src;
    json_object_foreach(sources, name, src)
    {
        struct webhook_source *s = &a->sources[a->nsources++];
        json_t *secrets = json_object_get(src, "secrets");
        const char *tenant = json_string_value(json_object_get(src, "tenant"));
        if (strlen(name) >= sizeof(s->name) || !*name) {
            snprintf(err, errlen, "%s: a source's name must be 1 to 63 characters", path);
            goto out;
        }
        snprintf(s->name, sizeof(s->name), "%s", name);
        snprintf(s->tenant, sizeof(s->tenant), "%s", tenant ? tenant : TENANT_DEFAULT);
        if (!tenant_valid(s->tenant)) {
            snprintf(err, errlen, "%s: source %s: invalid tenant", path, name);
            goto out;
        }
        if (!json_is_array(secrets) || json_array_size(secrets) == 0 ||
            json_array_size(secrets) > WEBHOOK_SECRETS_MAX) {
            snprintf(err, errlen, "%s: source %s: \"secrets\" must list 1 to %d whsec_ secrets",
                     path, name, WEBHOOK_SECRETS_MAX);
            goto out;
        }
        size_t i;
        json_t *v;
        json_array_foreach(secrets, i, v)
        {
            const char *secret = json_string_value(v);
            if (!secret || strncmp(secret, "whsec_", 6) != 0) {
                snprintf(err, errlen, "%s: source %s: secret %zu is not whsec_<base64>", path, name,
                         i);
                goto out;
            }
            if (!(s->secrets[s->nsecrets] = strdup(secret))) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            s->nsecrets++;
        }
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

static const struct webhook_source *source_find(const struct auth *a, const char *name)
{
    for (size_t i = 0; name && i < a->nsources; i++)
        if (strcmp(a->sources[i].name, name) == 0)
            return &a->sources[i];
    return NULL;
}

struct auth *auth_start(const struct ingest_config *cfg, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&a->replay_lock, NULL);
    for (size_t i = 0; i < TOKEN_CACHE_STRIPES; i++)
        pthread_mutex_init(&a->token_locks[i], NULL);
    char bad[64];
    if (scopes_parse(cfg->auth_public_scopes, &a->public_scopes, bad, sizeof(bad)) != 0) {
        snprintf(err, errlen, "SLUICE_AUTH_PUBLIC_SCOPES: \"%s\" is not a scope", bad);
        goto fail;
    }
    /* "*" opens the API to anyone who reaches the port (a benchmark, a
     * sandbox), but never its administration. */
    if ((a->public_scopes & SCOPE_ADMIN) && !strchr(cfg->auth_public_scopes, '*')) {
        snprintf(err, errlen, "SLUICE_AUTH_PUBLIC_SCOPES: admin cannot be public");
        goto fail;
    }
    a->public_scopes &= ~(unsigned)SCOPE_ADMIN;
    if (*cfg->rate_limit && strcmp(cfg->rate_limit, "0") != 0) {
        char *end;
        a->limit_quota = strtol(cfg->rate_limit, &end, 10);
        a->limit_window_s = *end == '/' ? strtol(end + 1, &end, 10) : 0;
        if (*end || a->limit_quota < 1 || a->limit_window_s < 1 || a->limit_window_s > 86400) {
            snprintf(err, errlen,
                     "SLUICE_RATE_LIMIT=%s: expected <requests>/<seconds>, e.g. 6000/60",
                     cfg->rate_limit);
            goto fail;
        }
        a->limiter = ratelimit_new(a->limit_quota, a->limit_window_s, 65536);
        if (!a->limiter) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (*cfg->webhook_sources_file) {
        if (sources_load(a, cfg->webhook_sources_file, err, errlen) != 0)
            goto fail;
        a->replay = calloc(REPLAY_SLOTS, sizeof(*a->replay));
        if (!a->replay) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (*cfg->jwt_jwks || *cfg->jwt_hs256_secret) {
        bool url =
            strncmp(cfg->jwt_jwks, "http://", 7) == 0 || strncmp(cfg->jwt_jwks, "https://", 8) == 0;
        struct jwt_config jc = {
            .jwks_file = *cfg->jwt_jwks && !url ? cfg->jwt_jwks : NULL,
            .jwks_url = url ? cfg->jwt_jwks : NULL,
            .hs256_secret = *cfg->jwt_hs256_secret ? cfg->jwt_hs256_secret : NULL,
            .issuer = *cfg->jwt_issuer ? cfg->jwt_issuer : NULL,
            .audience = *cfg->jwt_audience ? cfg->jwt_audience : NULL,
            .algorithms = *cfg->jwt_algorithms ? cfg->jwt_algorithms : NULL,
            .leeway_s = (int)cfg->jwt_leeway_s,
            .tenant_claim = cfg->jwt_tenant_claim,
        };
        char why[256];
        a->jwt = jwt_verifier_new(&jc, why, sizeof(why));
        if (!a->jwt) {
            snprintf(err, errlen, "JWT: %s", why);
            goto fail;
        }
        a->tokens = calloc(TOKEN_CACHE_SLOTS, sizeof(*a->tokens));
        if (!a->tokens) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    a->keys = keystore_start(cfg->pg_url, cfg->api_key_pepper, err, errlen);
    if (!a->keys)
        goto fail;
    return a;
fail:
    auth_stop(a);
    return NULL;
}

void auth_stop(struct auth *a)
{
    if (!a)
        return;
    keystore_stop(a->keys);
    if (a->jwt)
        jwt_verifier_free(a->jwt);
    if (a->limiter)
        ratelimit_free(a->limiter);
    sources_free(a);
    free(a->replay);
    free(a->tokens);
    pthread_mutex_destroy(&a->replay_lock);
    for (size_t i = 0; i < TOKEN_CACHE_STRIPES; i++)
        pthread_mutex_destroy(&a->token_locks[i]);
    free(a);
}

static bool deny(struct auth_denial *d, unsigned status, const char *slug, const char *title,
                 const char *challenge, const char *fmt, const char *arg)
{
    d->status = status;
    d->slug = slug;
    d->title = title;
    snprintf(d->detail, sizeof(d->detail), fmt, arg);
    snprintf(d->challenge, sizeof(d->challenge), "%s", challenge ? challenge : "");
    return false;
}

#define REALM "Bearer realm=\"sluice\""
/* A bearer JWT longer than this is refused unread. */
#define AUTH_TOKEN_MAX 8192

static bool invalid_credentials(struct auth_denial *d, const char *why)
{
    char challenge[256];
    /* why goes into a quoted-string: it is our own text, without quotes. */
    snprintf(challenge, sizeof(challenge),
             REALM ", error=\"invalid_token\", error_description=\"%s\"", why);
    return deny(d, 401, "unauthorized", "Unauthorized", challenge, "%s", why);
}

/* The credential of the request: "Authorization: Bearer <x>" or
 * "X-API-Key: <x>"; NULL when it sends none, "" when the Authorization
 * header has another scheme. */
static enum MHD_Result count_credential(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, "Authorization") == 0 || strcasecmp(key, "X-API-Key") == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

static const char *credential(struct request *req, size_t *len)
{
    /* Two credentials (two Authorization headers, or one beside an
     * X-API-Key) are refused rather than one picked: a proxy and ingest
     * could pick differently. */
    int count = 0;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_credential, &count);
    if (count > 1) {
        *len = 1;
        return NULL;
    }
    const char *authz = http_header(req, "Authorization");
    if (authz) {
        while (*authz == ' ' || *authz == '\t')
            authz++;
        if (strncasecmp(authz, "Bearer", 6) != 0 || (authz[6] != ' ' && authz[6] != '\t')) {
            *len = 0;
            return "";
        }
        const char *p = authz + 6;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        *len = n;
        return p;
    }
    const char *key = http_header(req, "X-API-Key");
    if (key)
        *len = strlen(key);
    return key;
}

static size_t token_slot(const unsigned char digest[32])
{
    size_t slot;
    memcpy(&slot, digest, sizeof(slot));
    return slot % TOKEN_CACHE_SLOTS;
}

static bool token_cached(struct auth *a, const unsigned char digest[32], int64_t now_s,
                         struct principal *out)
{
    size_t slot = token_slot(digest);
    pthread_mutex_t *lock = &a->token_locks[slot % TOKEN_CACHE_STRIPES];
    pthread_mutex_lock(lock);
    const struct token_entry *e = &a->tokens[slot];
    bool hit = e->until_s > now_s && CRYPTO_memcmp(e->digest, digest, 32) == 0;
    if (hit)
        *out = e->principal;
    pthread_mutex_unlock(lock);
    return hit;
}

static void token_remember(struct auth *a, const unsigned char digest[32], int64_t now_s,
                           int64_t exp_s, const struct principal *p)
{
    size_t slot = token_slot(digest);
    pthread_mutex_t *lock = &a->token_locks[slot % TOKEN_CACHE_STRIPES];
    pthread_mutex_lock(lock);
    struct token_entry *e = &a->tokens[slot];
    memcpy(e->digest, digest, 32);
    e->until_s = exp_s < now_s + TOKEN_CACHE_MAX_S ? exp_s : now_s + TOKEN_CACHE_MAX_S;
    e->principal = *p;
    pthread_mutex_unlock(lock);
}

/* A JWT: from the cache when it was verified lately, else verified. */
static bool authenticate_jwt(struct auth *a, const char *cred, size_t len, struct principal *p,
                             struct auth_denial *d)
{
    if (len > AUTH_TOKEN_MAX)
        return invalid_credentials(d, "the token is too long");
    int64_t now_s = time_now_us() / 1000000;
    unsigned char digest[32];
    SHA256((const unsigned char *)cred, len, digest);
    if (token_cached(a, digest, now_s, p))
        return true;
    char token[AUTH_TOKEN_MAX + 1];
    memcpy(token, cred, len);
    token[len] = '\0';
    struct jwt_claims claims;
    char why[160];
    if (jwt_verify(a->jwt, token, now_s, &claims, why, sizeof(why)) != 0)
        return invalid_credentials(d, why);
    char bad[64];
    unsigned scopes = 0;
    p->scopes = 0;
    /* Scopes this API does not know are someone else's: ignored. */
    char *save = NULL;
    for (char *s = strtok_r(claims.scopes, " ", &save); s; s = strtok_r(NULL, " ", &save))
        if (scopes_parse(s, &scopes, bad, sizeof(bad)) == 0)
            p->scopes |= scopes;
    const char *tenant = *claims.tenant ? claims.tenant : TENANT_DEFAULT;
    if (!tenant_valid(tenant))
        return invalid_credentials(d, "the token's tenant is not a valid tenant name");
    p->kind = PRINCIPAL_JWT;
    snprintf(p->id, sizeof(p->id), "jwt:%s", claims.sub);
    snprintf(p->tenant, sizeof(p->tenant), "%s", tenant);
    token_remember(a, digest, now_s, claims.exp, p);
    return true;
}

static bool authenticate_credential(struct auth *a, struct request *req, struct principal *p,
                                    struct auth_denial *d);

static bool authenticate(struct auth *a, struct request *req, struct auth_denial *d)
{
    struct principal *p = &req->principal;
    if (!authenticate_credential(a, req, p, d))
        return false;
    /* What anyone may do, a credential may do too (in its own tenant);
     * admin is the operator's: only the default tenant's credentials
     * hold it, so no tenant manages another's keys. */
    if (p->kind != PRINCIPAL_ANONYMOUS)
        p->scopes |= a->public_scopes;
    if (strcmp(p->tenant, TENANT_DEFAULT) != 0)
        p->scopes &= ~(unsigned)SCOPE_ADMIN;
    return true;
}

static bool authenticate_credential(struct auth *a, struct request *req, struct principal *p,
                                    struct auth_denial *d)
{
    size_t len = 0;
    const char *cred = credential(req, &len);
    if (!cred && len == 1)
        return invalid_credentials(d, "send one credential: one Authorization header or one "
                                      "X-API-Key, not both or two");
    const char *source_name = http_query(req, "source");
    if (source_name && a->nsources && req->route->scope == SCOPE_EVENTS_WRITE && !cred) {
        const struct webhook_source *s = source_find(a, source_name);
        if (!s)
            return invalid_credentials(d, "no webhook source of that name is configured");
        /* Who it is holds once the signature does (auth_admit_body). */
        req->webhook_source = s;
        p->kind = PRINCIPAL_WEBHOOK;
        snprintf(p->id, sizeof(p->id), "webhook:%s", s->name);
        snprintf(p->tenant, sizeof(p->tenant), "%s", s->tenant);
        p->scopes = SCOPE_EVENTS_WRITE;
        return true;
    }
    if (!cred) {
        p->kind = PRINCIPAL_ANONYMOUS;
        snprintf(p->id, sizeof(p->id), "anonymous");
        snprintf(p->tenant, sizeof(p->tenant), TENANT_DEFAULT);
        p->scopes = a->public_scopes;
        return true;
    }
    if (len == 0)
        return invalid_credentials(d, "send the credential as Authorization: Bearer <key or "
                                      "token>, or X-API-Key: <key>");
    if (len >= strlen(APIKEY_PREFIX) && memcmp(cred, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0) {
        switch (keystore_check(a->keys, cred, len, time_now_us(), p)) {
        case KEYSTORE_OK:
            return true;
        case KEYSTORE_MALFORMED:
            return invalid_credentials(d, "this is not a valid Sluice API key (its checksum "
                                          "does not match)");
        case KEYSTORE_UNKNOWN:
            return invalid_credentials(d, "unknown or revoked API key");
        case KEYSTORE_EXPIRED:
            return invalid_credentials(d, "this API key has expired");
        case KEYSTORE_NOT_LOADED:
            return deny(d, 503, "keys-unavailable", "Keys unavailable", NULL, "%s",
                        "The API keys could not be read from PostgreSQL yet; try again.");
        }
    }
    if (a->jwt && memchr(cred, '.', len))
        return authenticate_jwt(a, cred, len, p, d);
    return invalid_credentials(d, a->jwt ? "neither a Sluice API key nor a JWT"
                                         : "this is not a Sluice API key");
}

/* Fills the request's RateLimit headers; false when over the limit. The
 * anonymous principal is limited per client address, everyone else per
 * principal. */
static bool limit(struct auth *a, struct request *req, struct auth_denial *d)
{
    if (!a->limiter)
        return true;
    char key[sizeof(req->principal.id) + 64];
    if (req->principal.kind == PRINCIPAL_ANONYMOUS) {
        struct netaddr client;
        char ip[NETADDR_STR_LEN] = "?";
        if (http_client_address(req, &client) == 0)
            netaddr_format(&client, ip);
        snprintf(key, sizeof(key), "ip:%s", ip);
    } else
        snprintf(key, sizeof(key), "%s", req->principal.id);
    struct ratelimit_result r;
    bool allowed = ratelimit_take(a->limiter, key, time_now_us(), &r);
    ratelimit_headers(&r, a->limit_quota, a->limit_window_s, req->ratelimit_policy,
                      sizeof(req->ratelimit_policy), req->ratelimit_state,
                      sizeof(req->ratelimit_state));
    if (allowed)
        return true;
    d->retry_after_s = r.retry_after_s;
    char detail[64];
    snprintf(detail, sizeof(detail), "%ld requests per %ld s", a->limit_quota, a->limit_window_s);
    return deny(d, 429, "rate-limited", "Too many requests", NULL,
                "This principal's rate limit (%s) is used up; see Retry-After.", detail);
}

bool auth_admit(struct auth *a, struct request *req, struct auth_denial *d)
{
    memset(d, 0, sizeof(*d));
    unsigned need = req->route->scope;
    /* What probes and scrapers reach (health, metrics, the API's own
     * description, static pages) is outside authentication and limits:
     * a kubelet or Prometheus sends no key and comes from one address. */
    if (need == SCOPE_PUBLIC)
        return true;
    if (!authenticate(a, req, d))
        return false;
    if (need && !(req->principal.scopes & need)) {
        char challenge[256];
        if (req->principal.kind == PRINCIPAL_ANONYMOUS)
            return deny(d, 401, "unauthorized", "Unauthorized", REALM,
                        "%s needs credentials: Authorization: Bearer <API key or JWT>, or "
                        "X-API-Key: <API key>.",
                        req->route->pattern);
        snprintf(challenge, sizeof(challenge), REALM ", error=\"insufficient_scope\", scope=\"%s\"",
                 scope_name(need));
        return deny(d, 403, "forbidden", "Forbidden", challenge,
                    "This credential lacks the scope %s.", scope_name(need));
    }
    return limit(a, req, d);
}

/* True the first time (source, id, timestamp) is seen within the window. */
static bool replay_first(struct auth *a, const struct webhook_source *s, const char *id,
                         const char *timestamp, int64_t now_s)
{
    unsigned char digest[32];
    char name[600];
    int n = snprintf(name, sizeof(name), "%s\n%s\n%s", s->name, id, timestamp);
    SHA256((const unsigned char *)name, n > 0 && (size_t)n < sizeof(name) ? (size_t)n : 0, digest);
    size_t slot;
    memcpy(&slot, digest, sizeof(slot));
    bool first = true;
    pthread_mutex_lock(&a->replay_lock);
    /* Linear probing over a few slots; an expired slot is free. A full
     * neighbourhood (a flood of distinct signed requests) overwrites the
     * oldest, which only shortens how long that one is remembered. */
    size_t victim = slot % REPLAY_SLOTS;
    for (size_t i = 0; i < 8; i++) {
        struct replay_entry *e = &a->replay[(slot + i) % REPLAY_SLOTS];
        if (e->until_s > now_s && memcmp(e->digest, digest, sizeof(digest)) == 0) {
            first = false;
            break;
        }
        if (e->until_s <= now_s || e->until_s < a->replay[victim].until_s)
            victim = (slot + i) % REPLAY_SLOTS;
    }
    if (first) {
        memcpy(a->replay[victim].digest, digest, sizeof(digest));
        a->replay[victim].until_s = now_s + 2 * WEBHOOK_SIG_TOLERANCE_S;
    }
    pthread_mutex_unlock(&a->replay_lock);
    return first;
}

/* A header under its Standard Webhooks name or Svix's. */
static const char *webhook_header(struct request *req, const char *name)
{
    char svix[64];
    const char *v = http_header(req, name);
    if (v)
        return v;
    snprintf(svix, sizeof(svix), "svix-%s", name + strlen("webhook-"));
    return http_header(req, svix);
}

bool auth_admit_body(struct auth *a, struct request *req, struct auth_denial *d)
{
    memset(d, 0, sizeof(*d));
    const struct webhook_source *s = req->webhook_source;
    if (!s)
        return true;
    const char *id = webhook_header(req, "webhook-id");
    const char *ts = webhook_header(req, "webhook-timestamp");
    const char *sig = webhook_header(req, "webhook-signature");
    if (!id || !ts || !sig)
        return invalid_credentials(d, "a webhook source signs its requests: webhook-id, "
                                      "webhook-timestamp and webhook-signature are required");
    int64_t now_s = time_now_us() / 1000000;
    char why[160];
    if (webhook_verify((const char *const *)s->secrets, s->nsecrets, id, ts, sig, req->body.data,
                       req->body.len, now_s, WEBHOOK_SIG_TOLERANCE_S, why, sizeof(why)) != 0)
        return invalid_credentials(d, why);
    if (!replay_first(a, s, id, ts, now_s))
        return invalid_credentials(d, "this signed request was already received (a replay)");
    return true;
}
