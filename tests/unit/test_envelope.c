/* Unit tests for lib/envelope.c: the Kafka message value of an event write.
 * Build then parse round trips; parse refuses anything a worker could not
 * write (those messages go to the DLQ with the error as the reason). */
#include "envelope.h"

#include "timeutil.h"

#include "check_main.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who writes in these tests: a principal of the default tenant. */
static const struct envelope_origin TESTER = {"tester", NULL};

#define ID "018f3406-9e00-7abc-8def-0123456789ab"

/* A valid envelope; the rejection tests replace one member at a time. */
static json_t *valid_envelope(void)
{
    json_error_t err;
    json_t *env = json_loads("{\"v\":1,\"id\":\"" ID "\",\"operation\":\"create\","
                             "\"collection\":\"events\",\"received_at\":\"2024-05-01T12:00:01."
                             "500000Z\",\"principal\":\"tester\",\"fingerprint\":\"abc\","
                             "\"data\":{\"external_id\":\"ext-1\",\"type\":\"signup\","
                             "\"occurred_at\":\"2024-05-01T12:00:00.000000Z\","
                             "\"body\":{\"k\":\"v\"}}}",
                             0, &err);
    ck_assert_msg(env != NULL, "fixture is not JSON: %s", err.text);
    return env;
}

static int parse_text(const char *text, size_t len, struct event_envelope *ev, char *err,
                      size_t errlen)
{
    /* A heap copy of exactly len bytes (not NUL-terminated), as a Kafka
     * payload is: AddressSanitizer catches any read past it. */
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    int rc = envelope_parse_event(copy, len, ev, err, errlen);
    free(copy);
    return rc;
}

/* Asserts that the document is refused with an error containing want_err,
 * and that the envelope is left empty. */
static void assert_doc_rejected(json_t *doc, const char *want_err, const char *what)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(text);
    struct event_envelope ev;
    memset(&ev, 0xab, sizeof(ev));
    char err[256] = "";
    int rc = parse_text(text, strlen(text), &ev, err, sizeof(err));
    ck_assert_msg(rc == -1, "%s: envelope was accepted: %s", what, text);
    ck_assert_msg(err[0] != '\0', "%s: no error reason", what);
    if (want_err)
        ck_assert_msg(strstr(err, want_err) != NULL, "%s: error \"%s\" does not mention \"%s\"",
                      what, err, want_err);
    ck_assert_msg(ev.root == NULL, "%s: a failed parse kept the JSON tree", what);
    envelope_event_free(&ev); /* safe on a failed parse */
    free(text);
    json_decref(doc);
}

static void assert_member_rejected(const char *object_path, const char *key, json_t *value,
                                   const char *want_err)
{
    json_t *doc = valid_envelope();
    json_t *target = strcmp(object_path, "data") == 0 ? json_object_get(doc, "data") : doc;
    char what[128];
    char *vtext = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(what, sizeof(what), "%s%s%s = %s", object_path[0] ? object_path : "",
             object_path[0] ? "." : "", key, vtext ? vtext : "(absent)");
    free(vtext);
    if (value)
        json_object_set_new(target, key, value);
    else
        json_object_del(target, key);
    assert_doc_rejected(doc, want_err, what);
}

START_TEST(test_build_parse_round_trip)
{
    json_t *body = json_pack("{s:s, s:i, s:[i,i], s:{s:b}, s:n}", "name", "caf\xc3\xa9", "n", 7,
                             "list", 1, 2, "nested", "ok", 1, "nothing");
    struct event_fields f = {
        .id = ID,
        .origin = &TESTER,
        .fingerprint = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        .external_id = "order-42",
        .type = "order.created",
        .received_at_us = INT64_C(1714564801500000),
        .occurred_at_us = INT64_C(1714564800123456),
        .body = body,
    };
    size_t len = 0;
    char *text = envelope_build_event(&f, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));

    struct event_envelope ev;
    char err[256] = "";
    int rc = parse_text(text, len, &ev, err, sizeof(err));
    ck_assert_msg(rc == 0, "built envelope does not parse: %s\n%s", err, text);
    ck_assert_str_eq(ev.id, ID);
    ck_assert_str_eq(ev.fingerprint, f.fingerprint);
    ck_assert_str_eq(ev.external_id, "order-42");
    ck_assert_str_eq(ev.type, "order.created");
    ck_assert_msg(ev.received_at_us == f.received_at_us, "received_at %" PRId64 " != %" PRId64,
                  ev.received_at_us, f.received_at_us);
    ck_assert_msg(ev.occurred_at_us == f.occurred_at_us, "occurred_at %" PRId64 " != %" PRId64,
                  ev.occurred_at_us, f.occurred_at_us);
    ck_assert_msg(json_equal(ev.body, body), "body changed in the round trip: %s", text);
    envelope_event_free(&ev);
    ck_assert_ptr_null(ev.root);
    envelope_event_free(&ev); /* twice is harmless */
    free(text);
    /* The body was borrowed: still ours, with one reference. */
    ck_assert_int_eq(body->refcount, 1);
    json_decref(body);
}
END_TEST

