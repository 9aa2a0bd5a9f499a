/* ops: the operator endpoints of sluice-ingest: /healthz, /readyz, /metrics,
 * /openapi.json and its documentation page, /docs, and the console page,
 * /console. */
#include "docs_assets.h"
#include "http.h"
#include "keyfilter.h"
#include "log.h"
#include "otlp.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ingest_metrics_init(struct ingest *app)
{
    static const char *const failed = "Writes Kafka did not take (answered 503, or 413 when too "
                                      "large), by reason";
    static const char *const idem =
        "Keyed writes by how a key new here was checked: the replica's filter said PostgreSQL "
        "cannot hold it, or PostgreSQL was asked";
    static const struct {
        const char *name, *help, *type, *labels;
    } defs[M_METRIC_COUNT] = {
        [M_REQ_2XX] = {"sluice_http_responses_total", "HTTP responses by status class", "counter",
                       "class=\"2xx\""},
        [M_REQ_4XX] = {"sluice_http_responses_total", "HTTP responses by status class", "counter",
                       "class=\"4xx\""},
        [M_REQ_5XX] = {"sluice_http_responses_total", "HTTP responses by status class", "counter",
                       "class=\"5xx\""},
        [M_PRODUCED] = {"sluice_ingest_produced_total", "Writes acknowledged by Kafka", "counter",
                        NULL},
        [M_FAILED_TIMEOUT] = {"sluice_ingest_produce_failed_total", failed, "counter",
                              "reason=\"timeout\""},
        [M_FAILED_QUEUE_FULL] = {"sluice_ingest_produce_failed_total", failed, "counter",
                                 "reason=\"queue_full\""},
        [M_FAILED_TOO_LARGE] = {"sluice_ingest_produce_failed_total", failed, "counter",
                                "reason=\"too_large\""},
        [M_FAILED_OTHER] = {"sluice_ingest_produce_failed_total", failed, "counter",
                            "reason=\"other\""},
        [M_INFLIGHT] =
            {"sluice_ingest_inflight",
             "Requests parked: waiting for a delivery report, the worker or the database", "gauge",
             NULL},
        [M_DB_REFUSED] = {"sluice_ingest_db_refused_total",
                          "Requests answered 503 because the database queue was full", "counter",
                          NULL},
        [M_BYTES_WRITES] = {"sluice_ingest_produced_bytes_total",
                            "Bytes of the messages Kafka acknowledged (values), by producer",
                            "counter", "producer=\"writes\""},
        [M_BYTES_BULK] = {"sluice_ingest_produced_bytes_total",
                          "Bytes of the messages Kafka acknowledged (values), by producer",
                          "counter", "producer=\"bulk\""},
        [M_BULK_PRODUCED] = {"sluice_ingest_bulk_records_total",
                             "Imported records by what Kafka did with them", "counter",
                             "outcome=\"produced\""},
        [M_BULK_FAILED] = {"sluice_ingest_bulk_records_total",
                           "Imported records by what Kafka did with them", "counter",
                           "outcome=\"failed\""},
        [M_IDEM_FILTERED] = {"sluice_ingest_idempotency_checks_total", idem, "counter",
                             "path=\"filter\""},
        [M_IDEM_LOOKED_UP] = {"sluice_ingest_idempotency_checks_total", idem, "counter",
                              "path=\"database\""},
        [M_IDEM_FILTER_READY] = {"sluice_ingest_idempotency_filter_ready",
                                 "1 while the filter of stored Idempotency-Keys is whole (new keys "
                                 "need no lookup), 0 while it loads",
                                 "gauge", NULL},
        [M_IDEM_FILTER_KEYS] = {"sluice_ingest_idempotency_filter_keys",
                                "Keys the filter of stored Idempotency-Keys holds", "gauge", NULL},
    };
    for (size_t i = 0; i < M_METRIC_COUNT; i++) {
        app->metrics[i].name = defs[i].name;
        app->metrics[i].help = defs[i].help;
        app->metrics[i].type = defs[i].type;
        app->metrics[i].labels = defs[i].labels;
    }
    app->ack_latency.name = "sluice_ingest_ack_seconds";
    app->ack_latency.help = "Time from request to Kafka acknowledgement";
    for (size_t i = 0; i < PRODUCER_COUNT; i++) {
        app->produce_latency[i].name = "sluice_ingest_produce_seconds";
        app->produce_latency[i].help = "Time from handing a message to the producer to Kafka's "
                                       "acknowledgement (or refusal), by producer";
    }
    /* Requests may wait for the worker (Prefer: wait, up to 30 s). */
    for (size_t i = 0; i <= INGEST_ROUTE_ROWS; i++)
        app->route_metrics[i].seconds.buckets = &metrics_buckets_latency_long;
}

