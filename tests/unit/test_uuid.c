/* Unit tests for lib/uuid.c: RFC 9562 v5 known answers, v5/v7 version and
 * variant bits, v7 timestamps, and strict parsing of the canonical form. */
#include "uuid.h"

#include "check_main.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9562 / RFC 4122 predefined namespaces. */
static const char *const NS_DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
static const char *const NS_URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";

static struct uuid parse_ok(const char *s)
{
    struct uuid u;
    ck_assert_msg(uuid_parse(s, &u) == 0, "uuid_parse(\"%s\") failed; expected success", s);
    return u;
}

static void assert_v5(const char *ns_text, const char *name, const char *expected)
{
    struct uuid ns = parse_ok(ns_text), u;
    char got[UUID_STR_LEN];
    uuid_v5(&u, &ns, name, strlen(name));
    uuid_format(&u, got);
    ck_assert_msg(strcmp(got, expected) == 0, "uuid_v5(%s, \"%s\"): expected %s, got %s", ns_text,
                  name, expected, got);
}

/* Parses a heap copy of exactly strlen(s)+1 bytes, so AddressSanitizer sees
 * any read past the terminator. */
static int parse_heap(const char *s, struct uuid *u)
{
    char *copy = strdup(s);
    ck_assert_ptr_nonnull(copy);
    int rc = uuid_parse(copy, u);
    free(copy);
    return rc;
}

