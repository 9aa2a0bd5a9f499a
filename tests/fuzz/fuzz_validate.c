/* validate: the header- and query-sized checks, each fed the whole input
 * as a NUL-terminated string, as libmicrohttpd hands a header or a query
 * parameter over: Content-Type, Idempotency-Key (and webhook-id), UTF-8 of
 * query text, ?time_field= (ingest/validate.c), Prefer: wait=N
 * (ingest/waiters.c) and ?contains= / ?q= made into a LIKE pattern
 * (ingest/reads.c).
 *
 * validate_utf8 agrees with jansson's own UTF-8 check (it refuses overlongs,
 * surrogates and code points past U+10FFFF); an idempotency key is exactly 1
 * to 255 visible ASCII bytes; a JSON content type names application/json or
 * a +json type; a wait is none or 1 to WAIT_MAX_SECONDS; the LIKE pattern
 * matches the text itself, its %, _ and \ escaped, between two %s. */
#include "support.h"

#include "reads.h"
#include "utf8.h"
#include "validate.h"
#include "waiters.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fuzz_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    size_t len = strlen(s);

    json_t *as_json = json_string(s);
    FUZZ_CHECK(validate_utf8(s) == (as_json != NULL), "validate_utf8 says %d, jansson %d",
               validate_utf8(s), as_json != NULL);
    json_decref(as_json);
    if (validate_utf8(s)) {
        size_t chars = 0;
        for (size_t i = 0; i < len; i++)
            chars += ((unsigned char)s[i] & 0xc0) != 0x80;
        FUZZ_CHECK(utf8_length(s) == chars, "utf8_length %zu, %zu code points", utf8_length(s),
                   chars);
    }

    bool visible = len >= 1 && len <= 255;
    for (size_t i = 0; visible && i < len; i++)
        visible = (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f;
    FUZZ_CHECK(validate_idempotency_key(s) == visible, "idempotency key validity is wrong");

    if (validate_json_content_type(s)) {
        size_t type_len = strcspn(s, ";");
        while (type_len && (s[type_len - 1] == ' ' || s[type_len - 1] == '\t'))
            type_len--;
        FUZZ_CHECK(strncasecmp(s, "application/", 12) == 0 &&
                       (type_len == 16 || strncasecmp(s + type_len - 5, "+json", 5) == 0),
                   "\"%s\" taken as JSON", s);
    }

    char detail[160];
    memset(detail, 'x', sizeof(detail));
    if (!validate_time_field(s, detail, sizeof(detail)))
        FUZZ_CHECK(memchr(detail, '\0', sizeof(detail)) != NULL && detail[0], "no reason given");

    int wait = waiters_parse_prefer(s);
    FUZZ_CHECK(wait == -1 || (wait >= 1 && wait <= WAIT_MAX_SECONDS), "wait %d", wait);

    struct buf like = {0};
    reads_like_pattern(s, &like);
    FUZZ_CHECK(like.len >= 2 && like.data[0] == '%' && like.data[like.len - 1] == '%',
               "pattern \"%s\"", like.data);
    size_t at = 0;
    for (size_t i = 1; i + 1 < like.len; i++) {
        char c = like.data[i];
        FUZZ_CHECK(c != '%' && c != '_', "an unescaped %c in \"%s\"", c, like.data);
        if (c == '\\') {
            c = like.data[++i];
            FUZZ_CHECK(i + 1 < like.len && (c == '%' || c == '_' || c == '\\'),
                       "a stray escape in \"%s\"", like.data);
        }
        FUZZ_CHECK(at < len && s[at] == c, "the pattern is not the text: \"%s\"", like.data);
        at++;
    }
    FUZZ_CHECK(at == len, "the pattern lost text: \"%s\"", like.data);
    buf_free(&like);
    free(s);
    return 0;
}
