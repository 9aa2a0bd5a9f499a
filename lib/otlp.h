/* otlp: spans for OpenTelemetry users, exported over OTLP/HTTP with JSON
 * encoding (https://opentelemetry.io/docs/specs/otlp/#otlphttp) by libcurl;
 * Debian 12 packages no OpenTelemetry C SDK.
 *
 * Configured as every OpenTelemetry SDK is, by the OTEL_* environment
 * variables (read once, by otlp_start; docs/operations.md lists them):
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT with
 * /v1/traces appended; OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _TIMEOUT,
 * _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY; OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES; OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG;
 * OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE,
 * OTEL_BSP_MAX_EXPORT_BATCH_SIZE; OTEL_SDK_DISABLED and
 * OTEL_TRACES_EXPORTER=none turn it off. A value the specification does not
 * allow is warned about and its default used: tracing never stops a process.
 *
 * With no endpoint set nothing happens at all: otlp_enabled() is false, no
 * memory is taken, no thread started, and the call sites build no span.
 *
 * Recording a span (otlp_submit) copies it into a bounded queue under a
 * mutex and returns: it never waits for the network. When the queue is full
 * the span is dropped and counted. One background thread sends the queue in
 * batches (every OTEL_BSP_SCHEDULE_DELAY ms, or at once when a batch is
 * full), retrying what the specification calls retryable (429, 502, 503,
 * 504, no answer) a few times; otlp_stop sends what is left within about
 * 2 s and stops the thread.
 *
 * The exporter is one per process, in this module's static state: spans are
 * recorded deep in ingest's, persist's and notify's call paths, and a handle
 * threaded through all of them would say nothing a process-wide one does not.
 * otlp_start and otlp_stop run in main, before any other thread starts and
 * after all have stopped; everything else is thread-safe.
 *
 * Spans are fixed-size structs the caller fills on its stack: nothing to
 * free. The encoder and the sampler are pure and exposed for the unit tests. */
#ifndef SLUICE_OTLP_H
#define SLUICE_OTLP_H

#include "trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* OTLP's Span.SpanKind. */
enum otlp_kind {
    OTLP_KIND_INTERNAL = 1,
    OTLP_KIND_SERVER = 2,
    OTLP_KIND_CLIENT = 3,
    OTLP_KIND_PRODUCER = 4,
    OTLP_KIND_CONSUMER = 5,
};

/* OTLP's Status.StatusCode. */
enum otlp_status {
    OTLP_STATUS_UNSET = 0,
    OTLP_STATUS_OK = 1,
    OTLP_STATUS_ERROR = 2,
};

#define OTLP_NAME_MAX 96
#define OTLP_KEY_MAX 48
#define OTLP_VALUE_MAX 128
#define OTLP_MESSAGE_MAX 192
#define OTLP_ATTRS_MAX 12
#define OTLP_LINKS_MAX 8
/* Resource attributes: service.name, process.pid and OTEL_RESOURCE_ATTRIBUTES'. */
#define OTLP_RESOURCE_ATTRS_MAX 16

struct otlp_attr {
    char key[OTLP_KEY_MAX];
    bool is_int;
    int64_t int_value;
    char str_value[OTLP_VALUE_MAX];
};

struct otlp_link {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[TRACE_SPAN_HEX + 1];
};

struct otlp_span {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[TRACE_SPAN_HEX + 1];
    char parent_id[TRACE_SPAN_HEX + 1]; /* "" for a root span */
    char name[OTLP_NAME_MAX];
    enum otlp_kind kind;
    int64_t start_ns, end_ns; /* Unix epoch nanoseconds */
    enum otlp_status status;
    char status_message[OTLP_MESSAGE_MAX];
    struct otlp_attr attrs[OTLP_ATTRS_MAX];
    size_t nattrs;
    struct otlp_link links[OTLP_LINKS_MAX];
    size_t nlinks;
};

/* Every text copied into a span (names, values, messages) is cut to its
 * field at a character boundary, invalid UTF-8 replaced by '?', so the
 * encoder always writes valid JSON. Attributes and links past their maxima
 * are left out. */

/* A span of trace_id whose parent is parent_id ("" or NULL: a root),
 * with span_id (NULL: a fresh random one), lasting from start_us to end_us
 * (Unix microseconds, as time_now_us gives them). */
void otlp_span_init(struct otlp_span *s, const char *name, enum otlp_kind kind,
                    const char *trace_id, const char *span_id, const char *parent_id,
                    int64_t start_us, int64_t end_us);
void otlp_span_str(struct otlp_span *s, const char *key, const char *value); /* NULL: left out */
void otlp_span_int(struct otlp_span *s, const char *key, int64_t value);
/* A link to another span (a batch's other messages); ids that are not
 * lower-case hex of the right length are left out. */
