#include "idemkeys.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *key;
    char fingerprint[IDEMKEYS_FINGERPRINT_LEN];
    char record_id[UUID_STR_LEN];
    int64_t created_us;
    uint64_t ticket;             /* this claim's generation: a settle must match it */
    int inflight;                /* writes claimed and not yet settled */
    bool acked;                  /* one write under the key reached Kafka */
    struct entry *chain;         /* next in the bucket */
    struct entry *older, *newer; /* age order, for eviction */
};

struct idemkeys {
    pthread_mutex_t lock;
    size_t capacity, count, nbuckets; /* nbuckets: a power of two */
    int64_t max_age_us;
    uint64_t next_ticket;
    struct entry **buckets;
    struct entry *oldest, *newest;
};

/* FNV-1a: short keys, no adversarial concern beyond a slower chain. */
static uint64_t hash(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

struct idemkeys *idemkeys_new(size_t capacity, int64_t max_age_us)
{
    struct idemkeys *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->capacity = capacity ? capacity : 1;
    ix->max_age_us = max_age_us;
    ix->nbuckets = 16;
    while (ix->nbuckets < ix->capacity) /* load factor <= 1 */
        ix->nbuckets <<= 1;
    ix->buckets = calloc(ix->nbuckets, sizeof(*ix->buckets));
    if (!ix->buckets) {
        free(ix);
        return NULL;
    }
    ix->next_ticket = 1;
    pthread_mutex_init(&ix->lock, NULL);
    return ix;
}

void idemkeys_free(struct idemkeys *ix)
{
    if (!ix)
        return;
    for (struct entry *e = ix->oldest, *next; e; e = next) {
        next = e->newer;
        free(e->key);
        free(e);
    }
    free(ix->buckets);
    pthread_mutex_destroy(&ix->lock);
    free(ix);
}

static struct entry **slot(struct idemkeys *ix, const char *key)
{
    struct entry **p = &ix->buckets[hash(key) & (ix->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->chain;
    return p;
}

static void unlink_entry(struct idemkeys *ix, struct entry **at)
{
    struct entry *e = *at;
    *at = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        ix->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        ix->newest = e->older;
    ix->count--;
    free(e->key);
    free(e);
}

/* Drops entries past their age, and the oldest while the index is full. An
 * entry still in flight may go too: the index is a cache in front of
 * PostgreSQL, never the only record, and its size must stay bounded. */
static void evict(struct idemkeys *ix, int64_t now_us)
{
    while (ix->oldest &&
           (ix->count >= ix->capacity || now_us - ix->oldest->created_us > ix->max_age_us))
        unlink_entry(ix, slot(ix, ix->oldest->key));
}

enum idem_claim idemkeys_claim(struct idemkeys *ix, const char *key, const char *fingerprint,
                               const char *record_id, int64_t now_us, char stored_id[UUID_STR_LEN],
                               uint64_t *ticket)
{
    *ticket = 0;
    enum idem_claim res;
    pthread_mutex_lock(&ix->lock);
    struct entry **at = slot(ix, key);
    if (*at && now_us - (*at)->created_us > ix->max_age_us) {
        unlink_entry(ix, at);
        at = slot(ix, key);
    }
    struct entry *e = *at;
    if (e) {
        memcpy(stored_id, e->record_id, UUID_STR_LEN);
        if (strcmp(e->fingerprint, fingerprint) != 0) {
            res = IDEM_CONFLICT;
        } else if (e->acked) {
            res = IDEM_DONE;
        } else {
            e->inflight++;
            *ticket = e->ticket;
            res = IDEM_IN_FLIGHT;
        }
        pthread_mutex_unlock(&ix->lock);
        return res;
    }
    evict(ix, now_us);
    e = calloc(1, sizeof(*e));
    char *copy = e ? strdup(key) : NULL;
    if (!copy) {
        /* Out of memory: claim nothing; the caller still checks PostgreSQL
         * and the worker still verifies the key. */
        free(e);
        pthread_mutex_unlock(&ix->lock);
        return IDEM_FIRST;
    }
    e->key = copy;
    snprintf(e->fingerprint, sizeof(e->fingerprint), "%s", fingerprint);
    snprintf(e->record_id, sizeof(e->record_id), "%s", record_id);
    e->created_us = now_us;
    e->ticket = ix->next_ticket++;
    e->inflight = 1;
    at = slot(ix, key); /* eviction may have changed the chain */
    *at = e;
    e->older = ix->newest;
    if (ix->newest)
        ix->newest->newer = e;
    else
        ix->oldest = e;
    ix->newest = e;
    ix->count++;
    *ticket = e->ticket;
    pthread_mutex_unlock(&ix->lock);
    return IDEM_FIRST;
}

void idemkeys_settle(struct idemkeys *ix, const char *key, uint64_t ticket, bool acked)
{
    if (!ticket)
        return;
    pthread_mutex_lock(&ix->lock);
    struct entry **at = slot(ix, key);
    struct entry *e = *at;
    if (e && e->ticket == ticket) {
        e->inflight--;
        if (acked)
            e->acked = true;
        else if (e->inflight <= 0 && !e->acked)
            unlink_entry(ix, at); /* nothing reached Kafka: a retry starts afresh */
    }
    pthread_mutex_unlock(&ix->lock);
}

void idemkeys_learn(struct idemkeys *ix, const char *key, uint64_t ticket, const char *fingerprint,
                    const char *record_id)
{
    if (!ticket)
        return;
    pthread_mutex_lock(&ix->lock);
    struct entry *e = *slot(ix, key);
    if (e && e->ticket == ticket) {
        snprintf(e->fingerprint, sizeof(e->fingerprint), "%s", fingerprint);
        snprintf(e->record_id, sizeof(e->record_id), "%s", record_id);
        e->inflight--;
        e->acked = true;
    }
    pthread_mutex_unlock(&ix->lock);
}

size_t idemkeys_count(struct idemkeys *ix)
{
    pthread_mutex_lock(&ix->lock);
    size_t n = ix->count;
    pthread_mutex_unlock(&ix->lock);
    return n;
}
