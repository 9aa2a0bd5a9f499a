/* notify_channels: the routing file of sluice-notify made live: the parsed
 * routing and one struct channel per named channel, as one reference-counted
 * set. A SIGHUP builds a new set and swaps it in; sends still running keep
 * the set they started with until they let go of it, so a reload never frees
 * a channel under a send. */
#ifndef SLUICE_NOTIFY_CHANNELS_H
#define SLUICE_NOTIFY_CHANNELS_H

#include "channel.h"
#include "routing.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct channel_set {
    atomic_int refs;
    struct routing *routing;
    size_t count;
    struct channel **channels; /* in the file's order */
};

/* Loads and validates path (${VAR}s from the environment) and initialises
 * every channel. A send must end, with time to record it, before its claim
 * (lease_ms) does: a channel without "timeout_ms" gets the default or half
 * the lease, whichever is shorter, and one whose timeout_ms leaves less than
 * CHANNEL_RECORD_MARGIN_MS of the lease is refused. One reference for the
 * caller; NULL with the reason in err. */
#define CHANNEL_RECORD_MARGIN_MS 500
struct channel_set *channel_set_load(const char *path, long lease_ms, char *err, size_t errlen);
/* The channel called name, or NULL; borrowed from the set. */
struct channel *channel_set_find(const struct channel_set *s, const char *name);
void channel_set_unref(struct channel_set *s);

/* The set in force, swapped under a lock. */
struct channel_holder {
    pthread_mutex_t lock;
    struct channel_set *current;
};

void channel_holder_init(struct channel_holder *h, struct channel_set *first);
/* A new reference to the set in force; the caller unrefs it. */
struct channel_set *channel_holder_get(struct channel_holder *h);
/* Puts fresh in force (taking the caller's reference) and drops the old. */
void channel_holder_swap(struct channel_holder *h, struct channel_set *fresh);
void channel_holder_destroy(struct channel_holder *h);

#endif
