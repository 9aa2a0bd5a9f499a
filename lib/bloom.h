/* bloom: a set of 64-bit hashes that may say "maybe" of a hash never added
 * but never "no" of one that was (a Bloom filter), growing in stages so it
 * needs no size up front: each stage holds twice as many hashes as the one
 * before, at 16 bits and 8 probes per hash (about 0.06 % false "maybe" per
 * stage). It owns its stages; it is not thread-safe (its owner locks). */
#ifndef SLUICE_BLOOM_H
#define SLUICE_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bloom;

/* first_capacity: the hashes the first stage holds (rounded up to a power
 * of two, at least 1024). NULL when out of memory. */
struct bloom *bloom_new(size_t first_capacity);
void bloom_free(struct bloom *b);

/* 0, or -1 when a new stage could not be allocated (hash not added: the
 * caller can no longer trust a "no"). */
int bloom_add(struct bloom *b, uint64_t hash);
bool bloom_may_contain(const struct bloom *b, uint64_t hash);

/* Hashes added, and the bytes the stages take. */
size_t bloom_count(const struct bloom *b);
size_t bloom_bytes(const struct bloom *b);

#endif