START_TEST(test_v5_rfc_example)
{
    /* The example of RFC 9562 appendix A.4 (and of Python's uuid module). */
    assert_v5(NS_DNS, "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}
END_TEST

START_TEST(test_v5_more_known_answers)
{
    /* Cross-checked with Python: uuid.uuid5(namespace, name). */
    assert_v5(NS_DNS, "", "4ebd0208-8328-5d69-8c44-ec50939c0967");
    assert_v5(NS_URL, "https://sluice.dev/", "7660e078-840b-543e-af83-b8f48ba294a7");
    assert_v5("3b0c1c4e-8a7d-5f2e-9a41-5c1d1ce0b7a1", "order-42",
              "6bf99518-a923-5dc5-be02-117aea979bfc");
}
END_TEST

START_TEST(test_v5_sluice_namespace_is_pinned)
{
    /* Changing the namespace changes every deterministic id ever issued. */
    char got[UUID_STR_LEN];
    uuid_format(&uuid_namespace_sluice, got);
    ck_assert_str_eq(got, "3b0c1c4e-8a7d-5f2e-9a41-5c1d1ce0b7a1");
    struct uuid u;
    uuid_v5(&u, &uuid_namespace_sluice, "order-42", 8);
    uuid_format(&u, got);
    ck_assert_str_eq(got, "6bf99518-a923-5dc5-be02-117aea979bfc");
}
END_TEST

START_TEST(test_v5_deterministic_and_distinct)
{
    struct uuid a, b, c, d;
    uuid_v5(&a, &uuid_namespace_sluice, "key", 3);
    uuid_v5(&b, &uuid_namespace_sluice, "key", 3);
    uuid_v5(&c, &uuid_namespace_sluice, "kez", 3);
    struct uuid dns = parse_ok(NS_DNS);
    uuid_v5(&d, &dns, "key", 3);
    ck_assert_mem_eq(a.b, b.b, 16);
    ck_assert_msg(memcmp(a.b, c.b, 16) != 0, "different names gave the same v5 id");
    ck_assert_msg(memcmp(a.b, d.b, 16) != 0, "different namespaces gave the same v5 id");
}
END_TEST

START_TEST(test_v5_binary_name_uses_length)
{
    /* The name is bytes with a length, not a C string: an embedded NUL counts. */
    struct uuid a, b;
    uuid_v5(&a, &uuid_namespace_sluice, "a\0b", 3);
    uuid_v5(&b, &uuid_namespace_sluice, "a", 1);
    ck_assert_msg(memcmp(a.b, b.b, 16) != 0, "bytes after an embedded NUL were ignored");
}
END_TEST

START_TEST(test_v5_version_and_variant_bits)
{
    for (int i = 0; i < 1000; i++) {
        char name[32];
        int n = snprintf(name, sizeof(name), "name-%d", i);
        struct uuid u;
        uuid_v5(&u, &uuid_namespace_sluice, name, (size_t)n);
        ck_assert_msg(u.b[6] >> 4 == 5, "v5 id for %s has version nibble %x", name, u.b[6] >> 4);
        ck_assert_msg((u.b[8] & 0xc0) == 0x80, "v5 id for %s has variant bits %x", name,
                      u.b[8] >> 6);
        char text[UUID_STR_LEN];
        uuid_format(&u, text);
        ck_assert_msg(text[14] == '5', "formatted v5 id %s lacks '5' at position 14", text);
        ck_assert_msg(strchr("89ab", text[19]) != NULL, "formatted v5 id %s: bad variant", text);
    }
}
END_TEST

START_TEST(test_v7_embeds_timestamp)
{
    struct uuid u;
    ck_assert_int_eq(uuid_v7(&u, 0x0123456789abULL), 0);
    static const uint8_t want[6] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    ck_assert_mem_eq(u.b, want, 6);
    ck_assert_int_eq(u.b[6] >> 4, 7);
    ck_assert_int_eq(u.b[8] & 0xc0, 0x80);

    /* A realistic timestamp: 2024-05-01T12:00:00Z in milliseconds. */
    uint64_t ms = 1714564800000ULL;
    ck_assert_int_eq(uuid_v7(&u, ms), 0);
    uint64_t back = 0;
    for (int i = 0; i < 6; i++)
        back = back << 8 | u.b[i];
    ck_assert_uint_eq(back, ms);

    char text[UUID_STR_LEN];
    uuid_format(&u, text);
    ck_assert_msg(strncmp(text, "018f3406-9e00-7", 15) == 0,
                  "v7 id for 2024-05-01T12:00:00Z should start 018f3406-9e00-7, got %s", text);
}
END_TEST

START_TEST(test_v7_extremes)
{
    struct uuid u;
    ck_assert_int_eq(uuid_v7(&u, 0), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(u.b[i], 0);
    ck_assert_int_eq(uuid_v7(&u, 0xffffffffffffULL), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(u.b[i], 0xff);
    ck_assert_int_eq(u.b[6] >> 4, 7);
    ck_assert_int_eq(u.b[8] & 0xc0, 0x80);
}
END_TEST

START_TEST(test_v7_version_variant_and_randomness)
{
    struct uuid prev = {{0}};
    int distinct = 0;
    for (int i = 0; i < 1000; i++) {
        struct uuid u;
        ck_assert_int_eq(uuid_v7(&u, 1714564800000ULL), 0);
        ck_assert_msg(u.b[6] >> 4 == 7, "v7 id has version nibble %x", u.b[6] >> 4);
        ck_assert_msg((u.b[8] & 0xc0) == 0x80, "v7 id has variant bits %x", u.b[8] >> 6);
        distinct += memcmp(u.b, prev.b, 16) != 0;
        prev = u;
    }
    /* 74 random bits: two equal ids in a row would mean no randomness. */
    ck_assert_int_eq(distinct, 1000);
}
END_TEST

START_TEST(test_v7_monotonic_across_ms)
{
    /* Whatever the random bits, an id from a later millisecond sorts after
     * (bytewise, which is also the order of the text and of PostgreSQL's uuid). */
    static const uint64_t starts[] = {0, 1, 255, 256, 65535, 1714564800000ULL, 0xfffffffffffeULL};
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        for (uint64_t ms = starts[s]; ms < starts[s] + 3 && ms < 0xffffffffffffULL; ms++) {
            for (int rep = 0; rep < 50; rep++) {
                struct uuid a, b;
                ck_assert_int_eq(uuid_v7(&a, ms), 0);
                ck_assert_int_eq(uuid_v7(&b, ms + 1), 0);
                char ta[UUID_STR_LEN], tb[UUID_STR_LEN];
                uuid_format(&a, ta);
                uuid_format(&b, tb);
                ck_assert_msg(memcmp(a.b, b.b, 16) < 0, "v7(%llu)=%s does not sort before %s",
                              (unsigned long long)ms, ta, tb);
                ck_assert_msg(strcmp(ta, tb) < 0, "text of v7 ids not ordered: %s, %s", ta, tb);
            }
        }
    }
}
END_TEST

START_TEST(test_format_layout)
{
    struct uuid u;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(i * 17); /* 00 11 22 ... ff */
    char text[UUID_STR_LEN];
    memset(text, 'x', sizeof(text));
    uuid_format(&u, text);
    ck_assert_str_eq(text, "00112233-4455-6677-8899-aabbccddeeff");
    ck_assert_uint_eq(strlen(text), UUID_STR_LEN - 1);
}
END_TEST

START_TEST(test_parse_format_round_trip)
{
    static const char *const cases[] = {
        "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "2ed6657d-e927-568b-95e1-2665a8aea6a2", "018f3406-9e00-7abc-8def-0123456789ab",
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct uuid u;
        ck_assert_msg(parse_heap(cases[i], &u) == 0, "uuid_parse rejected %s", cases[i]);
        char text[UUID_STR_LEN];
        uuid_format(&u, text);
        ck_assert_str_eq(text, cases[i]);
    }
    /* And bytes -> text -> bytes. */
    for (int i = 0; i < 256; i++) {
        struct uuid u, back;
        for (int j = 0; j < 16; j++)
            u.b[j] = (uint8_t)(i * 31 + j * 7);
        char text[UUID_STR_LEN];
        uuid_format(&u, text);
        ck_assert_int_eq(uuid_parse(text, &back), 0);
        ck_assert_mem_eq(u.b, back.b, 16);
    }
}
END_TEST

START_TEST(test_parse_accepts_upper_and_mixed_case)
{
    struct uuid upper, lower, mixed;
    ck_assert_int_eq(parse_heap("2ED6657D-E927-568B-95E1-2665A8AEA6A2", &upper), 0);
    ck_assert_int_eq(parse_heap("2ed6657d-e927-568b-95e1-2665a8aea6a2", &lower), 0);
    ck_assert_int_eq(parse_heap("2Ed6657D-e927-568B-95e1-2665A8aea6A2", &mixed), 0);
    ck_assert_mem_eq(upper.b, lower.b, 16);
    ck_assert_mem_eq(mixed.b, lower.b, 16);
    char text[UUID_STR_LEN];
    uuid_format(&upper, text);
    ck_assert_str_eq(text, "2ed6657d-e927-568b-95e1-2665a8aea6a2"); /* always lower case out */
}
END_TEST

static const char *const bad_uuids[] = {
    "",
    "2",
    "2ed6657d",
    "2ed6657d-",
    "2ed6657d-e927-568b-95e1-2665a8aea6a",    /* 35 characters */
    "2ed6657d-e927-568b-95e1-2665a8aea6a2a",  /* 37 characters */
    "2ed6657d-e927-568b-95e1-2665a8aea6a2-",  /* trailing hyphen */
    "2ed6657d-e927-568b-95e1-2665a8aea6a2 ",  /* trailing space */
    "2ed6657d-e927-568b-95e1-2665a8aea6a2\n", /* trailing newline */
    " 2ed6657d-e927-568b-95e1-2665a8aea6a2",  /* leading space */
    "2ed6657de927568b95e12665a8aea6a2",       /* no hyphens */
    "2ed6657de927-568b-95e1-2665a8aea6a2",    /* first hyphen missing */
    "2ed6657d-e927568b-95e1-2665a8aea6a2",    /* second hyphen missing */
    "2ed6657d-e927-568b95e1-2665a8aea6a2",    /* third hyphen missing */
    "2ed6657d-e927-568b-95e12665a8aea6a2",    /* fourth hyphen missing */
    "2ed6657-de927-568b-95e1-2665a8aea6a2",   /* hyphen one place early */
    "2ed6657d0e927-568b-95e1-2665a8aea6a2",   /* hyphen replaced by a digit */
    "2ed6657d_e927_568b_95e1_2665a8aea6a2",   /* underscores */
    "2ed6657d-e927-568b-95e1-2665a8aea6g2",   /* 'g' is not hex */
    "2ed6657d-e927-568b-95e1-2665a8aea6:2",   /* ':' (just after '9' in ASCII) */
    "2ed6657d-e927-568b-95e1-2665a8aea6@2",   /* '@' (just before 'A') */
    "2ed6657d-e927-568b-95e1-2665a8aea6`2",   /* '`' (just before 'a') */
    "2ed6657d-e927-568b-95e1-2665a8aea6/2",   /* '/' (just before '0') */
    "+ed6657d-e927-568b-95e1-2665a8aea6a2",   /* sign */
    "-ed6657d-e927-568b-95e1-2665a8aea6a2",   /* hyphen where a digit belongs */
    "{2ed6657d-e927-568b-95e1-2665a8aea6a2}", /* Microsoft braces */
    "urn:uuid:2ed6657d-e927-568b-95e1-2665a8aea6a2",
    "2ed6657d-e927-568b-95e1-2665a8aea6\xc3\xa9", /* non-ASCII */
    "------------------------------------",
    "0x2ed6657d-e927-568b-95e1-2665a8aea6",
};

START_TEST(test_parse_rejects)
{
    const char *s = bad_uuids[_i];
    struct uuid u;
    ck_assert_msg(parse_heap(s, &u) == -1, "uuid_parse accepted \"%s\"; expected -1", s);
}
END_TEST

START_TEST(test_parse_rejects_every_truncation)
{
    /* Every prefix of a valid id is invalid and must not be read past its end. */
    const char *full = "2ed6657d-e927-568b-95e1-2665a8aea6a2";
    for (size_t len = 0; len < strlen(full); len++) {
        char *prefix = strndup(full, len);
        ck_assert_ptr_nonnull(prefix);
        struct uuid u;
        int rc = uuid_parse(prefix, &u);
        ck_assert_msg(rc == -1, "uuid_parse accepted the %zu-character prefix \"%s\"", len, prefix);
        free(prefix);
    }
}
END_TEST

START_TEST(test_parse_rejects_every_single_character_corruption)
{
    /* Replacing any character with a non-hex, non-hyphen byte is rejected;
     * replacing a hyphen with a hex digit is rejected too. */
    const char *full = "2ed6657d-e927-568b-95e1-2665a8aea6a2";
    static const char replacements[] = {'g', 'G', 'z', ' ', '.', '\x7f', '\x80', '\xff', '-', '0'};
    int tried = 0;
    for (size_t pos = 0; pos < strlen(full); pos++) {
        for (size_t r = 0; r < sizeof(replacements); r++) {
            char s[UUID_STR_LEN];
            memcpy(s, full, sizeof(s));
            bool is_hyphen_slot = full[pos] == '-';
            char c = replacements[r];
            bool still_valid = is_hyphen_slot ? c == '-' : c == '0';
            if (still_valid)
                continue;
            s[pos] = c;
            struct uuid u;
            tried++;
            ck_assert_msg(uuid_parse(s, &u) == -1, "uuid_parse accepted \"%s\" (byte %zu = 0x%02x)",
                          s, pos, (unsigned char)c);
        }
    }
    ck_assert_int_eq(tried, 36 * 10 - 32 - 4); /* minus the still-valid swaps */
}
END_TEST

static Suite *uuid_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *v5 = tcase_create("v5");
    tcase_add_test(v5, test_v5_rfc_example);
    tcase_add_test(v5, test_v5_more_known_answers);
    tcase_add_test(v5, test_v5_sluice_namespace_is_pinned);
    tcase_add_test(v5, test_v5_deterministic_and_distinct);
    tcase_add_test(v5, test_v5_binary_name_uses_length);
    tcase_add_test(v5, test_v5_version_and_variant_bits);
    suite_add_tcase(s, v5);

    TCase *v7 = tcase_create("v7");
    tcase_add_test(v7, test_v7_embeds_timestamp);
    tcase_add_test(v7, test_v7_extremes);
    tcase_add_test(v7, test_v7_version_variant_and_randomness);
    tcase_add_test(v7, test_v7_monotonic_across_ms);
    suite_add_tcase(s, v7);

    TCase *text = tcase_create("text");
    tcase_add_test(text, test_format_layout);
    tcase_add_test(text, test_parse_format_round_trip);
    tcase_add_test(text, test_parse_accepts_upper_and_mixed_case);
    tcase_add_loop_test(text, test_parse_rejects, 0, sizeof(bad_uuids) / sizeof(bad_uuids[0]));
    tcase_add_test(text, test_parse_rejects_every_truncation);
    tcase_add_test(text, test_parse_rejects_every_single_character_corruption);
    suite_add_tcase(s, text);
    return s;
}

int main(void)
{
    return check_run(uuid_suite());
}
