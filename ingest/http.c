#include "http.h"

#include "config.h"
#include "log.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *http_header(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *http_body_object(struct request *req, enum MHD_Result *answered)
{
    char detail[300];
    json_t *body = validate_parse_object(req->body.data, req->body.len, detail, sizeof(detail));
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
 * else is replaced, so it is always safe to log and echo. */
static void request_id_init(struct request *req)
{
    const char *given = http_header(req, "X-Request-ID");
    if (given) {
        size_t len = strlen(given);
        bool ok = len > 0 && len < sizeof(req->request_id);
        for (size_t i = 0; ok && i < len; i++)
            ok = given[i] > 0x20 && given[i] < 0x7f;
        if (ok) {
            memcpy(req->request_id, given, len + 1);
            return;
        }
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
    req->resumed = false;
    atomic_fetch_add(&req->app->inflight, 1);
    metric_add(&req->app->metrics[M_INFLIGHT], 1);
    MHD_suspend_connection(req->conn);
}

void http_resume(struct request *req)
{
    req->resumed = true;
    MHD_resume_connection(req->conn);
}

static enum MHD_Result too_large(struct request *req)
{
    char detail[128];
    snprintf(detail, sizeof(detail), "The request body is larger than %ld bytes.",
             req->app->cfg.max_body_bytes);
    return http_respond_problem(req, 413, "body-too-large", "Request body too large", detail, NULL,
                                NULL);
}

static enum MHD_Result dispatch(struct request *req)
{
    switch (req->match) {
    case ROUTE_FOUND:
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
        /* Matched once, as soon as the headers are in: a streaming route
         * must take the body as it arrives. */
        req->match = route_match(routes, route_count, method, url, &req->route, req->param,
                                 sizeof(req->param), req->allow, sizeof(req->allow));
        if (req->match == ROUTE_FOUND && req->route->begin) {
            enum MHD_Result ret = req->route->begin(req);
            if (req->status || ret != MHD_YES || req->feed)
                return ret;
        }
        /* Refuse a declared oversize body before reading any of it. */
        const char *length = http_header(req, "Content-Length");
        if (length && strtoull(length, NULL, 10) > (unsigned long long)app->cfg.max_body_bytes) {
            req->body_too_large = true;
            return too_large(req);
        }
        return MHD_YES;
    }
    if (*upload_data_size && req->feed) {
        *upload_data_size -= req->feed(req, upload_data, *upload_data_size);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->body_too_large) {
            if (req->body.len + *upload_data_size > (size_t)app->cfg.max_body_bytes) {
                req->body_too_large = true;
                buf_free(&req->body);
            } else if (buf_append(&req->body, upload_data, *upload_data_size) != 0) {
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
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
    if (req->body_too_large)
        return too_large(req);
    return dispatch(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ingest *app = cls;
    struct request *req = *con_cls;
    if (!req)
        return;
    if (req->status >= 500)
        metric_add(&app->metrics[M_REQ_5XX], 1);
    else if (req->status >= 400)
        metric_add(&app->metrics[M_REQ_4XX], 1);
    else if (req->status >= 200)
        metric_add(&app->metrics[M_REQ_2XX], 1);
    if (req->stream_release)
        req->stream_release(req);
    buf_free(&req->body);
    free(req);
    *con_cls = NULL;
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
        on_access, app, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)app->cfg.http_threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, app,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
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
