#include "otlp.h"

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ text */

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
        hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return len;
}

/* src into dst (cap bytes with the NUL), cut at a character boundary,
 * each byte that starts no valid sequence written as '?'. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    if (src) {
        const unsigned char *s = (const unsigned char *)src;
        size_t n = strlen(src);
        for (size_t i = 0; i < n;) {
            size_t len = utf8_seq(s + i, n - i);
            size_t put = len ? len : 1;
            if (o + put >= cap)
                break;
            if (len)
                memcpy(dst + o, s + i, len);
            else
                dst[o] = '?';
            o += put;
            i += put;
        }
    }
    dst[o] = '\0';
}

/* n lower-case hex digits, not all zeros. */
static bool hex_id_valid(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

/* ------------------------------------------------------------ spans */

void otlp_new_span_id(char out[TRACE_SPAN_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t bytes[TRACE_SPAN_HEX / 2];
    bool nonzero = false;
    while (!nonzero) {
        /* As trace.c: should random_bytes ever fail, the clock keeps ids apart. */
        if (random_bytes(bytes, sizeof(bytes)) != 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            for (size_t i = 0; i < sizeof(bytes); i++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                bytes[i] = (uint8_t)(x >> 56);
            }
        }
        for (size_t i = 0; i < sizeof(bytes); i++)
            nonzero |= bytes[i] != 0;
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[TRACE_SPAN_HEX] = '\0';
}

void otlp_span_init(struct otlp_span *s, const char *name, enum otlp_kind kind,
                    const char *trace_id, const char *span_id, const char *parent_id,
                    int64_t start_us, int64_t end_us)
{
    memset(s, 0, sizeof(*s));
    copy_text(s->name, sizeof(s->name), name);
    s->kind = kind;
    /* An invalid trace id leaves the span empty, and otlp_submit drops it:
     * a receiver would refuse the whole batch for it. */
    if (hex_id_valid(trace_id, TRACE_ID_HEX))
        memcpy(s->trace_id, trace_id, TRACE_ID_HEX + 1);
    if (hex_id_valid(span_id, TRACE_SPAN_HEX))
        memcpy(s->span_id, span_id, TRACE_SPAN_HEX + 1);
    else
        otlp_new_span_id(s->span_id);
    if (hex_id_valid(parent_id, TRACE_SPAN_HEX))
        memcpy(s->parent_id, parent_id, TRACE_SPAN_HEX + 1);
    s->start_ns = start_us * 1000;
    s->end_ns = (end_us < start_us ? start_us : end_us) * 1000;
}

static struct otlp_attr *add_attr(struct otlp_attr *attrs, size_t *n, size_t max, const char *key)
{
    if (*n >= max || !key || !*key)
        return NULL;
    struct otlp_attr *a = &attrs[(*n)++];
    memset(a, 0, sizeof(*a));
    copy_text(a->key, sizeof(a->key), key);
    return a;
}

void otlp_span_str(struct otlp_span *s, const char *key, const char *value)
{
    if (!value)
        return;
    struct otlp_attr *a = add_attr(s->attrs, &s->nattrs, OTLP_ATTRS_MAX, key);
    if (a)
        copy_text(a->str_value, sizeof(a->str_value), value);
}

void otlp_span_int(struct otlp_span *s, const char *key, int64_t value)
{
    struct otlp_attr *a = add_attr(s->attrs, &s->nattrs, OTLP_ATTRS_MAX, key);
    if (a) {
        a->is_int = true;
        a->int_value = value;
    }
}

void otlp_span_link(struct otlp_span *s, const char *trace_id, const char *span_id)
{
    if (s->nlinks >= OTLP_LINKS_MAX || !hex_id_valid(trace_id, TRACE_ID_HEX) ||
        !hex_id_valid(span_id, TRACE_SPAN_HEX))
        return;
    struct otlp_link *l = &s->links[s->nlinks++];
    memcpy(l->trace_id, trace_id, TRACE_ID_HEX + 1);
    memcpy(l->span_id, span_id, TRACE_SPAN_HEX + 1);
}

void otlp_span_error(struct otlp_span *s, const char *message)
{
    s->status = OTLP_STATUS_ERROR;
    copy_text(s->status_message, sizeof(s->status_message), message);
}

/* ------------------------------------------------------------ sampler */

int otlp_sampler_parse(const char *name, const char *arg, struct otlp_sampler *out, char *err,
                       size_t errlen)
{
    static const struct {
        const char *name;
        enum otlp_root_sampler root;
        bool parent_based;
    } samplers[] = {
        {"always_on", OTLP_SAMPLE_ALWAYS_ON, false},
        {"always_off", OTLP_SAMPLE_ALWAYS_OFF, false},
        {"traceidratio", OTLP_SAMPLE_RATIO, false},
        {"parentbased_always_on", OTLP_SAMPLE_ALWAYS_ON, true},
        {"parentbased_always_off", OTLP_SAMPLE_ALWAYS_OFF, true},
        {"parentbased_traceidratio", OTLP_SAMPLE_RATIO, true},
    };
    *out = (struct otlp_sampler){OTLP_SAMPLE_ALWAYS_ON, true, 1.0};
    if (!name || !*name)
        return 0;
    for (size_t i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++) {
        if (strcmp(name, samplers[i].name) != 0)
            continue;
        out->root = samplers[i].root;
        out->parent_based = samplers[i].parent_based;
        if (out->root != OTLP_SAMPLE_RATIO || !arg || !*arg)
            return 0;
        char *end;
        errno = 0;
        double r = strtod(arg, &end);
        if (errno || *end || end == arg || !isfinite(r) || r < 0.0 || r > 1.0) {
            snprintf(err, errlen,
                     "OTEL_TRACES_SAMPLER_ARG \"%.64s\" is not a ratio from 0 to 1; "
                     "using 1.0",
                     arg);
            return -1;
        }
        out->ratio = r;
        return 0;
    }
    snprintf(err, errlen,
             "OTEL_TRACES_SAMPLER \"%.64s\" is not one of always_on, always_off, "
             "traceidratio, parentbased_always_on, parentbased_always_off, "
             "parentbased_traceidratio; using parentbased_always_on",
             name);
    return -1;
}

bool otlp_sampler_decide(const struct otlp_sampler *s, const char *trace_id, bool has_parent,
                         bool parent_sampled)
{
    if (s->parent_based && has_parent)
        return parent_sampled;
    switch (s->root) {
    case OTLP_SAMPLE_ALWAYS_ON:
        return true;
    case OTLP_SAMPLE_ALWAYS_OFF:
        return false;
    case OTLP_SAMPLE_RATIO:
        break;
    }
    if (s->ratio >= 1.0)
        return true;
    if (!hex_id_valid(trace_id, TRACE_ID_HEX))
        return false;
    uint64_t r = 0;
    for (size_t i = TRACE_ID_HEX - 14; i < TRACE_ID_HEX; i++) {
        char c = trace_id[i];
        r = r * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return (double)r < s->ratio * 72057594037927936.0; /* 2^56 */
}

/* ------------------------------------------------------------ key=value lists */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* len bytes of percent-encoded s, decoded into out (cap with the NUL),
 * whitespace around it dropped; -1 on a bad escape, a NUL or a control
 * character, or when it does not fit. */
static int percent_decode(const char *s, size_t len, char *out, size_t cap)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int a = hex_digit(s[i + 1]), b = hex_digit(s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = a * 16 + b;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Calls pair for each key=value of a comma-separated list; the key has the
 * whitespace around it dropped, the value is still encoded. Returns the
 * members with no '=' or an empty key. */
static int each_pair(const char *s,
                     void (*pair)(void *, const char *, size_t, const char *, size_t), void *opaque)
{
    int bad = 0;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        const char *k = s;
        size_t klen = eq ? (size_t)(eq - s) : 0;
        while (klen && (*k == ' ' || *k == '\t'))
            k++, klen--;
        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
            klen--;
        bool blank = true;
        for (size_t i = 0; i < len; i++)
            blank &= s[i] == ' ' || s[i] == '\t';
        if (eq && klen)
            pair(opaque, k, klen, eq + 1, len - (size_t)(eq + 1 - s));
        else if (!blank)
            bad++;
        s = end ? end + 1 : NULL;
    }
    return bad;
}

/* ------------------------------------------------------------ resource */

struct resource_parse {
    struct otlp_resource *r;
    const char *skip_service; /* set: service.name came from OTEL_SERVICE_NAME */
    char service[OTLP_VALUE_MAX];
};

static void resource_pair(void *opaque, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct resource_parse *p = opaque;
    char key[OTLP_KEY_MAX], value[OTLP_VALUE_MAX];
    if (klen >= sizeof(key) || percent_decode(v, vlen, value, sizeof(value)) != 0)
        return;
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (strcmp(key, "service.name") == 0) {
        if (value[0])
            snprintf(p->service, sizeof(p->service), "%s", value);
        return;
    }
    struct otlp_attr *a = add_attr(p->r->attrs, &p->r->nattrs, OTLP_RESOURCE_ATTRS_MAX, key);
    if (a)
        copy_text(a->str_value, sizeof(a->str_value), value);
}

void otlp_resource_build(struct otlp_resource *r, const char *service_name,
                         const char *resource_attrs, const char *process_name, int64_t pid)
{
    memset(r, 0, sizeof(*r));
    /* service.name first, so nothing can push it out. */
    struct otlp_attr *svc = add_attr(r->attrs, &r->nattrs, OTLP_RESOURCE_ATTRS_MAX, "service.name");
    if (pid > 0) {
        struct otlp_attr *a =
            add_attr(r->attrs, &r->nattrs, OTLP_RESOURCE_ATTRS_MAX, "process.pid");
        a->is_int = true;
        a->int_value = pid;
    }
    struct resource_parse p = {.r = r};
    each_pair(resource_attrs, resource_pair, &p);
    const char *name = service_name && *service_name   ? service_name
                       : p.service[0]                  ? p.service
                       : process_name && *process_name ? process_name
                                                       : "unknown_service";
    copy_text(svc->str_value, sizeof(svc->str_value), name);
}

/* ------------------------------------------------------------ headers */

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct headers_parse {
    void (*add)(void *, const char *);
    void *opaque;
    int bad;
};

static void header_pair(void *opaque, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct headers_parse *p = opaque;
    char line[1024];
    bool token = klen < 256;
    for (size_t i = 0; token && i < klen; i++)
        token = is_tchar(k[i]);
    if (!token) {
        p->bad++;
        return;
    }
    memcpy(line, k, klen);
    memcpy(line + klen, ": ", 2);
    if (percent_decode(v, vlen, line + klen + 2, sizeof(line) - klen - 2) != 0) {
        p->bad++;
        return;
    }
    p->add(p->opaque, line);
}

int otlp_headers_parse(const char *s, void (*add)(void *opaque, const char *line), void *opaque)
{
    struct headers_parse p = {add, opaque, 0};
    p.bad += each_pair(s, header_pair, &p);
    return p.bad;
}

void otlp_traces_url(const char *traces_endpoint, const char *endpoint, char *out, size_t outlen)
{
    int n;
    if (traces_endpoint && *traces_endpoint) {
        n = snprintf(out, outlen, "%s", traces_endpoint);
    } else if (endpoint && *endpoint) {
        size_t len = strlen(endpoint);
        while (len && endpoint[len - 1] == '/')
            len--;
        n = snprintf(out, outlen, "%.*s/v1/traces", (int)len, endpoint);
    } else {
        n = snprintf(out, outlen, "%s", "");
    }
    if (n < 0 || (size_t)n >= outlen)
        out[0] = '\0';
}

/* ------------------------------------------------------------ encoding */

/* What the encoder writes to: any failed append marks the whole document. */
struct enc {
    struct buf *out;
    int err;
};

static void put(struct enc *e, const char *s)
{
    e->err |= buf_puts(e->out, s);
}

static void putn(struct enc *e, const char *s, size_t n)
{
    e->err |= buf_append(e->out, s, n);
}

static void putf(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct enc *e, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    /* Only ids and numbers go through here: they always fit. */
    if (n < 0 || (size_t)n >= sizeof(tmp))
        e->err = -1;
    else
        putn(e, tmp, (size_t)n);
}

static void json_str(struct enc *e, const char *s)
{
    static const char digits[] = "0123456789abcdef";
    put(e, "\"");
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        putn(e, run, (size_t)(s - run));
        char esc[7] = {'\\', (char)c, 0};
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 15];
            esc[6] = 0;
        }
        put(e, esc);
        run = s + 1;
    }
    putn(e, run, (size_t)(s - run));
    put(e, "\"");
}

static void json_attrs(struct enc *e, const struct otlp_attr *attrs, size_t n)
{
    put(e, "[");
    for (size_t i = 0; i < n; i++) {
        put(e, i ? ",{\"key\":" : "{\"key\":");
        json_str(e, attrs[i].key);
        if (attrs[i].is_int) {
            putf(e, ",\"value\":{\"intValue\":\"%lld\"}}", (long long)attrs[i].int_value);
        } else {
            put(e, ",\"value\":{\"stringValue\":");
            json_str(e, attrs[i].str_value);
            put(e, "}}");
        }
    }
    put(e, "]");
}

static void json_span(struct enc *e, const struct otlp_span *s)
{
    putf(e, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", s->trace_id, s->span_id);
    if (s->parent_id[0])
        putf(e, ",\"parentSpanId\":\"%s\"", s->parent_id);
    put(e, ",\"name\":");
    json_str(e, s->name);
    putf(e, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\"",
         (int)s->kind, (long long)s->start_ns, (long long)s->end_ns);
    put(e, ",\"attributes\":");
    json_attrs(e, s->attrs, s->nattrs);
    if (s->nlinks) {
        put(e, ",\"links\":[");
        for (size_t i = 0; i < s->nlinks; i++)
            putf(e, "%s{\"traceId\":\"%s\",\"spanId\":\"%s\"}", i ? "," : "", s->links[i].trace_id,
                 s->links[i].span_id);
        put(e, "]");
    }
    putf(e, ",\"status\":{\"code\":%d", (int)s->status);
    if (s->status_message[0]) {
        put(e, ",\"message\":");
        json_str(e, s->status_message);
    }
    put(e, "}}");
}

/* n spans of a ring of cap from head (a plain array: cap n, head 0). */
static int encode_ring(const struct otlp_resource *r, const struct otlp_span *ring, size_t cap,
                       size_t head, size_t n, struct buf *out)
{
    struct enc e = {out, 0};
    put(&e, "{\"resourceSpans\":[{\"resource\":{\"attributes\":");
    json_attrs(&e, r->attrs, r->nattrs);
    put(&e, "},\"scopeSpans\":[{\"scope\":{\"name\":\"sluice\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(&e, ",");
        json_span(&e, &ring[(head + i) % cap]);
    }
    put(&e, "]}]}]}");
    return e.err ? -1 : 0;
}

int otlp_encode(const struct otlp_resource *r, const struct otlp_span *spans, size_t n,
                struct buf *out)
{
    return encode_ring(r, spans, n ? n : 1, 0, n, out);
}

/* ------------------------------------------------------------ the exporter */

#define STOP_BUDGET_US (2 * 1000000LL) /* otlp_stop's bound */
#define SEND_ATTEMPTS 3
#define HEADERS_MAX 32
#define LOG_EVERY_US (60 * 1000000LL) /* repeated problems: one line a minute */

/* The process's one exporter (see otlp.h for why it is static). The lock
 * and wake are never destroyed, so a span submitted during or after
 * otlp_stop finds them valid and the queue gone. */
static struct exporter {
    atomic_bool enabled;
    pthread_mutex_t lock; /* guards ring, head, count, stopping */
    pthread_cond_t wake;  /* the thread waits on it (CLOCK_MONOTONIC) */
    struct otlp_span *ring;
    size_t cap, head, count; /* spans [head, head+count) wait, the first taken ones included */
    bool stopping;
    int64_t stop_deadline_us; /* monotonic */
    pthread_t thread;
    /* Set by otlp_start, read-only while the thread runs. */
    struct otlp_sampler sampler;
    struct otlp_resource resource;
    char url[2048];
    size_t batch_max;
    long delay_ms, timeout_ms;
    char *ca_file, *cert_file, *key_file;
    char *header_lines[HEADERS_MAX];
    size_t nheaders;
    atomic_llong exported, dropped, failed;
} ex = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits on ex.wake until the monotonic instant until_us; ex.lock held. */
static void wait_until_us(int64_t until_us)
{
    struct timespec ts = {(time_t)(until_us / 1000000), (long)(until_us % 1000000) * 1000};
    pthread_cond_timedwait(&ex.wake, &ex.lock, &ts);
}

bool otlp_enabled(void)
{
    return atomic_load_explicit(&ex.enabled, memory_order_acquire);
}

bool otlp_sampled(const struct trace_context *ctx)
{
    if (!otlp_enabled())
        return false;
    return otlp_sampler_decide(&ex.sampler, ctx->trace_id, ctx->parent_id[0] != '\0',
                               (ctx->flags & 1u) != 0);
}

void otlp_submit(const struct otlp_span *s)
{
    if (!otlp_enabled() || !s->trace_id[0])
        return;
    pthread_mutex_lock(&ex.lock);
    if (!ex.ring || ex.stopping || ex.count == ex.cap) {
        if (ex.ring)
            atomic_fetch_add_explicit(&ex.dropped, 1, memory_order_relaxed);
        pthread_mutex_unlock(&ex.lock);
        return;
    }
    ex.ring[(ex.head + ex.count) % ex.cap] = *s;
    ex.count++;
    /* A full batch goes at once; otherwise the schedule sends it. */
    if (ex.count == ex.batch_max)
        pthread_cond_signal(&ex.wake);
    pthread_mutex_unlock(&ex.lock);
}

void otlp_metrics_render(struct buf *out)
{
    if (!otlp_enabled())
        return;
    metrics_family(out, "sluice_otlp_spans_total",
                   "Spans by what became of them (exported: the collector took them; dropped: the "
                   "queue was full; failed: the collector refused or could not be reached)",
                   "counter");
    buf_printf(out,
               "sluice_otlp_spans_total{outcome=\"exported\"} %lld\n"
               "sluice_otlp_spans_total{outcome=\"dropped\"} %lld\n"
               "sluice_otlp_spans_total{outcome=\"failed\"} %lld\n",
               (long long)atomic_load(&ex.exported), (long long)atomic_load(&ex.dropped),
               (long long)atomic_load(&ex.failed));
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

/* The URL with any user:password@ left out, for the logs. */
static void url_for_log(const char *url, char *out, size_t outlen)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        snprintf(out, outlen, "%.*s%s", (int)(host - url), url, at + 1);
    else
        snprintf(out, outlen, "%s", url);
}

struct send_state {
    CURL *curl;
    CURLM *multi;
    struct curl_slist *headers;
    struct buf body;
    int64_t failing_since_log_us; /* when the last failure line was written; 0: not failing */
    long long failed_unlogged;
    long long dropped_logged;
    int64_t dropped_log_us;
};

static CURL *curl_setup(struct send_state *st)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, ex.url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, st->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice-otlp");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (ex.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ex.ca_file);
    if (ex.cert_file)
        curl_easy_setopt(c, CURLOPT_SSLCERT, ex.cert_file);
    if (ex.key_file)
        curl_easy_setopt(c, CURLOPT_SSLKEY, ex.key_file);
    return c;
}

/* Whether otlp_stop's budget is spent. */
static bool out_of_time(void)
{
    pthread_mutex_lock(&ex.lock);
    bool over = ex.stopping && mono_us() >= ex.stop_deadline_us;
    pthread_mutex_unlock(&ex.lock);
    return over;
}

/* One POST of st->body; 0 when the collector took it, 1 when worth another
 * try (no answer, 429, 502, 503, 504), -1 otherwise. *retry_after_s gets the
 * collector's Retry-After (0: none). Through the multi interface, polled in
 * short steps, so otlp_stop's budget also cuts a request in flight short. */
static int post_once(struct send_state *st, long timeout_ms, long *retry_after_s, char *why,
                     size_t whylen)
{
    curl_easy_setopt(st->curl, CURLOPT_POSTFIELDS, st->body.data);
    curl_easy_setopt(st->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st->body.len);
    curl_easy_setopt(st->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    *retry_after_s = 0;
    if (curl_multi_add_handle(st->multi, st->curl) != CURLM_OK) {
        snprintf(why, whylen, "cannot start a transfer");
        return 1;
    }
    CURLcode rc = CURLE_OK;
    int running = 1;
    bool aborted = false;
    while (running) {
        if (curl_multi_perform(st->multi, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (!running)
            break;
        if (out_of_time()) {
            aborted = true;
            break;
        }
        curl_multi_poll(st->multi, NULL, 0, 100, NULL);
    }
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(st->multi, &left))) {
        if (msg->msg == CURLMSG_DONE)
            rc = msg->data.result;
    }
    curl_multi_remove_handle(st->multi, st->curl);
    if (aborted) {
        snprintf(why, whylen, "no answer within the shutdown budget");
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
        return 1;
    }
    long status = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return 0;
    snprintf(why, whylen, "HTTP %ld", status);
    curl_off_t after = 0;
    if (curl_easy_getinfo(st->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        *retry_after_s = after > 60 ? 60 : (long)after;
    return status == 429 || status == 502 || status == 503 || status == 504 ? 1 : -1;
}

/* Sends the n spans at the ring's head (taken: producers write after them),
 * with retries; called without the lock. */
static void export_taken(struct send_state *st, size_t n)
{
    buf_reset(&st->body);
    char why[256] = "out of memory";
    int rc = encode_ring(&ex.resource, ex.ring, ex.cap, ex.head, n, &st->body);
    for (int attempt = 0; rc == 0 && attempt < SEND_ATTEMPTS; attempt++) {
        pthread_mutex_lock(&ex.lock);
        bool stopping = ex.stopping;
        int64_t deadline = ex.stop_deadline_us;
        pthread_mutex_unlock(&ex.lock);
        long timeout_ms = ex.timeout_ms;
        if (stopping) {
            int64_t left_ms = (deadline - mono_us()) / 1000;
            if (left_ms <= 0) {
                snprintf(why, sizeof(why), "no time left at shutdown");
                rc = -1;
                break;
            }
            timeout_ms = left_ms < timeout_ms ? (long)left_ms : timeout_ms;
        }
        long retry_after_s;
        rc = post_once(st, timeout_ms, &retry_after_s, why, sizeof(why));
        if (rc <= 0 || attempt + 1 == SEND_ATTEMPTS)
            break;
        /* Exponential backoff (or the collector's Retry-After), cut short
         * by otlp_stop, which then leaves the little time left to a last try. */
        int64_t backoff_us = retry_after_s ? retry_after_s * 1000000LL : 500000LL << attempt;
        pthread_mutex_lock(&ex.lock);
        int64_t until = mono_us() + backoff_us;
        while (!ex.stopping && mono_us() < until)
            wait_until_us(until);
        pthread_mutex_unlock(&ex.lock);
    }
    if (rc == 0) {
        atomic_fetch_add(&ex.exported, (long long)n);
        if (st->failing_since_log_us) {
            log_info("exporting spans again");
            st->failing_since_log_us = 0;
        }
        return;
    }
    atomic_fetch_add(&ex.failed, (long long)n);
    st->failed_unlogged += (long long)n;
    int64_t now = mono_us();
    if (!st->failing_since_log_us || now - st->failing_since_log_us >= LOG_EVERY_US) {
        char url[sizeof(ex.url)], count[24];
        url_for_log(ex.url, url, sizeof(url));
        snprintf(count, sizeof(count), "%lld", st->failed_unlogged);
        log_warn("cannot export spans; they are lost", "url", url, "error", why, "spans", count);
        st->failing_since_log_us = now;
        st->failed_unlogged = 0;
    }
}

/* Says once a minute at most that the queue overflowed. */
static void log_drops(struct send_state *st)
{
    long long dropped = atomic_load(&ex.dropped);
    int64_t now = mono_us();
    if (dropped == st->dropped_logged || now - st->dropped_log_us < LOG_EVERY_US)
        return;
    char n[24];
    snprintf(n, sizeof(n), "%lld", dropped - st->dropped_logged);
    log_warn("span queue full: spans dropped (OTEL_BSP_MAX_QUEUE_SIZE)", "spans", n);
    st->dropped_logged = dropped;
    st->dropped_log_us = now;
}

static void *exporter_main(void *arg)
{
    struct send_state *st = arg;
    pthread_mutex_lock(&ex.lock);
    for (;;) {
        int64_t wake_at = mono_us() + ex.delay_ms * 1000;
        while (!ex.stopping && ex.count < ex.batch_max && mono_us() < wake_at)
            wait_until_us(wake_at);
        if (ex.stopping && (ex.count == 0 || mono_us() >= ex.stop_deadline_us))
            break;
        size_t n = ex.count < ex.batch_max ? ex.count : ex.batch_max;
        if (n == 0)
            continue;
        pthread_mutex_unlock(&ex.lock);
        log_drops(st);
        export_taken(st, n);
        pthread_mutex_lock(&ex.lock);
        ex.head = (ex.head + n) % ex.cap;
        ex.count -= n;
    }
    /* What the budget left unsent. */
    atomic_fetch_add(&ex.dropped, (long long)ex.count);
    ex.count = 0;
    pthread_mutex_unlock(&ex.lock);
    return NULL;
}

static struct send_state sender; /* the exporter thread's, between start and stop */

/* A positive integer from the environment, or def (warned about when set
 * but not one). */
static long env_long(const char *name, long def, long max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 0 || n > max) {
        char d[24];
        snprintf(d, sizeof(d), "%ld", def);
        log_warn("OpenTelemetry setting out of range; using the default", "variable", name,
                 "default", d);
        return def;
    }
    return n;
}

static const char *env_either(const char *specific, const char *general)
{
    const char *v = getenv(specific);
    return v && *v ? v : getenv(general);
}

static char *env_dup(const char *specific, const char *general)
{
    const char *v = env_either(specific, general);
    return v && *v ? strdup(v) : NULL;
}

/* Adds a header line, replacing an earlier one of the same name (the
 * traces-specific variable is read last and wins). */
static void add_header(void *opaque, const char *line)
{
    size_t name_len = (size_t)(strchr(line, ':') - line);
    for (size_t i = 0; i < ex.nheaders; i++) {
        if (strncasecmp(ex.header_lines[i], line, name_len) == 0 &&
            ex.header_lines[i][name_len] == ':') {
            char *copy = strdup(line);
            if (copy) {
                free(ex.header_lines[i]);
                ex.header_lines[i] = copy;
            }
            return;
        }
    }
    if (ex.nheaders < HEADERS_MAX && (ex.header_lines[ex.nheaders] = strdup(line)))
        ex.nheaders++;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && strcasecmp(v, "true") == 0;
}

static void free_config(void)
{
    for (size_t i = 0; i < ex.nheaders; i++)
        free(ex.header_lines[i]);
    ex.nheaders = 0;
    curl_slist_free_all(sender.headers);
    free(ex.ca_file);
    free(ex.cert_file);
    free(ex.key_file);
    ex.ca_file = ex.cert_file = ex.key_file = NULL;
    free(ex.ring);
    ex.ring = NULL;
    buf_free(&sender.body);
    memset(&sender, 0, sizeof(sender));
}

void otlp_start(const char *process_name)
{
    otlp_traces_url(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
                    getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), ex.url, sizeof(ex.url));
    if (!ex.url[0] || env_true("OTEL_SDK_DISABLED"))
        return;
    const char *exporter = getenv("OTEL_TRACES_EXPORTER");
    if (exporter && strcmp(exporter, "none") == 0)
        return;
    if (exporter && *exporter && strcmp(exporter, "otlp") != 0)
        log_warn("OTEL_TRACES_EXPORTER: only otlp is supported; exporting over OTLP", "value",
                 exporter);
    const char *protocol =
        env_either("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
    if (protocol && *protocol && strcmp(protocol, "http/json") != 0)
        log_warn("OTEL_EXPORTER_OTLP_PROTOCOL: only http/json is spoken; sending JSON", "value",
                 protocol);
    char err[512];
    if (otlp_sampler_parse(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"),
                           &ex.sampler, err, sizeof(err)) != 0)
        log_warn("OpenTelemetry sampler setting ignored", "detail", err);
    otlp_resource_build(&ex.resource, getenv("OTEL_SERVICE_NAME"),
                        getenv("OTEL_RESOURCE_ATTRIBUTES"), process_name, (int64_t)getpid());
    ex.cap = (size_t)env_long("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 100000);
    ex.batch_max = (size_t)env_long("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 100000);
    ex.delay_ms = env_long("OTEL_BSP_SCHEDULE_DELAY", 5000, 3600000);
    ex.timeout_ms = env_long("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 0, 3600000);
    if (!ex.timeout_ms)
        ex.timeout_ms = env_long("OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 3600000);
    if (!ex.cap)
        ex.cap = 2048;
    if (!ex.batch_max || ex.batch_max > ex.cap)
        ex.batch_max = ex.cap; /* the specification: never more than the queue */
    if (!ex.timeout_ms)
        ex.timeout_ms = 10000;
    ex.ca_file = env_dup("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
    ex.cert_file = env_dup("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                           "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
    ex.key_file = env_dup("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    int bad = otlp_headers_parse(getenv("OTEL_EXPORTER_OTLP_HEADERS"), add_header, NULL) +
              otlp_headers_parse(getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), add_header, NULL);
    if (bad) /* never the values: they hold API keys */
        log_warn("OTEL_EXPORTER_OTLP_HEADERS: malformed entries ignored (want key=value,...)");

    sender.headers = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; sender.headers && i < ex.nheaders; i++) {
        struct curl_slist *more = curl_slist_append(sender.headers, ex.header_lines[i]);
        if (!more) {
            curl_slist_free_all(sender.headers);
            sender.headers = NULL;
        }
        sender.headers = more;
    }
    ex.ring = calloc(ex.cap, sizeof(*ex.ring));
    if (!ex.ring || !sender.headers || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("cannot start exporting spans: out of memory");
        free_config();
        return;
    }
    sender.curl = curl_setup(&sender);
    sender.multi = curl_multi_init();
    ex.head = ex.count = 0;
    ex.stopping = false;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ex.wake, &attr);
    pthread_condattr_destroy(&attr);
    /* Signals stay with the process's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc =
        sender.curl && sender.multi ? pthread_create(&ex.thread, NULL, exporter_main, &sender) : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("cannot start exporting spans: no exporter thread");
        curl_multi_cleanup(sender.multi);
        if (sender.curl)
            curl_easy_cleanup(sender.curl);
        free_config();
        curl_global_cleanup();
        return;
    }
    atomic_store_explicit(&ex.enabled, true, memory_order_release);
    char url[sizeof(ex.url)], delay[24];
    url_for_log(ex.url, url, sizeof(url));
    snprintf(delay, sizeof(delay), "%ld", ex.delay_ms);
    log_info("exporting spans over OTLP/HTTP", "url", url, "service",
             ex.resource.attrs[0].str_value, "schedule_delay_ms", delay);
}

void otlp_stop(void)
{
    if (!otlp_enabled())
        return;
    pthread_mutex_lock(&ex.lock);
    ex.stopping = true;
    ex.stop_deadline_us = mono_us() + STOP_BUDGET_US;
    pthread_cond_signal(&ex.wake);
    pthread_mutex_unlock(&ex.lock);
    pthread_join(ex.thread, NULL);
    atomic_store_explicit(&ex.enabled, false, memory_order_release);
    curl_multi_cleanup(sender.multi);
    curl_easy_cleanup(sender.curl);
    pthread_mutex_lock(&ex.lock);
    free_config();
    pthread_mutex_unlock(&ex.lock);
    curl_global_cleanup();
    char exported[24], dropped[24], failed[24];
    snprintf(exported, sizeof(exported), "%lld", (long long)atomic_load(&ex.exported));
    snprintf(dropped, sizeof(dropped), "%lld", (long long)atomic_load(&ex.dropped));
    snprintf(failed, sizeof(failed), "%lld", (long long)atomic_load(&ex.failed));
    log_info("stopped exporting spans", "exported", exported, "dropped", dropped, "failed", failed);
}