/* The row of req's route; the last row when no route took it. */
static size_t route_row(const struct ingest *app, const struct request *req)
{
    if (req->match != ROUTE_FOUND || !req->route || !app->routes)
        return INGEST_ROUTE_ROWS;
    size_t i = (size_t)(req->route - app->routes);
    return i < app->route_count && i < INGEST_ROUTE_ROWS ? i : INGEST_ROUTE_ROWS;
}

/* The request's SERVER span (otlp.h), with the id its Kafka messages name
 * as their parent's parent. Probes and scrapes are left out, as tracing
 * setups everywhere filter them: they are most requests and say nothing. */
static void trace_request(const struct request *req, const char *route, int64_t end_us)
{
    if (!otlp_sampled(&req->trace))
        return;
    if (route && (strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0 ||
                  strcmp(route, "/metrics") == 0))
        return;
    struct otlp_span s;
    char name[OTLP_NAME_MAX * 2]; /* cut to OTLP_NAME_MAX by otlp_span_init */
    /* HTTP's conventions: "{method} {route}", the method alone when no
     * route matched (the path would make every 404 a span name). */
    snprintf(name, sizeof(name), "%s%s%s", req->method, route ? " " : "", route ? route : "");
    otlp_span_init(&s, name, OTLP_KIND_SERVER, req->trace.trace_id, req->trace.span_id,
                   req->trace.parent_id, req->started_us, end_us);
    otlp_span_str(&s, "http.request.method", req->method);
    otlp_span_str(&s, "http.route", route);
    otlp_span_str(&s, "url.path", req->path);
    if (req->status)
        otlp_span_int(&s, "http.response.status_code", req->status);
    otlp_span_str(&s, "sluice.request_id", req->request_id);
    otlp_span_str(&s, "sluice.record_id", trace_field(req->id));
    if (req->status >= 500) {
        char why[32];
        snprintf(why, sizeof(why), "HTTP %u", req->status);
        otlp_span_error(&s, why);
    } else if (req->status == 0) {
        otlp_span_error(&s, "no answer: the client went away");
    }
    otlp_submit(&s);
}

void ingest_request_completed(struct ingest *app, const struct request *req)
{
    if (req->status >= 500)
        metric_add(&app->metrics[M_REQ_5XX], 1);
    else if (req->status >= 400)
        metric_add(&app->metrics[M_REQ_4XX], 1);
    else if (req->status >= 200)
        metric_add(&app->metrics[M_REQ_2XX], 1);
    int64_t took_us = time_now_us() - req->started_us;
    size_t row = route_row(app, req);
    struct ingest_route_metrics *rm = &app->route_metrics[row];
    /* Status 0: the client went before any answer was queued; nothing to count. */
    if (req->status >= INGEST_STATUS_FIRST &&
        req->status < INGEST_STATUS_FIRST + INGEST_STATUS_SLOTS) {
        atomic_fetch_add_explicit(&rm->responses[req->status - INGEST_STATUS_FIRST], 1,
                                  memory_order_relaxed);
        metric_observe_us(&rm->seconds, took_us);
    }
    trace_request(req, row < INGEST_ROUTE_ROWS ? req->route->pattern : NULL,
                  req->started_us + took_us);
    /* One line per request is too many to keep at volume: debug only. */
    if (!log_enabled(LOG_DEBUG))
        return;
    char status[16], ms[32];
    snprintf(status, sizeof(status), "%u", req->status);
    snprintf(ms, sizeof(ms), "%.3f", (double)took_us / 1000.0);
    log_debug("request", "method", req->method, "path", req->path, "route",
              row < INGEST_ROUTE_ROWS ? req->route->pattern : NULL, "status", status, "duration_ms",
              ms, "request_id", req->request_id, "trace_id", req->trace.trace_id, "id",
              trace_field(req->id));
}

/* The labels of a route row: method="GET",route="/v1/events/{id}". */
static void route_labels(struct buf *out, const struct ingest *app, size_t row)
{
    bool known = row < app->route_count && row < INGEST_ROUTE_ROWS;
    buf_puts(out, "method=");
    metrics_label(out, known ? app->routes[row].method : "other");
    buf_puts(out, ",route=");
    metrics_label(out, known ? app->routes[row].pattern : "unmatched");
}

/* sluice_http_requests_total{method,route,code} and
 * sluice_http_request_duration_seconds{method,route}: only the series that
 * happened (a table of every route and status would be mostly zeros). */
