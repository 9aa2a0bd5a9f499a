/* problem: RFC 9457 problem details, the one place HTTP errors are built.
 *
 * A validation failure collects one {pointer, message} per bad field in a
 * struct problem_errors, then problem_render turns status, title, detail and
 * those errors into application/problem+json text. */
#ifndef SLUICE_PROBLEM_H
#define SLUICE_PROBLEM_H

#include <jansson.h>
#include <stddef.h>

#define PROBLEM_CONTENT_TYPE "application/problem+json"
#define PROBLEM_MAX_ERRORS 100

struct problem_errors {
    json_t *list; /* owned array of {pointer, message}; NULL until the first error */
    size_t count;
};

/* Adds one error; pointer is a JSON Pointer ("" is the whole document). */
void problem_errors_add(struct problem_errors *pe, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void problem_errors_free(struct problem_errors *pe);
/* The first error as one line, "<pointer>: <message>", into out ("" when none). */
void problem_errors_first(const struct problem_errors *pe, char *out, size_t outlen);

/* Appends one reference token to a JSON Pointer, escaping '~' and '/'
 * (RFC 6901). out must hold outlen bytes; truncation returns -1. */
int problem_pointer_join(char *out, size_t outlen, const char *base, const char *token);

/* The problem type URI for a slug, e.g. "validation" -> ".../problems/validation". */
const char *problem_type_uri(const char *slug, char *out, size_t outlen);

/* Renders the problem document. errors may be NULL; its list is borrowed.
 * Returns heap text the caller frees. */
char *problem_render(int status, const char *slug, const char *title, const char *detail,
                     const struct problem_errors *errors);

#endif
