/* Unit tests for what sluicectl prints: records found in the API's own JSON
 * text (cli/jsontext.c), strings cleaned for a terminal, aligned tables
 * (cli/output.c), and the import's format sniffing (cli/import.c). */
#include "import.h"
#include "jsontext.h"
#include "output.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct items {
    char seen[8][128];
    int n;
};

static int collect(void *opaque, const char *item, size_t len)
{
    struct items *it = opaque;
    ck_assert_int_lt(it->n, 8);
    ck_assert_uint_lt(len, 128);
    memcpy(it->seen[it->n], item, len);
    it->seen[it->n][len] = '\0';
    it->n++;
    return 0;
}

static long items_of(const char *text, struct items *it)
{
    memset(it, 0, sizeof(*it));
    return cli_json_items(text, strlen(text), "items", collect, it);
}

START_TEST(test_items_as_sent)
{
    struct items it;
    const char *page = "{\"items\":[{\"a\":0.1,\"s\":\"]},\\\"x\"},[1,[2]],\"x\",null,-1.5e3],"
                       "\"next_cursor\":null}";
    ck_assert_int_eq(items_of(page, &it), 5);
    ck_assert_str_eq(it.seen[0], "{\"a\":0.1,\"s\":\"]},\\\"x\"}"); /* 0.1 as sent */
    ck_assert_str_eq(it.seen[1], "[1,[2]]");
    ck_assert_str_eq(it.seen[2], "\"x\"");
    ck_assert_str_eq(it.seen[3], "null");
    ck_assert_str_eq(it.seen[4], "-1.5e3");
    /* Members before it, blanks anywhere, a key that only looks alike. */
    const char *spaced =
        " {\n \"itemsx\" : [9], \"k\" : {\"items\":[8]} ,\n \"items\" : [ {\"b\" : 2} ,"
        " 3 ] }\n";
    ck_assert_int_eq(items_of(spaced, &it), 2);
    ck_assert_str_eq(it.seen[0], "{\"b\" : 2}");
    ck_assert_str_eq(it.seen[1], "3");
    ck_assert_int_eq(items_of("{\"items\":[]}", &it), 0);
    ck_assert_int_eq(items_of("{\"items\": [ ] }", &it), 0);
}
END_TEST

START_TEST(test_items_missing_or_broken)
{
    struct items it;
    const char *no[] = {"{}",
                        "{\"next_cursor\":null}",
                        "{\"items\":{}}",
                        "[1,2]",
                        "",
                        "{\"items\":[1,2",
                        "{\"items\":[\"unterminated",
                        "{\"items\":[\"\\",
                        "{\"a\":\"\\\"items\\\"\",\"b\":1}",
                        "{\"items\""};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(items_of(no[i], &it) == -1, "items found in %s", no[i]);
}
END_TEST

static int stop_at_second(void *opaque, const char *item, size_t len)
{
    int *calls = opaque;
    return ++*calls == 2 ? 7 : 0;
}

START_TEST(test_items_callback_stops)
{
    int calls = 0;
    const char *page = "{\"items\":[1,2,3]}";
    ck_assert_int_eq(cli_json_items(page, strlen(page), "items", stop_at_second, &calls), 7);
    ck_assert_int_eq(calls, 2);
}
END_TEST

START_TEST(test_trim)
{
    const char *t = "  {\"a\": 1}\n";
    size_t n = strlen(t);
    ck_assert_int_eq(cli_json_trim(&t, &n), 1);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(strncmp(t, "{\"a\": 1}", n), 0);
    const char *multi = "{\n  \"a\": 1\n}";
    n = strlen(multi);
    ck_assert_int_eq(cli_json_trim(&multi, &n), 0);
}
END_TEST

static char *cleaned(const char *s, size_t len, bool keep_newlines)
{
    struct buf b = {0};
    ck_assert_int_eq(cli_out_clean(&b, s, len, keep_newlines), 0);
    return buf_steal(&b);
}

START_TEST(test_clean)
{
    char *c = cleaned("plain ü text", strlen("plain ü text"), false);
    ck_assert_str_eq(c, "plain ü text");
    free(c);
    const char hostile[] = "a\033[2Jb\rc\td\x7f"
                           "e\xc2\x9b"
                           "31mf\n";
    c = cleaned(hostile, sizeof(hostile) - 1, false);
    ck_assert_str_eq(c, "a\\x1b[2Jb\\x0dc\\x09d\\x7fe\\u009b31mf\\x0a");
    free(c);
    c = cleaned("two\nlines", 9, true);
    ck_assert_str_eq(c, "two\nlines");
    free(c);
    c = cleaned("nul\0byte", 8, false);
    ck_assert_str_eq(c, "nul\\x00byte");
    free(c);
    c = cleaned("", 0, false);
    ck_assert_str_eq(c, "");
    free(c);
    /* A lone 0xc2 at the end is passed on, not read past. */
    c = cleaned("x\xc2", 2, false);
    ck_assert_str_eq(c, "x\xc2");
    free(c);
}
END_TEST

