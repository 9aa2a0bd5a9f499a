#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 120000

static const struct channel_type *const channel_types[] = {
#define CHANNEL_TYPE(name, settings) &channel_##name,
#include "channel_types.def"
#undef CHANNEL_TYPE
};

const struct channel_type *channel_type_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(channel_types) / sizeof(channel_types[0]); i++) {
        if (strcmp(channel_types[i]->name, name) == 0)
            return channel_types[i];
    }
    return NULL;
}

/* conf's "timeout_ms" (borrowed), or the default; -1 when it is not an integer
 * in range. */
static long timeout_of(const json_t *conf)
{
    const json_t *v = json_object_get(conf, "timeout_ms");
    if (!v)
        return CHANNEL_DEFAULT_TIMEOUT_MS;
    if (!json_is_integer(v))
        return -1;
    json_int_t ms = json_integer_value(v);
    return ms >= TIMEOUT_MIN_MS && ms <= TIMEOUT_MAX_MS ? (long)ms : -1;
}

struct channel *channel_new(const char *name, const json_t *conf, char *err, size_t errlen)
{
    struct channel *ch = NULL;
    char reason[256] = "";
    if (!name || !*name || strlen(name) >= CHANNEL_NAME_MAX) {
        snprintf(err, errlen, "a channel name is 1 to %d bytes", CHANNEL_NAME_MAX - 1);
        return NULL;
    }
    if (!json_is_object(conf)) {
        snprintf(err, errlen, "%s: a channel's settings are an object with a \"type\"", name);
        return NULL;
    }
    const char *type_name = json_string_value(json_object_get(conf, "type"));
    const struct channel_type *type = channel_type_find(type_name);
    if (!type) {
        char names[256];
        channel_settings_type_list(names, sizeof(names));
        snprintf(err, errlen, "%s: \"%s\" is not a channel type (%s)", name,
                 type_name ? type_name : "", names);
        return NULL;
    }
    long timeout_ms = timeout_of(conf);
    if (timeout_ms < 0) {
        snprintf(err, errlen, "%s: timeout_ms is an integer from %d to %d", name, TIMEOUT_MIN_MS,
                 TIMEOUT_MAX_MS);
        return NULL;
    }
    ch = calloc(1, sizeof(*ch));
    if (!ch) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    ch->type = type;
    memcpy(ch->name, name, strlen(name) + 1);
    ch->timeout_ms = timeout_ms;
    /* An init that fails frees what it took and leaves ch->state NULL. */
    if (type->init(ch, conf, reason, sizeof(reason)) != 0) {
        snprintf(err, errlen, "%s: %s", name, reason);
        free(ch);
        return NULL;
    }
    return ch;
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    if (ch->type->destroy)
        ch->type->destroy(ch);
    free(ch);
}

enum send_result channel_deliver(const struct channel *ch, const struct assistance *req,
                                 struct send_info *info, char *err, size_t errlen)
{
    struct send_info unused;
    struct buf msg = {0};
    enum send_result result = SEND_DROP;
    if (!info)
        info = &unused;
    memset(info, 0, sizeof(*info));
    if (errlen)
        err[0] = '\0';
    /* A message that cannot be made (text that is not UTF-8) never will be. */
    if (ch->type->format(ch, req, &msg) != 0) {
        snprintf(err, errlen, "cannot format the %s message", ch->type->name);
        goto out;
    }
    result = ch->type->send(ch, req, &msg, info, err, errlen);
out:
    buf_free(&msg);
    return result;
}
