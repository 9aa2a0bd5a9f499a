/* Unit tests for lib/otlp.c: the OTLP/HTTP JSON encoding (read back with
 * jansson), what a span keeps of hostile text, the samplers and their
 * settings, OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS, the
 * traces URL, and the exporter itself against a loopback collector: it
 * posts batches with the configured headers, drops rather than waits when
 * the queue is full, and stops within its budget when the collector hangs. */
#include "otlp.h"

#include "buf.h"
#include "check_main.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define PID "a3ce929d0e0e4736"

/* -- encoding */

static json_t *encode(const struct otlp_resource *r, const struct otlp_span *spans, size_t n)
{
    struct buf out = {0};
    ck_assert_int_eq(otlp_encode(r, spans, n, &out), 0);
    json_error_t err;
    json_t *doc = json_loads(out.data, 0, &err);
    ck_assert_msg(doc != NULL, "not JSON (%s): %s", err.text, out.data);
    buf_free(&out);
    return doc;
}

/* The value object of attribute key in an OTLP attribute array, or NULL. */
static json_t *attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

static const char *str_attr(json_t *attrs, const char *key)
{
    return json_string_value(json_object_get(attr(attrs, key), "stringValue"));
}

START_TEST(test_encode_document)
{
    struct otlp_resource r;
    otlp_resource_build(&r, "svc", NULL, "proc", 42);
    struct otlp_span spans[2];
    otlp_span_init(&spans[0], "POST /v1/events", OTLP_KIND_SERVER, TID, SID, PID, 1700000000000001,
                   1700000000000501);
    otlp_span_str(&spans[0], "http.route", "/v1/events");
    otlp_span_int(&spans[0], "http.response.status_code", 503);
    otlp_span_error(&spans[0], "HTTP 503");
    otlp_span_init(&spans[1], "send \"q\"\\\n\x01", OTLP_KIND_PRODUCER, TID, NULL, NULL, 5, 3);
    otlp_span_link(&spans[1], TID, PID);
    json_t *doc = encode(&r, spans, 2);

    json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
    json_t *rattrs = json_object_get(json_object_get(rs, "resource"), "attributes");
    ck_assert_str_eq(str_attr(rattrs, "service.name"), "svc");
    ck_assert_str_eq(json_string_value(json_object_get(attr(rattrs, "process.pid"), "intValue")),
                     "42");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ss, "scope"), "name")),
                     "sluice");
    json_t *list = json_object_get(ss, "spans");
    ck_assert_int_eq(json_array_size(list), 2);

    json_t *a = json_array_get(list, 0);
    ck_assert_str_eq(json_string_value(json_object_get(a, "traceId")), TID);
    ck_assert_str_eq(json_string_value(json_object_get(a, "spanId")), SID);
    ck_assert_str_eq(json_string_value(json_object_get(a, "parentSpanId")), PID);
    ck_assert_str_eq(json_string_value(json_object_get(a, "name")), "POST /v1/events");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "kind")), 2);
    /* OTLP's JSON mapping: 64-bit integers are strings, nanoseconds. */
    ck_assert_str_eq(json_string_value(json_object_get(a, "startTimeUnixNano")),
                     "1700000000000001000");
    ck_assert_str_eq(json_string_value(json_object_get(a, "endTimeUnixNano")),
                     "1700000000000501000");
    json_t *attrs = json_object_get(a, "attributes");
    ck_assert_str_eq(str_attr(attrs, "http.route"), "/v1/events");
    ck_assert_str_eq(
        json_string_value(json_object_get(attr(attrs, "http.response.status_code"), "intValue")),
        "503");
    json_t *status = json_object_get(a, "status");
    ck_assert_int_eq(json_integer_value(json_object_get(status, "code")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(status, "message")), "HTTP 503");
    ck_assert_ptr_null(json_object_get(a, "links"));

    json_t *b = json_array_get(list, 1);
    ck_assert_ptr_null(json_object_get(b, "parentSpanId")); /* a root */
    ck_assert_str_eq(json_string_value(json_object_get(b, "name")), "send \"q\"\\\n\x01");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "kind")), 4);
    const char *sid = json_string_value(json_object_get(b, "spanId"));
    ck_assert_int_eq(strlen(sid), 16);
    ck_assert_str_ne(sid, SID);
    /* An end before the start is clamped to it. */
    ck_assert_str_eq(json_string_value(json_object_get(b, "endTimeUnixNano")), "5000");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(b, "status"), "code")), 0);
    json_t *link = json_array_get(json_object_get(b, "links"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(link, "traceId")), TID);
    ck_assert_str_eq(json_string_value(json_object_get(link, "spanId")), PID);
    json_decref(doc);
}
END_TEST

