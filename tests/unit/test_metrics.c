/* Unit tests for lib/metrics.c: Prometheus text exposition of counter and
 * gauge tables (HELP/TYPE once per family, labels), of the latency
 * histogram (cumulative buckets, +Inf equal to _count, _sum in seconds), of
 * histograms with other buckets and labels, label escaping and the
 * process_* metrics. */
#include "metrics.h"

#include "check_main.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(test_counter_without_labels)
{
    struct metric table[] = {
        {"sluice_events_total", "Events accepted.", "counter", NULL, 0},
    };
    metric_add(&table[0], 3);
    metric_add(&table[0], 4);
    struct buf out = {0};
    metrics_render(&out, table, 1);
    ck_assert_str_eq(out.data, "# HELP sluice_events_total Events accepted.\n"
                               "# TYPE sluice_events_total counter\n"
                               "sluice_events_total 7\n");
    buf_free(&out);
}
END_TEST

START_TEST(test_family_with_labels)
{
    struct metric table[] = {
        {"sluice_http_requests_total", "HTTP requests by status.", "counter", "status=\"202\"", 0},
        {"sluice_http_requests_total", "HTTP requests by status.", "counter", "status=\"400\"", 0},
        {"sluice_http_requests_total", "HTTP requests by status.", "counter",
         "status=\"503\",reason=\"queue_full\"", 0},
        {"sluice_kafka_queue", "Messages waiting for delivery.", "gauge", NULL, 0},
        {"sluice_up", "Always 1.", "gauge", NULL, 0},
    };
    metric_add(&table[0], 10);
    metric_add(&table[1], 2);
    metric_set(&table[3], 5);
    metric_set(&table[3], -2); /* gauges go down, and below zero */
    metric_set(&table[4], 1);
    struct buf out = {0};
    metrics_render(&out, table, sizeof(table) / sizeof(table[0]));
    ck_assert_str_eq(out.data,
                     "# HELP sluice_http_requests_total HTTP requests by status.\n"
                     "# TYPE sluice_http_requests_total counter\n"
                     "sluice_http_requests_total{status=\"202\"} 10\n"
                     "sluice_http_requests_total{status=\"400\"} 2\n"
                     "sluice_http_requests_total{status=\"503\",reason=\"queue_full\"} 0\n"
                     "# HELP sluice_kafka_queue Messages waiting for delivery.\n"
                     "# TYPE sluice_kafka_queue gauge\n"
                     "sluice_kafka_queue -2\n"
                     "# HELP sluice_up Always 1.\n"
                     "# TYPE sluice_up gauge\n"
                     "sluice_up 1\n");
    buf_free(&out);
}
END_TEST

START_TEST(test_help_and_type_once_per_family)
{
    struct metric table[] = {
        {"a_total", "A.", "counter", "k=\"1\"", 0}, {"a_total", "A.", "counter", "k=\"2\"", 0},
        {"a_total", "A.", "counter", "k=\"3\"", 0}, {"b", "B.", "gauge", NULL, 0},
        {"c_total", "C.", "counter", "x=\"y\"", 0},
    };
    struct buf out = {0};
    metrics_render(&out, table, sizeof(table) / sizeof(table[0]));
    static const char *const families[] = {"a_total", "b", "c_total"};
    for (size_t f = 0; f < 3; f++) {
        char help[64], type[64];
        snprintf(help, sizeof(help), "# HELP %s ", families[f]);
        snprintf(type, sizeof(type), "# TYPE %s ", families[f]);
        int nhelp = 0, ntype = 0;
        for (const char *p = out.data; (p = strstr(p, help)); p++)
            nhelp++;
        for (const char *p = out.data; (p = strstr(p, type)); p++)
            ntype++;
        ck_assert_msg(nhelp == 1 && ntype == 1, "family %s: %d HELP and %d TYPE lines in:\n%s",
                      families[f], nhelp, ntype, out.data);
    }
    /* Every line ends with a newline; sample lines are "name[{labels}] value". */
    ck_assert_msg(out.len > 0 && out.data[out.len - 1] == '\n', "output does not end a line");
    int samples = 0;
    for (char *line = out.data; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        if (line[0] != '#')
            samples++;
        line = nl + 1;
    }
    ck_assert_int_eq(samples, 5);
    buf_free(&out);
}
END_TEST

