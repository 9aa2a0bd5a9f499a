/* status: GET /healthz and /readyz of sluice-ingest, and what answered; then,
 * with a key, GET /v1/status (the admin scope): each collection's messages,
 * dead letters and lag. Without a key the exit status says only whether
 * ingest is ready, so a deploy script can wait for it keyless; a key the API
 * refuses exits 4, as for every command. */
#include "commands.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct probe {
    const char *path;
    struct cli_response res;
    json_t *body; /* the answer's JSON, or NULL */
    bool answered;
    char err[CURL_ERROR_SIZE + 256];
};

static void ask(struct cli_ctx *ctx, struct probe *pr)
{
    struct cli_request req = {.method = "GET", .path = pr->path, .timeout_ms = 10000};
    pr->answered = cli_http_do(&ctx->http, &req, &pr->res, pr->err, sizeof(pr->err)) == 0;
    if (pr->answered)
        pr->body = json_loadb(pr->res.body.data, pr->res.body.len, 0, NULL);
}

/* What a probe's answer says, for the table: its state word and detail. */
static void describe(const struct probe *pr, char *state, size_t statelen, char *detail,
                     size_t detaillen)
{
    const char *s = cli_str(pr->body, "status"), *d = cli_str(pr->body, "detail");
    detail[0] = '\0';
    if (!pr->answered) {
        snprintf(state, statelen, "unreachable");
        snprintf(detail, detaillen, "%s", pr->err);
    } else if (pr->res.status == 200 && s) {
        snprintf(state, statelen, "%s", s);
        const char *kafka = cli_str(pr->body, "kafka"), *pg = cli_str(pr->body, "postgresql");
        if (kafka && pg)
            snprintf(detail, detaillen, "kafka %s, postgresql %s", kafka, pg);
    } else if (pr->res.status == 503 && strstr(pr->res.content_type, "problem+json")) {
        snprintf(state, statelen, "not ready");
        snprintf(detail, detaillen, "%s", d ? d : "");
    } else {
        snprintf(state, statelen, "HTTP %ld", pr->res.status);
        snprintf(detail, detaillen, "%s", pr->res.content_type[0] ? pr->res.content_type : "");
    }
}

/* {"status": N, "body": JSON or null, "error": text}, for --json. */
static json_t *probe_json(const struct probe *pr)
{
    if (!pr->answered)
        return json_pack("{s:n, s:n, s:s}", "status", "body", "error", pr->err);
    return json_pack("{s:I, s:O?, s:n}", "status", (json_int_t)pr->res.status, "body", pr->body,
                     "error");
}

/* A collection's lag: the sum over its persist groups, or over the groups
 * that commit it in Kafka (consumed_by: notify's) for one persist does not
 * write ("-" when neither is known). */
static void lag_text(const json_t *collection, char *out, size_t outlen)
{
    const json_t *groups = json_object_get(collection, "persisted_by");
    if (!json_is_array(groups)) {
        groups = json_object_get(collection, "consumed_by");
        if (!json_array_size(groups))
            groups = NULL; /* no group has committed it yet */
    }
    if (!json_is_array(groups)) {
        snprintf(out, outlen, "-");
        return;
    }
    json_int_t lag = 0;
    size_t i;
    const json_t *g;
    json_array_foreach(groups, i, g)
    {
        lag += json_integer_value(json_object_get(g, "lag"));
    }
    snprintf(out, outlen, "%lld", (long long)lag);
}

static void print_collections(struct cli_ctx *ctx, const json_t *status)
{
    static const char *const headers[] = {"COLLECTION", "MESSAGES", "DEAD LETTERS", "LAG"};
    struct cli_table t;
    cli_table_init(&t, headers, 4);
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "collections"), i, c)
    {
        char name[64], messages[32], dead[32], lag[32];
        const char *row[] = {cli_text(c, "name", name, sizeof(name)),
                             cli_text(c, "messages", messages, sizeof(messages)),
                             cli_text(c, "dead_letters", dead, sizeof(dead)), lag};
        lag_text(c, lag, sizeof(lag));
        if (cli_table_add(&t, row) != 0)
            cli_out_error(&ctx->out, "out of memory");
    }
    cli_table_print(&t, ctx->out.out, ctx->out.color_out, 2);
    cli_table_free(&t);
}

