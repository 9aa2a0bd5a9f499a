#include "bloom.h"

#include <stdlib.h>

#define BLOOM_BITS_PER_HASH 16
#define BLOOM_PROBES 8
/* 2^10 .. 2^(10+47) hashes: more than memory holds. */
#define BLOOM_MAX_STAGES 48

struct stage {
    uint64_t *words;
    uint64_t bit_mask; /* bits - 1, bits a power of two */
    size_t capacity;   /* hashes it takes before the next stage opens */
    size_t count;
};

struct bloom {
    struct stage stages[BLOOM_MAX_STAGES];
    size_t nstages;
    size_t first_capacity;
    size_t count;
};

static int stage_open(struct bloom *b)
{
    if (b->nstages == BLOOM_MAX_STAGES)
        return -1;
    size_t capacity = b->first_capacity << b->nstages;
    size_t bits = capacity * BLOOM_BITS_PER_HASH;
    uint64_t *words = calloc(bits / 64, sizeof(uint64_t));
    if (!words)
        return -1;
    b->stages[b->nstages++] = (struct stage){words, bits - 1, capacity, 0};
    return 0;
}

struct bloom *bloom_new(size_t first_capacity)
{
    struct bloom *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->first_capacity = 1024;
    while (b->first_capacity < first_capacity && b->first_capacity < ((size_t)1 << 40))
        b->first_capacity <<= 1;
    if (stage_open(b) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

void bloom_free(struct bloom *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nstages; i++)
        free(b->stages[i].words);
    free(b);
}

/* splitmix64's finaliser: the caller's hash may be any 64 bits (a digest's
 * prefix, a counter in a test), so its bits are mixed before they choose
 * probes. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Double hashing (Kirsch and Mitzenmacher): probe i is h1 + i * h2, as good
 * as independent hashes for a filter; h2 odd so that the probes of one hash
 * never repeat within a power-of-two table. */
struct probes {
    uint64_t h1, h2;
};

static struct probes probes_of(uint64_t hash)
{
    return (struct probes){mix(hash), mix(hash ^ UINT64_C(0x9e3779b97f4a7c15)) | 1u};
}

int bloom_add(struct bloom *b, uint64_t hash)
{
    struct stage *s = &b->stages[b->nstages - 1];
    if (s->count >= s->capacity) {
        if (stage_open(b) != 0)
            return -1;
        s = &b->stages[b->nstages - 1];
    }
    struct probes p = probes_of(hash);
    for (unsigned i = 0; i < BLOOM_PROBES; i++) {
        uint64_t bit = (p.h1 + i * p.h2) & s->bit_mask;
        s->words[bit / 64] |= UINT64_C(1) << (bit % 64);
    }
    s->count++;
    b->count++;
    return 0;
}

bool bloom_may_contain(const struct bloom *b, uint64_t hash)
{
    struct probes p = probes_of(hash);
    for (size_t n = 0; n < b->nstages; n++) {
        const struct stage *s = &b->stages[n];
        bool all = true;
        for (unsigned i = 0; i < BLOOM_PROBES && all; i++) {
            uint64_t bit = (p.h1 + i * p.h2) & s->bit_mask;
            all = (s->words[bit / 64] >> (bit % 64)) & 1u;
        }
        if (all)
            return true;
    }
    return false;
}

size_t bloom_count(const struct bloom *b)
{
    return b->count;
}

size_t bloom_bytes(const struct bloom *b)
{
    size_t bytes = sizeof(*b);
    for (size_t i = 0; i < b->nstages; i++)
        bytes += (b->stages[i].bit_mask + 1) / 8;
    return bytes;
}
