/* jsonpointer: the ?time_field= of POST /v1/events and POST /v1/bulk, a JSON
 * Pointer (RFC 6901) a client writes, resolved against the record it sent
 * (lib/jsonpointer.c; ingest/validate.c validate_time_field). The input is
 * the pointer, a newline, then the JSON document.
 *
 * A pointer jsonpointer_check refuses resolves to nothing. And for a path
 * into the document chosen by the input's bytes, the pointer built from it
 * (names escaped as the RFC says) resolves to exactly that node. */
#include "support.h"

#include "buf.h"
#include "jsonpointer.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest member name jsonpointer_get resolves (a 1 KiB buffer). */
#define NAME_MAX_BYTES 1023

/* Appends "/" and token, '~' as "~0" and '/' as "~1"; false when the name is
 * longer than the module resolves. */
static bool append_token(struct buf *ptr, const char *token, size_t len)
{
    if (len > NAME_MAX_BYTES)
        return false;
    buf_puts(ptr, "/");
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '~')
            buf_puts(ptr, "~0");
        else if (token[i] == '/')
            buf_puts(ptr, "~1");
        else
            buf_append(ptr, &token[i], 1);
    }
    return true;
}

static void check_paths(json_t *doc, const uint8_t *choice, size_t nchoice)
{
    struct buf ptr = {0};
    buf_puts(&ptr, "");
    json_t *node = doc;
    for (size_t step = 0; step < 8; step++) {
        json_t *got = jsonpointer_get(doc, ptr.data);
        FUZZ_CHECK(got == node, "\"%s\" resolved to another node", ptr.data);
        size_t n = json_is_object(node)  ? json_object_size(node)
                   : json_is_array(node) ? json_array_size(node)
                                         : 0;
        if (n == 0)
            break;
        size_t pick = nchoice ? choice[step % nchoice] % n : 0;
        if (json_is_array(node)) {
            buf_printf(&ptr, "/%zu", pick);
            node = json_array_get(node, pick);
            continue;
        }
        void *it = json_object_iter(node);
        for (size_t i = 0; i < pick; i++)
            it = json_object_iter_next(node, it);
        const char *key = json_object_iter_key(it);
        if (!append_token(&ptr, key, json_object_iter_key_len(it)))
            break;
        node = json_object_iter_value(it);
    }
    buf_free(&ptr);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *pointer;
    const uint8_t *rest;
    size_t rest_len;
    fuzz_split_line(data, size, &pointer, &rest, &rest_len);

    char err[128];
    memset(err, 'x', sizeof(err));
    int checked = jsonpointer_check(pointer, err, sizeof(err));
    if (checked != 0)
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "reason not terminated");
    char detail[160];
    if (validate_time_field(pointer, detail, sizeof(detail)))
        FUZZ_CHECK(checked == 0 && pointer[0] == '/' && validate_utf8(pointer),
                   "validate_time_field took \"%s\"", pointer);

    json_t *doc = json_loadb((const char *)rest, rest_len, JSON_DECODE_ANY, NULL);
    if (doc) {
        json_t *got = jsonpointer_get(doc, pointer);
        if (checked != 0)
            FUZZ_CHECK(got == NULL, "a refused pointer \"%s\" resolved", pointer);
        if (pointer[0] == '\0')
            FUZZ_CHECK(got == doc, "\"\" is not the whole document");
        check_paths(doc, (const uint8_t *)pointer, strlen(pointer));
        json_decref(doc);
    }
    free(pointer);
    return 0;
}
