/* keys: managing API keys (admin scope): POST /v1/keys makes one and shows
 * it, once; GET /v1/keys lists them without their secrets; POST
 * /v1/keys/{id}/roll makes its successor and leaves the old key valid for a
 * grace period; DELETE /v1/keys/{id} revokes it. Also `sluice-ingest
 * create-key`, how the first admin key comes to be. Every change is a row of
 * api_keys, whose trigger tells every replica's key store (keystore.h); this
 * replica reloads its own before answering, so the answer holds here at
 * once. */
#include "keys.h"

#include "apikey.h"
#include "auth.h"
#include "http.h"
#include "keystore.h"
#include "log.h"
#include "pg.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_NAME_MAX 100
/* The newest keys GET /v1/keys lists; keys are few, so there is no paging. */
#define KEY_LIST_MAX_TEXT "1000"
#define KEY_ROLL_GRACE_DEFAULT_S 86400
#define KEY_ROLL_GRACE_MAX_S (30 * 86400)
/* How long a change may take to hold on this replica before the answer
 * goes out anyway (the notification brings it moments later). */
#define KEY_RELOAD_WAIT_MS 2000

/* A key as the API shows it, without its secret. */
#define KEY_JSON                                                                                   \
    "json_build_object('id', id, 'name', name, 'tenant', tenant, 'scopes', scopes, "               \
    "'prefix', '" APIKEY_PREFIX "' || id || '_', 'created_at', " READS_TIME(                       \
        "created_at") ", "                                                                         \
                      "'expires_at', " READS_TIME("expires_at") ", 'last_used_at', " READS_TIME(   \
                          "last_used_at") ", "                                                     \
                                          "'revoked_at', " READS_TIME(                             \
                                              "revoked_at") ", 'rolled_to', rolled_to)::text"

/* A new key's secret and the parameters that store it. */
struct new_key {
    char key[APIKEY_MAX];
    char id[APIKEY_ID_MAX];
    char hash_literal[2 + 2 * APIKEY_HASH_LEN + 1]; /* "\x<hex>" as bytea text */
};

static int new_key_make(struct new_key *k, const char *pepper)
{
    if (apikey_generate(k->key, k->id) != 0)
        return -1;
    char hex[APIKEY_HASH_HEX_MAX];
    if (apikey_hash_hex(k->key, (const unsigned char *)pepper, strlen(pepper), hex) != 0)
        return -1;
    snprintf(k->hash_literal, sizeof(k->hash_literal), "\\x%s", hex);
    return 0;
}

static void new_key_forget(struct new_key *k)
{
    OPENSSL_cleanse(k->key, sizeof(k->key));
}

/* The scopes as a text[] literal. */
static void scopes_literal(unsigned scopes, struct buf *out)
{
    buf_puts(out, "{");
    for (unsigned i = 0; i < SCOPE_COUNT; i++)
        if (scopes & (1u << i))
            pg_text_array_add(out, scope_name(1u << i));
    buf_puts(out, "}");
}

#define INSERT_KEY                                                                                 \
    "INSERT INTO api_keys (id, name, hash, tenant, scopes, expires_at) "                           \
    "VALUES ($1, $2, $3::bytea, $4, $5::text[], $6::timestamptz) RETURNING " KEY_JSON

/* The answer to a new key: its row with the key itself, this once. */
static json_t *key_shown(const char *row_json, const char *key)
{
    json_t *doc = json_loads(row_json, 0, NULL);
    if (doc)
        json_object_set_new(doc, "key", json_string(key));
    return doc;
}

/* What POST /v1/keys takes. */
struct key_request {
    const char *name;
    const char *tenant;
    unsigned scopes;
    char expires_at[TIME_STR_LEN]; /* "" for never */
};

/* admin manages every tenant's keys, so only the default (operator's)
 * tenant's keys hold it: named outright for another tenant it is refused,
 * within "*" it is left out. */
static bool admin_refused(const char *tenant, unsigned *scopes, const json_t *names)
{
    if (strcmp(tenant, TENANT_DEFAULT) == 0 || !(*scopes & SCOPE_ADMIN))
        return false;
    size_t i;
    const json_t *v;
    json_array_foreach(names, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "admin") == 0)
            return true;
    }
    *scopes &= ~(unsigned)SCOPE_ADMIN;
    return false;
}