START_TEST(test_encode_empty_batch)
{
    struct otlp_resource r;
    otlp_resource_build(&r, NULL, NULL, "p", 0);
    json_t *doc = encode(&r, NULL, 0);
    json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(ss, "spans")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_hostile_text_stays_valid)
{
    /* Long UTF-8 is cut at a character boundary; invalid bytes become '?'. */
    char name[400] = "";
    for (int i = 0; i < 150; i++)
        strcat(name, "\xc3\xa9"); /* é */
    struct otlp_span s;
    otlp_span_init(&s, name, OTLP_KIND_INTERNAL, TID, NULL, NULL, 0, 0);
    ck_assert_int_lt(strlen(s.name), OTLP_NAME_MAX);
    ck_assert_int_eq(strlen(s.name) % 2, 0);
    otlp_span_str(&s, "bad",
                  "a\xff"
                  "b\xc3"
                  "c\xed\xa0\x80"
                  "d\xf4\x90\x80\x80"
                  "e\xe0\x80\xaf");
    ck_assert_str_eq(s.attrs[0].str_value, "a?b?c???d????e???");
    otlp_span_str(&s, "null", NULL); /* left out */
    ck_assert_int_eq(s.nattrs, 1);
    otlp_span_error(&s, "\xc3");
    ck_assert_str_eq(s.status_message, "?");
    struct otlp_resource r;
    otlp_resource_build(&r, NULL, NULL, "p", 0);
    json_decref(encode(&r, &s, 1));
}
END_TEST

START_TEST(test_span_limits_and_ids)
{
    struct otlp_span s;
    otlp_span_init(&s, "x", OTLP_KIND_SERVER, "4BF92F3577B34DA6A3CE929D0E0E4736", "nothex",
                   "0000000000000000", 0, 0);
    ck_assert_str_eq(s.trace_id, "");        /* upper case: not a trace id; otlp_submit drops it */
    ck_assert_int_eq(strlen(s.span_id), 16); /* a fresh one */
    ck_assert_str_eq(s.parent_id, "");       /* all zeros: no parent */
    for (int i = 0; i < OTLP_ATTRS_MAX + 3; i++)
        otlp_span_int(&s, "k", i);
    ck_assert_int_eq(s.nattrs, OTLP_ATTRS_MAX);
    otlp_span_link(&s, TID, "short");
    otlp_span_link(&s, "00000000000000000000000000000000", SID);
    ck_assert_int_eq(s.nlinks, 0);
    for (int i = 0; i < OTLP_LINKS_MAX + 2; i++)
        otlp_span_link(&s, TID, SID);
    ck_assert_int_eq(s.nlinks, OTLP_LINKS_MAX);
}
END_TEST

START_TEST(test_new_span_ids)
{
    char a[17], b[17];
    otlp_new_span_id(a);
    otlp_new_span_id(b);
    ck_assert_int_eq(strlen(a), 16);
    ck_assert_int_eq(strspn(a, "0123456789abcdef"), 16);
    ck_assert_str_ne(a, b);
}
END_TEST

/* -- sampler */

