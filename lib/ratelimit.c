#include "ratelimit.h"

#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8
#define STRIPES 64
#define US_PER_S 1000000
#define DIGEST_LEN 32
#define LEVEL_MAX ((int64_t)1 << 61)

_Static_assert(RATELIMIT_KEY_INLINE >= DIGEST_LEN, "a digest fits where a key would");
_Static_assert(RATELIMIT_KEY_INLINE <= 255, "key lengths fit a byte");

struct slot {
    uint64_t hash;
    int64_t last_us;
    int64_t level; /* in 1/quota microseconds; 0 is a full quota */
    bool used;
    bool digested; /* key holds the SHA-256 of a key too long to keep */
    unsigned char keylen;
    char key[RATELIMIT_KEY_INLINE];
};

struct ratelimit {
    int64_t cost;     /* one request: window in microseconds */
    int64_t capacity; /* quota requests */
    int64_t drain;    /* per microsecond: quota */
    size_t nsets;
    struct slot *slots; /* nsets * WAYS */
    /* Striping rather than one lock per set keeps the table small; a set's
     * lock is locks[set % STRIPES]. */
    pthread_mutex_t locks[STRIPES];
    atomic_uint_fast64_t evictions;
};

/* What a principal is filed under: the key itself, or its digest. */
struct stored_key {
    const char *bytes;
    size_t len;
    bool digested;
    unsigned char digest[DIGEST_LEN];
    uint64_t hash;
};

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

struct ratelimit *ratelimit_new(uint32_t quota, uint32_t window_s, size_t max_entries)
{
    if (quota == 0 || window_s == 0 || max_entries == 0)
        return NULL;
    int64_t cost = (int64_t)window_s * US_PER_S;
    if ((int64_t)quota > LEVEL_MAX / cost)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->cost = cost;
    rl->capacity = cost * quota;
    rl->drain = quota;
    rl->nsets = max_entries / WAYS + (max_entries % WAYS != 0);
    rl->slots = calloc(rl->nsets, WAYS * sizeof(struct slot));
    if (!rl->slots) {
        free(rl);
        return NULL;
    }
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->locks[i], NULL);
    atomic_init(&rl->evictions, 0);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->locks[i]);
    free(rl->slots);
    free(rl);
}

uint64_t ratelimit_evictions(const struct ratelimit *rl)
{
    return atomic_load_explicit(&rl->evictions, memory_order_relaxed);
}

/* FNV-1a: the table's correctness does not rest on it (keys are compared in
 * full, a set is 8 slots whatever collides), so it needs no secret seed. */
static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void store_key(const char *key, struct stored_key *k)
{
    size_t len = strlen(key);
    k->digested = len > RATELIMIT_KEY_INLINE;
    if (k->digested) {
        unsigned int n = 0;
        /* Only fails without memory; a zero digest then files every long
         * key together, which still limits them. */
        if (EVP_Digest(key, len, k->digest, &n, digest_sha256(), NULL) != 1)
            memset(k->digest, 0, sizeof(k->digest));
        k->bytes = (const char *)k->digest;
        k->len = DIGEST_LEN;
    } else {
        k->bytes = key;
        k->len = len;
    }
    k->hash = fnv1a(k->bytes, k->len, k->digested ? 0x84222325cbf29ce4ULL : 0xcbf29ce484222325ULL);
}

static bool slot_matches(const struct slot *s, const struct stored_key *k)
{
    return s->used && s->hash == k->hash && s->digested == k->digested && s->keylen == k->len &&
           memcmp(s->key, k->bytes, k->len) == 0;
}

/* When the bucket will hold a full quota again. */
static int64_t full_at(const struct ratelimit *rl, const struct slot *s)
{
    return s->last_us + ceil_div(s->level, rl->drain);
}

/* The principal's slot in its set (locked by the caller), taking one for it
 * when it has none. */
static struct slot *find_slot(struct ratelimit *rl, struct slot *set, const struct stored_key *k,
                              int64_t now_us)
{
    struct slot *victim = NULL;
    for (size_t i = 0; i < WAYS; i++) {
        struct slot *s = &set[i];
        if (slot_matches(s, k))
            return s;
        if (!victim || (victim->used && (!s->used || full_at(rl, s) < full_at(rl, victim))))
            victim = s;
    }
    if (victim->used && full_at(rl, victim) > now_us)
        atomic_fetch_add_explicit(&rl->evictions, 1, memory_order_relaxed);
    victim->used = true;
    victim->hash = k->hash;
    victim->digested = k->digested;
    victim->keylen = (unsigned char)k->len;
    memcpy(victim->key, k->bytes, k->len);
    victim->level = 0;
    victim->last_us = now_us;
    return victim;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us,
                    struct ratelimit_result *r)
{
    struct stored_key k;
    store_key(key, &k);
    size_t set = (size_t)(k.hash % rl->nsets);
    pthread_mutex_t *lock = &rl->locks[set % STRIPES];

    pthread_mutex_lock(lock);
    struct slot *s = find_slot(rl, &rl->slots[set * WAYS], &k, now_us);
    if (now_us > s->last_us) {
        int64_t elapsed = now_us - s->last_us;
        /* elapsed * drain >= capacity >= level: empty, and no overflow. */
        if (elapsed >= rl->cost || elapsed * rl->drain >= s->level)
            s->level = 0;
        else
            s->level -= elapsed * rl->drain;
        s->last_us = now_us;
    }
    bool allowed = s->level + rl->cost <= rl->capacity;
    if (allowed)
        s->level += rl->cost;
    int64_t level = s->level;
    pthread_mutex_unlock(lock);

    if (r) {
        r->allowed = allowed;
        r->remaining = (rl->capacity - level) / rl->cost;
        if (allowed) {
            r->reset_s = ceil_div(ceil_div(level, rl->drain), US_PER_S);
            r->retry_after_s = 0;
        } else {
            int64_t wait_us = ceil_div(level + rl->cost - rl->capacity, rl->drain);
            r->retry_after_s = ceil_div(wait_us, US_PER_S);
            if (r->retry_after_s < 1)
                r->retry_after_s = 1;
            r->reset_s = r->retry_after_s;
        }
    }
    return allowed;
}

int ratelimit_headers(const struct ratelimit_result *r, uint32_t quota, uint32_t window_s,
                      char *policy, size_t policylen, char *state, size_t statelen)
{
    int n = snprintf(policy, policylen, "\"%s\";q=%lu;w=%lu", RATELIMIT_POLICY_NAME,
                     (unsigned long)quota, (unsigned long)window_s);
    if (n < 0 || (size_t)n >= policylen)
        return -1;
    n = snprintf(state, statelen, "\"%s\";r=%lld;t=%lld", RATELIMIT_POLICY_NAME,
                 (long long)r->remaining, (long long)r->reset_s);
    if (n < 0 || (size_t)n >= statelen)
        return -1;
    return 0;
}