static int key_request_parse(json_t *body, struct key_request *kr, struct problem_errors *pe)
{
    memset(kr, 0, sizeof(*kr));
    json_t *name = json_object_get(body, "name");
    kr->name = json_string_value(name);
    if (!kr->name || !*kr->name || strlen(kr->name) > KEY_NAME_MAX)
        problem_errors_add(pe, "/name", "must be a string of 1 to %d characters", KEY_NAME_MAX);
    char why[320];
    if (scopes_from_json(json_object_get(body, "scopes"), &kr->scopes, why, sizeof(why)) != 0)
        problem_errors_add(pe, "/scopes", "%s", why);
    json_t *tenant = json_object_get(body, "tenant");
    kr->tenant = tenant ? json_string_value(tenant) : TENANT_DEFAULT;
    if (!kr->tenant || !tenant_valid(kr->tenant))
        problem_errors_add(pe, "/tenant",
                           "must be 1 to 63 of a-z, 0-9, - and _, starting with a letter or digit");
    else if (admin_refused(kr->tenant, &kr->scopes, json_object_get(body, "scopes")))
        problem_errors_add(pe, "/scopes",
                           "admin is the operator's scope: only keys of the "
                           "default tenant hold it");
    json_t *expires = json_object_get(body, "expires_at");
    if (expires && !json_is_null(expires)) {
        int64_t us;
        const char *text = json_string_value(expires);
        if (!text || time_parse(text, &us) != 0 || !time_in_range(us))
            problem_errors_add(pe, "/expires_at", "must be an RFC 3339 timestamp");
        else if (us <= time_now_us())
            problem_errors_add(pe, "/expires_at", "must be in the future");
        else
            time_format(us, kr->expires_at);
    }
    const char *known[] = {"name", "scopes", "tenant", "expires_at"};
    const char *member;
    json_t *v;
    json_object_foreach(body, member, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(member, known[i]) == 0;
        if (!ok) {
            char pointer[300];
            problem_pointer_join(pointer, sizeof(pointer), "", member);
            problem_errors_add(pe, pointer,
                               "is not a member of a key (name, scopes, tenant, "
                               "expires_at)");
        }
    }
    return pe->count ? -1 : 0;
}

static enum MHD_Result answer_key(struct request *req, PGresult *res, const char *key)
{
    json_t *doc = key_shown(PQgetvalue(res, 0, 0), key);
    PQclear(res);
    if (!doc)
        return reads_failed(req, false);
    keystore_reload_wait(auth_keystore(req->app->auth), KEY_RELOAD_WAIT_MS);
    char location[64];
    snprintf(location, sizeof(location), "/v1/keys/%s",
             json_string_value(json_object_get(doc, "id")));
    const char *headers[] = {"Location", location, "Cache-Control", "no-store", NULL};
    return http_respond_json(req, MHD_HTTP_CREATED, doc, headers);
}

static enum MHD_Result keys_post(struct request *req)
{
    enum MHD_Result ret;
    if (!validate_json_content_type(http_header(req, "Content-Type")))
        return http_respond_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",
                                    "Unsupported media type",
                                    "Send the key as Content-Type: application/json.", NULL, NULL);
    json_t *body = http_body_object(req, &ret);
    if (!body)
        return ret;
    struct key_request kr;
    struct problem_errors pe = {0};
    if (key_request_parse(body, &kr, &pe) != 0) {
        ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid-key",
                                   "Invalid key", "The key cannot be made as asked.", &pe, NULL);
        problem_errors_free(&pe);
        json_decref(body);
        return ret;
    }
    struct new_key k;
    struct buf scopes = {0};
    scopes_literal(kr.scopes, &scopes);
    if (new_key_make(&k, req->app->cfg.api_key_pepper) != 0 || !scopes.data) {
        buf_free(&scopes);
        json_decref(body);
        return reads_failed(req, false);
    }
    const char *params[] = {k.id,      kr.name,     k.hash_literal,
                            kr.tenant, scopes.data, kr.expires_at[0] ? kr.expires_at : NULL};
    bool transient;
    PGresult *res = reads_query(req->app, INSERT_KEY, 6, params, &transient);
    buf_free(&scopes);
    json_decref(body);
    ret = res ? answer_key(req, res, k.key) : reads_failed(req, transient);
    if (res)
        log_info("API key created", "key", k.id, "by", req->principal.id);
    new_key_forget(&k);
    return ret;
}

