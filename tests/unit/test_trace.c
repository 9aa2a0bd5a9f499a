/* Unit tests for lib/trace.c: the W3C traceparent parser (every rule of
 * version 00, later versions, hostile input), continuing or starting a
 * trace, the traceparent sent on, request ids, and the ids read back from
 * header values. */
#include "trace.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static int parse(const char *s, struct trace_context *out)
{
    return trace_parse(s, strlen(s), out);
}

static bool lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

START_TEST(test_parse_valid)
{
    struct trace_context c;
    ck_assert_int_eq(parse("00-" TID "-" PID "-01", &c), 0);
    ck_assert_str_eq(c.trace_id, TID);
    ck_assert_str_eq(c.parent_id, PID);
    ck_assert_str_eq(c.span_id, "");
    ck_assert_uint_eq(c.flags, 1);
    ck_assert_int_eq(parse("00-" TID "-" PID "-00", &c), 0);
    ck_assert_uint_eq(c.flags, 0);
    /* Unknown flags are read (and dropped when sent on, below). */
    ck_assert_int_eq(parse("00-" TID "-" PID "-ff", &c), 0);
    ck_assert_uint_eq(c.flags, 0xff);
    /* Ids with zeros in them, just not only zeros. */
    ck_assert_int_eq(parse("00-00000000000000000000000000000001-0000000000000001-01", &c), 0);
    ck_assert_str_eq(c.trace_id, "00000000000000000000000000000001");
}
END_TEST

START_TEST(test_parse_later_versions)
{
    struct trace_context c;
    /* A version-00 reader takes a later version's first 55 characters when
     * nothing or a "-" follows them. */
    ck_assert_int_eq(parse("01-" TID "-" PID "-01", &c), 0);
    ck_assert_str_eq(c.trace_id, TID);
    ck_assert_int_eq(parse("cc-" TID "-" PID "-01-what-the-future-adds", &c), 0);
    ck_assert_str_eq(c.parent_id, PID);
    ck_assert_int_eq(parse("cc-" TID "-" PID "-01x", &c), -1);
    ck_assert_int_eq(parse("cc-" TID "-" PID "-01-", &c), 0);
}
END_TEST

