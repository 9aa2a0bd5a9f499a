/* backoff: the retry schedule of notification deliveries.
 *
 * A schedule is the delay before each attempt, written as a comma-separated
 * list of durations ("0,5s,5m,30m,2h,5h,10h,10h", the Standard Webhooks /
 * Svix schedule, is the default): its length is the number of attempts a
 * delivery gets. Delays get up to 10% of jitter so deliveries that failed
 * together do not all come back at once. Pure functions. */
#ifndef SLUICE_BACKOFF_H
#define SLUICE_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#define BACKOFF_MAX_ATTEMPTS 32
#define BACKOFF_MAX_DELAY_MS (7LL * 24 * 3600 * 1000)

struct backoff_schedule {
    size_t attempts;
    int64_t delay_ms[BACKOFF_MAX_ATTEMPTS]; /* before attempt i + 1 */
};

/* Parses durations with units ms, s, m or h ("0" needs none); -1 with the
 * reason in err. */
int backoff_parse(const char *text, struct backoff_schedule *out, char *err, size_t errlen);

/* The delay before attempt `attempt` (1 is the first), jittered by up to 10%
 * with rand01 in [0, 1); -1 when the schedule has no such attempt. */
int64_t backoff_delay_ms(const struct backoff_schedule *s, int attempt, double rand01);

#endif