void otlp_span_link(struct otlp_span *s, const char *trace_id, const char *span_id);
/* Status ERROR with a description (NULL: none). */
void otlp_span_error(struct otlp_span *s, const char *message);

/* A fresh random span id: 16 lower-case hex digits, not all zeros. */
void otlp_new_span_id(char out[TRACE_SPAN_HEX + 1]);

/* -- the exporter: one per process */

/* Reads the environment; when an endpoint is set, starts the exporter
 * thread. process_name is service.name unless OTEL_SERVICE_NAME (or
 * OTEL_RESOURCE_ATTRIBUTES) says otherwise. Problems are logged, never
 * fatal: the process runs without tracing if the exporter cannot start. */
void otlp_start(const char *process_name);
/* Sends what the queue holds (bounded to about 2 s), stops the thread,
 * logs what was exported and dropped, and frees the queue. Spans submitted
 * after it are ignored. */
void otlp_stop(void);
/* Whether spans are exported: call sites check it before building one. */
bool otlp_enabled(void);
/* The sampler's decision for a span of ctx's trace, a child of ctx's
 * parent_id ("" : a root) with ctx's trace-flags: whether to record it and,
 * where the traceparent is passed on, the sampled flag to send. False when
 * not enabled. */
bool otlp_sampled(const struct trace_context *ctx);
/* Queues a copy of s, or drops and counts it when the queue is full; never
 * waits. A no-op when not enabled. The caller decided otlp_sampled. */
void otlp_submit(const struct otlp_span *s);
/* sluice_otlp_spans_total{outcome="exported|dropped|failed"}, when enabled
 * (nothing otherwise), for a process's /metrics. */
void otlp_metrics_render(struct buf *out);

/* -- pure parts, for the unit tests */

enum otlp_root_sampler { OTLP_SAMPLE_ALWAYS_ON, OTLP_SAMPLE_ALWAYS_OFF, OTLP_SAMPLE_RATIO };

struct otlp_sampler {
    enum otlp_root_sampler root;
    bool parent_based; /* parentbased_*: a span with a parent follows its sampled flag */
    double ratio;      /* OTLP_SAMPLE_RATIO: in [0, 1] */
};

/* OTEL_TRACES_SAMPLER (NULL or "": parentbased_always_on) and
 * OTEL_TRACES_SAMPLER_ARG (the ratio of *traceidratio; NULL or "": 1.0).
 * An unknown sampler or a bad ratio gives the default with the reason in
 * err and -1 (the caller warns); 0 otherwise. */
int otlp_sampler_parse(const char *name, const char *arg, struct otlp_sampler *out, char *err,
                       size_t errlen);
/* traceidratio decides from the trace id alone (its last 14 hex digits, the
 * 56 bits W3C Trace Context Level 2 makes random, below ratio * 2^56), so
 * every process of a trace decides alike. */
bool otlp_sampler_decide(const struct otlp_sampler *s, const char *trace_id, bool has_parent,
                         bool parent_sampled);

struct otlp_resource {
    struct otlp_attr attrs[OTLP_RESOURCE_ATTRS_MAX];
    size_t nattrs;
};

/* service.name from service_name (OTEL_SERVICE_NAME), else from
 * resource_attrs (OTEL_RESOURCE_ATTRIBUTES: key=value pairs separated by
 * commas, values percent-encoded), else process_name; the other pairs of
 * resource_attrs and process.pid (pid > 0) after it. Malformed pairs are
 * skipped. */
void otlp_resource_build(struct otlp_resource *r, const char *service_name,
                         const char *resource_attrs, const char *process_name, int64_t pid);

/* An ExportTraceServiceRequest of n spans under r, as OTLP's JSON mapping
 * writes it (hex ids, 64-bit integers as strings), appended to out; -1 when
 * out of memory. */
int otlp_encode(const struct otlp_resource *r, const struct otlp_span *spans, size_t n,
                struct buf *out);

/* Parses OTEL_EXPORTER_OTLP_HEADERS (key=value pairs separated by commas,
 * values percent-encoded) and calls add with each "Key: value" header line
 * (NUL-terminated, valid for the call only). Returns the pairs skipped as
 * malformed (no '=', an empty or non-token key, a control character). */
int otlp_headers_parse(const char *s, void (*add)(void *opaque, const char *line), void *opaque);

/* The traces URL: traces_endpoint as it is when set, else endpoint with
 * "/v1/traces" appended (one slash between); "" when neither is set. */
void otlp_traces_url(const char *traces_endpoint, const char *endpoint, char *out, size_t outlen);

#endif
