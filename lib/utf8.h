/* utf8: what Sluice counts in UTF-8 text. Lengths in the API ("1 to 4000
 * characters") are code points, whatever bytes encode them. Pure. */
#ifndef SLUICE_UTF8_H
#define SLUICE_UTF8_H

#include <stddef.h>

/* The code points of valid UTF-8 text (every byte that does not continue a
 * sequence starts one). */
size_t utf8_length(const char *s);

#endif