START_TEST(test_render_appends_and_handles_extremes)
{
    struct metric table[] = {
        {"big", "Big.", "gauge", NULL, 0},
        {"small", "Small.", "gauge", NULL, 0},
    };
    metric_set(&table[0], INT64_MAX);
    metric_set(&table[1], INT64_MIN);
    struct buf out = {0};
    buf_puts(&out, "# preexisting\n");
    metrics_render(&out, table, 2);
    ck_assert_msg(strncmp(out.data, "# preexisting\n# HELP big Big.\n", 30) == 0,
                  "render must append to the buffer:\n%s", out.data);
    ck_assert_msg(strstr(out.data, "\nbig 9223372036854775807\n") != NULL, "%s", out.data);
    ck_assert_msg(strstr(out.data, "\nsmall -9223372036854775808\n") != NULL, "%s", out.data);
    buf_free(&out);

    /* An empty table renders nothing. */
    struct buf empty = {0};
    metrics_render(&empty, table, 0);
    ck_assert_uint_eq(empty.len, 0);
    buf_free(&empty);
}
END_TEST

struct adder {
    struct metric *m;
    int n;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    for (int i = 0; i < a->n; i++)
        metric_add(a->m, 1);
    return NULL;
}

START_TEST(test_concurrent_adds)
{
    struct metric m = {"n_total", "N.", "counter", NULL, 0};
    pthread_t threads[4];
    struct adder a = {&m, 100000};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, add_many, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(atomic_load(&m.value), 400000);
}
END_TEST

/* Removes the "<name>_sum <value>\n" line from text (in place) and returns
 * its value, so the rest can be compared exactly whatever number format the
 * sum uses. */
static double take_sum_line(char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s_sum ", name);
    char *line = strstr(text, key);
    ck_assert_msg(line != NULL, "no %s_sum line in:\n%s", name, text);
    char *end;
    double v = strtod(line + strlen(key), &end);
    ck_assert_msg(*end == '\n', "%s_sum value is not a number followed by a newline:\n%s", name,
                  text);
    memmove(line + 1, end + 1, strlen(end + 1) + 1);
    return v;
}

START_TEST(test_histogram_exact)
{
    struct metric_histogram h = {.name = "sluice_request_seconds", .help = "Request latency."};
    /* Bounds (us): 250 500 1000 2000 5000 10000 25000 50000 100000 250000
     * 1000000 5000000; a value on a bound belongs to that bucket (le). */
    static const int64_t obs[] = {100, 250, 400, 1000, 1000000, 6000000};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metric_observe_us(&h, obs[i]);
    struct buf out = {0};
    metrics_render_histogram(&out, &h);
    double sum = take_sum_line(out.data, "sluice_request_seconds");
    ck_assert_msg(fabs(sum - 7.00175) < 1e-9, "_sum is %.9f s, expected 7.00175", sum);
    ck_assert_str_eq(out.data, "# HELP sluice_request_seconds Request latency.\n"
                               "# TYPE sluice_request_seconds histogram\n"
                               "sluice_request_seconds_bucket{le=\"0.00025\"} 2\n"
                               "sluice_request_seconds_bucket{le=\"0.0005\"} 3\n"
                               "sluice_request_seconds_bucket{le=\"0.001\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.002\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.005\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.01\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.025\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.05\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.1\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"0.25\"} 4\n"
                               "sluice_request_seconds_bucket{le=\"1\"} 5\n"
                               "sluice_request_seconds_bucket{le=\"5\"} 5\n"
                               "sluice_request_seconds_bucket{le=\"+Inf\"} 6\n"
                               "sluice_request_seconds_count 6\n");
    buf_free(&out);
}
END_TEST

START_TEST(test_histogram_empty)
{
    struct metric_histogram h = {.name = "h", .help = "H."};
    struct buf out = {0};
    metrics_render_histogram(&out, &h);
    ck_assert_msg(take_sum_line(out.data, "h") == 0.0, "empty histogram has a non-zero sum");
    ck_assert_msg(strstr(out.data, "h_bucket{le=\"+Inf\"} 0\n") != NULL, "%s", out.data);
    ck_assert_msg(strstr(out.data, "\nh_count 0\n") != NULL, "%s", out.data);
    buf_free(&out);
}
END_TEST

