#include "http.h"

#include "body.h"
#include "config.h"
#include "dbpool.h"
#include "log.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *http_header(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *http_body_object(struct request *req, enum MHD_Result *answered)
{
    char detail[400];
    json_t *body = body_parse_object(req->body.data, req->body.len, detail, sizeof(detail));
    if (!body)
        *answered = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "malformed-body",
                                         "Malformed body", detail, NULL, NULL);
    return body;
}

bool http_write_preconditions(struct request *req, const char *what, const char **idem_key,
                              enum MHD_Result *answered)
{
    char detail[128];
    if (!validate_json_content_type(http_header(req, "Content-Type"))) {
        snprintf(detail, sizeof(detail), "Send the %s as Content-Type: application/json.", what);
        *answered =
            http_respond_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",
                                 "Unsupported media type", detail, NULL, NULL);
        return false;
    }
    *idem_key = http_header(req, "Idempotency-Key");
    if (!*idem_key)
        *idem_key = http_header(req, "webhook-id");
    if (*idem_key && !validate_idempotency_key(*idem_key)) {
        *answered = http_respond_problem(
            req, MHD_HTTP_BAD_REQUEST, "invalid-idempotency-key", "Invalid idempotency key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.", NULL, NULL);
        return false;
    }
    return true;
}

