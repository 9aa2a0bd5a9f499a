/* events: POST /v1/events and the events of POST /v1/bulk, as far as they go
 * without a server: the body parsed as ingest parses it (ingest/body.c),
 * validated and made into its envelope (ingest/events.c events_envelope,
 * ingest/validate.c validate_event), and the collection table's import for
 * "events" (what bulk.c calls for each record). The input is the
 * ?time_field= (empty: none), a newline, then the body.
 *
 * A body is accepted or refused with a reason; an accepted one's envelope
 * reads back in persist (envelope_parse_event) with the body, id and time
 * it was given; POST and import agree on whether it is valid, and a record
 * with an "id" gets the same record id both ways (re-posting or re-importing
 * never doubles it); importing the same record twice gives the same id. */
#include "support.h"

#include "body.h"
#include "collection.h"
#include "envelope.h"
#include "events.h"
#include "uuid.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

/* events_envelope's answer for one way of writing; value NULL when refused. */
struct outcome {
    char *value;
    size_t len;
    char id[UUID_STR_LEN];
    char why[300];
};

static void post(json_t *body, const char *raw, size_t rawlen, const char *idem_key,
                 const char *time_field, struct outcome *o)
{
    struct problem_errors pe = {0};
    char fingerprint[65];
    struct event_options opt = {
        .idem_key = idem_key, .time_field = time_field, .origin = &fuzz_origin};
    memset(o, 0, sizeof(*o));
    bool named = false;
    o->value = events_envelope(body, raw, rawlen, &opt, o->id, fingerprint, &pe, &o->len, &named);
    FUZZ_CHECK((o->value != NULL) == (pe.count == 0), "accepted with %zu problems", pe.count);
    problem_errors_first(&pe, o->why, sizeof(o->why));
    if (o->value) {
        /* Only a key is compared with its body: no key, no fingerprint. */
        FUZZ_CHECK(strlen(fingerprint) == (idem_key ? 64u : 0u), "fingerprint \"%s\"", fingerprint);
        json_t *id = json_object_get(body, "id");
        FUZZ_CHECK(named == (id && !json_is_null(id)), "named %d for a body id of type %d", named,
                   id ? (int)json_typeof(id) : -1);
        FUZZ_CHECK(strlen(o->value) == o->len, "envelope length");
    } else {
        FUZZ_CHECK(o->why[0], "refused without a reason");
    }
    problem_errors_free(&pe);
}

static void import(const json_t *body, const char *raw, size_t rawlen, const char *time_field,
                   struct outcome *o)
{
    const struct collection *c = collection_find("events");
    FUZZ_CHECK(c && c->http && c->http->import, "events has no import");
    json_t *copy = json_deep_copy(body);
    struct import_record rec = {copy, raw, rawlen, time_field, &fuzz_origin};
    memset(o, 0, sizeof(*o));
    bool keyed = false;
    o->value = c->http->import(&rec, o->id, o->why, sizeof(o->why), &o->len, &keyed);
    FUZZ_CHECK(o->value || o->why[0], "import refused without a reason");
    json_decref(copy);
}

static void check_envelope(const struct outcome *o, const json_t *body)
{
    struct event_envelope ev;
    char err[300];
    FUZZ_CHECK(envelope_parse_event(o->value, o->len, &ev, err, sizeof(err)) == 0,
               "persist refuses the envelope ingest wrote: %s", err);
    FUZZ_CHECK(strcmp(ev.id, o->id) == 0, "envelope id %s, answered %s", ev.id, o->id);
    struct uuid u;
    FUZZ_CHECK(uuid_parse(o->id, &u) == 0, "record id \"%s\" is not a UUID", o->id);
    FUZZ_CHECK(json_equal(ev.body, body), "the envelope's body is not the body sent");
    FUZZ_CHECK(ev.received_at_us == FUZZ_NOW_US, "received_at");
    /* persist's fast reading, when it takes the envelope, reads the same
     * fields and a body text that is the body sent. */
    char *copy = malloc(o->len + 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, o->value, o->len + 1);
    struct event_scan sc;
    if (envelope_scan_event(copy, o->len, &sc) == 0) {
        FUZZ_CHECK(strcmp(sc.id, ev.id) == 0, "scanned id %s", sc.id);
        FUZZ_CHECK(strcmp(sc.tenant, envelope_tenant(ev.root)) == 0, "scanned tenant");
        FUZZ_CHECK(!sc.type == !ev.type && (!sc.type || strcmp(sc.type, ev.type) == 0),
                   "scanned type");
        FUZZ_CHECK(!sc.external_id == !ev.external_id &&
                       (!sc.external_id || strcmp(sc.external_id, ev.external_id) == 0),
                   "scanned external_id");
        FUZZ_CHECK(sc.occurred_at_us == ev.occurred_at_us && sc.received_at_us == ev.received_at_us,
                   "scanned times");
        json_t *scanned = json_loadb(sc.body, sc.body_len, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(scanned && json_equal(scanned, body), "the scanned body is not the body sent");
        json_decref(scanned);
    }
    free(copy);
    envelope_event_free(&ev);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *time_field;
    const uint8_t *rest;
    size_t rest_len;
    fuzz_split_line(data, size, &time_field, &rest, &rest_len);
    char why[160];
    const char *tf = NULL;
    if (time_field[0]) {
        if (!validate_time_field(time_field, why, sizeof(why)))
            goto out; /* a 400 before the body is read */
        tf = time_field;
    }
    char detail[400];
    detail[0] = '\0';
    json_t *body = body_parse_object((const char *)rest, rest_len, detail, sizeof(detail));
    if (!body) {
        FUZZ_CHECK(detail[0], "body refused without a reason");
        goto out;
    }
    FUZZ_CHECK(json_is_object(body), "body_parse_object returned a non-object");

    struct outcome posted, keyed, imported, again;
    post(body, (const char *)rest, rest_len, NULL, tf, &posted);
    post(body, (const char *)rest, rest_len, "fuzz-key", tf, &keyed);
    import(body, (const char *)rest, rest_len, tf, &imported);
    import(body, (const char *)rest, rest_len, tf, &again);

    FUZZ_CHECK((posted.value != NULL) == (imported.value != NULL) &&
                   (keyed.value != NULL) == (posted.value != NULL),
               "POST and import disagree: \"%s\" / \"%s\"", posted.why, imported.why);
    FUZZ_CHECK((imported.value != NULL) == (again.value != NULL) &&
                   strcmp(imported.id, again.id) == 0,
               "importing twice gave two ids: %s, %s", imported.id, again.id);
    if (posted.value) {
        check_envelope(&posted, body);
        check_envelope(&keyed, body);
        check_envelope(&imported, body);
        json_t *given = json_object_get(body, "id");
        if (json_is_string(given) || json_is_integer(given)) {
            FUZZ_CHECK(strcmp(posted.id, imported.id) == 0 && strcmp(keyed.id, posted.id) == 0,
                       "id %s posted, %s keyed, %s imported", posted.id, keyed.id, imported.id);
        }
    }
    free(posted.value);
    free(keyed.value);
    free(imported.value);
    free(again.value);
    json_decref(body);
out:
    free(time_field);
    return 0;
}
