/* Unit tests for lib/digest.c: SHA-256 hex against FIPS 180-2's vectors, and
 * several parts hashed as their concatenation. */
#include "digest.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

static void one(const char *text, char out[DIGEST_HEX_LEN + 1])
{
    struct digest_part p = {text, strlen(text)};
    ck_assert_int_eq(digest_sha256_hex(&p, 1, out), 0);
}

START_TEST(known_vectors)
{
    char out[DIGEST_HEX_LEN + 1];
    one("abc", out);
    ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    one("", out);
    ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(parts_are_their_concatenation)
{
    char whole[DIGEST_HEX_LEN + 1], split[DIGEST_HEX_LEN + 1];
    one("key-and-value", whole);
    struct digest_part parts[] = {{"key", 3}, {NULL, 0}, {"-and-", 5}, {"value", 5}};
    ck_assert_int_eq(digest_sha256_hex(parts, 4, split), 0);
    ck_assert_str_eq(whole, split);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, known_vectors);
    tcase_add_test(tc, parts_are_their_concatenation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite());
}
