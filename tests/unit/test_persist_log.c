/* Unit tests for persist/persist_log.c: where a partition starts and what a
 * batch's first messages say about which log a kafka_offsets row belongs to.
 * The cases are the ways a second `make run` lost acknowledged writes: a dev
 * broker restarted (same cluster id, new logs), a log that grew past the old
 * offsets before the worker looked, one that is shorter, and the ordinary
 * replay after a crash that must still be skipped. */
#include "persist_log.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

#define CLUSTER "mockCluster186800000da0"

static void anchor_of(const char *value, char out[PERSIST_ANCHOR_LEN + 1])
{
    persist_log_anchor("k", 1, value, strlen(value), out);
}

START_TEST(anchor_is_hex_and_tells_messages_apart)
{
    char a[PERSIST_ANCHOR_LEN + 1], b[PERSIST_ANCHOR_LEN + 1], c[PERSIST_ANCHOR_LEN + 1];
    anchor_of("{\"id\":1}", a);
    anchor_of("{\"id\":2}", b);
    persist_log_anchor("k{", 2, "\"id\":1}", 7, c); /* same bytes, split elsewhere */
    ck_assert_uint_eq(strlen(a), PERSIST_ANCHOR_LEN);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), PERSIST_ANCHOR_LEN);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
    char again[PERSIST_ANCHOR_LEN + 1];
    anchor_of("{\"id\":1}", again);
    ck_assert_str_eq(a, again);
    persist_log_anchor(NULL, 0, NULL, 0, again); /* an empty message still has a digest */
    ck_assert_uint_eq(strlen(again), PERSIST_ANCHOR_LEN);
}
END_TEST

START_TEST(start_offsets)
{
    struct persist_log_row anchored = {.next = 4237, .cluster_id = CLUSTER, .anchor = "ab"};
    ck_assert_int_eq(persist_log_start(NULL, CLUSTER, 10), -1);
    /* One early, to see the anchor; the log's end unknown or past the row. */
    ck_assert_int_eq(persist_log_start(&anchored, CLUSTER, -1), 4236);
    ck_assert_int_eq(persist_log_start(&anchored, CLUSTER, 4237), 4236);
    ck_assert_int_eq(persist_log_start(&anchored, CLUSTER, 10608), 4236);
    ck_assert_int_eq(persist_log_start(&anchored, "another-cluster", 10608), -1);
    /* A new log that ends before the row: exactly at the anchor's place (a
     * consumer put there would wait for a message that may never come) or
     * shorter. */
    ck_assert_int_eq(persist_log_start(&anchored, CLUSTER, 4236), -1);
    ck_assert_int_eq(persist_log_start(&anchored, CLUSTER, 12), -1);
    struct persist_log_row reset = {.next = 0, .cluster_id = CLUSTER};
    ck_assert_int_eq(persist_log_start(&reset, CLUSTER, 5), -1);
    struct persist_log_row legacy = {.next = 17};
    ck_assert_int_eq(persist_log_start(&legacy, CLUSTER, 20), 17);
    ck_assert_int_eq(persist_log_start(&legacy, CLUSTER, 3), -1);
}
END_TEST

START_TEST(same_log_and_replays)
{
    char applied[PERSIST_ANCHOR_LEN + 1];
    anchor_of("message 4236", applied);
    struct persist_log_row row = {.next = 4237, .cluster_id = CLUSTER, .anchor = applied};
    /* Resumed at the anchor, and it is the message applied last. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 4236, applied, -1), PERSIST_LOG_SAME);
    /* The steady state: the batch goes on where the last one ended. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 4237, NULL, -1), PERSIST_LOG_SAME);
    /* A replay from further back that reaches the anchor: same log. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 4000, applied, 9000), PERSIST_LOG_SAME);
    /* Retention removed the anchor and more: same log, a gap the caller reports. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 5000, NULL, 9000), PERSIST_LOG_SAME);
}
END_TEST

START_TEST(another_log)
{
    char applied[PERSIST_ANCHOR_LEN + 1], other[PERSIST_ANCHOR_LEN + 1];
    anchor_of("message 4236 of the old log", applied);
    anchor_of("message 4236 of the new log", other);
    struct persist_log_row row = {.next = 4237, .cluster_id = CLUSTER, .anchor = applied};
    /* A restarted broker with the same cluster id whose new log already grew
     * past the old offsets: the message at the anchor's place is another. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 4236, other, -1), PERSIST_LOG_OTHER);
    /* A new log shorter than the old one: the consumer fell back to 0. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 0, NULL, 1511), PERSIST_LOG_OTHER);
    /* Another cluster, whatever the offsets say. */
    ck_assert_int_eq(persist_log_check(&row, "b3Jk", 4237, NULL, -1), PERSIST_LOG_OTHER);
    /* A log long enough to hold the anchor, read from below it: look first. */
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 0, NULL, 10608), PERSIST_LOG_VERIFY);
    ck_assert_int_eq(persist_log_check(&row, CLUSTER, 0, NULL, -1), PERSIST_LOG_VERIFY);
}
END_TEST

START_TEST(rows_without_a_log)
{
    /* Reset rows and rows from before logs were named: offsets as they are. */
    struct persist_log_row reset = {.next = 0, .cluster_id = CLUSTER};
    ck_assert_int_eq(persist_log_check(&reset, CLUSTER, 0, NULL, -1), PERSIST_LOG_SAME);
    ck_assert_int_eq(persist_log_check(&reset, CLUSTER, 12, NULL, -1), PERSIST_LOG_SAME);
    struct persist_log_row legacy = {.next = 17};
    ck_assert_int_eq(persist_log_check(&legacy, CLUSTER, 3, NULL, -1), PERSIST_LOG_SAME);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("persist_log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, anchor_is_hex_and_tells_messages_apart);
    tcase_add_test(tc, start_offsets);
    tcase_add_test(tc, same_log_and_replays);
    tcase_add_test(tc, another_log);
    tcase_add_test(tc, rows_without_a_log);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite());
}