START_TEST(test_sampler_parse)
{
    struct otlp_sampler s;
    char err[256];
    ck_assert_int_eq(otlp_sampler_parse(NULL, NULL, &s, err, sizeof(err)), 0);
    ck_assert(s.root == OTLP_SAMPLE_ALWAYS_ON && s.parent_based); /* the specification's default */
    ck_assert_int_eq(otlp_sampler_parse("always_off", "0.5", &s, err, sizeof(err)), 0);
    ck_assert(s.root == OTLP_SAMPLE_ALWAYS_OFF && !s.parent_based);
    ck_assert_int_eq(otlp_sampler_parse("parentbased_traceidratio", "0.25", &s, err, sizeof(err)),
                     0);
    ck_assert(s.root == OTLP_SAMPLE_RATIO && s.parent_based && s.ratio == 0.25);
    ck_assert_int_eq(otlp_sampler_parse("traceidratio", "", &s, err, sizeof(err)), 0);
    ck_assert(s.root == OTLP_SAMPLE_RATIO && !s.parent_based && s.ratio == 1.0);
    ck_assert_int_eq(otlp_sampler_parse("parentbased_always_off", NULL, &s, err, sizeof(err)), 0);
    ck_assert(s.root == OTLP_SAMPLE_ALWAYS_OFF && s.parent_based);
    const char *bad_args[] = {"2", "-0.1", "abc", "0.5x", "nan", "inf"};
    for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
        ck_assert_int_eq(otlp_sampler_parse("traceidratio", bad_args[i], &s, err, sizeof(err)), -1);
        ck_assert(s.root == OTLP_SAMPLE_RATIO && s.ratio == 1.0);
        ck_assert_ptr_nonnull(strstr(err, "OTEL_TRACES_SAMPLER_ARG"));
    }
    ck_assert_int_eq(otlp_sampler_parse("jaeger_remote", NULL, &s, err, sizeof(err)), -1);
    ck_assert(s.root == OTLP_SAMPLE_ALWAYS_ON && s.parent_based);
    ck_assert_ptr_nonnull(strstr(err, "jaeger_remote"));
    ck_assert_int_eq(otlp_sampler_parse("ALWAYS_ON", NULL, &s, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_sampler_decide)
{
    struct otlp_sampler on = {OTLP_SAMPLE_ALWAYS_ON, false, 1},
                        off = {OTLP_SAMPLE_ALWAYS_OFF, false, 1};
    struct otlp_sampler pb_on = {OTLP_SAMPLE_ALWAYS_ON, true, 1};
    struct otlp_sampler pb_off = {OTLP_SAMPLE_ALWAYS_OFF, true, 1};
    /* Without parent-based, the parent's flag does not count. */
    ck_assert(otlp_sampler_decide(&on, TID, true, false));
    ck_assert(!otlp_sampler_decide(&off, TID, true, true));
    /* Parent-based: a parent's flag decides; a root goes to the root sampler. */
    ck_assert(!otlp_sampler_decide(&pb_on, TID, true, false));
    ck_assert(otlp_sampler_decide(&pb_off, TID, true, true));
    ck_assert(otlp_sampler_decide(&pb_on, TID, false, false));
    ck_assert(!otlp_sampler_decide(&pb_off, TID, false, true));
}
END_TEST

START_TEST(test_sampler_ratio)
{
    struct otlp_sampler r = {OTLP_SAMPLE_RATIO, false, 0.001};
    /* The last 14 hex digits decide: small ones are kept at any ratio above 0. */
    ck_assert(otlp_sampler_decide(&r, "ffffffffffffffffff00000000000001", false, false));
    ck_assert(!otlp_sampler_decide(&r, "000000000000000000ffffffffffffff", false, false));
    r.ratio = 0.999;
    ck_assert(!otlp_sampler_decide(&r, "000000000000000000ffffffffffffff", false, false));
    r.ratio = 0;
    ck_assert(!otlp_sampler_decide(&r, "ffffffffffffffffff00000000000001", false, false));
    r.ratio = 1;
    ck_assert(otlp_sampler_decide(&r, "000000000000000000ffffffffffffff", false, false));
    ck_assert(otlp_sampler_decide(&r, "not a trace id", false, false));
    /* About the ratio of many ids, and the same answer every time. */
    r.ratio = 0.25;
    unsigned long long x = 88172645463325252ull;
    int kept = 0;
    for (int i = 0; i < 4000; i++) {
        char id[33];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(id, sizeof(id), "%016llx%016llx", x * 3, x);
        bool d = otlp_sampler_decide(&r, id, false, false);
        ck_assert(d == otlp_sampler_decide(&r, id, false, false));
        kept += d;
    }
    ck_assert_msg(kept > 850 && kept < 1150, "kept %d of 4000 at 0.25", kept);
    /* Parent-based ratio: a parent's flag wins over the id. */
    r.parent_based = true;
    r.ratio = 0;
    ck_assert(otlp_sampler_decide(&r, TID, true, true));
}
END_TEST

/* -- resource, headers, URL */

START_TEST(test_resource)
{
    struct otlp_resource r;
    otlp_resource_build(&r, NULL, NULL, "sluice-persist", 7);
    ck_assert_str_eq(r.attrs[0].key, "service.name");
    ck_assert_str_eq(r.attrs[0].str_value, "sluice-persist");
    ck_assert_str_eq(r.attrs[1].key, "process.pid");
    ck_assert_int_eq(r.attrs[1].int_value, 7);
    ck_assert_int_eq(r.nattrs, 2);

    otlp_resource_build(&r, NULL,
                        " deployment.environment = prod%2Ceu ,service.name=from-attrs,"
                        "broken,=novalue,bad=%zz, team=core%20one,",
                        "p", 0);
    ck_assert_str_eq(r.attrs[0].str_value, "from-attrs");
    ck_assert_int_eq(r.nattrs, 3);
    ck_assert_str_eq(r.attrs[1].key, "deployment.environment");
    ck_assert_str_eq(r.attrs[1].str_value, "prod,eu");
    ck_assert_str_eq(r.attrs[2].key, "team");
    ck_assert_str_eq(r.attrs[2].str_value, "core one");

    /* OTEL_SERVICE_NAME wins over everything. */
    otlp_resource_build(&r, "named", "service.name=other", "p", 0);
    ck_assert_str_eq(r.attrs[0].str_value, "named");
    ck_assert_int_eq(r.nattrs, 1);

    /* Many pairs: service.name keeps its place, the rest fill the room. */
    char many[2000] = "";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "k%d=v,", i);
    otlp_resource_build(&r, NULL, many, "p", 1);
    ck_assert_int_eq(r.nattrs, OTLP_RESOURCE_ATTRS_MAX);
    ck_assert_str_eq(r.attrs[0].str_value, "p");
}
END_TEST

