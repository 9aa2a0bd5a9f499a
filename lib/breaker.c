#include "breaker.h"

void breaker_init(struct breaker *b, int threshold, int64_t cooldown_us)
{
    *b = (struct breaker){.threshold = threshold > 0 ? threshold : 1, .cooldown_us = cooldown_us};
}

enum breaker_state breaker_state(struct breaker *b, int64_t now_us)
{
    if (b->state == BREAKER_OPEN && now_us - b->opened_at_us >= b->cooldown_us) {
        b->state = BREAKER_HALF_OPEN;
        b->probing = false;
    }
    return b->state;
}

bool breaker_allow(struct breaker *b, int64_t now_us)
{
    switch (breaker_state(b, now_us)) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_HALF_OPEN:
        if (b->probing)
            return false;
        b->probing = true;
        return true;
    default:
        return false;
    }
}

void breaker_success(struct breaker *b)
{
    b->failures = 0;
    b->state = BREAKER_CLOSED;
    b->probing = false;
}

void breaker_failure(struct breaker *b, int64_t now_us)
{
    b->failures++;
    /* A failed probe, or too many failures in a row: stop for a cooldown.
     * Failures of sends that started before the breaker opened only count. */
    if (b->state == BREAKER_HALF_OPEN ||
        (b->state == BREAKER_CLOSED && b->failures >= b->threshold)) {
        b->state = BREAKER_OPEN;
        b->opened_at_us = now_us;
        b->probing = false;
    }
}

void breaker_probe_abandoned(struct breaker *b)
{
    b->probing = false;
}
