/* progress: what an import shows while it runs, on stderr.
 *
 * On a terminal, one line redrawn in place (at most ten times a second):
 * a bar, a percentage and the figures. Elsewhere (a pipe, a CI log), plain
 * lines, at most one every CLI_PROGRESS_PLAIN_SECONDS, so a log stays
 * short. The formatting is pure (the unit tests call it); the renderer keeps
 * only timing and whether a line is on screen. */
#ifndef SLUICE_CLI_PROGRESS_H
#define SLUICE_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_PROGRESS_PLAIN_SECONDS 5.0

/* A byte count for people: "512 B", "1.5 KiB", "12.3 MiB", "4.00 GiB". */
void cli_progress_bytes(uint64_t n, char *out, size_t outlen);

/* The terminal line, at most columns - 1 characters (the last column would
 * wrap on some terminals): label, then, when total is known (> 0), a bar
 * and a percentage, then detail. The bar takes what room is left, 10 to 30
 * cells, and is left out below 10. */
void cli_progress_format(char *out, size_t outlen, const char *label, uint64_t done, uint64_t total,
                         const char *detail, int columns);

/* The plain line: "label: detail" with " (NN%)" when total is known. */
void cli_progress_plain(char *out, size_t outlen, const char *label, uint64_t done, uint64_t total,
                        const char *detail);

struct cli_progress {
    FILE *f;
    bool tty;
    int columns;
    double last; /* when a line was last shown; 0: never */
    bool drawn;  /* tty: a line is on screen */
};

void cli_progress_init(struct cli_progress *p, FILE *f, bool tty);
/* Shows the state, unless one was shown too recently (force: show anyway). */
void cli_progress_show(struct cli_progress *p, const char *label, uint64_t done, uint64_t total,
                       const char *detail, bool force);
/* Erases the terminal line, so what follows starts on a clean one. */
void cli_progress_clear(struct cli_progress *p);

/* Seconds on a monotonic clock. */
double cli_progress_now(void);

#endif
