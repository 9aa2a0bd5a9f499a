/* deliveries list: GET /v1/deliveries, every request's deliveries by status
 * and channel. */
#include "commands.h"

#define DEFAULT_LIMIT 100

static int print_deliveries(struct cli_ctx *ctx, const json_t *items)
{
    static const char *const headers[] = {"REQUEST",    "CHANNEL",      "STATUS",    "ATTEMPTS",
                                          "CREATED AT", "NEXT ATTEMPT", "LAST ERROR"};
    static const char *const members[] = {"request",    "channel",         "status",    "attempts",
                                          "created_at", "next_attempt_at", "last_error"};
    return cli_print_objects(ctx, items, headers, members, sizeof(headers) / sizeof(headers[0]), 2,
                             CLI_OBJECT_CELL_MAX, 0);
}

int cli_deliveries_list(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    struct cli_listing l = {
        .path = "/v1/deliveries", .print = print_deliveries, .noun = "deliveries"};
    if (cli_list_options(ctx, p, DEFAULT_LIMIT, &l) != 0)
        return CLI_EXIT_USAGE;
    /* The API checks both (400 names the statuses there are). */
    const char *filters[] = {"status", cli_args_get(p, "status"), "channel",
                             cli_args_get(p, "channel"), NULL};
    l.filters = filters;
    return cli_list_pages(ctx, &l);
}
