/* ratelimit: a per-principal rate limit in process (issue 11, item 6), and
 * the values of the IETF RateLimit-Policy / RateLimit headers
 * (draft-ietf-httpapi-ratelimit-headers).
 *
 * Each principal has a GCRA bucket: quota q requests per window w seconds,
 * all of them usable at once, one coming back every w/q seconds. It is kept
 * as a level in units of 1/q microsecond (one request costs w*1e6, the
 * bucket holds q*w*1e6, it drains by q per microsecond), so the arithmetic
 * is exact for any q and w: a fresh principal gets exactly q requests in an
 * instant, then one per w/q.
 *
 * Memory is fixed at ratelimit_new: max_entries buckets (rounded up to a
 * multiple of 8), no allocation afterwards. The table is set-associative: a
 * principal's hash picks a set of 8 slots, the key itself is compared in
 * full. A principal that is not there takes a free slot in its set or,
 * when the set is full, the slot of the bucket that will be full again
 * soonest: an idle bucket (drained to nothing) loses nothing, since a new
 * one is the same. Under a flood of distinct principals (more busy ones
 * than slots) the evicted principals forget what they used and start with
 * a full quota: the limiter then fails open for them, it never refuses a
 * principal because of others, and lookups stay at 8 slots whatever the
 * keys. ratelimit_evictions counts the busy buckets dropped so an operator
 * can see it happen (raise max_entries).
 *
 * Thread-safe: the sets are guarded by 64 striped mutexes, held only for
 * the few comparisons and arithmetic of one take. Keys longer than
 * RATELIMIT_KEY_INLINE bytes are kept as their SHA-256. Time is passed in
 * (any microsecond clock, monotonic preferred); a now earlier than a
 * bucket's last take (threads racing) counts as no time passed. */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_INLINE 64
#define RATELIMIT_POLICY_NAME "default"

struct ratelimit;

struct ratelimit_result {
    bool allowed;
    int64_t remaining;     /* r: requests still allowed right now after this one */
    int64_t reset_s;       /* t: allowed, seconds until the full quota is back;
                              refused, seconds until the next request is allowed */
    int64_t retry_after_s; /* refused: the Retry-After value (>= 1); allowed: 0 */
};

/* quota >= 1 requests per window_s >= 1 seconds, for up to max_entries >= 1
 * principals at once; NULL when an argument is out of range (quota times
 * window in microseconds must stay below 2^61) or memory runs out. */
struct ratelimit *ratelimit_new(uint32_t quota, uint32_t window_s, size_t max_entries);
void ratelimit_free(struct ratelimit *rl);

/* Counts one request by the principal named by the NUL-terminated key at
 * now_us; true when it is allowed. r (optional) gets the header values. */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_us,
                    struct ratelimit_result *r);

/* Busy buckets dropped for a new principal since ratelimit_new. */
uint64_t ratelimit_evictions(const struct ratelimit *rl);

/* The header values for r, exactly `"default";q=100;w=60` into policy and
 * `"default";r=50;t=30` into state (the caller names the headers); -1 when
 * a buffer is too small (48 bytes always suffice). */
int ratelimit_headers(const struct ratelimit_result *r, uint32_t quota, uint32_t window_s,
                      char *policy, size_t policylen, char *state, size_t statelen);

#endif
