/* routing: the routing file of assistance requests (SLUICE_ROUTING_FILE),
 * read by ingest and notify at start and on SIGHUP (lib/routing.c). Its
 * author is an operator, not a client, but a file that loads must be one
 * the lookups can trust, and one that does not must say why without
 * overrunning anything. ${VAR}s expand from a fixed environment: names
 * starting A-M are set, N-Z unset, others set to "".
 *
 * On success: every topic of the file (any case) names one or more channels
 * that exist and have a type, its fallback is a channel or absent, no
 * "${" is left in any string, and the topic list fits any buffer. On
 * failure the reason is a terminated, non-empty line. */
#include "support.h"

#include "routing.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char *fixed_env(const char *name)
{
    static char set[] = "https://hooks.example.com/services/x", empty[] = "";
    if (name[0] >= 'A' && name[0] <= 'M')
        return set;
    if (name[0] >= 'N' && name[0] <= 'Z')
        return NULL;
    return empty;
}

static void check_expanded(const json_t *v)
{
    const char *key;
    json_t *value;
    size_t i;
    if (json_is_string(v)) {
        FUZZ_CHECK(strstr(json_string_value(v), "${") == NULL, "\"%s\" was not expanded",
                   json_string_value(v));
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, value) check_expanded(value);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, value) check_expanded(value);
    }
}

static void check_channel_named(const struct routing *r, const char *name)
{
    FUZZ_CHECK(name != NULL, "a channel name that is not a string");
    const json_t *ch = routing_channel(r, name);
    FUZZ_CHECK(json_is_object(ch), "channel \"%s\" does not exist", name);
    FUZZ_CHECK(json_is_string(json_object_get(ch, "type")), "channel \"%s\" has no type", name);
}

static void check_topic(const struct routing *r, const char *topic)
{
    const json_t *channels = routing_topic_channels(r, topic);
    FUZZ_CHECK(json_is_array(channels) && json_array_size(channels) > 0,
               "topic \"%s\" names no channels", topic);
    for (size_t i = 0; i < json_array_size(channels); i++)
        check_channel_named(r, json_string_value(json_array_get(channels, i)));
    const char *fallback = routing_topic_fallback(r, topic);
    if (fallback)
        check_channel_named(r, fallback);

    char upper[ROUTING_TOPIC_MAX + 1];
    size_t n = strlen(topic);
    FUZZ_CHECK(n <= ROUTING_TOPIC_MAX, "a topic of %zu bytes loaded", n);
    for (size_t i = 0; i <= n; i++)
        upper[i] = (char)toupper((unsigned char)topic[i]);
    FUZZ_CHECK(routing_topic_channels(r, upper) == channels, "\"%s\" is another topic", upper);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char err[300];
    memset(err, 'x', sizeof(err));
    struct routing *r = routing_parse(text, fixed_env, err, sizeof(err));
    if (!r) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0], "no reason given");
        free(text);
        return 0;
    }
    check_expanded(routing_channels(r));
    /* The topics as the file spells them. */
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(doc != NULL, "the routing loaded but jansson cannot read the file");
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(doc, "topics"), key, value) check_topic(r, key);
    json_decref(doc);

    char list[1024], tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    routing_topic_list(r, list, sizeof(list));
    routing_topic_list(r, tiny, sizeof(tiny));
    FUZZ_CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL, "the topic list overran its buffer");
    routing_free(r);
    free(text);
    return 0;
}
