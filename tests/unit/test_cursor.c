/* Unit tests for lib/cursor.c: opaque keyset cursors round trip, and decoding
 * refuses anything that is not a cursor (garbage, over-long text, base64url of
 * the wrong content). */
#include "cursor.h"

#include "check_main.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An encoder written independently of the module: RFC 4648 section 5
 * (base64url) without padding. */
static void b64url(const void *data, size_t len, char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = data;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t n = len - i < 3 ? len - i : 3;
        unsigned v = (unsigned)in[i] << 16;
        if (n > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (n > 2)
            v |= in[i + 2];
        ck_assert(o + 5 < outlen);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (n > 1)
            out[o++] = alphabet[v >> 6 & 63];
        if (n > 2)
            out[o++] = alphabet[v & 63];
    }
    out[o] = '\0';
}

static int decode_heap(const char *s, int64_t *ts, struct uuid *id)
{
    char *copy = strdup(s);
    ck_assert_ptr_nonnull(copy);
    int rc = cursor_decode(copy, ts, id);
    free(copy);
    return rc;
}

/* Asserts that base64url(plain) is not accepted as a cursor. */
static void assert_content_rejected(const char *plain, size_t len)
{
    char enc[512];
    b64url(plain, len, enc, sizeof(enc));
    int64_t ts = 0;
    struct uuid id;
    int rc = decode_heap(enc, &ts, &id);
    ck_assert_msg(rc == -1, "cursor_decode accepted base64url(\"%.*s\") = %s as ts=%" PRId64,
                  (int)len, plain, enc, ts);
}

static struct uuid uuid_of(const char *s)
{
    struct uuid u;
    ck_assert_msg(uuid_parse(s, &u) == 0, "bad uuid literal %s", s);
    return u;
}

static void assert_round_trip(int64_t ts, const char *id_text)
{
    struct uuid id = uuid_of(id_text), back_id;
    char cursor[CURSOR_STR_LEN];
    memset(cursor, 'x', sizeof(cursor));
    cursor_encode(ts, &id, cursor);
    ck_assert_msg(memchr(cursor, '\0', sizeof(cursor)) != NULL, "cursor is not terminated");
    /* Opaque and URL-safe: only the base64url alphabet, no padding. */
    size_t span =
        strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    ck_assert_msg(span == strlen(cursor) && span > 0, "cursor \"%s\" has a non-base64url byte",
                  cursor);
    int64_t back_ts = 0;
    int rc = decode_heap(cursor, &back_ts, &back_id);
    ck_assert_msg(rc == 0, "cursor_decode rejected its own cursor %s (ts=%" PRId64 ", id=%s)",
                  cursor, ts, id_text);
    ck_assert_msg(back_ts == ts, "cursor %s: expected ts %" PRId64 ", got %" PRId64, cursor, ts,
                  back_ts);
    ck_assert_mem_eq(back_id.b, id.b, 16);
    /* Encoding is deterministic. */
    char again[CURSOR_STR_LEN];
    cursor_encode(ts, &id, again);
    ck_assert_str_eq(again, cursor);
}

