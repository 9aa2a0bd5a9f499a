/* Unit tests for persist/persist_events.c's persist_copy_row: one event as a
 * line of COPY ... FROM STDIN text format, with backslash, tab, newline and
 * carriage return escaped and NULL as \N, so no value can break out of its
 * column or row. Envelopes are made the way the worker gets them: built as
 * ingest builds them, then read with persist_event_read (scanned, or parsed
 * when a field needs a JSON escape; both ways give the same row). */
#include "persist_batch.h"

#include "buf.h"
#include "envelope.h"

#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who writes in these tests: a principal of the default tenant. */
static const struct envelope_origin TESTER = {"tester", NULL};

#define ID "018f3406-9e00-7abc-8def-0123456789ab"
#define OCCURRED INT64_C(1714564800000000) /* 2024-05-01T12:00:00Z */
#define RECEIVED INT64_C(1714564801500000) /* 2024-05-01T12:00:01.5Z */

struct opt {
    const char *external_id, *type, *fingerprint;
    const char *body_json; /* NULL for {} */
    int64_t occurred, received;
};

/* The envelope text ingest writes for o (the body spliced in as received). */
static char *build_envelope(const struct opt *o, size_t *len)
{
    const char *body_json = o->body_json ? o->body_json : "{}";
    json_error_t jerr;
    json_t *body = json_loads(body_json, 0, &jerr);
    ck_assert_msg(body != NULL, "fixture body is not JSON: %s", jerr.text);
    struct event_fields f = {
        .id = ID,
        .origin = &TESTER,
        .fingerprint = o->fingerprint,
        .external_id = o->external_id,
        .type = o->type,
        .received_at_us = o->received,
        .occurred_at_us = o->occurred,
        .body = body,
        .body_text = body_json,
        .body_len = strlen(body_json),
    };
    char *text = envelope_build_event(&f, len);
    ck_assert_ptr_nonnull(text);
    json_decref(body);
    return text;
}

static void read_envelope(const char *text, size_t len, struct persist_event *ev)
{
    char err[256] = "";
    ck_assert_msg(persist_event_read(text, len, ev, err, sizeof(err)) == 0,
                  "envelope was not read: %s\n%s", err, text);
}

static void make_envelope(const struct opt *o, struct persist_event *ev)
{
    size_t len = 0;
    char *text = build_envelope(o, &len);
    read_envelope(text, len, ev);
    free(text);
}

static void assert_row(const struct opt *o, const char *want)
{
    struct persist_event ev;
    make_envelope(o, &ev);
    struct buf out = {0};
    persist_copy_row(&out, &ev);
    /* Every row ends with its tenant: these are the default one's. */
    char expected[4096];
    snprintf(expected, sizeof(expected), "%.*s\tdefault\n", (int)strlen(want) - 1, want);
    ck_assert_msg(out.data != NULL && strcmp(out.data, expected) == 0,
                  "COPY row differs.\nexpected: %s\ngot:      %s", expected,
                  out.data ? out.data : "(nothing)");
    buf_free(&out);
    persist_event_release(&ev);
}

START_TEST(test_row_with_nulls)
{
    struct opt o = {.occurred = OCCURRED, .received = RECEIVED};
    assert_row(&o, ID "\t\\N\t\\N\t2024-05-01T12:00:00.000000Z\t2024-05-01T12:00:01.500000Z\t{}\t"
                      "\\N\n");
}
END_TEST

START_TEST(test_row_plain_values)
{
    struct opt o = {
        .external_id = "order-42",
        .type = "order.created",
        .fingerprint = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        .body_json = "{\"a\":1,\"b\":[true,null],\"c\":\"caf\xc3\xa9\"}",
        .occurred = OCCURRED + 123456,
        .received = RECEIVED,
    };
    assert_row(&o,
               ID "\torder-42\torder.created\t2024-05-01T12:00:00.123456Z\t"
                  "2024-05-01T12:00:01.500000Z\t{\"a\":1,\"b\":[true,null],\"c\":\"caf\xc3\xa9\"}"
                  "\t5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\n");
}
END_TEST

START_TEST(test_row_escapes_text_fields)
{
    struct opt o = {
        .external_id = "a\tb\nc\\d\re",
        .type = "t\\N",       /* the text \N, which must not read as NULL */
        .fingerprint = "\\N", /* likewise */
        .occurred = OCCURRED,
        .received = RECEIVED,
    };
    assert_row(&o, ID "\ta\\tb\\nc\\\\d\\re\tt\\\\N\t2024-05-01T12:00:00.000000Z\t"
                      "2024-05-01T12:00:01.500000Z\t{}\t\\\\N\n");
}
END_TEST

