#include "body.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Text of the error position: "line 1, column 10". jansson counts columns
 * in characters from 1; position is the byte offset. */
static void where(const json_error_t *err, char *out, size_t outlen)
{
    snprintf(out, outlen, "line %d, column %d, byte %d", err->line, err->column, err->position);
}

/* jansson quotes the offending token in its text ("... near '\"a\"'"). */
static void near_token(const json_error_t *err, char *out, size_t outlen)
{
    const char *near = strstr(err->text, "near '");
    if (!near) {
        snprintf(out, outlen, "?");
        return;
    }
    near += 6;
    size_t n = strlen(near);
    if (n > 0 && near[n - 1] == '\'')
        n--;
    snprintf(out, outlen, "%.*s", (int)(n > 80 ? 80 : n), near);
}

void body_skip_bom(const char **data, size_t *len)
{
    /* RFC 8259 §8.1: implementations MAY ignore a leading byte order mark. */
    if (*len >= 3 && memcmp(*data, "\xef\xbb\xbf", 3) == 0) {
        *data += 3;
        *len -= 3;
    }
}

json_t *body_parse_object(const char *data, size_t len, char *detail, size_t detaillen)
{
    body_skip_bom(&data, &len);
    if (len == 0) {
        snprintf(detail, detaillen, "The request body is empty; expected a JSON object.");
        return NULL;
    }
    json_error_t err;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!doc) {
        char pos[80], token[96];
        where(&err, pos, sizeof(pos));
        near_token(&err, token, sizeof(token));
        switch (json_error_code(&err)) {
        case json_error_duplicate_key:
            snprintf(detail, detaillen,
                     "The key %s appears twice in one object (%s); Sluice refuses duplicate keys "
                     "because the record would be ambiguous. Send each key once.",
                     token, pos);
            break;
        case json_error_numeric_overflow:
            snprintf(detail, detaillen,
                     "Number out of range at %s: %s. Integers must fit in 64 bits "
                     "(-9223372036854775808 to 9223372036854775807) and reals in a double; "
                     "send larger numbers as strings.",
                     pos,
                     strstr(err.text, "real") ? "real number overflow" : "integer out of range");
            break;
        case json_error_invalid_utf8:
            snprintf(detail, detaillen, "The body is not valid UTF-8 (%s).", pos);
            break;
        case json_error_null_character:
        case json_error_null_byte_in_key:
            snprintf(detail, detaillen,
                     "The body has a \\u0000 (NUL) character (%s), which is refused.", pos);
            break;
        default:
            snprintf(detail, detaillen, "The body is not valid JSON: %s (%s).", err.text, pos);
            break;
        }
        return NULL;
    }
    if (!json_is_object(doc)) {
        snprintf(detail, detaillen, "Expected a JSON object, got %s.",
                 json_is_array(doc)    ? "an array"
                 : json_is_string(doc) ? "a string"
                 : json_is_number(doc) ? "a number"
                                       : "a literal");
        json_decref(doc);
        return NULL;
    }
    return doc;
}
