/* Unit tests for lib/buf.c: growth, NUL termination, binary data, printf,
 * steal and reset. */
#include "buf.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void assert_invariants(const struct buf *b)
{
    if (!b->data) {
        ck_assert_uint_eq(b->len, 0);
        return;
    }
    ck_assert_msg(b->len < b->cap, "len %zu must be below cap %zu (room for the NUL)", b->len,
                  b->cap);
    ck_assert_msg(b->data[b->len] == '\0', "buffer of length %zu is not NUL-terminated", b->len);
}

START_TEST(test_append_basic)
{
    struct buf b = {0};
    ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_str_eq(b.data, "hello");
    assert_invariants(&b);
    ck_assert_int_eq(buf_append(&b, ", world", 7), 0);
    ck_assert_str_eq(b.data, "hello, world");
    ck_assert_uint_eq(b.len, 12);
    ck_assert_int_eq(buf_puts(&b, "!"), 0);
    ck_assert_str_eq(b.data, "hello, world!");
    assert_invariants(&b);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    buf_free(&b); /* twice is harmless */
}
END_TEST

START_TEST(test_append_empty)
{
    struct buf b = {0};
    ck_assert_int_eq(buf_append(&b, "", 0), 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_nonnull(b.data); /* always a string once used */
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(buf_puts(&b, ""), 0);
    ck_assert_int_eq(buf_append(&b, NULL, 0), 0); /* no bytes, no read */
    ck_assert_uint_eq(b.len, 0);
    assert_invariants(&b);
    buf_free(&b);
}
END_TEST

START_TEST(test_append_growth)
{
    /* Byte by byte well past the first allocation, then in big blocks. */
    struct buf b = {0};
    for (size_t i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        ck_assert_int_eq(buf_append(&b, &c, 1), 0);
        assert_invariants(&b);
    }
    ck_assert_uint_eq(b.len, 10000);
    for (size_t i = 0; i < 10000; i++)
        ck_assert_msg(b.data[i] == (char)('a' + i % 26), "byte %zu is wrong after growth", i);
    size_t big = 1 << 20;
    char *block = malloc(big);
    ck_assert_ptr_nonnull(block);
    memset(block, 'Z', big);
    ck_assert_int_eq(buf_append(&b, block, big), 0);
    ck_assert_uint_eq(b.len, 10000 + big);
    assert_invariants(&b);
    ck_assert_mem_eq(b.data + 10000, block, big);
    ck_assert_int_eq(b.data[9999], 'a' + 9999 % 26);
    free(block);
    buf_free(&b);
}
END_TEST

START_TEST(test_append_exact_capacity_boundaries)
{
    /* Lengths around every power of two up to 64 KiB land exactly on the
     * edges of the capacity; the contents stay right across each realloc. */
    for (size_t target = 1; target <= 65536; target *= 2) {
        for (size_t delta = 0; delta < 3; delta++) {
            size_t want = target + delta - 1;
            struct buf b = {0};
            char *src = malloc(want + 1);
            ck_assert_ptr_nonnull(src);
            for (size_t i = 0; i < want; i++)
                src[i] = (char)('0' + i % 10);
            ck_assert_int_eq(buf_append(&b, src, want), 0);
            ck_assert_uint_eq(b.len, want);
            assert_invariants(&b);
            ck_assert_int_eq(buf_append(&b, "x", 1), 0);
            assert_invariants(&b);
            ck_assert_mem_eq(b.data, src, want);
            ck_assert_int_eq(b.data[want], 'x');
            free(src);
            buf_free(&b);
        }
    }
}
END_TEST

START_TEST(test_append_binary)
{
    struct buf b = {0};
    static const char bin[] = {'a', '\0', 'b', '\0', '\xff'};
    ck_assert_int_eq(buf_append(&b, bin, sizeof(bin)), 0);
    ck_assert_uint_eq(b.len, sizeof(bin));
    ck_assert_mem_eq(b.data, bin, sizeof(bin));
    assert_invariants(&b);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf)
{
    struct buf b = {0};
    ck_assert_int_eq(buf_printf(&b, "%d-%s-%c", 42, "x", 'y'), 0);
    ck_assert_str_eq(b.data, "42-x-y");
    ck_assert_uint_eq(b.len, 6);
    ck_assert_int_eq(buf_printf(&b, "|%05.1f|%lld", 3.14159, (long long)-9000000000LL), 0);
    ck_assert_str_eq(b.data, "42-x-y|003.1|-9000000000");
    ck_assert_uint_eq(b.len, strlen(b.data));
    assert_invariants(&b);
    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
    ck_assert_str_eq(b.data, "42-x-y|003.1|-9000000000");
    buf_free(&b);

    /* Empty format on an unused buffer still yields a string. */
    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_growth)
{
    struct buf b = {0};
    char *big = malloc(5001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'q', 5000);
    big[5000] = '\0';
    ck_assert_int_eq(buf_puts(&b, "<"), 0);
    ck_assert_int_eq(buf_printf(&b, "%s>", big), 0);
    ck_assert_uint_eq(b.len, 5002);
    ck_assert_int_eq(b.data[0], '<');
    ck_assert_int_eq(b.data[5001], '>');
    ck_assert_msg(strspn(b.data + 1, "q") == 5000, "printf growth corrupted the contents");
    assert_invariants(&b);
    free(big);
    /* Many small printfs across several reallocations. */
    buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        ck_assert_int_eq(buf_printf(&b, "%d,", i % 10), 0);
    ck_assert_uint_eq(b.len, 10000);
    for (int i = 0; i < 5000; i++) {
        ck_assert_int_eq(b.data[2 * i], '0' + i % 10);
        ck_assert_int_eq(b.data[2 * i + 1], ',');
    }
    assert_invariants(&b);
    buf_free(&b);
}
END_TEST

START_TEST(test_printf_fills_exactly)
{
    /* A printf whose output ends exactly at the current capacity. */
    struct buf b = {0};
    ck_assert_int_eq(buf_puts(&b, "a"), 0);
    size_t room = b.cap - b.len - 1;
    char *fill = malloc(room + 1);
    ck_assert_ptr_nonnull(fill);
    memset(fill, 'f', room);
    fill[room] = '\0';
    size_t cap = b.cap;
    ck_assert_int_eq(buf_printf(&b, "%s", fill), 0);
    ck_assert_uint_eq(b.cap, cap); /* fitted without growing */
    ck_assert_uint_eq(b.len, room + 1);
    assert_invariants(&b);
    ck_assert_int_eq(buf_printf(&b, "%s", "g"), 0); /* and this one must grow */
    ck_assert_uint_eq(b.len, room + 2);
    ck_assert_int_eq(b.data[room + 1], 'g');
    assert_invariants(&b);
    free(fill);
    buf_free(&b);
}
END_TEST

START_TEST(test_steal)
{
    struct buf b = {0};
    buf_puts(&b, "take me");
    char *s = buf_steal(&b);
    ck_assert_str_eq(s, "take me");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    /* The buffer is usable again and independent of the stolen bytes. */
    buf_puts(&b, "again");
    ck_assert_str_eq(b.data, "again");
    ck_assert_str_eq(s, "take me");
    free(s);
    buf_free(&b);

    /* Stealing from an unused buffer gives an empty string to free. */
    struct buf empty = {0};
    char *e = buf_steal(&empty);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e, "");
    free(e);
    ck_assert_ptr_null(empty.data);
}
END_TEST

