#include "channel_settings.h"

#include "problem.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Each SETTING ends in a comma, so a row with no settings is the end alone. */
#define SETTING(key, need, kind) {key, CHANNEL_SETTING_##need, CHANNEL_SETTING_##kind},
#define CHANNEL_TYPE(name, settings)                                                               \
    const struct channel_setting channel_settings_##name[] = {settings{.key = NULL}};
#include "channel_types.def"
#undef CHANNEL_TYPE
#undef SETTING

static const struct {
    const char *name;
    const struct channel_setting *settings;
} types[] = {
#define CHANNEL_TYPE(name, settings) {#name, channel_settings_##name},
#include "channel_types.def"
#undef CHANNEL_TYPE
};
#define TYPE_COUNT (sizeof(types) / sizeof(types[0]))

const struct channel_setting *channel_settings_of(const char *type)
{
    for (size_t i = 0; type && i < TYPE_COUNT; i++) {
        if (strcmp(types[i].name, type) == 0)
            return types[i].settings;
    }
    return NULL;
}

void channel_settings_type_list(char *out, size_t outlen)
{
    size_t len = 0;
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < TYPE_COUNT && len < outlen; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", types[i].name);
        if (w < 0 || (size_t)w >= outlen - len)
            break;
        len += (size_t)w;
    }
}

static const char *article(const char *word)
{
    return word[0] && strchr("aeiou", word[0]) ? "an" : "a";
}

static bool required(const struct channel_setting *s)
{
    return s->need == CHANNEL_SETTING_REQUIRED;
}

/* What s must be, to end a sentence with. */
static const char *expected(const struct channel_setting *s)
{
    switch (s->kind) {
    case CHANNEL_SETTING_STRING:
        return required(s) ? "a non-empty string" : "a string";
    case CHANNEL_SETTING_STRING_OR_LIST:
        return required(s) ? "a non-empty string, or a non-empty list of them"
                           : "a string, or a list of strings";
    }
    return "";
}

/* What v is instead, so that the error says what to change. */
static const char *found(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return json_array_size(v) ? "a list" : "an empty list";
    case JSON_STRING:
        return json_string_length(v) ? "a string" : "an empty string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

static bool string_ok(const json_t *v, bool nonempty)
{
    return json_is_string(v) && (!nonempty || json_string_length(v) > 0);
}

/* Checks v, the value of s found at where; -1 with err naming where (or the
 * item of a list at fault). */
static int check_value(const json_t *v, const struct channel_setting *s, const char *type,
                       const char *where, char *err, size_t errlen)
{
    if (string_ok(v, required(s)))
        return 0;
    if (s->kind == CHANNEL_SETTING_STRING_OR_LIST && json_is_array(v) &&
        (!required(s) || json_array_size(v) > 0)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            if (!string_ok(item, required(s))) {
                snprintf(err, errlen, "%s/%zu: an item of %s %s channel's \"%s\" is %s, not %s",
                         where, i, article(type), type, s->key,
                         required(s) ? "a non-empty string" : "a string", found(item));
                return -1;
            }
        }
        return 0;
    }
    snprintf(err, errlen, "%s: %s %s channel's \"%s\" is %s, not %s", where, article(type), type,
             s->key, expected(s), found(v));
    return -1;
}

int channel_settings_check(const json_t *conf, const char *pointer, char *err, size_t errlen)
{
    char where[512];
    const char *type = json_string_value(json_object_get(conf, "type"));
    const struct channel_setting *s = channel_settings_of(type);
    if (!s) {
        char names[256];
        channel_settings_type_list(names, sizeof(names));
        problem_pointer_join(where, sizeof(where), pointer, "type");
        snprintf(err, errlen, "%s: \"%s\" is not a channel type (%s)", where, type ? type : "",
                 names);
        return -1;
    }
    for (; s->key; s++) {
        const json_t *v = json_object_get(conf, s->key);
        problem_pointer_join(where, sizeof(where), pointer, s->key);
        if (!v || json_is_null(v)) {
            if (!required(s))
                continue;
            snprintf(err, errlen, "%s: %s %s channel needs this setting (%s)", where, article(type),
                     type, expected(s));
            return -1;
        }
        if (check_value(v, s, type, where, err, errlen) != 0)
            return -1;
    }
    return 0;
}
