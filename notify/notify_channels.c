#include "notify_channels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct channel_set *channel_set_load(const char *path, long lease_ms, char *err, size_t errlen)
{
    struct channel_set *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->routing = routing_load(path, getenv, err, errlen);
    if (!s->routing)
        goto fail;
    const json_t *channels = routing_channels(s->routing);
    s->channels = calloc(json_object_size(channels) + 1, sizeof(*s->channels));
    if (!s->channels) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const char *name;
    json_t *conf;
    json_object_foreach((json_t *)channels, name, conf)
    {
        struct channel *ch = channel_new(name, conf, err, errlen);
        if (!ch)
            goto fail;
        s->channels[s->count++] = ch;
        /* A send must end, with time to record it, before its claim does. */
        if (!json_object_get(conf, "timeout_ms") && ch->timeout_ms > lease_ms / 2)
            ch->timeout_ms = lease_ms / 2;
        if (ch->timeout_ms + CHANNEL_RECORD_MARGIN_MS > lease_ms) {
            snprintf(err, errlen,
                     "%s: timeout_ms %ld leaves under %d ms of SLUICE_NOTIFY_LEASE_MS (%ld) to "
                     "record the outcome, so a slow send could be claimed twice",
                     name, ch->timeout_ms, CHANNEL_RECORD_MARGIN_MS, lease_ms);
            goto fail;
        }
    }
    return s;
fail:
    channel_set_unref(s);
    return NULL;
}

struct channel *channel_set_find(const struct channel_set *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->channels[i]->name, name) == 0)
            return s->channels[i];
    }
    return NULL;
}

void channel_set_unref(struct channel_set *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        channel_free(s->channels[i]);
    free(s->channels);
    routing_free(s->routing);
    free(s);
}

void channel_holder_init(struct channel_holder *h, struct channel_set *first)
{
    pthread_mutex_init(&h->lock, NULL);
    h->current = first;
}

struct channel_set *channel_holder_get(struct channel_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct channel_set *s = h->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&h->lock);
    return s;
}

void channel_holder_swap(struct channel_holder *h, struct channel_set *fresh)
{
    pthread_mutex_lock(&h->lock);
    struct channel_set *old = h->current;
    h->current = fresh;
    pthread_mutex_unlock(&h->lock);
    channel_set_unref(old);
}

void channel_holder_destroy(struct channel_holder *h)
{
    channel_set_unref(h->current);
    h->current = NULL;
    pthread_mutex_destroy(&h->lock);
}
