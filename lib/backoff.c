#include "backoff.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_duration(const char *start, const char *end, int64_t *ms)
{
    char text[32];
    size_t len = (size_t)(end - start);
    while (len && isspace((unsigned char)start[0])) {
        start++;
        len--;
    }
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, start, len);
    text[len] = '\0';
    if (!isdigit((unsigned char)text[0]))
        return -1;
    char *unit;
    errno = 0;
    long long n = strtoll(text, &unit, 10);
    if (errno)
        return -1;
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    int64_t scale = 0;
    if (*unit == '\0' && n == 0)
        scale = 1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !scale; i++) {
        if (strcmp(unit, units[i].name) == 0)
            scale = units[i].ms;
    }
    if (!scale || n > BACKOFF_MAX_DELAY_MS / scale)
        return -1;
    *ms = (int64_t)n * scale;
    return 0;
}

int backoff_parse(const char *text, struct backoff_schedule *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (out->attempts == BACKOFF_MAX_ATTEMPTS) {
            snprintf(err, errlen, "at most %d attempts", BACKOFF_MAX_ATTEMPTS);
            return -1;
        }
        if (parse_duration(p, end, &out->delay_ms[out->attempts]) != 0) {
            snprintf(err, errlen,
                     "entry %zu is not a duration such as 0, 200ms, 5s, 5m or 2h (at most 7 days)",
                     out->attempts + 1);
            return -1;
        }
        out->attempts++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int64_t backoff_delay_ms(const struct backoff_schedule *s, int attempt, double rand01)
{
    if (attempt < 1 || (size_t)attempt > s->attempts)
        return -1;
    int64_t base = s->delay_ms[attempt - 1];
    if (rand01 < 0 || rand01 >= 1)
        rand01 = 0;
    return base + (int64_t)((double)base * 0.1 * rand01);
}
