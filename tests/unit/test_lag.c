/* Unit tests for lib/lag.c: lag per partition from the watermarks, a
 * position past the log's end, partitions whose end is unknown, and when a
 * partition counts as stuck (messages waiting, offset not moving, for the
 * stuck time since a render first saw it behind). */
#include "lag.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fake broker: partition p's log ends at highs[p] (-1: not known yet). */
struct fake {
    int64_t lows[4], highs[4];
};

static int fake_watermarks(void *opaque, const char *topic, int32_t partition, int64_t *low,
                           int64_t *high)
{
    struct fake *f = opaque;
    (void)topic;
    *low = f->lows[partition];
    *high = f->highs[partition];
    return *high < 0 ? -1 : 0;
}

static const char *const TOPIC = "sluice.events";
#define S 1000000LL

/* The value of the sample line starting with key, or -1 when there is none. */
static long long value_of(const char *text, const char *key)
{
    char k[256];
    snprintf(k, sizeof(k), "\n%s ", key);
    const char *p = strstr(text, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

static char *render(struct lag_table *t, struct fake *f, int64_t now)
{
    struct buf out = {0};
    buf_puts(&out, "\n");
    lag_table_render(t, fake_watermarks, f, "w", 10 * S, now, &out);
    return buf_steal(&out);
}

START_TEST(test_lag_and_unknown)
{
    struct lag_table *t = lag_table_new();
    struct fake f = {{0, 0, 0, 5}, {10, 3, -1, 9}};
    lag_table_set(t, TOPIC, 0, 4, 0);
    lag_table_set(t, TOPIC, 1, 7, 0);  /* past the end: another log, all of it to read */
    lag_table_set(t, TOPIC, 2, 0, 0);  /* end not known */
    lag_table_set(t, TOPIC, 3, -1, 0); /* start not known: the log's beginning (5) */
    char *text = render(t, &f, 0);
    ck_assert_int_eq(value_of(text, "w_lag{topic=\"sluice.events\",partition=\"0\"}"), 6);
    ck_assert_int_eq(value_of(text, "w_lag{topic=\"sluice.events\",partition=\"1\"}"), 3);
    ck_assert_int_eq(value_of(text, "w_lag{topic=\"sluice.events\",partition=\"2\"}"), -1);
    ck_assert_int_eq(value_of(text, "w_lag{topic=\"sluice.events\",partition=\"3\"}"), 4);
    ck_assert_int_eq(value_of(text, "w_lag_unknown_partitions"), 1);
    ck_assert_int_eq(value_of(text, "w_stuck_partitions"), 0);
    ck_assert_msg(strstr(text, "# TYPE w_lag gauge\n") && strstr(text, "# TYPE w_stuck_partitions "
                                                                       "gauge\n"),
                  "%s", text);
    free(text);
    /* A revocation forgets them all. */
    lag_table_clear(t);
    text = render(t, &f, 0);
    ck_assert_ptr_null(strstr(text, "w_lag{"));
    ck_assert_int_eq(value_of(text, "w_lag_unknown_partitions"), 0);
    free(text);
    lag_table_free(t);
}
END_TEST

START_TEST(test_stuck)
{
    struct lag_table *t = lag_table_new();
    struct fake f = {{0}, {5, 5, 0, 0}};
    const char *p0 = "w_partition_stuck{topic=\"sluice.events\",partition=\"0\"}";
    const char *p1 = "w_partition_stuck{topic=\"sluice.events\",partition=\"1\"}";
    lag_table_set(t, TOPIC, 0, 5, 0); /* caught up */
    lag_table_set(t, TOPIC, 1, 2, 0); /* behind */
    /* Idle for an hour, then messages come: not stuck at once. */
    f.highs[0] = 8;
    char *text = render(t, &f, 3600 * S);
    ck_assert_int_eq(value_of(text, p0), 0);
    free(text);
    /* p1 was first seen behind at 3600 s too (no render before). */
    text = render(t, &f, 3609 * S);
    ck_assert_int_eq(value_of(text, p0), 0);
    ck_assert_int_eq(value_of(text, p1), 0);
    ck_assert_int_eq(value_of(text, "w_stuck_partitions"), 0);
    free(text);
    text = render(t, &f, 3610 * S);
    ck_assert_int_eq(value_of(text, p0), 1);
    ck_assert_int_eq(value_of(text, p1), 1);
    ck_assert_int_eq(value_of(text, "w_stuck_partitions"), 2);
    free(text);
    /* p0 moves (still behind): no longer stuck, until it stops again. */
    lag_table_set(t, TOPIC, 0, 6, 3611 * S);
    text = render(t, &f, 3612 * S);
    ck_assert_int_eq(value_of(text, p0), 0);
    ck_assert_int_eq(value_of(text, "w_stuck_partitions"), 1);
    free(text);
    text = render(t, &f, 3621 * S);
    ck_assert_int_eq(value_of(text, p0), 1);
    free(text);
    /* Setting the same offset again is no move. */
    lag_table_set(t, TOPIC, 1, 2, 3621 * S);
    /* p1 catches up: not behind, not stuck; behind again later counts anew. */
    lag_table_set(t, TOPIC, 1, 5, 3622 * S);
    text = render(t, &f, 3622 * S);
    ck_assert_int_eq(value_of(text, p1), 0);
    free(text);
    f.highs[1] = 6;
    text = render(t, &f, 4000 * S);
    ck_assert_int_eq(value_of(text, p1), 0);
    free(text);
    text = render(t, &f, 4010 * S);
    ck_assert_int_eq(value_of(text, p1), 1);
    free(text);
    lag_table_free(t);
}
END_TEST

START_TEST(test_topic_label_escaped_and_many_partitions)
{
    struct lag_table *t = lag_table_new();
    static const char odd[] = "we\"ird\\topic";
    struct fake f = {{0}, {1, 1, 1, 1}};
    /* More entries than the first allocation holds; partitions 0..3 only
     * have watermarks, so the fake is asked for those alone. */
    for (int32_t p = 0; p < 4; p++)
        lag_table_set(t, odd, p, 0, 0);
    for (int i = 0; i < 300; i++)
        lag_table_set(t, odd, i % 4, 0, 0);
    char *text = render(t, &f, 0);
    ck_assert_int_eq(value_of(text, "w_lag{topic=\"we\\\"ird\\\\topic\",partition=\"3\"}"), 1);
    free(text);
    lag_table_free(t);
    lag_table_free(NULL);
}
END_TEST

static Suite *lag_suite(void)
{
    Suite *s = suite_create("lag");
    TCase *c = tcase_create("lag");
    tcase_add_test(c, test_lag_and_unknown);
    tcase_add_test(c, test_stuck);
    tcase_add_test(c, test_topic_label_escaped_and_many_partitions);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return check_run(lag_suite());
}
