/* events: the events collection's handlers (declared in routes.h) and the
 * record-to-envelope step that POST /v1/events and bulk import share. */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include "envelope.h"
#include "problem.h"
#include "uuid.h"

#include <jansson.h>
#include <stddef.h>

#include <stdbool.h>

/* How a record is turned into an event. */
struct event_options {
    const char *idem_key;   /* the request's Idempotency-Key / webhook-id, or NULL */
    const char *time_field; /* a checked JSON Pointer naming the record's time, or NULL */
    /* An imported record without an id is named by its content, so importing
     * the same file again collapses into the same rows; a single POST without
     * id and key is a new event every time. */
    bool content_identity;
    const struct envelope_origin *origin; /* who writes it, and its tenant (ids, envelope) */
};

/* Validates one event object (obj borrowed; problems go to pe) and returns its
 * envelope text (the caller frees it), or NULL when invalid or out of memory.
 * The id is UUIDv5 of the body's id, else of the key, else (content_identity)
 * of the record's canonical JSON, else a fresh UUIDv7. raw is the record as
 * received (valid JSON that parsed into obj): spliced into the envelope, and
 * fingerprinted when there is a key, so a reused key can be detected
 * (fingerprint is "" without one). *named (may be NULL) says whether the
 * body has its own id: then a later write may be a new version of the same
 * record, and its message is keyed by the id so versions stay in order. */
char *events_envelope(json_t *obj, const char *raw, size_t rawlen, const struct event_options *opt,
                      char id[UUID_STR_LEN], char fingerprint[65], struct problem_errors *pe,
                      size_t *len, bool *named);

#endif