const char *http_query(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* A client's X-Request-ID is kept when it is short printable ASCII; anything
 * else is replaced, so it is always safe to log and echo. Its traceparent
 * likewise: a valid one is continued, anything else starts a new trace. */
static void request_id_init(struct request *req)
{
    const char *traceparent = http_header(req, "traceparent");
    trace_start(&req->trace, traceparent, traceparent ? strlen(traceparent) : 0);
    const char *given = http_header(req, "X-Request-ID");
    if (given && trace_request_id_valid(given, strlen(given))) {
        memcpy(req->request_id, given, strlen(given) + 1);
        return;
    }
    struct uuid u;
    if (uuid_v7(&u, (uint64_t)(req->started_us / 1000)) != 0)
        memset(&u, 0, sizeof(u));
    uuid_format(&u, req->request_id);
}

enum MHD_Result http_respond(struct request *req, unsigned status, const char *content_type,
                             char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : "", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "X-Request-ID", req->request_id);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    req->status = status;
    if (req->on_pool) {
        /* libmicrohttpd queues a response only from the access handler, on
         * the connection's own thread: keep it for answer_stored. */
        if (req->stored)
            MHD_destroy_response(req->stored);
        req->stored = resp;
        req->stored_status = status;
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_respond_json(struct request *req, unsigned status, json_t *doc,
                                  const char *const *headers)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return MHD_NO;
    return http_respond(req, status, "application/json", text, strlen(text), headers);
}

enum MHD_Result http_respond_problem(struct request *req, unsigned status, const char *slug,
                                     const char *title, const char *detail,
                                     const struct problem_errors *errors,
                                     const char *const *headers)
{
    char *text = problem_render(status, slug, title, detail, errors);
    if (!text)
        return MHD_NO;
    return http_respond(req, status, PROBLEM_CONTENT_TYPE, text, strlen(text), headers);
}

void http_suspend(struct request *req, request_fn on_resume)
{
    req->on_resume = on_resume;
    if (req->on_pool) {
        /* The connection is suspended for the pool job already; it resumes
         * once the job has ended and this wait is over too. */
        atomic_fetch_add(&req->holds, 1);
        return;
    }
    req->resumed = false;
    atomic_store(&req->holds, 1);
    atomic_fetch_add(&req->app->inflight, 1);
    metric_add(&req->app->metrics[M_INFLIGHT], 1);
    MHD_suspend_connection(req->conn);
}

void http_resume(struct request *req)
{
    /* The last of the holds resumes; until then the request cannot complete,
     * so nobody frees it under a thread that still holds it. */
    if (atomic_fetch_sub(&req->holds, 1) != 1)
        return;
    req->resumed = true;
    MHD_resume_connection(req->conn);
}

/* On an HTTP thread: queues what a handler answered on the pool. */
static enum MHD_Result answer_stored(struct request *req)
{
    struct MHD_Response *resp = req->stored;
    req->stored = NULL;
    if (!resp)
        return MHD_NO; /* the handler could not build an answer: close */
    enum MHD_Result ret = MHD_queue_response(req->conn, req->stored_status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_pool_full(struct request *req)
{
    if (req->if_pool_full) {
        request_fn fn = req->if_pool_full;
        req->if_pool_full = NULL;
        return fn(req);
    }
    metric_add(&req->app->metrics[M_DB_REFUSED], 1);
    log_warn("database pool full: request refused", "request_id", req->request_id, "path",
             req->path);
    const char *headers[] = {"Retry-After", "1", NULL};
    return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "database-busy", "Database busy",
                                "Too many requests are waiting for the database; retry shortly.",
                                NULL, headers);
}

/* On a pool thread. */
static void pool_job(void *arg)
{
    struct request *req = arg;
    req->on_pool = true;
    req->pool_work(req);
    req->on_pool = false;
    http_resume(req);
}

void http_offload(struct request *req, void (*work)(struct request *req), request_fn on_resume)
{
    if (req->on_pool) {
        work(req);
        req->on_resume = on_resume;
        return;
    }
    http_suspend(req, on_resume);
    req->pool_work = work;
    if (!req->app->dbpool || dbpool_submit(req->app->dbpool, pool_job, req) != 0) {
        req->on_resume = answer_pool_full;
        http_resume(req);
    }
}

static void run_deferred(struct request *req)
{
    /* Its answer is in req->stored, or it parked the request again. */
    (void)req->deferred(req);
}

void http_defer(struct request *req, request_fn fn, request_fn if_pool_full)
{
    req->deferred = fn;
    req->if_pool_full = if_pool_full;
    http_offload(req, run_deferred, answer_stored);
}

/* ---- refusals decided on the headers, answered after the body ---- */

static enum MHD_Result answer_refusal(struct request *req)
{
    /* Framing the server could not follow, or a body cut short: the
     * connection cannot be reused. */
    const char *headers[] = {"Connection", "close", NULL};
    bool must_close = req->refusal.status == MHD_HTTP_BAD_REQUEST ||
                      req->refusal.status == MHD_HTTP_NOT_IMPLEMENTED;
    return http_respond_problem(req, req->refusal.status, req->refusal.slug, req->refusal.title,
                                req->refusal.detail, NULL, must_close ? headers : NULL);
}

/* The declared Content-Length, or -1 when none (or chunked). */
static long long declared_length(struct request *req)
{
    const char *length = http_header(req, "Content-Length");
    if (!length || http_header(req, "Transfer-Encoding"))
        return -1;
    return strtoll(length, NULL, 10);
}

/* Records a refusal; answers at once when no body follows, when the client
 * waits for 100 Continue before sending it, or when it is too large to
 * drain; otherwise the body is read and dropped first. */
static enum MHD_Result refuse(struct request *req, unsigned status, const char *slug,
                              const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result refuse(struct request *req, unsigned status, const char *slug,
                              const char *title, const char *fmt, ...)
{
    req->refusal.status = status;
    req->refusal.slug = slug;
    req->refusal.title = title;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->refusal.detail, sizeof(req->refusal.detail), fmt, ap);
    va_end(ap);
    long long length = declared_length(req);
    const char *expect = http_header(req, "Expect");
    bool chunked = http_header(req, "Transfer-Encoding") != NULL;
    if ((length <= 0 && !chunked) || (expect && strcasecmp(expect, "100-continue") == 0) ||
        length > (long long)req->app->cfg.max_body_bytes + (long long)HTTP_DISCARD_MAX_BYTES)
        return answer_refusal(req);
    return MHD_YES;
}

static enum MHD_Result too_large(struct request *req)
{
    return refuse(req, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large", "Request body too large",
                  "The request body is larger than %ld bytes.", req->app->cfg.max_body_bytes);
}

struct header_count {
    unsigned content_length;
    bool differ;
    const char *first;
};

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_count *hc = cls;
    if (strcasecmp(key, "Content-Length") != 0)
        return MHD_YES;
    if (hc->content_length++ == 0)
        hc->first = value;
    else if (strcmp(hc->first, value ? value : "") != 0)
        hc->differ = true;
    return MHD_YES;
}

/* What libmicrohttpd 0.9.75 lets through and must not be: it uses the first
 * of several Content-Length headers, prefers Transfer-Encoding: chunked to a
 * Content-Length sent with it (the two readings a proxy and this server may
 * disagree on: request smuggling), and reads a body of any other
 * Transfer-Encoding until the client closes (never answering). Answered at
 * once, with Connection: close, since the body cannot be framed. */
static bool framing_refused(struct request *req, enum MHD_Result *ret)
{
    struct header_count hc = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_length, &hc);
    const char *te = http_header(req, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") != 0) {
        req->refusal = (struct http_refusal){MHD_HTTP_NOT_IMPLEMENTED, "unsupported-framing",
                                             "Transfer-Encoding not implemented", ""};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "Only Transfer-Encoding: chunked is implemented (got \"%.100s\"); send the "
                 "body with a Content-Length or chunked.",
                 te);
    } else if (hc.differ) {
        req->refusal = (struct http_refusal){MHD_HTTP_BAD_REQUEST, "conflicting-framing",
                                             "Conflicting Content-Length", ""};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "The request has Content-Length headers with different values; send one.");
    } else if (te && hc.content_length) {
        req->refusal = (struct http_refusal){MHD_HTTP_BAD_REQUEST, "conflicting-framing",
                                             "Conflicting framing", ""};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "The request has both Transfer-Encoding and Content-Length; send one.");
    } else {
        return false;
    }
    *ret = answer_refusal(req);
    return true;
}

