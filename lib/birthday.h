/* birthday: the date maths of the hello API, pure and clock-free (today is an
 * argument, so tests can stand on any day). */
#ifndef SLUICE_BIRTHDAY_H
#define SLUICE_BIRTHDAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A username: 1 to 100 ASCII letters. */
bool birthday_valid_username(const char *name);

/* Parses a strict YYYY-MM-DD calendar date that lies before today (days since
 * the Unix epoch, UTC). Returns -1 for anything else. */
int birthday_parse_date(const char *s, int64_t today, int *year, int *month, int *day);

/* Days from today until the next birthday: 0 on the day. A 29 February
 * birthday falls on 28 February in years without one. */
int birthday_days_until(int month, int day, int64_t today);

/* "Hello, <name>! Your birthday is in N day(s)" or "Hello, <name>! Happy
 * birthday!" into out. */
void birthday_message(const char *name, int days, char *out, size_t outlen);

#endif
