/* Unit tests for lib/timeutil.c: calendar maths, strict RFC 3339 / date
 * parsing (real dates only, offsets, fractions) and formatting. */
#include "timeutil.h"

#include "check_main.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define US_PER_S INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)

/* 2024-05-01T12:00:00Z, cross-checked with Python's calendar.timegm. */
#define T_2024_05_01_NOON INT64_C(1714564800000000)

/* Out-of-bounds reads are caught with a guard page: the input is copied so
 * that its NUL is the last readable byte before a PROT_NONE page, and any
 * read past it faults, with or without sanitizers. The fault handler (or, under
 * AddressSanitizer, its death callback) names the input, since the crash
 * report alone shows only the stack. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
static const char *current_input;

static void name_current_input(void)
{
    static const char head[] = "time_parse read past the end of its input \"";
    static const char tail[] = "\"\n";
    if (!current_input)
        return;
    /* Only async-signal-safe calls: this may run in a SIGSEGV handler. */
    ssize_t w = write(STDERR_FILENO, head, sizeof(head) - 1);
    w = write(STDERR_FILENO, current_input, strlen(current_input));
    w = write(STDERR_FILENO, tail, sizeof(tail) - 1);
    (void)w;
}

static void on_fault(int sig)
{
    name_current_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int parse_guarded(const char *s, int64_t *out)
{
    size_t len = strlen(s) + 1, page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = ((len + page - 1) / page + 1) * page;
    char *region = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(region != MAP_FAILED, "mmap failed");
    ck_assert_int_eq(mprotect(region + span - page, page, PROT_NONE), 0);
    char *copy = region + span - page - len;
    memcpy(copy, s, len);
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(name_current_input);
    } else {
        signal(SIGSEGV, on_fault);
        signal(SIGBUS, on_fault);
    }
    /* A crash ("Received signal 11" or an AddressSanitizer SEGV report and an
     * "Early exit") after this point means time_parse read past the NUL. */
    current_input = s;
    int rc = time_parse(copy, out);
    current_input = NULL;
    munmap(region, span);
    return rc;
}

static void assert_parses(const char *s, int64_t want)
{
    int64_t got = INT64_MIN;
    int rc = parse_guarded(s, &got);
    ck_assert_msg(rc == 0, "time_parse(\"%s\") returned %d; expected 0", s, rc);
    ck_assert_msg(got == want, "time_parse(\"%s\"): expected %" PRId64 " us, got %" PRId64 " us", s,
                  want, got);
}

static void assert_rejects(const char *s)
{
    int64_t got = 0;
    int rc = parse_guarded(s, &got);
    ck_assert_msg(rc == -1, "time_parse(\"%s\") accepted it as %" PRId64 " us; expected -1", s,
                  got);
}

START_TEST(test_leap_years)
{
    ck_assert(!time_is_leap_year(1900));
    ck_assert(time_is_leap_year(2000));
    ck_assert(time_is_leap_year(2024));
    ck_assert(!time_is_leap_year(2023));
    ck_assert(!time_is_leap_year(2100));
    ck_assert(!time_is_leap_year(2200));
    ck_assert(!time_is_leap_year(2300));
    ck_assert(time_is_leap_year(2400));
    ck_assert(time_is_leap_year(1600));
    ck_assert(time_is_leap_year(4));
    ck_assert(!time_is_leap_year(1));
    ck_assert(time_is_leap_year(0)); /* proleptic Gregorian: 1 BC */
    ck_assert(time_is_leap_year(-4));
    ck_assert(!time_is_leap_year(-100));
    ck_assert(time_is_leap_year(-400));
    /* Exactly 97 leap years in every 400. */
    int leaps = 0;
    for (int y = 2001; y <= 2400; y++)
        leaps += time_is_leap_year(y);
    ck_assert_int_eq(leaps, 97);
}
END_TEST