struct lines {
    char got[8][256];
    int n;
};

static void add_line(void *opaque, const char *line)
{
    struct lines *l = opaque;
    ck_assert_int_lt(l->n, 8);
    snprintf(l->got[l->n++], sizeof(l->got[0]), "%s", line);
}

START_TEST(test_headers)
{
    struct lines l = {0};
    int bad = otlp_headers_parse(" api-key = s3cret ,Authorization=Bearer%20abc%3D,bad key=x,"
                                 "novalue,x=%zz,crlf=a%0D%0Ab,empty=,",
                                 add_line, &l);
    ck_assert_int_eq(bad, 4);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.got[0], "api-key: s3cret");
    ck_assert_str_eq(l.got[1], "Authorization: Bearer abc=");
    ck_assert_str_eq(l.got[2], "empty: ");
    l.n = 0;
    ck_assert_int_eq(otlp_headers_parse(NULL, add_line, &l), 0);
    ck_assert_int_eq(otlp_headers_parse("", add_line, &l), 0);
    ck_assert_int_eq(l.n, 0);
}
END_TEST

START_TEST(test_traces_url)
{
    char url[64];
    otlp_traces_url("http://c:4318/custom", "http://ignored", url, sizeof(url));
    ck_assert_str_eq(url, "http://c:4318/custom");
    otlp_traces_url("", "http://c:4318", url, sizeof(url));
    ck_assert_str_eq(url, "http://c:4318/v1/traces");
    otlp_traces_url(NULL, "http://c:4318/base//", url, sizeof(url));
    ck_assert_str_eq(url, "http://c:4318/base/v1/traces");
    otlp_traces_url(NULL, NULL, url, sizeof(url));
    ck_assert_str_eq(url, "");
    otlp_traces_url(NULL, "http://a-very-long-host-name.example.com:4318/some/long/path", url,
                    sizeof(url));
    ck_assert_str_eq(url, ""); /* does not fit: none rather than a wrong one */
}
END_TEST

