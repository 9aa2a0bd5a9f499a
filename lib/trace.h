/* trace: what follows one request everywhere: its X-Request-ID and its W3C
 * Trace Context (traceparent, https://www.w3.org/TR/trace-context/).
 *
 * Ingest takes a client's valid traceparent and continues its trace with a
 * span of its own, or starts a new trace when there is none or it is
 * invalid; it sends the result on every Kafka message it produces
 * (traceparent, x-request-id headers), and the workers read them back into
 * their log lines, so one grep for a trace id shows a write's whole path.
 * Spans go to an OpenTelemetry collector only when one is configured
 * (lib/otlp.h); the ids are for the logs either way.
 *
 * Everything here is pure apart from trace_start (the system's random
 * source) and works on fixed buffers: nothing to free. */
#ifndef SLUICE_TRACE_H
#define SLUICE_TRACE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#define TRACE_ID_HEX 32     /* trace-id: 16 bytes in lower-case hex */
#define TRACE_SPAN_HEX 16   /* parent-id (a span id): 8 bytes in lower-case hex */
#define TRACE_PARENT_LEN 55 /* "00-" trace-id "-" parent-id "-" flags */
/* The longest X-Request-ID kept, with its NUL (struct request's request_id). */
#define TRACE_REQUEST_ID_MAX 130

struct trace_context {
    char trace_id[TRACE_ID_HEX + 1];
    /* This hop's span: the parent-id of the traceparent it sends on. */
    char span_id[TRACE_SPAN_HEX + 1];
    /* The caller's span from its traceparent; "" when the trace began here. */
    char parent_id[TRACE_SPAN_HEX + 1];
    unsigned char flags; /* trace-flags: bit 0 is "sampled" */
};

/* Parses a traceparent header value of len bytes: version 00 exactly as
 * the specification writes it (lower-case hex, a trace-id and a parent-id
 * that are not all zeros), or a later version's first 55 characters
 * followed by nothing or "-" (what a version-00 reader must accept of
 * them); version ff is invalid. Fills trace_id, parent_id (the header's
 * parent-id) and flags, leaves span_id empty; -1 on anything else (out is
 * then cleared). */
int trace_parse(const char *value, size_t len, struct trace_context *out);

/* The context of a request that arrived with traceparent (NULL, or len 0:
 * none): the caller's trace continued when the header is valid, a new
 * random trace otherwise (flags 00: nothing is recorded here); a new span
 * id either way. */
void trace_start(struct trace_context *ctx, const char *traceparent, size_t len);

/* The traceparent to send on: version 00, ctx's trace id and its own span
 * id as the parent-id, the sampled flag as it came. out gets a NUL. */
void trace_format(const struct trace_context *ctx, char out[TRACE_PARENT_LEN + 1]);

/* An X-Request-ID worth keeping: 1 to TRACE_REQUEST_ID_MAX - 1 visible
 * ASCII characters (no spaces or controls), so it is safe to log and echo. */
bool trace_request_id_valid(const char *s, size_t len);

/* What a consumed message says of its request: its request id and the
 * trace id of its traceparent, "" for either when absent or invalid. */
struct trace_ids {
    char request_id[TRACE_REQUEST_ID_MAX];
    char trace_id[TRACE_ID_HEX + 1];
};

/* From the header values themselves (either may be NULL); pure. */
void trace_ids_from(const char *request_id, size_t rid_len, const char *traceparent, size_t tp_len,
                    struct trace_ids *out);
/* From the message's x-request-id and traceparent headers. */
void trace_ids_from_message(const rd_kafka_message_t *msg, struct trace_ids *out);

/* Copies msg's x-request-id, traceparent and tracestate headers (those it
 * has) to to: a dead letter keeps the ids of the request it came from, so
 * a replayed one is still found by them. */
void trace_copy_headers(const rd_kafka_message_t *msg, rd_kafka_headers_t *to);

/* A log field's value: s, or NULL (which log_msg writes as null) when it is
 * empty, so an absent id reads as null rather than "". */
static inline const char *trace_field(const char *s)
{
    return s && *s ? s : NULL;
}

#endif
