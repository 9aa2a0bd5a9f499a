/* timeutil: dates and timestamps as int64 microseconds since the Unix epoch
 * (UTC). Parsing is strict: a real calendar date, RFC 3339 or YYYY-MM-DD. */
#ifndef SLUICE_TIMEUTIL_H
#define SLUICE_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and the NUL, with room the compiler can prove
 * for any int fields (it cannot know years stay below 10000). */
#define TIME_STR_LEN 48

int64_t time_now_us(void);
/* Sleeps ms milliseconds (a retry's backoff, a poll's interval). */
void time_sleep_ms(long ms);
/* ms milliseconds from now on clock (CLOCK_REALTIME for
 * pthread_cond_timedwait's default condition variables), for a timed wait. */
struct timespec time_deadline(clockid_t clock, long ms);
bool time_is_leap_year(int year);
int time_days_in_month(int year, int month);
/* Days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int64_t time_days_from_civil(int year, int month, int day);
void time_civil_from_days(int64_t days, int *year, int *month, int *day);

/* Accepts "YYYY-MM-DD" (midnight UTC) or RFC 3339 date-time with "Z" or an
 * offset and optional fraction (up to microseconds kept). Returns -1 when the
 * text is not one of those or not a real date/time. */
int time_parse(const char *s, int64_t *out_us);
/* True for instants in years 1 to 9999 (what parsing accepts). */
bool time_in_range(int64_t us);
/* Always UTC, always six fraction digits. */
void time_format(int64_t us, char out[TIME_STR_LEN]);

#endif
