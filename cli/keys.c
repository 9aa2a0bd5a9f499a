/* keys create, list, roll and revoke: POST /v1/keys, GET /v1/keys,
 * POST /v1/keys/{id}/roll, DELETE /v1/keys/{id} (the admin scope).
 *
 * A new key is in its answer only, so create and roll print it alone on
 * stdout (key=$(sluicectl keys create ...)), and what it is on stderr. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GRACE_MAX_S (30L * 86400) /* what the API takes (docs/api.md 6.9) */

/* --scopes "a b" (or "a,b") as the API's array; NULL when it names none. */
static json_t *scopes_array(const char *text)
{
    json_t *array = json_array();
    const char *p = text;
    while (array && *p) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        if (json_array_append_new(array, json_stringn(p, len)) != 0) {
            json_decref(array);
            return NULL;
        }
        p += len;
    }
    if (array && json_array_size(array) == 0) {
        json_decref(array);
        return NULL;
    }
    return array;
}

/* A new key's answer: the key on stdout (the whole answer with --json), and
 * on stderr what it is. Returns the exit code. */
static int print_new_key(struct cli_ctx *ctx, const struct cli_response *res, const json_t *doc)
{
    const char *key = cli_str(doc, "key"), *id = cli_str(doc, "id");
    if (!key || !id) {
        cli_out_error(&ctx->out, "the answer has no key");
        return CLI_EXIT_ERROR;
    }
    if (ctx->out.json)
        return cli_out_json_line(&ctx->out, res->body.data, res->body.len) == 0 ? CLI_EXIT_OK
                                                                                : CLI_EXIT_ERROR;
    struct buf clean = {0}, clean_id = {0};
    int rc = CLI_EXIT_ERROR;
    if (cli_out_clean(&clean, key, strlen(key), false) == 0 &&
        cli_out_clean(&clean_id, id, strlen(id), false) == 0) {
        fprintf(ctx->out.out, "%s\n", clean.data);
        cli_out_note(&ctx->out, "key %s: shown this once, keep it now", clean_id.data);
        rc = CLI_EXIT_OK;
    } else {
        cli_out_error(&ctx->out, "out of memory");
    }
    buf_free(&clean);
    buf_free(&clean_id);
    return rc;
}

