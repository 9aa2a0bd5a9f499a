#include "problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void problem_errors_add(struct problem_errors *pe, const char *pointer, const char *fmt, ...)
{
    /* Past the cap, more entries only make the response larger, not clearer. */
    if (pe->count >= PROBLEM_MAX_ERRORS) {
        pe->count++;
        return;
    }
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!pe->list)
        pe->list = json_array();
    /* vsnprintf may have cut a multi-byte character in two: drop the tail. */
    size_t len = strlen(message);
    size_t start = len;
    while (start > 0 && ((unsigned char)message[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && ((unsigned char)message[start - 1] & 0x80)) {
        unsigned char lead = (unsigned char)message[start - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (len - (start - 1) < need)
            message[start - 1] = '\0';
    }
    json_t *entry = json_object();
    json_t *ptr = json_string(pointer);
    json_t *msg = json_string(message);
    json_object_set_new(entry, "pointer", ptr ? ptr : json_string(""));
    json_object_set_new(entry, "message", msg ? msg : json_string("(message was not valid UTF-8)"));
    json_array_append_new(pe->list, entry);
    pe->count++;
}

void problem_errors_free(struct problem_errors *pe)
{
    json_decref(pe->list);
    pe->list = NULL;
    pe->count = 0;
}

int problem_pointer_join(char *out, size_t outlen, const char *base, const char *token)
{
    size_t o = strlen(base);
    if (o + 1 >= outlen)
        return -1;
    if (out != base)
        memmove(out, base, o);
    out[o++] = '/';
    for (const char *p = token; *p; p++) {
        const char *rep = NULL;
        if (*p == '~')
            rep = "~0";
        else if (*p == '/')
            rep = "~1";
        size_t need = rep ? 2 : 1;
        if (o + need >= outlen) {
            out[o] = '\0';
            return -1;
        }
        if (rep) {
            memcpy(out + o, rep, 2);
        } else {
            out[o] = *p;
        }
        o += need;
    }
    out[o] = '\0';
    return 0;
}

const char *problem_type_uri(const char *slug, char *out, size_t outlen)
{
    snprintf(out, outlen, "https://sluice.dev/problems/%s", slug);
    return out;
}

char *problem_render(int status, const char *slug, const char *title, const char *detail,
                     const struct problem_errors *errors)
{
    char type[128];
    json_t *doc = json_object();
    json_object_set_new(doc, "type", json_string(problem_type_uri(slug, type, sizeof(type))));
    json_object_set_new(doc, "title", json_string(title));
    json_object_set_new(doc, "status", json_integer(status));
    if (detail) {
        json_t *d = json_string(detail);
        json_object_set_new(doc, "detail", d ? d : json_string("(detail was not valid UTF-8)"));
    }
    if (errors && errors->list)
        json_object_set(doc, "errors", errors->list);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return text;
}

void problem_errors_first(const struct problem_errors *pe, char *out, size_t outlen)
{
    json_t *e = json_array_get(pe->list, 0);
    if (!e) {
        snprintf(out, outlen, "%s", "");
        return;
    }
    snprintf(out, outlen, "%s: %s", json_string_value(json_object_get(e, "pointer")),
             json_string_value(json_object_get(e, "message")));
}