/* A charset parameter that is not UTF-8 (case-insensitive, quoted or not);
 * copies the value into out. */
static bool charset_not_utf8(const char *ct, char *out, size_t outlen)
{
    for (const char *p = ct ? strchr(ct, ';') : NULL; p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (strncasecmp(q, "charset=", 8) != 0)
            continue;
        q += 8;
        bool quoted = *q == '"';
        q += quoted;
        size_t n = strcspn(q, quoted ? "\"" : "; \t");
        snprintf(out, outlen, "%.*s", (int)(n > 40 ? 40 : n), q);
        return !((n == 5 && strncasecmp(q, "utf-8", 5) == 0) ||
                 (n == 4 && strncasecmp(q, "utf8", 4) == 0));
    }
    return false;
}

/* What every route refuses on its headers: a body in a charset other than
 * UTF-8 (the API is UTF-8 JSON) and a Content-Encoding the route cannot
 * decode (only ROUTE_TAKES_ENCODING routes, bulk import, inflate gzip). */
static bool media_refused(struct request *req, enum MHD_Result *ret)
{
    /* Only a body has a charset or an encoding (a stray header on a GET is
     * no reason to refuse it). */
    if (declared_length(req) <= 0 && !http_header(req, "Transfer-Encoding"))
        return false;
    char charset[48];
    if (charset_not_utf8(http_header(req, "Content-Type"), charset, sizeof(charset))) {
        *ret = refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-charset",
                      "Unsupported charset", "The body must be UTF-8 (got charset=%s).", charset);
        return true;
    }
    const char *encoding = http_header(req, "Content-Encoding");
    if (encoding && strcasecmp(encoding, "identity") != 0 &&
        !(req->route->flags & ROUTE_TAKES_ENCODING)) {
        *ret = refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-encoding",
                      "Unsupported content encoding",
                      "%s %s takes no Content-Encoding (got \"%.40s\"); send the body as is.",
                      req->method, req->route->pattern, encoding);
        return true;
    }
    return false;
}

