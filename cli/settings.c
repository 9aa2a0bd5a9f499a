#include "settings.h"

#include "url.h"

#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Reads the value starting at p up to end (one line) into out; -1 when the
 * line is not one this reads (an unterminated quote, text after it). */
static int read_value(const char *p, const char *end, struct buf *out)
{
    while (p < end && *p != ' ' && *p != '\t' && *p != '#') {
        if (*p == '\'') {
            const char *close = memchr(p + 1, '\'', (size_t)(end - p - 1));
            if (!close || buf_append(out, p + 1, (size_t)(close - p - 1)) != 0)
                return -1;
            p = close + 1;
        } else if (*p == '"') {
            for (p++;; p++) {
                if (p == end)
                    return -1;
                if (*p == '"')
                    break;
                if (*p == '\\' && p + 1 < end && strchr("\"\\$`", p[1]))
                    p++;
                if (buf_append(out, p, 1) != 0)
                    return -1;
            }
            p++;
        } else {
            if (buf_append(out, p, 1) != 0)
                return -1;
            p++;
        }
    }
    p = skip_blanks(p, end);
    return p == end || *p == '#' ? 0 : -1;
}

int cli_settings_env_value(const char *text, const char *name, char **value)
{
    size_t name_len = strlen(name);
    char *found = NULL;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        const char *next = *end ? end + 1 : end;
        const char *stop = end > line && end[-1] == '\r' ? end - 1 : end;
        const char *p = skip_blanks(line, stop);
        if ((size_t)(stop - p) > 7 && strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
            p = skip_blanks(p + 7, stop);
        if ((size_t)(stop - p) > name_len && strncmp(p, name, name_len) == 0 &&
            p[name_len] == '=') {
            struct buf v = {0};
            if (read_value(p + name_len + 1, stop, &v) == 0) {
                /* An empty value still is a value: the buffer may be unused. */
                char *s = v.data ? buf_steal(&v) : strdup("");
                if (!s) {
                    free(found);
                    return -1;
                }
                free(found);
                found = s;
            }
            buf_free(&v);
        }
        line = next;
    }
    *value = found;
    return found ? 1 : 0;
}

/* The value of name from the environment or, when unset or empty there, from
 * the env file (read once, on first need, into *file). 1 found, 0 not, -1
 * out of memory. */
static int lookup(const char *name, const char *env_path, struct buf *file, bool *file_read,
                  char **value, const char **from)
{
    const char *env = getenv(name);
    if (env && *env) {
        *value = strdup(env);
        *from = "the environment";
        return *value ? 1 : -1;
    }
    if (!*file_read) {
        *file_read = true;
        /* No file, or one that cannot be read, is no setting: make run is
         * simply not running here. */
        if (buf_read_file(file, env_path) != 0)
            buf_free(file);
    }
    if (!file->data)
        return 0;
    int rc = cli_settings_env_value(file->data, name, value);
    if (rc == 1 && **value == '\0') {
        free(*value);
        *value = NULL;
        return 0;
    }
    if (rc == 1)
        *from = env_path;
    return rc;
}

int cli_settings_load(struct cli_settings *s, const char *url_flag, const char *env_path, char *err,
                      size_t errlen)
{
    int rc = -1;
    struct buf file = {0};
    bool file_read = false;
    const char *key_from = NULL;
    memset(s, 0, sizeof(*s));
    if (url_flag) {
        s->url = strdup(url_flag);
        s->url_from = "--url";
    } else {
        int found = lookup("SLUICE_API_URL", env_path, &file, &file_read, &s->url, &s->url_from);
        if (found < 0)
            goto oom;
        if (found == 0) {
            s->url = strdup(CLI_DEFAULT_URL);
            s->url_from = "the default";
        }
    }
    if (!s->url)
        goto oom;
    if (lookup("SLUICE_API_KEY", env_path, &file, &file_read, &s->key, &key_from) < 0)
        goto oom;
    if (!url_http_ok(s->url)) {
        if (strcmp(s->url_from, "--url") == 0)
            snprintf(err, errlen, "--url is not an http:// or https:// URL: \"%.200s\"", s->url);
        else
            snprintf(err, errlen,
                     "SLUICE_API_URL (from %s) is not an http:// or https:// URL: \"%.200s\"",
                     s->url_from, s->url);
        goto out;
    }
    size_t n = strlen(s->url);
    while (n > 0 && s->url[n - 1] == '/')
        s->url[--n] = '\0';
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    buf_free(&file);
    if (rc != 0)
        cli_settings_free(s);
    return rc;
}

void cli_settings_free(struct cli_settings *s)
{
    free(s->url);
    free(s->key);
    s->url = s->key = NULL;
}
