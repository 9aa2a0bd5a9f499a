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

struct event_input {
    const char *type; /* borrowed from the object; NULL when absent */
    int64_t occurred_at_us;
    bool timed; /* occurred_at_us came from the record, not the time of receipt */
    char external_id[VALIDATE_ID_MAX + 1]; /* "" when the body has no id */
};

/* The members a record's time is looked for under when the client names
 * none, in this order; the first one present (and not null) is the time. */
extern const char *const validate_time_fields[];
extern const size_t validate_time_field_count;

/* Checks a time_field query parameter (a JSON Pointer, RFC 6901); false with
 * a one-line reason in detail. */
bool validate_time_field(const char *pointer, char *detail, size_t detaillen);

/* Checks type, the record's time and id; returns the number of problems
 * added. obj is borrowed. time_field is a checked JSON Pointer naming the
 * time (missing, null or unparsable there is a problem at that pointer), or
 * NULL to look for validate_time_fields (a present one must parse; none
 * present means the time of receipt, now_us). */
size_t validate_event(json_t *obj, int64_t now_us, const char *time_field, struct event_input *out,
                      struct problem_errors *pe);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates). */
bool validate_utf8(const char *s);

/* An Idempotency-Key / webhook-id: 1..255 visible ASCII characters. */
bool validate_idempotency_key(const char *key);

#endif
