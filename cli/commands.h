/* commands: sluicectl's command table, one row per command (as Redis keeps
 * its commands), and the pieces every handler shares.
 *
 * A row names the command and subcommand, its positional arguments, its
 * options and its help; parsing, --help, `sluicectl help` and dispatch all
 * read the table, so adding a command is one row and one handler. */
#ifndef SLUICE_CLI_COMMANDS_H
#define SLUICE_CLI_COMMANDS_H

#include "args.h"
#include "cli.h"

#include <jansson.h>

struct cli_command {
    const char *name; /* "events" */
    const char *sub;  /* "send"; NULL for a command without subcommands */
    const char *args; /* the positional arguments as help shows them: "ID" */
    int min_args, max_args;
    const struct cli_option *options; /* the command's own; the global ones are added */
    int (*run)(struct cli_ctx *ctx, const struct cli_parsed *p);
    const char *summary; /* one line, for the command list */
    const char *help;    /* what --help says under the usage line */
};

/* The options every command takes (--json, --url, --verbose, --help). */
extern const struct cli_option cli_global_options[];

/* Runs sluicectl with its arguments (argv[0] is the program); returns the
 * exit code. */
int cli_main(int argc, char **argv);

/* Sends req and, on a 2xx, parses its JSON body into *doc (a new reference,
 * NULL when the body is empty). Anything else (no answer, another status,
 * a body that is not JSON) is told on stderr and returns its exit code;
 * res is the caller's to free in every case. */
/* Prints the objects of array as a table: a column per member, under
 * headers; each cell at most cell_len - 1 characters; status_col (or -1)
 * colored by its word. 0, or -1 after saying it ran out of memory. */
#define CLI_OBJECT_COLS_MAX 8
#define CLI_OBJECT_CELL_MAX 128
int cli_print_objects(struct cli_ctx *ctx, const json_t *array, const char *const *headers,
                      const char *const *members, size_t ncols, int status_col, size_t cell_len,
                      int indent);
/* What a write prints: its id (the API's JSON line with --json). Returns the
 * exit code: an answer without an id is an error. */
int cli_print_written(struct cli_ctx *ctx, const struct cli_response *res, const json_t *doc);
/* GET <prefix><segment, escaped> and shows the record: the API's JSON line
 * with --json, else print(ctx, doc) (0 or -1). Returns the exit code. */
int cli_show(struct cli_ctx *ctx, const char *prefix, const char *segment,
             int (*print)(struct cli_ctx *ctx, const json_t *doc));
int cli_call(struct cli_ctx *ctx, const struct cli_request *req, struct cli_response *res,
             json_t **doc);

/* cli_call in two halves, for a caller that looks at the answer first:
 * cli_no_answer tells why none came (and where the URL came from);
 * cli_answer does the rest of cli_call with an answer in res. */
void cli_no_answer(struct cli_ctx *ctx, const char *err);
/* Tells an answer that is not a success (cli_out_http_error), and for a
 * 401 or 403 what to do about the key; what names the request ("GET
 * /v1/status"). Returns the exit code: CLI_EXIT_AUTH for 401 and 403. */
int cli_http_refused(struct cli_ctx *ctx, const char *what, const struct cli_response *res);
int cli_answer(struct cli_ctx *ctx, const struct cli_request *req, struct cli_response *res,
               json_t **doc);

/* A usage error found by a handler (a value out of range): told on stderr
 * with where help is; returns CLI_EXIT_USAGE. */
int cli_usage(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The header line "Name: value" for an option's value into out, which must
 * be 1 to 255 visible ASCII characters (what the API takes in a key, and
 * never a line break that would forge another header); else a usage error
 * naming the option, and -1. */
int cli_header(struct cli_ctx *ctx, const char *option, const char *name, const char *value,
               char *out, size_t outlen);

/* Prefer: wait=N from --wait's value (1 to 30) into out, or "" without
 * --wait; -1 after a usage error. *timeout_ms becomes what the request may
 * take. */
int cli_wait_header(struct cli_ctx *ctx, const char *value, char *out, size_t outlen,
                    long *timeout_ms);

/* A string member, or NULL when absent or not a string. */
const char *cli_str(const json_t *obj, const char *name);
/* A member shown as text into out: strings as they are, numbers, true and
 * false, "-" for null or absent. */
const char *cli_text(const json_t *obj, const char *name, char *out, size_t outlen);

/* A record for people: its members as aligned "name  value" lines but for
 * those in skip (NULL-terminated, may be NULL), then the member
 * body_member (may be NULL), when present, as indented JSON. -1 out of
 * memory (told). */
int cli_print_record(struct cli_ctx *ctx, const json_t *doc, const char *const *skip,
                     const char *body_member);

/* A listing in keyset pages: GET path with the filters, limit= and
 * cursor=, page after page (up to CLI_PAGE_MAX each) until limit items are
 * printed, or every one with all. Each page goes to print (0, or -1 after
 * telling why), or with --json one item a line from the answer's bytes.
 * When more match than were printed, stderr names the --cursor to go on
 * from; when nothing matches, "no <noun> match". Returns the exit code. */
#define CLI_PAGE_MAX 1000
#define CLI_LIST_FILTERS_MAX 8
struct cli_listing {
    const char *path;
    const char *const *filters; /* name, value, ..., NULL; a NULL value is left out */
    long limit;
    bool all;
    const char *cursor; /* where to start, or NULL */
    int (*print)(struct cli_ctx *ctx, const json_t *items);
    const char *noun; /* "events", for "no events match" */
};
int cli_list_pages(struct cli_ctx *ctx, const struct cli_listing *l);
/* --limit (default_limit without it), --all and --cursor of a listing into
 * l; -1 after a usage error. */
int cli_list_options(struct cli_ctx *ctx, const struct cli_parsed *p, long default_limit,
                     struct cli_listing *l);

/* Reads the whole of a stream (standard input for "-") into b; -1 with err. */
int cli_read_all(FILE *f, struct buf *b, char *err, size_t errlen);

/* The handlers, one file per resource. */
int cli_events_send(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_events_get(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_events_list(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_import(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_imports_get(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_assistance_send(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_assistance_status(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_status(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_dlq_list(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_dlq_replay(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_keys_create(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_keys_list(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_keys_roll(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_keys_revoke(struct cli_ctx *ctx, const struct cli_parsed *p);
int cli_deliveries_list(struct cli_ctx *ctx, const struct cli_parsed *p);

#endif
