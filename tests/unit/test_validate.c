/* Unit tests for ingest/validate.c: content types, request bodies (including
 * hostile ones), the recognised event fields, UTF-8 and idempotency keys. */
#include "validate.h"
#include "body.h"

#include "check_main.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW INT64_C(1714564800000000) /* 2024-05-01T12:00:00Z */

/* ---- content types ---------------------------------------------------- */

static const char *const json_types[] = {
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json ; charset=utf-8",
    "application/json\t;charset=utf-8",
    "APPLICATION/JSON",
    "Application/Json",
    "application/merge-patch+json",
    "application/problem+json",
    "application/vnd.sluice.event+json; charset=utf-8",
    "application/ld+json",
    "application/cloudevents+JSON",
};

static const char *const non_json_types[] = {
    "",
    "text/plain",
    "text/json",
    "text/plain+json",
    "application/jsonx",
    "application/json5",
    "application/jso",
    "application/",
    "application",
    "application/+json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json+xml",
    "json",
    "+json",
    "/json",
    ";application/json",
    "application/jsonp; charset=utf-8",
    "image/svg+xml",
};

START_TEST(test_json_content_type_accepted)
{
    ck_assert_msg(validate_json_content_type(json_types[_i]), "\"%s\" should be JSON",
                  json_types[_i]);
}
END_TEST

START_TEST(test_json_content_type_rejected)
{
    ck_assert_msg(!validate_json_content_type(non_json_types[_i]), "\"%s\" should not be JSON",
                  non_json_types[_i]);
}
END_TEST

START_TEST(test_json_content_type_null)
{
    ck_assert(!validate_json_content_type(NULL));
}
END_TEST

/* ---- parse_object ----------------------------------------------------- */

/* Parses a heap copy of exactly len bytes (no terminator): AddressSanitizer
 * catches a read past the body. */
static json_t *parse_heap(const char *body, size_t len, char *detail, size_t detaillen)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, body, len);
    json_t *doc = body_parse_object(copy, len, detail, detaillen);
    free(copy);
    return doc;
}

static void assert_body_rejected(const char *body, size_t len, const char *want_in_detail)
{
    char detail[256];
    memset(detail, 0, sizeof(detail));
    json_t *doc = parse_heap(body, len, detail, sizeof(detail));
    ck_assert_msg(doc == NULL, "body \"%.*s\" was accepted", (int)(len > 80 ? 80 : len), body);
    ck_assert_msg(detail[0] != '\0', "no detail for body \"%.*s\"", (int)(len > 80 ? 80 : len),
                  body);
    ck_assert_msg(strchr(detail, '\n') == NULL, "detail is not one line: %s", detail);
    if (want_in_detail)
        ck_assert_msg(strstr(detail, want_in_detail) != NULL,
                      "detail for \"%.*s\" is \"%s\"; expected it to mention \"%s\"",
                      (int)(len > 80 ? 80 : len), body, detail, want_in_detail);
}

#define REJECT(lit, want) assert_body_rejected(lit, sizeof(lit) - 1, want)

START_TEST(test_parse_object_ok)
{
    char detail[256] = "";
    const char body[] = "{\"type\":\"signup\",\"n\":1,\"nested\":{\"a\":[1,2,{\"b\":null}]}}";
    json_t *doc = parse_heap(body, sizeof(body) - 1, detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "valid object rejected: %s", detail);
    ck_assert(json_is_object(doc));
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "signup");
    ck_assert_int_eq(doc->refcount, 1); /* a new reference for the caller */
    json_decref(doc);

    /* Whitespace around, an empty object, non-ASCII, escaped non-BMP. */
    static const char *const ok[] = {
        "{}",
        " \n\t{ }\r\n ",
        "{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}",
        "{\"s\":\"\\ud834\\udd1e\"}",
        "{\"big\":123456789012345678}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        doc = parse_heap(ok[i], strlen(ok[i]), detail, sizeof(detail));
        ck_assert_msg(doc != NULL, "\"%s\" rejected: %s", ok[i], detail);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_parse_object_empty)
{
    REJECT("", "empty");
}
END_TEST

