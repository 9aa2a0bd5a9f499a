/* events send, get and list: POST /v1/events, GET /v1/events/{id},
 * GET /v1/events. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The API's largest page. */
#define PAGE_MAX 1000
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

static int add_event_row(struct cli_table *t, const json_t *e)
{
    char a[64], b[64], c[64], d[64];
    const char *row[] = {cli_text(e, "id", a, sizeof(a)), cli_text(e, "type", b, sizeof(b)),
                         cli_text(e, "occurred_at", c, sizeof(c)),
                         cli_text(e, "external_id", d, sizeof(d))};
    return cli_table_add(t, row);
}

int cli_events_list(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    char after[64] = "", before[64] = "", err[256];
    long limit = DEFAULT_LIMIT;
    bool all = cli_args_flag(p, "all");
    const char *since = cli_args_get(p, "since"), *until = cli_args_get(p, "until");
    const char *limit_text = cli_args_get(p, "limit");
    time_t now = time(NULL);
    if (since && cli_args_time(since, now, after, sizeof(after), err, sizeof(err)) != 0)
        return cli_usage(ctx, "--since: %s", err);
    if (until && cli_args_time(until, now, before, sizeof(before), err, sizeof(err)) != 0)
        return cli_usage(ctx, "--until: %s", err);
    if (limit_text && cli_args_uint(limit_text, 1, 1000000000L, &limit) != 0)
        return cli_usage(ctx, "--limit takes a count from 1, not \"%.50s\"", limit_text);
    if (all && limit_text)
        return cli_usage(ctx, "--all and --limit exclude each other");

    int rc = CLI_EXIT_OK;
    long printed = 0;
    char *cursor = NULL;
    const char *start = cli_args_get(p, "cursor");
    if (start && !(cursor = strdup(start))) {
        cli_out_error(&ctx->out, "out of memory");
        return CLI_EXIT_ERROR;
    }
    static const char *const headers[] = {"ID", "TYPE", "OCCURRED AT", "EXTERNAL ID"};
    do {
        struct cli_response res = {0};
        json_t *doc = NULL;
        char page[24];
        long want = all ? PAGE_MAX : limit - printed;
        snprintf(page, sizeof(page), "%ld", want < PAGE_MAX ? want : PAGE_MAX);
        const char *query[] = {"after",    since ? after : NULL,
                               "before",   until ? before : NULL,
                               "type",     cli_args_get(p, "type"),
                               "contains", cli_args_get(p, "contains"),
                               "limit",    page,
                               "cursor",   cursor,
                               NULL};
        struct cli_request req = {.method = "GET",
                                  .path = "/v1/events",
                                  .query = query,
                                  .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
        rc = cli_call(ctx, &req, &res, &doc);
        const json_t *items = json_object_get(doc, "items");
        if (rc == CLI_EXIT_OK && !json_is_array(items)) {
            cli_out_error(&ctx->out, "the answer to GET /v1/events has no items");
            rc = CLI_EXIT_ERROR;
        }
        if (rc == CLI_EXIT_OK && ctx->out.json) {
            if (cli_out_json_items(&ctx->out, res.body.data, res.body.len, "items") < 0)
                rc = CLI_EXIT_ERROR;
        } else if (rc == CLI_EXIT_OK && json_array_size(items)) {
            struct cli_table t;
            cli_table_init(&t, headers, 4);
            size_t i;
            const json_t *e;
            json_array_foreach(items, i, e)
            {
                if (add_event_row(&t, e) != 0)
                    rc = CLI_EXIT_ERROR;
            }
            cli_table_print(&t, ctx->out.out, ctx->out.color_out, 0);
            cli_table_free(&t);
        }
        printed += (long)json_array_size(items);
        free(cursor);
        cursor = NULL;
        const char *next = cli_str(doc, "next_cursor");
        if (rc == CLI_EXIT_OK && next && !(cursor = strdup(next))) {
            cli_out_error(&ctx->out, "out of memory");
            rc = CLI_EXIT_ERROR;
        }
        json_decref(doc);
        cli_response_free(&res);
    } while (rc == CLI_EXIT_OK && cursor && (all || printed < limit));
    if (rc == CLI_EXIT_OK && printed == 0 && !ctx->out.json)
        cli_out_note(&ctx->out, "no events match");
    if (rc == CLI_EXIT_OK && cursor) {
        struct buf clean = {0};
        if (cli_out_clean(&clean, cursor, strlen(cursor), false) == 0)
            cli_out_note(&ctx->out, "more events match: --cursor %s goes on from here", clean.data);
        buf_free(&clean);
    }
    free(cursor);
    return rc;
}
