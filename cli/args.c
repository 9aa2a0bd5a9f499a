#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int find_long(const struct cli_parsed *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->noptions; i++)
        if (strlen(p->options[i]->name) == len && strncmp(p->options[i]->name, name, len) == 0)
            return (int)i;
    return -1;
}

static int find_short(const struct cli_parsed *p, char c)
{
    for (size_t i = 0; i < p->noptions; i++)
        if (p->options[i]->short_name == c)
            return (int)i;
    return -1;
}

/* Sets option i from the text after its name (attached: "=v" or "v"), or
 * from the next argument; *pos moves past what was used. */
static int take(struct cli_parsed *p, int i, const char *shown, const char *attached, int argc,
                char **argv, int *pos, char *err, size_t errlen)
{
    const struct cli_option *o = p->options[i];
    if (!o->metavar) {
        if (attached) {
            snprintf(err, errlen, "%s takes no value", shown);
            return -1;
        }
        p->value[i] = "";
        return 0;
    }
    if (attached) {
        p->value[i] = attached;
        return 0;
    }
    if (*pos + 1 >= argc) {
        snprintf(err, errlen, "%s needs a value (%s)", shown, o->metavar);
        return -1;
    }
    p->value[i] = argv[++*pos];
    return 0;
}

int cli_args_parse(const struct cli_option *const *lists, int argc, char **argv,
                   struct cli_parsed *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (size_t l = 0; lists[l]; l++) {
        for (const struct cli_option *o = lists[l]; o->name; o++) {
            if (find_long(out, o->name, strlen(o->name)) >= 0)
                continue;
            if (out->noptions == CLI_MAX_OPTIONS) {
                snprintf(err, errlen, "too many options declared (CLI_MAX_OPTIONS)");
                return -1;
            }
            out->options[out->noptions++] = o;
        }
    }
    bool options_end = false;
    for (int pos = 0; pos < argc; pos++) {
        const char *a = argv[pos];
        if (options_end || a[0] != '-' || a[1] == '\0') {
            if (out->nargs == CLI_MAX_ARGS) {
                snprintf(err, errlen, "too many arguments");
                return -1;
            }
            out->arg[out->nargs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_end = true;
            continue;
        }
        int i;
        const char *attached = NULL;
        char shown[64];
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (eq)
                attached = eq + 1;
            snprintf(shown, sizeof(shown), "--%.*s", (int)(len < 50 ? len : 50), name);
            i = find_long(out, name, len);
        } else {
            snprintf(shown, sizeof(shown), "-%c", a[1]);
            i = find_short(out, a[1]);
            if (a[2] != '\0')
                attached = a + 2;
        }
        if (i < 0) {
            snprintf(err, errlen, "unknown option %s", shown);
            return -1;
        }
        if (take(out, i, shown, attached, argc, argv, &pos, err, errlen) != 0)
            return -1;
    }
    return 0;
}

const char *cli_args_get(const struct cli_parsed *p, const char *name)
{
    int i = find_long(p, name, strlen(name));
    return i < 0 ? NULL : p->value[i];
}

bool cli_args_flag(const struct cli_parsed *p, const char *name)
{
    return cli_args_get(p, name) != NULL;
}

int cli_args_uint(const char *text, long min, long max, long *out)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_args_time(const char *text, time_t now, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = strlen(text);
    /* A date or date-time starts with its year: the server checks the rest
     * and names what is wrong better than a second parser here would. */
    if (n >= 5 && isdigit((unsigned char)text[0]) && isdigit((unsigned char)text[1]) &&
        isdigit((unsigned char)text[2]) && isdigit((unsigned char)text[3]) && text[4] == '-') {
        if (n >= outlen) {
            snprintf(err, errlen, "too long");
            return -1;
        }
        memcpy(out, text, n + 1);
        return 0;
    }
    static const struct {
        char unit;
        long seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    long count = -1, per = 0;
    if (n >= 2 && n <= 8) {
        char digits[8];
        memcpy(digits, text, n - 1);
        digits[n - 1] = '\0';
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
            if (text[n - 1] == units[u].unit)
                per = units[u].seconds;
        /* At most about 190 years back: the server takes years from 0001. */
        if (per && cli_args_uint(digits, 0, 6000000000L / per, &count) != 0)
            count = -1;
    }
    if (count < 0) {
        snprintf(err, errlen,
                 "expected a date (2024-05-01), an RFC 3339 date-time (2024-05-01T12:00:00Z) or "
                 "a duration back from now (90s, 15m, 2h, 7d, 1w)");
        return -1;
    }
    time_t at = now - (time_t)(count * per);
    struct tm tm;
    if (!gmtime_r(&at, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(err, errlen, "out of range");
        return -1;
    }
    return 0;
}
