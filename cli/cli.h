/* cli: what every sluicectl command is handed, and the exit codes scripts
 * can rely on (the same in --help and docs/cli.md). */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include "http.h"
#include "output.h"
#include "settings.h"

#define CLI_VERSION "0.1.0"
/* What one request (not an upload) may take, beyond a Prefer: wait: ingest
 * answers a write within its 5 s Kafka timeout and a read within its 5 s
 * database timeout, so this is a network that has gone away. */
#define CLI_REQUEST_TIMEOUT_S 30L

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,    /* no answer, an HTTP error answer, a local failure */
    CLI_EXIT_USAGE = 2,    /* the command line is wrong: nothing was sent */
    CLI_EXIT_REJECTED = 3, /* import --strict: done, but records were rejected or dropped */
    CLI_EXIT_AUTH = 4,     /* 401 or 403: the key is missing, wrong or not allowed */
};

/* One run of one command; main owns it. */
struct cli_ctx {
    struct cli_settings settings;
    struct cli_http http;
    struct cli_out out;
    const char *name; /* "events get", for messages */
};

#endif