static void render_routes(struct buf *out, struct ingest *app)
{
    size_t rows = app->route_count < INGEST_ROUTE_ROWS ? app->route_count : INGEST_ROUTE_ROWS;
    struct buf labels = {0};
    metrics_family(out, "sluice_http_requests_total",
                   "HTTP requests answered, by route (method and pattern) and status code",
                   "counter");
    for (size_t r = 0; r <= INGEST_ROUTE_ROWS; r++) {
        if (r >= rows && r < INGEST_ROUTE_ROWS)
            continue;
        buf_reset(&labels);
        route_labels(&labels, app, r);
        for (size_t c = 0; labels.data && c < INGEST_STATUS_SLOTS; c++) {
            long long n = (long long)atomic_load_explicit(&app->route_metrics[r].responses[c],
                                                          memory_order_relaxed);
            if (n)
                buf_printf(out, "sluice_http_requests_total{%s,code=\"%zu\"} %lld\n", labels.data,
                           c + INGEST_STATUS_FIRST, n);
        }
    }
    metrics_family(out, "sluice_http_request_duration_seconds",
                   "Time from a request's headers to its answer, by route", "histogram");
    for (size_t r = 0; r <= INGEST_ROUTE_ROWS; r++) {
        if ((r >= rows && r < INGEST_ROUTE_ROWS) ||
            !atomic_load_explicit(&app->route_metrics[r].seconds.count, memory_order_relaxed))
            continue;
        buf_reset(&labels);
        route_labels(&labels, app, r);
        if (labels.data)
            metrics_render_histogram_samples(out, "sluice_http_request_duration_seconds",
                                             labels.data, &app->route_metrics[r].seconds);
    }
    buf_free(&labels);
}

static enum MHD_Result ops_healthz(struct request *req)
{
    return http_respond_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), NULL);
}

static enum MHD_Result ops_readyz(struct request *req)
{
    struct ingest *app = req->app;
    bool kafka_ok = kafka_cluster_reachable(app->producer, 1000);
    /* On the database pool (ROUTE_ON_DB): both checks may wait. */
    bool transient;
    PGresult *res = reads_query(app, "SELECT 1", 0, NULL, &transient);
    bool pg_ok = res != NULL;
    PQclear(res);
    json_t *doc =
        json_pack("{s:s, s:s, s:s}", "status", kafka_ok && pg_ok ? "ready" : "unavailable", "kafka",
                  kafka_ok ? "ok" : "unreachable", "postgresql", pg_ok ? "ok" : "unreachable");
    if (kafka_ok && pg_ok)
        return http_respond_json(req, MHD_HTTP_OK, doc, NULL);
    json_decref(doc);
    char detail[128];
    snprintf(detail, sizeof(detail), "Not ready: %s%s%s.", kafka_ok ? "" : "Kafka unreachable",
             !kafka_ok && !pg_ok ? ", " : "", pg_ok ? "" : "PostgreSQL unreachable");
    return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not-ready", "Not ready", detail,
                                NULL, NULL);
}

static enum MHD_Result ops_metrics(struct request *req)
{
    struct ingest *app = req->app;
    struct buf out = {0};
    metric_set(&app->metrics[M_IDEM_FILTER_READY], keyfilter_ready(app->keyfilter));
    metric_set(&app->metrics[M_IDEM_FILTER_KEYS], (int64_t)keyfilter_count(app->keyfilter));
    metrics_render(&out, app->metrics, M_METRIC_COUNT);
    metrics_render_histogram(&out, &app->ack_latency);
    metrics_family(&out, "sluice_ingest_produce_seconds", app->produce_latency[0].help,
                   "histogram");
    static const char *const producers[PRODUCER_COUNT] = {"producer=\"writes\"",
                                                          "producer=\"bulk\""};
    for (size_t i = 0; i < PRODUCER_COUNT; i++)
        metrics_render_histogram_samples(&out, "sluice_ingest_produce_seconds", producers[i],
                                         &app->produce_latency[i]);
    render_routes(&out, app);
    otlp_metrics_render(&out);
    metrics_render_process(&out);
    size_t len = out.len;
    return http_respond(req, MHD_HTTP_OK, "text/plain; version=0.0.4", buf_steal(&out), len, NULL);
}

/* ingest/openapi.json, compiled in by CMake (openapi_data.c). */
extern const char openapi_json[];

static enum MHD_Result ops_openapi(struct request *req)
{
    char *copy = strdup(openapi_json);
    return http_respond(req, MHD_HTTP_OK, "application/json", copy, copy ? strlen(copy) : 0, NULL);
}