START_TEST(test_row_empty_strings_are_not_null)
{
    /* Only absence is \N; an empty string is an empty column. */
    struct opt o = {.external_id = "",
                    .type = "",
                    .fingerprint = "",
                    .occurred = OCCURRED,
                    .received = RECEIVED};
    assert_row(&o, ID "\t\t\t2024-05-01T12:00:00.000000Z\t2024-05-01T12:00:01.500000Z\t{}\t\n");
}
END_TEST

START_TEST(test_row_escapes_body)
{
    /* JSON text already escapes control characters as \n, \t, \u0001; each
     * backslash of that text is doubled for COPY. */
    struct opt o = {
        .body_json = "{\"msg\":\"line1\\nline2\",\"path\":\"C:\\\\x\",\"tab\":\"\\t\","
                     "\"ctl\":\"\\u0001\",\"q\":\"\\\"\"}",
        .occurred = OCCURRED,
        .received = RECEIVED,
    };
    assert_row(&o, ID "\t\\N\t\\N\t2024-05-01T12:00:00.000000Z\t2024-05-01T12:00:01.500000Z\t"
                      "{\"msg\":\"line1\\\\nline2\",\"path\":\"C:\\\\\\\\x\",\"tab\":\"\\\\t\","
                      "\"ctl\":\"\\\\u0001\",\"q\":\"\\\\\"\"}\t\\N\n");
}
END_TEST

START_TEST(test_row_timestamps_before_1970)
{
    struct opt o = {.occurred = -1, .received = INT64_C(-2208988800000000)};
    assert_row(&o, ID "\t\\N\t\\N\t1969-12-31T23:59:59.999999Z\t1900-01-01T00:00:00.000000Z\t{}\t"
                      "\\N\n");
}
END_TEST

/* Splits one COPY text row into fields and undoes the escaping; NULL for \N.
 * Returns the number of fields. Fails the test on an escape COPY would
 * misread. */
static size_t copy_unescape_row(const char *row, size_t rowlen, char *fields[], size_t max)
{
    ck_assert_msg(rowlen > 0 && row[rowlen - 1] == '\n', "row does not end with a newline");
    size_t n = 0;
    const char *p = row, *end = row + rowlen - 1;
    while (p <= end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *stop = tab ? tab : end;
        ck_assert_uint_lt(n, max);
        if (stop - p == 2 && p[0] == '\\' && p[1] == 'N') {
            fields[n++] = NULL;
        } else {
            char *f = malloc((size_t)(stop - p) + 1), *o = f;
            ck_assert_ptr_nonnull(f);
            for (const char *q = p; q < stop; q++) {
                ck_assert_msg(*q != '\n' && *q != '\r', "raw line break inside a field");
                if (*q != '\\') {
                    *o++ = *q;
                    continue;
                }
                q++;
                ck_assert_msg(q < stop, "a field ends with a lone backslash");
                switch (*q) {
                case '\\':
                    *o++ = '\\';
                    break;
                case 't':
                    *o++ = '\t';
                    break;
                case 'n':
                    *o++ = '\n';
                    break;
                case 'r':
                    *o++ = '\r';
                    break;
                default:
                    ck_abort_msg("unexpected escape \\%c in a COPY field", *q);
                }
            }
            *o = '\0';
            fields[n++] = f;
        }
        p = stop + 1;
    }
    return n;
}

