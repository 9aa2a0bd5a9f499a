/* random: unpredictable bytes for ids (UUIDv7 record ids, trace and span
 * ids), from the kernel's CSPRNG (getrandom) through a small buffer per
 * thread, refilled 256 bytes at a time: one system call per ~25 ids, not one
 * per id (four per write before; each costs ~1 us here). A forked child never
 * hands out bytes its parent has buffered. Not for secrets: API keys draw
 * theirs from OpenSSL's RAND_bytes (apikey.c). */
#ifndef SLUICE_RANDOM_H
#define SLUICE_RANDOM_H

#include <stddef.h>

/* n bytes into out (any thread); -1 when the kernel's source fails (it does
 * not, once it is seeded at boot: callers still fall back). */
int random_bytes(void *out, size_t n);

#endif