static enum MHD_Result keys_list(struct request *req)
{
    bool transient;
    PGresult *res =
        reads_query(req->app,
                    "SELECT COALESCE(json_agg(k ORDER BY created, id), '[]')::text FROM "
                    "(SELECT " KEY_JSON "::json AS k, created_at AS created, id FROM api_keys "
                    "ORDER BY created_at DESC, id LIMIT " KEY_LIST_MAX_TEXT ") s",
                    0, NULL, &transient);
    if (!res)
        return reads_failed(req, transient);
    json_t *list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!list)
        return reads_failed(req, false);
    return http_respond_json(req, MHD_HTTP_OK, json_pack("{s:o}", "keys", list), NULL);
}

static enum MHD_Result key_not_found(struct request *req)
{
    return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Key not found",
                                "No valid key has this id.", NULL, NULL);
}

/* The successor gets the old key's name, tenant, scopes and expiry; the old
 * key expires after the grace period (or at its own expiry, if sooner). */
static enum MHD_Result keys_roll(struct request *req)
{
    long grace = KEY_ROLL_GRACE_DEFAULT_S;
    if (req->body.len) {
        enum MHD_Result ret;
        json_t *body = http_body_object(req, &ret);
        if (!body)
            return ret;
        json_t *g = json_object_get(body, "grace_seconds");
        bool ok = !g || (json_is_integer(g) && json_integer_value(g) >= 0 &&
                         json_integer_value(g) <= KEY_ROLL_GRACE_MAX_S);
        if (g && ok)
            grace = (long)json_integer_value(g);
        json_decref(body);
        if (!ok) {
            struct problem_errors pe = {0};
            problem_errors_add(&pe, "/grace_seconds", "must be an integer from 0 to %d",
                               KEY_ROLL_GRACE_MAX_S);
            ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid-roll",
                                       "Invalid roll", "The key cannot be rolled as asked.", &pe,
                                       NULL);
            problem_errors_free(&pe);
            return ret;
        }
    }
    struct new_key k;
    if (new_key_make(&k, req->app->cfg.api_key_pepper) != 0)
        return reads_failed(req, false);
    char grace_text[24];
    snprintf(grace_text, sizeof(grace_text), "%ld", grace);
    const char *params[] = {req->param, k.id, k.hash_literal, grace_text};
    bool transient;
    PGresult *res = reads_query(
        req->app,
        "WITH old AS (SELECT id, name, tenant, scopes, expires_at, rolled_to FROM api_keys "
        "WHERE id = $1 "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE), "
        /* A key rolled already (a retried roll) has its grace as expiry:
         * the successor takes the expiry the key had before its first roll,
         * which its first successor keeps. */
        "fresh AS (INSERT INTO api_keys (id, name, hash, tenant, scopes, expires_at) "
        "SELECT $2, name, $3::bytea, tenant, scopes, CASE WHEN old.rolled_to IS NULL THEN "
        "old.expires_at ELSE (SELECT s.expires_at FROM api_keys s WHERE s.id = old.rolled_to) "
        "END FROM old RETURNING *), "
        "retired AS (UPDATE api_keys k SET rolled_to = $2, expires_at = LEAST(COALESCE("
        "k.expires_at, 'infinity'), now() + $4::int * interval '1 second') FROM old "
        "WHERE k.id = old.id RETURNING k.id) "
        "SELECT " KEY_JSON " FROM fresh",
        4, params, &transient);
    enum MHD_Result ret;
    if (!res)
        ret = reads_failed(req, transient);
    else if (PQntuples(res) == 0) {
        PQclear(res);
        ret = key_not_found(req);
    } else {
        log_info("API key rolled", "key", req->param, "successor", k.id, "by", req->principal.id);
        ret = answer_key(req, res, k.key);
    }
    new_key_forget(&k);
    return ret;
}

