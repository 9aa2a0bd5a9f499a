/* import FILE and imports get ID: POST /v1/bulk streamed from a file, then
 * GET /v1/imports/{id} until the workers have stored it. */
#include "import.h"

#include "commands.h"
#include "progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Read ahead to tell the format (and, gzip, inflated to look at). */
#define HEAD_BYTES 65536
/* Polling GET /v1/imports/{id}: quick at first, for small imports, then
 * once a second. */
#define POLL_FIRST_S 0.1
#define POLL_MAX_S 1.0
/* 503s in a row (database busy or away) before giving up on the poll. */
#define POLL_TRANSIENT_MAX 30

enum cli_import_format cli_import_format_of(const char *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    if (i == len)
        return CLI_IMPORT_UNKNOWN;
    return data[i] == '['   ? CLI_IMPORT_ARRAY
           : data[i] == '{' ? CLI_IMPORT_NDJSON
                            : CLI_IMPORT_UNKNOWN;
}

bool cli_import_is_gzip(const unsigned char *data, size_t len)
{
    return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

const char *cli_import_content_type(enum cli_import_format f)
{
    return f == CLI_IMPORT_NDJSON ? "application/x-ndjson" : "application/json";
}

static const char *format_name(enum cli_import_format f)
{
    return f == CLI_IMPORT_ARRAY ? "JSON array" : f == CLI_IMPORT_NDJSON ? "NDJSON" : "unknown";
}

/* The file being sent: the bytes read ahead first, then the rest. */
struct source {
    const char *name;
    FILE *f;
    char *head;
    size_t head_len, head_off;
    int64_t size; /* -1 unknown */
    int read_errno;
    bool gzip;
    enum cli_import_format format;
    struct cli_progress progress;
    double started;
    uint64_t handed; /* bytes given to libcurl so far */
    bool ended;      /* the input is at its end: once `handed` are sent, all is */
    bool sent_all;
};

static size_t source_read(char *data, size_t len, void *opaque)
{
    struct source *s = opaque;
    if (s->head_off < s->head_len) {
        size_t n = s->head_len - s->head_off;
        if (n > len)
            n = len;
        memcpy(data, s->head + s->head_off, n);
        s->head_off += n;
        s->handed += n;
        return n;
    }
    size_t n = fread(data, 1, len, s->f);
    if (n == 0 && ferror(s->f)) {
        s->read_errno = errno ? errno : EIO;
        return (size_t)-1;
    }
    s->handed += n;
    s->ended = n == 0;
    return n;
}

static void source_progress(void *opaque, uint64_t sent, int64_t size)
{
    struct source *s = opaque;
    char a[32], b[32], rate[48], detail[160];
    double elapsed = cli_progress_now() - s->started;
    cli_progress_bytes(sent, a, sizeof(a));
    if ((size >= 0 && sent >= (uint64_t)size) || (s->ended && sent >= s->handed)) {
        if (s->sent_all)
            return;
        s->sent_all = true;
        snprintf(detail, sizeof(detail), "%s sent; waiting for Kafka to acknowledge the records",
                 a);
        cli_progress_show(&s->progress, "uploaded", sent, 0, detail, true);
        return;
    }
    /* A rate over the first instants would be noise. */
    rate[0] = '\0';
    if (elapsed > 0.5) {
        cli_progress_bytes((uint64_t)((double)sent / elapsed), b, sizeof(b));
        snprintf(rate, sizeof(rate), "  %s/s", b);
    }
    if (size >= 0) {
        cli_progress_bytes((uint64_t)size, b, sizeof(b));
        snprintf(detail, sizeof(detail), "%s / %s%s", a, b, rate);
    } else {
        snprintf(detail, sizeof(detail), "%s%s", a, rate);
    }
    cli_progress_show(&s->progress, "uploading", sent, size > 0 ? (uint64_t)size : 0, detail,
                      false);
}

/* Opens the file and reads ahead to tell its format; -1 when it cannot. */
static int source_open(struct cli_ctx *ctx, struct source *s, const char *name)
{
    s->name = name;
    s->size = -1;
    bool in = strcmp(name, "-") == 0;
    s->f = in ? stdin : fopen(name, "rb");
    if (!s->f) {
        cli_out_error(&ctx->out, "%s: %s", name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(s->f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cli_out_error(&ctx->out, "%s: is a directory", name);
            return -1;
        }
        off_t at = lseek(fileno(s->f), 0, SEEK_CUR);
        if (S_ISREG(st.st_mode) && at >= 0 && st.st_size >= at)
            s->size = (int64_t)(st.st_size - at);
    }
    if (!(s->head = malloc(HEAD_BYTES))) {
        cli_out_error(&ctx->out, "out of memory");
        return -1;
    }
    s->head_len = fread(s->head, 1, HEAD_BYTES, s->f);
    if (s->head_len < HEAD_BYTES && ferror(s->f)) {
        cli_out_error(&ctx->out, "%s: %s", name, strerror(errno));
        return -1;
    }
    s->gzip = cli_import_is_gzip((const unsigned char *)s->head, s->head_len);
    if (!s->gzip) {
        s->format = cli_import_format_of(s->head, s->head_len);
        return 0;
    }
    /* The first inflated bytes tell the format; a stream that does not
     * inflate is sent anyway, for ingest to refuse with its reason. */
    char *plain = malloc(HEAD_BYTES);
    z_stream zs = {0};
    if (!plain || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(plain);
        cli_out_error(&ctx->out, "out of memory");
        return -1;
    }
    zs.next_in = (unsigned char *)s->head;
    zs.avail_in = (uInt)s->head_len;
    zs.next_out = (unsigned char *)plain;
    zs.avail_out = HEAD_BYTES;
    inflate(&zs, Z_SYNC_FLUSH);
    s->format = cli_import_format_of(plain, HEAD_BYTES - zs.avail_out);
    inflateEnd(&zs);
    free(plain);
    return 0;
}

static void source_close(struct source *s)
{
    if (s->f && s->f != stdin)
        fclose(s->f);
    free(s->head);
}

/* GET /v1/imports/{id} into *doc. No answer, or a 503 (the database busy
 * or away, ingest restarting), is transient: *transient is set, err says
 * why, and nothing is told. Returns an exit code. */
static int fetch_import(struct cli_ctx *ctx, const char *path, struct cli_response *res,
                        json_t **doc, bool *transient, char *err, size_t errlen)
{
    *doc = NULL;
    *transient = false;
    struct cli_request req = {
        .method = "GET", .path = path, .timeout_ms = CLI_REQUEST_TIMEOUT_S * 1000};
    if (cli_http_do(&ctx->http, &req, res, err, errlen) != 0 || res->status == 503) {
        *transient = true;
        return CLI_EXIT_OK;
    }
    return cli_answer(ctx, &req, res, doc);
}

static json_int_t count(const json_t *doc, const char *name)
{
    return json_integer_value(json_object_get(doc, name));
}

/* The import for people: its members, then the rejected records. */
static int print_import(struct cli_ctx *ctx, const json_t *doc)
{
    static const char *const skip[] = {"errors", NULL};
    if (cli_print_record(ctx, doc, skip, NULL) != 0)
        return -1;
    const json_t *errors = json_object_get(doc, "errors");
    size_t listed = json_array_size(errors);
    json_int_t rejected = count(doc, "rejected");
    if (listed) {
        FILE *f = ctx->out.out;
        if ((json_int_t)listed < rejected)
            fprintf(f, "rejected records (the first %zu of %" JSON_INTEGER_FORMAT "):\n", listed,
                    rejected);
        else
            fprintf(f, "rejected records (%zu):\n", listed);
        static const char *const headers[] = {"INDEX", "MESSAGE"};
        struct cli_table t;
        cli_table_init(&t, headers, 2);
        size_t i;
        const json_t *e;
        int rc = 0;
        json_array_foreach(errors, i, e)
        {
            char index[32], message[64];
            const char *row[] = {cli_text(e, "index", index, sizeof(index)),
                                 cli_text(e, "message", message, sizeof(message))};
            if (cli_table_add(&t, row) != 0)
                rc = -1;
        }
        cli_table_print(&t, f, ctx->out.color_out, 2);
        cli_table_free(&t);
        if (rc != 0) {
            cli_out_error(&ctx->out, "out of memory");
            return -1;
        }
    }
    json_int_t dropped = count(doc, "dropped");
    if (dropped > 0)
        fprintf(ctx->out.out,
                "%" JSON_INTEGER_FORMAT " accepted record(s) were refused by the workers and "
                "sent to the collection's dead-letter topic (docs/operations.md)\n",
                dropped);
    return 0;
}

static void sleep_s(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Follows the import until it is done; *doc is the last state seen. */
static int follow(struct cli_ctx *ctx, struct source *s, const char *path, long timeout_s,
                  json_t **doc, struct cli_response *res)
{
    double start = cli_progress_now(), interval = POLL_FIRST_S;
    int transient_in_row = 0;
    for (;;) {
        bool transient;
        char err[512] = "";
        json_decref(*doc);
        cli_response_free(res);
        int rc = fetch_import(ctx, path, res, doc, &transient, err, sizeof(err));
        if (rc != CLI_EXIT_OK)
            return rc;
        if (transient) {
            if (++transient_in_row == POLL_TRANSIENT_MAX) {
                cli_progress_clear(&s->progress);
                cli_out_note(&ctx->out, "GET %s failed %d times in a row; the last time:", path,
                             POLL_TRANSIENT_MAX);
                if (err[0]) {
                    cli_no_answer(ctx, err);
                    return CLI_EXIT_ERROR;
                }
                json_t *none;
                struct cli_request req = {.method = "GET", .path = path};
                return cli_answer(ctx, &req, res, &none);
            }
        } else {
            transient_in_row = 0;
            const char *status = cli_str(*doc, "status");
            if (status && strcmp(status, "done") == 0)
                return CLI_EXIT_OK;
            json_int_t accepted = count(*doc, "accepted");
            json_int_t stored = count(*doc, "persisted") + count(*doc, "dropped");
            char detail[128];
            snprintf(detail, sizeof(detail),
                     "%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " records stored", stored,
                     accepted);
            cli_progress_show(&s->progress, "persisting", (uint64_t)stored, (uint64_t)accepted,
                              detail, false);
        }
        if (timeout_s > 0 && cli_progress_now() - start >= (double)timeout_s) {
            cli_progress_clear(&s->progress);
            cli_out_error(&ctx->out,
                          "the import is not done after %ld s; it goes on: 'sluicectl imports "
                          "get %s' shows where it stands",
                          timeout_s, path + strlen("/v1/imports/"));
            return CLI_EXIT_ERROR;
        }
        sleep_s(interval);
        interval = interval * 1.5 < POLL_MAX_S ? interval * 1.5 : POLL_MAX_S;
    }
}

int cli_import(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    long timeout_s = 0;
    const char *timeout = cli_args_get(p, "timeout");
    bool no_wait = cli_args_flag(p, "no-wait"), strict = cli_args_flag(p, "strict");
    if (timeout && cli_args_uint(timeout, 1, 1000000000L, &timeout_s) != 0)
        return cli_usage(ctx, "--timeout takes seconds from 1, not \"%.50s\"", timeout);
    if (no_wait && (timeout || strict))
        return cli_usage(ctx, "--no-wait does not wait, so %s cannot apply",
                         timeout ? "--timeout" : "--strict");

    if (strcmp(p->arg[0], "-") == 0 && isatty(STDIN_FILENO))
        return cli_usage(ctx, "standard input is a terminal: pipe the records in, or name a file");

    int rc = CLI_EXIT_ERROR;
    struct source s = {0};
    struct cli_response res = {0};
    json_t *doc = NULL, *imp = NULL;
    struct buf path = {0};
    char *id = NULL;
    if (source_open(ctx, &s, p->arg[0]) != 0)
        goto out;
    cli_progress_init(&s.progress, ctx->out.err, ctx->out.err_tty);
    if (!ctx->out.err_tty) {
        char size[32] = "size unknown";
        if (s.size >= 0)
            cli_progress_bytes((uint64_t)s.size, size, sizeof(size));
        cli_out_note(&ctx->out, "importing %s (%s, %s%s) into %s",
                     strcmp(s.name, "-") ? s.name : "stdin", size, format_name(s.format),
                     s.gzip ? ", gzip" : "", ctx->settings.url);
    }
    const char *query[] = {"collection", cli_args_get(p, "collection"), "time_field",
                           cli_args_get(p, "time-field"), NULL};
    const char *headers[] = {"Content-Encoding: gzip", NULL};
    struct cli_upload up = {
        .read = source_read, .progress = source_progress, .opaque = &s, .size = s.size};
    struct cli_request req = {.method = "POST",
                              .path = "/v1/bulk",
                              .query = query,
                              .headers = s.gzip ? headers : NULL,
                              .content_type = cli_import_content_type(s.format),
                              .upload = &up};
    s.started = cli_progress_now();
    rc = cli_call(ctx, &req, &res, &doc);
    cli_progress_clear(&s.progress);
    if (rc != CLI_EXIT_OK) {
        if (s.read_errno)
            cli_out_error(&ctx->out, "%s: %s", s.name, strerror(s.read_errno));
        goto out;
    }
    const char *import_id = cli_str(doc, "import_id");
    if (!import_id) {
        cli_out_error(&ctx->out, "the answer to POST /v1/bulk names no import_id");
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    if (no_wait) {
        if (ctx->out.json)
            cli_out_json_line(&ctx->out, res.body.data, res.body.len);
        else
            rc = cli_print_record(ctx, doc, NULL, NULL) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        goto out;
    }
    if (!ctx->out.err_tty)
        cli_out_note(&ctx->out,
                     "import %s: %" JSON_INTEGER_FORMAT " accepted, %" JSON_INTEGER_FORMAT
                     " rejected; waiting for the workers to store them",
                     import_id, count(doc, "accepted"), count(doc, "rejected"));
    if (!(id = cli_http_escape(import_id)) || buf_printf(&path, "/v1/imports/%s", id) != 0) {
        cli_out_error(&ctx->out, "out of memory");
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    cli_response_free(&res);
    rc = follow(ctx, &s, path.data, timeout_s, &imp, &res);
    cli_progress_clear(&s.progress);
    if (rc != CLI_EXIT_OK)
        goto out;
    if (ctx->out.json)
        rc = cli_out_json_line(&ctx->out, res.body.data, res.body.len) == 0 ? CLI_EXIT_OK
                                                                            : CLI_EXIT_ERROR;
    else
        rc = print_import(ctx, imp) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK && strict && (count(imp, "rejected") > 0 || count(imp, "dropped") > 0))
        rc = CLI_EXIT_REJECTED;
out:
    json_decref(imp);
    json_decref(doc);
    cli_response_free(&res);
    buf_free(&path);
    free(id);
    source_close(&s);
    return rc;
}

int cli_imports_get(struct cli_ctx *ctx, const struct cli_parsed *p)
{
    return cli_show(ctx, "/v1/imports/", p->arg[0], print_import);
}
