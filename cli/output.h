/* output: how sluicectl writes for people and for scripts.
 *
 * For people: aligned columns, short lines, color only on a terminal and
 * only without NO_COLOR (https://no-color.org; TERM=dumb too), and every
 * string from the server cleaned of control characters, so a hostile event
 * type cannot drive the terminal. For scripts (--json): the API's JSON, one
 * object per line on stdout. Errors always go to stderr as text. */
#ifndef SLUICE_CLI_OUTPUT_H
#define SLUICE_CLI_OUTPUT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cli_response;

struct cli_out {
    FILE *out, *err; /* stdout, stderr */
    bool json;       /* --json */
    bool color_out, color_err;
    bool err_tty; /* stderr is a terminal: progress may redraw a line there */
};

enum cli_color { CLI_PLAIN, CLI_BOLD, CLI_DIM, CLI_RED, CLI_GREEN, CLI_YELLOW };

/* Decides color and terminal from the streams and the environment. */
void cli_out_init(struct cli_out *o, FILE *out, FILE *err, bool json);

/* The escape sequence starting color c, or "" when color is off. */
const char *cli_out_color(bool color, enum cli_color c);
const char *cli_out_reset(bool color);
/* The color a status word is shown in: green for done, delivered, ready,
 * ok, a valid key; red for failed, not-ready and the like (a revoked or
 * expired key); yellow for work under way (a rolled key in its grace). */
enum cli_color cli_out_status_color(const char *word);

/* Appends s (len bytes) to dst with C0 and C1 control characters and DEL
 * written as \xNN (newlines kept when keep_newlines); -1 out of memory. */
int cli_out_clean(struct buf *dst, const char *s, size_t len, bool keep_newlines);
/* How many columns s takes: its UTF-8 code points. */
size_t cli_out_width(const char *s);

/* A table printed with its columns aligned; cells are cleaned copies. */
struct cli_table {
    size_t ncols, nrows, cap;
    const char *const *headers; /* ncols titles, or NULL for none (a key: value list) */
    char **cells;               /* nrows * ncols, owned */
    int status_col; /* a column colored by cli_out_status_color, or -1 (a key: value list
                     * colors the value of its "status" row) */
};

void cli_table_init(struct cli_table *t, const char *const *headers, size_t ncols);
/* Adds a row of ncols cells (NULL shows as "-"); -1 out of memory. */
int cli_table_add(struct cli_table *t, const char *const *cells);
/* Each line indented by indent spaces; the last column is not padded. */
void cli_table_print(const struct cli_table *t, FILE *f, bool color, int indent);
void cli_table_free(struct cli_table *t);

/* "sluicectl: error: <message>" on stderr. */
void cli_out_error(const struct cli_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_out_note(const struct cli_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Tells about an answer that is not a success: the problem+json title,
 * status, detail and field errors, the request id; or, for an answer that
 * is not a problem, its status and content type. Returns the exit code it
 * calls for: CLI_EXIT_AUTH for 401 and 403, else CLI_EXIT_ERROR. */
int cli_out_http_error(const struct cli_out *o, const char *what, const struct cli_response *r);

/* --json: text (valid JSON) as one line on stdout, from its own bytes when
 * it is one line already. -1 when it cannot be written. */
int cli_out_json_line(const struct cli_out *o, const char *text, size_t len);
/* --json: each element of the top-level member `name` array, one a line.
 * Returns how many, or -1. */
long cli_out_json_items(const struct cli_out *o, const char *text, size_t len, const char *name);

#endif
