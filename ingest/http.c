#include "http.h"

#include "body.h"
#include "config.h"
#include "dbpool.h"
#include "log.h"
#include "netaddr.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct http_server {
    struct ingest *app;
    struct MHD_Daemon *daemon;
    struct sockaddr_in addr; /* where it listens */
    /* The listening socket once quiesced: out of the port's group, but
     * closed only after MHD_stop_daemon, as libmicrohttpd asks. */
    MHD_socket quiesced_fd;
    atomic_int connections; /* open now (see on_accept) */
    long taken;             /* queued connections http_quiesce accepted itself */
    /* Set by http_quiesce: every answer says Connection: close, so a client
     * on a kept-alive connection comes back on a new one, to the process
     * that goes on listening. */
    atomic_bool closing;
    /* Set when http_settle ends: a request that comes later (on a
     * connection that stayed idle all along) is refused rather than
     * started, as what it would wait for is being stopped. */
    atomic_bool refusing;
};

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

static void peer_address(struct request *req, struct netaddr *out)
{
    memset(out, 0, sizeof(*out));
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    char text[NETADDR_STR_LEN] = "0.0.0.0";
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
    netaddr_parse(text, out);
}

struct forwarded {
    struct buf list;
    bool failed;
};

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct forwarded *f = cls;
    (void)kind;
    if (strcasecmp(key, "X-Forwarded-For") == 0 && netaddr_forwarded_append(&f->list, value) != 0)
        f->failed = true;
    return MHD_YES;
}

int http_client_address(struct request *req, struct netaddr *client)
{
    struct netaddr peer;
    peer_address(req, &peer);
    struct forwarded f = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_forwarded, &f);
    if (!f.failed)
        netaddr_client(&peer, f.list.len ? f.list.data : NULL, req->app->trusted_proxies,
                       req->app->trusted_proxy_count, client);
    buf_free(&f.list);
    return f.failed ? -1 : 0;
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
    if (req->ratelimit_policy[0]) {
        MHD_add_response_header(resp, "RateLimit-Policy", req->ratelimit_policy);
        MHD_add_response_header(resp, "RateLimit", req->ratelimit_state);
    }
    if (atomic_load(&req->server->closing))
        MHD_add_response_header(resp, "Connection", "close");
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
    const char *headers[7];
    size_t n = 0;
    char retry_after[16];
    if (req->refusal.status == MHD_HTTP_BAD_REQUEST ||
        req->refusal.status == MHD_HTTP_NOT_IMPLEMENTED) {
        headers[n++] = "Connection";
        headers[n++] = "close";
    }
    if (req->refusal.challenge[0]) {
        headers[n++] = "WWW-Authenticate";
        headers[n++] = req->refusal.challenge;
    }
    if (req->refusal.retry_after_s) {
        snprintf(retry_after, sizeof(retry_after), "%u", req->refusal.retry_after_s);
        headers[n++] = "Retry-After";
        headers[n++] = retry_after;
    }
    headers[n] = NULL;
    return http_respond_problem(req, req->refusal.status, req->refusal.slug, req->refusal.title,
                                req->refusal.detail, NULL, headers);
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
        length > req->body_limit + (long long)HTTP_DISCARD_MAX_BYTES)
        return answer_refusal(req);
    return MHD_YES;
}

static enum MHD_Result too_large(struct request *req)
{
    return refuse(req, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large", "Request body too large",
                  "The request body is larger than %lld bytes.", req->body_limit);
}

