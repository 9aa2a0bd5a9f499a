/* cursor: opaque keyset-pagination cursors. A cursor is the (occurred_at, id)
 * of the last row of a page, base64url-encoded so clients treat it as opaque. */
#ifndef SLUICE_CURSOR_H
#define SLUICE_CURSOR_H

#include "uuid.h"

#include <stdint.h>

#define CURSOR_STR_LEN 96

void cursor_encode(int64_t occurred_at_us, const struct uuid *id, char out[CURSOR_STR_LEN]);
/* -1 for anything that is not a cursor this module made. */
int cursor_decode(const char *s, int64_t *occurred_at_us, struct uuid *id);

#endif