int cli_status(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    struct probe probes[] = {{.path = "/healthz"}, {.path = "/readyz"}, {.path = "/v1/status"}};
    enum { N = sizeof(probes) / sizeof(probes[0]) };
    int rc = CLI_EXIT_ERROR;
    for (size_t i = 0; i < N - 1; i++)
        ask(ctx, &probes[i]);
    struct probe *health = &probes[0], *ready = &probes[1], *status = &probes[2];
    /* sluice-ingest stamps X-Request-ID on every answer; the workers' admin
     * ports answer /healthz and /readyz too, but without it. */
    bool any = health->answered || ready->answered;
    bool ingest = (health->answered && health->res.request_id[0]) ||
                  (ready->answered && ready->res.request_id[0]);
    bool is_ready =
        ingest && ready->answered && ready->res.status == 200 &&
        strcmp(cli_str(ready->body, "status") ? cli_str(ready->body, "status") : "", "ready") == 0;
    if (ingest && ctx->settings.key)
        ask(ctx, status);
    bool has_status = status->answered && status->res.status == 200 && status->body;
    bool refused = status->answered && (status->res.status == 401 || status->res.status == 403);
    const char *what = ingest ? "sluice-ingest"
                       : !any ? "nothing"
                       : cli_str(ready->body, "status") || cli_str(health->body, "status")
                           ? "a Sluice worker's admin port (sluice-persist or sluice-notify)"
                           : "something that is not Sluice";

    if (ctx->out.json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:O?}", "url", ctx->settings.url,
                                "url_from", ctx->settings.url_from, "answered", what, "ready",
                                is_ready, "healthz", probe_json(health), "readyz",
                                probe_json(ready), "status", has_status ? status->body : NULL);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text)
            fprintf(ctx->out.out, "%s\n", text);
        else
            cli_out_error(&ctx->out, "out of memory");
        free(text);
        json_decref(doc);
        rc = text && is_ready ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        if (refused)
            rc = cli_http_refused(ctx, "GET /v1/status", &status->res);
        goto out;
    }
    if (!any) {
        cli_no_answer(ctx, health->err);
        goto out;
    }
    FILE *f = ctx->out.out;
    fprintf(f, "%s%s%s answered at %s (from %s)\n", cli_out_color(ctx->out.color_out, CLI_BOLD),
            what, cli_out_reset(ctx->out.color_out), ctx->settings.url, ctx->settings.url_from);
    struct cli_table t;
    cli_table_init(&t, NULL, 3);
    t.status_col = 1;
    for (size_t i = 0; i < N - 1; i++) {
        char state[64], detail[512];
        describe(&probes[i], state, sizeof(state), detail, sizeof(detail));
        const char *row[] = {probes[i].path, state, detail};
        if (cli_table_add(&t, row) != 0)
            cli_out_error(&ctx->out, "out of memory");
    }
    cli_table_print(&t, f, ctx->out.color_out, 2);
    cli_table_free(&t);
    if (has_status)
        print_collections(ctx, status->body);
    if (!ingest)
        cli_out_error(&ctx->out, "%s is not sluice-ingest: point SLUICE_API_URL at the API",
                      ctx->settings.url);
    else if (!ctx->settings.key)
        cli_out_note(&ctx->out, "set SLUICE_API_KEY (a key with the admin scope) to see the "
                                "collections");
    rc = is_ready ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (refused)
        rc = cli_http_refused(ctx, "GET /v1/status", &status->res);
out:
    for (size_t i = 0; i < N; i++) {
        json_decref(probes[i].body);
        cli_response_free(&probes[i].res);
    }
    return rc;
}
