/* mergepatch: JSON Merge Patch (RFC 7396). Pure; returns new references. */
#ifndef SLUICE_MERGEPATCH_H
#define SLUICE_MERGEPATCH_H

#include <jansson.h>

/* The result of applying patch to target (both borrowed); a new reference, or
 * NULL on allocation failure. A non-object patch replaces the target. */
json_t *mergepatch_apply(const json_t *target, const json_t *patch);

#endif
