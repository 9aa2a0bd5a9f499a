/* jsonpointer: RFC 6901 JSON Pointers ("/a/b~1c/0") checked and resolved
 * against a jansson tree. Pure functions, no allocation: a pointer is walked
 * token by token straight from its text, "~1" read as '/' and "~0" as '~'. */
#ifndef SLUICE_JSONPOINTER_H
#define SLUICE_JSONPOINTER_H

#include <jansson.h>
#include <stddef.h>

/* 0 when ptr is a well-formed pointer ("" or "/..." with only ~0 and ~1
 * escapes); -1 with a one-line reason in err otherwise. */
int jsonpointer_check(const char *ptr, char *err, size_t errlen);

/* The value ptr names in doc (borrowed from doc), or NULL when it names
 * nothing or is not well-formed. An array index is decimal without leading
 * zeros ("-", the element past the end, names nothing). */
json_t *jsonpointer_get(json_t *doc, const char *ptr);

#endif
