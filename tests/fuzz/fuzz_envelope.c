/* envelope: what sluice-persist reads from sluice.events, any bytes at all
 * (a message someone else produced, or one cut short). envelope_scan_event
 * (lib/envelope.c), persist's fast reading, and envelope_parse_event, its
 * fallback, agree: whatever the scan takes whose body is JSON, the parser
 * takes too, with the same fields and body; a scanned body that is not JSON
 * is left for PostgreSQL to refuse (the message then goes to the DLQ). And
 * persist_event_read, either way, gives fields the parser would. */
#include "support.h"

#include "envelope.h"
#include "persist_batch.h"

#include <stdlib.h>
#include <string.h>

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct event_scan sc;
    struct event_envelope ev;
    char err[300];
    int scanned = envelope_scan_event(copy, size, &sc);
    int parsed = envelope_parse_event(data, size, &ev, err, sizeof(err));
    if (scanned == 0) {
        FUZZ_CHECK(sc.body_len == strlen(sc.body) && sc.body[0] == '{', "scanned body");
        json_t *body = json_loadb(sc.body, sc.body_len, JSON_REJECT_DUPLICATES, NULL);
        if (body) {
            FUZZ_CHECK(parsed == 0, "scanned, but the parser refuses it: %s", err);
            FUZZ_CHECK(same_text(sc.id, ev.id) && same_text(sc.fingerprint, ev.fingerprint) &&
                           same_text(sc.type, ev.type) &&
                           same_text(sc.external_id, ev.external_id) &&
                           same_text(sc.idempotency_key, ev.idempotency_key) &&
                           same_text(sc.tenant, envelope_tenant(ev.root)),
                       "the scan and the parser read other fields");
            FUZZ_CHECK(sc.received_at_us == ev.received_at_us &&
                           sc.occurred_at_us == ev.occurred_at_us,
                       "the scan and the parser read other times");
            FUZZ_CHECK(json_equal(body, ev.body), "the scan and the parser read other bodies");
        }
        json_decref(body);
    }
    struct persist_event pe;
    if (persist_event_read(data, size, &pe, err, sizeof(err)) == 0) {
        FUZZ_CHECK(scanned == 0 || parsed == 0, "read what neither reading takes");
        if (parsed == 0) {
            FUZZ_CHECK(same_text(pe.f.id, ev.id) && same_text(pe.f.type, ev.type),
                       "persist_event_read's fields differ from the parser's");
            json_t *body = json_loadb(pe.f.body, pe.f.body_len, 0, NULL);
            FUZZ_CHECK(body && json_equal(body, ev.body), "persist_event_read's body differs");
            json_decref(body);
        }
        persist_event_release(&pe);
    } else {
        FUZZ_CHECK(scanned != 0 && parsed != 0, "refused what one reading takes");
    }
    if (parsed == 0)
        envelope_event_free(&ev);
    free(copy);
    return 0;
}
