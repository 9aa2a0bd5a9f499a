/* routing: the routing file of assistance requests (issue 5 groundwork).
 *
 * A JSON file maps topics to named channels and configures each channel:
 *   {"channels": {"sales-slack": {"type": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}"},
 *                 "ops-log": {"type": "log"}},
 *    "topics": {"sales": {"channels": ["sales-slack"], "fallback": "ops-log"}}}
 * Every "${VAR}" in a string is replaced from the environment at load time, so
 * secrets stay out of the file. Loading validates everything (channel types
 * and their settings, as channels/channel_types.def declares them; unset
 * variables; topics naming unknown channels) and names the place of the first
 * problem with a JSON Pointer. A loaded routing owns its expanded document;
 * lookups borrow from it. */
#ifndef SLUICE_ROUTING_H
#define SLUICE_ROUTING_H

#include <jansson.h>
#include <stddef.h>

struct routing;

#define ROUTING_TOPIC_MAX 199 /* bytes of a topic name */

/* A topic as the file knows it: lower-cased into out, since topics match
 * case-insensitively; -1 when empty or longer than ROUTING_TOPIC_MAX. */
int routing_topic_key(const char *topic, char out[ROUTING_TOPIC_MAX + 1]);

typedef char *(*routing_env_fn)(const char *name);

/* Parses and validates text; NULL with "<pointer>: <problem>" in err. */
struct routing *routing_parse(const char *text, routing_env_fn env, char *err, size_t errlen);
/* The same from a file. */
struct routing *routing_load(const char *path, routing_env_fn env, char *err, size_t errlen);
void routing_free(struct routing *r);

/* The channel names of a topic (case-insensitive), or NULL when unknown;
 * borrowed. */
const json_t *routing_topic_channels(const struct routing *r, const char *topic);
/* The fallback channel of a topic, or NULL. */
const char *routing_topic_fallback(const struct routing *r, const char *topic);
/* Every channel: an object of name -> settings; borrowed. */
const json_t *routing_channels(const struct routing *r);
/* A channel's settings (with "type"), or NULL; borrowed. */
const json_t *routing_channel(const struct routing *r, const char *name);
/* The known topics, sorted, comma-separated, into out (for a 422 message). */
void routing_topic_list(const struct routing *r, char *out, size_t outlen);

#endif