START_TEST(test_parse_object_not_objects)
{
    REJECT("[]", "array");
    REJECT("[{\"a\":1}]", "array");
    REJECT("\"string\"", "string");
    REJECT("42", "number");
    REJECT("-1.5e3", "number");
    REJECT("true", NULL);
    REJECT("false", NULL);
    REJECT("null", NULL);
}
END_TEST

START_TEST(test_parse_object_malformed)
{
    REJECT("{", NULL);
    REJECT("}", NULL);
    REJECT("{\"a\":}", NULL);
    REJECT("{\"a\":1,}", NULL);
    REJECT("{'a':1}", NULL);
    REJECT("{a:1}", NULL);
    REJECT("{\"a\":1}}", NULL);
    REJECT("{\"a\":1} {}", NULL);
    REJECT("{\"a\":1}x", NULL);
    REJECT("{\"a\":NaN}", NULL);
    REJECT("{\"a\":Infinity}", NULL);
    REJECT("{\"a\":01}", NULL);
    REJECT("{\"a\":\"unterminated}", NULL);
    REJECT("{\"a\":\"bad escape \\x41\"}", NULL);
    REJECT("{\"a\":\"\\u12\"}", NULL);
    REJECT("{\"a\":\"raw\ttab\"}", NULL);
    REJECT("{\"a\":\"raw\nnewline\"}", NULL);
    REJECT("{\"a\":1 /* comment */}", NULL);
    REJECT("   ", NULL);
    /* A NUL byte inside the body (not an escape), before and after the object. */
    REJECT("{\"a\":\"x\0y\"}", NULL);
    REJECT("{}\0", NULL);
    REJECT("\0{}", NULL);
}
END_TEST

START_TEST(test_parse_object_invalid_utf8)
{
    REJECT("{\"a\":\"\xff\"}", NULL);
    REJECT("{\"a\":\"\xc3\"}", NULL);             /* truncated sequence */
    REJECT("{\"a\":\"\xc0\xaf\"}", NULL);         /* overlong '/' */
    REJECT("{\"a\":\"\xed\xa0\x80\"}", NULL);     /* encoded surrogate */
    REJECT("{\"a\":\"\xf4\x90\x80\x80\"}", NULL); /* above U+10FFFF */
    REJECT("{\"\xfe\":1}", NULL);                 /* in a key */
    REJECT("{\"a\":1}\xff", NULL);                /* after the object */
    /* A leading BOM is skipped (RFC 8259 8.1), one inside is not JSON. */
    json_t *doc = parse_heap("\xef\xbb\xbf{}", 5, NULL, 0);
    ck_assert_msg(doc != NULL, "a leading BOM is refused");
    json_decref(doc);
    REJECT("{\"a\":1}\xef\xbb\xbf", NULL);
}
END_TEST

START_TEST(test_parse_object_nul_escape)
{
    REJECT("{\"a\":\"x\\u0000y\"}", NULL);
    REJECT("{\"a\\u0000\":1}", NULL);
    REJECT("{\"a\":\"\\u0000\"}", NULL);
}
END_TEST

START_TEST(test_parse_object_lone_surrogate_escape)
{
    REJECT("{\"a\":\"\\ud800\"}", NULL);
    REJECT("{\"a\":\"\\udc00\"}", NULL);
    REJECT("{\"a\":\"\\ud800\\u0041\"}", NULL);
}
END_TEST

START_TEST(test_parse_object_duplicate_keys)
{
    REJECT("{\"a\":1,\"a\":2}", NULL);
    REJECT("{\"type\":\"x\",\"id\":1,\"type\":\"y\"}", NULL);
    REJECT("{\"o\":{\"k\":1,\"k\":1}}", NULL);
    /* The same key in different objects is fine. */
    char detail[256];
    const char ok[] = "{\"a\":{\"a\":1},\"b\":{\"a\":2}}";
    json_t *doc = parse_heap(ok, sizeof(ok) - 1, detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "rejected: %s", detail);
    json_decref(doc);
    /* Keys that differ only after an escape are different keys. */
    const char ok2[] = "{\"a\":1,\"\\u0061b\":2}";
    doc = parse_heap(ok2, sizeof(ok2) - 1, detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "rejected: %s", detail);
    json_decref(doc);
    /* "\u0061" is "a": a duplicate in disguise. */
    REJECT("{\"a\":1,\"\\u0061\":2}", NULL);
}
END_TEST

