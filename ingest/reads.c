#include "reads.h"

#include "cursor.h"
#include "log.h"
#include "pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_POOL_WAIT_MS 2000
/* The client waits a little longer than statement_timeout: a slow query is
 * cancelled by the server (and the connection kept); only a server that does
 * not answer at all makes the client give up (and drop the connection). */
#define READ_CLIENT_GRACE_MS 500

PGresult *reads_query(struct ingest *app, const char *sql, int n, const char *const *params,
                      bool *transient)
{
    char err[256];
    if (atomic_load(&app->db_closing)) {
        *transient = true; /* shutting down with the database away */
        return NULL;
    }
    PGconn *conn = pgpool_get(app->pg, READ_POOL_WAIT_MS, err, sizeof(err));
    if (!conn) {
        log_warn("database unavailable for a read", "detail", err);
        *transient = true;
        return NULL;
    }
    PGresult *res = pgpool_exec(
        conn, sql, n, params, (int)app->cfg.db_timeout_ms + READ_CLIENT_GRACE_MS, err, sizeof(err));
    if (!res) {
        /* Timed out or the connection broke: the database is away. */
        *transient = true;
        log_warn("read failed", "detail", err);
    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* statement_timeout (57014) is transient too: a retry may be lucky. */
        *transient = pg_error_is_transient(conn, res);
        log_msg(*transient ? LOG_WARN : LOG_ERROR, "read failed", "detail",
                PQresultErrorMessage(res), NULL);
        PQclear(res);
        res = NULL;
    }
    pgpool_put(app->pg, conn);
    return res;
}

enum MHD_Result reads_failed(struct request *req, bool transient)
{
    if (transient) {
        const char *headers[] = {"Retry-After", "1", NULL};
        return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "database-unavailable",
                                    "Database unavailable",
                                    "The database did not answer; retry shortly.", NULL, headers);
    }
    return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "Internal error",
                                "The query failed; the request id is in the server log.", NULL,
                                NULL);
}

json_t *reads_page(const PGresult *res, long limit, json_t *(*row)(const PGresult *, int),
                   int id_col, int ts_col)
{
    int rows = PQntuples(res);
    int shown = rows > limit ? (int)limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, row(res, i));
    json_t *next = json_null();
    if (rows > limit) {
        char c[CURSOR_STR_LEN];
        struct uuid last;
        uuid_parse(PQgetvalue(res, shown - 1, id_col), &last);
        cursor_encode(strtoll(PQgetvalue(res, shown - 1, ts_col), NULL, 10), &last, c);
        next = json_string(c);
    }
    return json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
}

void reads_like_pattern(const char *text, struct buf *out)
{
    buf_puts(out, "%");
    for (const char *p = text; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            buf_append(out, "\\", 1);
        buf_append(out, p, 1);
    }
    buf_puts(out, "%");
}

void reads_page_params(struct request *req, long default_limit, long max_limit,
                       struct page_params *out, struct problem_errors *pe)
{
    memset(out, 0, sizeof(*out));
    out->limit = default_limit;
    const char *limit = http_query(req, "limit");
    if (limit) {
        char *end;
        errno = 0;
        out->limit = strtol(limit, &end, 10);
        if (errno || *end || end == limit || out->limit < 1 || out->limit > max_limit)
            problem_errors_add(pe, "#/query/limit", "must be an integer from 1 to %ld", max_limit);
    }
    const char *cursor = http_query(req, "cursor");
    if (cursor && *cursor) {
        int64_t ts;
        struct uuid last;
        if (cursor_decode(cursor, &ts, &last) != 0 || !time_in_range(ts)) {
            problem_errors_add(pe, "#/query/cursor", "is not a cursor this API returned");
            return;
        }
        time_format(ts, out->after_ts);
        uuid_format(&last, out->after_id);
        out->has_cursor = true;
    }
}
