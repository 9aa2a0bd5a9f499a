/* Unit tests for lib/bloom.c: nothing added is ever missed, across the
 * stages the set grows into; hashes never added are rarely "maybe" (the
 * rate stays near the design's); memory grows with the count, not ahead. */
#include "bloom.h"
#include "check_main.h"

#include <check.h>

/* Hashes as the caller makes them: prefixes of a digest, here a counter
 * scrambled by a multiplier so neighbours share no bits. */
static uint64_t h(uint64_t i)
{
    return i * UINT64_C(0xd6e8feb86659fd93) + 1;
}

START_TEST(test_empty_says_no)
{
    struct bloom *b = bloom_new(0);
    ck_assert_ptr_nonnull(b);
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert(!bloom_may_contain(b, h(i)));
    ck_assert_uint_eq(bloom_count(b), 0);
    bloom_free(b);
}
END_TEST

START_TEST(test_never_misses_across_stages)
{
    /* 1024 in the first stage: 100k hashes open 7 stages. */
    struct bloom *b = bloom_new(1000);
    ck_assert_ptr_nonnull(b);
    for (uint64_t i = 0; i < 100000; i++)
        ck_assert_int_eq(bloom_add(b, h(i)), 0);
    for (uint64_t i = 0; i < 100000; i++)
        ck_assert_msg(bloom_may_contain(b, h(i)), "hash %llu added but not found",
                      (unsigned long long)i);
    ck_assert_uint_eq(bloom_count(b), 100000);
    bloom_free(b);
}
END_TEST

START_TEST(test_false_maybe_rate)
{
    struct bloom *b = bloom_new(1 << 16);
    ck_assert_ptr_nonnull(b);
    for (uint64_t i = 0; i < 200000; i++)
        bloom_add(b, h(i));
    /* 0.06 % per stage at capacity, 3 stages here: well under 0.5 %. */
    unsigned maybe = 0;
    for (uint64_t i = 1000000; i < 1200000; i++)
        maybe += bloom_may_contain(b, h(i));
    ck_assert_msg(maybe < 1000, "%u of 200000 never added said maybe", maybe);
    bloom_free(b);
}
END_TEST

START_TEST(test_memory_follows_count)
{
    struct bloom *b = bloom_new(1024);
    ck_assert_ptr_nonnull(b);
    size_t empty = bloom_bytes(b);
    /* 1024 hashes at 16 bits each, and the struct. */
    ck_assert_uint_lt(empty, 1024 * 2 + 4096);
    for (uint64_t i = 0; i < 1024; i++)
        bloom_add(b, h(i));
    ck_assert_uint_eq(bloom_bytes(b), empty);
    bloom_add(b, h(5000));
    /* The second stage, twice the first. */
    ck_assert_uint_eq(bloom_bytes(b), empty + 2 * 1024 * 2);
    bloom_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bloom");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_empty_says_no);
    tcase_add_test(tc, test_never_misses_across_stages);
    tcase_add_test(tc, test_false_maybe_rate);
    tcase_add_test(tc, test_memory_follows_count);
    suite_add_tcase(s, tc);
    return check_run(s);
}