/* The page loads from this server only: no inline script, no eval, no
 * other origin. Images may also be data: URLs, because Swagger UI's own
 * stylesheet draws its icons so (select arrows, checkboxes, the model
 * toggles, the copy button); an image cannot run script. */
#define DOCS_CSP "default-src 'self'; img-src 'self' data:"

/* The console is held to the strict policy: its stylesheet draws nothing
 * as data: URLs, so it needs no exception at all. */
#define CONSOLE_CSP "default-src 'self'"

/* The same headers go with every file (a 304 repeats them), and each is
 * revalidated on use (no-cache, against its ETag): a new build changes the
 * page and Swagger UI together, so no browser mixes the two. */
static enum MHD_Result asset_answer(struct request *req, const struct docs_asset *a,
                                    const char *csp)
{
    const char *const headers[] = {"ETag",
                                   a->etag,
                                   "Cache-Control",
                                   "no-cache",
                                   "X-Content-Type-Options",
                                   "nosniff",
                                   "Content-Security-Policy",
                                   csp,
                                   NULL};
    /* A weak or listed match is a match for GET (RFC 9110 13.1.2). */
    const char *inm = http_header(req, "If-None-Match");
    if (inm && (strstr(inm, a->etag) || strcmp(inm, "*") == 0))
        return http_respond(req, MHD_HTTP_NOT_MODIFIED, NULL, NULL, 0, headers);
    /* http_respond frees what it sends; the copy of the 1.7 MB bundle costs
     * well under a millisecond, once per browser and build. */
    char *copy = malloc(a->len ? a->len : 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, a->data, a->len);
    return http_respond(req, MHD_HTTP_OK, a->content_type, copy, a->len, headers);
}

static const struct docs_asset *asset_find(const struct docs_asset *a, const char *name)
{
    while (a->name && strcmp(a->name, name) != 0)
        a++;
    return a->name ? a : NULL;
}

static enum MHD_Result docs_answer(struct request *req, const char *name)
{
    const struct docs_asset *a = asset_find(docs_assets, name);
    /* Without Swagger UI the page would stay blank: say why instead. */
    if (docs_assets_missing[0] && (!a || name[0] == '\0')) {
        char detail[512];
        snprintf(detail, sizeof(detail),
                 "Swagger UI is not in this build: %s. Build again where npm reaches its registry "
                 "(the build runs npm ci); /openapi.json describes the API meanwhile.",
                 docs_assets_missing);
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "docs-not-built",
                                    "API documentation not built", detail, NULL, NULL);
    }
    if (!a)
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "No such docs file",
                                    "The files of /docs are listed under GET /docs/{asset} in "
                                    "/openapi.json.",
                                    NULL, NULL);
    return asset_answer(req, a, DOCS_CSP);
}

static enum MHD_Result console_answer(struct request *req, const char *name)
{
    const struct docs_asset *a = asset_find(console_assets, name);
    if (!a)
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "No such console file",
                                    "The files of /console are listed under "
                                    "GET /console/{asset} in /openapi.json.",
                                    NULL, NULL);
    return asset_answer(req, a, CONSOLE_CSP);
}

static enum MHD_Result ops_console(struct request *req)
{
    return console_answer(req, "");
}

static enum MHD_Result ops_console_asset(struct request *req)
{
    return console_answer(req, req->param);
}

static enum MHD_Result ops_docs(struct request *req)
{
    return docs_answer(req, "");
}

static enum MHD_Result ops_docs_asset(struct request *req)
{
    return docs_answer(req, req->param);
}

/* Operations: liveness, readiness, metrics and the API's own description. */
const struct route ops_routes[] = {
    {"GET", "/healthz", SCOPE_PUBLIC, ops_healthz, NULL, 0, 0},
    /* Asks PostgreSQL and Kafka, each of which may not answer for a while. */
    {"GET", "/readyz", SCOPE_PUBLIC, ops_readyz, NULL, ROUTE_ON_DB, 0},
    {"GET", "/metrics", SCOPE_PUBLIC, ops_metrics, NULL, 0, 0},
    {"GET", "/openapi.json", SCOPE_PUBLIC, ops_openapi, NULL, 0, 0},
    {"GET", "/docs", SCOPE_PUBLIC, ops_docs, NULL, 0, 0},
    {"GET", "/docs/{asset}", SCOPE_PUBLIC, ops_docs_asset, NULL, 0, 0},
    {"GET", "/console", SCOPE_PUBLIC, ops_console, NULL, 0, 0},
    {"GET", "/console/{asset}", SCOPE_PUBLIC, ops_console_asset, NULL, 0, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
