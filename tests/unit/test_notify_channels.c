/* Unit tests for notify/notify_channels.c: a routing file becomes a set of
 * live channels; a bad file or a channel that could outlive its lease is
 * refused with the place named; references keep a swapped-out set alive. */
#include "notify_channels.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/sluice-test-routing-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_load_and_find)
{
    setenv("SLUICE_TEST_HOOK", "http://127.0.0.1:1/hook", 1);
    write_file("{\"channels\": {\"s\": {\"type\": \"slack\", \"webhook_url\": "
               "\"${SLUICE_TEST_HOOK}\", \"timeout_ms\": 2000},"
               " \"l\": {\"type\": \"log\"}},"
               " \"topics\": {\"sales\": {\"channels\": [\"s\", \"l\"]}}}");
    char err[256] = "";
    struct channel_set *set = channel_set_load(path, 3000, err, sizeof(err));
    ck_assert_msg(set != NULL, "refused: %s", err);
    ck_assert_uint_eq(set->count, 2);
    struct channel *s = channel_set_find(set, "s");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->type->name, "slack");
    ck_assert_int_eq(s->timeout_ms, 2000);
    /* No timeout_ms: the default, shortened to half the lease. */
    ck_assert_int_eq(channel_set_find(set, "l")->timeout_ms, 1500);
    ck_assert_ptr_null(channel_set_find(set, "nope"));

    /* A set swapped out stays alive while someone holds it. */
    struct channel_holder h;
    channel_holder_init(&h, set);
    struct channel_set *held = channel_holder_get(&h);
    struct channel_set *fresh = channel_set_load(path, 3000, err, sizeof(err));
    ck_assert_ptr_nonnull(fresh);
    channel_holder_swap(&h, fresh);
    ck_assert_str_eq(channel_set_find(held, "s")->name, "s");
    channel_set_unref(held);
    channel_holder_destroy(&h);
    unlink(path);
}
END_TEST

START_TEST(test_refusals)
{
    char err[256] = "";
    write_file("{\"channels\": {\"l\": {\"type\": \"log\", \"timeout_ms\": 4600}},"
               " \"topics\": {\"sales\": {\"channels\": [\"l\"]}}}");
    ck_assert_ptr_null(channel_set_load(path, 5000, err, sizeof(err)));
    ck_assert_msg(strstr(err, "l: timeout_ms 4600 leaves under 500 ms of SLUICE_NOTIFY_LEASE_MS") !=
                      NULL,
                  "got \"%s\"", err);
    unsetenv("SLUICE_TEST_UNSET");
    write_file("{\"channels\": {\"s\": {\"type\": \"slack\", \"webhook_url\": "
               "\"${SLUICE_TEST_UNSET}\"}}, \"topics\": {}}");
    ck_assert_ptr_null(channel_set_load(path, 5000, err, sizeof(err)));
    ck_assert_msg(strstr(err, "/channels/s/webhook_url: ${SLUICE_TEST_UNSET} is not set") != NULL,
                  "got \"%s\"", err);
    unlink(path);
    ck_assert_ptr_null(channel_set_load(path, 5000, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot open") != NULL, "got \"%s\"", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notify_channels");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_load_and_find);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return check_run(s);
}