START_TEST(test_parse_invalid)
{
    static const char *const bad[] = {
        "",
        "00",
        "00-" TID "-" PID,                                /* no flags */
        "00-" TID "-" PID "-0",                           /* short flags */
        "00-" TID "-" PID "-01-",                         /* 00 has nothing after */
        "00-" TID "-" PID "-011",                         /* too long */
        " 00-" TID "-" PID "-01",                         /* whitespace */
        "00-" TID "-" PID "-01 ",                         /* whitespace */
        "ff-" TID "-" PID "-01",                          /* version ff is invalid */
        "0g-" TID "-" PID "-01",                          /* not hex */
        "0-" TID "-" PID "-01x",                          /* short version */
        "00-00000000000000000000000000000000-" PID "-01", /* all-zero trace id */
        "00-" TID "-0000000000000000-01",                 /* all-zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", /* upper case */
        "00-" TID "-00F067AA0BA902B7-01",                 /* upper case */
        "00-" TID "-" PID "-0A",                          /* upper-case flags */
        "00_" TID "-" PID "-01",                          /* separators */
        "00-" TID "_" PID "-01",
        "00-" TID "-" PID "_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", /* shifted */
        "00-4bf92f3577b34da6a3ce929d0e0e47366-0f067aa0ba902b7-01",
        "00-" TID "-" PID "-0g",
        "00--" TID PID "-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-" TID "-" PID "-01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct trace_context c;
        memset(&c, 'x', sizeof(c));
        ck_assert_msg(parse(bad[i], &c) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_msg(c.trace_id[0] == '\0' && c.parent_id[0] == '\0' && c.flags == 0,
                      "\"%s\": the context is not cleared", bad[i]);
    }
    struct trace_context c;
    ck_assert_int_eq(trace_parse(NULL, 55, &c), -1);
    /* The length given is what counts, not a NUL: an embedded NUL is invalid. */
    char nul[] = "00-" TID "-" PID "-01";
    nul[10] = '\0';
    ck_assert_int_eq(trace_parse(nul, sizeof(nul) - 1, &c), -1);
    /* A value cut short by its length. */
    ck_assert_int_eq(trace_parse("00-" TID "-" PID "-01", 54, &c), -1);
}
END_TEST

START_TEST(test_parse_every_single_byte_change)
{
    /* Every byte of a valid header replaced by every other byte: valid only
     * when it stays lower-case hex in an id (and not the version made ff). */
    char good[] = "00-" TID "-" PID "-01";
    for (size_t pos = 0; pos < TRACE_PARENT_LEN; pos++) {
        for (int b = 1; b < 256; b++) {
            char s[TRACE_PARENT_LEN + 1];
            memcpy(s, good, sizeof(s));
            if ((unsigned char)s[pos] == b)
                continue;
            s[pos] = (char)b;
            bool hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
            bool separator = pos == 2 || pos == 35 || pos == 52;
            /* A changed version digit is a later version ("f0", "0f": only
             * "ff" is refused, and one byte cannot make it). */
            bool expect = hex && !separator;
            struct trace_context c;
            int rc = trace_parse(s, TRACE_PARENT_LEN, &c);
            ck_assert_msg((rc == 0) == expect, "\"%s\" (byte %zu = 0x%02x): %s", s, pos, b,
                          rc == 0 ? "accepted" : "refused");
        }
    }
    char ff[] = "ff-" TID "-" PID "-01";
    struct trace_context c;
    ck_assert_int_eq(trace_parse(ff, TRACE_PARENT_LEN, &c), -1);
}
END_TEST

START_TEST(test_start_continues_a_valid_trace)
{
    struct trace_context c;
    const char *in = "00-" TID "-" PID "-01";
    trace_start(&c, in, strlen(in));
    ck_assert_str_eq(c.trace_id, TID);
    ck_assert_str_eq(c.parent_id, PID);
    ck_assert_msg(lower_hex(c.span_id, TRACE_SPAN_HEX), "span id \"%s\"", c.span_id);
    ck_assert_str_ne(c.span_id, PID);
    char out[TRACE_PARENT_LEN + 1];
    trace_format(&c, out);
    char want[TRACE_PARENT_LEN + 1];
    snprintf(want, sizeof(want), "00-%s-%s-01", TID, c.span_id);
    ck_assert_str_eq(out, want);
    /* What is sent on parses back to the same trace, with this hop as parent. */
    struct trace_context back;
    ck_assert_int_eq(trace_parse(out, strlen(out), &back), 0);
    ck_assert_str_eq(back.trace_id, TID);
    ck_assert_str_eq(back.parent_id, c.span_id);
}
END_TEST

START_TEST(test_start_new_when_absent_or_invalid)
{
    static const char *const inputs[] = {
        NULL,
        "",
        "garbage",
        "00-00000000000000000000000000000000-" PID "-01",
        "ff-" TID "-" PID "-01",
    };
    char seen[8][TRACE_ID_HEX + 1];
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct trace_context c;
        trace_start(&c, inputs[i], inputs[i] ? strlen(inputs[i]) : 0);
        ck_assert_msg(lower_hex(c.trace_id, TRACE_ID_HEX), "trace id \"%s\"", c.trace_id);
        ck_assert_msg(lower_hex(c.span_id, TRACE_SPAN_HEX), "span id \"%s\"", c.span_id);
        ck_assert_str_ne(c.trace_id, TID);
        ck_assert_str_eq(c.parent_id, "");
        ck_assert_uint_eq(c.flags, 0);
        char out[TRACE_PARENT_LEN + 1];
        trace_format(&c, out);
        struct trace_context back;
        ck_assert_msg(trace_parse(out, strlen(out), &back) == 0, "sent \"%s\"", out);
        ck_assert_str_eq(back.trace_id, c.trace_id);
        ck_assert_msg(out[53] == '0' && out[54] == '0', "new trace flags: %s", out);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(seen[j], c.trace_id) != 0, "trace id repeated: %s", c.trace_id);
        memcpy(seen[i], c.trace_id, sizeof(seen[i]));
    }
}
END_TEST

