/* log: structured JSON log lines on stderr.
 *
 * Each line is one JSON object: {"ts", "level", "msg", ...fields}. Fields are
 * given as a NULL-terminated list of key, value string pairs; values are
 * escaped here, so callers pass raw strings. Never pass secrets or bodies. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level written; returns -1 for an unknown name. */
int log_set_level(const char *name);
void log_set_process(const char *name);
/* Whether a line of level would be written: lets a caller skip building
 * fields for a debug line nobody reads (one per record at volume). */
bool log_enabled(enum log_level level);

/* log_msg(LOG_INFO, "listening", "addr", "127.0.0.1:8080", NULL) */
void log_msg(enum log_level level, const char *msg, ...) __attribute__((sentinel));

/* A rate limit for lines that outsiders can cause (a library's messages
 * about malformed requests): at most per_second lines a second; the first
 * line after a suppressed stretch says how many were left out. Zero-init,
 * then set per_second; thread-safe. */
struct log_limit {
    unsigned per_second;
    /* private */
    long long window; /* the second being counted */
    unsigned used;
    unsigned long suppressed;
    int lock; /* a spinlock: the critical section is a few instructions */
};

/* True when a line may be written now; *suppressed gets how many were left
 * out since the last line written (to report with it). */
int log_limit_allow(struct log_limit *limit, long long now_s, unsigned long *suppressed);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, NULL)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__, NULL)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__, NULL)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, NULL)

#endif