START_TEST(test_row_round_trips_every_ascii_byte)
{
    /* Every ASCII byte 1..127 in every text column; unescaping the row as
     * PostgreSQL would gives back exactly the seven values. */
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    char body_json[1024];
    json_t *s = json_string(all);
    char *enc = json_dumps(s, JSON_ENCODE_ANY);
    snprintf(body_json, sizeof(body_json), "{\"all\":%s}", enc);
    free(enc);
    json_decref(s);

    struct opt o = {.external_id = all,
                    .type = all,
                    .fingerprint = all,
                    .body_json = body_json,
                    .occurred = OCCURRED,
                    .received = RECEIVED};
    struct persist_event ev;
    make_envelope(&o, &ev);
    struct buf out = {0};
    persist_copy_row(&out, &ev);
    /* Two rows in one buffer: appending must not disturb the first. */
    persist_copy_row(&out, &ev);
    ck_assert_uint_eq(out.len % 2, 0);
    size_t rowlen = out.len / 2;
    ck_assert_msg(memcmp(out.data, out.data + rowlen, rowlen) == 0, "the second row differs");

    size_t raw_newlines = 0, raw_tabs = 0;
    for (size_t i = 0; i < rowlen; i++) {
        raw_newlines += out.data[i] == '\n';
        raw_tabs += out.data[i] == '\t';
    }
    ck_assert_msg(raw_newlines == 1, "row has %zu raw newlines; only the terminator is allowed",
                  raw_newlines);
    ck_assert_msg(raw_tabs == 7, "row has %zu raw tabs; 8 columns need exactly 7", raw_tabs);

    char *fields[9] = {0};
    size_t n = copy_unescape_row(out.data, rowlen, fields, 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(fields[0], ID);
    ck_assert_str_eq(fields[1], all);
    ck_assert_str_eq(fields[2], all);
    ck_assert_str_eq(fields[3], "2024-05-01T12:00:00.000000Z");
    ck_assert_str_eq(fields[4], "2024-05-01T12:00:01.500000Z");
    json_error_t jerr;
    json_t *body = json_loads(fields[5], 0, &jerr);
    ck_assert_msg(body != NULL, "body column is not JSON after unescaping (%s): %s", jerr.text,
                  fields[5]);
    ck_assert_str_eq(json_string_value(json_object_get(body, "all")), all);
    json_decref(body);
    ck_assert_str_eq(fields[6], all);
    for (size_t i = 0; i < n; i++)
        free(fields[i]);
    buf_free(&out);
    persist_event_release(&ev);
}
END_TEST

START_TEST(test_row_long_values)
{
    /* Long values with escapes throughout, across buffer growth. */
    size_t len = 100000;
    char *ext = malloc(len + 1);
    ck_assert_ptr_nonnull(ext);
    for (size_t i = 0; i < len; i++)
        ext[i] = "a\\\t\n"[i % 4];
    ext[len] = '\0';
    struct opt o = {.external_id = ext, .occurred = OCCURRED, .received = RECEIVED};
    struct persist_event ev;
    make_envelope(&o, &ev);
    struct buf out = {0};
    persist_copy_row(&out, &ev);
    char *fields[9] = {0};
    size_t n = copy_unescape_row(out.data, out.len, fields, 9);
    ck_assert_uint_eq(n, 8);
    ck_assert_msg(strcmp(fields[1], ext) == 0, "long external_id did not survive escaping");
    ck_assert_ptr_null(fields[2]);
    ck_assert_ptr_null(fields[6]);
    for (size_t i = 0; i < n; i++)
        free(fields[i]);
    buf_free(&out);
    persist_event_release(&ev);
    free(ext);
}
END_TEST

START_TEST(test_scanned_and_parsed_rows_agree)
{
    /* The same envelope, once as ingest writes it (scanned) and once with a
     * space after its first brace (valid JSON in another form: parsed), for
     * a body whose text jansson would write the same way. */
    struct opt o = {.external_id = "order-42",
                    .type = "order.created",
                    .fingerprint = "ab12",
                    .body_json = "{\"a\":[1,2.5,\"x\\ty\"],\"b\":{\"c\":null}}",
                    .occurred = OCCURRED,
                    .received = RECEIVED};
    size_t len = 0;
    char *text = build_envelope(&o, &len);
    char *spaced = malloc(len + 2);
    ck_assert_ptr_nonnull(spaced);
    spaced[0] = '{';
    spaced[1] = ' ';
    memcpy(spaced + 2, text + 1, len - 1);
    spaced[len + 1] = '\0';
    struct persist_event scanned, parsed;
    read_envelope(text, len, &scanned);
    read_envelope(spaced, len + 1, &parsed);
    ck_assert_msg(scanned.text != NULL && scanned.root == NULL, "ingest's layout was not scanned");
    ck_assert_msg(parsed.text == NULL && parsed.root != NULL, "another layout was not parsed");
    struct buf a = {0}, b = {0};
    persist_copy_row(&a, &scanned);
    persist_copy_row(&b, &parsed);
    ck_assert_str_eq(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
    persist_event_release(&scanned);
    persist_event_release(&parsed);
    free(spaced);
    free(text);
}
END_TEST

START_TEST(test_unreadable_envelope_is_refused)
{
    /* Neither form: the reason is the parser's. */
    const char *bad = "{\"v\":1,\"id\":\"not-a-uuid\"}";
    struct persist_event ev;
    char err[256] = "";
    ck_assert_int_eq(persist_event_read(bad, strlen(bad), &ev, err, sizeof(err)), -1);
    ck_assert_msg(err[0] != '\0', "refused without a reason");
    ck_assert_ptr_null(ev.text);
    ck_assert_ptr_null(ev.root);
}
END_TEST

static Suite *persist_batch_suite(void)
{
    Suite *s = suite_create("persist_batch");
    TCase *tc = tcase_create("copy_row");
    tcase_add_test(tc, test_row_with_nulls);
    tcase_add_test(tc, test_row_plain_values);
    tcase_add_test(tc, test_row_escapes_text_fields);
    tcase_add_test(tc, test_row_empty_strings_are_not_null);
    tcase_add_test(tc, test_row_escapes_body);
    tcase_add_test(tc, test_row_timestamps_before_1970);
    tcase_add_test(tc, test_row_round_trips_every_ascii_byte);
    tcase_add_test(tc, test_row_long_values);
    tcase_add_test(tc, test_scanned_and_parsed_rows_agree);
    tcase_add_test(tc, test_unreadable_envelope_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(persist_batch_suite());
}