/* The received body spliced in (the write path) gives the very text the
 * jansson build gives when the body is compact, and a valid envelope with
 * the same body when it is not; strings that are not printable ASCII are
 * escaped all the same. */
START_TEST(test_build_with_received_body)
{
    static const char *const types[] = {"order.created", "caf\xc3\xa9 \"quoted\" \\ tab\t", NULL};
    for (size_t t = 0; t < 3; t++) {
        json_t *body = json_pack("{s:s, s:f, s:[i,i], s:{s:b}}", "name", "caf\xc3\xa9\n", "x", 0.1,
                                 "list", 1, 2, "nested", "ok", 1);
        char *compact = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        struct event_fields f = {
            .id = ID,
            .origin = &TESTER,
            .fingerprint = t == 2 ? NULL : "ab12",
            .idempotency_key = t == 1 ? "key \x01 with a control" : NULL,
            .external_id = t == 2 ? NULL : "order-42",
            .type = types[t],
            .received_at_us = INT64_C(1714564801500000),
            .occurred_at_us = INT64_C(-1),
            .body = body,
        };
        char *slow = envelope_build_event(&f, NULL);
        f.body_text = compact;
        f.body_len = strlen(compact);
        size_t len;
        char *fast = envelope_build_event(&f, &len);
        ck_assert_ptr_nonnull(slow);
        ck_assert_ptr_nonnull(fast);
        ck_assert_uint_eq(len, strlen(fast));
        ck_assert_str_eq(fast, slow);
        free(fast);

        /* As a client sends it: spaces, newlines, the number as written. */
        const char *sent = " {\"name\": \"caf\xc3\xa9\\n\",\n \"x\": 0.1, \"list\": [1, 2],"
                           " \"nested\": {\"ok\": true}}\n";
        f.body_text = sent;
        f.body_len = strlen(sent);
        fast = envelope_build_event(&f, &len);
        struct event_envelope ev;
        char err[256] = "";
        ck_assert_msg(parse_text(fast, len, &ev, err, sizeof(err)) == 0, "%s\n%s", err, fast);
        ck_assert_msg(json_equal(ev.body, body), "body changed: %s", fast);
        ck_assert_str_eq(ev.type ? ev.type : "(null)", types[t] ? types[t] : "(null)");
        envelope_event_free(&ev);
        free(fast);
        free(slow);
        free(compact);
        json_decref(body);
    }
}
END_TEST

