/* channel_settings: the settings each channel type declares (after Fluent
 * Bit's config_map), and the check of a routing file's channel against them.
 *
 * The declarations are the rows of channel_types.def. This module needs no
 * libcurl and is built into the core library, so lib/routing.c validates a
 * file the same way in sluice-ingest, which never links the senders. All of
 * it is static data: nothing to free.
 *
 * A declaration checks what a setting looks like in the file before its
 * ${VAR}s are known (ingest never looks them up): there, a string, a list.
 * What the text means (a URL's scheme, an address) is for the type's init to
 * check in sluice-notify. Settings no type declares are ignored, as the inits
 * ignore them. */
#ifndef SLUICE_CHANNEL_SETTINGS_H
#define SLUICE_CHANNEL_SETTINGS_H

#include <jansson.h>
#include <stddef.h>

enum channel_setting_need {
    /* There, and nothing in it empty: no "" and no []. */
    CHANNEL_SETTING_REQUIRED,
    /* Absent or null, or of its kind (where "" may mean something, as an
     * empty subject_prefix does). */
    CHANNEL_SETTING_OPTIONAL,
};

enum channel_setting_kind {
    CHANNEL_SETTING_STRING,         /* a string */
    CHANNEL_SETTING_STRING_OR_LIST, /* a string, or an array of strings */
};

struct channel_setting {
    const char *key; /* NULL ends a type's list */
    enum channel_setting_need need;
    enum channel_setting_kind kind;
};

/* channel_settings_<name>: each type's settings, in the order of its row. */
#define CHANNEL_TYPE(name, settings) extern const struct channel_setting channel_settings_##name[];
#include "channel_types.def"
#undef CHANNEL_TYPE

/* The settings of the type called type, or NULL when there is no such type. */
const struct channel_setting *channel_settings_of(const char *type);

/* Every type's name in the order of the table, separated by ", ", into out
 * (cut to fit): what an error about an unknown type lists. */
void channel_settings_type_list(char *out, size_t outlen);

/* Checks conf, a channel's object of the routing file (borrowed), against
 * the declarations of its "type"; pointer is conf's JSON Pointer in the file.
 * -1 with "<pointer>/<setting>: problem" in err for the first problem. */
int channel_settings_check(const json_t *conf, const char *pointer, char *err, size_t errlen);

#endif
