/* breaker: a circuit breaker per channel, so a dead receiver is not hammered.
 *
 * Closed: sends go through; after `threshold` consecutive failures it opens.
 * Open: nothing is sent until `cooldown_us` has passed; then half-open.
 * Half-open: exactly one probe is let through; its success closes the breaker,
 * its failure opens it again for another cooldown. The caller serialises
 * access (the notify dispatcher owns every breaker); time is passed in. */
#ifndef SLUICE_BREAKER_H
#define SLUICE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
    int threshold;
    int64_t cooldown_us;
    int failures; /* consecutive */
    enum breaker_state state;
    int64_t opened_at_us;
    bool probing; /* half-open and the probe is out */
};

void breaker_init(struct breaker *b, int threshold, int64_t cooldown_us);
/* The state at now (an open breaker whose cooldown is over is half-open). */
enum breaker_state breaker_state(struct breaker *b, int64_t now_us);
/* May one more send start now? In half-open, true once until it reports. */
bool breaker_allow(struct breaker *b, int64_t now_us);
/* The receiver answered (even a refusal of one message says it is up). */
void breaker_success(struct breaker *b);
/* It did not (5xx, 429, timeout, no connection). */
void breaker_failure(struct breaker *b, int64_t now_us);
/* The probe breaker_allow let through was not sent after all (nothing was
 * due, or it said nothing about the receiver): the next one may go. */
void breaker_probe_abandoned(struct breaker *b);

#endif