START_TEST(test_round_trip)
{
    assert_round_trip(0, "00000000-0000-0000-0000-000000000000");
    assert_round_trip(1714564800000000, "018f3406-9e00-7abc-8def-0123456789ab");
    assert_round_trip(-1, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    assert_round_trip(-2208988800000000, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    assert_round_trip(INT64_MAX, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    assert_round_trip(INT64_MIN, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    /* Every length of the decimal timestamp, so every base64 tail length. */
    int64_t ts = 1;
    for (int digits = 1; digits <= 19; digits++) {
        assert_round_trip(ts, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        assert_round_trip(ts + 7, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        assert_round_trip(-ts, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        if (digits < 19)
            ts *= 10; /* 10^18 is the last power of ten in an int64 */
    }
}
END_TEST

START_TEST(test_matches_independent_encoding)
{
    /* The cursor is base64url("<ts>/<uuid>") without padding. */
    struct uuid id = uuid_of("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    char got[CURSOR_STR_LEN], want[CURSOR_STR_LEN];
    cursor_encode(1714564800000000, &id, got);
    const char *plain = "1714564800000000/2ed6657d-e927-568b-95e1-2665a8aea6a2";
    b64url(plain, strlen(plain), want, sizeof(want));
    ck_assert_str_eq(got, want);
}
END_TEST

static const char *const garbage[] = {
    "",
    "A",
    "AA",
    "AAA",
    "AAAA",
    "!!!!",
    "not a cursor",
    "MTIzLzJlZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg==", /* padded */
    "MTIz+zJlZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg",   /* '+' is standard base64 */
    "MTIz/zJlZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg",   /* '/' is standard base64 */
    "MTIzLzJl ZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg",  /* space */
    "MTIzLzJlZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg\n", /* newline */
    "MTIzLzJlZDY2NTdkLWU5MjctNTY4Yi05NWUxLTI2NjVhOGFlYTZhMg%3D",
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    "1714564800000000/2ed6657d-e927-568b-95e1-2665a8aea6a2", /* not encoded at all */
};

START_TEST(test_rejects_garbage)
{
    int64_t ts = 0;
    struct uuid id;
    ck_assert_msg(decode_heap(garbage[_i], &ts, &id) == -1, "cursor_decode accepted \"%s\"",
                  garbage[_i]);
}
END_TEST

START_TEST(test_rejects_over_long)
{
    int64_t ts = 0;
    struct uuid id;
    /* Lengths around the limit and far past it: never an overflow. */
    static const size_t lens[] = {CURSOR_STR_LEN - 1, CURSOR_STR_LEN, CURSOR_STR_LEN + 1, 1000,
                                  100000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char *s = malloc(lens[i] + 1);
        ck_assert_ptr_nonnull(s);
        memset(s, 'A', lens[i]);
        s[lens[i]] = '\0';
        ck_assert_msg(cursor_decode(s, &ts, &id) == -1, "accepted %zu 'A's", lens[i]);
        free(s);
    }
    /* A real cursor with a long run of valid base64url appended. */
    struct uuid u = uuid_of("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    char c[CURSOR_STR_LEN];
    cursor_encode(INT64_MIN, &u, c);
    char *longer = malloc(4096);
    ck_assert_ptr_nonnull(longer);
    snprintf(longer, 4096, "%s%s", c, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB");
    ck_assert_int_eq(decode_heap(longer, &ts, &id), -1);
    free(longer);
}
END_TEST

START_TEST(test_rejects_wrong_content)
{
    static const char *const contents[] = {
        "hello",
        "123",                                                       /* no slash */
        "/2ed6657d-e927-568b-95e1-2665a8aea6a2",                     /* empty timestamp */
        "12x/2ed6657d-e927-568b-95e1-2665a8aea6a2",                  /* not a number */
        "1.5/2ed6657d-e927-568b-95e1-2665a8aea6a2",                  /* not an integer */
        "0x10/2ed6657d-e927-568b-95e1-2665a8aea6a2",                 /* hexadecimal */
        "99999999999999999999/2ed6657d-e927-568b-95e1-2665a8aea6a2", /* overflows int64 */
        "-99999999999999999999/2ed6657d-e927-568b-95e1-2665a8aea6a2",
        "123/",                                         /* empty id */
        "123/not-a-uuid",                               /* id not a uuid */
        "123/2ed6657de927568b95e12665a8aea6a2",         /* id without hyphens */
        "123/2ed6657d-e927-568b-95e1-2665a8aea6a",      /* id too short */
        "123/2ed6657d-e927-568b-95e1-2665a8aea6a2x",    /* id too long */
        "123/2ed6657d-e927-568b-95e1-2665a8aea6a2/",    /* trailing separator */
        "123/2ed6657d-e927-568b-95e1-2665a8aea6a2/456", /* extra field */
        "123//2ed6657d-e927-568b-95e1-2665a8aea6a2",    /* double slash */
        "2ed6657d-e927-568b-95e1-2665a8aea6a2/123",     /* fields swapped */
        "{\"ts\":123,\"id\":\"2ed6657d-e927-568b-95e1-2665a8aea6a2\"}",
    };
    for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++)
        assert_content_rejected(contents[i], strlen(contents[i]));
    /* Binary content, including an embedded NUL before the separator. */
    static const char nul_before[] = "12\0003/2ed6657d-e927-568b-95e1-2665a8aea6a2";
    assert_content_rejected(nul_before, sizeof(nul_before) - 1);
    static const unsigned char binary[] = {0xff, 0xfe, 0x00, 0x2f, 0x80, 0x81, 0x82};
    assert_content_rejected((const char *)binary, sizeof(binary));
}
END_TEST

START_TEST(test_tampering_never_crashes)
{
    /* Every single-character substitution of a real cursor either fails or
     * decodes to a well-formed (timestamp, id); none reads out of bounds. */
    struct uuid u = uuid_of("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    char c[CURSOR_STR_LEN];
    cursor_encode(1714564800000000, &u, c);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
    size_t n = strlen(c);
    int accepted = 0, total = 0;
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
            char t[CURSOR_STR_LEN];
            memcpy(t, c, n + 1);
            if (t[pos] == alphabet[a])
                continue;
            t[pos] = alphabet[a];
            int64_t ts = 0;
            struct uuid id;
            total++;
            if (decode_heap(t, &ts, &id) == 0) {
                accepted++;
                /* What was accepted re-encodes to a cursor that decodes the same. */
                char re[CURSOR_STR_LEN];
                cursor_encode(ts, &id, re);
                int64_t ts2 = 0;
                struct uuid id2;
                ck_assert_int_eq(cursor_decode(re, &ts2, &id2), 0);
                ck_assert_int_eq(ts2, ts);
                ck_assert_mem_eq(id2.b, id.b, 16);
            }
        }
    }
    ck_assert_int_gt(total, 0);
    ck_assert_int_lt(accepted, total);
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("cursor");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_matches_independent_encoding);
    tcase_add_loop_test(tc, test_rejects_garbage, 0, sizeof(garbage) / sizeof(garbage[0]));
    tcase_add_test(tc, test_rejects_over_long);
    tcase_add_test(tc, test_rejects_wrong_content);
    tcase_add_test(tc, test_tampering_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(cursor_suite());
}
