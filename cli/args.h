/* args: the command line of one sluicectl command, parsed against a table of
 * options, and the converters for the values it takes (counts, times).
 *
 * Options may come before, between or after the positional arguments, as in
 * gh and git: `--name value`, `--name=value`, `-x value`, `-xvalue`; `--`
 * ends the options and a lone `-` is an argument (standard input). Values and
 * arguments point into argv: nothing here allocates. */
#ifndef SLUICE_CLI_ARGS_H
#define SLUICE_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CLI_MAX_OPTIONS 24
#define CLI_MAX_ARGS 8

/* One option of a command. A list ends with a row whose name is NULL. */
struct cli_option {
    const char *name;    /* "type" for --type */
    char short_name;     /* 'h' for -h; 0 for none */
    const char *metavar; /* what its value is called in help ("T"); NULL for a flag */
    const char *help;
};

struct cli_parsed {
    const struct cli_option *options[CLI_MAX_OPTIONS]; /* what was parsed against */
    size_t noptions;
    const char *value[CLI_MAX_OPTIONS]; /* per option: its value, "" for a flag, NULL unset */
    const char *arg[CLI_MAX_ARGS];
    int nargs;
};

/* Parses argv[0..argc) against the options of every list in lists (NULL
 * terminated; the first list naming an option wins). A repeated option keeps
 * its last value. Returns 0, or -1 with the reason in err: an unknown option,
 * a flag given a value, a missing value, more than CLI_MAX_ARGS arguments. */
int cli_args_parse(const struct cli_option *const *lists, int argc, char **argv,
                   struct cli_parsed *out, char *err, size_t errlen);

/* The value of --name, "" for a set flag, NULL when absent (or unknown). */
const char *cli_args_get(const struct cli_parsed *p, const char *name);
bool cli_args_flag(const struct cli_parsed *p, const char *name);

/* A decimal integer from min to max, nothing else (no sign, no spaces, no
 * suffix); 0 and *out, or -1. */
int cli_args_uint(const char *text, long min, long max, long *out);

/* A time for a query bound, as --since and --until take it: a date
 * (2024-05-01) or an RFC 3339 date-time, passed on as written for the server
 * to check, or a duration back from now ("90s", "15m", "2h", "7d", "1w")
 * turned into a UTC date-time. 0 with the value in out, or -1 when it is
 * neither (err says what is taken). */
int cli_args_time(const char *text, time_t now, char *out, size_t outlen, char *err, size_t errlen);

#endif
