/* events: the events collection's handlers (declared in routes.h) and the
 * record-to-envelope step that POST /v1/events and bulk import share. */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include "problem.h"
#include "uuid.h"

#include <jansson.h>
#include <stddef.h>

/* Validates one event object (obj borrowed; problems go to pe) and returns its
 * envelope text (the caller frees it), or NULL when invalid or out of memory.
 * The id comes from the body's id, else idem_key, else a fresh UUIDv7; raw is
 * the record as received, fingerprinted so a reused key can be detected. */
char *events_envelope(json_t *obj, const char *raw, size_t rawlen, const char *idem_key,
                      char id[UUID_STR_LEN], char fingerprint[65], struct problem_errors *pe,
                      size_t *len);

#endif
