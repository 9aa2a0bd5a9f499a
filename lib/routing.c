#include "routing.h"

#include "buf.h"
#include "channel_settings.h"
#include "problem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct routing {
    json_t *doc; /* expanded and validated */
};

/* Replaces every ${VAR} in s; -1 with err naming the variable when unset. */
static json_t *expand(const char *s, const char *pointer, routing_env_fn env, char *err,
                      size_t errlen)
{
    struct buf out = {0};
    buf_puts(&out, "");
    const char *p = s;
    while (*p) {
        const char *start = strstr(p, "${");
        if (!start) {
            buf_puts(&out, p);
            break;
        }
        buf_append(&out, p, (size_t)(start - p));
        const char *end = strchr(start + 2, '}');
        size_t len = end ? (size_t)(end - start - 2) : 0;
        char name[128];
        if (!end || len == 0 || len >= sizeof(name)) {
            snprintf(err, errlen, "%s: \"${\" without a variable name and \"}\"", pointer);
            buf_free(&out);
            return NULL;
        }
        memcpy(name, start + 2, len);
        name[len] = '\0';
        for (size_t i = 0; i < len; i++) {
            if (!(isalnum((unsigned char)name[i]) || name[i] == '_')) {
                snprintf(err, errlen, "%s: ${%s} is not a variable name", pointer, name);
                buf_free(&out);
                return NULL;
            }
        }
        const char *value = env(name);
        if (!value) {
            snprintf(err, errlen, "%s: ${%s} is not set in the environment", pointer, name);
            buf_free(&out);
            return NULL;
        }
        buf_puts(&out, value);
        p = end + 1;
    }
    json_t *result = json_string(out.data);
    buf_free(&out);
    if (!result)
        snprintf(err, errlen, "%s: the expanded value is not valid UTF-8", pointer);
    return result;
}

