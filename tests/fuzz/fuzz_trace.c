/* trace: a client's traceparent header (W3C Trace Context), and an
 * X-Request-ID, as ingest reads them (lib/trace.c trace_parse, trace_start,
 * trace_ids_from); the workers read the same headers back off Kafka. The
 * value is handed over with its length and no NUL, as the input is. An
 * accepted traceparent has well-formed ids and is re-sent in the form it
 * came (version 00, the sampled flag); a refused one leaves nothing behind. */
#include "support.h"

#include "trace.h"

#include <string.h>

static bool lower_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero && s[n] == '\0';
}

int fuzz_one(const uint8_t *data, size_t size)
{
    const char *value = (const char *)data;
    struct trace_context ctx;
    memset(&ctx, 0x55, sizeof(ctx));
    int rc = trace_parse(value, size, &ctx);
    if (rc != 0) {
        static const struct trace_context cleared;
        FUZZ_CHECK(memcmp(&ctx, &cleared, sizeof(ctx)) == 0, "a refused header left fields set");
    } else {
        FUZZ_CHECK(lower_hex(ctx.trace_id, TRACE_ID_HEX), "trace-id \"%s\"", ctx.trace_id);
        FUZZ_CHECK(lower_hex(ctx.parent_id, TRACE_SPAN_HEX), "parent-id \"%s\"", ctx.parent_id);
        FUZZ_CHECK(ctx.span_id[0] == '\0', "trace_parse set a span id");
        FUZZ_CHECK(memcmp(value + 3, ctx.trace_id, TRACE_ID_HEX) == 0, "trace-id not the header's");

        /* Sent on as this hop: the caller's span as parent reads back. */
        struct trace_context hop = ctx, back;
        memcpy(hop.span_id, ctx.parent_id, sizeof(hop.span_id));
        char out[TRACE_PARENT_LEN + 1];
        trace_format(&hop, out);
        FUZZ_CHECK(strlen(out) == TRACE_PARENT_LEN, "trace_format wrote \"%s\"", out);
        FUZZ_CHECK(trace_parse(out, strlen(out), &back) == 0, "refused its own \"%s\"", out);
        FUZZ_CHECK(strcmp(back.trace_id, ctx.trace_id) == 0 &&
                       strcmp(back.parent_id, ctx.parent_id) == 0 && back.flags == (ctx.flags & 1),
                   "\"%s\" read back differently", out);
        if (value[0] == '0' && value[1] == '0' && ctx.flags <= 1)
            FUZZ_CHECK(memcmp(out, value, TRACE_PARENT_LEN) == 0,
                       "a version-00 header was re-sent as \"%s\"", out);
    }

    struct trace_context started;
    trace_start(&started, value, size);
    FUZZ_CHECK(lower_hex(started.trace_id, TRACE_ID_HEX), "started trace \"%s\"", started.trace_id);
    FUZZ_CHECK(lower_hex(started.span_id, TRACE_SPAN_HEX), "started span \"%s\"", started.span_id);
    if (rc == 0)
        FUZZ_CHECK(strcmp(started.trace_id, ctx.trace_id) == 0, "a valid trace was not continued");
    else
        FUZZ_CHECK(started.parent_id[0] == '\0' && started.flags == 0,
                   "a new trace kept a parent or flags");

    bool visible = size >= 1 && size < TRACE_REQUEST_ID_MAX;
    for (size_t i = 0; visible && i < size; i++)
        visible = data[i] > 0x20 && data[i] < 0x7f;
    FUZZ_CHECK(trace_request_id_valid(value, size) == visible,
               "X-Request-ID validity is wrong for %zu bytes", size);

    struct trace_ids ids;
    trace_ids_from(value, size, value, size, &ids);
    FUZZ_CHECK(visible ? strlen(ids.request_id) == size && memcmp(ids.request_id, value, size) == 0
                       : ids.request_id[0] == '\0',
               "request id kept wrongly");
    FUZZ_CHECK(rc == 0 ? strcmp(ids.trace_id, ctx.trace_id) == 0 : ids.trace_id[0] == '\0',
               "trace id kept wrongly");
    return 0;
}
