#include "output.h"

#include "cli.h"
#include "jsontext.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Field errors listed under an error answer before "and N more". */
#define MAX_FIELD_ERRORS 20

static bool color_refused(void)
{
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
    return (no && *no) || (term && strcmp(term, "dumb") == 0);
}

void cli_out_init(struct cli_out *o, FILE *out, FILE *err, bool json)
{
    bool refused = color_refused();
    const char *term = getenv("TERM");
    memset(o, 0, sizeof(*o));
    o->out = out;
    o->err = err;
    o->json = json;
    o->color_out = !refused && isatty(fileno(out));
    o->color_err = !refused && isatty(fileno(err));
    /* A dumb terminal cannot clear a line: it gets the plain progress lines. */
    o->err_tty = isatty(fileno(err)) && !(term && strcmp(term, "dumb") == 0);
}

const char *cli_out_color(bool color, enum cli_color c)
{
    static const char *const codes[] = {
        [CLI_PLAIN] = "",       [CLI_BOLD] = "\033[1m",   [CLI_DIM] = "\033[2m",
        [CLI_RED] = "\033[31m", [CLI_GREEN] = "\033[32m", [CLI_YELLOW] = "\033[33m",
    };
    return color ? codes[c] : "";
}

const char *cli_out_reset(bool color)
{
    return color ? "\033[0m" : "";
}

enum cli_color cli_out_status_color(const char *word)
{
    static const char *const good[] = {"done",     "delivered", "ready", "ok",
                                       "accepted", "valid",     NULL};
    static const char *const bad[] = {"failed",  "not ready", "not-ready", "unreachable",
                                      "revoked", "expired",   NULL};
    static const char *const busy[] = {"pending", "receiving", "persisting", "rolled", NULL};
    for (size_t i = 0; good[i]; i++)
        if (strcmp(word, good[i]) == 0)
            return CLI_GREEN;
    for (size_t i = 0; bad[i]; i++)
        if (strcmp(word, bad[i]) == 0)
            return CLI_RED;
    for (size_t i = 0; busy[i]; i++)
        if (strcmp(word, busy[i]) == 0)
            return CLI_YELLOW;
    return CLI_PLAIN;
}