struct header_count {
    unsigned content_length;
    unsigned transfer_encoding;
    bool differ;
    const char *first;
};

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_count *hc = cls;
    if (strcasecmp(key, "Transfer-Encoding") == 0)
        hc->transfer_encoding++;
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
    if (hc.transfer_encoding > 1) {
        /* libmicrohttpd reads the first; a proxy may read the last. */
        req->refusal = (struct http_refusal){.status = MHD_HTTP_BAD_REQUEST,
                                             .slug = "conflicting-framing",
                                             .title = "Conflicting Transfer-Encoding"};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "The request has more than one Transfer-Encoding header; send one.");
    } else if (te && strcasecmp(te, "chunked") != 0) {
        req->refusal = (struct http_refusal){.status = MHD_HTTP_NOT_IMPLEMENTED,
                                             .slug = "unsupported-framing",
                                             .title = "Transfer-Encoding not implemented"};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "Only Transfer-Encoding: chunked is implemented (got \"%.100s\"); send the "
                 "body with a Content-Length or chunked.",
                 te);
    } else if (hc.differ) {
        req->refusal = (struct http_refusal){.status = MHD_HTTP_BAD_REQUEST,
                                             .slug = "conflicting-framing",
                                             .title = "Conflicting Content-Length"};
        snprintf(req->refusal.detail, sizeof(req->refusal.detail),
                 "The request has Content-Length headers with different values; send one.");
    } else if (te && hc.content_length) {
        req->refusal = (struct http_refusal){.status = MHD_HTTP_BAD_REQUEST,
                                             .slug = "conflicting-framing",
                                             .title = "Conflicting framing"};
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

/* Refused by authentication: what the client sends is read and dropped
 * like any refused body, so it reads the 401, 403 or 429. */
static enum MHD_Result refuse_denied(struct request *req, const struct auth_denial *d)
{
    snprintf(req->refusal.challenge, sizeof(req->refusal.challenge), "%s", d->challenge);
    req->refusal.retry_after_s = d->retry_after_s ? d->retry_after_s : d->status == 503 ? 1 : 0;
    return refuse(req, d->status, d->slug, d->title, "%s", d->detail);
}

static enum MHD_Result dispatch(struct request *req)
{
    struct auth_denial denial;
    switch (req->match) {
    case ROUTE_FOUND:
        if (req->webhook_source && !auth_admit_body(req->app->auth, req, &denial)) {
            const char *headers[] = {"WWW-Authenticate", denial.challenge, NULL};
            return http_respond_problem(req, denial.status, denial.slug, denial.title,
                                        denial.detail, NULL, headers);
        }
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
    struct http_server *srv = cls;
    struct ingest *app = srv->app;
    struct request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->app = app;
        req->server = srv;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->started_us = time_now_us();
        req->body_limit = app->cfg.max_body_bytes;
        request_id_init(req);
        *con_cls = req;
        if (atomic_load(&srv->refusing))
            return refuse(req, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting-down", "Shutting down",
                          "This sluice-ingest is stopping; send the request again on a new "
                          "connection.");
        enum MHD_Result ret;
        if (framing_refused(req, &ret))
            return ret;
        /* Matched once, as soon as the headers are in: a streaming route
         * must take the body as it arrives. */
        req->match = route_match(req->app->routes, req->app->route_count, method, url, &req->route,
                                 req->param, sizeof(req->param), req->allow, sizeof(req->allow));
        if (req->match == ROUTE_FOUND && req->route->max_body_kib &&
            (long long)req->route->max_body_kib * 1024 < req->body_limit)
            req->body_limit = (long long)req->route->max_body_kib * 1024;
        if (req->match == ROUTE_FOUND && media_refused(req, &ret))
            return ret;
        struct auth_denial denial;
        if (req->match == ROUTE_FOUND && !auth_admit(app->auth, req, &denial))
            return refuse_denied(req, &denial);
        if (req->match == ROUTE_FOUND && req->route->begin) {
            ret = req->route->begin(req);
            if (req->status || ret != MHD_YES || req->feed)
                return ret;
        }
        /* A declared oversize body is refused before any of it is kept. */
        long long length = declared_length(req);
        if (length > req->body_limit)
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
        if (!req->refusal.status && req->body.len + n > (size_t)req->body_limit) {
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
                    (uint64_t)req->body_limit + HTTP_DISCARD_MAX_BYTES ||
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
    struct ingest *app = ((struct http_server *)cls)->app;
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

/* Percent-decoding as libmicrohttpd does it, except that a %00 becomes a
 * byte no UTF-8 text has (0xFF) rather than a NUL: a NUL would end the C
 * string the path and arguments are read as, so "/v1/keys%00junk" would be
 * "/v1/keys" here while a proxy's exact-path rule saw something else.
 * Decoded this way the path matches no route (404) and an argument fails its
 * UTF-8 check (400). */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    size_t len = MHD_http_unescape(s);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0')
            s[i] = (char)0xFF;
    return len;
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

/* Counts a connection as soon as libmicrohttpd takes it: it asks here
 * synchronously, in the thread that accepted it or in the one calling
 * MHD_add_connection, whereas its "started" notification of a connection
 * handed to it comes later from a worker thread, and http_settle would
 * miss a connection http_quiesce has just handed over. A connection that
 * fails between the two is never uncounted: http_settle then waits its
 * whole bound, the safe way to be wrong. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct http_server *srv = cls;
    atomic_fetch_add(&srv->connections, 1);
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&srv->connections, 1);
}

/* ---- TLS ----
 *
 * With SLUICE_TLS_CERT and SLUICE_TLS_KEY set, libmicrohttpd (GnuTLS) serves
 * HTTPS and nothing else on the port. The files are read and checked here,
 * with OpenSSL, before libmicrohttpd gets them: its own refusal of a wrong
 * file names neither the file nor the setting. */

/* TLS 1.2 and 1.3, and whatever later version GnuTLS's NORMAL gains. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1"
/* A certificate chain or a key is a few KiB: a larger file is not one. */
#define HTTP_TLS_FILE_MAX (1024 * 1024)

struct http_tls {
    char *cert; /* PEM text, NUL-terminated; NULL: plain HTTP */
    char *key;  /* PEM text, wiped before it is freed */
    size_t key_size;
};

static void tls_free(struct http_tls *tls)
{
    if (tls->key)
        OPENSSL_cleanse(tls->key, tls->key_size);
    free(tls->key);
    free(tls->cert);
    *tls = (struct http_tls){0};
}

/* The whole of a regular file as a NUL-terminated string of *size bytes
 * (the NUL included), or NULL with err naming env and path. Read without
 * stdio, whose buffer would keep a copy of the key nobody wipes. */
static char *tls_read(const char *env, const char *path, size_t *size, char *err, size_t errlen)
{
    char *text = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang the start */
    if (fd < 0) {
        snprintf(err, errlen, "%s=%s: cannot open: %s", env, path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > HTTP_TLS_FILE_MAX) {
        snprintf(err, errlen, "%s=%s: not a PEM file (expected a regular file of 1 to %d bytes)",
                 env, path, HTTP_TLS_FILE_MAX);
        goto out;
    }
    *size = (size_t)st.st_size + 1;
    text = malloc(*size);
    if (!text) {
        snprintf(err, errlen, "%s=%s: out of memory", env, path);
        goto out;
    }
    /* One byte more than its size, to see it did not grow meanwhile. */
    size_t got = 0;
    ssize_t n = 0;
    while (got < *size &&
           ((n = read(fd, text + got, *size - got)) > 0 || (n < 0 && errno == EINTR)))
        got += n > 0 ? (size_t)n : 0;
    if (got != *size - 1 || n < 0 || memchr(text, '\0', got)) {
        snprintf(err, errlen, "%s=%s: cannot read it whole (%s)", env, path,
                 n < 0 ? strerror(errno) : "changed while read, or not text");
        OPENSSL_cleanse(text, *size);
        free(text);
        text = NULL;
        goto out;
    }
    text[got] = '\0';
out:
    close(fd);
    return text;
}

/* An encrypted key would have OpenSSL ask for a passphrase on the
 * terminal; ingest has none to give (nor has libmicrohttpd). */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The certificate and key as libmicrohttpd will read them: the first
 * certificate of the chain and the key must be a pair. */
static int tls_check(const struct http_tls *tls, const char *cert_path, const char *key_path,
                     char *err, size_t errlen)
{
    int rc = -1;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    BIO *cert_bio = BIO_new_mem_buf(tls->cert, -1);
    BIO *key_bio = BIO_new_mem_buf(tls->key, -1);
    if (!cert_bio || !key_bio) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cert = PEM_read_bio_X509(cert_bio, NULL, tls_no_passphrase, NULL);
    if (!cert) {
        snprintf(err, errlen, "SLUICE_TLS_CERT=%s: no PEM certificate in it", cert_path);
        goto out;
    }
    key = PEM_read_bio_PrivateKey(key_bio, NULL, tls_no_passphrase, NULL);
    if (!key) {
        snprintf(err, errlen, "SLUICE_TLS_KEY=%s: %s", key_path,
                 strstr(tls->key, "ENCRYPTED") ? "the key is encrypted; give an unencrypted one"
                                               : "no PEM private key in it");
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        snprintf(err, errlen,
                 "SLUICE_TLS_KEY=%s: not the key of the certificate in SLUICE_TLS_CERT=%s",
                 key_path, cert_path);
        goto out;
    }
    /* Served all the same (a renewal may be on its way), but every client
     * will refuse it. */
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        log_warn("the TLS certificate has expired", "file", cert_path);
    rc = 0;
out:
    /* Failures leave reasons in this thread's OpenSSL error queue: nobody
     * else is to read them. */
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(key_bio);
    BIO_free(cert_bio);
    return rc;
}

/* Fills tls from the configuration (tls->cert NULL when TLS is off). */
static int tls_load(const struct ingest_config *cfg, struct http_tls *tls, char *err, size_t errlen)
{
    *tls = (struct http_tls){0};
    bool have_cert = cfg->tls_cert && *cfg->tls_cert, have_key = cfg->tls_key && *cfg->tls_key;
    if (!have_cert && !have_key)
        return 0;
    if (!have_cert || !have_key) {
        snprintf(err, errlen,
                 "SLUICE_TLS_CERT and SLUICE_TLS_KEY: set both or neither (only %s is set)",
                 have_cert ? "SLUICE_TLS_CERT" : "SLUICE_TLS_KEY");
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "SLUICE_TLS_CERT: this libmicrohttpd was built without TLS");
        return -1;
    }
    size_t cert_size;
    tls->cert = tls_read("SLUICE_TLS_CERT", cfg->tls_cert, &cert_size, err, errlen);
    if (tls->cert)
        tls->key = tls_read("SLUICE_TLS_KEY", cfg->tls_key, &tls->key_size, err, errlen);
    if (!tls->key || tls_check(tls, cfg->tls_cert, cfg->tls_key, err, errlen) != 0) {
        tls_free(tls);
        return -1;
    }
    return 0;
}

struct http_server *http_start(struct ingest *app, char *err, size_t errlen)
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
    struct http_tls tls;
    if (tls_load(&app->cfg, &tls, err, errlen) != 0)
        return NULL;
    bool https = tls.cert != NULL;
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        tls_free(&tls);
        return NULL;
    }
    srv->app = app;
    srv->addr = sa;
    srv->quiesced_fd = MHD_INVALID_SOCKET;
    /* Only when asked: the option's "no" would also drop the SO_REUSEADDR
     * libmicrohttpd sets by default, and a restart would then wait for the
     * port's TIME_WAIT connections to end. */
    struct MHD_OptionItem reuse[] = {
        {app->cfg.listen_reuseport ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem tls_options[] = {
        {https ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls.cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls.key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, HTTP_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            (https ? MHD_USE_TLS : 0),
        0, on_accept, srv, on_access, srv,
        /* First, so that every message of the library goes through it. */
        MHD_OPTION_EXTERNAL_LOGGER, library_log, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_ARRAY,
        reuse, MHD_OPTION_ARRAY, tls_options, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)app->cfg.http_threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_UNESCAPE_CALLBACK, unescape_no_nul, NULL,
        /* One address cannot take every connection (slow clients trickling
         * header bytes keep theirs open): the rest are for the others. */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)app->cfg.max_connections_per_ip,
        /* libmicrohttpd zeroes a connection's pool before each request on a
         * kept-alive connection: 16 KiB holds any sane header set and keeps
         * that cost at half the 32 KiB default. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    /* GnuTLS has its own copies once the daemon started. */
    tls_free(&tls);
    if (!srv->daemon) {
        if (https)
            snprintf(err, errlen,
                     "cannot listen on %s with TLS (address in use or not local, or GnuTLS refused "
                     "SLUICE_TLS_CERT=%s or SLUICE_TLS_KEY=%s: see libmicrohttpd's line above)",
                     app->cfg.listen, app->cfg.tls_cert, app->cfg.tls_key);
        else
            snprintf(err, errlen, "cannot listen on %s (address in use or not local?)",
                     app->cfg.listen);
        free(srv);
        return NULL;
    }
    if (https)
        log_info("serving HTTPS only (TLS 1.2 and later)", "cert", app->cfg.tls_cert);
    if (app->cfg.listen_reuseport) {
        /* A steering program a stopped ingest left on the port's group (see
         * steer_away) would send every connection to one listener: back to
         * the kernel's even spread. None is the usual case (ENOENT). */
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        int unused = 0;
        if (info)
            (void)setsockopt(info->listen_fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused,
                             sizeof(unused));
    }
    return srv;
}

/* ---- stopping without losing a connection ----
 *
 * With SO_REUSEPORT each listener of the port has its own queue of
 * connections the kernel has completed but nobody accepted yet, and the
 * kernel spreads new ones over the listeners by a hash of their addresses.
 * Closing a listener resets every connection in its queue (and those whose
 * handshake is under way), clients that had sent their request included,
 * unless net.ipv4.tcp_migrate_req is 1 (Linux 5.14+, off by default).
 * So a stopping ingest first has the kernel send new connections to another
 * listener (a one-instruction classic BPF program on the group), then
 * accepts what its own queue still holds and hands it to libmicrohttpd, and
 * only leaves the group once that queue has stayed empty for a while. */

/* Every new connection of the port's group goes to the listener at index
 * (their order of joining, the first at 0); an index past the last falls
 * back to the kernel's hash. */
static int steer_to(int fd, unsigned index)
{
    struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, index}};
    struct sock_fprog prog = {1, code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/* How long the listen queue must stay empty before leaving the group: the
 * handshakes the kernel began here before the steering took effect end
 * within a round trip. */
#define HTTP_QUEUE_QUIET_MS 100
/* At most this long taking connections (a port with no other listener
 * never goes quiet while clients keep coming). */
#define HTTP_QUEUE_DRAIN_MAX_MS 3000
/* How long the probe connection may take to reach this listener. */
#define HTTP_PROBE_MS 500

/* Accepts one connection from the queue, waiting up to wait_ms for one,
 * and hands it to libmicrohttpd, unless it comes from probe (then
 * *probe_seen). False when none came. */
static bool take_one(struct http_server *srv, int fd, int wait_ms, const struct sockaddr_in *probe,
                     bool *probe_seen)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, wait_ms) != 1)
        return false;
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return errno == ECONNABORTED || errno == EINTR; /* a client gone already */
    if (probe && peer.sin_port == probe->sin_port &&
        peer.sin_addr.s_addr == probe->sin_addr.s_addr) {
        *probe_seen = true;
        close(c);
        return true;
    }
    /* It closes the socket itself when it cannot take it. */
    if (MHD_add_connection(srv->daemon, c, (struct sockaddr *)&peer, len) == MHD_YES)
        srv->taken++;
    else
        log_warn("a queued connection could not be served", "detail", strerror(errno));
    return true;
}

enum http_place { PLACE_FIRST, PLACE_OTHER, PLACE_UNKNOWN };

/* Where this listener is in the port's group: with every new connection
 * steered to index 0, a connection to the port arrives here or not. Client
 * connections that arrive meanwhile are served. */
static enum http_place group_place(struct http_server *srv, int fd)
{
    struct sockaddr_in to = srv->addr;
    if (to.sin_addr.s_addr == htonl(INADDR_ANY))
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    enum http_place place = PLACE_UNKNOWN;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return place;
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    struct pollfd pfd = {.fd = s, .events = POLLOUT};
    int soerr = -1;
    socklen_t soerr_len = sizeof(soerr);
    if ((connect(s, (struct sockaddr *)&to, sizeof(to)) == 0 || errno == EINPROGRESS) &&
        poll(&pfd, 1, HTTP_PROBE_MS) == 1 &&
        getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) == 0 && soerr == 0 &&
        getsockname(s, (struct sockaddr *)&local, &len) == 0) {
        bool seen = false;
        int64_t deadline = time_now_us() + HTTP_PROBE_MS * 1000;
        for (int64_t left; !seen && (left = deadline - time_now_us()) > 0;)
            take_one(srv, fd, (int)(left / 1000) + 1, &local, &seen);
        /* Connected, so it sits in some listener's queue: another's if
         * not here (that ingest sees a connection close unused). */
        place = seen ? PLACE_FIRST : PLACE_OTHER;
    }
    close(s);
    return place;
}

