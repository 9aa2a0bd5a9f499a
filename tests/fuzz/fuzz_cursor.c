/* cursor: the ?cursor= of GET /v1/events and GET /v1/recipes, any text a
 * client sends (lib/cursor.c cursor_decode; ingest/reads.c). A cursor this
 * API never made must be refused: an accepted one is exactly the text
 * cursor_encode writes for what it decoded to. And any (timestamp, id),
 * taken from the input's bytes, encodes to a cursor that decodes back. */
#include "support.h"

#include "cursor.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    int64_t ts;
    struct uuid id;
    if (cursor_decode(s, &ts, &id) == 0) {
        char again[CURSOR_STR_LEN];
        cursor_encode(ts, &id, again);
        FUZZ_CHECK(strcmp(again, s) == 0,
                   "accepted \"%s\" (ts %" PRId64 "), which this module writes as \"%s\"", s, ts,
                   again);
    }
    free(s);

    if (size >= sizeof(int64_t) + sizeof(id.b)) {
        int64_t want_ts;
        struct uuid want_id, got_id;
        memcpy(&want_ts, data, sizeof(want_ts));
        memcpy(want_id.b, data + sizeof(want_ts), sizeof(want_id.b));
        char c[CURSOR_STR_LEN];
        memset(c, 'x', sizeof(c));
        cursor_encode(want_ts, &want_id, c);
        FUZZ_CHECK(memchr(c, '\0', sizeof(c)) != NULL, "cursor_encode overran CURSOR_STR_LEN");
        int64_t got_ts = 0;
        FUZZ_CHECK(cursor_decode(c, &got_ts, &got_id) == 0, "refused its own cursor %s", c);
        FUZZ_CHECK(got_ts == want_ts && memcmp(got_id.b, want_id.b, sizeof(got_id.b)) == 0,
                   "%s decoded to another position", c);
    }
    return 0;
}
