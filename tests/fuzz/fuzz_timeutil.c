/* timeutil: every date a client sends (an event's occurred_at or the field
 * ?time_field= names, ?after= and ?before= of GET /v1/events, a
 * dateOfBirth) goes through time_parse (lib/timeutil.c). What it accepts is
 * in years 1 to 9999 and round-trips through time_format; a date alone is a
 * midnight. The calendar maths (days from and to a civil date) agree with
 * glibc's timegm and gmtime_r for a day number drawn from the input. */
#include "support.h"

#include "timeutil.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_US (86400LL * 1000000)

static void check_format_round_trip(int64_t us)
{
    char text[TIME_STR_LEN];
    time_format(us, text);
    FUZZ_CHECK(strlen(text) == 27, "time_format(%" PRId64 ") wrote \"%s\"", us, text);
    int64_t back = 0;
    FUZZ_CHECK(time_parse(text, &back) == 0, "time_parse refused time_format's \"%s\"", text);
    FUZZ_CHECK(back == us, "\"%s\" read back as %" PRId64 ", not %" PRId64, text, back, us);
}

static void check_calendar(int64_t days)
{
    int y, m, d;
    time_civil_from_days(days, &y, &m, &d);
    FUZZ_CHECK(time_days_from_civil(y, m, d) == days, "day %" PRId64 " -> %d-%d-%d -> another day",
               days, y, m, d);
    FUZZ_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= time_days_in_month(y, m),
               "day %" PRId64 " is %d-%d-%d", days, y, m, d);
    time_t t = (time_t)(days * 86400);
    struct tm tm;
    FUZZ_CHECK(gmtime_r(&t, &tm) != NULL, "gmtime_r refused day %" PRId64, days);
    FUZZ_CHECK(tm.tm_year + 1900 == y && tm.tm_mon + 1 == m && tm.tm_mday == d,
               "day %" PRId64 ": %d-%d-%d here, %d-%d-%d in glibc", days, y, m, d,
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    FUZZ_CHECK(timegm(&tm) == t, "timegm disagrees for day %" PRId64, days);
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    int64_t us = 0;
    if (time_parse(s, &us) == 0) {
        FUZZ_CHECK(time_in_range(us), "\"%s\" parsed to %" PRId64 ", out of range", s, us);
        check_format_round_trip(us);
        if (strlen(s) == 10)
            FUZZ_CHECK(us % DAY_US == 0, "the date \"%s\" is not a midnight (%" PRId64 ")", s, us);
    }
    free(s);

    /* The first 8 bytes as an instant, folded into what parsing accepts. */
    if (size >= 8) {
        uint64_t raw;
        memcpy(&raw, data, sizeof(raw));
        const int64_t lo = -62135596800LL * 1000000, hi = 253402300799LL * 1000000 + 999999;
        int64_t t = lo + (int64_t)(raw % (uint64_t)(hi - lo + 1));
        FUZZ_CHECK(time_in_range(t), "%" PRId64 " should be in range", t);
        check_format_round_trip(t);
        int64_t days = t / DAY_US - (t % DAY_US < 0);
        check_calendar(days);
    }
    return 0;
}
