/* channel: the one interface the notify worker knows channels by.
 *
 * Each channel type is one struct channel_type of callbacks in a file of its
 * own (after Fluent Bit's outputs and curl's vtables), found by name from its
 * row of channel_types.def, which also declares its settings. A struct
 * channel is one named channel of the routing file: channel_new runs the
 * type's init on its settings, and channel_free its destroy. Formatting is
 * apart from sending so it can be tested without a network.
 *
 * Threads: after init a channel is read-only to Sluice, and format and send
 * may run on many threads at once for the same channel; a type that keeps
 * mutable state (the log channel's file) guards it itself. */
#ifndef SLUICE_CHANNEL_H
#define SLUICE_CHANNEL_H

#include "buf.h"
#include "channel_settings.h"

#include <jansson.h>
#include <stddef.h>

#define CHANNEL_NAME_MAX 128
/* How long one send may take unless the channel's "timeout_ms" says otherwise. */
#define CHANNEL_DEFAULT_TIMEOUT_MS 10000

/* One assistance request as channels see it; every string is borrowed and
 * valid UTF-8. */
struct assistance {
    const char *id;          /* the request's UUID */
    const char *topic;       /* lower-cased, as routed */
    const char *description; /* the client's text, 1 to 4000 characters */
    const char *received_at; /* RFC 3339, UTC */
    const char *request_id;  /* X-Request-ID of the POST; may be NULL */
    const char *link;        /* URL of GET /v1/assistance/{id}; may be NULL */
    /* Stable for one (request, channel) across attempts and replicas: the
     * webhook-id, the e-mail's Message-ID, the receiver's deduplication key. */
    const char *delivery_id;
};

enum send_result {
    SEND_OK,    /* the receiver took it */
    SEND_RETRY, /* transient: 5xx, 429, timeout, connection refused, SMTP 4xx */
    SEND_DROP,  /* permanent: other 4xx, 410, SMTP 5xx, a bad address */
};

/* What a send learnt besides its result. */
struct send_info {
    long status;         /* HTTP status or SMTP reply code; 0 when none came */
    long retry_after_ms; /* > 0 when the receiver asked to wait (Retry-After) */
};

struct channel;

struct channel_type {
    const char *name; /* "slack", as in its row of channel_types.def */
    /* channel_settings_<name>, from the same row: what the routing loader
     * checked conf for before init runs. */
    const struct channel_setting *settings;
    /* Checks and keeps conf (the channel's object of the routing file, with
     * "type"; borrowed, ${VAR}s already expanded); -1 with the reason in err. */
    int (*init)(struct channel *ch, const json_t *conf, char *err, size_t errlen);
    /* The bytes to send for req (Slack JSON, the whole e-mail, the webhook
     * body, the log line) appended to out; -1 on failure. */
    int (*format)(const struct channel *ch, const struct assistance *req, struct buf *out);
    /* Sends what format made. req is passed too because some headers are per
     * attempt (webhook-timestamp and the signature over it). Never longer than
     * the channel's timeout. err gets a one-line reason on RETRY and DROP. */
    enum send_result (*send)(const struct channel *ch, const struct assistance *req,
                             const struct buf *msg, struct send_info *info, char *err,
                             size_t errlen);
    void (*destroy)(struct channel *ch);
};

struct channel {
    const struct channel_type *type;
    char name[CHANNEL_NAME_MAX]; /* its key in the routing file */
    long timeout_ms;             /* "timeout_ms" of its settings, or the default */
    void *state;                 /* the type's own, freed by its destroy */
};

/* channel_<name>, defined in <name>.c, for each row of channel_types.def. */
#define CHANNEL_TYPE(name, settings) extern const struct channel_type channel_##name;
#include "channel_types.def"
#undef CHANNEL_TYPE

/* The type called name, or NULL. */
const struct channel_type *channel_type_find(const char *name);

/* A channel from its routing-file settings; NULL with "<name>: reason" in err. */
struct channel *channel_new(const char *name, const json_t *conf, char *err, size_t errlen);
void channel_free(struct channel *ch);

/* Formats and sends req in one call (what the notify worker does). */
enum send_result channel_deliver(const struct channel *ch, const struct assistance *req,
                                 struct send_info *info, char *err, size_t errlen);

#endif