START_TEST(test_build_shape)
{
    json_t *body = json_object();
    struct event_fields f = {
        .id = ID,
        .origin = &TESTER,
        .received_at_us = 0,
        .occurred_at_us = -1,
        .body = body,
    };
    char *text = envelope_build_event(&f, NULL); /* len is optional */
    ck_assert_ptr_nonnull(text);
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "envelope is not JSON (%s): %s", jerr.text, text);
    ck_assert_msg(json_integer_value(json_object_get(doc, "v")) == ENVELOPE_VERSION, "v: %s", text);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), ID);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "operation")), "create");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "collection")), "events");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "principal")), "tester");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "received_at")),
                     "1970-01-01T00:00:00.000000Z");
    /* Absent optional text is an explicit null, not a missing member. */
    json_t *fp = json_object_get(doc, "fingerprint");
    ck_assert_msg(fp && json_is_null(fp), "fingerprint should be null: %s", text);
    json_t *data = json_object_get(doc, "data");
    ck_assert_msg(json_is_object(data), "data is not an object: %s", text);
    ck_assert_msg(json_is_null(json_object_get(data, "external_id")), "external_id: %s", text);
    ck_assert_msg(json_is_null(json_object_get(data, "type")), "type: %s", text);
    ck_assert_str_eq(json_string_value(json_object_get(data, "occurred_at")),
                     "1969-12-31T23:59:59.999999Z");
    ck_assert_msg(json_is_object(json_object_get(data, "body")), "body: %s", text);
    json_decref(doc);

    /* And it parses with the optional fields NULL. */
    struct event_envelope ev;
    char err[256];
    ck_assert_msg(parse_text(text, strlen(text), &ev, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_null(ev.fingerprint);
    ck_assert_ptr_null(ev.external_id);
    ck_assert_ptr_null(ev.type);
    ck_assert_int_eq(ev.occurred_at_us, -1);
    ck_assert_int_eq(ev.received_at_us, 0);
    envelope_event_free(&ev);
    free(text);
    json_decref(body);
}
END_TEST

START_TEST(test_parse_fixture)
{
    json_t *doc = valid_envelope();
    char *text = json_dumps(doc, JSON_COMPACT);
    struct event_envelope ev;
    char err[256];
    ck_assert_msg(parse_text(text, strlen(text), &ev, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(ev.id, ID);
    ck_assert_str_eq(ev.fingerprint, "abc");
    ck_assert_str_eq(ev.external_id, "ext-1");
    ck_assert_str_eq(ev.type, "signup");
    ck_assert_int_eq(ev.received_at_us, INT64_C(1714564801500000));
    ck_assert_int_eq(ev.occurred_at_us, INT64_C(1714564800000000));
    ck_assert_str_eq(json_string_value(json_object_get(ev.body, "k")), "v");
    envelope_event_free(&ev);
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(test_parse_accepts_offsets_and_absent_optionals)
{
    json_t *doc = valid_envelope();
    json_object_del(doc, "fingerprint");
    json_t *data = json_object_get(doc, "data");
    json_object_del(data, "external_id");
    json_object_set_new(data, "type", json_null());
    json_object_set_new(data, "occurred_at", json_string("2024-05-01T17:30:00+05:30"));
    char *text = json_dumps(doc, JSON_COMPACT);
    struct event_envelope ev;
    char err[256];
    ck_assert_msg(parse_text(text, strlen(text), &ev, err, sizeof(err)) == 0, "%s: %s", err, text);
    ck_assert_ptr_null(ev.fingerprint);
    ck_assert_ptr_null(ev.external_id);
    ck_assert_ptr_null(ev.type);
    ck_assert_int_eq(ev.occurred_at_us, INT64_C(1714564800000000));
    envelope_event_free(&ev);
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(test_round_trip_of_any_accepted_occurred_at)
{
    /* ingest accepts occurred_at with time_parse and puts time_format's text
     * in the envelope; the worker must be able to parse it back, or a
     * 202-accepted event becomes poison. The edges of years 1 and 9999 with
     * an offset are the hard cases. */
    static const char *const inputs[] = {
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        int64_t occurred = 0;
        if (time_parse(inputs[i], &occurred) != 0)
            continue; /* refused at the door: fine */
        json_t *body = json_object();
        struct event_fields f = {.id = ID,
                                 .origin = &TESTER,
                                 .received_at_us = INT64_C(1714564800000000),
                                 .occurred_at_us = occurred,
                                 .body = body};
        size_t len = 0;
        char *text = envelope_build_event(&f, &len);
        ck_assert_ptr_nonnull(text);
        struct event_envelope ev;
        char err[256] = "";
        int rc = parse_text(text, len, &ev, err, sizeof(err));
        ck_assert_msg(
            rc == 0,
            "occurred_at \"%s\" was accepted by time_parse, but the envelope built from it "
            "is refused: %s\n%s",
            inputs[i], err, text);
        ck_assert_int_eq(ev.occurred_at_us, occurred);
        envelope_event_free(&ev);
        free(text);
        json_decref(body);
    }
}
END_TEST

START_TEST(test_rejects_not_json)
{
    static const char *const texts[] = {
        "", "not json", "{", "{\"v\":1", "{\"v\":1,}", "\xff\xfe", "null", "[]", "1", "\"str\"",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct event_envelope ev;
        char err[256] = "";
        int rc = parse_text(texts[i], strlen(texts[i]), &ev, err, sizeof(err));
        ck_assert_msg(rc == -1, "accepted \"%s\"", texts[i]);
        ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", texts[i]);
        ck_assert_ptr_null(ev.root);
    }
    /* A valid envelope cut short, at every length. */
    json_t *doc = valid_envelope();
    char *text = json_dumps(doc, JSON_COMPACT);
    for (size_t len = 0; len < strlen(text); len++) {
        struct event_envelope ev;
        char err[256] = "";
        ck_assert_msg(parse_text(text, len, &ev, err, sizeof(err)) == -1,
                      "accepted a prefix of %zu bytes", len);
    }
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(test_rejects_trailing_bytes_and_duplicates)
{
    json_t *doc = valid_envelope();
    char *text = json_dumps(doc, JSON_COMPACT);
    char *longer = malloc(strlen(text) + 8);
    ck_assert_ptr_nonnull(longer);
    sprintf(longer, "%s{}", text);
    struct event_envelope ev;
    char err[256] = "";
    ck_assert_int_eq(parse_text(longer, strlen(longer), &ev, err, sizeof(err)), -1);
    /* A duplicated member makes the message ambiguous. */
    char *dup = malloc(strlen(text) + 64);
    ck_assert_ptr_nonnull(dup);
    sprintf(dup, "{\"id\":\"00000000-0000-0000-0000-000000000000\",%s", text + 1);
    ck_assert_msg(parse_text(dup, strlen(dup), &ev, err, sizeof(err)) == -1,
                  "duplicate id accepted: %s", dup);
    free(dup);
    free(longer);
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(test_rejects_version)
{
    assert_member_rejected("", "v", json_integer(2), "version");
    assert_member_rejected("", "v", json_integer(0), "version");
    assert_member_rejected("", "v", json_integer(-1), "version");
    assert_member_rejected("", "v", json_string("1"), "version");
    assert_member_rejected("", "v", json_real(1.0), "version");
    assert_member_rejected("", "v", json_true(), "version");
    assert_member_rejected("", "v", json_null(), "version");
    assert_member_rejected("", "v", NULL, "version");
}
END_TEST

START_TEST(test_rejects_collection)
{
    assert_member_rejected("", "collection", json_string("recipes"), "collection");
    assert_member_rejected("", "collection", json_string("Events"), "collection");
    assert_member_rejected("", "collection", json_string(""), "collection");
    assert_member_rejected("", "collection", json_integer(1), "collection");
    assert_member_rejected("", "collection", NULL, "collection");
}
END_TEST

START_TEST(test_rejects_id)
{
    assert_member_rejected("", "id", NULL, "id");
    assert_member_rejected("", "id", json_null(), "id");
    assert_member_rejected("", "id", json_string(""), "id");
    assert_member_rejected("", "id", json_string("not-a-uuid"), "id");
    assert_member_rejected("", "id", json_string("018f34069e007abc8def0123456789ab"), "id");
    assert_member_rejected("", "id", json_string(ID "0"), "id");
    assert_member_rejected("", "id", json_string(" " ID), "id");
    assert_member_rejected("", "id", json_integer(12345), "id");
    assert_member_rejected("", "id", json_pack("[s]", ID), "id");
}
END_TEST

START_TEST(test_rejects_timestamps)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2023-02-29T00:00:00Z",
        "2024-05-01T12:00:00",
        "1714564800",
        "2024-05-01T25:00:00Z",
        "2024-13-01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_member_rejected("", "received_at", json_string(bad[i]), "received_at");
        assert_member_rejected("data", "occurred_at", json_string(bad[i]), "occurred_at");
    }
    assert_member_rejected("", "received_at", NULL, "received_at");
    assert_member_rejected("", "received_at", json_integer(1714564800), "received_at");
    assert_member_rejected("data", "occurred_at", NULL, "occurred_at");
    assert_member_rejected("data", "occurred_at", json_null(), "occurred_at");
    assert_member_rejected("data", "occurred_at", json_integer(1714564800), "occurred_at");
}
END_TEST

START_TEST(test_rejects_optional_types)
{
    assert_member_rejected("", "fingerprint", json_integer(1), "fingerprint");
    assert_member_rejected("", "fingerprint", json_object(), "fingerprint");
    assert_member_rejected("data", "external_id", json_integer(42), "external_id");
    assert_member_rejected("data", "external_id", json_false(), "external_id");
    assert_member_rejected("data", "type", json_integer(1), "type");
    assert_member_rejected("data", "type", json_array(), "type");
}
END_TEST

START_TEST(test_rejects_data_and_body)
{
    assert_member_rejected("", "data", NULL, "data");
    assert_member_rejected("", "data", json_null(), "data");
    assert_member_rejected("", "data", json_array(), "data");
    assert_member_rejected("", "data", json_string("{}"), "data");
    assert_member_rejected("data", "body", NULL, "body");
    assert_member_rejected("data", "body", json_null(), "body");
    assert_member_rejected("data", "body", json_array(), "body");
    assert_member_rejected("data", "body", json_string("{\"k\":\"v\"}"), "body");
    assert_member_rejected("data", "body", json_integer(3), "body");
}
END_TEST

START_TEST(test_failed_parse_leaves_no_dangling_pointers)
{
    /* After a failure the tree is freed, so no member may still point into
     * it: a caller that logs ev.id of a poison message would read freed
     * memory. Each case fails at a different step of the parse. */
    static const char *const cases[][2] = {
        {"v", "2"},
        {"collection", "\"recipes\""},
        {"id", "\"not-a-uuid\""},
        {"received_at", "\"yesterday\""},
        {"data", "[]"},
        {"fingerprint", "7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = valid_envelope();
        json_t *value = json_loads(cases[i][1], JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(value);
        json_object_set_new(doc, cases[i][0], value);
        char *text = json_dumps(doc, JSON_COMPACT);
        struct event_envelope ev;
        char err[256] = "";
        ck_assert_int_eq(parse_text(text, strlen(text), &ev, err, sizeof(err)), -1);
        ck_assert_msg(ev.root == NULL && ev.id == NULL && ev.fingerprint == NULL &&
                          ev.external_id == NULL && ev.type == NULL && ev.body == NULL,
                      "%s = %s (\"%s\"): the failed parse left a pointer into the freed tree "
                      "(id=%p fingerprint=%p body=%p)",
                      cases[i][0], cases[i][1], err, (const void *)ev.id,
                      (const void *)ev.fingerprint, (void *)ev.body);
        free(text);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_small_error_buffer)
{
    json_t *doc = valid_envelope();
    json_object_set_new(doc, "v", json_integer(9));
    char *text = json_dumps(doc, JSON_COMPACT);
    struct event_envelope ev;
    char err[8];
    memset(err, 'x', sizeof(err));
    ck_assert_int_eq(parse_text(text, strlen(text), &ev, err, sizeof(err)), -1);
    ck_assert_msg(memchr(err, '\0', sizeof(err)) != NULL, "error not terminated");
    free(text);
    json_decref(doc);
}
END_TEST

/* Assistance requests: the round trip, and what the notify worker refuses. */
START_TEST(test_assistance_round_trip)
{
    size_t len;
    char *text = envelope_build_assistance(ID, &TESTER, 1714564801500000LL, "sales",
                                           "Gr\xc3\xbc\xc3\x9f"
                                           "e '; DROP TABLE x; --",
                                           NULL, &len);
    ck_assert_ptr_nonnull(text);
    struct assistance_envelope a;
    char err[200] = "";
    ck_assert_msg(envelope_parse_assistance(text, len, &a, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(a.id, ID);
    ck_assert_str_eq(a.topic, "sales");
    ck_assert_str_eq(a.description, "Gr\xc3\xbc\xc3\x9f"
                                    "e '; DROP TABLE x; --");
    ck_assert_ptr_null(a.request_id);
    ck_assert_str_eq(a.received_at, "2024-05-01T12:00:01.500000Z");
    envelope_assistance_free(&a);
    free(text);
}
END_TEST

static void assistance_refused(const char *topic, const char *description, const char *want)
{
    size_t len;
    char *text =
        envelope_build_assistance(ID, &TESTER, 1714564801500000LL, topic, description, "rid", &len);
    ck_assert_ptr_nonnull(text);
    struct assistance_envelope a;
    char err[200] = "";
    ck_assert_msg(envelope_parse_assistance(text, len, &a, err, sizeof(err)) == -1,
                  "accepted topic=%s", topic);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
    ck_assert_ptr_null(a.root);
    free(text);
}

START_TEST(test_assistance_rejects)
{
    char long_text[4002];
    memset(long_text, 'a', 4001);
    long_text[4001] = '\0';
    assistance_refused("Sales", "x", "topic");
    assistance_refused("", "x", "topic");
    assistance_refused("sales", "", "description");
    assistance_refused("sales", long_text, "description");
    long_text[4000] = '\0';
    size_t len;
    char *text =
        envelope_build_assistance(ID, &TESTER, 1714564801500000LL, "sales", long_text, NULL, &len);
    struct assistance_envelope a;
    char err[200];
    ck_assert_int_eq(envelope_parse_assistance(text, len, &a, err, sizeof(err)), 0);
    envelope_assistance_free(&a);
    free(text);
    /* An embedded NUL could cut the text short in C: refused. */
    const char *nul = "{\"v\":1,\"id\":\"" ID "\",\"operation\":\"create\",\"collection\":"
                      "\"assistance\",\"received_at\":\"2024-05-01T12:00:01Z\",\"principal\":\"p\","
                      "\"data\":{\"topic\":\"sales\",\"description\":\"a\\u0000b\"}}";
    ck_assert_int_eq(envelope_parse_assistance(nul, strlen(nul), &a, err, sizeof(err)), -1);
    const char *events = "{\"v\":1,\"id\":\"" ID "\",\"operation\":\"create\",\"collection\":"
                         "\"events\",\"received_at\":\"2024-05-01T12:00:01Z\",\"principal\":\"p\","
                         "\"data\":{\"topic\":\"sales\",\"description\":\"ab\"}}";
    ck_assert_int_eq(envelope_parse_assistance(events, strlen(events), &a, err, sizeof(err)), -1);
}
END_TEST

/* envelope_scan_event on a heap copy of exactly len bytes plus its NUL. */
static int scan_text(const char *text, struct event_scan *out, char **copy)
{
    size_t len = strlen(text);
    *copy = malloc(len + 1);
    ck_assert_ptr_nonnull(*copy);
    memcpy(*copy, text, len + 1);
    return envelope_scan_event(*copy, len, out);
}

/* The envelope ingest writes for these fields (the body as received). */
static char *canonical(const char *type, const char *key, const char *body)
{
    json_t *tree = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(tree);
    struct event_fields f = {.id = ID,
                             .origin = &TESTER,
                             .fingerprint = key ? "fp" : NULL,
                             .idempotency_key = key,
                             .type = type,
                             .received_at_us = INT64_C(1714564801500000),
                             .occurred_at_us = INT64_C(1714564800000000),
                             .body = tree,
                             .body_text = body,
                             .body_len = strlen(body)};
    char *text = envelope_build_event(&f, NULL);
    ck_assert_ptr_nonnull(text);
    json_decref(tree);
    return text;
}

START_TEST(test_scan_reads_what_ingest_writes)
{
    /* Brackets and quotes inside the body's strings do not end it early. */
    const char *body = "{\"s\":\"}}\\\"]{\",\"a\":[{\"b\":[]}],\"n\":-1.5e3}";
    char *text = canonical("order.created", "key-1", body), *copy;
    struct event_scan sc;
    ck_assert_int_eq(scan_text(text, &sc, &copy), 0);
    struct event_envelope ev;
    char err[256];
    ck_assert_int_eq(envelope_parse_event(text, strlen(text), &ev, err, sizeof(err)), 0);
    ck_assert_str_eq(sc.id, ev.id);
    ck_assert_str_eq(sc.principal, "tester");
    ck_assert_str_eq(sc.tenant, envelope_tenant(ev.root));
    ck_assert_str_eq(sc.fingerprint, ev.fingerprint);
    ck_assert_ptr_null(sc.external_id);
    ck_assert_str_eq(sc.type, ev.type);
    ck_assert_str_eq(sc.idempotency_key, ev.idempotency_key);
    ck_assert(sc.received_at_us == ev.received_at_us && sc.occurred_at_us == ev.occurred_at_us);
    ck_assert_uint_eq(sc.body_len, strlen(body));
    ck_assert_str_eq(sc.body, body);
    envelope_event_free(&ev);
    free(copy);
    free(text);

    /* No key, no fingerprint, no type: nulls and an absent member. */
    text = canonical(NULL, NULL, "{}");
    ck_assert_int_eq(scan_text(text, &sc, &copy), 0);
    ck_assert(sc.fingerprint == NULL && sc.type == NULL && sc.idempotency_key == NULL);
    ck_assert_str_eq(sc.body, "{}");
    free(copy);
    free(text);
}
END_TEST

START_TEST(test_scan_leaves_other_forms_to_the_parser)
{
    char *good = canonical("signup", NULL, "{\"k\":\"v\"}");
    const char *body_at = strstr(good, ",\"body\":");
    ck_assert_ptr_nonnull(body_at);
    size_t head = (size_t)(body_at - good);
    char text[1024];
    struct event_scan sc;
    char *copy;
    /* Valid JSON or not, anything but ingest's layout is -1. */
    const char *tails[] = {
        ",\"body\":{\"k\":\"v\"},\"extra\":1}}", /* a member after the body */
        ",\"body\":{\"k\":\"v\"}}} ",            /* trailing space */
        ",\"body\":[1]}}",                       /* not an object */
        ",\"body\":{\"k\":\"v\"}",               /* cut short */
        ",\"body\":{\"k\":\"v}}",                /* an unclosed string */
        ",\"body\":{\"k\":{}}}",                 /* brackets that close too soon */
    };
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        snprintf(text, sizeof(text), "%.*s%s", (int)head, good, tails[i]);
        ck_assert_msg(scan_text(text, &sc, &copy) == -1, "scanned: %s", text);
        free(copy);
    }
    free(good);
    /* Fields that need an escape, or non-ASCII text, take the parser. */
    const char *types[] = {"caf\xc3\xa9", "a\"b", "tab\there"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char *t = canonical(types[i], NULL, "{}");
        ck_assert_msg(scan_text(t, &sc, &copy) == -1, "scanned: %s", t);
        free(copy);
        struct event_envelope ev;
        char err[256];
        ck_assert_msg(envelope_parse_event(t, strlen(t), &ev, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(ev.type, types[i]);
        envelope_event_free(&ev);
        free(t);
    }
    /* The fixture has no tenant (written before tenants): parsed. */
    json_t *doc = valid_envelope();
    char *old = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ck_assert_int_eq(scan_text(old, &sc, &copy), -1);
    free(copy);
    free(old);
    json_decref(doc);
    /* A bad id or time in ingest's layout. */
    char *t = canonical("x", NULL, "{}");
    char *dash = strchr(t, '-');
    *dash = 'g';
    ck_assert_int_eq(scan_text(t, &sc, &copy), -1);
    free(copy);
    free(t);
}
END_TEST

static Suite *envelope_suite(void)
{
    Suite *s = suite_create("envelope");
    TCase *ok = tcase_create("accept");
    tcase_add_test(ok, test_build_parse_round_trip);
    tcase_add_test(ok, test_build_shape);
    tcase_add_test(ok, test_build_with_received_body);
    tcase_add_test(ok, test_parse_fixture);
    tcase_add_test(ok, test_parse_accepts_offsets_and_absent_optionals);
    tcase_add_test(ok, test_round_trip_of_any_accepted_occurred_at);
    tcase_add_test(ok, test_scan_reads_what_ingest_writes);
    tcase_add_test(ok, test_scan_leaves_other_forms_to_the_parser);
    suite_add_tcase(s, ok);

    TCase *bad = tcase_create("reject");
    tcase_add_test(bad, test_rejects_not_json);
    tcase_add_test(bad, test_rejects_trailing_bytes_and_duplicates);
    tcase_add_test(bad, test_rejects_version);
    tcase_add_test(bad, test_rejects_collection);
    tcase_add_test(bad, test_rejects_id);
    tcase_add_test(bad, test_rejects_timestamps);
    tcase_add_test(bad, test_rejects_optional_types);
    tcase_add_test(bad, test_rejects_data_and_body);
    tcase_add_test(bad, test_failed_parse_leaves_no_dangling_pointers);
    tcase_add_test(bad, test_small_error_buffer);
    tcase_add_test(ok, test_assistance_round_trip);
    tcase_add_test(bad, test_assistance_rejects);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    return check_run(envelope_suite());
}