static enum MHD_Result dispatch(struct request *req)
{
    switch (req->match) {
    case ROUTE_FOUND:
        if (req->route->flags & ROUTE_ON_DB) {
            http_defer(req, req->route->handler, NULL);
            return MHD_YES;
        }
        return req->route->handler(req);
    case ROUTE_METHOD_NOT_ALLOWED: {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s is not allowed here; allowed: %s.", req->method,
                 req->allow);
        const char *headers[] = {"Allow", req->allow, NULL};
        return http_respond_problem(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed",
                                    "Method not allowed", detail, NULL, headers);
    }
    case ROUTE_NOT_FOUND:
        break;
    }
    return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Not found",
                                "No resource lives at this path.", NULL, NULL);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct ingest *app = cls;
    struct request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->app = app;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->started_us = time_now_us();
        request_id_init(req);
        *con_cls = req;
        enum MHD_Result ret;
        if (framing_refused(req, &ret))
            return ret;
        /* Matched once, as soon as the headers are in: a streaming route
         * must take the body as it arrives. */
        req->match = route_match(req->app->routes, req->app->route_count, method, url, &req->route,
                                 req->param, sizeof(req->param), req->allow, sizeof(req->allow));
        if (req->match == ROUTE_FOUND && media_refused(req, &ret))
            return ret;
        if (req->match == ROUTE_FOUND && req->route->begin) {
            ret = req->route->begin(req);
            if (req->status || ret != MHD_YES || req->feed)
                return ret;
        }
        /* A declared oversize body is refused before any of it is kept. */
        long long length = declared_length(req);
        if (length > app->cfg.max_body_bytes)
            return too_large(req);
        return MHD_YES;
    }
    if (req->status && !req->on_resume) {
        /* Answered already (a refusal cut short): drop what still comes. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size && req->feed) {
        *upload_data_size -= req->feed(req, upload_data, *upload_data_size);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->refusal.status && req->body.len + n > (size_t)app->cfg.max_body_bytes) {
            buf_free(&req->body);
            enum MHD_Result ret = too_large(req);
            if (req->status)
                return ret;
        }
        if (req->refusal.status) {
            /* Read and dropped, so a client that sends the whole body before
             * reading gets the answer instead of a reset; within bounds, so
             * a client cannot keep a connection busy with it forever. */
            req->discarded += n;
            /* The whole body counts, as the check on the declared length
             * does: refused on its headers, nothing of it was kept. */
            if (req->body.len + req->discarded >
                    (uint64_t)req->app->cfg.max_body_bytes + HTTP_DISCARD_MAX_BYTES ||
                time_now_us() - req->started_us > (int64_t)HTTP_DISCARD_MAX_MS * 1000)
                return answer_refusal(req);
            return MHD_YES;
        }
        return buf_append(&req->body, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }
    if (req->on_resume) {
        if (!req->resumed)
            return MHD_YES;
        request_fn fn = req->on_resume;
        req->on_resume = NULL;
        atomic_fetch_sub(&app->inflight, 1);
        metric_add(&app->metrics[M_INFLIGHT], -1);
        return fn(req);
    }
    if (req->refusal.status)
        return answer_refusal(req);
    return dispatch(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ingest *app = cls;
    struct request *req = *con_cls;
    if (!req)
        return;
    ingest_request_completed(app, req);
    if (req->handler_release)
        req->handler_release(req);
    if (req->stored) /* answered on the pool, but the client went away */
        MHD_destroy_response(req->stored);
    buf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages go through the JSON log, rate-limited: most
 * are about malformed requests, which any client can send at will.
 *
 * What cannot be done in 0.9.75: the answers it builds itself before any
 * callback of ours runs (400 for a malformed request line or header, or a
 * bad Content-Length; 414 URI too long and 431 headers too large when they
 * overflow MHD_OPTION_CONNECTION_MEMORY_LIMIT; 505 for an unknown HTTP
 * version) have compile-time HTML bodies, and no option or callback replaces
 * them (the access handler is never called; the request-completed callback
 * has no request of ours). They stay HTML with Connection: close; what we can
 * frame ourselves (two Content-Lengths, an unknown Transfer-Encoding) is
 * answered as problem+json by framing_refused. */
#define HTTP_LIBRARY_LOG_PER_SECOND 10
static struct log_limit library_log_limit = {.per_second = HTTP_LIBRARY_LOG_PER_SECOND};

static void library_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    unsigned long suppressed;
    if (!log_limit_allow(&library_log_limit, time_now_us() / 1000000, &suppressed))
        return;
    char text[300];
    vsnprintf(text, sizeof(text), fmt, ap);
    /* The HTML page it quotes says nothing the status does not. */
    char *html = strstr(text, " ('<");
    if (html)
        snprintf(html, sizeof(text) - (size_t)(html - text), ")");
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        text[--n] = '\0';
    char count[32];
    snprintf(count, sizeof(count), "%lu", suppressed);
    log_msg(LOG_INFO, "libmicrohttpd", "detail", text, suppressed ? "suppressed" : NULL, count,
            NULL);
}

struct MHD_Daemon *http_start(struct ingest *app, char *err, size_t errlen)
{
    char host[256];
    int port;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (config_split_addr(app->cfg.listen, host, sizeof(host), &port) != 0 ||
        inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr) !=
            1) {
        snprintf(err, errlen, "SLUICE_LISTEN=%s: expected an IPv4 address and port",
                 app->cfg.listen);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_access, app,
        /* First, so that every message of the library goes through it. */
        MHD_OPTION_EXTERNAL_LOGGER, library_log, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, app, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        /* libmicrohttpd zeroes a connection's pool before each request on a
         * kept-alive connection: 16 KiB holds any sane header set and keeps
         * that cost at half the 32 KiB default. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (!d)
        snprintf(err, errlen, "cannot listen on %s (address in use or not local?)",
                 app->cfg.listen);
    return d;
}

void http_quiesce(struct MHD_Daemon *daemon)
{
    MHD_socket fd = MHD_quiesce_daemon(daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void http_stop(struct MHD_Daemon *daemon)
{
    MHD_stop_daemon(daemon);
}