/* Expands every string of v in place (objects and arrays recursively). */
static int expand_all(json_t *v, const char *pointer, routing_env_fn env, char *err, size_t errlen)
{
    char child[512];
    if (json_is_object(v)) {
        const char *key;
        json_t *value;
        json_object_foreach(v, key, value)
        {
            problem_pointer_join(child, sizeof(child), pointer, key);
            if (json_is_string(value)) {
                json_t *x = expand(json_string_value(value), child, env, err, errlen);
                if (!x)
                    return -1;
                json_object_set_new(v, key, x);
            } else if (expand_all(value, child, env, err, errlen) != 0) {
                return -1;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *value;
        json_array_foreach(v, i, value)
        {
            snprintf(child, sizeof(child), "%s/%zu", pointer, i);
            if (json_is_string(value)) {
                json_t *x = expand(json_string_value(value), child, env, err, errlen);
                if (!x)
                    return -1;
                json_array_set_new(v, i, x);
            } else if (expand_all(value, child, env, err, errlen) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* What each type's settings must be is its row of channels/channel_types.def,
 * so ingest, which never links the channels, refuses the files notify would. */
static int check_channel(const char *name, const json_t *ch, char *err, size_t errlen)
{
    char ptr[300];
    problem_pointer_join(ptr, sizeof(ptr), "/channels", name);
    if (!json_is_object(ch)) {
        snprintf(err, errlen, "%s: a channel is an object with a \"type\"", ptr);
        return -1;
    }
    return channel_settings_check(ch, ptr, err, errlen);
}

static int check_topic(const char *name, const json_t *topic, const json_t *channels, char *err,
                       size_t errlen)
{
    char ptr[300];
    problem_pointer_join(ptr, sizeof(ptr), "/topics", name);
    const json_t *list = json_object_get(topic, "channels");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, errlen, "%s/channels: a topic names one or more channels", ptr);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *ch = json_string_value(json_array_get(list, i));
        if (!ch || !json_object_get(channels, ch)) {
            snprintf(err, errlen, "%s/channels/%zu: no channel is named \"%s\"", ptr, i,
                     ch ? ch : "");
            return -1;
        }
    }
    const json_t *fallback = json_object_get(topic, "fallback");
    if (fallback && !json_is_null(fallback) &&
        (!json_is_string(fallback) || !json_object_get(channels, json_string_value(fallback)))) {
        snprintf(err, errlen, "%s/fallback: no channel is named so", ptr);
        return -1;
    }
    return 0;
}

struct routing *routing_parse(const char *text, routing_env_fn env, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return NULL;
    }
    json_t *channels = json_object_get(doc, "channels");
    json_t *topics = json_object_get(doc, "topics");
    const char *key;
    json_t *value;
    if (!json_is_object(channels) || !json_is_object(topics)) {
        snprintf(err, errlen, "the file needs \"channels\" and \"topics\" objects");
        goto fail;
    }
    if (expand_all(doc, "", env, err, errlen) != 0)
        goto fail;
    json_object_foreach(channels, key, value)
    {
        if (check_channel(key, value, err, errlen) != 0)
            goto fail;
    }
    /* Topics match case-insensitively: store them lower-cased, once each. */
    json_t *lowered = json_object();
    json_object_foreach(topics, key, value)
    {
        char lower[ROUTING_TOPIC_MAX + 1];
        if (routing_topic_key(key, lower) != 0) {
            snprintf(err, errlen, "/topics: topic names are 1 to %d bytes", ROUTING_TOPIC_MAX);
            json_decref(lowered);
            goto fail;
        }
        if (json_object_get(lowered, lower)) {
            snprintf(err, errlen, "/topics/%s: the topic appears twice (names ignore case)", key);
            json_decref(lowered);
            goto fail;
        }
        if (check_topic(key, value, channels, err, errlen) != 0) {
            json_decref(lowered);
            goto fail;
        }
        json_object_set(lowered, lower, value);
    }
    json_object_set_new(doc, "topics", lowered);
    struct routing *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r->doc = doc;
    return r;
fail:
    json_decref(doc);
    return NULL;
}

struct routing *routing_load(const char *path, routing_env_fn env, char *err, size_t errlen)
{
    struct buf text = {0};
    if (buf_read_file(&text, path) != 0) {
        snprintf(err, errlen, "cannot open %s", path);
        buf_free(&text);
        return NULL;
    }
    struct routing *r = routing_parse(text.data ? text.data : "", env, err, errlen);
    buf_free(&text);
    return r;
}

void routing_free(struct routing *r)
{
    if (!r)
        return;
    json_decref(r->doc);
    free(r);
}

int routing_topic_key(const char *topic, char out[ROUTING_TOPIC_MAX + 1])
{
    size_t n = strlen(topic);
    if (n == 0 || n > ROUTING_TOPIC_MAX)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)topic[i]);
    return 0;
}

static const json_t *topic_of(const struct routing *r, const char *topic)
{
    char key[ROUTING_TOPIC_MAX + 1];
    if (routing_topic_key(topic, key) != 0)
        return NULL;
    return json_object_get(json_object_get(r->doc, "topics"), key);
}

const json_t *routing_topic_channels(const struct routing *r, const char *topic)
{
    const json_t *t = topic_of(r, topic);
    return t ? json_object_get(t, "channels") : NULL;
}

const char *routing_topic_fallback(const struct routing *r, const char *topic)
{
    const json_t *t = topic_of(r, topic);
    return t ? json_string_value(json_object_get(t, "fallback")) : NULL;
}

const json_t *routing_channels(const struct routing *r)
{
    return json_object_get(r->doc, "channels");
}

const json_t *routing_channel(const struct routing *r, const char *name)
{
    return json_object_get(json_object_get(r->doc, "channels"), name);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void routing_topic_list(const struct routing *r, char *out, size_t outlen)
{
    const json_t *topics = json_object_get(r->doc, "topics");
    size_t n = json_object_size(topics), i = 0;
    const char **names = calloc(n ? n : 1, sizeof(*names));
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)topics, key, value) names[i++] = key;
    qsort(names, n, sizeof(*names), compare_names);
    out[0] = '\0';
    size_t len = 0;
    for (i = 0; i < n; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= outlen - len)
            break;
        len += (size_t)w;
    }
    free(names);
}