/* Parses "<name>_bucket{le=...} N" lines in order; returns how many. */
static size_t bucket_counts(const char *text, const char *name, long long *counts, size_t max)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        const char *sp = strchr(p, ' ');
        ck_assert_ptr_nonnull(sp);
        ck_assert_uint_lt(n, max);
        counts[n++] = strtoll(sp + 1, NULL, 10);
    }
    return n;
}

START_TEST(test_histogram_cumulative_and_inf_is_count)
{
    struct metric_histogram h = {.name = "lat", .help = "Latency."};
    /* Deterministic spread over all buckets, including negatives and zero. */
    uint64_t state = 12345;
    long long n = 0;
    for (int i = 0; i < 5000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t us = (int64_t)(state >> 40) % 8000000 - 1000;
        metric_observe_us(&h, us);
        n++;
    }
    metric_observe_us(&h, 0);
    n++;
    struct buf out = {0};
    metrics_render_histogram(&out, &h);
    long long counts[METRICS_HIST_BUCKETS + 2];
    size_t k = bucket_counts(out.data, "lat", counts, METRICS_HIST_BUCKETS + 2);
    ck_assert_uint_eq(k, METRICS_HIST_BUCKETS + 1);
    for (size_t i = 1; i < k; i++)
        ck_assert_msg(counts[i] >= counts[i - 1], "bucket %zu (%lld) below bucket %zu (%lld):\n%s",
                      i, counts[i], i - 1, counts[i - 1], out.data);
    ck_assert_int_eq(counts[k - 1], n);
    char want[64];
    snprintf(want, sizeof(want), "\nlat_count %lld\n", n);
    ck_assert_msg(strstr(out.data, want) != NULL, "+Inf must equal _count:\n%s", out.data);
    buf_free(&out);
}
END_TEST

START_TEST(test_histogram_sum_keeps_microseconds)
{
    /* _sum is a running total in seconds; printing it with 6 significant
     * digits loses the microseconds (and, once the total is large, whole
     * seconds), which skews rate(_sum)/rate(_count). */
    static const int64_t totals[] = {1234567, INT64_C(123456789012)};
    for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
        struct metric_histogram h = {.name = "s", .help = "S."};
        metric_observe_us(&h, totals[t]);
        struct buf out = {0};
        metrics_render_histogram(&out, &h);
        const char *line = strstr(out.data, "\ns_sum ");
        ck_assert_ptr_nonnull(line);
        double secs = strtod(line + 7, NULL);
        double err_us = fabs(secs * 1e6 - (double)totals[t]);
        const char *nl = strchr(line + 1, '\n');
        ck_assert_msg(err_us < 1.0,
                      "_sum for a total of %" PRId64 " us is rendered as \"%.*s\" (off by %.0f us)",
                      totals[t], nl ? (int)(nl - line - 1) : 0, line + 1, err_us);
        buf_free(&out);
    }
}
END_TEST

