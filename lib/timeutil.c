#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct timespec time_deadline(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

bool time_is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int time_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    return month == 2 && time_is_leap_year(year) ? 29 : days[month - 1];
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t time_days_from_civil(int year, int month, int day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void time_civil_from_days(int64_t days, int *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (m <= 2));
    *month = m;
    *day = d;
}

/* Reads exactly n digits; -1 when any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool time_in_range(int64_t us)
{
    /* 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z */
    return us >= -62135596800LL * 1000000 && us <= 253402300799LL * 1000000 + 999999;
}

int time_parse(const char *s, int64_t *out_us)
{
    int year = digits(s, 4);
    if (year < 1 || s[4] != '-')
        return -1;
    int month = digits(s + 5, 2);
    if (month < 1 || month > 12 || s[7] != '-')
        return -1;
    int day = digits(s + 8, 2);
    if (day < 1 || day > time_days_in_month(year, month))
        return -1;
    int64_t days = time_days_from_civil(year, month, day);
    if (s[10] == '\0') {
        *out_us = days * 86400 * 1000000;
        return 0;
    }
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    const char *p = s + 11;
    /* Each field is checked before the next is read: never past the NUL. */
    int hour = digits(p, 2);
    if (hour < 0 || hour > 23 || p[2] != ':')
        return -1;
    int minute = digits(p + 3, 2);
    if (minute < 0 || minute > 59 || p[5] != ':')
        return -1;
    int second = digits(p + 6, 2);
    if (second < 0 || second > 60)
        return -1;
    p += 8;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        int64_t scale = 100000;
        while (isdigit((unsigned char)*p)) {
            if (n < 6) {
                frac_us += (*p - '0') * scale;
                scale /= 10;
            }
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return -1;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2);
        if (oh < 0 || oh > 23 || p[3] != ':')
            return -1;
        int om = digits(p + 4, 2);
        if (om < 0 || om > 59)
            return -1;
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    /* An offset can carry an instant out of years 1..9999, which
     * time_format (and PostgreSQL) could not write back. */
    if (!time_in_range(secs * 1000000))
        return -1;
    *out_us = secs * 1000000 + frac_us;
    return 0;
}

void time_format(int64_t us, char out[TIME_STR_LEN])
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int y, m, d;
    time_civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) {
        /* Every envelope formats two times: digits by hand cost a tenth of
         * snprintf's format parsing. */
        int fields[] = {y / 100,        y % 100, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
                        (int)(rem % 60)};
        static const char seps[] = {0, 0, '-', '-', 'T', ':', ':'};
        char *p = out;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            if (seps[i])
                *p++ = seps[i];
            *p++ = (char)('0' + fields[i] / 10);
            *p++ = (char)('0' + fields[i] % 10);
        }
        *p++ = '.';
        for (int i = 5, f = (int)frac; i >= 0; i--, f /= 10)
            p[i] = (char)('0' + f % 10);
        p[6] = 'Z';
        p[7] = '\0';
        return;
    }
    snprintf(out, TIME_STR_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}
