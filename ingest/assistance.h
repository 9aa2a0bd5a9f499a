/* assistance: the endpoints of assistance requests (their route table is
 * the collection's, lib/collection.c) and the check of a request's body,
 * apart so that it can be fuzzed (tests/fuzz/fuzz_assistance.c). */
#ifndef SLUICE_ASSISTANCE_H
#define SLUICE_ASSISTANCE_H

#include "problem.h"
#include "routing.h"

#include <jansson.h>

/* A POST /v1/assistance body against the routing in force (the caller holds
 * its lock): 0 with the topic lower-cased into topic, or -1 with one
 * problem per bad member (/topic, /description) in pe. body borrowed. */
int assistance_validate(const json_t *body, const struct routing *routing,
                        char topic[ROUTING_TOPIC_MAX + 1], struct problem_errors *pe);

#endif
