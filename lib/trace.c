#include "trace.h"

#include "kafka.h"
#include "random.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case too: the specification allows lower case only */
}

/* n lower-case hex digits, not all of them zero, copied into out with a NUL. */
static bool hex_id(const char *s, size_t n, char *out)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int v = hex_value(s[i]);
        if (v < 0)
            return false;
        nonzero |= v != 0;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return nonzero;
}

int trace_parse(const char *value, size_t len, struct trace_context *out)
{
    memset(out, 0, sizeof(*out));
    if (!value || len < TRACE_PARENT_LEN)
        goto invalid;
    int v1 = hex_value(value[0]), v2 = hex_value(value[1]);
    if (v1 < 0 || v2 < 0 || (v1 == 15 && v2 == 15))
        goto invalid;
    bool version00 = v1 == 0 && v2 == 0;
    /* A later version may append fields; what comes before them reads as 00. */
    if (version00 ? len != TRACE_PARENT_LEN
                  : len > TRACE_PARENT_LEN && value[TRACE_PARENT_LEN] != '-')
        goto invalid;
    if (value[2] != '-' || value[3 + TRACE_ID_HEX] != '-' ||
        value[4 + TRACE_ID_HEX + TRACE_SPAN_HEX] != '-')
        goto invalid;
    if (!hex_id(value + 3, TRACE_ID_HEX, out->trace_id) ||
        !hex_id(value + 4 + TRACE_ID_HEX, TRACE_SPAN_HEX, out->parent_id))
        goto invalid;
    const char *flags = value + 5 + TRACE_ID_HEX + TRACE_SPAN_HEX;
    int f1 = hex_value(flags[0]), f2 = hex_value(flags[1]);
    if (f1 < 0 || f2 < 0)
        goto invalid;
    out->flags = (unsigned char)(f1 * 16 + f2);
    return 0;
invalid:
    memset(out, 0, sizeof(*out));
    return -1;
}

/* n random bytes as 2n lower-case hex digits, never all zeros. */
static void random_hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t bytes[16];
    bool nonzero = false;
    while (!nonzero) {
        /* random_bytes does not fail once the kernel's pool is up; if it
         * ever does, the clock's nanoseconds keep ids apart. */
        if (random_bytes(bytes, n) != 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                bytes[i] = (uint8_t)(x >> 56);
            }
        }
        for (size_t i = 0; i < n; i++)
            nonzero |= bytes[i] != 0;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void trace_start(struct trace_context *ctx, const char *traceparent, size_t len)
{
    if (!traceparent || trace_parse(traceparent, len, ctx) != 0) {
        memset(ctx, 0, sizeof(*ctx));
        random_hex(ctx->trace_id, TRACE_ID_HEX / 2);
    }
    random_hex(ctx->span_id, TRACE_SPAN_HEX / 2);
}

void trace_format(const struct trace_context *ctx, char out[TRACE_PARENT_LEN + 1])
{
    /* Version 00 defines the sampled flag only; the others go out as zero. */
    snprintf(out, TRACE_PARENT_LEN + 1, "00-%s-%s-%02x", ctx->trace_id, ctx->span_id,
             ctx->flags & 1u);
}

bool trace_request_id_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len >= TRACE_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    }
    return true;
}

void trace_ids_from(const char *request_id, size_t rid_len, const char *traceparent, size_t tp_len,
                    struct trace_ids *out)
{
    memset(out, 0, sizeof(*out));
    if (trace_request_id_valid(request_id, rid_len)) {
        memcpy(out->request_id, request_id, rid_len);
        out->request_id[rid_len] = '\0';
    }
    struct trace_context ctx;
    if (traceparent && trace_parse(traceparent, tp_len, &ctx) == 0)
        memcpy(out->trace_id, ctx.trace_id, sizeof(out->trace_id));
}

void trace_copy_headers(const rd_kafka_message_t *msg, rd_kafka_headers_t *to)
{
    static const char *const names[] = {"x-request-id", "traceparent", "tracestate"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len;
        const char *value = kafka_header(msg, names[i], &len);
        if (value)
            rd_kafka_header_add(to, names[i], -1, value, (ssize_t)len);
    }
}

void trace_ids_from_message(const rd_kafka_message_t *msg, struct trace_ids *out)
{
    size_t rid_len = 0, tp_len = 0;
    const char *rid = kafka_header(msg, "x-request-id", &rid_len);
    const char *tp = kafka_header(msg, "traceparent", &tp_len);
    trace_ids_from(rid, rid_len, tp, tp_len, out);
}
