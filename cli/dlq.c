/* dlq list and replay: GET /v1/dlq/{collection}, POST /v1/dlq/{collection}/replay. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "/v1/dlq/<collection><suffix>[?error=...&since=...]" into path; since is
 * --since as the API takes it (cli_args_time), or NULL. */
static int dlq_path(const struct cli_parsed *p, const char *suffix, bool query, const char *since,
                    struct buf *path)
{
    char *collection = cli_http_escape(p->arg[0]);
    const char *error = cli_args_get(p, "error");
    char *filter = query && error ? cli_http_escape(error) : NULL;
    char *from = query && since ? cli_http_escape(since) : NULL;
    int rc = collection && (!error || !query || filter) && (!since || !query || from) ? 0 : -1;
    if (rc == 0)
        rc = buf_printf(path, "/v1/dlq/%s%s%s%s%s%s", collection, suffix, filter ? "?error=" : "",
                        filter ? filter : "", from ? (filter ? "&since=" : "?since=") : "",
                        from ? from : "");
    free(collection);
    free(filter);
    free(from);
    return rc;
}

/* --since as the API takes it into out; -1 after a usage message. */
static int dlq_since(struct cli_ctx *ctx, const struct cli_parsed *p, char *out, size_t outlen,
                     int *rc)
{
    const char *since = cli_args_get(p, "since");
    char err[160];
    out[0] = '\0';
    if (since && cli_args_time(since, time(NULL), out, outlen, err, sizeof(err)) != 0) {
        *rc = cli_usage(ctx, "--since: %s", err);
        return -1;
    }
    return 0;
}

static int print_letters(struct cli_ctx *ctx, const json_t *letters)
{
    static const char *const headers[] = {"PARTITION", "OFFSET", "KEY", "REPLAYED", "ERROR"};
    static const char *const members[] = {"partition", "offset", "key", "replayed", "error"};
    return cli_print_objects(ctx, letters, headers, members, sizeof(headers) / sizeof(headers[0]),
                             -1, 96, 0);
}

int cli_dlq_list(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL;
    struct buf path = {0};
    char since[64];
    if (dlq_since(ctx, p, since, sizeof(since), &rc) != 0)
        goto out;
    if (dlq_path(p, "", true, since[0] ? since : NULL, &path) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {
        .method = "GET", .path = path.data, .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    const json_t *letters = json_object_get(doc, "letters");
    if (ctx->out.json) {
        /* One letter a line, as every listing prints records. */
        size_t i;
        const json_t *letter;
        json_array_foreach(letters, i, letter)
        {
            char *line = json_dumps(letter, JSON_COMPACT);
            if (!line || cli_out_json_line(&ctx->out, line, strlen(line)) != 0)
                rc = CLI_EXIT_ERROR;
            free(line);
        }
    } else if (print_letters(ctx, letters) != 0) {
        rc = CLI_EXIT_ERROR;
    }
    if (json_is_true(json_object_get(doc, "truncated")))
        cli_out_error(&ctx->out, "more letters than shown (the API lists at most 1,000)");
out:
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    return rc;
}

int cli_dlq_replay(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL, *body = json_object();
    char *text = NULL;
    struct buf path = {0};
    const char *error = cli_args_get(p, "error");
    bool dry_run = cli_args_flag(p, "dry-run");
    char since[64];
    if (dlq_since(ctx, p, since, sizeof(since), &rc) != 0)
        goto out;
    if (!body || json_object_set_new(body, "dry_run", json_boolean(dry_run)) != 0 ||
        (error && json_object_set_new(body, "error", json_string(error)) != 0) ||
        (since[0] && json_object_set_new(body, "since", json_string(since)) != 0) ||
        dlq_path(p, "/replay", false, NULL, &path) != 0 ||
        !(text = json_dumps(body, JSON_COMPACT))) {
        rc = error && !json_object_get(body, "error") ? cli_usage(ctx, "--error is not UTF-8 text")
                                                      : CLI_EXIT_ERROR;
        if (rc == CLI_EXIT_ERROR)
            cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {.method = "POST",
                              .path = path.data,
                              .content_type = "application/json",
                              .body = text,
                              .body_len = strlen(text),
                              .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    if (ctx->out.json) {
        rc = cli_out_json_line(&ctx->out, res.body.data, res.body.len) == 0 ? CLI_EXIT_OK
                                                                            : CLI_EXIT_ERROR;
        goto out;
    }
    long long matched = json_integer_value(json_object_get(doc, "matched"));
    long long already = json_integer_value(json_object_get(doc, "already_replayed"));
    if (dry_run)
        fprintf(ctx->out.out, "%lld letters match, %lld would be replayed (%lld were already)\n",
                matched, json_integer_value(json_object_get(doc, "would_replay")), already);
    else
        fprintf(ctx->out.out, "replayed %lld of %lld matching letters (%lld were already)\n",
                json_integer_value(json_object_get(doc, "replayed")), matched, already);
    long long failed = json_integer_value(json_object_get(doc, "failed"));
    if (failed) {
        cli_out_error(&ctx->out, "%lld letters were not taken by Kafka: replay again", failed);
        rc = CLI_EXIT_ERROR;
    }
out:
    free(text);
    json_decref(body);
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    return rc;
}
