#include "commands.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A body read from standard input larger than this is a mistake (the API
 * takes under 1 MiB per write). */
#define READ_ALL_MAX (64u * 1024 * 1024)

const struct cli_option cli_global_options[] = {
    {"json", 0, NULL, "print the API's JSON, one object per line, instead of text"},
    {"url", 0, "URL",
     "the API (default: $SLUICE_API_URL, then .run/env, then " CLI_DEFAULT_URL ")"},
    {"verbose", 'v', NULL, "show each request and its answer's status on stderr"},
    {"help", 'h', NULL, "show the help of the command"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option no_options[] = {{NULL, 0, NULL, NULL}};

static const struct cli_option events_send_options[] = {
    {"idempotency-key", 0, "KEY",
     "name the write: a retry with the same KEY and body is the same event (Idempotency-Key)"},
    {"time-field", 0, "PTR", "JSON Pointer to the member holding the event's time (/meta/at)"},
    {"wait", 0, "SECONDS",
     "answer once PostgreSQL holds the event, waiting up to SECONDS (1-30; Prefer: wait)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option events_list_options[] = {
    {"type", 0, "T", "only events whose type is T"},
    {"since", 0, "TIME",
     "only events that occurred at or after TIME: a date (2024-05-01), an RFC 3339 date-time, "
     "or a duration back from now (90s, 15m, 2h, 7d, 1w)"},
    {"until", 0, "TIME", "only events that occurred before TIME (the same forms)"},
    {"contains", 0, "TEXT", "only events whose body contains TEXT (case-insensitive)"},
    {"limit", 'n', "N", "print at most N events (default 100), following pages as needed"},
    {"all", 0, NULL, "print every matching event, however many pages"},
    {"cursor", 0, "CURSOR", "start at this next_cursor of an earlier listing (same filters)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option import_options[] = {
    {"collection", 0, "C", "the collection to import into: events (default) or recipes"},
    {"time-field", 0, "PTR", "events: JSON Pointer to the member holding each record's time"},
    {"no-wait", 0, NULL, "stop once the upload is answered; do not wait for the workers"},
    {"timeout", 0, "SECONDS",
     "stop waiting for the workers after SECONDS (exit 1); default: no "
     "limit"},
    {"strict", 0, NULL, "exit 3 when any record was rejected or dropped"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option assistance_send_options[] = {
    {"topic", 0, "T", "required: a topic of the routing file (sales, pricing, ...)"},
    {"description", 0, "TEXT",
     "required: what is needed, 1 to 4000 characters ('-' reads standard input)"},
    {"idempotency-key", 0, "KEY", "a retry with the same KEY and request is the same request"},
    {"wait", 0, "SECONDS",
     "answer once sluice-notify has recorded the request, waiting up to SECONDS (1-30)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option dlq_list_options[] = {
    {"error", 0, "TEXT", "only letters whose reason (x-error) contains TEXT"},
    {"since", 0, "TIME",
     "only letters dead-lettered since TIME (a date, RFC 3339, or 2h, 7d back)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option dlq_replay_options[] = {
    {"error", 0, "TEXT", "only letters whose reason (x-error) contains TEXT"},
    {"since", 0, "TIME",
     "only letters dead-lettered since TIME (a date, RFC 3339, or 2h, 7d back)"},
    {"dry-run", 0, NULL, "count what a replay would send; send nothing"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option keys_create_options[] = {
    {"name", 0, "N", "required: what the key is for (1 to 100 characters)"},
    {"scopes", 0, "\"A B\"",
     "required: the scopes it holds, separated by spaces (events:read events:write ...), "
     "or \"*\" for all"},
    {"tenant", 0, "T", "the tenant whose records it reads and writes (default: default)"},
    {"expires-at", 0, "TIME", "when it stops being valid: an RFC 3339 date-time (default: never)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option keys_roll_options[] = {
    {"grace", 0, "SECONDS",
     "how long the old key stays valid, 0 to 2592000 (default: the API's, a day)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option deliveries_list_options[] = {
    {"status", 0, "S", "only deliveries in this status: pending, delivered or failed"},
    {"channel", 0, "C", "only deliveries to this channel of the routing file"},
    {"limit", 'n', "N", "print at most N deliveries (default 100), following pages as needed"},
    {"all", 0, NULL, "print every matching delivery, however many pages"},
    {"cursor", 0, "CURSOR", "start at this next_cursor of an earlier listing (same filters)"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_command commands[] = {
    {"events", "send", "[JSON|-]", 0, 1, events_send_options, cli_events_send,
     "send an event (POST /v1/events); print its id",
     "Sends one JSON object as an event: the argument, or standard input when it is '-' or\n"
     "absent. Prints the event's id once Kafka holds it (with --wait, once PostgreSQL\n"
     "does); --json prints the API's answer instead."},
    {"events", "get", "ID", 1, 1, no_options, cli_events_get,
     "show an event by its id or external id",
     "Shows the stored event whose Sluice id or external id (the body's \"id\") is ID.\n"
     "An unknown id exits 1."},
    {"events", "list", "", 0, 0, events_list_options, cli_events_list,
     "list events, oldest first (GET /v1/events)",
     "Lists events in the order they occurred (then by id), 100 unless --limit or --all\n"
     "says otherwise. When more match than were printed, the cursor to go on from is\n"
     "named on stderr. --json prints one event per line."},
    {"import", NULL, "FILE|-", 1, 1, import_options, cli_import,
     "import a file (POST /v1/bulk) until it is stored",
     "Streams FILE ('-': standard input) to POST /v1/bulk: a JSON array of records or\n"
     "NDJSON, one object per line (the first byte that is not blank tells which); a gzip\n"
     "file is sent compressed, as it is. Then follows GET /v1/imports/{id} until the\n"
     "workers have stored every accepted record, and prints the counts and each rejected\n"
     "record's index and reason. On a terminal, stderr shows a progress bar; elsewhere\n"
     "a line every few seconds.\n"
     "\n"
     "Exit status: 0 once the import is done, even when records were rejected: the\n"
     "valid ones are stored, importing the fixed file again adds only what changed, and\n"
     "the rejected ones are listed (and counted in --json's \"rejected\"). With --strict,\n"
     "3 when any record was rejected or dropped. 1 when the upload was refused or\n"
     "failed, or --timeout ran out (the import goes on: see 'sluicectl imports get')."},
    {"imports", "get", "ID", 1, 1, no_options, cli_imports_get,
     "show an import's counts and rejected records",
     "Shows the import ID as GET /v1/imports/{id} has it: its status (receiving,\n"
     "persisting, done), the counts and the rejected records."},
    {"assistance", "send", "", 0, 0, assistance_send_options, cli_assistance_send,
     "ask for help on a topic; print the request's id",
     "Sends an assistance request; sluice-notify records it and delivers it to the\n"
     "topic's channels. Prints the request's id ('sluicectl assistance status ID' shows\n"
     "its deliveries once notify has recorded it: --wait makes sure it has)."},
    {"assistance", "status", "ID", 1, 1, no_options, cli_assistance_status,
     "show an assistance request and its deliveries",
     "Shows the request and one line per delivery: channel, type, status (pending,\n"
     "delivered, failed), attempts, whether it is a fallback, the last error.\n"
     "Exits 1 (404) until sluice-notify has recorded the request."},
    {"deliveries", "list", "", 0, 0, deliveries_list_options, cli_deliveries_list,
     "list assistance deliveries by status and channel",
     "Lists the deliveries of every assistance request, oldest first (GET\n"
     "/v1/deliveries): the request, channel, status (pending, delivered, failed),\n"
     "attempts, when it was recorded, when a pending one is tried next, and the last\n"
     "error. 100 unless --limit or --all says otherwise; when more match than were\n"
     "printed, the cursor to go on from is named on stderr. --json prints one delivery\n"
     "per line, with its id (the webhook-id its receiver sees) and topic."},
    {"dlq", "list", "COLLECTION", 1, 1, dlq_list_options, cli_dlq_list,
     "list a collection's dead letters with their reasons",
     "Lists what the workers could not apply to COLLECTION (events, recipes, users,\n"
     "epochs, assistance): each letter's partition, offset, key, whether a replay sent it\n"
     "back, and the reason. --json prints each letter with its value and source."},
    {"dlq", "replay", "COLLECTION", 1, 1, dlq_replay_options, cli_dlq_replay,
     "send dead letters back to their source topic, once",
     "After fixing what made the letters fail, sends each one not replayed before back\n"
     "to the topic it came from, and says how many. A letter is replayed once however\n"
     "often this runs; --dry-run only counts. Exits 1 when Kafka did not take some\n"
     "(run it again)."},
    {"keys", "create", "", 0, 0, keys_create_options, cli_keys_create,
     "make an API key (POST /v1/keys); print it, once",
     "Makes an API key and prints it alone on stdout: the only time it is shown (the\n"
     "API keeps only its hash), so keep it now. --json prints the whole answer: the key\n"
     "with its id, name, tenant, scopes and expiry. Needs a key with the admin scope."},
    {"keys", "list", "", 0, 0, no_options, cli_keys_list, "list the API keys, never their secrets",
     "Lists the newest 1,000 keys, oldest first: id, name, tenant, state (valid,\n"
     "rolled: valid until its grace period ends, expired, revoked), scopes, expiry and\n"
     "when it was last used (recorded every few seconds). --json prints one key per\n"
     "line. Needs the admin scope."},
    {"keys", "roll", "ID", 1, 1, keys_roll_options, cli_keys_roll,
     "replace a key: print its successor, once",
     "Makes a successor of the key ID with the same name, tenant, scopes and expiry,\n"
     "and prints it as 'keys create' does. The old key stays valid for --grace\n"
     "seconds, then expires, so the clients using it can move over. Exits 1 (404)\n"
     "when ID is not a valid key."},
    {"keys", "revoke", "ID", 1, 1, no_options, cli_keys_revoke,
     "revoke a key at once (DELETE /v1/keys/{id})",
     "Revokes the key ID: every ingest replica refuses it within 2 seconds. Revoking\n"
     "a revoked key changes nothing; an unknown ID exits 1 (404)."},
    {"status", NULL, "", 0, 0, no_options, cli_status,
     "is sluice-ingest up and ready? (/healthz, /readyz)",
     "Asks the API's /healthz and /readyz and says what answered: sluice-ingest (ready,\n"
     "or what it cannot reach), something else, or nothing. Exits 0 only when\n"
     "sluice-ingest is ready."},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char tool_help_tail[] =
    "Environment:\n"
    "  SLUICE_API_URL   the API (default " CLI_DEFAULT_URL "); when unset, taken\n"
    "                   from .run/env in this directory ('make run' writes it)\n"
    "  SLUICE_API_KEY   sent as \"Authorization: Bearer <key>\" (.run/env too)\n"
    "  NO_COLOR         no color even on a terminal\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  an error: no answer, an HTTP error answer (4xx, 5xx), a local failure\n"
    "  2  the command line is wrong (nothing was sent)\n"
    "  3  import --strict: done, but records were rejected or dropped\n"
    "  4  the API refused the key: 401 or 403\n"
    "\n"
    "'sluicectl <command> --help' shows a command's options; docs/cli.md has\n"
    "examples.\n";

static void command_title(const struct cli_command *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "",
             c->args[0] ? " " : "", c->args);
}

/* Help lines fit 80 columns: text wraps at blanks, its next lines start at
 * column indent. */
#define HELP_WIDTH 79
#define OPTION_WIDTH 24

static void print_wrapped(FILE *f, const char *text, int column, int indent)
{
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (column > indent && column + 1 + (int)word > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            column = indent;
        } else if (column > indent) {
            fputc(' ', f);
            column++;
        }
        fwrite(p, 1, word, f);
        column += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

/* A text of paragraphs (blank-line separated), each reflowed to the width. */
static void print_paragraphs(FILE *f, const char *text)
{
    struct buf b = {0};
    if (buf_puts(&b, text) != 0) {
        fputs(text, f);
        buf_free(&b);
        return;
    }
    for (char *para = b.data; para;) {
        char *next = strstr(para, "\n\n");
        if (next) {
            *next = '\0';
            next += 2;
        }
        for (char *q = para; *q; q++)
            if (*q == '\n')
                *q = ' ';
        print_wrapped(f, para, 0, 0);
        if (next)
            fputc('\n', f);
        para = next;
    }
    buf_free(&b);
}

static void print_options(FILE *f, const struct cli_option *list)
{
    for (const struct cli_option *o = list; o->name; o++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : " ",
                 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
                 o->metavar ? " " : "", o->metavar ? o->metavar : "");
        if (strlen(left) > OPTION_WIDTH)
            fprintf(f, "  %s\n%*s", left, OPTION_WIDTH + 3, "");
        else
            fprintf(f, "  %-*s ", OPTION_WIDTH, left);
        print_wrapped(f, o->help, OPTION_WIDTH + 3, OPTION_WIDTH + 3);
    }
}

static void print_tool_help(FILE *f)
{
    fprintf(f, "sluicectl: the Sluice API from the command line.\n\n"
               "Usage: sluicectl <command> [<subcommand>] [arguments] [options]\n\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char title[64];
        command_title(&commands[i], title, sizeof(title));
        fprintf(f, "  %-22s %s\n", title, commands[i].summary);
    }
    fprintf(f, "\nOptions of every command:\n");
    print_options(f, cli_global_options);
    static const struct cli_option version[] = {{"version", 0, NULL, "print sluicectl's version"},
                                                {NULL, 0, NULL, NULL}};
    print_options(f, version);
    fprintf(f, "\n%s", tool_help_tail);
}

static void print_command_help(FILE *f, const struct cli_command *c)
{
    char title[64];
    command_title(c, title, sizeof(title));
    fprintf(f, "Usage: sluicectl %s [options]\n\n", title);
    print_paragraphs(f, c->help);
    if (c->options[0].name) {
        fprintf(f, "\nOptions:\n");
        print_options(f, c->options);
    }
    fprintf(f, "\nOptions of every command:\n");
    print_options(f, cli_global_options);
    fprintf(f, "\nExit status: 0 success, 1 error, 2 usage, 4 key refused "
               "(sluicectl --help).\n");
}

static void print_group_help(FILE *f, const char *name)
{
    fprintf(f, "Usage: sluicectl %s <subcommand> [arguments] [options]\n\nSubcommands:\n", name);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        char title[64];
        command_title(&commands[i], title, sizeof(title));
        fprintf(f, "  %-22s %s\n", title, commands[i].summary);
    }
    fprintf(f, "\n'sluicectl %s <subcommand> --help' shows its options.\n", name);
}

/* A usage error: what is wrong, the usage line, where help is. */
static int usage(const struct cli_out *o, const struct cli_command *c, const char *group,
                 const char *fmt, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, what);
    cli_out_error(o, "%s", msg);
    if (c) {
        char title[64];
        command_title(c, title, sizeof(title));
        fprintf(o->err, "Usage: sluicectl %s [options]\n", title);
        fprintf(o->err, "'sluicectl %s%s%s --help' says more.\n", c->name, c->sub ? " " : "",
                c->sub ? c->sub : "");
    } else if (group) {
        print_group_help(o->err, group);
    } else {
        fprintf(o->err, "'sluicectl --help' lists the commands.\n");
    }
    return CLI_EXIT_USAGE;
}

static bool has_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return true;
    return false;
}

static const struct cli_command *find_command(const char *name, const char *sub)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0 &&
            (commands[i].sub ? sub && strcmp(commands[i].sub, sub) == 0 : true))
            return &commands[i];
    return NULL;
}

static bool takes_subcommand(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0 && commands[i].sub)
            return true;
    return false;
}

/* The index of the first word that is not a global option or its value. */
static int first_word(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0' && strcmp(argv[i], "--") != 0) {
        const char *a = argv[i];
        for (const struct cli_option *o = cli_global_options; o->name; o++) {
            bool is_long = a[1] == '-' && strcmp(a + 2, o->name) == 0;
            bool is_short = a[1] != '-' && a[1] == o->short_name && a[2] == '\0';
            if ((is_long || is_short) && o->metavar)
                i++; /* its value */
        }
        i++;
    }
    return i;
}

static int run_command(const struct cli_command *c, struct cli_out *o, int argc, char **argv)
{
    const struct cli_option *lists[] = {c->options, cli_global_options, NULL};
    struct cli_parsed p;
    char err[256];
    if (cli_args_parse(lists, argc, argv, &p, err, sizeof(err)) != 0)
        return usage(o, c, NULL, "%s", err);
    if (cli_args_flag(&p, "help")) {
        print_command_help(o->out, c);
        return CLI_EXIT_OK;
    }
    if (p.nargs < c->min_args)
        return usage(o, c, NULL, "missing %s", c->args);
    if (p.nargs > c->max_args)
        return usage(o, c, NULL, "unexpected argument \"%.100s\"", p.arg[c->max_args]);

    struct cli_ctx ctx = {0};
    char name[64];
    snprintf(name, sizeof(name), "%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "");
    ctx.name = name;
    ctx.out = *o;
    ctx.out.json = cli_args_flag(&p, "json");
    int rc = CLI_EXIT_ERROR;
    const char *url = cli_args_get(&p, "url");
    if (cli_settings_load(&ctx.settings, url, CLI_RUN_ENV, err, sizeof(err)) != 0) {
        cli_out_error(o, "%s", err);
        return url ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
    }
    if (cli_http_init(&ctx.http, ctx.settings.url, ctx.settings.key, err, sizeof(err)) != 0) {
        cli_out_error(o, "%s", err);
        goto out;
    }
    if (cli_args_flag(&p, "verbose"))
        ctx.http.trace = o->err;
    rc = c->run(&ctx, &p);
out:
    cli_http_free(&ctx.http);
    cli_settings_free(&ctx.settings);
    return rc;
}

int cli_main(int argc, char **argv)
{
    struct cli_out o;
    cli_out_init(&o, stdout, stderr, false);
    int w = first_word(argc, argv);
    bool help = false, version = false;
    for (int i = 1; i < w; i++) {
        help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
        version |= strcmp(argv[i], "--version") == 0;
    }
    if (w < argc && strcmp(argv[w], "help") == 0) {
        help = true;
        w++;
    }
    if (version) {
        curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        printf("sluicectl %s (libcurl %s, jansson %s)\n", CLI_VERSION, v->version,
               jansson_version_str());
        return CLI_EXIT_OK;
    }
    if (w >= argc) {
        print_tool_help(help ? stdout : stderr);
        return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const char *name = argv[w];
    if (!has_command(name))
        return usage(&o, NULL, NULL, "unknown command \"%.100s\"", name);
    const struct cli_command *c;
    int rest = w + 1;
    if (takes_subcommand(name)) {
        const char *sub = rest < argc && argv[rest][0] != '-' ? argv[rest] : NULL;
        if (!sub) {
            for (int i = rest; i < argc && !help; i++)
                help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            if (help) {
                print_group_help(stdout, name);
                return CLI_EXIT_OK;
            }
            return usage(&o, NULL, name, "%s needs a subcommand", name);
        }
        if (!(c = find_command(name, sub))) {
            char what[256];
            snprintf(what, sizeof(what), "%s %.100s", name, sub);
            return usage(&o, NULL, name, "unknown command \"%s\"", what);
        }
        rest++;
    } else {
        c = find_command(name, NULL);
    }
    if (help) {
        print_command_help(stdout, c);
        return CLI_EXIT_OK;
    }
    /* The global options before the command, then the rest. */
    char **args = malloc(sizeof(*args) * (size_t)argc);
    if (!args) {
        cli_out_error(&o, "out of memory");
        return CLI_EXIT_ERROR;
    }
    int n = 0;
    for (int i = 1; i < w; i++)
        args[n++] = argv[i];
    for (int i = rest; i < argc; i++)
        args[n++] = argv[i];
    int rc = run_command(c, &o, n, args);
    free(args);
    return rc;
}

void cli_no_answer(struct cli_ctx *ctx, const char *err)
{
    cli_out_error(&ctx->out, "%s", err);
    cli_out_note(&ctx->out, "  (the API's URL %s comes from %s%s)", ctx->settings.url,
                 ctx->settings.url_from,
                 strcmp(ctx->settings.url_from, "the default") == 0
                     ? ": is 'make run' running? Else set SLUICE_API_URL"
                     : "");
}

int cli_answer(struct cli_ctx *ctx, const struct cli_request *req, struct cli_response *res,
               json_t **doc)
{
    char what[512];
    snprintf(what, sizeof(what), "%s %s", req->method, req->path);
    *doc = NULL;
    if (res->status < 200 || res->status > 299)
        return cli_http_refused(ctx, what, res);
    if (res->body.len == 0)
        return CLI_EXIT_OK;
    json_error_t jerr;
    *doc = json_loadb(res->body.data, res->body.len, 0, &jerr);
    if (!*doc) {
        cli_out_error(&ctx->out, "the answer to %s is not JSON (%s, %zu bytes): %s", what,
                      res->content_type[0] ? res->content_type : "no Content-Type", res->body.len,
                      jerr.text);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cli_http_refused(struct cli_ctx *ctx, const char *what, const struct cli_response *res)
{
    int rc = cli_out_http_error(&ctx->out, what, res);
    if (rc != CLI_EXIT_AUTH)
        return rc;
    if (!ctx->settings.key)
        cli_out_note(&ctx->out, "  the API wants a key: set SLUICE_API_KEY");
    else if (res->status == 403)
        cli_out_note(&ctx->out, "  the key in SLUICE_API_KEY does not hold the scope this needs");
    else
        cli_out_note(&ctx->out, "  the API refused the key in SLUICE_API_KEY");
    return rc;
}

int cli_call(struct cli_ctx *ctx, const struct cli_request *req, struct cli_response *res,
             json_t **doc)
{
    char err[CURL_ERROR_SIZE + 256];
    *doc = NULL;
    if (cli_http_do(&ctx->http, req, res, err, sizeof(err)) != 0) {
        cli_no_answer(ctx, err);
        return CLI_EXIT_ERROR;
    }
    return cli_answer(ctx, req, res, doc);
}

int cli_usage(struct cli_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_out_error(&ctx->out, "%s", msg);
    fprintf(ctx->out.err, "'sluicectl %s --help' says more.\n", ctx->name);
    return CLI_EXIT_USAGE;
}

int cli_header(struct cli_ctx *ctx, const char *option, const char *name, const char *value,
               char *out, size_t outlen)
{
    size_t n = strlen(value);
    bool ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++)
        ok = value[i] >= 0x21 && value[i] <= 0x7e;
    if (!ok) {
        cli_usage(ctx, "--%s takes 1 to 255 visible ASCII characters (no spaces)", option);
        return -1;
    }
    snprintf(out, outlen, "%s: %s", name, value);
    return 0;
}

int cli_wait_header(struct cli_ctx *ctx, const char *value, char *out, size_t outlen,
                    long *timeout_ms)
{
    long seconds = 0;
    out[0] = '\0';
    if (value && cli_args_uint(value, 1, 30, &seconds) != 0) {
        cli_usage(ctx, "--wait takes 1 to 30 seconds, not \"%.50s\"", value);
        return -1;
    }
    if (value)
        snprintf(out, outlen, "Prefer: wait=%ld", seconds);
    *timeout_ms = (CLI_REQUEST_TIMEOUT_S + seconds) * 1000L;
    return 0;
}

const char *cli_str(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

const char *cli_text(const json_t *obj, const char *name, char *out, size_t outlen)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, outlen, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
    else if (v && !json_is_null(v))
        snprintf(out, outlen, "%s", json_is_object(v) ? "{...}" : "[...]");
    else
        snprintf(out, outlen, "-");
    return out;
}

static bool listed(const char *name, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

int cli_print_record(struct cli_ctx *ctx, const json_t *doc, const char *const *skip,
                     const char *body_member)
{
    struct cli_table t;
    cli_table_init(&t, NULL, 2);
    const char *name;
    const json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)doc, name, v)
    {
        if (listed(name, skip) || (body_member && strcmp(name, body_member) == 0))
            continue;
        char text[64];
        const char *row[] = {name, cli_text(doc, name, text, sizeof(text))};
        if (cli_table_add(&t, row) != 0)
            rc = -1;
    }
    cli_table_print(&t, ctx->out.out, ctx->out.color_out, 0);
    cli_table_free(&t);
    const json_t *body = body_member ? json_object_get(doc, body_member) : NULL;
    if (body) {
        char *text = json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY);
        struct buf clean = {0};
        if (text && cli_out_clean(&clean, text, strlen(text), true) == 0)
            fprintf(ctx->out.out, "%s%s%s\n%s\n", cli_out_color(ctx->out.color_out, CLI_DIM),
                    body_member, cli_out_reset(ctx->out.color_out), clean.data);
        else
            rc = -1;
        buf_free(&clean);
        free(text);
    }
    if (rc != 0)
        cli_out_error(&ctx->out, "out of memory");
    return rc;
}

int cli_read_all(FILE *f, struct buf *b, char *err, size_t errlen)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > READ_ALL_MAX) {
            snprintf(err, errlen, "more than %u MiB", READ_ALL_MAX >> 20);
            return -1;
        }
        if (buf_append(b, chunk, n) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        return -1;
    }
    return buf_append(b, "", 0);
}

int cli_show(struct cli_ctx *ctx, const char *prefix, const char *segment,
             int (*print)(struct cli_ctx *ctx, const json_t *doc))
{
    int rc = CLI_EXIT_ERROR;
    struct cli_response res = {0};
    json_t *doc = NULL;
    struct buf path = {0};
    char *escaped = cli_http_escape(segment);
    if (!escaped || buf_printf(&path, "%s%s", prefix, escaped) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        goto out;
    }
    struct cli_request req = {
        .method = "GET", .path = path.data, .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if ((rc = cli_call(ctx, &req, &res, &doc)) != CLI_EXIT_OK)
        goto out;
    if (ctx->out.json)
        rc = cli_out_json_line(&ctx->out, res.body.data, res.body.len) == 0 ? CLI_EXIT_OK
                                                                            : CLI_EXIT_ERROR;
    else
        rc = print(ctx, doc) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
out:
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    free(escaped);
    return rc;
}

int cli_print_written(struct cli_ctx *ctx, const struct cli_response *res, const json_t *doc)
{
    const char *id = cli_str(doc, "id");
    if (ctx->out.json)
        return cli_out_json_line(&ctx->out, res->body.data, res->body.len) == 0 ? CLI_EXIT_OK
                                                                                : CLI_EXIT_ERROR;
    if (!id) {
        cli_out_error(&ctx->out, "the answer has no id: %.200s", res->body.data);
        return CLI_EXIT_ERROR;
    }
    struct buf clean = {0};
    int rc = cli_out_clean(&clean, id, strlen(id), false) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK)
        fprintf(ctx->out.out, "%s\n", clean.data);
    buf_free(&clean);
    return rc;
}

int cli_print_objects(struct cli_ctx *ctx, const json_t *array, const char *const *headers,
                      const char *const *members, size_t ncols, int status_col, size_t cell_len,
                      int indent)
{
    if (ncols > CLI_OBJECT_COLS_MAX)
        ncols = CLI_OBJECT_COLS_MAX;
    if (cell_len > CLI_OBJECT_CELL_MAX)
        cell_len = CLI_OBJECT_CELL_MAX;
    struct cli_table t;
    cli_table_init(&t, headers, ncols);
    t.status_col = status_col;
    size_t i;
    const json_t *obj;
    int rc = 0;
    json_array_foreach(array, i, obj)
    {
        char text[CLI_OBJECT_COLS_MAX][CLI_OBJECT_CELL_MAX];
        const char *row[CLI_OBJECT_COLS_MAX];
        for (size_t c = 0; c < ncols; c++)
            row[c] = cli_text(obj, members[c], text[c], cell_len);
        if (cli_table_add(&t, row) != 0)
            rc = -1;
    }
    cli_table_print(&t, ctx->out.out, ctx->out.color_out, indent);
    cli_table_free(&t);
    if (rc != 0)
        cli_out_error(&ctx->out, "out of memory");
    return rc;
}

int cli_list_options(struct cli_ctx *ctx, const struct cli_parsed *p, long default_limit,
                     struct cli_listing *l)
{
    const char *limit_text = cli_args_get(p, "limit");
    l->limit = default_limit;
    l->all = cli_args_flag(p, "all");
    l->cursor = cli_args_get(p, "cursor");
    if (limit_text && cli_args_uint(limit_text, 1, 1000000000L, &l->limit) != 0) {
        cli_usage(ctx, "--limit takes a count from 1, not \"%.50s\"", limit_text);
        return -1;
    }
    if (l->all && limit_text) {
        cli_usage(ctx, "--all and --limit exclude each other");
        return -1;
    }
    return 0;
}

int cli_list_pages(struct cli_ctx *ctx, const struct cli_listing *l)
{
    const char *query[2 * CLI_LIST_FILTERS_MAX + 5];
    size_t nq = 0;
    for (size_t i = 0; l->filters && l->filters[i] && nq < 2 * CLI_LIST_FILTERS_MAX; i += 2) {
        query[nq++] = l->filters[i];
        query[nq++] = l->filters[i + 1];
    }
    char page[24];
    char *cursor = NULL;
    query[nq] = "limit";
    query[nq + 1] = page;
    query[nq + 2] = "cursor";
    query[nq + 4] = NULL;
    if (l->cursor && !(cursor = strdup(l->cursor))) {
        cli_out_error(&ctx->out, "out of memory");
        return CLI_EXIT_ERROR;
    }
    int rc = CLI_EXIT_OK;
    long printed = 0;
    do {
        struct cli_response res = {0};
        json_t *doc = NULL;
        long want = l->all ? CLI_PAGE_MAX : l->limit - printed;
        snprintf(page, sizeof(page), "%ld", want < CLI_PAGE_MAX ? want : CLI_PAGE_MAX);
        query[nq + 3] = cursor;
        struct cli_request req = {.method = "GET",
                                  .path = l->path,
                                  .query = query,
                                  .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
        rc = cli_call(ctx, &req, &res, &doc);
        const json_t *items = json_object_get(doc, "items");
        if (rc == CLI_EXIT_OK && !json_is_array(items)) {
            cli_out_error(&ctx->out, "the answer to GET %s has no items", l->path);
            rc = CLI_EXIT_ERROR;
        }
        if (rc == CLI_EXIT_OK && ctx->out.json) {
            if (cli_out_json_items(&ctx->out, res.body.data, res.body.len, "items") < 0)
                rc = CLI_EXIT_ERROR;
        } else if (rc == CLI_EXIT_OK && json_array_size(items) && l->print(ctx, items) != 0) {
            rc = CLI_EXIT_ERROR;
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
    } while (rc == CLI_EXIT_OK && cursor && (l->all || printed < l->limit));
    if (rc == CLI_EXIT_OK && printed == 0 && !ctx->out.json)
        cli_out_note(&ctx->out, "no %s match", l->noun);
    if (rc == CLI_EXIT_OK && cursor) {
        struct buf clean = {0};
        if (cli_out_clean(&clean, cursor, strlen(cursor), false) == 0)
            cli_out_note(&ctx->out, "more %s match: --cursor %s goes on from here", l->noun,
                         clean.data);
        buf_free(&clean);
    }
    free(cursor);
    return rc;
}