START_TEST(test_format_drops_unknown_flags)
{
    struct trace_context c;
    const char *in = "00-" TID "-" PID "-fe";
    trace_start(&c, in, strlen(in));
    char out[TRACE_PARENT_LEN + 1];
    trace_format(&c, out);
    ck_assert_str_eq(out + 52, "-00");
    in = "00-" TID "-" PID "-03";
    trace_start(&c, in, strlen(in));
    trace_format(&c, out);
    ck_assert_str_eq(out + 52, "-01");
}
END_TEST

START_TEST(test_request_id)
{
    ck_assert(trace_request_id_valid("req-1", 5));
    ck_assert(trace_request_id_valid("~!@#$%^&*()_+{}|:\"<>?", 21));
    char longest[TRACE_REQUEST_ID_MAX];
    memset(longest, 'a', sizeof(longest));
    ck_assert(trace_request_id_valid(longest, TRACE_REQUEST_ID_MAX - 1));
    ck_assert(!trace_request_id_valid(longest, TRACE_REQUEST_ID_MAX));
    ck_assert(!trace_request_id_valid("", 0));
    ck_assert(!trace_request_id_valid(NULL, 3));
    ck_assert(!trace_request_id_valid("a b", 3));
    ck_assert(!trace_request_id_valid("a\nb", 3));
    ck_assert(!trace_request_id_valid("a\x7f", 2));
    ck_assert(!trace_request_id_valid("caf\xc3\xa9", 5));
    ck_assert(!trace_request_id_valid("a\0b", 3));
}
END_TEST

START_TEST(test_ids_from_headers)
{
    struct trace_ids ids;
    const char *tp = "00-" TID "-" PID "-01";
    trace_ids_from("req-7", 5, tp, strlen(tp), &ids);
    ck_assert_str_eq(ids.request_id, "req-7");
    ck_assert_str_eq(ids.trace_id, TID);
    /* Header values are not NUL-terminated: only len bytes count. */
    trace_ids_from("req-7xyz", 5, tp, TRACE_PARENT_LEN, &ids);
    ck_assert_str_eq(ids.request_id, "req-7");
    trace_ids_from(NULL, 0, NULL, 0, &ids);
    ck_assert_str_eq(ids.request_id, "");
    ck_assert_str_eq(ids.trace_id, "");
    trace_ids_from("bad id", 6, "00-nope", 7, &ids);
    ck_assert_str_eq(ids.request_id, "");
    ck_assert_str_eq(ids.trace_id, "");
    ck_assert_ptr_null(trace_field(ids.trace_id));
    ck_assert_ptr_null(trace_field(NULL));
    ck_assert_str_eq(trace_field("x"), "x");
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *p = tcase_create("parse");
    tcase_add_test(p, test_parse_valid);
    tcase_add_test(p, test_parse_later_versions);
    tcase_add_test(p, test_parse_invalid);
    tcase_add_test(p, test_parse_every_single_byte_change);
    suite_add_tcase(s, p);
    TCase *c = tcase_create("context");
    tcase_add_test(c, test_start_continues_a_valid_trace);
    tcase_add_test(c, test_start_new_when_absent_or_invalid);
    tcase_add_test(c, test_format_drops_unknown_flags);
    tcase_add_test(c, test_request_id);
    tcase_add_test(c, test_ids_from_headers);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return check_run(trace_suite());
}