int cli_keys_create(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    const char *name = cli_args_get(p, "name"), *scopes = cli_args_get(p, "scopes");
    const char *tenant = cli_args_get(p, "tenant"), *expires = cli_args_get(p, "expires-at");
    if (!name || !scopes)
        return cli_usage(ctx, "--name and --scopes are both required");
    json_t *array = scopes_array(scopes);
    if (!array)
        return cli_usage(ctx, "--scopes names no scope: give them separated by spaces "
                              "(\"events:read events:write\", or \"*\" for all)");
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL, *body = json_object();
    char *text = NULL;
    if (!body || json_object_set_new(body, "scopes", array) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    /* A value that is not UTF-8 is a usage error; the API checks the rest. */
    const char *names[] = {"name", "tenant", "expires_at"};
    const char *values[] = {name, tenant, expires};
    const char *options[] = {"--name", "--tenant", "--expires-at"};
    for (size_t i = 0; i < 3; i++) {
        if (values[i] && json_object_set_new(body, names[i], json_string(values[i])) != 0) {
            rc = cli_usage(ctx, "%s is not UTF-8 text", options[i]);
            goto out;
        }
    }
    if (!(text = json_dumps(body, JSON_COMPACT))) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {.method = "POST",
                              .path = "/v1/keys",
                              .content_type = "application/json",
                              .body = text,
                              .body_len = strlen(text),
                              .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    rc = print_new_key(ctx, &res, doc);
out:
    free(text);
    json_decref(body);
    json_decref(doc);
    cli_response_free(&res);
    return rc;
}

/* An RFC 3339 UTC time as the API writes it ("2026-01-02T03:04:05.123456Z")
 * in seconds since the epoch; -1 when it is not one. */
static time_t api_time(const char *text)
{
    struct tm tm = {0};
    char z = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    z = text[strlen(text) - 1];
    if (z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* Where a key stands: revoked, expired, rolled (valid while its grace
 * period lasts) or valid. */
static const char *key_state(const json_t *k, time_t now)
{
    if (cli_str(k, "revoked_at"))
        return "revoked";
    time_t expires = api_time(cli_str(k, "expires_at"));
    if (expires >= 0 && expires <= now)
        return "expired";
    return cli_str(k, "rolled_to") ? "rolled" : "valid";
}

/* The scopes as one cell: "events:read events:write". */
static int scopes_text(const json_t *k, struct buf *out)
{
    size_t i;
    const json_t *s;
    int rc = buf_puts(out, "");
    json_array_foreach(json_object_get(k, "scopes"), i, s)
    {
        const char *name = json_string_value(s);
        if (name)
            rc |= buf_printf(out, "%s%s", out->len ? " " : "", name);
    }
    return rc;
}

static int print_keys(struct cli_ctx *ctx, const json_t *keys)
{
    static const char *const headers[] = {"ID",     "NAME",       "TENANT",   "STATE",
                                          "SCOPES", "EXPIRES AT", "LAST USED"};
    struct cli_table t;
    cli_table_init(&t, headers, sizeof(headers) / sizeof(headers[0]));
    t.status_col = 3;
    time_t now = time(NULL);
    size_t i;
    const json_t *k;
    int rc = 0;
    json_array_foreach(keys, i, k)
    {
        char id[64], name[128], tenant[64], expires[64], used[64];
        struct buf scopes = {0};
        rc |= scopes_text(k, &scopes);
        const char *row[] = {cli_text(k, "id", id, sizeof(id)),
                             cli_text(k, "name", name, sizeof(name)),
                             cli_text(k, "tenant", tenant, sizeof(tenant)),
                             key_state(k, now),
                             scopes.data ? scopes.data : "",
                             cli_text(k, "expires_at", expires, sizeof(expires)),
                             cli_text(k, "last_used_at", used, sizeof(used))};
        rc |= cli_table_add(&t, row);
        buf_free(&scopes);
    }
    cli_table_print(&t, ctx->out.out, ctx->out.color_out, 0);
    cli_table_free(&t);
    if (rc != 0)
        cli_out_error(&ctx->out, "out of memory");
    return rc ? -1 : 0;
}

int cli_keys_list(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    (void)p;
    struct cli_response res = {0};
    json_t *doc = NULL;
    struct cli_request req = {
        .method = "GET", .path = "/v1/keys", .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    int rc = cli_call(ctx, &req, &res, &doc);
    const json_t *keys = json_object_get(doc, "keys");
    if (rc == CLI_EXIT_OK && !json_is_array(keys)) {
        cli_out_error(&ctx->out, "the answer to GET /v1/keys has no keys");
        rc = CLI_EXIT_ERROR;
    }
    if (rc == CLI_EXIT_OK && ctx->out.json) {
        /* One key a line, as every listing prints records. */
        if (cli_out_json_items(&ctx->out, res.body.data, res.body.len, "keys") < 0)
            rc = CLI_EXIT_ERROR;
    } else if (rc == CLI_EXIT_OK && json_array_size(keys) == 0) {
        cli_out_note(&ctx->out, "no keys");
    } else if (rc == CLI_EXIT_OK && print_keys(ctx, keys) != 0) {
        rc = CLI_EXIT_ERROR;
    }
    json_decref(doc);
    cli_response_free(&res);
    return rc;
}

/* "/v1/keys/<id, escaped><suffix>" into path; -1 out of memory. */
static int key_path(const char *id, const char *suffix, struct buf *path)
{
    char *escaped = cli_http_escape(id);
    int rc = escaped ? buf_printf(path, "/v1/keys/%s%s", escaped, suffix) : -1;
    free(escaped);
    return rc;
}

int cli_keys_roll(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    const char *grace_text = cli_args_get(p, "grace");
    long grace = 0;
    if (grace_text && cli_args_uint(grace_text, 0, GRACE_MAX_S, &grace) != 0)
        return cli_usage(ctx, "--grace takes 0 to %ld seconds, not \"%.50s\"", GRACE_MAX_S,
                         grace_text);
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL;
    struct buf path = {0};
    char body[64] = "";
    if (grace_text)
        snprintf(body, sizeof(body), "{\"grace_seconds\":%ld}", grace);
    if (key_path(p->arg[0], "/roll", &path) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {.method = "POST",
                              .path = path.data,
                              .content_type = body[0] ? "application/json" : NULL,
                              .body = body[0] ? body : NULL,
                              .body_len = strlen(body),
                              .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    rc = print_new_key(ctx, &res, doc);
    if (rc == CLI_EXIT_OK && !ctx->out.json) {
        struct buf clean = {0};
        if (cli_out_clean(&clean, p->arg[0], strlen(p->arg[0]), false) == 0) {
            if (grace_text)
                cli_out_note(&ctx->out, "it replaces %s, which stays valid for %ld s", clean.data,
                             grace);
            else
                cli_out_note(&ctx->out,
                             "it replaces %s, which stays valid for the API's grace period "
                             "(a day; --grace sets it)",
                             clean.data);
        }
        buf_free(&clean);
    }
out:
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    return rc;
}

int cli_keys_revoke(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL;
    struct buf path = {0}, clean = {0};
    if (key_path(p->arg[0], "", &path) != 0 ||
        cli_out_clean(&clean, p->arg[0], strlen(p->arg[0]), false) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {
        .method = "DELETE", .path = path.data, .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    /* The API answers 204, no body: --json has nothing to print. */
    if (!ctx->out.json)
        fprintf(ctx->out.out, "revoked %s\n", clean.data);
out:
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    buf_free(&clean);
    return rc;
}
