/* recipe: what a valid recipe is, shared by ingest (to answer 422 at once) and
 * the persist worker (which re-checks a merged PATCH against the stored
 * recipe). Pure: no I/O. */
#ifndef SLUICE_RECIPE_H
#define SLUICE_RECIPE_H

#include "problem.h"

#include <jansson.h>
#include <stddef.h>

/* Checks a whole recipe: title 1-200 characters, optional description (string,
 * at most 10000 characters), optional servings 1-1000, ingredients 1-100 of
 * {name, quantity > 0, unit}, steps 1-100 non-empty strings, optional tags (at
 * most 50 non-empty strings of at most 50 characters), and no other fields.
 * Adds one {pointer, message} per bad field; returns how many were added. */
size_t recipe_validate(const json_t *recipe, struct problem_errors *pe);

/* The first problem as one line ("/title: must be ..."), for a worker's
 * rejection reason; "" when valid. */
void recipe_first_error(const json_t *recipe, char *out, size_t outlen);

#endif