START_TEST(test_histogram_custom_buckets_and_labels)
{
    /* Counts: integer bounds and an integer sum, in one family of two series. */
    struct metric_histogram a = {
        .name = "b_messages", .help = "B.", .buckets = &metrics_buckets_count};
    struct metric_histogram b = a;
    static const int64_t obs[] = {1, 3, 5000, 20000};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metric_observe(&a, obs[i]);
    struct buf out = {0};
    metrics_family(&out, "b_messages", "B.", "histogram");
    metrics_render_histogram_samples(&out, "b_messages", "topic=\"t\"", &a);
    metrics_render_histogram_samples(&out, "b_messages", "topic=\"u\"", &b);
    ck_assert_msg(strstr(out.data, "b_messages_bucket{topic=\"t\",le=\"1\"} 1\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "b_messages_bucket{topic=\"t\",le=\"5\"} 2\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "b_messages_bucket{topic=\"t\",le=\"5000\"} 3\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "b_messages_bucket{topic=\"t\",le=\"10000\"} 3\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "b_messages_bucket{topic=\"t\",le=\"+Inf\"} 4\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "\nb_messages_sum{topic=\"t\"} 25004\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(strstr(out.data, "\nb_messages_count{topic=\"t\"} 4\n") != NULL, "%s", out.data);
    ck_assert_msg(strstr(out.data, "\nb_messages_count{topic=\"u\"} 0\n") != NULL, "%s", out.data);
    const char *help = strstr(out.data, "# HELP");
    ck_assert_msg(help == out.data && !strstr(help + 1, "# HELP"), "one HELP line:\n%s", out.data);
    buf_free(&out);

    /* Long latencies: seconds with every microsecond, a negative sum too. */
    struct metric_histogram l = {
        .name = "l_seconds", .help = "L.", .buckets = &metrics_buckets_latency_long};
    metric_observe_us(&l, 30000000);
    metric_observe_us(&l, -30000001);
    struct buf t = {0};
    metrics_render_histogram(&t, &l);
    ck_assert_msg(strstr(t.data, "l_seconds_bucket{le=\"0.001\"} 1\n") != NULL, "%s", t.data);
    ck_assert_msg(strstr(t.data, "l_seconds_bucket{le=\"30\"} 2\n") != NULL, "%s", t.data);
    ck_assert_msg(strstr(t.data, "l_seconds_bucket{le=\"60\"} 2\n") != NULL, "%s", t.data);
    ck_assert_msg(strstr(t.data, "\nl_seconds_sum -0.000001\n") != NULL, "%s", t.data);
    buf_free(&t);
}
END_TEST

START_TEST(test_label_escaping)
{
    struct buf out = {0};
    metrics_label(&out, "a\"b\\c\nd");
    ck_assert_str_eq(out.data, "\"a\\\"b\\\\c\\nd\"");
    buf_reset(&out);
    metrics_label(&out, NULL);
    ck_assert_str_eq(out.data, "\"\"");
    buf_free(&out);
}
END_TEST

/* The value of the sample called name, or -1 when there is none. */
static double sample(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

START_TEST(test_process_metrics)
{
    struct buf out = {0};
    metrics_render_process(&out);
    ck_assert_msg(strstr(out.data, "# TYPE process_cpu_seconds_total counter\n") != NULL, "%s",
                  out.data);
    ck_assert_msg(sample(out.data, "process_resident_memory_bytes") > 1e5, "%s", out.data);
    ck_assert_msg(sample(out.data, "process_virtual_memory_bytes") >=
                      sample(out.data, "process_resident_memory_bytes"),
                  "%s", out.data);
    /* Started within the last day, not before the machine booted. */
    double start = sample(out.data, "process_start_time_seconds");
    double now = (double)time(NULL);
    ck_assert_msg(start > now - 86400 && start <= now + 1, "start %f, now %f", start, now);
    double fds = sample(out.data, "process_open_fds");
    ck_assert_msg(fds >= 3 && fds <= sample(out.data, "process_max_fds"), "%s", out.data);
    buf_free(&out);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tab = tcase_create("table");
    tcase_add_test(tab, test_counter_without_labels);
    tcase_add_test(tab, test_family_with_labels);
    tcase_add_test(tab, test_help_and_type_once_per_family);
    tcase_add_test(tab, test_render_appends_and_handles_extremes);
    tcase_add_test(tab, test_concurrent_adds);
    suite_add_tcase(s, tab);

    TCase *hist = tcase_create("histogram");
    tcase_add_test(hist, test_histogram_exact);
    tcase_add_test(hist, test_histogram_empty);
    tcase_add_test(hist, test_histogram_cumulative_and_inf_is_count);
    tcase_add_test(hist, test_histogram_sum_keeps_microseconds);
    tcase_add_test(hist, test_histogram_custom_buckets_and_labels);
    suite_add_tcase(s, hist);

    TCase *more = tcase_create("helpers");
    tcase_add_test(more, test_label_escaping);
    tcase_add_test(more, test_process_metrics);
    suite_add_tcase(s, more);
    return s;
}

int main(void)
{
    return check_run(metrics_suite());
}