static char *nested(const char *open, const char *inner, const char *close, size_t depth,
                    size_t *len)
{
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    *len = depth * (lo + lc) + li;
    char *s = malloc(*len + 1);
    ck_assert_ptr_nonnull(s);
    char *p = s;
    for (size_t i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (size_t i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

START_TEST(test_parse_object_deep_nesting)
{
    /* 10000 levels must be refused, not recursed into until the stack ends. */
    size_t len;
    char *objs = nested("{\"a\":", "1", "}", 10000, &len);
    assert_body_rejected(objs, len, NULL);
    free(objs);
    char *arrs = nested("[", "", "]", 10000, &len);
    char *wrapped = malloc(len + 8);
    ck_assert_ptr_nonnull(wrapped);
    int n = snprintf(wrapped, len + 8, "{\"a\":%s}", arrs);
    assert_body_rejected(wrapped, (size_t)n, NULL);
    free(wrapped);
    free(arrs);
    /* Unbalanced: only openings. */
    char *open_only = nested("[", "", "", 100000, &len);
    assert_body_rejected(open_only, len, NULL);
    free(open_only);
    /* Moderate nesting is ordinary JSON. */
    char *ok = nested("{\"a\":", "1", "}", 100, &len);
    char detail[256];
    json_t *doc = parse_heap(ok, len, detail, sizeof(detail));
    ck_assert_msg(doc != NULL, "100 levels rejected: %s", detail);
    json_decref(doc);
    free(ok);
}
END_TEST

START_TEST(test_parse_object_small_detail_buffer)
{
    char detail[8];
    memset(detail, 'x', sizeof(detail));
    const char body[] = "{\"a\":";
    json_t *doc = parse_heap(body, sizeof(body) - 1, detail, sizeof(detail));
    ck_assert_ptr_null(doc);
    ck_assert_msg(memchr(detail, '\0', sizeof(detail)) != NULL, "detail not terminated");
}
END_TEST

/* ---- validate_event --------------------------------------------------- */

static json_t *obj(const char *text)
{
    json_error_t err;
    json_t *o = json_loads(text, JSON_DECODE_ANY, &err);
    ck_assert_msg(o != NULL, "fixture %s is not JSON: %s", text, err.text);
    return o;
}

static const char *error_pointer(const struct problem_errors *pe, size_t i)
{
    json_t *e = json_array_get(pe->list, i);
    ck_assert_msg(e != NULL, "no error #%zu", i);
    return json_string_value(json_object_get(e, "pointer"));
}

/* Validates text and asserts exactly one problem, at pointer. */
static void assert_one_problem(const char *text, const char *pointer)
{
    json_t *o = obj(text);
    struct problem_errors pe = {0};
    struct event_input in;
    size_t n = validate_event(o, NOW, NULL, &in, &pe);
    ck_assert_msg(n == 1, "%s: expected 1 problem at %s, got %zu", text, pointer, n);
    ck_assert_uint_eq(pe.count, 1);
    ck_assert_str_eq(error_pointer(&pe, 0), pointer);
    json_t *msg = json_object_get(json_array_get(pe.list, 0), "message");
    ck_assert_msg(json_is_string(msg) && json_string_length(msg) > 0, "%s: no message", text);
    problem_errors_free(&pe);
    json_decref(o);
}

/* Validates text and asserts no problem; returns the input (type borrowed
 * from *keep, which the caller releases). */
static struct event_input assert_valid(const char *text, json_t **keep)
{
    json_t *o = obj(text);
    struct problem_errors pe = {0};
    struct event_input in;
    memset(&in, 0x5a, sizeof(in));
    size_t n = validate_event(o, NOW, NULL, &in, &pe);
    if (n != 0) {
        char *errs = json_dumps(pe.list, JSON_COMPACT);
        ck_abort_msg("%s: expected no problems, got %zu: %s", text, n, errs);
    }
    problem_errors_free(&pe);
    *keep = o;
    return in;
}

START_TEST(test_event_empty_object_defaults)
{
    json_t *o;
    struct event_input in = assert_valid("{}", &o);
    ck_assert_ptr_null(in.type);
    ck_assert_msg(in.occurred_at_us == NOW, "occurred_at defaulted to %" PRId64 ", not now",
                  in.occurred_at_us);
    ck_assert_str_eq(in.external_id, "");
    json_decref(o);

    /* Explicit nulls mean "absent". */
    in = assert_valid("{\"type\":null,\"occurred_at\":null,\"id\":null}", &o);
    ck_assert_ptr_null(in.type);
    ck_assert_int_eq(in.occurred_at_us, NOW);
    ck_assert_str_eq(in.external_id, "");
    json_decref(o);
}
END_TEST

START_TEST(test_event_all_fields)
{
    json_t *o;
    struct event_input in =
        assert_valid("{\"type\":\"order.created\",\"occurred_at\":\"2024-05-01T17:30:00+05:30\","
                     "\"id\":\"order-42\",\"other\":[1,2,3]}",
                     &o);
    ck_assert_str_eq(in.type, "order.created");
    ck_assert_ptr_eq(in.type, json_string_value(json_object_get(o, "type"))); /* borrowed */
    ck_assert_int_eq(in.occurred_at_us, NOW);
    ck_assert_str_eq(in.external_id, "order-42");
    json_decref(o);

    in = assert_valid("{\"occurred_at\":\"2024-05-01\"}", &o);
    ck_assert_int_eq(in.occurred_at_us, NOW - INT64_C(12) * 3600 * 1000000);
    json_decref(o);
}
END_TEST

START_TEST(test_event_type_rules)
{
    assert_one_problem("{\"type\":5}", "/type");
    assert_one_problem("{\"type\":true}", "/type");
    assert_one_problem("{\"type\":[\"a\"]}", "/type");
    assert_one_problem("{\"type\":{\"a\":1}}", "/type");
    assert_one_problem("{\"type\":\"\"}", "/type");

    /* 200 characters is the limit, counted in characters, not bytes. */
    char text[1024];
    char type[600];
    memset(type, 'a', 200);
    type[200] = '\0';
    snprintf(text, sizeof(text), "{\"type\":\"%s\"}", type);
    json_t *o;
    struct event_input in = assert_valid(text, &o);
    ck_assert_uint_eq(strlen(in.type), 200);
    json_decref(o);
    type[200] = 'a';
    type[201] = '\0';
    snprintf(text, sizeof(text), "{\"type\":\"%s\"}", type);
    assert_one_problem(text, "/type");

    type[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(type, "\xc3\xa9"); /* 200 characters, 400 bytes */
    snprintf(text, sizeof(text), "{\"type\":\"%s\"}", type);
    in = assert_valid(text, &o);
    ck_assert_uint_eq(strlen(in.type), 400);
    json_decref(o);
    strcat(type, "\xc3\xa9");
    snprintf(text, sizeof(text), "{\"type\":\"%s\"}", type);
    assert_one_problem(text, "/type");
}
END_TEST

START_TEST(test_event_occurred_at_rules)
{
    assert_one_problem("{\"occurred_at\":\"yesterday\"}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":\"\"}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":\"2023-02-29T00:00:00Z\"}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":\"2024-05-01T12:00:00\"}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":1714564800}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":1714564800.5}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":{}}", "/occurred_at");
    assert_one_problem("{\"occurred_at\":true}", "/occurred_at");
}
END_TEST

START_TEST(test_event_id_rules)
{
    assert_one_problem("{\"id\":1.5}", "/id");
    assert_one_problem("{\"id\":1e3}", "/id");
    assert_one_problem("{\"id\":{}}", "/id");
    assert_one_problem("{\"id\":{\"a\":1}}", "/id");
    assert_one_problem("{\"id\":[]}", "/id");
    assert_one_problem("{\"id\":true}", "/id");
    assert_one_problem("{\"id\":\"\"}", "/id");

    char text[1024], id[300];
    memset(id, 'x', VALIDATE_ID_MAX);
    id[VALIDATE_ID_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"id\":\"%s\"}", id);
    json_t *o;
    struct event_input in = assert_valid(text, &o);
    ck_assert_str_eq(in.external_id, id);
    json_decref(o);
    id[VALIDATE_ID_MAX] = 'x';
    id[VALIDATE_ID_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "{\"id\":\"%s\"}", id);
    assert_one_problem(text, "/id");
    /* A much longer id is refused without overflowing external_id. */
    char *huge = malloc(100000);
    ck_assert_ptr_nonnull(huge);
    memcpy(huge, "{\"id\":\"", 7);
    memset(huge + 7, 'y', 99000);
    memcpy(huge + 7 + 99000, "\"}", 3);
    assert_one_problem(huge, "/id");
    free(huge);
}
END_TEST

START_TEST(test_event_integer_id)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"{\"id\":42}", "42"},
        {"{\"id\":0}", "0"},
        {"{\"id\":-7}", "-7"},
        {"{\"id\":9223372036854775807}", "9223372036854775807"},
        {"{\"id\":-9223372036854775808}", "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o;
        struct event_input in = assert_valid(cases[i].json, &o);
        ck_assert_str_eq(in.external_id, cases[i].want);
        json_decref(o);
    }
    /* A string of digits stays as written. */
    json_t *o;
    struct event_input in = assert_valid("{\"id\":\"007\"}", &o);
    ck_assert_str_eq(in.external_id, "007");
    json_decref(o);
}
END_TEST

START_TEST(test_event_several_problems)
{
    json_t *o = obj("{\"type\":5,\"occurred_at\":\"x\",\"id\":1.5}");
    struct problem_errors pe = {0};
    problem_errors_add(&pe, "/earlier", "already there");
    struct event_input in;
    size_t n = validate_event(o, NOW, NULL, &in, &pe);
    /* The return value counts only the problems this call added. */
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(pe.count, 4);
    ck_assert_str_eq(error_pointer(&pe, 0), "/earlier");
    ck_assert_str_eq(error_pointer(&pe, 1), "/type");
    ck_assert_str_eq(error_pointer(&pe, 2), "/occurred_at");
    ck_assert_str_eq(error_pointer(&pe, 3), "/id");
    ck_assert_ptr_null(in.type);
    problem_errors_free(&pe);
    json_decref(o);
}
END_TEST

/* ---- UTF-8 ------------------------------------------------------------- */

static const char *const good_utf8[] = {
    "",
    "plain ASCII \x01\x7f",
    "caf\xc3\xa9",
    "\xc2\x80",         /* U+0080, smallest 2-byte */
    "\xdf\xbf",         /* U+07FF */
    "\xe0\xa0\x80",     /* U+0800, smallest 3-byte */
    "\xe2\x82\xac",     /* euro sign */
    "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
    "\xee\x80\x80",     /* U+E000, just above */
    "\xef\xbf\xbf",     /* U+FFFF */
    "\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
    "\xf0\x9d\x84\x9e", /* musical G clef */
    "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
    "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
    "z",
};

static const char *const bad_utf8[] = {
    "\x80", /* lone continuation */
    "\xbf",
    "a\x80z",
    "\xc0\x80",                 /* overlong NUL */
    "\xc0\xaf",                 /* overlong '/' */
    "\xc1\xbf",                 /* overlong */
    "\xe0\x80\x80",             /* overlong 3-byte */
    "\xe0\x9f\xbf",             /* overlong U+07FF */
    "\xf0\x80\x80\x80",         /* overlong 4-byte */
    "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
    "\xed\xa0\x80",             /* U+D800 surrogate */
    "\xed\xbf\xbf",             /* U+DFFF surrogate */
    "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
    "\xf4\x90\x80\x80",         /* U+110000 */
    "\xf5\x80\x80\x80",
    "\xf7\xbf\xbf\xbf",
    "\xf8\x88\x80\x80\x80", /* 5-byte form */
    "\xfc\x84\x80\x80\x80\x80",
    "\xfe",
    "\xff",
    "\xc3", /* truncated at the end */
    "\xe2\x82",
    "\xf0\x9d\x84",
    "\xc3(", /* continuation missing */
    "\xe2(\xac",
    "\xf0\x9d(\x9e",
    "\xe2\x82\xac\xc3",
};

START_TEST(test_utf8_good)
{
    ck_assert_msg(validate_utf8(good_utf8[_i]), "good UTF-8 #%d rejected", _i);
}
END_TEST

START_TEST(test_utf8_bad)
{
    /* On an exact-size heap copy: a truncated sequence must not be read past. */
    char *copy = strdup(bad_utf8[_i]);
    ck_assert_ptr_nonnull(copy);
    bool ok = validate_utf8(copy);
    free(copy);
    ck_assert_msg(!ok, "bad UTF-8 #%d accepted", _i);
}
END_TEST

/* ---- idempotency keys ------------------------------------------------- */

START_TEST(test_idempotency_key)
{
    ck_assert(validate_idempotency_key("a"));
    ck_assert(validate_idempotency_key("8e03978e-40d5-43e8-bc93-6894a57f9324"));
    ck_assert(validate_idempotency_key("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"));
    ck_assert(validate_idempotency_key("~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"));
    char all[128];
    size_t n = 0;
    for (int c = 0x21; c <= 0x7e; c++)
        all[n++] = (char)c;
    all[n] = '\0';
    ck_assert_msg(validate_idempotency_key(all), "every visible ASCII character should be allowed");

    char key[300];
    memset(key, 'k', 255);
    key[255] = '\0';
    ck_assert_msg(validate_idempotency_key(key), "255 characters should be allowed");
    key[255] = 'k';
    key[256] = '\0';
    ck_assert_msg(!validate_idempotency_key(key), "256 characters should be refused");

    static const char *const bad[] = {
        "",     " ",    "has space", " lead",       "trail ", "tab\there", "nl\n",
        "cr\r", "\x01", "del\x7f",   "caf\xc3\xa9", "\x80",   "\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!validate_idempotency_key(bad[i]), "key #%zu should be refused", i);
}
END_TEST

/* ---- the record's time (issue 9 item 7) ------------------------------- */

static int64_t time_of(const char *text, const char *time_field)
{
    json_t *o = obj(text);
    struct problem_errors pe = {0};
    struct event_input in;
    size_t n = validate_event(o, NOW, time_field, &in, &pe);
    if (n != 0) {
        char *errs = json_dumps(pe.list, JSON_COMPACT);
        ck_abort_msg("%s (time_field %s): expected no problems, got %s", text,
                     time_field ? time_field : "none", errs);
    }
    problem_errors_free(&pe);
    json_decref(o);
    return in.occurred_at_us;
}

static void assert_time_problem(const char *text, const char *time_field, const char *pointer)
{
    json_t *o = obj(text);
    struct problem_errors pe = {0};
    struct event_input in;
    size_t n = validate_event(o, NOW, time_field, &in, &pe);
    ck_assert_msg(n == 1, "%s (time_field %s): expected 1 problem at %s, got %zu", text,
                  time_field ? time_field : "none", pointer, n);
    ck_assert_str_eq(error_pointer(&pe, 0), pointer);
    problem_errors_free(&pe);
    json_decref(o);
}

#define DAY_2015_06_01 (INT64_C(1433116800) * 1000000)

START_TEST(test_event_recognised_time_fields)
{
    /* Each recognised name alone, then the order among them. */
    ck_assert_int_eq(time_of("{\"timestamp\":\"2015-06-01T00:00:00Z\"}", NULL), DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"date\":\"2015-06-01\"}", NULL), DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"created_at\":\"2015-06-01\"}", NULL), DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"time\":\"2015-06-01\"}", NULL), DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"date\":\"2015-06-01\",\"occurred_at\":\"2016-01-01\"}", NULL),
                     INT64_C(1451606400) * 1000000);
    ck_assert_int_eq(time_of("{\"time\":\"2016-01-01\",\"timestamp\":\"2015-06-01\"}", NULL),
                     DAY_2015_06_01);
    /* null is absent: the next name is used, then the time of receipt. */
    ck_assert_int_eq(time_of("{\"occurred_at\":null,\"date\":\"2015-06-01\"}", NULL),
                     DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"when\":\"2015-06-01\"}", NULL), NOW);
    /* The first present one must parse: no silent fallback to receipt. */
    assert_time_problem("{\"date\":\"last tuesday\",\"time\":\"2015-06-01\"}", NULL, "/date");
    assert_time_problem("{\"timestamp\":1433116800}", NULL, "/timestamp");
}
END_TEST

