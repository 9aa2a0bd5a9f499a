/* config: configuration as one table per executable.
 *
 * Each row names an environment variable, its type, default, bounds and help;
 * loading, validation and --help all read the same table (after Redis'
 * standardConfig). String fields are heap copies owned by the target struct and
 * released by config_free. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#ifndef SLUICE_DEFAULT_SCHEMA_DIR
#define SLUICE_DEFAULT_SCHEMA_DIR "schema"
#endif

#ifndef SLUICE_DEFAULT_ROUTING_FILE
#define SLUICE_DEFAULT_ROUTING_FILE "deploy/routing.json"
#endif

#define CONFIG_MAX_CIDRS 64

enum config_type {
    CONFIG_STRING,   /* char *, any non-empty text */
    CONFIG_INT,      /* long, between min and max */
    CONFIG_ADDR,     /* char *, "host:port" with a port 1..65535 */
    CONFIG_LEVEL,    /* char *, one of debug, info, warn, error */
    CONFIG_CIDRS,    /* char *, comma-separated IP addresses or CIDR blocks; may be empty */
    CONFIG_OPTIONAL, /* char *, any text; empty means unset (a feature left off) */
};

struct config_entry {
    const char *env;
    enum config_type type;
    const char *default_value;
    size_t offset; /* offsetof(target struct, field) */
    long min, max; /* CONFIG_INT bounds */
    const char *help;
};

/* Where values come from: getenv in production, a table in tests. */
typedef char *(*config_lookup_fn)(const char *name);

/* Fills target from the table; on an invalid value returns -1 with one line
 * naming the variable and what was expected in err. */
int config_load(const struct config_entry *table, size_t n, void *target, config_lookup_fn lookup,
                char *err, size_t errlen);
void config_free(const struct config_entry *table, size_t n, void *target);
void config_print_help(FILE *out, const char *prog, const char *summary,
                       const struct config_entry *table, size_t n);

/* The fields every Sluice process's configuration struct starts with, which
 * CONFIG_COMMON_ENTRIES fills. */
#define CONFIG_COMMON_FIELDS                                                                       \
    char *kafka_brokers;                                                                           \
    char *pg_url;                                                                                  \
    char *topic_prefix;                                                                            \
    char *log_level;                                                                               \
    char *schema_dir

/* The rows every Sluice process shares (the target struct has
 * CONFIG_COMMON_FIELDS). */
#define CONFIG_COMMON_ENTRIES(type)                                                                \
    {                                                                                              \
        "SLUICE_KAFKA_BROKERS",                                                                    \
        CONFIG_STRING,                                                                             \
        "127.0.0.1:9092",                                                                          \
        offsetof(type, kafka_brokers),                                                             \
        0,                                                                                         \
        0,                                                                                         \
        "Kafka bootstrap servers"},                                                                \
        {"SLUICE_PG_URL",                                                                          \
         CONFIG_STRING,                                                                            \
         "postgresql:///sluice",                                                                   \
         offsetof(type, pg_url),                                                                   \
         0,                                                                                        \
         0,                                                                                        \
         "PostgreSQL connection URL"},                                                             \
        {"SLUICE_TOPIC_PREFIX",    CONFIG_STRING, "sluice.", offsetof(type, topic_prefix), 0, 0,   \
         "Kafka topic name prefix"},                                                               \
        {"SLUICE_LOG_LEVEL",        CONFIG_LEVEL, "info", offsetof(type, log_level), 0, 0,         \
         "debug, info, warn, error"},                                                              \
    {                                                                                              \
        "SLUICE_SCHEMA_DIR", CONFIG_STRING, SLUICE_DEFAULT_SCHEMA_DIR, offsetof(type, schema_dir), \
            0, 0, "directory of numbered SQL migrations"                                           \
    }

/* Splits "host:port" into its parts; returns -1 when malformed. */
int config_split_addr(const char *addr, char *host, size_t hostlen, int *port);

/* Shared --help / config error handling for main(): returns 0 to go on, or an
 * exit code (0 after --help, 2 after a bad value) in *exit_code. */
int config_from_args(int argc, char **argv, const char *summary, const struct config_entry *table,
                     size_t n, void *target, int *exit_code);

#endif