/* -- the exporter, against a collector on a loopback port */

START_TEST(test_disabled_does_nothing)
{
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    otlp_start("p");
    ck_assert(!otlp_enabled());
    struct trace_context ctx = {TID, SID, PID, 1};
    ck_assert(!otlp_sampled(&ctx));
    struct otlp_span s;
    otlp_span_init(&s, "x", OTLP_KIND_SERVER, TID, NULL, NULL, 0, 0);
    otlp_submit(&s);
    struct buf out = {0};
    otlp_metrics_render(&out);
    ck_assert_int_eq(out.len, 0);
    otlp_stop();
    buf_free(&out);
}
END_TEST

struct collector {
    int fd;
    bool answer; /* false: accept and read, never answer (a hung collector) */
    pthread_mutex_t lock;
    pthread_cond_t posted;
    struct buf requests; /* each request's head and body, one after another */
    int posts;
};

static void *collector_main(void *arg)
{
    struct collector *c = arg;
    for (;;) {
        int conn = accept(c->fd, NULL, NULL);
        if (conn < 0)
            return NULL;
        struct buf in = {0};
        char chunk[4096];
        for (;;) {
            /* One request at a time per connection: head, then Content-Length bytes. */
            char *end = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
            if (end) {
                const char *cl = strcasestr(in.data, "content-length:");
                size_t want = (size_t)(end + 4 - in.data) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
                if (in.len >= want) {
                    pthread_mutex_lock(&c->lock);
                    buf_append(&c->requests, in.data, want);
                    buf_puts(&c->requests, "\n====\n");
                    c->posts++;
                    pthread_cond_broadcast(&c->posted);
                    pthread_mutex_unlock(&c->lock);
                    if (c->answer) {
                        const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                         "Content-Length: 2\r\n\r\n{}";
                        /* A short write fails the test where it is read. */
                        if (write(conn, ok, strlen(ok)) != (ssize_t)strlen(ok))
                            break;
                    }
                    size_t rest = in.len - want;
                    memmove(in.data, in.data + want, rest);
                    in.len = rest;
                    in.data[rest] = '\0';
                    continue;
                }
            }
            ssize_t n = read(conn, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            buf_append(&in, chunk, (size_t)n);
        }
        buf_free(&in);
        close(conn);
    }
}

/* A collector on a free loopback port; sets OTEL_EXPORTER_OTLP_ENDPOINT to it. */
static void collector_start(struct collector *c, pthread_t *t, bool answer)
{
    memset(c, 0, sizeof(*c));
    c->answer = answer;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->posted, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(c->fd, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(c->fd, (struct sockaddr *)&a, &len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url, 1);
    pthread_create(t, NULL, collector_main, c);
}

static int posts(struct collector *c)
{
    pthread_mutex_lock(&c->lock);
    int n = c->posts;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Waits (at most 10 s) until the collector has had n requests. */
static void wait_posts(struct collector *c, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&c->lock);
    while (c->posts < n && pthread_cond_timedwait(&c->posted, &c->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&c->lock);
}

static void submit_spans(int n)
{
    for (int i = 0; i < n; i++) {
        struct otlp_span s;
        otlp_span_init(&s, "op", OTLP_KIND_SERVER, TID, NULL, SID, time_now_us(), time_now_us());
        otlp_span_int(&s, "i", i);
        otlp_submit(&s);
    }
}

START_TEST(test_exports_batches_with_headers)
{
    struct collector c;
    pthread_t t;
    collector_start(&c, &t, true);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%20one,x-other=2", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Other=3", 1);
    setenv("OTEL_SERVICE_NAME", "unit", 1);
    /* Only full batches go before otlp_stop, which sends the rest. */
    setenv("OTEL_BSP_SCHEDULE_DELAY", "600000", 1);
    setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "3", 1);
    otlp_start("p");
    ck_assert(otlp_enabled());
    struct trace_context ctx = {TID, SID, PID, 0};
    ck_assert(!otlp_sampled(&ctx)); /* parentbased_always_on: the parent said no */
    submit_spans(7);
    wait_posts(&c, 2);
    ck_assert_int_eq(posts(&c), 2);
    otlp_stop();
    ck_assert_int_eq(posts(&c), 3); /* 3 + 3, then the last one at otlp_stop */
    const char *r = c.requests.data;
    ck_assert_ptr_nonnull(strstr(r, "POST /v1/traces HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strcasestr(r, "\r\nContent-Type: application/json\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "\r\nx-api-key: k one\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "\r\nX-Other: 3\r\n"));
    ck_assert_ptr_null(strstr(r, "x-other: 2"));
    ck_assert_ptr_nonnull(strstr(r, "{\"stringValue\":\"unit\"}"));
    ck_assert_ptr_nonnull(strstr(r, "{\"key\":\"i\",\"value\":{\"intValue\":\"6\"}}"));
    ck_assert(!otlp_enabled());
    shutdown(c.fd, SHUT_RDWR);
    close(c.fd);
    pthread_join(t, NULL);
    buf_free(&c.requests);
}
END_TEST

START_TEST(test_full_queue_drops_and_stop_is_bounded)
{
    struct collector c;
    pthread_t t;
    collector_start(&c, &t, false);
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4", 1);
    setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "10", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "60000", 1);
    otlp_start("p");
    ck_assert(otlp_enabled());
    /* The collector holds the first batch forever: the queue fills, and
     * the rest is dropped at once rather than waited for. */
    submit_spans(2);
    wait_posts(&c, 1);
    ck_assert_int_eq(posts(&c), 1);
    int64_t t0 = time_now_us();
    submit_spans(1000);
    ck_assert_int_lt(time_now_us() - t0, 1000000);
    struct buf out = {0};
    otlp_metrics_render(&out);
    ck_assert_ptr_nonnull(strstr(out.data, "# TYPE sluice_otlp_spans_total counter\n"));
    /* Room for 2 beside the 2 in flight. */
    ck_assert_ptr_nonnull(strstr(out.data, "sluice_otlp_spans_total{outcome=\"dropped\"} 998\n"));
    /* The hung request and the queue's rest: given up within the budget. */
    t0 = time_now_us();
    otlp_stop();
    int64_t took = time_now_us() - t0;
    ck_assert_msg(took < 3000000, "otlp_stop took %lld us", (long long)took);
    ck_assert_msg(took > 1500000, "otlp_stop gave up after %lld us", (long long)took);
    shutdown(c.fd, SHUT_RDWR);
    close(c.fd);
    pthread_join(t, NULL);
    buf_free(&out);
    buf_free(&c.requests);
}
END_TEST

static Suite *otlp_suite(void)
{
    Suite *s = suite_create("otlp");
    TCase *enc = tcase_create("encoding");
    tcase_add_test(enc, test_encode_document);
    tcase_add_test(enc, test_encode_empty_batch);
    tcase_add_test(enc, test_hostile_text_stays_valid);
    tcase_add_test(enc, test_span_limits_and_ids);
    tcase_add_test(enc, test_new_span_ids);
    suite_add_tcase(s, enc);
    TCase *smp = tcase_create("sampler");
    tcase_add_test(smp, test_sampler_parse);
    tcase_add_test(smp, test_sampler_decide);
    tcase_add_test(smp, test_sampler_ratio);
    suite_add_tcase(s, smp);
    TCase *cfg = tcase_create("settings");
    tcase_add_test(cfg, test_resource);
    tcase_add_test(cfg, test_headers);
    tcase_add_test(cfg, test_traces_url);
    suite_add_tcase(s, cfg);
    /* Each test forks (Check's default): the exporter's state and the
     * environment are the test's own. */
    TCase *exp = tcase_create("exporter");
    tcase_set_timeout(exp, 30);
    tcase_add_test(exp, test_disabled_does_nothing);
    tcase_add_test(exp, test_exports_batches_with_headers);
    tcase_add_test(exp, test_full_queue_drops_and_stop_is_bounded);
    suite_add_tcase(s, exp);
    return s;
}

int main(void)
{
    return check_run(otlp_suite());
}
