/* validate: request bodies and headers checked before anything is produced.
 *
 * Pure functions (no I/O): parse a body into a JSON object, check an event's
 * recognised fields, check an idempotency key. Field problems are collected
 * into a struct problem_errors, one {pointer, message} per bad field. */
#ifndef SLUICE_VALIDATE_H
#define SLUICE_VALIDATE_H

#include "problem.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALIDATE_ID_MAX 255

/* True for "application/json" and "application/<x>+json", with parameters. */
bool validate_json_content_type(const char *content_type);

/* Returns a new reference to the parsed object, or NULL with a one-line
 * reason in detail (malformed, invalid UTF-8, too deep, not an object...). */
json_t *validate_parse_object(const char *body, size_t len, char *detail, size_t detaillen);

struct event_input {
    const char *type; /* borrowed from the object; NULL when absent */
    int64_t occurred_at_us;
    char external_id[VALIDATE_ID_MAX + 1]; /* "" when the body has no id */
};

/* Checks type, occurred_at and id; returns the number of problems added.
 * occurred_at defaults to now_us. */
size_t validate_event(json_t *obj, int64_t now_us, struct event_input *out,
                      struct problem_errors *pe);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates). */
bool validate_utf8(const char *s);

/* An Idempotency-Key / webhook-id: 1..255 visible ASCII characters. */
bool validate_idempotency_key(const char *key);

#endif