START_TEST(test_event_named_time_field)
{
    ck_assert_int_eq(time_of("{\"date\":\"2015-06-01\",\"occurred_at\":\"2016-01-01\"}", "/date"),
                     DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"meta\":{\"at\":\"2015-06-01\"}}", "/meta/at"), DAY_2015_06_01);
    ck_assert_int_eq(time_of("{\"a/b\":{\"c~d\":[\"x\",\"2015-06-01\"]}}", "/a~1b/c~0d/1"),
                     DAY_2015_06_01);
    /* Named: missing, null or unparsable is a problem at that pointer, even
     * when a recognised name holds a good time. */
    assert_time_problem("{\"occurred_at\":\"2015-06-01\"}", "/date", "/date");
    assert_time_problem("{\"date\":null}", "/date", "/date");
    assert_time_problem("{\"date\":\"06/01/2015\"}", "/date", "/date");
    assert_time_problem("{\"meta\":{\"at\":{}}}", "/meta/at", "/meta/at");
    assert_time_problem("{\"a/b\":1}", "/a~1b", "/a~1b");
}
END_TEST

START_TEST(test_time_field_parameter)
{
    char d[128];
    ck_assert(validate_time_field("/date", d, sizeof(d)));
    ck_assert(validate_time_field("/a~0b/c~1d/0", d, sizeof(d)));
    ck_assert(validate_time_field("/", d, sizeof(d))); /* the member named "" */
    const char *bad[] = {"", "date", "/a~2", "/a~", "~1", "/\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(d, 0, sizeof(d));
        ck_assert_msg(!validate_time_field(bad[i], d, sizeof(d)), "time_field %s accepted", bad[i]);
        ck_assert_msg(d[0] != '\0', "time_field %s refused without a reason", bad[i]);
    }
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *ct = tcase_create("content_type");
    tcase_add_loop_test(ct, test_json_content_type_accepted, 0,
                        sizeof(json_types) / sizeof(json_types[0]));
    tcase_add_loop_test(ct, test_json_content_type_rejected, 0,
                        sizeof(non_json_types) / sizeof(non_json_types[0]));
    tcase_add_test(ct, test_json_content_type_null);
    suite_add_tcase(s, ct);

    TCase *po = tcase_create("parse_object");
    tcase_set_timeout(po, 30);
    tcase_add_test(po, test_parse_object_ok);
    tcase_add_test(po, test_parse_object_empty);
    tcase_add_test(po, test_parse_object_not_objects);
    tcase_add_test(po, test_parse_object_malformed);
    tcase_add_test(po, test_parse_object_invalid_utf8);
    tcase_add_test(po, test_parse_object_nul_escape);
    tcase_add_test(po, test_parse_object_lone_surrogate_escape);
    tcase_add_test(po, test_parse_object_duplicate_keys);
    tcase_add_test(po, test_parse_object_deep_nesting);
    tcase_add_test(po, test_parse_object_small_detail_buffer);
    suite_add_tcase(s, po);

    TCase *ev = tcase_create("event");
    tcase_add_test(ev, test_event_empty_object_defaults);
    tcase_add_test(ev, test_event_all_fields);
    tcase_add_test(ev, test_event_type_rules);
    tcase_add_test(ev, test_event_occurred_at_rules);
    tcase_add_test(ev, test_event_id_rules);
    tcase_add_test(ev, test_event_integer_id);
    tcase_add_test(ev, test_event_several_problems);
    tcase_add_test(ev, test_event_recognised_time_fields);
    tcase_add_test(ev, test_event_named_time_field);
    tcase_add_test(ev, test_time_field_parameter);
    suite_add_tcase(s, ev);

    TCase *u8 = tcase_create("utf8");
    tcase_add_loop_test(u8, test_utf8_good, 0, sizeof(good_utf8) / sizeof(good_utf8[0]));
    tcase_add_loop_test(u8, test_utf8_bad, 0, sizeof(bad_utf8) / sizeof(bad_utf8[0]));
    suite_add_tcase(s, u8);

    TCase *ik = tcase_create("idempotency_key");
    tcase_add_test(ik, test_idempotency_key);
    suite_add_tcase(s, ik);
    return s;
}

int main(void)
{
    return check_run(validate_suite());
}