START_TEST(test_width)
{
    ck_assert_uint_eq(cli_out_width(""), 0);
    ck_assert_uint_eq(cli_out_width("abc"), 3);
    ck_assert_uint_eq(cli_out_width("zürich"), 6);
    ck_assert_uint_eq(cli_out_width("日本"), 2);
}
END_TEST

static char *printed(const struct cli_table *t, bool color, int indent)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cli_table_print(t, f, color, indent);
    fclose(f);
    return text;
}

START_TEST(test_table)
{
    static const char *const headers[] = {"ID", "TYPE", "NOTE"};
    struct cli_table t;
    cli_table_init(&t, headers, 3);
    const char *r1[] = {"1", "zürich", "x"};
    const char *r2[] = {"22222", NULL, ""};
    const char *r3[] = {"3", "bad\033[31m", "last"};
    ck_assert_int_eq(cli_table_add(&t, r1), 0);
    ck_assert_int_eq(cli_table_add(&t, r2), 0);
    ck_assert_int_eq(cli_table_add(&t, r3), 0);
    char *text = printed(&t, false, 2);
    ck_assert_str_eq(text, "  ID     TYPE         NOTE\n"
                           "  1      zürich       x\n"
                           "  22222  -\n" /* nothing shown after the last cell with text */
                           "  3      bad\\x1b[31m  last\n");
    free(text);
    cli_table_free(&t);
    cli_table_free(&t); /* twice is harmless */
}
END_TEST

START_TEST(test_key_value_colors)
{
    struct cli_table t;
    cli_table_init(&t, NULL, 2);
    const char *a[] = {"status", "done"};
    const char *b[] = {"type", "done"};
    ck_assert_int_eq(cli_table_add(&t, a), 0);
    ck_assert_int_eq(cli_table_add(&t, b), 0);
    char *plain = printed(&t, false, 0);
    ck_assert_str_eq(plain, "status  done\ntype    done\n");
    free(plain);
    char *color = printed(&t, true, 0);
    /* Keys dim; only the status row's value is colored as a status. */
    ck_assert_str_eq(color, "\033[2mstatus\033[0m  \033[32mdone\033[0m\n"
                            "\033[2mtype\033[0m    done\n");
    free(color);
    cli_table_free(&t);
}
END_TEST

START_TEST(test_import_format)
{
    ck_assert_int_eq(cli_import_format_of("[{}]", 4), CLI_IMPORT_ARRAY);
    ck_assert_int_eq(cli_import_format_of("{}\n{}", 5), CLI_IMPORT_NDJSON);
    ck_assert_int_eq(cli_import_format_of(" \r\n\t[", 5), CLI_IMPORT_ARRAY);
    ck_assert_int_eq(cli_import_format_of("\xef\xbb\xbf{", 4), CLI_IMPORT_NDJSON);
    ck_assert_int_eq(cli_import_format_of("\xef\xbb\xbf", 3), CLI_IMPORT_UNKNOWN);
    ck_assert_int_eq(cli_import_format_of("", 0), CLI_IMPORT_UNKNOWN);
    ck_assert_int_eq(cli_import_format_of("   ", 3), CLI_IMPORT_UNKNOWN);
    ck_assert_int_eq(cli_import_format_of("id,name", 7), CLI_IMPORT_UNKNOWN);
    ck_assert_int_eq(cli_import_format_of("\xef\xbb", 2), CLI_IMPORT_UNKNOWN);
    ck_assert_str_eq(cli_import_content_type(CLI_IMPORT_NDJSON), "application/x-ndjson");
    ck_assert_str_eq(cli_import_content_type(CLI_IMPORT_ARRAY), "application/json");
    ck_assert_str_eq(cli_import_content_type(CLI_IMPORT_UNKNOWN), "application/json");
    ck_assert(cli_import_is_gzip((const unsigned char *)"\x1f\x8b\x08", 3));
    ck_assert(!cli_import_is_gzip((const unsigned char *)"\x1f", 1));
    ck_assert(!cli_import_is_gzip((const unsigned char *)"[]", 2));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli_output");
    TCase *json = tcase_create("jsontext");
    tcase_add_test(json, test_items_as_sent);
    tcase_add_test(json, test_items_missing_or_broken);
    tcase_add_test(json, test_items_callback_stops);
    tcase_add_test(json, test_trim);
    suite_add_tcase(s, json);
    TCase *out = tcase_create("output");
    tcase_add_test(out, test_clean);
    tcase_add_test(out, test_width);
    tcase_add_test(out, test_table);
    tcase_add_test(out, test_key_value_colors);
    tcase_add_test(out, test_import_format);
    suite_add_tcase(s, out);
    return s;
}

int main(void)
{
    return check_run(suite());
}