int cli_out_clean(struct buf *dst, const char *s, size_t len, bool keep_newlines)
{
    if (buf_append(dst, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if ((c < 0x20 && !(c == '\n' && keep_newlines)) || c == 0x7f) {
            rc = buf_printf(dst, "\\x%02x", c);
        } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            /* U+0080 to U+009F: C1 controls, CSI (U+009B) among them. */
            rc = buf_printf(dst, "\\u%04x", (unsigned char)s[++i]);
        } else {
            rc = buf_append(dst, &s[i], 1);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

size_t cli_out_width(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

void cli_table_init(struct cli_table *t, const char *const *headers, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->headers = headers;
    t->ncols = ncols;
    t->status_col = -1;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
        if (!grown)
            return -1;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        struct buf b = {0};
        const char *v = cells[c] ? cells[c] : "-";
        if (cli_out_clean(&b, v, strlen(v), false) != 0) {
            buf_free(&b);
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
        row[c] = buf_steal(&b);
    }
    t->nrows++;
    return 0;
}

static void print_cell(FILE *f, const char *cell, size_t width, bool last, bool color,
                       enum cli_color c)
{
    fprintf(f, "%s%s%s", cli_out_color(color, c), cell, c == CLI_PLAIN ? "" : cli_out_reset(color));
    if (!last)
        fprintf(f, "%*s", (int)(width - cli_out_width(cell) + 2), "");
}

void cli_table_print(const struct cli_table *t, FILE *f, bool color, int indent)
{
    size_t width[16] = {0};
    size_t ncols = t->ncols < 16 ? t->ncols : 16;
    for (size_t c = 0; c < ncols; c++) {
        if (t->headers)
            width[c] = cli_out_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = cli_out_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    if (t->headers) {
        fprintf(f, "%*s", indent, "");
        for (size_t c = 0; c < ncols; c++)
            print_cell(f, t->headers[c], width[c], c + 1 == ncols, color, CLI_BOLD);
        fputc('\n', f);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        /* No padding after the last cell that shows something. */
        size_t shown = ncols;
        while (shown > 1 && t->cells[r * t->ncols + shown - 1][0] == '\0')
            shown--;
        fprintf(f, "%*s", indent, "");
        for (size_t c = 0; c < shown; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            enum cli_color cc = CLI_PLAIN;
            if ((int)c == t->status_col)
                cc = cli_out_status_color(cell);
            else if (!t->headers && c == 0)
                cc = CLI_DIM; /* a key */
            else if (!t->headers && strcmp(t->cells[r * t->ncols], "status") == 0)
                cc = cli_out_status_color(cell);
            print_cell(f, cell, width[c], c + 1 == shown, color, cc);
        }
        fputc('\n', f);
    }
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

static void vsay(const struct cli_out *o, enum cli_color c, const char *label, const char *fmt,
                 va_list ap)
{
    fprintf(o->err, "%s%s%s", cli_out_color(o->color_err, c), label, cli_out_reset(o->color_err));
    vfprintf(o->err, fmt, ap);
    fputc('\n', o->err);
}

void cli_out_error(const struct cli_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(o, CLI_RED, "error: ", fmt, ap);
    va_end(ap);
}

void cli_out_note(const struct cli_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(o, CLI_DIM, "", fmt, ap);
    va_end(ap);
}

/* A server string on one line, cleaned; "" for a non-string. */
static void put_clean(FILE *f, const char *s, size_t max)
{
    struct buf b = {0};
    size_t len = strlen(s);
    if (cli_out_clean(&b, s, len < max ? len : max, false) == 0)
        fputs(b.data, f);
    if (len > max)
        fputs("...", f);
    buf_free(&b);
}

static void print_problem(const struct cli_out *o, const json_t *p, long status)
{
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    const char *type = json_string_value(json_object_get(p, "type"));
    const char *slug = type && strrchr(type, '/') ? strrchr(type, '/') + 1 : NULL;
    fprintf(o->err, "%serror: %s", cli_out_color(o->color_err, CLI_RED),
            cli_out_reset(o->color_err));
    put_clean(o->err, title ? title : "the server refused the request", 200);
    fprintf(o->err, " (%ld", status);
    if (slug && *slug) {
        fputc(' ', o->err);
        put_clean(o->err, slug, 100);
    }
    fputs(")\n", o->err);
    if (detail) {
        fputs("  ", o->err);
        put_clean(o->err, detail, 2000);
        fputc('\n', o->err);
    }
    const json_t *errors = json_object_get(p, "errors");
    size_t n = json_array_size(errors);
    for (size_t i = 0; i < n && i < MAX_FIELD_ERRORS; i++) {
        const json_t *e = json_array_get(errors, i);
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        fputs("  ", o->err);
        put_clean(o->err, ptr && *ptr ? ptr : "(the body)", 200);
        fputs(": ", o->err);
        put_clean(o->err, msg ? msg : "invalid", 500);
        fputc('\n', o->err);
    }
    if (n > MAX_FIELD_ERRORS)
        fprintf(o->err, "  ... and %zu more\n", n - MAX_FIELD_ERRORS);
}

int cli_out_http_error(const struct cli_out *o, const char *what, const struct cli_response *r)
{
    json_t *p = NULL;
    bool json_type = strncmp(r->content_type, "application/problem+json", 24) == 0 ||
                     strncmp(r->content_type, "application/json", 16) == 0;
    if (json_type)
        p = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (json_is_object(p)) {
        print_problem(o, p, r->status);
    } else {
        fprintf(o->err, "%serror: %sHTTP %ld", cli_out_color(o->color_err, CLI_RED),
                cli_out_reset(o->color_err), r->status);
        fprintf(o->err, ", not a Sluice answer (%s, %zu bytes)\n",
                r->content_type[0] ? r->content_type : "no Content-Type", r->body.len);
        if (r->body.len) {
            size_t line = strcspn(r->body.data, "\r\n");
            struct buf b = {0};
            if (cli_out_clean(&b, r->body.data, line < 200 ? line : 200, false) == 0)
                fprintf(o->err, "  %s%s\n", b.data, line > 200 ? "..." : "");
            buf_free(&b);
        }
    }
    json_decref(p);
    if (r->retry_after[0]) {
        fputs("  the server asks to retry after ", o->err);
        put_clean(o->err, r->retry_after, 30);
        fputs(" s\n", o->err);
    }
    fprintf(o->err, "  %s%s", cli_out_color(o->color_err, CLI_DIM), what);
    if (r->request_id[0]) {
        fputs(", X-Request-ID ", o->err);
        put_clean(o->err, r->request_id, 130);
    }
    fprintf(o->err, "%s\n", cli_out_reset(o->color_err));
    return r->status == 401 || r->status == 403 ? CLI_EXIT_AUTH : CLI_EXIT_ERROR;
}

/* JSON strings hold no raw line breaks: any there is whitespace between
 * tokens, and a blank keeps the record on its line. */
static int put_line(FILE *f, const char *text, size_t len)
{
    const char *p = text;
    size_t n = len;
    if (cli_json_trim(&p, &n)) {
        fwrite(p, 1, n, f);
    } else {
        for (size_t i = 0; i < n; i++)
            fputc(p[i] == '\n' || p[i] == '\r' ? ' ' : p[i], f);
    }
    return fputc('\n', f) == EOF ? -1 : 0;
}

int cli_out_json_line(const struct cli_out *o, const char *text, size_t len)
{
    return put_line(o->out, text, len);
}

static int item_line(void *opaque, const char *item, size_t len)
{
    return put_line(opaque, item, len);
}

long cli_out_json_items(const struct cli_out *o, const char *text, size_t len, const char *name)
{
    return cli_json_items(text, len, name, item_line, o->out);
}
