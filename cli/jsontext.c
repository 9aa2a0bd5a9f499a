#include "jsontext.h"

#include <stdbool.h>
#include <string.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && blank(*p))
        p++;
    return p;
}

/* p is just past an opening quote; returns just past the closing one. */
static const char *skip_string(const char *p, const char *end)
{
    while (p < end) {
        if (*p == '\\') {
            if (end - p < 2)
                return NULL;
            p += 2;
        } else if (*p++ == '"') {
            return p;
        }
    }
    return NULL;
}

const char *cli_json_skip(const char *p, const char *end)
{
    p = skip_blanks(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p + 1, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !blank(*p) && *p != ',' && *p != ']' && *p != '}' && *p != ':')
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return p;
        }
    }
    return NULL;
}

long cli_json_items(const char *text, size_t len, const char *name,
                    int (*fn)(void *opaque, const char *item, size_t len), void *opaque)
{
    const char *end = text + len, *p = skip_blanks(text, end);
    size_t name_len = strlen(name);
    if (p >= end || *p != '{')
        return -1;
    p++;
    for (;;) {
        p = skip_blanks(p, end);
        if (p >= end || *p != '"')
            return -1;
        const char *key = p + 1, *key_end = skip_string(key, end);
        if (!key_end)
            return -1;
        p = skip_blanks(key_end, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_blanks(p + 1, end);
        bool match = (size_t)(key_end - 1 - key) == name_len && memcmp(key, name, name_len) == 0;
        if (match && p < end && *p == '[') {
            long count = 0;
            p = skip_blanks(p + 1, end);
            if (p < end && *p == ']')
                return 0;
            while (p < end) {
                const char *item_end = cli_json_skip(p, end);
                if (!item_end)
                    return -1;
                int rc = fn(opaque, p, (size_t)(item_end - p));
                if (rc != 0)
                    return rc;
                count++;
                p = skip_blanks(item_end, end);
                if (p < end && *p == ']')
                    return count;
                if (p >= end || *p != ',')
                    return -1;
                p = skip_blanks(p + 1, end);
            }
            return -1;
        }
        if (!(p = cli_json_skip(p, end)))
            return -1;
        p = skip_blanks(p, end);
        if (p >= end || *p != ',')
            return -1; /* '}': no such member */
        p++;
    }
}

int cli_json_trim(const char **text, size_t *len)
{
    const char *p = *text, *end = p + *len;
    while (p < end && blank(*p))
        p++;
    while (end > p && blank(end[-1]))
        end--;
    *text = p;
    *len = (size_t)(end - p);
    return memchr(p, '\n', *len) == NULL && memchr(p, '\r', *len) == NULL;
}
