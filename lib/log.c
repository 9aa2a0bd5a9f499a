#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Process-wide logging settings: set once at start-up before threads exist,
 * read-only afterwards, so no locking is needed. */
static enum log_level min_level = LOG_INFO;
static const char *process_name = "sluice";

static const char *level_names[] = {"debug", "info", "warn", "error"};

int log_set_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_process(const char *name)
{
    process_name = name;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

void log_msg(enum log_level level, const char *msg, ...)
{
    if (level < min_level)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "proc", json_string(process_name));
    json_object_set_new(line, "msg", json_string(msg ? msg : ""));
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *value = va_arg(ap, const char *);
        /* json_string refuses invalid UTF-8; keep the line rather than lose it. */
        json_t *v = value ? json_string(value) : json_null();
        json_object_set_new(line, key, v ? v : json_string("<invalid utf-8>"));
    }
    va_end(ap);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

int log_limit_allow(struct log_limit *limit, long long now_s, unsigned long *suppressed)
{
    while (__atomic_exchange_n(&limit->lock, 1, __ATOMIC_ACQUIRE))
        ;
    if (limit->window != now_s) {
        limit->window = now_s;
        limit->used = 0;
    }
    int ok = limit->used < limit->per_second;
    if (ok) {
        limit->used++;
        *suppressed = limit->suppressed;
        limit->suppressed = 0;
    } else {
        limit->suppressed++;
    }
    __atomic_store_n(&limit->lock, 0, __ATOMIC_RELEASE);
    return ok;
}
