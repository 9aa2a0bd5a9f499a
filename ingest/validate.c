#include "validate.h"

#include "jsonpointer.h"
#include "timeutil.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool validate_json_content_type(const char *ct)
{
    if (!ct)
        return false;
    size_t len = strcspn(ct, ";");
    while (len > 0 && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
        len--;
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return len > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + len - 5, "+json", 5) == 0;
}

static bool utf8_length_between(const char *s, size_t min, size_t max)
{
    size_t chars = utf8_length(s);
    return chars >= min && chars <= max;
}

const char *const validate_time_fields[] = {"occurred_at", "timestamp", "date", "created_at",
                                            "time"};
const size_t validate_time_field_count =
    sizeof(validate_time_fields) / sizeof(validate_time_fields[0]);

#define TIME_RULE "an RFC 3339 date-time (2024-05-01T12:00:00Z) or a date (2024-05-01)"

bool validate_time_field(const char *pointer, char *detail, size_t detaillen)
{
    char why[128];
    if (jsonpointer_check(pointer, why, sizeof(why)) != 0) {
        snprintf(detail, detaillen, "%s", why);
        return false;
    }
    if (!*pointer) {
        /* "" names the whole record, which is an object, never a time. */
        snprintf(detail, detaillen,
                 "names the whole record; name its time field (for example "
                 "/date)");
        return false;
    }
    if (!validate_utf8(pointer)) {
        snprintf(detail, detaillen, "is not valid UTF-8");
        return false;
    }
    return true;
}

/* The record's time: at the named pointer, or under the first of the
 * recognised names that is present. Numbers are refused rather than guessed
 * at (seconds or milliseconds?). */
static void event_time(json_t *obj, const char *time_field, struct event_input *out,
                       struct problem_errors *pe)
{
    char pointer[1100];
    json_t *v = NULL;
    if (time_field) {
        snprintf(pointer, sizeof(pointer), "%s", time_field);
        v = jsonpointer_get(obj, time_field);
        if (!v || json_is_null(v)) {
            problem_errors_add(pe, pointer,
                               "is missing: time_field names this member as the record's time");
            return;
        }
    } else {
        for (size_t i = 0; i < validate_time_field_count && !v; i++) {
            v = json_object_get(obj, validate_time_fields[i]);
            if (v && json_is_null(v))
                v = NULL;
            if (v)
                snprintf(pointer, sizeof(pointer), "/%s", validate_time_fields[i]);
        }
        if (!v)
            return;
    }
    if (!json_is_string(v) || time_parse(json_string_value(v), &out->occurred_at_us) != 0) {
        out->occurred_at_us = 0;
        problem_errors_add(pe, pointer, "must be " TIME_RULE);
        return;
    }
    out->timed = true;
}

size_t validate_event(json_t *obj, int64_t now_us, const char *time_field, struct event_input *out,
                      struct problem_errors *pe)
{
    size_t before = pe->count;
    memset(out, 0, sizeof(*out));
    out->occurred_at_us = now_us;

    json_t *type = json_object_get(obj, "type");
    if (type && !json_is_null(type)) {
        if (!json_is_string(type))
            problem_errors_add(pe, "/type", "must be a string");
        else if (!utf8_length_between(json_string_value(type), 1, 200))
            problem_errors_add(pe, "/type", "must be 1 to 200 characters");
        else
            out->type = json_string_value(type);
    }

    event_time(obj, time_field, out, pe);
    if (!out->timed)
        out->occurred_at_us = now_us;

    json_t *id = json_object_get(obj, "id");
    if (id && !json_is_null(id)) {
        if (json_is_integer(id)) {
            snprintf(out->external_id, sizeof(out->external_id), "%lld",
                     (long long)json_integer_value(id));
        } else if (json_is_string(id)) {
            const char *s = json_string_value(id);
            size_t len = strlen(s);
            if (len == 0 || len > VALIDATE_ID_MAX)
                problem_errors_add(pe, "/id", "must be 1 to %d bytes", VALIDATE_ID_MAX);
            else
                memcpy(out->external_id, s, len + 1);
        } else {
            problem_errors_add(pe, "/id", "must be a string or an integer");
        }
    }
    return pe->count - before;
}

bool validate_idempotency_key(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (key[i] <= 0x20 || key[i] >= 0x7f)
            return false;
    }
    return true;
}

bool validate_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}