static enum MHD_Result keys_delete(struct request *req)
{
    const char *params[] = {req->param};
    bool transient;
    PGresult *res = reads_query(req->app,
                                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) "
                                "WHERE id = $1 RETURNING id",
                                1, params, &transient);
    if (!res)
        return reads_failed(req, transient);
    int rows = PQntuples(res);
    PQclear(res);
    if (rows == 0)
        return key_not_found(req);
    log_info("API key revoked", "key", req->param, "by", req->principal.id);
    keystore_reload_wait(auth_keystore(req->app->auth), KEY_RELOAD_WAIT_MS);
    return http_respond(req, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
}

const struct route keys_routes[] = {
    {"POST", "/v1/keys", SCOPE_ADMIN, keys_post, NULL, ROUTE_ON_DB, 16},
    {"GET", "/v1/keys", SCOPE_ADMIN, keys_list, NULL, ROUTE_ON_DB, 0},
    {"POST", "/v1/keys/{id}/roll", SCOPE_ADMIN, keys_roll, NULL, ROUTE_ON_DB, 4},
    {"DELETE", "/v1/keys/{id}", SCOPE_ADMIN, keys_delete, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};

int keys_create_command(const struct ingest_config *cfg, int argc, char **argv)
{
    const char *name = NULL, *scopes_text = "*", *tenant = TENANT_DEFAULT;
    for (int i = 0; i < argc; i += 2) { /* --option value */
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0) {
            printf("Usage: sluice-ingest create-key --name NAME [--scopes \"a b\"|*] "
                   "[--tenant T]\n\nMakes an API key in PostgreSQL (SLUICE_PG_URL) and prints "
                   "it once on stdout. Scopes default to all (*).\n");
            return 0;
        }
        if (!value ||
            (strcmp(arg, "--name") && strcmp(arg, "--scopes") && strcmp(arg, "--tenant"))) {
            fprintf(stderr, "sluice-ingest create-key: unexpected '%s' (see --help)\n", arg);
            return 2;
        }
        if (strcmp(arg, "--name") == 0)
            name = value;
        else if (strcmp(arg, "--scopes") == 0)
            scopes_text = value;
        else
            tenant = value;
    }
    unsigned scopes;
    char bad[64] = "(none)";
    if (!name || !*name || strlen(name) > KEY_NAME_MAX) {
        fprintf(stderr, "sluice-ingest create-key: --name of 1 to %d characters is required\n",
                KEY_NAME_MAX);
        return 2;
    }
    if (scopes_parse(scopes_text, &scopes, bad, sizeof(bad)) != 0 || !scopes) {
        fprintf(stderr, "sluice-ingest create-key: \"%s\" is not a scope\n", bad);
        return 2;
    }
    if (!tenant_valid(tenant)) {
        fprintf(stderr, "sluice-ingest create-key: \"%s\" is not a valid tenant\n", tenant);
        return 2;
    }
    if (strcmp(tenant, TENANT_DEFAULT) != 0 && (scopes & SCOPE_ADMIN)) {
        if (!strchr(scopes_text, '*')) {
            fprintf(stderr, "sluice-ingest create-key: admin is the operator's scope: only keys "
                            "of the default tenant hold it\n");
            return 2;
        }
        scopes &= ~(unsigned)SCOPE_ADMIN;
    }
    char err[512];
    PGconn *conn = pg_connect_retry(cfg->pg_url, 30000, err, sizeof(err));
    if (!conn || pg_migrate(conn, cfg->schema_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluice-ingest create-key: %s\n", err);
        PQfinish(conn);
        return 1;
    }
    struct new_key k;
    struct buf scopes_buf = {0};
    scopes_literal(scopes, &scopes_buf);
    int code = 1;
    if (new_key_make(&k, cfg->api_key_pepper) == 0 && scopes_buf.data) {
        const char *params[] = {k.id, name, k.hash_literal, tenant, scopes_buf.data, NULL};
        PGresult *res = PQexecParams(conn, INSERT_KEY, 6, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            printf("%s\n", k.key);
            code = 0;
        } else {
            fprintf(stderr, "sluice-ingest create-key: %s", PQerrorMessage(conn));
        }
        PQclear(res);
        new_key_forget(&k);
    }
    buf_free(&scopes_buf);
    PQfinish(conn);
    return code;
}
