/* jsontext: JSON as the API sent it, for --json. Re-encoding with jansson
 * would rewrite numbers (0.1 comes out as 0.10000000000000001), so records
 * are printed from the answer's own bytes: this finds them in it. The text
 * must already be known to be valid JSON (jansson parsed it); nothing here
 * allocates. */
#ifndef SLUICE_CLI_JSONTEXT_H
#define SLUICE_CLI_JSONTEXT_H

#include <stddef.h>

/* The bytes of one value starting at p (after blanks), up to end: returns
 * the end of the value, or NULL when the text ends first. */
const char *cli_json_skip(const char *p, const char *end);

/* Calls fn with each element of the array that is member `name` of the
 * top-level object of text. Returns how many elements there were, -1 when
 * the top level is not an object or has no such array, or fn's nonzero
 * return, which stops the walk. */
long cli_json_items(const char *text, size_t len, const char *name,
                    int (*fn)(void *opaque, const char *item, size_t len), void *opaque);

/* The value with the blanks around it cut off, and whether it is one line
 * (JSON strings hold no raw line breaks, so any is whitespace between
 * tokens). */
int cli_json_trim(const char **text, size_t *len);

#endif
