/* jsonsplit: POST /v1/bulk's body, a JSON array of records or NDJSON, cut
 * into records as it streams in (lib/jsonsplit.c; ingest/bulk.c parses each
 * record and hands it to its collection's import, which the collection
 * harnesses fuzz).
 *
 * The same bytes fed whole and in uneven chunks give the same records. When
 * jansson reads the body as one array, the records are its elements, no
 * more and no fewer; when every record of an array stream reads and the
 * stream was whole, jansson reads the body too. NDJSON records are the
 * body's non-blank lines, trimmed. No record is empty. Under a small
 * per-record limit no record handed on is longer than the limit. After a
 * framing error nothing more is emitted. */
#include "support.h"

#include "jsonsplit.h"

#include <stdlib.h>
#include <string.h>

#define SMALL_LIMIT 16
#define LARGE_LIMIT (1u << 20)

struct records {
    struct buf log; /* every emit, for comparing two runs */
    json_t *texts;  /* the records' bytes (NULL entries: an error) */
    size_t errors;
    size_t longest;      /* of the records handed on */
    struct jsonsplit *s; /* the splitter, to see that it has not failed */
    size_t last_index;
};

static void on_record(void *opaque, size_t index, const char *data, size_t len, const char *error)
{
    struct records *r = opaque;
    FUZZ_CHECK(!r->s->failed, "record %zu emitted after a framing error", index);
    FUZZ_CHECK(json_array_size(r->texts) == 0 || index >= r->last_index, "index went back");
    r->last_index = index;
    if (data) {
        FUZZ_CHECK(error == NULL, "a record with an error");
        FUZZ_CHECK(len > 0, "record %zu is empty", index);
        buf_printf(&r->log, "%zu:%zu:", index, len);
        buf_append(&r->log, data, len);
        json_array_append_new(r->texts, json_stringn_nocheck(data, len));
        if (len > r->longest)
            r->longest = len;
    } else {
        FUZZ_CHECK(error != NULL && error[0], "an error without a reason");
        buf_printf(&r->log, "%zu!%s", index, error);
        json_array_append_new(r->texts, json_null());
        r->errors++;
    }
    buf_puts(&r->log, "\n");
}

/* Splits data fed in chunks (0: whole); *ok is what jsonsplit_finish said. */
static void split(const uint8_t *data, size_t size, enum jsonsplit_mode mode, size_t limit,
                  bool chunked, struct records *r, bool *ok)
{
    struct jsonsplit s;
    memset(r, 0, sizeof(*r));
    r->texts = json_array();
    jsonsplit_init(&s, limit, on_record, r);
    s.mode = mode;
    r->s = &s;
    if (!chunked) {
        jsonsplit_feed(&s, (const char *)data, size);
    } else {
        for (size_t at = 0, k = 0; at < size; k++) {
            size_t step = (size_t)(data[k % size] % 7) + 1;
            if (step > size - at)
                step = size - at;
            jsonsplit_feed(&s, (const char *)data + at, step);
            at += step;
        }
    }
    *ok = jsonsplit_finish(&s);
    if (s.failed)
        FUZZ_CHECK(!*ok, "finish succeeded after a framing error");
    jsonsplit_free(&s);
}

static void records_free(struct records *r)
{
    buf_free(&r->log);
    json_decref(r->texts);
}

/* The record's bytes as JSON, or NULL. */
static json_t *record_json(const json_t *text)
{
    return json_loadb(json_string_value(text), json_string_length(text), JSON_DECODE_ANY, NULL);
}

static void check_array(const uint8_t *data, size_t size, const struct records *r, bool ok)
{
    json_t *whole = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (json_is_array(whole)) {
        FUZZ_CHECK(ok && r->errors == 0, "jansson reads the array but the split failed");
        FUZZ_CHECK(json_array_size(r->texts) == json_array_size(whole),
                   "%zu records of an array of %zu", json_array_size(r->texts),
                   json_array_size(whole));
        for (size_t i = 0; i < json_array_size(whole); i++) {
            json_t *got = record_json(json_array_get(r->texts, i));
            FUZZ_CHECK(json_equal(got, json_array_get(whole, i)), "record %zu is not element %zu",
                       i, i);
            json_decref(got);
        }
    } else if (ok && r->errors == 0 && size < 4000) {
        /* Below jansson's depth limit for any element, a stream of records
         * that all read is an array jansson reads. */
        bool all = true;
        for (size_t i = 0; all && i < json_array_size(r->texts); i++) {
            json_t *got = record_json(json_array_get(r->texts, i));
            all = got != NULL;
            json_decref(got);
        }
        FUZZ_CHECK(!all, "every record reads but the body is not a JSON array");
    }
    json_decref(whole);
}

static bool line_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void check_ndjson(const uint8_t *data, size_t size, const struct records *r, bool ok)
{
    FUZZ_CHECK(ok && r->errors == 0, "an NDJSON stream failed");
    size_t n = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size, a = at, b = end;
        while (a < b && line_blank((char)data[a]))
            a++;
        while (b > a && line_blank((char)data[b - 1]))
            b--;
        if (b > a) {
            const json_t *got = json_array_get(r->texts, n);
            FUZZ_CHECK(got && json_string_length(got) == b - a &&
                           memcmp(json_string_value(got), data + a, b - a) == 0,
                       "record %zu is not the line at byte %zu", n, a);
            n++;
        }
        at = end + 1;
    }
    FUZZ_CHECK(n == json_array_size(r->texts), "%zu records of %zu lines",
               json_array_size(r->texts), n);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    struct records whole, chunks, small;
    bool ok_whole, ok_chunks, ok_small;
    split(data, size, JSONSPLIT_DETECT, LARGE_LIMIT, false, &whole, &ok_whole);
    split(data, size, JSONSPLIT_DETECT, LARGE_LIMIT, true, &chunks, &ok_chunks);
    FUZZ_CHECK(
        ok_whole == ok_chunks && whole.log.len == chunks.log.len &&
            (whole.log.len == 0 || memcmp(whole.log.data, chunks.log.data, whole.log.len) == 0),
        "chunked split differs:\n%s\nvs\n%s", whole.log.data ? whole.log.data : "",
        chunks.log.data ? chunks.log.data : "");

    size_t lead = 0;
    while (lead < size &&
           (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n' || data[lead] == '\r'))
        lead++;
    if (lead < size && data[lead] == '[')
        check_array(data, size, &whole, ok_whole);
    else if (lead < size && data[lead] == '{')
        check_ndjson(data, size, &whole, ok_whole);
    else if (lead < size)
        FUZZ_CHECK(!ok_whole, "a body that is neither array nor NDJSON was accepted");

    split(data, size, JSONSPLIT_DETECT, SMALL_LIMIT, true, &small, &ok_small);
    FUZZ_CHECK(small.longest <= SMALL_LIMIT, "a record of %zu bytes passed a limit of %d",
               small.longest, SMALL_LIMIT);
    records_free(&small);

    /* The modes a caller forces (?format=), for coverage of their refusals. */
    struct records forced;
    bool ok_forced;
    split(data, size, JSONSPLIT_ARRAY, SMALL_LIMIT, false, &forced, &ok_forced);
    records_free(&forced);
    split(data, size, JSONSPLIT_NDJSON, SMALL_LIMIT, false, &forced, &ok_forced);
    records_free(&forced);

    records_free(&chunks);
    records_free(&whole);
    return 0;
}