/* Has the kernel send the port's new connections to the other listeners. */
static void steer_away(struct http_server *srv, int fd)
{
    const char *problem = NULL;
    if (steer_to(fd, 0) != 0) {
        problem = strerror(errno);
    } else {
        switch (group_place(srv, fd)) {
        case PLACE_FIRST:
            /* Alone, index 1 is past the end: the connections come here,
             * as they must, there being nobody else. */
            if (steer_to(fd, 1) != 0)
                problem = strerror(errno);
            break;
        case PLACE_OTHER:
            break; /* index 0 is another listener: the program stays */
        case PLACE_UNKNOWN:
            problem = "cannot connect to the port to find this listener in its group";
            int unused = 0;
            (void)setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused));
            break;
        }
    }
    if (problem)
        log_warn("cannot steer new connections to the other listeners of the port; some may be "
                 "reset when this one stops listening",
                 "detail", problem);
}

void http_quiesce(struct http_server *srv)
{
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET && srv->app->cfg.listen_reuseport)
        steer_away(srv, fd);
    /* After the steering: a client told to come back on a new connection
     * reaches the listener that stays. */
    atomic_store(&srv->closing, true);
    if (fd == MHD_INVALID_SOCKET)
        return;
    srv->quiesced_fd = fd;
    int64_t deadline = time_now_us() + HTTP_QUEUE_DRAIN_MAX_MS * 1000;
    while (time_now_us() < deadline && take_one(srv, fd, HTTP_QUEUE_QUIET_MS, NULL, NULL))
        ;
    /* Leaves the group (and stops listening) without closing the socket,
     * which libmicrohttpd's threads may still name until they stop. */
    shutdown(fd, SHUT_RDWR);
    char count[32];
    snprintf(count, sizeof(count), "%ld", srv->taken);
    log_info("stopped listening", "taken_from_queue", count);
}

void http_settle(struct http_server *srv, long timeout_ms)
{
    int64_t deadline = time_now_us() + (int64_t)timeout_ms * 1000;
    long idle;
    while ((idle = atomic_load(&srv->connections) - atomic_load(&srv->app->inflight)) > 0 &&
           time_now_us() < deadline)
        time_sleep_ms(5);
    if (idle > 0) {
        char count[32];
        snprintf(count, sizeof(count), "%ld", idle);
        log_info("closing connections that sent no request in time", "connections", count);
    }
    atomic_store(&srv->refusing, true);
}

void http_stop(struct http_server *srv)
{
    MHD_stop_daemon(srv->daemon);
    if (srv->quiesced_fd != MHD_INVALID_SOCKET)
        close(srv->quiesced_fd);
    free(srv);
}
