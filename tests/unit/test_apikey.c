/* Unit tests for lib/apikey.c: generated keys parse back, keys built by an
 * independent implementation (Python's zlib.crc32 and integer base62, values
 * below) parse, every one-character change and every wrong length is
 * refused without reading past the length, and the hashes match Python's
 * hashlib/hmac. */
#include "apikey.h"
#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lookup id AbCdEf012345, secret bytes 00 01 02 ... 1f. */
static const char *const golden = "sk_sluice_AbCdEf012345_"
                                  "003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf1KlxxQ";
/* Secret 2^256 - 1, the largest there is. */
static const char *const largest = "sk_sluice_zzzzzzzzzzzz_"
                                   "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp10xFns4";
/* Secret 2^256 in 43 digits with a correct checksum: no 32 bytes make it. */
static const char *const too_large = "sk_sluice_000000000000_"
                                     "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp21WudRv";

/* Parses text from a heap copy of exactly len bytes, no NUL after it, so
 * ASan reports any read past len. */
static int parse_exact(const char *text, size_t len, char id[APIKEY_ID_MAX])
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    int rc = apikey_parse(copy, len, id);
    free(copy);
    return rc;
}

static bool is_base62(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

START_TEST(test_generated_keys_parse)
{
    char prev[APIKEY_MAX] = "";
    for (int i = 0; i < 200; i++) {
        char key[APIKEY_MAX], id[APIKEY_ID_MAX], parsed[APIKEY_ID_MAX];
        ck_assert_int_eq(apikey_generate(key, id), 0);
        ck_assert_uint_eq(strlen(key), 72);
        ck_assert_uint_eq(strlen(id), 12);
        ck_assert(strncmp(key, "sk_sluice_", 10) == 0);
        ck_assert(is_base62(id, 12));
        ck_assert(strncmp(key + 10, id, 12) == 0);
        ck_assert_int_eq(key[22], '_');
        ck_assert(is_base62(key + 23, 49));
        ck_assert_int_eq(parse_exact(key, strlen(key), parsed), 0);
        ck_assert_str_eq(parsed, id);
        ck_assert_str_ne(key, prev);
        memcpy(prev, key, sizeof(prev));
    }
}
END_TEST

START_TEST(test_independent_keys_parse)
{
    char id[APIKEY_ID_MAX];
    ck_assert_int_eq(parse_exact(golden, strlen(golden), id), 0);
    ck_assert_str_eq(id, "AbCdEf012345");
    ck_assert_int_eq(parse_exact(largest, strlen(largest), id), 0);
    ck_assert_str_eq(id, "zzzzzzzzzzzz");
    ck_assert_int_eq(apikey_parse(golden, strlen(golden), NULL), 0);
}
END_TEST

START_TEST(test_secret_beyond_256_bits_refused)
{
    char id[APIKEY_ID_MAX] = "x";
    ck_assert_int_eq(parse_exact(too_large, strlen(too_large), id), -1);
    ck_assert_str_eq(id, "");
}
END_TEST

START_TEST(test_every_single_change_refused)
{
    /* The checksum (CRC-32 finds every one-byte error) or the grammar
     * catches a change anywhere: prefix, id, separator, secret, checksum. */
    static const char replacements[] = {'0', 'z', 'A', '_', '-', ' ', '\0', '\x80', '\xff'};
    char key[APIKEY_MAX];
    for (size_t pos = 0; pos < APIKEY_LEN; pos++)
        for (size_t r = 0; r < sizeof(replacements); r++) {
            memcpy(key, golden, APIKEY_MAX);
            if (key[pos] == replacements[r])
                continue;
            key[pos] = replacements[r];
            ck_assert_msg(parse_exact(key, APIKEY_LEN, NULL) == -1, "changed byte %zu to 0x%02x",
                          pos, (unsigned char)replacements[r]);
        }
    /* Two digits swapped. */
    memcpy(key, golden, APIKEY_MAX);
    char t = key[30];
    key[30] = key[31];
    key[31] = t;
    ck_assert_int_eq(parse_exact(key, APIKEY_LEN, NULL), -1);
}
END_TEST

START_TEST(test_lengths_refused)
{
    char longer[APIKEY_MAX + 8];
    for (size_t len = 0; len < APIKEY_LEN; len++)
        ck_assert_int_eq(parse_exact(golden, len, NULL), -1);
    snprintf(longer, sizeof(longer), "%sA", golden);
    ck_assert_int_eq(parse_exact(longer, strlen(longer), NULL), -1);
    snprintf(longer, sizeof(longer), "%s\n", golden);
    ck_assert_int_eq(parse_exact(longer, strlen(longer), NULL), -1);
    snprintf(longer, sizeof(longer), " %s", golden);
    ck_assert_int_eq(parse_exact(longer, strlen(longer), NULL), -1);
    /* The right length from a longer text: only len bytes count. */
    ck_assert_int_eq(apikey_parse(longer + 1, APIKEY_LEN, NULL), 0);
    ck_assert_int_eq(apikey_parse(NULL, APIKEY_LEN, NULL), -1);
    ck_assert_int_eq(apikey_parse("", 0, NULL), -1);
}
END_TEST

START_TEST(test_other_prefixes_refused)
{
    static const char *const prefixes[] = {"SK_sluice_", "sk_Sluice_", "sk-sluice_",
                                           "sk_sluice-", "pk_sluice_", "ghp_sluice"};
    char key[APIKEY_MAX];
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        memcpy(key, golden, APIKEY_MAX);
        memcpy(key, prefixes[i], 10);
        ck_assert_int_eq(parse_exact(key, APIKEY_LEN, NULL), -1);
    }
}
END_TEST

