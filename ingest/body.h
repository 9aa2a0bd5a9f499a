/* body: a request body parsed as a JSON object, with a refusal that says
 * exactly what was refused and where.
 *
 * Pure (no I/O), unit-tested in tests/unit/test_body.c. What is accepted and
 * what is not, for well-formed JSON:
 *  - a leading UTF-8 byte order mark is skipped (RFC 8259 §8.1: a parser MAY
 *    ignore it; some Windows tools write one);
 *  - a duplicate member name is refused, naming the key and its position: the
 *    two values make the record ambiguous (RFC 8259 §4), and which one a
 *    reader keeps differs between libraries;
 *  - an integer outside the signed 64-bit range is refused as "integer out of
 *    range" with its position: stored as a double it would silently lose
 *    digits (an id or an amount that changes is worse than a clear 400); send
 *    it as a string;
 *  - a real number beyond the double range (1e400) likewise. */
#ifndef SLUICE_BODY_H
#define SLUICE_BODY_H

#include <jansson.h>
#include <stddef.h>

/* Returns a new reference to the object, or NULL with a one-line reason in
 * detail (empty, not JSON, duplicate key, out of range, not an object...). */
json_t *body_parse_object(const char *data, size_t len, char *detail, size_t detaillen);
/* Steps past a leading UTF-8 byte order mark, which body_parse_object
 * ignores: the JSON text proper, for whoever keeps the body as sent. */
void body_skip_bom(const char **data, size_t *len);

#endif
