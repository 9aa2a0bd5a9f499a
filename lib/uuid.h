/* uuid: RFC 9562 identifiers. v5 makes ids deterministic (idempotent retries),
 * v7 makes fresh ids time-ordered (index locality). Pure functions except
 * uuid_v7, which reads the clock and the system random source. */
#ifndef SLUICE_UUID_H
#define SLUICE_UUID_H

#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

struct uuid {
    uint8_t b[16];
};

/* Sluice's namespace for v5 ids. */
extern const struct uuid uuid_namespace_sluice;

void uuid_v5(struct uuid *out, const struct uuid *ns, const void *name, size_t len);
/* unix_ms is the timestamp to embed; random bits come from getrandom(). */
int uuid_v7(struct uuid *out, uint64_t unix_ms);
void uuid_format(const struct uuid *u, char out[UUID_STR_LEN]);
/* Accepts the canonical 8-4-4-4-12 form, either case; -1 otherwise. */
int uuid_parse(const char *s, struct uuid *out);

#endif
