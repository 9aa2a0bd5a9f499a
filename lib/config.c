#include "config.h"

#include "log.h"
#include "netaddr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int config_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= hostlen)
        return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return 0;
}

static int config_set(const struct config_entry *e, void *target, const char *value, char *err,
                      size_t errlen)
{
    char *field = (char *)target + e->offset;
    switch (e->type) {
    case CONFIG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || *end || end == value || v < e->min || v > e->max) {
            snprintf(err, errlen, "%s=%s: expected an integer from %ld to %ld", e->env, value,
                     e->min, e->max);
            return -1;
        }
        *(long *)field = v;
        return 0;
    }
    case CONFIG_ADDR: {
        char host[256];
        int port;
        if (config_split_addr(value, host, sizeof(host), &port) != 0) {
            snprintf(err, errlen, "%s=%s: expected host:port with a port from 1 to 65535", e->env,
                     value);
            return -1;
        }
        break;
    }
    case CONFIG_LEVEL:
        if (strcmp(value, "debug") && strcmp(value, "info") && strcmp(value, "warn") &&
            strcmp(value, "error")) {
            snprintf(err, errlen, "%s=%s: expected one of debug, info, warn, error", e->env, value);
            return -1;
        }
        break;
    case CONFIG_CIDRS: {
        struct cidr list[CONFIG_MAX_CIDRS];
        size_t n;
        char why[160];
        if (cidr_parse_list(value, list, CONFIG_MAX_CIDRS, &n, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s: %s", e->env, why);
            return -1;
        }
        break;
    }
    case CONFIG_OPTIONAL:
        break;
    case CONFIG_STRING:
        if (!*value) {
            snprintf(err, errlen, "%s: must not be empty", e->env);
            return -1;
        }
        break;
    }
    char *copy = strdup(value);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", e->env);
        return -1;
    }
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
}

int config_load(const struct config_entry *table, size_t n, void *target, config_lookup_fn lookup,
                char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const char *value = lookup(table[i].env);
        if (!value ||
            (!*value && table[i].type != CONFIG_CIDRS && table[i].type != CONFIG_OPTIONAL))
            value = table[i].default_value;
        if (config_set(&table[i], target, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void config_free(const struct config_entry *table, size_t n, void *target)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CONFIG_INT)
            continue;
        char **field = (char **)((char *)target + table[i].offset);
        free(*field);
        *field = NULL;
    }
}

void config_print_help(FILE *out, const char *prog, const char *summary,
                       const struct config_entry *table, size_t n)
{
    fprintf(out, "Usage: %s [--help]\n\n%s\n\nEnvironment:\n", prog, summary);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-26s %s (default: %s)\n", table[i].env, table[i].help,
                *table[i].default_value ? table[i].default_value : "none");
}

int config_from_args(int argc, char **argv, const char *summary, const struct config_entry *table,
                     size_t n, void *target, int *exit_code)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(stdout, argv[0], summary, table, n);
            *exit_code = 0;
            return -1;
        }
        fprintf(stderr, "%s: unknown argument '%s' (configuration is by environment; see --help)\n",
                argv[0], argv[i]);
        *exit_code = 2;
        return -1;
    }
    char err[512];
    if (config_load(table, n, target, getenv, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: invalid configuration: %s\n", argv[0], err);
        config_free(table, n, target);
        *exit_code = 2;
        return -1;
    }
    return 0;
}
