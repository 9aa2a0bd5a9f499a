/* assistance send and status: POST /v1/assistance, GET /v1/assistance/{id}. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>

int cli_assistance_send(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    const char *topic = cli_args_get(p, "topic"), *description = cli_args_get(p, "description");
    if (!topic || !description)
        return cli_usage(ctx, "--topic and --description are both required");
    char key[300] = "", wait[32], err[256];
    long timeout_ms;
    const char *key_value = cli_args_get(p, "idempotency-key");
    if (key_value &&
        cli_header(ctx, "idempotency-key", "Idempotency-Key", key_value, key, sizeof(key)) != 0)
        return CLI_EXIT_USAGE;
    if (cli_wait_header(ctx, cli_args_get(p, "wait"), wait, sizeof(wait), &timeout_ms) != 0)
        return CLI_EXIT_USAGE;

    int rc = CLI_EXIT_ERROR;
    struct buf in = {0};
    struct cli_response res = {0};
    json_t *doc = NULL, *body = NULL;
    char *text = NULL;
    if (strcmp(description, "-") == 0) {
        if (cli_read_all(stdin, &in, err, sizeof(err)) != 0) {
            cli_out_error(&ctx->out, "standard input: %s", err);
            goto out;
        }
        /* As $(...) would: the line break that ends the text is not part of it. */
        while (in.len && (in.data[in.len - 1] == '\n' || in.data[in.len - 1] == '\r'))
            in.data[--in.len] = '\0';
        description = in.data;
    }
    body = json_object();
    if (!body || json_object_set_new(body, "topic", json_string(topic)) != 0) {
        rc = cli_usage(ctx, "--topic is not UTF-8 text");
        goto out;
    }
    if (json_object_set_new(body, "description", json_string(description)) != 0) {
        rc = cli_usage(ctx, "--description is not UTF-8 text");
        goto out;
    }
    if (!(text = json_dumps(body, JSON_COMPACT))) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    const char *headers[3] = {NULL};
    size_t n = 0;
    if (key[0])
        headers[n++] = key;
    if (wait[0])
        headers[n++] = wait;
    struct cli_request req = {.method = "POST",
                              .path = "/v1/assistance",
                              .headers = headers,
                              .content_type = "application/json",
                              .body = text,
                              .body_len = strlen(text),
                              .timeout_ms = timeout_ms};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    rc = cli_print_written(ctx, &res, doc);
out:
    free(text);
    json_decref(body);
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&in);
    return rc;
}

static int print_deliveries(struct cli_ctx *ctx, const json_t *deliveries)
{
    static const char *const headers[] = {"CHANNEL",  "TYPE",         "STATUS",    "ATTEMPTS",
                                          "FALLBACK", "DELIVERED AT", "LAST ERROR"};
    static const char *const members[] = {"channel",  "type",         "status",    "attempts",
                                          "fallback", "delivered_at", "last_error"};
    fprintf(ctx->out.out, "deliveries (%zu):\n", json_array_size(deliveries));
    return cli_print_objects(ctx, deliveries, headers, members,
                             sizeof(headers) / sizeof(headers[0]), 2, 64, 2);
}

static int print_request(struct cli_ctx *ctx, const json_t *doc)
{
    static const char *const skip[] = {"deliveries", NULL};
    if (cli_print_record(ctx, doc, skip, NULL) != 0)
        return -1;
    return print_deliveries(ctx, json_object_get(doc, "deliveries"));
}

int cli_assistance_status(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    return cli_show(ctx, "/v1/assistance/", p->arg[0], print_request);
}
