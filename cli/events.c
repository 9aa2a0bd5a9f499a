/* events send, get and list: POST /v1/events, GET /v1/events/{id},
 * GET /v1/events. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LIMIT 100

int cli_events_send(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    int rc = CLI_EXIT_ERROR;
    struct buf in = {0};
    struct cli_response res = {0};
    json_t *doc = NULL;
    char key[300] = "", wait[32], err[256];
    long timeout_ms;
    const char *arg = p->nargs ? p->arg[0] : "-", *body = arg;
    size_t len = strlen(arg);
    const char *key_value = cli_args_get(p, "idempotency-key");
    if (key_value &&
        cli_header(ctx, "idempotency-key", "Idempotency-Key", key_value, key, sizeof(key)) != 0)
        return CLI_EXIT_USAGE;
    if (cli_wait_header(ctx, cli_args_get(p, "wait"), wait, sizeof(wait), &timeout_ms) != 0)
        return CLI_EXIT_USAGE;
    if (strcmp(arg, "-") == 0) {
        if (p->nargs == 0 && isatty(STDIN_FILENO))
            return cli_usage(ctx, "no event: give it as an argument, or pipe it in");
        if (cli_read_all(stdin, &in, err, sizeof(err)) != 0) {
            cli_out_error(&ctx->out, "standard input: %s", err);
            goto out;
        }
        body = in.data;
        len = in.len;
    }
    const char *headers[3] = {NULL};
    size_t nheaders = 0;
    if (key[0])
        headers[nheaders++] = key;
    if (wait[0])
        headers[nheaders++] = wait;
    const char *query[] = {"time_field", cli_args_get(p, "time-field"), NULL};
    struct cli_request req = {.method = "POST",
                              .path = "/v1/events",
                              .query = query,
                              .headers = headers,
                              .content_type = "application/json",
                              .body = body,
                              .body_len = len,
                              .timeout_ms = timeout_ms};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    rc = cli_print_written(ctx, &res, doc);
out:
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&in);
    return rc;
}

static int print_event(struct cli_ctx *ctx, const json_t *doc)
{
    return cli_print_record(ctx, doc, NULL, "body");
}

int cli_events_get(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    return cli_show(ctx, "/v1/events/", p->arg[0], print_event);
}

static int print_events(struct cli_ctx *ctx, const json_t *items)
{
    static const char *const headers[] = {"ID", "TYPE", "OCCURRED AT", "EXTERNAL ID"};
    static const char *const members[] = {"id", "type", "occurred_at", "external_id"};
    return cli_print_objects(ctx, items, headers, members, sizeof(headers) / sizeof(headers[0]), -1,
                             CLI_OBJECT_CELL_MAX, 0);
}

int cli_events_list(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    char after[64] = "", before[64] = "", err[256];
    const char *since = cli_args_get(p, "since"), *until = cli_args_get(p, "until");
    time_t now = time(NULL);
    if (since && cli_args_time(since, now, after, sizeof(after), err, sizeof(err)) != 0)
        return cli_usage(ctx, "--since: %s", err);
    if (until && cli_args_time(until, now, before, sizeof(before), err, sizeof(err)) != 0)
        return cli_usage(ctx, "--until: %s", err);
    struct cli_listing l = {.path = "/v1/events", .print = print_events, .noun = "events"};
    if (cli_list_options(ctx, p, DEFAULT_LIMIT, &l) != 0)
        return CLI_EXIT_USAGE;
    const char *filters[] = {
        "after", since ? after : NULL,    "before",   until ? before : NULL,
        "type",  cli_args_get(p, "type"), "contains", cli_args_get(p, "contains"),
        NULL};
    l.filters = filters;
    return cli_list_pages(ctx, &l);
}
