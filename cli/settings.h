/* settings: where sluicectl finds the API and its key.
 *
 * Each setting comes from the first of: the command line (--url), the
 * environment (SLUICE_API_URL, SLUICE_API_KEY; an empty value counts as
 * unset), the file `make run` writes while it runs (.run/env in the current
 * directory), and the default (http://127.0.0.1:8080; no key). The struct
 * owns its strings; cli_settings_free releases them. */
#ifndef SLUICE_CLI_SETTINGS_H
#define SLUICE_CLI_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_RUN_ENV ".run/env"

struct cli_settings {
    char *url; /* no trailing '/' */
    char *key; /* NULL: no Authorization header */
    const char
        *url_from; /* for messages: "--url", "the environment", the env file, "the default" */
};

/* The value NAME is given in the text of a shell env file: lines of
 * `NAME=value` or `export NAME=value`, the value bare (up to a blank or a
 * `#`), in single quotes, or in double quotes with \" \\ \$ \` escapes;
 * blank lines and `#` comments are skipped, and so is any line this does
 * not read. The last assignment wins, as in the shell. Returns 1 with a heap
 * copy in *value, 0 when the name is not assigned, -1 out of memory. */
int cli_settings_env_value(const char *text, const char *name, char **value);

/* Fills s as the header says; url_flag is --url's value or NULL, env_path
 * the env file to read (CLI_RUN_ENV). Returns 0, or -1 with err naming the
 * setting and its source when the URL is not an http:// or https:// URL. */
int cli_settings_load(struct cli_settings *s, const char *url_flag, const char *env_path, char *err,
                      size_t errlen);
void cli_settings_free(struct cli_settings *s);

#endif