START_TEST(test_read_file)
{
    char path[] = "/tmp/sluice-test-buf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    /* Longer than one read chunk, with a NUL inside. */
    struct buf want = {0};
    for (int i = 0; i < 10000; i++)
        buf_append(&want, i == 5000 ? "\0" : "x", 1);
    ck_assert_int_eq(write(fd, want.data, want.len), (ssize_t)want.len);
    close(fd);
    struct buf got = {0};
    buf_puts(&got, "head:");
    ck_assert_int_eq(buf_read_file(&got, path), 0);
    ck_assert_uint_eq(got.len, 5 + want.len);
    ck_assert_mem_eq(got.data + 5, want.data, want.len);
    unlink(path);
    ck_assert_int_eq(buf_read_file(&got, path), -1);
    buf_free(&got);
    buf_free(&want);
}
END_TEST

START_TEST(test_reset)
{
    struct buf b = {0};
    buf_reset(&b); /* unused buffer: nothing to do, no crash */
    ck_assert_ptr_null(b.data);
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "0123456789");
    size_t cap = b.cap;
    char *data = b.data;
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.cap, cap); /* storage kept for reuse */
    ck_assert_ptr_eq(b.data, data);
    buf_puts(&b, "fresh");
    ck_assert_str_eq(b.data, "fresh");
    ck_assert_uint_eq(b.len, 5);
    assert_invariants(&b);
    buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, test_append_basic);
    tcase_add_test(tc, test_read_file);
    tcase_add_test(tc, test_append_empty);
    tcase_add_test(tc, test_append_growth);
    tcase_add_test(tc, test_append_exact_capacity_boundaries);
    tcase_add_test(tc, test_append_binary);
    tcase_add_test(tc, test_printf);
    tcase_add_test(tc, test_printf_growth);
    tcase_add_test(tc, test_printf_fills_exactly);
    tcase_add_test(tc, test_steal);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(buf_suite());
}
