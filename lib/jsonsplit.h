/* jsonsplit: cuts a stream of bytes into JSON records without holding the
 * stream: the elements of one top-level array, or the lines of NDJSON (the
 * first non-blank byte decides: '[' is an array, '{' NDJSON of objects;
 * anything else is not a stream of records and fails at once). Each
 * complete record's bytes are handed to a callback; a record larger than the
 * limit is reported as too large and skipped. Records are only cut, not
 * parsed: the callback parses them. The splitter owns one record buffer. */
#ifndef SLUICE_JSONSPLIT_H
#define SLUICE_JSONSPLIT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

/* A record, or (data NULL) the reason record `index` could not be cut out. */
typedef void (*jsonsplit_fn)(void *opaque, size_t index, const char *data, size_t len,
                             const char *error);

enum jsonsplit_mode { JSONSPLIT_DETECT, JSONSPLIT_ARRAY, JSONSPLIT_NDJSON };

struct jsonsplit {
    enum jsonsplit_mode mode;
    int state;
    size_t max_record;
    size_t index; /* of the record being cut */
    struct buf record;
    int depth;
    bool in_string, escaped, oversize;
    bool seen;   /* a non-blank byte came: the stream is not empty */
    bool failed; /* the framing broke: the rest of the stream is ignored */
    jsonsplit_fn emit;
    void *opaque;
};

void jsonsplit_init(struct jsonsplit *s, size_t max_record, jsonsplit_fn emit, void *opaque);
/* Feeds bytes; records are emitted as they complete. */
void jsonsplit_feed(struct jsonsplit *s, const char *data, size_t len);
/* End of the stream: emits the last NDJSON line, or an error when an array
 * is unterminated. Returns false when the stream was not a well-formed
 * sequence of records (an error was emitted). */
bool jsonsplit_finish(struct jsonsplit *s);
void jsonsplit_free(struct jsonsplit *s);

#endif