START_TEST(test_days_in_month)
{
    static const int common[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        ck_assert_msg(time_days_in_month(2023, m) == common[m - 1],
                      "2023-%02d: expected %d, got %d", m, common[m - 1],
                      time_days_in_month(2023, m));
        int leap = m == 2 ? 29 : common[m - 1];
        ck_assert_msg(time_days_in_month(2024, m) == leap, "2024-%02d: expected %d, got %d", m,
                      leap, time_days_in_month(2024, m));
    }
    ck_assert_int_eq(time_days_in_month(1900, 2), 28);
    ck_assert_int_eq(time_days_in_month(2000, 2), 29);
    ck_assert_int_eq(time_days_in_month(2024, 0), 0);
    ck_assert_int_eq(time_days_in_month(2024, 13), 0);
    ck_assert_int_eq(time_days_in_month(2024, -1), 0);
    ck_assert_int_eq(time_days_in_month(2024, 1000000), 0);
}
END_TEST

START_TEST(test_days_from_civil_known)
{
    /* Cross-checked with Python: (date(y, m, d) - date(1970, 1, 1)).days */
    ck_assert_int_eq(time_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(time_days_from_civil(1970, 1, 2), 1);
    ck_assert_int_eq(time_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(time_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(time_days_from_civil(2024, 2, 29), 19782);
    ck_assert_int_eq(time_days_from_civil(1900, 1, 1), -25567);
    ck_assert_int_eq(time_days_from_civil(1600, 2, 29), -135081);
    ck_assert_int_eq(time_days_from_civil(1, 1, 1), -719162);
    ck_assert_int_eq(time_days_from_civil(9999, 12, 31), 2932896);
}
END_TEST

START_TEST(test_civil_round_trip_wide_range)
{
    /* Walks day by day from 10000 BC to AD 12000 and checks each date is the
     * day after the previous one, by the calendar rules, and maps back. */
    const int64_t first = time_days_from_civil(-9999, 1, 1);
    const int64_t last = time_days_from_civil(12000, 12, 31);
    int py = -9999, pm = 1, pd = 1;
    int y, m, d;
    time_civil_from_days(first, &y, &m, &d);
    ck_assert_msg(y == -9999 && m == 1 && d == 1, "day %" PRId64 " is %d-%d-%d, not -9999-01-01",
                  first, y, m, d);
    for (int64_t day = first + 1; day <= last; day++) {
        /* expected successor of (py, pm, pd) */
        int ey = py, em = pm, ed = pd + 1;
        if (ed > time_days_in_month(py, pm)) {
            ed = 1;
            if (++em > 12) {
                em = 1;
                ey++;
            }
        }
        time_civil_from_days(day, &y, &m, &d);
        if (y != ey || m != em || d != ed)
            ck_abort_msg("day %" PRId64 ": expected %d-%02d-%02d, got %d-%02d-%02d", day, ey, em,
                         ed, y, m, d);
        int64_t back = time_days_from_civil(y, m, d);
        if (back != day)
            ck_abort_msg("%d-%02d-%02d maps to day %" PRId64 ", expected %" PRId64, y, m, d, back,
                         day);
        py = y;
        pm = m;
        pd = d;
    }
    ck_assert_int_eq(py, 12000);
    ck_assert_int_eq(pm, 12);
    ck_assert_int_eq(pd, 31);
}
END_TEST

START_TEST(test_parse_dates)
{
    assert_parses("1970-01-01", 0);
    assert_parses("1970-01-02", US_PER_DAY);
    assert_parses("1969-12-31", -US_PER_DAY);
    assert_parses("2024-05-01", INT64_C(1714521600000000));
    assert_parses("2024-02-29", INT64_C(19782) * US_PER_DAY);
    assert_parses("2000-02-29", time_days_from_civil(2000, 2, 29) * US_PER_DAY);
    assert_parses("1900-01-01", INT64_C(-2208988800000000));
    assert_parses("0001-01-01", INT64_C(-62135596800000000));
    assert_parses("9999-12-31", INT64_C(2932896) * US_PER_DAY);
    /* Every day of a leap year and of a common year is accepted. */
    for (int year = 2023; year <= 2024; year++) {
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= time_days_in_month(year, m); d++) {
                char s[40];
                snprintf(s, sizeof(s), "%04d-%02d-%02d", year, m, d);
                assert_parses(s, time_days_from_civil(year, m, d) * US_PER_DAY);
            }
        }
    }
}
END_TEST

START_TEST(test_parse_date_times)
{
    assert_parses("2024-05-01T12:00:00Z", T_2024_05_01_NOON);
    assert_parses("1970-01-01T00:00:00Z", 0);
    assert_parses("1969-12-31T23:59:59Z", -US_PER_S);
    assert_parses("2024-02-29T23:59:59Z", INT64_C(1709251199000000));
    assert_parses("9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999));
    assert_parses("0001-01-01T00:00:00Z", INT64_C(-62135596800000000));
}
END_TEST

START_TEST(test_parse_offsets)
{
    /* 12:00+05:30 is 06:30Z; 12:00-08:00 is 20:00Z. */
    assert_parses("2024-05-01T12:00:00+05:30", INT64_C(1714545000000000));
    assert_parses("2024-05-01T12:00:00-08:00", INT64_C(1714593600000000));
    assert_parses("2024-05-01T12:00:00+00:00", T_2024_05_01_NOON);
    assert_parses("2024-05-01T12:00:00-00:00", T_2024_05_01_NOON);
    assert_parses("2024-05-01T12:00:00+23:59",
                  T_2024_05_01_NOON - (23 * 3600 + 59 * 60) * US_PER_S);
    assert_parses("2024-05-01T12:00:00-23:59",
                  T_2024_05_01_NOON + (23 * 3600 + 59 * 60) * US_PER_S);
    /* Offsets that move the instant across midnight, a month and a year. */
    assert_parses("2024-01-01T00:30:00+01:00", time_days_from_civil(2023, 12, 31) * US_PER_DAY +
                                                   (23 * 3600 + 30 * 60) * US_PER_S);
    assert_parses("2023-12-31T23:30:00-01:00",
                  time_days_from_civil(2024, 1, 1) * US_PER_DAY + (30 * 60) * US_PER_S);
    assert_parses("1970-01-01T00:00:00+00:01", -60 * US_PER_S);
    /* Fraction with an offset. */
    assert_parses("2024-05-01T12:00:00.25+05:30", INT64_C(1714545000250000));
}
END_TEST

START_TEST(test_parse_fractions)
{
    static const struct {
        const char *frac;
        int64_t us;
    } cases[] = {
        {".1", 100000},         {".12", 120000},     {".123", 123000},     {".1234", 123400},
        {".12345", 123450},     {".123456", 123456}, {".1234567", 123456}, /* digits past
                                                                              microseconds are
                                                                              dropped... */
        {".12345678", 123456},                                             /* ...not rounded */
        {".123456789", 123456}, /* nanoseconds, 9 digits */
        {".999999999", 999999}, {".000001", 1},      {".0000009", 0},      {".0", 0},
        {".000000000", 0},      {".5", 500000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char s[64];
        snprintf(s, sizeof(s), "2024-05-01T12:00:00%sZ", cases[i].frac);
        assert_parses(s, T_2024_05_01_NOON + cases[i].us);
    }
    /* Before 1970 the fraction still adds: 23:59:59.5 on 1969-12-31 is -0.5 s. */
    assert_parses("1969-12-31T23:59:59.5Z", -500000);
    assert_parses("1969-12-31T23:59:59.000001Z", -999999);
}
END_TEST

START_TEST(test_parse_lowercase_t_and_z)
{
    assert_parses("2024-05-01t12:00:00z", T_2024_05_01_NOON);
    assert_parses("2024-05-01t12:00:00Z", T_2024_05_01_NOON);
    assert_parses("2024-05-01T12:00:00z", T_2024_05_01_NOON);
    assert_parses("2024-05-01t12:00:00.5z", T_2024_05_01_NOON + 500000);
}
END_TEST

static const char *const bad_times[] = {
    /* not real dates */
    "2023-02-29",
    "2100-02-29",
    "1900-02-29",
    "2000-13-01",
    "2000-00-01",
    "2024-04-31",
    "2024-06-31",
    "2024-09-31",
    "2024-11-31",
    "2024-01-32",
    "2024-01-00",
    "2024-02-30",
    "0000-01-01",
    "0000-01-01T00:00:00Z",
    "2023-02-29T12:00:00Z",
    /* not real times */
    "2024-05-01T24:00:00Z",
    "2024-05-01T23:60:00Z",
    "2024-05-01T23:59:61Z",
    "2024-05-01T99:00:00Z",
    /* bad offsets */
    "2024-05-01T12:00:00+24:00",
    "2024-05-01T12:00:00+05:60",
    "2024-05-01T12:00:00+0530",
    "2024-05-01T12:00:00+5:30",
    "2024-05-01T12:00:00+05",
    "2024-05-01T12:00:00+05:3",
    "2024-05-01T12:00:00+",
    "2024-05-01T12:00:00-",
    "2024-05-01T12:00:00+05:30Z",
    "2024-05-01T12:00:00 +05:30",
    "2024-05-01T12:00:00UTC",
    "2024-05-01T12:00:00GMT",
    /* missing zone */
    "2024-05-01T12:00:00",
    "2024-05-01T12:00:00.123",
    /* bad fractions */
    "2024-05-01T12:00:00.Z",
    "2024-05-01T12:00:00.1234567890Z", /* 10 digits */
    "2024-05-01T12:00:00,5Z",
    "2024-05-01T12:00:00.-5Z",
    "2024-05-01T12:00:00..5Z",
    /* trailing junk */
    "2024-05-01T12:00:00Zx",
    "2024-05-01T12:00:00Z ",
    "2024-05-01T12:00:00Z\n",
    "2024-05-01T12:00:00ZZ",
    "2024-05-01x",
    "2024-05-01 ",
    "2024-05-01\n",
    "2024-05-01T12:00:00+05:30:00",
    /* incomplete date-times */
    "2024-05-01T",
    "2024-05-01T1",
    "2024-05-01T12",
    "2024-05-01T12:",
    "2024-05-01T12:00",
    "2024-05-01T12:00:",
    "2024-05-01T12:00:0",
    "2024-05-01T12:00Z",
    /* wrong shapes */
    "",
    "2024",
    "2024-",
    "2024-05",
    "2024-05-",
    "2024-05-1",
    "2024-5-01",
    "24-05-01",
    "02024-05-01",
    "2024/05/01",
    "2024-05-01X12:00:00Z",
    " 2024-05-01",
    "+2024-05-01",
    "-2024-05-01",
    "2024-05-01T12:00:00.5",
    "20240501",
    "20240501T120000Z",
    "2024-05-01T12-00-00Z",
    "2024-05-01T12:00:00\xe2\x80\x8bZ",                       /* zero-width space */
    "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94-05-01", /* fullwidth digits */
    "abcd-ef-gh",
    "now",
};

START_TEST(test_parse_rejects)
{
    assert_rejects(bad_times[_i]);
}
END_TEST

START_TEST(test_parse_rejects_every_prefix)
{
    /* Every proper prefix of a valid timestamp is either a valid date
     * (length 10) or rejected, and none is read past its terminator. */
    const char *full = "2024-05-01T12:34:56.789+05:30";
    for (size_t len = 0; len < strlen(full); len++) {
        char *prefix = strndup(full, len);
        ck_assert_ptr_nonnull(prefix);
        int64_t out = 0;
        int rc = parse_guarded(prefix, &out); /* copied again, before a guard page */
        if (len == 10)
            ck_assert_msg(rc == 0, "time_parse rejected the date prefix \"%s\"", prefix);
        else
            ck_assert_msg(rc == -1, "time_parse accepted the prefix \"%s\" (length %zu)", prefix,
                          len);
        free(prefix);
    }
}
END_TEST

START_TEST(test_parse_accepts_only_representable_instants)
{
    /* An offset can move a date at the edge of 0001..9999 out of that range.
     * Whatever time_parse accepts must survive time_format and parse back
     * (the envelope stores time_format's text and the worker parses it), so
     * such inputs must either be rejected or round-trip. */
    static const char *const edges[] = {
        "0001-01-01T00:00:00+00:01", /* 0000-12-31T23:59:00Z */
        "0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00.5+23:59",
        "9999-12-31T23:59:59-00:01", /* 10000-01-01T00:00:59Z */
        "9999-12-31T23:30:00-01:00", "9999-12-31T12:00:00-23:59",
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        int64_t us = 0;
        if (parse_guarded(edges[i], &us) != 0)
            continue; /* rejecting is fine */
        char text[TIME_STR_LEN];
        time_format(us, text);
        int64_t back = 0;
        int rc = time_parse(text, &back);
        ck_assert_msg(rc == 0 && back == us,
                      "time_parse accepted \"%s\" as %" PRId64
                      " us, which formats as \"%s\", which "
                      "time_parse %s",
                      edges[i], us, text, rc == 0 ? "reads as a different instant" : "rejects");
    }
}
END_TEST

/* A deadline is now plus the wait, its nanoseconds always below a second
 * (pthread_cond_timedwait refuses anything else with EINVAL). */
START_TEST(test_deadline)
{
    static const long waits[] = {0, 1, 999, 1000, 1500, 2999, 60000};
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        struct timespec d = time_deadline(CLOCK_MONOTONIC, waits[i]);
        clock_gettime(CLOCK_MONOTONIC, &after);
        ck_assert_int_ge(d.tv_nsec, 0);
        ck_assert_int_lt(d.tv_nsec, 1000000000L);
        int64_t d_ns = (int64_t)d.tv_sec * 1000000000 + d.tv_nsec;
        int64_t lo = (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + waits[i] * 1000000LL;
        int64_t hi = (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + waits[i] * 1000000LL;
        ck_assert_msg(d_ns >= lo && d_ns <= hi, "deadline for %ld ms off by %lld ns", waits[i],
                      (long long)(d_ns - lo));
    }
}
END_TEST

static void assert_formats(int64_t us, const char *want)
{
    char got[TIME_STR_LEN];
    memset(got, 'x', sizeof(got));
    time_format(us, got);
    ck_assert_msg(strcmp(got, want) == 0, "time_format(%" PRId64 "): expected %s, got %s", us, want,
                  got);
}

START_TEST(test_format_known)
{
    assert_formats(0, "1970-01-01T00:00:00.000000Z");
    assert_formats(1, "1970-01-01T00:00:00.000001Z");
    assert_formats(T_2024_05_01_NOON, "2024-05-01T12:00:00.000000Z");
    assert_formats(T_2024_05_01_NOON + 123456, "2024-05-01T12:00:00.123456Z");
    assert_formats(INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z");
    assert_formats(INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z");
}
END_TEST

START_TEST(test_format_before_1970)
{
    assert_formats(-1, "1969-12-31T23:59:59.999999Z");
    assert_formats(-500000, "1969-12-31T23:59:59.500000Z");
    assert_formats(-US_PER_S, "1969-12-31T23:59:59.000000Z");
    assert_formats(-US_PER_S - 1, "1969-12-31T23:59:58.999999Z");
    assert_formats(-US_PER_DAY, "1969-12-31T00:00:00.000000Z");
    assert_formats(-US_PER_DAY - 1, "1969-12-30T23:59:59.999999Z");
    assert_formats(INT64_C(-2208988800000000), "1900-01-01T00:00:00.000000Z");
    assert_formats(INT64_C(-2208988800000000) - 1, "1899-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(test_format_parse_round_trip)
{
    /* Deterministic pseudo-random instants between years 1 and 9999. */
    const int64_t lo = INT64_C(-62135596800000000), hi = INT64_C(253402300799999999);
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t us = lo + (int64_t)(state % (uint64_t)(hi - lo + 1));
        char text[TIME_STR_LEN];
        time_format(us, text);
        int64_t back = 0;
        ck_assert_msg(time_parse(text, &back) == 0, "time_parse rejected time_format output %s",
                      text);
        ck_assert_msg(back == us, "%" PRId64 " -> %s -> %" PRId64, us, text, back);
    }
    static const int64_t edges[] = {
        0, 1, -1, 999999, -999999, 1000000, -1000000, US_PER_DAY - 1, -US_PER_DAY + 1};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        char text[TIME_STR_LEN];
        time_format(edges[i], text);
        int64_t back = 0;
        ck_assert_int_eq(time_parse(text, &back), 0);
        ck_assert_msg(back == edges[i], "%" PRId64 " -> %s -> %" PRId64, edges[i], text, back);
    }
}
END_TEST

START_TEST(test_format_extremes_fit)
{
    /* Values no parse can produce (a tampered cursor can carry them) must
     * still give a terminated string without undefined behaviour. */
    static const int64_t extremes[] = {INT64_MAX, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++) {
        char text[TIME_STR_LEN];
        memset(text, 'x', sizeof(text));
        time_format(extremes[i], text);
        ck_assert_msg(memchr(text, '\0', sizeof(text)) != NULL,
                      "time_format(%" PRId64 ") is not terminated", extremes[i]);
        ck_assert_msg(strlen(text) >= 27, "time_format(%" PRId64 ") gave \"%s\"", extremes[i],
                      text);
        ck_assert_msg(text[strlen(text) - 1] == 'Z', "time_format(%" PRId64 ") gave \"%s\"",
                      extremes[i], text);
    }
}
END_TEST

START_TEST(test_now_is_plausible)
{
    int64_t now = time_now_us();
    /* After 2020-01-01 and before 2200-01-01. */
    ck_assert_msg(now > INT64_C(1577836800000000), "time_now_us() = %" PRId64, now);
    ck_assert_msg(now < time_days_from_civil(2200, 1, 1) * US_PER_DAY, "time_now_us() = %" PRId64,
                  now);
    ck_assert(time_now_us() >= now - 60 * US_PER_S);
}
END_TEST

static Suite *timeutil_suite(void)
{
    Suite *s = suite_create("timeutil");
    TCase *cal = tcase_create("calendar");
    tcase_set_timeout(cal, 60);
    tcase_add_test(cal, test_leap_years);
    tcase_add_test(cal, test_days_in_month);
    tcase_add_test(cal, test_days_from_civil_known);
    tcase_add_test(cal, test_civil_round_trip_wide_range);
    suite_add_tcase(s, cal);

    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_dates);
    tcase_add_test(parse, test_parse_date_times);
    tcase_add_test(parse, test_parse_offsets);
    tcase_add_test(parse, test_parse_fractions);
    tcase_add_test(parse, test_parse_lowercase_t_and_z);
    tcase_add_loop_test(parse, test_parse_rejects, 0, sizeof(bad_times) / sizeof(bad_times[0]));
    tcase_add_test(parse, test_parse_rejects_every_prefix);
    tcase_add_test(parse, test_parse_accepts_only_representable_instants);
    suite_add_tcase(s, parse);

    TCase *format = tcase_create("format");
    tcase_add_test(format, test_format_known);
    tcase_add_test(format, test_deadline);
    tcase_add_test(format, test_format_before_1970);
    tcase_add_test(format, test_format_parse_round_trip);
    tcase_add_test(format, test_format_extremes_fit);
    tcase_add_test(format, test_now_is_plausible);
    suite_add_tcase(s, format);
    return s;
}

int main(void)
{
    return check_run(timeutil_suite());
}