START_TEST(test_hashes)
{
    unsigned char h1[APIKEY_HASH_LEN], h2[APIKEY_HASH_LEN];
    char hex[APIKEY_HASH_HEX_MAX];
    static const unsigned char pepper[] = "pepper-1";
    ck_assert_int_eq(apikey_hash_hex(golden, NULL, 0, hex), 0);
    ck_assert_str_eq(hex, "5cfcedb030b3c28cea14054be7eebd87f6438ac0cee0a766997adf777ffc5fb3");
    ck_assert_int_eq(apikey_hash_hex(golden, pepper, sizeof(pepper) - 1, hex), 0);
    ck_assert_str_eq(hex, "d7e6519cbd1c36e6b18f6085561344ce484f6791e73d08b989272c67e5305a3c");

    ck_assert_int_eq(apikey_hash(golden, pepper, sizeof(pepper) - 1, h1), 0);
    ck_assert_int_eq(apikey_hash(golden, pepper, sizeof(pepper) - 1, h2), 0);
    ck_assert(apikey_hash_equal(h1, h2));
    h2[APIKEY_HASH_LEN - 1] ^= 1;
    ck_assert(!apikey_hash_equal(h1, h2));
    h2[APIKEY_HASH_LEN - 1] ^= 1;
    h2[0] ^= 0x80;
    ck_assert(!apikey_hash_equal(h1, h2));
    /* Another pepper, another hash: a stolen table is useless without it. */
    ck_assert_int_eq(apikey_hash(golden, (const unsigned char *)"pepper-2", 8, h2), 0);
    ck_assert(!apikey_hash_equal(h1, h2));
    ck_assert_int_eq(apikey_hash(largest, pepper, sizeof(pepper) - 1, h2), 0);
    ck_assert(!apikey_hash_equal(h1, h2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apikey");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_generated_keys_parse);
    tcase_add_test(tc, test_independent_keys_parse);
    tcase_add_test(tc, test_secret_beyond_256_bits_refused);
    tcase_add_test(tc, test_every_single_change_refused);
    tcase_add_test(tc, test_lengths_refused);
    tcase_add_test(tc, test_other_prefixes_refused);
    tcase_add_test(tc, test_hashes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
