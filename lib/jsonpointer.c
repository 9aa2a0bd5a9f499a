#include "jsonpointer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jsonpointer_check(const char *ptr, char *err, size_t errlen)
{
    if (!ptr) {
        snprintf(err, errlen, "no pointer");
        return -1;
    }
    if (*ptr && *ptr != '/') {
        snprintf(err, errlen, "a JSON Pointer starts with '/' (for example /date)");
        return -1;
    }
    for (const char *p = ptr; *p; p++) {
        if (*p == '~' && p[1] != '0' && p[1] != '1') {
            snprintf(err, errlen, "'~' must be followed by 0 or 1 (RFC 6901), at offset %zu",
                     (size_t)(p - ptr));
            return -1;
        }
    }
    return 0;
}

/* Unescapes the token [tok, end) into out; false when it does not fit. */
static bool token(const char *tok, const char *end, char *out, size_t outlen, size_t *len)
{
    size_t n = 0;
    for (const char *p = tok; p < end; p++) {
        char c = *p;
        if (c == '~') {
            c = p[1] == '0' ? '~' : '/';
            p++;
        }
        if (n + 1 >= outlen)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    *len = n;
    return true;
}

/* An RFC 6901 array index: "0" or digits without a leading zero. */
static bool array_index(const char *s, size_t len, size_t *out)
{
    if (len == 0 || len > 18 || (len > 1 && s[0] == '0'))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

json_t *jsonpointer_get(json_t *doc, const char *ptr)
{
    /* Only whether it is valid matters here; the reason is not shown. */
    char err[128];
    if (!doc || jsonpointer_check(ptr, err, sizeof(err)) != 0)
        return NULL;
    json_t *cur = doc;
    const char *p = ptr;
    while (*p && cur) {
        const char *tok = p + 1;
        const char *end = strchr(tok, '/');
        if (!end)
            end = tok + strlen(tok);
        /* A member name may hold NUL-free text of any length; 1 KiB covers
         * any field a client would name and keeps this allocation-free. */
        char name[1024];
        size_t len;
        if (!token(tok, end, name, sizeof(name), &len))
            return NULL;
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, name, len);
        } else if (json_is_array(cur)) {
            size_t i;
            cur = array_index(name, len, &i) ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
        p = end;
    }
    return cur;
}
